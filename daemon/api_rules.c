/* The routes of accumulation and conversion: a conversion's preview and its
 * execution, reversals, and a learner's transcript. Bodies are checked for
 * shape in api_parse.c; every domain decision (subtree, rule in force,
 * eligible lots, caps, already_reversed, deposit_consumed) is made in
 * sql/004_rules.sql.
 * A posting is answered only after the ledger committed it, never before. */
#include "daemon/api.h"
#include "daemon/api_parse.h"
#include "daemon/validate.h"

#include "daemon/conversion.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/query.h"
#include "daemon/reversal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
static const char preview_sql[] =
    "SELECT lcb_preview_conversion($1::bigint, $2::bigint, $3, $4)";

/* Rows: inside subtree, the transcript (NULL outside). */
static const char transcript_sql[] =
    "SELECT s.inside, CASE WHEN s.inside THEN lcb_transcript(l.id) END "
    "FROM learners l "
    "CROSS JOIN LATERAL (SELECT lcb_in_subtree($2::bigint, l.institution_id) AS inside) s "
    "WHERE l.id = $1::bigint";
/* clang-format on */

/* Answers a refusal of api_parse_* (a malformed body: 400). */
static void reply_refusal(struct request *req, const struct lcb_error *err)
{
    request_reply_error(req, request_status_for_code(err->code), err->code, "%s", err->message);
}

/* ---- POST /v1/conversions/preview ------------------------------------------ */

static void on_preview(struct request *req, const PGresult *res)
{
    json_error_t jerr;
    json_t *doc = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                      ? json_loads(PQgetvalue(res, 0, 0), 0, &jerr)
                      : NULL;
    if (doc == NULL) {
        log_error("api: conversion preview: unexpected result");
        request_reply_error(req, 500, "internal_error", "the request could not be completed");
        return;
    }
    request_reply_json(req, 200, doc);
}

void api_post_conversion_preview(struct request *req)
{
    struct conversion_order order;
    struct lcb_error err;
    if (api_parse_conversion(req->body, req->who.institution_id, false, &order, &err) != 0) {
        reply_refusal(req, &err);
        return;
    }
    char caller[24], learner[24];
    snprintf(caller, sizeof caller, "%lld", (long long)order.institution_id);
    snprintf(learner, sizeof learner, "%lld", (long long)order.learner_id);
    const char *params[] = {caller, learner, order.rule,
                            order.programme[0] ? order.programme : NULL};
    query_run(req, preview_sql, 4, params, on_preview);
}

/* ---- POST /v1/conversions and POST /v1/reversals --------------------------- */

/* One posting's answer, shaped like an item of POST /v1/outcomes; the HTTP
 * status is the refusal's own (503 when not recorded: retry the same key). */
static void on_posted(const struct ledger_result *results, size_t n, void *arg)
{
    struct request *req = arg;
    const struct ledger_result *r = &results[0];
    (void)n;
    if (r->status == LEDGER_REJECTED) {
        int status = request_status_for_code(r->error.code);
        json_t *doc = json_pack("{s:s,s:{s:s,s:s}}", "status", "rejected", "error", "code",
                                r->error.code, "message", r->error.message);
        if (status == 401 || status == 403) /* logged as request_reply_error would */
            request_log_refusal(req, r->error.code, "%s", r->error.message);
        request_reply_json(req, status, doc);
        return;
    }
    request_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:s}", "status",
                                 r->status == LEDGER_POSTED ? "posted" : "duplicate",
                                 "transaction_id", r->transaction_id, "hash", r->hash_hex));
}

static void submit(struct request *req, struct ledger_request *request, int built)
{
    if (built != 0) {
        request_reply_error(req, 500, "internal_error", "out of memory");
        return;
    }
    ledger_submit(req->app->ledger, request, 1, on_posted, req);
}

void api_post_conversion(struct request *req)
{
    struct conversion_order order;
    struct ledger_request request;
    struct lcb_error err;
    if (api_parse_conversion(req->body, req->who.institution_id, true, &order, &err) != 0) {
        reply_refusal(req, &err);
        return;
    }
    submit(req, &request, conversion_request(&order, &request));
}

void api_post_reversal(struct request *req)
{
    struct reversal_order order;
    struct ledger_request request;
    struct lcb_error err;
    if (api_parse_reversal(req->body, req->who.institution_id, &order, &err) != 0) {
        reply_refusal(req, &err);
        return;
    }
    submit(req, &request, reversal_request(&order, &request));
}

/* ---- GET /v1/learners/{id}/transcript --------------------------------------- */

static void on_transcript(struct request *req, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        request_reply_error(req, 404, "learner_not_found", "no learner %s", req->path_args[0]);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        request_reply_error(req, 403, "outside_subtree",
                            "the learner is outside your institution's subtree");
        return;
    }
    json_error_t jerr;
    json_t *doc = PQgetisnull(res, 0, 1) ? NULL : json_loads(PQgetvalue(res, 0, 1), 0, &jerr);
    if (doc == NULL) {
        log_error("api: transcript: unexpected result");
        request_reply_error(req, 500, "internal_error", "the request could not be completed");
        return;
    }
    request_reply_json(req, 200, doc);
}

void api_get_learner_transcript(struct request *req)
{
    const char *id = req->path_args[0];
    long long learner;
    if (!validate_positive_id(id, &learner)) {
        request_reply_error(req, 400, "invalid_parameter",
                            "the learner id must be a positive integer");
        return;
    }
    char caller[24];
    snprintf(caller, sizeof caller, "%lld", (long long)req->who.institution_id);
    const char *params[] = {id, caller};
    query_run(req, transcript_sql, 2, params, on_transcript);
}
