/* pbwire.c — protobuf wire-format cursor and writer.
 *
 * Every read checks the bytes left before touching them; offsets in messages are absolute
 * (cursor base + position). Pure: any thread, one cursor per thread. */
#include "server/pbwire.h"

void pbwire_init(struct pbwire *r, struct slice buf)
{
    r->buf = buf;
    r->pos = 0;
    r->base = 0;
}

void pbwire_sub(const struct pbwire *parent, struct slice sub, struct pbwire *child)
{
    child->buf = sub;
    child->pos = 0;
    child->base = parent->base + (size_t)(sub.ptr - parent->buf.ptr);
}

bool pbwire_done(const struct pbwire *r)
{
    return r->pos >= r->buf.len;
}

size_t pbwire_offset(const struct pbwire *r)
{
    return r->base + r->pos;
}

static size_t left(const struct pbwire *r)
{
    return r->buf.len - r->pos;
}

enum ta_rc pbwire_read_varint(struct pbwire *r, uint64_t *out, struct ta_err *err)
{
    const unsigned char *p = (const unsigned char *)r->buf.ptr + r->pos;
    size_t n = left(r);
    uint64_t v = 0;
    for (size_t i = 0; i < PBWIRE_MAX_VARINT; i++) {
        if (i >= n)
            return ta_err_set(err, TA_INVALID, "truncated varint at offset %zu", pbwire_offset(r));
        uint64_t b = p[i];
        if (i == PBWIRE_MAX_VARINT - 1 && b > 1)
            return ta_err_set(err, TA_INVALID, "varint overflows 64 bits at offset %zu",
                              pbwire_offset(r));
        v |= (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            r->pos += i + 1;
            *out = v;
            return TA_OK;
        }
    }
    return ta_err_set(err, TA_INVALID, "varint longer than 10 bytes at offset %zu",
                      pbwire_offset(r));
}

enum ta_rc pbwire_read_tag(struct pbwire *r, uint32_t *field, enum pbwire_type *type,
                           struct ta_err *err)
{
    size_t at = pbwire_offset(r);
    uint64_t v;
    enum ta_rc rc = pbwire_read_varint(r, &v, err);
    if (rc != TA_OK)
        return rc;
    uint64_t f = v >> 3;
    unsigned t = (unsigned)(v & 7);
    if (f == 0 || f > PBWIRE_MAX_FIELD)
        return ta_err_set(err, TA_INVALID, "invalid field number %llu at offset %zu",
                          (unsigned long long)f, at);
    if (t == 3 || t == 4)
        return ta_err_set(err, TA_INVALID,
                          "field %llu: group wire type %u is not supported at offset %zu",
                          (unsigned long long)f, t, at);
    if (t != PBWIRE_VARINT && t != PBWIRE_I64 && t != PBWIRE_LEN && t != PBWIRE_I32)
        return ta_err_set(err, TA_INVALID, "field %llu: invalid wire type %u at offset %zu",
                          (unsigned long long)f, t, at);
    *field = (uint32_t)f;
    *type = (enum pbwire_type)t;
    return TA_OK;
}

enum ta_rc pbwire_read_fixed64(struct pbwire *r, uint64_t *out, struct ta_err *err)
{
    if (left(r) < 8)
        return ta_err_set(err, TA_INVALID, "truncated fixed64 at offset %zu", pbwire_offset(r));
    const unsigned char *p = (const unsigned char *)r->buf.ptr + r->pos;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    r->pos += 8;
    *out = v;
    return TA_OK;
}

enum ta_rc pbwire_read_fixed32(struct pbwire *r, uint32_t *out, struct ta_err *err)
{
    if (left(r) < 4)
        return ta_err_set(err, TA_INVALID, "truncated fixed32 at offset %zu", pbwire_offset(r));
    const unsigned char *p = (const unsigned char *)r->buf.ptr + r->pos;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->pos += 4;
    return TA_OK;
}

enum ta_rc pbwire_read_len(struct pbwire *r, struct slice *out, struct ta_err *err)
{
    size_t at = pbwire_offset(r);
    uint64_t n;
    enum ta_rc rc = pbwire_read_varint(r, &n, err);
    if (rc != TA_OK)
        return rc;
    if (n > left(r))
        return ta_err_set(err, TA_INVALID,
                          "length %llu at offset %zu runs past the end (%zu bytes left)",
                          (unsigned long long)n, at, left(r));
    *out = slice_make(r->buf.ptr + r->pos, (size_t)n);
    r->pos += (size_t)n;
    return TA_OK;
}

enum ta_rc pbwire_skip(struct pbwire *r, enum pbwire_type type, struct ta_err *err)
{
    uint64_t u64;
    uint32_t u32;
    struct slice s;
    switch (type) {
    case PBWIRE_VARINT:
        return pbwire_read_varint(r, &u64, err);
    case PBWIRE_I64:
        return pbwire_read_fixed64(r, &u64, err);
    case PBWIRE_LEN:
        return pbwire_read_len(r, &s, err);
    case PBWIRE_I32:
        return pbwire_read_fixed32(r, &u32, err);
    }
    return ta_err_set(err, TA_INVALID, "invalid wire type %d at offset %zu", (int)type,
                      pbwire_offset(r));
}

enum ta_rc pbwire_wrong_type(const struct pbwire *r, uint32_t field, enum pbwire_type got,
                             enum pbwire_type want, struct ta_err *err)
{
    return ta_err_set(err, TA_INVALID, "field %u: wire type %d, expected %d at offset %zu", field,
                      (int)got, (int)want, pbwire_offset(r));
}

enum ta_rc pbwire_put_varint(struct buf *b, uint64_t v)
{
    char tmp[PBWIRE_MAX_VARINT];
    size_t n = 0;
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            c |= 0x80;
        tmp[n++] = (char)c;
    } while (v);
    return buf_add(b, tmp, n);
}

enum ta_rc pbwire_put_tag(struct buf *b, uint32_t field, enum pbwire_type type)
{
    return pbwire_put_varint(b, (uint64_t)field << 3 | (uint64_t)type);
}

enum ta_rc pbwire_put_fixed64(struct buf *b, uint64_t v)
{
    char tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (char)(v >> (8 * i));
    return buf_add(b, tmp, sizeof(tmp));
}

enum ta_rc pbwire_put_fixed32(struct buf *b, uint32_t v)
{
    char tmp[4];
    for (int i = 0; i < 4; i++)
        tmp[i] = (char)(v >> (8 * i));
    return buf_add(b, tmp, sizeof(tmp));
}

enum ta_rc pbwire_put_bytes(struct buf *b, uint32_t field, struct slice v)
{
    enum ta_rc rc = pbwire_put_tag(b, field, PBWIRE_LEN);
    if (rc == TA_OK)
        rc = pbwire_put_varint(b, v.len);
    if (rc == TA_OK)
        rc = buf_add(b, v.ptr, v.len);
    return rc;
}

enum ta_rc pbwire_put_uint(struct buf *b, uint32_t field, uint64_t v)
{
    enum ta_rc rc = pbwire_put_tag(b, field, PBWIRE_VARINT);
    if (rc == TA_OK)
        rc = pbwire_put_varint(b, v);
    return rc;
}
