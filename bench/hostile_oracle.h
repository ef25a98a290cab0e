/* What lcbd must answer to the bytes a terminal sends, from protocol/SPEC.md
 * alone: the codec (checked against the independent vectors) cuts and
 * decodes the frames, sections 7.1 and 8 say which ERROR each one earns and
 * whether the connection closes. The hostile test's yardstick; it never
 * looks at lcbd's code. Not thread-safe (one decode buffer). */
#ifndef LCB_BENCH_HOSTILE_ORACLE_H
#define LCB_BENCH_HOSTILE_ORACLE_H

#include "protocol/lcbp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORACLE_MAX_ANSWERS 8

enum oracle_end {
    ORACLE_OPEN,      /* every byte answered; the connection stays open */
    ORACLE_CLOSE,     /* lcbd closes after the answers */
    ORACLE_WAIT,      /* the last frame is incomplete: lcbd waits for the rest */
    ORACLE_CARRY_OUT, /* a request lcbd would carry out: not a hostile frame */
    ORACLE_TOO_MANY,  /* more than ORACLE_MAX_ANSWERS answers */
};

struct oracle_answer {
    bool hello_ok; /* HELLO_OK; else ERROR with code */
    uint32_t request_id;
    char code[LCBP_ERROR_CODE_MAX + 1];
};

struct oracle {
    enum oracle_end end;
    size_t n_answers;
    struct oracle_answer answers[ORACLE_MAX_ANSWERS];
    size_t need; /* ORACLE_WAIT: bytes still missing (4 while the length is cut) */
    bool ready;  /* HELLO_OK sent, before or by these bytes */
};

/* Predicts lcbd's answers to len bytes sent on a connection that has had
 * HELLO_OK (ready) or not, assuming nothing sent before is unanswered. */
void oracle_predict(const uint8_t *bytes, size_t len, bool ready, struct oracle *out);

/* "ERROR frame_too_large (id 0), close" and the like, for messages. */
void oracle_describe(const struct oracle *o, char *out, size_t cap);

#endif
