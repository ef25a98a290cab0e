/* The canonical record encoding against the independent vectors in
 * protocol/vectors/records.txt and against every rule of RECORD.md: what the
 * bank signs must be exactly what any verifier re-computes, and nothing that
 * would not re-encode identically may ever be accepted. */
#include "lib/crypto.h"
#include "protocol/record.h"
#include "tests/unit_suites.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LCB_VECTORS_DIR
#error "LCB_VECTORS_DIR must name protocol/vectors"
#endif

/* ---- a valid record to mutate ------------------------------------------ */

static struct record valid_record(void)
{
    struct record r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(record_uuid_parse("0190f3a2-7c4e-7b1a-9d3e-5f6a7b8c9d01", r.id), 0);
    r.kind = RECORD_DEPOSIT;
    r.chain_account_id = 1001;
    r.chain_seq = 1;
    r.created_at_us = 1718000000000000;
    r.institution_id = 7;
    strcpy(r.idempotency_key, "T1:1");
    strcpy(r.item_code, "CE-1");
    strcpy(r.result, "pass");
    strcpy(r.completed_on, "2024-06-10");
    strcpy(r.key_id, "21fe31dfa154a261");
    r.n_entries = 2;
    r.entries[0] = (struct record_entry){.account_id = 1001, .unit = "community", .amount = 150};
    r.entries[1] = (struct record_entry){.account_id = 7, .unit = "community", .amount = -150};
    return r;
}

static size_t encode_ok(const struct record *r, uint8_t *buf)
{
    struct lcb_error err = {0};
    size_t len = 0;
    ck_assert_msg(record_encode(r, buf, RECORD_MAX_ENCODED, &len, &err) == 0, "%s", err.message);
    return len;
}

/* ---- vectors ----------------------------------------------------------- */

struct vector {
    char name[64];
    struct record record;
    uint8_t encoding[RECORD_MAX_ENCODED];
    size_t encoding_len;
    uint8_t hash[RECORD_HASH_LEN];
    uint8_t public_key[32];
    uint8_t signature[CRYPTO_SIG_LEN];
};

static void copy_text(char *dst, size_t cap, const char *value)
{
    ck_assert_msg(strlen(value) < cap, "vector text too long: %s", value);
    strcpy(dst, value);
}

static void hex_field(const char *value, uint8_t *out, size_t len)
{
    ck_assert_msg(crypto_hex_decode(value, out, len) == 0, "bad hex in vector: %s", value);
}

static void set_record_field(struct record *r, const char *field, const char *value)
{
    if (strcmp(field, "id") == 0)
        ck_assert_int_eq(record_uuid_parse(value, r->id), 0);
    else if (strcmp(field, "kind") == 0)
        ck_assert_int_eq(record_kind_parse(value, &r->kind), 0);
    else if (strcmp(field, "chain_account_id") == 0)
        r->chain_account_id = strtoll(value, NULL, 10);
    else if (strcmp(field, "chain_seq") == 0)
        r->chain_seq = strtoll(value, NULL, 10);
    else if (strcmp(field, "prev_hash") == 0)
        hex_field(value, r->prev_hash, RECORD_HASH_LEN);
    else if (strcmp(field, "created_at_us") == 0)
        r->created_at_us = strtoll(value, NULL, 10);
    else if (strcmp(field, "institution_id") == 0)
        r->institution_id = strtoll(value, NULL, 10);
    else if (strcmp(field, "idempotency_key") == 0)
        copy_text(r->idempotency_key, sizeof r->idempotency_key, value);
    else if (strcmp(field, "item_code") == 0)
        copy_text(r->item_code, sizeof r->item_code, value);
    else if (strcmp(field, "result") == 0)
        copy_text(r->result, sizeof r->result, value);
    else if (strcmp(field, "completed_on") == 0)
        copy_text(r->completed_on, sizeof r->completed_on, value);
    else if (strcmp(field, "evidence_sha256") == 0) {
        r->has_evidence = value[0] != '\0';
        if (r->has_evidence)
            hex_field(value, r->evidence_sha256, RECORD_HASH_LEN);
    } else if (strcmp(field, "reverses") == 0) {
        r->has_reverses = value[0] != '\0';
        if (r->has_reverses)
            ck_assert_int_eq(record_uuid_parse(value, r->reverses), 0);
    } else if (strcmp(field, "reason") == 0)
        copy_text(r->reason, sizeof r->reason, value);
    else if (strcmp(field, "key_id") == 0)
        copy_text(r->key_id, sizeof r->key_id, value);
    else
        ck_abort_msg("unknown vector field '%s'", field);
}

static void add_entry(struct record *r, const char *value)
{
    ck_assert_uint_lt(r->n_entries, RECORD_MAX_ENTRIES);
    struct record_entry *e = &r->entries[r->n_entries++];
    ck_assert_int_eq(
        sscanf(value, "%" SCNd64 " %16s %" SCNd64, &e->account_id, e->unit, &e->amount), 3);
}

static void set_vector_field(struct vector *v, const char *field, const char *value)
{
    if (strcmp(field, "name") == 0) {
        copy_text(v->name, sizeof v->name, value);
    } else if (strcmp(field, "entry") == 0) {
        add_entry(&v->record, value);
    } else if (strcmp(field, "encoding") == 0) {
        v->encoding_len = strlen(value) / 2;
        ck_assert_uint_le(v->encoding_len, RECORD_MAX_ENCODED);
        hex_field(value, v->encoding, v->encoding_len);
    } else if (strcmp(field, "hash") == 0) {
        hex_field(value, v->hash, RECORD_HASH_LEN);
    } else if (strcmp(field, "public_key") == 0) {
        hex_field(value, v->public_key, sizeof v->public_key);
    } else if (strcmp(field, "signature") == 0) {
        hex_field(value, v->signature, CRYPTO_SIG_LEN);
    } else {
        set_record_field(&v->record, field, value);
    }
}

/* Parses the `field = value` blocks of records.txt into vs; returns the count. */
static size_t load_vectors(struct vector *vs, size_t cap)
{
    FILE *f = fopen(LCB_VECTORS_DIR "/records.txt", "r");
    ck_assert_msg(f != NULL, "cannot open " LCB_VECTORS_DIR "/records.txt");
    char *line = NULL;
    size_t line_cap = 0, n = 0;
    bool in_block = false;
    while (getline(&line, &line_cap, f) != -1) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#')
            continue;
        if (line[0] == '\0') {
            in_block = false;
            continue;
        }
        if (!in_block) {
            ck_assert_uint_lt(n, cap);
            memset(&vs[n++], 0, sizeof vs[0]);
            in_block = true;
        }
        char *eq = strchr(line, '=');
        ck_assert_msg(eq != NULL, "vector line without '=': %s", line);
        char *field_end = eq;
        while (field_end > line && field_end[-1] == ' ')
            field_end--;
        *field_end = '\0';
        char *value = eq + 1;
        if (*value == ' ')
            value++;
        set_vector_field(&vs[n - 1], line, value);
    }
    free(line);
    fclose(f);
    return n;
}

static void check_vector(const struct vector *v)
{
    struct lcb_error err = {0};
    uint8_t buf[RECORD_MAX_ENCODED], again[RECORD_MAX_ENCODED], hash[RECORD_HASH_LEN];
    size_t len = 0, again_len = 0;
    ck_assert_msg(record_encode(&v->record, buf, sizeof buf, &len, &err) == 0, "%s: %s", v->name,
                  err.message);
    ck_assert_msg(len == v->encoding_len && memcmp(buf, v->encoding, len) == 0,
                  "%s: encoding differs from the vector", v->name);
    ck_assert_int_eq(record_hash(&v->record, hash, &err), 0);
    ck_assert_msg(memcmp(hash, v->hash, sizeof hash) == 0, "%s: hash differs", v->name);

    struct record decoded;
    ck_assert_msg(record_decode(v->encoding, v->encoding_len, &decoded, &err) == 0, "%s: %s",
                  v->name, err.message);
    ck_assert_int_eq(record_encode(&decoded, again, sizeof again, &again_len, &err), 0);
    ck_assert_uint_eq(again_len, v->encoding_len);
    ck_assert_mem_eq(again, v->encoding, again_len);
    ck_assert_str_eq(decoded.reason, v->record.reason);
    ck_assert_int_eq(decoded.chain_seq, v->record.chain_seq);

    /* The bank's signature is over the 32 hash bytes (RECORD.md). */
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, v->public_key, 32);
    ck_assert_ptr_nonnull(pub);
    ck_assert_msg(crypto_verify(pub, hash, sizeof hash, v->signature) == 0,
                  "%s: signature does not verify", v->name);
    char key_id[CRYPTO_KEY_ID_LEN + 1];
    ck_assert_int_eq(crypto_key_id(pub, key_id, &err), 0);
    ck_assert_str_eq(key_id, "21fe31dfa154a261");
    EVP_PKEY_free(pub);
}

START_TEST(vectors_match)
{
    static struct vector vs[16];
    size_t n = load_vectors(vs, 16);
    ck_assert_uint_ge(n, 5);
    for (size_t i = 0; i < n; i++)
        check_vector(&vs[i]);
    /* The second vector continues the first one's chain. */
    ck_assert_str_eq(vs[1].name, "second_link");
    ck_assert_mem_eq(vs[1].record.prev_hash, vs[0].hash, RECORD_HASH_LEN);
}
END_TEST

/* ---- encode rejections -------------------------------------------------- */

struct mutation {
    const char *name;
    void (*apply)(struct record *r);
};

#define MUTATION(fn_name, body)                                                                    \
    static void fn_name(struct record *r)                                                          \
    {                                                                                              \
        body;                                                                                      \
    }

MUTATION(kind_zero, r->kind = (enum record_kind)0)
MUTATION(kind_four, r->kind = (enum record_kind)4)
MUTATION(seq_zero, r->chain_seq = 0)
MUTATION(seq_negative, r->chain_seq = -5)
MUTATION(first_link_with_prev, r->prev_hash[31] = 1)
MUTATION(later_link_zero_prev, r->chain_seq = 2)
MUTATION(reversal_without_reverses, r->kind = RECORD_REVERSAL; strcpy(r->reason, "typo"))
MUTATION(deposit_with_reverses, r->has_reverses = true)
MUTATION(reversal_without_reason, r->kind = RECORD_REVERSAL; r->has_reverses = true)
MUTATION(key_empty, r->idempotency_key[0] = '\0')
MUTATION(key_too_long, memset(r->idempotency_key, 'k', sizeof r->idempotency_key))
MUTATION(code_too_long, memset(r->item_code, 'c', sizeof r->item_code))
MUTATION(result_too_long, memset(r->result, 'r', sizeof r->result))
MUTATION(reason_too_long, memset(r->reason, 'x', sizeof r->reason))
MUTATION(date_too_long, memset(r->completed_on, '1', sizeof r->completed_on))
MUTATION(utf8_bad_continuation, strcpy(r->result, "\xc3\x28"))
MUTATION(utf8_overlong, strcpy(r->result, "\xc0\xaf"))
MUTATION(utf8_surrogate, strcpy(r->reason, "\xed\xa0\x80"))
MUTATION(utf8_truncated, strcpy(r->item_code, "ab\xe4\xb8"))
MUTATION(utf8_above_max, strcpy(r->idempotency_key, "\xf4\x90\x80\x80"))
MUTATION(date_feb29_common_year, strcpy(r->completed_on, "2023-02-29"))
MUTATION(date_feb29_1900, strcpy(r->completed_on, "1900-02-29"))
MUTATION(date_month_13, strcpy(r->completed_on, "2024-13-01"))
MUTATION(date_month_0, strcpy(r->completed_on, "2024-00-10"))
MUTATION(date_day_0, strcpy(r->completed_on, "2024-01-00"))
MUTATION(date_april_31, strcpy(r->completed_on, "2024-04-31"))
MUTATION(date_year_0, strcpy(r->completed_on, "0000-01-01"))
MUTATION(date_slashes, strcpy(r->completed_on, "2024/01/01"))
MUTATION(date_short, strcpy(r->completed_on, "2024-1-1"))
MUTATION(date_letters, strcpy(r->completed_on, "abcd-01-01"))
MUTATION(key_id_empty, r->key_id[0] = '\0')
MUTATION(key_id_upper, strcpy(r->key_id, "21FE31DFA154A261"))
MUTATION(key_id_not_hex, strcpy(r->key_id, "xyz"))
MUTATION(key_id_too_long, memset(r->key_id, 'a', sizeof r->key_id))
MUTATION(no_entries, r->n_entries = 0)
MUTATION(too_many_entries, r->n_entries = RECORD_MAX_ENTRIES + 1)
MUTATION(zero_amount, r->entries[1].amount = 0)
MUTATION(unit_empty, r->entries[0].unit[0] = '\0')
MUTATION(unit_upper, strcpy(r->entries[0].unit, "Community"))
MUTATION(unit_digit_first, strcpy(r->entries[0].unit, "1credit"))
MUTATION(unit_dash, strcpy(r->entries[0].unit, "com-munity"))
MUTATION(unit_space, strcpy(r->entries[1].unit, "a b"))
MUTATION(unit_too_long, memset(r->entries[1].unit, 'a', sizeof r->entries[1].unit))

static const struct mutation mutations[] = {
#define M(fn)                                                                                      \
    {                                                                                              \
#fn, fn                                                                                    \
    }
    M(kind_zero),
    M(kind_four),
    M(seq_zero),
    M(seq_negative),
    M(first_link_with_prev),
    M(later_link_zero_prev),
    M(reversal_without_reverses),
    M(deposit_with_reverses),
    M(reversal_without_reason),
    M(key_empty),
    M(key_too_long),
    M(code_too_long),
    M(result_too_long),
    M(reason_too_long),
    M(date_too_long),
    M(utf8_bad_continuation),
    M(utf8_overlong),
    M(utf8_surrogate),
    M(utf8_truncated),
    M(utf8_above_max),
    M(date_feb29_common_year),
    M(date_feb29_1900),
    M(date_month_13),
    M(date_month_0),
    M(date_day_0),
    M(date_april_31),
    M(date_year_0),
    M(date_slashes),
    M(date_short),
    M(date_letters),
    M(key_id_empty),
    M(key_id_upper),
    M(key_id_not_hex),
    M(key_id_too_long),
    M(no_entries),
    M(too_many_entries),
    M(zero_amount),
    M(unit_empty),
    M(unit_upper),
    M(unit_digit_first),
    M(unit_dash),
    M(unit_space),
    M(unit_too_long),
#undef M
};
#define N_MUTATIONS ((int)(sizeof mutations / sizeof mutations[0]))

START_TEST(encode_rejects)
{
    struct lcb_error err = {0};
    uint8_t buf[RECORD_MAX_ENCODED], hash[RECORD_HASH_LEN];
    size_t len = 0;
    struct record r = valid_record();
    mutations[_i].apply(&r);
    ck_assert_msg(record_encode(&r, buf, sizeof buf, &len, &err) == -1, "%s was accepted",
                  mutations[_i].name);
    ck_assert_str_eq(err.code, "invalid_record");
    ck_assert_int_eq(record_hash(&r, hash, &err), -1);
}
END_TEST

START_TEST(encode_accepts_edges)
{
    uint8_t buf[RECORD_MAX_ENCODED];
    struct record r = valid_record();
    strcpy(r.completed_on, "2024-02-29");
    encode_ok(&r, buf);
    strcpy(r.completed_on, "2000-02-29");
    encode_ok(&r, buf);
    r.completed_on[0] = '\0';
    encode_ok(&r, buf);
    strcpy(r.entries[0].unit, "abcdefghijklmnop");
    strcpy(r.entries[1].unit, "a");
    encode_ok(&r, buf);
    r.kind = RECORD_REVERSAL;
    r.has_reverses = true;
    strcpy(r.reason, "撤销：重复登记");
    encode_ok(&r, buf);
}
END_TEST

START_TEST(encode_refuses_small_buffer)
{
    struct lcb_error err = {0};
    uint8_t buf[RECORD_MAX_ENCODED];
    size_t len = 0, full;
    struct record r = valid_record();
    full = encode_ok(&r, buf);
    ck_assert_int_eq(record_encode(&r, buf, full - 1, &len, &err), -1);
    ck_assert_int_eq(record_encode(&r, buf, 0, &len, &err), -1);
    ck_assert_int_eq(record_encode(&r, buf, full, &len, &err), 0);
    ck_assert_uint_eq(len, full);
}
END_TEST

START_TEST(largest_record_fits)
{
    uint8_t buf[RECORD_MAX_ENCODED];
    struct record r = valid_record();
    memset(r.idempotency_key, 'k', RECORD_KEY_MAX);
    memset(r.item_code, 'c', RECORD_CODE_MAX);
    memset(r.result, 'r', RECORD_RESULT_MAX);
    memset(r.reason, 'x', RECORD_REASON_MAX);
    r.kind = RECORD_REVERSAL;
    r.has_reverses = r.has_evidence = true;
    r.n_entries = RECORD_MAX_ENTRIES;
    for (size_t i = 0; i < RECORD_MAX_ENTRIES; i++) {
        memset(r.entries[i].unit, 'u', RECORD_UNIT_MAX);
        r.entries[i].amount = i % 2 ? -1 : 1;
    }
    ck_assert_uint_eq(encode_ok(&r, buf), 1200); /* RECORD.md */
}
END_TEST

/* ---- decode ------------------------------------------------------------- */

START_TEST(decode_rejects_every_truncation)
{
    struct lcb_error err = {0};
    uint8_t buf[RECORD_MAX_ENCODED];
    struct record out;
    struct record r = valid_record();
    r.kind = RECORD_REVERSAL;
    r.has_reverses = r.has_evidence = true;
    strcpy(r.reason, "重复");
    size_t len = encode_ok(&r, buf);
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly `cut` bytes, so ASan sees any over-read. */
        uint8_t *part = malloc(cut + 1);
        ck_assert_ptr_nonnull(part);
        memcpy(part, buf, cut);
        ck_assert_msg(record_decode(part, cut, &out, &err) == -1, "accepted %zu of %zu bytes", cut,
                      len);
        ck_assert_str_eq(err.code, "invalid_record");
        free(part);
    }
    ck_assert_int_eq(record_decode(buf, len, &out, &err), 0);
}
END_TEST

START_TEST(decode_rejects_trailing_bytes)
{
    struct lcb_error err = {0};
    uint8_t buf[RECORD_MAX_ENCODED];
    struct record out;
    struct record r = valid_record();
    size_t len = encode_ok(&r, buf);
    buf[len] = 0;
    ck_assert_int_eq(record_decode(buf, len + 1, &out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "trailing"));
}
END_TEST

/* Offsets in the encoding of valid_record(), from the RECORD.md table. */
#define OFF_KIND 5
#define OFF_KEY_LEN 86
#define OFF_EVIDENCE (86 + 2 + 4 + 2 + 4 + 2 + 4 + 2 + 10)

/* Decodes the encoding of r with the byte at offset changed (value >= 0) and
 * the `cut` bytes after it removed, and expects a refusal whose message names
 * `want`, so each case fails for the reason it is about, not by accident. */
static void expect_decode_fails(const struct record *r, size_t offset, int value, size_t cut,
                                const char *want)
{
    struct lcb_error err = {0};
    uint8_t buf[RECORD_MAX_ENCODED];
    struct record out;
    size_t len = encode_ok(r, buf);
    ck_assert_uint_lt(offset + cut, len);
    if (value >= 0)
        buf[offset] = (uint8_t)value;
    memmove(buf + offset + 1, buf + offset + 1 + cut, len - offset - 1 - cut);
    len -= cut;
    ck_assert_msg(record_decode(buf, len, &out, &err) == -1, "accepted; wanted '%s'", want);
    ck_assert_str_eq(err.code, "invalid_record");
    ck_assert_msg(strstr(err.message, want) != NULL, "refused with '%s', wanted '%s'", err.message,
                  want);
}

static void expect_patch_fails(size_t offset, uint8_t value, const char *want)
{
    struct record r = valid_record();
    expect_decode_fails(&r, offset, value, 0, want);
}

START_TEST(decode_rejects_bad_fields)
{
    expect_patch_fails(0, 'X', "magic");
    expect_patch_fails(4, 2, "version 2");
    expect_patch_fails(OFF_KIND, 0, "kind 0");
    expect_patch_fails(OFF_KIND, 9, "kind 9");
    expect_patch_fails(OFF_KEY_LEN, 0x01, "idempotency_key longer");
    expect_patch_fails(OFF_KEY_LEN + 3, 0, "NUL");
    expect_patch_fails(OFF_KEY_LEN + 3, 0xff, "UTF-8");
    expect_patch_fails(OFF_EVIDENCE - 5, '1', "completed_on");
    expect_patch_fails(OFF_EVIDENCE, 2, "evidence_sha256 presence");
    expect_patch_fails(OFF_EVIDENCE + 1, 2, "reverses presence");
    expect_patch_fails(6 + 16 + 15, 2, "prev_hash"); /* chain_seq 1 -> 2 */
}
END_TEST

START_TEST(decode_rejects_invalid_records)
{
    struct record r = valid_record();
    /* "T1:1" cut out and its length set to 0: an empty idempotency key. */
    expect_decode_fails(&r, OFF_KEY_LEN + 1, 0, 4, "idempotency_key is empty");
    r.kind = RECORD_REVERSAL;
    r.has_reverses = true;
    strcpy(r.reason, "typo");
    expect_decode_fails(&r, OFF_KIND, RECORD_DEPOSIT, 0, "only a reversal");
    r.n_entries = 1;
    r.entries[0].amount = 5;
    /* The entry amount's last byte: 5 -> 0. */
    expect_decode_fails(&r, encode_ok(&r, (uint8_t[RECORD_MAX_ENCODED]){0}) - 1, 0, 0,
                        "zero amount");
}
END_TEST

START_TEST(decode_round_trips_fields)
{
    struct lcb_error err = {0};
    uint8_t buf[RECORD_MAX_ENCODED];
    struct record out;
    struct record r = valid_record();
    r.created_at_us = INT64_MIN;
    r.entries[0].amount = INT64_MAX;
    r.entries[1].amount = -INT64_MAX;
    size_t len = encode_ok(&r, buf);
    ck_assert_int_eq(record_decode(buf, len, &out, &err), 0);
    ck_assert_mem_eq(out.id, r.id, RECORD_ID_LEN);
    ck_assert_int_eq(out.kind, r.kind);
    ck_assert_int_eq(out.created_at_us, INT64_MIN);
    ck_assert_int_eq(out.entries[0].amount, INT64_MAX);
    ck_assert_int_eq(out.entries[1].amount, -INT64_MAX);
    ck_assert_str_eq(out.entries[1].unit, "community");
    ck_assert_str_eq(out.completed_on, "2024-06-10");
    ck_assert_uint_eq(out.n_entries, 2);
}
END_TEST

/* ---- balance, uuid, kind ------------------------------------------------ */

static struct record with_entries(const struct record_entry *entries, size_t n)
{
    struct record r = valid_record();
    r.n_entries = n;
    memcpy(r.entries, entries, n * sizeof entries[0]);
    return r;
}

START_TEST(balanced_records)
{
    struct lcb_error err = {0};
    struct record r = valid_record();
    ck_assert_int_eq(record_check_balanced(&r, &err), 0);
    const struct record_entry multi[] = {
        {2002, "community", -200}, {3, "community", 200},  {2002, "vocational", 100},
        {3, "vocational", -60},    {4, "vocational", -40},
    };
    r = with_entries(multi, 5);
    ck_assert_int_eq(record_check_balanced(&r, &err), 0);
    /* MAX + MIN + 1 = 0 with no partial sum out of range. */
    const struct record_entry extremes[] = {
        {1, "minutes", INT64_MAX}, {2, "minutes", INT64_MIN}, {3, "minutes", 1}};
    r = with_entries(extremes, 3);
    ck_assert_int_eq(record_check_balanced(&r, &err), 0);
}
END_TEST

START_TEST(unbalanced_records)
{
    struct lcb_error err = {0};
    struct record r = valid_record();
    r.entries[1].amount = -149;
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
    ck_assert_str_eq(err.code, "unbalanced");

    /* Balanced in total but across different units is still unbalanced. */
    const struct record_entry cross[] = {{1, "community", 100}, {2, "vocational", -100}};
    r = with_entries(cross, 2);
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
    const struct record_entry one_bad[] = {
        {1, "community", 100}, {2, "community", -100}, {1, "minutes", 30}, {2, "minutes", -29}};
    r = with_entries(one_bad, 4);
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "minutes"));
    const struct record_entry single[] = {{1, "community", 100}};
    r = with_entries(single, 1);
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
}
END_TEST

START_TEST(overflow_is_unbalanced)
{
    struct lcb_error err = {0};
    /* Wrapping arithmetic would call this zero. */
    const struct record_entry wrap[] = {{1, "community", INT64_MAX},
                                        {2, "community", 1},
                                        {3, "community", -INT64_MAX},
                                        {4, "community", -1}};
    struct record r = with_entries(wrap, 4);
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
    ck_assert_str_eq(err.code, "unbalanced");
    const struct record_entry down[] = {
        {1, "community", INT64_MIN}, {2, "community", -1}, {3, "community", 1}};
    r = with_entries(down, 3);
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
    r.n_entries = 0;
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
    r.n_entries = RECORD_MAX_ENTRIES + 1;
    ck_assert_int_eq(record_check_balanced(&r, &err), -1);
}
END_TEST

START_TEST(uuid_text)
{
    uint8_t id[RECORD_ID_LEN], back[RECORD_ID_LEN];
    char text[RECORD_UUID_TEXT_LEN + 1];
    for (size_t i = 0; i < RECORD_ID_LEN; i++)
        id[i] = (uint8_t)(0x10 * i + 0x0f - i);
    record_uuid_format(id, text);
    ck_assert_str_eq(text, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    ck_assert_int_eq(record_uuid_parse(text, back), 0);
    ck_assert_mem_eq(back, id, RECORD_ID_LEN);
    ck_assert_int_eq(record_uuid_parse("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", back), 0);
    ck_assert_mem_eq(back, id, RECORD_ID_LEN);
    ck_assert_int_eq(record_uuid_parse("0f1e2d3c4b5a-6978-8796-a5b4c3d2e1f0-", back), -1);
    ck_assert_int_eq(record_uuid_parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f", back), -1);
    ck_assert_int_eq(record_uuid_parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00", back), -1);
    ck_assert_int_eq(record_uuid_parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg", back), -1);
    ck_assert_int_eq(record_uuid_parse("0f1e2d3c-4b5a-6978-8796+a5b4c3d2e1f0", back), -1);
    ck_assert_int_eq(record_uuid_parse("", back), -1);
    ck_assert_int_eq(record_uuid_parse(NULL, back), -1);
}
END_TEST

START_TEST(kind_names)
{
    enum record_kind kind;
    ck_assert_str_eq(record_kind_name(RECORD_DEPOSIT), "deposit");
    ck_assert_str_eq(record_kind_name(RECORD_REVERSAL), "reversal");
    ck_assert_str_eq(record_kind_name(RECORD_CONVERSION), "conversion");
    ck_assert_str_eq(record_kind_name((enum record_kind)9), "unknown");
    ck_assert_int_eq(record_kind_parse("reversal", &kind), 0);
    ck_assert_int_eq(kind, RECORD_REVERSAL);
    ck_assert_int_eq(record_kind_parse("conversion", &kind), 0);
    ck_assert_int_eq(kind, RECORD_CONVERSION);
    ck_assert_int_eq(record_kind_parse("Deposit", &kind), -1);
    ck_assert_int_eq(record_kind_parse("unknown", &kind), -1);
    ck_assert_int_eq(record_kind_parse("", &kind), -1);
}
END_TEST

Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *vectors = tcase_create("vectors");
    tcase_add_test(vectors, vectors_match);
    suite_add_tcase(s, vectors);

    TCase *encode = tcase_create("encode");
    tcase_add_loop_test(encode, encode_rejects, 0, N_MUTATIONS);
    tcase_add_test(encode, encode_accepts_edges);
    tcase_add_test(encode, encode_refuses_small_buffer);
    tcase_add_test(encode, largest_record_fits);
    suite_add_tcase(s, encode);

    TCase *decode = tcase_create("decode");
    tcase_add_test(decode, decode_rejects_every_truncation);
    tcase_add_test(decode, decode_rejects_trailing_bytes);
    tcase_add_test(decode, decode_rejects_bad_fields);
    tcase_add_test(decode, decode_rejects_invalid_records);
    tcase_add_test(decode, decode_round_trips_fields);
    suite_add_tcase(s, decode);

    TCase *misc = tcase_create("balance_uuid_kind");
    tcase_add_test(misc, balanced_records);
    tcase_add_test(misc, unbalanced_records);
    tcase_add_test(misc, overflow_is_unbalanced);
    tcase_add_test(misc, uuid_text);
    tcase_add_test(misc, kind_names);
    suite_add_tcase(s, misc);
    return s;
}
