/* Signing commit groups on a thread of lcbd's own, off the event loop.
 *
 * An Ed25519 signature is the largest single part of lcbd's CPU per
 * posting, and a commit group's signatures, made on the loop between its
 * prepare and its append, held up every terminal and every other group for
 * as long as they took. The worker signs one group's transactions while the
 * loop goes on; the group waits, its database transaction open and idle.
 * That wait has no timeout, as the loop's own signing had none: the thread
 * does nothing but sign, and every signature ends.
 *
 * Ownership: between sign_worker_submit and its done callback, the job's
 * transactions belong to the worker, and nothing else may read or write
 * them. The callback runs on the loop's thread, never inside submit. */
#ifndef LCBD_SIGN_WORKER_H
#define LCBD_SIGN_WORKER_H

#include "daemon/posting.h"
#include "daemon/signer.h"
#include "lib/error.h"

#include <event2/event.h>
#include <stddef.h>

struct sign_worker;

/* err is clear when every transaction got its signature; otherwise it says
 * why none can be relied on. */
typedef void (*sign_done_cb)(const struct lcb_error *err, void *arg);

struct sign_job {
    struct posting_signed *const *txs;
    size_t n;
    sign_done_cb done;
    void *arg;
    /* the worker's */
    struct lcb_error err;
    struct sign_job *next;
};

struct sign_worker *sign_worker_new(struct event_base *base, struct signer *signer,
                                    struct lcb_error *err);
/* Stops the thread after the job it is signing, if any; jobs not yet
 * finished are dropped without their callbacks (lcbd is exiting). */
void sign_worker_free(struct sign_worker *worker);

/* Queues job, which must stay valid until its callback. */
void sign_worker_submit(struct sign_worker *worker, struct sign_job *job);

#endif
