/* lcbctl's blocking database access: connecting (--db, LCB_DB or libpq's
 * PG* variables) and running parameterised statements whose errors become
 * lcb errors. Values always travel as parameters, never inside SQL text. */
#ifndef LCBCTL_DB_H
#define LCBCTL_DB_H

#include "lib/error.h"
#include "tools/lcbctl.h"

#include <libpq-fe.h>

/* A connection, or NULL with err "db_connect". Caller frees with PQfinish. */
PGconn *lcbctl_db_connect(const struct lcbctl_ctx *ctx, struct lcb_error *err);

/* Runs sql with text parameters (NULL = SQL NULL). Returns the result when it
 * succeeded (caller PQclears it); NULL otherwise, with err set: an lcb
 * refusal (SQLSTATE LCB00, "code: text") keeps its code and text. */
PGresult *lcbctl_db_exec(PGconn *conn, const char *sql, int n_params, const char *const *params,
                         struct lcb_error *err);

/* lcbctl_db_exec for statements whose result is not needed (BEGIN, ...). */
int lcbctl_db_command(PGconn *conn, const char *sql, int n_params, const char *const *params,
                      struct lcb_error *err);

/* Fills err from a failed result (res may be NULL: conn's message is used). */
void lcbctl_db_error(const PGresult *res, PGconn *conn, struct lcb_error *err);

/* The whole life of a one-statement command: connects, runs sql, prints the
 * first column of the first row (unless there is none, or it is NULL or
 * empty), and returns the exit status. */
int lcbctl_db_run(const struct lcbctl_ctx *ctx, const char *sql, int n_params,
                  const char *const *params);

#endif
