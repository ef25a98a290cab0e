/* Canonical encoding of a ledger transaction (protocol/RECORD.md is the
 * normative text; keep the two in step). Every valid record has exactly one
 * encoding and every accepted encoding decodes to exactly one record, so the
 * hash that is signed and chained can be recomputed anywhere. No I/O, no
 * allocation, never accept bytes that would not re-encode identically. */
#include "protocol/record.h"

#include "lib/crypto.h"

#include <string.h>

static const uint8_t record_magic[4] = {'L', 'C', 'B', 'R'};

#define INVALID "invalid_record"

/* ---- byte writer / reader --------------------------------------------- */

struct writer {
    uint8_t *buf;
    size_t cap;
    size_t pos;
    bool overflow;
};

static void put_bytes(struct writer *w, const void *p, size_t n)
{
    if (w->overflow || w->cap - w->pos < n) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->pos, p, n);
    w->pos += n;
}

static void put_u8(struct writer *w, uint8_t v)
{
    put_bytes(w, &v, 1);
}

static void put_u16(struct writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put_bytes(w, b, sizeof b);
}

static void put_i64(struct writer *w, int64_t v)
{
    uint64_t u = (uint64_t)v; /* two's complement, as RECORD.md says */
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (56 - 8 * i));
    put_bytes(w, b, sizeof b);
}

/* Callers have validated the length, so it fits a u16. */
static void put_str(struct writer *w, const char *s)
{
    size_t n = strlen(s);
    put_u16(w, (uint16_t)n);
    put_bytes(w, s, n);
}

struct reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
};

static int get_bytes(struct reader *rd, void *p, size_t n)
{
    if (rd->len - rd->pos < n)
        return -1;
    memcpy(p, rd->buf + rd->pos, n);
    rd->pos += n;
    return 0;
}

static int get_u8(struct reader *rd, uint8_t *v)
{
    return get_bytes(rd, v, 1);
}

static int get_u16(struct reader *rd, uint16_t *v)
{
    uint8_t b[2];
    if (get_bytes(rd, b, sizeof b) != 0)
        return -1;
    *v = (uint16_t)(b[0] << 8 | b[1]);
    return 0;
}

static int get_i64(struct reader *rd, int64_t *v)
{
    uint8_t b[8];
    uint64_t u = 0;
    if (get_bytes(rd, b, sizeof b) != 0)
        return -1;
    for (int i = 0; i < 8; i++)
        u = u << 8 | b[i];
    /* memcpy, not a cast: converting an out-of-range uint64_t is
     * implementation-defined, the bit copy is not. */
    memcpy(v, &u, sizeof *v);
    return 0;
}

/* Reads a u16-prefixed string into out (room for max bytes plus NUL). The
 * content is checked later by record_validate, except NUL, which a C string
 * could not carry back into the same encoding. */
static int get_str(struct reader *rd, char *out, size_t max, const char *field,
                   struct lcb_error *err)
{
    uint16_t n;
    if (get_u16(rd, &n) != 0)
        return lcb_error_set(err, INVALID, "record truncated in %s", field);
    if (n > max)
        return lcb_error_set(err, INVALID, "%s longer than %zu bytes", field, max);
    if (get_bytes(rd, out, n) != 0)
        return lcb_error_set(err, INVALID, "record truncated in %s", field);
    if (memchr(out, '\0', n) != NULL)
        return lcb_error_set(err, INVALID, "%s contains a NUL byte", field);
    out[n] = '\0';
    return 0;
}

/* ---- validation ------------------------------------------------------- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t extra;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (n - i <= extra)
            return false;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= extra; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return false;
        i += extra + 1;
    }
    return true;
}

/* A text field must be NUL-terminated within its array, at most max bytes,
 * and valid UTF-8. */
static int check_text(const char *s, size_t max, const char *field, struct lcb_error *err)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return lcb_error_set(err, INVALID, "%s longer than %zu bytes", field, max);
    if (!utf8_valid(s, n))
        return lcb_error_set(err, INVALID, "%s is not valid UTF-8", field);
    return 0;
}

static bool digits_at(const char *s, int from, int count, int *value)
{
    int v = 0;
    for (int i = from; i < from + count; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return true;
}

/* "" or a real proleptic Gregorian date YYYY-MM-DD, year 0001..9999. */
static bool date_valid(const char *s)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    size_t n = strnlen(s, RECORD_DATE_LEN + 1);
    if (n == 0)
        return true;
    if (n != RECORD_DATE_LEN || s[4] != '-' || s[7] != '-')
        return false;
    if (!digits_at(s, 0, 4, &y) || !digits_at(s, 5, 2, &m) || !digits_at(s, 8, 2, &d))
        return false;
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max_day = days[m - 1] + (m == 2 && leap ? 1 : 0);
    return d <= max_day;
}

/* ^[a-z][a-z0-9_]{0,15}$, the same rule as the units table in sql/. */
static bool unit_valid(const char *u)
{
    size_t n = strnlen(u, RECORD_UNIT_MAX + 1);
    if (n < 1 || n > RECORD_UNIT_MAX || u[0] < 'a' || u[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = u[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static bool key_id_valid(const char *k)
{
    size_t n = strnlen(k, RECORD_KEY_ID_MAX + 1);
    if (n < 1 || n > RECORD_KEY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f')))
            return false;
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static int check_texts(const struct record *r, struct lcb_error *err)
{
    if (check_text(r->idempotency_key, RECORD_KEY_MAX, "idempotency_key", err) != 0 ||
        check_text(r->item_code, RECORD_CODE_MAX, "item_code", err) != 0 ||
        check_text(r->result, RECORD_RESULT_MAX, "result", err) != 0 ||
        check_text(r->reason, RECORD_REASON_MAX, "reason", err) != 0)
        return -1;
    if (r->idempotency_key[0] == '\0')
        return lcb_error_set(err, INVALID, "idempotency_key is empty");
    if (!date_valid(r->completed_on))
        return lcb_error_set(err, INVALID, "completed_on is not a YYYY-MM-DD calendar date");
    if (!key_id_valid(r->key_id))
        return lcb_error_set(err, INVALID, "key_id must be 1..%d lower-case hex characters",
                             RECORD_KEY_ID_MAX);
    return 0;
}

static int check_header(const struct record *r, struct lcb_error *err)
{
    if (r->kind != RECORD_DEPOSIT && r->kind != RECORD_REVERSAL && r->kind != RECORD_CONVERSION)
        return lcb_error_set(err, INVALID, "unknown kind %d", (int)r->kind);
    if (r->chain_seq < 1)
        return lcb_error_set(err, INVALID, "chain_seq must be at least 1");
    /* The first link has nothing before it; every later one must name it. */
    if ((r->chain_seq == 1) != all_zero(r->prev_hash, RECORD_HASH_LEN))
        return lcb_error_set(err, INVALID,
                             "prev_hash must be all zero exactly when chain_seq is 1");
    if ((r->kind == RECORD_REVERSAL) != r->has_reverses)
        return lcb_error_set(err, INVALID, "a reversal, and only a reversal, names reverses");
    if (r->kind == RECORD_REVERSAL && r->reason[0] == '\0')
        return lcb_error_set(err, INVALID, "a reversal needs a reason");
    return 0;
}

static int check_entries(const struct record *r, struct lcb_error *err)
{
    if (r->n_entries < 1 || r->n_entries > RECORD_MAX_ENTRIES)
        return lcb_error_set(err, INVALID, "a record has 1..%d entries, not %zu",
                             RECORD_MAX_ENTRIES, r->n_entries);
    for (size_t i = 0; i < r->n_entries; i++) {
        const struct record_entry *e = &r->entries[i];
        if (!unit_valid(e->unit))
            return lcb_error_set(err, INVALID, "entry %zu: bad unit", i);
        if (e->amount == 0)
            return lcb_error_set(err, INVALID, "entry %zu: zero amount", i);
    }
    return 0;
}

static int record_validate(const struct record *r, struct lcb_error *err)
{
    if (check_header(r, err) != 0 || check_texts(r, err) != 0 || check_entries(r, err) != 0)
        return -1;
    return 0;
}

/* ---- public functions ------------------------------------------------- */

int record_encode(const struct record *r, uint8_t *buf, size_t cap, size_t *len,
                  struct lcb_error *err)
{
    if (record_validate(r, err) != 0)
        return -1;
    struct writer w = {.buf = buf, .cap = cap};
    put_bytes(&w, record_magic, sizeof record_magic);
    put_u8(&w, RECORD_VERSION);
    put_u8(&w, (uint8_t)r->kind);
    put_bytes(&w, r->id, RECORD_ID_LEN);
    put_i64(&w, r->chain_account_id);
    put_i64(&w, r->chain_seq);
    put_bytes(&w, r->prev_hash, RECORD_HASH_LEN);
    put_i64(&w, r->created_at_us);
    put_i64(&w, r->institution_id);
    put_str(&w, r->idempotency_key);
    put_str(&w, r->item_code);
    put_str(&w, r->result);
    put_str(&w, r->completed_on);
    put_u8(&w, r->has_evidence ? 1 : 0);
    if (r->has_evidence)
        put_bytes(&w, r->evidence_sha256, RECORD_HASH_LEN);
    put_u8(&w, r->has_reverses ? 1 : 0);
    if (r->has_reverses)
        put_bytes(&w, r->reverses, RECORD_ID_LEN);
    put_str(&w, r->reason);
    put_str(&w, r->key_id);
    put_u16(&w, (uint16_t)r->n_entries);
    for (size_t i = 0; i < r->n_entries; i++) {
        put_i64(&w, r->entries[i].account_id);
        put_str(&w, r->entries[i].unit);
        put_i64(&w, r->entries[i].amount);
    }
    if (w.overflow)
        return lcb_error_set(err, INVALID, "encoding does not fit in %zu bytes", cap);
    *len = w.pos;
    return 0;
}

static int get_presence(struct reader *rd, bool *present, const char *field, struct lcb_error *err)
{
    uint8_t flag;
    if (get_u8(rd, &flag) != 0)
        return lcb_error_set(err, INVALID, "record truncated before %s", field);
    if (flag > 1)
        return lcb_error_set(err, INVALID, "%s presence byte must be 0 or 1", field);
    *present = flag == 1;
    return 0;
}

static int decode_header(struct reader *rd, struct record *r, struct lcb_error *err)
{
    uint8_t magic[sizeof record_magic], version, kind;
    if (get_bytes(rd, magic, sizeof magic) != 0 || get_u8(rd, &version) != 0 ||
        get_u8(rd, &kind) != 0)
        return lcb_error_set(err, INVALID, "record truncated in header");
    if (memcmp(magic, record_magic, sizeof magic) != 0)
        return lcb_error_set(err, INVALID, "not a record (bad magic)");
    if (version != RECORD_VERSION)
        return lcb_error_set(err, INVALID, "unsupported record version %u", version);
    r->kind = (enum record_kind)kind;
    if (get_bytes(rd, r->id, RECORD_ID_LEN) != 0 || get_i64(rd, &r->chain_account_id) != 0 ||
        get_i64(rd, &r->chain_seq) != 0 || get_bytes(rd, r->prev_hash, RECORD_HASH_LEN) != 0 ||
        get_i64(rd, &r->created_at_us) != 0 || get_i64(rd, &r->institution_id) != 0)
        return lcb_error_set(err, INVALID, "record truncated in header");
    return 0;
}

static int decode_body(struct reader *rd, struct record *r, struct lcb_error *err)
{
    if (get_str(rd, r->idempotency_key, RECORD_KEY_MAX, "idempotency_key", err) != 0 ||
        get_str(rd, r->item_code, RECORD_CODE_MAX, "item_code", err) != 0 ||
        get_str(rd, r->result, RECORD_RESULT_MAX, "result", err) != 0 ||
        get_str(rd, r->completed_on, RECORD_DATE_LEN, "completed_on", err) != 0 ||
        get_presence(rd, &r->has_evidence, "evidence_sha256", err) != 0)
        return -1;
    if (r->has_evidence && get_bytes(rd, r->evidence_sha256, RECORD_HASH_LEN) != 0)
        return lcb_error_set(err, INVALID, "record truncated in evidence_sha256");
    if (get_presence(rd, &r->has_reverses, "reverses", err) != 0)
        return -1;
    if (r->has_reverses && get_bytes(rd, r->reverses, RECORD_ID_LEN) != 0)
        return lcb_error_set(err, INVALID, "record truncated in reverses");
    if (get_str(rd, r->reason, RECORD_REASON_MAX, "reason", err) != 0 ||
        get_str(rd, r->key_id, RECORD_KEY_ID_MAX, "key_id", err) != 0)
        return -1;
    return 0;
}

static int decode_entries(struct reader *rd, struct record *r, struct lcb_error *err)
{
    uint16_t n;
    if (get_u16(rd, &n) != 0)
        return lcb_error_set(err, INVALID, "record truncated before entries");
    if (n < 1 || n > RECORD_MAX_ENTRIES)
        return lcb_error_set(err, INVALID, "a record has 1..%d entries, not %u", RECORD_MAX_ENTRIES,
                             n);
    r->n_entries = n;
    for (size_t i = 0; i < n; i++) {
        struct record_entry *e = &r->entries[i];
        if (get_i64(rd, &e->account_id) != 0)
            return lcb_error_set(err, INVALID, "record truncated in entry %zu", i);
        if (get_str(rd, e->unit, RECORD_UNIT_MAX, "entry unit", err) != 0)
            return -1;
        if (get_i64(rd, &e->amount) != 0)
            return lcb_error_set(err, INVALID, "record truncated in entry %zu", i);
    }
    return 0;
}

int record_decode(const uint8_t *buf, size_t len, struct record *r, struct lcb_error *err)
{
    struct reader rd = {.buf = buf, .len = len};
    /* Zeroed first so unused bytes of the fixed arrays are deterministic. */
    memset(r, 0, sizeof *r);
    if (decode_header(&rd, r, err) != 0 || decode_body(&rd, r, err) != 0 ||
        decode_entries(&rd, r, err) != 0)
        return -1;
    if (rd.pos != len)
        return lcb_error_set(err, INVALID, "%zu trailing bytes after the record", len - rd.pos);
    return record_validate(r, err);
}

int record_hash(const struct record *r, uint8_t out[RECORD_HASH_LEN], struct lcb_error *err)
{
    uint8_t buf[RECORD_MAX_ENCODED];
    size_t len = 0;
    if (record_encode(r, buf, sizeof buf, &len, err) != 0)
        return -1;
    crypto_sha256(buf, len, out);
    return 0;
}

/* Sums one unit's amounts in entry order; a partial sum that overflows is
 * refused rather than wrapped, so no wrap-around can fake a balance. */
static int unit_sum(const struct record *r, const char *unit, int64_t *sum)
{
    int64_t total = 0;
    for (size_t i = 0; i < r->n_entries; i++) {
        if (strncmp(r->entries[i].unit, unit, RECORD_UNIT_MAX + 1) != 0)
            continue;
        if (__builtin_add_overflow(total, r->entries[i].amount, &total))
            return -1;
    }
    *sum = total;
    return 0;
}

int record_check_balanced(const struct record *r, struct lcb_error *err)
{
    if (r->n_entries < 1 || r->n_entries > RECORD_MAX_ENTRIES)
        return lcb_error_set(err, INVALID, "a record has 1..%d entries, not %zu",
                             RECORD_MAX_ENTRIES, r->n_entries);
    for (size_t i = 0; i < r->n_entries; i++) {
        const char *unit = r->entries[i].unit;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(r->entries[j].unit, unit, RECORD_UNIT_MAX + 1) == 0;
        if (seen)
            continue;
        int64_t sum;
        if (unit_sum(r, unit, &sum) != 0)
            return lcb_error_set(err, "unbalanced", "entries in %.16s overflow", unit);
        if (sum != 0)
            return lcb_error_set(err, "unbalanced", "entries in %.16s sum to %lld, not 0", unit,
                                 (long long)sum);
    }
    return 0;
}

void record_uuid_format(const uint8_t id[RECORD_ID_LEN], char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t pos = 0;
    for (size_t i = 0; i < RECORD_ID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[pos++] = '-';
        out[pos++] = digits[id[i] >> 4];
        out[pos++] = digits[id[i] & 0x0f];
    }
    out[pos] = '\0';
}

int record_uuid_parse(const char *text, uint8_t id[RECORD_ID_LEN])
{
    char hex[2 * RECORD_ID_LEN + 1];
    size_t n = 0;
    if (text == NULL || strlen(text) != RECORD_UUID_TEXT_LEN)
        return -1;
    for (size_t i = 0; i < RECORD_UUID_TEXT_LEN; i++) {
        bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_here != (text[i] == '-'))
            return -1;
        if (!dash_here)
            hex[n++] = text[i];
    }
    hex[n] = '\0';
    return crypto_hex_decode(hex, id, RECORD_ID_LEN);
}

const char *record_kind_name(enum record_kind kind)
{
    switch (kind) {
    case RECORD_DEPOSIT:
        return "deposit";
    case RECORD_REVERSAL:
        return "reversal";
    case RECORD_CONVERSION:
        return "conversion";
    }
    return "unknown";
}

int record_kind_parse(const char *name, enum record_kind *kind)
{
    static const enum record_kind kinds[] = {RECORD_DEPOSIT, RECORD_REVERSAL, RECORD_CONVERSION};
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(name, record_kind_name(kinds[i])) == 0) {
            *kind = kinds[i];
            return 0;
        }
    }
    return -1;
}
