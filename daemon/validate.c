/* Shared shape checks; see validate.h. */
#include "daemon/validate.h"

#include <stdlib.h>
#include <string.h>

bool validate_code(const char *s)
{
    static const char allowed[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    size_t len = s ? strlen(s) : 0;
    return len >= 1 && len <= 32 && strspn(s, allowed) == len;
}

bool validate_text(const char *s, size_t max)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

bool validate_positive_id(const char *text, long long *out)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > 18 || text[0] == '0' || strspn(text, "0123456789") != len)
        return false;
    *out = strtoll(text, NULL, 10);
    return true;
}
