/* metric.c — accumulators for the six metrics, nearest-rank quickselect, and the serving policy.
 *
 * The embedded store adds matching spans (or io_share sums) to an accumulator and finishes it
 * into a struct metric_raw; rules/cache passes every source's raw result through
 * metric_apply_policy, the one place where "no value" becomes an explicit error. Invariant: no
 * NaN or infinity ever leaves metric_apply_policy with TA_OK. Accumulators: one thread at a
 * time; everything else is pure. */
#include "rules/metric.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "apis/base/ta_mem.h"

struct metric_acc {
    const struct rule *rule; /* borrowed */
    uint64_t n;              /* spans added */
    uint64_t errors;         /* status = error */
    uint64_t slow;           /* duration > threshold */
    double sum_ns;           /* Σ durations, for mean (a double: cannot overflow) */
    int64_t *durs;           /* quantile only: every duration, ns */
    size_t ndurs;
    size_t cap;
    double io_covered_ns; /* io_share: Σ covered */
    double io_total_ns;   /* io_share: Σ parent durations */
    uint64_t io_parents;
};

struct metric_acc *metric_acc_new(const struct rule *rule)
{
    struct metric_acc *a = ta_xcalloc(1, sizeof(*a));
    a->rule = rule;
    return a;
}

void metric_acc_free(struct metric_acc *a)
{
    if (!a)
        return;
    free(a->durs);
    free(a);
}

void metric_acc_add(struct metric_acc *a, const struct span *s)
{
    if (a->rule->metric == METRIC_IO_SHARE)
        return;
    int64_t d = s->end_ns >= s->start_ns ? span_duration_ns(s) : 0;
    a->n++;
    if (s->status == SPAN_STATUS_ERROR)
        a->errors++;
    if (d > a->rule->threshold_ns)
        a->slow++;
    a->sum_ns += (double)d;
    if (a->rule->metric == METRIC_QUANTILE) {
        if (a->ndurs == a->cap) {
            a->cap = a->cap ? a->cap * 2 : 256;
            a->durs = ta_xreallocarray(a->durs, a->cap, sizeof(*a->durs));
        }
        a->durs[a->ndurs++] = d;
    }
}

void metric_acc_add_io(struct metric_acc *a, int64_t covered_ns, int64_t total_ns, uint64_t parents)
{
    if (a->rule->metric != METRIC_IO_SHARE)
        return;
    a->io_covered_ns += (double)covered_ns;
    a->io_total_ns += (double)total_ns;
    a->io_parents += parents;
}

void metric_acc_finish(struct metric_acc *a, int64_t window_ns, struct metric_raw *out)
{
    const struct rule *r = a->rule;
    double n = (double)a->n;
    out->partial = false;
    out->samples = r->metric == METRIC_IO_SHARE ? a->io_parents : a->n;
    out->value = NAN;
    if (out->samples == 0)
        return;
    switch (r->metric) {
    case METRIC_QUANTILE:
        out->value = (double)metric_nearest_rank(a->durs, a->ndurs, r->quantile) / 1e9;
        break;
    case METRIC_RATE:
        if (window_ns > 0)
            out->value = n / ((double)window_ns / 1e9);
        break;
    case METRIC_ERROR_RATIO:
        out->value = (double)a->errors / n;
        break;
    case METRIC_SLOW_RATIO:
        out->value = (double)a->slow / n;
        break;
    case METRIC_MEAN:
        out->value = a->sum_ns / n / 1e9;
        break;
    case METRIC_IO_SHARE:
        out->value = a->io_covered_ns / a->io_total_ns; /* NaN or Inf when total is 0 */
        break;
    }
}

/* The 1-based rank ceil(q·n), clamped to [1, n], robust against binary rounding of q·n. */
static size_t nearest_rank_index(size_t n, double q)
{
    if (!(q > 0))
        return 1;
    if (q >= 1)
        return n;
    double x = q * (double)n;
    double r = nearbyint(x);
    double k = fabs(x - r) <= 1e-9 * x ? r : ceil(x);
    if (k < 1)
        return 1;
    if (k >= (double)n)
        return n;
    return (size_t)k;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa;
    int64_t b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

static int64_t median3(int64_t a, int64_t b, int64_t c)
{
    if (a > b) {
        int64_t t = a;
        a = b;
        b = t;
    }
    if (b > c)
        b = c;
    return a > b ? a : b;
}

int64_t metric_nearest_rank(int64_t *vals, size_t n, double q)
{
    size_t k = nearest_rank_index(n, q) - 1; /* 0-based position in sorted order */
    size_t lo = 0;
    size_t hi = n; /* the answer lies in vals[lo, hi) */
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n ^ ((uint64_t)(uintptr_t)vals << 1);
    /* Random pivots shrink the range by a quarter or more with probability 1/2 per round, so
     * 4·log2(n) + 32 rounds are exceeded only on astronomically unlucky or adversarial runs. */
    unsigned budget = 32;
    for (size_t m = n; m > 1; m >>= 1)
        budget += 4;
    while (hi - lo > 1) {
        if (budget-- == 0) {
            qsort(vals + lo, hi - lo, sizeof(*vals), cmp_i64);
            return vals[k];
        }
        size_t span = hi - lo;
        int64_t p = median3(vals[lo + xorshift(&seed) % span], vals[lo + xorshift(&seed) % span],
                            vals[lo + xorshift(&seed) % span]);
        /* Three-way partition: [lo, lt) < p, [lt, i) == p, (gt, hi) > p. */
        size_t lt = lo;
        size_t i = lo;
        size_t gt = hi;
        while (i < gt) {
            if (vals[i] < p) {
                int64_t t = vals[lt];
                vals[lt++] = vals[i];
                vals[i++] = t;
            } else if (vals[i] > p) {
                int64_t t = vals[--gt];
                vals[gt] = vals[i];
                vals[i] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return p;
    }
    return vals[k];
}

static const char *metric_kind_name(enum metric_kind k)
{
    switch (k) {
    case METRIC_QUANTILE:
        return "quantile";
    case METRIC_RATE:
        return "rate";
    case METRIC_ERROR_RATIO:
        return "error ratio";
    case METRIC_SLOW_RATIO:
        return "slow ratio";
    case METRIC_IO_SHARE:
        return "io share";
    case METRIC_MEAN:
        return "mean";
    }
    return "value";
}

enum ta_rc metric_apply_policy(const struct rule *rule, const struct metric_raw *raw, double *value,
                               struct ta_err *err)
{
    char window[METRIC_DURATION_TEXT_MAX];
    const char *what = rule->metric == METRIC_IO_SHARE ? "parent span" : "span";
    metric_format_duration(rule->window_ns, window);
    if (raw->samples == 0) {
        if (rule->on_empty == RULE_ON_EMPTY_ZERO) {
            *value = 0;
            return TA_OK;
        }
        return ta_err_set(err, TA_UNAVAILABLE, "no matching %ss in the %s window", what, window);
    }
    if (rule->metric != METRIC_RATE && raw->samples < rule->min_samples)
        return ta_err_set(err, TA_UNAVAILABLE,
                          "only %" PRIu64 " matching %s%s in the %s window, minSamples is %" PRIu64,
                          raw->samples, what, raw->samples == 1 ? "" : "s", window,
                          rule->min_samples);
    if (!isfinite(raw->value))
        return ta_err_set(err, TA_UNAVAILABLE, "the computed %s is not a finite number (%s)",
                          metric_kind_name(rule->metric),
                          isnan(raw->value) ? "nan" : (raw->value > 0 ? "+inf" : "-inf"));
    *value = raw->value;
    return TA_OK;
}

void metric_format_duration(int64_t ns, char out[METRIC_DURATION_TEXT_MAX])
{
    const uint64_t s_ns = (uint64_t)NS_PER_SEC;
    size_t len = 0;
    uint64_t v;
    if (ns < 0) {
        out[len++] = '-';
        v = (uint64_t)0 - (uint64_t)ns; /* exact also for INT64_MIN */
    } else {
        v = (uint64_t)ns;
    }
    char *p = out + len;
    size_t cap = METRIC_DURATION_TEXT_MAX - len;
    if (v == 0) {
        snprintf(p, cap, "0s");
    } else if (v < s_ns) {
        if (v % 1000000 == 0)
            snprintf(p, cap, "%" PRIu64 "ms", v / 1000000);
        else if (v % 1000 == 0)
            snprintf(p, cap, "%" PRIu64 "us", v / 1000);
        else
            snprintf(p, cap, "%" PRIu64 "ns", v);
    } else {
        uint64_t h = 0;
        uint64_t m = 0;
        if (v >= 120 * s_ns) {
            h = v / (3600 * s_ns);
            v -= h * 3600 * s_ns;
            m = v / (60 * s_ns);
            v -= m * 60 * s_ns;
        }
        int n = 0;
        if (h)
            n += snprintf(p + n, cap - (size_t)n, "%" PRIu64 "h", h);
        if (m)
            n += snprintf(p + n, cap - (size_t)n, "%" PRIu64 "m", m);
        if (v) {
            uint64_t frac = v % s_ns;
            n += snprintf(p + n, cap - (size_t)n, "%" PRIu64, v / s_ns);
            if (frac) {
                char digits[16];
                snprintf(digits, sizeof(digits), "%09" PRIu64, frac);
                size_t d = 9;
                while (d > 0 && digits[d - 1] == '0')
                    d--;
                n += snprintf(p + n, cap - (size_t)n, ".%.*s", (int)d, digits);
            }
            snprintf(p + n, cap - (size_t)n, "s");
        }
    }
}
