/* kubeconfig.c — loads a kubeconfig with libyaml's document API and resolves its current
 * context into a struct kubeconfig, with client-go's validation messages.
 *
 * Navigation follows fixed paths (clusters[].cluster.*, users[].user.*, contexts[].context.*),
 * so aliases and deep nesting cost nothing. Files named by the kubeconfig are read with the
 * same caps as inline data. Called once at start; no shared state. */
#include "server/kubeconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "apis/base/buf.h"
#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "server/fileio.h"

struct doc {
    yaml_document_t d;
    const char *name; /* for messages */
    const char *dir;  /* for relative paths */
};

static yaml_node_t *node_at(struct doc *doc, int i)
{
    return i ? yaml_document_get_node(&doc->d, i) : NULL;
}

static struct slice scalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return SLICE_NULL;
    return slice_make((const char *)n->data.scalar.value, n->data.scalar.length);
}

/* The value of key in mapping m (first occurrence), or NULL. */
static yaml_node_t *map_get(struct doc *doc, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && slice_eq_cstr(scalar(k), key))
            return node_at(doc, p->value);
    }
    return NULL;
}

/* A string field: absent or null gives SLICE_NULL; anything but a scalar is an error. */
static enum ta_rc get_str(struct doc *doc, yaml_node_t *m, const char *key, const char *where,
                          size_t max, struct slice *out, struct ta_err *err)
{
    *out = SLICE_NULL;
    yaml_node_t *n = map_get(doc, m, key);
    if (!n)
        return TA_OK;
    if (n->type != YAML_SCALAR_NODE)
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: %s.%s is not a string", doc->name, where,
                          key);
    struct slice s = scalar(n);
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (slice_eq_cstr(s, "null") || slice_eq_cstr(s, "~")))
        return TA_OK;
    if (s.len > max)
        return ta_err_set(err, TA_TOO_LARGE, "kubeconfig %s: %s.%s is longer than %zu bytes",
                          doc->name, where, key, max);
    if (slice_has_nul(s))
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: %s.%s holds a NUL byte", doc->name,
                          where, key);
    *out = s;
    return TA_OK;
}

static enum ta_rc get_bool(struct doc *doc, yaml_node_t *m, const char *key, const char *where,
                           bool *out, struct ta_err *err)
{
    *out = false;
    struct slice s;
    enum ta_rc rc = get_str(doc, m, key, where, 16, &s, err);
    if (rc != TA_OK || s.len == 0)
        return rc;
    static const char *const yes[] = {
        "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"
    };
    static const char *const no[] = { "false", "False", "FALSE", "no", "No",
                                      "NO",    "off",   "Off",   "OFF" };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (slice_eq_cstr(s, yes[i])) {
            *out = true;
            return TA_OK;
        }
        if (slice_eq_cstr(s, no[i]))
            return TA_OK;
    }
    return ta_err_set(err, TA_INVALID, "kubeconfig %s: %s.%s: \"%.*s\" is not a boolean", doc->name,
                      where, key, SLICE_ARG(s));
}

/* The `inner` mapping of the entry named name in the list `list` (clusters/users/contexts). */
static enum ta_rc find_named(struct doc *doc, yaml_node_t *root, const char *list,
                             const char *inner, struct slice name, yaml_node_t **out,
                             struct ta_err *err)
{
    *out = NULL;
    yaml_node_t *seq = map_get(doc, root, list);
    if (seq && seq->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = node_at(doc, *it);
            if (!slice_eq(scalar(map_get(doc, e, "name")), name))
                continue;
            yaml_node_t *in = map_get(doc, e, inner);
            if (!in || in->type != YAML_MAPPING_NODE)
                return ta_err_set(err, TA_INVALID, "kubeconfig %s: %s \"%.*s\" has no %s",
                                  doc->name, list, SLICE_ARG(name), inner);
            *out = in;
            return TA_OK;
        }
    } else if (seq && !(seq->type == YAML_SCALAR_NODE &&
                        (seq->data.scalar.length == 0 || slice_eq_cstr(scalar(seq), "null") ||
                         slice_eq_cstr(scalar(seq), "~")))) {
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: %s is not a list", doc->name, list);
    }
    return ta_err_set(err, TA_INVALID, "kubeconfig %s: %.*s \"%.*s\" not found", doc->name,
                      (int)strlen(inner), inner, SLICE_ARG(name));
}

/* Reads a file named by the kubeconfig (relative to its directory). */
static enum ta_rc read_ref(struct doc *doc, struct slice path, const char *what, uint8_t **out,
                           size_t *len, struct ta_err *err)
{
    struct buf full, data;
    buf_init(&full, KUBECONFIG_MAX_VALUE * 2 + 2);
    buf_init(&data, KUBECONFIG_MAX_PEM);
    enum ta_rc rc = TA_OK;
    if (path.len > 0 && path.ptr[0] != '/' && doc->dir && doc->dir[0]) {
        if (buf_adds(&full, doc->dir) != TA_OK || buf_addc(&full, '/') != TA_OK) {
            rc = ta_err_set(err, TA_TOO_LARGE, "kubeconfig %s: path too long", doc->name);
            goto out;
        }
    }
    if (buf_add_slice(&full, path) != TA_OK) {
        rc = ta_err_set(err, TA_TOO_LARGE, "kubeconfig %s: path too long", doc->name);
        goto out;
    }
    rc = file_read_all(buf_cstr(&full), KUBECONFIG_MAX_PEM, &data, err);
    if (rc != TA_OK) {
        ta_err_prefix(err, "kubeconfig %s: %s", doc->name, what);
        goto out;
    }
    if (data.len == 0) {
        rc = ta_err_set(err, TA_INVALID, "kubeconfig %s: %s %s is empty", doc->name, what,
                        buf_cstr(&full));
        goto out;
    }
    *out = (uint8_t *)buf_take(&data, len);
out:
    buf_free(&full);
    buf_free(&data);
    return rc;
}

/* Decodes base64 (whitespace ignored, as Go's decoder ignores CR and LF). */
static enum ta_rc decode_data(struct doc *doc, struct slice b64, const char *what, uint8_t **out,
                              size_t *len, struct ta_err *err)
{
    if (b64.len > KUBECONFIG_MAX_PEM * 4 / 3 + 8)
        return ta_err_set(err, TA_TOO_LARGE, "kubeconfig %s: %s larger than %u bytes", doc->name,
                          what, KUBECONFIG_MAX_PEM);
    char *clean = ta_xmalloc(b64.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < b64.len; i++) {
        char c = b64.ptr[i];
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t')
            clean[n++] = c;
    }
    uint8_t *bytes = ta_xmalloc(n / 4 * 3 + 4);
    struct ta_err e = { 0 };
    enum ta_rc rc = parse_base64(slice_make(clean, n), bytes, n / 4 * 3 + 3, len, &e);
    free(clean);
    if (rc != TA_OK) {
        free(bytes);
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: %s: %s", doc->name, what, e.msg);
    }
    *out = bytes;
    return TA_OK;
}

/* data wins when present; both given is client-go's validation error. */
static enum ta_rc data_or_file(struct doc *doc, yaml_node_t *m, const char *where,
                               const char *file_key, const char *data_key, const char *both_msg,
                               uint8_t **out, size_t *len, struct ta_err *err)
{
    struct slice file, data;
    enum ta_rc rc = get_str(doc, m, file_key, where, KUBECONFIG_MAX_VALUE, &file, err);
    if (rc == TA_OK)
        rc = get_str(doc, m, data_key, where, KUBECONFIG_MAX_PEM * 4 / 3 + 8, &data, err);
    if (rc != TA_OK)
        return rc;
    if (file.len && data.len)
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: %s", doc->name, both_msg);
    if (data.len)
        return decode_data(doc, data, data_key, out, len, err);
    if (file.len)
        return read_ref(doc, file, file_key, out, len, err);
    return TA_OK;
}

static enum ta_rc resolve(struct doc *doc, struct kubeconfig *k, struct ta_err *err)
{
    yaml_node_t *root = yaml_document_get_root_node(&doc->d);
    if (!root)
        return ta_err_set(err, TA_INVALID, "kubeconfig %s is empty", doc->name);
    if (root->type != YAML_MAPPING_NODE)
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: not a mapping", doc->name);
    struct slice cur, cname, uname, ns;
    enum ta_rc rc = get_str(doc, root, "current-context", "", KUBECONFIG_MAX_VALUE, &cur, err);
    if (rc != TA_OK)
        return rc;
    if (cur.len == 0)
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: current-context is not set", doc->name);
    yaml_node_t *ctx, *cluster, *user = NULL;
    rc = find_named(doc, root, "contexts", "context", cur, &ctx, err);
    if (rc != TA_OK)
        return rc;
    rc = get_str(doc, ctx, "cluster", "context", KUBECONFIG_MAX_VALUE, &cname, err);
    if (rc == TA_OK)
        rc = get_str(doc, ctx, "user", "context", KUBECONFIG_MAX_VALUE, &uname, err);
    if (rc == TA_OK)
        rc = get_str(doc, ctx, "namespace", "context", KUBECONFIG_MAX_VALUE, &ns, err);
    if (rc != TA_OK)
        return rc;
    if (cname.len == 0)
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: context \"%.*s\" has no cluster",
                          doc->name, SLICE_ARG(cur));
    rc = find_named(doc, root, "clusters", "cluster", cname, &cluster, err);
    if (rc != TA_OK)
        return rc;

    /* cluster */
    struct slice server;
    rc = get_str(doc, cluster, "server", "cluster", KUBECONFIG_MAX_VALUE, &server, err);
    if (rc != TA_OK)
        return rc;
    if (server.len == 0)
        return ta_err_set(err, TA_INVALID, "kubeconfig %s: no server found for cluster \"%.*s\"",
                          doc->name, SLICE_ARG(cname));
    if (!slice_starts_with(server, SLICE_LIT("https://")) &&
        !slice_starts_with(server, SLICE_LIT("http://")))
        return ta_err_set(err, TA_INVALID,
                          "kubeconfig %s: server \"%.*s\" is not an http(s):// URL", doc->name,
                          SLICE_ARG(server));
    while (server.len && server.ptr[server.len - 1] == '/')
        server.len--;
    k->server = ta_xstrndup(server.ptr, server.len);
    rc = get_bool(doc, cluster, "insecure-skip-tls-verify", "cluster", &k->insecure_skip_tls_verify,
                  err);
    if (rc == TA_OK)
        rc = data_or_file(doc, cluster, "cluster", "certificate-authority",
                          "certificate-authority-data",
                          "certificate-authority-data and certificate-authority are both "
                          "specified; certificate-authority-data will override.",
                          &k->ca_pem, &k->ca_pem_len, err);
    if (rc != TA_OK)
        return rc;
    if (k->insecure_skip_tls_verify && k->ca_pem)
        return ta_err_set(err, TA_INVALID,
                          "kubeconfig %s: specifying a root certificates file with the insecure "
                          "flag is not allowed",
                          doc->name);

    if (ns.len)
        k->namespace_ = ta_xstrndup(ns.ptr, ns.len);
    if (uname.len == 0)
        return TA_OK;
    rc = find_named(doc, root, "users", "user", uname, &user, err);
    if (rc != TA_OK)
        return rc;

    /* user */
    static const char *const unsupported[][2] = {
        { "exec", "exec credential plugins" },
        { "auth-provider", "auth-provider plugins" },
        { "username", "basic authentication" },
        { "password", "basic authentication" },
    };
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        yaml_node_t *n = map_get(doc, user, unsupported[i][0]);
        if (n && !(n->type == YAML_SCALAR_NODE &&
                   (n->data.scalar.length == 0 || slice_eq_cstr(scalar(n), "null"))))
            return ta_err_set(err, TA_INVALID,
                              "kubeconfig %s: user \"%.*s\": %s are not supported; use a token, "
                              "tokenFile or client certificate",
                              doc->name, SLICE_ARG(uname), unsupported[i][1]);
    }
    rc = data_or_file(doc, user, "user", "client-certificate", "client-certificate-data",
                      "client-cert-data and client-cert are both specified; client-cert-data "
                      "will override.",
                      &k->cert_pem, &k->cert_pem_len, err);
    if (rc == TA_OK)
        rc = data_or_file(doc, user, "user", "client-key", "client-key-data",
                          "client-key-data and client-key are both specified; client-key-data "
                          "will override",
                          &k->key_pem, &k->key_pem_len, err);
    if (rc != TA_OK)
        return rc;
    if (k->cert_pem && !k->key_pem)
        return ta_err_set(err, TA_INVALID,
                          "kubeconfig %s: client-key-data or client-key must be specified for "
                          "%.*s to use the clientCert authentication method.",
                          doc->name, SLICE_ARG(uname));
    if (k->key_pem && !k->cert_pem)
        return ta_err_set(err, TA_INVALID,
                          "kubeconfig %s: client-cert-data or client-cert must be specified for "
                          "%.*s to use the clientCert authentication method.",
                          doc->name, SLICE_ARG(uname));
    struct slice token, token_file;
    rc = get_str(doc, user, "token", "user", KUBECONFIG_MAX_TOKEN, &token, err);
    if (rc == TA_OK)
        rc = get_str(doc, user, "tokenFile", "user", KUBECONFIG_MAX_VALUE, &token_file, err);
    if (rc != TA_OK)
        return rc;
    if (token.len)
        k->token = ta_xstrndup(token.ptr, token.len);
    if (token_file.len) {
        if (token_file.ptr[0] == '/' || !doc->dir || !doc->dir[0]) {
            k->token_file = ta_xstrndup(token_file.ptr, token_file.len);
        } else {
            size_t dl = strlen(doc->dir);
            k->token_file = ta_xmalloc(dl + 1 + token_file.len + 1);
            memcpy(k->token_file, doc->dir, dl);
            k->token_file[dl] = '/';
            memcpy(k->token_file + dl + 1, token_file.ptr, token_file.len);
            k->token_file[dl + 1 + token_file.len] = '\0';
        }
    }
    return TA_OK;
}

enum ta_rc kubeconfig_parse(struct slice yaml, const char *dir, const char *name,
                            struct kubeconfig **out, struct ta_err *err)
{
    *out = NULL;
    if (yaml.len > KUBECONFIG_MAX_BYTES)
        return ta_err_set(err, TA_TOO_LARGE, "kubeconfig %s is larger than %u bytes", name,
                          KUBECONFIG_MAX_BYTES);
    yaml_parser_t parser;
    struct doc doc = { .name = name, .dir = dir };
    bool loaded = false;
    enum ta_rc rc = TA_OK;
    struct kubeconfig *k = ta_xcalloc(1, sizeof(*k));
    if (!yaml_parser_initialize(&parser))
        return ta_err_set(err, TA_INTERNAL, "libyaml: cannot initialize a parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml.ptr ? yaml.ptr : ""),
                                 yaml.len);
    if (!yaml_parser_load(&parser, &doc.d)) {
        rc =
            ta_err_set(err, TA_INVALID, "kubeconfig %s:%zu: %s", name, parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "malformed YAML");
        goto out;
    }
    loaded = true;
    rc = resolve(&doc, k, err);
    if (rc != TA_OK)
        goto out;
    char src[KUBECONFIG_MAX_VALUE + 64];
    struct slice cur =
        scalar(map_get(&doc, yaml_document_get_root_node(&doc.d), "current-context"));
    snprintf(src, sizeof(src), "kubeconfig %s (context %.*s)", name, SLICE_ARG(cur));
    k->source = ta_xstrdup(src);
    *out = k;
    k = NULL;
out:
    if (loaded)
        yaml_document_delete(&doc.d);
    yaml_parser_delete(&parser);
    kubeconfig_free(k);
    return rc;
}

enum ta_rc kubeconfig_load(const char *path, struct kubeconfig **out, struct ta_err *err)
{
    *out = NULL;
    struct buf text;
    buf_init(&text, KUBECONFIG_MAX_BYTES);
    enum ta_rc rc = file_read_all(path, KUBECONFIG_MAX_BYTES, &text, err);
    if (rc != TA_OK) {
        buf_free(&text);
        return ta_err_prefix(err, "kubeconfig");
    }
    char *dir = ta_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        dir[0] = '\0';
    rc = kubeconfig_parse(buf_slice(&text), dir, path, out, err);
    free(dir);
    buf_free(&text);
    return rc;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    if (!p)
        return NULL;
    uint8_t *c = ta_xmalloc(n + 1);
    memcpy(c, p, n);
    c[n] = 0;
    return c;
}

static char *dup_str(const char *s)
{
    return s ? ta_xstrdup(s) : NULL;
}

struct kubeconfig *kubeconfig_clone(const struct kubeconfig *k)
{
    struct kubeconfig *c = ta_xcalloc(1, sizeof(*c));
    c->server = dup_str(k->server);
    c->ca_pem = dup_bytes(k->ca_pem, k->ca_pem_len);
    c->ca_pem_len = k->ca_pem_len;
    c->cert_pem = dup_bytes(k->cert_pem, k->cert_pem_len);
    c->cert_pem_len = k->cert_pem_len;
    c->key_pem = dup_bytes(k->key_pem, k->key_pem_len);
    c->key_pem_len = k->key_pem_len;
    c->token = dup_str(k->token);
    c->token_file = dup_str(k->token_file);
    c->insecure_skip_tls_verify = k->insecure_skip_tls_verify;
    c->namespace_ = dup_str(k->namespace_);
    c->source = dup_str(k->source);
    return c;
}

static void wipe_free(void *p, size_t n)
{
    if (!p)
        return;
    explicit_bzero(p, n);
    free(p);
}

void kubeconfig_free(struct kubeconfig *k)
{
    if (!k)
        return;
    free(k->server);
    free(k->ca_pem);
    free(k->cert_pem);
    wipe_free(k->key_pem, k->key_pem_len);
    wipe_free(k->token, k->token ? strlen(k->token) : 0);
    free(k->token_file);
    free(k->namespace_);
    free(k->source);
    free(k);
}
