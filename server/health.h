/* health.h — /healthz, /livez and /readyz answers in Go's apiserver format (spec §10).
 *
 * server/api.c calls health_answer for the three routes (always allowed without
 * authentication). /healthz and /livez check only that the process serves; /readyz also
 * needs loaded rules and a trace source that can answer (Tempo reachable). A failing check is
 * a 500 whose body names the check and the reason (no secrets: reasons come from the source's
 * own messages). Reads only thread-safe state: any thread. */
#ifndef TA_SERVER_HEALTH_H
#define TA_SERVER_HEALTH_H

#include "apis/base/buf.h"
#include "apis/route.h"
#include "server/app.h"

/* Writes the body into out and returns the HTTP status (200, 404 for an unknown check, 500). */
int health_answer(struct app *app, const struct route *route, struct buf *out);

#endif
