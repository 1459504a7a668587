/* discovery.h — the legacy discovery documents of external.metrics.k8s.io (spec §4).
 *
 * server/ answers GET /apis (APIGroupList), /apis/external.metrics.k8s.io (APIGroup) and
 * /apis/external.metrics.k8s.io/v1beta1 (APIResourceList) with these bytes and
 * Content-Type application/json. Key order is Go's struct order. Pure: any thread.
 *
 * Aggregated discovery (apidiscovery.k8s.io) is deliberately not implemented: /apis always gets
 * the legacy APIGroupList as plain application/json, whatever Accept says — never 406 and
 * never 503. The aggregator sees a non-aggregated Content-Type and falls back to
 * GET /apis/external.metrics.k8s.io/v1beta1 (spec §4.2), which is what the availability check
 * reads anyway. discovery_wants_aggregated_only tells the server when a client asked for
 * aggregated discovery only, for logging and metrics. */
#ifndef TA_APIS_DISCOVERY_H
#define TA_APIS_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"

#define DISCOVERY_GROUP         "external.metrics.k8s.io"
#define DISCOVERY_VERSION       "v1beta1"
#define DISCOVERY_GROUP_VERSION "external.metrics.k8s.io/v1beta1"
#define DISCOVERY_CONTENT_TYPE  "application/json"
#define DISCOVERY_MAX_NAMES     10000 /* resources listed in one APIResourceList */

/* {"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"external.metrics.k8s.io",
 * "versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],
 * "preferredVersion":{…same…}}]} */
TA_MUST_CHECK enum ta_rc discovery_group_list(struct buf *out);

/* {"kind":"APIGroup","apiVersion":"v1","name":"external.metrics.k8s.io","versions":[…],
 * "preferredVersion":{…}} */
TA_MUST_CHECK enum ta_rc discovery_group(struct buf *out);

/* {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"external.metrics.k8s.io/v1beta1",
 * "resources":[…]} with one entry per name, in the given order:
 * {"name":<name>,"singularName":"","namespaced":true,"kind":"ExternalMetricValueList",
 * "verbs":["get"]}. The caller passes at least one name (an empty list breaks kubectl 1.26 and
 * defeats kubectl's discovery cache, spec §18); n == 0 or n > DISCOVERY_MAX_NAMES gives
 * TA_INVALID with nothing written. Names are JSON-escaped. TA_TOO_LARGE past out's cap. */
TA_MUST_CHECK enum ta_rc discovery_resource_list(struct buf *out, const struct slice *names,
                                                 size_t n);

/* One media range of an Accept header value: type/subtype, its parameters and its q. */
struct discovery_media {
    struct slice type;    /* "application", "*" ("*" alone reads as * / *) */
    struct slice subtype; /* "json", "*" */
    struct slice params;  /* the raw text after the first ';' (q included); may be empty */
    double q;             /* 1 when absent; 0 when unparsable, as goautoneg does */
};

/* Takes the next comma-separated media range off *accept (an Accept header value) into *m;
 * entries without a '/' (other than "*") are skipped. False when none is left. apis/openapi.c
 * negotiates with it too. */
bool discovery_media_next(struct slice *accept, struct discovery_media *m);

/* The value of parameter name (case-insensitive; surrounding spaces and quotes removed) of m;
 * false when absent. */
bool discovery_media_param(const struct discovery_media *m, const char *name, struct slice *value);

/* True when the Accept header value lists only aggregated-discovery media types (parameter
 * as=APIGroupDiscoveryList) with a non-zero q: the 1.30+ aggregator's request. False when the
 * header is empty or any other media range is acceptable (application/json, * / *, …). The
 * server still answers the legacy document either way. */
bool discovery_wants_aggregated_only(struct slice accept);

#endif
