/* test_rules.c — unit tests of rules/rules.h: loading, validation, defaults, errors, refcounts.
 *
 * Positions in expected messages are counted by hand from the YAML texts below (1-based line
 * and column of the offending node). Fixtures: tests/fixtures/rules/. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/embedded.h"
#include "rules/rules.h"

#define S   1000000000LL
#define MIN (60 * S)

static struct rules *load_ok(const char *yaml)
{
    struct rules *r = NULL;
    struct ta_err err = { 0 };
    enum ta_rc rc = rules_load_bytes(slice_from_cstr(yaml), "t.yaml", &r, &err);
    cr_assert_eq(rc, TA_OK, "load failed: %s\n%s", err.msg, yaml);
    cr_assert_not_null(r);
    return r;
}

static void load_fails(const char *yaml, enum ta_rc want, const char *msg)
{
    struct rules *r = (struct rules *)0x1;
    struct ta_err err = { 0 };
    enum ta_rc rc = rules_load_bytes(slice_from_cstr(yaml), "t.yaml", &r, &err);
    cr_assert_eq(rc, want, "rc %s (%s) for\n%s", ta_rc_name(rc), err.msg, yaml);
    cr_assert_null(r, "out must be NULL after a failure");
    cr_assert(strstr(err.msg, msg), "\n  got  %s\n  want %s\nfor\n%s", err.msg, msg, yaml);
}

static char *render(const struct traceql_node *n)
{
    struct buf b;
    size_t len;
    buf_init(&b, TRACEQL_RENDER_MAX);
    cr_assert_eq(traceql_render(n, &b), TA_OK);
    return buf_take(&b, &len);
}

static void assert_render(const struct traceql_node *n, const char *want)
{
    char *got = render(n);
    cr_assert_str_eq(got, want);
    free(got);
}

static void assert_attr(const struct traceql_node *n, const char *want)
{
    struct traceql_node *a = NULL;
    cr_assert_eq(traceql_parse_attr(slice_from_cstr(want), &a, NULL), TA_OK);
    cr_assert(traceql_equal(n, a), "attribute is not %s", want);
    traceql_free(a);
}

#define RULE_HEAD "externalRules:\n  - name: m\n    spans: '{ kind = server }'\n"

/* ---- the default file ------------------------------------------------------------------- */

static void check_default(const struct rules *rs)
{
    cr_assert_eq(rs->n, 5);
    const struct rule *p95 = &rs->items[0], *io = &rs->items[1], *rate = &rs->items[2],
                      *err = &rs->items[3], *slow = &rs->items[4];
    cr_assert_str_eq(p95->name, "http_server_request_duration_p95_seconds");
    cr_assert_str_eq(p95->help, "95th percentile duration of server spans, seconds");
    cr_assert_eq(p95->metric, METRIC_QUANTILE);
    cr_assert_float_eq(p95->quantile, 0.95, 1e-12);
    cr_assert_str_eq(p95->spans_text, "{ kind = server }");
    cr_assert_eq(p95->line, 11);
    cr_assert_str_eq(io->name, "http_server_io_wait_share");
    cr_assert_eq(io->metric, METRIC_IO_SHARE);
    cr_assert_eq(io->io_mode, RULE_IO_EXACT);
    cr_assert_eq(io->io_sample, 100);
    assert_render(io->io, "{ (kind = client) || (kind = producer) || (span.db.system != nil) }");
    cr_assert_eq(rate->metric, METRIC_RATE);
    cr_assert_eq(rate->on_empty, RULE_ON_EMPTY_ZERO);
    cr_assert_str_eq(rate->help, "");
    cr_assert_null(rate->io);
    cr_assert_eq(err->metric, METRIC_ERROR_RATIO);
    cr_assert_eq(err->on_empty, RULE_ON_EMPTY_ERROR);
    cr_assert_eq(slow->metric, METRIC_SLOW_RATIO);
    cr_assert_eq(slow->threshold_ns, 300000000);
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule *r = &rs->items[i];
        cr_assert_eq(r->window_ns, 2 * MIN);
        cr_assert_eq(r->refresh_ns, 15 * S);
        cr_assert_eq(r->max_age_ns, 60 * S);
        cr_assert_eq(r->min_samples, 20);
        assert_attr(r->namespace_attr, "resource.k8s.namespace.name");
        cr_assert_eq(r->nlabels, 2);
        cr_assert_str_eq(r->labels[0].key, "route");
        cr_assert_str_eq(r->labels[0].attr_text, "span.http.route");
        assert_attr(r->labels[0].attr, "span.http.route");
        cr_assert_str_eq(r->labels[1].key, "service");
        assert_attr(r->labels[1].attr, "resource.service.name");
    }
    cr_assert_eq(rs->max_window_ns, 2 * MIN);
    cr_assert_eq(rs->min_refresh_ns, 15 * S);
    cr_assert_eq(rs->nspan_keys, 2);
    cr_assert_str_eq(rs->span_keys[0], "db.system");
    cr_assert_str_eq(rs->span_keys[1], "http.route");
    cr_assert_eq(rs->nresource_keys, 2);
    cr_assert_str_eq(rs->resource_keys[0], "k8s.namespace.name");
    cr_assert_str_eq(rs->resource_keys[1], "service.name");
}

Test(rules, embedded_default_loads_as_designed)
{
    struct rules *rs = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_default(&rs, &err), TA_OK, "%s", err.msg);
    check_default(rs);
    cr_assert_str_eq(rs->source, "<embedded default>");
    rules_unref(rs);
}

Test(rules, default_file_loads_and_matches_the_embedded_copy)
{
    struct rules *rs = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_file("rules/default.yaml", &rs, &err), TA_OK, "%s", err.msg);
    check_default(rs);
    cr_assert_str_eq(rs->source, "rules/default.yaml");
    rules_unref(rs);
    struct slice emb = embedded_get("rules/default.yaml");
    FILE *f = fopen("rules/default.yaml", "rb");
    cr_assert_not_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    cr_assert(slice_eq(emb, slice_make(buf, n)), "embedded bytes differ from rules/default.yaml");
}

/* ---- defaults and overrides --------------------------------------------------------------- */

Test(rules, built_in_defaults_apply_when_defaults_is_omitted)
{
    struct rules *rs = load_ok(RULE_HEAD "    metric: rate\n");
    const struct rule *r = &rs->items[0];
    cr_assert_eq(r->window_ns, 2 * MIN);
    cr_assert_eq(r->refresh_ns, 15 * S);
    cr_assert_eq(r->max_age_ns, 60 * S);
    cr_assert_eq(r->min_samples, 20);
    cr_assert_eq(r->on_empty, RULE_ON_EMPTY_ERROR);
    assert_attr(r->namespace_attr, "resource.k8s.namespace.name");
    cr_assert_eq(r->nlabels, 0);
    cr_assert_null(r->labels);
    cr_assert_str_eq(r->help, "");
    cr_assert_str_eq(r->name, "m");
    cr_assert_eq(r->line, 2);
    cr_assert_str_eq(rs->source, "t.yaml");
    cr_assert_eq(rs->nspan_keys, 0);
    cr_assert_eq(rs->nresource_keys, 1);
    cr_assert_str_eq(rs->resource_keys[0], "k8s.namespace.name");
    rules_unref(rs);
}

Test(rules, every_key_and_per_rule_overrides)
{
    struct rules *rs = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_file("tests/fixtures/rules/overrides.yaml", &rs, &err), TA_OK, "%s",
                 err.msg);
    cr_assert_eq(rs->n, 6);
    const struct rule *r = &rs->items[0];
    cr_assert_str_eq(r->name, "checkout_p99_seconds");
    cr_assert_str_eq(r->help, "p99 of checkout, seconds");
    cr_assert_float_eq(r->quantile, 0.99, 1e-12);
    cr_assert_eq(r->window_ns, 10 * MIN);
    cr_assert_eq(r->refresh_ns, 1 * MIN);
    cr_assert_eq(r->max_age_ns, 5 * MIN);
    cr_assert_eq(r->min_samples, 5);
    cr_assert_eq(r->on_empty, RULE_ON_EMPTY_ERROR);
    cr_assert_null(r->namespace_attr); /* "" turns it off */
    cr_assert_str_eq(r->spans_text,
                     "{ (kind = server) && (resource.service.name = \"checkout\") }");
    cr_assert_eq(r->line, 14);
    /* defaults' labels merged: route replaced, region added, tier removed by null */
    cr_assert_eq(r->nlabels, 3);
    cr_assert_str_eq(r->labels[0].key, "region");
    assert_attr(r->labels[0].attr, "resource.cloud.region");
    cr_assert_str_eq(r->labels[1].key, "route");
    assert_attr(r->labels[1].attr, "span.url.path");
    cr_assert_str_eq(r->labels[1].attr_text, "span.url.path");
    cr_assert_str_eq(r->labels[2].key, "service");

    r = &rs->items[1];
    cr_assert_str_eq(r->name, "db_share");
    cr_assert_eq(r->window_ns, 5 * MIN);
    cr_assert_eq(r->refresh_ns, 30 * S);
    cr_assert_eq(r->max_age_ns, 2 * MIN);
    cr_assert_eq(r->min_samples, 50);
    cr_assert_eq(r->on_empty, RULE_ON_EMPTY_ZERO);
    cr_assert_eq(r->io_mode, RULE_IO_EXACT);
    cr_assert_eq(r->io_sample, 250);
    assert_render(r->io, "{ (span.db.system != nil) || (.peer.service =~ \"db-.*\") }");
    assert_attr(r->namespace_attr, "resource.k8s.namespace.name");
    cr_assert_eq(r->nlabels, 3);
    cr_assert_str_eq(r->labels[0].key, "example.com/tier");
    assert_attr(r->labels[0].attr, ".tier");
    cr_assert_str_eq(r->labels[1].key, "route");
    assert_attr(r->labels[1].attr, "span.http.route");

    r = &rs->items[2];
    cr_assert_eq(r->io_mode, RULE_IO_APPROXIMATE);
    assert_attr(r->namespace_attr, "span.k8s.ns");
    cr_assert_eq(rs->items[3].metric, METRIC_SLOW_RATIO);
    cr_assert_eq(rs->items[3].threshold_ns, 1500000000);
    cr_assert_eq(rs->items[4].metric, METRIC_MEAN);
    cr_assert_str_eq(rs->items[4].spans_text, "{ }");
    cr_assert_eq(rs->items[5].metric, METRIC_ERROR_RATIO);

    cr_assert_eq(rs->max_window_ns, 10 * MIN);
    cr_assert_eq(rs->min_refresh_ns, 30 * S);
    const char *span_keys[] = { "db.system",    "http.route", "k8s.ns",
                                "peer.service", "tier",       "url.path" };
    const char *res_keys[] = { "cloud.region", "k8s.namespace.name", "peer.service", "service.name",
                               "tier" };
    cr_assert_eq(rs->nspan_keys, 6);
    for (size_t i = 0; i < 6; i++)
        cr_assert_str_eq(rs->span_keys[i], span_keys[i]);
    cr_assert_eq(rs->nresource_keys, 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(rs->resource_keys[i], res_keys[i]);
    rules_unref(rs);
}

Test(rules, quantile_bounds_and_forms)
{
    struct rules *rs = load_ok(RULE_HEAD "    metric: quantile\n    quantile: 1\n");
    cr_assert_float_eq(rs->items[0].quantile, 1.0, 0);
    rules_unref(rs);
    rs = load_ok(RULE_HEAD "    metric: quantile\n    quantile: 1e-3\n");
    cr_assert_float_eq(rs->items[0].quantile, 0.001, 1e-15);
    rules_unref(rs);
    load_fails(RULE_HEAD "    metric: quantile\n    quantile: 0\n", TA_INVALID,
               "t.yaml:5:15: quantile: must be a number in (0, 1], got 0");
    load_fails(RULE_HEAD "    metric: quantile\n    quantile: 1.5\n", TA_INVALID,
               "t.yaml:5:15: quantile: must be a number in (0, 1], got 1.5");
    load_fails(RULE_HEAD "    metric: quantile\n    quantile: -0.5\n", TA_INVALID,
               "quantile: must be a number in (0, 1]");
    load_fails(RULE_HEAD "    metric: quantile\n    quantile: p95\n", TA_INVALID,
               "quantile: must be a number in (0, 1], got p95");
    load_fails(RULE_HEAD "    metric: quantile\n    quantile: \"0.95\"\n", TA_INVALID,
               "t.yaml:5:15: quantile: expected a number, got a quoted string");
    load_fails(RULE_HEAD "    metric: quantile\n", TA_INVALID,
               "t.yaml:4:13: metric quantile needs quantile: in (0, 1]");
}

Test(rules, io_share_keys)
{
    struct rules *rs = load_ok(
        RULE_HEAD "    metric: io_share\n    io: '{ kind = client }'\n    ioSample: 1000\n");
    cr_assert_eq(rs->items[0].io_sample, RULES_IO_SAMPLE_MAX);
    cr_assert_eq(rs->items[0].io_mode, RULE_IO_EXACT);
    rules_unref(rs);
    rs = load_ok(RULE_HEAD "    metric: io_share\n    io: '{ kind = client }'\n    ioSample: 1\n");
    cr_assert_eq(rs->items[0].io_sample, 1);
    rules_unref(rs);
    load_fails(RULE_HEAD "    metric: io_share\n    io: '{ kind = client }'\n    ioSample: 1001\n",
               TA_INVALID, "t.yaml:6:15: ioSample: 1001 is out of range [1, 1000]");
    load_fails(RULE_HEAD "    metric: io_share\n    io: '{ kind = client }'\n    ioSample: 0\n",
               TA_INVALID, "ioSample: 0 is out of range [1, 1000]");
    load_fails(RULE_HEAD
               "    metric: io_share\n    io: '{ kind = client }'\n    mode: approximate\n"
               "    ioSample: 10\n",
               TA_INVALID, "t.yaml:7:15: ioSample applies only to mode: exact");
    load_fails(RULE_HEAD "    metric: io_share\n    io: '{ kind = client }'\n    mode: fast\n",
               TA_INVALID, "t.yaml:6:11: mode: unknown value \"fast\" (valid: exact, approximate)");
    load_fails(RULE_HEAD "    metric: io_share\n", TA_INVALID,
               "t.yaml:4:13: metric io_share needs io: a filter of the IO spans");
    load_fails(RULE_HEAD "    metric: io_share\n    io: '{ kind = \"client\" }'\n", TA_INVALID,
               "t.yaml:5:17: io: col 8: kind compares only with the words");
}

Test(rules, slow_ratio_threshold)
{
    load_fails(RULE_HEAD "    metric: slow_ratio\n", TA_INVALID,
               "t.yaml:4:13: metric slow_ratio needs threshold, e.g. 300ms");
    load_fails(RULE_HEAD "    metric: slow_ratio\n    threshold: fast\n", TA_INVALID,
               "t.yaml:5:16: threshold: invalid duration 'fast'");
    load_fails(RULE_HEAD "    metric: slow_ratio\n    threshold: 25h\n", TA_INVALID,
               "threshold: must be at most 24h, got 25h");
    struct rules *rs = load_ok(RULE_HEAD "    metric: slow_ratio\n    threshold: 0\n");
    cr_assert_eq(rs->items[0].threshold_ns, 0);
    rules_unref(rs);
}

/* ---- errors -------------------------------------------------------------------------------- */

Test(rules, rejects_unknown_keys_with_the_valid_ones)
{
    load_fails("foo: 1\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:1:1: unknown key \"foo\" in the top level (valid: defaults, labels, "
               "externalRules)");
    load_fails("defaults:\n  windw: 2m\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:2:3: unknown key \"windw\" in defaults (valid: window, refresh, maxAge, "
               "minSamples, namespaceAttribute, onEmpty)");
    load_fails(RULE_HEAD "    metric: rate\n    quantle: 0.5\n", TA_INVALID,
               "t.yaml:5:5: unknown key \"quantle\" in rule (valid: name, help, spans, metric, ");
    load_fails("defaults:\n  labels: {}\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:2:3: unknown key \"labels\" in defaults");
}

Test(rules, rejects_duplicate_keys)
{
    load_fails(RULE_HEAD "    metric: rate\n    metric: mean\n", TA_INVALID,
               "t.yaml:5:5: duplicate key \"metric\" in rule (first at line 4)");
    load_fails("labels:\n  a: span.a\n  a: span.b\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:3:3: duplicate key \"a\" in labels (first at line 2)");
    load_fails(RULE_HEAD "    metric: rate\nexternalRules: []\n", TA_INVALID,
               "t.yaml:5:1: duplicate key \"externalRules\" in the top level (first at line 1)");
}

Test(rules, rejects_wrong_types)
{
    load_fails("- a\n", TA_INVALID, "t.yaml:1:1: the top level: expected a mapping, got a list");
    load_fails("externalRules: {}\n", TA_INVALID,
               "t.yaml:1:16: externalRules: expected a list, got a mapping");
    load_fails("externalRules:\n  - just a string\n", TA_INVALID,
               "t.yaml:2:5: rule: expected a mapping, got a string");
    load_fails("externalRules:\n  - name: [a]\n    spans: '{ }'\n    metric: rate\n", TA_INVALID,
               "t.yaml:2:11: name: expected a string, got a list");
    load_fails(RULE_HEAD "    metric: rate\n    help: ~\n", TA_INVALID,
               "t.yaml:5:11: help: expected a string, got null");
    load_fails(RULE_HEAD "    metric: rate\n    help:\n", TA_INVALID,
               "help: expected a string, got null");
    load_fails(RULE_HEAD "    metric: rate\n    minSamples: \"20\"\n", TA_INVALID,
               "t.yaml:5:17: minSamples: expected a whole number, got a quoted string");
    load_fails(RULE_HEAD "    metric: rate\n    minSamples: -1\n", TA_INVALID,
               "t.yaml:5:17: minSamples: not an unsigned integer: '-1'");
    load_fails(RULE_HEAD "    metric: rate\n    labels: [a]\n", TA_INVALID,
               "t.yaml:5:13: labels: expected a mapping, got a list");
    load_fails(RULE_HEAD "    metric: rate\n    window: {a: 1}\n", TA_INVALID,
               "t.yaml:5:13: window: expected a string, got a mapping");
    load_fails("externalRules:\n  - name: m\n    spans: { kind = server }\n    metric: rate\n",
               TA_INVALID, "t.yaml:3:12: spans: expected a string, got a mapping");
    load_fails("defaults: 5\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:1:11: defaults: expected a mapping, got a string");
    load_fails("? [a]\n: b\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "the top level: keys must be strings, got a list");
}

Test(rules, rejects_missing_required_keys_and_unknown_metrics)
{
    load_fails("externalRules:\n  - spans: '{ }'\n    metric: rate\n", TA_INVALID,
               "t.yaml:2:5: rule is missing \"name\"");
    load_fails("externalRules:\n  - name: m\n    metric: rate\n", TA_INVALID,
               "t.yaml:2:5: rule is missing \"spans\"");
    load_fails("externalRules:\n  - name: m\n    spans: '{ }'\n", TA_INVALID,
               "t.yaml:2:5: rule is missing \"metric\"");
    load_fails(RULE_HEAD "    metric: p95\n", TA_INVALID,
               "t.yaml:4:13: metric: unknown value \"p95\" (valid: quantile, rate, error_ratio, "
               "slow_ratio, io_share, mean)");
}

Test(rules, rejects_keys_that_do_not_apply)
{
    load_fails(RULE_HEAD "    metric: rate\n    threshold: 1s\n", TA_INVALID,
               "t.yaml:5:5: threshold does not apply to metric rate (only to slow_ratio)");
    load_fails(RULE_HEAD "    metric: mean\n    quantile: 0.5\n", TA_INVALID,
               "quantile does not apply to metric mean (only to quantile)");
    load_fails(RULE_HEAD "    metric: error_ratio\n    io: '{ }'\n", TA_INVALID,
               "io does not apply to metric error_ratio (only to io_share)");
    load_fails(RULE_HEAD "    metric: quantile\n    quantile: 0.5\n    mode: exact\n", TA_INVALID,
               "t.yaml:6:5: mode does not apply to metric quantile (only to io_share)");
    load_fails(RULE_HEAD "    metric: slow_ratio\n    threshold: 1s\n    ioSample: 5\n", TA_INVALID,
               "ioSample does not apply to metric slow_ratio");
}

Test(rules, rejects_duplicate_rule_names)
{
    load_fails(RULE_HEAD "    metric: rate\n  - name: m\n    spans: '{ }'\n    metric: mean\n",
               TA_INVALID, "t.yaml:5:11: duplicate rule name \"m\" (first at line 2)");
}

static void name_fails(const char *name, const char *msg)
{
    char yaml[600];
    snprintf(yaml, sizeof(yaml),
             "externalRules:\n  - name: %s\n    spans: '{ }'\n    metric: rate\n", name);
    load_fails(yaml, TA_INVALID, msg);
}

static void name_ok(const char *name, const char *want)
{
    char yaml[600];
    snprintf(yaml, sizeof(yaml),
             "externalRules:\n  - name: %s\n    spans: '{ }'\n    metric: rate\n", name);
    struct rules *rs = load_ok(yaml);
    cr_assert_str_eq(rs->items[0].name, want);
    rules_unref(rs);
}

Test(rules, metric_names_are_path_segment_safe)
{
    name_ok("http_server_requests_per_second", "http_server_requests_per_second");
    name_ok("Queue.depth:p95-v2", "Queue.depth:p95-v2");
    name_fails("status", "t.yaml:2:11: name: \"status\" cannot be a metric name");
    name_fails("finalize", "name: \"finalize\" cannot be a metric name");
    name_fails("a/b", "t.yaml:2:11: name: invalid metric name \"a/b\"");
    name_fails("a%2Fb", "invalid metric name");
    name_fails("1abc", "invalid metric name");
    name_fails("'..'", "invalid metric name");
    name_fails("'-x'", "invalid metric name");
    name_fails("'a b'", "invalid metric name");
    name_fails("''", "invalid metric name");
    char longname[RULES_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname));
    longname[RULES_NAME_MAX] = '\0';
    name_ok(longname, longname);
    longname[RULES_NAME_MAX] = 'a';
    longname[RULES_NAME_MAX + 1] = '\0';
    name_fails(longname, "invalid metric name");
}

Test(rules, rejects_bad_durations_and_inconsistent_timing)
{
    load_fails(RULE_HEAD "    metric: rate\n    window: 2x\n", TA_INVALID,
               "t.yaml:5:13: window: invalid duration '2x'");
    load_fails(RULE_HEAD "    metric: rate\n    window: 0s\n", TA_INVALID,
               "t.yaml:5:13: window: must be longer than 0 and at most 24h, got 0s");
    load_fails(RULE_HEAD "    metric: rate\n    window: 0\n", TA_INVALID,
               "window: must be longer than 0");
    load_fails(RULE_HEAD "    metric: rate\n    window: 24h1ns\n", TA_INVALID,
               "window: must be longer than 0 and at most 24h, got 24h1ns");
    load_fails(RULE_HEAD "    metric: rate\n    window: 1d1s\n", TA_INVALID, "at most 24h");
    load_fails(RULE_HEAD "    metric: rate\n    refresh: 999ms\n", TA_INVALID,
               "t.yaml:5:14: refresh: must be at least 1s and at most 24h, got 999ms");
    load_fails(RULE_HEAD "    metric: rate\n    window: 10s\n", TA_INVALID,
               "t.yaml:5:13: refresh (15s) is longer than window (10s)");
    load_fails(RULE_HEAD "    metric: rate\n    refresh: 3m\n", TA_INVALID,
               "t.yaml:5:14: refresh (180s) is longer than window (120s)");
    load_fails("defaults:\n  refresh: 3m\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:4:5: refresh (180s) is longer than window (120s)");
    load_fails(RULE_HEAD "    metric: rate\n    maxAge: 10s\n", TA_INVALID,
               "t.yaml:5:13: maxAge (10s) is shorter than refresh (15s)");
    load_fails(RULE_HEAD "    metric: rate\n    refresh: 90s\n", TA_INVALID,
               "t.yaml:5:14: maxAge (60s) is shorter than refresh (90s)");
    load_fails(RULE_HEAD "    metric: rate\n    maxAge: 25h\n", TA_INVALID,
               "maxAge: must be longer than 0 and at most 24h");
    load_fails(RULE_HEAD "    metric: rate\n    onEmpty: nan\n", TA_INVALID,
               "t.yaml:5:14: onEmpty: unknown value \"nan\" (valid: error, zero)");
    load_fails(RULE_HEAD "    metric: rate\n    minSamples: 1000000001\n", TA_INVALID,
               "minSamples: 1000000001 is out of range");
    struct rules *rs = load_ok(RULE_HEAD "    metric: rate\n    window: 24h\n    refresh: 24h\n"
                                         "    maxAge: 24h\n    minSamples: 0\n");
    cr_assert_eq(rs->items[0].window_ns, 86400 * S);
    cr_assert_eq(rs->items[0].refresh_ns, 86400 * S);
    cr_assert_eq(rs->items[0].min_samples, 0);
    rules_unref(rs);
    rs = load_ok(RULE_HEAD "    metric: rate\n    window: 1s\n    refresh: 1s\n    maxAge: 1s\n");
    cr_assert_eq(rs->items[0].window_ns, S);
    rules_unref(rs);
}

Test(rules, rejects_bad_labels)
{
    load_fails("labels:\n  Bad Key: span.a\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:2:3: labels: invalid label key \"Bad Key\": the name part may hold only");
    load_fails("labels:\n  -a: span.a\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "labels: invalid label key \"-a\": the name part must start and end");
    load_fails("labels:\n  Example.com/a: span.a\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "the prefix must be a lower-case DNS subdomain");
    load_fails("labels:\n  /a: span.a\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "the prefix must have 1 to 253 characters");
    load_fails("labels:\n  a: span.\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:2:6: labels: a: col 6: empty attribute name");
    load_fails("labels:\n  a: foo\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:2:6: labels: a: col 1: unknown name 'foo'");
    load_fails("labels:\n  a: duration\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:2:6: labels: a: duration cannot be a label");
    load_fails("labels:\n  a: ~\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:2:6: labels: a: expected a string, got null");
    load_fails("labels:\n  a: [x]\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "labels: a: expected a string, got a list");
    load_fails(RULE_HEAD "    metric: rate\n    namespaceAttribute: kind\n", TA_INVALID,
               "t.yaml:5:25: namespaceAttribute: must be an attribute");
    load_fails(RULE_HEAD "    metric: rate\n    namespaceAttribute: ns\n", TA_INVALID,
               "namespaceAttribute: col 1: unknown name 'ns'");
    struct rules *rs =
        load_ok("labels:\n  example.com/a-b.c: span.a\n  k: name\n  s: status\n" RULE_HEAD
                "    metric: rate\n");
    cr_assert_eq(rs->items[0].nlabels, 3);
    cr_assert_str_eq(rs->items[0].labels[0].key, "example.com/a-b.c");
    rules_unref(rs);
}

static char *many_labels(int n)
{
    size_t cap = 64 + (size_t)n * 24 + 128;
    char *p = malloc(cap);
    size_t len = (size_t)snprintf(p, cap, "labels:\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(p + len, cap - len, "  l%d: span.a%d\n", i, i);
    snprintf(p + len, cap - len, RULE_HEAD "    metric: rate\n");
    return p;
}

Test(rules, accepts_max_labels_and_rejects_one_more)
{
    char *y = many_labels(RULES_MAX_LABELS);
    struct rules *rs = load_ok(y);
    cr_assert_eq(rs->items[0].nlabels, RULES_MAX_LABELS);
    cr_assert_eq(rs->nspan_keys, RULES_MAX_LABELS);
    rules_unref(rs);
    free(y);
    y = many_labels(RULES_MAX_LABELS + 1);
    load_fails(y, TA_INVALID, "t.yaml:66:3: labels: more than 64 labels");
    free(y);
}

static char *many_rules(int n)
{
    size_t cap = 32 + (size_t)n * 64;
    char *p = malloc(cap);
    size_t len = (size_t)snprintf(p, cap, "externalRules:\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(p + len, cap - len, "  - {name: r%d, spans: '{ }', metric: rate}\n",
                                i);
    return p;
}

Test(rules, accepts_max_rules_and_rejects_one_more)
{
    char *y = many_rules(RULES_MAX_RULES);
    struct rules *rs = load_ok(y);
    cr_assert_eq(rs->n, RULES_MAX_RULES);
    const struct rule *r = rules_find(rs, slice_from_cstr("r511"));
    cr_assert_not_null(r);
    cr_assert_eq(r->line, 513);
    rules_unref(rs);
    free(y);
    y = many_rules(RULES_MAX_RULES + 1);
    load_fails(y, TA_INVALID, "t.yaml:514:5: externalRules: more than 512 rules");
    free(y);
}

Test(rules, filter_errors_point_inside_the_yaml_scalar)
{
    /* single-quoted: column of the quote + 1 + offset in the filter */
    load_fails(RULE_HEAD "    metric: rate\n    io: x\n", TA_INVALID, "io does not apply");
    load_fails(
        "externalRules:\n  - name: m\n    spans: '{ kind = \"server\" }'\n    metric: rate\n",
        TA_INVALID, "t.yaml:3:20: spans: col 8: kind compares only with the words");
    /* double-quoted without escapes */
    load_fails("externalRules:\n  - name: m\n    spans: \"{ span.a >> 1 }\"\n    metric: rate\n",
               TA_INVALID, "t.yaml:3:22: spans: col 10: unsupported operator '>>'");
    /* plain scalar */
    load_fails("externalRules:\n  - name: m\n    metric: rate\n    spans: ( kind = server )\n",
               TA_INVALID, "t.yaml:4:12: spans: col 1: expected '{'");
    /* characters, not bytes, before the error */
    load_fails("externalRules:\n  - name: m\n    spans: '{ span.\"\xc3\xa9\" = 1 ~ }'\n"
               "    metric: rate\n",
               TA_INVALID, "t.yaml:3:28: spans: col 16: unsupported operator '~'");
    /* escapes or block scalars: the scalar's own position */
    load_fails("externalRules:\n  - name: m\n    spans: \"{ span.a = \\\"\\x01\\\" ~ }\"\n"
               "    metric: rate\n",
               TA_INVALID, "t.yaml:3:12: spans: col 16: unsupported operator '~'");
    load_fails("externalRules:\n  - name: m\n    spans: |\n      {\n        kind = \"x\"\n      }\n"
               "    metric: rate\n",
               TA_INVALID, "t.yaml:3:12: spans: line 2, col 8: kind compares only");
    load_fails("externalRules:\n  - name: m\n    spans: ''\n    metric: rate\n", TA_INVALID,
               "t.yaml:3:13: spans: col 1: empty filter");
    struct rules *rs = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_file("tests/fixtures/rules/bad_filter.yaml", &rs, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "tests/fixtures/rules/bad_filter.yaml:3:20: spans: col 8: kind "
                              "compares only with the words unspecified, internal, server, client, "
                              "producer, consumer (unquoted), e.g. kind = server");
}

Test(rules, filters_are_stored_parsed_and_rendered)
{
    struct rules *rs =
        load_ok("externalRules:\n  - name: m\n    spans: '{kind=server&&span.a=\"b\"||"
                ".c=1}'\n    metric: rate\n");
    cr_assert_str_eq(rs->items[0].spans_text,
                     "{ ((kind = server) && (span.a = \"b\")) || (.c = 1) }");
    cr_assert_eq(rs->nspan_keys, 2);
    cr_assert_str_eq(rs->span_keys[0], "a");
    cr_assert_str_eq(rs->span_keys[1], "c");
    cr_assert_eq(rs->nresource_keys, 2);
    cr_assert_str_eq(rs->resource_keys[0], "c");
    cr_assert_str_eq(rs->resource_keys[1], "k8s.namespace.name");
    rules_unref(rs);
    rs = load_ok("externalRules:\n  - name: m\n    spans: |\n      { kind = server\n"
                 "        && status = error }\n    metric: rate\n");
    cr_assert_str_eq(rs->items[0].spans_text, "{ (kind = server) && (status = error) }");
    rules_unref(rs);
}

Test(rules, rejects_empty_files_and_zero_rules)
{
    load_fails("", TA_INVALID, "t.yaml:1:1: no rules: the file must have externalRules");
    load_fails("# only a comment\n", TA_INVALID, "t.yaml:1:1: no rules");
    load_fails("---\n", TA_INVALID, "no rules");
    load_fails("defaults:\n  window: 2m\n", TA_INVALID,
               "t.yaml:1:1: no rules: the file must have externalRules");
    load_fails("externalRules: []\n", TA_INVALID,
               "t.yaml:1:16: externalRules: no rules (at least one is needed)");
    load_fails("externalRules:\n", TA_INVALID, "externalRules: expected a list, got null");
}

Test(rules, rejects_yaml_syntax_errors)
{
    load_fails("externalRules:\n  - name: m\n   bad: [\n", TA_INVALID,
               "t.yaml:3:4: YAML syntax error: did not find expected '-' indicator while parsing "
               "a block collection");
    load_fails("a: 'unterminated\n", TA_INVALID,
               "t.yaml:2:1: YAML syntax error: found unexpected end of stream while scanning a "
               "quoted scalar");
    load_fails("a: b: c\n", TA_INVALID,
               "t.yaml:1:5: YAML syntax error: mapping values are not allowed in this context");
    load_fails("a:\n\tb: 1\n", TA_INVALID,
               "t.yaml:2:1: YAML syntax error: found character that cannot start any token");
}

Test(rules, rejects_anchors_aliases_tags_and_documents)
{
    load_fails("defaults: &d\n  window: 2m\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:1:11: YAML anchors (&name) are not allowed in the rules file");
    load_fails("labels: *x\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:1:9: YAML aliases (*name) are not allowed in the rules file");
    load_fails(RULE_HEAD "    metric: !!str rate\n", TA_INVALID,
               "t.yaml:4:13: YAML tags (!tag) are not allowed in the rules file");
    load_fails("--- !custom\na: 1\n", TA_INVALID, "YAML tags (!tag) are not allowed");
    load_fails(RULE_HEAD "    metric: rate\n---\n" RULE_HEAD "    metric: rate\n", TA_INVALID,
               "t.yaml:5:1: only one YAML document is allowed");
    /* billion laughs: refused at the first anchor, nothing is expanded */
    load_fails("a: &a [\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a]\nc: [*b,*b,*b,*b]\n",
               TA_INVALID, "t.yaml:1:4: YAML anchors");
}

Test(rules, rejects_nesting_past_the_limit)
{
    char y[128];
    /* 16 nested lists are the limit of the YAML tree (the schema then rejects the type) */
    snprintf(y, sizeof(y), "a: %s1%s\n", "[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]");
    load_fails(y, TA_INVALID, "unknown key \"a\" in the top level");
    snprintf(y, sizeof(y), "a: %s1%s\n", "[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]");
    load_fails(y, TA_INVALID, "t.yaml:1:19: YAML nested too deeply (more than 16 levels)");
}

/* A valid file of exactly len bytes: the minimal rule, then a comment padding it out. */
static char *padded(size_t len)
{
    const char *head = RULE_HEAD "    metric: rate\n#";
    size_t h = strlen(head);
    char *p = malloc(len);
    memcpy(p, head, h);
    memset(p + h, 'x', len - h - 1);
    p[len - 1] = '\n';
    return p;
}

Test(rules, accepts_max_file_size_and_rejects_one_byte_more)
{
    char *p = padded(RULES_FILE_MAX_BYTES);
    struct rules *rs = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_bytes(slice_make(p, RULES_FILE_MAX_BYTES), "t.yaml", &rs, &err), TA_OK,
                 "%s", err.msg);
    rules_unref(rs);
    free(p);
    p = padded(RULES_FILE_MAX_BYTES + 1);
    cr_assert_eq(rules_load_bytes(slice_make(p, RULES_FILE_MAX_BYTES + 1), "t.yaml", &rs, &err),
                 TA_TOO_LARGE);
    cr_assert_null(rs);
    cr_assert_str_eq(err.msg, "t.yaml:1:1: file is 1048577 bytes, more than 1048576");
    /* the same through a file */
    char path[] = "/tmp/test_rules_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, RULES_FILE_MAX_BYTES + 1), RULES_FILE_MAX_BYTES + 1);
    close(fd);
    cr_assert_eq(rules_load_file(path, &rs, &err), TA_TOO_LARGE);
    cr_assert(strstr(err.msg, "file is 1048577 bytes"), "%s", err.msg);
    unlink(path);
    free(p);
}

Test(rules, rejects_invalid_utf8_and_nul_bytes)
{
    load_fails(RULE_HEAD "    metric: rate\n    help: caf\xe9\n", TA_INVALID,
               "t.yaml:5:14: the file is not valid UTF-8");
    load_fails(RULE_HEAD "    metric: rate\n    help: \xed\xa0\x80\n", TA_INVALID,
               "t.yaml:5:11: the file is not valid UTF-8"); /* a surrogate */
    const char y[] = RULE_HEAD "    metric: rate\n    help: a\0b\n";
    struct rules *rs = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_bytes(slice_make(y, sizeof(y) - 1), "t.yaml", &rs, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "t.yaml:5:12: NUL byte in the file");
    load_fails(RULE_HEAD "    metric: rate\n    help: \"a\\0b\"\n", TA_INVALID,
               "t.yaml:5:11: help: NUL byte in the value");
    load_fails(RULE_HEAD "    metric: rate\n    help: a\x01\n", TA_INVALID,
               "t.yaml:5:12: YAML error: control characters are not allowed");
    struct rules *ok = load_ok(RULE_HEAD "    metric: rate\n    help: caf\xc3\xa9 \xe2\x9c\x93\n");
    cr_assert_str_eq(ok->items[0].help, "caf\xc3\xa9 \xe2\x9c\x93");
    rules_unref(ok);
}

Test(rules, input_without_final_nul)
{
    const char *y = RULE_HEAD "    metric: rate";
    size_t len = strlen(y);
    char *p = malloc(len);
    memcpy(p, y, len); /* no terminator */
    struct rules *rs = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_bytes(slice_make(p, len), "t.yaml", &rs, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(rs->items[0].metric, METRIC_RATE);
    rules_unref(rs);
    /* one byte short: "metric: rat" */
    cr_assert_eq(rules_load_bytes(slice_make(p, len - 1), "t.yaml", &rs, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "unknown value \"rat\""), "%s", err.msg);
    free(p);
}

Test(rules, load_file_errors)
{
    struct rules *rs = (struct rules *)0x1;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_file("tests/fixtures/rules/does-not-exist.yaml", &rs, &err), TA_IO);
    cr_assert_null(rs);
    cr_assert_str_eq(err.msg, "tests/fixtures/rules/does-not-exist.yaml: cannot open: No such file "
                              "or directory");
    cr_assert_eq(rules_load_file("tests/fixtures/rules", &rs, &err), TA_IO);
    cr_assert_str_eq(err.msg, "tests/fixtures/rules: not a regular file");
    cr_assert_eq(rules_load_bytes(slice_from_cstr("x: ["), NULL, &rs, NULL), TA_INVALID);
    cr_assert_null(rs);
}

Test(rules, reference_counting)
{
    struct rules *rs = load_ok(RULE_HEAD "    metric: rate\n");
    cr_assert_eq(rules_ref(rs), rs);
    cr_assert_eq(atomic_load(&rs->refs), 2);
    rules_unref(rs);
    cr_assert_eq(atomic_load(&rs->refs), 1);
    cr_assert_str_eq(rs->items[0].name, "m"); /* still alive */
    rules_unref(rs);                          /* frees (valgrind checks) */
    rules_unref(NULL);
    cr_assert_null(rules_ref(NULL));
}

Test(rules, find_and_metric_names)
{
    struct rules *rs = NULL;
    cr_assert_eq(rules_load_default(&rs, NULL), TA_OK);
    const struct rule *r = rules_find(rs, slice_from_cstr("http_server_error_ratio"));
    cr_assert_not_null(r);
    cr_assert_eq(r->metric, METRIC_ERROR_RATIO);
    cr_assert_null(rules_find(rs, slice_from_cstr("http_server_error")));
    cr_assert_null(rules_find(rs, slice_from_cstr("http_server_error_ratio_")));
    cr_assert_null(rules_find(rs, slice_make("http_server_error_ratio", 22)));
    cr_assert_null(rules_find(NULL, slice_from_cstr("x")));
    rules_unref(rs);
    cr_assert_str_eq(rules_metric_name(METRIC_QUANTILE), "quantile");
    cr_assert_str_eq(rules_metric_name(METRIC_RATE), "rate");
    cr_assert_str_eq(rules_metric_name(METRIC_ERROR_RATIO), "error_ratio");
    cr_assert_str_eq(rules_metric_name(METRIC_SLOW_RATIO), "slow_ratio");
    cr_assert_str_eq(rules_metric_name(METRIC_IO_SHARE), "io_share");
    cr_assert_str_eq(rules_metric_name(METRIC_MEAN), "mean");
    cr_assert_str_eq(rules_metric_name((enum metric_kind)99), "unknown");
}
