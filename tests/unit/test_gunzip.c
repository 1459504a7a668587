/* test_gunzip.c — bounded gzip inflate: round trips, corrupt input, caps and a 1 GiB bomb.
 *
 * Compressed inputs are produced here with zlib's deflate (the compressor, independent of the
 * code under test). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "server/gunzip.h"

/* gzip-compresses n bytes of p into a malloc'd block (no final NUL); *out_len gets its size. */
static char *gz(const void *p, size_t n, int level, size_t *out_len)
{
    z_stream zs = { 0 };
    cr_assert_eq(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    char *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static struct slice sl(const char *p, size_t n)
{
    return slice_make(p, n);
}

Test(gunzip, inflates_a_small_body)
{
    const char text[] = "hello, otlp world";
    size_t n;
    char *z = gz(text, sizeof(text) - 1, 6, &n);
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(z, n), 1024, &out, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(out.len, sizeof(text) - 1);
    cr_assert_eq(memcmp(out.data, text, out.len), 0);
    buf_free(&out);
    free(z);
}

Test(gunzip, inflates_binary_with_embedded_nul)
{
    char data[3000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7 % 251); /* includes NUL bytes */
    size_t n;
    char *z = gz(data, sizeof(data), 9, &n);
    struct buf out;
    cr_assert_eq(gunzip_inflate(sl(z, n), sizeof(data), &out, NULL), TA_OK);
    cr_assert_eq(out.len, sizeof(data));
    cr_assert_eq(memcmp(out.data, data, sizeof(data)), 0);
    buf_free(&out);
    free(z);
}

Test(gunzip, inflates_empty_payload)
{
    size_t n;
    char *z = gz("", 0, 6, &n);
    struct buf out;
    cr_assert_eq(gunzip_inflate(sl(z, n), 16, &out, NULL), TA_OK);
    cr_assert_eq(out.len, 0);
    buf_free(&out);
    free(z);
}

Test(gunzip, accepts_concatenated_members)
{
    size_t n1, n2;
    char *a = gz("abc", 3, 6, &n1);
    char *b = gz("defg", 4, 6, &n2);
    char *both = malloc(n1 + n2);
    memcpy(both, a, n1);
    memcpy(both + n1, b, n2);
    struct buf out;
    cr_assert_eq(gunzip_inflate(sl(both, n1 + n2), 100, &out, NULL), TA_OK);
    cr_assert_eq(out.len, 7);
    cr_assert_eq(memcmp(out.data, "abcdefg", 7), 0);
    buf_free(&out);
    free(a);
    free(b);
    free(both);
}

Test(gunzip, rejects_empty_input)
{
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(SLICE_NULL, 100, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "gzip: empty body");
    cr_assert_null(out.data);
}

Test(gunzip, rejects_non_gzip_bytes)
{
    char *p = malloc(11);
    memcpy(p, "hello world", 11);
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(p, 11), 100, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg,
                     "gzip: corrupt body at byte 2: incorrect header check" /* after the magic */);
    cr_assert_null(out.data);
    free(p);
}

Test(gunzip, rejects_zlib_format_stream)
{
    uLongf n = 64;
    Bytef z[64];
    cr_assert_eq(compress(z, &n, (const Bytef *)"abc", 3), Z_OK); /* zlib wrapper, not gzip */
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl((const char *)z, n), 100, &out, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "gzip: corrupt body"), "%s", err.msg);
}

Test(gunzip, rejects_truncated_stream)
{
    const char text[] = "some text that is long enough to compress into a few bytes";
    size_t n;
    char *z = gz(text, sizeof(text) - 1, 6, &n);
    struct buf out;
    struct ta_err err = { 0 };
    /* without the 8-byte trailer, and cut in the middle of the deflate data */
    cr_assert_eq(gunzip_inflate(sl(z, n - 8), 1024, &out, &err), TA_INVALID);
    char want[64];
    snprintf(want, sizeof(want), "gzip: truncated body (%zu bytes)", n - 8);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(gunzip_inflate(sl(z, 15), 1024, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "gzip: truncated body (15 bytes)");
    cr_assert_eq(gunzip_inflate(sl(z, 5), 1024, &out, &err), TA_INVALID); /* inside the header */
    cr_assert_str_eq(err.msg, "gzip: truncated body (5 bytes)");
    cr_assert_null(out.data);
    free(z);
}

Test(gunzip, rejects_corrupt_crc)
{
    size_t n;
    char *z = gz("abcdef", 6, 6, &n);
    z[n - 8] ^= 0x55; /* first byte of the CRC32 trailer */
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(z, n), 100, &out, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "incorrect data check"), "%s", err.msg);
    cr_assert_null(out.data);
    free(z);
}

Test(gunzip, rejects_trailing_garbage)
{
    size_t n;
    char *z = gz("abc", 3, 6, &n);
    z = realloc(z, n + 4);
    memcpy(z + n, "junk", 4);
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(z, n + 4), 100, &out, &err), TA_INVALID);
    char want[80];
    snprintf(want, sizeof(want), "gzip: corrupt body at byte %zu: incorrect header check", n + 2);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(out.data);
    free(z);
}

Test(gunzip, accepts_output_exactly_at_cap)
{
    char data[1000];
    memset(data, 'x', sizeof(data));
    size_t n;
    char *z = gz(data, sizeof(data), 6, &n);
    struct buf out;
    cr_assert_eq(gunzip_inflate(sl(z, n), 1000, &out, NULL), TA_OK);
    cr_assert_eq(out.len, 1000);
    buf_free(&out);
    free(z);
}

Test(gunzip, rejects_output_one_byte_over_cap)
{
    char data[1001];
    memset(data, 'x', sizeof(data));
    size_t n;
    char *z = gz(data, sizeof(data), 6, &n);
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(z, n), 1000, &out, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "gzip: body inflates to more than 1000 bytes");
    cr_assert_null(out.data);
    free(z);
}

Test(gunzip, small_body_of_zeros_below_ratio_floor_is_fine)
{
    size_t len = GUNZIP_RATIO_FLOOR; /* ratio ~1000, but only 1 MiB */
    char *zeros = calloc(1, len);
    size_t n;
    char *z = gz(zeros, len, 9, &n);
    cr_assert_lt(n * GUNZIP_MAX_RATIO, len, "the test needs a ratio above the guard");
    struct buf out;
    cr_assert_eq(gunzip_inflate(sl(z, n), 16u << 20, &out, NULL), TA_OK);
    cr_assert_eq(out.len, len);
    buf_free(&out);
    free(z);
    free(zeros);
}

Test(gunzip, ratio_guard_stops_highly_compressed_body_below_cap)
{
    size_t len = 4u << 20; /* 4 MiB of zeros: ~4 KiB compressed */
    char *zeros = calloc(1, len);
    size_t n;
    char *z = gz(zeros, len, 9, &n);
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(z, n), 16u << 20, &out, &err), TA_TOO_LARGE);
    cr_assert(strstr(err.msg, "gzip: compression ratio above 256"), "%s", err.msg);
    cr_assert_null(out.data);
    free(z);
    free(zeros);
}

/* Builds a gzip stream of 1 GiB of zeros (~1 MiB) without compressing 1 GiB: at level 9 with
 * Z_SYNC_FLUSH every 1 MiB chunk of zeros after the first deflates to the same bytes (checked
 * here), so the chunk is repeated, then the trailer gets the true CRC32 and ISIZE. */
static char *gzip_bomb_1gib(size_t *out_len)
{
    enum {
        MIB = 1 << 20,
        CHUNKS = 1024
    };
    char *zero = calloc(1, MIB);
    char *c1 = malloc(MIB), *c2 = malloc(MIB), *c3 = malloc(MIB), *fin = malloc(64);
    size_t n1, n2, n3, nf;
    z_stream zs = { 0 };
    cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    char *bufs[3] = { c1, c2, c3 };
    size_t *lens[3] = { &n1, &n2, &n3 };
    for (int i = 0; i < 3; i++) {
        zs.next_in = (Bytef *)zero;
        zs.avail_in = MIB;
        zs.next_out = (Bytef *)bufs[i];
        zs.avail_out = MIB;
        cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
        *lens[i] = MIB - zs.avail_out;
    }
    cr_assert(n2 == n3 && memcmp(c2, c3, n2) == 0, "zlib no longer repeats chunks");
    zs.next_in = (Bytef *)zero;
    zs.avail_in = 0;
    zs.next_out = (Bytef *)fin;
    zs.avail_out = 64;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    nf = 64 - zs.avail_out;
    deflateEnd(&zs);
    size_t total = n1 + (size_t)(CHUNKS - 1) * n2 + nf;
    char *z = malloc(total);
    size_t at = 0;
    memcpy(z, c1, n1);
    at += n1;
    for (int i = 1; i < CHUNKS; i++, at += n2)
        memcpy(z + at, c2, n2);
    memcpy(z + at, fin, nf);
    uLong crc1 = crc32(0, (const Bytef *)zero, MIB), crc = crc1;
    for (int i = 1; i < CHUNKS; i++)
        crc = crc32_combine(crc, crc1, MIB);
    unsigned char *t = (unsigned char *)z + total - 8;
    uint32_t isize = (uint32_t)((uint64_t)CHUNKS * MIB); /* 2^30 mod 2^32 */
    for (int i = 0; i < 4; i++) {
        t[i] = (unsigned char)(crc >> (8 * i));
        t[4 + i] = (unsigned char)(isize >> (8 * i));
    }
    free(zero);
    free(c1);
    free(c2);
    free(c3);
    free(fin);
    *out_len = total;
    return z;
}

Test(gunzip, one_gib_of_zeros_stops_at_the_guard)
{
    size_t n;
    char *z = gzip_bomb_1gib(&n);
    cr_assert_lt(n, 2u << 20);
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(z, n), 16u << 20, &out, &err), TA_TOO_LARGE);
    cr_assert_null(out.data);
    free(z);
}

Test(gunzip, one_gib_of_zeros_stops_at_a_small_cap)
{
    size_t n;
    char *z = gzip_bomb_1gib(&n);
    struct buf out;
    struct ta_err err = { 0 };
    cr_assert_eq(gunzip_inflate(sl(z, n), 100000, &out, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "gzip: body inflates to more than 100000 bytes");
    cr_assert_null(out.data);
    free(z);
}
