/* traceql_eval.c — traceql_match: evaluates a filter tree on one span, as Tempo would.
 *
 * Called by the embedded store for every stored span in a window and by rules/ioshare.c, from
 * many threads at once, so it allocates nothing and writes nothing: regexes were compiled when
 * the tree was built and are run with REG_STARTEND on the attribute's bytes (no NUL needed;
 * glibc's regexec is safe for concurrent callers). Semantics: a missing attribute makes every
 * comparison false except `= nil`; `.x` matches when the span or the resource attribute
 * matches (and is nil only when both are missing); ints, floats and durations compare as
 * numbers exactly; strings compare bytewise; bools only with = and !=. */
#include "rules/traceql.h"

#include <math.h>

#include "rules/traceql_int.h"

/* -1, 0, 1 for a < b, a == b, a > b; 2 when unordered (NaN). Exact for every int64. */
static int cmp_i64_double(int64_t a, double b)
{
    if (isnan(b))
        return 2;
    if (b >= 9223372036854775808.0)
        return -1;
    if (b < -9223372036854775808.0)
        return 1;
    double fl = floor(b);
    int64_t fi = (int64_t)fl;
    if (a < fi)
        return -1;
    if (a > fi)
        return 1;
    return fl == b ? 0 : -1; /* a == floor(b) < b */
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : (a > b ? 1 : 0);
}

static int cmp_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        return 2;
    return a < b ? -1 : (a > b ? 1 : 0);
}

static bool apply(enum traceql_op op, int c)
{
    if (c == 2)
        return op == TRACEQL_OP_NE; /* NaN: only != holds, as in IEEE and Go */
    switch (op) {
    case TRACEQL_OP_EQ:
        return c == 0;
    case TRACEQL_OP_NE:
        return c != 0;
    case TRACEQL_OP_LT:
        return c < 0;
    case TRACEQL_OP_LE:
        return c <= 0;
    case TRACEQL_OP_GT:
        return c > 0;
    case TRACEQL_OP_GE:
        return c >= 0;
    default:
        return false;
    }
}

static bool match_string(const struct traceql_cmp *c, struct slice v)
{
    if (c->op == TRACEQL_OP_RE || c->op == TRACEQL_OP_NRE) {
        regmatch_t m[1];
        m[0].rm_so = 0;
        m[0].rm_eo = (regoff_t)v.len;
        int r = regexec(c->re, v.ptr ? v.ptr : "", 1, m, REG_STARTEND);
        return (r == 0) == (c->op == TRACEQL_OP_RE);
    }
    int k = slice_cmp(v, c->lit.u.str);
    return apply(c->op, k < 0 ? -1 : (k > 0 ? 1 : 0));
}

/* The comparison on one present attribute value; a type mismatch is false. */
static bool match_value(const struct traceql_cmp *c, const struct attr_value *v)
{
    const struct traceql_literal *l = &c->lit;
    switch (l->type) {
    case TRACEQL_LIT_STRING:
        return v->type == ATTR_STRING && match_string(c, v->u.str);
    case TRACEQL_LIT_INT:
    case TRACEQL_LIT_DURATION: {
        int64_t x = l->type == TRACEQL_LIT_INT ? l->u.i : l->u.dur_ns;
        if (v->type == ATTR_INT)
            return apply(c->op, cmp_i64(v->u.i, x));
        if (v->type == ATTR_DOUBLE) {
            int k = cmp_i64_double(x, v->u.d);
            return apply(c->op, k == 2 ? 2 : -k);
        }
        return false;
    }
    case TRACEQL_LIT_FLOAT:
        if (v->type == ATTR_INT)
            return apply(c->op, cmp_i64_double(v->u.i, l->u.f));
        if (v->type == ATTR_DOUBLE)
            return apply(c->op, cmp_double(v->u.d, l->u.f));
        return false;
    case TRACEQL_LIT_BOOL:
        return v->type == ATTR_BOOL && apply(c->op, v->u.b == l->u.b ? 0 : 1);
    default:
        return false; /* nil is handled by the caller; kind/status never reach attributes */
    }
}

static bool match_intrinsic(const struct traceql_cmp *c, const struct span *s)
{
    const struct traceql_literal *l = &c->lit;
    switch (c->attr.intrinsic) {
    case TRACEQL_INTRINSIC_NAME:
        return l->type == TRACEQL_LIT_STRING && match_string(c, s->name);
    case TRACEQL_INTRINSIC_KIND:
        return l->type == TRACEQL_LIT_KIND && apply(c->op, s->kind == l->u.kind ? 0 : 1);
    case TRACEQL_INTRINSIC_STATUS:
        return l->type == TRACEQL_LIT_STATUS && apply(c->op, s->status == l->u.status ? 0 : 1);
    case TRACEQL_INTRINSIC_DURATION: {
        int64_t d = span_duration_ns(s);
        if (l->type == TRACEQL_LIT_DURATION)
            return apply(c->op, cmp_i64(d, l->u.dur_ns));
        if (l->type == TRACEQL_LIT_INT)
            return apply(c->op, cmp_i64(d, l->u.i));
        if (l->type == TRACEQL_LIT_FLOAT)
            return apply(c->op, cmp_i64_double(d, l->u.f));
        return false;
    }
    }
    return false;
}

static bool match_cmp(const struct traceql_cmp *c, const struct span *s)
{
    if (c->attr.scope == TRACEQL_SCOPE_INTRINSIC)
        return match_intrinsic(c, s);
    struct slice key = slice_make(c->attr.name, c->attr.name_len);
    const struct span_attr *sa = NULL, *ra = NULL;
    if (c->attr.scope != TRACEQL_SCOPE_RESOURCE)
        sa = span_attr_find(&s->attrs, key);
    if (c->attr.scope != TRACEQL_SCOPE_SPAN)
        ra = span_attr_find(&s->resource, key);
    if (c->lit.type == TRACEQL_LIT_NIL) {
        bool present = sa || ra;
        return c->op == TRACEQL_OP_EQ ? !present : present;
    }
    return (sa && match_value(c, &sa->value)) || (ra && match_value(c, &ra->value));
}

bool traceql_match(const struct traceql_node *n, const struct span *s)
{
    switch (n->type) {
    case TRACEQL_N_AND:
        for (uint32_t i = 0; i < n->u.list.n; i++)
            if (!traceql_match(n->u.list.kids[i], s))
                return false;
        return true;
    case TRACEQL_N_OR:
        for (uint32_t i = 0; i < n->u.list.n; i++)
            if (traceql_match(n->u.list.kids[i], s))
                return true;
        return false;
    case TRACEQL_N_NOT:
        return !traceql_match(n->u.child, s);
    case TRACEQL_N_CMP:
        return match_cmp(&n->u.cmp, s);
    case TRACEQL_N_BOOL:
        return n->u.b;
    case TRACEQL_N_ATTR:
        return false; /* a lone attribute is not a filter */
    }
    return false;
}
