/* test_traceql.c — unit tests of rules/traceql.h: parse, validate, build, render, match.
 *
 * Expected renderings and match results are worked out by hand from TraceQL's rules (spec
 * tempo-http-api §9), not copied from the code's output. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/traceql.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static struct traceql_node *parse_ok(const char *text)
{
    struct traceql_node *n = NULL;
    struct ta_err err = { 0 };
    enum ta_rc rc = traceql_parse(slice_from_cstr(text), &n, &err);
    cr_assert_eq(rc, TA_OK, "parse %s: %s", text, err.msg);
    cr_assert_not_null(n);
    return n;
}

static void parse_fails(const char *text, enum ta_rc want, const char *msg)
{
    struct traceql_node *n = (struct traceql_node *)0x1;
    struct ta_err err = { 0 };
    enum ta_rc rc = traceql_parse(slice_from_cstr(text), &n, &err);
    cr_assert_eq(rc, want, "parse %s: rc %s, msg %s", text, ta_rc_name(rc), err.msg);
    cr_assert_null(n, "out must be NULL after a failure");
    cr_assert(strstr(err.msg, msg), "parse %s:\n  got  %s\n  want %s", text, err.msg, msg);
}

static char *render(const struct traceql_node *n)
{
    struct buf b;
    size_t len;
    buf_init(&b, TRACEQL_RENDER_MAX);
    cr_assert_eq(traceql_render(n, &b), TA_OK);
    return buf_take(&b, &len);
}

static char *render_expr(const struct traceql_node *n)
{
    struct buf b;
    size_t len;
    buf_init(&b, TRACEQL_RENDER_MAX);
    cr_assert_eq(traceql_render_expr(n, &b), TA_OK);
    return buf_take(&b, &len);
}

/* parse(text) renders as want, and parsing that rendering gives an equal tree. */
static void canon(const char *text, const char *want)
{
    struct traceql_node *n = parse_ok(text);
    char *got = render(n);
    cr_assert_str_eq(got, want, "render of %s", text);
    struct traceql_node *again = parse_ok(got);
    cr_assert(traceql_equal(n, again), "round trip of %s", text);
    char *got2 = render(again);
    cr_assert_str_eq(got2, want);
    free(got2);
    traceql_free(again);
    free(got);
    traceql_free(n);
}

struct tspan {
    struct span s;
    struct span_attr a[8];
    struct span_attr r[8];
};

static void tspan_init(struct tspan *t)
{
    memset(t, 0, sizeof(*t));
    t->s.kind = SPAN_KIND_SERVER;
    t->s.status = SPAN_STATUS_UNSET;
    t->s.start_ns = 1000000000;
    t->s.end_ns = 1000000000 + 250000000; /* 250ms */
    t->s.name = slice_from_cstr("GET /cart");
    t->s.attrs.items = t->a;
    t->s.resource.items = t->r;
}

static struct attr_value *put(struct tspan *t, bool res, const char *key)
{
    struct span_attrs *as = res ? &t->s.resource : &t->s.attrs;
    struct span_attr *arr = res ? t->r : t->a;
    cr_assert_lt(as->n, 8);
    struct span_attr *a = &arr[as->n++];
    a->key = slice_from_cstr(key);
    return &a->value;
}

static void put_str(struct tspan *t, bool res, const char *key, const char *v)
{
    struct attr_value *a = put(t, res, key);
    a->type = ATTR_STRING;
    a->u.str = slice_from_cstr(v);
}

static void put_int(struct tspan *t, bool res, const char *key, int64_t v)
{
    struct attr_value *a = put(t, res, key);
    a->type = ATTR_INT;
    a->u.i = v;
}

static void put_dbl(struct tspan *t, bool res, const char *key, double v)
{
    struct attr_value *a = put(t, res, key);
    a->type = ATTR_DOUBLE;
    a->u.d = v;
}

static void put_bool(struct tspan *t, bool res, const char *key, bool v)
{
    struct attr_value *a = put(t, res, key);
    a->type = ATTR_BOOL;
    a->u.b = v;
}

static bool matches(const char *filter, const struct tspan *t)
{
    struct traceql_node *n = parse_ok(filter);
    bool m = traceql_match(n, &t->s);
    traceql_free(n);
    return m;
}

/* ---- accepted forms and canonical rendering --------------------------------------------- */

Test(traceql, renders_intrinsics_in_unscoped_form)
{
    canon("{ kind = server }", "{ kind = server }");
    canon("{kind=server}", "{ kind = server }");
    canon("{ span:kind = client }", "{ kind = client }");
    canon("{ span:name = \"GET /\" }", "{ name = \"GET /\" }");
    canon("{ span:status = error }", "{ status = error }");
    canon("{ span:duration > 300ms }", "{ duration > 300ms }");
    canon("{ status != ok }", "{ status != ok }");
    canon("{ status = unset }", "{ status = unset }");
    canon("{ kind = unspecified || kind = internal || kind = producer || kind = consumer }",
          "{ (kind = unspecified) || (kind = internal) || (kind = producer) || "
          "(kind = consumer) }");
}

Test(traceql, empty_filter_and_booleans)
{
    canon("{ }", "{ }");
    canon("{}", "{ }");
    canon("{ true }", "{ }");
    canon("{ false }", "{ false }");
    canon("{ !true }", "{ !(true) }");
    canon("{ true && kind = server }", "{ kind = server }"); /* true is neutral in && */
    canon("{ kind = server && true }", "{ kind = server }");
    canon("{ false || kind = server }", "{ kind = server }");
    canon("{ true || kind = server }", "{ (true) || (kind = server) }");
    canon("{ false && kind = server }", "{ (false) && (kind = server) }");
    canon("{ true && true }", "{ }");
}

Test(traceql, renders_scoped_and_unscoped_attributes)
{
    canon("{ span.http.route = \"/cart\" }", "{ span.http.route = \"/cart\" }");
    canon("{ resource.service.name = \"checkout\" }", "{ resource.service.name = \"checkout\" }");
    canon("{ .foo = 1 }", "{ .foo = 1 }");
    canon("{ span.resource.x = 1 }", "{ span.resource.x = 1 }");
    canon("{ .span.x = 1 }", "{ .span.x = 1 }");
    canon("{ span.k8s:ns/x-y_z = 1 }", "{ span.k8s:ns/x-y_z = 1 }");
    canon("{ span.a+b = 1 }", "{ span.\"a+b\" = 1 }"); /* + is part of a name in Tempo */
}

Test(traceql, quoted_attribute_names)
{
    canon("{ span.\"my attr\" = \"x\" }", "{ span.\"my attr\" = \"x\" }");
    canon("{ span.\"a\\\"b\\\\c\" = 1 }", "{ span.\"a\\\"b\\\\c\" = 1 }");
    canon("{ span.foo\"bar baz\"qux = 1 }", "{ span.\"foobar bazqux\" = 1 }");
    canon("{ span.\"plain\" = 1 }", "{ span.plain = 1 }");
    canon("{ .\"5xx\" = 1 }", "{ .\"5xx\" = 1 }");
    canon("{ span.5xx = 1 }", "{ span.5xx = 1 }");
    canon("{ span.\"\xc3\xa9t\xc3\xa9\" = 1 }", "{ span.\"\xc3\xa9t\xc3\xa9\" = 1 }");
    canon("{ span.\"{}()=~!<>&|^,\" = 1 }", "{ span.\"{}()=~!<>&|^,\" = 1 }");
}

Test(traceql, and_or_share_one_level_and_associate_left)
{
    /* the trap: a || b && c is (a || b) && c in TraceQL */
    canon("{ span.a = 1 || span.b = 2 && span.c = 3 }",
          "{ ((span.a = 1) || (span.b = 2)) && (span.c = 3) }");
    canon("{ span.a = 1 && span.b = 2 || span.c = 3 }",
          "{ ((span.a = 1) && (span.b = 2)) || (span.c = 3) }");
    canon("{ span.a = 1 && (span.b = 2 || span.c = 3) }",
          "{ (span.a = 1) && ((span.b = 2) || (span.c = 3)) }");
    canon("{ span.a = 1 && span.b = 2 && span.c = 3 }",
          "{ (span.a = 1) && (span.b = 2) && (span.c = 3) }");
    canon("{ (span.a = 1 && span.b = 2) && span.c = 3 }",
          "{ (span.a = 1) && (span.b = 2) && (span.c = 3) }");
    canon("{ span.a = 1 && (span.b = 2 && span.c = 3) }",
          "{ (span.a = 1) && (span.b = 2) && (span.c = 3) }");
    canon("{ ((span.a = 1)) }", "{ span.a = 1 }");
}

Test(traceql, not_needs_parentheses_and_renders_them)
{
    canon("{ !(span.a = 1) }", "{ !(span.a = 1) }");
    canon("{ !(span.a = 1 && span.b = 2) }", "{ !((span.a = 1) && (span.b = 2)) }");
    canon("{ !!(kind = server) }", "{ !(!(kind = server)) }");
    canon("{ kind = server && !(status = error) }", "{ (kind = server) && (!(status = error)) }");
}

Test(traceql, literal_numbers)
{
    canon("{ span.x = 5 }", "{ span.x = 5 }");
    canon("{ span.x = -5 }", "{ span.x = -5 }");
    canon("{ span.x = 007 }", "{ span.x = 7 }");
    canon("{ span.x = 1.5 }", "{ span.x = 1.5 }");
    canon("{ span.x = 2.0 }", "{ span.x = 2.0 }");
    canon("{ span.x = 2. }", "{ span.x = 2.0 }");
    canon("{ span.x = .25 }", "{ span.x = 0.25 }");
    canon("{ span.x = 0.1 }", "{ span.x = 0.1 }");
    canon("{ span.x = 1e3 }", "{ span.x = 1000.0 }");
    canon("{ span.x > -1.5 }", "{ span.x > -1.5 }");
    canon("{ span.x = 1e-7 }", "{ span.x = 1e-07 }");
    canon("{ span.x = 1.5e300 }", "{ span.x = 1.5e+300 }");
    canon("{ span.x = 9223372036854775807 }", "{ span.x = 9223372036854775807 }");
    canon("{ span.x = -9223372036854775808 }", "{ span.x = -9223372036854775808 }");
    canon("{ span.x = 0.30000000000000004 }", "{ span.x = 0.30000000000000004 }");
}

Test(traceql, literal_durations_render_in_largest_exact_unit)
{
    canon("{ duration > 300ms }", "{ duration > 300ms }");
    canon("{ duration > 1.5s }", "{ duration > 1500ms }");
    canon("{ duration > 1h30m }", "{ duration > 90m }");
    canon("{ duration > 2h }", "{ duration > 2h }");
    canon("{ duration > 120s }", "{ duration > 2m }");
    canon("{ duration > 1500ns }", "{ duration > 1500ns }");
    canon("{ duration > 1.5us }", "{ duration > 1500ns }");
    canon("{ duration > 5\xc2\xb5s }", "{ duration > 5us }");
    canon("{ duration > 0s }", "{ duration > 0s }");
    canon("{ duration > 0.5ms }", "{ duration > 500us }");
    canon("{ duration > 1m1ns }", "{ duration > 60000000001ns }");
    canon("{ span.t < -5ms }", "{ span.t < -5ms }");
    canon("{ duration < 2562047h47m16s854775807ns }", "{ duration < 9223372036854775807ns }");
}

Test(traceql, literal_words_and_nil)
{
    canon("{ span.ok = true }", "{ span.ok = true }");
    canon("{ span.ok != false }", "{ span.ok != false }");
    canon("{ span.x = nil }", "{ span.x = nil }");
    canon("{ span.x != nil }", "{ span.x != nil }");
    canon("{ span.db.system != nil }", "{ span.db.system != nil }");
}

Test(traceql, strings_are_decoded_like_go_and_escaped_on_render)
{
    canon("{ span.x = \"a\\tb\" }", "{ span.x = \"a\\x09b\" }");
    canon("{ span.x = \"\\u00e9\" }", "{ span.x = \"\xc3\xa9\" }");
    canon("{ span.x = \"\\U0001F600\" }", "{ span.x = \"\xf0\x9f\x98\x80\" }");
    canon("{ span.x = \"\\x00\" }", "{ span.x = \"\\x00\" }");
    canon("{ span.x = \"\\xff\" }", "{ span.x = \"\\xff\" }");
    canon("{ span.x = \"\\101\\a\\b\\f\\n\\r\\v\" }",
          "{ span.x = \"A\\x07\\x08\\x0c\\x0a\\x0d\\x0b\" }");
    canon("{ span.x = \"q\\\"b\\\\\" }", "{ span.x = \"q\\\"b\\\\\" }");
    canon("{ span.x = \"\\x7f\" }", "{ span.x = \"\\x7f\" }");
    canon("{ span.x = `a\\b\"c` }", "{ span.x = \"a\\\\b\\\"c\" }");
    canon("{ span.x = `a\r\nb` }", "{ span.x = \"a\\x0ab\" }"); /* Go drops CR in raw strings */
    canon("{ span.x = \"\" }", "{ span.x = \"\" }");
    canon("{ span.x = \"it's\" }", "{ span.x = \"it's\" }");
}

Test(traceql, literal_on_the_left_is_flipped)
{
    canon("{ 5 < span.x }", "{ span.x > 5 }");
    canon("{ 5 >= span.x }", "{ span.x <= 5 }");
    canon("{ \"a\" = span.x }", "{ span.x = \"a\" }");
    canon("{ server = kind }", "{ kind = server }");
    canon("{ nil != span.x }", "{ span.x != nil }");
}

Test(traceql, regex_operators)
{
    canon("{ span.x =~ \"a.*\" }", "{ span.x =~ \"a.*\" }");
    canon("{ name !~ \"GET .*\" }", "{ name !~ \"GET .*\" }");
    canon("{ span.x =~ `\\d+` }", "{ span.x =~ \"\\\\d+\" }");
}

Test(traceql, multi_line_text_is_accepted)
{
    canon("{\n  kind = server\n  && span.db.system != nil\n}",
          "{ (kind = server) && (span.db.system != nil) }");
}

Test(traceql, input_without_final_nul)
{
    const char *text = "{ span.x = \"abc\" }";
    size_t len = strlen(text);
    char *p = malloc(len); /* no terminator: the parser must stop at len */
    memcpy(p, text, len);
    struct traceql_node *n = NULL;
    cr_assert_eq(traceql_parse(slice_make(p, len), &n, NULL), TA_OK);
    char *r = render(n);
    cr_assert_str_eq(r, "{ span.x = \"abc\" }");
    free(r);
    traceql_free(n);
    /* cut before the closing brace: the bytes after len must not be read */
    cr_assert_eq(traceql_parse(slice_make(p, len - 1), &n, NULL), TA_INVALID);
    cr_assert_null(n);
    free(p);
}

/* ---- errors ------------------------------------------------------------------------------ */

Test(traceql, rejects_missing_braces)
{
    parse_fails("kind = server", TA_INVALID, "col 1: expected '{'");
    parse_fails("", TA_INVALID, "col 1: empty filter");
    parse_fails("   ", TA_INVALID, "col 4: empty filter");
    parse_fails("{ kind = server", TA_INVALID,
                "col 16: unexpected end of the filter; expected &&, || or '}'");
    parse_fails("({ kind = server })", TA_INVALID, "col 1: expected '{'");
}

Test(traceql, rejects_pipelines_and_several_spansets)
{
    parse_fails("{ kind = server } | count() > 1", TA_INVALID,
                "col 19: pipelines ('|') are not supported");
    parse_fails("{ kind = server } >> { kind = client }", TA_INVALID,
                "col 19: unsupported operator '>>' (only one spanset filter is allowed)");
    parse_fails("{ kind = server } > { kind = client }", TA_INVALID,
                "col 19: unsupported operator '>'");
    parse_fails("{ kind = server } && { kind = client }", TA_INVALID,
                "col 19: unsupported operator '&&'");
    parse_fails("{ kind = server } ~ { kind = client }", TA_INVALID,
                "col 19: unsupported operator '~'");
    parse_fails("{ kind = server } &>> { kind = client }", TA_INVALID,
                "col 19: unsupported operator '&>>'");
    parse_fails("{ kind = server } !>> { kind = client }", TA_INVALID,
                "col 19: unsupported operator '!>>'");
    parse_fails("{ kind = server } { kind = client }", TA_INVALID,
                "col 19: only one spanset filter is allowed");
    parse_fails("{ { kind = server } }", TA_INVALID, "col 3: unexpected '{'");
    parse_fails("{ kind = server } 5", TA_INVALID, "col 19: unexpected text after the closing");
}

Test(traceql, rejects_structural_and_arithmetic_inside)
{
    parse_fails("{ span.a >> 1 }", TA_INVALID, "col 10: unsupported operator '>>'");
    parse_fails("{ span.a + 1 = 2 }", TA_INVALID, "col 10: arithmetic ('+') is not supported");
    parse_fails("{ span.a = 1 - 2 }", TA_INVALID, "col 14: arithmetic ('-') is not supported");
    parse_fails("{ span.a = 2 * 3 }", TA_INVALID, "col 14: arithmetic ('*') is not supported");
    parse_fails("{ span.a | span.b }", TA_INVALID, "col 10: pipelines");
    parse_fails("{ span.a & span.b }", TA_INVALID, "col 10: unexpected '&'");
}

Test(traceql, rejects_unknown_names_scopes_and_intrinsics)
{
    parse_fails("{ foo = 1 }", TA_INVALID,
                "col 3: unknown name 'foo' (attributes need a scope: span.foo, resource.foo or "
                ".foo)");
    parse_fails("{ statusMessage = \"x\" }", TA_INVALID,
                "col 3: unsupported intrinsic 'statusMessage'");
    parse_fails("{ childCount > 1 }", TA_INVALID, "unsupported intrinsic 'childCount'");
    parse_fails("{ trace:duration > 1s }", TA_INVALID,
                "col 3: unsupported intrinsic 'trace:duration'");
    parse_fails("{ span:id = \"x\" }", TA_INVALID, "unsupported intrinsic 'span:id'");
    parse_fails("{ parent.x = 1 }", TA_INVALID, "col 3: unsupported scope 'parent.'");
    parse_fails("{ event.x = 1 }", TA_INVALID, "unsupported scope 'event.'");
    parse_fails("{ link.x = 1 }", TA_INVALID, "unsupported scope 'link.'");
    parse_fails("{ instrumentation.x = 1 }", TA_INVALID, "unsupported scope 'instrumentation.'");
}

Test(traceql, rejects_comparisons_tempo_rejects)
{
    parse_fails("{ kind = \"server\" }", TA_INVALID, "col 8: kind compares only with the words");
    parse_fails("{ status = \"error\" }", TA_INVALID, "col 10: status compares only with");
    parse_fails("{ span.x = server }", TA_INVALID, "kind words (server, client, …) compare only");
    parse_fails("{ span.x = error }", TA_INVALID, "status words (ok, error, unset) compare only");
    parse_fails("{ kind > server }", TA_INVALID, "kind can only be compared with = or !=");
    parse_fails("{ status >= ok }", TA_INVALID, "status can only be compared with = or !=");
    parse_fails("{ kind = nil }", TA_INVALID,
                "nil comparisons are not allowed on the intrinsic kind");
    parse_fails("{ duration != nil }", TA_INVALID, "not allowed on the intrinsic duration");
    parse_fails("{ name = nil }", TA_INVALID, "not allowed on the intrinsic name");
    parse_fails("{ resource.service.name = nil }", TA_INVALID,
                "col 25: nil comparisons are not allowed on resource.service.name");
    parse_fails("{ resource.service.name != nil }", TA_INVALID, "on resource.service.name");
    parse_fails("{ span.x > nil }", TA_INVALID, "nil can only be compared with = or !=");
    parse_fails("{ span.x =~ nil }", TA_INVALID, "nil can only be compared with = or !=");
    parse_fails("{ span.x > true }", TA_INVALID, "true and false can only be compared with");
    parse_fails("{ duration = \"1s\" }", TA_INVALID, "duration compares only with durations");
    parse_fails("{ duration =~ \"1\" }", TA_INVALID, "duration compares only with durations");
    parse_fails("{ duration = true }", TA_INVALID, "duration compares only with durations");
    parse_fails("{ name = 5 }", TA_INVALID, "name compares only with strings");
    parse_fails("{ span.x =~ 5 }", TA_INVALID, "=~ needs a string regex");
    parse_fails("{ span.x !~ 1s }", TA_INVALID, "!~ needs a string regex");
}

Test(traceql, rejects_bad_regexes)
{
    parse_fails("{ span.x =~ \"(\" }", TA_INVALID, "col 10: invalid regex \"(\"");
    parse_fails("{ span.x =~ \"a[\" }", TA_INVALID, "invalid regex \"a[\": missing ]");
    parse_fails("{ span.x =~ \"(?P<n>a)\" }", TA_INVALID, "unsupported regex group");
    parse_fails("{ span.x =~ `\\bfoo` }", TA_INVALID, "unsupported regex escape \\b");
    parse_fails("{ span.x =~ `\\1` }", TA_INVALID, "unsupported regex escape \\1");
    parse_fails("{ span.x =~ `a\\` }", TA_INVALID, "trailing backslash");
    parse_fails("{ span.x =~ `[a\\]]` }", TA_INVALID, "unsupported escape \\] inside [ ]");
    parse_fails("{ span.x =~ \"a\\x00b\" }", TA_INVALID, "NUL byte");
    parse_fails("{ \"a\" =~ span.x }", TA_INVALID, "the regex must be on the right of =~");
}

Test(traceql, rejects_malformed_comparisons)
{
    parse_fails("{ span.a = span.b }", TA_INVALID, "col 10: comparing two attributes");
    parse_fails("{ 1 = 1 }", TA_INVALID, "col 5: a comparison needs an attribute");
    parse_fails("{ !span.a = 1 }", TA_INVALID, "col 4: '!' must be followed by '('");
    parse_fails("{ span.a == 1 }", TA_INVALID, "col 10: '==' is not a TraceQL operator");
    parse_fails("{ span.a }", TA_INVALID, "col 10: unexpected '}'; expected a comparison operator");
    parse_fails("{ span.x = 1 span.y = 2 }", TA_INVALID,
                "col 14: unexpected 'span.y'; expected &&, || or '}'");
    parse_fails("{ span.x = 1, span.y = 2 }", TA_INVALID, "col 13: unexpected ','");
    parse_fails("{ (span.x = 1 }", TA_INVALID, "col 15: unexpected '}'; expected &&, || or ')'");
    parse_fails("{ span.x = 1 ) }", TA_INVALID, "col 14: unexpected ')'; expected &&, || or '}'");
    parse_fails("{ span.x = }", TA_INVALID, "col 12: unexpected '}'; expected a value");
    parse_fails("{ && span.x = 1 }", TA_INVALID, "col 3: unexpected '&&'; expected a comparison");
    parse_fails("{ span.x = 1 && }", TA_INVALID, "col 17: unexpected '}'; expected a comparison");
    parse_fails("{ span.x = 1 = 2 }", TA_INVALID, "col 14: unexpected '='");
    parse_fails("{ span.x @ 1 }", TA_INVALID, "col 10: unexpected character '@'");
}

Test(traceql, rejects_bad_literals)
{
    parse_fails("{ span.a = 'x' }", TA_INVALID, "col 12: single quotes do not make strings");
    parse_fails("{ span.a = \"x }", TA_INVALID, "col 12: unterminated string");
    parse_fails("{ span.a = `x }", TA_INVALID, "col 12: unterminated string");
    parse_fails("{ span.a = \"a\\qb\" }", TA_INVALID, "col 14: invalid escape in a string");
    parse_fails("{ span.a = \"\\'\" }", TA_INVALID, "invalid escape \\' in a double-quoted");
    parse_fails("{ span.a = \"a\nb\" }", TA_INVALID, "col 14: newline in a string");
    parse_fails("{ span.a = \"\\x4\" }", TA_INVALID, "\\x needs two hex digits");
    parse_fails("{ span.a = \"\\u12\" }", TA_INVALID, "\\u needs four hex digits");
    parse_fails("{ span.a = \"\\ud800\" }", TA_INVALID, "not a Unicode code point");
    parse_fails("{ span.a = \"\\U00110000\" }", TA_INVALID, "not a Unicode code point");
    parse_fails("{ span.a = \"\\400\" }", TA_INVALID, "octal value above \\377");
    parse_fails("{ span.a = \"\\12\" }", TA_INVALID, "octal escapes need three digits");
    parse_fails("{ span.x = 9223372036854775808 }", TA_INVALID, "col 12: integer out of range");
    parse_fails("{ span.x = -9223372036854775809 }", TA_INVALID, "integer out of range");
    parse_fails("{ span.x = 1e999 }", TA_INVALID, "number out of range");
    parse_fails("{ span.x = 0x10 }", TA_INVALID, "col 12: invalid number");
    parse_fails("{ span.x = 5x }", TA_INVALID, "invalid number");
    parse_fails("{ span.x = 1.2.3 }", TA_INVALID, "invalid number");
    parse_fails("{ duration > 5d }", TA_INVALID, "col 14: invalid number");
    parse_fails("{ duration > 5mx }", TA_INVALID, "col 14: invalid duration");
    parse_fails("{ duration > 1e3ms }", TA_INVALID, "invalid duration");
    parse_fails("{ duration > 1h1 }", TA_INVALID, "invalid duration");
    parse_fails("{ duration > 2562048h }", TA_INVALID, "duration out of range");
    parse_fails("{ duration > 5\xce\xbcs }", TA_INVALID, "invalid number"); /* U+03BC, not µ */
}

Test(traceql, rejects_bad_attribute_names)
{
    parse_fails("{ span.\"a = 1 }", TA_INVALID, "col 8: unterminated quoted attribute name");
    parse_fails("{ span.\"a\\q\" = 1 }", TA_INVALID,
                "col 10: invalid escape in a quoted attribute name");
    parse_fails("{ span. = 1 }", TA_INVALID, "col 8: empty attribute name");
    parse_fails("{ . = 1 }", TA_INVALID, "col 4: empty attribute name");
    parse_fails("{ span.a\xc2\xa0= 1 }", TA_INVALID, "col 9: unexpected character"); /* NBSP */
}

Test(traceql, error_positions_count_lines_and_characters)
{
    parse_fails("{\n  kind = \"x\"\n}", TA_INVALID, "line 2, col 8: kind compares only");
    parse_fails("{ span.\"\xc3\xa9\xc3\xa9\" = 1 ~ }", TA_INVALID,
                "col 17: unsupported operator '~'");
}

Test(traceql, rejects_embedded_nul_and_invalid_utf8)
{
    const char text[] = "{ span.x = \"a\0b\" }";
    struct traceql_node *n = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(traceql_parse(slice_make(text, sizeof(text) - 1), &n, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "col 14: NUL byte in the filter");
    cr_assert_null(n);
    parse_fails("{ span.x = \"a\xff\" }", TA_INVALID, "col 14: invalid UTF-8");
    parse_fails("{ span.x = \"\xc0\xaf\" }", TA_INVALID, "col 13: invalid UTF-8");
}

Test(traceql, error_offset_is_reported)
{
    struct traceql_node *n = NULL;
    size_t off = 0;
    cr_assert_eq(traceql_parse_pos(slice_from_cstr("{ kind = \"x\" }"), &n, &off, NULL),
                 TA_INVALID);
    cr_assert_eq(off, 7); /* the '=' */
    cr_assert_eq(traceql_parse_pos(slice_from_cstr("{ foo }"), &n, &off, NULL), TA_INVALID);
    cr_assert_eq(off, 2);
}

/* ---- limits ------------------------------------------------------------------------------ */

/* "{ span.x = "aaa…" }" of exactly len bytes. */
static char *filter_of_len(size_t len)
{
    const char *head = "{ span.x = \"", *tail = "\" }";
    char *p = malloc(len);
    size_t h = strlen(head), t = strlen(tail);
    memcpy(p, head, h);
    memset(p + h, 'a', len - h - t);
    memcpy(p + len - t, tail, t);
    return p;
}

Test(traceql, accepts_text_at_max_len_and_rejects_one_byte_more)
{
    char *p = filter_of_len(TRACEQL_MAX_LEN);
    struct traceql_node *n = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(traceql_parse(slice_make(p, TRACEQL_MAX_LEN), &n, &err), TA_OK, "%s", err.msg);
    traceql_free(n);
    free(p);
    p = filter_of_len(TRACEQL_MAX_LEN + 1);
    cr_assert_eq(traceql_parse(slice_make(p, TRACEQL_MAX_LEN + 1), &n, &err), TA_TOO_LARGE);
    cr_assert(strstr(err.msg, "filter is 8193 bytes, more than 8192"), "%s", err.msg);
    cr_assert_null(n);
    free(p);
}

static char *nest(const char *open, const char *inner, const char *close, int times)
{
    size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
    char *p = malloc(4 + times * (lo + lc) + li + 1), *q = p;
    memcpy(q, "{ ", 2);
    q += 2;
    for (int i = 0; i < times; i++, q += lo)
        memcpy(q, open, lo);
    memcpy(q, inner, li);
    q += li;
    for (int i = 0; i < times; i++, q += lc)
        memcpy(q, close, lc);
    memcpy(q, " }", 3);
    return p;
}

Test(traceql, accepts_nesting_at_max_depth_and_rejects_one_more)
{
    char *t = nest("(", "span.x = 1", ")", TRACEQL_MAX_DEPTH);
    struct traceql_node *n = parse_ok(t);
    traceql_free(n);
    free(t);
    t = nest("(", "span.x = 1", ")", TRACEQL_MAX_DEPTH + 1);
    parse_fails(t, TA_TOO_LARGE, "col 35: nested deeper than 32 levels");
    free(t);
    /* each !( is two levels */
    t = nest("!(", "span.x = 1", ")", TRACEQL_MAX_DEPTH / 2);
    n = parse_ok(t);
    char *r = render(n);
    cr_assert_str_eq(r, t); /* already canonical */
    free(r);
    traceql_free(n);
    free(t);
    t = nest("!(", "span.x = 1", ")", TRACEQL_MAX_DEPTH / 2 + 1);
    parse_fails(t, TA_TOO_LARGE, "nested deeper than 32 levels");
    free(t);
    t = nest("!", "true", "", 5000); /* deep recursion must stop early, not crash */
    parse_fails(t, TA_TOO_LARGE, "col 35: nested deeper than 32 levels");
    free(t);
}

/* "{ .a=1 || .a=1 && .a=1 || … }" with ops alternating operators: the canonical form nests one
 * level per alternation, so the limit applies to it even without parentheses in the text. */
static char *alternating(int ops)
{
    size_t cap = 16 + (size_t)ops * 12;
    char *p = malloc(cap);
    size_t n = (size_t)snprintf(p, cap, "{ .a=1");
    for (int i = 0; i < ops; i++)
        n += (size_t)snprintf(p + n, cap - n, " %s .a=1", i % 2 ? "&&" : "||");
    snprintf(p + n, cap - n, " }");
    return p;
}

Test(traceql, canonical_nesting_is_limited_too)
{
    char *t = alternating(TRACEQL_MAX_DEPTH);
    struct traceql_node *n = parse_ok(t);
    char *r = render(n);
    struct traceql_node *again = parse_ok(r); /* the rendering re-parses within the limit */
    cr_assert(traceql_equal(n, again));
    traceql_free(again);
    free(r);
    traceql_free(n);
    free(t);
    t = alternating(TRACEQL_MAX_DEPTH + 1);
    parse_fails(t, TA_TOO_LARGE, "nested deeper than 32 levels (counting the parentheses");
    free(t);
}

static char *chain(int terms, const char *prefix, const char *suffix)
{
    size_t cap = strlen(prefix) + strlen(suffix) + 8 + (size_t)terms * 8;
    char *p = malloc(cap);
    size_t n = (size_t)snprintf(p, cap, "{ %s.a=1", prefix);
    for (int i = 1; i < terms; i++)
        n += (size_t)snprintf(p + n, cap - n, "||.a=1");
    snprintf(p + n, cap - n, "%s }", suffix);
    return p;
}

Test(traceql, accepts_max_nodes_and_rejects_one_more)
{
    /* 512 comparisons and 511 || make 1023 nodes; the ! makes 1024 */
    char *t = chain(512, "!(", ")");
    struct traceql_node *n = parse_ok(t);
    traceql_free(n);
    free(t);
    t = chain(513, "", ""); /* 513 + 512 = 1025 */
    parse_fails(t, TA_TOO_LARGE, "more than 1024 comparisons and operators");
    free(t);
}

/* ---- builders ---------------------------------------------------------------------------- */

static struct traceql_node *attr(const char *text)
{
    struct traceql_node *a = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(traceql_parse_attr(slice_from_cstr(text), &a, &err), TA_OK, "%s: %s", text,
                 err.msg);
    return a;
}

static struct traceql_node *cmp_str(const char *a, enum traceql_op op, const char *v)
{
    struct traceql_literal lit = { .type = TRACEQL_LIT_STRING, .u.str = slice_from_cstr(v) };
    struct traceql_node *n = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(traceql_new_cmp(attr(a), op, &lit, &n, &err), TA_OK, "%s", err.msg);
    return n;
}

Test(traceql, hostile_strings_stay_one_literal)
{
    const char *hostile[] = {
        "x\" || true || \"",
        "\\\" } | count() > 0 { \"",
        "a\\",
        "\"",
        "\n}\n{",
        "`raw`",
        "\xff\xfe invalid",
        "nul\0after",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct traceql_node *n = cmp_str("resource.service.name", TRACEQL_OP_EQ, hostile[i]);
        char *r = render(n);
        struct traceql_node *back = parse_ok(r);
        cr_assert(traceql_equal(n, back), "hostile %zu: %s", i, r);
        free(r);
        traceql_free(back);
        traceql_free(n);
    }
    struct traceql_node *n = cmp_str("resource.service.name", TRACEQL_OP_EQ, "x\" || true || \"");
    char *r = render(n);
    cr_assert_str_eq(r, "{ resource.service.name = \"x\\\" || true || \\\"\" }");
    free(r);
    traceql_free(n);
    /* a string with an embedded NUL is kept whole */
    struct traceql_literal lit = { .type = TRACEQL_LIT_STRING, .u.str = { "a\0b", 3 } };
    cr_assert_eq(traceql_new_cmp(attr("span.x"), TRACEQL_OP_EQ, &lit, &n, NULL), TA_OK);
    r = render(n);
    cr_assert_str_eq(r, "{ span.x = \"a\\x00b\" }");
    free(r);
    traceql_free(n);
}

Test(traceql, builders_flatten_chains_of_the_same_operator)
{
    struct traceql_node *a = cmp_str("span.a", TRACEQL_OP_EQ, "1");
    struct traceql_node *b = cmp_str("span.b", TRACEQL_OP_EQ, "2");
    struct traceql_node *c = cmp_str("span.c", TRACEQL_OP_EQ, "3");
    struct traceql_node *d = cmp_str("span.d", TRACEQL_OP_EQ, "4");
    struct traceql_node *n = traceql_new_and(traceql_new_and(a, b), traceql_new_or(c, d));
    char *r = render(n);
    cr_assert_str_eq(r, "{ (span.a = \"1\") && (span.b = \"2\") && ((span.c = \"3\") || (span.d = "
                        "\"4\")) }");
    free(r);
    r = render_expr(n);
    cr_assert_str_eq(r, "((span.a = \"1\") && (span.b = \"2\") && ((span.c = \"3\") || (span.d = "
                        "\"4\")))");
    free(r);
    struct traceql_node *m = traceql_new_not(traceql_clone(n));
    r = render(m);
    cr_assert_str_eq(r, "{ !((span.a = \"1\") && (span.b = \"2\") && ((span.c = \"3\") || (span.d "
                        "= \"4\"))) }");
    free(r);
    traceql_free(m);
    traceql_free(n);
    n = cmp_str("span.a", TRACEQL_OP_NE, "x");
    r = render_expr(n);
    cr_assert_str_eq(r, "span.a != \"x\"");
    free(r);
    traceql_free(n);
    n = traceql_new_bool(true);
    r = render_expr(n);
    cr_assert_str_eq(r, "true");
    free(r);
    /* composing with the empty filter adds nothing */
    struct traceql_literal dur = { .type = TRACEQL_LIT_DURATION, .u.dur_ns = 300000000 };
    struct traceql_node *slow = NULL;
    cr_assert_eq(traceql_new_cmp(traceql_new_intrinsic(TRACEQL_INTRINSIC_DURATION), TRACEQL_OP_GT,
                                 &dur, &slow, NULL),
                 TA_OK);
    n = traceql_new_and(n, slow);
    r = render(n);
    cr_assert_str_eq(r, "{ duration > 300ms }");
    free(r);
    traceql_free(n);
}

Test(traceql, new_cmp_validates_and_frees_attr_on_failure)
{
    struct traceql_literal nil = { .type = TRACEQL_LIT_NIL };
    struct traceql_node *n = (struct traceql_node *)0x1;
    struct ta_err err = { 0 };
    cr_assert_eq(traceql_new_cmp(attr("resource.service.name"), TRACEQL_OP_EQ, &nil, &n, &err),
                 TA_INVALID);
    cr_assert_null(n);
    cr_assert(strstr(err.msg, "resource.service.name"), "%s", err.msg);
    cr_assert_eq(traceql_new_cmp(traceql_new_intrinsic(TRACEQL_INTRINSIC_STATUS), TRACEQL_OP_NE,
                                 &nil, &n, &err),
                 TA_INVALID);
    struct traceql_literal re = { .type = TRACEQL_LIT_STRING, .u.str = slice_from_cstr("a(") };
    cr_assert_eq(traceql_new_cmp(attr("span.x"), TRACEQL_OP_RE, &re, &n, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "invalid regex"), "%s", err.msg);
    struct traceql_literal inf = { .type = TRACEQL_LIT_FLOAT, .u.f = INFINITY };
    cr_assert_eq(traceql_new_cmp(attr("span.x"), TRACEQL_OP_EQ, &inf, &n, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "numbers must be finite");
    struct traceql_literal one = { .type = TRACEQL_LIT_INT, .u.i = 1 };
    cr_assert_eq(traceql_new_cmp(NULL, TRACEQL_OP_EQ, &one, &n, &err), TA_INVALID);
    struct traceql_node *notattr = traceql_new_bool(true);
    cr_assert_eq(traceql_new_cmp(notattr, TRACEQL_OP_EQ, &one, &n, &err), TA_INVALID);
    cr_assert_eq(traceql_new_cmp(attr("span.x"), (enum traceql_op)42, &one, &n, &err), TA_INVALID);
    struct traceql_literal kind = { .type = TRACEQL_LIT_KIND, .u.kind = SPAN_KIND_CLIENT };
    cr_assert_eq(traceql_new_cmp(traceql_new_intrinsic(TRACEQL_INTRINSIC_KIND), TRACEQL_OP_EQ,
                                 &kind, &n, &err),
                 TA_OK);
    char *r = render(n);
    cr_assert_str_eq(r, "{ kind = client }");
    free(r);
    traceql_free(n);
}

Test(traceql, clone_and_equal)
{
    struct traceql_node *n =
        parse_ok("{ (kind = server || span.x =~ \"a.*\") && !(duration > 1s) && .y != nil }");
    struct traceql_node *c = traceql_clone(n);
    cr_assert(traceql_equal(n, c));
    char *r1 = render(n), *r2 = render(c);
    cr_assert_str_eq(r1, r2);
    free(r1);
    free(r2);
    struct tspan t;
    tspan_init(&t);
    put_str(&t, false, "x", "abc");
    put_int(&t, true, "y", 1);
    cr_assert(traceql_match(c, &t.s)); /* the clone's regex works on its own */
    traceql_free(n);
    cr_assert(traceql_match(c, &t.s));
    traceql_free(c);
    cr_assert_null(traceql_clone(NULL));

    const char *pairs[][2] = {
        { "{ span.x = 1 }", "{ span.x = 1.0 }" },
        { "{ span.x = 1 }", "{ resource.x = 1 }" },
        { "{ span.x = 1 }", "{ .x = 1 }" },
        { "{ span.x = 1 }", "{ span.y = 1 }" },
        { "{ span.x = 1 }", "{ span.x != 1 }" },
        { "{ span.x = \"a\" }", "{ span.x = \"b\" }" },
        { "{ span.x = 1s }", "{ span.x = 1000000000 }" },
        { "{ kind = server }", "{ kind = client }" },
        { "{ status = ok }", "{ status = error }" },
        { "{ name = \"a\" }", "{ span.name = \"a\" }" },
        { "{ true }", "{ false }" },
        { "{ span.a = 1 && span.b = 1 }", "{ span.a = 1 || span.b = 1 }" },
        { "{ span.a = 1 && span.b = 1 }", "{ span.a = 1 && span.b = 1 && span.c = 1 }" },
        { "{ !(span.a = 1) }", "{ span.a = 1 }" },
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct traceql_node *a = parse_ok(pairs[i][0]), *b = parse_ok(pairs[i][1]);
        cr_assert_not(traceql_equal(a, b), "%s vs %s", pairs[i][0], pairs[i][1]);
        traceql_free(a);
        traceql_free(b);
    }
    cr_assert(traceql_equal(NULL, NULL));
}

Test(traceql, parse_attr_forms_and_errors)
{
    struct {
        const char *text;
        enum traceql_scope scope;
        const char *name;
    } ok[] = {
        { "resource.service.name", TRACEQL_SCOPE_RESOURCE, "service.name" },
        { "span.http.route", TRACEQL_SCOPE_SPAN, "http.route" },
        { ".x", TRACEQL_SCOPE_ANY, "x" },
        { "span.\"my attr\"", TRACEQL_SCOPE_SPAN, "my attr" },
        { "  resource.k8s.namespace.name  ", TRACEQL_SCOPE_RESOURCE, "k8s.namespace.name" },
        { "name", TRACEQL_SCOPE_INTRINSIC, "" },
        { "span:status", TRACEQL_SCOPE_INTRINSIC, "" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct traceql_node *a = attr(ok[i].text);
        enum traceql_scope scope;
        struct slice name;
        cr_assert(traceql_attr_info(a, &scope, &name, NULL));
        cr_assert_eq(scope, ok[i].scope, "%s", ok[i].text);
        cr_assert(slice_eq_cstr(name, ok[i].name), "%s", ok[i].text);
        traceql_free(a);
    }
    enum traceql_intrinsic which;
    struct traceql_node *a = attr("span:status");
    cr_assert(traceql_attr_info(a, NULL, NULL, &which));
    cr_assert_eq(which, TRACEQL_INTRINSIC_STATUS);
    traceql_free(a);

    struct {
        const char *text;
        const char *msg;
    } bad[] = {
        { "", "col 1: empty attribute" },
        { "span.x = 1", "col 8: unexpected text after the attribute" },
        { "foo", "col 1: unknown name 'foo'" },
        { "span.", "col 6: empty attribute name" },
        { "\"x\"", "col 1: unexpected '\"x\"'; expected an attribute" },
        { "{ kind = server }", "col 1: unexpected '{'" },
        { "parent.x", "unsupported scope 'parent.'" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct traceql_node *out = (struct traceql_node *)0x1;
        struct ta_err err = { 0 };
        cr_assert_eq(traceql_parse_attr(slice_from_cstr(bad[i].text), &out, &err), TA_INVALID, "%s",
                     bad[i].text);
        cr_assert_null(out);
        cr_assert(strstr(err.msg, bad[i].msg), "%s: %s", bad[i].text, err.msg);
    }
    struct traceql_node *out = NULL;
    char big[TRACEQL_MAX_LEN + 1];
    memset(big, 'a', sizeof(big));
    memcpy(big, "span.", 5);
    cr_assert_eq(traceql_parse_attr(slice_make(big, sizeof(big)), &out, NULL), TA_TOO_LARGE);
    cr_assert_eq(traceql_parse_attr(slice_make(big, sizeof(big) - 1), &out, NULL), TA_OK);
    traceql_free(out);
}

Test(traceql, always_present_attributes)
{
    struct {
        const char *text;
        bool want;
    } cases[] = {
        { "name", true },
        { "kind", true },
        { "span:duration", true },
        { "status", true },
        { "resource.service.name", true },
        { "span.service.name", false },
        { ".service.name", false },
        { "resource.k8s.namespace.name", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct traceql_node *a = attr(cases[i].text);
        cr_assert_eq(traceql_attr_always_present(a), cases[i].want, "%s", cases[i].text);
        traceql_free(a);
    }
    struct traceql_node *n = parse_ok("{ kind = server }");
    cr_assert_not(traceql_attr_always_present(n)); /* not an attribute node */
    cr_assert_not(traceql_attr_info(n, NULL, NULL, NULL));
    traceql_free(n);
    cr_assert_not(traceql_attr_always_present(NULL));
}

struct seen {
    char text[512];
};

static void collect(void *arg, enum traceql_scope scope, struct slice name)
{
    struct seen *s = arg;
    size_t l = strlen(s->text);
    snprintf(s->text + l, sizeof(s->text) - l, "%d:" SLICE_FMT ";", (int)scope, SLICE_ARG(name));
}

Test(traceql, visit_attrs_lists_every_reference_but_intrinsics)
{
    struct traceql_node *n = parse_ok("{ kind = server && (span.a = 1 || !(resource.b != nil)) "
                                      "&& .c =~ \"x\" && duration > 1s && name = \"n\" }");
    struct seen s = { "" };
    traceql_visit_attrs(n, collect, &s);
    cr_assert_str_eq(s.text, "0:a;1:b;2:c;");
    traceql_free(n);
}

Test(traceql, render_past_the_cap_frees_the_buffer)
{
    struct traceql_node *n = parse_ok("{ span.http.route = \"/a/very/long/route\" }");
    struct buf b;
    buf_init(&b, 16);
    cr_assert_eq(traceql_render(n, &b), TA_TOO_LARGE);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    buf_init(&b, 16);
    cr_assert_eq(traceql_render_expr(n, &b), TA_TOO_LARGE);
    cr_assert_null(b.data);
    traceql_free(n);
}

/* ---- evaluation -------------------------------------------------------------------------- */

Test(traceql, match_intrinsics)
{
    struct tspan t;
    tspan_init(&t);
    t.s.status = SPAN_STATUS_ERROR;
    cr_assert(matches("{ kind = server }", &t));
    cr_assert_not(matches("{ kind = client }", &t));
    cr_assert(matches("{ kind != client }", &t));
    cr_assert(matches("{ status = error }", &t));
    cr_assert_not(matches("{ status = ok }", &t));
    cr_assert(matches("{ name = \"GET /cart\" }", &t));
    cr_assert(matches("{ name =~ \"GET .*\" }", &t));
    cr_assert_not(matches("{ name =~ \"GET\" }", &t));
    cr_assert(matches("{ name > \"GET\" }", &t));
    cr_assert(matches("{ duration = 250ms }", &t));
    cr_assert(matches("{ duration > 249999999ns }", &t));
    cr_assert_not(matches("{ duration > 250ms }", &t));
    cr_assert(matches("{ duration >= 250000000 }", &t)); /* numbers are nanoseconds */
    cr_assert(matches("{ duration < 250000000.5 }", &t));
    cr_assert_not(matches("{ duration <= 249999999.5 }", &t));
    cr_assert(matches("{ }", &t));
    cr_assert_not(matches("{ false }", &t));
}

Test(traceql, match_missing_attribute_semantics)
{
    struct tspan t;
    tspan_init(&t);
    cr_assert_not(matches("{ span.x = \"a\" }", &t));
    cr_assert_not(matches("{ span.x != \"a\" }", &t)); /* != never matches a missing attribute */
    cr_assert_not(matches("{ span.x > 1 }", &t));
    cr_assert_not(matches("{ span.x !~ \"a\" }", &t));
    cr_assert(matches("{ span.x = nil }", &t));
    cr_assert_not(matches("{ span.x != nil }", &t));
    cr_assert(matches("{ !(span.x = \"a\") }", &t)); /* ! of a false comparison */
    put_str(&t, false, "x", "b");
    cr_assert(matches("{ span.x != \"a\" }", &t));
    cr_assert_not(matches("{ span.x = nil }", &t));
    cr_assert(matches("{ span.x != nil }", &t));
}

Test(traceql, match_scopes)
{
    struct tspan t;
    tspan_init(&t);
    put_str(&t, false, "only_span", "s");
    put_str(&t, true, "only_res", "r");
    put_str(&t, false, "both", "from-span");
    put_str(&t, true, "both", "from-res");
    cr_assert(matches("{ span.only_span = \"s\" }", &t));
    cr_assert_not(matches("{ resource.only_span = \"s\" }", &t));
    cr_assert(matches("{ resource.only_res = \"r\" }", &t));
    cr_assert_not(matches("{ span.only_res = \"r\" }", &t));
    cr_assert(matches("{ .only_span = \"s\" }", &t));
    cr_assert(matches("{ .only_res = \"r\" }", &t));
    cr_assert(matches("{ .both = \"from-span\" }", &t));
    cr_assert(matches("{ .both = \"from-res\" }", &t));
    cr_assert_not(matches("{ .only_res = nil }", &t)); /* nil only when missing in both */
    cr_assert(matches("{ .only_res != nil }", &t));
    cr_assert(matches("{ .nowhere = nil }", &t));
    cr_assert_not(matches("{ .nowhere != nil }", &t));
    cr_assert_not(matches("{ span.only_res != nil }", &t));
}

Test(traceql, match_regex_is_fully_anchored)
{
    struct tspan t;
    tspan_init(&t);
    put_str(&t, false, "x", "foobar");
    put_str(&t, false, "ab", "ax");
    put_str(&t, false, "num", "12345");
    put_str(&t, false, "up", "FOO");
    put_int(&t, false, "i", 5);
    cr_assert_not(matches("{ span.x =~ \"foo\" }", &t));
    cr_assert_not(matches("{ span.x =~ \"bar\" }", &t));
    cr_assert_not(matches("{ span.x =~ \"oba\" }", &t));
    cr_assert(matches("{ span.x =~ \"foo.*\" }", &t));
    cr_assert(matches("{ span.x =~ \".*bar\" }", &t));
    cr_assert(matches("{ span.x =~ \"foobar\" }", &t));
    cr_assert(matches("{ span.x !~ \"foo\" }", &t));
    cr_assert_not(matches("{ span.x !~ \"foo.*\" }", &t));
    cr_assert_not(matches("{ span.ab =~ \"a|b\" }", &t)); /* ^(a|b)$, not ^a|b$ */
    cr_assert(matches("{ span.ab =~ \"ax|b\" }", &t));
    cr_assert(matches("{ span.num =~ `\\d+` }", &t));
    cr_assert(matches("{ span.num =~ \"[\\\\d]{5}\" }", &t));
    cr_assert_not(matches("{ span.num =~ `\\D+` }", &t));
    cr_assert(matches("{ span.x =~ \"(?:foo)(bar)\" }", &t));
    cr_assert(matches("{ span.x =~ \"f.*?r\" }", &t));
    cr_assert(matches("{ span.up =~ \"(?i)foo\" }", &t));
    cr_assert_not(matches("{ span.up =~ \"foo\" }", &t));
    cr_assert(matches("{ span.x =~ `foo\\.?bar` }", &t));
    put_str(&t, false, "utf", "caf\xc3\xa9");
    put_str(&t, false, "nl", "a\nb");
    cr_assert(matches("{ span.utf =~ \"caf.\" }", &t)); /* . is one character, as in RE2 */
    cr_assert_not(matches("{ span.utf =~ \"caf..\" }", &t));
    cr_assert(matches("{ span.utf =~ \"c.*\" }", &t));
    cr_assert_not(matches("{ span.nl =~ \"a.b\" }", &t)); /* and not a newline */
    cr_assert(matches("{ span.nl =~ \"a\\nb\" }", &t));
    cr_assert(matches("{ span.x =~ \"[.a-z]+\" }", &t)); /* . inside [ ] stays a dot */
    cr_assert_not(matches("{ span.i =~ \"5\" }", &t));   /* regexes match strings only */
    cr_assert_not(matches("{ span.i !~ \"x\" }", &t));
    cr_assert_not(matches("{ span.missing !~ \"x\" }", &t));
}

Test(traceql, match_numbers_across_int_and_float)
{
    struct tspan t;
    tspan_init(&t);
    put_int(&t, false, "i", 5);
    put_dbl(&t, false, "d", 5.0);
    put_dbl(&t, false, "h", 5.5);
    put_int(&t, false, "big", 9007199254740993);
    put_dbl(&t, false, "nan", NAN);
    put_str(&t, false, "s", "5");
    put_int(&t, false, "ns", 2000000);
    cr_assert(matches("{ span.i = 5.0 }", &t));
    cr_assert(matches("{ span.d = 5 }", &t));
    cr_assert(matches("{ span.h > 5 }", &t));
    cr_assert(matches("{ span.h < 6 }", &t));
    cr_assert(matches("{ span.i < 5.5 }", &t));
    cr_assert(matches("{ span.i >= 5 }", &t));
    cr_assert_not(matches("{ span.i > 5 }", &t));
    cr_assert(matches("{ span.i > -5 }", &t));
    cr_assert_not(
        matches("{ span.big = 9007199254740992.0 }", &t)); /* no rounding through double */
    cr_assert(matches("{ span.big > 9007199254740992.0 }", &t));
    cr_assert(matches("{ span.big = 9007199254740993 }", &t));
    cr_assert_not(matches("{ span.nan = 1.0 }", &t));
    cr_assert_not(matches("{ span.nan > 0 }", &t));
    cr_assert(matches("{ span.nan != 1.0 }", &t));
    cr_assert_not(matches("{ span.s = 5 }", &t)); /* a string is not a number */
    cr_assert_not(matches("{ span.i = \"5\" }", &t));
    cr_assert_not(matches("{ span.i != \"x\" }", &t)); /* type mismatch is false, even for != */
    cr_assert(matches("{ span.ns > 1ms }", &t));       /* durations compare as nanoseconds */
    cr_assert(matches("{ span.ns = 2ms }", &t));
    cr_assert(matches("{ span.d < 1us }", &t));
    cr_assert_not(matches("{ span.d > 1us }", &t));
}

Test(traceql, match_strings_and_bools)
{
    struct tspan t;
    tspan_init(&t);
    put_str(&t, false, "s", "b");
    put_bool(&t, false, "yes", true);
    put_str(&t, false, "tstr", "true");
    struct attr_value *v = put(&t, false, "nul");
    v->type = ATTR_STRING;
    v->u.str = slice_make("a\0b", 3);
    cr_assert(matches("{ span.s > \"a\" }", &t));
    cr_assert(matches("{ span.s < \"ba\" }", &t));
    cr_assert(matches("{ span.s >= \"b\" }", &t));
    cr_assert(matches("{ span.s > \"B\" }", &t)); /* bytewise */
    cr_assert(matches("{ span.yes = true }", &t));
    cr_assert(matches("{ span.yes != false }", &t));
    cr_assert_not(matches("{ span.yes = false }", &t));
    cr_assert_not(matches("{ span.tstr = true }", &t));
    cr_assert_not(matches("{ span.yes = \"true\" }", &t));
    cr_assert(matches("{ span.nul = \"a\\x00b\" }", &t));
    cr_assert_not(matches("{ span.nul = \"a\" }", &t));
}

Test(traceql, match_follows_left_associative_precedence)
{
    struct tspan t;
    tspan_init(&t);
    put_int(&t, false, "a", 1);
    /* (a || b) && c: c is missing, so no match; a || (b && c) would match */
    cr_assert_not(matches("{ span.a = 1 || span.b = 1 && span.c = 1 }", &t));
    cr_assert(matches("{ span.a = 1 || (span.b = 1 && span.c = 1) }", &t));
    cr_assert(matches("{ span.c = 1 && span.b = 1 || span.a = 1 }", &t));
    cr_assert(matches("{ !(span.a = 2) && !(!(span.a = 1)) }", &t));
}

static const char *const HAMMER_FILTER =
    "{ (kind = server && span.route =~ \"/cart/[0-9]+\") || resource.svc != nil }";

static void *hammer(void *arg)
{
    const struct traceql_node *n = arg;
    struct tspan hit, miss;
    tspan_init(&hit);
    tspan_init(&miss);
    put_str(&hit, false, "route", "/cart/123");
    put_str(&miss, false, "route", "/cart/x");
    for (int i = 0; i < 20000; i++)
        if (!traceql_match(n, &hit.s) || traceql_match(n, &miss.s))
            return (void *)1;
    return NULL;
}

Test(traceql, match_is_safe_for_concurrent_readers)
{
    struct traceql_node *n = parse_ok(HAMMER_FILTER);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, n), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res);
    }
    traceql_free(n);
}

/* ---- round trip on generated trees ------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct traceql_node *random_attr(void)
{
    static const char *const pool[] = { "a",           "http.route", "my attr",   "q\"uote",
                                        "back\\slash", "5xx",        "x{y}",      "\xc3\xa9",
                                        "a b\tc",      "||",         "k8s:ns/x-y" };
    const char *scopes[] = { "span.", "resource.", "." };
    unsigned r = (unsigned)(rnd() % 15);
    if (r >= 11)
        return traceql_new_intrinsic((enum traceql_intrinsic)(r - 11));
    /* quote the name by the spec: only \" and \\ escapes */
    char text[64], *q = text;
    const char *name = pool[r];
    q += snprintf(q, sizeof(text), "%s\"", scopes[rnd() % 3]);
    for (const char *p = name; *p; p++) {
        if (*p == '"' || *p == '\\')
            *q++ = '\\';
        *q++ = *p;
    }
    *q++ = '"';
    *q = '\0';
    return attr(text);
}

static struct traceql_node *random_cmp(void)
{
    struct traceql_node *a = random_attr();
    enum traceql_scope scope;
    enum traceql_intrinsic which;
    traceql_attr_info(a, &scope, NULL, &which);
    struct traceql_literal lit = { 0 };
    enum traceql_op op = (enum traceql_op)(rnd() % 6);
    char s[16];
    if (scope == TRACEQL_SCOPE_INTRINSIC && which == TRACEQL_INTRINSIC_KIND) {
        lit.type = TRACEQL_LIT_KIND;
        lit.u.kind = (enum span_kind)(rnd() % 6);
        op = rnd() % 2 ? TRACEQL_OP_EQ : TRACEQL_OP_NE;
    } else if (scope == TRACEQL_SCOPE_INTRINSIC && which == TRACEQL_INTRINSIC_STATUS) {
        lit.type = TRACEQL_LIT_STATUS;
        lit.u.status = (enum span_status)(rnd() % 3);
        op = rnd() % 2 ? TRACEQL_OP_EQ : TRACEQL_OP_NE;
    } else if (scope == TRACEQL_SCOPE_INTRINSIC && which == TRACEQL_INTRINSIC_DURATION) {
        lit.type = TRACEQL_LIT_DURATION;
        lit.u.dur_ns = (int64_t)rnd();
    } else {
        unsigned k = scope == TRACEQL_SCOPE_INTRINSIC ? 0 : (unsigned)(rnd() % 6);
        switch (k) {
        case 0: { /* arbitrary bytes, including NUL, quotes and invalid UTF-8 */
            size_t len = rnd() % sizeof(s);
            for (size_t i = 0; i < len; i++)
                s[i] = rnd() % 5 == 0 ? "\"\\\0\xff\n"[rnd() % 5] : (char)(rnd() & 0xff);
            lit.type = TRACEQL_LIT_STRING;
            lit.u.str = slice_make(s, len);
            break;
        }
        case 1:
            lit.type = TRACEQL_LIT_INT;
            lit.u.i = (int64_t)rnd();
            break;
        case 2: {
            double d;
            do {
                uint64_t bits = rnd();
                memcpy(&d, &bits, sizeof(d));
            } while (d != d || d - d != 0);
            lit.type = TRACEQL_LIT_FLOAT;
            lit.u.f = rnd() % 2 ? d : (double)(int64_t)(rnd() % 100000) / 64.0;
            break;
        }
        case 3:
            lit.type = TRACEQL_LIT_DURATION;
            lit.u.dur_ns = (int64_t)rnd() >> (rnd() % 60);
            break;
        case 4:
            lit.type = TRACEQL_LIT_BOOL;
            lit.u.b = rnd() % 2;
            op = rnd() % 2 ? TRACEQL_OP_EQ : TRACEQL_OP_NE;
            break;
        default:
            if (traceql_attr_always_present(a)) {
                lit.type = TRACEQL_LIT_INT;
            } else {
                lit.type = TRACEQL_LIT_NIL;
                op = rnd() % 2 ? TRACEQL_OP_EQ : TRACEQL_OP_NE;
            }
            break;
        }
    }
    struct traceql_node *n = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(traceql_new_cmp(a, op, &lit, &n, &err), TA_OK, "%s", err.msg);
    return n;
}

static struct traceql_node *random_tree(int depth)
{
    unsigned r = (unsigned)(rnd() % 10);
    if (depth >= 4 || r < 4)
        return random_cmp();
    if (r == 4)
        return traceql_new_not(random_tree(depth + 1));
    if (r == 5)
        return traceql_new_bool(rnd() % 2);
    struct traceql_node *n = random_tree(depth + 1);
    int k = 1 + (int)(rnd() % 3);
    for (int i = 0; i < k; i++)
        n = r % 2 ? traceql_new_and(n, random_tree(depth + 1))
                  : traceql_new_or(n, random_tree(depth + 1));
    return n;
}

Test(traceql, parse_of_render_equals_the_tree_for_generated_trees)
{
    for (int i = 0; i < 400; i++) {
        struct traceql_node *n = random_tree(0);
        char *r = render(n);
        struct traceql_node *back = NULL;
        struct ta_err err = { 0 };
        cr_assert_eq(traceql_parse(slice_from_cstr(r), &back, &err), TA_OK, "%s: %s", r, err.msg);
        cr_assert(traceql_equal(n, back), "tree %d: %s", i, r);
        char *r2 = render(back);
        cr_assert_str_eq(r, r2);
        free(r2);
        traceql_free(back);
        free(r);
        traceql_free(n);
    }
}
