/* test_parse.c — checked conversions: integers, doubles, durations, hex, base64. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/parse.h"

static void u64_ok(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
    uint64_t v = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_u64(slice_from_cstr(s), min, max, &v, &err), TA_OK, "%s: %s", s, err.msg);
    cr_assert_eq(v, want, "%s", s);
}

static void u64_err(struct slice s, uint64_t min, uint64_t max, const char *want)
{
    uint64_t v = 7;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_u64(s, min, max, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(v, 7, "output untouched on failure");
}

Test(parse, unsigned_integers)
{
    u64_ok("0", 0, 10, 0);
    u64_ok("10", 0, 10, 10);
    u64_ok("007", 0, 10, 7);
    u64_ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
    u64_err(SLICE_LIT("11"), 0, 10, "11 is out of range [0, 10]");
    u64_err(SLICE_LIT("4"), 5, 10, "4 is out of range [5, 10]");
    u64_err(SLICE_LIT("18446744073709551616"), 0, UINT64_MAX,
            "18446744073709551616 is out of range [0, 18446744073709551615]");
    u64_err(SLICE_LIT(""), 0, 10, "not an unsigned integer: ''");
    u64_err(SLICE_LIT("-1"), 0, 10, "not an unsigned integer: '-1'");
    u64_err(SLICE_LIT("+1"), 0, 10, "not an unsigned integer: '+1'");
    u64_err(SLICE_LIT(" 1"), 0, 10, "not an unsigned integer: ' 1'");
    u64_err(SLICE_LIT("1a"), 0, 10, "not an unsigned integer: '1a'");
    u64_err(slice_make("1\0", 2), 0, 10, "not an unsigned integer: '1'");
}

Test(parse, numeric_text_limit_and_one_past_it)
{
    char digits[PARSE_NUM_MAX_LEN + 1];
    memset(digits, '0', sizeof(digits));
    u64_ok("000000000000000000000000000000000000000000000000000000000000001", 0, 10, 1);
    cr_assert_eq(strlen("000000000000000000000000000000000000000000000000000000000000001"),
                 PARSE_NUM_MAX_LEN - 1);
    u64_err(slice_make(digits, PARSE_NUM_MAX_LEN), 0, 10, "number too long: '0000000000000000…'");
}

Test(parse, integers_do_not_read_past_the_slice)
{
    char *p = malloc(3);
    memcpy(p, "123", 3);
    uint64_t v;
    int64_t i;
    cr_assert_eq(parse_u64(slice_make(p, 2), 0, 1000, &v, NULL), TA_OK);
    cr_assert_eq(v, 12);
    cr_assert_eq(parse_i64(slice_make(p, 3), 0, 1000, &i, NULL), TA_OK);
    cr_assert_eq(i, 123);
    free(p);
}

Test(parse, signed_integers)
{
    int64_t v = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_i64(SLICE_LIT("-9223372036854775808"), INT64_MIN, INT64_MAX, &v, &err),
                 TA_OK);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(parse_i64(SLICE_LIT("9223372036854775807"), INT64_MIN, INT64_MAX, &v, &err),
                 TA_OK);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(parse_i64(SLICE_LIT("+5"), -10, 10, &v, &err), TA_OK);
    cr_assert_eq(v, 5);
    cr_assert_eq(parse_i64(SLICE_LIT("-5"), -10, 10, &v, &err), TA_OK);
    cr_assert_eq(v, -5);
    cr_assert_eq(parse_i64(SLICE_LIT("9223372036854775808"), INT64_MIN, INT64_MAX, &v, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "9223372036854775808 is out of range [-9223372036854775808, "
                              "9223372036854775807]");
    cr_assert_eq(parse_i64(SLICE_LIT("-11"), -10, 10, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "-11 is out of range [-10, 10]");
    const char *bad[] = { "", "-", "+", "--1", "1-", "1.0", "0x1", " 1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse_i64(slice_from_cstr(bad[i]), -10, 10, &v, &err), TA_INVALID, "%s",
                     bad[i]);
        char want[64];
        snprintf(want, sizeof(want), "not an integer: '%s'", bad[i]);
        cr_assert_str_eq(err.msg, want);
    }
}

static void dbl_ok(const char *s, double want)
{
    double v = -1;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_double(slice_from_cstr(s), -1e300, 1e300, &v, &err), TA_OK, "%s: %s", s,
                 err.msg);
    cr_assert_eq(v, want, "%s", s);
}

Test(parse, doubles_accept_decimal_and_exponent_forms)
{
    dbl_ok("1.5", 1.5);
    dbl_ok("-2", -2.0);
    dbl_ok("+.5", 0.5);
    dbl_ok("5.", 5.0);
    dbl_ok("1e3", 1000.0);
    dbl_ok("1E-3", 0.001);
    dbl_ok("2.5e+2", 250.0);
    dbl_ok("0", 0.0);
    dbl_ok("4.9e-324", 4.9e-324);
}

Test(parse, doubles_reject_other_syntax_and_out_of_range)
{
    double v;
    struct ta_err err = { 0 };
    const char *bad[] = { "",     ".",  "e5", "1e",   "1e+", "inf", "nan",
                          "0x10", " 1", "1 ", "1..2", "--1", "1f" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse_double(slice_from_cstr(bad[i]), -10, 10, &v, &err), TA_INVALID, "%s",
                     bad[i]);
        char want[64];
        snprintf(want, sizeof(want), "not a number: '%s'", bad[i]);
        cr_assert_str_eq(err.msg, want);
    }
    cr_assert_eq(parse_double(SLICE_LIT("1e999"), -1e300, 1e300, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "1e999 is out of range [-1e+300, 1e+300]");
    cr_assert_eq(parse_double(SLICE_LIT("10.5"), 0, 10, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "10.5 is out of range [0, 10]");
    cr_assert_eq(parse_double(SLICE_LIT("-0.1"), 0, 10, &v, &err), TA_INVALID);
}

static void dur_ok(const char *s, int64_t want)
{
    int64_t v = -1;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_duration_ns(slice_from_cstr(s), 0, INT64_MAX, &v, &err), TA_OK, "%s: %s", s,
                 err.msg);
    cr_assert_eq(v, want, "%s: got %lld", s, (long long)v);
}

static void dur_err(const char *s, int64_t min, int64_t max, const char *want)
{
    int64_t v = -1;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_duration_ns(slice_from_cstr(s), min, max, &v, &err), TA_INVALID, "%s", s);
    cr_assert_str_eq(err.msg, want, "%s", s);
    cr_assert_eq(v, -1);
}

Test(parse, durations_in_go_and_prometheus_syntax)
{
    dur_ok("0", 0);
    dur_ok("0s", 0);
    dur_ok("1ns", 1);
    dur_ok("10us", 10000);
    dur_ok("10\xc2\xb5s", 10000); /* µ U+00B5 */
    dur_ok("10\xce\xbcs", 10000); /* μ U+03BC */
    dur_ok("500ms", 500000000LL);
    dur_ok("15s", 15000000000LL);
    dur_ok("2m", 120000000000LL); /* minutes, not milliseconds */
    dur_ok("1h30m", 5400000000000LL);
    dur_ok("1.5s", 1500000000LL);
    dur_ok("1d", 86400000000000LL);
    dur_ok("1w", 604800000000000LL);
    dur_ok("1y", 31536000000000000LL);
    dur_ok("1m1ms", 60001000000LL);
    dur_ok("0.5ns", 1); /* rounded half away from zero */
}

Test(parse, duration_errors)
{
    const char *num = "': expected a number then a unit such as 500ms, 15s, 2m, 1h";
    const char *unit = "': missing or unknown unit (use ns, us, ms, s, m, h, d, w or y)";
    char want[200];
    dur_err("", 0, INT64_MAX, "empty duration");
    snprintf(want, sizeof(want), "invalid duration '5%s", unit);
    dur_err("5", 0, INT64_MAX, want);
    snprintf(want, sizeof(want), "invalid duration '1x%s", unit);
    dur_err("1x", 0, INT64_MAX, want);
    snprintf(want, sizeof(want), "invalid duration 'ms%s", num);
    dur_err("ms", 0, INT64_MAX, want);
    snprintf(want, sizeof(want), "invalid duration '-1s%s", num);
    dur_err("-1s", 0, INT64_MAX, want);
    snprintf(want, sizeof(want), "invalid duration '1..5s%s", num);
    dur_err("1..5s", 0, INT64_MAX, want);
    snprintf(want, sizeof(want), "invalid duration '1s %s", num);
    dur_err("1s ", 0, INT64_MAX, want);
    dur_err("2m", 0, 60000000000LL, "duration '2m' is out of range");
    dur_err("1ms", 1000000000LL, INT64_MAX, "duration '1ms' is out of range");
    dur_err("0", 1, 10, "duration 0 is out of range");
    dur_err("0000000000000000000000000000000000000000000000000000000000000001s", 0, INT64_MAX,
            "duration too long: '0000000000000000…'");
}

Test(parse, duration_that_rounds_to_two_to_the_63_is_out_of_range)
{
    /* 9223372036.854775807 s is 2^63 ns once in a double: llround would overflow */
    dur_err("9223372036.854775807s", 0, INT64_MAX,
            "duration '9223372036.854775807s' is out of range");
    dur_ok("292y", 292LL * 31536000000000000LL);
    dur_err("293y", 0, INT64_MAX, "duration '293y' is out of range");
}

Test(parse, hex_bytes)
{
    uint8_t out[4];
    struct ta_err err = { 0 };
    cr_assert_eq(parse_hex(SLICE_LIT("00ffAbcD"), out, 4, &err), TA_OK);
    cr_assert_eq(out[0], 0x00);
    cr_assert_eq(out[1], 0xff);
    cr_assert_eq(out[2], 0xab);
    cr_assert_eq(out[3], 0xcd);
    cr_assert_eq(parse_hex(SLICE_LIT("abc"), out, 2, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "expected 4 hex digits, got 3");
    cr_assert_eq(parse_hex(SLICE_LIT("0g"), out, 1, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid hex digit at position 1");
    cr_assert_eq(parse_hex(SLICE_LIT("x0"), out, 1, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid hex digit at position 0");
    cr_assert_eq(parse_hex(SLICE_NULL, out, 0, &err), TA_OK);
}

Test(parse, base64_with_and_without_padding)
{
    uint8_t out[16];
    size_t len = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_base64(SLICE_LIT("aGVsbG8="), out, sizeof(out), &len, &err), TA_OK);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(out, "hello", 5), 0);
    cr_assert_eq(parse_base64(SLICE_LIT("aGVsbG8"), out, sizeof(out), &len, &err), TA_OK);
    cr_assert_eq(len, 5);
    cr_assert_eq(parse_base64(SLICE_LIT("+/8="), out, sizeof(out), &len, &err), TA_OK);
    cr_assert_eq(len, 2);
    cr_assert_eq(out[0], 0xfb);
    cr_assert_eq(out[1], 0xff);
    cr_assert_eq(parse_base64(SLICE_LIT(""), out, sizeof(out), &len, &err), TA_OK);
    cr_assert_eq(len, 0);
}

Test(parse, base64_errors)
{
    uint8_t out[2];
    size_t len = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(parse_base64(SLICE_LIT("a"), out, sizeof(out), &len, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid base64 length");
    cr_assert_eq(parse_base64(SLICE_LIT("a*=="), out, sizeof(out), &len, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid base64 character at position 1");
    cr_assert_eq(parse_base64(SLICE_LIT("a=b="), out, sizeof(out), &len, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid base64 character at position 1");
    cr_assert_eq(parse_base64(SLICE_LIT("aGVs"), out, sizeof(out), &len, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "base64 value longer than 2 bytes");
    cr_assert_eq(parse_base64(SLICE_LIT("aGU="), out, sizeof(out), &len, &err), TA_OK);
    cr_assert_eq(len, 2);
}

Test(parse, hex_digit_values_both_cases_and_rejects_the_rest)
{
    cr_assert_eq(parse_hex_digit('0'), 0);
    cr_assert_eq(parse_hex_digit('9'), 9);
    cr_assert_eq(parse_hex_digit('a'), 10);
    cr_assert_eq(parse_hex_digit('F'), 15);
    cr_assert_eq(parse_hex_digit('g'), -1);
    cr_assert_eq(parse_hex_digit('/'), -1);
    cr_assert_eq(parse_hex_digit('\0'), -1);
    cr_assert_eq(parse_hex_digit((char)0xC3), -1);
}
