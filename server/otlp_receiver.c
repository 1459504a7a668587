/* otlp_receiver.c — media type and encoding checks, inflate, decode, store, and the OTLP/HTTP
 * answer (ExportTraceServiceResponse or google.rpc.Status) in the request's encoding.
 * Stateless: any thread. */
#include "server/otlp_receiver.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "server/gunzip.h"
#include "server/pbwire.h"

#define RPC_INVALID_ARGUMENT 3  /* google.rpc.Code */
#define RPC_UNAVAILABLE      14 /* google.rpc.Code */

enum wire {
    WIRE_PROTOBUF,
    WIRE_JSON,
};

/* snprintf into a message buffer where truncation is acceptable. */
static void msgf(char *dst, size_t cap, const char *fmt, ...) TA_PRINTF(3, 4);
static void msgf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(dst, cap, fmt, ap) < 0)
        dst[0] = '\0';
    va_end(ap);
}

static void set_msg(struct otlp_response *out, const char *msg)
{
    msgf(out->message, sizeof(out->message), "%s", msg);
}

/* A google.rpc.Status body { code = 1; message = 2 } in the request's encoding. */
static void status_body(struct otlp_response *out, enum wire w, int code, const char *msg)
{
    enum ta_rc rc;
    buf_free(&out->body);
    if (w == WIRE_PROTOBUF) {
        out->content_type = OTLP_CONTENT_PROTOBUF;
        rc = pbwire_put_uint(&out->body, 1, (uint64_t)code);
        if (rc == TA_OK)
            rc = pbwire_put_bytes(&out->body, 2, slice_from_cstr(msg));
    } else {
        out->content_type = OTLP_CONTENT_JSON;
        rc = buf_addf(&out->body, "{\"code\":%d,\"message\":", code);
        if (rc == TA_OK)
            rc = buf_add_json_str(&out->body, slice_from_cstr(msg));
        if (rc == TA_OK)
            rc = buf_addc(&out->body, '}');
    }
    (void)rc; /* a message is < 256 bytes: never over OTLP_RESPONSE_MAX; on failure: empty */
}

static enum ta_rc fail(struct otlp_response *out, enum wire w, int status, enum ta_rc rc,
                       int rpc_code, const char *msg)
{
    out->status = status;
    set_msg(out, msg);
    status_body(out, w, rpc_code, msg);
    LOG_V(4, "otlp: %d %s", status, msg);
    return rc;
}

/* ExportTraceServiceResponse { partial_success = 1 { rejected_spans = 1; error_message = 2 } },
 * empty when nothing was rejected. */
static void success_body(struct otlp_response *out, enum wire w)
{
    enum ta_rc rc = TA_OK;
    buf_free(&out->body);
    if (w == WIRE_PROTOBUF) {
        out->content_type = OTLP_CONTENT_PROTOBUF;
        if (out->rejected) {
            struct buf ps;
            buf_init(&ps, OTLP_RESPONSE_MAX);
            rc = pbwire_put_uint(&ps, 1, out->rejected);
            if (rc == TA_OK)
                rc = pbwire_put_bytes(&ps, 2, slice_from_cstr(out->message));
            if (rc == TA_OK)
                rc = pbwire_put_bytes(&out->body, 1, buf_slice(&ps));
            buf_free(&ps);
        }
        if (rc == TA_OK)
            rc = buf_add(&out->body, "", 0); /* an empty message is a valid empty body */
    } else {
        out->content_type = OTLP_CONTENT_JSON;
        if (!out->rejected) {
            rc = buf_adds(&out->body, "{}");
        } else {
            rc = buf_addf(&out->body,
                          "{\"partialSuccess\":{\"rejectedSpans\":\"%" PRIu64 "\","
                          "\"errorMessage\":",
                          out->rejected);
            if (rc == TA_OK)
                rc = buf_add_json_str(&out->body, slice_from_cstr(out->message));
            if (rc == TA_OK)
                rc = buf_adds(&out->body, "}}");
        }
    }
    (void)rc;
}

/* The media type without parameters, trimmed. */
static struct slice media_type(struct slice ct)
{
    struct slice head;
    bool found;
    slice_cut(ct, ';', &head, &found);
    return slice_trim(head);
}

enum ta_rc otlp_receive(struct store *st, const struct otlp_receiver_config *cfg,
                        struct slice content_type, struct slice content_encoding, struct slice body,
                        struct otlp_response *out)
{
    char msg[TA_ERR_MSG_MAX];
    struct ta_err err = { 0 };
    struct buf inflated;
    struct otlp_batch *batch = NULL;
    enum ta_rc rc;
    memset(out, 0, sizeof(*out));
    buf_init(&out->body, OTLP_RESPONSE_MAX);
    buf_init(&inflated, OTLP_BODY_MAX);
    out->content_type = OTLP_CONTENT_TEXT;

    enum wire w;
    struct slice mt = media_type(content_type);
    if (slice_eq_nocase(mt, SLICE_LIT(OTLP_CONTENT_PROTOBUF))) {
        w = WIRE_PROTOBUF;
    } else if (slice_eq_nocase(mt, SLICE_LIT(OTLP_CONTENT_JSON))) {
        w = WIRE_JSON;
    } else {
        out->status = 415;
        msgf(out->message, sizeof(out->message),
             "unsupported content type '%.*s': use application/x-protobuf or "
             "application/json",
             SLICE_ARG(slice_head(mt, 64)));
        if (buf_adds(&out->body, out->message) != TA_OK || buf_addc(&out->body, '\n') != TA_OK)
            buf_free(&out->body);
        LOG_V(4, "otlp: 415 %s", out->message);
        return TA_INVALID;
    }

    struct slice enc = slice_trim(content_encoding);
    bool gzip = false;
    if (slice_eq_nocase(enc, SLICE_LIT("gzip")) || slice_eq_nocase(enc, SLICE_LIT("x-gzip"))) {
        gzip = true;
    } else if (enc.len && !slice_eq_nocase(enc, SLICE_LIT("identity"))) {
        msgf(msg, sizeof(msg), "unsupported content encoding '%.*s': use gzip or identity",
             SLICE_ARG(slice_head(enc, 64)));
        return fail(out, w, 415, TA_INVALID, RPC_INVALID_ARGUMENT, msg);
    }

    if (body.len > OTLP_BODY_MAX) {
        msgf(msg, sizeof(msg), "body of %zu bytes is over the limit of %u", body.len,
             OTLP_BODY_MAX);
        return fail(out, w, 413, TA_TOO_LARGE, RPC_INVALID_ARGUMENT, msg);
    }
    struct slice plain = body;
    if (gzip) {
        rc = gunzip_inflate(body, OTLP_BODY_MAX, &inflated, &err);
        if (rc != TA_OK) {
            rc =
                fail(out, w, rc == TA_TOO_LARGE ? 413 : 400,
                     rc == TA_TOO_LARGE ? TA_TOO_LARGE : TA_INVALID, RPC_INVALID_ARGUMENT, err.msg);
            goto out;
        }
        plain = buf_slice(&inflated);
    }

    if (w == WIRE_PROTOBUF)
        rc = otlp_decode_protobuf(plain, cfg->keep, &batch, &err);
    else
        rc = otlp_decode_json(plain, cfg->keep, &batch, &err);
    if (rc != TA_OK) {
        ta_err_prefix(&err, "cannot decode ExportTraceServiceRequest");
        rc = fail(out, w, rc == TA_TOO_LARGE ? 413 : 400,
                  rc == TA_TOO_LARGE ? TA_TOO_LARGE : TA_INVALID, RPC_INVALID_ARGUMENT, err.msg);
        goto out;
    }
    store_count_rejected(st, batch->rejected);

    int64_t now = cfg->now_ns ? cfg->now_ns(cfg->now_arg) : clock_wall_ns();
    struct store_add_result res;
    rc = store_add(st, batch->spans, batch->n, now, &res, &err);
    if (rc == TA_UNAVAILABLE) {
        out->retry_after_s = cfg->retry_after_s > 0 ? cfg->retry_after_s : OTLP_RETRY_AFTER_S;
        out->rejected = batch->n + batch->rejected;
        rc = fail(out, w, 503, TA_UNAVAILABLE, RPC_UNAVAILABLE, err.msg);
        goto out;
    }
    if (rc != TA_OK) {
        out->rejected = batch->n + batch->rejected;
        rc = fail(out, w, 413, TA_TOO_LARGE, RPC_INVALID_ARGUMENT, err.msg);
        goto out;
    }

    out->status = 200;
    out->stored = res.stored;
    out->rejected = batch->rejected + res.too_old + res.invalid;
    if (batch->rejected) {
        if (batch->rejected > 1)
            msgf(out->message, sizeof(out->message), "%" PRIu64 " spans rejected; first: %s",
                 batch->rejected, batch->reject_msg);
        else
            set_msg(out, batch->reject_msg);
    } else if (res.too_old) {
        msgf(out->message, sizeof(out->message),
             "%zu spans started more than %llds ago, before the store's retention", res.too_old,
             (long long)(store_retention(st) / NS_PER_SEC));
    } else if (res.invalid) {
        msgf(out->message, sizeof(out->message), "%zu spans have invalid ids or times",
             res.invalid);
    }
    success_body(out, w);
    LOG_V(4, "otlp: 200 stored %" PRIu64 " rejected %" PRIu64 " duplicates %zu%s%s", out->stored,
          out->rejected, res.duplicates, out->message[0] ? ": " : "", out->message);
    rc = TA_OK;
out:
    otlp_batch_free(batch);
    buf_free(&inflated);
    return rc;
}

void otlp_response_free(struct otlp_response *r)
{
    if (r)
        buf_free(&r->body);
}
