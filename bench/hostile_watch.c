/* Sampling lcbd's memory and open files; see hostile_watch.h. */
#include "bench/hostile_watch.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* utime + stime, fields 14 and 15 of /proc/PID/stat (after the command's
 * closing parenthesis, which may hold spaces). */
static double cpu_seconds(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    char *p = got ? strrchr(line, ')') : NULL;
    unsigned long utime = 0, stime = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                            &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double load_average(void)
{
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL && fscanf(f, "%lf", &load) != 1)
        load = -1;
    if (f != NULL)
        fclose(f);
    return load;
}

long hostile_watch_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

long hostile_watch_fds(pid_t pid)
{
    char path[64];
    long n = 0;
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static void sample(struct hostile_watch *w)
{
    long rss = hostile_watch_rss_kb(w->pid), fds = hostile_watch_fds(w->pid);
    double progress = w->total > 0 ? (double)*w->done / (double)w->total : 0;
    if (rss > w->rss_kb_peak) {
        w->rss_kb_peak = rss;
        w->peak_at = progress;
    }
    if (fds > w->fds_peak)
        w->fds_peak = fds;
    /* every tenth reached since the last sample, skipped ones included */
    for (int tenth = 0; tenth <= 10 && tenth <= (int)(progress * 10 + 1e-9); tenth++)
        if (w->rss_kb_tenth[tenth] < 0)
            w->rss_kb_tenth[tenth] = rss;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct hostile_watch *w = arg;
    (void)fd;
    (void)what;
    uint64_t now = now_ns();
    double lag_ms = (double)(now - w->last_tick_ns) / 1e6 - w->interval_ms;
    w->lag_ms_max = lag_ms > w->lag_ms_max ? lag_ms : w->lag_ms_max;
    w->last_tick_ns = now;
    sample(w);
}

int hostile_watch_start(struct hostile_watch *w, struct event_base *base, pid_t pid,
                        const uint64_t *done, uint64_t total, unsigned interval_ms)
{
    memset(w, 0, sizeof *w);
    w->pid = pid;
    w->done = done;
    w->total = total;
    w->rss_kb_start = w->rss_kb_peak = hostile_watch_rss_kb(pid);
    w->fds_start = w->fds_peak = hostile_watch_fds(pid);
    for (int i = 0; i <= 10; i++)
        w->rss_kb_tenth[i] = -1;
    w->rss_kb_tenth[0] = w->rss_kb_start;
    w->cpu_s_start = cpu_seconds(pid);
    w->load_start = load_average();
    w->interval_ms = interval_ms;
    w->last_tick_ns = now_ns();
    struct timeval every = {interval_ms / 1000, (suseconds_t)(interval_ms % 1000) * 1000};
    w->timer = event_new(base, -1, EV_PERSIST, on_tick, w);
    if (w->timer == NULL || event_add(w->timer, &every) != 0)
        return -1;
    return w->rss_kb_start < 0 ? -1 : 0;
}

void hostile_watch_stop(struct hostile_watch *w)
{
    sample(w);
    w->rss_kb_end = hostile_watch_rss_kb(w->pid);
    w->fds_end = hostile_watch_fds(w->pid);
    w->cpu_s_end = cpu_seconds(w->pid);
    w->load_end = load_average();
    if (w->timer != NULL)
        event_free(w->timer);
    w->timer = NULL;
}
