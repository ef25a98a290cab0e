/* Attendance as a community education centre lives it: a learner taps in
 * and out of a course's sessions, the minutes add up, the course's credits
 * arrive once; refusals for lost cards, other centres' courses, stale or
 * replayed taps; gaps in a terminal's sequence; taps stay append-only.
 * SQL runs as lcbd's role; taps that post go through daemon/attendance.c
 * on a real loop and ledger (tests/attendance_driver). */
#include "tests/itest.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MINUTE_MS 60000LL
#define HOUR_MS (60 * MINUTE_MS)
#define WINDOW_S "604800"

static struct itest_district district;
static char session_a[ITEST_CODE_MAX], session_b[ITEST_CODE_MAX]; /* branch_course */
static char school_session[ITEST_CODE_MAX];                       /* school_course */
static long branch_id;

static long long now_ms(void)
{
    return (long long)time(NULL) * 1000;
}

static void add_session(char code[ITEST_CODE_MAX], const char *course)
{
    itest_unique(code, "s");
    free(itest_lcbctl_ok("session", "add", "--code", code, "--course", course, "--title",
                         "Tuesday evening", (char *)NULL));
}

static void setup_district(void)
{
    char sql[256];
    itest_district_make(&district, "att");
    add_session(session_a, district.branch_course);
    add_session(session_b, district.branch_course);
    add_session(school_session, district.school_course);
    snprintf(sql, sizeof sql, "SELECT id FROM institutions WHERE code = '%s'", district.branch);
    branch_id = itest_sql_long(sql);
}

/* A learner of the branch with a fresh card, so each test has its own. */
static void new_card(char card[ITEST_CARD_MAX])
{
    char document[ITEST_CODE_MAX];
    itest_unique(document, "doc");
    char *learner = itest_lcbctl_ok("learner", "add", "--id-document", document, "--name",
                                    "Wang Fang", "--institution", district.branch, "--secret-file",
                                    itest_env()->id_secret, (char *)NULL);
    char *number = itest_lcbctl_ok("card", "issue", "--learner", learner, "--region", "330206",
                                   (char *)NULL);
    snprintf(card, ITEST_CARD_MAX, "%s", number);
    free(learner);
    free(number);
}

/* lcb_tap_in as lcbd calls it; returns "status" or "status duplicate". */
static char *tap_in(const char *terminal, long seq, const char *card, const char *session,
                    long long at_ms)
{
    char institution[24], sequence[24], ms[24];
    snprintf(institution, sizeof institution, "%ld", branch_id);
    snprintf(sequence, sizeof sequence, "%ld", seq);
    snprintf(ms, sizeof ms, "%lld", at_ms);
    const char *params[] = {institution, terminal, sequence, card, session, ms, WINDOW_S};
    PGresult *res = itest_sql_params(itest_env()->app_db,
                                     "SELECT status, duplicate FROM lcb_tap_in($1, $2, $3, $4, "
                                     "$5, $6, $7)",
                                     7, params);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "lcb_tap_in: %s",
                  PQresultErrorMessage(res));
    char *answer;
    ck_assert(asprintf(&answer, "%s%s", PQgetvalue(res, 0, 0),
                       strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? " duplicate" : "") > 0);
    PQclear(res);
    return answer;
}

static void expect_tap_in(const char *terminal, long seq, const char *card, const char *session,
                          long long at_ms, const char *expected)
{
    char *answer = tap_in(terminal, seq, card, session, at_ms);
    ck_assert_str_eq(answer, expected);
    free(answer);
}

/* ---- the C path through tests/attendance_driver ------------------------- */

struct batch {
    char *lines;
    size_t len;
};

static void batch_add(struct batch *b, const char *terminal, long seq, const char *card,
                      const char *session, const char *direction, long long at_ms)
{
    char *line;
    int n = asprintf(&line, "%ld %s %ld %s %s %s %lld\n", branch_id, terminal, seq, card, session,
                     direction, at_ms);
    ck_assert(n > 0);
    b->lines = realloc(b->lines, b->len + (size_t)n + 1);
    ck_assert(b->lines != NULL);
    memcpy(b->lines + b->len, line, (size_t)n + 1);
    b->len += (size_t)n;
    free(line);
}

static void driver_path(char *out, size_t cap)
{
    const char *lcbd = itest_env()->lcbd; /* TOP_BUILDDIR/daemon/lcbd */
    const char *slash = strrchr(lcbd, '/');
    ck_assert(slash != NULL && slash - lcbd >= 7);
    snprintf(out, cap, "%.*s/tests/attendance_driver", (int)(slash - lcbd - 7), lcbd);
}

/* Applies the batch as one upload; returns the driver's answer lines. */
static char *apply(struct batch *b)
{
    char path[ITEST_PATH_MAX], unique[ITEST_CODE_MAX], *file = NULL;
    driver_path(path, sizeof path);
    itest_unique(unique, "batch");
    ck_assert(asprintf(&file, "%s/%s.taps", itest_env()->dir, unique) > 0);
    FILE *f = fopen(file, "w");
    ck_assert(f != NULL);
    fputs(b->lines ? b->lines : "", f);
    fclose(f);
    char *argv[] = {path, "apply", WINDOW_S, file, NULL};
    char *out = NULL;
    int status = itest_run(&out, argv);
    ck_assert_msg(status == 0, "attendance_driver exited %d: %s", status, out ? out : "");
    free(file);
    return out;
}

static void expect_answers(struct batch *b, const char *expected)
{
    char *out = apply(b);
    ck_assert_str_eq(out, expected);
    free(out);
}

static void batch_free(struct batch *b)
{
    free(b->lines);
    b->lines = NULL;
    b->len = 0;
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

static long transactions_of(const char *card)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM transactions t JOIN accounts a ON a.id = t.chain_account_id "
             "JOIN cards c ON c.learner_id = a.learner_id WHERE c.number = '%s'",
             card);
    return itest_sql_long(sql);
}

START_TEST(test_tap_in_then_out_gives_minutes)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - 3 * HOUR_MS;
    struct batch b = {0};
    batch_add(&b, terminal, 1, card, session_a, "in", t0);
    batch_add(&b, terminal, 2, card, session_a, "out", t0 + 50 * MINUTE_MS + 59999);
    /* 50 minutes 59.999 s count as 50 whole minutes */
    expect_answers(&b, "applied 0 90 0 -\napplied 50 90 0 -\n");
    ck_assert_int_eq(balance_of(card, "minutes"), 50);
    ck_assert_int_eq(balance_of(card, "community"), 0);
    ck_assert_int_eq(itest_sql_long("SELECT count(*) FROM transactions WHERE result = 'attended' "
                                    "AND idempotency_key LIKE 'tap:%'") > 0, 1);
    batch_free(&b);
}
END_TEST

/* Minutes add up across sessions of the course; the 90 required minutes
 * bring the course's 1.00 community credit once, never again. */
START_TEST(test_hours_accumulate_and_credits_come_once)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - 24 * HOUR_MS;
    struct batch b = {0};
    batch_add(&b, terminal, 1, card, session_a, "in", t0);
    batch_add(&b, terminal, 2, card, session_a, "out", t0 + 50 * MINUTE_MS);
    batch_add(&b, terminal, 3, card, session_b, "in", t0 + 2 * HOUR_MS);
    batch_add(&b, terminal, 4, card, session_b, "out", t0 + 2 * HOUR_MS + 45 * MINUTE_MS);
    batch_add(&b, terminal, 5, card, session_a, "in", t0 + 4 * HOUR_MS);
    batch_add(&b, terminal, 6, card, session_a, "out", t0 + 5 * HOUR_MS);
    expect_answers(&b, "applied 0 90 0 -\napplied 50 90 0 -\n"
                       "applied 50 90 0 -\napplied 95 90 100 community\n"
                       "applied 95 90 0 -\napplied 155 90 0 -\n");
    ck_assert_int_eq(balance_of(card, "minutes"), 155);
    ck_assert_int_eq(balance_of(card, "community"), 100);
    ck_assert_int_eq(transactions_of(card), 3);
    /* Every attendance transaction is signed and chained like any other. */
    char *verified = itest_lcbctl_ok("verify", (char *)NULL);
    ck_assert_msg(strstr(verified, "verified") != NULL, "%s", verified);
    free(verified);
    batch_free(&b);
}
END_TEST

START_TEST(test_check_out_without_check_in_is_refused)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    struct batch b = {0};
    batch_add(&b, terminal, 1, card, session_a, "out", now_ms() - HOUR_MS);
    expect_answers(&b, "refused no_open_check_in\n");
    ck_assert_int_eq(transactions_of(card), 0);
    ck_assert_int_eq(balance_of(card, "minutes"), 0);
    batch_free(&b);
}
END_TEST

START_TEST(test_double_check_in_is_refused)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - HOUR_MS;
    expect_tap_in(terminal, 1, card, session_a, t0, "applied");
    /* another session of the same course: still the same open check-in */
    expect_tap_in(terminal, 2, card, session_b, t0 + 10 * MINUTE_MS, "already_checked_in");
}
END_TEST

/* A check-in left open for more than 12 hours expires and earns nothing:
 * a later check-in replaces it; a check-out past it is refused. */
START_TEST(test_forgotten_check_out_expires_after_12_hours)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - 3 * 24 * HOUR_MS;
    struct batch b = {0};
    batch_add(&b, terminal, 1, card, session_a, "in", t0);
    batch_add(&b, terminal, 2, card, session_a, "out", t0 + 12 * HOUR_MS + MINUTE_MS);
    batch_add(&b, terminal, 3, card, session_a, "in", t0 + 24 * HOUR_MS);
    batch_add(&b, terminal, 4, card, session_a, "in", t0 + 36 * HOUR_MS + MINUTE_MS);
    batch_add(&b, terminal, 5, card, session_a, "out", t0 + 37 * HOUR_MS + MINUTE_MS);
    expect_answers(&b, "applied 0 90 0 -\nrefused no_open_check_in\n"
                       "applied 0 90 0 -\napplied 0 90 0 -\napplied 60 90 0 -\n");
    ck_assert_int_eq(balance_of(card, "minutes"), 60);
    batch_free(&b);
}
END_TEST

START_TEST(test_check_out_within_a_minute_keeps_the_check_in)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - 2 * HOUR_MS;
    struct batch b = {0};
    batch_add(&b, terminal, 1, card, session_a, "in", t0);
    batch_add(&b, terminal, 2, card, session_a, "out", t0 + 59999);
    batch_add(&b, terminal, 3, card, session_a, "out", t0 + 40 * MINUTE_MS);
    expect_answers(&b, "applied 0 90 0 -\nrefused too_short\napplied 40 90 0 -\n");
    batch_free(&b);
}
END_TEST

/* An upload sent twice is applied once; a used sequence number with other
 * content is refused; a refused tap replayed gets the same refusal. */
START_TEST(test_replayed_sequence_numbers_answer_the_same)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - 5 * HOUR_MS;
    struct batch b = {0};
    batch_add(&b, terminal, 1, card, session_a, "in", t0);
    batch_add(&b, terminal, 2, card, session_a, "out", t0 + 100 * MINUTE_MS);
    batch_add(&b, terminal, 3, card, session_a, "out", t0 + 101 * MINUTE_MS);
    expect_answers(&b, "applied 0 90 0 -\napplied 100 90 100 community\n"
                       "refused no_open_check_in\n");
    long before = itest_sql_long("SELECT count(*) FROM transactions");
    expect_answers(&b, "duplicate 100 90 0 -\nduplicate 100 90 100 community\n"
                       "refused no_open_check_in\n");
    ck_assert_int_eq(itest_sql_long("SELECT count(*) FROM transactions"), before);
    ck_assert_int_eq(balance_of(card, "community"), 100);
    ck_assert_int_eq(balance_of(card, "minutes"), 100);

    struct batch other = {0};
    batch_add(&other, terminal, 1, card, session_a, "in", t0 + 1);
    batch_add(&other, terminal, 2, card, session_b, "out", t0 + 100 * MINUTE_MS);
    expect_answers(&other, "refused sequence_replayed\nrefused sequence_replayed\n");
    expect_tap_in(terminal, 1, card, session_a, t0, "applied duplicate");
    batch_free(&b);
    batch_free(&other);
}
END_TEST

START_TEST(test_lost_and_cancelled_cards_are_refused)
{
    char lost[ITEST_CARD_MAX], cancelled[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(lost);
    new_card(cancelled);
    itest_unique(terminal, "t");
    free(itest_lcbctl_ok("card", "lost", lost, (char *)NULL));
    free(itest_lcbctl_ok("card", "cancel", cancelled, (char *)NULL));
    long long t0 = now_ms() - HOUR_MS;
    expect_tap_in(terminal, 1, lost, session_a, t0, "card_lost");
    expect_tap_in(terminal, 2, cancelled, session_a, t0, "card_cancelled");
    expect_tap_in(terminal, 3, "3302060000000000000", session_a, t0, "card_not_found");
    struct batch b = {0};
    batch_add(&b, terminal, 4, lost, session_a, "out", t0 + HOUR_MS / 2);
    expect_answers(&b, "refused card_lost\n");
    batch_free(&b);
}
END_TEST

START_TEST(test_another_centres_session_is_refused)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - HOUR_MS;
    expect_tap_in(terminal, 1, card, school_session, t0, "course_not_owned");
    expect_tap_in(terminal, 2, card, "no-such-session", t0, "session_not_found");
    struct batch b = {0};
    batch_add(&b, terminal, 3, card, school_session, "out", t0 + HOUR_MS / 2);
    expect_answers(&b, "refused course_not_owned\n");
    ck_assert_int_eq(transactions_of(card), 0);
    batch_free(&b);
}
END_TEST

START_TEST(test_taps_outside_the_window_are_refused)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    expect_tap_in(terminal, 1, card, session_a, now_ms() - 8 * 24 * HOUR_MS, "tap_too_old");
    expect_tap_in(terminal, 2, card, session_a, now_ms() + HOUR_MS, "tap_in_future");
    expect_tap_in(terminal, 3, card, session_a, now_ms() - 6 * 24 * HOUR_MS, "applied");
}
END_TEST

START_TEST(test_gaps_in_a_terminals_sequence_are_reported)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX], institution[24], path[ITEST_PATH_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    long long t0 = now_ms() - 2 * HOUR_MS;
    expect_tap_in(terminal, 1, card, session_a, t0, "applied");
    expect_tap_in(terminal, 2, card, session_a, t0, "already_checked_in");
    expect_tap_in(terminal, 5, card, session_a, t0, "already_checked_in");
    expect_tap_in(terminal, 9, card, session_a, t0, "already_checked_in");
    driver_path(path, sizeof path);
    snprintf(institution, sizeof institution, "%ld", branch_id);
    char *all[] = {path, "gaps", institution, terminal, "10", NULL};
    char *out = NULL;
    ck_assert_int_eq(itest_run(&out, all), 0);
    ck_assert_str_eq(out, "3 4\n6 8\nmore 0\n");
    free(out);
    char *first[] = {path, "gaps", institution, terminal, "1", NULL};
    ck_assert_int_eq(itest_run(&out, first), 0);
    ck_assert_str_eq(out, "3 4\nmore 1\n");
    free(out);
}
END_TEST

static const char *sqlstate_as_app(const char *sql)
{
    static char state[6];
    PGresult *res = itest_sql_params(itest_env()->app_db, sql, 0, NULL);
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(state, sizeof state, "%s", s ? s : "00000");
    PQclear(res);
    return state;
}

/* lcbd's role adds taps and never changes one; open check-ins are working
 * state it may remove; even the owner cannot change a tap. */
START_TEST(test_taps_and_ledger_are_append_only)
{
    char card[ITEST_CARD_MAX], terminal[ITEST_CODE_MAX];
    new_card(card);
    itest_unique(terminal, "t");
    expect_tap_in(terminal, 1, card, session_a, now_ms(), "applied");
    ck_assert_str_eq(sqlstate_as_app("UPDATE taps SET status = 'applied'"), "42501");
    ck_assert_str_eq(sqlstate_as_app("DELETE FROM taps"), "42501");
    ck_assert_str_eq(sqlstate_as_app("TRUNCATE taps"), "42501");
    ck_assert_str_eq(sqlstate_as_app("UPDATE transactions SET reason = 'x'"), "42501");
    ck_assert_str_eq(sqlstate_as_app("DELETE FROM entries"), "42501");
    ck_assert_str_eq(sqlstate_as_app("UPDATE course_sessions SET title = 'x'"), "42501");
    ck_assert_str_eq(sqlstate_as_app("DELETE FROM open_check_ins WHERE false"), "00000");
    PGresult *res = itest_sql_params(NULL, "UPDATE taps SET status = 'applied'", 0, NULL);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "LCB00");
    PQclear(res);
}
END_TEST

START_TEST(test_lcbctl_session_add_and_list)
{
    char code[ITEST_CODE_MAX];
    itest_unique(code, "s");
    free(itest_lcbctl_ok("session", "add", "--code", code, "--course", district.branch_course,
                         "--title", "Saturday morning", "--starts", "2026-03-07T09:00+08:00",
                         "--ends", "2026-03-07T11:00+08:00", (char *)NULL));
    char *list = itest_lcbctl_ok("session", "list", "--institution", district.branch, (char *)NULL);
    char line[256];
    snprintf(line, sizeof line, "%s\t%s\t%s\t2026-03-07T01:00:00Z\t2026-03-07T03:00:00Z\tSaturday morning",
             code, district.branch_course, district.branch);
    ck_assert_msg(strstr(list, line) != NULL, "%s", list);
    ck_assert_msg(strstr(list, school_session) == NULL, "%s", list);
    free(list);
    char *out = NULL;
    ck_assert_int_eq(itest_lcbctl(&out, "session", "add", "--code", code, "--course",
                                  district.branch_course, "--title", "again", (char *)NULL),
                     1);
    ck_assert_msg(strstr(out, "session_exists") != NULL, "%s", out);
    free(out);
    ck_assert_int_eq(itest_lcbctl(&out, "session", "add", "--code", "x1", "--course",
                                  district.school_certificate, "--title", "t", (char *)NULL),
                     1);
    ck_assert_msg(strstr(out, "course_not_found") != NULL, "%s", out);
    free(out);
}
END_TEST

Suite *itest_attendance_suite(void)
{
    Suite *s = suite_create("attendance");
    TCase *tc = tcase_create("attendance");
    tcase_add_unchecked_fixture(tc, setup_district, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tap_in_then_out_gives_minutes);
    tcase_add_test(tc, test_hours_accumulate_and_credits_come_once);
    tcase_add_test(tc, test_check_out_without_check_in_is_refused);
    tcase_add_test(tc, test_double_check_in_is_refused);
    tcase_add_test(tc, test_forgotten_check_out_expires_after_12_hours);
    tcase_add_test(tc, test_check_out_within_a_minute_keeps_the_check_in);
    tcase_add_test(tc, test_replayed_sequence_numbers_answer_the_same);
    tcase_add_test(tc, test_lost_and_cancelled_cards_are_refused);
    tcase_add_test(tc, test_another_centres_session_is_refused);
    tcase_add_test(tc, test_taps_outside_the_window_are_refused);
    tcase_add_test(tc, test_gaps_in_a_terminals_sequence_are_reported);
    tcase_add_test(tc, test_taps_and_ledger_are_append_only);
    tcase_add_test(tc, test_lcbctl_session_add_and_list);
    suite_add_tcase(s, tc);
    return s;
}
