/* http.c — libmicrohttpd listeners: limits, request views, suspension while a handler waits.
 *
 * Per request: the URI-log callback creates the exchange (the raw request target is kept);
 * the first access callback collects headers and peer certificates and rejects oversized
 * requests; body chunks are appended up to body_max; the last callback runs the handler. If the
 * handler has not answered when it returns, the connection is suspended and http_respond
 * (from whichever thread) resumes it; libmicrohttpd then calls us again and the response is
 * queued. The completion callback frees the exchange. See http.h for the thread rules. */
#include "server/http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "server/tls.h"

enum phase {
    PHASE_NEW,     /* exchange created, access handler not yet called */
    PHASE_READING, /* headers seen, body arriving */
    PHASE_HANDLED, /* handler called; waiting for or holding the response */
};

struct resp_header {
    char *name;
    char *value;
};

struct http_exchange {
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum phase phase;
    char *target; /* raw request target (path?query), at most HTTP_URI_MAX bytes kept */
    size_t target_len;
    bool target_too_long;
    struct request req;
    struct request_header *headers;
    size_t nheaders, header_bytes;
    bool headers_too_large;
    struct slice peer[HTTP_PEER_CERTS_MAX];
    char remote[64];
    char method[16];
    struct buf body;
    bool body_too_large;
    int64_t started_ns;
    void *state;
    void (*state_free)(void *);
    /* response; mu guards responded, suspended and the fields below once the handler runs */
    pthread_mutex_t mu;
    bool responded;
    bool suspended;
    bool queued;
    int status;
    const char *content_type;
    char *resp_body;
    size_t resp_len;
    struct resp_header resp_headers[HTTP_RESPONSE_HEADERS];
    size_t nresp_headers;
    struct http_exchange *next_suspended; /* in srv->shared.suspended, guarded by srv mu */
    atomic_int refs; /* libmicrohttpd's (until completion) plus http_exchange_hold's */
};

struct http_server {
    struct http_listen_config cfg;
    struct MHD_Daemon *daemon;
    atomic_size_t inflight;
    struct {
        pthread_mutex_t mu;
        struct http_exchange *suspended; /* guarded by mu */
        bool stopping;                   /* guarded by mu */
    } shared;
};

/* -- exchange life cycle ------------------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *s = cls;
    struct http_exchange *x = ta_xcalloc(1, sizeof(*x));
    size_t len = strnlen(uri, HTTP_URI_MAX + 1);
    x->srv = s;
    x->conn = conn;
    x->target_too_long = len > HTTP_URI_MAX;
    x->target_len = x->target_too_long ? HTTP_URI_MAX : len;
    x->target = ta_xstrndup(uri, x->target_len);
    x->started_ns = clock_mono_ns();
    buf_init(&x->body, s->cfg.body_max);
    pthread_mutex_init(&x->mu, NULL);
    atomic_init(&x->refs, 1);
    atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed);
    return x;
}

static void exchange_free(struct http_exchange *x)
{
    if (x->state_free)
        x->state_free(x->state);
    for (size_t i = 0; i < x->nresp_headers; i++) {
        free(x->resp_headers[i].name);
        free(x->resp_headers[i].value);
    }
    free(x->resp_body);
    free(x->headers);
    free(x->target);
    buf_free(&x->body);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct http_server *s = cls;
    struct http_exchange *x = *con_cls;
    if (!x)
        return;
    *con_cls = NULL;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        LOG_V(4, "%s: %s %.200s ended early (code %d)", s->cfg.name, x->method, x->target,
              (int)toe);
    /* a suspended exchange is never completed by libmicrohttpd: it is resumed first */
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
    http_exchange_release(x);
}

void http_exchange_hold(struct http_exchange *x)
{
    atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
}

void http_exchange_release(struct http_exchange *x)
{
    if (atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) == 1)
        exchange_free(x);
}

bool http_exchange_responded(struct http_exchange *x)
{
    pthread_mutex_lock(&x->mu);
    bool r = x->responded;
    pthread_mutex_unlock(&x->mu);
    return r;
}

/* -- request view -------------------------------------------------------------------------- */

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct http_exchange *x = cls;
    x->header_bytes += key_size + value_size;
    if (x->nheaders >= HTTP_HEADER_LINES_MAX || x->header_bytes > HTTP_HEADERS_MAX) {
        x->headers_too_large = true;
        return MHD_NO;
    }
    x->headers = ta_xreallocarray(x->headers, x->nheaders + 1, sizeof(*x->headers));
    x->headers[x->nheaders++] =
        (struct request_header){ slice_make(key, key_size),
                                 slice_make(value ? value : "", value ? value_size : 0) };
    return MHD_YES;
}

static void collect_peer_certs(struct http_exchange *x)
{
    if (!x->srv->cfg.tls)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return;
    unsigned int n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(ci->tls_session, &n);
    if (!certs)
        return;
    if (n > HTTP_PEER_CERTS_MAX)
        n = HTTP_PEER_CERTS_MAX;
    for (unsigned int i = 0; i < n; i++)
        x->peer[i] = slice_make((const char *)certs[i].data, certs[i].size);
    x->req.peer_certs = x->peer;
    x->req.npeer_certs = n;
}

static void build_request(struct http_exchange *x, const char *method)
{
    snprintf(x->method, sizeof(x->method), "%s", method);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(x->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    netaddr_format(ci ? ci->client_addr : NULL, x->remote);
    MHD_get_connection_values_n(x->conn, MHD_HEADER_KIND, on_header, x);
    struct slice target = slice_make(x->target, x->target_len);
    struct slice path;
    bool has_query;
    struct slice query = slice_cut(target, '?', &path, &has_query);
    x->req.method = slice_from_cstr(method);
    x->req.path = path;
    x->req.query = query;
    x->req.headers = x->headers;
    x->req.nheaders = x->nheaders;
    x->req.tls = x->srv->cfg.tls;
    x->req.remote_addr = slice_from_cstr(x->remote);
    collect_peer_certs(x);
}

/* -- responses ----------------------------------------------------------------------------- */

void http_add_header(struct http_exchange *x, const char *name, struct slice value)
{
    if (x->nresp_headers >= HTTP_RESPONSE_HEADERS) {
        LOG_ERROR("too many response headers (dropped %s)", name);
        return;
    }
    x->resp_headers[x->nresp_headers++] =
        (struct resp_header){ ta_xstrdup(name), ta_xstrndup(value.ptr, value.len) };
}

static enum MHD_Result queue(struct http_exchange *x)
{
    char *data = x->resp_body;
    size_t len = x->resp_len;
    x->resp_body = NULL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, data ? data : NULL, free);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    if (x->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, x->content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < x->nresp_headers; i++)
        MHD_add_response_header(r, x->resp_headers[i].name, x->resp_headers[i].value);
    enum MHD_Result ok = MHD_queue_response(x->conn, (unsigned int)x->status, r);
    MHD_destroy_response(r);
    x->queued = true;
    LOG_V(4, "%s: %s %.300s %d %s %.3fms", x->srv->cfg.name, x->method, x->target, x->status,
          x->remote, (double)(clock_mono_ns() - x->started_ns) / 1e6);
    return ok;
}

/* Removes x from the suspended list; true when it was there. Whoever removes it owns the one
 * MHD_resume_connection call, so a resumed exchange is never resumed (or freed) twice. */
static bool unlink_suspended(struct http_server *s, struct http_exchange *x)
{
    bool found = false;
    pthread_mutex_lock(&s->shared.mu);
    for (struct http_exchange **p = &s->shared.suspended; *p; p = &(*p)->next_suspended)
        if (*p == x) {
            *p = x->next_suspended;
            found = true;
            break;
        }
    pthread_mutex_unlock(&s->shared.mu);
    return found;
}

/* Stores the response unless one exists (then data is freed); x->mu held. */
static void set_response_locked(struct http_exchange *x, int status, const char *content_type,
                                char *data, size_t len)
{
    if (x->responded) {
        free(data);
        LOG_ERROR("second response for %.200s ignored", x->target);
        return;
    }
    x->responded = true;
    x->status = status;
    x->content_type = content_type;
    x->resp_body = data;
    x->resp_len = len;
}

/* Takes data (malloc'd, may be NULL) as the response and resumes x if it waits. */
static void respond_bytes(struct http_exchange *x, int status, const char *content_type, char *data,
                          size_t len)
{
    bool resume = false;
    pthread_mutex_lock(&x->mu);
    set_response_locked(x, status, content_type, data, len);
    if (x->suspended && unlink_suspended(x->srv, x)) {
        x->suspended = false;
        resume = true;
    }
    pthread_mutex_unlock(&x->mu);
    if (resume)
        MHD_resume_connection(x->conn); /* x stays alive until libmicrohttpd completes it */
}

void http_respond(struct http_exchange *x, int status, const char *content_type, struct buf *body)
{
    size_t len = 0;
    char *data = body ? buf_take(body, &len) : NULL;
    respond_bytes(x, status, content_type, data, len);
}

/* The body of an error answered by this layer itself (limits, shutdown). */
static char *error_body(struct http_server *s, int status, const char *message, size_t *len,
                        const char **ctype)
{
    struct buf b;
    *ctype = "text/plain; charset=utf-8";
    buf_init(&b, 4096);
    if (s->cfg.error_body)
        s->cfg.error_body(status, message, &b, ctype);
    else if (buf_adds(&b, message) != TA_OK)
        buf_free(&b);
    return buf_take(&b, len);
}

static void respond_error(struct http_exchange *x, int status, const char *message)
{
    size_t len;
    const char *ctype;
    char *data = error_body(x->srv, status, message, &len, &ctype);
    respond_bytes(x, status, ctype, data, len);
}

/* -- the access callback ------------------------------------------------------------------- */

static enum MHD_Result first_call(struct http_exchange *x, const char *method)
{
    build_request(x, method);
    if (x->target_too_long) {
        respond_error(x, 414, "request URI is longer than 8192 bytes");
        return queue(x);
    }
    if (x->headers_too_large) {
        respond_error(x, 431, "request headers are larger than 16384 bytes or 100 lines");
        return queue(x);
    }
    const struct slice *cl = request_header(&x->req, SLICE_LIT("Content-Length"));
    if (cl) {
        uint64_t n = 0;
        for (size_t i = 0; i < cl->len && i < 20; i++)
            if (cl->ptr[i] >= '0' && cl->ptr[i] <= '9')
                n = n * 10 + (uint64_t)(cl->ptr[i] - '0');
        if (n > x->srv->cfg.body_max) {
            respond_error(x, 413, "request body is too large");
            return queue(x);
        }
    }
    x->phase = PHASE_READING;
    return MHD_YES;
}

static enum MHD_Result run_handler(struct http_exchange *x)
{
    x->phase = PHASE_HANDLED;
    if (x->body_too_large) {
        respond_error(x, 413, "request body is too large");
        return queue(x);
    }
    x->srv->cfg.handler(x->srv->cfg.app, x);
    struct http_server *s = x->srv;
    pthread_mutex_lock(&x->mu);
    if (x->responded) {
        pthread_mutex_unlock(&x->mu);
        return queue(x);
    }
    pthread_mutex_lock(&s->shared.mu);
    bool stopping = s->shared.stopping;
    if (!stopping) {
        x->next_suspended = s->shared.suspended;
        s->shared.suspended = x;
        x->suspended = true;
        MHD_suspend_connection(x->conn);
    }
    pthread_mutex_unlock(&s->shared.mu);
    pthread_mutex_unlock(&x->mu);
    if (stopping) {
        respond_error(x, 503, "the server is shutting down");
        return queue(x);
    }
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    struct http_exchange *x = *con_cls;
    if (!x) {
        x = on_uri(cls, "", conn); /* no URI callback happened: treat as an empty target */
        *con_cls = x;
    }
    switch (x->phase) {
    case PHASE_NEW:
        return first_call(x, method);
    case PHASE_READING:
        if (*upload_size) {
            if (!x->body_too_large && buf_add(&x->body, upload_data, *upload_size) != TA_OK)
                x->body_too_large = true;
            *upload_size = 0;
            return MHD_YES;
        }
        x->req.nheaders = x->nheaders;
        return run_handler(x);
    case PHASE_HANDLED:
        if (x->queued)
            return MHD_YES;
        pthread_mutex_lock(&x->mu);
        bool ready = x->responded;
        pthread_mutex_unlock(&x->mu);
        return ready ? queue(x) : MHD_YES;
    }
    return MHD_NO;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *s = cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    LOG_V(2, "%s: libmicrohttpd: %s", s->cfg.name, line);
}

/* -- accessors ----------------------------------------------------------------------------- */

const struct request *http_exchange_request(const struct http_exchange *x)
{
    return &x->req;
}

struct slice http_exchange_body(const struct http_exchange *x)
{
    return buf_slice(&x->body);
}

void http_exchange_set_state(struct http_exchange *x, void *state, void (*free_fn)(void *))
{
    x->state = state;
    x->state_free = free_fn;
}

void *http_exchange_state(const struct http_exchange *x)
{
    return x->state;
}

/* -- server -------------------------------------------------------------------------------- */

enum ta_rc http_server_start(const struct http_listen_config *cfg, struct http_server **out,
                             struct ta_err *err)
{
    *out = NULL;
    struct http_server *s = ta_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    pthread_mutex_init(&s->shared.mu, NULL);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (cfg->tls)
        flags |= MHD_USE_TLS;
    if (cfg->addr.ss.ss_family == AF_INET6)
        flags |= cfg->addr.any_v6 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)tls_serving_retrieve },
        { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };
    unsigned int threads = cfg->threads > 1 ? cfg->threads : 1;
    *out = s; /* before the daemon's threads exist: a handler may read it through its app */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, s, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&cfg->addr.ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_POOL_BYTES, MHD_OPTION_THREAD_POOL_SIZE,
        threads, MHD_OPTION_ARRAY, cfg->tls ? tls_opts : none, MHD_OPTION_END);
    if (!s->daemon) {
        char where[64];
        netaddr_format((const struct sockaddr *)&cfg->addr.ss, where);
        pthread_mutex_destroy(&s->shared.mu);
        free(s);
        *out = NULL;
        return ta_err_set(err, TA_IO, "%s: cannot listen on %s (in use, or not permitted?)",
                          cfg->name, where);
    }
    return TA_OK;
}

int http_server_port(const struct http_server *s)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return di ? (int)di->port : -1;
}

void http_server_quiesce(struct http_server *s)
{
    if (!s || !s->daemon)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

size_t http_server_inflight(const struct http_server *s)
{
    return s ? atomic_load_explicit(&s->inflight, memory_order_relaxed) : 0;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    /* Answer every exchange still waiting; later suspensions answer 503 themselves. */
    for (;;) {
        pthread_mutex_lock(&s->shared.mu);
        s->shared.stopping = true;
        struct http_exchange *x = s->shared.suspended;
        if (x)
            s->shared.suspended = x->next_suspended; /* we own its resume now */
        pthread_mutex_unlock(&s->shared.mu);
        if (!x)
            break;
        size_t len;
        const char *ctype;
        char *data = error_body(s, 503, "the server is shutting down", &len, &ctype);
        pthread_mutex_lock(&x->mu);
        if (x->responded)
            free(data);
        else
            set_response_locked(x, 503, ctype, data, len);
        x->suspended = false;
        pthread_mutex_unlock(&x->mu);
        MHD_resume_connection(x->conn);
    }
    /* Give libmicrohttpd a moment to flush the responses just resumed. */
    for (int i = 0; i < 50 && http_server_inflight(s) > 0; i++)
        usleep(10000);
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->shared.mu);
    free(s);
}
