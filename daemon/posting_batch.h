/* A commit group in two statements: the prepare parameters of many
 * postings, and lcb_append_many's (sql/006) parameters for their signed
 * transactions, as PostgreSQL array literals (text format). Used by
 * ledger.c only; posting.h reads and signs each posting. */
#ifndef LCBD_POSTING_BATCH_H
#define LCBD_POSTING_BATCH_H

#include "daemon/ledger.h"
#include "daemon/posting.h"

#include <stddef.h>

#define POSTING_APPEND_MANY_SQL                                                                   \
    "SELECT lcb_append_many($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, " \
    "$16, $17, $18, $19, $20, $21, $22)"
#define POSTING_APPEND_MANY_NPARAMS 22

#define POSTING_ARRAYS_MAX 24

/* values[k] is an array literal, malloc'd; NULL entries are SQL NULL
 * elements, never NULL arrays. */
struct posting_arrays {
    char *values[POSTING_ARRAYS_MAX];
    int n;
};

void posting_arrays_free(struct posting_arrays *arrays);

/* Column k of the result: every request's params[k], in order. All requests
 * share one prepare (the same batch_sql, so the same nparams). */
int posting_prepare_arrays(const struct ledger_request *const *requests, size_t n,
                           struct posting_arrays *arrays);

/* lcb_append_many's parameters for signed[0..n), each with the request
 * digest of its posting. */
int posting_append_arrays(const struct posting_signed *const *signed_txs,
                          const uint8_t *const *digests, size_t n, struct posting_arrays *arrays);

#endif
