/* bench_store.c — embedded store benchmark: OTLP protobuf ingest rate on one core, memory per
 * stored span, p95 / io_share evaluation time over 1,000,000 spans, and how long ingest waits
 * while such a scan runs.
 *
 * Spans mimic bin/tracegen's shop: per trace a checkout server span (service checkout,
 * namespace shop, http.route /checkout) with a postgres client span and a payment client span
 * calling a payment server span that has its own postgres client span: 5 spans per trace,
 * starting within the last 100 s. Requests carry 512 traces (2,560 spans), encoded here with
 * server/pbwire's writer; only otlp_receive (decode + store) is timed for ingest.
 *
 * Build and run (the lead wires this into `make bench`):
 *   make BUILD=build/bench LDFLAGS=-pthread \
 *     LIB_SRC="$(find apis rules -name '*.c') server/pbwire.c server/gunzip.c \
 *              server/otlp_decode.c server/otlp_receiver.c server/store.c \
 *              server/store_source.c" build/bench/libta.a
 *   gcc -std=c17 -D_GNU_SOURCE -O2 -I. -pthread -o build/bench/bench_store \
 *     hack/bench/bench_store.c build/bench/libta.a -ljansson -lyaml -lz -lm
 *   build/bench/bench_store [spans]        (default 1000000)
 * Output: one "name value unit" line per figure. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/base/clock.h"
#include "apis/base/parse.h"
#include "rules/rules.h"
#include "rules/traceql.h"
#include "server/otlp_receiver.h"
#include "server/pbwire.h"
#include "server/store.h"
#include "server/store_source.h"

#define TRACES_PER_REQUEST 512
#define SPANS_PER_TRACE    5
#define RUNS               5

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Resident set size from /proc/self/statm ("size resident shared ..." in pages). */
static long rss_bytes(void)
{
    char text[256];
    FILE *f = fopen("/proc/self/statm", "r");
    size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    if (f)
        fclose(f);
    struct slice rest = slice_make(text, n), size;
    bool found;
    rest = slice_cut(rest, ' ', &size, &found);
    struct slice resident;
    slice_cut(rest, ' ', &resident, &found);
    uint64_t pages = 0;
    if (parse_u64(resident, 0, UINT64_MAX / 65536, &pages, NULL) != TA_OK)
        return 0;
    return (long)pages * sysconf(_SC_PAGESIZE);
}

static void must(enum ta_rc rc)
{
    if (rc != TA_OK) {
        fprintf(stderr, "bench: encode failed\n");
        exit(1);
    }
}

static void kv(struct buf *b, uint32_t field, const char *k, const char *v)
{
    struct buf av, kvb;
    buf_init(&av, 1 << 16);
    buf_init(&kvb, 1 << 16);
    must(pbwire_put_bytes(&av, 1, slice_from_cstr(v)));
    must(pbwire_put_bytes(&kvb, 1, slice_from_cstr(k)));
    must(pbwire_put_bytes(&kvb, 2, buf_slice(&av)));
    must(pbwire_put_bytes(b, field, buf_slice(&kvb)));
    buf_free(&av);
    buf_free(&kvb);
}

static void span(struct buf *ss, const uint8_t tid[16], uint64_t sid, uint64_t parent,
                 const char *name, int kind, int64_t start, int64_t end, const char *route,
                 const char *db)
{
    struct buf sp;
    buf_init(&sp, 1 << 16);
    uint8_t s[8], p[8];
    for (int i = 0; i < 8; i++) {
        s[i] = (uint8_t)(sid >> (8 * i));
        p[i] = (uint8_t)(parent >> (8 * i));
    }
    must(pbwire_put_bytes(&sp, 1, slice_make((const char *)tid, 16)));
    must(pbwire_put_bytes(&sp, 2, slice_make((const char *)s, 8)));
    if (parent)
        must(pbwire_put_bytes(&sp, 4, slice_make((const char *)p, 8)));
    must(pbwire_put_bytes(&sp, 5, slice_from_cstr(name)));
    must(pbwire_put_uint(&sp, 6, (uint64_t)kind));
    must(pbwire_put_tag(&sp, 7, PBWIRE_I64));
    must(pbwire_put_fixed64(&sp, (uint64_t)start));
    must(pbwire_put_tag(&sp, 8, PBWIRE_I64));
    must(pbwire_put_fixed64(&sp, (uint64_t)end));
    if (route) {
        kv(&sp, 9, "http.route", route);
        kv(&sp, 9, "http.request.method", "POST"); /* not referenced: dropped */
    }
    if (db) {
        kv(&sp, 9, "db.system", db);
        kv(&sp, 9, "db.statement", "SELECT * FROM orders WHERE id = $1"); /* dropped */
    }
    must(pbwire_put_bytes(ss, 2, buf_slice(&sp)));
    buf_free(&sp);
}

static void resource_spans(struct buf *req, const char *svc, struct buf *ss)
{
    struct buf rs, res, scope, sswrap;
    buf_init(&rs, 64 << 20);
    buf_init(&res, 1 << 16);
    buf_init(&scope, 1 << 16);
    buf_init(&sswrap, 64 << 20);
    kv(&res, 1, "service.name", svc);
    kv(&res, 1, "k8s.namespace.name", "shop");
    kv(&res, 1, "host.name", "node-7"); /* dropped */
    must(pbwire_put_bytes(&scope, 1, SLICE_LIT("tracegen")));
    must(pbwire_put_bytes(&sswrap, 1, buf_slice(&scope)));
    must(buf_add(&sswrap, ss->data, ss->len));
    must(pbwire_put_bytes(&rs, 1, buf_slice(&res)));
    must(pbwire_put_bytes(&rs, 2, buf_slice(&sswrap)));
    must(pbwire_put_bytes(req, 1, buf_slice(&rs)));
    buf_free(&rs);
    buf_free(&res);
    buf_free(&scope);
    buf_free(&sswrap);
}

/* One request of TRACES_PER_REQUEST shop traces starting in [now - 100s, now - 1s). */
static void build_request(struct buf *req, int64_t now)
{
    struct buf co, pay;
    buf_init(&co, 64 << 20);
    buf_init(&pay, 64 << 20);
    buf_init(req, 64 << 20);
    for (int t = 0; t < TRACES_PER_REQUEST; t++) {
        uint8_t tid[16];
        uint64_t a = rnd(), b = rnd();
        memcpy(tid, &a, 8);
        memcpy(tid + 8, &b, 8);
        int64_t start = now - 100 * NS_PER_SEC + (int64_t)(rnd() % (99ull * NS_PER_SEC));
        int64_t dur = 20 * NS_PER_MS + (int64_t)(rnd() % (300ull * NS_PER_MS));
        uint64_t s1 = rnd() | 1, s2 = rnd() | 1, s3 = rnd() | 1, s4 = rnd() | 1, s5 = rnd() | 1;
        span(&co, tid, s1, 0, "POST /checkout", 2, start, start + dur, "/checkout", NULL);
        span(&co, tid, s2, s1, "SELECT orders", 3, start + dur / 10, start + dur / 3, NULL,
             "postgresql");
        span(&co, tid, s3, s1, "POST /pay", 3, start + dur / 5, start + dur * 9 / 10, NULL, NULL);
        span(&pay, tid, s4, s3, "POST /pay", 2, start + dur / 4, start + dur * 8 / 10, "/pay",
             NULL);
        span(&pay, tid, s5, s4, "INSERT payments", 3, start + dur / 3, start + dur / 2, NULL,
             "postgresql");
    }
    resource_spans(req, "checkout", &co);
    resource_spans(req, "payment", &pay);
    buf_free(&co);
    buf_free(&pay);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    return v[n / 2];
}

struct ingest_probe {
    struct store *st;
    atomic_bool stop;
    int64_t max_wait_ns;
    uint64_t adds;
};

/* Adds one small request every millisecond while a scan runs; records the longest add. */
static void *probe(void *arg)
{
    struct ingest_probe *p = arg;
    struct span s;
    memset(&s, 0, sizeof(s));
    s.kind = SPAN_KIND_SERVER;
    s.name = SLICE_LIT("probe");
    while (!atomic_load(&p->stop)) {
        uint64_t a = rnd(), b = rnd();
        memcpy(s.trace_id, &a, 8);
        memcpy(s.trace_id + 8, &b, 8);
        s.span_id[0] = 1;
        s.start_ns = clock_wall_ns() - 200 * NS_PER_SEC; /* outside the evaluated window */
        s.end_ns = s.start_ns + 1;
        int64_t t0 = clock_mono_ns();
        if (store_add(p->st, &s, 1, clock_wall_ns(), NULL, NULL) != TA_OK)
            break;
        int64_t d = clock_mono_ns() - t0;
        if (d > p->max_wait_ns)
            p->max_wait_ns = d;
        p->adds++;
        usleep(1000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t arg = 1000000;
    if (argc > 1 && parse_u64(slice_from_cstr(argv[1]), 1, 100000000, &arg, NULL) != TA_OK) {
        fprintf(stderr, "usage: bench_store [spans, 1-100000000]\n");
        return 2;
    }
    long want = (long)arg;
    if (want < SPANS_PER_TRACE * TRACES_PER_REQUEST)
        want = SPANS_PER_TRACE * TRACES_PER_REQUEST;
    int64_t now = clock_wall_ns();
    struct rules *rules = NULL;
    struct ta_err err = { 0 };
    static const char yaml[] = "defaults:\n  window: 2m\n  minSamples: 1\n"
                               "externalRules:\n"
                               "  - name: p95\n    spans: '{ kind = server }'\n"
                               "    metric: quantile\n    quantile: 0.95\n"
                               "  - name: io\n    spans: '{ kind = server }'\n"
                               "    metric: io_share\n"
                               "    io: '{ kind = client || kind = producer || "
                               "span.db.system != nil }'\n";
    if (rules_load_bytes(slice_make(yaml, sizeof(yaml) - 1), "bench", &rules, &err) != TA_OK) {
        fprintf(stderr, "bench: rules: %s\n", err.msg);
        return 1;
    }
    struct store_config sc = { .max_spans = (uint64_t)want + 100000,
                               .retention_ns = 600 * NS_PER_SEC };
    struct store *st = NULL;
    if (store_new(&sc, &st, &err) != TA_OK) {
        fprintf(stderr, "bench: store: %s\n", err.msg);
        return 1;
    }
    struct otlp_keep *keep = otlp_keep_from_rules(rules);
    struct otlp_receiver_config rc = { .keep = keep };

    long rss0 = rss_bytes();
    int64_t ingest_ns = 0;
    uint64_t body_bytes = 0;
    long spans = 0;
    while (spans < want) {
        struct buf req;
        build_request(&req, now);
        struct otlp_response r;
        int64_t t0 = clock_mono_ns();
        otlp_receive(st, &rc, SLICE_LIT("application/x-protobuf"), SLICE_NULL, buf_slice(&req), &r);
        ingest_ns += clock_mono_ns() - t0;
        if (r.status != 200) {
            fprintf(stderr, "bench: ingest answered %d: %s\n", r.status, r.message);
            return 1;
        }
        body_bytes += req.len;
        spans += TRACES_PER_REQUEST * SPANS_PER_TRACE;
        otlp_response_free(&r);
        buf_free(&req);
    }
    long rss1 = rss_bytes();
    struct store_stats ss;
    store_get_stats(st, &ss);
    printf("spans_stored %" PRIu64 " spans\n", ss.spans);
    printf("traces_indexed %" PRIu64 " traces\n", ss.traces);
    printf("ingest_protobuf %.0f spans/s (one core, decode + store)\n",
           (double)spans / ((double)ingest_ns / 1e9));
    printf("ingest_protobuf_bytes %.1f MB/s\n", (double)body_bytes / ((double)ingest_ns / 1e3));
    printf("rss_per_million_spans %.1f MB (%.0f bytes/span)\n",
           (double)(rss1 - rss0) / (double)ss.spans * 1e6 / 1e6,
           (double)(rss1 - rss0) / (double)ss.spans);
    printf("store_accounted_per_span %.0f bytes/span\n", (double)ss.bytes / (double)ss.spans);

    struct traceql_node *filter = NULL;
    if (traceql_parse(SLICE_LIT("{ kind = server && resource.service.name = \"checkout\" && "
                                "resource.k8s.namespace.name = \"shop\" }"),
                      &filter, &err) != TA_OK) {
        fprintf(stderr, "bench: filter: %s\n", err.msg);
        return 1;
    }
    struct source src = store_source_make(st);
    const char *names[2] = { "p95", "io" };
    for (int k = 0; k < 2; k++) {
        const struct rule *rule = rules_find(rules, slice_from_cstr(names[k]));
        struct source_query q = {
            .rule = rule, .filter = filter, .start_ns = now - 120 * NS_PER_SEC, .end_ns = now
        };
        int64_t t[RUNS];
        struct metric_raw raw = { 0 };
        for (int i = 0; i < RUNS; i++) {
            int64_t t0 = clock_mono_ns();
            src.ops->evaluate(src.self, &q, &raw, &err);
            t[i] = clock_mono_ns() - t0;
        }
        printf("eval_%s_over_%" PRIu64 "_spans %.1f ms (median of %d; value %.4f from %" PRIu64
               " samples)\n",
               names[k], ss.spans, (double)median(t, RUNS) / 1e6, RUNS, raw.value, raw.samples);
    }

    /* ingest latency while a p95 scan runs */
    struct ingest_probe p = { .st = st };
    atomic_init(&p.stop, false);
    pthread_t th;
    pthread_create(&th, NULL, probe, &p);
    const struct rule *rule = rules_find(rules, SLICE_LIT("io"));
    struct source_query q = {
        .rule = rule, .filter = filter, .start_ns = now - 120 * NS_PER_SEC, .end_ns = now
    };
    struct metric_raw raw;
    for (int i = 0; i < RUNS; i++)
        src.ops->evaluate(src.self, &q, &raw, &err);
    atomic_store(&p.stop, true);
    pthread_join(th, NULL);
    printf("ingest_max_wait_during_scans %.2f ms (%" PRIu64 " adds during %d io_share scans)\n",
           (double)p.max_wait_ns / 1e6, p.adds, RUNS);

    traceql_free(filter);
    otlp_keep_free(keep);
    store_free(st);
    rules_unref(rules);
    return 0;
}
