/* lcb_prepare_deposits (sql/009), which prepares a whole commit group in a
 * few statements, against the functions it replaced, called once per member
 * (lcb_prepare_deposit, sql/008; lcb_prepare_terminal_outcome, sql/007):
 * for members that reach every answer, the same rows in the same order and
 * the same terminal refusals kept. lcbd falls back to preparing members one
 * by one when a group's prepare fails, so a broken set-based prepare would
 * only show as slowness: these tests call it directly, inside transactions
 * that are rolled back (no record is ever touched), and one shows that lcbd
 * warns of such a failure in its log. */
#include "tests/itest.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The district's codes and learners, for the SQL below. */
static const char names_sql[] =
    "CREATE TEMP TABLE names ON COMMIT DROP AS SELECT $1::text AS card0, $2::text AS card1, "
    "$3::text AS card2, $4::text AS course, $5::text AS school, $6::text AS certificate, "
    "$7::text AS other_course, $8::bigint AS learner1, $9::bigint AS learner2";

/* The ledger a group is prepared against, written by hand as the superuser
 * inside the caller's transaction (the same ids and hashes each time, so
 * that two preparations compare): card 0 holds a deposit of the school's
 * course under key K1 (request digest sha256('D1')), card 1 an itemless
 * deposit under K2, card 2 is lost, the school's certificate has a rule
 * for the result "distinction" (700), and terminal T-P used number 11 for
 * a tap and had numbers 12 and 13 refused (digests sha256('D12'), 'D13'). */
static const char world_sql[] =
    "INSERT INTO signing_keys (key_id, public_key_pem) VALUES ('feedfacecafe0009', 'itest only') "
    "  ON CONFLICT DO NOTHING;"
    "WITH posted AS ("
    "  INSERT INTO transactions (id, kind, chain_account_id, chain_seq, prev_hash, created_at,"
    "    institution_id, idempotency_key, request_digest, item_code, hash, key_id, signature)"
    "  SELECT md5(n.school || w.key)::uuid, 'deposit', la.id, la.head_seq + 1, la.head_hash,"
    "    now(), i.id, w.key, sha256(w.digest::bytea), w.item, sha256((n.school || w.key)::bytea),"
    "    'feedfacecafe0009', decode(repeat('00', 64), 'hex')"
    "  FROM names n, LATERAL (VALUES (n.card0, 'K1', 'D1', n.course), (n.card1, 'K2', 'D2', ''))"
    "    w(card, key, digest, item)"
    "  JOIN cards c ON c.number = w.card JOIN accounts la ON la.learner_id = c.learner_id,"
    "  institutions i WHERE i.code = n.school"
    "  RETURNING id, chain_account_id, institution_id)"
    "INSERT INTO entries (transaction_id, position, account_id, unit, amount)"
    "  SELECT p.id, 0, ia.id, 'vocational', -200 FROM posted p"
    "    JOIN accounts ia ON ia.institution_id = p.institution_id"
    "  UNION ALL SELECT p.id, 1, p.chain_account_id, 'vocational', 200 FROM posted p;"
    "UPDATE cards SET status = 'lost' FROM names WHERE number = names.card2;"
    "INSERT INTO recognition_rules (certificate_id, result, version, credit_value, valid_from)"
    "  SELECT c.id, 'distinction', 1, 700, current_date - 1 FROM catalogue c, names"
    "  WHERE c.code = names.certificate;"
    "INSERT INTO taps (institution_id, terminal, sequence, card, session, direction,"
    "    terminal_time_ms, status)"
    "  SELECT i.id, 'T-P', 11, names.card0, 'S1', 'in', 0, 'card_lost' FROM institutions i, names"
    "  WHERE i.code = names.school;"
    "INSERT INTO terminal_outcome_refusals (institution_id, terminal, sequence, request_digest,"
    "    error_code, error_message)"
    "  SELECT i.id, 'T-P', s, sha256(('D' || s)::bytea), 'card_lost',"
    "    'card ' || names.card2 || ' is lost'"
    "  FROM institutions i, names, generate_series(12, 13) s WHERE i.code = names.school";

/* The members, in the group's order; the institution is the school's. */
static const char members_sql[] =
    "CREATE TEMP TABLE members ON COMMIT DROP AS "
    "SELECT m.ord, i.id AS institution, m.key, sha256(m.digest::bytea) AS digest, m.card,"
    "  m.learner, m.item, m.kind, m.result, date '2026-11-02' AS completed_on,"
    "  NULL::bytea AS evidence, 'T-P'::text AS terminal, m.sequence::numeric AS sequence "
    "FROM names n, LATERAL (VALUES"
    "  (1, 'K1', 'D1', n.card0, NULL::bigint, n.course, 'course', 'pass', 101),"
    "  (2, 'K2', 'D2-other', n.card0, NULL, n.course, 'course', 'pass', 102),"
    "  (3, 'K3', 'D3', n.card0, NULL, n.course, 'course', 'pass', 103),"
    "  (4, 'K4', 'D4', '3302069999999999999', NULL, n.course, 'course', 'pass', 104),"
    "  (5, 'K5', 'D5', n.card2, NULL, n.course, 'course', 'pass', 105),"
    "  (6, 'K6', 'D6', NULL, n.learner1, n.certificate, 'certificate', 'distinction', 106),"
    "  (7, 'K7', 'D7', NULL, 999999999999, n.course, 'course', 'pass', 107),"
    "  (8, 'K8', 'D8', n.card1, NULL, 'no-such-course', 'course', 'pass', 108),"
    "  (9, 'K9', 'D9', n.card1, NULL, n.other_course, 'course', 'pass', 109),"
    "  (10, 'K10', 'D10', n.card1, NULL, n.certificate, 'course', 'pass', 110),"
    "  (11, 'K11', 'D11', n.card1, NULL, n.course, 'course', 'pass', 111),"
    "  (12, 'K12', 'D12x', NULL, n.learner2, n.certificate, 'certificate', 'pass', 112),"
    "  (13, 'K13', 'D13x', n.card1, NULL, n.course, 'course', 'pass', 11),"
    "  (14, 'K14', 'D12', n.card1, NULL, n.course, 'course', 'pass', 12),"
    "  (15, 'K15', 'D14', n.card1, NULL, n.course, 'course', 'pass', 13)"
    ") m(ord, key, digest, card, learner, item, kind, result, sequence),"
    "  institutions i WHERE i.code = n.school";

#define PREPARED_COLUMNS                                                                           \
    "(p.error_code, p.error_message, p.duplicate_id, p.duplicate_hash, p.chain_account, "          \
    "p.head_seq, p.head_hash, p.kind, p.item_code, p.result, p.completed_on, "                     \
    "p.evidence_sha256, p.reverses, p.reason, p.accounts, p.units, p.amounts)::text"

/* What lcbd sent before sql/009: the per-member functions, in order. */
static const char per_member_deposit_sql[] =
    "SELECT " PREPARED_COLUMNS " FROM members m CROSS JOIN LATERAL lcb_prepare_deposit("
    "m.institution, m.key, m.digest, m.card, m.learner, m.item, m.kind, m.result,"
    " m.completed_on, m.evidence) p ORDER BY m.ord";
static const char per_member_terminal_sql[] =
    "SELECT " PREPARED_COLUMNS " FROM members m CROSS JOIN LATERAL lcb_prepare_terminal_outcome("
    "m.institution, m.key, m.digest, m.card, m.learner, m.item, m.kind, m.result,"
    " m.completed_on, m.evidence, m.terminal, m.sequence) p ORDER BY m.ord";

/* The group's arrays, as lcbd passes them. */
#define ARRAY_OF(field) "(SELECT array_agg(" field " ORDER BY ord) FROM members)"
#define DEPOSIT_ARRAYS                                                                                         \
    ARRAY_OF("institution")                                                                                    \
    ", " ARRAY_OF("key") ", " ARRAY_OF("digest") ", " ARRAY_OF("card") ", " ARRAY_OF("learner") ", " ARRAY_OF( \
        "item") ", " ARRAY_OF("kind") ", " ARRAY_OF("result") ", " ARRAY_OF("completed_on") ","                \
                                                                                            " " ARRAY_OF(      \
                                                                                                "evidence")
static const char group_deposit_sql[] =
    "SELECT " PREPARED_COLUMNS " FROM lcb_prepare_deposits(" DEPOSIT_ARRAYS ") "
    "WITH ORDINALITY p ORDER BY p.ordinality";
static const char group_terminal_sql[] =
    "SELECT " PREPARED_COLUMNS " FROM lcb_prepare_deposits(" DEPOSIT_ARRAYS
    ", " ARRAY_OF("terminal") ", " ARRAY_OF("sequence") ") WITH ORDINALITY p ORDER BY p.ordinality";

static const char kept_refusals_sql[] =
    "SELECT coalesce(string_agg(sequence || ' ' || error_code || ' ' || error_message, '; ' "
    "ORDER BY sequence), '') FROM terminal_outcome_refusals WHERE terminal = 'T-P'";

#define MAX_MEMBERS 15

/* What one prepare answered for each member, and the terminal refusals
 * kept after it. */
struct prepared_rows {
    int n;
    char *rows[MAX_MEMBERS];
    char *kept_refusals;
};

static void prepared_rows_free(struct prepared_rows *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->rows[i]);
    free(r->kept_refusals);
}

/* PQexec: several statements, the last one's result. */
static PGresult *exec_many(PGconn *conn, const char *sql, ExecStatusType expected)
{
    PGresult *res = PQexec(conn, sql);

    ck_assert_msg(PQresultStatus(res) == expected, "%s: %s", sql, PQresultErrorMessage(res));
    return res;
}

/* Builds the world and the first n_members members in a new transaction,
 * runs prepare_sql (after members_change_sql, when not NULL), and rolls it
 * all back. */
static void prepare_in_world(const struct itest_district *d, int n_members,
                             const char *members_change_sql, const char *prepare_sql,
                             struct prepared_rows *out)
{
    char learner1[32], learner2[32], trim_sql[64];
    PGconn *conn = itest_pg_connect(NULL);

    snprintf(learner1, sizeof learner1, "%lld", d->learner_ids[1]);
    snprintf(learner2, sizeof learner2, "%lld", d->learner_ids[2]);
    snprintf(trim_sql, sizeof trim_sql, "DELETE FROM members WHERE ord > %d", n_members);
    const char *const names[] = {d->cards[0],      d->cards[1], d->cards[2],
                                 d->school_course, d->school,   d->school_certificate,
                                 d->other_course,  learner1,    learner2};

    itest_exec_ok(conn, "BEGIN", 0, NULL);
    itest_exec_ok(conn, names_sql, 9, names);
    PQclear(exec_many(conn, world_sql, PGRES_COMMAND_OK));
    itest_exec_ok(conn, members_sql, 0, NULL);
    itest_exec_ok(conn, trim_sql, 0, NULL);
    if (members_change_sql != NULL)
        itest_exec_ok(conn, members_change_sql, 0, NULL);

    PGresult *res = exec_many(conn, prepare_sql, PGRES_TUPLES_OK);
    out->n = PQntuples(res);
    ck_assert_int_eq(out->n, n_members);
    for (int i = 0; i < out->n; i++)
        out->rows[i] = strdup(PQgetvalue(res, i, 0));
    PQclear(res);
    res = exec_many(conn, kept_refusals_sql, PGRES_TUPLES_OK);
    out->kept_refusals = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    itest_exec_ok(conn, "ROLLBACK", 0, NULL);
    PQfinish(conn);
}

static void expect_same(const struct prepared_rows *per_member, const struct prepared_rows *group)
{
    ck_assert_int_eq(group->n, per_member->n);
    for (int i = 0; i < group->n; i++)
        ck_assert_msg(strcmp(group->rows[i], per_member->rows[i]) == 0,
                      "member %d: the group's prepare answered\n  %s\nper member:\n  %s", i + 1,
                      group->rows[i], per_member->rows[i]);
    ck_assert_msg(strcmp(group->kept_refusals, per_member->kept_refusals) == 0,
                  "terminal refusals kept: group '%s', per member '%s'", group->kept_refusals,
                  per_member->kept_refusals);
}

/* Each member's answer starts with its error code, or "(," when it has none. */
static void expect_codes(const struct prepared_rows *r, const char *const *codes)
{
    for (int i = 0; i < r->n; i++) {
        char want[64];
        snprintf(want, sizeof want, "(%s,", codes[i]);
        ck_assert_msg(strncmp(r->rows[i], want, strlen(want)) == 0,
                      "member %d: expected %s, got %s", i + 1, want, r->rows[i]);
    }
}

static const char *const deposit_codes[] = {
    "",                        /* 1: the posting of K1 again: a duplicate */
    "idempotency_conflict",    /* 2 */
    "course_already_credited", /* 3 */
    "card_not_found",          /* 4 */
    "card_lost",               /* 5 */
    "",                        /* 6: deposited by the rule */
    "learner_not_found",       /* 7 */
    "course_not_found",        /* 8 */
    "course_not_owned",        /* 9 */
    "course_not_found",        /* 10: a certificate named as a course */
    "",                        /* 11 */
    "",                        /* 12 */
};

START_TEST(test_group_prepare_answers_as_each_deposit_alone)
{
    struct itest_district d;
    struct prepared_rows per_member, group;

    itest_district_make(&d, "prep");
    prepare_in_world(&d, 12, NULL, per_member_deposit_sql, &per_member);
    prepare_in_world(&d, 12, NULL, group_deposit_sql, &group);
    expect_codes(&group, deposit_codes);
    expect_same(&per_member, &group);
    ck_assert_msg(strncmp(group.rows[0], "(,,", 3) == 0 && group.rows[0][3] != ',',
                  "member 1 is no duplicate: %s", group.rows[0]);
    ck_assert_msg(strstr(group.rows[5], "recognition:") != NULL &&
                      strstr(group.rows[5], "{-700,700}") != NULL,
                  "member 6 was not deposited by its rule: %s", group.rows[5]);
    ck_assert_msg(strstr(group.rows[10], "{-200,200}") != NULL, "member 11: %s", group.rows[10]);
    ck_assert_msg(strstr(group.rows[11], "{-500,500}") != NULL, "member 12: %s", group.rows[11]);
    prepared_rows_free(&per_member);
    prepared_rows_free(&group);
}
END_TEST

START_TEST(test_group_prepare_answers_as_each_terminal_outcome_alone)
{
    static const char *const terminal_codes[] = {
        "sequence_replayed", /* 13: the number of a tap */
        "card_lost",         /* 14: refused before, the same content */
        "sequence_replayed", /* 15: refused before, other content */
    };
    const char *codes[MAX_MEMBERS];
    struct itest_district d;
    struct prepared_rows per_member, group;

    for (int i = 0; i < 12; i++)
        codes[i] = deposit_codes[i];
    for (int i = 0; i < 3; i++)
        codes[12 + i] = terminal_codes[i];
    itest_district_make(&d, "prept");
    prepare_in_world(&d, MAX_MEMBERS, NULL, per_member_terminal_sql, &per_member);
    prepare_in_world(&d, MAX_MEMBERS, NULL, group_terminal_sql, &group);
    expect_codes(&group, codes);
    expect_same(&per_member, &group);
    /* the final refusals of members 4, 5, 8, 9 and 10 are kept, beside the
     * world's two */
    ck_assert_msg(strstr(group.kept_refusals, "104 card_not_found") != NULL &&
                      strstr(group.kept_refusals, "105 card_lost") != NULL &&
                      strstr(group.kept_refusals, "108 course_not_found") != NULL &&
                      strstr(group.kept_refusals, "109 course_not_owned") != NULL &&
                      strstr(group.kept_refusals, "110 course_not_found") != NULL &&
                      strstr(group.kept_refusals, "103 ") == NULL,
                  "terminal refusals kept: %s", group.kept_refusals);
    prepared_rows_free(&per_member);
    prepared_rows_free(&group);

    /* a group with no refusal for good keeps none */
    prepare_in_world(&d, 3, NULL, per_member_terminal_sql, &per_member);
    prepare_in_world(&d, 3, NULL, group_terminal_sql, &group);
    expect_codes(&group, codes);
    expect_same(&per_member, &group);
    ck_assert_msg(strncmp(group.kept_refusals, "12 card_lost", 12) == 0 &&
                      strstr(group.kept_refusals, "; 13 card_lost") != NULL &&
                      strchr(strstr(group.kept_refusals, "; 13 ") + 1, ';') == NULL,
                  "terminal refusals kept: %s", group.kept_refusals);
    prepared_rows_free(&per_member);
    prepared_rows_free(&group);
}
END_TEST

/* Two members under one key see each other through the refusals they keep;
 * such a group is prepared member by member, as before sql/009. */
START_TEST(test_group_with_one_key_twice_answers_as_before)
{
    static const char twice_sql[] =
        "UPDATE members SET key = 'K-twice', sequence = 77, card = '3302069999999999999' "
        "WHERE ord IN (4, 5)";
    struct itest_district d;
    struct prepared_rows per_member, group;

    itest_district_make(&d, "prep2");
    prepare_in_world(&d, 5, twice_sql, per_member_terminal_sql, &per_member);
    prepare_in_world(&d, 5, twice_sql, group_terminal_sql, &group);
    expect_same(&per_member, &group);
    /* the first refusal is kept and the second member, other content under
     * its number, is sequence_replayed */
    ck_assert_msg(strncmp(group.rows[3], "(card_not_found,", 16) == 0, "%s", group.rows[3]);
    ck_assert_msg(strncmp(group.rows[4], "(sequence_replayed,", 19) == 0, "%s", group.rows[4]);
    prepared_rows_free(&per_member);
    prepared_rows_free(&group);
}
END_TEST

/* One outcome of the school's course, as a school posts it. */
static char *outcome_item(const char *key, const char *card, const char *course)
{
    char *item;
    ck_assert(asprintf(&item,
                       "{\"idempotency_key\": \"%s\", \"card\": \"%s\", \"course\": \"%s\", "
                       "\"result\": \"pass\", \"completed_on\": \"2026-11-02\"}",
                       key, card, course) > 0);
    return item;
}

/* Starts an lcbd, POSTs {"outcomes": [items]} as d's school and stops it.
 * Aborts on nothing between, so that a caller can undo what it set up
 * before it looks: *status is 0 and the answer NULL when there was none.
 * *log gets lcbd's log. */
static json_t *post_once(const struct itest_district *d, const char *items, int *status, char **log)
{
    struct itest_lcbd lcbd;
    json_t *doc = NULL;
    char *body = NULL;

    *status = 0;
    *log = NULL;
    if (itest_lcbd_start(&lcbd, NULL) != 0)
        return NULL;
    if (asprintf(&body, "{\"outcomes\": [%s]}", items) < 0 ||
        itest_https(&lcbd, "POST", "/v1/outcomes", body, d->school_cert, status, &doc) != 0)
        *status = 0;
    free(body);
    if (itest_lcbd_stop(&lcbd) != 0)
        *status = 0;
    *log = itest_read_file(lcbd.log_path);
    return doc;
}

static const char *status_at(json_t *doc, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "results"), i), "status"));
}

static const char *error_code_at(json_t *doc, size_t i)
{
    json_t *result = json_array_get(json_object_get(doc, "results"), i);
    return json_string_value(json_object_get(json_object_get(result, "error"), "code"));
}

/* The batch path broken on purpose (lcbd may not run the group's prepare):
 * the outcome is still posted, one by one, and lcbd's log says, at level
 * warning, which statement failed and how. */
START_TEST(test_lcbd_warns_when_a_group_prepare_fails_and_still_posts)
{
    static const char signature[] =
        "lcb_prepare_deposits(bigint[], text[], bytea[], text[], bigint[], text[], text[], "
        "text[], date[], bytea[], text[], numeric[])";
    struct itest_district d;
    char sql[512], key[ITEST_CODE_MAX], *item, *log;
    int status;

    itest_district_make(&d, "prepw");
    itest_unique(key, "k");
    item = outcome_item(key, d.cards[0], d.school_course);
    snprintf(sql, sizeof sql, "REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC", signature);
    PQclear(itest_sql(sql));
    json_t *doc = post_once(&d, item, &status, &log);
    snprintf(sql, sizeof sql, "GRANT EXECUTE ON FUNCTION %s TO PUBLIC", signature);
    PQclear(itest_sql(sql));

    ck_assert_int_eq(status, 200);
    ck_assert_msg(status_at(doc, 0) != NULL && strcmp(status_at(doc, 0), "posted") == 0,
                  "the outcome was not posted one by one");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM transactions WHERE idempotency_key = '%s'",
             key);
    ck_assert_int_eq(itest_sql_long(sql), 1);
    ck_assert_msg(strstr(log, " lcbd warning: ledger: group of 1 failed unexpectedly (42501 "
                              "permission denied for function lcb_prepare_deposits") != NULL,
                  "no warning of the failed group in lcbd's log:\n%s", log);
    free(log);
    free(item);
    json_decref(doc);
}
END_TEST

/* A conflict the group design expects (here one key twice in a batch, for
 * two cards, so both reach lcb_append_many, whose unique index refuses the
 * second) is logged at level info, not as a warning; one by one, the first
 * is posted and the second is refused idempotency_conflict. */
START_TEST(test_lcbd_logs_an_expected_group_conflict_as_info)
{
    struct itest_district d;
    char key[ITEST_CODE_MAX], *first, *second, *items, *log;
    int status;

    itest_district_make(&d, "prepi");
    itest_unique(key, "k");
    first = outcome_item(key, d.cards[0], d.school_course);
    second = outcome_item(key, d.cards[1], d.school_course);
    ck_assert(asprintf(&items, "%s, %s", first, second) > 0);
    json_t *doc = post_once(&d, items, &status, &log);

    ck_assert_int_eq(status, 200);
    ck_assert_msg(status_at(doc, 0) != NULL && strcmp(status_at(doc, 0), "posted") == 0,
                  "the first was not posted");
    ck_assert_msg(error_code_at(doc, 1) != NULL &&
                      strcmp(error_code_at(doc, 1), "idempotency_conflict") == 0,
                  "the second was not refused idempotency_conflict");
    ck_assert_msg(strstr(log, " lcbd info: ledger: group of 2 rolled back (23505 ") != NULL,
                  "no info line of the rolled-back group in lcbd's log:\n%s", log);
    ck_assert_msg(strstr(log, "failed unexpectedly") == NULL,
                  "a warning for an expected conflict in lcbd's log:\n%s", log);
    free(log);
    free(items);
    free(first);
    free(second);
    json_decref(doc);
}
END_TEST

Suite *itest_prepare_suite(void)
{
    Suite *s = suite_create("prepare");
    TCase *prepare = tcase_create("group");
    tcase_set_timeout(prepare, 120);
    tcase_add_test(prepare, test_group_prepare_answers_as_each_deposit_alone);
    tcase_add_test(prepare, test_group_prepare_answers_as_each_terminal_outcome_alone);
    tcase_add_test(prepare, test_group_with_one_key_twice_answers_as_before);
    suite_add_tcase(s, prepare);

    TCase *daemon = tcase_create("lcbd");
    tcase_set_timeout(daemon, 120);
    tcase_add_test(daemon, test_lcbd_warns_when_a_group_prepare_fails_and_still_posts);
    tcase_add_test(daemon, test_lcbd_logs_an_expected_group_conflict_as_info);
    suite_add_tcase(s, daemon);
    return s;
}
