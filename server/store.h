/* store.h — the embedded trace store: recent spans in memory, compact, bounded, indexed by trace.
 *
 * The OTLP receiver (server/otlp_receiver.c) adds decoded spans; the store source
 * (server/store_source.c) scans them by start time and gathers whole traces for io_share; the
 * lead's /metrics reads store_get_stats. Spans are copied into a ring of fixed 72-byte records
 * in arrival order (chunks of STORE_CHUNK_SPANS, freed as they empty); names and attribute sets
 * are interned with reference counts, and a hash index maps each trace id to its newest span,
 * from which a chain runs through the trace's older spans. Eviction is oldest-first: when
 * max_spans or max_bytes is reached (counted as dropped) and when a span has been stored longer
 * than the retention (expired). Memory: 72 bytes per record, 34-70 bytes per trace in the
 * index, plus interned strings (bounded by max_bytes).
 *
 * Threads: internally locked by one writer-preferring reader/writer lock. store_add,
 * store_expire and store_free write; store_scan and store_get_traces read in chunks of
 * STORE_SCAN_CHUNK records / STORE_TRACE_CHUNK traces, releasing the lock between chunks so a
 * long scan delays ingest by at most one chunk; callbacks run under the read lock and must not
 * call into the store. Settings and counters are relaxed atomics: any thread, no lock. */
#ifndef TA_SERVER_STORE_H
#define TA_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/ta_err.h"
#include "rules/span.h"

#define STORE_DEFAULT_MAX_SPANS 2000000 /* --embedded-max-spans default */
/* Largest --embedded-max-spans: ~100 bytes per span makes this 50 GB, beyond any pod; the
 * trace chains store 32-bit distances between records, so it must stay below 2^32. */
#define STORE_MAX_SPANS_LIMIT 500000000u
/* Budget for interned strings and attribute sets per span when max_bytes is not given. Real
 * traffic repeats names and attribute values, so it needs a few MiB in all; this only bites
 * when clients send many distinct long strings (each kept value may be OTLP_MAX_STRING bytes):
 * then the oldest spans go early instead of memory growing. Records (72 bytes each) and the
 * trace index are bounded by max_spans itself. */
#define STORE_DEFAULT_BYTES_PER_SPAN 256
#define STORE_MIN_DEFAULT_BYTES      (1u << 20) /* floor of that default for small stores */
#define STORE_CHUNK_SPANS            4096       /* records per chunk: 288 KiB, returned to the OS */
#define STORE_SCAN_CHUNK             16384      /* records examined per read-lock hold (~1 ms) */
#define STORE_TRACE_CHUNK            256        /* traces gathered per read-lock hold */
#define STORE_INGEST_CHUNK           2048       /* spans added per write-lock hold */
/* A span whose (trace id, span id) equals one of its trace's newest this-many stored spans is
 * a duplicate (a client retrying a request whose answer it lost) and is not stored again. */
#define STORE_DEDUP_WINDOW 64

struct store;

struct store_config {
    uint64_t max_spans; /* 1 .. STORE_MAX_SPANS_LIMIT */
    uint64_t max_bytes; /* interned strings and sets; 0: max_spans * STORE_DEFAULT_BYTES_PER_SPAN */
    int64_t retention_ns; /* > 0: longest rule window + query delay + slack */
};

struct store_stats {
    uint64_t spans;        /* stored now */
    uint64_t traces;       /* trace ids indexed now */
    uint64_t bytes;        /* memory held by records, interned strings and index */
    uint64_t intern_bytes; /* the interned part of bytes (bounded by max_bytes) */
    uint64_t received;     /* spans offered: stored + every kind of refusal below */
    uint64_t stored;       /* spans ever stored */
    uint64_t rejected;     /* invalid spans (decoder or store) and spans of refused requests */
    uint64_t dropped;      /* evicted early because max_spans or max_bytes was reached */
    uint64_t expired;      /* evicted after the retention */
    uint64_t too_old;      /* arrived starting before now - retention: never stored */
    uint64_t duplicates;   /* same trace and span id as a recent stored span: never stored */
};

/* Builds an empty store. TA_INVALID naming the field for a bad config. On TA_OK the caller
 * owns *out (store_free). */
enum ta_rc store_new(const struct store_config *cfg, struct store **out, struct ta_err *err);
/* Frees everything; no other call may be running. NULL is fine. */
void store_free(struct store *st);
/* Changes the retention (rules reload); takes effect at the next add or expire. <= 0 ignored. */
void store_set_retention(struct store *st, int64_t retention_ns);
int64_t store_retention(const struct store *st);
/* While paused, store_add refuses with TA_UNAVAILABLE (shutdown, maintenance). */
void store_set_paused(struct store *st, bool paused);

/* What one store_add did with its spans. */
struct store_add_result {
    size_t stored;
    size_t too_old;    /* started before now - retention */
    size_t duplicates; /* already stored (same trace and span id among the trace's newest) */
    size_t invalid;    /* zero trace id or end < start (the decoder normally refuses these) */
};

/* Copies spans[0..n) in (all their slices are copied or interned); now_ns is the arrival time
 * (unix ns). Spans starting before now_ns - retention, duplicates and invalid spans are
 * skipped and counted; the oldest stored spans are evicted as needed. TA_UNAVAILABLE when
 * paused, TA_TOO_LARGE when n > max_spans (nothing stored, all counted as rejected). res may
 * be NULL. */
enum ta_rc store_add(struct store *st, const struct span *spans, size_t n, int64_t now_ns,
                     struct store_add_result *res, struct ta_err *err);
/* Adds n to the received and rejected counters (spans the decoder refused). */
void store_count_rejected(struct store *st, uint64_t n);
/* Evicts spans stored longer than the retention; store_add does this too. */
void store_expire(struct store *st, int64_t now_ns);

/* Return false to stop the scan. s is valid only during the call. */
typedef bool (*store_span_fn)(const struct span *s, void *arg);
/* Calls fn for every span stored when the call began (and not evicted since) whose start lies
 * in [start_ns, end_ns), in arrival order. Returns the number of spans passed to fn. */
uint64_t store_scan(struct store *st, int64_t start_ns, int64_t end_ns, store_span_fn fn,
                    void *arg);

/* spans[0..n) are the stored spans of one trace, newest first, valid only during the call;
 * complete is false when the trace had more than the max_per_trace given to the gather. */
typedef void (*store_trace_fn)(const uint8_t trace_id[16], const struct span *spans, size_t n,
                               bool complete, void *arg);
/* Calls fn once per id in ids[0..n) (n = 0 spans when the trace is not stored), gathering at
 * most max_per_trace spans of each. */
void store_get_traces(struct store *st, const uint8_t (*ids)[16], size_t n, size_t max_per_trace,
                      store_trace_fn fn, void *arg);

void store_get_stats(const struct store *st, struct store_stats *out);

#endif
