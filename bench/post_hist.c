/* Log-linear latency buckets; see post_hist.h. Values below 16 us have a
 * bucket each; above, a power of two is split into 16 equal buckets. */
#include "bench/post_hist.h"

static int bucket_of(uint64_t us)
{
    if (us < POST_HIST_SUB)
        return (int)us;
    int msb = 63 - __builtin_clzll(us);       /* >= 4 */
    int sub = (int)((us >> (msb - 4)) & 0xf); /* the 4 bits after the top one */
    int index = (msb - 3) * POST_HIST_SUB + sub;
    return index < POST_HIST_BUCKETS ? index : POST_HIST_BUCKETS - 1;
}

/* The largest value that falls into bucket index. */
static uint64_t bucket_top(int index)
{
    if (index < POST_HIST_SUB)
        return (uint64_t)index;
    int msb = index / POST_HIST_SUB + 3;
    uint64_t sub = (uint64_t)(index % POST_HIST_SUB);
    return ((POST_HIST_SUB + sub + 1) << (msb - 4)) - 1;
}

void post_hist_add(struct post_hist *h, uint64_t us)
{
    h->buckets[bucket_of(us)]++;
    h->count++;
    if (us > h->max_us)
        h->max_us = us;
}

void post_hist_merge(struct post_hist *into, const struct post_hist *from)
{
    for (int i = 0; i < POST_HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    if (from->max_us > into->max_us)
        into->max_us = from->max_us;
}

uint64_t post_hist_quantile(const struct post_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < POST_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            uint64_t top = bucket_top(i);
            return top < h->max_us ? top : h->max_us;
        }
    }
    return h->max_us;
}
