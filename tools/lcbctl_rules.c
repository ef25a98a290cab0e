/* lcbctl's accumulation and conversion commands: units' validity,
 * recognition and conversion rules, a learner's transcript (all straight to
 * the database, through the lcb_* functions of sql/004_rules.sql), and
 * conversions and reversals, which go through lcbd's API because only lcbd
 * holds the signing key: lcbctl must never write a ledger row itself. */
#include "lib/crypto.h"
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"
#include "tools/lcbctl_https.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTPS_OPTS(t)                                                                              \
    {"url", LCBCTL_OPT_STRING, &(t).url, false}, {"cert", LCBCTL_OPT_STRING, &(t).cert, false},    \
        {"key", LCBCTL_OPT_STRING, &(t).key, false},                                               \
    {                                                                                              \
        "ca", LCBCTL_OPT_STRING, &(t).ca, false                                                    \
    }

static int unit_check(const char *option, const char *unit, struct lcb_error *err)
{
    size_t len = strlen(unit);
    if (len < 1 || len > 16 || !islower((unsigned char)unit[0]) ||
        strspn(unit, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
        return lcb_error_set(err, "invalid_unit", "%s '%s' is not a unit code", option, unit);
    return 0;
}

/* An amount in smallest steps shown in the unit's scale: 150 @100 -> 1.50. */
static void format_amount(int64_t amount, int64_t scale, char *out, size_t cap)
{
    uint64_t magnitude = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    int decimals = scale >= 1000 ? 3 : scale >= 100 ? 2 : scale >= 10 ? 1 : 0;
    if (decimals == 0)
        snprintf(out, cap, "%s%" PRIu64, amount < 0 ? "-" : "", magnitude);
    else
        snprintf(out, cap, "%s%" PRIu64 ".%0*" PRIu64, amount < 0 ? "-" : "",
                 magnitude / (uint64_t)scale, decimals, magnitude % (uint64_t)scale);
}

/* ---- unit add / unit validity ----------------------------------------------- */

int lcbctl_rules_unit_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *code = NULL, *name = NULL, *scale = NULL, *months = NULL;
    const struct lcbctl_opt opts[] = {{"code", LCBCTL_OPT_STRING, &code, true},
                                      {"name", LCBCTL_OPT_STRING, &name, true},
                                      {"scale", LCBCTL_OPT_STRING, &scale, true},
                                      {"valid-months", LCBCTL_OPT_STRING, &months, false}};
    struct lcb_error err;
    int64_t value;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 4, NULL, 0, &status))
        return status;
    if (unit_check("--code", code, &err) != 0 ||
        lcbctl_args_int64("--scale", scale, 1, 1000, &value, &err) != 0 ||
        (months != NULL && lcbctl_args_int64("--valid-months", months, 1, 1200, &value, &err) != 0))
        return lcbctl_fail(&err);
    const char *params[4] = {code, name, scale, months};
    return lcbctl_db_run(ctx, "SELECT lcb_add_unit($1, $2, $3::integer, $4::integer)", 4, params);
}

int lcbctl_rules_unit_validity(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *code = NULL, *months = NULL;
    bool forever = false;
    const struct lcbctl_opt opts[] = {{"months", LCBCTL_OPT_STRING, &months, false},
                                      {"forever", LCBCTL_OPT_FLAG, &forever, false}};
    struct lcb_error err;
    int64_t value;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 2, &code, 1, &status))
        return status;
    if ((months == NULL) == !forever)
        return lcbctl_usage_error(ctx, "give exactly one of --months N or --forever");
    if (unit_check("UNIT", code, &err) != 0 ||
        (months != NULL && lcbctl_args_int64("--months", months, 1, 1200, &value, &err) != 0))
        return lcbctl_fail(&err);
    const char *params[2] = {code, months};
    return lcbctl_db_run(ctx, "SELECT lcb_set_unit_validity($1, $2::integer)", 2, params);
}

/* ---- recognition add -------------------------------------------------------- */

int lcbctl_rules_recognition_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *certificate = NULL, *result = NULL, *credits = NULL, *valid_from = NULL;
    const struct lcbctl_opt opts[] = {{"certificate", LCBCTL_OPT_STRING, &certificate, true},
                                      {"result", LCBCTL_OPT_STRING, &result, true},
                                      {"credits", LCBCTL_OPT_STRING, &credits, true},
                                      {"valid-from", LCBCTL_OPT_STRING, &valid_from, false}};
    struct lcb_error err;
    int64_t value;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 4, NULL, 0, &status))
        return status;
    if (lcbctl_args_int64("--credits", credits, 1, 100000, &value, &err) != 0)
        return lcbctl_fail(&err);
    const char *params[4] = {certificate, result, credits, valid_from};
    return lcbctl_db_run(ctx, "SELECT lcb_add_recognition_rule($1, $2, $3::bigint, $4::date)", 4,
                         params);
}

/* ---- rule add / rule list ----------------------------------------------------- */

/* "{a,b}" from unit codes already checked against the unit pattern. */
static int units_literal(const struct lcbctl_list *units, char *out, size_t cap,
                         struct lcb_error *err)
{
    size_t used = 0;
    out[used++] = '{';
    for (size_t i = 0; i < units->n; i++) {
        if (unit_check("--source", units->items[i], err) != 0)
            return -1;
        int n = snprintf(out + used, cap - used, "%s%s", i ? "," : "", units->items[i]);
        if (n < 0 || (size_t)n >= cap - used - 1)
            return lcb_error_set(err, "invalid_argument", "too many --source units");
        used += (size_t)n;
    }
    out[used++] = '}';
    out[used] = '\0';
    return 0;
}

static int ratio_parse(const char *text, char numerator[24], char denominator[24],
                       struct lcb_error *err)
{
    const char *slash = strchr(text, '/');
    int64_t n, d;
    if (slash == NULL || (size_t)(slash - text) >= 24)
        return lcb_error_set(err, "invalid_argument", "--ratio '%s' is not N/D", text);
    memcpy(numerator, text, (size_t)(slash - text));
    numerator[slash - text] = '\0';
    snprintf(denominator, 24, "%s", slash + 1);
    if (lcbctl_args_int64("--ratio numerator", numerator, 1, 1000000, &n, err) != 0 ||
        lcbctl_args_int64("--ratio denominator", denominator, 1, 1000000, &d, err) != 0)
        return -1;
    return 0;
}

int lcbctl_rules_rule_add(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *code = NULL, *target = NULL, *institution = NULL, *programme = NULL, *ratio = NULL,
               *step = NULL, *min_level = NULL, *cap = NULL, *months = NULL, *valid_from = NULL;
    struct lcbctl_list sources = {.n = 0};
    const struct lcbctl_opt opts[] = {
        {"code", LCBCTL_OPT_STRING, &code, true},
        {"source", LCBCTL_OPT_LIST, &sources, true},
        {"target", LCBCTL_OPT_STRING, &target, true},
        {"programme-institution", LCBCTL_OPT_STRING, &institution, true},
        {"programme", LCBCTL_OPT_STRING, &programme, true},
        {"ratio", LCBCTL_OPT_STRING, &ratio, true},
        {"step", LCBCTL_OPT_STRING, &step, false},
        {"min-level", LCBCTL_OPT_STRING, &min_level, false},
        {"cap", LCBCTL_OPT_STRING, &cap, false},
        {"validity-months", LCBCTL_OPT_STRING, &months, false},
        {"valid-from", LCBCTL_OPT_STRING, &valid_from, false}};
    char units[LCBCTL_LIST_MAX * 18 + 3], numerator[24], denominator[24];
    struct lcb_error err;
    int64_t value;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 11, NULL, 0, &status))
        return status;
    if (sources.n == 0)
        return lcbctl_usage_error(ctx, "at least one --source UNIT is required");
    if (units_literal(&sources, units, sizeof units, &err) != 0 ||
        unit_check("--target", target, &err) != 0 ||
        ratio_parse(ratio, numerator, denominator, &err) != 0 ||
        (step && lcbctl_args_int64("--step", step, 1, 100000, &value, &err) != 0) ||
        (min_level && lcbctl_args_int64("--min-level", min_level, 1, 10, &value, &err) != 0) ||
        (cap && lcbctl_args_int64("--cap", cap, 1, 100000000, &value, &err) != 0) ||
        (months && lcbctl_args_int64("--validity-months", months, 1, 1200, &value, &err) != 0))
        return lcbctl_fail(&err);
    const char *params[12] = {code,        units, target,    institution, programme, numerator,
                              denominator, step,  min_level, cap,         months,    valid_from};
    return lcbctl_db_run(
        ctx,
        "SELECT lcb_add_conversion_rule($1, $2::text[], $3, $4, $5, $6::bigint, "
        "$7::bigint, $8::bigint, $9::smallint, $10::bigint, $11::integer, $12::date)",
        12, params);
}

int lcbctl_rules_rule_list(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *code = NULL;
    const struct lcbctl_opt opts[] = {{"code", LCBCTL_OPT_STRING, &code, false}};
    struct lcb_error err;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 1, NULL, 0, &status))
        return status;
    PGconn *conn = lcbctl_db_connect(ctx, &err);
    if (conn == NULL)
        return lcbctl_fail(&err);
    const char *params[1] = {code};
    PGresult *res = lcbctl_db_exec(
        conn,
        "SELECT r.code || '@' || r.version, "
        "       (SELECT string_agg(s.unit, '+' ORDER BY s.unit) FROM conversion_rule_sources s "
        "        WHERE s.rule_id = r.id) || ' -> ' || r.target_unit, "
        "       i.code || '/' || r.programme_code, "
        "       r.ratio_numerator || '/' || r.ratio_denominator || ' ' || r.rounding "
        "       || ' step ' || r.target_step, "
        "       'level>=' || r.min_level, 'cap ' || coalesce(r.cap::text, 'none'), "
        "       'window ' || coalesce(r.validity_months || ' months', 'none'), "
        "       'from ' || r.valid_from "
        "FROM conversion_rules r JOIN institutions i ON i.id = r.programme_institution_id "
        "WHERE $1::text IS NULL OR r.code = $1 ORDER BY r.code, r.version",
        1, params, &err);
    if (res == NULL) {
        PQfinish(conn);
        return lcbctl_fail(&err);
    }
    for (int row = 0; row < PQntuples(res); row++) {
        for (int col = 0; col < PQnfields(res); col++)
            printf("%s%s", col ? "  " : "", PQgetvalue(res, row, col));
        putchar('\n');
    }
    PQclear(res);
    PQfinish(conn);
    return LCBCTL_EXIT_OK;
}

/* ---- through lcbd: convert preview / execute, reverse ----------------------- */

/* POSTs doc (stolen) to lcbd; prints refusals as "lcbctl: CODE: message".
 * Returns the parsed answer of a 200, else NULL (with *exit_status). */
static json_t *post_to_lcbd(struct lcbctl_https_target *target, const char *path, json_t *doc,
                            int *exit_status)
{
    struct lcb_error err;
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL, *answer = NULL;
    int http_status = 0;
    json_t *parsed = NULL;
    json_decref(doc);
    *exit_status = LCBCTL_EXIT_FAIL;
    if (body == NULL) {
        lcb_error_set(&err, "out_of_memory", "building the request");
        goto fail;
    }
    if (lcbctl_https_resolve(target, &err) != 0 ||
        lcbctl_https_request(target, "POST", path, body, &http_status, &answer, &err) != 0)
        goto fail;
    parsed = json_loads(answer, 0, NULL);
    json_t *error = json_object_get(parsed, "error");
    if (http_status != 200 || parsed == NULL || error != NULL) {
        const char *code = json_string_value(json_object_get(error, "code"));
        const char *message = json_string_value(json_object_get(error, "message"));
        lcb_error_set(&err, code ? code : "http_error", "%s (HTTP %d)",
                      message ? message : "lcbd refused the request", http_status);
        json_decref(parsed);
        parsed = NULL;
        goto fail;
    }
    free(body);
    free(answer);
    return parsed;
fail:
    lcbctl_fail(&err);
    free(body);
    free(answer);
    return NULL;
}

/* A fresh idempotency key when none is given, printed so a retry can reuse it. */
static const char *key_or_fresh(const char *given, char fresh[48])
{
    uint8_t random[12];
    if (given != NULL)
        return given;
    if (RAND_bytes(random, sizeof random) != 1)
        abort();
    memcpy(fresh, "lcbctl-", 7);
    crypto_hex_encode(random, sizeof random, fresh + 7);
    fprintf(stderr, "lcbctl: idempotency key %s (give it as --idempotency-key to retry)\n", fresh);
    return fresh;
}

static int print_posted(json_t *answer)
{
    printf("%s %s hash %s\n", json_string_value(json_object_get(answer, "status")),
           json_string_value(json_object_get(answer, "transaction_id")),
           json_string_value(json_object_get(answer, "hash")));
    json_decref(answer);
    return LCBCTL_EXIT_OK;
}

static void print_preview(json_t *p)
{
    json_t *rule = json_object_get(p, "rule"), *programme = json_object_get(p, "programme");
    json_t *grant = json_object_get(p, "grant"), *lot;
    size_t i;
    printf("rule %s@%" JSON_INTEGER_FORMAT ": %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
           " rounded down, for programme %s/%s\n",
           json_string_value(json_object_get(rule, "code")),
           json_integer_value(json_object_get(rule, "version")),
           json_integer_value(json_object_get(rule, "ratio_numerator")),
           json_integer_value(json_object_get(rule, "ratio_denominator")),
           json_string_value(json_object_get(programme, "institution")),
           json_string_value(json_object_get(programme, "code")));
    printf("eligible %" JSON_INTEGER_FORMAT ", already granted %" JSON_INTEGER_FORMAT
           " (amounts in smallest steps)\nwould consume:\n",
           json_integer_value(json_object_get(p, "eligible")),
           json_integer_value(json_object_get(p, "already_granted")));
    json_array_foreach(json_object_get(p, "consume"), i, lot)
        printf("  %s  %s %" JSON_INTEGER_FORMAT "  (completed %s)\n",
               json_string_value(json_object_get(lot, "source_tx")),
               json_string_value(json_object_get(lot, "unit")),
               json_integer_value(json_object_get(lot, "amount")),
               json_string_value(json_object_get(lot, "completed_on")));
    printf("would grant: %s %" JSON_INTEGER_FORMAT "\n",
           json_string_value(json_object_get(grant, "unit")),
           json_integer_value(json_object_get(grant, "amount")));
}

static int convert(struct lcbctl_ctx *ctx, int argc, char **argv, bool execute)
{
    struct lcbctl_https_target target = {NULL, NULL, NULL, NULL};
    const char *learner = NULL, *rule = NULL, *programme = NULL, *key = NULL;
    const struct lcbctl_opt opts[] = {{"learner", LCBCTL_OPT_STRING, &learner, true},
                                      {"rule", LCBCTL_OPT_STRING, &rule, true},
                                      {"programme", LCBCTL_OPT_STRING, &programme, false},
                                      {"idempotency-key", LCBCTL_OPT_STRING, &key, false},
                                      HTTPS_OPTS(target)};
    struct lcb_error err;
    int64_t learner_id;
    char fresh[48];
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 8, NULL, 0, &status))
        return status;
    if (!execute && key != NULL)
        return lcbctl_usage_error(ctx, "a preview takes no --idempotency-key");
    if (lcbctl_args_int64("--learner", learner, 1, INT64_MAX, &learner_id, &err) != 0)
        return lcbctl_fail(&err);
    json_t *doc = json_pack("{s:I,s:s}", "learner", (json_int_t)learner_id, "rule", rule);
    if (doc != NULL && programme != NULL)
        json_object_set_new(doc, "programme", json_string(programme));
    if (doc != NULL && execute)
        json_object_set_new(doc, "idempotency_key", json_string(key_or_fresh(key, fresh)));
    json_t *answer = post_to_lcbd(&target, execute ? "/v1/conversions" : "/v1/conversions/preview",
                                  doc, &status);
    if (answer == NULL)
        return status;
    if (execute)
        return print_posted(answer);
    print_preview(answer);
    json_decref(answer);
    return LCBCTL_EXIT_OK;
}

int lcbctl_rules_convert_preview(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    return convert(ctx, argc, argv, false);
}

int lcbctl_rules_convert_execute(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    return convert(ctx, argc, argv, true);
}

int lcbctl_rules_reverse(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    struct lcbctl_https_target target = {NULL, NULL, NULL, NULL};
    const char *transaction = NULL, *reason = NULL, *key = NULL;
    const struct lcbctl_opt opts[] = {{"reason", LCBCTL_OPT_STRING, &reason, true},
                                      {"idempotency-key", LCBCTL_OPT_STRING, &key, false},
                                      HTTPS_OPTS(target)};
    char fresh[48];
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 6, &transaction, 1, &status))
        return status;
    json_t *doc = json_pack("{s:s,s:s,s:s}", "transaction_id", transaction, "reason", reason,
                            "idempotency_key", key_or_fresh(key, fresh));
    json_t *answer = post_to_lcbd(&target, "/v1/reversals", doc, &status);
    return answer == NULL ? status : print_posted(answer);
}

/* ---- transcript -------------------------------------------------------------- */

static void print_line(const char *kind, json_t *x, int64_t scale)
{
    char amount[48], remaining[48];
    format_amount(json_integer_value(json_object_get(x, "amount")), scale, amount, sizeof amount);
    printf("  %-10s seq %-4" JSON_INTEGER_FORMAT " %s%9s  ", kind,
           json_integer_value(json_object_get(x, "seq")),
           json_integer_value(json_object_get(x, "amount")) > 0 ? "+" : " ", amount);
    if (strcmp(kind, "deposit") == 0) {
        format_amount(json_integer_value(json_object_get(x, "remaining")), scale, remaining,
                      sizeof remaining);
        printf("%s %s \"%s\" level %" JSON_INTEGER_FORMAT ", %s, completed %s; left %s%s",
               json_string_value(json_object_get(x, "institution")),
               json_string_value(json_object_get(x, "item_code")),
               json_string_value(json_object_get(x, "title")),
               json_integer_value(json_object_get(x, "level")),
               json_string_value(json_object_get(x, "result")),
               json_string_value(json_object_get(x, "completed_on")), remaining,
               json_is_true(json_object_get(x, "expired")) ? " (expired)" : "");
    } else if (strcmp(kind, "conversion") == 0) {
        printf("rule %s@%" JSON_INTEGER_FORMAT " for %s",
               json_string_value(json_object_get(x, "rule")),
               json_integer_value(json_object_get(x, "version")),
               json_string_value(json_object_get(x, "programme")));
    } else {
        printf("reverses %s: %s", json_string_value(json_object_get(x, "reverses")),
               json_string_value(json_object_get(x, "reason")));
    }
    const char *reversed_by = json_string_value(json_object_get(x, "reversed_by"));
    printf("%s%s\n             tx %s hash %s\n", reversed_by ? "; reversed by " : "",
           reversed_by ? reversed_by : "", json_string_value(json_object_get(x, "transaction_id")),
           json_string_value(json_object_get(x, "hash")));
}

static void print_unit(const char *unit, json_t *u)
{
    static const char *const groups[][2] = {
        {"deposits", "deposit"}, {"conversions", "conversion"}, {"reversals", "reversal"}};
    int64_t scale = json_integer_value(json_object_get(u, "scale"));
    char balance[48], available[48], expired[48];
    format_amount(json_integer_value(json_object_get(u, "balance")), scale, balance,
                  sizeof balance);
    format_amount(json_integer_value(json_object_get(u, "available")), scale, available,
                  sizeof available);
    format_amount(json_integer_value(json_object_get(u, "expired")), scale, expired,
                  sizeof expired);
    printf("\n%s (%s): balance %s, available %s, expired %s\n", unit,
           json_string_value(json_object_get(u, "name")), balance, available, expired);
    for (size_t g = 0; g < 3; g++) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(u, groups[g][0]), i, x)
            print_line(groups[g][1], x, scale);
    }
}

int lcbctl_rules_transcript(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *learner = NULL;
    struct lcb_error err;
    int64_t id;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, NULL, 0, &learner, 1, &status))
        return status;
    if (lcbctl_args_int64("LEARNER", learner, 1, INT64_MAX, &id, &err) != 0)
        return lcbctl_fail(&err);
    PGconn *conn = lcbctl_db_connect(ctx, &err);
    if (conn == NULL)
        return lcbctl_fail(&err);
    const char *params[1] = {learner};
    PGresult *res = lcbctl_db_exec(conn, "SELECT lcb_transcript($1::bigint)", 1, params, &err);
    json_t *doc = NULL;
    status = LCBCTL_EXIT_FAIL;
    if (res == NULL)
        goto out;
    if (PQgetisnull(res, 0, 0)) {
        lcb_error_set(&err, "learner_not_found", "no learner %s", learner);
        goto out;
    }
    doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (doc == NULL) {
        lcb_error_set(&err, "internal_error", "the transcript does not parse");
        goto out;
    }
    printf("Transcript of learner %s, %s (home %s)\n", learner,
           json_string_value(json_object_get(doc, "name")),
           json_string_value(json_object_get(doc, "institution")));
    const char *unit;
    json_t *u;
    json_object_foreach(json_object_get(doc, "units"), unit, u) print_unit(unit, u);
    status = LCBCTL_EXIT_OK;
out:
    if (status != LCBCTL_EXIT_OK)
        lcbctl_fail(&err);
    json_decref(doc);
    PQclear(res);
    PQfinish(conn);
    return status;
}
