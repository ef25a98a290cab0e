/* lcb-authz's attempts over HTTPS by callers the bank knows, outside their
 * rights: administrators and auditors outside their subtree, schools
 * posting another's catalogue or reading another's totals, and roles a
 * route does not allow. One keep-alive connection per certificate, as a
 * real client would hold it. */
#ifndef LCB_BENCH_AUTHZ_HTTPS_H
#define LCB_BENCH_AUTHZ_HTTPS_H

#include "bench/authz.h"

struct https_attacks;

struct https_attacks *https_attacks_new(struct authz *a);
void https_attacks_free(struct https_attacks *h);

/* One request of kind ATTACK_WRONG_ROLE_HTTPS, ATTACK_SCHOOL_FOREIGN,
 * ATTACK_INSTITUTION_SCOPE, ATTACK_ADMIN_SUBTREE or ATTACK_AUDITOR_SUBTREE
 * (a batch of outcomes counts one attempt per outcome); records it. */
void https_attack(struct https_attacks *h, enum attack_kind kind);

#endif
