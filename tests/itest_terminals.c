/* Card terminals against a real lcbd and PostgreSQL over real TLS sockets,
 * as a community education centre uses them: taps that turn into hours and,
 * once, into credits; an offline batch uploaded twice; lost cards and other
 * centres' courses refused; hostile frames that cost one connection and not
 * the daemon; revoked and non-terminal certificates; openssl s_client. */
#include "tests/itest.h"
#include "tests/itest_suites.h"
#include "tools/lcbp_client.h"

#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MINUTE_MS (60 * 1000LL)

static struct itest_lcbd lcbd;
static struct itest_district district;
static int lcbp_port;
static char lcbp_addr[64];
static char branch_session[ITEST_CODE_MAX]; /* of district.branch_course: 90
                                               min, 1.00 */
static char school_session[ITEST_CODE_MAX]; /* of district.school_course: not
                                               the branch's */
/* Large (about 24 KiB each): static, never on a test's stack. */
static struct lcbp_message req, resp;

static int free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    ck_assert_int_ge(fd, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    ck_assert_int_gt(port, 0);
    return port;
}

static void session_add(char code[ITEST_CODE_MAX], const char *course)
{
    itest_unique(code, "ses");
    free(itest_lcbctl_ok("session", "add", "--code", code, "--course", course, "--title",
                         "Thursday afternoon class", (char *)NULL));
}

/* A terminal certificate of institution with a fresh terminal id (its CN),
 * so that every test starts its sequence numbers at 1. */
static void terminal_cert(char prefix[ITEST_PATH_MAX], const char *institution)
{
    char name[ITEST_CODE_MAX];

    itest_unique(name, "T");
    int n = snprintf(prefix, ITEST_PATH_MAX, "%s/certs/%s-terminal", itest_env()->dir, name);
    ck_assert(n > 0 && n < ITEST_PATH_MAX);
    free(itest_lcbctl_ok("cert", "issue", "--ca-dir", itest_env()->ca_dir, "--role", "terminal",
                         "--institution", institution, "--name", name, "--out", prefix,
                         (char *)NULL));
}

static void start_lcbd(void)
{
    char extra[128];

    itest_district_make(&district, "trm");
    session_add(branch_session, district.branch_course);
    session_add(school_session, district.school_course);
    lcbp_port = free_port();
    snprintf(lcbp_addr, sizeof lcbp_addr, "127.0.0.1:%d", lcbp_port);
    snprintf(extra, sizeof extra, "lcbp_listen = %s\n", lcbp_addr);
    ck_assert_int_eq(itest_lcbd_start(&lcbd, extra), 0);
}

static void stop_lcbd(void)
{
    ck_assert_int_eq(itest_lcbd_stop(&lcbd), 0);
}

/* Connects with PREFIX.crt/.key; NULL with err set when that fails. */
static struct lcbp_client *try_connect(const char *prefix, struct lcb_error *err)
{
    char crt[ITEST_PATH_MAX + 8], key[ITEST_PATH_MAX + 8];
    struct lcbp_client_options opt = {lcbp_addr, itest_env()->ca_cert, crt, key, NULL, 30000};

    snprintf(crt, sizeof crt, "%s.crt", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    return lcbp_client_connect(&opt, err);
}

/* A connected terminal that has had its HELLO_OK. */
static struct lcbp_client *terminal_open(const char *prefix)
{
    struct lcb_error err;
    struct lcbp_client *c = try_connect(prefix, &err);

    ck_assert_msg(c != NULL, "connect: %s: %s", err.code, err.message);
    ck_assert_msg(lcbp_client_hello(c, "itest/1", &resp, &err) == 0, "HELLO: %s: %s", err.code,
                  err.message);
    ck_assert_uint_eq(resp.version, LCBP_VERSION);
    ck_assert_uint_ge(resp.max_in_flight, 1);
    return c;
}

/* TAP; resp gets the answer (TAP_OK or ERROR). */
static void tap(struct lcbp_client *c, const char *card, const char *session, int direction,
                int64_t time_ms, uint64_t seq)
{
    struct lcb_error err;

    lcbp_message_init(&req, LCBP_TAP, lcbp_client_next_id(c));
    snprintf(req.card, sizeof req.card, "%s", card);
    snprintf(req.session, sizeof req.session, "%s", session);
    req.direction = (uint8_t)direction;
    req.terminal_time_ms = time_ms;
    req.sequence = seq;
    ck_assert_msg(lcbp_client_call(c, &req, &resp, &err) == 0, "TAP: %s: %s", err.code,
                  err.message);
}

static void expect_error(const char *code)
{
    ck_assert_msg(resp.type == LCBP_ERROR, "expected ERROR %s, got %s", code,
                  lcbp_type_name(resp.type));
    ck_assert_str_eq(resp.error_code, code);
}

static void expect_tap_ok(int status)
{
    ck_assert_msg(resp.type == LCBP_TAP_OK, "expected TAP_OK, got %s %s: %s",
                  lcbp_type_name(resp.type), resp.error_code, resp.error_message);
    ck_assert_int_eq(resp.status, status);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long balance_of(const char *card, const char *unit)
{
    char sql[512];

    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT b.amount FROM balances b JOIN accounts a "
             "ON a.id = "
             "b.account_id JOIN cards c ON c.learner_id = a.learner_id WHERE "
             "c.number = '%s' "
             "AND b.unit = '%s'), 0)",
             card, unit);
    return itest_sql_long(sql);
}

static long ledger_size(void)
{
    return itest_sql_long("SELECT (SELECT count(*) FROM transactions) * 1000000 + "
                          "(SELECT count(*) FROM entries)");
}

/* lcb-term, built next to lcbctl. */
static void lcb_term_path(char out[ITEST_PATH_MAX])
{
    char tools[ITEST_PATH_MAX];

    snprintf(tools, sizeof tools, "%s", itest_env()->lcbctl);
    snprintf(out, ITEST_PATH_MAX, "%s/lcb-term", dirname(tools));
}

/* Runs lcb-term with the terminal prefix's certificate and args (NULL
 * terminated, at most 12); returns its exit status, *out its output. */
static int lcb_term(char **out, const char *prefix, const char *const *args)
{
    char path[ITEST_PATH_MAX], crt[ITEST_PATH_MAX + 8], key[ITEST_PATH_MAX + 8];
    char *argv[24] = {path,     "--addr", lcbp_addr, "--ca", (char *)itest_env()->ca_cert,
                      "--cert", crt,      "--key",   key};
    size_t n = 9;

    lcb_term_path(path);
    snprintf(crt, sizeof crt, "%s.crt", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    for (size_t i = 0; args[i] != NULL && n < 22; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return itest_run(out, argv);
}

START_TEST(test_taps_accumulate_hours_and_deposit_credits_once)
{
    char prefix[ITEST_PATH_MAX];
    const char *card = district.cards[0];
    long community = balance_of(card, "community"), minutes = balance_of(card, "minutes");
    int64_t t0 = now_ms() - 6 * 60 * MINUTE_MS;

    terminal_cert(prefix, district.branch);
    struct lcbp_client *c = terminal_open(prefix);
    ck_assert_str_eq(resp.institution, district.branch);

    /* 50 minutes: below the course's 90, no credits yet */
    tap(c, card, branch_session, LCBP_IN, t0, 1);
    expect_tap_ok(LCBP_STATUS_APPLIED);
    tap(c, card, branch_session, LCBP_OUT, t0 + 50 * MINUTE_MS, 2);
    expect_tap_ok(LCBP_STATUS_APPLIED);
    ck_assert_uint_eq(resp.attended_minutes, 50);
    ck_assert_uint_eq(resp.required_minutes, 90);
    ck_assert_int_eq(resp.credits_centi, 0);
    ck_assert_int_eq(balance_of(card, "minutes"), minutes + 50);
    ck_assert_int_eq(balance_of(card, "community"), community);

    /* 45 more: 95 reached, the course's 1.00 community credits deposited */
    tap(c, card, branch_session, LCBP_IN, t0 + 120 * MINUTE_MS, 3);
    expect_tap_ok(LCBP_STATUS_APPLIED);
    tap(c, card, branch_session, LCBP_OUT, t0 + 165 * MINUTE_MS, 4);
    expect_tap_ok(LCBP_STATUS_APPLIED);
    ck_assert_uint_eq(resp.attended_minutes, 95);
    ck_assert_int_eq(resp.credits_centi, 100);
    ck_assert_str_eq(resp.credit_unit, "community");
    ck_assert_int_eq(balance_of(card, "community"), community + 100);

    /* the check-out again: its original answer, no second deposit */
    long size = ledger_size();
    tap(c, card, branch_session, LCBP_OUT, t0 + 165 * MINUTE_MS, 4);
    expect_tap_ok(LCBP_STATUS_DUPLICATE);
    ck_assert_int_eq(resp.credits_centi, 100);
    ck_assert_int_eq(ledger_size(), size);

    /* another class: hours still add up, the credits never come twice */
    tap(c, card, branch_session, LCBP_IN, t0 + 240 * MINUTE_MS, 5);
    expect_tap_ok(LCBP_STATUS_APPLIED);
    tap(c, card, branch_session, LCBP_OUT, t0 + 300 * MINUTE_MS, 6);
    expect_tap_ok(LCBP_STATUS_APPLIED);
    ck_assert_uint_eq(resp.attended_minutes, 155);
    ck_assert_int_eq(resp.credits_centi, 0);
    ck_assert_int_eq(balance_of(card, "community"), community + 100);
    ck_assert_int_eq(balance_of(card, "minutes"), minutes + 155);

    /* a check-out with no check-in, and the same sequence number reused */
    tap(c, card, branch_session, LCBP_OUT, t0 + 310 * MINUTE_MS, 7);
    expect_error("no_open_check_in");
    tap(c, card, branch_session, LCBP_IN, t0 + 320 * MINUTE_MS, 6);
    expect_error("sequence_replayed");
    lcbp_client_close(c);
}
END_TEST

START_TEST(test_balance_and_pipelined_requests)
{
    enum { N = 20 };
    char prefix[ITEST_PATH_MAX];
    bool answered[N + 2] = {false};
    struct lcb_error err;
    const char *card = district.cards[0];

    terminal_cert(prefix, district.branch);
    struct lcbp_client *c = terminal_open(prefix);
    ck_assert_uint_ge(resp.max_in_flight, N);
    /* N requests before reading any answer; answers matched by id */
    for (int i = 0; i < N; i++) {
        lcbp_message_init(&req, i % 2 ? LCBP_PING : LCBP_BALANCE, lcbp_client_next_id(c));
        if (i % 2 == 0)
            snprintf(req.card, sizeof req.card, "%s", card);
        ck_assert(lcbp_client_send(c, &req, &err) == 0);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_msg(lcbp_client_recv(c, &resp, &err) == 0, "%s: %s", err.code, err.message);
        ck_assert_uint_le(resp.request_id, N + 1);
        ck_assert(!answered[resp.request_id]);
        answered[resp.request_id] = true;
        /* ids 2, 4, ... were BALANCE (id 1 was HELLO) */
        ck_assert_int_eq(resp.type, resp.request_id % 2 == 0 ? LCBP_BALANCE_OK : LCBP_PONG);
    }
    lcbp_message_init(&req, LCBP_BALANCE, lcbp_client_next_id(c));
    snprintf(req.card, sizeof req.card, "%s", card);
    ck_assert(lcbp_client_call(c, &req, &resp, &err) == 0);
    ck_assert_int_eq(resp.type, LCBP_BALANCE_OK);
    for (size_t i = 0; i < resp.n_balances; i++)
        ck_assert_int_eq(resp.balances[i].amount, balance_of(card, resp.balances[i].unit));
    lcbp_client_close(c);

    /* the same through lcb-term, as a person at the desk would ask */
    char *out = NULL;
    const char *args[] = {"balance", "--card", card, NULL};
    ck_assert_msg(lcb_term(&out, prefix, args) == 0, "lcb-term balance: %s", out);
    ck_assert_msg(strstr(out, card) != NULL, "lcb-term balance: %s", out);
    free(out);
}
END_TEST

/* lcb-term's load mode, closed loop over one connection, --in-flight
 * given or not; returns its JSON report (the caller decrefs). */
static json_t *closed_loop_report(const char *prefix, const char *in_flight)
{
    char *out = NULL;
    const char *args[] = {"load", "--terminals", "1", "--duration", "1", "--closed-loop",
                          "--op", "ping", "--json", in_flight ? "--in-flight" : NULL, in_flight,
                          NULL};
    ck_assert_msg(lcb_term(&out, prefix, args) == 0, "lcb-term load: %s", out);
    json_error_t error;
    json_t *report = json_loads(strchr(out, '{') ? strchr(out, '{') : out, 0, &error);
    ck_assert_msg(report != NULL, "lcb-term load printed no report: %s", out);
    free(out);
    return report;
}

START_TEST(test_load_keeps_the_requests_in_flight_it_is_told)
{
    char prefix[ITEST_PATH_MAX];

    terminal_cert(prefix, district.branch);
    json_t *one = closed_loop_report(prefix, NULL);
    json_t *four = closed_loop_report(prefix, "4");
    ck_assert_int_eq(json_integer_value(json_object_get(one, "in_flight_peak")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(four, "in_flight_peak")), 4);
    ck_assert_int_gt(json_integer_value(json_object_get(four, "ok")), 0);
    /* a closed loop of PINGs outruns lcbd's per-terminal rate: the only
     * refusal allowed is rate_limited (SPEC.md 7.2) */
    const char *code;
    json_t *count;
    json_object_foreach(json_object_get(four, "errors"), code, count)
        ck_assert_msg(strcmp(code, "rate_limited") == 0, "error %s (%lld)", code,
                      (long long)json_integer_value(count));
    json_decref(one);
    json_decref(four);

    /* a fixed rate sets the pace itself: --in-flight with --rate is refused */
    char *out = NULL;
    const char *args[] = {"load", "--terminals", "1", "--duration", "1", "--rate", "10",
                          "--op", "ping", "--in-flight", "4", NULL};
    ck_assert_int_eq(lcb_term(&out, prefix, args), 2);
    ck_assert_msg(strstr(out, "--in-flight is for --closed-loop") != NULL, "%s", out);
    free(out);
    const char *too_many[] = {"load", "--terminals", "1", "--duration", "1", "--closed-loop",
                              "--op", "ping", "--in-flight", "65", NULL};
    ck_assert_int_eq(lcb_term(&out, prefix, too_many), 2);
    ck_assert_msg(strstr(out, "--in-flight takes 1 to 64") != NULL, "%s", out);
    free(out);
}
END_TEST

/* A terminal's offline store: two classes (40 and 20 minutes), with
 * sequence number 3 missing (a tap the terminal lost). */
static const struct {
    int seq, minute;
    const char *direction;
} offline_taps[] = {{1, 0, "in"}, {2, 40, "out"}, {4, 60, "in"}, {5, 80, "out"}};
#define N_OFFLINE (sizeof offline_taps / sizeof offline_taps[0])

static void write_offline_file(const char *path, const char *card, int64_t t0)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fprintf(f, "# offline taps of one terminal\n");
    for (size_t i = 0; i < N_OFFLINE; i++) {
        time_t t = (time_t)((t0 + offline_taps[i].minute * MINUTE_MS) / 1000);
        struct tm tm;
        char when[32];

        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(f, "%d %s %s %s %s\n", offline_taps[i].seq, when, card, branch_session,
                offline_taps[i].direction);
    }
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_offline_batch_uploaded_twice_is_applied_once)
{
    char prefix[ITEST_PATH_MAX], path[ITEST_PATH_MAX + 16];
    const char *card = district.cards[1];
    int64_t t0 = (now_ms() - 3 * 24 * 60 * MINUTE_MS) / 1000 * 1000; /* three days ago */
    long minutes = balance_of(card, "minutes");
    struct lcb_error err;

    terminal_cert(prefix, district.branch);
    snprintf(path, sizeof path, "%s.offline", prefix);
    write_offline_file(path, card, t0);

    /* first upload, through the library: every tap applied, the gap named */
    struct lcbp_client *c = terminal_open(prefix);
    lcbp_message_init(&req, LCBP_UPLOAD, lcbp_client_next_id(c));
    req.n_sessions = 1;
    snprintf(req.sessions[0], sizeof req.sessions[0], "%s", branch_session);
    for (size_t i = 0; i < N_OFFLINE; i++) {
        struct lcbp_tap *t = &req.taps[req.n_taps++];
        t->sequence = (uint64_t)offline_taps[i].seq;
        t->terminal_time_ms = t0 + offline_taps[i].minute * MINUTE_MS;
        snprintf(t->card, sizeof t->card, "%s", card);
        t->direction = strcmp(offline_taps[i].direction, "in") == 0 ? LCBP_IN : LCBP_OUT;
    }
    ck_assert_msg(lcbp_client_call(c, &req, &resp, &err) == 0, "%s: %s", err.code, err.message);
    ck_assert_msg(resp.type == LCBP_UPLOAD_OK, "UPLOAD: %s %s", resp.error_code,
                  resp.error_message);
    ck_assert_uint_eq(resp.n_tap_status, 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(lcbp_tap_status_name(resp.tap_status[i]), "applied");
    ck_assert_uint_eq(resp.n_gaps, 1);
    ck_assert_uint_eq(resp.gaps[0].first, 3);
    ck_assert_uint_eq(resp.gaps[0].last, 3);
    lcbp_client_close(c);
    ck_assert_int_eq(balance_of(card, "minutes"), minutes + 60);

    /* the same taps again, as lcb-term uploads the file: nothing changes */
    long size = ledger_size();
    char *out = NULL;
    const char *args[] = {"upload", path, NULL};
    ck_assert_msg(lcb_term(&out, prefix, args) == 0, "lcb-term upload: %s", out);
    ck_assert_msg(strstr(out, "4 taps: 0 applied, 4 duplicate, 0 refused") != NULL,
                  "lcb-term upload: %s", out);
    ck_assert_msg(strstr(out, "gaps: 3") != NULL, "lcb-term upload: %s", out);
    free(out);
    ck_assert_int_eq(ledger_size(), size);
    ck_assert_int_eq(balance_of(card, "minutes"), minutes + 60);
}
END_TEST

START_TEST(test_lost_card_and_other_centres_course_refused)
{
    char prefix[ITEST_PATH_MAX];
    long size = ledger_size();
    struct lcb_error err;

    terminal_cert(prefix, district.branch);
    struct lcbp_client *c = terminal_open(prefix);

    /* a course of the vocational school, not of this centre */
    tap(c, district.cards[0], school_session, LCBP_IN, now_ms() - MINUTE_MS, 1);
    expect_error("course_not_owned");
    lcbp_message_init(&req, LCBP_OUTCOME, lcbp_client_next_id(c));
    snprintf(req.card, sizeof req.card, "%s", district.cards[0]);
    snprintf(req.course, sizeof req.course, "%s", district.school_course);
    snprintf(req.result, sizeof req.result, "pass");
    snprintf(req.completed_on, sizeof req.completed_on, "2026-01-15");
    req.sequence = 2;
    ck_assert(lcbp_client_call(c, &req, &resp, &err) == 0);
    expect_error("course_not_owned");

    /* a card reported lost: refused, for taps and inquiries alike */
    free(itest_lcbctl_ok("card", "lost", district.cards[2], (char *)NULL));
    tap(c, district.cards[2], branch_session, LCBP_IN, now_ms() - MINUTE_MS, 3);
    expect_error("card_lost");
    lcbp_message_init(&req, LCBP_BALANCE, lcbp_client_next_id(c));
    snprintf(req.card, sizeof req.card, "%s", district.cards[2]);
    ck_assert(lcbp_client_call(c, &req, &resp, &err) == 0);
    expect_error("card_lost");
    ck_assert_int_eq(ledger_size(), size);
    lcbp_client_close(c);

    /* lcb-term says so and exits 1 */
    char *out = NULL;
    const char *args[] = {
        "tap", "--card", district.cards[2], "--session", branch_session, "--in", "--seq",
        "4",   NULL};
    ck_assert_int_eq(lcb_term(&out, prefix, args), 1);
    ck_assert_msg(strstr(out, "card_lost") != NULL, "lcb-term tap: %s", out);
    free(out);
}
END_TEST

/* The connection must end; a frame before the end must be ERROR with
 * request id 0 and code (SPEC.md section 8). */
static void expect_closed_with(struct lcbp_client *c, const char *what, const char *code)
{
    struct lcb_error err;

    if (lcbp_client_recv(c, &resp, &err) == 0) {
        ck_assert_msg(resp.type == LCBP_ERROR && resp.request_id == 0,
                      "%s: answered %s %s with request id %u, not 0", what,
                      lcbp_type_name(resp.type), resp.error_code, resp.request_id);
        ck_assert_msg(strcmp(resp.error_code, code) == 0, "%s: %s, expected %s", what,
                      resp.error_code, code);
        ck_assert_msg(lcbp_client_recv(c, &resp, &err) != 0, "%s: still open", what);
    }
    ck_assert_msg(strcmp(err.code, "closed") == 0, "%s: %s: %s", what, err.code, err.message);
    lcbp_client_close(c);
}

static void expect_serving(struct lcbp_client *c)
{
    struct lcb_error err;

    lcbp_message_init(&req, LCBP_PING, lcbp_client_next_id(c));
    ck_assert_msg(lcbp_client_call(c, &req, &resp, &err) == 0, "%s: %s", err.code, err.message);
    ck_assert_int_eq(resp.type, LCBP_PONG);
}

START_TEST(test_bad_frames_cost_one_connection_not_the_daemon)
{
    char prefix[ITEST_PATH_MAX];
    struct lcb_error err;
    uint8_t cut[64];
    size_t cut_len;

    terminal_cert(prefix, district.branch);
    struct lcbp_client *good = terminal_open(prefix);

    /* A BALANCE whose field claims more bytes than the frame holds. */
    lcbp_message_init(&req, LCBP_BALANCE, 7);
    snprintf(req.card, sizeof req.card, "%s", district.cards[0]);
    ck_assert(lcbp_encode(&req, cut, sizeof cut, &cut_len, &err) == 0);
    cut[LCBP_HEADER_LEN + 2] = 0xff;
    const struct {
        const char *name;
        const void *bytes;
        size_t len;
        const char *code;
    } cases[] = {
        {"truncated field", cut, cut_len, "bad_frame"},
        {"oversized", "\x00\x10\x00\x00\x02\x00\x00\x00\x01", 9, "frame_too_large"},
        {"garbage", "GET / HTTP/1.1\r\nHost: lcbd\r\n\r\n", 30, "frame_too_large"},
        {"length below the header", "\x00\x00\x00\x02\xab\xcd", 6, "bad_frame"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lcbp_client *bad = terminal_open(prefix);
        ck_assert(lcbp_client_send_raw(bad, cases[i].bytes, cases[i].len, &err) == 0);
        expect_closed_with(bad, cases[i].name, cases[i].code);
        /* and before any HELLO */
        bad = try_connect(prefix, &err);
        ck_assert_ptr_nonnull(bad);
        ck_assert(lcbp_client_send_raw(bad, cases[i].bytes, cases[i].len, &err) == 0);
        expect_closed_with(bad, cases[i].name, cases[i].code);
        expect_serving(good);
    }

    /* An unknown message type is refused, and its connection stays open. */
    struct lcbp_client *odd = terminal_open(prefix);
    ck_assert(lcbp_client_send_raw(odd, "\x00\x00\x00\x05\x77\x00\x00\x00\x63", 9, &err) == 0);
    ck_assert(lcbp_client_recv(odd, &resp, &err) == 0);
    expect_error("unknown_message");
    ck_assert_uint_eq(resp.request_id, 0x63);
    expect_serving(odd);
    lcbp_client_close(odd);

    /* A frame that stops half way holds only its own connection: the
     * others are served meanwhile. */
    struct lcbp_client *stalled = terminal_open(prefix);
    ck_assert(lcbp_client_send_raw(stalled, "\x00\x00\x00\x05\x06\x00", 6, &err) == 0);
    expect_serving(good);
    tap(good, district.cards[0], branch_session, LCBP_IN, now_ms() - 10 * MINUTE_MS, 1);
    ck_assert_msg(resp.type == LCBP_TAP_OK || strcmp(resp.error_code, "already_checked_in") == 0,
                  "TAP: %s", resp.error_code);
    struct lcbp_client *fresh = terminal_open(prefix);
    expect_serving(fresh);
    lcbp_client_close(fresh);
    lcbp_client_close(stalled);
    expect_serving(good);
    lcbp_client_close(good);
}
END_TEST

/* SPEC.md 7.3: a frame once started must arrive whole within the frame
 * timeout (10 s), or lcbd closes the connection without an answer. */
START_TEST(test_half_sent_frame_is_closed_after_the_frame_timeout)
{
    char prefix[ITEST_PATH_MAX];
    struct lcb_error err;

    terminal_cert(prefix, district.branch);
    struct lcbp_client *stalled = terminal_open(prefix);
    ck_assert(lcbp_client_send_raw(stalled, "\x00\x00\x00\x05\x06\x00", 6, &err) == 0);
    ck_assert_msg(lcbp_client_recv(stalled, &resp, &err) != 0, "a half-sent frame was answered");
    ck_assert_msg(strcmp(err.code, "closed") == 0, "after 30 s: %s: %s", err.code, err.message);
    lcbp_client_close(stalled);
}
END_TEST

/* Refused at the handshake or by an ERROR with request id 0 and code. */
static bool refused(const char *prefix, const char *code, char *why, size_t why_cap)
{
    struct lcb_error err;
    struct lcbp_client *c = try_connect(prefix, &err);
    bool refused = c == NULL;

    if (c != NULL && lcbp_client_hello(c, "itest/1", &resp, &err) != 0)
        refused = strcmp(err.code, code) == 0 || strcmp(err.code, "closed") == 0;
    snprintf(why, why_cap, "%s: %s", c != NULL && !refused ? "accepted" : err.code, err.message);
    lcbp_client_close(c);
    return refused;
}

START_TEST(test_revoked_and_non_terminal_certificates_refused)
{
    char prefix[ITEST_PATH_MAX], crt[ITEST_PATH_MAX + 8], why[400];
    bool was_refused = false;

    terminal_cert(prefix, district.branch);
    lcbp_client_close(terminal_open(prefix));
    snprintf(crt, sizeof crt, "%s.crt", prefix);
    free(itest_lcbctl_ok("cert", "revoke", "--cert", crt, (char *)NULL));
    /* "within seconds" (SPEC.md section 1) */
    for (int tries = 0; tries < 50 && !was_refused; tries++) {
        was_refused = refused(prefix, "credential_revoked", why, sizeof why);
        if (!was_refused)
            usleep(200000);
    }
    ck_assert_msg(was_refused, "a revoked terminal: %s", why);

    ck_assert_msg(refused(district.school_cert, "not_a_terminal", why, sizeof why),
                  "a school's certificate: %s", why);
}
END_TEST

START_TEST(test_openssl_s_client_completes_the_handshake)
{
    char prefix[ITEST_PATH_MAX], crt[ITEST_PATH_MAX + 8], key[ITEST_PATH_MAX + 8];
    char *out = NULL;

    terminal_cert(prefix, district.branch);
    snprintf(crt, sizeof crt, "%s.crt", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    char *argv[] = {"openssl",
                    "s_client",
                    "-connect",
                    lcbp_addr,
                    "-tls1_3",
                    "-cert",
                    crt,
                    "-key",
                    key,
                    "-CAfile",
                    (char *)itest_env()->ca_cert,
                    "-verify_ip",
                    "127.0.0.1",
                    "-verify_return_error",
                    "-brief",
                    NULL};
    int status = itest_run(&out, argv);
    ck_assert_msg(status == 0, "openssl s_client exited %d: %s", status, out);
    ck_assert_msg(strstr(out, "TLSv1.3") != NULL, "no TLSv1.3: %s", out);
    ck_assert_msg(strstr(out, "Verification: OK") != NULL, "not verified: %s", out);
    free(out);

    /* and TLS 1.2 is refused */
    argv[4] = "-tls1_2";
    status = itest_run(&out, argv);
    ck_assert_msg(status != 0, "TLS 1.2 was accepted: %s", out);
    free(out);
}
END_TEST

/* One sequence number, two OUTCOMEs of different cards, pipelined: they may
 * share a batched group (their learners differ), where neither prepare sees
 * the other. Exactly one is posted; the other is sequence_replayed. */
#define SHARED_SEQ_PAIRS 8
START_TEST(test_outcomes_sharing_a_sequence_number_post_once)
{
    char prefix[ITEST_PATH_MAX], courses[SHARED_SEQ_PAIRS][ITEST_CODE_MAX + 16];
    struct lcb_error err;
    long size = ledger_size();

    for (int k = 0; k < SHARED_SEQ_PAIRS; k++) {
        snprintf(courses[k], sizeof courses[k], "%s-seq%d", district.branch_course, k);
        free(itest_lcbctl_ok("course", "add", "--code", courses[k], "--owner", district.branch,
                             "--title", "Shared sequence", "--unit", "community", "--credits",
                             "50", "--hours-minutes", "60", "--level", "1", (char *)NULL));
    }
    terminal_cert(prefix, district.branch);
    struct lcbp_client *c = terminal_open(prefix);
    uint32_t first_id = 0;
    for (int k = 0; k < 2 * SHARED_SEQ_PAIRS; k++) {
        lcbp_message_init(&req, LCBP_OUTCOME, lcbp_client_next_id(c));
        if (k == 0)
            first_id = req.request_id;
        snprintf(req.card, sizeof req.card, "%s", district.cards[k % 2]);
        snprintf(req.course, sizeof req.course, "%s", courses[k / 2]);
        snprintf(req.result, sizeof req.result, "pass");
        snprintf(req.completed_on, sizeof req.completed_on, "2026-01-15");
        req.sequence = 100 + (uint64_t)(k / 2);
        ck_assert_msg(lcbp_client_send(c, &req, &err) == 0, "%s: %s", err.code, err.message);
    }
    int posted[SHARED_SEQ_PAIRS] = {0}, replayed[SHARED_SEQ_PAIRS] = {0};
    for (int k = 0; k < 2 * SHARED_SEQ_PAIRS; k++) {
        ck_assert_msg(lcbp_client_recv(c, &resp, &err) == 0, "%s: %s", err.code, err.message);
        uint32_t pair = (resp.request_id - first_id) / 2;
        ck_assert_uint_lt(pair, SHARED_SEQ_PAIRS);
        if (resp.type == LCBP_OUTCOME_OK && resp.status == LCBP_STATUS_APPLIED)
            posted[pair]++;
        else if (resp.type == LCBP_ERROR && strcmp(resp.error_code, "sequence_replayed") == 0)
            replayed[pair]++;
        else
            ck_abort_msg("request %u: %s %s", (unsigned)resp.request_id, lcbp_type_name(resp.type),
                         resp.error_code);
    }
    lcbp_client_close(c);
    for (int k = 0; k < SHARED_SEQ_PAIRS; k++) {
        ck_assert_msg(posted[k] == 1 && replayed[k] == 1, "sequence %d: %d posted, %d replayed",
                      100 + k, posted[k], replayed[k]);
    }
    ck_assert_int_eq(ledger_size(), size + SHARED_SEQ_PAIRS * 1000000 + 2 * SHARED_SEQ_PAIRS);
}
END_TEST

/* A terminal's name is its id on the wire and in every tap: lcbctl refuses
 * to issue a terminal certificate whose name is not an LCBP code, and
 * records nothing. */
START_TEST(test_terminal_name_must_be_a_code)
{
    char prefix[ITEST_PATH_MAX + 64];
    snprintf(prefix, sizeof prefix, "%s/certs/bad-name-terminal-%d", itest_env()->dir,
             (int)getpid());
    long before = itest_sql_long("SELECT count(*) FROM credentials");
    char *out = NULL;
    int rc = itest_lcbctl(&out, "cert", "issue", "--ca-dir", itest_env()->ca_dir, "--role",
                          "terminal", "--institution", district.branch, "--name",
                          "front door terminal", "--out", prefix, (char *)NULL);
    ck_assert_msg(rc != 0 && strstr(out, "invalid_code") != NULL, "lcbctl: %d %s", rc, out);
    free(out);
    ck_assert_int_eq(itest_sql_long("SELECT count(*) FROM credentials"), before);
}
END_TEST

Suite *itest_terminals_suite(void)
{
    Suite *s = suite_create("terminals");
    TCase *lcbp = tcase_create("lcbp");

    tcase_add_unchecked_fixture(lcbp, start_lcbd, stop_lcbd);
    tcase_set_timeout(lcbp, 300);
    tcase_add_test(lcbp, test_taps_accumulate_hours_and_deposit_credits_once);
    tcase_add_test(lcbp, test_balance_and_pipelined_requests);
    tcase_add_test(lcbp, test_load_keeps_the_requests_in_flight_it_is_told);
    tcase_add_test(lcbp, test_offline_batch_uploaded_twice_is_applied_once);
    tcase_add_test(lcbp, test_lost_card_and_other_centres_course_refused);
    tcase_add_test(lcbp, test_bad_frames_cost_one_connection_not_the_daemon);
    tcase_add_test(lcbp, test_half_sent_frame_is_closed_after_the_frame_timeout);
    tcase_add_test(lcbp, test_revoked_and_non_terminal_certificates_refused);
    tcase_add_test(lcbp, test_openssl_s_client_completes_the_handshake);
    tcase_add_test(lcbp, test_terminal_name_must_be_a_code);
    tcase_add_test(lcbp, test_outcomes_sharing_a_sequence_number_post_once);
    suite_add_tcase(s, lcbp);
    return s;
}
