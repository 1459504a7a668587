/* store_source.c — evaluate/ready of the embedded store: scan, match, accumulate; io_share by
 * whole traces. Keeps no state between calls: any thread, several at once. */
#include "server/store_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "rules/ioshare.h"
#include "rules/metric.h"
#include "rules/traceql.h"

/* ---- a set of trace ids, in first-seen order ------------------------------------------ */

struct idset {
    uint8_t (*ids)[16]; /* distinct ids, first-seen order */
    size_t n, cap;
    uint32_t *slots; /* index + 1 into ids; 0 = empty */
    size_t mask;
};

static uint64_t id_hash(const uint8_t *id)
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

static void idset_rehash(struct idset *s, size_t nslots)
{
    free(s->slots);
    s->slots = ta_xcalloc(nslots, sizeof(*s->slots));
    s->mask = nslots - 1;
    for (size_t i = 0; i < s->n; i++) {
        size_t j = (size_t)id_hash(s->ids[i]) & s->mask;
        while (s->slots[j])
            j = (j + 1) & s->mask;
        s->slots[j] = (uint32_t)(i + 1);
    }
}

static void idset_add(struct idset *s, const uint8_t *id)
{
    if (!s->slots)
        idset_rehash(s, 1024);
    size_t j = (size_t)id_hash(id) & s->mask;
    for (; s->slots[j]; j = (j + 1) & s->mask)
        if (memcmp(s->ids[s->slots[j] - 1], id, 16) == 0)
            return;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->ids = ta_xreallocarray(s->ids, s->cap, sizeof(*s->ids));
    }
    memcpy(s->ids[s->n], id, 16);
    s->n++;
    TA_ASSERT(s->n < UINT32_MAX);
    s->slots[j] = (uint32_t)s->n;
    if (s->n * 2 > s->mask + 1)
        idset_rehash(s, 2 * (s->mask + 1));
}

static void idset_free(struct idset *s)
{
    free(s->ids);
    free(s->slots);
}

/* ---- evaluation ----------------------------------------------------------------------- */

struct eval {
    const struct source_query *q;
    struct metric_acc *acc;
    uint8_t (*raw)[16]; /* trace ids of matching spans, with repeats (filled under the lock) */
    size_t nraw, cap_raw;
    struct idset traces; /* the distinct ones (built after the scan, without the lock) */
    struct ioshare_sum sum;
    uint64_t skipped; /* io_share traces left out: too large or incomplete */
    char first_skip[TA_ERR_MSG_MAX];
};

static bool add_matching(const struct span *s, void *arg)
{
    struct eval *e = arg;
    if (traceql_match(e->q->filter, s))
        metric_acc_add(e->acc, s);
    return true;
}

/* Runs under the store's read lock: only an amortised append, no rehashing. */
static bool collect_trace(const struct span *s, void *arg)
{
    struct eval *e = arg;
    if (!traceql_match(e->q->filter, s))
        return true;
    if (e->nraw && memcmp(e->raw[e->nraw - 1], s->trace_id, 16) == 0)
        return true; /* spans of a trace often arrive together */
    if (e->nraw == e->cap_raw) {
        e->cap_raw = e->cap_raw ? 2 * e->cap_raw : 1024;
        e->raw = ta_xreallocarray(e->raw, e->cap_raw, sizeof(*e->raw));
    }
    memcpy(e->raw[e->nraw++], s->trace_id, 16);
    return true;
}

static void skip_trace(struct eval *e, const char *why)
{
    if (e->skipped++ == 0)
        snprintf(e->first_skip, sizeof(e->first_skip), "%s", why);
}

static void io_trace(const uint8_t id[16], const struct span *spans, size_t n, bool complete,
                     void *arg)
{
    (void)id;
    struct eval *e = arg;
    if (!complete) {
        skip_trace(e, "a trace has more spans than ioshare accepts");
        return;
    }
    struct ta_err err = { 0 };
    if (ioshare_trace(spans, n, e->q->filter, e->q->rule->io, e->q->start_ns, e->q->end_ns, &e->sum,
                      &err) != TA_OK)
        skip_trace(e, err.msg);
}

static enum ta_rc evaluate(void *self, const struct source_query *q, struct metric_raw *out,
                           struct ta_err *err)
{
    struct store *st = self;
    const struct rule *rule = q->rule;
    if (!rule || !q->filter)
        return ta_err_set(err, TA_INVALID, "embedded: query without a rule or filter");
    if (rule->metric == METRIC_IO_SHARE && !rule->io)
        return ta_err_set(err, TA_INVALID, "embedded: io_share rule without an io filter");
    struct eval e;
    memset(&e, 0, sizeof(e));
    e.q = q;
    e.acc = metric_acc_new(rule);
    if (rule->metric == METRIC_IO_SHARE) {
        store_scan(st, q->start_ns, q->end_ns, collect_trace, &e);
        for (size_t i = 0; i < e.nraw; i++)
            idset_add(&e.traces, e.raw[i]);
        free(e.raw);
        e.raw = NULL;
        store_get_traces(st, (const uint8_t(*)[16])e.traces.ids, e.traces.n, IOSHARE_MAX_SPANS + 1,
                         io_trace, &e);
        metric_acc_add_io(e.acc, e.sum.covered_ns, e.sum.total_ns, e.sum.parents);
    } else {
        store_scan(st, q->start_ns, q->end_ns, add_matching, &e);
    }
    metric_acc_finish(e.acc, q->end_ns - q->start_ns, out);
    if (e.skipped) {
        out->partial = true;
        LOG_V(2, "embedded: %s: %llu of %zu traces left out of io_share: %s", rule->name,
              (unsigned long long)e.skipped, e.traces.n, e.first_skip);
    }
    metric_acc_free(e.acc);
    idset_free(&e.traces);
    return TA_OK;
}

static enum ta_rc ready(void *self, struct ta_err *err)
{
    (void)self;
    (void)err;
    return TA_OK;
}

const struct source_ops store_source_ops = {
    .name = "embedded",
    .evaluate = evaluate,
    .ready = ready,
};

struct source store_source_make(struct store *st)
{
    return (struct source){ &store_source_ops, st };
}
