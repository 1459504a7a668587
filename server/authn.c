/* authn.c — the authenticator chain: X.509 verification with OpenSSL (X509_STORE_CTX, peer
 * intermediates untrusted, purpose SSL client, current time), X-Remote-* header extraction as
 * apiserver's requestheader.go does it, bearer tokens via TokenReview.
 *
 * Two caches (struct authcache): verified chains keyed by SHA-256(method, configuration digest,
 * chain) and TokenReview answers keyed by SHA-256(token). No lock is held during a TokenReview
 * call or a verification. Any thread. */
#include "server/authn.h"
#include "apis/base/parse.h"
#include "apis/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "server/authcache.h"

#define TOKENREVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define MAX_REASONS      3 /* one per method */

struct authn {
    struct kube_client *kc; /* borrowed; NULL: no TokenReview */
    EVP_MD *sha256;         /* fetched once: OpenSSL 3's implicit fetch per digest is slow */
    struct authcache *chains;
    struct authcache *tokens;
};

/* ---- users --------------------------------------------------------------------------------- */

struct authn_user *authn_user_new(struct slice name)
{
    struct authn_user *u = ta_xcalloc(1, sizeof(*u));
    u->name = ta_xstrndup(name.ptr ? name.ptr : "", name.len);
    return u;
}

void authn_user_free(struct authn_user *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->uid);
    for (size_t i = 0; i < u->ngroups; i++)
        free(u->groups[i]);
    free(u->groups);
    for (size_t i = 0; i < u->nextra; i++) {
        free(u->extra[i].key);
        for (size_t j = 0; j < u->extra[i].nvalues; j++)
            free(u->extra[i].values[j]);
        free(u->extra[i].values);
    }
    free(u->extra);
    free(u);
}

struct authn_user *authn_user_clone(const struct authn_user *u)
{
    struct authn_user *c = authn_user_new(slice_from_cstr(u->name));
    c->uid = u->uid ? ta_xstrdup(u->uid) : NULL;
    c->ngroups = u->ngroups;
    c->groups = ta_xcalloc(u->ngroups ? u->ngroups : 1, sizeof(char *));
    for (size_t i = 0; i < u->ngroups; i++)
        c->groups[i] = ta_xstrdup(u->groups[i]);
    c->nextra = u->nextra;
    c->nextra_values = u->nextra_values;
    c->extra = ta_xcalloc(u->nextra ? u->nextra : 1, sizeof(struct authn_extra));
    for (size_t i = 0; i < u->nextra; i++) {
        c->extra[i].key = ta_xstrdup(u->extra[i].key);
        c->extra[i].nvalues = u->extra[i].nvalues;
        c->extra[i].values =
            ta_xcalloc(u->extra[i].nvalues ? u->extra[i].nvalues : 1, sizeof(char *));
        for (size_t j = 0; j < u->extra[i].nvalues; j++)
            c->extra[i].values[j] = ta_xstrdup(u->extra[i].values[j]);
    }
    return c;
}

static enum ta_rc check_field(struct slice s, const char *what, struct ta_err *err)
{
    if (s.len > AUTHN_MAX_FIELD)
        return ta_err_set(err, TA_TOO_LARGE, "%s longer than %d bytes", what, AUTHN_MAX_FIELD);
    if (slice_has_nul(s))
        return ta_err_set(err, TA_INVALID, "%s holds a NUL byte", what);
    return TA_OK;
}

enum ta_rc authn_user_add_group(struct authn_user *u, struct slice group, struct ta_err *err)
{
    if (u->ngroups >= AUTHN_MAX_GROUPS)
        return ta_err_set(err, TA_TOO_LARGE, "more than %d groups", AUTHN_MAX_GROUPS);
    enum ta_rc rc = check_field(group, "group", err);
    if (rc != TA_OK)
        return rc;
    u->groups = ta_xreallocarray(u->groups, u->ngroups + 1, sizeof(char *));
    u->groups[u->ngroups++] = ta_xstrndup(group.ptr, group.len);
    return TA_OK;
}

enum ta_rc authn_user_add_extra(struct authn_user *u, struct slice key, struct slice value,
                                struct ta_err *err)
{
    if (u->nextra_values >= AUTHN_MAX_EXTRA)
        return ta_err_set(err, TA_TOO_LARGE, "more than %d extra values", AUTHN_MAX_EXTRA);
    enum ta_rc rc = check_field(key, "extra key", err);
    if (rc == TA_OK)
        rc = check_field(value, "extra value", err);
    if (rc != TA_OK)
        return rc;
    size_t i = 0;
    while (i < u->nextra && slice_cmp(slice_from_cstr(u->extra[i].key), key) < 0)
        i++;
    if (i == u->nextra || !slice_eq_cstr(key, u->extra[i].key)) {
        u->extra = ta_xreallocarray(u->extra, u->nextra + 1, sizeof(struct authn_extra));
        memmove(&u->extra[i + 1], &u->extra[i], (u->nextra - i) * sizeof(struct authn_extra));
        u->extra[i] = (struct authn_extra){ ta_xstrndup(key.ptr, key.len), NULL, 0 };
        u->nextra++;
    }
    struct authn_extra *e = &u->extra[i];
    e->values = ta_xreallocarray(e->values, e->nvalues + 1, sizeof(char *));
    e->values[e->nvalues++] = ta_xstrndup(value.ptr ? value.ptr : "", value.len);
    u->nextra_values++;
    return TA_OK;
}

bool authn_user_in_group(const struct authn_user *u, const char *group)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (strcmp(u->groups[i], group) == 0)
            return true;
    return false;
}

void authn_user_add_authenticated(struct authn_user *u)
{
    if (authn_user_in_group(u, AUTHN_GROUP_AUTHENTICATED) ||
        authn_user_in_group(u, AUTHN_GROUP_UNAUTHENTICATED))
        return;
    /* Bypasses the group limit: Go adds it unconditionally. */
    u->groups = ta_xreallocarray(u->groups, u->ngroups + 1, sizeof(char *));
    u->groups[u->ngroups++] = ta_xstrdup(AUTHN_GROUP_AUTHENTICATED);
}

/* ---- construction -------------------------------------------------------------------------- */

/* Cached chain verification: the outcome and what the two methods read from the leaf. */
struct chain_result {
    bool ok;
    char msg[TA_ERR_MSG_MAX]; /* why not, when !ok */
    char *cn;                 /* last subject CN; "" when none */
    char **orgs;              /* subject O values, in order */
    size_t norgs;
    char fingerprint[65]; /* hex SHA-256 of the leaf's DER */
    int64_t not_after_s;  /* the leaf's, unix seconds; bounds how long a success is cached */
};

static void chain_result_free(void *p)
{
    struct chain_result *r = p;
    if (!r)
        return;
    free(r->cn);
    for (size_t i = 0; i < r->norgs; i++)
        free(r->orgs[i]);
    free(r->orgs);
    free(r);
}

/* Cached TokenReview answer: user when authenticated, else the reason. */
struct token_result {
    struct authn_user *user;
    char msg[TA_ERR_MSG_MAX];
};

static void token_result_free(void *p)
{
    struct token_result *r = p;
    if (!r)
        return;
    authn_user_free(r->user);
    free(r);
}

struct authn *authn_new(struct kube_client *kc)
{
    struct authn *an = ta_xcalloc(1, sizeof(*an));
    an->kc = kc;
    an->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    TA_ASSERT(an->sha256);
    an->chains = authcache_new(AUTHN_CACHE_MAX, chain_result_free);
    an->tokens = authcache_new(AUTHN_CACHE_MAX, token_result_free);
    return an;
}

void authn_free(struct authn *an)
{
    if (!an)
        return;
    authcache_free(an->chains);
    authcache_free(an->tokens);
    EVP_MD_free(an->sha256);
    free(an);
}

/* ---- X.509 --------------------------------------------------------------------------------- */

static void sha256_parts(const EVP_MD *sha256, const struct slice *parts, size_t n, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    TA_ASSERT(md && EVP_DigestInit_ex(md, sha256, NULL) == 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t l = parts[i].len;
        EVP_DigestUpdate(md, &l, sizeof(l));
        if (parts[i].len)
            EVP_DigestUpdate(md, parts[i].ptr, parts[i].len);
    }
    TA_ASSERT(EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32);
    EVP_MD_CTX_free(md);
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* Go's wording for the usual verification failures (prometheus-adapter#205 shows it). */
static void verify_message(X509_STORE_CTX *ctx, int e, char *out, size_t cap)
{
    switch (e) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        snprintf(out, cap, "x509: certificate signed by unknown authority");
        return;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID: {
        X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
        char now[CLOCK_RFC3339_LEN], lim[CLOCK_RFC3339_LEN];
        bool expired = e == X509_V_ERR_CERT_HAS_EXPIRED;
        clock_rfc3339(clock_wall_ns() / NS_PER_SEC, now);
        clock_rfc3339(
            asn1_time_unix(cur ? (expired ? X509_get0_notAfter(cur) : X509_get0_notBefore(cur))
                               : NULL),
            lim);
        snprintf(out, cap,
                 "x509: certificate has expired or is not yet valid: current time %s is %s %s", now,
                 expired ? "after" : "before", lim);
        return;
    }
    case X509_V_ERR_INVALID_PURPOSE:
        snprintf(out, cap, "x509: certificate specifies an incompatible key usage");
        return;
    default:
        snprintf(out, cap, "x509: %s", X509_verify_cert_error_string(e));
    }
}

static char *name_entry_string(const X509_NAME_ENTRY *ne)
{
    const ASN1_STRING *d = X509_NAME_ENTRY_get_data(ne);
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, d);
    if (n < 0)
        return ta_xstrdup("");
    char *s = ta_xstrndup((const char *)utf8, (size_t)n);
    OPENSSL_free(utf8);
    return s;
}

/* Verifies the peer chain against store (leaf first, the rest untrusted intermediates) and
 * fills r. Never fails for lack of memory (OpenSSL allocation failures count as "not ok"). */
static void verify_chain(X509_STORE *store, const struct slice *certs, size_t n,
                         struct chain_result *r)
{
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    X509 *leaf = NULL;
    r->ok = false;
    r->cn = ta_xstrdup("");
    ERR_clear_error();
    if (n > AUTHN_MAX_PEER_CERTS) {
        snprintf(r->msg, sizeof(r->msg), "more than %d peer certificates", AUTHN_MAX_PEER_CERTS);
        goto out;
    }
    untrusted = sk_X509_new_null();
    if (!untrusted)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (certs[i].len > AUTHN_MAX_CERT_BYTES || certs[i].len == 0) {
            snprintf(r->msg, sizeof(r->msg), "peer certificate %zu: size %zu outside 1..%d", i,
                     certs[i].len, AUTHN_MAX_CERT_BYTES);
            goto out;
        }
        const unsigned char *p = (const unsigned char *)certs[i].ptr;
        X509 *x = d2i_X509(NULL, &p, (long)certs[i].len);
        if (!x || p != (const unsigned char *)certs[i].ptr + certs[i].len) {
            X509_free(x);
            snprintf(r->msg, sizeof(r->msg), "x509: malformed peer certificate %zu", i);
            goto out;
        }
        if (i == 0) {
            leaf = x;
        } else if (!sk_X509_push(untrusted, x)) {
            X509_free(x);
            goto oom;
        }
    }
    uint8_t fp[32];
    unsigned int fplen = 0;
    if (X509_digest(leaf, EVP_sha256(), fp, &fplen) == 1 && fplen == 32)
        for (int i = 0; i < 32; i++)
            snprintf(r->fingerprint + 2 * i, 3, "%02x", fp[i]);
    r->not_after_s = asn1_time_unix(X509_get0_notAfter(leaf));

    const X509_NAME *subj = X509_get_subject_name(leaf);
    for (int i = 0; i < X509_NAME_entry_count(subj); i++) {
        const X509_NAME_ENTRY *ne = X509_NAME_get_entry(subj, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
        if (nid == NID_commonName) { /* Go keeps the last CN */
            free(r->cn);
            r->cn = name_entry_string(ne);
        } else if (nid == NID_organizationName && r->norgs < AUTHN_MAX_GROUPS) {
            r->orgs = ta_xreallocarray(r->orgs, r->norgs + 1, sizeof(char *));
            r->orgs[r->norgs++] = name_entry_string(ne);
        }
    }

    ctx = X509_STORE_CTX_new();
    if (!ctx || X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
        goto oom;
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    /* Go trusts every certificate of the pool as an anchor, self-signed or not. */
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx) == 1) {
        r->ok = true;
    } else {
        verify_message(ctx, X509_STORE_CTX_get_error(ctx), r->msg, sizeof(r->msg));
    }
    goto out;
oom:
    snprintf(r->msg, sizeof(r->msg), "x509: verification could not run (openssl allocation)");
out:
    X509_STORE_CTX_free(ctx);
    X509_free(leaf);
    sk_X509_pop_free(untrusted, X509_free);
    ERR_clear_error();
}

struct chain_copy {
    struct chain_result *out;
};

static struct chain_result *chain_result_clone(const struct chain_result *r)
{
    struct chain_result *c = ta_xcalloc(1, sizeof(*c));
    c->ok = r->ok;
    memcpy(c->msg, r->msg, sizeof(c->msg));
    memcpy(c->fingerprint, r->fingerprint, sizeof(c->fingerprint));
    c->not_after_s = r->not_after_s;
    c->cn = ta_xstrdup(r->cn);
    c->norgs = r->norgs;
    c->orgs = ta_xcalloc(r->norgs ? r->norgs : 1, sizeof(char *));
    for (size_t i = 0; i < r->norgs; i++)
        c->orgs[i] = ta_xstrdup(r->orgs[i]);
    return c;
}

static void chain_visit(const void *value, void *arg)
{
    ((struct chain_copy *)arg)->out = chain_result_clone(value);
}

/* The verification result for the request's chain against store, from the cache when fresh. */
static struct chain_result *chain_check(struct authn *an, const struct authcfg *cfg,
                                        X509_STORE *store, const char *method,
                                        const struct request *req)
{
    struct slice parts[2 + AUTHN_MAX_PEER_CERTS];
    size_t n = 0;
    parts[n++] = slice_from_cstr(method);
    parts[n++] = slice_make((const char *)cfg->digest, sizeof(cfg->digest));
    size_t ncerts = req->npeer_certs;
    if (ncerts > AUTHN_MAX_PEER_CERTS) {
        struct chain_result *r = ta_xcalloc(1, sizeof(*r));
        r->cn = ta_xstrdup("");
        snprintf(r->msg, sizeof(r->msg), "more than %d peer certificates", AUTHN_MAX_PEER_CERTS);
        return r;
    }
    for (size_t i = 0; i < ncerts; i++)
        parts[n++] = req->peer_certs[i];
    uint8_t key[AUTHCACHE_KEY_LEN];
    sha256_parts(an->sha256, parts, n, key);
    int64_t now = clock_mono_ns();
    struct chain_copy cc = { NULL };
    if (authcache_get(an->chains, key, now, chain_visit, &cc))
        return cc.out;
    struct chain_result *r = ta_xcalloc(1, sizeof(*r));
    verify_chain(store, req->peer_certs, ncerts, r);
    int64_t expires = now + AUTHN_CACHE_TTL_NS;
    if (r->ok) { /* an expiring certificate must not outlive its validity in the cache */
        int64_t left_ns = (r->not_after_s - clock_wall_ns() / NS_PER_SEC) * NS_PER_SEC;
        if (left_ns < AUTHN_CACHE_TTL_NS)
            expires = now + (left_ns > 0 ? left_ns : 0);
    }
    authcache_put(an->chains, key, chain_result_clone(r), expires, now);
    return r;
}

/* ---- front proxy --------------------------------------------------------------------------- */

/* The first header line named name (Go's Header.Get), or NULL. */
static const struct slice *header_first(const struct request *req, const char *name)
{
    return request_header(req, slice_from_cstr(name));
}

static bool starts_with_nocase(struct slice s, struct slice prefix)
{
    return s.len >= prefix.len && slice_eq_nocase(slice_head(s, prefix.len), prefix);
}

/* The user from the X-Remote-* headers (requestheader.go); *user NULL when no user header. */
static enum ta_rc headers_user(const struct authcfg *cfg, const struct request *req,
                               struct authn_user **user, struct ta_err *err)
{
    *user = NULL;
    struct slice name = SLICE_NULL;
    for (size_t i = 0; i < cfg->username_headers.n && name.len == 0; i++) {
        const struct slice *v = header_first(req, cfg->username_headers.items[i]);
        if (v)
            name = *v;
    }
    if (name.len == 0)
        return TA_OK;
    enum ta_rc rc = check_field(name, "user name", err);
    if (rc != TA_OK)
        return rc;
    struct authn_user *u = authn_user_new(name);
    struct buf key;
    buf_init(&key, AUTHN_MAX_FIELD);
    for (size_t i = 0; i < cfg->uid_headers.n && !u->uid; i++) {
        const struct slice *v = header_first(req, cfg->uid_headers.items[i]);
        if (v && v->len > 0) {
            rc = check_field(*v, "uid", err);
            if (rc != TA_OK)
                goto out;
            u->uid = ta_xstrndup(v->ptr, v->len);
        }
    }
    for (size_t g = 0; g < cfg->group_headers.n; g++) {
        struct slice gname = slice_from_cstr(cfg->group_headers.items[g]);
        for (size_t i = 0; i < req->nheaders; i++) {
            const struct request_header *h = &req->headers[i];
            if (!slice_eq_nocase(h->name, gname) || h->value.len == 0)
                continue;
            rc = authn_user_add_group(u, h->value, err);
            if (rc != TA_OK)
                goto out;
        }
    }
    for (size_t p = 0; p < cfg->extra_prefixes.n; p++) {
        struct slice prefix = slice_from_cstr(cfg->extra_prefixes.items[p]);
        for (size_t i = 0; i < req->nheaders; i++) {
            const struct request_header *h = &req->headers[i];
            if (!starts_with_nocase(h->name, prefix))
                continue;
            struct slice rest = slice_skip(h->name, prefix.len);
            rc = check_field(rest, "extra key", err);
            if (rc != TA_OK)
                goto out;
            char lowered[AUTHN_MAX_FIELD];
            for (size_t k = 0; k < rest.len; k++) {
                char c = rest.ptr[k];
                lowered[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            struct slice lk = slice_make(lowered, rest.len);
            buf_reset(&key);
            /* Malformed escapes keep the encoded key, as Go does. */
            struct slice k = query_unescape(lk, &key, NULL) == TA_OK ? buf_slice(&key) : lk;
            if (k.ptr == NULL)
                k = slice_make("", 0);
            rc = authn_user_add_extra(u, k, h->value, err);
            if (rc != TA_OK)
                goto out;
        }
    }
    *user = u;
    u = NULL;
out:
    buf_free(&key);
    authn_user_free(u);
    return rc;
}

enum authn_outcome authn_front_proxy(struct authn *an, const struct authcfg *cfg,
                                     const struct request *req, struct authn_user **user,
                                     struct ta_err *reason)
{
    *user = NULL;
    if (req->npeer_certs == 0 || !cfg || !cfg->requestheader_ca)
        return AUTHN_NO_CREDENTIALS;
    enum authn_outcome out = AUTHN_FAILED;
    struct chain_result *r = chain_check(an, cfg, cfg->requestheader_ca, "front-proxy", req);
    if (!r->ok) {
        ta_err_set(reason, TA_INVALID, "%s", r->msg);
        goto out;
    }
    if (cfg->allowed_names.n > 0) {
        bool allowed = false;
        for (size_t i = 0; i < cfg->allowed_names.n && !allowed; i++)
            allowed = strcmp(cfg->allowed_names.items[i], r->cn) == 0;
        if (!allowed) {
            ta_err_set(reason, TA_INVALID, "x509: subject with cn=%s is not in the allowed list",
                       r->cn);
            goto out;
        }
    }
    struct ta_err e = { 0 };
    if (headers_user(cfg, req, user, &e) != TA_OK) {
        ta_err_set(reason, e.rc, "front-proxy headers: %s", e.msg);
        goto out;
    }
    if (!*user) {
        ta_err_set(reason, TA_INVALID, "front-proxy certificate (cn=%s) without a user header",
                   r->cn);
        out = AUTHN_NO_CREDENTIALS;
        goto out;
    }
    out = AUTHN_OK;
out:
    chain_result_free(r);
    return out;
}

/* ---- client certificate -------------------------------------------------------------------- */

enum authn_outcome authn_client_cert(struct authn *an, const struct authcfg *cfg,
                                     const struct request *req, struct authn_user **user,
                                     struct ta_err *reason)
{
    *user = NULL;
    if (req->npeer_certs == 0 || !cfg || !cfg->client_ca)
        return AUTHN_NO_CREDENTIALS;
    enum authn_outcome out = AUTHN_FAILED;
    struct chain_result *r = chain_check(an, cfg, cfg->client_ca, "client-cert", req);
    if (!r->ok) {
        ta_err_set(reason, TA_INVALID, "verifying certificate cn=%s failed: %s", r->cn, r->msg);
        goto out;
    }
    if (r->cn[0] == '\0') {
        ta_err_set(reason, TA_INVALID, "client certificate without a common name");
        out = AUTHN_NO_CREDENTIALS;
        goto out;
    }
    struct ta_err e = { 0 };
    struct authn_user *u = authn_user_new(slice_from_cstr(r->cn));
    enum ta_rc rc = check_field(slice_from_cstr(r->cn), "user name", &e);
    for (size_t i = 0; i < r->norgs && rc == TA_OK; i++)
        rc = authn_user_add_group(u, slice_from_cstr(r->orgs[i]), &e);
    char id[80];
    snprintf(id, sizeof(id), "X509SHA256=%s", r->fingerprint);
    if (rc == TA_OK)
        rc = authn_user_add_extra(u, slice_from_cstr(AUTHN_EXTRA_CREDENTIAL_ID),
                                  slice_from_cstr(id), &e);
    if (rc != TA_OK) {
        authn_user_free(u);
        ta_err_set(reason, e.rc, "client certificate: %s", e.msg);
        goto out;
    }
    *user = u;
    out = AUTHN_OK;
out:
    chain_result_free(r);
    return out;
}

/* ---- bearer token -------------------------------------------------------------------------- */

bool authn_bearer_token(const struct request *req, struct slice *token)
{
    *token = SLICE_NULL;
    const struct slice *h = header_first(req, "Authorization");
    if (!h)
        return false;
    struct slice v = slice_trim(*h);
    struct slice scheme;
    bool found;
    struct slice rest = slice_cut(v, ' ', &scheme, &found);
    if (!found || !slice_eq_nocase(scheme, SLICE_LIT("bearer")))
        return false;
    struct slice tok;
    slice_cut(rest, ' ', &tok, &found); /* Go: strings.SplitN(auth, " ", 3)[1] */
    if (tok.len == 0)
        return false;
    *token = tok;
    return true;
}

enum ta_rc authn_tokenreview_body(struct slice token, struct buf *out)
{
    enum ta_rc rc =
        buf_adds(out, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\","
                      "\"spec\":{\"token\":");
    if (rc == TA_OK)
        rc = buf_add_json_str(out, token);
    if (rc == TA_OK)
        rc = buf_adds(out, "}}");
    return rc;
}

static struct slice jstr(const json_t *j)
{
    return slice_make(json_string_value(j), json_string_length(j));
}

enum ta_rc authn_tokenreview_parse(struct slice body, struct authn_user **user, struct ta_err *err)
{
    *user = NULL;
    if (body.len > AUTHN_TOKENREVIEW_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "tokenreview answer larger than %u bytes",
                          AUTHN_TOKENREVIEW_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(body.ptr, body.len, 0, &jerr);
    struct authn_user *u = NULL;
    enum ta_rc rc = TA_OK;
    json_t *status = root ? json_object_get(root, "status") : NULL;
    if (!json_is_object(status)) {
        rc = ta_err_set(err, TA_UPSTREAM, "tokenreview answer without a status object");
        goto out;
    }
    json_t *authd = json_object_get(status, "authenticated");
    if (!json_is_true(authd)) {
        json_t *e = json_object_get(status, "error");
        if (json_is_string(e) && json_string_length(e) > 0)
            rc = ta_err_set(err, TA_INVALID, "invalid bearer token: %.160s", json_string_value(e));
        else
            rc = ta_err_set(err, TA_INVALID, "invalid bearer token");
        goto out;
    }
    json_t *ju = json_object_get(status, "user");
    json_t *name = json_object_get(ju, "username");
    if (!json_is_string(name) || json_string_length(name) == 0) {
        rc = ta_err_set(err, TA_UPSTREAM, "tokenreview answer: authenticated without a username");
        goto out;
    }
    struct ta_err fe = { 0 };
    if (check_field(jstr(name), "user name", &fe) != TA_OK) {
        rc = ta_err_set(err, TA_UPSTREAM, "tokenreview answer: %s", fe.msg);
        goto out;
    }
    u = authn_user_new(jstr(name));
    json_t *uid = json_object_get(ju, "uid");
    if (json_is_string(uid) && json_string_length(uid) > 0) {
        if (check_field(jstr(uid), "uid", &fe) != TA_OK) {
            rc = ta_err_set(err, TA_UPSTREAM, "tokenreview answer: %s", fe.msg);
            goto out;
        }
        u->uid = ta_xstrndup(json_string_value(uid), json_string_length(uid));
    }
    json_t *groups = json_object_get(ju, "groups");
    size_t i;
    json_t *v;
    json_array_foreach(groups, i, v)
    {
        if (!json_is_string(v) || authn_user_add_group(u, jstr(v), &fe) != TA_OK) {
            rc = ta_err_set(err, TA_UPSTREAM, "tokenreview answer: group %zu: %s", i,
                            json_is_string(v) ? fe.msg : "not a string");
            goto out;
        }
    }
    json_t *extra = json_object_get(ju, "extra");
    const char *k;
    json_t *vals;
    json_object_foreach(extra, k, vals){ json_array_foreach(vals, i, v){
        if (!json_is_string(v) ||
            authn_user_add_extra(u, slice_from_cstr(k), jstr(v), &fe) !=
                TA_OK){ rc = ta_err_set(err, TA_UPSTREAM, "tokenreview answer: extra %.60s: %s", k,
                                        json_is_string(v) ? fe.msg : "not a string");
    goto out;
}
}
}
*user = u;
u = NULL;
out : authn_user_free(u);
json_decref(root);
return rc;
}

struct token_copy {
    struct authn_user *user;
    char msg[TA_ERR_MSG_MAX];
};

static void token_visit(const void *value, void *arg)
{
    const struct token_result *r = value;
    struct token_copy *c = arg;
    c->user = r->user ? authn_user_clone(r->user) : NULL;
    memcpy(c->msg, r->msg, sizeof(c->msg));
}

enum authn_outcome authn_token(struct authn *an, const struct request *req, bool may_block,
                               struct authn_user **user, struct ta_err *reason)
{
    *user = NULL;
    struct slice token;
    if (!authn_bearer_token(req, &token))
        return AUTHN_NO_CREDENTIALS;
    if (token.len > AUTHN_MAX_TOKEN) {
        ta_err_set(reason, TA_TOO_LARGE, "bearer token longer than %d bytes", AUTHN_MAX_TOKEN);
        return AUTHN_FAILED;
    }
    if (!an->kc) {
        ta_err_set(reason, TA_UNAVAILABLE, "bearer tokens cannot be reviewed: no kube-apiserver");
        return AUTHN_FAILED;
    }
    uint8_t key[AUTHCACHE_KEY_LEN];
    struct slice parts[2] = { SLICE_LIT("token"), token };
    sha256_parts(an->sha256, parts, 2, key);
    struct token_copy tc = { 0 };
    if (authcache_get(an->tokens, key, clock_mono_ns(), token_visit, &tc)) {
        if (tc.user) {
            *user = tc.user;
            return AUTHN_OK;
        }
        ta_err_set(reason, TA_INVALID, "%s", tc.msg);
        return AUTHN_FAILED;
    }
    if (!may_block)
        return AUTHN_WOULD_BLOCK;

    struct buf req_body, resp;
    buf_init(&req_body, AUTHN_TOKENREVIEW_MAX);
    buf_init(&resp, AUTHN_TOKENREVIEW_MAX);
    enum authn_outcome out = AUTHN_FAILED;
    struct ta_err e = { 0 };
    long status = 0;
    if (authn_tokenreview_body(token, &req_body) != TA_OK) {
        ta_err_set(reason, TA_TOO_LARGE, "tokenreview request too large");
        goto out;
    }
    enum ta_rc rc =
        kube_client_do(an->kc, "POST", TOKENREVIEW_PATH, buf_slice(&req_body), &status, &resp, &e);
    buf_free(&req_body); /* holds the token: drop it early */
    if (rc != TA_OK) {
        ta_err_set(reason, rc, "tokenreview: %s", e.msg);
        goto out;
    }
    if (status != 200 && status != 201) {
        char m[160];
        kube_client_status_message(buf_slice(&resp), m, sizeof(m));
        ta_err_set(reason, TA_UPSTREAM, "tokenreview: kube-apiserver answered %ld: %s", status, m);
        goto out;
    }
    struct authn_user *u = NULL;
    rc = authn_tokenreview_parse(buf_slice(&resp), &u, &e);
    if (rc != TA_OK && rc != TA_INVALID) {
        ta_err_set(reason, rc, "%s", e.msg);
        goto out; /* malformed answers are not cached */
    }
    int64_t now = clock_mono_ns();
    struct token_result *tr = ta_xcalloc(1, sizeof(*tr));
    tr->user = u ? authn_user_clone(u) : NULL;
    if (rc != TA_OK)
        snprintf(tr->msg, sizeof(tr->msg), "%s", e.msg);
    authcache_put(an->tokens, key, tr, now + AUTHN_CACHE_TTL_NS, now);
    if (rc == TA_OK) {
        *user = u;
        out = AUTHN_OK;
    } else {
        ta_err_set(reason, TA_INVALID, "%s", e.msg);
    }
out:
    buf_free(&req_body);
    buf_free(&resp);
    return out;
}

/* ---- the chain ----------------------------------------------------------------------------- */

enum authn_outcome authn_authenticate(struct authn *an, const struct authcfg *cfg,
                                      const char *cfg_unavailable, const struct request *req,
                                      bool may_block, struct authn_user **user,
                                      struct ta_err *reason)
{
    *user = NULL;
    struct ta_err errs[MAX_REASONS];
    size_t nerrs = 0;
    bool would_block = false;
    enum authn_outcome o;

    if (req->npeer_certs > 0 && !cfg) {
        ta_err_set(&errs[nerrs++], TA_UNAVAILABLE,
                   "client certificate not checked: authentication configuration not loaded: %s",
                   cfg_unavailable ? cfg_unavailable : "unknown reason");
    } else if (req->npeer_certs > 0) {
        o = authn_front_proxy(an, cfg, req, user, &errs[nerrs]);
        if (o == AUTHN_OK)
            goto ok;
        if (o == AUTHN_FAILED)
            nerrs++;
        o = authn_client_cert(an, cfg, req, user, &errs[nerrs]);
        if (o == AUTHN_OK)
            goto ok;
        if (o == AUTHN_FAILED)
            nerrs++;
    }
    o = authn_token(an, req, may_block, user, &errs[nerrs]);
    if (o == AUTHN_OK)
        goto ok;
    if (o == AUTHN_FAILED)
        nerrs++;
    would_block = o == AUTHN_WOULD_BLOCK;

    if (would_block)
        return AUTHN_WOULD_BLOCK;
    if (nerrs == 0) {
        ta_err_set(reason, TA_INVALID,
                   "no credentials: no verified client certificate and no bearer token");
        return AUTHN_NO_CREDENTIALS;
    }
    if (nerrs == 1) {
        ta_err_set(reason, errs[0].rc, "%s", errs[0].msg);
    } else {
        /* Go's aggregate error: "[a, b]". */
        ta_err_set(reason, errs[0].rc, "[%s, %s%s%s]", errs[0].msg, errs[1].msg,
                   nerrs > 2 ? ", " : "", nerrs > 2 ? errs[2].msg : "");
    }
    return AUTHN_FAILED;
ok:
    authn_user_add_authenticated(*user);
    return AUTHN_OK;
}
