/* lcb-authz's attempts to get in with a credential lcbd must not accept,
 * each on a new connection to either listener: no certificate, one of
 * another CA (or of a look-alike CA with the bank CA's very name), an
 * expired one, one whose registration expired, a revoked one, and, on the
 * terminals' listener, certificates that are not terminals'. */
#ifndef LCB_BENCH_AUTHZ_CREDS_H
#define LCB_BENCH_AUTHZ_CREDS_H

#include "bench/authz.h"

/* One connection of kind ATTACK_NO_CERT_*, ATTACK_OTHER_CA_*,
 * ATTACK_EXPIRED_*, ATTACK_LAPSED_*, ATTACK_REVOKED_* or
 * ATTACK_WRONG_ROLE_LCBP; records it. */
void creds_attack(struct authz *a, enum attack_kind kind);

#endif
