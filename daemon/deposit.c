/* A deposit's parameters and signed record; see deposit.h. Never decides
 * authority itself: ownership, card status and idempotency are settled by
 * lcb_prepare_deposit() under the learner account's row lock. */
#include "daemon/deposit.h"

#include "lib/crypto.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *params_add(struct deposit_params *params, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *params_add(struct deposit_params *params, const char *fmt, ...)
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

static const char *params_bytea(struct deposit_params *params, const uint8_t *bytes, size_t len)
{
    char hex[2 * RECORD_MAX_ENCODED + 1];
    crypto_hex_encode(bytes, len, hex);
    return params_add(params, "\\x%s", hex);
}

static void digest_field(EVP_MD_CTX *md, const char *text)
{
    uint32_t len = (uint32_t)strlen(text);
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    EVP_DigestUpdate(md, be, sizeof be);
    EVP_DigestUpdate(md, text, len);
}

void deposit_digest(const struct ledger_outcome *outcome, uint8_t digest[RECORD_HASH_LEN])
{
    char learner[24], evidence[2 * RECORD_HASH_LEN + 1] = "";
    snprintf(learner, sizeof learner, "%lld", (long long)outcome->learner_id);
    if (outcome->has_evidence)
        crypto_hex_encode(outcome->evidence_sha256, RECORD_HASH_LEN, evidence);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort();
    digest_field(md, "lcb-outcome-v1");
    digest_field(md, outcome->card);
    digest_field(md, learner);
    digest_field(md, outcome->item_kind == LEDGER_COURSE ? "course" : "certificate");
    digest_field(md, outcome->item_code);
    digest_field(md, outcome->result);
    digest_field(md, outcome->completed_on);
    digest_field(md, evidence);
    if (EVP_DigestFinal_ex(md, digest, &len) != 1 || len != RECORD_HASH_LEN)
        abort();
    EVP_MD_CTX_free(md);
}

void deposit_prepare_params(const struct ledger_outcome *outcome,
                            const uint8_t digest[RECORD_HASH_LEN], struct deposit_params *params)
{
    params->used = 0;
    params->values[0] = params_add(params, "%lld", (long long)outcome->institution_id);
    params->values[1] = params_add(params, "%s", outcome->idempotency_key);
    params->values[2] = params_bytea(params, digest, RECORD_HASH_LEN);
    params->values[3] = outcome->card[0] ? params_add(params, "%s", outcome->card) : NULL;
    params->values[4] =
        outcome->card[0] ? NULL : params_add(params, "%lld", (long long)outcome->learner_id);
    params->values[5] = params_add(params, "%s", outcome->item_code);
    params->values[6] = outcome->item_kind == LEDGER_COURSE ? "course" : "certificate";
}

static int column_bytea(const PGresult *res, int col, uint8_t *out, size_t len)
{
    const char *text = PQgetvalue(res, 0, col);
    if (strncmp(text, "\\x", 2) != 0 || strlen(text) != 2 + 2 * len)
        return -1;
    return crypto_hex_decode(text + 2, out, len);
}

static int64_t column_int(const PGresult *res, int col)
{
    return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* Column order of lcb_prepare_deposit's OUT parameters. */
enum {
    COL_ERROR_CODE, COL_ERROR_MESSAGE, COL_DUPLICATE_ID, COL_DUPLICATE_HASH, COL_LEARNER_ID,
    COL_LEARNER_ACCOUNT, COL_HEAD_SEQ, COL_HEAD_HASH, COL_INSTITUTION_ACCOUNT, COL_UNIT,
    COL_CREDIT_VALUE, PREPARE_COLUMNS
};

static void build_record(const PGresult *res, const struct ledger_outcome *outcome,
                         const char *key_id, struct record *r)
{
    memset(r, 0, sizeof *r);
    if (RAND_bytes(r->id, RECORD_ID_LEN) != 1)
        abort();
    r->id[6] = (uint8_t)((r->id[6] & 0x0f) | 0x40); /* UUID version 4 */
    r->id[8] = (uint8_t)((r->id[8] & 0x3f) | 0x80);
    r->kind = RECORD_DEPOSIT;
    r->chain_account_id = column_int(res, COL_LEARNER_ACCOUNT);
    r->chain_seq = column_int(res, COL_HEAD_SEQ) + 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r->created_at_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    r->institution_id = outcome->institution_id;
    snprintf(r->idempotency_key, sizeof r->idempotency_key, "%s", outcome->idempotency_key);
    snprintf(r->item_code, sizeof r->item_code, "%s", outcome->item_code);
    snprintf(r->result, sizeof r->result, "%s", outcome->result);
    snprintf(r->completed_on, sizeof r->completed_on, "%s", outcome->completed_on);
    r->has_evidence = outcome->has_evidence;
    memcpy(r->evidence_sha256, outcome->evidence_sha256, RECORD_HASH_LEN);
    snprintf(r->key_id, sizeof r->key_id, "%s", key_id);
    int64_t credits = column_int(res, COL_CREDIT_VALUE);
    r->n_entries = 2;
    r->entries[0].account_id = column_int(res, COL_INSTITUTION_ACCOUNT);
    r->entries[0].amount = -credits;
    r->entries[1].account_id = r->chain_account_id;
    r->entries[1].amount = credits;
    snprintf(r->entries[0].unit, sizeof r->entries[0].unit, "%s", PQgetvalue(res, 0, COL_UNIT));
    memcpy(r->entries[1].unit, r->entries[0].unit, sizeof r->entries[1].unit);
}

int deposit_read_prepared(const PGresult *res, const struct ledger_outcome *outcome,
                          struct signer *signer, enum deposit_verdict *verdict,
                          struct deposit_signed *signed_tx, struct ledger_result *result,
                          struct lcb_error *err)
{
    memset(result, 0, sizeof *result);
    if (PQntuples(res) != 1 || PQnfields(res) != PREPARE_COLUMNS)
        return lcb_error_set(err, "internal_error", "lcb_prepare_deposit returned an unexpected shape");
    if (!PQgetisnull(res, 0, COL_ERROR_CODE)) {
        *verdict = DEPOSIT_REFUSED;
        result->status = LEDGER_REJECTED;
        lcb_error_set(&result->error, PQgetvalue(res, 0, COL_ERROR_CODE), "%s",
                      PQgetvalue(res, 0, COL_ERROR_MESSAGE));
        return 0;
    }
    if (!PQgetisnull(res, 0, COL_DUPLICATE_ID)) {
        uint8_t hash[RECORD_HASH_LEN];
        if (column_bytea(res, COL_DUPLICATE_HASH, hash, sizeof hash) != 0)
            return lcb_error_set(err, "internal_error", "bad stored hash");
        *verdict = DEPOSIT_DUPLICATE;
        result->status = LEDGER_DUPLICATE;
        snprintf(result->transaction_id, sizeof result->transaction_id, "%s",
                 PQgetvalue(res, 0, COL_DUPLICATE_ID));
        crypto_hex_encode(hash, sizeof hash, result->hash_hex);
        return 0;
    }
    struct record *r = &signed_tx->record;
    build_record(res, outcome, signer_key_id(signer), r);
    if (column_bytea(res, COL_HEAD_HASH, r->prev_hash, RECORD_HASH_LEN) != 0)
        return lcb_error_set(err, "internal_error", "bad chain head hash");
    if (record_check_balanced(r, err) != 0 || record_hash(r, signed_tx->hash, err) != 0 ||
        signer_sign(signer, signed_tx->hash, signed_tx->signature, err) != 0)
        return -1;
    *verdict = DEPOSIT_APPEND;
    result->status = LEDGER_POSTED;
    record_uuid_format(r->id, result->transaction_id);
    crypto_hex_encode(signed_tx->hash, RECORD_HASH_LEN, result->hash_hex);
    return 0;
}

void deposit_append_params(const struct deposit_signed *signed_tx,
                           const uint8_t digest[RECORD_HASH_LEN], struct deposit_params *params)
{
    const struct record *r = &signed_tx->record;
    char uuid[RECORD_UUID_TEXT_LEN + 1];
    record_uuid_format(r->id, uuid);
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
    v[13] = NULL; /* reverses: deposits compensate nothing */
    v[14] = r->reason;
    v[15] = params_bytea(params, signed_tx->hash, RECORD_HASH_LEN);
    v[16] = r->key_id;
    v[17] = params_bytea(params, signed_tx->signature, 64);
    char accounts[512] = "{", units[512] = "{", amounts[512] = "{";
    for (size_t i = 0; i < r->n_entries; i++) {
        const char *sep = i + 1 < r->n_entries ? "," : "}";
        size_t a = strlen(accounts), u = strlen(units), m = strlen(amounts);
        snprintf(accounts + a, sizeof accounts - a, "%lld%s", (long long)r->entries[i].account_id, sep);
        snprintf(units + u, sizeof units - u, "%s%s", r->entries[i].unit, sep);
        snprintf(amounts + m, sizeof amounts - m, "%lld%s", (long long)r->entries[i].amount, sep);
    }
    v[18] = params_add(params, "%s", accounts);
    v[19] = params_add(params, "%s", units);
    v[20] = params_add(params, "%s", amounts);
}
