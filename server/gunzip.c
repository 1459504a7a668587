/* gunzip.c — gzip inflate into a capped struct buf with a compression-ratio guard.
 *
 * Inflates through a small stack chunk and appends to the buf, checking the cap and the ratio
 * after every chunk, so a bomb costs at most the cap in memory and time. Any thread. */
#include "server/gunzip.h"

#include <limits.h>
#include <stdint.h>
#include <zlib.h>

#define CHUNK    16384      /* inflate output per step; small enough for any thread's stack */
#define FEED_MAX (1u << 30) /* zlib's avail_in is 32-bit: feed at most this much at once */

enum ta_rc gunzip_inflate(struct slice in, size_t max_out, struct buf *out, struct ta_err *err)
{
    enum ta_rc rc = TA_OK;
    z_stream zs = { 0 };
    char chunk[CHUNK];
    size_t fed = 0; /* bytes of in handed to zlib so far */
    buf_init(out, max_out);
    if (in.len == 0)
        return ta_err_set(err, TA_INVALID, "gzip: empty body");
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper only */
        return ta_err_set(err, TA_INTERNAL, "gzip: inflateInit2 failed");
    for (;;) {
        if (zs.avail_in == 0 && fed < in.len) {
            size_t n = in.len - fed < FEED_MAX ? in.len - fed : FEED_MAX;
            zs.next_in = (Bytef *)(uintptr_t)(in.ptr + fed);
            zs.avail_in = (uInt)n;
            fed += n;
        }
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        int zr = inflate(&zs, Z_NO_FLUSH);
        size_t got = sizeof(chunk) - zs.avail_out;
        size_t consumed = fed - zs.avail_in;
        if (got) {
            if (got > max_out - out->len) {
                rc = ta_err_set(err, TA_TOO_LARGE, "gzip: body inflates to more than %zu bytes",
                                max_out);
                goto out;
            }
            if (buf_add(out, chunk, got) != TA_OK) {
                rc = ta_err_set(err, TA_TOO_LARGE, "gzip: body inflates to more than %zu bytes",
                                max_out);
                goto out;
            }
            if (out->len > GUNZIP_RATIO_FLOOR && out->len / GUNZIP_MAX_RATIO > consumed) {
                rc = ta_err_set(err, TA_TOO_LARGE,
                                "gzip: compression ratio above %d (%zu bytes from %zu)",
                                GUNZIP_MAX_RATIO, out->len, consumed);
                goto out;
            }
        }
        if (zr == Z_STREAM_END) {
            if (consumed == in.len)
                break;
            /* another member follows (RFC 1952 2.2); garbage fails in the next inflate */
            if (inflateReset(&zs) != Z_OK) {
                rc = ta_err_set(err, TA_INTERNAL, "gzip: inflateReset failed");
                goto out;
            }
            continue;
        }
        if (zr == Z_OK && (zs.avail_out == 0 || zs.avail_in > 0 || fed < in.len))
            continue;
        if (zr == Z_OK || zr == Z_BUF_ERROR) {
            rc = ta_err_set(err, TA_INVALID, "gzip: truncated body (%zu bytes)", in.len);
            goto out;
        }
        rc = ta_err_set(err, TA_INVALID, "gzip: corrupt body at byte %zu: %s", consumed,
                        zs.msg ? zs.msg : "inflate failed");
        goto out;
    }
out:
    inflateEnd(&zs);
    if (rc != TA_OK)
        buf_free(out);
    return rc;
}
