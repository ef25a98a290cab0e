/* The ledger's internals, shared by ledger.c (queue and commit groups) and
 * ledger_settle.c (settling a COMMIT whose outcome is unknown). Not for any
 * other module: the ledger's contract is ledger.h. Everything here runs on
 * the event loop. */
#ifndef LCBD_LEDGER_GROUP_H
#define LCBD_LEDGER_GROUP_H

#include "daemon/app.h"
#include "daemon/db.h"
#include "daemon/ledger.h"
#include "daemon/posting.h"
#include "daemon/sign_worker.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct batch {
    ledger_done_cb done;
    void *arg;
    size_t n, remaining;
    struct ledger_request *items;
    struct ledger_result *results;
};

struct pending {
    struct batch *batch;
    size_t index;
    struct pending *next;
    struct ledger_result tentative; /* answered only once committed */
};

enum group_step {
    STEP_REGISTER_KEY, STEP_BEGIN, STEP_PREPARE, STEP_APPEND, STEP_PREPARE_BATCH, STEP_SIGN_BATCH,
    STEP_APPEND_BATCH, STEP_COMMIT, STEP_ROLLBACK
};

struct group {
    struct ledger *ledger;
    struct db_conn *conn;
    struct pending **members;
    size_t n;
    size_t cursor;     /* member being worked on */
    size_t solo_first; /* in solo mode: first member of the current transaction */
    bool solo;
    int solo_attempts;
    /* Batched: one posting per lock key, prepared and appended together
     * until a failure sends the group solo. batch_signed[i] is member i's
     * signed transaction; appends[0..n_appends) are those the group
     * appends, and digests[i] the request digest of appends[i]. */
    bool batched;
    struct posting_signed *batch_signed;
    struct posting_signed **appends;
    const uint8_t **digests;
    size_t n_appends;
    struct sign_job sign_job;
    enum group_step step;
    struct posting_signed signed_tx;
    struct posting_params params;
    char failure[320]; /* why the transaction is being rolled back */
    /* Settling an ambiguous COMMIT: members [settle_next, cursor) are still
     * to be looked up by key; unknown ones are never acknowledged. */
    size_t settle_next;
    struct event *settle_timer;
    int64_t settle_deadline_ms;
};

struct ledger {
    struct app *app;
    struct pending *queue_head, *queue_tail;
    size_t queued;
    size_t in_groups;
    int groups_in_flight;
    bool key_registered;
    struct sign_worker *signing;
    struct event *kick;
    /* group_commit_wait_ms: armed while postings wait to fill a group
     * beside running ones; when it fires, they start with what there is. */
    struct event *fill_timer;
    bool fill_waited;
};

/* Gives p its answer and frees it; the batch's callback runs once its last
 * posting is answered. */
void ledger_answer(struct pending *p, const struct ledger_result *result);
/* Answers p "not recorded" with code: safe to retry with the same key. */
void ledger_answer_unavailable(struct pending *p, const char *code);
const struct ledger_request *ledger_request_of(const struct pending *p);
/* Frees a finished group (its members already answered or handed back) and
 * lets the next group start. */
void ledger_group_free(struct group *g);

/* The connection broke during g's COMMIT: settles each of its postings by
 * idempotency key before answering it, then frees g. */
void ledger_group_settle(struct group *g);

#endif
