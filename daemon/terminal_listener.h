/* lcbd's listener for card terminals: LCBP/1 (protocol/SPEC.md) over TLS
 * 1.3 with a terminal client certificate, on bufferevent_openssl. Owns the
 * connections, their limits (count, idle time, frame size, requests in
 * flight, request rate) and authentication; terminal_requests.c answers the
 * requests. A slow or hostile terminal costs at most one frame of memory
 * and never stalls the others. */
#ifndef LCBD_TERMINAL_LISTENER_H
#define LCBD_TERMINAL_LISTENER_H

#include "daemon/app.h"
#include "lib/error.h"

#include <openssl/ssl.h>

struct terminal_listener;

/* Listens on cfg->lcbp_listen_host:port. tls must outlive the server. */
struct terminal_listener *terminal_listener_new(struct app *app, SSL_CTX *tls, struct lcb_error *err);
void terminal_listener_stop_accepting(struct terminal_listener *server);
/* Requests received and not yet answered, over all connections. */
unsigned terminal_listener_in_flight(const struct terminal_listener *server);
/* Closes every connection (their unanswered requests are dropped, never
 * acknowledged) and frees the server. */
void terminal_listener_free(struct terminal_listener *server);

#endif
