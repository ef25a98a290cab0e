/* Conversions: an administrator converts a learner's credits under a
 * conversion rule (sql/004_rules.sql). Builds the ledger request for
 * lcb_prepare_conversion(), which decides everything under the learner's
 * chain lock; this module never decides what is eligible or how much. */
#ifndef LCBD_CONVERSION_H
#define LCBD_CONVERSION_H

#include "daemon/ledger.h"
#include "protocol/record.h"

#include <stdint.h>

struct conversion_order {
    int64_t institution_id; /* the administrator's, from its credential */
    char idempotency_key[RECORD_KEY_MAX + 1];
    int64_t learner_id;
    char rule[RECORD_CODE_MAX + 1];
    char programme[RECORD_CODE_MAX + 1]; /* "" when not named */
};

/* Fills request (params malloc'd, for ledger_submit). 0, or -1 when out of
 * memory. */
int conversion_request(const struct conversion_order *order, struct ledger_request *request);

#endif
