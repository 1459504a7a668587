/* tg_pb.c — protobuf field writer for bin/tracegen (varint, fixed64, length-delimited,
 * OTLP KeyValue). Pure: one buffer per thread. */
#include "hack/tracegen/tg_pb.h"

#include <string.h>

static enum ta_rc raw_varint(struct buf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] = (char)(tmp[n] | 0x80);
        n++;
    } while (v);
    return buf_add(b, tmp, n);
}

static enum ta_rc tag(struct buf *b, uint32_t field, unsigned wire_type)
{
    return raw_varint(b, (uint64_t)field << 3 | wire_type);
}

enum ta_rc tg_pb_varint(struct buf *b, uint32_t field, uint64_t v)
{
    enum ta_rc rc = tag(b, field, 0);
    return rc == TA_OK ? raw_varint(b, v) : rc;
}

enum ta_rc tg_pb_fixed64(struct buf *b, uint32_t field, uint64_t v)
{
    char tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (char)(v >> (8 * i));
    enum ta_rc rc = tag(b, field, 1);
    return rc == TA_OK ? buf_add(b, tmp, sizeof(tmp)) : rc;
}

enum ta_rc tg_pb_bytes(struct buf *b, uint32_t field, const void *p, size_t n)
{
    enum ta_rc rc = tag(b, field, 2);
    if (rc == TA_OK)
        rc = raw_varint(b, n);
    if (rc == TA_OK)
        rc = buf_add(b, p, n);
    return rc;
}

enum ta_rc tg_pb_str(struct buf *b, uint32_t field, const char *s)
{
    return tg_pb_bytes(b, field, s, strlen(s));
}

/* KeyValue with an already encoded AnyValue. */
static enum ta_rc kv(struct buf *b, uint32_t field, const char *key, const struct buf *any)
{
    struct buf m;
    buf_init(&m, 1 << 16);
    enum ta_rc rc = tg_pb_str(&m, 1, key);
    if (rc == TA_OK)
        rc = tg_pb_bytes(&m, 2, any->data ? any->data : "", any->len);
    if (rc == TA_OK)
        rc = tg_pb_bytes(b, field, m.data, m.len);
    buf_free(&m);
    return rc;
}

enum ta_rc tg_pb_kv_str(struct buf *b, uint32_t field, const char *key, const char *val)
{
    struct buf any;
    buf_init(&any, 1 << 16);
    enum ta_rc rc = tg_pb_str(&any, 1, val);
    if (rc == TA_OK)
        rc = kv(b, field, key, &any);
    buf_free(&any);
    return rc;
}

enum ta_rc tg_pb_kv_int(struct buf *b, uint32_t field, const char *key, int64_t v)
{
    struct buf any;
    buf_init(&any, 1 << 16);
    enum ta_rc rc = tg_pb_varint(&any, 3, (uint64_t)v);
    if (rc == TA_OK)
        rc = kv(b, field, key, &any);
    buf_free(&any);
    return rc;
}
