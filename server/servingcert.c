/* servingcert.c — the managed serving certificate (Secret + APIService caBundle) and the reload
 * of certificate files.
 *
 * Pure part: names, the validity decision (OpenSSL chain verification at a given time),
 * generation through server/certgen.c, and the JSON bodies (jansson). Manager part: one
 * kube_client, one thread that sleeps on a condition variable between rounds; a round reads the
 * Secret, renews and writes it back with its resourceVersion (409: read again), installs a
 * changed certificate with tls_serving_install, and brings the APIService's caBundle up to
 * date. Only the thread (or servingcert_start before it exists) touches the round state; the
 * stop flag is the one shared field. Key material is wiped from our buffers and never logged. */
#include "server/servingcert.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "server/fileio.h"
#include "server/kube_client.h"
#include "server/kubeconfig.h"
#include "server/tls.h"

#define DEFAULT_NAMESPACE "tempo-adapter"
#define B64_MAX(n)        (((n) + 2) / 3 * 4) /* base64 length of n bytes, padded */

static const char *const KEYS[4] = { SERVINGCERT_KEY_CA_CRT, SERVINGCERT_KEY_CA_KEY,
                                     SERVINGCERT_KEY_TLS_CRT, SERVINGCERT_KEY_TLS_KEY };

/* ---- names ---------------------------------------------------------------------------------- */

static bool is_label(const char *s, bool letter_first)
{
    size_t n = strlen(s);
    if (n == 0 || n > SERVINGCERT_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-')
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
    }
    return !letter_first || (s[0] >= 'a' && s[0] <= 'z');
}

/* A DNS-1123 subdomain: labels of [a-z0-9-] joined by dots, at most 253 bytes. */
static bool is_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SERVINGCERT_OBJNAME_MAX)
        return false;
    char label[SERVINGCERT_OBJNAME_MAX + 1];
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        size_t len = i - start;
        if (len == 0 || len > SERVINGCERT_LABEL_MAX)
            return false;
        memcpy(label, s + start, len);
        label[len] = '\0';
        if (!is_label(label, false))
            return false;
        start = i + 1;
    }
    return true;
}

enum ta_rc servingcert_names_make(const char *service, const char *ns,
                                  struct servingcert_names *out, struct ta_err *err)
{
    if (!service || !is_label(service, true))
        return ta_err_set(err, TA_INVALID, "--service-name: \"%.80s\" is not a DNS label",
                          service ? service : "");
    if (!ns || !is_label(ns, false))
        return ta_err_set(err, TA_INVALID, "--service-namespace: \"%.80s\" is not a DNS label",
                          ns ? ns : "");
    int n[SERVINGCERT_NNAMES];
    n[0] = snprintf(out->name[0], sizeof(out->name[0]), "%s.%s.svc", service, ns);
    n[1] = snprintf(out->name[1], sizeof(out->name[1]), "%s.%s", service, ns);
    n[2] = snprintf(out->name[2], sizeof(out->name[2]), "%s", service);
    n[3] = snprintf(out->name[3], sizeof(out->name[3]), "%s.%s.svc.cluster.local", service, ns);
    for (int i = 0; i < SERVINGCERT_NNAMES; i++)
        if (n[i] < 0 || (size_t)n[i] >= sizeof(out->name[i]))
            return ta_err_set(err, TA_INTERNAL, "certificate name too long");
    return TA_OK;
}

/* ---- PEM sets ---------------------------------------------------------------------------------
 */

void servingcert_pems_init(struct servingcert_pems *p)
{
    buf_init(&p->ca_crt, SERVINGCERT_PEM_MAX);
    buf_init(&p->ca_key, SERVINGCERT_PEM_MAX);
    buf_init(&p->tls_crt, SERVINGCERT_PEM_MAX);
    buf_init(&p->tls_key, SERVINGCERT_PEM_MAX);
}

static void buf_wipe_free(struct buf *b)
{
    if (b->data)
        explicit_bzero(b->data, b->len);
    buf_free(b);
}

void servingcert_pems_free(struct servingcert_pems *p)
{
    buf_free(&p->ca_crt);
    buf_wipe_free(&p->ca_key);
    buf_free(&p->tls_crt);
    buf_wipe_free(&p->tls_key);
}

static void pems_reset(struct servingcert_pems *p)
{
    servingcert_pems_free(p);
    servingcert_pems_init(p);
}

static struct buf *pem_field(struct servingcert_pems *p, int i)
{
    struct buf *f[4] = { &p->ca_crt, &p->ca_key, &p->tls_crt, &p->tls_key };
    return f[i];
}

static const struct buf *pem_cfield(const struct servingcert_pems *p, int i)
{
    const struct buf *f[4] = { &p->ca_crt, &p->ca_key, &p->tls_crt, &p->tls_key };
    return f[i];
}

/* ---- the decision -----------------------------------------------------------------------------
 */

static X509 *first_cert(const struct buf *b)
{
    if (b->len == 0 || b->len > SERVINGCERT_PEM_MAX)
        return NULL;
    BIO *bio = BIO_new_mem_buf(b->data, (int)b->len);
    X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return c;
}

/* TA_OK when leaf chains to ca at now_s for serverAuth; else the X.509 reason in err. */
static enum ta_rc verify_chain(const struct buf *leaf_pem, const struct buf *ca_pem, int64_t now_s,
                               struct ta_err *err)
{
    enum ta_rc rc = TA_INVALID;
    X509 *leaf = first_cert(leaf_pem), *ca = first_cert(ca_pem);
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!leaf || !ca) {
        ta_err_set(err, TA_INVALID, "no PEM certificate found");
        goto out;
    }
    if (!st || !ctx || X509_STORE_add_cert(st, ca) != 1 ||
        X509_STORE_CTX_init(ctx, st, leaf, NULL) != 1) {
        ta_err_set(err, TA_INTERNAL, "cannot set up certificate verification");
        goto out;
    }
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, (time_t)now_s);
    X509_VERIFY_PARAM_set_purpose(vp, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) == 1)
        rc = TA_OK;
    else
        ta_err_set(err, TA_INVALID, "%s",
                   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_free(leaf);
    X509_free(ca);
    return rc;
}

enum servingcert_verdict servingcert_check(const struct servingcert_pems *p,
                                           const struct servingcert_names *names, int64_t now_s,
                                           struct ta_err *why)
{
    struct certgen_info ci, li;
    struct ta_err e = { 0 };
    char date[CLOCK_RFC3339_LEN];

    if (p->ca_crt.len == 0 || p->ca_key.len == 0) {
        ta_err_set(why, TA_INVALID, "ca.crt or ca.key is missing");
        return SERVINGCERT_RENEW_ALL;
    }
    if (certgen_inspect(p->ca_crt.data, p->ca_crt.len, &ci, &e) != TA_OK) {
        ta_err_set(why, TA_INVALID, "ca.crt: %s", e.msg);
        return SERVINGCERT_RENEW_ALL;
    }
    if (!ci.is_ca) {
        ta_err_set(why, TA_INVALID, "ca.crt is not a CA certificate");
        return SERVINGCERT_RENEW_ALL;
    }
    if (ci.not_before_s > now_s) {
        clock_rfc3339(ci.not_before_s, date);
        ta_err_set(why, TA_INVALID, "ca.crt is not valid before %s", date);
        return SERVINGCERT_RENEW_ALL;
    }
    if (ci.not_after_s <= now_s + SERVINGCERT_RENEW_BEFORE_S) {
        clock_rfc3339(ci.not_after_s, date);
        ta_err_set(why, TA_INVALID, "ca.crt %s (%s)",
                   ci.not_after_s <= now_s ? "has expired" : "expires within 30 days", date);
        return SERVINGCERT_RENEW_ALL;
    }
    if (certgen_check_pair(p->ca_crt.data, p->ca_crt.len, p->ca_key.data, p->ca_key.len, &e) !=
        TA_OK) {
        ta_err_set(why, TA_INVALID, "ca.key: %s", e.msg);
        return SERVINGCERT_RENEW_ALL;
    }

    if (p->tls_crt.len == 0 || p->tls_key.len == 0) {
        ta_err_set(why, TA_INVALID, "tls.crt or tls.key is missing");
        return SERVINGCERT_RENEW_LEAF;
    }
    if (certgen_inspect(p->tls_crt.data, p->tls_crt.len, &li, &e) != TA_OK) {
        ta_err_set(why, TA_INVALID, "tls.crt: %s", e.msg);
        return SERVINGCERT_RENEW_LEAF;
    }
    if (li.not_after_s > now_s && li.not_after_s <= now_s + SERVINGCERT_RENEW_BEFORE_S) {
        clock_rfc3339(li.not_after_s, date);
        ta_err_set(why, TA_INVALID, "tls.crt expires within 30 days (%s)", date);
        return SERVINGCERT_RENEW_LEAF;
    }
    if (verify_chain(&p->tls_crt, &p->ca_crt, now_s, &e) != TA_OK) {
        ta_err_set(why, TA_INVALID, "tls.crt does not verify against ca.crt: %s", e.msg);
        return SERVINGCERT_RENEW_LEAF;
    }
    for (int i = 0; i < SERVINGCERT_NNAMES; i++) {
        if (!certgen_covers(p->tls_crt.data, p->tls_crt.len, names->name[i])) {
            ta_err_set(why, TA_INVALID, "tls.crt does not cover %s", names->name[i]);
            return SERVINGCERT_RENEW_LEAF;
        }
    }
    if (certgen_check_pair(p->tls_crt.data, p->tls_crt.len, p->tls_key.data, p->tls_key.len, &e) !=
        TA_OK) {
        ta_err_set(why, TA_INVALID, "tls.key: %s", e.msg);
        return SERVINGCERT_RENEW_LEAF;
    }
    return SERVINGCERT_VALID;
}

/* ---- generation -------------------------------------------------------------------------------
 */

/* Appends the first certificate of old (re-encoded as one PEM block) when it is a CA valid at
 * now_s: the previous CA stays trusted while replicas still serve leaves it signed. */
static enum ta_rc keep_old_ca(const struct buf *old, int64_t now_s, struct buf *out,
                              struct ta_err *err)
{
    struct certgen_info info;
    if (old->len == 0 || certgen_inspect(old->data, old->len, &info, NULL) != TA_OK ||
        !info.is_ca || info.not_before_s > now_s || info.not_after_s <= now_s)
        return TA_OK;
    X509 *c = first_cert(old);
    BIO *bio = BIO_new(BIO_s_mem());
    enum ta_rc rc = TA_OK;
    char *data = NULL;
    long len = 0;
    if (!c || !bio || !PEM_write_bio_X509(bio, c) || (len = BIO_get_mem_data(bio, &data)) <= 0)
        rc = ta_err_set(err, TA_INTERNAL, "cannot re-encode the previous CA");
    else if (buf_add(out, data, (size_t)len) != TA_OK)
        rc = ta_err_set(err, TA_TOO_LARGE, "CA bundle larger than %u bytes",
                        (unsigned)SERVINGCERT_PEM_MAX);
    ERR_clear_error();
    BIO_free(bio);
    X509_free(c);
    return rc;
}

enum ta_rc servingcert_generate(enum servingcert_verdict verdict,
                                const struct servingcert_names *names,
                                const struct servingcert_pems *old, int64_t now_s,
                                struct servingcert_pems *out, struct ta_err *err)
{
    enum ta_rc rc;
    pems_reset(out);
    if (verdict == SERVINGCERT_VALID)
        return ta_err_set(err, TA_INVALID, "nothing to renew");
    if (verdict == SERVINGCERT_RENEW_ALL) {
        char cn[64];
        snprintf(cn, sizeof(cn), "tempo-adapter-ca@%lld", (long long)now_s);
        struct certgen_request ca = {
            .common_name = cn,
            .not_before_s = now_s - SERVINGCERT_BACKDATE_S,
            .not_after_s = now_s + SERVINGCERT_CA_DAYS * 86400LL,
            .is_ca = true,
        };
        rc = certgen_make(&ca, &out->ca_crt, &out->ca_key, err);
        if (rc == TA_OK)
            rc = keep_old_ca(&old->ca_crt, now_s, &out->ca_crt, err);
    } else {
        rc = buf_add_slice(&out->ca_crt, buf_slice(&old->ca_crt));
        if (rc == TA_OK)
            rc = buf_add_slice(&out->ca_key, buf_slice(&old->ca_key));
        if (rc != TA_OK)
            rc = ta_err_set(err, TA_TOO_LARGE, "CA larger than %u bytes",
                            (unsigned)SERVINGCERT_PEM_MAX);
    }
    struct certgen_info ci = { 0 };
    if (rc == TA_OK)
        rc = certgen_inspect(out->ca_crt.data, out->ca_crt.len, &ci, err);
    if (rc != TA_OK)
        goto out;
    const char *sans[SERVINGCERT_NNAMES];
    for (int i = 0; i < SERVINGCERT_NNAMES; i++)
        sans[i] = names->name[i];
    int64_t not_after = now_s + SERVINGCERT_LEAF_DAYS * 86400LL;
    struct certgen_request leaf = {
        .common_name = names->name[0],
        .sans = sans,
        .nsans = SERVINGCERT_NNAMES,
        .not_before_s = now_s - SERVINGCERT_BACKDATE_S,
        .not_after_s = not_after < ci.not_after_s ? not_after : ci.not_after_s,
        .signer_cert_pem = buf_cstr(&out->ca_crt),
        .signer_key_pem = buf_cstr(&out->ca_key),
    };
    rc = certgen_make(&leaf, &out->tls_crt, &out->tls_key, err);
out:
    if (rc != TA_OK)
        pems_reset(out);
    return rc;
}

/* ---- JSON bodies ------------------------------------------------------------------------------
 */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard padded base64 of data into out (reset first). */
static enum ta_rc b64_encode(struct slice data, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)data.ptr;
    char q[4];
    buf_reset(out);
    for (size_t i = 0; i < data.len; i += 3) {
        size_t n = data.len - i < 3 ? data.len - i : 3;
        uint32_t v = (uint32_t)p[i] << 16;
        if (n > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (n > 2)
            v |= p[i + 2];
        q[0] = B64[(v >> 18) & 63];
        q[1] = B64[(v >> 12) & 63];
        q[2] = n > 1 ? B64[(v >> 6) & 63] : '=';
        q[3] = n > 2 ? B64[v & 63] : '=';
        if (buf_add(out, q, 4) != TA_OK)
            return TA_TOO_LARGE;
    }
    if (data.len == 0 && buf_adds(out, "") != TA_OK)
        return TA_TOO_LARGE;
    return TA_OK;
}

/* Loads body as a JSON object whose "kind" is kind. */
static enum ta_rc load_object(struct slice body, const char *kind, json_t **out, struct ta_err *err)
{
    json_error_t jerr;
    *out = NULL;
    json_t *root = json_loadb(body.ptr, body.len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return ta_err_set(err, TA_INVALID, "%s: not a JSON object", kind);
    }
    json_t *k = json_object_get(root, "kind");
    if (!json_is_string(k) || strcmp(json_string_value(k), kind) != 0) {
        json_decref(root);
        return ta_err_set(err, TA_INVALID, "%s: the object's kind is not %s", kind, kind);
    }
    *out = root;
    return TA_OK;
}

/* Decodes a base64 JSON string into out (reset first); what names it in messages. */
static enum ta_rc b64_field(json_t *v, const char *what, struct buf *out, struct ta_err *err)
{
    if (!json_is_string(v))
        return ta_err_set(err, TA_INVALID, "%s is not a string", what);
    struct slice s = slice_make(json_string_value(v), json_string_length(v));
    size_t chars = s.len;
    while (chars && s.ptr[chars - 1] == '=')
        chars--;
    if (chars / 4 * 3 + (chars % 4 ? chars % 4 - 1 : 0) > SERVINGCERT_PEM_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "%s is larger than %u bytes", what,
                          (unsigned)SERVINGCERT_PEM_MAX);
    uint8_t *tmp = ta_xmalloc(SERVINGCERT_PEM_MAX);
    size_t n = 0;
    struct ta_err pe = { 0 };
    enum ta_rc rc = parse_base64(s, tmp, SERVINGCERT_PEM_MAX, &n, &pe);
    if (rc != TA_OK)
        rc = ta_err_set(err, TA_INVALID, "%s: %s", what, pe.msg);
    else if (memchr(tmp, 0, n))
        rc = ta_err_set(err, TA_INVALID, "%s contains a NUL byte", what);
    buf_reset(out);
    if (rc == TA_OK && buf_add(out, tmp, n) != TA_OK)
        rc = ta_err_set(err, TA_TOO_LARGE, "%s is larger than %u bytes", what,
                        (unsigned)SERVINGCERT_PEM_MAX);
    explicit_bzero(tmp, SERVINGCERT_PEM_MAX);
    free(tmp);
    return rc;
}

enum ta_rc servingcert_secret_decode(struct slice body, struct servingcert_pems *out,
                                     struct ta_err *err)
{
    json_t *root = NULL;
    pems_reset(out);
    enum ta_rc rc = load_object(body, "Secret", &root, err);
    if (rc != TA_OK)
        return rc;
    json_t *data = json_object_get(root, "data");
    if (data && !json_is_null(data) && !json_is_object(data)) {
        rc = ta_err_set(err, TA_INVALID, "Secret: data is not an object");
        goto out;
    }
    for (int i = 0; i < 4 && json_is_object(data); i++) {
        json_t *v = json_object_get(data, KEYS[i]);
        if (!v || json_is_null(v))
            continue;
        char what[64];
        snprintf(what, sizeof(what), "Secret: data.%s", KEYS[i]);
        rc = b64_field(v, what, pem_field(out, i), err);
        if (rc != TA_OK)
            goto out;
    }
out:
    json_decref(root);
    if (rc != TA_OK)
        pems_reset(out);
    return rc;
}

/* Appends the compact JSON of root to out; the temporary text is wiped (it may hold keys). */
static enum ta_rc dump_json(json_t *root, struct buf *out, struct ta_err *err)
{
    size_t n = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (n == 0 || n > SERVINGCERT_BODY_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "request body larger than %u bytes",
                          (unsigned)SERVINGCERT_BODY_MAX);
    char *tmp = ta_xmalloc(n);
    enum ta_rc rc = TA_OK;
    if (json_dumpb(root, tmp, n, JSON_COMPACT) != n || buf_add(out, tmp, n) != TA_OK)
        rc = ta_err_set(err, TA_TOO_LARGE, "request body larger than %zu bytes", out->max);
    explicit_bzero(tmp, n);
    free(tmp);
    return rc;
}

enum ta_rc servingcert_secret_encode(struct slice current, const char *ns, const char *name,
                                     const struct servingcert_pems *p, struct buf *out,
                                     struct ta_err *err)
{
    json_t *root = NULL;
    enum ta_rc rc = TA_OK;
    struct buf b64;
    buf_init(&b64, B64_MAX(SERVINGCERT_PEM_MAX) + 1);
    if (current.len) {
        rc = load_object(current, "Secret", &root, err);
        if (rc != TA_OK)
            goto out;
    } else {
        root = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s}", "apiVersion", "v1", "kind",
                         "Secret", "metadata", "name", name, "namespace", ns, "labels",
                         "app.kubernetes.io/name", "tempo-adapter", "type", "Opaque");
        if (!root) {
            rc = ta_err_set(err, TA_INVALID, "Secret name or namespace is not valid UTF-8");
            goto out;
        }
    }
    json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(root, "data", data);
    }
    for (int i = 0; i < 4; i++) {
        if (b64_encode(buf_slice(pem_cfield(p, i)), &b64) != TA_OK) {
            rc = ta_err_set(err, TA_TOO_LARGE, "Secret: %s too large", KEYS[i]);
            goto out;
        }
        json_object_set_new(data, KEYS[i], json_stringn(b64.data, b64.len));
    }
    json_object_del(root, "stringData");
    rc = dump_json(root, out, err);
out:
    buf_wipe_free(&b64);
    json_decref(root);
    return rc;
}

enum ta_rc servingcert_apiservice_encode(struct slice current, struct slice ca_pem,
                                         const char *service, const char *ns, bool *changed,
                                         struct buf *out, struct ta_err *err)
{
    json_t *root = NULL;
    struct buf cur, b64;
    buf_init(&cur, SERVINGCERT_PEM_MAX);
    buf_init(&b64, B64_MAX(SERVINGCERT_PEM_MAX) + 1);
    *changed = false;
    enum ta_rc rc = load_object(current, "APIService", &root, err);
    if (rc != TA_OK)
        goto out;
    json_t *meta = json_object_get(root, "metadata");
    json_t *jname = json_is_object(meta) ? json_object_get(meta, "name") : NULL;
    const char *name = json_is_string(jname) ? json_string_value(jname) : "?";
    json_t *spec = json_object_get(root, "spec");
    if (!json_is_object(spec)) {
        rc = ta_err_set(err, TA_INVALID, "APIService %.100s has no spec", name);
        goto out;
    }
    json_t *svc = json_object_get(spec, "service");
    json_t *sn = json_is_object(svc) ? json_object_get(svc, "name") : NULL;
    json_t *sns = json_is_object(svc) ? json_object_get(svc, "namespace") : NULL;
    if (!json_is_string(sn) || !json_is_string(sns)) {
        rc = ta_err_set(err, TA_INVALID,
                        "APIService %.100s has no spec.service: it is served by kube-apiserver "
                        "itself; its caBundle is left alone",
                        name);
        goto out;
    }
    if (strcmp(json_string_value(sn), service) != 0 || strcmp(json_string_value(sns), ns) != 0) {
        rc = ta_err_set(err, TA_INVALID,
                        "APIService %.100s points at Service %.63s/%.63s, not %s/%s (another "
                        "external metrics adapter?): its caBundle is left alone",
                        name, json_string_value(sns), json_string_value(sn), ns, service);
        goto out;
    }
    json_t *cab = json_object_get(spec, "caBundle");
    bool same = false;
    if (json_is_string(cab) && b64_field(cab, "caBundle", &cur, NULL) == TA_OK)
        same = cur.len == ca_pem.len && memcmp(buf_cstr(&cur), ca_pem.ptr, ca_pem.len) == 0;
    bool insecure = json_is_true(json_object_get(spec, "insecureSkipTLSVerify"));
    if (same && !insecure)
        goto out;
    if (b64_encode(ca_pem, &b64) != TA_OK) {
        rc = ta_err_set(err, TA_TOO_LARGE, "caBundle larger than %u bytes",
                        (unsigned)SERVINGCERT_PEM_MAX);
        goto out;
    }
    json_object_set_new(spec, "caBundle", json_stringn(b64.data, b64.len));
    json_object_del(spec, "insecureSkipTLSVerify");
    rc = dump_json(root, out, err);
    if (rc == TA_OK)
        *changed = true;
out:
    buf_free(&cur);
    buf_free(&b64);
    json_decref(root);
    return rc;
}

/* ---- the manager ------------------------------------------------------------------------------
 */

enum mode {
    MODE_MANAGED,
    MODE_FILES,
};

struct servingcert {
    enum mode mode;
    struct kube_client *kc; /* managed mode */
    char *ns;
    char *secret;
    char *service;
    char *apiservice;
    char *secret_path;     /* /api/v1/namespaces/<ns>/secrets/<name> */
    char *secrets_path;    /* /api/v1/namespaces/<ns>/secrets (create) */
    char *apiservice_path; /* /apis/apiregistration.k8s.io/v1/apiservices/<name> */
    struct servingcert_names names;
    char *cert_file; /* files mode */
    char *key_file;
    struct buf installed_crt; /* what was installed last; the thread's after start */
    struct buf installed_key; /* files mode only (a key rotated alone) */
    int64_t recheck_ns;
    int64_t retry_ns; /* current back-off after failures; 0 after a good round */
    pthread_t thread;
    bool thread_started;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; broadcast on stop */
    struct {
        pthread_mutex_t mu;
        bool stop; /* guarded by mu */
    } shared;
};

static int64_t now_s(void)
{
    return clock_wall_ns() / NS_PER_SEC;
}

static int64_t recheck_period(int64_t def)
{
    const char *env = getenv(SERVINGCERT_RECHECK_ENV);
    uint64_t ms;
    if (env && parse_u64(slice_from_cstr(env), 10, 86400000, &ms, NULL) == TA_OK)
        return (int64_t)ms * NS_PER_MS;
    return def;
}

static char *path_of(const char *a, const char *seg1, const char *b, const char *seg2,
                     struct ta_err *err)
{
    struct buf p;
    buf_init(&p, 2048);
    if (buf_adds(&p, a) != TA_OK || buf_add_pathenc(&p, slice_from_cstr(seg1)) != TA_OK ||
        (b && (buf_adds(&p, b) != TA_OK || buf_add_pathenc(&p, slice_from_cstr(seg2)) != TA_OK))) {
        ta_err_set(err, TA_TOO_LARGE, "object path too long");
        return NULL;
    }
    return buf_take(&p, NULL);
}

/* The Status message of an unexpected answer, with what was being done. */
static enum ta_rc answer_fail(struct ta_err *err, const char *doing, long status,
                              const struct buf *body, const char *hint)
{
    char m[160];
    kube_client_status_message(buf_slice(body), m, sizeof(m));
    return ta_err_set(err, TA_UPSTREAM, "%s: kube-apiserver answered %ld: %s%s", doing, status,
                      m[0] ? m : "(no message)", status == 403 ? hint : "");
}

static void install_log(const struct servingcert *sc, const char *from)
{
    struct certgen_info li;
    char date[CLOCK_RFC3339_LEN] = "?";
    if (certgen_inspect(sc->installed_crt.data, sc->installed_crt.len, &li, NULL) == TA_OK)
        clock_rfc3339(li.not_after_s, date);
    LOG_INFO("serving certificate from %s installed (valid until %s)", from, date);
}

/* Installs cert/key unless cert is what is served already. */
static enum ta_rc install(struct servingcert *sc, const struct buf *cert, const struct buf *key,
                          const char *from, struct ta_err *err)
{
    bool same_key = sc->mode == MODE_MANAGED ||
                    (sc->installed_key.len == key->len &&
                     memcmp(buf_cstr(&sc->installed_key), buf_cstr(key), key->len) == 0);
    if (sc->installed_crt.len == cert->len &&
        memcmp(buf_cstr(&sc->installed_crt), buf_cstr(cert), cert->len) == 0 && same_key)
        return TA_OK;
    enum ta_rc rc = tls_serving_install(buf_slice(cert), buf_slice(key), err);
    if (rc != TA_OK)
        return rc;
    buf_reset(&sc->installed_crt);
    if (buf_add_slice(&sc->installed_crt, buf_slice(cert)) != TA_OK)
        buf_free(&sc->installed_crt); /* cannot happen: same cap; forces a re-install */
    if (sc->mode == MODE_FILES) {
        buf_wipe_free(&sc->installed_key);
        if (buf_add_slice(&sc->installed_key, buf_slice(key)) != TA_OK)
            buf_free(&sc->installed_key);
    }
    install_log(sc, from);
    return TA_OK;
}

static const char SECRET_HINT[] = " (the adapter needs get, update and patch on this Secret: "
                                  "see manifests/rbac-serving-cert.yaml)";

/* Reads the Secret until its content is valid, renewing it when it is not; out gets the
 * valid content. */
static enum ta_rc sync_secret(struct servingcert *sc, struct servingcert_pems *out,
                              struct ta_err *err)
{
    enum ta_rc rc = TA_OK;
    struct buf body, req;
    struct servingcert_pems old, fresh;
    buf_init(&body, KUBE_CLIENT_BODY_MAX);
    buf_init(&req, SERVINGCERT_BODY_MAX);
    servingcert_pems_init(&old);
    servingcert_pems_init(&fresh);
    char doing[SERVINGCERT_OBJNAME_MAX * 2 + 64];
    snprintf(doing, sizeof(doing), "Secret %s/%s", sc->ns, sc->secret);

    for (int conflicts = 0;;) {
        long status = 0;
        rc = kube_client_do(sc->kc, "GET", sc->secret_path, SLICE_NULL, &status, &body, err);
        if (rc != TA_OK) {
            ta_err_prefix(err, "reading %s", doing);
            goto out;
        }
        int64_t now = now_s();
        bool create = status == 404;
        enum servingcert_verdict v = SERVINGCERT_RENEW_ALL;
        struct ta_err why = { 0 };
        if (create) {
            pems_reset(&old);
            ta_err_set(&why, TA_NOT_FOUND, "it does not exist");
        } else if (status != 200) {
            rc = answer_fail(err, "reading Secret", status, &body, SECRET_HINT);
            goto out;
        } else if (servingcert_secret_decode(buf_slice(&body), &old, &why) != TA_OK) {
            v = SERVINGCERT_RENEW_ALL;
        } else {
            v = servingcert_check(&old, &sc->names, now, &why);
        }
        if (v == SERVINGCERT_VALID) {
            servingcert_pems_free(out);
            *out = old;
            servingcert_pems_init(&old);
            rc = TA_OK;
            goto out;
        }
        LOG_INFO("%s: %s; making a new %s", doing, why.msg,
                 v == SERVINGCERT_RENEW_ALL ? "CA and serving certificate" : "serving certificate");
        rc = servingcert_generate(v, &sc->names, &old, now, &fresh, err);
        buf_reset(&req);
        if (rc == TA_OK)
            rc = servingcert_secret_encode(create ? SLICE_NULL : buf_slice(&body), sc->ns,
                                           sc->secret, &fresh, &req, err);
        if (rc != TA_OK) {
            ta_err_prefix(err, "%s", doing);
            goto out;
        }
        rc = kube_client_do(sc->kc, create ? "POST" : "PUT",
                            create ? sc->secrets_path : sc->secret_path, buf_slice(&req), &status,
                            &body, err);
        explicit_bzero(req.data, req.len);
        if (rc != TA_OK) {
            ta_err_prefix(err, "writing %s", doing);
            goto out;
        }
        if (status == 200 || status == 201) {
            LOG_INFO("%s %s with a new %s", doing, create ? "created" : "updated",
                     v == SERVINGCERT_RENEW_ALL ? "CA and serving certificate"
                                                : "serving certificate");
            servingcert_pems_free(out);
            *out = fresh;
            servingcert_pems_init(&fresh);
            goto out;
        }
        if (status == 409) {
            if (++conflicts >= SERVINGCERT_CONFLICTS_MAX) {
                rc = ta_err_set(err, TA_UPSTREAM,
                                "%s: %d conflicting writes in a row (409); giving up this round",
                                doing, conflicts);
                goto out;
            }
            LOG_INFO("%s was %s by another replica meanwhile; reading it again", doing,
                     create ? "created" : "changed");
            continue;
        }
        if (create && status == 403) {
            rc = answer_fail(err, "creating Secret", status, &body, "");
            ta_err_prefix(err,
                          "%s does not exist and the adapter may not create it (apply "
                          "manifests/: they ship it empty)",
                          doing);
            goto out;
        }
        rc = answer_fail(err, create ? "creating Secret" : "updating Secret", status, &body,
                         SECRET_HINT);
        goto out;
    }
out:
    servingcert_pems_free(&old);
    servingcert_pems_free(&fresh);
    buf_wipe_free(&body);
    buf_wipe_free(&req);
    return rc;
}

static const char APISERVICE_HINT[] = " (the adapter needs get, update and patch on this "
                                      "APIService: see manifests/rbac-serving-cert.yaml)";

/* Writes ca_pem into the APIService's caBundle when it differs. */
static enum ta_rc sync_apiservice(struct servingcert *sc, const struct buf *ca_pem,
                                  struct ta_err *err)
{
    enum ta_rc rc = TA_OK;
    struct buf body, req;
    buf_init(&body, KUBE_CLIENT_BODY_MAX);
    buf_init(&req, SERVINGCERT_BODY_MAX);
    for (int conflicts = 0;;) {
        long status = 0;
        rc = kube_client_do(sc->kc, "GET", sc->apiservice_path, SLICE_NULL, &status, &body, err);
        if (rc != TA_OK) {
            ta_err_prefix(err, "reading APIService %s", sc->apiservice);
            break;
        }
        if (status == 404) {
            rc = ta_err_set(err, TA_NOT_FOUND, "APIService %s not found (apply manifests/)",
                            sc->apiservice);
            break;
        }
        if (status != 200) {
            rc = answer_fail(err, "reading APIService", status, &body, APISERVICE_HINT);
            break;
        }
        bool changed = false;
        buf_reset(&req);
        rc = servingcert_apiservice_encode(buf_slice(&body), buf_slice(ca_pem), sc->service, sc->ns,
                                           &changed, &req, err);
        if (rc != TA_OK || !changed) {
            if (rc == TA_OK)
                LOG_V(2, "APIService %s: caBundle is current", sc->apiservice);
            break;
        }
        rc = kube_client_do(sc->kc, "PUT", sc->apiservice_path, buf_slice(&req), &status, &body,
                            err);
        if (rc != TA_OK) {
            ta_err_prefix(err, "updating APIService %s", sc->apiservice);
            break;
        }
        if (status == 200) {
            LOG_INFO("APIService %s: caBundle set to the CA of Secret %s/%s", sc->apiservice,
                     sc->ns, sc->secret);
            break;
        }
        if (status == 409 && ++conflicts < SERVINGCERT_CONFLICTS_MAX)
            continue;
        rc = answer_fail(err, "updating APIService", status, &body, APISERVICE_HINT);
        break;
    }
    buf_free(&body);
    buf_free(&req);
    return rc;
}

/* One managed round. *apisvc_err tells whether only the APIService step failed. */
static enum ta_rc managed_round(struct servingcert *sc, bool *apisvc_failed, struct ta_err *err)
{
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    char from[SERVINGCERT_OBJNAME_MAX * 2 + 16];
    snprintf(from, sizeof(from), "Secret %s/%s", sc->ns, sc->secret);
    *apisvc_failed = false;
    enum ta_rc rc = sync_secret(sc, &p, err);
    if (rc == TA_OK)
        rc = install(sc, &p.tls_crt, &p.tls_key, from, err);
    if (rc == TA_OK) {
        rc = sync_apiservice(sc, &p.ca_crt, err);
        *apisvc_failed = rc != TA_OK;
    }
    servingcert_pems_free(&p);
    return rc;
}

static enum ta_rc files_round(struct servingcert *sc, struct ta_err *err)
{
    struct buf cert, key;
    buf_init(&cert, TLS_PEM_FILE_MAX);
    buf_init(&key, TLS_PEM_FILE_MAX);
    enum ta_rc rc = file_read_all(sc->cert_file, TLS_PEM_FILE_MAX, &cert, err);
    if (rc == TA_OK)
        rc = file_read_all(sc->key_file, TLS_PEM_FILE_MAX, &key, err);
    if (rc == TA_OK)
        rc = certgen_check_pair(cert.data, cert.len, key.data, key.len, err);
    if (rc == TA_OK)
        rc = install(sc, &cert, &key, sc->cert_file, err);
    if (rc != TA_OK)
        ta_err_prefix(err, "--tls-cert-file %s", sc->cert_file);
    buf_free(&cert);
    buf_wipe_free(&key);
    return rc;
}

static void *thread_main(void *arg)
{
    struct servingcert *sc = arg;
    for (;;) {
        int64_t wait_ns = sc->retry_ns ? sc->retry_ns : sc->recheck_ns;
        struct timespec now, until;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t t = (int64_t)now.tv_sec * NS_PER_SEC + now.tv_nsec + wait_ns;
        until.tv_sec = (time_t)(t / NS_PER_SEC);
        until.tv_nsec = (long)(t % NS_PER_SEC);
        pthread_mutex_lock(&sc->shared.mu);
        while (!sc->shared.stop)
            if (pthread_cond_timedwait(&sc->cv, &sc->shared.mu, &until) != 0)
                break;
        bool stop = sc->shared.stop;
        pthread_mutex_unlock(&sc->shared.mu);
        if (stop)
            break;
        struct ta_err err = { 0 };
        bool apisvc = false;
        enum ta_rc rc =
            sc->mode == MODE_MANAGED ? managed_round(sc, &apisvc, &err) : files_round(sc, &err);
        if (rc == TA_OK) {
            sc->retry_ns = 0;
            continue;
        }
        if (rc == TA_UNAVAILABLE) /* cancelled: shutting down */
            break;
        if (sc->mode == MODE_FILES) {
            LOG_ERROR("%s; keeping the current serving certificate", err.msg);
            continue; /* files: the next regular check */
        }
        sc->retry_ns = sc->retry_ns ? sc->retry_ns * 2 : SERVINGCERT_RETRY_MIN_NS;
        if (sc->retry_ns > SERVINGCERT_RETRY_MAX_NS)
            sc->retry_ns = SERVINGCERT_RETRY_MAX_NS;
        LOG_ERROR("managed serving certificate: %s; %snext attempt in %lld s", err.msg,
                  apisvc ? "" : "keeping the current certificate; ",
                  (long long)(sc->retry_ns / NS_PER_SEC));
    }
    return NULL;
}

static struct servingcert *sc_new(enum mode mode)
{
    struct servingcert *sc = ta_xcalloc(1, sizeof(*sc));
    sc->mode = mode;
    buf_init(&sc->installed_crt, TLS_PEM_FILE_MAX);
    buf_init(&sc->installed_key, TLS_PEM_FILE_MAX);
    pthread_mutex_init(&sc->shared.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cv, &ca);
    pthread_condattr_destroy(&ca);
    return sc;
}

static enum ta_rc start_thread(struct servingcert *sc, struct ta_err *err)
{
    if (pthread_create(&sc->thread, NULL, thread_main, sc) != 0)
        return ta_err_set(err, TA_INTERNAL, "cannot start the serving-certificate thread");
    sc->thread_started = true;
    return TA_OK;
}

/* --service-namespace, else the service account's namespace file, else tempo-adapter. */
static char *resolve_namespace(const struct flags *f)
{
    if (f->service_namespace && f->service_namespace[0])
        return ta_xstrdup(f->service_namespace);
    const char *dir = getenv(KUBE_CLIENT_SA_DIR_ENV);
    struct buf path, b;
    buf_init(&path, 4096);
    buf_init(&b, SERVINGCERT_LABEL_MAX + 64);
    char *ns = NULL;
    if (buf_addf(&path, "%s/namespace", dir && dir[0] ? dir : KUBE_CLIENT_SA_DIR) == TA_OK &&
        file_read_all(buf_cstr(&path), SERVINGCERT_LABEL_MAX + 64, &b, NULL) == TA_OK) {
        struct slice s = slice_trim(buf_slice(&b));
        if (s.len && !slice_has_nul(s))
            ns = ta_xstrndup(s.ptr, s.len);
    }
    buf_free(&path);
    buf_free(&b);
    return ns ? ns : ta_xstrdup(DEFAULT_NAMESPACE);
}

enum ta_rc servingcert_start(const struct flags *f, struct servingcert **out, struct ta_err *err)
{
    *out = NULL;
    struct servingcert *sc = sc_new(MODE_MANAGED);
    struct kubeconfig *kcfg = NULL;
    enum ta_rc rc;
    sc->ns = resolve_namespace(f);
    sc->service = ta_xstrdup(f->service_name ? f->service_name : "");
    sc->secret = ta_xstrdup(f->serving_cert_secret ? f->serving_cert_secret : "");
    sc->apiservice = ta_xstrdup(f->apiservice_name ? f->apiservice_name : "");
    rc = servingcert_names_make(sc->service, sc->ns, &sc->names, err);
    if (rc != TA_OK)
        goto out;
    if (!is_subdomain(sc->secret)) {
        rc = ta_err_set(err, TA_INVALID, "--serving-cert-secret: \"%.80s\" is not a DNS subdomain",
                        sc->secret);
        goto out;
    }
    if (!is_subdomain(sc->apiservice)) {
        rc = ta_err_set(err, TA_INVALID, "--apiservice-name: \"%.80s\" is not a DNS subdomain",
                        sc->apiservice);
        goto out;
    }
    sc->secret_path = path_of("/api/v1/namespaces/", sc->ns, "/secrets/", sc->secret, err);
    sc->secrets_path = path_of("/api/v1/namespaces/", sc->ns, "/secrets", "", err);
    sc->apiservice_path =
        path_of("/apis/apiregistration.k8s.io/v1/apiservices/", sc->apiservice, NULL, NULL, err);
    if (!sc->secret_path || !sc->secrets_path || !sc->apiservice_path) {
        rc = TA_TOO_LARGE;
        goto out;
    }
    if (f->kubeconfig && f->kubeconfig[0])
        rc = kubeconfig_load(f->kubeconfig, &kcfg, err);
    else
        rc = kube_client_in_cluster(&kcfg, err);
    if (rc == TA_OK)
        rc = kube_client_new(kcfg, NULL, &sc->kc, err);
    if (rc != TA_OK) {
        ta_err_prefix(err, "--manage-serving-cert");
        goto out;
    }
    sc->recheck_ns = recheck_period(SERVINGCERT_RECHECK_NS);
    LOG_INFO("managed serving certificate: Secret %s/%s for %s, APIService %s, kube-apiserver %s",
             sc->ns, sc->secret, sc->names.name[0], sc->apiservice, kcfg->server);
    bool apisvc = false;
    struct ta_err e = { 0 };
    rc = managed_round(sc, &apisvc, &e);
    if (rc != TA_OK && !apisvc) {
        ta_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    if (rc != TA_OK) {
        sc->retry_ns = SERVINGCERT_RETRY_MIN_NS;
        LOG_WARN("%s; serving anyway, next attempt in %lld s", e.msg,
                 (long long)(sc->retry_ns / NS_PER_SEC));
    }
    rc = start_thread(sc, err);
    if (rc != TA_OK)
        goto out;
    *out = sc;
    sc = NULL;
out:
    kubeconfig_free(kcfg);
    servingcert_free(sc);
    return rc;
}

enum ta_rc servingcert_watch_files(const struct flags *f, struct servingcert **out,
                                   struct ta_err *err)
{
    *out = NULL;
    if (!f->tls_cert_file || !f->tls_private_key_file)
        return ta_err_set(err, TA_INVALID,
                          "--tls-cert-file and --tls-private-key-file must be given together");
    struct servingcert *sc = sc_new(MODE_FILES);
    sc->cert_file = ta_xstrdup(f->tls_cert_file);
    sc->key_file = ta_xstrdup(f->tls_private_key_file);
    sc->recheck_ns = recheck_period(SERVINGCERT_FILES_NS);
    enum ta_rc rc = files_round(sc, err);
    if (rc == TA_OK)
        rc = start_thread(sc, err);
    if (rc == TA_OK) {
        *out = sc;
        sc = NULL;
    }
    servingcert_free(sc);
    return rc;
}

void servingcert_free(struct servingcert *sc)
{
    if (!sc)
        return;
    if (sc->thread_started) {
        pthread_mutex_lock(&sc->shared.mu);
        sc->shared.stop = true;
        pthread_cond_broadcast(&sc->cv);
        pthread_mutex_unlock(&sc->shared.mu);
        kube_client_cancel(sc->kc);
        pthread_join(sc->thread, NULL);
    }
    kube_client_free(sc->kc);
    free(sc->ns);
    free(sc->secret);
    free(sc->service);
    free(sc->apiservice);
    free(sc->secret_path);
    free(sc->secrets_path);
    free(sc->apiservice_path);
    free(sc->cert_file);
    free(sc->key_file);
    buf_free(&sc->installed_crt);
    buf_wipe_free(&sc->installed_key);
    pthread_cond_destroy(&sc->cv);
    pthread_mutex_destroy(&sc->shared.mu);
    free(sc);
}
