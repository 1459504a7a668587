/* test_ioshare.c — io_share of one trace (rules/ioshare): unions, clipping, stops at server and
 * consumer spans, windows, malformed links, duplicates, order, limits. Times are written in
 * milliseconds; expected sums are worked out by hand next to each trace. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "rules/ioshare.h"

#define MS NS_PER_MS

enum {
    SRV = SPAN_KIND_SERVER,
    CLI = SPAN_KIND_CLIENT,
    INT = SPAN_KIND_INTERNAL,
    PRO = SPAN_KIND_PRODUCER,
    CON = SPAN_KIND_CONSUMER
};

static struct traceql_node *parent_f; /* { kind = server } */
static struct traceql_node *io_f;     /* DESIGN's io filter */

static void setup(void)
{
    cr_assert_eq(traceql_parse(SLICE_LIT("{ kind = server }"), &parent_f, NULL), TA_OK);
    cr_assert_eq(
        traceql_parse(SLICE_LIT("{ kind = client || kind = producer || span.db.system != nil }"),
                      &io_f, NULL),
        TA_OK);
}

static void teardown(void)
{
    traceql_free(parent_f);
    traceql_free(io_f);
}

TestSuite(ioshare, .init = setup, .fini = teardown);

static void put_id(uint8_t out[8], uint64_t id)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)id;
        id >>= 8;
    }
}

/* A span with id and parent (0: root), kind, and [start, end] in ns. */
static struct span sp_ns(uint64_t id, uint64_t parent, int kind, int64_t start, int64_t end)
{
    struct span s;
    memset(&s, 0, sizeof(s));
    memset(s.trace_id, 0xab, sizeof(s.trace_id));
    put_id(s.span_id, id);
    put_id(s.parent_span_id, parent);
    s.kind = (enum span_kind)kind;
    s.start_ns = start;
    s.end_ns = end;
    s.name = SLICE_LIT("op");
    return s;
}

static struct span sp(uint64_t id, uint64_t parent, int kind, int64_t start_ms, int64_t end_ms)
{
    return sp_ns(id, parent, kind, start_ms * MS, end_ms * MS);
}

static enum ta_rc run(const struct span *s, size_t n, struct ioshare_sum *sum)
{
    return ioshare_trace(s, n, parent_f, io_f, 0, 1000 * MS, sum, NULL);
}

#define ASSERT_SUM(sum, cov_ms, tot_ms, np)                                                   \
    do {                                                                                      \
        cr_assert_eq((sum).covered_ns, (int64_t)(cov_ms)*MS, "covered %lld",                  \
                     (long long)(sum).covered_ns);                                            \
        cr_assert_eq((sum).total_ns, (int64_t)(tot_ms)*MS, "total %lld",                      \
                     (long long)(sum).total_ns);                                              \
        cr_assert_eq((sum).parents, (np), "parents %llu", (unsigned long long)(sum).parents); \
    } while (0)

Test(ioshare, overlapping_io_calls_count_once)
{
    /* P [0,100]; A [10,30] and B [20,50] overlap: union [10,50] = 40 */
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 10, 30), sp(3, 1, CLI, 20, 50) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 3, &sum), TA_OK);
    ASSERT_SUM(sum, 40, 100, 1);
}

Test(ioshare, disjoint_io_calls_add_up)
{
    /* P [0,100]; [10,20] + [30,45] + [90,100] = 10 + 15 + 10 = 35; a db span (internal kind
     * with db.system) counts as IO too: [50,55] adds 5 */
    struct span_attr db = { SLICE_LIT("db.system"),
                            { .type = ATTR_STRING, .u.str = SLICE_LIT("postgresql") } };
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 10, 20), sp(3, 1, PRO, 30, 45),
                        sp(4, 1, CLI, 90, 100), sp(5, 1, INT, 50, 55) };
    t[4].attrs = (struct span_attrs){ &db, 1 };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 5, &sum), TA_OK);
    ASSERT_SUM(sum, 40, 100, 1);
}

Test(ioshare, nested_io_counts_once)
{
    /* P [0,100]; client C [10,60] with a client child D [20,40]: union [10,60] = 50 */
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 10, 60), sp(3, 2, CLI, 20, 40) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 3, &sum), TA_OK);
    ASSERT_SUM(sum, 50, 100, 1);
    /* a nested client that outlives its parent client still counts: [10,60] ∪ [50,80] = 70 */
    struct span u[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 10, 60), sp(3, 2, CLI, 50, 80) };
    struct ioshare_sum sum2 = { 0 };
    cr_assert_eq(run(u, 3, &sum2), TA_OK);
    ASSERT_SUM(sum2, 70, 100, 1);
}

Test(ioshare, io_below_internal_spans_counts)
{
    /* P [0,100] -> internal I [0,100] -> internal J [20,90] -> client X [30,70]: 40 */
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, INT, 0, 100), sp(3, 2, INT, 20, 90),
                        sp(4, 3, CLI, 30, 70) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 4, &sum), TA_OK);
    ASSERT_SUM(sum, 40, 100, 1);
}

Test(ioshare, downstream_server_io_does_not_count_for_the_caller)
{
    /* P [0,100] -> client C [10,20] -> server S [20,80] (another service, called async) ->
     * client DB [30,50]. For P only C counts: 10 (DB would add 20). S is a parent of its own:
     * covered 20 of 60. Sums: 30 of 160 over 2 parents. */
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 10, 20), sp(3, 2, SRV, 20, 80),
                        sp(4, 3, CLI, 30, 50) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 4, &sum), TA_OK);
    ASSERT_SUM(sum, 30, 160, 2);
    /* with a window that holds P's start only: 10 of 100 */
    struct ioshare_sum only_p = { 0 };
    cr_assert_eq(ioshare_trace(t, 4, parent_f, io_f, 0, 15 * MS, &only_p, NULL), TA_OK);
    ASSERT_SUM(only_p, 10, 100, 1);
}

Test(ioshare, consumer_spans_stop_the_walk)
{
    /* P [0,100] -> producer Q [5,15] -> consumer K [20,60] -> client Z [30,40]: only Q counts,
     * 10; K is not a parent ({ kind = server }) */
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, PRO, 5, 15), sp(3, 2, CON, 20, 60),
                        sp(4, 3, CLI, 30, 40) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 4, &sum), TA_OK);
    ASSERT_SUM(sum, 10, 100, 1);
}

Test(ioshare, io_outside_the_parent_is_clipped)
{
    /* P [100,200]; C [50,150] -> [100,150] = 50; D [180,260] -> [180,200] = 20; E [0,90] and
     * F [200,250] lie outside: 0. Total 70. */
    struct span t[] = { sp(1, 0, SRV, 100, 200), sp(2, 1, CLI, 50, 150), sp(3, 1, CLI, 180, 260),
                        sp(4, 1, CLI, 0, 90), sp(5, 1, CLI, 200, 250) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 5, &sum), TA_OK);
    ASSERT_SUM(sum, 70, 100, 1);
    /* an IO span covering the whole parent gives exactly its duration */
    struct span u[] = { sp(1, 0, SRV, 100, 200), sp(2, 1, CLI, 0, 1000) };
    struct ioshare_sum sum2 = { 0 };
    cr_assert_eq(run(u, 2, &sum2), TA_OK);
    ASSERT_SUM(sum2, 100, 100, 1);
}

Test(ioshare, parents_must_start_inside_the_window)
{
    /* window [100,200): P1 starts at 99 (out), P2 at 100 (in), P3 at 199 (in), P4 at 200 (out).
     * Each has 10 ms of IO in a 20 ms span. In: 20 of 40 over 2 parents. */
    struct span t[] = { sp(1, 0, SRV, 99, 119),  sp(11, 1, CLI, 100, 110),
                        sp(2, 0, SRV, 100, 120), sp(12, 2, CLI, 100, 110),
                        sp(3, 0, SRV, 199, 219), sp(13, 3, CLI, 200, 210),
                        sp(4, 0, SRV, 200, 220), sp(14, 4, CLI, 200, 210) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(ioshare_trace(t, 8, parent_f, io_f, 100 * MS, 200 * MS, &sum, NULL), TA_OK);
    ASSERT_SUM(sum, 20, 40, 2);
}

Test(ioshare, zero_duration_parents_are_not_counted)
{
    /* P1 [10,10] has no duration: neither total nor parents; P2 [0,50] with 25 of IO */
    struct span t[] = { sp(1, 0, SRV, 10, 10), sp(2, 1, CLI, 10, 10), sp(3, 0, SRV, 0, 50),
                        sp(4, 3, CLI, 0, 25) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 4, &sum), TA_OK);
    ASSERT_SUM(sum, 25, 50, 1);
}

Test(ioshare, sums_accumulate_over_calls)
{
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 0, 30) };
    struct ioshare_sum sum = { 5 * MS, 7 * MS, 3 };
    cr_assert_eq(run(t, 2, &sum), TA_OK);
    ASSERT_SUM(sum, 35, 107, 4);
}

Test(ioshare, empty_trace_adds_nothing)
{
    struct ioshare_sum sum = { 1, 2, 3 };
    cr_assert_eq(ioshare_trace(NULL, 0, parent_f, io_f, 0, 1, &sum, NULL), TA_OK);
    cr_assert_eq(sum.covered_ns, 1);
    cr_assert_eq(sum.total_ns, 2);
    cr_assert_eq(sum.parents, 3);
}

Test(ioshare, orphans_are_ignored)
{
    /* client O names a parent 99 that is not in the trace: not IO of P. P's own 10 count. */
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 0, 10), sp(3, 99, CLI, 20, 90) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 3, &sum), TA_OK);
    ASSERT_SUM(sum, 10, 100, 1);
    /* an orphan server span is still a parent: 30 of 50 */
    struct span u[] = { sp(5, 77, SRV, 0, 50), sp(6, 5, CLI, 10, 40) };
    struct ioshare_sum sum2 = { 0 };
    cr_assert_eq(run(u, 2, &sum2), TA_OK);
    ASSERT_SUM(sum2, 30, 50, 1);
}

Test(ioshare, cycles_in_parent_links_terminate)
{
    /* P's parent is B and B's parent is P: B is P's child and its IO; the walk stops at P.
     * P [0,100], B [10,40]: 30. */
    struct span t[] = { sp(1, 2, SRV, 0, 100), sp(2, 1, CLI, 10, 40) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 2, &sum), TA_OK);
    ASSERT_SUM(sum, 30, 100, 1);
    /* a span that is its own parent, and a three-span cycle X -> Y -> Z -> X hanging off
     * nothing: P [0,100] with client C [0,20] only: 20 */
    struct span u[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 0, 20),  sp(3, 3, CLI, 0, 100),
                        sp(4, 6, CLI, 30, 60), sp(5, 4, CLI, 30, 60), sp(6, 5, CLI, 30, 60) };
    struct ioshare_sum sum2 = { 0 };
    cr_assert_eq(run(u, 6, &sum2), TA_OK);
    ASSERT_SUM(sum2, 20, 100, 1);
    /* a cycle through P that also passes internal spans: P -> I -> C -> P */
    struct span v[] = { sp(1, 3, SRV, 0, 100), sp(2, 1, INT, 0, 100), sp(3, 2, CLI, 50, 70) };
    struct ioshare_sum sum3 = { 0 };
    cr_assert_eq(run(v, 3, &sum3), TA_OK);
    ASSERT_SUM(sum3, 20, 100, 1);
}

Test(ioshare, duplicate_span_ids_count_once)
{
    /* P twice, C twice: still 1 parent, 100 total, C [10,30] = 20. A later copy with other
     * times is ignored: the first copy of D [40,50] wins over [40,95]. */
    struct span t[] = { sp(1, 0, SRV, 0, 100), sp(2, 1, CLI, 10, 30), sp(1, 0, SRV, 0, 100),
                        sp(2, 1, CLI, 10, 30), sp(3, 1, CLI, 40, 50), sp(3, 1, CLI, 40, 95) };
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, 6, &sum), TA_OK);
    ASSERT_SUM(sum, 30, 100, 1);
}

Test(ioshare, span_order_does_not_matter)
{
    /* Two parents:
     * P1 [0,200] -> I [0,200] -> A client [10,60], B client [40,90] (union [10,90] = 80)
     *            -> C client [150,250] (clipped [150,200] = 50)
     *            -> S server [100,180] -> D client [100,180] (S's: 80 of 80)
     * Sums: covered 80 + 50 + 80 = 210, total 200 + 80 = 280, parents 2. */
    struct span base[] = { sp(1, 0, SRV, 0, 200),  sp(2, 1, INT, 0, 200),   sp(3, 2, CLI, 10, 60),
                           sp(4, 2, CLI, 40, 90),  sp(5, 1, CLI, 150, 250), sp(6, 2, SRV, 100, 180),
                           sp(7, 6, CLI, 100, 180) };
    const size_t n = sizeof(base) / sizeof(base[0]);
    struct span t[sizeof(base) / sizeof(base[0])];
    srand(11);
    for (int round = 0; round < 50; round++) {
        memcpy(t, base, sizeof(base));
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)rand() % i;
            struct span x = t[i - 1];
            t[i - 1] = t[j];
            t[j] = x;
        }
        struct ioshare_sum sum = { 0 };
        cr_assert_eq(run(t, n, &sum), TA_OK);
        ASSERT_SUM(sum, 210, 280, 2);
    }
}

static struct span *big_trace(size_t n)
{
    /* P [0, 1s] root; spans 2..n-1 a chain of internal spans under P, each [0, 1s]; the last
     * span a client [250ms, 750ms] at the bottom of the chain: covered 500ms. The chain is
     * listed deepest first, so parents come after their children. */
    struct span *t = calloc(n, sizeof(*t));
    t[0] = sp(1, 0, SRV, 0, 1000);
    for (size_t i = 1; i + 1 < n; i++) {
        uint64_t id = n - i + 1; /* ids n .. 3, each the child of id - 1 */
        t[i] = sp(id, id - 1, INT, 0, 1000);
    }
    t[1] = sp(n, n - 1, CLI, 250, 750); /* deepest: the IO span */
    t[n - 1] = sp(2, 1, INT, 0, 1000);
    return t;
}

Test(ioshare, deep_trace_at_the_span_limit)
{
    struct span *t = big_trace(IOSHARE_MAX_SPANS);
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, IOSHARE_MAX_SPANS, &sum), TA_OK);
    ASSERT_SUM(sum, 500, 1000, 1);
    free(t);
}

Test(ioshare, wide_trace_at_the_span_limit)
{
    /* P [0, 1s] with 99,999 client children of 5 ns each, 10 ns apart: 499,995 ns */
    size_t n = IOSHARE_MAX_SPANS;
    struct span *t = calloc(n, sizeof(*t));
    t[0] = sp(1, 0, SRV, 0, 1000);
    for (size_t i = 1; i < n; i++)
        t[i] = sp_ns(i + 1, 1, CLI, (int64_t)i * 10, (int64_t)i * 10 + 5);
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(run(t, n, &sum), TA_OK);
    cr_assert_eq(sum.covered_ns, 499995);
    cr_assert_eq(sum.total_ns, 1000 * MS);
    cr_assert_eq(sum.parents, 1);
    free(t);
}

Test(ioshare, one_span_past_the_limit_is_refused)
{
    struct span *t = big_trace(IOSHARE_MAX_SPANS + 1);
    struct ioshare_sum sum = { 1, 2, 3 };
    struct ta_err err = { 0 };
    cr_assert_eq(ioshare_trace(t, IOSHARE_MAX_SPANS + 1, parent_f, io_f, 0, 1000 * MS, &sum, &err),
                 TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "trace has 100001 spans, more than the limit of 100000");
    cr_assert_eq(sum.covered_ns, 1);
    cr_assert_eq(sum.total_ns, 2);
    cr_assert_eq(sum.parents, 3);
    free(t);
}

static struct span *chain(size_t n)
{
    /* n internal spans, each the child of the previous, all [0, 1µs] */
    struct span *t = calloc(n, sizeof(*t));
    for (size_t i = 0; i < n; i++)
        t[i] = sp_ns(i + 1, i, INT, 0, 1000);
    return t;
}

Test(ioshare, nested_parents_within_the_visit_limit)
{
    /* every span of a 4,000-deep chain is a parent: 3999 + 3998 + … + 0 = 7,998,000 visits,
     * below 10,000,000; no IO, so covered 0 and total 4,000 µs */
    struct traceql_node *internal = NULL;
    cr_assert_eq(traceql_parse(SLICE_LIT("{ kind = internal }"), &internal, NULL), TA_OK);
    struct span *t = chain(4000);
    struct ioshare_sum sum = { 0 };
    cr_assert_eq(ioshare_trace(t, 4000, internal, io_f, 0, 1, &sum, NULL), TA_OK);
    cr_assert_eq(sum.covered_ns, 0);
    cr_assert_eq(sum.total_ns, 4000 * 1000);
    cr_assert_eq(sum.parents, 4000);
    free(t);
    traceql_free(internal);
}

Test(ioshare, nested_parents_past_the_visit_limit_are_refused)
{
    /* a 5,000-deep chain needs 12,497,500 visits */
    struct traceql_node *internal = NULL;
    cr_assert_eq(traceql_parse(SLICE_LIT("{ kind = internal }"), &internal, NULL), TA_OK);
    struct span *t = chain(5000);
    struct ioshare_sum sum = { 0 };
    struct ta_err err = { 0 };
    cr_assert_eq(ioshare_trace(t, 5000, internal, io_f, 0, 1, &sum, &err), TA_TOO_LARGE);
    cr_assert(strstr(err.msg, "more than 10000000 span visits"), "%s", err.msg);
    cr_assert_eq(sum.parents, 0);
    cr_assert_eq(sum.total_ns, 0);
    free(t);
    traceql_free(internal);
}

Test(ioshare, overflowing_sums_are_refused)
{
    /* two parents of INT64_MAX - 1 ns each: their total does not fit */
    struct span t[] = { sp_ns(1, 0, SRV, 1, INT64_MAX), sp_ns(2, 0, SRV, 1, INT64_MAX) };
    struct ioshare_sum sum = { 0 };
    struct ta_err err = { 0 };
    cr_assert_eq(ioshare_trace(t, 2, parent_f, io_f, 0, 10, &sum, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "the parent span durations of a trace overflow 64-bit nanoseconds");
    cr_assert_eq(sum.parents, 0);
    /* one fits, but not on top of what the caller already summed */
    struct ioshare_sum full = { 0, INT64_MAX - 5, 1 };
    cr_assert_eq(ioshare_trace(t, 1, parent_f, io_f, 0, 10, &full, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "io share sums overflow 64-bit nanoseconds");
    cr_assert_eq(full.total_ns, INT64_MAX - 5);
    cr_assert_eq(full.parents, 1);
}

Test(ioshare, span_duration_that_does_not_fit_is_invalid)
{
    struct span t[] = { sp_ns(1, 0, SRV, -10, INT64_MAX) };
    struct ioshare_sum sum = { 0 };
    struct ta_err err = { 0 };
    cr_assert_eq(ioshare_trace(t, 1, parent_f, io_f, INT64_MIN, 0, &sum, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "trace has a span whose duration does not fit in 64-bit nanoseconds");
    cr_assert_eq(sum.parents, 0);
}
