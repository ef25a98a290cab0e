/* The bank's cryptography through OpenSSL 3 EVP interfaces only (see
 * crypto.h). Never implement a primitive by hand here, never log key
 * material, and never leave a private key file readable by anyone but its
 * owner. */
#include "lib/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ED25519_RAW_LEN 32
#define KEY_ID_BYTES (CRYPTO_KEY_ID_LEN / 2)

/* Sets err with OpenSSL's most recent reason and empties its error queue, so
 * a later failure is not blamed on this one. */
static int ssl_fail(struct lcb_error *err, const char *what)
{
    char reason[160] = "no detail";
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return lcb_error_set(err, "crypto_error", "%s: %s", what, reason);
}

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
    unsigned int out_len = 0;
    /* SHA-256 cannot fail on valid input; if the library says otherwise it
     * is broken, and continuing would sign or chain a wrong hash. */
    if (EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) != 1 || out_len != CRYPTO_HASH_LEN)
        abort();
}

int crypto_hmac_sha256(const void *secret, size_t secret_len, const void *msg, size_t msg_len,
                       uint8_t out[CRYPTO_HASH_LEN])
{
    size_t out_len = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, secret_len, msg, msg_len, out,
                  CRYPTO_HASH_LEN, &out_len) == NULL ||
        out_len != CRYPTO_HASH_LEN) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

void crypto_hex_encode(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int crypto_hex_decode(const char *hex, uint8_t *bytes, size_t len)
{
    if (hex == NULL || strlen(hex) != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

EVP_PKEY *crypto_ed25519_generate(struct lcb_error *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL)
        ssl_fail(err, "cannot generate an Ed25519 key");
    return key;
}

static bool is_ed25519(EVP_PKEY *key)
{
    return key != NULL && EVP_PKEY_is_a(key, "ED25519");
}

int crypto_write_private_key(EVP_PKEY *key, const char *path, struct lcb_error *err)
{
    FILE *f = NULL;
    if (!is_ed25519(key))
        return lcb_error_set(err, "crypto_error", "not an Ed25519 key");
    /* O_EXCL: never clobber a key that may still verify old records. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return lcb_error_set(err, "key_file", "cannot create %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0) {
        lcb_error_set(err, "key_file", "cannot chmod %s: %s", path, strerror(errno));
        goto fail;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        lcb_error_set(err, "key_file", "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    fd = -1; /* owned by f now */
    if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
        ssl_fail(err, "cannot write private key");
        goto fail;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        lcb_error_set(err, "key_file", "cannot flush %s: %s", path, strerror(errno));
        goto fail;
    }
    int rc = fclose(f);
    f = NULL;
    if (rc != 0) {
        lcb_error_set(err, "key_file", "cannot close %s: %s", path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (f != NULL)
        fclose(f);
    if (fd >= 0)
        close(fd);
    unlink(path);
    return -1;
}

EVP_PKEY *crypto_load_private_key(const char *path, struct lcb_error *err)
{
    EVP_PKEY *key = NULL;
    FILE *f = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lcb_error_set(err, "key_file", "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    /* fstat on the opened descriptor, so the checked file is the read one. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lcb_error_set(err, "key_file", "%s is not a regular file", path);
        goto fail;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        lcb_error_set(err, "key_file", "%s is accessible by group or others (mode %03o); chmod 600",
                      path, (unsigned)(st.st_mode & 0777));
        goto fail;
    }
    f = fdopen(fd, "r");
    if (f == NULL) {
        lcb_error_set(err, "key_file", "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    fd = -1;
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (key == NULL) {
        ssl_fail(err, "cannot parse private key");
        goto fail;
    }
    if (!is_ed25519(key)) {
        lcb_error_set(err, "key_file", "%s is not an Ed25519 key", path);
        goto fail;
    }
    fclose(f);
    return key;
fail:
    EVP_PKEY_free(key);
    if (f != NULL)
        fclose(f);
    if (fd >= 0)
        close(fd);
    return NULL;
}

char *crypto_public_key_pem(EVP_PKEY *key, struct lcb_error *err)
{
    char *pem = NULL;
    char *data = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        ssl_fail(err, "cannot allocate a BIO");
        return NULL;
    }
    if (PEM_write_bio_PUBKEY(bio, key) != 1) {
        ssl_fail(err, "cannot write public key");
        goto out;
    }
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == NULL) {
        ssl_fail(err, "empty public key");
        goto out;
    }
    pem = malloc((size_t)len + 1);
    if (pem == NULL) {
        lcb_error_set(err, "out_of_memory", "cannot allocate public key text");
        goto out;
    }
    memcpy(pem, data, (size_t)len);
    pem[len] = '\0';
out:
    BIO_free(bio);
    return pem;
}

EVP_PKEY *crypto_public_key_from_pem(const char *pem, struct lcb_error *err)
{
    EVP_PKEY *key = NULL;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        ssl_fail(err, "cannot allocate a BIO");
        return NULL;
    }
    key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (key == NULL)
        ssl_fail(err, "cannot parse public key");
    else if (!is_ed25519(key)) {
        EVP_PKEY_free(key);
        key = NULL;
        lcb_error_set(err, "crypto_error", "public key is not Ed25519");
    }
    BIO_free(bio);
    return key;
}

int crypto_key_id(EVP_PKEY *key, char out[CRYPTO_KEY_ID_LEN + 1], struct lcb_error *err)
{
    uint8_t raw[ED25519_RAW_LEN];
    uint8_t digest[CRYPTO_HASH_LEN];
    size_t raw_len = sizeof raw;
    if (!is_ed25519(key))
        return lcb_error_set(err, "crypto_error", "not an Ed25519 key");
    if (EVP_PKEY_get_raw_public_key(key, raw, &raw_len) != 1 || raw_len != ED25519_RAW_LEN)
        return ssl_fail(err, "cannot read raw public key");
    crypto_sha256(raw, raw_len, digest);
    crypto_hex_encode(digest, KEY_ID_BYTES, out);
    return 0;
}

int crypto_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[CRYPTO_SIG_LEN],
                struct lcb_error *err)
{
    int rc = -1;
    size_t sig_len = CRYPTO_SIG_LEN;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return ssl_fail(err, "cannot allocate a digest context");
    /* Ed25519 is one-shot: no digest name, EVP_DigestSign over the message. */
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1) {
        ssl_fail(err, "cannot start signing");
        goto out;
    }
    if (EVP_DigestSign(ctx, sig, &sig_len, msg, len) != 1 || sig_len != CRYPTO_SIG_LEN) {
        ssl_fail(err, "cannot sign");
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int crypto_verify(EVP_PKEY *public_key, const uint8_t *msg, size_t len,
                  const uint8_t sig[CRYPTO_SIG_LEN])
{
    int rc = -1;
    if (!is_ed25519(public_key))
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -1;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, public_key) == 1 &&
        EVP_DigestVerify(ctx, sig, CRYPTO_SIG_LEN, msg, len) == 1)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}
