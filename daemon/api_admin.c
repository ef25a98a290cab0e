/* The administrative HTTPS routes: institutions, catalogue items, learners
 * and their cards. Every body field is checked for type and range before
 * any SQL runs; each change is one parameterised statement that also checks
 * the caller's subtree, so a refusal changes nothing. Never stores, logs or
 * echoes an identity document number: only its keyed hash leaves here.
 *
 * Error codes: invalid_field, unknown_field, invalid_card, invalid_parameter
 * and outside_subtree are raised here; institution_exists,
 * institution_not_found, unit_not_found, course_exists, learner_exists,
 * learner_not_found, card_not_found, card_not_active, card_exists,
 * invalid_region and invalid_parent come from sql/ (LCB00, via query.c). */
#include "daemon/api.h"
#include "daemon/validate.h"

#include "daemon/log.h"
#include "daemon/query.h"
#include "lib/card.h"
#include "lib/crypto.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_DOCUMENT_MAX 64

enum field_type {
    FIELD_CODE,        /* ^[A-Za-z0-9_.-]{1,32}$, as the schema's CHECK */
    FIELD_TEXT,        /* min..max characters, no control characters */
    FIELD_REGION,      /* 6-digit GB/T 2260 code */
    FIELD_UNIT,        /* ^[a-z][a-z0-9_]{0,15}$ */
    FIELD_CHOICE,      /* one of choices */
    FIELD_INTEGER,     /* a JSON integer in min..max */
    FIELD_ID_DOCUMENT, /* 1..64 printable ASCII characters, no spaces */
};

struct field {
    const char *name;
    enum field_type type;
    bool required;
    long long min, max;
    const char *const *choices; /* NULL-terminated */
};

static const char *const institution_kinds[] = {
    "district_centre",
    "branch_centre",
    "learning_point",
    "vocational_school",
    "training_provider",
    "online_platform",
    NULL,
};
static const char *const item_kinds[] = {"course", "certificate", NULL};

static bool unit_valid(const char *s)
{
    size_t len = strlen(s);
    return len >= 1 && len <= 16 && islower((unsigned char)s[0]) &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

/* Length in characters (jansson has already checked the UTF-8), or -1 when
 * the text holds a control character. */
static long long text_chars(const char *s)
{
    long long chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        if ((*p & 0xc0) != 0x80)
            chars++;
    }
    return chars;
}

static bool id_document_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > ID_DOCUMENT_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

static bool choice_valid(const char *s, const char *const *choices)
{
    for (; *choices != NULL; choices++)
        if (strcmp(s, *choices) == 0)
            return true;
    return false;
}

static int string_check(const json_t *value, const struct field *f, struct lcb_error *err)
{
    const char *s = json_string_value(value);
    /* A string with an embedded NUL would be cut short below: refuse it. */
    if (s == NULL || strlen(s) != json_string_length(value))
        return lcb_error_set(err, "invalid_field", "%s must be a string", f->name);
    long long chars;
    switch (f->type) {
    case FIELD_CODE:
        if (!validate_code(s))
            return lcb_error_set(err, "invalid_field",
                                 "%s must be 1-32 letters, digits, '_', '.' or '-'", f->name);
        return 0;
    case FIELD_TEXT:
        chars = text_chars(s);
        if (chars < f->min || chars > f->max)
            return lcb_error_set(err, "invalid_field",
                                 "%s must be %lld to %lld characters without control characters",
                                 f->name, f->min, f->max);
        return 0;
    case FIELD_REGION:
        if (!card_region_code_valid(s))
            return lcb_error_set(err, "invalid_field",
                                 "%s must be a 6-digit region code (GB/T 2260)", f->name);
        return 0;
    case FIELD_UNIT:
        if (!unit_valid(s))
            return lcb_error_set(err, "invalid_field",
                                 "%s must be a unit code: a lower-case letter, then up to 15 "
                                 "lower-case letters, digits or '_'",
                                 f->name);
        return 0;
    case FIELD_CHOICE:
        if (!choice_valid(s, f->choices))
            return lcb_error_set(err, "invalid_field", "%s is not one of the allowed values",
                                 f->name);
        return 0;
    case FIELD_ID_DOCUMENT:
        /* The message never repeats the value: it is a citizen's identity. */
        if (!id_document_valid(s))
            return lcb_error_set(err, "invalid_field",
                                 "%s must be 1-%d printable characters without spaces", f->name,
                                 ID_DOCUMENT_MAX);
        return 0;
    case FIELD_INTEGER:
        break;
    }
    return lcb_error_set(err, "invalid_field", "%s has the wrong type", f->name);
}

static int field_check(const json_t *value, const struct field *f, struct lcb_error *err)
{
    if (f->type != FIELD_INTEGER)
        return string_check(value, f, err);
    /* json_is_integer is false for 3.0 and for numbers beyond int64. */
    if (!json_is_integer(value))
        return lcb_error_set(err, "invalid_field", "%s must be an integer", f->name);
    json_int_t n = json_integer_value(value);
    if (n < f->min || n > f->max)
        return lcb_error_set(err, "invalid_field", "%s must be from %lld to %lld", f->name, f->min,
                             f->max);
    return 0;
}

/* Checks a request body against its fields: unknown names first, then each
 * field in order. A JSON null counts as absent. Fills err at the first
 * problem and returns -1; 0 when the body may go to the database. */
static int body_check(const json_t *body, const struct field *fields, size_t n,
                      struct lcb_error *err)
{
    json_t *object = (json_t *)body; /* jansson's iterators take no const */
    for (void *it = json_object_iter(object); it != NULL; it = json_object_iter_next(object, it)) {
        const char *key = json_object_iter_key(it);
        size_t i = 0;
        while (i < n && strcmp(key, fields[i].name) != 0)
            i++;
        if (i == n)
            return lcb_error_set(err, "unknown_field", "unknown field \"%.64s\"", key);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *value = json_object_get(body, fields[i].name);
        if (value == NULL || json_is_null(value)) {
            if (fields[i].required)
                return lcb_error_set(err, "invalid_field", "%s is required", fields[i].name);
            continue;
        }
        if (field_check(value, &fields[i], err) != 0)
            return -1;
    }
    return 0;
}

/* body_check, answering 400 itself; true when the request may go on. */
static bool body_ok(struct request *req, const struct field *fields, size_t n)
{
    struct lcb_error err;
    json_t *empty = NULL;
    const json_t *body = req->body;
    if (body == NULL)
        body = empty = json_object();
    int rc = body_check(body, fields, n, &err);
    json_decref(empty);
    if (rc != 0)
        request_reply_error(req, 400, err.code, "%s", err.message);
    return rc == 0;
}

/* A validated string field, or NULL when absent. */
static const char *body_string(const struct request *req, const char *name)
{
    return json_string_value(json_object_get(req->body, name));
}

static void caller_institution(const struct request *req, char out[24])
{
    snprintf(out, 24, "%lld", (long long)req->who.institution_id);
}

static bool card_arg_ok(struct request *req)
{
    struct lcb_error err;
    const char *card = req->path_args[0];
    if (card == NULL || card_number_check(card, &err) != 0) {
        request_reply_error(req, 400, "invalid_card", "%s",
                            card ? err.message : "no card number given");
        return false;
    }
    return true;
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

static const struct field institution_fields[] = {
    {"code", FIELD_CODE, true, 0, 0, NULL},
    {"name", FIELD_TEXT, true, 1, 200, NULL},
    {"kind", FIELD_CHOICE, true, 0, 0, institution_kinds},
    /* Required: an administrator adds below a node of its own subtree; a
     * new district centre (a root) is made with lcbctl. */
    {"parent", FIELD_CODE, true, 0, 0, NULL},
    {"region", FIELD_REGION, false, 0, 0, NULL},
};

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
    if (!body_ok(req, institution_fields, sizeof institution_fields / sizeof institution_fields[0]))
        return;
    char caller[24];
    caller_institution(req, caller);
    const char *params[] = {caller,
                            body_string(req, "code"),
                            body_string(req, "name"),
                            body_string(req, "kind"),
                            body_string(req, "parent"),
                            body_string(req, "region")};
    query_run(req, institution_sql, 6, params, on_institution);
}

/* ---- POST /v1/catalogue -------------------------------------------------- */

static const struct field item_fields[] = {
    {"code", FIELD_CODE, true, 0, 0, NULL},
    {"kind", FIELD_CHOICE, true, 0, 0, item_kinds},
    {"owner", FIELD_CODE, true, 0, 0, NULL},
    {"title", FIELD_TEXT, true, 1, 200, NULL},
    {"unit", FIELD_UNIT, true, 0, 0, NULL},
    {"credit_value", FIELD_INTEGER, true, 1, 100000, NULL},
    {"required_minutes", FIELD_INTEGER, false, 0, 600000, NULL},
    {"level", FIELD_INTEGER, true, 1, 10, NULL},
};

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
    if (!body_ok(req, item_fields, sizeof item_fields / sizeof item_fields[0]))
        return;
    const json_t *minutes = json_object_get(req->body, "required_minutes");
    char caller[24], credit_value[24], required_minutes[24], level[24];
    caller_institution(req, caller);
    snprintf(credit_value, sizeof credit_value, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(req->body, "credit_value")));
    snprintf(required_minutes, sizeof required_minutes, "%" JSON_INTEGER_FORMAT,
             json_is_integer(minutes) ? json_integer_value(minutes) : 0);
    snprintf(level, sizeof level, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(req->body, "level")));
    const char *params[] = {caller,
                            body_string(req, "code"),
                            body_string(req, "kind"),
                            body_string(req, "owner"),
                            body_string(req, "title"),
                            body_string(req, "unit"),
                            credit_value,
                            required_minutes,
                            level};
    query_run(req, item_sql, 9, params, on_item);
}

/* ---- POST /v1/learners --------------------------------------------------- */

static const struct field learner_fields[] = {
    {"id_document", FIELD_ID_DOCUMENT, true, 0, 0, NULL},
    {"name", FIELD_TEXT, true, 1, 200, NULL},
    {"institution", FIELD_CODE, true, 0, 0, NULL},
    {"region", FIELD_REGION, false, 0, 0, NULL},
};

static void on_learner(struct request *req, const PGresult *res)
{
    if (guard_refused(req, res))
        return;
    bool has_card = !PQgetisnull(res, 0, 3);
    reply_created(req, 201,
                  json_pack("{s:I,s:s?}", "learner", column_int(res, 2), "card",
                            has_card ? PQgetvalue(res, 0, 3) : NULL));
}

/* The keyed hash under which a learner's identity document is stored.
 * ASCII letters are upper-cased first so that a check character typed as
 * 'x' or 'X' names the same person. */
static int id_document_hash(const struct app *app, const char *document,
                            char hex[2 * CRYPTO_HASH_LEN + 1])
{
    char normal[ID_DOCUMENT_MAX + 1];
    uint8_t digest[CRYPTO_HASH_LEN];
    size_t len = strlen(document);
    for (size_t i = 0; i < len; i++)
        normal[i] = (char)toupper((unsigned char)document[i]);
    int rc = crypto_hmac_sha256(app->id_secret, app->id_secret_len, normal, len, digest);
    OPENSSL_cleanse(normal, sizeof normal);
    if (rc == 0)
        crypto_hex_encode(digest, sizeof digest, hex);
    return rc;
}

void api_post_learner(struct request *req)
{
    if (!body_ok(req, learner_fields, sizeof learner_fields / sizeof learner_fields[0]))
        return;
    char caller[24], id_hash[2 * CRYPTO_HASH_LEN + 1];
    if (id_document_hash(req->app, body_string(req, "id_document"), id_hash) != 0) {
        log_error("api: HMAC of an identity document failed");
        request_reply_error(req, 500, "internal_error", "the request could not be completed");
        return;
    }
    caller_institution(req, caller);
    const char *params[] = {caller, id_hash, body_string(req, "name"),
                            body_string(req, "institution"), body_string(req, "region")};
    query_run(req, learner_sql, 5, params, on_learner);
}

/* ---- POST /v1/learners/{id}/cards ---------------------------------------- */

static const struct field card_issue_fields[] = {
    {"region", FIELD_REGION, true, 0, 0, NULL},
};

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
    const char *learner = req->path_args[0];
    size_t len = learner ? strlen(learner) : 0;
    if (len == 0 || len > 18 || learner[0] == '0' || strspn(learner, "0123456789") != len) {
        request_reply_error(req, 400, "invalid_parameter",
                            "the learner id must be a positive integer");
        return;
    }
    if (!body_ok(req, card_issue_fields, sizeof card_issue_fields / sizeof card_issue_fields[0]))
        return;
    char caller[24];
    caller_institution(req, caller);
    const char *params[] = {caller, learner, body_string(req, "region")};
    query_run(req, card_issue_sql, 3, params, on_card_issue);
}

/* ---- POST /v1/cards/{card}/lost, /cancel, /replace ------------------------ */

static const struct field card_replace_fields[] = {
    {"region", FIELD_REGION, false, 0, 0, NULL},
};

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

/* A card route with no body fields (lost, cancel), or replace's region. */
static void card_change(struct request *req, const struct field *fields, size_t n, const char *sql,
                        query_done_cb done)
{
    if (!card_arg_ok(req) || !body_ok(req, fields, n))
        return;
    char caller[24];
    caller_institution(req, caller);
    const char *params[] = {caller, req->path_args[0], n > 0 ? body_string(req, "region") : NULL};
    query_run(req, sql, n > 0 ? 3 : 2, params, done);
}

void api_post_card_lost(struct request *req)
{
    card_change(req, NULL, 0, card_lost_sql, on_card_lost);
}

void api_post_card_cancel(struct request *req)
{
    card_change(req, NULL, 0, card_cancel_sql, on_card_cancel);
}

void api_post_card_replace(struct request *req)
{
    card_change(req, card_replace_fields, 1, card_replace_sql, on_card_replace);
}
