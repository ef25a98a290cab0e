/* The harness's HTTPS client (see itest.h): one blocking HTTP/1.1 request
 * per TLS 1.3 connection, the server verified against the test CA. Test
 * code only; it must never accept a server the CA did not certify. */
#include "tests/itest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ITEST_HTTP_TIMEOUT_S 30
#define ITEST_RESPONSE_MAX (64u << 20)

struct http_response {
    char *data;
    size_t len;
};

static void print_ssl_errors(const char *what)
{
    unsigned long e;
    char text[256];

    fprintf(stderr, "itest: %s\n", what);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, text, sizeof text);
        fprintf(stderr, "itest:   %s\n", text);
    }
}

static SSL_CTX *client_ctx(const char *cert_prefix)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char crt[ITEST_PATH_MAX + 8], key[ITEST_PATH_MAX + 8];

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, itest_env()->ca_cert, NULL) != 1)
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
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
    SSL_CTX_free(ctx);
    return NULL;
}

static int connect_local(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval timeout = {.tv_sec = ITEST_HTTP_TIMEOUT_S};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int ssl_write_all(SSL *ssl, const char *data, size_t len)
{
    while (len > 0) {
        size_t written;

        if (SSL_write_ex(ssl, data, len, &written) != 1)
            return -1;
        data += written;
        len -= written;
    }
    return 0;
}

/* Reads until the server closes the connection. */
static int ssl_read_all(SSL *ssl, struct http_response *r)
{
    size_t cap = 8192;

    r->len = 0;
    r->data = malloc(cap);
    if (r->data == NULL)
        return -1;
    for (;;) {
        size_t got;

        if (cap - r->len < 4096) {
            char *bigger;

            if (cap >= ITEST_RESPONSE_MAX)
                return -1;
            bigger = realloc(r->data, cap * 2);
            if (bigger == NULL)
                return -1;
            r->data = bigger;
            cap *= 2;
        }
        if (SSL_read_ex(ssl, r->data + r->len, cap - r->len - 1, &got) == 1) {
            r->len += got;
            continue;
        }
        switch (SSL_get_error(ssl, 0)) {
        case SSL_ERROR_ZERO_RETURN:
            r->data[r->len] = '\0';
            return 0;
        case SSL_ERROR_SYSCALL:
            /* EOF without close_notify: fine once something arrived */
            r->data[r->len] = '\0';
            return r->len > 0 ? 0 : -1;
        default:
            r->data[r->len] = '\0';
            return r->len > 0 ? 0 : -1;
        }
    }
}

/* The server certificate must name 127.0.0.1 or localhost. */
static bool peer_names_us(SSL *ssl)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    bool ok;

    if (peer == NULL)
        return false;
    ok = X509_check_ip_asc(peer, "127.0.0.1", 0) == 1 ||
         X509_check_host(peer, "localhost", 0, 0, NULL) == 1;
    X509_free(peer);
    return ok;
}

/* One exchange over TLS; r gets the raw response. quiet: no messages. */
static int https_exchange(const struct itest_lcbd *d, const char *request, size_t request_len,
                          const char *cert_prefix, struct http_response *r, bool quiet)
{
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    int fd = -1, rc = -1;

    r->data = NULL;
    r->len = 0;
    ctx = client_ctx(cert_prefix);
    if (ctx == NULL) {
        if (!quiet)
            print_ssl_errors("cannot set up the TLS client (CA or client certificate)");
        goto out;
    }
    fd = connect_local(d->port);
    if (fd < 0) {
        if (!quiet)
            fprintf(stderr, "itest: connect to 127.0.0.1:%d: %s\n", d->port, strerror(errno));
        goto out;
    }
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
        SSL_set_tlsext_host_name(ssl, "localhost") != 1 || SSL_connect(ssl) != 1) {
        if (!quiet)
            print_ssl_errors("TLS handshake failed");
        goto out;
    }
    if (!peer_names_us(ssl)) {
        if (!quiet)
            fprintf(stderr,
                    "itest: the server certificate names neither 127.0.0.1 nor localhost\n");
        goto out;
    }
    if (ssl_write_all(ssl, request, request_len) != 0 || ssl_read_all(ssl, r) != 0) {
        if (!quiet)
            print_ssl_errors("TLS exchange failed");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        free(r->data);
        r->data = NULL;
    }
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    return rc;
}

static const char *find_header(const char *headers, const char *end, const char *name)
{
    size_t name_len = strlen(name);

    for (const char *line = headers; line < end;) {
        const char *eol = strstr(line, "\r\n");

        if (eol == NULL || eol > end)
            eol = end;
        if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':')
            return line + name_len + 1 + strspn(line + name_len + 1, " \t");
        line = eol + 2;
    }
    return NULL;
}

/* Decodes a chunked body in place; returns its length or -1. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;

    for (;;) {
        char *end;
        unsigned long size;

        if (in >= len)
            return -1;
        size = strtoul(body + in, &end, 16);
        end = strstr(end, "\r\n");
        if (end == NULL)
            return -1;
        in = (size_t)(end - body) + 2;
        if (size == 0)
            return (long)out;
        if (size > len - in)
            return -1;
        memmove(body + out, body + in, size);
        out += size;
        in += size + 2;
    }
}

/* Splits r into status and body; the body is moved to a fresh allocation. */
static int parse_response(struct http_response *r, int *http_status, char **body_out,
                          size_t *body_len)
{
    char *head_end = strstr(r->data, "\r\n\r\n"), *body, *copy;
    const char *value;
    size_t len;
    int status;

    if (head_end == NULL || sscanf(r->data, "HTTP/1.%*d %3d", &status) != 1) {
        fprintf(stderr, "itest: malformed HTTP response: %.200s\n", r->data);
        return -1;
    }
    body = head_end + 4;
    len = r->len - (size_t)(body - r->data);
    value = find_header(r->data, head_end, "Transfer-Encoding");
    if (value != NULL && strncasecmp(value, "chunked", 7) == 0) {
        long n = dechunk(body, len);

        if (n < 0) {
            fprintf(stderr, "itest: malformed chunked body\n");
            return -1;
        }
        len = (size_t)n;
    } else if ((value = find_header(r->data, head_end, "Content-Length")) != NULL) {
        unsigned long declared = strtoul(value, NULL, 10);

        if (declared > len) {
            fprintf(stderr, "itest: body shorter (%zu) than Content-Length %lu\n", len, declared);
            return -1;
        }
        len = declared;
    }
    copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, body, len);
    copy[len] = '\0';
    *http_status = status;
    if (body_len != NULL)
        *body_len = len;
    *body_out = copy;
    return 0;
}

static char *build_request(const struct itest_lcbd *d, const char *method, const char *path,
                           const char *body, size_t *len_out)
{
    size_t body_len = body ? strlen(body) : 0, cap = strlen(method) + strlen(path) + body_len + 256;
    char *request = malloc(cap);
    int n;

    if (request == NULL)
        return NULL;
    if (body != NULL)
        n = snprintf(request, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, d->port, body_len, body);
    else
        n = snprintf(request, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", method,
                     path, d->port);
    if (n < 0 || (size_t)n >= cap) {
        free(request);
        return NULL;
    }
    *len_out = (size_t)n;
    return request;
}

static int https_request(const struct itest_lcbd *d, const char *method, const char *path,
                         const char *body, const char *cert_prefix, int *http_status,
                         char **body_out, size_t *body_len, bool quiet)
{
    struct http_response r;
    size_t request_len;
    char *request;
    int rc;

    *body_out = NULL;
    request = build_request(d, method, path, body, &request_len);
    if (request == NULL)
        return -1;
    rc = https_exchange(d, request, request_len, cert_prefix, &r, quiet);
    free(request);
    if (rc != 0)
        return -1;
    rc = parse_response(&r, http_status, body_out, body_len);
    free(r.data);
    return rc;
}

bool itest_https_probe(const struct itest_lcbd *d)
{
    char *body = NULL;
    int status = 0;
    int rc = https_request(d, "GET", "/healthz", NULL, NULL, &status, &body, NULL, true);

    free(body);
    return rc == 0 && status > 0;
}

int itest_https_raw(const struct itest_lcbd *d, const char *method, const char *path,
                    const char *body, const char *cert_prefix, int *http_status, char **body_out,
                    size_t *body_len)
{
    return https_request(d, method, path, body, cert_prefix, http_status, body_out, body_len,
                         false);
}

int itest_https(const struct itest_lcbd *d, const char *method, const char *path, const char *body,
                const char *cert_prefix, int *http_status, json_t **json_out)
{
    char *text = NULL;
    size_t len = 0;
    int rc = itest_https_raw(d, method, path, body, cert_prefix, http_status, &text, &len);

    if (json_out != NULL) {
        *json_out = NULL;
        if (rc == 0) {
            json_error_t error;

            *json_out = json_loadb(text, len, 0, &error);
        }
    }
    free(text);
    return rc;
}
