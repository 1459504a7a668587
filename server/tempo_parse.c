/* tempo_parse.c — jansson and protobuf decoding of Tempo answers into owned, immutable results.
 *
 * JSON results keep the jansson root alive and borrow every string from it (jansson strings
 * are stable while their value lives; lengths come from json_string_length, so embedded NULs
 * survive). Traces are OTLP and are decoded by server/otlp_decode in read-back mode: here only
 * the TraceByIDResponse envelope is read (jansson, pbwire); a protobuf trace keeps a copy of
 * its Trace bytes, which the spans borrow. No walk recurses on input. */
#include "server/tempo_parse.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "server/otlp_decode.h"
#include "server/pbwire.h"

#define UNPARSABLE "unparsable answer: "

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

/* ---- traces -------------------------------------------------------------------------------- */

/* Traces are OTLP: server/otlp_decode reads them, in read-back mode (see otlp_decode_opts). */
static const struct otlp_decode_opts TRACE_OPTS = {
    .max_spans = TEMPO_PARSE_MAX_SPANS,
    .max_attrs = TEMPO_PARSE_MAX_SPAN_ATTRS,
    .stored = true,
};

struct trace_priv {
    json_t *root;             /* JSON: the answer ("message" borrows from it) */
    char *body;               /* protobuf: the Trace bytes, then the message, copied */
    struct otlp_batch *batch; /* the spans: borrow from body, or hold a reference to root's tree */
};

static void trace_priv_free(struct trace_priv *p)
{
    if (!p)
        return;
    json_decref(p->root); /* the batch may hold the trace's subtree: freed with it */
    otlp_batch_free(p->batch);
    free(p->body);
    free(p);
}

static void trace_finish(struct trace_priv *p, bool partial, struct slice message,
                         struct tempo_trace **out)
{
    struct tempo_trace *t = ta_xcalloc(1, sizeof(*t));
    t->spans = p->batch ? p->batch->spans : NULL;
    t->nspans = p->batch ? p->batch->n : 0;
    t->partial = partial;
    t->message = message;
    t->priv = p;
    *out = t;
}

/* An otlp_decode failure in this module's terms. Its only TA_TOO_LARGE for a body within
 * OTLP_BODY_MAX (checked before) is the span limit. */
static enum ta_rc trace_fail(enum ta_rc rc, struct ta_err *err)
{
    if (rc == TA_TOO_LARGE)
        return ta_err_set(err, TA_TOO_LARGE, "trace has more than %d spans", TEMPO_PARSE_MAX_SPANS);
    if (err) {
        ta_err_prefix(err, "unparsable answer");
        err->rc = TA_UPSTREAM;
    }
    return TA_UPSTREAM;
}

void tempo_trace_free(struct tempo_trace *t)
{
    if (!t)
        return;
    trace_priv_free(t->priv);
    free(t);
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
    json_t *holder = root; /* the object holding resourceSpans or batches */
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
        rc = otlp_decode_json_tree(holder, &TRACE_OPTS, NULL, &p->batch, err);
        if (rc != TA_OK) {
            rc = trace_fail(rc, err);
            goto out;
        }
    }
    trace_finish(p, partial, message, out);
    p = NULL;
out:
    trace_priv_free(p);
    return rc;
}

/* One walk over a TraceByIDResponse { Trace trace = 1; metrics = 2; PartialStatus status = 3;
 * string message = 4 }: with dst NULL it checks the fields and sums the trace bytes into
 * *trace_len; with dst it copies them there. A repeated trace field merges as protobuf says,
 * by concatenation (Trace's one field is repeated). Last status and message win. */
static enum ta_rc proto_envelope(struct slice body, char *dst, size_t *trace_len, uint64_t *status,
                                 struct slice *message, struct ta_err *err)
{
    struct pbwire r;
    size_t n = 0;
    enum ta_rc rc = TA_OK;
    pbwire_init(&r, body);
    while (rc == TA_OK && !pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        struct slice s;
        rc = pbwire_read_tag(&r, &f, &t, err);
        if (rc != TA_OK)
            break;
        enum pbwire_type want = f == 1 || f == 4 ? PBWIRE_LEN : f == 3 ? PBWIRE_VARINT : t;
        if (t != want) {
            rc = pbwire_wrong_type(&r, f, t, want, err);
        } else if (f == 1) {
            rc = pbwire_read_len(&r, &s, err);
            if (rc == TA_OK && dst)
                memcpy(dst + n, s.ptr, s.len);
            n += s.len;
        } else if (f == 3) {
            rc = pbwire_read_varint(&r, status, err);
        } else if (f == 4) {
            rc = pbwire_read_len(&r, message, err);
        } else {
            rc = pbwire_skip(&r, t, err);
        }
    }
    *trace_len = n;
    return rc;
}

enum ta_rc tempo_parse_trace_proto(struct slice body, bool wrapped, struct tempo_trace **out,
                                   struct ta_err *err)
{
    *out = NULL;
    if (body.len > OTLP_BODY_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "answer of %zu bytes is over the limit of %u",
                          body.len, OTLP_BODY_MAX);
    enum ta_rc rc = TA_OK;
    struct trace_priv *p = ta_xcalloc(1, sizeof(*p));
    struct slice trace = body, message = SLICE_NULL;
    uint64_t status = 0;
    if (wrapped) {
        rc = proto_envelope(body, NULL, &trace.len, &status, &message, err);
        if (rc != TA_OK) {
            ta_err_prefix(err, "TraceByIDResponse");
            rc = trace_fail(rc, err);
            goto out;
        }
    }
    /* the spans borrow from the copy; a wrapped answer keeps only the Trace and message */
    p->body = ta_xmalloc(trace.len + message.len + 1);
    if (wrapped)
        proto_envelope(body, p->body, &trace.len, &status, &message, NULL);
    else if (body.len)
        memcpy(p->body, body.ptr, body.len);
    if (message.len)
        memcpy(p->body + trace.len, message.ptr, message.len);
    trace = slice_make(p->body, trace.len);
    message = slice_make(p->body + trace.len, message.len);
    rc = otlp_decode_protobuf_opts(trace, &TRACE_OPTS, NULL, &p->batch, err);
    if (rc != TA_OK) {
        if (wrapped)
            ta_err_prefix(err, "trace");
        rc = trace_fail(rc, err);
        goto out;
    }
    trace_finish(p, status == 1, message, out);
    p = NULL;
out:
    trace_priv_free(p);
    return rc;
}
