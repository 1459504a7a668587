/* metricvalue.c — ExternalMetricValueList JSON with one item or none. Pure: any thread. */
#include "apis/metricvalue.h"

#include <string.h>

#include "apis/base/clock.h"
#include "apis/quantity.h"

#define LIST_HEAD                                                                               \
    "{\"kind\":\"ExternalMetricValueList\",\"apiVersion\":\"external.metrics.k8s.io/v1beta1\"," \
    "\"metadata\":{},\"items\":["

enum ta_rc metricvalue_encode_empty(struct buf *out)
{
    return buf_adds(out, LIST_HEAD "]}");
}

/* True when an earlier = / == requirement already used this key. */
static bool key_seen(const struct selector *sel, size_t upto)
{
    for (size_t i = 0; i < upto; i++)
        if (sel->reqs[i].op == SELECTOR_OP_EQ && strcmp(sel->reqs[i].key, sel->reqs[upto].key) == 0)
            return true;
    return false;
}

static enum ta_rc add_labels(struct buf *out, const struct selector *sel)
{
    enum ta_rc rc = buf_addc(out, '{');
    bool first = true;
    for (size_t i = 0; rc == TA_OK && sel && i < sel->n; i++) {
        const struct selector_req *r = &sel->reqs[i];
        if (r->op != SELECTOR_OP_EQ || r->nvalues != 1 || key_seen(sel, i))
            continue;
        if (!first)
            rc = buf_addc(out, ',');
        first = false;
        if (rc == TA_OK)
            rc = buf_add_json_str(out, slice_from_cstr(r->key));
        if (rc == TA_OK)
            rc = buf_addc(out, ':');
        if (rc == TA_OK)
            rc = buf_add_json_str(out, slice_from_cstr(r->values[0]));
    }
    return rc == TA_OK ? buf_addc(out, '}') : rc;
}

enum ta_rc metricvalue_encode(struct buf *out, struct slice metric_name, const struct selector *sel,
                              double value, int64_t timestamp_s, int64_t window_s,
                              struct ta_err *err)
{
    char q[QUANTITY_STR_MAX];
    char ts[CLOCK_RFC3339_LEN];
    enum ta_rc rc = quantity_from_double(value, q, err);
    if (rc != TA_OK)
        return rc; /* nothing written */
    clock_rfc3339(timestamp_s, ts);
    rc = buf_adds(out, LIST_HEAD "{\"metricName\":");
    if (rc == TA_OK)
        rc = buf_add_json_str(out, metric_name);
    if (rc == TA_OK)
        rc = buf_adds(out, ",\"metricLabels\":");
    if (rc == TA_OK)
        rc = add_labels(out, sel);
    if (rc == TA_OK)
        rc = buf_addf(out, ",\"timestamp\":\"%s\"", ts);
    if (rc == TA_OK && window_s >= 0)
        rc = buf_addf(out, ",\"window\":%lld", (long long)window_s);
    if (rc == TA_OK)
        rc = buf_addf(out, ",\"value\":\"%s\"}]}", q);
    if (rc != TA_OK)
        return ta_err_set(err, rc, "ExternalMetricValueList is longer than %zu bytes", out->max);
    return TA_OK;
}
