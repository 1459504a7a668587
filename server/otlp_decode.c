/* otlp_decode.c — OTLP trace requests (protobuf, JSON) to span views for the embedded store.
 *
 * Both decoders fill one struct dec: accepted spans, an arena of kept attributes (recorded
 * as offsets while it grows, turned into pointers at the end), and the rejection count. The
 * protobuf path walks the body with pbwire and never descends into values it drops; the JSON
 * path pre-scans nesting, then reads a jansson tree. Pure: any thread. */
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

struct otlp_batch_mem {
    struct span_attr *arena; /* kept attributes of every span and resource */
    size_t narena, cap_arena;
    size_t *attr_off; /* per accepted span: offset of its attributes in arena */
    size_t *res_off;  /* per accepted span: offset of its resource attributes */
    json_t *json;     /* JSON decoding: the tree the string slices borrow from */
};

struct dec {
    const struct otlp_keep *keep;
    struct otlp_batch *b;
    struct otlp_batch_mem *m;
    size_t cap_spans;
    uint64_t seen; /* spans met, accepted or rejected */
    struct ta_err *err;
};

static void dec_init(struct dec *d, const struct otlp_keep *keep, struct ta_err *err)
{
    d->keep = keep;
    d->b = ta_xcalloc(1, sizeof(*d->b));
    d->m = ta_xcalloc(1, sizeof(*d->m));
    d->b->mem = d->m;
    d->cap_spans = 0;
    d->seen = 0;
    d->err = err;
}

void otlp_batch_free(struct otlp_batch *b)
{
    if (!b)
        return;
    if (b->mem) {
        free(b->mem->arena);
        free(b->mem->attr_off);
        free(b->mem->res_off);
        if (b->mem->json)
            json_decref(b->mem->json);
        free(b->mem);
    }
    free(b->spans);
    free(b);
}

/* Turns arena offsets into pointers; called once all spans are in. */
static struct otlp_batch *dec_finish(struct dec *d)
{
    struct otlp_batch *b = d->b;
    struct otlp_batch_mem *m = d->m;
    for (size_t i = 0; i < b->n; i++) {
        b->spans[i].attrs.items = b->spans[i].attrs.n ? m->arena + m->attr_off[i] : NULL;
        b->spans[i].resource.items = b->spans[i].resource.n ? m->arena + m->res_off[i] : NULL;
    }
    free(m->attr_off);
    free(m->res_off);
    m->attr_off = m->res_off = NULL;
    return b;
}

/* Counts one more span against the request limit. */
static enum ta_rc dec_count_span(struct dec *d)
{
    if (++d->seen > OTLP_MAX_SPANS_PER_REQUEST)
        return ta_err_set(d->err, TA_TOO_LARGE, "request has more than %d spans",
                          OTLP_MAX_SPANS_PER_REQUEST);
    return TA_OK;
}

static void dec_push_attr(struct dec *d, struct slice key, const struct attr_value *v)
{
    struct otlp_batch_mem *m = d->m;
    if (m->narena == m->cap_arena) {
        m->cap_arena = m->cap_arena ? 2 * m->cap_arena : 256;
        m->arena = ta_xreallocarray(m->arena, m->cap_arena, sizeof(*m->arena));
    }
    m->arena[m->narena].key = key;
    m->arena[m->narena].value = *v;
    m->narena++;
}

/* Appends an accepted span whose kept attributes are arena[attr_off ...] and whose resource
 * attributes are arena[res_off, res_off + nres). */
static void dec_push_span(struct dec *d, const struct span *s, size_t attr_off, size_t res_off,
                          uint32_t nres)
{
    struct otlp_batch *b = d->b;
    struct otlp_batch_mem *m = d->m;
    if (b->n == d->cap_spans) {
        d->cap_spans = d->cap_spans ? 2 * d->cap_spans : 64;
        b->spans = ta_xreallocarray(b->spans, d->cap_spans, sizeof(*b->spans));
        m->attr_off = ta_xreallocarray(m->attr_off, d->cap_spans, sizeof(*m->attr_off));
        m->res_off = ta_xreallocarray(m->res_off, d->cap_spans, sizeof(*m->res_off));
    }
    b->spans[b->n] = *s;
    b->spans[b->n].resource.n = nres;
    m->attr_off[b->n] = attr_off;
    m->res_off[b->n] = res_off;
    b->n++;
}

/* Counts a rejected span; the first reason is kept with its location. */
static void dec_reject(struct dec *d, const char *loc, const char *fmt, ...) TA_PRINTF(3, 4);
static void dec_reject(struct dec *d, const char *loc, const char *fmt, ...)
{
    if (d->b->rejected++ > 0)
        return;
    char why[TA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (n < 0)
        why[0] = '\0';
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

/* Validates r; on success fills *s (without attributes) and returns true, otherwise counts
 * the rejection and returns false. */
static bool dec_check_span(struct dec *d, const struct raw_span *r, const char *loc, struct span *s)
{
    if (r->trace_len != 16) {
        if (r->trace_len == SIZE_MAX)
            dec_reject(d, loc, "trace id is neither hex nor base64 of 16 bytes");
        else
            dec_reject(d, loc, "trace id must be 16 bytes, got %zu", r->trace_len);
        return false;
    }
    if (all_zero(r->trace_id, 16)) {
        dec_reject(d, loc, "trace id is all zero");
        return false;
    }
    if (r->span_len != 8) {
        if (r->span_len == SIZE_MAX)
            dec_reject(d, loc, "span id is neither hex nor base64 of 8 bytes");
        else
            dec_reject(d, loc, "span id must be 8 bytes, got %zu", r->span_len);
        return false;
    }
    if (all_zero(r->span_id, 8)) {
        dec_reject(d, loc, "span id is all zero");
        return false;
    }
    if (r->parent_len != 0 && r->parent_len != 8) {
        if (r->parent_len == SIZE_MAX)
            dec_reject(d, loc, "parent span id is neither hex nor base64 of 8 bytes");
        else
            dec_reject(d, loc, "parent span id must be empty or 8 bytes, got %zu", r->parent_len);
        return false;
    }
    if (r->kind_bad || r->kind > SPAN_KIND_CONSUMER) {
        dec_reject(d, loc, "unknown span kind");
        return false;
    }
    if (r->status_bad || r->status > SPAN_STATUS_ERROR) {
        dec_reject(d, loc, "unknown status code");
        return false;
    }
    if (r->start_ns < (uint64_t)OTLP_MIN_TIME_NS || r->start_ns >= (uint64_t)OTLP_MAX_TIME_NS) {
        dec_reject(d, loc, "start time %llu ns is outside the years 2000-2099",
                   (unsigned long long)r->start_ns);
        return false;
    }
    if (r->end_ns >= (uint64_t)OTLP_MAX_TIME_NS) {
        dec_reject(d, loc, "end time %llu ns is outside the years 2000-2099",
                   (unsigned long long)r->end_ns);
        return false;
    }
    if (r->end_ns < r->start_ns) {
        dec_reject(d, loc, "end time is before start time");
        return false;
    }
    memset(s, 0, sizeof(*s));
    memcpy(s->trace_id, r->trace_id, 16);
    memcpy(s->span_id, r->span_id, 8);
    if (r->parent_len == 8)
        memcpy(s->parent_span_id, r->parent, 8);
    s->start_ns = (int64_t)r->start_ns;
    s->end_ns = (int64_t)r->end_ns;
    s->kind = (enum span_kind)r->kind;
    s->status = (enum span_status)r->status;
    s->name = clip_string(r->name);
    return true;
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

/* Resource { repeated KeyValue attributes = 1; dropped_attributes_count = 2 }. */
static enum ta_rc pb_resource(struct dec *d, const struct pbwire *parent, struct slice res,
                              uint32_t *nres)
{
    struct pbwire r;
    pbwire_sub(parent, res, &r);
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
            if (rc == TA_OK && *nres < OTLP_MAX_ATTRS_PER_SPAN)
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
                          size_t res_off, uint32_t nres, const char *loc)
{
    struct pbwire r;
    pbwire_sub(parent, sp, &r);
    struct raw_span raw;
    memset(&raw, 0, sizeof(raw));
    size_t attr_off = d->m->narena;
    uint32_t nattrs = 0;
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
            if (rc == TA_OK && nattrs < OTLP_MAX_ATTRS_PER_SPAN)
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
    struct span s;
    if (!dec_check_span(d, &raw, loc, &s)) {
        d->m->narena = attr_off; /* drop its attributes */
        return TA_OK;
    }
    s.attrs.n = nattrs;
    dec_push_span(d, &s, attr_off, res_off, nres);
    return TA_OK;
}

static enum ta_rc pb_scope_spans(struct dec *d, const struct pbwire *parent, struct slice ss,
                                 size_t res_off, uint32_t nres, size_t i, size_t j)
{
    struct pbwire r;
    pbwire_sub(parent, ss, &r);
    size_t k = 0;
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
            if (rc == TA_OK) {
                char loc[LOC_MAX];
                locf(loc, sizeof(loc), "resource_spans[%zu].scope_spans[%zu].spans[%zu]", i, j,
                     k++);
                rc = pb_span(d, &r, s, res_off, nres, loc);
            }
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
    size_t res_off = d->m->narena;
    uint32_t nres = 0;
    pbwire_sub(parent, rs, &r);
    while (!pbwire_done(&r)) {
        rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc != TA_OK)
            return rc;
        if ((f == 1 || f == 2) && t != PBWIRE_LEN)
            return pbwire_wrong_type(&r, f, t, PBWIRE_LEN, d->err);
        if (f == 1) {
            rc = pbwire_read_len(&r, &s, d->err);
            if (rc == TA_OK)
                rc = pb_resource(d, &r, s, &nres);
        } else {
            rc = pbwire_skip(&r, t, d->err);
        }
        if (rc != TA_OK)
            return rc;
    }
    /* pass 2: the spans (wire types were checked in pass 1) */
    pbwire_sub(parent, rs, &r);
    size_t j = 0;
    while (!pbwire_done(&r)) {
        rc = pbwire_read_tag(&r, &f, &t, d->err);
        if (rc == TA_OK && f == 2) {
            rc = pbwire_read_len(&r, &s, d->err);
            if (rc == TA_OK)
                rc = pb_scope_spans(d, &r, s, res_off, nres, i, j++);
        } else if (rc == TA_OK) {
            rc = pbwire_skip(&r, t, d->err);
        }
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

enum ta_rc otlp_decode_protobuf(struct slice body, const struct otlp_keep *keep,
                                struct otlp_batch **out, struct ta_err *err)
{
    *out = NULL;
    if (body.len > OTLP_BODY_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "body of %zu bytes is over the limit of %u", body.len,
                          OTLP_BODY_MAX);
    struct dec d;
    dec_init(&d, keep, err);
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
    *out = dec_finish(&d);
    return TA_OK;
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
    size_t i;
    const json_t *kv;
    json_array_foreach(arr, i, kv)
    {
        char p[LOC_MAX];
        locf(p, sizeof(p), "%s.attributes[%zu]", path, i);
        if (!json_is_object(kv))
            return jtype_err(d->err, p, "", "a KeyValue object");
        const json_t *k = jget(kv, "key", NULL), *val = jget(kv, "value", NULL);
        if (k && !json_is_string(k))
            return jtype_err(d->err, p, "key", "a string");
        if (!k || !val || *n >= OTLP_MAX_ATTRS_PER_SPAN)
            continue;
        struct slice key = jstr(k);
        if (!keep_has(d->keep, key, scope))
            continue;
        char vp[LOC_MAX];
        locf(vp, sizeof(vp), "%s.value", p);
        struct attr_value v;
        bool usable;
        enum ta_rc rc = j_anyvalue(val, vp, &v, &usable, d->err);
        if (rc != TA_OK)
            return rc;
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

static enum ta_rc j_span(struct dec *d, const json_t *sp, const char *path, size_t res_off,
                         uint32_t nres)
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
    size_t attr_off = d->m->narena;
    uint32_t nattrs = 0;
    rc = j_attributes(d, jget(sp, "attributes", NULL), path, KEEP_SPAN, &nattrs);
    if (rc != TA_OK)
        return rc;
    struct span s;
    if (!dec_check_span(d, &raw, path, &s)) {
        d->m->narena = attr_off;
        return TA_OK;
    }
    s.attrs.n = nattrs;
    dec_push_span(d, &s, attr_off, res_off, nres);
    return TA_OK;
}

static enum ta_rc j_resource_spans(struct dec *d, const json_t *rs, const char *path)
{
    if (!json_is_object(rs))
        return jtype_err(d->err, path, "", "a ResourceSpans object");
    size_t res_off = d->m->narena;
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
    const json_t *sss = jget(rs, "scopeSpans", "scope_spans");
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
        size_t k;
        const json_t *sp;
        json_array_foreach(spans, k, sp)
        {
            char sp_path[LOC_MAX];
            locf(sp_path, sizeof(sp_path), "%s.spans[%zu]", p, k);
            enum ta_rc rc = dec_count_span(d);
            if (rc == TA_OK)
                rc = j_span(d, sp, sp_path, res_off, nres);
            if (rc != TA_OK)
                return rc;
        }
    }
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
    struct dec d;
    dec_init(&d, keep, err);
    d.m->json = root;
    if (!json_is_object(root)) {
        rc = ta_err_set(err, TA_INVALID, "expected a JSON object (ExportTraceServiceRequest)");
        goto out;
    }
    const char *name = "resourceSpans";
    const json_t *arr = jget(root, "resourceSpans", "resource_spans");
    if (!arr && (arr = jget(root, "batches", NULL)))
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
    *out = dec_finish(&d);
    return TA_OK;
}
