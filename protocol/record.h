/* The canonical byte encoding of a ledger transaction (protocol/RECORD.md).
 * Its SHA-256 is the transaction hash; the bank signs that hash. Pure
 * functions: no I/O, no allocation, no knowledge of the daemon or database. */
#ifndef LCB_RECORD_H
#define LCB_RECORD_H

#include "lib/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_VERSION 1
#define RECORD_ID_LEN 16
#define RECORD_HASH_LEN 32
#define RECORD_MAX_ENTRIES 16
#define RECORD_UNIT_MAX 16
#define RECORD_KEY_MAX 128   /* idempotency key, bytes */
#define RECORD_CODE_MAX 32   /* course/certificate code */
#define RECORD_RESULT_MAX 64
#define RECORD_REASON_MAX 256
#define RECORD_KEY_ID_MAX 16
#define RECORD_DATE_LEN 10   /* "YYYY-MM-DD" */
#define RECORD_UUID_TEXT_LEN 36
/* Upper bound of record_encode's output for any valid record. */
#define RECORD_MAX_ENCODED 4096

enum record_kind {
    RECORD_DEPOSIT = 1,
    RECORD_REVERSAL = 2,
    RECORD_CONVERSION = 3,
};

struct record_entry {
    int64_t account_id;
    char unit[RECORD_UNIT_MAX + 1];
    int64_t amount; /* in the unit's smallest step; never zero */
};

struct record {
    uint8_t id[RECORD_ID_LEN]; /* UUID, binary */
    enum record_kind kind;
    int64_t chain_account_id; /* the learner account whose chain this extends */
    int64_t chain_seq;        /* 1 for an account's first transaction */
    uint8_t prev_hash[RECORD_HASH_LEN]; /* all zero when chain_seq == 1 */
    int64_t created_at_us;    /* microseconds since 1970-01-01T00:00:00Z */
    int64_t institution_id;   /* the institution that issued or acted */
    char idempotency_key[RECORD_KEY_MAX + 1];
    char item_code[RECORD_CODE_MAX + 1]; /* course or certificate code, or "" */
    char result[RECORD_RESULT_MAX + 1];  /* e.g. "pass", "92", or "" */
    char completed_on[RECORD_DATE_LEN + 1]; /* "YYYY-MM-DD" or "" */
    bool has_evidence;
    uint8_t evidence_sha256[RECORD_HASH_LEN];
    bool has_reverses;
    uint8_t reverses[RECORD_ID_LEN]; /* the transaction this one compensates */
    char reason[RECORD_REASON_MAX + 1];
    char key_id[RECORD_KEY_ID_MAX + 1]; /* signing key that signs this record */
    size_t n_entries;
    struct record_entry entries[RECORD_MAX_ENTRIES];
};

/* Writes the canonical encoding of r into buf (cap bytes). Returns 0 and sets
 * *len, or -1 with err "invalid_record" when a field is out of range (text
 * too long, no entries, a zero amount, a bad date shape...). */
int record_encode(const struct record *r, uint8_t *buf, size_t cap, size_t *len,
                  struct lcb_error *err);

/* Parses a canonical encoding back; exact inverse of record_encode. Rejects
 * trailing bytes, a wrong magic or version, and anything record_encode would
 * refuse. */
int record_decode(const uint8_t *buf, size_t len, struct record *r, struct lcb_error *err);

/* SHA-256 of the canonical encoding: the transaction hash. */
int record_hash(const struct record *r, uint8_t out[RECORD_HASH_LEN], struct lcb_error *err);

/* Double entry: 0 when, per unit, the entries sum to zero (without overflow);
 * -1 with err "unbalanced" otherwise. */
int record_check_balanced(const struct record *r, struct lcb_error *err);

/* UUID text form (lower-case, 8-4-4-4-12) into out[RECORD_UUID_TEXT_LEN + 1],
 * and back (0 or -1). */
void record_uuid_format(const uint8_t id[RECORD_ID_LEN], char *out);
int record_uuid_parse(const char *text, uint8_t id[RECORD_ID_LEN]);

const char *record_kind_name(enum record_kind kind); /* "deposit", ... */
int record_kind_parse(const char *name, enum record_kind *kind);

#endif
