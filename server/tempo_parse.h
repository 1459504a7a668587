/* tempo_parse.h — decodes every Tempo answer the adapter reads: build info, TraceQL metrics
 * (instant and range), search results, and traces by ID (JSON v2/v1 and protobuf).
 *
 * server/tempo_source hands the bodies that server/tempo_client fetched to these functions and
 * reads the results; traces come out as arrays of struct span (rules/span.h) ready for
 * ioshare_trace. Rules of the wire format: spec tempo-http-api §2.3 (zero values omitted,
 * 64-bit integers as strings or numbers, "NaN"/"Infinity" strings for doubles, enum names or
 * numbers, base64 OTLP ids, hex search ids with leading zeros stripped). Every body is
 * untrusted: sizes and counts are bounded by the TEMPO_PARSE_MAX_* limits below, strings are
 * read with their length (embedded NUL safe), nesting is bounded by jansson's parser and by a
 * fixed schema walk (no recursion on input). A failure is TA_UPSTREAM with a message starting
 * "unparsable answer: " and naming the offending field. Results own their storage and are
 * immutable: one thread builds them, any thread may read them afterwards. */
#ifndef TA_SERVER_TEMPO_PARSE_H
#define TA_SERVER_TEMPO_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "rules/ioshare.h"
#include "rules/span.h"

#define TEMPO_PARSE_MAX_SERIES     10000  /* series of one metrics answer (histogram ≤ 64) */
#define TEMPO_PARSE_MAX_SAMPLES    200000 /* samples over all series: 10,000 intervals × 20 */
#define TEMPO_PARSE_MAX_LABELS     64     /* labels of one series: by() allows 5, plus p/bucket */
#define TEMPO_PARSE_MAX_SEARCH     10000  /* traces of one search answer: limit ≤ 1000 here */
#define TEMPO_PARSE_MAX_SPANS      IOSHARE_MAX_SPANS /* spans of one trace */
#define TEMPO_PARSE_MAX_SPAN_ATTRS 1024 /* attributes of one span or resource (OTel: 128) */
#define TEMPO_VERSION_TEXT_MAX     48   /* version text kept for logs */

/* ---- build info ---------------------------------------------------------------------------- */

struct tempo_version {
    bool known; /* false: nothing parsable (treated as "recent") */
    int major;
    int minor;
    int patch;
    char text[TEMPO_VERSION_TEXT_MAX]; /* as reported, truncated, control bytes replaced */
};

/* Lenient: "2.6.1", "v3.1.0-dev", "3.0", "main-abc123" (unknown), "2.10.0-rc.1". Never fails:
 * out->known tells whether major.minor were found. */
void tempo_version_parse(struct slice text, struct tempo_version *out);
/* True when v is at least major.minor; an unknown version counts as recent (true). */
bool tempo_version_at_least(const struct tempo_version *v, int major, int minor);
/* Decodes {"version":"…","revision":…}. A body without a string "version" is TA_UPSTREAM. */
enum ta_rc tempo_parse_buildinfo(struct slice body, struct tempo_version *out, struct ta_err *err);

/* ---- TraceQL metrics ----------------------------------------------------------------------- */

/* A typed label; key and string values borrow from the owning struct tempo_metrics. Labels of
 * types the adapter never groups by (arrays, maps, bytes) have has_value false. */
struct tempo_label {
    struct slice key;
    bool has_value;
    struct attr_value value;
};

struct tempo_sample {
    int64_t timestamp_ms;
    double value; /* absent in the body = 0 */
};

struct tempo_series {
    const struct tempo_label *labels;
    size_t nlabels;
    double value; /* instant answers: "value", absent = 0; NaN/±Inf strings are decoded */
    const struct tempo_sample *samples; /* range answers, in body order */
    size_t nsamples;
};

struct tempo_metrics {
    const struct tempo_series *series;
    size_t nseries;
    bool partial;         /* "status":"PARTIAL" */
    struct slice message; /* "message" (empty when absent) */
    void *priv;           /* owned storage */
};

/* Decodes an /api/metrics/query (instant: series[].value) or /api/metrics/query_range
 * (series[].samples) answer; both members are read when present. On TA_OK the caller owns
 * *out (tempo_metrics_free). */
enum ta_rc tempo_parse_metrics(struct slice body, struct tempo_metrics **out, struct ta_err *err);
void tempo_metrics_free(struct tempo_metrics *m);
/* The label named key of s, or NULL. */
const struct tempo_label *tempo_series_label(const struct tempo_series *s, struct slice key);
/* Sum of the values of all series (instant answers); NaN values are skipped. */
double tempo_metrics_sum(const struct tempo_metrics *m);

/* ---- search -------------------------------------------------------------------------------- */

struct tempo_search_trace {
    uint8_t trace_id[16];      /* normalised: hex left-padded to 16 bytes */
    int64_t start_ns;          /* startTimeUnixNano (0 when absent) */
    uint32_t duration_ms;      /* durationMs (0 when absent) */
    struct slice root_service; /* borrows from the owning struct tempo_search */
};

struct tempo_search {
    const struct tempo_search_trace *traces; /* duplicates removed, body order kept */
    size_t ntraces;
    void *priv;
};

/* Decodes an /api/search answer. On TA_OK the caller owns *out (tempo_search_free). */
enum ta_rc tempo_parse_search(struct slice body, struct tempo_search **out, struct ta_err *err);
void tempo_search_free(struct tempo_search *s);

/* 1 to 32 hex digits (either case, leading zeros optional, odd length allowed) into a 16-byte
 * trace id, left-padded with zeros as Tempo does. TA_INVALID otherwise. */
enum ta_rc tempo_trace_id_parse(struct slice hex, uint8_t out[16], struct ta_err *err);
/* Writes the 32 lower-case hex digits of id and a NUL into out. */
void tempo_trace_id_format(const uint8_t id[16], char out[33]);

/* ---- traces -------------------------------------------------------------------------------- */

struct tempo_trace {
    const struct span *spans; /* slices borrow from the trace's own storage */
    size_t nspans;
    bool partial; /* v2 "status":"PARTIAL" (truncated trace) */
    struct slice message;
    void *priv;
};

/* Decodes a trace answer in JSON: /api/v2/traces/{id} ({"trace":{"resourceSpans":…}}, with
 * "trace":{} meaning not found), /api/traces/{id} v1 ({"batches":…}) or a bare tempopb.Trace
 * ({"resourceSpans":…}). The OTLP part is read by otlp_decode in read-back mode (struct
 * otlp_decode_opts.stored): ids may be base64 (Tempo) or hex (OTLP/JSON), empty or zero;
 * kind and status code may be names or numbers, absent = unspecified/unset; times up to
 * 2^63-1 ns, end < start is clamped to start. Attributes of type string, int, double and bool
 * are kept (strings clipped to OTLP_MAX_STRING bytes); arrays, maps, bytes, non-finite JSON
 * doubles, and entries without a key or value are skipped. A span otlp_decode cannot take
 * fails the whole answer. An empty trace gives nspans 0. On TA_OK the caller owns *out
 * (tempo_trace_free); TA_TOO_LARGE past TEMPO_PARSE_MAX_SPANS spans. */
enum ta_rc tempo_parse_trace_json(struct slice body, struct tempo_trace **out, struct ta_err *err);
/* The same for protobuf: with wrapped true a tempopb.TraceByIDResponse (trace = 1, status = 3,
 * message = 4; the /api/v2 answer), else a bare tempopb.Trace / OTLP TracesData
 * (resourceSpans = 1; the /api/traces v1 answer). TA_TOO_LARGE over OTLP_BODY_MAX bytes. The
 * trace bytes are copied: *out does not borrow from body. */
enum ta_rc tempo_parse_trace_proto(struct slice body, bool wrapped, struct tempo_trace **out,
                                   struct ta_err *err);
void tempo_trace_free(struct tempo_trace *t);

#endif
