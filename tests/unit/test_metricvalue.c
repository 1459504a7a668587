/* test_metricvalue.c — ExternalMetricValueList bodies (spec §6.2). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "apis/metricvalue.h"

#define LIST                                                                                    \
    "{\"kind\":\"ExternalMetricValueList\",\"apiVersion\":\"external.metrics.k8s.io/v1beta1\"," \
    "\"metadata\":{},\"items\":["

static struct selector *parse(const char *text)
{
    struct selector *sel = NULL;
    cr_assert_eq(selector_parse(slice_from_cstr(text), &sel, NULL), TA_OK, "%s", text);
    return sel;
}

static void expect_json(struct buf *b, const char *want)
{
    cr_assert_str_eq(buf_cstr(b), want);
    json_error_t jerr;
    json_t *j = json_loadb(b->data, b->len, 0, &jerr);
    cr_assert_not_null(j, "invalid JSON: %s", jerr.text);
    json_decref(j);
}

Test(metricvalue, encodes_the_canonical_response_of_the_spec)
{
    struct selector *sel = parse("queue=jobs");
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 4096);
    /* 2026-07-01T12:00:00Z = 1782907200 */
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("queue_depth"), sel, 1.5, 1782907200, 60, &err),
                 TA_OK, "%s", err.msg);
    expect_json(&b, LIST "{\"metricName\":\"queue_depth\",\"metricLabels\":{\"queue\":\"jobs\"},"
                         "\"timestamp\":\"2026-07-01T12:00:00Z\",\"window\":60,"
                         "\"value\":\"1500m\"}]}");
    buf_free(&b);
    selector_free(sel);
}

Test(metricvalue, labels_are_the_equality_requirements_only)
{
    struct selector *sel = parse("zone==eu,env in (prod),!legacy,tier!=cache,app,route=");
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), sel, 0.25, 0, 120, NULL), TA_OK);
    expect_json(&b, LIST "{\"metricName\":\"m\",\"metricLabels\":{\"route\":\"\",\"zone\":\"eu\"},"
                         "\"timestamp\":\"1970-01-01T00:00:00Z\",\"window\":120,"
                         "\"value\":\"250m\"}]}");
    buf_free(&b);
    selector_free(sel);
}

Test(metricvalue, labels_are_an_empty_object_without_selector)
{
    struct selector *sel = parse("");
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), sel, 3, 86400, 30, NULL), TA_OK);
    expect_json(&b, LIST "{\"metricName\":\"m\",\"metricLabels\":{},\"timestamp\":"
                         "\"1970-01-02T00:00:00Z\",\"window\":30,\"value\":\"3\"}]}");
    buf_free(&b);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), NULL, 3, 86400, 30, NULL), TA_OK);
    cr_assert(strstr(buf_cstr(&b), "\"metricLabels\":{}") != NULL);
    buf_free(&b);
    selector_free(sel);
}

Test(metricvalue, a_repeated_key_keeps_its_first_value)
{
    struct selector *sel = parse("a=1,a=2,b=3");
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), sel, 1, 0, 1, NULL), TA_OK);
    cr_assert(strstr(buf_cstr(&b), "\"metricLabels\":{\"a\":\"1\",\"b\":\"3\"}") != NULL, "%s",
              buf_cstr(&b));
    buf_free(&b);
    selector_free(sel);
}

Test(metricvalue, window_is_omitted_when_negative_and_written_when_zero)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), NULL, 1, 0, -1, NULL), TA_OK);
    expect_json(&b, LIST "{\"metricName\":\"m\",\"metricLabels\":{},\"timestamp\":"
                         "\"1970-01-01T00:00:00Z\",\"value\":\"1\"}]}");
    buf_free(&b);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), NULL, 1, 0, 0, NULL), TA_OK);
    cr_assert(strstr(buf_cstr(&b), "\"window\":0,") != NULL);
    buf_free(&b);
}

Test(metricvalue, escapes_the_metric_name)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("a\"b<c>\x01"), NULL, -2.5, 0, 1, NULL), TA_OK);
    expect_json(&b, LIST "{\"metricName\":\"a\\\"b\\u003cc\\u003e\\u0001\",\"metricLabels\":{},"
                         "\"timestamp\":\"1970-01-01T00:00:00Z\",\"window\":1,"
                         "\"value\":\"-2500m\"}]}");
    buf_free(&b);
}

Test(metricvalue, refuses_non_finite_values_and_writes_nothing)
{
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 4096);
    cr_assert(buf_adds(&b, "x") == TA_OK);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), NULL, NAN, 0, 1, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "value is not a finite number");
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), NULL, INFINITY, 0, 1, NULL), TA_INVALID);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), NULL, -INFINITY, 0, 1, NULL), TA_INVALID);
    cr_assert_str_eq(buf_cstr(&b), "x");
    buf_free(&b);
}

Test(metricvalue, reports_a_full_buffer)
{
    struct buf b;
    struct ta_err err = { 0 };
    buf_init(&b, 100);
    cr_assert_eq(metricvalue_encode(&b, SLICE_LIT("m"), NULL, 1, 0, 1, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "ExternalMetricValueList is longer than 100 bytes");
    cr_assert_null(b.data);
    cr_assert_eq(metricvalue_encode_empty(&b), TA_TOO_LARGE);
}

Test(metricvalue, empty_list_has_empty_items)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(metricvalue_encode_empty(&b), TA_OK);
    expect_json(&b, LIST "]}");
    buf_free(&b);
}
