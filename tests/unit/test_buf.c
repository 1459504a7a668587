/* test_buf.c — struct buf: capped growth, failure frees, escaping appenders, hand-over. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/buf.h"

Test(buf, starts_empty_without_allocating)
{
    struct buf b;
    buf_init(&b, 10);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.max, 10);
    cr_assert_str_eq(buf_cstr(&b), "");
    struct slice s = buf_slice(&b);
    cr_assert_eq(s.len, 0);
    cr_assert_not_null(s.ptr);
    buf_free(&b);
}

Test(buf, appends_and_stays_nul_terminated)
{
    struct buf b;
    buf_init(&b, 100);
    cr_assert_eq(buf_add(&b, "ab", 2), TA_OK);
    cr_assert_eq(buf_adds(&b, "cd"), TA_OK);
    cr_assert_eq(buf_add_slice(&b, SLICE_LIT("ef")), TA_OK);
    cr_assert_eq(buf_addc(&b, 'g'), TA_OK);
    cr_assert_eq(buf_addf(&b, "%d-%s", 42, "x"), TA_OK);
    cr_assert_eq(b.len, 11);
    cr_assert_str_eq(b.data, "abcdefg42-x");
    cr_assert_eq(b.data[b.len], '\0');
    buf_free(&b);
}

Test(buf, adding_nothing_still_gives_a_c_string)
{
    struct buf b;
    buf_init(&b, 0);
    cr_assert_eq(buf_add(&b, "", 0), TA_OK);
    cr_assert_not_null(b.data);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(buf_addf(&b, "%s", ""), TA_OK);
    buf_free(&b);
}

Test(buf, cap_is_reachable_and_one_past_it_fails_and_frees)
{
    struct buf b;
    buf_init(&b, 5);
    cr_assert_eq(buf_add(&b, "abcde", 5), TA_OK);
    cr_assert_str_eq(b.data, "abcde");
    cr_assert_eq(buf_addc(&b, 'f'), TA_TOO_LARGE);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    /* reusable with the same cap */
    cr_assert_eq(b.max, 5);
    cr_assert_eq(buf_adds(&b, "xyz"), TA_OK);
    cr_assert_str_eq(b.data, "xyz");
    cr_assert_eq(buf_add(&b, "123", 3), TA_TOO_LARGE);
    cr_assert_null(b.data);
}

Test(buf, formatted_append_respects_the_cap)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(buf_addf(&b, "%08d", 7), TA_OK);
    cr_assert_str_eq(b.data, "00000007");
    cr_assert_eq(buf_addf(&b, "%c", 'x'), TA_TOO_LARGE);
    cr_assert_null(b.data);
    cr_assert_eq(buf_addf(&b, "%s", "123456789"), TA_TOO_LARGE);
}

Test(buf, grows_across_many_reallocations)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(buf_addf(&b, "%04d", i % 10000), TA_OK);
    cr_assert_eq(b.len, 40000);
    cr_assert_eq(memcmp(b.data + 39996, "9999", 4), 0);
    cr_assert_leq(b.len + 1, b.cap);
    buf_free(&b);
}

Test(buf, an_unbounded_buffer_works)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(buf_adds(&b, "0123456789"), TA_OK);
    cr_assert_eq(b.len, 1000);
    cr_assert_eq(b.data[999], '9');
    buf_free(&b);
}

Test(buf, copies_input_without_a_final_nul)
{
    char *p = malloc(3);
    memcpy(p, "abc", 3);
    struct buf b;
    buf_init(&b, 10);
    cr_assert_eq(buf_add(&b, p, 3), TA_OK);
    cr_assert_str_eq(b.data, "abc");
    free(p);
    buf_free(&b);
}

static void expect_json(const char *in, size_t len, const char *want)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_add_json_str(&b, slice_make(in, len)), TA_OK);
    cr_assert_str_eq(b.data, want);
    buf_free(&b);
}

Test(buf, json_strings_escape_as_go_does)
{
    expect_json("", 0, "\"\"");
    expect_json("plain text", 10, "\"plain text\"");
    expect_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect_json("\n\r\t", 3, "\"\\n\\r\\t\"");
    expect_json("\b\f\x01\x1f", 4, "\"\\u0008\\u000c\\u0001\\u001f\"");
    expect_json("<a href=x>&</a>", 15, "\"\\u003ca href=x\\u003e\\u0026\\u003c/a\\u003e\"");
    expect_json("a\0b", 3, "\"a\\u0000b\"");
    expect_json("\x7f", 1, "\"\\u007f\"");
    expect_json("/", 1, "\"/\"");
}

Test(buf, json_strings_keep_valid_utf8_and_replace_invalid_bytes)
{
    expect_json("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
                "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    expect_json("\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
    expect_json("\xff", 1, "\"\\ufffd\"");
    expect_json("\x80", 1, "\"\\ufffd\"");
    expect_json("\xc0\x80", 2, "\"\\ufffd\\ufffd\"");                       /* overlong NUL */
    expect_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");            /* surrogate */
    expect_json("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
    expect_json("x\xe2\x82", 3, "\"x\\ufffd\\ufffd\"");                     /* cut sequence */
    expect_json("\xe2\x82x", 3, "\"\\ufffd\\ufffdx\"");
}

Test(buf, json_string_over_the_cap_fails_and_frees)
{
    struct buf b;
    buf_init(&b, 7);
    cr_assert_eq(buf_add_json_str(&b, SLICE_LIT("abcde")), TA_OK); /* 7 bytes with quotes */
    buf_free(&b);
    cr_assert_eq(buf_add_json_str(&b, SLICE_LIT("abcdef")), TA_TOO_LARGE);
    cr_assert_null(b.data);
    cr_assert_eq(buf_add_json_str(&b, SLICE_LIT("\x01")), TA_TOO_LARGE); /* "\u0001" is 8 */
    cr_assert_null(b.data);
}

Test(buf, url_encoding_follows_go_query_escape)
{
    struct buf b;
    buf_init(&b, 256);
    cr_assert_eq(buf_add_urlenc(&b, SLICE_LIT("aZ09-_.~ +/=&%\xc3\xa9")), TA_OK);
    cr_assert_str_eq(b.data, "aZ09-_.~+%2B%2F%3D%26%25%C3%A9");
    buf_reset(&b);
    cr_assert_eq(buf_add_urlenc(&b, SLICE_LIT("env in (prod,staging),queue=a")), TA_OK);
    cr_assert_str_eq(b.data, "env+in+%28prod%2Cstaging%29%2Cqueue%3Da");
    buf_free(&b);
}

Test(buf, path_encoding_uses_percent_20_and_encodes_slash)
{
    struct buf b;
    buf_init(&b, 256);
    cr_assert_eq(buf_add_pathenc(&b, SLICE_LIT("a b/c+d")), TA_OK);
    cr_assert_str_eq(b.data, "a%20b%2Fc%2Bd");
    buf_free(&b);
    buf_init(&b, 4);
    cr_assert_eq(buf_add_pathenc(&b, SLICE_LIT("a/")), TA_OK);
    cr_assert_eq(buf_add_pathenc(&b, SLICE_LIT("b")), TA_TOO_LARGE);
    cr_assert_null(b.data);
}

Test(buf, take_hands_over_and_empties)
{
    struct buf b;
    size_t len = 99;
    buf_init(&b, 10);
    cr_assert_eq(buf_adds(&b, "abc"), TA_OK);
    char *p = buf_take(&b, &len);
    cr_assert_str_eq(p, "abc");
    cr_assert_eq(len, 3);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.max, 10);
    free(p);
    p = buf_take(&b, &len); /* empty: a fresh "" */
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "");
    cr_assert_eq(len, 0);
    free(p);
    p = buf_take(&b, NULL);
    free(p);
}

Test(buf, reset_keeps_the_allocation)
{
    struct buf b;
    buf_init(&b, 10);
    cr_assert_eq(buf_adds(&b, "abc"), TA_OK);
    char *data = b.data;
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, data);
    cr_assert_str_eq(buf_cstr(&b), "");
    cr_assert_eq(buf_adds(&b, "z"), TA_OK);
    cr_assert_str_eq(b.data, "z");
    buf_free(&b);
    buf_reset(&b); /* on an empty buffer */
    buf_free(&b);
    buf_free(&b);
}
