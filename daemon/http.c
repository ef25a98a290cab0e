/* The HTTPS listener, routing and authentication; see http.h. Every answer,
 * success or refusal, leaves through request_reply_json so the in-flight
 * count is exact and graceful shutdown can wait for it. */
#include "daemon/http.h"

#include "daemon/api.h"
#include "daemon/api_parse.h"
#include "daemon/auth.h"
#include "daemon/db.h"
#include "daemon/log.h"
#include "daemon/net.h"
#include "daemon/request.h"
#include "daemon/tls.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ROLES_READERS (ROLE_ADMINISTRATOR | ROLE_AUDITOR)

struct route {
    enum evhttp_cmd_type method;
    const char *pattern; /* "{}" matches one path segment */
    int roles;           /* 0: no client certificate needed */
    void (*handler)(struct request *req);
};

static void health(struct request *req);

static const struct route routes[] = {
    {EVHTTP_REQ_GET, "/healthz", 0, health},
    {EVHTTP_REQ_POST, "/v1/outcomes", ROLE_INSTITUTION, api_post_outcomes},
    {EVHTTP_REQ_GET, "/v1/cards/{}/balance", ROLES_READERS, api_get_card_balance},
    {EVHTTP_REQ_POST, "/v1/cards/{}/lost", ROLE_ADMINISTRATOR, api_post_card_lost},
    {EVHTTP_REQ_POST, "/v1/cards/{}/replace", ROLE_ADMINISTRATOR, api_post_card_replace},
    {EVHTTP_REQ_POST, "/v1/cards/{}/cancel", ROLE_ADMINISTRATOR, api_post_card_cancel},
    {EVHTTP_REQ_GET, "/v1/learners/{}", ROLES_READERS, api_get_learner},
    {EVHTTP_REQ_GET, "/v1/learners/{}/transactions", ROLES_READERS, api_get_learner_transactions},
    {EVHTTP_REQ_POST, "/v1/learners", ROLE_ADMINISTRATOR, api_post_learner},
    {EVHTTP_REQ_POST, "/v1/learners/{}/cards", ROLE_ADMINISTRATOR, api_post_learner_card},
    {EVHTTP_REQ_GET, "/v1/institutions/{}/totals", ROLES_READERS | ROLE_INSTITUTION,
     api_get_institution_totals},
    {EVHTTP_REQ_POST, "/v1/institutions", ROLE_ADMINISTRATOR, api_post_institution},
    {EVHTTP_REQ_POST, "/v1/catalogue", ROLE_ADMINISTRATOR, api_post_catalogue_item},
    {EVHTTP_REQ_POST, "/v1/conversions/preview", ROLE_ADMINISTRATOR, api_post_conversion_preview},
    {EVHTTP_REQ_POST, "/v1/conversions", ROLE_ADMINISTRATOR, api_post_conversion},
    {EVHTTP_REQ_POST, "/v1/reversals", ROLE_ADMINISTRATOR, api_post_reversal},
    {EVHTTP_REQ_GET, "/v1/learners/{}/transcript", ROLES_READERS, api_get_learner_transcript},
};

struct http_server {
    struct app *app;
    SSL_CTX *tls;
    struct evhttp *evhttp;
    struct evhttp_bound_socket *bound;
    unsigned in_flight;
};

/* The public struct request plus what only this file needs. */
struct request_impl {
    struct request pub;
    struct http_server *server;
    const struct route *route;
    struct evkeyvalq query;
    bool query_parsed;
};

static const struct {
    const char *code;
    int status;
} code_statuses[] = {
    {"no_client_certificate", 401}, {"credential_unknown", 401}, {"credential_revoked", 401},
    {"credential_expired", 401},    {"forbidden", 403},          {"outside_subtree", 403},
    {"not_found", 404},             {"method_not_allowed", 405}, {"database_unavailable", 503},
    {"shutting_down", 503},         {"internal_error", 500},     {"card_not_active", 409},
    {"card_exists", 409},           {"idempotency_conflict", 409}, {"conflict", 409},
    {"rule_not_in_force", 409},     {"nothing_to_convert", 409},   {"cap_reached", 409},
    {"below_minimum_level", 409},   {"credits_expired", 409},      {"programme_mismatch", 409},
    {"already_reversed", 409},      {"reversal_of_reversal", 409}, {"deposit_consumed", 409},
};

int request_status_for_code(const char *code)
{
    for (size_t i = 0; i < sizeof code_statuses / sizeof code_statuses[0]; i++)
        if (strcmp(code, code_statuses[i].code) == 0)
            return code_statuses[i].status;
    size_t len = strlen(code);
    if (len > 10 && strcmp(code + len - 10, "_not_found") == 0)
        return 404;
    if (len > 7 && strcmp(code + len - 7, "_exists") == 0)
        return 409;
    return 400;
}

static void request_free(struct request_impl *impl)
{
    for (int i = 0; i < REQUEST_MAX_PATH_ARGS; i++)
        free(impl->pub.path_args[i]);
    json_decref(impl->pub.body);
    if (impl->query_parsed)
        evhttp_clear_headers(&impl->query);
    impl->server->in_flight--;
    free(impl);
}

void request_reply_json(struct request *req, int status, json_t *doc)
{
    struct request_impl *impl = (struct request_impl *)req;
    struct evbuffer *out = evhttp_request_get_output_buffer(req->http);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        status = 500;
        evbuffer_add_printf(out, "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}");
    } else {
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
        free(text);
    }
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req->http);
    evhttp_add_header(headers, "Content-Type", "application/json");
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_send_reply(req->http, status, NULL, NULL);
    request_free(impl);
}

void request_log_refusal(struct request *req, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    req->app->counters.refusals++;
    log_info("refused: %s %s by %s (%s): %s: %s",
             evhttp_request_get_command(req->http) == EVHTTP_REQ_GET ? "GET" : "POST",
             evhttp_request_get_uri(req->http), req->who.subject[0] ? req->who.subject : "anonymous",
             req->who.institution_code[0] ? req->who.institution_code : "-", code, message);
}

void request_reply_error(struct request *req, int status, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (status == 401 || status == 403)
        request_log_refusal(req, code, "%s", message);
    request_reply_json(req, status,
                       json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

const char *request_query_param(struct request *req, const char *name)
{
    struct request_impl *impl = (struct request_impl *)req;
    if (!impl->query_parsed) {
        const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req->http));
        TAILQ_INIT(&impl->query);
        if (query != NULL && evhttp_parse_query_str(query, &impl->query) != 0)
            evhttp_clear_headers(&impl->query);
        impl->query_parsed = true;
    }
    return evhttp_find_header(&impl->query, name);
}

static void health(struct request *req)
{
    bool up = db_pool_is_up(req->app->db);
    request_reply_json(req, up ? 200 : 503,
                       json_pack("{s:s,s:s}", "status", up ? "ok" : "degraded", "database",
                                 up ? "up" : "down"));
}

/* Matches path against pattern, capturing {} segments into req. */
static bool route_matches(const char *pattern, const char *path, struct request *req)
{
    int captured = 0;
    while (*pattern != '\0' && *path != '\0') {
        if (strncmp(pattern, "{}", 2) == 0) {
            size_t seg = strcspn(path, "/");
            if (seg == 0 || captured == REQUEST_MAX_PATH_ARGS)
                return false;
            char *raw = strndup(path, seg);
            char *decoded = raw ? evhttp_uridecode(raw, 0, NULL) : NULL;
            free(raw);
            if (decoded == NULL)
                return false;
            free(req->path_args[captured]);
            req->path_args[captured++] = decoded;
            pattern += 2;
            path += seg;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

static void run_handler(struct request_impl *impl)
{
    struct request *req = &impl->pub;
    if (evhttp_request_get_command(req->http) == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req->http);
        size_t len = evbuffer_get_length(in);
        struct lcb_error err;
        const char *bytes = len ? (const char *)evbuffer_pullup(in, -1) : "";
        if (api_parse_body(bytes, len, &req->body, &err) != 0) {
            request_reply_error(req, 400, err.code, "%s", err.message);
            return;
        }
    }
    impl->route->handler(req);
}

static void on_auth(enum auth_outcome outcome, const struct identity *who, void *arg)
{
    struct request_impl *impl = arg;
    struct request *req = &impl->pub;
    switch (outcome) {
    case AUTH_OK:
        req->who = *who;
        if (!(impl->route->roles & (int)who->role)) {
            request_reply_error(req, 403, "forbidden", "this certificate's role may not use this route");
            return;
        }
        run_handler(impl);
        return;
    case AUTH_UNKNOWN:
        request_reply_error(req, 401, "credential_unknown", "this client certificate is not registered");
        return;
    case AUTH_REVOKED:
        request_reply_error(req, 401, "credential_revoked", "this client certificate was revoked");
        return;
    case AUTH_EXPIRED:
        request_reply_error(req, 401, "credential_expired", "this client certificate has expired");
        return;
    case AUTH_UNAVAILABLE:
        request_reply_error(req, 503, "database_unavailable", "the database is unavailable; retry later");
        return;
    }
}

static void authenticate(struct request_impl *impl)
{
    struct request *req = &impl->pub;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req->http);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    uint8_t fingerprint[32];
    if (ssl == NULL || tls_peer_fingerprint(ssl, fingerprint) != 0) {
        request_reply_error(req, 401, "no_client_certificate",
                            "this route needs a client certificate issued by the bank");
        return;
    }
    auth_lookup(req->app, fingerprint, on_auth, impl);
}

static void on_request(struct evhttp_request *http, void *arg)
{
    struct http_server *server = arg;
    struct request_impl *impl = calloc(1, sizeof *impl);
    if (impl == NULL) {
        evhttp_send_error(http, 500, "out of memory");
        return;
    }
    impl->server = server;
    impl->pub.app = server->app;
    impl->pub.http = http;
    server->in_flight++;
    server->app->counters.requests++;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(http));
    bool path_known = false;
    for (size_t i = 0; path != NULL && i < sizeof routes / sizeof routes[0]; i++) {
        if (!route_matches(routes[i].pattern, path, &impl->pub))
            continue;
        path_known = true;
        if (routes[i].method == evhttp_request_get_command(http)) {
            impl->route = &routes[i];
            break;
        }
    }
    if (impl->route == NULL) {
        request_reply_error(&impl->pub, path_known ? 405 : 404,
                            path_known ? "method_not_allowed" : "not_found", "no such route: %s",
                            path ? path : "(none)");
        return;
    }
    if (impl->route->roles == 0)
        run_handler(impl);
    else
        authenticate(impl);
}

static struct bufferevent *make_tls_bufferevent(struct event_base *base, void *arg)
{
    struct http_server *server = arg;
    SSL *ssl = SSL_new(server->tls);
    if (ssl == NULL)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct http_server *http_server_new(struct app *app, SSL_CTX *tls, struct lcb_error *err)
{
    struct http_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        lcb_error_set(err, "internal_error", "out of memory");
        return NULL;
    }
    server->app = app;
    server->tls = tls;
    server->evhttp = evhttp_new(app->base);
    if (server->evhttp == NULL) {
        lcb_error_set(err, "internal_error", "cannot create the HTTP server");
        goto fail;
    }
    evhttp_set_bevcb(server->evhttp, make_tls_bufferevent, server);
    evhttp_set_gencb(server->evhttp, on_request, server);
    evhttp_set_allowed_methods(server->evhttp, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(server->evhttp, (ev_ssize_t)app->cfg->max_body_bytes);
    evhttp_set_max_headers_size(server->evhttp, 16384);
    evhttp_set_timeout(server->evhttp, app->cfg->request_timeout_s);
    server->bound = evhttp_bind_socket_with_handle(server->evhttp, app->cfg->listen_host,
                                                   (ev_uint16_t)app->cfg->listen_port);
    if (server->bound == NULL) {
        lcb_error_set(err, "listen", "cannot listen on %s:%d", app->cfg->listen_host,
                      app->cfg->listen_port);
        goto fail;
    }
    net_no_delay(evhttp_bound_socket_get_fd(server->bound));
    return server;
fail:
    http_server_free(server);
    return NULL;
}

void http_server_stop_accepting(struct http_server *server)
{
    if (server->bound != NULL)
        evhttp_del_accept_socket(server->evhttp, server->bound);
    server->bound = NULL;
}

unsigned http_server_in_flight(const struct http_server *server)
{
    return server->in_flight;
}

void http_server_free(struct http_server *server)
{
    if (server == NULL)
        return;
    if (server->evhttp != NULL)
        evhttp_free(server->evhttp);
    free(server);
}
