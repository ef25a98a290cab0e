/* The LCBP/1 codec against the independent vectors in
 * protocol/vectors/lcbp.txt and against the rules of protocol/SPEC.md: a
 * terminal built from the spec must get exactly these bytes, a hostile or
 * broken peer must get its error code, and no input may crash the codec. */
#include "protocol/lcbp.h"
#include "tests/unit_suites.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LCB_VECTORS_DIR
#error "LCB_VECTORS_DIR must name protocol/vectors"
#endif

/* ---- the vector file ---------------------------------------------------- */

struct vector {
    char name[64];
    bool is_valid;           /* a `type` line: a valid frame and its fields */
    char error[48];          /* malformed: the expected code */
    struct lcbp_message msg; /* valid: the fields as the vector lists them */
    uint8_t frame[LCBP_MAX_FRAME + 16];
    size_t frame_len;
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    ck_assert_msg(n % 2 == 0 && n / 2 <= cap, "bad hex length %zu", n);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        ck_assert_msg(hi >= 0 && lo >= 0, "bad hex digit in %s", hex);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

static void copy_text(char *dst, size_t cap, const char *value)
{
    ck_assert_msg(strlen(value) < cap, "vector text too long: %s", value);
    strcpy(dst, value);
}

static int type_by_name(const char *name)
{
    for (int t = 0; t < 256; t++)
        if (lcbp_type_name(t) != NULL && strcmp(lcbp_type_name(t), name) == 0)
            return t;
    ck_abort_msg("unknown message type %s", name);
    return 0;
}

static uint8_t direction_by_name(const char *name)
{
    if (strcmp(name, "in") == 0)
        return LCBP_IN;
    ck_assert_str_eq(name, "out");
    return LCBP_OUT;
}

/* A list item line: `sessions[] = ...` and so on, one per item. */
static bool set_list_item(struct lcbp_message *m, const char *field, const char *value)
{
    char dir[8];
    if (strcmp(field, "sessions[]") == 0) {
        ck_assert_uint_lt(m->n_sessions, LCBP_MAX_SESSIONS);
        copy_text(m->sessions[m->n_sessions++], LCBP_CODE_MAX + 1, value);
    } else if (strcmp(field, "taps[]") == 0) {
        ck_assert_uint_lt(m->n_taps, LCBP_MAX_TAPS);
        struct lcbp_tap *t = &m->taps[m->n_taps++];
        ck_assert_int_eq(sscanf(value, "%" SCNu64 " %" SCNd64 " %19s %" SCNu8 " %7s", &t->sequence,
                                &t->terminal_time_ms, t->card, &t->session_index, dir),
                         5);
        t->direction = direction_by_name(dir);
    } else if (strcmp(field, "balances[]") == 0) {
        ck_assert_uint_lt(m->n_balances, LCBP_MAX_BALANCES);
        struct lcbp_balance *b = &m->balances[m->n_balances++];
        ck_assert_int_eq(sscanf(value, "%16s %" SCNd64, b->unit, &b->amount), 2);
    } else if (strcmp(field, "tap_status[]") == 0) {
        ck_assert_uint_lt(m->n_tap_status, LCBP_MAX_TAPS);
        ck_assert_int_eq(lcbp_tap_status_parse(value, &m->tap_status[m->n_tap_status++]), 0);
    } else if (strcmp(field, "gaps[]") == 0) {
        ck_assert_uint_lt(m->n_gaps, LCBP_MAX_GAPS);
        struct lcbp_gap *g = &m->gaps[m->n_gaps++];
        ck_assert_int_eq(sscanf(value, "%" SCNu64 " %" SCNu64, &g->first, &g->last), 2);
    } else {
        return false;
    }
    return true;
}

static int tag_by_name(const char *name)
{
    for (int tag = 1; tag < 64; tag++)
        if (lcbp_tag_name(tag) != NULL && strcmp(lcbp_tag_name(tag), name) == 0)
            return tag;
    ck_abort_msg("unknown field %s", name);
    return 0;
}

/* A scalar, string or bytes field, by the field table's name. */
static void set_message_field(struct lcbp_message *m, const char *field, const char *value)
{
    int tag = tag_by_name(field);
    m->present |= LCBP_BIT(tag);
    uint64_t u = strtoull(value, NULL, 10);
    int64_t s = strtoll(value, NULL, 10);
    switch (tag) {
    case LCBP_TAG_VERSION_MIN:
        m->version_min = (uint8_t)u;
        break;
    case LCBP_TAG_VERSION_MAX:
        m->version_max = (uint8_t)u;
        break;
    case LCBP_TAG_SOFTWARE:
        copy_text(m->software, sizeof m->software, value);
        break;
    case LCBP_TAG_VERSION:
        m->version = (uint8_t)u;
        break;
    case LCBP_TAG_SERVER_TIME_MS:
        m->server_time_ms = s;
        break;
    case LCBP_TAG_TERMINAL_ID:
        copy_text(m->terminal_id, sizeof m->terminal_id, value);
        break;
    case LCBP_TAG_INSTITUTION:
        copy_text(m->institution, sizeof m->institution, value);
        break;
    case LCBP_TAG_MAX_FRAME:
        m->max_frame = (uint32_t)u;
        break;
    case LCBP_TAG_MAX_IN_FLIGHT:
        m->max_in_flight = (uint16_t)u;
        break;
    case LCBP_TAG_OFFLINE_WINDOW_S:
        m->offline_window_s = (uint32_t)u;
        break;
    case LCBP_TAG_CARD:
        copy_text(m->card, sizeof m->card, value);
        break;
    case LCBP_TAG_SESSION:
        copy_text(m->session, sizeof m->session, value);
        break;
    case LCBP_TAG_DIRECTION:
        m->direction = direction_by_name(value);
        break;
    case LCBP_TAG_TERMINAL_TIME_MS:
        m->terminal_time_ms = s;
        break;
    case LCBP_TAG_SEQUENCE:
        m->sequence = u;
        break;
    case LCBP_TAG_COURSE:
        copy_text(m->course, sizeof m->course, value);
        break;
    case LCBP_TAG_RESULT:
        copy_text(m->result, sizeof m->result, value);
        break;
    case LCBP_TAG_COMPLETED_ON:
        copy_text(m->completed_on, sizeof m->completed_on, value);
        break;
    case LCBP_TAG_STATUS:
        m->status = (uint8_t)u;
        break;
    case LCBP_TAG_ATTENDED_MINUTES:
        m->attended_minutes = (uint32_t)u;
        break;
    case LCBP_TAG_REQUIRED_MINUTES:
        m->required_minutes = (uint32_t)u;
        break;
    case LCBP_TAG_CREDITS_CENTI:
        m->credits_centi = s;
        break;
    case LCBP_TAG_CREDIT_UNIT:
        copy_text(m->credit_unit, sizeof m->credit_unit, value);
        break;
    case LCBP_TAG_TRANSACTION_ID:
        hex_decode(value, m->transaction_id, LCBP_TXN_ID_LEN);
        break;
    case LCBP_TAG_HASH:
        hex_decode(value, m->hash, LCBP_HASH_LEN);
        break;
    case LCBP_TAG_GAPS_MORE:
        m->gaps_more = (uint8_t)u;
        break;
    case LCBP_TAG_DISPLAY:
        copy_text(m->display, sizeof m->display, value);
        break;
    case LCBP_TAG_ERROR_CODE:
        copy_text(m->error_code, sizeof m->error_code, value);
        break;
    case LCBP_TAG_ERROR_MESSAGE:
        copy_text(m->error_message, sizeof m->error_message, value);
        break;
    default:
        ck_abort_msg("field %s has no vector form", field);
    }
}

static void set_vector_field(struct vector *v, const char *field, const char *value)
{
    if (strcmp(field, "name") == 0) {
        copy_text(v->name, sizeof v->name, value);
    } else if (strcmp(field, "type") == 0) {
        v->is_valid = true;
        lcbp_message_init(&v->msg, (enum lcbp_type)type_by_name(value), 0);
    } else if (strcmp(field, "request_id") == 0) {
        v->msg.request_id = (uint32_t)strtoul(value, NULL, 10);
    } else if (strcmp(field, "frame") == 0) {
        v->frame_len = hex_decode(value, v->frame, sizeof v->frame);
    } else if (strcmp(field, "error") == 0) {
        copy_text(v->error, sizeof v->error, value);
    } else if (!set_list_item(&v->msg, field, value)) {
        set_message_field(&v->msg, field, value);
    }
}

/* Calls check on every block of lcbp.txt; returns the number of blocks. */
static size_t for_each_vector(void (*check)(const struct vector *v))
{
    static struct vector v;
    FILE *f = fopen(LCB_VECTORS_DIR "/lcbp.txt", "r");
    ck_assert_msg(f != NULL, "cannot open " LCB_VECTORS_DIR "/lcbp.txt");
    char *line = NULL;
    size_t line_cap = 0, n = 0;
    bool in_block = false;
    for (;;) {
        bool more = getline(&line, &line_cap, f) != -1;
        if (more)
            line[strcspn(line, "\n")] = '\0';
        if (!more || line[0] == '\0') {
            if (in_block)
                check(&v);
            in_block = false;
            if (!more)
                break;
            continue;
        }
        if (line[0] == '#')
            continue;
        if (!in_block) {
            memset(&v, 0, sizeof v);
            in_block = true;
            n++;
        }
        char *eq = strchr(line, '=');
        ck_assert_msg(eq != NULL, "vector line without '=': %s", line);
        char *field_end = eq;
        while (field_end > line && field_end[-1] == ' ')
            field_end--;
        *field_end = '\0';
        set_vector_field(&v, line, eq[1] == ' ' ? eq + 2 : eq + 1);
    }
    free(line);
    fclose(f);
    return n;
}

/* ---- vectors ------------------------------------------------------------ */

static size_t n_valid, n_malformed;

static void check_valid(const struct vector *v)
{
    static struct lcbp_message decoded;
    static uint8_t buf[LCBP_MAX_FRAME];
    struct lcb_error err = {0};
    size_t len = 0;
    if (!v->is_valid)
        return;
    n_valid++;
    ck_assert_msg(lcbp_encode(&v->msg, buf, sizeof buf, &len, &err) == 0, "%s: %s", v->name,
                  err.message);
    ck_assert_msg(len == v->frame_len && memcmp(buf, v->frame, len) == 0,
                  "%s: encoding differs from the vector", v->name);
    ck_assert_msg(lcbp_decode(v->frame, v->frame_len, &decoded, &err) == 0, "%s: %s", v->name,
                  err.message);
    /* Both sides start from zeroed memory, so the whole struct must match. */
    ck_assert_msg(memcmp(&decoded, &v->msg, sizeof decoded) == 0,
                  "%s: decoded fields differ from the vector", v->name);
}

static void check_malformed(const struct vector *v)
{
    static struct lcbp_message decoded;
    struct lcb_error err = {0};
    size_t frame_len = 0;
    if (v->is_valid)
        return;
    n_malformed++;
    ck_assert_msg(v->error[0] != '\0', "%s: no expected error", v->name);
    int rc = lcbp_frame_length(v->frame, v->frame_len, &frame_len, &err);
    if (rc == 0) {
        ck_assert_msg(frame_len == v->frame_len, "%s: frame length %zu", v->name, frame_len);
        rc = lcbp_decode(v->frame, v->frame_len, &decoded, &err);
    }
    ck_assert_msg(rc == -1, "%s: accepted", v->name);
    ck_assert_msg(strcmp(err.code, v->error) == 0, "%s: got %s (%s), expected %s", v->name,
                  err.code, err.message, v->error);
    ck_assert(lcbp_error_code_known(err.code));
}

START_TEST(vectors_valid)
{
    n_valid = 0;
    for_each_vector(check_valid);
    ck_assert_uint_ge(n_valid, 20);
}
END_TEST

START_TEST(vectors_malformed)
{
    n_malformed = 0;
    for_each_vector(check_malformed);
    ck_assert_uint_ge(n_malformed, 30);
}
END_TEST

/* Every message type of SPEC.md has at least one valid vector. */
static uint64_t types_seen[4];

static void note_type(const struct vector *v)
{
    if (v->is_valid)
        types_seen[v->msg.type / 64] |= UINT64_C(1) << (v->msg.type % 64);
}

START_TEST(vectors_cover_every_type)
{
    memset(types_seen, 0, sizeof types_seen);
    for_each_vector(note_type);
    for (int t = 0; t < 256; t++)
        if (lcbp_type_name(t) != NULL)
            ck_assert_msg(types_seen[t / 64] & UINT64_C(1) << (t % 64), "no vector for %s",
                          lcbp_type_name(t));
}
END_TEST

/* ---- truncation, trailing bytes, pipelining ----------------------------- */

static void check_prefixes(const struct vector *v)
{
    static struct lcbp_message m;
    static uint8_t two[2 * (LCBP_MAX_FRAME + 16)];
    struct lcb_error err = {0};
    size_t frame_len = 0;
    if (!v->is_valid)
        return;
    for (size_t k = 0; k < v->frame_len; k++) {
        int rc = lcbp_frame_length(v->frame, k, &frame_len, &err);
        ck_assert_msg(rc == LCBP_NEED_MORE, "%s: prefix %zu gave %d", v->name, k, rc);
        ck_assert_uint_eq(frame_len, k < 4 ? 4 : v->frame_len);
        ck_assert_int_eq(lcbp_decode(v->frame, k, &m, &err), -1);
        ck_assert_str_eq(err.code, "bad_frame");
    }
    /* Two pipelined frames: the length names the first one only. */
    memcpy(two, v->frame, v->frame_len);
    memcpy(two + v->frame_len, v->frame, v->frame_len);
    ck_assert_int_eq(lcbp_frame_length(two, 2 * v->frame_len, &frame_len, &err), 0);
    ck_assert_uint_eq(frame_len, v->frame_len);
    ck_assert_int_eq(lcbp_decode(two, v->frame_len + 1, &m, &err), -1);
    ck_assert_str_eq(err.code, "bad_frame");
    ck_assert_uint_eq(m.request_id, v->msg.request_id); /* echoable despite the error */
}

START_TEST(truncation_needs_more)
{
    for_each_vector(check_prefixes);
}
END_TEST

/* A flipped bit anywhere must be refused or give a frame that re-encodes to
 * the same bytes; never a crash, never a frame that encodes differently. */
static void check_bit_flips(const struct vector *v)
{
    static struct lcbp_message m;
    static uint8_t frame[LCBP_MAX_FRAME + 16], again[LCBP_MAX_FRAME];
    struct lcb_error err = {0};
    size_t len = 0;
    if (!v->is_valid || v->frame_len > 2048)
        return;
    for (size_t i = 0; i < v->frame_len * 8; i++) {
        memcpy(frame, v->frame, v->frame_len);
        frame[i / 8] ^= (uint8_t)(1u << (i % 8));
        if (lcbp_decode(frame, v->frame_len, &m, &err) != 0) {
            ck_assert(lcbp_error_code_known(err.code));
            continue;
        }
        ck_assert_int_eq(lcbp_encode(&m, again, sizeof again, &len, &err), 0);
        ck_assert_uint_eq(len, v->frame_len);
        ck_assert_mem_eq(again, frame, len);
    }
}

START_TEST(bit_flips_never_mislead)
{
    for_each_vector(check_bit_flips);
}
END_TEST

START_TEST(oversize_refused_from_the_length_alone)
{
    /* Exactly 4 bytes: the decision may not need more (ASan checks). */
    uint8_t *huge = malloc(4), over[4] = {0x00, 0x00, 0x3f, 0xfd},
            max[4] = {0x00, 0x00, 0x3f, 0xfc};
    struct lcb_error err = {0};
    static struct lcbp_message m;
    size_t frame_len = 0;
    memcpy(huge, "\xff\xff\xff\xff", 4);
    ck_assert_int_eq(lcbp_frame_length(huge, 4, &frame_len, &err), -1);
    ck_assert_str_eq(err.code, "frame_too_large");
    ck_assert_int_eq(lcbp_decode(huge, 4, &m, &err), -1);
    ck_assert_str_eq(err.code, "frame_too_large");
    ck_assert_int_eq(lcbp_frame_length(over, 4, &frame_len, &err), -1);
    ck_assert_str_eq(err.code, "frame_too_large");
    ck_assert_int_eq(lcbp_frame_length(max, 4, &frame_len, &err), LCBP_NEED_MORE);
    ck_assert_uint_eq(frame_len, LCBP_MAX_FRAME);
    free(huge);
}
END_TEST

/* ---- encode ------------------------------------------------------------- */

static void tap_message(struct lcbp_message *m)
{
    lcbp_message_init(m, LCBP_TAP, 2);
    strcpy(m->card, "3302060000000000012");
    strcpy(m->session, "CE-2024-001-S03");
    m->direction = LCBP_IN;
    m->terminal_time_ms = 1718000001000;
    m->sequence = 1;
}

static int encode_code(const struct lcbp_message *m, char *code)
{
    static uint8_t buf[LCBP_MAX_FRAME];
    struct lcb_error err = {0};
    size_t len = 0;
    int rc = lcbp_encode(m, buf, sizeof buf, &len, &err);
    strcpy(code, rc == 0 ? "" : err.code);
    return rc;
}

START_TEST(encode_refuses_what_decode_would)
{
    static struct lcbp_message m;
    char code[48];
#define REFUSED(expected, ...)                                                                     \
    do {                                                                                           \
        tap_message(&m);                                                                           \
        __VA_ARGS__;                                                                               \
        ck_assert_msg(encode_code(&m, code) == -1, "accepted: " #__VA_ARGS__);                     \
        ck_assert_msg(strcmp(code, expected) == 0, #__VA_ARGS__ ": %s", code);                     \
    } while (0)
    tap_message(&m);
    ck_assert_int_eq(encode_code(&m, code), 0);
    REFUSED("missing_field", m.present &= ~LCBP_BIT(LCBP_TAG_SEQUENCE));
    REFUSED("bad_field", m.present |= LCBP_BIT(LCBP_TAG_DISPLAY));
    REFUSED("bad_field", m.present |= LCBP_BIT(0x3F));
    REFUSED("unknown_message", m.type = (enum lcbp_type)0x07);
    REFUSED("bad_frame", m.request_id = 0);
    REFUSED("bad_field", m.direction = 0);
    REFUSED("bad_field", m.sequence = 0);
    REFUSED("bad_field", m.terminal_time_ms = -1);
    REFUSED("bad_field", m.card[18] = 'x');
    REFUSED("bad_field", m.card[18] = '\0');
    REFUSED("bad_field", memset(m.session, 'S', sizeof m.session));
    REFUSED("bad_field", strcpy(m.session, "has space"));
    REFUSED("bad_field", m.session[0] = '\0');
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_TAP_OK, 1); m.status = 2);
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_TAP_OK, 1); m.credits_centi = 5);
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_TAP_OK, 1);
            m.present |= LCBP_BIT(LCBP_TAG_CREDIT_UNIT); strcpy(m.credit_unit, "community"));
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_TAP_OK, 1); strcpy(m.display, "\xc0\xaf"));
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_ERROR, 0); strcpy(m.error_code, "oops"));
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_HELLO_OK, 1); m.version = 1;
            m.server_time_ms = 1; strcpy(m.terminal_id, "T1"); strcpy(m.institution, "I1");
            m.max_frame = 511; m.max_in_flight = 1; m.offline_window_s = 1);
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_OUTCOME, 1);
            strcpy(m.card, "3302060000000000012"); m.sequence = 1; strcpy(m.course, "C");
            strcpy(m.result, "pass"); strcpy(m.completed_on, "2024-04-31"));
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_UPLOAD_OK, 1); m.n_tap_status = 1; m.n_gaps = 2;
            m.gaps[0] = (struct lcbp_gap){3, 5}; m.gaps[1] = (struct lcbp_gap){6, 9});
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_UPLOAD_OK, 1); m.n_tap_status = 1;
            m.gaps_more = 2);
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_UPLOAD_OK, 1);
            m.n_tap_status = LCBP_MAX_TAPS + 1);
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_BALANCE_OK, 1);
            m.n_balances = LCBP_MAX_BALANCES + 1);
    REFUSED("bad_field", lcbp_message_init(&m, LCBP_BALANCE_OK, 1); m.n_balances = 1;
            strcpy(m.balances[0].unit, "Community"));
#undef REFUSED
}
END_TEST

static void largest_upload(struct lcbp_message *m)
{
    lcbp_message_init(m, LCBP_UPLOAD, 9);
    m->n_sessions = LCBP_MAX_SESSIONS;
    for (size_t i = 0; i < LCBP_MAX_SESSIONS; i++) {
        memset(m->sessions[i], 'S', LCBP_CODE_MAX);
        snprintf(m->sessions[i], 4, "%02zu", i);
        m->sessions[i][2] = 'S';
    }
    m->n_taps = LCBP_MAX_TAPS;
    for (size_t i = 0; i < LCBP_MAX_TAPS; i++) {
        struct lcbp_tap *t = &m->taps[i];
        t->sequence = UINT64_MAX - LCBP_MAX_TAPS + i + 1;
        t->terminal_time_ms = INT64_MAX;
        strcpy(t->card, "9999999999999999999");
        t->session_index = (uint8_t)(i % LCBP_MAX_SESSIONS);
        t->direction = LCBP_OUT;
    }
}

START_TEST(largest_upload_fits_one_frame)
{
    static struct lcbp_message m, back;
    static uint8_t buf[LCBP_MAX_FRAME];
    struct lcb_error err = {0};
    size_t len = 0;
    largest_upload(&m);
    ck_assert_msg(lcbp_encode(&m, buf, sizeof buf, &len, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(len, 14077); /* SPEC.md section 6, "Sizes" */
    ck_assert_int_eq(lcbp_decode(buf, len, &back, &err), 0);
    ck_assert_mem_eq(&back, &m, sizeof m);
    /* One byte short of room is refused, never a partial frame. */
    ck_assert_int_eq(lcbp_encode(&m, buf, len - 1, &len, &err), -1);
    ck_assert_str_eq(err.code, "frame_too_large");
}
END_TEST

/* ---- names -------------------------------------------------------------- */

START_TEST(names_and_tables)
{
    uint8_t status = 0;
    ck_assert_str_eq(lcbp_type_name(LCBP_UPLOAD_OK), "UPLOAD_OK");
    ck_assert_ptr_null(lcbp_type_name(0x07));
    ck_assert(lcbp_type_is_request(LCBP_PING));
    ck_assert(!lcbp_type_is_request(LCBP_PONG));
    ck_assert(!lcbp_type_is_request(LCBP_ERROR));
    for (int t = 1; t < 0x80; t++)
        if (lcbp_type_is_request(t))
            ck_assert_int_eq(lcbp_response_type(t), t | 0x80);
    ck_assert_int_eq(lcbp_response_type(LCBP_ERROR), 0);
    ck_assert_str_eq(lcbp_tag_name(LCBP_TAG_GAPS_MORE), "gaps_more");
    ck_assert_ptr_null(lcbp_tag_name(0x3F));
    ck_assert_ptr_null(lcbp_tag_name(64));
    ck_assert_str_eq(lcbp_direction_name(LCBP_OUT), "out");
    ck_assert_ptr_null(lcbp_direction_name(3));
    for (int s = 0; s <= LCBP_TAP_STATUS_MAX; s++) {
        ck_assert_int_eq(lcbp_tap_status_parse(lcbp_tap_status_name(s), &status), 0);
        ck_assert_int_eq(status, s);
        /* every refusal status is also an error code of the table */
        ck_assert(s < 2 || lcbp_error_code_known(lcbp_tap_status_name(s)));
    }
    ck_assert_ptr_null(lcbp_tap_status_name(LCBP_TAP_STATUS_MAX + 1));
    ck_assert_int_eq(lcbp_tap_status_parse("card_stolen", &status), -1);
    ck_assert(lcbp_error_code_known("too_many_in_flight"));
    ck_assert(!lcbp_error_code_known("invalid_card"));
    ck_assert(lcbp_error_closes("frame_too_large"));
    ck_assert(!lcbp_error_closes("card_lost"));
}
END_TEST

Suite *lcbp_suite(void)
{
    Suite *s = suite_create("lcbp");
    TCase *tc = tcase_create("codec");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, vectors_valid);
    tcase_add_test(tc, vectors_malformed);
    tcase_add_test(tc, vectors_cover_every_type);
    tcase_add_test(tc, truncation_needs_more);
    tcase_add_test(tc, bit_flips_never_mislead);
    tcase_add_test(tc, oversize_refused_from_the_length_alone);
    tcase_add_test(tc, encode_refuses_what_decode_would);
    tcase_add_test(tc, largest_upload_fits_one_frame);
    tcase_add_test(tc, names_and_tables);
    suite_add_tcase(s, tc);
    return s;
}
