/* lcb-term's one-shot commands: connect, HELLO, one request (or a few, for
 * an upload), print the answer for a person or as JSON, exit with a status
 * that says whether lcbd refused. A sequence number, once sent, is never
 * reused for other content: CERT.seq is advanced before the request goes. */
#include "tools/lcb_term.h"
#include "tools/lcbp_client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A connected terminal and the two message buffers of one exchange
 * (lcbp_message is large, so not on the stack). */
struct session {
    struct lcbp_client *client;
    struct lcbp_message hello_ok, req, resp;
};

static int fail(const struct term_opts *o, const struct lcb_error *err, int status)
{
    if (o->json) {
        json_t *doc =
            json_pack("{s:{s:s,s:s}}", "error", "code", err->code, "message", err->message);
        if (doc != NULL)
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        printf("\n");
        json_decref(doc);
    }
    fprintf(stderr, "lcb-term: %s: %s: %s\n", status == TERM_EXIT_REFUSED ? "refused" : "failed",
            err->code, err->message);
    return status;
}

static void print_json(json_t *doc)
{
    if (doc == NULL) {
        fprintf(stderr, "lcb-term: out of memory\n");
        return;
    }
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    printf("\n");
    json_decref(doc);
}

/* Connects and says HELLO; NULL after printing why (*status says how). */
static struct session *open_session(const struct term_opts *o, int *status)
{
    struct lcbp_client_options copt = {o->addr, o->ca,          o->cert,
                                       o->key,  o->server_name, o->timeout_ms};
    struct session *s = calloc(1, sizeof *s);
    struct lcb_error err;

    *status = TERM_EXIT_FAILED;
    if (s == NULL) {
        lcb_error_set(&err, "io_failed", "out of memory");
        fail(o, &err, *status);
        return NULL;
    }
    s->client = lcbp_client_connect(&copt, &err);
    if (s->client == NULL ||
        lcbp_client_hello(s->client, LCB_TERM_SOFTWARE, &s->hello_ok, &err) != 0) {
        if (s->client != NULL && lcbp_error_code_known(err.code))
            *status = TERM_EXIT_REFUSED;
        fail(o, &err, *status);
        lcbp_client_close(s->client);
        free(s);
        return NULL;
    }
    return s;
}

static void close_session(struct session *s)
{
    if (s != NULL)
        lcbp_client_close(s->client);
    free(s);
}

/* Sends s->req and reads its answer into s->resp; on an ERROR answer or no
 * answer, prints why and returns the exit status; 0 when the answer is
 * of the expected type. */
static int exchange(const struct term_opts *o, struct session *s)
{
    struct lcb_error err;

    if (lcbp_client_call(s->client, &s->req, &s->resp, &err) != 0)
        return fail(o, &err, TERM_EXIT_FAILED);
    if (lcbp_client_refusal(&s->resp, &err) != 0)
        return fail(o, &err, TERM_EXIT_REFUSED);
    if ((int)s->resp.type != lcbp_response_type(s->req.type)) {
        lcb_error_set(&err, "bad_answer", "%s answered with %s", lcbp_type_name(s->req.type),
                      lcbp_type_name(s->resp.type));
        return fail(o, &err, TERM_EXIT_FAILED);
    }
    return 0;
}

/* ---- sequence numbers ------------------------------------------------------
 */

static void seq_path(const struct term_opts *o, char *path, size_t cap)
{
    snprintf(path, cap, "%s.seq", o->cert);
}

static uint64_t seq_last(const struct term_opts *o)
{
    char path[4096];
    unsigned long long last = 0;
    FILE *f;

    seq_path(o, path, sizeof path);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu", &last) != 1)
        last = 0;
    fclose(f);
    return last;
}

/* Records seq as used, when it is above the last one recorded. */
static int seq_record(const struct term_opts *o, uint64_t seq, struct lcb_error *err)
{
    char path[4096], tmp[4200];
    FILE *f;

    if (seq <= seq_last(o))
        return 0;
    seq_path(o, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%llu\n", (unsigned long long)seq) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0)
        return lcb_error_set(err, "io_failed",
                             "cannot record the sequence number in %s "
                             "(give --seq N instead)",
                             path);
    return 0;
}

/* --seq N, or one more than the last recorded; recorded before sending. */
static int next_seq(const struct term_opts *o, uint64_t *seq)
{
    struct lcb_error err;

    *seq = o->has_seq ? o->seq : seq_last(o) + 1;
    if (seq_record(o, *seq, &err) != 0)
        return fail(o, &err, TERM_EXIT_FAILED);
    return 0;
}

/* ---- hello and ping ----------------------------------------------------- */

int term_cmd_hello(const struct term_opts *o)
{
    int status;
    struct session *s = open_session(o, &status);
    const struct lcbp_message *h;
    char when[TERM_TIME_MAX];

    if (s == NULL)
        return status;
    h = &s->hello_ok;
    term_format_time(h->server_time_ms, when);
    if (o->json)
        print_json(json_pack("{s:i,s:s,s:s,s:s,s:I,s:i,s:i,s:I}", "version", h->version,
                             "terminal_id", h->terminal_id, "institution", h->institution,
                             "server_time", when, "server_time_ms", (json_int_t)h->server_time_ms,
                             "max_frame", (int)h->max_frame, "max_in_flight", h->max_in_flight,
                             "offline_window_s", (json_int_t)h->offline_window_s));
    else
        printf("LCBP/%d: terminal %s of %s\nserver time %s\nmax frame %u bytes, "
               "%u requests in flight, offline taps kept %u s\n",
               h->version, h->terminal_id, h->institution, when, (unsigned)h->max_frame,
               (unsigned)h->max_in_flight, (unsigned)h->offline_window_s);
    close_session(s);
    return TERM_EXIT_OK;
}

static double monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int term_cmd_ping(const struct term_opts *o)
{
    int status;
    struct session *s = open_session(o, &status);
    double start, rtt_ms;
    int64_t local_ms;
    char when[TERM_TIME_MAX];

    if (s == NULL)
        return status;
    lcbp_message_init(&s->req, LCBP_PING, lcbp_client_next_id(s->client));
    start = monotonic_ms();
    status = exchange(o, s);
    rtt_ms = monotonic_ms() - start;
    local_ms = term_now_ms();
    if (status == 0) {
        term_format_time(s->resp.server_time_ms, when);
        if (o->json)
            print_json(json_pack("{s:f,s:s,s:I}", "rtt_ms", rtt_ms, "server_time", when,
                                 "clock_offset_ms",
                                 (json_int_t)(s->resp.server_time_ms - local_ms)));
        else
            printf("PONG in %.3f ms; server time %s (%+lld ms from ours)\n", rtt_ms, when,
                   (long long)(s->resp.server_time_ms - local_ms));
    }
    close_session(s);
    return status;
}

/* ---- tap, balance, outcome --------------------------------------------- */

/* Minutes as "90 min (1 h 30)", credits in hundredths as "1.50". */
static void format_amount(const char *unit, int64_t amount, char *out, size_t cap)
{
    long long magnitude = amount < 0 ? -(long long)amount : (long long)amount;
    int n;

    if (strcmp(unit, "minutes") == 0)
        n = snprintf(out, cap, "%lld min (%lld h %02lld)", (long long)amount, magnitude / 60,
                     magnitude % 60);
    else
        n = snprintf(out, cap, "%s%lld.%02lld", amount < 0 ? "-" : "", magnitude / 100,
                     magnitude % 100);
    if (n < 0 || (size_t)n >= cap) /* cannot happen with the callers' 64 bytes */
        snprintf(out, cap, "?");
}

static void print_tap(const struct term_opts *o, const struct lcbp_message *r, uint64_t seq)
{
    const char *status = lcbp_tap_status_name(r->status);
    char credits[64] = "";

    if (o->json) {
        print_json(json_pack("{s:s,s:I,s:s,s:s,s:i,s:i,s:I,s:s?,s:s}", "status", status, "sequence",
                             (json_int_t)seq, "card", o->card, "session", o->session,
                             "attended_minutes", (int)r->attended_minutes, "required_minutes",
                             (int)r->required_minutes, "credits_centi",
                             (json_int_t)r->credits_centi, "credit_unit",
                             r->credits_centi > 0 ? r->credit_unit : NULL, "display", r->display));
        return;
    }
    printf("%s: check-%s of card %s, session %s (sequence %llu%s)\n", status,
           o->direction == LCBP_IN ? "in" : "out", o->card, o->session, (unsigned long long)seq,
           r->status == LCBP_STATUS_DUPLICATE ? ", applied before: the original result" : "");
    printf("  attended %u of %u minutes for the course\n", (unsigned)r->attended_minutes,
           (unsigned)r->required_minutes);
    if (r->credits_centi > 0) {
        format_amount(r->credit_unit, r->credits_centi, credits, sizeof credits);
        printf("  deposited %s %s credits\n", credits, r->credit_unit);
    }
    if (r->display[0] != '\0')
        printf("  display: %s\n", r->display);
}

int term_cmd_tap(const struct term_opts *o)
{
    struct session *s;
    uint64_t seq;
    int status;

    if (o->card == NULL || o->session == NULL || o->direction == 0) {
        fprintf(stderr, "lcb-term: tap needs --card, --session and --in or --out\n");
        return TERM_EXIT_USAGE;
    }
    s = open_session(o, &status);
    if (s == NULL)
        return status;
    status = next_seq(o, &seq);
    if (status == 0) {
        lcbp_message_init(&s->req, LCBP_TAP, lcbp_client_next_id(s->client));
        snprintf(s->req.card, sizeof s->req.card, "%s", o->card);
        snprintf(s->req.session, sizeof s->req.session, "%s", o->session);
        s->req.direction = (uint8_t)o->direction;
        s->req.terminal_time_ms = o->has_time ? o->time_ms : term_now_ms();
        s->req.sequence = seq;
        status = exchange(o, s);
    }
    if (status == 0)
        print_tap(o, &s->resp, seq);
    close_session(s);
    return status;
}

static void print_balance(const struct term_opts *o, const struct lcbp_message *r)
{
    char amount[64];

    if (o->json) {
        json_t *balances = json_object();

        for (size_t i = 0; balances != NULL && i < r->n_balances; i++)
            json_object_set_new(balances, r->balances[i].unit, json_integer(r->balances[i].amount));
        print_json(json_pack("{s:s,s:o,s:s}", "card", o->card, "balances", balances, "display",
                             r->display));
        return;
    }
    printf("card %s\n", o->card);
    if (r->n_balances == 0)
        printf("  no balances yet\n");
    for (size_t i = 0; i < r->n_balances; i++) {
        format_amount(r->balances[i].unit, r->balances[i].amount, amount, sizeof amount);
        printf("  %-12s %s\n", r->balances[i].unit, amount);
    }
    if (r->display[0] != '\0')
        printf("  display: %s\n", r->display);
}

int term_cmd_balance(const struct term_opts *o)
{
    struct session *s;
    int status;

    if (o->card == NULL) {
        fprintf(stderr, "lcb-term: balance needs --card\n");
        return TERM_EXIT_USAGE;
    }
    s = open_session(o, &status);
    if (s == NULL)
        return status;
    lcbp_message_init(&s->req, LCBP_BALANCE, lcbp_client_next_id(s->client));
    snprintf(s->req.card, sizeof s->req.card, "%s", o->card);
    status = exchange(o, s);
    if (status == 0)
        print_balance(o, &s->resp);
    close_session(s);
    return status;
}

static void hex(const uint8_t *bytes, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

int term_cmd_outcome(const struct term_opts *o)
{
    char txn[2 * LCBP_TXN_ID_LEN + 1], hash[2 * LCBP_HASH_LEN + 1];
    const char *status_name;
    struct session *s;
    uint64_t seq;
    int status;

    if (o->card == NULL || o->course == NULL || o->result == NULL || o->completed_on == NULL) {
        fprintf(stderr, "lcb-term: outcome needs --card, --course, --result, --completed-on\n");
        return TERM_EXIT_USAGE;
    }
    s = open_session(o, &status);
    if (s == NULL)
        return status;
    status = next_seq(o, &seq);
    if (status == 0) {
        lcbp_message_init(&s->req, LCBP_OUTCOME, lcbp_client_next_id(s->client));
        snprintf(s->req.card, sizeof s->req.card, "%s", o->card);
        snprintf(s->req.course, sizeof s->req.course, "%s", o->course);
        snprintf(s->req.result, sizeof s->req.result, "%s", o->result);
        snprintf(s->req.completed_on, sizeof s->req.completed_on, "%s", o->completed_on);
        s->req.sequence = seq;
        status = exchange(o, s);
    }
    if (status == 0) {
        hex(s->resp.transaction_id, LCBP_TXN_ID_LEN, txn);
        hex(s->resp.hash, LCBP_HASH_LEN, hash);
        status_name = s->resp.status == LCBP_STATUS_DUPLICATE ? "duplicate" : "posted";
        if (o->json)
            print_json(json_pack("{s:s,s:I,s:s,s:s}", "status", status_name, "sequence",
                                 (json_int_t)seq, "transaction_id", txn, "hash", hash));
        else
            printf("%s: %s of card %s for %s (sequence %llu)\n  transaction %s\n  "
                   "hash %s\n",
                   status_name, o->result, o->card, o->course, (unsigned long long)seq, txn, hash);
    }
    close_session(s);
    return status;
}
