/* One-shot connections of lcb-authz; see authz_probe.h. Blocking, with
 * socket timeouts, 127.0.0.1 only. Never reuses a connection: what is
 * tested is whether a new one gets in. */
#include "bench/authz_probe.h"

#include "protocol/lcbp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PROBE_TIMEOUT_S 10
#define PROBE_READ_MAX 65536

const char *probe_alert_code(int alert)
{
    switch (alert) {
    case TLS13_AD_CERTIFICATE_REQUIRED:
        return "no_client_certificate";
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_DECRYPT_ERROR:
        return "credential_unknown";
    case SSL_AD_CERTIFICATE_EXPIRED:
        return "credential_expired";
    case SSL_AD_CERTIFICATE_REVOKED:
        return "credential_revoked";
    default:
        return NULL;
    }
}

static int connect_local(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval timeout = {.tv_sec = PROBE_TIMEOUT_S};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A failed SSL call: an alert lcbd sent, or some other end. */
static void failure(SSL *ssl, int ret, const char *what, struct probe_answer *answer)
{
    int saved = errno, ssl_error = SSL_get_error(ssl, ret);
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    ERR_clear_error();
    /* A received alert is queued as reason SSL_AD_REASON_OFFSET + its number. */
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && reason > SSL_AD_REASON_OFFSET) {
        int alert = reason - SSL_AD_REASON_OFFSET;
        const char *code = probe_alert_code(alert);
        answer->handshake = code != NULL;
        if (code != NULL)
            snprintf(answer->got, sizeof answer->got, "%s", code);
        else
            snprintf(answer->got, sizeof answer->got, "no_answer: %s: alert %s", what,
                     SSL_alert_desc_string_long(alert));
        return;
    }
    if (ssl_error == SSL_ERROR_ZERO_RETURN || (ssl_error == SSL_ERROR_SYSCALL && saved == 0))
        snprintf(answer->got, sizeof answer->got, "no_answer: %s: closed without an alert", what);
    else
        snprintf(answer->got, sizeof answer->got, "no_answer: %s: %s", what,
                 saved ? strerror(saved) : "TLS error");
}

/* lcbd may have refused the handshake and closed before this write: the
 * write then fails (the peer reset), but its alert still waits to be read,
 * so the caller reads on whatever the write did. */
static void write_request(SSL *ssl, const void *data, size_t len)
{
    size_t written = 0;
    (void)SSL_write_ex(ssl, data, len, &written);
    ERR_clear_error();
}

/* The JSON body's error.code, else "accepted: HTTP status". */
static void http_answer(const char *response, struct probe_answer *answer)
{
    int status = 0;
    const char *body = strstr(response, "\r\n\r\n");
    if (sscanf(response, "HTTP/1.%*1[01] %3d", &status) != 1 || body == NULL) {
        snprintf(answer->got, sizeof answer->got, "no_answer: not an HTTP response");
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loads(body + 4, 0, &jerr);
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    if (status >= 400 && code != NULL)
        snprintf(answer->got, sizeof answer->got, "%s", code);
    else
        snprintf(answer->got, sizeof answer->got, "%s: HTTP %d",
                 status < 400 ? "accepted" : "no_answer", status);
    json_decref(doc);
}

/* Reads until lcbd closes (the request asked it to). */
static void https_exchange(SSL *ssl, const char *path, struct probe_answer *answer)
{
    char request[512], *response = malloc(PROBE_READ_MAX + 1);
    size_t len = 0;
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (response == NULL || n < 0 || (size_t)n >= sizeof request) {
        snprintf(answer->got, sizeof answer->got, "no_answer: request too long");
        free(response);
        return;
    }
    write_request(ssl, request, (size_t)n);
    for (;;) {
        size_t got = 0;
        int ret = SSL_read_ex(ssl, response + len, PROBE_READ_MAX - len, &got);
        if (ret != 1) {
            if (len == 0) {
                failure(ssl, ret, "read", answer);
                free(response);
                return;
            }
            ERR_clear_error();
            break;
        }
        len += got;
        if (len == PROBE_READ_MAX)
            break;
    }
    response[len] = '\0';
    http_answer(response, answer);
    free(response);
}

/* HELLO, then the first frame lcbd sends back. */
static void lcbp_exchange(SSL *ssl, struct probe_answer *answer)
{
    struct lcbp_message *msg = calloc(1, sizeof *msg);
    uint8_t frame[LCBP_MAX_FRAME];
    size_t len = 0, frame_len = 0;
    struct lcb_error err;
    if (msg == NULL)
        abort();
    lcbp_message_init(msg, LCBP_HELLO, 1);
    msg->version_min = msg->version_max = LCBP_VERSION;
    snprintf(msg->software, sizeof msg->software, "lcb-authz");
    if (lcbp_encode(msg, frame, sizeof frame, &len, &err) != 0) {
        snprintf(answer->got, sizeof answer->got, "no_answer: cannot encode HELLO");
        goto out;
    }
    write_request(ssl, frame, len);
    len = 0;
    while (lcbp_frame_length(frame, len, &frame_len, &err) == LCBP_NEED_MORE) {
        size_t got = 0;
        int ret = SSL_read_ex(ssl, frame + len, sizeof frame - len, &got);
        if (ret != 1) {
            failure(ssl, ret, "read", answer);
            goto out;
        }
        len += got;
    }
    if (len < frame_len || lcbp_decode(frame, frame_len, msg, &err) != 0)
        snprintf(answer->got, sizeof answer->got, "no_answer: a bad frame");
    else if (msg->type == LCBP_ERROR)
        snprintf(answer->got, sizeof answer->got, "%s", msg->error_code);
    else
        snprintf(answer->got, sizeof answer->got, "accepted: %s as terminal %s of %s",
                 lcbp_type_name(msg->type), msg->terminal_id, msg->institution);
out:
    free(msg);
}

void probe_once(SSL_CTX *ctx, int port, enum probe_protocol protocol, const char *http_path,
                struct probe_answer *answer)
{
    memset(answer, 0, sizeof *answer);
    int fd = connect_local(port);
    SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1") != 1) {
        snprintf(answer->got, sizeof answer->got, "no_answer: cannot connect to port %d", port);
        ERR_clear_error();
        goto out;
    }
    int ret = SSL_connect(ssl);
    if (ret != 1)
        failure(ssl, ret, "handshake", answer);
    else if (protocol == PROBE_HTTPS)
        https_exchange(ssl, http_path, answer);
    else
        lcbp_exchange(ssl, answer);
out:
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
}
