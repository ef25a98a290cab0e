/* Server-side TLS context; see tls.h. Never accepts a client certificate
 * that did not verify against the configured CA. */
#include "daemon/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdlib.h>

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

struct refusal_check {
    tls_refused_fn is_refused;
    void *arg;
};

static int refusal_index = -1;

static void free_refusal_check(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                               void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static int verify_not_refused(int preverify_ok, X509_STORE_CTX *store)
{
    if (!preverify_ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct refusal_check *check = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), refusal_index);
    X509 *leaf = X509_STORE_CTX_get_current_cert(store);
    uint8_t fingerprint[32];
    unsigned int len = 0;
    if (check == NULL || leaf == NULL || X509_digest(leaf, EVP_sha256(), fingerprint, &len) != 1)
        return 0;
    if (check->is_refused(fingerprint, check->arg)) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REVOKED);
        return 0;
    }
    return 1;
}

int tls_require_client_cert(SSL_CTX *ctx, tls_refused_fn is_refused, void *arg)
{
    if (refusal_index < 0)
        refusal_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_refusal_check);
    struct refusal_check *check = calloc(1, sizeof *check);
    if (refusal_index < 0 || check == NULL || SSL_CTX_set_ex_data(ctx, refusal_index, check) != 1) {
        free(check);
        return -1;
    }
    check->is_refused = is_refused;
    check->arg = arg;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_not_refused);
    return 0;
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
