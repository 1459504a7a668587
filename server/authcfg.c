/* authcfg.c — merges the flags and the extension-apiserver-authentication ConfigMap into one
 * immutable snapshot: two X509_STOREs and five lists, plus a digest of the inputs.
 *
 * Called by server/auth.c at start and from its refresher thread; pure apart from reading the
 * flag files. The snapshot's stores are only read afterwards (X509_STORE is safe for concurrent
 * verification). */
#include "server/authcfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "apis/base/buf.h"
#include "apis/base/ta_mem.h"
#include "server/fileio.h"

/* ConfigMap keys (spec §12.1). */
#define KEY_CLIENT_CA "client-ca-file"
#define KEY_RH_CA     "requestheader-client-ca-file"
#define KEY_ALLOWED   "requestheader-allowed-names"
#define KEY_USERNAME  "requestheader-username-headers"
#define KEY_GROUP     "requestheader-group-headers"
#define KEY_EXTRA     "requestheader-extra-headers-prefix"
#define KEY_UID       "requestheader-uid-headers"

bool authcfg_needs_configmap(const struct flags *f)
{
    bool client = f->client_ca_file && f->client_ca_file[0];
    bool rh = f->requestheader_client_ca_file && f->requestheader_client_ca_file[0];
    return !(client && rh);
}

static void list_free(struct authcfg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static enum ta_rc list_add(struct authcfg_list *l, struct slice item, const char *what,
                           struct ta_err *err)
{
    if (l->n >= AUTHCFG_MAX_LIST)
        return ta_err_set(err, TA_TOO_LARGE, "%s: more than %d entries", what, AUTHCFG_MAX_LIST);
    if (item.len > AUTHCFG_MAX_ITEM)
        return ta_err_set(err, TA_TOO_LARGE, "%s: entry longer than %d bytes", what,
                          AUTHCFG_MAX_ITEM);
    if (slice_has_nul(item))
        return ta_err_set(err, TA_INVALID, "%s: entry holds a NUL byte", what);
    l->items = ta_xreallocarray(l->items, l->n + 1, sizeof(char *));
    l->items[l->n++] = ta_xstrndup(item.ptr, item.len);
    return TA_OK;
}

static enum ta_rc list_from_flag(struct authcfg_list *l, const struct flag_list *f,
                                 const char *what, struct ta_err *err)
{
    for (size_t i = 0; i < f->n; i++) {
        enum ta_rc rc = list_add(l, slice_from_cstr(f->items[i]), what, err);
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

/* Go's deserializeStrings: "" is no list; otherwise a JSON array of strings. */
static enum ta_rc list_from_json(struct authcfg_list *l, struct slice text, const char *key,
                                 struct ta_err *err)
{
    if (text.len == 0)
        return TA_OK;
    json_error_t jerr;
    json_t *arr = json_loadb(text.ptr, text.len, 0, &jerr);
    enum ta_rc rc = TA_OK;
    if (!arr || !json_is_array(arr)) {
        rc = ta_err_set(err, TA_INVALID, "%s %s: not a JSON array of strings",
                        AUTHCFG_CONFIGMAP_NAME, key);
        goto out;
    }
    char what[96];
    snprintf(what, sizeof(what), "%s %s", AUTHCFG_CONFIGMAP_NAME, key);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) {
            rc = ta_err_set(err, TA_INVALID, "%s: entry %zu is not a string", what, i);
            goto out;
        }
        rc = list_add(l, slice_make(json_string_value(v), json_string_length(v)), what, err);
        if (rc != TA_OK)
            goto out;
    }
out:
    json_decref(arr);
    return rc;
}

enum ta_rc authcfg_pem_store(struct slice pem, X509_STORE **out, size_t *ncerts, struct ta_err *err)
{
    *out = NULL;
    *ncerts = 0;
    if (pem.len > AUTHCFG_PEM_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "CA bundle larger than %u bytes", AUTHCFG_PEM_MAX);
    if (pem.len > 0x7fffffff)
        return ta_err_set(err, TA_TOO_LARGE, "CA bundle too large");
    enum ta_rc rc = TA_OK;
    X509_STORE *store = X509_STORE_new();
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    if (!store || !bio) {
        rc = ta_err_set(err, TA_INTERNAL, "openssl: cannot allocate a certificate store");
        goto out;
    }
    ERR_clear_error();
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                break; /* no more PEM blocks */
            rc =
                ta_err_set(err, TA_INVALID, "CA bundle: certificate %zu is malformed", *ncerts + 1);
            goto out;
        }
        if (*ncerts >= AUTHCFG_MAX_CERTS) {
            X509_free(x);
            rc = ta_err_set(err, TA_TOO_LARGE, "CA bundle holds more than %d certificates",
                            AUTHCFG_MAX_CERTS);
            goto out;
        }
        /* A duplicate certificate is not an error (OpenSSL 3 ignores it). */
        X509_STORE_add_cert(store, x);
        X509_free(x);
        (*ncerts)++;
    }
    if (*ncerts == 0) {
        rc = ta_err_set(err, TA_INVALID, "CA bundle holds no PEM certificate");
        goto out;
    }
    *out = store;
    store = NULL;
out:
    ERR_clear_error();
    BIO_free(bio);
    X509_STORE_free(store);
    if (rc != TA_OK)
        *ncerts = 0;
    return rc;
}

/* The ConfigMap's data as borrowed strings (from the parsed JSON, which outlives their use). */
struct cm_data {
    json_t *root;
    json_t *data; /* borrowed from root; NULL when the object has no data */
};

static enum ta_rc cm_parse(struct slice text, struct cm_data *cm, struct ta_err *err)
{
    cm->root = NULL;
    cm->data = NULL;
    if (text.ptr == NULL)
        return TA_OK;
    if (text.len > AUTHCFG_CONFIGMAP_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "%s: object larger than %u bytes",
                          AUTHCFG_CONFIGMAP_NAME, AUTHCFG_CONFIGMAP_MAX);
    json_error_t jerr;
    cm->root = json_loadb(text.ptr, text.len, 0, &jerr);
    if (!cm->root || !json_is_object(cm->root))
        return ta_err_set(err, TA_INVALID, "%s: not a JSON object: %s", AUTHCFG_CONFIGMAP_NAME,
                          cm->root ? "wrong type" : jerr.text);
    json_t *data = json_object_get(cm->root, "data");
    if (data && !json_is_object(data) && !json_is_null(data))
        return ta_err_set(err, TA_INVALID, "%s: data is not an object", AUTHCFG_CONFIGMAP_NAME);
    cm->data = json_is_object(data) ? data : NULL;
    return TA_OK;
}

/* The value of key: *present false when absent; TA_INVALID when not a string. */
static enum ta_rc cm_get(const struct cm_data *cm, const char *key, struct slice *v,
                         struct ta_err *err)
{
    *v = SLICE_NULL;
    json_t *j = cm->data ? json_object_get(cm->data, key) : NULL;
    if (!j)
        return TA_OK;
    if (!json_is_string(j))
        return ta_err_set(err, TA_INVALID, "%s %s: not a string", AUTHCFG_CONFIGMAP_NAME, key);
    *v = slice_make(json_string_value(j), json_string_length(j));
    return TA_OK;
}

static void digest_part(EVP_MD_CTX *md, const char *tag, struct slice s)
{
    uint64_t len = s.len;
    EVP_DigestUpdate(md, tag, strlen(tag) + 1);
    EVP_DigestUpdate(md, &len, sizeof(len));
    if (s.len)
        EVP_DigestUpdate(md, s.ptr, s.len);
}

static void digest_list(EVP_MD_CTX *md, const char *tag, const struct authcfg_list *l)
{
    uint64_t n = l->n;
    EVP_DigestUpdate(md, tag, strlen(tag) + 1);
    EVP_DigestUpdate(md, &n, sizeof(n));
    for (size_t i = 0; i < l->n; i++)
        digest_part(md, "item", slice_from_cstr(l->items[i]));
}

/* Resolves one CA: the flag's file when given, else the ConfigMap value when non-empty. */
static enum ta_rc load_ca(const char *flag_name, const char *file, const struct cm_data *cm,
                          const char *key, X509_STORE **store, struct buf *pem, char *src,
                          size_t src_len, struct ta_err *err)
{
    enum ta_rc rc;
    size_t ncerts = 0;
    struct slice text = SLICE_NULL;
    *store = NULL;
    snprintf(src, src_len, "none");
    if (file && file[0]) {
        rc = file_read_all(file, AUTHCFG_PEM_MAX, pem, err);
        if (rc != TA_OK)
            return ta_err_prefix(err, "%s", flag_name);
        text = buf_slice(pem);
        rc = authcfg_pem_store(text, store, &ncerts, err);
        if (rc != TA_OK)
            return ta_err_prefix(err, "%s %s", flag_name, file);
        snprintf(src, src_len, "%s (%zu)", flag_name, ncerts);
        return TA_OK;
    }
    rc = cm_get(cm, key, &text, err);
    if (rc != TA_OK || text.len == 0)
        return rc;
    rc = authcfg_pem_store(text, store, &ncerts, err);
    if (rc != TA_OK)
        return ta_err_prefix(err, "%s %s", AUTHCFG_CONFIGMAP_NAME, key);
    if (buf_add_slice(pem, text) != TA_OK) /* pem's cap is AUTHCFG_PEM_MAX >= text.len */
        return ta_err_set(err, TA_TOO_LARGE, "%s %s: too large", AUTHCFG_CONFIGMAP_NAME, key);
    snprintf(src, src_len, "configmap (%zu)", ncerts);
    return TA_OK;
}

/* Resolves one list: flag when given, else ConfigMap when non-empty, else the default. */
static enum ta_rc load_list(struct authcfg_list *l, const struct flag_list *flag,
                            const char *flag_name, const struct cm_data *cm, const char *key,
                            const char *def, struct ta_err *err)
{
    if (flag->n > 0)
        return list_from_flag(l, flag, flag_name, err);
    struct slice v;
    enum ta_rc rc = cm_get(cm, key, &v, err);
    if (rc == TA_OK)
        rc = list_from_json(l, v, key, err);
    if (rc != TA_OK || l->n > 0 || !def)
        return rc;
    return list_add(l, slice_from_cstr(def), flag_name, err);
}

enum ta_rc authcfg_build(const struct flags *f, struct slice configmap_json, struct authcfg **out,
                         struct ta_err *err)
{
    *out = NULL;
    struct authcfg *c = ta_xcalloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    struct cm_data cm = { 0 };
    struct buf client_pem, rh_pem;
    buf_init(&client_pem, AUTHCFG_PEM_MAX);
    buf_init(&rh_pem, AUTHCFG_PEM_MAX);
    EVP_MD_CTX *md = NULL;
    char client_src[96], rh_src[96];
    enum ta_rc rc = cm_parse(configmap_json, &cm, err);
    if (rc != TA_OK)
        goto out;
    rc = load_ca("--client-ca-file", f->client_ca_file, &cm, KEY_CLIENT_CA, &c->client_ca,
                 &client_pem, client_src, sizeof(client_src), err);
    if (rc != TA_OK)
        goto out;
    rc = load_ca("--requestheader-client-ca-file", f->requestheader_client_ca_file, &cm, KEY_RH_CA,
                 &c->requestheader_ca, &rh_pem, rh_src, sizeof(rh_src), err);
    if (rc != TA_OK)
        goto out;
    rc = load_list(&c->allowed_names, &f->requestheader_allowed_names,
                   "--requestheader-allowed-names", &cm, KEY_ALLOWED, NULL, err);
    if (rc == TA_OK)
        rc = load_list(&c->username_headers, &f->requestheader_username_headers,
                       "--requestheader-username-headers", &cm, KEY_USERNAME, "x-remote-user", err);
    if (rc == TA_OK)
        rc = load_list(&c->group_headers, &f->requestheader_group_headers,
                       "--requestheader-group-headers", &cm, KEY_GROUP, "x-remote-group", err);
    if (rc == TA_OK)
        rc = load_list(&c->extra_prefixes, &f->requestheader_extra_headers_prefix,
                       "--requestheader-extra-headers-prefix", &cm, KEY_EXTRA, "x-remote-extra-",
                       err);
    if (rc == TA_OK)
        rc = load_list(&c->uid_headers, &f->requestheader_uid_headers,
                       "--requestheader-uid-headers", &cm, KEY_UID, NULL, err);
    if (rc != TA_OK)
        goto out;

    md = EVP_MD_CTX_new();
    unsigned int dlen = 0;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = ta_err_set(err, TA_INTERNAL, "openssl: sha256 unavailable");
        goto out;
    }
    digest_part(md, "client-ca", buf_slice(&client_pem));
    digest_part(md, "requestheader-ca", buf_slice(&rh_pem));
    digest_list(md, "allowed", &c->allowed_names);
    digest_list(md, "username", &c->username_headers);
    digest_list(md, "group", &c->group_headers);
    digest_list(md, "extra", &c->extra_prefixes);
    digest_list(md, "uid", &c->uid_headers);
    if (EVP_DigestFinal_ex(md, c->digest, &dlen) != 1 || dlen != sizeof(c->digest)) {
        rc = ta_err_set(err, TA_INTERNAL, "openssl: sha256 failed");
        goto out;
    }
    snprintf(c->summary, sizeof(c->summary),
             "front-proxy CA: %s, allowed names: %zu, client CA: %s", rh_src, c->allowed_names.n,
             client_src);
    *out = c;
    c = NULL;
out:
    EVP_MD_CTX_free(md);
    buf_free(&client_pem);
    buf_free(&rh_pem);
    json_decref(cm.root);
    authcfg_unref(c);
    return rc;
}

struct authcfg *authcfg_ref(struct authcfg *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void authcfg_unref(struct authcfg *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    X509_STORE_free(c->client_ca);
    X509_STORE_free(c->requestheader_ca);
    list_free(&c->allowed_names);
    list_free(&c->username_headers);
    list_free(&c->group_headers);
    list_free(&c->extra_prefixes);
    list_free(&c->uid_headers);
    free(c);
}
