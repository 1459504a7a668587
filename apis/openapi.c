/* openapi.c — ETags, negotiation, conditional GET and the ?hash= redirect for the OpenAPI docs.
 *
 * Follows kube-openapi's handler (v2) and handler3 (v3) with http.ServeContent's If-None-Match
 * rules; JSON only. The struct openapi is written once in openapi_new and only read after. */
#include "apis/openapi.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apis/base/buf.h"
#include "apis/base/ta_mem.h"
#include "apis/discovery.h"
#include "apis/embedded.h"

#define QUOTED_LEN (OPENAPI_ETAG_HEX_LEN + 2)

struct openapi {
    struct slice v2, v3;
    char *root; /* the v3 root listing (owned) */
    size_t root_len;
    char v2_hex[OPENAPI_ETAG_HEX_LEN + 1], v3_hex[OPENAPI_ETAG_HEX_LEN + 1];
    char root_hex[OPENAPI_ETAG_HEX_LEN + 1];
    char v2_q[QUOTED_LEN + 1], v3_q[QUOTED_LEN + 1], root_q[QUOTED_LEN + 1]; /* "HEX" */
};

static enum ta_rc sha512_hex(struct slice data, char hex[OPENAPI_ETAG_HEX_LEN + 1],
                             char quoted[QUOTED_LEN + 1], struct ta_err *err)
{
    static const char digits[] = "0123456789ABCDEF";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data.ptr, data.len, md, &n, EVP_sha512(), NULL) != 1 ||
        n * 2 != OPENAPI_ETAG_HEX_LEN)
        return ta_err_set(err, TA_INTERNAL, "openapi: SHA-512 failed");
    for (unsigned int i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[OPENAPI_ETAG_HEX_LEN] = '\0';
    quoted[0] = '"';
    memcpy(quoted + 1, hex, OPENAPI_ETAG_HEX_LEN);
    quoted[OPENAPI_ETAG_HEX_LEN + 1] = '"';
    quoted[OPENAPI_ETAG_HEX_LEN + 2] = '\0';
    return TA_OK;
}

enum ta_rc openapi_new(struct slice v2, struct slice v3, struct openapi **out, struct ta_err *err)
{
    struct openapi *o = NULL;
    struct buf root;
    enum ta_rc rc;
    *out = NULL;
    buf_init(&root, 1024);
    if (v2.len == 0 || v3.len == 0)
        return ta_err_set(err, TA_INVALID, "openapi: empty %s document", v2.len ? "v3" : "v2");
    o = ta_xcalloc(1, sizeof(*o));
    o->v2 = v2;
    o->v3 = v3;
    rc = sha512_hex(v2, o->v2_hex, o->v2_q, err);
    if (rc == TA_OK)
        rc = sha512_hex(v3, o->v3_hex, o->v3_q, err);
    if (rc != TA_OK)
        goto out;
    rc = buf_addf(&root,
                  "{\"paths\":{\"" OPENAPI_V3_KEY "\":{\"serverRelativeURL\":\"" OPENAPI_V3_PATH
                  "?hash=%s\"}}}",
                  o->v3_hex);
    if (rc != TA_OK) {
        rc = ta_err_set(err, TA_INTERNAL, "openapi: root listing does not fit");
        goto out;
    }
    o->root = buf_take(&root, &o->root_len);
    rc = sha512_hex(slice_make(o->root, o->root_len), o->root_hex, o->root_q, err);
    if (rc != TA_OK)
        goto out;
    *out = o;
    o = NULL;
out:
    buf_free(&root);
    openapi_free(o);
    return rc;
}

enum ta_rc openapi_new_embedded(struct openapi **out, struct ta_err *err)
{
    struct slice v2 = embedded_get(OPENAPI_V2_FILE);
    struct slice v3 = embedded_get(OPENAPI_V3_FILE);
    *out = NULL;
    if (!v2.ptr || !v3.ptr)
        return ta_err_set(err, TA_NOT_FOUND, "openapi: %s is not embedded in this binary",
                          v2.ptr ? OPENAPI_V3_FILE : OPENAPI_V2_FILE);
    return openapi_new(v2, v3, out, err);
}

void openapi_free(struct openapi *o)
{
    if (!o)
        return;
    free(o->root);
    free(o);
}

const char *openapi_v2_etag(const struct openapi *o)
{
    return o->v2_hex;
}

const char *openapi_v3_etag(const struct openapi *o)
{
    return o->v3_hex;
}

const char *openapi_v3_root_etag(const struct openapi *o)
{
    return o->root_hex;
}

/* ---- request handling ---------------------------------------------------------------------- */

static void add_header(struct openapi_reply *out, const char *name, struct slice value)
{
    TA_ASSERT(out->nheaders < OPENAPI_MAX_HEADERS);
    out->headers[out->nheaders].name = name;
    out->headers[out->nheaders].value = value;
    out->nheaders++;
}

/* True when a media range with q > 0 admits application/json. */
static bool accepts_json(struct slice accept)
{
    struct discovery_media m;
    if (slice_trim(accept).len == 0)
        return true; /* an empty Accept means * / * */
    while (discovery_media_next(&accept, &m)) {
        if (m.q <= 0)
            continue;
        bool type = slice_eq_cstr(m.type, "*") || slice_eq_nocase(m.type, SLICE_LIT("application"));
        bool sub = slice_eq_cstr(m.subtype, "*") || slice_eq_nocase(m.subtype, SLICE_LIT("json"));
        if (type && sub)
            return true;
    }
    return false;
}

/* http.ServeContent's If-None-Match: "*" or any listed ETag that weakly equals etag. */
static bool none_match_hits(struct slice inm, const char *quoted)
{
    while (inm.len > 0) {
        struct slice tag;
        bool more;
        struct slice rest = slice_cut(inm, ',', &tag, &more);
        inm = more ? rest : SLICE_NULL;
        tag = slice_trim(tag);
        if (slice_eq_cstr(tag, "*"))
            return true;
        if (slice_starts_with(tag, SLICE_LIT("W/")))
            tag = slice_skip(tag, 2);
        if (slice_eq_cstr(tag, quoted))
            return true;
    }
    return false;
}

/* now_s plus one calendar year (Go's AddDate(1, 0, 0)) in RFC 1123 with "GMT". */
static void expires_in_a_year(int64_t now_s, char out[32])
{
    static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t t = (time_t)now_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "Thu, 01 Jan 1970 00:00:00 GMT");
        return;
    }
    tm.tm_year += 1;
    t = timegm(&tm); /* normalizes Feb 29 to Mar 1, as Go does */
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        snprintf(out, 32, "Thu, 01 Jan 1970 00:00:00 GMT");
        return;
    }
    snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* 200 with body, or 304 when If-None-Match hits; the ETag header is already set. */
static void content(struct openapi_reply *out, struct slice body, struct slice inm,
                    const char *quoted)
{
    if (none_match_hits(inm, quoted)) {
        out->status = 304;
        return;
    }
    out->status = 200;
    out->content_type = OPENAPI_CONTENT_TYPE;
    out->body = body;
}

void openapi_serve(const struct openapi *o, const struct route *r, struct slice accept,
                   struct slice if_none_match, int64_t now_s, struct openapi_reply *out)
{
    memset(out, 0, sizeof(*out));
    out->status = 404;
    switch (r->kind) {
    case ROUTE_OPENAPI_V3:
        add_header(out, "Etag", slice_from_cstr(o->root_q));
        content(out, slice_make(o->root, o->root_len), if_none_match, o->root_q);
        return;
    case ROUTE_OPENAPI_V2:
        add_header(out, "Vary", SLICE_LIT("Accept"));
        if (!accepts_json(accept)) {
            out->status = 406;
            return;
        }
        add_header(out, "Etag", slice_from_cstr(o->v2_q));
        content(out, o->v2, if_none_match, o->v2_q);
        return;
    case ROUTE_OPENAPI_V3_GROUP:
        add_header(out, "Vary", SLICE_LIT("Accept"));
        if (!accepts_json(accept)) {
            out->status = 406;
            return;
        }
        add_header(out, "Etag", slice_from_cstr(o->v3_q));
        if (r->has_hash && !slice_eq_cstr(r->hash, o->v3_hex)) {
            snprintf(out->location, sizeof(out->location), OPENAPI_V3_PATH "?hash=%s", o->v3_hex);
            add_header(out, "Location", slice_from_cstr(out->location));
            out->status = 301;
            return;
        }
        if (r->has_hash) {
            expires_in_a_year(now_s, out->expires);
            add_header(out, "Cache-Control", SLICE_LIT("public, immutable"));
            add_header(out, "Expires", slice_from_cstr(out->expires));
        }
        content(out, o->v3, if_none_match, o->v3_q);
        return;
    default:
        return;
    }
}
