/* http.h — the HTTP(S) listeners on libmicrohttpd, and the exchange handlers work with.
 *
 * main starts two listeners: the HTTPS API (server/api.c is its handler) and the plain-HTTP OTLP
 * receiver. libmicrohttpd's thread pool (one thread per core, epoll) reads requests; this file
 * enforces the size limits, builds the struct request view and calls the handler once per
 * request. A handler answers with http_respond, either before it returns or later from any
 * other thread (the connection is suspended meanwhile, so no libmicrohttpd thread waits on a
 * trace source or on kube-apiserver). Exactly one http_respond per exchange is required.
 * Thread rules: an exchange belongs to one thread at a time until http_respond; the server's
 * shared list of suspended exchanges is guarded by its mutex. */
#ifndef TA_SERVER_HTTP_H
#define TA_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/base/buf.h"
#include "apis/base/ta_err.h"
#include "server/netaddr.h"
#include "server/request.h"

#define HTTP_URI_MAX          (8 * 1024)  /* request target; longer → 414 */
#define HTTP_HEADERS_MAX      (16 * 1024) /* Σ header name + value bytes; more → 431 */
#define HTTP_HEADER_LINES_MAX 100         /* header lines; more → 431 */
#define HTTP_PEER_CERTS_MAX   10          /* client certificate chain length considered */
#define HTTP_CONNECTIONS_MAX  4096        /* concurrent connections per listener */
#define HTTP_IDLE_TIMEOUT_S   60          /* idle keep-alive connections are closed after it */
#define HTTP_POOL_BYTES       (64 * 1024) /* libmicrohttpd memory per connection */
#define HTTP_RESPONSE_HEADERS 8           /* extra response headers per exchange */

struct http_server;
struct http_exchange;

typedef void (*http_handler_fn)(void *app, struct http_exchange *x);

struct http_listen_config {
    const char *name; /* "api" or "otlp", for logs */
    struct netaddr addr;
    bool tls;         /* serve HTTPS with the identity of server/tls.c */
    unsigned threads; /* libmicrohttpd thread pool size */
    size_t body_max;  /* request body bytes accepted; more → 413 */
    http_handler_fn handler;
    void *app;
    /* Builds the body of an early error (413/414/431/503) for this listener, e.g. a Kubernetes
     * Status; NULL gives a short text body. */
    void (*error_body)(int status, const char *message, struct buf *out, const char **content_type);
};

/* Starts listening. *out is set before the first thread starts (so a handler may find the
 * server through its app); on failure it is NULL again. */
enum ta_rc http_server_start(const struct http_listen_config *cfg, struct http_server **out,
                             struct ta_err *err);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);
/* Stops accepting new connections; requests in flight go on. */
void http_server_quiesce(struct http_server *s);
/* Requests received and not yet completed. */
size_t http_server_inflight(const struct http_server *s);
/* Answers 503 to every exchange still waiting, closes every connection, frees. NULL is fine. */
void http_server_stop(struct http_server *s);

/* -- for handlers -------------------------------------------------------------------------- */
const struct request *http_exchange_request(const struct http_exchange *x);
struct slice http_exchange_body(const struct http_exchange *x);
/* Per-request state of the handler, freed with free_fn when the exchange completes. */
void http_exchange_set_state(struct http_exchange *x, void *state, void (*free_fn)(void *));
void *http_exchange_state(const struct http_exchange *x);
/* Adds a response header (both copied) before http_respond; ignored past
 * HTTP_RESPONSE_HEADERS (a programming error, logged). */
void http_add_header(struct http_exchange *x, const char *name, struct slice value);
/* Keeps x allocated past its completion until the matching release: for handlers that hand x
 * to another thread (a cache waiter, a worker job). After a shutdown answered x with 503, the
 * holder sees http_exchange_responded() true and must not read the request any more. */
void http_exchange_hold(struct http_exchange *x);
void http_exchange_release(struct http_exchange *x);
bool http_exchange_responded(struct http_exchange *x);
/* Sends the response: takes the bytes of body (NULL = empty). Any thread, exactly once. */
void http_respond(struct http_exchange *x, int status, const char *content_type, struct buf *body);

#endif
