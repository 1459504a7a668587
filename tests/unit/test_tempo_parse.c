/* test_tempo_parse.c — decoding of every Tempo answer kind: fixtures from Tempo's docs and test
 * data (tests/fixtures/tempo/), hand-built protobuf, and hostile variants. Expected values were
 * read off the fixture files by hand (and cross-checked with Python's json module), not taken
 * from the decoder's output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/buf.h"
#include "server/tempo_parse.h"

#define FIXTURES "tests/fixtures/tempo/"

/* Reads a fixture into a heap buffer of exactly its size: no NUL after it, so any read past
 * the end is caught by ASan/valgrind. */
static struct slice fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return slice_make(p, (size_t)n);
}

/* A copy of a C string without its NUL. */
static struct slice bytes(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    return slice_make(p, n);
}

static void drop(struct slice s)
{
    free((void *)s.ptr);
}

static void hex16(const uint8_t *id, char out[33])
{
    tempo_trace_id_format(id, out);
}

static void hex8(const uint8_t *id, char out[17])
{
    static const char h[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = h[id[i] >> 4];
        out[2 * i + 1] = h[id[i] & 15];
    }
    out[16] = '\0';
}

static bool slice_is(struct slice s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* ---- version ------------------------------------------------------------------------------- */

Test(tempo_parse, version_accepts_release_dev_and_rc_forms)
{
    struct tempo_version v;
    tempo_version_parse(SLICE_LIT("2.6.1"), &v);
    cr_assert(v.known);
    cr_assert_eq(v.major, 2);
    cr_assert_eq(v.minor, 6);
    cr_assert_eq(v.patch, 1);
    tempo_version_parse(SLICE_LIT("v3.1.0-dev"), &v);
    cr_assert(v.known && v.major == 3 && v.minor == 1 && v.patch == 0);
    cr_assert_str_eq(v.text, "v3.1.0-dev");
    tempo_version_parse(SLICE_LIT("2.10.0-rc.1"), &v);
    cr_assert(v.known && v.major == 2 && v.minor == 10);
    tempo_version_parse(SLICE_LIT("3.0"), &v);
    cr_assert(v.known && v.major == 3 && v.minor == 0 && v.patch == 0);
}

Test(tempo_parse, version_branch_tags_are_unknown_and_count_as_recent)
{
    struct tempo_version v;
    tempo_version_parse(SLICE_LIT("main-ad33aa8"), &v);
    cr_assert_not(v.known);
    cr_assert_str_eq(v.text, "main-ad33aa8");
    cr_assert(tempo_version_at_least(&v, 2, 8));
    tempo_version_parse(SLICE_LIT(""), &v);
    cr_assert_not(v.known);
    tempo_version_parse(SLICE_LIT("2."), &v);
    cr_assert_not(v.known);
    tempo_version_parse(SLICE_LIT("99999999.1"), &v);
    cr_assert_not(v.known, "absurd numbers are not a version");
}

Test(tempo_parse, version_comparison)
{
    struct tempo_version v;
    tempo_version_parse(SLICE_LIT("2.7.2"), &v);
    cr_assert(tempo_version_at_least(&v, 2, 6));
    cr_assert(tempo_version_at_least(&v, 2, 7));
    cr_assert_not(tempo_version_at_least(&v, 2, 8));
    cr_assert_not(tempo_version_at_least(&v, 3, 0));
    tempo_version_parse(SLICE_LIT("3.0.3"), &v);
    cr_assert(tempo_version_at_least(&v, 2, 10));
}

Test(tempo_parse, version_text_is_truncated_and_control_bytes_replaced)
{
    struct tempo_version v;
    tempo_version_parse(
        SLICE_LIT("2.6.0\n\x01zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), &v);
    cr_assert(v.known);
    cr_assert_eq(strlen(v.text), TEMPO_VERSION_TEXT_MAX - 1);
    cr_assert_eq(strncmp(v.text, "2.6.0??zz", 9), 0, "%s", v.text);
}

Test(tempo_parse, buildinfo)
{
    struct slice b = bytes("{\"version\":\"2.9.1\",\"revision\":\"abc\",\"branch\":\"HEAD\","
                           "\"goVersion\":\"go1.23\"}");
    struct tempo_version v;
    cr_assert_eq(tempo_parse_buildinfo(b, &v, NULL), TA_OK);
    cr_assert(v.known && v.major == 2 && v.minor == 9 && v.patch == 1);
    drop(b);
    struct ta_err err;
    b = bytes("{\"version\":7}");
    cr_assert_eq(tempo_parse_buildinfo(b, &v, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "unparsable answer: buildinfo has no string \"version\"");
    drop(b);
    b = bytes("ready");
    cr_assert_eq(tempo_parse_buildinfo(b, &v, &err), TA_UPSTREAM);
    cr_assert_eq(strncmp(err.msg, "unparsable answer: ", 19), 0, "%s", err.msg);
    drop(b);
}

/* ---- metrics fixtures ---------------------------------------------------------------------- */

Test(tempo_parse, instant_fixture_reads_labels_and_absent_value_as_zero)
{
    struct slice b = fixture("CONSTRUCTED.api-metrics-query.instant.json");
    struct tempo_metrics *m = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_metrics(b, &m, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(m->nseries, 2);
    cr_assert_not(m->partial);
    const struct tempo_series *s0 = &m->series[0], *s1 = &m->series[1];
    cr_assert_eq(s0->nlabels, 2);
    cr_assert(slice_is(s0->labels[0].key, "resource.service.name"));
    cr_assert(s0->labels[0].has_value);
    cr_assert_eq(s0->labels[0].value.type, ATTR_STRING);
    cr_assert(slice_is(s0->labels[0].value.u.str, "frontend"));
    const struct tempo_label *st = tempo_series_label(s0, SLICE_LIT("status"));
    cr_assert_not_null(st);
    cr_assert(slice_is(st->value.u.str, "error"));
    cr_assert_null(tempo_series_label(s0, SLICE_LIT("p")));
    cr_assert_float_eq(s0->value, 42.0, 1e-12);
    cr_assert(
        slice_is(tempo_series_label(s1, SLICE_LIT("resource.service.name"))->value.u.str, "cart"));
    cr_assert_float_eq(s1->value, 0.0, 1e-12);
    cr_assert_float_eq(tempo_metrics_sum(m), 42.0, 1e-12);
    tempo_metrics_free(m);
    drop(b);
}

Test(tempo_parse, range_histogram_fixture)
{
    struct slice b = fixture("CONSTRUCTED.api-metrics-query_range.histogram.json");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_OK);
    cr_assert_eq(m->nseries, 2);
    const struct tempo_label *l = tempo_series_label(&m->series[0], SLICE_LIT("__bucket"));
    cr_assert_eq(l->value.type, ATTR_DOUBLE);
    cr_assert_float_eq(l->value.u.d, 0.004194304, 1e-15);
    cr_assert_eq(m->series[0].nsamples, 2);
    cr_assert_eq(m->series[0].samples[0].timestamp_ms, 1700000040000LL);
    cr_assert_float_eq(m->series[0].samples[0].value, 17.0, 1e-12);
    cr_assert_eq(m->series[0].samples[1].timestamp_ms, 1700000100000LL);
    cr_assert_float_eq(m->series[0].samples[1].value, 3.0, 1e-12);
    l = tempo_series_label(&m->series[1], SLICE_LIT("__bucket"));
    cr_assert_float_eq(l->value.u.d, 0.008388608, 1e-15);
    cr_assert_eq(m->series[1].nsamples, 2);
    cr_assert_float_eq(m->series[1].samples[0].value, 5.0, 1e-12);
    cr_assert_float_eq(m->series[1].samples[1].value, 0.0, 1e-12, "absent value is 0");
    tempo_metrics_free(m);
    drop(b);
}

Test(tempo_parse, range_quantile_fixture_ignores_exemplars)
{
    struct slice b = fixture("CONSTRUCTED.api-metrics-query_range.quantile.json");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_OK);
    cr_assert_eq(m->nseries, 1);
    const struct tempo_series *s = &m->series[0];
    cr_assert_eq(s->nlabels, 2);
    cr_assert_float_eq(tempo_series_label(s, SLICE_LIT("p"))->value.u.d, 0.95, 1e-12);
    cr_assert_eq(s->nsamples, 3);
    cr_assert_float_eq(s->samples[0].value, 0.268435456, 1e-15);
    cr_assert_float_eq(s->samples[1].value, 0.0, 1e-15);
    cr_assert_eq(s->samples[2].timestamp_ms, 1700000160000LL);
    cr_assert_float_eq(s->samples[2].value, 0.1932735283, 1e-15);
    tempo_metrics_free(m);
    drop(b);
}

Test(tempo_parse, range_partial_fixture_sets_partial_and_message)
{
    struct slice b = fixture("CONSTRUCTED.api-metrics-query_range.rate-ungrouped-partial.json");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_OK);
    cr_assert(m->partial);
    cr_assert(slice_is(m->message,
                       "Response exceeds maximum series limit of 3, a partial response is "
                       "returned. Warning: the accuracy of each individual value is not "
                       "guaranteed."));
    const struct tempo_series *s = &m->series[0];
    cr_assert(slice_is(tempo_series_label(s, SLICE_LIT("__name__"))->value.u.str, "rate"));
    cr_assert_eq(s->nsamples, 3);
    cr_assert_float_eq(s->samples[0].value, 12.5, 1e-12);
    cr_assert_float_eq(s->samples[1].value, 0.0, 1e-12);
    cr_assert_float_eq(s->samples[2].value, 1e-7, 1e-20);
    tempo_metrics_free(m);
    drop(b);
}

Test(tempo_parse, metrics_empty_answer_has_no_series)
{
    struct slice b = bytes("{\"metrics\":{\"inspectedBytes\":\"10\"}}");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_OK);
    cr_assert_eq(m->nseries, 0);
    cr_assert_float_eq(tempo_metrics_sum(m), 0.0, 0);
    tempo_metrics_free(m);
    drop(b);
}

Test(tempo_parse, metrics_values_as_strings_nan_and_infinity)
{
    struct slice b = bytes(
        "{\"series\":[{\"labels\":[{\"key\":\"a\",\"value\":{\"intValue\":\"-12\"}},"
        "{\"key\":\"b\",\"value\":{\"boolValue\":true}},{\"key\":\"c\",\"value\":{}},"
        "{\"key\":\"d\",\"value\":{\"arrayValue\":{\"values\":[]}}},"
        "{\"key\":\"e\",\"value\":{\"doubleValue\":\"NaN\"}}],\"value\":\"NaN\"},"
        "{\"value\":\"Infinity\"},{\"value\":\"-Infinity\"},{\"value\":\"2.5\"},{\"value\":3},"
        "{\"samples\":[{\"timestampMs\":1700000000000,\"value\":\"1e3\"},{}]}],"
        "\"status\":\"COMPLETE\"}");
    struct tempo_metrics *m = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_metrics(b, &m, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(m->nseries, 6);
    const struct tempo_series *s = &m->series[0];
    cr_assert(isnan(s->value));
    cr_assert_eq(s->nlabels, 5);
    cr_assert_eq(s->labels[0].value.type, ATTR_INT);
    cr_assert_eq(s->labels[0].value.u.i, -12);
    cr_assert_eq(s->labels[1].value.type, ATTR_BOOL);
    cr_assert(s->labels[1].value.u.b);
    cr_assert_not(s->labels[2].has_value, "an unset AnyValue has no value");
    cr_assert_not(s->labels[3].has_value, "arrays are not comparable labels");
    cr_assert(isnan(s->labels[4].value.u.d));
    cr_assert(isinf(m->series[1].value) && m->series[1].value > 0);
    cr_assert(isinf(m->series[2].value) && m->series[2].value < 0);
    cr_assert_float_eq(m->series[3].value, 2.5, 0);
    cr_assert_float_eq(m->series[4].value, 3.0, 0);
    cr_assert_eq(m->series[5].nsamples, 2);
    cr_assert_eq(m->series[5].samples[0].timestamp_ms, 1700000000000LL);
    cr_assert_float_eq(m->series[5].samples[0].value, 1000.0, 0);
    cr_assert_eq(m->series[5].samples[1].timestamp_ms, 0);
    cr_assert_not(m->partial, "only PARTIAL marks a partial answer");
    /* the NaN series is skipped by the sum */
    cr_assert(isinf(tempo_metrics_sum(m)) || isnan(tempo_metrics_sum(m)));
    tempo_metrics_free(m);
    drop(b);
}

Test(tempo_parse, metrics_wrong_types_are_rejected_with_the_field)
{
    static const struct {
        const char *body;
        const char *msg;
    } cases[] = {
        { "{\"series\":{}}", "unparsable answer: \"series\" is not an array" },
        { "{\"series\":[1]}", "unparsable answer: series[0]: not an object" },
        { "{\"series\":[{\"labels\":{}}]}",
          "unparsable answer: series[0]: \"labels\" or \"samples\" is not an array" },
        { "{\"series\":[{},{\"value\":true}]}",
          "unparsable answer: series[1]: \"value\" is not a number" },
        { "{\"series\":[{\"value\":\"12abc\"}]}",
          "unparsable answer: series[0]: \"value\" is not a number" },
        { "{\"series\":[{\"labels\":[{\"key\":1}]}]}",
          "unparsable answer: series[0]: a label has no string \"key\"" },
        { "{\"series\":[{\"labels\":[{\"key\":\"a\",\"value\":{\"intValue\":\"x\"}}]}]}",
          "unparsable answer: series[0]: a label has a malformed \"value\"" },
        { "{\"series\":[{\"samples\":[{\"timestampMs\":\"1.5\"}]}]}",
          "unparsable answer: series[0]: \"timestampMs\" is not an integer" },
        { "{\"series\":[{\"samples\":[{\"value\":[]}]}]}",
          "unparsable answer: series[0]: a sample \"value\" is not a number" },
        { "{\"series\":[{\"samples\":[7]}]}",
          "unparsable answer: series[0]: a sample is not an object" },
        { "{\"status\":{}}", "unparsable answer: \"status\" is not a string" },
        { "[]", "unparsable answer: top level is not an object" },
        { "", "unparsable answer: empty body" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct slice b = bytes(cases[i].body);
        struct tempo_metrics *m = (struct tempo_metrics *)0x1;
        struct ta_err err;
        cr_assert_eq(tempo_parse_metrics(b, &m, &err), TA_UPSTREAM, "%s", cases[i].body);
        cr_assert_null(m);
        cr_assert_str_eq(err.msg, cases[i].msg, "%s", cases[i].body);
        drop(b);
    }
}

Test(tempo_parse, truncated_and_garbage_json_is_unparsable)
{
    struct slice whole = fixture("CONSTRUCTED.api-metrics-query.instant.json");
    for (size_t cut = 1; cut < whole.len; cut += 7) {
        char *p = malloc(cut);
        memcpy(p, whole.ptr, cut);
        struct tempo_metrics *m = NULL;
        struct ta_err err;
        cr_assert_eq(tempo_parse_metrics(slice_make(p, cut), &m, &err), TA_UPSTREAM, "cut at %zu",
                     cut);
        cr_assert_eq(strncmp(err.msg, "unparsable answer: line 1 column ", 33), 0, "%s", err.msg);
        free(p);
    }
    drop(whole);
    struct slice g = bytes("<html>502 Bad Gateway</html>");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(g, &m, NULL), TA_UPSTREAM);
    drop(g);
}

Test(tempo_parse, deep_nesting_is_refused_without_crashing)
{
    size_t depth = 100000;
    char *p = malloc(2 * depth + 16);
    size_t n = 10;
    memcpy(p, "{\"series\":", n);
    for (size_t i = 0; i < depth; i++)
        p[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        p[n++] = ']';
    p[n++] = '}';
    struct tempo_metrics *m = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_metrics(slice_make(p, n), &m, &err), TA_UPSTREAM);
    cr_assert_null(m);
    free(p);
}

Test(tempo_parse, huge_numbers_are_rejected_or_bounded)
{
    struct slice b = bytes("{\"series\":[{\"value\":1e999}]}");
    struct tempo_metrics *m = NULL;
    /* jansson refuses a real that overflows */
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_UPSTREAM);
    drop(b);
    b = bytes("{\"series\":[{\"samples\":[{\"timestampMs\":\"99999999999999999999\"}]}]}");
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_UPSTREAM);
    drop(b);
    b = bytes("{\"series\":[{\"samples\":[{\"timestampMs\":99999999999999999999}]}]}");
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_UPSTREAM);
    drop(b);
    b = bytes("{\"traces\":[{\"traceID\":\"1\",\"durationMs\":4294967296}]}");
    struct tempo_search *s = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_search(b, &s, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "unparsable answer: traces[0]: \"durationMs\" is not a uint32");
    drop(b);
}

static struct slice many(const char *head, const char *item, size_t count, const char *tail)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    cr_assert_eq(buf_adds(&b, head), TA_OK);
    for (size_t i = 0; i < count; i++) {
        if (i)
            cr_assert_eq(buf_addc(&b, ','), TA_OK);
        cr_assert_eq(buf_adds(&b, item), TA_OK);
    }
    cr_assert_eq(buf_adds(&b, tail), TA_OK);
    size_t len;
    char *p = buf_take(&b, &len);
    return slice_make(p, len);
}

Test(tempo_parse, series_limit_and_one_past)
{
    struct slice at = many("{\"series\":[", "{}", TEMPO_PARSE_MAX_SERIES, "]}");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(at, &m, NULL), TA_OK);
    cr_assert_eq(m->nseries, TEMPO_PARSE_MAX_SERIES);
    tempo_metrics_free(m);
    drop(at);
    struct slice past = many("{\"series\":[", "{}", TEMPO_PARSE_MAX_SERIES + 1, "]}");
    struct ta_err err;
    cr_assert_eq(tempo_parse_metrics(past, &m, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "unparsable answer: 10001 series, more than 10000");
    drop(past);
}

Test(tempo_parse, label_limit_and_one_past)
{
    struct slice at =
        many("{\"series\":[{\"labels\":[", "{\"key\":\"k\"}", TEMPO_PARSE_MAX_LABELS, "]}]}");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(at, &m, NULL), TA_OK);
    cr_assert_eq(m->series[0].nlabels, TEMPO_PARSE_MAX_LABELS);
    tempo_metrics_free(m);
    drop(at);
    struct slice past =
        many("{\"series\":[{\"labels\":[", "{\"key\":\"k\"}", TEMPO_PARSE_MAX_LABELS + 1, "]}]}");
    struct ta_err err;
    cr_assert_eq(tempo_parse_metrics(past, &m, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "unparsable answer: series[0]: too many labels");
    drop(past);
}

Test(tempo_parse, sample_limit_and_one_past)
{
    struct slice at = many("{\"series\":[{\"samples\":[", "{}", TEMPO_PARSE_MAX_SAMPLES, "]}]}");
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(at, &m, NULL), TA_OK);
    cr_assert_eq(m->series[0].nsamples, TEMPO_PARSE_MAX_SAMPLES);
    tempo_metrics_free(m);
    drop(at);
    struct slice past =
        many("{\"series\":[{\"samples\":[", "{}", TEMPO_PARSE_MAX_SAMPLES + 1, "]}]}");
    struct ta_err err;
    cr_assert_eq(tempo_parse_metrics(past, &m, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "unparsable answer: more than 200000 samples");
    drop(past);
}

Test(tempo_parse, label_strings_keep_embedded_nul)
{
    static const char body[] = "{\"series\":[{\"labels\":[{\"key\":\"a\\u0000b\",\"value\":"
                               "{\"stringValue\":\"x\\u0000y\"}}]}]}";
    struct slice b = bytes(body);
    struct tempo_metrics *m = NULL;
    cr_assert_eq(tempo_parse_metrics(b, &m, NULL), TA_OK);
    const struct tempo_label *l = &m->series[0].labels[0];
    cr_assert_eq(l->key.len, 3);
    cr_assert_eq(memcmp(l->key.ptr, "a\0b", 3), 0);
    cr_assert_eq(l->value.u.str.len, 3);
    cr_assert_eq(memcmp(l->value.u.str.ptr, "x\0y", 3), 0);
    cr_assert_null(tempo_series_label(&m->series[0], SLICE_LIT("a")));
    tempo_metrics_free(m);
    drop(b);
}

/* ---- search -------------------------------------------------------------------------------- */

Test(tempo_parse, search_fixture_service_name)
{
    struct slice b = fixture("api-search.traceql-service-name.json");
    struct tempo_search *s = NULL;
    cr_assert_eq(tempo_parse_search(b, &s, NULL), TA_OK);
    cr_assert_eq(s->ntraces, 1);
    char h[33];
    hex16(s->traces[0].trace_id, h);
    cr_assert_str_eq(h, "5b8efff798038103d269b633813fc700");
    cr_assert_eq(s->traces[0].start_ns, 1694718625557000000LL);
    cr_assert_eq(s->traces[0].duration_ms, 10000);
    cr_assert(slice_is(s->traces[0].root_service, "my.service"));
    tempo_search_free(s);
    drop(b);
}

Test(tempo_parse, search_fixture_status_error)
{
    struct slice b = fixture("api-search.traceql-status-error.json");
    struct tempo_search *s = NULL;
    cr_assert_eq(tempo_parse_search(b, &s, NULL), TA_OK);
    cr_assert_eq(s->ntraces, 1);
    char h[33];
    hex16(s->traces[0].trace_id, h);
    cr_assert_str_eq(h, "2f3e0cee77ae5dc9c17ade3689eb2e54");
    cr_assert_eq(s->traces[0].start_ns, 1684778327699392724LL);
    cr_assert_eq(s->traces[0].duration_ms, 557);
    tempo_search_free(s);
    drop(b);
}

Test(tempo_parse, search_fixture_short_ids_are_left_padded)
{
    struct slice b = fixture("api-search.tags-mode.json");
    struct tempo_search *s = NULL;
    cr_assert_eq(tempo_parse_search(b, &s, NULL), TA_OK);
    cr_assert_eq(s->ntraces, 2);
    char h[33];
    hex16(s->traces[0].trace_id, h);
    cr_assert_str_eq(h, "0000000000000000d6e9329d67b6146a");
    hex16(s->traces[1].trace_id, h);
    cr_assert_str_eq(h, "00000000000000001b1ba462b409200d");
    cr_assert_eq(s->traces[1].duration_ms, 611);
    tempo_search_free(s);
    drop(b);
}

Test(tempo_parse, tag_fixtures_are_not_search_results)
{
    static const char *const names[] = { "api-search-tags.json", "api-v2-search-tags.json",
                                         "api-search-tag-values.json",
                                         "api-v2-search-tag-values.json" };
    for (size_t i = 0; i < 4; i++) {
        struct slice b = fixture(names[i]);
        struct tempo_search *s = NULL;
        cr_assert_eq(tempo_parse_search(b, &s, NULL), TA_OK, "%s", names[i]);
        cr_assert_eq(s->ntraces, 0);
        tempo_search_free(s);
        drop(b);
    }
}

Test(tempo_parse, search_removes_duplicates_of_padded_and_stripped_ids)
{
    struct slice b = bytes("{\"traces\":[{\"traceID\":\"abc\"},{\"traceID\":\"0ABC\"},"
                           "{\"traceID\":\"00000000000000000000000000000abc\"},"
                           "{\"traceID\":\"abd\",\"startTimeUnixNano\":12}]}");
    struct tempo_search *s = NULL;
    cr_assert_eq(tempo_parse_search(b, &s, NULL), TA_OK);
    cr_assert_eq(s->ntraces, 2);
    char h[33];
    hex16(s->traces[0].trace_id, h);
    cr_assert_str_eq(h, "00000000000000000000000000000abc");
    hex16(s->traces[1].trace_id, h);
    cr_assert_str_eq(h, "00000000000000000000000000000abd");
    cr_assert_eq(s->traces[1].start_ns, 12);
    tempo_search_free(s);
    drop(b);
}

Test(tempo_parse, search_errors)
{
    static const struct {
        const char *body;
        const char *msg;
    } cases[] = {
        { "{\"traces\":{}}", "unparsable answer: \"traces\" is not an array" },
        { "{\"traces\":[3]}", "unparsable answer: traces[0] is not an object" },
        { "{\"traces\":[{}]}", "unparsable answer: traces[0] has no string \"traceID\"" },
        { "{\"traces\":[{\"traceID\":\"xyz\"}]}",
          "unparsable answer: traces[0]: trace id: invalid hex digit at position 2" },
        { "{\"traces\":[{\"traceID\":\"\"}]}", "unparsable answer: traces[0]: empty trace id" },
        { "{\"traces\":[{\"traceID\":\"1\",\"startTimeUnixNano\":\"-5\"}]}",
          "unparsable answer: traces[0]: \"startTimeUnixNano\" is not an unsigned integer" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct slice b = bytes(cases[i].body);
        struct tempo_search *s = (struct tempo_search *)0x1;
        struct ta_err err;
        cr_assert_eq(tempo_parse_search(b, &s, &err), TA_UPSTREAM, "%s", cases[i].body);
        cr_assert_null(s);
        cr_assert_str_eq(err.msg, cases[i].msg);
        drop(b);
    }
}

Test(tempo_parse, search_limit_and_one_past)
{
    struct buf b;
    buf_init(&b, 8u << 20);
    cr_assert_eq(buf_adds(&b, "{\"traces\":["), TA_OK);
    for (int i = 0; i <= TEMPO_PARSE_MAX_SEARCH; i++)
        cr_assert_eq(buf_addf(&b, "%s{\"traceID\":\"%x\"}", i ? "," : "", i + 1), TA_OK);
    cr_assert_eq(buf_adds(&b, "]}"), TA_OK);
    struct tempo_search *s = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_search(buf_slice(&b), &s, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "unparsable answer: 10001 traces, more than 10000");
    /* drop the last one: exactly at the limit */
    char *last = strrchr(b.data, ',');
    b.len = (size_t)(last - b.data);
    cr_assert_eq(buf_adds(&b, "]}"), TA_OK);
    cr_assert_eq(tempo_parse_search(buf_slice(&b), &s, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(s->ntraces, TEMPO_PARSE_MAX_SEARCH);
    tempo_search_free(s);
    buf_free(&b);
}

Test(tempo_parse, trace_id_forms)
{
    uint8_t id[16];
    char h[33];
    struct ta_err err;
    cr_assert_eq(tempo_trace_id_parse(SLICE_LIT("1"), id, NULL), TA_OK);
    hex16(id, h);
    cr_assert_str_eq(h, "00000000000000000000000000000001");
    cr_assert_eq(tempo_trace_id_parse(SLICE_LIT("FfF"), id, NULL), TA_OK);
    hex16(id, h);
    cr_assert_str_eq(h, "00000000000000000000000000000fff");
    cr_assert_eq(tempo_trace_id_parse(SLICE_LIT("0123456789abcdef0123456789ABCDEF"), id, NULL),
                 TA_OK);
    hex16(id, h);
    cr_assert_str_eq(h, "0123456789abcdef0123456789abcdef");
    cr_assert_eq(tempo_trace_id_parse(SLICE_LIT("0123456789abcdef0123456789abcdef0"), id, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "trace id of 33 hex digits, more than 32");
    cr_assert_eq(tempo_trace_id_parse(SLICE_LIT("12g4"), id, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "trace id: invalid hex digit at position 2");
    cr_assert_eq(tempo_trace_id_parse(slice_make("1\0", 2), id, &err), TA_INVALID,
                 "an embedded NUL is not a hex digit");
}

/* ---- traces -------------------------------------------------------------------------------- */

static void check_docs_span(const struct tempo_trace *t)
{
    cr_assert_eq(t->nspans, 1);
    const struct span *s = &t->spans[0];
    char h[33], h8[17];
    hex16(s->trace_id, h);
    cr_assert_str_eq(h, "5b8efff798038103d269b633813fc700", "base64 W47/95gDgQPSabYzgT/HAA==");
    hex8(s->span_id, h8);
    cr_assert_str_eq(h8, "eee19b7ec3c1b100", "base64 7uGbfsPBsQA=");
    cr_assert_not(span_has_parent(s));
    cr_assert(slice_is(s->name, "I am a span!"));
    cr_assert_eq(s->kind, SPAN_KIND_SERVER);
    cr_assert_eq(s->status, SPAN_STATUS_UNSET);
    cr_assert_eq(s->start_ns, 1689969302000000000LL);
    cr_assert_eq(s->end_ns, 1689970000000000000LL);
    cr_assert_eq(s->attrs.n, 1);
    cr_assert(slice_is(s->attrs.items[0].key, "my.span.attr"));
    cr_assert(slice_is(s->attrs.items[0].value.u.str, "some value"));
    const struct span_attr *svc = span_attr_find(&s->resource, SLICE_LIT("service.name"));
    cr_assert_not_null(svc);
    cr_assert(slice_is(svc->value.u.str, "my.service"));
}

Test(tempo_parse, trace_v2_fixture)
{
    struct slice b = fixture("api-v2-traces.json");
    struct tempo_trace *t = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_json(b, &t, &err), TA_OK, "%s", err.msg);
    check_docs_span(t);
    cr_assert_not(t->partial);
    tempo_trace_free(t);
    drop(b);
}

Test(tempo_parse, trace_v1_batches_fixture)
{
    struct slice b = fixture("api-traces-v1.batches.json");
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_json(b, &t, NULL), TA_OK);
    check_docs_span(t);
    tempo_trace_free(t);
    drop(b);
}

Test(tempo_parse, trace_servicegraphs_fixture_kinds_statuses_and_parents)
{
    struct slice b = fixture("trace-jsonpb.enum-strings.servicegraphs-testdata.json");
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_json(b, &t, NULL), TA_OK);
    cr_assert_eq(t->nspans, 15);
    int kinds[6] = { 0 }, statuses[3] = { 0 }, roots = 0;
    uint32_t attrs = 0;
    for (size_t i = 0; i < t->nspans; i++) {
        kinds[t->spans[i].kind]++;
        statuses[t->spans[i].status]++;
        roots += !span_has_parent(&t->spans[i]);
        attrs += t->spans[i].attrs.n;
    }
    cr_assert_eq(kinds[SPAN_KIND_CLIENT], 6);
    cr_assert_eq(kinds[SPAN_KIND_INTERNAL], 8);
    cr_assert_eq(kinds[SPAN_KIND_SERVER], 1);
    cr_assert_eq(statuses[SPAN_STATUS_ERROR], 3);
    cr_assert_eq(statuses[SPAN_STATUS_OK], 3);
    cr_assert_eq(statuses[SPAN_STATUS_UNSET], 9);
    cr_assert_eq(roots, 1);
    cr_assert_eq(attrs, 72);
    /* span 0: requester, client, error; span 1: tcp.connect, child of span 0 */
    const struct span *s0 = &t->spans[0], *s1 = &t->spans[1];
    char h8[17];
    cr_assert(slice_is(s0->name, "requester"));
    hex8(s0->span_id, h8);
    cr_assert_str_eq(h8, "9007fea484554ad7");
    cr_assert_eq(span_duration_ns(s0), 15317504);
    cr_assert(slice_is(s1->name, "tcp.connect"));
    hex8(s1->parent_span_id, h8);
    cr_assert_str_eq(h8, "9007fea484554ad7");
    cr_assert_eq(span_duration_ns(s1), 1900544);
    cr_assert(
        slice_is(span_attr_find(&s1->attrs, SLICE_LIT("net.peer.port"))->value.u.str, "4000"));
    cr_assert(slice_is(span_attr_find(&s0->resource, SLICE_LIT("service.name"))->value.u.str,
                       "mythical-requester"));
    tempo_trace_free(t);
    drop(b);
}

Test(tempo_parse, trace_vulture_fixture_absent_kind_and_int_strings)
{
    struct slice b = fixture("trace-jsonpb.resourceSpans.vulture-testdata.json");
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_json(b, &t, NULL), TA_OK);
    cr_assert_eq(t->nspans, 6);
    int roots = 0;
    for (size_t i = 0; i < t->nspans; i++) {
        cr_assert_eq(t->spans[i].kind, SPAN_KIND_UNSPECIFIED);
        cr_assert_eq(t->spans[i].status, SPAN_STATUS_UNSET);
        roots += !span_has_parent(&t->spans[i]);
    }
    cr_assert_eq(roots, 2);
    const struct span *s0 = &t->spans[0];
    cr_assert(slice_is(s0->name, "vulture-68"));
    cr_assert_eq(span_duration_ns(s0), 92000);
    const struct span_attr *code = span_attr_find(&s0->attrs, SLICE_LIT("http.status_code"));
    cr_assert_not_null(code);
    cr_assert_eq(code->value.type, ATTR_INT);
    cr_assert_eq(code->value.u.i, 110);
    const struct span_attr *pint =
        span_attr_find(&s0->resource, SLICE_LIT("vulture-process-int-01"));
    cr_assert_eq(pint->value.type, ATTR_INT);
    cr_assert_eq(pint->value.u.i, 164005);
    tempo_trace_free(t);
    drop(b);
}

Test(tempo_parse, trace_v2_empty_trace_and_partial)
{
    struct slice b = bytes("{\"trace\":{},\"metrics\":{\"inspectedBytes\":\"0\"}}");
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_json(b, &t, NULL), TA_OK);
    cr_assert_eq(t->nspans, 0);
    tempo_trace_free(t);
    drop(b);
    b = bytes("{}");
    cr_assert_eq(tempo_parse_trace_json(b, &t, NULL), TA_OK);
    cr_assert_eq(t->nspans, 0);
    tempo_trace_free(t);
    drop(b);
    b = bytes("{\"trace\":{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":"
              "\"AAAAAAAAAAE=\",\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"5\"}]}]}]},"
              "\"status\":\"PARTIAL\",\"message\":\"Trace exceeds maximum size of 5 bytes, a "
              "partial trace is returned\"}");
    cr_assert_eq(tempo_parse_trace_json(b, &t, NULL), TA_OK);
    cr_assert(t->partial);
    cr_assert(
        slice_is(t->message, "Trace exceeds maximum size of 5 bytes, a partial trace is returned"));
    cr_assert_eq(t->nspans, 1);
    cr_assert_eq(t->spans[0].start_ns, 10);
    cr_assert_eq(t->spans[0].end_ns, 10, "end before start is clamped to start");
    cr_assert_eq(t->spans[0].span_id[7], 1);
    cr_assert_eq(t->spans[0].resource.n, 0);
    tempo_trace_free(t);
    drop(b);
}

Test(tempo_parse, trace_numeric_enums_hex_ids_and_number_times)
{
    struct slice b = bytes(
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"1112131415161718\",\"parentSpanId\":"
        "\"\",\"kind\":2,\"status\":{\"code\":2},\"startTimeUnixNano\":1000,\"endTimeUnixNano\":"
        "3500,\"attributes\":[{\"key\":\"d\",\"value\":{\"doubleValue\":1.5}},{\"key\":\"b\","
        "\"value\":{\"boolValue\":false}},{\"key\":\"arr\",\"value\":{\"arrayValue\":{}}},"
        "{\"key\":\"i\",\"value\":{\"intValue\":-7}}]}]}]}]}");
    struct tempo_trace *t = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_json(b, &t, &err), TA_OK, "%s", err.msg);
    const struct span *s = &t->spans[0];
    char h[33], h8[17];
    hex16(s->trace_id, h);
    cr_assert_str_eq(h, "0102030405060708090a0b0c0d0e0f10");
    hex8(s->span_id, h8);
    cr_assert_str_eq(h8, "1112131415161718");
    cr_assert_not(span_has_parent(s));
    cr_assert_eq(s->kind, SPAN_KIND_SERVER);
    cr_assert_eq(s->status, SPAN_STATUS_ERROR);
    cr_assert_eq(span_duration_ns(s), 2500);
    cr_assert_eq(s->attrs.n, 3, "the array attribute is skipped");
    cr_assert_eq(s->attrs.items[0].value.type, ATTR_DOUBLE);
    cr_assert_float_eq(s->attrs.items[0].value.u.d, 1.5, 0);
    cr_assert_eq(s->attrs.items[1].value.type, ATTR_BOOL);
    cr_assert_not(s->attrs.items[1].value.u.b);
    cr_assert_eq(s->attrs.items[2].value.u.i, -7);
    tempo_trace_free(t);
    drop(b);
}

Test(tempo_parse, trace_errors_name_the_span_and_field)
{
    static const struct {
        const char *body;
        enum ta_rc rc;
        const char *msg;
    } cases[] = {
        { "{\"trace\":[]}", TA_UPSTREAM, "unparsable answer: \"trace\" is not an object" },
        { "{\"resourceSpans\":{}}", TA_UPSTREAM,
          "unparsable answer: resourceSpans: expected an array" },
        { "{\"batches\":[7]}", TA_UPSTREAM,
          "unparsable answer: batches[0]: expected a ResourceSpans object" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{},{\"kind\":\"SERVER\"}]}]}]}",
          TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[1]: unknown span kind" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":9}]}]}]}", TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0]: unknown span kind" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"AAE=\"}]}]}]}",
          TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0]: span id must be 8 bytes, "
          "got 2" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"!!\"}]}]}]}",
          TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0]: trace id is neither hex "
          "nor base64 of 16 bytes" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"-1\"}]}]}]}",
          TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: not an "
          "unsigned integer: '-1'" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"endTimeUnixNano\":"
          "\"9223372036854775808\"}]}]}]}",
          TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0]: end time is over 2^63-1 ns" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"status\":[]}]}]}]}", TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0].status: expected an object" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"status\":{\"code\":\"BAD\"}}]}]}]}",
          TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0]: unknown status code" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":5}]}]}]}", TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0].name: expected a string" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":{}}]}]}]}", TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0].attributes: expected an "
          "array" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\","
          "\"value\":{\"boolValue\":1}}]}]}]}]}",
          TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value."
          "boolValue: expected true or false" },
        { "{\"resourceSpans\":[{\"resource\":7}]}", TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].resource: expected an object" },
        { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":7}]}]}", TA_UPSTREAM,
          "unparsable answer: resourceSpans[0].scopeSpans[0].spans: expected an array" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct slice b = bytes(cases[i].body);
        struct tempo_trace *t = (struct tempo_trace *)0x1;
        struct ta_err err;
        cr_assert_eq(tempo_parse_trace_json(b, &t, &err), cases[i].rc, "%s", cases[i].body);
        cr_assert_null(t);
        cr_assert_str_eq(err.msg, cases[i].msg, "%s", cases[i].body);
        drop(b);
    }
}

Test(tempo_parse, trace_span_limit_and_one_past)
{
    const char *head = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[";
    struct slice at = many(head, "{}", TEMPO_PARSE_MAX_SPANS, "]}]}]}");
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_json(at, &t, NULL), TA_OK);
    cr_assert_eq(t->nspans, TEMPO_PARSE_MAX_SPANS);
    tempo_trace_free(t);
    drop(at);
    struct slice past = many(head, "{}", TEMPO_PARSE_MAX_SPANS + 1, "]}]}]}");
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_json(past, &t, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "trace has more than 100000 spans");
    cr_assert_null(t);
    drop(past);
}

Test(tempo_parse, trace_attribute_limit_and_one_past)
{
    const char *head = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[";
    const char *item = "{\"key\":\"k\",\"value\":{\"intValue\":\"1\"}}";
    struct slice at = many(head, item, TEMPO_PARSE_MAX_SPAN_ATTRS, "]}]}]}]}");
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_json(at, &t, NULL), TA_OK);
    cr_assert_eq(t->spans[0].attrs.n, TEMPO_PARSE_MAX_SPAN_ATTRS);
    tempo_trace_free(t);
    drop(at);
    struct slice past = many(head, item, TEMPO_PARSE_MAX_SPAN_ATTRS + 1, "]}]}]}]}");
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_json(past, &t, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg,
                     "unparsable answer: resourceSpans[0].scopeSpans[0].spans[0].attributes: more "
                     "than 1024 attributes");
    drop(past);
}

/* ---- protobuf ------------------------------------------------------------------------------ */

/* A tiny protobuf writer for building test bodies. */
struct pbw {
    uint8_t b[4096];
    size_t n;
};

static void w_varint(struct pbw *w, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        w->b[w->n++] = c | (v ? 0x80 : 0);
    } while (v);
}

static void w_tag(struct pbw *w, uint32_t f, int wt)
{
    w_varint(w, (uint64_t)f << 3 | (uint64_t)wt);
}

static void w_bytes(struct pbw *w, uint32_t f, const void *p, size_t n)
{
    w_tag(w, f, 2);
    w_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_msg(struct pbw *w, uint32_t f, const struct pbw *m)
{
    w_bytes(w, f, m->b, m->n);
}

static void w_fixed64(struct pbw *w, uint32_t f, uint64_t v)
{
    w_tag(w, f, 1);
    for (int i = 0; i < 8; i++)
        w->b[w->n++] = (uint8_t)(v >> (8 * i));
}

static void w_kv_str(struct pbw *w, uint32_t f, const char *k, const char *v)
{
    struct pbw any = { .n = 0 }, kv = { .n = 0 };
    w_bytes(&any, 1, v, strlen(v));
    w_bytes(&kv, 1, k, strlen(k));
    w_msg(&kv, 2, &any);
    w_msg(w, f, &kv);
}

/* TraceByIDResponse with one resource (service.name=svc) and two spans: a server span (kind 2,
 * status error, attribute http.route="/x", int attribute n=-3, double d=0.25, bool b=true)
 * and its client child (kind 3). The resource comes after the scope spans on the wire. */
static struct pbw *build_proto(bool wrapped, bool partial)
{
    static struct pbw out;
    struct pbw span1 = { .n = 0 }, span2 = { .n = 0 }, scope = { .n = 0 }, rs = { .n = 0 },
               res = { .n = 0 }, trace = { .n = 0 }, st = { .n = 0 };
    uint8_t tid[16], sid1[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, sid2[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
    for (int i = 0; i < 16; i++)
        tid[i] = (uint8_t)(0xa0 + i);
    w_bytes(&span1, 1, tid, 16);
    w_bytes(&span1, 2, sid1, 8);
    w_bytes(&span1, 5, "GET /x", 6);
    w_tag(&span1, 6, 0);
    w_varint(&span1, 2);
    w_fixed64(&span1, 7, 1700000000000000000ULL);
    w_fixed64(&span1, 8, 1700000000250000000ULL);
    w_kv_str(&span1, 9, "http.route", "/x");
    {
        struct pbw any = { .n = 0 }, kv = { .n = 0 };
        w_tag(&any, 3, 0);
        w_varint(&any, (uint64_t)(int64_t)-3);
        w_bytes(&kv, 1, "n", 1);
        w_msg(&kv, 2, &any);
        w_msg(&span1, 9, &kv);
        struct pbw any2 = { .n = 0 }, kv2 = { .n = 0 };
        double d = 0.25;
        uint64_t bits;
        memcpy(&bits, &d, 8);
        w_fixed64(&any2, 4, bits);
        w_bytes(&kv2, 1, "d", 1);
        w_msg(&kv2, 2, &any2);
        w_msg(&span1, 9, &kv2);
        struct pbw any3 = { .n = 0 }, kv3 = { .n = 0 };
        w_tag(&any3, 2, 0);
        w_varint(&any3, 1);
        w_bytes(&kv3, 1, "b", 1);
        w_msg(&kv3, 2, &any3);
        w_msg(&span1, 9, &kv3);
    }
    w_tag(&st, 3, 0);
    w_varint(&st, 2);
    w_bytes(&st, 2, "boom", 4);
    w_msg(&span1, 15, &st);
    w_tag(&span1, 16, 5); /* flags: fixed32, skipped */
    for (int i = 0; i < 4; i++)
        span1.b[span1.n++] = 0;
    w_bytes(&span2, 1, tid, 16);
    w_bytes(&span2, 2, sid2, 8);
    w_bytes(&span2, 4, sid1, 8);
    w_tag(&span2, 6, 0);
    w_varint(&span2, 3);
    w_fixed64(&span2, 7, 1700000000010000000ULL);
    w_fixed64(&span2, 8, 1700000000110000000ULL);
    w_msg(&scope, 2, &span1);
    w_msg(&scope, 2, &span2);
    w_msg(&rs, 2, &scope);
    w_kv_str(&res, 1, "service.name", "svc");
    w_msg(&rs, 1, &res);
    w_msg(&trace, 1, &rs);
    out.n = 0;
    if (!wrapped) {
        out = trace;
        return &out;
    }
    w_msg(&out, 1, &trace);
    if (partial) {
        w_tag(&out, 3, 0);
        w_varint(&out, 1);
        w_bytes(&out, 4, "cut", 3);
    }
    return &out;
}

static void check_proto_trace(const struct tempo_trace *t)
{
    cr_assert_eq(t->nspans, 2);
    const struct span *s = &t->spans[0], *c = &t->spans[1];
    char h[33];
    hex16(s->trace_id, h);
    cr_assert_str_eq(h, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    cr_assert_eq(s->span_id[0], 1);
    cr_assert_eq(s->span_id[7], 8);
    cr_assert_not(span_has_parent(s));
    cr_assert(slice_is(s->name, "GET /x"));
    cr_assert_eq(s->kind, SPAN_KIND_SERVER);
    cr_assert_eq(s->status, SPAN_STATUS_ERROR);
    cr_assert_eq(span_duration_ns(s), 250000000);
    cr_assert_eq(s->attrs.n, 4);
    cr_assert(slice_is(span_attr_find(&s->attrs, SLICE_LIT("http.route"))->value.u.str, "/x"));
    cr_assert_eq(span_attr_find(&s->attrs, SLICE_LIT("n"))->value.u.i, -3);
    cr_assert_float_eq(span_attr_find(&s->attrs, SLICE_LIT("d"))->value.u.d, 0.25, 0);
    cr_assert(span_attr_find(&s->attrs, SLICE_LIT("b"))->value.u.b);
    cr_assert(slice_is(span_attr_find(&s->resource, SLICE_LIT("service.name"))->value.u.str, "svc"),
              "a resource after the spans on the wire still applies");
    cr_assert_eq(c->kind, SPAN_KIND_CLIENT);
    cr_assert_eq(memcmp(c->parent_span_id, s->span_id, 8), 0);
    cr_assert_eq(span_duration_ns(c), 100000000);
    cr_assert_eq(c->resource.n, 1);
}

Test(tempo_parse, proto_trace_by_id_response)
{
    struct pbw *p = build_proto(true, false);
    struct tempo_trace *t = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_proto(slice_make((const char *)p->b, p->n), true, &t, &err),
                 TA_OK, "%s", err.msg);
    check_proto_trace(t);
    cr_assert_not(t->partial);
    tempo_trace_free(t);
}

Test(tempo_parse, proto_partial_and_bare_trace)
{
    struct pbw *p = build_proto(true, true);
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_proto(slice_make((const char *)p->b, p->n), true, &t, NULL),
                 TA_OK);
    cr_assert(t->partial);
    cr_assert(slice_is(t->message, "cut"));
    tempo_trace_free(t);
    p = build_proto(false, false);
    cr_assert_eq(tempo_parse_trace_proto(slice_make((const char *)p->b, p->n), false, &t, NULL),
                 TA_OK);
    check_proto_trace(t);
    tempo_trace_free(t);
}

Test(tempo_parse, proto_repeated_trace_fields_merge_and_the_body_is_copied)
{
    /* protobuf merges a repeated message field: two trace fields are one Trace with both
     * ResourceSpans; the last message wins */
    struct pbw trace = *build_proto(false, false), out = { .n = 0 };
    w_msg(&out, 1, &trace);
    w_bytes(&out, 4, "first", 5);
    w_msg(&out, 1, &trace);
    w_tag(&out, 3, 0);
    w_varint(&out, 1);
    w_bytes(&out, 4, "last", 4);
    char *body = malloc(out.n);
    memcpy(body, out.b, out.n);
    struct tempo_trace *t = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_proto(slice_make(body, out.n), true, &t, &err), TA_OK, "%s",
                 err.msg);
    memset(body, 0xee, out.n);
    free(body); /* the trace must not borrow from the caller's body */
    cr_assert_eq(t->nspans, 4);
    cr_assert(t->partial);
    cr_assert(slice_is(t->message, "last"));
    cr_assert(slice_is(t->spans[2].name, "GET /x"));
    cr_assert(slice_is(
        span_attr_find(&t->spans[3].resource, SLICE_LIT("service.name"))->value.u.str, "svc"));
    tempo_trace_free(t);
}

Test(tempo_parse, proto_status_with_the_wrong_wire_type_fails)
{
    struct pbw out = { .n = 0 };
    w_bytes(&out, 3, "x", 1);
    struct tempo_trace *t = (struct tempo_trace *)0x1;
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_proto(slice_make((const char *)out.b, out.n), true, &t, &err),
                 TA_UPSTREAM);
    cr_assert_null(t);
    cr_assert_str_eq(err.msg,
                     "unparsable answer: TraceByIDResponse: field 3: wire type 2, expected 0 at "
                     "offset 1");
}

Test(tempo_parse, trace_json_instrumentation_library_spans_is_read)
{
    struct slice b = bytes("{\"batches\":[{\"instrumentationLibrarySpans\":[{\"spans\":[{\"name\":"
                           "\"old\"}]}]}]}");
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_json(b, &t, NULL), TA_OK);
    cr_assert_eq(t->nspans, 1);
    cr_assert(slice_is(t->spans[0].name, "old"));
    tempo_trace_free(t);
    drop(b);
}

Test(tempo_parse, proto_empty_body_is_an_empty_trace)
{
    struct tempo_trace *t = NULL;
    cr_assert_eq(tempo_parse_trace_proto(SLICE_NULL, true, &t, NULL), TA_OK);
    cr_assert_eq(t->nspans, 0);
    tempo_trace_free(t);
}

Test(tempo_parse, proto_every_truncation_fails_cleanly)
{
    struct pbw *p = build_proto(true, true);
    int ok = 0;
    for (size_t cut = 1; cut < p->n; cut++) {
        uint8_t *copy = malloc(cut);
        memcpy(copy, p->b, cut);
        struct tempo_trace *t = NULL;
        enum ta_rc rc =
            tempo_parse_trace_proto(slice_make((const char *)copy, cut), true, &t, NULL);
        cr_assert(rc == TA_OK || rc == TA_UPSTREAM, "cut %zu: %d", cut, rc);
        if (rc == TA_OK) {
            ok++; /* a cut exactly between top-level fields is a valid shorter message */
            tempo_trace_free(t);
        } else {
            cr_assert_null(t);
        }
        free(copy);
    }
    cr_assert_lt(ok, 3);
}

Test(tempo_parse, proto_hostile_encodings)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *msg;
    } cases[] = {
        { "\x0b", 1, /* group */
          "unparsable answer: TraceByIDResponse: field 1: group wire type 3 is not supported at "
          "offset 0" },
        { "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
          "unparsable answer: TraceByIDResponse: field 1: wire type 0, expected 2 at offset 1" },
        /* ^ the trace field as an 11-byte varint: its wire type is refused first */
        { "\x0a\x05\x0a", 3,
          "unparsable answer: TraceByIDResponse: length 5 at offset 1 runs past the end (1 "
          "bytes left)" },
        { "\x00", 1, /* field 0 */
          "unparsable answer: TraceByIDResponse: invalid field number 0 at offset 0" },
        { "\x0a\x04\x0a\x02\x12\x05", 6,
          "unparsable answer: trace: length 5 at offset 3 runs past the end (0 bytes "
          "left)" },
        { "\x0a\x08\x0a\x06\x12\x04\x12\x02\x30\x09", 10,
          "unparsable answer: trace: resource_spans[0].scope_spans[0].spans[0]: unknown span "
          "kind" },
        { "\x0a\x08\x0a\x06\x12\x04\x12\x02\x12\x01", 10,
          "unparsable answer: trace: length 1 at offset 7 runs past the end (0 bytes left)" },
        { "\x0a\x09\x0a\x07\x12\x05\x12\x03\x12\x01\x07", 11,
          "unparsable answer: trace: resource_spans[0].scope_spans[0].spans[0]: span id must "
          "be 8 bytes, got 1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tempo_trace *t = (struct tempo_trace *)0x1;
        struct ta_err err;
        cr_assert_eq(
            tempo_parse_trace_proto(slice_make(cases[i].bytes, cases[i].n), true, &t, &err),
            TA_UPSTREAM, "case %zu", i);
        cr_assert_null(t);
        cr_assert_str_eq(err.msg, cases[i].msg, "case %zu", i);
    }
}

/* TraceByIDResponse{trace{resourceSpans{scopeSpans{n empty spans}}}}; *len gets the size. */
static uint8_t *proto_with_spans(size_t n, size_t *len)
{
    size_t inner = 2 * n; /* "12 00" per empty span */
    struct pbw t1 = { .n = 0 }, t2 = { .n = 0 }, t3 = { .n = 0 };
    w_tag(&t3, 2, 2);
    w_varint(&t3, inner); /* ResourceSpans.scopeSpans */
    size_t l_rs = t3.n + inner;
    w_tag(&t2, 1, 2);
    w_varint(&t2, l_rs); /* Trace.resourceSpans */
    size_t l_trace = t2.n + l_rs;
    w_tag(&t1, 1, 2);
    w_varint(&t1, l_trace); /* TraceByIDResponse.trace */
    uint8_t *buf = malloc(inner + 64);
    size_t o = 0;
    memcpy(buf + o, t1.b, t1.n);
    o += t1.n;
    memcpy(buf + o, t2.b, t2.n);
    o += t2.n;
    memcpy(buf + o, t3.b, t3.n);
    o += t3.n;
    for (size_t i = 0; i < n; i++) {
        buf[o++] = 0x12;
        buf[o++] = 0x00;
    }
    *len = o;
    return buf;
}

Test(tempo_parse, proto_span_limit_and_one_past)
{
    size_t len;
    uint8_t *buf = proto_with_spans(TEMPO_PARSE_MAX_SPANS, &len);
    struct tempo_trace *t = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_parse_trace_proto(slice_make((const char *)buf, len), true, &t, &err), TA_OK,
                 "%s", err.msg);
    cr_assert_eq(t->nspans, TEMPO_PARSE_MAX_SPANS);
    tempo_trace_free(t);
    free(buf);
    buf = proto_with_spans(TEMPO_PARSE_MAX_SPANS + 1, &len);
    cr_assert_eq(tempo_parse_trace_proto(slice_make((const char *)buf, len), true, &t, &err),
                 TA_TOO_LARGE);
    cr_assert_null(t);
    cr_assert_str_eq(err.msg, "trace has more than 100000 spans");
    free(buf);
}
