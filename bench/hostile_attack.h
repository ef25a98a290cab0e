/* The attack of bench/lcb-hostile: hostile connections to lcbd's LCBP
 * listener on one libevent loop, a few dozen sending hostile frames one
 * after another (each answered before the next goes) and a few hundred
 * slow ones held open in parallel, until a number of hostile frames has
 * been sent. Every answer is checked against hostile_oracle and timed. */
#ifndef LCB_BENCH_HOSTILE_ATTACK_H
#define LCB_BENCH_HOSTILE_ATTACK_H

#include "bench/hostile_gen.h"
#include "bench/hostile_stats.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/socket.h>

struct hostile_attack {
    /* Set by the caller before hostile_attack_start; the contexts and the
     * base outlive the attack. */
    struct event_base *base;
    struct sockaddr_storage addr;
    int addr_len;
    char server_name[256];  /* what lcbd's certificate must name */
    SSL_CTX **terminal_ctxs; /* the hostile terminals' certificates */
    size_t n_terminal_ctxs;
    SSL_CTX *no_cert_ctx; /* TLS 1.3 without a client certificate */
    SSL_CTX *tls12_ctx;   /* TLS 1.2 at most, with a certificate */
    struct hostile_material material;
    uint64_t seed;
    uint64_t frames;        /* hostile frames (and slow connections) in all */
    unsigned fast_slots;    /* connections sending frames, at once */
    unsigned slow_slots;    /* slow connections, at once */
    unsigned open_per_conn; /* mean number of open-class frames per connection */
    double deadline_s;      /* lcbd's frame (and handshake) deadline, SPEC.md 7.3 */
    double slack_s;         /* allowed past deadline_s for the slow and transport kinds */
    double close_after_error_s; /* from a closing ERROR to the close */
    void (*on_done)(void *arg); /* every connection finished */
    void *arg;

    /* Kept by the attack. */
    struct hostile_stats stats;
    uint64_t issued; /* frames made so far */
    uint64_t next_serial;
    unsigned fast_active, slow_active;
    bool finished; /* on_done was called */
    uint8_t frame[HOSTILE_MAX_SHOT];
};

/* Opens the first connections; the loop does the rest. */
void hostile_attack_start(struct hostile_attack *a);

#endif
