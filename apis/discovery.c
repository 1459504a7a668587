/* discovery.c — APIGroupList, APIGroup and APIResourceList JSON, and Accept media ranges.
 *
 * The documents are Go's metav1 structs marshalled in field order; the Accept parser follows
 * goautoneg (used by kube-openapi) closely enough for the media types this server meets. Pure:
 * any thread. */
#include "apis/discovery.h"

#include <string.h>

#include "apis/base/parse.h"

#define GROUP_VERSION_JSON \
    "{\"groupVersion\":\"" DISCOVERY_GROUP_VERSION "\",\"version\":\"" DISCOVERY_VERSION "\"}"
#define GROUP_BODY                                                            \
    "\"name\":\"" DISCOVERY_GROUP "\",\"versions\":[" GROUP_VERSION_JSON "]," \
    "\"preferredVersion\":" GROUP_VERSION_JSON

enum ta_rc discovery_group_list(struct buf *out)
{
    return buf_adds(out, "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[{" GROUP_BODY
                         "}]}");
}

enum ta_rc discovery_group(struct buf *out)
{
    return buf_adds(out, "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\"," GROUP_BODY "}");
}

enum ta_rc discovery_resource_list(struct buf *out, const struct slice *names, size_t n)
{
    if (n == 0 || n > DISCOVERY_MAX_NAMES || !names)
        return TA_INVALID;
    enum ta_rc rc = buf_adds(out, "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\","
                                  "\"groupVersion\":\"" DISCOVERY_GROUP_VERSION "\","
                                  "\"resources\":[");
    for (size_t i = 0; rc == TA_OK && i < n; i++) {
        rc = buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
        if (rc == TA_OK)
            rc = buf_add_json_str(out, names[i]);
        if (rc == TA_OK)
            rc = buf_adds(out, ",\"singularName\":\"\",\"namespaced\":true,"
                               "\"kind\":\"ExternalMetricValueList\",\"verbs\":[\"get\"]}");
    }
    if (rc == TA_OK)
        rc = buf_adds(out, "]}");
    return rc;
}

bool discovery_media_next(struct slice *accept, struct discovery_media *m)
{
    while (accept->len > 0) {
        struct slice range;
        bool more;
        struct slice rest = slice_cut(*accept, ',', &range, &more);
        *accept = more ? rest : SLICE_NULL;
        struct slice mt;
        bool has_params;
        struct slice params = slice_cut(range, ';', &mt, &has_params);
        mt = slice_trim(mt);
        struct slice type, subtype;
        bool slash;
        subtype = slice_cut(mt, '/', &type, &slash);
        if (!slash) {
            if (!slice_eq_cstr(mt, "*"))
                continue;
            type = SLICE_LIT("*");
            subtype = SLICE_LIT("*");
        }
        m->type = slice_trim(type);
        m->subtype = slice_trim(subtype);
        m->params = has_params ? params : slice_make(range.ptr + range.len, 0);
        m->q = 1.0;
        struct slice qv;
        if (discovery_media_param(m, "q", &qv)) {
            double q;
            m->q = parse_double(qv, 0.0, 1.0, &q, NULL) == TA_OK ? q : 0.0;
        }
        if (m->type.len == 0 || m->subtype.len == 0)
            continue;
        return true;
    }
    return false;
}

bool discovery_media_param(const struct discovery_media *m, const char *name, struct slice *value)
{
    struct slice ps = m->params;
    while (ps.len > 0) {
        struct slice p, k;
        bool more, eq;
        struct slice rest = slice_cut(ps, ';', &p, &more);
        ps = more ? rest : SLICE_NULL;
        struct slice v = slice_cut(p, '=', &k, &eq);
        if (!eq || !slice_eq_nocase(slice_trim(k), slice_from_cstr(name)))
            continue;
        v = slice_trim(v);
        if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
            v = slice_make(v.ptr + 1, v.len - 2);
        *value = v;
        return true;
    }
    return false;
}

bool discovery_wants_aggregated_only(struct slice accept)
{
    struct discovery_media m;
    bool aggregated = false;
    while (discovery_media_next(&accept, &m)) {
        struct slice as;
        if (m.q <= 0)
            continue;
        if (discovery_media_param(&m, "as", &as) && slice_eq_cstr(as, "APIGroupDiscoveryList"))
            aggregated = true;
        else
            return false;
    }
    return aggregated;
}
