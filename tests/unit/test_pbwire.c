/* test_pbwire.c — the protobuf wire reader on hand-written bytes, and the writer byte-exact. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/pbwire.h"

/* A heap copy without a final NUL, so ASan catches any read past len. */
static struct slice heap_bytes(const char *p, size_t n)
{
    char *m = malloc(n ? n : 1);
    memcpy(m, p, n);
    return slice_make(m, n);
}

#define BYTES(lit) heap_bytes((lit), sizeof(lit) - 1)

Test(pbwire, reads_one_byte_varint)
{
    struct slice s = BYTES("\x16");
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v = 0;
    cr_assert_eq(pbwire_read_varint(&r, &v, NULL), TA_OK);
    cr_assert_eq(v, 0x16);
    cr_assert(pbwire_done(&r));
    free((void *)s.ptr);
}

Test(pbwire, reads_multi_byte_varint)
{
    struct slice s = BYTES("\x96\x01"); /* 150 as in the protobuf encoding guide */
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v = 0;
    cr_assert_eq(pbwire_read_varint(&r, &v, NULL), TA_OK);
    cr_assert_eq(v, 150);
    cr_assert_eq(pbwire_offset(&r), 2);
    free((void *)s.ptr);
}

Test(pbwire, reads_ten_byte_max_varint)
{
    struct slice s = BYTES("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v = 0;
    cr_assert_eq(pbwire_read_varint(&r, &v, NULL), TA_OK);
    cr_assert_eq(v, UINT64_MAX);
    free((void *)s.ptr);
}

Test(pbwire, reads_negative_int64_as_ten_bytes)
{
    /* -1 as int64 is encoded as 10 bytes: nine 0xff then 0x01 (same bits as UINT64_MAX) */
    struct slice s = BYTES("\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01");
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v = 0;
    cr_assert_eq(pbwire_read_varint(&r, &v, NULL), TA_OK);
    cr_assert_eq((int64_t)v, -2);
    free((void *)s.ptr);
}

Test(pbwire, rejects_tenth_byte_overflow)
{
    struct slice s = BYTES("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02");
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(pbwire_read_varint(&r, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "varint overflows 64 bits at offset 0");
    free((void *)s.ptr);
}

Test(pbwire, rejects_eleven_byte_varint)
{
    struct slice s = BYTES("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01");
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v = 0;
    struct ta_err err = { 0 };
    /* the tenth byte has its continuation bit set: more than 10 bytes or overflow */
    cr_assert_eq(pbwire_read_varint(&r, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "varint overflows 64 bits at offset 0");
    free((void *)s.ptr);
}

Test(pbwire, rejects_truncated_varint)
{
    struct slice s = BYTES("\x08\x96");
    struct pbwire r;
    pbwire_init(&r, s);
    uint32_t f;
    enum pbwire_type t;
    uint64_t v;
    struct ta_err err = { 0 };
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_OK);
    cr_assert_eq(f, 1);
    cr_assert_eq(t, PBWIRE_VARINT);
    cr_assert_eq(pbwire_read_varint(&r, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "truncated varint at offset 1");
    free((void *)s.ptr);
}

Test(pbwire, rejects_varint_on_empty_input)
{
    struct pbwire r;
    pbwire_init(&r, SLICE_NULL);
    uint64_t v;
    struct ta_err err = { 0 };
    cr_assert(pbwire_done(&r));
    cr_assert_eq(pbwire_read_varint(&r, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "truncated varint at offset 0");
}

Test(pbwire, reads_tags_of_each_wire_type)
{
    /* field 1 varint, field 2 len, field 3 i64, field 4 i32, field 536870911 varint */
    struct slice s = BYTES("\x08\x12\x19\x25\xf8\xff\xff\xff\x0f");
    struct pbwire r;
    pbwire_init(&r, s);
    uint32_t f;
    enum pbwire_type t;
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, NULL), TA_OK);
    cr_assert(f == 1 && t == PBWIRE_VARINT);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, NULL), TA_OK);
    cr_assert(f == 2 && t == PBWIRE_LEN);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, NULL), TA_OK);
    cr_assert(f == 3 && t == PBWIRE_I64);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, NULL), TA_OK);
    cr_assert(f == 4 && t == PBWIRE_I32);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, NULL), TA_OK);
    cr_assert_eq(f, PBWIRE_MAX_FIELD);
    cr_assert_eq(t, PBWIRE_VARINT);
    cr_assert(pbwire_done(&r));
    free((void *)s.ptr);
}

Test(pbwire, rejects_group_wire_types)
{
    struct ta_err err = { 0 };
    uint32_t f;
    enum pbwire_type t;
    struct slice s = BYTES("\x0b"); /* field 1, start group */
    struct pbwire r;
    pbwire_init(&r, s);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "field 1: group wire type 3 is not supported at offset 0");
    free((void *)s.ptr);

    s = BYTES("\x08\x01\x14"); /* field 1 = 1, then field 2, end group */
    pbwire_init(&r, s);
    uint64_t v;
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_OK);
    cr_assert_eq(pbwire_read_varint(&r, &v, &err), TA_OK);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "field 2: group wire type 4 is not supported at offset 2");
    free((void *)s.ptr);
}

Test(pbwire, rejects_wire_types_6_and_7)
{
    struct ta_err err = { 0 };
    uint32_t f;
    enum pbwire_type t;
    struct pbwire r;
    struct slice s = BYTES("\x0e");
    pbwire_init(&r, s);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "field 1: invalid wire type 6 at offset 0");
    free((void *)s.ptr);
    s = BYTES("\x0f");
    pbwire_init(&r, s);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "field 1: invalid wire type 7 at offset 0");
    free((void *)s.ptr);
}

Test(pbwire, rejects_field_zero_and_field_over_max)
{
    struct ta_err err = { 0 };
    uint32_t f;
    enum pbwire_type t;
    struct pbwire r;
    struct slice s = BYTES("\x00");
    pbwire_init(&r, s);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid field number 0 at offset 0");
    free((void *)s.ptr);
    s = BYTES("\x80\x80\x80\x80\x10"); /* (2^29) << 3 = 2^32: field 536870912 */
    pbwire_init(&r, s);
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid field number 536870912 at offset 0");
    free((void *)s.ptr);
}

Test(pbwire, reads_fixed64_and_fixed32_little_endian)
{
    struct slice s = BYTES("\x01\x02\x03\x04\x05\x06\x07\x08\xaa\xbb\xcc\xdd");
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v64;
    uint32_t v32;
    cr_assert_eq(pbwire_read_fixed64(&r, &v64, NULL), TA_OK);
    cr_assert_eq(v64, 0x0807060504030201ull);
    cr_assert_eq(pbwire_read_fixed32(&r, &v32, NULL), TA_OK);
    cr_assert_eq(v32, 0xddccbbaau);
    cr_assert(pbwire_done(&r));
    free((void *)s.ptr);
}

Test(pbwire, rejects_truncated_fixed)
{
    struct ta_err err = { 0 };
    struct slice s = BYTES("\x01\x02\x03\x04\x05\x06\x07");
    struct pbwire r;
    pbwire_init(&r, s);
    uint64_t v64;
    uint32_t v32;
    cr_assert_eq(pbwire_read_fixed64(&r, &v64, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "truncated fixed64 at offset 0");
    r.pos = 4;
    cr_assert_eq(pbwire_read_fixed32(&r, &v32, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "truncated fixed32 at offset 4");
    free((void *)s.ptr);
}

Test(pbwire, reads_length_delimited_with_embedded_nul)
{
    struct slice s = BYTES("\x03"
                           "a\0b"
                           "\x00");
    struct pbwire r;
    pbwire_init(&r, s);
    struct slice v;
    cr_assert_eq(pbwire_read_len(&r, &v, NULL), TA_OK);
    cr_assert_eq(v.len, 3);
    cr_assert_eq(memcmp(v.ptr, "a\0b", 3), 0);
    cr_assert_eq(pbwire_read_len(&r, &v, NULL), TA_OK);
    cr_assert_eq(v.len, 0);
    cr_assert(pbwire_done(&r));
    free((void *)s.ptr);
}

Test(pbwire, rejects_length_past_end)
{
    struct ta_err err = { 0 };
    struct slice s = BYTES("\x0a\x05"
                           "abcd");
    struct pbwire r;
    pbwire_init(&r, s);
    uint32_t f;
    enum pbwire_type t;
    struct slice v;
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_OK);
    cr_assert_eq(pbwire_read_len(&r, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "length 5 at offset 1 runs past the end (4 bytes left)");
    free((void *)s.ptr);
}

Test(pbwire, rejects_huge_length)
{
    struct ta_err err = { 0 };
    struct slice s = BYTES("\xff\xff\xff\xff\xff\xff\xff\xff\x7f");
    struct pbwire r;
    pbwire_init(&r, s);
    struct slice v;
    cr_assert_eq(pbwire_read_len(&r, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg,
                     "length 9223372036854775807 at offset 0 runs past the end (0 bytes left)");
    free((void *)s.ptr);
}

Test(pbwire, skips_unknown_fields_of_each_wire_type)
{
    /* field 9 varint 300, field 10 i64, field 11 len "xyz", field 12 i32, then field 1 = 7 */
    struct slice s = BYTES("\x48\xac\x02"
                           "\x51\x01\x02\x03\x04\x05\x06\x07\x08"
                           "\x5a\x03xyz"
                           "\x65\x01\x02\x03\x04"
                           "\x08\x07");
    struct pbwire r;
    pbwire_init(&r, s);
    uint32_t f;
    enum pbwire_type t;
    uint64_t v = 0;
    for (;;) {
        cr_assert_eq(pbwire_read_tag(&r, &f, &t, NULL), TA_OK);
        if (f == 1)
            break;
        cr_assert_eq(pbwire_skip(&r, t, NULL), TA_OK);
    }
    cr_assert_eq(pbwire_read_varint(&r, &v, NULL), TA_OK);
    cr_assert_eq(v, 7);
    cr_assert(pbwire_done(&r));
    free((void *)s.ptr);
}

Test(pbwire, skip_reports_truncation)
{
    struct ta_err err = { 0 };
    struct slice s = BYTES("\x51\x01\x02");
    struct pbwire r;
    pbwire_init(&r, s);
    uint32_t f;
    enum pbwire_type t;
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_OK);
    cr_assert_eq(pbwire_skip(&r, t, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "truncated fixed64 at offset 1");
    free((void *)s.ptr);
}

Test(pbwire, sub_cursor_reports_absolute_offsets)
{
    /* field 1 len 3 { field 1 varint truncated ... } */
    struct slice s = BYTES("\x0a\x02\x08\x80");
    struct pbwire r, c;
    pbwire_init(&r, s);
    uint32_t f;
    enum pbwire_type t;
    struct slice sub;
    uint64_t v;
    struct ta_err err = { 0 };
    cr_assert_eq(pbwire_read_tag(&r, &f, &t, &err), TA_OK);
    cr_assert_eq(pbwire_read_len(&r, &sub, &err), TA_OK);
    pbwire_sub(&r, sub, &c);
    cr_assert_eq(pbwire_offset(&c), 2);
    cr_assert_eq(pbwire_read_tag(&c, &f, &t, &err), TA_OK);
    cr_assert_eq(pbwire_read_varint(&c, &v, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "truncated varint at offset 3");
    free((void *)s.ptr);
}

Test(pbwire, wrong_type_message)
{
    struct ta_err err = { 0 };
    struct pbwire r;
    pbwire_init(&r, SLICE_LIT("abc"));
    r.pos = 2;
    cr_assert_eq(pbwire_wrong_type(&r, 7, PBWIRE_VARINT, PBWIRE_I64, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "field 7: wire type 0, expected 1 at offset 2");
}

Test(pbwire, writes_varints_tags_and_fields)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(pbwire_put_varint(&b, 0), TA_OK);
    cr_assert_eq(pbwire_put_varint(&b, 150), TA_OK);
    cr_assert_eq(pbwire_put_varint(&b, UINT64_MAX), TA_OK);
    cr_assert_eq(pbwire_put_tag(&b, 2, PBWIRE_LEN), TA_OK);
    cr_assert_eq(pbwire_put_fixed64(&b, 0x0807060504030201ull), TA_OK);
    cr_assert_eq(pbwire_put_fixed32(&b, 0xddccbbaau), TA_OK);
    cr_assert_eq(pbwire_put_bytes(&b, 1, SLICE_LIT("hi")), TA_OK);
    cr_assert_eq(pbwire_put_uint(&b, 3, 1), TA_OK);
    static const char want[] = "\x00"
                               "\x96\x01"
                               "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                               "\x12"
                               "\x01\x02\x03\x04\x05\x06\x07\x08"
                               "\xaa\xbb\xcc\xdd"
                               "\x0a\x02hi"
                               "\x18\x01";
    cr_assert_eq(b.len, sizeof(want) - 1);
    cr_assert_eq(memcmp(b.data, want, b.len), 0);
    buf_free(&b);
}

Test(pbwire, writer_reports_cap)
{
    struct buf b;
    buf_init(&b, 4); /* exactly the 4 bytes of the first field */
    cr_assert_eq(pbwire_put_bytes(&b, 1, SLICE_LIT("hi")), TA_OK);
    cr_assert_eq(pbwire_put_varint(&b, 1), TA_TOO_LARGE);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

Test(pbwire, writer_round_trips_through_reader)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    uint64_t vals[] = { 0, 1, 127, 128, 16383, 16384, (1ull << 35) + 5, UINT64_MAX - 1 };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        cr_assert_eq(pbwire_put_uint(&b, (uint32_t)(i + 1), vals[i]), TA_OK);
    struct pbwire r;
    pbwire_init(&r, buf_slice(&b));
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint32_t f;
        enum pbwire_type t;
        uint64_t v;
        cr_assert_eq(pbwire_read_tag(&r, &f, &t, NULL), TA_OK);
        cr_assert_eq(f, i + 1);
        cr_assert_eq(t, PBWIRE_VARINT);
        cr_assert_eq(pbwire_read_varint(&r, &v, NULL), TA_OK);
        cr_assert_eq(v, vals[i]);
    }
    cr_assert(pbwire_done(&r));
    buf_free(&b);
}
