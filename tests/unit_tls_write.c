/* tls_write_now (lib/tls_write.c) over a real TLS 1.3 session on a
 * socketpair: what it sends at once and what it leaves to the bufferevent
 * must reach the peer whole and in order, also when the socket fills in
 * the middle of a record (OpenSSL then needs the same bytes again). */
#include "lib/tls_write.h"
#include "tests/unit_suites.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MESSAGES 64
#define MESSAGE_LEN 1500

struct pair {
    struct event_base *base;
    SSL_CTX *server_ctx, *client_ctx;
    SSL *client;
    struct bufferevent *server; /* owns its SSL and socket */
    int client_fd;
    bool server_connected;
    bool failure_expected, server_failed;
};

static void on_server_event(struct bufferevent *bev, short what, void *arg)
{
    struct pair *p = arg;
    (void)bev;
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        ck_assert_msg(p->failure_expected, "server side failed: %d", what);
        p->server_failed = true;
    }
    if (what & BEV_EVENT_CONNECTED)
        p->server_connected = true;
}

/* A self-signed Ed25519 certificate: the client does not check it. */
static void server_identity(SSL_CTX *ctx)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *cert = X509_new();
    ck_assert(key != NULL && cert != NULL);
    X509_NAME *name = X509_get_subject_name(cert);
    ck_assert(X509_set_version(cert, 2) == 1 &&
              ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(cert), 0) != NULL &&
              X509_gmtime_adj(X509_getm_notAfter(cert), 3600) != NULL &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         (const unsigned char *)"tls-write", -1, -1, 0) == 1 &&
              X509_set_issuer_name(cert, name) == 1 && X509_set_pubkey(cert, key) == 1 &&
              X509_sign(cert, key, NULL) > 0);
    ck_assert(SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* Runs the loop and the client's handshake in turns until both are done.
 * The server's send buffer is made small, so that it fills after a few
 * messages the client has not read yet. */
static void pair_open(struct pair *p)
{
    int fds[2];
    int small = 4096;
    memset(p, 0, sizeof *p);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    ck_assert_int_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    p->client_fd = fds[1];

    p->base = event_base_new();
    p->server_ctx = SSL_CTX_new(TLS_server_method());
    p->client_ctx = SSL_CTX_new(TLS_client_method());
    ck_assert(p->base != NULL && p->server_ctx != NULL && p->client_ctx != NULL);
    SSL_CTX_set_min_proto_version(p->server_ctx, TLS1_3_VERSION);
    server_identity(p->server_ctx);
    SSL_CTX_set_verify(p->client_ctx, SSL_VERIFY_NONE, NULL);

    SSL *server_ssl = SSL_new(p->server_ctx);
    p->client = SSL_new(p->client_ctx);
    ck_assert(server_ssl != NULL && p->client != NULL);
    ck_assert_int_eq(SSL_set_fd(p->client, fds[1]), 1);
    p->server = bufferevent_openssl_socket_new(p->base, fds[0], server_ssl,
                                               BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(p->server);
    bufferevent_setcb(p->server, NULL, NULL, on_server_event, p);
    bufferevent_enable(p->server, EV_READ | EV_WRITE);

    bool client_done = false;
    for (int round = 0; round < 10000 && !(client_done && p->server_connected); round++) {
        if (!client_done) {
            int r = SSL_connect(p->client);
            int e = SSL_get_error(p->client, r);
            ck_assert_msg(r == 1 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
                          "client handshake failed: %d", e);
            client_done = r == 1;
        }
        event_base_loop(p->base, EVLOOP_NONBLOCK);
    }
    ck_assert_msg(client_done && p->server_connected, "the handshake did not finish");
}

static void pair_close(struct pair *p)
{
    bufferevent_free(p->server);
    SSL_free(p->client);
    if (p->client_fd >= 0)
        close(p->client_fd);
    SSL_CTX_free(p->server_ctx);
    SSL_CTX_free(p->client_ctx);
    event_base_free(p->base);
}

static unsigned char message_byte(int message, size_t at)
{
    return (unsigned char)(message * 31 + at * 7 + 1);
}

/* Reads what the client is sent until it has want bytes; with run_loop,
 * runs the server's loop in between so that libevent writes what it
 * queued. */
static void client_read_all(struct pair *p, unsigned char *got, size_t want, bool run_loop)
{
    size_t have = 0;
    for (int round = 0; round < 100000 && have < want; round++) {
        int r = SSL_read(p->client, got + have, (int)(want - have));
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        int e = SSL_get_error(p->client, r);
        ck_assert_msg(e == SSL_ERROR_WANT_READ, "client read failed: %d", e);
        ck_assert_msg(run_loop, "only %zu of %zu bytes were sent at once", have, want);
        event_base_loop(p->base, EVLOOP_NONBLOCK);
    }
    ck_assert_uint_eq(have, want);
}

START_TEST(test_sent_at_once_and_queued_arrive_whole_and_in_order)
{
    static unsigned char message[MESSAGE_LEN], got[MESSAGES * MESSAGE_LEN];
    struct pair p;
    struct evbuffer *output;
    int sent_at_once = 0, queued = 0;

    pair_open(&p);
    output = bufferevent_get_output(p.server);
    for (int m = 0; m < MESSAGES; m++) {
        for (size_t i = 0; i < MESSAGE_LEN; i++)
            message[i] = message_byte(m, i);
        bool was_empty = evbuffer_get_length(output) == 0;
        if (m == MESSAGES - 1) {
            /* the socket has room again, but libevent has not yet sent
             * what it holds: the last message must wait behind it */
            client_read_all(&p, got, 2 * MESSAGE_LEN, false);
            ck_assert_uint_gt(evbuffer_get_length(output), 0);
        }
        ck_assert_int_eq(tls_write_now(p.server, message, MESSAGE_LEN), 0);
        if (evbuffer_get_length(output) == 0)
            sent_at_once++;
        else if (was_empty)
            queued++; /* the socket filled: left to libevent */
    }
    /* both paths were taken: the first messages went at once, and one
     * found the client's unread bytes filling the socket */
    ck_assert_int_gt(sent_at_once, 0);
    ck_assert_int_eq(queued, 1);

    client_read_all(&p, got + 2 * MESSAGE_LEN, sizeof got - 2 * MESSAGE_LEN, true);
    for (int m = 0; m < MESSAGES; m++)
        for (size_t i = 0; i < MESSAGE_LEN; i++)
            ck_assert_msg(got[(size_t)m * MESSAGE_LEN + i] == message_byte(m, i),
                          "message %d, byte %zu differs", m, i);
    /* and once drained, the next message goes at once again */
    ck_assert_uint_eq(evbuffer_get_length(output), 0);
    ck_assert_int_eq(tls_write_now(p.server, message, 10), 0);
    ck_assert_uint_eq(evbuffer_get_length(output), 0);
    client_read_all(&p, got, 10, true);
    ck_assert(memcmp(got, message, 10) == 0);
    pair_close(&p);
}
END_TEST

START_TEST(test_large_message_is_left_to_the_bufferevent)
{
    static unsigned char message[TLS_WRITE_NOW_MAX + 1], got[TLS_WRITE_NOW_MAX + 1];
    struct pair p;

    pair_open(&p);
    for (size_t i = 0; i < sizeof message; i++)
        message[i] = message_byte(0, i);
    ck_assert_int_eq(tls_write_now(p.server, message, sizeof message), 0);
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.server)), sizeof message);
    client_read_all(&p, got, sizeof got, true);
    ck_assert(memcmp(got, message, sizeof message) == 0);
    pair_close(&p);
}
END_TEST

/* The peer is gone: the direct write fails, the frame is handed to the
 * bufferevent, and libevent reports the failure through the event callback
 * as for any write. */
START_TEST(test_failed_connection_is_reported_by_the_bufferevent)
{
    struct pair p;

    signal(SIGPIPE, SIG_IGN);
    pair_open(&p);
    p.failure_expected = true;
    close(p.client_fd);
    p.client_fd = -1;
    ck_assert_int_eq(tls_write_now(p.server, "0123456789", 10), 0);
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.server)), 10);
    for (int round = 0; round < 1000 && !p.server_failed; round++)
        event_base_loop(p.base, EVLOOP_ONCE);
    ck_assert(p.server_failed);
    pair_close(&p);
}
END_TEST

START_TEST(test_plain_socket_is_left_to_the_bufferevent)
{
    int fds[2];
    char got[5];
    struct event_base *base = event_base_new();

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    struct bufferevent *bev = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(bev);
    bufferevent_enable(bev, EV_WRITE);
    ck_assert_int_eq(tls_write_now(bev, "hello", 5), 0);
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(bev)), 5);
    event_base_loop(base, EVLOOP_ONCE);
    ck_assert_int_eq(read(fds[1], got, sizeof got), 5);
    ck_assert(memcmp(got, "hello", 5) == 0);
    bufferevent_free(bev);
    close(fds[1]);
    event_base_free(base);
}
END_TEST

Suite *tls_write_suite(void)
{
    Suite *s = suite_create("tls_write");
    TCase *tc = tcase_create("tls_write");
    tcase_add_test(tc, test_sent_at_once_and_queued_arrive_whole_and_in_order);
    tcase_add_test(tc, test_large_message_is_left_to_the_bufferevent);
    tcase_add_test(tc, test_failed_connection_is_reported_by_the_bufferevent);
    tcase_add_test(tc, test_plain_socket_is_left_to_the_bufferevent);
    suite_add_tcase(s, tc);
    return s;
}
