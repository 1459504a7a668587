/* test_query.c — form and path-segment decoding, parameter lookup, Kubernetes bool values. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "apis/query.h"

static void expect_form(const char *in, const char *want)
{
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 256);
    cr_assert_eq(query_form_decode(slice_from_cstr(in), &b, &err), TA_OK, "%s: %s", in, err.msg);
    cr_assert_str_eq(buf_cstr(&b), want, "%s", in);
    buf_free(&b);
}

static void expect_form_error(const char *in, const char *want)
{
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 256);
    cr_assert(buf_add(&b, "kept", 4) == TA_OK);
    cr_assert_eq(query_form_decode(slice_from_cstr(in), &b, &err), TA_INVALID, "%s", in);
    cr_assert_str_eq(err.msg, want, "%s", in);
    cr_assert_str_eq(buf_cstr(&b), "kept", "a failed decode leaves out untouched");
    buf_free(&b);
}

Test(query, form_decodes_plus_and_escapes)
{
    expect_form("", "");
    expect_form("abc", "abc");
    expect_form("a+b", "a b");
    expect_form("env+in+%28prod%2Cstaging%29%2Cqueue%3Da", "env in (prod,staging),queue=a");
    expect_form("%21deprecated%2Ctier+notin+%28cache%29%2Ctopic",
                "!deprecated,tier notin (cache),topic");
    expect_form("app.kubernetes.io%2Fname%3Dx%2Ca%21%3Db", "app.kubernetes.io/name=x,a!=b");
    expect_form("%2b%2B", "++");
    expect_form("%e2%82%ac", "\xe2\x82\xac");
    expect_form("a=b&c", "a=b&c"); /* decoding does not split */
}

Test(query, form_decode_keeps_invalid_utf8_bytes)
{
    struct buf b;
    buf_init(&b, 16);
    cr_assert_eq(query_form_decode(slice_from_cstr("%ff%C3"), &b, NULL), TA_OK);
    cr_assert_eq(b.len, 2);
    cr_assert_eq((unsigned char)b.data[0], 0xff);
    cr_assert_eq((unsigned char)b.data[1], 0xc3);
    buf_free(&b);
}

Test(query, form_decode_rejects_bad_escapes_with_go_text)
{
    expect_form_error("%", "invalid URL escape \"%\"");
    expect_form_error("a%4", "invalid URL escape \"%4\"");
    expect_form_error("%zz1", "invalid URL escape \"%zz\"");
    expect_form_error("ok%g0", "invalid URL escape \"%g0\"");
    expect_form_error("%\x01"
                      "0",
                      "invalid URL escape \"%\\x010\"");
    expect_form_error("%\"a", "invalid URL escape \"%\\\"a\"");
}

Test(query, form_decode_of_nul_escape_gives_a_nul_byte)
{
    struct buf b;
    buf_init(&b, 16);
    cr_assert_eq(query_form_decode(slice_from_cstr("a%00b"), &b, NULL), TA_OK);
    cr_assert_eq(b.len, 3);
    cr_assert(slice_has_nul(buf_slice(&b)));
    buf_free(&b);
}

Test(query, decode_does_not_read_past_the_slice)
{
    char *raw = malloc(4);
    memcpy(raw, "ab%4", 4); /* no NUL; the escape is cut by the end of input */
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 16);
    cr_assert_eq(query_form_decode(slice_make(raw, 4), &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid URL escape \"%4\"");
    cr_assert_eq(query_form_decode(slice_make(raw, 2), &b, &err), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "ab");
    buf_free(&b);
    free(raw);
}

Test(query, decode_reports_a_full_buffer)
{
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 3);
    cr_assert_eq(query_form_decode(slice_from_cstr("%41%42%43"), &b, &err), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "ABC");
    buf_free(&b);
    cr_assert_eq(query_form_decode(slice_from_cstr("%41%42%43%44"), &b, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "decoded text is longer than 3 bytes");
    cr_assert_null(b.data);
}

Test(query, path_decode_keeps_plus_and_rejects_slash_and_nul)
{
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 64);
    cr_assert_eq(query_path_decode(slice_from_cstr("a+b%20c%2e"), &b, &err), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "a+b c.");
    buf_reset(&b);
    cr_assert_eq(query_path_decode(slice_from_cstr("a%2Fb"), &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "path segment contains an encoded '/'");
    cr_assert_eq(query_path_decode(slice_from_cstr("a%2fb"), &b, &err), TA_INVALID);
    cr_assert_eq(query_path_decode(slice_from_cstr("a%00"), &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "path segment contains a NUL byte");
    cr_assert_eq(query_path_decode(slice_from_cstr("%x"), &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid URL escape \"%x\"");
    cr_assert_str_eq(buf_cstr(&b), "");
    buf_free(&b);
}

static void expect_get(const char *raw, const char *name, bool want_found, const char *want)
{
    struct buf b;
    struct ta_err err = { 0 };
    bool found = !want_found;
    buf_init(&b, 256);
    cr_assert_eq(query_get(slice_from_cstr(raw), name, &b, &found, &err), TA_OK, "%s: %s", raw,
                 err.msg);
    cr_assert_eq(found, want_found, "%s / %s", raw, name);
    cr_assert_str_eq(buf_cstr(&b), want, "%s / %s", raw, name);
    buf_free(&b);
}

Test(query, get_finds_the_first_value)
{
    expect_get("labelSelector=queue%3Dworker-jobs", "labelSelector", true, "queue=worker-jobs");
    expect_get("a=1&labelSelector=x%3D1&labelSelector=y%3D2", "labelSelector", true, "x=1");
    expect_get("a=1&b=2", "b", true, "2");
    expect_get("a=1&b=2", "c", false, "");
    expect_get("", "a", false, "");
    expect_get("a", "a", true, "");
    expect_get("a=", "a", true, "");
    expect_get("a==b", "a", true, "=b");
    expect_get("&&a=1&&", "a", true, "1");
    expect_get("ab=1", "a", false, "");
    expect_get("A=1", "a", false, "");
}

Test(query, get_compares_decoded_names)
{
    expect_get("label%53elector=a%3Db", "labelSelector", true, "a=b");
    expect_get("my+key=v", "my key", true, "v");
    expect_get("%zz=1&a=2", "a", true, "2"); /* undecodable name: skipped, as Go does */
}

Test(query, get_skips_other_pairs_with_semicolons)
{
    expect_get("x=1;y=2&a=3", "a", true, "3");
    expect_get("a;b=1", "a", false, "");
}

Test(query, get_rejects_a_matching_pair_with_a_semicolon)
{
    struct buf b;
    struct ta_err err = { 0 };
    bool found = true;
    buf_init(&b, 64);
    cr_assert_eq(
        query_get(slice_from_cstr("labelSelector=a%3Db;c"), "labelSelector", &b, &found, &err),
        TA_INVALID);
    cr_assert_str_eq(err.msg, "labelSelector: invalid semicolon separator in query");
    cr_assert_not(found);
    buf_free(&b);
}

Test(query, get_rejects_a_matching_value_with_a_bad_escape)
{
    struct buf b;
    struct ta_err err = { 0 };
    bool found = true;
    buf_init(&b, 64);
    cr_assert_eq(
        query_get(slice_from_cstr("x=%zz&labelSelector=a%3"), "labelSelector", &b, &found, &err),
        TA_INVALID);
    cr_assert_str_eq(err.msg, "labelSelector: invalid URL escape \"%3\"");
    cr_assert_not(found);
    cr_assert_eq(query_get(slice_from_cstr("x=%zz"), "x", &b, &found, NULL), TA_INVALID);
    buf_free(&b);
}

Test(query, get_reports_a_value_over_the_cap)
{
    struct buf b;
    struct ta_err err = { 0 };
    bool found;
    buf_init(&b, 4);
    cr_assert_eq(query_get(slice_from_cstr("v=abcd"), "v", &b, &found, &err), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "abcd");
    buf_free(&b);
    cr_assert_eq(query_get(slice_from_cstr("v=abcde"), "v", &b, &found, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "v: decoded text is longer than 4 bytes");
    cr_assert_null(b.data);
}

Test(query, get_does_not_read_past_the_slice)
{
    char *raw = malloc(9);
    memcpy(raw, "a=1&b=234", 9);
    struct buf b;
    bool found;
    buf_init(&b, 16);
    cr_assert_eq(query_get(slice_make(raw, 7), "b", &b, &found, NULL), TA_OK);
    cr_assert(found);
    cr_assert_str_eq(buf_cstr(&b), "2");
    buf_free(&b);
    free(raw);
}

Test(query, has_detects_presence_with_any_value)
{
    cr_assert(query_has(slice_from_cstr("verbose"), "verbose"));
    cr_assert(query_has(slice_from_cstr("x=1&verbose=0"), "verbose"));
    cr_assert(query_has(slice_from_cstr("verbose="), "verbose"));
    cr_assert_not(query_has(slice_from_cstr("verbosity=1"), "verbose"));
    cr_assert_not(query_has(slice_from_cstr(""), "verbose"));
    cr_assert_not(query_has(slice_from_cstr("verbose;x"), "verbose"));
}

Test(query, value_true_follows_kubernetes_bool_conversion)
{
    cr_assert(query_value_true(slice_from_cstr("true")));
    cr_assert(query_value_true(slice_from_cstr("1")));
    cr_assert(query_value_true(slice_from_cstr("")));
    cr_assert(query_value_true(slice_from_cstr("yes")));
    cr_assert(query_value_true(slice_from_cstr("t")));
    cr_assert(query_value_true(slice_from_cstr("f")));
    cr_assert_not(query_value_true(slice_from_cstr("0")));
    cr_assert_not(query_value_true(slice_from_cstr("false")));
    cr_assert_not(query_value_true(slice_from_cstr("FALSE")));
    cr_assert_not(query_value_true(slice_from_cstr("False")));
    cr_assert(query_value_true(slice_from_cstr("00")));
}

static void expect_quote(struct slice in, size_t shown, const char *want)
{
    char out[QUERY_QUOTE_SIZE(16)];
    query_quote(in, shown, out, sizeof(out));
    cr_assert_str_eq(out, want);
}

Test(query, quote_follows_go_percent_q)
{
    expect_quote(SLICE_LIT("abc"), 16, "\"abc\"");
    expect_quote(SLICE_NULL, 16, "\"\"");
    expect_quote(SLICE_LIT("a\"b\\c"), 16, "\"a\\\"b\\\\c\"");
    expect_quote(SLICE_LIT("\a\b\f\n\r\t\v"), 16, "\"\\a\\b\\f\\n\\r\\t\\v\"");
    expect_quote(SLICE_LIT("\x01\x1f\x7f"), 16, "\"\\x01\\x1f\\x7f\"");
    expect_quote(slice_make("a\0b", 3), 16, "\"a\\x00b\"");
    expect_quote(SLICE_LIT("\xc3\xa9\xe2\x82\xac"), 16, "\"\xc3\xa9\xe2\x82\xac\"");
    expect_quote(SLICE_LIT("\xff\xc3"), 16, "\"\\xff\\xc3\"");
    expect_quote(SLICE_LIT("\xc2\x85\xc2\xa0\xc2\xa1"), 16, "\"\\u0085\\u00a0\xc2\xa1\"");
}

Test(query, quote_cuts_long_input)
{
    expect_quote(SLICE_LIT("abcdefgh"), 4, "\"abcd\"...");
    expect_quote(SLICE_LIT("abcd"), 4, "\"abcd\"");
    char small[8];
    query_quote(SLICE_LIT("abcdefgh"), 100, small, sizeof(small));
    cr_assert_lt(strlen(small), sizeof(small));
    char tiny[4] = "xyz";
    query_quote(SLICE_LIT("a"), 1, tiny, sizeof(tiny));
    cr_assert_str_eq(tiny, "");
    query_quote(SLICE_LIT("a"), 1, tiny, 0); /* writes nothing */
}

Test(query, quote_worst_case_fits_its_size)
{
    char in[16], out[QUERY_QUOTE_SIZE(16)];
    memset(in, 0x01, sizeof(in));
    query_quote(slice_make(in, sizeof(in)), 16, out, sizeof(out));
    cr_assert_eq(strlen(out), 2 + 16 * 4);
    memset(in, 0x01, sizeof(in));
    char big[40];
    memset(big, 0x02, sizeof(big));
    query_quote(slice_make(big, sizeof(big)), 16, out, sizeof(out));
    cr_assert_eq(strlen(out), 2 + 16 * 4 + 3);
}

Test(query, unescape_is_go_path_unescape_with_slash_and_nul)
{
    struct buf b;
    buf_init(&b, 64);
    /* the aggregator's X-Remote-Extra-Authentication.kubernetes.io%2fpod-name */
    cr_assert_eq(query_unescape(SLICE_LIT("authentication.kubernetes.io%2fpod-name"), &b, NULL),
                 TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "authentication.kubernetes.io/pod-name");
    buf_reset(&b);
    cr_assert_eq(query_unescape(SLICE_LIT("a+b%00c"), &b, NULL), TA_OK);
    cr_assert_eq(b.len, 5, "'+' is kept and %%00 decodes to a NUL byte");
    cr_assert_eq(memcmp(b.data, "a+b\0c", 5), 0);
    buf_reset(&b);
    struct ta_err err = { 0 };
    cr_assert_eq(query_unescape(SLICE_LIT("bad%zz"), &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid URL escape \"%zz\"");
    cr_assert_eq(b.len, 0, "a bad escape leaves the output untouched");
    buf_free(&b);
}
