/* Who is calling: looks a verified client certificate's fingerprint up in
 * the credentials table, on every request, so a revocation takes effect at
 * once and several lcbd processes agree. */
#ifndef LCBD_AUTH_H
#define LCBD_AUTH_H

#include "daemon/app.h"
#include "daemon/request.h"

#include <stdint.h>

enum auth_outcome {
    AUTH_OK,
    AUTH_UNKNOWN,     /* signed by our CA but not (or no longer) in credentials */
    AUTH_REVOKED,
    AUTH_EXPIRED,
    AUTH_UNAVAILABLE, /* the database could not answer */
};

/* On AUTH_OK, who is filled. cb runs later on the loop. */
typedef void (*auth_cb)(enum auth_outcome outcome, const struct identity *who, void *arg);

void auth_lookup(struct app *app, const uint8_t fingerprint[32], auth_cb cb, void *arg);

#endif
