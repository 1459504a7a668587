/* test_cache.c — the value cache (rules/cache): first requests, refreshes, failures and maxAge,
 * policy errors, expiry, reloads, shutdown, limits, statistics and window alignment.
 *
 * A fake source scripts results and can block evaluations until the test releases them; a
 * fake clock drives windows and ages, and cache_sync runs scheduler passes, so nothing sleeps.
 * Every wait is a condition wait with a 10 s deadline that fails the test. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/base/clock.h"
#include "apis/selector.h"
#include "rules/cache.h"

#define S       NS_PER_SEC
#define WAIT_NS (10 * S)

/* 1700000007.5 s: floor(now / 15 s) * 15 s = 1699999995 s; minus the 30 s query delay the
 * first window ends at 1699999965 s and starts 120 s earlier, at 1699999845 s. */
#define T0       (1700000007 * S + S / 2)
#define T0_END_S 1699999965
#define DELAY    (30 * S)

static const char rules_a[] = "defaults:\n"
                              "  window: 2m\n"
                              "  refresh: 15s\n"
                              "  maxAge: 60s\n"
                              "  minSamples: 1\n"
                              "  namespaceAttribute: \"\"\n"
                              "labels:\n"
                              "  service: resource.service.name\n"
                              "externalRules:\n"
                              "  - name: p95\n"
                              "    help: latency\n"
                              "    spans: '{ kind = server }'\n"
                              "    metric: quantile\n"
                              "    quantile: 0.95\n"
                              "  - name: rps\n"
                              "    spans: '{ kind = server }'\n"
                              "    metric: rate\n"
                              "  - name: avg\n"
                              "    spans: '{ kind = server }'\n"
                              "    metric: mean\n"
                              "  - name: strict\n"
                              "    spans: '{ kind = server }'\n"
                              "    metric: quantile\n"
                              "    quantile: 0.5\n"
                              "    minSamples: 20\n";

/* p95 identical but for help; rps has another window; avg and strict are gone */
static const char rules_b[] = "defaults:\n"
                              "  window: 2m\n"
                              "  refresh: 15s\n"
                              "  maxAge: 60s\n"
                              "  minSamples: 1\n"
                              "  namespaceAttribute: \"\"\n"
                              "labels:\n"
                              "  service: resource.service.name\n"
                              "externalRules:\n"
                              "  - name: p95\n"
                              "    help: the 95th percentile\n"
                              "    spans: '{ kind = server }'\n"
                              "    metric: quantile\n"
                              "    quantile: 0.95\n"
                              "  - name: rps\n"
                              "    spans: '{ kind = server }'\n"
                              "    metric: rate\n"
                              "    window: 1m\n";

/* ---- fake clock ---- */

static _Atomic int64_t fake_now = T0;

static int64_t now_fn(void *arg)
{
    (void)arg;
    return atomic_load(&fake_now);
}

static void set_now(int64_t ns)
{
    atomic_store(&fake_now, ns);
}

static struct timespec deadline(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_NS / S;
    return ts;
}

/* ---- fake source ---- */

#define MAX_CALLS 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;     /* evaluations started */
    bool block;    /* new evaluations wait for a release */
    int releases;  /* blocked evaluations allowed to go on */
    enum ta_rc rc; /* scripted outcome */
    char msg[512];
    struct metric_raw raw;
    char order[MAX_CALLS][32]; /* rule names in call order */
    int64_t start_ns[MAX_CALLS];
    int64_t end_ns[MAX_CALLS];
    bool null_filter; /* an evaluation came without a filter */
} fake = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static enum ta_rc fake_evaluate(void *self, const struct source_query *q, struct metric_raw *out,
                                struct ta_err *err)
{
    (void)self;
    pthread_mutex_lock(&fake.mu);
    int i = fake.calls++;
    if (i < MAX_CALLS) {
        snprintf(fake.order[i], sizeof(fake.order[i]), "%s", q->rule->name);
        fake.start_ns[i] = q->start_ns;
        fake.end_ns[i] = q->end_ns;
    }
    if (!q->filter)
        fake.null_filter = true;
    pthread_cond_broadcast(&fake.cv);
    struct timespec ts = deadline();
    while (fake.block && fake.releases == 0)
        if (pthread_cond_timedwait(&fake.cv, &fake.mu, &ts) != 0)
            break; /* the test failed to release us; let it fail on its own */
    if (fake.releases > 0)
        fake.releases--;
    enum ta_rc rc = fake.rc;
    *out = fake.raw;
    if (rc != TA_OK)
        ta_err_set(err, rc, "%s", fake.msg);
    pthread_mutex_unlock(&fake.mu);
    return rc;
}

static enum ta_rc fake_ready(void *self, struct ta_err *err)
{
    (void)self;
    (void)err;
    return TA_OK;
}

static const struct source_ops fake_ops = { "fake", fake_evaluate, fake_ready };
static const struct source fake_source = { &fake_ops, NULL };

static void fake_result(enum ta_rc rc, const char *msg, double value, uint64_t samples)
{
    pthread_mutex_lock(&fake.mu);
    fake.rc = rc;
    snprintf(fake.msg, sizeof(fake.msg), "%s", msg ? msg : "");
    fake.raw = (struct metric_raw){ value, samples, false };
    pthread_mutex_unlock(&fake.mu);
}

static void fake_block(bool on)
{
    pthread_mutex_lock(&fake.mu);
    fake.block = on;
    pthread_cond_broadcast(&fake.cv);
    pthread_mutex_unlock(&fake.mu);
}

static void fake_release(int n)
{
    pthread_mutex_lock(&fake.mu);
    fake.releases += n;
    pthread_cond_broadcast(&fake.cv);
    pthread_mutex_unlock(&fake.mu);
}

static int fake_calls(void)
{
    pthread_mutex_lock(&fake.mu);
    int n = fake.calls;
    pthread_mutex_unlock(&fake.mu);
    return n;
}

static void fake_wait_calls(int n)
{
    struct timespec ts = deadline();
    pthread_mutex_lock(&fake.mu);
    while (fake.calls < n)
        if (pthread_cond_timedwait(&fake.cv, &fake.mu, &ts) != 0)
            break;
    int got = fake.calls;
    pthread_mutex_unlock(&fake.mu);
    cr_assert_geq(got, n, "expected %d evaluations to start, saw %d", n, got);
}

/* ---- waiters ---- */

struct waker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
};

#define WAKER_INIT                                             \
    {                                                          \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 \
    }

static void wake_fn(void *arg)
{
    struct waker *w = arg;
    pthread_mutex_lock(&w->mu);
    w->count++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int waker_count(struct waker *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->count;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static void waker_wait(struct waker *w, int n)
{
    struct timespec ts = deadline();
    pthread_mutex_lock(&w->mu);
    while (w->count < n)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    int got = w->count;
    pthread_mutex_unlock(&w->mu);
    cr_assert_eq(got, n, "expected %d wake-ups, saw %d", n, got);
}

/* ---- fixture ---- */

static struct rules *ra;
static struct rules *rb;

static struct rules *load(const char *yaml)
{
    struct rules *r = NULL;
    struct ta_err err = { 0 };
    enum ta_rc rc = rules_load_bytes(slice_from_cstr(yaml), "test.yaml", &r, &err);
    cr_assert_eq(rc, TA_OK, "rules: %s", err.msg);
    return r;
}

static void setup(void)
{
    set_now(T0);
    fake_result(TA_OK, NULL, 0.25, 50);
    ra = load(rules_a);
    rb = load(rules_b);
}

static void teardown(void)
{
    rules_unref(ra);
    rules_unref(rb);
    cr_assert_not(fake.null_filter);
}

TestSuite(cache, .init = setup, .fini = teardown);

static struct cache *new_cache(int workers, bool start)
{
    struct cache_config cfg = { &fake_source, DELAY, workers, now_fn, NULL };
    struct cache *c = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(cache_new(&cfg, &c, &err), TA_OK, "%s", err.msg);
    cache_set_rules(c, ra);
    if (start)
        cr_assert_eq(cache_start(c, &err), TA_OK, "%s", err.msg);
    return c;
}

static const struct rule *rule_of(const struct rules *r, const char *name)
{
    const struct rule *x = rules_find(r, slice_from_cstr(name));
    cr_assert_not_null(x, "no rule %s", name);
    return x;
}

struct res {
    enum ta_rc rc;
    bool pending;
    struct cache_answer ans;
    struct ta_err err;
};

/* cache_get of rule `name` of rules r for (ns, selector text). */
static struct res get_in(struct cache *c, const struct rules *r, const char *name, struct slice ns,
                         const char *sel_text, struct waker *w)
{
    struct res x;
    memset(&x, 0, sizeof(x));
    x.ans.value = NAN;
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(slice_from_cstr(sel_text), &sel, NULL), TA_OK);
    x.rc =
        cache_get(c, rule_of(r, name), ns, sel, w ? wake_fn : NULL, w, &x.pending, &x.ans, &x.err);
    selector_free(sel);
    return x;
}

static struct res get(struct cache *c, const char *name, const char *sel_text, struct waker *w)
{
    return get_in(c, ra, name, SLICE_LIT("shop"), sel_text, w);
}

static void sync_idle(struct cache *c)
{
    struct ta_err err = { 0 };
    cr_assert_eq(cache_sync(c, true, WAIT_NS, &err), TA_OK, "%s", err.msg);
}

/* Creates the entry and waits for its first value. */
static void first_value(struct cache *c, const char *name, const char *sel_text)
{
    struct waker w = WAKER_INIT;
    struct res r = get(c, name, sel_text, &w);
    cr_assert_eq(r.rc, TA_OK, "%s", r.err.msg);
    cr_assert(r.pending);
    waker_wait(&w, 1);
}

#define ASSERT_VALUE(r, v)                              \
    do {                                                \
        cr_assert_eq((r).rc, TA_OK, "%s", (r).err.msg); \
        cr_assert_not((r).pending);                     \
        cr_assert_float_eq((r).ans.value, (v), 1e-12);  \
    } while (0)

#define ASSERT_UNAVAILABLE(r, text)                                             \
    do {                                                                        \
        cr_assert_eq((r).rc, TA_UNAVAILABLE, "rc %d: %s", (r).rc, (r).err.msg); \
        cr_assert_not((r).pending);                                             \
        cr_assert_str_eq((r).err.msg, (text));                                  \
    } while (0)

/* ---- window alignment ---- */

Test(cache, window_alignment_by_hand)
{
    int64_t start;
    int64_t end;
    /* T0 = 1700000007.5 s, refresh 15 s: 1699999995 s; minus 30 s; window 2 m */
    cache_window(T0, 15 * S, 120 * S, 30 * S, &start, &end);
    cr_assert_eq(end, 1699999965 * S);
    cr_assert_eq(start, 1699999845 * S);
    /* exactly on a boundary: the boundary itself; refresh 1 m, delay 5 s, window 10 m */
    cache_window(1700000040 * S, 60 * S, 600 * S, 5 * S, &start, &end);
    cr_assert_eq(end, 1700000035 * S); /* 1700000040 = 28333334 * 60 */
    cr_assert_eq(start, 1699999435 * S);
    /* one ns before it: the previous minute */
    cache_window(1700000040 * S - 1, 60 * S, 600 * S, 0, &start, &end);
    cr_assert_eq(end, 1699999980 * S);
    /* negative times floor downwards: -1 ns with refresh 10 s is in [-10 s, 0) */
    cache_window(-1, 10 * S, 20 * S, 0, &start, &end);
    cr_assert_eq(end, -10 * S);
    cr_assert_eq(start, -30 * S);
    /* sub-second refresh and delay: 1.7 s with 500 ms -> 1.5 s, minus 250 ms = 1.25 s */
    cache_window(1700 * NS_PER_MS, 500 * NS_PER_MS, S, 250 * NS_PER_MS, &start, &end);
    cr_assert_eq(end, 1250 * NS_PER_MS);
    cr_assert_eq(start, 250 * NS_PER_MS);
    /* a refresh of 0 is taken as 1 s */
    cache_window(7 * S + 3, 0, S, 0, &start, &end);
    cr_assert_eq(end, 7 * S);
}

/* ---- configuration ---- */

Test(cache, new_rejects_bad_config)
{
    struct cache *c = (struct cache *)1;
    struct ta_err err = { 0 };
    struct cache_config cfg = { &fake_source, DELAY, 0, NULL, NULL };
    cr_assert_eq(cache_new(&cfg, &c, &err), TA_INVALID);
    cr_assert_null(c);
    cr_assert_str_eq(err.msg, "cache: workers must be between 1 and 256, not 0");
    cfg.workers = CACHE_MAX_WORKERS + 1;
    cr_assert_eq(cache_new(&cfg, &c, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "cache: workers must be between 1 and 256, not 257");
    cfg.workers = 1;
    cfg.query_delay_ns = -1;
    cr_assert_eq(cache_new(&cfg, &c, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "cache: query delay must not be negative");
    cfg.query_delay_ns = 0;
    cfg.source = NULL;
    cr_assert_eq(cache_new(&cfg, &c, NULL), TA_INVALID);
    cr_assert_null(c);
    cache_free(NULL);
}

Test(cache, answers_unavailable_before_any_rules)
{
    struct cache_config cfg = { &fake_source, DELAY, 1, now_fn, NULL };
    struct cache *c = NULL;
    cr_assert_eq(cache_new(&cfg, &c, NULL), TA_OK);
    struct res r = get(c, "p95", "", NULL);
    ASSERT_UNAVAILABLE(r, "p95: no rules are loaded");
    struct ta_err err = { 0 };
    cr_assert_eq(cache_sync(c, true, WAIT_NS, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "cache: the refresh threads are not running");
    cache_free(c);
}

/* ---- first requests ---- */

Test(cache, first_request_is_pending_then_served)
{
    struct cache *c = new_cache(2, true);
    struct waker w = WAKER_INIT;
    struct res r = get(c, "p95", "service=checkout", &w);
    cr_assert_eq(r.rc, TA_OK, "%s", r.err.msg);
    cr_assert(r.pending);
    waker_wait(&w, 1);
    r = get(c, "p95", "service=checkout", NULL);
    ASSERT_VALUE(r, 0.25);
    cr_assert_eq(r.ans.timestamp_s, T0_END_S);
    cr_assert_eq(r.ans.window_s, 120);
    cr_assert_eq(fake_calls(), 1);
    cr_assert_eq(fake.end_ns[0], (int64_t)T0_END_S * S);
    cr_assert_eq(fake.start_ns[0], (int64_t)(T0_END_S - 120) * S);
    cr_assert_eq(waker_count(&w), 1); /* exactly once */
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.misses, 1);
    cr_assert_eq(st.hits, 1);
    cr_assert_eq(st.evaluations, 1);
    cache_free(c);
}

Test(cache, polling_without_a_wake_function)
{
    struct cache *c = new_cache(1, true);
    struct res r = get(c, "p95", "", NULL);
    cr_assert(r.pending);
    sync_idle(c);
    r = get(c, "p95", "", NULL);
    ASSERT_VALUE(r, 0.25);
    cache_free(c);
}

struct racer {
    struct cache *c;
    struct waker w;
    struct res r;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    x->r = get(x->c, "p95", "service=checkout", &x->w);
    return NULL;
}

Test(cache, concurrent_first_requests_share_one_evaluation)
{
    struct cache *c = new_cache(4, true);
    fake_block(true);
    enum {
        N = 8
    };
    struct racer x[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        x[i] = (struct racer){ .c = c, .w = WAKER_INIT };
        pthread_create(&t[i], NULL, race, &x[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(x[i].r.rc, TA_OK);
        cr_assert(x[i].r.pending);
    }
    fake_wait_calls(1);
    fake_release(1);
    for (int i = 0; i < N; i++)
        waker_wait(&x[i].w, 1);
    cr_assert_eq(fake_calls(), 1);
    fake_block(false);
    struct res r = get(c, "p95", "service=checkout", NULL);
    ASSERT_VALUE(r, 0.25);
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.misses, N);
    cache_free(c);
}

Test(cache, keys_differ_by_rule_namespace_and_selector)
{
    struct cache *c = new_cache(2, true);
    cr_assert(get(c, "p95", "service=a", NULL).pending);
    cr_assert(get(c, "p95", "service=b", NULL).pending);
    cr_assert(get(c, "rps", "service=a", NULL).pending);
    cr_assert(get_in(c, ra, "p95", SLICE_LIT("other"), "service=a", NULL).pending);
    /* namespaces are bytes: an embedded NUL makes another key, and no final NUL is needed */
    const char ns_bytes[] = { 's', 'h', 0, 'o', 'p' };
    cr_assert(get_in(c, ra, "p95", slice_make(ns_bytes, 5), "service=a", NULL).pending);
    cr_assert(get_in(c, ra, "p95", slice_make(ns_bytes, 2), "service=a", NULL).pending);
    /* the same selector written differently is the same key */
    cr_assert(get(c, "p95", "service in (x, y)", NULL).pending);
    sync_idle(c);
    struct res r = get(c, "p95", "service in (y,x)", NULL);
    ASSERT_VALUE(r, 0.25);
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 7);
    cr_assert_eq(st.evaluations, 7);
    cr_assert_eq(fake_calls(), 7);
    cache_free(c);
}

Test(cache, selector_that_cannot_be_mapped_creates_no_entry)
{
    struct cache *c = new_cache(1, true);
    struct waker w = WAKER_INIT;
    struct res r = get(c, "p95", "team=payments", &w);
    cr_assert_eq(r.rc, TA_INVALID);
    cr_assert_not(r.pending);
    cr_assert(strstr(r.err.msg, "team"), "%s", r.err.msg);
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.misses, 0);
    sync_idle(c);
    cr_assert_eq(fake_calls(), 0);
    cr_assert_eq(waker_count(&w), 0);
    cache_free(c);
}

/* ---- refresh ---- */

Test(cache, refresh_at_the_next_boundary_updates_the_value)
{
    struct cache *c = new_cache(1, true);
    first_value(c, "p95", "");
    fake_result(TA_OK, NULL, 0.5, 60);
    /* same slot: nothing is due */
    set_now(T0 + 2 * S); /* 1700000009.5 s, still before the boundary at 1700000010 s */
    sync_idle(c);
    cr_assert_eq(fake_calls(), 1);
    ASSERT_VALUE(get(c, "p95", "", NULL), 0.25);
    /* next boundary 1700000010 s: the window ends at 1699999980 s */
    set_now(1700000010 * S);
    sync_idle(c);
    cr_assert_eq(fake_calls(), 2);
    struct res r = get(c, "p95", "", NULL);
    ASSERT_VALUE(r, 0.5);
    cr_assert_eq(r.ans.timestamp_s, 1699999980);
    cr_assert_eq(fake.end_ns[1], 1699999980 * S);
    cr_assert_eq(fake.start_ns[1], 1699999860 * S);
    /* one evaluation per entry per boundary, however often the scheduler runs */
    sync_idle(c);
    sync_idle(c);
    cr_assert_eq(fake_calls(), 2);
    cache_free(c);
}

Test(cache, first_requests_go_before_refreshes)
{
    struct cache *c = new_cache(1, true);
    first_value(c, "p95", ""); /* call 0: p95 */
    fake_block(true);
    cr_assert(get(c, "avg", "", NULL).pending); /* call 1: avg, blocked: the one worker is busy */
    fake_wait_calls(2);
    set_now(T0 + 15 * S);
    struct ta_err err = { 0 };
    cr_assert_eq(cache_sync(c, false, WAIT_NS, &err), TA_OK, "%s",
                 err.msg);                      /* p95 refresh queued */
    cr_assert(get(c, "rps", "", NULL).pending); /* first request queued */
    fake_block(false);
    fake_release(1);
    fake_wait_calls(4); /* avg stored, rps done, p95's refresh started */
    /* avg's evaluation began in the slot of T0 and so is one refresh behind: the next pass
     * queues it again */
    sync_idle(c);
    cr_assert_eq(fake_calls(), 5);
    cr_assert_str_eq(fake.order[0], "p95");
    cr_assert_str_eq(fake.order[1], "avg");
    cr_assert_str_eq(fake.order[2], "rps");
    cr_assert_str_eq(fake.order[3], "p95");
    cr_assert_str_eq(fake.order[4], "avg");
    cr_assert_eq(fake.end_ns[1], (int64_t)T0_END_S * S);
    cr_assert_eq(fake.end_ns[4], (int64_t)(T0_END_S + 15) * S);
    cache_free(c);
}

Test(cache, source_failure_keeps_the_last_value_until_max_age)
{
    struct cache *c = new_cache(1, true);
    first_value(c, "p95", ""); /* last success at T0 */
    fake_result(TA_UPSTREAM, "tempo: 503 service unavailable", NAN, 0);
    for (int k = 1; k <= 3; k++) { /* boundaries at T0 + 7.5 s, + 22.5 s, + 37.5 s */
        set_now(T0 + (15 * k - 7) * S - S / 2);
        sync_idle(c);
        struct res r = get(c, "p95", "", NULL);
        ASSERT_VALUE(r, 0.25);
        cr_assert_eq(r.ans.timestamp_s, T0_END_S); /* the old value's own window */
    }
    cr_assert_eq(fake_calls(), 4);
    set_now(T0 + 59 * S); /* 59 s old: still served */
    sync_idle(c);
    ASSERT_VALUE(get(c, "p95", "", NULL), 0.25);
    set_now(T0 + 60 * S); /* maxAge reached */
    ASSERT_UNAVAILABLE(get(c, "p95", "", NULL),
                       "p95: last evaluation failed: tempo: 503 service unavailable; last good "
                       "value is 60s old (maxAge 60s)");
    set_now(T0 + 75 * S);
    sync_idle(c);
    ASSERT_UNAVAILABLE(get(c, "p95", "", NULL),
                       "p95: last evaluation failed: tempo: 503 service unavailable; last good "
                       "value is 75s old (maxAge 60s)");
    /* the source comes back: served again from the next boundary on */
    fake_result(TA_OK, NULL, 0.75, 40);
    set_now(T0 + 90 * S);
    sync_idle(c);
    struct res r = get(c, "p95", "", NULL);
    ASSERT_VALUE(r, 0.75);
    cr_assert_eq(r.ans.timestamp_s, T0_END_S + 90);
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.evaluation_errors, 5);
    cr_assert_eq(st.policy_errors, 0);
    cache_free(c);
}

Test(cache, failure_without_any_value_says_so)
{
    struct cache *c = new_cache(1, true);
    fake_result(TA_TIMEOUT, "tempo: GET /api/metrics/query: timeout after 30s", NAN, 0);
    first_value(c, "p95", "");
    ASSERT_UNAVAILABLE(get(c, "p95", "", NULL),
                       "p95: last evaluation failed: tempo: GET /api/metrics/query: timeout after "
                       "30s; no value has been computed yet");
    cache_free(c);
}

Test(cache, long_failure_reasons_are_shortened_but_keep_the_age)
{
    struct cache *c = new_cache(1, true);
    char reason[300];
    memset(reason, 'x', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    fake_result(TA_UPSTREAM, reason, NAN, 0);
    first_value(c, "p95", "");
    struct res r = get(c, "p95", "", NULL);
    cr_assert_eq(r.rc, TA_UNAVAILABLE);
    cr_assert_eq(strlen(r.err.msg), TA_ERR_MSG_MAX - 1);
    const char *tail = "...; no value has been computed yet";
    cr_assert_str_eq(r.err.msg + strlen(r.err.msg) - strlen(tail), tail);
    cr_assert(strncmp(r.err.msg, "p95: last evaluation failed: xxx", 32) == 0, "%s", r.err.msg);
    cache_free(c);
}

Test(cache, value_is_stale_when_refreshes_do_not_finish)
{
    struct cache *c = new_cache(1, true);
    first_value(c, "p95", "");
    fake_block(true);
    set_now(T0 + 15 * S);
    struct ta_err err = { 0 };
    cr_assert_eq(cache_sync(c, false, WAIT_NS, &err), TA_OK, "%s", err.msg);
    fake_wait_calls(2); /* the refresh hangs in the source */
    set_now(T0 + 61 * S);
    ASSERT_UNAVAILABLE(get(c, "p95", "", NULL),
                       "p95: last good value is 61s old (maxAge 60s); the next evaluation has "
                       "not finished");
    fake_block(false);
    fake_release(1);
    sync_idle(c);
    ASSERT_VALUE(get(c, "p95", "", NULL), 0.25);
    cache_free(c);
}

Test(cache, policy_errors_are_immediate)
{
    struct cache *c = new_cache(1, true);
    fake_result(TA_OK, NULL, 0.1, 7);
    first_value(c, "strict", "");
    ASSERT_UNAVAILABLE(get(c, "strict", "", NULL),
                       "strict: only 7 matching spans in the 2m window, minSamples is 20; no "
                       "value has been computed yet");
    /* a good value, then a policy failure at the next boundary: refused at once */
    fake_result(TA_OK, NULL, 0.2, 25);
    set_now(T0 + 15 * S);
    sync_idle(c);
    ASSERT_VALUE(get(c, "strict", "", NULL), 0.2);
    fake_result(TA_OK, NULL, 0.3, 3);
    set_now(T0 + 30 * S);
    sync_idle(c);
    ASSERT_UNAVAILABLE(get(c, "strict", "", NULL),
                       "strict: only 3 matching spans in the 2m window, minSamples is 20; last "
                       "good value is 15s old (maxAge 60s)");
    /* a source failure after a refused value does not bring the older value back */
    fake_result(TA_UPSTREAM, "tempo: 502 bad gateway", NAN, 0);
    set_now(T0 + 45 * S);
    sync_idle(c);
    ASSERT_UNAVAILABLE(get(c, "strict", "", NULL),
                       "strict: last evaluation failed: tempo: 502 bad gateway; last good value "
                       "is 30s old (maxAge 60s)");
    /* non-finite values and empty windows are policy errors too */
    fake_result(TA_OK, NULL, NAN, 30);
    set_now(T0 + 60 * S);
    sync_idle(c);
    ASSERT_UNAVAILABLE(get(c, "strict", "", NULL),
                       "strict: the computed quantile is not a finite number (nan); last good "
                       "value is 45s old (maxAge 60s)");
    fake_result(TA_OK, NULL, NAN, 0);
    set_now(T0 + 75 * S);
    sync_idle(c);
    ASSERT_UNAVAILABLE(get(c, "strict", "", NULL),
                       "strict: no matching spans in the 2m window; last good value is 60s old "
                       "(maxAge 60s)");
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.policy_errors, 4);
    cr_assert_eq(st.evaluation_errors, 1);
    cr_assert_eq(st.evaluations, 6);
    cache_free(c);
}

/* ---- expiry ---- */

Test(cache, entries_not_read_for_ten_refreshes_are_dropped)
{
    struct cache *c = new_cache(1, true);
    first_value(c, "p95", "service=a"); /* read at T0 */
    first_value(c, "p95", "service=b"); /* read at T0 */
    set_now(T0 + 135 * S);
    sync_idle(c);
    ASSERT_VALUE(get(c, "p95", "service=a", NULL), 0.25); /* a read at T0 + 135 s */
    set_now(T0 + 149 * S);
    sync_idle(c);
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 2);
    set_now(T0 + 150 * S); /* b: 150 s = 10 × 15 s without a read */
    sync_idle(c);
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.expired, 1);
    /* a request after expiry starts over */
    cr_assert(get(c, "p95", "service=b", NULL).pending);
    ASSERT_VALUE(get(c, "p95", "service=a", NULL), 0.25);
    cache_free(c);
}

/* ---- reloads ---- */

Test(cache, reload_keeps_unchanged_rules_and_drops_the_others)
{
    struct cache *c = new_cache(2, true);
    first_value(c, "p95", "");
    first_value(c, "rps", "");
    first_value(c, "avg", "");
    cache_set_rules(c, rb);
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.reload_dropped, 2);
    /* p95 only changed its help: kept, with its value, through the new rule and the old one */
    ASSERT_VALUE(get_in(c, rb, "p95", SLICE_LIT("shop"), "", NULL), 0.25);
    ASSERT_VALUE(get_in(c, ra, "p95", SLICE_LIT("shop"), "", NULL), 0.25);
    /* rps changed its window: the old rule is refused, the new one starts over */
    ASSERT_UNAVAILABLE(get_in(c, ra, "rps", SLICE_LIT("shop"), "", NULL),
                       "rps: rules were reloaded; retry");
    ASSERT_UNAVAILABLE(get_in(c, ra, "avg", SLICE_LIT("shop"), "", NULL),
                       "avg: rules were reloaded; retry");
    /* an old twin with a selector that cannot be mapped: refused, nothing kept (the rules
     * held for the lookup are released: ASan and valgrind check) */
    struct res bad = get_in(c, ra, "p95", SLICE_LIT("shop"), "team=x", NULL);
    cr_assert_eq(bad.rc, TA_INVALID);
    struct res r = get_in(c, rb, "rps", SLICE_LIT("shop"), "", NULL);
    cr_assert_eq(r.rc, TA_OK);
    cr_assert(r.pending);
    sync_idle(c);
    r = get_in(c, rb, "rps", SLICE_LIT("shop"), "", NULL);
    ASSERT_VALUE(r, 0.25);
    cr_assert_eq(r.ans.window_s, 60);
    cache_free(c);
}

Test(cache, reload_wakes_waiters_of_dropped_pending_entries)
{
    struct cache *c = new_cache(1, true);
    fake_block(true);
    struct waker w = WAKER_INIT;
    cr_assert(get(c, "avg", "", &w).pending);
    fake_wait_calls(1);
    cache_set_rules(c, rb); /* avg is gone */
    waker_wait(&w, 1);
    ASSERT_UNAVAILABLE(get(c, "avg", "", NULL), "avg: rules were reloaded; retry");
    fake_block(false);
    fake_release(1);
    sync_idle(c);
    cr_assert_eq(waker_count(&w), 1); /* the late result wakes nobody again */
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.evaluations, 1);
    cache_free(c);
}

Test(cache, reload_to_no_rules_drops_everything)
{
    struct cache *c = new_cache(1, false); /* never started: the job stays queued */
    struct waker w = WAKER_INIT;
    cr_assert(get(c, "p95", "", &w).pending);
    cache_set_rules(c, NULL);
    waker_wait(&w, 1);
    ASSERT_UNAVAILABLE(get(c, "p95", "", NULL), "p95: no rules are loaded");
    cache_set_rules(c, ra);
    cr_assert(get(c, "p95", "", NULL).pending);
    cache_free(c);
}

/* ---- shutdown ---- */

static void *do_free(void *arg)
{
    cache_free(arg);
    return NULL;
}

Test(cache, shutdown_wakes_every_waiter_once)
{
    struct cache *c = new_cache(1, true);
    fake_block(true);
    struct waker running = WAKER_INIT;
    struct waker queued = WAKER_INIT;
    cr_assert(get(c, "p95", "", &running).pending);
    fake_wait_calls(1); /* the one worker is inside the source */
    cr_assert(get(c, "rps", "", &queued).pending);
    cr_assert(get(c, "rps", "", &queued).pending); /* two waiters on the queued entry */
    pthread_t t;
    pthread_create(&t, NULL, do_free, c);
    /* the evaluation in flight finishes first; whether the worker still takes the queued job
     * depends on when cache_free stops it, but either way every waiter is woken once */
    fake_block(false);
    fake_release(1);
    pthread_join(t, NULL);
    cr_assert_eq(waker_count(&running), 1);
    cr_assert_eq(waker_count(&queued), 2);
    cr_assert_leq(fake_calls(), 2);
}

Test(cache, free_without_start_wakes_waiters)
{
    struct cache *c = new_cache(2, false);
    struct waker w = WAKER_INIT;
    cr_assert(get(c, "p95", "", &w).pending);
    cr_assert(get(c, "rps", "", &w).pending);
    cache_free(c);
    cr_assert_eq(waker_count(&w), 2);
    cr_assert_eq(fake_calls(), 0);
}

/* A wake function that asks again at once, as server/ does. */
struct reask {
    struct cache *c;
    struct waker w;
    enum ta_rc rc;
    bool pending;
    double value;
    char msg[TA_ERR_MSG_MAX];
};

static void reask_wake(void *arg)
{
    struct reask *x = arg;
    struct selector *sel = NULL;
    struct ta_err err = { 0 };
    struct cache_answer ans = { NAN, 0, 0 };
    selector_parse(SLICE_LIT(""), &sel, NULL);
    x->rc = cache_get(x->c, rules_find(ra, SLICE_LIT("p95")), SLICE_LIT("shop"), sel, NULL, NULL,
                      &x->pending, &ans, &err);
    x->value = ans.value;
    snprintf(x->msg, sizeof(x->msg), "%s", err.msg);
    selector_free(sel);
    wake_fn(&x->w);
}

Test(cache, wake_functions_may_ask_again)
{
    struct cache *c = new_cache(1, true);
    struct reask x = { .c = c, .w = WAKER_INIT };
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(SLICE_LIT(""), &sel, NULL), TA_OK);
    bool pending = false;
    struct cache_answer ans;
    cr_assert_eq(cache_get(c, rule_of(ra, "p95"), SLICE_LIT("shop"), sel, reask_wake, &x, &pending,
                           &ans, NULL),
                 TA_OK);
    cr_assert(pending);
    waker_wait(&x.w, 1);
    cr_assert_eq(x.rc, TA_OK, "%s", x.msg);
    cr_assert_not(x.pending);
    cr_assert_float_eq(x.value, 0.25, 1e-12);
    cache_free(c);

    /* inside cache_free the answer is an error, and the memory is still there */
    c = new_cache(1, false);
    struct reask y = { .c = c, .w = WAKER_INIT };
    cr_assert_eq(cache_get(c, rule_of(ra, "p95"), SLICE_LIT("shop"), sel, reask_wake, &y, &pending,
                           &ans, NULL),
                 TA_OK);
    cr_assert(pending);
    cache_free(c);
    cr_assert_eq(waker_count(&y.w), 1);
    cr_assert_eq(y.rc, TA_UNAVAILABLE);
    cr_assert_str_eq(y.msg, "p95: the adapter is shutting down");
    selector_free(sel);
}

/* ---- limits ---- */

Test(cache, refuses_keys_past_the_entry_limit)
{
    struct cache *c = new_cache(1, false); /* nothing evaluates: entries stay pending */
    char ns[32];
    for (int i = 0; i < CACHE_MAX_ENTRIES; i++) {
        int n = snprintf(ns, sizeof(ns), "ns%d", i);
        struct res r = get_in(c, ra, "p95", slice_make(ns, (size_t)n), "", NULL);
        cr_assert_eq(r.rc, TA_OK, "%d: %s", i, r.err.msg);
        cr_assert(r.pending);
    }
    struct res r = get_in(c, ra, "p95", SLICE_LIT("one-more"), "", NULL);
    cr_assert_eq(r.rc, TA_TOO_LARGE);
    cr_assert_str_eq(
        r.err.msg,
        "p95: the cache holds 10000 distinct (metric, namespace, selector) keys, its limit");
    /* existing keys are still answered */
    cr_assert(get_in(c, ra, "p95", SLICE_LIT("ns7"), "", NULL).pending);
    struct cache_stats st;
    cache_get_stats(c, &st);
    cr_assert_eq(st.entries, CACHE_MAX_ENTRIES);
    cache_free(c);
}

Test(cache, refuses_a_namespace_past_the_key_limit)
{
    struct cache *c = new_cache(1, false);
    char *big = malloc(CACHE_MAX_KEY_BYTES);
    memset(big, 'n', CACHE_MAX_KEY_BYTES);
    struct res r = get_in(c, ra, "p95", slice_make(big, CACHE_MAX_KEY_BYTES), "", NULL);
    cr_assert_eq(r.rc, TA_TOO_LARGE);
    cr_assert_str_eq(r.err.msg,
                     "labelSelector: the selector and namespace take more than 16384 bytes");
    free(big);
    cache_free(c);
}

/* ---- statistics ---- */

Test(cache, per_rule_statistics)
{
    struct cache *c = new_cache(1, true);
    first_value(c, "p95", "service=a");
    first_value(c, "p95", "service=b");
    fake_result(TA_UPSTREAM, "down", NAN, 0);
    first_value(c, "rps", "");
    set_now(T0 + 20 * S); /* values of p95 are 20 s old */
    struct cache_rule_stats *rs = NULL;
    size_t n = cache_get_rule_stats(c, &rs);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(rs[0].rule, "p95");
    cr_assert_eq(rs[0].entries, 2);
    cr_assert_eq(rs[0].evaluations, 2);
    cr_assert_eq(rs[0].source_errors, 0);
    cr_assert_float_eq(rs[0].oldest_value_age_s, 20.0, 1e-9);
    cr_assert_geq(rs[0].evaluation_seconds, 0.0);
    cr_assert_str_eq(rs[1].rule, "rps");
    cr_assert_eq(rs[1].entries, 1);
    cr_assert_eq(rs[1].evaluations, 1);
    cr_assert_eq(rs[1].source_errors, 1);
    cr_assert_eq(rs[1].oldest_value_age_s, -1);
    cr_assert_str_eq(rs[2].rule, "avg");
    cr_assert_eq(rs[2].entries, 0);
    cr_assert_eq(rs[2].evaluations, 0);
    free(rs);
    /* counters survive a reload that keeps the name; the reload's scheduler pass at T0 + 20 s
     * (a new slot) refreshes both p95 entries, which fail now */
    cache_set_rules(c, rb);
    sync_idle(c);
    n = cache_get_rule_stats(c, &rs);
    cr_assert_eq(n, 2);
    cr_assert_eq(rs[0].entries, 2);
    cr_assert_eq(rs[0].evaluations, 4);
    cr_assert_eq(rs[0].source_errors, 2);
    cr_assert_float_eq(rs[0].oldest_value_age_s, 20.0, 1e-9);
    cr_assert_eq(rs[1].evaluations, 1);
    cr_assert_eq(rs[1].entries, 0);
    free(rs);
    cache_free(c);
}

/* ---- concurrency ---- */

enum {
    STRESS_READERS = 6,
    STRESS_ROUNDS = 400,
    STRESS_STEPS = 40,
    STRESS_RELOADS = 20
};

struct stress {
    struct cache *c;
    struct selector *sels[3];
    _Atomic int stop;
    _Atomic int bad; /* unexpected outcomes */
    char first_bad[TA_ERR_MSG_MAX + 32];
    pthread_mutex_t mu;
};

struct reader {
    struct stress *s;
    unsigned seed;
    struct waker w;
    int pendings; /* results with *pending and a wake function */
};

static void *stress_read(void *arg)
{
    struct reader *rd = arg;
    struct stress *s = rd->s;
    const char *names[2] = { "p95", "rps" };
    for (int i = 0; i < STRESS_ROUNDS; i++) {
        const struct rules *rs = (rand_r(&rd->seed) & 1) ? ra : rb;
        const struct rule *rule = rules_find(rs, slice_from_cstr(names[rand_r(&rd->seed) & 1]));
        const struct selector *sel = s->sels[rand_r(&rd->seed) % 3];
        bool pending = false;
        struct cache_answer ans;
        struct ta_err err = { 0 };
        enum ta_rc rc =
            cache_get(s->c, rule, SLICE_LIT("shop"), sel, wake_fn, &rd->w, &pending, &ans, &err);
        bool ok = (rc == TA_OK && (pending || ans.value == 0.25)) ||
                  (rc == TA_UNAVAILABLE && strstr(err.msg, "rules were reloaded; retry"));
        if (rc == TA_OK && pending)
            rd->pendings++;
        if (!ok && atomic_fetch_add(&s->bad, 1) == 0) {
            pthread_mutex_lock(&s->mu);
            snprintf(s->first_bad, sizeof(s->first_bad), "rc %d: %s", rc, err.msg);
            pthread_mutex_unlock(&s->mu);
        }
    }
    return NULL;
}

static void *stress_clock(void *arg)
{
    struct stress *s = arg;
    for (int i = 1; i <= STRESS_STEPS && !atomic_load(&s->stop); i++) {
        set_now(T0 + i * 5 * S);
        if (cache_sync(s->c, true, WAIT_NS, NULL) != TA_OK)
            atomic_fetch_add(&s->bad, 1);
    }
    return NULL;
}

static void *stress_reload(void *arg)
{
    struct stress *s = arg;
    for (int i = 0; i < STRESS_RELOADS; i++)
        cache_set_rules(s->c, (i & 1) ? ra : rb);
    return NULL;
}

Test(cache, concurrent_reads_refreshes_and_reloads)
{
    struct stress s = { .c = new_cache(4, true), .mu = PTHREAD_MUTEX_INITIALIZER };
    const char *texts[3] = { "", "service=a", "service in (b,c)" };
    for (int i = 0; i < 3; i++)
        cr_assert_eq(selector_parse(slice_from_cstr(texts[i]), &s.sels[i], NULL), TA_OK);
    struct reader rd[STRESS_READERS];
    pthread_t t[STRESS_READERS + 2];
    for (int i = 0; i < STRESS_READERS; i++) {
        rd[i] = (struct reader){ .s = &s, .seed = (unsigned)i + 1, .w = WAKER_INIT };
        pthread_create(&t[i], NULL, stress_read, &rd[i]);
    }
    pthread_create(&t[STRESS_READERS], NULL, stress_clock, &s);
    pthread_create(&t[STRESS_READERS + 1], NULL, stress_reload, &s);
    for (int i = 0; i < STRESS_READERS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&s.stop, 1);
    pthread_join(t[STRESS_READERS], NULL);
    pthread_join(t[STRESS_READERS + 1], NULL);
    cache_free(s.c); /* wakes whoever still waits */
    cr_assert_eq(atomic_load(&s.bad), 0, "first unexpected outcome: %s", s.first_bad);
    /* every pending answer got exactly one wake-up, whether from an evaluation, a reload or
     * the shutdown */
    for (int i = 0; i < STRESS_READERS; i++)
        cr_assert_eq(waker_count(&rd[i].w), rd[i].pendings, "reader %d", i);
    for (int i = 0; i < 3; i++)
        selector_free(s.sels[i]);
}
