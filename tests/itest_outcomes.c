/* Posting outcomes, the heart of the ledger, as a school does it: post,
 * replay, replay with other content, mixed batches, every refusal with its
 * code and nothing changed, tampering caught by lcbctl verify, key rotation,
 * and a PostgreSQL crash during postings losing nothing acknowledged. */
#include "tests/itest.h"
#include "tests/itest_proxy.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The cases below are tables of SQL and JSON templates. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static struct itest_lcbd lcbd;
static struct itest_district district;

static void start_lcbd(void)
{
    itest_district_make(&district, "out");
    ck_assert_int_eq(itest_lcbd_start(&lcbd, NULL), 0);
}

static void stop_lcbd(void)
{
    ck_assert_int_eq(itest_lcbd_stop(&lcbd), 0);
}

static long count_sql(const char *fmt, const char *arg)
{
    char sql[4096];
    snprintf(sql, sizeof sql, fmt, arg);
    return itest_sql_long(sql);
}

static long ledger_size(void)
{
    return itest_sql_long("SELECT (SELECT count(*) FROM transactions) * 1000000 + "
                          "(SELECT count(*) FROM entries)");
}

static long balance_of(const char *card, const char *unit)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT b.amount FROM balances b JOIN accounts a ON a.id = "
             "b.account_id JOIN cards c ON c.learner_id = a.learner_id WHERE c.number = '%s' "
             "AND b.unit = '%s'), 0)",
             card, unit);
    return itest_sql_long(sql);
}

/* POSTs {"outcomes": [items]} as cert; returns the parsed answer. */
static json_t *post_outcomes(const char *cert, const char *items_json, int *status)
{
    char *body;
    ck_assert(asprintf(&body, "{\"outcomes\": [%s]}", items_json) > 0);
    json_t *doc = NULL;
    ck_assert_int_eq(itest_https(&lcbd, "POST", "/v1/outcomes", body, cert, status, &doc), 0);
    free(body);
    ck_assert_msg(doc != NULL, "the answer is not JSON");
    return doc;
}

static char *outcome_json(const char *key, const char *card, const char *course, const char *date)
{
    char *item;
    ck_assert(asprintf(&item,
                       "{\"idempotency_key\": \"%s\", \"card\": \"%s\", \"course\": \"%s\", "
                       "\"result\": \"pass\", \"completed_on\": \"%s\"}",
                       key, card, course, date) > 0);
    return item;
}

static json_t *result_at(json_t *doc, size_t i)
{
    json_t *results = json_object_get(doc, "results");
    ck_assert_msg(json_is_array(results), "no results array");
    ck_assert_msg(i < json_array_size(results), "too few results");
    return json_array_get(results, i);
}

static const char *status_at(json_t *doc, size_t i)
{
    return json_string_value(json_object_get(result_at(doc, i), "status"));
}

static const char *error_code_at(json_t *doc, size_t i)
{
    json_t *error = json_object_get(result_at(doc, i), "error");
    return error ? json_string_value(json_object_get(error, "code")) : "(none)";
}

static const char *document_error_code(json_t *doc)
{
    json_t *error = json_object_get(doc, "error");
    return error ? json_string_value(json_object_get(error, "code")) : "(none)";
}

START_TEST(test_post_replay_and_conflicting_replay)
{
    char key[ITEST_CODE_MAX];
    itest_unique(key, "k");
    const char *card = district.cards[0];
    long before = balance_of(card, "vocational");
    char *item = outcome_json(key, card, district.school_course, "2026-03-01");
    int status;
    json_t *first = post_outcomes(district.school_cert, item, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(status_at(first, 0), "posted");
    const char *tx = json_string_value(json_object_get(result_at(first, 0), "transaction_id"));
    const char *hash = json_string_value(json_object_get(result_at(first, 0), "hash"));
    ck_assert_int_eq(strlen(hash), 64);
    ck_assert_int_eq(balance_of(card, "vocational"), before + 200);
    ck_assert_int_eq(count_sql("SELECT count(*) FROM transactions WHERE id = '%s'", tx), 1);

    /* The same posting again: the original answer, no second effect. */
    long size = ledger_size();
    json_t *replay = post_outcomes(district.school_cert, item, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(status_at(replay, 0), "duplicate");
    ck_assert_str_eq(json_string_value(json_object_get(result_at(replay, 0), "transaction_id")), tx);
    ck_assert_str_eq(json_string_value(json_object_get(result_at(replay, 0), "hash")), hash);
    ck_assert_int_eq(ledger_size(), size);

    /* The same key with other content is refused, and changes nothing. */
    char *other = outcome_json(key, card, district.school_course, "2026-03-02");
    json_t *conflict = post_outcomes(district.school_cert, other, &status);
    ck_assert_str_eq(status_at(conflict, 0), "rejected");
    ck_assert_str_eq(error_code_at(conflict, 0), "idempotency_conflict");
    ck_assert_int_eq(ledger_size(), size);

    /* Another key for the same course and learner: its credits count once. */
    char again_key[ITEST_CODE_MAX];
    itest_unique(again_key, "k");
    char *again = outcome_json(again_key, card, district.school_course, "2026-03-05");
    json_t *twice = post_outcomes(district.school_cert, again, &status);
    ck_assert_str_eq(error_code_at(twice, 0), "course_already_credited");
    ck_assert_int_eq(ledger_size(), size);
    json_decref(twice);
    free(again);
    ck_assert_int_eq(balance_of(card, "vocational"), before + 200);
    json_decref(first);
    json_decref(replay);
    json_decref(conflict);
    free(item);
    free(other);
}
END_TEST

START_TEST(test_transaction_is_double_entry_and_chained)
{
    char key1[ITEST_CODE_MAX], key2[ITEST_CODE_MAX];
    itest_unique(key1, "c");
    itest_unique(key2, "c");
    const char *card = district.cards[1];
    char *a = outcome_json(key1, card, district.school_course, "2026-01-10");
    char *b = outcome_json(key2, card, district.school_certificate, "2026-01-11");
    /* the second is a certificate posted as a course: refused */
    int status;
    json_t *doc = post_outcomes(district.school_cert, a, &status);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    const char *tx1 = json_string_value(json_object_get(result_at(doc, 0), "transaction_id"));
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT unit FROM entries WHERE transaction_id = '%s' "
             "GROUP BY unit HAVING sum(amount) = 0) balanced",
             tx1);
    ck_assert_int_eq(itest_sql_long(sql), 1);
    json_t *wrong = post_outcomes(district.school_cert, b, &status);
    ck_assert_str_eq(error_code_at(wrong, 0), "course_not_found");

    char cert_item[512];
    snprintf(cert_item, sizeof cert_item,
             "{\"idempotency_key\": \"%s\", \"card\": \"%s\", \"certificate\": \"%s\", "
             "\"result\": \"intermediate\", \"completed_on\": \"2026-01-11\", "
             "\"evidence_sha256\": \"%064d\"}",
             key2, card, district.school_certificate, 7);
    json_t *second = post_outcomes(district.school_cert, cert_item, &status);
    ck_assert_str_eq(status_at(second, 0), "posted");
    const char *tx2 = json_string_value(json_object_get(result_at(second, 0), "transaction_id"));
    /* The second transaction's prev_hash is the first one's hash. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM transactions t2 JOIN transactions t1 ON t1.id = '%s' "
             "WHERE t2.id = '%s' AND t2.prev_hash = t1.hash AND t2.chain_seq = t1.chain_seq + 1",
             tx1, tx2);
    ck_assert_int_eq(itest_sql_long(sql), 1);
    json_decref(doc);
    json_decref(wrong);
    json_decref(second);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_mixed_batch_answers_each_item)
{
    char k[6][ITEST_CODE_MAX];
    for (int i = 0; i < 6; i++)
        itest_unique(k[i], "m");
    char bad_luhn[ITEST_CARD_MAX];
    snprintf(bad_luhn, sizeof bad_luhn, "%s", district.cards[2]);
    bad_luhn[18] = bad_luhn[18] == '9' ? '0' : (char)(bad_luhn[18] + 1);
    char *items[6] = {
        outcome_json(k[0], district.cards[2], district.school_course, "2026-02-01"),
        outcome_json(k[1], bad_luhn, district.school_course, "2026-02-01"),
        outcome_json(k[2], district.cards[2], district.other_course, "2026-02-01"),
        outcome_json(k[3], district.cards[2], "NO-SUCH-COURSE", "2026-02-01"),
        outcome_json(k[4], district.cards[2], district.school_course, "2026-02-30"),
        outcome_json(k[5], "3302060000009999990", district.school_course, "2026-02-01"),
    };
    char *joined;
    ck_assert(asprintf(&joined, "%s,%s,%s,%s,%s,%s", items[0], items[1], items[2], items[3],
                       items[4], items[5]) > 0);
    long size = ledger_size();
    int status;
    json_t *doc = post_outcomes(district.school_cert, joined, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    ck_assert_str_eq(error_code_at(doc, 1), "invalid_card");
    ck_assert_str_eq(error_code_at(doc, 2), "course_not_owned");
    ck_assert_str_eq(error_code_at(doc, 3), "course_not_found");
    ck_assert_str_eq(error_code_at(doc, 4), "invalid_date");
    ck_assert_str_eq(status_at(doc, 5), "rejected");
    ck_assert_int_eq(ledger_size(), size + 1000000 + 2);
    json_decref(doc);
    for (int i = 0; i < 6; i++)
        free(items[i]);
    free(joined);
}
END_TEST

/* A transaction's id is a UUID version 7 holding its record's time in
 * milliseconds, so ids of later postings sort after earlier ones and new
 * keys go to the right edge of the ledger's key indexes. */
START_TEST(test_transaction_ids_carry_their_time)
{
    char tx[2][64];
    for (int i = 0; i < 2; i++) {
        char key[ITEST_CODE_MAX], course[ITEST_CODE_MAX];
        itest_unique(key, "t");
        itest_fresh_course(&district, course);
        char *item = outcome_json(key, district.cards[0], course, "2026-05-01");
        int status;
        json_t *doc = post_outcomes(district.school_cert, item, &status);
        ck_assert_str_eq(status_at(doc, 0), "posted");
        snprintf(tx[i], sizeof tx[i], "%s",
                 json_string_value(json_object_get(result_at(doc, 0), "transaction_id")));
        json_decref(doc);
        free(item);
    }
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM transactions WHERE id IN ('%s', '%s') "
             "AND substr(id::text, 15, 1) = '7' AND substr(id::text, 20, 1) IN ('8', '9', 'a', 'b') "
             "AND ('x' || lpad(replace(left(id::text, 13), '-', ''), 16, '0'))::bit(64)::bigint "
             "    = floor(extract(epoch FROM created_at) * 1000)",
             tx[0], tx[1]);
    ck_assert_int_eq(itest_sql_long(sql), 2);
    snprintf(sql, sizeof sql, "SELECT (left('%s', 13) <= left('%s', 13))::int", tx[0], tx[1]);
    ck_assert_int_eq(itest_sql_long(sql), 1);
}
END_TEST

/* One request, several groups' worth of trouble: keys that need quoting in
 * the batched statements, two postings to one card, and one card's learner
 * named by id as well as by card (two lock keys, one chain). Each posting is
 * recorded once, with its exact key, in chain order, and a replay of the
 * whole request answers every one as a duplicate of itself. */
START_TEST(test_group_keeps_each_posting_apart)
{
    char base[ITEST_CODE_MAX], keys[5][ITEST_CODE_MAX + 16], courses[3][ITEST_CODE_MAX];
    itest_unique(base, "q");
    /* JSON text of the keys; the keys themselves are base"0\,{NULL} etc. */
    for (int i = 0; i < 5; i++)
        snprintf(keys[i], sizeof keys[i], "%s\\\"%d\\\\,{NULL} x", base, i);
    for (int i = 0; i < 3; i++)
        itest_fresh_course(&district, courses[i]);
    const char *card_a = district.cards[1], *card_b = district.cards[2];
    char learner_b[24];
    snprintf(learner_b, sizeof learner_b, "%lld", district.learner_ids[2]);
    char *items[5] = {
        outcome_json(keys[0], card_a, courses[0], "2026-04-01"),
        outcome_json(keys[1], card_a, courses[1], "2026-04-01"),
        outcome_json(keys[2], card_b, courses[0], "2026-04-01"),
        NULL,
        outcome_json(keys[4], card_a, courses[2], "2026-04-01"),
    };
    ck_assert(asprintf(&items[3],
                       "{\"idempotency_key\": \"%s\", \"learner\": %s, \"course\": \"%s\", "
                       "\"result\": \"pass\", \"completed_on\": \"2026-04-01\"}",
                       keys[3], learner_b, courses[1]) > 0);
    char *joined;
    ck_assert(asprintf(&joined, "%s,%s,%s,%s,%s", items[0], items[1], items[2], items[3],
                       items[4]) > 0);
    long size = ledger_size();
    int status;
    json_t *first = post_outcomes(district.school_cert, joined, &status);
    ck_assert_int_eq(status, 200);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(strcmp(status_at(first, (size_t)i), "posted") == 0, "item %d: %s %s", i,
                      status_at(first, (size_t)i), error_code_at(first, (size_t)i));
    ck_assert_int_eq(ledger_size(), size + 5 * 1000000 + 10);
    for (int i = 0; i < 5; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM transactions WHERE id = '%s' "
                 "AND idempotency_key = '%s\"%d\\,{NULL} x'",
                 json_string_value(json_object_get(result_at(first, (size_t)i), "transaction_id")),
                 base, i);
        ck_assert_msg(itest_sql_long(sql) == 1, "item %d is not stored under its exact key", i);
    }
    /* Both chains are gapless: head_seq equals the number of records. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM accounts a JOIN cards c ON c.learner_id = a.learner_id "
             "WHERE c.number IN ('%s', '%s') AND a.head_seq = "
             "(SELECT count(*) FROM transactions t WHERE t.chain_account_id = a.id)",
             card_a, card_b);
    ck_assert_int_eq(itest_sql_long(sql), 2);

    json_t *replay = post_outcomes(district.school_cert, joined, &status);
    ck_assert_int_eq(status, 200);
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(status_at(replay, (size_t)i), "duplicate");
        ck_assert_str_eq(
            json_string_value(json_object_get(result_at(replay, (size_t)i), "transaction_id")),
            json_string_value(json_object_get(result_at(first, (size_t)i), "transaction_id")));
    }
    ck_assert_int_eq(ledger_size(), size + 5 * 1000000 + 10);
    json_decref(first);
    json_decref(replay);
    for (int i = 0; i < 5; i++)
        free(items[i]);
    free(joined);
}
END_TEST

START_TEST(test_bad_items_have_codes_and_change_nothing)
{
    static const struct {
        const char *item_format; /* %s: card, %s: course */
        const char *code;
    } cases[] = {
        {"{\"idempotency_key\": \"\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"2026-01-01\"}", "invalid_idempotency_key"},
        {"{\"idempotency_key\": \"x1\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"\", \"completed_on\": \"2026-01-01\"}", "invalid_result"},
        {"{\"idempotency_key\": \"x2\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"2999-01-01\"}", "invalid_date"},
        {"{\"idempotency_key\": \"x3\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"01/02/2026\"}", "invalid_date"},
        /* Found by tests/fuzz/fuzz_json.c: sscanf alone took a sign or a space. */
        {"{\"idempotency_key\": \"x3s\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"2026- 1-01\"}", "invalid_date"},
        {"{\"idempotency_key\": \"x3p\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"2026-+1-01\"}", "invalid_date"},
        {"{\"idempotency_key\": \"x4\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"2026-01-01\", \"credits\": 5}", "unknown_field"},
        {"{\"idempotency_key\": \"x5\", \"card\": \"%s\", \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"2026-01-01\", \"evidence_sha256\": \"abc\"}", "invalid_evidence"},
        {"{\"idempotency_key\": \"x6\", \"card\": \"%s\", \"certificate\": \"%s\", \"course\": \"C\", \"result\": \"p\", \"completed_on\": \"2026-01-01\"}", "invalid_outcome"},
        {"{\"idempotency_key\": \"x7\", \"card\": \"%s\", \"course\": \"%s\", \"learner\": 1, \"result\": \"p\", \"completed_on\": \"2026-01-01\"}", "invalid_outcome"},
        {"{\"idempotency_key\": \"x8\", \"card\": 12%s, \"course\": \"%s\", \"result\": \"p\", \"completed_on\": \"2026-01-01\"}", "invalid_card"},
        {"{\"idempotency_key\": \"x9\", \"card\": \"%s\", \"course\": \"bad code!%s\", \"result\": \"p\", \"completed_on\": \"2026-01-01\"}", "invalid_course"},
    };
    long size = ledger_size();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char item[1024];
        const char *card = strstr(cases[i].item_format, "12%s") ? "" : district.cards[0];
        snprintf(item, sizeof item, cases[i].item_format, card, district.school_course);
        int status;
        json_t *doc = post_outcomes(district.school_cert, item, &status);
        ck_assert_int_eq(status, 200);
        ck_assert_str_eq(status_at(doc, 0), "rejected");
        ck_assert_msg(strcmp(error_code_at(doc, 0), cases[i].code) == 0, "case %zu: %s, expected %s",
                      i, error_code_at(doc, 0), cases[i].code);
        json_t *error = json_object_get(result_at(doc, 0), "error");
        ck_assert(strlen(json_string_value(json_object_get(error, "message"))) > 0);
        json_decref(doc);
    }
    ck_assert_int_eq(ledger_size(), size);
}
END_TEST

START_TEST(test_bad_documents_get_400)
{
    char thousand_and_one[1001 * 4 + 64];
    size_t used = (size_t)snprintf(thousand_and_one, sizeof thousand_and_one, "{\"outcomes\": [");
    for (int i = 0; i < 1001; i++)
        used += (size_t)snprintf(thousand_and_one + used, sizeof thousand_and_one - used, "%s{}",
                                 i ? "," : "");
    snprintf(thousand_and_one + used, sizeof thousand_and_one - used, "]}");
    const struct {
        const char *body;
        const char *code;
    } cases[] = {
        {"{\"outcomes\": [", "invalid_json"},
        {"not json at all", "invalid_json"},
        {"[1, 2]", "invalid_request"},
        {"{}", "invalid_request"},
        {"{\"outcomes\": {}}", "invalid_request"},
        {"{\"outcomes\": []}", "invalid_batch_size"},
        {thousand_and_one, "invalid_batch_size"},
        {"{\"outcomes\": [{}], \"extra\": 1}", "unknown_field"},
        {"{\"outcomes\": [], \"outcomes\": []}", "invalid_json"},
    };
    long size = ledger_size();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status;
        json_t *doc = NULL;
        ck_assert_int_eq(
            itest_https(&lcbd, "POST", "/v1/outcomes", cases[i].body, district.school_cert, &status, &doc),
            0);
        ck_assert_msg(status == 400, "case %zu: HTTP %d", i, status);
        ck_assert_msg(doc != NULL && strcmp(document_error_code(doc), cases[i].code) == 0,
                      "case %zu: code %s, expected %s", i, doc ? document_error_code(doc) : "-",
                      cases[i].code);
        json_decref(doc);
    }
    ck_assert_int_eq(ledger_size(), size);
}
END_TEST

START_TEST(test_authority_refusals)
{
    char key[ITEST_CODE_MAX];
    itest_unique(key, "a");
    char *item = outcome_json(key, district.cards[0], district.school_course, "2026-01-05");
    long size = ledger_size();
    int status;
    json_t *doc = NULL;
    char body[1024];
    snprintf(body, sizeof body, "{\"outcomes\": [%s]}", item);
    ck_assert_int_eq(itest_https(&lcbd, "POST", "/v1/outcomes", body, NULL, &status, &doc), 0);
    ck_assert_int_eq(status, 401);
    ck_assert_str_eq(document_error_code(doc), "no_client_certificate");
    json_decref(doc);
    ck_assert_int_eq(itest_https(&lcbd, "POST", "/v1/outcomes", body, district.admin_cert, &status, &doc), 0);
    ck_assert_int_eq(status, 403);
    ck_assert_str_eq(document_error_code(doc), "forbidden");
    json_decref(doc);
    /* Another school may not post this school's course. */
    json_t *other = post_outcomes(district.other_school_cert, item, &status);
    ck_assert_str_eq(error_code_at(other, 0), "course_not_owned");
    json_decref(other);
    ck_assert_int_eq(ledger_size(), size);
    /* A revoked certificate is refused on the next request. */
    char cert_file[ITEST_PATH_MAX + 8];
    snprintf(cert_file, sizeof cert_file, "%s.crt", district.other_school_cert);
    free(itest_lcbctl_ok("cert", "revoke", "--cert", cert_file, (char *)NULL));
    ck_assert_int_eq(itest_https(&lcbd, "POST", "/v1/outcomes", body, district.other_school_cert, &status, &doc), 0);
    ck_assert_int_eq(status, 401);
    ck_assert_str_eq(document_error_code(doc), "credential_revoked");
    json_decref(doc);
    free(item);
}
END_TEST

START_TEST(test_lost_and_replaced_cards)
{
    struct itest_district d;
    itest_district_make(&d, "lost");
    char *out = itest_lcbctl_ok("card", "lost", d.cards[0], (char *)NULL);
    free(out);
    char key[ITEST_CODE_MAX];
    itest_unique(key, "l");
    char *item = outcome_json(key, d.cards[0], d.school_course, "2026-01-05");
    int status;
    json_t *doc = post_outcomes(d.school_cert, item, &status);
    ck_assert_str_eq(error_code_at(doc, 0), "card_lost");
    json_decref(doc);
    char *fresh = itest_lcbctl_ok("card", "replace", d.cards[0], (char *)NULL);
    char number[ITEST_CARD_MAX] = "";
    const char *digits = fresh + strcspn(fresh, "0123456789");
    snprintf(number, sizeof number, "%.19s", digits);
    free(fresh);
    doc = post_outcomes(d.school_cert, item, &status);
    ck_assert_str_eq(error_code_at(doc, 0), "card_replaced");
    json_decref(doc);
    free(item);
    itest_unique(key, "l");
    item = outcome_json(key, number, d.school_course, "2026-01-05");
    doc = post_outcomes(d.school_cert, item, &status);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    /* The new card reaches the same account. */
    ck_assert_int_eq(balance_of(number, "vocational"), 200);
    json_decref(doc);
    free(item);
}
END_TEST

/* Runs lcbctl verify; returns its exit status and output (caller frees). */
static int verify(char **out)
{
    return itest_lcbctl(out, "verify", (char *)NULL);
}

/* A superuser's direct change, past the append-only triggers. */
static void tamper(const char *sql)
{
    PGconn *conn = itest_pg_connect(NULL);
    PGresult *res = PQexec(conn, "SET session_replication_role = replica");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    res = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(conn);
}

START_TEST(test_verify_names_a_tampered_record)
{
    char key[ITEST_CODE_MAX];
    itest_unique(key, "t");
    char course[ITEST_CODE_MAX];
    itest_fresh_course(&district, course);
    char *item = outcome_json(key, district.cards[0], course, "2026-04-01");
    int status;
    json_t *doc = post_outcomes(district.school_cert, item, &status);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    char tx[64];
    snprintf(tx, sizeof tx, "%s", json_string_value(json_object_get(result_at(doc, 0), "transaction_id")));
    json_decref(doc);
    free(item);
    char *out = NULL;
    ck_assert_msg(verify(&out) == 0, "verify fails on an untouched ledger: %s", out);
    free(out);

    const struct {
        const char *change, *undo;
    } tampers[] = {
        {"UPDATE entries SET amount = amount * 2 WHERE transaction_id = '%s'",
         "UPDATE entries SET amount = amount / 2 WHERE transaction_id = '%s'"},
        {"UPDATE transactions SET result = 'fail' WHERE id = '%s'",
         "UPDATE transactions SET result = 'pass' WHERE id = '%s'"},
        {"UPDATE transactions SET completed_on = completed_on + 1 WHERE id = '%s'",
         "UPDATE transactions SET completed_on = completed_on - 1 WHERE id = '%s'"},
        {"UPDATE transactions SET signature = set_byte(signature, 5, get_byte(signature, 5) # 1) WHERE id = '%s'",
         "UPDATE transactions SET signature = set_byte(signature, 5, get_byte(signature, 5) # 1) WHERE id = '%s'"},
    };
    for (size_t i = 0; i < sizeof tampers / sizeof tampers[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql, tampers[i].change, tx);
        tamper(sql);
        ck_assert_msg(verify(&out) != 0, "verify passed after: %s", sql);
        ck_assert_msg(strstr(out, tx) != NULL, "verify does not name %s: %s", tx, out);
        free(out);
        snprintf(sql, sizeof sql, tampers[i].undo, tx);
        tamper(sql);
        ck_assert_msg(verify(&out) == 0, "verify fails after undoing tamper %zu: %s", i, out);
        free(out);
    }
}
END_TEST

/* Starts and stops its own lcbd: it restarts it with another key, which a
 * fixture in the parent process could not follow under CK_FORK. */
START_TEST(test_key_rotation_keeps_old_records_verifiable)
{
    start_lcbd();
    char key[ITEST_CODE_MAX];
    itest_unique(key, "r");
    char course[ITEST_CODE_MAX];
    itest_fresh_course(&district, course);
    char *item = outcome_json(key, district.cards[1], course, "2026-05-01");
    int status;
    json_t *doc = post_outcomes(district.school_cert, item, &status);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    json_decref(doc);
    free(item);
    ck_assert_int_eq(itest_lcbd_stop(&lcbd), 0);

    char new_key[ITEST_PATH_MAX + 32], extra[ITEST_PATH_MAX + 64];
    snprintf(new_key, sizeof new_key, "%s/rotated-%d.pem", itest_env()->dir, (int)getpid());
    free(itest_lcbctl_ok("keygen", "--out", new_key, (char *)NULL));
    snprintf(extra, sizeof extra, "signing_key = %s\n", new_key);
    ck_assert_int_eq(itest_lcbd_start(&lcbd, extra), 0);
    itest_unique(key, "r");
    itest_fresh_course(&district, course);
    item = outcome_json(key, district.cards[1], course, "2026-05-02");
    doc = post_outcomes(district.school_cert, item, &status);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    json_decref(doc);
    free(item);
    ck_assert_int_ge(itest_sql_long("SELECT count(DISTINCT key_id) FROM transactions"), 2);
    char *out = NULL;
    ck_assert_msg(verify(&out) == 0, "verify after rotation: %s", out);
    free(out);
    stop_lcbd();
}
END_TEST

/* Posts batches while PostgreSQL crashes and comes back: every posting
 * acknowledged is in the ledger exactly once; an unacknowledged one at
 * most once; lcbd reconnects by itself. */
START_TEST(test_postgres_crash_loses_nothing_acknowledged)
{
    enum { ROUNDS = 60 };
    char keys[ROUNDS][ITEST_CODE_MAX];
    bool acknowledged[ROUNDS];
    char *restart_argv[] = {NULL, "restart", NULL, "immediate", NULL};
    char script[ITEST_PATH_MAX + 32];
    snprintf(script, sizeof script, "%s/tests/pg-cluster", itest_env()->srcdir);
    restart_argv[0] = script;
    restart_argv[2] = (char *)itest_env()->pg_cluster;
    char courses[ROUNDS][ITEST_CODE_MAX]; /* made before the database goes away */
    for (int i = 0; i < ROUNDS; i++)
        itest_fresh_course(&district, courses[i]);
    pid_t crasher = fork();
    ck_assert_int_ge(crasher, 0);
    if (crasher == 0) {
        usleep(300000);
        _exit(itest_run(NULL, restart_argv) == 0 ? 0 : 1);
    }
    int saw_unavailable = 0;
    for (int i = 0; i < ROUNDS; i++) {
        itest_unique(keys[i], "p");
        char *item = outcome_json(keys[i], district.cards[2], courses[i], "2026-06-01");
        int status;
        json_t *doc = post_outcomes(district.school_cert, item, &status);
        acknowledged[i] = status == 200 && strcmp(status_at(doc, 0), "posted") == 0;
        if (status == 503)
            saw_unavailable++;
        else
            ck_assert_msg(acknowledged[i], "round %d: HTTP %d %s", i, status, status_at(doc, 0));
        json_decref(doc);
        free(item);
        usleep(20000);
    }
    int crash_status;
    ck_assert_int_eq(waitpid(crasher, &crash_status, 0), crasher);
    ck_assert_msg(WIFEXITED(crash_status) && WEXITSTATUS(crash_status) == 0, "restart failed");
    for (int i = 0; i < ROUNDS; i++) {
        long n = count_sql("SELECT count(*) FROM transactions WHERE idempotency_key = '%s'", keys[i]);
        if (acknowledged[i])
            ck_assert_msg(n == 1, "acknowledged posting %s is there %ld times", keys[i], n);
        else
            ck_assert_msg(n <= 1, "unacknowledged posting %s is there %ld times", keys[i], n);
    }
    /* lcbd is back without a restart of its own. */
    char key[ITEST_CODE_MAX];
    itest_unique(key, "p");
    char course[ITEST_CODE_MAX];
    itest_fresh_course(&district, course);
    char *item = outcome_json(key, district.cards[2], course, "2026-06-02");
    int status = 0;
    json_t *doc = NULL;
    for (int tries = 0; tries < 50; tries++) {
        json_decref(doc);
        doc = post_outcomes(district.school_cert, item, &status);
        if (status == 200)
            break;
        usleep(200000);
    }
    ck_assert_int_eq(status, 200);
    json_decref(doc);
    free(item);
    char *out = NULL;
    ck_assert_msg(verify(&out) == 0, "verify after the crash: %s", out);
    free(out);
    fprintf(stderr, "postgres crash: %d of %d postings answered 503 during the restart\n",
            saw_unavailable, ROUNDS);
}
END_TEST

/* The connection breaks while COMMIT runs (a deferred trigger holds the
 * COMMIT; the test terminates lcbd's backend meanwhile): lcbd settles the
 * posting by its key before answering, so it is refused as not recorded
 * (it is not in the ledger), and a retry with the same key posts it. */
START_TEST(test_connection_lost_during_commit_is_settled)
{
    PQclear(itest_sql(
        "CREATE OR REPLACE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql "
        "SECURITY DEFINER AS "
        "$$ BEGIN IF NEW.result = 'slow-commit' AND NOT EXISTS (SELECT 1 FROM test_commit_gate) "
        "THEN PERFORM pg_sleep(3); END IF; RETURN NULL; END $$"));
    PQclear(itest_sql("CREATE TABLE IF NOT EXISTS test_commit_gate (opened boolean)"));
    PQclear(itest_sql("DROP TRIGGER IF EXISTS test_slow_commit ON transactions"));
    PQclear(itest_sql("CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON transactions "
                      "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()"));
    char key[ITEST_CODE_MAX], body[1024], course[ITEST_CODE_MAX];
    itest_unique(key, "s");
    itest_fresh_course(&district, course);
    snprintf(body, sizeof body,
             "{\"idempotency_key\": \"%s\", \"card\": \"%s\", \"course\": \"%s\", "
             "\"result\": \"slow-commit\", \"completed_on\": \"2026-07-01\"}",
             key, district.cards[0], course);
    pid_t killer = fork();
    ck_assert_int_ge(killer, 0);
    if (killer == 0) {
        usleep(1000000);
        PGresult *res = itest_sql_params(NULL,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'lcbd' AND query = 'COMMIT' AND state = 'active'", 0, NULL);
        int killed = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : 0;
        PQclear(res);
        _exit(killed == 1 ? 0 : 1);
    }
    int status;
    json_t *doc = post_outcomes(district.school_cert, body, &status);
    int killed;
    ck_assert_int_eq(waitpid(killer, &killed, 0), killer);
    ck_assert_msg(WIFEXITED(killed) && WEXITSTATUS(killed) == 0, "lcbd's COMMIT was not caught");
    ck_assert_int_eq(status, 503);
    ck_assert_str_eq(error_code_at(doc, 0), "database_unavailable");
    json_decref(doc);
    ck_assert_int_eq(count_sql("SELECT count(*) FROM transactions WHERE idempotency_key = '%s'", key), 0);

    PQclear(itest_sql("INSERT INTO test_commit_gate VALUES (true)"));
    for (int tries = 0; tries < 50; tries++) {
        doc = post_outcomes(district.school_cert, body, &status);
        if (status == 200)
            break;
        json_decref(doc);
        doc = NULL;
        usleep(200000);
    }
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    json_decref(doc);
    ck_assert_int_eq(count_sql("SELECT count(*) FROM transactions WHERE idempotency_key = '%s'", key), 1);
    PQclear(itest_sql("DROP TRIGGER test_slow_commit ON transactions"));
}
END_TEST

/* The answer to COMMIT is lost after the server committed (a proxy between
 * lcbd and PostgreSQL cuts lcbd's connection right after forwarding it):
 * lcbd settles the posting by its key and acknowledges it, exactly once. */
START_TEST(test_lost_commit_answer_is_settled_as_posted)
{
    const char *port_at = strstr(itest_env()->superuser_db, "port=");
    ck_assert_ptr_nonnull(port_at);
    struct itest_proxy proxy;
    itest_proxy_start(&proxy, "127.0.0.1", atoi(port_at + 5));
    char extra[256];
    snprintf(extra, sizeof extra, "db = host=127.0.0.1 port=%d user=lcbd dbname=lcb_test\n",
             proxy.port);
    struct itest_lcbd via_proxy;
    ck_assert_int_eq(itest_lcbd_start(&via_proxy, extra), 0);

    char key[ITEST_CODE_MAX], body[1024], course[ITEST_CODE_MAX];
    itest_unique(key, "q");
    itest_fresh_course(&district, course);
    snprintf(body, sizeof body,
             "{\"outcomes\": [{\"idempotency_key\": \"%s\", \"card\": \"%s\", \"course\": "
             "\"%s\", \"result\": \"pass\", \"completed_on\": \"2026-07-02\"}]}",
             key, district.cards[1], course);
    itest_proxy_arm(&proxy);
    int status;
    json_t *doc = NULL;
    ck_assert_int_eq(itest_https(&via_proxy, "POST", "/v1/outcomes", body, district.school_cert,
                                 &status, &doc), 0);
    ck_assert_msg(status == 200, "HTTP %d", status);
    ck_assert_str_eq(status_at(doc, 0), "posted");
    const char *tx = json_string_value(json_object_get(result_at(doc, 0), "transaction_id"));
    ck_assert_int_eq(count_sql("SELECT count(*) FROM transactions WHERE id = '%s'", tx), 1);
    ck_assert_int_eq(count_sql("SELECT count(*) FROM transactions WHERE idempotency_key = '%s'", key), 1);
    json_decref(doc);
    ck_assert_int_eq(itest_lcbd_stop(&via_proxy), 0);
    itest_proxy_stop(&proxy);
}
END_TEST

Suite *itest_outcomes_suite(void)
{
    Suite *s = suite_create("outcomes");
    TCase *posting = tcase_create("posting");
    tcase_add_unchecked_fixture(posting, start_lcbd, stop_lcbd);
    tcase_set_timeout(posting, 300);
    tcase_add_test(posting, test_post_replay_and_conflicting_replay);
    tcase_add_test(posting, test_transaction_is_double_entry_and_chained);
    tcase_add_test(posting, test_transaction_ids_carry_their_time);
    tcase_add_test(posting, test_mixed_batch_answers_each_item);
    tcase_add_test(posting, test_group_keeps_each_posting_apart);
    tcase_add_test(posting, test_bad_items_have_codes_and_change_nothing);
    tcase_add_test(posting, test_bad_documents_get_400);
    tcase_add_test(posting, test_authority_refusals);
    tcase_add_test(posting, test_lost_and_replaced_cards);
    tcase_add_test(posting, test_verify_names_a_tampered_record);
    suite_add_tcase(s, posting);

    TCase *rotation = tcase_create("rotation");
    tcase_set_timeout(rotation, 300);
    tcase_add_test(rotation, test_key_rotation_keeps_old_records_verifiable);
    suite_add_tcase(s, rotation);

    TCase *crash = tcase_create("crash");
    tcase_add_unchecked_fixture(crash, start_lcbd, stop_lcbd);
    tcase_set_timeout(crash, 300);
    tcase_add_test(crash, test_postgres_crash_loses_nothing_acknowledged);
    tcase_add_test(crash, test_connection_lost_during_commit_is_settled);
    tcase_add_test(crash, test_lost_commit_answer_is_settled_as_posted);
    suite_add_tcase(s, crash);
    return s;
}
