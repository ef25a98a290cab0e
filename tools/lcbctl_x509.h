/* X.509 for lcbctl through OpenSSL 3: EC P-256 keys, the CA, server and
 * client certificates, and reading them back. Keys are written only to new
 * files of mode 0600; nothing here talks to the database. */
#ifndef LCBCTL_X509_H
#define LCBCTL_X509_H

#include "lib/error.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LCBCTL_FINGERPRINT_LEN 32
#define LCBCTL_PATH_MAX 4096

struct lcbctl_x509_spec {
    const char *common_name;
    const char *organization;        /* NULL: none */
    const char *organizational_unit; /* NULL: none */
    int days;
    bool ca;            /* CA:TRUE, keyCertSign and cRLSign; else CA:FALSE, digitalSignature */
    int extended_usage; /* NID_server_auth, NID_client_auth, or NID_undef */
    const char *const *alt_names; /* DNS names or IP addresses (either family) */
    size_t n_alt_names;
};

/* A new EC P-256 key; caller frees with EVP_PKEY_free. */
EVP_PKEY *lcbctl_x509_new_key(struct lcb_error *err);

/* A certificate for key, signed by issuer_key under issuer's name, or
 * self-signed when issuer is NULL. Caller frees with X509_free. */
X509 *lcbctl_x509_make(const struct lcbctl_x509_spec *spec, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key, struct lcb_error *err);

/* "PREFIX.key" / "PREFIX.crt" style path joins; -1 when too long. */
int lcbctl_x509_path(char out[LCBCTL_PATH_MAX], const char *a, const char *b,
                     struct lcb_error *err);

/* Writes key (PEM, 0600) and cert (PEM, 0644) to new files; refuses when
 * either exists; leaves neither behind on failure. */
int lcbctl_x509_write_pair(const char *key_path, EVP_PKEY *key, const char *crt_path, X509 *crt,
                           struct lcb_error *err);

/* Loads dir/ca.crt and dir/ca.key (which must be private and match). */
int lcbctl_x509_load_ca(const char *dir, X509 **crt, EVP_PKEY **key, struct lcb_error *err);

X509 *lcbctl_x509_load_cert(const char *path, struct lcb_error *err);

/* SHA-256 of the certificate's DER encoding. */
int lcbctl_x509_fingerprint(X509 *crt, uint8_t out[LCBCTL_FINGERPRINT_LEN], struct lcb_error *err);

/* notAfter as "YYYY-MM-DD HH:MM:SS+00", for a timestamptz parameter. */
int lcbctl_x509_not_after(X509 *crt, char out[32], struct lcb_error *err);

#endif
