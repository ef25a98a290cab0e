/* What became of every posting lcb-post sent: acknowledged (posted or
 * duplicate, with the transaction id and hash), refused (with its code) or
 * unknown (no answer, or an answer that says nothing was decided), and
 * whether replays of one posting were answered alike. Thread-safe; the
 * table grows in chunks, so slots already handed out never move. */
#ifndef LCB_BENCH_POST_FATE_H
#define LCB_BENCH_POST_FATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define POST_FATE_CHUNK 65536
#define POST_FATE_MAX_CHUNKS 1024 /* 67 million postings */
#define POST_FATE_LOCKS 64

enum post_answer_kind { POST_POSTED, POST_DUPLICATE, POST_REFUSED, POST_UNKNOWN };

/* One answer to one sending of a posting. */
struct post_answer {
    enum post_answer_kind kind;
    const char *transaction_id; /* POSTED, DUPLICATE */
    const char *hash;           /* POSTED, DUPLICATE: 64 hex digits */
    const char *code;           /* REFUSED: the error code; UNKNOWN: why */
};

enum post_fate_state { FATE_NONE, FATE_UNKNOWN, FATE_REFUSED, FATE_ACKED };

struct post_fate {
    uint8_t state;      /* enum post_fate_state: the strongest answer so far */
    uint8_t sends;      /* answers of any kind */
    uint8_t posted;     /* "posted" answers: more than one means a double effect */
    uint8_t duplicates; /* "duplicate" answers */
    uint8_t differs;    /* acknowledgements that disagree, or acked and refused */
    char detail[28];    /* posted/duplicate, the refusal code or why unknown */
    char conflict[28];  /* the refusal code an acknowledged posting also got */
    char transaction_id[37];
    char hash[65];
};

struct post_fates {
    pthread_mutex_t grow;
    pthread_mutex_t locks[POST_FATE_LOCKS];
    struct post_fate *chunks[POST_FATE_MAX_CHUNKS];
    size_t n; /* slots handed out */
};

int post_fates_init(struct post_fates *f);
void post_fates_free(struct post_fates *f);

/* Makes slots [0, n) usable; -1 when out of memory or past the maximum. */
int post_fates_reserve(struct post_fates *f, size_t n);

void post_fates_record(struct post_fates *f, size_t slot, const struct post_answer *a);

struct post_fate_totals {
    uint64_t acked, refused, unknown, unsent;
    uint64_t posted_answers, duplicate_answers;
    uint64_t posted_twice, differing; /* violations */
};

void post_fates_totals(struct post_fates *f, struct post_fate_totals *t);

/* One line per slot, tab-separated:
 *   index key fate detail transaction_id hash sends posted conflict
 * fate is acked, refused or unknown; "-" stands for an empty field.
 * index_of maps a slot to the posting index (its key is PREFIX-index). */
int post_fates_write(struct post_fates *f, FILE *out, const char *prefix,
                     uint64_t (*index_of)(size_t slot, void *arg), void *arg);

#endif
