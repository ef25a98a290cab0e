/* lcb-hostile: the hostile-client test of docs/reliability.md. Sends
 * --frames malformed, oversized, truncated, premature or slow LCBP frames
 * to lcbd (hostile_attack.c) while well-behaved terminals work beside them
 * (hostile_good.c) and lcbd's memory and open files are watched
 * (hostile_watch.c). Exits 0 only when every hostile frame was answered by
 * SPEC.md's ERROR or a close within its limit, none was acknowledged, the
 * good terminals saw no error and a bounded p99, and lcbd's memory and
 * files stayed bounded. bench/hostile-test drives it; it never writes to
 * the database. */
#include "bench/hostile_attack.h"
#include "bench/hostile_good.h"
#include "bench/hostile_watch.h"
#include "tools/lcbp_client.h"

#include <getopt.h>
#include <netdb.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SETTLE_S 5.0 /* after the attack, for lcbd's open files to come back */

struct options {
    const char *addr, *ca, *good_certs, *hostile_certs, *good_cards, *hostile_cards;
    const char *session, *course, *summary;
    long lcbd_pid;
    uint64_t frames, seed;
    unsigned drips, connections, open_per_conn, good_interval_ms, reconnect_every;
    double baseline_s, deadline_s, slack_s, good_p99_ms, rss_bound_mib, rss_creep_mib;
};

struct run {
    struct options o;
    struct event_base *base;
    struct hostile_attack *attack;
    struct hostile_good *good;
    struct hostile_watch watch;
    struct event *timer;
    uint64_t attack_start_ns, attack_end_ns, settle_start_ns;
    char cert_paths[GOOD_MAX_TERMINALS][1024];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: lcb-hostile --addr HOST:PORT --ca CA.crt --good-certs FILE --hostile-certs FILE\n"
            "         --good-cards FILE --hostile-cards FILE --session CODE --course CODE\n"
            "         --lcbd-pid PID [--frames N] [--drips P] [--connections C]\n"
            "         [--open-per-conn K] [--seed X] [--baseline S] [--deadline S] [--slack S]\n"
            "         [--good-interval-ms MS] [--reconnect-every N] [--good-p99-ms MS]\n"
            "         [--rss-bound-mib MIB] [--rss-creep-mib MIB] [--summary FILE]\n"
            "FILEs: certificates as PREFIX per line (PREFIX.crt, PREFIX.key); cards one per line.\n");
    exit(2);
}

static void parse(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"addr", 1, 0, 'a'},          {"ca", 1, 0, 'c'},           {"good-certs", 1, 0, 'G'},
        {"hostile-certs", 1, 0, 'H'}, {"good-cards", 1, 0, 'g'},   {"hostile-cards", 1, 0, 'h'},
        {"session", 1, 0, 's'},       {"course", 1, 0, 'C'},       {"lcbd-pid", 1, 0, 'p'},
        {"frames", 1, 0, 'n'},        {"drips", 1, 0, 'd'},        {"connections", 1, 0, 'k'},
        {"open-per-conn", 1, 0, 'o'}, {"seed", 1, 0, 'S'},         {"baseline", 1, 0, 'b'},
        {"deadline", 1, 0, 'D'},      {"slack", 1, 0, 'l'},        {"good-interval-ms", 1, 0, 'i'},
        {"reconnect-every", 1, 0, 'r'}, {"good-p99-ms", 1, 0, 'P'}, {"rss-bound-mib", 1, 0, 'm'},
        {"rss-creep-mib", 1, 0, 'M'}, {"summary", 1, 0, 'f'},       {0, 0, 0, 0}};
    *o = (struct options){.frames = 100000, .seed = 1, .drips = 200, .connections = 32,
                          .open_per_conn = 8, .good_interval_ms = 100, .reconnect_every = 200,
                          .baseline_s = 5, .deadline_s = 10, .slack_s = 3, .good_p99_ms = 1000,
                          .rss_bound_mib = 64, .rss_creep_mib = 8};
    for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
        switch (c) {
        case 'a': o->addr = optarg; break;
        case 'c': o->ca = optarg; break;
        case 'G': o->good_certs = optarg; break;
        case 'H': o->hostile_certs = optarg; break;
        case 'g': o->good_cards = optarg; break;
        case 'h': o->hostile_cards = optarg; break;
        case 's': o->session = optarg; break;
        case 'C': o->course = optarg; break;
        case 'p': o->lcbd_pid = strtol(optarg, NULL, 10); break;
        case 'n': o->frames = strtoull(optarg, NULL, 10); break;
        case 'd': o->drips = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'k': o->connections = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'o': o->open_per_conn = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'S': o->seed = strtoull(optarg, NULL, 10); break;
        case 'b': o->baseline_s = strtod(optarg, NULL); break;
        case 'D': o->deadline_s = strtod(optarg, NULL); break;
        case 'l': o->slack_s = strtod(optarg, NULL); break;
        case 'i': o->good_interval_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': o->reconnect_every = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'P': o->good_p99_ms = strtod(optarg, NULL); break;
        case 'm': o->rss_bound_mib = strtod(optarg, NULL); break;
        case 'M': o->rss_creep_mib = strtod(optarg, NULL); break;
        case 'f': o->summary = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || !o->addr || !o->ca || !o->good_certs || !o->hostile_certs ||
        !o->good_cards || !o->hostile_cards || !o->session || !o->course || o->lcbd_pid <= 0 ||
        o->frames == 0 || o->connections == 0 || o->good_interval_ms == 0 ||
        o->reconnect_every == 0)
        usage();
}

/* Lines of a file (the first word of each), at most cap of them. */
static size_t read_words(const char *path, char *out, size_t width, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[1100];
    size_t n = 0;
    if (f == NULL) {
        fprintf(stderr, "lcb-hostile: cannot open %s\n", path);
        exit(2);
    }
    while (n < cap && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (line[0] != '\0' && line[0] != '#' && strlen(line) < width)
            memcpy(out + n++ * width, line, strlen(line) + 1);
    }
    fclose(f);
    return n;
}

static SSL_CTX *tls12_context(const char *ca, const char *prefix)
{
    char crt[1100], key[1100];
    snprintf(crt, sizeof crt, "%s.crt", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The attack's sockets, certificates and material. */
static int prepare_attack(struct run *r, struct lcb_error *err)
{
    const struct options *o = &r->o;
    struct hostile_attack *a = r->attack;
    static char prefixes[16][1024];
    char host[256], port[16];
    size_t n = read_words(o->hostile_certs, &prefixes[0][0], sizeof prefixes[0], 16);
    if (n == 0)
        return lcb_error_set(err, "usage", "%s lists no certificates", o->hostile_certs);
    a->terminal_ctxs = calloc(n, sizeof *a->terminal_ctxs);
    for (size_t i = 0; a->terminal_ctxs != NULL && i < n; i++) {
        char crt[1100], key[1100];
        snprintf(crt, sizeof crt, "%s.crt", prefixes[i]);
        snprintf(key, sizeof key, "%s.key", prefixes[i]);
        if ((a->terminal_ctxs[i] = lcbp_client_tls_ctx(o->ca, crt, key, err)) == NULL)
            return -1;
        a->n_terminal_ctxs++;
    }
    a->no_cert_ctx = lcbp_client_tls_ctx(o->ca, NULL, NULL, err);
    a->tls12_ctx = tls12_context(o->ca, prefixes[0]);
    if (a->terminal_ctxs == NULL || a->no_cert_ctx == NULL || a->tls12_ctx == NULL)
        return lcb_error_set(err, "tls_setup", "cannot make the TLS contexts");
    a->material.n_cards = read_words(o->hostile_cards, &a->material.cards[0][0],
                                     sizeof a->material.cards[0], HOSTILE_MAX_CARDS);
    if (a->material.n_cards == 0)
        return lcb_error_set(err, "usage", "%s lists no cards", o->hostile_cards);
    snprintf(a->material.session, sizeof a->material.session, "%s", o->session);
    snprintf(a->material.course, sizeof a->material.course, "%s", o->course);
    if (lcbp_client_split_addr(o->addr, host, sizeof host, port, sizeof port, err) != 0)
        return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
        return lcb_error_set(err, "connect_failed", "cannot resolve %s", o->addr);
    memcpy(&a->addr, ai->ai_addr, ai->ai_addrlen);
    a->addr_len = (int)ai->ai_addrlen;
    freeaddrinfo(ai);
    snprintf(a->server_name, sizeof a->server_name, "%s", host);
    a->base = r->base;
    a->seed = o->seed;
    a->frames = o->frames;
    a->fast_slots = o->connections;
    a->slow_slots = o->drips;
    a->open_per_conn = o->open_per_conn;
    a->deadline_s = o->deadline_s;
    a->slack_s = o->slack_s;
    a->close_after_error_s = 1.0;
    return 0;
}

static int start_good(struct run *r, struct hostile_good_opts *g, struct lcb_error *err)
{
    const struct options *o = &r->o;
    memset(g, 0, sizeof *g);
    g->addr = o->addr;
    g->ca = o->ca;
    g->session = o->session;
    g->interval_ms = o->good_interval_ms;
    g->reconnect_every = o->reconnect_every;
    g->n_terminals = read_words(o->good_certs, &r->cert_paths[0][0], sizeof r->cert_paths[0],
                                GOOD_MAX_TERMINALS);
    for (size_t i = 0; i < g->n_terminals; i++)
        g->certs[i] = r->cert_paths[i];
    g->n_cards = read_words(o->good_cards, &g->cards[0][0], sizeof g->cards[0], GOOD_MAX_CARDS);
    r->good = hostile_good_start(g, err);
    return r->good != NULL ? 0 : -1;
}

/* ---- the phases, on the loop ----------------------------------------------------------- */

static void arm(struct run *r, event_callback_fn fn, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
    if (r->timer != NULL)
        event_free(r->timer);
    r->timer = evtimer_new(r->base, fn, r);
    if (r->timer == NULL || evtimer_add(r->timer, &tv) != 0)
        abort();
}

/* lcbd closes the last hostile sockets on its own time: wait for them. */
static void on_settle(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    (void)fd;
    (void)what;
    long fds = hostile_watch_fds(r->watch.pid);
    if (fds > r->watch.fds_start && (double)(now_ns() - r->settle_start_ns) / 1e9 < SETTLE_S) {
        arm(r, on_settle, 0.1);
        return;
    }
    hostile_watch_stop(&r->watch);
    event_base_loopexit(r->base, NULL);
}

static void on_attack_done(void *arg)
{
    struct run *r = arg;
    r->attack_end_ns = r->settle_start_ns = now_ns();
    hostile_good_phase(r->good, GOOD_AFTER);
    arm(r, on_settle, 0.1);
}

static void on_baseline_done(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    (void)fd;
    (void)what;
    if (hostile_watch_start(&r->watch, r->base, (pid_t)r->o.lcbd_pid, &r->attack->issued,
                            r->o.frames, 200) != 0)
        fprintf(stderr, "lcb-hostile: cannot read /proc/%ld: no memory figures\n", r->o.lcbd_pid);
    hostile_good_phase(r->good, GOOD_ATTACK);
    r->attack_start_ns = now_ns();
    r->attack->on_done = on_attack_done;
    r->attack->arg = r;
    hostile_attack_start(r->attack);
}

/* ---- the report ------------------------------------------------------------------------- */

static double mib(long kb)
{
    return (double)kb / 1024.0;
}

static double ms_at(const struct post_hist *h, double q)
{
    return (double)post_hist_quantile(h, q) / 1000.0;
}

static void print_good(const struct run *r, const struct hostile_good_figures *f)
{
    static const char *const names[] = {"before the attack", "during", "after"};
    static const char *const ops[] = {"TAP (a commit)", "BALANCE (a read)", "PING (the loop)"};
    printf("lcb-hostile: good terminals (%u ms between requests each, a fresh connection every "
           "%u requests):\n", r->o.good_interval_ms, r->o.reconnect_every);
    for (int p = 0; p < GOOD_PHASES; p++)
        printf("lcb-hostile:   %-17s %6llu requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms, "
               "%llu errors\n",
               names[p], (unsigned long long)f->requests[p], ms_at(&f->latency_us[p], 0.5),
               ms_at(&f->latency_us[p], 0.99), (double)f->latency_us[p].max_us / 1000.0,
               (unsigned long long)f->errors[p]);
    for (int op = 0; op < GOOD_OPS; op++)
        printf("lcb-hostile:     during, %-16s %6llu requests, p50 %.2f ms, p99 %.2f ms, max "
               "%.2f ms\n", ops[op], (unsigned long long)f->attack_us[op].count,
               ms_at(&f->attack_us[op], 0.5), ms_at(&f->attack_us[op], 0.99),
               (double)f->attack_us[op].max_us / 1000.0);
    printf("lcb-hostile:   %llu connections opened (TLS and HELLO: p50 %.2f ms, p99 %.2f ms, max "
           "%.2f ms); %llu taps applied, %llu check-outs, %llu deposits%s%s\n",
           (unsigned long long)f->connect_us.count, ms_at(&f->connect_us, 0.5),
           ms_at(&f->connect_us, 0.99), (double)f->connect_us.max_us / 1000.0,
           (unsigned long long)f->taps_applied, (unsigned long long)f->checkouts,
           (unsigned long long)f->deposits,
           f->first_error[0] ? "; first error: " : "", f->first_error);
}

static void print_memory(const struct hostile_watch *w)
{
    printf("lcb-hostile: lcbd VmRSS: start %.1f MiB, peak %.1f MiB (+%.1f, at %.0f%% of the "
           "frames), end %.1f MiB (%+.1f); by tenth of the frames:",
           mib(w->rss_kb_start), mib(w->rss_kb_peak), mib(w->rss_kb_peak - w->rss_kb_start),
           100 * w->peak_at, mib(w->rss_kb_end), mib(w->rss_kb_end - w->rss_kb_start));
    for (int i = 0; i <= 10; i++)
        printf(i ? " %.1f" : " %.1f", mib(w->rss_kb_tenth[i]));
    printf(" MiB\nlcb-hostile: lcbd open files: start %ld, peak %ld, end %ld\n", w->fds_start,
           w->fds_peak, w->fds_end);
}

/* The second half of the frames must not grow lcbd's memory: what the
 * first half reached is what hostile traffic costs, not a leak. */
static double second_half_mib(const struct hostile_watch *w)
{
    return mib(w->rss_kb_tenth[10] - w->rss_kb_tenth[5]);
}

/* Prints the figures and returns the number of failed checks. */
static int report(const struct run *r, const struct hostile_good_figures *good)
{
    const struct hostile_attack *a = r->attack;
    const struct hostile_stats *s = &a->stats;
    const struct hostile_watch *w = &r->watch;
    double seconds = (double)(r->attack_end_ns - r->attack_start_ns) / 1e9;
    double slow_limit = r->o.deadline_s + r->o.slack_s;
    int failed = 0;
    printf("lcb-hostile: %llu hostile frames (seed %llu) in %.1f s: %.0f frames/s over %llu "
           "connections (%.0f/s), %u sending at once, %u slow at once\n",
           (unsigned long long)a->issued, (unsigned long long)r->o.seed, seconds,
           (double)a->issued / seconds, (unsigned long long)s->connections,
           (double)s->connections / seconds, r->o.connections, r->o.drips);
    printf("lcb-hostile: machine: %ld CPUs, load average %.1f at the start, %.1f at the end; "
           "lcbd used %.1f s of CPU (%.0f%% of one core); this program's loop lagged up to "
           "%.0f ms\n", sysconf(_SC_NPROCESSORS_ONLN), w->load_start, w->load_end,
           w->cpu_s_end - w->cpu_s_start, 100 * (w->cpu_s_end - w->cpu_s_start) / seconds,
           w->lag_ms_max);
    hostile_stats_print(s, stdout, r->o.deadline_s, slow_limit);
    uint64_t whole_max = 0, other_max = 0;
    for (int c = HC_OPEN; c <= HC_SLOW; c++) {
        uint64_t m = hostile_stats_class_max_us(s, (enum hostile_class)c);
        uint64_t *max = c <= HC_PRE_HELLO ? &whole_max : &other_max;
        *max = m > *max ? m : *max;
    }
    printf("lcb-hostile: longest wait for an ERROR or close (or, unanswered, until the test "
           "gave up): whole frames %.2f s (limit %.1f s); slow and transport kinds %.2f s (limit "
           "%.1f s = the frame or handshake deadline + %.1f s)\n", (double)whole_max / 1e6, r->o.deadline_s, (double)other_max / 1e6,
           slow_limit, r->o.slack_s);
    printf("lcb-hostile: hostile frames acknowledged: %llu\n",
           (unsigned long long)s->violations[HV_ACKNOWLEDGED]);
    print_good(r, good);
    print_memory(w);
    if (a->issued < r->o.frames && ++failed)
        printf("lcb-hostile: FAIL: only %llu of %llu frames sent\n",
               (unsigned long long)a->issued, (unsigned long long)r->o.frames);
    if (hostile_stats_total_violations(s) > 0 && ++failed)
        printf("lcb-hostile: FAIL: %llu violations (above)\n",
               (unsigned long long)hostile_stats_total_violations(s));
    uint64_t good_errors = good->errors[0] + good->errors[1] + good->errors[2];
    if ((good_errors > 0 || good->requests[GOOD_ATTACK] == 0) && ++failed)
        printf("lcb-hostile: FAIL: the good terminals saw %llu errors, %llu requests during the "
               "attack\n", (unsigned long long)good_errors,
               (unsigned long long)good->requests[GOOD_ATTACK]);
    double p99 = ms_at(&good->latency_us[GOOD_ATTACK], 0.99);
    if (p99 > r->o.good_p99_ms && ++failed)
        printf("lcb-hostile: FAIL: good terminals' p99 %.2f ms during the attack, bound %.0f ms\n",
               p99, r->o.good_p99_ms);
    if ((w->rss_kb_start < 0 || mib(w->rss_kb_peak - w->rss_kb_start) > r->o.rss_bound_mib) &&
        ++failed)
        printf("lcb-hostile: FAIL: lcbd's VmRSS grew %.1f MiB, bound %.0f MiB\n",
               mib(w->rss_kb_peak - w->rss_kb_start), r->o.rss_bound_mib);
    if (second_half_mib(w) > r->o.rss_creep_mib && ++failed)
        printf("lcb-hostile: FAIL: lcbd's VmRSS grew %.1f MiB over the second half of the frames, "
               "bound %.0f MiB\n", second_half_mib(w), r->o.rss_creep_mib);
    if (w->fds_end > w->fds_start && ++failed)
        printf("lcb-hostile: FAIL: lcbd holds %ld open files after the attack, %ld before\n",
               w->fds_end, w->fds_start);
    if (kill((pid_t)r->o.lcbd_pid, 0) != 0 && ++failed)
        printf("lcb-hostile: FAIL: lcbd (pid %ld) is gone\n", r->o.lcbd_pid);
    printf("lcb-hostile: bounds: good terminals 0 errors and p99 <= %.0f ms; lcbd VmRSS growth <= "
           "%.0f MiB, over the second half <= %.0f MiB (%.1f); open files back to the start; %s\n",
           r->o.good_p99_ms, r->o.rss_bound_mib, r->o.rss_creep_mib, second_half_mib(w),
           failed ? "FAILED" : "ok");
    return failed;
}

static void write_summary(const char *path, const struct hostile_good_figures *good)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "lcb-hostile: cannot write %s\n", path);
        return;
    }
    fprintf(f, "good_taps_ok=%llu\ngood_checkouts=%llu\ngood_credited=%llu\n",
            (unsigned long long)good->taps_applied, (unsigned long long)good->checkouts,
            (unsigned long long)good->deposits);
    fclose(f);
}

int main(int argc, char **argv)
{
    static struct run r; /* the attack's buffers: never on the stack */
    struct hostile_good_opts good_opts;
    struct hostile_good_figures good;
    struct lcb_error err;
    lcb_error_clear(&err);
    parse(argc, argv, &r.o);
    signal(SIGPIPE, SIG_IGN); /* lcbd closes on hostile frames while we write */
    r.base = event_base_new();
    r.attack = calloc(1, sizeof *r.attack);
    if (r.base == NULL || r.attack == NULL || prepare_attack(&r, &err) != 0 ||
        start_good(&r, &good_opts, &err) != 0) {
        fprintf(stderr, "lcb-hostile: %s: %s\n", err.code, err.message);
        return 2;
    }
    arm(&r, on_baseline_done, r.o.baseline_s);
    if (event_base_dispatch(r.base) != 0) {
        fprintf(stderr, "lcb-hostile: the event loop failed\n");
        return 2;
    }
    hostile_good_stop(r.good, &good);
    int failed = report(&r, &good);
    if (r.o.summary != NULL)
        write_summary(r.o.summary, &good);
    if (r.timer != NULL)
        event_free(r.timer);
    for (size_t i = 0; i < r.attack->n_terminal_ctxs; i++)
        SSL_CTX_free(r.attack->terminal_ctxs[i]);
    free(r.attack->terminal_ctxs);
    SSL_CTX_free(r.attack->no_cert_ctx);
    SSL_CTX_free(r.attack->tls12_ctx);
    free(r.attack);
    event_base_free(r.base);
    return failed ? 1 : 0;
}
