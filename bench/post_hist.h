/* A latency histogram for lcb-post: log-linear buckets (16 per power of
 * two, so any quantile is within about 6% of the truth) over microseconds,
 * fixed size, no allocation. One per thread, merged at the end. */
#ifndef LCB_BENCH_POST_HIST_H
#define LCB_BENCH_POST_HIST_H

#include <stdint.h>

#define POST_HIST_SUB 16
#define POST_HIST_BUCKETS (40 * POST_HIST_SUB)

struct post_hist {
    uint64_t count;
    uint64_t max_us;
    uint64_t buckets[POST_HIST_BUCKETS];
};

void post_hist_add(struct post_hist *h, uint64_t us);
void post_hist_merge(struct post_hist *into, const struct post_hist *from);
/* The latency below which a fraction q (0..1) of the samples lie, in us:
 * the upper edge of the bucket holding that rank; 0 when empty. */
uint64_t post_hist_quantile(const struct post_hist *h, double q);

#endif
