/* The well-behaved terminals of bench/lcb-hostile: one thread each, with
 * the blocking LCBP client (tools/lcbp_client.c), tapping their own cards
 * in and out of a session, asking balances and pinging at a steady pace,
 * and now and then opening a fresh connection, while the attack runs. They time every
 * request by phase (before, during and after the attack) and count every
 * error; they must see none. */
#ifndef LCB_BENCH_HOSTILE_GOOD_H
#define LCB_BENCH_HOSTILE_GOOD_H

#include "bench/post_hist.h"
#include "lib/error.h"
#include "protocol/lcbp.h"

#include <stddef.h>
#include <stdint.h>

#define GOOD_MAX_TERMINALS 16
#define GOOD_MAX_CARDS 64

struct hostile_good_opts {
    const char *addr;        /* host:port of the LCBP listener */
    const char *ca;          /* the bank's CA */
    const char *certs[GOOD_MAX_TERMINALS]; /* PREFIX of PREFIX.crt, PREFIX.key */
    size_t n_terminals;
    char cards[GOOD_MAX_CARDS][LCBP_CARD_LEN + 1]; /* terminal i taps cards i, i+n, ... */
    size_t n_cards;
    const char *session; /* a session of the terminals' centre */
    unsigned interval_ms;     /* between one terminal's requests */
    unsigned reconnect_every; /* requests per connection */
};

enum hostile_good_phase { GOOD_BEFORE, GOOD_ATTACK, GOOD_AFTER, GOOD_PHASES };

/* What the requests wait for: a commit (TAP), a read (BALANCE), only
 * lcbd's loop (PING). */
enum hostile_good_op { GOOD_TAP, GOOD_BALANCE, GOOD_PING, GOOD_OPS };

struct hostile_good_figures {
    struct post_hist latency_us[GOOD_PHASES]; /* request sent to answer read */
    uint64_t requests[GOOD_PHASES];
    uint64_t errors[GOOD_PHASES]; /* ERROR answers, transport failures, failed connects */
    struct post_hist attack_us[GOOD_OPS]; /* during the attack, by request */
    struct post_hist connect_us; /* TCP, TLS and HELLO of a fresh connection */
    uint64_t taps_applied;       /* TAP_OK, status applied */
    uint64_t checkouts;          /* of those, check-outs: one transaction each */
    uint64_t deposits;           /* of those, with credits deposited */
    char first_error[240];
};

struct hostile_good;

/* Starts the terminals; returns once each has had HELLO_OK (phase
 * GOOD_BEFORE), or NULL with err when one could not connect. */
struct hostile_good *hostile_good_start(const struct hostile_good_opts *o, struct lcb_error *err);

/* Requests sent from now on count in phase. Any thread may call it. */
void hostile_good_phase(struct hostile_good *g, enum hostile_good_phase phase);

/* Stops and joins the terminals, adds up their figures into out and frees g. */
void hostile_good_stop(struct hostile_good *g, struct hostile_good_figures *out);

#endif
