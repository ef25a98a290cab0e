/* lcb-post's HTTPS client: one blocking, persistent (keep-alive) HTTP/1.1
 * connection over TLS 1.3 to lcbd on 127.0.0.1, the server verified against
 * the bank's CA. One thread owns one post_conn; the SSL_CTX is shared. It
 * never retries a request: whether to resend is the caller's decision. */
#ifndef LCB_BENCH_POST_CONN_H
#define LCB_BENCH_POST_CONN_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* What became of one request. */
enum post_conn_status {
    POST_CONN_OK,      /* a whole response was read */
    POST_CONN_UNSENT,  /* could not connect: nothing reached lcbd */
    POST_CONN_BROKEN,  /* sent (maybe partly), then the connection failed */
    POST_CONN_TIMEOUT, /* sent, no whole response within the timeout */
};

struct post_conn {
    SSL_CTX *ctx; /* borrowed */
    int port;
    int timeout_s;
    int fd; /* -1 when not connected */
    SSL *ssl;
    char *buf; /* response bytes; owned, reused across requests */
    size_t cap, len;
    /* the last response, valid until the next request */
    int http_status;
    const char *body;
    size_t body_len;
};

/* A client context for TLS 1.3 that trusts ca_file and presents
 * PREFIX.crt/PREFIX.key (cert_prefix may be NULL). NULL after printing why. */
SSL_CTX *post_conn_ctx(const char *ca_file, const char *cert_prefix);

void post_conn_init(struct post_conn *c, SSL_CTX *ctx, int port, int timeout_s);

/* Connects (TCP and the TLS handshake) unless connected; false when that
 * failed (the next request tries again). */
bool post_conn_open(struct post_conn *c);

/* Sends one request (connecting first when needed) and reads its response
 * into c->http_status, c->body, c->body_len. Any status but POST_CONN_OK
 * leaves the connection closed; the next request reconnects. */
enum post_conn_status post_conn_request(struct post_conn *c, const char *method, const char *path,
                                        const char *body, size_t body_len);

void post_conn_close(struct post_conn *c);
/* Closes and frees the buffer. */
void post_conn_free(struct post_conn *c);

#endif
