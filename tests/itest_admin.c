/* The administrative HTTPS routes against a real lcbd and PostgreSQL: an
 * administrator registers institutions, catalogue items, learners and cards
 * within its subtree, and reports cards lost, cancelled or replaced. Every
 * refusal must change nothing (rows are counted before and after), and an
 * identity document must never reach the database or the log in clear. */
#include "tests/itest.h"
#include "tests/itest_api.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* The first column of the one row sql returns, given text parameters. */
static long long sql_long(const char *sql, int n_params, const char *const *params)
{
    PGresult *res = itest_sql_params(NULL, sql, n_params, params);
    long long value;

    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                      !PQgetisnull(res, 0, 0),
                  "%s: %s", sql, PQresultErrorMessage(res));
    value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return value;
}

/* Everything a refusal must leave untouched. */
static long admin_rows(void)
{
    return itest_sql_long(
        "SELECT (SELECT count(*) FROM institutions) + (SELECT count(*) FROM catalogue)"
        " + (SELECT count(*) FROM learners) + (SELECT count(*) FROM cards)"
        " + (SELECT count(*) FROM accounts)");
}

static char *card_status(const char *card)
{
    const char *const params[] = {card};
    PGresult *res = itest_sql_params(NULL,
                                     "SELECT status || ':' || coalesce(replaced_by, '') "
                                     "FROM cards WHERE number = $1",
                                     1, params);
    char *out;

    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "no card %s",
                  card);
    out = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

/* A second branch of d's district, made through the API, with one learner
 * and an active card: the other branch's administrator must not reach it. */
static long long other_branch_learner(const struct itest_district *d, char code[ITEST_CODE_MAX],
                                      char card[ITEST_CARD_MAX])
{
    char document[ITEST_CODE_MAX];
    char *body;
    json_t *json;
    long long learner;

    itest_unique(code, "br2");
    body = itest_text("{\"code\":\"%s\",\"name\":\"Daqi Street Centre\",\"kind\":\"branch_centre\","
                "\"parent\":\"%s\",\"region\":\"330206\"}",
                code, d->district);
    json_decref(itest_expect_ok("POST", "/v1/institutions", body, d->admin_cert, 201));
    free(body);
    itest_unique(document, "doc");
    body = itest_text("{\"id_document\":\"%s\",\"name\":\"Chen Mei\",\"institution\":\"%s\","
                "\"region\":\"330206\"}",
                document, code);
    json = itest_expect_ok("POST", "/v1/learners", body, d->admin_cert, 201);
    free(body);
    learner = json_integer_value(json_object_get(json, "learner"));
    ck_assert_int_gt(learner, 0);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(json, "card")));
    snprintf(card, ITEST_CARD_MAX, "%s", json_string_value(json_object_get(json, "card")));
    json_decref(json);
    return learner;
}

/* ---- institutions -------------------------------------------------------- */

START_TEST(test_administrator_adds_a_learning_point_to_its_subtree)
{
    struct itest_district d;
    char code[ITEST_CODE_MAX], *body, id[24];
    json_t *json;

    itest_district_make(&d, "instadd");
    itest_unique(code, "lp2");
    body = itest_text("{\"code\":\"%s\",\"name\":\"Xinqi Second Learning Point\","
                "\"kind\":\"learning_point\",\"parent\":\"%s\",\"region\":\"330206\"}",
                code, d.branch);
    /* the branch administrator adds below its own branch */
    json = itest_expect_ok("POST", "/v1/institutions", body, d.branch_admin_cert, 201);
    ck_assert_str_eq(json_string_value(json_object_get(json, "institution")), code);
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(json, "id")));
    ck_assert_int_eq(sql_long("SELECT count(*) FROM institutions i "
                              "JOIN institutions p ON p.id = i.parent_id "
                              "JOIN accounts a ON a.institution_id = i.id "
                              "WHERE i.id = $1::bigint AND i.code = $2 AND p.code = $3 "
                              "AND i.region_code = '330206'",
                              3, (const char *[]){id, code, d.branch}),
                     1);
    json_decref(json);
    free(body);
}
END_TEST

START_TEST(test_institution_refusals_change_nothing)
{
    struct itest_district d;
    char code[ITEST_CODE_MAX], *body;
    long before;

    itest_district_make(&d, "instref");
    itest_unique(code, "lp3");
    before = admin_rows();

    /* the branch administrator may not add below the district itself */
    body = itest_text("{\"code\":\"%s\",\"name\":\"n\",\"kind\":\"learning_point\",\"parent\":\"%s\"}",
                code, d.district);
    itest_expect_error("POST", "/v1/institutions", body, d.branch_admin_cert, 403, "outside_subtree",
                 d.district);
    free(body);
    body = itest_text("{\"code\":\"%s\",\"name\":\"n\",\"kind\":\"learning_point\",\"parent\":\"%s\"}",
                d.point, d.branch);
    itest_expect_error("POST", "/v1/institutions", body, d.admin_cert, 409, "institution_exists",
                 d.point);
    free(body);
    body = itest_text("{\"code\":\"%s\",\"name\":\"n\",\"kind\":\"learning_point\","
                "\"parent\":\"no-such-parent\"}",
                code);
    itest_expect_error("POST", "/v1/institutions", body, d.admin_cert, 404, "institution_not_found",
                 "no-such-parent");
    free(body);
    body = itest_text("{\"code\":\"%s\",\"name\":\"n\",\"kind\":\"district_centre\",\"parent\":\"%s\"}",
                code, d.district);
    itest_expect_error("POST", "/v1/institutions", body, d.admin_cert, 400, "invalid_parent", NULL);
    free(body);
    /* an auditor reads; it never registers */
    body = itest_text("{\"code\":\"%s\",\"name\":\"n\",\"kind\":\"learning_point\",\"parent\":\"%s\"}",
                code, d.branch);
    itest_expect_error("POST", "/v1/institutions", body, d.auditor_cert, 403, "forbidden", NULL);
    free(body);
    ck_assert_int_eq(admin_rows(), before);
}
END_TEST

struct bad_body {
    const char *body; /* "$code" becomes a fresh code, "$owner" the parent or owner */
    const char *code;
    const char *field;
};

/* template with "$code" and "$owner" replaced (malloc'd). */
static char *fill(const char *template, const char *code, const char *owner)
{
    size_t cap = strlen(template) + 8 * (strlen(code) + strlen(owner)) + 1, n = 0;
    char *out = malloc(cap);

    ck_assert_ptr_nonnull(out);
    for (const char *p = template; *p != '\0';) {
        const char *with = NULL;
        size_t skip = 1;

        if (strncmp(p, "$code", 5) == 0)
            with = code, skip = 5;
        else if (strncmp(p, "$owner", 6) == 0)
            with = owner, skip = 6;
        if (with != NULL) {
            ck_assert_uint_lt(n + strlen(with), cap);
            memcpy(out + n, with, strlen(with));
            n += strlen(with);
        } else {
            ck_assert_uint_lt(n + 1, cap);
            out[n++] = *p;
        }
        p += skip;
    }
    out[n] = '\0';
    return out;
}

static void expect_bad_bodies(const char *path, const char *cert, const char *owner,
                              const struct bad_body *cases, size_t n)
{
    long before = admin_rows();

    for (size_t i = 0; i < n; i++) {
        char code[ITEST_CODE_MAX], *body;

        itest_unique(code, "bad");
        body = fill(cases[i].body, code, owner);
        itest_expect_error("POST", path, body, cert, 400, cases[i].code, cases[i].field);
        free(body);
    }
    ck_assert_int_eq(admin_rows(), before);
}

START_TEST(test_institution_fields_are_validated)
{
#define INST(rest) "{\"code\":\"$code\",\"name\":\"n\",\"parent\":\"$owner\"" rest "}"
    static const struct bad_body cases[] = {
        {INST(",\"kind\":\"school\""), "invalid_field", "kind"},
        {INST(""), "invalid_field", "kind"},
        {INST(",\"kind\":7"), "invalid_field", "kind"},
        {INST(",\"kind\":\"learning_point\",\"region\":\"33020\""), "invalid_field", "region"},
        {INST(",\"kind\":\"learning_point\",\"region\":330206"), "invalid_field", "region"},
        {INST(",\"kind\":\"learning_point\",\"region\":\"000000\""), "invalid_field", "region"},
        {INST(",\"kind\":\"learning_point\",\"motto\":\"learn\""), "unknown_field", "motto"},
        {"{\"code\":\"bad code\",\"name\":\"n\",\"kind\":\"learning_point\",\"parent\":\"$owner\"}",
         "invalid_field", "code"},
        {"{\"code\":\"$code-0123456789abcdefghijklmnopqrstuvwxyz\",\"name\":\"n\","
         "\"kind\":\"learning_point\",\"parent\":\"$owner\"}",
         "invalid_field", "code"},
        {"{\"code\":\"$code\",\"name\":\"\",\"kind\":\"learning_point\",\"parent\":\"$owner\"}",
         "invalid_field", "name"},
        {"{\"code\":\"$code\",\"name\":\"a\\u0007b\",\"kind\":\"learning_point\","
         "\"parent\":\"$owner\"}",
         "invalid_field", "name"},
        {"{\"code\":\"$code\",\"name\":null,\"kind\":\"learning_point\",\"parent\":\"$owner\"}",
         "invalid_field", "name"},
        {"{\"code\":\"$code\",\"name\":\"n\",\"kind\":\"learning_point\"}", "invalid_field",
         "parent"},
        {"{\"code\":\"$code\",\"name\":\"n\",\"kind\":\"learning_point\",\"parent\":[\"$owner\"]}",
         "invalid_field", "parent"},
    };
#undef INST
    struct itest_district d;

    itest_district_make(&d, "instval");
    expect_bad_bodies("/v1/institutions", d.admin_cert, d.branch, cases,
                      sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_institution_name_is_counted_in_characters)
{
    struct itest_district d;
    char code[ITEST_CODE_MAX], name[1024] = "", *body;

    itest_district_make(&d, "instlen");
    /* 200 Chinese characters are 600 bytes, and still a valid name */
    for (int i = 0; i < 200; i++)
        strcat(name, "\xe5\xad\xa6");
    itest_unique(code, "lp4");
    body = itest_text("{\"code\":\"%s\",\"name\":\"%s\",\"kind\":\"learning_point\",\"parent\":\"%s\"}",
                code, name, d.branch);
    json_decref(itest_expect_ok("POST", "/v1/institutions", body, d.admin_cert, 201));
    free(body);
    strcat(name, "\xe5\xad\xa6");
    itest_unique(code, "lp5");
    body = itest_text("{\"code\":\"%s\",\"name\":\"%s\",\"kind\":\"learning_point\",\"parent\":\"%s\"}",
                code, name, d.branch);
    itest_expect_error("POST", "/v1/institutions", body, d.admin_cert, 400, "invalid_field", "name");
    free(body);
}
END_TEST

/* ---- catalogue ----------------------------------------------------------- */

START_TEST(test_administrator_adds_a_course_and_a_certificate)
{
    struct itest_district d;
    char code[ITEST_CODE_MAX], cert_code[ITEST_CODE_MAX], *body;
    json_t *json;

    itest_district_make(&d, "catadd");
    itest_unique(code, "tea2");
    body = itest_text("{\"code\":\"%s\",\"kind\":\"course\",\"owner\":\"%s\",\"title\":\"Calligraphy\","
                "\"unit\":\"community\",\"credit_value\":150,\"required_minutes\":600,"
                "\"level\":2}",
                code, d.point);
    json = itest_expect_ok("POST", "/v1/catalogue", body, d.branch_admin_cert, 201);
    ck_assert_str_eq(json_string_value(json_object_get(json, "item")), code);
    ck_assert_str_eq(json_string_value(json_object_get(json, "kind")), "course");
    json_decref(json);
    free(body);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM catalogue c "
                              "JOIN institutions i ON i.id = c.institution_id "
                              "WHERE c.code = $1 AND i.code = $2 AND c.unit = 'community' AND "
                              "c.credit_value = 150 AND c.required_minutes = 600 AND c.level = 2",
                              2, (const char *[]){code, d.point}),
                     1);

    /* required_minutes may be left out: a certificate needs no hours */
    itest_unique(cert_code, "1x");
    body = itest_text("{\"code\":\"%s\",\"kind\":\"certificate\",\"owner\":\"%s\",\"title\":\"1+X\","
                "\"unit\":\"vocational\",\"credit_value\":100000,\"level\":10}",
                cert_code, d.school);
    json_decref(itest_expect_ok("POST", "/v1/catalogue", body, d.admin_cert, 201));
    free(body);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM catalogue WHERE code = $1 AND "
                              "kind = 'certificate' AND required_minutes = 0 AND level = 10",
                              1, (const char *[]){cert_code}),
                     1);
}
END_TEST

START_TEST(test_catalogue_refusals_change_nothing)
{
    struct itest_district d;
    char code[ITEST_CODE_MAX], *body;
    long before;

    itest_district_make(&d, "catref");
    itest_unique(code, "c");
    before = admin_rows();
#define ITEM(owner, unit, item)                                                                    \
    itest_text("{\"code\":\"%s\",\"kind\":\"course\",\"owner\":\"%s\",\"title\":\"t\",\"unit\":\"%s\","  \
         "\"credit_value\":100,\"level\":3}",                                                      \
         item, owner, unit)
    /* the school is the district's, not the branch's */
    body = ITEM(d.school, "vocational", code);
    itest_expect_error("POST", "/v1/catalogue", body, d.branch_admin_cert, 403, "outside_subtree",
                 d.school);
    free(body);
    body = ITEM("no-such-owner", "vocational", code);
    itest_expect_error("POST", "/v1/catalogue", body, d.admin_cert, 404, "institution_not_found",
                 "no-such-owner");
    free(body);
    body = ITEM(d.school, "doctoral", code);
    itest_expect_error("POST", "/v1/catalogue", body, d.admin_cert, 404, "unit_not_found", "doctoral");
    free(body);
    body = ITEM(d.school, "vocational", d.school_course);
    itest_expect_error("POST", "/v1/catalogue", body, d.admin_cert, 409, "course_exists",
                 d.school_course);
    free(body);
#undef ITEM
    ck_assert_int_eq(admin_rows(), before);
}
END_TEST

START_TEST(test_catalogue_fields_are_validated)
{
#define ITEM(kind, unit, numbers)                                                                  \
    "{\"code\":\"$code\",\"kind\":" kind ",\"owner\":\"$owner\",\"title\":\"t\",\"unit\":" unit    \
    "," numbers "}"
#define OK_KIND "\"course\""
#define OK_UNIT "\"vocational\""
    static const struct bad_body cases[] = {
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":0,\"level\":3"), "invalid_field", "credit_value"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100001,\"level\":3"), "invalid_field",
         "credit_value"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":\"100\",\"level\":3"), "invalid_field",
         "credit_value"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100.0,\"level\":3"), "invalid_field",
         "credit_value"},
        /* beyond int64: jansson refuses the document itself */
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":99999999999999999999,\"level\":3"),
         "invalid_json", NULL},
        {ITEM(OK_KIND, OK_UNIT, "\"level\":3"), "invalid_field", "credit_value"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100,\"level\":0"), "invalid_field", "level"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100,\"level\":11"), "invalid_field", "level"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100,\"level\":true"), "invalid_field", "level"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100,\"level\":3,\"required_minutes\":-1"),
         "invalid_field", "required_minutes"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100,\"level\":3,\"required_minutes\":600001"),
         "invalid_field", "required_minutes"},
        {ITEM("\"module\"", OK_UNIT, "\"credit_value\":100,\"level\":3"), "invalid_field", "kind"},
        {ITEM(OK_KIND, "\"Vocational\"", "\"credit_value\":100,\"level\":3"), "invalid_field",
         "unit"},
        {ITEM(OK_KIND, "\"\"", "\"credit_value\":100,\"level\":3"), "invalid_field", "unit"},
        {ITEM(OK_KIND, OK_UNIT, "\"credit_value\":100,\"level\":3,\"hours\":2"), "unknown_field",
         "hours"},
        {"{\"code\":\"$code\",\"kind\":\"course\",\"owner\":\"$owner\",\"unit\":\"vocational\","
         "\"credit_value\":100,\"level\":3}",
         "invalid_field", "title"},
    };
#undef ITEM
#undef OK_KIND
#undef OK_UNIT
    struct itest_district d;

    itest_district_make(&d, "catval");
    expect_bad_bodies("/v1/catalogue", d.admin_cert, d.school, cases,
                      sizeof cases / sizeof cases[0]);
}
END_TEST

/* ---- learners ------------------------------------------------------------ */

START_TEST(test_administrator_registers_learners)
{
    struct itest_district d;
    char document[ITEST_CODE_MAX], lower[ITEST_CODE_MAX], *body, id[24];
    json_t *json;
    long long learner;

    itest_district_make(&d, "lrnadd");
    itest_unique(document, "idx");
    for (char *p = document; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    body = itest_text("{\"id_document\":\"%s\",\"name\":\"Wang Fang\",\"institution\":\"%s\"}", document,
                d.point);
    json = itest_expect_ok("POST", "/v1/learners", body, d.branch_admin_cert, 201);
    free(body);
    learner = json_integer_value(json_object_get(json, "learner"));
    ck_assert_int_gt(learner, 0);
    ck_assert(json_is_null(json_object_get(json, "card")));
    json_decref(json);
    snprintf(id, sizeof id, "%lld", learner);
    ck_assert_int_eq(sql_long("SELECT count(*) FROM learners l "
                              "JOIN institutions i ON i.id = l.institution_id "
                              "JOIN accounts a ON a.learner_id = l.id "
                              "WHERE l.id = $1::bigint AND i.code = $2",
                              2, (const char *[]){id, d.point}),
                     1);

    /* the same document, letters in the other case, is the same person */
    snprintf(lower, sizeof lower, "%s", document);
    for (char *p = lower; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    body = itest_text("{\"id_document\":\"%s\",\"name\":\"Wang Fang\",\"institution\":\"%s\","
                "\"region\":\"330206\"}",
                lower, d.branch);
    itest_expect_error("POST", "/v1/learners", body, d.admin_cert, 409, "learner_exists", NULL);
    free(body);
}
END_TEST

START_TEST(test_identity_document_never_stored_or_logged)
{
    struct itest_district d;
    char document[ITEST_CODE_MAX], *body, *log;
    const char *const params[] = {document};
    PGresult *res;
    json_t *json;

    itest_district_make(&d, "lrndoc");
    itest_unique(document, "secretdoc");
    body = itest_text("{\"id_document\":\"%s\",\"name\":\"Li Lei\",\"institution\":\"%s\","
                "\"region\":\"330206\"}",
                document, d.branch);
    json = itest_expect_ok("POST", "/v1/learners", body, d.admin_cert, 201);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(json, "card"))), 19);
    json_decref(json);
    /* refused requests must not echo it either */
    itest_expect_error("POST", "/v1/learners", body, d.admin_cert, 409, "learner_exists", NULL);
    free(body);

    res = itest_sql_params(NULL,
                           "SELECT count(*) FROM learners WHERE position(convert_to($1, 'UTF8') "
                           "IN id_hash) > 0 OR position($1 IN name) > 0",
                           1, params);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    log = itest_read_file(itest_suite_lcbd()->log_path);
    ck_assert_msg(strstr(log, document) == NULL, "the identity document is in lcbd's log");
    free(log);
}
END_TEST

START_TEST(test_learner_refusals_change_nothing)
{
    static const struct bad_body cases[] = {
        {"{\"id_document\":\"$code\",\"name\":\"n\",\"institution\":\"$owner\",\"region\":"
         "\"3302\"}",
         "invalid_field", "region"},
        {"{\"id_document\":\"$code x\",\"name\":\"n\",\"institution\":\"$owner\"}", "invalid_field",
         "id_document"},
        {"{\"id_document\":\"$code-0123456789012345678901234567890123456789012345678901234\","
         "\"name\":\"n\",\"institution\":\"$owner\"}",
         "invalid_field", "id_document"},
        {"{\"id_document\":330206199001011234,\"name\":\"n\",\"institution\":\"$owner\"}",
         "invalid_field", "id_document"},
        {"{\"name\":\"n\",\"institution\":\"$owner\"}", "invalid_field", "id_document"},
        {"{\"id_document\":\"$code\",\"name\":\"\",\"institution\":\"$owner\"}", "invalid_field",
         "name"},
        {"{\"id_document\":\"$code\",\"name\":\"n\",\"institution\":\"no such\"}", "invalid_field",
         "institution"},
        {"{\"id_document\":\"$code\",\"name\":\"n\",\"institution\":\"$owner\",\"birthday\":1}",
         "unknown_field", "birthday"},
    };
    struct itest_district d;
    char document[ITEST_CODE_MAX], *body;
    long before;

    itest_district_make(&d, "lrnref");
    expect_bad_bodies("/v1/learners", d.admin_cert, d.branch, cases,
                      sizeof cases / sizeof cases[0]);
    before = admin_rows();
    itest_unique(document, "doc");
    body =
        itest_text("{\"id_document\":\"%s\",\"name\":\"n\",\"institution\":\"%s\"}", document, d.school);
    itest_expect_error("POST", "/v1/learners", body, d.branch_admin_cert, 403, "outside_subtree",
                 d.school);
    free(body);
    body = itest_text("{\"id_document\":\"%s\",\"name\":\"n\",\"institution\":\"nowhere\"}", document);
    itest_expect_error("POST", "/v1/learners", body, d.admin_cert, 404, "institution_not_found",
                 "nowhere");
    free(body);
    ck_assert_int_eq(admin_rows(), before);
}
END_TEST

/* ---- cards --------------------------------------------------------------- */

START_TEST(test_card_issue_for_a_learner)
{
    struct itest_district d;
    char path[96], *status, card[ITEST_CARD_MAX];
    long before;
    json_t *json;

    itest_district_make(&d, "cardiss");
    snprintf(path, sizeof path, "/v1/learners/%lld/cards", d.learner_ids[0]);
    before = admin_rows();
    itest_expect_error("POST", path, "{\"region\":\"330206\"}", d.admin_cert, 409, "card_exists", NULL);
    itest_expect_error("POST", path, "{}", d.admin_cert, 400, "invalid_field", "region");
    itest_expect_error("POST", path, "{\"region\":\"330206\",\"colour\":\"red\"}", d.admin_cert, 400,
                 "unknown_field", "colour");
    itest_expect_error("POST", "/v1/learners/0/cards", "{\"region\":\"330206\"}", d.admin_cert, 400,
                 "invalid_parameter", NULL);
    itest_expect_error("POST", "/v1/learners/12x/cards", "{\"region\":\"330206\"}", d.admin_cert, 400,
                 "invalid_parameter", NULL);
    itest_expect_error("POST", "/v1/learners/999999999999/cards", "{\"region\":\"330206\"}", d.admin_cert,
                 404, "learner_not_found", NULL);
    ck_assert_int_eq(admin_rows(), before);

    /* once the card is reported lost, the learner may get a fresh one */
    snprintf(path, sizeof path, "/v1/cards/%s/lost", d.cards[0]);
    json_decref(itest_expect_ok("POST", path, NULL, d.admin_cert, 200));
    snprintf(path, sizeof path, "/v1/learners/%lld/cards", d.learner_ids[0]);
    json = itest_expect_ok("POST", path, "{\"region\":\"330212\"}", d.branch_admin_cert, 201);
    snprintf(card, sizeof card, "%s", json_string_value(json_object_get(json, "card")));
    ck_assert_int_eq(json_integer_value(json_object_get(json, "learner")), d.learner_ids[0]);
    json_decref(json);
    ck_assert_msg(strncmp(card, "330212", 6) == 0, "card %s", card);
    status = card_status(card);
    ck_assert_str_eq(status, "active:");
    free(status);
}
END_TEST

START_TEST(test_card_lost_replace_cancel)
{
    struct itest_district d;
    char path[96], fresh[ITEST_CARD_MAX], *status;
    json_t *json;

    itest_district_make(&d, "cardlife");
    snprintf(path, sizeof path, "/v1/cards/%s/lost", d.cards[1]);
    json = itest_expect_ok("POST", path, "{}", d.branch_admin_cert, 200);
    ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "lost");
    json_decref(json);
    itest_expect_error("POST", path, NULL, d.admin_cert, 409, "card_not_active", "lost");

    snprintf(path, sizeof path, "/v1/cards/%s/replace", d.cards[1]);
    json = itest_expect_ok("POST", path, NULL, d.admin_cert, 200);
    ck_assert_str_eq(json_string_value(json_object_get(json, "card")), d.cards[1]);
    snprintf(fresh, sizeof fresh, "%s", json_string_value(json_object_get(json, "replaced_by")));
    json_decref(json);
    status = card_status(d.cards[1]);
    ck_assert_msg(strncmp(status, "replaced:", 9) == 0 && strcmp(status + 9, fresh) == 0,
                  "old card is %s", status);
    free(status);
    /* same learner, so the same account */
    ck_assert_int_eq(
        sql_long("SELECT learner_id FROM cards WHERE number = $1", 1, (const char *[]){fresh}),
        d.learner_ids[1]);
    ck_assert_msg(strncmp(fresh, "330206", 6) == 0, "replacement %s keeps the region", fresh);

    snprintf(path, sizeof path, "/v1/cards/%s/cancel", d.cards[1]);
    itest_expect_error("POST", path, NULL, d.admin_cert, 409, "card_not_active", "replaced");
    snprintf(path, sizeof path, "/v1/cards/%s/cancel", fresh);
    json = itest_expect_ok("POST", path, NULL, d.admin_cert, 200);
    ck_assert_str_eq(json_string_value(json_object_get(json, "status")), "cancelled");
    json_decref(json);
    status = card_status(fresh);
    ck_assert_str_eq(status, "cancelled:");
    free(status);
}
END_TEST

START_TEST(test_card_refusals_change_nothing)
{
    struct itest_district d;
    char path[96], branch2[ITEST_CODE_MAX], card[ITEST_CARD_MAX], *status;
    long before;

    itest_district_make(&d, "cardref");
    other_branch_learner(&d, branch2, card);
    before = admin_rows();

    snprintf(path, sizeof path, "/v1/cards/%s/lost", card);
    itest_expect_error("POST", path, NULL, d.branch_admin_cert, 403, "outside_subtree", card);
    snprintf(path, sizeof path, "/v1/cards/%s/replace", card);
    itest_expect_error("POST", path, NULL, d.branch_admin_cert, 403, "outside_subtree", card);
    snprintf(path, sizeof path, "/v1/cards/%s/cancel", card);
    itest_expect_error("POST", path, NULL, d.branch_admin_cert, 403, "outside_subtree", card);
    snprintf(path, sizeof path, "/v1/cards/%s/replace", d.cards[2]);
    itest_expect_error("POST", path, "{\"region\":\"99\"}", d.admin_cert, 400, "invalid_field", "region");
    snprintf(path, sizeof path, "/v1/cards/%s/lost", d.cards[2]);
    itest_expect_error("POST", path, "{\"reason\":\"stolen\"}", d.admin_cert, 400, "unknown_field",
                 "reason");
    itest_expect_error("POST", path, NULL, d.auditor_cert, 403, "forbidden", NULL);
    /* one digit off: the check digit no longer matches */
    snprintf(path, sizeof path, "/v1/cards/%.18s%c/lost", d.cards[2],
             d.cards[2][18] == '9' ? '0' : d.cards[2][18] + 1);
    itest_expect_error("POST", path, NULL, d.admin_cert, 400, "invalid_card", NULL);
    itest_expect_error("POST", "/v1/cards/33020600000000/lost", NULL, d.admin_cert, 400, "invalid_card",
                 NULL);
    /* well formed, never issued */
    itest_expect_error("POST", "/v1/cards/3302069999999999996/lost", NULL, d.admin_cert, 404,
                 "card_not_found", NULL);
    ck_assert_int_eq(admin_rows(), before);
    status = card_status(card);
    ck_assert_str_eq(status, "active:");
    free(status);
    status = card_status(d.cards[2]);
    ck_assert_str_eq(status, "active:");
    free(status);
}
END_TEST

Suite *itest_admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *institutions = tcase_create("institutions");
    TCase *learners = tcase_create("learners");

    tcase_add_unchecked_fixture(institutions, itest_suite_lcbd_start, itest_suite_lcbd_stop);
    tcase_set_timeout(institutions, 120);
    tcase_add_test(institutions, test_administrator_adds_a_learning_point_to_its_subtree);
    tcase_add_test(institutions, test_institution_refusals_change_nothing);
    tcase_add_test(institutions, test_institution_fields_are_validated);
    tcase_add_test(institutions, test_institution_name_is_counted_in_characters);
    tcase_add_test(institutions, test_administrator_adds_a_course_and_a_certificate);
    tcase_add_test(institutions, test_catalogue_refusals_change_nothing);
    tcase_add_test(institutions, test_catalogue_fields_are_validated);
    suite_add_tcase(s, institutions);

    tcase_add_unchecked_fixture(learners, itest_suite_lcbd_start, itest_suite_lcbd_stop);
    tcase_set_timeout(learners, 120);
    tcase_add_test(learners, test_administrator_registers_learners);
    tcase_add_test(learners, test_identity_document_never_stored_or_logged);
    tcase_add_test(learners, test_learner_refusals_change_nothing);
    tcase_add_test(learners, test_card_issue_for_a_learner);
    tcase_add_test(learners, test_card_lost_replace_cancel);
    tcase_add_test(learners, test_card_refusals_change_nothing);
    suite_add_tcase(s, learners);
    return s;
}
