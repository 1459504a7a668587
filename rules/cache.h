/* cache.h — the value cache and its background refresher.
 *
 * server/ asks cache_get for (rule, namespace, selector) on each metric request. The first
 * request for a key schedules one evaluation (concurrent first requests wait on the same one)
 * and is answered when it ends; afterwards a scheduler re-evaluates every live entry at each
 * aligned `refresh` boundary, and the request path only reads memory. Entries nobody asked for
 * in 10 × refresh are dropped. Window end = floor(now/refresh)*refresh - query_delay; the
 * answer's timestamp is that end and window its length, so replicas agree. Source failures keep
 * the last good value until maxAge; policy failures (onEmpty, minSamples) are errors at once.
 * Internally locked (one mutex, never held while a source is queried); any thread. */
#ifndef TA_RULES_CACHE_H
#define TA_RULES_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "apis/selector.h"
#include "rules/rules.h"
#include "rules/source.h"

#define CACHE_MAX_ENTRIES 10000 /* distinct (rule, namespace, selector) keys kept at once */

struct cache;

struct cache_config {
    const struct source *source; /* borrowed; outlives the cache */
    int64_t query_delay_ns;      /* subtracted from the aligned window end */
    int workers;                 /* evaluation threads (>= 1) */
};

struct cache_answer {
    double value;
    int64_t timestamp_s; /* window end, unix seconds */
    int64_t window_s;    /* window length, seconds */
};

struct cache_stats {
    uint64_t entries;
    uint64_t evaluations;
    uint64_t evaluation_errors;
    uint64_t hits;
    uint64_t misses;
    uint64_t expired; /* entries dropped for lack of interest */
};

typedef void (*cache_wake_fn)(void *arg);

enum ta_rc cache_new(const struct cache_config *cfg, struct cache **out, struct ta_err *err);
/* Starts the scheduler and worker threads. */
enum ta_rc cache_start(struct cache *c, struct ta_err *err);
/* Stops the threads, calls every pending wake function, frees everything. NULL is fine. */
void cache_free(struct cache *c);
/* Replaces the rules (takes a reference); entries whose rule is gone or changed are dropped. */
void cache_set_rules(struct cache *c, struct rules *rules);
/* Answers (rule, ns, sel); rule must belong to the rules last given to cache_set_rules (the
 * caller holds a reference on them for the call).
 * - TA_OK and *pending false: *out holds the value.
 * - TA_OK and *pending true: no value yet; wake(arg) is called exactly once, from another
 *   thread, when the first evaluation ends or the cache shuts down; call cache_get again then.
 * - TA_UNAVAILABLE: stale, failed or policy error; err->msg names the rule, the reason and the
 *   age of the last good value. TA_INVALID: the selector cannot be turned into a filter.
 *   TA_TOO_LARGE: CACHE_MAX_ENTRIES reached. */
enum ta_rc cache_get(struct cache *c, const struct rule *rule, struct slice ns,
                     const struct selector *sel, cache_wake_fn wake, void *arg, bool *pending,
                     struct cache_answer *out, struct ta_err *err);
void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
