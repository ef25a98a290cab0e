/* lcb-term's internals, shared by its files: the parsed command line, the
 * one-shot commands (lcb_term_cmds.c, blocking, through lcbp_client), the
 * load and idle modes (lcb_term_load.c, one libevent loop) and the latency
 * histogram (lcb_term_stats.c). Not a library: tools/ only. */
#ifndef LCB_LCB_TERM_H
#define LCB_LCB_TERM_H

#include "lib/error.h"
#include "protocol/lcbp.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define LCB_TERM_SOFTWARE "lcb-term/" PACKAGE_VERSION

/* Exit statuses; documented in lcb-term.1. */
enum {
    TERM_EXIT_OK = 0,
    TERM_EXIT_REFUSED = 1, /* lcbd answered ERROR (or refused an uploaded tap) */
    TERM_EXIT_USAGE = 2,
    TERM_EXIT_FAILED = 3, /* no answer: address, TLS, connection or file trouble */
};

enum term_op { TERM_OP_TAP, TERM_OP_BALANCE, TERM_OP_PING, TERM_OP_OUTCOME };

struct term_opts {
    const char *command;
    const char *addr, *ca, *cert, *key, *server_name;
    bool json;
    int timeout_ms;
    /* tap, balance, outcome */
    const char *card, *session, *course, *result, *completed_on;
    int direction; /* enum lcbp_direction, or 0 */
    bool has_seq;
    uint64_t seq;
    bool has_time;
    int64_t time_ms;
    const char *file; /* upload */
    /* load and idle */
    int terminals;
    double duration_s, rate_per_s, hold_s;
    bool closed_loop;
    int in_flight; /* --closed-loop: requests kept in flight per connection */
    enum term_op op;
    const char *cards_file, *certs_file;
    const char *courses; /* --op outcome: CODE, PREFIX:N or PREFIX:FIRST-LAST */
    uint64_t seq_base; /* 0: derived from the clock */
    long lcbd_pid;     /* idle: whose RSS to read; 0: none */
    int max_connecting;
};

/* "2026-03-01T09:30:00Z", "...+08:00", "...T09:30" (local time), "now";
 * milliseconds since the epoch. Returns 0, or -1 with "bad_time". */
int term_parse_time(const char *text, int64_t *ms, struct lcb_error *err);
/* The same instant as ISO 8601 UTC with milliseconds. */
#define TERM_TIME_MAX 48
void term_format_time(int64_t ms, char out[TERM_TIME_MAX]);
int64_t term_now_ms(void);

/* Requests in flight per load connection, at most (lcbd may allow fewer). */
#define TERM_MAX_IN_FLIGHT 64

/* One-shot commands; each returns an exit status and prints its outcome. */
int term_cmd_hello(const struct term_opts *o);
int term_cmd_ping(const struct term_opts *o);
int term_cmd_tap(const struct term_opts *o);
int term_cmd_balance(const struct term_opts *o);
int term_cmd_outcome(const struct term_opts *o);
int term_cmd_upload(const struct term_opts *o);

/* Load and idle modes. */
int term_cmd_load(const struct term_opts *o);
int term_cmd_idle(const struct term_opts *o);

/* ---- latency histogram (lcb_term_stats.c) --------------------------------
 * Log-linear buckets over microseconds: exact below 128 us, then 64 buckets
 * per power of two (under 1.6 % error), up to about 2^40 us. */
#define TERM_HIST_SUB 64
#define TERM_HIST_BUCKETS (128 + 34 * TERM_HIST_SUB)

struct term_hist {
    uint64_t counts[TERM_HIST_BUCKETS];
    uint64_t total;
    uint64_t max_us;
    double sum_us;
};

void term_hist_add(struct term_hist *h, uint64_t us);
/* The value below which fraction q (0..1) of the samples lie; 0 when empty. */
uint64_t term_hist_quantile(const struct term_hist *h, double q);

#endif
