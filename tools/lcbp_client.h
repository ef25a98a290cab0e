/* A small blocking LCBP/1 client (protocol/SPEC.md) for lcb-term's one-shot
 * commands and the integration tests: TCP, TLS 1.3 with a terminal client
 * certificate, the server verified against a CA, then frames through the
 * codec. Never for lcbd: it blocks. Requests may be pipelined: send several,
 * then read the answers, which carry the request ids. */
#ifndef LCB_LCBP_CLIENT_H
#define LCB_LCBP_CLIENT_H

#include "lib/error.h"
#include "protocol/lcbp.h"

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#define LCBP_CLIENT_TIMEOUT_MS 30000

struct lcbp_client_options {
    const char *addr;        /* "host:port", "[v6]:port" */
    const char *ca_file;     /* PEM: the CA that certified lcbd */
    const char *cert_file;   /* PEM: the terminal's certificate; NULL: none */
    const char *key_file;    /* PEM: its key; NULL: cert_file */
    const char *server_name; /* name or IP the server certificate must carry;
                                NULL: addr's host */
    int timeout_ms;          /* connect, each read and each write; 0:
                                LCBP_CLIENT_TIMEOUT_MS */
};

struct lcbp_client;

/* A TLS 1.3-only client context that verifies the peer against ca_file and
 * presents cert_file/key_file when cert_file is non-NULL. Caller frees it
 * with SSL_CTX_free. Shared by the blocking client and lcb-term's load mode.
 * Returns NULL with err->code "tls_setup". */
SSL_CTX *lcbp_client_tls_ctx(const char *ca_file, const char *cert_file, const char *key_file,
                             struct lcb_error *err);

/* Makes ssl verify that the server certificate names name (an IP address
 * or a DNS name, also sent as SNI). Returns 0 or -1. */
int lcbp_client_expect_server(SSL *ssl, const char *name);

/* Splits "host:port" or "[v6]:port". Returns 0, or -1 with "bad_address". */
int lcbp_client_split_addr(const char *addr, char *host, size_t host_cap, char *port,
                           size_t port_cap, struct lcb_error *err);

/* Connects and completes the TLS handshake. Returns a client the caller
 * closes with lcbp_client_close, or NULL with err->code "connect_failed" or
 * "tls_failed". No LCBP frame is exchanged yet. */
struct lcbp_client *lcbp_client_connect(const struct lcbp_client_options *opt,
                                        struct lcb_error *err);

/* Sends HELLO (LCBP/1 only) and reads its answer into hello_ok. Returns 0
 * on HELLO_OK; -1 with err set to the ERROR frame's code and message, or to
 * a transport code (see lcbp_client_recv). */
int lcbp_client_hello(struct lcbp_client *c, const char *software, struct lcbp_message *hello_ok,
                      struct lcb_error *err);

/* A fresh request id (1, 2, ...; never 0). */
uint32_t lcbp_client_next_id(struct lcbp_client *c);

/* Encodes and sends one request without waiting for its answer. */
int lcbp_client_send(struct lcbp_client *c, const struct lcbp_message *req, struct lcb_error *err);

/* Sends bytes as they are (for tests of hostile input). */
int lcbp_client_send_raw(struct lcbp_client *c, const void *bytes, size_t len,
                         struct lcb_error *err);

/* Reads the next frame. Returns 0 with msg decoded (any type, ERROR
 * included), or -1 with err->code "closed" (the server closed the
 * connection, cleanly or not), "timeout", "io_failed" or "bad_answer" (the
 * server sent a frame the codec refuses). */
int lcbp_client_recv(struct lcbp_client *c, struct lcbp_message *msg, struct lcb_error *err);

/* Sends req (its request_id set, e.g. from lcbp_client_next_id) and reads
 * frames until the answer with the same id. Returns 0 with resp holding it
 * (which may be an ERROR: see lcbp_client_refusal), -1 as lcbp_client_recv,
 * or -1 with "bad_answer" when an ERROR with request id 0 arrives. Answers
 * to other pipelined requests that arrive first are dropped: use send/recv
 * to pipeline. */
int lcbp_client_call(struct lcbp_client *c, const struct lcbp_message *req,
                     struct lcbp_message *resp, struct lcb_error *err);

/* When msg is an ERROR, copies its code and message into err and returns
 * -1; else 0. */
int lcbp_client_refusal(const struct lcbp_message *msg, struct lcb_error *err);

/* The connection's socket, e.g. for poll(). */
int lcbp_client_fd(const struct lcbp_client *c);

/* Closes the connection (close_notify when possible) and frees c. NULL is
 * fine. */
void lcbp_client_close(struct lcbp_client *c);

#endif
