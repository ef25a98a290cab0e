/* Lifelong learning card numbers (see card.h): region code, serial and Luhn
 * check digit. Pure functions; never accept a number the terminals would
 * print differently, and never do I/O. */
#include "lib/card.h"

#include <stdio.h>
#include <string.h>

#define CARD_REGION_LEN 6
#define CARD_SERIAL_LEN 12
#define CARD_SERIAL_LIMIT 1000000000000ULL /* 10^12 */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

char card_luhn_digit(const char *digits, int len)
{
    int sum = 0;
    /* The digit next to the (future) check digit is doubled, then every
     * second one going left. */
    for (int i = len - 1, pos = 0; i >= 0; i--, pos++) {
        if (!is_digit(digits[i]))
            return '\0';
        int d = digits[i] - '0';
        if (pos % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

bool card_region_code_valid(const char *region_code)
{
    if (region_code == NULL || strlen(region_code) != CARD_REGION_LEN)
        return false;
    for (int i = 0; i < CARD_REGION_LEN; i++)
        if (!is_digit(region_code[i]))
            return false;
    int province = (region_code[0] - '0') * 10 + (region_code[1] - '0');
    return province >= 11 && province <= 82;
}

int card_number_check(const char *number, struct lcb_error *err)
{
    if (number == NULL)
        return lcb_error_set(err, "invalid_card", "card number missing");
    size_t len = strlen(number);
    if (len != CARD_NUMBER_LEN)
        return lcb_error_set(err, "invalid_card", "card number must have %d digits, got %zu",
                             CARD_NUMBER_LEN, len);
    for (size_t i = 0; i < len; i++)
        if (!is_digit(number[i]))
            return lcb_error_set(err, "invalid_card", "card number has a non-digit at position %zu",
                                 i + 1);
    char region[CARD_REGION_LEN + 1];
    memcpy(region, number, CARD_REGION_LEN);
    region[CARD_REGION_LEN] = '\0';
    if (!card_region_code_valid(region))
        return lcb_error_set(err, "invalid_card", "card number has an unknown region code %s",
                             region);
    if (card_luhn_digit(number, CARD_NUMBER_LEN - 1) != number[CARD_NUMBER_LEN - 1])
        return lcb_error_set(err, "invalid_card", "card number check digit is wrong");
    return 0;
}

int card_number_make(const char *region_code, unsigned long long serial,
                     char out[CARD_NUMBER_LEN + 1], struct lcb_error *err)
{
    if (!card_region_code_valid(region_code))
        return lcb_error_set(err, "invalid_card", "region code must be 6 digits, province 11..82");
    if (serial >= CARD_SERIAL_LIMIT)
        return lcb_error_set(err, "invalid_card", "card serial must be below 10^12");
    snprintf(out, CARD_NUMBER_LEN + 1, "%s%012llu", region_code, serial);
    out[CARD_NUMBER_LEN - 1] = card_luhn_digit(out, CARD_NUMBER_LEN - 1);
    out[CARD_NUMBER_LEN] = '\0';
    return 0;
}
