/* Signing key holder; see signer.h. Signs hashes only: what is hashed is
 * decided by the canonical encoding in protocol/record.c. */
#include "daemon/signer.h"

#include <stdlib.h>

struct signer {
    EVP_PKEY *key;
    char key_id[CRYPTO_KEY_ID_LEN + 1];
    char *public_pem;
};

struct signer *signer_load(const char *path, struct lcb_error *err)
{
    struct signer *signer = calloc(1, sizeof *signer);
    if (signer == NULL) {
        lcb_error_set(err, "internal_error", "out of memory");
        return NULL;
    }
    signer->key = crypto_load_private_key(path, err);
    if (signer->key == NULL)
        goto fail;
    if (crypto_key_id(signer->key, signer->key_id, err) != 0)
        goto fail;
    signer->public_pem = crypto_public_key_pem(signer->key, err);
    if (signer->public_pem == NULL)
        goto fail;
    return signer;
fail:
    signer_free(signer);
    return NULL;
}

void signer_free(struct signer *signer)
{
    if (signer == NULL)
        return;
    EVP_PKEY_free(signer->key);
    free(signer->public_pem);
    free(signer);
}

const char *signer_key_id(const struct signer *signer)
{
    return signer->key_id;
}

const char *signer_public_pem(const struct signer *signer)
{
    return signer->public_pem;
}

int signer_sign(struct signer *signer, const uint8_t hash[CRYPTO_HASH_LEN],
                uint8_t signature[CRYPTO_SIG_LEN], struct lcb_error *err)
{
    return crypto_sign(signer->key, hash, CRYPTO_HASH_LEN, signature, err);
}
