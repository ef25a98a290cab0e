/* The Check suites of lib/ and protocol/, one per module, gathered by
 * test_unit.c. Tests here never touch the network or a database (the TLS
 * of tls_write runs over a socketpair); files they write live in a fresh
 * temporary directory. */
#ifndef LCB_UNIT_SUITES_H
#define LCB_UNIT_SUITES_H

#include <check.h>

Suite *card_suite(void);
Suite *crypto_suite(void);
Suite *record_suite(void);
Suite *lcbp_suite(void);
Suite *tls_write_suite(void);

#endif
