/* Ledger requests for conversions; see conversion.h. The digest covers
 * learner, rule and programme, not the key, so a replay with other content
 * is caught as idempotency_conflict. */
#include "daemon/conversion.h"

#include "lib/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prepare_sql[] = "SELECT * FROM lcb_prepare_conversion($1, $2, $3, $4, $5, $6)";

static void conversion_digest(const struct conversion_order *order, uint8_t digest[RECORD_HASH_LEN])
{
    char learner[24];
    snprintf(learner, sizeof learner, "%lld", (long long)order->learner_id);
    const char *fields[] = {"lcb-conversion-v1", learner, order->rule, order->programme};
    ledger_digest(fields, sizeof fields / sizeof fields[0], digest);
}

int conversion_request(const struct conversion_order *order, struct ledger_request *request)
{
    char digest_hex[2 * RECORD_HASH_LEN + 3], learner[24];
    memset(request, 0, sizeof *request);
    conversion_digest(order, request->digest);
    request->institution_id = order->institution_id;
    snprintf(request->idempotency_key, sizeof request->idempotency_key, "%s",
             order->idempotency_key);
    /* the same lock key deposits by learner id use: one order per learner */
    snprintf(request->lock_key, sizeof request->lock_key, "learner:%lld",
             (long long)order->learner_id);
    memcpy(digest_hex, "\\x", 2);
    crypto_hex_encode(request->digest, RECORD_HASH_LEN, digest_hex + 2);
    snprintf(learner, sizeof learner, "%lld", (long long)order->learner_id);
    request->prepare_sql = prepare_sql;
    request->nparams = 6;
    char **p = request->params;
    char institution[24];
    snprintf(institution, sizeof institution, "%lld", (long long)order->institution_id);
    p[0] = strdup(institution);
    p[1] = strdup(order->idempotency_key);
    p[2] = strdup(digest_hex);
    p[3] = strdup(learner);
    p[4] = strdup(order->rule);
    p[5] = order->programme[0] ? strdup(order->programme) : NULL;
    for (int i = 0; i < request->nparams; i++) {
        if (p[i] == NULL && !(i == 5 && !order->programme[0])) {
            for (int j = 0; j < request->nparams; j++)
                free(p[j]);
            return -1;
        }
    }
    return 0;
}
