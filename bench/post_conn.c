/* Blocking keep-alive HTTPS for lcb-post; see post_conn.h. Reads exactly
 * one Content-Length-framed response per request (lcbd's evhttp always
 * frames its replies so) and never pipelines. Only 127.0.0.1. */
#include "bench/post_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RESPONSE_MAX (16u << 20)
#define HEAD_MAX 8192

static void print_ssl_errors(const char *what)
{
    unsigned long e;
    char text[256];

    fprintf(stderr, "lcb-post: %s\n", what);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, text, sizeof text);
        fprintf(stderr, "lcb-post:   %s\n", text);
    }
}

SSL_CTX *post_conn_ctx(const char *ca_file, const char *cert_prefix)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char crt[1024], key[1024];

    if (ctx == NULL)
        goto fail;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cert_prefix != NULL) {
        snprintf(crt, sizeof crt, "%s.crt", cert_prefix);
        snprintf(key, sizeof key, "%s.key", cert_prefix);
        if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
            goto fail;
    }
    return ctx;
fail:
    print_ssl_errors("cannot set up the TLS client context");
    SSL_CTX_free(ctx);
    return NULL;
}

void post_conn_init(struct post_conn *c, SSL_CTX *ctx, int port, int timeout_s)
{
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->port = port;
    c->timeout_s = timeout_s;
    c->fd = -1;
}

void post_conn_close(struct post_conn *c)
{
    if (c->ssl != NULL) {
        SSL_free(c->ssl); /* no close_notify: the peer may be gone */
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

void post_conn_free(struct post_conn *c)
{
    post_conn_close(c);
    free(c->buf);
    c->buf = NULL;
}

static int connect_local(struct post_conn *c)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    struct timeval timeout = {.tv_sec = c->timeout_s};
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0 ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        goto fail;
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_set1_host(c->ssl, "127.0.0.1") != 1 || SSL_connect(c->ssl) != 1)
        goto fail;
    return 0;
fail:
    ERR_clear_error();
    post_conn_close(c);
    return -1;
}

static int write_all(struct post_conn *c, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t written = 0;
        if (SSL_write_ex(c->ssl, data + done, len - done, &written) != 1)
            return -1;
        done += written;
    }
    return 0;
}

/* The Content-Length of a complete head, -1 when absent or bad; sets
 * *close_after when the server says it will close. */
static long parse_head(struct post_conn *c, const char *head_end, bool *close_after)
{
    long content_length = -1;
    const char *line = strstr(c->buf, "\r\n");

    if (sscanf(c->buf, "HTTP/1.%*1[01] %3d", &c->http_status) != 1)
        return -1;
    while (line != NULL && line < head_end) {
        line += 2;
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            content_length = strtol(line + 15, NULL, 10);
        else if (strncasecmp(line, "Connection:", 11) == 0 && strstr(line, "close") != NULL &&
                 strstr(line, "close") < strstr(line, "\r\n"))
            *close_after = true;
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
            return -1; /* evhttp frames replies by length; anything else is a surprise */
        line = strstr(line, "\r\n");
    }
    return content_length >= 0 && content_length <= (long)RESPONSE_MAX ? content_length : -1;
}

static enum post_conn_status read_failure(struct post_conn *c)
{
    bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
    ERR_clear_error();
    post_conn_close(c);
    return timed_out ? POST_CONN_TIMEOUT : POST_CONN_BROKEN;
}

/* Reads until one whole response is in c->buf. */
static enum post_conn_status read_response(struct post_conn *c)
{
    long content_length = -1;
    size_t head_len = 0;
    bool close_after = false;

    c->len = 0;
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? 2 * c->cap : 65536;
            char *grown = cap <= RESPONSE_MAX + HEAD_MAX ? realloc(c->buf, cap + 1) : NULL;
            if (grown == NULL)
                return read_failure(c);
            c->buf = grown;
            c->cap = cap;
        }
        size_t got = 0;
        errno = 0;
        if (SSL_read_ex(c->ssl, c->buf + c->len, c->cap - c->len, &got) != 1)
            return read_failure(c);
        c->len += got;
        c->buf[c->len] = '\0';
        if (head_len == 0) {
            char *end = strstr(c->buf, "\r\n\r\n");
            if (end == NULL) {
                if (c->len > HEAD_MAX)
                    return read_failure(c);
                continue;
            }
            head_len = (size_t)(end - c->buf) + 4;
            content_length = parse_head(c, end, &close_after);
            if (content_length < 0)
                return read_failure(c);
        }
        if (c->len >= head_len + (size_t)content_length)
            break;
    }
    c->body = c->buf + head_len;
    c->body_len = (size_t)content_length;
    if (close_after)
        post_conn_close(c); /* the body stays in c->buf */
    return POST_CONN_OK;
}

bool post_conn_open(struct post_conn *c)
{
    return c->fd >= 0 || connect_local(c) == 0;
}

enum post_conn_status post_conn_request(struct post_conn *c, const char *method, const char *path,
                                        const char *body, size_t body_len)
{
    char head[512];
    int head_len;

    if (c->fd < 0 && connect_local(c) != 0)
        return POST_CONN_UNSENT;
    head_len = snprintf(head, sizeof head,
                        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                        method, path, body_len);
    if (head_len < 0 || (size_t)head_len >= sizeof head)
        return POST_CONN_UNSENT;
    if (write_all(c, head, (size_t)head_len) != 0 || write_all(c, body, body_len) != 0) {
        ERR_clear_error();
        post_conn_close(c);
        return POST_CONN_BROKEN;
    }
    return read_response(c);
}
