/* test_otlp_decode.c — ExportTraceServiceRequest decoding, protobuf and OTLP/JSON.
 *
 * Protobuf inputs are built with pbwire's writer (tested byte-exact in test_pbwire.c) using
 * the field numbers of opentelemetry-proto; JSON inputs are literal text. Every body is copied
 * to the heap without a final NUL so ASan catches reads past its length. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/otlp_decode.h"
#include "server/pbwire.h"

#define CHECK(x) cr_assert_eq((x), TA_OK)

static struct slice heap_copy(const char *p, size_t n)
{
    char *m = malloc(n ? n : 1);
    if (n)
        memcpy(m, p, n);
    return slice_make(m, n);
}

static void heap_free(struct slice s)
{
    free((void *)s.ptr);
}

/* Appends sub as a length-delimited field and frees it. */
static void put_msg(struct buf *b, uint32_t field, struct buf *sub)
{
    CHECK(pbwire_put_bytes(b, field, buf_slice(sub)));
    buf_free(sub);
}

static void put_str(struct buf *b, uint32_t field, const char *s)
{
    CHECK(pbwire_put_bytes(b, field, slice_from_cstr(s)));
}

static void put_fixed64(struct buf *b, uint32_t field, uint64_t v)
{
    CHECK(pbwire_put_tag(b, field, PBWIRE_I64));
    CHECK(pbwire_put_fixed64(b, v));
}

/* KeyValue { key = 1; AnyValue value = 2 { string_value = 1 } } */
static void kv_str(struct buf *b, uint32_t field, const char *key, const char *val)
{
    struct buf av, kv;
    buf_init(&av, 1 << 20);
    buf_init(&kv, 1 << 20);
    put_str(&av, 1, val);
    put_str(&kv, 1, key);
    put_msg(&kv, 2, &av);
    put_msg(b, field, &kv);
}

static void kv_int(struct buf *b, uint32_t field, const char *key, int64_t v)
{
    struct buf av, kv;
    buf_init(&av, 1 << 20);
    buf_init(&kv, 1 << 20);
    CHECK(pbwire_put_uint(&av, 3, (uint64_t)v));
    put_str(&kv, 1, key);
    put_msg(&kv, 2, &av);
    put_msg(b, field, &kv);
}

static void kv_double(struct buf *b, uint32_t field, const char *key, double d)
{
    struct buf av, kv;
    buf_init(&av, 1 << 20);
    buf_init(&kv, 1 << 20);
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    put_fixed64(&av, 4, bits);
    put_str(&kv, 1, key);
    put_msg(&kv, 2, &av);
    put_msg(b, field, &kv);
}

static void kv_bool(struct buf *b, uint32_t field, const char *key, bool v)
{
    struct buf av, kv;
    buf_init(&av, 1 << 20);
    buf_init(&kv, 1 << 20);
    CHECK(pbwire_put_uint(&av, 2, v));
    put_str(&kv, 1, key);
    put_msg(&kv, 2, &av);
    put_msg(b, field, &kv);
}

/* KeyValue whose value is an ArrayValue { values = 1: AnyValue{string "x"} } */
static void kv_array(struct buf *b, uint32_t field, const char *key)
{
    struct buf inner, arr, av, kv;
    buf_init(&inner, 1 << 20);
    buf_init(&arr, 1 << 20);
    buf_init(&av, 1 << 20);
    buf_init(&kv, 1 << 20);
    put_str(&inner, 1, "x");
    put_msg(&arr, 1, &inner);
    put_msg(&av, 5, &arr);
    put_str(&kv, 1, key);
    put_msg(&kv, 2, &av);
    put_msg(b, field, &kv);
}

static const uint8_t TID[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t SID[8] = { 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
static const uint8_t PID[8] = { 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8 };

#define T0 1700000000000000000ull /* 2023-11-14T22:13:20Z */

/* A valid span body without attributes: ids, name, kind, times, status. */
static void span_base(struct buf *sp, uint8_t sid_last, const char *name, int kind, uint64_t start,
                      uint64_t end, int status)
{
    uint8_t sid[8];
    memcpy(sid, SID, 8);
    sid[7] = sid_last;
    CHECK(pbwire_put_bytes(sp, 1, slice_make((const char *)TID, 16)));
    CHECK(pbwire_put_bytes(sp, 2, slice_make((const char *)sid, 8)));
    CHECK(pbwire_put_bytes(sp, 4, slice_make((const char *)PID, 8)));
    put_str(sp, 5, name);
    CHECK(pbwire_put_uint(sp, 6, (uint64_t)kind));
    put_fixed64(sp, 7, start);
    put_fixed64(sp, 8, end);
    if (status) {
        struct buf st;
        buf_init(&st, 1 << 10);
        put_str(&st, 2, "boom");
        CHECK(pbwire_put_uint(&st, 3, (uint64_t)status));
        put_msg(sp, 15, &st);
    }
}

/* ExportTraceServiceRequest { resource_spans { resource, scope_spans { spans... } } } with the
 * given span messages (each freed). */
static void request_with(struct buf *req, struct buf *resource, struct buf *spans, size_t n)
{
    struct buf ss, rs, scope;
    buf_init(&ss, 64 << 20);
    buf_init(&rs, 64 << 20);
    buf_init(&scope, 1 << 10);
    put_str(&scope, 1, "io.opentelemetry.test");
    put_msg(&ss, 1, &scope);
    for (size_t i = 0; i < n; i++)
        put_msg(&ss, 2, &spans[i]);
    if (resource)
        put_msg(&rs, 1, resource);
    put_msg(&rs, 2, &ss);
    put_msg(req, 1, &rs);
}

static struct otlp_keep *shop_keep(void)
{
    const char *span_keys[] = { "http.route", "db.system", "retries", "ratio", "cached" };
    const char *res_keys[] = { "k8s.namespace.name" };
    return otlp_keep_new(span_keys, 5, res_keys, 1);
}

static bool attr_str(const struct span_attrs *a, const char *key, const char *want)
{
    const struct span_attr *x = span_attr_find(a, slice_from_cstr(key));
    return x && x->value.type == ATTR_STRING && slice_eq_cstr(x->value.u.str, want);
}

static enum ta_rc decode_pb(struct buf *req, const struct otlp_keep *keep, struct otlp_batch **out,
                            struct ta_err *err, struct slice *body)
{
    *body = heap_copy(req->data, req->len);
    buf_free(req);
    return otlp_decode_protobuf(*body, keep, out, err);
}

Test(otlp_decode, protobuf_decodes_span_fields_and_kept_attributes)
{
    struct otlp_keep *keep = shop_keep();
    struct buf res, sp, req;
    buf_init(&res, 1 << 20);
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    kv_str(&res, 1, "service.name", "checkout");
    kv_str(&res, 1, "k8s.namespace.name", "shop");
    kv_str(&res, 1, "host.name", "node-1"); /* not referenced by any rule: dropped */
    span_base(&sp, 1, "POST /checkout", 2, T0, T0 + 250000000, 2);
    kv_str(&sp, 9, "http.route", "/checkout");
    kv_str(&sp, 9, "http.method", "POST"); /* dropped */
    kv_int(&sp, 9, "retries", -3);
    kv_double(&sp, 9, "ratio", 0.25);
    kv_bool(&sp, 9, "cached", true);
    kv_array(&sp, 9, "db.system"); /* kept key, but an array value: dropped */
    request_with(&req, &res, &sp, 1);

    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    struct slice body;
    cr_assert_eq(decode_pb(&req, keep, &b, &err, &body), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    cr_assert_eq(b->rejected, 0);
    cr_assert_str_eq(b->reject_msg, "");
    const struct span *s = &b->spans[0];
    cr_assert_eq(memcmp(s->trace_id, TID, 16), 0);
    cr_assert_eq(memcmp(s->span_id, SID, 7), 0);
    cr_assert_eq(s->span_id[7], 1);
    cr_assert_eq(memcmp(s->parent_span_id, PID, 8), 0);
    cr_assert(slice_eq_cstr(s->name, "POST /checkout"));
    cr_assert_eq(s->kind, SPAN_KIND_SERVER);
    cr_assert_eq(s->status, SPAN_STATUS_ERROR);
    cr_assert_eq(s->start_ns, (int64_t)T0);
    cr_assert_eq(span_duration_ns(s), 250000000);
    cr_assert_eq(s->resource.n, 2);
    cr_assert(attr_str(&s->resource, "service.name", "checkout"));
    cr_assert(attr_str(&s->resource, "k8s.namespace.name", "shop"));
    cr_assert_null(span_attr_find(&s->resource, SLICE_LIT("host.name")));
    cr_assert_eq(s->attrs.n, 4);
    cr_assert(attr_str(&s->attrs, "http.route", "/checkout"));
    cr_assert_null(span_attr_find(&s->attrs, SLICE_LIT("http.method")));
    cr_assert_null(span_attr_find(&s->attrs, SLICE_LIT("db.system")));
    const struct span_attr *a = span_attr_find(&s->attrs, SLICE_LIT("retries"));
    cr_assert(a && a->value.type == ATTR_INT && a->value.u.i == -3);
    a = span_attr_find(&s->attrs, SLICE_LIT("ratio"));
    cr_assert(a && a->value.type == ATTR_DOUBLE && a->value.u.d == 0.25);
    a = span_attr_find(&s->attrs, SLICE_LIT("cached"));
    cr_assert(a && a->value.type == ATTR_BOOL && a->value.u.b);
    otlp_batch_free(b);
    heap_free(body);
    otlp_keep_free(keep);
}

Test(otlp_decode, protobuf_resource_after_scope_spans_applies_to_all_spans)
{
    struct buf res, ss, rs, req, sp1, sp2;
    buf_init(&res, 1 << 20);
    buf_init(&ss, 1 << 20);
    buf_init(&rs, 1 << 20);
    buf_init(&req, 1 << 20);
    buf_init(&sp1, 1 << 20);
    buf_init(&sp2, 1 << 20);
    span_base(&sp1, 1, "a", 2, T0, T0 + 10, 0);
    span_base(&sp2, 2, "b", 3, T0 + 1, T0 + 5, 1);
    put_msg(&ss, 2, &sp1);
    put_msg(&ss, 2, &sp2);
    kv_str(&res, 1, "service.name", "payment");
    put_msg(&rs, 2, &ss); /* scope_spans first */
    put_msg(&rs, 1, &res);
    put_msg(&req, 1, &rs);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert_eq(b->n, 2);
    cr_assert(attr_str(&b->spans[0].resource, "service.name", "payment"));
    cr_assert(attr_str(&b->spans[1].resource, "service.name", "payment"));
    cr_assert_eq(b->spans[0].resource.items, b->spans[1].resource.items); /* shared */
    cr_assert_eq(b->spans[1].kind, SPAN_KIND_CLIENT);
    cr_assert_eq(b->spans[1].status, SPAN_STATUS_OK);
    cr_assert_eq(b->spans[0].status, SPAN_STATUS_UNSET);
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_null_keep_keeps_every_scalar_attribute)
{
    struct buf res, sp, req;
    buf_init(&res, 1 << 20);
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    kv_str(&res, 1, "host.name", "node-1");
    span_base(&sp, 1, "x", 1, T0, T0, 0);
    kv_str(&sp, 9, "anything", "v");
    kv_array(&sp, 9, "list");
    request_with(&req, &res, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert_eq(b->n, 1);
    cr_assert(attr_str(&b->spans[0].resource, "host.name", "node-1"));
    cr_assert_eq(b->spans[0].attrs.n, 1);
    cr_assert(attr_str(&b->spans[0].attrs, "anything", "v"));
    cr_assert_eq(span_duration_ns(&b->spans[0]), 0);
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_skips_unknown_fields_of_every_wire_type_at_every_level)
{
    struct buf sp, req, res;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    buf_init(&res, 1 << 20);
    /* in the span: unknown varint, i64, len, i32; known-but-ignored trace_state, flags,
     * events, links, dropped counts */
    CHECK(pbwire_put_uint(&sp, 99, 12345));
    put_fixed64(&sp, 98, 7);
    put_str(&sp, 97, "junk");
    CHECK(pbwire_put_tag(&sp, 96, PBWIRE_I32));
    CHECK(pbwire_put_fixed32(&sp, 5));
    put_str(&sp, 3, "vendor=x");
    CHECK(pbwire_put_tag(&sp, 16, PBWIRE_I32));
    CHECK(pbwire_put_fixed32(&sp, 0x301));
    put_str(&sp, 11, "\x09\x01\x02\x03\x04\x05\x06\x07\x08"); /* an event */
    put_str(&sp, 13, "");                                     /* an empty link */
    CHECK(pbwire_put_uint(&sp, 10, 3));
    span_base(&sp, 1, "x", 2, T0, T0 + 1, 0);
    kv_str(&res, 1, "service.name", "svc");
    CHECK(pbwire_put_uint(&res, 2, 4)); /* dropped_attributes_count */
    put_fixed64(&res, 50, 1);
    request_with(&req, &res, &sp, 1);
    CHECK(pbwire_put_uint(&req, 77, 1)); /* unknown at request level */
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, &err, &body), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    cr_assert(slice_eq_cstr(b->spans[0].name, "x"));
    cr_assert(attr_str(&b->spans[0].resource, "service.name", "svc"));
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_empty_body_is_an_empty_request)
{
    struct otlp_batch *b = NULL;
    cr_assert_eq(otlp_decode_protobuf(SLICE_NULL, NULL, &b, NULL), TA_OK);
    cr_assert_eq(b->n, 0);
    cr_assert_eq(b->rejected, 0);
    otlp_batch_free(b);
}

/* One request with one valid span (sid 1) and the span built by bad(); returns the batch. */
static struct otlp_batch *one_bad(void (*bad)(struct buf *), struct slice *body)
{
    struct buf sp[2], req;
    buf_init(&sp[0], 1 << 20);
    buf_init(&sp[1], 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp[0], 1, "good", 2, T0, T0 + 1, 0);
    bad(&sp[1]);
    request_with(&req, NULL, sp, 2);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_pb(&req, NULL, &b, &err, body), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    cr_assert(slice_eq_cstr(b->spans[0].name, "good"));
    cr_assert_eq(b->rejected, 1);
    return b;
}

static void ids_and_times(struct buf *sp, const uint8_t *tid, size_t tlen, const uint8_t *sid,
                          size_t slen, uint64_t start, uint64_t end)
{
    CHECK(pbwire_put_bytes(sp, 1, slice_make((const char *)tid, tlen)));
    CHECK(pbwire_put_bytes(sp, 2, slice_make((const char *)sid, slen)));
    put_fixed64(sp, 7, start);
    put_fixed64(sp, 8, end);
}

static const uint8_t ZERO[16] = { 0 };
static void bad_trace_len(struct buf *sp)
{
    kv_str(sp, 9, "http.route", "/dropped-with-the-span");
    ids_and_times(sp, TID, 15, SID, 8, T0, T0 + 1);
}
static void bad_trace_zero(struct buf *sp)
{
    ids_and_times(sp, ZERO, 16, SID, 8, T0, T0 + 1);
}
static void bad_trace_missing(struct buf *sp)
{
    CHECK(pbwire_put_bytes(sp, 2, slice_make((const char *)SID, 8)));
    put_fixed64(sp, 7, T0);
    put_fixed64(sp, 8, T0);
}
static void bad_span_len(struct buf *sp)
{
    static const uint8_t sid9[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    ids_and_times(sp, TID, 16, sid9, 9, T0, T0 + 1);
}
static void bad_span_zero(struct buf *sp)
{
    ids_and_times(sp, TID, 16, ZERO, 8, T0, T0 + 1);
}
static void bad_parent_len(struct buf *sp)
{
    ids_and_times(sp, TID, 16, SID, 8, T0, T0 + 1);
    CHECK(pbwire_put_bytes(sp, 4, slice_make((const char *)PID, 4)));
}
static void bad_end_before_start(struct buf *sp)
{
    ids_and_times(sp, TID, 16, SID, 8, T0, T0 - 1);
}
static void bad_start_zero(struct buf *sp)
{
    ids_and_times(sp, TID, 16, SID, 8, 0, T0);
}
static void bad_start_millis(struct buf *sp)
{
    ids_and_times(sp, TID, 16, SID, 8, 1700000000000ull, 1700000000001ull);
}
static void bad_end_far_future(struct buf *sp)
{
    ids_and_times(sp, TID, 16, SID, 8, T0, (uint64_t)OTLP_MAX_TIME_NS);
}
static void bad_kind(struct buf *sp)
{
    ids_and_times(sp, TID, 16, SID, 8, T0, T0);
    CHECK(pbwire_put_uint(sp, 6, 6));
}
static void bad_status(struct buf *sp)
{
    struct buf st;
    buf_init(&st, 64);
    CHECK(pbwire_put_uint(&st, 3, 3));
    ids_and_times(sp, TID, 16, SID, 8, T0, T0);
    put_msg(sp, 15, &st);
}

#define REJECT_TEST(fn, msg)                                                                \
    Test(otlp_decode, protobuf_rejects_span_##fn)                                           \
    {                                                                                       \
        struct slice body;                                                                  \
        struct otlp_batch *b = one_bad(fn, &body);                                          \
        cr_assert_str_eq(b->reject_msg, "resource_spans[0].scope_spans[0].spans[1]: " msg); \
        otlp_batch_free(b);                                                                 \
        heap_free(body);                                                                    \
    }

REJECT_TEST(bad_trace_len, "trace id must be 16 bytes, got 15")
REJECT_TEST(bad_trace_zero, "trace id is all zero")
REJECT_TEST(bad_trace_missing, "trace id must be 16 bytes, got 0")
REJECT_TEST(bad_span_len, "span id must be 8 bytes, got 9")
REJECT_TEST(bad_span_zero, "span id is all zero")
REJECT_TEST(bad_parent_len, "parent span id must be empty or 8 bytes, got 4")
REJECT_TEST(bad_end_before_start, "end time is before start time")
REJECT_TEST(bad_start_zero, "start time 0 ns is outside the years 2000-2099")
REJECT_TEST(bad_start_millis, "start time 1700000000000 ns is outside the years 2000-2099")
REJECT_TEST(bad_end_far_future, "end time 4102444800000000000 ns is outside the years 2000-2099")
REJECT_TEST(bad_kind, "unknown span kind")
REJECT_TEST(bad_status, "unknown status code")

Test(otlp_decode, protobuf_counts_every_rejection_but_keeps_the_first_message)
{
    struct buf sp[3], req;
    for (int i = 0; i < 3; i++)
        buf_init(&sp[i], 1 << 20);
    buf_init(&req, 1 << 20);
    bad_kind(&sp[0]);
    bad_span_zero(&sp[1]);
    span_base(&sp[2], 3, "ok", 2, T0, T0 + 5, 0);
    request_with(&req, NULL, sp, 3);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert_eq(b->n, 1);
    cr_assert_eq(b->rejected, 2);
    cr_assert_str_eq(b->reject_msg, "resource_spans[0].scope_spans[0].spans[0]: unknown span kind");
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_all_zero_parent_is_a_root)
{
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    ids_and_times(&sp, TID, 16, SID, 8, T0, T0 + 1);
    CHECK(pbwire_put_bytes(&sp, 4, slice_make((const char *)ZERO, 8)));
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert_eq(b->n, 1);
    cr_assert_not(span_has_parent(&b->spans[0]));
    cr_assert_eq(b->spans[0].kind, SPAN_KIND_UNSPECIFIED);
    cr_assert_eq(b->spans[0].name.len, 0);
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_repeated_scalar_field_last_one_wins)
{
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp, 1, "first", 2, T0, T0 + 1, 0);
    put_str(&sp, 5, "second");
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert(slice_eq_cstr(b->spans[0].name, "second"));
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_keeps_embedded_nul_in_strings)
{
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp, 1, "x", 2, T0, T0 + 1, 0);
    CHECK(pbwire_put_bytes(&sp, 5, slice_make("a\0b", 3)));
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert_eq(b->spans[0].name.len, 3);
    cr_assert_eq(memcmp(b->spans[0].name.ptr, "a\0b", 3), 0);
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_wrong_wire_type_for_known_field_fails_the_request)
{
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    CHECK(pbwire_put_uint(&sp, 5, 1)); /* name as a varint */
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = (struct otlp_batch *)1;
    struct ta_err err = { 0 };
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, &err, &body), TA_INVALID);
    cr_assert_null(b);
    cr_assert(strstr(err.msg, "field 5: wire type 0, expected 2 at offset"), "%s", err.msg);
    heap_free(body);
}

Test(otlp_decode, protobuf_start_time_as_varint_fails_the_request)
{
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    CHECK(pbwire_put_uint(&sp, 7, T0));
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, &err, &body), TA_INVALID);
    cr_assert(strstr(err.msg, "field 7: wire type 0, expected 1"), "%s", err.msg);
    heap_free(body);
}

Test(otlp_decode, protobuf_resource_spans_as_varint_fails_the_request)
{
    struct ta_err err = { 0 };
    struct otlp_batch *b = NULL;
    struct slice body = heap_copy("\x08\x01", 2);
    cr_assert_eq(otlp_decode_protobuf(body, NULL, &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "field 1: wire type 0, expected 2 at offset 1");
    heap_free(body);
}

Test(otlp_decode, protobuf_truncated_body_fails_with_offset)
{
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp, 1, "x", 2, T0, T0 + 1, 0);
    request_with(&req, NULL, &sp, 1);
    size_t full = req.len;
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    /* every proper prefix is malformed: a length or value runs past the end */
    for (size_t cut = 1; cut < full; cut++) {
        struct slice body = heap_copy(req.data, cut);
        enum ta_rc rc = otlp_decode_protobuf(body, NULL, &b, &err);
        cr_assert_eq(rc, TA_INVALID, "prefix of %zu bytes", cut);
        cr_assert_null(b);
        heap_free(body);
    }
    struct slice body = heap_copy(req.data, 3); /* field 1, length claims the whole message */
    cr_assert_eq(otlp_decode_protobuf(body, NULL, &b, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "runs past the end"), "%s", err.msg);
    heap_free(body);
    buf_free(&req);
}

Test(otlp_decode, protobuf_huge_length_fails)
{
    struct ta_err err = { 0 };
    struct otlp_batch *b = NULL;
    struct slice body = heap_copy("\x0a\xff\xff\xff\xff\x0f", 6);
    cr_assert_eq(otlp_decode_protobuf(body, NULL, &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "length 4294967295 at offset 1 runs past the end (0 bytes left)");
    heap_free(body);
}

Test(otlp_decode, protobuf_body_over_limit_is_too_large)
{
    struct ta_err err = { 0 };
    struct otlp_batch *b = NULL;
    struct slice body = slice_make("", (size_t)OTLP_BODY_MAX + 1); /* never read */
    cr_assert_eq(otlp_decode_protobuf(body, NULL, &b, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "body of 16777217 bytes is over the limit of 16777216");
    cr_assert_eq(otlp_decode_json(body, NULL, &b, &err), TA_TOO_LARGE);
}

/* A request of n empty Span messages (each rejected: no ids). */
static struct slice empty_spans(size_t n)
{
    struct buf ss, rs, req;
    buf_init(&ss, 64 << 20);
    buf_init(&rs, 64 << 20);
    buf_init(&req, 64 << 20);
    for (size_t i = 0; i < n; i++)
        CHECK(pbwire_put_bytes(&ss, 2, SLICE_NULL));
    put_msg(&rs, 2, &ss);
    put_msg(&req, 1, &rs);
    struct slice s = heap_copy(req.data, req.len);
    buf_free(&req);
    return s;
}

Test(otlp_decode, protobuf_accepts_exactly_the_span_limit)
{
    struct slice body = empty_spans(OTLP_MAX_SPANS_PER_REQUEST);
    struct otlp_batch *b = NULL;
    cr_assert_eq(otlp_decode_protobuf(body, NULL, &b, NULL), TA_OK);
    cr_assert_eq(b->n, 0);
    cr_assert_eq(b->rejected, OTLP_MAX_SPANS_PER_REQUEST);
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_one_span_over_the_limit_is_too_large)
{
    struct slice body = empty_spans(OTLP_MAX_SPANS_PER_REQUEST + 1);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_protobuf(body, NULL, &b, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "request has more than 131072 spans");
    cr_assert_null(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_keeps_at_most_the_attribute_limit)
{
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp, 1, "x", 2, T0, T0 + 1, 0);
    for (int i = 0; i < OTLP_MAX_ATTRS_PER_SPAN + 1; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        kv_int(&sp, 9, key, i);
    }
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert_eq(b->spans[0].attrs.n, OTLP_MAX_ATTRS_PER_SPAN);
    cr_assert_not_null(span_attr_find(&b->spans[0].attrs, SLICE_LIT("k127")));
    cr_assert_null(span_attr_find(&b->spans[0].attrs, SLICE_LIT("k128")));
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_truncates_long_strings_at_a_utf8_boundary)
{
    /* name: 4095 'a' then "é" (2 bytes) spans the 4096 limit: cut before the é */
    char *name = malloc(OTLP_MAX_STRING + 10);
    memset(name, 'a', OTLP_MAX_STRING - 1);
    memcpy(name + OTLP_MAX_STRING - 1, "\xc3\xa9zz", 5);
    /* value: exactly the limit is kept whole; one more byte is cut */
    char *val = malloc(OTLP_MAX_STRING + 2);
    memset(val, 'v', OTLP_MAX_STRING + 1);
    val[OTLP_MAX_STRING + 1] = '\0';
    char *exact = malloc(OTLP_MAX_STRING + 1);
    memset(exact, 'e', OTLP_MAX_STRING);
    exact[OTLP_MAX_STRING] = '\0';
    char *longkey = malloc(OTLP_MAX_STRING + 2);
    memset(longkey, 'k', OTLP_MAX_STRING + 1);
    longkey[OTLP_MAX_STRING + 1] = '\0';
    struct buf sp, req;
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp, 1, name, 2, T0, T0 + 1, 0);
    kv_str(&sp, 9, "long", val);
    kv_str(&sp, 9, "exact", exact);
    kv_str(&sp, 9, longkey, "dropped");
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    const struct span *s = &b->spans[0];
    cr_assert_eq(s->name.len, OTLP_MAX_STRING - 1);
    const struct span_attr *a = span_attr_find(&s->attrs, SLICE_LIT("long"));
    cr_assert_eq(a->value.u.str.len, OTLP_MAX_STRING);
    a = span_attr_find(&s->attrs, SLICE_LIT("exact"));
    cr_assert_eq(a->value.u.str.len, OTLP_MAX_STRING);
    cr_assert_eq(s->attrs.n, 2);
    otlp_batch_free(b);
    heap_free(body);
    free(name);
    free(val);
    free(exact);
    free(longkey);
}

Test(otlp_decode, protobuf_deeply_nested_dropped_value_costs_nothing)
{
    /* an attribute whose value is an array nested 10000 deep: skipped without descending */
    struct buf v;
    buf_init(&v, 1 << 20);
    put_str(&v, 1, "leaf");
    for (int i = 0; i < 10000; i++) {
        struct buf arr, av;
        buf_init(&arr, 1 << 20);
        buf_init(&av, 1 << 20);
        put_msg(&arr, 1, &v);
        put_msg(&av, 5, &arr);
        v = av;
    }
    struct buf kv, sp, req;
    buf_init(&kv, 1 << 20);
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    put_str(&kv, 1, "deep");
    put_msg(&kv, 2, &v);
    span_base(&sp, 1, "x", 2, T0, T0 + 1, 0);
    put_msg(&sp, 9, &kv);
    request_with(&req, NULL, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, NULL, &b, NULL, &body), TA_OK);
    cr_assert_eq(b->n, 1);
    cr_assert_eq(b->spans[0].attrs.n, 0);
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, keep_set_separates_span_and_resource_scope)
{
    const char *span_keys[] = { "only.span" };
    const char *res_keys[] = { "only.resource" };
    struct otlp_keep *keep = otlp_keep_new(span_keys, 1, res_keys, 1);
    struct buf res, sp, req;
    buf_init(&res, 1 << 20);
    buf_init(&sp, 1 << 20);
    buf_init(&req, 1 << 20);
    kv_str(&res, 1, "only.span", "no");
    kv_str(&res, 1, "only.resource", "yes");
    kv_str(&res, 1, "service.name", "always");
    span_base(&sp, 1, "x", 2, T0, T0 + 1, 0);
    kv_str(&sp, 9, "only.span", "yes");
    kv_str(&sp, 9, "only.resource", "no");
    kv_str(&sp, 9, "service.name", "no");
    request_with(&req, &res, &sp, 1);
    struct otlp_batch *b = NULL;
    struct slice body;
    cr_assert_eq(decode_pb(&req, keep, &b, NULL, &body), TA_OK);
    const struct span *s = &b->spans[0];
    cr_assert_eq(s->resource.n, 2);
    cr_assert(attr_str(&s->resource, "only.resource", "yes"));
    cr_assert(attr_str(&s->resource, "service.name", "always"));
    cr_assert_eq(s->attrs.n, 1);
    cr_assert(attr_str(&s->attrs, "only.span", "yes"));
    otlp_batch_free(b);
    heap_free(body);
    otlp_keep_free(keep);
}

Test(otlp_decode, keep_free_accepts_null)
{
    otlp_keep_free(NULL);
    otlp_batch_free(NULL);
}

/* ---- JSON ---- */

static enum ta_rc decode_js(const char *text, const struct otlp_keep *keep, struct otlp_batch **out,
                            struct ta_err *err)
{
    struct slice body = heap_copy(text, strlen(text));
    enum ta_rc rc = otlp_decode_json(body, keep, out, err);
    heap_free(body); /* JSON batches own their strings: the body may go at once */
    return rc;
}

Test(otlp_decode, json_decodes_the_spec_example_form)
{
    const char *text =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
        "{\"key\":\"k8s.namespace.name\",\"value\":{\"stringValue\":\"shop\"}},"
        "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"n1\"}}]},"
        "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1\"},\"spans\":[{"
        "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"EEE19B7EC3C1B174\","
        "\"parentSpanId\":\"EEE19B7EC3C1B173\",\"name\":\"I'm a server span\","
        "\"startTimeUnixNano\":\"1544712660000000000\",\"endTimeUnixNano\":"
        "\"1544712661000000000\",\"kind\":2,\"attributes\":["
        "{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/checkout\"}},"
        "{\"key\":\"retries\",\"value\":{\"intValue\":\"-7\"}},"
        "{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.5}},"
        "{\"key\":\"cached\",\"value\":{\"boolValue\":false}},"
        "{\"key\":\"db.system\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":"
        "\"x\"}]}}}],\"status\":{\"code\":2,\"message\":\"bad\"},\"events\":[],"
        "\"droppedAttributesCount\":0}]}]}]}";
    struct otlp_keep *keep = shop_keep();
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, keep, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    const struct span *s = &b->spans[0];
    static const uint8_t tid[16] = { 0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                     0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c };
    static const uint8_t sid[8] = { 0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74 };
    cr_assert_eq(memcmp(s->trace_id, tid, 16), 0);
    cr_assert_eq(memcmp(s->span_id, sid, 8), 0);
    cr_assert_eq(s->parent_span_id[7], 0x73);
    cr_assert(slice_eq_cstr(s->name, "I'm a server span"));
    cr_assert_eq(s->start_ns, 1544712660000000000LL);
    cr_assert_eq(span_duration_ns(s), 1000000000LL);
    cr_assert_eq(s->kind, SPAN_KIND_SERVER);
    cr_assert_eq(s->status, SPAN_STATUS_ERROR);
    cr_assert_eq(s->resource.n, 2);
    cr_assert(attr_str(&s->resource, "service.name", "checkout"));
    cr_assert(attr_str(&s->resource, "k8s.namespace.name", "shop"));
    cr_assert_eq(s->attrs.n, 4);
    cr_assert(attr_str(&s->attrs, "http.route", "/checkout"));
    const struct span_attr *a = span_attr_find(&s->attrs, SLICE_LIT("retries"));
    cr_assert(a && a->value.type == ATTR_INT && a->value.u.i == -7);
    a = span_attr_find(&s->attrs, SLICE_LIT("ratio"));
    cr_assert(a && a->value.type == ATTR_DOUBLE && a->value.u.d == 0.5);
    a = span_attr_find(&s->attrs, SLICE_LIT("cached"));
    cr_assert(a && a->value.type == ATTR_BOOL && !a->value.u.b);
    otlp_batch_free(b);
    otlp_keep_free(keep);
}

Test(otlp_decode, json_accepts_enum_names_base64_ids_and_number_times)
{
    /* Tempo's rendering: base64 ids, enum names, and here numbers for the 64-bit times */
    const char *text = "{\"batches\":[{\"scopeSpans\":[{\"spans\":[{"
                       "\"traceId\":\"AQIDBAUGBwgJCgsMDQ4PEA==\",\"spanId\":\"oaKjpKWmp6g=\","
                       "\"name\":\"n\",\"kind\":\"SPAN_KIND_CONSUMER\","
                       "\"startTimeUnixNano\":1700000000000000000,"
                       "\"endTimeUnixNano\":1700000000000000100,"
                       "\"status\":{\"code\":\"STATUS_CODE_OK\"},"
                       "\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":42}}]}]}]}]}";
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    const struct span *s = &b->spans[0];
    cr_assert_eq(memcmp(s->trace_id, TID, 16), 0);
    cr_assert_eq(memcmp(s->span_id, SID, 8), 0);
    cr_assert_not(span_has_parent(s));
    cr_assert_eq(s->kind, SPAN_KIND_CONSUMER);
    cr_assert_eq(s->status, SPAN_STATUS_OK);
    cr_assert_eq(s->start_ns, (int64_t)T0);
    cr_assert_eq(span_duration_ns(s), 100);
    const struct span_attr *a = span_attr_find(&s->attrs, SLICE_LIT("n"));
    cr_assert(a && a->value.type == ATTR_INT && a->value.u.i == 42);
    otlp_batch_free(b);
}

Test(otlp_decode, json_accepts_proto_field_names_and_nulls)
{
    const char *text = "{\"resource_spans\":[{\"resource\":null,\"scope_spans\":[{\"spans\":[{"
                       "\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\","
                       "\"span_id\":\"a1a2a3a4a5a6a7a8\",\"parent_span_id\":\"\","
                       "\"start_time_unix_nano\":\"1700000000000000000\","
                       "\"end_time_unix_nano\":\"1700000000000000000\","
                       "\"name\":null,\"kind\":null,\"status\":null,\"attributes\":null,"
                       "\"unknownField\":{\"x\":[1,2,3]}}]}]}]}";
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    cr_assert_eq(memcmp(b->spans[0].trace_id, TID, 16), 0);
    cr_assert_eq(b->spans[0].name.len, 0);
    cr_assert_eq(b->spans[0].kind, SPAN_KIND_UNSPECIFIED);
    otlp_batch_free(b);
}

Test(otlp_decode, json_empty_object_and_empty_arrays_are_empty_requests)
{
    const char *texts[] = { "{}", "{\"resourceSpans\":[]}", "{\"resourceSpans\":[{}]}",
                            "{\"resourceSpans\":[{\"scopeSpans\":[{}]}]}" };
    for (size_t i = 0; i < 4; i++) {
        struct otlp_batch *b = NULL;
        cr_assert_eq(decode_js(texts[i], NULL, &b, NULL), TA_OK, "%s", texts[i]);
        cr_assert_eq(b->n, 0);
        otlp_batch_free(b);
    }
}

Test(otlp_decode, json_keeps_embedded_nul)
{
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                       "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
                       "\"spanId\":\"a1a2a3a4a5a6a7a8\",\"name\":\"a\\u0000b\","
                       "\"startTimeUnixNano\":\"1700000000000000000\","
                       "\"endTimeUnixNano\":\"1700000000000000000\"}]}]}]}";
    struct otlp_batch *b = NULL;
    cr_assert_eq(decode_js(text, NULL, &b, NULL), TA_OK);
    cr_assert_eq(b->spans[0].name.len, 3);
    cr_assert_eq(memcmp(b->spans[0].name.ptr, "a\0b", 3), 0);
    otlp_batch_free(b);
}

static void json_rejects_span(const char *span_fields, const char *msg)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
             "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"a1a2a3a4a5a6a7a8\","
             "\"startTimeUnixNano\":\"1700000000000000000\","
             "\"endTimeUnixNano\":\"1700000000000000001\"},{%s}]}]}]}",
             span_fields);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    cr_assert_eq(b->rejected, 1);
    char want[256];
    snprintf(want, sizeof(want), "resourceSpans[0].scopeSpans[0].spans[1]: %s", msg);
    cr_assert_str_eq(b->reject_msg, want);
    otlp_batch_free(b);
}

#define GOOD_TIMES \
    "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":\"1700000000000000001\""
#define GOOD_IDS "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"a1a2a3a4a5a6a7a8\""

Test(otlp_decode, json_rejects_bad_spans_alone)
{
    json_rejects_span("\"traceId\":\"!!02030405060708090a0b0c0d0e0f10\",\"spanId\":"
                      "\"a1a2a3a4a5a6a7a8\"," GOOD_TIMES,
                      "trace id is neither hex nor base64 of 16 bytes");
    json_rejects_span("\"traceId\":\"0102\",\"spanId\":\"a1a2a3a4a5a6a7a8\"," GOOD_TIMES,
                      "trace id must be 16 bytes, got 3"); /* "0102" is valid base64: 3 bytes */
    json_rejects_span("\"traceId\":\"00000000000000000000000000000000\",\"spanId\":"
                      "\"a1a2a3a4a5a6a7a8\"," GOOD_TIMES,
                      "trace id is all zero");
    json_rejects_span("\"traceId\":\"0102030405060708090a0b0c0d0e0f10\"," GOOD_TIMES,
                      "span id must be 8 bytes, got 0");
    json_rejects_span(GOOD_IDS ",\"parentSpanId\":\"a1a2\"," GOOD_TIMES,
                      "parent span id must be empty or 8 bytes, got 3");
    json_rejects_span(GOOD_IDS ",\"parentSpanId\":\"!!\"," GOOD_TIMES,
                      "parent span id is neither hex nor base64 of 8 bytes");
    json_rejects_span(GOOD_IDS ",\"kind\":\"SPAN_KIND_SERVERLESS\"," GOOD_TIMES,
                      "unknown span kind");
    json_rejects_span(GOOD_IDS ",\"kind\":-1," GOOD_TIMES, "unknown span kind");
    json_rejects_span(GOOD_IDS ",\"status\":{\"code\":7}," GOOD_TIMES, "unknown status code");
    json_rejects_span(GOOD_IDS ",\"startTimeUnixNano\":\"1700000000000000001\","
                               "\"endTimeUnixNano\":\"1700000000000000000\"",
                      "end time is before start time");
    json_rejects_span(GOOD_IDS, "start time 0 ns is outside the years 2000-2099");
}

static void json_fails(const char *text, enum ta_rc rc, const char *msg)
{
    struct otlp_batch *b = (struct otlp_batch *)1;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), rc, "%s -> %s", text, err.msg);
    cr_assert_null(b);
    cr_assert_str_eq(err.msg, msg);
}

Test(otlp_decode, json_wrong_types_fail_the_request_with_a_path)
{
    json_fails("[]", TA_INVALID, "expected a JSON object (ExportTraceServiceRequest)");
    json_fails("{\"resourceSpans\":{}}", TA_INVALID, "resourceSpans: expected an array");
    json_fails("{\"resourceSpans\":[1]}", TA_INVALID,
               "resourceSpans[0]: expected a ResourceSpans object");
    json_fails("{\"resourceSpans\":[{\"scopeSpans\":{}}]}", TA_INVALID,
               "resourceSpans[0].scopeSpans: expected an array");
    json_fails("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":5}]}]}]}", TA_INVALID,
               "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string");
    json_fails("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":1}]}]}]}", TA_INVALID,
               "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected a hex string");
    json_fails("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":true}]}]}]}", TA_INVALID,
               "resourceSpans[0].scopeSpans[0].spans[0].kind: expected an enum number or name");
    json_fails("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":"
               "\"12x\"}]}]}]}",
               TA_INVALID,
               "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: not an unsigned "
               "integer: '12x'");
    json_fails("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"endTimeUnixNano\":-5}]}]}]}",
               TA_INVALID,
               "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: -5 is negative");
    json_fails("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":{}}]}]}]}",
               TA_INVALID, "resourceSpans[0].scopeSpans[0].spans[0].attributes: expected an array");
    json_fails("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
               "\"value\":{\"stringValue\":3}}]}}]}",
               TA_INVALID,
               "resourceSpans[0].resource.attributes[0].value.stringValue: expected a string");
    json_fails("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":7}]}}]}", TA_INVALID,
               "resourceSpans[0].resource.attributes[0].key: expected a string");
    json_fails("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":"
               "{\"intValue\":\"1.5\"}}]}}]}",
               TA_INVALID,
               "resourceSpans[0].resource.attributes[0].value.intValue: not an integer: '1.5'");
    json_fails("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":"
               "{\"boolValue\":\"true\"}}]}}]}",
               TA_INVALID,
               "resourceSpans[0].resource.attributes[0].value.boolValue: expected true or false");
    json_fails("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":"
               "[]}]}}]}",
               TA_INVALID,
               "resourceSpans[0].resource.attributes[0].value: expected an AnyValue object");
}

Test(otlp_decode, json_invalid_syntax_fails_with_position)
{
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js("{\"resourceSpans\":[", NULL, &b, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "invalid JSON at line 1 column"), "%s", err.msg);
    cr_assert_eq(decode_js("", NULL, &b, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "invalid JSON"), "%s", err.msg);
    cr_assert_null(b);
}

Test(otlp_decode, json_double_values_as_numbers_strings_and_non_finite)
{
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" GOOD_IDS "," GOOD_TIMES
                       ",\"attributes\":["
                       "{\"key\":\"a\",\"value\":{\"doubleValue\":\"1.5\"}},"
                       "{\"key\":\"b\",\"value\":{\"doubleValue\":\"NaN\"}},"
                       "{\"key\":\"c\",\"value\":{\"doubleValue\":3}},"
                       "{\"key\":\"d\",\"value\":{\"bytesValue\":\"AAE=\"}},"
                       "{\"key\":\"e\",\"value\":{}},"
                       "{\"key\":\"f\"}]}]}]}]}";
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), TA_OK, "%s", err.msg);
    const struct span_attrs *a = &b->spans[0].attrs;
    cr_assert_eq(a->n, 2);
    cr_assert_eq(span_attr_find(a, SLICE_LIT("a"))->value.u.d, 1.5);
    cr_assert_eq(span_attr_find(a, SLICE_LIT("c"))->value.u.d, 3.0);
    cr_assert_eq(span_attr_find(a, SLICE_LIT("c"))->value.type, ATTR_DOUBLE);
    otlp_batch_free(b);
}

/* {"resourceSpans":[{"resource":{"attributes":[{"key":"k","value": V }]}}]} with V an
 * arrayValue nested `levels` times; the leaf is {"stringValue":"x"}. */
static char *nested_json(int levels)
{
    struct buf b;
    buf_init(&b, 1 << 24);
    CHECK(buf_adds(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\","
                       "\"value\":"));
    for (int i = 0; i < levels; i++)
        CHECK(buf_adds(&b, "{\"arrayValue\":{\"values\":["));
    CHECK(buf_adds(&b, "{\"stringValue\":\"x\"}"));
    for (int i = 0; i < levels; i++)
        CHECK(buf_adds(&b, "]}}"));
    CHECK(buf_adds(&b, "}]}}]}"));
    size_t len;
    return buf_take(&b, &len);
}

Test(otlp_decode, json_accepts_nesting_up_to_the_depth_limit)
{
    /* 6 containers around the value + 3 per array level + the leaf: 7 + 3*32 < 12 + 4*32 */
    char *text = nested_json(OTLP_MAX_DEPTH);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), TA_OK, "%s", err.msg);
    otlp_batch_free(b);
    free(text);
}

Test(otlp_decode, json_rejects_absurd_nesting_before_parsing)
{
    char *text = nested_json(100000); /* 300k levels: jansson alone would stop at 2048 */
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "JSON nested deeper than 140 levels at byte"), "%s", err.msg);
    cr_assert_null(b);
    free(text);
}

Test(otlp_decode, json_prescan_ignores_brackets_in_strings)
{
    struct buf t;
    buf_init(&t, 1 << 20);
    CHECK(buf_adds(&t, "{\"resourceSpans\":[],\"x\":\""));
    for (int i = 0; i < 1000; i++)
        CHECK(buf_adds(&t, "[{\\\""));
    CHECK(buf_adds(&t, "\"}"));
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(buf_cstr(&t), NULL, &b, &err), TA_OK, "%s", err.msg);
    otlp_batch_free(b);
    buf_free(&t);
}

Test(otlp_decode, json_span_limit_counts_every_span)
{
    struct buf t;
    buf_init(&t, 8u << 20);
    CHECK(buf_adds(&t, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["));
    for (int i = 0; i < OTLP_MAX_SPANS_PER_REQUEST + 1; i++)
        CHECK(buf_adds(&t, i ? ",{}" : "{}"));
    CHECK(buf_adds(&t, "]}]}]}"));
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(buf_cstr(&t), NULL, &b, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "request has more than 131072 spans");
    buf_free(&t);
}

/* {"x": [[...[]...]]} with `depth` containers in all (the root object counts). */
static char *brackets(int depth)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    CHECK(buf_adds(&b, "{\"x\":"));
    for (int i = 1; i < depth; i++)
        CHECK(buf_addc(&b, '['));
    for (int i = 1; i < depth; i++)
        CHECK(buf_addc(&b, ']'));
    CHECK(buf_addc(&b, '}'));
    size_t len;
    return buf_take(&b, &len);
}

Test(otlp_decode, json_depth_limit_exactly_and_one_past)
{
    char *at = brackets(OTLP_JSON_MAX_DEPTH), *past = brackets(OTLP_JSON_MAX_DEPTH + 1);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(at, NULL, &b, &err), TA_OK, "%s", err.msg);
    otlp_batch_free(b);
    cr_assert_eq(decode_js(past, NULL, &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "JSON nested deeper than 140 levels at byte 144");
    free(at);
    free(past);
}

Test(otlp_decode, protobuf_body_of_exactly_the_limit_is_decoded)
{
    /* one unknown length-delimited field filling the body: tag (1) + length (4) + payload */
    size_t n = OTLP_BODY_MAX;
    char *p = calloc(1, n);
    size_t payload = n - 5;
    p[0] = (char)(99 << 3 | 2);
    for (int i = 0; i < 4; i++)
        p[1 + i] = (char)(((payload >> (7 * i)) & 0x7f) | (i < 3 ? 0x80 : 0));
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_protobuf(slice_make(p, n), NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 0);
    otlp_batch_free(b);
    free(p);
}

/* ---- options: read-back of stored traces -------------------------------------------- */

static const struct otlp_decode_opts STORED = { .stored = true };

static void lax_missing_trace_id(struct buf *sp)
{
    CHECK(pbwire_put_bytes(sp, 2, slice_make((const char *)SID, 8)));
    put_fixed64(sp, 7, 10);
    put_fixed64(sp, 8, 5);
}

Test(otlp_decode, stored_keeps_empty_and_zero_ids_any_int64_time_and_clamps_end)
{
    struct buf sp[5], req;
    for (int i = 0; i < 5; i++)
        buf_init(&sp[i], 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp[0], 1, "good", 2, T0, T0 + 1, 0);
    lax_missing_trace_id(&sp[1]); /* no trace id, start 10 ns, end 5 ns */
    bad_span_zero(&sp[2]);        /* span id all zero */
    bad_end_before_start(&sp[3]); /* T0, T0 - 1 */
    ids_and_times(&sp[4], ZERO, 0, ZERO, 0, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX);
    request_with(&req, NULL, sp, 5);
    struct slice body = heap_copy(req.data, req.len);
    buf_free(&req);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_protobuf_opts(body, &STORED, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 5);
    cr_assert_eq(b->rejected, 0);
    cr_assert_eq(memcmp(b->spans[1].trace_id, ZERO, 16), 0);
    cr_assert_eq(b->spans[1].start_ns, 10);
    cr_assert_eq(b->spans[1].end_ns, 10, "end before start is clamped to start");
    cr_assert_eq(memcmp(b->spans[2].span_id, ZERO, 8), 0);
    cr_assert_eq(b->spans[3].end_ns, (int64_t)T0);
    cr_assert_eq(b->spans[4].start_ns, INT64_MAX);
    cr_assert_eq(memcmp(b->spans[4].span_id, ZERO, 8), 0);
    otlp_batch_free(b);
    /* the same body on ingest: four rejections */
    cr_assert_eq(otlp_decode_protobuf(body, NULL, &b, &err), TA_OK);
    cr_assert_eq(b->n, 1);
    cr_assert_eq(b->rejected, 4);
    otlp_batch_free(b);
    heap_free(body);
}

static void lax_time_over_int64(struct buf *sp)
{
    ids_and_times(sp, TID, 16, SID, 8, T0, (uint64_t)INT64_MAX + 1);
}

/* The request of one_bad(): ingest rejects the bad span alone; stored mode fails the whole
 * decode with msg and no batch. */
static void stored_fails(void (*bad)(struct buf *), const char *msg)
{
    struct slice body;
    otlp_batch_free(one_bad(bad, &body));
    struct otlp_batch *b = (struct otlp_batch *)1;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_protobuf_opts(body, &STORED, NULL, &b, &err), TA_INVALID);
    cr_assert_null(b);
    char want[256];
    snprintf(want, sizeof(want), "resource_spans[0].scope_spans[0].spans[1]: %s", msg);
    cr_assert_str_eq(err.msg, want);
    heap_free(body);
}

Test(otlp_decode, stored_fails_the_decode_on_what_ingest_rejects)
{
    stored_fails(bad_trace_len, "trace id must be 16 bytes, got 15");
    stored_fails(bad_span_len, "span id must be 8 bytes, got 9");
    stored_fails(bad_parent_len, "parent span id must be empty or 8 bytes, got 4");
    stored_fails(bad_kind, "unknown span kind");
    stored_fails(bad_status, "unknown status code");
    stored_fails(lax_time_over_int64, "end time is over 2^63-1 ns");
}

/* One span with an array attribute (dropped, still an entry) and span_kept string ones;
 * its resource has service.name and res_more more. */
static struct slice attrs_body(int span_kept, int res_more)
{
    static const char *const keys[] = { "a", "b", "c" };
    struct buf sp, res, req;
    buf_init(&sp, 1 << 20);
    buf_init(&res, 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp, 1, "s", 2, T0, T0 + 1, 0);
    kv_array(&sp, 9, "dropped.but.counted");
    for (int i = 0; i < span_kept; i++)
        kv_str(&sp, 9, keys[i], "1");
    kv_str(&res, 1, "service.name", "svc");
    for (int i = 0; i < res_more; i++)
        kv_str(&res, 1, keys[i], "1");
    request_with(&req, &res, &sp, 1);
    struct slice body = heap_copy(req.data, req.len);
    buf_free(&req);
    return body;
}

Test(otlp_decode, stored_attribute_limit_counts_every_entry_and_one_past_fails)
{
    const struct otlp_decode_opts two = { .max_attrs = 2, .stored = true };
    const struct otlp_decode_opts two_ingest = { .max_attrs = 2 };
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    struct slice at = attrs_body(1, 1); /* 2 entries each */
    cr_assert_eq(otlp_decode_protobuf_opts(at, &two, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->spans[0].attrs.n, 1);
    cr_assert_eq(b->spans[0].resource.n, 2);
    otlp_batch_free(b);
    heap_free(at);
    struct slice span_past = attrs_body(2, 0);
    cr_assert_eq(otlp_decode_protobuf_opts(span_past, &two, NULL, &b, &err), TA_INVALID);
    cr_assert_null(b);
    cr_assert_str_eq(err.msg, "resource_spans[0].scope_spans[0].spans[0].attributes: "
                              "more than 2 attributes");
    /* ingest keeps the first two usable ones instead */
    cr_assert_eq(otlp_decode_protobuf_opts(span_past, &two_ingest, NULL, &b, &err), TA_OK);
    cr_assert_eq(b->spans[0].attrs.n, 2);
    otlp_batch_free(b);
    heap_free(span_past);
    struct slice res_past = attrs_body(0, 2);
    cr_assert_eq(otlp_decode_protobuf_opts(res_past, &two, NULL, &b, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "resource_spans[0].resource.attributes: more than 2 attributes");
    heap_free(res_past);
}

Test(otlp_decode, opts_span_limit_exactly_and_one_past)
{
    const struct otlp_decode_opts three = { .max_spans = 3, .stored = true };
    struct slice body = empty_spans(3);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_protobuf_opts(body, &three, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 3, "empty spans are kept in stored mode");
    otlp_batch_free(b);
    heap_free(body);
    body = empty_spans(4);
    cr_assert_eq(otlp_decode_protobuf_opts(body, &three, NULL, &b, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "request has more than 3 spans");
    cr_assert_null(b);
    heap_free(body);
}

Test(otlp_decode, protobuf_instrumentation_library_spans_field_1000_is_scope_spans)
{
    struct buf sp, ss, rs, req;
    buf_init(&sp, 1 << 20);
    buf_init(&ss, 1 << 20);
    buf_init(&rs, 1 << 20);
    buf_init(&req, 1 << 20);
    span_base(&sp, 1, "old", 2, T0, T0 + 1, 0);
    put_msg(&ss, 2, &sp);
    put_msg(&rs, 1000, &ss);
    put_msg(&req, 1, &rs);
    struct otlp_batch *b = NULL;
    struct slice body;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_pb(&req, NULL, &b, &err, &body), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    cr_assert(slice_eq_cstr(b->spans[0].name, "old"));
    otlp_batch_free(b);
    heap_free(body);
}

Test(otlp_decode, json_instrumentation_library_spans_is_scope_spans)
{
    const char *text =
        "{\"resourceSpans\":[{\"instrumentationLibrarySpans\":[{\"spans\":[{" GOOD_IDS
        "," GOOD_TIMES ",\"name\":\"old\"}]}]}]}";
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(decode_js(text, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, 1);
    cr_assert(slice_eq_cstr(b->spans[0].name, "old"));
    otlp_batch_free(b);
}

Test(otlp_decode, json_tree_takes_its_own_reference_to_the_tree)
{
    const char *text = "{\"trace\":{\"batches\":[{\"resource\":{\"attributes\":[{\"key\":"
                       "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},\"scopeSpans\":"
                       "[{\"spans\":[{},{\"spanId\":\"AAAAAAAAAAE=\",\"name\":\"n\","
                       "\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"5\"}]}]}]}}";
    json_t *root = json_loadb(text, strlen(text), 0, NULL);
    cr_assert_not_null(root);
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_json_tree(json_object_get(root, "trace"), &STORED, NULL, &b, &err),
                 TA_OK, "%s", err.msg);
    json_decref(root); /* the batch keeps the "trace" subtree alive */
    cr_assert_eq(b->n, 2);
    cr_assert(slice_eq_cstr(b->spans[1].name, "n"));
    cr_assert_eq(b->spans[1].span_id[7], 1);
    cr_assert_eq(b->spans[1].end_ns, 10);
    cr_assert(attr_str(&b->spans[0].resource, "service.name", "svc"));
    otlp_batch_free(b);
}

Test(otlp_decode, json_tree_errors_leave_no_batch_and_no_reference)
{
    json_t *arr = json_array();
    struct otlp_batch *b = (struct otlp_batch *)1;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_json_tree(arr, NULL, NULL, &b, &err), TA_INVALID);
    cr_assert_null(b);
    cr_assert_str_eq(err.msg, "expected a JSON object (ExportTraceServiceRequest)");
    cr_assert_eq(arr->refcount, 1);
    json_decref(arr);
    const struct otlp_decode_opts two = { .max_attrs = 2, .stored = true };
    const char *text = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"a\"},"
                       "{\"key\":\"b\"},{\"key\":\"c\"}]}}]}";
    json_t *root = json_loadb(text, strlen(text), 0, NULL);
    cr_assert_eq(otlp_decode_json_tree(root, &two, NULL, &b, &err), TA_INVALID);
    cr_assert_null(b);
    cr_assert_str_eq(err.msg, "resourceSpans[0].resource.attributes: more than 2 attributes");
    cr_assert_eq(root->refcount, 1);
    json_decref(root);
}

Test(otlp_decode, attributes_crossing_arena_blocks_stay_with_their_span)
{
    /* 700 spans of 3 attributes (blocks hold 1024, so runs straddle block ends), then one span
     * of 3000 attributes (longer than a block), each value naming its span and position */
    enum {
        NSPANS = 701,
        BIG = 3000
    };
    struct buf *sp = calloc(NSPANS, sizeof(*sp)), req, res;
    buf_init(&req, 64 << 20);
    buf_init(&res, 1 << 10);
    kv_str(&res, 1, "service.name", "svc");
    char key[32], val[32];
    for (int i = 0; i < NSPANS; i++) {
        buf_init(&sp[i], 1 << 20);
        span_base(&sp[i], (uint8_t)(i + 1), "s", 2, T0, T0 + 1, 0);
        for (int a = 0; a < (i < NSPANS - 1 ? 3 : BIG); a++) {
            snprintf(key, sizeof(key), "k%d", a);
            snprintf(val, sizeof(val), "%d/%d", i, a);
            kv_str(&sp[i], 9, key, val);
        }
    }
    request_with(&req, &res, sp, NSPANS);
    free(sp);
    struct slice body = heap_copy(req.data, req.len);
    buf_free(&req);
    const struct otlp_decode_opts opts = { .max_attrs = BIG, .stored = true };
    struct otlp_batch *b = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(otlp_decode_protobuf_opts(body, &opts, NULL, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b->n, NSPANS);
    for (int i = 0; i < NSPANS; i++) {
        const struct span_attrs *a = &b->spans[i].attrs;
        cr_assert_eq(a->n, i < NSPANS - 1 ? 3u : (uint32_t)BIG, "span %d", i);
        for (uint32_t j = 0; j < a->n; j++) {
            snprintf(key, sizeof(key), "k%u", j);
            snprintf(val, sizeof(val), "%d/%u", i, j);
            cr_assert(slice_eq_cstr(a->items[j].key, key), "span %d attribute %u", i, j);
            cr_assert(slice_eq_cstr(a->items[j].value.u.str, val), "span %d attribute %u", i, j);
        }
        cr_assert_eq(b->spans[i].resource.items, b->spans[0].resource.items);
        cr_assert(attr_str(&b->spans[i].resource, "service.name", "svc"));
    }
    otlp_batch_free(b);
    heap_free(body);
}
