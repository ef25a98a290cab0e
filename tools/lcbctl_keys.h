/* The bank's own secrets as files: the Ed25519 signing key (keygen) and the
 * bank secret that keys the HMAC of identity documents (secret init). */
#ifndef LCBCTL_KEYS_H
#define LCBCTL_KEYS_H

#include "lib/crypto.h"
#include "lib/error.h"

#include <stdint.h>

#include <stddef.h>

#define LCBCTL_SECRET_LEN 32     /* what secret init writes */
#define LCBCTL_SECRET_MAX_LEN 64 /* what lcbd's id_secret_file accepts */

/* Reads a secret file as lcbd reads id_secret_file: 32 to 128 hex digits on
 * the first line, in a file no one but its owner may read. The HMAC key is
 * the decoded bytes, not the hex text; *len is their number. */
int lcbctl_keys_load_secret(const char *path, uint8_t secret[LCBCTL_SECRET_MAX_LEN], size_t *len,
                            struct lcb_error *err);

#endif
