/* authz.h — delegated authorization: SubjectAccessReview with Go's exact attributes (spec §13).
 *
 * server/auth.c calls authz_check after authentication. Members of system:masters are allowed
 * without a review (Go's AlwaysAllowGroups); everything else is reviewed. Answers (allow and
 * deny) are cached AUTHZ_CACHE_TTL_NS per SHA-256 of the review body, which holds the user,
 * groups, extra, uid and every attribute, so no two different questions share an answer.
 * Errors are never cached and never allow. Internally locked: any thread. */
#ifndef TA_SERVER_AUTHZ_H
#define TA_SERVER_AUTHZ_H

#include <stdbool.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "server/auth.h"
#include "server/authn.h"
#include "server/kube_client.h"

#define AUTHZ_SAR_MAX       (1u << 20) /* review request and answer bodies */
#define AUTHZ_CACHE_MAX     4096
#define AUTHZ_CACHE_TTL_NS  (10LL * 1000000000LL) /* Go: 10 s allowed, 10 s denied */
#define AUTHZ_GROUP_MASTERS "system:masters"
#define AUTHZ_API_GROUP     "external.metrics.k8s.io"
#define AUTHZ_API_VERSION   "v1beta1"

enum authz_outcome {
    AUTHZ_ALLOW,
    AUTHZ_DENY,        /* the review said no (or had no opinion) */
    AUTHZ_ERROR,       /* no answer (kube-apiserver unreachable, bad answer): deny */
    AUTHZ_WOULD_BLOCK, /* a review call is needed and may_block was false */
};

struct authz;

/* kc is borrowed and must outlive the authz; NULL makes every review an error. */
struct authz *authz_new(struct kube_client *kc);
void authz_free(struct authz *az);

/* Decides whether user may do attrs. reason (NULL allowed) gets, on deny, the review's
 * status.reason verbatim ("" when it gave none), on error the failure. */
enum authz_outcome authz_check(struct authz *az, const struct authn_user *user,
                               const struct auth_attributes *attrs, bool may_block,
                               struct ta_err *reason);

/* The SubjectAccessReview request body (spec §13.2, §13.3): resource attributes (namespace,
 * verb, group, version, resource, labelSelector.requirements) or non-resource attributes
 * (path, verb); user, groups, extra (keys sorted), uid; empty fields omitted as Go's omitempty
 * does. TA_INVALID for attributes that cannot be sent (a NUL byte). */
TA_MUST_CHECK enum ta_rc authz_sar_body(const struct authn_user *user,
                                        const struct auth_attributes *attrs, struct buf *out);
/* Reads a review answer: *allowed from status.allowed (denied, or no opinion, is false);
 * reason gets status.reason or status.evaluationError ("" when none). TA_UPSTREAM when
 * malformed. */
enum ta_rc authz_sar_parse(struct slice body, bool *allowed, char *reason, size_t reason_cap,
                           struct ta_err *err);

#endif
