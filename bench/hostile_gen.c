/* Hostile frames; see hostile_gen.h. A real request is encoded with the
 * codec, taken apart into its fields (a draft), given one fault and put
 * back together; the oracle then says what lcbd must answer, and a frame
 * that would be carried out, or would leave lcbd waiting, is made again. */
#include "bench/hostile_gen.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const struct hostile_kind_info hostile_kinds[HOSTILE_KINDS] = {
    [HK_UNKNOWN_TYPE] = {"unknown_type", HC_OPEN, 3},
    [HK_RESPONSE_TYPE] = {"response_type", HC_OPEN, 2},
    [HK_FIELD_FAULT] = {"field_fault", HC_OPEN, 8},
    [HK_MISSING_FIELD] = {"missing_field", HC_OPEN, 2},
    [HK_GARBAGE_FIELDS] = {"garbage_fields", HC_OPEN, 3},
    [HK_LENGTH_HUGE] = {"length_huge", HC_CLOSING, 2},
    [HK_OVERSIZED] = {"oversized", HC_CLOSING, 1},
    [HK_LENGTH_SMALL] = {"length_small", HC_CLOSING, 2},
    [HK_REQUEST_ID_ZERO] = {"request_id_zero", HC_CLOSING, 1},
    [HK_FIELD_PAST_END] = {"field_past_end", HC_CLOSING, 2},
    [HK_LENGTH_MISMATCH] = {"length_mismatch", HC_CLOSING, 2},
    [HK_GARBAGE_PAYLOAD] = {"garbage_payload", HC_CLOSING, 2},
    [HK_RANDOM_BYTES] = {"random_bytes", HC_CLOSING, 2},
    [HK_FOREIGN_PROTOCOL] = {"foreign_protocol", HC_CLOSING, 1},
    [HK_HELLO_REPEATED] = {"hello_repeated", HC_CLOSING, 1},
    [HK_BEFORE_HELLO] = {"before_hello", HC_PRE_HELLO, 3},
    [HK_BAD_VERSION] = {"bad_version", HC_PRE_HELLO, 1},
    [HK_BAD_HELLO] = {"bad_hello", HC_PRE_HELLO, 2},
    [HK_PRE_GARBAGE] = {"pre_garbage", HC_PRE_HELLO, 2},
    [HK_PLAIN_TCP] = {"plain_tcp", HC_TRANSPORT, 3},
    [HK_NO_CERT] = {"no_cert", HC_TRANSPORT, 3},
    [HK_TLS12] = {"tls12", HC_TRANSPORT, 1},
    [HK_CUT_FIN] = {"cut_fin", HC_TRANSPORT, 2},
    [HK_CUT_RST] = {"cut_rst", HC_TRANSPORT, 2},
    [HK_DRIP_FRAME] = {"drip_frame", HC_SLOW, 3},
    [HK_HEADER_ONLY] = {"header_only", HC_SLOW, 2},
    [HK_NO_HELLO] = {"no_hello", HC_SLOW, 1},
    [HK_DRIP_HELLO] = {"drip_hello", HC_SLOW, 1},
    [HK_DRIP_HANDSHAKE] = {"drip_handshake", HC_SLOW, 2},
    [HK_SILENT_TCP] = {"silent_tcp", HC_SLOW, 1},
};

void hostile_rng_seed(struct hostile_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = seed * UINT64_C(0x9e3779b97f4a7c15) ^ (stream + 1) * UINT64_C(0xbf58476d1ce4e5b9);
    hostile_rng_next(rng);
}

uint64_t hostile_rng_next(struct hostile_rng *rng)
{
    uint64_t z = (rng->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint32_t hostile_rng_below(struct hostile_rng *rng, uint32_t n)
{
    return (uint32_t)(hostile_rng_next(rng) % n);
}

static uint32_t nonzero_id(struct hostile_rng *rng)
{
    return 1 + hostile_rng_below(rng, UINT32_MAX);
}

static void random_fill(struct hostile_rng *rng, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)hostile_rng_next(rng);
}

enum hostile_kind hostile_gen_pick(struct hostile_rng *rng, enum hostile_class cls)
{
    unsigned total = 0;
    for (int k = 0; k < HOSTILE_KINDS; k++)
        total += hostile_kinds[k].cls == cls ? hostile_kinds[k].weight : 0;
    unsigned r = hostile_rng_below(rng, total);
    for (int k = 0; k < HOSTILE_KINDS; k++) {
        if (hostile_kinds[k].cls != cls)
            continue;
        if (r < hostile_kinds[k].weight)
            return (enum hostile_kind)k;
        r -= hostile_kinds[k].weight;
    }
    return HK_FIELD_FAULT; /* not reached */
}

/* ---- drafts: a frame as a list of fields ---------------------------------- */

#define DRAFT_MAX_FIELDS 40
#define FIELD_MAX_VALUE 600

struct field {
    uint8_t tag, wire;
    uint16_t len;
    uint8_t value[FIELD_MAX_VALUE];
};

struct draft {
    uint8_t type;
    uint32_t request_id;
    size_t n;
    struct field fields[DRAFT_MAX_FIELDS];
};

static struct draft draft;          /* about 25 KiB: one, never on the stack */
static struct lcbp_message request; /* about 24 KiB */

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* A frame the codec made, as a draft; its fields are well-formed. */
static void draft_from(const uint8_t *frame, size_t len, struct draft *d)
{
    d->type = frame[4];
    d->request_id = (uint32_t)get_be(frame + 5, 4);
    d->n = 0;
    for (size_t pos = LCBP_HEADER_LEN; pos + 4 <= len && d->n < DRAFT_MAX_FIELDS;) {
        struct field *f = &d->fields[d->n++];
        f->tag = frame[pos];
        f->wire = frame[pos + 1];
        f->len = (uint16_t)get_be(frame + pos + 2, 2);
        if (f->len > FIELD_MAX_VALUE)
            f->len = FIELD_MAX_VALUE; /* only UPLOADs this big are never made */
        memcpy(f->value, frame + pos + 4, f->len);
        pos += 4 + (size_t)get_be(frame + pos + 2, 2);
    }
}

/* The draft as a frame whose length field is the true one plus skew. */
static size_t draft_write(const struct draft *d, uint8_t *buf, size_t cap, long skew)
{
    size_t pos = LCBP_HEADER_LEN;
    for (size_t i = 0; i < d->n; i++) {
        const struct field *f = &d->fields[i];
        if (pos + 4 + f->len > cap)
            break;
        buf[pos] = f->tag;
        buf[pos + 1] = f->wire;
        put_be(buf + pos + 2, f->len, 2);
        memcpy(buf + pos + 4, f->value, f->len);
        pos += 4 + f->len;
    }
    put_be(buf, (uint64_t)((long)pos - 4 + skew), 4);
    buf[4] = d->type;
    put_be(buf + 5, d->request_id, 4);
    return pos;
}

static void draft_insert(struct draft *d, size_t at, const struct field *f)
{
    if (d->n == DRAFT_MAX_FIELDS)
        return;
    memmove(&d->fields[at + 1], &d->fields[at], (d->n - at) * sizeof d->fields[0]);
    d->fields[at] = *f;
    d->n++;
}

/* Where tag goes to keep the tags ascending. */
static size_t draft_slot(const struct draft *d, uint8_t tag)
{
    size_t at = 0;
    while (at < d->n && d->fields[at].tag < tag)
        at++;
    return at;
}

/* SPEC.md section 4: each defined tag's wire type; 0 for undefined tags. */
static int tag_wire(int tag)
{
    static const uint8_t wires[64] = {
        [0x01] = 1, [0x02] = 1, [0x03] = 6, [0x04] = 1, [0x05] = 5, [0x06] = 6, [0x07] = 6,
        [0x08] = 3, [0x09] = 2, [0x0a] = 3, [0x10] = 6, [0x11] = 6, [0x12] = 1, [0x13] = 5,
        [0x14] = 4, [0x15] = 6, [0x16] = 6, [0x17] = 6, [0x18] = 8, [0x19] = 8, [0x20] = 1,
        [0x21] = 3, [0x22] = 3, [0x23] = 5, [0x24] = 6, [0x25] = 8, [0x26] = 7, [0x27] = 7,
        [0x28] = 8, [0x29] = 8, [0x2a] = 1, [0x2e] = 6, [0x30] = 6, [0x31] = 6};
    return tag >= 0 && tag < 64 ? wires[tag] : 0;
}

/* A well-formed value of a wire type: right length, anything inside. */
static void random_value(struct hostile_rng *rng, struct field *f)
{
    static const uint16_t fixed[] = {0, 1, 2, 4, 8, 8};
    if (f->wire >= 1 && f->wire <= 5) {
        f->len = fixed[f->wire];
        random_fill(rng, f->value, f->len);
    } else if (f->wire == 6) {
        f->len = (uint16_t)(1 + hostile_rng_below(rng, 20));
        for (size_t i = 0; i < f->len; i++)
            f->value[i] = (uint8_t)('a' + hostile_rng_below(rng, 26));
    } else if (f->wire == 8) {
        f->len = 2;
        put_be(f->value, 0, 2);
    } else {
        f->len = (uint16_t)hostile_rng_below(rng, 33);
        random_fill(rng, f->value, f->len);
    }
}

/* ---- real requests ---------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A request lcbd would carry out for the hostile terminals' centre: a card
 * of theirs, their session or course, a time inside the offline window, a
 * sequence number far above anything the good terminals use. */
static void real_request(struct hostile_rng *rng, const struct hostile_material *m, int type,
                         uint32_t request_id, struct lcbp_message *msg)
{
    const char *card = m->cards[hostile_rng_below(rng, (uint32_t)m->n_cards)];
    uint64_t sequence = UINT64_C(1000000000) + hostile_rng_below(rng, 1000000000);
    lcbp_message_init(msg, (enum lcbp_type)type, request_id);
    int64_t tapped_ms = now_ms() - 60000 - (int64_t)hostile_rng_below(rng, 3 * 86400) * 1000;
    switch (type) {
    case LCBP_HELLO:
        msg->version_min = msg->version_max = LCBP_VERSION;
        snprintf(msg->software, sizeof msg->software, "lcb-hostile/1");
        break;
    case LCBP_TAP:
        snprintf(msg->card, sizeof msg->card, "%s", card);
        snprintf(msg->session, sizeof msg->session, "%s", m->session);
        msg->direction = (uint8_t)(1 + hostile_rng_below(rng, 2));
        msg->terminal_time_ms = tapped_ms;
        msg->sequence = sequence;
        break;
    case LCBP_BALANCE:
        snprintf(msg->card, sizeof msg->card, "%s", card);
        break;
    case LCBP_OUTCOME:
        snprintf(msg->card, sizeof msg->card, "%s", card);
        snprintf(msg->course, sizeof msg->course, "%s", m->course);
        snprintf(msg->result, sizeof msg->result, "pass");
        snprintf(msg->completed_on, sizeof msg->completed_on, "2026-05-%02u",
                 1 + hostile_rng_below(rng, 28));
        msg->sequence = sequence;
        break;
    case LCBP_UPLOAD:
        msg->n_sessions = 1;
        snprintf(msg->sessions[0], sizeof msg->sessions[0], "%s", m->session);
        msg->n_taps = 1 + hostile_rng_below(rng, 5);
        for (size_t i = 0; i < msg->n_taps; i++) {
            struct lcbp_tap *tap = &msg->taps[i];
            tap->sequence = sequence + i;
            tap->terminal_time_ms = tapped_ms + (int64_t)i * 600000;
            snprintf(tap->card, sizeof tap->card, "%s", card);
            tap->direction = (uint8_t)(1 + i % 2);
        }
        break;
    default: /* PING: no fields */
        break;
    }
}

static const int request_types[] = {LCBP_TAP, LCBP_BALANCE, LCBP_OUTCOME, LCBP_UPLOAD, LCBP_PING};

static int random_request_type(struct hostile_rng *rng, bool with_fields)
{
    return request_types[hostile_rng_below(rng, with_fields ? 4 : 5)];
}

/* A real request as a draft (and its frame in buf, *len). */
static void real_draft(struct hostile_rng *rng, const struct hostile_material *m, int type,
                       uint8_t *buf, size_t cap, size_t *len)
{
    struct lcb_error err;
    real_request(rng, m, type, nonzero_id(rng), &request);
    if (lcbp_encode(&request, buf, cap, len, &err) != 0) {
        fprintf(stderr, "lcb-hostile: cannot encode a %s: %s\n", lcbp_type_name(type), err.message);
        *len = 0;
    }
    draft_from(buf, *len, &draft);
}

size_t hostile_gen_hello(uint32_t request_id, uint8_t *buf, size_t cap)
{
    struct lcb_error err;
    size_t len = 0;
    lcbp_message_init(&request, LCBP_HELLO, request_id);
    request.version_min = request.version_max = LCBP_VERSION;
    snprintf(request.software, sizeof request.software, "lcb-hostile/1");
    if (lcbp_encode(&request, buf, cap, &len, &err) != 0)
        return 0;
    return len;
}

/* ---- faults ------------------------------------------------------------------ */

/* A value that breaks its field's rule (SPEC.md section 4), by wire type. */
static void break_value(struct hostile_rng *rng, struct field *f)
{
    static const uint8_t bad_u8[] = {0, 3, 7, 255};
    switch (f->wire) {
    case 1:
        f->value[0] = bad_u8[hostile_rng_below(rng, 4)];
        break;
    case 2:
    case 3:
    case 4:
        memset(f->value, hostile_rng_below(rng, 2) ? 0x00 : 0xff, f->len);
        break;
    case 5:
        put_be(f->value, (uint64_t)-(int64_t)(1 + hostile_rng_below(rng, 1000)), 8);
        break;
    case 6: {
        static const uint8_t bad_bytes[] = {0x00, 0xff, 0xc0, '/', ' ', 0xed};
        unsigned how = hostile_rng_below(rng, 3);
        if (how == 0 && f->len > 0)
            f->value[hostile_rng_below(rng, f->len)] = bad_bytes[hostile_rng_below(rng, 6)];
        else if (how == 1)
            f->len = 0;
        else {
            f->len = (uint16_t)(65 + hostile_rng_below(rng, 300));
            memset(f->value, 'A', f->len);
        }
        break;
    }
    case 8:
        if (f->len >= 2)
            put_be(f->value, get_be(f->value, 2) + 1 + hostile_rng_below(rng, 3), 2);
        break;
    default:
        f->len = f->len > 0 ? (uint16_t)(f->len - 1) : 1;
        break;
    }
}

/* One fault in the draft's fields: a tag unknown, foreign to the message,
 * repeated or out of order; a wire type or length wrong; a value out of
 * its rule. Every choice keeps the fields well-formed (a bad_field, not a
 * bad_frame). */
static void field_fault(struct hostile_rng *rng, struct draft *d)
{
    struct field extra;
    unsigned how = hostile_rng_below(rng, d->n >= 2 ? 7 : d->n == 1 ? 6 : 2);
    size_t i = d->n > 0 ? hostile_rng_below(rng, (uint32_t)d->n) : 0;
    if (how <= 1) { /* a tag unknown to LCBP/1, or one this message does not allow */
        do
            extra.tag = (uint8_t)hostile_rng_below(rng, how == 0 ? 256 : 0x32);
        while ((tag_wire(extra.tag) != 0) != (how == 1));
        extra.wire = (uint8_t)(how == 0 ? (int)(1 + hostile_rng_below(rng, 8)) : tag_wire(extra.tag));
        random_value(rng, &extra);
        draft_insert(d, draft_slot(d, extra.tag), &extra);
    } else if (how == 2) {
        break_value(rng, &d->fields[i]);
    } else if (how == 3) { /* another wire type, the length left as it was */
        d->fields[i].wire = (uint8_t)(1 + (d->fields[i].wire + hostile_rng_below(rng, 7)) % 8);
    } else if (how == 4) { /* the right wire type with a wrong length */
        struct field *f = &d->fields[i];
        f->len = f->wire <= 5 && f->len > 1 && hostile_rng_below(rng, 2) ? (uint16_t)(f->len - 1)
                                                                          : (uint16_t)(f->len + 1);
    } else if (how == 5) {
        extra = d->fields[i];
        draft_insert(d, i + 1, &extra);
    } else {
        i = i + 1 < d->n ? i : i - 1;
        extra = d->fields[i];
        d->fields[i] = d->fields[i + 1];
        d->fields[i + 1] = extra;
    }
}

static void drop_field(struct hostile_rng *rng, struct draft *d)
{
    if (d->n == 0)
        return;
    size_t i = hostile_rng_below(rng, (uint32_t)d->n);
    memmove(&d->fields[i], &d->fields[i + 1], (d->n - i - 1) * sizeof d->fields[0]);
    d->n--;
}

static void random_fields(struct hostile_rng *rng, struct draft *d, size_t n)
{
    d->n = 0;
    for (size_t i = 0; i < n; i++) {
        struct field *f = &d->fields[d->n++];
        f->tag = (uint8_t)hostile_rng_below(rng, 64);
        f->wire = (uint8_t)(1 + hostile_rng_below(rng, 8));
        random_value(rng, f);
    }
}

static void response_frame(struct hostile_rng *rng, const struct hostile_material *m, uint8_t *buf,
                           size_t cap, size_t *len)
{
    static const int types[] = {LCBP_HELLO_OK, LCBP_TAP_OK,    LCBP_BALANCE_OK, LCBP_OUTCOME_OK,
                                LCBP_UPLOAD_OK, LCBP_PONG, LCBP_ERROR};
    int type = types[hostile_rng_below(rng, 7)];
    struct lcb_error err;
    lcbp_message_init(&request, (enum lcbp_type)type, nonzero_id(rng));
    request.version = LCBP_VERSION;
    request.server_time_ms = now_ms();
    snprintf(request.terminal_id, sizeof request.terminal_id, "HX-1");
    snprintf(request.institution, sizeof request.institution, "HX-BR");
    request.max_frame = LCBP_MAX_FRAME;
    request.max_in_flight = 64;
    request.offline_window_s = 604800;
    request.required_minutes = 600;
    request.n_tap_status = 1;
    snprintf(request.error_code, sizeof request.error_code, "internal_error");
    (void)m;
    if (lcbp_encode(&request, buf, cap, len, &err) != 0)
        *len = 0;
}

size_t hostile_gen_foreign(struct hostile_rng *rng, uint8_t *buf, size_t cap)
{
    static const char *const texts[] = {
        "GET / HTTP/1.1\r\nHost: lcbd\r\n\r\n",
        "POST /v1/outcomes HTTP/1.1\r\nHost: lcbd\r\nContent-Length: 2\r\n\r\n{}",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "EHLO lcbd.example.org\r\n",
        "{\"outcomes\": [{\"card\": \"3302060000000000012\"}]}\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "\x15\x03\x03\x00\x02\x02\x28",
    };
    size_t which = hostile_rng_below(rng, sizeof texts / sizeof texts[0]);
    size_t len = strlen(texts[which]);
    if (which == 6 || which == 7) /* TLS records: a ClientHello's start, an alert */
        len = which == 6 ? 11 : 7;
    len = len < cap ? len : cap;
    memcpy(buf, texts[which], len);
    if (which == 6 && cap >= 64) { /* and some of its body */
        random_fill(rng, buf + len, 53);
        len += 53;
    }
    return len;
}

/* ---- one frame of a kind --------------------------------------------------------- */

static size_t make_frame(struct hostile_rng *rng, const struct hostile_material *m,
                         enum hostile_kind kind, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    switch (kind) {
    case HK_FIELD_FAULT:
    case HK_BAD_HELLO:
        real_draft(rng, m, kind == HK_BAD_HELLO ? LCBP_HELLO : random_request_type(rng, false), buf,
                   cap, &len);
        field_fault(rng, &draft);
        return draft_write(&draft, buf, cap, 0);
    case HK_MISSING_FIELD:
        real_draft(rng, m, random_request_type(rng, true), buf, cap, &len);
        drop_field(rng, &draft);
        return draft_write(&draft, buf, cap, 0);
    case HK_UNKNOWN_TYPE:
    case HK_GARBAGE_FIELDS: {
        uint8_t type;
        do
            type = (uint8_t)hostile_rng_next(rng);
        while (kind == HK_UNKNOWN_TYPE && lcbp_type_name(type) != NULL);
        draft.type = kind == HK_UNKNOWN_TYPE ? type : (uint8_t)random_request_type(rng, false);
        draft.request_id = nonzero_id(rng);
        random_fields(rng, &draft, hostile_rng_below(rng, kind == HK_UNKNOWN_TYPE ? 4 : 9));
        return draft_write(&draft, buf, cap, 0);
    }
    case HK_RESPONSE_TYPE:
        response_frame(rng, m, buf, cap, &len);
        return len;
    case HK_LENGTH_HUGE:
        len = LCBP_HEADER_LEN + hostile_rng_below(rng, 64);
        random_fill(rng, buf, len);
        put_be(buf, LCBP_MAX_FRAME - 3 + hostile_rng_below(rng, UINT32_MAX - LCBP_MAX_FRAME + 3),
               4);
        return len;
    case HK_OVERSIZED:
        len = LCBP_MAX_FRAME + 1 + hostile_rng_below(rng, (uint32_t)(cap - LCBP_MAX_FRAME - 1));
        random_fill(rng, buf, len);
        put_be(buf, len - 4, 4);
        buf[4] = (uint8_t)random_request_type(rng, false);
        return len;
    case HK_LENGTH_SMALL:
        len = 4 + hostile_rng_below(rng, 9);
        random_fill(rng, buf, len);
        put_be(buf, hostile_rng_below(rng, 5), 4);
        return len;
    case HK_REQUEST_ID_ZERO:
        real_draft(rng, m, random_request_type(rng, false), buf, cap, &len);
        draft.request_id = 0;
        return draft_write(&draft, buf, cap, 0);
    case HK_FIELD_PAST_END: { /* a field's value, or header, cut by the frame's end */
        real_draft(rng, m, random_request_type(rng, true), buf, cap, &len);
        size_t cut = 1 + hostile_rng_below(rng, (uint32_t)(len - LCBP_HEADER_LEN - 1));
        put_be(buf, len - cut - 4, 4);
        return len - cut;
    }
    case HK_LENGTH_MISMATCH: {
        real_draft(rng, m, random_request_type(rng, false), buf, cap, &len);
        long skew = 1 + (long)hostile_rng_below(rng, 8);
        if (hostile_rng_below(rng, 2) && (long)len - 4 - skew >= 5)
            skew = -skew;
        len = draft_write(&draft, buf, cap, skew);
        if (skew > 0) { /* the frame takes in bytes that follow it */
            random_fill(rng, buf + len, (size_t)skew);
            len += (size_t)skew;
        }
        return len;
    }
    case HK_GARBAGE_PAYLOAD:
        len = LCBP_HEADER_LEN + 1 + hostile_rng_below(rng, 512);
        random_fill(rng, buf, len);
        put_be(buf, len - 4, 4);
        buf[4] = (uint8_t)random_request_type(rng, false);
        put_be(buf + 5, nonzero_id(rng), 4);
        return len;
    case HK_RANDOM_BYTES:
        len = 1 + hostile_rng_below(rng, 1024);
        random_fill(rng, buf, len);
        if (hostile_rng_below(rng, 2)) /* a length that fits, now and then */
            buf[0] = buf[1] = 0;
        return len;
    case HK_FOREIGN_PROTOCOL:
        return hostile_gen_foreign(rng, buf, cap);
    case HK_HELLO_REPEATED:
        return hostile_gen_hello(nonzero_id(rng), buf, cap);
    case HK_BEFORE_HELLO:
        real_draft(rng, m, random_request_type(rng, false), buf, cap, &len);
        return len;
    case HK_BAD_VERSION:
        real_draft(rng, m, LCBP_HELLO, buf, cap, &len);
        draft.fields[0].value[0] = (uint8_t)(2 + hostile_rng_below(rng, 254)); /* version_min */
        draft.fields[1].value[0] = (uint8_t)(draft.fields[0].value[0] +
                                             hostile_rng_below(rng, 256u - draft.fields[0].value[0]));
        return draft_write(&draft, buf, cap, 0);
    default: /* the transport and slow kinds make their bytes elsewhere */
        return 0;
    }
}

/* A finished frame: completed when lcbd would wait for more, judged, and
 * refused when it is no hostile frame at all. */
static bool judge(struct hostile_rng *rng, uint8_t *buf, size_t cap, size_t *len, bool ready,
                  struct oracle *expect)
{
    for (int pads = 0;; pads++) {
        oracle_predict(buf, *len, ready, expect);
        if (expect->end != ORACLE_WAIT || pads == 3)
            break;
        size_t more = expect->need < cap - *len ? expect->need : cap - *len;
        random_fill(rng, buf + *len, more);
        *len += more;
    }
    if (expect->end != ORACLE_OPEN && expect->end != ORACLE_CLOSE)
        return false;
    for (size_t i = 0; i < expect->n_answers; i++)
        if (expect->answers[i].hello_ok)
            return false; /* it would have made the connection ready: not hostile */
    return true;
}

void hostile_gen_frame(struct hostile_rng *rng, const struct hostile_material *m,
                       enum hostile_kind kind, bool ready, uint8_t *buf, size_t cap, size_t *len,
                       struct oracle *expect)
{
    for (int tries = 0; tries < 64; tries++) {
        enum hostile_kind made = kind;
        if (kind == HK_PRE_GARBAGE)
            do
                made = hostile_gen_pick(rng, hostile_rng_below(rng, 2) ? HC_OPEN : HC_CLOSING);
            while (made == HK_HELLO_REPEATED);
        *len = make_frame(rng, m, made, buf, cap);
        if (*len > 0 && judge(rng, buf, cap, len, ready, expect))
            return;
    }
    /* a frame the oracle always refuses, so the run goes on */
    *len = make_frame(rng, m, HK_LENGTH_SMALL, buf, cap);
    oracle_predict(buf, *len, ready, expect);
}

size_t hostile_gen_partial(struct hostile_rng *rng, const struct hostile_material *m,
                           uint8_t *buf, size_t cap, size_t min_len)
{
    size_t len = 0;
    real_draft(rng, m, LCBP_TAP, buf, cap, &len);
    field_fault(rng, &draft);
    len = draft_write(&draft, buf, cap, 0);
    while (len < min_len && draft.n < DRAFT_MAX_FIELDS) { /* more unknown fields */
        struct field extra = {.tag = 0x3f, .wire = 7};
        extra.len = (uint16_t)(min_len - len);
        extra.len = extra.len > 64 ? 64 : extra.len;
        random_fill(rng, extra.value, extra.len);
        draft_insert(&draft, draft.n, &extra);
        len = draft_write(&draft, buf, cap, 0);
    }
    return len;
}
