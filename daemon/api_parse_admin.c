/* Bodies and path arguments of the administrative routes (api_admin.c)
 * into the parameters of their statements; see api_parse.h. Every field is
 * checked for type and range against a table, as docs/api.md's "Body
 * validation" says, before any SQL runs. Never copies an identity document
 * into a parameter or a message: only its keyed hash leaves here. */
#include "daemon/api_parse.h"
#include "daemon/validate.h"

#include "lib/card.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
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

#define FIELD_COUNT(fields) (sizeof(fields) / sizeof(fields)[0])

/* Starts params with the caller's institution id as $1. */
static void params_start(struct api_params *params, int64_t caller)
{
    memset(params, 0, sizeof *params);
    snprintf(params->caller, sizeof params->caller, "%lld", (long long)caller);
    params->values[0] = params->caller;
    params->n = 1;
}

/* A checked string field as a parameter; NULL (SQL NULL) when absent. */
static void param_string(struct api_params *params, const json_t *body, const char *name)
{
    params->values[params->n++] = json_string_value(json_object_get(body, name));
}

/* A checked integer field as a decimal parameter in params->numbers[slot];
 * fallback when absent. */
static void param_integer(struct api_params *params, int slot, const json_t *body, const char *name,
                          json_int_t fallback)
{
    const json_t *value = json_object_get(body, name);
    char *text = params->numbers[slot];
    snprintf(text, sizeof params->numbers[slot], "%" JSON_INTEGER_FORMAT,
             json_is_integer(value) ? json_integer_value(value) : fallback);
    params->values[params->n++] = text;
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

int api_parse_institution(const json_t *body, int64_t caller, struct api_params *params,
                          struct lcb_error *err)
{
    params_start(params, caller);
    if (body_check(body, institution_fields, FIELD_COUNT(institution_fields), err) != 0)
        return -1;
    for (size_t i = 0; i < FIELD_COUNT(institution_fields); i++)
        param_string(params, body, institution_fields[i].name);
    return 0;
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

int api_parse_catalogue_item(const json_t *body, int64_t caller, struct api_params *params,
                             struct lcb_error *err)
{
    params_start(params, caller);
    if (body_check(body, item_fields, FIELD_COUNT(item_fields), err) != 0)
        return -1;
    for (size_t i = 0; i < 5; i++)
        param_string(params, body, item_fields[i].name);
    param_integer(params, 0, body, "credit_value", 0);
    param_integer(params, 1, body, "required_minutes", 0);
    param_integer(params, 2, body, "level", 0);
    return 0;
}

/* ---- POST /v1/learners --------------------------------------------------- */

static const struct field learner_fields[] = {
    {"id_document", FIELD_ID_DOCUMENT, true, 0, 0, NULL},
    {"name", FIELD_TEXT, true, 1, 200, NULL},
    {"institution", FIELD_CODE, true, 0, 0, NULL},
    {"region", FIELD_REGION, false, 0, 0, NULL},
};

/* The keyed hash under which a learner's identity document is stored.
 * ASCII letters are upper-cased first so that a check character typed as
 * 'x' or 'X' names the same person. */
static int id_document_hash(const uint8_t *secret, size_t secret_len, const char *document,
                            char hex[2 * CRYPTO_HASH_LEN + 1])
{
    char normal[ID_DOCUMENT_MAX + 1];
    uint8_t digest[CRYPTO_HASH_LEN];
    size_t len = strlen(document);
    for (size_t i = 0; i < len; i++)
        normal[i] = (char)toupper((unsigned char)document[i]);
    int rc = crypto_hmac_sha256(secret, secret_len, normal, len, digest);
    OPENSSL_cleanse(normal, sizeof normal);
    if (rc == 0)
        crypto_hex_encode(digest, sizeof digest, hex);
    return rc;
}

int api_parse_learner(const json_t *body, int64_t caller, const uint8_t *id_secret,
                      size_t id_secret_len, struct api_params *params, struct lcb_error *err)
{
    params_start(params, caller);
    if (body_check(body, learner_fields, FIELD_COUNT(learner_fields), err) != 0)
        return -1;
    const char *document = json_string_value(json_object_get(body, "id_document"));
    if (id_document_hash(id_secret, id_secret_len, document, params->id_hash) != 0)
        return lcb_error_set(err, "internal_error", "the request could not be completed");
    params->values[params->n++] = params->id_hash;
    for (size_t i = 1; i < FIELD_COUNT(learner_fields); i++)
        param_string(params, body, learner_fields[i].name);
    return 0;
}

/* ---- POST /v1/learners/{id}/cards ---------------------------------------- */

static const struct field card_issue_fields[] = {
    {"region", FIELD_REGION, true, 0, 0, NULL},
};

int api_parse_learner_card(const char *learner, const json_t *body, int64_t caller,
                           struct api_params *params, struct lcb_error *err)
{
    long long learner_id;
    params_start(params, caller);
    if (!validate_positive_id(learner, &learner_id))
        return lcb_error_set(err, "invalid_parameter", "the learner id must be a positive integer");
    if (body_check(body, card_issue_fields, FIELD_COUNT(card_issue_fields), err) != 0)
        return -1;
    params->values[params->n++] = learner;
    param_string(params, body, "region");
    return 0;
}

/* ---- POST /v1/cards/{card}/lost, /cancel, /replace ------------------------ */

static const struct field card_replace_fields[] = {
    {"region", FIELD_REGION, false, 0, 0, NULL},
};

int api_parse_card_change(enum api_card_change change, const char *card, const json_t *body,
                          int64_t caller, struct api_params *params, struct lcb_error *err)
{
    bool replace = change == API_CARD_REPLACE;
    params_start(params, caller);
    if (card == NULL)
        return lcb_error_set(err, "invalid_card", "no card number given");
    if (card_number_check(card, err) != 0)
        return -1;
    /* lost and cancel take no field at all: any one is unknown_field. */
    if (body_check(body, card_replace_fields, replace ? 1 : 0, err) != 0)
        return -1;
    params->values[params->n++] = card;
    if (replace)
        param_string(params, body, "region");
    return 0;
}
