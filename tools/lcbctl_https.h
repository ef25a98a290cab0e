/* lcbctl's blocking HTTPS client for the commands that must go through lcbd
 * (conversions and reversals are signed with lcbd's key, which lcbctl never
 * holds): one HTTP/1.1 request per TLS 1.3 connection, with an
 * administrator's client certificate. Never talks to a server that the
 * given CA did not certify for the URL's host. */
#ifndef LCBCTL_HTTPS_H
#define LCBCTL_HTTPS_H

#include "lib/error.h"

#include <stddef.h>

/* Where and as whom: --url/--cert/--key/--ca, else env LCB_URL,
 * LCB_ADMIN_CERT, LCB_ADMIN_KEY, LCB_CA. Borrowed strings. */
struct lcbctl_https_target {
    const char *url; /* https://HOST:PORT */
    const char *cert;
    const char *key;
    const char *ca;
};

/* Fills the unset fields from the environment; -1 with err
 * "invalid_argument" naming what is still missing. */
int lcbctl_https_resolve(struct lcbctl_https_target *target, struct lcb_error *err);

/* Sends method path (with body as application/json when non-NULL) and
 * returns 0 with the HTTP status and the body (malloc'd, NUL-terminated;
 * the caller frees), or -1 with err (connect, TLS, malformed answer). */
int lcbctl_https_request(const struct lcbctl_https_target *target, const char *method,
                         const char *path, const char *body, int *http_status, char **body_out,
                         struct lcb_error *err);

#endif
