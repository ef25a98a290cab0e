/* The work dispenser of lcb-post; see post_run.h. Batches are handed out
 * in order under one mutex: the network round trip dwarfs the lock. The
 * number of copies of a batch in replay mode is a hash of its number, so a
 * run is the same whatever the threads' timing. */
#include "bench/post_run.h"

#include <time.h>

double post_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t post_run_index(size_t slot, void *arg)
{
    const struct post_run *run = arg;
    return run->opt->only != NULL ? run->opt->only[slot] : run->opt->first + slot;
}

static int copies_of(const struct post_options *opt, uint64_t batch)
{
    if (!opt->replay)
        return 1;
    uint64_t h = (batch + 1) * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing */
    h ^= h >> 29;
    return opt->replays_min + (int)(h % (uint64_t)(opt->replays_max - opt->replays_min + 1));
}

/* The postings there are to send: the resend list, --count, or no end. */
static uint64_t total_slots(const struct post_options *opt)
{
    if (opt->only != NULL)
        return opt->n_only;
    return opt->count > 0 ? opt->count : UINT64_MAX;
}

static bool start_batch(struct post_run *run)
{
    const struct post_options *opt = run->opt;
    uint64_t first = run->next_batch * (uint64_t)opt->batch, total = total_slots(opt);
    if (first >= total)
        return false;
    size_t n = total - first < (uint64_t)opt->batch ? (size_t)(total - first) : (size_t)opt->batch;
    if (post_fates_reserve(&run->fates, first + n) != 0)
        return false; /* the table is full: the run ends here */
    run->batch_first = first;
    run->batch_n = n;
    run->copies_left = copies_of(opt, run->next_batch);
    run->copy_no = 0;
    run->next_batch++;
    return true;
}

void post_run_wait_start(struct post_run *run)
{
    pthread_mutex_lock(&run->lock);
    run->connected++;
    pthread_cond_broadcast(&run->ready);
    while (!run->go)
        pthread_cond_wait(&run->ready, &run->lock);
    pthread_mutex_unlock(&run->lock);
}

bool post_run_next(struct post_run *run, struct post_work *work)
{
    bool more = true;
    pthread_mutex_lock(&run->lock);
    if (run->deadline > 0 && post_now() >= run->deadline)
        more = false;
    else if (run->copies_left == 0)
        more = start_batch(run);
    if (more) {
        work->first = run->batch_first;
        work->n = run->batch_n;
        work->copy = run->copy_no++;
        run->copies_left--;
    }
    pthread_mutex_unlock(&run->lock);
    return more;
}
