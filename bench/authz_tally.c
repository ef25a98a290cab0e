/* The tally of lcb-authz; see authz_tally.h. A failure (accepted, or not
 * the documented code) is printed as it happens, the first few in full, so
 * a run that fails says why without a rerun. */
#include "bench/authz_tally.h"

#include <inttypes.h>
#include <string.h>

static const char *const kind_names[ATTACK_KINDS] = {
    [ATTACK_NO_CERT_HTTPS] = "no certificate (HTTPS)",
    [ATTACK_NO_CERT_LCBP] = "no certificate (LCBP)",
    [ATTACK_OTHER_CA_HTTPS] = "another CA (HTTPS)",
    [ATTACK_OTHER_CA_LCBP] = "another CA (LCBP)",
    [ATTACK_EXPIRED_HTTPS] = "expired certificate (HTTPS)",
    [ATTACK_EXPIRED_LCBP] = "expired certificate (LCBP)",
    [ATTACK_LAPSED_HTTPS] = "expired registration (HTTPS)",
    [ATTACK_LAPSED_LCBP] = "expired registration (LCBP)",
    [ATTACK_REVOKED_HTTPS] = "revoked certificate (HTTPS)",
    [ATTACK_REVOKED_LCBP] = "revoked certificate (LCBP)",
    [ATTACK_WRONG_ROLE_HTTPS] = "role not allowed (HTTPS)",
    [ATTACK_WRONG_ROLE_LCBP] = "not a terminal (LCBP)",
    [ATTACK_TERMINAL_FOREIGN] = "terminal A, centre B's course",
    [ATTACK_SCHOOL_FOREIGN] = "school, another's catalogue",
    [ATTACK_INSTITUTION_SCOPE] = "institution, another's totals",
    [ATTACK_ADMIN_SUBTREE] = "administrator outside subtree",
    [ATTACK_AUDITOR_SUBTREE] = "auditor outside subtree",
    [ATTACK_SEQUENCE_REUSE] = "sequence reused, other content",
    [ATTACK_OFFLINE_WINDOW] = "tap outside the window",
    [ATTACK_EXACT_REPLAY] = "exact replay (not a refusal)",
};

void tally_init(struct tally *t)
{
    memset(t, 0, sizeof *t);
}

const char *tally_kind_name(enum attack_kind kind)
{
    return kind_names[kind];
}

static bool is_refusal_code(const char *got)
{
    return strcmp(got, TALLY_DUPLICATE) != 0 && strncmp(got, TALLY_ACCEPTED, 8) != 0 &&
           strncmp(got, TALLY_NO_ANSWER, 9) != 0;
}

/* lcbd logs every refusal it makes, whether or not it was the one wanted. */
static void count_logged(struct tally *t, const char *code)
{
    for (size_t i = 0; i < t->n_codes; i++) {
        if (strcmp(t->codes[i], code) == 0) {
            t->code_counts[i]++;
            return;
        }
    }
    if (t->n_codes == TALLY_MAX_CODES)
        return;
    snprintf(t->codes[t->n_codes], sizeof t->codes[0], "%s", code);
    t->code_counts[t->n_codes++] = 1;
}

void tally_record(struct tally *t, enum attack_kind kind, const char *want, const char *got,
                  bool handshake, const char *detail)
{
    struct tally_kind *k = &t->kinds[kind];
    k->sent++;
    if (is_refusal_code(got))
        count_logged(t, got);
    if (strcmp(want, got) == 0) {
        if (strcmp(got, TALLY_DUPLICATE) == 0) {
            k->duplicates++;
        } else {
            k->refused++;
            k->at_handshake += handshake;
        }
        return;
    }
    bool accepted = strncmp(got, TALLY_ACCEPTED, 8) == 0;
    if (accepted)
        k->accepted++;
    else
        k->wrong++;
    if (t->failures_shown++ < TALLY_SHOW_FAILURES)
        fprintf(stderr, "lcb-authz: %s: %s: wanted %s, got %s\n", accepted ? "ACCEPTED" : "WRONG",
                detail, want, got);
}

uint64_t tally_sent(const struct tally *t)
{
    uint64_t sent = 0;
    for (int i = 0; i < ATTACK_KINDS; i++)
        sent += t->kinds[i].sent;
    return sent;
}

bool tally_failed(const struct tally *t)
{
    for (int i = 0; i < ATTACK_KINDS; i++)
        if (t->kinds[i].accepted != 0 || t->kinds[i].wrong != 0)
            return true;
    return false;
}

void tally_print(const struct tally *t, FILE *out)
{
    struct tally_kind sum = {0};
    fprintf(out, "%-34s %7s %8s %10s %9s %6s %10s\n", "attempt", "sent", "refused", "handshake",
            "accepted", "wrong", "duplicate");
    for (int i = 0; i < ATTACK_KINDS; i++) {
        const struct tally_kind *k = &t->kinds[i];
        fprintf(out,
                "%-34s %7" PRIu64 " %8" PRIu64 " %10" PRIu64 " %9" PRIu64 " %6" PRIu64 " %10" PRIu64
                "\n",
                kind_names[i], k->sent, k->refused, k->at_handshake, k->accepted, k->wrong,
                k->duplicates);
        sum.sent += k->sent;
        sum.refused += k->refused;
        sum.at_handshake += k->at_handshake;
        sum.accepted += k->accepted;
        sum.wrong += k->wrong;
        sum.duplicates += k->duplicates;
    }
    fprintf(out,
            "lcb-authz: %" PRIu64 " attempts: %" PRIu64
            " refused with the documented code (%" PRIu64 " at the TLS handshake), %" PRIu64
            " exact replays answered duplicate, %" PRIu64 " accepted, %" PRIu64
            " answered otherwise\n",
            sum.sent, sum.refused, sum.at_handshake, sum.duplicates, sum.accepted, sum.wrong);
}

int tally_write_log_expectation(const struct tally *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    for (size_t i = 0; i < t->n_codes; i++)
        fprintf(f, "%s %" PRIu64 "\n", t->codes[i], t->code_counts[i]);
    return fclose(f) == 0 ? 0 : -1;
}
