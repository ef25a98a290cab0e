/* Reversals: an administrator compensates a deposit or a conversion with a
 * signed transaction that names it and a reason. Builds the ledger request
 * for lcb_prepare_reversal() (sql/004_rules.sql), which settles subtree,
 * already_reversed and deposit_consumed under the learner's chain lock. */
#ifndef LCBD_REVERSAL_H
#define LCBD_REVERSAL_H

#include "daemon/ledger.h"
#include "protocol/record.h"

#include <stdint.h>

struct reversal_order {
    int64_t institution_id; /* the administrator's, from its credential */
    char idempotency_key[RECORD_KEY_MAX + 1];
    char transaction_id[RECORD_UUID_TEXT_LEN + 1]; /* lower-case canonical UUID */
    char reason[RECORD_REASON_MAX + 1];
};

/* Fills request (params malloc'd, for ledger_submit). 0, or -1 when out of
 * memory. */
int reversal_request(const struct reversal_order *order, struct ledger_request *request);

#endif
