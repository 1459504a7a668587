/* flags.h — command-line flags: the table, parsing (--flag value and --flag=value), --help.
 *
 * main() parses argv once into a struct flags before any thread starts; the result is part of
 * the immutable config snapshot afterwards. Names follow prometheus-adapter and the Kubernetes
 * generic API server (DESIGN.md "Flags"). An unknown flag or a bad value is one clear line and
 * exit code 2 (main's job). */
#ifndef TA_SERVER_FLAGS_H
#define TA_SERVER_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "apis/base/ta_err.h"

#define FLAGS_MAX_LIST 64 /* entries of a repeatable or comma-separated flag */

struct flag_list {
    char **items;
    size_t n;
};

struct flags {
    /* rules and serving */
    char *config;               /* --config: rules file; NULL = the embedded default rules */
    int secure_port;            /* --secure-port (6443) */
    char *bind_address;         /* --bind-address ("0.0.0.0"; "::" also accepted) */
    char *tls_cert_file;        /* --tls-cert-file */
    char *tls_private_key_file; /* --tls-private-key-file */
    char *cert_dir;             /* --cert-dir (self-signed certificate written here) */
    struct flag_list tls_sans;  /* --tls-sans: extra DNS names / IPs, comma-separated */
    bool manage_serving_cert;   /* --manage-serving-cert */
    char *serving_cert_secret;  /* --serving-cert-secret (tempo-adapter-serving-cert) */
    char *service_name;         /* --service-name (tempo-adapter): for SANs and managed certs */
    char *service_namespace;    /* --service-namespace (tempo-adapter, or the pod's namespace) */
    char *apiservice_name;      /* --apiservice-name (v1beta1.external.metrics.k8s.io) */

    /* authentication and authorization delegation */
    char *client_ca_file;               /* --client-ca-file */
    char *requestheader_client_ca_file; /* --requestheader-client-ca-file */
    /* The requestheader lists are empty when not given on the command line: auth then takes
     * them from the extension-apiserver-authentication ConfigMap, and falls back to Go's
     * defaults (x-remote-user, x-remote-group, x-remote-extra-, no uid header). */
    struct flag_list requestheader_allowed_names;        /* --requestheader-allowed-names */
    struct flag_list requestheader_username_headers;     /* --requestheader-username-headers */
    struct flag_list requestheader_group_headers;        /* --requestheader-group-headers */
    struct flag_list requestheader_extra_headers_prefix; /* --requestheader-extra-headers-prefix */
    struct flag_list requestheader_uid_headers;          /* --requestheader-uid-headers */
    char *kubeconfig;                                    /* --kubeconfig; NULL = in-cluster */
    struct flag_list authorization_always_allow_paths;   /* default /healthz,/readyz,/livez (set) */
    bool insecure_disable_auth;                          /* --insecure-disable-auth */

    /* trace sources */
    char *tempo_url;                 /* --tempo-url; NULL = embedded store */
    char *tempo_tenant;              /* --tempo-tenant (X-Scope-OrgID) */
    char *tempo_bearer_token_file;   /* --tempo-bearer-token-file */
    char *tempo_basic_auth_file;     /* --tempo-basic-auth-file (user:password) */
    struct flag_list tempo_headers;  /* --tempo-header K=V, repeatable */
    char *tempo_ca_file;             /* --tempo-ca-file */
    char *tempo_client_cert_file;    /* --tempo-client-cert-file */
    char *tempo_client_key_file;     /* --tempo-client-key-file */
    bool tempo_insecure_skip_verify; /* --tempo-insecure-skip-verify */
    int64_t tempo_timeout_ns;        /* --tempo-timeout (30s) per request */
    int tempo_max_concurrency;       /* --tempo-max-concurrency (8) requests in flight */
    int64_t query_delay_ns;          /* --query-delay (30s with Tempo, 5s embedded); <0 = unset */
    char *otlp_bind_address;         /* --otlp-bind-address (127.0.0.1:4318); "" disables */
    int64_t embedded_max_spans;      /* --embedded-max-spans (2000000) */

    /* process */
    int verbosity;    /* -v / --v */
    char *log_format; /* --log-format text|json */
    int workers;      /* --evaluation-workers (4): cache evaluation threads */
    bool show_version;
    bool show_help;
};

/* Parses argv (argv[0] skipped) into *f with defaults applied first. On TA_INVALID err->msg is
 * one line such as "unknown flag --tempo-ulr" or "--secure-port: 70000 is out of range
 * [1, 65535]". On any result flags_free(f) releases what was set. */
enum ta_rc flags_parse(int argc, char **argv, struct flags *f, struct ta_err *err);
void flags_free(struct flags *f);
/* Writes the --help text: every flag with its default and one line of meaning. */
void flags_usage(FILE *out);

#endif
