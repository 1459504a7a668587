/* otlp_receiver.h — OTLP/HTTP trace export handling (POST /v1/traces), transport-independent.
 *
 * The lead's plain-HTTP OTLP listener collects the whole body (refusing more than
 * OTLP_BODY_MAX bytes itself, with 413) and calls otlp_receive with the Content-Type and
 * Content-Encoding headers; the result says what to send. Behaviour follows the OTLP/HTTP
 * specification (opentelemetry.io/docs/specs/otlp/#otlphttp):
 * - application/x-protobuf or application/json (parameters allowed, case-insensitive), else
 *   415 with a text/plain body; Content-Encoding gzip (or x-gzip), identity or none, else 415;
 * - 200 with an ExportTraceServiceResponse in the request's encoding: empty, or with
 *   partial_success {rejected_spans, error_message} when spans were refused (bad ids or times,
 *   or older than the store's retention); clients must not retry those;
 * - 400 with a google.rpc.Status (code 3) for a body that cannot be decoded or inflated;
 * - 413 for bodies over OTLP_BODY_MAX (before or after inflating), more than
 *   OTLP_MAX_SPANS_PER_REQUEST spans, or more spans than the whole store holds: permanent, so
 *   not a retryable code;
 * - 503 with Retry-After and a Status (code 14, UNAVAILABLE) while the store is paused: the
 *   spec's retryable "server overloaded" answer. With drop-oldest eviction the store never
 *   refuses for being full, so 429 (client throttling) is never sent.
 * Stateless: any thread, concurrently (the store locks itself). */
#ifndef TA_SERVER_OTLP_RECEIVER_H
#define TA_SERVER_OTLP_RECEIVER_H

#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "server/otlp_decode.h"
#include "server/store.h"

#define OTLP_RETRY_AFTER_S 5          /* default Retry-After on 503 */
#define OTLP_RESPONSE_MAX  (1u << 12) /* responses are a status and one short message */

#define OTLP_CONTENT_PROTOBUF "application/x-protobuf"
#define OTLP_CONTENT_JSON     "application/json"
#define OTLP_CONTENT_TEXT     "text/plain; charset=utf-8"

struct otlp_receiver_config {
    const struct otlp_keep *keep; /* attributes to keep (borrowed for the call); NULL: all */
    int retry_after_s;            /* Retry-After on 503; <= 0: OTLP_RETRY_AFTER_S */
    /* Arrival clock, unix ns, for tests; NULL: clock_wall_ns. */
    int64_t (*now_ns)(void *arg);
    void *now_arg;
};

struct otlp_response {
    int status;                   /* HTTP status: 200, 400, 413, 415, 503 */
    const char *content_type;     /* static string: one of OTLP_CONTENT_* */
    struct buf body;              /* owned: otlp_response_free */
    int retry_after_s;            /* > 0: send "Retry-After: <n>" */
    uint64_t stored;              /* spans stored by this request */
    uint64_t rejected;            /* spans refused (partial success or a refused request) */
    char message[TA_ERR_MSG_MAX]; /* the error or partial-success reason, for logs; "" if none */
};

/* Handles one export request; always fills *out (free it with otlp_response_free). Returns
 * TA_OK for 200 (also with partial success), otherwise the failure's code (TA_INVALID for
 * 400/415, TA_TOO_LARGE for 413, TA_UNAVAILABLE for 503). body need not be NUL-terminated and
 * is only borrowed. */
enum ta_rc otlp_receive(struct store *st, const struct otlp_receiver_config *cfg,
                        struct slice content_type, struct slice content_encoding, struct slice body,
                        struct otlp_response *out);
/* Frees the body; NULL is fine. */
void otlp_response_free(struct otlp_response *r);

#endif
