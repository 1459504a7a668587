/* source.h — the trace-source interface the value cache evaluates through.
 *
 * Declared here, implemented in server/: the embedded OTLP store (exact, in memory) and the
 * Tempo client (TraceQL metrics, trace fetches). rules/cache calls evaluate() from its worker
 * threads, several at once, so implementations are internally locked. */
#ifndef TA_RULES_SOURCE_H
#define TA_RULES_SOURCE_H

#include <stdint.h>

#include "apis/base/ta_err.h"
#include "rules/metric.h"
#include "rules/rules.h"
#include "rules/traceql.h"

struct source_query {
    const struct rule *rule;           /* metric kind and its parameters */
    const struct traceql_node *filter; /* rule spans AND selector AND namespace */
    int64_t start_ns;                  /* window [start_ns, end_ns) of span start times */
    int64_t end_ns;
};

struct source_ops {
    const char *name; /* "embedded" or "tempo", for logs and /metrics */
    /* Computes the raw value for q. May block (network); must honour its own time-outs.
     * TA_UPSTREAM / TA_TIMEOUT for source failures (the cache keeps serving the last good value
     * until maxAge), TA_INVALID for a query the source cannot run. */
    enum ta_rc (*evaluate)(void *self, const struct source_query *q, struct metric_raw *out,
                           struct ta_err *err);
    /* TA_OK when the source can answer; otherwise the reason, for /readyz. */
    enum ta_rc (*ready)(void *self, struct ta_err *err);
};

struct source {
    const struct source_ops *ops;
    void *self;
};

#endif
