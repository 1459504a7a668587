/* test_selector.c — labelSelector grammar, validation, errors, limits and canonical form. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/selector.h"

static struct selector *parse_ok(const char *text)
{
    struct selector *sel = NULL;
    struct ta_err err = { 0 };
    enum ta_rc rc = selector_parse(slice_from_cstr(text), &sel, &err);
    cr_assert_eq(rc, TA_OK, "'%s': %s", text, err.msg);
    cr_assert_not_null(sel);
    return sel;
}

/* Parses text and checks its canonical form. */
static void expect_canonical(const char *text, const char *want)
{
    struct selector *sel = parse_ok(text);
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(selector_canonical(sel, &b), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), want, "'%s'", text);
    buf_free(&b);
    selector_free(sel);
}

static void expect_error_len(const char *text, size_t len, enum ta_rc want_rc, const char *want)
{
    struct selector *sel = (struct selector *)0x1;
    struct ta_err err = { 0 };
    enum ta_rc rc = selector_parse(slice_make(text, len), &sel, &err);
    cr_assert_eq(rc, want_rc, "'%s': got %s (%s)", text, ta_rc_name(rc), err.msg);
    cr_assert_null(sel, "*out must be NULL after a failure");
    cr_assert_str_eq(err.msg, want, "'%s'", text);
    selector_free(sel);
}

static void expect_error(const char *text, const char *want)
{
    expect_error_len(text, strlen(text), TA_INVALID, want);
}

/* ---- accepted forms ------------------------------------------------------------------------ */

Test(selector, empty_and_blank_text_is_the_empty_selector)
{
    struct selector *sel = parse_ok("");
    cr_assert_eq(sel->n, 0);
    selector_free(sel);
    sel = parse_ok(" \t\r\n ");
    cr_assert_eq(sel->n, 0);
    selector_free(sel);
    expect_canonical("", "");
}

Test(selector, null_slice_is_the_empty_selector)
{
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(SLICE_NULL, &sel, NULL), TA_OK);
    cr_assert_eq(sel->n, 0);
    selector_free(sel);
}

Test(selector, parses_exists_and_does_not_exist)
{
    struct selector *sel = parse_ok("a,!b, ! c");
    cr_assert_eq(sel->n, 3);
    cr_assert_str_eq(sel->reqs[0].key, "a");
    cr_assert_eq(sel->reqs[0].op, SELECTOR_OP_EXISTS);
    cr_assert_eq(sel->reqs[0].nvalues, 0);
    cr_assert_str_eq(sel->reqs[1].key, "b");
    cr_assert_eq(sel->reqs[1].op, SELECTOR_OP_NOT_EXISTS);
    cr_assert_str_eq(sel->reqs[2].key, "c");
    cr_assert_eq(sel->reqs[2].op, SELECTOR_OP_NOT_EXISTS);
    selector_free(sel);
    expect_canonical("a,!b, ! c", "a,!b,!c");
}

Test(selector, parses_equality_operators)
{
    struct selector *sel = parse_ok("a=1,b==2,c!=3");
    cr_assert_eq(sel->n, 3);
    cr_assert_eq(sel->reqs[0].op, SELECTOR_OP_EQ);
    cr_assert_not(sel->reqs[0].double_eq);
    cr_assert_eq(sel->reqs[0].nvalues, 1);
    cr_assert_str_eq(sel->reqs[0].values[0], "1");
    cr_assert_eq(sel->reqs[1].op, SELECTOR_OP_EQ);
    cr_assert(sel->reqs[1].double_eq);
    cr_assert_str_eq(sel->reqs[1].values[0], "2");
    cr_assert_eq(sel->reqs[2].op, SELECTOR_OP_NEQ);
    cr_assert_str_eq(sel->reqs[2].values[0], "3");
    selector_free(sel);
    expect_canonical("a=1,b==2,c!=3", "a=1,b==2,c!=3");
}

Test(selector, an_empty_exact_value_is_the_empty_string)
{
    struct selector *sel = parse_ok("a=,b==,c!=");
    cr_assert_eq(sel->n, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(sel->reqs[i].nvalues, 1);
        cr_assert_str_eq(sel->reqs[i].values[0], "");
    }
    selector_free(sel);
    expect_canonical("a=,b==,c!=", "a=,b==,c!=");
}

Test(selector, parses_sets_sorted_and_deduplicated)
{
    struct selector *sel = parse_ok("env in (staging, prod,staging)");
    cr_assert_eq(sel->n, 1);
    cr_assert_eq(sel->reqs[0].op, SELECTOR_OP_IN);
    cr_assert_eq(sel->reqs[0].nvalues, 2);
    cr_assert_str_eq(sel->reqs[0].values[0], "prod");
    cr_assert_str_eq(sel->reqs[0].values[1], "staging");
    selector_free(sel);
    sel = parse_ok("tier notin(cache)");
    cr_assert_eq(sel->reqs[0].op, SELECTOR_OP_NOTIN);
    cr_assert_eq(sel->reqs[0].nvalues, 1);
    cr_assert_str_eq(sel->reqs[0].values[0], "cache");
    selector_free(sel);
}

Test(selector, empty_parentheses_are_the_set_of_the_empty_string)
{
    struct selector *sel = parse_ok("a in ()");
    cr_assert_eq(sel->reqs[0].nvalues, 1);
    cr_assert_str_eq(sel->reqs[0].values[0], "");
    selector_free(sel);
    expect_canonical("a in ()", "a in ()");
    expect_canonical("a notin ( )", "a notin ()");
}

Test(selector, empty_members_of_a_set_are_the_empty_string)
{
    expect_canonical("x in (foo,,baz)", "x in (,baz,foo)");
    expect_canonical("x in (,foo)", "x in (,foo)");
    expect_canonical("x in (foo,)", "x in (,foo)");
    expect_canonical("x in (,)", "x in ()");
    expect_canonical("x in (a,,,b)", "x in (,a,b)");
    struct selector *sel = parse_ok("x in (foo,,baz)");
    cr_assert_eq(sel->reqs[0].nvalues, 3);
    cr_assert_str_eq(sel->reqs[0].values[0], "");
    selector_free(sel);
}

Test(selector, in_and_notin_are_keywords_only_in_operator_position)
{
    struct selector *sel = parse_ok("in in (in,notin),notin=in");
    cr_assert_eq(sel->n, 2);
    cr_assert_str_eq(sel->reqs[0].key, "in");
    cr_assert_eq(sel->reqs[0].op, SELECTOR_OP_IN);
    cr_assert_str_eq(sel->reqs[0].values[0], "in");
    cr_assert_str_eq(sel->reqs[0].values[1], "notin");
    cr_assert_str_eq(sel->reqs[1].key, "notin");
    cr_assert_eq(sel->reqs[1].op, SELECTOR_OP_EQ);
    cr_assert_str_eq(sel->reqs[1].values[0], "in");
    selector_free(sel);
    expect_canonical("x in (in)", "x in (in)");
    expect_canonical("in", "in");
    expect_canonical("!notin", "!notin");
}

Test(selector, skips_every_kind_of_whitespace)
{
    expect_canonical("\ta\t=\tb ,\r\nc\n!=\rd ", "a=b,c!=d");
    expect_canonical(" x  in  ( a , b ) ", "x in (a,b)");
}

Test(selector, sorts_requirements_by_key_keeping_equal_keys_in_order)
{
    expect_canonical("queue=jobs,env in (staging,prod)", "env in (prod,staging),queue=jobs");
    expect_canonical("b,a,c", "a,b,c");
    expect_canonical("a=2,a!=1", "a=2,a!=1");
    expect_canonical("a!=1,a=2", "a!=1,a=2");
    expect_canonical("B=1,a=1", "B=1,a=1"); /* byte order: upper case first */
}

Test(selector, canonical_form_matches_the_wire_examples)
{
    expect_canonical("queue=worker-jobs", "queue=worker-jobs");
    expect_canonical("env in (prod,staging),queue=a", "env in (prod,staging),queue=a");
    expect_canonical("!deprecated,tier notin (cache),topic",
                     "!deprecated,tier notin (cache),topic");
    expect_canonical("app.kubernetes.io/name=x,a!=b", "a!=b,app.kubernetes.io/name=x");
}

Test(selector, accepts_valid_keys_and_values)
{
    expect_canonical("example.com/My_Key.2=Val-1_x.y", "example.com/My_Key.2=Val-1_x.y");
    expect_canonical("a-b.c/d=0", "a-b.c/d=0");
    expect_canonical("A=Z", "A=Z");
    expect_canonical("k=9", "k=9");
}

Test(selector, does_not_read_past_the_slice)
{
    const char text[] = "a=bXYZ"; /* the slice stops after "a=b" */
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(slice_make(text, 3), &sel, NULL), TA_OK);
    cr_assert_str_eq(sel->reqs[0].values[0], "b");
    selector_free(sel);
    char *heap = malloc(3); /* no NUL at all: ASan catches any over-read */
    memcpy(heap, "a!b", 3);
    struct ta_err err = { 0 };
    cr_assert_eq(selector_parse(slice_make(heap, 3), &sel, &err), TA_INVALID);
    cr_assert_str_eq(
        err.msg, "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt");
    memcpy(heap, "a=b", 3);
    cr_assert_eq(selector_parse(slice_make(heap, 3), &sel, &err), TA_OK);
    cr_assert_str_eq(sel->reqs[0].values[0], "b");
    selector_free(sel);
    free(heap);
}

/* ---- grammar errors, with apimachinery's texts ---------------------------------------------- */

Test(selector, set_without_parenthesis)
{
    expect_error("foo in bar", "unable to parse requirement: found 'bar' expected: '('");
    expect_error("foo in", "unable to parse requirement: found '' expected: '('");
    expect_error("foo notin ,", "unable to parse requirement: found ',' expected: '('");
}

Test(selector, leading_token_not_a_requirement)
{
    expect_error(",a", "found ',', expected: !, identifier, or 'end of string'");
    expect_error("=a", "found '=', expected: !, identifier, or 'end of string'");
    expect_error("!=a", "found '!=', expected: !, identifier, or 'end of string'");
    expect_error(")", "found ')', expected: !, identifier, or 'end of string'");
    expect_error("(", "found '(', expected: !, identifier, or 'end of string'");
}

Test(selector, garbage_after_a_requirement)
{
    expect_error("a=b x", "found 'x', expected: ',' or 'end of string'");
    expect_error("a=b=c", "found '=', expected: ',' or 'end of string'");
    expect_error("!a=b", "found '=', expected: ',' or 'end of string'");
    expect_error("!a b", "found 'b', expected: ',' or 'end of string'");
    expect_error("a in (b) c", "found 'c', expected: ',' or 'end of string'");
}

Test(selector, missing_requirement_after_comma)
{
    expect_error("a,", "found '', expected: identifier after ','");
    expect_error("a,,b", "found ',', expected: identifier after ','");
    expect_error("a,=b", "found '=', expected: identifier after ','");
}

Test(selector, missing_operator)
{
    expect_error("a b",
                 "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
    expect_error("a (b)",
                 "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt");
    expect_error("a !b",
                 "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt");
}

Test(selector, missing_key)
{
    expect_error("!", "unable to parse requirement: found '', expected: identifier");
    expect_error("!,a", "unable to parse requirement: found ',', expected: identifier");
    expect_error("!!a", "unable to parse requirement: found '!', expected: identifier");
}

Test(selector, bad_exact_value)
{
    expect_error("a=(", "unable to parse requirement: found '(', expected: identifier");
    expect_error("a!=)", "unable to parse requirement: found ')', expected: identifier");
    expect_error("a==!", "unable to parse requirement: found '!', expected: identifier");
}

Test(selector, bad_set_contents)
{
    /* labels.Parse quirk: a doubled comma right before ')' is an error */
    expect_error("x in (,,)",
                 "unable to parse requirement: found ')', expected: ',', or identifier");
    expect_error("x in (a,,)",
                 "unable to parse requirement: found ')', expected: ',', or identifier");
    expect_error("a in (",
                 "unable to parse requirement: found '', expected: ',', ')' or identifier");
    expect_error("a in (=)",
                 "unable to parse requirement: found '=', expected: ',', ')' or identifier");
    expect_error("a in (b", "unable to parse requirement: found '', expected: ',' or ')'");
    expect_error("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'");
    expect_error("a in (,", "unable to parse requirement: found '', expected: ',', or identifier");
    expect_error("a in (b,=)",
                 "unable to parse requirement: found '=', expected: ',', or identifier");
    expect_error("a in (b,(",
                 "unable to parse requirement: found '(', expected: ',', or identifier");
}

Test(selector, rejects_greater_and_less_than)
{
    expect_error("a>1", "operator '>' is not supported by external metrics selectors");
    expect_error("a < 1", "operator '<' is not supported by external metrics selectors");
    expect_error("a>", "operator '>' is not supported by external metrics selectors");
    expect_error("a=1,b>=2", "operator '>' is not supported by external metrics selectors");
}

Test(selector, cuts_long_tokens_in_messages)
{
    char text[200];
    memset(text, 'x', 100);
    memcpy(text, "a=b ", 4);
    text[100] = '\0';
    struct ta_err err = { 0 };
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(slice_from_cstr(text), &sel, &err), TA_INVALID);
    char want[200];
    snprintf(want, sizeof(want), "found '%.64s...', expected: ',' or 'end of string'", text + 4);
    cr_assert_str_eq(err.msg, want);
}

/* ---- key and value validation --------------------------------------------------------------- */

#define NAME_RULE                                                                               \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
    "alphanumeric character"
#define VALUE_RULE                                                                              \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or " \
    "'.', and must start and end with an alphanumeric character"
#define SUBDOMAIN_RULE                                                                           \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or " \
    "'.', and must start and end with an alphanumeric character"

Test(selector, rejects_bad_key_characters)
{
    expect_error("a$b=c",
                 "unable to parse requirement: invalid label key \"a$b\": name part " NAME_RULE);
    expect_error("-a",
                 "unable to parse requirement: invalid label key \"-a\": name part " NAME_RULE);
    expect_error("a_",
                 "unable to parse requirement: invalid label key \"a_\": name part " NAME_RULE);
    expect_error("!a.",
                 "unable to parse requirement: invalid label key \"a.\": name part " NAME_RULE);
    expect_error("x\"y=1",
                 "unable to parse requirement: invalid label key \"x\\\"y\": name part " NAME_RULE);
}

Test(selector, key_is_validated_before_the_operator)
{
    expect_error("a$ b",
                 "unable to parse requirement: invalid label key \"a$\": name part " NAME_RULE);
}

Test(selector, key_name_length_limit_is_63)
{
    char text[80];
    memset(text, 'k', 63);
    text[63] = '\0';
    struct selector *sel = parse_ok(text);
    cr_assert_eq(strlen(sel->reqs[0].key), 63);
    selector_free(sel);
    memset(text, 'k', 64);
    text[64] = '\0';
    char want[256];
    snprintf(want, sizeof(want),
             "unable to parse requirement: invalid label key \"%s\": name part must be no more "
             "than 63 characters",
             text);
    expect_error(text, want);
}

Test(selector, validates_the_key_prefix)
{
    expect_error("/a=b", "unable to parse requirement: invalid label key \"/a\": prefix part must "
                         "be non-empty");
    expect_error("Example.com/a",
                 "unable to parse requirement: invalid label key \"Example.com/a\": prefix "
                 "part " SUBDOMAIN_RULE);
    expect_error("a..b/c", "unable to parse requirement: invalid label key \"a..b/c\": prefix "
                           "part " SUBDOMAIN_RULE);
    expect_error("a-/c", "unable to parse requirement: invalid label key \"a-/c\": prefix "
                         "part " SUBDOMAIN_RULE);
}

Test(selector, empty_name_after_prefix_gives_both_messages)
{
    expect_error("a/=b", "unable to parse requirement: invalid label key \"a/\": name part must "
                         "be non-empty; name part " NAME_RULE);
}

Test(selector, more_than_one_slash_is_invalid)
{
    struct ta_err err = { 0 };
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(slice_from_cstr("a/b/c=d"), &sel, &err), TA_INVALID);
    const char *want = "unable to parse requirement: invalid label key \"a/b/c\": a valid label "
                       "key must consist of alphanumeric characters";
    cr_assert_eq(strncmp(err.msg, want, strlen(want)), 0, "%s", err.msg);
    cr_assert_lt(strlen(err.msg), TA_ERR_MSG_MAX);
}

Test(selector, prefix_length_limit_is_253)
{
    char key[300];
    /* 253 bytes: 4 labels of 62 'p' joined by dots = 251, plus ".q" */
    size_t n = 0;
    for (int l = 0; l < 4; l++) {
        if (l)
            key[n++] = '.';
        memset(key + n, 'p', 62);
        n += 62;
    }
    memcpy(key + n, ".q/k", 5);
    cr_assert_eq(strlen(key), 253 + 2);
    struct selector *sel = parse_ok(key);
    selector_free(sel);
    memmove(key + 1, key, strlen(key) + 1); /* 254-byte prefix */
    key[0] = 'p';
    struct ta_err err = { 0 };
    cr_assert_eq(selector_parse(slice_from_cstr(key), &sel, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "\"...: prefix part must be no more than 253 characters") != NULL,
              "%s", err.msg);
}

Test(selector, rejects_bad_values)
{
    expect_error("a=b$", "unable to parse requirement: invalid label value: \"b$\": at key: "
                         "\"a\": " VALUE_RULE);
    expect_error("a in (ok,-x)", "unable to parse requirement: invalid label value: \"-x\": at "
                                 "key: \"a\": " VALUE_RULE);
    /* the first invalid value in sorted order is reported */
    expect_error("a notin (z$,b$)", "unable to parse requirement: invalid label value: \"b$\": at "
                                    "key: \"a\": " VALUE_RULE);
}

Test(selector, quotes_bad_bytes_as_go_does)
{
    expect_error("a=b\x01", "unable to parse requirement: invalid label value: \"b\\x01\": at "
                            "key: \"a\": " VALUE_RULE);
    expect_error("a=\xc3\xa9", "unable to parse requirement: invalid label value: \"\xc3\xa9\": "
                               "at key: \"a\": " VALUE_RULE);
    expect_error("a=\xff", "unable to parse requirement: invalid label value: \"\\xff\": at "
                           "key: \"a\": " VALUE_RULE);
    expect_error("a=\\", "unable to parse requirement: invalid label value: \"\\\\\": at key: "
                         "\"a\": " VALUE_RULE);
}

Test(selector, value_length_limit_is_63)
{
    char text[80] = "a=";
    memset(text + 2, 'v', 63);
    text[65] = '\0';
    struct selector *sel = parse_ok(text);
    cr_assert_eq(strlen(sel->reqs[0].values[0]), 63);
    selector_free(sel);
    text[65] = 'v';
    text[66] = '\0';
    char want[256];
    snprintf(want, sizeof(want),
             "unable to parse requirement: invalid label value: \"%s\": at key: \"a\": must be no "
             "more than 63 characters",
             text + 2);
    expect_error(text, want);
}

Test(selector, rejects_an_embedded_nul)
{
    expect_error_len("a=b\0c", 5, TA_INVALID, "labelSelector contains a NUL byte");
}

/* ---- limits ------------------------------------------------------------------------------- */

Test(selector, text_limit_and_one_past_it)
{
    char *text = malloc(SELECTOR_MAX_LEN + 1);
    memset(text, ' ', SELECTOR_MAX_LEN + 1);
    text[0] = 'a';
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(slice_make(text, SELECTOR_MAX_LEN), &sel, NULL), TA_OK);
    cr_assert_eq(sel->n, 1);
    selector_free(sel);
    expect_error_len(text, SELECTOR_MAX_LEN + 1, TA_TOO_LARGE,
                     "labelSelector is longer than 4096 bytes");
    free(text);
}

static void build_reqs(char *text, size_t cap, int n)
{
    size_t o = 0;
    text[0] = '\0';
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "%sk%02d=v", i ? "," : "", i);
}

Test(selector, requirement_limit_and_one_past_it)
{
    char text[1024];
    build_reqs(text, sizeof(text), SELECTOR_MAX_REQS);
    struct selector *sel = parse_ok(text);
    cr_assert_eq(sel->n, SELECTOR_MAX_REQS);
    cr_assert_str_eq(sel->reqs[0].key, "k00");
    cr_assert_str_eq(sel->reqs[31].key, "k31");
    selector_free(sel);
    build_reqs(text, sizeof(text), SELECTOR_MAX_REQS + 1);
    expect_error_len(text, strlen(text), TA_TOO_LARGE,
                     "labelSelector has more than 32 requirements");
}

static void build_set(char *text, size_t cap, int n, bool dup)
{
    size_t o = (size_t)snprintf(text, cap, "k in (");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "%sv%02d", i ? "," : "", i);
    if (dup)
        o += (size_t)snprintf(text + o, cap - o, ",v00");
    snprintf(text + o, cap - o, ")");
}

Test(selector, value_limit_and_one_past_it)
{
    char text[2048];
    build_set(text, sizeof(text), SELECTOR_MAX_VALUES, true); /* 65 values, 64 distinct */
    struct selector *sel = parse_ok(text);
    cr_assert_eq(sel->reqs[0].nvalues, SELECTOR_MAX_VALUES);
    cr_assert_str_eq(sel->reqs[0].values[63], "v63");
    selector_free(sel);
    build_set(text, sizeof(text), SELECTOR_MAX_VALUES + 1, false);
    expect_error_len(text, strlen(text), TA_TOO_LARGE,
                     "labelSelector: a set has more than 64 distinct values");
}

Test(selector, frees_partial_results_after_failure)
{
    /* several valid requirements, then an error: nothing may leak (valgrind/ASan) */
    expect_error(
        "a=1,b in (x,y),c,!d,e=f$",
        "unable to parse requirement: invalid label value: \"f$\": at key: \"e\": " VALUE_RULE);
    selector_free(NULL);
}

Test(selector, canonical_reports_a_full_buffer)
{
    struct selector *sel = parse_ok("abcdef=ghijkl");
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(selector_canonical(sel, &b), TA_TOO_LARGE);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.data);
    selector_free(sel);
}

Test(selector, canonical_of_null_and_empty_selector_is_empty)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(selector_canonical(NULL, &b), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "");
    buf_free(&b);
}
