/* test_status.c — Status bodies compared byte for byte with Go's (spec §5.4, §13.4). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "apis/status.h"

#define HEAD "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","

static struct buf b;

static void setup(void)
{
    buf_init(&b, STATUS_BODY_MAX);
}

static void teardown(void)
{
    buf_free(&b);
}

/* The body must be valid JSON too. */
static void expect_body(const char *want)
{
    cr_assert_str_eq(buf_cstr(&b), want);
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, 0, &jerr);
    cr_assert_not_null(j, "invalid JSON: %s", jerr.text);
    json_decref(j);
}

TestSuite(status, .init = setup, .fini = teardown);

Test(status, generic_writer_omits_an_empty_reason_and_absent_details)
{
    cr_assert_eq(status_write(&b, 500, "", SLICE_LIT("provider failed"), NULL), TA_OK);
    expect_body(HEAD "\"message\":\"provider failed\",\"code\":500}");
    buf_free(&b);
    cr_assert_eq(status_write(&b, 500, NULL, SLICE_LIT("x"), NULL), TA_OK);
    expect_body(HEAD "\"message\":\"x\",\"code\":500}");
}

Test(status, not_found_matches_go_restful)
{
    int code = 0;
    cr_assert_eq(status_not_found(&b, &code), TA_OK);
    cr_assert_eq(code, 404);
    expect_body(HEAD "\"message\":\"the server could not find the requested resource\","
                     "\"reason\":\"NotFound\",\"details\":{},\"code\":404}");
}

Test(status, metric_not_found_matches_prometheus_adapter)
{
    int code = 0;
    cr_assert_eq(status_metric_not_found(&b, SLICE_LIT("queue_depth"), &code), TA_OK);
    cr_assert_eq(code, 404);
    expect_body(HEAD "\"message\":\"the server could not find the metric queue_depth for "
                     "namespaces\",\"reason\":\"NotFound\",\"code\":404}");
}

Test(status, metric_not_found_escapes_and_cuts_the_name)
{
    int code = 0;
    cr_assert_eq(status_metric_not_found(&b, SLICE_LIT("a\"<b>&\n"), &code), TA_OK);
    expect_body(HEAD "\"message\":\"the server could not find the metric a\\\"\\u003cb\\u003e"
                     "\\u0026\\n for namespaces\",\"reason\":\"NotFound\",\"code\":404}");
    buf_free(&b);
    char name[400];
    memset(name, 'm', sizeof(name));
    cr_assert_eq(status_metric_not_found(&b, slice_make(name, sizeof(name)), &code), TA_OK);
    char want[1024];
    snprintf(want, sizeof(want),
             HEAD "\"message\":\"the server could not find the metric %.*s... for namespaces\","
                  "\"reason\":\"NotFound\",\"code\":404}",
             STATUS_FIELD_SHOWN, name);
    expect_body(want);
}

Test(status, bad_request_carries_the_selector_error)
{
    int code = 0;
    cr_assert_eq(
        status_bad_request(&b, SLICE_LIT("unable to parse requirement: found 'bar' expected: '('"),
                           &code),
        TA_OK);
    cr_assert_eq(code, 400);
    expect_body(HEAD "\"message\":\"unable to parse requirement: found 'bar' expected: '('\","
                     "\"reason\":\"BadRequest\",\"code\":400}");
}

Test(status, watch_not_allowed_matches_go)
{
    int code = 0;
    cr_assert_eq(status_watch_not_allowed(&b, &code), TA_OK);
    cr_assert_eq(code, 405);
    expect_body(HEAD "\"message\":\"watch is not supported on resources of kind "
                     "\\\"*.external.metrics.k8s.io\\\"\",\"reason\":\"MethodNotAllowed\","
                     "\"details\":{\"group\":\"external.metrics.k8s.io\",\"kind\":\"*\"},"
                     "\"code\":405}");
}

Test(status, method_not_allowed_matches_go)
{
    int code = 0;
    cr_assert_eq(status_method_not_allowed(&b, &code), TA_OK);
    cr_assert_eq(code, 405);
    expect_body(HEAD "\"message\":\"the server does not allow this method on the requested "
                     "resource\",\"reason\":\"MethodNotAllowed\",\"details\":{},\"code\":405}");
}

Test(status, unauthorized_matches_go)
{
    int code = 0;
    cr_assert_eq(status_unauthorized(&b, &code), TA_OK);
    cr_assert_eq(code, 401);
    expect_body(HEAD "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}");
}

Test(status, forbidden_resource_request_matches_go)
{
    int code = 0;
    struct status_forbidden f = {
        .user = SLICE_LIT("system:serviceaccount:kube-system:horizontal-pod-autoscaler"),
        .verb = SLICE_LIT("list"),
        .group = SLICE_LIT(STATUS_GROUP),
        .resource = SLICE_LIT("queue_depth"),
        .namespace_ = SLICE_LIT("default"),
    };
    cr_assert_eq(status_forbidden(&b, &f, &code), TA_OK);
    cr_assert_eq(code, 403);
    expect_body(HEAD
                "\"message\":\"queue_depth.external.metrics.k8s.io is forbidden: User "
                "\\\"system:serviceaccount:kube-system:horizontal-pod-autoscaler\\\" cannot list "
                "resource \\\"queue_depth\\\" in API group \\\"external.metrics.k8s.io\\\" in the "
                "namespace \\\"default\\\"\",\"reason\":\"Forbidden\",\"details\":{\"group\":"
                "\"external.metrics.k8s.io\",\"kind\":\"queue_depth\"},\"code\":403}");
}

Test(status, forbidden_non_resource_request_matches_go)
{
    int code = 0;
    struct status_forbidden f = {
        .user = SLICE_LIT("x"),
        .verb = SLICE_LIT("get"),
        .path = SLICE_LIT("/openapi/v2"),
    };
    cr_assert_eq(status_forbidden(&b, &f, &code), TA_OK);
    cr_assert_eq(code, 403);
    expect_body(HEAD "\"message\":\"forbidden: User \\\"x\\\" cannot get path "
                     "\\\"/openapi/v2\\\"\",\"reason\":\"Forbidden\",\"details\":{},"
                     "\"code\":403}");
}

Test(status, forbidden_with_reason_subresource_name_and_cluster_scope)
{
    int code = 0;
    struct status_forbidden f = {
        .user = SLICE_LIT("bob"),
        .verb = SLICE_LIT("get"),
        .group = SLICE_LIT(""),
        .resource = SLICE_LIT("namespaces"),
        .subresource = SLICE_LIT("status"),
        .name = SLICE_LIT("shop"),
        .reason = SLICE_LIT("no RBAC policy matched"),
    };
    cr_assert_eq(status_forbidden(&b, &f, &code), TA_OK);
    expect_body(HEAD "\"message\":\"namespaces \\\"shop\\\" is forbidden: User \\\"bob\\\" cannot "
                     "get resource \\\"namespaces/status\\\" in API group \\\"\\\" at the cluster "
                     "scope: no RBAC policy matched\",\"reason\":\"Forbidden\",\"details\":{"
                     "\"name\":\"shop\",\"kind\":\"namespaces\"},\"code\":403}");
}

Test(status, forbidden_quotes_user_names_as_go_does)
{
    int code = 0;
    struct status_forbidden f = {
        .user = SLICE_LIT("a\"b\\c\x01\xff\xc3\xa9"),
        .verb = SLICE_LIT("get"),
        .path = SLICE_LIT("/apis"),
    };
    cr_assert_eq(status_forbidden(&b, &f, &code), TA_OK);
    /* %q gives "a\"b\\c\x01\xffé"; JSON then escapes each backslash and quote */
    expect_body(HEAD "\"message\":\"forbidden: User \\\"a\\\\\\\"b\\\\\\\\c\\\\x01\\\\xff\xc3\xa9"
                     "\\\" cannot get path \\\"/apis\\\"\",\"reason\":\"Forbidden\",\"details\":{},"
                     "\"code\":403}");
}

Test(status, too_large_variants)
{
    int code = 0;
    cr_assert_eq(status_too_large(&b, SLICE_LIT("body over 1 MiB"), &code), TA_OK);
    cr_assert_eq(code, 413);
    expect_body(HEAD "\"message\":\"Request entity too large: body over 1 MiB\","
                     "\"reason\":\"RequestEntityTooLarge\",\"code\":413}");
    buf_free(&b);
    cr_assert_eq(status_uri_too_long(&b, SLICE_LIT("path over 8192 bytes"), &code), TA_OK);
    cr_assert_eq(code, 414);
    expect_body(HEAD "\"message\":\"Request URI too long: path over 8192 bytes\","
                     "\"reason\":\"RequestEntityTooLarge\",\"code\":414}");
    buf_free(&b);
    cr_assert_eq(status_headers_too_large(&b, SLICE_LIT("x"), &code), TA_OK);
    cr_assert_eq(code, 431);
    expect_body(HEAD "\"message\":\"Request header fields too large: x\","
                     "\"reason\":\"RequestEntityTooLarge\",\"code\":431}");
}

Test(status, service_unavailable_and_internal_error)
{
    int code = 0;
    cr_assert_eq(status_service_unavailable(&b, SLICE_LIT("value is 95s old"), &code), TA_OK);
    cr_assert_eq(code, 503);
    expect_body(HEAD "\"message\":\"value is 95s old\",\"reason\":\"ServiceUnavailable\","
                     "\"code\":503}");
    buf_free(&b);
    cr_assert_eq(status_internal_error(&b, SLICE_LIT("unable to fetch metrics"), &code), TA_OK);
    cr_assert_eq(code, 500);
    expect_body(HEAD "\"message\":\"Internal error occurred: unable to fetch metrics\","
                     "\"reason\":\"InternalError\",\"details\":{\"causes\":[{\"message\":"
                     "\"unable to fetch metrics\"}]},\"code\":500}");
}

Test(status, http_codes_for_every_rc)
{
    cr_assert_eq(status_http_code(TA_INVALID), 400);
    cr_assert_eq(status_http_code(TA_NOT_FOUND), 404);
    cr_assert_eq(status_http_code(TA_TOO_LARGE), 413);
    cr_assert_eq(status_http_code(TA_UNAVAILABLE), 503);
    cr_assert_eq(status_http_code(TA_UPSTREAM), 503);
    cr_assert_eq(status_http_code(TA_TIMEOUT), 503);
    cr_assert_eq(status_http_code(TA_IO), 500);
    cr_assert_eq(status_http_code(TA_INTERNAL), 500);
    cr_assert_eq(status_http_code(TA_OK), 500);
}

static void expect_from_err(enum ta_rc rc, const char *msg, int want_code, const char *want)
{
    struct ta_err err = { 0 };
    int code = 0;
    ta_err_set(&err, rc, "%s", msg);
    buf_free(&b);
    cr_assert_eq(status_from_err(&err, &b, &code), TA_OK);
    cr_assert_eq(code, want_code);
    expect_body(want);
}

Test(status, from_err_maps_each_code)
{
    expect_from_err(TA_INVALID, "bad selector", 400,
                    HEAD "\"message\":\"bad selector\",\"reason\":\"BadRequest\",\"code\":400}");
    expect_from_err(TA_NOT_FOUND, "the server could not find the metric m for namespaces", 404,
                    HEAD "\"message\":\"the server could not find the metric m for namespaces\","
                         "\"reason\":\"NotFound\",\"code\":404}");
    expect_from_err(TA_TOO_LARGE, "too big", 413,
                    HEAD "\"message\":\"Request entity too large: too big\","
                         "\"reason\":\"RequestEntityTooLarge\",\"code\":413}");
    expect_from_err(TA_UNAVAILABLE, "only 3 spans", 503,
                    HEAD "\"message\":\"only 3 spans\",\"reason\":\"ServiceUnavailable\","
                         "\"code\":503}");
    expect_from_err(TA_UPSTREAM, "tempo answered 500", 503,
                    HEAD "\"message\":\"tempo answered 500\",\"reason\":\"ServiceUnavailable\","
                         "\"code\":503}");
    expect_from_err(TA_TIMEOUT, "tempo timed out", 503,
                    HEAD "\"message\":\"tempo timed out\",\"reason\":\"ServiceUnavailable\","
                         "\"code\":503}");
    expect_from_err(TA_IO, "disk", 500,
                    HEAD "\"message\":\"Internal error occurred: disk\",\"reason\":"
                         "\"InternalError\",\"details\":{\"causes\":[{\"message\":\"disk\"}]},"
                         "\"code\":500}");
    expect_from_err(TA_INTERNAL, "bug", 500,
                    HEAD "\"message\":\"Internal error occurred: bug\",\"reason\":"
                         "\"InternalError\",\"details\":{\"causes\":[{\"message\":\"bug\"}]},"
                         "\"code\":500}");
    expect_from_err(TA_OK, "", 500,
                    HEAD "\"message\":\"Internal error occurred: no error was recorded\","
                         "\"reason\":\"InternalError\",\"details\":{\"causes\":[{\"message\":"
                         "\"no error was recorded\"}]},\"code\":500}");
}

Test(status, from_null_err_is_an_internal_error)
{
    int code = 0;
    cr_assert_eq(status_from_err(NULL, &b, &code), TA_OK);
    cr_assert_eq(code, 500);
    cr_assert(strstr(buf_cstr(&b), "\"reason\":\"InternalError\"") != NULL);
}

Test(status, from_err_escapes_control_and_invalid_bytes)
{
    struct ta_err err = { 0 };
    int code = 0;
    ta_err_set(&err, TA_INVALID, "a\tb\x01\xff");
    cr_assert_eq(status_from_err(&err, &b, &code), TA_OK);
    expect_body(HEAD "\"message\":\"a\\tb\\u0001\\ufffd\",\"reason\":\"BadRequest\","
                     "\"code\":400}");
}

Test(status, a_small_cap_gives_too_large_and_no_partial_body)
{
    int code = 0;
    struct buf small;
    buf_init(&small, 40);
    cr_assert_eq(status_not_found(&small, &code), TA_TOO_LARGE);
    cr_assert_null(small.data);
    cr_assert_eq(small.len, 0);
    cr_assert_eq(status_metric_not_found(&small, SLICE_LIT("m"), &code), TA_TOO_LARGE);
    cr_assert_null(small.data);
    struct status_forbidden f = { .user = SLICE_LIT("u"),
                                  .verb = SLICE_LIT("get"),
                                  .path = SLICE_LIT("/") };
    cr_assert_eq(status_forbidden(&small, &f, &code), TA_TOO_LARGE);
    cr_assert_null(small.data);
    cr_assert_eq(status_internal_error(&small, SLICE_LIT("x"), &code), TA_TOO_LARGE);
    cr_assert_null(small.data);
}

Test(status, the_largest_body_fits_status_body_max)
{
    struct ta_err err = { 0 };
    int code = 0;
    char msg[TA_ERR_MSG_MAX];
    memset(msg, 0x01, sizeof(msg) - 1); /* every byte escapes to 6 */
    msg[sizeof(msg) - 1] = '\0';
    ta_err_set(&err, TA_INTERNAL, "%s", msg);
    cr_assert_eq(status_from_err(&err, &b, &code), TA_OK);
    cr_assert_lt(b.len, STATUS_BODY_MAX);
}
