/* Runs every unit suite of lib/ and protocol/. Exit status is what `make check`
 * reads: 0 only when every test passed. Add new suites to unit_suites.h and
 * to the list below; never skip a failing suite here. */
#include "tests/unit_suites.h"

#include <stdlib.h>

int main(void)
{
    SRunner *runner = srunner_create(card_suite());
    srunner_add_suite(runner, crypto_suite());
    srunner_add_suite(runner, record_suite());
    srunner_add_suite(runner, lcbp_suite());
    srunner_add_suite(runner, tls_write_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
