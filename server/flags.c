/* flags.c — the flag table, argv parsing and --help.
 *
 * One table row per flag gives its name, kind, field offset, default and help line, so parsing,
 * defaults and --help cannot drift apart. Called once by main before threads start. */
#include "server/flags.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/parse.h"
#include "apis/base/slice.h"
#include "apis/base/ta_mem.h"

enum flag_kind {
    FLAG_STRING,   /* char * */
    FLAG_INT,      /* int, with range */
    FLAG_I64,      /* int64_t, with range */
    FLAG_DURATION, /* int64_t nanoseconds */
    FLAG_BOOL,     /* bool: "--x", "--x=true|false" */
    FLAG_LIST,     /* struct flag_list: comma-separated, may repeat */
    FLAG_REPEAT,   /* struct flag_list: one item per occurrence (values may hold commas) */
};

struct flag_def {
    const char *name; /* without the leading dashes */
    enum flag_kind kind;
    size_t offset;
    const char *def; /* default as text ("" = none) */
    int64_t min, max;
    const char *help;
};

#define F(field) offsetof(struct flags, field)
#define DAY_NS   (86400LL * 1000000000LL)

static const struct flag_def FLAGS[] = {
    { "config", FLAG_STRING, F(config), "", 0, 0,
      "rules file (YAML); without it the built-in default rules are used" },
    { "secure-port", FLAG_INT, F(secure_port), "6443", 1, 65535, "HTTPS port of the API" },
    { "bind-address", FLAG_STRING, F(bind_address), "0.0.0.0", 0, 0,
      "address the HTTPS API listens on (0.0.0.0 or :: for all)" },
    { "tls-cert-file", FLAG_STRING, F(tls_cert_file), "", 0, 0,
      "serving certificate (PEM, may hold the chain); without it a self-signed one is made" },
    { "tls-private-key-file", FLAG_STRING, F(tls_private_key_file), "", 0, 0,
      "private key of --tls-cert-file (PEM)" },
    { "cert-dir", FLAG_STRING, F(cert_dir), "apiserver.local.config/certificates", 0, 0,
      "directory for the generated self-signed certificate (reused on restart)" },
    { "tls-sans", FLAG_LIST, F(tls_sans), "", 0, 0,
      "extra DNS names or IPs for the self-signed certificate, comma-separated" },
    { "manage-serving-cert", FLAG_BOOL, F(manage_serving_cert), "false", 0, 0,
      "keep a CA and serving certificate in a Secret and the CA in the APIService caBundle" },
    { "serving-cert-secret", FLAG_STRING, F(serving_cert_secret), "tempo-adapter-serving-cert", 0,
      0, "Secret that holds the managed CA and serving certificate" },
    { "service-name", FLAG_STRING, F(service_name), "tempo-adapter", 0, 0,
      "name of the adapter's Service (serving certificate SANs)" },
    { "service-namespace", FLAG_STRING, F(service_namespace), "", 0, 0,
      "namespace of the adapter's Service; default: the pod's namespace, else tempo-adapter" },
    { "apiservice-name", FLAG_STRING, F(apiservice_name), "v1beta1.external.metrics.k8s.io", 0, 0,
      "APIService whose caBundle --manage-serving-cert keeps current" },
    { "client-ca-file", FLAG_STRING, F(client_ca_file), "", 0, 0,
      "CA bundle for client certificates; default: from extension-apiserver-authentication" },
    { "requestheader-client-ca-file", FLAG_STRING, F(requestheader_client_ca_file), "", 0, 0,
      "CA bundle of the front proxy; default: from extension-apiserver-authentication" },
    { "requestheader-allowed-names", FLAG_LIST, F(requestheader_allowed_names), "", 0, 0,
      "front-proxy certificate CNs allowed (empty: any); default: from the ConfigMap" },
    { "requestheader-username-headers", FLAG_LIST, F(requestheader_username_headers), "", 0, 0,
      "user name headers; default: from the ConfigMap, else x-remote-user" },
    { "requestheader-group-headers", FLAG_LIST, F(requestheader_group_headers), "", 0, 0,
      "group headers; default: from the ConfigMap, else x-remote-group" },
    { "requestheader-extra-headers-prefix", FLAG_LIST, F(requestheader_extra_headers_prefix), "", 0,
      0, "extra-attribute header prefixes; default: from the ConfigMap, else x-remote-extra-" },
    { "requestheader-uid-headers", FLAG_LIST, F(requestheader_uid_headers), "", 0, 0,
      "uid headers; default: from the ConfigMap, else none" },
    { "kubeconfig", FLAG_STRING, F(kubeconfig), "", 0, 0,
      "kubeconfig for kube-apiserver; default: in-cluster service account" },
    { "authorization-always-allow-paths", FLAG_LIST, F(authorization_always_allow_paths),
      "/healthz,/readyz,/livez", 0, 0, "paths served without authentication or authorization" },
    { "insecure-disable-auth", FLAG_BOOL, F(insecure_disable_auth), "false", 0, 0,
      "serve every request without authentication (local use only; logged every minute)" },
    { "tempo-url", FLAG_STRING, F(tempo_url), "", 0, 0,
      "Tempo query base URL (may have a path); without it the embedded store is used" },
    { "tempo-tenant", FLAG_STRING, F(tempo_tenant), "", 0, 0, "X-Scope-OrgID sent to Tempo" },
    { "tempo-bearer-token-file", FLAG_STRING, F(tempo_bearer_token_file), "", 0, 0,
      "file with a bearer token for Tempo (re-read when it changes)" },
    { "tempo-basic-auth-file", FLAG_STRING, F(tempo_basic_auth_file), "", 0, 0,
      "file with user:password for Tempo Basic authentication" },
    { "tempo-header", FLAG_REPEAT, F(tempo_headers), "", 0, 0,
      "extra header K=V sent to Tempo (repeatable)" },
    { "tempo-ca-file", FLAG_STRING, F(tempo_ca_file), "", 0, 0,
      "CA bundle to verify Tempo's certificate" },
    { "tempo-client-cert-file", FLAG_STRING, F(tempo_client_cert_file), "", 0, 0,
      "client certificate presented to Tempo" },
    { "tempo-client-key-file", FLAG_STRING, F(tempo_client_key_file), "", 0, 0,
      "key of --tempo-client-cert-file" },
    { "tempo-insecure-skip-verify", FLAG_BOOL, F(tempo_insecure_skip_verify), "false", 0, 0,
      "do not verify Tempo's certificate" },
    { "tempo-timeout", FLAG_DURATION, F(tempo_timeout_ns), "30s", 1000000LL, DAY_NS,
      "time-out of one Tempo request" },
    { "tempo-max-concurrency", FLAG_INT, F(tempo_max_concurrency), "8", 1, 1024,
      "Tempo requests in flight at once, across all rules" },
    { "query-delay", FLAG_DURATION, F(query_delay_ns), "", 0, DAY_NS,
      "window end is this far before the aligned now (default 30s with Tempo, 5s embedded)" },
    { "otlp-bind-address", FLAG_STRING, F(otlp_bind_address), "127.0.0.1:4318", 0, 0,
      "host:port of the embedded OTLP/HTTP receiver (\"\" disables it)" },
    { "embedded-max-spans", FLAG_I64, F(embedded_max_spans), "2000000", 1000, 1000000000LL,
      "spans the embedded store keeps at most (oldest dropped first)" },
    { "evaluation-workers", FLAG_INT, F(workers), "4", 1, 256,
      "threads that evaluate rules in the background" },
    { "v", FLAG_INT, F(verbosity), "0", 0, 10, "log verbosity (also -v N)" },
    { "log-format", FLAG_STRING, F(log_format), "text", 0, 0, "text (klog) or json" },
    { "version", FLAG_BOOL, F(show_version), "false", 0, 0, "print the version and exit" },
    { "help", FLAG_BOOL, F(show_help), "false", 0, 0, "print this help and exit" },
};

#define NFLAGS (sizeof(FLAGS) / sizeof(FLAGS[0]))

static void *field(struct flags *f, const struct flag_def *d)
{
    return (char *)f + d->offset;
}

static void list_add(struct flag_list *l, struct slice item)
{
    l->items = ta_xreallocarray(l->items, l->n + 1, sizeof(char *));
    l->items[l->n++] = ta_xstrndup(item.ptr, item.len);
}

static void list_clear(struct flag_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static enum ta_rc set_bool(bool *out, struct slice v, struct ta_err *err)
{
    if (slice_eq_cstr(v, "true") || slice_eq_cstr(v, "1"))
        *out = true;
    else if (slice_eq_cstr(v, "false") || slice_eq_cstr(v, "0"))
        *out = false;
    else
        return ta_err_set(err, TA_INVALID, "'" SLICE_FMT "' is not true or false", SLICE_ARG(v));
    return TA_OK;
}

/* Stores value v into the field of d (lists append; see reset_default_lists). */
static enum ta_rc set_value(struct flags *f, const struct flag_def *d, struct slice v,
                            struct ta_err *err)
{
    void *p = field(f, d);
    switch (d->kind) {
    case FLAG_STRING: {
        /* "" means "not given" for optional strings (a Deployment may pass --tempo-url=$(URL)
         * with an empty variable); flags with a default keep "" as a real value */
        char **s = p;
        free(*s);
        *s = v.len || d->def[0] ? ta_xstrndup(v.ptr, v.len) : NULL;
        return TA_OK;
    }
    case FLAG_INT: {
        int64_t x;
        enum ta_rc rc = parse_i64(v, d->min, d->max, &x, err);
        if (rc == TA_OK)
            *(int *)p = (int)x;
        return rc;
    }
    case FLAG_I64:
        return parse_i64(v, d->min, d->max, (int64_t *)p, err);
    case FLAG_DURATION:
        return parse_duration_ns(v, d->min, d->max, (int64_t *)p, err);
    case FLAG_BOOL:
        return set_bool((bool *)p, v, err);
    case FLAG_LIST: {
        struct flag_list *l = p;
        struct slice rest = v;
        bool more = true;
        while (more) {
            struct slice item;
            rest = slice_cut(rest, ',', &item, &more);
            item = slice_trim(item);
            if (item.len == 0)
                continue;
            if (l->n >= FLAGS_MAX_LIST)
                return ta_err_set(err, TA_INVALID, "more than %d entries", FLAGS_MAX_LIST);
            list_add(l, item);
        }
        return TA_OK;
    }
    case FLAG_REPEAT: {
        struct flag_list *l = p;
        if (l->n >= FLAGS_MAX_LIST)
            return ta_err_set(err, TA_INVALID, "given more than %d times", FLAGS_MAX_LIST);
        list_add(l, v);
        return TA_OK;
    }
    }
    return ta_err_set(err, TA_INTERNAL, "unknown flag kind");
}

static const struct flag_def *find(struct slice name)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (slice_eq_cstr(name, FLAGS[i].name))
            return &FLAGS[i];
    return NULL;
}

static enum ta_rc apply_defaults(struct flags *f, struct ta_err *err)
{
    memset(f, 0, sizeof(*f));
    f->query_delay_ns = -1; /* unset: the source chooses */
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag_def *d = &FLAGS[i];
        if (!d->def[0] && d->kind != FLAG_STRING)
            continue;
        if (d->kind == FLAG_STRING && !d->def[0])
            continue; /* NULL means "not given" */
        enum ta_rc rc = set_value(f, d, slice_from_cstr(d->def), err);
        if (rc != TA_OK)
            return ta_err_prefix(err, "default of --%s", d->name);
    }
    return TA_OK;
}

/* The default list of a FLAG_LIST is replaced, not extended, by the first explicit use. */
static void reset_default_lists(struct flags *f, bool *touched, const struct flag_def *d)
{
    size_t i = (size_t)(d - FLAGS);
    if (d->kind == FLAG_LIST && !touched[i])
        list_clear(field(f, d));
    touched[i] = true;
}

enum ta_rc flags_parse(int argc, char **argv, struct flags *f, struct ta_err *err)
{
    bool touched[NFLAGS] = { false };
    enum ta_rc rc = apply_defaults(f, err);
    if (rc != TA_OK)
        return rc;
    for (int i = 1; i < argc; i++) {
        struct slice arg = slice_from_cstr(argv[i]);
        struct slice body;
        if (slice_starts_with(arg, SLICE_LIT("--")))
            body = slice_skip(arg, 2);
        else if (slice_starts_with(arg, SLICE_LIT("-")) && arg.len > 1)
            body = slice_skip(arg, 1); /* -v 4, -v=4 */
        else
            return ta_err_set(err, TA_INVALID, "unexpected argument '%.*s' (flags start with --)",
                              64, argv[i]);
        struct slice name;
        bool has_value;
        struct slice value = slice_cut(body, '=', &name, &has_value);
        const struct flag_def *d = find(name);
        if (!d || (arg.ptr[1] != '-' && !slice_eq_cstr(name, "v") && !slice_eq_cstr(name, "h")))
            return ta_err_set(err, TA_INVALID, "unknown flag %.*s (see --help)", 64, argv[i]);
        if (!has_value) {
            if (d->kind == FLAG_BOOL) {
                value = SLICE_LIT("true");
            } else if (i + 1 < argc) {
                value = slice_from_cstr(argv[++i]);
            } else {
                return ta_err_set(err, TA_INVALID, "flag --%s needs a value", d->name);
            }
        }
        reset_default_lists(f, touched, d);
        rc = set_value(f, d, value, err);
        if (rc != TA_OK)
            return ta_err_prefix(err, "--%s", d->name);
    }
    if (f->log_format && strcmp(f->log_format, "text") != 0 && strcmp(f->log_format, "json") != 0)
        return ta_err_set(err, TA_INVALID, "--log-format: '%.16s' is not text or json",
                          f->log_format);
    if ((f->tls_cert_file == NULL) != (f->tls_private_key_file == NULL))
        return ta_err_set(err, TA_INVALID,
                          "--tls-cert-file and --tls-private-key-file must be given together");
    if ((f->tempo_client_cert_file == NULL) != (f->tempo_client_key_file == NULL))
        return ta_err_set(err, TA_INVALID,
                          "--tempo-client-cert-file and --tempo-client-key-file must be given "
                          "together");
    for (size_t i = 0; i < f->tempo_headers.n; i++) {
        const char *h = f->tempo_headers.items[i];
        const char *eq = strchr(h, '=');
        if (!eq || eq == h)
            return ta_err_set(err, TA_INVALID, "--tempo-header: '%.64s' is not K=V", h);
    }
    return TA_OK;
}

void flags_free(struct flags *f)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag_def *d = &FLAGS[i];
        void *p = field(f, d);
        if (d->kind == FLAG_STRING) {
            free(*(char **)p);
            *(char **)p = NULL;
        } else if (d->kind == FLAG_LIST || d->kind == FLAG_REPEAT) {
            list_clear(p);
        }
    }
}

void flags_usage(FILE *out)
{
    fputs("Usage: tempo-adapter [flags]\n\n"
          "Serves external.metrics.k8s.io/v1beta1 with values computed from traces (Grafana "
          "Tempo, or the embedded OTLP store).\nEvery flag may be written --flag value or "
          "--flag=value.\n\n",
          out);
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag_def *d = &FLAGS[i];
        const char *arg = "";
        switch (d->kind) {
        case FLAG_STRING:
            arg = " string";
            break;
        case FLAG_INT:
        case FLAG_I64:
            arg = " int";
            break;
        case FLAG_DURATION:
            arg = " duration";
            break;
        case FLAG_LIST:
            arg = " strings";
            break;
        case FLAG_REPEAT:
            arg = " K=V";
            break;
        case FLAG_BOOL:
            break;
        }
        fprintf(out, "  --%s%s\n        %s", d->name, arg, d->help);
        if (d->def[0] && !(d->kind == FLAG_BOOL && strcmp(d->def, "false") == 0))
            fprintf(out, " (default %s)", d->def);
        fputc('\n', out);
    }
}
