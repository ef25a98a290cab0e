/* Revoked and expired client certificates, kept in memory so the terminal
 * listener can fail a TLS handshake synchronously. Refreshed from the
 * credentials table every few seconds, so a revocation reaches every lcbd
 * sharing the database; the per-connection database lookup after the
 * handshake (auth.c) remains the authority. */
#ifndef LCBD_REVOCATIONS_H
#define LCBD_REVOCATIONS_H

#include "daemon/app.h"

#include <stdbool.h>
#include <stdint.h>

#define REVOCATIONS_REFRESH_S 5

struct revocations;

/* Starts the periodic refresh (the first one at once). */
struct revocations *revocations_new(struct app *app);
/* No further refreshes (graceful shutdown, before the pool drains). */
void revocations_stop(struct revocations *revocations);
void revocations_free(struct revocations *revocations);

enum revocation { REVOCATION_NONE, REVOCATION_REVOKED, REVOCATION_EXPIRED };

/* Whether the certificate was revoked (that wins) or its registration expired. */
enum revocation revocations_check(const struct revocations *revocations,
                                  const uint8_t fingerprint[32]);

#endif
