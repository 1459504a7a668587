/* tempo_client.c — libcurl transport to Tempo: handle pool, singleflight, memo, retries.
 *
 * One mutex (shared.mu) guards the idle-handle stack, the flight table and the stop flag; it
 * is never held during curl_easy_perform, secret-file reads or back-off sleeps. A caller
 * either finds a memoized answer, joins a flight in progress (waiting on the flight's cv), or
 * leads a new flight: it takes an idle easy handle (waiting on slot_cv when all
 * max_concurrency are busy), performs the attempt, returns the handle and retries as needed.
 * Replies are reference counted so the memo and several followers can share one body.
 * Condition variables use CLOCK_MONOTONIC. */
#include "server/tempo_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/base/buf.h"
#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "server/secret_file.h"

#define DEFAULT_TIMEOUT_NS     (30LL * NS_PER_SEC)
#define DEFAULT_CONCURRENCY    8
#define DEFAULT_ATTEMPTS       3
#define DEFAULT_BACKOFF_BASE   (200LL * NS_PER_MS)
#define DEFAULT_BACKOFF_MAX    (5LL * NS_PER_SEC)
#define MAX_CONNECT_TIMEOUT_MS 10000L
#define USER_AGENT             "tempo-adapter"

struct reply {
    struct tempo_reply pub; /* first member: struct tempo_reply * converts back */
    atomic_int refs;
    char *body;
};

struct flight {
    struct flight *next;
    char *key; /* accept byte + URL */
    size_t key_len;
    int holders;     /* leader and followers still inside tempo_client_get; guarded by mu */
    bool done;       /* guarded by mu */
    int64_t expires; /* memo deadline (monotonic ns), 0 when not memoized; guarded by mu */
    enum ta_rc rc;   /* guarded by mu, set once with done */
    struct ta_err err;
    struct reply *reply; /* on TA_OK; the flight holds one reference */
    pthread_cond_t cv;
};

struct tempo_client {
    /* immutable after tempo_client_new */
    char *base;     /* without a trailing '/' */
    char *base_log; /* user:password@ redacted */
    char *tenant;
    struct secret_file *bearer;
    struct secret_file *basic;
    char **headers; /* "Name: value" */
    size_t nheaders;
    char *ca_file, *cert_file, *key_file;
    bool insecure;
    int64_t timeout_ns;
    int max_concurrency;
    int max_attempts;
    int64_t backoff_base_ns, backoff_max_ns, retry_budget_ns, memo_ns;
    CURL **handles; /* all handles, for cleanup */

    atomic_bool stopping;
    atomic_uint_fast64_t rng;
    struct {
        atomic_uint_fast64_t requests, retries, failures, shared, memo_hits, bytes;
    } stats;

    struct {
        pthread_mutex_t mu;
        pthread_cond_t slot_cv; /* an idle handle appeared, or stopping */
        pthread_cond_t stop_cv; /* back-off sleepers wait here for stopping */
        CURL **idle;            /* guarded by mu */
        int nidle;              /* guarded by mu */
        struct flight *flights; /* guarded by mu */
        int nmemo;              /* memoized flights; guarded by mu */
        size_t memo_bytes;      /* their body bytes; guarded by mu */
    } shared;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec mono_ts(int64_t ns)
{
    struct timespec ts = { (time_t)(ns / NS_PER_SEC), (long)(ns % NS_PER_SEC) };
    return ts;
}

static uint64_t next_rand(struct tempo_client *tc)
{
    uint64_t z = atomic_fetch_add(&tc->rng, 0x9E3779B97F4A7C15ULL) + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static enum ta_rc add_base64(struct buf *b, struct slice s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t rem = s.len - i;
        if (rem > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (rem > 2)
            v |= p[i + 2];
        char out[4] = { B64[(v >> 18) & 63], B64[(v >> 12) & 63],
                        rem > 1 ? B64[(v >> 6) & 63] : '=', rem > 2 ? B64[v & 63] : '=' };
        if (buf_add(b, out, 4) != TA_OK)
            return TA_TOO_LARGE;
    }
    return TA_OK;
}

/* "scheme://user:pass@host/…" becomes "scheme://" + "***@host/…". */
static char *redact_url(const char *url)
{
    const char *scheme = strstr(url, "://");
    if (!scheme)
        return ta_xstrdup(url);
    const char *host = scheme + 3;
    size_t host_end = strcspn(host, "/?#");
    const char *at = memchr(host, '@', host_end);
    if (!at)
        return ta_xstrdup(url);
    struct buf b;
    buf_init(&b, strlen(url) + 8);
    if (buf_add(&b, url, (size_t)(host - url)) != TA_OK || buf_adds(&b, "***") != TA_OK ||
        buf_adds(&b, at) != TA_OK)
        return ta_xstrdup("<url>");
    return buf_take(&b, NULL);
}

static bool header_name_ok(struct slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
            return false;
    }
    return true;
}

static bool header_value_ok(struct slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static enum ta_rc check_readable(const char *flag, const char *path, struct ta_err *err)
{
    if (access(path, R_OK) != 0) {
        char eb[128];
        return ta_err_set(err, TA_IO, "%s %s: %s", flag, path, strerror_r(errno, eb, sizeof(eb)));
    }
    return TA_OK;
}

/* ---- construction -------------------------------------------------------------------------- */

static int xferinfo_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    struct tempo_client *tc = arg;
    return atomic_load_explicit(&tc->stopping, memory_order_relaxed) ? 1 : 0;
}

static CURL *new_handle(struct tempo_client *tc)
{
    CURL *h = curl_easy_init();
    if (!h) {
        LOG_ERROR("tempo: curl_easy_init failed: out of memory");
        abort();
    }
    long timeout_ms = (long)(tc->timeout_ns / NS_PER_MS);
    if (timeout_ms < 1)
        timeout_ms = 1;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms < MAX_CONNECT_TIMEOUT_MS ? timeout_ms : MAX_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip/deflate/br as built */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, tc);
    if (tc->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, tc->ca_file);
    if (tc->cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, tc->cert_file);
    if (tc->key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, tc->key_file);
    if (tc->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return h;
}

static enum ta_rc parse_base_url(const char *url, struct tempo_client *tc, struct ta_err *err)
{
    if (!url || !*url)
        return ta_err_set(err, TA_INVALID, "--tempo-url is empty");
    struct slice u = slice_from_cstr(url);
    if (!slice_starts_with(u, SLICE_LIT("http://")) && !slice_starts_with(u, SLICE_LIT("https://")))
        return ta_err_set(err, TA_INVALID, "--tempo-url must start with http:// or https://");
    if (strpbrk(url, "?# \t\r\n"))
        return ta_err_set(err, TA_INVALID,
                          "--tempo-url must not contain a query, a fragment or spaces");
    size_t n = u.len;
    while (n > 0 && url[n - 1] == '/')
        n--;
    const char *host = strstr(url, "://") + 3;
    if ((size_t)(host - url) >= n)
        return ta_err_set(err, TA_INVALID, "--tempo-url has no host");
    CURLU *cu = curl_url();
    CURLUcode uc = curl_url_set(cu, CURLUPART_URL, url, 0);
    curl_url_cleanup(cu);
    if (uc != CURLUE_OK)
        return ta_err_set(err, TA_INVALID, "--tempo-url: %s", curl_url_strerror(uc));
    tc->base = ta_xstrndup(url, n);
    tc->base_log = redact_url(tc->base);
    return TA_OK;
}

static enum ta_rc add_headers(const struct tempo_client_config *cfg, struct tempo_client *tc,
                              struct ta_err *err)
{
    if (cfg->nheaders > TEMPO_CLIENT_MAX_HEADERS)
        return ta_err_set(err, TA_INVALID, "--tempo-header: more than %d headers",
                          TEMPO_CLIENT_MAX_HEADERS);
    tc->headers = ta_xcalloc(cfg->nheaders ? cfg->nheaders : 1, sizeof(char *));
    for (size_t i = 0; i < cfg->nheaders; i++) {
        struct slice all = slice_from_cstr(cfg->headers[i]), name, value;
        bool found;
        value = slice_cut(all, '=', &name, &found);
        name = slice_trim(name);
        value = slice_trim(value);
        if (!found || !header_name_ok(name))
            return ta_err_set(err, TA_INVALID,
                              "--tempo-header %zu: expected Name=value with a valid header name",
                              i + 1);
        if (!header_value_ok(value) || all.len > TEMPO_HEADER_MAX)
            return ta_err_set(err, TA_INVALID,
                              "--tempo-header " SLICE_FMT ": the value contains control characters "
                              "or is too long",
                              SLICE_ARG(slice_head(name, 64)));
        if ((tc->bearer || tc->basic) && slice_eq_nocase(name, SLICE_LIT("Authorization")))
            return ta_err_set(err, TA_INVALID,
                              "--tempo-header Authorization conflicts with "
                              "--tempo-bearer-token-file/--tempo-basic-auth-file");
        if (tc->tenant && slice_eq_nocase(name, SLICE_LIT("X-Scope-OrgID")))
            return ta_err_set(err, TA_INVALID,
                              "--tempo-header X-Scope-OrgID conflicts with --tempo-tenant");
        struct buf b;
        buf_init(&b, TEMPO_HEADER_MAX + 4);
        if (buf_add_slice(&b, name) != TA_OK || buf_adds(&b, ": ") != TA_OK ||
            buf_add_slice(&b, value) != TA_OK)
            return ta_err_set(err, TA_INVALID, "--tempo-header %zu is too long", i + 1);
        tc->headers[i] = buf_take(&b, NULL);
        tc->nheaders = i + 1;
    }
    return TA_OK;
}

enum ta_rc tempo_client_new(const struct tempo_client_config *cfg, struct tempo_client **out,
                            struct ta_err *err)
{
    *out = NULL;
    enum ta_rc rc;
    struct tempo_client *tc = ta_xcalloc(1, sizeof(*tc));
    pthread_mutex_init(&tc->shared.mu, NULL);
    cond_init_mono(&tc->shared.slot_cv);
    cond_init_mono(&tc->shared.stop_cv);
    atomic_init(&tc->stopping, false);
    atomic_init(&tc->rng, (uint64_t)clock_wall_ns() ^ ((uint64_t)getpid() << 32));

    rc = parse_base_url(cfg->url, tc, err);
    if (rc != TA_OK)
        goto out;
    if (cfg->tenant && *cfg->tenant) {
        struct slice t = slice_from_cstr(cfg->tenant);
        if (t.len > 150 || !header_value_ok(t)) {
            rc = ta_err_set(err, TA_INVALID,
                            "--tempo-tenant: at most 150 printable characters are allowed");
            goto out;
        }
        tc->tenant = ta_xstrdup(cfg->tenant);
    }
    if (cfg->bearer_token_file && *cfg->bearer_token_file && cfg->basic_auth_file &&
        *cfg->basic_auth_file) {
        rc = ta_err_set(err, TA_INVALID,
                        "--tempo-bearer-token-file and --tempo-basic-auth-file are exclusive");
        goto out;
    }
    if (cfg->bearer_token_file && *cfg->bearer_token_file) {
        rc = secret_file_open(cfg->bearer_token_file, cfg->secret_recheck_ns, &tc->bearer, err);
        if (rc != TA_OK) {
            ta_err_prefix(err, "--tempo-bearer-token-file");
            goto out;
        }
    }
    if (cfg->basic_auth_file && *cfg->basic_auth_file) {
        rc = secret_file_open(cfg->basic_auth_file, cfg->secret_recheck_ns, &tc->basic, err);
        if (rc != TA_OK) {
            ta_err_prefix(err, "--tempo-basic-auth-file");
            goto out;
        }
        struct buf b;
        buf_init(&b, SECRET_FILE_MAX_BYTES);
        bool colon = secret_file_get(tc->basic, &b) == TA_OK && memchr(b.data, ':', b.len);
        if (b.data)
            explicit_bzero(b.data, b.len);
        buf_free(&b);
        if (!colon) {
            rc = ta_err_set(err, TA_INVALID, "--tempo-basic-auth-file %s: expected user:password",
                            cfg->basic_auth_file);
            goto out;
        }
    }
    rc = add_headers(cfg, tc, err);
    if (rc != TA_OK)
        goto out;
    if ((cfg->client_cert_file && *cfg->client_cert_file) !=
        (cfg->client_key_file && *cfg->client_key_file)) {
        rc = ta_err_set(err, TA_INVALID,
                        "--tempo-client-cert-file and --tempo-client-key-file go together");
        goto out;
    }
    if (cfg->ca_file && *cfg->ca_file) {
        if ((rc = check_readable("--tempo-ca-file", cfg->ca_file, err)) != TA_OK)
            goto out;
        tc->ca_file = ta_xstrdup(cfg->ca_file);
    }
    if (cfg->client_cert_file && *cfg->client_cert_file) {
        if ((rc = check_readable("--tempo-client-cert-file", cfg->client_cert_file, err)) !=
                TA_OK ||
            (rc = check_readable("--tempo-client-key-file", cfg->client_key_file, err)) != TA_OK)
            goto out;
        tc->cert_file = ta_xstrdup(cfg->client_cert_file);
        tc->key_file = ta_xstrdup(cfg->client_key_file);
    }
    tc->insecure = cfg->insecure_skip_verify;
    tc->timeout_ns = cfg->timeout_ns > 0 ? cfg->timeout_ns : DEFAULT_TIMEOUT_NS;
    tc->max_concurrency = cfg->max_concurrency > 0 ? cfg->max_concurrency : DEFAULT_CONCURRENCY;
    if (tc->max_concurrency > 1024) {
        rc = ta_err_set(err, TA_INVALID, "--tempo-max-concurrency %d is above 1024",
                        tc->max_concurrency);
        goto out;
    }
    tc->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DEFAULT_ATTEMPTS;
    tc->backoff_base_ns = cfg->backoff_base_ns > 0 ? cfg->backoff_base_ns : DEFAULT_BACKOFF_BASE;
    tc->backoff_max_ns = cfg->backoff_max_ns > 0 ? cfg->backoff_max_ns : DEFAULT_BACKOFF_MAX;
    tc->retry_budget_ns =
        cfg->retry_budget_ns > 0 ? cfg->retry_budget_ns : tc->timeout_ns + 10 * NS_PER_SEC;
    tc->memo_ns = cfg->memo_ns == 0 ? TEMPO_MEMO_NS : cfg->memo_ns;

    tc->handles = ta_xcalloc((size_t)tc->max_concurrency, sizeof(CURL *));
    tc->shared.idle = ta_xcalloc((size_t)tc->max_concurrency, sizeof(CURL *));
    for (int i = 0; i < tc->max_concurrency; i++) {
        tc->handles[i] = new_handle(tc);
        tc->shared.idle[i] = tc->handles[i];
    }
    tc->shared.nidle = tc->max_concurrency;

    LOG_INFO("tempo: %s, tenant %s, %s%s, %zu extra header(s), timeout %lldms, at most %d "
             "requests in flight%s",
             tc->base_log, tc->tenant ? tc->tenant : "(none)",
             tc->bearer  ? "bearer token from "
             : tc->basic ? "basic auth from "
                         : "no auth",
             tc->bearer  ? secret_file_path(tc->bearer)
             : tc->basic ? secret_file_path(tc->basic)
                         : "",
             tc->nheaders, (long long)(tc->timeout_ns / NS_PER_MS), tc->max_concurrency,
             tc->insecure ? ", TLS verification OFF" : "");
    *out = tc;
    tc = NULL;
out:
    tempo_client_free(tc);
    return rc;
}

void tempo_client_stop(struct tempo_client *tc)
{
    if (!tc)
        return;
    atomic_store(&tc->stopping, true);
    pthread_mutex_lock(&tc->shared.mu);
    pthread_cond_broadcast(&tc->shared.slot_cv);
    pthread_cond_broadcast(&tc->shared.stop_cv);
    pthread_mutex_unlock(&tc->shared.mu);
}

static void reply_unref(struct reply *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        free(r->body);
        free(r);
    }
}

void tempo_reply_release(struct tempo_reply *r)
{
    reply_unref((struct reply *)r);
}

static void flight_free(struct flight *f)
{
    reply_unref(f->reply);
    pthread_cond_destroy(&f->cv);
    free(f->key);
    free(f);
}

void tempo_client_free(struct tempo_client *tc)
{
    if (!tc)
        return;
    tempo_client_stop(tc);
    for (int i = 0; tc->handles && i < tc->max_concurrency; i++)
        if (tc->handles[i])
            curl_easy_cleanup(tc->handles[i]);
    struct flight *f = tc->shared.flights;
    while (f) {
        struct flight *next = f->next;
        flight_free(f);
        f = next;
    }
    free(tc->handles);
    free(tc->shared.idle);
    for (size_t i = 0; i < tc->nheaders; i++)
        free(tc->headers[i]);
    free(tc->headers);
    secret_file_free(tc->bearer);
    secret_file_free(tc->basic);
    free(tc->base);
    free(tc->base_log);
    free(tc->tenant);
    free(tc->ca_file);
    free(tc->cert_file);
    free(tc->key_file);
    pthread_cond_destroy(&tc->shared.slot_cv);
    pthread_cond_destroy(&tc->shared.stop_cv);
    pthread_mutex_destroy(&tc->shared.mu);
    free(tc);
}

/* ---- one attempt --------------------------------------------------------------------------- */

struct xfer {
    struct buf body;
    bool too_large;
    bool protobuf;
    int64_t retry_after_s;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    if (buf_add(&x->body, p, size * n) != TA_OK) {
        x->too_large = true;
        return 0; /* aborts the transfer */
    }
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    struct slice line = slice_make(p, size * n), name, value;
    bool found;
    value = slice_trim(slice_cut(line, ':', &name, &found));
    if (!found)
        return size * n;
    if (slice_eq_nocase(slice_trim(name), SLICE_LIT("Content-Type"))) {
        x->protobuf = value.len >= 20 &&
                      slice_eq_nocase(slice_head(value, 20), SLICE_LIT("application/protobuf"));
    } else if (slice_eq_nocase(slice_trim(name), SLICE_LIT("Retry-After"))) {
        uint64_t s;
        if (parse_u64(value, 0, 86400, &s, NULL) == TA_OK)
            x->retry_after_s = (int64_t)s;
    }
    return size * n;
}

/* Builds the request's header list; secrets pass through a wiped scratch buffer. */
static enum ta_rc build_headers(struct tempo_client *tc, enum tempo_accept accept,
                                struct curl_slist **out, struct ta_err *err)
{
    struct curl_slist *h = NULL;
    struct buf b;
    enum ta_rc rc = TA_OK;
    buf_init(&b, SECRET_FILE_MAX_BYTES * 2 + 64);
    h = curl_slist_append(h, accept == TEMPO_ACCEPT_PROTOBUF ? "Accept: application/protobuf"
                                                             : "Accept: application/json");
    if (tc->tenant) {
        if (buf_adds(&b, "X-Scope-OrgID: ") != TA_OK || buf_adds(&b, tc->tenant) != TA_OK) {
            rc = ta_err_set(err, TA_INTERNAL, "tempo: header too long");
            goto out;
        }
        h = curl_slist_append(h, buf_cstr(&b));
        buf_reset(&b);
    }
    if (tc->bearer) {
        if (buf_adds(&b, "Authorization: Bearer ") != TA_OK ||
            secret_file_get(tc->bearer, &b) != TA_OK) {
            rc = ta_err_set(err, TA_INTERNAL, "tempo: authorization header too long");
            goto out;
        }
        h = curl_slist_append(h, buf_cstr(&b));
    } else if (tc->basic) {
        struct buf raw;
        buf_init(&raw, SECRET_FILE_MAX_BYTES);
        enum ta_rc r2 = secret_file_get(tc->basic, &raw);
        if (r2 == TA_OK && buf_adds(&b, "Authorization: Basic ") == TA_OK)
            r2 = add_base64(&b, buf_slice(&raw));
        else
            r2 = TA_TOO_LARGE;
        if (raw.data)
            explicit_bzero(raw.data, raw.len);
        buf_free(&raw);
        if (r2 != TA_OK) {
            rc = ta_err_set(err, TA_INTERNAL, "tempo: authorization header too long");
            goto out;
        }
        h = curl_slist_append(h, buf_cstr(&b));
    }
    for (size_t i = 0; i < tc->nheaders; i++)
        h = curl_slist_append(h, tc->headers[i]);
    if (!h) {
        LOG_ERROR("tempo: curl_slist_append failed: out of memory");
        abort();
    }
    *out = h;
    h = NULL;
out:
    if (b.data)
        explicit_bzero(b.data, b.len);
    buf_free(&b);
    curl_slist_free_all(h);
    return rc;
}

enum attempt_result {
    ATTEMPT_OK,
    ATTEMPT_RETRY, /* transient: back off and try again */
    ATTEMPT_FINAL, /* failed; retrying cannot help */
};

static void path_only(struct slice path, char out[96])
{
    bool found;
    struct slice head;
    slice_cut(path, '?', &head, &found);
    snprintf(out, 96, SLICE_FMT, SLICE_ARG(slice_head(head, 95)));
}

/* A printable, single-line excerpt of an error body. */
static void excerpt(struct slice body, char out[TEMPO_ERROR_EXCERPT + 4])
{
    size_t n = 0;
    struct slice t = slice_trim(body);
    for (size_t i = 0; i < t.len && n < TEMPO_ERROR_EXCERPT; i++) {
        unsigned char c = (unsigned char)t.ptr[i];
        out[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    if (t.len > TEMPO_ERROR_EXCERPT) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

bool tempo_client_is_config_error(struct slice body)
{
    static const char *const needles[] = {
        "localblocks processor not found",
        "empty ring",
        "time range must be within",
        "exceeds the maximum allowed duration",
        "query_end_cutoff",
        "not enabled",
        "failed to parse",
        "invalid TraceQL",
    };
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
        size_t nl = strlen(needles[i]);
        for (size_t j = 0; j + nl <= body.len; j++)
            if (memcmp(body.ptr + j, needles[i], nl) == 0)
                return true;
    }
    return false;
}

static bool curl_transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static enum attempt_result attempt(struct tempo_client *tc, CURL *h, const char *url,
                                   const struct tempo_request *req, struct reply **out,
                                   long *status_out, int64_t *retry_after_s, struct ta_err *err)
{
    char path[96];
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    struct xfer x;
    enum attempt_result res = ATTEMPT_FINAL;
    long status = 0;
    memset(&x, 0, sizeof(x));
    buf_init(&x.body, TEMPO_BODY_MAX);
    path_only(req->path, path);
    *status_out = 0;
    errbuf[0] = '\0';
    if (build_headers(tc, req->accept, &headers, err) != TA_OK)
        goto out;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    int64_t t0 = clock_mono_ns();
    atomic_fetch_add_explicit(&tc->stats.requests, 1, memory_order_relaxed);
    CURLcode cc = curl_easy_perform(h);
    int64_t ms = (clock_mono_ns() - t0) / NS_PER_MS;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    *status_out = cc == CURLE_OK ? status : 0;
    *retry_after_s = x.retry_after_s;
    atomic_fetch_add_explicit(&tc->stats.bytes, x.body.len, memory_order_relaxed);

    if (cc == CURLE_ABORTED_BY_CALLBACK || atomic_load(&tc->stopping)) {
        ta_err_set(err, TA_UNAVAILABLE, "tempo: GET %s: the adapter is shutting down", path);
        goto out;
    }
    if (x.too_large) {
        ta_err_set(err, TA_UPSTREAM, "tempo: GET %s: answer larger than %u bytes", path,
                   TEMPO_BODY_MAX);
        goto out;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        ta_err_set(err, TA_TIMEOUT, "tempo: GET %s: timeout after %llds", path,
                   (long long)(tc->timeout_ns / NS_PER_SEC));
        if (tc->timeout_ns % NS_PER_SEC)
            ta_err_set(err, TA_TIMEOUT, "tempo: GET %s: timeout after %lldms", path,
                       (long long)(tc->timeout_ns / NS_PER_MS));
        goto out;
    }
    if (cc != CURLE_OK) {
        ta_err_set(err, TA_UPSTREAM, "tempo: GET %s: %s", path,
                   errbuf[0] ? errbuf : curl_easy_strerror(cc));
        res = curl_transient(cc) ? ATTEMPT_RETRY : ATTEMPT_FINAL;
        LOG_V(4, "tempo: GET %s: %s (%lld ms)", path, err ? err->msg : "", (long long)ms);
        goto out;
    }
    LOG_V(4, "tempo: GET " SLICE_FMT " -> %ld, %zu bytes, %lld ms",
          SLICE_ARG(slice_head(req->path, 3000)), status, x.body.len, (long long)ms);
    if (log_verbosity >= 6 && !x.protobuf)
        LOG_V(6, "tempo: body of %s: " SLICE_FMT, path,
              SLICE_ARG(slice_head(buf_slice(&x.body), 3000)));
    if (status >= 200 && status < 300) {
        struct reply *r = ta_xcalloc(1, sizeof(*r));
        atomic_init(&r->refs, 1);
        size_t len = 0;
        r->body = buf_take(&x.body, &len);
        r->pub.body = slice_make(r->body, len);
        r->pub.status = status;
        r->pub.protobuf = x.protobuf;
        *out = r;
        res = ATTEMPT_OK;
        goto out;
    }
    char ex[TEMPO_ERROR_EXCERPT + 4];
    excerpt(buf_slice(&x.body), ex);
    if (status == 404) {
        ta_err_set(err, TA_NOT_FOUND, "tempo: GET %s: 404 %s", path, ex[0] ? ex : "not found");
        goto out;
    }
    if (status == 401 && tc->tenant == NULL && strstr(ex, "org id")) {
        ta_err_set(err, TA_UPSTREAM,
                   "tempo: GET %s: 401 %s (multi-tenant Tempo: set "
                   "--tempo-tenant)",
                   path, ex);
        goto out;
    }
    ta_err_set(err, TA_UPSTREAM, "tempo: GET %s: %ld %s", path, status, ex);
    if (status == 429 || status == 502 || status == 503 || status == 504)
        res = ATTEMPT_RETRY;
    else if (status == 500 && !tempo_client_is_config_error(buf_slice(&x.body)))
        res = ATTEMPT_RETRY;
    else if (status == 500)
        ta_err_set(err, TA_UPSTREAM, "tempo: GET %s: 500 %s (a Tempo configuration problem)", path,
                   ex);
out:
    buf_free(&x.body);
    curl_slist_free_all(headers);
    return res;
}

/* ---- pool, retries ------------------------------------------------------------------------- */

static CURL *take_handle(struct tempo_client *tc, int64_t deadline)
{
    CURL *h = NULL;
    struct timespec ts = mono_ts(deadline);
    pthread_mutex_lock(&tc->shared.mu);
    while (tc->shared.nidle == 0 && !atomic_load(&tc->stopping)) {
        if (pthread_cond_timedwait(&tc->shared.slot_cv, &tc->shared.mu, &ts) == ETIMEDOUT)
            break;
    }
    if (tc->shared.nidle > 0 && !atomic_load(&tc->stopping))
        h = tc->shared.idle[--tc->shared.nidle];
    pthread_mutex_unlock(&tc->shared.mu);
    return h;
}

static void give_handle(struct tempo_client *tc, CURL *h)
{
    pthread_mutex_lock(&tc->shared.mu);
    tc->shared.idle[tc->shared.nidle++] = h;
    pthread_cond_signal(&tc->shared.slot_cv);
    pthread_mutex_unlock(&tc->shared.mu);
}

/* Sleeps ns unless the client stops first; false when stopping. */
static bool pause_ns(struct tempo_client *tc, int64_t ns)
{
    struct timespec ts = mono_ts(clock_mono_ns() + ns);
    pthread_mutex_lock(&tc->shared.mu);
    while (!atomic_load(&tc->stopping)) {
        if (pthread_cond_timedwait(&tc->shared.stop_cv, &tc->shared.mu, &ts) == ETIMEDOUT)
            break;
    }
    bool ok = !atomic_load(&tc->stopping);
    pthread_mutex_unlock(&tc->shared.mu);
    return ok;
}

static enum ta_rc perform(struct tempo_client *tc, const char *url, const struct tempo_request *req,
                          struct reply **out, struct ta_err *err)
{
    int64_t start = clock_mono_ns();
    int64_t budget_end = start + tc->retry_budget_ns;
    int max = req->no_retry ? 1 : tc->max_attempts;
    int n = 0;
    char path[96];
    path_only(req->path, path);
    for (;;) {
        CURL *h = take_handle(tc, budget_end);
        if (!h) {
            if (atomic_load(&tc->stopping))
                return ta_err_set(err, TA_UNAVAILABLE,
                                  "tempo: GET %s: the adapter is shutting "
                                  "down",
                                  path);
            return ta_err_set(err, TA_TIMEOUT,
                              "tempo: GET %s: no free connection within %llds "
                              "(--tempo-max-concurrency %d)",
                              path, (long long)(tc->retry_budget_ns / NS_PER_SEC),
                              tc->max_concurrency);
        }
        long status = 0;
        int64_t retry_after_s = 0;
        n++;
        if (n > 1)
            atomic_fetch_add_explicit(&tc->stats.retries, 1, memory_order_relaxed);
        enum attempt_result ar = attempt(tc, h, url, req, out, &status, &retry_after_s, err);
        give_handle(tc, h);
        if (ar == ATTEMPT_OK) {
            (*out)->pub.attempts = n;
            return TA_OK;
        }
        if (ar == ATTEMPT_FINAL || n >= max)
            break;
        /* full jitter: uniform in [0, min(max, base·2^(n-1))] */
        int64_t cap = tc->backoff_base_ns;
        for (int i = 1; i < n && cap < tc->backoff_max_ns; i++)
            cap *= 2;
        if (cap > tc->backoff_max_ns)
            cap = tc->backoff_max_ns;
        int64_t wait = (int64_t)(next_rand(tc) % (uint64_t)(cap + 1));
        if (retry_after_s > 0) {
            int64_t ra = retry_after_s * NS_PER_SEC;
            if (ra > tc->backoff_max_ns)
                ra = tc->backoff_max_ns;
            if (ra > wait)
                wait = ra;
        }
        if (clock_mono_ns() + wait > budget_end)
            break;
        if (status)
            LOG_WARN("tempo answered %ld for %s; retry %d of %d in %lld ms", status, path, n,
                     max - 1, (long long)(wait / NS_PER_MS));
        else
            LOG_WARN("%s; retry %d of %d in %lld ms", err ? err->msg : path, n, max - 1,
                     (long long)(wait / NS_PER_MS));
        if (!pause_ns(tc, wait))
            return ta_err_set(err, TA_UNAVAILABLE, "tempo: GET %s: the adapter is shutting down",
                              path);
    }
    if (n > 1 && err) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof(err->msg) - len, " after %d attempts", n);
    }
    return err ? err->rc : TA_UPSTREAM;
}

/* ---- singleflight and memo ----------------------------------------------------------------- */

/* Drops memoized flights whose time passed; caller holds mu. */
static void evict_expired(struct tempo_client *tc, int64_t now)
{
    struct flight **pp = &tc->shared.flights;
    while (*pp) {
        struct flight *f = *pp;
        if (f->done && f->expires && f->expires <= now && f->holders == 0) {
            *pp = f->next;
            tc->shared.nmemo--;
            tc->shared.memo_bytes -= f->reply->pub.body.len;
            flight_free(f);
            continue;
        }
        pp = &f->next;
    }
}

static struct flight *find_flight(struct tempo_client *tc, const char *key, size_t key_len,
                                  int64_t now)
{
    for (struct flight *f = tc->shared.flights; f; f = f->next) {
        if (f->key_len != key_len || memcmp(f->key, key, key_len) != 0)
            continue;
        if (!f->done || (f->expires && f->expires > now))
            return f;
    }
    return NULL;
}

/* Removes f from the table and frees it; caller holds mu. */
static void unlink_flight(struct tempo_client *tc, struct flight *f)
{
    for (struct flight **pp = &tc->shared.flights; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    flight_free(f);
}

/* Copies a finished flight's outcome to the caller; caller holds mu. */
static enum ta_rc flight_result(struct flight *f, struct tempo_reply **out, struct ta_err *err)
{
    if (f->rc == TA_OK) {
        atomic_fetch_add(&f->reply->refs, 1);
        *out = &f->reply->pub;
        return TA_OK;
    }
    if (err)
        *err = f->err;
    return f->rc;
}

enum ta_rc tempo_client_get(struct tempo_client *tc, const struct tempo_request *req,
                            struct tempo_reply **out, struct ta_err *err)
{
    *out = NULL;
    enum ta_rc rc;
    if (req->path.len == 0 || req->path.ptr[0] != '/')
        return ta_err_set(err, TA_INVALID, "tempo: request path must start with '/'");
    if (slice_has_nul(req->path))
        return ta_err_set(err, TA_INVALID, "tempo: request path contains a NUL byte");
    if (atomic_load(&tc->stopping))
        return ta_err_set(err, TA_UNAVAILABLE, "tempo: the adapter is shutting down");
    struct buf key;
    buf_init(&key, TEMPO_URL_MAX + 1);
    if (buf_addc(&key, req->accept == TEMPO_ACCEPT_PROTOBUF ? 'P' : 'J') != TA_OK ||
        buf_adds(&key, tc->base) != TA_OK || buf_add_slice(&key, req->path) != TA_OK) {
        atomic_fetch_add_explicit(&tc->stats.failures, 1, memory_order_relaxed);
        return ta_err_set(err, TA_INVALID, "tempo: request URL longer than %u bytes",
                          TEMPO_URL_MAX);
    }
    const char *url = key.data + 1;
    int64_t now = clock_mono_ns();

    pthread_mutex_lock(&tc->shared.mu);
    evict_expired(tc, now);
    struct flight *f = req->no_memo ? NULL : find_flight(tc, key.data, key.len, now);
    if (f && f->done) { /* memo hit */
        rc = flight_result(f, out, err);
        pthread_mutex_unlock(&tc->shared.mu);
        atomic_fetch_add_explicit(&tc->stats.memo_hits, 1, memory_order_relaxed);
        LOG_V(4, "tempo: GET " SLICE_FMT " answered from the memo",
              SLICE_ARG(slice_head(req->path, 3000)));
        buf_free(&key);
        return rc;
    }
    if (f) { /* follower: wait for the leader */
        f->holders++;
        while (!f->done)
            pthread_cond_wait(&f->cv, &tc->shared.mu);
        rc = flight_result(f, out, err);
        if (--f->holders == 0 && !f->expires)
            unlink_flight(tc, f);
        pthread_mutex_unlock(&tc->shared.mu);
        atomic_fetch_add_explicit(&tc->stats.shared, 1, memory_order_relaxed);
        if (rc != TA_OK)
            atomic_fetch_add_explicit(&tc->stats.failures, 1, memory_order_relaxed);
        buf_free(&key);
        return rc;
    }
    f = ta_xcalloc(1, sizeof(*f));
    f->key_len = key.len;
    f->key = buf_take(&key, NULL);
    url = f->key + 1;
    f->holders = 1;
    cond_init_mono(&f->cv);
    if (!req->no_memo) { /* others may join it */
        f->next = tc->shared.flights;
        tc->shared.flights = f;
    }
    pthread_mutex_unlock(&tc->shared.mu);

    struct reply *r = NULL;
    struct ta_err e = { TA_OK, "" };
    rc = perform(tc, url, req, &r, &e);

    pthread_mutex_lock(&tc->shared.mu);
    f->done = true;
    f->rc = rc;
    f->err = e;
    f->reply = r; /* the flight's reference */
    if (rc == TA_OK && !req->no_memo && tc->memo_ns > 0 && r->pub.body.len <= TEMPO_MEMO_BODY_MAX &&
        tc->shared.nmemo < TEMPO_MEMO_MAX_ENTRIES &&
        tc->shared.memo_bytes + r->pub.body.len <= TEMPO_MEMO_MAX_BYTES) {
        f->expires = clock_mono_ns() + tc->memo_ns;
        tc->shared.nmemo++;
        tc->shared.memo_bytes += r->pub.body.len;
    }
    pthread_cond_broadcast(&f->cv);
    rc = flight_result(f, out, err);
    if (--f->holders == 0 && !f->expires) {
        if (req->no_memo)
            flight_free(f);
        else
            unlink_flight(tc, f);
    }
    pthread_mutex_unlock(&tc->shared.mu);
    if (rc != TA_OK)
        atomic_fetch_add_explicit(&tc->stats.failures, 1, memory_order_relaxed);
    return rc;
}

const char *tempo_client_url(const struct tempo_client *tc)
{
    return tc->base_log;
}

int tempo_client_max_concurrency(const struct tempo_client *tc)
{
    return tc->max_concurrency;
}

void tempo_client_get_stats(struct tempo_client *tc, struct tempo_client_stats *out)
{
    out->requests = atomic_load_explicit(&tc->stats.requests, memory_order_relaxed);
    out->retries = atomic_load_explicit(&tc->stats.retries, memory_order_relaxed);
    out->failures = atomic_load_explicit(&tc->stats.failures, memory_order_relaxed);
    out->shared = atomic_load_explicit(&tc->stats.shared, memory_order_relaxed);
    out->memo_hits = atomic_load_explicit(&tc->stats.memo_hits, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&tc->stats.bytes, memory_order_relaxed);
}
