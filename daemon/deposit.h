/* A deposit's SQL conversation, without the I/O: the parameters of
 * lcb_prepare_deposit() and lcb_append() (sql/002_functions.sql), and the
 * signed record built from what prepare returned. Used by ledger.c. */
#ifndef LCBD_DEPOSIT_H
#define LCBD_DEPOSIT_H

#include "daemon/ledger.h"
#include "daemon/signer.h"
#include "protocol/record.h"

#include <libpq-fe.h>

#define DEPOSIT_PREPARE_SQL "SELECT * FROM lcb_prepare_deposit($1, $2, $3, $4, $5, $6, $7)"
#define DEPOSIT_PREPARE_NPARAMS 7
#define DEPOSIT_APPEND_SQL                                                                        \
    "SELECT lcb_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, " \
    "$17, $18, $19, $20, $21)"
#define DEPOSIT_APPEND_NPARAMS 21

/* Text parameters for one statement; values[i] point into storage. */
struct deposit_params {
    const char *values[DEPOSIT_APPEND_NPARAMS];
    char storage[3 * RECORD_MAX_ENCODED];
    size_t used;
};

/* A transaction ready to append: the record, its hash and signature. */
struct deposit_signed {
    struct record record;
    uint8_t hash[RECORD_HASH_LEN];
    uint8_t signature[64];
};

/* What prepare decided for an outcome. */
enum deposit_verdict { DEPOSIT_APPEND, DEPOSIT_DUPLICATE, DEPOSIT_REFUSED };

/* SHA-256 over the outcome's content (not its key): a replay with the same
 * key must carry the same digest. */
void deposit_digest(const struct ledger_outcome *outcome, uint8_t digest[RECORD_HASH_LEN]);

void deposit_prepare_params(const struct ledger_outcome *outcome,
                            const uint8_t digest[RECORD_HASH_LEN], struct deposit_params *params);

/* Reads prepare's one row. On DEPOSIT_APPEND fills signed (and result with
 * the new transaction's id and hash); on DUPLICATE fills result with the original transaction; on
 * REFUSED fills result->error. Returns -1 when the row is not what
 * sql/ promises (then err says why). */
int deposit_read_prepared(const PGresult *res, const struct ledger_outcome *outcome,
                          struct signer *signer, enum deposit_verdict *verdict,
                          struct deposit_signed *signed_tx, struct ledger_result *result,
                          struct lcb_error *err);

void deposit_append_params(const struct deposit_signed *signed_tx,
                           const uint8_t digest[RECORD_HASH_LEN], struct deposit_params *params);

#endif
