/* tracegen.c — bin/tracegen: sends OTLP/HTTP protobuf traces of a small shop, for demos and load.
 *
 * Every trace: a `checkout` server span (POST /checkout) with two overlapping children, a
 * postgres client span and a payment client span; the payment client calls a `payment` server
 * span that has its own postgres child. Children sit at fixed fractions of the checkout span
 * (db 5-35%, payment call 25-85%, payment server 27-83%, its db 35-60%), so the IO share of
 * checkout is 0.80 and of payment 0.25/0.56 ≈ 0.446: easy to check end to end. Traces end
 * just before they are sent, so they land in the current windows. Requests carry --batch
 * traces and are paced to --rate traces per second; libcurl with time-outs. Single thread;
 * SIGTERM/SIGINT stop it after the request in flight. Exit status: 0, 1 when every request
 * failed, 2 for bad usage. */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "apis/base/buf.h"
#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/parse.h"
#include "hack/tracegen/tg_pb.h"

#define TG_MAX_BATCH      1000     /* traces per request: ~1 MB of protobuf */
#define TG_MAX_RATE       100000.0 /* traces per second */
#define TG_MAX_DURATION   (7 * 86400 * NS_PER_SEC)
#define TG_MAX_LATENCY_MS 600000.0    /* 10 minutes */
#define TG_BODY_MAX       (16u << 20) /* the adapter's OTLP_BODY_MAX */
#define TG_REPLY_MAX      4096        /* response bytes kept for error messages */
#define TG_ERRORS_LOGGED  5           /* failed requests logged one by one */
#define TG_SIGMA          0.5         /* lognormal shape */

enum dist {
    DIST_LOGNORMAL,
    DIST_UNIFORM,
    DIST_FIXED,
    DIST_BIMODAL,
};

struct opts {
    const char *endpoint;
    double rate;
    int64_t duration_ns; /* 0: until SIGTERM */
    uint64_t count;      /* 0: no limit */
    double latency_ms;
    enum dist dist;
    double error_ratio;
    const char *service;
    const char *payment_service;
    const char *ns;
    uint64_t batch;
    uint64_t seed;
    bool gzip;
    int64_t timeout_ns;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tracegen [flags]   (every flag also as --flag=value)\n"
            "Sends OTLP/HTTP protobuf traces of a small shop (checkout -> postgres, payment).\n"
            "  --endpoint URL          OTLP/HTTP traces endpoint "
            "(http://127.0.0.1:4318/v1/traces)\n"
            "  --rate N                traces per second (10)\n"
            "  --duration D            stop after D, e.g. 90s, 5m; 0 = until SIGTERM (60s)\n"
            "  --count N               stop after N traces; 0 = no limit (0)\n"
            "  --latency-ms MS         median duration of the checkout span (120)\n"
            "  --distribution NAME     lognormal | uniform | fixed | bimodal (lognormal)\n"
            "                          uniform: 0.5-1.5x median; bimodal: 90%% near the\n"
            "                          median, 10%% at 5x\n"
            "  --error-ratio R         share of traces whose spans have status error (0.01)\n"
            "  --service NAME          service.name of the front service (checkout)\n"
            "  --payment-service NAME  service.name of the called service (payment)\n"
            "  --namespace NS          k8s.namespace.name resource attribute (shop)\n"
            "  --batch N               traces per request, 1-%d (10)\n"
            "  --seed N                random seed (default: from the clock)\n"
            "  --gzip                  send Content-Encoding: gzip\n"
            "  --timeout D             per-request time-out (10s)\n"
            "  --help                  this text\n",
            TG_MAX_BATCH);
}

TA_NORETURN static void bad_usage(const char *fmt, ...) TA_PRINTF(1, 2);
static void bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tracegen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see tracegen --help)\n");
    va_end(ap);
    exit(2);
}

/* ---- random numbers ---- */

static uint64_t rng;

static uint64_t rnd64(void)
{
    uint64_t x = rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng = x;
    return x * 2685821657736338717ull;
}

static double rnd01(void)
{
    return (double)(rnd64() >> 11) / 9007199254740992.0; /* [0, 1) */
}

static double rnd_normal(void)
{
    double u = rnd01(), v = rnd01();
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static int64_t latency_ns(const struct opts *o)
{
    double m = o->latency_ms;
    double ms;
    switch (o->dist) {
    case DIST_UNIFORM:
        ms = m * (0.5 + rnd01());
        break;
    case DIST_FIXED:
        ms = m;
        break;
    case DIST_BIMODAL:
        ms = rnd01() < 0.9 ? m * exp(0.1 * rnd_normal()) : 5.0 * m * exp(0.1 * rnd_normal());
        break;
    case DIST_LOGNORMAL:
    default:
        ms = m * exp(TG_SIGMA * rnd_normal());
        break;
    }
    if (ms < 0.001)
        ms = 0.001;
    return (int64_t)(ms * (double)NS_PER_MS);
}

static uint64_t nonzero64(void)
{
    uint64_t v;
    do
        v = rnd64();
    while (!v);
    return v;
}

/* ---- encoding ---- */

#define CHECK(expr)      \
    do {                 \
        rc = (expr);     \
        if (rc != TA_OK) \
            goto out;    \
    } while (0)

struct span_in {
    const uint8_t *trace_id;
    uint64_t span_id, parent_id;
    const char *name;
    int kind; /* OTLP SpanKind */
    int64_t start_ns, end_ns;
    bool error;
};

static void id_bytes(uint64_t v, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Appends Span (field 2 of ScopeSpans) to ss; attrs is an encoded list of attribute fields. */
static enum ta_rc put_span(struct buf *ss, const struct span_in *s, const struct buf *attrs)
{
    enum ta_rc rc;
    struct buf sp, st;
    buf_init(&sp, TG_BODY_MAX);
    buf_init(&st, 1024);
    uint8_t sid[8], pid[8];
    id_bytes(s->span_id, sid);
    id_bytes(s->parent_id, pid);
    CHECK(tg_pb_bytes(&sp, 1, s->trace_id, 16));
    CHECK(tg_pb_bytes(&sp, 2, sid, 8));
    if (s->parent_id)
        CHECK(tg_pb_bytes(&sp, 4, pid, 8));
    CHECK(tg_pb_str(&sp, 5, s->name));
    CHECK(tg_pb_varint(&sp, 6, (uint64_t)s->kind));
    CHECK(tg_pb_fixed64(&sp, 7, (uint64_t)s->start_ns));
    CHECK(tg_pb_fixed64(&sp, 8, (uint64_t)s->end_ns));
    if (attrs->len)
        CHECK(buf_add(&sp, attrs->data, attrs->len));
    if (s->error) {
        CHECK(tg_pb_str(&st, 2, "payment declined"));
        CHECK(tg_pb_varint(&st, 3, 2)); /* STATUS_CODE_ERROR */
    } else {
        CHECK(tg_pb_varint(&st, 3, 1)); /* STATUS_CODE_OK */
    }
    CHECK(tg_pb_bytes(&sp, 15, st.data, st.len));
    CHECK(tg_pb_bytes(ss, 2, sp.data, sp.len));
out:
    buf_free(&sp);
    buf_free(&st);
    return rc;
}

/* Appends one shop trace ending at end_ns: checkout spans to co, payment spans to pay. */
static enum ta_rc put_trace(const struct opts *o, struct buf *co, struct buf *pay, int64_t end_ns)
{
    enum ta_rc rc = TA_OK;
    uint8_t tid[16];
    uint64_t a = nonzero64(), b = rnd64();
    for (int i = 0; i < 8; i++) {
        tid[i] = (uint8_t)(a >> (8 * i));
        tid[8 + i] = (uint8_t)(b >> (8 * i));
    }
    int64_t d = latency_ns(o);
    int64_t s = end_ns - d;
    bool err = rnd01() < o->error_ratio;
    uint64_t root = nonzero64(), db = nonzero64(), call = nonzero64(), psrv = nonzero64(),
             pdb = nonzero64();
    struct buf at;
    buf_init(&at, 1 << 16);

    struct span_in sp = { tid, root, 0, "POST /checkout", 2, s, end_ns, err };
    CHECK(tg_pb_kv_str(&at, 9, "http.route", "/checkout"));
    CHECK(tg_pb_kv_str(&at, 9, "http.request.method", "POST"));
    CHECK(tg_pb_kv_int(&at, 9, "http.response.status_code", err ? 500 : 200));
    CHECK(put_span(co, &sp, &at));
    buf_reset(&at);

    sp = (struct span_in){ tid, db, root, "SELECT orders", 3, s + d / 20, s + d * 7 / 20, false };
    CHECK(tg_pb_kv_str(&at, 9, "db.system", "postgresql"));
    CHECK(tg_pb_kv_str(&at, 9, "db.name", "orders"));
    CHECK(put_span(co, &sp, &at));
    buf_reset(&at);

    sp = (struct span_in){ tid, call, root, "POST /pay", 3, s + d / 4, s + d * 17 / 20, err };
    CHECK(tg_pb_kv_str(&at, 9, "http.request.method", "POST"));
    CHECK(tg_pb_kv_str(&at, 9, "server.address", o->payment_service));
    CHECK(put_span(co, &sp, &at));
    buf_reset(&at);

    sp = (struct span_in){
        tid, psrv, call, "POST /pay", 2, s + d * 27 / 100, s + d * 83 / 100, err
    };
    CHECK(tg_pb_kv_str(&at, 9, "http.route", "/pay"));
    CHECK(tg_pb_kv_str(&at, 9, "http.request.method", "POST"));
    CHECK(tg_pb_kv_int(&at, 9, "http.response.status_code", err ? 500 : 200));
    CHECK(put_span(pay, &sp, &at));
    buf_reset(&at);

    sp = (struct span_in){ tid,           pdb,  psrv, "INSERT payments", 3, s + d * 35 / 100,
                           s + d * 3 / 5, false };
    CHECK(tg_pb_kv_str(&at, 9, "db.system", "postgresql"));
    CHECK(tg_pb_kv_str(&at, 9, "db.name", "payments"));
    CHECK(put_span(pay, &sp, &at));
out:
    buf_free(&at);
    return rc;
}

/* ResourceSpans (field 1 of the request) for one service with its encoded spans. */
static enum ta_rc put_resource_spans(const struct opts *o, struct buf *req, const char *service,
                                     const struct buf *spans)
{
    enum ta_rc rc;
    struct buf res, scope, ss, rs;
    buf_init(&res, 1 << 16);
    buf_init(&scope, 1 << 16);
    buf_init(&ss, TG_BODY_MAX);
    buf_init(&rs, TG_BODY_MAX);
    CHECK(tg_pb_kv_str(&res, 1, "service.name", service));
    CHECK(tg_pb_kv_str(&res, 1, "k8s.namespace.name", o->ns));
    CHECK(tg_pb_kv_str(&res, 1, "telemetry.sdk.name", "tracegen"));
    CHECK(tg_pb_str(&scope, 1, "tempo-adapter/tracegen"));
    CHECK(tg_pb_bytes(&ss, 1, scope.data, scope.len));
    CHECK(buf_add(&ss, spans->data ? spans->data : "", spans->len));
    CHECK(tg_pb_bytes(&rs, 1, res.data, res.len));
    CHECK(tg_pb_bytes(&rs, 2, ss.data, ss.len));
    CHECK(tg_pb_bytes(req, 1, rs.data, rs.len));
out:
    buf_free(&res);
    buf_free(&scope);
    buf_free(&ss);
    buf_free(&rs);
    return rc;
}

/* An ExportTraceServiceRequest of n traces, the last ending now and the others spread over
 * the preceding interval of the pacing. */
static enum ta_rc build_request(const struct opts *o, uint64_t n, struct buf *req)
{
    enum ta_rc rc;
    struct buf co, pay;
    buf_init(&co, TG_BODY_MAX);
    buf_init(&pay, TG_BODY_MAX);
    buf_init(req, TG_BODY_MAX);
    int64_t now = clock_wall_ns();
    int64_t gap = (int64_t)((double)NS_PER_SEC / o->rate);
    for (uint64_t i = 0; i < n; i++)
        CHECK(put_trace(o, &co, &pay, now - (int64_t)(n - 1 - i) * gap));
    CHECK(put_resource_spans(o, req, o->service, &co));
    CHECK(put_resource_spans(o, req, o->payment_service, &pay));
out:
    buf_free(&co);
    buf_free(&pay);
    if (rc != TA_OK)
        buf_free(req);
    return rc;
}

static bool gzip_body(const struct buf *in, struct buf *out)
{
    z_stream zs = { 0 };
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    uLong cap = deflateBound(&zs, (uLong)in->len);
    char *dst = malloc(cap);
    if (!dst) {
        deflateEnd(&zs);
        return false;
    }
    zs.next_in = (Bytef *)in->data;
    zs.avail_in = (uInt)in->len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)cap;
    bool ok = deflate(&zs, Z_FINISH) == Z_STREAM_END;
    buf_init(out, TG_BODY_MAX);
    if (ok)
        ok = buf_add(out, dst, cap - zs.avail_out) == TA_OK;
    deflateEnd(&zs);
    free(dst);
    return ok;
}

/* ---- sending ---- */

static size_t on_reply(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n;
    size_t room = b->max > b->len ? b->max - b->len : 0;
    if (room && buf_add(b, p, len < room ? len : room) != TA_OK)
        return 0;
    return len; /* keep reading; only the first TG_REPLY_MAX bytes are kept */
}

/* POSTs body; true on HTTP 200. */
static bool post(CURL *h, const struct opts *o, const struct buf *body, uint64_t failures)
{
    struct buf reply;
    buf_init(&reply, TG_REPLY_MAX);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    CURLcode cc = curl_easy_perform(h);
    long code = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    bool ok = cc == CURLE_OK && code == 200;
    if (!ok && failures < TG_ERRORS_LOGGED) {
        if (cc != CURLE_OK)
            LOG_ERROR("tracegen: POST %s: %s", o->endpoint, curl_easy_strerror(cc));
        else
            LOG_ERROR("tracegen: POST %s: HTTP %ld: %.*s", o->endpoint, code,
                      (int)(reply.len > 300 ? 300 : reply.len), buf_cstr(&reply));
    }
    buf_free(&reply);
    return ok;
}

/* ---- flags ---- */

static bool take(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *val = a + n + 1;
        return true;
    }
    if (a[n] != '\0')
        return false;
    if (*i + 1 >= argc)
        bad_usage("%s needs a value", name);
    *val = argv[++*i];
    return true;
}

static double num(const char *name, const char *v, double min, double max)
{
    double d;
    struct ta_err err = { 0 };
    if (parse_double(slice_from_cstr(v), min, max, &d, &err) != TA_OK)
        bad_usage("%s: %s", name, err.msg);
    return d;
}

static uint64_t unum(const char *name, const char *v, uint64_t min, uint64_t max)
{
    uint64_t u;
    struct ta_err err = { 0 };
    if (parse_u64(slice_from_cstr(v), min, max, &u, &err) != TA_OK)
        bad_usage("%s: %s", name, err.msg);
    return u;
}

static int64_t dur(const char *name, const char *v, int64_t max)
{
    int64_t ns;
    struct ta_err err = { 0 };
    if (parse_duration_ns(slice_from_cstr(v), 0, max, &ns, &err) != TA_OK)
        bad_usage("%s: %s", name, err.msg);
    return ns;
}

static void parse_flags(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){
        .endpoint = "http://127.0.0.1:4318/v1/traces",
        .rate = 10,
        .duration_ns = 60 * NS_PER_SEC,
        .latency_ms = 120,
        .dist = DIST_LOGNORMAL,
        .error_ratio = 0.01,
        .service = "checkout",
        .payment_service = "payment",
        .ns = "shop",
        .batch = 10,
        .seed = (uint64_t)clock_wall_ns(),
        .timeout_ns = 10 * NS_PER_SEC,
    };
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(argv[i], "--gzip") == 0) {
            o->gzip = true;
        } else if (take(argc, argv, &i, "--endpoint", &v)) {
            if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
                bad_usage("--endpoint: '%s' is not an http:// or https:// URL", v);
            o->endpoint = v;
        } else if (take(argc, argv, &i, "--rate", &v)) {
            o->rate = num("--rate", v, 0.001, TG_MAX_RATE);
        } else if (take(argc, argv, &i, "--duration", &v)) {
            o->duration_ns = dur("--duration", v, TG_MAX_DURATION);
        } else if (take(argc, argv, &i, "--count", &v)) {
            o->count = unum("--count", v, 0, UINT64_MAX);
        } else if (take(argc, argv, &i, "--latency-ms", &v)) {
            o->latency_ms = num("--latency-ms", v, 0.001, TG_MAX_LATENCY_MS);
        } else if (take(argc, argv, &i, "--distribution", &v)) {
            if (strcmp(v, "lognormal") == 0)
                o->dist = DIST_LOGNORMAL;
            else if (strcmp(v, "uniform") == 0)
                o->dist = DIST_UNIFORM;
            else if (strcmp(v, "fixed") == 0)
                o->dist = DIST_FIXED;
            else if (strcmp(v, "bimodal") == 0)
                o->dist = DIST_BIMODAL;
            else
                bad_usage("--distribution: '%s' is not lognormal, uniform, fixed or bimodal", v);
        } else if (take(argc, argv, &i, "--error-ratio", &v)) {
            o->error_ratio = num("--error-ratio", v, 0, 1);
        } else if (take(argc, argv, &i, "--service", &v)) {
            o->service = v;
        } else if (take(argc, argv, &i, "--payment-service", &v)) {
            o->payment_service = v;
        } else if (take(argc, argv, &i, "--namespace", &v)) {
            o->ns = v;
        } else if (take(argc, argv, &i, "--batch", &v)) {
            o->batch = unum("--batch", v, 1, TG_MAX_BATCH);
        } else if (take(argc, argv, &i, "--seed", &v)) {
            o->seed = unum("--seed", v, 0, UINT64_MAX);
        } else if (take(argc, argv, &i, "--timeout", &v)) {
            o->timeout_ns = dur("--timeout", v, 600 * NS_PER_SEC);
            if (o->timeout_ns < NS_PER_MS)
                bad_usage("--timeout: '%s' is shorter than 1ms", v);
        } else {
            bad_usage("unknown flag %s", argv[i]);
        }
    }
}

/* Sleeps until the monotonic instant t (ns); returns early on a signal. */
static void sleep_until(int64_t t)
{
    struct timespec ts = { .tv_sec = t / NS_PER_SEC, .tv_nsec = t % NS_PER_SEC };
    while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_flags(argc, argv, &o);
    rng = o.seed ? o.seed : 0x9e3779b97f4a7c15ull;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: the pacing sleep wakes up */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        LOG_ERROR("tracegen: curl_global_init failed");
        return 1;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        LOG_ERROR("tracegen: curl_easy_init failed");
        return 1;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
    if (o.gzip)
        hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
    curl_easy_setopt(h, CURLOPT_URL, o.endpoint);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(o.timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(o.timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tempo-adapter-tracegen");

    LOG_INFO("tracegen: %s, %.3g traces/s in batches of %llu, median %.3g ms, error ratio %.3g%s",
             o.endpoint, o.rate, (unsigned long long)o.batch, o.latency_ms, o.error_ratio,
             o.gzip ? ", gzip" : "");
    int64_t t0 = clock_mono_ns();
    int64_t interval = (int64_t)((double)o.batch * (double)NS_PER_SEC / o.rate);
    uint64_t traces = 0, requests = 0, ok = 0, failed = 0;
    for (uint64_t k = 0; !stop_requested; k++) {
        int64_t due = t0 + (int64_t)k * interval;
        if (o.duration_ns && due - t0 >= o.duration_ns)
            break;
        if (o.count && traces >= o.count)
            break;
        sleep_until(due);
        if (stop_requested)
            break;
        uint64_t n = o.batch;
        if (o.count && o.count - traces < n)
            n = o.count - traces;
        struct buf req, zipped;
        if (build_request(&o, n, &req) != TA_OK) {
            LOG_ERROR("tracegen: request over %u bytes; lower --batch", TG_BODY_MAX);
            break;
        }
        const struct buf *body = &req;
        if (o.gzip) {
            if (!gzip_body(&req, &zipped)) {
                LOG_ERROR("tracegen: gzip failed");
                buf_free(&req);
                break;
            }
            body = &zipped;
        }
        requests++;
        traces += n;
        if (post(h, &o, body, failed))
            ok++;
        else
            failed++;
        if (o.gzip)
            buf_free(&zipped);
        buf_free(&req);
    }
    LOG_INFO("tracegen: sent %llu requests (%llu traces, %llu spans): %llu ok, %llu failed",
             (unsigned long long)requests, (unsigned long long)traces,
             (unsigned long long)(traces * 5), (unsigned long long)ok, (unsigned long long)failed);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return requests > 0 && ok == 0 ? 1 : 0;
}
