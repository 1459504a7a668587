/* auth.c — the auth facade: owns the kube-apiserver clients, the current authentication
 * configuration and its refresher thread, the authenticator and the authorizer.
 *
 * The refresher re-reads kube-system/extension-apiserver-authentication (and the CA files given
 * by flag) every AUTH_CONFIGMAP_REFRESH_NS, and with back-off (1 s doubling to 30 s) while that
 * fails; a snapshot whose digest equals the current one is dropped, a new one is published
 * under shared.mu with the next generation. A failed read keeps the previous snapshot. Request
 * threads take a reference under shared.mu and release it after the check; no lock is held
 * while authenticating or authorizing. */
#include "server/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "server/authcfg.h"
#include "server/authn.h"
#include "server/authz.h"
#include "server/kube_client.h"
#include "server/kubeconfig.h"

#define RETRY_FIRST_NS (1LL * NS_PER_SEC)
#define NO_REASON      "the subjectaccessreview did not allow it (no reason given)"

struct auth {
    bool disabled; /* --insecure-disable-auth */
    char **exact;  /* always-allowed paths without the leading '/' */
    size_t nexact;
    char **prefixes; /* entries that ended in '*', without it */
    size_t nprefixes;
    struct flags f; /* owned copy of the auth flags only (CA files and lists) */
    bool needs_configmap;
    int64_t refresh_ns;
    struct kube_client *kc;    /* reviews: Go's retries */
    struct kube_client *kc_cm; /* ConfigMap reads: one attempt, the refresher retries */
    struct authn *an;
    struct authz *az;
    pthread_t refresher;
    bool refresher_started;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; wakes the refresher on stop */
    struct {
        pthread_mutex_t mu;
        struct authcfg *cfg;            /* guarded by mu; NULL until the first success */
        char cfg_error[TA_ERR_MSG_MAX]; /* guarded by mu; why the last read failed, or "" */
        uint64_t generation;            /* guarded by mu */
        bool stop;                      /* guarded by mu */
    } shared;
};

/* ---- flags copy ---------------------------------------------------------------------------- */

static void copy_list(struct flag_list *dst, const struct flag_list *src)
{
    dst->n = src->n;
    dst->items = src->n ? ta_xcalloc(src->n, sizeof(char *)) : NULL;
    for (size_t i = 0; i < src->n; i++)
        dst->items[i] = ta_xstrdup(src->items[i]);
}

static void free_list(struct flag_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
}

static void copy_auth_flags(struct flags *dst, const struct flags *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->client_ca_file = src->client_ca_file ? ta_xstrdup(src->client_ca_file) : NULL;
    dst->requestheader_client_ca_file =
        src->requestheader_client_ca_file ? ta_xstrdup(src->requestheader_client_ca_file) : NULL;
    copy_list(&dst->requestheader_allowed_names, &src->requestheader_allowed_names);
    copy_list(&dst->requestheader_username_headers, &src->requestheader_username_headers);
    copy_list(&dst->requestheader_group_headers, &src->requestheader_group_headers);
    copy_list(&dst->requestheader_extra_headers_prefix, &src->requestheader_extra_headers_prefix);
    copy_list(&dst->requestheader_uid_headers, &src->requestheader_uid_headers);
}

static void free_auth_flags(struct flags *f)
{
    free(f->client_ca_file);
    free(f->requestheader_client_ca_file);
    free_list(&f->requestheader_allowed_names);
    free_list(&f->requestheader_username_headers);
    free_list(&f->requestheader_group_headers);
    free_list(&f->requestheader_extra_headers_prefix);
    free_list(&f->requestheader_uid_headers);
}

/* ---- always-allowed paths ------------------------------------------------------------------ */

/* Go's NewAlwaysAllowPathAuthorizer: leading '/' dropped, "" matches "/", only a trailing '*'. */
static enum ta_rc always_allow_parse(struct auth *a, const struct flag_list *l, struct ta_err *err)
{
    static const char *const def[] = { "/healthz", "/readyz", "/livez" };
    size_t n = l->n ? l->n : 3;
    for (size_t i = 0; i < n; i++) {
        const char *p = l->n ? l->items[i] : def[i];
        if (p[0] == '/')
            p++;
        size_t len = strlen(p);
        const char *star = memchr(p, '*', len);
        if (star && star != p + len - 1)
            return ta_err_set(err, TA_INVALID,
                              "--authorization-always-allow-paths: only trailing * allowed in "
                              "\"%s\"",
                              l->n ? l->items[i] : def[i]);
        if (star) {
            a->prefixes = ta_xreallocarray(a->prefixes, a->nprefixes + 1, sizeof(char *));
            a->prefixes[a->nprefixes++] = ta_xstrndup(p, len - 1);
        } else {
            a->exact = ta_xreallocarray(a->exact, a->nexact + 1, sizeof(char *));
            a->exact[a->nexact++] = ta_xstrdup(p);
        }
    }
    return TA_OK;
}

bool auth_always_allowed(const struct auth *a, struct slice path)
{
    if (path.len && path.ptr[0] == '/')
        path = slice_skip(path, 1);
    for (size_t i = 0; i < a->nexact; i++)
        if (slice_eq_cstr(path, a->exact[i]))
            return true;
    for (size_t i = 0; i < a->nprefixes; i++)
        if (slice_starts_with(path, slice_from_cstr(a->prefixes[i])))
            return true;
    return false;
}

/* ---- configuration refresh ----------------------------------------------------------------- */

/* One read and build; publishes on change. Returns TA_OK when a configuration is current. */
static enum ta_rc refresh_once(struct auth *a)
{
    struct buf body;
    buf_init(&body, AUTHCFG_CONFIGMAP_MAX);
    struct ta_err e = { 0 };
    struct authcfg *cfg = NULL;
    struct slice cm = SLICE_NULL;
    enum ta_rc rc = TA_OK;
    if (a->needs_configmap) {
        long status = 0;
        rc =
            kube_client_do(a->kc_cm, "GET", AUTHCFG_CONFIGMAP_PATH, SLICE_NULL, &status, &body, &e);
        if (rc == TA_OK && status == 403) {
            char m[160];
            kube_client_status_message(buf_slice(&body), m, sizeof(m));
            rc = ta_err_set(&e, TA_UPSTREAM,
                            "cannot read configmap %s: forbidden (bind Role "
                            "kube-system/extension-apiserver-authentication-reader to the "
                            "adapter's ServiceAccount): %s",
                            AUTHCFG_CONFIGMAP_NAME, m);
        } else if (rc == TA_OK && status == 404) {
            rc = ta_err_set(&e, TA_NOT_FOUND, "configmap %s not found", AUTHCFG_CONFIGMAP_NAME);
        } else if (rc == TA_OK && status != 200) {
            char m[160];
            kube_client_status_message(buf_slice(&body), m, sizeof(m));
            rc =
                ta_err_set(&e, TA_UPSTREAM, "reading configmap %s: kube-apiserver answered %ld: %s",
                           AUTHCFG_CONFIGMAP_NAME, status, m);
        }
        cm = rc == TA_OK ? buf_slice(&body) : SLICE_NULL;
        if (rc == TA_OK && !cm.ptr)
            cm = SLICE_LIT("{}");
    }
    if (rc == TA_OK)
        rc = authcfg_build(&a->f, cm, &cfg, &e);
    buf_free(&body);

    pthread_mutex_lock(&a->shared.mu);
    bool had = a->shared.cfg != NULL;
    bool changed = false;
    uint64_t gen = a->shared.generation;
    if (rc != TA_OK) {
        snprintf(a->shared.cfg_error, sizeof(a->shared.cfg_error), "%s", e.msg);
    } else {
        a->shared.cfg_error[0] = '\0';
        if (!had || memcmp(a->shared.cfg->digest, cfg->digest, sizeof(cfg->digest)) != 0) {
            cfg->generation = ++a->shared.generation;
            gen = cfg->generation;
            struct authcfg *old = a->shared.cfg;
            a->shared.cfg = cfg;
            cfg = old; /* unreferenced below, outside the lock */
            changed = true;
        }
    }
    char summary[sizeof(((struct authcfg *)0)->summary)] = "";
    if (changed)
        snprintf(summary, sizeof(summary), "%s", a->shared.cfg->summary);
    pthread_mutex_unlock(&a->shared.mu);
    authcfg_unref(cfg);

    if (rc != TA_OK)
        LOG_WARN("authentication configuration: %s%s", e.msg,
                 had ? " (keeping the previous one)"
                     : " (certificate authentication is off "
                       "until it loads; retrying)");
    else if (changed)
        LOG_INFO("authentication configuration %s (generation %llu): %s",
                 had ? "changed" : "loaded", (unsigned long long)gen, summary);
    return rc;
}

static void *refresher_main(void *arg)
{
    struct auth *a = arg;
    bool ok;
    pthread_mutex_lock(&a->shared.mu);
    ok = a->shared.cfg != NULL && a->shared.cfg_error[0] == '\0';
    pthread_mutex_unlock(&a->shared.mu);
    int64_t retry_ns = RETRY_FIRST_NS;
    for (;;) {
        int64_t wait_ns = ok ? a->refresh_ns : retry_ns;
        struct timespec now, until;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t t = (int64_t)now.tv_sec * NS_PER_SEC + now.tv_nsec + wait_ns;
        until.tv_sec = (time_t)(t / NS_PER_SEC);
        until.tv_nsec = (long)(t % NS_PER_SEC);
        pthread_mutex_lock(&a->shared.mu);
        while (!a->shared.stop) {
            if (pthread_cond_timedwait(&a->cv, &a->shared.mu, &until) != 0)
                break;
        }
        bool stop = a->shared.stop;
        pthread_mutex_unlock(&a->shared.mu);
        if (stop)
            break;
        ok = refresh_once(a) == TA_OK;
        if (ok) {
            retry_ns = RETRY_FIRST_NS;
        } else {
            retry_ns *= 2;
            if (retry_ns > AUTH_CONFIGMAP_RETRY_MAX_NS)
                retry_ns = AUTH_CONFIGMAP_RETRY_MAX_NS;
            if (retry_ns > a->refresh_ns)
                retry_ns = a->refresh_ns;
        }
    }
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int64_t refresh_period(void)
{
    const char *env = getenv(AUTH_REFRESH_ENV);
    uint64_t ms;
    if (env && parse_u64(slice_from_cstr(env), 10, 86400000, &ms, NULL) == TA_OK)
        return (int64_t)ms * NS_PER_MS;
    return AUTH_CONFIGMAP_REFRESH_NS;
}

enum ta_rc auth_new(const struct flags *f, struct auth **out, struct ta_err *err)
{
    *out = NULL;
    struct auth *a = ta_xcalloc(1, sizeof(*a));
    struct kubeconfig *kcfg = NULL;
    enum ta_rc rc = TA_OK;
    pthread_mutex_init(&a->shared.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    copy_auth_flags(&a->f, f);
    if (f->insecure_disable_auth) {
        a->disabled = true;
        *out = a;
        return TA_OK;
    }
    rc = always_allow_parse(a, &f->authorization_always_allow_paths, err);
    if (rc != TA_OK)
        goto out;
    if (f->kubeconfig && f->kubeconfig[0])
        rc = kubeconfig_load(f->kubeconfig, &kcfg, err);
    else
        rc = kube_client_in_cluster(&kcfg, err);
    if (rc != TA_OK) {
        ta_err_prefix(err, "authentication%s",
                      f->kubeconfig && f->kubeconfig[0]
                          ? ""
                          : " (pass --kubeconfig outside a cluster, or --insecure-disable-auth "
                            "for local use only)");
        goto out;
    }
    struct kube_client_options opt;
    kube_client_options_default(&opt);
    rc = kube_client_new(kcfg, &opt, &a->kc, err);
    if (rc == TA_OK) {
        opt.retry_steps = 1;
        opt.body_max = AUTHCFG_CONFIGMAP_MAX;
        rc = kube_client_new(kcfg, &opt, &a->kc_cm, err);
    }
    if (rc != TA_OK)
        goto out;
    LOG_INFO("authentication: kube-apiserver %s from %s", kcfg->server, kcfg->source);
    a->an = authn_new(a->kc);
    a->az = authz_new(a->kc);
    a->needs_configmap = authcfg_needs_configmap(f);
    a->refresh_ns = refresh_period();

    /* Flag files must be readable at start (Go refuses to start otherwise); the ConfigMap
     * may fail and is retried in the background. */
    struct authcfg *probe = NULL;
    rc = authcfg_build(&a->f, SLICE_NULL, &probe, err);
    authcfg_unref(probe);
    if (rc != TA_OK)
        goto out;
    refresh_once(a);
    if (pthread_create(&a->refresher, NULL, refresher_main, a) != 0) {
        rc = ta_err_set(err, TA_INTERNAL, "cannot start the authentication refresher thread");
        goto out;
    }
    a->refresher_started = true;
    *out = a;
    a = NULL;
out:
    kubeconfig_free(kcfg);
    auth_free(a);
    return rc;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    if (a->refresher_started) {
        pthread_mutex_lock(&a->shared.mu);
        a->shared.stop = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->shared.mu);
        kube_client_cancel(a->kc_cm);
        pthread_join(a->refresher, NULL);
    }
    kube_client_cancel(a->kc);
    authz_free(a->az);
    authn_free(a->an);
    kube_client_free(a->kc);
    kube_client_free(a->kc_cm);
    authcfg_unref(a->shared.cfg);
    for (size_t i = 0; i < a->nexact; i++)
        free(a->exact[i]);
    free(a->exact);
    for (size_t i = 0; i < a->nprefixes; i++)
        free(a->prefixes[i]);
    free(a->prefixes);
    free_auth_flags(&a->f);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->shared.mu);
    free(a);
}

/* ---- the check ----------------------------------------------------------------------------- */

void auth_check(struct auth *a, const struct request *req, const struct auth_attributes *attrs,
                bool may_block, struct auth_result *out)
{
    memset(out, 0, sizeof(*out));
    if (a->disabled || (!attrs->resource_request && auth_always_allowed(a, attrs->path))) {
        out->decision = AUTH_ALLOW;
        return;
    }
    char cfg_error[TA_ERR_MSG_MAX];
    pthread_mutex_lock(&a->shared.mu);
    struct authcfg *cfg = a->shared.cfg ? authcfg_ref(a->shared.cfg) : NULL;
    snprintf(cfg_error, sizeof(cfg_error), "%s",
             a->shared.cfg_error[0] ? a->shared.cfg_error : "not read yet");
    pthread_mutex_unlock(&a->shared.mu);

    struct authn_user *user = NULL;
    enum authn_outcome ao =
        authn_authenticate(a->an, cfg, cfg ? NULL : cfg_error, req, may_block, &user, &out->reason);
    authcfg_unref(cfg);
    switch (ao) {
    case AUTHN_WOULD_BLOCK:
        out->decision = AUTH_WOULD_BLOCK;
        return;
    case AUTHN_NO_CREDENTIALS:
    case AUTHN_FAILED:
        out->decision = AUTH_UNAUTHORIZED;
        LOG_V(4, "401 " SLICE_FMT " " SLICE_FMT ": unable to authenticate the request: %s",
              SLICE_ARG(req->method), SLICE_ARG(req->path), out->reason.msg);
        return;
    case AUTHN_OK:
        break;
    }
    snprintf(out->user, sizeof(out->user), "%s", user->name);
    ta_err_clear(&out->reason);
    enum authz_outcome zo = authz_check(a->az, user, attrs, may_block, &out->reason);
    switch (zo) {
    case AUTHZ_ALLOW:
        out->decision = AUTH_ALLOW;
        LOG_V(4, "allowed " SLICE_FMT " " SLICE_FMT " for user %s", SLICE_ARG(req->method),
              SLICE_ARG(req->path), user->name);
        break;
    case AUTHZ_WOULD_BLOCK:
        out->decision = AUTH_WOULD_BLOCK;
        break;
    case AUTHZ_DENY:
    case AUTHZ_ERROR:
        out->decision = AUTH_FORBIDDEN;
        if (zo == AUTHZ_ERROR) {
            ta_err_prefix(&out->reason, "authorization failed");
        } else {
            snprintf(out->review_reason, sizeof(out->review_reason), "%s", out->reason.msg);
            if (!out->reason.msg[0])
                ta_err_set(&out->reason, TA_INVALID, "%s", NO_REASON);
        }
        LOG_V(4, "403 " SLICE_FMT " " SLICE_FMT " for user %s: %s", SLICE_ARG(req->method),
              SLICE_ARG(req->path), user->name, out->reason.msg);
        break;
    }
    authn_user_free(user);
}
