/* Server-side TLS context; see tls.h. Never accepts a client certificate
 * that did not verify against the configured CA. */
#include "daemon/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

static int tls_fail(struct lcb_error *err, const char *what, const char *file)
{
    char detail[160];
    ERR_error_string_n(ERR_get_error(), detail, sizeof detail);
    ERR_clear_error();
    return lcb_error_set(err, "tls", "%s %s: %s", what, file, detail);
}

SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, const char *ca_file,
                            struct lcb_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        tls_fail(err, "cannot create", "TLS context");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
        tls_fail(err, "cannot require", "TLS 1.3");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        tls_fail(err, "cannot load certificate", cert_file);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tls_fail(err, "cannot load private key", key_file);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        tls_fail(err, "cannot load CA", ca_file);
        goto fail;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (names == NULL) {
        tls_fail(err, "cannot read CA names from", ca_file);
        goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_peer_fingerprint(SSL *ssl, uint8_t out[32])
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (peer == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return -1;
    unsigned int len = 0;
    if (X509_digest(peer, EVP_sha256(), out, &len) != 1 || len != 32)
        return -1;
    return 0;
}
