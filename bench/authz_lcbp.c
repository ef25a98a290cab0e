/* Terminals outside their rights, over LCBP; see authz_lcbp.h. Every
 * attempt is aimed so that, without its refusal, lcbd would carry it out:
 * active cards, real sessions and courses, times inside the window unless
 * the window is the point, and, for a reused sequence number, content a
 * new number would have had applied. Sequence numbers this run makes final
 * are appended to the world file, so replays may pick them too. */
#include "bench/authz_lcbp.h"

#include "tools/lcbp_client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TERMINALS 3
#define BURST_MAX 16
#define UPLOAD_MAX 20
#define MINUTE_MS INT64_C(60000)
#define DAY_MS (1440 * MINUTE_MS)

struct item { /* one attempt: a TAP, an OUTCOME, or one tap of an UPLOAD */
    enum attack_kind kind;
    char want[WORLD_CODE_MAX + 1];
    struct world_used content;
    bool fresh; /* a new sequence number: remember its final answer */
};

struct pending {
    uint32_t request_id;
    enum lcbp_type type;
    size_t n;
    struct item items[UPLOAD_MAX];
    bool answered;
    char got[UPLOAD_MAX][200]; /* each item's answer, once answered */
};

struct terminal_link {
    const char *name; /* the terminal id: CN of certificate term-NAME */
    char side;
    const char *session, *out_course; /* its own centre's */
    const char *foreign_session;
    const char *foreign_courses[4];
    struct lcbp_client *client;
    uint64_t next_sequence;
    size_t *used; /* indices into world->used of this terminal's numbers */
    size_t n_used;
    size_t n_baseline; /* the first ones: the baseline's, every one applied */
    size_t burst;      /* requests to send before reading their answers */
    size_t n_pending;
    struct pending pending[BURST_MAX];
};

struct lcbp_attacks {
    struct authz *a;
    struct terminal_link terminals[TERMINALS];
    size_t queued;
    struct lcbp_message *msg; /* scratch, one at a time */
};

static const struct terminal_link layout[TERMINALS] = {
    {.name = "TA1",
     .side = 'A',
     .session = WORLD_SESSION_A,
     .out_course = WORLD_OUT_A,
     .foreign_session = WORLD_SESSION_B,
     .foreign_courses = {WORLD_TEA_B, WORLD_OUT_B, WORLD_COURSE_S1, WORLD_COURSE_S2}},
    {.name = "TA2",
     .side = 'A',
     .session = WORLD_SESSION_A,
     .out_course = WORLD_OUT_A,
     .foreign_session = WORLD_SESSION_B,
     .foreign_courses = {WORLD_TEA_B, WORLD_OUT_B, WORLD_COURSE_S1, WORLD_COURSE_S2}},
    {.name = "TB1",
     .side = 'B',
     .session = WORLD_SESSION_B,
     .out_course = WORLD_OUT_B,
     .foreign_session = WORLD_SESSION_A,
     .foreign_courses = {WORLD_TEA_A, WORLD_OUT_A, WORLD_COURSE_S1, WORLD_COURSE_S2}},
};

static void *checked_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        abort();
    return p;
}

struct lcbp_attacks *lcbp_attacks_new(struct authz *a)
{
    struct lcbp_attacks *l = checked_calloc(1, sizeof *l);
    l->a = a;
    l->msg = checked_calloc(1, sizeof *l->msg);
    for (int i = 0; i < TERMINALS; i++) {
        struct terminal_link *t = &l->terminals[i];
        *t = layout[i];
        t->used = checked_calloc(WORLD_MAX_USED, sizeof *t->used);
        t->next_sequence = 1;
        t->burst = 1;
        for (size_t u = 0; u < a->world->n_used; u++) {
            const struct world_used *used = &a->world->used[u];
            if (strcmp(used->terminal, t->name) != 0)
                continue;
            t->used[t->n_used++] = u;
            if (used->sequence >= t->next_sequence)
                t->next_sequence = used->sequence + 1;
        }
        t->n_baseline = t->n_used;
    }
    return l;
}

void lcbp_attacks_free(struct lcbp_attacks *l)
{
    if (l == NULL)
        return;
    lcbp_attacks_flush(l);
    for (int i = 0; i < TERMINALS; i++) {
        lcbp_client_close(l->terminals[i].client);
        free(l->terminals[i].used);
    }
    free(l->msg);
    free(l);
}

size_t lcbp_attacks_queued(const struct lcbp_attacks *l)
{
    return l->queued;
}

/* ---- the connection --------------------------------------------------------- */

static int link_open(struct lcbp_attacks *l, struct terminal_link *t, struct lcb_error *err)
{
    char prefix[WORLD_PATH_MAX], crt[WORLD_PATH_MAX + 8], key[WORLD_PATH_MAX + 8], addr[32];
    char name[40];
    snprintf(name, sizeof name, "term-%s", t->name);
    world_cert(l->a->world, name, prefix);
    snprintf(crt, sizeof crt, "%s.crt", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", l->a->world->lcbp_port);
    struct lcbp_client_options opt = {addr, l->a->world->ca_file, crt, key, NULL, 30000};
    t->client = lcbp_client_connect(&opt, err);
    if (t->client == NULL || lcbp_client_hello(t->client, "lcb-authz", l->msg, err) != 0)
        goto fail;
    if (strcmp(l->msg->terminal_id, t->name) != 0) {
        lcb_error_set(err, "bad_answer", "HELLO_OK names terminal %s", l->msg->terminal_id);
        goto fail;
    }
    return 0;
fail:
    lcbp_client_close(t->client);
    t->client = NULL;
    return -1;
}

static void describe(const struct terminal_link *t, enum lcbp_type type, const struct item *it,
                     char *out, size_t cap)
{
    const struct world_used *c = &it->content;
    if (c->kind == WORLD_USED_OUTCOME)
        snprintf(out, cap, "%s %s seq %" PRIu64 ": OUTCOME %s for card %s on %s", t->name,
                 lcbp_type_name(type), c->sequence, c->item, c->card, c->completed_on);
    else
        snprintf(out, cap, "%s %s seq %" PRIu64 ": tap %s card %s session %s at %" PRId64, t->name,
                 lcbp_type_name(type), c->sequence, c->direction == LCBP_IN ? "in" : "out", c->card,
                 c->item, c->time_ms);
}

static void remember(struct lcbp_attacks *l, struct terminal_link *t, struct world_used *content,
                     const char *answer)
{
    snprintf(content->answer, sizeof content->answer, "%s", answer);
    if (world_record_used(l->a->world_path, l->a->world, content) != 0) {
        fprintf(stderr, "lcb-authz: cannot append to %s\n", l->a->world_path);
        exit(2);
    }
    t->used[t->n_used++] = l->a->world->n_used - 1;
}

/* What one item of p got from msg (NULL: no answer, why in err). */
static void item_answer(const struct pending *p, size_t i, const struct lcbp_message *msg,
                        const char *why, char *got, size_t cap)
{
    if (msg == NULL) {
        snprintf(got, cap, "%s: %.150s", TALLY_NO_ANSWER, why);
    } else if (msg->type == LCBP_ERROR && p->type != LCBP_UPLOAD) {
        snprintf(got, cap, "%s", msg->error_code);
    } else if (msg->type == LCBP_ERROR) {
        snprintf(got, cap, "%s: the whole UPLOAD refused: %s", TALLY_NO_ANSWER, msg->error_code);
    } else if (p->type == LCBP_UPLOAD) {
        const char *name = msg->type == LCBP_UPLOAD_OK && msg->n_tap_status == p->n
                               ? lcbp_tap_status_name(msg->tap_status[i])
                               : NULL;
        if (name == NULL)
            snprintf(got, cap, "%s: a bad UPLOAD_OK", TALLY_NO_ANSWER);
        else if (strcmp(name, "applied") == 0)
            snprintf(got, cap, "%s: tap applied", TALLY_ACCEPTED);
        else
            snprintf(got, cap, "%s", name);
    } else if ((int)msg->type != lcbp_response_type(p->type)) {
        snprintf(got, cap, "%s: answered %s", TALLY_NO_ANSWER, lcbp_type_name(msg->type));
    } else if (msg->status == LCBP_STATUS_DUPLICATE) {
        snprintf(got, cap, "%s", TALLY_DUPLICATE);
    } else {
        snprintf(got, cap, "%s: %s applied", TALLY_ACCEPTED, lcbp_type_name(msg->type));
    }
}

/* Keeps what every item of p got from msg (NULL when no answer came). */
static void answer(struct pending *p, const struct lcbp_message *msg, const char *why)
{
    for (size_t i = 0; i < p->n; i++)
        item_answer(p, i, msg, why, p->got[i], sizeof p->got[i]);
    p->answered = true;
}

/* Records every item of p with what answer() kept. */
static void settle(struct lcbp_attacks *l, struct terminal_link *t, struct pending *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct item *it = &p->items[i];
        const char *got = p->got[i];
        char detail[300];
        describe(t, p->type, it, detail, sizeof detail);
        tally_record(l->a->tally, it->kind, it->want, got, false, detail);
        bool accepted = strncmp(got, TALLY_ACCEPTED, strlen(TALLY_ACCEPTED)) == 0;
        if (it->fresh && (accepted || strcmp(got, it->want) == 0))
            remember(l, t, &it->content, accepted ? "applied" : got);
    }
    l->queued -= p->n;
}

static void settle_unanswered(struct lcbp_attacks *l, struct terminal_link *t, struct pending *p,
                              const char *why)
{
    answer(p, NULL, why);
    settle(l, t, p);
}

/* Reads the answers of every request t has in flight. */
static void link_drain(struct lcbp_attacks *l, struct terminal_link *t)
{
    struct lcb_error err = {0};
    size_t unanswered = t->n_pending;
    while (unanswered > 0) {
        if (lcbp_client_recv(t->client, l->msg, &err) != 0)
            break;
        size_t i = 0;
        while (i < t->n_pending &&
               (t->pending[i].answered || t->pending[i].request_id != l->msg->request_id))
            i++;
        if (i == t->n_pending) {
            lcb_error_set(&err, "bad_answer", "an answer to request %" PRIu32 " (%s %s)",
                          l->msg->request_id, lcbp_type_name(l->msg->type), l->msg->error_code);
            break;
        }
        answer(&t->pending[i], l->msg, NULL);
        unanswered--;
    }
    /* Settled in the order sent, not answered: lcbd answers a burst in any
     * order, and what settling appends to the world (so what later replays
     * draw) must depend on the seed alone. A broken connection leaves the
     * rest without an answer. */
    for (size_t i = 0; i < t->n_pending; i++) {
        if (t->pending[i].answered)
            settle(l, t, &t->pending[i]);
        else
            settle_unanswered(l, t, &t->pending[i], err.message);
    }
    t->n_pending = 0;
    if (unanswered > 0) {
        lcbp_client_close(t->client);
        t->client = NULL;
    }
    t->burst = 1 + (size_t)authz_below(l->a, BURST_MAX);
}

void lcbp_attacks_flush(struct lcbp_attacks *l)
{
    for (int i = 0; i < TERMINALS; i++)
        link_drain(l, &l->terminals[i]);
}

/* ---- building requests ------------------------------------------------------ */

static void fill_tap(struct lcbp_message *msg, const struct world_used *c)
{
    snprintf(msg->card, sizeof msg->card, "%s", c->card);
    snprintf(msg->session, sizeof msg->session, "%s", c->item);
    msg->direction = (uint8_t)c->direction;
    msg->terminal_time_ms = c->time_ms;
    msg->sequence = c->sequence;
}

static void fill_outcome(struct lcbp_message *msg, const struct world_used *c)
{
    snprintf(msg->card, sizeof msg->card, "%s", c->card);
    snprintf(msg->course, sizeof msg->course, "%s", c->item);
    snprintf(msg->result, sizeof msg->result, "pass");
    snprintf(msg->completed_on, sizeof msg->completed_on, "%s", c->completed_on);
    msg->sequence = c->sequence;
}

static int compare_items(const void *x, const void *y)
{
    uint64_t a = ((const struct item *)x)->content.sequence;
    uint64_t b = ((const struct item *)y)->content.sequence;
    return a < b ? -1 : a > b;
}

/* An UPLOAD of p's taps: rising sequence numbers, a session table. */
static void fill_upload(struct lcbp_message *msg, struct pending *p)
{
    qsort(p->items, p->n, sizeof p->items[0], compare_items);
    for (size_t i = 0; i < p->n; i++) {
        const struct world_used *c = &p->items[i].content;
        size_t s = 0;
        while (s < msg->n_sessions && strcmp(msg->sessions[s], c->item) != 0)
            s++;
        if (s == msg->n_sessions)
            snprintf(msg->sessions[msg->n_sessions++], sizeof msg->sessions[0], "%s", c->item);
        struct lcbp_tap *tap = &msg->taps[msg->n_taps++];
        tap->sequence = c->sequence;
        tap->terminal_time_ms = c->time_ms;
        snprintf(tap->card, sizeof tap->card, "%s", c->card);
        tap->session_index = (uint8_t)s;
        tap->direction = (uint8_t)c->direction;
    }
}

/* Sends p on t; reads a burst's answers once it is complete. */
static void link_send(struct lcbp_attacks *l, struct terminal_link *t, struct pending *p)
{
    struct lcb_error err;
    struct lcbp_message *msg = l->msg;
    l->queued += p->n;
    if (t->client == NULL && link_open(l, t, &err) != 0) {
        settle_unanswered(l, t, p, err.message);
        return;
    }
    p->request_id = lcbp_client_next_id(t->client);
    lcbp_message_init(msg, p->type, p->request_id);
    if (p->type == LCBP_TAP)
        fill_tap(msg, &p->items[0].content);
    else if (p->type == LCBP_OUTCOME)
        fill_outcome(msg, &p->items[0].content);
    else
        fill_upload(msg, p);
    if (lcbp_client_send(t->client, msg, &err) != 0) {
        settle_unanswered(l, t, p, err.message);
        link_drain(l, t);
        return;
    }
    t->pending[t->n_pending++] = *p;
    if (t->n_pending >= t->burst || t->n_pending == BURST_MAX)
        link_drain(l, t);
}

/* ---- the attempts -------------------------------------------------------------- */

static void today(const struct authz *a, int64_t minus_days, char out[11])
{
    time_t when = (time_t)((a->now_ms - minus_days * DAY_MS) / 1000);
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static const char *active_card(struct lcbp_attacks *l, char side)
{
    struct authz *a = l->a;
    if (side == '?')
        return a->world->learners[authz_below(a, a->world->n_learners)].card;
    return world_learner_of(a->world, side, authz_random(a))->card;
}

/* A tap content of t at time_ms into session, with a new sequence number. */
static void fresh_tap(struct lcbp_attacks *l, struct terminal_link *t, const char *session,
                      int64_t time_ms, struct item *it)
{
    struct world_used *c = &it->content;
    memset(c, 0, sizeof *c);
    snprintf(c->terminal, sizeof c->terminal, "%s", t->name);
    c->sequence = t->next_sequence++;
    c->kind = WORLD_USED_TAP;
    snprintf(c->card, sizeof c->card, "%s", active_card(l, '?'));
    snprintf(c->item, sizeof c->item, "%s", session);
    c->direction = authz_below(l->a, 2) ? LCBP_IN : LCBP_OUT;
    c->time_ms = time_ms;
    it->fresh = true;
}

static void item_foreign_tap(struct lcbp_attacks *l, struct terminal_link *t, struct item *it)
{
    fresh_tap(l, t, t->foreign_session, l->a->now_ms - (int64_t)authz_below(l->a, 60) * MINUTE_MS,
              it);
    it->kind = ATTACK_TERMINAL_FOREIGN;
    snprintf(it->want, sizeof it->want, "course_not_owned");
}

static void item_foreign_outcome(struct lcbp_attacks *l, struct terminal_link *t, struct item *it)
{
    struct world_used *c = &it->content;
    memset(c, 0, sizeof *c);
    snprintf(c->terminal, sizeof c->terminal, "%s", t->name);
    c->sequence = t->next_sequence++;
    c->kind = WORLD_USED_OUTCOME;
    snprintf(c->card, sizeof c->card, "%s", active_card(l, '?'));
    snprintf(c->item, sizeof c->item, "%s", t->foreign_courses[authz_below(l->a, 4)]);
    today(l->a, 0, c->completed_on);
    it->fresh = true;
    it->kind = ATTACK_TERMINAL_FOREIGN;
    snprintf(it->want, sizeof it->want, "course_not_owned");
}

/* Its own session, but older than the window or ahead of lcbd's clock. */
static void item_window(struct lcbp_attacks *l, struct terminal_link *t, struct item *it)
{
    struct authz *a = l->a;
    bool old = authz_below(a, 3) != 0;
    int64_t time_ms = old ? a->now_ms - a->world->offline_window_s * 1000 - MINUTE_MS -
                                (int64_t)authz_below(a, 3 * 365) * DAY_MS -
                                (int64_t)authz_below(a, DAY_MS)
                          : a->now_ms + 6 * MINUTE_MS + (int64_t)authz_below(a, 365 * DAY_MS);
    fresh_tap(l, t, t->session, time_ms, it);
    it->kind = ATTACK_OFFLINE_WINDOW;
    snprintf(it->want, sizeof it->want, "%s", old ? "tap_too_old" : "tap_in_future");
}

static const struct world_used *pick_used(struct lcbp_attacks *l, const struct terminal_link *t)
{
    if (t->n_used == 0)
        return NULL;
    return &l->a->world->used[t->used[authz_below(l->a, t->n_used)]];
}

/* The same content again: the original answer, and no new effect. Half
 * of them replay the baseline, whose answers were applied (so "duplicate"),
 * the others anything, mostly this run's refusals. */
static bool item_exact(struct lcbp_attacks *l, struct terminal_link *t, struct item *it)
{
    const struct world_used *u = pick_used(l, t);
    if (t->n_baseline > 0 && authz_below(l->a, 2) == 0)
        u = &l->a->world->used[t->used[authz_below(l->a, t->n_baseline)]];
    if (u == NULL)
        return false;
    it->content = *u;
    it->fresh = false;
    it->kind = ATTACK_EXACT_REPLAY;
    snprintf(it->want, sizeof it->want, "%s",
             strcmp(u->answer, "applied") == 0 ? TALLY_DUPLICATE : u->answer);
    return true;
}

/* A used number with other content that a new number would have applied:
 * a check-in of the own centre's session, or an outcome of its course. */
static bool item_reuse(struct lcbp_attacks *l, struct terminal_link *t, bool as_outcome,
                       struct item *it)
{
    const struct world_used *u = pick_used(l, t);
    if (u == NULL)
        return false;
    struct world_used *c = &it->content;
    memset(c, 0, sizeof *c);
    snprintf(c->terminal, sizeof c->terminal, "%s", t->name);
    c->sequence = u->sequence;
    snprintf(c->card, sizeof c->card, "%s", active_card(l, t->side));
    if (as_outcome) {
        c->kind = WORLD_USED_OUTCOME;
        snprintf(c->item, sizeof c->item, "%s", t->out_course);
        /* a date no original carries: the content differs for sure */
        snprintf(c->completed_on, sizeof c->completed_on, "2023-%02d-%02d",
                 1 + (int)authz_below(l->a, 12), 1 + (int)authz_below(l->a, 28));
    } else {
        c->kind = WORLD_USED_TAP;
        snprintf(c->item, sizeof c->item, "%s", t->session);
        c->direction = LCBP_IN;
        c->time_ms = l->a->now_ms - (1 + (int64_t)authz_below(l->a, 55)) * MINUTE_MS - 7;
    }
    it->fresh = false;
    it->kind = ATTACK_SEQUENCE_REUSE;
    snprintf(it->want, sizeof it->want, "sequence_replayed");
    return true;
}

static bool has_sequence(const struct pending *p, uint64_t sequence)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].content.sequence == sequence)
            return true;
    return false;
}

/* An UPLOAD whose taps mix the terminal attempts; the first one is of kind. */
static void upload(struct lcbp_attacks *l, struct terminal_link *t, enum attack_kind kind,
                   struct pending *p)
{
    static const enum attack_kind mix[] = {ATTACK_TERMINAL_FOREIGN, ATTACK_SEQUENCE_REUSE,
                                           ATTACK_OFFLINE_WINDOW, ATTACK_EXACT_REPLAY};
    size_t want = 1 + (size_t)authz_below(l->a, UPLOAD_MAX);
    p->type = LCBP_UPLOAD;
    for (size_t tries = 0; p->n < want && tries < 4 * UPLOAD_MAX; tries++) {
        enum attack_kind k = p->n == 0 ? kind : mix[authz_below(l->a, 4)];
        struct item *it = &p->items[p->n];
        bool made = true;
        if (k == ATTACK_TERMINAL_FOREIGN)
            item_foreign_tap(l, t, it);
        else if (k == ATTACK_OFFLINE_WINDOW)
            item_window(l, t, it);
        else if (k == ATTACK_SEQUENCE_REUSE)
            made = item_reuse(l, t, false, it);
        else
            made = item_exact(l, t, it) && it->content.kind == WORLD_USED_TAP;
        if (made && !has_sequence(p, it->content.sequence))
            p->n++;
    }
}

void lcbp_attack(struct lcbp_attacks *l, enum attack_kind kind)
{
    struct authz *a = l->a;
    struct terminal_link *t = &l->terminals[authz_below(a, TERMINALS)];
    struct pending *p = checked_calloc(1, sizeof *p);
    uint64_t form = authz_below(a, 4); /* 0, 1: online; 2: outcome when it fits; 3: upload */
    p->type = LCBP_TAP;
    p->n = 1;
    bool made = true;
    if (form == 3) {
        p->n = 0;
        upload(l, t, kind, p);
        made = p->n > 0;
    } else if (kind == ATTACK_TERMINAL_FOREIGN && form == 2) {
        p->type = LCBP_OUTCOME;
        item_foreign_outcome(l, t, &p->items[0]);
    } else if (kind == ATTACK_TERMINAL_FOREIGN) {
        item_foreign_tap(l, t, &p->items[0]);
    } else if (kind == ATTACK_OFFLINE_WINDOW) {
        item_window(l, t, &p->items[0]);
    } else if (kind == ATTACK_SEQUENCE_REUSE) {
        made = item_reuse(l, t, form == 2, &p->items[0]);
        p->type = form == 2 ? LCBP_OUTCOME : LCBP_TAP;
    } else {
        made = item_exact(l, t, &p->items[0]);
        p->type = p->items[0].content.kind == WORLD_USED_OUTCOME ? LCBP_OUTCOME : LCBP_TAP;
    }
    if (made)
        link_send(l, t, p);
    free(p);
}

/* ---- the baseline ------------------------------------------------------------------ */

/* One legitimate request of t, sent alone; it must be applied. */
static int baseline_one(struct lcbp_attacks *l, struct terminal_link *t, struct item *it)
{
    struct pending *p = checked_calloc(1, sizeof *p);
    p->type = it->content.kind == WORLD_USED_TAP ? LCBP_TAP : LCBP_OUTCOME;
    p->n = 1;
    p->items[0] = *it;
    struct lcb_error err;
    int rc = -1;
    if (t->client == NULL && link_open(l, t, &err) != 0) {
        fprintf(stderr, "lcb-authz: baseline: %s: %s\n", err.code, err.message);
        goto out;
    }
    p->request_id = lcbp_client_next_id(t->client);
    lcbp_message_init(l->msg, p->type, p->request_id);
    if (p->type == LCBP_TAP)
        fill_tap(l->msg, &it->content);
    else
        fill_outcome(l->msg, &it->content);
    if (lcbp_client_call(t->client, l->msg, l->msg, &err) != 0) {
        fprintf(stderr, "lcb-authz: baseline: %s: %s\n", err.code, err.message);
        goto out;
    }
    char got[200], detail[300];
    item_answer(p, 0, l->msg, NULL, got, sizeof got);
    describe(t, p->type, it, detail, sizeof detail);
    if (strncmp(got, TALLY_ACCEPTED, strlen(TALLY_ACCEPTED)) != 0) {
        fprintf(stderr, "lcb-authz: baseline: %s: got %s\n", detail, got);
        goto out;
    }
    remember(l, t, &it->content, "applied");
    rc = 0;
out:
    free(p);
    return rc;
}

int lcbp_baseline(struct lcbp_attacks *l)
{
    struct authz *a = l->a;
    for (int slot = 0; slot < TERMINALS; slot++) {
        struct terminal_link *t = &l->terminals[slot];
        /* each terminal its own 100 minutes, hours ago: no overlapping check-ins */
        int64_t start_ms = a->now_ms - 6 * 60 * MINUTE_MS + slot * 100 * MINUTE_MS;
        for (int j = 0; j < 3; j++) {
            const char *card = world_learner_of(a->world, t->side, (uint64_t)j)->card;
            for (int out = 0; out < 2; out++) {
                struct item it;
                fresh_tap(l, t, t->session, start_ms + j * 10000 + out * 70 * MINUTE_MS, &it);
                snprintf(it.content.card, sizeof it.content.card, "%s", card);
                it.content.direction = out ? LCBP_OUT : LCBP_IN;
                if (baseline_one(l, t, &it) != 0)
                    return -1;
            }
        }
        struct item it;
        item_foreign_outcome(l, t, &it);
        snprintf(it.content.card, sizeof it.content.card, "%s",
                 world_learner_of(a->world, t->side, (uint64_t)slot)->card);
        snprintf(it.content.item, sizeof it.content.item, "%s", t->out_course);
        today(a, 1, it.content.completed_on);
        if (baseline_one(l, t, &it) != 0)
            return -1;
    }
    return 0;
}
