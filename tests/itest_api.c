/* The suite's lcbd and JSON call helpers; see itest_api.h. Test code:
 * blocking and aborting are fine here. */
#include "tests/itest_api.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct itest_lcbd suite_lcbd;

void itest_suite_lcbd_start(void)
{
    if (itest_lcbd_start(&suite_lcbd, NULL) != 0) {
        fprintf(stderr, "itest: lcbd does not start\n");
        exit(EXIT_FAILURE);
    }
}

void itest_suite_lcbd_stop(void)
{
    /* A teardown cannot fail a test; an unclean stop must still fail make check. */
    if (itest_lcbd_stop(&suite_lcbd) != 0) {
        fprintf(stderr, "itest: lcbd did not stop cleanly\n");
        itest_lcbd_dump_log(&suite_lcbd);
        exit(EXIT_FAILURE);
    }
}

struct itest_lcbd *itest_suite_lcbd(void)
{
    return &suite_lcbd;
}

char *itest_text(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;

    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&out, fmt, ap), 0);
    va_end(ap);
    return out;
}

json_t *itest_call(const char *method, const char *path, const char *body, const char *cert,
                   int *status)
{
    json_t *json = NULL;

    ck_assert_int_eq(itest_https(&suite_lcbd, method, path, body, cert, status, &json), 0);
    ck_assert_msg(json != NULL, "%s %s: the answer is not JSON", method, path);
    return json;
}

void itest_expect_error(const char *method, const char *path, const char *body, const char *cert,
                        int want_status, const char *want_code, const char *mention)
{
    int status = 0;
    json_t *json = itest_call(method, path, body, cert, &status);
    json_t *error = json_object_get(json, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));

    ck_assert_msg(status == want_status && code != NULL && strcmp(code, want_code) == 0,
                  "%s %s %s: got %d %s, expected %d %s", method, path, body ? body : "", status,
                  code ? code : "(no code)", want_status, want_code);
    if (mention != NULL)
        ck_assert_msg(message != NULL && strstr(message, mention) != NULL,
                      "%s %s %s: message \"%s\" does not name %s", method, path, body ? body : "",
                      message ? message : "", mention);
    json_decref(json);
}

json_t *itest_expect_ok(const char *method, const char *path, const char *body, const char *cert,
                        int want_status)
{
    int status = 0;
    json_t *json = itest_call(method, path, body, cert, &status);

    if (status != want_status) {
        char *dump = json_dumps(json, JSON_COMPACT);
        ck_abort_msg("%s %s %s: got %d %s, expected %d", method, path, body ? body : "", status,
                     dump ? dump : "", want_status);
    }
    return json;
}
