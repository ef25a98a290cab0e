/* Ledger requests for conversions; see conversion.h. The digest covers
 * learner, rule and programme, not the key, so a replay with other content
 * is caught as idempotency_conflict. */
#include "daemon/conversion.h"

#include "lib/crypto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prepare_sql[] = "SELECT * FROM lcb_prepare_conversion($1, $2, $3, $4, $5, $6)";

static void digest_field(EVP_MD_CTX *md, const char *text)
{
    uint32_t len = (uint32_t)strlen(text);
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    if (EVP_DigestUpdate(md, be, sizeof be) != 1 || EVP_DigestUpdate(md, text, len) != 1)
        abort();
}

static void conversion_digest(const struct conversion_order *order, uint8_t digest[RECORD_HASH_LEN])
{
    char learner[24];
    snprintf(learner, sizeof learner, "%lld", (long long)order->learner_id);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort();
    digest_field(md, "lcb-conversion-v1");
    digest_field(md, learner);
    digest_field(md, order->rule);
    digest_field(md, order->programme);
    if (EVP_DigestFinal_ex(md, digest, &len) != 1 || len != RECORD_HASH_LEN)
        abort();
    EVP_MD_CTX_free(md);
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
