/* test_discovery.c — discovery documents (spec §4) and Accept media-range parsing. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "apis/discovery.h"

static void expect_json(struct buf *b, const char *want)
{
    cr_assert_str_eq(buf_cstr(b), want);
    json_error_t jerr;
    json_t *j = json_loadb(b->data, b->len, 0, &jerr);
    cr_assert_not_null(j, "invalid JSON: %s", jerr.text);
    json_decref(j);
}

Test(discovery, group_list_matches_spec)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(discovery_group_list(&b), TA_OK);
    expect_json(&b, "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[{\"name\":"
                    "\"external.metrics.k8s.io\",\"versions\":[{\"groupVersion\":"
                    "\"external.metrics.k8s.io/v1beta1\",\"version\":\"v1beta1\"}],"
                    "\"preferredVersion\":{\"groupVersion\":\"external.metrics.k8s.io/v1beta1\","
                    "\"version\":\"v1beta1\"}}]}");
    buf_free(&b);
}

Test(discovery, group_matches_spec)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(discovery_group(&b), TA_OK);
    expect_json(&b, "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",\"name\":"
                    "\"external.metrics.k8s.io\",\"versions\":[{\"groupVersion\":"
                    "\"external.metrics.k8s.io/v1beta1\",\"version\":\"v1beta1\"}],"
                    "\"preferredVersion\":{\"groupVersion\":\"external.metrics.k8s.io/v1beta1\","
                    "\"version\":\"v1beta1\"}}");
    buf_free(&b);
}

Test(discovery, resource_list_with_one_name_matches_spec)
{
    struct buf b;
    struct slice names[] = { SLICE_LIT("externalmetrics") };
    buf_init(&b, 4096);
    cr_assert_eq(discovery_resource_list(&b, names, 1), TA_OK);
    expect_json(&b, "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":"
                    "\"external.metrics.k8s.io/v1beta1\",\"resources\":[{\"name\":"
                    "\"externalmetrics\",\"singularName\":\"\",\"namespaced\":true,\"kind\":"
                    "\"ExternalMetricValueList\",\"verbs\":[\"get\"]}]}");
    buf_free(&b);
}

Test(discovery, resource_list_has_one_entry_per_name_in_order)
{
    struct buf b;
    struct slice names[] = { SLICE_LIT("b_metric"), SLICE_LIT("a\"<x>") };
    buf_init(&b, 4096);
    cr_assert_eq(discovery_resource_list(&b, names, 2), TA_OK);
    expect_json(&b, "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":"
                    "\"external.metrics.k8s.io/v1beta1\",\"resources\":["
                    "{\"name\":\"b_metric\",\"singularName\":\"\",\"namespaced\":true,\"kind\":"
                    "\"ExternalMetricValueList\",\"verbs\":[\"get\"]},"
                    "{\"name\":\"a\\\"\\u003cx\\u003e\",\"singularName\":\"\",\"namespaced\":true,"
                    "\"kind\":\"ExternalMetricValueList\",\"verbs\":[\"get\"]}]}");
    buf_free(&b);
}

Test(discovery, resource_list_refuses_an_empty_list)
{
    struct buf b;
    struct slice names[] = { SLICE_LIT("x") };
    buf_init(&b, 4096);
    cr_assert_eq(discovery_resource_list(&b, names, 0), TA_INVALID);
    cr_assert_eq(discovery_resource_list(&b, NULL, 1), TA_INVALID);
    cr_assert_eq(discovery_resource_list(&b, names, DISCOVERY_MAX_NAMES + 1), TA_INVALID);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

Test(discovery, resource_list_reports_a_full_buffer)
{
    struct buf b;
    struct slice names[] = { SLICE_LIT("x") };
    buf_init(&b, 64);
    cr_assert_eq(discovery_resource_list(&b, names, 1), TA_TOO_LARGE);
    cr_assert_null(b.data);
    cr_assert_eq(discovery_group_list(&b), TA_TOO_LARGE);
    cr_assert_eq(discovery_group(&b), TA_TOO_LARGE);
}

Test(discovery, media_ranges_are_split_with_params_and_q)
{
    struct slice accept = SLICE_LIT(" application/json;q=0.5 , text/plain;charset=utf-8,*,"
                                    "broken, */*;q=x");
    struct discovery_media m;
    struct slice v;
    cr_assert(discovery_media_next(&accept, &m));
    cr_assert(slice_eq_cstr(m.type, "application"));
    cr_assert(slice_eq_cstr(m.subtype, "json"));
    cr_assert_float_eq(m.q, 0.5, 1e-9);
    cr_assert(discovery_media_next(&accept, &m));
    cr_assert(slice_eq_cstr(m.subtype, "plain"));
    cr_assert(discovery_media_param(&m, "CHARSET", &v));
    cr_assert(slice_eq_cstr(v, "utf-8"));
    cr_assert_not(discovery_media_param(&m, "q", &v));
    cr_assert_float_eq(m.q, 1.0, 1e-9);
    cr_assert(discovery_media_next(&accept, &m)); /* "*" */
    cr_assert(slice_eq_cstr(m.type, "*"));
    cr_assert(slice_eq_cstr(m.subtype, "*"));
    cr_assert(discovery_media_next(&accept, &m)); /* "broken" skipped */
    cr_assert(slice_eq_cstr(m.type, "*"));
    cr_assert_float_eq(m.q, 0.0, 1e-9);
    cr_assert_not(discovery_media_next(&accept, &m));
}

Test(discovery, media_param_strips_quotes)
{
    struct slice accept = SLICE_LIT("application/json; as=\"APIGroupDiscoveryList\"");
    struct discovery_media m;
    struct slice v;
    cr_assert(discovery_media_next(&accept, &m));
    cr_assert(discovery_media_param(&m, "as", &v));
    cr_assert(slice_eq_cstr(v, "APIGroupDiscoveryList"));
}

Test(discovery, detects_aggregated_only_accept_headers)
{
    cr_assert(discovery_wants_aggregated_only(
        SLICE_LIT("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")));
    cr_assert(discovery_wants_aggregated_only(
        SLICE_LIT("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")));
    cr_assert(discovery_wants_aggregated_only(
        SLICE_LIT("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;q=0")));
    cr_assert_not(discovery_wants_aggregated_only(
        SLICE_LIT("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json")));
    cr_assert_not(discovery_wants_aggregated_only(SLICE_LIT("application/json")));
    cr_assert_not(discovery_wants_aggregated_only(SLICE_LIT("*/*")));
    cr_assert_not(discovery_wants_aggregated_only(SLICE_LIT("")));
    cr_assert_not(discovery_wants_aggregated_only(SLICE_NULL));
    cr_assert_not(discovery_wants_aggregated_only(SLICE_LIT(",,;")));
}
