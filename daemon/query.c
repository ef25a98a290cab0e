/* One parameterised statement on behalf of an API request; see query.h.
 * Every database failure is answered here, so route callbacks only ever see
 * a successful result. Never builds SQL text from input, never tells the
 * client more than a stable code (details go to the log); the pool's
 * db_run owns the connection. */
#include "daemon/query.h"

#include "daemon/db.h"
#include "daemon/log.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* SQLSTATE that sql/ raises for domain refusals (lcb_fail). */
#define QUERY_DOMAIN_SQLSTATE "LCB00"
/* SQLSTATE unique_violation: two requests raced to create the same thing. */
#define QUERY_UNIQUE_SQLSTATE "23505"

struct query_job {
    struct request *req;
    query_done_cb done;
};

static void reply_unavailable(struct request *req)
{
    request_reply_error(req, 503, "database_unavailable",
                        "the database is unavailable; retry later");
}

const char *query_domain_error(const char *message, char *code_out, size_t cap)
{
    if (message == NULL || cap == 0)
        return NULL;
    size_t len = 0;
    while (islower((unsigned char)message[len]) || isdigit((unsigned char)message[len]) ||
           message[len] == '_')
        len++;
    if (len == 0 || len >= cap || !islower((unsigned char)message[0]) || message[len] != ':' ||
        message[len + 1] != ' ')
        return NULL;
    memcpy(code_out, message, len);
    code_out[len] = '\0';
    return message + len + 2;
}

/* Answers a failed statement: a domain refusal with its own code, anything
 * else as an internal error whose details only the log sees. */
static void reply_failure(struct request *req, const PGresult *res)
{
    const char *sqlstate = db_result_sqlstate(res);
    const char *message = db_result_message(res);
    if (strcmp(sqlstate, QUERY_DOMAIN_SQLSTATE) == 0) {
        char code[48];
        const char *text = query_domain_error(message, code, sizeof code);
        if (text != NULL) {
            request_reply_error(req, request_status_for_code(code), code, "%s", text);
            return;
        }
    }
    if (strcmp(sqlstate, QUERY_UNIQUE_SQLSTATE) == 0) {
        /* The functions in sql/ check for duplicates first; this is the
         * narrow race where two requests passed that check together. */
        log_warning("query: concurrent duplicate: %s", message);
        request_reply_error(req, request_status_for_code("conflict"), "conflict",
                            "a concurrent request changed the same record; retry");
        return;
    }
    log_error("query: statement failed: SQLSTATE %s: %s", sqlstate, message);
    request_reply_error(req, 500, "internal_error", "the request could not be completed");
}

static void on_result(const PGresult *res, void *arg)
{
    struct query_job *job = arg;
    struct request *req = job->req;
    query_done_cb done = job->done;
    free(job);
    if (res == NULL)
        reply_unavailable(req);
    else if (!db_result_ok(res))
        reply_failure(req, res);
    else
        done(req, res);
}

void query_run(struct request *req, const char *sql, int nparams, const char *const *values,
               query_done_cb done)
{
    struct query_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        log_error("query: out of memory");
        request_reply_error(req, 500, "internal_error", "out of memory");
        return;
    }
    job->req = req;
    job->done = done;
    db_run(req->app->db, sql, nparams, values, on_result, job);
}
