/* The asynchronous PostgreSQL pool: libpq in non-blocking mode, each
 * connection's socket watched by libevent, so nothing here blocks the loop.
 * Connections come back on their own after PostgreSQL restarts. Every
 * session runs with synchronous_commit on: a COMMIT that succeeded is on disk.
 *
 * Ownership: the pool owns its connections and every PGresult it hands to a
 * callback; a callback must not PQclear it and must not keep it. */
#ifndef LCBD_DB_H
#define LCBD_DB_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct db_pool;
struct db_conn;

/* res is NULL when the connection broke or the query timed out: the caller
 * then knows nothing of the query's outcome and must db_release() conn. */
typedef void (*db_result_cb)(struct db_conn *conn, const PGresult *res, void *arg);
/* conn is NULL when the pool could not serve (database down, shutting
 * down): the caller answers database_unavailable. */
typedef void (*db_acquire_cb)(struct db_conn *conn, void *arg);

struct db_pool *db_pool_new(struct event_base *base, const char *conninfo, int size,
                            int query_timeout_s);
/* Closes every connection; callers waiting for a connection get NULL. */
void db_pool_free(struct db_pool *pool);

/* True when at least one connection is up. */
bool db_pool_is_up(const struct db_pool *pool);
/* True while a statement runs, a connection is lent out or a caller waits:
 * graceful shutdown waits for this to end. */
bool db_pool_busy(const struct db_pool *pool);

/* Calls cb (later, from the loop, never from inside this call) with a
 * connection reserved for the caller until db_release. */
void db_acquire(struct db_pool *pool, db_acquire_cb cb, void *arg);
void db_release(struct db_conn *conn);

/* Sends one parameterised statement (text parameters, text results unless
 * binary_results) and calls cb with its last result. Returns -1 (and calls
 * nothing) when the statement could not be sent; the connection is then
 * broken and must be released. */
int db_query(struct db_conn *conn, const char *sql, int nparams, const char *const *values,
             db_result_cb cb, void *arg);

/* One statement on a pooled connection, the common case: acquires, sends
 * (sql and values copied), releases, then calls cb with the result, or
 * with NULL
 * when the database could not answer. res is valid only during cb. */
typedef void (*db_run_cb)(const PGresult *res, void *arg);
void db_run(struct db_pool *pool, const char *sql, int nparams, const char *const *values,
            db_run_cb cb, void *arg);

/* Helpers for callbacks. */
bool db_result_ok(const PGresult *res);
/* SQLSTATE of a failed result, or "" */
const char *db_result_sqlstate(const PGresult *res);
const char *db_result_message(const PGresult *res);

#endif
