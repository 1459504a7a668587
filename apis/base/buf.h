/* buf.h — struct buf: the one growable, capped, NUL-terminated output buffer.
 *
 * All output of variable length (response bodies, TraceQL, URLs, Status JSON) is built here.
 * buf_init fixes the cap and cannot fail; every append returns TA_TOO_LARGE past the cap and
 * then frees the buffer, so partial output is never sent. One thread at a time. */
#ifndef TA_APIS_BASE_BUF_H
#define TA_APIS_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

struct buf {
    char *data; /* NULL until the first append; always NUL-terminated after one */
    size_t len; /* bytes in data, excluding the NUL */
    size_t cap; /* allocated bytes */
    size_t max; /* largest len allowed (fixed by buf_init) */
};

/* Empties b and sets its cap; allocates nothing. */
void buf_init(struct buf *b, size_t max);
TA_MUST_CHECK enum ta_rc buf_add(struct buf *b, const void *p, size_t len);
TA_MUST_CHECK enum ta_rc buf_adds(struct buf *b, const char *s);
TA_MUST_CHECK enum ta_rc buf_add_slice(struct buf *b, struct slice s);
TA_MUST_CHECK enum ta_rc buf_addc(struct buf *b, char c);
TA_MUST_CHECK enum ta_rc buf_addf(struct buf *b, const char *fmt, ...) TA_PRINTF(2, 3);
TA_MUST_CHECK enum ta_rc buf_vaddf(struct buf *b, const char *fmt, va_list ap) TA_PRINTF(2, 0);
/* Appends s as a quoted JSON string: ", \ and control characters escaped, <, > and & as \u003c
 * \u003e \u0026 (as Go does), invalid UTF-8 bytes replaced by U+FFFD. */
TA_MUST_CHECK enum ta_rc buf_add_json_str(struct buf *b, struct slice s);
/* Appends s percent-encoded as Go's url.QueryEscape does: A-Z a-z 0-9 - _ . ~ kept, space as
 * '+', every other byte %XX with upper-case hex. */
TA_MUST_CHECK enum ta_rc buf_add_urlenc(struct buf *b, struct slice s);
/* Like buf_add_urlenc but for a path segment: space is %20 and '/' is %2F. */
TA_MUST_CHECK enum ta_rc buf_add_pathenc(struct buf *b, struct slice s);
/* The content as a slice (valid until the next append or free). */
struct slice buf_slice(const struct buf *b);
/* The content as a C string; "" when nothing was added. */
const char *buf_cstr(const struct buf *b);
/* Hands the bytes to the caller (free() them); *len gets the length. The buffer is emptied and
 * stays usable with the same cap. Never NULL: an empty buffer gives a fresh "". */
char *buf_take(struct buf *b, size_t *len);
/* Drops the content and keeps the allocation for reuse. */
void buf_reset(struct buf *b);
/* Frees the bytes; the buffer stays usable with the same cap. */
void buf_free(struct buf *b);

#endif
