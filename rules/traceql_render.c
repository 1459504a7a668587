/* traceql_render.c — canonical TraceQL text of a tree, safe to send to Tempo.
 *
 * server/tempo_* renders the filter of each query here. Canonical form: every operand of &&
 * and || is parenthesised ("(a = 1) && (b = 2) && (c = 3)"), ! is written "!(…)", intrinsics
 * in their unscoped form, strings double-quoted with ", \ and control bytes escaped and
 * invalid UTF-8 written as \xHH (spec tempo-http-api §9.5), attribute names quoted when they
 * hold anything but [A-Za-z0-9_.:/-], durations in the largest exact unit, floats with the
 * fewest digits that read back exactly. Nothing but literals' escaped bytes reaches the text,
 * and parse(render(t)) equals t. Any failure (the buffer's cap) frees the buffer. Pure. */
#include "rules/traceql.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "apis/base/parse.h"
#include "rules/traceql_int.h"

static const char *const OP_TEXT[] = {
    " = ", " != ", " < ", " <= ", " > ", " >= ", " =~ ", " !~ "
};
static const char *const INTRINSIC_TEXT[] = { "name", "kind", "status", "duration" };
static const char *const KIND_TEXT[] = { "unspecified", "internal", "server",
                                         "client",      "producer", "consumer" };
static const char *const STATUS_TEXT[] = { "unset", "ok", "error" };

enum ta_rc tq_render_string(struct slice s, struct buf *out)
{
    enum ta_rc rc = buf_addc(out, '"');
    size_t i = 0;
    while (rc == TA_OK && i < s.len) {
        unsigned char c = (unsigned char)s.ptr[i];
        size_t l = tq_utf8_len((const unsigned char *)s.ptr + i, s.len - i);
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            rc = buf_add(out, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F || l == 0) {
            rc = buf_addf(out, "\\x%02x", c);
            i++;
        } else {
            rc = buf_add(out, s.ptr + i, l);
            i += l;
        }
    }
    return rc == TA_OK ? buf_addc(out, '"') : rc;
}

static bool name_is_plain(struct slice name, bool unscoped)
{
    if (name.len == 0)
        return false;
    if (unscoped && name.ptr[0] >= '0' && name.ptr[0] <= '9')
        return false; /* ".5x" would scan as the number .5 */
    for (size_t i = 0; i < name.len; i++) {
        unsigned char c = (unsigned char)name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

enum ta_rc tq_render_attr(const struct traceql_attr *a, struct buf *out)
{
    enum ta_rc rc;
    switch (a->scope) {
    case TRACEQL_SCOPE_INTRINSIC:
        return buf_adds(out, INTRINSIC_TEXT[a->intrinsic]);
    case TRACEQL_SCOPE_SPAN:
        rc = buf_adds(out, "span.");
        break;
    case TRACEQL_SCOPE_RESOURCE:
        rc = buf_adds(out, "resource.");
        break;
    default:
        rc = buf_addc(out, '.');
        break;
    }
    struct slice name = slice_make(a->name, a->name_len);
    if (rc != TA_OK)
        return rc;
    if (name_is_plain(name, a->scope == TRACEQL_SCOPE_ANY))
        return buf_add_slice(out, name);
    /* quoted attribute names know only the escapes \" and \\ */
    rc = buf_addc(out, '"');
    for (size_t i = 0; rc == TA_OK && i < name.len; i++) {
        char c = name.ptr[i];
        if (c == '"' || c == '\\')
            rc = buf_addc(out, '\\');
        if (rc == TA_OK)
            rc = buf_addc(out, c);
    }
    return rc == TA_OK ? buf_addc(out, '"') : rc;
}

static bool reads_back(const char *tmp, double f)
{
    double back;
    return parse_double(slice_from_cstr(tmp), -DBL_MAX, DBL_MAX, &back, NULL) == TA_OK && back == f;
}

/* Fewest digits that parse back to the same double, always read as a float: plain decimals
 * for everyday magnitudes ("1000.0", "0.25"), %g's exponent form otherwise ("1e-07"). */
static enum ta_rc render_float(double f, struct buf *out)
{
    char tmp[64];
    double a = fabs(f);
    if (a == 0 || (a >= 1e-4 && a < 1e15)) {
        for (int prec = 0; prec <= 20; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*f", prec, f);
            if (reads_back(tmp, f))
                return prec == 0 ? buf_addf(out, "%s.0", tmp) : buf_adds(out, tmp);
        }
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, f);
        if (reads_back(tmp, f))
            break;
    }
    if (!strchr(tmp, '.') && !strchr(tmp, 'e'))
        return buf_addf(out, "%s.0", tmp);
    return buf_adds(out, tmp);
}

static enum ta_rc render_duration(int64_t ns, struct buf *out)
{
    static const struct {
        int64_t ns;
        const char *unit;
    } UNITS[] = {
        { 3600000000000, "h" }, { 60000000000, "m" }, { 1000000000, "s" },
        { 1000000, "ms" },      { 1000, "us" },
    };
    if (ns == 0)
        return buf_adds(out, "0s");
    for (size_t i = 0; i < sizeof(UNITS) / sizeof(UNITS[0]); i++)
        if (ns % UNITS[i].ns == 0)
            return buf_addf(out, "%" PRId64 "%s", ns / UNITS[i].ns, UNITS[i].unit);
    return buf_addf(out, "%" PRId64 "ns", ns);
}

enum ta_rc tq_render_literal(const struct traceql_literal *l, struct buf *out)
{
    switch (l->type) {
    case TRACEQL_LIT_STRING:
        return tq_render_string(l->u.str, out);
    case TRACEQL_LIT_INT:
        return buf_addf(out, "%" PRId64, l->u.i);
    case TRACEQL_LIT_FLOAT:
        return render_float(l->u.f, out);
    case TRACEQL_LIT_DURATION:
        return render_duration(l->u.dur_ns, out);
    case TRACEQL_LIT_BOOL:
        return buf_adds(out, l->u.b ? "true" : "false");
    case TRACEQL_LIT_NIL:
        return buf_adds(out, "nil");
    case TRACEQL_LIT_KIND:
        if ((unsigned)l->u.kind < sizeof(KIND_TEXT) / sizeof(KIND_TEXT[0]))
            return buf_adds(out, KIND_TEXT[l->u.kind]);
        break;
    case TRACEQL_LIT_STATUS:
        if ((unsigned)l->u.status < sizeof(STATUS_TEXT) / sizeof(STATUS_TEXT[0]))
            return buf_adds(out, STATUS_TEXT[l->u.status]);
        break;
    }
    buf_free(out);
    return TA_INTERNAL;
}

static enum ta_rc render(const struct traceql_node *n, struct buf *out);

static enum ta_rc render_paren(const struct traceql_node *n, struct buf *out)
{
    enum ta_rc rc = buf_addc(out, '(');
    if (rc == TA_OK)
        rc = render(n, out);
    return rc == TA_OK ? buf_addc(out, ')') : rc;
}

static enum ta_rc render(const struct traceql_node *n, struct buf *out)
{
    enum ta_rc rc = TA_OK;
    switch (n->type) {
    case TRACEQL_N_AND:
    case TRACEQL_N_OR:
        for (uint32_t i = 0; rc == TA_OK && i < n->u.list.n; i++) {
            if (i > 0)
                rc = buf_adds(out, n->type == TRACEQL_N_AND ? " && " : " || ");
            if (rc == TA_OK)
                rc = render_paren(n->u.list.kids[i], out);
        }
        return rc;
    case TRACEQL_N_NOT:
        rc = buf_addc(out, '!');
        return rc == TA_OK ? render_paren(n->u.child, out) : rc;
    case TRACEQL_N_CMP:
        rc = tq_render_attr(&n->u.cmp.attr, out);
        if (rc == TA_OK)
            rc = buf_adds(out, OP_TEXT[n->u.cmp.op]);
        return rc == TA_OK ? tq_render_literal(&n->u.cmp.lit, out) : rc;
    case TRACEQL_N_ATTR:
        return tq_render_attr(&n->u.attr, out);
    case TRACEQL_N_BOOL:
        return buf_adds(out, n->u.b ? "true" : "false");
    }
    buf_free(out);
    return TA_INTERNAL;
}

enum ta_rc traceql_render(const struct traceql_node *n, struct buf *out)
{
    if (!n) {
        buf_free(out);
        return TA_INTERNAL;
    }
    if (n->type == TRACEQL_N_BOOL && n->u.b)
        return buf_adds(out, "{ }");
    enum ta_rc rc = buf_adds(out, "{ ");
    if (rc == TA_OK)
        rc = render(n, out);
    return rc == TA_OK ? buf_adds(out, " }") : rc;
}

enum ta_rc traceql_render_expr(const struct traceql_node *n, struct buf *out)
{
    if (!n) {
        buf_free(out);
        return TA_INTERNAL;
    }
    /* a chain is wrapped so the result is one operand on either side of && or || */
    if (n->type == TRACEQL_N_AND || n->type == TRACEQL_N_OR)
        return render_paren(n, out);
    return render(n, out);
}
