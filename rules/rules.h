/* rules.h — the rules file: defaults, label mapping and externalRules, loaded with libyaml.
 *
 * main (startup) and the reloader in server/ call rules_load_file (rules_load_default without
 * --config); the result is published in the config snapshot and read by apis/ discovery (rule
 * names), rules/cache (evaluation) and server/ (receiver attribute set). A file with any error
 * is rejected as a whole with "file:line:column: reason" (the column points inside a filter
 * written on one line without escapes). Decisions beyond DESIGN.md:
 * - metric names: [A-Za-z][A-Za-z0-9_.:-]*, at most RULES_NAME_MAX, not status or finalize;
 * - window in (0, 24h]; refresh in [1s, window]; maxAge in [refresh, 24h]; threshold in
 *   [0, 24h]; minSamples in [0, 10^9]; ioSample in [1, RULES_IO_SAMPLE_MAX], exact mode only;
 * - a rule's `labels` merge over the top-level ones; `key: null` in a rule removes one;
 * - numbers (quantile, minSamples, ioSample) must be plain YAML scalars, not quoted;
 * - anchors, aliases, tags and several documents are refused; the YAML nests at most 16 deep;
 * - labels may map to name, kind or status (selector values then become kind or status words)
 *   but not duration; namespaceAttribute must be an attribute, "" turns it off.
 * struct rules is immutable after loading and reference counted (rules_ref/rules_unref, C11
 * atomics), so any thread may read it while it holds a reference. */
#ifndef TA_RULES_RULES_H
#define TA_RULES_RULES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "apis/selector.h"
#include "rules/traceql.h"

#define RULES_FILE_MAX_BYTES (1u << 20) /* 1 MiB: a ConfigMap is at most 1 MiB anyway */
#define RULES_MAX_RULES      512  /* externalRules entries; each costs a cache entry per key */
#define RULES_MAX_LABELS     64   /* labels of one mapping, after merging a rule's overrides */
#define RULES_NAME_MAX       253  /* metric names are path segments; keep them DNS-sized */
#define RULES_IO_SAMPLE_MAX  1000 /* traces fetched per exact io_share evaluation */

enum metric_kind {
    METRIC_QUANTILE,
    METRIC_RATE,
    METRIC_ERROR_RATIO,
    METRIC_SLOW_RATIO,
    METRIC_IO_SHARE,
    METRIC_MEAN,
};

enum rule_on_empty {
    RULE_ON_EMPTY_ERROR, /* no matching span: 503 Status (default) */
    RULE_ON_EMPTY_ZERO,  /* no matching span: the value 0 */
};

enum rule_io_mode {
    RULE_IO_EXACT,       /* whole traces, interval union (default) */
    RULE_IO_APPROXIMATE, /* Tempo sum_over_time ratio; overlaps double-count */
};

/* labelSelector key -> TraceQL attribute. */
struct rule_label {
    char *key;                 /* label key as it appears in selectors */
    struct traceql_node *attr; /* attribute node (traceql_parse_attr) */
    char *attr_text;           /* the attribute as written, for messages */
};

struct rule {
    char *name; /* metric name: the path segment and APIResourceList entry */
    char *help; /* may be "" */
    enum metric_kind metric;
    double quantile;      /* METRIC_QUANTILE: in (0, 1] */
    int64_t threshold_ns; /* METRIC_SLOW_RATIO: duration > threshold is slow */
    enum rule_io_mode io_mode;
    uint32_t io_sample;   /* METRIC_IO_SHARE exact: traces per evaluation (default 100) */
    int64_t window_ns;    /* spans starting in [end - window, end) are evaluated */
    int64_t refresh_ns;   /* background re-evaluation period */
    int64_t max_age_ns;   /* a value older than this is an error */
    uint64_t min_samples; /* fewer matching spans (parents for io_share) is an error */
    enum rule_on_empty on_empty;
    struct traceql_node *spans;          /* the `spans` filter */
    struct traceql_node *io;             /* METRIC_IO_SHARE: the `io` filter; else NULL */
    struct traceql_node *namespace_attr; /* NULL when namespaceAttribute is "" */
    char *spans_text;                    /* canonical rendering of spans, for logs */
    struct rule_label *labels;           /* effective mapping (defaults merged with overrides) */
    size_t nlabels;
    int line; /* line of the rule in the file */
};

struct rules {
    struct rule *items;
    size_t n;
    int64_t max_window_ns;  /* longest window of any rule (store retention) */
    int64_t min_refresh_ns; /* shortest refresh (scheduler tick) */
    char *source;           /* file path or "<embedded default>" */
    /* attribute keys any rule can reference (filters, labels, namespaceAttribute), for the
     * embedded receiver to keep; `unscoped` keys match span and resource scope */
    char **span_keys;
    size_t nspan_keys;
    char **resource_keys;
    size_t nresource_keys;
    atomic_int refs; /* rules_ref/rules_unref */
};

/* Loads and validates the file at path (at most RULES_FILE_MAX_BYTES). On TA_OK the caller
 * owns *out with one reference. On failure err->msg is "path:line:column: reason". */
enum ta_rc rules_load_file(const char *path, struct rules **out, struct ta_err *err);
/* Same for bytes already in memory; name is used in messages. */
enum ta_rc rules_load_bytes(struct slice yaml, const char *name, struct rules **out,
                            struct ta_err *err);
/* Loads rules/default.yaml as compiled into the binary (used when --config is not given);
 * source and messages say "<embedded default>". */
enum ta_rc rules_load_default(struct rules **out, struct ta_err *err);
struct rules *rules_ref(struct rules *r);
/* Drops one reference; the last frees everything. NULL is fine. */
void rules_unref(struct rules *r);

/* The rule named name, or NULL. */
const struct rule *rules_find(const struct rules *r, struct slice name);
const char *rules_metric_name(enum metric_kind k); /* "quantile", "rate", … */

/* Builds the filter evaluated for one request: rule->spans AND the selector's requirements
 * mapped through rule->labels AND namespace_attr = ns (when the rule has one). Mapping (see
 * DESIGN.md): k=v -> attr = "v"; k!=v -> (attr != "v" || attr = nil); in -> || of =;
 * notin -> (attr = nil || (&& of !=)); k -> attr != nil; !k -> attr = nil. For attributes that
 * always exist (intrinsics, resource.service.name) the nil alternatives are dropped, `k` adds
 * nothing and `!k` is TA_INVALID. An unmapped key is TA_INVALID naming the known labels. On
 * TA_OK the caller owns *out. */
enum ta_rc rules_filter_for(const struct rule *rule, struct slice ns, const struct selector *sel,
                            struct traceql_node **out, struct ta_err *err);
#endif
