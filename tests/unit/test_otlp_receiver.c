/* test_otlp_receiver.c — OTLP/HTTP status codes, response bodies and encodings.
 *
 * Requests are built with pbwire's writer and literal JSON; gzip bodies with zlib's deflate.
 * Response bodies are checked byte for byte (protobuf) or as exact text (JSON). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "apis/base/clock.h"
#include "server/otlp_receiver.h"
#include "server/pbwire.h"

#define CHECK(x) cr_assert_eq((x), TA_OK)
#define T0       1700000000000000000LL

static int64_t fixed_now(void *arg)
{
    (void)arg;
    return T0 + 10 * NS_PER_SEC;
}

static const struct otlp_receiver_config CFG = { .keep = NULL, .now_ns = fixed_now };

static struct store *new_store(uint64_t max_spans)
{
    struct store_config sc = { .max_spans = max_spans, .retention_ns = 600 * NS_PER_SEC };
    struct store *st = NULL;
    cr_assert_eq(store_new(&sc, &st, NULL), TA_OK);
    return st;
}

static struct slice heap_copy(const void *p, size_t n)
{
    char *m = malloc(n ? n : 1);
    if (n)
        memcpy(m, p, n);
    return slice_make(m, n);
}

static void put_fixed64(struct buf *b, uint32_t field, uint64_t v)
{
    CHECK(pbwire_put_tag(b, field, PBWIRE_I64));
    CHECK(pbwire_put_fixed64(b, v));
}

/* A request with one ResourceSpans (service.name svc) and spans whose span ids are 1..n; a
 * span whose bit is set in bad_mask gets end < start. start_ns is the start of every span. */
static struct slice pb_request(int n, unsigned bad_mask, int64_t start_ns)
{
    struct buf req, rs, ss, res, kv, av;
    buf_init(&req, 1 << 20);
    buf_init(&rs, 1 << 20);
    buf_init(&ss, 1 << 20);
    buf_init(&res, 1 << 20);
    buf_init(&kv, 1 << 20);
    buf_init(&av, 1 << 20);
    CHECK(pbwire_put_bytes(&av, 1, SLICE_LIT("svc")));
    CHECK(pbwire_put_bytes(&kv, 1, SLICE_LIT("service.name")));
    CHECK(pbwire_put_bytes(&kv, 2, buf_slice(&av)));
    CHECK(pbwire_put_bytes(&res, 1, buf_slice(&kv)));
    for (int i = 0; i < n; i++) {
        struct buf sp;
        buf_init(&sp, 1 << 20);
        uint8_t tid[16] = { 9, 9, 9 }, sid[8] = { 0, 0, 0, 0, 0, 0, 0, (uint8_t)(i + 1) };
        CHECK(pbwire_put_bytes(&sp, 1, slice_make((const char *)tid, 16)));
        CHECK(pbwire_put_bytes(&sp, 2, slice_make((const char *)sid, 8)));
        CHECK(pbwire_put_bytes(&sp, 5, SLICE_LIT("GET /")));
        CHECK(pbwire_put_uint(&sp, 6, 2));
        put_fixed64(&sp, 7, (uint64_t)start_ns);
        put_fixed64(&sp, 8, (uint64_t)start_ns + ((bad_mask >> i) & 1 ? -1 : 1000));
        CHECK(pbwire_put_bytes(&ss, 2, buf_slice(&sp)));
        buf_free(&sp);
    }
    CHECK(pbwire_put_bytes(&rs, 1, buf_slice(&res)));
    CHECK(pbwire_put_bytes(&rs, 2, buf_slice(&ss)));
    CHECK(pbwire_put_bytes(&req, 1, buf_slice(&rs)));
    struct slice out = heap_copy(req.data, req.len);
    buf_free(&req);
    buf_free(&rs);
    buf_free(&ss);
    buf_free(&res);
    buf_free(&kv);
    buf_free(&av);
    return out;
}

static struct slice gz(struct slice in)
{
    z_stream zs = { 0 };
    cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)in.len) + 64;
    char *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in.ptr;
    zs.avail_in = (uInt)in.len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    return slice_make(out, n);
}

static uint64_t stored_spans(struct store *st)
{
    struct store_stats ss;
    store_get_stats(st, &ss);
    return ss.spans;
}

/* Decodes a google.rpc.Status protobuf body. */
static void read_status(struct slice body, uint64_t *code, struct slice *msg)
{
    struct pbwire r;
    pbwire_init(&r, body);
    *code = 0;
    *msg = SLICE_NULL;
    while (!pbwire_done(&r)) {
        uint32_t f;
        enum pbwire_type t;
        CHECK(pbwire_read_tag(&r, &f, &t, NULL));
        if (f == 1)
            CHECK(pbwire_read_varint(&r, code, NULL));
        else if (f == 2)
            CHECK(pbwire_read_len(&r, msg, NULL));
        else
            CHECK(pbwire_skip(&r, t, NULL));
    }
}

Test(otlp_receiver, protobuf_request_is_stored_and_answered_with_an_empty_message)
{
    struct store *st = new_store(100);
    struct slice body = pb_request(3, 0, T0);
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_NULL, body, &r),
                 TA_OK);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.content_type, "application/x-protobuf");
    cr_assert_eq(r.body.len, 0);
    cr_assert_eq(r.retry_after_s, 0);
    cr_assert_eq(r.stored, 3);
    cr_assert_eq(r.rejected, 0);
    cr_assert_str_eq(r.message, "");
    cr_assert_eq(stored_spans(st), 3);
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, json_request_is_answered_with_empty_json_object)
{
    struct store *st = new_store(100);
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                       "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
                       "\"spanId\":\"a1a2a3a4a5a6a7a8\",\"kind\":\"SPAN_KIND_SERVER\","
                       "\"startTimeUnixNano\":\"1700000000000000000\","
                       "\"endTimeUnixNano\":\"1700000000100000000\"}]}]}]}";
    struct slice body = heap_copy(text, strlen(text));
    struct otlp_response r;
    cr_assert_eq(
        otlp_receive(st, &CFG, SLICE_LIT("application/json"), SLICE_LIT("identity"), body, &r),
        TA_OK);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.content_type, "application/json");
    cr_assert_str_eq(buf_cstr(&r.body), "{}");
    cr_assert_eq(stored_spans(st), 1);
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, media_type_parameters_and_case_are_accepted)
{
    struct store *st = new_store(100);
    struct slice body = pb_request(1, 0, T0);
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT(" Application/X-Protobuf ; charset=binary"),
                              SLICE_LIT(" Identity "), body, &r),
                 TA_OK);
    cr_assert_eq(r.status, 200);
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, other_media_types_get_415_text)
{
    struct store *st = new_store(100);
    const char *types[] = { "text/plain", "application/protobuf", "", "application/jsonx" };
    for (size_t i = 0; i < 4; i++) {
        struct otlp_response r;
        cr_assert_eq(
            otlp_receive(st, &CFG, slice_from_cstr(types[i]), SLICE_NULL, SLICE_LIT("{}"), &r),
            TA_INVALID);
        cr_assert_eq(r.status, 415);
        cr_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
        char want[160];
        snprintf(want, sizeof(want),
                 "unsupported content type '%s': use application/x-protobuf or "
                 "application/json\n",
                 types[i]);
        cr_assert_str_eq(buf_cstr(&r.body), want);
        otlp_response_free(&r);
    }
    store_free(st);
}

Test(otlp_receiver, unknown_content_encoding_gets_415_status_in_request_encoding)
{
    struct store *st = new_store(100);
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_LIT("br"),
                              SLICE_LIT("x"), &r),
                 TA_INVALID);
    cr_assert_eq(r.status, 415);
    cr_assert_str_eq(r.content_type, "application/x-protobuf");
    uint64_t code;
    struct slice msg;
    read_status(buf_slice(&r.body), &code, &msg);
    cr_assert_eq(code, 3);
    cr_assert(slice_eq_cstr(msg, "unsupported content encoding 'br': use gzip or identity"));
    otlp_response_free(&r);
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/json"), SLICE_LIT("deflate"),
                              SLICE_LIT("x"), &r),
                 TA_INVALID);
    cr_assert_str_eq(
        buf_cstr(&r.body),
        "{\"code\":3,\"message\":\"unsupported content encoding 'deflate': use gzip or identity\"}");
    otlp_response_free(&r);
    store_free(st);
}

Test(otlp_receiver, gzip_bodies_are_inflated)
{
    struct store *st = new_store(100);
    struct slice plain = pb_request(2, 0, T0);
    struct slice z = gz(plain);
    const char *encs[] = { "gzip", "x-gzip", " GZIP" };
    for (size_t i = 0; i < 3; i++) {
        struct otlp_response r;
        cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"),
                                  slice_from_cstr(encs[i]), z, &r),
                     TA_OK, "%s", encs[i]);
        cr_assert_eq(r.status, 200);
        otlp_response_free(&r);
    }
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.spans, 2); /* the same two spans: the retries were duplicates */
    cr_assert_eq(ss.duplicates, 4);
    free((void *)z.ptr);
    free((void *)plain.ptr);
    store_free(st);
}

Test(otlp_receiver, corrupt_gzip_is_400_with_status)
{
    struct store *st = new_store(100);
    struct otlp_response r;
    struct slice body = heap_copy("not gzip at all", 15);
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/json"), SLICE_LIT("gzip"), body, &r),
                 TA_INVALID);
    cr_assert_eq(r.status, 400);
    cr_assert_str_eq(r.content_type, "application/json");
    cr_assert_str_eq(buf_cstr(&r.body),
                     "{\"code\":3,\"message\":\"gzip: corrupt body at byte 2: incorrect header "
                     "check\"}");
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, gzip_bomb_is_413)
{
    struct store *st = new_store(100);
    size_t n = OTLP_BODY_MAX + 1; /* zeros: tiny compressed, one byte over the cap inflated */
    char *zeros = calloc(1, n);
    struct slice z = gz(slice_make(zeros, n));
    struct otlp_response r;
    cr_assert_eq(
        otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_LIT("gzip"), z, &r),
        TA_TOO_LARGE);
    cr_assert_eq(r.status, 413);
    uint64_t code;
    struct slice msg;
    read_status(buf_slice(&r.body), &code, &msg);
    cr_assert_eq(code, 3);
    cr_assert(slice_starts_with(msg, SLICE_LIT("gzip: ")));
    otlp_response_free(&r);
    free(zeros);
    free((void *)z.ptr);
    store_free(st);
}

Test(otlp_receiver, body_over_the_limit_is_413_before_reading)
{
    struct store *st = new_store(100);
    struct otlp_response r;
    struct slice body = slice_make("", (size_t)OTLP_BODY_MAX + 1); /* never read */
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/json"), SLICE_NULL, body, &r),
                 TA_TOO_LARGE);
    cr_assert_eq(r.status, 413);
    cr_assert_str_eq(buf_cstr(&r.body),
                     "{\"code\":3,\"message\":\"body of 16777217 bytes is over the limit of "
                     "16777216\"}");
    otlp_response_free(&r);
    store_free(st);
}

Test(otlp_receiver, undecodable_protobuf_is_400_with_status)
{
    struct store *st = new_store(100);
    struct otlp_response r;
    struct slice body = heap_copy("\x0a\x05"
                                  "abc",
                                  5);
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_NULL, body, &r),
                 TA_INVALID);
    cr_assert_eq(r.status, 400);
    uint64_t code;
    struct slice msg;
    read_status(buf_slice(&r.body), &code, &msg);
    cr_assert_eq(code, 3);
    cr_assert(slice_eq_cstr(msg, "cannot decode ExportTraceServiceRequest: length 5 at offset 1 "
                                 "runs past the end (3 bytes left)"),
              "%.*s", (int)msg.len, msg.ptr);
    cr_assert_eq(stored_spans(st), 0);
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, invalid_json_is_400_with_json_status)
{
    struct store *st = new_store(100);
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/json"), SLICE_NULL,
                              SLICE_LIT("{\"resourceSpans\":{}}"), &r),
                 TA_INVALID);
    cr_assert_eq(r.status, 400);
    cr_assert_str_eq(buf_cstr(&r.body), "{\"code\":3,\"message\":\"cannot decode "
                                        "ExportTraceServiceRequest: resourceSpans: expected an "
                                        "array\"}");
    otlp_response_free(&r);
    store_free(st);
}

Test(otlp_receiver, rejected_spans_give_protobuf_partial_success)
{
    struct store *st = new_store(100);
    struct slice body = pb_request(3, 0x6, T0); /* spans 2 and 3 end before they start */
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_NULL, body, &r),
                 TA_OK);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.stored, 1);
    cr_assert_eq(r.rejected, 2);
    const char *m = "2 spans rejected; first: resource_spans[0].scope_spans[0].spans[1]: end "
                    "time is before start time";
    cr_assert_str_eq(r.message, m);
    /* partial_success (1) { rejected_spans (1) = 2, error_message (2) = m } */
    struct buf want, ps;
    buf_init(&want, 1024);
    buf_init(&ps, 1024);
    CHECK(pbwire_put_uint(&ps, 1, 2));
    CHECK(pbwire_put_bytes(&ps, 2, slice_from_cstr(m)));
    CHECK(pbwire_put_bytes(&want, 1, buf_slice(&ps)));
    cr_assert_eq(r.body.len, want.len);
    cr_assert_eq(memcmp(r.body.data, want.data, want.len), 0);
    cr_assert_eq(r.body.data[0], 0x0a);
    struct store_stats ss;
    store_get_stats(st, &ss);
    cr_assert_eq(ss.rejected, 2);
    cr_assert_eq(ss.received, 3);
    buf_free(&want);
    buf_free(&ps);
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, rejected_spans_give_json_partial_success)
{
    struct store *st = new_store(100);
    const char *text = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                       "\"traceId\":\"00000000000000000000000000000000\","
                       "\"spanId\":\"a1a2a3a4a5a6a7a8\","
                       "\"startTimeUnixNano\":\"1700000000000000000\","
                       "\"endTimeUnixNano\":\"1700000000100000000\"}]}]}]}";
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/json"), SLICE_NULL,
                              slice_from_cstr(text), &r),
                 TA_OK);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(buf_cstr(&r.body),
                     "{\"partialSuccess\":{\"rejectedSpans\":\"1\",\"errorMessage\":"
                     "\"resourceSpans[0].scopeSpans[0].spans[0]: trace id is all zero\"}}");
    otlp_response_free(&r);
    store_free(st);
}

Test(otlp_receiver, spans_older_than_retention_are_reported_rejected)
{
    struct store *st = new_store(100);
    struct slice body = pb_request(2, 0, T0 - 3600 * NS_PER_SEC);
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_NULL, body, &r),
                 TA_OK);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.stored, 0);
    cr_assert_eq(r.rejected, 2);
    cr_assert_str_eq(r.message, "2 spans started more than 600s ago, before the store's retention");
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, paused_store_is_503_with_retry_after)
{
    struct store *st = new_store(100);
    store_set_paused(st, true);
    struct slice body = pb_request(1, 0, T0);
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_NULL, body, &r),
                 TA_UNAVAILABLE);
    cr_assert_eq(r.status, 503);
    cr_assert_eq(r.retry_after_s, OTLP_RETRY_AFTER_S);
    uint64_t code;
    struct slice msg;
    read_status(buf_slice(&r.body), &code, &msg);
    cr_assert_eq(code, 14);
    cr_assert(slice_eq_cstr(msg, "the embedded store is not accepting spans"));
    otlp_response_free(&r);
    struct otlp_receiver_config cfg = CFG;
    cfg.retry_after_s = 30;
    cr_assert_eq(
        otlp_receive(st, &cfg, SLICE_LIT("application/json"), SLICE_NULL, SLICE_LIT("{}"), &r),
        TA_OK); /* nothing to store: nothing refused */
    otlp_response_free(&r);
    const char *jtext = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                        "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
                        "\"spanId\":\"a1a2a3a4a5a6a7a8\","
                        "\"startTimeUnixNano\":\"1700000000000000000\","
                        "\"endTimeUnixNano\":\"1700000000100000000\"}]}]}]}";
    struct slice jbody = heap_copy(jtext, strlen(jtext));
    cr_assert_eq(otlp_receive(st, &cfg, SLICE_LIT("application/json"), SLICE_NULL, jbody, &r),
                 TA_UNAVAILABLE);
    cr_assert_eq(r.retry_after_s, 30);
    cr_assert_str_eq(buf_cstr(&r.body),
                     "{\"code\":14,\"message\":\"the embedded store is not accepting spans\"}");
    otlp_response_free(&r);
    free((void *)jbody.ptr);
    free((void *)body.ptr);
    store_free(st);
}

Test(otlp_receiver, request_larger_than_the_store_is_413)
{
    struct store *st = new_store(2);
    struct slice body = pb_request(3, 0, T0);
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &CFG, SLICE_LIT("application/x-protobuf"), SLICE_NULL, body, &r),
                 TA_TOO_LARGE);
    cr_assert_eq(r.status, 413);
    cr_assert_eq(r.retry_after_s, 0);
    cr_assert_str_eq(r.message, "request has 3 spans, more than the store holds (2)");
    otlp_response_free(&r);
    free((void *)body.ptr);
    store_free(st);
}

static void check_kept(const uint8_t id[16], const struct span *sp, size_t n, bool complete,
                       void *arg)
{
    (void)id;
    (void)complete;
    (void)arg;
    cr_assert_eq(n, 1);
    cr_assert_eq(sp[0].resource.n, 1);
    cr_assert(slice_eq_cstr(sp[0].resource.items[0].key, "service.name"));
    cr_assert_eq(sp[0].attrs.n, 0);
}

Test(otlp_receiver, keep_set_limits_what_is_stored)
{
    struct store *st = new_store(100);
    const char *none[] = { "x" };
    struct otlp_keep *keep = otlp_keep_new(none, 1, none, 1);
    struct otlp_receiver_config cfg = CFG;
    cfg.keep = keep;
    const char *text = "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
                       "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"a\"}},"
                       "{\"key\":\"host\",\"value\":{\"stringValue\":\"h\"}}]},"
                       "\"scopeSpans\":[{\"spans\":[{"
                       "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
                       "\"spanId\":\"a1a2a3a4a5a6a7a8\","
                       "\"attributes\":[{\"key\":\"y\",\"value\":{\"intValue\":1}}],"
                       "\"startTimeUnixNano\":\"1700000000000000000\","
                       "\"endTimeUnixNano\":\"1700000000100000000\"}]}]}]}";
    struct otlp_response r;
    cr_assert_eq(otlp_receive(st, &cfg, SLICE_LIT("application/json"), SLICE_NULL,
                              slice_from_cstr(text), &r),
                 TA_OK);
    otlp_response_free(&r);
    uint8_t ids[1][16] = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };
    store_get_traces(st, (const uint8_t(*)[16])ids, 1, 10, check_kept, NULL);
    otlp_keep_free(keep);
    store_free(st);
}

Test(otlp_receiver, response_free_accepts_null)
{
    otlp_response_free(NULL);
}
