/* openapi.h — serving /openapi/v2, /openapi/v3 and the v3 group document (spec §17).
 *
 * The documents are go-compatible-openapi/v2.json and
 * go-compatible-openapi/v3-apis-external.metrics.k8s.io-v1beta1.json, compiled into the binary
 * (apis/embedded.h). openapi_new hashes them once (ETag = upper-case hex SHA-512, as
 * kube-openapi computes it) and builds the v3 root listing; afterwards the struct openapi is
 * immutable and shared by all handler threads. openapi_serve decides the answer for one request
 * — negotiation, conditional GET, the ?hash= protocol — and returns it as a small struct the
 * HTTP layer in server/ copies out. */
#ifndef TA_APIS_OPENAPI_H
#define TA_APIS_OPENAPI_H

#include <stddef.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "apis/route.h"

#define OPENAPI_V2_FILE      "go-compatible-openapi/v2.json"
#define OPENAPI_V3_FILE      "go-compatible-openapi/v3-apis-external.metrics.k8s.io-v1beta1.json"
#define OPENAPI_V3_KEY       "apis/external.metrics.k8s.io/v1beta1" /* the only key of the root */
#define OPENAPI_V3_PATH      "/openapi/v3/" OPENAPI_V3_KEY
#define OPENAPI_CONTENT_TYPE "application/json"
#define OPENAPI_ETAG_HEX_LEN 128 /* SHA-512 in hex */
#define OPENAPI_MAX_HEADERS  4

struct openapi; /* opaque; immutable after openapi_new: any thread */

/* Hashes the two documents (borrowed: they must outlive the struct openapi; the embedded ones
 * are static) and builds the v3 root listing. TA_INVALID when a document is empty;
 * TA_INTERNAL when OpenSSL cannot hash. On TA_OK the caller owns *out (openapi_free). */
enum ta_rc openapi_new(struct slice v2, struct slice v3, struct openapi **out, struct ta_err *err);

/* openapi_new on the embedded OPENAPI_V2_FILE and OPENAPI_V3_FILE; TA_NOT_FOUND when the binary
 * was built without them. */
enum ta_rc openapi_new_embedded(struct openapi **out, struct ta_err *err);

void openapi_free(struct openapi *o);

/* The upper-case hex SHA-512 (unquoted, OPENAPI_ETAG_HEX_LEN characters) of the v2 document,
 * the v3 group document and the v3 root listing. */
const char *openapi_v2_etag(const struct openapi *o);
const char *openapi_v3_etag(const struct openapi *o);
const char *openapi_v3_root_etag(const struct openapi *o);

struct openapi_header {
    const char *name;   /* "Etag", "Vary", "Location", "Cache-Control", "Expires" */
    struct slice value; /* borrows the struct openapi or the reply itself */
};

struct openapi_reply {
    int status;               /* 200, 301, 304, 406; 404 for a route that is not OpenAPI */
    const char *content_type; /* OPENAPI_CONTENT_TYPE with a body, else NULL */
    struct slice body;        /* borrows the struct openapi; empty unless status is 200 */
    struct openapi_header headers[OPENAPI_MAX_HEADERS];
    size_t nheaders;
    char location[sizeof(OPENAPI_V3_PATH "?hash=") + OPENAPI_ETAG_HEX_LEN]; /* for Location */
    char expires[32];                                                       /* for Expires */
};

/* The answer to r (kind ROUTE_OPENAPI_V2, ROUTE_OPENAPI_V3 or ROUTE_OPENAPI_V3_GROUP) given its
 * Accept and If-None-Match header values (empty slices when absent) and the current time:
 * - v2 and the v3 group document: Accept must allow application/json (a media range
 *   application/json, application/ *, * / * or an empty header, with q > 0) — protobuf is not
 *   offered, so an Accept listing only protobuf types gets 406. Headers: `Etag: "<HEX>"`,
 *   `Vary: Accept` (406 carries Vary only).
 * - the v3 group document with ?hash=: a hash other than the current ETag gets 301 to
 *   OPENAPI_V3_PATH?hash=<HEX>; the current hash adds `Cache-Control: public, immutable` and
 *   `Expires` one calendar year after now_s (RFC 1123, GMT).
 * - /openapi/v3: the root listing {"paths":{"apis/external.metrics.k8s.io/v1beta1":
 *   {"serverRelativeURL":"/openapi/v3/apis/external.metrics.k8s.io/v1beta1?hash=<HEX>"}}},
 *   whatever Accept says (kube-openapi does not negotiate it), with its own Etag.
 * - If-None-Match listing the current quoted ETag (weak W/ prefixes ignored) or "*" gives 304
 *   with the same headers and no body.
 * out is entirely overwritten; it stays valid while o and out live. */
void openapi_serve(const struct openapi *o, const struct route *r, struct slice accept,
                   struct slice if_none_match, int64_t now_s, struct openapi_reply *out);

#endif
