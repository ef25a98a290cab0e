/* TLS for lcbd's listeners: OpenSSL 3, TLS 1.3 only, client certificates
 * verified against the bank's CA during the handshake. Who a verified
 * certificate belongs to is decided elsewhere (auth.c, against the database). */
#ifndef LCBD_TLS_H
#define LCBD_TLS_H

#include "lib/error.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

/* Caller frees with SSL_CTX_free. A certificate from another CA fails the
 * handshake; no certificate at all is allowed here and refused per route.
 * Every handshake the context refuses (any fatal alert lcbd sends) is
 * logged as a refusal with the credential code it stands for. */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, const char *ca_file,
                            struct lcb_error *err);

/* Every handshake ctx refuses adds one to *refusals (not owned; it must
 * outlive ctx), as every other refusal counts in the app's counters. */
int tls_count_refusals(SSL_CTX *ctx, unsigned long *refusals);

/* For a listener whose clients must all present a certificate: the
 * handshake fails without one, and fails for a certificate whose
 * fingerprint is_refused() refuses (revoked or expired in the database):
 * it answers X509_V_OK, or the X509_V_ERR_ the handshake fails with (so
 * the alert and the log say which). is_refused runs inside the handshake:
 * it must not block. */
typedef int (*tls_refused_fn)(const uint8_t fingerprint[32], void *arg);
int tls_require_client_cert(SSL_CTX *ctx, tls_refused_fn is_refused, void *arg);

/* SHA-256 of the verified peer certificate's DER encoding; -1 when the peer
 * presented none (or it did not verify). */
int tls_peer_fingerprint(SSL *ssl, uint8_t out[32]);

#endif
