/* Counting and printing what lcb-hostile saw; see hostile_stats.h. */
#include "bench/hostile_stats.h"

#include <stdarg.h>

static const char *const violation_names[HOSTILE_VIOLATIONS] = {
    [HV_ACKNOWLEDGED] = "acknowledged",  [HV_WRONG_ANSWER] = "wrong answer",
    [HV_LEFT_OPEN] = "left open",        [HV_CLOSED_EARLY] = "closed early",
    [HV_LATE] = "late",                  [HV_NO_ANSWER] = "no answer",
    [HV_BAD_FRAME] = "bad frame from lcbd", [HV_NOT_SERVED] = "not served",
};

void hostile_stats_violation(struct hostile_stats *s, enum hostile_kind kind,
                             enum hostile_violation v, const char *fmt, ...)
{
    s->violations[v]++;
    if (kind < HOSTILE_KINDS)
        s->kinds[kind].violations++;
    if (s->n_notes == HOSTILE_NOTES)
        return;
    char *note = s->notes[s->n_notes++];
    int used = snprintf(note, sizeof s->notes[0], "%s, %s: ", violation_names[v],
                        kind < HOSTILE_KINDS ? hostile_kinds[kind].name : "session");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note + used, sizeof s->notes[0] - (size_t)used, fmt, ap);
    va_end(ap);
}

uint64_t hostile_stats_total_violations(const struct hostile_stats *s)
{
    uint64_t total = 0;
    for (int v = 0; v < HOSTILE_VIOLATIONS; v++)
        total += s->violations[v];
    return total;
}

uint64_t hostile_stats_class_max_us(const struct hostile_stats *s, enum hostile_class cls)
{
    uint64_t max = 0;
    for (int k = 0; k < HOSTILE_KINDS; k++)
        if (hostile_kinds[k].cls == cls && s->kinds[k].time_us.max_us > max)
            max = s->kinds[k].time_us.max_us;
    return max;
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static void print_row(FILE *out, const char *name, const struct hostile_kind_stats *k)
{
    fprintf(out, "lcb-hostile:   %-17s %7llu %7llu %7llu %6llu %6llu %9.2f %9.2f %9.2f %5llu\n",
            name, (unsigned long long)k->frames, (unsigned long long)k->errors,
            (unsigned long long)k->closes, (unsigned long long)k->closed_silent,
            (unsigned long long)k->abandoned, ms(post_hist_quantile(&k->time_us, 0.5)),
            ms(post_hist_quantile(&k->time_us, 0.99)), ms(k->time_us.max_us),
            (unsigned long long)k->violations);
}

void hostile_stats_print(const struct hostile_stats *s, FILE *out, double fast_limit_s,
                         double slow_limit_s)
{
    static const char *const classes[] = {
        [HC_OPEN] = "after HELLO, open", [HC_CLOSING] = "after HELLO, framing",
        [HC_PRE_HELLO] = "before HELLO",     [HC_TRANSPORT] = "transport",
        [HC_SLOW] = "slow"};
    fprintf(out, "lcb-hostile:   %-17s %7s %7s %7s %6s %6s %9s %9s %9s %5s\n", "kind", "frames",
            "ERROR", "closed", "silent", "cut", "p50 ms", "p99 ms", "max ms", "viol");
    for (int c = HC_OPEN; c <= HC_SLOW; c++) {
        struct hostile_kind_stats total = {0};
        for (int k = 0; k < HOSTILE_KINDS; k++) {
            const struct hostile_kind_stats *ks = &s->kinds[k];
            if (hostile_kinds[k].cls != (enum hostile_class)c)
                continue;
            print_row(out, hostile_kinds[k].name, ks);
            total.frames += ks->frames;
            total.errors += ks->errors;
            total.closes += ks->closes;
            total.closed_silent += ks->closed_silent;
            total.abandoned += ks->abandoned;
            total.violations += ks->violations;
            post_hist_merge(&total.time_us, &ks->time_us);
        }
        fprintf(out, "lcb-hostile:   = %s (limit %.1f s)\n", classes[c],
                c == HC_SLOW || c == HC_TRANSPORT ? slow_limit_s : fast_limit_s);
        print_row(out, "  all", &total);
    }
    fprintf(out, "lcb-hostile: violations:");
    for (int v = 0; v < HOSTILE_VIOLATIONS; v++)
        fprintf(out, " %s %llu%s", violation_names[v], (unsigned long long)s->violations[v],
                v + 1 < HOSTILE_VIOLATIONS ? "," : "\n");
    for (unsigned i = 0; i < s->n_notes; i++)
        fprintf(out, "lcb-hostile:   %s\n", s->notes[i]);
}
