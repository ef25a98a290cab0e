/* Card numbers as a terminal sees them: a citizen's card is accepted only
 * when length, digits, region code and Luhn check digit are all right, and
 * the refusal says which one was wrong. */
#include "lib/card.h"
#include "tests/unit_suites.h"

#include <string.h>

START_TEST(luhn_known_numbers)
{
    /* The textbook example 7992739871 -> 3, and the ISO/IEC 7812 sample. */
    ck_assert_int_eq(card_luhn_digit("7992739871", 10), '3');
    ck_assert_int_eq(card_luhn_digit("4539148803436467", 15), '7');
    ck_assert_int_eq(card_luhn_digit("0", 1), '0');
    ck_assert_int_eq(card_luhn_digit("", 0), '0');
    ck_assert_int_eq(card_luhn_digit("12a4", 4), '\0');
}
END_TEST

START_TEST(make_then_check)
{
    struct lcb_error err = {0};
    char number[CARD_NUMBER_LEN + 1];
    ck_assert_int_eq(card_number_make("330206", 1, number, &err), 0);
    ck_assert_str_eq(number, "3302060000000000012");
    ck_assert_int_eq(card_number_check(number, &err), 0);
    ck_assert_int_eq(card_number_make("110101", 999999999999ULL, number, &err), 0);
    ck_assert_int_eq((int)strlen(number), CARD_NUMBER_LEN);
    ck_assert_int_eq(card_number_check(number, &err), 0);
}
END_TEST

START_TEST(make_rejects_bad_input)
{
    struct lcb_error err = {0};
    char number[CARD_NUMBER_LEN + 1];
    ck_assert_int_eq(card_number_make("990206", 1, number, &err), -1);
    ck_assert_str_eq(err.code, "invalid_card");
    ck_assert_int_eq(card_number_make("33020", 1, number, &err), -1);
    ck_assert_int_eq(card_number_make(NULL, 1, number, &err), -1);
    ck_assert_int_eq(card_number_make("330206", 1000000000000ULL, number, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "serial"));
}
END_TEST

static void expect_refused(const char *number, const char *why)
{
    struct lcb_error err = {0};
    ck_assert_int_eq(card_number_check(number, &err), -1);
    ck_assert_str_eq(err.code, "invalid_card");
    ck_assert_msg(strstr(err.message, why) != NULL, "%s: message '%s' lacks '%s'",
                  number ? number : "(null)", err.message, why);
}

START_TEST(check_rejection_reasons)
{
    expect_refused(NULL, "missing");
    expect_refused("", "19 digits");
    expect_refused("330206000000000001", "19 digits");
    expect_refused("33020600000000000120", "19 digits");
    expect_refused("33020600000000000a2", "non-digit");
    expect_refused("3302060000 00000012", "non-digit");
    expect_refused("9902060000000000013", "region");
    expect_refused("0002060000000000010", "region");
    expect_refused("3302060000000000013", "check digit");
    /* A transposition of two adjacent digits is what Luhn is there to catch. */
    expect_refused("3302060000000000102", "check digit");
}
END_TEST

START_TEST(region_codes)
{
    ck_assert(card_region_code_valid("330206"));
    ck_assert(card_region_code_valid("110000"));
    ck_assert(card_region_code_valid("820000"));
    ck_assert(!card_region_code_valid("100000"));
    ck_assert(!card_region_code_valid("830000"));
    ck_assert(!card_region_code_valid("33020"));
    ck_assert(!card_region_code_valid("3302060"));
    ck_assert(!card_region_code_valid("33020a"));
    ck_assert(!card_region_code_valid(NULL));
}
END_TEST

Suite *card_suite(void)
{
    Suite *s = suite_create("card");
    TCase *tc = tcase_create("number");
    tcase_add_test(tc, luhn_known_numbers);
    tcase_add_test(tc, make_then_check);
    tcase_add_test(tc, make_rejects_bad_input);
    tcase_add_test(tc, check_rejection_reasons);
    tcase_add_test(tc, region_codes);
    suite_add_tcase(s, tc);
    return s;
}
