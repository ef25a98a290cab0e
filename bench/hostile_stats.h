/* What bench/lcb-hostile saw, per kind of hostile frame: how many were
 * sent, how lcbd answered (an ERROR, a close, both), how long it took, and
 * every violation of SPEC.md or of the test's limits, the first few of them
 * with words. Owned by the run; used on the event loop only. */
#ifndef LCB_BENCH_HOSTILE_STATS_H
#define LCB_BENCH_HOSTILE_STATS_H

#include "bench/hostile_gen.h"
#include "bench/post_hist.h"

#include <stdint.h>
#include <stdio.h>

enum hostile_violation {
    HV_ACKNOWLEDGED,  /* lcbd answered a hostile frame with something but ERROR */
    HV_WRONG_ANSWER,  /* an ERROR with another code or request id than SPEC.md's */
    HV_LEFT_OPEN,     /* SPEC.md says lcbd closes; it did not, soon after its ERROR */
    HV_CLOSED_EARLY,  /* SPEC.md keeps the connection open; lcbd closed it */
    HV_LATE,          /* answered or closed, but after the kind's limit */
    HV_NO_ANSWER,     /* neither an answer nor a close, long after the limit */
    HV_BAD_FRAME,     /* lcbd sent bytes the codec refuses */
    HV_NOT_SERVED,    /* a connection or HELLO that lcbd must accept failed */
    HOSTILE_VIOLATIONS
};

struct hostile_kind_stats {
    uint64_t frames;        /* sent (or connections opened, for the slow kinds) */
    uint64_t errors;        /* answered with the ERROR SPEC.md names */
    uint64_t closes;        /* closed by lcbd */
    uint64_t closed_silent; /* closed by lcbd before its ERROR arrived */
    uint64_t abandoned;     /* closed by the client first (cut_rst) */
    uint64_t violations;
    struct post_hist time_us; /* to the last ERROR, or the close when it follows one;
                               * unanswered: to when the test gave up */
};

#define HOSTILE_NOTES 12

struct hostile_stats {
    struct hostile_kind_stats kinds[HOSTILE_KINDS];
    uint64_t violations[HOSTILE_VIOLATIONS];
    uint64_t connections;
    char notes[HOSTILE_NOTES][240]; /* the first violations, in words */
    unsigned n_notes;
};

/* kind HOSTILE_KINDS: a session connection before its first frame. */
void hostile_stats_violation(struct hostile_stats *s, enum hostile_kind kind,
                             enum hostile_violation v, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

uint64_t hostile_stats_total_violations(const struct hostile_stats *s);

/* The per-kind table, the totals by class and the violations; limits in
 * seconds as the run applied them (slow_limit_s for the slow and transport
 * kinds). */
void hostile_stats_print(const struct hostile_stats *s, FILE *out, double fast_limit_s,
                         double slow_limit_s);

/* The largest time to an answer or close over the kinds of one class, in us. */
uint64_t hostile_stats_class_max_us(const struct hostile_stats *s, enum hostile_class cls);

#endif
