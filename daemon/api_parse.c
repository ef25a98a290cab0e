/* Request bodies of the ledger's routes (outcomes, conversions, reversals)
 * into orders; see api_parse.h. Checks shape only: whether a card, course
 * or rule exists, and whether the caller may use it, is the database's to
 * say. Must never let an order out that the record encoding cannot hold. */
#include "daemon/api_parse.h"
#include "daemon/validate.h"

#include "lib/card.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int api_parse_body(const char *bytes, size_t len, json_t **body, struct lcb_error *err)
{
    json_error_t jerr;
    *body = len ? json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr) : json_object();
    if (*body == NULL)
        return lcb_error_set(err, "invalid_json", "the body is not valid JSON: %s (line %d)",
                             len ? jerr.text : "out of memory", len ? jerr.line : 0);
    if (!json_is_object(*body)) {
        json_decref(*body);
        *body = NULL;
        return lcb_error_set(err, "invalid_request", "the body must be a JSON object");
    }
    return 0;
}

/* The first key of object not in allowed (NULL-terminated), or NULL. */
static const char *unknown_key(const json_t *object, const char *const *allowed)
{
    json_t *o = (json_t *)object; /* jansson's iterators take no const */
    for (void *it = json_object_iter(o); it != NULL; it = json_object_iter_next(o, it)) {
        const char *key = json_object_iter_key(it);
        bool known = false;
        for (int i = 0; allowed[i] != NULL; i++)
            known = known || strcmp(key, allowed[i]) == 0;
        if (!known)
            return key;
    }
    return NULL;
}

/* ---- POST /v1/outcomes ----------------------------------------------------- */

int api_parse_outcomes(const json_t *body, json_t **list, struct lcb_error *err)
{
    static const char *const fields[] = {"outcomes", NULL};
    const char *unknown = unknown_key(body, fields);
    if (unknown != NULL)
        return lcb_error_set(err, "unknown_field", "unknown field \"%.64s\"", unknown);
    *list = json_object_get(body, "outcomes");
    if (!json_is_array(*list))
        return lcb_error_set(err, "invalid_request", "the body must be {\"outcomes\": [...]}");
    if (json_array_size(*list) < 1 || json_array_size(*list) > API_OUTCOMES_MAX)
        return lcb_error_set(err, "invalid_batch_size", "a batch holds 1 to %d outcomes",
                             API_OUTCOMES_MAX);
    return 0;
}

/* A real calendar date, not after tomorrow (UTC; terminals' clocks drift).
 * Digits are checked one by one because sscanf's %d would also take " 1"
 * or "+1" for a month, and the text goes into the record as it is. */
static bool completed_on_valid(const char *s, time_t now)
{
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3 || y < 1900 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_year != y - 1900 || back.tm_mon != m - 1 || back.tm_mday != d)
        return false;
    return t <= now + 36 * 3600;
}

static int read_learner(const json_t *item, struct deposit_outcome *out, struct lcb_error *err)
{
    json_t *card = json_object_get(item, "card"), *learner = json_object_get(item, "learner");
    if ((card == NULL) == (learner == NULL))
        return lcb_error_set(err, "invalid_outcome", "give exactly one of \"card\" or \"learner\"");
    if (card != NULL) {
        if (!json_is_string(card))
            return lcb_error_set(err, "invalid_card", "\"card\" must be a string of 19 digits");
        if (card_number_check(json_string_value(card), err) != 0)
            return -1;
        snprintf(out->card, sizeof out->card, "%s", json_string_value(card));
        return 0;
    }
    if (!json_is_integer(learner) || json_integer_value(learner) <= 0)
        return lcb_error_set(err, "invalid_learner",
                             "\"learner\" must be a positive integer learner id");
    out->learner_id = json_integer_value(learner);
    return 0;
}

static int read_item_code(const json_t *item, struct deposit_outcome *out, struct lcb_error *err)
{
    json_t *course = json_object_get(item, "course");
    json_t *certificate = json_object_get(item, "certificate");
    if ((course == NULL) == (certificate == NULL))
        return lcb_error_set(err, "invalid_outcome",
                             "give exactly one of \"course\" or \"certificate\"");
    json_t *code = course ? course : certificate;
    out->item_kind = course ? DEPOSIT_COURSE : DEPOSIT_CERTIFICATE;
    if (!json_is_string(code) || !validate_code(json_string_value(code)))
        return lcb_error_set(err, course ? "invalid_course" : "invalid_certificate", "%s",
                             "a course or certificate code is 1-32 letters, digits, '_', '.' or "
                             "'-'");
    snprintf(out->item_code, sizeof out->item_code, "%s", json_string_value(code));
    return 0;
}

static int read_texts(const json_t *item, time_t now, struct deposit_outcome *out,
                      struct lcb_error *err)
{
    json_t *key = json_object_get(item, "idempotency_key");
    if (!json_is_string(key) || !validate_text(json_string_value(key), RECORD_KEY_MAX))
        return lcb_error_set(err, "invalid_idempotency_key",
                             "\"idempotency_key\" must be 1-128 bytes of printable text");
    snprintf(out->idempotency_key, sizeof out->idempotency_key, "%s", json_string_value(key));
    json_t *result = json_object_get(item, "result");
    if (!json_is_string(result) || !validate_text(json_string_value(result), RECORD_RESULT_MAX))
        return lcb_error_set(err, "invalid_result",
                             "\"result\" must be 1-64 bytes of printable text");
    snprintf(out->result, sizeof out->result, "%s", json_string_value(result));
    json_t *date = json_object_get(item, "completed_on");
    if (!json_is_string(date) || !completed_on_valid(json_string_value(date), now))
        return lcb_error_set(err, "invalid_date",
                             "\"completed_on\" must be a real date YYYY-MM-DD, not in the future");
    snprintf(out->completed_on, sizeof out->completed_on, "%s", json_string_value(date));
    json_t *evidence = json_object_get(item, "evidence_sha256");
    if (evidence == NULL)
        return 0;
    if (!json_is_string(evidence) || strlen(json_string_value(evidence)) != 64 ||
        crypto_hex_decode(json_string_value(evidence), out->evidence_sha256, RECORD_HASH_LEN) != 0)
        return lcb_error_set(err, "invalid_evidence", "\"evidence_sha256\" must be 64 hex digits");
    out->has_evidence = true;
    return 0;
}

int api_parse_outcome(const json_t *item, int64_t institution_id, time_t now,
                      struct deposit_outcome *out, struct lcb_error *err)
{
    static const char *const fields[] = {
        "idempotency_key", "card",         "learner",         "course", "certificate",
        "result",          "completed_on", "evidence_sha256", NULL};
    memset(out, 0, sizeof *out);
    out->institution_id = institution_id;
    if (!json_is_object(item))
        return lcb_error_set(err, "invalid_outcome", "each outcome must be a JSON object");
    const char *unknown = unknown_key(item, fields);
    if (unknown != NULL)
        return lcb_error_set(err, "unknown_field", "unknown field \"%.64s\" in an outcome",
                             unknown);
    if (read_texts(item, now, out, err) != 0 || read_learner(item, out, err) != 0)
        return -1;
    return read_item_code(item, out, err);
}

/* ---- POST /v1/conversions(/preview) and /v1/reversals ------------------------ */

static const char code_rule[] = "1-32 letters, digits, '_', '.' or '-'";

/* A string field (null counts as absent) passing valid, copied into out. */
static int string_field(const json_t *body, const char *name, bool required,
                        bool (*valid)(const char *), const char *rule, char *out, size_t cap,
                        struct lcb_error *err)
{
    json_t *value = json_object_get(body, name);
    out[0] = '\0';
    if (value == NULL || json_is_null(value)) {
        if (!required)
            return 0;
        return lcb_error_set(err, "invalid_field", "%s is required: %s", name, rule);
    }
    const char *s = json_string_value(value);
    if (s == NULL || strlen(s) != json_string_length(value) || strlen(s) >= cap || !valid(s))
        return lcb_error_set(err, "invalid_field", "%s must be %s", name, rule);
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

int api_parse_conversion(const json_t *body, int64_t institution_id, bool with_key,
                         struct conversion_order *order, struct lcb_error *err)
{
    static const char *const preview_fields[] = {"learner", "rule", "programme", NULL};
    static const char *const execute_fields[] = {"idempotency_key", "learner", "rule", "programme",
                                                 NULL};
    memset(order, 0, sizeof *order);
    order->institution_id = institution_id;
    const char *unknown = unknown_key(body, with_key ? execute_fields : preview_fields);
    if (unknown != NULL)
        return lcb_error_set(err, "unknown_field", "unknown field \"%.64s\"", unknown);
    if (with_key &&
        string_field(body, "idempotency_key", true, key_valid, "1-128 bytes of printable text",
                     order->idempotency_key, sizeof order->idempotency_key, err) != 0)
        return -1;
    json_t *learner = json_object_get(body, "learner");
    if (!json_is_integer(learner) || json_integer_value(learner) <= 0)
        return lcb_error_set(err, "invalid_field", "learner must be a positive integer id");
    order->learner_id = json_integer_value(learner);
    if (string_field(body, "rule", true, validate_code, code_rule, order->rule, sizeof order->rule,
                     err) != 0)
        return -1;
    return string_field(body, "programme", false, validate_code, code_rule, order->programme,
                        sizeof order->programme, err);
}

int api_parse_reversal(const json_t *body, int64_t institution_id, struct reversal_order *order,
                       struct lcb_error *err)
{
    static const char *const fields[] = {"idempotency_key", "transaction_id", "reason", NULL};
    memset(order, 0, sizeof *order);
    order->institution_id = institution_id;
    const char *unknown = unknown_key(body, fields);
    if (unknown != NULL)
        return lcb_error_set(err, "unknown_field", "unknown field \"%.64s\"", unknown);
    if (string_field(body, "idempotency_key", true, key_valid, "1-128 bytes of printable text",
                     order->idempotency_key, sizeof order->idempotency_key, err) != 0 ||
        string_field(body, "transaction_id", true, uuid_valid, "a transaction UUID",
                     order->transaction_id, sizeof order->transaction_id, err) != 0 ||
        string_field(body, "reason", true, reason_valid, "1-256 bytes of printable text",
                     order->reason, sizeof order->reason, err) != 0)
        return -1;
    for (char *c = order->transaction_id; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    return 0;
}
