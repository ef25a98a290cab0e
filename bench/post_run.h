/* One run of lcb-post: its options, the work dispenser every connection
 * thread draws batches from, and the totals. A batch is B consecutive
 * postings; in replay mode each batch is handed out R times in a row, so
 * its copies go to different connections at nearly the same moment. */
#ifndef LCB_BENCH_POST_RUN_H
#define LCB_BENCH_POST_RUN_H

#include "bench/post_fate.h"
#include "bench/post_hist.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define POST_MAX_PORTS 8
#define POST_MAX_CONNECTIONS 1024
#define POST_MAX_COURSES 16

struct post_options {
    int ports[POST_MAX_PORTS]; /* connection i talks to ports[i % n_ports] */
    int n_ports;
    const char *ca_file;
    const char *cert_prefix; /* PREFIX.crt and PREFIX.key of an institution */
    int connections;
    int batch;
    double duration_s; /* 0: until count */
    uint64_t count;    /* 0: until duration_s */
    bool replay;
    int replays_min, replays_max;
    const char *prefix; /* idempotency keys are PREFIX-index */
    int64_t *learners;  /* posting i goes to learners[i % n_learners] */
    size_t n_learners;
    /* Courses are taken in turn along each learner's chain, so that posting
     * i is for learners[i % n_learners] and course number i / n_learners: a
     * course counts once per learner, so pairs must not repeat. Either a
     * list or a series PREFIX1..PREFIXn (course_series > 0). */
    const char *courses[POST_MAX_COURSES];
    size_t n_courses;
    const char *course_prefix;
    uint64_t course_series;
    uint64_t first; /* the index of the first posting (unique and replay modes) */
    const char *completed_on;
    const char *fates_path; /* may be NULL */
    int timeout_s;
    uint64_t *only; /* resend mode: the posting indexes to send (else 0, 1, 2...) */
    size_t n_only;
    bool expect_acked; /* a posting not acknowledged is a failure */
    /* Every connection finishes its TLS handshake before the clock starts,
     * so that a throughput figure leaves the handshakes out (as lcb-term
     * load does). */
    bool connect_first;
    bool quiet;
};

struct post_run {
    const struct post_options *opt;
    SSL_CTX *ctx;
    struct post_fates fates;
    double started, deadline; /* monotonic seconds; deadline 0: none */
    pthread_mutex_t lock;     /* guards the dispenser and the totals below */
    pthread_cond_t ready;     /* connect_first: a connection is up, or go */
    int connected;            /* connect_first: connections that tried */
    bool go;                  /* connect_first: the clock has started */
    uint64_t next_batch;
    uint64_t batch_first;
    size_t batch_n;
    int copies_left, copy_no;
    struct post_hist hist;
    uint64_t requests, transport_errors, bad_replies, sends;
};

/* A batch handed to a connection: slots [first, first + n), copy-th copy. */
struct post_work {
    uint64_t first;
    size_t n;
    int copy;
};

double post_now(void);

/* The next batch, or false when the run is over (count or time). */
bool post_run_next(struct post_run *run, struct post_work *work);

/* The posting index of a slot: itself, or the resend list's entry. */
uint64_t post_run_index(size_t slot, void *run);

/* connect_first: says that this connection tried to connect, then waits
 * until every one has and the clock has started. */
void post_run_wait_start(struct post_run *run);

/* The body of one connection thread (arg: struct post_worker). */
void *post_worker_main(void *arg);

struct post_worker {
    struct post_run *run;
    int id;
};

#endif
