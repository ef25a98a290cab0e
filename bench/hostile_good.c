/* Well-behaved terminals; see hostile_good.h. Each thread owns its
 * connection, its cards' state and its figures; the phase is the only
 * thing shared while they run. A tap's terminal time follows a day of
 * classes per card (check-in, ten minutes later check-out, a minute later
 * the next check-in) from 6.5 days back, so every tap lies inside the
 * offline window and none in the future for about 1,700 taps per card. */
#include "bench/hostile_good.h"

#include "tools/lcbp_client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CARD_CLOCK_BACK_MS (13LL * 12 * 3600 * 1000)
#define CARD_STEP_IN_OUT_MS (10LL * 60 * 1000)
#define CARD_STEP_OUT_IN_MS (1LL * 60 * 1000)
#define CONNECT_TIMEOUT_MS 30000

struct card_state {
    const char *number;
    bool checked_in;
    int64_t clock_ms;
};

struct terminal {
    struct hostile_good *g;
    pthread_t thread;
    const char *cert;
    struct lcbp_client *client;
    struct card_state cards[GOOD_MAX_CARDS];
    size_t n_cards, card_at;
    unsigned step; /* tap in, tap out, balance, ping; then the next card */
    uint64_t next_sequence;
    struct hostile_good_figures figures;
    struct lcbp_message request, response;
};

struct hostile_good {
    const struct hostile_good_opts *o;
    atomic_int phase;   /* enum hostile_good_phase */
    atomic_bool stop;
    atomic_int ready;   /* terminals past their first HELLO, or failed */
    atomic_int failed;
    size_t n_started; /* threads to join */
    struct terminal terminals[GOOD_MAX_TERMINALS];
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note_error(struct terminal *t, int phase, const char *what, const struct lcb_error *e)
{
    t->figures.errors[phase]++;
    if (t->figures.first_error[0] == '\0')
        snprintf(t->figures.first_error, sizeof t->figures.first_error,
                 "%.60s: %.12s: %.32s: %.120s", t->cert, what, e->code, e->message);
}

static int connect_terminal(struct terminal *t)
{
    char crt[1024], key[1024];
    struct lcb_error err;
    snprintf(crt, sizeof crt, "%s.crt", t->cert);
    snprintf(key, sizeof key, "%s.key", t->cert);
    struct lcbp_client_options opt = {.addr = t->g->o->addr, .ca_file = t->g->o->ca,
                                      .cert_file = crt, .key_file = key,
                                      .timeout_ms = CONNECT_TIMEOUT_MS};
    int phase = atomic_load(&t->g->phase);
    uint64_t started = mono_us();
    lcbp_client_close(t->client);
    t->client = lcbp_client_connect(&opt, &err);
    if (t->client == NULL || lcbp_client_hello(t->client, "lcb-hostile-good/1", &t->response,
                                               &err) != 0) {
        note_error(t, phase, "connect", &err);
        lcbp_client_close(t->client);
        t->client = NULL;
        return -1;
    }
    post_hist_add(&t->figures.connect_us, mono_us() - started);
    return 0;
}

/* The next request of the round: tap in, tap out, balance, ping, for each
 * card. */
static struct card_state *next_request(struct terminal *t)
{
    struct card_state *card = &t->cards[t->card_at];
    struct lcbp_message *m = &t->request;
    if (t->step == 3) {
        lcbp_message_init(m, LCBP_PING, lcbp_client_next_id(t->client));
        return card;
    }
    if (t->step == 2) {
        lcbp_message_init(m, LCBP_BALANCE, lcbp_client_next_id(t->client));
        snprintf(m->card, sizeof m->card, "%s", card->number);
        return card;
    }
    lcbp_message_init(m, LCBP_TAP, lcbp_client_next_id(t->client));
    snprintf(m->card, sizeof m->card, "%s", card->number);
    snprintf(m->session, sizeof m->session, "%s", t->g->o->session);
    m->direction = card->checked_in ? LCBP_OUT : LCBP_IN;
    m->terminal_time_ms = card->clock_ms;
    m->sequence = t->next_sequence++;
    return card;
}

static void settle(struct terminal *t, struct card_state *card, int phase)
{
    const struct lcbp_message *r = &t->response;
    struct lcb_error err;
    if (lcbp_client_refusal(r, &err) != 0) {
        note_error(t, phase, lcbp_type_name(t->request.type), &err);
        return;
    }
    if (r->type != LCBP_TAP_OK)
        return;
    bool applied = r->status == LCBP_STATUS_APPLIED;
    t->figures.taps_applied += applied;
    t->figures.checkouts += applied && card->checked_in;
    card->clock_ms += card->checked_in ? CARD_STEP_IN_OUT_MS : CARD_STEP_OUT_IN_MS;
    card->checked_in = !card->checked_in;
    t->figures.deposits += applied && r->credits_centi > 0;
}

static void one_request(struct terminal *t)
{
    struct lcb_error err;
    int phase = atomic_load(&t->g->phase);
    struct card_state *card = next_request(t);
    uint64_t sent = mono_us();
    int rc = lcbp_client_call(t->client, &t->request, &t->response, &err);
    t->figures.requests[phase]++;
    if (rc != 0) {
        note_error(t, phase, "request", &err);
        lcbp_client_close(t->client); /* a new connection for the next one */
        t->client = NULL;
        return;
    }
    uint64_t took = mono_us() - sent;
    post_hist_add(&t->figures.latency_us[phase], took);
    if (phase == GOOD_ATTACK)
        post_hist_add(&t->figures.attack_us[t->step < 2 ? GOOD_TAP : t->step - 1], took);
    settle(t, card, phase);
    if (++t->step == 4) {
        t->step = 0;
        t->card_at = (t->card_at + 1) % t->n_cards;
    }
}

static void sleep_until(uint64_t due_us)
{
    uint64_t now = mono_us();
    if (due_us <= now)
        return;
    struct timespec ts = {.tv_sec = (time_t)((due_us - now) / 1000000u),
                          .tv_nsec = (long)((due_us - now) % 1000000u) * 1000};
    nanosleep(&ts, NULL);
}

static void *terminal_main(void *arg)
{
    struct terminal *t = arg;
    struct hostile_good *g = t->g;
    int ok = connect_terminal(t);
    atomic_fetch_add(&g->failed, ok != 0);
    atomic_fetch_add(&g->ready, 1);
    uint64_t due = mono_us(), sent = 0;
    while (ok == 0 && !atomic_load(&g->stop)) {
        if (t->client == NULL || (sent > 0 && sent % g->o->reconnect_every == 0)) {
            if (connect_terminal(t) != 0) {
                due += 1000000; /* once a second, while lcbd refuses */
                sleep_until(due);
                continue;
            }
        }
        one_request(t);
        sent++;
        due += (uint64_t)g->o->interval_ms * 1000u;
        uint64_t now = mono_us();
        due = due < now ? now : due; /* late: no burst to catch up */
        sleep_until(due);
    }
    lcbp_client_close(t->client);
    t->client = NULL;
    return NULL;
}

struct hostile_good *hostile_good_start(const struct hostile_good_opts *o, struct lcb_error *err)
{
    if (o->n_terminals == 0 || o->n_terminals > GOOD_MAX_TERMINALS || o->n_cards < o->n_terminals) {
        lcb_error_set(err, "usage", "1-%d good terminals with a card each, at least",
                      GOOD_MAX_TERMINALS);
        return NULL;
    }
    struct hostile_good *g = calloc(1, sizeof *g);
    if (g == NULL) {
        lcb_error_set(err, "io_failed", "out of memory");
        return NULL;
    }
    g->o = o;
    atomic_init(&g->phase, GOOD_BEFORE);
    int64_t start_ms = wall_ms() - CARD_CLOCK_BACK_MS;
    size_t started = 0;
    for (size_t i = 0; i < o->n_terminals; i++) {
        struct terminal *t = &g->terminals[i];
        t->g = g;
        t->cert = o->certs[i];
        t->next_sequence = 1;
        for (size_t c = i; c < o->n_cards; c += o->n_terminals) {
            t->cards[t->n_cards].number = o->cards[c];
            t->cards[t->n_cards++].clock_ms = start_ms;
        }
        if (pthread_create(&t->thread, NULL, terminal_main, t) != 0)
            break;
        g->n_started = ++started;
    }
    while (atomic_load(&g->ready) < (int)started) {
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    if (started == o->n_terminals && atomic_load(&g->failed) == 0)
        return g;
    struct hostile_good_figures figures;
    hostile_good_stop(g, &figures);
    lcb_error_set(err, "connect_failed", "a good terminal could not connect: %s",
                  figures.first_error[0] ? figures.first_error : "no thread");
    return NULL;
}

void hostile_good_phase(struct hostile_good *g, enum hostile_good_phase phase)
{
    atomic_store(&g->phase, (int)phase);
}

void hostile_good_stop(struct hostile_good *g, struct hostile_good_figures *out)
{
    memset(out, 0, sizeof *out);
    atomic_store(&g->stop, true);
    for (size_t i = 0; i < g->n_started; i++) {
        struct terminal *t = &g->terminals[i];
        if (pthread_join(t->thread, NULL) != 0)
            continue;
        for (int p = 0; p < GOOD_PHASES; p++) {
            post_hist_merge(&out->latency_us[p], &t->figures.latency_us[p]);
            out->requests[p] += t->figures.requests[p];
            out->errors[p] += t->figures.errors[p];
        }
        for (int op = 0; op < GOOD_OPS; op++)
            post_hist_merge(&out->attack_us[op], &t->figures.attack_us[op]);
        post_hist_merge(&out->connect_us, &t->figures.connect_us);
        out->taps_applied += t->figures.taps_applied;
        out->checkouts += t->figures.checkouts;
        out->deposits += t->figures.deposits;
        if (out->first_error[0] == '\0')
            memcpy(out->first_error, t->figures.first_error, sizeof out->first_error);
    }
    free(g);
}
