/* The one error style of lcb: a stable machine code plus a human message.
 * Codes are the strings documented in docs/api.md ("card_lost", ...); they
 * are the same on every interface. Never put secrets in a message. */
#ifndef LCB_ERROR_H
#define LCB_ERROR_H

#include <stdbool.h>

struct lcb_error {
    char code[48];
    char message[256];
};

/* Fills err (when err is non-NULL) and returns -1, so callers can write
 * `return lcb_error_set(err, "bad_card", "...")`. */
int lcb_error_set(struct lcb_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void lcb_error_clear(struct lcb_error *err);
bool lcb_error_is_set(const struct lcb_error *err);

#endif
