/* The ledger: turns postings into signed, chained, double-entry
 * transactions, exactly once per idempotency key. Postings that arrive
 * together are committed together (group commit) and acknowledged only
 * after COMMIT returned, with synchronous_commit on.
 *
 * What a posting means is decided in SQL by its lcb_prepare_* function
 * (sql/), which answers a refusal, the original of a replay, or the entries
 * to append; the ledger signs, chains and commits. It knows nothing of HTTP
 * or LCBP, nor of deposits or conversions: see deposit.h for a builder. */
#ifndef LCBD_LEDGER_H
#define LCBD_LEDGER_H

#include "daemon/app.h"
#include "lib/error.h"
#include "protocol/record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEDGER_MAX_PARAMS 12

struct ledger_request {
    /* Orders the row locks a group takes (the learner or card the posting
     * extends), so concurrent groups never wait for each other in a cycle. */
    char lock_key[48];
    /* "SELECT * FROM lcb_prepare_...($1, ...)": a static string. */
    const char *prepare_sql;
    /* The same prepare for a whole commit group in one statement, or NULL
     * for kinds that must be prepared one at a time: takes parameter k of
     * every posting as one array and answers one row per posting, in
     * order. Postings with a batch_sql are grouped with distinct lock keys
     * only, since none of them sees the others' appends. */
    const char *batch_sql;
    int nparams;
    /* Text parameters of prepare_sql (NULL is SQL NULL), malloc'd; the
     * ledger frees them once the posting is answered. */
    char *params[LEDGER_MAX_PARAMS];
    int64_t institution_id; /* who posts: recorded in the transaction */
    char idempotency_key[RECORD_KEY_MAX + 1];
    uint8_t digest[RECORD_HASH_LEN]; /* of the content; a replay must match */
};

enum ledger_status { LEDGER_POSTED, LEDGER_DUPLICATE, LEDGER_REJECTED };

struct ledger_result {
    enum ledger_status status;
    char transaction_id[RECORD_UUID_TEXT_LEN + 1];
    char hash_hex[2 * RECORD_HASH_LEN + 1];
    struct lcb_error error; /* when REJECTED */
};

/* results[i] answers requests[i]; valid only during the call. */
typedef void (*ledger_done_cb)(const struct ledger_result *results, size_t n, void *arg);

/* The request digest of a posting: SHA-256 over its content fields, each
 * length-prefixed so that no two field lists collide. The first field names
 * the kind and its version ("lcb-deposit-v1"). A replay must match it. */
void ledger_digest(const char *const *fields, size_t n, uint8_t digest[RECORD_HASH_LEN]);

struct ledger *ledger_new(struct app *app);
/* Answers every queued posting with shutting_down. */
void ledger_free(struct ledger *ledger);

/* Queues n (>= 1) postings; done runs once, from the loop, when every one
 * is posted, found to be a duplicate, or rejected. The request structs are
 * copied; their params now belong to the ledger. */
void ledger_submit(struct ledger *ledger, const struct ledger_request *requests, size_t n,
                   ledger_done_cb done, void *arg);

/* Postings queued or in a transaction not yet committed. */
size_t ledger_pending(const struct ledger *ledger);

#endif
