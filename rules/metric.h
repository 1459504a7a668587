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

/* The outcome of one evaluation before policy: value plus the number of samples it rests on
 * (matching spans; parent spans for io_share). */
struct metric_raw {
    double value;     /* NaN when there were no samples */
    uint64_t samples;
    bool partial;     /* the source said its answer was incomplete (Tempo PARTIAL) */
};

struct metric_acc; /* opaque */

/* A new accumulator for rule (borrowed; must outlive the accumulator). */
struct metric_acc *metric_acc_new(const struct rule *rule);
void metric_acc_free(struct metric_acc *a);
/* Adds one span that matched the rule's filter (not used for io_share). */
void metric_acc_add(struct metric_acc *a, const struct span *s);
/* Adds the io_share totals of one or more parent spans (see ioshare.h). */
void metric_acc_add_io(struct metric_acc *a, int64_t covered_ns, int64_t total_ns,
                       uint64_t parents);
/* Computes the raw value over a window of window_ns: quantile by nearest rank (the
 * ceil(q·N)-th smallest duration, seconds), rate (N / window seconds), error_ratio,
 * slow_ratio (duration > threshold), mean (seconds), io_share (Σ covered / Σ durations). */
void metric_acc_finish(struct metric_acc *a, int64_t window_ns, struct metric_raw *out);

/* The ceil(q·n)-th smallest of vals (at least the 1st); reorders vals; n > 0. */
int64_t metric_nearest_rank(int64_t *vals, size_t n, double q);

/* Turns a raw result into the value to serve, or an error: no samples -> 0 with onEmpty:
 * zero, else TA_UNAVAILABLE "no matching spans in the window"; fewer than minSamples (not for
 * rate, an exact count at any size) -> TA_UNAVAILABLE "only N matching spans, minSamples is
 * M"; a non-finite value -> TA_UNAVAILABLE. Messages do not name the rule (the caller
 * prefixes it). */
enum ta_rc metric_apply_policy(const struct rule *rule, const struct metric_raw *raw,
                               double *value, struct ta_err *err);

#endif
