/* The expired certificate of lcb-authz: a copy of a certificate the bank's
 * CA issued (same subject, key and extensions), re-signed by that CA with a
 * validity that ended yesterday. lcbctl will not make one (--days >= 1),
 * and an expired certificate is exactly what a terminal left in a drawer
 * for three years presents. */
#ifndef LCB_BENCH_AUTHZ_BACKDATE_H
#define LCB_BENCH_AUTHZ_BACKDATE_H

/* Writes out_crt and prints its SHA-256 fingerprint (hex) on stdout.
 * 0, or -1 after printing why. */
int backdate_certificate(const char *ca_dir, const char *in_crt, const char *out_crt);

#endif
