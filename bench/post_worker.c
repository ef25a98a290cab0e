/* One lcb-post connection: draws batches from the dispenser, posts them
 * over its keep-alive connection, and records every posting's answer. It
 * never resends a batch that may have reached lcbd; only one that could
 * not even connect is retried (nothing was sent), until the run ends. */
#include "bench/post_conn.h"
#include "bench/post_run.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ITEM_MAX_BYTES 320
#define UNSENT_RETRY_US 100000

struct worker_state {
    struct post_run *run;
    struct post_conn conn;
    struct post_hist hist;
    char *body;
    size_t body_cap;
    uint64_t requests, transport_errors, bad_replies, sends;
};

static size_t slot_of(const struct post_work *work, size_t i)
{
    return work->first + (i + (size_t)work->copy) % work->n;
}

/* The course of posting index: see post_options. */
static void course_of(const struct post_options *opt, uint64_t index, char *out, size_t len)
{
    uint64_t nth = index / opt->n_learners;
    if (opt->course_series > 0)
        snprintf(out, len, "%s%llu", opt->course_prefix,
                 (unsigned long long)(1 + nth % opt->course_series));
    else
        snprintf(out, len, "%s", opt->courses[nth % opt->n_courses]);
}

static void build_body(struct worker_state *w, const struct post_work *work, size_t *len)
{
    const struct post_options *opt = w->run->opt;
    char course[64];
    size_t at = (size_t)snprintf(w->body, w->body_cap, "{\"outcomes\":[");
    for (size_t i = 0; i < work->n; i++) {
        /* later copies list the batch rotated: same postings, other order */
        uint64_t index = post_run_index(slot_of(work, i), w->run);
        course_of(opt, index, course, sizeof course);
        at += (size_t)snprintf(w->body + at, w->body_cap - at,
                               "%s{\"idempotency_key\":\"%s-%llu\",\"learner\":%lld,"
                               "\"course\":\"%s\",\"result\":\"%d\",\"completed_on\":\"%s\"}",
                               i ? "," : "", opt->prefix, (unsigned long long)index,
                               (long long)opt->learners[index % opt->n_learners], course,
                               60 + (int)(index % 41), opt->completed_on);
    }
    at += (size_t)snprintf(w->body + at, w->body_cap - at, "]}");
    *len = at;
}

static void record_all(struct worker_state *w, const struct post_work *work,
                       enum post_answer_kind kind, const char *code)
{
    struct post_answer a = {.kind = kind, .code = code};
    for (size_t i = 0; i < work->n; i++)
        post_fates_record(&w->run->fates, slot_of(work, i), &a);
}

/* Reads one item of "results"; false when it is not what the API promises. */
static bool read_item(json_t *item, struct post_answer *a)
{
    const char *status = json_string_value(json_object_get(item, "status"));
    if (status == NULL)
        return false;
    if (strcmp(status, "posted") == 0 || strcmp(status, "duplicate") == 0) {
        a->kind = status[0] == 'p' ? POST_POSTED : POST_DUPLICATE;
        a->transaction_id = json_string_value(json_object_get(item, "transaction_id"));
        a->hash = json_string_value(json_object_get(item, "hash"));
        return a->transaction_id != NULL && a->hash != NULL && strlen(a->hash) == 64 &&
               strlen(a->transaction_id) == 36;
    }
    a->code = json_string_value(json_object_get(json_object_get(item, "error"), "code"));
    if (strcmp(status, "rejected") != 0 || a->code == NULL)
        return false;
    /* answered, but nothing decided: the API says to send it again */
    bool undecided =
        strcmp(a->code, "database_unavailable") == 0 || strcmp(a->code, "shutting_down") == 0;
    a->kind = undecided ? POST_UNKNOWN : POST_REFUSED;
    return true;
}

/* A whole-document answer (no per-item results): 4xx refuses the batch,
 * anything else leaves it unknown. */
static void record_document(struct worker_state *w, const struct post_work *work, json_t *doc)
{
    int status = w->conn.http_status;
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));
    char fallback[16];
    if (code == NULL) {
        snprintf(fallback, sizeof fallback, "http_%d", status);
        code = fallback;
    }
    record_all(w, work, status >= 400 && status < 500 ? POST_REFUSED : POST_UNKNOWN, code);
}

static void record_reply(struct worker_state *w, const struct post_work *work)
{
    json_t *doc = json_loadb(w->conn.body, w->conn.body_len, 0, NULL);
    json_t *results = json_object_get(doc, "results");
    if (!json_is_array(results) || json_array_size(results) != work->n) {
        if (w->conn.http_status == 200) {
            w->bad_replies++;
            record_all(w, work, POST_UNKNOWN, "bad_reply");
        } else {
            record_document(w, work, doc);
        }
        json_decref(doc);
        return;
    }
    for (size_t i = 0; i < work->n; i++) {
        struct post_answer a = {.kind = POST_UNKNOWN};
        if (!read_item(json_array_get(results, i), &a)) {
            w->bad_replies++;
            a.kind = POST_UNKNOWN;
            a.code = "bad_reply";
        }
        post_fates_record(&w->run->fates, slot_of(work, i), &a);
    }
    json_decref(doc);
}

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Sends one batch; a batch that cannot connect waits for lcbd to come back
 * (it may be restarting) until the run's time is up. */
static void post_batch(struct worker_state *w, const struct post_work *work)
{
    static const char *const why[] = {"", "not_sent", "connection_broken", "timeout"};
    size_t len;
    build_body(w, work, &len);
    double first_try = post_now();
    for (;;) {
        double t0 = post_now();
        enum post_conn_status st =
            post_conn_request(&w->conn, "POST", "/v1/outcomes", w->body, len);
        if (st == POST_CONN_OK) {
            post_hist_add(&w->hist, (uint64_t)((post_now() - t0) * 1e6));
            w->requests++;
            w->sends += work->n;
            record_reply(w, work);
            return;
        }
        w->transport_errors++;
        bool out_of_time = w->run->deadline > 0 ? post_now() >= w->run->deadline
                                                : post_now() - first_try > w->run->opt->timeout_s;
        if (st != POST_CONN_UNSENT || out_of_time) {
            if (st != POST_CONN_UNSENT)
                w->sends += work->n;
            record_all(w, work, POST_UNKNOWN, why[st]);
            return;
        }
        sleep_us(UNSENT_RETRY_US);
    }
}

void *post_worker_main(void *arg)
{
    struct post_worker *self = arg;
    struct post_run *run = self->run;
    const struct post_options *opt = run->opt;
    struct worker_state *w = calloc(1, sizeof *w);
    struct post_work work;

    if (w == NULL)
        return NULL;
    w->run = run;
    w->body_cap = (size_t)opt->batch * ITEM_MAX_BYTES + 64;
    w->body = malloc(w->body_cap);
    post_conn_init(&w->conn, run->ctx, opt->ports[self->id % opt->n_ports], opt->timeout_s);
    if (opt->connect_first) {
        (void)post_conn_open(&w->conn); /* a failure is retried by the first request */
        post_run_wait_start(run);
    }
    while (w->body != NULL && post_run_next(run, &work))
        post_batch(w, &work);
    pthread_mutex_lock(&run->lock);
    post_hist_merge(&run->hist, &w->hist);
    run->requests += w->requests;
    run->transport_errors += w->transport_errors;
    run->bad_replies += w->bad_replies;
    run->sends += w->sends;
    pthread_mutex_unlock(&run->lock);
    post_conn_free(&w->conn);
    free(w->body);
    free(w);
    return NULL;
}
