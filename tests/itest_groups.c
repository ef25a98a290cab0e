/* How many commit groups lcbd runs at once (group_commits_at_once): a group
 * stuck on a learner's lock holds the next group back when the limit is
 * one, and not when it is two or when the postings waiting fill a whole
 * group; while fewer postings wait than group_commit_min, until
 * group_commit_wait_ms has passed; the default is one per database
 * connection; a bad value stops lcbd before it starts. */
#include "tests/itest.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct itest_district district;

static void make_district(void)
{
    itest_district_make(&district, "grp");
}

static long count_key(const char *key)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM transactions WHERE idempotency_key = '%s'",
             key);
    return itest_sql_long(sql);
}

/* Posts one outcome of card to a fresh course of the school from a child
 * process, so that the test can watch while it waits. The child exits 0
 * only when the outcome was answered posted. */
static pid_t post_in_child(const struct itest_lcbd *lcbd, const char *card, const char *key)
{
    char course[ITEST_CODE_MAX], body[1024];
    itest_fresh_course(&district, course);
    snprintf(body, sizeof body,
             "{\"outcomes\": [{\"idempotency_key\": \"%s\", \"card\": \"%s\", \"course\": \"%s\", "
             "\"result\": \"pass\", \"completed_on\": \"2026-09-01\"}]}",
             key, card, course);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int status = 0;
        json_t *doc = NULL;
        if (itest_https(lcbd, "POST", "/v1/outcomes", body, district.school_cert, &status, &doc) !=
                0 ||
            status != 200)
            _exit(1);
        const char *answer = json_string_value(
            json_object_get(json_array_get(json_object_get(doc, "results"), 0), "status"));
        _exit(answer != NULL && strcmp(answer, "posted") == 0 ? 0 : 1);
    }
    return pid;
}

/* Whether child ended within seconds; *exit_code gets its exit status. */
static bool child_ended(pid_t child, double seconds, int *exit_code)
{
    for (double waited = 0; waited <= seconds; waited += 0.05) {
        int status;
        pid_t got = waitpid(child, &status, WNOHANG);
        ck_assert_int_ge(got, 0);
        if (got == child) {
            *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return true;
        }
        usleep(50000);
    }
    return false;
}

/* Up to a minute: lcbd may run under valgrind. */
static void wait_for_lcbd_on_a_lock(void)
{
    for (int tries = 0; tries < 1200; tries++) {
        if (itest_sql_long("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lcbd' "
                           "AND wait_event_type = 'Lock'") > 0)
            return;
        usleep(50000);
    }
    ck_abort_msg("lcbd's group never waited for the learner's lock");
}

#define NEXT_MAX 2

/* Card 0's learner is locked by the test, so the group posting to card 0
 * waits; then outcomes for cards 1 to n_next arrive, one after another.
 * They are posted meanwhile when a second group may run, and only after
 * the lock goes when it may not. */
static void post_n_past_a_blocked_group(const char *extra, int n_next, bool second_group_runs)
{
    char key_blocked[ITEST_CODE_MAX], keys_next[NEXT_MAX][ITEST_CODE_MAX], sql[256];
    struct itest_lcbd lcbd;
    ck_assert_int_le(n_next, NEXT_MAX);
    ck_assert_int_eq(itest_lcbd_start(&lcbd, extra), 0);
    itest_unique(key_blocked, "gb");
    for (int i = 0; i < n_next; i++)
        itest_unique(keys_next[i], "gn");

    PGconn *holder = itest_pg_connect(NULL);
    itest_exec_ok(holder, "BEGIN", 0, NULL);
    snprintf(sql, sizeof sql, "SELECT 1 FROM accounts WHERE learner_id = %lld FOR UPDATE",
             district.learner_ids[0]);
    itest_exec_ok(holder, sql, 0, NULL);

    pid_t blocked = post_in_child(&lcbd, district.cards[0], key_blocked);
    wait_for_lcbd_on_a_lock();
    pid_t next[NEXT_MAX];
    int next_exit[NEXT_MAX], blocked_exit = -1;
    bool next_passed[NEXT_MAX];
    for (int i = 0; i < n_next; i++) {
        /* the earlier outcomes wait in lcbd's queue before the next comes */
        if (i > 0)
            usleep(300000);
        next[i] = post_in_child(&lcbd, district.cards[1 + i], keys_next[i]);
    }
    long next_rows_while_blocked = 0;
    for (int i = 0; i < n_next; i++) {
        next_exit[i] = -1;
        next_passed[i] = child_ended(next[i], second_group_runs ? 20 : 2, &next_exit[i]);
        next_rows_while_blocked += count_key(keys_next[i]);
    }
    bool blocked_ended_early = child_ended(blocked, 0, &blocked_exit);

    itest_exec_ok(holder, "COMMIT", 0, NULL);
    PQfinish(holder);
    for (int i = 0; i < n_next; i++)
        if (!next_passed[i])
            ck_assert_msg(child_ended(next[i], 20, &next_exit[i]),
                          "outcome %d after the blocked one was never answered", i + 1);
    ck_assert_msg(blocked_ended_early || child_ended(blocked, 20, &blocked_exit),
                  "the blocked outcome was never answered");
    ck_assert_int_eq(itest_lcbd_stop(&lcbd), 0);

    ck_assert_msg(!blocked_ended_early, "the locked learner's outcome did not wait for the lock");
    for (int i = 0; i < n_next; i++) {
        if (second_group_runs)
            ck_assert_msg(next_passed[i], "card %d waited for card 0's lock (%s)", 1 + i, extra);
        else
            ck_assert_msg(!next_passed[i], "a second group ran beside the first (%s)", extra);
        ck_assert_int_eq(next_exit[i], 0);
        ck_assert_int_eq(count_key(keys_next[i]), 1);
    }
    ck_assert_int_eq(next_rows_while_blocked, second_group_runs ? n_next : 0);
    ck_assert_int_eq(blocked_exit, 0);
    ck_assert_int_eq(count_key(key_blocked), 1);
}

static void post_past_a_blocked_group(const char *extra, bool second_group_runs)
{
    post_n_past_a_blocked_group(extra, 1, second_group_runs);
}

START_TEST(test_one_group_at_once_holds_the_next_group_back)
{
    post_past_a_blocked_group("group_commits_at_once = 1\n", false);
}
END_TEST

START_TEST(test_two_groups_at_once_pass_a_blocked_group)
{
    post_past_a_blocked_group("group_commits_at_once = 2\n", true);
}
END_TEST

/* One posting fills a group of one: a full group starts beside the
 * blocked one, whatever group_commits_at_once says. */
START_TEST(test_a_full_group_passes_a_blocked_group)
{
    post_past_a_blocked_group("group_commits_at_once = 1\ngroup_commit_max = 1\n", true);
}
END_TEST

/* One posting waiting is fewer than group_commit_min = 2: it waits for
 * the running group, though more groups may run at once. */
START_TEST(test_a_group_beside_a_running_one_waits_for_its_minimum)
{
    post_n_past_a_blocked_group("group_commit_min = 2\ngroup_commit_wait_ms = 60000\n", 1, false);
}
END_TEST

/* A second posting brings the waiting ones to group_commit_min: their
 * group starts beside the blocked one, long before the wait is over. */
START_TEST(test_a_group_that_reaches_its_minimum_passes_a_blocked_group)
{
    post_n_past_a_blocked_group("group_commit_min = 2\ngroup_commit_wait_ms = 60000\n", 2, true);
}
END_TEST

/* group_commit_wait_ms bounds the wait: one posting, far from the minimum,
 * still passes a group stuck on a lock. */
START_TEST(test_a_group_short_of_its_minimum_starts_after_the_wait)
{
    post_n_past_a_blocked_group("group_commit_min = 100\ngroup_commit_wait_ms = 200\n", 1, true);
}
END_TEST

/* lcbd says at start how many groups it runs at once. */
static int logged_groups_at_once(const char *extra)
{
    struct itest_lcbd lcbd;
    ck_assert_int_eq(itest_lcbd_start(&lcbd, extra), 0);
    ck_assert_int_eq(itest_lcbd_stop(&lcbd), 0);
    char *log = itest_read_file(lcbd.log_path);
    const char *line = strstr(log, "ledger: ");
    ck_assert_msg(line != NULL && strstr(line, " commit groups at once") != NULL,
                  "lcbd did not log its commit groups:\n%s", log);
    int n = atoi(line + strlen("ledger: "));
    free(log);
    return n;
}

START_TEST(test_default_is_one_group_per_connection)
{
    ck_assert_int_eq(logged_groups_at_once("db_connections = 5\n"), 5);
    ck_assert_int_eq(logged_groups_at_once("db_connections = 1\n"), 1);
    ck_assert_int_eq(logged_groups_at_once("db_connections = 3\ngroup_commits_at_once = 3\n"), 3);
    ck_assert_int_eq(logged_groups_at_once("db_connections = 2\ngroup_commits_at_once = 8\n"), 2);
}
END_TEST

/* A bad value is named with its line; lcbd does not start. */
static void assert_bad_values_stop_lcbd(const char *key, const char *const *bad, size_t n_bad)
{
    char path[ITEST_PATH_MAX + 32], expected[ITEST_PATH_MAX + 96];
    snprintf(path, sizeof path, "%s/groups-bad.conf", itest_env()->dir);
    snprintf(expected, sizeof expected, "%s:2: bad value for '%s'", path, key);
    for (size_t i = 0; i < n_bad; i++) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "db_connections = 4\n%s = %s\n", key, bad[i]);
        ck_assert_int_eq(fclose(f), 0);
        char *out = NULL;
        char *argv[] = {(char *)itest_env()->lcbd, "--config", path, "--check-config", NULL};
        int rc = itest_run(&out, argv);
        ck_assert_msg(rc != 0, "lcbd accepted %s = '%s'", key, bad[i]);
        ck_assert_msg(strstr(out, expected) != NULL, "value '%s': %s", bad[i], out);
        free(out);
    }
}

START_TEST(test_bad_values_stop_lcbd)
{
    static const char *const bad_at_once[] = {"0", "65", "-1", "two", "", "2x"};
    static const char *const bad_min[] = {"0", "10001", "-4", "many", "", "8 8"};
    static const char *const bad_wait[] = {"-1", "60001", "soon", "", "5ms"};
    assert_bad_values_stop_lcbd("group_commits_at_once", bad_at_once,
                                sizeof bad_at_once / sizeof bad_at_once[0]);
    assert_bad_values_stop_lcbd("group_commit_min", bad_min, sizeof bad_min / sizeof bad_min[0]);
    assert_bad_values_stop_lcbd("group_commit_wait_ms", bad_wait,
                                sizeof bad_wait / sizeof bad_wait[0]);
}
END_TEST

Suite *itest_groups_suite(void)
{
    Suite *s = suite_create("groups");
    TCase *limit = tcase_create("limit");
    tcase_add_unchecked_fixture(limit, make_district, NULL);
    tcase_set_timeout(limit, 300);
    tcase_add_test(limit, test_one_group_at_once_holds_the_next_group_back);
    tcase_add_test(limit, test_two_groups_at_once_pass_a_blocked_group);
    tcase_add_test(limit, test_a_full_group_passes_a_blocked_group);
    tcase_add_test(limit, test_a_group_beside_a_running_one_waits_for_its_minimum);
    tcase_add_test(limit, test_a_group_that_reaches_its_minimum_passes_a_blocked_group);
    tcase_add_test(limit, test_a_group_short_of_its_minimum_starts_after_the_wait);
    tcase_add_test(limit, test_default_is_one_group_per_connection);
    tcase_add_test(limit, test_bad_values_stop_lcbd);
    suite_add_tcase(s, limit);
    return s;
}
