/* Array literals for a commit group; see posting_batch.h. Every element is
 * quoted, so no text a client chose (an idempotency key, a result) can end
 * an element or the array early. */
#include "daemon/posting_batch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct literal {
    char *text;
    size_t len, cap;
    size_t elements;
};

static int literal_reserve(struct literal *l, size_t more)
{
    if (l->len + more + 1 <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 256;
    while (cap < l->len + more + 1)
        cap *= 2;
    char *text = realloc(l->text, cap);
    if (text == NULL)
        return -1;
    l->text = text;
    l->cap = cap;
    return 0;
}

/* Appends one element: NULL, or the value double-quoted with '"' and '\'
 * escaped by a backslash (the array input syntax). */
static int literal_add(struct literal *l, const char *value)
{
    size_t worst = value ? 2 * strlen(value) + 3 : 5;
    if (literal_reserve(l, worst + 2) != 0)
        return -1;
    if (l->len == 0)
        l->text[l->len++] = '{';
    if (l->elements++ > 0)
        l->text[l->len++] = ',';
    if (value == NULL) {
        memcpy(l->text + l->len, "NULL", 4);
        l->len += 4;
    } else {
        l->text[l->len++] = '"';
        for (const char *c = value; *c; c++) {
            if (*c == '"' || *c == '\\')
                l->text[l->len++] = '\\';
            l->text[l->len++] = *c;
        }
        l->text[l->len++] = '"';
    }
    l->text[l->len] = '\0';
    return 0;
}

/* Closes the literal and hands its text over. */
static char *literal_finish(struct literal *l)
{
    if (literal_reserve(l, 2) != 0) {
        free(l->text);
        return NULL;
    }
    if (l->len == 0)
        l->text[l->len++] = '{';
    l->text[l->len++] = '}';
    l->text[l->len] = '\0';
    return l->text;
}

void posting_arrays_free(struct posting_arrays *arrays)
{
    for (int k = 0; k < arrays->n; k++)
        free(arrays->values[k]);
    memset(arrays, 0, sizeof *arrays);
}

static int arrays_finish(struct literal *columns, int n, struct posting_arrays *arrays, bool ok)
{
    memset(arrays, 0, sizeof *arrays);
    for (int k = 0; k < n; k++) {
        char *text = ok ? literal_finish(&columns[k]) : NULL;
        if (text == NULL) {
            free(columns[k].text);
            ok = false;
        }
        arrays->values[k] = text;
    }
    arrays->n = n;
    if (!ok)
        posting_arrays_free(arrays);
    return ok ? 0 : -1;
}

int posting_prepare_arrays(const struct ledger_request *const *requests, size_t n,
                           struct posting_arrays *arrays)
{
    int nparams = n > 0 ? requests[0]->nparams : 0;
    if (nparams <= 0 || nparams > POSTING_ARRAYS_MAX)
        return -1;
    struct literal columns[POSTING_ARRAYS_MAX];
    memset(columns, 0, sizeof columns);
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        if (requests[i]->nparams != nparams) {
            ok = false;
            break;
        }
        for (int k = 0; ok && k < nparams; k++)
            ok = literal_add(&columns[k], requests[i]->params[k]) == 0;
    }
    return arrays_finish(columns, nparams, arrays, ok);
}

int posting_append_arrays(const struct posting_signed *const *signed_txs,
                          const uint8_t *const *digests, size_t n, struct posting_arrays *arrays)
{
    enum { TX_FIELDS = 18, ENTRY_TX = 18, ENTRY_ACCOUNT, ENTRY_UNIT, ENTRY_AMOUNT };
    struct literal columns[POSTING_APPEND_MANY_NPARAMS];
    memset(columns, 0, sizeof columns);
    struct posting_params *one = malloc(sizeof *one);
    bool ok = one != NULL && n > 0;
    for (size_t i = 0; ok && i < n; i++) {
        /* The single-posting parameters are the reference encoding of
         * every field; only the entries are laid out differently here. */
        posting_append_params(signed_txs[i], digests[i], one);
        for (int k = 0; ok && k < TX_FIELDS; k++)
            ok = literal_add(&columns[k], one->values[k]) == 0;
        const struct record *r = &signed_txs[i]->record;
        for (size_t e = 0; ok && e < r->n_entries; e++) {
            char tx[24], account[24], amount[24];
            snprintf(tx, sizeof tx, "%zu", i + 1);
            snprintf(account, sizeof account, "%lld", (long long)r->entries[e].account_id);
            snprintf(amount, sizeof amount, "%lld", (long long)r->entries[e].amount);
            ok = literal_add(&columns[ENTRY_TX], tx) == 0 &&
                 literal_add(&columns[ENTRY_ACCOUNT], account) == 0 &&
                 literal_add(&columns[ENTRY_UNIT], r->entries[e].unit) == 0 &&
                 literal_add(&columns[ENTRY_AMOUNT], amount) == 0;
        }
    }
    free(one);
    return arrays_finish(columns, POSTING_APPEND_MANY_NPARAMS, arrays, ok);
}
