/* test_route.c — endpoint matching, request info (verbs, namespaces, resources), limits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/route.h"

#define G   "/apis/external.metrics.k8s.io"
#define GV  G "/v1beta1"
#define NSM GV "/namespaces/"

static struct route r;

static void teardown(void)
{
    route_free(&r);
}

TestSuite(route, .fini = teardown);

static void parse3(const char *method, const char *path, const char *query)
{
    struct ta_err err = { 0 };
    route_free(&r);
    enum ta_rc rc = route_parse(slice_from_cstr(method), slice_from_cstr(path),
                                slice_from_cstr(query), &r, &err);
    cr_assert_eq(rc, TA_OK, "%s %s?%s: %s", method, path, query, err.msg);
}

static void get(const char *path, const char *query)
{
    parse3("GET", path, query);
}

static void expect_error(const char *method, const char *path, const char *query,
                         enum ta_rc want_rc, const char *want)
{
    struct ta_err err = { 0 };
    route_free(&r);
    enum ta_rc rc = route_parse(slice_from_cstr(method), slice_from_cstr(path),
                                slice_from_cstr(query), &r, &err);
    cr_assert_eq(rc, want_rc, "%s?%s: %s (%s)", path, query, ta_rc_name(rc), err.msg);
    cr_assert_str_eq(err.msg, want, "%s?%s", path, query);
}

static void expect_kind(const char *path, enum route_kind k)
{
    get(path, "");
    cr_assert_eq(r.kind, k, "%s: kind %d, want %d", path, r.kind, k);
}

/* ---- health --------------------------------------------------------------------------------- */

Test(route, health_endpoints)
{
    expect_kind("/healthz", ROUTE_HEALTHZ);
    cr_assert_eq(r.check.len, 0);
    cr_assert_not(r.verbose);
    cr_assert_str_eq(r.verb, "get");
    cr_assert_not(r.resource_request);
    expect_kind("/livez", ROUTE_LIVEZ);
    expect_kind("/readyz", ROUTE_READYZ);
}

Test(route, health_checks_by_name)
{
    expect_kind("/healthz/ping", ROUTE_HEALTHZ);
    cr_assert(slice_eq_cstr(r.check, "ping"));
    expect_kind("/readyz/poststarthook/start-cache", ROUTE_READYZ);
    cr_assert(slice_eq_cstr(r.check, "poststarthook/start-cache"));
}

Test(route, health_verbose)
{
    get("/readyz", "verbose");
    cr_assert_eq(r.kind, ROUTE_READYZ);
    cr_assert(r.verbose);
    get("/livez", "exclude=x&verbose=false");
    cr_assert(r.verbose);
    get("/livez", "verbosity=1");
    cr_assert_not(r.verbose);
}

Test(route, malformed_health_paths_are_not_found)
{
    expect_kind("/healthz/", ROUTE_NOT_FOUND);
    expect_kind("/healthz//ping", ROUTE_NOT_FOUND);
    expect_kind("/healthzz", ROUTE_NOT_FOUND);
    expect_kind("/ready", ROUTE_NOT_FOUND);
}

/* ---- discovery ------------------------------------------------------------------------------ */

Test(route, discovery_documents_with_and_without_trailing_slash)
{
    expect_kind("/apis", ROUTE_APIS);
    expect_kind("/apis/", ROUTE_APIS);
    expect_kind(G, ROUTE_GROUP_DOC);
    expect_kind(G "/", ROUTE_GROUP_DOC);
    expect_kind(GV, ROUTE_RESOURCES);
    expect_kind(GV "/", ROUTE_RESOURCES);
}

Test(route, discovery_paths_are_non_resource_requests)
{
    get(GV, "");
    cr_assert_not(r.resource_request);
    cr_assert_str_eq(r.verb, "get");
    cr_assert(slice_eq_cstr(r.path, GV));
    get("/apis", "");
    cr_assert_not(r.resource_request);
    parse3("POST", GV "/", "");
    cr_assert_eq(r.kind, ROUTE_RESOURCES);
    cr_assert_not(r.resource_request);
    cr_assert_str_eq(r.verb, "post");
}

Test(route, other_groups_and_versions_are_not_found)
{
    expect_kind("/apis/custom.metrics.k8s.io/v1beta1", ROUTE_NOT_FOUND);
    expect_kind(G "/v1beta2", ROUTE_NOT_FOUND);
    expect_kind("/apis//", ROUTE_NOT_FOUND);
    expect_kind(GV "//", ROUTE_NOT_FOUND);
    expect_kind("/api", ROUTE_NOT_FOUND);
    expect_kind("/", ROUTE_NOT_FOUND);
    expect_kind("", ROUTE_NOT_FOUND);
    expect_kind("apis", ROUTE_NOT_FOUND);
}

Test(route, segments_are_compared_decoded)
{
    expect_kind("/ap%69s", ROUTE_APIS);
    expect_kind("/apis/external%2Emetrics.k8s.io/v1beta1", ROUTE_RESOURCES);
}

/* ---- metric path ------------------------------------------------------------------------------
 */

Test(route, metric_path_gives_namespace_metric_and_list_verb)
{
    get(NSM "default/queue_depth", "");
    cr_assert_eq(r.kind, ROUTE_METRIC);
    cr_assert(slice_eq_cstr(r.namespace_, "default"));
    cr_assert(slice_eq_cstr(r.metric, "queue_depth"));
    cr_assert_not(r.has_selector);
    cr_assert(slice_eq_cstr(r.selector, ""));
    cr_assert_not(r.watch);
    cr_assert(r.resource_request);
    cr_assert_str_eq(r.verb, "list");
    cr_assert(slice_eq_cstr(r.api_group, "external.metrics.k8s.io"));
    cr_assert(slice_eq_cstr(r.api_version, "v1beta1"));
    cr_assert(slice_eq_cstr(r.resource, "queue_depth"));
    cr_assert_eq(r.name.len, 0);
    cr_assert_eq(r.subresource.len, 0);
}

Test(route, metric_path_extracts_and_form_decodes_the_selector)
{
    get(NSM "shop/m", "labelSelector=queue%3Dworker-jobs");
    cr_assert(r.has_selector);
    cr_assert(slice_eq_cstr(r.selector, "queue=worker-jobs"));
    get(NSM "shop/m", "labelSelector=env+in+%28prod%2Cstaging%29%2Cqueue%3Da&pretty=true");
    cr_assert(slice_eq_cstr(r.selector, "env in (prod,staging),queue=a"));
    get(NSM "shop/m", "labelSelector=");
    cr_assert_not(r.has_selector);
    cr_assert(slice_eq_cstr(r.selector, ""));
    get(NSM "shop/m", "metricLabelSelector=a%3Db");
    cr_assert_not(r.has_selector);
}

Test(route, watch_follows_kubernetes_bool_conversion)
{
    const char *watching[] = {
        "watch=true", "watch=1", "watch", "watch=", "watch=yes", "watch=True"
    };
    for (size_t i = 0; i < sizeof(watching) / sizeof(watching[0]); i++) {
        get(NSM "ns/m", watching[i]);
        cr_assert(r.watch, "%s", watching[i]);
        cr_assert_str_eq(r.verb, "watch", "%s", watching[i]);
        cr_assert_eq(r.kind, ROUTE_METRIC);
    }
    const char *listing[] = { "watch=false", "watch=0", "watch=FALSE",
                              "watch=%zz",   "x=1",     "watch=0&watch=1" };
    for (size_t i = 0; i < sizeof(listing) / sizeof(listing[0]); i++) {
        get(NSM "ns/m", listing[i]);
        cr_assert_not(r.watch, "%s", listing[i]);
        cr_assert_str_eq(r.verb, "list", "%s", listing[i]);
    }
    char q[200] = "watch=";
    memset(q + 6, 'x', 100);
    q[106] = '\0';
    get(NSM "ns/m", q);
    cr_assert(r.watch, "a long value is neither 0 nor false");
}

Test(route, verbs_for_each_method_on_the_metric_path)
{
    const char *m[][2] = { { "HEAD", "list" },
                           { "POST", "create" },
                           { "PUT", "update" },
                           { "PATCH", "patch" },
                           { "DELETE", "deletecollection" },
                           { "OPTIONS", "" },
                           { "get", "" } };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        parse3(m[i][0], NSM "ns/m", "");
        cr_assert_eq(r.kind, ROUTE_METRIC, "%s", m[i][0]);
        cr_assert(r.resource_request);
        cr_assert_str_eq(r.verb, m[i][1], "%s", m[i][0]);
    }
    parse3("POST", NSM "ns/m", "watch=true");
    cr_assert_str_eq(r.verb, "create");
    cr_assert_not(r.watch);
}

Test(route, metric_names_are_decoded_segments)
{
    get(NSM "ns/http%5Fserver%20x", "");
    cr_assert_eq(r.kind, ROUTE_METRIC);
    cr_assert(slice_eq_cstr(r.metric, "http_server x"));
    get(NSM "ns/a+b", "");
    cr_assert(slice_eq_cstr(r.metric, "a+b"));
    get(NSM "ns/Mixed.Case-1", "");
    cr_assert(slice_eq_cstr(r.metric, "Mixed.Case-1"));
}

Test(route, bad_metric_names_are_not_found)
{
    expect_kind(NSM "ns/.", ROUTE_NOT_FOUND);
    expect_kind(NSM "ns/..", ROUTE_NOT_FOUND);
    expect_kind(NSM "ns/%2E%2e", ROUTE_NOT_FOUND);
    expect_kind(NSM "ns/a%2Fb", ROUTE_NOT_FOUND);
    expect_kind(NSM "ns/a%00", ROUTE_NOT_FOUND);
    expect_kind(NSM "ns/%FF", ROUTE_NOT_FOUND);
    expect_kind(NSM "ns/", ROUTE_NOT_FOUND);
}

Test(route, metric_name_limit_and_one_past_it)
{
    char path[400];
    int n = snprintf(path, sizeof(path), NSM "ns/");
    memset(path + n, 'm', ROUTE_METRIC_MAX);
    path[n + ROUTE_METRIC_MAX] = '\0';
    expect_kind(path, ROUTE_METRIC);
    cr_assert_eq(r.metric.len, ROUTE_METRIC_MAX);
    path[n + ROUTE_METRIC_MAX] = 'm';
    path[n + ROUTE_METRIC_MAX + 1] = '\0';
    expect_kind(path, ROUTE_NOT_FOUND);
}

Test(route, metric_named_status_is_a_namespace_subresource_for_authorization)
{
    get(NSM "shop/status", "");
    cr_assert_eq(r.kind, ROUTE_METRIC);
    cr_assert(slice_eq_cstr(r.metric, "status"));
    cr_assert(slice_eq_cstr(r.resource, "namespaces"));
    cr_assert(slice_eq_cstr(r.name, "shop"));
    cr_assert(slice_eq_cstr(r.subresource, "status"));
    cr_assert_str_eq(r.verb, "get");
}

#define LABEL_RULE                                                                               \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and " \
    "must start and end with an alphanumeric character"

Test(route, namespaces_must_be_dns_labels)
{
    expect_error("GET", NSM "Shop/m", "", TA_INVALID, "invalid namespace \"Shop\": " LABEL_RULE);
    expect_error("GET", NSM "-a/m", "", TA_INVALID, "invalid namespace \"-a\": " LABEL_RULE);
    expect_error("GET", NSM "a_b/m", "", TA_INVALID, "invalid namespace \"a_b\": " LABEL_RULE);
    expect_error("GET", NSM "a.b/m", "", TA_INVALID,
                 "invalid namespace \"a.b\": must not contain dots");
    expect_error("GET", NSM "%22x/m", "", TA_INVALID, "invalid namespace \"\\\"x\": " LABEL_RULE);
    /* request info is still filled for the server's logs and authorization */
    cr_assert(r.resource_request);
    cr_assert_str_eq(r.verb, "list");
}

Test(route, namespace_limit_and_one_past_it)
{
    char path[300], ns[80];
    memset(ns, 'n', 63);
    ns[63] = '\0';
    snprintf(path, sizeof(path), NSM "%s/m", ns);
    expect_kind(path, ROUTE_METRIC);
    cr_assert_eq(r.namespace_.len, 63);
    ns[63] = 'n';
    ns[64] = '\0';
    snprintf(path, sizeof(path), NSM "%s/m", ns);
    char want[300];
    snprintf(want, sizeof(want), "invalid namespace \"%s\": must be no more than 63 characters",
             ns);
    expect_error("GET", path, "", TA_INVALID, want);
    ns[10] = '.';
    snprintf(path, sizeof(path), NSM "%s/m", ns);
    snprintf(want, sizeof(want),
             "invalid namespace \"%s\": must be no more than 63 characters; must not contain dots",
             ns);
    expect_error("GET", path, "", TA_INVALID, want);
}

Test(route, malformed_metric_paths_are_not_found_with_go_request_info)
{
    get(GV "/queue_depth", ""); /* no namespace */
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert(r.resource_request);
    cr_assert(slice_eq_cstr(r.resource, "queue_depth"));
    cr_assert_str_eq(r.verb, "list");
    get(NSM "shop", ""); /* no metric */
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert(slice_eq_cstr(r.resource, "namespaces"));
    cr_assert(slice_eq_cstr(r.name, "shop"));
    cr_assert_str_eq(r.verb, "get");
    get(NSM "shop/a/b", ""); /* extra segment */
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert(slice_eq_cstr(r.namespace_, "shop"));
    cr_assert(slice_eq_cstr(r.resource, "a"));
    cr_assert(slice_eq_cstr(r.name, "b"));
    cr_assert_str_eq(r.verb, "get");
    expect_kind(NSM "shop/m/", ROUTE_NOT_FOUND);
    expect_kind(NSM "/m", ROUTE_NOT_FOUND);
    expect_kind(GV "/namespace/shop/m", ROUTE_NOT_FOUND);
}

Test(route, watch_path_prefix_sets_the_verb)
{
    get(GV "/watch/namespaces/shop/m", "");
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert_str_eq(r.verb, "watch");
    cr_assert(slice_eq_cstr(r.namespace_, "shop"));
    cr_assert(slice_eq_cstr(r.resource, "m"));
}

Test(route, core_api_request_info)
{
    get("/api/v1/namespaces/default/pods", "");
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert(r.resource_request);
    cr_assert_eq(r.api_group.len, 0);
    cr_assert(slice_eq_cstr(r.api_version, "v1"));
    cr_assert(slice_eq_cstr(r.namespace_, "default"));
    cr_assert(slice_eq_cstr(r.resource, "pods"));
    cr_assert_str_eq(r.verb, "list");
    parse3("DELETE", "/api/v1/namespaces/default/pods/p1", "");
    cr_assert(slice_eq_cstr(r.name, "p1"));
    cr_assert_str_eq(r.verb, "delete");
}

Test(route, selector_errors)
{
    expect_error("GET", NSM "ns/m", "labelSelector=a%zz", TA_INVALID,
                 "labelSelector: invalid URL escape \"%zz\"");
    expect_error("GET", NSM "ns/m", "labelSelector=a%3Db;c", TA_INVALID,
                 "labelSelector: invalid semicolon separator in query");
}

Test(route, selector_limit_and_one_past_it)
{
    char *q = malloc(SELECTOR_MAX_LEN + 32);
    int n = snprintf(q, 32, "labelSelector=");
    memset(q + n, 'a', SELECTOR_MAX_LEN);
    q[n + SELECTOR_MAX_LEN] = '\0';
    get(NSM "ns/m", q);
    cr_assert_eq(r.kind, ROUTE_METRIC);
    cr_assert_eq(r.selector.len, SELECTOR_MAX_LEN);
    q[n + SELECTOR_MAX_LEN] = 'a';
    q[n + SELECTOR_MAX_LEN + 1] = '\0';
    expect_error("GET", NSM "ns/m", q, TA_TOO_LARGE,
                 "labelSelector: decoded text is longer than 4096 bytes");
    free(q);
}

/* ---- openapi and /metrics ------------------------------------------------------------------ */

Test(route, openapi_paths)
{
    expect_kind("/openapi/v2", ROUTE_OPENAPI_V2);
    cr_assert_not(r.resource_request);
    expect_kind("/openapi/v3", ROUTE_OPENAPI_V3);
    expect_kind("/openapi/v3/apis/external.metrics.k8s.io/v1beta1", ROUTE_OPENAPI_V3_GROUP);
    cr_assert_not(r.has_hash);
    expect_kind("/openapi/v2/", ROUTE_NOT_FOUND);
    expect_kind("/openapi/v3/", ROUTE_NOT_FOUND);
    expect_kind("/openapi/v3/apis", ROUTE_NOT_FOUND);
    expect_kind("/openapi/v3/apis/external.metrics.k8s.io/v1", ROUTE_NOT_FOUND);
    expect_kind("/openapi/v3/api/v1", ROUTE_NOT_FOUND);
    expect_kind("/openapi", ROUTE_NOT_FOUND);
}

Test(route, openapi_v3_hash_parameter)
{
    get("/openapi/v3/apis/external.metrics.k8s.io/v1beta1", "hash=ABC123");
    cr_assert(r.has_hash);
    cr_assert(slice_eq_cstr(r.hash, "ABC123"));
    get("/openapi/v3/apis/external.metrics.k8s.io/v1beta1", "hash=");
    cr_assert_not(r.has_hash);
    get("/openapi/v3/apis/external.metrics.k8s.io/v1beta1", "hash=%zz");
    cr_assert_not(r.has_hash);
}

Test(route, own_metrics_path)
{
    expect_kind("/metrics", ROUTE_METRICS);
    expect_kind("/metrics/", ROUTE_NOT_FOUND);
    expect_kind("/metrics/x", ROUTE_NOT_FOUND);
}

/* ---- limits and hostile input -----------------------------------------------------------------
 */

Test(route, path_limit_and_one_past_it)
{
    char *p = malloc(ROUTE_PATH_MAX + 2);
    memset(p, 'a', ROUTE_PATH_MAX + 1);
    p[0] = '/';
    p[ROUTE_PATH_MAX] = '\0';
    get(p, "");
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    p[ROUTE_PATH_MAX] = 'a';
    p[ROUTE_PATH_MAX + 1] = '\0';
    expect_error("GET", p, "", TA_TOO_LARGE, "path is longer than 8192 bytes");
    free(p);
}

Test(route, many_slashes_are_fine)
{
    char *p = malloc(ROUTE_PATH_MAX + 1);
    memset(p, '/', ROUTE_PATH_MAX);
    p[ROUTE_PATH_MAX] = '\0';
    get(p, "");
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert_not(r.resource_request);
    free(p);
}

Test(route, query_limit_and_one_past_it)
{
    char *q = malloc(ROUTE_QUERY_MAX + 2);
    memset(q, 'x', ROUTE_QUERY_MAX + 1);
    q[ROUTE_QUERY_MAX] = '\0';
    get(NSM "ns/m", q);
    cr_assert_eq(r.kind, ROUTE_METRIC);
    q[ROUTE_QUERY_MAX] = 'x';
    q[ROUTE_QUERY_MAX + 1] = '\0';
    char want[64];
    snprintf(want, sizeof(want), "query is longer than %d bytes", ROUTE_QUERY_MAX);
    expect_error("GET", NSM "ns/m", q, TA_TOO_LARGE, want);
    free(q);
}

Test(route, method_limit)
{
    char m[40];
    memset(m, 'M', 32);
    m[32] = '\0';
    parse3(m, "/apis", "");
    cr_assert_eq(strlen(r.verb), 32);
    m[32] = 'M';
    m[33] = '\0';
    expect_error(m, "/apis", "", TA_INVALID, "method is longer than 32 bytes");
}

Test(route, bad_escapes_in_the_path_are_bad_requests)
{
    expect_error("GET", "/apis/%zz", "", TA_INVALID, "invalid URL escape \"%zz\"");
    expect_error("GET", NSM "ns/m%", "", TA_INVALID, "invalid URL escape \"%\"");
    expect_error("GET", "/%2F/%4", "", TA_INVALID, "invalid URL escape \"%4\"");
}

Test(route, encoded_slash_anywhere_is_not_found)
{
    get("/apis%2Fexternal.metrics.k8s.io", "");
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert_not(r.resource_request);
    cr_assert_str_eq(r.verb, "get");
}

Test(route, raw_nul_bytes_in_the_path_are_not_found)
{
    static const char path[] = NSM "ns/m\0x";
    struct ta_err err = { 0 };
    route_free(&r);
    cr_assert_eq(
        route_parse(SLICE_LIT("GET"), slice_make(path, sizeof(path) - 1), SLICE_NULL, &r, &err),
        TA_OK, "%s", err.msg);
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert_not(r.resource_request);
}

Test(route, does_not_read_past_the_slices)
{
    const char *path = NSM "ns/metricXXXX";
    const char *query = "labelSelector=a%3Db&watch=1";
    size_t plen = strlen(path) - 4;
    char *p = malloc(plen), *q = malloc(19);
    memcpy(p, path, plen);
    memcpy(q, query, 19); /* stops before "&watch=1" */
    struct ta_err err = { 0 };
    route_free(&r);
    cr_assert_eq(route_parse(SLICE_LIT("GET"), slice_make(p, plen), slice_make(q, 19), &r, &err),
                 TA_OK, "%s", err.msg);
    cr_assert_eq(r.kind, ROUTE_METRIC);
    cr_assert(slice_eq_cstr(r.metric, "metric"));
    cr_assert(slice_eq_cstr(r.selector, "a=b"));
    cr_assert_not(r.watch);
    route_free(&r);
    free(p);
    free(q);
}

Test(route, invalid_utf8_and_nul_in_the_query_never_crash)
{
    get(NSM "ns/m", "labelSelector=%FF%FE%00&x=\xff");
    cr_assert_eq(r.kind, ROUTE_METRIC);
    cr_assert_eq(r.selector.len, 3);
}

Test(route, free_is_safe_on_zero_and_null)
{
    struct route z;
    memset(&z, 0, sizeof(z));
    route_free(&z);
    route_free(NULL);
    route_free(&r);
    route_free(&r);
    cr_assert_eq(r.kind, ROUTE_NOT_FOUND);
    cr_assert_str_eq(r.verb, "");
}
