/* sources.h — chooses and runs the trace source: Grafana Tempo with --tempo-url, else the
 * embedded store fed by the OTLP receiver.
 *
 * main calls sources_start before the cache exists, sources_rules_changed on every rules
 * (re)load (store retention, receiver keep set), sources_tick once a second from the main
 * thread (store expiry), and sources_free at exit after the cache has stopped. /metrics gets
 * the source's counters through sources_render_metrics (any thread). */
#ifndef TA_SERVER_SOURCES_H
#define TA_SERVER_SOURCES_H

#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/ta_err.h"
#include "rules/rules.h"
#include "server/app.h"
#include "server/promtext.h"

#define SOURCES_TEMPO_QUERY_DELAY_NS    (30LL * 1000000000LL) /* Tempo 3's query_end_cutoff */
#define SOURCES_EMBEDDED_QUERY_DELAY_NS (5LL * 1000000000LL)
#define SOURCES_RETENTION_SLACK_NS      (60LL * 1000000000LL) /* beyond window + delay + refresh */

/* Builds the source chosen by the flags into app (app->source, app->store or app->tempo). */
enum ta_rc sources_start(struct app *app, const struct rules *rules, struct ta_err *err);
/* --query-delay, or the source's default. */
int64_t sources_query_delay_ns(const struct app *app);
void sources_rules_changed(struct app *app, const struct rules *rules);
void sources_tick(struct app *app);
/* Appends the source's counters (store or Tempo) to the /metrics page. */
void sources_render_metrics(struct app *app, struct promtext *out);
void sources_free(struct app *app);

#endif
