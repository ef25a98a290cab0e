/* Settling an ambiguous COMMIT, for ledger.c (see ledger_group.h).
 *
 * The connection broke while COMMIT was under way: the transaction may or
 * may not have committed. Before answering, look each posting up by its
 * idempotency key on a fresh connection: found with our transaction id, it
 * committed and is acknowledged; not found, it did not and is refused
 * (retry is safe). Until the database answers (or request_timeout_s runs
 * out), nothing is said; what stays unknown is never acknowledged. */
#include "daemon/ledger_group.h"

#include "daemon/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SETTLE_RETRY_MS 500

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
            ledger_answer_unavailable(g->members[i], "database_unavailable");
    ledger_group_free(g);
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
        ledger_answer(p, &p->tentative);
    } else {
        ledger_answer_unavailable(p, "database_unavailable");
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
        ledger_answer_unavailable(g->members[g->settle_next], "database_unavailable");
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
    const struct ledger_request *request = ledger_request_of(g->members[g->settle_next]);
    char institution[24];
    snprintf(institution, sizeof institution, "%lld", (long long)request->institution_id);
    const char *values[] = {institution, request->idempotency_key};
    if (db_query(g->conn, settle_sql, 2, values, on_settled, g) != 0) {
        db_release(g->conn);
        g->conn = NULL;
        db_acquire(g->ledger->app->db, on_settle_connection, g);
    }
}

void ledger_group_settle(struct group *g)
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
