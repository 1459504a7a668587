/* status.c — builds metav1.Status JSON the way Go's encoding/json writes it.
 *
 * Messages are built in a scratch buf, then written with buf_add_json_str (which escapes <, >
 * and & as Go does). Quoted fields follow Go's %q. Pure: any thread. */
#include "apis/status.h"

#include <stdio.h>
#include <string.h>

#include "apis/query.h"

/* Appends s quoted as Go's %q (cut at STATUS_FIELD_SHOWN bytes, then "..."). */
static enum ta_rc add_quoted(struct buf *b, struct slice s)
{
    char q[QUERY_QUOTE_SIZE(STATUS_FIELD_SHOWN)];
    query_quote(s, STATUS_FIELD_SHOWN, q, sizeof(q));
    return buf_adds(b, q);
}

/* Appends at most STATUS_FIELD_SHOWN bytes of s (then "..."), unquoted. */
static enum ta_rc add_field(struct buf *b, struct slice s)
{
    if (s.len <= STATUS_FIELD_SHOWN)
        return buf_add_slice(b, s);
    enum ta_rc rc = buf_add(b, s.ptr, STATUS_FIELD_SHOWN);
    return rc == TA_OK ? buf_adds(b, "...") : rc;
}

/* Appends `"key":<json string>` preceded by a comma when *first is false. */
static enum ta_rc add_member(struct buf *out, bool *first, const char *key, struct slice v)
{
    enum ta_rc rc = buf_addf(out, "%s\"%s\":", *first ? "" : ",", key);
    *first = false;
    return rc == TA_OK ? buf_add_json_str(out, v) : rc;
}

static enum ta_rc add_details(struct buf *out, const struct status_details *d)
{
    bool first = true;
    enum ta_rc rc = buf_adds(out, ",\"details\":{");
    if (rc == TA_OK && d->name.len)
        rc = add_member(out, &first, "name", d->name);
    if (rc == TA_OK && d->group.len)
        rc = add_member(out, &first, "group", d->group);
    if (rc == TA_OK && d->kind.len)
        rc = add_member(out, &first, "kind", d->kind);
    if (rc == TA_OK && d->cause.len) {
        rc = buf_addf(out, "%s\"causes\":[{\"message\":", first ? "" : ",");
        if (rc == TA_OK)
            rc = buf_add_json_str(out, d->cause);
        if (rc == TA_OK)
            rc = buf_adds(out, "}]");
    }
    return rc == TA_OK ? buf_addc(out, '}') : rc;
}

enum ta_rc status_write(struct buf *out, int code, const char *reason, struct slice message,
                        const struct status_details *details)
{
    enum ta_rc rc = buf_adds(out, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                  "\"status\":\"Failure\",\"message\":");
    if (rc == TA_OK)
        rc = buf_add_json_str(out, message);
    if (rc == TA_OK && reason && reason[0])
        rc = buf_addf(out, ",\"reason\":\"%s\"", reason);
    if (rc == TA_OK && details)
        rc = add_details(out, details);
    if (rc == TA_OK)
        rc = buf_addf(out, ",\"code\":%d}", code);
    return rc;
}

/* Writes a Status whose message was built in msg (freed here), unless building it failed. */
static enum ta_rc finish(struct buf *out, int c, const char *reason, struct buf *msg,
                         enum ta_rc built, const struct status_details *details, int *code)
{
    enum ta_rc rc = built;
    *code = c;
    if (rc == TA_OK)
        rc = status_write(out, c, reason, buf_slice(msg), details);
    else
        buf_free(out); /* partial output is never sent */
    buf_free(msg);
    return rc;
}

enum ta_rc status_not_found(struct buf *out, int *code)
{
    static const struct status_details empty = {
        { NULL, 0 }, { NULL, 0 }, { NULL, 0 }, { NULL, 0 }
    };
    *code = 404;
    return status_write(out, 404, "NotFound",
                        SLICE_LIT("the server could not find the requested resource"), &empty);
}

enum ta_rc status_metric_not_found(struct buf *out, struct slice metric, int *code)
{
    struct buf msg;
    buf_init(&msg, STATUS_BODY_MAX);
    enum ta_rc rc = buf_adds(&msg, "the server could not find the metric ");
    if (rc == TA_OK)
        rc = add_field(&msg, metric);
    if (rc == TA_OK)
        rc = buf_adds(&msg, " for namespaces");
    return finish(out, 404, "NotFound", &msg, rc, NULL, code);
}

enum ta_rc status_bad_request(struct buf *out, struct slice message, int *code)
{
    *code = 400;
    return status_write(out, 400, "BadRequest", message, NULL);
}

enum ta_rc status_watch_not_allowed(struct buf *out, int *code)
{
    struct status_details d = { .group = SLICE_LIT(STATUS_GROUP), .kind = SLICE_LIT("*") };
    *code = 405;
    return status_write(
        out, 405, "MethodNotAllowed",
        SLICE_LIT("watch is not supported on resources of kind \"*." STATUS_GROUP "\""), &d);
}

enum ta_rc status_method_not_allowed(struct buf *out, int *code)
{
    struct status_details d = { .name = SLICE_NULL };
    *code = 405;
    return status_write(out, 405, "MethodNotAllowed",
                        SLICE_LIT("the server does not allow this method on the requested "
                                  "resource"),
                        &d);
}

enum ta_rc status_unauthorized(struct buf *out, int *code)
{
    *code = 401;
    return status_write(out, 401, "Unauthorized", SLICE_LIT("Unauthorized"), NULL);
}

/* forbiddenMessage(attributes) of apiserver's responsewriters, plus ": <reason>". */
static enum ta_rc forbidden_text(struct buf *m, const struct status_forbidden *f)
{
    enum ta_rc rc = buf_adds(m, "User ");
    if (rc == TA_OK)
        rc = add_quoted(m, f->user);
    if (rc == TA_OK)
        rc = buf_adds(m, " cannot ");
    if (rc == TA_OK)
        rc = add_field(m, f->verb);
    if (f->resource.len == 0) {
        if (rc == TA_OK)
            rc = buf_adds(m, " path ");
        if (rc == TA_OK)
            rc = add_quoted(m, f->path);
    } else {
        struct buf rs; /* resource, or resource/subresource */
        buf_init(&rs, STATUS_BODY_MAX);
        enum ta_rc r2 = buf_add_slice(&rs, f->resource);
        if (r2 == TA_OK && f->subresource.len)
            r2 = buf_addc(&rs, '/');
        if (r2 == TA_OK && f->subresource.len)
            r2 = buf_add_slice(&rs, f->subresource);
        if (rc == TA_OK)
            rc = r2;
        if (rc == TA_OK)
            rc = buf_adds(m, " resource ");
        if (rc == TA_OK)
            rc = add_quoted(m, buf_slice(&rs));
        buf_free(&rs);
        if (rc == TA_OK)
            rc = buf_adds(m, " in API group ");
        if (rc == TA_OK)
            rc = add_quoted(m, f->group);
        if (rc == TA_OK && f->namespace_.len) {
            rc = buf_adds(m, " in the namespace ");
            if (rc == TA_OK)
                rc = add_quoted(m, f->namespace_);
        } else if (rc == TA_OK) {
            rc = buf_adds(m, " at the cluster scope");
        }
    }
    if (rc == TA_OK && f->reason.len) {
        rc = buf_adds(m, ": ");
        if (rc == TA_OK)
            rc = add_field(m, f->reason);
    }
    return rc;
}

enum ta_rc status_forbidden(struct buf *out, const struct status_forbidden *f, int *code)
{
    struct buf msg;
    struct status_details d = { .name = SLICE_NULL };
    enum ta_rc rc = TA_OK;
    buf_init(&msg, STATUS_BODY_MAX);
    if (f->resource.len == 0) {
        rc = buf_adds(&msg, "forbidden: "); /* NewForbidden with an empty GroupResource */
    } else {
        /* GroupResource.String() is "resource.group" ("resource" when the group is empty) */
        rc = add_field(&msg, f->resource);
        if (rc == TA_OK && f->group.len) {
            rc = buf_addc(&msg, '.');
            if (rc == TA_OK)
                rc = add_field(&msg, f->group);
        }
        if (rc == TA_OK && f->name.len) {
            rc = buf_addc(&msg, ' ');
            if (rc == TA_OK)
                rc = add_quoted(&msg, f->name);
        }
        if (rc == TA_OK)
            rc = buf_adds(&msg, " is forbidden: ");
        d.name = f->name;
        d.group = f->group;
        d.kind = f->resource;
    }
    if (rc == TA_OK)
        rc = forbidden_text(&msg, f);
    return finish(out, 403, "Forbidden", &msg, rc, &d, code);
}

static enum ta_rc too_large(struct buf *out, int c, const char *what, struct slice detail,
                            int *code)
{
    struct buf msg;
    buf_init(&msg, STATUS_BODY_MAX);
    enum ta_rc rc = buf_adds(&msg, what);
    if (rc == TA_OK)
        rc = add_field(&msg, detail);
    return finish(out, c, "RequestEntityTooLarge", &msg, rc, NULL, code);
}

enum ta_rc status_too_large(struct buf *out, struct slice detail, int *code)
{
    return too_large(out, 413, "Request entity too large: ", detail, code);
}

enum ta_rc status_uri_too_long(struct buf *out, struct slice detail, int *code)
{
    return too_large(out, 414, "Request URI too long: ", detail, code);
}

enum ta_rc status_headers_too_large(struct buf *out, struct slice detail, int *code)
{
    return too_large(out, 431, "Request header fields too large: ", detail, code);
}

enum ta_rc status_service_unavailable(struct buf *out, struct slice message, int *code)
{
    *code = 503;
    return status_write(out, 503, "ServiceUnavailable", message, NULL);
}

enum ta_rc status_internal_error(struct buf *out, struct slice message, int *code)
{
    struct buf msg;
    struct status_details d = { .cause = message };
    buf_init(&msg, STATUS_BODY_MAX);
    enum ta_rc rc = buf_adds(&msg, "Internal error occurred: ");
    if (rc == TA_OK)
        rc = buf_add_slice(&msg, message);
    return finish(out, 500, "InternalError", &msg, rc, &d, code);
}

int status_http_code(enum ta_rc rc)
{
    switch (rc) {
    case TA_INVALID:
        return 400;
    case TA_NOT_FOUND:
        return 404;
    case TA_TOO_LARGE:
        return 413;
    case TA_UNAVAILABLE:
    case TA_UPSTREAM:
    case TA_TIMEOUT:
        return 503;
    case TA_OK:
    case TA_IO:
    case TA_INTERNAL:
        break;
    }
    return 500;
}

enum ta_rc status_from_err(const struct ta_err *err, struct buf *out, int *code)
{
    if (!err)
        return status_internal_error(out, SLICE_LIT("no error was recorded"), code);
    struct slice msg = slice_make(err->msg, strnlen(err->msg, sizeof(err->msg)));
    switch (status_http_code(err->rc)) {
    case 400:
        return status_bad_request(out, msg, code);
    case 404:
        *code = 404;
        return status_write(out, 404, "NotFound", msg, NULL);
    case 413:
        return status_too_large(out, msg, code);
    case 503:
        return status_service_unavailable(out, msg, code);
    default:
        if (err->rc == TA_OK)
            msg = SLICE_LIT("no error was recorded");
        return status_internal_error(out, msg, code);
    }
}
