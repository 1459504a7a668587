/* test_store.c — the embedded store: copies, windows, eviction, retention, trace index,
 * duplicates, limits, memory steady state, and ingest racing scans on threads. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "server/store.h"

#define T0  1700000000000000000LL /* arrival clock and span times in the tests */
#define SEC NS_PER_SEC
#define MS  NS_PER_MS

static struct store *new_store(uint64_t max_spans, int64_t retention_ns)
{
    struct store_config cfg = { .max_spans = max_spans, .retention_ns = retention_ns };
    struct store *st = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(store_new(&cfg, &st, &err), TA_OK, "%s", err.msg);
    return st;
}

/* A span of trace t (first byte; the rest fixed), span id sid, parent pid (0: root). */
static struct span mk(uint8_t t, uint32_t sid, uint32_t pid, int64_t start, int64_t dur_ns)
{
    struct span s;
    memset(&s, 0, sizeof(s));
    s.trace_id[0] = t;
    s.trace_id[15] = 0x77;
    for (int i = 0; i < 4; i++) {
        s.span_id[4 + i] = (uint8_t)(sid >> (24 - 8 * i));
        s.parent_span_id[4 + i] = (uint8_t)(pid >> (24 - 8 * i));
    }
    s.start_ns = start;
    s.end_ns = start + dur_ns;
    s.kind = SPAN_KIND_SERVER;
    s.name = SLICE_LIT("GET /");
    return s;
}

static uint32_t sid_of(const struct span *s)
{
    return (uint32_t)s->span_id[4] << 24 | (uint32_t)s->span_id[5] << 16 |
           (uint32_t)s->span_id[6] << 8 | s->span_id[7];
}

struct collected {
    uint32_t sids[4096];
    int64_t starts[4096];
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static bool collect(const struct span *s, void *arg)
{
    struct collected *c = arg;
    if (c->n < 4096) {
        c->sids[c->n] = sid_of(s);
        c->starts[c->n] = s->start_ns;
    }
    c->n++;
    return !(c->stop_after && c->n >= c->stop_after);
}

static void add_ok(struct store *st, const struct span *s, size_t n, int64_t now)
{
    struct ta_err err = { 0 };
    cr_assert_eq(store_add(st, s, n, now, NULL, &err), TA_OK, "%s", err.msg);
}

Test(store, new_rejects_bad_config)
{
    struct store *st = (struct store *)1;
    struct ta_err err = { 0 };
    struct store_config cfg = { .max_spans = 0, .retention_ns = SEC };
    cr_assert_eq(store_new(&cfg, &st, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "max_spans 0 is out of range [1, 500000000]");
    cr_assert_null(st);
    cfg.max_spans = STORE_MAX_SPANS_LIMIT + 1ull;
    cr_assert_eq(store_new(&cfg, &st, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "max_spans 500000001 is out of range [1, 500000000]");
    cfg.max_spans = 10;
    cfg.retention_ns = 0;
    cr_assert_eq(store_new(&cfg, &st, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "retention must be positive");
    store_free(NULL);
}

/* Verifies the span stored by copies_every_field_and_string. */
static void check(const uint8_t id[16], const struct span *sp, size_t n, bool complete, void *arg)
{
    (void)arg;
    cr_assert_eq(n, 1);
    cr_assert(complete);
    cr_assert_eq(id[0], 1);
    const struct span *s = &sp[0];
    cr_assert_eq(s->trace_id[0], 1);
    cr_assert_eq(s->trace_id[15], 0x77);
    cr_assert_eq(sid_of(s), 10);
    cr_assert_eq(s->parent_span_id[7], 9);
    cr_assert_eq(s->start_ns, T0);
    cr_assert_eq(s->end_ns, T0 + 250 * MS);
    cr_assert_eq(s->kind, SPAN_KIND_CLIENT);
    cr_assert_eq(s->status, SPAN_STATUS_ERROR);
    cr_assert(slice_eq_cstr(s->name, "POST /checkout"));
    cr_assert_eq(s->attrs.n, 3);
    const struct span_attr *a = span_attr_find(&s->attrs, SLICE_LIT("http.route"));
    cr_assert(a && a->value.type == ATTR_STRING && slice_eq_cstr(a->value.u.str, "/checkout"));
    a = span_attr_find(&s->attrs, SLICE_LIT("n"));
    cr_assert(a && a->value.type == ATTR_INT && a->value.u.i == -5);
    a = span_attr_find(&s->attrs, SLICE_LIT("d"));
    cr_assert(a && a->value.type == ATTR_DOUBLE && a->value.u.d == 2.5);
    cr_assert_eq(s->resource.n, 1);
    a = span_attr_find(&s->resource, SLICE_LIT("service.name"));
    cr_assert(a && slice_eq_cstr(a->value.u.str, "checkout"));
}

Test(store, copies_every_field_and_string)
{
    struct store *st = new_store(100, 600 * SEC);
    char name[] = "POST /checkout";
    char key[] = "http.route", val[] = "/checkout";
    char rkey[] = "service.name", rval[] = "checkout";
    struct span_attr attrs[3] = {
        { slice_make(key, strlen(key)), { .type = ATTR_STRING, .u.str = { val, strlen(val) } } },
        { SLICE_LIT("n"), { .type = ATTR_INT, .u.i = -5 } },
        { SLICE_LIT("d"), { .type = ATTR_DOUBLE, .u.d = 2.5 } },
    };
    struct span_attr res[1] = {
        { slice_make(rkey, strlen(rkey)),
          { .type = ATTR_STRING, .u.str = { rval, strlen(rval) } } },
    };
    struct span s = mk(1, 10, 9, T0, 250 * MS);
    s.kind = SPAN_KIND_CLIENT;
    s.status = SPAN_STATUS_ERROR;
    s.name = slice_make(name, strlen(name));
    s.attrs = (struct span_attrs){ attrs, 3 };
    s.resource = (struct span_attrs){ res, 1 };
    struct store_add_result ar;
    cr_assert_eq(store_add(st, &s, 1, T0, &ar, NULL), TA_OK);
    cr_assert_eq(ar.stored, 1);
    /* scribble over the caller's memory: the store must hold copies */
    memset(name, 'x', strlen(name));
    memset(key, 'x', strlen(key));
    memset(val, 'x', strlen(val));
    memset(rkey, 'x', strlen(rkey));
    memset(rval, 'x', strlen(rval));

    struct collected c = { .n = 0 };
    cr_assert_eq(store_scan(st, T0, T0 + 1, collect, &c), 1);
    cr_assert_eq(c.n, 1);
    uint8_t tid[1][16];
    memcpy(tid[0], s.trace_id, 16);
    store_get_traces(st, (const uint8_t(*)[16])tid, 1, 10, check, NULL);
    store_free(st);
}

Test(store, scan_window_is_start_inclusive_end_exclusive)
{
    struct store *st = new_store(100, 3600 * SEC);
    struct span s[4] = { mk(1, 1, 0, T0 - 1, 5), mk(1, 2, 0, T0, 5), mk(1, 3, 0, T0 + 99, 5),
                         mk(1, 4, 0, T0 + 100, 5) };
    add_ok(st, s, 4, T0);
    struct collected c = { .n = 0 };
    cr_assert_eq(store_scan(st, T0, T0 + 100, collect, &c), 2);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.sids[0], 2);
    cr_assert_eq(c.sids[1], 3);
    store_free(st);
}

Test(store, scan_stops_when_the_callback_says_so)
{
    struct store *st = new_store(100, 3600 * SEC);
    struct span s[5];
    for (int i = 0; i < 5; i++)
        s[i] = mk(1, (uint32_t)i + 1, 0, T0, 1);
    add_ok(st, s, 5, T0);
    struct collected c = { .n = 0, .stop_after = 2 };
    cr_assert_eq(store_scan(st, T0, T0 + 1, collect, &c), 2);
    cr_assert_eq(c.n, 2);
    store_free(st);
}

Test(store, evicts_oldest_first_when_full_and_counts_dropped)
{
    struct store *st = new_store(3, 3600 * SEC);
    for (uint32_t i = 1; i <= 5; i++) {
        struct span s = mk((uint8_t)i, i, 0, T0 + i, 1); /* one trace each */
        add_ok(st, &s, 1, T0);
    }
    struct collected c = { .n = 0 };
    store_scan(st, T0, T0 + 100, collect, &c);
    cr_assert_eq(c.n, 3);
    cr_assert_eq(c.sids[0], 3);
    cr_assert_eq(c.sids[1], 4);
    cr_assert_eq(c.sids[2], 5);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 3);
    cr_assert_eq(ss.dropped, 2);
    cr_assert_eq(ss.stored, 5);
    cr_assert_eq(ss.received, 5);
    cr_assert_eq(ss.traces, 3); /* the evicted traces left the index */
    store_free(st);
}

Test(store, eviction_crosses_chunks_in_order)
{
    uint64_t max = 2 * STORE_CHUNK_SPANS + 100;
    struct store *st = new_store(max, 3600 * SEC);
    size_t total = 5 * STORE_CHUNK_SPANS + 7;
    struct span *s = calloc(total, sizeof(*s));
    for (size_t i = 0; i < total; i++)
        s[i] = mk((uint8_t)(1 + i % 200), (uint32_t)i + 1, 0, T0 + (int64_t)i, 1);
    for (size_t i = 0; i < total; i += 1000) /* requests of 1000: each fits the store */
        add_ok(st, s + i, total - i < 1000 ? total - i : 1000, T0);
    struct collected c = { .n = 0 };
    cr_assert_eq(store_scan(st, T0, T0 + (int64_t)total, collect, &c), max);
    cr_assert_eq(c.sids[0], total - max + 1); /* the oldest survivor */
    for (size_t i = 1; i < 4096; i++)
        cr_assert_eq(c.sids[i], c.sids[i - 1] + 1);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, max);
    cr_assert_eq(ss.dropped, total - max);
    free(s);
    store_free(st);
}

Test(store, retention_expires_spans_after_arrival_plus_retention)
{
    struct store *st = new_store(100, 60 * SEC);
    struct span a = mk(1, 1, 0, T0, 1);
    add_ok(st, &a, 1, T0);
    struct span b = mk(2, 2, 0, T0 + 30 * SEC, 1);
    add_ok(st, &b, 1, T0 + 30 * SEC);
    store_expire(st, T0 + 59 * SEC); /* nothing is a minute old yet */
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 2);
    store_expire(st, T0 + 62 * SEC); /* a has been there over a minute, b not */
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 1);
    cr_assert_eq(ss.expired, 1);
    cr_assert_eq(ss.dropped, 0);
    struct collected c = { .n = 0 };
    store_scan(st, 0, INT64_MAX, collect, &c);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.sids[0], 2);
    store_expire(st, T0 + 92 * SEC);
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 0);
    cr_assert_eq(ss.traces, 0);
    cr_assert_eq(ss.expired, 2);
    store_free(st);
}

Test(store, retention_change_applies_at_next_expire)
{
    struct store *st = new_store(100, 3600 * SEC);
    struct span a = mk(1, 1, 0, T0, 1);
    add_ok(st, &a, 1, T0);
    cr_assert_eq(store_retention(st), 3600 * SEC);
    store_set_retention(st, 10 * SEC);
    store_set_retention(st, 0); /* ignored */
    cr_assert_eq(store_retention(st), 10 * SEC);
    store_expire(st, T0 + 12 * SEC);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 0);
    store_free(st);
}

Test(store, add_expires_old_spans_too)
{
    struct store *st = new_store(100, 10 * SEC);
    struct span a = mk(1, 1, 0, T0, 1);
    add_ok(st, &a, 1, T0);
    struct span b = mk(2, 2, 0, T0 + 20 * SEC, 1);
    add_ok(st, &b, 1, T0 + 20 * SEC);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 1);
    cr_assert_eq(ss.expired, 1);
    store_free(st);
}

Test(store, spans_already_older_than_retention_are_not_stored)
{
    struct store *st = new_store(100, 60 * SEC);
    struct span s[2] = { mk(1, 1, 0, T0 - 61 * SEC, 1), mk(1, 2, 0, T0 - 60 * SEC, 1) };
    struct store_add_result res;
    cr_assert_eq(store_add(st, s, 2, T0, &res, NULL), TA_OK);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.too_old, 1);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.too_old, 1);
    cr_assert_eq(ss.spans, 1);
    cr_assert_eq(ss.received, 2);
    store_free(st);
}

Test(store, invalid_spans_are_rejected)
{
    struct store *st = new_store(100, 60 * SEC);
    struct span s[3] = { mk(1, 1, 0, T0, 1), mk(1, 2, 0, T0, -1), mk(0, 3, 0, T0, 1) };
    memset(s[2].trace_id, 0, 16);
    struct store_add_result res;
    cr_assert_eq(store_add(st, s, 3, T0, &res, NULL), TA_OK);
    cr_assert_eq(res.stored, 1);
    cr_assert_eq(res.invalid, 2);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.rejected, 2);
    store_count_rejected(st, 5);
    store_get_stats(st, &ss);
    cr_assert_eq(ss.rejected, 7);
    cr_assert_eq(ss.received, 8);
    store_free(st);
}

Test(store, duplicate_span_ids_of_a_trace_are_stored_once)
{
    struct store *st = new_store(100, 60 * SEC);
    struct span s[3] = { mk(1, 1, 0, T0, 5), mk(1, 2, 1, T0, 1), mk(2, 1, 0, T0, 5) };
    add_ok(st, s, 3, T0);
    struct store_add_result res;
    cr_assert_eq(store_add(st, s, 2, T0, &res, NULL), TA_OK); /* a retry: both already there */
    cr_assert_eq(res.duplicates, 2);
    cr_assert_eq(res.stored, 0);
    struct span same_in_batch[2] = { mk(3, 7, 0, T0, 1), mk(3, 7, 0, T0, 1) };
    add_ok(st, same_in_batch, 2, T0);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 4); /* trace 2 and 3 reuse span id 1/7 legitimately once each */
    cr_assert_eq(ss.duplicates, 3);
    store_free(st);
}

struct gathered {
    uint32_t sids[64];
    size_t n;
    bool complete;
    int calls;
};

static void gather(const uint8_t id[16], const struct span *sp, size_t n, bool complete, void *arg)
{
    (void)id;
    struct gathered *g = arg;
    g->calls++;
    g->n = n;
    g->complete = complete;
    for (size_t i = 0; i < n && i < 64; i++)
        g->sids[i] = sid_of(&sp[i]);
}

static void tid_of(uint8_t t, uint8_t out[16])
{
    struct span s = mk(t, 1, 0, T0, 1);
    memcpy(out, s.trace_id, 16);
}

Test(store, trace_index_gathers_spans_across_requests_newest_first)
{
    struct store *st = new_store(100, 60 * SEC);
    /* trace 1: children arrive first, then an unrelated trace, then the root */
    struct span r1[2] = { mk(1, 3, 2, T0 + 10, 5), mk(1, 2, 1, T0 + 5, 20) };
    struct span other = mk(9, 1, 0, T0, 1);
    struct span r2 = mk(1, 1, 0, T0, 100);
    add_ok(st, r1, 2, T0);
    add_ok(st, &other, 1, T0);
    add_ok(st, &r2, 1, T0);
    uint8_t ids[2][16];
    tid_of(1, ids[0]);
    tid_of(5, ids[1]); /* never stored */
    struct gathered g = { .n = 0 };
    store_get_traces(st, (const uint8_t(*)[16])ids, 1, 100, gather, &g);
    cr_assert_eq(g.calls, 1);
    cr_assert_eq(g.n, 3);
    cr_assert(g.complete);
    cr_assert_eq(g.sids[0], 1);
    cr_assert_eq(g.sids[1], 2);
    cr_assert_eq(g.sids[2], 3);
    struct gathered g2 = { .n = 7 };
    store_get_traces(st, (const uint8_t(*)[16])ids + 1, 1, 100, gather, &g2);
    cr_assert_eq(g2.calls, 1);
    cr_assert_eq(g2.n, 0);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.traces, 2);
    store_free(st);
}

Test(store, trace_gather_is_capped_and_says_incomplete)
{
    struct store *st = new_store(100, 60 * SEC);
    struct span s[5];
    for (int i = 0; i < 5; i++)
        s[i] = mk(1, (uint32_t)i + 1, 0, T0, 1);
    add_ok(st, s, 5, T0);
    uint8_t ids[1][16];
    tid_of(1, ids[0]);
    struct gathered g = { .n = 0 };
    store_get_traces(st, (const uint8_t(*)[16])ids, 1, 3, gather, &g);
    cr_assert_eq(g.n, 3);
    cr_assert_not(g.complete);
    cr_assert_eq(g.sids[0], 5);
    store_get_traces(st, (const uint8_t(*)[16])ids, 1, 5, gather, &g);
    cr_assert_eq(g.n, 5);
    cr_assert(g.complete);
    store_free(st);
}

Test(store, trace_gather_skips_evicted_older_spans)
{
    struct store *st = new_store(3, 60 * SEC);
    struct span a = mk(1, 1, 0, T0, 1), b = mk(2, 1, 0, T0, 1), c = mk(1, 2, 1, T0, 1),
                d = mk(2, 2, 1, T0, 1);
    add_ok(st, &a, 1, T0);
    add_ok(st, &b, 1, T0);
    add_ok(st, &c, 1, T0);
    add_ok(st, &d, 1, T0); /* evicts a: trace 1 keeps c only */
    uint8_t ids[1][16];
    tid_of(1, ids[0]);
    struct gathered g = { .n = 0 };
    store_get_traces(st, (const uint8_t(*)[16])ids, 1, 10, gather, &g);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.sids[0], 2);
    store_free(st);
}

Test(store, paused_store_refuses_with_unavailable)
{
    struct store *st = new_store(10, 60 * SEC);
    store_set_paused(st, true);
    struct span s = mk(1, 1, 0, T0, 1);
    struct ta_err err = { 0 };
    cr_assert_eq(store_add(st, &s, 1, T0, NULL, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "the embedded store is not accepting spans");
    store_set_paused(st, false);
    cr_assert_eq(store_add(st, &s, 1, T0, NULL, &err), TA_OK);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.rejected, 1);
    cr_assert_eq(ss.spans, 1);
    store_free(st);
}

Test(store, request_larger_than_the_store_is_refused_whole)
{
    struct store *st = new_store(3, 60 * SEC);
    struct span s[4];
    for (int i = 0; i < 4; i++)
        s[i] = mk(1, (uint32_t)i + 1, 0, T0, 1);
    struct ta_err err = { 0 };
    cr_assert_eq(store_add(st, s, 3, T0, NULL, &err), TA_OK); /* exactly the capacity */
    cr_assert_eq(store_add(st, s, 4, T0, NULL, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "request has 4 spans, more than the store holds (3)");
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 3);
    cr_assert_eq(ss.rejected, 4);
    store_free(st);
}

Test(store, byte_budget_evicts_oldest)
{
    struct store_config cfg = { .max_spans = 1000, .max_bytes = 200000, .retention_ns = 60 * SEC };
    struct store *st = NULL;
    cr_assert_eq(store_new(&cfg, &st, NULL), TA_OK);
    char big[4000];
    struct span s[100];
    char *names[100];
    for (int i = 0; i < 100; i++) {
        memset(big, 'a' + i % 26, sizeof(big));
        snprintf(big, 16, "%d-", i); /* distinct long names */
        names[i] = malloc(sizeof(big));
        memcpy(names[i], big, sizeof(big));
        s[i] = mk(1, (uint32_t)i + 1, 0, T0, 1);
        s[i].name = slice_make(names[i], sizeof(big));
    }
    add_ok(st, s, 100, T0);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_leq(ss.intern_bytes, 200000);
    cr_assert_gt(ss.dropped, 0);
    cr_assert_eq(ss.spans + ss.dropped, 100);
    struct collected c = { .n = 0 };
    store_scan(st, 0, INT64_MAX, collect, &c);
    cr_assert_eq(c.sids[c.n - 1], 100); /* the newest survive */
    for (int i = 0; i < 100; i++)
        free(names[i]);
    store_free(st);
}

Test(store, memory_returns_to_steady_state_after_churn)
{
    struct store *st = new_store(100000, 10 * SEC);
    uint64_t bytes[3];
    char name[32];
    for (int round = 0; round < 3; round++) {
        int64_t now = T0 + round * 100 * SEC;
        struct span *s = calloc(20000, sizeof(*s));
        char(*names)[32] = calloc(20000, 32);
        for (int i = 0; i < 20000; i++) {
            snprintf(name, sizeof(name), "n%d", i); /* 20000 distinct names */
            memcpy(names[i], name, sizeof(name));
            s[i] = mk((uint8_t)(1 + i % 250), (uint32_t)i + 1, 0, now, 1);
            s[i].trace_id[1] = (uint8_t)(i / 250);
            s[i].name = slice_from_cstr(names[i]);
        }
        add_ok(st, s, 20000, now);
        store_expire(st, now + 50 * SEC); /* everything expires */
        struct store_stats ss;
        store_get_stats(st, &ss);
        cr_assert_eq(ss.spans, 0);
        cr_assert_eq(ss.traces, 0);
        bytes[round] = ss.bytes;
        free(s);
        free(names);
    }
    cr_assert_eq(bytes[1], bytes[2], "memory grows across identical rounds: %llu -> %llu",
                 (unsigned long long)bytes[1], (unsigned long long)bytes[2]);
    store_free(st);
}

static void check_resources(const uint8_t id[16], const struct span *sp, size_t n, bool complete,
                            void *arg)
{
    (void)id;
    (void)complete;
    (void)arg;
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        const struct span_attr *a = span_attr_find(&sp[i].resource, SLICE_LIT("service.name"));
        cr_assert_not_null(a);
        /* newest first: sids 4,3,2,1 -> b,a,b,a */
        cr_assert(slice_eq_cstr(a->value.u.str, sid_of(&sp[i]) % 2 ? "a" : "b"));
    }
}

Test(store, shared_and_distinct_resources_are_kept_apart)
{
    struct store *st = new_store(100, 60 * SEC);
    struct span_attr ra[1] = { { SLICE_LIT("service.name"),
                                 { .type = ATTR_STRING, .u.str = SLICE_LIT("a") } } };
    struct span_attr rb[1] = { { SLICE_LIT("service.name"),
                                 { .type = ATTR_STRING, .u.str = SLICE_LIT("b") } } };
    struct span s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = mk(1, (uint32_t)i + 1, 0, T0, 1);
        s[i].resource = (struct span_attrs){ i % 2 ? rb : ra, 1 };
    }
    add_ok(st, s, 4, T0);
    uint8_t ids[1][16];
    tid_of(1, ids[0]);
    store_get_traces(st, (const uint8_t(*)[16])ids, 1, 10, check_resources, NULL);
    store_free(st);
}

/* ---- concurrency: run this suite once under ThreadSanitizer ---- */

struct race {
    struct store *st;
    int id;
    uint64_t scanned;
};

#define RACE_SPANS   20000
#define RACE_WRITERS 3
#define RACE_READERS 3

static bool count_span(const struct span *s, void *arg)
{
    struct race *r = arg;
    /* touch the interned data: a race with eviction would show here */
    if (s->name.len && s->name.ptr[0] == 'G' && s->resource.n == 1)
        r->scanned++;
    return true;
}

static void count_trace(const uint8_t id[16], const struct span *sp, size_t n, bool complete,
                        void *arg)
{
    (void)id;
    (void)complete;
    struct race *r = arg;
    for (size_t i = 0; i < n; i++)
        r->scanned += sp[i].attrs.n;
}

static void *writer(void *arg)
{
    struct race *r = arg;
    struct span_attr res[1] = { { SLICE_LIT("service.name"),
                                  { .type = ATTR_STRING, .u.str = SLICE_LIT("svc") } } };
    struct span_attr at[1] = { { SLICE_LIT("http.route"),
                                 { .type = ATTR_STRING, .u.str = SLICE_LIT("/r") } } };
    struct span batch[100];
    for (int i = 0; i < RACE_SPANS; i += 100) {
        for (int k = 0; k < 100; k++) {
            uint32_t n = (uint32_t)(i + k);
            batch[k] = mk((uint8_t)(1 + r->id), n + 1, n ? n : 0, T0 + i, 1000);
            batch[k].trace_id[1] = (uint8_t)(n / 8);
            batch[k].trace_id[2] = (uint8_t)(n / 2048);
            batch[k].resource = (struct span_attrs){ res, 1 };
            batch[k].attrs = (struct span_attrs){ at, 1 };
        }
        cr_assert_eq(store_add(r->st, batch, 100, T0 + i * (int64_t)MS, NULL, NULL), TA_OK);
    }
    return NULL;
}

static void *reader(void *arg)
{
    struct race *r = arg;
    uint8_t ids[16][16];
    for (int i = 0; i < 16; i++) {
        tid_of((uint8_t)(1 + i % RACE_WRITERS), ids[i]);
        ids[i][1] = (uint8_t)i;
    }
    for (int round = 0; round < 40; round++) {
        store_scan(r->st, T0, T0 + RACE_SPANS, count_span, r);
        store_get_traces(r->st, (const uint8_t(*)[16])ids, 16, 1000, count_trace, r);
        struct store_stats ss;
        store_get_stats(r->st, &ss);
        cr_assert_leq(ss.spans, 5000);
    }
    return NULL;
}

Test(store, concurrent_ingest_scan_and_gather_are_safe)
{
    struct store *st = new_store(5000, 3600 * SEC);
    pthread_t w[RACE_WRITERS], rd[RACE_READERS];
    struct race wr[RACE_WRITERS], rr[RACE_READERS];
    for (int i = 0; i < RACE_READERS; i++) {
        rr[i] = (struct race){ st, i, 0 };
        pthread_create(&rd[i], NULL, reader, &rr[i]);
    }
    for (int i = 0; i < RACE_WRITERS; i++) {
        wr[i] = (struct race){ st, i, 0 };
        pthread_create(&w[i], NULL, writer, &wr[i]);
    }
    for (int i = 0; i < RACE_WRITERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < RACE_READERS; i++)
        pthread_join(rd[i], NULL);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.received, RACE_WRITERS * RACE_SPANS);
    cr_assert_eq(ss.stored, RACE_WRITERS * RACE_SPANS);
    cr_assert_eq(ss.spans, 5000);
    cr_assert_eq(ss.dropped, RACE_WRITERS * RACE_SPANS - 5000);
    struct collected c = { .n = 0 };
    cr_assert_eq(store_scan(st, 0, INT64_MAX, collect, &c), 5000);
    store_free(st);
}
