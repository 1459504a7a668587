/* selfmetrics.c — renders counters and gauges in the Prometheus text format. Each family is
 * written with its HELP and TYPE lines by one helper, so names and types stay consistent. */
#include "server/selfmetrics.h"

#include <stdlib.h>

#include "apis/base/clock.h"
#include "server/config.h"
#include "server/http.h"
#include "server/promtext.h"
#include "server/sources.h"

static void http_metrics(struct promtext *o, struct app *app)
{
    promtext_family(o, "tempo_adapter_http_requests_total", "counter",
                    "API requests answered, by status class.");
    uint64_t all = atomic_load(&app->requests), c4 = atomic_load(&app->requests_4xx),
             c5 = atomic_load(&app->requests_5xx);
    promtext_sample(o, "tempo_adapter_http_requests_total", "{code=\"2xx\"}",
                    (double)(all - c4 - c5));
    promtext_sample(o, "tempo_adapter_http_requests_total", "{code=\"4xx\"}", (double)c4);
    promtext_sample(o, "tempo_adapter_http_requests_total", "{code=\"5xx\"}", (double)c5);
    promtext_family(o, "tempo_adapter_http_inflight_requests", "gauge",
                    "Requests received and not yet answered, by listener.");
    promtext_sample(o, "tempo_adapter_http_inflight_requests", "{listener=\"api\"}",
                    (double)http_server_inflight(app->api_server));
    if (app->otlp_server)
        promtext_sample(o, "tempo_adapter_http_inflight_requests", "{listener=\"otlp\"}",
                        (double)http_server_inflight(app->otlp_server));
}

static void rules_metrics(struct promtext *o, struct app *app, const struct rules *rules)
{
    promtext_one(o, "tempo_adapter_rules", "gauge", "Rules in the current rules file.",
                 rules ? (double)rules->n : 0);
    promtext_one(o, "tempo_adapter_rules_reloads_total", "counter", "Successful rules reloads.",
                 (double)atomic_load(&app->reloads));
    promtext_one(o, "tempo_adapter_rules_reload_errors_total", "counter",
                 "Rejected rules reloads (the previous rules stay in force).",
                 (double)atomic_load(&app->reload_errors));
}

static void cache_metrics(struct promtext *o, struct app *app)
{
    struct cache_stats s;
    cache_get_stats(app->cache, &s);
    promtext_one(o, "tempo_adapter_cache_entries", "gauge",
                 "Distinct (rule, namespace, selector) keys kept fresh.", (double)s.entries);
    promtext_one(o, "tempo_adapter_cache_hits_total", "counter",
                 "Metric requests answered from memory.", (double)s.hits);
    promtext_one(o, "tempo_adapter_cache_misses_total", "counter",
                 "Metric requests that waited for a first evaluation.", (double)s.misses);
    promtext_one(o, "tempo_adapter_cache_expired_total", "counter",
                 "Keys dropped because nobody asked for them in 10 refresh periods.",
                 (double)s.expired);

    struct cache_rule_stats *rs = NULL;
    size_t n = cache_get_rule_stats(app->cache, &rs);
    static const struct {
        const char *name, *type, *help;
    } F[] = {
        { "tempo_adapter_rule_evaluations_total", "counter", "Finished evaluations per rule." },
        { "tempo_adapter_rule_source_errors_total", "counter",
          "Evaluations per rule that the trace source failed." },
        { "tempo_adapter_rule_policy_errors_total", "counter",
          "Evaluations per rule refused by onEmpty/minSamples." },
        { "tempo_adapter_rule_evaluation_seconds_total", "counter",
          "Time spent querying the trace source per rule." },
        { "tempo_adapter_rule_oldest_value_age_seconds", "gauge",
          "Age of the oldest last good value among the rule's keys (-1: none)." },
        { "tempo_adapter_rule_entries", "gauge", "Live keys per rule." },
    };
    for (size_t f = 0; f < sizeof(F) / sizeof(F[0]); f++) {
        promtext_family(o, F[f].name, F[f].type, F[f].help);
        for (size_t i = 0; i < n; i++) {
            char labels[RULES_NAME_MAX + 16];
            double v[] = { (double)rs[i].evaluations,   (double)rs[i].source_errors,
                           (double)rs[i].policy_errors, rs[i].evaluation_seconds,
                           rs[i].oldest_value_age_s,    (double)rs[i].entries };
            snprintf(labels, sizeof(labels), "{rule=\"%s\"}", rs[i].rule);
            promtext_sample(o, F[f].name, labels, v[f]);
        }
    }
    free(rs);
}

enum ta_rc selfmetrics_render(struct app *app, const struct rules *rules, struct buf *out)
{
    struct promtext o = { out, TA_OK };
    promtext_one(&o, "tempo_adapter_start_time_seconds", "gauge", "Unix time the process started.",
                 (double)app->started_ns / 1e9);
    http_metrics(&o, app);
    rules_metrics(&o, app, rules);
    cache_metrics(&o, app);
    sources_render_metrics(app, &o);
    return o.rc;
}
