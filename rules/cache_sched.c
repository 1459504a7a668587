/* cache_sched.c — the refresh scheduler, the evaluation workers and window alignment.
 *
 * The scheduler thread sleeps until the next aligned refresh boundary of any entry
 * (floor(now/refresh)*refresh + refresh) or a kick, then queues every entry due (one job per
 * entry: an entry is never queued twice) and drops entries nobody read for
 * CACHE_EXPIRE_REFRESHES periods. Workers take first-request jobs before refresh jobs, call the
 * source and metric_apply_policy without the lock, store the outcome and wake the waiters
 * after unlocking. No sleeping in loops: every wait is on a condition variable (monotonic
 * clock). Thread rules: see cache.h and cache_int.h. */
#include "rules/cache.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "rules/cache_int.h"
#include "rules/metric.h"

#define SCHED_MAX_SLEEP_NS (3600 * NS_PER_SEC) /* re-read the clock at least hourly */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

int64_t cache_refresh_ns(const struct rule *r)
{
    return r->refresh_ns > 0 ? r->refresh_ns : NS_PER_SEC;
}

void cache_window(int64_t now_ns, int64_t refresh_ns, int64_t window_ns, int64_t query_delay_ns,
                  int64_t *start_ns, int64_t *end_ns)
{
    if (refresh_ns <= 0)
        refresh_ns = NS_PER_SEC;
    *end_ns = floor_div(now_ns, refresh_ns) * refresh_ns - query_delay_ns;
    *start_ns = *end_ns - window_ns;
}

static struct timespec mono_deadline(int64_t delta_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (delta_ns < 0)
        delta_ns = 0;
    ts.tv_sec += (time_t)(delta_ns / NS_PER_SEC);
    ts.tv_nsec += (long)(delta_ns % NS_PER_SEC);
    if (ts.tv_nsec >= NS_PER_SEC) {
        ts.tv_sec++;
        ts.tv_nsec -= NS_PER_SEC;
    }
    return ts;
}

void cache_enqueue(struct cache *c, struct cache_entry *e, bool first)
{
    struct cache_queue *q = first ? &c->shared.first : &c->shared.refresh;
    e->busy = true;
    e->refs++;
    e->qnext = NULL;
    if (q->tail)
        q->tail->qnext = e;
    else
        q->head = e;
    q->tail = e;
    pthread_cond_signal(&c->shared.work_cv);
}

void cache_kick(struct cache *c)
{
    c->shared.kick_seq++;
    pthread_cond_signal(&c->shared.sched_cv);
}

static struct cache_entry *queue_pop(struct cache *c)
{
    struct cache_queue *q = c->shared.first.head ? &c->shared.first : &c->shared.refresh;
    struct cache_entry *e = q->head;
    if (!e)
        return NULL;
    q->head = e->qnext;
    if (!q->head)
        q->tail = NULL;
    e->qnext = NULL;
    return e;
}

static bool idle(const struct cache *c)
{
    return !c->shared.first.head && !c->shared.refresh.head && c->shared.running == 0;
}

/* The outcome of one evaluation, carried from the unlocked part to the store. */
struct outcome {
    int64_t t0;
    int64_t start_ns;
    int64_t end_ns;
    enum ta_rc rc;  /* source */
    enum ta_rc prc; /* policy */
    struct ta_err err;
    struct metric_raw raw;
    double value;
    int64_t took_ns;
};

static void evaluate(struct cache *c, const struct rule *rule, const struct traceql_node *filter,
                     struct outcome *o)
{
    o->t0 = cache_now(c);
    cache_window(o->t0, cache_refresh_ns(rule), rule->window_ns, c->cfg.query_delay_ns,
                 &o->start_ns, &o->end_ns);
    struct source_query q = { rule, filter, o->start_ns, o->end_ns };
    o->raw = (struct metric_raw){ NAN, 0, false };
    ta_err_clear(&o->err);
    int64_t m0 = clock_mono_ns();
    o->rc = c->cfg.source->ops->evaluate(c->cfg.source->self, &q, &o->raw, &o->err);
    o->took_ns = clock_mono_ns() - m0;
    o->prc = TA_OK;
    if (o->rc != TA_OK) {
        if (!o->err.msg[0])
            ta_err_set(&o->err, o->rc, "%s source failed (%s)", c->cfg.source->ops->name,
                       ta_rc_name(o->rc));
        return;
    }
    o->prc = metric_apply_policy(rule, &o->raw, &o->value, &o->err);
}

/* Stores o into e (mu held, e linked); returns the state before. */
static enum cache_state store(struct cache_entry *e, const struct rule *rule,
                              const struct outcome *o)
{
    enum cache_state before = e->state;
    e->slot = floor_div(o->t0, cache_refresh_ns(rule));
    if (o->rc != TA_OK) {
        e->state = CACHE_STATE_SOURCE_FAILED;
    } else if (o->prc != TA_OK) {
        e->state = CACHE_STATE_POLICY_FAILED;
        e->superseded = true;
    } else {
        e->state = CACHE_STATE_OK;
        e->have_good = true;
        e->superseded = false;
        e->good_value = o->value;
        e->good_timestamp_s = floor_div(o->end_ns, NS_PER_SEC);
        e->good_window_s = rule->window_ns / NS_PER_SEC;
        e->last_success_ns = o->t0;
    }
    if (e->state != CACHE_STATE_OK)
        snprintf(e->reason, sizeof(e->reason), "%s", o->err.msg);
    return before;
}

static void log_outcome(const struct cache_entry *e, const struct rule *rule,
                        const struct outcome *o, enum cache_state before)
{
    const char *what = o->rc != TA_OK ? "evaluation failed" : "value refused";
    if (o->rc != TA_OK || o->prc != TA_OK) {
        enum cache_state now_state =
            o->rc != TA_OK ? CACHE_STATE_SOURCE_FAILED : CACHE_STATE_POLICY_FAILED;
        if (before != now_state)
            LOG_WARN("cache: %s namespace \"" SLICE_FMT "\" selector \"" SLICE_FMT "\": %s: %s",
                     rule->name, SLICE_ARG(e->ns), SLICE_ARG(e->selector), what, o->err.msg);
        else
            LOG_V(2, "cache: %s namespace \"" SLICE_FMT "\" selector \"" SLICE_FMT "\": %s: %s",
                  rule->name, SLICE_ARG(e->ns), SLICE_ARG(e->selector), what, o->err.msg);
        return;
    }
    if (before == CACHE_STATE_SOURCE_FAILED || before == CACHE_STATE_POLICY_FAILED)
        LOG_INFO("cache: %s namespace \"" SLICE_FMT "\" selector \"" SLICE_FMT "\": recovered",
                 rule->name, SLICE_ARG(e->ns), SLICE_ARG(e->selector));
    LOG_V(2,
          "cache: %s namespace \"" SLICE_FMT "\" selector \"" SLICE_FMT
          "\": %.9g from %llu samples%s in %.3fs",
          rule->name, SLICE_ARG(e->ns), SLICE_ARG(e->selector), o->value,
          (unsigned long long)o->raw.samples, o->raw.partial ? " (partial)" : "",
          (double)o->took_ns / 1e9);
}

static void *worker_main(void *arg)
{
    struct cache *c = arg;
    struct outcome o;
    pthread_mutex_lock(&c->shared.mu);
    for (;;) {
        struct cache_entry *e = NULL;
        while (!c->shared.stopping && !(e = queue_pop(c)))
            pthread_cond_wait(&c->shared.work_cv, &c->shared.mu);
        if (!e)
            break; /* stopping; queued jobs are dropped by cache_free */
        c->shared.running++;
        if (e->linked) {
            struct cache_rules *h = c->shared.rules; /* e->rule belongs to it while linked */
            const struct rule *rule = e->rule;
            struct cache_rule_stat *stat = e->stat;
            h->refs++;
            pthread_mutex_unlock(&c->shared.mu);

            evaluate(c, rule, e->filter, &o);

            struct cache_waiters wake = { 0 };
            enum cache_state before = CACHE_STATE_NONE;
            pthread_mutex_lock(&c->shared.mu);
            atomic_fetch_add_explicit(&c->stats.evaluations, 1, memory_order_relaxed);
            stat->evaluations++;
            stat->evaluation_ns += o.took_ns;
            if (o.rc != TA_OK) {
                atomic_fetch_add_explicit(&c->stats.evaluation_errors, 1, memory_order_relaxed);
                stat->source_errors++;
            } else if (o.prc != TA_OK) {
                atomic_fetch_add_explicit(&c->stats.policy_errors, 1, memory_order_relaxed);
                stat->policy_errors++;
            }
            bool linked = e->linked; /* a reload may have dropped it meanwhile */
            if (linked) {
                before = store(e, rule, &o);
                cache_waiters_move(&wake, &e->waiters);
            }
            e->busy = false;
            bool free_e = --e->refs == 0;
            bool free_h = cache_rules_put(h);
            pthread_mutex_unlock(&c->shared.mu);

            if (linked)
                log_outcome(e, rule, &o, before);
            cache_waiters_wake(&wake);
            if (free_e)
                cache_entry_free(e);
            if (free_h)
                cache_rules_free(h);
        } else {
            /* dropped by a reload while queued: its waiters were woken then */
            e->busy = false;
            bool free_e = --e->refs == 0;
            pthread_mutex_unlock(&c->shared.mu);
            if (free_e)
                cache_entry_free(e);
        }
        pthread_mutex_lock(&c->shared.mu);
        c->shared.running--;
        if (idle(c))
            pthread_cond_broadcast(&c->shared.idle_cv);
    }
    pthread_mutex_unlock(&c->shared.mu);
    return NULL;
}

/* One scheduler pass at now (mu held): expires idle entries into *dead, queues due ones, and
 * returns the next boundary of any entry (INT64_MAX when there is none). */
static int64_t pass(struct cache *c, int64_t now, struct cache_entry **dead)
{
    int64_t next = INT64_MAX;
    for (struct cache_entry *e = c->shared.head, *n; e; e = n) {
        n = e->next;
        int64_t refresh = cache_refresh_ns(e->rule);
        int64_t idle_ns = refresh > INT64_MAX / CACHE_EXPIRE_REFRESHES
                              ? INT64_MAX
                              : refresh * CACHE_EXPIRE_REFRESHES;
        if (!e->busy && now - e->last_read_ns >= idle_ns) {
            atomic_fetch_add_explicit(&c->stats.expired, 1, memory_order_relaxed);
            if (cache_entry_unlink(c, e)) {
                e->qnext = *dead;
                *dead = e;
            }
            continue;
        }
        int64_t slot = floor_div(now, refresh);
        if (!e->busy && e->slot < slot)
            cache_enqueue(c, e, false);
        int64_t boundary = slot < INT64_MAX / refresh - 1 ? (slot + 1) * refresh : INT64_MAX;
        if (boundary < next)
            next = boundary;
    }
    return next;
}

static void *sched_main(void *arg)
{
    struct cache *c = arg;
    pthread_mutex_lock(&c->shared.mu);
    while (!c->shared.stopping) {
        uint64_t seq = c->shared.kick_seq;
        pthread_mutex_unlock(&c->shared.mu);
        int64_t now = cache_now(c);
        pthread_mutex_lock(&c->shared.mu);
        if (c->shared.stopping)
            break;
        struct cache_entry *dead = NULL;
        int64_t next = pass(c, now, &dead);
        if (seq > c->shared.pass_seq)
            c->shared.pass_seq = seq;
        pthread_cond_broadcast(&c->shared.idle_cv);
        if (dead) {
            pthread_mutex_unlock(&c->shared.mu);
            while (dead) {
                struct cache_entry *d = dead->qnext;
                /* key starts with the rule name and its NUL */
                LOG_V(2,
                      "cache: %s namespace \"" SLICE_FMT "\" selector \"" SLICE_FMT
                      "\": dropped, not read for %d refresh periods",
                      dead->key, SLICE_ARG(dead->ns), SLICE_ARG(dead->selector),
                      CACHE_EXPIRE_REFRESHES);
                cache_entry_free(dead);
                dead = d;
            }
            pthread_mutex_lock(&c->shared.mu);
        }
        if (c->shared.stopping || c->shared.kick_seq != seq)
            continue;
        if (next == INT64_MAX || c->cfg.now_ns) {
            /* with a test clock, whose time need not pass at the wall clock's pace, passes
             * happen only when kicked */
            pthread_cond_wait(&c->shared.sched_cv, &c->shared.mu);
        } else {
            int64_t delta = next - now;
            struct timespec ts =
                mono_deadline(delta < SCHED_MAX_SLEEP_NS ? delta : SCHED_MAX_SLEEP_NS);
            pthread_cond_timedwait(&c->shared.sched_cv, &c->shared.mu, &ts);
        }
    }
    pthread_mutex_unlock(&c->shared.mu);
    return NULL;
}

void cache_stop_threads(struct cache *c)
{
    pthread_mutex_lock(&c->shared.mu);
    c->shared.stopping = true;
    pthread_cond_broadcast(&c->shared.work_cv);
    pthread_cond_broadcast(&c->shared.sched_cv);
    pthread_cond_broadcast(&c->shared.idle_cv);
    pthread_mutex_unlock(&c->shared.mu);
    if (c->sched_running)
        pthread_join(c->sched, NULL);
    c->sched_running = false;
    for (int i = 0; i < c->nthreads; i++)
        pthread_join(c->threads[i], NULL);
    c->nthreads = 0;
}

enum ta_rc cache_start(struct cache *c, struct ta_err *err)
{
    pthread_mutex_lock(&c->shared.mu);
    bool again = c->shared.started || c->shared.stopping;
    c->shared.started = true;
    pthread_mutex_unlock(&c->shared.mu);
    if (again)
        return TA_OK;

    /* Threads start with every signal blocked: signals belong to main's thread. */
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&c->sched, NULL, sched_main, c);
    if (e == 0) {
        c->sched_running = true;
        for (int i = 0; i < c->cfg.workers && e == 0; i++) {
            e = pthread_create(&c->threads[i], NULL, worker_main, c);
            if (e == 0)
                c->nthreads++;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        char msg[128];
        cache_stop_threads(c);
        return ta_err_set(err, TA_INTERNAL, "cache: cannot start a thread: %s",
                          strerror_r(e, msg, sizeof(msg)));
    }
    LOG_V(1, "cache: started %d evaluation threads on the %s source", c->cfg.workers,
          c->cfg.source->ops->name);
    return TA_OK;
}

enum ta_rc cache_sync(struct cache *c, bool wait_idle, int64_t timeout_ns, struct ta_err *err)
{
    struct timespec ts = mono_deadline(timeout_ns);
    enum ta_rc rc = TA_OK;
    pthread_mutex_lock(&c->shared.mu);
    if (!c->shared.started || c->shared.stopping) {
        rc = ta_err_set(err, TA_UNAVAILABLE, "cache: the refresh threads are not running");
        goto out;
    }
    cache_kick(c);
    uint64_t seq = c->shared.kick_seq;
    while (!(c->shared.pass_seq >= seq && (!wait_idle || idle(c)))) {
        if (c->shared.stopping) {
            rc = ta_err_set(err, TA_UNAVAILABLE, "cache: the refresh threads are stopping");
            goto out;
        }
        if (pthread_cond_timedwait(&c->shared.idle_cv, &c->shared.mu, &ts) == ETIMEDOUT &&
            !(c->shared.pass_seq >= seq && (!wait_idle || idle(c)))) {
            rc = ta_err_set(err, TA_TIMEOUT, "cache: evaluations still running after the deadline");
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&c->shared.mu);
    return rc;
}
