/* The administrative HTTPS routes: institutions, catalogue items, learners
 * and their cards. Every body field is checked for type and range before
 * any SQL runs (api_parse_admin.c); each change is one parameterised
 * statement that also checks the caller's subtree, so a refusal changes
 * nothing. Never stores, logs or echoes an identity document number: only
 * its keyed hash leaves api_parse_admin.c.
 *
 * Error codes: invalid_field, unknown_field, invalid_card and
 * invalid_parameter come from api_parse_admin.c; outside_subtree from the
 * guard below; institution_exists, institution_not_found, unit_not_found,
 * course_exists, learner_exists, learner_not_found, card_not_found,
 * card_not_active, card_exists, invalid_region and invalid_parent from sql/
 * (LCB00, via query.c). */
#include "daemon/api.h"
#include "daemon/api_parse.h"

#include "daemon/log.h"
#include "daemon/query.h"

#include <stdlib.h>
#include <string.h>

/* Answers a refusal of api_parse_*: 400 for a malformed request, 500 when it
 * could not be prepared. */
static void reply_refusal(struct request *req, const struct lcb_error *err)
{
    request_reply_error(req, request_status_for_code(err->code), err->code, "%s", err->message);
}

/* A validated string field, or NULL when absent. */
static const char *body_string(const struct request *req, const char *name)
{
    return json_string_value(json_object_get(req->body, name));
}

/* ---- SQL: every statement of this file -------------------------------- */

/* clang-format off */
/* SQL reads best laid out by hand. */

/* Every write below is one statement shaped by SQL_GUARDED: it finds the
 * institution that owns the target (home), refuses when there is none or
 * when it is outside the caller's subtree ($1), and only then runs action.
 * CASE evaluates action lazily and OFFSET 0 keeps the planner from
 * duplicating it, so a refusal changes nothing. Columns: refusal code,
 * refusal message, action's result. */
#define SQL_GUARDED(home, missing_code, missing_message, outside_message, action)                  \
    "SELECT g.refusal, g.message, CASE WHEN g.refusal IS NULL THEN " action " END "                \
    "FROM (SELECT CASE WHEN h.home IS NULL THEN '" missing_code "' "                               \
    "                  WHEN NOT h.inside THEN 'outside_subtree' END AS refusal, "                  \
    "             CASE WHEN h.home IS NULL THEN " missing_message " "                              \
    "                  WHEN NOT h.inside THEN " outside_message " END AS message "                 \
    "      FROM (SELECT x.home, lcb_in_subtree($1::bigint, x.home) AS inside "                     \
    "            FROM (SELECT (" home ") AS home) x) h OFFSET 0) g"

#define SQL_HOME_OF_CODE(param) "SELECT id FROM institutions WHERE code = " param
#define SQL_HOME_OF_LEARNER(param) "SELECT institution_id FROM learners WHERE id = " param
#define SQL_HOME_OF_CARD(param)                                                                    \
    "SELECT l.institution_id FROM cards c JOIN learners l ON l.id = c.learner_id "                 \
    "WHERE c.number = " param

/* $1 caller, $2 code, $3 name, $4 kind, $5 parent, $6 region */
static const char institution_sql[] =
    SQL_GUARDED(SQL_HOME_OF_CODE("$5::text"), "institution_not_found",
                "'no institution with code ' || $5::text",
                "'parent ' || $5::text || ' is outside your institution''s subtree'",
                "lcb_add_institution($2::text, $3::text, $4::text, $5::text, $6::text)");

/* $1 caller, $2 code, $3 kind, $4 owner, $5 title, $6 unit, $7 credit_value,
 * $8 required_minutes, $9 level */
static const char item_sql[] =
    SQL_GUARDED(SQL_HOME_OF_CODE("$4::text"), "institution_not_found",
                "'no institution with code ' || $4::text",
                "'owner ' || $4::text || ' is outside your institution''s subtree'",
                "lcb_add_catalogue_item($2::text, $3::text, $4::text, $5::text, $6::text, "
                "$7::bigint, $8::integer, $9::smallint)");

/* $1 caller, $2 id_hash (hex), $3 name, $4 institution, $5 region or NULL.
 * The learner and its first card are one statement, so one transaction:
 * a refused card leaves no learner behind. */
static const char learner_sql[] =
    "SELECT r.refusal, r.message, r.learner, "
    "       CASE WHEN r.learner IS NOT NULL AND $5::text IS NOT NULL "
    "            THEN lcb_issue_card(r.learner, $5::text) END "
    "FROM (" SQL_GUARDED(SQL_HOME_OF_CODE("$4::text"), "institution_not_found",
                         "'no institution with code ' || $4::text",
                         "'institution ' || $4::text || ' is outside your institution''s subtree'",
                         "lcb_add_learner(decode($2::text, 'hex'), $3::text, $4::text)")
    " OFFSET 0) r (refusal, message, learner)";

/* $1 caller, $2 learner id, $3 region */
static const char card_issue_sql[] =
    SQL_GUARDED(SQL_HOME_OF_LEARNER("$2::bigint"), "learner_not_found",
                "'no learner ' || $2::bigint",
                "'learner ' || $2::bigint || ' is outside your institution''s subtree'",
                "lcb_issue_card($2::bigint, $3::text)");

#define SQL_CARD_GUARDED(action)                                                                   \
    SQL_GUARDED(SQL_HOME_OF_CARD("$2::text"), "card_not_found", "'no card ' || $2::text",          \
                "'the holder of card ' || $2::text || ' is outside your institution''s subtree'",  \
                action)

/* $1 caller, $2 card (and $3 region for replace) */
static const char card_lost_sql[] = SQL_CARD_GUARDED("lcb_report_card_lost($2::text)");
static const char card_cancel_sql[] = SQL_CARD_GUARDED("lcb_cancel_card($2::text)");
static const char card_replace_sql[] = SQL_CARD_GUARDED("lcb_replace_card($2::text, $3::text)");
/* clang-format on */

/* Answers a refusal row from SQL_GUARDED; false when there was none and the
 * action ran (its result is column 2). */
static bool guard_refused(struct request *req, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQnfields(res) < 3) {
        log_error("api: a guarded statement returned %d rows", PQntuples(res));
        request_reply_error(req, 500, "internal_error", "the request could not be completed");
        return true;
    }
    if (PQgetisnull(res, 0, 0))
        return false;
    const char *code = PQgetvalue(res, 0, 0);
    request_reply_error(req, request_status_for_code(code), code, "%s", PQgetvalue(res, 0, 1));
    return true;
}

static json_int_t column_int(const PGresult *res, int col)
{
    return (json_int_t)strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* Sends doc, or 500 when building it failed (out of memory). */
static void reply_created(struct request *req, int status, json_t *doc)
{
    if (doc == NULL) {
        request_reply_error(req, 500, "internal_error", "out of memory");
        return;
    }
    request_reply_json(req, status, doc);
}

/* ---- POST /v1/institutions ----------------------------------------------- */

static void on_institution(struct request *req, const PGresult *res)
{
    if (guard_refused(req, res))
        return;
    reply_created(
        req, 201,
        json_pack("{s:s,s:I}", "institution", body_string(req, "code"), "id", column_int(res, 2)));
}

void api_post_institution(struct request *req)
{
    struct api_params params;
    struct lcb_error err;
    if (api_parse_institution(req->body, req->who.institution_id, &params, &err) != 0) {
        reply_refusal(req, &err);
        return;
    }
    query_run(req, institution_sql, params.n, params.values, on_institution);
}

/* ---- POST /v1/catalogue -------------------------------------------------- */

static void on_item(struct request *req, const PGresult *res)
{
    if (guard_refused(req, res))
        return;
    reply_created(req, 201,
                  json_pack("{s:s,s:s,s:I}", "item", body_string(req, "code"), "kind",
                            body_string(req, "kind"), "id", column_int(res, 2)));
}

void api_post_catalogue_item(struct request *req)
{
    struct api_params params;
    struct lcb_error err;
    if (api_parse_catalogue_item(req->body, req->who.institution_id, &params, &err) != 0) {
        reply_refusal(req, &err);
        return;
    }
    query_run(req, item_sql, params.n, params.values, on_item);
}

/* ---- POST /v1/learners --------------------------------------------------- */

static void on_learner(struct request *req, const PGresult *res)
{
    if (guard_refused(req, res))
        return;
    bool has_card = !PQgetisnull(res, 0, 3);
    reply_created(req, 201,
                  json_pack("{s:I,s:s?}", "learner", column_int(res, 2), "card",
                            has_card ? PQgetvalue(res, 0, 3) : NULL));
}

void api_post_learner(struct request *req)
{
    struct api_params params;
    struct lcb_error err;
    if (api_parse_learner(req->body, req->who.institution_id, req->app->id_secret,
                          req->app->id_secret_len, &params, &err) != 0) {
        if (strcmp(err.code, "internal_error") == 0)
            log_error("api: HMAC of an identity document failed");
        reply_refusal(req, &err);
        return;
    }
    query_run(req, learner_sql, params.n, params.values, on_learner);
}

/* ---- POST /v1/learners/{id}/cards ---------------------------------------- */

static void on_card_issue(struct request *req, const PGresult *res)
{
    if (guard_refused(req, res))
        return;
    reply_created(req, 201,
                  json_pack("{s:s,s:I}", "card", PQgetvalue(res, 0, 2), "learner",
                            (json_int_t)strtoll(req->path_args[0], NULL, 10)));
}

void api_post_learner_card(struct request *req)
{
    struct api_params params;
    struct lcb_error err;
    if (api_parse_learner_card(req->path_args[0], req->body, req->who.institution_id, &params,
                               &err) != 0) {
        reply_refusal(req, &err);
        return;
    }
    query_run(req, card_issue_sql, params.n, params.values, on_card_issue);
}

/* ---- POST /v1/cards/{card}/lost, /cancel, /replace ------------------------ */

static void reply_card_status(struct request *req, const PGresult *res, const char *status)
{
    if (guard_refused(req, res))
        return;
    reply_created(req, 200, json_pack("{s:s,s:s}", "card", req->path_args[0], "status", status));
}

static void on_card_lost(struct request *req, const PGresult *res)
{
    reply_card_status(req, res, "lost");
}

static void on_card_cancel(struct request *req, const PGresult *res)
{
    reply_card_status(req, res, "cancelled");
}

static void on_card_replace(struct request *req, const PGresult *res)
{
    if (guard_refused(req, res))
        return;
    reply_created(req, 200,
                  json_pack("{s:s,s:s,s:s}", "card", req->path_args[0], "status", "replaced",
                            "replaced_by", PQgetvalue(res, 0, 2)));
}

static void card_change(struct request *req, enum api_card_change change, const char *sql,
                        query_done_cb done)
{
    struct api_params params;
    struct lcb_error err;
    if (api_parse_card_change(change, req->path_args[0], req->body, req->who.institution_id,
                              &params, &err) != 0) {
        reply_refusal(req, &err);
        return;
    }
    query_run(req, sql, params.n, params.values, done);
}

void api_post_card_lost(struct request *req)
{
    card_change(req, API_CARD_LOST, card_lost_sql, on_card_lost);
}

void api_post_card_cancel(struct request *req)
{
    card_change(req, API_CARD_CANCEL, card_cancel_sql, on_card_cancel);
}

void api_post_card_replace(struct request *req)
{
    card_change(req, API_CARD_REPLACE, card_replace_sql, on_card_replace);
}
