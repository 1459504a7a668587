/* tempo_source.c — evaluates rules against Tempo: query planning, parallel queries, build info.
 *
 * evaluate() runs on the cache's worker threads. Independent queries of one evaluation (the
 * count next to a histogram, a numerator next to its denominator, trace fetches) run on short
 * threads of their own; the client's global limit bounds what reaches Tempo. The build-info
 * thread owns the version and readiness in shared (guarded by shared.mu); evaluate() reads a
 * snapshot. Nothing here holds shared.mu across a request. */
#include "server/tempo_source.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/base/buf.h"
#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "rules/ioshare.h"
#include "rules/metric.h"
#include "rules/traceql.h"
#include "server/tempo_parse.h"
#include "server/tempo_quantile.h"

#define QUERY_MAX         (TRACEQL_RENDER_MAX * 2 + 256) /* filter (+ io filter) + pipeline */
#define PATH_MAX_BYTES    (QUERY_MAX * 3 + 256)          /* URL-encoded query + parameters */
#define DEFAULT_IO_SAMPLE 100
#define TRACE_SLACK_S     60 /* seconds around the window when fetching traces by id */

struct tempo_source {
    struct source src; /* {&OPS, self}; immutable */
    struct tempo_client *client;
    int quantile_probes;
    bool json_traces;
    int64_t retry_min_ns, retry_max_ns, recheck_ns;
    pthread_t thread;
    bool thread_started;
    struct {
        atomic_uint_fast64_t evaluations, failures, queries, partial, probes, fetched, missing,
            failed;
    } stats;
    struct {
        pthread_mutex_t mu;
        pthread_cond_t cv;      /* wakes the build-info thread for stopping */
        bool stopping;          /* guarded by mu */
        bool reachable;         /* guarded by mu: build info answered (or 404) at least once */
        bool warned_old_search; /* guarded by mu */
        struct tempo_version version; /* guarded by mu */
        char reason[TA_ERR_MSG_MAX];  /* guarded by mu: why not reachable */
    } shared;
};

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- build info ---------------------------------------------------------------------------- */

/* One build-info request; updates shared. */
static enum ta_rc probe_buildinfo(struct tempo_source *ts, struct ta_err *err)
{
    struct tempo_request req = { SLICE_LIT("/api/status/buildinfo"), TEMPO_ACCEPT_JSON, true,
                                 true };
    struct tempo_reply *r = NULL;
    struct tempo_version v;
    memset(&v, 0, sizeof(v));
    enum ta_rc rc = tempo_client_get(ts->client, &req, &r, err);
    if (rc == TA_NOT_FOUND) {
        /* a gateway that does not expose build info: assume a recent Tempo */
        rc = TA_OK;
        snprintf(v.text, sizeof(v.text), "unknown");
    } else if (rc == TA_OK) {
        rc = tempo_parse_buildinfo(r->body, &v, err);
        if (rc != TA_OK)
            ta_err_prefix(err, "tempo: GET /api/status/buildinfo");
    }
    tempo_reply_release(r);
    pthread_mutex_lock(&ts->shared.mu);
    bool first = !ts->shared.reachable;
    bool changed = rc == TA_OK && strcmp(v.text, ts->shared.version.text) != 0;
    if (rc == TA_OK) {
        ts->shared.reachable = true;
        ts->shared.version = v;
        ts->shared.reason[0] = '\0';
    } else if (!ts->shared.reachable && err) {
        snprintf(ts->shared.reason, sizeof(ts->shared.reason), "%s", err->msg);
    }
    pthread_mutex_unlock(&ts->shared.mu);
    if (rc == TA_OK && (first || changed)) {
        if (!v.known)
            LOG_INFO("tempo: %s answers; version %s: assuming a recent Tempo",
                     tempo_client_url(ts->client), v.text);
        else if (!tempo_version_at_least(&v, TEMPO_MIN_MAJOR, TEMPO_MIN_MINOR))
            LOG_ERROR("tempo: %s is Tempo %s; 2.6 or later is needed (instant metrics queries)",
                      tempo_client_url(ts->client), v.text);
        else
            LOG_INFO("tempo: %s is Tempo %s", tempo_client_url(ts->client), v.text);
    }
    return rc;
}

static void *buildinfo_main(void *arg)
{
    struct tempo_source *ts = arg;
    int64_t delay = ts->retry_min_ns;
    for (;;) {
        struct ta_err err = { TA_OK, "" };
        enum ta_rc rc = probe_buildinfo(ts, &err);
        int64_t wait = ts->recheck_ns;
        if (rc != TA_OK) {
            pthread_mutex_lock(&ts->shared.mu);
            bool reachable = ts->shared.reachable, stopping = ts->shared.stopping;
            pthread_mutex_unlock(&ts->shared.mu);
            if (stopping)
                break;
            if (!reachable) {
                LOG_WARN("tempo: not reachable yet (%s); retrying in %lld ms", err.msg,
                         (long long)(delay / NS_PER_MS));
                wait = delay;
                delay = delay * 2 > ts->retry_max_ns ? ts->retry_max_ns : delay * 2;
            } else {
                LOG_V(2, "tempo: build info re-check failed: %s", err.msg);
            }
        } else {
            delay = ts->retry_min_ns;
        }
        int64_t deadline = clock_mono_ns() + wait;
        struct timespec tsp = { (time_t)(deadline / NS_PER_SEC), (long)(deadline % NS_PER_SEC) };
        pthread_mutex_lock(&ts->shared.mu);
        while (!ts->shared.stopping &&
               pthread_cond_timedwait(&ts->shared.cv, &ts->shared.mu, &tsp) == 0) {
        }
        bool stop = ts->shared.stopping;
        pthread_mutex_unlock(&ts->shared.mu);
        if (stop)
            break;
    }
    return NULL;
}

static enum ta_rc op_ready(void *self, struct ta_err *err)
{
    struct tempo_source *ts = self;
    pthread_mutex_lock(&ts->shared.mu);
    bool reachable = ts->shared.reachable;
    struct tempo_version v = ts->shared.version;
    char reason[TA_ERR_MSG_MAX];
    memcpy(reason, ts->shared.reason, sizeof(reason));
    pthread_mutex_unlock(&ts->shared.mu);
    if (!reachable)
        return ta_err_set(err, TA_UNAVAILABLE, "tempo at %s is not reachable yet: %s",
                          tempo_client_url(ts->client), reason[0] ? reason : "no answer yet");
    if (!tempo_version_at_least(&v, TEMPO_MIN_MAJOR, TEMPO_MIN_MINOR))
        return ta_err_set(err, TA_UNAVAILABLE, "tempo at %s is version %s; 2.6 or later is needed",
                          tempo_client_url(ts->client), v.text);
    return TA_OK;
}

/* ---- queries ------------------------------------------------------------------------------- */

struct window {
    int64_t start_s, end_s, w_s;
    int64_t start_ns, end_ns;
};

/* Renders "{ F [&& extra] }[ > { child }][ suffix]" into out; extra is taken (freed here). */
static enum ta_rc render(const struct traceql_node *filter, struct traceql_node *extra,
                         const struct traceql_node *child, const char *suffix, struct buf *out,
                         struct ta_err *err)
{
    enum ta_rc rc;
    buf_init(out, QUERY_MAX);
    if (extra) {
        struct traceql_node *both = traceql_new_and(traceql_clone(filter), extra);
        rc = traceql_render(both, out);
        traceql_free(both);
    } else {
        rc = traceql_render(filter, out);
    }
    if (rc == TA_OK && child) {
        rc = buf_adds(out, " > ");
        if (rc == TA_OK)
            rc = traceql_render(child, out);
    }
    if (rc == TA_OK && suffix)
        rc = buf_adds(out, suffix);
    if (rc != TA_OK)
        return ta_err_set(err, TA_INVALID, "tempo: query longer than %d bytes", QUERY_MAX);
    return TA_OK;
}

/* `duration > t_ns` (or another duration comparison) as a new tree node. */
static enum ta_rc duration_cmp(enum traceql_op op, int64_t t_ns, struct traceql_node **out,
                               struct ta_err *err)
{
    struct traceql_literal lit = { .type = TRACEQL_LIT_DURATION, .u.dur_ns = t_ns };
    return traceql_new_cmp(traceql_new_intrinsic(TRACEQL_INTRINSIC_DURATION), op, &lit, out, err);
}

/* One instant metrics query; on TA_OK *out holds the decoded answer. */
static enum ta_rc instant(struct tempo_source *ts, struct slice query, const struct window *w,
                          struct tempo_metrics **out, struct ta_err *err)
{
    struct buf path;
    struct tempo_reply *r = NULL;
    enum ta_rc rc;
    *out = NULL;
    buf_init(&path, PATH_MAX_BYTES);
    if (buf_adds(&path, "/api/metrics/query?q=") != TA_OK ||
        buf_add_urlenc(&path, query) != TA_OK ||
        buf_addf(&path, "&start=%" PRId64 "&end=%" PRId64, w->start_s, w->end_s) != TA_OK) {
        buf_free(&path);
        return ta_err_set(err, TA_INVALID, "tempo: query URL longer than %d bytes", PATH_MAX_BYTES);
    }
    count(&ts->stats.queries, 1);
    struct tempo_request req = { buf_slice(&path), TEMPO_ACCEPT_JSON, false, false };
    rc = tempo_client_get(ts->client, &req, &r, err);
    if (rc == TA_OK) {
        rc = tempo_parse_metrics(r->body, out, err);
        if (rc != TA_OK) {
            rc = TA_UPSTREAM;
            ta_err_prefix(err, "tempo");
        }
    } else if (rc == TA_NOT_FOUND) {
        rc = TA_UPSTREAM; /* a 404 on the metrics API: a wrong --tempo-url path, or Tempo < 2.6 */
        if (err) {
            size_t len = strlen(err->msg);
            snprintf(err->msg + len, sizeof(err->msg) - len, " (check the --tempo-url path)");
            err->rc = rc;
        }
    }
    if (rc == TA_OK && (*out)->partial) {
        count(&ts->stats.partial, 1);
        LOG_WARN("tempo: partial answer for " SLICE_FMT ": " SLICE_FMT,
                 SLICE_ARG(slice_head(query, 300)), SLICE_ARG(slice_head((*out)->message, 300)));
    }
    tempo_reply_release(r);
    buf_free(&path);
    return rc;
}

static uint64_t to_count(double v)
{
    if (!(v > 0))
        return 0;
    if (v > 9e18)
        return UINT64_C(9000000000000000000);
    return (uint64_t)llround(v);
}

/* A batch of independent instant queries run in parallel. */
struct job {
    struct tempo_source *ts;
    const struct window *w;
    struct buf query;
    struct tempo_metrics *m;
    enum ta_rc rc;
    struct ta_err err;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    j->rc = instant(j->ts, buf_slice(&j->query), j->w, &j->m, &j->err);
    return NULL;
}

/* Runs jobs[0..n) (queries already rendered); returns the first failure. */
static enum ta_rc run_jobs(struct job *jobs, int n, struct ta_err *err)
{
    pthread_t th[8];
    bool started[8] = { false };
    for (int i = 1; i < n && i < 8; i++)
        started[i] = pthread_create(&th[i], NULL, job_main, &jobs[i]) == 0;
    job_main(&jobs[0]);
    for (int i = 1; i < n && i < 8; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            job_main(&jobs[i]);
    }
    for (int i = 0; i < n; i++)
        if (jobs[i].rc != TA_OK) {
            if (err)
                *err = jobs[i].err;
            return jobs[i].rc;
        }
    return TA_OK;
}

static void jobs_free(struct job *jobs, int n)
{
    for (int i = 0; i < n; i++) {
        buf_free(&jobs[i].query);
        tempo_metrics_free(jobs[i].m);
    }
}

static void job_init(struct job *j, struct tempo_source *ts, const struct window *w)
{
    memset(j, 0, sizeof(*j));
    j->ts = ts;
    j->w = w;
    buf_init(&j->query, QUERY_MAX);
}

static bool any_partial(const struct job *jobs, int n)
{
    for (int i = 0; i < n; i++)
        if (jobs[i].m && jobs[i].m->partial)
            return true;
    return false;
}

/* ---- metrics ------------------------------------------------------------------------------- */

static void set_result(struct metric_raw *out, double value, uint64_t samples)
{
    out->samples = samples;
    out->value = samples ? value : NAN;
}

static enum ta_rc eval_rate(struct tempo_source *ts, const struct source_query *q,
                            const struct window *w, struct metric_raw *out, struct ta_err *err)
{
    struct job j;
    job_init(&j, ts, w);
    enum ta_rc rc = render(q->filter, NULL, NULL, " | count_over_time()", &j.query, err);
    if (rc == TA_OK)
        rc = run_jobs(&j, 1, err);
    if (rc == TA_OK) {
        uint64_t n = to_count(tempo_metrics_sum(j.m));
        set_result(out, (double)n / (double)w->w_s, n);
        out->partial = j.m->partial;
    }
    jobs_free(&j, 1);
    return rc;
}

static bool is_error_status(const struct tempo_label *l)
{
    if (!l || !l->has_value)
        return false;
    if (l->value.type == ATTR_STRING)
        return slice_eq_cstr(l->value.u.str, "error") ||
               slice_eq_cstr(l->value.u.str, "STATUS_CODE_ERROR");
    if (l->value.type == ATTR_INT)
        return l->value.u.i == SPAN_STATUS_ERROR;
    return false;
}

static enum ta_rc eval_error_ratio(struct tempo_source *ts, const struct source_query *q,
                                   const struct window *w, struct metric_raw *out,
                                   struct ta_err *err)
{
    struct job j;
    job_init(&j, ts, w);
    /* one query: numerator and denominator come from the same pass over the same spans */
    enum ta_rc rc =
        render(q->filter, NULL, NULL, " | count_over_time() by (status)", &j.query, err);
    if (rc == TA_OK)
        rc = run_jobs(&j, 1, err);
    if (rc == TA_OK) {
        double total = 0, errors = 0;
        for (size_t i = 0; i < j.m->nseries; i++) {
            const struct tempo_series *s = &j.m->series[i];
            if (isnan(s->value))
                continue;
            total += s->value;
            if (is_error_status(tempo_series_label(s, SLICE_LIT("status"))))
                errors += s->value;
        }
        uint64_t n = to_count(total);
        set_result(out, n ? (double)to_count(errors) / (double)n : NAN, n);
        out->partial = j.m->partial;
    }
    jobs_free(&j, 1);
    return rc;
}

static enum ta_rc eval_slow_ratio(struct tempo_source *ts, const struct source_query *q,
                                  const struct window *w, struct metric_raw *out,
                                  struct ta_err *err)
{
    struct job j[2];
    struct traceql_node *slow = NULL;
    job_init(&j[0], ts, w);
    job_init(&j[1], ts, w);
    enum ta_rc rc = render(q->filter, NULL, NULL, " | count_over_time()", &j[0].query, err);
    if (rc == TA_OK)
        rc = duration_cmp(TRACEQL_OP_GT, q->rule->threshold_ns, &slow, err);
    if (rc == TA_OK)
        rc = render(q->filter, slow, NULL, " | count_over_time()", &j[1].query, err);
    if (rc == TA_OK)
        rc = run_jobs(j, 2, err);
    if (rc == TA_OK) {
        uint64_t n = to_count(tempo_metrics_sum(j[0].m));
        uint64_t s = to_count(tempo_metrics_sum(j[1].m));
        if (s > n)
            s = n; /* spans arriving between the two queries */
        set_result(out, n ? (double)s / (double)n : NAN, n);
        out->partial = any_partial(j, 2);
    }
    jobs_free(j, 2);
    return rc;
}

static enum ta_rc version_needed(const struct tempo_version *v, int major, int minor,
                                 const char *what, struct ta_err *err)
{
    if (tempo_version_at_least(v, major, minor))
        return TA_OK;
    return ta_err_set(err, TA_INVALID, "%s needs Tempo %d.%d or later; %s is %s", what, major,
                      minor, "the server", v->text);
}

static enum ta_rc eval_mean(struct tempo_source *ts, const struct source_query *q,
                            const struct window *w, const struct tempo_version *v,
                            struct metric_raw *out, struct ta_err *err)
{
    enum ta_rc rc = version_needed(v, 2, 7, "metric mean (avg_over_time)", err);
    if (rc != TA_OK)
        return rc;
    struct job j[2];
    job_init(&j[0], ts, w);
    job_init(&j[1], ts, w);
    rc = render(q->filter, NULL, NULL, " | count_over_time()", &j[0].query, err);
    if (rc == TA_OK)
        rc = render(q->filter, NULL, NULL, " | avg_over_time(duration)", &j[1].query, err);
    if (rc == TA_OK)
        rc = run_jobs(j, 2, err);
    if (rc == TA_OK) {
        uint64_t n = to_count(tempo_metrics_sum(j[0].m));
        /* ungrouped: one series; no series when no span matched */
        double avg = j[1].m->nseries ? j[1].m->series[0].value : NAN;
        set_result(out, avg, n);
        out->partial = any_partial(j, 2);
    }
    jobs_free(j, 2);
    return rc;
}

static enum ta_rc eval_io_approx(struct tempo_source *ts, const struct source_query *q,
                                 const struct window *w, const struct tempo_version *v,
                                 struct metric_raw *out, struct ta_err *err)
{
    enum ta_rc rc = version_needed(v, 2, 8, "io_share mode approximate (sum_over_time)", err);
    if (rc != TA_OK)
        return rc;
    if (!q->rule->io)
        return ta_err_set(err, TA_INVALID, "io_share rule without an io filter");
    struct job j[3];
    for (int i = 0; i < 3; i++)
        job_init(&j[i], ts, w);
    rc = render(q->filter, NULL, NULL, " | count_over_time()", &j[0].query, err);
    if (rc == TA_OK)
        rc = render(q->filter, NULL, NULL, " | sum_over_time(duration)", &j[1].query, err);
    if (rc == TA_OK)
        rc = render(q->filter, NULL, q->rule->io, " | sum_over_time(duration)", &j[2].query, err);
    if (rc == TA_OK)
        rc = run_jobs(j, 3, err);
    if (rc == TA_OK) {
        uint64_t n = to_count(tempo_metrics_sum(j[0].m));
        double den = tempo_metrics_sum(j[1].m), num = tempo_metrics_sum(j[2].m);
        set_result(out, den > 0 ? num / den : NAN, n);
        out->partial = any_partial(j, 3);
    }
    jobs_free(j, 3);
    return rc;
}

/* ---- quantile ------------------------------------------------------------------------------ */

struct probe_ctx {
    struct tempo_source *ts;
    const struct source_query *q;
    const struct window *w;
    bool partial;
};

static enum ta_rc probe_above(void *arg, int64_t threshold_ns, uint64_t *n, struct ta_err *err)
{
    struct probe_ctx *p = arg;
    struct traceql_node *cmp = NULL;
    struct job j;
    job_init(&j, p->ts, p->w);
    enum ta_rc rc = duration_cmp(TRACEQL_OP_GT, threshold_ns, &cmp, err);
    if (rc == TA_OK)
        rc = render(p->q->filter, cmp, NULL, " | count_over_time()", &j.query, err);
    if (rc == TA_OK)
        rc = run_jobs(&j, 1, err);
    if (rc == TA_OK) {
        *n = to_count(tempo_metrics_sum(j.m));
        p->partial |= j.m->partial;
    }
    count(&p->ts->stats.probes, 1);
    jobs_free(&j, 1);
    return rc;
}

static enum ta_rc eval_quantile(struct tempo_source *ts, const struct source_query *q,
                                const struct window *w, struct metric_raw *out, struct ta_err *err)
{
    struct job j[2];
    struct tempo_hist_bucket b[TEMPO_QUANTILE_MAX_BUCKETS];
    size_t nb = 0;
    job_init(&j[0], ts, w);
    job_init(&j[1], ts, w);
    enum ta_rc rc = render(q->filter, NULL, NULL, " | count_over_time()", &j[0].query, err);
    if (rc == TA_OK)
        rc = render(q->filter, NULL, NULL, " | histogram_over_time(duration)", &j[1].query, err);
    if (rc == TA_OK)
        rc = run_jobs(j, 2, err);
    if (rc != TA_OK)
        goto out;
    for (size_t i = 0; i < j[1].m->nseries; i++) {
        const struct tempo_series *s = &j[1].m->series[i];
        const struct tempo_label *l = tempo_series_label(s, SLICE_LIT("__bucket"));
        double sec;
        if (!l || !l->has_value) {
            rc = ta_err_set(err, TA_UPSTREAM,
                            "tempo: unparsable answer: histogram series "
                            "without a __bucket label");
            goto out;
        }
        if (l->value.type == ATTR_DOUBLE)
            sec = l->value.u.d;
        else if (l->value.type == ATTR_INT)
            sec = (double)l->value.u.i / 1e9; /* an integer bucket would be ns */
        else {
            rc = ta_err_set(err, TA_UPSTREAM,
                            "tempo: unparsable answer: __bucket label is not "
                            "a number");
            goto out;
        }
        uint64_t c = to_count(s->value);
        if (c == 0)
            continue;
        if (nb == TEMPO_QUANTILE_MAX_BUCKETS) {
            rc = ta_err_set(err, TA_UPSTREAM,
                            "tempo: unparsable answer: more than %d histogram "
                            "buckets",
                            TEMPO_QUANTILE_MAX_BUCKETS);
            goto out;
        }
        struct ta_err e;
        if (tempo_quantile_bucket_ns(sec, &b[nb].upper_ns, &e) != TA_OK) {
            rc = ta_err_set(err, TA_UPSTREAM, "tempo: unparsable answer: %s", e.msg);
            goto out;
        }
        b[nb++].count = c;
    }
    uint64_t n = to_count(tempo_metrics_sum(j[0].m));
    struct probe_ctx pc = { ts, q, w, any_partial(j, 2) };
    struct tempo_quantile_result res;
    rc = tempo_quantile_refine(b, nb, n, q->rule->quantile, ts->quantile_probes, probe_above, &pc,
                               &res, err);
    if (rc == TA_INVALID) { /* bad buckets came from Tempo */
        rc = TA_UPSTREAM;
        ta_err_prefix(err, "tempo: unparsable answer");
        if (err)
            err->rc = TA_UPSTREAM;
    }
    if (rc != TA_OK)
        goto out;
    set_result(out, res.value_s, res.n);
    out->partial = pc.partial;
    LOG_V(3,
          "tempo: %s: q%g of %" PRIu64 " spans = %.6fs in (%" PRId64 ", %" PRId64 "] ns, %d "
          "queries",
          q->rule->name, q->rule->quantile, res.n, res.value_s, res.lo_ns, res.hi_ns,
          2 + res.probes);
out:
    jobs_free(j, 2);
    return rc;
}

/* ---- io_share exact ------------------------------------------------------------------------ */

struct fetch {
    struct tempo_source *ts;
    const struct source_query *q;
    const struct tempo_search *found;
    int64_t t_start_s, t_end_s; /* trace-by-id bounds */
    atomic_size_t next;
    pthread_mutex_t mu;
    struct ioshare_sum sum;       /* guarded by mu */
    uint64_t ok, missing, failed; /* guarded by mu */
    bool partial;                 /* guarded by mu */
    enum ta_rc first_rc;          /* guarded by mu */
    struct ta_err first_err;      /* guarded by mu */
};

/* Fetches and evaluates one trace; adds to f under its lock. */
static void fetch_one(struct fetch *f, size_t i)
{
    char hex[33];
    char path[160];
    struct tempo_reply *r = NULL;
    struct tempo_trace *t = NULL;
    struct ta_err err = { TA_OK, "" };
    struct ioshare_sum local = { 0, 0, 0 };
    tempo_trace_id_format(f->found->traces[i].trace_id, hex);
    snprintf(path, sizeof(path), "/api/v2/traces/%s?start=%" PRId64 "&end=%" PRId64, hex,
             f->t_start_s, f->t_end_s);
    struct tempo_request req = { slice_from_cstr(path),
                                 f->ts->json_traces ? TEMPO_ACCEPT_JSON : TEMPO_ACCEPT_PROTOBUF,
                                 false, true };
    enum ta_rc rc = tempo_client_get(f->ts->client, &req, &r, &err);
    if (rc == TA_OK) {
        rc = r->protobuf ? tempo_parse_trace_proto(r->body, true, &t, &err)
                         : tempo_parse_trace_json(r->body, &t, &err);
        if (rc != TA_OK && rc != TA_TOO_LARGE) {
            rc = TA_UPSTREAM;
            ta_err_prefix(&err, "tempo: trace %s", hex);
        }
    }
    if (rc == TA_OK && t->nspans > 0)
        rc = ioshare_trace(t->spans, t->nspans, f->q->filter, f->q->rule->io, f->q->start_ns,
                           f->q->end_ns, &local, &err);
    pthread_mutex_lock(&f->mu);
    if (rc == TA_NOT_FOUND || (rc == TA_OK && t->nspans == 0)) {
        f->missing++;
    } else if (rc != TA_OK) {
        f->failed++;
        f->partial = true;
        if (f->first_rc == TA_OK) {
            f->first_rc = rc == TA_TOO_LARGE ? TA_UPSTREAM : rc;
            f->first_err = err;
        }
    } else {
        f->ok++;
        f->sum.covered_ns += local.covered_ns;
        f->sum.total_ns += local.total_ns;
        f->sum.parents += local.parents;
        f->partial |= t->partial;
    }
    pthread_mutex_unlock(&f->mu);
    if (rc != TA_OK && rc != TA_NOT_FOUND)
        LOG_V(2, "tempo: io_share: trace %s skipped: %s", hex, err.msg);
    tempo_trace_free(t);
    tempo_reply_release(r);
}

static void *fetch_main(void *arg)
{
    struct fetch *f = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->found->ntraces)
            break;
        fetch_one(f, i);
    }
    return NULL;
}

static enum ta_rc eval_io_exact(struct tempo_source *ts, const struct source_query *q,
                                const struct window *w, const struct tempo_version *v,
                                struct metric_raw *out, struct ta_err *err)
{
    if (!q->rule->io)
        return ta_err_set(err, TA_INVALID, "io_share rule without an io filter");
    uint32_t limit = q->rule->io_sample ? q->rule->io_sample : DEFAULT_IO_SAMPLE;
    bool most_recent = tempo_version_at_least(v, 2, 8);
    if (!most_recent) {
        pthread_mutex_lock(&ts->shared.mu);
        bool warned = ts->shared.warned_old_search;
        ts->shared.warned_old_search = true;
        pthread_mutex_unlock(&ts->shared.mu);
        if (!warned)
            LOG_WARN("tempo: %s has no `with (most_recent=true)` (2.8+): io_share samples are "
                     "Tempo's first traces found, not the newest",
                     v->text);
    }
    struct buf query, path;
    struct tempo_reply *r = NULL;
    struct tempo_search *found = NULL;
    enum ta_rc rc =
        render(q->filter, NULL, NULL, most_recent ? " with (most_recent=true)" : NULL, &query, err);
    buf_init(&path, PATH_MAX_BYTES);
    if (rc != TA_OK)
        goto out;
    if (buf_adds(&path, "/api/search?q=") != TA_OK ||
        buf_add_urlenc(&path, buf_slice(&query)) != TA_OK ||
        buf_addf(&path, "&limit=%" PRIu32 "&spss=1&start=%" PRId64 "&end=%" PRId64, limit,
                 w->start_s, w->end_s) != TA_OK) {
        rc = ta_err_set(err, TA_INVALID, "tempo: search URL longer than %d bytes", PATH_MAX_BYTES);
        goto out;
    }
    count(&ts->stats.queries, 1);
    struct tempo_request req = { buf_slice(&path), TEMPO_ACCEPT_JSON, false, false };
    rc = tempo_client_get(ts->client, &req, &r, err);
    if (rc == TA_NOT_FOUND) {
        rc = TA_UPSTREAM;
        if (err)
            err->rc = rc;
    }
    if (rc != TA_OK)
        goto out;
    rc = tempo_parse_search(r->body, &found, err);
    if (rc != TA_OK) {
        rc = TA_UPSTREAM;
        ta_err_prefix(err, "tempo");
        goto out;
    }
    if (found->ntraces > limit)
        found->ntraces = limit; /* a server ignoring limit */

    struct fetch f;
    memset(&f, 0, sizeof(f));
    f.ts = ts;
    f.q = q;
    f.found = found;
    int64_t now_s = clock_wall_ns() / NS_PER_SEC;
    f.t_start_s = w->start_s > TRACE_SLACK_S ? w->start_s - TRACE_SLACK_S : 0;
    f.t_end_s = (now_s > w->end_s ? now_s : w->end_s) + TRACE_SLACK_S;
    atomic_init(&f.next, 0);
    pthread_mutex_init(&f.mu, NULL);
    int nth = tempo_client_max_concurrency(ts->client);
    if ((size_t)nth > found->ntraces)
        nth = (int)found->ntraces;
    if (nth > 64)
        nth = 64;
    pthread_t th[64];
    bool started[64] = { false };
    for (int i = 1; i < nth; i++)
        started[i] = pthread_create(&th[i], NULL, fetch_main, &f) == 0;
    fetch_main(&f);
    for (int i = 1; i < nth; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    pthread_mutex_destroy(&f.mu);
    count(&ts->stats.fetched, f.ok);
    count(&ts->stats.missing, f.missing);
    count(&ts->stats.failed, f.failed);
    count(&ts->stats.queries, found->ntraces);
    LOG_V(2,
          "tempo: %s: io_share over %zu traces found: %" PRIu64 " evaluated, %" PRIu64
          " missing, %" PRIu64 " failed, %" PRIu64 " parent spans",
          q->rule->name, found->ntraces, f.ok, f.missing, f.failed, f.sum.parents);
    if (f.ok == 0 && f.failed > 0) {
        rc = f.first_rc;
        if (err) {
            *err = f.first_err;
            err->rc = rc;
        }
        goto out;
    }
    set_result(out, f.sum.total_ns > 0 ? (double)f.sum.covered_ns / (double)f.sum.total_ns : NAN,
               f.sum.parents);
    out->partial = f.partial;
out:
    tempo_search_free(found);
    tempo_reply_release(r);
    buf_free(&query);
    buf_free(&path);
    return rc;
}

/* ---- evaluate ------------------------------------------------------------------------------ */

static enum ta_rc op_evaluate(void *self, const struct source_query *q, struct metric_raw *out,
                              struct ta_err *err)
{
    struct tempo_source *ts = self;
    enum ta_rc rc;
    int64_t t0 = clock_mono_ns();
    out->value = NAN;
    out->samples = 0;
    out->partial = false;
    count(&ts->stats.evaluations, 1);

    pthread_mutex_lock(&ts->shared.mu);
    bool reachable = ts->shared.reachable;
    pthread_mutex_unlock(&ts->shared.mu);
    if (!reachable)
        (void)probe_buildinfo(ts, NULL); /* Tempo may be back: learn its version first */
    pthread_mutex_lock(&ts->shared.mu);
    struct tempo_version v = ts->shared.version;
    pthread_mutex_unlock(&ts->shared.mu);

    struct window w;
    w.start_ns = q->start_ns;
    w.end_ns = q->end_ns;
    w.start_s = q->start_ns >= 0 ? q->start_ns / NS_PER_SEC : 0;
    w.end_s = q->end_ns >= 0 ? q->end_ns / NS_PER_SEC : 0;
    w.w_s = w.end_s - w.start_s;
    int64_t max_s = tempo_version_at_least(&v, 3, 0) ? 24 * 3600 : 3 * 3600;
    if (w.w_s < 1) {
        rc = ta_err_set(err, TA_INVALID, "window [%" PRId64 ", %" PRId64 ") s is shorter than 1s",
                        w.start_s, w.end_s);
        goto out;
    }
    if (w.w_s > max_s) {
        rc = ta_err_set(err, TA_INVALID,
                        "window of %" PRId64 "s exceeds Tempo %s's metrics query limit of %" PRId64
                        "h",
                        w.w_s, v.text[0] ? v.text : "", max_s / 3600);
        goto out;
    }
    switch (q->rule->metric) {
    case METRIC_RATE:
        rc = eval_rate(ts, q, &w, out, err);
        break;
    case METRIC_ERROR_RATIO:
        rc = eval_error_ratio(ts, q, &w, out, err);
        break;
    case METRIC_SLOW_RATIO:
        rc = eval_slow_ratio(ts, q, &w, out, err);
        break;
    case METRIC_MEAN:
        rc = eval_mean(ts, q, &w, &v, out, err);
        break;
    case METRIC_QUANTILE:
        rc = eval_quantile(ts, q, &w, out, err);
        break;
    case METRIC_IO_SHARE:
        rc = q->rule->io_mode == RULE_IO_APPROXIMATE ? eval_io_approx(ts, q, &w, &v, out, err)
                                                     : eval_io_exact(ts, q, &w, &v, out, err);
        break;
    default:
        rc = ta_err_set(err, TA_INVALID, "unknown metric kind %d", (int)q->rule->metric);
    }
out:
    if (rc != TA_OK) {
        count(&ts->stats.failures, 1);
        out->value = NAN;
        out->samples = 0;
    }
    LOG_V(2, "tempo: %s [%" PRId64 ", %" PRId64 "): %s, value %g, %" PRIu64 " samples%s, %lld ms",
          q->rule->name, w.start_s, w.end_s, rc == TA_OK ? "ok" : ta_rc_name(rc), out->value,
          out->samples, out->partial ? " (partial)" : "",
          (long long)((clock_mono_ns() - t0) / NS_PER_MS));
    return rc;
}

static const struct source_ops OPS = {
    .name = "tempo",
    .evaluate = op_evaluate,
    .ready = op_ready,
};

/* ---- lifecycle ----------------------------------------------------------------------------- */

void tempo_source_config_from_flags(const struct flags *f, struct tempo_source_config *out)
{
    memset(out, 0, sizeof(*out));
    out->client.url = f->tempo_url;
    out->client.tenant = f->tempo_tenant;
    out->client.bearer_token_file = f->tempo_bearer_token_file;
    out->client.basic_auth_file = f->tempo_basic_auth_file;
    out->client.headers = f->tempo_headers.items;
    out->client.nheaders = f->tempo_headers.n;
    out->client.ca_file = f->tempo_ca_file;
    out->client.client_cert_file = f->tempo_client_cert_file;
    out->client.client_key_file = f->tempo_client_key_file;
    out->client.insecure_skip_verify = f->tempo_insecure_skip_verify;
    out->client.timeout_ns = f->tempo_timeout_ns;
    out->client.max_concurrency = f->tempo_max_concurrency;
}

enum ta_rc tempo_source_new(const struct tempo_source_config *cfg, struct tempo_source **out,
                            struct ta_err *err)
{
    *out = NULL;
    struct tempo_source *ts = ta_xcalloc(1, sizeof(*ts));
    pthread_mutex_init(&ts->shared.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ts->shared.cv, &ca);
    pthread_condattr_destroy(&ca);
    ts->src.ops = &OPS;
    ts->src.self = ts;
    enum ta_rc rc = tempo_client_new(&cfg->client, &ts->client, err);
    if (rc != TA_OK) {
        tempo_source_free(ts);
        return rc;
    }
    ts->quantile_probes = cfg->quantile_probes > 0 ? cfg->quantile_probes : TEMPO_QUANTILE_PROBES;
    ts->json_traces = cfg->json_traces;
    ts->retry_min_ns =
        cfg->buildinfo_retry_min_ns > 0 ? cfg->buildinfo_retry_min_ns : 500 * NS_PER_MS;
    ts->retry_max_ns =
        cfg->buildinfo_retry_max_ns > 0 ? cfg->buildinfo_retry_max_ns : 30 * NS_PER_SEC;
    ts->recheck_ns = cfg->buildinfo_recheck_ns > 0 ? cfg->buildinfo_recheck_ns : 600 * NS_PER_SEC;
    snprintf(ts->shared.reason, sizeof(ts->shared.reason), "waiting for the first answer");
    if (pthread_create(&ts->thread, NULL, buildinfo_main, ts) != 0) {
        tempo_source_free(ts);
        return ta_err_set(err, TA_INTERNAL, "tempo: cannot start the build-info thread");
    }
    ts->thread_started = true;
    *out = ts;
    return TA_OK;
}

enum ta_rc tempo_source_new_from_flags(const struct flags *f, struct tempo_source **out,
                                       struct ta_err *err)
{
    struct tempo_source_config cfg;
    tempo_source_config_from_flags(f, &cfg);
    return tempo_source_new(&cfg, out, err);
}

void tempo_source_free(struct tempo_source *ts)
{
    if (!ts)
        return;
    pthread_mutex_lock(&ts->shared.mu);
    ts->shared.stopping = true;
    pthread_cond_broadcast(&ts->shared.cv);
    pthread_mutex_unlock(&ts->shared.mu);
    tempo_client_stop(ts->client); /* aborts a build-info request in flight */
    if (ts->thread_started)
        pthread_join(ts->thread, NULL);
    tempo_client_free(ts->client);
    pthread_cond_destroy(&ts->shared.cv);
    pthread_mutex_destroy(&ts->shared.mu);
    free(ts);
}

const struct source *tempo_source_source(struct tempo_source *ts)
{
    return &ts->src;
}

void tempo_source_get_stats(struct tempo_source *ts, struct tempo_source_stats *out)
{
    out->evaluations = atomic_load(&ts->stats.evaluations);
    out->failures = atomic_load(&ts->stats.failures);
    out->queries = atomic_load(&ts->stats.queries);
    out->partial = atomic_load(&ts->stats.partial);
    out->quantile_probes = atomic_load(&ts->stats.probes);
    out->traces_fetched = atomic_load(&ts->stats.fetched);
    out->traces_missing = atomic_load(&ts->stats.missing);
    out->traces_failed = atomic_load(&ts->stats.failed);
    tempo_client_get_stats(ts->client, &out->client);
}

void tempo_source_version(struct tempo_source *ts, struct tempo_version *out)
{
    pthread_mutex_lock(&ts->shared.mu);
    *out = ts->shared.version;
    pthread_mutex_unlock(&ts->shared.mu);
}
