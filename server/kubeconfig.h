/* kubeconfig.h — the client configuration for kube-apiserver: a kubeconfig file (libyaml), or
 * the same shape filled from the in-cluster service account by server/kube_client.c.
 *
 * Only the current context is resolved, as client-go does: its cluster (server,
 * certificate-authority[-data], insecure-skip-tls-verify) and its user (client-certificate
 * [-data], client-key[-data], token, tokenFile). Relative paths are relative to the
 * kubeconfig's directory; base64 data is decoded into memory (handed to libcurl as blobs).
 * exec and auth-provider users, and basic auth, are rejected with a clear message. Called once
 * at start by server/auth.c; the result is immutable afterwards. */
#ifndef TA_SERVER_KUBECONFIG_H
#define TA_SERVER_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

#define KUBECONFIG_MAX_BYTES (4u << 20)  /* the file; kubeconfigs of many clusters stay < 1 MiB */
#define KUBECONFIG_MAX_PEM   (1u << 20)  /* one certificate, key or CA bundle (file or data) */
#define KUBECONFIG_MAX_VALUE 4096        /* a name, server URL or path */
#define KUBECONFIG_MAX_TOKEN (64 * 1024) /* a static token */

struct kubeconfig {
    char *server;    /* "https://host:port[/prefix]" without a trailing '/' */
    uint8_t *ca_pem; /* NULL: the system's CAs */
    size_t ca_pem_len;
    uint8_t *cert_pem; /* client certificate; NULL when none */
    size_t cert_pem_len;
    uint8_t *key_pem; /* its key; set exactly when cert_pem is */
    size_t key_pem_len;
    char *token;      /* static bearer token; NULL when none */
    char *token_file; /* re-read when it changes; wins over token (client-go) */
    bool insecure_skip_tls_verify;
    char *namespace_; /* the context's namespace, or NULL */
    char *source;     /* for log lines: "kubeconfig /p (context c)" or "in-cluster config" */
};

/* Reads and resolves path (at most KUBECONFIG_MAX_BYTES). On TA_OK the caller owns *out
 * (kubeconfig_free). Errors name the file and the entry ("kubeconfig /p: context \"x\" not
 * found"); TA_NOT_FOUND/TA_IO for unreadable files, TA_INVALID for bad content. */
enum ta_rc kubeconfig_load(const char *path, struct kubeconfig **out, struct ta_err *err);
/* The same from bytes; dir resolves relative paths; name is used in messages. */
enum ta_rc kubeconfig_parse(struct slice yaml, const char *dir, const char *name,
                            struct kubeconfig **out, struct ta_err *err);
/* Deep copy. */
struct kubeconfig *kubeconfig_clone(const struct kubeconfig *k);
/* Frees everything; NULL is fine. */
void kubeconfig_free(struct kubeconfig *k);

#endif
