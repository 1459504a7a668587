/* app.h — the running adapter's parts, as main wires them, for the request handlers.
 *
 * main builds one struct app before the listeners start and frees it after they stop; the API
 * handler (server/api.c), the OTLP handler (server/ingest.c) and /metrics
 * (server/selfmetrics.c) read it. Every pointer is set once at startup (immutable afterwards);
 * the objects behind them are internally locked. */
#ifndef TA_SERVER_APP_H
#define TA_SERVER_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rules/cache.h"
#include "rules/source.h"
#include "server/auth.h"
#include "server/flags.h"
#include "server/workpool.h"

struct store;
struct tempo_source;
struct http_server;
struct openapi;
struct ingest_keep;
struct servingcert;

struct app {
    const struct flags *flags;
    struct cache *cache;
    const struct source *source;     /* points at embedded_source or into tempo */
    struct source embedded_source;   /* the store's source when embedded */
    struct store *store;             /* embedded store, or NULL with Tempo */
    struct ingest_keep *keep;        /* attributes the OTLP receiver keeps (server/ingest.c) */
    struct openapi *openapi;         /* hashed OpenAPI documents */
    struct servingcert *servingcert; /* managed or file-watched serving certificate, or NULL */
    struct tempo_source *tempo;      /* Tempo source, or NULL */
    struct auth *auth;               /* NULL with --insecure-disable-auth */
    struct workpool *pool;           /* runs requests that wait on kube-apiserver */
    struct http_server *api_server;  /* for in-flight counts on /metrics */
    struct http_server *otlp_server;
    int64_t started_ns;            /* wall clock at startup */
    atomic_uint_fast64_t requests; /* API requests answered, by class */
    atomic_uint_fast64_t requests_4xx;
    atomic_uint_fast64_t requests_5xx;
    atomic_uint_fast64_t reloads; /* successful rules reloads */
    atomic_uint_fast64_t reload_errors;
};

#endif
