/* metric.h — exact metric evaluation over spans, and the policy applied to every result.
 *
 * The embedded store (server/store_source.c) feeds matching spans into a struct metric_acc;
 * the Tempo source computes struct metric_raw from query answers; rules/cache applies
 * metric_apply_policy to both, so onEmpty, minSamples and finiteness behave identically on
 * every source. Semantics: DESIGN.md "Metric semantics". An accumulator is used by one thread
 * at a time; the functions keep no global state. */
#ifndef TA_RULES_METRIC_H
#define TA_RULES_METRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/ta_err.h"
#include "rules/rules.h"
#include "rules/span.h"

/* Room for any int64 nanosecond count written by metric_format_duration, with its NUL. */
#define METRIC_DURATION_TEXT_MAX 48

/* The outcome of one evaluation before policy: value plus the number of samples it rests on
 * (matching spans; parent spans for io_share). */
struct metric_raw {
    double value; /* NaN when there were no samples */
    uint64_t samples;
    bool partial; /* the source said its answer was incomplete (Tempo PARTIAL) */
};

struct metric_acc; /* opaque */

/* A new accumulator for rule (borrowed; must outlive the accumulator). Never NULL. Memory: a
 * quantile accumulator keeps 8 bytes per added span (the caller's input is bounded: the
 * embedded store by --embedded-max-spans); the others are constant size. */
struct metric_acc *metric_acc_new(const struct rule *rule);
/* NULL is fine. */
void metric_acc_free(struct metric_acc *a);
/* Adds one span that matched the rule's filter. Ignored by an io_share accumulator (it counts
 * parents through metric_acc_add_io). A span with end < start counts as zero duration. */
void metric_acc_add(struct metric_acc *a, const struct span *s);
/* Adds the io_share totals of one or more parent spans (see ioshare.h). Ignored unless the
 * rule's metric is io_share. */
void metric_acc_add_io(struct metric_acc *a, int64_t covered_ns, int64_t total_ns,
                       uint64_t parents);
/* Computes the raw value over a window of window_ns: quantile by nearest rank (the
 * ceil(q·N)-th smallest duration, seconds), rate (N / window seconds), error_ratio (status
 * error / N), slow_ratio (duration > threshold, strictly, / N), mean (seconds), io_share
 * (Σ covered / Σ durations). samples = N (parents for io_share); value NaN when N = 0, and for
 * rate when window_ns <= 0. partial = false. May be called again after more adds. */
void metric_acc_finish(struct metric_acc *a, int64_t window_ns, struct metric_raw *out);

/* The ceil(q·n)-th smallest of vals (at least the 1st, at most the n-th); reorders vals;
 * n > 0. Quickselect with random pivots and three-way partitioning: O(n) expected, also when
 * many values are equal; a pathological run falls back to sorting the remaining range.
 * q·n within a relative 1e-9 of an integer is taken as that integer, so binary rounding does
 * not move the rank (0.07·100 is 7.000000000000001 in doubles; the rank is 7, not 8). A q that
 * is NaN or <= 0 gives the smallest value, q >= 1 the largest. */
int64_t metric_nearest_rank(int64_t *vals, size_t n, double q);

/* Turns a raw result into the value to serve, or an error:
 * - no samples: 0 with onEmpty: zero; else TA_UNAVAILABLE "no matching spans in the 2m
 *   window" ("no matching parent spans …" for io_share);
 * - 0 < samples < minSamples: TA_UNAVAILABLE "only 7 matching spans in the 2m window,
 *   minSamples is 20". Not applied to rate: minSamples exists to refuse noisy statistics (a
 *   p95 of 3 spans), while a rate is an exact count at any size — 3 spans in 2m is exactly
 *   0.025/s, and refusing it would turn low traffic into an error that pins replicas;
 * - a non-finite value (NaN, ±Inf): TA_UNAVAILABLE "the computed quantile is not a finite
 *   number (nan)".
 * partial results are not refused here (the source logs and counts them). Messages do not
 * name the rule (the caller prefixes it). */
enum ta_rc metric_apply_policy(const struct rule *rule, const struct metric_raw *raw, double *value,
                               struct ta_err *err);

/* Writes ns as a Prometheus-style duration for user-facing messages: below 1s in ms, µs
 * ("us") or ns, whichever is exact ("500ms"); below 2m in seconds ("75s", "1.5s", "60s");
 * from 2m on in h/m/s parts without zero parts ("2m", "2m30s", "1h", "2h5s"). Negative values
 * get a leading '-'. */
void metric_format_duration(int64_t ns, char out[METRIC_DURATION_TEXT_MAX]);

#endif
