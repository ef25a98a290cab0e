/* Shared helpers for integration suites that talk to one lcbd over HTTPS:
 * the suite's lcbd (started once, before Check forks the tests) and JSON
 * calls that abort the test on anything unexpected. */
#ifndef LCB_ITEST_API_H
#define LCB_ITEST_API_H

#include "tests/itest.h"

#include <jansson.h>

/* Unchecked-fixture pair: starts the suite's lcbd (extra_config may be NULL)
 * and stops it; a failed start or an unclean stop (valgrind errors too)
 * exits the test program non-zero. */
void itest_suite_lcbd_start(void);
void itest_suite_lcbd_stop(void);
struct itest_lcbd *itest_suite_lcbd(void);

/* malloc'd printf; aborts the test when out of memory. */
char *itest_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One HTTPS call to the suite's lcbd whose answer must be JSON (json_decref it). */
json_t *itest_call(const char *method, const char *path, const char *body, const char *cert,
                   int *status);

/* Expects {"error": {"code": want_code}} with want_status; when mention is
 * non-NULL the message must contain it. */
void itest_expect_error(const char *method, const char *path, const char *body, const char *cert,
                        int want_status, const char *want_code, const char *mention);

/* Expects want_status; returns the answer (json_decref it). */
json_t *itest_expect_ok(const char *method, const char *path, const char *body, const char *cert,
                        int want_status);

#endif
