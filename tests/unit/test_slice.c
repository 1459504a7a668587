/* test_slice.c — comparisons, cuts, trims, UTF-8 validation and the FNV-1a hash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/slice.h"

Test(slice, from_cstr_borrows_and_null_is_empty)
{
    const char *s = "abc";
    struct slice x = slice_from_cstr(s);
    cr_assert_eq(x.ptr, s);
    cr_assert_eq(x.len, 3);
    x = slice_from_cstr(NULL);
    cr_assert_null(x.ptr);
    cr_assert_eq(x.len, 0);
    x = SLICE_LIT("hello");
    cr_assert_eq(x.len, 5);
}

Test(slice, equality)
{
    cr_assert(slice_eq(SLICE_LIT("ab"), slice_make("abc", 2)));
    cr_assert_not(slice_eq(SLICE_LIT("ab"), SLICE_LIT("abc")));
    cr_assert(slice_eq(SLICE_NULL, SLICE_LIT("")));
    cr_assert(slice_eq_cstr(SLICE_LIT("x"), "x"));
    cr_assert(slice_eq_cstr(SLICE_NULL, NULL));
    cr_assert_not(slice_eq_cstr(slice_make("a\0b", 3), "a"));
}

Test(slice, case_insensitive_equality_is_ascii_only)
{
    cr_assert(slice_eq_nocase(SLICE_LIT("Content-Type"), SLICE_LIT("content-TYPE")));
    cr_assert_not(slice_eq_nocase(SLICE_LIT("a"), SLICE_LIT("ab")));
    cr_assert_not(slice_eq_nocase(SLICE_LIT("\xc3\xa9"), SLICE_LIT("\xc3\x89"))); /* é, É */
    cr_assert_not(slice_eq_nocase(SLICE_LIT("@"), SLICE_LIT("`")));
    cr_assert_not(slice_eq_nocase(SLICE_LIT("["), SLICE_LIT("{")));
}

Test(slice, prefixes_and_suffixes)
{
    cr_assert(slice_starts_with(SLICE_LIT("/apis/x"), SLICE_LIT("/apis")));
    cr_assert(slice_starts_with(SLICE_LIT("a"), SLICE_LIT("")));
    cr_assert(slice_starts_with(SLICE_NULL, SLICE_NULL));
    cr_assert_not(slice_starts_with(SLICE_LIT("/ap"), SLICE_LIT("/apis")));
    cr_assert(slice_ends_with(SLICE_LIT("file.json"), SLICE_LIT(".json")));
    cr_assert(slice_ends_with(SLICE_LIT("x"), SLICE_NULL));
    cr_assert_not(slice_ends_with(SLICE_LIT("json"), SLICE_LIT(".json")));
}

Test(slice, byte_order_comparison)
{
    cr_assert_lt(slice_cmp(SLICE_LIT("a"), SLICE_LIT("b")), 0);
    cr_assert_gt(slice_cmp(SLICE_LIT("b"), SLICE_LIT("a")), 0);
    cr_assert_lt(slice_cmp(SLICE_LIT("ab"), SLICE_LIT("abc")), 0);
    cr_assert_gt(slice_cmp(SLICE_LIT("abc"), SLICE_LIT("ab")), 0);
    cr_assert_eq(slice_cmp(SLICE_LIT("ab"), SLICE_LIT("ab")), 0);
    cr_assert_eq(slice_cmp(SLICE_NULL, SLICE_LIT("")), 0);
    cr_assert_lt(slice_cmp(SLICE_LIT("Z"), SLICE_LIT("a")), 0);
    cr_assert_gt(slice_cmp(SLICE_LIT("\x80"), SLICE_LIT("a")), 0); /* unsigned bytes */
}

Test(slice, index_skip_and_head)
{
    cr_assert_eq(slice_index(SLICE_LIT("a=b=c"), '='), 1);
    cr_assert_eq(slice_index(SLICE_LIT("abc"), '='), -1);
    cr_assert_eq(slice_index(SLICE_NULL, 'a'), -1);
    cr_assert_eq(slice_index(slice_make("ab=", 2), '='), -1); /* stops at len */
    struct slice s = slice_skip(SLICE_LIT("abc"), 1);
    cr_assert(slice_eq_cstr(s, "bc"));
    s = slice_skip(SLICE_LIT("abc"), 10);
    cr_assert_eq(s.len, 0);
    s = slice_head(SLICE_LIT("abc"), 2);
    cr_assert(slice_eq_cstr(s, "ab"));
    s = slice_head(SLICE_LIT("abc"), 10);
    cr_assert(slice_eq_cstr(s, "abc"));
}

Test(slice, trim_removes_spaces_tabs_cr_lf_only)
{
    cr_assert(slice_eq_cstr(slice_trim(SLICE_LIT(" \t\r\n x y \n")), "x y"));
    cr_assert(slice_eq_cstr(slice_trim(SLICE_LIT("   ")), ""));
    cr_assert(slice_eq_cstr(slice_trim(SLICE_LIT("\vx\f")), "\vx\f"));
    cr_assert_eq(slice_trim(SLICE_NULL).len, 0);
}

Test(slice, cut_splits_at_the_first_separator)
{
    struct slice head;
    bool found;
    struct slice rest = slice_cut(SLICE_LIT("k=v=w"), '=', &head, &found);
    cr_assert(found);
    cr_assert(slice_eq_cstr(head, "k"));
    cr_assert(slice_eq_cstr(rest, "v=w"));
    rest = slice_cut(SLICE_LIT("k="), '=', &head, &found);
    cr_assert(found);
    cr_assert_eq(rest.len, 0);
    rest = slice_cut(SLICE_LIT("kv"), '=', &head, &found);
    cr_assert_not(found);
    cr_assert(slice_eq_cstr(head, "kv"));
    cr_assert_null(rest.ptr);
    rest = slice_cut(SLICE_LIT("a,b"), ',', NULL, NULL);
    cr_assert(slice_eq_cstr(rest, "b"));
}

Test(slice, detects_nul_bytes)
{
    cr_assert(slice_has_nul(slice_make("a\0b", 3)));
    cr_assert_not(slice_has_nul(slice_make("a\0b", 1)));
    cr_assert_not(slice_has_nul(SLICE_NULL));
}

static bool utf8(const char *s, size_t n)
{
    /* copy to an exact-size heap block: ASan catches any read past n */
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    bool ok = slice_is_utf8(slice_make(p, n));
    free(p);
    return ok;
}

Test(slice, utf8_accepts_valid_sequences)
{
    cr_assert(utf8("", 0));
    cr_assert(utf8("ascii\x7f", 6));
    cr_assert(utf8("\xc2\x80", 2));         /* U+0080 */
    cr_assert(utf8("\xdf\xbf", 2));         /* U+07FF */
    cr_assert(utf8("\xe0\xa0\x80", 3));     /* U+0800 */
    cr_assert(utf8("\xed\x9f\xbf", 3));     /* U+D7FF */
    cr_assert(utf8("\xee\x80\x80", 3));     /* U+E000 */
    cr_assert(utf8("\xef\xbf\xbf", 3));     /* U+FFFF */
    cr_assert(utf8("\xf0\x90\x80\x80", 4)); /* U+10000 */
    cr_assert(utf8("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
}

Test(slice, utf8_rejects_invalid_sequences)
{
    cr_assert_not(utf8("\x80", 1));             /* lone continuation */
    cr_assert_not(utf8("\xc0\x80", 2));         /* overlong */
    cr_assert_not(utf8("\xc1\xbf", 2));         /* overlong */
    cr_assert_not(utf8("\xe0\x9f\xbf", 3));     /* overlong 3-byte */
    cr_assert_not(utf8("\xed\xa0\x80", 3));     /* surrogate U+D800 */
    cr_assert_not(utf8("\xed\xbf\xbf", 3));     /* surrogate U+DFFF */
    cr_assert_not(utf8("\xf0\x8f\xbf\xbf", 4)); /* overlong 4-byte */
    cr_assert_not(utf8("\xf4\x90\x80\x80", 4)); /* U+110000 */
    cr_assert_not(utf8("\xf5\x80\x80\x80", 4));
    cr_assert_not(utf8("\xff", 1));
    cr_assert_not(utf8("\xe2\x82", 2)); /* cut at the end */
    cr_assert_not(utf8("\xc3", 1));
    cr_assert_not(utf8("\xe2\x82x", 3)); /* bad continuation */
    cr_assert_not(utf8("ok\xc3(", 4));
}

Test(slice, hash_is_fnv1a_64)
{
    /* reference values of the FNV-1a 64-bit test suite */
    cr_assert_eq(slice_hash(SLICE_NULL), 0xcbf29ce484222325ULL);
    cr_assert_eq(slice_hash(SLICE_LIT("a")), 0xaf63dc4c8601ec8cULL);
    cr_assert_eq(slice_hash(SLICE_LIT("foobar")), 0x85944171f73967e8ULL);
    cr_assert_eq(slice_hash(slice_make("foobarX", 6)), 0x85944171f73967e8ULL);
}

Test(slice, slice_arg_prints_exact_bytes)
{
    char out[16];
    snprintf(out, sizeof(out), "[" SLICE_FMT "]", SLICE_ARG(slice_make("abcdef", 3)));
    cr_assert_str_eq(out, "[abc]");
}
