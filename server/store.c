/* store.c — the embedded trace store: a ring of span records, interned strings and attribute
 * sets, and a trace-id index.
 *
 * Every stored span gets the next sequence number; live spans are seqs [head, tail), the
 * record of seq s sits in chunk (s / STORE_CHUNK_SPANS) % nchunks. Eviction always takes head,
 * so when a trace's newest span goes, all its older spans are already gone and its index entry
 * is dropped; chains from the newest span run through older spans by 32-bit seq distances and
 * stop below head. Names and attribute sets are interned with reference counts (id 0 = "" or
 * the empty set, never counted); a record holds one reference to each of its three ids.
 * Locking: see store.h; everything below "guarded by lock" is touched only under it. */
#include "server/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "apis/base/ta_mem.h"

#define MALLOC_OVERHEAD 16 /* bytes of heap bookkeeping counted per allocation */
#define EPOCH_SLACK_NS                                                        \
    (86400 * NS_PER_SEC) /* arrival seconds count from a day before the first \
                          */
#define NO_SLOT ((size_t)-1)

struct rec {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    int64_t start_ns;
    int64_t end_ns;
    uint32_t name;      /* string id */
    uint32_t attrs;     /* set id, span scope */
    uint32_t res;       /* set id, resource scope */
    uint32_t prev;      /* seq distance to the trace's previous (older) span; 0: none */
    uint32_t arrival_s; /* seconds since epoch_ns */
    uint8_t kind;
    uint8_t status;
};
_Static_assert(sizeof(struct rec) == 72, "span record must stay 72 bytes");

/* ---- interned objects ----------------------------------------------------------------- */

struct ihdr {
    uint64_t hash;
    uint32_t refs;
    uint32_t n; /* strings: length; sets: attributes */
};

struct istr {
    struct ihdr h;
    char data[]; /* h.n bytes, no NUL */
};

struct iset {
    struct ihdr h;
    uint32_t *ids;            /* 2n: key string id, value string id (0 unless a string) */
    struct span_attr items[]; /* slices point into interned strings */
};

/* Objects by id plus a linear-probing hash of ids (slot 0 = empty). */
struct ipool {
    struct ihdr **items; /* items[0] unused */
    uint32_t nitems;     /* ids 1 .. nitems-1 handed out at some point */
    uint32_t cap;
    uint32_t *free_ids;
    uint32_t nfree, cap_free;
    uint32_t *slots;
    size_t mask;
    size_t used;
};

struct tentry {
    uint8_t tid[16]; /* all zero: empty slot */
    uint64_t newest; /* seq of the trace's newest live span */
};

struct tindex {
    struct tentry *e;
    size_t mask;
    size_t used;
};

#define TINDEX_MIN 1024
#define IPOOL_MIN  256

struct store {
    pthread_rwlock_t lock;
    uint64_t max_spans; /* immutable */
    uint64_t max_bytes; /* immutable: bound on intern_bytes */
    /* guarded by lock */
    struct rec **chunks;
    size_t nchunks;
    uint64_t head, tail;
    int64_t epoch_ns;
    bool have_epoch;
    struct ipool strs, sets;
    struct tindex traces;
    size_t bytes;        /* records, chunk ring and trace index */
    size_t intern_bytes; /* interned strings and sets with their tables: bounded by max_bytes */
    /* relaxed atomics, any thread */
    _Atomic int64_t retention_ns;
    atomic_bool paused;
    _Atomic uint64_t g_spans, g_traces, g_bytes, g_intern_bytes;
    _Atomic uint64_t received, stored, rejected, dropped, expired, too_old, duplicates;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 1099511628211ull;
    }
    return h;
}

#define FNV_INIT 1469598103934665603ull

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* ---- ipool ---------------------------------------------------------------------------- */

static void ipool_init(struct store *st, struct ipool *p)
{
    p->cap = IPOOL_MIN;
    p->items = ta_xcalloc(p->cap, sizeof(*p->items));
    p->nitems = 1;
    p->free_ids = NULL;
    p->nfree = p->cap_free = 0;
    p->slots = ta_xcalloc(2 * IPOOL_MIN, sizeof(*p->slots));
    p->mask = 2 * IPOOL_MIN - 1;
    p->used = 0;
    st->intern_bytes += p->cap * sizeof(*p->items) + (p->mask + 1) * sizeof(*p->slots);
}

static void ipool_rehash(struct store *st, struct ipool *p, size_t nslots)
{
    st->intern_bytes -= (p->mask + 1) * sizeof(*p->slots);
    free(p->slots);
    p->slots = ta_xcalloc(nslots, sizeof(*p->slots));
    p->mask = nslots - 1;
    st->intern_bytes += nslots * sizeof(*p->slots);
    for (uint32_t id = 1; id < p->nitems; id++) {
        if (!p->items[id])
            continue;
        size_t i = (size_t)p->items[id]->hash & p->mask;
        while (p->slots[i])
            i = (i + 1) & p->mask;
        p->slots[i] = id;
    }
}

/* The id of an object with this hash for which eq(obj, key) holds, or 0. */
static uint32_t ipool_find(const struct ipool *p, uint64_t hash,
                           bool (*eq)(const struct ihdr *, const void *), const void *key)
{
    for (size_t i = (size_t)hash & p->mask;; i = (i + 1) & p->mask) {
        uint32_t id = p->slots[i];
        if (!id)
            return 0;
        if (p->items[id]->hash == hash && eq(p->items[id], key))
            return id;
    }
}

static uint32_t ipool_insert(struct store *st, struct ipool *p, struct ihdr *obj)
{
    if ((p->used + 1) * 10 > (p->mask + 1) * 7)
        ipool_rehash(st, p, 2 * (p->mask + 1));
    uint32_t id;
    if (p->nfree) {
        id = p->free_ids[--p->nfree];
    } else {
        if (p->nitems == p->cap) {
            st->intern_bytes -= p->cap * sizeof(*p->items);
            p->cap *= 2;
            p->items = ta_xreallocarray(p->items, p->cap, sizeof(*p->items));
            st->intern_bytes += p->cap * sizeof(*p->items);
        }
        id = p->nitems++;
    }
    p->items[id] = obj;
    size_t i = (size_t)obj->hash & p->mask;
    while (p->slots[i])
        i = (i + 1) & p->mask;
    p->slots[i] = id;
    p->used++;
    return id;
}

/* Takes id out of the hash (backward-shift deletion) and recycles it; the caller frees the
 * object. */
static void ipool_remove(struct store *st, struct ipool *p, uint32_t id)
{
    size_t i = (size_t)p->items[id]->hash & p->mask;
    while (p->slots[i] != id)
        i = (i + 1) & p->mask;
    for (size_t j = i;;) {
        j = (j + 1) & p->mask;
        uint32_t other = p->slots[j];
        if (!other)
            break;
        size_t k = (size_t)p->items[other]->hash & p->mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        p->slots[i] = other;
        i = j;
    }
    p->slots[i] = 0;
    p->items[id] = NULL;
    p->used--;
    if (p->nfree == p->cap_free) {
        st->intern_bytes -= p->cap_free * sizeof(*p->free_ids);
        p->cap_free = p->cap_free ? 2 * p->cap_free : 64;
        p->free_ids = ta_xreallocarray(p->free_ids, p->cap_free, sizeof(*p->free_ids));
        st->intern_bytes += p->cap_free * sizeof(*p->free_ids);
    }
    p->free_ids[p->nfree++] = id;
    if (p->mask + 1 > 2 * IPOOL_MIN && p->used * 8 < p->mask + 1)
        ipool_rehash(st, p, (p->mask + 1) / 2);
}

/* ---- strings -------------------------------------------------------------------------- */

static bool str_eq(const struct ihdr *h, const void *key)
{
    const struct slice *s = key;
    const struct istr *x = (const struct istr *)h;
    return x->h.n == s->len && memcmp(x->data, s->ptr, s->len) == 0;
}

static struct slice str_get(const struct store *st, uint32_t id)
{
    if (!id)
        return SLICE_LIT("");
    const struct istr *x = (const struct istr *)st->strs.items[id];
    return slice_make(x->data, x->h.n);
}

/* A reference to the interned copy of s (id 0 for ""). */
static uint32_t str_intern(struct store *st, struct slice s)
{
    if (s.len == 0)
        return 0;
    uint64_t h = fnv(FNV_INIT, s.ptr, s.len);
    uint32_t id = ipool_find(&st->strs, h, str_eq, &s);
    if (id) {
        st->strs.items[id]->refs++;
        return id;
    }
    TA_ASSERT(s.len <= UINT32_MAX);
    struct istr *x = ta_xmalloc(sizeof(*x) + s.len);
    x->h.hash = h;
    x->h.refs = 1;
    x->h.n = (uint32_t)s.len;
    memcpy(x->data, s.ptr, s.len);
    st->intern_bytes += sizeof(*x) + s.len + MALLOC_OVERHEAD;
    return ipool_insert(st, &st->strs, &x->h);
}

static void str_unref(struct store *st, uint32_t id)
{
    if (!id)
        return;
    struct ihdr *h = st->strs.items[id];
    if (--h->refs)
        return;
    ipool_remove(st, &st->strs, id);
    st->intern_bytes -= sizeof(struct istr) + h->n + MALLOC_OVERHEAD;
    free(h);
}

/* ---- attribute sets ------------------------------------------------------------------- */

static uint64_t attrs_hash(const struct span_attrs *a)
{
    uint64_t h = FNV_INIT;
    for (uint32_t i = 0; i < a->n; i++) {
        const struct span_attr *x = &a->items[i];
        uint64_t len = x->key.len;
        h = fnv(h, &len, sizeof(len));
        h = fnv(h, x->key.ptr, x->key.len);
        unsigned char t = (unsigned char)x->value.type;
        h = fnv(h, &t, 1);
        switch (x->value.type) {
        case ATTR_STRING:
            len = x->value.u.str.len;
            h = fnv(h, &len, sizeof(len));
            h = fnv(h, x->value.u.str.ptr, x->value.u.str.len);
            break;
        case ATTR_INT:
            h = fnv(h, &x->value.u.i, sizeof(x->value.u.i));
            break;
        case ATTR_DOUBLE:
            h = fnv(h, &x->value.u.d, sizeof(x->value.u.d));
            break;
        case ATTR_BOOL: {
            unsigned char b = x->value.u.b;
            h = fnv(h, &b, 1);
            break;
        }
        }
    }
    return h;
}

static bool value_eq(const struct attr_value *a, const struct attr_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case ATTR_STRING:
        return slice_eq(a->u.str, b->u.str);
    case ATTR_INT:
        return a->u.i == b->u.i;
    case ATTR_DOUBLE:
        return memcmp(&a->u.d, &b->u.d, sizeof(a->u.d)) == 0; /* bits: NaN equals itself */
    case ATTR_BOOL:
        return a->u.b == b->u.b;
    }
    return false;
}

static bool set_eq(const struct ihdr *h, const void *key)
{
    const struct span_attrs *a = key;
    const struct iset *s = (const struct iset *)h;
    if (s->h.n != a->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (!slice_eq(s->items[i].key, a->items[i].key) ||
            !value_eq(&s->items[i].value, &a->items[i].value))
            return false;
    return true;
}

static size_t set_size(uint32_t n)
{
    return sizeof(struct iset) + n * (sizeof(struct span_attr) + 2 * sizeof(uint32_t));
}

static uint32_t set_intern(struct store *st, const struct span_attrs *a)
{
    if (a->n == 0)
        return 0;
    uint64_t h = attrs_hash(a);
    uint32_t id = ipool_find(&st->sets, h, set_eq, a);
    if (id) {
        st->sets.items[id]->refs++;
        return id;
    }
    struct iset *s = ta_xmalloc(set_size(a->n));
    s->h.hash = h;
    s->h.refs = 1;
    s->h.n = a->n;
    s->ids = (uint32_t *)(void *)&s->items[a->n];
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t k = str_intern(st, a->items[i].key);
        s->ids[2 * i] = k;
        s->items[i].key = str_get(st, k);
        s->items[i].value = a->items[i].value;
        s->ids[2 * i + 1] = 0;
        if (a->items[i].value.type == ATTR_STRING) {
            uint32_t v = str_intern(st, a->items[i].value.u.str);
            s->ids[2 * i + 1] = v;
            s->items[i].value.u.str = str_get(st, v);
        }
    }
    st->intern_bytes += set_size(a->n) + MALLOC_OVERHEAD;
    return ipool_insert(st, &st->sets, &s->h);
}

static void set_unref(struct store *st, uint32_t id)
{
    if (!id)
        return;
    struct iset *s = (struct iset *)st->sets.items[id];
    if (--s->h.refs)
        return;
    ipool_remove(st, &st->sets, id);
    for (uint32_t i = 0; i < 2 * s->h.n; i++)
        str_unref(st, s->ids[i]);
    st->intern_bytes -= set_size(s->h.n) + MALLOC_OVERHEAD;
    free(s);
}

static struct span_attrs set_get(const struct store *st, uint32_t id)
{
    if (!id)
        return (struct span_attrs){ NULL, 0 };
    const struct iset *s = (const struct iset *)st->sets.items[id];
    return (struct span_attrs){ s->items, s->h.n };
}

static void ipool_free(struct ipool *p)
{
    for (uint32_t id = 1; id < p->nitems; id++)
        free(p->items[id]);
    free(p->items);
    free(p->free_ids);
    free(p->slots);
}

/* ---- trace index ---------------------------------------------------------------------- */

static uint64_t tid_hash(const uint8_t *tid)
{
    uint64_t a, b;
    memcpy(&a, tid, 8);
    memcpy(&b, tid + 8, 8);
    return mix64(a ^ mix64(b));
}

static bool tid_zero(const uint8_t *tid)
{
    uint64_t a, b;
    memcpy(&a, tid, 8);
    memcpy(&b, tid + 8, 8);
    return (a | b) == 0;
}

static void tindex_alloc(struct store *st, size_t n)
{
    st->traces.e = ta_xcalloc(n, sizeof(*st->traces.e));
    st->traces.mask = n - 1;
    st->bytes += n * sizeof(*st->traces.e);
}

static void tindex_rehash(struct store *st, size_t n)
{
    struct tentry *old = st->traces.e;
    size_t oldn = st->traces.mask + 1;
    tindex_alloc(st, n);
    for (size_t i = 0; i < oldn; i++) {
        if (tid_zero(old[i].tid))
            continue;
        size_t j = (size_t)tid_hash(old[i].tid) & st->traces.mask;
        while (!tid_zero(st->traces.e[j].tid))
            j = (j + 1) & st->traces.mask;
        st->traces.e[j] = old[i];
    }
    free(old);
    st->bytes -= oldn * sizeof(*old);
}

static size_t tindex_find(const struct tindex *t, const uint8_t *tid)
{
    for (size_t i = (size_t)tid_hash(tid) & t->mask;; i = (i + 1) & t->mask) {
        if (tid_zero(t->e[i].tid))
            return NO_SLOT;
        if (memcmp(t->e[i].tid, tid, 16) == 0)
            return i;
    }
}

/* Adds tid (not present) and returns its slot. */
static size_t tindex_insert(struct store *st, const uint8_t *tid)
{
    struct tindex *t = &st->traces;
    if ((t->used + 1) * 10 > (t->mask + 1) * 7)
        tindex_rehash(st, 2 * (t->mask + 1));
    size_t i = (size_t)tid_hash(tid) & t->mask;
    while (!tid_zero(t->e[i].tid))
        i = (i + 1) & t->mask;
    memcpy(t->e[i].tid, tid, 16);
    t->used++;
    return i;
}

static void tindex_remove(struct store *st, size_t i)
{
    struct tindex *t = &st->traces;
    for (size_t j = i;;) {
        j = (j + 1) & t->mask;
        if (tid_zero(t->e[j].tid))
            break;
        size_t k = (size_t)tid_hash(t->e[j].tid) & t->mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        t->e[i] = t->e[j];
        i = j;
    }
    memset(&t->e[i], 0, sizeof(t->e[i]));
    t->used--;
    if (t->mask + 1 > TINDEX_MIN && t->used * 8 < t->mask + 1)
        tindex_rehash(st, (t->mask + 1) / 2);
}

/* ---- records -------------------------------------------------------------------------- */

static struct rec *rec_at(const struct store *st, uint64_t seq)
{
    return &st->chunks[(seq / STORE_CHUNK_SPANS) % st->nchunks][seq % STORE_CHUNK_SPANS];
}

static void rec_view(const struct store *st, const struct rec *r, struct span *s)
{
    memcpy(s->trace_id, r->trace_id, 16);
    memcpy(s->span_id, r->span_id, 8);
    memcpy(s->parent_span_id, r->parent_id, 8);
    s->start_ns = r->start_ns;
    s->end_ns = r->end_ns;
    s->kind = (enum span_kind)r->kind;
    s->status = (enum span_status)r->status;
    s->name = str_get(st, r->name);
    s->attrs = set_get(st, r->attrs);
    s->resource = set_get(st, r->res);
}

static void evict_head(struct store *st)
{
    uint64_t seq = st->head;
    struct rec *r = rec_at(st, seq);
    str_unref(st, r->name);
    set_unref(st, r->attrs);
    set_unref(st, r->res);
    size_t slot = tindex_find(&st->traces, r->trace_id);
    if (slot != NO_SLOT && st->traces.e[slot].newest == seq)
        tindex_remove(st, slot); /* its older spans went before it */
    st->head++;
    if (st->head % STORE_CHUNK_SPANS == 0) {
        size_t ci = (seq / STORE_CHUNK_SPANS) % st->nchunks;
        free(st->chunks[ci]);
        st->chunks[ci] = NULL;
        st->bytes -= sizeof(struct rec) * STORE_CHUNK_SPANS + MALLOC_OVERHEAD;
    }
}

static uint64_t expire_locked(struct store *st, int64_t now_ns, int64_t retention_ns)
{
    if (!st->have_epoch || retention_ns <= 0)
        return 0;
    int64_t rel = now_ns - st->epoch_ns;
    if (rel <= retention_ns)
        return 0;
    uint64_t cutoff_s = (uint64_t)((rel - retention_ns) / NS_PER_SEC);
    uint64_t n = 0;
    while (st->head < st->tail && rec_at(st, st->head)->arrival_s < cutoff_s) {
        evict_head(st);
        n++;
    }
    return n;
}

static void publish_gauges(struct store *st)
{
    atomic_store_explicit(&st->g_spans, st->tail - st->head, memory_order_relaxed);
    atomic_store_explicit(&st->g_traces, st->traces.used, memory_order_relaxed);
    atomic_store_explicit(&st->g_bytes, st->bytes + st->intern_bytes, memory_order_relaxed);
    atomic_store_explicit(&st->g_intern_bytes, st->intern_bytes, memory_order_relaxed);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- public --------------------------------------------------------------------------- */

enum ta_rc store_new(const struct store_config *cfg, struct store **out, struct ta_err *err)
{
    *out = NULL;
    if (cfg->max_spans < 1 || cfg->max_spans > STORE_MAX_SPANS_LIMIT)
        return ta_err_set(err, TA_INVALID, "max_spans %llu is out of range [1, %u]",
                          (unsigned long long)cfg->max_spans, STORE_MAX_SPANS_LIMIT);
    if (cfg->retention_ns <= 0)
        return ta_err_set(err, TA_INVALID, "retention must be positive");
    struct store *st = ta_xcalloc(1, sizeof(*st));
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* writers first: a stream of chunked scans must not starve ingest */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    if (pthread_rwlock_init(&st->lock, &attr) != 0) {
        pthread_rwlockattr_destroy(&attr);
        free(st);
        return ta_err_set(err, TA_INTERNAL, "pthread_rwlock_init failed");
    }
    pthread_rwlockattr_destroy(&attr);
    st->max_spans = cfg->max_spans;
    st->max_bytes = cfg->max_bytes;
    if (!st->max_bytes) {
        st->max_bytes = cfg->max_spans * (uint64_t)STORE_DEFAULT_BYTES_PER_SPAN;
        if (st->max_bytes < STORE_MIN_DEFAULT_BYTES)
            st->max_bytes = STORE_MIN_DEFAULT_BYTES;
    }
    st->nchunks = (size_t)((cfg->max_spans + STORE_CHUNK_SPANS - 1) / STORE_CHUNK_SPANS) + 1;
    st->chunks = ta_xcalloc(st->nchunks, sizeof(*st->chunks));
    st->bytes = sizeof(*st) + st->nchunks * sizeof(*st->chunks);
    ipool_init(st, &st->strs);
    ipool_init(st, &st->sets);
    tindex_alloc(st, TINDEX_MIN);
    atomic_init(&st->retention_ns, cfg->retention_ns);
    atomic_init(&st->paused, false);
    publish_gauges(st);
    *out = st;
    return TA_OK;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nchunks; i++)
        free(st->chunks[i]);
    free(st->chunks);
    ipool_free(&st->sets);
    ipool_free(&st->strs);
    free(st->traces.e);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

void store_set_retention(struct store *st, int64_t retention_ns)
{
    if (retention_ns > 0)
        atomic_store_explicit(&st->retention_ns, retention_ns, memory_order_relaxed);
}

int64_t store_retention(const struct store *st)
{
    return atomic_load_explicit(&((struct store *)st)->retention_ns, memory_order_relaxed);
}

void store_set_paused(struct store *st, bool paused)
{
    atomic_store_explicit(&st->paused, paused, memory_order_relaxed);
}

void store_count_rejected(struct store *st, uint64_t n)
{
    count(&st->received, n);
    count(&st->rejected, n);
}

void store_expire(struct store *st, int64_t now_ns)
{
    int64_t retention = store_retention(st);
    pthread_rwlock_wrlock(&st->lock);
    uint64_t n = expire_locked(st, now_ns, retention);
    publish_gauges(st);
    pthread_rwlock_unlock(&st->lock);
    count(&st->expired, n);
}

static bool is_duplicate(const struct store *st, uint64_t newest, const uint8_t *span_id)
{
    uint64_t cur = newest;
    for (int i = 0; i < STORE_DEDUP_WINDOW && cur >= st->head; i++) {
        const struct rec *r = rec_at(st, cur);
        if (memcmp(r->span_id, span_id, 8) == 0)
            return true;
        if (!r->prev || r->prev > cur)
            break;
        cur -= r->prev;
    }
    return false;
}

/* The resource set of the previous span, kept while consecutive spans share it (the decoder
 * gives the spans of one ResourceSpans the same items pointer). Holds one reference. */
struct res_cache {
    const struct span_attr *items;
    uint32_t n;
    uint32_t id;
    bool valid;
};

static uint32_t resource_id(struct store *st, struct res_cache *c, const struct span_attrs *a)
{
    if (!c->valid || c->items != a->items || c->n != a->n) {
        if (c->valid)
            set_unref(st, c->id);
        c->id = set_intern(st, a);
        c->items = a->items;
        c->n = a->n;
        c->valid = true;
    }
    if (c->id)
        st->sets.items[c->id]->refs++;
    return c->id;
}

static uint32_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

enum ta_rc store_add(struct store *st, const struct span *spans, size_t n, int64_t now_ns,
                     struct store_add_result *res, struct ta_err *err)
{
    if (res)
        memset(res, 0, sizeof(*res));
    if (n == 0)
        return TA_OK;
    if (atomic_load_explicit(&st->paused, memory_order_relaxed)) {
        store_count_rejected(st, n);
        return ta_err_set(err, TA_UNAVAILABLE, "the embedded store is not accepting spans");
    }
    if (n > st->max_spans) {
        store_count_rejected(st, n);
        return ta_err_set(err, TA_TOO_LARGE,
                          "request has %zu spans, more than the store holds (%llu)", n,
                          (unsigned long long)st->max_spans);
    }
    count(&st->received, n);
    int64_t retention = store_retention(st);
    int64_t oldest_start = now_ns - retention; /* retention > 0, now a real time: no overflow */
    uint64_t n_stored = 0, n_bad = 0, n_old = 0, n_dup = 0, n_drop = 0, n_exp = 0;
    for (size_t done = 0; done < n;) {
        size_t end = n - done > STORE_INGEST_CHUNK ? done + STORE_INGEST_CHUNK : n;
        struct res_cache rc = { 0 };
        pthread_rwlock_wrlock(&st->lock);
        if (!st->have_epoch) {
            st->epoch_ns = now_ns - EPOCH_SLACK_NS;
            st->have_epoch = true;
        }
        uint32_t arrival_s = clamp_u32((now_ns - st->epoch_ns) / NS_PER_SEC);
        n_exp += expire_locked(st, now_ns, retention);
        for (size_t i = done; i < end; i++) {
            const struct span *s = &spans[i];
            if (tid_zero(s->trace_id) || s->end_ns < s->start_ns) {
                n_bad++;
                continue;
            }
            if (s->start_ns < oldest_start) {
                n_old++;
                continue;
            }
            size_t slot = tindex_find(&st->traces, s->trace_id);
            if (slot != NO_SLOT && is_duplicate(st, st->traces.e[slot].newest, s->span_id)) {
                n_dup++;
                continue;
            }
            if (st->tail - st->head >= st->max_spans) {
                evict_head(st);
                n_drop++;
                slot = tindex_find(&st->traces, s->trace_id); /* slots may have moved */
            }
            uint64_t seq = st->tail;
            size_t ci = (seq / STORE_CHUNK_SPANS) % st->nchunks;
            if (!st->chunks[ci]) {
                st->chunks[ci] = ta_xmalloc(sizeof(struct rec) * STORE_CHUNK_SPANS);
                st->bytes += sizeof(struct rec) * STORE_CHUNK_SPANS + MALLOC_OVERHEAD;
            }
            struct rec *r = &st->chunks[ci][seq % STORE_CHUNK_SPANS];
            memcpy(r->trace_id, s->trace_id, 16);
            memcpy(r->span_id, s->span_id, 8);
            memcpy(r->parent_id, s->parent_span_id, 8);
            r->start_ns = s->start_ns;
            r->end_ns = s->end_ns;
            r->kind = (uint8_t)s->kind;
            r->status = (uint8_t)s->status;
            r->arrival_s = arrival_s;
            r->name = str_intern(st, s->name);
            r->attrs = set_intern(st, &s->attrs);
            r->res = resource_id(st, &rc, &s->resource);
            if (slot == NO_SLOT) {
                slot = tindex_insert(st, s->trace_id);
                r->prev = 0;
            } else {
                uint64_t d = seq - st->traces.e[slot].newest;
                r->prev = d > UINT32_MAX ? 0 : (uint32_t)d;
            }
            st->traces.e[slot].newest = seq;
            st->tail++;
            n_stored++;
            while (st->intern_bytes > st->max_bytes && st->tail - st->head > 1) {
                evict_head(st);
                n_drop++;
            }
        }
        if (rc.valid)
            set_unref(st, rc.id);
        publish_gauges(st);
        pthread_rwlock_unlock(&st->lock);
        done = end;
    }
    count(&st->stored, n_stored);
    count(&st->rejected, n_bad);
    count(&st->too_old, n_old);
    count(&st->duplicates, n_dup);
    count(&st->dropped, n_drop);
    count(&st->expired, n_exp);
    if (res) {
        res->stored = (size_t)n_stored;
        res->too_old = (size_t)n_old;
        res->duplicates = (size_t)n_dup;
        res->invalid = (size_t)n_bad;
    }
    return TA_OK;
}

uint64_t store_scan(struct store *st, int64_t start_ns, int64_t end_ns, store_span_fn fn, void *arg)
{
    pthread_rwlock_rdlock(&st->lock);
    uint64_t seq = st->head, stop = st->tail;
    pthread_rwlock_unlock(&st->lock);
    uint64_t passed = 0;
    struct span s;
    while (seq < stop) {
        pthread_rwlock_rdlock(&st->lock);
        if (seq < st->head)
            seq = st->head; /* evicted meanwhile */
        if (seq >= stop) {
            pthread_rwlock_unlock(&st->lock);
            break;
        }
        uint64_t lim = stop - seq > STORE_SCAN_CHUNK ? seq + STORE_SCAN_CHUNK : stop;
        while (seq < lim) {
            /* walk one chunk of records with a plain pointer */
            const struct rec *r = rec_at(st, seq);
            uint64_t in_chunk = STORE_CHUNK_SPANS - seq % STORE_CHUNK_SPANS;
            uint64_t m = lim - seq < in_chunk ? lim - seq : in_chunk;
            for (uint64_t k = 0; k < m; k++, r++) {
                if (r->start_ns < start_ns || r->start_ns >= end_ns)
                    continue;
                rec_view(st, r, &s);
                passed++;
                if (!fn(&s, arg)) {
                    pthread_rwlock_unlock(&st->lock);
                    return passed;
                }
            }
            seq += m;
        }
        pthread_rwlock_unlock(&st->lock);
    }
    return passed;
}

void store_get_traces(struct store *st, const uint8_t (*ids)[16], size_t n, size_t max_per_trace,
                      store_trace_fn fn, void *arg)
{
    struct span *spans = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n;) {
        size_t lim = n - i > STORE_TRACE_CHUNK ? i + STORE_TRACE_CHUNK : n;
        pthread_rwlock_rdlock(&st->lock);
        for (; i < lim; i++) {
            size_t cnt = 0;
            bool complete = true;
            size_t slot = tid_zero(ids[i]) ? NO_SLOT : tindex_find(&st->traces, ids[i]);
            if (slot != NO_SLOT) {
                uint64_t cur = st->traces.e[slot].newest;
                while (cur >= st->head) {
                    if (cnt == max_per_trace) {
                        complete = false;
                        break;
                    }
                    if (cnt == cap) {
                        cap = cap ? 2 * cap : 64;
                        spans = ta_xreallocarray(spans, cap, sizeof(*spans));
                    }
                    const struct rec *r = rec_at(st, cur);
                    rec_view(st, r, &spans[cnt++]);
                    if (!r->prev || r->prev > cur)
                        break;
                    cur -= r->prev;
                }
            }
            fn(ids[i], spans, cnt, complete, arg);
        }
        pthread_rwlock_unlock(&st->lock);
    }
    free(spans);
}

void store_get_stats(const struct store *cst, struct store_stats *out)
{
    struct store *st = (struct store *)cst; /* atomics only: loads do not modify */
    out->spans = atomic_load_explicit(&st->g_spans, memory_order_relaxed);
    out->traces = atomic_load_explicit(&st->g_traces, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&st->g_bytes, memory_order_relaxed);
    out->intern_bytes = atomic_load_explicit(&st->g_intern_bytes, memory_order_relaxed);
    out->received = atomic_load_explicit(&st->received, memory_order_relaxed);
    out->stored = atomic_load_explicit(&st->stored, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&st->rejected, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&st->dropped, memory_order_relaxed);
    out->expired = atomic_load_explicit(&st->expired, memory_order_relaxed);
    out->too_old = atomic_load_explicit(&st->too_old, memory_order_relaxed);
    out->duplicates = atomic_load_explicit(&st->duplicates, memory_order_relaxed);
}
