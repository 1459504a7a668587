/* test_openapi.c — the OpenAPI documents (names, shapes) and how they are served (spec §17).
 *
 * Run from the repository root (as `make unit` does): the tests read the document files and
 * hash them with coreutils' sha512sum to check the ETags independently of OpenSSL. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/embedded.h"
#include "apis/openapi.h"

static struct openapi *o;
static struct route rt;

static void setup(void)
{
    struct ta_err err = { 0 };
    cr_assert_eq(openapi_new_embedded(&o, &err), TA_OK, "%s", err.msg);
}

static void teardown(void)
{
    openapi_free(o);
    route_free(&rt);
}

TestSuite(openapi, .init = setup, .fini = teardown);

/* ---- helpers -------------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run the tests from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Upper-case hex SHA-512 of the output of a shell command's stdin data, via sha512sum. */
static void sha512sum(const char *cmd, char hex[OPENAPI_ETAG_HEX_LEN + 1])
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_eq(fread(hex, 1, OPENAPI_ETAG_HEX_LEN, p), OPENAPI_ETAG_HEX_LEN);
    pclose(p);
    hex[OPENAPI_ETAG_HEX_LEN] = '\0';
    for (int i = 0; i < OPENAPI_ETAG_HEX_LEN; i++)
        hex[i] = (char)toupper((unsigned char)hex[i]);
}

static void route_to(const char *path, const char *query)
{
    route_free(&rt);
    cr_assert_eq(
        route_parse(SLICE_LIT("GET"), slice_from_cstr(path), slice_from_cstr(query), &rt, NULL),
        TA_OK);
}

static struct openapi_reply reply;

static void serve(const char *path, const char *query, const char *accept, const char *inm)
{
    route_to(path, query);
    openapi_serve(o, &rt, slice_from_cstr(accept), slice_from_cstr(inm), 1782907200, &reply);
}

static const char *header(const char *name)
{
    static char v[512];
    for (size_t i = 0; i < reply.nheaders; i++) {
        if (strcmp(reply.headers[i].name, name) == 0) {
            snprintf(v, sizeof(v), "%.*s", SLICE_ARG(reply.headers[i].value));
            return v;
        }
    }
    return NULL;
}

static json_t *load_doc(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    free(text);
    cr_assert_not_null(j, "%s is not JSON: %s (line %d)", path, jerr.text, jerr.line);
    return j;
}

#define V2        "/openapi/v2"
#define V3        "/openapi/v3"
#define V3G       "/openapi/v3/apis/external.metrics.k8s.io/v1beta1"
#define EMV       "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValue"
#define EMVL      "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList"
#define META      "io.k8s.apimachinery.pkg.apis.meta.v1."
#define QTY       "io.k8s.apimachinery.pkg.api.resource.Quantity"
#define LIST_PATH "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{resource}"
#define DISC_PATH "/apis/external.metrics.k8s.io/v1beta1/"

/* ---- the documents ----------------------------------------------------------------------------
 */

static void check_gvk(json_t *def, const char *kind)
{
    json_t *g = json_object_get(def, "x-kubernetes-group-version-kind");
    cr_assert(json_is_array(g) && json_array_size(g) == 1, "%s: no GVK extension", kind);
    json_t *e = json_array_get(g, 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "group")), "external.metrics.k8s.io");
    cr_assert_str_eq(json_string_value(json_object_get(e, "kind")), kind);
    cr_assert_str_eq(json_string_value(json_object_get(e, "version")), "v1beta1");
}

static void check_required(json_t *def, const char **names, size_t n)
{
    json_t *req = json_object_get(def, "required");
    cr_assert_eq(json_array_size(req), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(json_string_value(json_array_get(req, i)), names[i]);
}

static void check_definitions(json_t *defs, const char *ref_prefix, bool v3)
{
    const char *names[] = {
        EMV, EMVL, META "ListMeta", META "Time", QTY, META "APIResourceList", META "APIResource"
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_not_null(json_object_get(defs, names[i]), "missing %s", names[i]);

    json_t *list = json_object_get(defs, EMVL);
    check_gvk(list, "ExternalMetricValueList");
    const char *list_req[] = { "items" };
    check_required(list, list_req, 1);
    json_t *props = json_object_get(list, "properties");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(props, "kind"), "type")),
                     "string");
    json_t *items = json_object_get(props, "items");
    cr_assert_str_eq(json_string_value(json_object_get(items, "type")), "array");
    char want[256];
    snprintf(want, sizeof(want), "%s%s", ref_prefix, EMV);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(items, "items"), "$ref")),
                     want);
    json_t *meta = json_object_get(props, "metadata");
    cr_assert(json_is_object(json_object_get(meta, "default")));
    json_t *meta_ref = v3 ? json_array_get(json_object_get(meta, "allOf"), 0) : meta;
    snprintf(want, sizeof(want), "%s%s", ref_prefix, META "ListMeta");
    cr_assert_str_eq(json_string_value(json_object_get(meta_ref, "$ref")), want);

    json_t *value = json_object_get(defs, EMV);
    check_gvk(value, "ExternalMetricValue");
    const char *value_req[] = { "metricName", "metricLabels", "timestamp", "value" };
    check_required(value, value_req, 4);
    props = json_object_get(value, "properties");
    json_t *labels = json_object_get(props, "metricLabels");
    cr_assert_str_eq(json_string_value(json_object_get(labels, "type")), "object");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(labels, "additionalProperties"), "type")),
        "string");
    json_t *window = json_object_get(props, "window");
    cr_assert_str_eq(json_string_value(json_object_get(window, "type")), "integer");
    cr_assert_str_eq(json_string_value(json_object_get(window, "format")), "int64");
    json_t *ts = json_object_get(props, "timestamp");
    json_t *ts_ref = v3 ? json_array_get(json_object_get(ts, "allOf"), 0) : ts;
    snprintf(want, sizeof(want), "%s%s", ref_prefix, META "Time");
    cr_assert_str_eq(json_string_value(json_object_get(ts_ref, "$ref")), want);
    json_t *val = json_object_get(props, "value");
    json_t *val_ref = v3 ? json_array_get(json_object_get(val, "allOf"), 0) : val;
    snprintf(want, sizeof(want), "%s%s", ref_prefix, QTY);
    cr_assert_str_eq(json_string_value(json_object_get(val_ref, "$ref")), want);

    json_t *time = json_object_get(defs, META "Time");
    cr_assert_str_eq(json_string_value(json_object_get(time, "type")), "string");
    cr_assert_str_eq(json_string_value(json_object_get(time, "format")), "date-time");

    json_t *lm = json_object_get(json_object_get(defs, META "ListMeta"), "properties");
    const char *lm_fields[] = { "continue", "remainingItemCount", "resourceVersion", "selfLink" };
    cr_assert_eq(json_object_size(lm), 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_not_null(json_object_get(lm, lm_fields[i]), "ListMeta.%s", lm_fields[i]);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(lm, "remainingItemCount"), "format")),
        "int64");

    json_t *q = json_object_get(defs, QTY);
    if (v3) {
        json_t *one = json_object_get(q, "oneOf");
        cr_assert_eq(json_array_size(one), 2);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(one, 0), "type")),
                         "string");
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(one, 1), "type")),
                         "number");
        cr_assert_null(json_object_get(q, "type"));
    } else {
        cr_assert_str_eq(json_string_value(json_object_get(q, "type")), "string");
        cr_assert_null(json_object_get(q, "oneOf"));
    }
}

/* Path parameters of the list path: namespace and name (custom-metrics-apiserver's quirk). */
static void check_list_params(json_t *params, bool v3)
{
    bool ns = false, name = false, selector = false;
    for (size_t i = 0; i < json_array_size(params); i++) {
        json_t *p = json_array_get(params, i);
        const char *n = json_string_value(json_object_get(p, "name"));
        const char *in = json_string_value(json_object_get(p, "in"));
        if (strcmp(n, "namespace") == 0 || strcmp(n, "name") == 0) {
            cr_assert_str_eq(in, "path");
            cr_assert(json_is_true(json_object_get(p, "required")));
            ns = ns || strcmp(n, "namespace") == 0;
            name = name || strcmp(n, "name") == 0;
        }
        if (strcmp(n, "labelSelector") == 0) {
            cr_assert_str_eq(in, "query");
            json_t *type = v3 ? json_object_get(json_object_get(p, "schema"), "type")
                              : json_object_get(p, "type");
            cr_assert_str_eq(json_string_value(type), "string");
            selector = true;
        }
    }
    cr_assert(ns && name && selector);
}

static void check_operation(json_t *paths, const char *path, const char *id)
{
    json_t *op = json_object_get(json_object_get(paths, path), "get");
    cr_assert_not_null(op, "no GET %s", path);
    cr_assert_str_eq(json_string_value(json_object_get(op, "operationId")), id);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(op, "tags"), 0)),
                     "externalMetrics_v1beta1");
}

Test(openapi, v2_document_has_kubernetes_names_and_shapes)
{
    json_t *j = load_doc(OPENAPI_V2_FILE);
    cr_assert_str_eq(json_string_value(json_object_get(j, "swagger")), "2.0");
    json_t *paths = json_object_get(j, "paths");
    cr_assert_eq(json_object_size(paths), 2);
    check_operation(paths, LIST_PATH, "listExternalMetricsV1beta1ExternalMetricValue");
    check_operation(paths, DISC_PATH, "getExternalMetricsV1beta1APIResources");
    json_t *ok = json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(paths, LIST_PATH), "get"), "responses"),
            "200"),
        "schema");
    cr_assert_str_eq(json_string_value(json_object_get(ok, "$ref")), "#/definitions/" EMVL);
    check_list_params(json_object_get(json_object_get(paths, LIST_PATH), "parameters"), false);
    check_definitions(json_object_get(j, "definitions"), "#/definitions/", false);
    json_decref(j);
}

Test(openapi, v3_document_has_kubernetes_names_and_shapes)
{
    json_t *j = load_doc(OPENAPI_V3_FILE);
    cr_assert_str_eq(json_string_value(json_object_get(j, "openapi")), "3.0.0");
    json_t *paths = json_object_get(j, "paths");
    cr_assert_eq(json_object_size(paths), 2);
    check_operation(paths, LIST_PATH, "listExternalMetricsV1beta1ExternalMetricValue");
    check_operation(paths, DISC_PATH, "getExternalMetricsV1beta1APIResources");
    json_t *ok = json_object_get(
        json_object_get(
            json_object_get(
                json_object_get(
                    json_object_get(json_object_get(json_object_get(paths, LIST_PATH), "get"),
                                    "responses"),
                    "200"),
                "content"),
            "application/json"),
        "schema");
    cr_assert_str_eq(json_string_value(json_object_get(ok, "$ref")), "#/components/schemas/" EMVL);
    check_list_params(json_object_get(json_object_get(paths, LIST_PATH), "parameters"), true);
    check_definitions(json_object_get(json_object_get(j, "components"), "schemas"),
                      "#/components/schemas/", true);
    json_decref(j);
}

Test(openapi, every_reference_resolves)
{
    const char *files[] = { OPENAPI_V2_FILE, OPENAPI_V3_FILE };
    const char *prefixes[] = { "#/definitions/", "#/components/schemas/" };
    for (size_t f = 0; f < 2; f++) {
        size_t len;
        char *text = read_file(files[f], &len);
        json_t *j = load_doc(files[f]);
        json_t *defs = f == 0 ? json_object_get(j, "definitions")
                              : json_object_get(json_object_get(j, "components"), "schemas");
        size_t plen = strlen(prefixes[f]);
        for (char *p = strstr(text, "\"$ref\": \""); p; p = strstr(p + 1, "\"$ref\": \"")) {
            char name[256];
            const char *start = p + strlen("\"$ref\": \"");
            cr_assert_eq(strncmp(start, prefixes[f], plen), 0, "%.60s", start);
            const char *end = strchr(start, '"');
            snprintf(name, sizeof(name), "%.*s", (int)(end - start - plen), start + plen);
            cr_assert_not_null(json_object_get(defs, name), "%s: dangling $ref %s", files[f], name);
        }
        json_decref(j);
        free(text);
    }
}

Test(openapi, embedded_bytes_equal_the_files)
{
    const char *files[] = { OPENAPI_V2_FILE, OPENAPI_V3_FILE };
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        char *text = read_file(files[i], &len);
        struct slice e = embedded_get(files[i]);
        cr_assert_eq(e.len, len, "%s", files[i]);
        cr_assert_eq(memcmp(e.ptr, text, len), 0, "%s", files[i]);
        free(text);
    }
}

/* ---- serving ----------------------------------------------------------------------------------
 */

Test(openapi, etags_are_upper_hex_sha512_of_the_files)
{
    char hex[OPENAPI_ETAG_HEX_LEN + 1];
    sha512sum("sha512sum " OPENAPI_V2_FILE, hex);
    cr_assert_str_eq(openapi_v2_etag(o), hex);
    sha512sum("sha512sum " OPENAPI_V3_FILE, hex);
    cr_assert_str_eq(openapi_v3_etag(o), hex);
}

Test(openapi, v2_served_bytes_equal_the_file_with_quoted_etag_and_vary)
{
    size_t len;
    char *text = read_file(OPENAPI_V2_FILE, &len);
    char quoted[OPENAPI_ETAG_HEX_LEN + 3];
    snprintf(quoted, sizeof(quoted), "\"%s\"", openapi_v2_etag(o));
    serve(V2, "", "", "");
    cr_assert_eq(reply.status, 200);
    cr_assert_str_eq(reply.content_type, "application/json");
    cr_assert_eq(reply.body.len, len);
    cr_assert_eq(memcmp(reply.body.ptr, text, len), 0);
    cr_assert_str_eq(header("Etag"), quoted);
    cr_assert_str_eq(header("Vary"), "Accept");
    cr_assert_null(header("Cache-Control"));
    free(text);
}

Test(openapi, negotiation_serves_json_or_406)
{
    const char *ok[] = { "",
                         "application/json",
                         "*/*",
                         "application/*",
                         "*",
                         "application/vnd.kubernetes.protobuf, */*",
                         ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, "
                          "application/json;q=0.5"),
                         "APPLICATION/JSON; charset=utf-8" };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        serve(V2, "", ok[i], "");
        cr_assert_eq(reply.status, 200, "Accept: %s", ok[i]);
        serve(V3G, "", ok[i], "");
        cr_assert_eq(reply.status, 200, "Accept: %s", ok[i]);
    }
    const char *bad[] = { "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                          "application/com.github.proto-openapi.spec.v3.v1.0+protobuf",
                          "text/html",
                          "application/json;q=0",
                          "*/*;q=0",
                          "application/yaml" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        serve(V2, "", bad[i], "");
        cr_assert_eq(reply.status, 406, "Accept: %s", bad[i]);
        cr_assert_null(reply.content_type);
        cr_assert_eq(reply.body.len, 0);
        cr_assert_str_eq(header("Vary"), "Accept");
        cr_assert_null(header("Etag"));
        serve(V3G, "hash=x", bad[i], "");
        cr_assert_eq(reply.status, 406, "Accept: %s", bad[i]);
    }
}

Test(openapi, if_none_match_gives_304)
{
    char inm[300];
    snprintf(inm, sizeof(inm), "\"%s\"", openapi_v2_etag(o));
    serve(V2, "", "application/json", inm);
    cr_assert_eq(reply.status, 304);
    cr_assert_eq(reply.body.len, 0);
    cr_assert_null(reply.content_type);
    cr_assert_str_eq(header("Etag"), inm);
    cr_assert_str_eq(header("Vary"), "Accept");
    snprintf(inm, sizeof(inm), "\"abc\", W/\"%s\"", openapi_v2_etag(o));
    serve(V2, "", "", inm);
    cr_assert_eq(reply.status, 304);
    serve(V2, "", "", "*");
    cr_assert_eq(reply.status, 304);
    serve(V2, "", "", "\"abc\"");
    cr_assert_eq(reply.status, 200);
    serve(V2, "", "", openapi_v2_etag(o)); /* unquoted: no match */
    cr_assert_eq(reply.status, 200);
    snprintf(inm, sizeof(inm), "\"%s\"", openapi_v3_etag(o)); /* another document's ETag */
    serve(V2, "", "", inm);
    cr_assert_eq(reply.status, 200);
}

Test(openapi, v3_root_lists_only_the_group_with_its_hash)
{
    char want[512];
    snprintf(want, sizeof(want),
             "{\"paths\":{\"apis/external.metrics.k8s.io/v1beta1\":{\"serverRelativeURL\":"
             "\"/openapi/v3/apis/external.metrics.k8s.io/v1beta1?hash=%s\"}}}",
             openapi_v3_etag(o));
    serve(V3, "", "text/html", ""); /* the root is not negotiated */
    cr_assert_eq(reply.status, 200);
    cr_assert_str_eq(reply.content_type, "application/json");
    cr_assert_eq(reply.body.len, strlen(want));
    cr_assert_eq(memcmp(reply.body.ptr, want, reply.body.len), 0);
    json_t *j = json_loadb(reply.body.ptr, reply.body.len, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_object_size(json_object_get(j, "paths")), 1);
    json_decref(j);
    char cmd[700], hex[OPENAPI_ETAG_HEX_LEN + 1], quoted[OPENAPI_ETAG_HEX_LEN + 3];
    snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | sha512sum", want);
    sha512sum(cmd, hex);
    cr_assert_str_eq(openapi_v3_root_etag(o), hex);
    snprintf(quoted, sizeof(quoted), "\"%s\"", hex);
    cr_assert_str_eq(header("Etag"), quoted);
    serve(V3, "", "", quoted);
    cr_assert_eq(reply.status, 304);
}

Test(openapi, v3_group_without_hash_has_no_cache_headers)
{
    size_t len;
    char *text = read_file(OPENAPI_V3_FILE, &len);
    serve(V3G, "", "application/json", "");
    cr_assert_eq(reply.status, 200);
    cr_assert_eq(reply.body.len, len);
    cr_assert_eq(memcmp(reply.body.ptr, text, len), 0);
    cr_assert_str_eq(header("Vary"), "Accept");
    cr_assert_null(header("Cache-Control"));
    cr_assert_null(header("Expires"));
    free(text);
}

Test(openapi, v3_group_with_current_hash_is_immutable_for_a_year)
{
    char q[200];
    snprintf(q, sizeof(q), "hash=%s", openapi_v3_etag(o));
    serve(V3G, q, "", ""); /* now = 2026-07-01T12:00:00Z (a Wednesday) */
    cr_assert_eq(reply.status, 200);
    cr_assert_str_eq(header("Cache-Control"), "public, immutable");
    cr_assert_str_eq(header("Expires"), "Thu, 01 Jul 2027 12:00:00 GMT");
    char quoted[OPENAPI_ETAG_HEX_LEN + 3];
    snprintf(quoted, sizeof(quoted), "\"%s\"", openapi_v3_etag(o));
    cr_assert_str_eq(header("Etag"), quoted);
    /* conditional request on the immutable URL keeps the cache headers */
    route_to(V3G, q);
    openapi_serve(o, &rt, SLICE_NULL, slice_from_cstr(quoted), 1782907200, &reply);
    cr_assert_eq(reply.status, 304);
    cr_assert_str_eq(header("Cache-Control"), "public, immutable");
}

Test(openapi, expires_follows_go_add_date_across_february_29)
{
    char q[200];
    snprintf(q, sizeof(q), "hash=%s", openapi_v3_etag(o));
    route_to(V3G, q);
    openapi_serve(o, &rt, SLICE_NULL, SLICE_NULL, 1709164800 /* 2024-02-29T00:00:00Z */, &reply);
    cr_assert_str_eq(header("Expires"), "Sat, 01 Mar 2025 00:00:00 GMT");
}

Test(openapi, v3_group_with_another_hash_redirects_to_the_current_one)
{
    char want[300];
    snprintf(want, sizeof(want), "/openapi/v3/apis/external.metrics.k8s.io/v1beta1?hash=%s",
             openapi_v3_etag(o));
    const char *stale[] = { "hash=0000", "hash=x", "hash=%2F" };
    for (size_t i = 0; i < 3; i++) {
        serve(V3G, stale[i], "", "");
        cr_assert_eq(reply.status, 301, "%s", stale[i]);
        cr_assert_str_eq(header("Location"), want);
        cr_assert_eq(reply.body.len, 0);
        cr_assert_null(header("Cache-Control"));
    }
    char lower[200];
    snprintf(lower, sizeof(lower), "hash=%s", openapi_v3_etag(o));
    for (char *p = lower + 5; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    serve(V3G, lower, "", "");
    cr_assert_eq(reply.status, 301, "the hash is compared exactly");
}

Test(openapi, other_routes_are_404)
{
    serve("/apis", "", "", "");
    cr_assert_eq(reply.status, 404);
    cr_assert_eq(reply.nheaders, 0);
    cr_assert_eq(reply.body.len, 0);
}

Test(openapi, new_hashes_given_documents_and_refuses_empty_ones)
{
    struct openapi *x = NULL;
    struct ta_err err = { 0 };
    char hex[OPENAPI_ETAG_HEX_LEN + 1];
    cr_assert_eq(openapi_new(SLICE_LIT("{}"), SLICE_LIT("[]"), &x, &err), TA_OK, "%s", err.msg);
    sha512sum("printf '{}' | sha512sum", hex);
    cr_assert_str_eq(openapi_v2_etag(x), hex);
    sha512sum("printf '[]' | sha512sum", hex);
    cr_assert_str_eq(openapi_v3_etag(x), hex);
    openapi_free(x);
    x = (struct openapi *)0x1;
    cr_assert_eq(openapi_new(SLICE_NULL, SLICE_LIT("{}"), &x, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "openapi: empty v2 document");
    cr_assert_null(x);
    cr_assert_eq(openapi_new(SLICE_LIT("{}"), SLICE_LIT(""), &x, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "openapi: empty v3 document");
    openapi_free(NULL);
}
