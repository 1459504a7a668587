/* test_quantity.c — canonical DecimalSI formatting (spec §7.4 table) and double conversion. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "apis/quantity.h"

static void expect_milli(int64_t m, const char *want)
{
    char out[QUANTITY_STR_MAX];
    memset(out, 'x', sizeof(out));
    quantity_format_milli(m, out);
    cr_assert_str_eq(out, want, "m=%lld", (long long)m);
}

Test(quantity, formats_every_vector_of_the_spec_table)
{
    expect_milli(0, "0");
    expect_milli(1, "1m");
    expect_milli(250, "250m");
    expect_milli(999, "999m");
    expect_milli(1000, "1");
    expect_milli(1001, "1001m");
    expect_milli(1500, "1500m");
    expect_milli(-1500, "-1500m");
    expect_milli(-1000, "-1");
    expect_milli(123456, "123456m");
    expect_milli(1000000, "1k");
    expect_milli(1500000, "1500");
    expect_milli(12000, "12");
    expect_milli(120000, "120");
    expect_milli(1000000000, "1M");
    expect_milli(82100000000000LL, "82100M");
    expect_milli(14800000000LL, "14800k");
    expect_milli(1000000000000000000LL, "1P");
    expect_milli(9000000000000000000LL, "9P");
    expect_milli(INT64_MAX, "9223372036854775807m");
}

Test(quantity, formats_whole_units_like_new_quantity)
{
    /* NewQuantity(n, DecimalSI) == format_milli(n*1000) */
    expect_milli(1000LL * 1000, "1k");
    expect_milli(1500LL * 1000, "1500");
    expect_milli(1500000LL * 1000, "1500k");
}

Test(quantity, formats_int64_min_through_the_unsigned_magnitude)
{
    expect_milli(INT64_MIN, "-9223372036854775808m");
    cr_assert_lt(strlen("-9223372036854775808m"), QUANTITY_STR_MAX);
}

Test(quantity, moves_one_or_two_zeros_back_when_the_exponent_is_not_a_multiple_of_three)
{
    expect_milli(10, "10m");     /* e=-2 -> r=1 */
    expect_milli(100, "100m");   /* e=-1 -> r=2 */
    expect_milli(10000, "10");   /* e=1 -> r=1 */
    expect_milli(-120, "-120m"); /* e=-2 */
    expect_milli(1000000000000LL, "1G");
    expect_milli(1000000000000000LL, "1T");
    expect_milli(-1000000000000000000LL, "-1P");
    expect_milli(20000000000000000LL, "20T");
}

static void expect_double(double v, const char *want)
{
    char out[QUANTITY_STR_MAX];
    struct ta_err err = { 0 };
    cr_assert_eq(quantity_from_double(v, out, &err), TA_OK, "v=%.17g: %s", v, err.msg);
    cr_assert_str_eq(out, want, "v=%.17g", v);
}

Test(quantity, converts_doubles_with_their_shortest_decimal_text)
{
    expect_double(0.0, "0");
    expect_double(-0.0, "0");
    expect_double(1.5, "1500m");
    expect_double(0.1, "100m"); /* 0.1*1000 is 100.00000000000001 in binary */
    expect_double(0.3, "300m");
    expect_double(0.7, "700m");
    expect_double(123.456789, "123457m");
    expect_double(2.0, "2");
    expect_double(1e6, "1M");
    expect_double(0.001, "1m");
    expect_double(-42.25, "-42250m");
    expect_double(1.0000000000000002, "1");
}

Test(quantity, rounds_half_to_even)
{
    expect_double(0.0005, "0");
    expect_double(0.0015, "2m");
    expect_double(0.0025, "2m");
    expect_double(0.0035, "4m");
    expect_double(-0.0015, "-2m");
    expect_double(-0.0005, "0");
    expect_double(0.00050000001, "1m");
    expect_double(0.0004999, "0");
    expect_double(1.2345, "1234m");
    expect_double(1.2355, "1236m");
}

Test(quantity, rounds_tiny_values_to_zero)
{
    expect_double(1e-300, "0");
    expect_double(-4e-7, "0");
    expect_double(4.9e-324, "0");
}

Test(quantity, clamps_large_magnitudes)
{
    expect_double(QUANTITY_MAX_ABS, "9200T");
    expect_double(1e300, "9200T");
    expect_double(-1e300, "-9200T");
    expect_double(9.1e15, "9100T");
    expect_double(9223372036854775.0, "9200T");
}

Test(quantity, rejects_non_finite_values)
{
    char out[QUANTITY_STR_MAX];
    struct ta_err err = { 0 };
    memset(out, 'x', sizeof(out));
    cr_assert_eq(quantity_from_double(NAN, out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "value is not a finite number");
    cr_assert_str_eq(out, "");
    cr_assert_eq(quantity_from_double(INFINITY, out, &err), TA_INVALID);
    cr_assert_eq(quantity_from_double(-INFINITY, out, NULL), TA_INVALID);
    cr_assert_str_eq(out, "");
}
