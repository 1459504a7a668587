/* auth.h — the facade the HTTP layer calls: delegated authentication and authorization, as a
 * Go aggregated API server does them (spec §12, §13).
 *
 * main creates one struct auth from the flags (after curl_global_init); server/http.c calls
 * auth_check for every request. Inside: a kube-apiserver client (server/kube_client.c) from
 * --kubeconfig or the in-cluster service account, the authentication configuration
 * (server/authcfg.c) re-read from kube-system/extension-apiserver-authentication by a refresher
 * thread, the authenticator chain (server/authn.c) and the SubjectAccessReview authorizer
 * (server/authz.c). Never allows on doubt: an unreachable kube-apiserver gives 401/403 with a
 * reason. With --insecure-disable-auth every request is allowed (main warns). Internally
 * locked: any thread. */
#ifndef TA_SERVER_AUTH_H
#define TA_SERVER_AUTH_H

#include <stdbool.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "apis/selector.h"
#include "server/flags.h"
#include "server/request.h"

#define AUTH_CONFIGMAP_REFRESH_NS   (300LL * 1000000000LL) /* re-read of the ConfigMap */
#define AUTH_CONFIGMAP_RETRY_MAX_NS (30LL * 1000000000LL)  /* back-off cap while it fails */
/* Overrides AUTH_CONFIGMAP_REFRESH_NS in milliseconds (integration tests). */
#define AUTH_REFRESH_ENV "TA_AUTH_REFRESH_MS"
#define AUTH_USER_MAX    256

struct auth;

/* Loads the client configuration (--kubeconfig, else in-cluster: an error when neither is
 * available), builds the authentication configuration (reading the ConfigMap once unless both
 * CA flags are given; a failed read is logged and retried in the background while requests
 * that need it are denied with the reason), and starts the refresher thread. With
 * --insecure-disable-auth nothing is loaded and every request is allowed. */
enum ta_rc auth_new(const struct flags *f, struct auth **out, struct ta_err *err);
/* Stops the refresher, cancels kube-apiserver calls in flight and frees; only after the HTTP
 * server has stopped calling auth_check. NULL is fine. */
void auth_free(struct auth *a);

/* True when path (raw, without the query) matches --authorization-always-allow-paths: an
 * exact entry, or a prefix for an entry ending in '*' (Go's rules; the leading '/' of both
 * sides is ignored). Such requests skip authentication and authorization. */
bool auth_always_allowed(const struct auth *a, struct slice path);

struct auth_attributes {
    bool resource_request;           /* metric path: resource attributes; else non-resource */
    struct slice verb;               /* list, watch, get, create, update, patch, delete */
    struct slice ns, resource;       /* metric path: namespace and metric name (decoded) */
    const struct selector *selector; /* may be NULL; forwarded as labelSelector requirements */
    struct slice path;               /* non-resource: the request path */
};

enum auth_decision {
    AUTH_ALLOW,
    AUTH_UNAUTHORIZED, /* 401 */
    AUTH_FORBIDDEN,    /* 403 */
    AUTH_WOULD_BLOCK,  /* call again with may_block true from a worker thread */
};

struct auth_result {
    enum auth_decision decision;
    char user[AUTH_USER_MAX]; /* the authenticated user name (for the 403 message); "" if none */
    struct ta_err reason;     /* why not allowed: log at V(2); never put in a 401 body */
    /* AUTH_FORBIDDEN by a review: its status.reason verbatim, "" when none (the usual RBAC
     * deny). Go appends a non-empty one to the 403 message as ": <reason>". "" on errors. */
    char review_reason[TA_ERR_MSG_MAX];
};

/* Authenticates, then authorizes. With may_block false it answers from memory only and
 * returns AUTH_WOULD_BLOCK when a TokenReview or SubjectAccessReview call is needed. A
 * non-resource request on an always-allowed path is allowed at once. */
void auth_check(struct auth *a, const struct request *req, const struct auth_attributes *attrs,
                bool may_block, struct auth_result *out);

#endif
