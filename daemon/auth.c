/* Credential lookup; see auth.h. Never trusts the certificate's subject
 * text for authority: role and institution come from the database row. */
#include "daemon/auth.h"

#include "daemon/db.h"
#include "daemon/log.h"
#include "lib/crypto.h"

#include <stdlib.h>
#include <string.h>

struct auth_job {
    char fingerprint_hex[2 * 32 + 3];
    auth_cb cb;
    void *arg;
};

static const char lookup_sql[] =
    "SELECT c.role, c.institution_id, i.code, c.subject, "
    "       c.revoked_at IS NOT NULL, c.not_after < now() "
    "FROM credentials c JOIN institutions i ON i.id = c.institution_id "
    "WHERE c.fingerprint = decode($1, 'hex')";

static enum role role_from_name(const char *name)
{
    if (strcmp(name, "administrator") == 0)
        return ROLE_ADMINISTRATOR;
    if (strcmp(name, "institution") == 0)
        return ROLE_INSTITUTION;
    if (strcmp(name, "terminal") == 0)
        return ROLE_TERMINAL;
    return ROLE_AUDITOR;
}

static void on_result(struct db_conn *conn, const PGresult *res, void *arg)
{
    struct auth_job *job = arg;
    struct identity who;
    enum auth_outcome outcome = AUTH_UNAVAILABLE;
    memset(&who, 0, sizeof who);
    if (!db_result_ok(res)) {
        if (res != NULL)
            log_error("auth: credential lookup failed: %s", db_result_message(res));
    } else if (PQntuples(res) != 1) {
        outcome = AUTH_UNKNOWN;
    } else if (strcmp(PQgetvalue(res, 0, 4), "t") == 0) {
        outcome = AUTH_REVOKED;
    } else if (strcmp(PQgetvalue(res, 0, 5), "t") == 0) {
        outcome = AUTH_EXPIRED;
    } else {
        outcome = AUTH_OK;
        who.role = role_from_name(PQgetvalue(res, 0, 0));
        who.institution_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        snprintf(who.institution_code, sizeof who.institution_code, "%s", PQgetvalue(res, 0, 2));
        snprintf(who.subject, sizeof who.subject, "%s", PQgetvalue(res, 0, 3));
    }
    db_release(conn);
    job->cb(outcome, outcome == AUTH_OK ? &who : NULL, job->arg);
    free(job);
}

static void on_conn(struct db_conn *conn, void *arg)
{
    struct auth_job *job = arg;
    const char *params[] = {job->fingerprint_hex};
    if (conn != NULL && db_query(conn, lookup_sql, 1, params, on_result, job) == 0)
        return;
    if (conn != NULL)
        db_release(conn);
    job->cb(AUTH_UNAVAILABLE, NULL, job->arg);
    free(job);
}

void auth_lookup(struct app *app, const uint8_t fingerprint[32], auth_cb cb, void *arg)
{
    struct auth_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cb(AUTH_UNAVAILABLE, NULL, arg);
        return;
    }
    crypto_hex_encode(fingerprint, 32, job->fingerprint_hex);
    job->cb = cb;
    job->arg = arg;
    db_acquire(app->db, on_conn, job);
}
