/* Deposits: an institution certifies an outcome of its own catalogue for a
 * learner, and the course's credits move from its account to the learner's.
 * Builds the ledger request for lcb_prepare_deposit() (sql/); the listeners
 * only check the shape of what they received. */
#ifndef LCBD_DEPOSIT_H
#define LCBD_DEPOSIT_H

#include "daemon/ledger.h"
#include "protocol/record.h"

#include <stdbool.h>
#include <stdint.h>

enum deposit_item_kind { DEPOSIT_COURSE, DEPOSIT_CERTIFICATE };

struct deposit_outcome {
    int64_t institution_id; /* the poster, from its credential */
    char idempotency_key[RECORD_KEY_MAX + 1];
    char card[20];      /* "" when learner_id is used */
    int64_t learner_id; /* 0 when card is used */
    enum deposit_item_kind item_kind;
    char item_code[RECORD_CODE_MAX + 1];
    char result[RECORD_RESULT_MAX + 1];
    char completed_on[RECORD_DATE_LEN + 1];
    bool has_evidence;
    uint8_t evidence_sha256[RECORD_HASH_LEN];
};

/* Fills request (params malloc'd, for ledger_submit). 0, or -1 when out of
 * memory. */
int deposit_request(const struct deposit_outcome *outcome, struct ledger_request *request);

#endif
