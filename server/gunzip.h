/* gunzip.h — bounded gzip inflate for request bodies (Content-Encoding: gzip), zip-bomb safe.
 *
 * server/otlp_receiver.c inflates OTLP bodies here before decoding. The output is capped (the
 * caller passes OTLP_BODY_MAX) and, past the first GUNZIP_RATIO_FLOOR bytes, may not exceed
 * GUNZIP_MAX_RATIO times the compressed bytes consumed so far, so 1 GiB of zeros squeezed into
 * 1 MiB stops after a few MiB of work. Concatenated gzip members (RFC 1952 §2.2) are accepted.
 * Pure over zlib: any thread. */
#ifndef TA_SERVER_GUNZIP_H
#define TA_SERVER_GUNZIP_H

#include <stddef.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

/* Real OTLP bodies (random ids and timestamps in every span) compress 3-20x, JSON with long
 * repeated attribute values a little more; above 256x the body is a bomb, not telemetry. */
#define GUNZIP_MAX_RATIO 256
/* The ratio is judged only once this much has been produced: tiny bodies of zeros are fine. */
#define GUNZIP_RATIO_FLOOR (1u << 20)

/* Inflates the gzip stream in into out, which this function initialises with cap max_out.
 * TA_INVALID for empty, truncated or corrupt input, or trailing bytes that are not another
 * gzip member; TA_TOO_LARGE when the output would pass max_out or the ratio guard. On any
 * failure out is left empty (nothing to free); on TA_OK the caller frees it (buf_free). */
enum ta_rc gunzip_inflate(struct slice in, size_t max_out, struct buf *out, struct ta_err *err);

#endif
