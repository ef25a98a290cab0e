/* lcbctl keygen and lcbctl secret init: create the bank's signing key and
 * its identity-document secret. Private material only ever goes to a new
 * file of mode 0600; it is never printed and never overwrites a file. */
#include "tools/lcbctl_keys.h"
#include "tools/lcbctl.h"
#include "tools/lcbctl_db.h"
#include "tools/lcbctl_file.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records the public half so lcbd's signatures can be verified later. */
static int register_key(const struct lcbctl_ctx *ctx, const char *key_id, const char *public_pem,
                        struct lcb_error *err)
{
    const char *params[2] = {key_id, public_pem};
    PGconn *conn = lcbctl_db_connect(ctx, err);
    int rc;

    if (conn == NULL)
        return -1;
    rc = lcbctl_db_command(
        conn, "INSERT INTO signing_keys (key_id, public_key_pem) VALUES ($1, $2)", 2, params, err);
    PQfinish(conn);
    return rc;
}

int lcbctl_keys_keygen(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL, *public_out = NULL;
    bool do_register = false;
    const struct lcbctl_opt opts[] = {{"out", LCBCTL_OPT_STRING, &out, true},
                                      {"public-out", LCBCTL_OPT_STRING, &public_out, false},
                                      {"register", LCBCTL_OPT_FLAG, &do_register, false}};
    char key_id[CRYPTO_KEY_ID_LEN + 1];
    struct lcb_error err;
    EVP_PKEY *key = NULL;
    char *public_pem = NULL;
    int status;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 3, NULL, 0, &status))
        return status;
    if (lcbctl_file_absent(out, &err) != 0 ||
        (public_out != NULL && lcbctl_file_absent(public_out, &err) != 0))
        return lcbctl_fail(&err);
    key = crypto_ed25519_generate(&err);
    if (key == NULL || crypto_key_id(key, key_id, &err) != 0)
        goto fail;
    public_pem = crypto_public_key_pem(key, &err);
    if (public_pem == NULL)
        goto fail;
    if (do_register && register_key(ctx, key_id, public_pem, &err) != 0)
        goto fail;
    if (crypto_write_private_key(key, out, &err) != 0)
        goto fail;
    if (public_out != NULL &&
        lcbctl_file_create(public_out, 0644, public_pem, strlen(public_pem), &err) != 0)
        goto fail;
    printf("%s\n", key_id);
    free(public_pem);
    EVP_PKEY_free(key);
    return LCBCTL_EXIT_OK;
fail:
    free(public_pem);
    EVP_PKEY_free(key);
    return lcbctl_fail(&err);
}

int lcbctl_keys_secret_init(struct lcbctl_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL;
    const struct lcbctl_opt opts[] = {{"out", LCBCTL_OPT_STRING, &out, true}};
    uint8_t secret[LCBCTL_SECRET_LEN];
    char text[2 * LCBCTL_SECRET_LEN + 2];
    struct lcb_error err;
    int status, rc;

    if (!lcbctl_args_parse(ctx, argc, argv, opts, 1, NULL, 0, &status))
        return status;
    if (RAND_bytes(secret, sizeof secret) != 1) {
        lcb_error_set(&err, "crypto_error", "RAND_bytes failed");
        return lcbctl_fail(&err);
    }
    crypto_hex_encode(secret, sizeof secret, text);
    strcat(text, "\n");
    rc = lcbctl_file_create(out, 0600, text, strlen(text), &err);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(text, sizeof text);
    if (rc != 0)
        return lcbctl_fail(&err);
    return LCBCTL_EXIT_OK;
}

int lcbctl_keys_load_secret(const char *path, uint8_t secret[LCBCTL_SECRET_MAX_LEN], size_t *len,
                            struct lcb_error *err)
{
    size_t text_len = 0, hex_len;
    char *text = NULL;
    int rc = -1;

    if (lcbctl_file_private(path, err) != 0)
        return -1;
    text = lcbctl_file_read(path, 4096, &text_len, err);
    if (text == NULL)
        return -1;
    hex_len = strcspn(text, "\r\n");
    text[hex_len] = '\0';
    if (hex_len < 32 || hex_len > 2 * LCBCTL_SECRET_MAX_LEN || hex_len % 2 != 0 ||
        crypto_hex_decode(text, secret, hex_len / 2) != 0) {
        lcb_error_set(err, "invalid_secret", "%s: expected 32 to 128 hex digits on its first line",
                      path);
    } else {
        *len = hex_len / 2;
        rc = 0;
    }
    OPENSSL_cleanse(text, text_len);
    free(text);
    return rc;
}
