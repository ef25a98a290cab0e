/* LCBP/1 codec (protocol/SPEC.md is the normative text; keep the two in
 * step): framing, decoding and encoding by the tables of lcbp_rules.c, with
 * the validator shared with the encoder. No I/O, no allocation; never reads
 * past `len` or writes past `cap`, and refuses an oversized length from its
 * 4 bytes alone. */
#include "protocol/lcbp_rules.h"

#include <string.h>

#define BAD(...) lcb_error_set(err, "bad_field", __VA_ARGS__)

/* ---- reading ---------------------------------------------------------- */

struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static void store_uint(struct lcbp_message *m, const struct lcbp_field_def *f, uint64_t v)
{
    char *p = (char *)m + f->offset;
    if (f->wire == LCBP_W_U8) {
        uint8_t x = (uint8_t)v;
        memcpy(p, &x, sizeof x);
    } else if (f->wire == LCBP_W_U16) {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, sizeof x);
    } else if (f->wire == LCBP_W_U32) {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, sizeof x);
    } else {
        memcpy(p, &v, sizeof v);
    }
}

static bool get(struct reader *rd, size_t n, const uint8_t **out)
{
    if (rd->len - rd->pos < n)
        return false;
    *out = rd->p + rd->pos;
    rd->pos += n;
    return true;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static bool get_uint(struct reader *rd, size_t n, uint64_t *v)
{
    const uint8_t *p;
    if (!get(rd, n, &p))
        return false;
    *v = be(p, n);
    return true;
}

/* A u8-length-prefixed string of at most max bytes into out[max + 1]. */
static bool get_short_text(struct reader *rd, char *out, size_t max)
{
    uint64_t n;
    const uint8_t *p;
    if (!get_uint(rd, 1, &n) || n > max || !get(rd, (size_t)n, &p) || memchr(p, 0, n) != NULL)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static const uint64_t card_low = UINT64_C(1000000000000000000);  /* 10^18 */
static const uint64_t card_high = UINT64_C(9999999999999999999); /* 10^19 - 1 */

/* A tap's card travels as the 19-digit number's value (SPEC.md section 6). */
static bool card_from_u64(uint64_t v, char out[LCBP_CARD_LEN + 1])
{
    if (v < card_low || v > card_high)
        return false;
    for (int i = LCBP_CARD_LEN - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    out[LCBP_CARD_LEN] = '\0';
    return true;
}

static bool read_tap(struct reader *rd, struct lcbp_tap *t)
{
    uint64_t seq, time, card, session, direction;
    if (!get_uint(rd, 8, &seq) || !get_uint(rd, 8, &time) || !get_uint(rd, 8, &card) ||
        !get_uint(rd, 1, &session) || !get_uint(rd, 1, &direction))
        return false;
    t->sequence = seq;
    memcpy(&t->terminal_time_ms, &time, sizeof time);
    t->session_index = (uint8_t)session;
    t->direction = (uint8_t)direction;
    return card_from_u64(card, t->card);
}

static bool read_item(struct reader *rd, struct lcbp_message *m, int tag, size_t i)
{
    uint64_t v, w;
    switch (tag) {
    case LCBP_TAG_SESSIONS:
        return get_short_text(rd, m->sessions[i], LCBP_CODE_MAX);
    case LCBP_TAG_TAPS:
        return read_tap(rd, &m->taps[i]);
    case LCBP_TAG_BALANCES:
        if (!get_short_text(rd, m->balances[i].unit, LCBP_UNIT_MAX) || !get_uint(rd, 8, &v))
            return false;
        memcpy(&m->balances[i].amount, &v, sizeof v);
        return true;
    case LCBP_TAG_TAP_STATUS:
        if (!get_uint(rd, 1, &v))
            return false;
        m->tap_status[i] = (uint8_t)v;
        return true;
    default:
        if (!get_uint(rd, 8, &v) || !get_uint(rd, 8, &w))
            return false;
        m->gaps[i] = (struct lcbp_gap){.first = v, .last = w};
        return true;
    }
}

static void set_count(struct lcbp_message *m, int tag, size_t n)
{
    switch (tag) {
    case LCBP_TAG_SESSIONS:
        m->n_sessions = n;
        break;
    case LCBP_TAG_TAPS:
        m->n_taps = n;
        break;
    case LCBP_TAG_BALANCES:
        m->n_balances = n;
        break;
    case LCBP_TAG_TAP_STATUS:
        m->n_tap_status = n;
        break;
    default:
        m->n_gaps = n;
    }
}

/* A list value: u16 count, then exactly count items and nothing after. */
static int read_list(struct reader *rd, struct lcbp_message *m, int tag, struct lcb_error *err)
{
    const struct lcbp_field_def *f = &lcbp_field_defs[tag];
    uint64_t n;
    if (!get_uint(rd, 2, &n))
        return BAD("%s: list shorter than its count", f->name);
    if (n > f->max)
        return BAD("%s: %u items, at most %u allowed", f->name, (unsigned)n, (unsigned)f->max);
    for (size_t i = 0; i < n; i++)
        if (!read_item(rd, m, tag, i))
            return BAD("%s[%zu] is malformed", f->name, i);
    if (rd->pos != rd->len)
        return BAD("%s: bytes after the last item", f->name);
    set_count(m, tag, (size_t)n);
    return 0;
}

static size_t fixed_size(int wire)
{
    static const size_t sizes[] = {
        [LCBP_W_U8] = 1, [LCBP_W_U16] = 2, [LCBP_W_U32] = 4, [LCBP_W_U64] = 8, [LCBP_W_I64] = 8};
    return sizes[wire];
}

/* One field's value (already delimited by its TLV length) into m. */
static int read_value(struct reader *rd, struct lcbp_message *m, int tag, struct lcb_error *err)
{
    const struct lcbp_field_def *f = &lcbp_field_defs[tag];
    char *dst = (char *)m + f->offset;
    switch (f->wire) {
    case LCBP_W_LIST:
        return read_list(rd, m, tag, err);
    case LCBP_W_STRING:
        if (rd->len > f->max)
            return BAD("%s longer than %u bytes", f->name, (unsigned)f->max);
        if (memchr(rd->p, 0, rd->len) != NULL)
            return BAD("%s contains a NUL byte", f->name);
        memcpy(dst, rd->p, rd->len);
        dst[rd->len] = '\0';
        return 0;
    case LCBP_W_BYTES:
        if (rd->len != f->max)
            return BAD("%s must be %u bytes", f->name, (unsigned)f->max);
        memcpy(dst, rd->p, rd->len);
        return 0;
    default:
        if (rd->len != fixed_size(f->wire))
            return BAD("%s has length %zu, its type needs %zu", f->name, rd->len,
                       fixed_size(f->wire));
        store_uint(m, f, be(rd->p, rd->len));
        return 0;
    }
}

/* ---- decode ----------------------------------------------------------- */

int lcbp_frame_length(const uint8_t *buf, size_t len, size_t *frame_len, struct lcb_error *err)
{
    if (len < 4) {
        *frame_len = 4;
        return LCBP_NEED_MORE;
    }
    uint64_t body = be(buf, 4);
    if (body > LCBP_MAX_FRAME - 4)
        return lcb_error_set(err, "frame_too_large", "frame of %llu bytes, at most %d allowed",
                             (unsigned long long)body + 4, LCBP_MAX_FRAME);
    if (body < LCBP_HEADER_LEN - 4)
        return lcb_error_set(err, "bad_frame", "frame length %u is below the header's 5",
                             (unsigned)body);
    *frame_len = (size_t)body + 4;
    return len >= *frame_len ? 0 : LCBP_NEED_MORE;
}

/* The field area must split exactly into whole TLVs; anything else means
 * the frame itself is corrupt, which is a framing error, not a field error. */
static int check_tlv_structure(const uint8_t *p, size_t n, struct lcb_error *err)
{
    size_t pos = 0;
    while (pos < n) {
        if (n - pos < 4)
            return lcb_error_set(err, "bad_frame", "field header cut at byte %zu", pos + 9);
        size_t vlen = (size_t)be(p + pos + 2, 2);
        if (n - pos - 4 < vlen)
            return lcb_error_set(err, "bad_frame", "field value at byte %zu runs past the frame",
                                 pos + 9);
        pos += 4 + vlen;
    }
    return 0;
}

static int decode_fields(const uint8_t *p, size_t n, struct lcbp_message *m,
                         const struct lcbp_message_def *def, struct lcb_error *err)
{
    int prev = 0;
    size_t pos = 0;
    while (pos < n) {
        int tag = p[pos], wire = p[pos + 1];
        size_t vlen = (size_t)be(p + pos + 2, 2);
        const struct lcbp_field_def *f = &lcbp_field_defs[tag < 64 ? tag : 0];
        if (tag < 64 && tag == prev)
            return BAD("field %s appears twice", f->name != NULL ? f->name : "?");
        if (tag <= prev)
            return BAD("field 0x%02x out of order (tags must ascend)", (unsigned)tag);
        if (tag >= 64 || f->name == NULL)
            return BAD("unknown field tag 0x%02x", (unsigned)tag);
        if (((def->required | def->optional) & LCBP_BIT(tag)) == 0)
            return BAD("%s has no field %s", def->name, f->name);
        if (wire != f->wire)
            return BAD("%s has wire type %d, expected %d", f->name, wire, f->wire);
        struct reader rd = {.p = p + pos + 4, .len = vlen, .pos = 0};
        if (read_value(&rd, m, tag, err) != 0)
            return -1;
        m->present |= LCBP_BIT(tag);
        prev = tag;
        pos += 4 + vlen;
    }
    return 0;
}

int lcbp_decode(const uint8_t *frame, size_t len, struct lcbp_message *msg, struct lcb_error *err)
{
    size_t frame_len = 0;
    memset(msg, 0, sizeof *msg);
    int rc = lcbp_frame_length(frame, len, &frame_len, err);
    if (rc < 0)
        return -1;
    if (len >= LCBP_HEADER_LEN) {
        msg->type = (enum lcbp_type)frame[4];
        msg->request_id = (uint32_t)be(frame + 5, 4);
    }
    if (rc == LCBP_NEED_MORE)
        return lcb_error_set(err, "bad_frame", "frame truncated: %zu of %zu bytes", len, frame_len);
    if (len != frame_len)
        return lcb_error_set(err, "bad_frame", "%zu bytes after the frame", len - frame_len);
    if (msg->request_id == 0 && frame[4] != LCBP_ERROR)
        return lcb_error_set(err, "bad_frame", "request id 0 is reserved for ERROR");
    if (check_tlv_structure(frame + LCBP_HEADER_LEN, len - LCBP_HEADER_LEN, err) != 0)
        return -1;
    const struct lcbp_message_def *def = lcbp_message_def(frame[4]);
    if (def == NULL)
        return lcb_error_set(err, "unknown_message", "message type 0x%02x is not LCBP/1",
                             (unsigned)frame[4]);
    if (decode_fields(frame + LCBP_HEADER_LEN, len - LCBP_HEADER_LEN, msg, def, err) != 0)
        return -1;
    return lcbp_validate(msg, err);
}

/* ---- encode ----------------------------------------------------------- */

struct writer {
    uint8_t *buf;
    size_t cap;
    size_t pos;
    bool overflow;
};

static void put(struct writer *w, const void *p, size_t n)
{
    if (w->overflow || w->cap - w->pos < n) {
        w->overflow = true;
        return;
    }
    if (n > 0)
        memcpy(w->buf + w->pos, p, n);
    w->pos += n;
}

static void put_uint(struct writer *w, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    put(w, b, n);
}

/* Fills in a length written as 0 before its value's size was known. */
static void patch_length(uint8_t *at, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        at[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void put_short_text(struct writer *w, const char *s)
{
    size_t n = strlen(s); /* validated: at most LCBP_CODE_MAX */
    put_uint(w, n, 1);
    put(w, s, n);
}

static uint64_t card_to_u64(const char *card)
{
    uint64_t v = 0;
    for (int i = 0; i < LCBP_CARD_LEN; i++)
        v = v * 10 + (uint64_t)(card[i] - '0');
    return v;
}

static void write_item(struct writer *w, const struct lcbp_message *m, int tag, size_t i)
{
    uint64_t bits;
    switch (tag) {
    case LCBP_TAG_SESSIONS:
        put_short_text(w, m->sessions[i]);
        break;
    case LCBP_TAG_TAPS:
        put_uint(w, m->taps[i].sequence, 8);
        memcpy(&bits, &m->taps[i].terminal_time_ms, sizeof bits);
        put_uint(w, bits, 8);
        put_uint(w, card_to_u64(m->taps[i].card), 8);
        put_uint(w, m->taps[i].session_index, 1);
        put_uint(w, m->taps[i].direction, 1);
        break;
    case LCBP_TAG_BALANCES:
        put_short_text(w, m->balances[i].unit);
        memcpy(&bits, &m->balances[i].amount, sizeof bits);
        put_uint(w, bits, 8);
        break;
    case LCBP_TAG_TAP_STATUS:
        put_uint(w, m->tap_status[i], 1);
        break;
    default:
        put_uint(w, m->gaps[i].first, 8);
        put_uint(w, m->gaps[i].last, 8);
    }
}

static void write_value(struct writer *w, const struct lcbp_message *m, int tag)
{
    const struct lcbp_field_def *f = &lcbp_field_defs[tag];
    const char *src = (const char *)m + f->offset;
    switch (f->wire) {
    case LCBP_W_LIST: {
        size_t n = lcbp_list_count(m, tag);
        put_uint(w, n, 2);
        for (size_t i = 0; i < n; i++)
            write_item(w, m, tag, i);
        break;
    }
    case LCBP_W_STRING:
        put(w, src, strlen(src));
        break;
    case LCBP_W_BYTES:
        put(w, src, (size_t)f->max);
        break;
    default:
        put_uint(w, lcbp_load_uint(m, f), fixed_size(f->wire));
    }
}

int lcbp_encode(const struct lcbp_message *msg, uint8_t *buf, size_t cap, size_t *len,
                struct lcb_error *err)
{
    if (lcbp_validate(msg, err) != 0)
        return -1;
    struct writer w = {.buf = buf, .cap = cap, .pos = 0, .overflow = false};
    put_uint(&w, 0, 4); /* the length, patched below */
    put_uint(&w, (uint64_t)msg->type, 1);
    put_uint(&w, msg->request_id, 4);
    for (int tag = 1; tag < 64; tag++) {
        if (!lcbp_has(msg, (enum lcbp_tag)tag))
            continue;
        size_t start = w.pos;
        put_uint(&w, (uint64_t)tag, 1);
        put_uint(&w, lcbp_field_defs[tag].wire, 1);
        put_uint(&w, 0, 2);
        write_value(&w, msg, tag);
        if (!w.overflow) /* validated maxima keep every value below 65536 bytes */
            patch_length(buf + start + 2, w.pos - start - 4, 2);
    }
    if (w.overflow)
        return lcb_error_set(err, "frame_too_large", "%s does not fit %zu bytes",
                             lcbp_type_name((int)msg->type), cap);
    patch_length(buf, w.pos - 4, 4);
    *len = w.pos;
    return 0;
}
