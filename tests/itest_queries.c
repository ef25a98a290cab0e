/* The read-only HTTPS routes against a real lcbd and PostgreSQL: a card's
 * balance, a learner, a learner's chain of transactions and an
 * institution's totals, each after real deposits through /v1/outcomes.
 * An administrator sees only its own subtree; a lost and replaced card
 * keeps the learner's account. */
#include "tests/itest.h"
#include "tests/itest_api.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* GET path as cert, expecting 200; json_decref the answer. */
static json_t *get_ok(const char *path, const char *cert)
{
    int status = 0;
    json_t *json = itest_call("GET", path, NULL, cert, &status);

    if (status != 200) {
        char *dump = json_dumps(json, JSON_COMPACT);
        ck_abort_msg("GET %s: got %d %s", path, status, dump ? dump : "");
    }
    return json;
}

static json_t *post_ok(const char *path, const char *body, const char *cert, int want_status)
{
    int status = 0;
    json_t *json = itest_call("POST", path, body, cert, &status);

    if (status != want_status) {
        char *dump = json_dumps(json, JSON_COMPACT);
        ck_abort_msg("POST %s %s: got %d %s", path, body ? body : "", status, dump ? dump : "");
    }
    return json;
}

/* A school certifies one outcome for the holder of card; it must post. */
static void deposit(const char *school_cert, const char *card, const char *kind, const char *item)
{
    char key[ITEST_CODE_MAX], *body;
    json_t *json, *result;

    itest_unique(key, "key");
    body = itest_text("{\"outcomes\":[{\"idempotency_key\":\"%s\",\"card\":\"%s\",\"%s\":\"%s\","
                "\"result\":\"pass\",\"completed_on\":\"2024-06-01\"}]}",
                key, card, kind, item);
    json = post_ok("/v1/outcomes", body, school_cert, 200);
    result = json_array_get(json_object_get(json, "results"), 0);
    ck_assert_msg(json_is_string(json_object_get(result, "status")) &&
                      strcmp(json_string_value(json_object_get(result, "status")), "posted") == 0,
                  "deposit %s for %s not posted", item, card);
    json_decref(json);
    free(body);
}

static json_int_t balance_of(const json_t *doc, const char *unit)
{
    const json_t *amount = json_object_get(json_object_get(doc, "balances"), unit);

    ck_assert_msg(json_is_integer(amount), "no integer balance in %s", unit);
    return json_integer_value(amount);
}

/* A second branch of d's district, with one learner and an active card,
 * made by the district administrator through the API. */
static long long other_branch_learner(const struct itest_district *d, char card[ITEST_CARD_MAX])
{
    char code[ITEST_CODE_MAX], document[ITEST_CODE_MAX], *body;
    json_t *json;
    long long learner;

    itest_unique(code, "br2");
    body = itest_text("{\"code\":\"%s\",\"name\":\"Daqi Street Centre\",\"kind\":\"branch_centre\","
                "\"parent\":\"%s\"}",
                code, d->district);
    json_decref(post_ok("/v1/institutions", body, d->admin_cert, 201));
    free(body);
    itest_unique(document, "doc");
    body = itest_text("{\"id_document\":\"%s\",\"name\":\"Chen Mei\",\"institution\":\"%s\","
                "\"region\":\"330206\"}",
                document, code);
    json = post_ok("/v1/learners", body, d->admin_cert, 201);
    free(body);
    learner = json_integer_value(json_object_get(json, "learner"));
    snprintf(card, ITEST_CARD_MAX, "%s", json_string_value(json_object_get(json, "card")));
    json_decref(json);
    return learner;
}

/* ---- balance ------------------------------------------------------------- */

START_TEST(test_administrator_and_auditor_read_a_balance)
{
    struct itest_district d;
    char path[96];
    const char *readers[3];
    json_t *json;

    itest_district_make(&d, "qbal");
    deposit(d.school_cert, d.cards[0], "course", d.school_course);
    deposit(d.school_cert, d.cards[0], "certificate", d.school_certificate);
    snprintf(path, sizeof path, "/v1/cards/%s/balance", d.cards[0]);
    readers[0] = d.admin_cert;
    readers[1] = d.auditor_cert;
    readers[2] = d.branch_admin_cert; /* the learner is registered at the branch */
    for (int i = 0; i < 3; i++) {
        json = get_ok(path, readers[i]);
        ck_assert_str_eq(json_string_value(json_object_get(json, "card")), d.cards[0]);
        ck_assert_str_eq(json_string_value(json_object_get(json, "card_status")), "active");
        ck_assert_int_eq(json_integer_value(json_object_get(json, "learner")), d.learner_ids[0]);
        /* 2.00 + 5.00 vocational credits, in hundredths */
        ck_assert_int_eq(balance_of(json, "vocational"), 700);
        ck_assert_uint_eq(json_object_size(json_object_get(json, "balances")), 1);
        json_decref(json);
    }

    /* a card with no deposits has an empty balance, not an error */
    snprintf(path, sizeof path, "/v1/cards/%s/balance", d.cards[1]);
    json = get_ok(path, d.admin_cert);
    ck_assert(json_is_object(json_object_get(json, "balances")));
    ck_assert_uint_eq(json_object_size(json_object_get(json, "balances")), 0);
    json_decref(json);
}
END_TEST

START_TEST(test_balance_refusals)
{
    struct itest_district d;
    char path[96], other_card[ITEST_CARD_MAX];

    itest_district_make(&d, "qbalref");
    other_branch_learner(&d, other_card);
    snprintf(path, sizeof path, "/v1/cards/%s/balance", d.cards[0]);
    /* a school posts outcomes; it does not look up card holders */
    itest_expect_error("GET", path, NULL, d.school_cert, 403, "forbidden", NULL);
    snprintf(path, sizeof path, "/v1/cards/%s/balance", other_card);
    itest_expect_error("GET", path, NULL, d.branch_admin_cert, 403, "outside_subtree", NULL);
    json_decref(get_ok(path, d.admin_cert));
    itest_expect_error("GET", "/v1/cards/3302060000000000000/balance", NULL, d.admin_cert, 400,
                 "invalid_card", NULL);
    itest_expect_error("GET", "/v1/cards/33020600000000000001/balance", NULL, d.admin_cert, 400,
                 "invalid_card", NULL);
    itest_expect_error("GET", "/v1/cards/3302069999999999996/balance", NULL, d.admin_cert, 404,
                 "card_not_found", NULL);
}
END_TEST

START_TEST(test_lost_then_replaced_card_keeps_the_account)
{
    struct itest_district d;
    char path[96], fresh[ITEST_CARD_MAX];
    json_t *json;

    itest_district_make(&d, "qrepl");
    deposit(d.school_cert, d.cards[1], "course", d.school_course);
    snprintf(path, sizeof path, "/v1/cards/%s/lost", d.cards[1]);
    json_decref(post_ok(path, NULL, d.branch_admin_cert, 200));
    snprintf(path, sizeof path, "/v1/cards/%s/replace", d.cards[1]);
    json = post_ok(path, "{\"region\":\"330206\"}", d.branch_admin_cert, 200);
    snprintf(fresh, sizeof fresh, "%s", json_string_value(json_object_get(json, "replaced_by")));
    json_decref(json);
    ck_assert_uint_eq(strlen(fresh), 19);

    /* the credits earned on the old card show through the new one */
    snprintf(path, sizeof path, "/v1/cards/%s/balance", fresh);
    json = get_ok(path, d.admin_cert);
    ck_assert_int_eq(json_integer_value(json_object_get(json, "learner")), d.learner_ids[1]);
    ck_assert_str_eq(json_string_value(json_object_get(json, "card_status")), "active");
    ck_assert_int_eq(balance_of(json, "vocational"), 200);
    json_decref(json);

    /* and what the new card earns is the same account's */
    deposit(d.school_cert, fresh, "certificate", d.school_certificate);
    snprintf(path, sizeof path, "/v1/cards/%s/balance", d.cards[1]);
    json = get_ok(path, d.auditor_cert);
    ck_assert_str_eq(json_string_value(json_object_get(json, "card_status")), "replaced");
    ck_assert_int_eq(balance_of(json, "vocational"), 700);
    json_decref(json);
}
END_TEST

/* ---- learner ------------------------------------------------------------- */

START_TEST(test_learner_with_cards_and_balances)
{
    struct itest_district d;
    char path[96], name[96], fresh[ITEST_CARD_MAX], other_card[ITEST_CARD_MAX];
    json_t *json, *cards;
    long long other;

    itest_district_make(&d, "qlrn");
    deposit(d.school_cert, d.cards[2], "course", d.school_course);
    snprintf(path, sizeof path, "/v1/cards/%s/replace", d.cards[2]);
    json = post_ok(path, NULL, d.admin_cert, 200);
    snprintf(fresh, sizeof fresh, "%s", json_string_value(json_object_get(json, "replaced_by")));
    json_decref(json);

    snprintf(path, sizeof path, "/v1/learners/%lld", d.learner_ids[2]);
    json = get_ok(path, d.auditor_cert);
    snprintf(name, sizeof name, "Learner 2 of %s", d.prefix);
    ck_assert_int_eq(json_integer_value(json_object_get(json, "learner")), d.learner_ids[2]);
    ck_assert_str_eq(json_string_value(json_object_get(json, "name")), name);
    ck_assert_str_eq(json_string_value(json_object_get(json, "institution")), d.branch);
    cards = json_object_get(json, "cards");
    ck_assert_uint_eq(json_array_size(cards), 2);
    /* oldest first: the replaced card names its successor */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cards, 0), "number")),
                     d.cards[2]);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cards, 0), "status")),
                     "replaced");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cards, 0), "replaced_by")),
                     fresh);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cards, 1), "status")),
                     "active");
    ck_assert(json_is_null(json_object_get(json_array_get(cards, 1), "replaced_by")));
    ck_assert_int_eq(balance_of(json, "vocational"), 200);
    json_decref(json);

    other = other_branch_learner(&d, other_card);
    snprintf(path, sizeof path, "/v1/learners/%lld", other);
    itest_expect_error("GET", path, NULL, d.branch_admin_cert, 403, "outside_subtree", NULL);
    itest_expect_error("GET", path, NULL, d.school_cert, 403, "forbidden", NULL);
    itest_expect_error("GET", "/v1/learners/abc", NULL, d.admin_cert, 400, "invalid_parameter", NULL);
    itest_expect_error("GET", "/v1/learners/-4", NULL, d.admin_cert, 400, "invalid_parameter", NULL);
    itest_expect_error("GET", "/v1/learners/999999999999", NULL, d.admin_cert, 404, "learner_not_found", NULL);
}
END_TEST

/* ---- transactions -------------------------------------------------------- */

static bool is_hex(const char *s, size_t len)
{
    return s != NULL && strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

/* One transaction as the API shows it: signed, chained, balanced. */
static void check_transaction(const json_t *tx, long long seq, const char *learner_item)
{
    const json_t *entries = json_object_get(tx, "entries");
    json_int_t sum = 0;
    const char *created = json_string_value(json_object_get(tx, "created_at"));

    ck_assert_int_eq(json_integer_value(json_object_get(tx, "seq")), seq);
    ck_assert_str_eq(json_string_value(json_object_get(tx, "kind")), "deposit");
    ck_assert_str_eq(json_string_value(json_object_get(tx, "item_code")), learner_item);
    ck_assert_str_eq(json_string_value(json_object_get(tx, "completed_on")), "2024-06-01");
    ck_assert(is_hex(json_string_value(json_object_get(tx, "hash")), 64));
    ck_assert(is_hex(json_string_value(json_object_get(tx, "prev_hash")), 64));
    ck_assert(is_hex(json_string_value(json_object_get(tx, "signature")), 128));
    ck_assert(is_hex(json_string_value(json_object_get(tx, "key_id")), 16));
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(tx, "transaction_id"))), 36);
    ck_assert_msg(created != NULL && strlen(created) == 27 && created[10] == 'T' &&
                      created[26] == 'Z',
                  "created_at %s is not RFC 3339 UTC", created ? created : "(none)");
    ck_assert_uint_ge(json_array_size(entries), 2);
    for (size_t i = 0; i < json_array_size(entries); i++)
        sum += json_integer_value(json_object_get(json_array_get(entries, i), "amount"));
    ck_assert_int_eq(sum, 0);
}

static json_t *transactions_page(long long learner, const char *query, const char *cert)
{
    char path[160];

    snprintf(path, sizeof path, "/v1/learners/%lld/transactions%s", learner, query);
    return get_ok(path, cert);
}

START_TEST(test_transactions_newest_first_in_pages)
{
    struct itest_district d;
    json_t *all, *page, *txs;
    const json_t *newest;

    itest_district_make(&d, "qtx");
    deposit(d.school_cert, d.cards[0], "course", d.school_course);
    deposit(d.school_cert, d.cards[0], "certificate", d.school_certificate);
    deposit(d.other_school_cert, d.cards[0], "course", d.other_course);

    all = transactions_page(d.learner_ids[0], "", d.auditor_cert);
    txs = json_object_get(all, "transactions");
    ck_assert_uint_eq(json_array_size(txs), 3);
    ck_assert(json_is_null(json_object_get(all, "next_before_seq")));
    check_transaction(json_array_get(txs, 0), 3, d.other_course);
    check_transaction(json_array_get(txs, 1), 2, d.school_certificate);
    check_transaction(json_array_get(txs, 2), 1, d.school_course);
    newest = json_array_get(txs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(newest, "institution")), d.other_school);
    /* the chain: each transaction names the hash of the one before */
    for (int i = 0; i < 2; i++)
        ck_assert_str_eq(
            json_string_value(json_object_get(json_array_get(txs, (size_t)i), "prev_hash")),
            json_string_value(json_object_get(json_array_get(txs, (size_t)i + 1), "hash")));

    page = transactions_page(d.learner_ids[0], "?limit=2", d.admin_cert);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "transactions")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(page, "next_before_seq")), 2);
    json_decref(page);
    page = transactions_page(d.learner_ids[0], "?limit=2&before_seq=2", d.admin_cert);
    txs = json_object_get(page, "transactions");
    ck_assert_uint_eq(json_array_size(txs), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(txs, 0), "hash")),
                     json_string_value(json_object_get(
                         json_array_get(json_object_get(all, "transactions"), 2), "hash")));
    ck_assert(json_is_null(json_object_get(page, "next_before_seq")));
    json_decref(page);
    json_decref(all);
}
END_TEST

START_TEST(test_transactions_refusals)
{
    static const char *const bad_queries[] = {
        "?limit=0", "?limit=501",    "?limit=abc",    "?limit=-1",
        "?limit=",  "?before_seq=0", "?before_seq=x", "?limit=10&before_seq=-2",
    };
    struct itest_district d;
    char path[160], other_card[ITEST_CARD_MAX];
    long long other;
    json_t *page;

    itest_district_make(&d, "qtxref");
    for (size_t i = 0; i < sizeof bad_queries / sizeof bad_queries[0]; i++) {
        snprintf(path, sizeof path, "/v1/learners/%lld/transactions%s", d.learner_ids[0],
                 bad_queries[i]);
        itest_expect_error("GET", path, NULL, d.admin_cert, 400, "invalid_parameter", NULL);
    }
    page = transactions_page(d.learner_ids[0], "?limit=500", d.admin_cert);
    ck_assert_uint_eq(json_array_size(json_object_get(page, "transactions")), 0);
    json_decref(page);
    other = other_branch_learner(&d, other_card);
    snprintf(path, sizeof path, "/v1/learners/%lld/transactions", other);
    itest_expect_error("GET", path, NULL, d.branch_admin_cert, 403, "outside_subtree", NULL);
    itest_expect_error("GET", "/v1/learners/999999999999/transactions", NULL, d.admin_cert, 404,
                 "learner_not_found", NULL);
}
END_TEST

/* ---- institution totals -------------------------------------------------- */

START_TEST(test_institution_totals)
{
    struct itest_district d;
    char path[96];
    const char *readers[3];
    json_t *json;

    itest_district_make(&d, "qtot");
    deposit(d.school_cert, d.cards[0], "course", d.school_course);
    deposit(d.school_cert, d.cards[1], "certificate", d.school_certificate);
    snprintf(path, sizeof path, "/v1/institutions/%s/totals", d.school);
    readers[0] = d.school_cert; /* its own totals */
    readers[1] = d.admin_cert;
    readers[2] = d.auditor_cert;
    for (int i = 0; i < 3; i++) {
        json = get_ok(path, readers[i]);
        ck_assert_str_eq(json_string_value(json_object_get(json, "institution")), d.school);
        ck_assert_int_eq(
            json_integer_value(json_object_get(json_object_get(json, "issued"), "vocational")),
            700);
        ck_assert_int_eq(json_integer_value(json_object_get(json, "transactions")), 2);
        json_decref(json);
    }
    snprintf(path, sizeof path, "/v1/institutions/%s/totals", d.point);
    json = get_ok(path, d.branch_admin_cert);
    ck_assert_uint_eq(json_object_size(json_object_get(json, "issued")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json, "transactions")), 0);
    json_decref(json);
}
END_TEST

START_TEST(test_institution_totals_refusals)
{
    struct itest_district d;
    char path[96];

    itest_district_make(&d, "qtotref");
    snprintf(path, sizeof path, "/v1/institutions/%s/totals", d.other_school);
    itest_expect_error("GET", path, NULL, d.school_cert, 403, "outside_subtree", NULL);
    /* the school hangs off the district, not off the branch */
    snprintf(path, sizeof path, "/v1/institutions/%s/totals", d.school);
    itest_expect_error("GET", path, NULL, d.branch_admin_cert, 403, "outside_subtree", NULL);
    itest_expect_error("GET", "/v1/institutions/no-such-school/totals", NULL, d.admin_cert, 404,
                 "institution_not_found", NULL);
    itest_expect_error("GET", "/v1/institutions/bad%20code/totals", NULL, d.admin_cert, 400,
                 "invalid_parameter", NULL);
}
END_TEST

Suite *itest_queries_suite(void)
{
    Suite *s = suite_create("queries");
    TCase *tc = tcase_create("queries");

    tcase_add_unchecked_fixture(tc, itest_suite_lcbd_start, itest_suite_lcbd_stop);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_administrator_and_auditor_read_a_balance);
    tcase_add_test(tc, test_balance_refusals);
    tcase_add_test(tc, test_lost_then_replaced_card_keeps_the_account);
    tcase_add_test(tc, test_learner_with_cards_and_balances);
    tcase_add_test(tc, test_transactions_newest_first_in_pages);
    tcase_add_test(tc, test_transactions_refusals);
    tcase_add_test(tc, test_institution_totals);
    tcase_add_test(tc, test_institution_totals_refusals);
    suite_add_tcase(s, tc);
    return s;
}
