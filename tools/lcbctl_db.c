/* lcbctl's blocking database access; see lcbctl_db.h. A blocking tool may
 * use plain PQexecParams; lcbd must never borrow this file. */
#include "tools/lcbctl_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Server NOTICEs ("relation exists, skipping") are noise for an operator;
 * warnings are not. */
static void notice_receiver(void *arg, const PGresult *res)
{
    (void)arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (severity != NULL && strcmp(severity, "WARNING") == 0 && primary != NULL)
        fprintf(stderr, "lcbctl: warning: %s\n", primary);
}

/* libpq messages may span lines ("...\n\tIs the server running"); an
 * lcbctl error is one line. */
static void set_one_line(struct lcb_error *err, const char *code, const char *text)
{
    char *out;

    lcb_error_set(err, code, "%s", text);
    out = err->message;
    for (const char *p = err->message; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\t') {
            if (out > err->message && out[-1] != ' ')
                *out++ = ' ';
        } else {
            *out++ = *p;
        }
    }
    while (out > err->message && out[-1] == ' ')
        out--;
    *out = '\0';
}

PGconn *lcbctl_db_connect(const struct lcbctl_ctx *ctx, struct lcb_error *err)
{
    const char *conninfo = ctx->conninfo;
    if (conninfo == NULL)
        conninfo = getenv("LCB_DB");
    if (conninfo == NULL)
        conninfo = ""; /* libpq then reads PGHOST, PGDATABASE, ... */

    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {conninfo, "lcbctl", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);

    if (conn == NULL) {
        lcb_error_set(err, "db_connect", "out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        set_one_line(err, "db_connect", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeReceiver(conn, notice_receiver, NULL);
    return conn;
}

void lcbctl_db_error(const PGresult *res, PGconn *conn, struct lcb_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;

    if (primary == NULL) {
        set_one_line(err, "database_error", PQerrorMessage(conn));
        return;
    }
    if (state != NULL && strcmp(state, "LCB00") == 0) {
        const char *sep = strstr(primary, ": ");
        char code[sizeof err->code];
        size_t code_len = sep ? (size_t)(sep - primary) : 0;
        if (sep != NULL && code_len > 0 && code_len < sizeof code) {
            memcpy(code, primary, code_len);
            code[code_len] = '\0';
            lcb_error_set(err, code, "%s", sep + 2);
            return;
        }
    }
    /* a CHECK constraint is the database's own range check of an argument;
     * its detail would echo the whole row, so name the constraint instead */
    if (state != NULL && strcmp(state, "23514") == 0) {
        const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        lcb_error_set(err, "invalid_argument", "a value is out of range (check constraint %s)",
                      constraint ? constraint : "?");
        return;
    }
    lcb_error_set(err, "database_error", "%s%s%s (SQLSTATE %s)", primary, detail ? "; " : "",
                  detail ? detail : "", state ? state : "?");
}

PGresult *lcbctl_db_exec(PGconn *conn, const char *sql, int n_params, const char *const *params,
                         struct lcb_error *err)
{
    PGresult *res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;
    lcbctl_db_error(res, conn, err);
    PQclear(res);
    return NULL;
}

int lcbctl_db_command(PGconn *conn, const char *sql, int n_params, const char *const *params,
                      struct lcb_error *err)
{
    PGresult *res = lcbctl_db_exec(conn, sql, n_params, params, err);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

int lcbctl_db_run(const struct lcbctl_ctx *ctx, const char *sql, int n_params,
                  const char *const *params)
{
    struct lcb_error err;
    PGconn *conn = lcbctl_db_connect(ctx, &err);
    PGresult *res = NULL;

    if (conn == NULL)
        return lcbctl_fail(&err);
    res = lcbctl_db_exec(conn, sql, n_params, params, &err);
    if (res == NULL)
        goto fail;
    /* a void function's row holds "", which is not worth a line */
    if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0) &&
        PQgetvalue(res, 0, 0)[0] != '\0')
        printf("%s\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return LCBCTL_EXIT_OK;
fail:
    PQfinish(conn);
    return lcbctl_fail(&err);
}
