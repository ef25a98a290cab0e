/* The integration suites test_integration runs, in this order. To add one,
 * write tests/itest_NAME.c exporting `Suite *itest_NAME_suite(void)`, add a
 * line below and the file to tests_test_integration_SOURCES in Makefile.am.
 * Run one suite alone with CK_RUN_SUITE=name (the name given to suite_create). */
#ifndef LCB_ITEST_SUITES_H
#define LCB_ITEST_SUITES_H

#include <check.h>

#define ITEST_SUITES(X) \
    X(itest_basics_suite) \
    X(itest_outcomes_suite) \
    X(itest_prepare_suite) \
    X(itest_groups_suite) \
    X(itest_admin_suite) \
    X(itest_queries_suite) \
    X(itest_rules_suite) \
    X(itest_attendance_suite) \
    X(itest_terminals_suite)

#define ITEST_DECLARE_SUITE(fn) Suite *fn(void);
ITEST_SUITES(ITEST_DECLARE_SUITE)
#undef ITEST_DECLARE_SUITE

#endif
