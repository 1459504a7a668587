/* authz.c — SubjectAccessReview bodies, answers and their cache.
 *
 * The body is built field by field in Go's declaration order with omitempty, so it equals what
 * apiserver's webhook authorizer sends; its SHA-256 is the cache key. No lock is held during a
 * review call. Any thread. */
#include "server/authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "server/authcache.h"

#define SAR_PATH "/apis/authorization.k8s.io/v1/subjectaccessreviews"

struct authz {
    struct kube_client *kc; /* borrowed */
    EVP_MD *sha256;         /* fetched once: OpenSSL 3's implicit fetch per digest is slow */
    struct authcache *cache;
};

/* Cached answer. */
struct sar_result {
    bool allowed;
    char reason[TA_ERR_MSG_MAX];
};

struct authz *authz_new(struct kube_client *kc)
{
    struct authz *az = ta_xcalloc(1, sizeof(*az));
    az->kc = kc;
    az->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    TA_ASSERT(az->sha256);
    az->cache = authcache_new(AUTHZ_CACHE_MAX, free);
    return az;
}

void authz_free(struct authz *az)
{
    if (!az)
        return;
    authcache_free(az->cache);
    EVP_MD_free(az->sha256);
    free(az);
}

/* ---- body ---------------------------------------------------------------------------------- */

/* Appends ,"name":"value" (or without the comma when first); skipped when value is empty. */
static enum ta_rc field(struct buf *b, bool *first, const char *name, struct slice value)
{
    if (value.len == 0)
        return TA_OK;
    if (slice_has_nul(value))
        return TA_INVALID;
    enum ta_rc rc = buf_addf(b, "%s\"%s\":", *first ? "" : ",", name);
    if (rc == TA_OK)
        rc = buf_add_json_str(b, value);
    *first = false;
    return rc;
}

static const char *operator_name(enum selector_op op)
{
    switch (op) {
    case SELECTOR_OP_EQ:
    case SELECTOR_OP_IN:
        return "In";
    case SELECTOR_OP_NEQ:
    case SELECTOR_OP_NOTIN:
        return "NotIn";
    case SELECTOR_OP_EXISTS:
        return "Exists";
    case SELECTOR_OP_NOT_EXISTS:
        return "DoesNotExist";
    }
    return NULL;
}

static enum ta_rc label_selector(struct buf *b, const struct selector *sel)
{
    if (!sel || sel->n == 0)
        return TA_OK;
    enum ta_rc rc = buf_adds(b, ",\"labelSelector\":{\"requirements\":[");
    for (size_t i = 0; i < sel->n && rc == TA_OK; i++) {
        const struct selector_req *r = &sel->reqs[i];
        const char *op = operator_name(r->op);
        if (!op)
            return TA_INVALID;
        rc = buf_adds(b, i ? ",{\"key\":" : "{\"key\":");
        if (rc == TA_OK)
            rc = buf_add_json_str(b, slice_from_cstr(r->key));
        if (rc == TA_OK)
            rc = buf_addf(b, ",\"operator\":\"%s\"", op);
        if (rc == TA_OK && r->nvalues > 0) {
            rc = buf_adds(b, ",\"values\":[");
            for (size_t j = 0; j < r->nvalues && rc == TA_OK; j++) {
                if (j)
                    rc = buf_addc(b, ',');
                if (rc == TA_OK)
                    rc = buf_add_json_str(b, slice_from_cstr(r->values[j]));
            }
            if (rc == TA_OK)
                rc = buf_addc(b, ']');
        }
        if (rc == TA_OK)
            rc = buf_addc(b, '}');
    }
    if (rc == TA_OK)
        rc = buf_adds(b, "]}");
    return rc;
}

static enum ta_rc user_fields(struct buf *b, const struct authn_user *u)
{
    enum ta_rc rc = buf_adds(b, ",\"user\":");
    if (rc == TA_OK)
        rc = buf_add_json_str(b, slice_from_cstr(u->name));
    if (rc == TA_OK && u->ngroups > 0) {
        rc = buf_adds(b, ",\"groups\":[");
        for (size_t i = 0; i < u->ngroups && rc == TA_OK; i++) {
            if (i)
                rc = buf_addc(b, ',');
            if (rc == TA_OK)
                rc = buf_add_json_str(b, slice_from_cstr(u->groups[i]));
        }
        if (rc == TA_OK)
            rc = buf_addc(b, ']');
    }
    if (rc == TA_OK && u->nextra > 0) {
        rc = buf_adds(b, ",\"extra\":{");
        for (size_t i = 0; i < u->nextra && rc == TA_OK; i++) {
            if (i)
                rc = buf_addc(b, ',');
            if (rc == TA_OK)
                rc = buf_add_json_str(b, slice_from_cstr(u->extra[i].key));
            if (rc == TA_OK)
                rc = buf_adds(b, ":[");
            for (size_t j = 0; j < u->extra[i].nvalues && rc == TA_OK; j++) {
                if (j)
                    rc = buf_addc(b, ',');
                if (rc == TA_OK)
                    rc = buf_add_json_str(b, slice_from_cstr(u->extra[i].values[j]));
            }
            if (rc == TA_OK)
                rc = buf_addc(b, ']');
        }
        if (rc == TA_OK)
            rc = buf_addc(b, '}');
    }
    if (rc == TA_OK && u->uid && u->uid[0]) {
        rc = buf_adds(b, ",\"uid\":");
        if (rc == TA_OK)
            rc = buf_add_json_str(b, slice_from_cstr(u->uid));
    }
    return rc;
}

enum ta_rc authz_sar_body(const struct authn_user *user, const struct auth_attributes *attrs,
                          struct buf *out)
{
    enum ta_rc rc = buf_adds(out, "{\"apiVersion\":\"authorization.k8s.io/v1\","
                                  "\"kind\":\"SubjectAccessReview\",\"spec\":{");
    bool first = true;
    if (rc != TA_OK)
        goto out;
    if (attrs->resource_request) {
        rc = buf_adds(out, "\"resourceAttributes\":{");
        if (rc == TA_OK)
            rc = field(out, &first, "namespace", attrs->ns);
        if (rc == TA_OK)
            rc = field(out, &first, "verb", attrs->verb);
        if (rc == TA_OK)
            rc = field(out, &first, "group", SLICE_LIT(AUTHZ_API_GROUP));
        if (rc == TA_OK)
            rc = field(out, &first, "version", SLICE_LIT(AUTHZ_API_VERSION));
        if (rc == TA_OK)
            rc = field(out, &first, "resource", attrs->resource);
        if (rc == TA_OK)
            rc = label_selector(out, attrs->selector);
    } else {
        rc = buf_adds(out, "\"nonResourceAttributes\":{");
        if (rc == TA_OK)
            rc = field(out, &first, "path", attrs->path);
        if (rc == TA_OK)
            rc = field(out, &first, "verb", attrs->verb);
    }
    if (rc == TA_OK)
        rc = buf_addc(out, '}');
    if (rc == TA_OK)
        rc = user_fields(out, user);
    if (rc == TA_OK)
        rc = buf_adds(out, "}}");
out:
    if (rc != TA_OK)
        buf_free(out);
    return rc;
}

/* ---- answer -------------------------------------------------------------------------------- */

enum ta_rc authz_sar_parse(struct slice body, bool *allowed, char *reason, size_t reason_cap,
                           struct ta_err *err)
{
    *allowed = false;
    if (reason_cap)
        reason[0] = '\0';
    if (body.len > AUTHZ_SAR_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "subjectaccessreview answer larger than %u bytes",
                          AUTHZ_SAR_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(body.ptr, body.len, 0, &jerr);
    json_t *status = root ? json_object_get(root, "status") : NULL;
    enum ta_rc rc = TA_OK;
    if (!json_is_object(status)) {
        rc = ta_err_set(err, TA_UPSTREAM, "subjectaccessreview answer without a status object");
        goto out;
    }
    json_t *a = json_object_get(status, "allowed");
    json_t *d = json_object_get(status, "denied");
    if (a && !json_is_boolean(a)) {
        rc = ta_err_set(err, TA_UPSTREAM, "subjectaccessreview answer: allowed is not a boolean");
        goto out;
    }
    /* Go: denied wins over allowed; neither is "no opinion", which the union denies. */
    *allowed = json_is_true(a) && !json_is_true(d);
    json_t *r = json_object_get(status, "reason");
    json_t *ee = json_object_get(status, "evaluationError");
    const char *text = json_is_string(r) && json_string_length(r) ? json_string_value(r)
                       : json_is_string(ee)                       ? json_string_value(ee)
                                                                  : "";
    if (reason_cap)
        snprintf(reason, reason_cap, "%s", text);
out:
    json_decref(root);
    return rc;
}

/* ---- decision ------------------------------------------------------------------------------ */

static void sar_visit(const void *value, void *arg)
{
    memcpy(arg, value, sizeof(struct sar_result));
}

static void digest(const EVP_MD *sha256, struct slice s, uint8_t out[AUTHCACHE_KEY_LEN])
{
    unsigned int len = 0;
    TA_ASSERT(EVP_Digest(s.ptr, s.len, out, &len, sha256, NULL) == 1 && len == 32);
}

enum authz_outcome authz_check(struct authz *az, const struct authn_user *user,
                               const struct auth_attributes *attrs, bool may_block,
                               struct ta_err *reason)
{
    if (authn_user_in_group(user, AUTHZ_GROUP_MASTERS))
        return AUTHZ_ALLOW;
    struct buf body, resp;
    buf_init(&body, AUTHZ_SAR_MAX);
    buf_init(&resp, AUTHZ_SAR_MAX);
    enum authz_outcome out = AUTHZ_ERROR;
    struct ta_err e = { 0 };
    long status = 0;
    if (authz_sar_body(user, attrs, &body) != TA_OK) {
        ta_err_set(reason, TA_INVALID, "subjectaccessreview: attributes cannot be sent");
        goto out;
    }
    uint8_t key[AUTHCACHE_KEY_LEN];
    digest(az->sha256, buf_slice(&body), key);
    struct sar_result cached;
    if (authcache_get(az->cache, key, clock_mono_ns(), sar_visit, &cached)) {
        if (cached.allowed) {
            out = AUTHZ_ALLOW;
        } else {
            ta_err_set(reason, TA_INVALID, "%s", cached.reason);
            out = AUTHZ_DENY;
        }
        goto out;
    }
    if (!may_block) {
        out = AUTHZ_WOULD_BLOCK;
        goto out;
    }
    if (!az->kc) {
        ta_err_set(reason, TA_UNAVAILABLE, "subjectaccessreview: no kube-apiserver client");
        goto out;
    }
    LOG_V(6, "subjectaccessreview request: %s", buf_cstr(&body));
    enum ta_rc rc = kube_client_do(az->kc, "POST", SAR_PATH, buf_slice(&body), &status, &resp, &e);
    if (rc != TA_OK) {
        ta_err_set(reason, rc, "subjectaccessreview: %s", e.msg);
        goto out;
    }
    if (status != 200 && status != 201) {
        char m[160];
        kube_client_status_message(buf_slice(&resp), m, sizeof(m));
        ta_err_set(reason, TA_UPSTREAM, "subjectaccessreview: kube-apiserver answered %ld: %s",
                   status, m);
        goto out;
    }
    struct sar_result *r = ta_xcalloc(1, sizeof(*r));
    rc = authz_sar_parse(buf_slice(&resp), &r->allowed, r->reason, sizeof(r->reason), &e);
    if (rc != TA_OK) {
        free(r);
        ta_err_set(reason, rc, "%s", e.msg);
        goto out;
    }
    if (r->allowed) {
        out = AUTHZ_ALLOW;
    } else {
        ta_err_set(reason, TA_INVALID, "%s", r->reason);
        out = AUTHZ_DENY;
    }
    int64_t now = clock_mono_ns();
    authcache_put(az->cache, key, r, now + AUTHZ_CACHE_TTL_NS, now);
out:
    buf_free(&body);
    buf_free(&resp);
    return out;
}
