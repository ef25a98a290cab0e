/* Group commit; see ledger.h. A group is one database transaction:
 * BEGIN, then per posting its lcb_prepare_* function and lcb_append,
 * then COMMIT; only after COMMIT succeeds does any outcome of the group get
 * its answer. A group of postings whose kind has a batch_sql ("batched")
 * needs four statements whatever its size: BEGIN, every prepare in one
 * statement, every append in one lcb_append_many, COMMIT; between the
 * prepare and the append, the signing thread signs the group's new
 * transactions while the loop serves others (sign_worker.h). If any statement
 * of a group fails, the group is rolled back and its outcomes are retried
 * one transaction each ("solo"), so one outcome's trouble never sinks the
 * others. A broken connection answers every unfinished outcome with
 * database_unavailable: not acknowledged, safe to retry with the same
 * idempotency key; a COMMIT cut off midway is settled by key first
 * (ledger_settle.c). */
#include "daemon/ledger.h"

#include "daemon/ledger_group.h"
#include "daemon/posting.h"
#include "daemon/posting_batch.h"
#include "daemon/log.h"
#include "daemon/sign_worker.h"
#include "daemon/signer.h"

#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

#define SOLO_ATTEMPTS 3

static void group_next(struct group *g);
static void group_run_transaction_end(struct group *g);

void ledger_answer(struct pending *p, const struct ledger_result *result)
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

void ledger_answer_unavailable(struct pending *p, const char *code)
{
    struct ledger_result result;
    memset(&result, 0, sizeof result);
    result.status = LEDGER_REJECTED;
    lcb_error_set(&result.error, code,
                  "not recorded: the database is unavailable; retry with the same idempotency key");
    ledger_answer(p, &result);
}

const struct ledger_request *ledger_request_of(const struct pending *p)
{
    return &p->batch->items[p->index];
}

/* Lock order: always take learners' rows in the same order, so two groups
 * (or two lcbd processes) never wait for each other in a cycle. */
static int member_order(const void *a, const void *b)
{
    const struct ledger_request *x = ledger_request_of(*(struct pending *const *)a);
    const struct ledger_request *y = ledger_request_of(*(struct pending *const *)b);
    return strcmp(x->lock_key, y->lock_key);
}

void ledger_group_free(struct group *g)
{
    struct ledger *ledger = g->ledger;
    if (g->settle_timer != NULL)
        event_free(g->settle_timer);
    ledger->groups_in_flight--;
    ledger->in_groups -= g->n;
    free(g->batch_signed);
    free(g->appends);
    free(g->digests);
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
        ledger_answer_unavailable(g->members[i], "database_unavailable");
    ledger_group_free(g);
}

static void on_statement(struct db_conn *conn, const PGresult *res, void *arg);

static void group_send(struct group *g, enum group_step step, const char *sql, int nparams,
                       const char *const *values)
{
    g->step = step;
    if (db_query(g->conn, sql, nparams, values, on_statement, g) == 0)
        return;
    if (step == STEP_COMMIT)
        ledger_group_settle(g); /* part of it may have reached the server */
    else
        group_abandon(g, g->solo ? g->solo_first : 0);
}

static void group_begin(struct group *g)
{
    group_send(g, STEP_BEGIN, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL);
}

static void group_prepare_current(struct group *g)
{
    const struct ledger_request *request = ledger_request_of(g->members[g->cursor]);
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
    struct signer *signer = g->ledger->app->signer;
    if (posting_read_prepared(res, 0, ledger_request_of(p), signer_key_id(signer), &verdict,
                              &g->signed_tx, &p->tentative, &err) != 0 ||
        (verdict == POSTING_APPEND &&
         signer_sign(signer, g->signed_tx.hash, g->signed_tx.signature, &err) != 0)) {
        log_error("ledger: %s: %s", err.code, err.message);
        group_fail(g, err.message);
        return;
    }
    if (verdict != POSTING_APPEND) {
        group_next(g);
        return;
    }
    posting_append_params(&g->signed_tx, ledger_request_of(p)->digest, &g->params);
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
        requests[i] = ledger_request_of(g->members[i]);
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

static void on_group_signed(const struct lcb_error *err, void *arg);

/* Reads every member's prepared row and hands the fresh ones to the signing
 * thread. Members refused or answered as replays are part of the
 * transaction too: their answers wait for its COMMIT. */
static void on_prepared_batch(struct group *g, const PGresult *res)
{
    if (PQntuples(res) != (int)g->n) {
        group_fail(g, "a batched prepare did not answer one row per posting");
        return;
    }
    g->n_appends = 0;
    const char *key_id = signer_key_id(g->ledger->app->signer);
    for (size_t i = 0; i < g->n; i++) {
        struct pending *p = g->members[i];
        enum posting_verdict verdict;
        struct lcb_error err;
        lcb_error_clear(&err);
        if (posting_read_prepared(res, (int)i, ledger_request_of(p), key_id, &verdict,
                                  &g->batch_signed[i], &p->tentative, &err) != 0) {
            log_error("ledger: %s: %s", err.code, err.message);
            group_fail(g, err.message);
            return;
        }
        if (verdict == POSTING_APPEND) {
            g->appends[g->n_appends] = &g->batch_signed[i];
            g->digests[g->n_appends++] = ledger_request_of(p)->digest;
        }
    }
    g->cursor = g->n; /* every member belongs to this transaction */
    if (g->n_appends == 0) {
        group_send(g, STEP_COMMIT, "COMMIT", 0, NULL);
        return;
    }
    g->step = STEP_SIGN_BATCH;
    g->sign_job.txs = g->appends;
    g->sign_job.n = g->n_appends;
    g->sign_job.done = on_group_signed;
    g->sign_job.arg = g;
    sign_worker_submit(g->ledger->signing, &g->sign_job);
}

/* Back from the signing thread: append every signed transaction at once. */
static void on_group_signed(const struct lcb_error *err, void *arg)
{
    struct group *g = arg;
    if (err != NULL) {
        log_error("ledger: %s: %s", err->code, err->message);
        group_fail(g, err->message);
        return;
    }
    struct posting_arrays arrays;
    if (posting_append_arrays((const struct posting_signed *const *)g->appends, g->digests,
                              g->n_appends, &arrays) != 0) {
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
        ledger_answer(p, &p->tentative);
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
    log_error("ledger: posting %s refused after %d attempts: %s",
              ledger_request_of(p)->idempotency_key, SOLO_ATTEMPTS, why);
    memset(&p->tentative, 0, sizeof p->tentative);
    p->tentative.status = LEDGER_REJECTED;
    lcb_error_set(&p->tentative.error, "internal_error", "the posting could not be recorded: %s", why);
    ledger_answer(p, &p->tentative);
    g->members[g->solo_first] = NULL;
    g->cursor = g->solo_first + 1;
    group_run_transaction_end(g);
}

static void group_run_transaction_end(struct group *g)
{
    if (g->cursor == g->n) {
        db_release(g->conn);
        ledger_group_free(g);
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
            ledger_group_settle(g);
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
    case STEP_SIGN_BATCH:
        return; /* never: no statement is under way while a group is signed */
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
        if (strcmp(ledger_request_of(members[i])->lock_key, lock_key) == 0)
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
    const char *batch_sql = ledger_request_of(ledger->queue_head)->batch_sql;
    *batched = batch_sql != NULL;
    size_t n = 0, looked = 0;
    struct pending *prev = NULL, *p = ledger->queue_head;
    while (p != NULL && n < max && looked++ < 4 * max) {
        const struct ledger_request *request = ledger_request_of(p);
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
        g->appends = calloc(n, sizeof *g->appends);
        g->digests = calloc(n, sizeof *g->digests);
        if (g->batch_signed == NULL || g->appends == NULL || g->digests == NULL) {
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
    struct lcb_error err;
    lcb_error_clear(&err);
    ledger->signing = sign_worker_new(app->base, app->signer, &err);
    if (ledger->signing == NULL)
        log_error("ledger: %s", err.message);
    ledger->kick = event_new(app->base, -1, 0, on_kick, ledger);
    ledger->fill_timer = evtimer_new(app->base, on_fill_waited, ledger);
    if (ledger->signing == NULL || ledger->kick == NULL || ledger->fill_timer == NULL) {
        ledger_free(ledger);
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
        ledger_answer_unavailable(p, "shutting_down");
    }
    sign_worker_free(ledger->signing);
    if (ledger->fill_timer != NULL)
        event_free(ledger->fill_timer);
    if (ledger->kick != NULL)
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
