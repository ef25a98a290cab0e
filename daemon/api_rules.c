/* The routes of accumulation and conversion: a conversion's preview and its
 * execution, reversals, and a learner's transcript. Bodies are checked for
 * shape here; every domain decision (subtree, rule in force, eligible lots,
 * caps, already_reversed, deposit_consumed) is made in sql/004_rules.sql.
 * A posting is answered only after the ledger committed it, never before. */
#include "daemon/api.h"
#include "daemon/validate.h"

#include "daemon/conversion.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/query.h"
#include "daemon/reversal.h"

#include <ctype.h>
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

static bool uuid_valid(const char *s)
{
    if (strlen(s) != RECORD_UUID_TEXT_LEN)
        return false;
    for (int i = 0; i < RECORD_UUID_TEXT_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Refuses fields not in allowed (NULL-terminated); 0 or -1 (answered). */
static int only_fields(struct request *req, const char *const *allowed)
{
    const char *name;
    json_t *value;
    json_object_foreach(req->body, name, value)
    {
        bool known = false;
        for (int i = 0; allowed[i] != NULL; i++)
            known = known || strcmp(name, allowed[i]) == 0;
        if (!known) {
            request_reply_error(req, 400, "unknown_field", "unknown field \"%.64s\"", name);
            return -1;
        }
    }
    return 0;
}

/* A string field (NULL counts as absent) passing valid; copied into out. */
static int string_field(struct request *req, const char *name, bool required,
                        bool (*valid)(const char *), const char *rule, char *out, size_t cap)
{
    json_t *value = json_object_get(req->body, name);
    out[0] = '\0';
    if (value == NULL || json_is_null(value)) {
        if (!required)
            return 0;
        request_reply_error(req, 400, "invalid_field", "%s is required: %s", name, rule);
        return -1;
    }
    const char *s = json_string_value(value);
    if (s == NULL || strlen(s) != json_string_length(value) || strlen(s) >= cap || !valid(s)) {
        request_reply_error(req, 400, "invalid_field", "%s must be %s", name, rule);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static bool key_valid(const char *s)
{
    return validate_text(s, RECORD_KEY_MAX);
}

static bool reason_valid(const char *s)
{
    return validate_text(s, RECORD_REASON_MAX);
}

static int learner_field(struct request *req, int64_t *out)
{
    json_t *value = json_object_get(req->body, "learner");
    if (!json_is_integer(value) || json_integer_value(value) <= 0) {
        request_reply_error(req, 400, "invalid_field", "learner must be a positive integer id");
        return -1;
    }
    *out = json_integer_value(value);
    return 0;
}

static const char code_rule[] = "1-32 letters, digits, '_', '.' or '-'";

/* Reads {learner, rule, programme?}, plus idempotency_key when with_key;
 * 0 or -1 (answered). */
static int read_order(struct request *req, struct conversion_order *order, bool with_key)
{
    static const char *const preview_fields[] = {"learner", "rule", "programme", NULL};
    static const char *const execute_fields[] = {"idempotency_key", "learner", "rule", "programme",
                                                 NULL};
    memset(order, 0, sizeof *order);
    order->institution_id = req->who.institution_id;
    if (only_fields(req, with_key ? execute_fields : preview_fields) != 0)
        return -1;
    if (with_key &&
        string_field(req, "idempotency_key", true, key_valid, "1-128 bytes of printable text",
                     order->idempotency_key, sizeof order->idempotency_key) != 0)
        return -1;
    if (learner_field(req, &order->learner_id) != 0 ||
        string_field(req, "rule", true, validate_code, code_rule, order->rule, sizeof order->rule) !=
            0)
        return -1;
    return string_field(req, "programme", false, validate_code, code_rule, order->programme,
                        sizeof order->programme);
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
    if (read_order(req, &order, false) != 0)
        return;
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
        json_t *doc = json_pack("{s:s,s:{s:s,s:s}}", "status", "rejected", "error", "code",
                                r->error.code, "message", r->error.message);
        request_reply_json(req, request_status_for_code(r->error.code), doc);
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
    if (read_order(req, &order, true) != 0)
        return;
    submit(req, &request, conversion_request(&order, &request));
}

void api_post_reversal(struct request *req)
{
    static const char *const fields[] = {"idempotency_key", "transaction_id", "reason", NULL};
    struct reversal_order order;
    struct ledger_request request;
    memset(&order, 0, sizeof order);
    order.institution_id = req->who.institution_id;
    if (only_fields(req, fields) != 0 ||
        string_field(req, "idempotency_key", true, key_valid, "1-128 bytes of printable text",
                     order.idempotency_key, sizeof order.idempotency_key) != 0 ||
        string_field(req, "transaction_id", true, uuid_valid, "a transaction UUID",
                     order.transaction_id, sizeof order.transaction_id) != 0 ||
        string_field(req, "reason", true, reason_valid, "1-256 bytes of printable text",
                     order.reason, sizeof order.reason) != 0)
        return;
    for (char *c = order.transaction_id; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
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
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > 18 || id[0] == '0' || strspn(id, "0123456789") != len) {
        request_reply_error(req, 400, "invalid_parameter",
                            "the learner id must be a positive integer");
        return;
    }
    char caller[24];
    snprintf(caller, sizeof caller, "%lld", (long long)req->who.institution_id);
    const char *params[] = {id, caller};
    query_run(req, transcript_sql, 2, params, on_transcript);
}
