/* otlp_decode.c — OTLP trace requests (protobuf, JSON) to span views, for the embedded store
 * (ingest) and for traces read back from Tempo (struct otlp_decode_opts.stored).
 *
 * Both decoders fill one struct dec: accepted spans, blocks of kept attributes (each span's
 * and resource's attributes are contiguous and never move), and the rejection count. The
 * protobuf path walks the body with pbwire and never descends into values it drops; the JSON
 * path reads a jansson tree (otlp_decode_json pre-scans nesting first). Locations for
 * messages are formatted only when a message is written. Pure: any thread. */
#include "server/otlp_decode.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "server/pbwire.h"

#define LOC_MAX 192 /* a location in a message: "resourceSpans[0].scopeSpans[0].spans[9]…" */

/* ---- keep set ------------------------------------------------------------------------ */

#define KEEP_SPAN     1u
#define KEEP_RESOURCE 2u

struct keep_entry {
    char *key; /* NULL: empty slot */
    size_t len;
    unsigned scopes;
};

struct otlp_keep {
    struct keep_entry *slots;
    size_t mask; /* slots - 1; a power of two at least twice the keys */
};

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct keep_entry *keep_slot(const struct otlp_keep *k, struct slice key)
{
    size_t i = (size_t)hash_bytes(key.ptr, key.len) & k->mask;
    for (;;) {
        struct keep_entry *e = &k->slots[i];
        if (!e->key || (e->len == key.len && memcmp(e->key, key.ptr, key.len) == 0))
            return e;
        i = (i + 1) & k->mask;
    }
}

static void keep_add(struct otlp_keep *k, const char *key, unsigned scope)
{
    struct slice s = slice_from_cstr(key);
    struct keep_entry *e = keep_slot(k, s);
    if (!e->key) {
        e->key = ta_xstrndup(s.ptr, s.len);
        e->len = s.len;
    }
    e->scopes |= scope;
}

struct otlp_keep *otlp_keep_new(const char *const *span_keys, size_t nspan,
                                const char *const *resource_keys, size_t nresource)
{
    struct otlp_keep *k = ta_xcalloc(1, sizeof(*k));
    size_t want = 2 * (nspan + nresource + 1), n = 8;
    while (n < want)
        n *= 2;
    k->slots = ta_xcalloc(n, sizeof(*k->slots));
    k->mask = n - 1;
    for (size_t i = 0; i < nspan; i++)
        keep_add(k, span_keys[i], KEEP_SPAN);
    for (size_t i = 0; i < nresource; i++)
        keep_add(k, resource_keys[i], KEEP_RESOURCE);
    keep_add(k, "service.name", KEEP_RESOURCE);
    return k;
}

struct otlp_keep *otlp_keep_from_rules(const struct rules *r)
{
    return otlp_keep_new((const char *const *)r->span_keys, r->nspan_keys,
                         (const char *const *)r->resource_keys, r->nresource_keys);
}

void otlp_keep_free(struct otlp_keep *k)
{
    if (!k)
        return;
    for (size_t i = 0; i <= k->mask; i++)
        free(k->slots[i].key);
    free(k->slots);
    free(k);
}

static bool keep_has(const struct otlp_keep *k, struct slice key, unsigned scope)
{
    if (key.len == 0 || key.len > OTLP_MAX_STRING)
        return false;
    if (!k)
        return true;
    const struct keep_entry *e = keep_slot(k, key);
    return e->key && (e->scopes & scope);
}

/* ---- shared decoding state ----------------------------------------------------------- */

/* Kept attributes live in blocks that never move, so the attributes of a span or resource are
 * pointed at as soon as they are complete. One run (the attributes of the span or resource
 * being decoded) is open at a time, at the top of the newest block; a run that outgrows its
 * block moves to a new one. Blocks stay well under malloc's mmap threshold, so a decoder that
 * runs again reuses the memory of the last batch freed. */
#define ARENA_BLOCK 1024 /* attributes per block (40 KiB) */

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    struct span_attr items[];
};

struct otlp_batch_mem {
    struct arena_block *blocks; /* kept attributes of every span and resource; newest first */
    json_t *json;               /* JSON decoding: the tree the string slices borrow from */
};

struct dec {
    const struct otlp_keep *keep;
    struct otlp_batch *b;
    struct otlp_batch_mem *m;
    size_t cap_spans;
    size_t run;       /* attributes in the open run */
    uint64_t seen;    /* spans met, accepted or rejected */
    size_t max_spans; /* opts, defaults applied */
    size_t max_attrs;
    bool stored;
    enum ta_rc rc; /* stored: TA_INVALID once a span failed (its message is in err) */
    struct ta_err *err;
};

static void dec_init(struct dec *d, const struct otlp_decode_opts *opts,
                     const struct otlp_keep *keep, struct ta_err *err)
{
    d->keep = keep;
    d->b = ta_xcalloc(1, sizeof(*d->b));
    d->m = ta_xcalloc(1, sizeof(*d->m));
    d->b->mem = d->m;
    d->cap_spans = 0;
    d->run = 0;
    d->seen = 0;
    d->max_spans = opts && opts->max_spans ? opts->max_spans : OTLP_MAX_SPANS_PER_REQUEST;
    d->max_attrs = opts && opts->max_attrs ? opts->max_attrs : OTLP_MAX_ATTRS_PER_SPAN;
    d->stored = opts && opts->stored;
    d->rc = TA_OK;
    d->err = err;
}

void otlp_batch_free(struct otlp_batch *b)
{
    if (!b)
        return;
    /* the tree's many small objects go first: freeing the large arrays after them lets
     * malloc consolidate here rather than in the next decode */
    if (b->mem && b->mem->json)
        json_decref(b->mem->json);
    if (b->mem) {
        struct arena_block *blk = b->mem->blocks;
        while (blk) {
            struct arena_block *next = blk->next;
            free(blk);
            blk = next;
        }
        free(b->mem);
    }
    free(b->spans);
    free(b);
}

/* Counts one more span against the request limit. */
static enum ta_rc dec_count_span(struct dec *d)
{
    if (++d->seen > d->max_spans)
        return ta_err_set(d->err, TA_TOO_LARGE, "request has more than %zu spans", d->max_spans);
    return TA_OK;
}

/* Stored mode: more than max_attrs attribute entries at loc fail the decode. */
static enum ta_rc dec_too_many_attrs(struct dec *d, const char *loc)
{
    return ta_err_set(d->err, TA_INVALID, "%s.attributes: more than %zu attributes", loc,
                      d->max_attrs);
}

/* Appends to the open run. */
static void dec_push_attr(struct dec *d, struct slice key, const struct attr_value *v)
{
    struct arena_block *blk = d->m->blocks;
    if (!blk || blk->used == blk->cap) {
        /* the run already fits in memory: twice its size cannot overflow */
        size_t cap = d->run < ARENA_BLOCK / 2 ? ARENA_BLOCK : 2 * (d->run + 1);
        struct arena_block *nb = ta_xmalloc(sizeof(*nb) + cap * sizeof(nb->items[0]));
        nb->next = blk;
        nb->cap = cap;
        nb->used = d->run;
        if (d->run) {
            blk->used -= d->run;
            memcpy(nb->items, blk->items + blk->used, d->run * sizeof(nb->items[0]));
        }
        d->m->blocks = blk = nb;
    }
    blk->items[blk->used].key = key;
    blk->items[blk->used].value = *v;
    blk->used++;
    d->run++;
}

/* Closes the open run and returns its attributes (none: NULL, 0). */
static struct span_attrs dec_attrs_take(struct dec *d)
{
    struct span_attrs a = { NULL, 0 };
    if (d->run) {
        a.items = d->m->blocks->items + d->m->blocks->used - d->run;
        a.n = (uint32_t)d->run;
    }
    d->run = 0;
    return a;
}

/* Drops the open run (the attributes of a rejected span). */
static void dec_attrs_drop(struct dec *d)
{
    if (d->run)
        d->m->blocks->used -= d->run;
    d->run = 0;
}

/* Appends an accepted span, its attributes and resource already set. */
static void dec_push_span(struct dec *d, const struct span *s)
{
    struct otlp_batch *b = d->b;
    if (b->n == d->cap_spans) {
        d->cap_spans = d->cap_spans ? 2 * d->cap_spans : 64;
        b->spans = ta_xreallocarray(b->spans, d->cap_spans, sizeof(*b->spans));
    }
    b->spans[b->n++] = *s;
}

/* Formats a location ("resourceSpans[0].scopeSpans[1]") for messages; truncation is fine. */
static void locf(char *dst, size_t cap, const char *fmt, ...) TA_PRINTF(3, 4);
static void locf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(dst, cap, fmt, ap) < 0)
        dst[0] = '\0';
    va_end(ap);
}

/* Where a span is: "<scope>.spans[<k>]". Formatted only when a message needs it, since
 * printf for every span would cost as much as decoding it. */
struct span_loc {
    const char *scope; /* "resource_spans[0].scope_spans[1]" or "resourceSpans[0].scopeSpans[1]" */
    size_t k;
};

static void span_loc_fmt(const struct span_loc *at, char *dst, size_t cap)
{
    locf(dst, cap, "%s.spans[%zu]", at->scope, at->k);
}

/* Counts a rejected span; the first reason is kept with its location. Stored mode: fails the
 * decode instead (d->rc, the message in err). */
static void dec_reject(struct dec *d, const struct span_loc *at, const char *fmt, ...)
    TA_PRINTF(3, 4);
static void dec_reject(struct dec *d, const struct span_loc *at, const char *fmt, ...)
{
    if (d->stored ? d->rc != TA_OK : d->b->rejected++ > 0)
        return;
    char why[TA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (n < 0)
        why[0] = '\0';
    char loc[LOC_MAX];
    span_loc_fmt(at, loc, sizeof(loc));
    if (d->stored) {
        d->rc = ta_err_set(d->err, TA_INVALID, "%s: %s", loc, why);
        return;
    }
    n = snprintf(d->b->reject_msg, sizeof(d->b->reject_msg), "%s: %s", loc, why);
    if (n < 0)
        d->b->reject_msg[0] = '\0';
}

static struct slice clip_string(struct slice s)
{
    if (s.len <= OTLP_MAX_STRING)
        return s;
    size_t cut = OTLP_MAX_STRING;
    /* s.ptr[cut] is the first byte dropped: never split a UTF-8 sequence */
    while (cut > 0 && ((unsigned char)s.ptr[cut] & 0xc0) == 0x80)
        cut--;
    return slice_head(s, cut);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The fields of a span before validation; ids as raw bytes with their decoded length. */
struct raw_span {
    uint8_t trace_id[16], span_id[8], parent[8];
    size_t trace_len, span_len, parent_len; /* SIZE_MAX: not decodable (JSON) */
    uint64_t start_ns, end_ns;
    uint64_t kind, status;
    bool kind_bad, status_bad; /* JSON: an unknown name */
    struct slice name;
};

/* A trace or span id of len decoded bytes must be want bytes and not all zero; stored mode
 * also keeps an empty or all-zero one. Otherwise rejects the span and returns false. */
static bool dec_check_id(struct dec *d, const struct span_loc *at, const char *what,
                         const uint8_t *id, size_t len, size_t want)
{
    if (len != want && !(d->stored && len == 0)) {
        if (len == SIZE_MAX)
            dec_reject(d, at, "%s id is neither hex nor base64 of %zu bytes", what, want);
        else
            dec_reject(d, at, "%s id must be %zu bytes, got %zu", what, want, len);
        return false;
    }
    if (!d->stored && all_zero(id, want)) {
        dec_reject(d, at, "%s id is all zero", what);
        return false;
    }
    return true;
}

/* Validates r; on success fills *s (without attributes) and returns true, otherwise counts
 * the rejection (stored: sets d->rc) and returns false. */
static bool dec_check_span(struct dec *d, const struct raw_span *r, const struct span_loc *at,
                           struct span *s)
{
    if (!dec_check_id(d, at, "trace", r->trace_id, r->trace_len, 16) ||
        !dec_check_id(d, at, "span", r->span_id, r->span_len, 8))
        return false;
    if (r->parent_len != 0 && r->parent_len != 8) {
        if (r->parent_len == SIZE_MAX)
            dec_reject(d, at, "parent span id is neither hex nor base64 of 8 bytes");
        else
            dec_reject(d, at, "parent span id must be empty or 8 bytes, got %zu", r->parent_len);
        return false;
    }
    if (r->kind_bad || r->kind > SPAN_KIND_CONSUMER) {
        dec_reject(d, at, "unknown span kind");
        return false;
    }
    if (r->status_bad || r->status > SPAN_STATUS_ERROR) {
        dec_reject(d, at, "unknown status code");
        return false;
    }
    if (d->stored) { /* times need only fit in int64; end < start is clamped below */
        if (r->start_ns > INT64_MAX || r->end_ns > INT64_MAX) {
            dec_reject(d, at, "%s time is over 2^63-1 ns",
                       r->start_ns > INT64_MAX ? "start" : "end");
            return false;
        }
    } else if (r->start_ns < (uint64_t)OTLP_MIN_TIME_NS ||
               r->start_ns >= (uint64_t)OTLP_MAX_TIME_NS) {
        dec_reject(d, at, "start time %llu ns is outside the years 2000-2099",
                   (unsigned long long)r->start_ns);
        return false;
    } else if (r->end_ns >= (uint64_t)OTLP_MAX_TIME_NS) {
        dec_reject(d, at, "end time %llu ns is outside the years 2000-2099",
                   (unsigned long long)r->end_ns);
        return false;
    } else if (r->end_ns < r->start_ns) {
        dec_reject(d, at, "end time is before start time");
        return false;
    }
    memset(s, 0, sizeof(*s));
    memcpy(s->trace_id, r->trace_id, 16);
    memcpy(s->span_id, r->span_id, 8);
    if (r->parent_len == 8)
        memcpy(s->parent_span_id, r->parent, 8);
    s->start_ns = (int64_t)r->start_ns;
    s->end_ns = (int64_t)(r->end_ns < r->start_ns ? r->start_ns : r->end_ns); /* stored mode */
    s->kind = (enum span_kind)r->kind;
    s->status = (enum span_status)r->status;
    s->name = clip_string(r->name);
    return true;
}

/* Ends a span whose attributes are the open run: appends it, or drops the run when the span
 * is rejected. TA_OK unless stored mode failed the span. */
static enum ta_rc dec_end_span(struct dec *d, const struct raw_span *raw, const struct span_loc *at,
                               const struct span_attrs *res)
{
    struct span s;
    if (!dec_check_span(d, raw, at, &s)) {
        dec_attrs_drop(d);
        return d->rc;
    }
    s.attrs = dec_attrs_take(d);
    s.resource = *res;
    dec_push_span(d, &s);
    return TA_OK;
}

/* ---- protobuf ------------------------------------------------------------------------ */

/* AnyValue: *usable is false for empty, array, kvlist and bytes values. */
static enum ta_rc pb_anyvalue(struct pbwire *r, struct attr_value *v, bool *usable,
                              struct ta_err *err)
{
    *usable = false;
    while (!pbwire_done(r)) {
        uint32_t f;
        enum pbwire_type t;
        enum ta_rc rc = pbwire_read_tag(r, &f, &t, err);
        if (rc != TA_OK)
            return rc;
        static const enum pbwire_type want[8] = {
            0,          PBWIRE_LEN, PBWIRE_VARINT, PBWIRE_VARINT,
            PBWIRE_I64, PBWIRE_LEN, PBWIRE_LEN,    PBWIRE_LEN
        };
        if (f >= 1 && f <= 7 && t != want[f])
            return pbwire_wrong_type(r, f, t, want[f], err);
        uint64_t u;
        struct slice s;
        switch (f) {
        case 1:
            rc = pbwire_read_len(r, &s, err);
            v->type = ATTR_STRING;
            v->u.str = clip_string(s);
            *usable = true;
            break;
        case 2:
            rc = pbwire_read_varint(r, &u, err);
            v->type = ATTR_BOOL;
            v->u.b = u != 0;
            *usable = true;
            break;
        case 3:
            rc = pbwire_read_varint(r, &u, err);
            v->type = ATTR_INT;
            v->u.i = (int64_t)u;
            *usable = true;
            break;
        case 4:
            rc = pbwire_read_fixed64(r, &u, err);
            v->type = ATTR_DOUBLE;
            memcpy(&v->u.d, &u, sizeof(u));
            *usable = true;
            break;
        default: /* 5 array, 6 kvlist, 7 bytes: dropped unread; others unknown */
            rc = pbwire_skip(r, t, err);
            if (f >= 5 && f <= 7)
                *usable = false;
            break;
        }
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

/* One KeyValue at kv: kept (pushed to the arena) when its key is in scope and its value is a
 * scalar; *kept says which. */
static enum ta_rc pb_keyvalue(struct dec *d, const struct pbwire *parent, struct slice kv,
                              unsigned scope, bool *kept)
{
    struct pbwire r;
    pbwire_sub(parent, kv, &r);
    struct slice key = SLICE_NULL, val = SLICE_NULL;
    bool has_val = false;
    *kept = false;
    while (!pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        enum ta_rc rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc != TA_OK)
            return rc;
        if ((f == 1 || f == 2) && t != PBWIRE_LEN)
            return pbwire_wrong_type(&r, f, t, PBWIRE_LEN, d->err);
        if (f == 1) {
            rc = pbwire_read_len(&r, &key, d->err);
        } else if (f == 2) {
            rc = pbwire_read_len(&r, &val, d->err);
            has_val = true;
        } else {
            rc = pbwire_skip(&r, t, d->err);
        }
        if (rc != TA_OK)
            return rc;
    }
    if (!has_val || !keep_has(d->keep, key, scope))
        return TA_OK;
    struct pbwire vr;
    pbwire_sub(&r, val, &vr);
    struct attr_value v;
    bool usable;
    enum ta_rc rc = pb_anyvalue(&vr, &v, &usable, d->err);
    if (rc != TA_OK || !usable)
        return rc;
    dec_push_attr(d, key, &v);
    *kept = true;
    return TA_OK;
}

/* Resource { repeated KeyValue attributes = 1; dropped_attributes_count = 2 } of
 * resource_spans[i]. */
static enum ta_rc pb_resource(struct dec *d, const struct pbwire *parent, struct slice res,
                              size_t i, uint32_t *nres)
{
    struct pbwire r;
    pbwire_sub(parent, res, &r);
    size_t nkv = 0;
    while (!pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        struct slice s;
        enum ta_rc rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc != TA_OK)
            return rc;
        if (f == 1) {
            if (t != PBWIRE_LEN)
                return pbwire_wrong_type(&r, f, t, PBWIRE_LEN, d->err);
            rc = pbwire_read_len(&r, &s, d->err);
            bool kept = false;
            if (rc == TA_OK && d->stored && ++nkv > d->max_attrs) {
                char loc[LOC_MAX];
                locf(loc, sizeof(loc), "resource_spans[%zu].resource", i);
                rc = dec_too_many_attrs(d, loc);
            }
            if (rc == TA_OK && *nres < d->max_attrs)
                rc = pb_keyvalue(d, &r, s, KEEP_RESOURCE, &kept);
            if (kept)
                (*nres)++;
        } else {
            rc = pbwire_skip(&r, t, d->err);
        }
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

/* Status { string message = 2; StatusCode code = 3; } */
static enum ta_rc pb_status(struct dec *d, const struct pbwire *parent, struct slice st,
                            uint64_t *code)
{
    struct pbwire r;
    pbwire_sub(parent, st, &r);
    while (!pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        enum ta_rc rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc != TA_OK)
            return rc;
        if (f == 3) {
            if (t != PBWIRE_VARINT)
                return pbwire_wrong_type(&r, f, t, PBWIRE_VARINT, d->err);
            rc = pbwire_read_varint(&r, code, d->err);
        } else {
            rc = pbwire_skip(&r, t, d->err);
        }
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

static void copy_id(uint8_t *dst, size_t cap, struct slice s, size_t *len)
{
    *len = s.len;
    if (s.len == cap)
        memcpy(dst, s.ptr, cap);
}

static enum ta_rc pb_span(struct dec *d, const struct pbwire *parent, struct slice sp,
                          const struct span_attrs *res, const struct span_loc *at)
{
    struct pbwire r;
    pbwire_sub(parent, sp, &r);
    struct raw_span raw;
    memset(&raw, 0, sizeof(raw));
    uint32_t nattrs = 0;
    size_t nkv = 0; /* KeyValue entries, kept or not */
    while (!pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        struct slice s;
        enum ta_rc rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc != TA_OK)
            return rc;
        enum pbwire_type want = t;
        switch (f) {
        case 1:
        case 2:
        case 4:
        case 5:
        case 9:
        case 15:
            want = PBWIRE_LEN;
            break;
        case 6:
            want = PBWIRE_VARINT;
            break;
        case 7:
        case 8:
            want = PBWIRE_I64;
            break;
        default:
            break;
        }
        if (t != want)
            return pbwire_wrong_type(&r, f, t, want, d->err);
        switch (f) {
        case 1:
            rc = pbwire_read_len(&r, &s, d->err);
            copy_id(raw.trace_id, 16, s, &raw.trace_len);
            break;
        case 2:
            rc = pbwire_read_len(&r, &s, d->err);
            copy_id(raw.span_id, 8, s, &raw.span_len);
            break;
        case 4:
            rc = pbwire_read_len(&r, &s, d->err);
            copy_id(raw.parent, 8, s, &raw.parent_len);
            break;
        case 5:
            rc = pbwire_read_len(&r, &raw.name, d->err);
            break;
        case 6:
            rc = pbwire_read_varint(&r, &raw.kind, d->err);
            break;
        case 7:
            rc = pbwire_read_fixed64(&r, &raw.start_ns, d->err);
            break;
        case 8:
            rc = pbwire_read_fixed64(&r, &raw.end_ns, d->err);
            break;
        case 9: {
            bool kept = false;
            rc = pbwire_read_len(&r, &s, d->err);
            if (rc == TA_OK && d->stored && ++nkv > d->max_attrs) {
                char loc[LOC_MAX];
                span_loc_fmt(at, loc, sizeof(loc));
                rc = dec_too_many_attrs(d, loc);
            }
            if (rc == TA_OK && nattrs < d->max_attrs)
                rc = pb_keyvalue(d, &r, s, KEEP_SPAN, &kept);
            if (kept)
                nattrs++;
            break;
        }
        case 15:
            rc = pbwire_read_len(&r, &s, d->err);
            if (rc == TA_OK)
                rc = pb_status(d, &r, s, &raw.status);
            break;
        default: /* trace_state, flags, events, links, dropped counts, unknown */
            rc = pbwire_skip(&r, t, d->err);
            break;
        }
        if (rc != TA_OK)
            return rc;
    }
    return dec_end_span(d, &raw, at, res);
}

static enum ta_rc pb_scope_spans(struct dec *d, const struct pbwire *parent, struct slice ss,
                                 const struct span_attrs *res, size_t i, size_t j)
{
    struct pbwire r;
    pbwire_sub(parent, ss, &r);
    char scope[LOC_MAX];
    locf(scope, sizeof(scope), "resource_spans[%zu].scope_spans[%zu]", i, j);
    struct span_loc at = { scope, 0 };
    while (!pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        struct slice s;
        enum ta_rc rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc != TA_OK)
            return rc;
        if (f == 2) {
            if (t != PBWIRE_LEN)
                return pbwire_wrong_type(&r, f, t, PBWIRE_LEN, d->err);
            rc = dec_count_span(d);
            if (rc == TA_OK)
                rc = pbwire_read_len(&r, &s, d->err);
            if (rc == TA_OK)
                rc = pb_span(d, &r, s, res, &at);
            at.k++;
        } else {
            rc = pbwire_skip(&r, t, d->err); /* scope, schema_url */
        }
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

static enum ta_rc pb_resource_spans(struct dec *d, const struct pbwire *parent, struct slice rs,
                                    size_t i)
{
    struct pbwire r;
    uint32_t f;
    enum pbwire_type t;
    struct slice s;
    enum ta_rc rc;
    /* pass 1: the resource (it may come after scope_spans on the wire) */
    uint32_t nres = 0;
    pbwire_sub(parent, rs, &r);
    while (!pbwire_done(&r)) {
        rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc != TA_OK)
            return rc;
        if ((f == 1 || f == 2 || f == 1000) && t != PBWIRE_LEN)
            return pbwire_wrong_type(&r, f, t, PBWIRE_LEN, d->err);
        if (f == 1) {
            rc = pbwire_read_len(&r, &s, d->err);
            if (rc == TA_OK)
                rc = pb_resource(d, &r, s, i, &nres);
        } else {
            rc = pbwire_skip(&r, t, d->err);
        }
        if (rc != TA_OK)
            return rc;
    }
    struct span_attrs res = dec_attrs_take(d);
    /* pass 2: the spans (wire types were checked in pass 1); 1000 is OTLP 0.15-0.19's
     * deprecated instrumentation_library_spans, of the same shape */
    pbwire_sub(parent, rs, &r);
    size_t j = 0;
    while (!pbwire_done(&r)) {
        rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc == TA_OK && (f == 2 || f == 1000)) {
            rc = pbwire_read_len(&r, &s, d->err);
            if (rc == TA_OK)
                rc = pb_scope_spans(d, &r, s, &res, i, j++);
        } else if (rc == TA_OK) {
            rc = pbwire_skip(&r, t, d->err);
        }
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

enum ta_rc otlp_decode_protobuf_opts(struct slice body, const struct otlp_decode_opts *opts,
                                     const struct otlp_keep *keep, struct otlp_batch **out,
                                     struct ta_err *err)
{
    *out = NULL;
    if (body.len > OTLP_BODY_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "body of %zu bytes is over the limit of %u", body.len,
                          OTLP_BODY_MAX);
    struct dec d;
    dec_init(&d, opts, keep, err);
    struct pbwire r;
    pbwire_init(&r, body);
    enum ta_rc rc = TA_OK;
    size_t i = 0;
    while (!pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        struct slice s;
        rc = pbwire_read_tag(&r, &f, &t, err);
        if (rc != TA_OK)
            break;
        if (f == 1) {
            if (t != PBWIRE_LEN) {
                rc = pbwire_wrong_type(&r, f, t, PBWIRE_LEN, err);
                break;
            }
            rc = pbwire_read_len(&r, &s, err);
            if (rc == TA_OK)
                rc = pb_resource_spans(&d, &r, s, i++);
        } else {
            rc = pbwire_skip(&r, t, err);
        }
        if (rc != TA_OK)
            break;
    }
    if (rc != TA_OK) {
        otlp_batch_free(d.b);
        return rc;
    }
    *out = d.b;
    return TA_OK;
}

enum ta_rc otlp_decode_protobuf(struct slice body, const struct otlp_keep *keep,
                                struct otlp_batch **out, struct ta_err *err)
{
    return otlp_decode_protobuf_opts(body, NULL, keep, out, err);
}

/* ---- JSON ---------------------------------------------------------------------------- */

/* Rejects nesting deeper than OTLP_JSON_MAX_DEPTH before jansson builds anything. Strings are
 * skipped with their escapes; everything else is left to jansson. */
static enum ta_rc json_prescan(struct slice body, struct ta_err *err)
{
    size_t depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < body.len; i++) {
        char c = body.ptr[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > OTLP_JSON_MAX_DEPTH)
                return ta_err_set(err, TA_INVALID, "JSON nested deeper than %d levels at byte %zu",
                                  OTLP_JSON_MAX_DEPTH, i);
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return TA_OK;
}

/* obj[camel] or obj[snake]; NULL when absent or JSON null. */
static json_t *jget(const json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (!v && snake)
        v = json_object_get(obj, snake);
    return json_is_null(v) ? NULL : v;
}

static struct slice jstr(const json_t *s)
{
    return slice_make(json_string_value(s), json_string_length(s));
}

static enum ta_rc jtype_err(struct ta_err *err, const char *path, const char *field,
                            const char *what)
{
    return ta_err_set(err, TA_INVALID, "%s%s%s: expected %s", path, *field ? "." : "", field, what);
}

/* A 64-bit unsigned integer as a decimal string or a JSON number. */
static enum ta_rc j_u64(const json_t *v, const char *path, const char *field, uint64_t *out,
                        struct ta_err *err)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return ta_err_set(err, TA_INVALID, "%s.%s: %lld is negative", path, field,
                              (long long)i);
        *out = (uint64_t)i;
        return TA_OK;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!(x >= 0 && x < 18446744073709551616.0) || x != floor(x))
            return ta_err_set(err, TA_INVALID, "%s.%s: %g is not an unsigned integer", path, field,
                              x);
        *out = (uint64_t)x;
        return TA_OK;
    }
    if (json_is_string(v)) {
        struct ta_err e2;
        if (parse_u64(jstr(v), 0, UINT64_MAX, out, &e2) != TA_OK)
            return ta_err_set(err, TA_INVALID, "%s.%s: %s", path, field, e2.msg);
        return TA_OK;
    }
    return jtype_err(err, path, field, "an integer or a decimal string");
}

static enum ta_rc j_i64(const json_t *v, const char *path, const char *field, int64_t *out,
                        struct ta_err *err)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return TA_OK;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0) || x != floor(x))
            return ta_err_set(err, TA_INVALID, "%s.%s: %g is not an integer", path, field, x);
        *out = (int64_t)x;
        return TA_OK;
    }
    if (json_is_string(v)) {
        struct ta_err e2;
        if (parse_i64(jstr(v), INT64_MIN, INT64_MAX, out, &e2) != TA_OK)
            return ta_err_set(err, TA_INVALID, "%s.%s: %s", path, field, e2.msg);
        return TA_OK;
    }
    return jtype_err(err, path, field, "an integer or a decimal string");
}

/* An enum as a number or one of names[0..n) (index = value); *bad for an unknown name or a
 * number out of range (the span is rejected, not the request). */
static enum ta_rc j_enum(const json_t *v, const char *path, const char *field,
                         const char *const *names, size_t n, uint64_t *out, bool *bad,
                         struct ta_err *err)
{
    *bad = false;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *bad = i < 0 || (uint64_t)i >= n;
        *out = *bad ? 0 : (uint64_t)i;
        return TA_OK;
    }
    if (json_is_string(v)) {
        struct slice s = jstr(v);
        for (size_t i = 0; i < n; i++) {
            if (slice_eq_cstr(s, names[i])) {
                *out = i;
                return TA_OK;
            }
        }
        *bad = true;
        return TA_OK;
    }
    return jtype_err(err, path, field, "an enum number or name");
}

/* A hex (standard) or base64 (Tempo, protobuf JSON) id of n bytes; *len = n on success, the
 * decoded length when base64 gave another size, SIZE_MAX when it is neither. */
static void j_id(struct slice s, uint8_t *out, size_t n, size_t *len)
{
    if (s.len == 0) {
        *len = 0;
        return;
    }
    if (s.len == 2 * n && parse_hex(s, out, n, NULL) == TA_OK) {
        *len = n;
        return;
    }
    uint8_t tmp[24];
    size_t got = 0;
    if (s.len <= 32 && parse_base64(s, tmp, sizeof(tmp), &got, NULL) == TA_OK) {
        *len = got;
        if (got == n)
            memcpy(out, tmp, n);
        return;
    }
    *len = SIZE_MAX;
}

static enum ta_rc j_id_field(const json_t *sp, const char *camel, const char *snake,
                             const char *path, uint8_t *out, size_t n, size_t *len,
                             struct ta_err *err)
{
    const json_t *v = jget(sp, camel, snake);
    *len = 0;
    if (!v)
        return TA_OK;
    if (!json_is_string(v))
        return jtype_err(err, path, camel, "a hex string");
    j_id(jstr(v), out, n, len);
    return TA_OK;
}

/* AnyValue: *usable false for empty, array, kvlist, bytes and non-finite doubles. */
static enum ta_rc j_anyvalue(const json_t *av, const char *path, struct attr_value *v, bool *usable,
                             struct ta_err *err)
{
    *usable = false;
    if (!json_is_object(av))
        return jtype_err(err, path, "", "an AnyValue object");
    const json_t *x;
    if ((x = jget(av, "stringValue", "string_value"))) {
        if (!json_is_string(x))
            return jtype_err(err, path, "stringValue", "a string");
        v->type = ATTR_STRING;
        v->u.str = clip_string(jstr(x));
        *usable = true;
    } else if ((x = jget(av, "boolValue", "bool_value"))) {
        if (!json_is_boolean(x))
            return jtype_err(err, path, "boolValue", "true or false");
        v->type = ATTR_BOOL;
        v->u.b = json_is_true(x);
        *usable = true;
    } else if ((x = jget(av, "intValue", "int_value"))) {
        v->type = ATTR_INT;
        enum ta_rc rc = j_i64(x, path, "intValue", &v->u.i, err);
        if (rc != TA_OK)
            return rc;
        *usable = true;
    } else if ((x = jget(av, "doubleValue", "double_value"))) {
        v->type = ATTR_DOUBLE;
        if (json_is_number(x)) {
            v->u.d = json_number_value(x);
            *usable = true;
        } else if (json_is_string(x)) {
            struct slice s = jstr(x);
            if (slice_eq_cstr(s, "NaN") || slice_eq_cstr(s, "Infinity") ||
                slice_eq_cstr(s, "-Infinity"))
                return TA_OK; /* valid, but nothing a rule can compare with */
            struct ta_err e2;
            if (parse_double(s, -INFINITY, INFINITY, &v->u.d, &e2) != TA_OK)
                return ta_err_set(err, TA_INVALID, "%s.doubleValue: %s", path, e2.msg);
            *usable = true;
        } else {
            return jtype_err(err, path, "doubleValue", "a number");
        }
    }
    /* arrayValue, kvlistValue, bytesValue, {}: dropped (nesting bounded by the pre-scan) */
    return TA_OK;
}

/* attributes: [KeyValue]; kept ones are pushed; *n counts them (at most the limit). */
static enum ta_rc j_attributes(struct dec *d, const json_t *arr, const char *path, unsigned scope,
                               uint32_t *n)
{
    if (!arr)
        return TA_OK;
    if (!json_is_array(arr))
        return jtype_err(d->err, path, "attributes", "an array");
    if (d->stored && json_array_size(arr) > d->max_attrs)
        return dec_too_many_attrs(d, path);
    size_t i;
    const json_t *kv;
    char p[LOC_MAX]; /* "<path>.attributes[i]", formatted for messages only */
    json_array_foreach(arr, i, kv)
    {
        const json_t *k = json_is_object(kv) ? jget(kv, "key", NULL) : NULL;
        const json_t *val = json_is_object(kv) ? jget(kv, "value", NULL) : NULL;
        if (!json_is_object(kv) || (k && !json_is_string(k))) {
            locf(p, sizeof(p), "%s.attributes[%zu]", path, i);
            return json_is_object(kv) ? jtype_err(d->err, p, "key", "a string")
                                      : jtype_err(d->err, p, "", "a KeyValue object");
        }
        if (!k || !val || *n >= d->max_attrs)
            continue;
        struct slice key = jstr(k);
        if (!keep_has(d->keep, key, scope))
            continue;
        struct attr_value v;
        bool usable;
        if (j_anyvalue(val, "", &v, &usable, NULL) != TA_OK) {
            /* j_anyvalue is pure: run again with the path for the message */
            locf(p, sizeof(p), "%s.attributes[%zu].value", path, i);
            return j_anyvalue(val, p, &v, &usable, d->err);
        }
        if (usable) {
            dec_push_attr(d, key, &v);
            (*n)++;
        }
    }
    return TA_OK;
}

static const char *const KIND_NAMES[] = { "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                          "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                          "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER" };
static const char *const STATUS_NAMES[] = { "STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                            "STATUS_CODE_ERROR" };

/* One span; path names it in messages of structural errors, at in rejections. */
static enum ta_rc j_span_at(struct dec *d, const json_t *sp, const char *path,
                            const struct span_loc *at, const struct span_attrs *res)
{
    if (!json_is_object(sp))
        return jtype_err(d->err, path, "", "a Span object");
    struct raw_span raw;
    memset(&raw, 0, sizeof(raw));
    enum ta_rc rc;
    rc = j_id_field(sp, "traceId", "trace_id", path, raw.trace_id, 16, &raw.trace_len, d->err);
    if (rc == TA_OK)
        rc = j_id_field(sp, "spanId", "span_id", path, raw.span_id, 8, &raw.span_len, d->err);
    if (rc == TA_OK)
        rc = j_id_field(sp, "parentSpanId", "parent_span_id", path, raw.parent, 8, &raw.parent_len,
                        d->err);
    if (rc != TA_OK)
        return rc;
    const json_t *v;
    if ((v = jget(sp, "name", NULL))) {
        if (!json_is_string(v))
            return jtype_err(d->err, path, "name", "a string");
        raw.name = jstr(v);
    }
    if ((v = jget(sp, "kind", NULL))) {
        rc = j_enum(v, path, "kind", KIND_NAMES, 6, &raw.kind, &raw.kind_bad, d->err);
        if (rc != TA_OK)
            return rc;
    }
    if ((v = jget(sp, "startTimeUnixNano", "start_time_unix_nano"))) {
        rc = j_u64(v, path, "startTimeUnixNano", &raw.start_ns, d->err);
        if (rc != TA_OK)
            return rc;
    }
    if ((v = jget(sp, "endTimeUnixNano", "end_time_unix_nano"))) {
        rc = j_u64(v, path, "endTimeUnixNano", &raw.end_ns, d->err);
        if (rc != TA_OK)
            return rc;
    }
    if ((v = jget(sp, "status", NULL))) {
        if (!json_is_object(v))
            return jtype_err(d->err, path, "status", "an object");
        const json_t *c = jget(v, "code", NULL);
        if (c) {
            char p[LOC_MAX];
            locf(p, sizeof(p), "%s.status", path);
            rc = j_enum(c, p, "code", STATUS_NAMES, 3, &raw.status, &raw.status_bad, d->err);
            if (rc != TA_OK)
                return rc;
        }
    }
    uint32_t nattrs = 0;
    rc = j_attributes(d, jget(sp, "attributes", NULL), path, KEEP_SPAN, &nattrs);
    if (rc != TA_OK)
        return rc;
    return dec_end_span(d, &raw, at, res);
}

/* j_span_at with the span's path formatted only for a message. A structural error fails the
 * whole request, so what the first walk left in d does not matter: the span is walked again
 * (same input, same walk, same error) with its path. A rejection (d->rc, stored mode) already
 * names the span. */
static enum ta_rc j_span(struct dec *d, const json_t *sp, const struct span_loc *at,
                         const struct span_attrs *res)
{
    enum ta_rc rc = j_span_at(d, sp, "", at, res);
    if (rc == TA_OK || d->rc != TA_OK)
        return rc;
    char path[LOC_MAX];
    span_loc_fmt(at, path, sizeof(path));
    dec_attrs_drop(d);
    return j_span_at(d, sp, path, at, res);
}

static enum ta_rc j_resource_spans(struct dec *d, const json_t *rs, const char *path)
{
    if (!json_is_object(rs))
        return jtype_err(d->err, path, "", "a ResourceSpans object");
    uint32_t nres = 0;
    const json_t *res = jget(rs, "resource", NULL);
    if (res) {
        char p[LOC_MAX];
        locf(p, sizeof(p), "%s.resource", path);
        if (!json_is_object(res))
            return jtype_err(d->err, path, "resource", "an object");
        enum ta_rc rc = j_attributes(d, jget(res, "attributes", NULL), p, KEEP_RESOURCE, &nres);
        if (rc != TA_OK)
            return rc;
    }
    struct span_attrs resource = dec_attrs_take(d);
    const json_t *sss = jget(rs, "scopeSpans", "scope_spans");
    if (!sss) /* OTLP < 0.19 */
        sss = jget(rs, "instrumentationLibrarySpans", "instrumentation_library_spans");
    if (!sss)
        return TA_OK;
    if (!json_is_array(sss))
        return jtype_err(d->err, path, "scopeSpans", "an array");
    size_t j;
    const json_t *ss;
    json_array_foreach(sss, j, ss)
    {
        char p[LOC_MAX];
        locf(p, sizeof(p), "%s.scopeSpans[%zu]", path, j);
        if (!json_is_object(ss))
            return jtype_err(d->err, p, "", "a ScopeSpans object");
        const json_t *spans = jget(ss, "spans", NULL);
        if (!spans)
            continue;
        if (!json_is_array(spans))
            return jtype_err(d->err, p, "spans", "an array");
        struct span_loc at = { p, 0 };
        const json_t *sp;
        json_array_foreach(spans, at.k, sp)
        {
            enum ta_rc rc = dec_count_span(d);
            if (rc == TA_OK)
                rc = j_span(d, sp, &at, &resource);
            if (rc != TA_OK)
                return rc;
        }
    }
    return TA_OK;
}

enum ta_rc otlp_decode_json_tree(struct json_t *msg, const struct otlp_decode_opts *opts,
                                 const struct otlp_keep *keep, struct otlp_batch **out,
                                 struct ta_err *err)
{
    *out = NULL;
    enum ta_rc rc = TA_OK;
    struct dec d;
    dec_init(&d, opts, keep, err);
    d.m->json = json_incref(msg);
    if (!json_is_object(msg)) {
        rc = ta_err_set(err, TA_INVALID, "expected a JSON object (ExportTraceServiceRequest)");
        goto out;
    }
    const char *name = "resourceSpans";
    const json_t *arr = jget(msg, "resourceSpans", "resource_spans");
    if (!arr && (arr = jget(msg, "batches", NULL)))
        name = "batches";
    if (arr && !json_is_array(arr)) {
        rc = ta_err_set(err, TA_INVALID, "%s: expected an array", name);
        goto out;
    }
    size_t i;
    const json_t *rs;
    json_array_foreach(arr, i, rs)
    {
        char p[LOC_MAX];
        locf(p, sizeof(p), "%s[%zu]", name, i);
        rc = j_resource_spans(&d, rs, p);
        if (rc != TA_OK)
            goto out;
    }
out:
    if (rc != TA_OK) {
        otlp_batch_free(d.b);
        return rc;
    }
    *out = d.b;
    return TA_OK;
}

enum ta_rc otlp_decode_json(struct slice body, const struct otlp_keep *keep,
                            struct otlp_batch **out, struct ta_err *err)
{
    *out = NULL;
    if (body.len > OTLP_BODY_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "body of %zu bytes is over the limit of %u", body.len,
                          OTLP_BODY_MAX);
    enum ta_rc rc = json_prescan(body, err);
    if (rc != TA_OK)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb(body.ptr ? body.ptr : "", body.len, JSON_ALLOW_NUL, &jerr);
    if (!root)
        return ta_err_set(err, TA_INVALID, "invalid JSON at line %d column %d: %s", jerr.line,
                          jerr.column, jerr.text);
    rc = otlp_decode_json_tree(root, NULL, keep, out, err);
    json_decref(root); /* the batch holds its own reference */
    return rc;
}
