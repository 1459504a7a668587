/* tg_pb.h — the small protobuf writer bin/tracegen encodes OTLP requests with.
 *
 * Appends wire-format fields to a struct buf (the library's capped buffer). A demo-tool
 * helper, not part of the adapter library: the receiver's own reader and writer live in
 * server/pbwire. Pure: one buffer per thread. */
#ifndef TA_HACK_TRACEGEN_TG_PB_H
#define TA_HACK_TRACEGEN_TG_PB_H

#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

/* Each returns TA_TOO_LARGE past the buffer's cap (which frees it, as buf_add does). */
TA_MUST_CHECK enum ta_rc tg_pb_varint(struct buf *b, uint32_t field, uint64_t v);
TA_MUST_CHECK enum ta_rc tg_pb_fixed64(struct buf *b, uint32_t field, uint64_t v);
TA_MUST_CHECK enum ta_rc tg_pb_bytes(struct buf *b, uint32_t field, const void *p, size_t n);
TA_MUST_CHECK enum ta_rc tg_pb_str(struct buf *b, uint32_t field, const char *s);
/* KeyValue { key = 1; value = 2: AnyValue { string_value = 1 | int_value = 3 } } as field. */
TA_MUST_CHECK enum ta_rc tg_pb_kv_str(struct buf *b, uint32_t field, const char *key,
                                      const char *val);
TA_MUST_CHECK enum ta_rc tg_pb_kv_int(struct buf *b, uint32_t field, const char *key, int64_t v);

#endif
