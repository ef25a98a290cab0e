/* lcb-term load and idle: N terminal connections on one libevent loop
 * (bufferevent_openssl), each with its own state, cards and sequence
 * numbers. load drives requests (closed loop or a fixed total rate) and
 * reports throughput, latency percentiles (CLOCK_MONOTONIC) and errors by
 * code; idle only says HELLO and holds the connections, to count them and
 * weigh lcbd's memory. Nothing here blocks the loop after setup. */
#include "tools/lcb_term_load.h"
#include "lib/tls_write.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* A tap's terminal time advances per card like a real day of classes:
 * check-in, 30 minutes later check-out, 5 minutes later the next check-in,
 * starting 6.5 days back so that every tap stays inside the offline window
 * (7 days by default) and none lies in the future. */
#define CARD_CLOCK_BACK_MS (13LL * 12 * 3600 * 1000)
#define CARD_STEP_IN_OUT_MS (30LL * 60 * 1000)
#define CARD_STEP_OUT_IN_MS (5LL * 60 * 1000)

uint64_t load_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void load_count_error(struct load *l, const char *code)
{
    size_t i;

    for (i = 0; i < l->n_errors; i++)
        if (strcmp(l->errors[i].code, code) == 0)
            break;
    if (i == l->n_errors) {
        if (l->n_errors == LOAD_MAX_ERROR_CODES)
            i--; /* lump the rarest newcomers into the last slot */
        else
            snprintf(l->errors[l->n_errors++].code, sizeof l->errors[0].code, "%s", code);
    }
    l->errors[i].count++;
}

/* ---- the terminals' cards --------------------------------------------- */

static int read_cards(struct load *l, struct lcb_error *err)
{
    FILE *f = fopen(l->o->cards_file, "r");
    char line[128];
    int64_t start = term_now_ms() - CARD_CLOCK_BACK_MS;

    if (f == NULL)
        return lcb_error_set(err, "io_failed", "cannot open %s", l->o->cards_file);
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (strlen(line) != LCBP_CARD_LEN)
            continue;
        if (l->n_cards % 256 == 0) {
            struct load_card *more = realloc(l->cards, (l->n_cards + 256) * sizeof *more);

            if (more == NULL) {
                fclose(f);
                return lcb_error_set(err, "io_failed", "out of memory");
            }
            l->cards = more;
        }
        memset(&l->cards[l->n_cards], 0, sizeof l->cards[0]);
        memcpy(l->cards[l->n_cards].number, line, LCBP_CARD_LEN + 1);
        l->cards[l->n_cards].clock_ms = start;
        l->n_cards++;
    }
    fclose(f);
    if (l->n_cards == 0)
        return lcb_error_set(err, "bad_file", "%s holds no 19-digit card numbers",
                             l->o->cards_file);
    return 0;
}

/* Terminal i owns cards i, i+N, i+2N, ...; with fewer cards than terminals
 * they share, and taps collide (already_checked_in): said at the start. */
size_t load_card_owned(const struct load *l, const struct load_conn *c, size_t k)
{
    if (l->n_cards < l->n_conns)
        return c->index % l->n_cards;
    return c->index + k * l->n_conns;
}

size_t load_cards_owned(const struct load *l, const struct load_conn *c)
{
    if (l->n_cards < l->n_conns)
        return 1;
    return (l->n_cards - c->index + l->n_conns - 1) / l->n_conns;
}

/* A card of c's that has no tap in flight, or -1. While winding down, only
 * a card still checked in. */
static long pick_card(struct load *l, struct load_conn *c, bool wind_down)
{
    size_t n = load_cards_owned(l, c);

    for (size_t tries = 0; tries < n; tries++) {
        size_t i = load_card_owned(l, c, c->card_cursor++ % n);

        if (!l->cards[i].busy && (!wind_down || l->cards[i].checked_in))
            return (long)i;
    }
    return -1;
}

/* ---- requests ----------------------------------------------------------- */

static struct load_slot *free_slot(struct load_conn *c)
{
    if (c->in_flight >= c->max_in_flight)
        return NULL;
    for (size_t i = 0; i < LOAD_MAX_SLOTS; i++)
        if (!c->slots[i].used)
            return &c->slots[i];
    return NULL;
}

static void fill_tap(struct load *l, struct load_conn *c, struct load_card *card)
{
    struct lcbp_message *m = &l->msg;

    snprintf(m->card, sizeof m->card, "%s", card->number);
    snprintf(m->session, sizeof m->session, "%s", l->o->session);
    m->direction = card->checked_in ? LCBP_OUT : LCBP_IN;
    m->terminal_time_ms = card->clock_ms;
    m->sequence = c->next_seq++;
    card->clock_ms += card->checked_in ? CARD_STEP_IN_OUT_MS : CARD_STEP_OUT_IN_MS;
}

static enum lcbp_type request_type(enum term_op op)
{
    switch (op) {
    case TERM_OP_BALANCE:
        return LCBP_BALANCE;
    case TERM_OP_PING:
        return LCBP_PING;
    case TERM_OP_OUTCOME:
        return LCBP_OUTCOME;
    case TERM_OP_TAP:
    default:
        return LCBP_TAP;
    }
}

/* Sends c's next request of l->o->op. Returns false when none could go (all
 * slots or cards busy, every outcome pair used, or nothing left to wind
 * down). An outcome's card may have another outcome in flight: a different
 * course, so a different posting. */
bool load_send_request(struct load *l, struct load_conn *c, bool wind_down)
{
    struct load_slot *slot = free_slot(c);
    enum lcbp_type type = request_type(l->o->op);
    struct load_pair pair = {.card = -1};
    long card = -1;
    size_t len;
    struct lcb_error err;

    if (slot == NULL || c->state != CONN_READY)
        return false;
    if (wind_down && type != LCBP_TAP)
        return false;
    if (type == LCBP_OUTCOME) {
        if (!load_outcome_next(l, c, &pair))
            return false;
        card = pair.card;
    } else if (type != LCBP_PING && (card = pick_card(l, c, wind_down)) < 0) {
        return false;
    }
    lcbp_message_init(&l->msg, type, c->next_id++);
    if (c->next_id == 0)
        c->next_id = 1;
    if (type == LCBP_TAP)
        fill_tap(l, c, &l->cards[card]);
    else if (type == LCBP_OUTCOME)
        load_outcome_fill(l, c, &pair);
    else if (type == LCBP_BALANCE)
        snprintf(l->msg.card, sizeof l->msg.card, "%s", l->cards[card].number);
    if (lcbp_encode(&l->msg, l->frame, sizeof l->frame, &len, &err) != 0 ||
        tls_write_now(c->bev, l->frame, len) != 0) {
        load_count_error(l, "send_failed");
        return false;
    }
    *slot = (struct load_slot){.used = true,
                               .id = l->msg.request_id,
                               .card = card,
                               .direction = l->msg.direction,
                               .sent_ns = load_now_ns(),
                               .measured = l->phase == PHASE_RUN};
    if (card >= 0)
        l->cards[card].busy = true;
    c->in_flight++;
    if (c->in_flight > l->in_flight_peak)
        l->in_flight_peak = c->in_flight;
    l->sent++;
    return true;
}

/* A tap's answer moves its card's state; a refusal that tells where the
 * card really stands (left over from an earlier run) does too. */
static void settle_card(struct load *l, const struct load_slot *slot, const struct lcbp_message *m)
{
    struct load_card *card;

    if (slot->card < 0)
        return;
    card = &l->cards[slot->card];
    card->busy = false;
    if (l->o->op != TERM_OP_TAP)
        return;
    if (m->type == LCBP_TAP_OK)
        card->checked_in = slot->direction == LCBP_IN;
    else if (strcmp(m->error_code, "already_checked_in") == 0)
        card->checked_in = true;
    else if (strcmp(m->error_code, "no_open_check_in") == 0)
        card->checked_in = false;
}

/* A ledger posting is an outcome or a check-out answered "applied": each is
 * one signed, chained, double-entry transaction committed before the
 * answer. A check-in is one row, not a posting. */
static void count_posting(struct load *l, const struct load_slot *slot,
                          const struct lcbp_message *m)
{
    bool posting = m->type == LCBP_OUTCOME_OK ||
                   (m->type == LCBP_TAP_OK && slot->direction == LCBP_OUT);

    if (!posting)
        return;
    if (m->status == LCBP_STATUS_APPLIED)
        l->postings++;
    else
        l->duplicates++;
}

void load_answer(struct load *l, struct load_conn *c, const struct lcbp_message *m)
{
    struct load_slot *slot = NULL;
    uint64_t now = load_now_ns();

    for (size_t i = 0; i < LOAD_MAX_SLOTS && slot == NULL; i++)
        if (c->slots[i].used && c->slots[i].id == m->request_id)
            slot = &c->slots[i];
    if (slot == NULL) {
        load_count_error(l, m->type == LCBP_ERROR ? m->error_code : "unexpected_answer");
        return;
    }
    settle_card(l, slot, m);
    if (slot->measured && l->phase == PHASE_RUN) {
        if (m->type == LCBP_ERROR) {
            load_count_error(l, m->error_code);
        } else {
            l->ok++;
            count_posting(l, slot, m);
            term_hist_add(&l->hist, (now - slot->sent_ns) / 1000);
        }
    }
    slot->used = false;
    c->in_flight--;
}

/* ---- setup and the run ----------------------------------------------------
 */

static int resolve(struct load *l, struct lcb_error *err)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc;

    if (lcbp_client_split_addr(l->o->addr, host, sizeof host, port, sizeof port, err) != 0)
        return -1;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        return lcb_error_set(err, "connect_failed", "%s: %s", l->o->addr, gai_strerror(rc));
    memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
    l->addr_len = (int)ai->ai_addrlen;
    freeaddrinfo(ai);
    snprintf(l->server_name, sizeof l->server_name, "%s",
             l->o->server_name ? l->o->server_name : host);
    return 0;
}

/* One TLS context per certificate: --certs FILE lists PREFIX (PREFIX.crt,
 * PREFIX.key) or CRT KEY per line; else --cert/--key for every terminal. */
static int load_certs(struct load *l, struct lcb_error *err)
{
    char line[1024], first[1024], second[1024], crt[1100], key[1100];
    FILE *f;

    if (l->o->certs_file == NULL) {
        l->ctxs = calloc(1, sizeof *l->ctxs);
        if (l->ctxs == NULL)
            return lcb_error_set(err, "io_failed", "out of memory");
        l->ctxs[0] = lcbp_client_tls_ctx(l->o->ca, l->o->cert, l->o->key, err);
        l->n_ctxs = l->ctxs[0] != NULL;
        return l->n_ctxs == 1 ? 0 : -1;
    }
    f = fopen(l->o->certs_file, "r");
    if (f == NULL)
        return lcb_error_set(err, "io_failed", "cannot open %s", l->o->certs_file);
    l->ctxs = calloc(l->n_conns, sizeof *l->ctxs);
    while (l->ctxs != NULL && l->n_ctxs < l->n_conns && fgets(line, sizeof line, f) != NULL) {
        int fields = sscanf(line, "%1023s %1023s", first, second);

        if (fields < 1 || first[0] == '#')
            continue;
        snprintf(crt, sizeof crt, fields == 1 ? "%s.crt" : "%s", first);
        snprintf(key, sizeof key, "%s%s", fields == 1 ? first : second, fields == 1 ? ".key" : "");
        l->ctxs[l->n_ctxs] = lcbp_client_tls_ctx(l->o->ca, crt, key, err);
        if (l->ctxs[l->n_ctxs] == NULL)
            break;
        l->n_ctxs++;
    }
    fclose(f);
    if (l->ctxs == NULL)
        return lcb_error_set(err, "io_failed", "out of memory");
    if (l->n_ctxs == 0 && !lcb_error_is_set(err))
        lcb_error_set(err, "bad_file", "%s lists no certificates", l->o->certs_file);
    return lcb_error_is_set(err) ? -1 : 0;
}

/* Sequence numbers are per terminal id (the certificate's CN) and must
 * never repeat: each run starts above the last one (from the clock, in
 * microseconds), and connections sharing a certificate use disjoint ranges
 * 2^36 apart. */
static void assign_sequences(struct load *l)
{
    uint64_t base = l->o->seq_base;

    if (base == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        base = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    }
    for (size_t i = 0; i < l->n_conns; i++) {
        l->conns[i].next_seq = base + ((uint64_t)(i / l->n_ctxs) << 36);
        l->conns[i].next_id = 1;
        l->conns[i].index = i;
        l->conns[i].load = l;
    }
}

/* More open files for N connections; lcbd's own limit is the operator's. */
static void raise_fd_limit(size_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need + 64) {
        rl.rlim_cur = need + 64 < rl.rlim_max ? need + 64 : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void load_free(struct load *l)
{
    for (size_t i = 0; l->conns != NULL && i < l->n_conns; i++)
        load_conn_close(&l->conns[i], NULL);
    for (size_t i = 0; l->ctxs != NULL && i < l->n_ctxs; i++)
        SSL_CTX_free(l->ctxs[i]);
    if (l->deadline != NULL)
        event_free(l->deadline);
    if (l->base != NULL)
        event_base_free(l->base);
    free(l->ctxs);
    free(l->conns);
    free(l->cards);
    free(l);
}

static int load_prepare(struct load *l, struct lcb_error *err)
{
    l->n_conns = (size_t)l->o->terminals;
    raise_fd_limit(l->n_conns);
    l->conns = calloc(l->n_conns, sizeof *l->conns);
    l->base = event_base_new();
    if (l->conns == NULL || l->base == NULL)
        return lcb_error_set(err, "io_failed", "out of memory or no event base");
    l->deadline = evtimer_new(l->base, load_on_deadline, l);
    if (l->deadline == NULL)
        return lcb_error_set(err, "io_failed", "evtimer_new failed");
    if (resolve(l, err) != 0 || load_certs(l, err) != 0)
        return -1;
    if (!l->idle && l->o->op != TERM_OP_PING && read_cards(l, err) != 0)
        return -1;
    if (!l->idle && l->o->op != TERM_OP_PING && l->n_cards < l->n_conns)
        fprintf(stderr,
                "lcb-term: %zu cards for %zu terminals: cards are shared and some taps "
                "or outcomes will collide\n",
                l->n_cards, l->n_conns);
    assign_sequences(l);
    return 0;
}

static int run(const struct term_opts *o, bool idle)
{
    struct load *l = calloc(1, sizeof *l);
    struct lcb_error err;
    int status = TERM_EXIT_FAILED;

    lcb_error_clear(&err);
    if (l == NULL) {
        fprintf(stderr, "lcb-term: out of memory\n");
        return status;
    }
    l->o = o;
    l->idle = idle;
    l->rss_before_kb = l->rss_after_kb = -1; /* not measured */
    if (!idle && o->op == TERM_OP_OUTCOME && load_outcome_prepare(l, &err) != 0) {
        fprintf(stderr, "lcb-term: %s\n", err.message);
        load_free(l);
        return TERM_EXIT_USAGE;
    }
    if (load_prepare(l, &err) != 0) {
        fprintf(stderr, "lcb-term: failed: %s: %s\n", err.code, err.message);
        load_free(l);
        return status;
    }
    if (idle && o->lcbd_pid > 0)
        l->rss_before_kb = load_rss_kb(o->lcbd_pid);
    l->setup_start_ns = load_now_ns();
    load_connect_more(l);
    if (event_base_dispatch(l->base) != 0)
        fprintf(stderr, "lcb-term: the event loop failed\n");
    else
        status = load_report(l);
    load_free(l);
    return status;
}

int term_cmd_load(const struct term_opts *o)
{
    if (o->terminals <= 0 || o->duration_s <= 0 || (o->rate_per_s > 0) == o->closed_loop ||
        (o->op != TERM_OP_PING && o->cards_file == NULL) ||
        (o->op == TERM_OP_TAP && o->session == NULL) ||
        (o->op == TERM_OP_OUTCOME && o->courses == NULL)) {
        fprintf(stderr, "lcb-term: load needs --terminals, --duration, one of --rate and "
                        "--closed-loop, and --cards (plus --session for taps, --courses "
                        "for outcomes)\n");
        return TERM_EXIT_USAGE;
    }
    if (o->in_flight > 1 && !o->closed_loop) {
        fprintf(stderr, "lcb-term: --in-flight is for --closed-loop; --rate sets the pace\n");
        return TERM_EXIT_USAGE;
    }
    return run(o, false);
}

int term_cmd_idle(const struct term_opts *o)
{
    if (o->terminals <= 0) {
        fprintf(stderr, "lcb-term: idle needs --terminals\n");
        return TERM_EXIT_USAGE;
    }
    return run(o, true);
}
