/* LCBP/1, the binary protocol card terminals speak to lcbd over TLS 1.3
 * (protocol/SPEC.md is the normative text; keep the two in step). Pure codec:
 * no I/O, no allocation, no knowledge of the daemon. Decoding is strict: a
 * frame it accepts re-encodes to exactly the same bytes. */
#ifndef LCB_LCBP_H
#define LCB_LCBP_H

#include "lib/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LCBP_VERSION 1
#define LCBP_MAX_FRAME 16384   /* whole frame, the 4-byte length included */
#define LCBP_HEADER_LEN 9      /* length u32 + type u8 + request id u32 */
#define LCBP_MIN_MAX_FRAME 512 /* smallest max_frame a HELLO_OK may announce */

#define LCBP_CARD_LEN 19
#define LCBP_CODE_MAX 32 /* session, course, terminal and institution codes */
#define LCBP_SOFTWARE_MAX 64
#define LCBP_RESULT_MAX 64
#define LCBP_DATE_LEN 10 /* "YYYY-MM-DD" */
#define LCBP_UNIT_MAX 16
#define LCBP_DISPLAY_MAX 64
#define LCBP_ERROR_CODE_MAX 32
#define LCBP_ERROR_MESSAGE_MAX 256
#define LCBP_TXN_ID_LEN 16
#define LCBP_HASH_LEN 32

#define LCBP_MAX_SESSIONS 32 /* session table of one UPLOAD */
#define LCBP_MAX_TAPS 500    /* taps of one UPLOAD, and statuses of its UPLOAD_OK */
#define LCBP_MAX_BALANCES 32
#define LCBP_MAX_GAPS 64

/* lcbp_frame_length's "not a whole frame yet". Positive, so that every
 * negative return stays an error. */
#define LCBP_NEED_MORE 1

/* Message types. Requests (terminal -> lcbd) have the high bit clear; every
 * response (lcbd -> terminal) has it set. */
enum lcbp_type {
    LCBP_HELLO = 0x01,
    LCBP_TAP = 0x02,
    LCBP_BALANCE = 0x03,
    LCBP_OUTCOME = 0x04,
    LCBP_UPLOAD = 0x05,
    LCBP_PING = 0x06,
    LCBP_HELLO_OK = 0x81,
    LCBP_TAP_OK = 0x82,
    LCBP_BALANCE_OK = 0x83,
    LCBP_OUTCOME_OK = 0x84,
    LCBP_UPLOAD_OK = 0x85,
    LCBP_PONG = 0x86,
    LCBP_ERROR = 0xFF,
};

/* Field tags (SPEC.md section 4). A tag has one wire type and one meaning in
 * every message that allows it. All tags are below 64, so a message's
 * fields fit one uint64_t bit set. */
enum lcbp_tag {
    LCBP_TAG_VERSION_MIN = 0x01,
    LCBP_TAG_VERSION_MAX = 0x02,
    LCBP_TAG_SOFTWARE = 0x03,
    LCBP_TAG_VERSION = 0x04,
    LCBP_TAG_SERVER_TIME_MS = 0x05,
    LCBP_TAG_TERMINAL_ID = 0x06,
    LCBP_TAG_INSTITUTION = 0x07,
    LCBP_TAG_MAX_FRAME = 0x08,
    LCBP_TAG_MAX_IN_FLIGHT = 0x09,
    LCBP_TAG_OFFLINE_WINDOW_S = 0x0A,
    LCBP_TAG_CARD = 0x10,
    LCBP_TAG_SESSION = 0x11,
    LCBP_TAG_DIRECTION = 0x12,
    LCBP_TAG_TERMINAL_TIME_MS = 0x13,
    LCBP_TAG_SEQUENCE = 0x14,
    LCBP_TAG_COURSE = 0x15,
    LCBP_TAG_RESULT = 0x16,
    LCBP_TAG_COMPLETED_ON = 0x17,
    LCBP_TAG_SESSIONS = 0x18,
    LCBP_TAG_TAPS = 0x19,
    LCBP_TAG_STATUS = 0x20,
    LCBP_TAG_ATTENDED_MINUTES = 0x21,
    LCBP_TAG_REQUIRED_MINUTES = 0x22,
    LCBP_TAG_CREDITS_CENTI = 0x23,
    LCBP_TAG_CREDIT_UNIT = 0x24,
    LCBP_TAG_BALANCES = 0x25,
    LCBP_TAG_TRANSACTION_ID = 0x26,
    LCBP_TAG_HASH = 0x27,
    LCBP_TAG_TAP_STATUS = 0x28,
    LCBP_TAG_GAPS = 0x29,
    LCBP_TAG_GAPS_MORE = 0x2A,
    LCBP_TAG_DISPLAY = 0x2E,
    LCBP_TAG_ERROR_CODE = 0x30,
    LCBP_TAG_ERROR_MESSAGE = 0x31,
};

#define LCBP_BIT(tag) (UINT64_C(1) << (tag))

enum lcbp_direction {
    LCBP_IN = 1,  /* check-in: the session starts for this learner */
    LCBP_OUT = 2, /* check-out */
};

/* TAP_OK and OUTCOME_OK status; the first two values of a tap status too. */
enum lcbp_status {
    LCBP_STATUS_APPLIED = 0,   /* OUTCOME_OK calls it "posted" */
    LCBP_STATUS_DUPLICATE = 1, /* the sequence number was used: original result */
};

/* Per-tap status in UPLOAD_OK (SPEC.md 7.6): 0 applied, 1
 * duplicate, then refusals numbered as below, each one an error code. */
#define LCBP_TAP_STATUS_MAX 14

struct lcbp_tap {             /* one tap of an offline UPLOAD */
    uint64_t sequence;        /* the terminal's sequence number, >= 1 */
    int64_t terminal_time_ms; /* original tap time, ms since the epoch */
    char card[LCBP_CARD_LEN + 1];
    uint8_t session_index; /* index into lcbp_message.sessions */
    uint8_t direction;     /* enum lcbp_direction */
};

struct lcbp_balance {
    char unit[LCBP_UNIT_MAX + 1];
    int64_t amount; /* minutes, or hundredths of a credit */
};

struct lcbp_gap { /* sequence numbers first..last (inclusive) never received */
    uint64_t first;
    uint64_t last;
};

/* One decoded (or to-be-encoded) frame. Flat: every field of every message,
 * used or not; `present` says which fields the frame carries (LCBP_BIT(tag)).
 * It is about 24 KiB, so keep one per connection or on the heap, not one per
 * nested call. Strings are NUL-terminated and never contain NUL. */
struct lcbp_message {
    enum lcbp_type type;
    uint32_t request_id; /* chosen by the terminal, echoed; 0 only on ERROR */
    uint64_t present;

    uint8_t version_min, version_max;     /* HELLO */
    char software[LCBP_SOFTWARE_MAX + 1]; /* HELLO */
    uint8_t version;                      /* HELLO_OK */
    int64_t server_time_ms;               /* HELLO_OK, PONG */
    char terminal_id[LCBP_CODE_MAX + 1];  /* HELLO_OK */
    char institution[LCBP_CODE_MAX + 1];  /* HELLO_OK */
    uint32_t max_frame;                   /* HELLO_OK */
    uint16_t max_in_flight;               /* HELLO_OK */
    uint32_t offline_window_s;            /* HELLO_OK */

    char card[LCBP_CARD_LEN + 1];         /* TAP, BALANCE, OUTCOME */
    char session[LCBP_CODE_MAX + 1];      /* TAP */
    uint8_t direction;                    /* TAP: enum lcbp_direction */
    int64_t terminal_time_ms;             /* TAP; HELLO (optional) */
    uint64_t sequence;                    /* TAP, OUTCOME */
    char course[LCBP_CODE_MAX + 1];       /* OUTCOME */
    char result[LCBP_RESULT_MAX + 1];     /* OUTCOME */
    char completed_on[LCBP_DATE_LEN + 1]; /* OUTCOME */
    size_t n_sessions;                    /* UPLOAD */
    char sessions[LCBP_MAX_SESSIONS][LCBP_CODE_MAX + 1];
    size_t n_taps; /* UPLOAD */
    struct lcbp_tap taps[LCBP_MAX_TAPS];

    uint8_t status;                      /* TAP_OK, OUTCOME_OK: enum lcbp_status */
    uint32_t attended_minutes;           /* TAP_OK */
    uint32_t required_minutes;           /* TAP_OK */
    int64_t credits_centi;               /* TAP_OK: deposited by this tap, or 0 */
    char credit_unit[LCBP_UNIT_MAX + 1]; /* TAP_OK: present iff credits_centi > 0 */
    size_t n_balances;                   /* BALANCE_OK */
    struct lcbp_balance balances[LCBP_MAX_BALANCES];
    uint8_t transaction_id[LCBP_TXN_ID_LEN]; /* OUTCOME_OK */
    uint8_t hash[LCBP_HASH_LEN];             /* OUTCOME_OK */
    size_t n_tap_status;                     /* UPLOAD_OK: one per tap, in order */
    uint8_t tap_status[LCBP_MAX_TAPS];
    size_t n_gaps; /* UPLOAD_OK */
    struct lcbp_gap gaps[LCBP_MAX_GAPS];
    uint8_t gaps_more;                              /* UPLOAD_OK: 1 when gaps was cut short */
    char display[LCBP_DISPLAY_MAX + 1];             /* TAP_OK, BALANCE_OK: may be "" */
    char error_code[LCBP_ERROR_CODE_MAX + 1];       /* ERROR */
    char error_message[LCBP_ERROR_MESSAGE_MAX + 1]; /* ERROR: may be "" */
};

/* Zeroes msg and sets its type, request id and the required fields of that
 * type in msg->present. The caller then fills the fields and adds optional
 * ones with msg->present |= LCBP_BIT(tag). A listener answering a TAP:
 *
 *     lcbp_message_init(resp, LCBP_TAP_OK, req->request_id);
 *     resp->attended_minutes = 1200;
 *     resp->required_minutes = 1200;
 *     resp->credits_centi = 150;
 *     strcpy(resp->credit_unit, "community");
 *     resp->present |= LCBP_BIT(LCBP_TAG_CREDIT_UNIT);
 *     strcpy(resp->display, "1.50 community credits");
 *     if (lcbp_encode(resp, buf, sizeof buf, &len, &err) != 0) ... a bug in lcbd
 */
void lcbp_message_init(struct lcbp_message *msg, enum lcbp_type type, uint32_t request_id);

static inline bool lcbp_has(const struct lcbp_message *msg, enum lcbp_tag tag)
{
    return (msg->present & LCBP_BIT(tag)) != 0;
}

/* Looks at the start of a receive buffer. Returns:
 *   0               buf holds at least one whole frame of *frame_len bytes;
 *   LCBP_NEED_MORE  not yet: *frame_len is the frame's size when the 4-byte
 *                   length has arrived, else 4 (the bytes needed to learn it);
 *   -1              framing error, err->code "frame_too_large" (length above
 *                   LCBP_MAX_FRAME - 4) or "bad_frame" (length below 5). The
 *                   peer must get ERROR with request id 0 and be closed.
 * Reads at most 4 bytes, so a hostile length is refused before anything is
 * buffered for it. A listener that announced a max_frame below
 * LCBP_MAX_FRAME also refuses a larger *frame_len itself (frame_too_large). */
int lcbp_frame_length(const uint8_t *buf, size_t len, size_t *frame_len, struct lcb_error *err);

/* Decodes exactly one whole frame (length prefix included; len must equal
 * the frame's size) into msg, applying every rule of SPEC.md. Returns 0, or
 * -1 with err->code one of bad_frame, frame_too_large, unknown_message,
 * bad_field, missing_field. On failure msg->type and msg->request_id hold
 * the frame's header when it could be read (request_id 0 otherwise), so an
 * ERROR can echo it; the other fields are unspecified. */
int lcbp_decode(const uint8_t *frame, size_t len, struct lcbp_message *msg, struct lcb_error *err);

/* Encodes msg as one whole frame into buf (cap bytes; LCBP_MAX_FRAME always
 * suffices) and sets *len. Refuses, with the code decoding would give
 * (unknown_message; bad_frame for request id 0 on a type other than ERROR;
 * bad_field, missing_field), any message that lcbp_decode would reject, so a
 * peer never receives a frame lcb itself calls invalid; "frame_too_large"
 * when cap is too small, writing nothing usable. Never reads msg beyond its
 * arrays, even when a string lacks its NUL. */
int lcbp_encode(const struct lcbp_message *msg, uint8_t *buf, size_t cap, size_t *len,
                struct lcb_error *err);

/* "HELLO", "TAP_OK", ...; NULL for an unassigned value. */
const char *lcbp_type_name(int type);
bool lcbp_type_is_request(int type);
/* The response type of a request type (HELLO -> HELLO_OK), or 0. */
int lcbp_response_type(int request_type);
/* "version_min", ...; NULL for an unassigned tag. */
const char *lcbp_tag_name(int tag);
/* "in" / "out"; NULL otherwise. */
const char *lcbp_direction_name(int direction);

/* Tap status <-> its name: 0 "applied", 1 "duplicate", 2.. the refusal's
 * error code ("card_lost", ...). Name returns NULL above LCBP_TAP_STATUS_MAX;
 * parse returns -1 for a name that is no tap status. */
const char *lcbp_tap_status_name(int status);
int lcbp_tap_status_parse(const char *name, uint8_t *status);

/* True when code is in SPEC.md's error table. lcbp_encode refuses an ERROR
 * with any other code; map unknown internal codes to "internal_error". */
bool lcbp_error_code_known(const char *code);
/* True for the codes after which lcbd closes the connection (bad_frame,
 * frame_too_large, unsupported_version, hello_required, hello_repeated and
 * the credential refusals). */
bool lcbp_error_closes(const char *code);

#endif
