/* tempo_bench.c — figures for the Tempo source that need no Tempo: the refined p95's error next
 * to Tempo's own quantile_over_time on several latency distributions, and the time to decode
 * and evaluate (io_share) 100 fetched traces of 1,000 spans, as JSON and as protobuf.
 *
 * Built and run by hack/bench/tempo.sh (links build/tempo-bench/libta.a). Output: plain text
 * tables. The probe callback counts over the synthetic array exactly as Tempo's
 * `{ F && duration > T } | count_over_time()` would, so the accuracy figures are those the
 * adapter gets from a real Tempo holding the same spans. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/buf.h"
#include "apis/base/clock.h"
#include "rules/ioshare.h"
#include "rules/traceql.h"
#include "server/tempo_parse.h"
#include "server/tempo_quantile.h"

/* ---- random numbers ------------------------------------------------------------------------ */

static uint64_t rng_state;

static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double nrand(void)
{
    return sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
}

/* ---- quantile accuracy --------------------------------------------------------------------- */

struct arr {
    int64_t *d;
    size_t n;
};

static enum ta_rc count_above(void *ctx, int64_t t, uint64_t *count, struct ta_err *err)
{
    (void)err;
    const struct arr *a = ctx;
    uint64_t c = 0;
    for (size_t i = 0; i < a->n; i++)
        c += a->d[i] > t;
    *count = c;
    return TA_OK;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double gen(int kind)
{
    double v;
    switch (kind) {
    case 0: /* lognormal, median 250 ms, 1 ms .. 60 s */
        do
            v = exp(log(0.25) + 1.4 * nrand());
        while (v < 0.001 || v > 60);
        return v;
    case 1: /* bimodal: cache hits ~2 ms, misses ~800 ms */
        return urand() < 0.7 ? 0.002 * exp(0.2 * nrand()) : 0.8 * exp(0.3 * nrand());
    case 2: /* uniform 1 ms .. 60 s */
        return 0.001 + urand() * (60 - 0.001);
    default: /* heavy tail: Pareto alpha 1.2 from 5 ms, capped at 60 s */
        v = 0.005 / pow(urand(), 1 / 1.2);
        return v > 60 ? 60 : v;
    }
}

static void accuracy(void)
{
    static const char *const names[] = { "lognormal 1ms-60s", "bimodal", "uniform 1ms-60s",
                                         "heavy tail (Pareto 1.2)" };
    static const size_t sizes[] = { 100, 1000, 10000 };
    enum {
        RUNS = 30
    };
    printf("p95 relative error vs exact nearest rank, %d data sets per cell (mean / max)\n", RUNS);
    printf("%-24s %7s  %-21s %-21s %s\n", "distribution", "spans", "adapter (6 probes)",
           "tempo quantile_over", "queries");
    for (int k = 0; k < 4; k++) {
        for (size_t si = 0; si < 3; si++) {
            size_t n = sizes[si];
            double sum_a = 0, max_a = 0, sum_t = 0, max_t = 0;
            int max_q = 0;
            for (int run = 0; run < RUNS; run++) {
                rng_state = 0x9E3779B97F4A7C15ULL * (uint64_t)(k * 1000 + (int)si * 100 + run + 1);
                struct arr a = { malloc(n * sizeof(int64_t)), n };
                uint64_t counts[64] = { 0 };
                for (size_t i = 0; i < n; i++) {
                    a.d[i] = (int64_t)(gen(k) * 1e9);
                    int b = 1;
                    while (((int64_t)1 << b) < a.d[i])
                        b++;
                    counts[b]++;
                }
                struct tempo_hist_bucket hb[64];
                size_t nb = 0;
                for (int b = 1; b < 63; b++)
                    if (counts[b])
                        hb[nb++] = (struct tempo_hist_bucket){ (int64_t)1 << b, counts[b] };
                struct tempo_quantile_result r;
                tempo_quantile_refine(hb, nb, n, 0.95, 6, count_above, &a, &r, NULL);
                double t = tempo_quantile_tempo_estimate(hb, nb, 0.95);
                qsort(a.d, n, sizeof(int64_t), cmp64);
                double exact = (double)a.d[(size_t)ceil(0.95 * (double)n) - 1] / 1e9;
                double ea = fabs(r.value_s - exact) / exact, et = fabs(t - exact) / exact;
                sum_a += ea;
                sum_t += et;
                max_a = ea > max_a ? ea : max_a;
                max_t = et > max_t ? et : max_t;
                max_q = 2 + r.probes > max_q ? 2 + r.probes : max_q;
                free(a.d);
            }
            printf("%-24s %7zu  %6.3f%% / %6.3f%%     %6.2f%% / %6.2f%%     %d\n", names[k], n,
                   100 * sum_a / RUNS, 100 * max_a, 100 * sum_t / RUNS, 100 * max_t, max_q);
        }
    }
}

/* ---- decode and evaluate ------------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = '\0';
}

struct gspan {
    uint8_t id[8], parent[8];
    int kind; /* OTLP number */
    int64_t start, end;
    int service;
};

/* One trace of n spans: a server root, then spans whose parent is a random earlier span and
 * whose interval lies inside it; kinds internal 40 %, client 45 %, server 10 %, producer 5 %. */
static void make_trace(struct gspan *s, size_t n, uint64_t seed)
{
    rng_state = seed;
    int64_t t0 = 1700000000LL * 1000000000LL;
    memset(s, 0, n * sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        uint64_t id = seed * 100000 + i + 1;
        memcpy(s[i].id, &id, 8);
        if (i == 0) {
            s[i].kind = 2;
            s[i].start = t0;
            s[i].end = t0 + 2000000000LL;
            continue;
        }
        size_t p = (size_t)(urand() * (double)i);
        memcpy(s[i].parent, s[p].id, 8);
        double u = urand();
        s[i].kind = u < 0.4 ? 1 : u < 0.85 ? 3 : u < 0.95 ? 2 : 4;
        int64_t len = s[p].end - s[p].start;
        s[i].start = s[p].start + (int64_t)(urand() * 0.5 * (double)len);
        s[i].end = s[i].start + (int64_t)(urand() * (double)(s[p].end - s[i].start));
        s[i].service = s[i].kind == 2 ? (int)(urand() * 10) : s[p].service;
    }
}

static const char *const KIND_NAMES[] = { "", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                          "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER" };

/* The /api/v2/traces JSON of a generated trace, as Tempo's jsonpb writes it. */
static char *trace_json(const struct gspan *s, size_t n, size_t *len)
{
    struct buf b;
    uint8_t tid[16] = { 0xab, 0xcd };
    char t64[32], id64[16], p64[16];
    b64(tid, 16, t64);
    buf_init(&b, 64u << 20);
    int ok = buf_adds(&b, "{\"trace\":{\"resourceSpans\":[") == TA_OK;
    for (int svc = 0; svc < 10 && ok; svc++) {
        ok &= buf_addf(&b,
                       "%s{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
                       "\"stringValue\":\"svc-%d\"}},{\"key\":\"k8s.namespace.name\",\"value\":{"
                       "\"stringValue\":\"shop\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"x\"},"
                       "\"spans\":[",
                       svc ? "," : "", svc) == TA_OK;
        int first = 1;
        for (size_t i = 0; i < n && ok; i++) {
            if (s[i].service != svc)
                continue;
            b64(s[i].id, 8, id64);
            b64(s[i].parent, 8, p64);
            ok &= buf_addf(&b,
                           "%s{\"traceId\":\"%s\",\"spanId\":\"%s\"%s%s%s,\"name\":\"op %zu\","
                           "\"kind\":\"%s\",\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":"
                           "\"%lld\",\"attributes\":[{\"key\":\"http.route\",\"value\":{"
                           "\"stringValue\":\"/r/%zu\"}},{\"key\":\"http.status_code\",\"value\":{"
                           "\"intValue\":\"200\"}},{\"key\":\"db.system\",\"value\":{"
                           "\"stringValue\":\"postgresql\"}}],\"status\":{}}",
                           first ? "" : ",", t64, id64, i ? ",\"parentSpanId\":\"" : "",
                           i ? p64 : "", i ? "\"" : "", i % 50, KIND_NAMES[s[i].kind],
                           (long long)s[i].start, (long long)s[i].end, i % 20) == TA_OK;
            first = 0;
        }
        ok &= buf_adds(&b, "]}]}") == TA_OK;
    }
    ok &= buf_adds(&b, "]}}") == TA_OK;
    if (!ok) {
        fprintf(stderr, "trace_json: buffer too small\n");
        exit(1);
    }
    return buf_take(&b, len);
}

/* Protobuf writer. */
struct pbw {
    uint8_t *p;
    size_t n, cap;
};

static void pw_need(struct pbw *w, size_t k)
{
    if (w->n + k > w->cap) {
        w->cap = (w->n + k) * 2;
        w->p = realloc(w->p, w->cap);
    }
}

static void pw_varint(struct pbw *w, uint64_t v)
{
    pw_need(w, 10);
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        w->p[w->n++] = c | (v ? 0x80 : 0);
    } while (v);
}

static void pw_bytes(struct pbw *w, uint32_t f, const void *p, size_t n)
{
    pw_varint(w, (uint64_t)f << 3 | 2);
    pw_varint(w, n);
    pw_need(w, n);
    memcpy(w->p + w->n, p, n);
    w->n += n;
}

static void pw_fixed64(struct pbw *w, uint32_t f, uint64_t v)
{
    pw_varint(w, (uint64_t)f << 3 | 1);
    pw_need(w, 8);
    for (int i = 0; i < 8; i++)
        w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void pw_kv(struct pbw *w, uint32_t f, const char *k, const char *v)
{
    struct pbw any = { 0 }, kv = { 0 };
    pw_bytes(&any, 1, v, strlen(v));
    pw_bytes(&kv, 1, k, strlen(k));
    pw_bytes(&kv, 2, any.p, any.n);
    pw_bytes(w, f, kv.p, kv.n);
    free(any.p);
    free(kv.p);
}

static char *trace_proto(const struct gspan *s, size_t n, size_t *len)
{
    uint8_t tid[16] = { 0xab, 0xcd };
    struct pbw trace = { 0 };
    char tmp[64];
    for (int svc = 0; svc < 10; svc++) {
        struct pbw res = { 0 }, scope = { 0 }, rs = { 0 };
        snprintf(tmp, sizeof(tmp), "svc-%d", svc);
        pw_kv(&res, 1, "service.name", tmp);
        pw_kv(&res, 1, "k8s.namespace.name", "shop");
        for (size_t i = 0; i < n; i++) {
            if (s[i].service != svc)
                continue;
            struct pbw sp = { 0 };
            pw_bytes(&sp, 1, tid, 16);
            pw_bytes(&sp, 2, s[i].id, 8);
            if (i)
                pw_bytes(&sp, 4, s[i].parent, 8);
            snprintf(tmp, sizeof(tmp), "op %zu", i % 50);
            pw_bytes(&sp, 5, tmp, strlen(tmp));
            pw_varint(&sp, 6 << 3);
            pw_varint(&sp, (uint64_t)s[i].kind);
            pw_fixed64(&sp, 7, (uint64_t)s[i].start);
            pw_fixed64(&sp, 8, (uint64_t)s[i].end);
            snprintf(tmp, sizeof(tmp), "/r/%zu", i % 20);
            pw_kv(&sp, 9, "http.route", tmp);
            pw_kv(&sp, 9, "db.system", "postgresql");
            pw_bytes(&sp, 15, "", 0);
            pw_bytes(&scope, 2, sp.p, sp.n);
            free(sp.p);
        }
        pw_bytes(&rs, 1, res.p, res.n);
        pw_bytes(&rs, 2, scope.p, scope.n);
        pw_bytes(&trace, 1, rs.p, rs.n);
        free(res.p);
        free(scope.p);
        free(rs.p);
    }
    struct pbw out = { 0 };
    pw_bytes(&out, 1, trace.p, trace.n);
    free(trace.p);
    *len = out.n;
    return (char *)out.p;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void decode_and_evaluate(void)
{
    enum {
        TRACES = 100,
        SPANS = 1000,
        RUNS = 7
    };
    struct traceql_node *parent = NULL, *io = NULL;
    traceql_parse(SLICE_LIT("{ kind = server }"), &parent, NULL);
    traceql_parse(SLICE_LIT("{ kind = client || kind = producer || span.db.system != nil }"), &io,
                  NULL);
    char *json[TRACES], *proto[TRACES];
    size_t jl[TRACES], pl[TRACES], jtotal = 0, ptotal = 0;
    struct gspan *s = malloc(SPANS * sizeof(*s));
    for (int t = 0; t < TRACES; t++) {
        make_trace(s, SPANS, (uint64_t)t + 1);
        json[t] = trace_json(s, SPANS, &jl[t]);
        proto[t] = trace_proto(s, SPANS, &pl[t]);
        jtotal += jl[t];
        ptotal += pl[t];
    }
    free(s);
    int64_t start = 1700000000LL * 1000000000LL - 1, end = start + 60LL * 1000000000LL;
    printf("\ndecode + io_share of %d traces x %d spans (median of %d runs)\n", TRACES, SPANS,
           RUNS);
    printf("%-9s %12s %12s %12s %14s\n", "format", "bytes", "decode ms", "evaluate ms", "total ms");
    for (int fmt = 0; fmt < 2; fmt++) {
        double dec[RUNS], evl[RUNS], tot[RUNS];
        struct ioshare_sum sum = { 0, 0, 0 };
        for (int run = 0; run < RUNS; run++) {
            double d = 0, e = 0;
            memset(&sum, 0, sizeof(sum));
            for (int t = 0; t < TRACES; t++) {
                struct tempo_trace *tr = NULL;
                int64_t t0 = clock_mono_ns();
                enum ta_rc rc =
                    fmt ? tempo_parse_trace_proto(slice_make(proto[t], pl[t]), true, &tr, NULL)
                        : tempo_parse_trace_json(slice_make(json[t], jl[t]), &tr, NULL);
                int64_t t1 = clock_mono_ns();
                if (rc != TA_OK || tr->nspans != SPANS) {
                    fprintf(stderr, "decode failed\n");
                    exit(1);
                }
                ioshare_trace(tr->spans, tr->nspans, parent, io, start, end, &sum, NULL);
                int64_t t2 = clock_mono_ns();
                tempo_trace_free(tr);
                d += (double)(t1 - t0) / 1e6;
                e += (double)(t2 - t1) / 1e6;
            }
            dec[run] = d;
            evl[run] = e;
            tot[run] = d + e;
        }
        qsort(dec, RUNS, sizeof(double), cmpd);
        qsort(evl, RUNS, sizeof(double), cmpd);
        qsort(tot, RUNS, sizeof(double), cmpd);
        printf("%-9s %12zu %12.1f %12.1f %14.1f   (io_share %.3f over %llu parents)\n",
               fmt ? "protobuf" : "JSON", fmt ? ptotal : jtotal, dec[RUNS / 2], evl[RUNS / 2],
               tot[RUNS / 2], sum.total_ns ? (double)sum.covered_ns / (double)sum.total_ns : 0.0,
               (unsigned long long)sum.parents);
    }
    for (int t = 0; t < TRACES; t++) {
        free(json[t]);
        free(proto[t]);
    }
    traceql_free(parent);
    traceql_free(io);
}

int main(int argc, char **argv)
{
    int what = argc > 1 ? argv[1][0] : 'a';
    if (what == 'a' || what == 'q')
        accuracy();
    if (what == 'a' || what == 'd')
        decode_and_evaluate();
    return 0;
}
