/* pbwire.h — protobuf wire format: a bounds-checked reader over untrusted bytes, and a writer.
 *
 * server/otlp_decode.c reads ExportTraceServiceRequest bodies with the reader; the receiver
 * writes its small responses (ExportTraceServiceResponse, google.rpc.Status) with the writer.
 * The reader never reads past its slice: varints are at most 10 bytes with overflow checked,
 * lengths are checked against the bytes left, groups (wire types 3, 4) are rejected. Every
 * error is TA_INVALID and names the absolute byte offset in the outermost message. No
 * recursion here: callers that descend into sub-messages track their own depth. A cursor is
 * used by one thread at a time; the functions keep no state of their own. */
#ifndef TA_SERVER_PBWIRE_H
#define TA_SERVER_PBWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

#define PBWIRE_MAX_VARINT 10          /* bytes of a 64-bit varint */
#define PBWIRE_MAX_FIELD  0x1fffffffu /* 2^29 - 1: the largest field number protobuf allows */

enum pbwire_type {
    PBWIRE_VARINT = 0, /* int32, int64, uint*, bool, enum */
    PBWIRE_I64 = 1,    /* fixed64, sfixed64, double */
    PBWIRE_LEN = 2,    /* string, bytes, sub-message, packed repeated */
    PBWIRE_I32 = 5,    /* fixed32, sfixed32, float */
};

/* A read cursor: buf is the message, pos the next byte, base the offset of buf[0] in the
 * outermost message (for error messages). */
struct pbwire {
    struct slice buf;
    size_t pos;
    size_t base;
};

/* Starts a cursor over a whole message (base 0). */
void pbwire_init(struct pbwire *r, struct slice buf);
/* Starts a cursor over sub, a length-delimited field just read from parent (sub must lie
 * inside parent's bytes), so offsets in errors stay absolute. */
void pbwire_sub(const struct pbwire *parent, struct slice sub, struct pbwire *child);
/* True when every byte has been consumed. */
bool pbwire_done(const struct pbwire *r);
/* Absolute offset of the next byte. */
size_t pbwire_offset(const struct pbwire *r);

/* Reads a tag. Field 0, a field above PBWIRE_MAX_FIELD, wire types 3/4 (groups) and 6/7 are
 * TA_INVALID. */
enum ta_rc pbwire_read_tag(struct pbwire *r, uint32_t *field, enum pbwire_type *type,
                           struct ta_err *err);
/* A varint of at most 10 bytes whose value fits in 64 bits. */
enum ta_rc pbwire_read_varint(struct pbwire *r, uint64_t *out, struct ta_err *err);
enum ta_rc pbwire_read_fixed64(struct pbwire *r, uint64_t *out, struct ta_err *err);
enum ta_rc pbwire_read_fixed32(struct pbwire *r, uint32_t *out, struct ta_err *err);
/* A length-delimited field: *out borrows the bytes from the cursor's buffer. */
enum ta_rc pbwire_read_len(struct pbwire *r, struct slice *out, struct ta_err *err);
/* Skips the value of a field of the given wire type (any of the four). */
enum ta_rc pbwire_skip(struct pbwire *r, enum pbwire_type type, struct ta_err *err);
/* TA_INVALID "field F: wire type T, expected E at offset O" — for callers that met a known
 * field with the wrong wire type. */
enum ta_rc pbwire_wrong_type(const struct pbwire *r, uint32_t field, enum pbwire_type got,
                             enum pbwire_type want, struct ta_err *err);

/* Writer: each appends to b (TA_TOO_LARGE past its cap, which frees b, as buf_add does). */
TA_MUST_CHECK enum ta_rc pbwire_put_varint(struct buf *b, uint64_t v);
TA_MUST_CHECK enum ta_rc pbwire_put_tag(struct buf *b, uint32_t field, enum pbwire_type type);
TA_MUST_CHECK enum ta_rc pbwire_put_fixed64(struct buf *b, uint64_t v);
TA_MUST_CHECK enum ta_rc pbwire_put_fixed32(struct buf *b, uint32_t v);
/* Tag, length and bytes of a length-delimited field. */
TA_MUST_CHECK enum ta_rc pbwire_put_bytes(struct buf *b, uint32_t field, struct slice v);
/* Tag and varint value. */
TA_MUST_CHECK enum ta_rc pbwire_put_uint(struct buf *b, uint32_t field, uint64_t v);

#endif
