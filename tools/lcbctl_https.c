/* The blocking HTTPS client of lcbctl; see lcbctl_https.h. The approach is
 * that of tests/itest_https.c: TLS 1.3 only, peer verified against the CA
 * and the URL's host (DNS name or IP address), Connection: close, the
 * answer read until the server closes. It must never skip verification. */
#include "tools/lcbctl_https.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTPS_TIMEOUT_S 60
#define HTTPS_RESPONSE_MAX (16u << 20)
#define HOST_MAX 256

int lcbctl_https_resolve(struct lcbctl_https_target *t, struct lcb_error *err)
{
    if (t->url == NULL)
        t->url = getenv("LCB_URL");
    if (t->cert == NULL)
        t->cert = getenv("LCB_ADMIN_CERT");
    if (t->key == NULL)
        t->key = getenv("LCB_ADMIN_KEY");
    if (t->ca == NULL)
        t->ca = getenv("LCB_CA");
    const char *missing = t->url == NULL    ? "--url (or LCB_URL)"
                          : t->cert == NULL ? "--cert (or LCB_ADMIN_CERT)"
                          : t->key == NULL  ? "--key (or LCB_ADMIN_KEY)"
                          : t->ca == NULL   ? "--ca (or LCB_CA)"
                                            : NULL;
    if (missing != NULL)
        return lcb_error_set(err, "invalid_argument", "%s is required to reach lcbd", missing);
    return 0;
}

/* "https://HOST:PORT" or "https://[V6]:PORT", an optional trailing '/'. */
static int parse_url(const char *url, char host[HOST_MAX], char port[8], struct lcb_error *err)
{
    const char *p = url + strlen("https://"), *end;
    if (strncmp(url, "https://", 8) != 0)
        goto fail;
    if (*p == '[') {
        end = strchr(++p, ']');
        if (end == NULL || end[1] != ':')
            goto fail;
    } else {
        end = strchr(p, ':');
        if (end == NULL)
            goto fail;
    }
    size_t host_len = (size_t)(end - p);
    const char *port_text = end + (*end == ']' ? 2 : 1);
    size_t port_len = strspn(port_text, "0123456789");
    if (host_len == 0 || host_len >= HOST_MAX || port_len == 0 || port_len > 5 ||
        (port_text[port_len] != '\0' && strcmp(port_text + port_len, "/") != 0))
        goto fail;
    memcpy(host, p, host_len);
    host[host_len] = '\0';
    memcpy(port, port_text, port_len);
    port[port_len] = '\0';
    return 0;
fail:
    return lcb_error_set(err, "invalid_argument", "the URL '%s' is not https://HOST:PORT", url);
}

static int tls_error(struct lcb_error *err, const char *what)
{
    char text[160] = "";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    return lcb_error_set(err, "tls_error", "%s%s%s", what, text[0] ? ": " : "", text);
}

static SSL_CTX *client_ctx(const struct lcbctl_https_target *t, struct lcb_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        tls_error(err, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(err, "cannot load the CA, certificate or key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int connect_to(const char *host, const char *port, struct lcb_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list, *ai;
    struct timeval timeout = {.tv_sec = HTTPS_TIMEOUT_S};
    int fd = -1, rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        lcb_error_set(err, "connect_failed", "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd < 0)
        lcb_error_set(err, "connect_failed", "cannot connect to %s port %s", host, port);
    return fd;
}

/* The server must be certified for host: an IP address or a DNS name. */
static int expect_host(SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1)
        return 0;
    return X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 &&
                   SSL_set_tlsext_host_name(ssl, host) == 1
               ? 0
               : -1;
}

static int read_all(SSL *ssl, char **out, size_t *len_out)
{
    size_t cap = 8192, len = 0;
    char *data = malloc(cap);
    while (data != NULL) {
        size_t got;
        if (cap - len < 4096) {
            char *bigger = cap < HTTPS_RESPONSE_MAX ? realloc(data, cap * 2) : NULL;
            if (bigger == NULL)
                break;
            data = bigger;
            cap *= 2;
        }
        if (SSL_read_ex(ssl, data + len, cap - len - 1, &got) == 1) {
            len += got;
            continue;
        }
        int why = SSL_get_error(ssl, 0);
        if (why != SSL_ERROR_ZERO_RETURN && (why != SSL_ERROR_SYSCALL || len == 0))
            break;
        data[len] = '\0';
        *out = data;
        *len_out = len;
        return 0;
    }
    free(data);
    return -1;
}

/* Splits "HTTP/1.1 200 ...\r\n...\r\n\r\nbody" (Content-Length or
 * read-to-close; lcbd never chunks its JSON answers). */
static int parse_response(char *raw, size_t len, int *status, char **body_out,
                          struct lcb_error *err)
{
    char *head_end = strstr(raw, "\r\n\r\n");
    if (head_end == NULL || sscanf(raw, "HTTP/1.%*d %3d", status) != 1)
        return lcb_error_set(err, "bad_response", "lcbd's answer is not HTTP");
    char *body = head_end + 4;
    size_t body_len = len - (size_t)(body - raw);
    for (char *line = strstr(raw, "\r\n"); line != NULL && line < head_end;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            unsigned long declared = strtoul(line + 17, NULL, 10);
            if (declared > body_len)
                return lcb_error_set(err, "bad_response", "lcbd's answer is truncated");
            body_len = declared;
        }
    }
    *body_out = strndup(body, body_len);
    return *body_out ? 0 : lcb_error_set(err, "out_of_memory", "reading lcbd's answer");
}

static char *build_request(const char *method, const char *host, const char *path, const char *body)
{
    char *request = NULL;
    int n = body ? asprintf(&request,
                            "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            method, path, host, strlen(body), body)
                 : asprintf(&request, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                            method, path, host);
    return n < 0 ? NULL : request;
}

int lcbctl_https_request(const struct lcbctl_https_target *t, const char *method, const char *path,
                         const char *body, int *http_status, char **body_out, struct lcb_error *err)
{
    char host[HOST_MAX], port[8], *request = NULL, *raw = NULL;
    size_t raw_len = 0, written;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    int fd = -1, rc = -1;

    *body_out = NULL;
    if (parse_url(t->url, host, port, err) != 0 || (ctx = client_ctx(t, err)) == NULL ||
        (fd = connect_to(host, port, err)) < 0)
        goto fail;
    request = build_request(method, host, path, body);
    ssl = SSL_new(ctx);
    if (request == NULL || ssl == NULL || SSL_set_fd(ssl, fd) != 1 || expect_host(ssl, host) != 0) {
        tls_error(err, "cannot set up the TLS connection");
        goto fail;
    }
    if (SSL_connect(ssl) != 1) {
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK)
            lcb_error_set(err, "tls_error", "lcbd's certificate: %s",
                          X509_verify_cert_error_string(verify));
        else
            tls_error(err, "TLS handshake with lcbd failed");
        goto fail;
    }
    if (SSL_write_ex(ssl, request, strlen(request), &written) != 1 || written != strlen(request) ||
        read_all(ssl, &raw, &raw_len) != 0) {
        tls_error(err, "the exchange with lcbd failed");
        goto fail;
    }
    rc = parse_response(raw, raw_len, http_status, body_out, err) == 0 ? 0 : -1;
fail:
    free(raw);
    free(request);
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}
