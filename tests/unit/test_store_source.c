/* test_store_source.c — metric values from the embedded store against values worked out by
 * hand for a small shop: checkout server spans calling a database and a payment service.
 *
 * Window [W0, W0 + 60s). Spans (times relative to the span's trace start, ms):
 *   trace A  P1 checkout server  [1000, 1100]  ok
 *             C1 db client        [1010, 1040]  child of P1
 *             C2 payment client   [1020, 1080]  child of P1 (overlaps C1: union 1010..1080)
 *             P2 payment server   [1025, 1075]  child of C2 (a server: P1's walk stops here)
 *             D2 db client        [1030, 1040]  child of P2
 *   trace B  P3 checkout server  [2000, 2300]  error, no children
 *   trace C  P4 checkout server  [-1000, -800]  starts before the window: never counted
 *   trace D  P5 checkout server  [59990, 60040] starts inside the window
 *             C5 client           [60000, 60060] starts after the window end, arrives later
 * Server spans in the window: P1 100ms, P2 50ms, P3 300ms, P5 50ms. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "rules/ioshare.h"
#include "rules/rules.h"
#include "rules/traceql.h"
#include "server/store.h"
#include "server/store_source.h"

#define W0 1700000000000000000LL
#define MS NS_PER_MS

static const char RULES[] = "defaults:\n"
                            "  window: 1m\n"
                            "  minSamples: 1\n"
                            "  namespaceAttribute: \"\"\n"
                            "externalRules:\n"
                            "  - name: p50\n"
                            "    spans: '{ kind = server }'\n"
                            "    metric: quantile\n"
                            "    quantile: 0.5\n"
                            "  - name: p95\n"
                            "    spans: '{ kind = server }'\n"
                            "    metric: quantile\n"
                            "    quantile: 0.95\n"
                            "  - name: rps\n"
                            "    spans: '{ kind = server }'\n"
                            "    metric: rate\n"
                            "  - name: errors\n"
                            "    spans: '{ kind = server }'\n"
                            "    metric: error_ratio\n"
                            "  - name: slow\n"
                            "    spans: '{ kind = server }'\n"
                            "    metric: slow_ratio\n"
                            "    threshold: 90ms\n"
                            "  - name: avg\n"
                            "    spans: '{ kind = server }'\n"
                            "    metric: mean\n"
                            "  - name: io\n"
                            "    spans: '{ kind = server }'\n"
                            "    metric: io_share\n"
                            "    io: '{ kind = client }'\n";

static struct rules *rules;
static struct store *st;

static const struct span_attr RES_CHECKOUT[1] = {
    { { "service.name", 12 }, { .type = ATTR_STRING, .u.str = { "checkout", 8 } } }
};
static const struct span_attr RES_PAYMENT[1] = {
    { { "service.name", 12 }, { .type = ATTR_STRING, .u.str = { "payment", 7 } } }
};

static struct span mk(uint8_t trace, uint8_t sid, uint8_t parent, enum span_kind kind,
                      int64_t start_ms, int64_t end_ms, const struct span_attr *res)
{
    struct span s;
    memset(&s, 0, sizeof(s));
    s.trace_id[0] = trace;
    s.trace_id[15] = 1;
    s.span_id[7] = sid;
    s.parent_span_id[7] = parent;
    s.kind = kind;
    s.start_ns = W0 + start_ms * MS;
    s.end_ns = W0 + end_ms * MS;
    s.name = SLICE_LIT("op");
    s.resource = (struct span_attrs){ res, 1 };
    return s;
}

static void setup(void)
{
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_bytes(slice_make(RULES, sizeof(RULES) - 1), "test", &rules, &err),
                 TA_OK, "%s", err.msg);
    struct store_config cfg = { .max_spans = 300000, .retention_ns = 3600 * NS_PER_SEC };
    cr_assert_eq(store_new(&cfg, &st, NULL), TA_OK);
    struct span first[] = {
        /* children before their parents, as they often arrive */
        mk(0xa, 3, 1, SPAN_KIND_CLIENT, 1020, 1080, RES_CHECKOUT),
        mk(0xa, 2, 1, SPAN_KIND_CLIENT, 1010, 1040, RES_CHECKOUT),
        mk(0xa, 1, 0, SPAN_KIND_SERVER, 1000, 1100, RES_CHECKOUT),
        mk(0xa, 4, 3, SPAN_KIND_SERVER, 1025, 1075, RES_PAYMENT),
        mk(0xa, 5, 4, SPAN_KIND_CLIENT, 1030, 1040, RES_PAYMENT),
        mk(0xb, 1, 0, SPAN_KIND_SERVER, 2000, 2300, RES_CHECKOUT),
        mk(0xc, 1, 0, SPAN_KIND_SERVER, -1000, -800, RES_CHECKOUT),
        mk(0xd, 1, 0, SPAN_KIND_SERVER, 59990, 60040, RES_CHECKOUT),
    };
    first[5].status = SPAN_STATUS_ERROR;
    cr_assert_eq(store_add(st, first, sizeof(first) / sizeof(first[0]), W0, NULL, NULL), TA_OK);
    struct span later = mk(0xd, 2, 1, SPAN_KIND_CLIENT, 60000, 60060, RES_CHECKOUT);
    cr_assert_eq(store_add(st, &later, 1, W0 + 61 * NS_PER_SEC, NULL, NULL), TA_OK);
}

static void teardown(void)
{
    store_free(st);
    rules_unref(rules);
}

TestSuite(store_source, .init = setup, .fini = teardown);

static struct metric_raw eval_filter(const char *rule_name, const struct traceql_node *filter)
{
    const struct rule *r = rules_find(rules, slice_from_cstr(rule_name));
    cr_assert_not_null(r, "%s", rule_name);
    struct source src = store_source_make(st);
    struct source_query q = {
        .rule = r,
        .filter = filter ? filter : r->spans,
        .start_ns = W0,
        .end_ns = W0 + 60 * NS_PER_SEC,
    };
    struct metric_raw raw;
    struct ta_err err = { 0 };
    cr_assert_eq(src.ops->evaluate(src.self, &q, &raw, &err), TA_OK, "%s", err.msg);
    return raw;
}

static struct metric_raw eval(const char *rule_name)
{
    return eval_filter(rule_name, NULL);
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

Test(store_source, quantile_is_nearest_rank_of_window_server_spans)
{
    struct metric_raw r = eval("p50"); /* {50, 50, 100, 300} ms: ceil(0.5*4) = 2nd */
    cr_assert_eq(r.samples, 4);
    cr_assert(NEAR(r.value, 0.050), "%g", r.value);
    cr_assert_not(r.partial);
    r = eval("p95"); /* ceil(0.95*4) = 4th */
    cr_assert(NEAR(r.value, 0.300), "%g", r.value);
}

Test(store_source, rate_is_spans_per_second_of_window)
{
    struct metric_raw r = eval("rps");
    cr_assert_eq(r.samples, 4);
    cr_assert(NEAR(r.value, 4.0 / 60.0), "%g", r.value);
}

Test(store_source, error_ratio_counts_status_error)
{
    struct metric_raw r = eval("errors");
    cr_assert(NEAR(r.value, 0.25), "%g", r.value);
}

Test(store_source, slow_ratio_counts_durations_over_threshold)
{
    struct metric_raw r = eval("slow"); /* 100 and 300 > 90ms */
    cr_assert(NEAR(r.value, 0.5), "%g", r.value);
}

Test(store_source, mean_is_average_duration_seconds)
{
    struct metric_raw r = eval("avg"); /* (50+50+100+300)/4 = 125ms */
    cr_assert(NEAR(r.value, 0.125), "%g", r.value);
}

Test(store_source, io_share_unions_io_children_across_requests)
{
    /* P1: C1 ∪ C2 = 1010..1080 = 70 of 100 (P2 is a server: not walked);
     * P2: D2 = 10 of 50; P3: 0 of 300; P5: C5 clipped to 60000..60040 = 40 of 50.
     * (70 + 10 + 0 + 40) / (100 + 50 + 300 + 50) = 120 / 500 */
    struct metric_raw r = eval("io");
    cr_assert_eq(r.samples, 4);
    cr_assert(NEAR(r.value, 0.24), "%g", r.value);
    cr_assert_not(r.partial);
}

Test(store_source, selector_conditions_in_the_filter_restrict_every_metric)
{
    struct traceql_node *f = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(traceql_parse(SLICE_LIT("{ kind = server && resource.service.name = "
                                         "\"checkout\" }"),
                               &f, &err),
                 TA_OK, "%s", err.msg);
    struct metric_raw r = eval_filter("p95", f); /* {50, 100, 300} */
    cr_assert_eq(r.samples, 3);
    cr_assert(NEAR(r.value, 0.3), "%g", r.value);
    r = eval_filter("io", f); /* (70 + 0 + 40) / (100 + 300 + 50) */
    cr_assert_eq(r.samples, 3);
    cr_assert(NEAR(r.value, 110.0 / 450.0), "%g", r.value);
    traceql_free(f);
}

Test(store_source, empty_window_has_no_samples)
{
    const struct rule *r = rules_find(rules, SLICE_LIT("p95"));
    struct source src = store_source_make(st);
    struct source_query q = { .rule = r,
                              .filter = r->spans,
                              .start_ns = W0 + 3600 * NS_PER_SEC,
                              .end_ns = W0 + 3660 * NS_PER_SEC };
    struct metric_raw raw;
    cr_assert_eq(src.ops->evaluate(src.self, &q, &raw, NULL), TA_OK);
    cr_assert_eq(raw.samples, 0);
    cr_assert(isnan(raw.value));
    const struct rule *io = rules_find(rules, SLICE_LIT("io"));
    q.rule = io;
    q.filter = io->spans;
    cr_assert_eq(src.ops->evaluate(src.self, &q, &raw, NULL), TA_OK);
    cr_assert_eq(raw.samples, 0);
}

Test(store_source, ready_is_always_ok_and_name_is_embedded)
{
    struct source src = store_source_make(st);
    cr_assert_str_eq(src.ops->name, "embedded");
    cr_assert_eq(src.ops->ready(src.self, NULL), TA_OK);
}

Test(store_source, query_without_filter_is_invalid)
{
    const struct rule *r = rules_find(rules, SLICE_LIT("p95"));
    struct source src = store_source_make(st);
    struct source_query q = { .rule = r, .filter = NULL, .start_ns = W0, .end_ns = W0 + 1 };
    struct metric_raw raw;
    struct ta_err err = { 0 };
    cr_assert_eq(src.ops->evaluate(src.self, &q, &raw, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "embedded: query without a rule or filter");
}

Test(store_source, oversized_trace_is_left_out_of_io_share_and_marks_partial)
{
    /* trace E: a server span in the window with IOSHARE_MAX_SPANS client children */
    size_t n = IOSHARE_MAX_SPANS + 1;
    struct span *s = calloc(n, sizeof(*s));
    s[0] = mk(0xe, 0, 0, SPAN_KIND_SERVER, 5000, 5100, RES_CHECKOUT);
    s[0].span_id[0] = 0xff;
    for (size_t i = 1; i < n; i++) {
        s[i] = mk(0xe, 0, 0, SPAN_KIND_CLIENT, 5010, 5020, RES_CHECKOUT);
        s[i].span_id[5] = (uint8_t)(i >> 16);
        s[i].span_id[6] = (uint8_t)(i >> 8);
        s[i].span_id[7] = (uint8_t)i;
        s[i].parent_span_id[0] = 0xff;
        s[i].parent_span_id[7] = 0;
    }
    cr_assert_eq(store_add(st, s, n, W0, NULL, NULL), TA_OK);
    struct metric_raw r = eval("io"); /* as without trace E */
    cr_assert(r.partial);
    cr_assert_eq(r.samples, 4);
    cr_assert(NEAR(r.value, 0.24), "%g", r.value);
    free(s);
}
