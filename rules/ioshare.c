/* ioshare.c — io_share of one trace: parent→children index, iterative walks, interval union.
 *
 * Called by the embedded store's and the Tempo source's io_share evaluation, once per trace;
 * their sums go into metric_acc_add_io. Spans are untrusted (ids, links and times come from
 * OTLP or Tempo): sizes are bounded, walks use an explicit stack and a per-parent visit stamp
 * (so cycles end), the span-id hash is seeded per call (so crafted ids cannot force long probe
 * chains), and every sum is overflow-checked. Pure: any thread. */
#include "rules/ioshare.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "apis/base/ta_mem.h"

#define NONE UINT32_MAX

struct interval {
    int64_t lo;
    int64_t hi;
};

/* Working memory for one call, indexed by unique span number u (first occurrences only). */
struct index {
    const struct span *spans;
    uint32_t *uspan; /* u -> index in spans */
    uint32_t nu;     /* unique spans */
    uint32_t *off;   /* children of u are child[off[u] .. off[u + 1]) */
    uint32_t *child; /* unique numbers */
    uint32_t *stamp; /* last parent (u + 1) whose walk reached u */
    uint8_t *io;     /* 0 not evaluated yet, 1 not IO, 2 IO */
    uint32_t *stack; /* walk stack */
    struct interval *iv;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t id_hash(const uint8_t id[8], uint64_t seed)
{
    uint64_t v;
    memcpy(&v, id, sizeof(v));
    return mix64(v ^ seed);
}

/* Open-addressing table of unique numbers (+1; 0 is empty) keyed by span id. */
struct idmap {
    uint32_t *slot;
    size_t mask;
    uint64_t seed;
};

/* The unique number of the span with this id, or NONE. */
static uint32_t idmap_find(const struct idmap *m, const struct index *x, const uint8_t id[8])
{
    for (size_t h = id_hash(id, m->seed) & m->mask;; h = (h + 1) & m->mask) {
        uint32_t v = m->slot[h];
        if (v == 0)
            return NONE;
        if (memcmp(x->spans[x->uspan[v - 1]].span_id, id, 8) == 0)
            return v - 1;
    }
}

/* Inserts span i unless its id is already present; returns true when it was new. */
static bool idmap_add(struct idmap *m, struct index *x, uint32_t i)
{
    const uint8_t *id = x->spans[i].span_id;
    for (size_t h = id_hash(id, m->seed) & m->mask;; h = (h + 1) & m->mask) {
        uint32_t v = m->slot[h];
        if (v == 0) {
            x->uspan[x->nu] = i;
            m->slot[h] = ++x->nu;
            return true;
        }
        if (memcmp(x->spans[x->uspan[v - 1]].span_id, id, 8) == 0)
            return false;
    }
}

static int cmp_interval(const void *pa, const void *pb)
{
    const struct interval *a = pa;
    const struct interval *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return (a->hi > b->hi) - (a->hi < b->hi);
}

/* Length of the union of iv[0..n) (sorts iv). */
static int64_t union_length(struct interval *iv, size_t n)
{
    if (n == 0)
        return 0;
    qsort(iv, n, sizeof(*iv), cmp_interval);
    int64_t total = 0;
    int64_t lo = iv[0].lo;
    int64_t hi = iv[0].hi;
    for (size_t i = 1; i < n; i++) {
        if (iv[i].lo > hi) {
            total += hi - lo;
            lo = iv[i].lo;
            hi = iv[i].hi;
        } else if (iv[i].hi > hi) {
            hi = iv[i].hi;
        }
    }
    return total + (hi - lo);
}

static bool is_io(struct index *x, const struct traceql_node *io, uint32_t u)
{
    if (x->io[u] == 0)
        x->io[u] = traceql_match(io, &x->spans[x->uspan[u]]) ? 2 : 1;
    return x->io[u] == 2;
}

/* Builds the unique-span list and the parent→children index. */
static void build_index(struct index *x, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    struct idmap m = { ta_xcalloc(cap, sizeof(uint32_t)), cap - 1, 0 };
    /* Any seed that an attacker cannot predict from the trace alone will do. */
    m.seed = mix64((uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)&m ^ (uint64_t)n);
    for (uint32_t i = 0; i < n; i++)
        idmap_add(&m, x, i);

    uint32_t *par = ta_xmalloc((size_t)x->nu * sizeof(uint32_t));
    x->off = ta_xcalloc((size_t)x->nu + 1, sizeof(uint32_t));
    for (uint32_t u = 0; u < x->nu; u++) {
        const struct span *s = &x->spans[x->uspan[u]];
        par[u] = span_has_parent(s) ? idmap_find(&m, x, s->parent_span_id) : NONE;
        if (par[u] == u)
            par[u] = NONE; /* a span that names itself as parent: no edge */
        if (par[u] != NONE)
            x->off[par[u] + 1]++;
    }
    for (uint32_t u = 0; u < x->nu; u++)
        x->off[u + 1] += x->off[u];
    x->child = ta_xmalloc((size_t)x->nu * sizeof(uint32_t));
    uint32_t *fill = ta_xmalloc((size_t)x->nu * sizeof(uint32_t));
    memcpy(fill, x->off, (size_t)x->nu * sizeof(uint32_t));
    for (uint32_t u = 0; u < x->nu; u++)
        if (par[u] != NONE)
            x->child[fill[par[u]]++] = u;
    free(fill);
    free(par);
    free(m.slot);
}

enum ta_rc ioshare_trace(const struct span *spans, size_t n, const struct traceql_node *parent,
                         const struct traceql_node *io, int64_t start_ns, int64_t end_ns,
                         struct ioshare_sum *sum, struct ta_err *err)
{
    enum ta_rc rc = TA_OK;
    struct index x = { .spans = spans };
    int64_t covered = 0;
    int64_t total = 0;
    uint64_t parents = 0;
    uint64_t visits = 0;

    if (n > IOSHARE_MAX_SPANS)
        return ta_err_set(err, TA_TOO_LARGE, "trace has %zu spans, more than the limit of %d", n,
                          IOSHARE_MAX_SPANS);
    if (n == 0)
        return TA_OK;

    x.uspan = ta_xmalloc(n * sizeof(uint32_t));
    build_index(&x, n);
    x.stamp = ta_xcalloc(x.nu, sizeof(uint32_t));
    x.io = ta_xcalloc(x.nu, sizeof(uint8_t));
    x.stack = ta_xmalloc((size_t)x.nu * sizeof(uint32_t));
    x.iv = ta_xmalloc((size_t)x.nu * sizeof(struct interval));

    for (uint32_t u = 0; u < x.nu; u++) {
        const struct span *p = &spans[x.uspan[u]];
        int64_t dur;
        if (p->start_ns < start_ns || p->start_ns >= end_ns)
            continue;
        if (__builtin_sub_overflow(p->end_ns, p->start_ns, &dur)) {
            rc = ta_err_set(err, TA_INVALID,
                            "trace has a span whose duration does not fit in 64-bit nanoseconds");
            goto out;
        }
        if (dur <= 0 || !traceql_match(parent, p))
            continue;

        size_t sp = 0;
        size_t niv = 0;
        x.stamp[u] = u + 1;
        for (uint32_t c = x.off[u]; c < x.off[u + 1]; c++) {
            x.stamp[x.child[c]] = u + 1;
            x.stack[sp++] = x.child[c];
        }
        while (sp > 0) {
            uint32_t v = x.stack[--sp];
            const struct span *d = &spans[x.uspan[v]];
            if (++visits > IOSHARE_MAX_VISITS) {
                rc = ta_err_set(
                    err, TA_TOO_LARGE,
                    "trace needs more than %d span visits to evaluate io share (deeply nested parent spans)",
                    IOSHARE_MAX_VISITS);
                goto out;
            }
            if (d->kind == SPAN_KIND_SERVER || d->kind == SPAN_KIND_CONSUMER)
                continue;
            if (is_io(&x, io, v)) {
                int64_t lo = d->start_ns > p->start_ns ? d->start_ns : p->start_ns;
                int64_t hi = d->end_ns < p->end_ns ? d->end_ns : p->end_ns;
                if (lo < hi)
                    x.iv[niv++] = (struct interval){ lo, hi };
            }
            for (uint32_t c = x.off[v]; c < x.off[v + 1]; c++) {
                uint32_t w = x.child[c];
                if (x.stamp[w] != u + 1) {
                    x.stamp[w] = u + 1;
                    x.stack[sp++] = w;
                }
            }
        }
        if (__builtin_add_overflow(covered, union_length(x.iv, niv), &covered) ||
            __builtin_add_overflow(total, dur, &total)) {
            rc = ta_err_set(err, TA_TOO_LARGE,
                            "the parent span durations of a trace overflow 64-bit nanoseconds");
            goto out;
        }
        parents++;
    }

    int64_t new_covered;
    int64_t new_total;
    if (__builtin_add_overflow(sum->covered_ns, covered, &new_covered) ||
        __builtin_add_overflow(sum->total_ns, total, &new_total)) {
        rc = ta_err_set(err, TA_TOO_LARGE, "io share sums overflow 64-bit nanoseconds");
        goto out;
    }
    sum->covered_ns = new_covered;
    sum->total_ns = new_total;
    sum->parents += parents;
out:
    free(x.iv);
    free(x.stack);
    free(x.io);
    free(x.stamp);
    free(x.child);
    free(x.off);
    free(x.uspan);
    return rc;
}
