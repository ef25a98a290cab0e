/* The world lcb-authz attacks: what bench/authz-test set up (ports, the
 * PKI directory, learners with cards, transactions) and what the baseline
 * did legitimately (each sequence number a terminal used, with its content
 * and answer). One fact per line of one text file; the names of
 * institutions, courses, sessions and certificates are fixed below and in
 * bench/authz-test, which must agree. Nothing here talks to lcbd. */
#ifndef LCB_BENCH_AUTHZ_WORLD_H
#define LCB_BENCH_AUTHZ_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Two branch centres under one district centre, one school under each. */
#define WORLD_DC "AZ-DC"
#define WORLD_CENTRE_A "AZ-A"
#define WORLD_CENTRE_B "AZ-B"
#define WORLD_SCHOOL_1 "AZ-S1" /* below AZ-A */
#define WORLD_SCHOOL_2 "AZ-S2" /* below AZ-B */
/* Each centre: a course with a session (60 minutes earn it) and a course
 * its terminals certify with OUTCOME; each school: a course, a certificate. */
#define WORLD_TEA_A "AZ-A-TEA"
#define WORLD_SESSION_A "AZ-A-TEA-1"
#define WORLD_OUT_A "AZ-A-OUT"
#define WORLD_TEA_B "AZ-B-TEA"
#define WORLD_SESSION_B "AZ-B-TEA-1"
#define WORLD_OUT_B "AZ-B-OUT"
#define WORLD_COURSE_S1 "AZ-S1-WELD"
#define WORLD_CERT_S1 "AZ-S1-CERT"
#define WORLD_COURSE_S2 "AZ-S2-WELD"
#define WORLD_CERT_S2 "AZ-S2-CERT"
#define WORLD_RULE "AZ-COMM" /* community -> academic, programme AZ-DC/ELEC */
#define WORLD_REGION "330206"

#define WORLD_PATH_MAX 1024
#define WORLD_MAX_LEARNERS 256
#define WORLD_MAX_TX 1024
#define WORLD_MAX_USED 65536
#define WORLD_CODE_MAX 32
#define WORLD_CARD_LEN 19

struct world_learner {
    char side; /* 'A' or 'B': home institution AZ-A or AZ-B */
    int64_t id;
    char card[WORLD_CARD_LEN + 1];
};

enum world_used_kind { WORLD_USED_TAP, WORLD_USED_OUTCOME };

/* A sequence number a terminal used, what it carried and its final answer
 * ("applied", or the refusal code). */
struct world_used {
    char terminal[WORLD_CODE_MAX + 1];
    uint64_t sequence;
    enum world_used_kind kind;
    char card[WORLD_CARD_LEN + 1];
    char item[WORLD_CODE_MAX + 1]; /* TAP: the session; OUTCOME: the course */
    int direction;                 /* TAP: enum lcbp_direction */
    int64_t time_ms;               /* TAP: terminal_time_ms */
    char completed_on[11];         /* OUTCOME */
    char answer[WORLD_CODE_MAX + 1];
};

struct world {
    int https_port, lcbp_port;
    char ca_file[WORLD_PATH_MAX];
    char pki_dir[WORLD_PATH_MAX]; /* NAME.crt and NAME.key of every certificate */
    int64_t offline_window_s;
    size_t n_learners;
    struct world_learner learners[WORLD_MAX_LEARNERS];
    size_t n_tx_b; /* transactions on the chains of AZ-B's learners */
    char tx_b[WORLD_MAX_TX][37];
    size_t n_used;
    struct world_used *used; /* WORLD_MAX_USED slots, owned */
};

/* Reads path into w (which world_free releases). -1 after printing why. */
int world_load(const char *path, struct world *w);
void world_free(struct world *w);

/* Appends u to the file at path and to w. */
int world_record_used(const char *path, struct world *w, const struct world_used *u);

/* The certificate prefix (pki_dir/NAME) in out. */
void world_cert(const struct world *w, const char *name, char out[WORLD_PATH_MAX]);

/* A learner of side ('A' or 'B') chosen by pick (any number). */
const struct world_learner *world_learner_of(const struct world *w, char side, uint64_t pick);

#endif
