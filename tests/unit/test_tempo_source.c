/* test_tempo_source.c — query planning per metric against a mock Tempo (tests/unit/
 * tempo_helpers.c with a handler that answers the rendered TraceQL from arrays of spans held
 * here). Expected values are computed in this file from the same arrays (sorting for the
 * exact quantile, hand-worked interval unions for io_share), never from the source's code. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/base/buf.h"
#include "apis/base/log.h"
#include "rules/rules.h"
#include "rules/source.h"
#include "rules/traceql.h"
#include "server/tempo_source.h"
#include "tests/unit/tempo_helpers.h"

#define T0_S 1700000000LL
#define NS   1000000000LL

/* ---- the mock Tempo ------------------------------------------------------------------------ */

struct mock {
    pthread_mutex_t mu;
    const char *version;
    int buildinfo_status;
    int64_t *durs; /* durations of the matching spans, ns */
    size_t n;
    size_t errors;         /* the first `errors` spans have status error */
    double parent_sum_s;   /* sum_over_time(duration) of F */
    double child_sum_s;    /* sum_over_time(duration) of {F} > {IO} */
    bool partial;          /* mark metrics answers PARTIAL */
    const char *search;    /* /api/search body */
    const char *traces[8]; /* hex id -> JSON body pairs: traces[2i] id, traces[2i+1] body */
    int ntraces;
    const char *trace_fail; /* hex id answered 500 */
    int force_status;       /* when set, every API request but build info gets it */
    char queries[64][2048];
    int nq;
};

static struct mock M;

static void must(enum ta_rc rc)
{
    if (rc != TA_OK)
        abort(); /* the mock's buffers are far below their caps */
}

#define ADDF(...) must(buf_addf(__VA_ARGS__))
#define ADDS(...) must(buf_adds(__VA_ARGS__))

static void log_query(const char *q)
{
    if (M.nq < 64) {
        size_t n = strlen(q) < sizeof(M.queries[0]) - 1 ? strlen(q) : sizeof(M.queries[0]) - 1;
        memcpy(M.queries[M.nq], q, n);
        M.queries[M.nq++][n] = '\0';
    }
}

static int64_t parse_dur(const char *p)
{
    char *end;
    long long v = strtoll(p, &end, 10);
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = { { "ns", 1 },         { "us", 1000 },         { "ms", 1000000 },
                  { "s", 1000000000 }, { "m", 60000000000LL }, { "h", 3600000000000LL } };
    for (size_t i = 0; i < 6; i++) /* ns, us, ms before s and m */
        if (strncmp(end, units[i].u, strlen(units[i].u)) == 0)
            return v * units[i].ns;
    return -1;
}

static void reply(struct th_resp *out, struct buf *b)
{
    size_t len;
    out->owned_body = buf_take(b, &len);
    out->body_len = len;
}

static void metrics_answer(const char *q, struct th_resp *out)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    ADDS(&b, "{\"series\":[");
    if (strstr(q, "histogram_over_time(duration)")) {
        uint64_t counts[64] = { 0 };
        for (size_t i = 0; i < M.n; i++) {
            if (M.durs[i] < 2)
                continue;
            int k = 1;
            while (((int64_t)1 << k) < M.durs[i])
                k++;
            counts[k]++;
        }
        bool first = true;
        for (int k = 1; k < 63; k++)
            if (counts[k]) {
                ADDF(&b,
                     "%s{\"labels\":[{\"key\":\"__bucket\",\"value\":{\"doubleValue\":"
                     "%.9g}}],\"value\":%llu}",
                     first ? "" : ",", (double)((int64_t)1 << k) / 1e9,
                     (unsigned long long)counts[k]);
                first = false;
            }
    } else if (strstr(q, "count_over_time() by (status)")) {
        if (M.errors)
            ADDF(&b,
                 "{\"labels\":[{\"key\":\"status\",\"value\":{\"stringValue\":"
                 "\"error\"}}],\"value\":%zu}",
                 M.errors);
        if (M.n - M.errors)
            ADDF(&b,
                 "%s{\"labels\":[{\"key\":\"status\",\"value\":{\"stringValue\":"
                 "\"ok\"}}],\"value\":%zu}",
                 M.errors ? "," : "", M.n - M.errors);
    } else if (strstr(q, "avg_over_time(duration)")) {
        double sum = 0;
        for (size_t i = 0; i < M.n; i++)
            sum += (double)M.durs[i] / 1e9;
        if (M.n)
            ADDF(&b,
                 "{\"labels\":[{\"key\":\"__name__\",\"value\":{\"stringValue\":"
                 "\"avg_over_time\"}}],\"value\":%.17g}",
                 sum / (double)M.n);
    } else if (strstr(q, "sum_over_time(duration)")) {
        double v = strstr(q, "} > {") ? M.child_sum_s : M.parent_sum_s;
        ADDF(&b,
             "{\"labels\":[{\"key\":\"__name__\",\"value\":{\"stringValue\":"
             "\"sum_over_time\"}}],\"value\":%.17g}",
             v);
    } else if (strstr(q, "count_over_time()")) {
        const char *d = strstr(q, "duration > ");
        int64_t t = d ? parse_dur(d + 11) : -1;
        size_t c = 0;
        for (size_t i = 0; i < M.n; i++)
            c += M.durs[i] > t;
        if (c) /* Tempo omits a zero value; no series at all when nothing matched */
            ADDF(&b,
                 "{\"labels\":[{\"key\":\"__name__\",\"value\":{\"stringValue\":"
                 "\"count_over_time\"}}],\"value\":%zu}",
                 c);
    }
    ADDF(&b, "]%s}", M.partial ? ",\"status\":\"PARTIAL\",\"message\":\"cut\"" : "");
    reply(out, &b);
}

static void handler(void *arg, const char *path, const char *headers, struct th_resp *out)
{
    (void)arg;
    (void)headers;
    static char q[65536];
    pthread_mutex_lock(&M.mu);
    if (strncmp(path, "/api/status/buildinfo", 21) == 0) {
        if (M.buildinfo_status != 200) {
            out->status = M.buildinfo_status;
            out->ctype = "text/plain";
            out->body = "unavailable";
        } else {
            struct buf b;
            buf_init(&b, 256);
            ADDF(&b, "{\"version\":\"%s\",\"revision\":\"x\"}", M.version);
            reply(out, &b);
        }
    } else if (M.force_status) {
        out->status = M.force_status;
        out->ctype = "text/plain";
        out->body = "forced failure";
    } else if (strncmp(path, "/api/metrics/query?", 19) == 0) {
        th_query_param(path, "q", q, sizeof(q));
        log_query(q);
        metrics_answer(q, out);
    } else if (strncmp(path, "/api/search?", 12) == 0) {
        th_query_param(path, "q", q, sizeof(q));
        log_query(q);
        out->body = M.search ? M.search : "{}";
    } else if (strncmp(path, "/api/v2/traces/", 15) == 0) {
        const char *id = path + 15;
        size_t idlen = strcspn(id, "?");
        out->status = 404;
        out->body = "";
        if (M.trace_fail && strlen(M.trace_fail) == idlen && !strncmp(id, M.trace_fail, idlen)) {
            out->status = 500;
            out->body = "localblocks processor not found";
        }
        for (int i = 0; i < M.ntraces; i++)
            if (strlen(M.traces[2 * i]) == idlen && !strncmp(id, M.traces[2 * i], idlen)) {
                out->status = 200;
                out->body = M.traces[2 * i + 1];
            }
    } else {
        out->status = 404;
        out->body = "404 page not found";
    }
    pthread_mutex_unlock(&M.mu);
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static struct tempo_source *TS;

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(&M, 0, sizeof(M));
    pthread_mutex_init(&M.mu, NULL);
    M.version = "2.9.0";
    M.buildinfo_status = 200;
    th_start(0, handler, NULL);
    TS = NULL;
}

static void teardown(void)
{
    tempo_source_free(TS);
    th_stop();
    free(M.durs);
    curl_global_cleanup();
}

TestSuite(tempo_source, .init = setup, .fini = teardown);

static struct tempo_source *source(void)
{
    struct tempo_source_config c;
    memset(&c, 0, sizeof(c));
    c.client.url = th_url();
    c.client.timeout_ns = 5 * NS;
    c.client.backoff_base_ns = 1000000;
    c.client.backoff_max_ns = 2000000;
    c.client.memo_ns = -1; /* count every query */
    c.buildinfo_retry_min_ns = 20000000;
    c.buildinfo_retry_max_ns = 50000000;
    struct ta_err err;
    cr_assert_eq(tempo_source_new(&c, &TS, &err), TA_OK, "%s", err.msg);
    /* wait for the build-info thread: version-dependent planning */
    for (int i = 0; i < 1000; i++) {
        struct tempo_version v;
        tempo_source_version(TS, &v);
        if (v.text[0])
            break;
        usleep(2000);
    }
    return TS;
}

static struct traceql_node *filter(const char *text)
{
    struct traceql_node *n = NULL;
    struct ta_err err;
    cr_assert_eq(traceql_parse(slice_from_cstr(text), &n, &err), TA_OK, "%s", err.msg);
    return n;
}

static struct rule make_rule(enum metric_kind k)
{
    struct rule r;
    memset(&r, 0, sizeof(r));
    r.name = "test_rule";
    r.metric = k;
    r.quantile = 0.95;
    r.threshold_ns = 300000000;
    r.io_sample = 100;
    r.window_ns = 60 * NS;
    return r;
}

static enum ta_rc eval(const struct rule *r, const struct traceql_node *f, int64_t start_s,
                       int64_t end_s, struct metric_raw *out, struct ta_err *err)
{
    const struct source *src = tempo_source_source(TS);
    struct source_query q = { r, f, start_s * NS, end_s * NS };
    return src->ops->evaluate(src->self, &q, out, err);
}

static void set_durations(size_t n, int64_t (*gen)(size_t))
{
    M.durs = malloc(n * sizeof(*M.durs));
    for (size_t i = 0; i < n; i++)
        M.durs[i] = gen(i);
    M.n = n;
}

static int64_t gen_ms(size_t i)
{
    return (int64_t)(i + 1) * 1000000; /* 1 ms, 2 ms, … */
}

static int metrics_requests(void)
{
    int n = 0;
    char p[256];
    for (int i = 0; i < th_nreq(); i++) {
        th_request(i, p, sizeof(p), NULL, 0);
        n += strncmp(p, "/api/metrics/query?", 19) == 0;
    }
    return n;
}

/* ---- metrics ------------------------------------------------------------------------------- */

Test(tempo_source, rate_is_count_over_window_seconds)
{
    source();
    set_durations(90, gen_ms);
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_RATE);
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_OK, "%s", err.msg);
    cr_assert_float_eq(out.value, 1.5, 1e-12);
    cr_assert_eq(out.samples, 90);
    cr_assert_not(out.partial);
    cr_assert_str_eq(M.queries[0], "{ kind = server } | count_over_time()");
    char p[512];
    th_request(th_nreq() - 1, p, sizeof(p), NULL, 0);
    cr_assert_not_null(strstr(p, "&start=1700000000&end=1700000060"), "%s", p);
    traceql_free(f);
}

Test(tempo_source, rate_without_spans_has_no_samples)
{
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_RATE);
    struct metric_raw out;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, NULL), TA_OK);
    cr_assert_eq(out.samples, 0);
    cr_assert(isnan(out.value));
    traceql_free(f);
}

Test(tempo_source, error_ratio_uses_one_query_by_status)
{
    source();
    set_durations(40, gen_ms);
    M.errors = 10;
    struct traceql_node *f = filter("{ kind = server && resource.service.name = \"checkout\" }");
    struct rule r = make_rule(METRIC_ERROR_RATIO);
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_OK, "%s", err.msg);
    cr_assert_float_eq(out.value, 0.25, 1e-12);
    cr_assert_eq(out.samples, 40);
    cr_assert_eq(M.nq, 1);
    cr_assert_str_eq(M.queries[0], "{ (kind = server) && (resource.service.name = \"checkout\") } "
                                   "| count_over_time() by (status)");
    traceql_free(f);
}

Test(tempo_source, slow_ratio_counts_above_the_threshold)
{
    source();
    set_durations(1000, gen_ms); /* 1..1000 ms: 700 last longer than 300 ms */
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_SLOW_RATIO);
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_OK, "%s", err.msg);
    cr_assert_float_eq(out.value, 0.7, 1e-12);
    cr_assert_eq(out.samples, 1000);
    cr_assert_eq(M.nq, 2);
    bool saw = false;
    for (int i = 0; i < M.nq; i++)
        saw |= strcmp(M.queries[i],
                      "{ (kind = server) && (duration > 300ms) } | count_over_time()") == 0;
    cr_assert(saw, "%s / %s", M.queries[0], M.queries[1]);
    traceql_free(f);
}

Test(tempo_source, mean_is_avg_over_time_with_count_samples)
{
    source();
    set_durations(4, gen_ms); /* 1, 2, 3, 4 ms: mean 2.5 ms */
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_MEAN);
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_OK, "%s", err.msg);
    cr_assert_float_eq(out.value, 0.0025, 1e-12);
    cr_assert_eq(out.samples, 4);
    traceql_free(f);
}

Test(tempo_source, mean_needs_tempo_2_7)
{
    M.version = "2.6.1";
    source();
    set_durations(4, gen_ms);
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_MEAN);
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg,
                     "metric mean (avg_over_time) needs Tempo 2.7 or later; the server is 2.6.1");
    cr_assert_eq(metrics_requests(), 0);
    traceql_free(f);
}

static uint64_t rng = 88172645463325252ULL;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static int64_t gen_lognormal(size_t i)
{
    (void)i;
    double z = sqrt(-2 * log(urand())) * cos(2 * M_PI * urand());
    double v = exp(log(0.2e9) + 1.3 * z);
    if (v < 1e6)
        v = 1e6;
    if (v > 60e9)
        v = 60e9;
    return (int64_t)v;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

Test(tempo_source, quantile_within_one_percent_in_at_most_8_queries)
{
    source();
    set_durations(3000, gen_lognormal);
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_QUANTILE);
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_OK, "%s", err.msg);
    int64_t *sorted = malloc(M.n * sizeof(*sorted));
    memcpy(sorted, M.durs, M.n * sizeof(*sorted));
    qsort(sorted, M.n, sizeof(*sorted), cmp64);
    double exact = (double)sorted[(size_t)ceil(0.95 * 3000) - 1] / 1e9;
    free(sorted);
    cr_assert_lt(fabs(out.value - exact) / exact, 0.01, "got %g, exact %g", out.value, exact);
    cr_assert_eq(out.samples, 3000);
    cr_assert_leq(metrics_requests(), 8);
    cr_assert_geq(metrics_requests(), 3);
    struct tempo_source_stats st;
    tempo_source_get_stats(TS, &st);
    cr_assert_eq(st.quantile_probes, (uint64_t)metrics_requests() - 2);
    traceql_free(f);
}

Test(tempo_source, quantile_of_nothing_has_no_samples)
{
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_QUANTILE);
    struct metric_raw out;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, NULL), TA_OK);
    cr_assert_eq(out.samples, 0);
    cr_assert(isnan(out.value));
    cr_assert_eq(metrics_requests(), 2, "no probe without spans");
    traceql_free(f);
}

Test(tempo_source, partial_answers_are_used_and_flagged)
{
    source();
    set_durations(10, gen_ms);
    M.partial = true;
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_RATE);
    struct metric_raw out;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 10, &out, NULL), TA_OK);
    cr_assert(out.partial);
    cr_assert_float_eq(out.value, 1.0, 1e-12);
    struct tempo_source_stats st;
    tempo_source_get_stats(TS, &st);
    cr_assert_eq(st.partial, 1);
    traceql_free(f);
}

/* ---- io_share ------------------------------------------------------------------------------ */

/* Trace a1 (P1 = 100 ms server span of checkout): client C1 [10,40) and C2 [30,60) overlap
 * (union 50 ms), internal I1 [60,90) holds client C3 [70,80) (10 ms): covered 60 of 100.
 * Trace b2 (P2 = 200 ms): client C4 [0,50) (50 ms); the payment service's server span S2
 * [50,150) and its client C5 are not P2's IO (another server span). covered 50 of 200.
 * Trace c3 is missing (404). io_share = 110 / 300, 2 parents. */
#define SPAN(id, parent, kind, svc, start_ms, end_ms)                                            \
    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"" svc \
    "\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":\"%s\",\"spanId\":\"" id                    \
    "\",\"parentSpanId\":\"" parent "\",\"kind\":\"" kind "\",\"startTimeUnixNano\":\"17000000"  \
    "10" start_ms "000000\",\"endTimeUnixNano\":\"1700000010" end_ms "000000\"}]}]}"

static char trace_a[8192], trace_b[8192];

static void io_data(void)
{
    const char *tid_a = "000000000000000000000000000000a1",
               *tid_b = "000000000000000000000000000000b2";
    snprintf(
        trace_a, sizeof(trace_a),
        "{\"trace\":{\"resourceSpans\":[" SPAN(
            "0000000000000001", "", "SPAN_KIND_SERVER", "checkout", "000",
            "100") "," SPAN("0000000000000002", "0000000000000001", "SPAN_KIND_CLIENT", "checkout",
                            "010",
                            "040") "," SPAN("0000000000000003", "0000000000000001",
                                            "SPAN_KIND_CLIENT", "checkout", "030",
                                            "060") "," SPAN("0000000000000004", "0000000000000001",
                                                            "SPAN_KIND_INTERNAL", "checkout", "060",
                                                            "090") "," SPAN("0000000000000005",
                                                                            "0000000000000004",
                                                                            "SPAN_KIND_CLIENT",
                                                                            "checkout", "070",
                                                                            "080") "]}}",
        tid_a, tid_a, tid_a, tid_a, tid_a);
    snprintf(trace_b, sizeof(trace_b),
             "{\"trace\":{\"resourceSpans\":[" SPAN(
                 "0000000000000011", "", "SPAN_KIND_SERVER", "checkout", "000",
                 "200") "," SPAN("0000000000000012", "0000000000000011", "SPAN_KIND_CLIENT",
                                 "checkout", "000",
                                 "050") "," SPAN("0000000000000013", "0000000000000011",
                                                 "SPAN_KIND_SERVER", "payment", "050",
                                                 "150") "," SPAN("0000000000000014",
                                                                 "0000000000000013",
                                                                 "SPAN_KIND_CLIENT", "payment",
                                                                 "060", "140") "]}}",
             tid_b, tid_b, tid_b, tid_b);
    M.traces[0] = tid_a;
    M.traces[1] = trace_a;
    M.traces[2] = tid_b;
    M.traces[3] = trace_b;
    M.ntraces = 2;
    M.search = "{\"traces\":[{\"traceID\":\"a1\"},{\"traceID\":\"b2\"},{\"traceID\":\"c3\"}]}";
}

Test(tempo_source, io_share_exact_unions_io_intervals_of_fetched_traces)
{
    io_data();
    source();
    struct traceql_node *f = filter("{ kind = server && resource.service.name = \"checkout\" }");
    struct rule r = make_rule(METRIC_IO_SHARE);
    r.io = filter("{ kind = client || kind = producer || span.db.system != nil }");
    r.io_mode = RULE_IO_EXACT;
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_OK, "%s", err.msg);
    cr_assert_float_eq(out.value, 110.0 / 300.0, 1e-12);
    cr_assert_eq(out.samples, 2);
    cr_assert_not(out.partial, "a missing trace is skipped, not a partial answer");
    cr_assert_str_eq(M.queries[0], "{ (kind = server) && (resource.service.name = \"checkout\") } "
                                   "with (most_recent=true)");
    char p[1024];
    bool saw_search = false;
    for (int i = 0; i < th_nreq(); i++) {
        th_request(i, p, sizeof(p), NULL, 0);
        if (strncmp(p, "/api/search?", 12) == 0) {
            saw_search = true;
            cr_assert_not_null(strstr(p, "&limit=100&spss=1&start=1700000000&end=1700000060"), "%s",
                               p);
        }
        if (strncmp(p, "/api/v2/traces/", 15) == 0) {
            cr_assert(th_has_header(i, "\r\nAccept: application/protobuf\r\n"));
            cr_assert_not_null(strstr(p, "?start=1699999940&end="), "%s", p);
        }
    }
    cr_assert(saw_search);
    struct tempo_source_stats st;
    tempo_source_get_stats(TS, &st);
    cr_assert_eq(st.traces_fetched, 2);
    cr_assert_eq(st.traces_missing, 1);
    traceql_free(r.io);
    traceql_free(f);
}

Test(tempo_source, io_share_exact_failed_trace_marks_partial)
{
    io_data();
    M.trace_fail = "000000000000000000000000000000c3";
    source();
    struct traceql_node *f = filter("{ kind = server && resource.service.name = \"checkout\" }");
    struct rule r = make_rule(METRIC_IO_SHARE);
    r.io = filter("{ kind = client }");
    struct metric_raw out;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, NULL), TA_OK);
    cr_assert(out.partial);
    cr_assert_float_eq(out.value, 110.0 / 300.0, 1e-12);
    traceql_free(r.io);
    traceql_free(f);
}

Test(tempo_source, io_share_exact_all_traces_failing_is_an_error)
{
    M.search = "{\"traces\":[{\"traceID\":\"c3\"}]}";
    M.trace_fail = "000000000000000000000000000000c3";
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_IO_SHARE);
    r.io = filter("{ kind = client }");
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tempo: GET /api/v2/traces/000000000000000000000000000000c3: 500 "
                              "localblocks processor not found (a Tempo configuration problem)");
    traceql_free(r.io);
    traceql_free(f);
}

Test(tempo_source, io_share_exact_without_traces_has_no_samples)
{
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_IO_SHARE);
    r.io = filter("{ kind = client }");
    struct metric_raw out;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, NULL), TA_OK);
    cr_assert_eq(out.samples, 0);
    cr_assert(isnan(out.value));
    traceql_free(r.io);
    traceql_free(f);
}

Test(tempo_source, io_share_exact_before_2_8_searches_without_the_hint)
{
    M.version = "2.7.0";
    io_data();
    source();
    struct traceql_node *f = filter("{ kind = server && resource.service.name = \"checkout\" }");
    struct rule r = make_rule(METRIC_IO_SHARE);
    r.io = filter("{ kind = client }");
    struct metric_raw out;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, NULL), TA_OK);
    cr_assert_str_eq(M.queries[0], "{ (kind = server) && (resource.service.name = \"checkout\") }");
    traceql_free(r.io);
    traceql_free(f);
}

Test(tempo_source, io_share_approximate_is_a_sum_ratio)
{
    source();
    set_durations(3, gen_ms);
    M.parent_sum_s = 2.0;
    M.child_sum_s = 2.5; /* overlapping children: can exceed 1 */
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_IO_SHARE);
    r.io = filter("{ kind = client }");
    r.io_mode = RULE_IO_APPROXIMATE;
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_OK, "%s", err.msg);
    cr_assert_float_eq(out.value, 1.25, 1e-12);
    cr_assert_eq(out.samples, 3);
    bool saw = false;
    for (int i = 0; i < M.nq; i++)
        saw |= strcmp(M.queries[i],
                      "{ kind = server } > { kind = client } | sum_over_time(duration)") == 0;
    cr_assert(saw);
    traceql_free(r.io);
    traceql_free(f);
}

Test(tempo_source, io_share_approximate_needs_2_8)
{
    M.version = "v2.7.2";
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_IO_SHARE);
    r.io = filter("{ kind = client }");
    r.io_mode = RULE_IO_APPROXIMATE;
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "io_share mode approximate (sum_over_time) needs Tempo 2.8 or "
                              "later; the server is v2.7.2");
    traceql_free(r.io);
    traceql_free(f);
}

/* ---- windows and failures ------------------------------------------------------------------ */

Test(tempo_source, window_limits)
{
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_RATE);
    struct metric_raw out;
    struct ta_err err;
    cr_assert_eq(eval(&r, f, T0_S, T0_S, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "window [1700000000, 1700000000) s is shorter than 1s");
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 3 * 3600, &out, &err), TA_OK, "3h is the 2.x limit");
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 3 * 3600 + 1, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "window of 10801s exceeds Tempo 2.9.0's metrics query limit of 3h");
    traceql_free(f);
}

Test(tempo_source, window_limit_is_24h_on_tempo_3)
{
    M.version = "3.0.3";
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_RATE);
    struct metric_raw out;
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 4 * 3600, &out, NULL), TA_OK);
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 24 * 3600 + 1, &out, NULL), TA_INVALID);
    traceql_free(f);
}

Test(tempo_source, upstream_failures_have_precise_messages)
{
    source();
    struct traceql_node *f = filter("{ kind = server }");
    struct rule r = make_rule(METRIC_RATE);
    struct metric_raw out;
    struct ta_err err;
    for (int i = 0; i < 3; i++)
        th_script(
            (struct th_resp){ .status = 429, .ctype = "text/plain", .body = "job queue full" });
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tempo: GET /api/metrics/query: 429 job queue full after 3 attempts");
    cr_assert(isnan(out.value));
    th_script((struct th_resp){ .status = 200, .body = "<html>oops" });
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_UPSTREAM);
    cr_assert(strncmp(err.msg, "tempo: unparsable answer: ", 26) == 0, "%s", err.msg);
    th_script((struct th_resp){ .status = 404, .body = "404 page not found" });
    cr_assert_eq(eval(&r, f, T0_S, T0_S + 60, &out, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tempo: GET /api/metrics/query: 404 404 page not found (check the "
                              "--tempo-url path)");
    struct tempo_source_stats st;
    tempo_source_get_stats(TS, &st);
    cr_assert_eq(st.failures, 3);
    traceql_free(f);
}

Test(tempo_source, many_failures_free_everything)
{
    /* run under valgrind/ASan: every failed evaluation releases what it allocated */
    source();
    pthread_mutex_lock(&M.mu);
    M.force_status = 400;
    pthread_mutex_unlock(&M.mu);
    struct traceql_node *f = filter("{ kind = server }");
    struct rule rules[4] = { make_rule(METRIC_QUANTILE), make_rule(METRIC_SLOW_RATIO),
                             make_rule(METRIC_IO_SHARE), make_rule(METRIC_MEAN) };
    rules[2].io = filter("{ kind = client }");
    struct metric_raw out;
    for (int i = 0; i < 40; i++)
        cr_assert_eq(eval(&rules[i % 4], f, T0_S, T0_S + 60, &out, NULL), TA_UPSTREAM);
    traceql_free(rules[2].io);
    traceql_free(f);
}

Test(tempo_source, ready_reports_unreachable_then_recovers)
{
    int port = th_free_port();
    th_stop();
    struct tempo_source_config c;
    memset(&c, 0, sizeof(c));
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
    c.client.url = u;
    c.client.timeout_ns = NS;
    c.client.backoff_base_ns = 1000000;
    c.buildinfo_retry_min_ns = 20000000;
    c.buildinfo_retry_max_ns = 50000000;
    struct ta_err err;
    cr_assert_eq(tempo_source_new(&c, &TS, &err), TA_OK);
    const struct source *src = tempo_source_source(TS);
    cr_assert_str_eq(src->ops->name, "tempo");
    cr_assert_eq(src->ops->ready(src->self, &err), TA_UNAVAILABLE);
    cr_assert(strncmp(err.msg, "tempo at http://127.0.0.1:", 26) == 0 &&
                  strstr(err.msg, "is not reachable yet: "),
              "%s", err.msg);
    th_start(port, handler, NULL);
    enum ta_rc rc = TA_UNAVAILABLE;
    for (int i = 0; i < 1000 && rc != TA_OK; i++) {
        usleep(10000);
        rc = src->ops->ready(src->self, &err);
    }
    cr_assert_eq(rc, TA_OK, "%s", err.msg);
    struct tempo_version v;
    tempo_source_version(TS, &v);
    cr_assert_str_eq(v.text, "2.9.0");
}

Test(tempo_source, too_old_tempo_is_not_ready)
{
    M.version = "2.5.0";
    source();
    const struct source *src = tempo_source_source(TS);
    struct ta_err err;
    cr_assert_eq(src->ops->ready(src->self, &err), TA_UNAVAILABLE);
    cr_assert(strstr(err.msg, "is version 2.5.0; 2.6 or later is needed"), "%s", err.msg);
}

Test(tempo_source, buildinfo_404_assumes_a_recent_tempo)
{
    M.buildinfo_status = 404;
    source();
    const struct source *src = tempo_source_source(TS);
    struct ta_err err;
    cr_assert_eq(src->ops->ready(src->self, &err), TA_OK, "%s", err.msg);
}

Test(tempo_source, config_from_flags_copies_every_tempo_flag)
{
    struct flags f;
    memset(&f, 0, sizeof(f));
    char *hs[] = { "A=b" };
    f.tempo_url = "https://tempo-prod-10-prod-eu-west-2.grafana.net/tempo";
    f.tempo_tenant = "t";
    f.tempo_bearer_token_file = "/var/run/token";
    f.tempo_headers.items = hs;
    f.tempo_headers.n = 1;
    f.tempo_ca_file = "/ca";
    f.tempo_insecure_skip_verify = true;
    f.tempo_timeout_ns = 7 * NS;
    f.tempo_max_concurrency = 3;
    struct tempo_source_config c;
    tempo_source_config_from_flags(&f, &c);
    cr_assert_str_eq(c.client.url, f.tempo_url);
    cr_assert_str_eq(c.client.tenant, "t");
    cr_assert_str_eq(c.client.bearer_token_file, "/var/run/token");
    cr_assert_eq(c.client.nheaders, 1);
    cr_assert_str_eq(c.client.headers[0], "A=b");
    cr_assert_str_eq(c.client.ca_file, "/ca");
    cr_assert(c.client.insecure_skip_verify);
    cr_assert_eq(c.client.timeout_ns, 7 * NS);
    cr_assert_eq(c.client.max_concurrency, 3);
}
