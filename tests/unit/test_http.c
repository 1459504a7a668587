/* test_http.c — the libmicrohttpd listener driven by libcurl from the test process: synchronous
 * answers, answers given later from another thread (suspend/resume), exactly-once responses,
 * the early 413/414/431 answers (with and without an error_body callback), shutdown answering a
 * waiting exchange with 503, in-flight counts, response headers, the request view, and HTTPS
 * with and without a client certificate.
 *
 * The handler copies the request view into `T` (guarded by T.mu) and then answers according to
 * T.mode. Every wait is bounded: condition waits and polls give up after WAIT_S, and curl gives
 * up after WAIT_S, so a broken server fails a test instead of hanging it. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/certgen.h"
#include "server/http.h"
#include "server/tls.h"

#define WAIT_S   20
#define HELD_MAX 8

/* For checks on the server's and helper threads, where criterion's assertions cannot unwind:
 * a failure aborts the test process (criterion reports it as a crash). */
#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

/* ---- what the handler saw ------------------------------------------------------------------ */

struct view {
    char *method, *path, *query, *remote, *body;
    size_t path_len, query_len, body_len;
    size_t nheaders;
    char *hname[HTTP_HEADER_LINES_MAX], *hvalue[HTTP_HEADER_LINES_MAX];
    char *x_a; /* request_header(r, "x-a"), NULL when absent */
    bool tls;
    size_t npeer;
    unsigned char *peer[HTTP_PEER_CERTS_MAX];
    size_t peer_len[HTTP_PEER_CERTS_MAX];
};

enum mode {
    M_SYNC,         /* 200 text/plain "hello" with X-Test: yes */
    M_HOLD,         /* hold the exchange for the test to answer */
    M_HANDOFF,      /* hold and answer at once from a new thread (races the handler's return) */
    M_TWICE,        /* 200 "first", then 500 "second" (ignored) */
    M_MANY_HEADERS, /* HTTP_RESPONSE_HEADERS + 1 headers, then 200 */
    M_STATE,        /* per-exchange state with a counting free function, then 200 */
    M_ECHO,         /* 200 with the request body */
    M_EMPTY,        /* 204 without a body */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum mode mode;                       /* set by the test before requests */
    int calls;                            /* guarded by mu */
    struct view last;                     /* guarded by mu */
    struct http_exchange *held[HELD_MAX]; /* guarded by mu */
    int nheld;                            /* guarded by mu */
    pthread_t answerers[64];              /* guarded by mu: M_HANDOFF threads */
    int nanswerers;                       /* guarded by mu */
    atomic_int state_freed;
} T = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static char *dup_slice(struct slice s)
{
    char *p = malloc(s.len + 1);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

static void view_free(struct view *v)
{
    free(v->method);
    free(v->path);
    free(v->query);
    free(v->remote);
    free(v->body);
    free(v->x_a);
    for (size_t i = 0; i < v->nheaders; i++) {
        free(v->hname[i]);
        free(v->hvalue[i]);
    }
    for (size_t i = 0; i < v->npeer; i++)
        free(v->peer[i]);
    memset(v, 0, sizeof(*v));
}

static void view_copy(struct view *v, const struct request *r, struct slice body)
{
    v->method = dup_slice(r->method);
    v->path = dup_slice(r->path);
    v->path_len = r->path.len;
    v->query = dup_slice(r->query);
    v->query_len = r->query.len;
    v->remote = dup_slice(r->remote_addr);
    v->body = dup_slice(body);
    v->body_len = body.len;
    v->nheaders = r->nheaders < HTTP_HEADER_LINES_MAX ? r->nheaders : HTTP_HEADER_LINES_MAX;
    for (size_t i = 0; i < v->nheaders; i++) {
        v->hname[i] = dup_slice(r->headers[i].name);
        v->hvalue[i] = dup_slice(r->headers[i].value);
    }
    const struct slice *xa = request_header(r, SLICE_LIT("x-a"));
    v->x_a = xa ? dup_slice(*xa) : NULL;
    v->tls = r->tls;
    v->npeer = r->npeer_certs < HTTP_PEER_CERTS_MAX ? r->npeer_certs : HTTP_PEER_CERTS_MAX;
    for (size_t i = 0; i < v->npeer; i++) {
        v->peer[i] = malloc(r->peer_certs[i].len);
        memcpy(v->peer[i], r->peer_certs[i].ptr, r->peer_certs[i].len);
        v->peer_len[i] = r->peer_certs[i].len;
    }
}

static void respond_text(struct http_exchange *x, int status, const char *text)
{
    struct buf b;
    buf_init(&b, 1024);
    CHECK(buf_adds(&b, text) == TA_OK);
    http_respond(x, status, "text/plain", &b);
    buf_free(&b); /* http_respond took the bytes; this frees nothing */
}

static void *answer_now(void *arg)
{
    struct http_exchange *x = arg;
    respond_text(x, 200, "handed off");
    http_exchange_release(x);
    return NULL;
}

static void count_free(void *state)
{
    free(state);
    atomic_fetch_add(&T.state_freed, 1);
}

static void handler(void *app, struct http_exchange *x)
{
    CHECK(app == &T);
    const struct request *r = http_exchange_request(x);
    pthread_mutex_lock(&T.mu);
    T.calls++;
    view_free(&T.last);
    view_copy(&T.last, r, http_exchange_body(x));
    enum mode m = T.mode;
    pthread_mutex_unlock(&T.mu);

    switch (m) {
    case M_SYNC:
        http_add_header(x, "X-Test", SLICE_LIT("yes"));
        respond_text(x, 200, "hello");
        break;
    case M_HOLD:
        http_exchange_hold(x);
        pthread_mutex_lock(&T.mu);
        CHECK(T.nheld < HELD_MAX);
        T.held[T.nheld++] = x;
        pthread_cond_broadcast(&T.cv);
        pthread_mutex_unlock(&T.mu);
        break;
    case M_HANDOFF: {
        http_exchange_hold(x);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, answer_now, x) == 0);
        pthread_mutex_lock(&T.mu);
        CHECK(T.nanswerers < 64);
        T.answerers[T.nanswerers++] = t;
        pthread_mutex_unlock(&T.mu);
        break;
    }
    case M_TWICE:
        respond_text(x, 200, "first");
        respond_text(x, 500, "second");
        break;
    case M_MANY_HEADERS:
        for (int i = 0; i <= HTTP_RESPONSE_HEADERS; i++) {
            char name[16];
            snprintf(name, sizeof(name), "X-H%d", i);
            http_add_header(x, name, SLICE_LIT("v"));
        }
        respond_text(x, 200, "many");
        break;
    case M_STATE: {
        int *state = malloc(sizeof(int));
        *state = 42;
        http_exchange_set_state(x, state, count_free);
        CHECK(http_exchange_state(x) == state);
        respond_text(x, 200, "state");
        break;
    }
    case M_ECHO: {
        struct buf b;
        buf_init(&b, 1 << 20);
        CHECK(buf_add_slice(&b, http_exchange_body(x)) == TA_OK);
        http_respond(x, 200, "application/octet-stream", &b);
        break;
    }
    case M_EMPTY:
        http_respond(x, 204, NULL, NULL);
        break;
    }
}

/* The Kubernetes-style early error body used by the "with callback" tests. */
static void status_body(int status, const char *message, struct buf *out, const char **ctype)
{
    *ctype = "application/json";
    CHECK(buf_addf(out, "{\"code\":%d,\"message\":\"%s\"}", status, message) == TA_OK);
}

/* ---- the server and the client ------------------------------------------------------------- */

static struct http_server *srv;
static const char *scheme; /* of the running test server */

static void setup(void)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    T.mode = M_SYNC;
    T.calls = 0;
    T.nheld = 0;
    T.nanswerers = 0;
    atomic_store(&T.state_freed, 0);
    srv = NULL;
}

static void teardown(void)
{
    http_server_stop(srv);
    srv = NULL;
    pthread_mutex_lock(&T.mu);
    int n = T.nanswerers;
    T.nanswerers = 0;
    pthread_mutex_unlock(&T.mu);
    for (int i = 0; i < n; i++)
        pthread_join(T.answerers[i], NULL);
    view_free(&T.last);
    tls_serving_shutdown();
    curl_global_cleanup();
}

TestSuite(http, .init = setup, .fini = teardown);

static void start_with(bool tls, size_t body_max,
                       void (*error_body)(int, const char *, struct buf *, const char **))
{
    struct http_listen_config cfg = {
        .name = "test",
        .tls = tls,
        .threads = 2,
        .body_max = body_max,
        .handler = handler,
        .app = &T,
        .error_body = error_body,
    };
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_parse("127.0.0.1:0", &cfg.addr, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(http_server_start(&cfg, &srv, &err), TA_OK, "%s", err.msg);
    cr_assert_gt(http_server_port(srv), 0);
    scheme = tls ? "https" : "http";
}

static void start(void)
{
    start_with(false, 1 << 16, NULL);
}

struct tls_client {
    const char *ca_pem;   /* trusted for the server */
    const char *cert_pem; /* client certificate (chain), or NULL */
    const char *key_pem;
};

struct call {
    char *url;
    struct curl_slist *headers;
    const char *method; /* CURLOPT_CUSTOMREQUEST, or NULL */
    const char *post;   /* request body, or NULL */
    size_t post_len;
    bool chunked; /* send the body with chunked transfer coding */
    size_t sent;
    const struct tls_client *tls;
    /* results */
    CURLcode rc;
    long status;
    long local_port;
    struct buf body;
    struct buf head;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return buf_add(arg, p, size * n) == TA_OK ? size * n : 0;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    size_t left = c->post_len - c->sent;
    size_t k = size * n < left ? size * n : left;
    memcpy(p, c->post + c->sent, k);
    c->sent += k;
    return k;
}

/* A call to path (raw request target) on the test server. */
static void call_init(struct call *c, const char *target)
{
    memset(c, 0, sizeof(*c));
    size_t cap = strlen(target) + 64;
    c->url = malloc(cap);
    snprintf(c->url, cap, "%s://127.0.0.1:%d%s", scheme, http_server_port(srv), target);
    buf_init(&c->body, 1 << 20);
    buf_init(&c->head, 1 << 20);
    c->headers = curl_slist_append(NULL, "Accept:"); /* only Host and the test's headers */
    c->headers = curl_slist_append(c->headers, "Expect:");
}

static void call_add_header(struct call *c, const char *line)
{
    c->headers = curl_slist_append(c->headers, line);
}

static void call_free(struct call *c)
{
    free(c->url);
    curl_slist_free_all(c->headers);
    buf_free(&c->body);
    buf_free(&c->head);
}

static void perform(struct call *c)
{
    CURL *h = curl_easy_init();
    cr_assert_not_null(h);
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)WAIT_S);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c->head);
    if (c->method)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    if (c->post && c->chunked) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, c);
    } else if (c->post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->post);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)c->post_len);
    }
    if (c->tls) {
        struct curl_blob ca = { (void *)c->tls->ca_pem, strlen(c->tls->ca_pem), CURL_BLOB_COPY };
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (c->tls->cert_pem) {
            struct curl_blob crt = { (void *)c->tls->cert_pem, strlen(c->tls->cert_pem),
                                     CURL_BLOB_COPY };
            struct curl_blob key = { (void *)c->tls->key_pem, strlen(c->tls->key_pem),
                                     CURL_BLOB_COPY };
            curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &crt);
            curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
            curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
            curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
    c->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_getinfo(h, CURLINFO_LOCAL_PORT, &c->local_port);
    curl_easy_cleanup(h);
}

static void *perform_thread(void *arg)
{
    perform(arg);
    return NULL;
}

/* GET target; the caller frees with call_free. */
static void get(struct call *c, const char *target)
{
    call_init(c, target);
    perform(c);
    cr_assert_eq(c->rc, CURLE_OK, "%s", curl_easy_strerror(c->rc));
}

/* The value of response header name (first one), or NULL; out holds it. */
static const char *resp_header(const struct call *c, const char *name, char *out, size_t cap)
{
    const char *p = buf_cstr(&c->head);
    size_t n = strlen(name);
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

static int calls(void)
{
    pthread_mutex_lock(&T.mu);
    int n = T.calls;
    pthread_mutex_unlock(&T.mu);
    return n;
}

static struct timespec deadline(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += WAIT_S;
    return ts;
}

/* Waits (bounded) until n exchanges are held; returns the n-th. */
static struct http_exchange *wait_held(int n)
{
    struct timespec until = deadline();
    pthread_mutex_lock(&T.mu);
    int rc = 0;
    while (T.nheld < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&T.cv, &T.mu, &until);
    struct http_exchange *x = T.nheld >= n ? T.held[n - 1] : NULL;
    pthread_mutex_unlock(&T.mu);
    cr_assert_not_null(x, "the handler held exchange %d", n);
    return x;
}

/* Polls (bounded) until the server counts n requests in flight. */
static void wait_inflight(size_t n)
{
    for (int i = 0; i < WAIT_S * 1000 && http_server_inflight(srv) != n; i++)
        usleep(1000);
    cr_assert_eq(http_server_inflight(srv), n);
}

static void join_client(pthread_t t)
{
    struct timespec until = deadline();
    until.tv_sec += 5; /* curl gives up after WAIT_S itself */
    cr_assert_eq(pthread_timedjoin_np(t, NULL, &until), 0, "the client finished");
}

/* ---- synchronous answers ------------------------------------------------------------------- */

Test(http, answers_synchronously_with_headers)
{
    start();
    cr_assert_eq(http_server_inflight(srv), 0);
    struct call c;
    get(&c, "/hello");
    cr_assert_eq(c.status, 200);
    cr_assert_str_eq(buf_cstr(&c.body), "hello");
    char v[128];
    cr_assert_str_eq(resp_header(&c, "X-Test", v, sizeof(v)), "yes");
    cr_assert_str_eq(resp_header(&c, "Content-Type", v, sizeof(v)), "text/plain");
    cr_assert_str_eq(resp_header(&c, "Content-Length", v, sizeof(v)), "5");
    cr_assert_eq(calls(), 1);
    call_free(&c);
    wait_inflight(0);
}

Test(http, serves_many_requests_in_a_row)
{
    start();
    for (int i = 0; i < 20; i++) {
        struct call c;
        get(&c, "/again");
        cr_assert_eq(c.status, 200);
        call_free(&c);
    }
    cr_assert_eq(calls(), 20);
    wait_inflight(0);
}

Test(http, an_empty_response_has_no_body)
{
    start();
    T.mode = M_EMPTY;
    struct call c;
    get(&c, "/empty");
    cr_assert_eq(c.status, 204);
    cr_assert_eq(c.body.len, 0);
    call_free(&c);
}

Test(http, headers_past_the_limit_are_dropped)
{
    start();
    T.mode = M_MANY_HEADERS;
    struct call c;
    get(&c, "/many");
    cr_assert_eq(c.status, 200);
    char v[64], name[16];
    for (int i = 0; i < HTTP_RESPONSE_HEADERS; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        cr_assert_not_null(resp_header(&c, name, v, sizeof(v)), "%s is sent", name);
    }
    snprintf(name, sizeof(name), "X-H%d", HTTP_RESPONSE_HEADERS);
    cr_assert_null(resp_header(&c, name, v, sizeof(v)), "%s is dropped", name);
    call_free(&c);
}

Test(http, a_second_response_is_ignored)
{
    start();
    T.mode = M_TWICE;
    struct call c;
    get(&c, "/twice");
    cr_assert_eq(c.status, 200);
    cr_assert_str_eq(buf_cstr(&c.body), "first");
    call_free(&c);
}

Test(http, handler_state_is_freed_once_when_the_exchange_completes)
{
    start();
    T.mode = M_STATE;
    struct call c;
    get(&c, "/state");
    cr_assert_eq(c.status, 200);
    call_free(&c);
    wait_inflight(0);
    cr_assert_eq(atomic_load(&T.state_freed), 1);
}

/* ---- the request view ---------------------------------------------------------------------- */

Test(http, request_view_has_method_raw_path_query_headers_and_remote)
{
    start();
    struct call c;
    call_init(&c, "/apis/a%2Fb/x%20y?labelSelector=app%3Dx&x=1");
    c.method = "PATCH";
    call_add_header(&c, "X-A: 1");
    call_add_header(&c, "X-B: two words");
    call_add_header(&c, "x-a: 3");
    call_add_header(&c, "X-Empty;");
    perform(&c);
    cr_assert_eq(c.rc, CURLE_OK, "%s", curl_easy_strerror(c.rc));
    cr_assert_eq(c.status, 200);

    pthread_mutex_lock(&T.mu);
    const struct view *v = &T.last;
    cr_assert_str_eq(v->method, "PATCH");
    cr_assert_str_eq(v->path, "/apis/a%2Fb/x%20y", "the path stays percent-encoded");
    cr_assert_str_eq(v->query, "labelSelector=app%3Dx&x=1");
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", http_server_port(srv));
    const char *want[][2] = {
        { "Host", host }, { "X-A", "1" }, { "X-B", "two words" }, { "x-a", "3" }, { "X-Empty", "" },
    };
    cr_assert_eq(v->nheaders, 5, "every header line, duplicates included");
    for (size_t i = 0; i < 5; i++) {
        cr_assert_str_eq(v->hname[i], want[i][0], "header %zu", i);
        cr_assert_str_eq(v->hvalue[i], want[i][1], "header %zu", i);
    }
    cr_assert_str_eq(v->x_a, "1", "request_header finds the first line, case-blind");
    char remote[64];
    snprintf(remote, sizeof(remote), "127.0.0.1:%ld", c.local_port);
    cr_assert_str_eq(v->remote, remote);
    cr_assert_not(v->tls);
    cr_assert_eq(v->npeer, 0);
    cr_assert_eq(v->body_len, 0);
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
}

Test(http, request_view_query_is_empty_when_absent)
{
    start();
    struct call c;
    get(&c, "/plain");
    pthread_mutex_lock(&T.mu);
    cr_assert_str_eq(T.last.method, "GET");
    cr_assert_str_eq(T.last.path, "/plain");
    cr_assert_eq(T.last.query_len, 0);
    pthread_mutex_unlock(&T.mu);
    call_free(&c);

    get(&c, "/plain?");
    pthread_mutex_lock(&T.mu);
    cr_assert_str_eq(T.last.path, "/plain");
    cr_assert_eq(T.last.query_len, 0);
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
}

Test(http, request_body_keeps_embedded_nuls)
{
    start();
    T.mode = M_ECHO;
    struct call c;
    call_init(&c, "/echo");
    c.post = "ab\0cd";
    c.post_len = 5;
    perform(&c);
    cr_assert_eq(c.rc, CURLE_OK);
    cr_assert_eq(c.status, 200);
    cr_assert_eq(c.body.len, 5);
    cr_assert_eq(memcmp(c.body.data, "ab\0cd", 5), 0);
    pthread_mutex_lock(&T.mu);
    cr_assert_str_eq(T.last.method, "POST");
    cr_assert_eq(T.last.body_len, 5);
    cr_assert_eq(memcmp(T.last.body, "ab\0cd", 5), 0);
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
}

/* ---- early errors -------------------------------------------------------------------------- */

/* "/" followed by 'a's: a request target of len bytes. */
static char *target_of(size_t len)
{
    char *t = malloc(len + 1);
    t[0] = '/';
    memset(t + 1, 'a', len - 1);
    t[len] = '\0';
    return t;
}

Test(http, a_target_of_exactly_the_limit_is_served)
{
    start();
    char *t = target_of(HTTP_URI_MAX);
    struct call c;
    get(&c, t);
    cr_assert_eq(c.status, 200);
    pthread_mutex_lock(&T.mu);
    cr_assert_eq(T.last.path_len, HTTP_URI_MAX);
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
    free(t);
}

Test(http, a_target_one_byte_over_the_limit_is_414)
{
    start();
    char *t = target_of(HTTP_URI_MAX + 1);
    struct call c;
    get(&c, t);
    cr_assert_eq(c.status, 414);
    cr_assert_str_eq(buf_cstr(&c.body), "request URI is longer than 8192 bytes");
    char v[128];
    cr_assert_str_eq(resp_header(&c, "Content-Type", v, sizeof(v)), "text/plain; charset=utf-8");
    cr_assert_eq(calls(), 0, "the handler never sees it");
    call_free(&c);
    free(t);
    wait_inflight(0);
}

Test(http, a_query_counts_toward_the_target_limit)
{
    start_with(false, 1024, status_body);
    char *t = target_of(HTTP_URI_MAX + 1);
    t[100] = '?';
    struct call c;
    get(&c, t);
    cr_assert_eq(c.status, 414);
    cr_assert_str_eq(buf_cstr(&c.body),
                     "{\"code\":414,\"message\":\"request URI is longer than 8192 bytes\"}");
    char v[128];
    cr_assert_str_eq(resp_header(&c, "Content-Type", v, sizeof(v)), "application/json");
    cr_assert_eq(calls(), 0);
    call_free(&c);
    free(t);
}

/* A GET with n extra header lines "X-N<i>: v" (plus Host). */
static void get_with_lines(struct call *c, int n)
{
    call_init(c, "/lines");
    for (int i = 0; i < n; i++) {
        char line[32];
        snprintf(line, sizeof(line), "X-N%d: v", i);
        call_add_header(c, line);
    }
    perform(c);
    cr_assert_eq(c->rc, CURLE_OK, "%s", curl_easy_strerror(c->rc));
}

Test(http, exactly_the_header_line_limit_is_served)
{
    start();
    struct call c;
    get_with_lines(&c, HTTP_HEADER_LINES_MAX - 1); /* + Host */
    cr_assert_eq(c.status, 200);
    pthread_mutex_lock(&T.mu);
    cr_assert_eq(T.last.nheaders, HTTP_HEADER_LINES_MAX);
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
}

Test(http, one_header_line_past_the_limit_is_431)
{
    start();
    struct call c;
    get_with_lines(&c, HTTP_HEADER_LINES_MAX);
    cr_assert_eq(c.status, 431);
    cr_assert_str_eq(buf_cstr(&c.body), "request headers are larger than 16384 bytes or 100 lines");
    cr_assert_eq(calls(), 0);
    call_free(&c);
}

/* A GET whose header name and value bytes sum to total (Host included). */
static void get_with_header_bytes(struct call *c, size_t total)
{
    call_init(c, "/bytes");
    char host[64];
    int hn = snprintf(host, sizeof(host), "127.0.0.1:%d", http_server_port(srv));
    size_t used = strlen("Host") + (size_t)hn + strlen("X-Big");
    cr_assert_lt(used, total);
    size_t vlen = total - used;
    char *line = malloc(vlen + 16);
    int k = snprintf(line, 16, "X-Big: ");
    memset(line + k, 'b', vlen);
    line[(size_t)k + vlen] = '\0';
    call_add_header(c, line);
    free(line);
    perform(c);
    cr_assert_eq(c->rc, CURLE_OK, "%s", curl_easy_strerror(c->rc));
}

Test(http, exactly_the_header_byte_limit_is_served)
{
    start();
    struct call c;
    get_with_header_bytes(&c, HTTP_HEADERS_MAX);
    cr_assert_eq(c.status, 200);
    pthread_mutex_lock(&T.mu);
    cr_assert_eq(T.last.nheaders, 2);
    cr_assert_str_eq(T.last.hname[1], "X-Big");
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
}

Test(http, one_header_byte_past_the_limit_is_431)
{
    start_with(false, 1024, status_body);
    struct call c;
    get_with_header_bytes(&c, HTTP_HEADERS_MAX + 1);
    cr_assert_eq(c.status, 431);
    cr_assert_str_eq(
        buf_cstr(&c.body),
        "{\"code\":431,\"message\":\"request headers are larger than 16384 bytes or 100 lines\"}");
    cr_assert_eq(calls(), 0);
    call_free(&c);
}

static char *body_of(size_t n)
{
    char *b = malloc(n);
    memset(b, 'z', n);
    return b;
}

static void post(struct call *c, size_t n, bool chunked)
{
    call_init(c, "/upload");
    char *b = body_of(n);
    c->post = b;
    c->post_len = n;
    c->chunked = chunked;
    if (chunked)
        call_add_header(c, "Transfer-Encoding: chunked");
    perform(c);
    free(b);
    c->post = NULL;
    cr_assert_eq(c->rc, CURLE_OK, "%s", curl_easy_strerror(c->rc));
}

Test(http, a_body_of_exactly_body_max_is_served)
{
    start_with(false, 1000, NULL);
    T.mode = M_ECHO;
    struct call c;
    post(&c, 1000, false);
    cr_assert_eq(c.status, 200);
    cr_assert_eq(c.body.len, 1000);
    call_free(&c);
    post(&c, 1000, true);
    cr_assert_eq(c.status, 200, "chunked");
    cr_assert_eq(c.body.len, 1000);
    call_free(&c);
}

Test(http, a_declared_body_over_body_max_is_413_before_the_handler)
{
    start_with(false, 1000, NULL);
    T.mode = M_ECHO;
    struct call c;
    post(&c, 1001, false);
    cr_assert_eq(c.status, 413);
    cr_assert_str_eq(buf_cstr(&c.body), "request body is too large");
    cr_assert_eq(calls(), 0);
    call_free(&c);
}

Test(http, a_chunked_body_over_body_max_is_413)
{
    start_with(false, 1000, status_body);
    T.mode = M_ECHO;
    struct call c;
    post(&c, 1001, true);
    cr_assert_eq(c.status, 413);
    cr_assert_str_eq(buf_cstr(&c.body), "{\"code\":413,\"message\":\"request body is too large\"}");
    cr_assert_eq(calls(), 0);
    call_free(&c);
}

/* ---- answers from another thread ----------------------------------------------------------- */

struct later {
    struct http_exchange *x;
    int status;
    const char *text;
    bool twice;
    bool responded_before; /* http_exchange_responded() before answering */
    bool responded_after;
};

static void *answer_later(void *arg)
{
    struct later *l = arg;
    l->responded_before = http_exchange_responded(l->x);
    http_add_header(l->x, "X-Later", SLICE_LIT("1"));
    respond_text(l->x, l->status, l->text);
    if (l->twice)
        respond_text(l->x, 500, "again");
    l->responded_after = http_exchange_responded(l->x);
    http_exchange_release(l->x);
    return NULL;
}

Test(http, answers_later_from_another_thread)
{
    start();
    T.mode = M_HOLD;
    struct call c;
    call_init(&c, "/later");
    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, perform_thread, &c), 0);
    struct http_exchange *x = wait_held(1);
    cr_assert_eq(http_server_inflight(srv), 1, "the held request is in flight");

    struct later l = { .x = x, .status = 202, .text = "later" };
    pthread_t answerer;
    cr_assert_eq(pthread_create(&answerer, NULL, answer_later, &l), 0);
    pthread_join(answerer, NULL);
    join_client(client);
    cr_assert_eq(c.rc, CURLE_OK, "%s", curl_easy_strerror(c.rc));
    cr_assert_eq(c.status, 202);
    cr_assert_str_eq(buf_cstr(&c.body), "later");
    char v[32];
    cr_assert_str_eq(resp_header(&c, "X-Later", v, sizeof(v)), "1");
    cr_assert_not(l.responded_before);
    cr_assert(l.responded_after);
    call_free(&c);
    wait_inflight(0);
}

Test(http, a_later_second_response_is_ignored)
{
    start();
    T.mode = M_HOLD;
    struct call c;
    call_init(&c, "/later");
    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, perform_thread, &c), 0);
    struct later l = { .x = wait_held(1), .status = 200, .text = "once", .twice = true };
    pthread_t answerer;
    cr_assert_eq(pthread_create(&answerer, NULL, answer_later, &l), 0);
    pthread_join(answerer, NULL);
    join_client(client);
    cr_assert_eq(c.status, 200);
    cr_assert_str_eq(buf_cstr(&c.body), "once");
    call_free(&c);
}

Test(http, answers_handed_to_a_thread_racing_the_handler_all_arrive)
{
    start();
    T.mode = M_HANDOFF;
    for (int i = 0; i < 30; i++) {
        struct call c;
        get(&c, "/handoff");
        cr_assert_eq(c.status, 200);
        cr_assert_str_eq(buf_cstr(&c.body), "handed off");
        call_free(&c);
    }
    wait_inflight(0);
}

Test(http, inflight_counts_waiting_requests)
{
    start();
    T.mode = M_HOLD;
    struct call c1, c2;
    call_init(&c1, "/one");
    call_init(&c2, "/two");
    pthread_t t1, t2;
    cr_assert_eq(pthread_create(&t1, NULL, perform_thread, &c1), 0);
    struct http_exchange *x1 = wait_held(1);
    cr_assert_eq(pthread_create(&t2, NULL, perform_thread, &c2), 0);
    struct http_exchange *x2 = wait_held(2);
    cr_assert_eq(http_server_inflight(srv), 2);

    respond_text(x1, 200, "one");
    http_exchange_release(x1);
    join_client(t1);
    wait_inflight(1);
    respond_text(x2, 200, "two");
    http_exchange_release(x2);
    join_client(t2);
    wait_inflight(0);
    cr_assert_str_eq(buf_cstr(&c1.body), "one");
    cr_assert_str_eq(buf_cstr(&c2.body), "two");
    call_free(&c1);
    call_free(&c2);
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static void stop_with_a_waiting_exchange(const char *want_body, const char *want_ctype)
{
    T.mode = M_HOLD;
    struct call c;
    call_init(&c, "/waiting");
    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, perform_thread, &c), 0);
    struct http_exchange *x = wait_held(1);
    cr_assert_not(http_exchange_responded(x));

    http_server_stop(srv);
    srv = NULL;
    join_client(client);
    cr_assert_eq(c.rc, CURLE_OK, "%s", curl_easy_strerror(c.rc));
    cr_assert_eq(c.status, 503);
    cr_assert_str_eq(buf_cstr(&c.body), want_body);
    char v[128];
    cr_assert_str_eq(resp_header(&c, "Content-Type", v, sizeof(v)), want_ctype);

    /* the holder learns it was answered; answering anyway is harmless */
    cr_assert(http_exchange_responded(x));
    respond_text(x, 200, "too late");
    http_exchange_release(x); /* the last reference: freed here */
    call_free(&c);
}

Test(http, stop_answers_a_waiting_exchange_with_503)
{
    start();
    stop_with_a_waiting_exchange("the server is shutting down", "text/plain; charset=utf-8");
}

Test(http, stop_uses_the_error_body_callback)
{
    start_with(false, 1024, status_body);
    stop_with_a_waiting_exchange("{\"code\":503,\"message\":\"the server is shutting down\"}",
                                 "application/json");
}

Test(http, stop_and_quiesce_accept_null_and_idle_servers)
{
    http_server_stop(NULL);
    http_server_quiesce(NULL);
    cr_assert_eq(http_server_inflight(NULL), 0);
    start();
    http_server_stop(srv); /* nothing in flight */
    srv = NULL;
}

Test(http, quiesce_refuses_new_connections_and_finishes_waiting_ones)
{
    start();
    T.mode = M_HOLD;
    struct call c;
    call_init(&c, "/waiting");
    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, perform_thread, &c), 0);
    struct http_exchange *x = wait_held(1);
    int port = http_server_port(srv);
    http_server_quiesce(srv);

    struct call late;
    call_init(&late, "/late");
    snprintf(late.url, strlen("/late") + 64, "http://127.0.0.1:%d/late", port);
    perform(&late);
    cr_assert_eq(late.rc, CURLE_COULDNT_CONNECT, "%s", curl_easy_strerror(late.rc));
    call_free(&late);

    respond_text(x, 200, "finished");
    http_exchange_release(x);
    join_client(client);
    cr_assert_eq(c.status, 200);
    cr_assert_str_eq(buf_cstr(&c.body), "finished");
    call_free(&c);
}

Test(http, start_reports_a_port_in_use)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    socklen_t alen = sizeof(a);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    int port = ntohs(a.sin_port);

    struct http_listen_config cfg = { .name = "api", .threads = 1, .handler = handler, .app = &T };
    cr_assert_eq(netaddr_from_host_port("127.0.0.1", port, &cfg.addr, NULL), TA_OK);
    struct http_server *s = (struct http_server *)&s;
    struct ta_err err = { 0 };
    cr_assert_eq(http_server_start(&cfg, &s, &err), TA_IO);
    cr_assert_null(s);
    char want[128];
    snprintf(want, sizeof(want), "api: cannot listen on 127.0.0.1:%d (in use, or not permitted?)",
             port);
    cr_assert_str_eq(err.msg, want);
    close(fd);
}

/* ---- HTTPS --------------------------------------------------------------------------------- */

struct pem {
    struct buf crt, key;
};

static void make(struct pem *p, const char *cn, bool ca, const char *san, const struct pem *signer)
{
    buf_init(&p->crt, 2 * CERTGEN_PEM_MAX);
    buf_init(&p->key, CERTGEN_PEM_MAX);
    int64_t now = (int64_t)time(NULL);
    const char *sans[] = { san };
    struct certgen_request r = {
        .common_name = cn,
        .sans = sans,
        .nsans = san ? 1 : 0,
        .not_before_s = now - 3600,
        .not_after_s = now + 86400,
        .is_ca = ca,
        .signer_cert_pem = signer ? buf_cstr(&signer->crt) : NULL,
        .signer_key_pem = signer ? buf_cstr(&signer->key) : NULL,
    };
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_make(&r, &p->crt, &p->key, &err), TA_OK, "%s", err.msg);
}

static void pem_free(struct pem *p)
{
    buf_free(&p->crt);
    buf_free(&p->key);
}

/* DER of the first certificate in pem. */
static unsigned char *der_of(const struct buf *pem, int *len)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cr_assert_not_null(c);
    unsigned char *der = NULL;
    *len = i2d_X509(c, &der);
    cr_assert_gt(*len, 0);
    X509_free(c);
    return der;
}

static struct pem server_ca, server_leaf;

static void start_tls(void)
{
    make(&server_ca, "server-ca", true, NULL, NULL);
    make(&server_leaf, "tempo-adapter", false, "127.0.0.1", &server_ca);
    struct ta_err err = { 0 };
    cr_assert_eq(
        tls_serving_install(buf_slice(&server_leaf.crt), buf_slice(&server_leaf.key), &err), TA_OK,
        "%s", err.msg);
    start_with(true, 1 << 16, NULL);
}

static void stop_tls(void)
{
    pem_free(&server_ca);
    pem_free(&server_leaf);
}

Test(http, https_serves_a_client_without_a_certificate)
{
    start_tls();
    struct tls_client tc = { .ca_pem = buf_cstr(&server_ca.crt) };
    struct call c;
    call_init(&c, "/secure?x=1");
    c.tls = &tc;
    perform(&c);
    cr_assert_eq(c.rc, CURLE_OK, "%s", curl_easy_strerror(c.rc));
    cr_assert_eq(c.status, 200);
    cr_assert_str_eq(buf_cstr(&c.body), "hello");
    pthread_mutex_lock(&T.mu);
    cr_assert(T.last.tls);
    cr_assert_eq(T.last.npeer, 0, "no certificate, none seen");
    cr_assert_str_eq(T.last.path, "/secure");
    cr_assert_str_eq(T.last.query, "x=1");
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
    stop_tls();
}

Test(http, https_shows_the_client_certificate_chain_leaf_first)
{
    start_tls();
    struct pem client_ca, client;
    make(&client_ca, "front-proxy-ca", true, NULL, NULL);
    make(&client, "front-proxy-client", false, NULL, &client_ca);
    struct buf chain;
    buf_init(&chain, 2 * CERTGEN_PEM_MAX);
    cr_assert_eq(buf_add_slice(&chain, buf_slice(&client.crt)), TA_OK);
    cr_assert_eq(buf_add_slice(&chain, buf_slice(&client_ca.crt)), TA_OK);
    struct tls_client tc = { .ca_pem = buf_cstr(&server_ca.crt),
                             .cert_pem = buf_cstr(&chain),
                             .key_pem = buf_cstr(&client.key) };
    struct call c;
    call_init(&c, "/with-cert");
    c.tls = &tc;
    perform(&c);
    cr_assert_eq(c.rc, CURLE_OK, "%s", curl_easy_strerror(c.rc));
    cr_assert_eq(c.status, 200);

    int leaf_len, ca_len;
    unsigned char *leaf_der = der_of(&client.crt, &leaf_len);
    unsigned char *ca_der = der_of(&client_ca.crt, &ca_len);
    pthread_mutex_lock(&T.mu);
    cr_assert(T.last.tls);
    cr_assert_eq(T.last.npeer, 2);
    cr_assert_eq(T.last.peer_len[0], (size_t)leaf_len);
    cr_assert_eq(memcmp(T.last.peer[0], leaf_der, (size_t)leaf_len), 0, "the leaf comes first");
    cr_assert_eq(T.last.peer_len[1], (size_t)ca_len);
    cr_assert_eq(memcmp(T.last.peer[1], ca_der, (size_t)ca_len), 0);
    pthread_mutex_unlock(&T.mu);
    OPENSSL_free(leaf_der);
    OPENSSL_free(ca_der);
    call_free(&c);

    /* the next client, without a certificate, still works and shows none */
    struct tls_client plain = { .ca_pem = buf_cstr(&server_ca.crt) };
    call_init(&c, "/after");
    c.tls = &plain;
    perform(&c);
    cr_assert_eq(c.rc, CURLE_OK, "%s", curl_easy_strerror(c.rc));
    cr_assert_eq(c.status, 200);
    pthread_mutex_lock(&T.mu);
    cr_assert_eq(T.last.npeer, 0);
    pthread_mutex_unlock(&T.mu);
    call_free(&c);
    buf_free(&chain);
    pem_free(&client);
    pem_free(&client_ca);
    stop_tls();
}

Test(http, https_answers_later_from_another_thread)
{
    start_tls();
    T.mode = M_HOLD;
    struct tls_client tc = { .ca_pem = buf_cstr(&server_ca.crt) };
    struct call c;
    call_init(&c, "/later");
    c.tls = &tc;
    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, perform_thread, &c), 0);
    struct later l = { .x = wait_held(1), .status = 200, .text = "secure later" };
    pthread_t answerer;
    cr_assert_eq(pthread_create(&answerer, NULL, answer_later, &l), 0);
    pthread_join(answerer, NULL);
    join_client(client);
    cr_assert_eq(c.rc, CURLE_OK, "%s", curl_easy_strerror(c.rc));
    cr_assert_str_eq(buf_cstr(&c.body), "secure later");
    call_free(&c);
    stop_tls();
}
