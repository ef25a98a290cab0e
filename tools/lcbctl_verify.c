/* lcbctl verify: the tamper detector. Streams the whole ledger in one
 * snapshot, rebuilds every record, and checks hashes, chains, signatures,
 * double entry, chain heads and balances, stopping at the first failure.
 * It only reads; memory stays bounded whatever the ledger's size. */
#include "lib/crypto.h"
#include "protocol/record.h"
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"
#include "tools/lcbctl_file.h"
#include "tools/lcbctl_ledger.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VERIFY_FAILED "verify_failed" /* err code of a finding, as opposed to an error */
#define FETCH_LEDGER "FETCH 1000 FROM ledger"
#define FETCH_HEADS "FETCH 1000 FROM heads"
#define PUBLIC_KEY_MAX_BYTES 65536

struct verify_key {
    char id[CRYPTO_KEY_ID_LEN + 1];
    EVP_PKEY *key;
};

struct verifier {
    PGconn *conn;
    struct verify_key *keys;
    size_t n_keys;
    /* the transaction being assembled from its rows */
    bool have_record;
    struct record record;
    struct lcbctl_ledger_stored stored;
    /* the chain being walked */
    bool in_chain;
    int64_t chain_account;
    int64_t last_seq;
    uint8_t last_hash[CRYPTO_HASH_LEN];
    /* accounts rows, walked in id order beside the chains */
    PGresult *heads;
    int head_row;
    uint64_t n_transactions, n_entries, n_accounts;
};

static int fail_record(struct verifier *v, struct lcb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_record(struct verifier *v, struct lcb_error *err, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lcb_error_set(err, VERIFY_FAILED,
                         "at transaction %s (account %" PRId64 ", seq %" PRId64 "): %s",
                         v->stored.id_text, v->record.chain_account_id, v->record.chain_seq, what);
}

static int add_key(struct verifier *v, EVP_PKEY *key, const char *expected_id,
                   struct lcb_error *err)
{
    struct verify_key *grown = realloc(v->keys, (v->n_keys + 1) * sizeof *grown);
    if (grown == NULL) {
        EVP_PKEY_free(key);
        return lcb_error_set(err, "out_of_memory", "loading public keys");
    }
    v->keys = grown;
    struct verify_key *k = &v->keys[v->n_keys];
    if (crypto_key_id(key, k->id, err) != 0) {
        EVP_PKEY_free(key);
        return -1;
    }
    k->key = key;
    v->n_keys++;
    /* the record names its key by id; an id that is not the key's own is a
     * key swapped under the name of another */
    if (expected_id != NULL && strcmp(expected_id, k->id) != 0)
        return lcb_error_set(err, VERIFY_FAILED, "at signing key %s: the stored key's id is %s",
                             expected_id, k->id);
    return 0;
}

static int load_key_files(struct verifier *v, const struct lcbctl_list *files,
                          struct lcb_error *err)
{
    for (size_t i = 0; i < files->n; i++) {
        size_t len = 0;
        char *pem = lcbctl_file_read(files->items[i], PUBLIC_KEY_MAX_BYTES, &len, err);
        struct lcb_error why;
        if (pem == NULL)
            return -1;
        EVP_PKEY *key = crypto_public_key_from_pem(pem, &why);
        free(pem);
        if (key == NULL)
            return lcb_error_set(err, why.code, "%s: %s", files->items[i], why.message);
        if (add_key(v, key, NULL, err) != 0)
            return -1;
    }
    return 0;
}

static int load_key_table(struct verifier *v, struct lcb_error *err)
{
    PGresult *res = lcbctl_db_exec(
        v->conn, "SELECT key_id, public_key_pem FROM signing_keys ORDER BY key_id", 0, NULL, err);
    if (res == NULL)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        struct lcb_error parse_err;
        EVP_PKEY *key = crypto_public_key_from_pem(PQgetvalue(res, row, 1), &parse_err);
        if (key == NULL) {
            lcb_error_set(err, VERIFY_FAILED, "at signing key %s: %s", PQgetvalue(res, row, 0),
                          parse_err.message);
            goto fail;
        }
        if (add_key(v, key, PQgetvalue(res, row, 0), err) != 0)
            goto fail;
    }
    PQclear(res);
    return 0;
fail:
    PQclear(res);
    return -1;
}

static EVP_PKEY *find_key(const struct verifier *v, const char *key_id)
{
    for (size_t i = 0; i < v->n_keys; i++) {
        if (strcmp(v->keys[i].id, key_id) == 0)
            return v->keys[i].key;
    }
    return NULL;
}

/* Fetches the next batch of accounts rows when the current one is used up;
 * 1 with *id set while rows remain, 0 at the end. */
static int head_peek(struct verifier *v, int64_t *id, struct lcb_error *err)
{
    if (v->heads != NULL && v->head_row >= PQntuples(v->heads)) {
        bool last_batch = PQntuples(v->heads) == 0;
        PQclear(v->heads);
        v->heads = NULL;
        if (last_batch)
            return 0;
    }
    if (v->heads == NULL) {
        v->heads = lcbctl_db_exec(v->conn, FETCH_HEADS, 0, NULL, err);
        v->head_row = 0;
        if (v->heads == NULL)
            return -1;
        if (PQntuples(v->heads) == 0)
            return 0;
    }
    *id = strtoll(PQgetvalue(v->heads, v->head_row, 0), NULL, 10);
    return 1;
}

static const char *head_value(const struct verifier *v, int col)
{
    return PQgetvalue(v->heads, v->head_row, col);
}

/* Passes the accounts rows below `account`, each of which must have no
 * chain; leaves the row of `account` (if any) current. 1 when it exists. */
static int heads_advance(struct verifier *v, int64_t account, struct lcb_error *err)
{
    static const char zero_hash[] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    int64_t id = 0;
    int rc;

    while ((rc = head_peek(v, &id, err)) == 1 && id < account) {
        if (strcmp(head_value(v, 1), "0") != 0 || strcmp(head_value(v, 2), zero_hash) != 0)
            return lcb_error_set(err, VERIFY_FAILED,
                                 "at account %" PRId64 ": its head is seq %s, but it has no "
                                 "transactions (its chain was removed)",
                                 id, head_value(v, 1));
        v->head_row++;
        v->n_accounts++;
    }
    return rc < 0 ? -1 : rc == 1 && id == account;
}

/* The account's head must be the last record of its chain: a chain cut
 * short (its newest transactions deleted) shows up here. */
static int finish_chain(struct verifier *v, struct lcb_error *err)
{
    char seq[24], hash_hex[2 * CRYPTO_HASH_LEN + 1];

    snprintf(seq, sizeof seq, "%" PRId64, v->last_seq);
    crypto_hex_encode(v->last_hash, sizeof v->last_hash, hash_hex);
    if (strcmp(head_value(v, 1), seq) != 0)
        return lcb_error_set(err, VERIFY_FAILED,
                             "at account %" PRId64 ": its head is seq %s, but its chain ends at "
                             "seq %s",
                             v->chain_account, head_value(v, 1), seq);
    if (strcmp(head_value(v, 2), hash_hex) != 0)
        return lcb_error_set(err, VERIFY_FAILED,
                             "at account %" PRId64 ": its head hash is not the hash of seq %s",
                             v->chain_account, seq);
    v->head_row++;
    v->n_accounts++;
    v->in_chain = false;
    return 0;
}

static int check_chain(struct verifier *v, struct lcb_error *err)
{
    const struct record *r = &v->record;

    if (!v->in_chain || r->chain_account_id != v->chain_account) {
        if (v->in_chain && finish_chain(v, err) != 0)
            return -1;
        int found = heads_advance(v, r->chain_account_id, err);
        if (found < 0)
            return -1;
        if (found == 0)
            return fail_record(v, err, "the chain's account has no accounts row");
        v->in_chain = true;
        v->chain_account = r->chain_account_id;
        v->last_seq = 0;
        memset(v->last_hash, 0, sizeof v->last_hash);
    }
    if (r->chain_seq != v->last_seq + 1) {
        if (v->last_seq == 0)
            return fail_record(v, err, "the chain starts at seq %" PRId64 ", not 1", r->chain_seq);
        return fail_record(v, err,
                           "seq %" PRId64 " follows seq %" PRId64 " (a transaction is missing)",
                           r->chain_seq, v->last_seq);
    }
    if (memcmp(r->prev_hash, v->last_hash, sizeof v->last_hash) != 0)
        return fail_record(v, err, "prev_hash is not the hash of seq %" PRId64, v->last_seq);
    return 0;
}

/* Everything one transaction must satisfy on its own and in its chain. */
static int check_record(struct verifier *v, struct lcb_error *err)
{
    const struct record *r = &v->record;
    uint8_t hash[CRYPTO_HASH_LEN];
    char stored_hex[2 * CRYPTO_HASH_LEN + 1], hash_hex[2 * CRYPTO_HASH_LEN + 1];
    struct lcb_error why;
    EVP_PKEY *key;

    if (record_hash(r, hash, &why) != 0)
        return fail_record(v, err, "not a valid record: %s", why.message);
    if (memcmp(hash, v->stored.hash, sizeof hash) != 0) {
        crypto_hex_encode(v->stored.hash, sizeof hash, stored_hex);
        crypto_hex_encode(hash, sizeof hash, hash_hex);
        return fail_record(v, err, "stored hash %.16s... but the content hashes to %.16s...",
                           stored_hex, hash_hex);
    }
    if (check_chain(v, err) != 0)
        return -1;
    key = find_key(v, r->key_id);
    if (key == NULL)
        return fail_record(v, err, "signed with unknown key %s", r->key_id);
    if (crypto_verify(key, hash, sizeof hash, v->stored.signature) != 0)
        return fail_record(v, err, "bad signature (key %s)", r->key_id);
    if (record_check_balanced(r, &why) != 0)
        return fail_record(v, err, "%s", why.message);
    v->last_seq = r->chain_seq;
    memcpy(v->last_hash, hash, sizeof hash);
    v->n_transactions++;
    v->n_entries += r->n_entries;
    return 0;
}

static int take_row(struct verifier *v, const PGresult *res, int row, struct lcb_error *err)
{
    struct lcb_error why;

    if (!v->have_record || strcmp(lcbctl_ledger_row_id(res, row), v->stored.id_text) != 0) {
        if (v->have_record && check_record(v, err) != 0)
            return -1;
        v->have_record = true;
        if (lcbctl_ledger_begin(res, row, &v->record, &v->stored, &why) != 0)
            return fail_record(v, err, "%s", why.message);
    }
    if (lcbctl_ledger_add_entry(res, row, &v->record, &v->stored, &why) != 0)
        return fail_record(v, err, "%s", why.message);
    return 0;
}

static int walk_ledger(struct verifier *v, struct lcb_error *err)
{
    /* the cursors are read to the end: plan for all rows, not the first ones */
    if (lcbctl_db_command(v->conn, "SET LOCAL cursor_tuple_fraction = 1.0", 0, NULL, err) != 0 ||
        lcbctl_db_command(v->conn, lcbctl_ledger_declare, 0, NULL, err) != 0 ||
        lcbctl_db_command(v->conn,
                          "DECLARE heads NO SCROLL CURSOR FOR SELECT id, head_seq,"
                          " encode(head_hash, 'hex') FROM accounts ORDER BY id",
                          0, NULL, err) != 0)
        return -1;
    for (;;) {
        PGresult *res = lcbctl_db_exec(v->conn, FETCH_LEDGER, 0, NULL, err);
        if (res == NULL)
            return -1;
        int n = PQntuples(res);
        for (int row = 0; row < n; row++) {
            if (take_row(v, res, row, err) != 0) {
                PQclear(res);
                return -1;
            }
        }
        PQclear(res);
        if (n == 0)
            break;
    }
    if (v->have_record && check_record(v, err) != 0)
        return -1;
    if (v->in_chain && finish_chain(v, err) != 0)
        return -1;
    return heads_advance(v, INT64_MAX, err) < 0 ? -1 : 0;
}

/* Entries outside any transaction escaped every hash; find them first, so
 * the balance sums below cover only verified entries. */
static int check_orphans(struct verifier *v, struct lcb_error *err)
{
    PGresult *res = lcbctl_db_exec(v->conn,
                                   "SELECT e.transaction_id, e.position FROM entries e WHERE NOT "
                                   "EXISTS (SELECT 1 FROM transactions t WHERE t.id = "
                                   "e.transaction_id) ORDER BY 1, 2 LIMIT 1",
                                   0, NULL, err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) > 0)
        lcb_error_set(err, VERIFY_FAILED,
                      "at entry %s of transaction %s: it belongs to no transaction",
                      PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
    int rc = PQntuples(res) > 0 ? -1 : 0;
    PQclear(res);
    return rc;
}

/* Every balances row equals its account's entries per unit, and every
 * learner account's non-zero sum has its row; institutions' balances are
 * not stored (sql/002, lcb_append), so a row for one is itself a fault. */
static int check_balances(struct verifier *v, struct lcb_error *err)
{
    PGresult *res = lcbctl_db_exec(
        v->conn,
        "SELECT coalesce(b.account_id, s.account_id), coalesce(b.unit, s.unit), b.amount,"
        " coalesce(s.total, 0) FROM balances b FULL JOIN"
        " (SELECT e.account_id, e.unit, sum(e.amount) AS total FROM entries e"
        "  JOIN accounts a ON a.id = e.account_id AND a.learner_id IS NOT NULL"
        "  GROUP BY e.account_id, e.unit) s"
        " ON s.account_id = b.account_id AND s.unit = b.unit"
        " WHERE coalesce(b.amount, 0) <> coalesce(s.total, 0)"
        " ORDER BY 1, 2 LIMIT 1",
        0, NULL, err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) > 0)
        lcb_error_set(err, VERIFY_FAILED,
                      "at balance (account %s, unit %s): the balances row holds %s, but the "
                      "account's entries sum to %s",
                      PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                      PQgetisnull(res, 0, 2) ? "nothing (it is missing)" : PQgetvalue(res, 0, 2),
                      PQgetvalue(res, 0, 3));
    int rc = PQntuples(res) > 0 ? -1 : 0;
    PQclear(res);
    return rc;
}

static int verify(struct verifier *v, const struct lcbctl_list *key_files, struct lcb_error *err)
{
    /* one snapshot: lcbd may keep appending while this runs */
    if (lcbctl_db_command(v->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
                          err) != 0)
        return -1;
    if ((key_files->n > 0 ? load_key_files(v, key_files, err) : load_key_table(v, err)) != 0 ||
        walk_ledger(v, err) != 0 || check_orphans(v, err) != 0 || check_balances(v, err) != 0)
        return -1;
    return lcbctl_db_command(v->conn, "COMMIT", 0, NULL, err);
}

static void verifier_free(struct verifier *v)
{
    for (size_t i = 0; i < v->n_keys; i++)
        EVP_PKEY_free(v->keys[i].key);
    free(v->keys);
    PQclear(v->heads);
    PQfinish(v->conn);
    free(v);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int lcbctl_verify(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    struct lcbctl_list key_files = {{NULL}, 0};
    const struct lcbctl_opt opts[] = {{"public-key", LCBCTL_OPT_LIST, &key_files, false}};
    struct verifier *v = NULL;
    struct lcb_error err;
    struct timespec start;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 1, NULL, 0, &status))
        return status;
    clock_gettime(CLOCK_MONOTONIC, &start);
    v = calloc(1, sizeof *v); /* a struct record is too big to be careless with the stack */
    if (v == NULL) {
        lcb_error_set(&err, "out_of_memory", "verify");
        return lcbctl_fail(&err);
    }
    v->conn = lcbctl_db_connect(ctx, &err);
    if (v->conn == NULL || verify(v, &key_files, &err) != 0)
        goto fail;
    double seconds = seconds_since(&start);
    printf("verified %" PRIu64 " transactions (%" PRIu64 " entries, %" PRIu64
           " accounts) in %.3f s, %.0f records/s\n",
           v->n_transactions, v->n_entries, v->n_accounts, seconds,
           (double)v->n_transactions / (seconds > 1e-6 ? seconds : 1e-6));
    verifier_free(v);
    return LCBCTL_EXIT_OK;
fail:
    verifier_free(v);
    if (strcmp(err.code, VERIFY_FAILED) == 0) {
        printf("verify: FAILED %s\n", err.message);
        return LCBCTL_EXIT_FAIL;
    }
    return lcbctl_fail(&err);
}
