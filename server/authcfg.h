/* authcfg.h — the authentication configuration: CA pools, allowed front-proxy names, header
 * names; built from kube-system/extension-apiserver-authentication and the flags.
 *
 * server/auth.c reads the ConfigMap at start and every few minutes, calls authcfg_build and
 * publishes the new snapshot when its digest differs from the current one; server/authn.c reads
 * a snapshot per request. Precedence per field: the flag when given, else the ConfigMap value
 * when present and non-empty, else the Go default (x-remote-user, x-remote-group,
 * x-remote-extra-; no uid headers; any CN; no client CA). List values in the ConfigMap are
 * JSON arrays encoded as strings (spec §12.1). A snapshot is immutable after authcfg_build and
 * reference counted: any thread may read it while holding a reference. */
#ifndef TA_SERVER_AUTHCFG_H
#define TA_SERVER_AUTHCFG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "server/flags.h"

#define AUTHCFG_CONFIGMAP_PATH \
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
#define AUTHCFG_CONFIGMAP_NAME "kube-system/extension-apiserver-authentication"

#define AUTHCFG_CONFIGMAP_MAX (4u << 20) /* the ConfigMap object; kubeadm's is ~5 KiB */
#define AUTHCFG_PEM_MAX       (1u << 20) /* one CA bundle (file or ConfigMap value) */
#define AUTHCFG_MAX_CERTS     256        /* certificates in one bundle */
#define AUTHCFG_MAX_LIST      64         /* entries of a name or header list */
#define AUTHCFG_MAX_ITEM      256        /* bytes of one header name, prefix or allowed CN */

struct authcfg_list {
    char **items;
    size_t n;
};

struct authcfg {
    X509_STORE *client_ca;        /* NULL: client certificates are not an authentication method */
    X509_STORE *requestheader_ca; /* NULL: the front-proxy method is off */
    struct authcfg_list allowed_names;    /* exact CNs; empty = any CN */
    struct authcfg_list username_headers; /* first non-empty wins */
    struct authcfg_list group_headers;    /* every value of every line */
    struct authcfg_list extra_prefixes;   /* X-Remote-Extra-<key> */
    struct authcfg_list uid_headers;      /* empty: no uid */
    uint8_t digest[32];  /* SHA-256 of every resolved input: equal digests = same config */
    uint64_t generation; /* set by the publisher before sharing; part of cache keys */
    char summary[256];   /* where each part came from, for the startup and reload lines */
    atomic_int refs;
};

/* True unless both --client-ca-file and --requestheader-client-ca-file were given (then, as in
 * Go, the ConfigMap is not read at all). */
bool authcfg_needs_configmap(const struct flags *f);

/* Builds a snapshot (refs = 1, generation 0) from the flags — CA files are read now — and the
 * ConfigMap object as kube-apiserver returned it (SLICE_NULL when not read). TA_INVALID for a
 * malformed ConfigMap, list value or PEM bundle, TA_TOO_LARGE past a limit, TA_IO or
 * TA_NOT_FOUND for a flag file; the message names the key or file. */
enum ta_rc authcfg_build(const struct flags *f, struct slice configmap_json, struct authcfg **out,
                         struct ta_err *err);
/* +1 reference; returns c. */
struct authcfg *authcfg_ref(struct authcfg *c);
/* -1 reference; the last one frees. NULL is fine. */
void authcfg_unref(struct authcfg *c);

/* Parses a PEM bundle (at most AUTHCFG_PEM_MAX bytes, AUTHCFG_MAX_CERTS certificates; blocks
 * other than CERTIFICATE are skipped) into a new store; *ncerts gets the count. TA_INVALID when
 * it holds no certificate or a malformed one. Exposed for tests and the bench helper. */
enum ta_rc authcfg_pem_store(struct slice pem, X509_STORE **out, size_t *ncerts,
                             struct ta_err *err);

#endif
