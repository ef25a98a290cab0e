/* The hostile connections; see hostile_attack.h. Each is a small state
 * machine (enum conn_state) on bufferevents: connect (TLS with a terminal
 * certificate, without one, TLS 1.2, or plain TCP), maybe HELLO, then its
 * frames, each sent whole and checked against the oracle before the next,
 * or its slow bytes on a timer. A connection is freed after its callbacks
 * return, never inside them. */
#include "bench/hostile_attack.h"

#include "tools/lcbp_client.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define GRACE_S 3.0 /* how long past a limit the test waits before giving up */

enum conn_plan {
    PLAN_SESSION,   /* HELLO, open-class frames, maybe a closing or cut one */
    PLAN_PRE_HELLO, /* one frame instead of HELLO */
    PLAN_OWN,       /* plain TCP, no certificate, TLS 1.2: the connection is the frame */
    PLAN_SLOW,
};

enum conn_state {
    CS_CONNECTING,
    CS_HELLO,       /* our good HELLO sent; HELLO_OK awaited */
    CS_FRAME,       /* a hostile frame sent; its answers awaited */
    CS_AWAIT_CLOSE, /* answered (or nothing to answer): lcbd must close */
    CS_CUT,         /* half a frame being written, then we close */
    CS_SLOW,
    CS_DONE,
};

struct conn {
    struct hostile_attack *a;
    struct hostile_rng rng;
    enum conn_plan plan;
    enum conn_state state;
    struct bufferevent *bev;
    bool tls;
    struct event *timer;
    unsigned open_left;
    enum hostile_kind final; /* HOSTILE_KINDS: none */
    enum hostile_kind kind;  /* the frame (or connection) in progress */
    struct oracle expect;
    size_t answered;
    uint64_t start_ns;  /* the frame sent; the slow kinds' reference point */
    uint64_t answer_ns; /* the last ERROR */
    enum hostile_kind last_kind; /* the last frame lcbd answered here */
    bool has_last;
    bool closing; /* lcbd closed: the frames read with the close are being read */
    uint32_t hello_id;
    uint8_t drip[640];
    size_t drip_len, drip_pos;
    uint64_t next_drip_ns;
};

static struct lcbp_message answer; /* about 24 KiB: one, on the loop */

static void start_connection(struct hostile_attack *a, bool slow);
static void next_frame(struct conn *c);

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double seconds_since(uint64_t t_ns)
{
    return (double)(now_ns() - t_ns) / 1e9;
}

static void arm(struct conn *c, double seconds)
{
    struct timeval tv = {.tv_sec = (time_t)seconds};
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    evtimer_add(c->timer, &tv);
}

static bool budget_left(const struct hostile_attack *a)
{
    return a->issued < a->frames;
}

static void count_frame(struct conn *c, enum hostile_kind kind)
{
    c->a->issued++;
    c->a->stats.kinds[kind].frames++;
    c->kind = kind;
}

/* ---- the end of a connection ----------------------------------------------- */

static void free_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    free(arg);
}

static void maybe_refill(struct hostile_attack *a)
{
    while (budget_left(a) && a->fast_active < a->fast_slots)
        start_connection(a, false);
    while (budget_left(a) && a->slow_active < a->slow_slots)
        start_connection(a, true);
    if (a->fast_active == 0 && a->slow_active == 0 && !a->finished) {
        a->finished = true;
        if (a->on_done != NULL)
            a->on_done(a->arg);
    }
}

static void finish(struct conn *c)
{
    struct hostile_attack *a = c->a;
    if (c->state == CS_DONE)
        return;
    c->state = CS_DONE;
    if (c->bev != NULL)
        bufferevent_free(c->bev); /* and its SSL and socket */
    c->bev = NULL;
    event_free(c->timer);
    c->timer = NULL;
    if (c->plan == PLAN_SLOW)
        a->slow_active--;
    else
        a->fast_active--;
    struct timeval now = {0, 0};
    if (event_base_once(a->base, -1, EV_TIMEOUT, free_later, c, &now) != 0)
        abort();
    maybe_refill(a);
}

/* The frame in progress ended with its answers (and the close when closed). */
static void frame_answered(struct conn *c, bool closed, bool silent)
{
    struct hostile_kind_stats *k = &c->a->stats.kinds[c->kind];
    uint64_t t_ns = now_ns() - c->start_ns;
    /* Below LCBP (and slow), lcbd may rightly wait for its handshake or
     * frame deadline; a whole frame it answers at once. */
    enum hostile_class cls = hostile_kinds[c->kind].cls;
    double limit = cls == HC_SLOW || cls == HC_TRANSPORT ? c->a->deadline_s + c->a->slack_s
                                                         : c->a->deadline_s;
    k->errors += c->answered > 0 && c->answered == c->expect.n_answers;
    k->closes += closed;
    k->closed_silent += silent;
    post_hist_add(&k->time_us, t_ns / 1000);
    if ((double)t_ns / 1e9 > limit)
        hostile_stats_violation(&c->a->stats, c->kind, HV_LATE, "%s after %.2f s, limit %.1f s",
                                closed ? "closed" : "answered", (double)t_ns / 1e9, limit);
    c->last_kind = c->kind;
    c->has_last = true;
}

/* The test gave up waiting: the time waited goes into the kind's times
 * too, so that their maximum is never below a wait that got no answer. */
static void gave_up(struct conn *c)
{
    if (c->kind < HOSTILE_KINDS)
        post_hist_add(&c->a->stats.kinds[c->kind].time_us, (now_ns() - c->start_ns) / 1000);
}

/* ---- sending ------------------------------------------------------------------ */

/* The frame of c->kind, counted by the caller. */
static void send_frame(struct conn *c, bool ready)
{
    struct hostile_attack *a = c->a;
    size_t len = 0;
    hostile_gen_frame(&c->rng, &a->material, c->kind, ready, a->frame, sizeof a->frame, &len,
                      &c->expect);
    c->answered = 0;
    c->state = CS_FRAME;
    c->start_ns = now_ns();
    bufferevent_write(c->bev, a->frame, len);
    arm(c, a->deadline_s + GRACE_S);
}

static void send_hello(struct conn *c)
{
    uint8_t hello[64];
    c->hello_id = 1 + hostile_rng_below(&c->rng, 1000);
    size_t len = hostile_gen_hello(c->hello_id, hello, sizeof hello);
    c->state = CS_HELLO;
    bufferevent_write(c->bev, hello, len);
}

/* Half a frame, then the client closes: FIN (lcbd must close too) or RST. */
static void send_cut(struct conn *c)
{
    count_frame(c, c->final);
    c->final = HOSTILE_KINDS;
    size_t len = hostile_gen_partial(&c->rng, &c->a->material, c->drip, sizeof c->drip, 40);
    c->state = CS_CUT;
    bufferevent_write(c->bev, c->drip, 1 + hostile_rng_below(&c->rng, (uint32_t)len - 1));
}

static void drip_one(struct conn *c)
{
    if (c->drip_pos < c->drip_len)
        bufferevent_write(c->bev, c->drip + c->drip_pos++, 1);
    c->next_drip_ns = now_ns() + (1000 + hostile_rng_below(&c->rng, 2001)) * UINT64_C(1000000);
}

/* The slow kinds' bytes, from their reference point on. */
static void begin_slow(struct conn *c)
{
    struct hostile_attack *a = c->a;
    c->state = CS_SLOW;
    c->start_ns = now_ns();
    if (c->kind != HK_DRIP_HANDSHAKE) /* its ClientHello was made at the start */
        c->drip_len = c->drip_pos = 0;
    switch (c->kind) {
    case HK_DRIP_FRAME:
    case HK_HEADER_ONLY:
        c->drip_len = hostile_gen_partial(&c->rng, &a->material, c->drip, sizeof c->drip, 60);
        if (c->kind == HK_HEADER_ONLY) { /* a frame's first bytes, then nothing */
            size_t k = 1 + hostile_rng_below(&c->rng, LCBP_HEADER_LEN);
            bufferevent_write(c->bev, c->drip, k);
            c->drip_pos = c->drip_len;
        }
        break;
    case HK_DRIP_HELLO:
        c->drip_len = hostile_gen_hello(1, c->drip, sizeof c->drip);
        break;
    default: /* no_hello, silent_tcp: nothing; drip_handshake: made at connect */
        break;
    }
    drip_one(c);
    arm(c, (double)(c->next_drip_ns - now_ns()) / 1e9);
}

/* After HELLO_OK or an answered open-class frame: the session goes on. */
static void next_frame(struct conn *c)
{
    if (c->plan == PLAN_SLOW) {
        begin_slow(c);
        return;
    }
    if (!budget_left(c->a)) {
        finish(c);
        return;
    }
    if (c->open_left > 0) {
        c->open_left--;
        count_frame(c, hostile_gen_pick(&c->rng, HC_OPEN));
        send_frame(c, true);
    } else if (c->final == HK_CUT_FIN || c->final == HK_CUT_RST) {
        send_cut(c);
    } else if (c->final != HOSTILE_KINDS) {
        enum hostile_kind last = c->final;
        c->final = HOSTILE_KINDS;
        count_frame(c, last);
        send_frame(c, true);
    } else {
        finish(c); /* a polite end: nothing more to send */
    }
}

/* ---- answers ----------------------------------------------------------------------- */

static const char *last_answered(const struct conn *c)
{
    return c->has_last ? hostile_kinds[c->last_kind].name : "none";
}

static void on_error_frame(struct conn *c, const struct lcbp_message *m)
{
    struct hostile_attack *a = c->a;
    char spec[200];
    if (c->state != CS_FRAME || c->answered == c->expect.n_answers) {
        oracle_describe(&c->expect, spec, sizeof spec);
        hostile_stats_violation(&a->stats, c->kind, HV_WRONG_ANSWER,
                                "an extra ERROR %s (id %u); SPEC.md: %s", m->error_code,
                                m->request_id, spec);
        finish(c);
        return;
    }
    const struct oracle_answer *want = &c->expect.answers[c->answered];
    if (strcmp(want->code, m->error_code) != 0 || want->request_id != m->request_id) {
        oracle_describe(&c->expect, spec, sizeof spec);
        hostile_stats_violation(&a->stats, c->kind, HV_WRONG_ANSWER,
                                "ERROR %s (id %u); SPEC.md: %s", m->error_code, m->request_id,
                                spec);
    }
    c->answered++;
    c->answer_ns = now_ns();
    if (c->answered < c->expect.n_answers)
        return;
    if (c->expect.end == ORACLE_OPEN) {
        frame_answered(c, false, false);
        if (c->closing) { /* the close came right behind this ERROR */
            oracle_describe(&c->expect, spec, sizeof spec);
            hostile_stats_violation(&a->stats, c->kind, HV_CLOSED_EARLY,
                                    "lcbd closed right after its ERROR %s (SPEC.md: %s)",
                                    m->error_code, spec);
            finish(c);
            return;
        }
        next_frame(c);
        return;
    }
    c->state = CS_AWAIT_CLOSE;
    arm(c, a->close_after_error_s);
}

static void on_frame(struct conn *c, const struct lcbp_message *m)
{
    struct hostile_attack *a = c->a;
    if (c->state == CS_HELLO) {
        if (m->type != LCBP_HELLO_OK || m->request_id != c->hello_id) {
            hostile_stats_violation(&a->stats, c->kind, HV_NOT_SERVED, "HELLO answered %s %s",
                                    lcbp_type_name(m->type), m->error_code);
            finish(c);
            return;
        }
        next_frame(c);
        return;
    }
    if (c->state == CS_SLOW) { /* its frame cannot be whole before the deadline */
        hostile_stats_violation(&a->stats, c->kind, HV_LATE,
                                "%s answered %.1f s after its first byte", lcbp_type_name(m->type),
                                seconds_since(c->start_ns));
        finish(c);
        return;
    }
    if (m->type != LCBP_ERROR) {
        hostile_stats_violation(&a->stats, c->kind, HV_ACKNOWLEDGED,
                                "lcbd answered %s (id %u, status %u) to a hostile frame",
                                lcbp_type_name(m->type), m->request_id, m->status);
        finish(c);
        return;
    }
    on_error_frame(c, m);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    if (!c->tls) { /* plain sockets: lcbd may answer with a TLS alert; not LCBP */
        evbuffer_drain(input, evbuffer_get_length(input));
        return;
    }
    while (c->state != CS_DONE && c->state != CS_CONNECTING) {
        uint8_t head[4];
        size_t have = evbuffer_get_length(input), frame_len = 0;
        struct lcb_error err;
        if (have < sizeof head)
            return;
        evbuffer_copyout(input, head, sizeof head);
        int rc = lcbp_frame_length(head, have, &frame_len, &err);
        if (rc == LCBP_NEED_MORE)
            return;
        const uint8_t *frame = rc == 0 ? evbuffer_pullup(input, (ev_ssize_t)frame_len) : NULL;
        if (frame == NULL || lcbp_decode(frame, frame_len, &answer, &err) != 0) {
            hostile_stats_violation(&c->a->stats, c->kind, HV_BAD_FRAME, "%s: %s", err.code,
                                    err.message);
            finish(c);
            return;
        }
        evbuffer_drain(input, frame_len);
        on_frame(c, &answer);
    }
}

/* ---- closes, timeouts, connecting ------------------------------------------------------- */

static void on_closed(struct conn *c, const char *why)
{
    struct hostile_attack *a = c->a;
    char spec[200];
    switch (c->state) {
    case CS_CONNECTING:
        if (c->plan == PLAN_OWN) { /* refused at the handshake: its answer */
            frame_answered(c, true, false);
            break;
        }
        hostile_stats_violation(&a->stats, c->kind, HV_NOT_SERVED, "connecting failed: %s", why);
        break;
    case CS_HELLO:
        hostile_stats_violation(&a->stats, c->kind, HV_NOT_SERVED, "closed before HELLO_OK: %s",
                                why);
        break;
    case CS_FRAME:
        if (c->expect.end == ORACLE_CLOSE) { /* the ERROR may be lost to a reset */
            frame_answered(c, true, true);
            break;
        }
        /* Unanswered, the frame before it is the likelier cause: lcbd closes
         * right after an ERROR, and the close can overtake the next frame. */
        oracle_describe(&c->expect, spec, sizeof spec);
        hostile_stats_violation(&a->stats, c->answered == 0 && c->has_last ? c->last_kind : c->kind,
                                HV_CLOSED_EARLY,
                                "closed after the answer to a %s frame, and %zu answers to the "
                                "%s frame sent next (SPEC.md: %s)",
                                last_answered(c), c->answered, hostile_kinds[c->kind].name, spec);
        break;
    case CS_AWAIT_CLOSE:
    case CS_SLOW:
        frame_answered(c, true, false);
        break;
    case CS_CUT: /* lcbd closed before we did: it may, the frame is not whole */
        frame_answered(c, true, false);
        break;
    case CS_DONE:
        return;
    }
    finish(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct hostile_attack *a = c->a;
    char spec[200];
    (void)fd;
    (void)what;
    switch (c->state) {
    case CS_CONNECTING:
    case CS_HELLO:
        if (c->plan == PLAN_OWN)
            gave_up(c);
        hostile_stats_violation(&a->stats, c->kind,
                                c->plan == PLAN_OWN ? HV_NO_ANSWER : HV_NOT_SERVED,
                                "%s: nothing in %.1f s",
                                c->state == CS_HELLO ? "HELLO" : "connecting",
                                seconds_since(c->start_ns));
        break;
    case CS_FRAME:
        gave_up(c);
        oracle_describe(&c->expect, spec, sizeof spec);
        hostile_stats_violation(&a->stats, c->kind, HV_NO_ANSWER,
                                "%zu answers in %.1f s; SPEC.md: %s", c->answered,
                                seconds_since(c->start_ns), spec);
        break;
    case CS_AWAIT_CLOSE:
        gave_up(c);
        if (c->expect.n_answers > 0)
            hostile_stats_violation(&a->stats, c->kind, HV_LEFT_OPEN,
                                    "still open %.1f s after its ERROR %s",
                                    seconds_since(c->answer_ns),
                                    c->expect.answers[c->expect.n_answers - 1].code);
        else
            hostile_stats_violation(&a->stats, c->kind, HV_NO_ANSWER, "not closed in %.1f s",
                                    seconds_since(c->start_ns));
        break;
    case CS_CUT:
        hostile_stats_violation(&a->stats, c->kind, HV_NOT_SERVED, "half a frame not written");
        break;
    case CS_SLOW: {
        double waited = seconds_since(c->start_ns);
        if (waited < a->deadline_s + a->slack_s + GRACE_S) {
            if (now_ns() >= c->next_drip_ns)
                drip_one(c);
            double next = (double)(c->next_drip_ns - now_ns()) / 1e9;
            double give_up = a->deadline_s + a->slack_s + GRACE_S - waited;
            arm(c, next < give_up ? next : give_up);
            return;
        }
        gave_up(c);
        hostile_stats_violation(&a->stats, c->kind, HV_NO_ANSWER,
                                "still open %.1f s after its start (%zu of %zu bytes sent)",
                                waited, c->drip_pos, c->drip_len);
        break;
    }
    case CS_DONE:
        return;
    }
    finish(c);
}

/* The half frame is out: close our side (FIN), or drop the connection (RST). */
static void on_written(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->state != CS_CUT)
        return;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (c->kind == HK_CUT_RST) {
        struct linger reset = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        c->a->stats.kinds[c->kind].abandoned++;
        finish(c);
        return;
    }
    shutdown(fd, SHUT_WR);
    c->state = CS_AWAIT_CLOSE;
    c->expect.n_answers = 0;
    c->expect.end = ORACLE_CLOSE;
    c->start_ns = now_ns();
    arm(c, c->a->deadline_s + GRACE_S);
}

/* What a connection does once TCP (and TLS, when it has TLS) is up. */
static void on_connected(struct conn *c)
{
    struct hostile_attack *a = c->a;
    switch (c->plan) {
    case PLAN_SESSION:
        send_hello(c);
        return;
    case PLAN_PRE_HELLO:
        send_frame(c, false);
        return;
    case PLAN_OWN: { /* plain TCP: LCBP or another protocol in clear; TLS: a HELLO */
        size_t len = 0;
        uint8_t hello[64];
        if (c->kind == HK_PLAIN_TCP && hostile_rng_below(&c->rng, 2)) {
            len = hostile_gen_foreign(&c->rng, a->frame, sizeof a->frame);
            bufferevent_write(c->bev, a->frame, len);
        } else {
            len = hostile_gen_hello(1, hello, sizeof hello);
            bufferevent_write(c->bev, hello, len);
        }
        c->state = CS_AWAIT_CLOSE;
        c->expect.n_answers = 0;
        c->expect.end = ORACLE_CLOSE;
        arm(c, a->deadline_s + GRACE_S);
        return;
    }
    case PLAN_SLOW:
        if (c->kind == HK_DRIP_FRAME || c->kind == HK_HEADER_ONLY)
            send_hello(c);
        else
            begin_slow(c);
        return;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        on_connected(c);
        return;
    }
    /* The frames that arrived with the close come first: they may be the
     * answers the close follows. */
    c->closing = true;
    if (c->tls && c->state != CS_CONNECTING)
        on_read(bev, c);
    if (c->state == CS_DONE)
        return;
    char why[160] = "closed";
    unsigned long ssl_error = c->tls ? bufferevent_get_openssl_error(bev) : 0;
    if (ssl_error != 0)
        ERR_error_string_n(ssl_error, why, sizeof why);
    else if (what & BEV_EVENT_ERROR)
        snprintf(why, sizeof why, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    ERR_clear_error();
    on_closed(c, why);
}

/* ---- starting a connection ---------------------------------------------------------------- */

/* A raw ClientHello, made with memory BIOs, for drip_handshake. */
static size_t client_hello(SSL_CTX *ctx, uint8_t *out, size_t cap)
{
    SSL *ssl = SSL_new(ctx);
    BIO *in = BIO_new(BIO_s_mem()), *sent = BIO_new(BIO_s_mem());
    int n = 0;
    if (ssl != NULL && in != NULL && sent != NULL) {
        SSL_set_bio(ssl, in, sent);
        in = sent = NULL; /* the SSL owns them */
        SSL_set_connect_state(ssl);
        (void)SSL_do_handshake(ssl); /* stops wanting the server's answer */
        n = BIO_read(SSL_get_wbio(ssl), out, (int)cap);
    }
    BIO_free(in);
    BIO_free(sent);
    SSL_free(ssl);
    ERR_clear_error();
    return n > 0 ? (size_t)n : 0;
}

static void plan(struct conn *c, bool slow)
{
    struct hostile_attack *a = c->a;
    c->final = HOSTILE_KINDS;
    if (slow) {
        c->plan = PLAN_SLOW;
        count_frame(c, hostile_gen_pick(&c->rng, HC_SLOW));
        return;
    }
    unsigned r = hostile_rng_below(&c->rng, 100);
    if (r < 20) {
        c->plan = PLAN_PRE_HELLO;
        /* counted now, as the slow and transport kinds: a frame counted
         * only at connect could overshoot the budget other connections
         * took meanwhile */
        count_frame(c, hostile_gen_pick(&c->rng, HC_PRE_HELLO));
        return;
    }
    c->plan = PLAN_SESSION;
    c->kind = HOSTILE_KINDS; /* until its first frame */
    c->open_left = hostile_rng_below(&c->rng, 2 * a->open_per_conn + 1);
    if (r < 32) {
        enum hostile_kind k = hostile_gen_pick(&c->rng, HC_TRANSPORT);
        if (k == HK_CUT_FIN || k == HK_CUT_RST) {
            c->final = k;
        } else {
            c->plan = PLAN_OWN;
            count_frame(c, k);
        }
    } else if (hostile_rng_below(&c->rng, 100) < 80) {
        c->final = hostile_gen_pick(&c->rng, HC_CLOSING);
    }
}

static SSL_CTX *context_of(struct conn *c, uint64_t serial)
{
    struct hostile_attack *a = c->a;
    if (c->kind == HK_PLAIN_TCP || c->kind == HK_SILENT_TCP || c->kind == HK_DRIP_HANDSHAKE)
        return NULL;
    if (c->plan == PLAN_OWN)
        return c->kind == HK_NO_CERT ? a->no_cert_ctx : a->tls12_ctx;
    return a->terminal_ctxs[serial % a->n_terminal_ctxs];
}

static int open_socket(struct conn *c, SSL_CTX *ctx)
{
    struct hostile_attack *a = c->a;
    c->tls = ctx != NULL;
    if (c->tls) {
        SSL *ssl = SSL_new(ctx);
        if (ssl == NULL || lcbp_client_expect_server(ssl, a->server_name) != 0) {
            SSL_free(ssl);
            return -1;
        }
        c->bev = bufferevent_openssl_socket_new(a->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL) {
            SSL_free(ssl);
            return -1;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(a->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL)
            return -1;
    }
    bufferevent_setcb(c->bev, on_read, on_written, on_event, c);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0 ||
        bufferevent_socket_connect(c->bev, (struct sockaddr *)&a->addr, a->addr_len) != 0)
        return -1;
    return 0;
}

static void start_connection(struct hostile_attack *a, bool slow)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    uint64_t serial = a->next_serial++;
    c->a = a;
    hostile_rng_seed(&c->rng, a->seed, serial);
    plan(c, slow);
    if (slow)
        a->slow_active++;
    else
        a->fast_active++;
    a->stats.connections++;
    c->state = CS_CONNECTING;
    c->start_ns = now_ns();
    c->timer = evtimer_new(a->base, on_timer, c);
    if (c->timer == NULL)
        abort();
    if (c->kind == HK_DRIP_HANDSHAKE)
        c->drip_len = client_hello(a->terminal_ctxs[0], c->drip, sizeof c->drip);
    arm(c, a->deadline_s + GRACE_S);
    if (open_socket(c, context_of(c, serial)) != 0) {
        hostile_stats_violation(&a->stats, c->kind, HV_NOT_SERVED,
                                "cannot open a connection: %s",
                                evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        a->frames = a->issued; /* out of sockets or memory: the attack ends here */
        finish(c);
    }
}

void hostile_attack_start(struct hostile_attack *a)
{
    maybe_refill(a);
}
