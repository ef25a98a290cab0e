/* lcb-term: a card terminal simulator speaking LCBP/1 to lcbd. This file
 * holds main, the command line and the time helpers; the commands live in
 * lcb_term_cmds.c (one-shot) and lcb_term_load.c (load and idle). It never
 * talks to the database: only to lcbd, as a terminal would. */
#include "tools/lcb_term.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: lcb-term [--addr HOST:PORT] [--ca CA] [--cert CRT] [--key KEY] "
    "[--json] COMMAND\n"
    "\n"
    "One-shot commands (one connection, HELLO, one request):\n"
    "  hello                                   show what lcbd says about this "
    "terminal\n"
    "  ping                                    round trip and server clock\n"
    "  tap --card N --session S --in|--out [--seq N] [--time ISO]\n"
    "  balance --card N                        the presented card's balances\n"
    "  outcome --card N --course C --result R --completed-on YYYY-MM-DD [--seq "
    "N]\n"
    "  upload FILE                             offline taps, one per line:\n"
    "                                          SEQ TIME_ISO CARD SESSION "
    "in|out\n"
    "Load modes (one libevent loop, N connections):\n"
    "  load --terminals N --duration S [--rate R | --closed-loop] [--op "
    "tap|balance|ping|outcome]\n"
    "       --cards FILE [--session S | --courses PREFIX:FIRST-LAST] [--certs FILE]\n"
    "       [--completed-on YYYY-MM-DD] [--seq-base N] [--in-flight K (closed loop)]\n"
    "  idle --terminals N [--hold S] [--pid LCBD_PID]\n"
    "\n"
    "Connection (defaults from LCB_TERM_ADDR, LCB_CA, LCB_TERM_CERT, "
    "LCB_TERM_KEY):\n"
    "  --addr HOST:PORT  --ca FILE  --cert FILE  --key FILE  --server-name "
    "NAME\n"
    "  --timeout S (default 30)  --json (machine-readable output)\n"
    "Without --seq, tap and outcome use one more than the number kept in "
    "CERT.seq.\n"
    "Exit status: 0 done, 1 refused by lcbd (the error code is printed), 2 "
    "usage,\n"
    "3 no answer (address, TLS, connection, file). See lcb-term(1).\n";

enum {
    OPT_ADDR = 256,
    OPT_CA,
    OPT_CERT,
    OPT_KEY,
    OPT_SERVER_NAME,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_CARD,
    OPT_SESSION,
    OPT_IN,
    OPT_OUT,
    OPT_SEQ,
    OPT_TIME,
    OPT_COURSE,
    OPT_RESULT,
    OPT_COMPLETED_ON,
    OPT_TERMINALS,
    OPT_DURATION,
    OPT_RATE,
    OPT_CLOSED_LOOP,
    OPT_OP,
    OPT_CARDS,
    OPT_CERTS,
    OPT_COURSES,
    OPT_SEQ_BASE,
    OPT_HOLD,
    OPT_PID,
    OPT_MAX_CONNECTING,
    OPT_IN_FLIGHT,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option long_options[] = {
    {"addr", required_argument, NULL, OPT_ADDR},
    {"ca", required_argument, NULL, OPT_CA},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"server-name", required_argument, NULL, OPT_SERVER_NAME},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"card", required_argument, NULL, OPT_CARD},
    {"session", required_argument, NULL, OPT_SESSION},
    {"in", no_argument, NULL, OPT_IN},
    {"out", no_argument, NULL, OPT_OUT},
    {"seq", required_argument, NULL, OPT_SEQ},
    {"time", required_argument, NULL, OPT_TIME},
    {"course", required_argument, NULL, OPT_COURSE},
    {"result", required_argument, NULL, OPT_RESULT},
    {"completed-on", required_argument, NULL, OPT_COMPLETED_ON},
    {"terminals", required_argument, NULL, OPT_TERMINALS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"rate", required_argument, NULL, OPT_RATE},
    {"closed-loop", no_argument, NULL, OPT_CLOSED_LOOP},
    {"op", required_argument, NULL, OPT_OP},
    {"cards", required_argument, NULL, OPT_CARDS},
    {"certs", required_argument, NULL, OPT_CERTS},
    {"courses", required_argument, NULL, OPT_COURSES},
    {"seq-base", required_argument, NULL, OPT_SEQ_BASE},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"pid", required_argument, NULL, OPT_PID},
    {"max-connecting", required_argument, NULL, OPT_MAX_CONNECTING},
    {"in-flight", required_argument, NULL, OPT_IN_FLIGHT},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "lcb-term: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(lcb-term --help for usage)\n");
    return TERM_EXIT_USAGE;
}

static int parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *text, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(text, &end);
    return errno == 0 && end != text && *end == '\0' && *out > 0 && *out < 1e7 ? 0 : -1;
}

static int parse_op(const char *text, enum term_op *op)
{
    if (strcmp(text, "tap") == 0)
        *op = TERM_OP_TAP;
    else if (strcmp(text, "balance") == 0)
        *op = TERM_OP_BALANCE;
    else if (strcmp(text, "ping") == 0)
        *op = TERM_OP_PING;
    else if (strcmp(text, "outcome") == 0)
        *op = TERM_OP_OUTCOME;
    else
        return -1;
    return 0;
}

/* Options that take numbers; returns 0, 1 for "not one of these", or a
 * usage error status. */
static int parse_numeric(int opt, const char *arg, struct term_opts *o)
{
    uint64_t v;
    struct lcb_error err;

    switch (opt) {
    case OPT_TIMEOUT:
        if (parse_u64(arg, 1, 3600, &v) != 0)
            return usage_error("--timeout takes 1 to 3600 seconds, not '%s'", arg);
        o->timeout_ms = (int)v * 1000;
        return 0;
    case OPT_SEQ:
        if (parse_u64(arg, 1, UINT64_MAX, &o->seq) != 0)
            return usage_error("--seq takes a number from 1, not '%s'", arg);
        o->has_seq = true;
        return 0;
    case OPT_TIME:
        if (term_parse_time(arg, &o->time_ms, &err) != 0)
            return usage_error("--time: %s", err.message);
        o->has_time = true;
        return 0;
    case OPT_TERMINALS:
        if (parse_u64(arg, 1, 100000, &v) != 0)
            return usage_error("--terminals takes 1 to 100000, not '%s'", arg);
        o->terminals = (int)v;
        return 0;
    case OPT_DURATION:
        return parse_seconds(arg, &o->duration_s) == 0
                   ? 0
                   : usage_error("--duration takes seconds, not '%s'", arg);
    case OPT_HOLD:
        return parse_seconds(arg, &o->hold_s) == 0
                   ? 0
                   : usage_error("--hold takes seconds, not '%s'", arg);
    case OPT_RATE:
        return parse_seconds(arg, &o->rate_per_s) == 0
                   ? 0
                   : usage_error("--rate takes requests per second, not '%s'", arg);
    case OPT_SEQ_BASE:
        return parse_u64(arg, 1, UINT64_MAX / 2, &o->seq_base) == 0
                   ? 0
                   : usage_error("--seq-base takes a number from 1, not '%s'", arg);
    case OPT_PID:
        if (parse_u64(arg, 1, 1u << 30, &v) != 0)
            return usage_error("--pid takes a process id, not '%s'", arg);
        o->lcbd_pid = (long)v;
        return 0;
    case OPT_MAX_CONNECTING:
        if (parse_u64(arg, 1, 10000, &v) != 0)
            return usage_error("--max-connecting takes 1 to 10000, not '%s'", arg);
        o->max_connecting = (int)v;
        return 0;
    case OPT_IN_FLIGHT:
        if (parse_u64(arg, 1, TERM_MAX_IN_FLIGHT, &v) != 0)
            return usage_error("--in-flight takes 1 to %d, not '%s'", TERM_MAX_IN_FLIGHT, arg);
        o->in_flight = (int)v;
        return 0;
    default:
        return 1;
    }
}

static int parse_option(int opt, const char *arg, struct term_opts *o)
{
    int rc = parse_numeric(opt, arg, o);

    if (rc != 1)
        return rc;
    switch (opt) {
    case OPT_ADDR:
        o->addr = arg;
        break;
    case OPT_CA:
        o->ca = arg;
        break;
    case OPT_CERT:
        o->cert = arg;
        break;
    case OPT_KEY:
        o->key = arg;
        break;
    case OPT_SERVER_NAME:
        o->server_name = arg;
        break;
    case OPT_JSON:
        o->json = true;
        break;
    case OPT_CARD:
        o->card = arg;
        break;
    case OPT_SESSION:
        o->session = arg;
        break;
    case OPT_IN:
        o->direction = LCBP_IN;
        break;
    case OPT_OUT:
        o->direction = LCBP_OUT;
        break;
    case OPT_COURSE:
        o->course = arg;
        break;
    case OPT_RESULT:
        o->result = arg;
        break;
    case OPT_COMPLETED_ON:
        o->completed_on = arg;
        break;
    case OPT_CLOSED_LOOP:
        o->closed_loop = true;
        break;
    case OPT_CARDS:
        o->cards_file = arg;
        break;
    case OPT_CERTS:
        o->certs_file = arg;
        break;
    case OPT_COURSES:
        o->courses = arg;
        break;
    case OPT_OP:
        if (parse_op(arg, &o->op) != 0)
            return usage_error("--op takes tap, balance, ping or outcome, not '%s'", arg);
        break;
    default:
        return TERM_EXIT_USAGE;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*run)(const struct term_opts *o);
} commands[] = {
    {"hello", term_cmd_hello},     {"ping", term_cmd_ping},       {"tap", term_cmd_tap},
    {"balance", term_cmd_balance}, {"outcome", term_cmd_outcome}, {"upload", term_cmd_upload},
    {"load", term_cmd_load},       {"idle", term_cmd_idle},
};

static void env_default(const char **slot, const char *name)
{
    const char *value = getenv(name);

    if (*slot == NULL && value != NULL && *value != '\0')
        *slot = value;
}

int main(int argc, char **argv)
{
    struct term_opts o = {.timeout_ms = 30000, .op = TERM_OP_TAP, .max_connecting = 64,
                         .in_flight = 1};
    int opt, rc;

    /* A server that closes on us must give an error, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        if (opt == OPT_HELP || opt == 'h') {
            fputs(usage_text, stdout);
            return TERM_EXIT_OK;
        }
        if (opt == OPT_VERSION) {
            printf("%s\n", LCB_TERM_SOFTWARE);
            return TERM_EXIT_OK;
        }
        if (opt == '?')
            return usage_error("%s", "unknown option or missing value");
        rc = parse_option(opt, optarg, &o);
        if (rc != 0)
            return rc;
    }
    if (optind >= argc)
        return usage_error("%s", "no command given");
    o.command = argv[optind++];
    if (strcmp(o.command, "upload") == 0 && optind < argc)
        o.file = argv[optind++];
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    env_default(&o.addr, "LCB_TERM_ADDR");
    env_default(&o.ca, "LCB_CA");
    env_default(&o.cert, "LCB_TERM_CERT");
    env_default(&o.key, "LCB_TERM_KEY");
    if (o.addr == NULL || o.ca == NULL || o.cert == NULL)
        return usage_error("%s", "--addr, --ca and --cert are needed (or LCB_TERM_ADDR, LCB_CA, "
                                 "LCB_TERM_CERT)");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(o.command, commands[i].name) == 0)
            return commands[i].run(&o);
    return usage_error("unknown command '%s'", o.command);
}

/* ---- time ---------------------------------------------------------------- */

int64_t term_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The zone suffix: "" (local time), "Z", "+HH:MM", "+HHMM"; offset in s. */
static int parse_zone(const char *p, bool *local, long *offset_s)
{
    int hh, mm, n = 0;

    *local = *p == '\0';
    *offset_s = 0;
    if (*p == '\0' || strcmp(p, "Z") == 0)
        return 0;
    if ((*p != '+' && *p != '-') ||
        (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 &&
         sscanf(p + 1, "%2d%2d%n", &hh, &mm, &n) != 2) ||
        p[1 + n] != '\0' || hh > 14 || mm > 59)
        return -1;
    *offset_s = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
    return 0;
}

int term_parse_time(const char *text, int64_t *ms, struct lcb_error *err)
{
    struct tm tm = {0};
    int n = 0, frac_digits = 0;
    long millis = 0, offset_s;
    bool local;
    const char *p;
    time_t t;

    if (strcmp(text, "now") == 0) {
        *ms = term_now_ms();
        return 0;
    }
    if (sscanf(text, "%4d-%2d-%2d%*1[T ]%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &n) != 5 ||
        n == 0)
        goto bad;
    p = text + n;
    if (p[0] == ':' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9') {
        tm.tm_sec = (p[1] - '0') * 10 + (p[2] - '0');
        p += 3;
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++)
                if (frac_digits < 3)
                    millis = millis * 10 + (*p - '0');
    }
    for (; frac_digits > 0 && frac_digits < 3; frac_digits++)
        millis *= 10;
    if (parse_zone(p, &local, &offset_s) != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        goto bad;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    t = local ? mktime(&tm) : timegm(&tm) - offset_s;
    if (t == (time_t)-1 || t < 0)
        goto bad;
    *ms = (int64_t)t * 1000 + millis;
    return 0;
bad:
    return lcb_error_set(err, "bad_time",
                         "'%s' is not a time like 2026-03-01T09:30:00Z, 2026-03-01T17:30+08:00 "
                         "or now",
                         text);
}

void term_format_time(int64_t ms, char out[TERM_TIME_MAX])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, TERM_TIME_MAX, "@%lld", (long long)ms);
        return;
    }
    snprintf(out, TERM_TIME_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}
