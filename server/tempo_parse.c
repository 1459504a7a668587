/* tempo_parse.c — jansson and protobuf decoding of Tempo answers into owned, immutable results.
 *
 * JSON results keep the jansson root alive and borrow every string from it (jansson strings
 * are stable while their value lives; lengths come from json_string_length, so embedded NULs
 * survive); protobuf results keep a copy of the body and borrow from it. Attribute arrays live
 * in a per-result arena. The walk follows Tempo's fixed schema and never recurses on input:
 * nested AnyValue arrays and maps are skipped, not descended. */
#include "server/tempo_parse.h"

#include <jansson.h>
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"

#define UNPARSABLE "unparsable answer: "

/* ---- arena --------------------------------------------------------------------------------- */

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t cap;
    alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct arena_block *head;
};

#define ARENA_BLOCK_MIN (64u * 1024u)

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    struct arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
        b = ta_xmalloc(sizeof(*b) + cap);
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static void arena_free(struct arena *a)
{
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- JSON value helpers -------------------------------------------------------------------- */

static struct slice jstr(const json_t *v)
{
    return slice_make(json_string_value(v), json_string_length(v));
}

static bool jstr_is(const json_t *v, const char *s)
{
    return json_is_string(v) && slice_eq_cstr(jstr(v), s);
}

/* An unsigned 64-bit integer written as a JSON integer or a decimal string. */
static bool get_u64(const json_t *v, uint64_t max, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || (uint64_t)i > max)
            return false;
        *out = (uint64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0) || d > 9.2e18 || d != floor(d) || d > (double)max)
            return false;
        *out = (uint64_t)d;
        return true;
    }
    if (json_is_string(v))
        return parse_u64(jstr(v), 0, max, out, NULL) == TA_OK;
    return false;
}

static bool get_i64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= -9.2e18 && d <= 9.2e18) || d != floor(d))
            return false;
        *out = (int64_t)d;
        return true;
    }
    if (json_is_string(v))
        return parse_i64(jstr(v), INT64_MIN, INT64_MAX, out, NULL) == TA_OK;
    return false;
}

/* A double as a JSON number, or a string: "NaN", "Infinity", "-Infinity" (Go's jsonpb) or a
 * decimal. */
static bool get_double(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    struct slice s = jstr(v);
    if (slice_eq_cstr(s, "NaN")) {
        *out = NAN;
        return true;
    }
    if (slice_eq_cstr(s, "Infinity") || slice_eq_cstr(s, "+Infinity") || slice_eq_cstr(s, "Inf") ||
        slice_eq_cstr(s, "+Inf")) {
        *out = INFINITY;
        return true;
    }
    if (slice_eq_cstr(s, "-Infinity") || slice_eq_cstr(s, "-Inf")) {
        *out = -INFINITY;
        return true;
    }
    return parse_double(s, -HUGE_VAL, HUGE_VAL, out, NULL) == TA_OK;
}

/* A member that must be an array when present: *arr NULL when absent or null. */
static bool opt_array(const json_t *obj, const char *key, json_t **arr)
{
    json_t *v = json_object_get(obj, key);
    *arr = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v))
        return false;
    *arr = v;
    return true;
}

static enum ta_rc load_json(struct slice body, json_t **root, struct ta_err *err)
{
    json_error_t je;
    *root = NULL;
    if (body.len == 0)
        return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "empty body");
    json_t *r = json_loadb(body.ptr, body.len, JSON_ALLOW_NUL, &je);
    if (!r)
        return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "line %d column %d: %s", je.line, je.column,
                          je.text);
    if (!json_is_object(r)) {
        json_decref(r);
        return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "top level is not an object");
    }
    *root = r;
    return TA_OK;
}

/* Decodes an OTLP AnyValue object into *out; false for unsupported or malformed values (the
 * caller decides), *ok false only when the value is malformed. */
static bool any_value(const json_t *v, struct attr_value *out, bool *ok)
{
    *ok = true;
    if (!json_is_object(v)) {
        *ok = false;
        return false;
    }
    json_t *x;
    if ((x = json_object_get(v, "stringValue"))) {
        if (!json_is_string(x))
            return (*ok = false);
        out->type = ATTR_STRING;
        out->u.str = jstr(x);
        return true;
    }
    if ((x = json_object_get(v, "intValue"))) {
        int64_t i;
        if (!get_i64(x, &i))
            return (*ok = false);
        out->type = ATTR_INT;
        out->u.i = i;
        return true;
    }
    if ((x = json_object_get(v, "doubleValue"))) {
        double d;
        if (!get_double(x, &d))
            return (*ok = false);
        out->type = ATTR_DOUBLE;
        out->u.d = d;
        return true;
    }
    if ((x = json_object_get(v, "boolValue"))) {
        if (!json_is_boolean(x))
            return (*ok = false);
        out->type = ATTR_BOOL;
        out->u.b = json_is_true(x);
        return true;
    }
    return false; /* arrayValue, kvlistValue, bytesValue or an unset value: not comparable */
}

/* ---- build info ---------------------------------------------------------------------------- */

static bool read_uint(struct slice s, size_t *i, int *out)
{
    size_t start = *i;
    long v = 0;
    while (*i < s.len && s.ptr[*i] >= '0' && s.ptr[*i] <= '9') {
        if (v < 100000)
            v = v * 10 + (s.ptr[*i] - '0');
        (*i)++;
    }
    if (*i == start || v >= 100000)
        return false;
    *out = (int)v;
    return true;
}

void tempo_version_parse(struct slice text, struct tempo_version *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = text.len < TEMPO_VERSION_TEXT_MAX - 1 ? text.len : TEMPO_VERSION_TEXT_MAX - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text.ptr[i];
        out->text[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out->text[n] = '\0';
    struct slice s = slice_trim(text);
    size_t i = 0;
    if (i < s.len && (s.ptr[i] == 'v' || s.ptr[i] == 'V'))
        i++;
    int major, minor, patch = 0;
    if (!read_uint(s, &i, &major) || i >= s.len || s.ptr[i] != '.')
        return;
    i++;
    if (!read_uint(s, &i, &minor))
        return;
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        if (!read_uint(s, &i, &patch))
            patch = 0;
    }
    out->known = true;
    out->major = major;
    out->minor = minor;
    out->patch = patch;
}

bool tempo_version_at_least(const struct tempo_version *v, int major, int minor)
{
    if (!v->known)
        return true;
    return v->major > major || (v->major == major && v->minor >= minor);
}

enum ta_rc tempo_parse_buildinfo(struct slice body, struct tempo_version *out, struct ta_err *err)
{
    json_t *root = NULL;
    enum ta_rc rc = load_json(body, &root, err);
    if (rc != TA_OK)
        return rc;
    json_t *v = json_object_get(root, "version");
    if (!json_is_string(v)) {
        rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "buildinfo has no string \"version\"");
        goto out;
    }
    tempo_version_parse(jstr(v), out);
out:
    json_decref(root);
    return rc;
}

/* ---- metrics ------------------------------------------------------------------------------- */

struct metrics_priv {
    json_t *root;
    struct tempo_series *series;
    struct tempo_label *labels;
    struct tempo_sample *samples;
};

static enum ta_rc metrics_fail(struct ta_err *err, size_t i, const char *what)
{
    return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "series[%zu]: %s", i, what);
}

enum ta_rc tempo_parse_metrics(struct slice body, struct tempo_metrics **out, struct ta_err *err)
{
    *out = NULL;
    json_t *root = NULL;
    struct metrics_priv *p = NULL;
    struct tempo_metrics *m = NULL;
    enum ta_rc rc = load_json(body, &root, err);
    if (rc != TA_OK)
        return rc;
    json_t *series;
    if (!opt_array(root, "series", &series)) {
        rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "\"series\" is not an array");
        goto out;
    }
    size_t ns = series ? json_array_size(series) : 0;
    if (ns > TEMPO_PARSE_MAX_SERIES) {
        rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "%zu series, more than %d", ns,
                        TEMPO_PARSE_MAX_SERIES);
        goto out;
    }
    /* First pass: validate shapes and count labels and samples. */
    size_t nlabels = 0, nsamples = 0;
    for (size_t i = 0; i < ns; i++) {
        json_t *s = json_array_get(series, i), *labels = NULL, *samples = NULL;
        if (!json_is_object(s)) {
            rc = metrics_fail(err, i, "not an object");
            goto out;
        }
        if (!opt_array(s, "labels", &labels) || !opt_array(s, "samples", &samples)) {
            rc = metrics_fail(err, i, "\"labels\" or \"samples\" is not an array");
            goto out;
        }
        size_t nl = labels ? json_array_size(labels) : 0;
        if (nl > TEMPO_PARSE_MAX_LABELS) {
            rc = metrics_fail(err, i, "too many labels");
            goto out;
        }
        nlabels += nl;
        nsamples += samples ? json_array_size(samples) : 0;
        if (nsamples > TEMPO_PARSE_MAX_SAMPLES) {
            rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "more than %d samples",
                            TEMPO_PARSE_MAX_SAMPLES);
            goto out;
        }
    }
    p = ta_xcalloc(1, sizeof(*p));
    p->series = ta_xcalloc(ns ? ns : 1, sizeof(*p->series));
    p->labels = ta_xcalloc(nlabels ? nlabels : 1, sizeof(*p->labels));
    p->samples = ta_xcalloc(nsamples ? nsamples : 1, sizeof(*p->samples));
    size_t li = 0, si = 0;
    for (size_t i = 0; i < ns; i++) {
        json_t *s = json_array_get(series, i), *labels = NULL, *samples = NULL, *v;
        struct tempo_series *ts = &p->series[i];
        (void)opt_array(s, "labels", &labels);
        (void)opt_array(s, "samples", &samples);
        ts->labels = &p->labels[li];
        for (size_t j = 0; labels && j < json_array_size(labels); j++) {
            json_t *kv = json_array_get(labels, j);
            json_t *key = json_object_get(kv, "key");
            struct tempo_label *l = &p->labels[li];
            if (!json_is_object(kv) || !json_is_string(key)) {
                rc = metrics_fail(err, i, "a label has no string \"key\"");
                goto out;
            }
            l->key = jstr(key);
            json_t *val = json_object_get(kv, "value");
            bool ok = true;
            if (val)
                l->has_value = any_value(val, &l->value, &ok);
            if (!ok) {
                rc = metrics_fail(err, i, "a label has a malformed \"value\"");
                goto out;
            }
            li++;
            ts->nlabels++;
        }
        if ((v = json_object_get(s, "value")) && !json_is_null(v) && !get_double(v, &ts->value)) {
            rc = metrics_fail(err, i, "\"value\" is not a number");
            goto out;
        }
        ts->samples = &p->samples[si];
        for (size_t j = 0; samples && j < json_array_size(samples); j++) {
            json_t *smp = json_array_get(samples, j), *ts_ms, *val;
            struct tempo_sample *out_s = &p->samples[si];
            if (!json_is_object(smp)) {
                rc = metrics_fail(err, i, "a sample is not an object");
                goto out;
            }
            if ((ts_ms = json_object_get(smp, "timestampMs")) &&
                !get_i64(ts_ms, &out_s->timestamp_ms)) {
                rc = metrics_fail(err, i, "\"timestampMs\" is not an integer");
                goto out;
            }
            if ((val = json_object_get(smp, "value")) && !json_is_null(val) &&
                !get_double(val, &out_s->value)) {
                rc = metrics_fail(err, i, "a sample \"value\" is not a number");
                goto out;
            }
            si++;
            ts->nsamples++;
        }
    }
    m = ta_xcalloc(1, sizeof(*m));
    m->series = p->series;
    m->nseries = ns;
    json_t *status = json_object_get(root, "status");
    if (status && !json_is_string(status) && !json_is_integer(status)) {
        rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "\"status\" is not a string");
        goto out;
    }
    m->partial =
        jstr_is(status, "PARTIAL") || (json_is_integer(status) && json_integer_value(status) == 1);
    json_t *msg = json_object_get(root, "message");
    if (json_is_string(msg))
        m->message = jstr(msg);
    p->root = root;
    root = NULL;
    m->priv = p;
    p = NULL;
    *out = m;
    m = NULL;
out:
    if (p) {
        free(p->series);
        free(p->labels);
        free(p->samples);
        free(p);
    }
    free(m);
    json_decref(root);
    return rc;
}

void tempo_metrics_free(struct tempo_metrics *m)
{
    if (!m)
        return;
    struct metrics_priv *p = m->priv;
    if (p) {
        json_decref(p->root);
        free(p->series);
        free(p->labels);
        free(p->samples);
        free(p);
    }
    free(m);
}

const struct tempo_label *tempo_series_label(const struct tempo_series *s, struct slice key)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (slice_eq(s->labels[i].key, key))
            return &s->labels[i];
    return NULL;
}

double tempo_metrics_sum(const struct tempo_metrics *m)
{
    double sum = 0;
    for (size_t i = 0; i < m->nseries; i++)
        if (!isnan(m->series[i].value))
            sum += m->series[i].value;
    return sum;
}

/* ---- search -------------------------------------------------------------------------------- */

struct search_priv {
    json_t *root;
    struct tempo_search_trace *traces;
};

enum ta_rc tempo_trace_id_parse(struct slice hex, uint8_t out[16], struct ta_err *err)
{
    if (hex.len == 0)
        return ta_err_set(err, TA_INVALID, "empty trace id");
    if (hex.len > 32)
        return ta_err_set(err, TA_INVALID, "trace id of %zu hex digits, more than 32", hex.len);
    memset(out, 0, 16);
    /* digit k from the right goes to nibble k from the right */
    for (size_t k = 0; k < hex.len; k++) {
        int v = parse_hex_digit(hex.ptr[hex.len - 1 - k]);
        if (v < 0)
            return ta_err_set(err, TA_INVALID, "trace id: invalid hex digit at position %zu",
                              hex.len - 1 - k);
        size_t byte = 15 - k / 2;
        out[byte] |= (uint8_t)(k % 2 ? v << 4 : v);
    }
    return TA_OK;
}

void tempo_trace_id_format(const uint8_t id[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[32] = '\0';
}

static uint64_t id_hash(const uint8_t id[16])
{
    return slice_hash(slice_make((const char *)id, 16));
}

enum ta_rc tempo_parse_search(struct slice body, struct tempo_search **out, struct ta_err *err)
{
    *out = NULL;
    json_t *root = NULL;
    struct search_priv *p = NULL;
    size_t *table = NULL;
    enum ta_rc rc = load_json(body, &root, err);
    if (rc != TA_OK)
        return rc;
    json_t *traces;
    if (!opt_array(root, "traces", &traces)) {
        rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "\"traces\" is not an array");
        goto out;
    }
    size_t n = traces ? json_array_size(traces) : 0;
    if (n > TEMPO_PARSE_MAX_SEARCH) {
        rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "%zu traces, more than %d", n,
                        TEMPO_PARSE_MAX_SEARCH);
        goto out;
    }
    p = ta_xcalloc(1, sizeof(*p));
    p->traces = ta_xcalloc(n ? n : 1, sizeof(*p->traces));
    size_t tcap = 16;
    while (tcap < 2 * n)
        tcap *= 2;
    table = ta_xcalloc(tcap, sizeof(*table)); /* 0 = empty, else index + 1 */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(traces, i), *v;
        struct tempo_search_trace *st = &p->traces[kept];
        struct ta_err e;
        if (!json_is_object(t)) {
            rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "traces[%zu] is not an object", i);
            goto out;
        }
        v = json_object_get(t, "traceID");
        if (!json_is_string(v)) {
            rc =
                ta_err_set(err, TA_UPSTREAM, UNPARSABLE "traces[%zu] has no string \"traceID\"", i);
            goto out;
        }
        if (tempo_trace_id_parse(jstr(v), st->trace_id, &e) != TA_OK) {
            rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "traces[%zu]: %s", i, e.msg);
            goto out;
        }
        uint64_t u;
        if ((v = json_object_get(t, "startTimeUnixNano"))) {
            if (!get_u64(v, INT64_MAX, &u)) {
                rc = ta_err_set(err, TA_UPSTREAM,
                                UNPARSABLE "traces[%zu]: \"startTimeUnixNano\" is not an "
                                           "unsigned integer",
                                i);
                goto out;
            }
            st->start_ns = (int64_t)u;
        }
        if ((v = json_object_get(t, "durationMs"))) {
            if (!get_u64(v, UINT32_MAX, &u)) {
                rc = ta_err_set(err, TA_UPSTREAM,
                                UNPARSABLE "traces[%zu]: \"durationMs\" is not a uint32", i);
                goto out;
            }
            st->duration_ms = (uint32_t)u;
        }
        if (json_is_string(v = json_object_get(t, "rootServiceName")))
            st->root_service = jstr(v);
        size_t h = (size_t)id_hash(st->trace_id) & (tcap - 1);
        bool dup = false;
        while (table[h]) {
            if (memcmp(p->traces[table[h] - 1].trace_id, st->trace_id, 16) == 0) {
                dup = true;
                break;
            }
            h = (h + 1) & (tcap - 1);
        }
        if (dup)
            continue;
        table[h] = kept + 1;
        kept++;
    }
    struct tempo_search *s = ta_xcalloc(1, sizeof(*s));
    s->traces = p->traces;
    s->ntraces = kept;
    p->root = root;
    root = NULL;
    s->priv = p;
    p = NULL;
    *out = s;
out:
    free(table);
    if (p) {
        free(p->traces);
        free(p);
    }
    json_decref(root);
    return rc;
}

void tempo_search_free(struct tempo_search *s)
{
    if (!s)
        return;
    struct search_priv *p = s->priv;
    if (p) {
        json_decref(p->root);
        free(p->traces);
        free(p);
    }
    free(s);
}

/* ---- traces: shared builder ---------------------------------------------------------------- */

struct trace_priv {
    json_t *root;       /* JSON form */
    char *body;         /* protobuf form: copy of the body */
    struct arena arena; /* attribute arrays */
    struct span *spans;
    size_t nspans;
    size_t cap;
    struct span_attr *scratch; /* attributes being collected for one span or resource */
    size_t nscratch;
    size_t scratch_cap;
};

static struct span *new_span(struct trace_priv *p)
{
    if (p->nspans == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        p->spans = ta_xreallocarray(p->spans, cap, sizeof(*p->spans));
        p->cap = cap;
    }
    struct span *s = &p->spans[p->nspans++];
    memset(s, 0, sizeof(*s));
    return s;
}

static void scratch_push(struct trace_priv *p, struct slice key, const struct attr_value *v)
{
    if (p->nscratch == p->scratch_cap) {
        size_t cap = p->scratch_cap ? p->scratch_cap * 2 : 32;
        p->scratch = ta_xreallocarray(p->scratch, cap, sizeof(*p->scratch));
        p->scratch_cap = cap;
    }
    p->scratch[p->nscratch].key = key;
    p->scratch[p->nscratch].value = *v;
    p->nscratch++;
}

/* Moves the collected attributes into the arena. */
static struct span_attrs scratch_take(struct trace_priv *p)
{
    struct span_attrs a = { NULL, 0 };
    if (p->nscratch) {
        struct span_attr *items = arena_alloc(&p->arena, p->nscratch * sizeof(*items));
        memcpy(items, p->scratch, p->nscratch * sizeof(*items));
        a.items = items;
        a.n = (uint32_t)p->nscratch;
    }
    p->nscratch = 0;
    return a;
}

static void trace_priv_free(struct trace_priv *p)
{
    if (!p)
        return;
    json_decref(p->root);
    free(p->body);
    arena_free(&p->arena);
    free(p->spans);
    free(p->scratch);
    free(p);
}

static enum ta_rc trace_finish(struct trace_priv *p, bool partial, struct slice message,
                               struct tempo_trace **out)
{
    free(p->scratch);
    p->scratch = NULL;
    p->scratch_cap = 0;
    struct tempo_trace *t = ta_xcalloc(1, sizeof(*t));
    t->spans = p->spans;
    t->nspans = p->nspans;
    t->partial = partial;
    t->message = message;
    t->priv = p;
    *out = t;
    return TA_OK;
}

void tempo_trace_free(struct tempo_trace *t)
{
    if (!t)
        return;
    trace_priv_free(t->priv);
    free(t);
}

static bool kind_from_name(struct slice s, enum span_kind *k)
{
    static const char *const names[] = { "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER" };
    for (int i = 0; i < 6; i++)
        if (slice_eq_cstr(s, names[i])) {
            *k = (enum span_kind)i;
            return true;
        }
    return false;
}

static bool status_from_name(struct slice s, enum span_status *st)
{
    static const char *const names[] = { "STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                         "STATUS_CODE_ERROR" };
    for (int i = 0; i < 3; i++)
        if (slice_eq_cstr(s, names[i])) {
            *st = (enum span_status)i;
            return true;
        }
    return false;
}

/* An OTLP id of n bytes: base64 (Tempo's jsonpb) or 2n hex digits (OTLP/JSON); empty = zero. */
static bool decode_id(struct slice s, uint8_t *out, size_t n)
{
    memset(out, 0, n);
    if (s.len == 0)
        return true;
    if (s.len == 2 * n && parse_hex(s, out, n, NULL) == TA_OK)
        return true;
    uint8_t tmp[16];
    size_t len = 0;
    if (parse_base64(s, tmp, sizeof(tmp), &len, NULL) != TA_OK)
        return false;
    if (len == 0) {
        return true;
    }
    if (len != n)
        return false;
    memcpy(out, tmp, n);
    return true;
}

/* ---- traces: JSON -------------------------------------------------------------------------- */

static enum ta_rc json_attrs(struct trace_priv *p, const json_t *arr, const char *where, size_t idx,
                             struct ta_err *err)
{
    if (!arr || json_is_null(arr))
        return TA_OK;
    if (!json_is_array(arr))
        return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "%s %zu: \"attributes\" is not an array",
                          where, idx);
    if (json_array_size(arr) > TEMPO_PARSE_MAX_SPAN_ATTRS)
        return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "%s %zu: more than %d attributes", where,
                          idx, TEMPO_PARSE_MAX_SPAN_ATTRS);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *kv = json_array_get(arr, i);
        json_t *key = json_object_get(kv, "key");
        if (!json_is_object(kv) || !json_is_string(key))
            return ta_err_set(err, TA_UPSTREAM,
                              UNPARSABLE "%s %zu: attribute %zu has no string \"key\"", where, idx,
                              i);
        json_t *val = json_object_get(kv, "value");
        struct attr_value av;
        bool ok = true;
        if (!val || json_is_null(val))
            continue;
        if (any_value(val, &av, &ok))
            scratch_push(p, jstr(key), &av);
        else if (!ok)
            return ta_err_set(
                err, TA_UPSTREAM, UNPARSABLE "%s %zu: attribute \"%.*s\" has a malformed value",
                where, idx, (int)(json_string_length(key) > 64 ? 64 : json_string_length(key)),
                json_string_value(key));
    }
    return TA_OK;
}

static enum ta_rc span_fail(struct ta_err *err, size_t idx, const char *what)
{
    return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "span %zu: %s", idx, what);
}

static enum ta_rc json_span(struct trace_priv *p, const json_t *js, struct span_attrs resource,
                            struct ta_err *err)
{
    size_t idx = p->nspans;
    if (p->nspans >= TEMPO_PARSE_MAX_SPANS)
        return ta_err_set(err, TA_TOO_LARGE, "trace has more than %d spans", TEMPO_PARSE_MAX_SPANS);
    if (!json_is_object(js))
        return span_fail(err, idx, "not an object");
    p->nscratch = 0;
    struct span *s = new_span(p);
    s->resource = resource;
    json_t *v;
    struct {
        const char *key;
        uint8_t *dst;
        size_t n;
    } ids[] = { { "traceId", s->trace_id, 16 },
                { "spanId", s->span_id, 8 },
                { "parentSpanId", s->parent_span_id, 8 } };
    for (size_t i = 0; i < 3; i++) {
        v = json_object_get(js, ids[i].key);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v) || !decode_id(jstr(v), ids[i].dst, ids[i].n))
            return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "span %zu: malformed \"%s\"", idx,
                              ids[i].key);
    }
    if ((v = json_object_get(js, "name")) && !json_is_null(v)) {
        if (!json_is_string(v))
            return span_fail(err, idx, "\"name\" is not a string");
        s->name = jstr(v);
    }
    if ((v = json_object_get(js, "kind")) && !json_is_null(v)) {
        if (json_is_string(v)) {
            if (!kind_from_name(jstr(v), &s->kind))
                return span_fail(err, idx, "unknown \"kind\"");
        } else if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 5) {
            s->kind = (enum span_kind)json_integer_value(v);
        } else {
            return span_fail(err, idx, "\"kind\" is neither a name nor 0..5");
        }
    }
    uint64_t start = 0, end = 0;
    if ((v = json_object_get(js, "startTimeUnixNano")) && !get_u64(v, INT64_MAX, &start))
        return span_fail(err, idx, "\"startTimeUnixNano\" is not an unsigned 63-bit integer");
    if ((v = json_object_get(js, "endTimeUnixNano")) && !get_u64(v, INT64_MAX, &end))
        return span_fail(err, idx, "\"endTimeUnixNano\" is not an unsigned 63-bit integer");
    s->start_ns = (int64_t)start;
    s->end_ns = end < start ? (int64_t)start : (int64_t)end;
    if ((v = json_object_get(js, "status")) && !json_is_null(v)) {
        if (!json_is_object(v))
            return span_fail(err, idx, "\"status\" is not an object");
        json_t *code = json_object_get(v, "code");
        if (code && !json_is_null(code)) {
            if (json_is_string(code)) {
                if (!status_from_name(jstr(code), &s->status))
                    return span_fail(err, idx, "unknown status \"code\"");
            } else if (json_is_integer(code) && json_integer_value(code) >= 0 &&
                       json_integer_value(code) <= 2) {
                s->status = (enum span_status)json_integer_value(code);
            } else {
                return span_fail(err, idx, "status \"code\" is neither a name nor 0..2");
            }
        }
    }
    enum ta_rc rc = json_attrs(p, json_object_get(js, "attributes"), "span", idx, err);
    if (rc != TA_OK)
        return rc;
    /* new_span may have moved the array: re-find the span by index */
    p->spans[idx].attrs = scratch_take(p);
    return TA_OK;
}

static enum ta_rc json_resource_spans(struct trace_priv *p, const json_t *arr, struct ta_err *err)
{
    if (!json_is_array(arr))
        return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "resourceSpans is not an array");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *rs = json_array_get(arr, i), *res, *scopes;
        if (!json_is_object(rs))
            return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "resourceSpans[%zu] is not an object",
                              i);
        struct span_attrs resource = { NULL, 0 };
        res = json_object_get(rs, "resource");
        if (res && !json_is_null(res)) {
            if (!json_is_object(res))
                return ta_err_set(err, TA_UPSTREAM,
                                  UNPARSABLE "resourceSpans[%zu].resource is not an object", i);
            p->nscratch = 0;
            enum ta_rc rc = json_attrs(p, json_object_get(res, "attributes"), "resource", i, err);
            if (rc != TA_OK)
                return rc;
            resource = scratch_take(p);
        }
        scopes = json_object_get(rs, "scopeSpans");
        if (!scopes)
            scopes = json_object_get(rs, "instrumentationLibrarySpans"); /* OTLP < 0.15 */
        if (!scopes || json_is_null(scopes))
            continue;
        if (!json_is_array(scopes))
            return ta_err_set(err, TA_UPSTREAM,
                              UNPARSABLE "resourceSpans[%zu].scopeSpans is not an array", i);
        for (size_t j = 0; j < json_array_size(scopes); j++) {
            json_t *ss = json_array_get(scopes, j), *spans;
            if (!json_is_object(ss))
                return ta_err_set(err, TA_UPSTREAM,
                                  UNPARSABLE "resourceSpans[%zu].scopeSpans[%zu] is not an object",
                                  i, j);
            if (!opt_array(ss, "spans", &spans))
                return ta_err_set(err, TA_UPSTREAM,
                                  UNPARSABLE "resourceSpans[%zu].scopeSpans[%zu].spans is not an "
                                             "array",
                                  i, j);
            for (size_t k = 0; spans && k < json_array_size(spans); k++) {
                enum ta_rc rc = json_span(p, json_array_get(spans, k), resource, err);
                if (rc != TA_OK)
                    return rc;
            }
        }
    }
    return TA_OK;
}

enum ta_rc tempo_parse_trace_json(struct slice body, struct tempo_trace **out, struct ta_err *err)
{
    *out = NULL;
    json_t *root = NULL;
    enum ta_rc rc = load_json(body, &root, err);
    if (rc != TA_OK)
        return rc;
    struct trace_priv *p = ta_xcalloc(1, sizeof(*p));
    p->root = root;
    bool partial = false;
    struct slice message = SLICE_NULL;
    const json_t *holder = root; /* the object holding resourceSpans or batches */
    json_t *trace = json_object_get(root, "trace");
    if (trace) {
        json_t *status = json_object_get(root, "status"), *msg = json_object_get(root, "message");
        if (json_is_null(trace)) {
            holder = NULL;
        } else if (!json_is_object(trace)) {
            rc = ta_err_set(err, TA_UPSTREAM, UNPARSABLE "\"trace\" is not an object");
            goto out;
        } else {
            holder = trace;
        }
        /* 2.8+ "PARTIAL"; 2.7 had a nested enum object, read leniently */
        partial = jstr_is(status, "PARTIAL") ||
                  (json_is_integer(status) && json_integer_value(status) == 1);
        if (json_is_string(msg))
            message = jstr(msg);
    }
    if (holder) {
        json_t *rs = json_object_get(holder, "resourceSpans");
        if (!rs)
            rs = json_object_get(holder, "batches");
        if (rs && !json_is_null(rs)) {
            rc = json_resource_spans(p, rs, err);
            if (rc != TA_OK)
                goto out;
        }
    }
    rc = trace_finish(p, partial, message, out);
    p = NULL;
out:
    trace_priv_free(p);
    return rc;
}

/* ---- traces: protobuf ---------------------------------------------------------------------- */

/* A bounded protobuf reader: each call checks the remaining length first. */
struct pb {
    const uint8_t *p;
    const uint8_t *end;
};

enum {
    PB_VARINT = 0,
    PB_I64 = 1,
    PB_LEN = 2,
    PB_I32 = 5
};

static bool pb_varint(struct pb *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return false;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false; /* more than 10 bytes */
}

static bool pb_tag(struct pb *r, uint32_t *field, int *wt)
{
    uint64_t t;
    if (!pb_varint(r, &t) || (t >> 3) == 0 || (t >> 3) > 0x1fffffff)
        return false;
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    return true;
}

static bool pb_bytes(struct pb *r, struct pb *sub)
{
    uint64_t len;
    if (!pb_varint(r, &len) || len > (uint64_t)(r->end - r->p))
        return false;
    sub->p = r->p;
    sub->end = r->p + len;
    r->p += len;
    return true;
}

static bool pb_fixed64(struct pb *r, uint64_t *v)
{
    if (r->end - r->p < 8)
        return false;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | r->p[i];
    r->p += 8;
    *v = x;
    return true;
}

static bool pb_skip(struct pb *r, int wt)
{
    uint64_t v;
    struct pb sub;
    switch (wt) {
    case PB_VARINT:
        return pb_varint(r, &v);
    case PB_I64:
        if (r->end - r->p < 8)
            return false;
        r->p += 8;
        return true;
    case PB_LEN:
        return pb_bytes(r, &sub);
    case PB_I32:
        if (r->end - r->p < 4)
            return false;
        r->p += 4;
        return true;
    default:
        return false; /* groups (3, 4) are not used by these messages */
    }
}

static struct slice pb_slice(const struct pb *b)
{
    return slice_make((const char *)b->p, (size_t)(b->end - b->p));
}

#define PB_BAD(what) ta_err_set(err, TA_UPSTREAM, UNPARSABLE "protobuf: %s", what)

/* AnyValue: 1 string, 2 bool, 3 int64, 4 double; 5 array, 6 kvlist, 7 bytes are skipped. */
static bool pb_any_value(struct pb r, struct attr_value *out, bool *has)
{
    *has = false;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v;
        struct pb sub;
        if (!pb_tag(&r, &f, &wt))
            return false;
        if (f == 1 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return false;
            out->type = ATTR_STRING;
            out->u.str = pb_slice(&sub);
            *has = true;
        } else if (f == 2 && wt == PB_VARINT) {
            if (!pb_varint(&r, &v))
                return false;
            out->type = ATTR_BOOL;
            out->u.b = v != 0;
            *has = true;
        } else if (f == 3 && wt == PB_VARINT) {
            if (!pb_varint(&r, &v))
                return false;
            out->type = ATTR_INT;
            out->u.i = (int64_t)v;
            *has = true;
        } else if (f == 4 && wt == PB_I64) {
            if (!pb_fixed64(&r, &v))
                return false;
            double d;
            memcpy(&d, &v, sizeof(d));
            out->type = ATTR_DOUBLE;
            out->u.d = d;
            *has = true;
        } else if (f >= 5 && f <= 7) {
            if (!pb_skip(&r, wt))
                return false;
            *has = false;
        } else if (!pb_skip(&r, wt)) {
            return false;
        }
    }
    return true;
}

/* One KeyValue into the scratch list. */
static enum ta_rc pb_key_value(struct trace_priv *p, struct pb r, size_t *count, struct ta_err *err)
{
    struct slice key = SLICE_NULL;
    struct attr_value av;
    bool has = false;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        struct pb sub;
        if (!pb_tag(&r, &f, &wt))
            return PB_BAD("bad tag in KeyValue");
        if (f == 1 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated KeyValue key");
            key = pb_slice(&sub);
        } else if (f == 2 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub) || !pb_any_value(sub, &av, &has))
                return PB_BAD("malformed AnyValue");
        } else if (!pb_skip(&r, wt)) {
            return PB_BAD("truncated KeyValue");
        }
    }
    if (++*count > TEMPO_PARSE_MAX_SPAN_ATTRS)
        return ta_err_set(err, TA_UPSTREAM, UNPARSABLE "more than %d attributes",
                          TEMPO_PARSE_MAX_SPAN_ATTRS);
    if (has)
        scratch_push(p, key, &av);
    return TA_OK;
}

static enum ta_rc pb_status(struct pb r, enum span_status *st, struct ta_err *err)
{
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v;
        if (!pb_tag(&r, &f, &wt))
            return PB_BAD("bad tag in Status");
        if (f == 3 && wt == PB_VARINT) {
            if (!pb_varint(&r, &v))
                return PB_BAD("truncated Status code");
            if (v > 2)
                return PB_BAD("unknown status code");
            *st = (enum span_status)v;
        } else if (!pb_skip(&r, wt)) {
            return PB_BAD("truncated Status");
        }
    }
    return TA_OK;
}

static enum ta_rc pb_span(struct trace_priv *p, struct pb r, struct span_attrs resource,
                          struct ta_err *err)
{
    if (p->nspans >= TEMPO_PARSE_MAX_SPANS)
        return ta_err_set(err, TA_TOO_LARGE, "trace has more than %d spans", TEMPO_PARSE_MAX_SPANS);
    size_t idx = p->nspans;
    struct span *s = new_span(p);
    s->resource = resource;
    uint64_t start = 0, end = 0;
    size_t nattrs = 0;
    p->nscratch = 0;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        uint64_t v;
        struct pb sub;
        if (!pb_tag(&r, &f, &wt))
            return PB_BAD("bad tag in Span");
        s = &p->spans[idx];
        if ((f == 1 || f == 2 || f == 4) && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated Span id");
            size_t len = (size_t)(sub.end - sub.p), want = f == 1 ? 16 : 8;
            uint8_t *dst = f == 1 ? s->trace_id : f == 2 ? s->span_id : s->parent_span_id;
            if (len != 0 && len != want)
                return ta_err_set(err, TA_UPSTREAM,
                                  UNPARSABLE "protobuf: span %zu: id of %zu "
                                             "bytes",
                                  idx, len);
            memset(dst, 0, want);
            if (len)
                memcpy(dst, sub.p, len);
        } else if (f == 5 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated Span name");
            s->name = pb_slice(&sub);
        } else if (f == 6 && wt == PB_VARINT) {
            if (!pb_varint(&r, &v) || v > 5)
                return PB_BAD("bad Span kind");
            s->kind = (enum span_kind)v;
        } else if ((f == 7 || f == 8) && wt == PB_I64) {
            if (!pb_fixed64(&r, &v))
                return PB_BAD("truncated Span time");
            if (v > INT64_MAX)
                return PB_BAD("Span time out of range");
            if (f == 7)
                start = v;
            else
                end = v;
        } else if (f == 9 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated Span attribute");
            enum ta_rc rc = pb_key_value(p, sub, &nattrs, err);
            if (rc != TA_OK)
                return rc;
        } else if (f == 15 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated Span status");
            enum ta_rc rc = pb_status(sub, &s->status, err);
            if (rc != TA_OK)
                return rc;
        } else if (!pb_skip(&r, wt)) {
            return PB_BAD("truncated Span");
        }
    }
    s = &p->spans[idx];
    s->start_ns = (int64_t)start;
    s->end_ns = end < start ? (int64_t)start : (int64_t)end;
    s->attrs = scratch_take(p);
    return TA_OK;
}

static enum ta_rc pb_scope_spans(struct trace_priv *p, struct pb r, struct span_attrs resource,
                                 struct ta_err *err)
{
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        struct pb sub;
        if (!pb_tag(&r, &f, &wt))
            return PB_BAD("bad tag in ScopeSpans");
        if (f == 2 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated Span");
            enum ta_rc rc = pb_span(p, sub, resource, err);
            if (rc != TA_OK)
                return rc;
        } else if (!pb_skip(&r, wt)) {
            return PB_BAD("truncated ScopeSpans");
        }
    }
    return TA_OK;
}

static enum ta_rc pb_resource(struct trace_priv *p, struct pb r, struct span_attrs *out,
                              struct ta_err *err)
{
    size_t n = 0;
    p->nscratch = 0;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        struct pb sub;
        if (!pb_tag(&r, &f, &wt))
            return PB_BAD("bad tag in Resource");
        if (f == 1 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated Resource attribute");
            enum ta_rc rc = pb_key_value(p, sub, &n, err);
            if (rc != TA_OK)
                return rc;
        } else if (!pb_skip(&r, wt)) {
            return PB_BAD("truncated Resource");
        }
    }
    *out = scratch_take(p);
    return TA_OK;
}

/* ResourceSpans: 1 resource, 2 scopeSpans (1000: instrumentationLibrarySpans, same shape). The
 * resource may come after the spans on the wire, so it is decoded first in a separate pass. */
static enum ta_rc pb_resource_spans(struct trace_priv *p, struct pb r, struct ta_err *err)
{
    struct span_attrs resource = { NULL, 0 };
    struct pb scan = r;
    while (scan.p < scan.end) {
        uint32_t f;
        int wt;
        struct pb sub;
        if (!pb_tag(&scan, &f, &wt))
            return PB_BAD("bad tag in ResourceSpans");
        if (f == 1 && wt == PB_LEN) {
            if (!pb_bytes(&scan, &sub))
                return PB_BAD("truncated Resource");
            enum ta_rc rc = pb_resource(p, sub, &resource, err);
            if (rc != TA_OK)
                return rc;
        } else if (!pb_skip(&scan, wt)) {
            return PB_BAD("truncated ResourceSpans");
        }
    }
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        struct pb sub;
        if (!pb_tag(&r, &f, &wt))
            return PB_BAD("bad tag in ResourceSpans");
        if ((f == 2 || f == 1000) && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated ScopeSpans");
            enum ta_rc rc = pb_scope_spans(p, sub, resource, err);
            if (rc != TA_OK)
                return rc;
        } else if (!pb_skip(&r, wt)) {
            return PB_BAD("truncated ResourceSpans");
        }
    }
    return TA_OK;
}

/* tempopb.Trace / TracesData: 1 resourceSpans (repeated). */
static enum ta_rc pb_trace(struct trace_priv *p, struct pb r, struct ta_err *err)
{
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        struct pb sub;
        if (!pb_tag(&r, &f, &wt))
            return PB_BAD("bad tag in Trace");
        if (f == 1 && wt == PB_LEN) {
            if (!pb_bytes(&r, &sub))
                return PB_BAD("truncated ResourceSpans");
            enum ta_rc rc = pb_resource_spans(p, sub, err);
            if (rc != TA_OK)
                return rc;
        } else if (!pb_skip(&r, wt)) {
            return PB_BAD("truncated Trace");
        }
    }
    return TA_OK;
}

enum ta_rc tempo_parse_trace_proto(struct slice body, bool wrapped, struct tempo_trace **out,
                                   struct ta_err *err)
{
    *out = NULL;
    enum ta_rc rc = TA_OK;
    struct trace_priv *p = ta_xcalloc(1, sizeof(*p));
    p->body = ta_xmalloc(body.len ? body.len : 1);
    if (body.len)
        memcpy(p->body, body.ptr, body.len);
    struct pb r = { (const uint8_t *)p->body, (const uint8_t *)p->body + body.len };
    bool partial = false;
    struct slice message = SLICE_NULL;
    if (!wrapped) {
        rc = pb_trace(p, r, err);
        if (rc != TA_OK)
            goto out;
    } else {
        while (r.p < r.end) {
            uint32_t f;
            int wt;
            uint64_t v;
            struct pb sub;
            if (!pb_tag(&r, &f, &wt)) {
                rc = PB_BAD("bad tag in TraceByIDResponse");
                goto out;
            }
            if (f == 1 && wt == PB_LEN) {
                if (!pb_bytes(&r, &sub)) {
                    rc = PB_BAD("truncated Trace");
                    goto out;
                }
                rc = pb_trace(p, sub, err);
                if (rc != TA_OK)
                    goto out;
            } else if (f == 3 && wt == PB_VARINT) {
                if (!pb_varint(&r, &v)) {
                    rc = PB_BAD("truncated status");
                    goto out;
                }
                partial = v == 1;
            } else if (f == 4 && wt == PB_LEN) {
                if (!pb_bytes(&r, &sub)) {
                    rc = PB_BAD("truncated message");
                    goto out;
                }
                message = pb_slice(&sub);
            } else if (!pb_skip(&r, wt)) {
                rc = PB_BAD("truncated TraceByIDResponse");
                goto out;
            }
        }
    }
    rc = trace_finish(p, partial, message, out);
    p = NULL;
out:
    trace_priv_free(p);
    return rc;
}
