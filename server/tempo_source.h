/* tempo_source.h — the trace source over Grafana Tempo (>= 2.6): query planning per metric.
 *
 * main (server/sources.c) builds it when --tempo-url is set and hands tempo_source_source() to
 * rules/cache, whose worker threads call evaluate() several at once. Each metric becomes a few
 * TraceQL metrics instant queries over the window (rendered from filter trees by
 * rules/traceql, never from request text), sent through server/tempo_client (retries,
 * singleflight, memo, concurrency limit) and decoded by server/tempo_parse:
 *   rate         count_over_time / W
 *   error_ratio  count_over_time() by (status): error / total
 *   slow_ratio   count of `F && duration > T` / count of F
 *   mean         avg_over_time(duration), samples from count_over_time (2.7+)
 *   quantile     histogram_over_time + count + ≤ 6 count probes (server/tempo_quantile)
 *   io_share     exact: most recent traces (search) fetched in parallel and evaluated with
 *                ioshare_trace; approximate: `{F} > {IO}` sum_over_time ratio (2.8+)
 * A background thread reads /api/status/buildinfo (version-dependent choices; readiness) and
 * retries with back-off while Tempo is unreachable; it stops promptly in tempo_source_free.
 * Internally locked (shared.mu, never held during a request): any thread. */
#ifndef TA_SERVER_TEMPO_SOURCE_H
#define TA_SERVER_TEMPO_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "apis/base/ta_err.h"
#include "rules/source.h"
#include "server/flags.h"
#include "server/tempo_client.h"
#include "server/tempo_parse.h"

#define TEMPO_MIN_MAJOR 2 /* the oldest supported Tempo: 2.6 (instant queries, v2 traces) */
#define TEMPO_MIN_MINOR 6

struct tempo_source; /* opaque */

struct tempo_source_config {
    struct tempo_client_config client; /* strings borrowed for the call only */
    int quantile_probes;               /* 0 = TEMPO_QUANTILE_PROBES (6): ≤ 8 queries in all */
    bool json_traces;                  /* fetch traces as JSON even when protobuf is offered */
    int64_t buildinfo_retry_min_ns;    /* first back-off while unreachable; 0 = 500 ms */
    int64_t buildinfo_retry_max_ns;    /* largest back-off; 0 = 30 s */
    int64_t buildinfo_recheck_ns;      /* version re-read once reachable; 0 = 10 min */
};

struct tempo_source_stats {
    uint64_t evaluations;     /* evaluate() calls */
    uint64_t failures;        /* evaluate() calls that failed */
    uint64_t queries;         /* metrics and search queries issued (before sharing) */
    uint64_t partial;         /* answers Tempo marked PARTIAL (still used) */
    uint64_t quantile_probes; /* count_above probes of the refined quantile */
    uint64_t traces_fetched;  /* io_share exact: traces decoded and evaluated */
    uint64_t traces_missing;  /* 404 or empty: skipped */
    uint64_t traces_failed;   /* other failures: skipped (the value is marked partial) */
    struct tempo_client_stats client;
};

/* The configuration --tempo-* flags describe (strings borrowed from f). */
void tempo_source_config_from_flags(const struct flags *f, struct tempo_source_config *out);
/* Validates the configuration (through tempo_client_new), starts the build-info thread and
 * returns at once: an unreachable Tempo is not an error (ready() says why until it answers).
 * On TA_OK the caller owns *out (tempo_source_free). */
enum ta_rc tempo_source_new(const struct tempo_source_config *cfg, struct tempo_source **out,
                            struct ta_err *err);
/* Same, from flags. */
enum ta_rc tempo_source_new_from_flags(const struct flags *f, struct tempo_source **out,
                                       struct ta_err *err);
/* Stops the build-info thread and any request in flight (they fail with TA_UNAVAILABLE), then
 * frees. The cache must have stopped calling evaluate first. NULL is fine. */
void tempo_source_free(struct tempo_source *ts);
/* The struct source for rules/cache (valid until tempo_source_free). */
const struct source *tempo_source_source(struct tempo_source *ts);
void tempo_source_get_stats(struct tempo_source *ts, struct tempo_source_stats *out);
/* The version last read from /api/status/buildinfo (known false until then). */
void tempo_source_version(struct tempo_source *ts, struct tempo_version *out);

#endif
