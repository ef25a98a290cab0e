/* lcbd's HTTPS listener: libevent's evhttp over bufferevent_openssl. It
 * owns the route table, authenticates every /v1/ request from its client
 * certificate (auth.c), checks the route's roles, parses JSON bodies and
 * hands a struct request to the route's handler (api.h). */
#ifndef LCBD_HTTP_H
#define LCBD_HTTP_H

#include "daemon/app.h"
#include "lib/error.h"

#include <openssl/ssl.h>

struct http_server;

/* Binds cfg->listen_host:listen_port. tls must outlive the server. */
struct http_server *http_server_new(struct app *app, SSL_CTX *tls, struct lcb_error *err);
/* Graceful shutdown, first half: accept no new connections. */
void http_server_stop_accepting(struct http_server *server);
/* Requests received and not yet answered. */
unsigned http_server_in_flight(const struct http_server *server);
void http_server_free(struct http_server *server);

#endif
