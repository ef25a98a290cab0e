/* The hostile frames of bench/lcb-hostile: which kinds there are, and the
 * bytes of one frame of a kind, made from real cards, sessions and courses
 * so that a frame lcbd wrongly accepted would be carried out (and seen).
 * Every frame comes with what SPEC.md says lcbd must answer (hostile_oracle)
 * and is never a request lcbd would carry out. Deterministic for a seed. */
#ifndef LCB_BENCH_HOSTILE_GEN_H
#define LCB_BENCH_HOSTILE_GEN_H

#include "bench/hostile_oracle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hostile_kind {
    /* after HELLO_OK; SPEC.md keeps the connection open */
    HK_UNKNOWN_TYPE,
    HK_RESPONSE_TYPE,
    HK_FIELD_FAULT,
    HK_MISSING_FIELD,
    HK_GARBAGE_FIELDS,
    /* after HELLO_OK; mostly framing errors, after which lcbd closes */
    HK_LENGTH_HUGE,
    HK_OVERSIZED,
    HK_LENGTH_SMALL,
    HK_REQUEST_ID_ZERO,
    HK_FIELD_PAST_END,
    HK_LENGTH_MISMATCH,
    HK_GARBAGE_PAYLOAD,
    HK_RANDOM_BYTES,
    HK_FOREIGN_PROTOCOL,
    HK_HELLO_REPEATED,
    /* the first frame of a connection, before HELLO */
    HK_BEFORE_HELLO,
    HK_BAD_VERSION,
    HK_BAD_HELLO,
    HK_PRE_GARBAGE,
    /* the transport */
    HK_PLAIN_TCP,
    HK_NO_CERT,
    HK_TLS12,
    HK_CUT_FIN,
    HK_CUT_RST,
    /* slow: the frame deadline must end them */
    HK_DRIP_FRAME,
    HK_HEADER_ONLY,
    HK_NO_HELLO,
    HK_DRIP_HELLO,
    HK_DRIP_HANDSHAKE,
    HK_SILENT_TCP,
    HOSTILE_KINDS
};

enum hostile_class {
    HC_OPEN,      /* after HELLO_OK, the connection stays open */
    HC_CLOSING,   /* after HELLO_OK, usually the connection's last frame */
    HC_PRE_HELLO, /* a connection's only frame, instead of HELLO */
    HC_TRANSPORT, /* a connection of its own, below LCBP */
    HC_SLOW,      /* a connection of its own, held open slowly */
};

struct hostile_kind_info {
    const char *name;
    enum hostile_class cls;
    unsigned weight; /* within its class */
};

extern const struct hostile_kind_info hostile_kinds[HOSTILE_KINDS];

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
struct hostile_rng {
    uint64_t state;
};

void hostile_rng_seed(struct hostile_rng *rng, uint64_t seed, uint64_t stream);
uint64_t hostile_rng_next(struct hostile_rng *rng);
/* Uniform in 0..n-1; n > 0. */
uint32_t hostile_rng_below(struct hostile_rng *rng, uint32_t n);

#define HOSTILE_MAX_CARDS 64

/* What real frames are made of: the hostile terminals' centre's cards, one
 * of its sessions and one of its courses. */
struct hostile_material {
    char cards[HOSTILE_MAX_CARDS][LCBP_CARD_LEN + 1];
    size_t n_cards;
    char session[LCBP_CODE_MAX + 1];
    char course[LCBP_CODE_MAX + 1];
};

/* The largest frame a kind makes (HK_OVERSIZED's). */
#define HOSTILE_MAX_SHOT (40 * 1024)

/* A kind of class cls, by weight. */
enum hostile_kind hostile_gen_pick(struct hostile_rng *rng, enum hostile_class cls);

/* Writes a frame of kind (an HC_OPEN, HC_CLOSING or HC_PRE_HELLO kind) for a
 * connection that has had HELLO_OK (ready) or not into buf (cap bytes, at
 * least HOSTILE_MAX_SHOT); sets *len and what lcbd must answer (never
 * ORACLE_WAIT, ORACLE_CARRY_OUT or ORACLE_TOO_MANY). */
void hostile_gen_frame(struct hostile_rng *rng, const struct hostile_material *m,
                       enum hostile_kind kind, bool ready, uint8_t *buf, size_t cap, size_t *len,
                       struct oracle *expect);

/* A valid HELLO (LCBP/1) with request_id, into buf; returns its length. */
size_t hostile_gen_hello(uint32_t request_id, uint8_t *buf, size_t cap);

/* The start of a frame for the slow and cut kinds: a hostile frame (a
 * request with a field fault) of at least min_len bytes. Returns its length. */
size_t hostile_gen_partial(struct hostile_rng *rng, const struct hostile_material *m,
                           uint8_t *buf, size_t cap, size_t min_len);

/* Bytes of another protocol (HTTP, SSH, a TLS record, ...), for plain TCP
 * and for inside TLS. Returns the length. */
size_t hostile_gen_foreign(struct hostile_rng *rng, uint8_t *buf, size_t cap);

#endif
