/* The asynchronous PostgreSQL pool; see db.h. Each connection is a small
 * state machine driven by its socket's events and one timer (reconnect
 * back-off, or the running query's deadline). Never calls a blocking libpq
 * function: PQconnectStart/PQconnectPoll, PQsendQueryParams, PQflush,
 * PQconsumeInput and PQgetResult only after PQisBusy says it will not wait. */
#include "daemon/db.h"

#include "daemon/log.h"

#include <stdlib.h>
#include <string.h>

#define RECONNECT_DELAY_MS 500
#define CONNECT_TIMEOUT_S 5

enum conn_state {
    CONN_DOWN,       /* waiting for the reconnect timer */
    CONN_CONNECTING, /* PQconnectPoll in progress */
    CONN_SETUP,      /* session settings sent */
    CONN_IDLE,       /* in the pool, free */
    CONN_RESERVED,   /* handed to a caller, no statement in flight */
    CONN_QUERY,      /* handed to a caller, statement in flight */
    CONN_BROKEN,     /* handed to a caller, failed; waits for db_release */
};

struct db_conn {
    struct db_pool *pool;
    PGconn *pg;
    enum conn_state state;
    struct event *io;
    struct event *timer;
    PGresult *last_result;
    db_result_cb result_cb;
    void *result_arg;
};

struct waiter {
    db_acquire_cb cb;
    void *arg;
    struct waiter *next;
};

struct db_pool {
    struct event_base *base;
    char *conninfo;
    char setup_sql[128];
    int query_timeout_s;
    int size;
    struct db_conn *conns;
    struct waiter *wait_head, *wait_tail;
    struct event *dispatch_ev;
    bool was_up;
};

static void conn_start(struct db_conn *conn);
static void conn_fail(struct db_conn *conn, const char *why);
static void on_io(evutil_socket_t fd, short what, void *arg);

static void pool_schedule_dispatch(struct db_pool *pool)
{
    event_active(pool->dispatch_ev, EV_TIMEOUT, 0);
}

static void conn_watch(struct db_conn *conn, short what)
{
    if (conn->io != NULL) {
        event_free(conn->io);
        conn->io = NULL;
    }
    if (what == 0)
        return;
    conn->io = event_new(conn->pool->base, PQsocket(conn->pg), what, on_io, conn);
    if (conn->io == NULL || event_add(conn->io, NULL) != 0)
        log_error("db: cannot watch the database socket");
}

static void conn_arm_timer(struct db_conn *conn, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(conn->timer, &tv);
}

static void conn_close(struct db_conn *conn)
{
    conn_watch(conn, 0);
    event_del(conn->timer);
    PQclear(conn->last_result);
    conn->last_result = NULL;
    if (conn->pg != NULL)
        PQfinish(conn->pg);
    conn->pg = NULL;
}

static void conn_schedule_reconnect(struct db_conn *conn)
{
    conn_close(conn);
    conn->state = CONN_DOWN;
    conn_arm_timer(conn, RECONNECT_DELAY_MS);
    pool_schedule_dispatch(conn->pool);
}

static void conn_became_idle(struct db_conn *conn)
{
    conn->state = CONN_IDLE;
    event_del(conn->timer);
    /* Watching an idle socket tells us at once when the server goes away. */
    conn_watch(conn, EV_READ | EV_PERSIST);
    if (!conn->pool->was_up)
        log_info("db: connected to PostgreSQL");
    conn->pool->was_up = true;
    pool_schedule_dispatch(conn->pool);
}

static void conn_finish_statement(struct db_conn *conn)
{
    PGresult *res = conn->last_result;
    conn->last_result = NULL;
    event_del(conn->timer);
    if (conn->state == CONN_SETUP) {
        bool ok = db_result_ok(res);
        PQclear(res);
        if (ok)
            conn_became_idle(conn);
        else
            conn_fail(conn, "session setup failed");
        return;
    }
    conn->state = CONN_RESERVED;
    conn_watch(conn, 0);
    db_result_cb cb = conn->result_cb;
    conn->result_cb = NULL;
    cb(conn, res, conn->result_arg);
    PQclear(res);
}

static void conn_read_results(struct db_conn *conn)
{
    if (PQconsumeInput(conn->pg) == 0) {
        conn_fail(conn, PQerrorMessage(conn->pg));
        return;
    }
    if (conn->state == CONN_IDLE) {
        /* Nothing was asked: a notice, or the server closing the session. */
        PGresult *res;
        while (!PQisBusy(conn->pg) && (res = PQgetResult(conn->pg)) != NULL)
            PQclear(res);
        if (PQstatus(conn->pg) != CONNECTION_OK)
            conn_fail(conn, "connection closed by the server");
        return;
    }
    while (!PQisBusy(conn->pg)) {
        PGresult *res = PQgetResult(conn->pg);
        if (res == NULL) {
            conn_finish_statement(conn);
            return;
        }
        PQclear(conn->last_result);
        conn->last_result = res;
    }
}

static void conn_flush(struct db_conn *conn)
{
    int rc = PQflush(conn->pg);
    if (rc < 0)
        conn_fail(conn, PQerrorMessage(conn->pg));
    else
        conn_watch(conn, (short)(EV_READ | EV_PERSIST | (rc == 1 ? EV_WRITE : 0)));
}

static void on_connect_progress(struct db_conn *conn)
{
    switch (PQconnectPoll(conn->pg)) {
    case PGRES_POLLING_READING:
        conn_watch(conn, EV_READ);
        return;
    case PGRES_POLLING_WRITING:
        conn_watch(conn, EV_WRITE);
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        conn_fail(conn, PQerrorMessage(conn->pg));
        return;
    }
    if (PQsetnonblocking(conn->pg, 1) != 0 || PQsendQuery(conn->pg, conn->pool->setup_sql) == 0) {
        conn_fail(conn, PQerrorMessage(conn->pg));
        return;
    }
    conn->state = CONN_SETUP;
    conn_arm_timer(conn, CONNECT_TIMEOUT_S * 1000L);
    conn_flush(conn);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct db_conn *conn = arg;
    if (conn->state == CONN_CONNECTING) {
        on_connect_progress(conn);
        return;
    }
    if ((what & EV_WRITE) && conn->state != CONN_IDLE) {
        conn_flush(conn);
        if (conn->pg == NULL || conn->state == CONN_BROKEN || conn->state == CONN_DOWN)
            return;
    }
    if (what & EV_READ)
        conn_read_results(conn);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct db_conn *conn = arg;
    if (conn->state == CONN_DOWN)
        conn_start(conn);
    else
        conn_fail(conn, "timed out");
}

static void conn_start(struct db_conn *conn)
{
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *values[] = {conn->pool->conninfo, "lcbd", NULL};
    conn->pg = PQconnectStartParams(keys, values, 1);
    if (conn->pg == NULL || PQstatus(conn->pg) == CONNECTION_BAD) {
        conn_fail(conn, conn->pg ? PQerrorMessage(conn->pg) : "out of memory");
        return;
    }
    conn->state = CONN_CONNECTING;
    conn_arm_timer(conn, CONNECT_TIMEOUT_S * 1000L);
    conn_watch(conn, EV_WRITE);
}

static void conn_fail(struct db_conn *conn, const char *why)
{
    enum conn_state was = conn->state;
    if (conn->pool->was_up && (was == CONN_IDLE || was == CONN_QUERY || was == CONN_RESERVED))
        log_warning("db: connection lost: %.200s", why);
    else
        log_debug("db: connection failed: %.200s", why);
    if (was == CONN_QUERY || was == CONN_RESERVED) {
        /* The caller still holds it: tell it, and let db_release recycle. */
        conn_close(conn);
        conn->state = CONN_BROKEN;
        if (was == CONN_QUERY) {
            db_result_cb cb = conn->result_cb;
            conn->result_cb = NULL;
            cb(conn, NULL, conn->result_arg);
        }
        return;
    }
    conn_schedule_reconnect(conn);
}

static bool pool_can_serve(const struct db_pool *pool)
{
    for (int i = 0; i < pool->size; i++)
        if (pool->conns[i].state != CONN_DOWN)
            return true;
    return false;
}

static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct db_pool *pool = arg;
    for (int i = 0; i < pool->size && pool->wait_head != NULL; i++) {
        struct db_conn *conn = &pool->conns[i];
        if (conn->state != CONN_IDLE)
            continue;
        struct waiter *w = pool->wait_head;
        pool->wait_head = w->next;
        if (pool->wait_head == NULL)
            pool->wait_tail = NULL;
        conn->state = CONN_RESERVED;
        conn_watch(conn, 0);
        w->cb(conn, w->arg);
        free(w);
    }
    if (!pool_can_serve(pool)) {
        if (pool->was_up)
            log_warning("db: PostgreSQL is unreachable; refusing work until it is back");
        pool->was_up = false;
        while (pool->wait_head != NULL) {
            struct waiter *w = pool->wait_head;
            pool->wait_head = w->next;
            w->cb(NULL, w->arg);
            free(w);
        }
        pool->wait_tail = NULL;
    }
}

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size,
                            int query_timeout_s)
{
    struct db_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->base = base;
    pool->size = size;
    pool->query_timeout_s = query_timeout_s;
    snprintf(pool->setup_sql, sizeof pool->setup_sql,
             "SET synchronous_commit TO on; SET statement_timeout TO '%ds'", query_timeout_s);
    pool->conninfo = strdup(conninfo);
    pool->conns = calloc((size_t)size, sizeof *pool->conns);
    pool->dispatch_ev = event_new(base, -1, 0, on_dispatch, pool);
    if (pool->conninfo == NULL || pool->conns == NULL || pool->dispatch_ev == NULL)
        goto fail;
    for (int i = 0; i < size; i++) {
        struct db_conn *conn = &pool->conns[i];
        conn->pool = pool;
        conn->timer = evtimer_new(base, on_timer, conn);
        if (conn->timer == NULL)
            goto fail;
        conn_start(conn);
    }
    return pool;
fail:
    db_pool_free(pool);
    return NULL;
}

void db_pool_free(struct db_pool *pool)
{
    if (pool == NULL)
        return;
    while (pool->wait_head != NULL) {
        struct waiter *w = pool->wait_head;
        pool->wait_head = w->next;
        w->cb(NULL, w->arg);
        free(w);
    }
    for (int i = 0; pool->conns != NULL && i < pool->size; i++) {
        conn_close(&pool->conns[i]);
        if (pool->conns[i].timer != NULL)
            event_free(pool->conns[i].timer);
    }
    if (pool->dispatch_ev != NULL)
        event_free(pool->dispatch_ev);
    free(pool->conns);
    free(pool->conninfo);
    free(pool);
}

bool db_pool_is_up(const struct db_pool *pool)
{
    for (int i = 0; i < pool->size; i++) {
        enum conn_state s = pool->conns[i].state;
        if (s == CONN_IDLE || s == CONN_RESERVED || s == CONN_QUERY)
            return true;
    }
    return false;
}

bool db_pool_busy(const struct db_pool *pool)
{
    if (pool->wait_head != NULL)
        return true;
    for (int i = 0; i < pool->size; i++) {
        enum conn_state s = pool->conns[i].state;
        if (s == CONN_RESERVED || s == CONN_QUERY || s == CONN_BROKEN)
            return true;
    }
    return false;
}

void db_acquire(struct db_pool *pool, db_acquire_cb cb, void *arg)
{
    struct waiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
        log_error("db: out of memory queueing a request");
        abort();
    }
    w->cb = cb;
    w->arg = arg;
    if (pool->wait_tail != NULL)
        pool->wait_tail->next = w;
    else
        pool->wait_head = w;
    pool->wait_tail = w;
    pool_schedule_dispatch(pool);
}

void db_release(struct db_conn *conn)
{
    if (conn->state == CONN_BROKEN) {
        conn_schedule_reconnect(conn);
        return;
    }
    if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE) {
        /* A caller left a transaction open: never hand that to the next one. */
        log_error("db: connection released inside a transaction; resetting it");
        conn_schedule_reconnect(conn);
        return;
    }
    conn_became_idle(conn);
}

int db_query(struct db_conn *conn, const char *sql, int nparams, const char *const *values,
             db_result_cb cb, void *arg)
{
    if (conn->state != CONN_RESERVED ||
        PQsendQueryParams(conn->pg, sql, nparams, NULL, values, NULL, NULL, 0) == 0) {
        if (conn->state == CONN_RESERVED) {
            conn_close(conn);
            conn->state = CONN_BROKEN;
        }
        return -1;
    }
    /* Flushed here rather than through conn_flush so that a failure is
     * reported by the return value, never by a callback inside this call. */
    int flushed = PQflush(conn->pg);
    if (flushed < 0) {
        conn_close(conn);
        conn->state = CONN_BROKEN;
        return -1;
    }
    conn->state = CONN_QUERY;
    conn->result_cb = cb;
    conn->result_arg = arg;
    conn_arm_timer(conn, conn->pool->query_timeout_s * 1000L + 1000);
    conn_watch(conn, (short)(EV_READ | EV_PERSIST | (flushed == 1 ? EV_WRITE : 0)));
    return 0;
}

struct run_job {
    char *sql;
    int nparams;
    char **values;
    db_run_cb cb;
    void *arg;
};

static void run_job_free(struct run_job *job)
{
    for (int i = 0; i < job->nparams; i++)
        free(job->values[i]);
    free(job->values);
    free(job->sql);
    free(job);
}

static void on_run_result(struct db_conn *conn, const PGresult *res, void *arg)
{
    struct run_job *job = arg;
    db_release(conn);
    job->cb(res, job->arg);
    run_job_free(job);
}

static void on_run_conn(struct db_conn *conn, void *arg)
{
    struct run_job *job = arg;
    if (conn != NULL &&
        db_query(conn, job->sql, job->nparams, (const char *const *)job->values, on_run_result,
                 job) == 0)
        return;
    if (conn != NULL)
        db_release(conn);
    job->cb(NULL, job->arg);
    run_job_free(job);
}

void db_run(struct db_pool *pool, const char *sql, int nparams, const char *const *values,
            db_run_cb cb, void *arg)
{
    struct run_job *job = calloc(1, sizeof *job);
    if (job == NULL || (nparams > 0 && (job->values = calloc((size_t)nparams, sizeof *job->values)) == NULL))
        abort();
    job->sql = strdup(sql);
    if (job->sql == NULL)
        abort();
    job->nparams = nparams;
    job->cb = cb;
    job->arg = arg;
    for (int i = 0; i < nparams; i++)
        if (values[i] != NULL && (job->values[i] = strdup(values[i])) == NULL)
            abort();
    db_acquire(pool, on_run_conn, job);
}

bool db_result_ok(const PGresult *res)
{
    if (res == NULL)
        return false;
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

const char *db_result_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

const char *db_result_message(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return s ? s : "no result";
}
