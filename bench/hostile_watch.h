/* lcbd seen from outside while bench/lcb-hostile runs: its resident memory
 * (VmRSS in /proc/PID/status) and its open files (/proc/PID/fd), sampled on
 * a timer of the attack's loop, with the start, the peak, the end and the
 * memory at each tenth of the attack; its CPU time and the machine's load
 * over the attack; and how late the timer itself fired (the test's own
 * loop lag). Linux only; reads, never signals. */
#ifndef LCB_BENCH_HOSTILE_WATCH_H
#define LCB_BENCH_HOSTILE_WATCH_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>

struct hostile_watch {
    pid_t pid;
    const uint64_t *done; /* progress: done of total */
    uint64_t total;
    long rss_kb_start, rss_kb_peak, rss_kb_end; /* -1: not read */
    long fds_start, fds_peak, fds_end;
    long rss_kb_tenth[11]; /* at 0%, 10%, ... 100% of the progress */
    double peak_at;        /* progress (0..1) at the peak */
    double cpu_s_start, cpu_s_end;   /* lcbd's user + system time */
    double load_start, load_end;     /* the 1-minute load average */
    double lag_ms_max;               /* the sampling timer's worst lateness */
    uint64_t last_tick_ns;
    unsigned interval_ms;
    struct event *timer;
};

/* Current VmRSS in KiB and open files of pid; -1 when unreadable. */
long hostile_watch_rss_kb(pid_t pid);
long hostile_watch_fds(pid_t pid);

/* Takes the start sample and samples every interval_ms from then on. */
int hostile_watch_start(struct hostile_watch *w, struct event_base *base, pid_t pid,
                        const uint64_t *done, uint64_t total, unsigned interval_ms);

/* Takes the end sample and stops sampling. */
void hostile_watch_stop(struct hostile_watch *w);

#endif
