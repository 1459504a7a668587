/* tempo_client.h — the HTTP transport to Grafana Tempo (libcurl).
 *
 * server/tempo_source builds request paths (TraceQL rendered by rules/traceql, URL-encoded)
 * and calls tempo_client_get from the cache's worker threads and from its own fetch threads.
 * The client adds the base URL (which may carry a path, e.g. Grafana Cloud's
 * https://tempo-<zone>.grafana.net/tempo), X-Scope-OrgID, Basic or Bearer authorization (read
 * from files through server/secret_file, re-read when they rotate), extra headers, TLS
 * settings, gzip, HTTP/2 where offered, a per-attempt time-out, retries with exponential
 * back-off and full jitter on 429/502/503/504/transient 500/connection errors, a global limit
 * of max_concurrency requests in flight (a pool of reusable easy handles: connections stay
 * open), singleflight (identical requests in flight at once share one HTTP call) and a short
 * memo of recent successful small answers (identical requests within memo_ns reuse them).
 * Bodies are capped at TEMPO_BODY_MAX after decompression. No secret is ever logged.
 * Internally locked (shared.mu, never held during a transfer): any thread. */
#ifndef TA_SERVER_TEMPO_CLIENT_H
#define TA_SERVER_TEMPO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

#define TEMPO_BODY_MAX           (16u << 20)    /* 16 MiB: largest answer accepted (decompressed) */
#define TEMPO_URL_MAX            (512u * 1024u) /* base + path + query: 3 × the 128 KiB TraceQL cap */
#define TEMPO_ERROR_EXCERPT      120 /* bytes of a plain-text error body kept in messages */
#define TEMPO_MEMO_NS            (5LL * 1000000000LL) /* default memo of identical answers */
#define TEMPO_MEMO_BODY_MAX      (256u * 1024u)       /* larger answers (traces) are not memoized */
#define TEMPO_MEMO_MAX_ENTRIES   1024                 /* memoized answers kept at once */
#define TEMPO_MEMO_MAX_BYTES     (32u << 20) /* their bodies, in total: bounds the memo's memory */
#define TEMPO_CLIENT_MAX_HEADERS 64          /* --tempo-header entries */
#define TEMPO_HEADER_MAX         8192        /* bytes of one extra header */

struct tempo_client; /* opaque */

struct tempo_client_config {
    const char *url;               /* --tempo-url: http(s)://host[:port][/prefix] */
    const char *tenant;            /* --tempo-tenant: X-Scope-OrgID; NULL or "" = none */
    const char *bearer_token_file; /* --tempo-bearer-token-file */
    const char *basic_auth_file;   /* --tempo-basic-auth-file ("user:password") */
    char *const *headers;          /* --tempo-header "Name=value" entries */
    size_t nheaders;
    const char *ca_file;          /* --tempo-ca-file */
    const char *client_cert_file; /* --tempo-client-cert-file */
    const char *client_key_file;  /* --tempo-client-key-file */
    bool insecure_skip_verify;    /* --tempo-insecure-skip-verify */
    int64_t timeout_ns;           /* --tempo-timeout, per attempt; 0 = 30 s */
    int max_concurrency;          /* --tempo-max-concurrency; 0 = 8 */
    int max_attempts;             /* attempts per request; 0 = 3 */
    int64_t backoff_base_ns;      /* first back-off cap; 0 = 200 ms */
    int64_t backoff_max_ns;       /* largest back-off; 0 = 5 s */
    int64_t retry_budget_ns;      /* no retry starts later than this after the first attempt
                                     began; 0 = timeout + 10 s */
    int64_t memo_ns;              /* 0 = TEMPO_MEMO_NS; negative disables the memo */
    int64_t secret_recheck_ns;    /* 0 = SECRET_FILE_RECHECK_NS */
};

enum tempo_accept {
    TEMPO_ACCEPT_JSON,
    TEMPO_ACCEPT_PROTOBUF, /* Accept: application/protobuf (traces by id, search) */
};

struct tempo_request {
    struct slice path; /* below the base URL, with its query: "/api/metrics/query?q=…" */
    enum tempo_accept accept;
    bool no_retry; /* a single attempt (readiness probes) */
    bool no_memo;  /* never answered from, nor stored in, the memo */
};

/* A successful answer (2xx). Shared between the callers of one singleflight or memo entry:
 * read-only, released with tempo_reply_release. */
struct tempo_reply {
    long status;
    bool protobuf;     /* Content-Type is application/protobuf */
    struct slice body; /* decompressed, NUL-terminated after len */
    int attempts;      /* HTTP attempts it took (1 = no retry) */
};

struct tempo_client_stats {
    uint64_t requests;  /* HTTP attempts sent */
    uint64_t retries;   /* attempts after the first */
    uint64_t failures;  /* tempo_client_get calls that failed */
    uint64_t shared;    /* calls answered by another caller's request in flight */
    uint64_t memo_hits; /* calls answered from the memo */
    uint64_t bytes;     /* body bytes received */
};

/* Validates cfg (URL scheme and form, header syntax, readable TLS files, auth files readable
 * and non-empty, Basic and Bearer not both) and creates the handle pool. Strings are copied.
 * Requires curl_global_init to have run. On TA_OK the caller owns *out; TA_INVALID or TA_IO
 * name the flag at fault. Logs one line describing the set-up (files, never secrets). */
enum ta_rc tempo_client_new(const struct tempo_client_config *cfg, struct tempo_client **out,
                            struct ta_err *err);
/* Aborts transfers in progress and wakes every waiter (they fail promptly); later calls fail.
 * Idempotent; any thread. */
void tempo_client_stop(struct tempo_client *tc);
/* Stops and frees. No call may be running or start afterwards. NULL is fine. */
void tempo_client_free(struct tempo_client *tc);

/* GETs base URL + req->path. TA_OK: *out holds a 2xx answer (tempo_reply_release it).
 * Otherwise *out is NULL and err->msg reads like "tempo: GET /api/metrics/query: 429 job queue
 * full after 3 attempts", "tempo: GET /api/metrics/query: timeout after 30s" or "tempo: GET
 * /api/search: answer larger than 16777216 bytes". Codes: TA_NOT_FOUND (404), TA_TIMEOUT
 * (time-out, or no free slot in time), TA_UPSTREAM (every other failure), TA_INVALID (a path
 * that is empty, lacks its leading '/' or is over TEMPO_URL_MAX). */
enum ta_rc tempo_client_get(struct tempo_client *tc, const struct tempo_request *req,
                            struct tempo_reply **out, struct ta_err *err);
/* Drops one reference; NULL is fine. */
void tempo_reply_release(struct tempo_reply *r);

/* The base URL with any user:password@ replaced by "***@" (for logs and messages). */
const char *tempo_client_url(const struct tempo_client *tc);
int tempo_client_max_concurrency(const struct tempo_client *tc);
void tempo_client_get_stats(struct tempo_client *tc, struct tempo_client_stats *out);

/* True when a 500 body is one of Tempo's configuration errors (spec §10.4, §12.7: no local
 * blocks processor, empty ring, recent-window limit, …) that retrying cannot fix. */
bool tempo_client_is_config_error(struct slice body);

#endif
