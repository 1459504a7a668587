/* otlp_decode.h — ExportTraceServiceRequest (OTLP protobuf and OTLP/JSON) to struct span views.
 *
 * server/otlp_receiver.c decodes each POST /v1/traces body here and hands the batch to the
 * embedded store, which copies what it keeps; server/tempo_parse.c decodes the traces it reads
 * back from Tempo here too (tempopb.Trace is wire-identical to the request). Only what rules
 * can reference survives: ids, name, kind, status code, times, and the attributes whose keys
 * are in a struct otlp_keep (span scope and resource scope; service.name always); values that
 * are arrays, key-value lists or bytes are dropped. Structural errors (bad wire format, wrong
 * JSON types, limits) fail the whole request; on ingest a span with bad ids or times is
 * rejected alone and counted (OTLP partial success). Field numbers: opentelemetry-proto
 * trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto. Batches and keep
 * sets are immutable once built: any thread may read one; a batch is freed by its one owner. */
#ifndef TA_SERVER_OTLP_DECODE_H
#define TA_SERVER_OTLP_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "rules/rules.h"
#include "rules/span.h"

struct json_t; /* jansson's json_t */

/* 16 MiB: largest body accepted, compressed or not. The OTel Collector's batch processor sends
 * 8192 spans by default (a few MiB of protobuf); gRPC's default message limit is 4 MiB. */
#define OTLP_BODY_MAX (16u << 20)
/* Spans in one request (accepted + rejected). 16x the Collector's default batch; a minimal
 * span is ~50 bytes, so a full body could otherwise carry 300k+ spans of decode work. */
#define OTLP_MAX_SPANS_PER_REQUEST 131072
/* Kept attributes per span and per resource; more are ignored. The OTel SDKs' default
 * attribute count limit is 128. */
#define OTLP_MAX_ATTRS_PER_SPAN 128
/* Longest kept string (span name, attribute value) in bytes; longer ones are truncated at a
 * UTF-8 boundary, as the SDKs' attribute value length limit does. Longer keys are dropped. */
#define OTLP_MAX_STRING 4096
/* AnyValue nesting (arrayValue / kvlistValue) accepted in OTLP/JSON: values are dropped, but
 * jansson builds the whole tree first, so absurd nesting is refused by a pre-scan. */
#define OTLP_MAX_DEPTH 32
/* JSON container nesting the pre-scan allows: request, resourceSpans, scopeSpans, spans,
 * attributes and their value (12 levels) plus 4 per AnyValue nesting level. */
#define OTLP_JSON_MAX_DEPTH (12 + 4 * OTLP_MAX_DEPTH)
/* Span start and end times must lie in [2000-01-01, 2100-01-01) UTC: zero, seconds or
 * milliseconds sent as nanoseconds, and far-future values are rejected as absurd. */
#define OTLP_MIN_TIME_NS 946684800000000000LL
#define OTLP_MAX_TIME_NS 4102444800000000000LL

struct otlp_keep; /* opaque set of attribute keys to keep */

/* A keep set from span-scope and resource-scope keys (copied); "service.name" is always kept
 * in resource scope. Never NULL. */
struct otlp_keep *otlp_keep_new(const char *const *span_keys, size_t nspan,
                                const char *const *resource_keys, size_t nresource);
/* The keep set for rules (rules->span_keys, rules->resource_keys). */
struct otlp_keep *otlp_keep_from_rules(const struct rules *r);
void otlp_keep_free(struct otlp_keep *k);

struct otlp_batch_mem; /* private: attribute arena, JSON tree */

/* The decoded request. spans[i] slices borrow from the request body (protobuf) or from the
 * batch (JSON: it holds a reference to the tree), so the body must outlive the batch when it
 * was protobuf. Spans of one ResourceSpans share one resource.items array (same pointer). */
struct otlp_batch {
    struct span *spans; /* accepted spans, in request order */
    size_t n;
    uint64_t rejected;               /* spans refused: bad ids, kind, status or times */
    char reject_msg[TA_ERR_MSG_MAX]; /* the first refusal, with its location; "" if none */
    struct otlp_batch_mem *mem;
};

/* What differs between decoding a request for ingest and reading back a trace that a store
 * already accepted. NULL (or all zero) is ingest. */
struct otlp_decode_opts {
    size_t max_spans; /* spans in one body; 0: OTLP_MAX_SPANS_PER_REQUEST */
    size_t max_attrs; /* attributes of one span or resource; 0: OTLP_MAX_ATTRS_PER_SPAN */
    /* Read-back (Tempo): the batch must be the trace as stored, not an ingest-filtered part
     * of it. Empty or all-zero ids are kept (as zeros); times need only fit in int64, and an
     * end before the start is clamped to the start instead of rejected. What ingest would
     * drop fails the decode (TA_INVALID, naming the span) instead: a span with an id of the
     * wrong length, an unknown kind or status, and a span or resource with more than
     * max_attrs attributes (counting every entry, kept or not). */
    bool stored;
};

/* Decodes a protobuf ExportTraceServiceRequest (also TracesData, tempopb.Trace). keep NULL
 * keeps every attribute (still at most max_attrs). TA_INVALID with the byte offset for
 * malformed input, TA_TOO_LARGE over OTLP_BODY_MAX or max_spans. On TA_OK the caller owns
 * *out (otlp_batch_free); on failure *out is NULL. */
enum ta_rc otlp_decode_protobuf_opts(struct slice body, const struct otlp_decode_opts *opts,
                                     const struct otlp_keep *keep, struct otlp_batch **out,
                                     struct ta_err *err);
/* The same with opts NULL (ingest). */
enum ta_rc otlp_decode_protobuf(struct slice body, const struct otlp_keep *keep,
                                struct otlp_batch **out, struct ta_err *err);
/* Decodes OTLP/JSON: lowerCamelCase keys (proto names also accepted; "batches" as Tempo's
 * v1 alias of resourceSpans; instrumentationLibrarySpans, or protobuf field 1000, as OTLP
 * < 0.19's name of scopeSpans), ids as hex (base64 also accepted), enums as numbers or names,
 * 64-bit integers as strings or numbers, unknown keys ignored, null as absent. Errors as for
 * protobuf, with a path such as "resourceSpans[0].scopeSpans[1].spans[2].name: expected a
 * string"; nesting deeper than OTLP_JSON_MAX_DEPTH is refused before parsing. Ingest. */
enum ta_rc otlp_decode_json(struct slice body, const struct otlp_keep *keep,
                            struct otlp_batch **out, struct ta_err *err);
/* The same for a request already parsed by jansson (msg borrowed: the batch takes its own
 * reference, so the caller may drop msg at once); the caller bounds the parse. */
enum ta_rc otlp_decode_json_tree(struct json_t *msg, const struct otlp_decode_opts *opts,
                                 const struct otlp_keep *keep, struct otlp_batch **out,
                                 struct ta_err *err);
void otlp_batch_free(struct otlp_batch *b);

#endif
