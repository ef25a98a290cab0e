/* The bank's Ed25519 signing key as lcbd holds it: loaded once from a 0600
 * PEM file, identified by its key id, used to sign transaction hashes.
 * The private key never leaves this module. */
#ifndef LCBD_SIGNER_H
#define LCBD_SIGNER_H

#include "lib/crypto.h"
#include "lib/error.h"

#include <stdint.h>

struct signer;

struct signer *signer_load(const char *path, struct lcb_error *err);
void signer_free(struct signer *signer);

const char *signer_key_id(const struct signer *signer);
/* PEM of the public key, owned by the signer. */
const char *signer_public_pem(const struct signer *signer);

int signer_sign(struct signer *signer, const uint8_t hash[CRYPTO_HASH_LEN],
                uint8_t signature[CRYPTO_SIG_LEN], struct lcb_error *err);

#endif
