/* test_tempo_quantile.c — the refined quantile against the exact nearest rank of synthetic
 * span sets (lognormal 1 ms–60 s, bimodal, uniform, heavy tail, constant, tiny and sparse),
 * with Tempo's own power-of-two estimate for comparison. The exact value is computed here by
 * sorting; the probe callback counts durations above T over the same array, as Tempo's
 * `{ F && duration > T } | count_over_time()` would. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/tempo_quantile.h"

struct data {
    int64_t *d;
    size_t n;
    int calls;
    int64_t drift; /* added to every probe answer: spans arriving between queries */
};

static enum ta_rc count_above(void *ctx, int64_t t, uint64_t *count, struct ta_err *err)
{
    (void)err;
    struct data *x = ctx;
    uint64_t c = 0;
    for (size_t i = 0; i < x->n; i++)
        c += x->d[i] > t;
    x->calls++;
    *count = c + (uint64_t)x->drift;
    return TA_OK;
}

static enum ta_rc failing_probe(void *ctx, int64_t t, uint64_t *count, struct ta_err *err)
{
    (void)ctx;
    (void)t;
    (void)count;
    return ta_err_set(err, TA_UPSTREAM, "tempo: 503 probe failed");
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The ceil(q·n)-th smallest, by sorting a copy. */
static int64_t exact(const int64_t *d, size_t n, double q)
{
    int64_t *c = malloc(n * sizeof(*c));
    memcpy(c, d, n * sizeof(*c));
    qsort(c, n, sizeof(*c), cmp64);
    size_t r = (size_t)ceil(q * (double)n);
    if (r < 1)
        r = 1;
    int64_t v = c[r - 1];
    free(c);
    return v;
}

/* Tempo's histogram: bucket 2^ceil(log2 v) for v >= 2, computed bit by bit. */
static size_t histogram(const int64_t *d, size_t n, struct tempo_hist_bucket *b)
{
    uint64_t counts[64] = { 0 };
    for (size_t i = 0; i < n; i++) {
        if (d[i] < 2)
            continue;
        int k = 1;
        while (((int64_t)1 << k) < d[i])
            k++;
        counts[k]++;
    }
    size_t m = 0;
    for (int k = 63; k >= 1; k--) /* descending: the function must sort */
        if (counts[k]) {
            b[m].upper_ns = k == 63 ? INT64_MAX : (int64_t)1 << k;
            b[m].count = counts[k];
            m++;
        }
    return m;
}

static uint64_t rng_state = 88172645463325252ULL;

static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double nrand(void)
{
    return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

enum dist {
    LOGNORMAL,
    BIMODAL,
    UNIFORM,
    HEAVY,
    CONSTANT
};

static int64_t *make(enum dist kind, size_t n)
{
    int64_t *d = malloc(n * sizeof(*d));
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        switch (kind) {
        case LOGNORMAL: /* median ~250 ms, spread covering 1 ms .. 60 s */
            v = exp(log(0.25e9) + 1.4 * nrand());
            if (v < 1e6)
                v = 1e6 + urand() * 1e5;
            if (v > 60e9)
                v = 60e9 - urand() * 1e9;
            break;
        case BIMODAL: /* cache hits ~2 ms, misses ~800 ms */
            v = urand() < 0.7 ? 2e6 * exp(0.2 * nrand()) : 800e6 * exp(0.3 * nrand());
            break;
        case UNIFORM:
            v = 1e6 + urand() * (60e9 - 1e6);
            break;
        case HEAVY: /* Pareto alpha 1.2 from 5 ms */
            v = 5e6 / pow(urand(), 1 / 1.2);
            if (v > 60e9)
                v = 60e9;
            break;
        case CONSTANT:
            v = 123456789;
            break;
        }
        d[i] = (int64_t)v;
    }
    return d;
}

/* Runs the refinement and checks it against the exact value; returns the relative error. */
static double run(const int64_t *d, size_t n, double q, int probes, double bound, double *tempo_err)
{
    struct tempo_hist_bucket b[64];
    size_t m = histogram(d, n, b);
    struct data x = { (int64_t *)d, n, 0, 0 };
    struct tempo_quantile_result r;
    struct ta_err err;
    cr_assert_eq(tempo_quantile_refine(b, m, n, q, probes, count_above, &x, &r, &err), TA_OK, "%s",
                 err.msg);
    int64_t want = exact(d, n, q);
    double rel = fabs(r.value_s * 1e9 - (double)want) / (double)want;
    cr_assert_leq(rel, bound, "q=%g n=%zu: got %.9f s, exact %.9f s (%.3f%%)", q, n, r.value_s,
                  (double)want / 1e9, rel * 100);
    cr_assert_leq(r.probes, probes ? probes : TEMPO_QUANTILE_PROBES);
    cr_assert_eq(r.probes, x.calls);
    cr_assert_eq(r.n, n);
    cr_assert(want > r.lo_ns && want <= r.hi_ns, "exact %lld outside (%lld, %lld]", (long long)want,
              (long long)r.lo_ns, (long long)r.hi_ns);
    if (tempo_err) {
        double t = tempo_quantile_tempo_estimate(b, m, q);
        *tempo_err = fabs(t * 1e9 - (double)want) / (double)want;
    }
    return rel;
}

Test(tempo_quantile, p95_within_0_55_percent_on_every_distribution)
{
    static const enum dist kinds[] = { LOGNORMAL, BIMODAL, UNIFORM, HEAVY, CONSTANT };
    static const char *const names[] = { "lognormal", "bimodal", "uniform", "heavy", "constant" };
    for (size_t k = 0; k < 5; k++) {
        for (size_t n = 20; n <= 20000; n *= 10) {
            int64_t *d = make(kinds[k], n);
            double tempo_err = 0;
            double rel = run(d, n, 0.95, 6, 0.0055, &tempo_err);
            cr_log_info("%-9s n=%-5zu refined %.3f%%  tempo quantile_over_time %.1f%%", names[k], n,
                        rel * 100, tempo_err * 100);
            cr_assert_lt(tempo_err, 1.0, "Tempo's estimate stays within a factor 2");
            free(d);
        }
    }
}

Test(tempo_quantile, other_quantiles_and_fewer_probes_stay_within_5_percent)
{
    static const double qs[] = { 0.5, 0.9, 0.99, 0.999, 1.0, 0.001 };
    int64_t *d = make(LOGNORMAL, 5000);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        run(d, 5000, qs[i], 6, 0.0055, NULL);
        run(d, 5000, qs[i], 3, 0.045, NULL); /* 2^(1/16): 4.4 % */
        run(d, 5000, qs[i], 4, 0.022, NULL);
    }
    free(d);
}

Test(tempo_quantile, small_values_become_exact_when_the_bracket_closes)
{
    /* durations 2..40 ns: brackets of a few ns close to width 1, giving the exact value */
    int64_t d[39];
    for (int i = 0; i < 39; i++)
        d[i] = 2 + i;
    struct tempo_hist_bucket b[64];
    size_t m = histogram(d, 39, b);
    struct data x = { d, 39, 0, 0 };
    struct tempo_quantile_result r;
    cr_assert_eq(tempo_quantile_refine(b, m, 39, 0.95, 6, count_above, &x, &r, NULL), TA_OK);
    /* rank ceil(0.95·39) = 38 -> the 38th smallest = 39 ns */
    cr_assert_eq(r.rank, 38);
    cr_assert_eq(r.hi_ns - r.lo_ns, 1);
    cr_assert_float_eq(r.value_s, 39e-9, 1e-15);
}

Test(tempo_quantile, first_bucket_needs_no_probe)
{
    int64_t d[3] = { 2, 2, 2 };
    struct tempo_hist_bucket b[64];
    size_t m = histogram(d, 3, b);
    struct data x = { d, 3, 0, 0 };
    struct tempo_quantile_result r;
    cr_assert_eq(tempo_quantile_refine(b, m, 3, 0.5, 6, count_above, &x, &r, NULL), TA_OK);
    cr_assert_eq(r.probes, 0, "bucket (1, 2] holds only 2");
    cr_assert_float_eq(r.value_s, 2e-9, 1e-18);
}

Test(tempo_quantile, spans_under_2ns_are_counted_from_the_total)
{
    /* 6 spans of 0 ns, 2 of 1 ns (absent from the histogram), 2 of 1 s */
    int64_t d[10] = { 0, 0, 0, 0, 0, 0, 1, 1, 1000000000, 1000000000 };
    struct tempo_hist_bucket b[64];
    size_t m = histogram(d, 10, b);
    struct data x = { d, 10, 0, 0 };
    struct tempo_quantile_result r;
    /* p50: rank 5 -> 0 ns, one probe at T = 0 */
    cr_assert_eq(tempo_quantile_refine(b, m, 10, 0.5, 6, count_above, &x, &r, NULL), TA_OK);
    cr_assert_eq(r.probes, 1);
    cr_assert_float_eq(r.value_s, 0.0, 0);
    /* p70: rank 7 -> 1 ns */
    x.calls = 0;
    cr_assert_eq(tempo_quantile_refine(b, m, 10, 0.7, 6, count_above, &x, &r, NULL), TA_OK);
    cr_assert_float_eq(r.value_s, 1e-9, 1e-18);
    /* p90: rank 9 -> 1 s, inside the histogram */
    x.calls = 0;
    cr_assert_eq(tempo_quantile_refine(b, m, 10, 0.9, 6, count_above, &x, &r, NULL), TA_OK);
    cr_assert_eq(r.n, 10);
    cr_assert_lt(fabs(r.value_s - 1.0), 0.0055);
}

Test(tempo_quantile, sparse_buckets_far_apart)
{
    /* 90 spans of ~3 µs and 10 of ~40 s: p95 lies in the far bucket; Tempo's interpolation
     * from the previous non-empty bucket lands far below it */
    int64_t d[100];
    for (int i = 0; i < 90; i++)
        d[i] = 3000 + i;
    for (int i = 90; i < 100; i++)
        d[i] = 40000000000LL + (int64_t)i * 1000000;
    double tempo_err = 0;
    run(d, 100, 0.95, 6, 0.0055, &tempo_err);
    cr_assert_gt(tempo_err, 0.3, "Tempo's own estimate is far off on sparse data (%.2f)",
                 tempo_err);
}

Test(tempo_quantile, counts_drifting_between_probes_stay_within_5_percent)
{
    int64_t *d = make(LOGNORMAL, 2000);
    struct tempo_hist_bucket b[64];
    size_t m = histogram(d, 2000, b);
    struct data x = { d, 2000, 0, 3 }; /* every probe sees 3 spans more */
    struct tempo_quantile_result r;
    cr_assert_eq(tempo_quantile_refine(b, m, 2000, 0.95, 6, count_above, &x, &r, NULL), TA_OK);
    int64_t want = exact(d, 2000, 0.95);
    cr_assert_lt(fabs(r.value_s * 1e9 - (double)want) / (double)want, 0.05);
    /* a probe above n is clamped: all spans are "above" every T -> the bracket's top */
    x.drift = 1000000;
    x.calls = 0;
    cr_assert_eq(tempo_quantile_refine(b, m, 2000, 0.95, 6, count_above, &x, &r, NULL), TA_OK);
    cr_assert(isfinite(r.value_s));
    free(d);
}

Test(tempo_quantile, empty_histogram_is_nan_with_no_samples)
{
    struct tempo_quantile_result r;
    struct data x = { NULL, 0, 0, 0 };
    cr_assert_eq(tempo_quantile_refine(NULL, 0, 0, 0.95, 6, count_above, &x, &r, NULL), TA_OK);
    cr_assert_eq(r.n, 0);
    cr_assert(isnan(r.value_s));
    cr_assert_eq(x.calls, 0);
    cr_assert(isnan(tempo_quantile_tempo_estimate(NULL, 0, 0.95)));
}

Test(tempo_quantile, histogram_larger_than_count_uses_the_histogram_total)
{
    struct tempo_hist_bucket b[2] = { { 1 << 20, 5 }, { 1 << 21, 5 } };
    int64_t d[10];
    for (int i = 0; i < 5; i++) {
        d[i] = (1 << 19) + 1000 * (i + 1);
        d[5 + i] = (1 << 20) + 1000 * (i + 1);
    }
    struct data x = { d, 10, 0, 0 };
    struct tempo_quantile_result r;
    cr_assert_eq(tempo_quantile_refine(b, 2, 7, 0.5, 6, count_above, &x, &r, NULL), TA_OK);
    cr_assert_eq(r.n, 10);
    cr_assert_eq(r.rank, 5);
    cr_assert_lt(fabs(r.value_s * 1e9 - (double)d[4]) / (double)d[4], 0.0055);
}

Test(tempo_quantile, errors)
{
    struct tempo_quantile_result r;
    struct ta_err err;
    struct tempo_hist_bucket b[1] = { { 1 << 10, 4 } };
    cr_assert_eq(tempo_quantile_refine(b, 1, 4, 0, 6, count_above, NULL, &r, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "quantile 0 is not in (0, 1]");
    cr_assert_eq(tempo_quantile_refine(b, 1, 4, 1.5, 6, count_above, NULL, &r, &err), TA_INVALID);
    cr_assert_eq(tempo_quantile_refine(b, 1, 4, NAN, 6, count_above, NULL, &r, &err), TA_INVALID);
    struct tempo_hist_bucket bad[1] = { { 1000, 4 } };
    cr_assert_eq(tempo_quantile_refine(bad, 1, 4, 0.5, 6, count_above, NULL, &r, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "histogram bucket 1000 ns is not a power of two");
    cr_assert_eq(tempo_quantile_refine(b, 1, 4, 0.5, 6, failing_probe, NULL, &r, &err),
                 TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tempo: 503 probe failed");
}

Test(tempo_quantile, merges_duplicate_buckets_and_refuses_too_many)
{
    struct tempo_hist_bucket b[3] = { { 1 << 10, 2 }, { 1 << 10, 2 }, { 1 << 12, 0 } };
    cr_assert_float_eq(tempo_quantile_tempo_estimate(b, 3, 1.0), 1024e-9, 1e-18);
    struct tempo_hist_bucket many[65];
    for (int i = 0; i < 65; i++) {
        many[i].upper_ns = (int64_t)1 << (i % 62 + 1);
        many[i].count = 1;
    }
    /* 65 entries but only 62 distinct bounds: accepted after merging */
    struct tempo_quantile_result r;
    struct data x = { NULL, 0, 0, 0 };
    cr_assert_eq(tempo_quantile_refine(many, 65, 0, 0.5, 1, count_above, &x, &r, NULL), TA_OK);
}

Test(tempo_quantile, tempo_estimate_matches_spec_examples)
{
    /* 10 spans in (2^19, 2^20] and 10 in (2^20, 2^21]: p50 = exactly the first bound */
    struct tempo_hist_bucket b[2] = { { 1 << 21, 10 }, { 1 << 20, 10 } };
    cr_assert_float_eq(tempo_quantile_tempo_estimate(b, 2, 0.5), 1048576e-9, 1e-15);
    /* p75: target 15, 5 of 10 into the second bucket: 2^(20 + 0.5) ns */
    cr_assert_float_eq(tempo_quantile_tempo_estimate(b, 2, 0.75), exp2(20.5) / 1e9, 1e-12);
    /* first bucket: interpolates from max/2 */
    cr_assert_float_eq(tempo_quantile_tempo_estimate(b, 2, 0.25), exp2(19.5) / 1e9, 1e-12);
}

Test(tempo_quantile, bucket_label_conversion)
{
    int64_t ns;
    struct ta_err err;
    cr_assert_eq(tempo_quantile_bucket_ns(0.004194304, &ns, NULL), TA_OK);
    cr_assert_eq(ns, 1 << 22);
    cr_assert_eq(tempo_quantile_bucket_ns(0.268435456, &ns, NULL), TA_OK);
    cr_assert_eq(ns, 1 << 28);
    cr_assert_eq(tempo_quantile_bucket_ns(2e-9, &ns, NULL), TA_OK);
    cr_assert_eq(ns, 2);
    cr_assert_eq(tempo_quantile_bucket_ns(9.223372036854775808e9, &ns, NULL), TA_OK);
    cr_assert_eq(ns, INT64_MAX);
    cr_assert_eq(tempo_quantile_bucket_ns(0.003, &ns, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "histogram bucket 0.003s is not a power of two of ns");
    cr_assert_eq(tempo_quantile_bucket_ns(1e-9, &ns, &err), TA_INVALID);
    cr_assert_eq(tempo_quantile_bucket_ns(NAN, &ns, &err), TA_INVALID);
    cr_assert_eq(tempo_quantile_bucket_ns(-1, &ns, &err), TA_INVALID);
    cr_assert_eq(tempo_quantile_bucket_ns(1e300, &ns, &err), TA_INVALID);
}
