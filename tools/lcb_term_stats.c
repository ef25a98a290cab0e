/* lcb-term's latency histogram: log-linear buckets over microseconds, so
 * that a load run keeps millions of samples in a fixed 18 KiB and still
 * reports p99.9 within about 1.6 %. Pure arithmetic, no I/O. */
#include "tools/lcb_term.h"

/* Values below 128 have a bucket each; above, a power of two 2^e (e >= 7)
 * is cut into TERM_HIST_SUB equal buckets. */
static size_t bucket_of(uint64_t us)
{
    int e;

    if (us < 128)
        return (size_t)us;
    e = 63 - __builtin_clzll(us); /* 2^e <= us < 2^(e+1) */
    if (e > 40)
        return TERM_HIST_BUCKETS - 1;
    return 128 + (size_t)(e - 7) * TERM_HIST_SUB + (size_t)((us - (UINT64_C(1) << e)) >> (e - 6));
}

/* The upper bound of a bucket: the value reported for its samples. */
static uint64_t bucket_high(size_t b)
{
    size_t e, sub;

    if (b < 128)
        return b;
    e = 7 + (b - 128) / TERM_HIST_SUB;
    sub = (b - 128) % TERM_HIST_SUB;
    return (UINT64_C(1) << e) + ((uint64_t)(sub + 1) << (e - 6)) - 1;
}

void term_hist_add(struct term_hist *h, uint64_t us)
{
    size_t b = bucket_of(us);

    h->counts[b < TERM_HIST_BUCKETS ? b : TERM_HIST_BUCKETS - 1]++;
    h->total++;
    h->sum_us += (double)us;
    if (us > h->max_us)
        h->max_us = us;
}

uint64_t term_hist_quantile(const struct term_hist *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->total == 0)
        return 0;
    /* the smallest value with at least q of the samples at or below it */
    rank = (uint64_t)(q * (double)h->total + 0.999999);
    if (rank < 1)
        rank = 1;
    for (size_t b = 0; b < TERM_HIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t high = bucket_high(b);
            return high < h->max_us ? high : h->max_us;
        }
    }
    return h->max_us;
}
