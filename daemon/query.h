/* Run one parameterised statement for an API request and hand its result to
 * a callback; the common path of every read and administrative route.
 * Database trouble is answered here, so callbacks see only successes:
 * no connection -> 503 database_unavailable; SQLSTATE LCB00 "code: text"
 * (a domain refusal raised in sql/) -> that code with its HTTP status;
 * anything else -> 500 internal_error, logged. */
#ifndef LCBD_QUERY_H
#define LCBD_QUERY_H

#include "daemon/request.h"

#include <libpq-fe.h>

/* res is valid only during the call; the callback must answer req (or start
 * another query_run). */
typedef void (*query_done_cb)(struct request *req, const PGresult *res);

/* values are copied; NULL entries are SQL NULLs. */
void query_run(struct request *req, const char *sql, int nparams, const char *const *values,
               query_done_cb done);

/* Splits a PostgreSQL error message "code: text" raised by lcb_fail(); copies
 * code into code_out (cap bytes) and returns the text, or NULL when the
 * message is not of that shape. */
const char *query_domain_error(const char *message, char *code_out, size_t cap);

#endif
