/* api.c — one API request from route to answer; see api.h.
 *
 * A request is a small state machine held in struct api_req (the exchange's state): parse the
 * route and selector, authorize (inline when auth answers from memory, else on the worker pool),
 * then serve. The metric path may wait for the cache's first evaluation; the cache's wake
 * callback resumes the request from the evaluating thread. Whoever hands the exchange to another
 * thread holds it (http_exchange_hold) and releases it when done, so a request answered 503 by a
 * shutdown is never touched after it is freed. */
#include "server/api.h"

#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "apis/discovery.h"
#include "apis/metricvalue.h"
#include "apis/openapi.h"
#include "apis/route.h"
#include "apis/selector.h"
#include "apis/status.h"
#include "rules/cache.h"
#include "server/app.h"
#include "server/config.h"
#include "server/health.h"
#include "server/selfmetrics.h"

#define API_MAX_REWAITS 3 /* a key whose entry vanished while we waited is retried this often */

struct api_req {
    struct app *app;
    struct http_exchange *x;
    struct route route;
    enum ta_rc route_rc;
    struct ta_err route_err;
    struct selector *sel; /* NULL when absent or invalid */
    enum ta_rc sel_rc;
    struct ta_err sel_err;
    struct rules *rules; /* snapshot held for the request */
    int waits;
};

static void api_req_free(void *p)
{
    struct api_req *r = p;
    route_free(&r->route);
    selector_free(r->sel);
    config_release(r->rules);
    free(r);
}

/* -- answering ----------------------------------------------------------------------------- */

static void count(struct app *app, int code)
{
    atomic_fetch_add_explicit(&app->requests, 1, memory_order_relaxed);
    if (code >= 500)
        atomic_fetch_add_explicit(&app->requests_5xx, 1, memory_order_relaxed);
    else if (code >= 400)
        atomic_fetch_add_explicit(&app->requests_4xx, 1, memory_order_relaxed);
}

static void respond_json(struct api_req *r, int code, struct buf *body)
{
    count(r->app, code);
    http_respond(r->x, code, "application/json", body);
}

/* Sends the Status built into b, or a 500 when building it failed. */
static void respond_status(struct api_req *r, enum ta_rc built, int code, struct buf *b)
{
    if (built != TA_OK) {
        buf_init(b, STATUS_BODY_MAX);
        if (status_internal_error(b, SLICE_LIT("error body too large"), &code) != TA_OK)
            code = 500;
    }
    respond_json(r, code, b);
}

static void respond_err(struct api_req *r, const struct ta_err *err)
{
    struct buf b;
    int code = 500;
    buf_init(&b, STATUS_BODY_MAX);
    enum ta_rc built = status_from_err(err, &b, &code);
    respond_status(r, built, code, &b);
}

static void respond_not_found(struct api_req *r)
{
    struct buf b;
    int code = 404;
    buf_init(&b, STATUS_BODY_MAX);
    enum ta_rc built = status_not_found(&b, &code);
    respond_status(r, built, code, &b);
}

void api_error_body(int status, const char *message, struct buf *out, const char **content_type)
{
    struct slice m = slice_from_cstr(message);
    int code = status;
    enum ta_rc rc;
    switch (status) {
    case 413:
        rc = status_too_large(out, m, &code);
        break;
    case 414:
        rc = status_uri_too_long(out, m, &code);
        break;
    case 431:
        rc = status_headers_too_large(out, m, &code);
        break;
    case 503:
        rc = status_service_unavailable(out, m, &code);
        break;
    default:
        rc = status_internal_error(out, m, &code);
    }
    *content_type = rc == TA_OK ? "application/json" : "text/plain; charset=utf-8";
}

/* -- serving each route -------------------------------------------------------------------- */

static void serve_discovery(struct api_req *r)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    enum ta_rc rc;
    if (r->route.kind == ROUTE_APIS) {
        rc = discovery_group_list(&b);
    } else if (r->route.kind == ROUTE_GROUP_DOC) {
        rc = discovery_group(&b);
    } else {
        size_t n = r->rules->n;
        struct slice *names = ta_xcalloc(n ? n : 1, sizeof(*names));
        for (size_t i = 0; i < n; i++)
            names[i] = slice_from_cstr(r->rules->items[i].name);
        rc = discovery_resource_list(&b, names, n);
        free(names);
    }
    if (rc != TA_OK) {
        struct ta_err err;
        ta_err_set(&err, TA_INTERNAL, "discovery document too large");
        respond_err(r, &err);
        return;
    }
    respond_json(r, 200, &b);
}

static void api_wake(void *arg);

/* Answers the metric path from the cache; may leave the request waiting (see api_wake). */
static void serve_metric(struct api_req *r)
{
    struct ta_err err = { 0 };
    struct buf b;
    int code = 400;
    const struct rule *rule = rules_find(r->rules, r->route.metric);
    if (!rule) {
        buf_init(&b, STATUS_BODY_MAX);
        enum ta_rc built = status_metric_not_found(&b, r->route.metric, &code);
        respond_status(r, built, code, &b);
        return;
    }
    if (r->sel_rc != TA_OK) {
        buf_init(&b, STATUS_BODY_MAX);
        enum ta_rc built = status_bad_request(&b, slice_from_cstr(r->sel_err.msg), &code);
        respond_status(r, built, code, &b);
        return;
    }
    bool pending = false;
    struct cache_answer ans;
    http_exchange_hold(r->x); /* the cache may keep r as a waiter */
    r->waits++; /* before cache_get: the wake may run on another thread before it returns */
    enum ta_rc rc = cache_get(r->app->cache, rule, r->route.namespace_, r->sel, api_wake, r,
                              &pending, &ans, &err);
    if (rc == TA_OK && pending)
        return; /* api_wake continues, and releases the hold */
    http_exchange_release(r->x);
    if (rc != TA_OK) {
        if (rc == TA_UNAVAILABLE)
            LOG_V(2, "%s/%.*s: %s", rule->name, SLICE_ARG(r->route.namespace_), err.msg);
        respond_err(r, &err);
        return;
    }
    buf_init(&b, 64 * 1024);
    rc = metricvalue_encode(&b, r->route.metric, r->sel, ans.value, ans.timestamp_s, ans.window_s,
                            &err);
    if (rc != TA_OK) {
        ta_err_prefix(&err, "%s", rule->name);
        err.rc = TA_UNAVAILABLE; /* a non-finite value is "no usable value", never emitted */
        respond_err(r, &err);
        return;
    }
    respond_json(r, 200, &b);
}

/* The cache's wake: the first evaluation for r's key ended (or the cache is shutting down). */
static void api_wake(void *arg)
{
    struct api_req *r = arg;
    struct http_exchange *x = r->x;
    if (!http_exchange_responded(x)) {
        if (r->waits > API_MAX_REWAITS) {
            struct ta_err err;
            ta_err_set(&err, TA_UNAVAILABLE, "%.*s: no value yet; retry",
                       SLICE_ARG(r->route.metric));
            respond_err(r, &err);
        } else {
            serve_metric(r);
        }
    }
    http_exchange_release(x);
}

static void serve_openapi(struct api_req *r, const struct request *req)
{
    struct openapi_reply a;
    const struct slice *accept = request_header(req, SLICE_LIT("Accept"));
    const struct slice *inm = request_header(req, SLICE_LIT("If-None-Match"));
    if (!r->app->openapi) {
        respond_not_found(r);
        return;
    }
    openapi_serve(r->app->openapi, &r->route, accept ? *accept : SLICE_NULL,
                  inm ? *inm : SLICE_NULL, clock_wall_ns() / NS_PER_SEC, &a);
    if (a.status == 404) {
        respond_not_found(r);
        return;
    }
    for (size_t i = 0; i < a.nheaders; i++)
        http_add_header(r->x, a.headers[i].name, a.headers[i].value);
    struct buf b;
    buf_init(&b, a.body.len + 1);
    if (a.body.len && buf_add_slice(&b, a.body) != TA_OK) {
        struct ta_err err;
        ta_err_set(&err, TA_INTERNAL, "OpenAPI document too large");
        respond_err(r, &err);
        return;
    }
    if (a.status == 406) {
        struct ta_err err;
        ta_err_set(&err, TA_INVALID, "only application/json is offered");
        buf_free(&b);
        int code = 406;
        buf_init(&b, STATUS_BODY_MAX);
        if (status_write(&b, 406, "NotAcceptable", slice_from_cstr(err.msg), NULL) != TA_OK)
            buf_free(&b);
        count(r->app, code);
        http_respond(r->x, code, "application/json", &b);
        return;
    }
    count(r->app, a.status);
    http_respond(r->x, a.status, a.content_type, &b);
}

static void serve_health(struct api_req *r)
{
    struct buf b;
    buf_init(&b, 16 * 1024);
    int code = health_answer(r->app, &r->route, &b);
    count(r->app, code);
    http_respond(r->x, code, "text/plain; charset=utf-8", &b);
}

static void serve_selfmetrics(struct api_req *r)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    if (selfmetrics_render(r->app, r->rules, &b) != TA_OK) {
        struct ta_err err;
        ta_err_set(&err, TA_INTERNAL, "metrics page too large");
        respond_err(r, &err);
        return;
    }
    count(r->app, 200);
    http_respond(r->x, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static bool is_read(struct slice method)
{
    return slice_eq_cstr(method, "GET") || slice_eq_cstr(method, "HEAD");
}

/* Authorized: answer the route. */
static void serve(struct api_req *r)
{
    const struct request *req = http_exchange_request(r->x);
    if (r->route_rc != TA_OK) {
        respond_err(r, &r->route_err);
        return;
    }
    if (r->route.kind == ROUTE_NOT_FOUND) {
        respond_not_found(r);
        return;
    }
    if (!is_read(req->method)) {
        struct buf b;
        int code = 405;
        buf_init(&b, STATUS_BODY_MAX);
        enum ta_rc built = status_method_not_allowed(&b, &code);
        respond_status(r, built, code, &b);
        return;
    }
    switch (r->route.kind) {
    case ROUTE_HEALTHZ:
    case ROUTE_LIVEZ:
    case ROUTE_READYZ:
        serve_health(r);
        return;
    case ROUTE_APIS:
    case ROUTE_GROUP_DOC:
    case ROUTE_RESOURCES:
        serve_discovery(r);
        return;
    case ROUTE_METRIC:
        if (r->route.watch) {
            struct buf b;
            int code = 405;
            buf_init(&b, STATUS_BODY_MAX);
            enum ta_rc built = status_watch_not_allowed(&b, &code);
            respond_status(r, built, code, &b);
            return;
        }
        serve_metric(r);
        return;
    case ROUTE_OPENAPI_V2:
    case ROUTE_OPENAPI_V3:
    case ROUTE_OPENAPI_V3_GROUP:
        serve_openapi(r, req);
        return;
    case ROUTE_METRICS:
        serve_selfmetrics(r);
        return;
    case ROUTE_NOT_FOUND:
        break;
    }
    respond_not_found(r);
}

/* -- authentication and authorization ------------------------------------------------------ */

static void respond_denied(struct api_req *r, const struct auth_result *res)
{
    struct buf b;
    int code = 401;
    enum ta_rc rc;
    buf_init(&b, STATUS_BODY_MAX);
    LOG_V(2, "denied %.*s %.*s: %s", SLICE_ARG(http_exchange_request(r->x)->method),
          SLICE_ARG(r->route.path), res->reason.msg);
    if (res->decision == AUTH_UNAUTHORIZED) {
        rc = status_unauthorized(&b, &code);
    } else {
        struct status_forbidden f = {
            .user = slice_from_cstr(res->user),
            .verb = slice_from_cstr(r->route.verb),
            .path = r->route.path,
            .reason = slice_from_cstr(res->review_reason), /* Go appends it as ": <reason>" */
        };
        if (r->route.resource_request) {
            f.group = r->route.api_group;
            f.resource = r->route.resource;
            f.subresource = r->route.subresource;
            f.name = r->route.name;
            f.namespace_ = r->route.namespace_;
        }
        rc = status_forbidden(&b, &f, &code);
    }
    respond_status(r, rc, code, &b);
}

static void attributes_of(const struct api_req *r, struct auth_attributes *a)
{
    memset(a, 0, sizeof(*a));
    a->resource_request = r->route.resource_request;
    a->verb = slice_from_cstr(r->route.verb);
    a->ns = r->route.namespace_;
    a->resource = r->route.resource;
    a->selector = r->sel;
    a->path = r->route.path;
}

/* Authorizes, then serves; returns false when the request went to the worker pool. */
static bool authorize(struct api_req *r, bool may_block)
{
    struct auth *auth = r->app->auth;
    if (!auth)
        return true; /* --insecure-disable-auth */
    struct auth_attributes attrs;
    struct auth_result res;
    attributes_of(r, &attrs);
    auth_check(auth, http_exchange_request(r->x), &attrs, may_block, &res);
    if (res.decision == AUTH_ALLOW)
        return true;
    if (res.decision != AUTH_WOULD_BLOCK || may_block) {
        if (res.decision == AUTH_WOULD_BLOCK)
            res.decision = AUTH_FORBIDDEN; /* cannot happen; never allow on doubt */
        respond_denied(r, &res);
        return false;
    }
    return false;
}

static void authorize_in_pool(void *arg)
{
    struct api_req *r = arg;
    struct http_exchange *x = r->x;
    if (!http_exchange_responded(x) && authorize(r, true))
        serve(r);
    http_exchange_release(x);
}

/* -- entry --------------------------------------------------------------------------------- */

static void parse_request(struct api_req *r, const struct request *req)
{
    r->route_rc = route_parse(req->method, req->path, req->query, &r->route, &r->route_err);
    r->sel_rc = TA_OK;
    if (r->route_rc == TA_OK && r->route.kind == ROUTE_METRIC && r->route.has_selector)
        r->sel_rc = selector_parse(r->route.selector, &r->sel, &r->sel_err);
}

void api_handle(void *appv, struct http_exchange *x)
{
    struct app *app = appv;
    const struct request *req = http_exchange_request(x);
    struct api_req *r = ta_xcalloc(1, sizeof(*r));
    r->app = app;
    r->x = x;
    r->rules = config_acquire();
    http_exchange_set_state(x, r, api_req_free);
    parse_request(r, req);
    if (r->route_rc == TA_TOO_LARGE) { /* the HTTP server rejects these before auth */
        struct buf b;
        int code = 414;
        buf_init(&b, STATUS_BODY_MAX);
        enum ta_rc built = status_uri_too_long(&b, slice_from_cstr(r->route_err.msg), &code);
        respond_status(r, built, code, &b);
        return;
    }
    if (!r->rules) {
        struct ta_err err;
        ta_err_set(&err, TA_UNAVAILABLE, "no rules are loaded yet");
        respond_err(r, &err);
        return;
    }
    if (authorize(r, false)) {
        serve(r);
        return;
    }
    if (http_exchange_responded(x))
        return;
    http_exchange_hold(x);
    if (workpool_submit(app->pool, authorize_in_pool, r) != TA_OK) {
        http_exchange_release(x);
        struct ta_err err;
        ta_err_set(&err, TA_UNAVAILABLE, "too many requests are waiting for authorization");
        respond_err(r, &err);
    }
}
