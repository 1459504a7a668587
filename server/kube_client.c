/* kube_client.c — libcurl requests to kube-apiserver with a handle pool, time-outs, a body cap
 * and retries with jittered exponential back-off; the in-cluster configuration.
 *
 * A call takes an idle easy handle (or makes one), resets it, sets every option, performs the
 * transfer without any lock held, and gives the handle back (its connection cache stays warm).
 * Back-off sleeps wait on a condition variable that kube_client_cancel broadcasts, and the
 * transfer's progress callback aborts once cancelled, so shutdown never waits for a retry
 * series. The Authorization header is built per call and wiped afterwards. */
#include "server/kube_client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "server/fileio.h"
#include "server/secret_file.h"

#define RETRY_FACTOR 1.5
#define RETRY_JITTER 0.2
#define URL_MAX      (KUBECONFIG_MAX_VALUE + 8192)

struct kube_client {
    struct kubeconfig *cfg; /* immutable copy */
    struct kube_client_options opt;
    struct secret_file *token_file; /* NULL when the token is static or absent */
    atomic_bool cancelled;
    pthread_mutex_t sleep_mu; /* only for the back-off wait */
    pthread_cond_t sleep_cv;  /* broadcast by kube_client_cancel */
    struct {
        pthread_mutex_t mu;               /* never held during a transfer */
        CURL *idle[KUBE_CLIENT_POOL_MAX]; /* guarded by mu */
        size_t nidle;                     /* guarded by mu */
    } shared;
};

void kube_client_options_default(struct kube_client_options *o)
{
    o->timeout_ns = KUBE_CLIENT_TIMEOUT_NS;
    o->retry_steps = KUBE_CLIENT_RETRY_STEPS;
    o->retry_base_ns = KUBE_CLIENT_RETRY_BASE_NS;
    o->body_max = KUBE_CLIENT_BODY_MAX;
}

/* ---- in-cluster ---------------------------------------------------------------------------- */

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = ta_xmalloc(a + 1 + b + 1);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

enum ta_rc kube_client_in_cluster(struct kubeconfig **out, struct ta_err *err)
{
    *out = NULL;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !host[0] || !port || !port[0])
        return ta_err_set(err, TA_NOT_FOUND,
                          "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                          "KUBERNETES_SERVICE_PORT must be defined");
    uint64_t portnum;
    struct ta_err pe = { 0 };
    if (parse_u64(slice_from_cstr(port), 1, 65535, &portnum, &pe) != TA_OK)
        return ta_err_set(err, TA_INVALID, "KUBERNETES_SERVICE_PORT: %s", pe.msg);
    size_t hl = strlen(host);
    if (hl > 253 || strpbrk(host, "/@?#[] \t\r\n%"))
        return ta_err_set(err, TA_INVALID, "KUBERNETES_SERVICE_HOST: \"%.64s\" is not a host",
                          host);
    const char *dir = getenv(KUBE_CLIENT_SA_DIR_ENV);
    if (!dir || !dir[0])
        dir = KUBE_CLIENT_SA_DIR;

    struct kubeconfig *k = ta_xcalloc(1, sizeof(*k));
    struct buf b;
    buf_init(&b, KUBECONFIG_MAX_PEM);
    enum ta_rc rc = buf_addf(&b, strchr(host, ':') ? "https://[%s]:%u" : "https://%s:%u", host,
                             (unsigned)portnum);
    if (rc != TA_OK) {
        rc = ta_err_set(err, TA_TOO_LARGE, "in-cluster server URL too long");
        goto out;
    }
    k->server = buf_take(&b, NULL);
    k->token_file = join_path(dir, "token");
    char *ca = join_path(dir, "ca.crt");
    rc = file_read_all(ca, KUBECONFIG_MAX_PEM, &b, err);
    free(ca);
    if (rc != TA_OK) {
        ta_err_prefix(err, "in-cluster configuration");
        goto out;
    }
    k->ca_pem_len = b.len;
    k->ca_pem = (uint8_t *)buf_take(&b, &k->ca_pem_len);
    char *nsf = join_path(dir, "namespace");
    struct ta_err ne = { 0 };
    if (file_read_all(nsf, KUBECONFIG_MAX_VALUE, &b, &ne) == TA_OK) {
        struct slice ns = slice_trim(buf_slice(&b));
        if (ns.len && !slice_has_nul(ns))
            k->namespace_ = ta_xstrndup(ns.ptr, ns.len);
    }
    free(nsf);
    k->source = ta_xstrdup("in-cluster configuration");
    *out = k;
    k = NULL;
out:
    buf_free(&b);
    kubeconfig_free(k);
    return rc;
}

/* ---- client -------------------------------------------------------------------------------- */

enum ta_rc kube_client_new(const struct kubeconfig *cfg, const struct kube_client_options *opt,
                           struct kube_client **out, struct ta_err *err)
{
    *out = NULL;
    struct kube_client *kc = ta_xcalloc(1, sizeof(*kc));
    if (opt)
        kc->opt = *opt;
    else
        kube_client_options_default(&kc->opt);
    if (kc->opt.retry_steps < 1)
        kc->opt.retry_steps = 1;
    if (kc->opt.timeout_ns < NS_PER_MS)
        kc->opt.timeout_ns = NS_PER_MS;
    if (kc->opt.body_max == 0)
        kc->opt.body_max = KUBE_CLIENT_BODY_MAX;
    if (cfg->token_file) {
        enum ta_rc rc = secret_file_open(cfg->token_file, 0, &kc->token_file, err);
        if (rc != TA_OK) {
            free(kc);
            return ta_err_prefix(err, "kube-apiserver token");
        }
    }
    kc->cfg = kubeconfig_clone(cfg);
    atomic_init(&kc->cancelled, false);
    pthread_mutex_init(&kc->shared.mu, NULL);
    pthread_mutex_init(&kc->sleep_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&kc->sleep_cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = kc;
    return TA_OK;
}

void kube_client_free(struct kube_client *kc)
{
    if (!kc)
        return;
    for (size_t i = 0; i < kc->shared.nidle; i++)
        curl_easy_cleanup(kc->shared.idle[i]);
    secret_file_free(kc->token_file);
    kubeconfig_free(kc->cfg);
    pthread_mutex_destroy(&kc->shared.mu);
    pthread_mutex_destroy(&kc->sleep_mu);
    pthread_cond_destroy(&kc->sleep_cv);
    free(kc);
}

void kube_client_cancel(struct kube_client *kc)
{
    if (!kc)
        return;
    pthread_mutex_lock(&kc->sleep_mu);
    atomic_store(&kc->cancelled, true);
    pthread_cond_broadcast(&kc->sleep_cv);
    pthread_mutex_unlock(&kc->sleep_mu);
}

const char *kube_client_server(const struct kube_client *kc)
{
    return kc->cfg->server;
}

static CURL *handle_take(struct kube_client *kc)
{
    CURL *h = NULL;
    pthread_mutex_lock(&kc->shared.mu);
    if (kc->shared.nidle > 0)
        h = kc->shared.idle[--kc->shared.nidle];
    pthread_mutex_unlock(&kc->shared.mu);
    return h ? h : curl_easy_init();
}

static void handle_give(struct kube_client *kc, CURL *h)
{
    pthread_mutex_lock(&kc->shared.mu);
    if (kc->shared.nidle < KUBE_CLIENT_POOL_MAX) {
        kc->shared.idle[kc->shared.nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&kc->shared.mu);
    if (h)
        curl_easy_cleanup(h);
}

/* Sleeps ns unless cancelled first; false when cancelled. */
static bool sleep_cancellable(struct kube_client *kc, int64_t ns)
{
    struct timespec now, until;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t t = (int64_t)now.tv_sec * NS_PER_SEC + now.tv_nsec + ns;
    until.tv_sec = (time_t)(t / NS_PER_SEC);
    until.tv_nsec = (long)(t % NS_PER_SEC);
    pthread_mutex_lock(&kc->sleep_mu);
    while (!atomic_load(&kc->cancelled)) {
        if (pthread_cond_timedwait(&kc->sleep_cv, &kc->sleep_mu, &until) != 0)
            break;
    }
    bool ok = !atomic_load(&kc->cancelled);
    pthread_mutex_unlock(&kc->sleep_mu);
    return ok;
}

struct sink {
    struct buf *out;
    size_t max;
    bool too_large;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->out->len + len > s->max || buf_add(s->out, p, len) != TA_OK) {
        s->too_large = true;
        return 0; /* aborts the transfer */
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return atomic_load(&((struct kube_client *)arg)->cancelled) ? 1 : 0;
}

enum attempt_kind {
    ATTEMPT_ANSWER,    /* an HTTP answer: *status */
    ATTEMPT_RETRYABLE, /* transport failure worth another try; err set */
    ATTEMPT_FATAL,     /* body cap, cancellation, setup: err set */
};

static enum attempt_kind attempt(struct kube_client *kc, CURL *h, const char *method,
                                 const char *url, struct slice body, long *status, struct buf *resp,
                                 struct ta_err *err)
{
    const struct kubeconfig *c = kc->cfg;
    struct curl_slist *hdrs = NULL;
    struct buf auth;
    buf_init(&auth, SECRET_FILE_MAX_BYTES + KUBECONFIG_MAX_TOKEN + 64);
    char errbuf[CURL_ERROR_SIZE] = "";
    enum attempt_kind kind = ATTEMPT_FATAL;
    size_t cap = kc->opt.body_max < resp->max ? kc->opt.body_max : resp->max;
    struct sink sink = { resp, cap, false };
    buf_reset(resp);

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(kc->opt.timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(kc->opt.timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tempo-adapter");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, kc);
    if (c->insecure_skip_tls_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->ca_pem) {
        struct curl_blob b = { c->ca_pem, c->ca_pem_len, CURL_BLOB_NOCOPY };
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    }
    if (c->cert_pem && c->key_pem) {
        struct curl_blob cb = { c->cert_pem, c->cert_pem_len, CURL_BLOB_NOCOPY };
        struct curl_blob kb = { c->key_pem, c->key_pem_len, CURL_BLOB_NOCOPY };
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (body.len)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    enum ta_rc brc = TA_OK;
    if (kc->token_file || c->token) {
        brc = buf_adds(&auth, "Authorization: Bearer ");
        if (brc == TA_OK)
            brc =
                kc->token_file ? secret_file_get(kc->token_file, &auth) : buf_adds(&auth, c->token);
        if (brc == TA_OK)
            hdrs = curl_slist_append(hdrs, buf_cstr(&auth));
    }
    if (brc != TA_OK || !hdrs) {
        ta_err_set(err, TA_INTERNAL, "cannot build the request headers");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.ptr ? body.ptr : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    }

    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        kind = ATTEMPT_ANSWER;
    } else if (sink.too_large) {
        ta_err_set(err, TA_TOO_LARGE, "kube-apiserver answer to %s larger than %zu bytes", method,
                   cap);
    } else if (atomic_load(&kc->cancelled)) {
        ta_err_set(err, TA_UNAVAILABLE, "kube-apiserver request cancelled (shutting down)");
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        ta_err_set(err, TA_TIMEOUT, "kube-apiserver at %s did not answer within %lld ms", c->server,
                   (long long)(kc->opt.timeout_ns / NS_PER_MS));
        kind = ATTEMPT_RETRYABLE;
    } else {
        ta_err_set(err, TA_IO, "cannot reach kube-apiserver at %s: %s", c->server,
                   errbuf[0] ? errbuf : curl_easy_strerror(cc));
        kind = ATTEMPT_RETRYABLE;
    }
out:
    /* The header list holds a copy of the token: wipe it too. */
    for (struct curl_slist *l = hdrs; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(hdrs);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    if (auth.data)
        explicit_bzero(auth.data, auth.len);
    buf_free(&auth);
    return kind;
}

void kube_client_status_message(struct slice body, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    json_error_t jerr;
    json_t *root = body.len ? json_loadb(body.ptr, body.len, 0, &jerr) : NULL;
    json_t *m = root ? json_object_get(root, "message") : NULL;
    size_t n = 0;
    if (json_is_string(m)) {
        snprintf(out, cap, "%s", json_string_value(m));
    } else {
        for (size_t i = 0; i < body.len && n + 1 < cap && i < 200; i++) {
            unsigned char c = (unsigned char)body.ptr[i];
            out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
        }
        out[n] = '\0';
    }
    json_decref(root);
}

static int64_t jittered(int64_t ns)
{
    /* Go's wait.Jitter(d, 0.2): d + rand * 0.2 * d. Any spread will do: mix the clock. */
    uint64_t x = (uint64_t)clock_mono_ns() * 0x9E3779B97F4A7C15ull;
    double f = (double)(x >> 11) / (double)(1ull << 53);
    return ns + (int64_t)(f * RETRY_JITTER * (double)ns);
}

enum ta_rc kube_client_do(struct kube_client *kc, const char *method, const char *path,
                          struct slice body, long *status, struct buf *resp, struct ta_err *err)
{
    *status = 0;
    if (atomic_load(&kc->cancelled))
        return ta_err_set(err, TA_UNAVAILABLE, "kube-apiserver request cancelled (shutting down)");
    struct buf url;
    buf_init(&url, URL_MAX);
    if (buf_adds(&url, kc->cfg->server) != TA_OK || buf_adds(&url, path) != TA_OK)
        return ta_err_set(err, TA_TOO_LARGE, "kube-apiserver URL too long");
    CURL *h = handle_take(kc);
    enum ta_rc rc = TA_OK;
    if (!h) {
        rc = ta_err_set(err, TA_INTERNAL, "libcurl: cannot create a handle");
        goto out;
    }
    int64_t wait_ns = kc->opt.retry_base_ns;
    struct ta_err last = { 0 };
    for (int i = 0; i < kc->opt.retry_steps; i++) {
        if (i > 0) {
            LOG_V(2, "kube-apiserver %s %s: %s; retry %d of %d in %lld ms", method, path, last.msg,
                  i, kc->opt.retry_steps - 1, (long long)(wait_ns / NS_PER_MS));
            if (!sleep_cancellable(kc, jittered(wait_ns))) {
                rc = ta_err_set(err, TA_UNAVAILABLE,
                                "kube-apiserver request cancelled (shutting down)");
                goto out;
            }
            wait_ns = (int64_t)((double)wait_ns * RETRY_FACTOR);
        }
        ta_err_clear(&last);
        enum attempt_kind k = attempt(kc, h, method, buf_cstr(&url), body, status, resp, &last);
        if (k == ATTEMPT_FATAL) {
            rc = ta_err_set(err, last.rc, "%s", last.msg);
            goto out;
        }
        if (k == ATTEMPT_ANSWER) {
            LOG_V(4, "kube-apiserver %s %s: %ld", method, path, *status);
            if (*status != 429 && *status < 500) {
                rc = TA_OK;
                goto out;
            }
            char m[160];
            kube_client_status_message(buf_slice(resp), m, sizeof(m));
            ta_err_set(&last, TA_UPSTREAM, "kube-apiserver answered %ld for %s %s: %s", *status,
                       method, path, m);
        }
    }
    rc = ta_err_set(err, last.rc, "%s", last.msg);
out:
    if (h)
        handle_give(kc, h);
    buf_free(&url);
    return rc;
}
