/* cache.h — the value cache and its background refresher.
 *
 * server/ asks cache_get for (rule, namespace, selector) on each metric request. The first
 * request for a key schedules one evaluation (concurrent first requests wait on the same one)
 * and is answered when it ends; afterwards a scheduler re-evaluates every live entry at each
 * aligned `refresh` boundary, and the request path only reads memory. Entries nobody asked for
 * in 10 × refresh are dropped. Window end = floor(now/refresh)*refresh - query_delay; the
 * answer's timestamp is that end and window its length, so replicas agree. Source failures keep
 * the last good value until maxAge; policy failures (onEmpty, minSamples) are errors at once.
 * A value's age counts from the start of the evaluation that produced it. An entry is evaluated
 * at most once per refresh slot, never twice at a time; an evaluation still running at a
 * boundary makes the entry skip that slot, and a finished one that is behind is taken again by
 * the next pass.
 *
 * Threads: one scheduler thread and cfg->workers evaluation threads (cache_start). Internally
 * locked by one mutex (cache.shared.mu) that guards the entries, the job queues, the current
 * rules and the per-rule counters; it is never held while a source is queried, a wake function
 * runs, a filter is built or rules are compared or released. cache_set_rules calls are
 * serialised by a second mutex taken before it. Global counters are relaxed atomics. Every
 * function may be called from any thread, except that cache_free must be the last call. */
#ifndef TA_RULES_CACHE_H
#define TA_RULES_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "apis/selector.h"
#include "rules/rules.h"
#include "rules/source.h"

#define CACHE_MAX_ENTRIES 10000 /* distinct (rule, namespace, selector) keys kept at once */
#define CACHE_MAX_WORKERS 256   /* evaluation threads; more would only queue at the source */
/* Bytes of one key: rule name, namespace and the canonical selector (selector_canonical of a
 * SELECTOR_MAX_LEN selector only adds separators, far below this). */
#define CACHE_MAX_KEY_BYTES    (4 * SELECTOR_MAX_LEN)
#define CACHE_EXPIRE_REFRESHES 10 /* an entry not read for this many refresh periods is dropped */

struct cache;

struct cache_config {
    const struct source *source; /* borrowed; outlives the cache */
    int64_t query_delay_ns;      /* subtracted from the aligned window end (>= 0) */
    int workers;                 /* evaluation threads (1 .. CACHE_MAX_WORKERS) */
    /* Optional clock, unix nanoseconds, for tests; NULL uses clock_wall_ns. Aligns windows,
     * stamps reads and measures value ages. Called from any thread, never under the lock.
     * With a hook the scheduler never wakes by itself (its time need not pass at the wall
     * clock's pace): passes run on cache_sync, new entries and reloads only. */
    int64_t (*now_ns)(void *arg);
    void *now_arg;
};

struct cache_answer {
    double value;        /* finite */
    int64_t timestamp_s; /* window end, unix seconds */
    int64_t window_s;    /* window length, seconds */
};

struct cache_stats {
    uint64_t entries;           /* live keys (gauge) */
    uint64_t evaluations;       /* finished evaluations */
    uint64_t evaluation_errors; /* evaluations the source failed */
    uint64_t policy_errors;     /* evaluations refused by metric_apply_policy */
    uint64_t hits;              /* cache_get answered from memory (value or error) */
    uint64_t misses;            /* cache_get answered pending */
    uint64_t expired;           /* entries dropped for lack of interest */
    uint64_t reload_dropped;    /* entries dropped because their rule changed or went away */
};

/* Per-rule figures for /metrics. Counters survive reloads that keep the rule name. */
struct cache_rule_stats {
    char rule[RULES_NAME_MAX + 1];
    uint64_t entries;          /* live keys of this rule (gauge) */
    uint64_t evaluations;      /* finished evaluations */
    uint64_t source_errors;    /* evaluations the source failed */
    uint64_t policy_errors;    /* evaluations refused by policy */
    double evaluation_seconds; /* Σ time spent in the source, seconds */
    double oldest_value_age_s; /* largest age of a last good value among live keys; -1: none */
};

typedef void (*cache_wake_fn)(void *arg);

/* Validates cfg (TA_INVALID naming the field) and builds an idle cache; no thread runs until
 * cache_start. On TA_OK the caller owns *out (cache_free). */
enum ta_rc cache_new(const struct cache_config *cfg, struct cache **out, struct ta_err *err);
/* Starts the scheduler and worker threads (once). TA_INTERNAL when a thread cannot start (the
 * ones already started are stopped again). */
enum ta_rc cache_start(struct cache *c, struct ta_err *err);
/* Stops the threads (evaluations in flight finish first: sources have their own time-outs;
 * queued ones are dropped), calls every pending wake function, frees everything. The wake
 * functions run before the memory is released, so they may still call cache_get, which answers
 * TA_UNAVAILABLE "…: the adapter is shutting down" from the moment cache_free starts; nothing
 * may call into the cache once it has returned. NULL is fine. */
void cache_free(struct cache *c);
/* Replaces the rules; the cache takes its own reference (rules_ref) and the caller keeps
 * theirs. rules may be NULL (drop everything). Entries whose rule name is gone or whose rule
 * changed in anything but `help` and its line are dropped; waiters of dropped pending entries
 * are woken, and their next cache_get with the old rule answers TA_UNAVAILABLE "rules were
 * reloaded; retry". Unchanged entries keep their values and move to the new rules. */
void cache_set_rules(struct cache *c, struct rules *rules);
/* Answers (rule, ns, sel); rule should belong to the rules last given to cache_set_rules (the
 * caller holds a reference on its rules for the call; a rule of older rules is accepted when
 * the current rules have an identical rule of that name). sel must not be NULL; ns may hold
 * any bytes (no NUL needed).
 * - TA_OK and *pending false: *out holds the value.
 * - TA_OK and *pending true: no value yet; wake(arg) is called exactly once, when the
 *   first evaluation ends (from a worker), the entry is dropped by cache_set_rules or the cache
 *   shuts down (from that caller) — never by this call itself, though possibly (from another
 *   thread) before it returns; call cache_get again then. wake may be NULL (the caller
 *   polls); otherwise arg must stay valid until wake(arg) has run, even if the caller stops
 *   waiting earlier. A wake function may call cache_get, never cache_set_rules or cache_free
 *   (it may run inside them).
 * - TA_UNAVAILABLE: stale, failed or policy error; err->msg names the rule, the reason and the
 *   age of the last good value, e.g. "p95: last evaluation failed: tempo: 503 service
 *   unavailable; last good value is 75s old (maxAge 60s)" or "…; no value has been computed
 *   yet". Also: "no rules are loaded", "rules were reloaded; retry", "the adapter is shutting
 *   down".
 * - TA_INVALID (or TA_TOO_LARGE) from rules_filter_for: the selector cannot be turned into a
 *   filter; no entry is created. TA_TOO_LARGE: CACHE_MAX_ENTRIES reached, or the canonical
 *   selector exceeds CACHE_MAX_KEY_BYTES. */
enum ta_rc cache_get(struct cache *c, const struct rule *rule, struct slice ns,
                     const struct selector *sel, cache_wake_fn wake, void *arg, bool *pending,
                     struct cache_answer *out, struct ta_err *err);
/* A snapshot of the global counters (relaxed reads: each is exact, together they may be a few
 * events apart). */
void cache_get_stats(struct cache *c, struct cache_stats *out);
/* One element per rule of the current rules, in file order; *out is an array the caller frees
 * with free() (NULL when the count is 0). Returns the count. */
size_t cache_get_rule_stats(struct cache *c, struct cache_rule_stats **out);

/* Runs one scheduler pass at the current clock (queueing every entry due, expiring idle ones)
 * and waits until it has finished; with wait_idle also until no evaluation is queued or running
 * and every wake function of the finished ones has returned. At most timeout_ns. For tests
 * driving a now_ns hook, and for callers that want fresh values at once. TA_TIMEOUT when the
 * deadline passes first; TA_UNAVAILABLE when the threads are not running (not started, or
 * stopping). */
enum ta_rc cache_sync(struct cache *c, bool wait_idle, int64_t timeout_ns, struct ta_err *err);

/* The window evaluated at now_ns: end = floor(now / refresh) * refresh - query_delay (floor
 * also for negative times), start = end - window. refresh_ns <= 0 is taken as 1s. */
void cache_window(int64_t now_ns, int64_t refresh_ns, int64_t window_ns, int64_t query_delay_ns,
                  int64_t *start_ns, int64_t *end_ns);

#endif
