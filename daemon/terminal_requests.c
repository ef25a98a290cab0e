/* Answers a READY terminal's requests: taps and offline uploads through
 * attendance.c, balance inquiries for the card presented, outcomes of the
 * centre's own courses through the ledger. Every answer is sent only after
 * what it reports was committed. Error codes are SPEC.md's. */
#include "daemon/attendance.h"
#include "daemon/balances.h"
#include "daemon/db.h"
#include "daemon/deposit.h"
#include "daemon/terminal.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "lib/card.h"
#include "lib/crypto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
    struct terminal *t;
    uint32_t request_id;
    size_t n_taps;
    bool check_in; /* a live tap's direction, for its display text */
    uint8_t tap_status[LCBP_MAX_TAPS];
};

static struct job *job_new(struct terminal *t, uint32_t request_id)
{
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL)
        abort();
    job->t = t;
    job->request_id = request_id;
    return job;
}

static void job_finish(struct job *job)
{
    terminal_request_done(job->t);
    free(job);
}

/* Domain codes to SPEC.md's; anything else is the daemon's own failure. */
static const char *lcbp_code(const char *code)
{
    if (strcmp(code, "invalid_card") == 0)
        return "card_invalid";
    if (strcmp(code, "idempotency_conflict") == 0)
        return "sequence_replayed";
    return lcbp_error_code_known(code) ? code : "internal_error";
}

/* Every refusal a terminal is told is logged with its id and counted
 * (docs/terminals.md), in the listener's form "refused: terminal ID
 * (INSTITUTION): CODE: ...". */
static void log_refusal(const struct job *job, const char *code, const char *what,
                        const char *message)
{
    struct terminal *t = job->t;
    t->app->counters.refusals++;
    log_info("refused: terminal %s (%s): %s: request %" PRIu32 "%s: %s", t->terminal_id,
             t->institution_code, code, job->request_id, what, message);
}

static void answer_error(struct job *job, const struct lcb_error *err)
{
    log_refusal(job, lcbp_code(err->code), "", err->message);
    terminal_send_error(job->t, job->request_id, lcbp_code(err->code), err->message, false);
    job_finish(job);
}

static struct lcbp_message *message_new(enum lcbp_type type, uint32_t request_id)
{
    struct lcbp_message *msg = malloc(sizeof *msg);
    if (msg == NULL)
        abort();
    lcbp_message_init(msg, type, request_id);
    return msg;
}

static void send_and_finish(struct job *job, struct lcbp_message *msg)
{
    terminal_send(job->t, msg);
    free(msg);
    job_finish(job);
}

static void tap_display(const struct attendance_answer *a, bool in, char *out, size_t cap)
{
    if (a->credits > 0)
        snprintf(out, cap, "+%" PRId64 ".%02" PRId64 " %s credits", a->credits / 100,
                 a->credits % 100, a->credit_unit);
    else if (in)
        snprintf(out, cap, "Checked in");
    else
        snprintf(out, cap, "Checked out: %u of %u min", a->attended_minutes, a->required_minutes);
}

static void on_tap(const struct attendance_answer *answers, size_t n, void *arg)
{
    struct job *job = arg;
    const struct attendance_answer *a = &answers[0];
    (void)n;
    if (a->status == ATTENDANCE_REFUSED) {
        answer_error(job, &a->error);
        return;
    }
    struct lcbp_message *ok = message_new(LCBP_TAP_OK, job->request_id);
    ok->status = a->status == ATTENDANCE_DUPLICATE ? LCBP_STATUS_DUPLICATE : LCBP_STATUS_APPLIED;
    ok->attended_minutes = a->attended_minutes;
    ok->required_minutes = a->required_minutes;
    ok->credits_centi = a->credits;
    if (a->credits > 0) {
        snprintf(ok->credit_unit, sizeof ok->credit_unit, "%s", a->credit_unit);
        ok->present |= LCBP_BIT(LCBP_TAG_CREDIT_UNIT);
    }
    tap_display(a, job->check_in, ok->display, sizeof ok->display);
    ok->present |= LCBP_BIT(LCBP_TAG_DISPLAY);
    send_and_finish(job, ok);
}

static void tap_from(struct attendance_tap *tap, const struct terminal *t, uint64_t sequence,
                     const char *card, const char *session, int direction, int64_t time_ms)
{
    memset(tap, 0, sizeof *tap);
    tap->institution_id = t->institution_id;
    snprintf(tap->terminal, sizeof tap->terminal, "%s", t->terminal_id);
    tap->sequence = sequence;
    snprintf(tap->card, sizeof tap->card, "%s", card);
    snprintf(tap->session, sizeof tap->session, "%s", session);
    tap->direction = direction == LCBP_IN ? ATTENDANCE_IN : ATTENDANCE_OUT;
    tap->terminal_time_ms = time_ms;
}

static void handle_tap(struct terminal *t, const struct lcbp_message *msg)
{
    struct job *job = job_new(t, msg->request_id);
    job->check_in = msg->direction == LCBP_IN;
    struct attendance_tap tap;
    tap_from(&tap, t, msg->sequence, msg->card, msg->session, msg->direction, msg->terminal_time_ms);
    attendance_apply(t->app, &tap, 1, (uint32_t)t->app->cfg->offline_window_s, on_tap, job);
}

static void on_gaps(int status, const struct attendance_gap *gaps, size_t n, bool more, void *arg)
{
    struct job *job = arg;
    if (status != 0) {
        struct lcb_error err;
        lcb_error_set(&err, "database_unavailable", "the database is unavailable; upload again later");
        answer_error(job, &err);
        return;
    }
    struct lcbp_message *ok = message_new(LCBP_UPLOAD_OK, job->request_id);
    ok->n_tap_status = job->n_taps;
    memcpy(ok->tap_status, job->tap_status, job->n_taps);
    ok->n_gaps = n;
    for (size_t i = 0; i < n; i++) {
        ok->gaps[i].first = gaps[i].first;
        ok->gaps[i].last = gaps[i].last;
    }
    ok->gaps_more = more ? 1 : 0;
    ok->present |= LCBP_BIT(LCBP_TAG_GAPS) | LCBP_BIT(LCBP_TAG_GAPS_MORE);
    for (size_t i = 0; i < job->n_taps; i++) {
        if (job->tap_status[i] > LCBP_STATUS_DUPLICATE) {
            char what[64];
            snprintf(what, sizeof what, ", tap %zu of %zu", i + 1, job->n_taps);
            log_refusal(job, lcbp_tap_status_name(job->tap_status[i]), what,
                        "an uploaded tap refused");
        }
    }
    send_and_finish(job, ok);
}

static void on_upload(const struct attendance_answer *answers, size_t n, void *arg)
{
    struct job *job = arg;
    for (size_t i = 0; i < n; i++) {
        const struct attendance_answer *a = &answers[i];
        uint8_t status = a->status == ATTENDANCE_DUPLICATE ? LCBP_STATUS_DUPLICATE : LCBP_STATUS_APPLIED;
        if (a->status == ATTENDANCE_REFUSED && lcbp_tap_status_parse(lcbp_code(a->error.code), &status) != 0) {
            /* Not a per-tap verdict (the database went away): the terminal
             * keeps the batch and sends it again; applied taps answer duplicate. */
            answer_error(job, &a->error);
            return;
        }
        job->tap_status[i] = status;
    }
    attendance_gaps(job->t->app, job->t->institution_id, job->t->terminal_id, LCBP_MAX_GAPS, on_gaps, job);
}

static void handle_upload(struct terminal *t, const struct lcbp_message *msg)
{
    struct attendance_tap *taps = calloc(msg->n_taps, sizeof *taps);
    if (taps == NULL)
        abort();
    for (size_t i = 0; i < msg->n_taps; i++) {
        const struct lcbp_tap *in = &msg->taps[i];
        tap_from(&taps[i], t, in->sequence, in->card, msg->sessions[in->session_index], in->direction,
                 in->terminal_time_ms);
    }
    struct job *job = job_new(t, msg->request_id);
    job->n_taps = msg->n_taps;
    attendance_apply(t->app, taps, msg->n_taps, (uint32_t)t->app->cfg->offline_window_s, on_upload, job);
    free(taps);
}

static void display_balances(struct lcbp_message *ok, const struct balance_answer *answer)
{
    size_t used = 0;
    for (size_t i = 0; i < ok->n_balances; i++) {
        long long amount = ok->balances[i].amount;
        if (amount == 0)
            continue;
        char item[48];
        if (answer->lines[i].scale == 100)
            snprintf(item, sizeof item, "%s%s %lld.%02lld", used ? " " : "", ok->balances[i].unit,
                     amount / 100, llabs(amount % 100));
        else
            snprintf(item, sizeof item, "%s%s %lld", used ? " " : "", ok->balances[i].unit, amount);
        if (used + strlen(item) >= sizeof ok->display)
            break;
        memcpy(ok->display + used, item, strlen(item) + 1);
        used += strlen(item);
    }
}

static void on_balance(const struct balance_answer *answer, void *arg)
{
    struct job *job = arg;
    if (!answer->ok) {
        answer_error(job, &answer->error);
        return;
    }
    struct lcbp_message *ok = message_new(LCBP_BALANCE_OK, job->request_id);
    for (size_t i = 0; i < answer->n_lines && i < LCBP_MAX_BALANCES; i++) {
        snprintf(ok->balances[i].unit, sizeof ok->balances[i].unit, "%s", answer->lines[i].unit);
        ok->balances[i].amount = answer->lines[i].amount;
        ok->n_balances = i + 1;
    }
    display_balances(ok, answer);
    ok->present |= LCBP_BIT(LCBP_TAG_DISPLAY);
    send_and_finish(job, ok);
}

static void handle_balance(struct terminal *t, const struct lcbp_message *msg)
{
    struct job *job = job_new(t, msg->request_id);
    struct lcb_error err;
    if (card_number_check(msg->card, &err) != 0) {
        answer_error(job, &err);
        return;
    }
    balances_inquire(t->app->balances, msg->card, on_balance, job);
}

static void on_outcome(const struct ledger_result *results, size_t n, void *arg)
{
    struct job *job = arg;
    const struct ledger_result *r = &results[0];
    (void)n;
    if (r->status == LEDGER_REJECTED) {
        answer_error(job, &r->error);
        return;
    }
    struct lcbp_message *ok = message_new(LCBP_OUTCOME_OK, job->request_id);
    ok->status = r->status == LEDGER_DUPLICATE ? LCBP_STATUS_DUPLICATE : LCBP_STATUS_APPLIED;
    if (record_uuid_parse(r->transaction_id, ok->transaction_id) != 0 ||
        crypto_hex_decode(r->hash_hex, ok->hash, LCBP_HASH_LEN) != 0)
        log_error("lcbp: ledger answered a malformed id or hash");
    send_and_finish(job, ok);
}

/* A terminal's OUTCOME shares the terminal's one sequence counter with its
 * taps (SPEC.md 7.4): lcb_prepare_terminal_outcome (sql/007) checks the
 * number against both before it deposits. Its batch form (sql/009's
 * lcb_prepare_deposits, with the terminals and their numbers) lets a group of
 * outcomes from many terminals commit like a batch of HTTPS outcomes; two
 * of one group that share a number fail lcb_append_many on the key and are
 * retried one by one, where the second sees the first. */
static const char terminal_outcome_sql[] =
    "SELECT * FROM lcb_prepare_terminal_outcome($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
static const char terminal_outcome_batch_sql[] =
    "SELECT * FROM lcb_prepare_deposits($1::bigint[], $2::text[], $3::bytea[], $4::text[], "
    "$5::bigint[], $6::text[], $7::text[], $8::text[], $9::date[], $10::bytea[], $11::text[], "
    "$12::numeric[])";

static int terminal_outcome_request(const struct terminal *t, uint64_t sequence,
                                    const struct deposit_outcome *outcome,
                                    struct ledger_request *request)
{
    if (deposit_request(outcome, request) != 0)
        return -1;
    request->prepare_sql = terminal_outcome_sql;
    request->batch_sql = terminal_outcome_batch_sql;
    request->params[10] = strdup(t->terminal_id);
    if (asprintf(&request->params[11], "%" PRIu64, sequence) < 0)
        request->params[11] = NULL;
    request->nparams = 12;
    if (request->params[10] == NULL || request->params[11] == NULL) {
        for (int i = 0; i < request->nparams; i++)
            free(request->params[i]);
        return -1;
    }
    return 0;
}

static void handle_outcome(struct terminal *t, const struct lcbp_message *msg)
{
    struct job *job = job_new(t, msg->request_id);
    struct deposit_outcome outcome;
    memset(&outcome, 0, sizeof outcome);
    outcome.institution_id = t->institution_id;
    snprintf(outcome.idempotency_key, sizeof outcome.idempotency_key, "outcome:%s:%" PRIu64,
             t->terminal_id, msg->sequence);
    snprintf(outcome.card, sizeof outcome.card, "%s", msg->card);
    outcome.item_kind = DEPOSIT_COURSE;
    snprintf(outcome.item_code, sizeof outcome.item_code, "%s", msg->course);
    snprintf(outcome.result, sizeof outcome.result, "%s", msg->result);
    snprintf(outcome.completed_on, sizeof outcome.completed_on, "%s", msg->completed_on);
    struct lcb_error err;
    struct ledger_request request;
    if (card_number_check(msg->card, &err) != 0) {
        answer_error(job, &err);
        return;
    }
    if (terminal_outcome_request(t, msg->sequence, &outcome, &request) != 0) {
        lcb_error_set(&err, "internal_error", "out of memory");
        answer_error(job, &err);
        return;
    }
    ledger_submit(t->app->ledger, &request, 1, on_outcome, job);
}

void terminal_handle(struct terminal *t, const struct lcbp_message *msg)
{
    switch (msg->type) {
    case LCBP_PING: {
        struct job *job = job_new(t, msg->request_id);
        struct lcbp_message *pong = message_new(LCBP_PONG, msg->request_id);
        pong->server_time_ms = terminal_now_ms();
        send_and_finish(job, pong);
        return;
    }
    case LCBP_TAP:
        handle_tap(t, msg);
        return;
    case LCBP_UPLOAD:
        handle_upload(t, msg);
        return;
    case LCBP_BALANCE:
        handle_balance(t, msg);
        return;
    case LCBP_OUTCOME:
        handle_outcome(t, msg);
        return;
    default: {
        struct job *job = job_new(t, msg->request_id);
        struct lcb_error err;
        lcb_error_set(&err, "unknown_message", "not a request this server answers");
        answer_error(job, &err);
        return;
    }
    }
}
