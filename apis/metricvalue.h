/* metricvalue.h — the ExternalMetricValueList answer of the metric endpoint (spec §6).
 *
 * server/ encodes the one value the cache gives for (rule, namespace, selector) with
 * metricvalue_encode, or an empty list with metricvalue_encode_empty, and serves it with
 * Content-Type application/json (also when Accept prefers protobuf). Key order is Go's struct
 * order. Pure: any thread. */
#ifndef TA_APIS_METRICVALUE_H
#define TA_APIS_METRICVALUE_H

#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "apis/selector.h"

#define METRICVALUE_CONTENT_TYPE "application/json"

/* Appends
 * {"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1",
 *  "metadata":{},"items":[{"metricName":<metric_name>,"metricLabels":{…},
 *  "timestamp":"2026-07-01T12:00:00Z","window":60,"value":"1500m"}]}
 * - metricLabels: the selector's = and == requirements as an object in key order, {} when
 *   there are none or sel is NULL; a key repeated with different values keeps its first one
 *   (JSON objects cannot repeat keys);
 * - timestamp: timestamp_s as RFC 3339 UTC with second precision;
 * - window: window_s (seconds); omitted when negative (Go's nil *int64);
 * - value: quantity_from_double(value).
 * A non-finite value gives TA_INVALID ("value is not a finite number") and writes nothing.
 * TA_TOO_LARGE (out freed) past out's cap. */
enum ta_rc metricvalue_encode(struct buf *out, struct slice metric_name, const struct selector *sel,
                              double value, int64_t timestamp_s, int64_t window_s,
                              struct ta_err *err);

/* Appends {"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1",
 * "metadata":{},"items":[]} (items is never null). */
TA_MUST_CHECK enum ta_rc metricvalue_encode_empty(struct buf *out);

#endif
