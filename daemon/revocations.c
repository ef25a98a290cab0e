/* The revocation set; see revocations.h. Never blocks: the refresh is one
 * db_run statement, and a failed refresh keeps the previous set. */
#include "daemon/revocations.h"

#include "daemon/db.h"
#include "daemon/log.h"
#include "lib/crypto.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct refused {
    uint8_t fingerprint[32]; /* first: bsearch compares it with a bare fingerprint */
    bool expired;            /* not revoked, but its registration expired */
};

struct revocations {
    struct app *app;
    struct event *timer;
    bool refreshing;
    bool stopped;
    struct refused *fingerprints; /* sorted, for bsearch */
    size_t n;
};

static const char refresh_sql[] =
    "SELECT encode(fingerprint, 'hex'), revoked_at IS NULL FROM credentials "
    "WHERE revoked_at IS NOT NULL OR not_after < now() ORDER BY fingerprint";

static int compare_fingerprints(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static void arm(struct revocations *r)
{
    struct timeval every = {REVOCATIONS_REFRESH_S, 0};
    evtimer_add(r->timer, &every);
}

static void on_refreshed(const PGresult *res, void *arg)
{
    struct revocations *r = arg;
    r->refreshing = false;
    if (r->timer == NULL) { /* freed while the statement ran */
        free(r);
        return;
    }
    if (!r->stopped)
        arm(r);
    if (!db_result_ok(res))
        return;
    size_t n = (size_t)PQntuples(res);
    struct refused *fresh = calloc(n ? n : 1, sizeof *fresh);
    if (fresh == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (crypto_hex_decode(PQgetvalue(res, (int)i, 0), fresh[i].fingerprint, 32) != 0)
            memset(fresh[i].fingerprint, 0, 32);
        fresh[i].expired = strcmp(PQgetvalue(res, (int)i, 1), "t") == 0;
    }
    qsort(fresh, n, sizeof *fresh, compare_fingerprints);
    free(r->fingerprints);
    r->fingerprints = fresh;
    r->n = n;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct revocations *r = arg;
    r->refreshing = true;
    db_run(r->app->db, refresh_sql, 0, NULL, on_refreshed, r);
}

struct revocations *revocations_new(struct app *app)
{
    struct revocations *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->app = app;
    r->timer = evtimer_new(app->base, on_timer, r);
    if (r->timer == NULL) {
        free(r);
        return NULL;
    }
    on_timer(-1, 0, r);
    return r;
}

void revocations_stop(struct revocations *r)
{
    if (r != NULL && r->timer != NULL) {
        r->stopped = true;
        event_del(r->timer);
    }
}

void revocations_free(struct revocations *r)
{
    if (r == NULL)
        return;
    event_free(r->timer);
    r->timer = NULL;
    free(r->fingerprints);
    r->fingerprints = NULL;
    r->n = 0;
    if (!r->refreshing)
        free(r);
}

enum revocation revocations_check(const struct revocations *r, const uint8_t fingerprint[32])
{
    const struct refused *found =
        r->n > 0 ? bsearch(fingerprint, r->fingerprints, r->n, sizeof *r->fingerprints,
                           compare_fingerprints)
                 : NULL;
    if (found == NULL)
        return REVOCATION_NONE;
    return found->expired ? REVOCATION_EXPIRED : REVOCATION_REVOKED;
}
