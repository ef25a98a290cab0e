/* Reading lcb_prepared rows and building the records they describe; see
 * posting.h.
 * Never decides authority itself: ownership, card status and idempotency
 * are settled by the lcb_prepare_* functions under the chain's row lock. */
#include "daemon/posting.h"

#include "lib/crypto.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Column order of the lcb_prepared type (sql/002_functions.sql). */
enum {
    COL_ERROR_CODE, COL_ERROR_MESSAGE, COL_DUPLICATE_ID, COL_DUPLICATE_HASH, COL_CHAIN_ACCOUNT,
    COL_HEAD_SEQ, COL_HEAD_HASH, COL_KIND, COL_ITEM_CODE, COL_RESULT, COL_COMPLETED_ON,
    COL_EVIDENCE, COL_REVERSES, COL_REASON, COL_ACCOUNTS, COL_UNITS, COL_AMOUNTS, PREPARED_COLUMNS
};

static const char *params_add(struct posting_params *params, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *params_add(struct posting_params *params, const char *fmt, ...)
{
    char *at = params->storage + params->used;
    size_t room = sizeof params->storage - params->used;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        abort(); /* storage is sized for the largest valid record */
    params->used += (size_t)n + 1;
    return at;
}

static const char *params_bytea(struct posting_params *params, const uint8_t *bytes, size_t len)
{
    char hex[2 * 64 + 1];
    crypto_hex_encode(bytes, len, hex);
    return params_add(params, "\\x%s", hex);
}

static int column_bytea(const PGresult *res, int row, int col, uint8_t *out, size_t len)
{
    const char *text = PQgetvalue(res, row, col);
    if (strncmp(text, "\\x", 2) != 0 || strlen(text) != 2 + 2 * len)
        return -1;
    return crypto_hex_decode(text + 2, out, len);
}

static int column_text(const PGresult *res, int row, int col, char *out, size_t cap)
{
    const char *text = PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
    if (strlen(text) >= cap)
        return -1;
    memcpy(out, text, strlen(text) + 1);
    return 0;
}

/* Splits a PostgreSQL array literal of plain elements ("{a,b}"): entries
 * are integers and unit codes, which PostgreSQL never quotes. */
static int array_items(const char *literal, char items[][24], size_t max, size_t *n)
{
    size_t len = strlen(literal);
    *n = 0;
    if (len < 2 || literal[0] != '{' || literal[len - 1] != '}')
        return -1;
    const char *p = literal + 1;
    while (*p != '}') {
        size_t item = strcspn(p, ",}");
        if (*n == max || item == 0 || item >= 24)
            return -1;
        memcpy(items[*n], p, item);
        items[(*n)++][item] = '\0';
        p += item;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int read_entries(const PGresult *res, int row, struct record *r, struct lcb_error *err)
{
    char accounts[RECORD_MAX_ENTRIES][24], units[RECORD_MAX_ENTRIES][24],
        amounts[RECORD_MAX_ENTRIES][24];
    size_t na, nu, nm;
    if (array_items(PQgetvalue(res, row, COL_ACCOUNTS), accounts, RECORD_MAX_ENTRIES, &na) != 0 ||
        array_items(PQgetvalue(res, row, COL_UNITS), units, RECORD_MAX_ENTRIES, &nu) != 0 ||
        array_items(PQgetvalue(res, row, COL_AMOUNTS), amounts, RECORD_MAX_ENTRIES, &nm) != 0 ||
        na != nu || na != nm || na == 0)
        return lcb_error_set(err, "internal_error", "a prepared posting has malformed entries");
    r->n_entries = na;
    for (size_t i = 0; i < na; i++) {
        r->entries[i].account_id = strtoll(accounts[i], NULL, 10);
        r->entries[i].amount = strtoll(amounts[i], NULL, 10);
        if (strlen(units[i]) > RECORD_UNIT_MAX)
            return lcb_error_set(err, "internal_error", "a prepared posting has a bad unit");
        memcpy(r->entries[i].unit, units[i], strlen(units[i]) + 1);
    }
    return 0;
}

/* A UUID version 7 (RFC 9562): the record's time in milliseconds, then
 * random bits. Ids in time order put every new key of transactions_pkey and
 * entries_pkey at the right edge of the index; random ids put each at a
 * random page of an index that outgrows the buffer cache as the ledger
 * grows, and every posting then read pages in and wrote others out. */
static void new_transaction_id(int64_t created_at_us, uint8_t id[RECORD_ID_LEN])
{
    if (RAND_bytes(id, RECORD_ID_LEN) != 1)
        abort();
    uint64_t ms = (uint64_t)(created_at_us / 1000);
    for (int i = 0; i < 6; i++)
        id[i] = (uint8_t)(ms >> (40 - 8 * i));
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x70);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

static int build_record(const PGresult *res, int row, const struct ledger_request *request,
                        const char *key_id, struct record *r, struct lcb_error *err)
{
    memset(r, 0, sizeof *r);
    if (record_kind_parse(PQgetvalue(res, row, COL_KIND), &r->kind) != 0)
        return lcb_error_set(err, "internal_error", "a prepared posting has no kind");
    r->chain_account_id = strtoll(PQgetvalue(res, row, COL_CHAIN_ACCOUNT), NULL, 10);
    r->chain_seq = strtoll(PQgetvalue(res, row, COL_HEAD_SEQ), NULL, 10) + 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r->created_at_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    new_transaction_id(r->created_at_us, r->id);
    r->institution_id = request->institution_id;
    snprintf(r->idempotency_key, sizeof r->idempotency_key, "%s", request->idempotency_key);
    snprintf(r->key_id, sizeof r->key_id, "%s", key_id);
    if (column_text(res, row, COL_ITEM_CODE, r->item_code, sizeof r->item_code) != 0 ||
        column_text(res, row, COL_RESULT, r->result, sizeof r->result) != 0 ||
        column_text(res, row, COL_COMPLETED_ON, r->completed_on, sizeof r->completed_on) != 0 ||
        column_text(res, row, COL_REASON, r->reason, sizeof r->reason) != 0 ||
        column_bytea(res, row, COL_HEAD_HASH, r->prev_hash, RECORD_HASH_LEN) != 0)
        return lcb_error_set(err, "internal_error", "a prepared posting has a bad field");
    r->has_evidence = !PQgetisnull(res, row, COL_EVIDENCE);
    if (r->has_evidence && column_bytea(res, row, COL_EVIDENCE, r->evidence_sha256, RECORD_HASH_LEN) != 0)
        return lcb_error_set(err, "internal_error", "a prepared posting has bad evidence");
    r->has_reverses = !PQgetisnull(res, row, COL_REVERSES);
    if (r->has_reverses && record_uuid_parse(PQgetvalue(res, row, COL_REVERSES), r->reverses) != 0)
        return lcb_error_set(err, "internal_error", "a prepared posting reverses a bad id");
    return read_entries(res, row, r, err);
}

static int read_duplicate(const PGresult *res, int row, struct ledger_result *result,
                          struct lcb_error *err)
{
    uint8_t hash[RECORD_HASH_LEN];
    if (column_bytea(res, row, COL_DUPLICATE_HASH, hash, sizeof hash) != 0)
        return lcb_error_set(err, "internal_error", "bad stored hash");
    result->status = LEDGER_DUPLICATE;
    snprintf(result->transaction_id, sizeof result->transaction_id, "%s",
             PQgetvalue(res, row, COL_DUPLICATE_ID));
    crypto_hex_encode(hash, sizeof hash, result->hash_hex);
    return 0;
}

int posting_read_prepared(const PGresult *res, int row, const struct ledger_request *request,
                          const char *key_id, enum posting_verdict *verdict,
                          struct posting_signed *signed_tx, struct ledger_result *result,
                          struct lcb_error *err)
{
    memset(result, 0, sizeof *result);
    if (row < 0 || row >= PQntuples(res) || PQnfields(res) != PREPARED_COLUMNS)
        return lcb_error_set(err, "internal_error", "a prepare function returned an unexpected shape");
    if (!PQgetisnull(res, row, COL_ERROR_CODE)) {
        *verdict = POSTING_REFUSED;
        result->status = LEDGER_REJECTED;
        lcb_error_set(&result->error, PQgetvalue(res, row, COL_ERROR_CODE), "%s",
                      PQgetvalue(res, row, COL_ERROR_MESSAGE));
        return 0;
    }
    if (!PQgetisnull(res, row, COL_DUPLICATE_ID)) {
        *verdict = POSTING_DUPLICATE;
        return read_duplicate(res, row, result, err);
    }
    struct record *r = &signed_tx->record;
    if (build_record(res, row, request, key_id, r, err) != 0 ||
        record_check_balanced(r, err) != 0 || record_hash(r, signed_tx->hash, err) != 0)
        return -1;
    *verdict = POSTING_APPEND;
    result->status = LEDGER_POSTED;
    record_uuid_format(r->id, result->transaction_id);
    crypto_hex_encode(signed_tx->hash, RECORD_HASH_LEN, result->hash_hex);
    return 0;
}

static const char *array_literal(struct posting_params *params, const struct record *r, int which)
{
    char text[RECORD_MAX_ENTRIES * 24 + 2] = "{";
    for (size_t i = 0; i < r->n_entries; i++) {
        size_t used = strlen(text);
        const char *sep = i + 1 < r->n_entries ? "," : "";
        if (which == 0)
            snprintf(text + used, sizeof text - used, "%lld%s", (long long)r->entries[i].account_id, sep);
        else if (which == 1)
            snprintf(text + used, sizeof text - used, "%s%s", r->entries[i].unit, sep);
        else
            snprintf(text + used, sizeof text - used, "%lld%s", (long long)r->entries[i].amount, sep);
    }
    return params_add(params, "%s}", text);
}

void posting_append_params(const struct posting_signed *signed_tx,
                           const uint8_t digest[RECORD_HASH_LEN], struct posting_params *params)
{
    const struct record *r = &signed_tx->record;
    char uuid[RECORD_UUID_TEXT_LEN + 1], reverses[RECORD_UUID_TEXT_LEN + 1];
    record_uuid_format(r->id, uuid);
    record_uuid_format(r->reverses, reverses);
    params->used = 0;
    const char **v = params->values;
    v[0] = params_add(params, "%s", uuid);
    v[1] = record_kind_name(r->kind);
    v[2] = params_add(params, "%lld", (long long)r->chain_account_id);
    v[3] = params_add(params, "%lld", (long long)r->chain_seq);
    v[4] = params_bytea(params, r->prev_hash, RECORD_HASH_LEN);
    v[5] = params_add(params, "%lld", (long long)r->created_at_us);
    v[6] = params_add(params, "%lld", (long long)r->institution_id);
    v[7] = r->idempotency_key;
    v[8] = params_bytea(params, digest, RECORD_HASH_LEN);
    v[9] = r->item_code;
    v[10] = r->result;
    v[11] = r->completed_on[0] ? r->completed_on : NULL;
    v[12] = r->has_evidence ? params_bytea(params, r->evidence_sha256, RECORD_HASH_LEN) : NULL;
    v[13] = r->has_reverses ? params_add(params, "%s", reverses) : NULL;
    v[14] = r->reason;
    v[15] = params_bytea(params, signed_tx->hash, RECORD_HASH_LEN);
    v[16] = r->key_id;
    v[17] = params_bytea(params, signed_tx->signature, 64);
    v[18] = array_literal(params, r, 0);
    v[19] = array_literal(params, r, 1);
    v[20] = array_literal(params, r, 2);
}
