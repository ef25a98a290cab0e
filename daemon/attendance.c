/* Attendance on the event loop; see attendance.h. Taps are applied strictly
 * one after the other, in the order given: a check-in is one statement
 * (lcb_tap_in), a check-out one ledger posting (lcb_prepare_checkout), so
 * what a tap means is decided in sql/005_attendance.sql. Never blocks, and
 * never holds a pooled connection while waiting for the ledger (which
 * needs connections of its own). */
#include "daemon/attendance.h"

#include "daemon/db.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "lib/crypto.h"

#include <ctype.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_IN_SQL "SELECT * FROM lcb_tap_in($1, $2, $3, $4, $5, $6, $7)"
#define TAP_RESULT_SQL "SELECT * FROM lcb_tap_result($1, $2, $3)"
#define GAPS_SQL "SELECT first_missing, last_missing FROM lcb_terminal_gaps($1, $2, $3)"
#define CHECKOUT_NPARAMS 9
/* A check-in that lost a race (serialization failure, unique violation,
 * deadlock) is sent again this often; the replay check then answers it. */
#define CHECK_IN_ATTEMPTS 3

static const char checkout_sql[] =
    "SELECT * FROM lcb_prepare_checkout($1, $2, $3, $4, $5, $6, $7, $8, $9)";

struct apply_job {
    struct app *app;
    struct attendance_tap *taps;
    struct attendance_answer *answers;
    size_t n, next; /* next: the tap being applied */
    uint32_t offline_window_s;
    bool unavailable; /* database trouble: the taps left are refused */
    int attempts;     /* of the current check-in */
    attendance_cb cb;
    void *arg;
};

static void job_step(struct apply_job *job);

static void *checked_calloc(size_t n, size_t size)
{
    void *p = calloc(n > 0 ? n : 1, size);
    if (p == NULL) {
        log_error("attendance: out of memory");
        abort(); /* as the ledger does: no half-answered batch */
    }
    return p;
}

static struct attendance_answer *current(struct apply_job *job)
{
    return &job->answers[job->next];
}

static void refuse(struct attendance_answer *answer, const char *code, const char *message)
{
    memset(answer, 0, sizeof *answer);
    answer->status = ATTENDANCE_REFUSED;
    lcb_error_set(&answer->error, code, "%s", message);
}

/* The current tap is settled: on to the next one. */
static void advance(struct apply_job *job)
{
    job->next++;
    job->attempts = 0;
    job_step(job);
}

static void refuse_unavailable(struct apply_job *job)
{
    job->unavailable = true;
    refuse(current(job), "database_unavailable",
           "not recorded: the database is unavailable; send the tap again later");
}

static bool is_code(const char *text, size_t max)
{
    size_t len = strlen(text);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)text[i]) && strchr("_.-", text[i]) == NULL)
            return false;
    }
    return true;
}

/* The listener has checked the frame; this guards the SQL text parameters
 * and the idempotency key built from them. */
static bool tap_well_formed(const struct attendance_tap *tap)
{
    size_t card_len = strnlen(tap->card, sizeof tap->card);
    bool digits = card_len == 19;
    for (size_t i = 0; digits && i < card_len; i++)
        digits = isdigit((unsigned char)tap->card[i]) != 0;
    return digits && tap->sequence >= 1 && tap->terminal_time_ms >= 0 &&
           (tap->direction == ATTENDANCE_IN || tap->direction == ATTENDANCE_OUT) &&
           is_code(tap->terminal, ATTENDANCE_TERMINAL_MAX) &&
           is_code(tap->session, ATTENDANCE_CODE_MAX);
}

static void finish(struct apply_job *job)
{
    job->cb(job->answers, job->n, job->arg);
    free(job->answers);
    free(job->taps);
    free(job);
}

/* ---- check-in ----------------------------------------------------------- */

static void send_check_in(struct apply_job *job);

static bool retryable(const PGresult *res)
{
    const char *state = db_result_sqlstate(res);
    return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
           strcmp(state, "23505") == 0;
}

static void read_tap_in(struct attendance_answer *answer, const PGresult *res)
{
    const char *status = PQgetvalue(res, 0, 0);
    bool duplicate = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (strcmp(status, "applied") != 0) {
        refuse(answer, status, PQgetvalue(res, 0, 2));
        return;
    }
    memset(answer, 0, sizeof *answer);
    answer->status = duplicate ? ATTENDANCE_DUPLICATE : ATTENDANCE_APPLIED;
    answer->attended_minutes = (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL, 10);
    answer->required_minutes = (uint32_t)strtoul(PQgetvalue(res, 0, 4), NULL, 10);
}

static void on_check_in(const PGresult *res, void *arg)
{
    struct apply_job *job = arg;
    if (res == NULL) {
        refuse_unavailable(job);
    } else if (!db_result_ok(res) && retryable(res) && ++job->attempts < CHECK_IN_ATTEMPTS) {
        send_check_in(job);
        return;
    } else if (!db_result_ok(res) || PQntuples(res) != 1 || PQnfields(res) != 5) {
        log_error("attendance: check-in %s:%" PRIu64 " failed: SQLSTATE %s: %s",
                  job->taps[job->next].terminal, job->taps[job->next].sequence,
                  db_result_sqlstate(res), db_result_message(res));
        refuse(current(job), "internal_error", "the tap could not be recorded; send it again");
    } else {
        read_tap_in(current(job), res);
    }
    advance(job);
}

/* Text parameters shared by every statement about one tap. */
struct tap_text {
    char institution[24], sequence[24], time_ms[24], window_s[16];
};

static void tap_text_fill(const struct apply_job *job, const struct attendance_tap *tap,
                          struct tap_text *text)
{
    snprintf(text->institution, sizeof text->institution, "%" PRId64, tap->institution_id);
    snprintf(text->sequence, sizeof text->sequence, "%" PRIu64, tap->sequence);
    snprintf(text->time_ms, sizeof text->time_ms, "%" PRId64, tap->terminal_time_ms);
    snprintf(text->window_s, sizeof text->window_s, "%" PRIu32, job->offline_window_s);
}

static void send_check_in(struct apply_job *job)
{
    const struct attendance_tap *tap = &job->taps[job->next];
    struct tap_text text;
    tap_text_fill(job, tap, &text);
    const char *values[] = {text.institution, tap->terminal, text.sequence, tap->card,
                            tap->session,     text.time_ms,  text.window_s};
    db_run(job->app->db, TAP_IN_SQL, 7, values, on_check_in, job);
}

/* ---- check-out ---------------------------------------------------------- */

/* What a replay must match: everything the tap says beyond its key
 * (institution, terminal, sequence). Fields are codes and digits, so a
 * newline cannot occur inside one. */
static void checkout_digest(const struct attendance_tap *tap, uint8_t digest[RECORD_HASH_LEN])
{
    char content[160];
    int len = snprintf(content, sizeof content, "lcb-checkout-v1\n%s\n%s\n%" PRId64, tap->card,
                       tap->session, tap->terminal_time_ms);
    crypto_sha256(content, (size_t)len, digest);
}

static char *text_param(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *text_param(const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0) {
        log_error("attendance: out of memory");
        abort();
    }
    va_end(ap);
    return out;
}

static void checkout_request(const struct apply_job *job, const struct attendance_tap *tap,
                             struct ledger_request *request)
{
    char digest_hex[2 * RECORD_HASH_LEN + 1];
    memset(request, 0, sizeof *request);
    checkout_digest(tap, request->digest);
    crypto_hex_encode(request->digest, RECORD_HASH_LEN, digest_hex);
    request->institution_id = tap->institution_id;
    snprintf(request->idempotency_key, sizeof request->idempotency_key, "tap:%s:%" PRIu64,
             tap->terminal, tap->sequence);
    /* the same lock key a deposit by card takes: same learner, same order */
    snprintf(request->lock_key, sizeof request->lock_key, "card:%s", tap->card);
    request->prepare_sql = checkout_sql;
    request->nparams = CHECKOUT_NPARAMS;
    char **p = request->params;
    p[0] = text_param("%" PRId64, tap->institution_id);
    p[1] = text_param("%s", tap->terminal);
    p[2] = text_param("%" PRIu64, tap->sequence);
    p[3] = text_param("%s", request->idempotency_key);
    p[4] = text_param("\\x%s", digest_hex);
    p[5] = text_param("%s", tap->card);
    p[6] = text_param("%s", tap->session);
    p[7] = text_param("%" PRId64, tap->terminal_time_ms);
    p[8] = text_param("%" PRIu32, job->offline_window_s);
}

static void on_tap_result(const PGresult *res, void *arg)
{
    struct apply_job *job = arg;
    struct attendance_answer *answer = current(job);
    if (res != NULL && db_result_ok(res) && PQntuples(res) == 1 && PQnfields(res) == 5) {
        answer->attended_minutes = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
        answer->required_minutes = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
        answer->credits = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        snprintf(answer->credit_unit, sizeof answer->credit_unit, "%s", PQgetvalue(res, 0, 4));
    } else {
        /* The check-out is committed: it stays applied, only its figures
         * are missing from this answer. */
        log_warning("attendance: no figures for tap %s:%" PRIu64 ": %s",
                    job->taps[job->next].terminal, job->taps[job->next].sequence,
                    res != NULL ? db_result_message(res) : "database unavailable");
        job->unavailable = job->unavailable || res == NULL;
    }
    advance(job);
}

static void on_check_out(const struct ledger_result *results, size_t n, void *arg)
{
    struct apply_job *job = arg;
    struct attendance_answer *answer = current(job);
    const struct ledger_result *result = &results[0];
    (void)n;
    if (result->status == LEDGER_REJECTED) {
        if (strcmp(result->error.code, "database_unavailable") == 0 ||
            strcmp(result->error.code, "shutting_down") == 0)
            refuse_unavailable(job);
        else
            refuse(answer, result->error.code, result->error.message);
        advance(job);
        return;
    }
    memset(answer, 0, sizeof *answer);
    answer->status = result->status == LEDGER_POSTED ? ATTENDANCE_APPLIED : ATTENDANCE_DUPLICATE;
    const struct attendance_tap *tap = &job->taps[job->next];
    struct tap_text text;
    tap_text_fill(job, tap, &text);
    const char *values[] = {text.institution, tap->terminal, text.sequence};
    db_run(job->app->db, TAP_RESULT_SQL, 3, values, on_tap_result, job);
}

static void send_check_out(struct apply_job *job)
{
    struct ledger_request request;
    checkout_request(job, &job->taps[job->next], &request);
    ledger_submit(job->app->ledger, &request, 1, on_check_out, job);
}

/* ---- the batch ------------------------------------------------------------ */

/* Applies the next tap that needs the database, or answers the batch. */
static void job_step(struct apply_job *job)
{
    for (; job->next < job->n; job->next++) {
        const struct attendance_tap *tap = &job->taps[job->next];
        if (job->unavailable) {
            refuse_unavailable(job);
        } else if (!tap_well_formed(tap)) {
            refuse(current(job), "bad_field", "the tap has a malformed field");
        } else if (tap->direction == ATTENDANCE_IN) {
            send_check_in(job);
            return;
        } else {
            send_check_out(job);
            return;
        }
    }
    finish(job);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job_step(arg);
}

void attendance_apply(struct app *app, const struct attendance_tap *taps, size_t n,
                      uint32_t offline_window_s, attendance_cb cb, void *arg)
{
    struct apply_job *job = checked_calloc(1, sizeof *job);
    job->app = app;
    job->taps = checked_calloc(n, sizeof *job->taps);
    job->answers = checked_calloc(n, sizeof *job->answers);
    if (n > 0)
        memcpy(job->taps, taps, n * sizeof *taps);
    job->n = n;
    job->offline_window_s = offline_window_s;
    job->cb = cb;
    job->arg = arg;
    /* Start from the loop, so cb never runs inside this call. */
    const struct timeval now = {0, 0};
    if (event_base_once(app->base, -1, EV_TIMEOUT, on_start, job, &now) != 0) {
        log_error("attendance: cannot schedule a batch");
        abort();
    }
}

/* ---- gaps ----------------------------------------------------------------- */

struct gaps_job {
    size_t max;
    attendance_gaps_cb cb;
    void *arg;
};

static void on_gaps(const PGresult *res, void *arg)
{
    struct gaps_job *job = arg;
    if (res == NULL || !db_result_ok(res) || PQnfields(res) != 2) {
        if (res != NULL)
            log_error("attendance: gaps: SQLSTATE %s: %s", db_result_sqlstate(res),
                      db_result_message(res));
        job->cb(-1, NULL, 0, false, job->arg);
        free(job);
        return;
    }
    size_t rows = (size_t)PQntuples(res), n = rows < job->max ? rows : job->max;
    struct attendance_gap *gaps = checked_calloc(n, sizeof *gaps);
    for (size_t i = 0; i < n; i++) {
        gaps[i].first = strtoull(PQgetvalue(res, (int)i, 0), NULL, 10);
        gaps[i].last = strtoull(PQgetvalue(res, (int)i, 1), NULL, 10);
    }
    job->cb(0, gaps, n, rows > job->max, job->arg);
    free(gaps);
    free(job);
}

void attendance_gaps(struct app *app, int64_t institution_id, const char *terminal, size_t max,
                     attendance_gaps_cb cb, void *arg)
{
    struct gaps_job *job = checked_calloc(1, sizeof *job);
    char institution[24], limit[24];
    job->max = max > 100000 ? 100000 : max;
    job->cb = cb;
    job->arg = arg;
    snprintf(institution, sizeof institution, "%" PRId64, institution_id);
    /* one more than asked, to know whether there are more */
    snprintf(limit, sizeof limit, "%zu", job->max + 1);
    const char *values[] = {institution, terminal, limit};
    db_run(app->db, GAPS_SQL, 3, values, on_gaps, job);
}
