/* test_metric.c — accumulators, nearest rank, the serving policy and duration text of
 * rules/metric. Expected values are worked out by hand in the comments. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "rules/metric.h"

#define MS NS_PER_MS
#define S  NS_PER_SEC

static struct rule make_rule(enum metric_kind k)
{
    struct rule r;
    memset(&r, 0, sizeof(r));
    r.name = "test_rule";
    r.help = "";
    r.metric = k;
    r.quantile = 0.95;
    r.threshold_ns = 300 * MS;
    r.window_ns = 120 * S;
    r.refresh_ns = 15 * S;
    r.max_age_ns = 60 * S;
    r.min_samples = 0;
    r.on_empty = RULE_ON_EMPTY_ERROR;
    return r;
}

static struct span make_span(int64_t start_ns, int64_t dur_ns, enum span_status st)
{
    struct span s;
    memset(&s, 0, sizeof(s));
    s.start_ns = start_ns;
    s.end_ns = start_ns + dur_ns;
    s.kind = SPAN_KIND_SERVER;
    s.status = st;
    return s;
}

static void shuffle(int64_t *v, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rand() % i;
        int64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* ---- nearest rank ---- */

Test(metric, nearest_rank_p95_of_twenty_is_the_nineteenth)
{
    int64_t v[20];
    for (int i = 0; i < 20; i++)
        v[i] = i + 1; /* 1..20 */
    shuffle(v, 20, 1);
    /* ceil(0.95 * 20) = 19 -> the 19th smallest, 19 */
    cr_assert_eq(metric_nearest_rank(v, 20, 0.95), 19);
}

Test(metric, nearest_rank_median_rounds_rank_up)
{
    int64_t v[11];
    for (int i = 0; i < 11; i++)
        v[i] = 100 * (i + 1); /* 100..1100 */
    shuffle(v, 11, 2);
    /* ceil(0.5 * 11) = ceil(5.5) = 6 -> 600 */
    cr_assert_eq(metric_nearest_rank(v, 11, 0.5), 600);
    int64_t w[10] = { 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
    /* ceil(0.5 * 10) = 5 -> 5 */
    cr_assert_eq(metric_nearest_rank(w, 10, 0.5), 5);
}

Test(metric, nearest_rank_ignores_binary_rounding_of_q_times_n)
{
    /* 0.07 * 100 is 7.000000000000001 in doubles; the rank is 7, not 8 */
    int64_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1;
    shuffle(v, 100, 3);
    cr_assert_eq(metric_nearest_rank(v, 100, 0.07), 7);
    /* 0.29 * 100 is 28.999999999999996; the rank is 29 */
    shuffle(v, 100, 4);
    cr_assert_eq(metric_nearest_rank(v, 100, 0.29), 29);
    /* 0.955 * 100 = 95.5 -> 96 */
    shuffle(v, 100, 5);
    cr_assert_eq(metric_nearest_rank(v, 100, 0.955), 96);
}

Test(metric, nearest_rank_extremes)
{
    int64_t v[5] = { 50, 10, 40, 20, 30 };
    cr_assert_eq(metric_nearest_rank(v, 5, 1.0), 50);
    /* ceil(0.001 * 5) = 1 -> smallest */
    cr_assert_eq(metric_nearest_rank(v, 5, 0.001), 10);
    cr_assert_eq(metric_nearest_rank(v, 5, 0.0), 10);
    cr_assert_eq(metric_nearest_rank(v, 5, NAN), 10);
    cr_assert_eq(metric_nearest_rank(v, 5, 2.0), 50);
    int64_t one = 42;
    cr_assert_eq(metric_nearest_rank(&one, 1, 0.95), 42);
}

Test(metric, nearest_rank_with_all_values_equal)
{
    size_t n = 200000;
    int64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = 7;
    cr_assert_eq(metric_nearest_rank(v, n, 0.95), 7);
    free(v);
}

Test(metric, nearest_rank_with_few_distinct_values)
{
    /* 1000 ones, 1000 twos, 1000 threes: rank ceil(0.5*3000) = 1500 is a two,
     * rank ceil(0.9*3000) = 2700 a three, rank ceil(0.3*3000) = 900 a one */
    int64_t v[3000];
    for (int i = 0; i < 3000; i++)
        v[i] = 1 + i / 1000;
    shuffle(v, 3000, 6);
    cr_assert_eq(metric_nearest_rank(v, 3000, 0.5), 2);
    cr_assert_eq(metric_nearest_rank(v, 3000, 0.9), 3);
    cr_assert_eq(metric_nearest_rank(v, 3000, 0.3), 1);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

Test(metric, nearest_rank_agrees_with_sorting_on_random_data)
{
    size_t n = 10007;
    int64_t *v = malloc(n * sizeof(*v));
    int64_t *sorted = malloc(n * sizeof(*v));
    srand(7);
    for (size_t i = 0; i < n; i++)
        sorted[i] = (int64_t)(rand() % 5000) * 1000 - 100000; /* duplicates and negatives */
    qsort(sorted, n, sizeof(*sorted), cmp64);
    const double qs[] = { 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0 };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        memcpy(v, sorted, n * sizeof(*v));
        shuffle(v, n, (unsigned)i + 10);
        size_t k = (size_t)ceil(qs[i] * (double)n); /* none of these products is near an integer */
        cr_assert_eq(metric_nearest_rank(v, n, qs[i]), sorted[k - 1], "q=%g", qs[i]);
    }
    /* sorted and reverse-sorted inputs */
    memcpy(v, sorted, n * sizeof(*v));
    cr_assert_eq(metric_nearest_rank(v, n, 0.5), sorted[5003]); /* ceil(5003.5) = 5004 */
    for (size_t i = 0; i < n; i++)
        v[i] = sorted[n - 1 - i];
    cr_assert_eq(metric_nearest_rank(v, n, 0.5), sorted[5003]);
    free(sorted);
    free(v);
}

/* ---- accumulators ---- */

Test(metric, quantile_accumulator_gives_seconds_by_nearest_rank)
{
    struct rule r = make_rule(METRIC_QUANTILE);
    struct metric_acc *a = metric_acc_new(&r);
    /* durations 10ms, 20ms, ..., 200ms added in a scrambled order */
    for (int i = 0; i < 20; i++)
        metric_acc_add(
            a, &(struct span){ .start_ns = 1000, .end_ns = 1000 + ((i * 7) % 20 + 1) * 10 * MS });
    struct metric_raw raw;
    metric_acc_finish(a, 120 * S, &raw);
    /* ceil(0.95 * 20) = 19 -> 190ms */
    cr_assert_eq(raw.samples, 20);
    cr_assert_float_eq(raw.value, 0.19, 1e-12);
    cr_assert_not(raw.partial);
    metric_acc_free(a);
}

Test(metric, quantile_accumulator_grows_past_its_first_allocation)
{
    struct rule r = make_rule(METRIC_QUANTILE);
    r.quantile = 0.5;
    struct metric_acc *a = metric_acc_new(&r);
    /* 1001 spans of 1..1001 µs: median rank ceil(500.5) = 501 -> 501 µs */
    for (int i = 1001; i >= 1; i--) {
        struct span s = make_span(0, i * 1000, SPAN_STATUS_UNSET);
        metric_acc_add(a, &s);
    }
    struct metric_raw raw;
    metric_acc_finish(a, S, &raw);
    cr_assert_eq(raw.samples, 1001);
    cr_assert_float_eq(raw.value, 501e-6, 1e-15);
    metric_acc_free(a);
}

Test(metric, rate_is_count_over_window_seconds)
{
    struct rule r = make_rule(METRIC_RATE);
    struct metric_acc *a = metric_acc_new(&r);
    for (int i = 0; i < 30; i++) {
        struct span s = make_span(i, 5 * MS, SPAN_STATUS_OK);
        metric_acc_add(a, &s);
    }
    struct metric_raw raw;
    metric_acc_finish(a, 120 * S, &raw);
    /* 30 spans / 120 s = 0.25 per second */
    cr_assert_eq(raw.samples, 30);
    cr_assert_float_eq(raw.value, 0.25, 1e-12);
    /* a zero-length window cannot give a rate */
    metric_acc_finish(a, 0, &raw);
    cr_assert(isnan(raw.value));
    metric_acc_free(a);
}

Test(metric, error_ratio_counts_only_status_error)
{
    struct rule r = make_rule(METRIC_ERROR_RATIO);
    struct metric_acc *a = metric_acc_new(&r);
    const enum span_status st[12] = { SPAN_STATUS_ERROR, SPAN_STATUS_OK,    SPAN_STATUS_UNSET,
                                      SPAN_STATUS_OK,    SPAN_STATUS_ERROR, SPAN_STATUS_UNSET,
                                      SPAN_STATUS_OK,    SPAN_STATUS_OK,    SPAN_STATUS_ERROR,
                                      SPAN_STATUS_UNSET, SPAN_STATUS_OK,    SPAN_STATUS_OK };
    for (int i = 0; i < 12; i++) {
        struct span s = make_span(0, MS, st[i]);
        metric_acc_add(a, &s);
    }
    struct metric_raw raw;
    metric_acc_finish(a, 60 * S, &raw);
    /* 3 errors of 12 */
    cr_assert_eq(raw.samples, 12);
    cr_assert_float_eq(raw.value, 0.25, 1e-12);
    metric_acc_free(a);
}

Test(metric, slow_ratio_is_strictly_greater_than_threshold)
{
    struct rule r = make_rule(METRIC_SLOW_RATIO);
    struct metric_acc *a = metric_acc_new(&r);
    const int64_t d[4] = { 299 * MS, 300 * MS, 300 * MS + 1, S };
    for (int i = 0; i < 4; i++) {
        struct span s = make_span(0, d[i], SPAN_STATUS_OK);
        metric_acc_add(a, &s);
    }
    struct metric_raw raw;
    metric_acc_finish(a, 60 * S, &raw);
    /* 300ms exactly is not slow: 2 of 4 */
    cr_assert_eq(raw.samples, 4);
    cr_assert_float_eq(raw.value, 0.5, 1e-12);
    metric_acc_free(a);
}

Test(metric, mean_is_in_seconds)
{
    struct rule r = make_rule(METRIC_MEAN);
    struct metric_acc *a = metric_acc_new(&r);
    const int64_t d[3] = { 100 * MS, 200 * MS, 600 * MS };
    for (int i = 0; i < 3; i++) {
        struct span s = make_span(0, d[i], SPAN_STATUS_OK);
        metric_acc_add(a, &s);
    }
    struct metric_raw raw;
    metric_acc_finish(a, 60 * S, &raw);
    /* (0.1 + 0.2 + 0.6) / 3 = 0.3 */
    cr_assert_eq(raw.samples, 3);
    cr_assert_float_eq(raw.value, 0.3, 1e-12);
    metric_acc_free(a);
}

Test(metric, span_ending_before_its_start_counts_as_zero_duration)
{
    struct rule r = make_rule(METRIC_MEAN);
    struct metric_acc *a = metric_acc_new(&r);
    struct span bad = make_span(1000, 0, SPAN_STATUS_OK);
    bad.end_ns = 0; /* broken producer */
    struct span good = make_span(0, 2 * S, SPAN_STATUS_OK);
    metric_acc_add(a, &bad);
    metric_acc_add(a, &good);
    struct metric_raw raw;
    metric_acc_finish(a, 60 * S, &raw);
    /* (0 + 2) / 2 = 1 */
    cr_assert_float_eq(raw.value, 1.0, 1e-12);
    metric_acc_free(a);
}

Test(metric, io_share_is_covered_over_total_and_counts_parents)
{
    struct rule r = make_rule(METRIC_IO_SHARE);
    struct metric_acc *a = metric_acc_new(&r);
    metric_acc_add_io(a, 30 * MS, 100 * MS, 2);
    metric_acc_add_io(a, 20 * MS, 100 * MS, 1);
    struct span s = make_span(0, S, SPAN_STATUS_OK);
    metric_acc_add(a, &s); /* ignored: io_share counts parents through add_io */
    struct metric_raw raw;
    metric_acc_finish(a, 60 * S, &raw);
    /* (30 + 20) / (100 + 100) = 0.25 over 3 parents */
    cr_assert_eq(raw.samples, 3);
    cr_assert_float_eq(raw.value, 0.25, 1e-12);
    metric_acc_free(a);
}

Test(metric, add_io_is_ignored_by_other_metrics)
{
    struct rule r = make_rule(METRIC_RATE);
    struct metric_acc *a = metric_acc_new(&r);
    metric_acc_add_io(a, 1, 2, 5);
    struct metric_raw raw;
    metric_acc_finish(a, 60 * S, &raw);
    cr_assert_eq(raw.samples, 0);
    cr_assert(isnan(raw.value));
    metric_acc_free(a);
}

Test(metric, empty_accumulators_give_nan_and_zero_samples)
{
    const enum metric_kind kinds[] = { METRIC_QUANTILE,   METRIC_RATE,     METRIC_ERROR_RATIO,
                                       METRIC_SLOW_RATIO, METRIC_IO_SHARE, METRIC_MEAN };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct rule r = make_rule(kinds[i]);
        struct metric_acc *a = metric_acc_new(&r);
        struct metric_raw raw = { 1, 1, true };
        metric_acc_finish(a, 60 * S, &raw);
        cr_assert_eq(raw.samples, 0);
        cr_assert(isnan(raw.value));
        cr_assert_not(raw.partial);
        metric_acc_free(a);
    }
    metric_acc_free(NULL);
}

/* ---- policy ---- */

Test(metric, policy_on_empty_zero_serves_zero)
{
    struct rule r = make_rule(METRIC_QUANTILE);
    r.on_empty = RULE_ON_EMPTY_ZERO;
    r.min_samples = 20;
    struct metric_raw raw = { NAN, 0, false };
    double v = -1;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, NULL), TA_OK);
    cr_assert_eq(v, 0.0);
}

Test(metric, policy_on_empty_error_says_no_matching_spans)
{
    struct rule r = make_rule(METRIC_RATE);
    struct metric_raw raw = { NAN, 0, false };
    struct ta_err err = { 0 };
    double v = -1;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "no matching spans in the 2m window");
    cr_assert_eq(v, -1);
    r.metric = METRIC_IO_SHARE;
    r.window_ns = 90 * S;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "no matching parent spans in the 90s window");
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, NULL), TA_UNAVAILABLE);
}

Test(metric, policy_refuses_fewer_than_min_samples)
{
    struct rule r = make_rule(METRIC_QUANTILE);
    r.min_samples = 20;
    struct metric_raw raw = { 0.2, 7, false };
    struct ta_err err = { 0 };
    double v = -1;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "only 7 matching spans in the 2m window, minSamples is 20");
    raw.samples = 1;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "only 1 matching span in the 2m window, minSamples is 20");
    raw.samples = 19; /* one below the limit */
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    raw.samples = 20; /* the limit itself passes */
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_OK);
    cr_assert_float_eq(v, 0.2, 1e-15);
    r.metric = METRIC_IO_SHARE;
    raw.samples = 3;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "only 3 matching parent spans in the 2m window, minSamples is 20");
}

Test(metric, policy_does_not_apply_min_samples_to_rate)
{
    struct rule r = make_rule(METRIC_RATE);
    r.min_samples = 20;
    /* 3 spans in 2m: exactly 0.025/s */
    struct metric_raw raw = { 0.025, 3, false };
    double v = -1;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, NULL), TA_OK);
    cr_assert_float_eq(v, 0.025, 1e-15);
}

Test(metric, policy_refuses_non_finite_values)
{
    struct rule r = make_rule(METRIC_QUANTILE);
    struct metric_raw raw = { NAN, 5, false };
    struct ta_err err = { 0 };
    double v = -1;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "the computed quantile is not a finite number (nan)");
    r.metric = METRIC_IO_SHARE;
    raw.value = INFINITY;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "the computed io share is not a finite number (+inf)");
    r.metric = METRIC_MEAN;
    raw.value = -INFINITY;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "the computed mean is not a finite number (-inf)");
    cr_assert_eq(v, -1);
}

Test(metric, policy_passes_partial_results)
{
    struct rule r = make_rule(METRIC_ERROR_RATIO);
    struct metric_raw raw = { 0.5, 10, true };
    double v = -1;
    cr_assert_eq(metric_apply_policy(&r, &raw, &v, NULL), TA_OK);
    cr_assert_float_eq(v, 0.5, 1e-15);
}

/* ---- duration text ---- */

Test(metric, format_duration_table)
{
    const struct {
        int64_t ns;
        const char *text;
    } t[] = {
        { 0, "0s" },
        { 1, "1ns" },
        { 1500, "1500ns" },
        { 2000, "2us" },
        { 500 * MS, "500ms" },
        { S, "1s" },
        { 1500 * MS, "1.5s" },
        { S + 1, "1.000000001s" },
        { 60 * S, "60s" },
        { 75 * S, "75s" },
        { 119 * S, "119s" },
        { 120 * S, "2m" },
        { 150 * S, "2m30s" },
        { 3600 * S, "1h" },
        { 5400 * S, "1h30m" },
        { 7205 * S, "2h5s" },
        { 24 * 3600 * S, "24h" },
        { 125 * S + 250 * MS, "2m5.25s" },
        { -75 * S, "-75s" },
        { INT64_MAX, "2562047h47m16.854775807s" },
        { INT64_MIN, "-2562047h47m16.854775808s" },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char out[METRIC_DURATION_TEXT_MAX];
        metric_format_duration(t[i].ns, out);
        cr_assert_str_eq(out, t[i].text, "ns=%lld", (long long)t[i].ns);
    }
}
