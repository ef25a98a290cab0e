/* Attendance: card taps at a centre's terminals become learning minutes and,
 * once a course's required minutes are reached, its credits. A check-in is
 * recorded (lcb_tap_in, sql/005); a check-out is a ledger posting
 * (lcb_prepare_checkout) that deposits the attended minutes and, exactly
 * once, the course's credits, in one signed transaction. Every tap is
 * applied once per (terminal, sequence number); a replay answers the
 * original result. Knows nothing of LCBP framing: lcbp_server.c translates. */
#ifndef LCBD_ATTENDANCE_H
#define LCBD_ATTENDANCE_H

#include "daemon/app.h"
#include "lib/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTENDANCE_TERMINAL_MAX 32
#define ATTENDANCE_CODE_MAX 32

enum attendance_direction { ATTENDANCE_IN = 1, ATTENDANCE_OUT = 2 };

struct attendance_tap {
    int64_t institution_id;                    /* the terminal's institution */
    char terminal[ATTENDANCE_TERMINAL_MAX + 1]; /* terminal id within it */
    uint64_t sequence;                         /* the terminal's own, >= 1 */
    char card[20];
    char session[ATTENDANCE_CODE_MAX + 1];     /* a course session code */
    enum attendance_direction direction;
    int64_t terminal_time_ms;                  /* when the card was tapped */
};

enum attendance_status {
    ATTENDANCE_APPLIED,
    ATTENDANCE_DUPLICATE, /* this sequence number was applied before: its result */
    ATTENDANCE_REFUSED,   /* error says why (card_lost, no_open_check_in, ...) */
};

struct attendance_answer {
    enum attendance_status status;
    struct lcb_error error;     /* when REFUSED */
    uint32_t attended_minutes;  /* the learner's total for the session's course */
    uint32_t required_minutes;  /* the course's required minutes */
    int64_t credits;            /* deposited by this tap (0 or the course's value) */
    char credit_unit[17];       /* unit of credits when non-zero */
};

/* answers[i] answers taps[i]; valid only during the call. */
typedef void (*attendance_cb)(const struct attendance_answer *answers, size_t n, void *arg);

/* Applies n taps (one for a live tap, up to 500 for an offline upload) in
 * the order given, each durably committed before cb runs; cb runs once. A
 * tap older than offline_window_s (by its terminal time) is refused
 * tap_too_old. When the database is unreachable, unapplied taps are refused
 * database_unavailable (the terminal keeps and resends them). */
void attendance_apply(struct app *app, const struct attendance_tap *taps, size_t n,
                      uint32_t offline_window_s, attendance_cb cb, void *arg);

struct attendance_gap {
    uint64_t first, last; /* sequence numbers never received, inclusive */
};

typedef void (*attendance_gaps_cb)(int status /* 0 or -1: unavailable */,
                                   const struct attendance_gap *gaps, size_t n, bool more,
                                   void *arg);

/* Sequence numbers below the terminal's highest that lcbd never received,
 * at most max ranges (more says there were others). */
void attendance_gaps(struct app *app, int64_t institution_id, const char *terminal, size_t max,
                     attendance_gaps_cb cb, void *arg);

#endif
