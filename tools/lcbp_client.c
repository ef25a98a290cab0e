/* The blocking LCBP/1 client of lcb-term and the tests (see lcbp_client.h).
 * It must never accept a server the CA did not certify for the name asked
 * for, and never send a frame the codec calls invalid (lcbp_encode refuses
 * those); only lcbp_client_send_raw sends arbitrary bytes, on purpose. */
#include "tools/lcbp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct lcbp_client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    uint32_t next_id;
    size_t rlen;                  /* bytes of rbuf holding received data */
    uint8_t rbuf[LCBP_MAX_FRAME]; /* at most one frame and the start of the next */
    uint8_t wbuf[LCBP_MAX_FRAME];
};

/* The first queued OpenSSL error as text, for a message. */
static const char *ssl_reason(void)
{
    static char text[160];
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        return "no details";
    ERR_error_string_n(e, text, sizeof text);
    return text;
}

SSL_CTX *lcbp_client_tls_ctx(const char *ca_file, const char *cert_file, const char *key_file,
                             struct lcb_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        lcb_error_set(err, "tls_setup", "SSL_CTX_new: %s", ssl_reason());
        return NULL;
    }
    /* LCBP runs over TLS 1.3 only (SPEC.md); refusing older versions here
     * means a misconfigured server fails loudly instead of downgrading. */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
        lcb_error_set(err, "tls_setup", "cannot require TLS 1.3: %s", ssl_reason());
        goto fail;
    }
    if (ca_file == NULL || SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        lcb_error_set(err, "tls_setup", "cannot load the CA from %s: %s",
                      ca_file ? ca_file : "(none)", ssl_reason());
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cert_file != NULL) {
        const char *key = key_file ? key_file : cert_file;

        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            lcb_error_set(err, "tls_setup", "cannot use certificate %s with key %s: %s", cert_file,
                          key, ssl_reason());
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int lcbp_client_split_addr(const char *addr, char *host, size_t host_cap, char *port,
                           size_t port_cap, struct lcb_error *err)
{
    const char *colon, *host_start = addr, *host_end;

    if (addr == NULL || *addr == '\0')
        return lcb_error_set(err, "bad_address", "no address given (HOST:PORT)");
    if (addr[0] == '[') {
        host_start = addr + 1;
        host_end = strchr(addr, ']');
        if (host_end == NULL || host_end[1] != ':')
            return lcb_error_set(err, "bad_address", "'%s' is not [ADDRESS]:PORT", addr);
        colon = host_end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return lcb_error_set(err, "bad_address", "'%s' is not HOST:PORT", addr);
        host_end = colon;
    }
    if (host_end == host_start || (size_t)(host_end - host_start) >= host_cap ||
        strlen(colon + 1) == 0 || strlen(colon + 1) >= port_cap ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return lcb_error_set(err, "bad_address", "'%s' is not HOST:PORT", addr);
    memcpy(host, host_start, (size_t)(host_end - host_start));
    host[host_end - host_start] = '\0';
    snprintf(port, port_cap, "%s", colon + 1);
    return 0;
}

/* A non-blocking connect bounded by timeout_ms; the socket is left blocking
 * with read and write timeouts, which is what the SSL calls then rely on. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol), one = 1;
    int flags, so_error = 0;
    socklen_t len = sizeof so_error;

    if (fd < 0)
        return -1;
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};

        if (errno != EINPROGRESS)
            goto fail;
        if (poll(&pfd, 1, timeout_ms) != 1) {
            errno = ETIMEDOUT;
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
            errno = so_error;
            goto fail;
        }
    }
    if (fcntl(fd, F_SETFL, flags) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        goto fail;
    /* Small frames, answered one by one: Nagle would only add latency. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
fail : {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}
}

static int tcp_connect(const char *host, const char *port, int timeout_ms, struct lcb_error *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *list = NULL;
    int rc = getaddrinfo(host, port, &hints, &list), fd = -1;

    if (rc != 0)
        return lcb_error_set(err, "connect_failed", "%s:%s: %s", host, port, gai_strerror(rc));
    for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai, timeout_ms);
    if (fd < 0)
        lcb_error_set(err, "connect_failed", "connect to %s:%s: %s", host, port, strerror(errno));
    freeaddrinfo(list);
    return fd;
}

int lcbp_client_expect_server(SSL *ssl, const char *name)
{
    unsigned char ip[16];

    /* An IP address is matched against IP SANs, anything else as a DNS
     * name (and sent as SNI). */
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(ssl, name) != 1)
        return -1;
    return SSL_set1_host(ssl, name) == 1 ? 0 : -1;
}

struct lcbp_client *lcbp_client_connect(const struct lcbp_client_options *opt,
                                        struct lcb_error *err)
{
    char host[256], port[16];
    int timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : LCBP_CLIENT_TIMEOUT_MS;
    struct lcbp_client *c;

    if (lcbp_client_split_addr(opt->addr, host, sizeof host, port, sizeof port, err) != 0)
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        lcb_error_set(err, "connect_failed", "out of memory");
        return NULL;
    }
    c->fd = -1;
    c->next_id = 1;
    c->ctx = lcbp_client_tls_ctx(opt->ca_file, opt->cert_file, opt->key_file, err);
    if (c->ctx == NULL)
        goto fail;
    c->fd = tcp_connect(host, port, timeout_ms, err);
    if (c->fd < 0)
        goto fail;
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        lcbp_client_expect_server(c->ssl, opt->server_name ? opt->server_name : host) != 0) {
        lcb_error_set(err, "tls_failed", "cannot set up TLS: %s", ssl_reason());
        goto fail;
    }
    if (SSL_connect(c->ssl) != 1) {
        long verify = SSL_get_verify_result(c->ssl);

        lcb_error_set(err, "tls_failed", "TLS handshake with %s failed: %s%s%s", opt->addr,
                      ssl_reason(), verify != X509_V_OK ? "; server certificate: " : "",
                      verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "");
        goto fail;
    }
    ERR_clear_error();
    return c;
fail:
    ERR_clear_error();
    lcbp_client_close(c);
    return NULL;
}

uint32_t lcbp_client_next_id(struct lcbp_client *c)
{
    uint32_t id = c->next_id++;

    if (c->next_id == 0) /* 0 is reserved for connection-level ERRORs */
        c->next_id = 1;
    return id;
}

/* Maps a failed SSL call to a transport error code. */
static int io_error(struct lcbp_client *c, int ret, const char *what, struct lcb_error *err)
{
    int e = SSL_get_error(c->ssl, ret), saved = errno;
    int rc;

    switch (e) {
    case SSL_ERROR_ZERO_RETURN:
        rc = lcb_error_set(err, "closed", "the server closed the connection");
        break;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: /* a blocking socket's SO_*TIMEO ran out */
        rc = lcb_error_set(err, "timeout", "%s timed out", what);
        break;
    case SSL_ERROR_SYSCALL:
        rc = lcb_error_set(err, "closed", "the connection broke during %s: %s", what,
                           saved ? strerror(saved) : "end of file");
        break;
    default: /* e.g. an alert from the server: it refused us and closed */
        rc = lcb_error_set(err, "closed", "%s failed: %s", what, ssl_reason());
        break;
    }
    ERR_clear_error();
    return rc;
}

int lcbp_client_send_raw(struct lcbp_client *c, const void *bytes, size_t len,
                         struct lcb_error *err)
{
    const uint8_t *p = bytes;

    while (len > 0) {
        size_t written = 0;
        int ret = SSL_write_ex(c->ssl, p, len, &written);

        if (ret != 1)
            return io_error(c, ret, "send", err);
        p += written;
        len -= written;
    }
    return 0;
}

int lcbp_client_send(struct lcbp_client *c, const struct lcbp_message *req, struct lcb_error *err)
{
    size_t len;

    if (lcbp_encode(req, c->wbuf, sizeof c->wbuf, &len, err) != 0)
        return -1;
    return lcbp_client_send_raw(c, c->wbuf, len, err);
}

int lcbp_client_recv(struct lcbp_client *c, struct lcbp_message *msg, struct lcb_error *err)
{
    size_t frame_len = 0;
    int rc;

    while ((rc = lcbp_frame_length(c->rbuf, c->rlen, &frame_len, err)) == LCBP_NEED_MORE) {
        size_t got = 0;
        int ret = SSL_read_ex(c->ssl, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, &got);

        if (ret != 1)
            return io_error(c, ret, "receive", err);
        c->rlen += got;
    }
    if (rc != 0) {
        struct lcb_error why = *err; /* lcb_error_set must not read what it writes */
        return lcb_error_set(err, "bad_answer", "the server sent a bad frame: %s", why.message);
    }
    if (lcbp_decode(c->rbuf, frame_len, msg, err) != 0) {
        struct lcb_error why = *err;
        const char *name = lcbp_type_name(msg->type);

        rc = lcb_error_set(err, "bad_answer", "the server sent a bad %s frame: %s: %s",
                           name ? name : "unknown", why.code, why.message);
    }
    memmove(c->rbuf, c->rbuf + frame_len, c->rlen - frame_len);
    c->rlen -= frame_len;
    return rc;
}

int lcbp_client_refusal(const struct lcbp_message *msg, struct lcb_error *err)
{
    if (msg->type != LCBP_ERROR)
        return 0;
    return lcb_error_set(err, msg->error_code, "%s", msg->error_message);
}

int lcbp_client_call(struct lcbp_client *c, const struct lcbp_message *req,
                     struct lcbp_message *resp, struct lcb_error *err)
{
    if (lcbp_client_send(c, req, err) != 0)
        return -1;
    for (;;) {
        if (lcbp_client_recv(c, resp, err) != 0)
            return -1;
        if (resp->request_id == req->request_id)
            return 0;
        if (resp->type == LCBP_ERROR && resp->request_id == 0) {
            lcb_error_set(err, "bad_answer", "the server refused the connection: %s: %s",
                          resp->error_code, resp->error_message);
            return -1;
        }
    }
}

int lcbp_client_hello(struct lcbp_client *c, const char *software, struct lcbp_message *hello_ok,
                      struct lcb_error *err)
{
    struct lcbp_message *hello = malloc(sizeof *hello);
    int rc = -1;

    if (hello == NULL)
        return lcb_error_set(err, "io_failed", "out of memory");
    lcbp_message_init(hello, LCBP_HELLO, lcbp_client_next_id(c));
    hello->version_min = LCBP_VERSION;
    hello->version_max = LCBP_VERSION;
    snprintf(hello->software, sizeof hello->software, "%s", software);
    if (lcbp_client_send(c, hello, err) != 0 || lcbp_client_recv(c, hello_ok, err) != 0)
        goto out;
    if (lcbp_client_refusal(hello_ok, err) != 0)
        goto out;
    if (hello_ok->type != LCBP_HELLO_OK || hello_ok->request_id != hello->request_id) {
        lcb_error_set(err, "bad_answer", "HELLO answered with %s",
                      lcbp_type_name(hello_ok->type) ? lcbp_type_name(hello_ok->type) : "?");
        goto out;
    }
    rc = 0;
out:
    free(hello);
    return rc;
}

int lcbp_client_fd(const struct lcbp_client *c)
{
    return c->fd;
}

void lcbp_client_close(struct lcbp_client *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL) {
        /* Best effort: the server may already be gone. */
        if (SSL_is_init_finished(c->ssl))
            (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    SSL_CTX_free(c->ctx);
    ERR_clear_error();
    free(c);
}
