/* lcbd's signing thread (daemon/sign_worker.c) on a real libevent loop with
 * a real key: every transaction of every job is signed exactly as the loop
 * would have signed it, each job is answered once, in order, on the loop's
 * thread, the loop runs while a job is signed, and freeing the worker with
 * jobs unfinished answers none of them. */
#include "daemon/sign_worker.h"
#include "lib/crypto.h"

#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    char key_path[128];
    struct event_base *base;
    struct signer *signer;
    EVP_PKEY *public_key;
    struct sign_worker *worker;
};

static struct fixture fx;

static void fixture_setup(void)
{
    struct lcb_error err = {0};
    snprintf(fx.dir, sizeof fx.dir, "/tmp/lcb-sign-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fx.dir));
    snprintf(fx.key_path, sizeof fx.key_path, "%s/signing.pem", fx.dir);
    EVP_PKEY *key = crypto_ed25519_generate(&err);
    ck_assert_ptr_nonnull(key);
    ck_assert_int_eq(crypto_write_private_key(key, fx.key_path, &err), 0);
    char *pem = crypto_public_key_pem(key, &err);
    ck_assert_ptr_nonnull(pem);
    fx.public_key = crypto_public_key_from_pem(pem, &err);
    ck_assert_ptr_nonnull(fx.public_key);
    free(pem);
    EVP_PKEY_free(key);
    fx.signer = signer_load(fx.key_path, &err);
    ck_assert_ptr_nonnull(fx.signer);
    fx.base = event_base_new();
    ck_assert_ptr_nonnull(fx.base);
    fx.worker = sign_worker_new(fx.base, fx.signer, &err);
    ck_assert_msg(fx.worker != NULL, "%s", err.message);
}

static void fixture_teardown(void)
{
    sign_worker_free(fx.worker);
    event_base_free(fx.base);
    signer_free(fx.signer);
    EVP_PKEY_free(fx.public_key);
    unlink(fx.key_path);
    rmdir(fx.dir);
}

/* One job: its transactions, with distinct hashes, and what it was told. */
struct test_job {
    struct sign_job job;
    struct posting_signed *txs;
    struct posting_signed **tx_ptrs;
    int answers;
    int answer_order;
    bool answered_on_loop_thread;
    bool answered_with_error;
};

static pthread_t loop_thread;
static int answers_so_far;
static int jobs_unanswered;

static void on_done(const struct lcb_error *err, void *arg)
{
    struct test_job *t = arg;
    t->answers++;
    t->answer_order = answers_so_far++;
    t->answered_on_loop_thread = pthread_equal(pthread_self(), loop_thread);
    t->answered_with_error = err != NULL;
    if (--jobs_unanswered == 0)
        event_base_loopbreak(fx.base);
}

static void job_init(struct test_job *t, size_t n, unsigned seed)
{
    memset(t, 0, sizeof *t);
    t->txs = calloc(n, sizeof *t->txs);
    t->tx_ptrs = calloc(n, sizeof *t->tx_ptrs);
    ck_assert(t->txs != NULL && t->tx_ptrs != NULL);
    for (size_t i = 0; i < n; i++) {
        char text[64];
        snprintf(text, sizeof text, "job %u transaction %zu", seed, i);
        crypto_sha256(text, strlen(text), t->txs[i].hash);
        t->tx_ptrs[i] = &t->txs[i];
    }
    t->job.txs = t->tx_ptrs;
    t->job.n = n;
    t->job.done = on_done;
    t->job.arg = t;
}

static void job_free(struct test_job *t)
{
    free(t->txs);
    free(t->tx_ptrs);
}

/* Ed25519 is deterministic: the worker's signature must be the very bytes
 * the loop's own signer_sign makes, and verify under the public key. */
static void assert_signed_as_the_loop_would(const struct test_job *t)
{
    struct lcb_error err = {0};
    for (size_t i = 0; i < t->job.n; i++) {
        uint8_t expected[CRYPTO_SIG_LEN];
        ck_assert_int_eq(signer_sign(fx.signer, t->txs[i].hash, expected, &err), 0);
        ck_assert_msg(memcmp(expected, t->txs[i].signature, CRYPTO_SIG_LEN) == 0,
                      "transaction %zu: the worker's signature differs", i);
        ck_assert_int_eq(crypto_verify(fx.public_key, t->txs[i].hash, CRYPTO_HASH_LEN,
                                       t->txs[i].signature),
                         0);
    }
}

static void on_give_up(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopbreak(fx.base);
}

/* Runs the loop until every job is answered, or 60 s (a failure). */
static void run_until_answered(void)
{
    struct event *give_up = evtimer_new(fx.base, on_give_up, NULL);
    struct timeval limit = {60, 0};
    ck_assert_ptr_nonnull(give_up);
    evtimer_add(give_up, &limit);
    event_base_dispatch(fx.base);
    event_free(give_up);
    ck_assert_int_eq(jobs_unanswered, 0);
}

START_TEST(every_job_signed_and_answered_once_in_order_on_the_loop)
{
    static const size_t sizes[] = {1, 64, 7, 256};
    enum { JOBS = sizeof sizes / sizeof sizes[0] };
    struct test_job jobs[JOBS];
    loop_thread = pthread_self();
    answers_so_far = 0;
    jobs_unanswered = JOBS;
    for (int j = 0; j < JOBS; j++) {
        job_init(&jobs[j], sizes[j], (unsigned)j);
        sign_worker_submit(fx.worker, &jobs[j].job);
        ck_assert_int_eq(jobs[j].answers, 0); /* never inside submit */
    }
    run_until_answered();
    for (int j = 0; j < JOBS; j++) {
        ck_assert_int_eq(jobs[j].answers, 1);
        ck_assert_int_eq(jobs[j].answer_order, j);
        ck_assert(jobs[j].answered_on_loop_thread);
        ck_assert(!jobs[j].answered_with_error);
        assert_signed_as_the_loop_would(&jobs[j]);
        job_free(&jobs[j]);
    }
}
END_TEST

static int ticks_while_signing;
static struct event *ticker;

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ticks_while_signing++;
}

/* The point of the thread: the loop's other events run while a large job
 * is signed (2,000 signatures take a tenth of a second or more; a 1 ms
 * timer fires about 25 times meanwhile, 3 under valgrind, which runs one
 * thread at a time). Signing inside submit would leave one expired tick at
 * most, whatever order the loop took its events in. */
START_TEST(the_loop_runs_while_a_job_is_signed)
{
    struct test_job big;
    loop_thread = pthread_self();
    answers_so_far = 0;
    jobs_unanswered = 1;
    ticks_while_signing = 0;
    ticker = event_new(fx.base, -1, EV_PERSIST, on_tick, NULL);
    ck_assert_ptr_nonnull(ticker);
    struct timeval every = {0, 1000};
    evtimer_add(ticker, &every);
    job_init(&big, 2000, 99);
    sign_worker_submit(fx.worker, &big.job);
    run_until_answered();
    event_free(ticker);
    ck_assert_int_eq(big.answers, 1);
    ck_assert_msg(ticks_while_signing >= 2, "the loop ran %d times while the job was signed",
                  ticks_while_signing);
    assert_signed_as_the_loop_would(&big);
    job_free(&big);
}
END_TEST

/* lcbd exiting: jobs still queued or being signed are dropped, and no
 * callback runs after the worker is gone. */
START_TEST(freeing_the_worker_answers_no_unfinished_job)
{
    struct test_job jobs[3];
    loop_thread = pthread_self();
    answers_so_far = 0;
    jobs_unanswered = 3;
    for (int j = 0; j < 3; j++) {
        job_init(&jobs[j], 500, (unsigned)(200 + j));
        sign_worker_submit(fx.worker, &jobs[j].job);
    }
    sign_worker_free(fx.worker);
    fx.worker = NULL;
    event_base_loop(fx.base, EVLOOP_NONBLOCK);
    for (int j = 0; j < 3; j++) {
        ck_assert_int_eq(jobs[j].answers, 0);
        job_free(&jobs[j]);
    }
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sign_worker");
    TCase *tc = tcase_create("thread");
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_job_signed_and_answered_once_in_order_on_the_loop);
    tcase_add_test(tc, the_loop_runs_while_a_job_is_signed);
    tcase_add_test(tc, freeing_the_worker_answers_no_unfinished_job);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
