/* lcb-authz's attempts over LCBP by registered terminals outside their
 * rights: taps, outcomes and offline uploads for the other centre's
 * courses, sequence numbers used before (so backwards) with other content,
 * taps outside the offline window, and exact replays, which must answer
 * the original result and change nothing. Also the legitimate baseline the
 * replays refer to. Three terminals (TA1, TA2 of AZ-A, TB1 of AZ-B), one
 * connection each, requests pipelined in bursts. */
#ifndef LCB_BENCH_AUTHZ_LCBP_H
#define LCB_BENCH_AUTHZ_LCBP_H

#include "bench/authz.h"

struct lcbp_attacks;

struct lcbp_attacks *lcbp_attacks_new(struct authz *a);
/* Answers what is still in flight first (lcbp_attacks_flush). */
void lcbp_attacks_free(struct lcbp_attacks *l);

/* Each terminal checks three learners in and out of its centre's session
 * hours ago and certifies one outcome; every answer must be applied. Each
 * sequence number is appended to the world file. 0, or -1 after printing. */
int lcbp_baseline(struct lcbp_attacks *l);

/* Queues (and sends) one request of kind ATTACK_TERMINAL_FOREIGN,
 * ATTACK_SEQUENCE_REUSE, ATTACK_OFFLINE_WINDOW or ATTACK_EXACT_REPLAY; an
 * UPLOAD carries up to 20 attempts of these kinds. Answers are read and
 * recorded in bursts. */
void lcbp_attack(struct lcbp_attacks *l, enum attack_kind kind);

/* Attempts queued whose answers were not read yet. */
size_t lcbp_attacks_queued(const struct lcbp_attacks *l);

/* Reads and records every outstanding answer. */
void lcbp_attacks_flush(struct lcbp_attacks *l);

#endif
