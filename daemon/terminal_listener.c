/* The terminals' LCBP listener; see terminal_listener.h. Each connection is a small state
 * machine (enum terminal_state) driven by its bufferevent: handshake, then
 * the credential lookup, then HELLO, then requests. Frames are cut with the
 * pure codec; a framing error is answered with ERROR (request id 0) and the
 * connection is closed, never the daemon. */
#include "daemon/terminal_listener.h"
#include "lib/tls_write.h"

#include "daemon/auth.h"
#include "daemon/terminal.h"
#include "daemon/log.h"
#include "daemon/net.h"
#include "daemon/tls.h"
#include "daemon/validate.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_DEADLINE_S 10          /* a started frame, or the handshake, must finish */
#define OUTPUT_HIGH_WATER (256 * 1024) /* stop reading while a terminal does not read */

struct terminal_listener {
    struct app *app;
    SSL_CTX *tls;
    struct evconnlistener *listener;
    struct terminal *connections;
    unsigned n_connections;
    unsigned in_flight;
    struct lcbp_message scratch; /* decode target: one at a time, on the loop */
    uint8_t frame[LCBP_MAX_FRAME];
};

static void terminal_close(struct terminal *t);
static void on_read(struct bufferevent *bev, void *arg);

int64_t terminal_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void terminal_free(struct terminal *t)
{
    if (t->frame_deadline != NULL)
        event_free(t->frame_deadline);
    free(t);
}

static void on_frame_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct terminal *t = arg;
    if (t->state == TERMINAL_HANDSHAKE)
        log_info("lcbp: a TLS handshake took more than %d s; closing", FRAME_DEADLINE_S);
    else
        log_info("lcbp: terminal %s sent no whole frame in %d s; closing",
                 t->terminal_id[0] ? t->terminal_id : "(unknown)", FRAME_DEADLINE_S);
    terminal_close(t);
}

/* A slow-drip peer keeps the idle timeout fresh with one byte at a time;
 * this deadline, armed when a frame starts, is what it cannot stretch. */
static void frame_deadline_arm(struct terminal *t)
{
    if (t->frame_deadline == NULL)
        t->frame_deadline = evtimer_new(t->app->base, on_frame_deadline, t);
    if (t->frame_deadline == NULL || evtimer_pending(t->frame_deadline, NULL))
        return;
    struct timeval deadline = {FRAME_DEADLINE_S, 0};
    evtimer_add(t->frame_deadline, &deadline);
}

static void frame_deadline_clear(struct terminal *t)
{
    if (t->frame_deadline != NULL)
        evtimer_del(t->frame_deadline);
}

void terminal_request_done(struct terminal *t)
{
    t->in_flight--;
    t->server->in_flight--;
    if (t->state == TERMINAL_CLOSED && t->in_flight == 0)
        terminal_free(t);
    else if (t->state == TERMINAL_READY && t->bev != NULL)
        on_read(t->bev, t); /* frames held back by the in-flight limit */
}

void terminal_send(struct terminal *t, const struct lcbp_message *msg)
{
    if (t->state == TERMINAL_CLOSED || t->bev == NULL)
        return;
    struct lcb_error err;
    size_t len = 0;
    if (lcbp_encode(msg, t->server->frame, sizeof t->server->frame, &len, &err) != 0) {
        log_error("lcbp: cannot encode %s for terminal %s: %s: %s", lcbp_type_name(msg->type),
                  t->terminal_id, err.code, err.message);
        return;
    }
    tls_write_now(t->bev, t->server->frame, len);
}

void terminal_send_error(struct terminal *t, uint32_t request_id, const char *code, const char *message,
                     bool close_after)
{
    struct lcbp_message *msg = calloc(1, sizeof *msg);
    if (msg == NULL)
        abort();
    if (!lcbp_error_code_known(code)) {
        log_error("lcbp: no LCBP code for '%s' (%s)", code, message);
        code = "internal_error";
    }
    lcbp_message_init(msg, LCBP_ERROR, request_id);
    snprintf(msg->error_code, sizeof msg->error_code, "%s", code);
    snprintf(msg->error_message, sizeof msg->error_message, "%s", message);
    msg->present |= LCBP_BIT(LCBP_TAG_ERROR_MESSAGE);
    terminal_send(t, msg);
    free(msg);
    if ((close_after || lcbp_error_closes(code)) && t->state != TERMINAL_CLOSED) {
        /* Closed from on_write once the ERROR is out, never from here:
         * callers up the stack still hold t. */
        t->state = TERMINAL_CLOSING;
        bufferevent_disable(t->bev, EV_READ);
        bufferevent_trigger(t->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
}

static void refuse(struct terminal *t, const char *code, const char *message)
{
    t->app->counters.refusals++;
    log_info("refused: terminal %s (%s): %s: %s", t->terminal_id[0] ? t->terminal_id : "anonymous",
             t->institution_code[0] ? t->institution_code : "-", code, message);
    terminal_send_error(t, 0, code, message, true);
}

/* The socket goes now; the struct stays while answers are still due. */
static void terminal_close(struct terminal *t)
{
    if (t->state == TERMINAL_CLOSED)
        return;
    struct terminal_listener *server = t->server;
    frame_deadline_clear(t);
    if (t->bev != NULL)
        bufferevent_free(t->bev);
    t->bev = NULL;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        server->connections = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    server->n_connections--;
    t->state = TERMINAL_CLOSED;
    if (t->in_flight == 0)
        terminal_free(t);
}

static void on_auth(enum auth_outcome outcome, const struct identity *who, void *arg)
{
    struct terminal *t = arg;
    t->in_flight--;
    t->server->in_flight--;
    if (t->state == TERMINAL_CLOSED) {
        if (t->in_flight == 0)
            terminal_free(t);
        return;
    }
    static const char *const codes[] = {
        [AUTH_UNKNOWN] = "credential_unknown", [AUTH_REVOKED] = "credential_revoked",
        [AUTH_EXPIRED] = "credential_expired", [AUTH_UNAVAILABLE] = "database_unavailable"};
    if (outcome != AUTH_OK) {
        refuse(t, codes[outcome], "this terminal certificate may not connect");
        return;
    }
    if (who->role != ROLE_TERMINAL) {
        refuse(t, "not_a_terminal", "only a terminal certificate may speak LCBP");
        return;
    }
    /* The terminal id travels in HELLO_OK and keys every tap: an LCBP code. */
    if (!validate_code(who->subject) || !validate_code(who->institution_code)) {
        refuse(t, "credential_unknown",
               "a terminal's name must be 1-32 letters, digits, '_', '.' or '-'");
        return;
    }
    t->institution_id = who->institution_id;
    memcpy(t->institution_code, who->institution_code, strlen(who->institution_code) + 1);
    memcpy(t->terminal_id, who->subject, strlen(who->subject) + 1);
    t->state = TERMINAL_AWAIT_HELLO;
    frame_deadline_arm(t); /* the HELLO must come within the frame timeout */
    bufferevent_set_timeouts(t->bev, NULL, NULL);
    struct timeval idle = {t->app->cfg->lcbp_idle_timeout_s, 0};
    bufferevent_set_timeouts(t->bev, &idle, &idle);
    on_read(t->bev, t);
}

static void authenticate(struct terminal *t)
{
    SSL *ssl = bufferevent_openssl_get_ssl(t->bev);
    uint8_t fingerprint[32];
    if (ssl == NULL || tls_peer_fingerprint(ssl, fingerprint) != 0) {
        refuse(t, "no_client_certificate", "a terminal must present its client certificate");
        return;
    }
    t->state = TERMINAL_AUTHENTICATING;
    t->in_flight++; /* the lookup holds the struct like a request does */
    t->server->in_flight++;
    auth_lookup(t->app, fingerprint, on_auth, t);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct terminal *t = arg;
    if (what & BEV_EVENT_CONNECTED) {
        frame_deadline_clear(t); /* the handshake's; on_auth arms the HELLO's */
        authenticate(t);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        log_debug("lcbp: terminal %s idle; closing", t->terminal_id[0] ? t->terminal_id : "(handshake)");
    terminal_close(t);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct terminal *t = arg;
    if (t->state == TERMINAL_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            terminal_close(t);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(bev)) < OUTPUT_HIGH_WATER) {
        bufferevent_enable(bev, EV_READ);
        on_read(bev, t);
    }
}

static bool take_token(struct terminal *t)
{
    int64_t now = terminal_now_ms();
    int rate = t->app->cfg->lcbp_rate_per_s;
    t->tokens += (double)(now - t->tokens_at_ms) * rate / 1000.0;
    if (t->tokens > 2.0 * rate)
        t->tokens = 2.0 * rate;
    t->tokens_at_ms = now;
    if (t->tokens < 1.0)
        return false;
    t->tokens -= 1.0;
    return true;
}

static void hello(struct terminal *t, const struct lcbp_message *req)
{
    if (req->type != LCBP_HELLO) {
        terminal_send_error(t, req->request_id, "hello_required", "send HELLO first", true);
        return;
    }
    if (req->version_min > LCBP_VERSION || req->version_max < LCBP_VERSION) {
        terminal_send_error(t, req->request_id, "unsupported_version", "this server speaks LCBP/1", true);
        return;
    }
    struct lcbp_message *ok = &t->server->scratch;
    uint32_t request_id = req->request_id;
    lcbp_message_init(ok, LCBP_HELLO_OK, request_id);
    ok->version = LCBP_VERSION;
    ok->server_time_ms = terminal_now_ms();
    snprintf(ok->terminal_id, sizeof ok->terminal_id, "%s", t->terminal_id);
    snprintf(ok->institution, sizeof ok->institution, "%s", t->institution_code);
    ok->max_frame = LCBP_MAX_FRAME;
    ok->max_in_flight = TERMINAL_MAX_IN_FLIGHT;
    ok->offline_window_s = (uint32_t)t->app->cfg->offline_window_s;
    t->state = TERMINAL_READY;
    terminal_send(t, ok);
}

static void dispatch(struct terminal *t, const struct lcbp_message *msg)
{
    if (t->state == TERMINAL_AWAIT_HELLO) {
        hello(t, msg);
        return;
    }
    if (msg->type == LCBP_HELLO) {
        terminal_send_error(t, msg->request_id, "hello_repeated", "HELLO was already answered", true);
        return;
    }
    if (!lcbp_type_is_request(msg->type)) {
        /* SPEC.md section 8: unknown_message leaves the connection open */
        terminal_send_error(t, msg->request_id, "unknown_message", "a terminal sends requests only",
                            false);
        return;
    }
    if (!take_token(t)) {
        terminal_send_error(t, msg->request_id, "rate_limited", "too many requests; slow down", false);
        return;
    }
    t->in_flight++;
    t->server->in_flight++;
    terminal_handle(t, msg);
}

/* Cuts and answers every whole frame in the input, within the limits. */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct terminal *t = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    while (t->state == TERMINAL_AWAIT_HELLO || t->state == TERMINAL_READY) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) >= OUTPUT_HIGH_WATER) {
            bufferevent_disable(bev, EV_READ);
            return;
        }
        if (t->in_flight >= TERMINAL_MAX_IN_FLIGHT)
            return; /* terminal_request_done resumes */
        size_t have = evbuffer_get_length(input), frame_len = 0;
        uint8_t head[4];
        if (have == 0) {
            if (t->state == TERMINAL_READY)
                frame_deadline_clear(t);
            return;
        }
        ev_ssize_t copied = evbuffer_copyout(input, head, have < 4 ? have : 4);
        struct lcb_error err;
        int rc = lcbp_frame_length(head, (size_t)copied, &frame_len, &err);
        if (rc < 0) {
            terminal_send_error(t, 0, err.code, err.message, true);
            return;
        }
        /* Only the 4-byte length was shown to the codec: it knows the
         * frame's size, and the buffer says whether all of it is here. */
        if ((rc == LCBP_NEED_MORE && copied < 4) || have < frame_len) {
            frame_deadline_arm(t);
            return;
        }
        const uint8_t *frame = evbuffer_pullup(input, (ev_ssize_t)frame_len);
        struct lcbp_message *msg = &t->server->scratch;
        if (frame == NULL || lcbp_decode(frame, frame_len, msg, &err) != 0) {
            /* A frame that is malformed as a frame has no trustworthy id. */
            bool framing = frame == NULL || strcmp(err.code, "bad_frame") == 0 ||
                           strcmp(err.code, "frame_too_large") == 0;
            uint32_t request_id = framing ? 0 : msg->request_id;
            evbuffer_drain(input, frame_len);
            /* SPEC.md 7.1 rule 5: any ERROR before HELLO_OK closes. */
            terminal_send_error(t, request_id, err.code, err.message,
                                t->state == TERMINAL_AWAIT_HELLO);
            continue;
        }
        evbuffer_drain(input, frame_len);
        dispatch(t, msg);
    }
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg)
{
    (void)listener;
    (void)addr;
    (void)socklen;
    struct terminal_listener *server = arg;
    if (server->n_connections >= (unsigned)server->app->cfg->lcbp_max_connections) {
        server->app->counters.refusals++;
        log_warning("lcbp: %u connections already; refusing another", server->n_connections);
        evutil_closesocket(fd);
        return;
    }
    struct terminal *t = calloc(1, sizeof *t);
    SSL *ssl = t ? SSL_new(server->tls) : NULL;
    struct bufferevent *bev = ssl ? bufferevent_openssl_socket_new(server->app->base, fd, ssl,
                                                                   BUFFEREVENT_SSL_ACCEPTING,
                                                                   BEV_OPT_CLOSE_ON_FREE)
                                  : NULL;
    if (bev == NULL) {
        log_error("lcbp: out of memory accepting a terminal");
        if (ssl != NULL)
            SSL_free(ssl);
        free(t);
        evutil_closesocket(fd);
        return;
    }
    t->server = server;
    t->app = server->app;
    t->bev = bev;
    t->state = TERMINAL_HANDSHAKE;
    t->tokens = 2.0 * server->app->cfg->lcbp_rate_per_s;
    t->tokens_at_ms = terminal_now_ms();
    t->next = server->connections;
    if (t->next != NULL)
        t->next->prev = t;
    server->connections = t;
    server->n_connections++;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    bufferevent_setcb(bev, on_read, on_write, on_event, t);
    bufferevent_setwatermark(bev, EV_READ, 0, LCBP_MAX_FRAME);
    struct timeval handshake = {FRAME_DEADLINE_S, 0};
    bufferevent_set_timeouts(bev, &handshake, &handshake);
    /* The timeouts above restart with every byte read: a ClientHello sent
     * a byte every few seconds would hold the connection for hours. The
     * deadline does not restart (bench/hostile-test, drip_handshake). */
    frame_deadline_arm(t);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct terminal_listener *terminal_listener_new(struct app *app, SSL_CTX *tls, struct lcb_error *err)
{
    struct terminal_listener *server = calloc(1, sizeof *server);
    if (server == NULL) {
        lcb_error_set(err, "internal_error", "out of memory");
        return NULL;
    }
    server->app = app;
    server->tls = tls;
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                    .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST};
    struct evutil_addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", app->cfg->lcbp_listen_port);
    if (evutil_getaddrinfo(app->cfg->lcbp_listen_host, port, &hints, &ai) != 0 || ai == NULL) {
        lcb_error_set(err, "listen", "lcbp_listen: bad address %s", app->cfg->lcbp_listen_host);
        free(server);
        return NULL;
    }
    server->listener = evconnlistener_new_bind(app->base, on_accept, server,
                                               LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                               ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (server->listener == NULL) {
        lcb_error_set(err, "listen", "cannot listen on %s:%d for terminals",
                      app->cfg->lcbp_listen_host, app->cfg->lcbp_listen_port);
        free(server);
        return NULL;
    }
    net_no_delay(evconnlistener_get_fd(server->listener));
    log_info("listening for terminals (LCBP/1) on %s:%d", app->cfg->lcbp_listen_host,
             app->cfg->lcbp_listen_port);
    return server;
}

void terminal_listener_stop_accepting(struct terminal_listener *server)
{
    if (server->listener != NULL)
        evconnlistener_free(server->listener);
    server->listener = NULL;
}

unsigned terminal_listener_in_flight(const struct terminal_listener *server)
{
    return server->in_flight;
}

void terminal_listener_free(struct terminal_listener *server)
{
    if (server == NULL)
        return;
    terminal_listener_stop_accepting(server);
    while (server->connections != NULL)
        terminal_close(server->connections);
    free(server);
}
