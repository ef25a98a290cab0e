/* Batched balance inquiries; see balances.h. */
#include "daemon/balances.h"

#include "daemon/db.h"
#include "daemon/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More batches at once would take pool connections from the ledger; fewer
 * would leave a core idle while one batch waits for its answer. */
#define BATCHES_IN_FLIGHT 2
#define CARD_MAX 24

/* lcb_card_balances (sql/008) answers a whole batch in card order. */
static const char batch_sql[] =
    "SELECT ord, error_code, error_message, unit, amount, scale "
    "FROM lcb_card_balances($1::text[])";

enum { COL_ORD, COL_ERROR_CODE, COL_ERROR_MESSAGE, COL_UNIT, COL_AMOUNT, COL_SCALE, COLUMNS };

struct inquiry {
    char card[CARD_MAX];
    balances_cb cb;
    void *arg;
    struct inquiry *next;
};

struct batch {
    struct balances *balances;
    size_t n;
    struct inquiry *inquiries[BALANCES_BATCH_MAX];
};

struct balances {
    struct app *app;
    struct inquiry *head, *tail;
    int batches_in_flight;
    bool closing; /* freed by the last batch to come back */
    struct event *kick;
};

static void answer_error(struct inquiry *q, const char *code, const char *message)
{
    struct balance_answer answer;
    memset(&answer, 0, sizeof answer);
    lcb_error_set(&answer.error, code, "%s", message);
    q->cb(&answer, q->arg);
    free(q);
}

/* Reads the rows of inquiry number ord (1-based) starting at *row. */
static void read_answer(const PGresult *res, int *row, long ord, struct balance_answer *answer)
{
    memset(answer, 0, sizeof *answer);
    int rows = PQntuples(res);
    if (*row >= rows || strtol(PQgetvalue(res, *row, COL_ORD), NULL, 10) != ord) {
        lcb_error_set(&answer->error, "internal_error", "no answer for this card");
        return;
    }
    if (!PQgetisnull(res, *row, COL_ERROR_CODE)) {
        lcb_error_set(&answer->error, PQgetvalue(res, *row, COL_ERROR_CODE), "%s",
                      PQgetvalue(res, *row, COL_ERROR_MESSAGE));
        (*row)++;
        return;
    }
    answer->ok = true;
    for (; *row < rows && strtol(PQgetvalue(res, *row, COL_ORD), NULL, 10) == ord; (*row)++) {
        if (PQgetisnull(res, *row, COL_UNIT) || answer->n_lines == BALANCES_MAX_UNITS)
            continue;
        struct balance_line *line = &answer->lines[answer->n_lines++];
        snprintf(line->unit, sizeof line->unit, "%s", PQgetvalue(res, *row, COL_UNIT));
        line->amount = strtoll(PQgetvalue(res, *row, COL_AMOUNT), NULL, 10);
        line->scale = strtoll(PQgetvalue(res, *row, COL_SCALE), NULL, 10);
    }
}

static void batch_finish(struct batch *batch)
{
    struct balances *balances = batch->balances;
    free(batch);
    balances->batches_in_flight--;
    if (balances->closing) {
        if (balances->batches_in_flight == 0) {
            event_free(balances->kick);
            free(balances);
        }
        return;
    }
    if (balances->head != NULL)
        event_active(balances->kick, EV_TIMEOUT, 0);
}

static void on_batch(const PGresult *res, void *arg)
{
    struct batch *batch = arg;
    if (!db_result_ok(res) || PQnfields(res) != COLUMNS) {
        if (res != NULL)
            log_error("balances: %s", db_result_message(res));
        for (size_t i = 0; i < batch->n; i++)
            answer_error(batch->inquiries[i], "database_unavailable",
                         "the database is unavailable; try again");
        batch_finish(batch);
        return;
    }
    int row = 0;
    for (size_t i = 0; i < batch->n; i++) {
        struct inquiry *q = batch->inquiries[i];
        struct balance_answer answer;
        read_answer(res, &row, (long)i + 1, &answer);
        q->cb(&answer, q->arg);
        free(q);
    }
    batch_finish(batch);
}

/* '{"card","card",...}': card numbers are digits (checked by the caller),
 * quoted all the same so that nothing else could ever split the array. */
static char *cards_literal(struct batch *batch)
{
    size_t cap = 3 + batch->n * (CARD_MAX + 3);
    char *text = malloc(cap), *at = text;
    if (text == NULL)
        return NULL;
    *at++ = '{';
    for (size_t i = 0; i < batch->n; i++)
        at += snprintf(at, cap - (size_t)(at - text), "%s\"%s\"", i ? "," : "",
                       batch->inquiries[i]->card);
    *at++ = '}';
    *at = '\0';
    return text;
}

static void send_batch(struct balances *balances)
{
    struct batch *batch = calloc(1, sizeof *batch);
    if (batch == NULL)
        abort();
    batch->balances = balances;
    while (balances->head != NULL && batch->n < BALANCES_BATCH_MAX) {
        batch->inquiries[batch->n++] = balances->head;
        balances->head = balances->head->next;
    }
    if (balances->head == NULL)
        balances->tail = NULL;
    char *cards = cards_literal(batch);
    if (cards == NULL)
        abort();
    balances->batches_in_flight++;
    const char *params[] = {cards};
    db_run(balances->app->db, batch_sql, 1, params, on_batch, batch);
    free(cards);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct balances *balances = arg;
    while (balances->head != NULL && balances->batches_in_flight < BATCHES_IN_FLIGHT)
        send_batch(balances);
}

struct balances *balances_new(struct app *app)
{
    struct balances *balances = calloc(1, sizeof *balances);
    if (balances == NULL)
        return NULL;
    balances->app = app;
    balances->kick = event_new(app->base, -1, 0, on_kick, balances);
    if (balances->kick == NULL) {
        free(balances);
        return NULL;
    }
    return balances;
}

void balances_free(struct balances *balances)
{
    if (balances == NULL)
        return;
    while (balances->head != NULL) {
        struct inquiry *q = balances->head;
        balances->head = q->next;
        /* LCBP has no shutting_down; this code tells the terminal to retry. */
        answer_error(q, "database_unavailable", "lcbd is shutting down; try again");
    }
    balances->tail = NULL;
    if (balances->batches_in_flight > 0) {
        balances->closing = true;
        return;
    }
    event_free(balances->kick);
    free(balances);
}

void balances_inquire(struct balances *balances, const char *card, balances_cb cb, void *arg)
{
    struct inquiry *q = calloc(1, sizeof *q);
    if (q == NULL)
        abort();
    snprintf(q->card, sizeof q->card, "%s", card);
    q->cb = cb;
    q->arg = arg;
    if (balances->tail != NULL)
        balances->tail->next = q;
    else
        balances->head = q;
    balances->tail = q;
    if (balances->batches_in_flight < BATCHES_IN_FLIGHT)
        event_active(balances->kick, EV_TIMEOUT, 0);
}
