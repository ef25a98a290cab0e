/* X.509 for lcbctl through OpenSSL 3; see lcbctl_x509.h. Host names become
 * subject alternative names one by one (never through an OpenSSL config
 * string), so a name with a comma cannot smuggle in another entry. */
#include "tools/lcbctl_x509.h"
#include "tools/lcbctl_file.h"

#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Certificates start 5 minutes in the past: clocks of terminals drift. */
#define BACKDATE_SECONDS (-300L)

static int openssl_fail(struct lcb_error *err, const char *what)
{
    char reason[160] = "unknown OpenSSL error";
    unsigned long code = ERR_peek_last_error();
    if (code != 0)
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    return lcb_error_set(err, "crypto_error", "%s: %s", what, reason);
}

EVP_PKEY *lcbctl_x509_new_key(struct lcb_error *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL)
        openssl_fail(err, "EC P-256 key generation");
    return key;
}

static int add_name_entry(X509_NAME *name, const char *field, const char *value,
                          struct lcb_error *err)
{
    if (value == NULL)
        return 0;
    if (value[0] == '\0')
        return lcb_error_set(err, "invalid_argument", "the subject %s is empty", field);
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                   0) != 1) {
        char what[64];
        snprintf(what, sizeof what, "subject %s", field);
        return openssl_fail(err, what);
    }
    return 0;
}

static int add_ext(X509 *crt, X509V3_CTX *v3, int nid, const char *value, struct lcb_error *err)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    int ok = ext != NULL && X509_add_ext(crt, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? 0 : openssl_fail(err, OBJ_nid2sn(nid));
}

static bool dns_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 253 || name[0] == '.' || name[0] == '-' || name[len - 1] == '.')
        return false;
    if (strncmp(name, "*.", 2) == 0)
        name += 2;
    for (const char *p = name; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
        if (*p == '.' && p[1] == '.')
            return false;
    }
    return true;
}

static GENERAL_NAME *alt_name(const char *text, struct lcb_error *err)
{
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);
    ASN1_IA5STRING *dns = NULL;

    ERR_clear_error(); /* a name that is not an address is not an error */
    if (gen == NULL)
        goto fail;
    if (ip != NULL) {
        GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
        return gen;
    }
    if (!dns_name_valid(text)) {
        lcb_error_set(err, "invalid_argument", "'%s' is neither a DNS name nor an IP address",
                      text);
        GENERAL_NAME_free(gen);
        return NULL;
    }
    dns = ASN1_IA5STRING_new();
    if (dns == NULL || ASN1_STRING_set(dns, text, (int)strlen(text)) != 1)
        goto fail;
    GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
    return gen;
fail:
    ASN1_IA5STRING_free(dns);
    GENERAL_NAME_free(gen);
    openssl_fail(err, "subjectAltName");
    return NULL;
}

static int add_alt_names(X509 *crt, const struct lcbctl_x509_spec *spec, struct lcb_error *err)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    int rc = -1;

    if (names == NULL)
        return openssl_fail(err, "subjectAltName");
    for (size_t i = 0; i < spec->n_alt_names; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || strcmp(spec->alt_names[i], spec->alt_names[j]) == 0;
        if (seen)
            continue;
        GENERAL_NAME *gen = alt_name(spec->alt_names[i], err);
        if (gen == NULL)
            goto out;
        if (sk_GENERAL_NAME_push(names, gen) <= 0) {
            GENERAL_NAME_free(gen);
            openssl_fail(err, "subjectAltName");
            goto out;
        }
    }
    if (X509_add1_ext_i2d(crt, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1) {
        openssl_fail(err, "subjectAltName");
        goto out;
    }
    rc = 0;
out:
    GENERAL_NAMES_free(names);
    return rc;
}

static int set_serial_and_validity(X509 *crt, int days, struct lcb_error *err)
{
    unsigned char bytes[16];
    BIGNUM *serial = NULL;
    int rc = -1;

    /* 127 random bits: unique without a serial database, and positive */
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return openssl_fail(err, "serial number");
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    serial = BN_bin2bn(bytes, sizeof bytes, NULL);
    if (serial == NULL || BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(crt)) == NULL) {
        openssl_fail(err, "serial number");
        goto out;
    }
    if (X509_gmtime_adj(X509_getm_notBefore(crt), BACKDATE_SECONDS) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(crt), days, 0, NULL) == NULL) {
        openssl_fail(err, "validity");
        goto out;
    }
    rc = 0;
out:
    BN_free(serial);
    return rc;
}

static int add_extensions(X509 *crt, X509 *issuer, const struct lcbctl_x509_spec *spec,
                          struct lcb_error *err)
{
    X509V3_CTX v3;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : crt, crt, NULL, NULL, 0);
    if (add_ext(crt, &v3, NID_basic_constraints,
                spec->ca ? "critical,CA:TRUE" : "critical,CA:FALSE", err) != 0 ||
        add_ext(crt, &v3, NID_key_usage,
                spec->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature",
                err) != 0 ||
        /* the subject key id first: a self-signed authority key id refers to it */
        add_ext(crt, &v3, NID_subject_key_identifier, "hash", err) != 0 ||
        add_ext(crt, &v3, NID_authority_key_identifier, "keyid:always", err) != 0)
        return -1;
    if (spec->extended_usage != NID_undef &&
        add_ext(crt, &v3, NID_ext_key_usage,
                spec->extended_usage == NID_server_auth ? "serverAuth" : "clientAuth", err) != 0)
        return -1;
    if (spec->n_alt_names > 0 && add_alt_names(crt, spec, err) != 0)
        return -1;
    return 0;
}

X509 *lcbctl_x509_make(const struct lcbctl_x509_spec *spec, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key, struct lcb_error *err)
{
    X509 *crt = X509_new();
    X509_NAME *subject;

    if (crt == NULL || X509_set_version(crt, X509_VERSION_3) != 1) {
        openssl_fail(err, "new certificate");
        goto fail;
    }
    subject = X509_get_subject_name(crt);
    if (set_serial_and_validity(crt, spec->days, err) != 0 ||
        add_name_entry(subject, "O", spec->organization, err) != 0 ||
        add_name_entry(subject, "OU", spec->organizational_unit, err) != 0 ||
        add_name_entry(subject, "CN", spec->common_name, err) != 0)
        goto fail;
    if (X509_set_issuer_name(crt, issuer != NULL ? X509_get_subject_name(issuer) : subject) != 1 ||
        X509_set_pubkey(crt, key) != 1) {
        openssl_fail(err, "certificate names");
        goto fail;
    }
    if (add_extensions(crt, issuer, spec, err) != 0)
        goto fail;
    if (X509_sign(crt, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0) {
        openssl_fail(err, "signing the certificate");
        goto fail;
    }
    return crt;
fail:
    X509_free(crt);
    return NULL;
}

int lcbctl_x509_path(char out[LCBCTL_PATH_MAX], const char *a, const char *b, struct lcb_error *err)
{
    if (snprintf(out, LCBCTL_PATH_MAX, "%s%s", a, b) >= LCBCTL_PATH_MAX)
        return lcb_error_set(err, "invalid_argument", "path %s%s is too long", a, b);
    return 0;
}

/* Writes what a PEM writer puts into bio to a new file. */
static int bio_to_file(BIO *bio, const char *path, mode_t mode, struct lcb_error *err)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0)
        return openssl_fail(err, path);
    return lcbctl_file_create(path, mode, data, (size_t)len, err);
}

int lcbctl_x509_write_pair(const char *key_path, EVP_PKEY *key, const char *crt_path, X509 *crt,
                           struct lcb_error *err)
{
    BIO *key_pem = BIO_new(BIO_s_secmem()); /* cleared when freed */
    BIO *crt_pem = BIO_new(BIO_s_mem());
    int rc = -1;

    if (lcbctl_file_absent(key_path, err) != 0 || lcbctl_file_absent(crt_path, err) != 0)
        goto out;
    if (key_pem == NULL || crt_pem == NULL ||
        PEM_write_bio_PrivateKey(key_pem, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_X509(crt_pem, crt) != 1) {
        openssl_fail(err, "PEM encoding");
        goto out;
    }
    if (bio_to_file(key_pem, key_path, 0600, err) != 0)
        goto out;
    if (bio_to_file(crt_pem, crt_path, 0644, err) != 0) {
        unlink(key_path);
        goto out;
    }
    rc = 0;
out:
    BIO_free(key_pem);
    BIO_free(crt_pem);
    return rc;
}

X509 *lcbctl_x509_load_cert(const char *path, struct lcb_error *err)
{
    BIO *bio = BIO_new_file(path, "r");
    X509 *crt = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    if (crt == NULL)
        openssl_fail(err, path);
    BIO_free(bio);
    return crt;
}

int lcbctl_x509_load_ca(const char *dir, X509 **crt, EVP_PKEY **key, struct lcb_error *err)
{
    char crt_path[LCBCTL_PATH_MAX], key_path[LCBCTL_PATH_MAX];
    BIO *bio = NULL;

    *crt = NULL;
    *key = NULL;
    if (lcbctl_x509_path(crt_path, dir, "/ca.crt", err) != 0 ||
        lcbctl_x509_path(key_path, dir, "/ca.key", err) != 0 ||
        lcbctl_file_private(key_path, err) != 0)
        return -1;
    *crt = lcbctl_x509_load_cert(crt_path, err);
    if (*crt == NULL)
        goto fail;
    bio = BIO_new_file(key_path, "r");
    *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (*key == NULL) {
        openssl_fail(err, key_path);
        goto fail;
    }
    if (X509_check_private_key(*crt, *key) != 1) {
        ERR_clear_error();
        lcb_error_set(err, "crypto_error", "%s does not belong to %s", key_path, crt_path);
        goto fail;
    }
    return 0;
fail:
    X509_free(*crt);
    EVP_PKEY_free(*key);
    *crt = NULL;
    *key = NULL;
    return -1;
}

int lcbctl_x509_fingerprint(X509 *crt, uint8_t out[LCBCTL_FINGERPRINT_LEN], struct lcb_error *err)
{
    unsigned int len = 0;
    if (X509_digest(crt, EVP_sha256(), out, &len) != 1 || len != LCBCTL_FINGERPRINT_LEN)
        return openssl_fail(err, "certificate fingerprint");
    return 0;
}

int lcbctl_x509_not_after(X509 *crt, char out[32], struct lcb_error *err)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(crt), &tm) != 1 ||
        strftime(out, 32, "%Y-%m-%d %H:%M:%S+00", &tm) == 0)
        return openssl_fail(err, "certificate notAfter");
    return 0;
}
