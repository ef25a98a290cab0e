/* Error struct helpers; see error.h. */
#include "lib/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lcb_error_set(struct lcb_error *err, const char *code, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    snprintf(err->code, sizeof err->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

void lcb_error_clear(struct lcb_error *err)
{
    err->code[0] = '\0';
    err->message[0] = '\0';
}

bool lcb_error_is_set(const struct lcb_error *err)
{
    return err->code[0] != '\0';
}
