/* ingest.h — the plain-HTTP OTLP listener's handler: POST /v1/traces into the embedded store.
 *
 * server/http.c calls ingest_handle for each request on --otlp-bind-address; it checks the
 * path and method and hands the body to server/otlp_receiver, which decodes and stores it. The
 * attribute keys the receiver keeps follow the current rules: main calls ingest_set_rules at
 * startup and after each reload. Any thread. */
#ifndef TA_SERVER_INGEST_H
#define TA_SERVER_INGEST_H

#include "rules/rules.h"
#include "server/app.h"
#include "server/http.h"
#include "server/otlp_decode.h"

#define INGEST_BODY_MAX OTLP_BODY_MAX /* compressed bodies are capped like inflated ones */

/* http_handler_fn for the OTLP listener; app is the struct app. */
void ingest_handle(void *app, struct http_exchange *x);
/* Makes the receiver keep the attributes rules can reference (replaces the previous set). */
void ingest_set_rules(struct app *app, const struct rules *rules);
/* Frees the keep set at exit (after the listener stopped). */
void ingest_free(struct app *app);

#endif
