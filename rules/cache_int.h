/* cache_int.h — the cache's internal types, shared by cache.c (entries, lookup, answers,
 * reloads) and cache_sched.c (scheduler, workers, windows). Not for use outside rules/cache*.
 *
 * Locking: every field marked "mu" is guarded by cache.shared.mu; "immutable" fields are set
 * before the entry is published and never change. reload_mu is taken before mu, never the
 * other way. With mu held nothing blocks and nothing calls into another module (source,
 * traceql, rules, wake functions, logging, the clock hook); the only calls are pure formatting
 * (ta_err_set, snprintf, metric_format_duration), allocation and condition signals.
 *
 * Entry lifetime: an entry is referenced by the table (while linked) and by the job that has
 * it queued or running (while busy); the last reference frees it, outside mu. */
#ifndef TA_RULES_CACHE_INT_H
#define TA_RULES_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rules/cache.h"

#define CACHE_BUCKETS 16384 /* power of two above CACHE_MAX_ENTRIES: chains stay short */

struct cache_waiter {
    cache_wake_fn wake;
    void *arg;
};

struct cache_waiters {
    struct cache_waiter *items;
    size_t n;
    size_t cap;
};

enum cache_state {
    CACHE_STATE_NONE,          /* no evaluation finished yet */
    CACHE_STATE_OK,            /* the last evaluation gave a value */
    CACHE_STATE_SOURCE_FAILED, /* the source failed; the last good value may still be served */
    CACHE_STATE_POLICY_FAILED, /* metric_apply_policy refused the result */
};

/* Counters of one rule name, kept across reloads (a list that only grows, by the distinct rule
 * names ever loaded); freed by cache_free. All fields: mu. */
struct cache_rule_stat {
    struct cache_rule_stat *next;
    char *name;
    uint64_t evaluations;
    uint64_t source_errors;
    uint64_t policy_errors;
    int64_t evaluation_ns;
};

/* A counted hold on one struct rules (the cache's own, so that taking it needs no call into
 * rules/ under mu). refs: mu. The last release calls rules_unref outside mu. */
struct cache_rules {
    struct rules *rules;
    int refs;
};

struct cache_entry {
    /* immutable */
    char *key; /* rule name, NUL, 8-byte namespace length, namespace, canonical selector */
    size_t key_len;
    uint64_t hash;
    struct slice ns;       /* inside key, for logs */
    struct slice selector; /* inside key, for logs */
    struct traceql_node *filter;
    /* mu */
    struct cache_entry *hnext; /* bucket chain */
    struct cache_entry *prev;  /* list of all linked entries */
    struct cache_entry *next;
    struct cache_entry *qnext; /* job queue */
    const struct rule *rule;   /* in the current rules while linked */
    struct cache_rule_stat *stat;
    int refs;
    bool linked;  /* in the table and the list */
    bool busy;    /* a job is queued or running */
    int64_t slot; /* floor(now / refresh) of the last finished evaluation; INT64_MIN: none */
    int64_t last_read_ns;
    enum cache_state state;
    char reason[TA_ERR_MSG_MAX]; /* of the last failure */
    bool have_good;
    bool superseded; /* a policy failure came after the last good value: do not serve it */
    double good_value;
    int64_t good_timestamp_s;
    int64_t good_window_s;
    int64_t last_success_ns; /* clock at the start of the last good evaluation */
    struct cache_waiters waiters;
};

struct cache_queue {
    struct cache_entry *head;
    struct cache_entry *tail;
};

struct cache {
    struct cache_config cfg; /* immutable */
    uint64_t hash_seed;      /* immutable */
    pthread_mutex_t reload_mu;
    pthread_t sched;    /* started by cache_start; joined by cache_free */
    pthread_t *threads; /* cfg.workers of them */
    int nthreads;       /* workers started */
    bool sched_running; /* scheduler started */
    struct {
        pthread_mutex_t mu;
        pthread_cond_t work_cv;        /* workers: a job was queued, or stopping */
        pthread_cond_t sched_cv;       /* scheduler: kick_seq moved, or stopping */
        pthread_cond_t idle_cv;        /* cache_sync: a pass or a job finished */
        struct cache_rules *rules;     /* mu; NULL before the first cache_set_rules */
        uint64_t rules_gen;            /* mu; +1 per cache_set_rules */
        struct cache_entry **buckets;  /* mu */
        struct cache_entry *head;      /* mu */
        size_t nentries;               /* mu */
        struct cache_queue first;      /* mu: jobs of first requests, served before refreshes */
        struct cache_queue refresh;    /* mu */
        int running;                   /* mu: jobs being evaluated */
        bool started;                  /* mu */
        bool stopping;                 /* mu */
        uint64_t kick_seq;             /* mu: wake requests to the scheduler */
        uint64_t pass_seq;             /* mu: kick_seq seen by the last finished pass */
        struct cache_rule_stat *stats; /* mu */
    } shared;
    struct {
        _Atomic uint64_t entries;
        _Atomic uint64_t evaluations;
        _Atomic uint64_t evaluation_errors;
        _Atomic uint64_t policy_errors;
        _Atomic uint64_t hits;
        _Atomic uint64_t misses;
        _Atomic uint64_t expired;
        _Atomic uint64_t reload_dropped;
    } stats;
};

/* cache.c */
int64_t cache_now(const struct cache *c);
/* Removes e from the table and list (mu held); returns true when the caller must free it
 * (cache_entry_free, outside mu). Its waiters stay in e->waiters for the caller to take. */
bool cache_entry_unlink(struct cache *c, struct cache_entry *e);
void cache_entry_free(struct cache_entry *e);
/* Drops one hold (mu held); returns true when the caller must call cache_rules_free outside
 * mu. */
bool cache_rules_put(struct cache_rules *h);
void cache_rules_free(struct cache_rules *h);
/* Moves w's waiters to the end of into (mu held). */
void cache_waiters_move(struct cache_waiters *into, struct cache_waiters *w);
/* Calls and frees every waiter (mu not held). */
void cache_waiters_wake(struct cache_waiters *w);

/* cache_sched.c */
/* Queues e (mu held, e linked and not busy). */
void cache_enqueue(struct cache *c, struct cache_entry *e, bool first);
/* Asks the scheduler for a pass (mu held). */
void cache_kick(struct cache *c);
/* Stops and joins every thread (mu not held). */
void cache_stop_threads(struct cache *c);
/* Refresh period used for scheduling e's rule. */
int64_t cache_refresh_ns(const struct rule *r);

#endif
