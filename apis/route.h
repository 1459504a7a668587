/* route.h — which endpoint a request is for, and the request attributes an authorizer sees.
 *
 * server/ calls route_parse on every request (method, raw path, raw query from struct request)
 * before authentication decisions: route.kind picks the handler; the request-info fields (verb,
 * namespace, resource, …) are those of apiserver's RequestInfoFactory and go into the
 * SubjectAccessReview; ROUTE_METRIC carries the decoded namespace, metric name and
 * labelSelector text for selector_parse. Unknown or malformed paths are ROUTE_NOT_FOUND (answer
 * status_not_found), never an error. A struct route is owned by the caller and filled by one
 * thread; route_free releases the decoded text it holds. */
#ifndef TA_APIS_ROUTE_H
#define TA_APIS_ROUTE_H

#include <stdbool.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "apis/selector.h"

/* Raw path bytes: 8 KiB is Go's and most proxies' request-line budget for the path; longer is
 * TA_TOO_LARGE (answer status_uri_too_long, 414). */
#define ROUTE_PATH_MAX 8192
/* Raw query bytes: a selector of SELECTOR_MAX_LEN fully percent-encoded (×3) plus room for
 * other parameters; longer is TA_TOO_LARGE (414). */
#define ROUTE_QUERY_MAX (3 * SELECTOR_MAX_LEN + 1024)
/* HTTP method bytes; longer methods do not exist (TA_INVALID). */
#define ROUTE_METHOD_MAX 32
/* A metric name is one path segment of at most 253 bytes (a DNS subdomain's length, and what
 * fits a Kubernetes resource name); longer names are ROUTE_NOT_FOUND. */
#define ROUTE_METRIC_MAX 253
/* Namespaces are DNS-1123 labels. */
#define ROUTE_NAMESPACE_MAX 63

#define ROUTE_GROUP   "external.metrics.k8s.io"
#define ROUTE_VERSION "v1beta1"

enum route_kind {
    ROUTE_NOT_FOUND = 0,    /* anything else: 404 status_not_found */
    ROUTE_HEALTHZ,          /* /healthz, /healthz/<check>… */
    ROUTE_LIVEZ,            /* /livez, /livez/<check>… */
    ROUTE_READYZ,           /* /readyz, /readyz/<check>… */
    ROUTE_APIS,             /* /apis, /apis/: APIGroupList */
    ROUTE_GROUP_DOC,        /* /apis/external.metrics.k8s.io[/]: APIGroup */
    ROUTE_RESOURCES,        /* /apis/external.metrics.k8s.io/v1beta1[/]: APIResourceList */
    ROUTE_METRIC,           /* /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric} */
    ROUTE_OPENAPI_V2,       /* /openapi/v2 */
    ROUTE_OPENAPI_V3,       /* /openapi/v3 (root listing) */
    ROUTE_OPENAPI_V3_GROUP, /* /openapi/v3/apis/external.metrics.k8s.io/v1beta1 */
    ROUTE_METRICS,          /* /metrics: the adapter's own Prometheus metrics */
};

struct route {
    enum route_kind kind;

    /* Request info as kube-apiserver's authorizer computes it (requestinfo.go). */
    bool resource_request; /* true for /api/v…/… and /apis/<group>/<version>/… with ≥ 1 part */
    /* Resource requests: "get", "list", "watch", "create", "update", "patch", "delete",
     * "deletecollection", "proxy" or "" (other methods). Non-resource requests: the lower-case
     * method ("get", "post", "head", …). A GET without an object name is "list", or "watch"
     * when ?watch= holds any value but "0"/"false" (Kubernetes' bool conversion). Never NULL. */
    const char *verb;
    struct slice api_group; /* resource requests; "" for /api */
    struct slice api_version;
    struct slice namespace_;  /* decoded; "" when not namespaced */
    struct slice resource;    /* decoded; for the metric path: the metric name */
    struct slice subresource; /* e.g. "status" for …/namespaces/{ns}/status */
    struct slice name;
    struct slice path; /* the raw path as received: non-resource attributes use it */

    /* ROUTE_METRIC */
    struct slice metric;   /* decoded metric name: 1..ROUTE_METRIC_MAX bytes, not "." or "..",
                            * no '/' or NUL */
    bool has_selector;     /* ?labelSelector= present (an empty value counts as absent, as in
                            * Go, where "" is the everything selector) */
    struct slice selector; /* its form-decoded text; "" when absent */
    bool watch;            /* the request asks for a watch (answer status_watch_not_allowed) */

    /* ROUTE_HEALTHZ / LIVEZ / READYZ */
    struct slice check; /* raw text after "/healthz/" ("" for the endpoint itself) */
    bool verbose;       /* ?verbose present with any value */

    /* ROUTE_OPENAPI_V3_GROUP */
    bool has_hash;     /* ?hash= present and non-empty */
    struct slice hash; /* its decoded value */

    char *mem; /* owned: the decoded text the slices above point into (route_free) */
};

/* Fills *out (any previous content is overwritten, not freed) from the request method, the
 * raw path (percent-encoded, without the query) and the raw query (without '?'). Path segments
 * are percent-decoded one by one before matching ("+" stays "+"); a segment holding an encoded
 * '/' or NUL, an empty segment, a metric name that is empty, "." or "..", longer than
 * ROUTE_METRIC_MAX or not valid UTF-8, and every path not listed above, give ROUTE_NOT_FOUND.
 * Errors (request-info fields and path are still filled as far as known; route_free is still
 * needed):
 * - TA_TOO_LARGE: path over ROUTE_PATH_MAX or query over ROUTE_QUERY_MAX (answer 414);
 * - TA_INVALID: a method over ROUTE_METHOD_MAX bytes, a bad %-escape in the path, a metric path
 *   whose namespace is not a DNS-1123 label (`invalid namespace "Shop": a lowercase RFC 1123
 *   label must consist of lower case alphanumeric characters or '-', and must start and end
 *   with an alphanumeric character`), or a labelSelector that does not decode
 *   (`labelSelector: invalid URL escape "%zz"`) or is longer than SELECTOR_MAX_LEN once decoded
 *   (TA_TOO_LARGE). */
enum ta_rc route_parse(struct slice method, struct slice path, struct slice query,
                       struct route *out, struct ta_err *err);

/* Frees what route_parse allocated; the route becomes ROUTE_NOT_FOUND with empty slices. NULL
 * and a zeroed struct are fine. */
void route_free(struct route *r);

#endif
