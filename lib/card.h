/* Lifelong learning card numbers: 19 digits = 6-digit GB/T 2260 region code
 * + 12-digit serial + Luhn check digit. Pure functions, no I/O. */
#ifndef LCB_CARD_H
#define LCB_CARD_H

#include "lib/error.h"

#include <stdbool.h>

#define CARD_NUMBER_LEN 19

/* Luhn check digit ('0'..'9') for the first `len` digits of `digits`;
 * returns '\0' when a character is not a digit. */
char card_luhn_digit(const char *digits, int len);

/* 0 when `number` is a well-formed card number; otherwise -1 with err set to
 * "invalid_card" and a message saying what is wrong (length, non-digit,
 * region code, check digit). */
int card_number_check(const char *number, struct lcb_error *err);

/* Builds a card number from a 6-digit region and a serial (< 10^12) into
 * out[CARD_NUMBER_LEN + 1]. Returns 0, or -1 with err on a bad region/serial. */
int card_number_make(const char *region_code, unsigned long long serial,
                     char out[CARD_NUMBER_LEN + 1], struct lcb_error *err);

/* A 6-digit administrative division code: digits only, province part 11..82. */
bool card_region_code_valid(const char *region_code);

#endif
