/* The ledger: turns certified outcomes into signed, chained, double-entry
 * transactions, exactly once per idempotency key. Postings that arrive
 * together are committed together (group commit) and acknowledged only
 * after COMMIT returned, with synchronous_commit on. Knows nothing of HTTP
 * or LCBP: listeners translate their requests into ledger_outcome items. */
#ifndef LCBD_LEDGER_H
#define LCBD_LEDGER_H

#include "daemon/app.h"
#include "lib/error.h"
#include "protocol/record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ledger_item_kind { LEDGER_COURSE, LEDGER_CERTIFICATE };

/* One outcome to deposit, already validated for shape by the listener. */
struct ledger_outcome {
    int64_t institution_id; /* the poster, from its credential */
    char idempotency_key[RECORD_KEY_MAX + 1];
    char card[20];      /* "" when learner_id is used */
    int64_t learner_id; /* 0 when card is used */
    enum ledger_item_kind item_kind;
    char item_code[RECORD_CODE_MAX + 1];
    char result[RECORD_RESULT_MAX + 1];
    char completed_on[RECORD_DATE_LEN + 1];
    bool has_evidence;
    uint8_t evidence_sha256[RECORD_HASH_LEN];
};

enum ledger_status { LEDGER_POSTED, LEDGER_DUPLICATE, LEDGER_REJECTED };

struct ledger_result {
    enum ledger_status status;
    char transaction_id[RECORD_UUID_TEXT_LEN + 1];
    char hash_hex[2 * RECORD_HASH_LEN + 1];
    struct lcb_error error; /* when REJECTED */
};

/* results[i] answers items[i]; both arrays belong to the ledger and are
 * valid only during the call. */
typedef void (*ledger_done_cb)(const struct ledger_result *results, size_t n, void *arg);

struct ledger *ledger_new(struct app *app);
/* Answers every queued posting with database_unavailable/shutting_down. */
void ledger_free(struct ledger *ledger);

/* Queues n (>= 1) outcomes; done runs once, from the loop, when every one
 * is posted, found to be a duplicate, or rejected. items are copied. */
void ledger_post_outcomes(struct ledger *ledger, const struct ledger_outcome *items, size_t n,
                          ledger_done_cb done, void *arg);

/* Postings queued or in a transaction not yet committed. */
size_t ledger_pending(const struct ledger *ledger);

#endif
