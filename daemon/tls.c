/* Server-side TLS context; see tls.h. Never accepts a client certificate
 * that did not verify against the configured CA. */
#include "daemon/tls.h"

#include "daemon/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static int tls_fail(struct lcb_error *err, const char *what, const char *file)
{
    char detail[160];
    ERR_error_string_n(ERR_get_error(), detail, sizeof detail);
    ERR_clear_error();
    return lcb_error_set(err, "tls", "%s %s: %s", what, file, detail);
}

/* The code a refused handshake is logged with: a TLS alert means the
 * credential codes of docs/api.md on the client's side (docs/terminals.md,
 * section 4), so the log says the same. */
static const char *handshake_refusal_code(int alert, long verify)
{
    if (alert == TLS13_AD_CERTIFICATE_REQUIRED)
        return "no_client_certificate";
    if (verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID)
        return "credential_expired";
    if (verify == X509_V_ERR_CERT_REVOKED)
        return "credential_revoked";
    return verify != X509_V_OK ? "credential_unknown" : "tls_refused";
}

static void peer_text(const SSL *ssl, char *out, size_t cap, int *local_port)
{
    struct sockaddr_storage peer, local;
    socklen_t peer_len = sizeof peer, local_len = sizeof local;
    char host[INET6_ADDRSTRLEN] = "?";
    int fd = SSL_get_fd(ssl), port = 0;
    *local_port = 0;
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0) {
        const void *addr = peer.ss_family == AF_INET6
                               ? (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr
                               : (const void *)&((struct sockaddr_in *)&peer)->sin_addr;
        port = ntohs(peer.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&peer)->sin6_port
                                                : ((struct sockaddr_in *)&peer)->sin_port);
        inet_ntop(peer.ss_family, addr, host, sizeof host);
    }
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&local, &local_len) == 0)
        *local_port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
                                                        : ((struct sockaddr_in *)&local)->sin_port);
    snprintf(out, cap, "%s:%d", host, port);
}

/* Where a context counts its refused handshakes (tls_count_refusals). */
static int counter_index = -1;

/* A fatal alert lcbd sends ends a connection it refused: logged like every
 * other refusal ("refused: WHO (WHERE): CODE: why"), by the peer's address,
 * since nothing else is known of it yet, and counted with the others, so
 * the shutdown line's count equals the log's. No response code exists here.
 * OpenSSL also "sends" a fatal alert to a peer that closed without
 * close_notify (many clients do): that is no refusal, and not logged. */
static void log_fatal_alert(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_WRITE_ALERT) || (ret >> 8) != SSL3_AL_FATAL ||
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return;
    long verify = SSL_get_verify_result(ssl);
    int alert = ret & 0xff, port;
    char peer[INET6_ADDRSTRLEN + 8];
    peer_text(ssl, peer, sizeof peer, &port);
    unsigned long *refusals =
        counter_index < 0 ? NULL : SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), counter_index);
    if (refusals != NULL)
        (*refusals)++;
    log_info("refused: TLS %s from %s (port %d): %s: alert %s%s%s",
             SSL_in_init(ssl) ? "handshake" : "connection", peer, port,
             handshake_refusal_code(alert, verify),
             /* OpenSSL 3.0 has no name for TLS 1.3's alert 116 */
             alert == TLS13_AD_CERTIFICATE_REQUIRED ? "certificate required"
                                                    : SSL_alert_desc_string_long(ret),
             verify != X509_V_OK ? ": " : "",
             verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "");
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
    SSL_CTX_set_info_callback(ctx, log_fatal_alert);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_count_refusals(SSL_CTX *ctx, unsigned long *refusals)
{
    if (counter_index < 0)
        counter_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return counter_index >= 0 && SSL_CTX_set_ex_data(ctx, counter_index, refusals) == 1 ? 0 : -1;
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
    int refusal = check->is_refused(fingerprint, check->arg);
    if (refusal != X509_V_OK) {
        X509_STORE_CTX_set_error(store, refusal);
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
