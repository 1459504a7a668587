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
/* Descendant visits per trace, summed over its parents. Each parent walks its own subtree, so
 * a filter matching nested spans (e.g. every span of a 5,000-deep chain) costs n²/2 visits;
 * 10 million visits take tens of milliseconds, far above any real trace (parents usually stop
 * at the next server span, so a trace costs about n visits). */
#define IOSHARE_MAX_VISITS 10000000

struct ioshare_sum {
    int64_t covered_ns; /* Σ union of IO intervals within each parent */
    int64_t total_ns;   /* Σ parent durations */
    uint64_t parents;   /* parent spans counted */
};

/* Adds the trace's parents to *sum. Details:
 * - spans may come in any order; duplicates (same span id) count once: the first wins, later
 *   copies are ignored entirely. Spans whose parent is absent are roots of their own subtree
 *   (they can still be parents); a parent link to the span itself or a cycle of links is
 *   walked at most once per span.
 * - server and consumer spans below P are neither IO of P nor descended into: their own IO
 *   belongs to them. Every other span is descended into (also IO spans: a client span with a
 *   client child counts once through the union).
 * - a parent with zero duration is not counted at all (neither in total nor in parents): it
 *   carries no weight in Σ covered / Σ durations, and counting it would let minSamples pass on
 *   spans that say nothing about the value.
 * Errors (*sum unchanged): TA_TOO_LARGE past IOSHARE_MAX_SPANS spans or IOSHARE_MAX_VISITS
 * visits, or when a sum overflows 64-bit nanoseconds; TA_INVALID for a span whose duration
 * does not fit in 64 bits. */
enum ta_rc ioshare_trace(const struct span *spans, size_t n, const struct traceql_node *parent,
                         const struct traceql_node *io, int64_t start_ns, int64_t end_ns,
                         struct ioshare_sum *sum, struct ta_err *err);

#endif
