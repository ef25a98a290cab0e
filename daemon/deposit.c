/* Ledger requests for deposits; see deposit.h. The digest covers what the
 * outcome says, not its key, so a replay with other content is caught. */
#include "daemon/deposit.h"

#include "lib/crypto.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prepare_sql[] =
    "SELECT * FROM lcb_prepare_deposit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/* lcb_prepare_deposit's answers for many outcomes, in the order of the
 * arrays (the group's lock order), from a few statements over the whole
 * group (sql/009). */
static const char batch_sql[] =
    "SELECT * FROM lcb_prepare_deposits($1::bigint[], $2::text[], $3::bytea[], $4::text[], "
    "$5::bigint[], $6::text[], $7::text[], $8::text[], $9::date[], $10::bytea[])";

static void deposit_digest(const struct deposit_outcome *outcome, uint8_t digest[RECORD_HASH_LEN])
{
    char learner[24], evidence[2 * RECORD_HASH_LEN + 1] = "";
    snprintf(learner, sizeof learner, "%lld", (long long)outcome->learner_id);
    if (outcome->has_evidence)
        crypto_hex_encode(outcome->evidence_sha256, RECORD_HASH_LEN, evidence);
    const char *fields[] = {"lcb-deposit-v1",
                            outcome->card,
                            learner,
                            outcome->item_kind == DEPOSIT_COURSE ? "course" : "certificate",
                            outcome->item_code,
                            outcome->result,
                            outcome->completed_on,
                            evidence};
    ledger_digest(fields, sizeof fields / sizeof fields[0], digest);
}

static char *text_param(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *text_param(const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

int deposit_request(const struct deposit_outcome *outcome, struct ledger_request *request)
{
    memset(request, 0, sizeof *request);
    deposit_digest(outcome, request->digest);
    request->institution_id = outcome->institution_id;
    snprintf(request->idempotency_key, sizeof request->idempotency_key, "%s",
             outcome->idempotency_key);
    if (outcome->card[0])
        snprintf(request->lock_key, sizeof request->lock_key, "card:%s", outcome->card);
    else
        snprintf(request->lock_key, sizeof request->lock_key, "learner:%lld",
                 (long long)outcome->learner_id);
    char digest_hex[2 * RECORD_HASH_LEN + 1], evidence_hex[2 * RECORD_HASH_LEN + 1];
    crypto_hex_encode(request->digest, RECORD_HASH_LEN, digest_hex);
    crypto_hex_encode(outcome->evidence_sha256, RECORD_HASH_LEN, evidence_hex);
    request->prepare_sql = prepare_sql;
    request->batch_sql = batch_sql;
    request->nparams = 10;
    char **p = request->params;
    p[0] = text_param("%lld", (long long)outcome->institution_id);
    p[1] = text_param("%s", outcome->idempotency_key);
    p[2] = text_param("\\x%s", digest_hex);
    p[3] = outcome->card[0] ? text_param("%s", outcome->card) : NULL;
    p[4] = outcome->card[0] ? NULL : text_param("%lld", (long long)outcome->learner_id);
    p[5] = text_param("%s", outcome->item_code);
    p[6] = text_param("%s", outcome->item_kind == DEPOSIT_COURSE ? "course" : "certificate");
    p[7] = text_param("%s", outcome->result);
    p[8] = text_param("%s", outcome->completed_on);
    p[9] = outcome->has_evidence ? text_param("\\x%s", evidence_hex) : NULL;
    for (int i = 0; i < request->nparams; i++) {
        bool wanted_null = (i == 3 && !outcome->card[0]) || (i == 4 && outcome->card[0]) ||
                           (i == 9 && !outcome->has_evidence);
        if (p[i] == NULL && !wanted_null) {
            for (int j = 0; j < request->nparams; j++)
                free(p[j]);
            return -1;
        }
    }
    return 0;
}
