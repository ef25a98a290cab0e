/* Ledger requests for reversals; see reversal.h. The digest covers the
 * reversed transaction and the reason, so the same key cannot be reused to
 * reverse something else or for another reason. */
#include "daemon/reversal.h"

#include "lib/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prepare_sql[] = "SELECT * FROM lcb_prepare_reversal($1, $2, $3, $4, $5)";

static void reversal_digest(const struct reversal_order *order, uint8_t digest[RECORD_HASH_LEN])
{
    const char *fields[] = {"lcb-reversal-v1", order->transaction_id, order->reason};
    ledger_digest(fields, sizeof fields / sizeof fields[0], digest);
}

int reversal_request(const struct reversal_order *order, struct ledger_request *request)
{
    char digest_hex[2 * RECORD_HASH_LEN + 3], institution[24];
    memset(request, 0, sizeof *request);
    reversal_digest(order, request->digest);
    request->institution_id = order->institution_id;
    snprintf(request->idempotency_key, sizeof request->idempotency_key, "%s",
             order->idempotency_key);
    /* The learner is found only in SQL; the id still orders locks stably. */
    snprintf(request->lock_key, sizeof request->lock_key, "reversal:%s", order->transaction_id);
    memcpy(digest_hex, "\\x", 2);
    crypto_hex_encode(request->digest, RECORD_HASH_LEN, digest_hex + 2);
    snprintf(institution, sizeof institution, "%lld", (long long)order->institution_id);
    request->prepare_sql = prepare_sql;
    request->nparams = 5;
    char **p = request->params;
    p[0] = strdup(institution);
    p[1] = strdup(order->idempotency_key);
    p[2] = strdup(digest_hex);
    p[3] = strdup(order->transaction_id);
    p[4] = strdup(order->reason);
    for (int i = 0; i < request->nparams; i++) {
        if (p[i] == NULL) {
            for (int j = 0; j < request->nparams; j++)
                free(p[j]);
            return -1;
        }
    }
    return 0;
}
