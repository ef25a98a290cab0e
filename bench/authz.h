/* What every part of an lcb-authz run shares: the world under attack, the
 * tally, the TLS client contexts (one per certificate, made once) and the
 * seeded random numbers every choice is drawn from, so that a run is
 * reproducible from its seed. Single-threaded. */
#ifndef LCB_BENCH_AUTHZ_H
#define LCB_BENCH_AUTHZ_H

#include "bench/authz_tally.h"
#include "bench/authz_world.h"

#include <openssl/ssl.h>
#include <stdint.h>

#define AUTHZ_MAX_IDENTITIES 32

struct authz {
    struct world *world;
    const char *world_path; /* where new used sequence numbers are appended */
    struct tally *tally;
    uint64_t rng;
    int64_t now_ms; /* lcbd's clock, near enough: same machine */
    size_t n_identities;
    struct {
        char name[64]; /* certificate name in the PKI directory, "" for none */
        SSL_CTX *ctx;
    } identities[AUTHZ_MAX_IDENTITIES];
};

/* xorshift64*: small, fast, and the same sequence for the same seed. */
static inline uint64_t authz_random(struct authz *a)
{
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 2685821657736338717ULL;
}

static inline uint64_t authz_below(struct authz *a, uint64_t n)
{
    return n == 0 ? 0 : authz_random(a) % n;
}

/* The client context presenting certificate name (NULL or "": none), made
 * on first use; NULL after printing why. lcb_authz.c. */
SSL_CTX *authz_identity(struct authz *a, const char *name);

#endif
