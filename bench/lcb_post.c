/* lcb-post: a load client that posts outcomes to lcbd over HTTPS with N
 * keep-alive connections, B outcomes a request, for D seconds or K
 * postings, each posting once or (replay mode) 2-5 times at once over
 * different connections. It writes every posting's fate to a file and
 * prints postings/s and latency quantiles. It never resends on its own. */
#include "bench/post_conn.h"
#include "bench/post_run.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_VIOLATION 1
#define EXIT_USAGE 2

static void usage(void)
{
    fprintf(stderr,
            "usage: lcb-post --port P[,P...] --ca CA.crt --cert PREFIX --learners A-B|L,L,...\n"
            "                --course CODE[,CODE...]|PREFIX:N [--prefix KEYPREFIX]\n"
            "                [--first INDEX] [--connections N] [--batch B]\n"
            "                [--duration S] [--count K] [--replay [--replays MIN-MAX]]\n"
            "                [--fates FILE] [--resend FATES] [--timeout S] [--date YYYY-MM-DD]\n"
            "                [--expect-acked] [--connect-first] [--quiet]\n"
            "       lcb-post --probe --port P --ca CA.crt   (does lcbd answer /healthz?)\n");
    exit(EXIT_USAGE);
}

/* "A-B" or "L,L,...": the learner ids postings go to, round robin. */
static int parse_learners(const char *spec, struct post_options *opt)
{
    long long a, b;
    char tail;
    if (sscanf(spec, "%lld-%lld%c", &a, &b, &tail) == 2 && a > 0 && b >= a && b - a < 1000000) {
        opt->n_learners = (size_t)(b - a + 1);
        opt->learners = calloc(opt->n_learners, sizeof *opt->learners);
        for (size_t i = 0; opt->learners != NULL && i < opt->n_learners; i++)
            opt->learners[i] = a + (long long)i;
        return opt->learners != NULL ? 0 : -1;
    }
    opt->learners = calloc(strlen(spec) / 2 + 1, sizeof *opt->learners);
    for (const char *p = spec; opt->learners != NULL && *p != '\0';) {
        char *end;
        long long id = strtoll(p, &end, 10);
        if (end == p || id <= 0 || (*end != ',' && *end != '\0'))
            return -1;
        opt->learners[opt->n_learners++] = id;
        p = *end == ',' ? end + 1 : end;
    }
    return opt->n_learners > 0 ? 0 : -1;
}

/* "CODE[,CODE...]": the courses postings certify, in turn per learner;
 * "PREFIX:N" stands for PREFIX1 .. PREFIXN. */
static int parse_courses(char *spec, struct post_options *opt)
{
    char *colon = strchr(spec, ':');
    if (colon != NULL) {
        *colon = '\0';
        opt->course_prefix = spec;
        opt->course_series = strtoull(colon + 1, NULL, 10);
        opt->n_courses = 1;
        return strlen(spec) >= 1 && strlen(spec) <= 24 && opt->course_series > 0 ? 0 : -1;
    }
    for (char *save = NULL, *code = strtok_r(spec, ",", &save);
         code != NULL && opt->n_courses < POST_MAX_COURSES; code = strtok_r(NULL, ",", &save)) {
        if (strlen(code) < 1 || strlen(code) > 32)
            return -1;
        opt->courses[opt->n_courses++] = code;
    }
    return opt->n_courses > 0 ? 0 : -1;
}

static int parse_ports(const char *spec, struct post_options *opt)
{
    for (const char *p = spec; *p != '\0' && opt->n_ports < POST_MAX_PORTS;) {
        char *end;
        long port = strtol(p, &end, 10);
        if (end == p || port < 1 || port > 65535 || (*end != ',' && *end != '\0'))
            return -1;
        opt->ports[opt->n_ports++] = (int)port;
        p = *end == ',' ? end + 1 : end;
    }
    return opt->n_ports > 0 ? 0 : -1;
}

/* --resend: the indexes a fates file left unknown, to be sent again. */
static int read_unknowns(const char *path, struct post_options *opt)
{
    FILE *f = fopen(path, "r");
    char line[512], fate[16];
    unsigned long long index;
    size_t cap = 1024;
    if (f == NULL || (opt->only = malloc(cap * sizeof *opt->only)) == NULL) {
        perror(path);
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%llu\t%*s\t%15s", &index, fate) != 2 || strcmp(fate, "unknown") != 0)
            continue;
        if (opt->n_only == cap) {
            uint64_t *grown = realloc(opt->only, 2 * cap * sizeof *grown);
            if (grown == NULL)
                break;
            opt->only = grown;
            cap *= 2;
        }
        opt->only[opt->n_only++] = index;
    }
    fclose(f);
    return 0;
}

static bool probe(const struct post_options *opt)
{
    SSL_CTX *ctx = post_conn_ctx(opt->ca_file, NULL);
    struct post_conn conn;
    if (ctx == NULL)
        return false;
    post_conn_init(&conn, ctx, opt->ports[0], opt->timeout_s);
    bool answered = post_conn_request(&conn, "GET", "/healthz", "", 0) == POST_CONN_OK;
    post_conn_free(&conn);
    SSL_CTX_free(ctx);
    return answered;
}

static const struct option long_options[] = {
    {"port", required_argument, NULL, 'p'},
    {"ca", required_argument, NULL, 'a'},
    {"cert", required_argument, NULL, 'c'},
    {"connections", required_argument, NULL, 'n'},
    {"batch", required_argument, NULL, 'b'},
    {"duration", required_argument, NULL, 'd'},
    {"count", required_argument, NULL, 'k'},
    {"replay", no_argument, NULL, 'r'},
    {"replays", required_argument, NULL, 'R'},
    {"prefix", required_argument, NULL, 'x'},
    {"learners", required_argument, NULL, 'l'},
    {"course", required_argument, NULL, 'C'},
    {"date", required_argument, NULL, 'D'},
    {"fates", required_argument, NULL, 'f'},
    {"resend", required_argument, NULL, 'S'},
    {"timeout", required_argument, NULL, 't'},
    {"expect-acked", no_argument, NULL, 'e'},
    {"quiet", no_argument, NULL, 'q'},
    {"probe", no_argument, NULL, 'P'},
    {"first", required_argument, NULL, 'F'},
    {"connect-first", no_argument, NULL, 'W'},
    {NULL, 0, NULL, 0},
};

static int parse_option(int ch, struct post_options *opt, bool *probe_only)
{
    switch (ch) {
    case 'p':
        return parse_ports(optarg, opt);
    case 'a':
        opt->ca_file = optarg;
        return 0;
    case 'c':
        opt->cert_prefix = optarg;
        return 0;
    case 'n':
        opt->connections = atoi(optarg);
        return 0;
    case 'b':
        opt->batch = atoi(optarg);
        return 0;
    case 'd':
        opt->duration_s = atof(optarg);
        return 0;
    case 'k':
        opt->count = strtoull(optarg, NULL, 10);
        return 0;
    case 'r':
        opt->replay = true;
        return 0;
    case 'R':
        return sscanf(optarg, "%d-%d", &opt->replays_min, &opt->replays_max) == 2 ? 0 : -1;
    case 'x':
        opt->prefix = optarg;
        return 0;
    case 'l':
        return parse_learners(optarg, opt);
    case 'C':
        return parse_courses(optarg, opt);
    case 'D':
        opt->completed_on = optarg;
        return 0;
    case 'f':
        opt->fates_path = optarg;
        return 0;
    case 'S':
        return read_unknowns(optarg, opt);
    case 't':
        opt->timeout_s = atoi(optarg);
        return 0;
    case 'e':
        opt->expect_acked = true;
        return 0;
    case 'q':
        opt->quiet = true;
        return 0;
    case 'P':
        *probe_only = true;
        return 0;
    case 'F':
        opt->first = strtoull(optarg, NULL, 10);
        return 0;
    case 'W':
        opt->connect_first = true;
        return 0;
    default:
        return -1;
    }
}

static bool options_valid(const struct post_options *opt)
{
    return opt->n_ports > 0 && opt->ca_file != NULL && opt->cert_prefix != NULL &&
           opt->n_learners > 0 && opt->n_courses > 0 && opt->connections >= 1 &&
           opt->connections <= POST_MAX_CONNECTIONS && opt->batch >= 1 && opt->batch <= 1000 &&
           opt->replays_min >= 1 && opt->replays_max >= opt->replays_min &&
           opt->replays_max <= 100 && opt->timeout_s >= 1 && strlen(opt->prefix) <= 96;
}

static void parse_options(int argc, char **argv, struct post_options *opt, bool *probe_only)
{
    static char default_prefix[64];
    int ch;
    *opt = (struct post_options){.connections = 4,
                                 .batch = 10,
                                 .replays_min = 2,
                                 .replays_max = 5,
                                 .completed_on = "2024-06-01",
                                 .timeout_s = 10};
    snprintf(default_prefix, sizeof default_prefix, "lcbpost-%ld", (long)getpid());
    opt->prefix = default_prefix;
    while ((ch = getopt_long(argc, argv, "", long_options, NULL)) != -1)
        if (parse_option(ch, opt, probe_only) != 0)
            usage();
    if (optind != argc)
        usage();
    if (*probe_only) {
        if (opt->n_ports == 0 || opt->ca_file == NULL)
            usage();
        return;
    }
    if (opt->duration_s <= 0 && opt->count == 0 && opt->only == NULL)
        opt->count = 1000;
    if (!options_valid(opt))
        usage();
}

static void report(const struct post_run *run, const struct post_fate_totals *t, double seconds)
{
    const struct post_options *opt = run->opt;
    printf("lcb-post: %s, %d connections, batches of %d: %" PRIu64 " postings, %" PRIu64
           " sent, in %.2f s\n",
           opt->only != NULL ? "resend"
           : opt->replay     ? "replay"
                             : "unique",
           opt->connections, opt->batch, (uint64_t)run->fates.n, run->sends, seconds);
    printf("lcb-post: %.0f postings/s acknowledged, %.0f sent/s, %.0f requests/s\n",
           (double)t->acked / seconds, (double)run->sends / seconds,
           (double)run->requests / seconds);
    printf("lcb-post: request latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms"
           " (%" PRIu64 " requests)\n",
           (double)post_hist_quantile(&run->hist, 0.50) / 1e3,
           (double)post_hist_quantile(&run->hist, 0.99) / 1e3,
           (double)post_hist_quantile(&run->hist, 0.999) / 1e3, (double)run->hist.max_us / 1e3,
           run->hist.count);
    printf("lcb-post: fates: %" PRIu64 " acknowledged (%" PRIu64 " posted, %" PRIu64
           " duplicate answers), %" PRIu64 " refused, %" PRIu64 " unknown, %" PRIu64
           " not sent; %" PRIu64 " transport errors, %" PRIu64 " bad replies\n",
           t->acked, t->posted_answers, t->duplicate_answers, t->refused, t->unknown, t->unsent,
           run->transport_errors, run->bad_replies);
    printf("lcb-post: violations: %" PRIu64 " posted twice, %" PRIu64 " answered differently\n",
           t->posted_twice, t->differing);
}

static int write_fates(struct post_run *run)
{
    FILE *f = fopen(run->opt->fates_path, "w");
    if (f == NULL) {
        perror(run->opt->fates_path);
        return -1;
    }
    int rc = post_fates_write(&run->fates, f, run->opt->prefix, post_run_index, run);
    if (fclose(f) != 0 || rc != 0) {
        perror(run->opt->fates_path);
        return -1;
    }
    return 0;
}

/* Runs the connection threads to the end; 0, or -1 when none could start. */
static int run_threads(struct post_run *run)
{
    const struct post_options *opt = run->opt;
    pthread_t threads[POST_MAX_CONNECTIONS];
    struct post_worker workers[POST_MAX_CONNECTIONS];
    int started = 0;
    run->started = post_now();
    run->deadline = opt->duration_s > 0 ? run->started + opt->duration_s : 0;
    for (int i = 0; i < opt->connections; i++) {
        workers[i] = (struct post_worker){.run = run, .id = i};
        if (pthread_create(&threads[started], NULL, post_worker_main, &workers[i]) == 0)
            started++;
    }
    if (opt->connect_first) {
        pthread_mutex_lock(&run->lock);
        while (run->connected < started)
            pthread_cond_wait(&run->ready, &run->lock);
        run->started = post_now();
        run->deadline = opt->duration_s > 0 ? run->started + opt->duration_s : 0;
        run->go = true;
        pthread_cond_broadcast(&run->ready);
        pthread_mutex_unlock(&run->lock);
    }
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    return started > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct post_run run; /* the histogram is large; keep it off the stack */
    struct post_options opt;
    struct post_fate_totals totals;
    bool probe_only = false;

    signal(SIGPIPE, SIG_IGN);
    parse_options(argc, argv, &opt, &probe_only);
    if (probe_only)
        return probe(&opt) ? 0 : 1;
    run.opt = &opt;
    run.ctx = post_conn_ctx(opt.ca_file, opt.cert_prefix);
    if (run.ctx == NULL || post_fates_init(&run.fates) != 0 ||
        pthread_mutex_init(&run.lock, NULL) != 0 || pthread_cond_init(&run.ready, NULL) != 0 ||
        run_threads(&run) != 0)
        return EXIT_USAGE;
    double seconds = post_now() - run.started;
    post_fates_totals(&run.fates, &totals);
    if (!opt.quiet)
        report(&run, &totals, seconds > 1e-6 ? seconds : 1e-6);
    int status = 0;
    if (opt.fates_path != NULL && write_fates(&run) != 0)
        status = EXIT_USAGE;
    if (totals.posted_twice > 0 || totals.differing > 0 || run.bad_replies > 0)
        status = EXIT_VIOLATION;
    if (opt.expect_acked && totals.acked != run.fates.n) {
        fprintf(stderr, "lcb-post: %" PRIu64 " of %zu postings were not acknowledged\n",
                (uint64_t)run.fates.n - totals.acked, run.fates.n);
        status = EXIT_VIOLATION;
    }
    post_fates_free(&run.fates);
    SSL_CTX_free(run.ctx);
    free(opt.learners);
    free(opt.only);
    return status;
}
