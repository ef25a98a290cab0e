/* See authz_backdate.h. Only for the test's own PKI: it reads the CA's
 * private key, which nothing in lcbd ever does. */
#include "bench/authz_backdate.h"

#include "lib/crypto.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>

#define DAY_S 86400L

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *crt = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    return crt;
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    return key;
}

/* A fresh random serial: two certificates of one CA never share one. */
static int new_serial(X509 *crt)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return -1;
    bytes[0] = (unsigned char)((bytes[0] & 0x7f) | 0x01);
    BIGNUM *serial = BN_bin2bn(bytes, sizeof bytes, NULL);
    int rc =
        serial != NULL && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(crt)) != NULL ? 0 : -1;
    BN_free(serial);
    return rc;
}

int backdate_certificate(const char *ca_dir, const char *in_crt, const char *out_crt)
{
    char ca_crt_path[1024], ca_key_path[1024];
    snprintf(ca_crt_path, sizeof ca_crt_path, "%s/ca.crt", ca_dir);
    snprintf(ca_key_path, sizeof ca_key_path, "%s/ca.key", ca_dir);
    X509 *ca = read_cert(ca_crt_path), *original = read_cert(in_crt), *crt = NULL;
    EVP_PKEY *ca_key = read_key(ca_key_path);
    FILE *out = NULL;
    uint8_t fingerprint[32];
    char hex[65];
    unsigned int len = 0;
    int rc = -1;
    if (ca == NULL || ca_key == NULL || original == NULL || (crt = X509_dup(original)) == NULL)
        goto out;
    if (new_serial(crt) != 0 || X509_set_issuer_name(crt, X509_get_subject_name(ca)) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(crt), -30 * DAY_S) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(crt), -DAY_S) == NULL ||
        X509_sign(crt, ca_key, EVP_sha256()) <= 0 ||
        X509_digest(crt, EVP_sha256(), fingerprint, &len) != 1 || len != sizeof fingerprint)
        goto out;
    out = fopen(out_crt, "wx");
    if (out == NULL || PEM_write_X509(out, crt) != 1)
        goto out;
    crypto_hex_encode(fingerprint, sizeof fingerprint, hex);
    printf("%s\n", hex);
    rc = 0;
out:
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "lcb-authz: backdate %s: %s\n", in_crt,
                ERR_reason_error_string(ERR_peek_last_error())
                    ? ERR_reason_error_string(ERR_peek_last_error())
                    : "cannot read or write a file");
    }
    X509_free(crt);
    X509_free(original);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}
