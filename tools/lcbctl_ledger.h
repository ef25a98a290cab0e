/* The ledger as lcbctl verify reads it: the query that streams transactions
 * joined with their entries, and the rebuilding of a struct record (plus its
 * stored hash and signature) from those rows. Reads only; judges nothing
 * beyond whether a row fits a record at all. */
#ifndef LCBCTL_LEDGER_H
#define LCBCTL_LEDGER_H

#include "lib/crypto.h"
#include "lib/error.h"
#include "protocol/record.h"

#include <libpq-fe.h>

/* Declares the cursor "ledger" (inside a transaction): one row per entry (one
 * with NULL entry columns for a transaction that has none), ordered by
 * chain_account_id, chain_seq, entry position. */
extern const char lcbctl_ledger_declare[];

/* What the database stores beside the record's own fields. */
struct lcbctl_ledger_stored {
    char id_text[RECORD_UUID_TEXT_LEN + 1];
    uint8_t hash[CRYPTO_HASH_LEN];
    uint8_t signature[CRYPTO_SIG_LEN];
    int last_position; /* of the entries added so far; -1 before the first */
};

/* The transaction id text of row, to tell where one transaction ends. */
const char *lcbctl_ledger_row_id(const PGresult *res, int row);

/* Fills r and stored from the transaction columns of row. -1 with err
 * ("malformed", message saying which column) when a value cannot be part of
 * a record (too long, not hex, unknown kind). */
int lcbctl_ledger_begin(const PGresult *res, int row, struct record *r,
                        struct lcbctl_ledger_stored *stored, struct lcb_error *err);

/* Appends the entry columns of row to r, if the row has an entry. -1 with err
 * "malformed" on a gap in positions, too many entries or an overlong unit. */
int lcbctl_ledger_add_entry(const PGresult *res, int row, struct record *r,
                            struct lcbctl_ledger_stored *stored, struct lcb_error *err);

#endif
