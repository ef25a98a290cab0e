/* What lcb-authz sent and what lcbd answered, per kind of attempt: refused
 * with the documented code, accepted (a hole), or answered otherwise (a
 * wrong code, or no answer at all). Also the refusal codes lcbd must have
 * logged, one line each, for the comparison with its log. */
#ifndef LCB_BENCH_AUTHZ_TALLY_H
#define LCB_BENCH_AUTHZ_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum attack_kind {
    ATTACK_NO_CERT_HTTPS,
    ATTACK_NO_CERT_LCBP,
    ATTACK_OTHER_CA_HTTPS, /* a certificate of another CA, registered even */
    ATTACK_OTHER_CA_LCBP,
    ATTACK_EXPIRED_HTTPS, /* X.509 notAfter passed, registration still valid */
    ATTACK_EXPIRED_LCBP,
    ATTACK_LAPSED_HTTPS, /* X.509 valid, registration (not_after) expired */
    ATTACK_LAPSED_LCBP,
    ATTACK_REVOKED_HTTPS,
    ATTACK_REVOKED_LCBP,
    ATTACK_WRONG_ROLE_HTTPS,  /* a role the route does not allow */
    ATTACK_WRONG_ROLE_LCBP,   /* a certificate that is not a terminal's */
    ATTACK_TERMINAL_FOREIGN,  /* TAP, OUTCOME, UPLOAD for the other centre's course */
    ATTACK_SCHOOL_FOREIGN,    /* an outcome of another institution's catalogue */
    ATTACK_INSTITUTION_SCOPE, /* an institution certificate reading another's totals */
    ATTACK_ADMIN_SUBTREE,     /* an administrator acting outside its subtree */
    ATTACK_AUDITOR_SUBTREE,   /* an auditor reading outside its subtree */
    ATTACK_SEQUENCE_REUSE,    /* a used (so backwards) sequence number, other content */
    ATTACK_OFFLINE_WINDOW,    /* a tap older than the window, or in the future */
    ATTACK_EXACT_REPLAY,      /* the same content again: "duplicate", no new effect */
    ATTACK_KINDS
};

/* The "code" of an exact replay answered with the original's success. */
#define TALLY_DUPLICATE "duplicate"
/* Prefixes of a got that is no refusal: */
#define TALLY_ACCEPTED "accepted"   /* lcbd carried the attempt out */
#define TALLY_NO_ANSWER "no_answer" /* transport trouble: counts as wrong */

#define TALLY_MAX_CODES 64
#define TALLY_SHOW_FAILURES 25

struct tally_kind {
    uint64_t sent, refused, at_handshake, accepted, wrong, duplicates;
};

struct tally {
    struct tally_kind kinds[ATTACK_KINDS];
    /* refusal codes lcbd answered, so must have logged */
    size_t n_codes;
    char codes[TALLY_MAX_CODES][40];
    uint64_t code_counts[TALLY_MAX_CODES];
    uint64_t failures_shown;
};

void tally_init(struct tally *t);

/* One attempt: want is the documented code (or TALLY_DUPLICATE), got what
 * came back: a code, TALLY_DUPLICATE, or TALLY_ACCEPTED / TALLY_NO_ANSWER
 * followed by details. handshake: refused by a TLS alert. detail says what
 * was sent (printed when it failed). Every refusal got counts as logged. */
void tally_record(struct tally *t, enum attack_kind kind, const char *want, const char *got,
                  bool handshake, const char *detail);

uint64_t tally_sent(const struct tally *t);
bool tally_failed(const struct tally *t);
const char *tally_kind_name(enum attack_kind kind);

/* The per-kind table and the totals line. */
void tally_print(const struct tally *t, FILE *out);
/* "CODE COUNT" lines: what lcbd must have logged. */
int tally_write_log_expectation(const struct tally *t, const char *path);

#endif
