/* request.h — the read-only view of one HTTP request that handlers and auth look at.
 *
 * server/http.c fills it from libmicrohttpd before calling the handler; every slice borrows
 * from libmicrohttpd's connection memory or the request context and is valid until the
 * response is queued. Path and query are raw (still percent-encoded): apis/ decodes them.
 * One request is handled by one thread at a time. */
#ifndef TA_SERVER_REQUEST_H
#define TA_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/base/slice.h"

struct request_header {
    struct slice name;
    struct slice value;
};

struct request {
    struct slice method;
    struct slice path;                    /* raw, percent-encoded, without the query */
    struct slice query;                   /* raw, without the '?'; empty when absent */
    const struct request_header *headers; /* every header line, in arrival order */
    size_t nheaders;
    const struct slice *peer_certs; /* TLS client certificates (DER), leaf first; may be none */
    size_t npeer_certs;
    bool tls;
    struct slice remote_addr; /* "127.0.0.1:53412" */
};

/* The value of the first header line named name (case-insensitive), or NULL. */
const struct slice *request_header(const struct request *r, struct slice name);

#endif
