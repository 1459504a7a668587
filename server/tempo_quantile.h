/* tempo_quantile.h — a span-duration quantile from Tempo, accurate to well under 5 %.
 *
 * Tempo's own quantile_over_time rounds durations to powers of two (up to 2x off). This module
 * refines it from exact counts: server/tempo_source gives it the power-of-two histogram of the
 * window (histogram_over_time(duration), exact bucket counts), the total count
 * (count_over_time(), which also counts the spans under 2 ns that the histogram drops) and a
 * probe callback answering "how many matching spans last longer than T ns" (one
 * `{ F && duration > T } | count_over_time()` query each). The algorithm (bisection in log
 * space inside the bucket that holds the target rank) is described in tempo_quantile.c and
 * docs/tempo.md. Pure apart from the callback: any thread, no shared state. */
#ifndef TA_SERVER_TEMPO_QUANTILE_H
#define TA_SERVER_TEMPO_QUANTILE_H

#include <stddef.h>
#include <stdint.h>

#include "apis/base/ta_err.h"

#define TEMPO_QUANTILE_PROBES      6  /* default probes: bracket ratio 2^(1/64), error ≤ 0.55 % */
#define TEMPO_QUANTILE_MAX_PROBES  16 /* accepted maximum */
#define TEMPO_QUANTILE_MAX_BUCKETS 64 /* power-of-two buckets of an int64 ns duration */

/* One histogram_over_time bucket: spans with duration in (upper_ns/2, upper_ns]. */
struct tempo_hist_bucket {
    int64_t upper_ns; /* a power of two, >= 2 */
    uint64_t count;
};

/* Counts the matching spans with duration > threshold_ns over the same window. */
typedef enum ta_rc (*tempo_count_above_fn)(void *ctx, int64_t threshold_ns, uint64_t *count,
                                           struct ta_err *err);

struct tempo_quantile_result {
    double value_s; /* the estimate in seconds; NaN when n == 0 */
    uint64_t n;     /* spans the quantile is over */
    int probes;     /* count_above calls made */
    int64_t lo_ns;  /* final bracket: the exact quantile lies in (lo_ns, hi_ns] */
    int64_t hi_ns;
    uint64_t rank; /* target rank ceil(q·n) */
};

/* Converts a `__bucket` label (seconds, as Tempo writes 2^k / 1e9) to its power of two in ns.
 * TA_INVALID when the value is not finite, below 2 ns or not within 0.1 % of a power of two. */
enum ta_rc tempo_quantile_bucket_ns(double seconds, int64_t *upper_ns, struct ta_err *err);

/* The nearest-rank q-quantile (the ceil(q·n)-th smallest duration, q in (0, 1]) refined with
 * at most max_probes calls of count_above (0 = TEMPO_QUANTILE_PROBES; capped at
 * TEMPO_QUANTILE_MAX_PROBES). buckets need not be sorted; equal bounds are merged. n_total is
 * the count_over_time of the same filter (the larger of it and the histogram total is used).
 * Errors: TA_INVALID for a bad q or bucket, or whatever count_above returns. */
enum ta_rc tempo_quantile_refine(const struct tempo_hist_bucket *buckets, size_t nbuckets,
                                 uint64_t n_total, double q, int max_probes,
                                 tempo_count_above_fn count_above, void *ctx,
                                 struct tempo_quantile_result *out, struct ta_err *err);

/* Tempo's own estimate from the same histogram (spec tempo-http-api §7.3: target = ceil(q·N),
 * exponential interpolation from the previous non-empty bucket), in seconds; NaN when empty.
 * For comparisons in tests and benchmarks. */
double tempo_quantile_tempo_estimate(const struct tempo_hist_bucket *buckets, size_t nbuckets,
                                     double q);

#endif
