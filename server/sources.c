/* sources.c — Tempo or embedded store: construction, rules-driven settings, counters. */
#include "server/sources.h"

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "server/ingest.h"
#include "server/store.h"
#include "server/store_source.h"
#include "server/tempo_source.h"

static int64_t retention_for(const struct app *app, const struct rules *rules)
{
    int64_t max_refresh = 0;
    for (size_t i = 0; i < rules->n; i++)
        if (rules->items[i].refresh_ns > max_refresh)
            max_refresh = rules->items[i].refresh_ns;
    return rules->max_window_ns + sources_query_delay_ns(app) + max_refresh +
           SOURCES_RETENTION_SLACK_NS;
}

int64_t sources_query_delay_ns(const struct app *app)
{
    if (app->flags->query_delay_ns >= 0)
        return app->flags->query_delay_ns;
    return app->flags->tempo_url ? SOURCES_TEMPO_QUERY_DELAY_NS : SOURCES_EMBEDDED_QUERY_DELAY_NS;
}

enum ta_rc sources_start(struct app *app, const struct rules *rules, struct ta_err *err)
{
    const struct flags *f = app->flags;
    if (f->tempo_url) {
        enum ta_rc rc = tempo_source_new_from_flags(f, &app->tempo, err);
        if (rc != TA_OK)
            return rc;
        app->source = tempo_source_source(app->tempo);
        LOG_INFO("trace source: Tempo at %s", f->tempo_url);
        return TA_OK;
    }
    struct store_config sc = {
        .max_spans = (uint64_t)f->embedded_max_spans,
        .retention_ns = retention_for(app, rules),
    };
    enum ta_rc rc = store_new(&sc, &app->store, err);
    if (rc != TA_OK)
        return ta_err_prefix(err, "embedded store");
    app->embedded_source = store_source_make(app->store);
    app->source = &app->embedded_source;
    ingest_set_rules(app, rules);
    LOG_INFO("trace source: embedded store (at most %lld spans, %llds retention)",
             (long long)f->embedded_max_spans, (long long)(sc.retention_ns / NS_PER_SEC));
    return TA_OK;
}

void sources_rules_changed(struct app *app, const struct rules *rules)
{
    if (!app->store)
        return;
    store_set_retention(app->store, retention_for(app, rules));
    ingest_set_rules(app, rules);
}

void sources_tick(struct app *app)
{
    if (app->store)
        store_expire(app->store, clock_wall_ns());
}

static void store_metrics(struct promtext *o, struct store *st)
{
    struct store_stats s;
    store_get_stats(st, &s);
    promtext_one(o, "tempo_adapter_store_spans", "gauge", "Spans held by the embedded store.",
                 (double)s.spans);
    promtext_one(o, "tempo_adapter_store_traces", "gauge",
                 "Trace ids indexed by the embedded store.", (double)s.traces);
    promtext_one(o, "tempo_adapter_store_bytes", "gauge", "Memory held by the embedded store.",
                 (double)s.bytes);
    promtext_one(o, "tempo_adapter_store_received_spans_total", "counter",
                 "Spans received over OTLP.", (double)s.received);
    promtext_one(o, "tempo_adapter_store_stored_spans_total", "counter", "Spans stored.",
                 (double)s.stored);
    promtext_one(o, "tempo_adapter_store_rejected_spans_total", "counter",
                 "Spans refused as invalid (bad ids or times, refused requests).",
                 (double)s.rejected);
    promtext_one(
        o, "tempo_adapter_store_dropped_spans_total", "counter",
        "Spans evicted early because --embedded-max-spans (or the memory bound) was reached.",
        (double)s.dropped);
    promtext_one(o, "tempo_adapter_store_expired_spans_total", "counter",
                 "Spans evicted after the retention.", (double)s.expired);
    promtext_one(o, "tempo_adapter_store_too_old_spans_total", "counter",
                 "Spans that arrived older than the retention and were not stored.",
                 (double)s.too_old);
    promtext_one(o, "tempo_adapter_store_duplicate_spans_total", "counter",
                 "Spans received again (client retries) and not stored twice.",
                 (double)s.duplicates);
}

static void tempo_metrics(struct promtext *o, struct tempo_source *ts)
{
    struct tempo_source_stats s;
    tempo_source_get_stats(ts, &s);
    promtext_one(o, "tempo_adapter_tempo_evaluations_total", "counter",
                 "Evaluations sent to Tempo.", (double)s.evaluations);
    promtext_one(o, "tempo_adapter_tempo_evaluation_failures_total", "counter",
                 "Evaluations that failed against Tempo.", (double)s.failures);
    promtext_one(o, "tempo_adapter_tempo_queries_total", "counter",
                 "TraceQL queries planned (before identical ones are shared).", (double)s.queries);
    promtext_one(o, "tempo_adapter_tempo_partial_answers_total", "counter",
                 "Answers Tempo marked PARTIAL (used anyway).", (double)s.partial);
    promtext_one(o, "tempo_adapter_tempo_quantile_probes_total", "counter",
                 "Count probes made to refine quantiles.", (double)s.quantile_probes);
    promtext_one(o, "tempo_adapter_tempo_traces_fetched_total", "counter",
                 "Traces fetched for exact io_share.", (double)s.traces_fetched);
    promtext_one(o, "tempo_adapter_tempo_traces_missing_total", "counter",
                 "Traces not found (404 or empty) for exact io_share.", (double)s.traces_missing);
    promtext_one(o, "tempo_adapter_tempo_traces_failed_total", "counter",
                 "Trace fetches that failed for exact io_share.", (double)s.traces_failed);
    promtext_one(o, "tempo_adapter_tempo_http_requests_total", "counter",
                 "HTTP requests sent to Tempo, retries included.", (double)s.client.requests);
    promtext_one(o, "tempo_adapter_tempo_http_retries_total", "counter", "Retried Tempo requests.",
                 (double)s.client.retries);
    promtext_one(o, "tempo_adapter_tempo_shared_queries_total", "counter",
                 "Queries answered by an identical query already in flight or just answered.",
                 (double)(s.client.shared + s.client.memo_hits));
    promtext_one(o, "tempo_adapter_tempo_received_bytes_total", "counter",
                 "Body bytes received from Tempo.", (double)s.client.bytes);
}

void sources_render_metrics(struct app *app, struct promtext *out)
{
    if (app->store)
        store_metrics(out, app->store);
    if (app->tempo)
        tempo_metrics(out, app->tempo);
}

void sources_free(struct app *app)
{
    tempo_source_free(app->tempo);
    app->tempo = NULL;
    store_free(app->store);
    app->store = NULL;
    ingest_free(app);
    app->source = NULL;
}
