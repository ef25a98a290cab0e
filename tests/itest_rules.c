/* Accumulation and conversion as a district runs them: recognition rules
 * for certificates, conversions with rounding, caps, level limits,
 * validity windows and unit expiry, rule versions, reversals and their
 * refusals, transcripts, lcbctl through lcbd, and concurrent conversions of
 * the same credits from two lcbd processes: exactly one wins. */
#include "tests/itest.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct itest_lcbd lcbd, second_lcbd;

static void start_lcbd(void)
{
    ck_assert_int_eq(itest_lcbd_start(&lcbd, NULL), 0);
}

static void stop_lcbd(void)
{
    ck_assert_int_eq(itest_lcbd_stop(&lcbd), 0);
}

/* A date n days before today (UTC), so outcomes are never in the future. */
static void days_ago(char out[11], int n)
{
    time_t t = time(NULL) - (time_t)n * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* A catalogue item of the district's school, unique to this call. */
static void school_item(const struct itest_district *d, char code[ITEST_CODE_MAX],
                        const char *kind, const char *unit, const char *credits, const char *level)
{
    itest_unique(code, "it");
    free(itest_lcbctl_ok(kind, "add", "--code", code, "--owner", d->school, "--title", "Item",
                         "--unit", unit, "--credits", credits, "--hours-minutes", "960",
                         "--level", level, (char *)NULL));
}

/* A course's credits count once per learner (lcb_course_credited), so each
 * deposit of "a course like code" gets a course of its own: same owner,
 * unit, credit value and level. */
static void course_like(const struct itest_district *d, const char *code,
                        char clone[ITEST_CODE_MAX])
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT unit, credit_value, level FROM catalogue WHERE code = '%s'", code);
    PGresult *res = itest_sql(sql);
    ck_assert_int_eq(PQntuples(res), 1);
    itest_unique(clone, "cl");
    free(itest_lcbctl_ok("course", "add", "--code", clone, "--owner", d->school, "--title",
                         "Item", "--unit", PQgetvalue(res, 0, 0), "--credits",
                         PQgetvalue(res, 0, 1), "--hours-minutes", "960", "--level",
                         PQgetvalue(res, 0, 2), (char *)NULL));
    PQclear(res);
}

/* Posts one outcome as the school; returns the new transaction id
 * (malloc'd) and asserts it was posted. */
static char *deposit(const struct itest_district *d, int learner, const char *kind,
                     const char *code, const char *result, const char *date)
{
    char key[ITEST_CODE_MAX], body[1024], clone[ITEST_CODE_MAX];
    if (strcmp(kind, "course") == 0) {
        course_like(d, code, clone);
        code = clone;
    }
    itest_unique(key, "dep");
    snprintf(body, sizeof body,
             "{\"outcomes\": [{\"idempotency_key\": \"%s\", \"learner\": %lld, \"%s\": \"%s\", "
             "\"result\": \"%s\", \"completed_on\": \"%s\"}]}",
             key, d->learner_ids[learner], kind, code, result, date);
    int status;
    json_t *doc = NULL;
    ck_assert_int_eq(itest_https(&lcbd, "POST", "/v1/outcomes", body, d->school_cert, &status, &doc),
                     0);
    json_t *r = json_array_get(json_object_get(doc, "results"), 0);
    ck_assert_msg(status == 200 && strcmp(json_string_value(json_object_get(r, "status")),
                                          "posted") == 0,
                  "deposit: HTTP %d", status);
    char *tx = strdup(json_string_value(json_object_get(r, "transaction_id")));
    json_decref(doc);
    return tx;
}

/* A rule for the district centre's programme ELEC; extra: more options. */
static void rule_add(const struct itest_district *d, const char *code, const char *source,
                     const char *target, const char *ratio, const char *step,
                     const char *const *extra)
{
    char *argv[32] = {"rule", "add", "--code", (char *)code, "--source", (char *)source,
                      "--target", (char *)target, "--programme-institution",
                      (char *)d->district, "--programme", "ELEC", "--ratio", (char *)ratio,
                      "--step", (char *)step};
    int n = 16;
    for (int i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[n++] = (char *)extra[i];
    argv[n++] = NULL;
    char *out = NULL, *full[34] = {(char *)itest_env()->lcbctl};
    memcpy(full + 1, argv, sizeof argv);
    int rc = itest_run(&out, full);
    ck_assert_msg(rc == 0, "rule add: %s", out);
    free(out);
}

/* POSTs body to path as cert; returns the answer, *status its HTTP status. */
static json_t *post(struct itest_lcbd *d, const char *path, const char *cert, int *status,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static json_t *post(struct itest_lcbd *d, const char *path, const char *cert, int *status,
                    const char *fmt, ...)
{
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    json_t *doc = NULL;
    ck_assert_int_eq(itest_https(d, "POST", path, body, cert, status, &doc), 0);
    ck_assert_msg(doc != NULL, "%s: the answer is not JSON", path);
    return doc;
}

static json_t *convert(const struct itest_district *d, int learner, const char *rule, int *status)
{
    char key[ITEST_CODE_MAX];
    itest_unique(key, "cv");
    return post(&lcbd, "/v1/conversions", d->admin_cert, status,
                "{\"idempotency_key\": \"%s\", \"learner\": %lld, \"rule\": \"%s\"}", key,
                d->learner_ids[learner], rule);
}

static json_t *preview(const struct itest_district *d, int learner, const char *rule, int *status)
{
    return post(&lcbd, "/v1/conversions/preview", d->admin_cert, status,
                "{\"learner\": %lld, \"rule\": \"%s\"}", d->learner_ids[learner], rule);
}

static json_t *reverse(const struct itest_district *d, const char *cert, const char *tx,
                       const char *reason, int *status)
{
    char key[ITEST_CODE_MAX];
    itest_unique(key, "rv");
    (void)d;
    return post(&lcbd, "/v1/reversals", cert, status,
                "{\"idempotency_key\": \"%s\", \"transaction_id\": \"%s\", \"reason\": \"%s\"}",
                key, tx, reason);
}

static const char *error_code(json_t *doc)
{
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    return code ? code : "(none)";
}

static const char *text_of(json_t *doc, const char *name)
{
    const char *s = json_string_value(json_object_get(doc, name));
    return s ? s : "(none)";
}

static long balance(const struct itest_district *d, int learner, const char *unit)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT b.amount FROM balances b JOIN accounts a ON a.id = "
             "b.account_id WHERE a.learner_id = %lld AND b.unit = '%s'), 0)",
             d->learner_ids[learner], unit);
    return itest_sql_long(sql);
}

static long grant_of(json_t *doc)
{
    return (long)json_integer_value(json_object_get(json_object_get(doc, "grant"), "amount"));
}

static void assert_verifies(void)
{
    char *out = NULL;
    int rc = itest_lcbctl(&out, "verify", (char *)NULL);
    ck_assert_msg(rc == 0, "verify: %s", out);
    free(out);
}

/* 16 hours of a community course make 1 community credit; 2 community
 * credits make 1 elective credit, rounded down to whole credits. */
START_TEST(test_rounding_is_floor_and_consumes_oldest_first)
{
    struct itest_district d;
    char course[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], fine[ITEST_CODE_MAX], date[11];
    itest_district_make(&d, "rnd");
    school_item(&d, course, "course", "community", "100", "1");
    itest_unique(rule, "r");
    rule_add(&d, rule, "community", "academic", "1/2", "100", NULL);
    char *lots[3];
    for (int i = 0; i < 3; i++) {
        days_ago(date, 30 - i);
        lots[i] = deposit(&d, 0, "course", course, "pass", date);
    }
    int status;
    json_t *p = preview(&d, 0, rule, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(grant_of(p), 100);
    json_t *consume = json_object_get(p, "consume");
    ck_assert_int_eq(json_array_size(consume), 2);
    ck_assert_str_eq(text_of(json_array_get(consume, 0), "source_tx"), lots[0]);
    ck_assert_str_eq(text_of(json_array_get(consume, 1), "source_tx"), lots[1]);
    json_t *c = convert(&d, 0, rule, &status);
    ck_assert_msg(status == 200, "HTTP %d %s", status, error_code(c));
    ck_assert_str_eq(text_of(c, "status"), "posted");
    ck_assert_int_eq(balance(&d, 0, "community"), 100);
    ck_assert_int_eq(balance(&d, 0, "academic"), 100);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM transactions t JOIN conversions c ON c.transaction_id = t.id "
             "JOIN conversion_rules r ON r.id = c.rule_id WHERE t.id = '%s' AND t.kind = "
             "'conversion' AND t.reason LIKE 'rule:%s@1 %%' AND r.version = 1",
             text_of(c, "transaction_id"), rule);
    ck_assert_int_eq(itest_sql_long(sql), 1);
    /* 1.00 community left: half a credit, rounded down to nothing */
    json_t *again = convert(&d, 0, rule, &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(again), "nothing_to_convert");

    /* A rule without whole-credit steps floors in hundredths: 1.00 at 1/3 is
     * 0.33, which takes 0.99 and leaves 0.01. */
    itest_unique(fine, "r");
    rule_add(&d, fine, "community", "academic", "1/3", "1", NULL);
    json_t *thirds = convert(&d, 0, fine, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(balance(&d, 0, "academic"), 133);
    ck_assert_int_eq(balance(&d, 0, "community"), 1);
    assert_verifies();
    for (int i = 0; i < 3; i++)
        free(lots[i]);
    json_decref(p);
    json_decref(c);
    json_decref(again);
    json_decref(thirds);
}
END_TEST

START_TEST(test_cap_per_learner_and_programme)
{
    struct itest_district d;
    char course[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], other[ITEST_CODE_MAX], date[11];
    itest_district_make(&d, "cap");
    school_item(&d, course, "course", "community", "100", "1");
    itest_unique(rule, "r");
    itest_unique(other, "r");
    const char *cap2[] = {"--cap", "200", NULL}, *cap3[] = {"--cap", "300", NULL};
    rule_add(&d, rule, "community", "academic", "1/1", "100", cap2);
    rule_add(&d, other, "community", "academic", "1/1", "100", cap3);
    days_ago(date, 10);
    for (int i = 0; i < 5; i++)
        free(deposit(&d, 1, "course", course, "pass", date));
    int status;
    json_t *first = convert(&d, 1, rule, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(balance(&d, 1, "academic"), 200);
    ck_assert_int_eq(balance(&d, 1, "community"), 300);
    json_t *capped = convert(&d, 1, rule, &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(capped), "cap_reached");
    /* The cap is per programme: another rule for ELEC counts the 2.00 too. */
    json_t *p = preview(&d, 1, other, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(grant_of(p), 100);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "already_granted")), 200);
    json_decref(first);
    json_decref(capped);
    json_decref(p);
}
END_TEST

START_TEST(test_minimum_level)
{
    struct itest_district d;
    char low[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], date[11];
    itest_district_make(&d, "lvl");
    school_item(&d, low, "course", "vocational", "200", "2");
    itest_unique(rule, "r");
    const char *level3[] = {"--min-level", "3", NULL};
    rule_add(&d, rule, "vocational", "academic", "1/2", "1", level3);
    days_ago(date, 5);
    free(deposit(&d, 0, "course", low, "pass", date));
    int status;
    json_t *refused = preview(&d, 0, rule, &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(refused), "below_minimum_level");
    char *good = deposit(&d, 0, "course", d.school_course, "pass", date); /* level 3, 2.00 */
    json_t *p = preview(&d, 0, rule, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(grant_of(p), 100);
    ck_assert_int_eq(json_array_size(json_object_get(p, "consume")), 1);
    ck_assert_str_eq(text_of(json_array_get(json_object_get(p, "consume"), 0), "source_tx"), good);
    free(good);
    json_decref(refused);
    json_decref(p);
}
END_TEST

/* Windows count from the outcome's completed_on, which the school states. */
START_TEST(test_validity_window_and_unit_expiry)
{
    struct itest_district d;
    char unit[17], course[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], recent[11], path[96];
    itest_district_make(&d, "exp");
    snprintf(unit, sizeof unit, "u%ld", (long)itest_sql_long("SELECT nextval('card_serial')"));
    free(itest_lcbctl_ok("unit", "add", "--code", unit, "--name", "Test credits", "--scale", "100",
                         "--valid-months", "24", (char *)NULL));
    school_item(&d, course, "course", unit, "100", "2");
    itest_unique(rule, "r");
    const char *window[] = {"--validity-months", "60", NULL};
    rule_add(&d, rule, unit, "academic", "1/1", "1", window);
    free(deposit(&d, 2, "course", course, "pass", "2019-01-01"));
    int status;
    json_t *expired = preview(&d, 2, rule, &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(expired), "credits_expired");
    days_ago(recent, 3);
    free(deposit(&d, 2, "course", course, "pass", recent));
    /* 2019 is past the unit's 24 months: balance 2.00, 1.00 available. */
    json_t *learner = NULL;
    snprintf(path, sizeof path, "/v1/learners/%lld", d.learner_ids[2]);
    ck_assert_int_eq(itest_https(&lcbd, "GET", path, NULL, d.auditor_cert, &status, &learner), 0);
    ck_assert_int_eq(status, 200);
    json_t *avail = json_object_get(json_object_get(learner, "availability"), unit);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(learner, "balances"), unit)),
                     200);
    ck_assert_int_eq(json_integer_value(json_object_get(avail, "available")), 100);
    ck_assert_int_eq(json_integer_value(json_object_get(avail, "expired")), 100);
    json_t *card = NULL;
    snprintf(path, sizeof path, "/v1/cards/%s/balance", d.cards[2]);
    ck_assert_int_eq(itest_https(&lcbd, "GET", path, NULL, d.admin_cert, &status, &card), 0);
    avail = json_object_get(json_object_get(card, "availability"), unit);
    ck_assert_int_eq(json_integer_value(json_object_get(avail, "expired")), 100);
    json_t *c = convert(&d, 2, rule, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(balance(&d, 2, "academic"), 100);
    ck_assert_int_eq(balance(&d, 2, unit), 100); /* the expired lot stays, unconverted */
    json_decref(expired);
    json_decref(learner);
    json_decref(card);
    json_decref(c);
}
END_TEST

START_TEST(test_rule_versions_never_change_past_conversions)
{
    struct itest_district d;
    char course[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], future[ITEST_CODE_MAX], date[11];
    itest_district_make(&d, "ver");
    school_item(&d, course, "course", "community", "100", "1");
    itest_unique(rule, "r");
    rule_add(&d, rule, "community", "academic", "1/2", "1", NULL);
    days_ago(date, 20);
    free(deposit(&d, 0, "course", course, "pass", date));
    int status;
    json_t *v1 = convert(&d, 0, rule, &status);
    ck_assert_int_eq(status, 200);
    rule_add(&d, rule, "community", "academic", "1/1", "1", NULL); /* version 2, from today */
    const char *later[] = {"--valid-from", "2099-01-01", NULL};
    rule_add(&d, rule, "community", "academic", "5/1", "1", later); /* 3: not yet */
    free(deposit(&d, 0, "course", course, "pass", date));
    json_t *v2 = convert(&d, 0, rule, &status);
    ck_assert_int_eq(status, 200);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT string_agg(r.version || ':' || c.granted, ',' ORDER BY r.version) "
             "FROM conversions c JOIN conversion_rules r ON r.id = c.rule_id "
             "WHERE c.transaction_id IN ('%s', '%s')",
             text_of(v1, "transaction_id"), text_of(v2, "transaction_id"));
    PGresult *res = itest_sql(sql);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "1:50,2:100");
    PQclear(res);
    ck_assert_int_eq(balance(&d, 0, "academic"), 150);
    /* a rule whose only version starts later is not in force; none is unknown */
    itest_unique(future, "r");
    rule_add(&d, future, "community", "academic", "1/1", "1", later);
    json_t *not_yet = preview(&d, 0, future, &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(not_yet), "rule_not_in_force");
    json_t *unknown = preview(&d, 0, "no-such-rule", &status);
    ck_assert_int_eq(status, 404);
    ck_assert_str_eq(error_code(unknown), "rule_not_found");
    json_decref(v1);
    json_decref(v2);
    json_decref(not_yet);
    json_decref(unknown);
}
END_TEST

START_TEST(test_reversal_and_its_refusals)
{
    struct itest_district d;
    char course[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], date[11], outsider[ITEST_PATH_MAX + 64];
    itest_district_make(&d, "rev");
    school_item(&d, course, "course", "community", "100", "1");
    itest_unique(rule, "r");
    rule_add(&d, rule, "community", "academic", "1/1", "100", NULL);
    days_ago(date, 7);
    char *lot = deposit(&d, 1, "course", course, "pass", date);
    int status;
    json_t *c = convert(&d, 1, rule, &status);
    ck_assert_int_eq(status, 200);
    char *conversion = strdup(text_of(c, "transaction_id"));

    json_t *consumed = reverse(&d, d.admin_cert, lot, "entered twice", &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(consumed), "deposit_consumed");
    /* an administrator of a sibling subtree may not touch this learner */
    snprintf(outsider, sizeof outsider, "%s/certs/%s-outsider", itest_env()->dir, d.prefix);
    free(itest_lcbctl_ok("cert", "issue", "--ca-dir", itest_env()->ca_dir, "--role",
                         "administrator", "--institution", d.other_school, "--name", "Outsider",
                         "--out", outsider, (char *)NULL));
    json_t *outside = reverse(&d, outsider, conversion, "no", &status);
    ck_assert_int_eq(status, 403);
    ck_assert_str_eq(error_code(outside), "outside_subtree");

    json_t *undo = reverse(&d, d.admin_cert, conversion, "wrong programme", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(text_of(undo, "status"), "posted");
    ck_assert_int_eq(balance(&d, 1, "academic"), 0);
    ck_assert_int_eq(balance(&d, 1, "community"), 100);
    json_t *twice = reverse(&d, d.admin_cert, conversion, "again", &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(twice), "already_reversed");
    json_t *of_reversal =
        reverse(&d, d.admin_cert, text_of(undo, "transaction_id"), "undo the undo", &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(of_reversal), "reversal_of_reversal");
    /* the conversion's reversal released the deposit */
    json_t *released = reverse(&d, d.admin_cert, lot, "entered twice", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(balance(&d, 1, "community"), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM transactions WHERE reverses = '%s' "
             "AND kind = 'reversal' AND reason = 'entered twice'", lot);
    ck_assert_int_eq(itest_sql_long(sql), 1);

    json_t *missing = reverse(&d, d.admin_cert, "00000000-0000-4000-8000-000000000000", "x",
                              &status);
    ck_assert_int_eq(status, 404);
    ck_assert_str_eq(error_code(missing), "transaction_not_found");
    json_t *no_reason = post(&lcbd, "/v1/reversals", d.admin_cert, &status,
                             "{\"idempotency_key\": \"k\", \"transaction_id\": \"%s\"}", lot);
    ck_assert_int_eq(status, 400);
    ck_assert_str_eq(error_code(no_reason), "invalid_field");
    json_t *school = reverse(&d, d.school_cert, lot, "x", &status);
    ck_assert_int_eq(status, 403);
    ck_assert_str_eq(error_code(school), "forbidden");
    assert_verifies();
    json_t *docs[] = {c, consumed, outside, undo, twice, of_reversal, released, missing,
                      no_reason, school};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        json_decref(docs[i]);
    free(lot);
    free(conversion);
}
END_TEST

/* A 1+X intermediate certificate deposits 4 vocational credits. */
START_TEST(test_certificate_recognition_rule)
{
    struct itest_district d;
    char date[11], sql[256];
    itest_district_make(&d, "rec");
    free(itest_lcbctl_ok("recognition", "add", "--certificate", d.school_certificate, "--result",
                         "intermediate", "--credits", "400", (char *)NULL));
    days_ago(date, 2);
    char *tx = deposit(&d, 0, "certificate", d.school_certificate, "intermediate", date);
    ck_assert_int_eq(balance(&d, 0, "vocational"), 400);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM transactions WHERE id = '%s' AND reason = "
             "'recognition:%s/intermediate@1'", tx, d.school_certificate);
    ck_assert_int_eq(itest_sql_long(sql), 1);
    free(tx);
    /* a level without a rule deposits the catalogue value (5.00) */
    free(deposit(&d, 1, "certificate", d.school_certificate, "senior", date));
    ck_assert_int_eq(balance(&d, 1, "vocational"), 500);
    /* a new version applies to later postings only */
    free(itest_lcbctl_ok("recognition", "add", "--certificate", d.school_certificate, "--result",
                         "intermediate", "--credits", "450", (char *)NULL));
    free(deposit(&d, 2, "certificate", d.school_certificate, "intermediate", date));
    ck_assert_int_eq(balance(&d, 2, "vocational"), 450);
    ck_assert_int_eq(balance(&d, 0, "vocational"), 400);
    assert_verifies();
}
END_TEST

START_TEST(test_transcript_and_lcbctl_through_lcbd)
{
    struct itest_district d;
    char course[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], date[11], url[64], path[96];
    char crt[ITEST_PATH_MAX + 8], key[ITEST_PATH_MAX + 8], learner[24];
    itest_district_make(&d, "trn");
    school_item(&d, course, "course", "community", "100", "1");
    itest_unique(rule, "r");
    rule_add(&d, rule, "community", "academic", "1/2", "100", NULL);
    days_ago(date, 40);
    free(deposit(&d, 0, "course", course, "pass", date));
    free(deposit(&d, 0, "course", course, "pass", date));
    snprintf(url, sizeof url, "https://127.0.0.1:%d", lcbd.port);
    snprintf(crt, sizeof crt, "%s.crt", d.admin_cert);
    snprintf(key, sizeof key, "%s.key", d.admin_cert);
    snprintf(learner, sizeof learner, "%lld", d.learner_ids[0]);
    char *shown = itest_lcbctl_ok("convert", "preview", "--learner", learner, "--rule", rule,
                                  "--url", url, "--cert", crt, "--key", key, "--ca",
                                  itest_env()->ca_cert, (char *)NULL);
    ck_assert_msg(strstr(shown, "would grant: academic 100") != NULL, "%s", shown);
    char *posted = itest_lcbctl_ok("convert", "execute", "--learner", learner, "--rule", rule,
                                   "--idempotency-key", "trn-1", "--url", url, "--cert", crt,
                                   "--key", key, "--ca", itest_env()->ca_cert, (char *)NULL);
    ck_assert_msg(strncmp(posted, "posted ", 7) == 0, "%s", posted);
    char *out = NULL;
    ck_assert_int_eq(itest_lcbctl(&out, "convert", "execute", "--learner", learner, "--rule",
                                  rule, "--url", url, "--cert", crt, "--key", key, "--ca",
                                  itest_env()->ca_cert, (char *)NULL),
                     1);
    ck_assert_msg(strstr(out, "nothing_to_convert") != NULL, "%s", out);
    free(out);

    int status;
    json_t *doc = NULL;
    snprintf(path, sizeof path, "/v1/learners/%s/transcript", learner);
    ck_assert_int_eq(itest_https(&lcbd, "GET", path, NULL, d.auditor_cert, &status, &doc), 0);
    ck_assert_int_eq(status, 200);
    json_t *community = json_object_get(json_object_get(doc, "units"), "community");
    ck_assert_int_eq(json_array_size(json_object_get(community, "deposits")), 2);
    json_t *conv = json_array_get(json_object_get(community, "conversions"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(conv, "amount")), -200);
    ck_assert_int_eq(strlen(text_of(conv, "hash")), 64);
    ck_assert_int_eq(json_integer_value(json_object_get(community, "available")), 0);
    json_decref(doc);
    ck_assert_int_eq(itest_https(&lcbd, "GET", path, NULL, d.school_cert, &status, &doc), 0);
    ck_assert_int_eq(status, 403);
    json_decref(doc);

    char *text = itest_lcbctl_ok("transcript", learner, (char *)NULL);
    ck_assert_msg(strstr(text, "community (") != NULL && strstr(text, "conversion") != NULL &&
                      strstr(text, "academic (") != NULL,
                  "%s", text);
    char tx[40];
    ck_assert_int_eq(sscanf(posted, "posted %36s", tx), 1);
    char *undone = itest_lcbctl_ok("reverse", tx, "--reason", "demo", "--url", url, "--cert", crt,
                                   "--key", key, "--ca", itest_env()->ca_cert, (char *)NULL);
    ck_assert_msg(strstr(undone, "posted ") != NULL, "%s", undone);
    ck_assert_int_eq(balance(&d, 0, "academic"), 0);
    free(shown);
    free(posted);
    free(text);
    free(undone);
}
END_TEST

#define RACERS 8

/* Racers post at once, half to each of two lcbd processes sharing the
 * database: the learner's 2.00 community make exactly one 1.00 elective. */
START_TEST(test_concurrent_conversions_exactly_one_wins)
{
    struct itest_district d;
    char course[ITEST_CODE_MAX], rule[ITEST_CODE_MAX], date[11];
    int go[2], verdicts[2];
    itest_district_make(&d, "race");
    school_item(&d, course, "course", "community", "100", "1");
    itest_unique(rule, "r");
    rule_add(&d, rule, "community", "academic", "1/2", "100", NULL);
    days_ago(date, 9);
    free(deposit(&d, 0, "course", course, "pass", date));
    free(deposit(&d, 0, "course", course, "pass", date));
    ck_assert_int_eq(itest_lcbd_start(&second_lcbd, NULL), 0);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(verdicts), 0);
    pid_t racers[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = fork();
        ck_assert_int_ge(racers[i], 0);
        if (racers[i] != 0)
            continue;
        char byte, key[ITEST_CODE_MAX], body[256], verdict[64];
        close(go[1]);
        itest_unique(key, "race");
        snprintf(body, sizeof body,
                 "{\"idempotency_key\": \"%s-%d\", \"learner\": %lld, \"rule\": \"%s\"}", key, i,
                 d.learner_ids[0], rule);
        if (read(go[0], &byte, 1) != 0) /* the parent closes it: everyone starts */
            _exit(2);
        int status = 0;
        json_t *doc = NULL;
        itest_https(i % 2 ? &second_lcbd : &lcbd, "POST", "/v1/conversions", body,
                    d.admin_cert, &status, &doc);
        int n = snprintf(verdict, sizeof verdict, "%d %s\n", status,
                         status == 200 ? text_of(doc, "status") : error_code(doc));
        _exit(write(verdicts[1], verdict, (size_t)n) == n ? 0 : 1);
    }
    close(go[0]);
    close(verdicts[1]);
    usleep(200000);
    close(go[1]);
    int posted = 0, refused = 0, child;
    for (int i = 0; i < RACERS; i++) {
        ck_assert_int_eq(waitpid(racers[i], &child, 0), racers[i]);
        ck_assert(WIFEXITED(child) && WEXITSTATUS(child) == 0);
    }
    char all[RACERS * 64 + 1];
    ssize_t got = read(verdicts[0], all, sizeof all - 1);
    close(verdicts[0]);
    ck_assert_int_gt(got, 0);
    all[got] = '\0';
    for (char *line = strtok(all, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strcmp(line, "200 posted") == 0)
            posted++;
        else if (strcmp(line, "409 nothing_to_convert") == 0)
            refused++;
        else
            ck_abort_msg("unexpected answer: %s", line);
    }
    ck_assert_int_eq(itest_lcbd_stop(&second_lcbd), 0);
    ck_assert_int_eq(posted, 1);
    ck_assert_int_eq(refused, RACERS - 1);
    ck_assert_int_eq(balance(&d, 0, "community"), 0);
    ck_assert_int_eq(balance(&d, 0, "academic"), 100);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(cc.amount), 0) FROM conversion_consumption cc JOIN conversions c "
             "ON c.transaction_id = cc.conversion_tx WHERE c.learner_id = %lld",
             d.learner_ids[0]);
    ck_assert_int_eq(itest_sql_long(sql), 200);
    assert_verifies();
}
END_TEST

Suite *itest_rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *rules = tcase_create("rules");
    tcase_add_unchecked_fixture(rules, start_lcbd, stop_lcbd);
    tcase_set_timeout(rules, 300);
    tcase_add_test(rules, test_rounding_is_floor_and_consumes_oldest_first);
    tcase_add_test(rules, test_cap_per_learner_and_programme);
    tcase_add_test(rules, test_minimum_level);
    tcase_add_test(rules, test_validity_window_and_unit_expiry);
    tcase_add_test(rules, test_rule_versions_never_change_past_conversions);
    tcase_add_test(rules, test_reversal_and_its_refusals);
    tcase_add_test(rules, test_certificate_recognition_rule);
    tcase_add_test(rules, test_transcript_and_lcbctl_through_lcbd);
    tcase_add_test(rules, test_concurrent_conversions_exactly_one_wins);
    suite_add_tcase(s, rules);
    return s;
}
