/* route.c — maps (method, raw path, raw query) to an endpoint and Kubernetes request info.
 *
 * The request-info part is a port of apiserver's RequestInfoFactory.NewRequestInfo (API
 * prefixes "api" and "apis", groupless "api", special verbs "proxy" and "watch", namespace
 * subresources "status" and "finalize"); routing is strict: exact segments, trailing '/' only
 * where Go servers accept it. One allocation (r->mem) holds all decoded text. Any thread. */
#include "apis/route.h"
#include "apis/base/parse.h"

#include <stdlib.h>
#include <string.h>

#include "apis/base/buf.h"
#include "apis/base/ta_mem.h"
#include "apis/query.h"

#define WATCH_VALUE_MAX 64 /* longer ?watch values are neither "0" nor "false": a watch */

struct arena {
    char *base;
    size_t used, cap;
};

/* Copies s into the arena (NUL-terminated); the caller sized the arena for every copy. */
static struct slice arena_put(struct arena *a, struct slice s)
{
    TA_ASSERT(a->used + s.len + 1 <= a->cap);
    char *p = a->base + a->used;
    if (s.len)
        memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    a->used += s.len + 1;
    return slice_make(p, s.len);
}

static bool has_bad_escape(struct slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] != '%')
            continue;
        if (i + 2 >= s.len || parse_hex_digit(s.ptr[i + 1]) < 0 ||
            parse_hex_digit(s.ptr[i + 2]) < 0)
            return true;
        i += 2;
    }
    return false;
}

/* One path segment, raw and decoded. */
struct seg {
    struct slice raw;
    struct slice dec;
    bool bad; /* holds a NUL or decodes to a '/' or NUL: such paths match no route */
};

/* Splits the raw path (after its leading '/') into segments and decodes each. */
static enum ta_rc split_path(struct slice path, struct arena *a, struct seg **out, size_t *n,
                             bool *any_bad, struct ta_err *err)
{
    size_t count = 1;
    struct slice rest = slice_skip(path, 1);
    for (size_t i = 0; i < rest.len; i++)
        count += rest.ptr[i] == '/';
    struct seg *segs = ta_xcalloc(count, sizeof(*segs));
    *any_bad = false;
    for (size_t i = 0; i < count; i++) {
        struct slice raw;
        bool more;
        struct slice after = slice_cut(rest, '/', &raw, &more);
        rest = after;
        struct buf b;
        buf_init(&b, raw.len);
        if (has_bad_escape(raw)) {
            enum ta_rc rc = query_form_decode(raw, &b, err); /* Go's message, TA_INVALID */
            buf_free(&b);
            free(segs);
            return rc == TA_OK ? TA_INTERNAL : rc;
        }
        segs[i].raw = raw;
        if (!slice_has_nul(raw) && query_path_decode(raw, &b, NULL) == TA_OK) {
            segs[i].dec = arena_put(a, buf_slice(&b));
        } else {
            segs[i].bad = true;
            *any_bad = true;
        }
        buf_free(&b);
    }
    *out = segs;
    *n = count;
    return TA_OK;
}

static bool seg_is(const struct seg *s, const char *lit)
{
    return !s->bad && slice_eq_cstr(s->dec, lit);
}

/* ---- request info (requestinfo.go) --------------------------------------------------------- */

static bool is_watch_query(struct slice query)
{
    struct buf v;
    bool found = false;
    buf_init(&v, WATCH_VALUE_MAX);
    enum ta_rc rc = query_get(query, "watch", &v, &found, NULL);
    bool watch = (rc == TA_OK && found && query_value_true(buf_slice(&v))) || rc == TA_TOO_LARGE;
    buf_free(&v);
    return watch;
}

static const char *method_verb(struct slice method)
{
    if (slice_eq_cstr(method, "POST"))
        return "create";
    if (slice_eq_cstr(method, "GET") || slice_eq_cstr(method, "HEAD"))
        return "get";
    if (slice_eq_cstr(method, "PUT"))
        return "update";
    if (slice_eq_cstr(method, "PATCH"))
        return "patch";
    if (slice_eq_cstr(method, "DELETE"))
        return "delete";
    return "";
}

/* parts: the decoded segments with leading and trailing empty ones dropped (Go's splitPath). */
static void request_info(struct route *r, struct slice method, const struct seg *parts, size_t n,
                         struct slice query)
{
    if (n < 3 || !(seg_is(&parts[0], "api") || seg_is(&parts[0], "apis")))
        return; /* non-resource: verb stays the lower-case method */
    bool groupless = seg_is(&parts[0], "api");
    parts++;
    n--;
    if (!groupless) {
        if (n < 3)
            return;
        r->api_group = parts[0].dec;
        parts++;
        n--;
    }
    r->resource_request = true;
    r->api_version = parts[0].dec;
    parts++;
    n--;
    if (seg_is(&parts[0], "proxy") || seg_is(&parts[0], "watch")) {
        r->verb = seg_is(&parts[0], "proxy") ? "proxy" : "watch";
        parts++;
        n--;
    } else {
        r->verb = method_verb(method);
    }
    if (n > 0 && seg_is(&parts[0], "namespaces")) {
        if (n > 1) {
            r->namespace_ = parts[1].dec;
            if (n > 2 && !seg_is(&parts[2], "status") && !seg_is(&parts[2], "finalize")) {
                parts += 2;
                n -= 2;
            }
        }
    }
    if (n >= 3 && strcmp(r->verb, "proxy") != 0)
        r->subresource = parts[2].dec;
    if (n >= 2)
        r->name = parts[1].dec;
    if (n >= 1)
        r->resource = parts[0].dec;
    if (r->name.len == 0 && strcmp(r->verb, "get") == 0)
        r->verb = is_watch_query(query) ? "watch" : "list";
    if (r->name.len == 0 && strcmp(r->verb, "delete") == 0)
        r->verb = "deletecollection";
}

/* ---- route table ------------------------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? ; with dots allowed between such labels when dots is true */
static bool dns_match(struct slice s, bool dots)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < s.len && !(dots && s.ptr[i] == '.')) {
            if (!is_lower_alnum(s.ptr[i]) && s.ptr[i] != '-')
                return false;
            i++;
        }
        if (i == start || !is_lower_alnum(s.ptr[start]) || !is_lower_alnum(s.ptr[i - 1]))
            return false;
        if (i == s.len)
            return true;
        i++;
    }
}

/* IsDNS1123Label's messages for the namespace, as TA_INVALID. */
static enum ta_rc check_namespace(struct slice ns, struct ta_err *err)
{
    const char *too_long = ns.len > ROUTE_NAMESPACE_MAX ? "must be no more than 63 characters" : "";
    const char *shape = "";
    if (!dns_match(ns, false))
        shape = dns_match(ns, true) ? "must not contain dots"
                                    : "a lowercase RFC 1123 label must consist of lower case "
                                      "alphanumeric characters or '-', and must start and end "
                                      "with an alphanumeric character";
    if (!too_long[0] && !shape[0])
        return TA_OK;
    char q[QUERY_QUOTE_SIZE(64)];
    query_quote(ns, 64, q, sizeof(q));
    return ta_err_set(err, TA_INVALID, "invalid namespace %s: %s%s%s", q, too_long,
                      too_long[0] && shape[0] ? "; " : "", shape);
}

static bool metric_name_ok(const struct seg *s)
{
    return !s->bad && s->dec.len > 0 && s->dec.len <= ROUTE_METRIC_MAX &&
           !slice_eq_cstr(s->dec, ".") && !slice_eq_cstr(s->dec, "..") && slice_is_utf8(s->dec);
}

static enum ta_rc route_metric(struct route *r, const struct seg *segs, struct slice query,
                               struct arena *a, struct ta_err *err)
{
    if (segs[4].bad || segs[4].dec.len == 0 || !metric_name_ok(&segs[5]))
        return TA_OK; /* ROUTE_NOT_FOUND */
    enum ta_rc rc = check_namespace(segs[4].dec, err);
    if (rc != TA_OK)
        return rc;
    struct buf sel;
    bool found = false;
    buf_init(&sel, SELECTOR_MAX_LEN);
    rc = query_get(query, "labelSelector", &sel, &found, err);
    if (rc == TA_OK) {
        r->kind = ROUTE_METRIC;
        r->metric = segs[5].dec;
        r->selector = arena_put(a, buf_slice(&sel));
        r->has_selector = found && sel.len > 0;
        r->watch = strcmp(r->verb, "watch") == 0;
    }
    buf_free(&sel);
    return rc;
}

static enum route_kind health_kind(const struct seg *s)
{
    if (seg_is(s, "healthz"))
        return ROUTE_HEALTHZ;
    if (seg_is(s, "livez"))
        return ROUTE_LIVEZ;
    if (seg_is(s, "readyz"))
        return ROUTE_READYZ;
    return ROUTE_NOT_FOUND;
}

static void route_health(struct route *r, enum route_kind k, const struct seg *segs, size_t n,
                         struct slice path, struct slice query)
{
    for (size_t i = 1; i < n; i++)
        if (segs[i].bad || segs[i].dec.len == 0)
            return; /* "/healthz/" and "/healthz//x" are not found */
    r->kind = k;
    r->check = n > 1 ? slice_make(segs[1].raw.ptr, (size_t)(path.ptr + path.len - segs[1].raw.ptr))
                     : slice_make(path.ptr + path.len, 0);
    r->verbose = query_has(query, "verbose");
}

static void route_openapi_group(struct route *r, struct slice query, struct arena *a)
{
    struct buf h;
    bool found = false;
    buf_init(&h, ROUTE_QUERY_MAX);
    r->kind = ROUTE_OPENAPI_V3_GROUP;
    if (query_get(query, "hash", &h, &found, NULL) == TA_OK && found && h.len > 0) {
        r->has_hash = true; /* Go drops an undecodable pair: then there is no hash */
        r->hash = arena_put(a, buf_slice(&h));
    }
    buf_free(&h);
}

/* Matches the untrimmed segments (segs[0] follows the leading '/'). */
static enum ta_rc match(struct route *r, const struct seg *segs, size_t n, struct slice path,
                        struct slice query, struct arena *a, struct ta_err *err)
{
    /* a trailing '/' is accepted on the discovery documents only */
    size_t m = n;
    bool slash = m > 1 && !segs[m - 1].bad && segs[m - 1].dec.len == 0;
    enum route_kind hk = health_kind(&segs[0]);
    if (hk != ROUTE_NOT_FOUND) {
        route_health(r, hk, segs, n, path, query);
        return TA_OK;
    }
    if (n == 1 && seg_is(&segs[0], "metrics")) {
        r->kind = ROUTE_METRICS;
        return TA_OK;
    }
    if (seg_is(&segs[0], "openapi")) {
        if (n == 2 && seg_is(&segs[1], "v2"))
            r->kind = ROUTE_OPENAPI_V2;
        else if (n == 2 && seg_is(&segs[1], "v3"))
            r->kind = ROUTE_OPENAPI_V3;
        else if (n == 5 && seg_is(&segs[1], "v3") && seg_is(&segs[2], "apis") &&
                 seg_is(&segs[3], ROUTE_GROUP) && seg_is(&segs[4], ROUTE_VERSION))
            route_openapi_group(r, query, a);
        return TA_OK;
    }
    if (!seg_is(&segs[0], "apis"))
        return TA_OK;
    if (slash)
        m--;
    if (m == 1) {
        r->kind = ROUTE_APIS;
        return TA_OK;
    }
    if (!seg_is(&segs[1], ROUTE_GROUP))
        return TA_OK;
    if (m == 2) {
        r->kind = ROUTE_GROUP_DOC;
        return TA_OK;
    }
    if (!seg_is(&segs[2], ROUTE_VERSION))
        return TA_OK;
    if (m == 3) {
        r->kind = ROUTE_RESOURCES;
        return TA_OK;
    }
    if (n == 6 && seg_is(&segs[3], "namespaces"))
        return route_metric(r, segs, query, a, err);
    return TA_OK;
}

enum ta_rc route_parse(struct slice method, struct slice path, struct slice query,
                       struct route *out, struct ta_err *err)
{
    struct seg *segs = NULL;
    size_t n = 0;
    bool any_bad = false;
    enum ta_rc rc = TA_OK;
    memset(out, 0, sizeof(*out));
    out->verb = "";
    out->path = path;
    if (path.len > ROUTE_PATH_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "path is longer than %d bytes", ROUTE_PATH_MAX);
    if (query.len > ROUTE_QUERY_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "query is longer than %d bytes", ROUTE_QUERY_MAX);
    if (method.len > ROUTE_METHOD_MAX)
        return ta_err_set(err, TA_INVALID, "method is longer than %d bytes", ROUTE_METHOD_MAX);

    struct arena a = { .cap = path.len + 2 * query.len + ROUTE_METHOD_MAX + 8 };
    a.base = ta_xmalloc(a.cap);
    out->mem = a.base;
    struct slice lower = arena_put(&a, method);
    for (size_t i = 0; i < lower.len; i++)
        if (lower.ptr[i] >= 'A' && lower.ptr[i] <= 'Z')
            ((char *)lower.ptr)[i] = (char)(lower.ptr[i] + 32);
    out->verb = lower.ptr;

    if (path.len == 0 || path.ptr[0] != '/')
        return TA_OK; /* ROUTE_NOT_FOUND, non-resource */
    rc = split_path(path, &a, &segs, &n, &any_bad, err);
    if (rc != TA_OK)
        goto out;
    if (!any_bad) {
        size_t lo = 0, hi = n; /* Go's strings.Trim(path, "/") */
        while (lo < hi && segs[lo].dec.len == 0)
            lo++;
        while (hi > lo && segs[hi - 1].dec.len == 0)
            hi--;
        request_info(out, method, segs + lo, hi - lo, query);
        rc = match(out, segs, n, path, query, &a, err);
    }
out:
    free(segs);
    return rc;
}

void route_free(struct route *r)
{
    if (!r)
        return;
    free(r->mem);
    memset(r, 0, sizeof(*r));
    r->verb = "";
}
