/* The connections of lcb-term's load and idle modes: a few TLS handshakes
 * at a time (so lcbd's accept queue never overflows into SYN retries that
 * would distort the figures), HELLO, then the run's phases, and the
 * report. Every connection is a small state machine (enum load_conn_state)
 * driven by bufferevent callbacks; a failed one is counted, never retried. */
#include "tools/lcb_term_load.h"
#include "lib/tls_write.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_HOLD_DEFAULT_S 10.0
#define WIND_DOWN_S 15 /* for closing the check-ins still open at the end */

static void start_run(struct load *l);

static struct timeval timeval_of(double seconds)
{
    struct timeval tv = {.tv_sec = (time_t)seconds};

    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    return tv;
}

static void maybe_finish_wind_down(struct load *l)
{
    for (size_t i = 0; i < l->n_conns; i++)
        if (l->conns[i].state != CONN_DONE && l->conns[i].state != CONN_WAITING)
            return;
    event_base_loopexit(l->base, NULL);
}

/* Setup is over when every connection got through or failed. */
static void maybe_start(struct load *l)
{
    if (l->phase != PHASE_SETUP || l->ready + l->failed < l->n_conns)
        return;
    if (l->ready == 0) {
        event_base_loopexit(l->base, NULL);
        return;
    }
    start_run(l);
}

void load_conn_close(struct load_conn *c, const char *error_code)
{
    struct load *l = c->load;
    enum load_conn_state was = c->state;

    if (c->tick != NULL)
        event_free(c->tick);
    c->tick = NULL;
    if (c->bev != NULL)
        bufferevent_free(c->bev); /* frees the SSL too (BEV_OPT_CLOSE_ON_FREE) */
    c->bev = NULL;
    c->state = CONN_DONE;
    if (error_code == NULL) /* load_free, or an orderly end */
        return;
    load_count_error(l, error_code);
    if (was == CONN_CONNECTING || was == CONN_HELLO) {
        l->failed++;
        l->connecting--;
        load_connect_more(l);
        maybe_start(l);
    } else if (was == CONN_READY && l->phase == PHASE_RUN) {
        l->unanswered += c->in_flight;
        l->closed_early++;
    } else if (was == CONN_READY) {
        maybe_finish_wind_down(l);
    }
}

static void send_hello(struct load_conn *c)
{
    struct load *l = c->load;
    struct lcb_error err;
    size_t len;

    lcbp_message_init(&l->msg, LCBP_HELLO, c->next_id++);
    l->msg.version_min = LCBP_VERSION;
    l->msg.version_max = LCBP_VERSION;
    snprintf(l->msg.software, sizeof l->msg.software, "%s", LCB_TERM_SOFTWARE);
    if (lcbp_encode(&l->msg, l->frame, sizeof l->frame, &len, &err) != 0 ||
        tls_write_now(c->bev, l->frame, len) != 0) {
        load_conn_close(c, "send_failed");
        return;
    }
    c->state = CONN_HELLO;
}

/* Closed loop: tops c up to --in-flight requests (fewer if lcbd allows
 * fewer, or no card or outcome pair is free). */
static void fill_window(struct load *l, struct load_conn *c)
{
    while (c->in_flight < (unsigned)l->o->in_flight && load_send_request(l, c, false))
        ;
}

/* What the connection does after an answer, by phase. */
static void next_step(struct load *l, struct load_conn *c)
{
    if (l->phase == PHASE_RUN && l->o->closed_loop && !l->idle) {
        fill_window(l, c);
    } else if (l->phase == PHASE_WIND_DOWN) {
        while (load_send_request(l, c, true))
            ;
        if (c->in_flight == 0) {
            load_conn_close(c, NULL);
            maybe_finish_wind_down(l);
        }
    }
}

static void on_frame(struct load_conn *c, const struct lcbp_message *m)
{
    struct load *l = c->load;

    if (c->state == CONN_HELLO) {
        if (m->type != LCBP_HELLO_OK) {
            load_conn_close(c, m->type == LCBP_ERROR ? m->error_code : "bad_answer");
            return;
        }
        c->max_in_flight = m->max_in_flight < LOAD_MAX_SLOTS ? m->max_in_flight : LOAD_MAX_SLOTS;
        c->state = CONN_READY;
        /* from now on the deadline, not a read timeout, ends the wait */
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        l->ready++;
        l->connecting--;
        load_connect_more(l);
        maybe_start(l);
        return;
    }
    if (m->type == LCBP_ERROR && m->request_id == 0) { /* lcbd closes after these */
        load_conn_close(c, m->error_code);
        return;
    }
    load_answer(l, c, m);
    next_step(l, c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct load_conn *c = arg;
    struct load *l = c->load;
    struct evbuffer *input = bufferevent_get_input(bev);
    struct lcb_error err;

    while (c->state == CONN_HELLO || c->state == CONN_READY) {
        uint8_t head[4];
        size_t have = evbuffer_get_length(input), frame_len;
        int rc;

        if (have < sizeof head || evbuffer_copyout(input, head, sizeof head) != sizeof head)
            return;
        /* lcbp_frame_length reads only the 4-byte prefix; have says how
         * much of the frame has arrived. */
        rc = lcbp_frame_length(head, have, &frame_len, &err);
        if (rc == LCBP_NEED_MORE)
            return;
        if (rc != 0 || evbuffer_remove(input, l->frame, frame_len) != (int)frame_len ||
            lcbp_decode(l->frame, frame_len, &l->msg, &err) != 0) {
            load_conn_close(c, "bad_answer");
            return;
        }
        on_frame(c, &l->msg);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct load_conn *c = arg;
    unsigned long ssl_error;

    if (what & BEV_EVENT_CONNECTED) {
        send_hello(c);
        return;
    }
    ssl_error = bufferevent_get_openssl_error(bev);
    if (c->state == CONN_CONNECTING) {
        if (c->load->failed == 0 && ssl_error != 0) { /* say once why */
            char text[200];
            ERR_error_string_n(ssl_error, text, sizeof text);
            fprintf(stderr, "lcb-term: TLS handshake failed: %s\n", text);
        }
        load_conn_close(c, ssl_error != 0             ? "tls_failed"
                           : what & BEV_EVENT_TIMEOUT ? "timeout"
                                                      : "connect_failed");
    } else {
        load_conn_close(c, what & BEV_EVENT_TIMEOUT ? "timeout" : "closed");
    }
    ERR_clear_error();
}

static int start_conn(struct load *l, struct load_conn *c)
{
    SSL *ssl = SSL_new(l->ctxs[c->index % l->n_ctxs]);
    struct timeval timeout = timeval_of(l->o->timeout_ms / 1000.0);

    if (ssl == NULL || lcbp_client_expect_server(ssl, l->server_name) != 0) {
        SSL_free(ssl);
        return -1;
    }
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS); /* idle: thousands of connections */
    c->bev = bufferevent_openssl_socket_new(l->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        SSL_free(ssl);
        return -1;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    c->state = CONN_CONNECTING;
    l->connecting++;
    if (bufferevent_set_timeouts(c->bev, &timeout, &timeout) != 0 ||
        bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0 ||
        bufferevent_socket_connect(c->bev, (struct sockaddr *)&l->addr, l->addr_len) != 0)
        return -1;
    return 0;
}

void load_connect_more(struct load *l)
{
    while (l->phase == PHASE_SETUP && l->connecting < (size_t)l->o->max_connecting &&
           l->next_to_connect < l->n_conns) {
        struct load_conn *c = &l->conns[l->next_to_connect++];

        if (start_conn(l, c) != 0) {
            if (c->state == CONN_WAITING) { /* never counted as connecting */
                c->state = CONN_CONNECTING;
                l->connecting++;
            }
            load_conn_close(c, "connect_failed");
            return; /* load_conn_close called us again */
        }
    }
}

/* ---- phases ------------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct load_conn *c = arg;
    struct load *l = c->load;
    double interval_ns = 1e9 * (double)l->ready / l->o->rate_per_s;
    uint64_t now = load_now_ns();
    struct timeval delay;

    (void)fd;
    (void)what;
    if (l->phase != PHASE_RUN || c->state != CONN_READY)
        return;
    if (!load_send_request(l, c, false))
        load_count_error(l, "client_busy"); /* every slot or card busy: the rate is too high */
    c->next_due_ns += (uint64_t)interval_ns;
    delay = timeval_of(c->next_due_ns > now ? (double)(c->next_due_ns - now) / 1e9 : 0);
    if (evtimer_add(c->tick, &delay) != 0)
        load_conn_close(c, "timer_failed");
}

/* --rate: terminal i first sends at i/ready of one interval, so the total
 * arrives evenly, not in bursts of N. */
static void start_ticks(struct load *l)
{
    double interval_s = (double)l->ready / l->o->rate_per_s;
    size_t k = 0;

    for (size_t i = 0; i < l->n_conns; i++) {
        struct load_conn *c = &l->conns[i];
        struct timeval first;

        if (c->state != CONN_READY)
            continue;
        first = timeval_of(interval_s * (double)k / (double)l->ready);
        c->next_due_ns = l->run_start_ns + (uint64_t)(interval_s * 1e9 * (double)k / l->ready);
        k++;
        c->tick = evtimer_new(l->base, on_tick, c);
        if (c->tick == NULL || evtimer_add(c->tick, &first) != 0)
            load_conn_close(c, "timer_failed");
    }
}

static void start_run(struct load *l)
{
    struct timeval length = timeval_of(
        l->idle ? (l->o->hold_s > 0 ? l->o->hold_s : IDLE_HOLD_DEFAULT_S) : l->o->duration_s);

    l->phase = PHASE_RUN;
    l->run_start_ns = load_now_ns();
    if (evtimer_add(l->deadline, &length) != 0) {
        fprintf(stderr, "lcb-term: cannot arm the deadline\n");
        event_base_loopexit(l->base, NULL);
        return;
    }
    if (l->idle)
        return;
    if (!l->o->closed_loop) {
        start_ticks(l);
        return;
    }
    for (size_t i = 0; i < l->n_conns; i++)
        if (l->conns[i].state == CONN_READY)
            fill_window(l, &l->conns[i]);
}

void load_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct load *l = arg;
    struct timeval wind_down = {.tv_sec = WIND_DOWN_S};

    (void)fd;
    (void)what;
    if (l->phase != PHASE_RUN || l->idle) {
        if (l->idle) {
            l->run_end_ns = load_now_ns();
            if (l->o->lcbd_pid > 0)
                l->rss_after_kb = load_rss_kb(l->o->lcbd_pid);
        }
        event_base_loopexit(l->base, NULL); /* idle's end, or wind-down took too long */
        return;
    }
    l->run_end_ns = load_now_ns();
    l->phase = PHASE_WIND_DOWN;
    for (size_t i = 0; i < l->n_conns; i++)
        l->unanswered += l->conns[i].state == CONN_READY ? l->conns[i].in_flight : 0;
    if (evtimer_add(l->deadline, &wind_down) != 0)
        event_base_loopexit(l->base, NULL);
    for (size_t i = 0; i < l->n_conns; i++)
        if (l->conns[i].state == CONN_READY)
            next_step(l, &l->conns[i]);
    maybe_finish_wind_down(l);
}

/* ---- the report ------------------------------------------------------------
 */

long load_rss_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static json_t *errors_json(const struct load *l)
{
    json_t *errors = json_object();

    for (size_t i = 0; errors != NULL && i < l->n_errors; i++)
        json_object_set_new(errors, l->errors[i].code,
                            json_integer((json_int_t)l->errors[i].count));
    return errors;
}

static void print_errors(const struct load *l)
{
    if (l->n_errors == 0)
        return;
    printf("  errors    ");
    for (size_t i = 0; i < l->n_errors; i++)
        printf(" %s %llu", l->errors[i].code, (unsigned long long)l->errors[i].count);
    printf("\n");
}

static int report_idle(const struct load *l)
{
    size_t held = l->ready - l->closed_early;
    double setup_s = (double)(l->run_start_ns - l->setup_start_ns) / 1e9;
    double per_conn_kb = held > 0 && l->rss_before_kb >= 0 && l->rss_after_kb >= 0
                             ? (double)(l->rss_after_kb - l->rss_before_kb) / (double)held
                             : -1;

    if (l->o->json) {
        json_t *doc = json_pack(
            "{s:s,s:i,s:I,s:I,s:I,s:f,s:f,s:I,s:I,s:f,s:o}", "mode", "idle", "terminals",
            l->o->terminals, "held", (json_int_t)held, "failed", (json_int_t)l->failed,
            "closed_by_lcbd", (json_int_t)l->closed_early, "setup_s", setup_s, "hold_s",
            (double)(l->run_end_ns - l->run_start_ns) / 1e9, "lcbd_rss_before_kb",
            (json_int_t)l->rss_before_kb, "lcbd_rss_after_kb", (json_int_t)l->rss_after_kb,
            "lcbd_kb_per_connection", per_conn_kb, "errors", errors_json(l));
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("\n");
        json_decref(doc);
    } else {
        printf("idle: %d terminals asked, %zu held for %.1f s (%zu failed, %zu "
               "closed by lcbd); "
               "set up in %.1f s\n",
               l->o->terminals, held, (double)(l->run_end_ns - l->run_start_ns) / 1e9, l->failed,
               l->closed_early, setup_s);
        if (per_conn_kb >= 0)
            printf("  lcbd RSS %.1f MiB before, %.1f MiB holding them: %.1f KiB per "
                   "connection\n",
                   l->rss_before_kb / 1024.0, l->rss_after_kb / 1024.0, per_conn_kb);
        print_errors(l);
    }
    return held == (size_t)l->o->terminals ? TERM_EXIT_OK : TERM_EXIT_REFUSED;
}

int load_report(struct load *l)
{
    double seconds = (double)(l->run_end_ns - l->run_start_ns) / 1e9;
    double ms[4] = {term_hist_quantile(&l->hist, 0.50) / 1e3,
                    term_hist_quantile(&l->hist, 0.99) / 1e3,
                    term_hist_quantile(&l->hist, 0.999) / 1e3, l->hist.max_us / 1e3};
    double mean_ms = l->hist.total ? l->hist.sum_us / (double)l->hist.total / 1e3 : 0;
    double rate = seconds > 0 ? (double)l->ok / seconds : 0;
    double postings_rate = seconds > 0 ? (double)l->postings / seconds : 0;
    const char *op = l->o->op == TERM_OP_TAP       ? "tap"
                     : l->o->op == TERM_OP_BALANCE ? "balance"
                     : l->o->op == TERM_OP_OUTCOME ? "outcome"
                                                   : "ping";
    uint64_t errors = 0;

    if (l->idle)
        return report_idle(l);
    if (l->run_end_ns == 0) {
        fprintf(stderr, "lcb-term: no terminal got through the handshake and HELLO\n");
        print_errors(l);
        return TERM_EXIT_FAILED;
    }
    for (size_t i = 0; i < l->n_errors; i++)
        errors += l->errors[i].count;
    if (l->o->json) {
        json_t *doc = json_pack(
            "{s:s,s:s,s:i,s:I,s:s,s:f,s:f,s:I,s:I,s:I,s:f,s:{s:f,s:f,s:f,s:f,s:f},"
            "s:I,s:I,s:f,s:i,s:o}",
            "mode", "load", "op", op, "terminals", l->o->terminals, "connected",
            (json_int_t)l->ready, "drive", l->o->closed_loop ? "closed-loop" : "rate", "rate_per_s",
            l->o->rate_per_s, "duration_s", seconds, "ok", (json_int_t)l->ok, "unanswered",
            (json_int_t)l->unanswered, "closed_by_lcbd", (json_int_t)l->closed_early,
            "throughput_per_s", rate, "latency_ms", "p50", ms[0], "p99", ms[1], "p99.9", ms[2],
            "max", ms[3], "mean", mean_ms, "postings", (json_int_t)l->postings, "duplicates",
            (json_int_t)l->duplicates, "postings_per_s", postings_rate, "in_flight_peak",
            (int)l->in_flight_peak, "errors", errors_json(l));
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("\n");
        json_decref(doc);
    } else {
        printf("load: %zu of %d terminals, %s, op %s, %.1f s\n", l->ready, l->o->terminals,
               l->o->closed_loop ? "closed loop" : "fixed rate", op, seconds);
        printf("  answered   %llu ok, %llu errors, %llu unanswered at the end, %zu "
               "closed "
               "by lcbd\n",
               (unsigned long long)l->ok, (unsigned long long)errors,
               (unsigned long long)l->unanswered, l->closed_early);
        printf("  throughput %.1f ok/s, at most %u in flight on a connection\n", rate,
               l->in_flight_peak);
        if (l->o->op == TERM_OP_TAP || l->o->op == TERM_OP_OUTCOME)
            printf("  postings   %llu applied (%.1f/s), %llu duplicate answers\n",
                   (unsigned long long)l->postings, postings_rate,
                   (unsigned long long)l->duplicates);
        printf("  latency    p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms  "
               "mean %.2f ms\n",
               ms[0], ms[1], ms[2], ms[3], mean_ms);
        print_errors(l);
    }
    return l->ok > 0 ? TERM_EXIT_OK : TERM_EXIT_REFUSED;
}
