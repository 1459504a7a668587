/* cache.c — cache entries: keys, lookup, answers with their freshness rules, reloads, stats.
 *
 * server/ calls cache_get on each metric request; the answer comes from memory, or the first
 * request of a key creates a pending entry and queues its evaluation (cache_sched.c runs it).
 * Invariant: a value is served only while the last good evaluation is younger than the rule's
 * maxAge and no policy failure came after it; every other case is an explicit TA_UNAVAILABLE
 * naming the rule, the reason and the age. Thread rules: see cache.h and cache_int.h. */
#include "rules/cache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/buf.h"
#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "rules/cache_int.h"
#include "rules/metric.h"
#include "rules/traceql.h"

int64_t cache_now(const struct cache *c)
{
    return c->cfg.now_ns ? c->cfg.now_ns(c->cfg.now_arg) : clock_wall_ns();
}

static void stat_inc(_Atomic uint64_t *v)
{
    atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
}

enum ta_rc cache_new(const struct cache_config *cfg, struct cache **out, struct ta_err *err)
{
    *out = NULL;
    if (!cfg->source || !cfg->source->ops || !cfg->source->ops->evaluate)
        return ta_err_set(err, TA_INVALID, "cache: a source with an evaluate function is required");
    if (cfg->workers < 1 || cfg->workers > CACHE_MAX_WORKERS)
        return ta_err_set(err, TA_INVALID, "cache: workers must be between 1 and %d, not %d",
                          CACHE_MAX_WORKERS, cfg->workers);
    if (cfg->query_delay_ns < 0)
        return ta_err_set(err, TA_INVALID, "cache: query delay must not be negative");

    struct cache *c = ta_xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->hash_seed = 0xcbf29ce484222325ULL ^ (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)c;
    c->threads = ta_xcalloc((size_t)cfg->workers, sizeof(pthread_t));
    pthread_mutex_init(&c->reload_mu, NULL);
    pthread_mutex_init(&c->shared.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->shared.work_cv, &ca);
    pthread_cond_init(&c->shared.sched_cv, &ca);
    pthread_cond_init(&c->shared.idle_cv, &ca);
    pthread_condattr_destroy(&ca);
    c->shared.buckets = ta_xcalloc(CACHE_BUCKETS, sizeof(*c->shared.buckets));
    *out = c;
    return TA_OK;
}

void cache_entry_free(struct cache_entry *e)
{
    if (!e)
        return;
    traceql_free(e->filter);
    free(e->waiters.items);
    free(e->key);
    free(e);
}

bool cache_entry_unlink(struct cache *c, struct cache_entry *e)
{
    struct cache_entry **pp = &c->shared.buckets[e->hash & (CACHE_BUCKETS - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        c->shared.head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->hnext = e->prev = e->next = NULL;
    e->linked = false;
    c->shared.nentries--;
    atomic_store_explicit(&c->stats.entries, c->shared.nentries, memory_order_relaxed);
    return --e->refs == 0;
}

bool cache_rules_put(struct cache_rules *h)
{
    return h && --h->refs == 0;
}

void cache_rules_free(struct cache_rules *h)
{
    if (!h)
        return;
    rules_unref(h->rules);
    free(h);
}

void cache_waiters_move(struct cache_waiters *into, struct cache_waiters *w)
{
    if (w->n == 0)
        return;
    if (into->n + w->n > into->cap) {
        into->cap = into->n + w->n > 2 * into->cap ? into->n + w->n : 2 * into->cap;
        into->items = ta_xreallocarray(into->items, into->cap, sizeof(*into->items));
    }
    memcpy(into->items + into->n, w->items, w->n * sizeof(*w->items));
    into->n += w->n;
    w->n = 0;
}

void cache_waiters_wake(struct cache_waiters *w)
{
    for (size_t i = 0; i < w->n; i++)
        w->items[i].wake(w->items[i].arg);
    free(w->items);
    *w = (struct cache_waiters){ 0 };
}

static void waiter_add(struct cache_entry *e, cache_wake_fn wake, void *arg)
{
    if (!wake)
        return;
    struct cache_waiters *w = &e->waiters;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->items = ta_xreallocarray(w->items, w->cap, sizeof(*w->items));
    }
    w->items[w->n++] = (struct cache_waiter){ wake, arg };
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    cache_stop_threads(c);
    /* No thread runs now; the lock is taken only to keep the thread rules uniform. */
    struct cache_waiters wake = { 0 };
    struct cache_entry *dead = NULL; /* chained through qnext */
    pthread_mutex_lock(&c->shared.mu);
    struct cache_queue *queues[2] = { &c->shared.first, &c->shared.refresh };
    for (int i = 0; i < 2; i++) {
        for (struct cache_entry *e = queues[i]->head, *n; e; e = n) {
            n = e->qnext;
            e->busy = false;
            if (--e->refs == 0) {
                e->qnext = dead;
                dead = e;
            }
        }
        queues[i]->head = queues[i]->tail = NULL;
    }
    while (c->shared.head) {
        struct cache_entry *e = c->shared.head;
        cache_waiters_move(&wake, &e->waiters);
        if (cache_entry_unlink(c, e)) {
            e->qnext = dead;
            dead = e;
        }
    }
    struct cache_rules *h = c->shared.rules;
    c->shared.rules = NULL;
    bool free_h = cache_rules_put(h);
    struct cache_rule_stat *stats = c->shared.stats;
    c->shared.stats = NULL;
    pthread_mutex_unlock(&c->shared.mu);

    cache_waiters_wake(&wake);
    while (dead) {
        struct cache_entry *n = dead->qnext;
        cache_entry_free(dead);
        dead = n;
    }
    if (free_h)
        cache_rules_free(h);
    while (stats) {
        struct cache_rule_stat *n = stats->next;
        free(stats->name);
        free(stats);
        stats = n;
    }
    free(c->shared.buckets);
    free(c->threads);
    pthread_cond_destroy(&c->shared.idle_cv);
    pthread_cond_destroy(&c->shared.sched_cv);
    pthread_cond_destroy(&c->shared.work_cv);
    pthread_mutex_destroy(&c->shared.mu);
    pthread_mutex_destroy(&c->reload_mu);
    free(c);
}

static bool opt_tree_equal(const struct traceql_node *a, const struct traceql_node *b)
{
    if (!a || !b)
        return a == b;
    return traceql_equal(a, b);
}

/* True when b evaluates and serves exactly like a (help and line may differ). */
static bool rule_same(const struct rule *a, const struct rule *b)
{
    if (strcmp(a->name, b->name) != 0 || a->metric != b->metric || a->quantile != b->quantile ||
        a->threshold_ns != b->threshold_ns || a->io_mode != b->io_mode ||
        a->io_sample != b->io_sample || a->window_ns != b->window_ns ||
        a->refresh_ns != b->refresh_ns || a->max_age_ns != b->max_age_ns ||
        a->min_samples != b->min_samples || a->on_empty != b->on_empty || a->nlabels != b->nlabels)
        return false;
    if (!opt_tree_equal(a->spans, b->spans) || !opt_tree_equal(a->io, b->io) ||
        !opt_tree_equal(a->namespace_attr, b->namespace_attr))
        return false;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i].key, b->labels[i].key) != 0 ||
            !opt_tree_equal(a->labels[i].attr, b->labels[i].attr))
            return false;
    return true;
}

static const struct rule *rules_by_name(const struct rules *r, const char *name)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->items[i].name, name) == 0)
            return &r->items[i];
    return NULL;
}

/* True when rule is one of h's rules (compared as addresses: rule may belong to other rules). */
static bool rule_in(const struct cache_rules *h, const struct rule *rule)
{
    if (!h)
        return false;
    uintptr_t p = (uintptr_t)rule;
    uintptr_t lo = (uintptr_t)h->rules->items;
    return p >= lo && p < lo + h->rules->n * sizeof(struct rule) &&
           (p - lo) % sizeof(struct rule) == 0;
}

static struct cache_rule_stat *stat_for(struct cache *c, const char *name)
{
    struct cache_rule_stat *s;
    for (s = c->shared.stats; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    s = ta_xcalloc(1, sizeof(*s));
    s->name = ta_xstrdup(name);
    s->next = c->shared.stats;
    c->shared.stats = s;
    return s;
}

void cache_set_rules(struct cache *c, struct rules *rules)
{
    struct cache_rules *nh = NULL;
    struct cache_rules *old = NULL;
    const struct rule **map = NULL; /* old rule index -> identical new rule, or NULL */
    struct cache_waiters wake = { 0 };
    struct cache_entry *dead = NULL;
    bool free_old = false;

    pthread_mutex_lock(&c->reload_mu);
    if (rules) {
        nh = ta_xcalloc(1, sizeof(*nh));
        nh->rules = rules_ref(rules);
        nh->refs = 1; /* the cache's current hold */
    }
    pthread_mutex_lock(&c->shared.mu);
    old = c->shared.rules;
    if (old)
        old->refs++; /* read below without the lock */
    pthread_mutex_unlock(&c->shared.mu);

    if (old) {
        map = ta_xcalloc(old->rules->n ? old->rules->n : 1, sizeof(*map));
        for (size_t i = 0; i < old->rules->n; i++) {
            const struct rule *nr = rules_by_name(rules, old->rules->items[i].name);
            map[i] = nr && rule_same(&old->rules->items[i], nr) ? nr : NULL;
        }
    }

    pthread_mutex_lock(&c->shared.mu);
    /* reload_mu is held: c->shared.rules is still old. */
    size_t kept = 0;
    size_t dropped = 0;
    for (struct cache_entry *e = c->shared.head, *n; e; e = n) {
        n = e->next;
        const struct rule *nr = map ? map[e->rule - old->rules->items] : NULL;
        if (nr) {
            e->rule = nr;
            kept++;
            continue;
        }
        dropped++;
        stat_inc(&c->stats.reload_dropped);
        cache_waiters_move(&wake, &e->waiters);
        if (cache_entry_unlink(c, e)) {
            e->qnext = dead;
            dead = e;
        }
    }
    c->shared.rules = nh;
    c->shared.rules_gen++;
    cache_rules_put(old);            /* our read hold; the current hold remains */
    free_old = cache_rules_put(old); /* the cache's hold on the replaced rules */
    cache_kick(c);
    pthread_mutex_unlock(&c->shared.mu);

    if (rules)
        LOG_INFO("cache: rules from %s: %zu entries kept, %zu dropped", rules->source, kept,
                 dropped);
    cache_waiters_wake(&wake);
    while (dead) {
        struct cache_entry *n = dead->qnext;
        cache_entry_free(dead);
        dead = n;
    }
    if (free_old)
        cache_rules_free(old);
    free(map);
    pthread_mutex_unlock(&c->reload_mu);
}

static struct cache_entry *lookup(struct cache *c, const char *key, size_t len, uint64_t hash)
{
    for (struct cache_entry *e = c->shared.buckets[hash & (CACHE_BUCKETS - 1)]; e; e = e->hnext)
        if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

/* Writes "<rule>: <head><reason>; <age part><tail>" into err (without "<head><reason>; " when
 * both are empty), shortening reason (never the age part) when the whole would not fit. */
static enum ta_rc unavailable(struct ta_err *err, const struct cache_entry *e, int64_t now,
                              const char *head, const char *reason, const char *tail)
{
    char age[160];
    char a[METRIC_DURATION_TEXT_MAX];
    char m[METRIC_DURATION_TEXT_MAX];
    if (e->have_good) {
        int64_t age_ns = now - e->last_success_ns;
        metric_format_duration(age_ns > 0 ? age_ns / NS_PER_SEC * NS_PER_SEC : 0, a);
        metric_format_duration(e->rule->max_age_ns, m);
        snprintf(age, sizeof(age), "last good value is %s old (maxAge %s)", a, m);
    } else {
        snprintf(age, sizeof(age), "no value has been computed yet");
    }
    const char *name = e->rule->name;
    const char *sep = *head || *reason ? "; " : "";
    size_t fixed = strlen(name) + 2 + strlen(head) + strlen(sep) + strlen(age) + strlen(tail);
    size_t room = fixed < TA_ERR_MSG_MAX - 1 ? TA_ERR_MSG_MAX - 1 - fixed : 0;
    size_t rlen = strlen(reason);
    const char *dots = "";
    if (rlen > room) {
        rlen = room > 3 ? room - 3 : 0;
        dots = room > 3 ? "..." : "";
    }
    return ta_err_set(err, TA_UNAVAILABLE, "%s: %s%.*s%s%s%s%s", name, head, (int)rlen, reason,
                      dots, sep, age, tail);
}

/* Answers from e (mu held, e has a result). */
static enum ta_rc answer(const struct cache_entry *e, int64_t now, struct cache_answer *out,
                         struct ta_err *err)
{
    bool fresh = e->have_good && !e->superseded && now - e->last_success_ns < e->rule->max_age_ns;
    switch (e->state) {
    case CACHE_STATE_OK:
    case CACHE_STATE_SOURCE_FAILED:
        if (fresh) {
            out->value = e->good_value;
            out->timestamp_s = e->good_timestamp_s;
            out->window_s = e->good_window_s;
            return TA_OK;
        }
        if (e->state == CACHE_STATE_OK)
            return unavailable(err, e, now, "", "", "; the next evaluation has not finished");
        return unavailable(err, e, now, "last evaluation failed: ", e->reason, "");
    case CACHE_STATE_POLICY_FAILED:
        return unavailable(err, e, now, "", e->reason, "");
    case CACHE_STATE_NONE:
        break;
    }
    return ta_err_set(err, TA_INTERNAL, "%s: cache entry has no result", e->rule->name);
}

/* Serves a found entry (mu held). */
static enum ta_rc serve(struct cache *c, struct cache_entry *e, int64_t now, cache_wake_fn wake,
                        void *arg, bool *pending, struct cache_answer *out, struct ta_err *err)
{
    e->last_read_ns = now;
    if (e->state == CACHE_STATE_NONE) {
        waiter_add(e, wake, arg);
        *pending = true;
        stat_inc(&c->stats.misses);
        return TA_OK;
    }
    stat_inc(&c->stats.hits);
    return answer(e, now, out, err);
}

static uint64_t key_hash(const struct cache *c, const char *p, size_t len)
{
    uint64_t h = c->hash_seed;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

enum ta_rc cache_get(struct cache *c, const struct rule *rule, struct slice ns,
                     const struct selector *sel, cache_wake_fn wake, void *arg, bool *pending,
                     struct cache_answer *out, struct ta_err *err)
{
    enum ta_rc rc = TA_OK;
    struct buf key;
    struct cache_rules *held = NULL; /* hold taken on the slow path; released at out: */
    struct traceql_node *filter = NULL;
    struct cache_entry *ne = NULL;
    bool free_held = false;
    const struct rule *cur = NULL;
    uint64_t ns_len = ns.len;
    int64_t now = cache_now(c);

    *pending = false;
    buf_init(&key, CACHE_MAX_KEY_BYTES);
    if (buf_add(&key, rule->name, strlen(rule->name) + 1) != TA_OK ||
        buf_add(&key, &ns_len, sizeof(ns_len)) != TA_OK || buf_add_slice(&key, ns) != TA_OK ||
        selector_canonical(sel, &key) != TA_OK)
        return ta_err_set(err, TA_TOO_LARGE,
                          "labelSelector: the selector and namespace take more than %d bytes",
                          CACHE_MAX_KEY_BYTES);
    uint64_t hash = key_hash(c, key.data, key.len);

    pthread_mutex_lock(&c->shared.mu);
    struct cache_rules *h = c->shared.rules;
    uint64_t gen = c->shared.rules_gen;
    if (c->shared.stopping) { /* also a wake function running inside cache_free */
        rc = ta_err_set(err, TA_UNAVAILABLE, "%s: the adapter is shutting down", rule->name);
        goto out_locked;
    }
    if (rule_in(h, rule)) {
        cur = rule;
    } else if (!h) {
        rc = ta_err_set(err, TA_UNAVAILABLE, "%s: no rules are loaded", rule->name);
        goto out_locked;
    } else {
        /* A rule of older rules: find its twin in the current ones, outside the lock. */
        held = h;
        held->refs++;
        pthread_mutex_unlock(&c->shared.mu);
        const struct rule *twin = rules_by_name(held->rules, rule->name);
        cur = twin && rule_same(rule, twin) ? twin : NULL;
        pthread_mutex_lock(&c->shared.mu);
        if (!cur || c->shared.rules_gen != gen) {
            rc = ta_err_set(err, TA_UNAVAILABLE, "%s: rules were reloaded; retry", rule->name);
            goto out_locked;
        }
    }

    struct cache_entry *e = lookup(c, key.data, key.len, hash);
    if (e) {
        rc = serve(c, e, now, wake, arg, pending, out, err);
        goto out_locked;
    }
    if (c->shared.nentries >= CACHE_MAX_ENTRIES) {
        rc = ta_err_set(
            err, TA_TOO_LARGE,
            "%s: the cache holds %d distinct (metric, namespace, selector) keys, its limit",
            rule->name, CACHE_MAX_ENTRIES);
        goto out_locked;
    }
    pthread_mutex_unlock(&c->shared.mu);

    /* First request for this key: build the filter without the lock. cur stays valid: it is the
     * caller's rule, or one of `held`. */
    rc = rules_filter_for(cur, ns, sel, &filter, err);
    pthread_mutex_lock(&c->shared.mu);
    if (rc != TA_OK)
        goto out_locked;
    if (c->shared.rules_gen != gen) {
        rc = ta_err_set(err, TA_UNAVAILABLE, "%s: rules were reloaded; retry", rule->name);
        goto out_locked;
    }
    e = lookup(c, key.data, key.len, hash);
    if (e) { /* another first request won the race; join it */
        rc = serve(c, e, now, wake, arg, pending, out, err);
        goto out_locked;
    }
    if (c->shared.stopping || c->shared.nentries >= CACHE_MAX_ENTRIES) {
        rc =
            c->shared.stopping
                ? ta_err_set(err, TA_UNAVAILABLE, "%s: the adapter is shutting down", rule->name)
                : ta_err_set(
                      err, TA_TOO_LARGE,
                      "%s: the cache holds %d distinct (metric, namespace, selector) keys, its limit",
                      rule->name, CACHE_MAX_ENTRIES);
        goto out_locked;
    }
    ne = ta_xcalloc(1, sizeof(*ne));
    ne->key_len = key.len;
    ne->key = buf_take(&key, &ne->key_len);
    ne->hash = hash;
    size_t name_len = strlen(rule->name) + 1;
    ne->ns = slice_make(ne->key + name_len + sizeof(ns_len), ns.len);
    ne->selector =
        slice_make(ne->ns.ptr + ns.len, ne->key_len - name_len - sizeof(ns_len) - ns.len);
    ne->filter = filter;
    filter = NULL;
    ne->rule = cur;
    ne->stat = stat_for(c, cur->name);
    ne->refs = 1;
    ne->linked = true;
    ne->slot = INT64_MIN;
    ne->last_read_ns = now;
    ne->state = CACHE_STATE_NONE;
    struct cache_entry **b = &c->shared.buckets[hash & (CACHE_BUCKETS - 1)];
    ne->hnext = *b;
    *b = ne;
    ne->next = c->shared.head;
    if (ne->next)
        ne->next->prev = ne;
    c->shared.head = ne;
    c->shared.nentries++;
    atomic_store_explicit(&c->stats.entries, c->shared.nentries, memory_order_relaxed);
    waiter_add(ne, wake, arg);
    *pending = true;
    stat_inc(&c->stats.misses);
    cache_enqueue(c, ne, true);
    cache_kick(c); /* the scheduler must learn the new entry's refresh boundary */
    ne->refs++;    /* kept alive for the log line below, written without the lock */
out_locked:
    if (held)
        free_held = cache_rules_put(held);
    pthread_mutex_unlock(&c->shared.mu);
    if (ne) {
        LOG_V(4, "cache: new entry %s namespace \"" SLICE_FMT "\" selector \"" SLICE_FMT "\"",
              ne->key, SLICE_ARG(ne->ns), SLICE_ARG(ne->selector));
        pthread_mutex_lock(&c->shared.mu);
        bool free_ne = --ne->refs == 0;
        pthread_mutex_unlock(&c->shared.mu);
        if (free_ne)
            cache_entry_free(ne);
    }
    if (free_held)
        cache_rules_free(held);
    traceql_free(filter);
    buf_free(&key);
    return rc;
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
    out->entries = atomic_load_explicit(&c->stats.entries, memory_order_relaxed);
    out->evaluations = atomic_load_explicit(&c->stats.evaluations, memory_order_relaxed);
    out->evaluation_errors =
        atomic_load_explicit(&c->stats.evaluation_errors, memory_order_relaxed);
    out->policy_errors = atomic_load_explicit(&c->stats.policy_errors, memory_order_relaxed);
    out->hits = atomic_load_explicit(&c->stats.hits, memory_order_relaxed);
    out->misses = atomic_load_explicit(&c->stats.misses, memory_order_relaxed);
    out->expired = atomic_load_explicit(&c->stats.expired, memory_order_relaxed);
    out->reload_dropped = atomic_load_explicit(&c->stats.reload_dropped, memory_order_relaxed);
}

size_t cache_get_rule_stats(struct cache *c, struct cache_rule_stats **out)
{
    int64_t now = cache_now(c);
    size_t n = 0;
    *out = NULL;
    pthread_mutex_lock(&c->shared.mu);
    const struct cache_rules *h = c->shared.rules;
    if (h && h->rules->n > 0) {
        n = h->rules->n;
        struct cache_rule_stats *r = ta_xcalloc(n, sizeof(*r));
        for (size_t i = 0; i < n; i++) {
            const char *name = h->rules->items[i].name;
            snprintf(r[i].rule, sizeof(r[i].rule), "%s", name);
            r[i].oldest_value_age_s = -1;
            for (const struct cache_rule_stat *s = c->shared.stats; s; s = s->next) {
                if (strcmp(s->name, name) == 0) {
                    r[i].evaluations = s->evaluations;
                    r[i].source_errors = s->source_errors;
                    r[i].policy_errors = s->policy_errors;
                    r[i].evaluation_seconds = (double)s->evaluation_ns / 1e9;
                    break;
                }
            }
        }
        for (const struct cache_entry *e = c->shared.head; e; e = e->next) {
            struct cache_rule_stats *s = &r[e->rule - h->rules->items];
            s->entries++;
            if (e->have_good) {
                double age = (double)(now - e->last_success_ns) / 1e9;
                if (age > s->oldest_value_age_s)
                    s->oldest_value_age_s = age;
            }
        }
        *out = r;
    }
    pthread_mutex_unlock(&c->shared.mu);
    return n;
}
