/* status.h — Kubernetes `Status` error bodies, byte for byte as Go's apiserver writes them.
 *
 * server/ answers every error with one of these builders (client-go only turns a body into a
 * typed error when it decodes as a Status with "status":"Failure"; spec §5.4). Key order is
 * Go's: kind, apiVersion, metadata {}, status, message, reason (omitted when empty), details
 * (when given), code. status_from_err is the ONE place that maps enum ta_rc to an HTTP code.
 * Every builder appends to out (cap STATUS_BODY_MAX is enough for any of them), sets *code to
 * the HTTP status to send with Content-Type application/json, and returns TA_TOO_LARGE (out
 * freed) only when out's cap is smaller than the body. Pure: any thread. */
#ifndef TA_APIS_STATUS_H
#define TA_APIS_STATUS_H

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

/* Cap for a Status body: a 256-byte message JSON-escaped (×6 at worst) twice (message and
 * cause) plus the frame stays far below it. */
#define STATUS_BODY_MAX 8192
/* Bytes of one untrusted field (user, resource, path, metric…) shown in a message; longer
 * fields are cut and followed by "...". */
#define STATUS_FIELD_SHOWN 256

/* The API group every builder below refers to. */
#define STATUS_GROUP "external.metrics.k8s.io"

/* Status.details; every empty field is omitted, as Go's omitempty does. */
struct status_details {
    struct slice name;
    struct slice group;
    struct slice kind;
    struct slice cause; /* non-empty: "causes":[{"message":cause}] */
};

/* The generic writer: code, reason ("" or NULL omits it), message, details (NULL omits the key,
 * an all-empty struct writes "details":{}). */
TA_MUST_CHECK enum ta_rc status_write(struct buf *out, int code, const char *reason,
                                      struct slice message, const struct status_details *details);

/* 404 NotFound "the server could not find the requested resource", details {}: unknown paths,
 * /…/v1beta1/{metric}, /…/namespaces/{ns}, /…/namespaces/{ns}/a/b (go-restful's 404). */
TA_MUST_CHECK enum ta_rc status_not_found(struct buf *out, int *code);

/* 404 NotFound "the server could not find the metric <metric> for namespaces", no details:
 * prometheus-adapter's NewMetricNotFoundError with GroupResource{Resource: "namespaces"}. Chosen
 * over an empty 200 list because the HPA then reports the metric name in its condition
 * ("unable to fetch metrics from external metrics API: the server could not find the metric
 * … for namespaces") instead of the vaguer "no metrics returned from external metrics API". */
TA_MUST_CHECK enum ta_rc status_metric_not_found(struct buf *out, struct slice metric, int *code);

/* 400 BadRequest with message as given (e.g. a selector parse error). */
TA_MUST_CHECK enum ta_rc status_bad_request(struct buf *out, struct slice message, int *code);

/* 405 MethodNotAllowed `watch is not supported on resources of kind
 * "*.external.metrics.k8s.io"`, details {"group":"external.metrics.k8s.io","kind":"*"}. */
TA_MUST_CHECK enum ta_rc status_watch_not_allowed(struct buf *out, int *code);

/* 405 MethodNotAllowed "the server does not allow this method on the requested resource",
 * details {}: any method but GET/HEAD on an existing path, once the caller is authorized. */
TA_MUST_CHECK enum ta_rc status_method_not_allowed(struct buf *out, int *code);

/* 401 Unauthorized, message "Unauthorized", no details. */
TA_MUST_CHECK enum ta_rc status_unauthorized(struct buf *out, int *code);

/* Authorization attributes for a 403 (responsewriters.Forbidden + errors.NewForbidden). */
struct status_forbidden {
    struct slice user;        /* user name, quoted as Go's %q */
    struct slice verb;        /* "list", "get", "watch", … */
    struct slice group;       /* resource requests: API group (STATUS_GROUP) */
    struct slice resource;    /* resource requests: the metric name; empty for non-resource */
    struct slice subresource; /* usually empty */
    struct slice name;        /* usually empty */
    struct slice namespace_;  /* empty: "at the cluster scope" */
    struct slice path;        /* non-resource requests: the request path */
    struct slice reason;      /* the authorizer's reason; appended as ": <reason>" when set */
};

/* 403 Forbidden. Resource request (resource non-empty):
 *   `queue_depth.external.metrics.k8s.io is forbidden: User "u" cannot list resource
 *   "queue_depth" in API group "external.metrics.k8s.io" in the namespace "default"`,
 *   details {"group":…,"kind":<resource>} (plus "name" when set);
 * non-resource request (resource empty): `forbidden: User "u" cannot get path "/openapi/v2"`,
 * details {}. */
TA_MUST_CHECK enum ta_rc status_forbidden(struct buf *out, const struct status_forbidden *f,
                                          int *code);

/* 413 / 414 / 431, reason RequestEntityTooLarge (Kubernetes has no reason for 414 and 431; this
 * is the closest StatusReason): "Request entity too large: <detail>", "Request URI too long:
 * <detail>", "Request header fields too large: <detail>". */
TA_MUST_CHECK enum ta_rc status_too_large(struct buf *out, struct slice detail, int *code);
TA_MUST_CHECK enum ta_rc status_uri_too_long(struct buf *out, struct slice detail, int *code);
TA_MUST_CHECK enum ta_rc status_headers_too_large(struct buf *out, struct slice detail, int *code);

/* 503 ServiceUnavailable with message as given (errors.NewServiceUnavailable). */
TA_MUST_CHECK enum ta_rc status_service_unavailable(struct buf *out, struct slice message,
                                                    int *code);

/* 500 InternalError "Internal error occurred: <message>", details {"causes":[{"message":
 * <message>}]} (errors.NewInternalError). */
TA_MUST_CHECK enum ta_rc status_internal_error(struct buf *out, struct slice message, int *code);

/* The HTTP status for a failure code: TA_INVALID 400, TA_NOT_FOUND 404, TA_TOO_LARGE 413,
 * TA_UNAVAILABLE / TA_UPSTREAM / TA_TIMEOUT 503, TA_IO / TA_INTERNAL (and TA_OK, which is not a
 * failure: a caller bug) 500. */
int status_http_code(enum ta_rc rc);

/* The Status for err (err->msg becomes the message): 400 BadRequest, 404 NotFound, 413
 * RequestEntityTooLarge, 503 ServiceUnavailable or 500 InternalError, as status_http_code maps
 * err->rc, each written by the builder above for that code. NULL err is a 500. */
TA_MUST_CHECK enum ta_rc status_from_err(const struct ta_err *err, struct buf *out, int *code);

#endif
