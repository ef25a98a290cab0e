/* LCBP/1 rules (protocol/SPEC.md sections 4-8): the field and message
 * tables, the names, and the one validator that both decoding and encoding
 * run, so lcbd never emits a frame it would itself refuse. Pure: no I/O, no
 * allocation; reads a message only within its fixed-size arrays. */
#include "protocol/lcbp_rules.h"

#include <string.h>

/* What a string's content must look like, beyond its length. */
enum text_rule {
    TEXT_UTF8,       /* any well-formed UTF-8 */
    TEXT_CODE,       /* ^[A-Za-z0-9_.-]+$ */
    TEXT_CARD,       /* 19 digits, the first not 0 */
    TEXT_DATE,       /* a real YYYY-MM-DD */
    TEXT_UNIT,       /* ^[a-z][a-z0-9_]*$ */
    TEXT_ERROR_CODE, /* a code of the error table */
};

#define OFF(member) offsetof(struct lcbp_message, member)
#define INT(tag, nm, w, member, lo, hi) [tag] = {nm, w, 0, OFF(member), lo, hi}
#define STR(tag, nm, rule, member, lo, hi) [tag] = {nm, LCBP_W_STRING, rule, OFF(member), lo, hi}
#define LIST(tag, nm, lo, hi) [tag] = {nm, LCBP_W_LIST, 0, 0, lo, hi}

const struct lcbp_field_def lcbp_field_defs[64] = {
    INT(LCBP_TAG_VERSION_MIN, "version_min", LCBP_W_U8, version_min, 1, UINT8_MAX),
    INT(LCBP_TAG_VERSION_MAX, "version_max", LCBP_W_U8, version_max, 1, UINT8_MAX),
    STR(LCBP_TAG_SOFTWARE, "software", TEXT_UTF8, software, 1, LCBP_SOFTWARE_MAX),
    INT(LCBP_TAG_VERSION, "version", LCBP_W_U8, version, LCBP_VERSION, LCBP_VERSION),
    INT(LCBP_TAG_SERVER_TIME_MS, "server_time_ms", LCBP_W_I64, server_time_ms, 0, INT64_MAX),
    STR(LCBP_TAG_TERMINAL_ID, "terminal_id", TEXT_CODE, terminal_id, 1, LCBP_CODE_MAX),
    STR(LCBP_TAG_INSTITUTION, "institution", TEXT_CODE, institution, 1, LCBP_CODE_MAX),
    INT(LCBP_TAG_MAX_FRAME, "max_frame", LCBP_W_U32, max_frame, LCBP_MIN_MAX_FRAME, LCBP_MAX_FRAME),
    INT(LCBP_TAG_MAX_IN_FLIGHT, "max_in_flight", LCBP_W_U16, max_in_flight, 1, UINT16_MAX),
    INT(LCBP_TAG_OFFLINE_WINDOW_S, "offline_window_s", LCBP_W_U32, offline_window_s, 1, UINT32_MAX),
    STR(LCBP_TAG_CARD, "card", TEXT_CARD, card, LCBP_CARD_LEN, LCBP_CARD_LEN),
    STR(LCBP_TAG_SESSION, "session", TEXT_CODE, session, 1, LCBP_CODE_MAX),
    INT(LCBP_TAG_DIRECTION, "direction", LCBP_W_U8, direction, LCBP_IN, LCBP_OUT),
    INT(LCBP_TAG_TERMINAL_TIME_MS, "terminal_time_ms", LCBP_W_I64, terminal_time_ms, 0, INT64_MAX),
    INT(LCBP_TAG_SEQUENCE, "sequence", LCBP_W_U64, sequence, 1, UINT64_MAX),
    STR(LCBP_TAG_COURSE, "course", TEXT_CODE, course, 1, LCBP_CODE_MAX),
    STR(LCBP_TAG_RESULT, "result", TEXT_UTF8, result, 1, LCBP_RESULT_MAX),
    STR(LCBP_TAG_COMPLETED_ON, "completed_on", TEXT_DATE, completed_on, LCBP_DATE_LEN,
        LCBP_DATE_LEN),
    LIST(LCBP_TAG_SESSIONS, "sessions", 1, LCBP_MAX_SESSIONS),
    LIST(LCBP_TAG_TAPS, "taps", 1, LCBP_MAX_TAPS),
    INT(LCBP_TAG_STATUS, "status", LCBP_W_U8, status, LCBP_STATUS_APPLIED, LCBP_STATUS_DUPLICATE),
    INT(LCBP_TAG_ATTENDED_MINUTES, "attended_minutes", LCBP_W_U32, attended_minutes, 0, UINT32_MAX),
    INT(LCBP_TAG_REQUIRED_MINUTES, "required_minutes", LCBP_W_U32, required_minutes, 0, UINT32_MAX),
    INT(LCBP_TAG_CREDITS_CENTI, "credits_centi", LCBP_W_I64, credits_centi, 0, INT64_MAX),
    STR(LCBP_TAG_CREDIT_UNIT, "credit_unit", TEXT_UNIT, credit_unit, 1, LCBP_UNIT_MAX),
    LIST(LCBP_TAG_BALANCES, "balances", 0, LCBP_MAX_BALANCES),
    [LCBP_TAG_TRANSACTION_ID] = {"transaction_id", LCBP_W_BYTES, 0, OFF(transaction_id),
                                 LCBP_TXN_ID_LEN, LCBP_TXN_ID_LEN},
    [LCBP_TAG_HASH] = {"hash", LCBP_W_BYTES, 0, OFF(hash), LCBP_HASH_LEN, LCBP_HASH_LEN},
    LIST(LCBP_TAG_TAP_STATUS, "tap_status", 1, LCBP_MAX_TAPS),
    LIST(LCBP_TAG_GAPS, "gaps", 0, LCBP_MAX_GAPS),
    INT(LCBP_TAG_GAPS_MORE, "gaps_more", LCBP_W_U8, gaps_more, 0, 1),
    STR(LCBP_TAG_DISPLAY, "display", TEXT_UTF8, display, 0, LCBP_DISPLAY_MAX),
    STR(LCBP_TAG_ERROR_CODE, "error_code", TEXT_ERROR_CODE, error_code, 1, LCBP_ERROR_CODE_MAX),
    STR(LCBP_TAG_ERROR_MESSAGE, "error_message", TEXT_UTF8, error_message, 0,
        LCBP_ERROR_MESSAGE_MAX),
};

#define B(tag) LCBP_BIT(LCBP_TAG_##tag)

static const struct lcbp_message_def lcbp_message_defs[] = {
    {LCBP_HELLO, LCBP_HELLO_OK, "HELLO", B(VERSION_MIN) | B(VERSION_MAX) | B(SOFTWARE),
     B(TERMINAL_TIME_MS)},
    {LCBP_TAP, LCBP_TAP_OK, "TAP",
     B(CARD) | B(SESSION) | B(DIRECTION) | B(TERMINAL_TIME_MS) | B(SEQUENCE), 0},
    {LCBP_BALANCE, LCBP_BALANCE_OK, "BALANCE", B(CARD), 0},
    {LCBP_OUTCOME, LCBP_OUTCOME_OK, "OUTCOME",
     B(CARD) | B(SEQUENCE) | B(COURSE) | B(RESULT) | B(COMPLETED_ON), 0},
    {LCBP_UPLOAD, LCBP_UPLOAD_OK, "UPLOAD", B(SESSIONS) | B(TAPS), 0},
    {LCBP_PING, LCBP_PONG, "PING", 0, 0},
    {LCBP_HELLO_OK, 0, "HELLO_OK",
     B(VERSION) | B(SERVER_TIME_MS) | B(TERMINAL_ID) | B(INSTITUTION) | B(MAX_FRAME) |
         B(MAX_IN_FLIGHT) | B(OFFLINE_WINDOW_S),
     0},
    {LCBP_TAP_OK, 0, "TAP_OK",
     B(STATUS) | B(ATTENDED_MINUTES) | B(REQUIRED_MINUTES) | B(CREDITS_CENTI) | B(DISPLAY),
     B(CREDIT_UNIT)},
    {LCBP_BALANCE_OK, 0, "BALANCE_OK", B(BALANCES) | B(DISPLAY), 0},
    {LCBP_OUTCOME_OK, 0, "OUTCOME_OK", B(STATUS) | B(TRANSACTION_ID) | B(HASH), 0},
    {LCBP_UPLOAD_OK, 0, "UPLOAD_OK", B(TAP_STATUS) | B(GAPS) | B(GAPS_MORE), 0},
    {LCBP_PONG, 0, "PONG", B(SERVER_TIME_MS), 0},
    {LCBP_ERROR, 0, "ERROR", B(ERROR_CODE) | B(ERROR_MESSAGE), 0},
};
#define N_MESSAGES (sizeof lcbp_message_defs / sizeof lcbp_message_defs[0])

/* SPEC.md's error table, in its order. */
static const char *const error_codes[] = {
    "bad_frame",         "frame_too_large",     "unknown_message",    "bad_field",
    "missing_field",     "unsupported_version", "hello_required",     "hello_repeated",
    "card_invalid",      "card_not_found",      "card_lost",          "card_cancelled",
    "card_replaced",     "session_not_found",   "course_not_found",   "course_not_owned",
    "no_open_check_in",  "already_checked_in",  "tap_too_old",        "tap_in_future",
    "sequence_replayed", "rate_limited",        "too_many_in_flight", "database_unavailable",
    "internal_error",    "no_client_certificate", "credential_unknown", "credential_revoked",
    "credential_expired", "not_a_terminal", "too_short",
};

/* Tap statuses 0..LCBP_TAP_STATUS_MAX (SPEC.md 7.6). */
static const char *const tap_statuses[LCBP_TAP_STATUS_MAX + 1] = {
    "applied",          "duplicate",         "card_invalid",       "card_not_found",
    "card_lost",        "card_cancelled",    "card_replaced",      "session_not_found",
    "course_not_owned", "no_open_check_in",  "already_checked_in", "tap_too_old",
    "tap_in_future",    "sequence_replayed", "too_short",
};

/* ---- names ------------------------------------------------------------ */

const struct lcbp_message_def *lcbp_message_def(int type)
{
    for (size_t i = 0; i < N_MESSAGES; i++)
        if (lcbp_message_defs[i].type == type)
            return &lcbp_message_defs[i];
    return NULL;
}

const char *lcbp_type_name(int type)
{
    const struct lcbp_message_def *def = lcbp_message_def(type);
    return def != NULL ? def->name : NULL;
}

bool lcbp_type_is_request(int type)
{
    const struct lcbp_message_def *def = lcbp_message_def(type);
    return def != NULL && def->response != 0;
}

int lcbp_response_type(int request_type)
{
    const struct lcbp_message_def *def = lcbp_message_def(request_type);
    return def != NULL ? def->response : 0;
}

const char *lcbp_tag_name(int tag)
{
    if (tag < 0 || tag >= 64)
        return NULL;
    return lcbp_field_defs[tag].name;
}

const char *lcbp_direction_name(int direction)
{
    return direction == LCBP_IN ? "in" : direction == LCBP_OUT ? "out" : NULL;
}

const char *lcbp_tap_status_name(int status)
{
    if (status < 0 || status > LCBP_TAP_STATUS_MAX)
        return NULL;
    return tap_statuses[status];
}

int lcbp_tap_status_parse(const char *name, uint8_t *status)
{
    for (int i = 0; i <= LCBP_TAP_STATUS_MAX; i++) {
        if (strcmp(name, tap_statuses[i]) == 0) {
            *status = (uint8_t)i;
            return 0;
        }
    }
    return -1;
}

bool lcbp_error_code_known(const char *code)
{
    for (size_t i = 0; i < sizeof error_codes / sizeof error_codes[0]; i++)
        if (strcmp(code, error_codes[i]) == 0)
            return true;
    return false;
}

bool lcbp_error_closes(const char *code)
{
    static const char *const closing[] = {
        "bad_frame",          "frame_too_large",    "unsupported_version", "hello_required",
        "hello_repeated",     "no_client_certificate", "credential_unknown", "credential_revoked",
        "credential_expired", "not_a_terminal"};
    for (size_t i = 0; i < sizeof closing / sizeof closing[0]; i++)
        if (strcmp(code, closing[i]) == 0)
            return true;
    return false;
}

void lcbp_message_init(struct lcbp_message *msg, enum lcbp_type type, uint32_t request_id)
{
    const struct lcbp_message_def *def = lcbp_message_def((int)type);
    memset(msg, 0, sizeof *msg);
    msg->type = type;
    msg->request_id = request_id;
    msg->present = def != NULL ? def->required : 0;
}

/* ---- text rules ------------------------------------------------------- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static bool utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], lo = 0x80, hi = 0xBF;
        size_t extra;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return false;
        }
        if (n - i <= extra || p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= extra; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return false;
        i += extra + 1;
    }
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool code_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_digit(c) && !is_lower(c) && !(c >= 'A' && c <= 'Z') && c != '_' && c != '.' &&
            c != '-')
            return false;
    }
    return true;
}

static bool card_valid(const char *s, size_t n)
{
    if (n != LCBP_CARD_LEN || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

static bool unit_valid(const char *s, size_t n)
{
    if (n == 0 || !is_lower(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '_')
            return false;
    return true;
}

static int number_at(const char *s, int count)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A real proleptic Gregorian date YYYY-MM-DD, year 0001..9999. */
static bool date_valid(const char *s, size_t n)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != LCBP_DATE_LEN || s[4] != '-' || s[7] != '-')
        return false;
    int y = number_at(s, 4), m = number_at(s + 5, 2), d = number_at(s + 8, 2);
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

static bool text_valid(enum text_rule rule, const char *s, size_t n)
{
    switch (rule) {
    case TEXT_UTF8:
        return utf8_valid((const uint8_t *)s, n);
    case TEXT_CODE:
        return code_valid(s, n);
    case TEXT_CARD:
        return card_valid(s, n);
    case TEXT_DATE:
        return date_valid(s, n);
    case TEXT_UNIT:
        return unit_valid(s, n);
    case TEXT_ERROR_CODE:
        return lcbp_error_code_known(s);
    }
    return false;
}

/* ---- validation (shared by decode and encode) ------------------------- */

#define BAD(...) lcb_error_set(err, "bad_field", __VA_ARGS__)

/* The value of an integer field, widened; i64 fields keep their bits. */
uint64_t lcbp_load_uint(const struct lcbp_message *m, const struct lcbp_field_def *f)
{
    const char *p = (const char *)m + f->offset;
    switch (f->wire) {
    case LCBP_W_U8:
        return *(const uint8_t *)p;
    case LCBP_W_U16: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case LCBP_W_U32: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    default: {
        uint64_t v; /* u64, or an i64's two's complement bits */
        memcpy(&v, p, sizeof v);
        return v;
    }
    }
}

static int check_int(const struct lcbp_message *m, const struct lcbp_field_def *f,
                     struct lcb_error *err)
{
    uint64_t v = lcbp_load_uint(m, f);
    /* Every i64 range is non-negative: a negative value has its top bit set
     * and so falls above max (at most INT64_MAX). */
    if (v < f->min || v > f->max)
        return BAD("%s out of range", f->name);
    return 0;
}

static int check_text_field(const struct lcbp_message *m, const struct lcbp_field_def *f,
                            struct lcb_error *err)
{
    const char *s = (const char *)m + f->offset;
    size_t n = strnlen(s, f->max + 1);
    if (n < f->min || n > f->max)
        return BAD("%s must be %u to %u bytes", f->name, (unsigned)f->min, (unsigned)f->max);
    if (!text_valid((enum text_rule)f->text, s, n))
        return BAD("%s is not a valid %s", f->name, f->text == TEXT_UTF8 ? "UTF-8 text" : "value");
    return 0;
}

static int check_sessions(const struct lcbp_message *m, struct lcb_error *err)
{
    for (size_t i = 0; i < m->n_sessions; i++) {
        const char *s = m->sessions[i];
        size_t n = strnlen(s, LCBP_CODE_MAX + 1);
        if (n < 1 || n > LCBP_CODE_MAX || !code_valid(s, n))
            return BAD("sessions[%zu] is not a session code", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->sessions[k], s) == 0)
                return BAD("sessions[%zu] repeats sessions[%zu]", i, k);
    }
    return 0;
}

static int check_taps(const struct lcbp_message *m, struct lcb_error *err)
{
    for (size_t i = 0; i < m->n_taps; i++) {
        const struct lcbp_tap *t = &m->taps[i];
        if (t->sequence == 0 || (i > 0 && t->sequence <= m->taps[i - 1].sequence))
            return BAD("taps[%zu]: sequence numbers must rise from 1 up", i);
        if (t->terminal_time_ms < 0)
            return BAD("taps[%zu]: negative terminal time", i);
        if (!card_valid(t->card, strnlen(t->card, LCBP_CARD_LEN + 1)))
            return BAD("taps[%zu]: card is not 19 digits", i);
        if (t->session_index >= m->n_sessions)
            return BAD("taps[%zu]: session index %u beyond the session table", i,
                       (unsigned)t->session_index);
        if (t->direction != LCBP_IN && t->direction != LCBP_OUT)
            return BAD("taps[%zu]: direction must be 1 (in) or 2 (out)", i);
    }
    return 0;
}

static int check_balances(const struct lcbp_message *m, struct lcb_error *err)
{
    for (size_t i = 0; i < m->n_balances; i++) {
        const char *u = m->balances[i].unit;
        size_t n = strnlen(u, LCBP_UNIT_MAX + 1);
        if (n > LCBP_UNIT_MAX || !unit_valid(u, n))
            return BAD("balances[%zu]: not a unit code", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->balances[k].unit, u) == 0)
                return BAD("balances[%zu]: unit %s listed twice", i, u);
    }
    return 0;
}

static int check_gaps(const struct lcbp_message *m, struct lcb_error *err)
{
    for (size_t i = 0; i < m->n_gaps; i++) {
        const struct lcbp_gap *g = &m->gaps[i];
        if (g->first == 0 || g->first > g->last)
            return BAD("gaps[%zu]: need 1 <= first <= last", i);
        /* Ascending, disjoint and not touching: one range per gap. */
        if (i > 0 && (g->first <= m->gaps[i - 1].last || g->first - m->gaps[i - 1].last < 2))
            return BAD("gaps[%zu]: ranges must ascend and be separate", i);
    }
    return 0;
}

static int check_tap_status(const struct lcbp_message *m, struct lcb_error *err)
{
    for (size_t i = 0; i < m->n_tap_status; i++)
        if (m->tap_status[i] > LCBP_TAP_STATUS_MAX)
            return BAD("tap_status[%zu]: unknown status %u", i, (unsigned)m->tap_status[i]);
    return 0;
}

size_t lcbp_list_count(const struct lcbp_message *m, int tag)
{
    switch (tag) {
    case LCBP_TAG_SESSIONS:
        return m->n_sessions;
    case LCBP_TAG_TAPS:
        return m->n_taps;
    case LCBP_TAG_BALANCES:
        return m->n_balances;
    case LCBP_TAG_TAP_STATUS:
        return m->n_tap_status;
    default:
        return m->n_gaps;
    }
}

static int check_list(const struct lcbp_message *m, int tag, struct lcb_error *err)
{
    const struct lcbp_field_def *f = &lcbp_field_defs[tag];
    size_t n = lcbp_list_count(m, tag);
    if (n < f->min || n > f->max)
        return BAD("%s must hold %u to %u items", f->name, (unsigned)f->min, (unsigned)f->max);
    switch (tag) {
    case LCBP_TAG_SESSIONS:
        return check_sessions(m, err);
    case LCBP_TAG_TAPS:
        return check_taps(m, err);
    case LCBP_TAG_BALANCES:
        return check_balances(m, err);
    case LCBP_TAG_TAP_STATUS:
        return check_tap_status(m, err);
    default:
        return check_gaps(m, err);
    }
}

static int check_field(const struct lcbp_message *m, int tag, struct lcb_error *err)
{
    const struct lcbp_field_def *f = &lcbp_field_defs[tag];
    switch (f->wire) {
    case LCBP_W_STRING:
        return check_text_field(m, f, err);
    case LCBP_W_BYTES:
        return 0;
    case LCBP_W_LIST:
        return check_list(m, tag, err);
    default:
        return check_int(m, f, err);
    }
}

/* Rules that tie two fields of one message together. */
static int check_message_rules(const struct lcbp_message *m, struct lcb_error *err)
{
    if (m->type == LCBP_HELLO && m->version_min > m->version_max)
        return BAD("version_min %u above version_max %u", (unsigned)m->version_min,
                   (unsigned)m->version_max);
    if (m->type == LCBP_TAP_OK && (m->credits_centi > 0) != lcbp_has(m, LCBP_TAG_CREDIT_UNIT))
        return BAD("credit_unit must be present exactly when credits_centi > 0");
    return 0;
}

int lcbp_validate(const struct lcbp_message *m, struct lcb_error *err)
{
    const struct lcbp_message_def *def = lcbp_message_def((int)m->type);
    if (def == NULL)
        return lcb_error_set(err, "unknown_message", "message type 0x%02x is not LCBP/1",
                             (unsigned)m->type);
    if (m->request_id == 0 && m->type != LCBP_ERROR)
        return lcb_error_set(err, "bad_frame", "request id 0 is reserved for ERROR");
    uint64_t stray = m->present & ~(def->required | def->optional);
    if (stray != 0) {
        int tag = __builtin_ctzll(stray);
        return BAD("%s has no field 0x%02x (%s)", def->name, (unsigned)tag,
                   lcbp_field_defs[tag].name != NULL ? lcbp_field_defs[tag].name : "unknown");
    }
    uint64_t missing = def->required & ~m->present;
    if (missing != 0)
        return lcb_error_set(err, "missing_field", "%s needs field %s", def->name,
                             lcbp_field_defs[__builtin_ctzll(missing)].name);
    for (int tag = 1; tag < 64; tag++)
        if (lcbp_has(m, (enum lcbp_tag)tag) && check_field(m, tag, err) != 0)
            return -1;
    return check_message_rules(m, err);
}
