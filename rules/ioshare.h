/* ioshare.h — the share of a parent span's wall time covered by its IO descendants.
 *
 * Works on the spans of one trace held in memory, whoever fetched them: the embedded store
 * gathers a trace's spans, the Tempo source decodes /api/v2/traces/{id}. For each span P that
 * matches `parent` and starts in [start_ns, end_ns), the IO descendants are the spans matching
 * `io` reached from P through parent links without passing through another server or consumer
 * span; their intervals are unioned (overlaps count once), clipped to P's interval, and added
 * to covered; P's duration is added to total. Pure: any thread. */
#ifndef TA_RULES_IOSHARE_H
#define TA_RULES_IOSHARE_H

#include <stddef.h>
#include <stdint.h>

#include "apis/base/ta_err.h"
#include "rules/span.h"
#include "rules/traceql.h"

#define IOSHARE_MAX_SPANS 100000 /* spans of one trace; larger traces are refused */

struct ioshare_sum {
    int64_t covered_ns; /* Σ union of IO intervals within each parent */
    int64_t total_ns;   /* Σ parent durations */
    uint64_t parents;   /* parent spans counted */
};

/* Adds the trace's parents to *sum. Spans may come in any order; duplicates (same span id)
 * count once. TA_TOO_LARGE past IOSHARE_MAX_SPANS. */
enum ta_rc ioshare_trace(const struct span *spans, size_t n, const struct traceql_node *parent,
                         const struct traceql_node *io, int64_t start_ns, int64_t end_ns,
                         struct ioshare_sum *sum, struct ta_err *err);

#endif
