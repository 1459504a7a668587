/* authn.h — delegated authentication: front-proxy certificate plus X-Remote-* headers, client
 * certificate, bearer token via TokenReview (spec §12.2, §12.3).
 *
 * server/auth.c calls authn_authenticate for every request that is not on an always-allowed
 * path, with the current struct authcfg snapshot. Methods are tried in Go's order and with Go's
 * union semantics: the first that authenticates wins, a method that fails (a certificate that
 * does not verify, an invalid token) is remembered as the reason and the next one is tried;
 * X-Remote-* headers are only read after a front-proxy certificate verified. Certificate
 * verifications (per chain and configuration digest) and TokenReview answers (per SHA-256 of
 * the token; never the token) are cached for AUTHN_CACHE_TTL_NS. A struct authn is internally
 * locked: any thread. */
#ifndef TA_SERVER_AUTHN_H
#define TA_SERVER_AUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "server/authcfg.h"
#include "server/kube_client.h"
#include "server/request.h"

#define AUTHN_MAX_PEER_CERTS  16          /* certificates a TLS peer may present */
#define AUTHN_MAX_CERT_BYTES  (64 * 1024) /* DER size of one; real ones are ~1 KiB */
#define AUTHN_MAX_TOKEN       (16 * 1024) /* bearer token; service-account JWTs are ~1 KiB */
#define AUTHN_MAX_FIELD       4096        /* a user name, uid, group, extra key or value */
#define AUTHN_MAX_GROUPS      1024        /* groups of one user */
#define AUTHN_MAX_EXTRA       1024        /* extra values of one user, all keys together */
#define AUTHN_TOKENREVIEW_MAX (1u << 20)  /* TokenReview request and answer bodies */
#define AUTHN_CACHE_MAX       4096        /* entries of each cache (tokens, chains) */
#define AUTHN_CACHE_TTL_NS    (10LL * 1000000000LL) /* Go's delegated cache TTL, both ways */

#define AUTHN_GROUP_AUTHENTICATED   "system:authenticated"
#define AUTHN_GROUP_UNAUTHENTICATED "system:unauthenticated"
#define AUTHN_EXTRA_CREDENTIAL_ID   "authentication.kubernetes.io/credential-id"

struct authn_extra {
    char *key;
    char **values;
    size_t nvalues;
};

/* An authenticated identity. Owned by whoever holds the pointer (authn_user_free). */
struct authn_user {
    char *name;
    char *uid; /* NULL when none */
    char **groups;
    size_t ngroups;
    struct authn_extra *extra; /* sorted by key (JSON maps are sorted, as Go marshals them) */
    size_t nextra;
    size_t nextra_values;
};

/* A user named name (copied); no groups, no uid, no extra. */
struct authn_user *authn_user_new(struct slice name);
void authn_user_free(struct authn_user *u);
struct authn_user *authn_user_clone(const struct authn_user *u);
/* Appends a group; TA_TOO_LARGE past AUTHN_MAX_GROUPS or AUTHN_MAX_FIELD. */
enum ta_rc authn_user_add_group(struct authn_user *u, struct slice group, struct ta_err *err);
/* Appends value to extra[key] (keeps keys sorted); TA_TOO_LARGE past the limits. */
enum ta_rc authn_user_add_extra(struct authn_user *u, struct slice key, struct slice value,
                                struct ta_err *err);
bool authn_user_in_group(const struct authn_user *u, const char *group);
/* Go's AuthenticatedGroupAdder: appends system:authenticated unless the user already has it or
 * system:unauthenticated. */
void authn_user_add_authenticated(struct authn_user *u);

enum authn_outcome {
    AUTHN_OK,             /* *user is set */
    AUTHN_NO_CREDENTIALS, /* nothing to authenticate with; reason says what was missing */
    AUTHN_FAILED,         /* every presented credential failed; reason says why */
    AUTHN_WOULD_BLOCK,    /* a TokenReview call is needed and may_block was false */
};

struct authn;

/* kc is borrowed (it must outlive the authn) and may be NULL: bearer tokens then fail. */
struct authn *authn_new(struct kube_client *kc);
void authn_free(struct authn *an);

/* Runs the chain. cfg may be NULL while no configuration is loaded: certificate methods then
 * fail with cfg_unavailable as the reason. On AUTHN_OK *user is owned by the caller and has
 * system:authenticated. reason (NULL allowed) gets the Go-style why for every other outcome. */
enum authn_outcome authn_authenticate(struct authn *an, const struct authcfg *cfg,
                                      const char *cfg_unavailable, const struct request *req,
                                      bool may_block, struct authn_user **user,
                                      struct ta_err *reason);

/* The single methods, for tests; same contract, without the authenticated group. */
enum authn_outcome authn_front_proxy(struct authn *an, const struct authcfg *cfg,
                                     const struct request *req, struct authn_user **user,
                                     struct ta_err *reason);
enum authn_outcome authn_client_cert(struct authn *an, const struct authcfg *cfg,
                                     const struct request *req, struct authn_user **user,
                                     struct ta_err *reason);
enum authn_outcome authn_token(struct authn *an, const struct request *req, bool may_block,
                               struct authn_user **user, struct ta_err *reason);

/* Go's bearertoken.New: "Authorization: Bearer <token>" (scheme case-insensitive, the value
 * trimmed, the token the second space-separated part). False when absent or empty. */
bool authn_bearer_token(const struct request *req, struct slice *token);

/* The TokenReview request body for token (spec §12.3). */
TA_MUST_CHECK enum ta_rc authn_tokenreview_body(struct slice token, struct buf *out);
/* Reads a TokenReview answer: TA_OK with *user when status.authenticated is true; TA_INVALID
 * with "invalid bearer token[: status.error]" when false; TA_UPSTREAM when malformed. */
enum ta_rc authn_tokenreview_parse(struct slice body, struct authn_user **user, struct ta_err *err);

#endif
