/* libFuzzer target for lcbd's JSON request handlers: the code that turns a
 * POST body and the route's path argument into a validated request
 * (daemon/api_parse.c, api_parse_admin.c; lcbd's handlers call the same
 * functions). Checks properties, not only the absence of crashes: every
 * refusal carries a code docs/api.md documents for that route; an accepted
 * request holds only in-range values, copied whole; the body dumped by
 * jansson (compact, ASCII-escaped, keys sorted) and parsed again is answered
 * the same; a learner's identity document is never echoed and hashes the same
 * in either case. Aborts on any breach. Built and run by tests/fuzz/run-fuzz.
 *
 * Input: one byte picks the route ('a' + the index in `routes`, modulo
 * their number); for a route with a path argument, the bytes up to the first
 * newline are that argument; the rest is the body. */
#include "daemon/api_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLER 7
#define CALLER_TEXT "7"
/* A fixed clock (2026-11-25T00:00:00Z) keeps every input's answer the same
 * from one day to the next, so a reproducer stays one. */
#define NOW ((time_t)1795564800)

static const uint8_t id_secret[] = "fuzz_json: the bank's identity document secret";

enum route {
    ROUTE_OUTCOMES,
    ROUTE_INSTITUTION,
    ROUTE_CATALOGUE,
    ROUTE_LEARNER,
    ROUTE_LEARNER_CARD,
    ROUTE_CARD_LOST,
    ROUTE_CARD_CANCEL,
    ROUTE_CARD_REPLACE,
    ROUTE_PREVIEW,
    ROUTE_CONVERSION,
    ROUTE_REVERSAL,
    ROUTE_COUNT
};

/* The refusal codes docs/api.md lists for each route's body and path
 * argument (the database's codes cannot arise without a database). */
static const struct {
    const char *path; /* for messages; {} is the path argument */
    const char *codes;
} routes[ROUTE_COUNT] = {
    [ROUTE_OUTCOMES] = {"/v1/outcomes", " unknown_field invalid_request invalid_batch_size "},
    [ROUTE_INSTITUTION] = {"/v1/institutions", " invalid_field unknown_field "},
    [ROUTE_CATALOGUE] = {"/v1/catalogue", " invalid_field unknown_field "},
    [ROUTE_LEARNER] = {"/v1/learners", " invalid_field unknown_field "},
    [ROUTE_LEARNER_CARD] = {"/v1/learners/{}/cards",
                            " invalid_parameter invalid_field unknown_field "},
    [ROUTE_CARD_LOST] = {"/v1/cards/{}/lost", " invalid_card unknown_field "},
    [ROUTE_CARD_CANCEL] = {"/v1/cards/{}/cancel", " invalid_card unknown_field "},
    [ROUTE_CARD_REPLACE] = {"/v1/cards/{}/replace", " invalid_card invalid_field unknown_field "},
    [ROUTE_PREVIEW] = {"/v1/conversions/preview", " invalid_field unknown_field "},
    [ROUTE_CONVERSION] = {"/v1/conversions", " invalid_field unknown_field "},
    [ROUTE_REVERSAL] = {"/v1/reversals", " invalid_field unknown_field "},
};

static const char body_codes[] = " invalid_json invalid_request ";
static const char outcome_codes[] =
    " invalid_outcome unknown_field invalid_idempotency_key invalid_card invalid_learner "
    "invalid_course invalid_certificate invalid_result invalid_date invalid_evidence ";

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_json: %s\n%s\n", what, detail ? detail : "");
    abort();
}

static void expect(bool ok, const char *what, const char *detail)
{
    if (!ok)
        fail(what, detail);
}

/* A refusal must carry a documented code and say something. */
static void check_refusal(const char *codes, const struct lcb_error *err)
{
    char word[sizeof err->code + 2];
    snprintf(word, sizeof word, " %s ", err->code);
    expect(err->code[0] != '\0' && strstr(codes, word) != NULL, "undocumented refusal code",
           err->code);
    expect(err->message[0] != '\0', "refusal without a message", err->code);
}

/* ---- Independent statements of the documented ranges ----------------------- */

static bool only_of(const char *s, const char *allowed)
{
    return strspn(s, allowed) == strlen(s);
}

static const char digits[] = "0123456789";

static bool is_code(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    return len >= 1 && len <= 32 &&
           only_of(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
}

/* 1..max bytes, none of them a control character. */
static bool is_printable(const char *s, size_t max)
{
    size_t len = s ? strlen(s) : 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return len >= 1 && len <= max;
}

/* 1..200 characters (UTF-8 sequences), none a control character. */
static bool is_text(const char *s)
{
    size_t chars = 0;
    if (s == NULL || !is_printable(s, 4 * 200))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    return chars >= 1 && chars <= 200;
}

static bool is_region(const char *s)
{
    return s && strlen(s) == 6 && only_of(s, digits) && strncmp(s, "11", 2) >= 0 &&
           strncmp(s, "82", 2) <= 0;
}

/* 19 digits, a known province, and the Luhn sum of all of them is 0 mod 10. */
static bool is_card(const char *s)
{
    char region[7] = "";
    if (!s || strlen(s) != 19 || !only_of(s, digits))
        return false;
    memcpy(region, s, 6);
    if (!is_region(region))
        return false;
    int sum = 0;
    for (int i = 18, doubled = 0; i >= 0; i--, doubled = !doubled) {
        int d = (s[i] - '0') * (doubled ? 2 : 1);
        sum += d > 9 ? d - 9 : d;
    }
    return sum % 10 == 0;
}

/* A decimal integer in lo..hi, written without sign or leading zeros. */
static bool is_decimal(const char *s, long long lo, long long hi)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > 18 || !only_of(s, digits) || (len > 1 && s[0] == '0'))
        return false;
    long long n = strtoll(s, NULL, 10);
    return n >= lo && n <= hi;
}

static bool is_unit(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    return len >= 1 && len <= 16 && s[0] >= 'a' && s[0] <= 'z' &&
           only_of(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
}

static bool is_one_of(const char *s, const char *const *choices)
{
    for (; s && *choices; choices++)
        if (strcmp(s, *choices) == 0)
            return true;
    return false;
}

/* YYYY-MM-DD, digits only, a day that exists, from 1900, not after tomorrow. */
static bool is_date(const char *s)
{
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > month_days[m - 1] + (m == 2 && leap))
        return false;
    char tomorrow[11];
    time_t later = NOW + 36 * 3600 - 12 * 3600;
    struct tm tm;
    gmtime_r(&later, &tm);
    strftime(tomorrow, sizeof tomorrow, "%Y-%m-%d", &tm);
    return strcmp(s, tomorrow) <= 0;
}

static bool is_lower_hex(const char *s, size_t len, const int *dashes)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = false;
        for (const int *d = dashes; d && *d; d++)
            dash = dash || (size_t)*d == i;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* The JSON string a field held, for "copied whole" checks. */
static const char *field_text(const json_t *object, const char *name)
{
    return json_string_value(json_object_get(object, name));
}

/* ---- What each route accepted must be in range ------------------------------- */

static void check_params(enum route route, const struct api_params *p, const char *arg)
{
    static const char *const institution_kinds[] = {"district_centre",
                                                    "branch_centre",
                                                    "learning_point",
                                                    "vocational_school",
                                                    "training_provider",
                                                    "online_platform",
                                                    NULL};
    static const char *const item_kinds[] = {"course", "certificate", NULL};
    const char *const *v = p->values;
    const char *path = routes[route].path;
    expect(p->n >= 1 && strcmp(v[0], CALLER_TEXT) == 0, "$1 is not the caller", path);
    switch (route) {
    case ROUTE_INSTITUTION:
        expect(p->n == 6 && is_code(v[1]) && is_text(v[2]) && is_one_of(v[3], institution_kinds) &&
                   is_code(v[4]) && (v[5] == NULL || is_region(v[5])),
               "institution accepted out of range", path);
        return;
    case ROUTE_CATALOGUE:
        expect(p->n == 9 && is_code(v[1]) && is_one_of(v[2], item_kinds) && is_code(v[3]) &&
                   is_text(v[4]) && is_unit(v[5]) && is_decimal(v[6], 1, 100000) &&
                   is_decimal(v[7], 0, 600000) && is_decimal(v[8], 1, 10),
               "catalogue item accepted out of range", path);
        return;
    case ROUTE_LEARNER:
        expect(p->n == 5 && is_lower_hex(v[1], 64, NULL) && is_text(v[2]) && is_code(v[3]) &&
                   (v[4] == NULL || is_region(v[4])),
               "learner accepted out of range", path);
        return;
    case ROUTE_LEARNER_CARD:
        expect(p->n == 3 && v[1] == arg && is_decimal(v[1], 1, 999999999999999999LL) &&
                   is_region(v[2]),
               "card issue accepted out of range", path);
        return;
    case ROUTE_CARD_REPLACE:
        expect(p->n == 3 && (v[2] == NULL || is_region(v[2])), "replace accepted a bad region",
               path);
        /* fall through */
    case ROUTE_CARD_LOST:
    case ROUTE_CARD_CANCEL:
        expect(p->n == 2 + (route == ROUTE_CARD_REPLACE) && v[1] == arg && is_card(v[1]),
               "card change accepted a bad card", path);
        return;
    default:
        fail("check_params: not an administrative route", path);
    }
}

static void check_outcome(const json_t *item, const struct deposit_outcome *o)
{
    bool by_card = o->card[0] != '\0';
    expect(o->institution_id == CALLER, "outcome: wrong poster", NULL);
    expect(by_card
               ? is_card(o->card) && o->learner_id == 0 && same(o->card, field_text(item, "card"))
               : o->learner_id > 0 &&
                     o->learner_id == json_integer_value(json_object_get(item, "learner")),
           "outcome: bad card or learner", o->card);
    const char *kind = o->item_kind == DEPOSIT_COURSE ? "course" : "certificate";
    expect(is_code(o->item_code) && same(o->item_code, field_text(item, kind)),
           "outcome: bad course or certificate", o->item_code);
    expect(is_printable(o->idempotency_key, 128) &&
               same(o->idempotency_key, field_text(item, "idempotency_key")),
           "outcome: bad idempotency key", o->idempotency_key);
    expect(is_printable(o->result, 64) && same(o->result, field_text(item, "result")),
           "outcome: bad result", o->result);
    expect(is_date(o->completed_on) && same(o->completed_on, field_text(item, "completed_on")),
           "outcome: bad completed_on", o->completed_on);
    expect(o->has_evidence == (json_object_get(item, "evidence_sha256") != NULL),
           "outcome: evidence lost", NULL);
}

static void check_conversion(const json_t *body, const struct conversion_order *o, bool with_key)
{
    expect(o->institution_id == CALLER && o->learner_id > 0 &&
               o->learner_id == json_integer_value(json_object_get(body, "learner")),
           "conversion: bad learner", NULL);
    expect(is_code(o->rule) && same(o->rule, field_text(body, "rule")), "conversion: bad rule",
           o->rule);
    expect(o->programme[0] == '\0'
               ? field_text(body, "programme") == NULL
               : is_code(o->programme) && same(o->programme, field_text(body, "programme")),
           "conversion: bad programme", o->programme);
    expect(with_key ? is_printable(o->idempotency_key, 128) &&
                          same(o->idempotency_key, field_text(body, "idempotency_key"))
                    : o->idempotency_key[0] == '\0',
           "conversion: bad idempotency key", o->idempotency_key);
}

static void check_reversal(const json_t *body, const struct reversal_order *o)
{
    static const int dashes[] = {8, 13, 18, 23, 0};
    const char *given = field_text(body, "transaction_id");
    expect(o->institution_id == CALLER && is_lower_hex(o->transaction_id, 36, dashes) && given &&
               strcasecmp(o->transaction_id, given) == 0,
           "reversal: bad transaction id", o->transaction_id);
    expect(is_printable(o->idempotency_key, 128) &&
               same(o->idempotency_key, field_text(body, "idempotency_key")),
           "reversal: bad idempotency key", o->idempotency_key);
    expect(is_printable(o->reason, 256) && same(o->reason, field_text(body, "reason")),
           "reversal: bad reason", o->reason);
}

/* ---- A route's answer, checked, as text to compare -------------------------- */

static void describe_refusal(FILE *out, const struct lcb_error *err, bool order_free)
{
    /* Which of several unknown keys is named depends on the keys' order. */
    bool names_a_key = strcmp(err->code, "unknown_field") == 0;
    fprintf(out, "refused %s: %s\n", err->code, order_free && names_a_key ? "-" : err->message);
}

static void describe_params(FILE *out, const struct api_params *p)
{
    fprintf(out, "params %d:", p->n);
    for (int i = 0; i < p->n; i++) {
        if (p->values[i] == NULL)
            fprintf(out, " NULL");
        else
            fprintf(out, " [%s]", p->values[i]);
    }
    fprintf(out, "\n");
}

static void describe_outcome(FILE *out, const struct deposit_outcome *o)
{
    char evidence[2 * RECORD_HASH_LEN + 1];
    crypto_hex_encode(o->evidence_sha256, RECORD_HASH_LEN, evidence);
    fprintf(out, "outcome %lld [%s] card [%s] learner %lld %s [%s] [%s] [%s] %s\n",
            (long long)o->institution_id, o->idempotency_key, o->card, (long long)o->learner_id,
            o->item_kind == DEPOSIT_COURSE ? "course" : "certificate", o->item_code, o->result,
            o->completed_on, o->has_evidence ? evidence : "-");
}

static void run_outcomes(FILE *out, const json_t *body, bool order_free)
{
    json_t *list;
    struct lcb_error err;
    if (api_parse_outcomes(body, &list, &err) != 0) {
        check_refusal(routes[ROUTE_OUTCOMES].codes, &err);
        describe_refusal(out, &err, order_free);
        return;
    }
    expect(json_array_size(list) >= 1 && json_array_size(list) <= API_OUTCOMES_MAX,
           "outcomes: batch size out of range", NULL);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *item = json_array_get(list, i);
        struct deposit_outcome outcome;
        if (api_parse_outcome(item, CALLER, NOW, &outcome, &err) != 0) {
            check_refusal(outcome_codes, &err);
            describe_refusal(out, &err, order_free);
            continue;
        }
        check_outcome(item, &outcome);
        describe_outcome(out, &outcome);
    }
}

/* A learner's identity document, in either ASCII case, is the same person;
 * and no refusal repeats a document long and distinctive enough to tell. */
static void check_learner(const json_t *body, int rc, const struct api_params *params,
                          const struct lcb_error *err)
{
    const char *document = field_text(body, "id_document");
    if (document == NULL)
        return;
    if (rc != 0) {
        bool distinctive =
            strlen(document) >= 12 && strpbrk(document, digits) && !strchr(document, ' ');
        expect(strcmp(err->code, "invalid_field") != 0 || !distinctive ||
                   strstr(err->message, document) == NULL,
               "a refusal repeats the identity document", err->message);
        return;
    }
    for (int upper = 0; upper <= 1; upper++) {
        char variant[128];
        size_t len = strlen(document);
        expect(len < sizeof variant, "an accepted identity document is too long", document);
        for (size_t i = 0; i <= len; i++) {
            char c = document[i];
            variant[i] =
                upper ? (c >= 'a' && c <= 'z' ? c - 32 : c) : (c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        json_t *copy = json_deep_copy(body);
        struct api_params again;
        struct lcb_error again_err;
        expect(copy && json_object_set_new(copy, "id_document", json_string(variant)) == 0,
               "out of memory", NULL);
        expect(api_parse_learner(copy, CALLER, id_secret, sizeof id_secret, &again, &again_err) ==
                       0 &&
                   strcmp(again.id_hash, params->id_hash) == 0,
               "an identity document hashes differently in another case", NULL);
        json_decref(copy);
    }
}

static void run_admin(FILE *out, enum route route, const json_t *body, const char *arg,
                      bool order_free, bool extras)
{
    static const enum api_card_change changes[] = {
        [ROUTE_CARD_LOST] = API_CARD_LOST,
        [ROUTE_CARD_CANCEL] = API_CARD_CANCEL,
        [ROUTE_CARD_REPLACE] = API_CARD_REPLACE,
    };
    struct api_params params;
    struct lcb_error err;
    int rc;
    switch (route) {
    case ROUTE_INSTITUTION:
        rc = api_parse_institution(body, CALLER, &params, &err);
        break;
    case ROUTE_CATALOGUE:
        rc = api_parse_catalogue_item(body, CALLER, &params, &err);
        break;
    case ROUTE_LEARNER:
        rc = api_parse_learner(body, CALLER, id_secret, sizeof id_secret, &params, &err);
        if (extras)
            check_learner(body, rc, &params, &err);
        break;
    case ROUTE_LEARNER_CARD:
        rc = api_parse_learner_card(arg, body, CALLER, &params, &err);
        break;
    default:
        rc = api_parse_card_change(changes[route], arg, body, CALLER, &params, &err);
        break;
    }
    if (rc != 0) {
        check_refusal(routes[route].codes, &err);
        describe_refusal(out, &err, order_free);
        return;
    }
    check_params(route, &params, arg);
    describe_params(out, &params);
}

static void run_orders(FILE *out, enum route route, const json_t *body, bool order_free)
{
    struct conversion_order conversion;
    struct reversal_order reversal;
    struct lcb_error err;
    bool with_key = route == ROUTE_CONVERSION;
    int rc = route == ROUTE_REVERSAL
                 ? api_parse_reversal(body, CALLER, &reversal, &err)
                 : api_parse_conversion(body, CALLER, with_key, &conversion, &err);
    if (rc != 0) {
        check_refusal(routes[route].codes, &err);
        describe_refusal(out, &err, order_free);
    } else if (route == ROUTE_REVERSAL) {
        check_reversal(body, &reversal);
        fprintf(out, "reversal %lld [%s] [%s] [%s]\n", (long long)reversal.institution_id,
                reversal.idempotency_key, reversal.transaction_id, reversal.reason);
    } else {
        check_conversion(body, &conversion, with_key);
        fprintf(out, "conversion %lld [%s] learner %lld [%s] [%s]\n",
                (long long)conversion.institution_id, conversion.idempotency_key,
                (long long)conversion.learner_id, conversion.rule, conversion.programme);
    }
}

/* Runs route on body (and arg), checks the answer, and returns it as text
 * (malloc'd). order_free leaves out what may depend on the keys' order;
 * extras runs the costlier checks that need to run only once per input. */
static char *answer(enum route route, const json_t *body, const char *arg, bool order_free,
                    bool extras)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    expect(out != NULL, "out of memory", NULL);
    switch (route) {
    case ROUTE_OUTCOMES:
        run_outcomes(out, body, order_free);
        break;
    case ROUTE_PREVIEW:
    case ROUTE_CONVERSION:
    case ROUTE_REVERSAL:
        run_orders(out, route, body, order_free);
        break;
    default:
        run_admin(out, route, body, arg, order_free, extras);
        break;
    }
    expect(fclose(out) == 0 && text != NULL, "out of memory", NULL);
    return text;
}

/* ---- The round trip ------------------------------------------------------ */

/* body dumped with flags and read back as lcbd reads a body. */
static json_t *round_trip(const json_t *body, size_t flags)
{
    json_t *again;
    struct lcb_error err;
    char *text = json_dumps(body, flags);
    expect(text != NULL, "json_dumps failed", NULL);
    if (api_parse_body(text, strlen(text), &again, &err) != 0)
        fail("a dumped body is refused when read back", err.message);
    expect(json_equal(body, again), "a dumped body reads back as another value", text);
    free(text);
    return again;
}

static void expect_same_answer(const char *before, const char *after, const char *path)
{
    if (strcmp(before, after) == 0)
        return;
    fprintf(stderr, "fuzz_json: %s: before the round trip:\n%s\nafter:\n%s\n", path, before, after);
    fail("answered differently after a round trip", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t dump_flags[] = {JSON_COMPACT, JSON_ENSURE_ASCII | JSON_INDENT(2),
                                        JSON_COMPACT | JSON_SORT_KEYS};
    if (size == 0)
        return 0;
    enum route route = (enum route)((uint8_t)(data[0] - 'a') % ROUTE_COUNT);
    const char *rest = (const char *)data + 1;
    size_t len = size - 1;
    char *arg = NULL;
    if (strstr(routes[route].path, "{}") != NULL) {
        /* A path segment, percent-decoded: a C string, cut at any NUL. */
        const char *newline = memchr(rest, '\n', len);
        size_t arg_len = newline ? (size_t)(newline - rest) : len;
        arg = strndup(rest, arg_len);
        expect(arg != NULL, "out of memory", NULL);
        rest += arg_len + (newline != NULL);
        len -= arg_len + (newline != NULL);
    }

    json_t *body;
    struct lcb_error err;
    if (api_parse_body(rest, len, &body, &err) != 0) {
        expect(body == NULL, "a refused body was kept", NULL);
        check_refusal(body_codes, &err);
        free(arg);
        return 0;
    }
    expect(json_is_object(body), "an accepted body is not an object", NULL);
    char *first = answer(route, body, arg, false, true);
    char *unordered = answer(route, body, arg, true, false);
    for (size_t i = 0; i < sizeof dump_flags / sizeof dump_flags[0]; i++) {
        bool sorted = (dump_flags[i] & JSON_SORT_KEYS) != 0;
        json_t *again = round_trip(body, dump_flags[i]);
        char *second = answer(route, again, arg, sorted, false);
        expect_same_answer(sorted ? unordered : first, second, routes[route].path);
        free(second);
        json_decref(again);
    }
    free(unordered);
    free(first);
    json_decref(body);
    free(arg);
    return 0;
}
