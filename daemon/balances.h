/* Balance inquiries of presented cards, batched: inquiries that arrive while
 * earlier ones are at the database wait and then go together, one statement
 * for up to BALANCES_BATCH_MAX cards, so a busy hour of card terminals costs
 * the database a few statements a second rather than one per tap. An answer
 * reads committed balances only; it is never held back for a posting. */
#ifndef LCBD_BALANCES_H
#define LCBD_BALANCES_H

#include "daemon/app.h"
#include "lib/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BALANCES_BATCH_MAX 512
#define BALANCES_MAX_UNITS 32
#define BALANCES_UNIT_MAX 16

struct balance_line {
    char unit[BALANCES_UNIT_MAX + 1];
    int64_t amount; /* in the unit's smallest step */
    int64_t scale;  /* steps per whole unit: 100 for credits */
};

struct balance_answer {
    bool ok; /* else error: the card's refusal, or the database's */
    struct lcb_error error;
    size_t n_lines;
    struct balance_line lines[BALANCES_MAX_UNITS];
};

/* answer is valid only during the call. */
typedef void (*balances_cb)(const struct balance_answer *answer, void *arg);

struct balances *balances_new(struct app *app);
/* Answers every inquiry not yet sent with shutting_down; batches at the
 * database are answered when the pool gives them up. */
void balances_free(struct balances *balances);

/* Queues an inquiry for card (a well-formed card number: the caller checked
 * it); cb runs once, later, from the loop. */
void balances_inquire(struct balances *balances, const char *card, balances_cb cb, void *arg);

#endif
