/* Rebuilding ledger records from the rows of lcbctl_ledger_query; see
 * lcbctl_ledger.h. Every column is copied with a length check: a tampered
 * row must be reported, never overflow a struct record. */
#include "tools/lcbctl_ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum column {
    COL_ID,
    COL_KIND,
    COL_CHAIN_ACCOUNT,
    COL_CHAIN_SEQ,
    COL_PREV_HASH,
    COL_CREATED_US,
    COL_INSTITUTION,
    COL_IDEMPOTENCY_KEY,
    COL_ITEM_CODE,
    COL_RESULT,
    COL_COMPLETED_ON,
    COL_EVIDENCE,
    COL_REVERSES,
    COL_REASON,
    COL_HASH,
    COL_KEY_ID,
    COL_SIGNATURE,
    COL_POSITION,
    COL_ENTRY_ACCOUNT,
    COL_ENTRY_UNIT,
    COL_ENTRY_AMOUNT,
};

/* The column order above is the select list here. Times and dates are
 * rendered by the server in forms that do not depend on its settings. */
const char lcbctl_ledger_declare[] =
    "DECLARE ledger NO SCROLL CURSOR FOR SELECT t.id::text, t.kind, t.chain_account_id, "
    "t.chain_seq, encode(t.prev_hash, 'hex'),"
    " (extract(epoch FROM t.created_at) * 1000000)::bigint, t.institution_id,"
    " t.idempotency_key, t.item_code, t.result,"
    " coalesce(to_char(t.completed_on, 'YYYY-MM-DD'), ''), encode(t.evidence_sha256, 'hex'),"
    " t.reverses::text, t.reason, encode(t.hash, 'hex'), t.key_id, encode(t.signature, 'hex'),"
    " e.position, e.account_id, e.unit, e.amount"
    " FROM transactions t LEFT JOIN entries e ON e.transaction_id = t.id"
    " ORDER BY t.chain_account_id, t.chain_seq, t.id, e.position";

const char *lcbctl_ledger_row_id(const PGresult *res, int row)
{
    return PQgetvalue(res, row, COL_ID);
}

static int malformed(struct lcb_error *err, const char *column, const char *why)
{
    return lcb_error_set(err, "malformed", "column %s %s", column, why);
}

static int copy_text(const PGresult *res, int row, int col, char *out, size_t cap,
                     const char *column, struct lcb_error *err)
{
    const char *value = PQgetvalue(res, row, col);
    if ((size_t)PQgetlength(res, row, col) >= cap)
        return malformed(err, column, "is longer than a record allows");
    memcpy(out, value, (size_t)PQgetlength(res, row, col) + 1);
    return 0;
}

static int copy_hex(const PGresult *res, int row, int col, uint8_t *out, size_t len,
                    const char *column, struct lcb_error *err)
{
    if ((size_t)PQgetlength(res, row, col) != 2 * len ||
        crypto_hex_decode(PQgetvalue(res, row, col), out, len) != 0)
        return malformed(err, column, "has the wrong length");
    return 0;
}

static int64_t int_at(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int begin_optional(const PGresult *res, int row, struct record *r, struct lcb_error *err)
{
    r->has_evidence = !PQgetisnull(res, row, COL_EVIDENCE);
    if (r->has_evidence && copy_hex(res, row, COL_EVIDENCE, r->evidence_sha256,
                                    sizeof r->evidence_sha256, "evidence_sha256", err) != 0)
        return -1;
    r->has_reverses = !PQgetisnull(res, row, COL_REVERSES);
    if (r->has_reverses && record_uuid_parse(PQgetvalue(res, row, COL_REVERSES), r->reverses) != 0)
        return malformed(err, "reverses", "is not a UUID");
    return 0;
}

int lcbctl_ledger_begin(const PGresult *res, int row, struct record *r,
                        struct lcbctl_ledger_stored *stored, struct lcb_error *err)
{
    memset(r, 0, sizeof *r);
    memset(stored, 0, sizeof *stored);
    stored->last_position = -1;
    snprintf(stored->id_text, sizeof stored->id_text, "%s", PQgetvalue(res, row, COL_ID));
    /* the chain position first: a failure below is reported with it */
    r->chain_account_id = int_at(res, row, COL_CHAIN_ACCOUNT);
    r->chain_seq = int_at(res, row, COL_CHAIN_SEQ);
    r->created_at_us = int_at(res, row, COL_CREATED_US);
    r->institution_id = int_at(res, row, COL_INSTITUTION);
    if (record_uuid_parse(stored->id_text, r->id) != 0)
        return malformed(err, "id", "is not a UUID");
    if (record_kind_parse(PQgetvalue(res, row, COL_KIND), &r->kind) != 0)
        return malformed(err, "kind", "is not a transaction kind");
    if (copy_hex(res, row, COL_PREV_HASH, r->prev_hash, sizeof r->prev_hash, "prev_hash", err) ||
        copy_text(res, row, COL_IDEMPOTENCY_KEY, r->idempotency_key, sizeof r->idempotency_key,
                  "idempotency_key", err) ||
        copy_text(res, row, COL_ITEM_CODE, r->item_code, sizeof r->item_code, "item_code", err) ||
        copy_text(res, row, COL_RESULT, r->result, sizeof r->result, "result", err) ||
        copy_text(res, row, COL_COMPLETED_ON, r->completed_on, sizeof r->completed_on,
                  "completed_on", err) ||
        copy_text(res, row, COL_REASON, r->reason, sizeof r->reason, "reason", err) ||
        copy_text(res, row, COL_KEY_ID, r->key_id, sizeof r->key_id, "key_id", err) ||
        copy_hex(res, row, COL_HASH, stored->hash, sizeof stored->hash, "hash", err) ||
        copy_hex(res, row, COL_SIGNATURE, stored->signature, sizeof stored->signature, "signature",
                 err))
        return -1;
    return begin_optional(res, row, r, err);
}

int lcbctl_ledger_add_entry(const PGresult *res, int row, struct record *r,
                            struct lcbctl_ledger_stored *stored, struct lcb_error *err)
{
    if (PQgetisnull(res, row, COL_POSITION))
        return 0; /* a transaction without entries: record_encode will say so */
    int position = (int)int_at(res, row, COL_POSITION);
    if (position != stored->last_position + 1 && stored->last_position < 0)
        return lcb_error_set(err, "malformed",
                             "the entries start at position %d, not 0 (an entry is missing)",
                             position);
    if (position != stored->last_position + 1)
        return lcb_error_set(err, "malformed", "entry position %d follows %d (an entry is missing)",
                             position, stored->last_position);
    if (r->n_entries == RECORD_MAX_ENTRIES)
        return lcb_error_set(err, "malformed", "more than %d entries", RECORD_MAX_ENTRIES);
    struct record_entry *e = &r->entries[r->n_entries];
    if (copy_text(res, row, COL_ENTRY_UNIT, e->unit, sizeof e->unit, "entries.unit", err) != 0)
        return -1;
    e->account_id = int_at(res, row, COL_ENTRY_ACCOUNT);
    e->amount = int_at(res, row, COL_ENTRY_AMOUNT);
    r->n_entries++;
    stored->last_position = position;
    return 0;
}
