/* kube_client.h — a small HTTPS client for kube-apiserver (libcurl): TokenReview,
 * SubjectAccessReview and ConfigMap reads for server/auth*.c.
 *
 * Built from a struct kubeconfig (a --kubeconfig file, or the in-cluster service account:
 * KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount, whose
 * directory $TA_SERVICEACCOUNT_DIR overrides for tests). Each call has a time-out, a body cap,
 * and bounded retries with back-off (Go's webhook default: 500 ms × 1.5, jitter 0.2, 5
 * attempts) on connection errors, 429 and 5xx. The bearer token file is re-read when it changes
 * (projected tokens rotate). Easy handles are pooled for connection reuse; a call never holds
 * the pool lock during I/O. kube_client_cancel makes calls in flight and later ones fail fast
 * (used at shutdown). Nothing secret is logged. Internally locked: any thread. */
#ifndef TA_SERVER_KUBE_CLIENT_H
#define TA_SERVER_KUBE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "server/kubeconfig.h"

#define KUBE_CLIENT_SA_DIR        "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_CLIENT_SA_DIR_ENV    "TA_SERVICEACCOUNT_DIR"
#define KUBE_CLIENT_BODY_MAX      (4u << 20)  /* largest answer read; a ConfigMap is ~5 KiB */
#define KUBE_CLIENT_TOKEN_MAX     (64 * 1024) /* token file size */
#define KUBE_CLIENT_TIMEOUT_NS    (10LL * 1000000000LL) /* Go's webhook client time-out */
#define KUBE_CLIENT_RETRY_STEPS   5
#define KUBE_CLIENT_RETRY_BASE_NS (500LL * 1000000LL)
#define KUBE_CLIENT_POOL_MAX      16 /* idle easy handles kept for reuse */

struct kube_client_options {
    int64_t timeout_ns;    /* per attempt, connect included */
    int retry_steps;       /* attempts in all (>= 1) */
    int64_t retry_base_ns; /* first back-off; each next one is 1.5 times longer */
    size_t body_max;       /* answer bytes */
};

struct kube_client;

/* The in-cluster configuration. TA_NOT_FOUND when KUBERNETES_SERVICE_HOST is unset ("not
 * running in a cluster"), TA_IO/TA_INVALID for an unreadable CA or token. */
enum ta_rc kube_client_in_cluster(struct kubeconfig **out, struct ta_err *err);

/* Defaults: KUBE_CLIENT_TIMEOUT_NS, KUBE_CLIENT_RETRY_STEPS, KUBE_CLIENT_RETRY_BASE_NS,
 * KUBE_CLIENT_BODY_MAX. */
void kube_client_options_default(struct kube_client_options *o);
/* Copies cfg. opt NULL = defaults. curl_global_init must have run. */
enum ta_rc kube_client_new(const struct kubeconfig *cfg, const struct kube_client_options *opt,
                           struct kube_client **out, struct ta_err *err);
/* After every call has returned; NULL is fine. */
void kube_client_free(struct kube_client *kc);
/* Calls in flight abort and later ones fail with TA_UNAVAILABLE at once. */
void kube_client_cancel(struct kube_client *kc);
/* The server URL, for messages. */
const char *kube_client_server(const struct kube_client *kc);

/* method path (path starts with '/', may have a query) with a JSON body (empty: none). On TA_OK
 * *status is the HTTP status and resp (reset first; its cap is used up to body_max) the body —
 * any status that is not retried counts, 4xx included. After the last attempt: TA_UPSTREAM for
 * 429/5xx ("kube-apiserver answered 503 …"), TA_TIMEOUT, TA_IO (cannot connect, TLS),
 * TA_TOO_LARGE for a body past the cap, TA_UNAVAILABLE when cancelled. */
enum ta_rc kube_client_do(struct kube_client *kc, const char *method, const char *path,
                          struct slice body, long *status, struct buf *resp, struct ta_err *err);

/* The "message" of a Kubernetes Status body, or the first bytes of any other body, for error
 * texts; "" when empty. Writes at most cap-1 bytes and a NUL. */
void kube_client_status_message(struct slice body, char *out, size_t cap);

#endif
