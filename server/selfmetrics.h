/* selfmetrics.h — the adapter's own Prometheus metrics, served at /metrics.
 *
 * server/api.c calls selfmetrics_render on GET /metrics (authorized like any non-resource
 * path). It reads counters from the cache, the trace source (store or Tempo client) and the
 * HTTP listeners; every reader is thread-safe, so this is any thread. */
#ifndef TA_SERVER_SELFMETRICS_H
#define TA_SERVER_SELFMETRICS_H

#include "apis/base/buf.h"
#include "rules/rules.h"
#include "server/app.h"

/* Appends the text exposition format (version 0.0.4) to out. */
TA_MUST_CHECK enum ta_rc selfmetrics_render(struct app *app, const struct rules *rules,
                                            struct buf *out);

#endif
