/* Group commit; see ledger.h. A group is one database transaction:
 * BEGIN, then per posting its lcb_prepare_* function and lcb_append,
 * then COMMIT; only after COMMIT succeeds does any outcome of the group get
 * its answer. A group of postings whose kind has a batch_sql ("batched")
 * needs four statements whatever its size: BEGIN, every prepare in one
 * statement, every append in one lcb_append_many, COMMIT. If any statement
 * of a group fails, the group is rolled back and its outcomes are retried
 * one transaction each ("solo"), so one outcome's trouble never sinks the
 * others. A broken connection answers every unfinished outcome with
 * database_unavailable: not acknowledged, safe to retry with the same
 * idempotency key. */
#include "daemon/ledger.h"

#include "daemon/db.h"
#include "daemon/posting.h"
#include "daemon/posting_batch.h"
#include "daemon/log.h"
#include "daemon/signer.h"

#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SOLO_ATTEMPTS 3
#define SETTLE_RETRY_MS 500

struct batch {
    ledger_done_cb done;
    void *arg;
    size_t n, remaining;
    struct ledger_request *items;
    struct ledger_result *results;
};

struct pending {
    struct batch *batch;
    size_t index;
    struct pending *next;
    struct ledger_result tentative; /* answered only once committed */
};

enum group_step {
    STEP_REGISTER_KEY, STEP_BEGIN, STEP_PREPARE, STEP_APPEND, STEP_PREPARE_BATCH, STEP_APPEND_BATCH,
    STEP_COMMIT, STEP_ROLLBACK
};

struct group {
    struct ledger *ledger;
    struct db_conn *conn;
    struct pending **members;
    size_t n;
    size_t cursor;     /* member being worked on */
    size_t solo_first; /* in solo mode: first member of the current transaction */
    bool solo;
    int solo_attempts;
    /* Batched: one posting per lock key, prepared and appended together
     * until a failure sends the group solo. batch_signed[i] is member i's
     * signed transaction. */
    bool batched;
    struct posting_signed *batch_signed;
    enum group_step step;
    struct posting_signed signed_tx;
    struct posting_params params;
    char failure[320]; /* why the transaction is being rolled back */
    /* Settling an ambiguous COMMIT: members [settle_next, cursor) are still
     * to be looked up by key; unknown ones are never acknowledged. */
    size_t settle_next;
    struct event *settle_timer;
    int64_t settle_deadline_ms;
};

struct ledger {
    struct app *app;
    struct pending *queue_head, *queue_tail;
    size_t queued;
    size_t in_groups;
    int groups_in_flight;
    bool key_registered;
    struct event *kick;
    /* group_commit_wait_ms: armed while postings wait to fill a group
     * beside running ones; when it fires, they start with what there is. */
    struct event *fill_timer;
    bool fill_waited;
};

static void group_next(struct group *g);
static void group_run_transaction_end(struct group *g);

static void answer(struct pending *p, const struct ledger_result *result)
{
    struct batch *b = p->batch;
    b->results[p->index] = *result;
    for (int i = 0; i < b->items[p->index].nparams; i++)
        free(b->items[p->index].params[i]);
    if (--b->remaining == 0) {
        b->done(b->results, b->n, b->arg);
        free(b->items);
        free(b->results);
        free(b);
    }
    free(p);
}

static void answer_unavailable(struct pending *p, const char *code)
{
    struct ledger_result result;
    memset(&result, 0, sizeof result);
    result.status = LEDGER_REJECTED;
    lcb_error_set(&result.error, code,
                  "not recorded: the database is unavailable; retry with the same idempotency key");
    answer(p, &result);
}

static const struct ledger_request *request_of(const struct pending *p)
{
    return &p->batch->items[p->index];
}

/* Lock order: always take learners' rows in the same order, so two groups
 * (or two lcbd processes) never wait for each other in a cycle. */
static int member_order(const void *a, const void *b)
{
    const struct ledger_request *x = request_of(*(struct pending *const *)a);
    const struct ledger_request *y = request_of(*(struct pending *const *)b);
    return strcmp(x->lock_key, y->lock_key);
}

static void group_free(struct group *g)
{
    struct ledger *ledger = g->ledger;
    if (g->settle_timer != NULL)
        event_free(g->settle_timer);
    ledger->groups_in_flight--;
    ledger->in_groups -= g->n;
    free(g->batch_signed);
    free(g->members);
    free(g);
    event_active(ledger->kick, EV_TIMEOUT, 0);
}

/* The connection broke or could not be had: nothing unanswered is known. */
static void group_abandon(struct group *g, size_t from)
{
    if (g->conn != NULL)
        db_release(g->conn);
    for (size_t i = from; i < g->n; i++)
        answer_unavailable(g->members[i], "database_unavailable");
    group_free(g);
}

static void on_statement(struct db_conn *conn, const PGresult *res, void *arg);
static void group_settle(struct group *g);

static void group_send(struct group *g, enum group_step step, const char *sql, int nparams,
                       const char *const *values)
{
    g->step = step;
    if (db_query(g->conn, sql, nparams, values, on_statement, g) == 0)
        return;
    if (step == STEP_COMMIT)
        group_settle(g); /* part of it may have reached the server */
    else
        group_abandon(g, g->solo ? g->solo_first : 0);
}

static void group_begin(struct group *g)
{
    group_send(g, STEP_BEGIN, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL);
}

static void group_prepare_current(struct group *g)
{
    const struct ledger_request *request = request_of(g->members[g->cursor]);
    group_send(g, STEP_PREPARE, request->prepare_sql, request->nparams,
               (const char *const *)request->params);
}

/* Where the next statement goes after member g->cursor is settled. */
static void group_next(struct group *g)
{
    g->cursor++;
    bool end_of_transaction = g->solo || g->cursor == g->n;
    if (end_of_transaction)
        group_send(g, STEP_COMMIT, "COMMIT", 0, NULL);
    else
        group_prepare_current(g);
}

static void group_fail(struct group *g, const char *why)
{
    snprintf(g->failure, sizeof g->failure, "%s", why);
    group_send(g, STEP_ROLLBACK, "ROLLBACK", 0, NULL);
}

static void on_prepared(struct group *g, const PGresult *res)
{
    struct pending *p = g->members[g->cursor];
    enum posting_verdict verdict;
    struct lcb_error err;
    lcb_error_clear(&err);
    if (PQntuples(res) != 1) {
        group_fail(g, "a prepare function did not answer one row");
        return;
    }
    if (posting_read_prepared(res, 0, request_of(p), g->ledger->app->signer, &verdict, &g->signed_tx,
                              &p->tentative, &err) != 0) {
        log_error("ledger: %s: %s", err.code, err.message);
        group_fail(g, err.message);
        return;
    }
    if (verdict != POSTING_APPEND) {
        group_next(g);
        return;
    }
    posting_append_params(&g->signed_tx, request_of(p)->digest, &g->params);
    group_send(g, STEP_APPEND, POSTING_APPEND_SQL, POSTING_APPEND_NPARAMS, g->params.values);
}

/* Every member's prepare in one statement: batch_sql with parameter k of
 * every member as one array (members are in lock order). */
static void group_prepare_batch(struct group *g)
{
    const struct ledger_request **requests = malloc(g->n * sizeof *requests);
    struct posting_arrays arrays;
    if (requests == NULL) {
        group_fail(g, "out of memory");
        return;
    }
    for (size_t i = 0; i < g->n; i++)
        requests[i] = request_of(g->members[i]);
    if (posting_prepare_arrays(requests, g->n, &arrays) != 0) {
        free(requests);
        group_fail(g, "the group's prepare parameters could not be built");
        return;
    }
    /* libpq copies the parameters into its output buffer at once. */
    group_send(g, STEP_PREPARE_BATCH, requests[0]->batch_sql, arrays.n,
               (const char *const *)arrays.values);
    posting_arrays_free(&arrays);
    free(requests);
}

/* Reads every member's prepared row, signs the fresh ones and appends them
 * all with lcb_append_many. Members refused or answered as replays are
 * part of the transaction too: their answers wait for its COMMIT. */
static void on_prepared_batch(struct group *g, const PGresult *res)
{
    if (PQntuples(res) != (int)g->n) {
        group_fail(g, "a batched prepare did not answer one row per posting");
        return;
    }
    const struct posting_signed **appends = malloc(g->n * sizeof *appends);
    const uint8_t **digests = malloc(g->n * sizeof *digests);
    if (appends == NULL || digests == NULL) {
        free(appends);
        free(digests);
        group_fail(g, "out of memory");
        return;
    }
    size_t n_appends = 0;
    for (size_t i = 0; i < g->n; i++) {
        struct pending *p = g->members[i];
        enum posting_verdict verdict;
        struct lcb_error err;
        lcb_error_clear(&err);
        if (posting_read_prepared(res, (int)i, request_of(p), g->ledger->app->signer, &verdict,
                                  &g->batch_signed[i], &p->tentative, &err) != 0) {
            log_error("ledger: %s: %s", err.code, err.message);
            free(appends);
            free(digests);
            group_fail(g, err.message);
            return;
        }
        if (verdict == POSTING_APPEND) {
            appends[n_appends] = &g->batch_signed[i];
            digests[n_appends++] = request_of(p)->digest;
        }
    }
    g->cursor = g->n; /* every member belongs to this transaction */
    if (n_appends == 0) {
        free(appends);
        free(digests);
        group_send(g, STEP_COMMIT, "COMMIT", 0, NULL);
        return;
    }
    struct posting_arrays arrays;
    int built = posting_append_arrays(appends, digests, n_appends, &arrays);
    free(appends);
    free(digests);
    if (built != 0) {
        group_fail(g, "the group's append parameters could not be built");
        return;
    }
    group_send(g, STEP_APPEND_BATCH, POSTING_APPEND_MANY_SQL, arrays.n,
               (const char *const *)arrays.values);
    posting_arrays_free(&arrays);
}

/* COMMIT returned: the members of this transaction may now be answered. */
static void group_committed(struct group *g)
{
    size_t first = g->solo ? g->solo_first : 0;
    for (size_t i = first; i < g->cursor; i++) {
        struct pending *p = g->members[i];
        if (p->tentative.status == LEDGER_POSTED)
            g->ledger->app->counters.postings++;
        answer(p, &p->tentative);
        g->members[i] = NULL;
    }
    group_run_transaction_end(g);
}

/* Whether a group's failure is one its design expects: lcb's own checks
 * (LCB00: a moved chain head), a unique key taken twice (class 23) or a
 * serialization failure or deadlock (class 40). Anything else, such as a
 * statement PostgreSQL cannot run, means the batch path is broken: its
 * postings still go through one by one, only slower, so it must be seen. */
static bool group_conflict(const char *why)
{
    return strncmp(why, "LCB00", 5) == 0 || strncmp(why, "23", 2) == 0 ||
           strncmp(why, "40", 2) == 0;
}

/* A statement failed inside the transaction: roll back, then go solo. */
static void group_rolled_back(struct group *g, const char *why)
{
    if (!g->solo) {
        if (group_conflict(why))
            log_info("ledger: group of %zu rolled back (%s); retrying one by one", g->n, why);
        else
            log_warning("ledger: group of %zu failed unexpectedly (%s); retrying one by one",
                        g->n, why);
        g->solo = true;
        g->cursor = 0;
        g->solo_first = 0;
        g->solo_attempts = 0;
        group_begin(g);
        return;
    }
    struct pending *p = g->members[g->solo_first];
    if (++g->solo_attempts < SOLO_ATTEMPTS) {
        g->cursor = g->solo_first;
        group_begin(g);
        return;
    }
    log_error("ledger: posting %s refused after %d attempts: %s", request_of(p)->idempotency_key,
              SOLO_ATTEMPTS, why);
    memset(&p->tentative, 0, sizeof p->tentative);
    p->tentative.status = LEDGER_REJECTED;
    lcb_error_set(&p->tentative.error, "internal_error", "the posting could not be recorded: %s", why);
    answer(p, &p->tentative);
    g->members[g->solo_first] = NULL;
    g->cursor = g->solo_first + 1;
    group_run_transaction_end(g);
}

static void group_run_transaction_end(struct group *g)
{
    if (g->cursor == g->n) {
        db_release(g->conn);
        group_free(g);
        return;
    }
    g->solo_first = g->cursor;
    g->solo_attempts = 0;
    group_begin(g);
}

static void on_statement(struct db_conn *conn, const PGresult *res, void *arg)
{
    (void)conn;
    struct group *g = arg;
    if (res == NULL) {
        if (g->step == STEP_COMMIT)
            group_settle(g);
        else
            group_abandon(g, g->solo ? g->solo_first : 0);
        return;
    }
    if (!db_result_ok(res)) {
        if (g->step == STEP_ROLLBACK || g->step == STEP_REGISTER_KEY) {
            log_error("ledger: %s", db_result_message(res));
            group_abandon(g, g->solo ? g->solo_first : 0);
            return;
        }
        snprintf(g->failure, sizeof g->failure, "%s %s", db_result_sqlstate(res),
                 db_result_message(res));
        /* A failed COMMIT has already ended the transaction. */
        if (g->step == STEP_COMMIT)
            group_rolled_back(g, g->failure);
        else
            group_send(g, STEP_ROLLBACK, "ROLLBACK", 0, NULL);
        return;
    }
    switch (g->step) {
    case STEP_REGISTER_KEY:
        g->ledger->key_registered = true;
        group_begin(g);
        return;
    case STEP_BEGIN:
        if (g->batched && !g->solo)
            group_prepare_batch(g);
        else
            group_prepare_current(g);
        return;
    case STEP_PREPARE:
        on_prepared(g, res);
        return;
    case STEP_APPEND:
        group_next(g);
        return;
    case STEP_PREPARE_BATCH:
        on_prepared_batch(g, res);
        return;
    case STEP_APPEND_BATCH:
        group_send(g, STEP_COMMIT, "COMMIT", 0, NULL);
        return;
    case STEP_COMMIT:
        group_committed(g);
        return;
    case STEP_ROLLBACK:
        group_rolled_back(g, g->failure);
        return;
    }
}

/* ---- settling an ambiguous COMMIT ------------------------------------------
 * The connection broke while COMMIT was under way: the transaction may or
 * may not have committed. Before answering, look each posting up by its
 * idempotency key on a fresh connection: found with our transaction id, it
 * committed and is acknowledged; not found, it did not and is refused
 * (retry is safe). Until the database answers (or request_timeout_s runs
 * out), nothing is said; what stays unknown is never acknowledged. */

static const char settle_sql[] =
    "SELECT id FROM transactions WHERE institution_id = $1 AND idempotency_key = $2";

static void settle_next(struct group *g);

static void settle_finish(struct group *g)
{
    if (g->conn != NULL)
        db_release(g->conn);
    g->conn = NULL;
    for (size_t i = g->settle_next; i < g->n; i++)
        if (g->members[i] != NULL)
            answer_unavailable(g->members[i], "database_unavailable");
    group_free(g);
}

static void on_settled(struct db_conn *conn, const PGresult *res, void *arg)
{
    (void)conn;
    struct group *g = arg;
    struct pending *p = g->members[g->settle_next];
    if (res == NULL) {
        g->conn = NULL;
        db_release(conn);
        settle_next(g); /* retry this member on another connection */
        return;
    }
    if (!db_result_ok(res))
        log_error("ledger: settling %s: %s", p->tentative.transaction_id, db_result_message(res));
    bool committed = db_result_ok(res) && PQntuples(res) == 1 &&
                     strcmp(PQgetvalue(res, 0, 0), p->tentative.transaction_id) == 0;
    if (committed) {
        log_info("ledger: ambiguous COMMIT settled: %s is recorded", p->tentative.transaction_id);
        g->ledger->app->counters.postings++;
        answer(p, &p->tentative);
    } else {
        answer_unavailable(p, "database_unavailable");
    }
    g->members[g->settle_next++] = NULL;
    settle_next(g);
}

static void on_settle_connection(struct db_conn *conn, void *arg);

static void on_settle_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct group *g = arg;
    db_acquire(g->ledger->app->db, on_settle_connection, g);
}

static void on_settle_connection(struct db_conn *conn, void *arg)
{
    struct group *g = arg;
    g->conn = conn;
    if (conn == NULL) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        struct timeval retry = {0, SETTLE_RETRY_MS * 1000};
        if (now_ms >= g->settle_deadline_ms || evtimer_add(g->settle_timer, &retry) != 0) {
            log_warning("ledger: ambiguous COMMIT of %zu postings unsettled; not acknowledged",
                        g->cursor - g->settle_next);
            settle_finish(g);
        }
        return;
    }
    settle_next(g);
}

static void settle_next(struct group *g)
{
    while (g->settle_next < g->cursor && g->members[g->settle_next] != NULL &&
           g->members[g->settle_next]->tentative.status != LEDGER_POSTED) {
        /* A refusal or replay inside a lost transaction proves nothing. */
        answer_unavailable(g->members[g->settle_next], "database_unavailable");
        g->members[g->settle_next++] = NULL;
    }
    if (g->settle_next >= g->cursor) {
        settle_finish(g);
        return;
    }
    if (g->conn == NULL) {
        db_acquire(g->ledger->app->db, on_settle_connection, g);
        return;
    }
    const struct ledger_request *request = request_of(g->members[g->settle_next]);
    char institution[24];
    snprintf(institution, sizeof institution, "%lld", (long long)request->institution_id);
    const char *values[] = {institution, request->idempotency_key};
    if (db_query(g->conn, settle_sql, 2, values, on_settled, g) != 0) {
        db_release(g->conn);
        g->conn = NULL;
        db_acquire(g->ledger->app->db, on_settle_connection, g);
    }
}

static void group_settle(struct group *g)
{
    log_warning("ledger: connection lost during COMMIT; settling %zu postings by key",
                g->cursor - (g->solo ? g->solo_first : 0));
    db_release(g->conn);
    g->conn = NULL;
    g->settle_next = g->solo ? g->solo_first : 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    g->settle_deadline_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
                            (int64_t)g->ledger->app->cfg->request_timeout_s * 1000;
    g->settle_timer = evtimer_new(g->ledger->app->base, on_settle_timer, g);
    if (g->settle_timer == NULL) {
        settle_finish(g);
        return;
    }
    settle_next(g);
}

static void on_connection(struct db_conn *conn, void *arg)
{
    struct group *g = arg;
    g->conn = conn;
    if (conn == NULL) {
        group_abandon(g, 0);
        return;
    }
    if (g->ledger->key_registered) {
        group_begin(g);
        return;
    }
    /* Verifiers find public keys by id; register ours before first use. */
    struct signer *signer = g->ledger->app->signer;
    const char *values[] = {signer_key_id(signer), signer_public_pem(signer)};
    group_send(g, STEP_REGISTER_KEY,
               "INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2) "
               "ON CONFLICT (key_id) DO NOTHING",
               2, values);
}

static bool lock_key_taken(struct pending *const *members, size_t n, const char *lock_key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(request_of(members[i])->lock_key, lock_key) == 0)
            return true;
    return false;
}

/* Takes up to max postings off the queue into members. A batched group
 * takes the postings of the head's batch_sql, at most one per lock key:
 * the others stay queued, in order, for a later group that sees this one's
 * appends. Otherwise the head's postings are taken as they come. */
static size_t take_members(struct ledger *ledger, struct pending **members, size_t max,
                           bool *batched)
{
    const char *batch_sql = request_of(ledger->queue_head)->batch_sql;
    *batched = batch_sql != NULL;
    size_t n = 0, looked = 0;
    struct pending *prev = NULL, *p = ledger->queue_head;
    while (p != NULL && n < max && looked++ < 4 * max) {
        const struct ledger_request *request = request_of(p);
        struct pending *next = p->next;
        if (*batched && request->batch_sql != batch_sql)
            break; /* keep the queue's order across kinds */
        if (*batched && lock_key_taken(members, n, request->lock_key)) {
            prev = p;
            p = next;
            continue;
        }
        members[n++] = p;
        if (prev != NULL)
            prev->next = next;
        else
            ledger->queue_head = next;
        if (ledger->queue_tail == p)
            ledger->queue_tail = prev;
        p->next = NULL;
        p = next;
    }
    return n;
}

static void start_group(struct ledger *ledger)
{
    size_t max = ledger->queued;
    if (max > (size_t)ledger->app->cfg->group_commit_max)
        max = (size_t)ledger->app->cfg->group_commit_max;
    struct group *g = calloc(1, sizeof *g);
    struct pending **members = calloc(max, sizeof *members);
    if (g == NULL || members == NULL) {
        log_error("ledger: out of memory");
        abort();
    }
    g->ledger = ledger;
    g->members = members;
    g->n = take_members(ledger, members, max, &g->batched);
    size_t n = g->n;
    if (g->batched) {
        g->batch_signed = calloc(n, sizeof *g->batch_signed);
        if (g->batch_signed == NULL) {
            log_error("ledger: out of memory");
            abort();
        }
    }
    ledger->queued -= n;
    ledger->in_groups += n;
    ledger->groups_in_flight++;
    qsort(members, n, sizeof *members, member_order);
    db_acquire(ledger->app->db, on_connection, g);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ledger *ledger = arg;
    const struct lcbd_config *cfg = ledger->app->cfg;
    /* Each group pays its statements and its flush however few it holds:
     * a group beside running ones waits until group_commit_min postings
     * can share them (or group_commit_wait_ms, so that a group stuck on a
     * lock holds the others back no longer), and beyond
     * group_commits_at_once until it will be full. The first group never
     * waits, so an idle bank answers at once. */
    int most = config_group_commits_at_once(cfg);
    while (ledger->queued > 0 && ledger->groups_in_flight < cfg->db_connections) {
        bool alone = ledger->groups_in_flight == 0;
        bool may_add = ledger->groups_in_flight < most;
        bool filled = ledger->queued >= (size_t)cfg->group_commit_min || ledger->fill_waited;
        bool full = ledger->queued >= (size_t)cfg->group_commit_max;
        if (!alone && !(may_add && filled) && !full) {
            if (may_add && !evtimer_pending(ledger->fill_timer, NULL)) {
                struct timeval wait = {cfg->group_commit_wait_ms / 1000,
                                       (cfg->group_commit_wait_ms % 1000) * 1000};
                if (evtimer_add(ledger->fill_timer, &wait) != 0)
                    log_error("ledger: cannot arm the group fill timer");
            }
            return;
        }
        start_group(ledger);
        ledger->fill_waited = false;
        evtimer_del(ledger->fill_timer);
    }
}

static void on_fill_waited(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ledger *ledger = arg;
    ledger->fill_waited = true;
    on_kick(-1, EV_TIMEOUT, ledger);
}

void ledger_digest(const char *const *fields, size_t n, uint8_t digest[RECORD_HASH_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort();
    for (size_t i = 0; i < n; i++) {
        uint32_t field_len = (uint32_t)strlen(fields[i]);
        uint8_t be[4] = {(uint8_t)(field_len >> 24), (uint8_t)(field_len >> 16),
                         (uint8_t)(field_len >> 8), (uint8_t)field_len};
        if (EVP_DigestUpdate(md, be, sizeof be) != 1 ||
            EVP_DigestUpdate(md, fields[i], field_len) != 1)
            abort();
    }
    if (EVP_DigestFinal_ex(md, digest, &len) != 1 || len != RECORD_HASH_LEN)
        abort();
    EVP_MD_CTX_free(md);
}

struct ledger *ledger_new(struct app *app)
{
    struct ledger *ledger = calloc(1, sizeof *ledger);
    if (ledger == NULL)
        return NULL;
    ledger->app = app;
    log_info("ledger: %d commit groups at once, up to %d while the postings waiting fill "
             "groups of %d; a group beside a running one once %d wait or after %d ms",
             config_group_commits_at_once(app->cfg), app->cfg->db_connections,
             app->cfg->group_commit_max, app->cfg->group_commit_min,
             app->cfg->group_commit_wait_ms);
    ledger->kick = event_new(app->base, -1, 0, on_kick, ledger);
    ledger->fill_timer = evtimer_new(app->base, on_fill_waited, ledger);
    if (ledger->kick == NULL || ledger->fill_timer == NULL) {
        if (ledger->kick != NULL)
            event_free(ledger->kick);
        free(ledger);
        return NULL;
    }
    return ledger;
}

void ledger_free(struct ledger *ledger)
{
    if (ledger == NULL)
        return;
    while (ledger->queue_head != NULL) {
        struct pending *p = ledger->queue_head;
        ledger->queue_head = p->next;
        answer_unavailable(p, "shutting_down");
    }
    event_free(ledger->fill_timer);
    event_free(ledger->kick);
    free(ledger);
}

void ledger_submit(struct ledger *ledger, const struct ledger_request *items, size_t n,
                   ledger_done_cb done, void *arg)
{
    struct batch *b = calloc(1, sizeof *b);
    if (b != NULL) {
        b->items = malloc(n * sizeof *b->items);
        b->results = calloc(n, sizeof *b->results);
    }
    if (b == NULL || b->items == NULL || b->results == NULL) {
        log_error("ledger: out of memory");
        abort();
    }
    memcpy(b->items, items, n * sizeof *items);
    b->done = done;
    b->arg = arg;
    b->n = b->remaining = n;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = calloc(1, sizeof *p);
        if (p == NULL)
            abort();
        p->batch = b;
        p->index = i;
        if (ledger->queue_tail != NULL)
            ledger->queue_tail->next = p;
        else
            ledger->queue_head = p;
        ledger->queue_tail = p;
        ledger->queued++;
    }
    event_active(ledger->kick, EV_TIMEOUT, 0);
}

size_t ledger_pending(const struct ledger *ledger)
{
    return ledger->queued + ledger->in_groups;
}
