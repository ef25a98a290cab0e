/* The bank's cryptography, all through OpenSSL 3: SHA-256, HMAC-SHA-256 for
 * identity documents, Ed25519 signing keys and their key ids, hex.
 * Nothing here touches the network or the database. */
#ifndef LCB_CRYPTO_H
#define LCB_CRYPTO_H

#include "lib/error.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_HASH_LEN 32
#define CRYPTO_SIG_LEN 64
#define CRYPTO_KEY_ID_LEN 16 /* hex characters, without the terminating NUL */

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN]);

/* HMAC-SHA-256 of msg under secret; used so identity document numbers are
 * never stored in plain text. */
int crypto_hmac_sha256(const void *secret, size_t secret_len, const void *msg, size_t msg_len,
                       uint8_t out[CRYPTO_HASH_LEN]);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void crypto_hex_encode(const uint8_t *bytes, size_t len, char *out);
/* Parses exactly 2*len hex characters (either case) into bytes; 0 or -1. */
int crypto_hex_decode(const char *hex, uint8_t *bytes, size_t len);

/* A new Ed25519 private key; caller frees with EVP_PKEY_free. */
EVP_PKEY *crypto_ed25519_generate(struct lcb_error *err);
/* Writes the private key as PEM to path, created with mode 0600 (refuses to
 * overwrite an existing file). */
int crypto_write_private_key(EVP_PKEY *key, const char *path, struct lcb_error *err);
/* Loads a PEM private key; refuses a key file readable by group or others. */
EVP_PKEY *crypto_load_private_key(const char *path, struct lcb_error *err);
/* Public half as a PEM string (caller frees with free()), and back. */
char *crypto_public_key_pem(EVP_PKEY *key, struct lcb_error *err);
EVP_PKEY *crypto_public_key_from_pem(const char *pem, struct lcb_error *err);

/* Key id: hex of the first 8 bytes of SHA-256 over the raw 32-byte public key,
 * into out[CRYPTO_KEY_ID_LEN + 1]. Recorded with every signature. */
int crypto_key_id(EVP_PKEY *key, char out[CRYPTO_KEY_ID_LEN + 1], struct lcb_error *err);

int crypto_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[CRYPTO_SIG_LEN],
                struct lcb_error *err);
/* 0 when sig is key's valid signature over msg; -1 otherwise. */
int crypto_verify(EVP_PKEY *public_key, const uint8_t *msg, size_t len,
                  const uint8_t sig[CRYPTO_SIG_LEN]);

#endif
