/* api.h — the HTTPS API handler: routing, authentication, authorization, answers.
 *
 * server/http.c calls api_handle for each request on the secure port. It routes with
 * apis/route, authenticates and authorizes through server/auth (requests that need a review
 * call go to the worker pool), then answers discovery, OpenAPI, health, /metrics and the
 * metric path; the metric path reads the value cache, and the first request for a new
 * (rule, namespace, selector) waits on the cache's evaluation with its connection suspended.
 * Every error is a Kubernetes Status. Any thread. */
#ifndef TA_SERVER_API_H
#define TA_SERVER_API_H

#include "apis/base/buf.h"
#include "server/http.h"

#define API_BODY_MAX (64 * 1024) /* GET bodies are ignored; larger ones are refused with 413 */

/* http_handler_fn for the API listener; app is the struct app. */
void api_handle(void *app, struct http_exchange *x);
/* Status bodies for errors http.c answers by itself (413, 414, 431, 503). */
void api_error_body(int status, const char *message, struct buf *out, const char **content_type);

#endif
