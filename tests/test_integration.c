/* Runs the integration suites of itest_suites.h against the PostgreSQL
 * cluster, keys and binaries that tests/integration.sh prepared. Run it
 * through `make check` (or tests/integration.sh), never on its own. */
#include "tests/itest.h"
#include "tests/itest_suites.h"

#include <check.h>
#include <stdlib.h>

int main(void)
{
    SRunner *runner;
    int failed;

    itest_setup_once();
    runner = srunner_create(NULL);
#define ITEST_ADD_SUITE(fn) srunner_add_suite(runner, fn());
    ITEST_SUITES(ITEST_ADD_SUITE)
#undef ITEST_ADD_SUITE
    /* every test's name in the log, unless CK_VERBOSITY says otherwise */
    srunner_run_all(runner, getenv("CK_VERBOSITY") != NULL ? CK_ENV : CK_VERBOSE);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
