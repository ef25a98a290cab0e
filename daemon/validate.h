/* Shape checks shared by the listeners, before anything reaches the
 * database: codes, printable texts and ids as the schema's CHECKs expect
 * them. Pure functions. */
#ifndef LCBD_VALIDATE_H
#define LCBD_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* An institution, catalogue, session or rule code: ^[A-Za-z0-9_.-]{1,32}$ */
bool validate_code(const char *s);

/* 1..max bytes without control characters (UTF-8 is checked by jansson). */
bool validate_text(const char *s, size_t max);

/* A positive decimal id of at most 18 digits (it fits int64_t), without
 * sign, spaces or leading zeros. */
bool validate_positive_id(const char *text, long long *out);

#endif
