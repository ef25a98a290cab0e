/* One posting's SQL conversation, without the I/O: reading what an
 * lcb_prepare_* function answered (the lcb_prepared row type of sql/),
 * building the record and its hash, and the parameters of lcb_append().
 * Used by ledger.c, and by sign_worker.c for the records it signs. */
#ifndef LCBD_POSTING_H
#define LCBD_POSTING_H

#include "daemon/ledger.h"
#include "protocol/record.h"

#include <libpq-fe.h>

#define POSTING_APPEND_SQL                                                                        \
    "SELECT lcb_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, " \
    "$17, $18, $19, $20, $21)"
#define POSTING_APPEND_NPARAMS 21

struct posting_params {
    const char *values[POSTING_APPEND_NPARAMS];
    char storage[4 * RECORD_MAX_ENCODED];
    size_t used;
};

/* A transaction ready to append: the record, its hash and signature. */
struct posting_signed {
    struct record record;
    uint8_t hash[RECORD_HASH_LEN];
    uint8_t signature[64];
};

enum posting_verdict { POSTING_APPEND, POSTING_DUPLICATE, POSTING_REFUSED };

/* Reads row `row` of what prepare answered. On POSTING_APPEND fills signed_tx's
 * record (under key_id) and hash, not its signature, which the caller makes
 * (signer_sign, or sign_worker.h), and result with the new transaction's id
 * and hash; on DUPLICATE fills result with the original; on REFUSED fills
 * result->error. Returns -1 with err when the row is not what sql/
 * promises. */
int posting_read_prepared(const PGresult *res, int row, const struct ledger_request *request,
                          const char *key_id, enum posting_verdict *verdict,
                          struct posting_signed *signed_tx, struct ledger_result *result,
                          struct lcb_error *err);

void posting_append_params(const struct posting_signed *signed_tx,
                           const uint8_t digest[RECORD_HASH_LEN], struct posting_params *params);

#endif
