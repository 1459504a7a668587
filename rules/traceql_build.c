/* traceql_build.c — building, validating, copying, comparing and freeing TraceQL trees.
 *
 * traceql_parse.c and rules_filter.c build trees only through these functions, so every
 * comparison in any tree has passed the same checks Tempo's validator makes (nil rules, kind
 * and status words, regex compilation, type compatibility). Regexes are translated from the
 * common RE2 forms into POSIX ERE, anchored as ^(…)$ and compiled once here; the compiled
 * regex_t lives in the node. Nodes are immutable afterwards: any thread may read them. */
#include "rules/traceql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/ta_mem.h"

/* RE2's `.` in ERE bytes (the process runs in the C locale): one UTF-8 character but \n */
#define ANY_CHAR                                                                \
    "([^\n\x80-\xff]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf][\x80-\xbf]|" \
    "[\xf0-\xf4][\x80-\xbf][\x80-\xbf][\x80-\xbf])"
/* translated pattern: each . grows to ANY_CHAR */
#define TQ_REGEX_MAX (TRACEQL_MAX_LEN * 90 + 16)

static const char *const OP_NAMES[] = { "=", "!=", "<", "<=", ">", ">=", "=~", "!~" };
static const char *const INTRINSIC_NAMES[] = { "name", "kind", "status", "duration" };

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

uint32_t traceql_depth(const struct traceql_node *n)
{
    return n ? n->depth : 0;
}

uint32_t traceql_node_count(const struct traceql_node *n)
{
    return n ? n->nodes : 0;
}

struct traceql_node *tq_new_attr(enum traceql_scope scope, enum traceql_intrinsic which,
                                 struct slice name)
{
    struct traceql_node *n = ta_xcalloc(1, sizeof(*n));
    n->type = TRACEQL_N_ATTR;
    n->nodes = 1;
    n->u.attr.scope = scope;
    n->u.attr.intrinsic = which;
    if (scope != TRACEQL_SCOPE_INTRINSIC) {
        n->u.attr.name = ta_xstrndup(name.ptr ? name.ptr : "", name.len);
        n->u.attr.name_len = name.len;
    }
    return n;
}

struct traceql_node *traceql_new_intrinsic(enum traceql_intrinsic which)
{
    return tq_new_attr(TRACEQL_SCOPE_INTRINSIC, which, SLICE_NULL);
}

struct traceql_node *traceql_new_bool(bool b)
{
    struct traceql_node *n = ta_xcalloc(1, sizeof(*n));
    n->type = TRACEQL_N_BOOL;
    n->nodes = 1;
    n->u.b = b;
    return n;
}

static void push_kid(struct traceql_node *list, struct traceql_node *kid)
{
    if (list->u.list.n == list->u.list.cap) {
        list->u.list.cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        list->u.list.kids =
            ta_xreallocarray(list->u.list.kids, list->u.list.cap, sizeof(*list->u.list.kids));
    }
    if (list->u.list.n > 0)
        list->nodes = sat_add(list->nodes, 1); /* one more binary operator */
    list->u.list.kids[list->u.list.n++] = kid;
    list->nodes = sat_add(list->nodes, kid->nodes);
    if (kid->depth + 1 > list->depth)
        list->depth = kid->depth + 1; /* each operand is parenthesised */
}

static bool is_bool(const struct traceql_node *n, bool b)
{
    return n->type == TRACEQL_N_BOOL && n->u.b == b;
}

/* a op b, flattening operands that already are chains of the same operator and dropping the
 * neutral operand (true in &&, false in ||), so composing with `{ }` adds nothing. */
static struct traceql_node *new_list(enum traceql_node_type type, struct traceql_node *a,
                                     struct traceql_node *b)
{
    TA_ASSERT(a && b);
    bool neutral = type == TRACEQL_N_AND;
    if (is_bool(b, neutral)) {
        traceql_free(b);
        return a;
    }
    if (is_bool(a, neutral)) {
        traceql_free(a);
        return b;
    }
    struct traceql_node *n = a;
    if (a->type != type) {
        n = ta_xcalloc(1, sizeof(*n));
        n->type = type;
        push_kid(n, a);
    }
    if (b->type == type) {
        for (uint32_t i = 0; i < b->u.list.n; i++)
            push_kid(n, b->u.list.kids[i]);
        free(b->u.list.kids);
        free(b);
    } else {
        push_kid(n, b);
    }
    return n;
}

struct traceql_node *traceql_new_and(struct traceql_node *a, struct traceql_node *b)
{
    return new_list(TRACEQL_N_AND, a, b);
}

struct traceql_node *traceql_new_or(struct traceql_node *a, struct traceql_node *b)
{
    return new_list(TRACEQL_N_OR, a, b);
}

struct traceql_node *traceql_new_not(struct traceql_node *a)
{
    TA_ASSERT(a);
    struct traceql_node *n = ta_xcalloc(1, sizeof(*n));
    n->type = TRACEQL_N_NOT;
    n->u.child = a;
    n->nodes = sat_add(a->nodes, 1);
    n->depth = a->depth + 2; /* '!' and '(' */
    return n;
}

/* Appends the ERE form of one RE2 pattern: \d \s \w and their negations become classes, . one
 * UTF-8 character other than \n, (?: becomes (, lazy quantifiers lose their ? (full matching does
 * not care), a leading (?i) sets REG_ICASE. Anything POSIX cannot express the same way is refused
 * with a reason. */
static enum ta_rc re2_to_ere(struct slice p, struct buf *o, int *flags, struct ta_err *err)
{
    size_t i = 0, n = p.len;
    bool in_br = false;
    const char *s = p.ptr;
    enum ta_rc rc = TA_OK;
    if (n >= 4 && memcmp(s, "(?i)", 4) == 0) {
        *flags |= REG_ICASE;
        i = 4;
    }
    rc = buf_adds(o, "^(");
    while (rc == TA_OK && i < n) {
        char c = s[i];
        char e = i + 1 < n ? s[i + 1] : '\0';
        if (in_br) {
            if (c == ']') {
                in_br = false;
                rc = buf_addc(o, c);
                i++;
            } else if (c == '[' && e == ':') {
                const char *end = NULL;
                for (size_t j = i + 2; j + 1 < n; j++)
                    if (s[j] == ':' && s[j + 1] == ']') {
                        end = s + j + 2;
                        break;
                    }
                if (!end)
                    return ta_err_set(err, TA_INVALID, "unterminated [: class in regex");
                rc = buf_add(o, s + i, (size_t)(end - (s + i)));
                i = (size_t)(end - s);
            } else if (c == '\\') {
                if (i + 1 >= n)
                    return ta_err_set(err, TA_INVALID, "trailing backslash in regex");
                if (e == 'd')
                    rc = buf_adds(o, "0-9");
                else if (e == 's')
                    rc = buf_adds(o, " \t\n\r\f\v");
                else if (e == 'w')
                    rc = buf_adds(o, "A-Za-z0-9_");
                else if (e == 'n' || e == 't' || e == 'r' || e == 'f' || e == 'v')
                    rc = buf_addc(o, e == 'n'   ? '\n'
                                     : e == 't' ? '\t'
                                     : e == 'r' ? '\r'
                                     : e == 'f' ? '\f'
                                                : '\v');
                else if (e == '\\')
                    rc = buf_addc(o, '\\'); /* a backslash is literal inside POSIX [ ] */
                else if (e != ']' && e != '[' && e != '^' && e != '-' && e > 0x20 && e < 0x7F &&
                         !((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
                           (e >= '0' && e <= '9')))
                    rc = buf_addc(o, e);
                else
                    return ta_err_set(err, TA_INVALID,
                                      "unsupported escape \\%c inside [ ] of a regex (put ] "
                                      "first and - last instead)",
                                      e >= 0x20 && e < 0x7F ? e : '?');
                i += 2;
            } else {
                rc = buf_addc(o, c);
                i++;
            }
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= n)
                return ta_err_set(err, TA_INVALID, "trailing backslash in regex");
            static const char *const CLASSES[][2] = {
                { "d", "[0-9]" },        { "D", "[^0-9]" },       { "s", "[[:space:]]" },
                { "S", "[^[:space:]]" }, { "w", "[[:alnum:]_]" }, { "W", "[^[:alnum:]_]" },
            };
            bool done = false;
            for (size_t k = 0; k < sizeof(CLASSES) / sizeof(CLASSES[0]); k++)
                if (e == CLASSES[k][0][0]) {
                    rc = buf_adds(o, CLASSES[k][1]);
                    done = true;
                }
            if (done) {
            } else if (e == 'n' || e == 't' || e == 'r' || e == 'f' || e == 'v') {
                rc = buf_addc(o, e == 'n'   ? '\n'
                                 : e == 't' ? '\t'
                                 : e == 'r' ? '\r'
                                 : e == 'f' ? '\f'
                                            : '\v');
            } else if (e && strchr(".[]()*+?{}|^$\\", e)) {
                char esc[2] = { '\\', e };
                rc = buf_add(o, esc, 2);
            } else if (e > 0x20 && e < 0x7F &&
                       !((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
                         (e >= '0' && e <= '9'))) {
                rc = buf_addc(o, e); /* escaped punctuation that is not special in ERE */
            } else {
                return ta_err_set(err, TA_INVALID,
                                  "unsupported regex escape \\%c (supported: \\d \\D \\s \\S "
                                  "\\w \\W, \\n \\t \\r \\f \\v and escaped punctuation)",
                                  e >= 0x20 && e < 0x7F ? e : '?');
            }
            i += 2;
        } else if (c == '[') {
            in_br = true;
            rc = buf_addc(o, c);
            i++;
            if (rc == TA_OK && i < n && s[i] == '^') {
                rc = buf_addc(o, '^');
                i++;
            }
            if (rc == TA_OK && i < n && s[i] == ']') {
                rc = buf_addc(o, ']');
                i++;
            }
        } else if (c == '(' && e == '?') {
            if (i + 2 < n && s[i + 2] == ':') {
                rc = buf_addc(o, '(');
                i += 3;
            } else {
                return ta_err_set(err, TA_INVALID,
                                  "unsupported regex group '(?' (only (?: and a leading (?i) "
                                  "are supported)");
            }
        } else if (c == '.') {
            rc = buf_adds(o, ANY_CHAR); /* RE2's . is one UTF-8 character, not \n */
            i++;
        } else if ((c == '*' || c == '+' || c == '?' || c == '}') && e == '?') {
            rc = buf_addc(o, c); /* drop the lazy marker */
            i += 2;
        } else {
            rc = buf_addc(o, c);
            i++;
        }
    }
    if (rc != TA_OK)
        return ta_err_set(err, TA_TOO_LARGE, "regex too long");
    if (in_br)
        return ta_err_set(err, TA_INVALID, "missing ] in regex");
    if (buf_adds(o, ")$") != TA_OK)
        return ta_err_set(err, TA_TOO_LARGE, "regex too long");
    return TA_OK;
}

static enum ta_rc compile_regex(struct slice pat, regex_t **out, struct ta_err *err)
{
    struct buf ere;
    int flags = REG_EXTENDED | REG_NOSUB;
    enum ta_rc rc;
    *out = NULL;
    buf_init(&ere, TQ_REGEX_MAX);
    if (slice_has_nul(pat))
        return ta_err_set(err, TA_INVALID, "invalid regex: it contains a NUL byte");
    rc = re2_to_ere(pat, &ere, &flags, err);
    if (rc != TA_OK) {
        buf_free(&ere);
        if (err)
            ta_err_prefix(err, "invalid regex \"" SLICE_FMT "\"", SLICE_ARG(slice_head(pat, 40)));
        return rc;
    }
    regex_t *re = ta_xmalloc(sizeof(*re));
    int r = regcomp(re, buf_cstr(&ere), flags);
    buf_free(&ere);
    if (r != 0) {
        char why[128];
        regerror(r, re, why, sizeof(why));
        free(re);
        return ta_err_set(err, TA_INVALID, "invalid regex \"" SLICE_FMT "\": %s",
                          SLICE_ARG(slice_head(pat, 40)), why);
    }
    *out = re;
    return TA_OK;
}

static bool is_service_name(const struct traceql_attr *a)
{
    return a->scope == TRACEQL_SCOPE_RESOURCE &&
           slice_eq_cstr(slice_make(a->name, a->name_len), "service.name");
}

static bool attr_always_present(const struct traceql_attr *a)
{
    return a->scope == TRACEQL_SCOPE_INTRINSIC || is_service_name(a);
}

/* The checks Tempo's validator makes, plus the subset's own (see traceql.h). */
static enum ta_rc check_cmp(const struct traceql_attr *a, enum traceql_op op,
                            const struct traceql_literal *lit, struct ta_err *err)
{
    if ((unsigned)op > TRACEQL_OP_NRE)
        return ta_err_set(err, TA_INVALID, "unknown comparison operator");
    bool eqop = op == TRACEQL_OP_EQ || op == TRACEQL_OP_NE;
    bool reop = op == TRACEQL_OP_RE || op == TRACEQL_OP_NRE;
    bool intr = a->scope == TRACEQL_SCOPE_INTRINSIC;
    const char *iname = intr ? INTRINSIC_NAMES[a->intrinsic] : "";

    switch (lit->type) {
    case TRACEQL_LIT_NIL:
        if (!eqop)
            return ta_err_set(err, TA_INVALID, "nil can only be compared with = or !=");
        if (intr)
            return ta_err_set(err, TA_INVALID,
                              "nil comparisons are not allowed on the intrinsic %s (Tempo "
                              "rejects them; it always exists)",
                              iname);
        if (is_service_name(a))
            return ta_err_set(err, TA_INVALID,
                              "nil comparisons are not allowed on resource.service.name (Tempo "
                              "rejects them; it always exists)");
        return TA_OK;
    case TRACEQL_LIT_KIND:
        if (!intr || a->intrinsic != TRACEQL_INTRINSIC_KIND)
            return ta_err_set(err, TA_INVALID,
                              "kind words (server, client, …) compare only with kind; quote "
                              "them to compare a string");
        if (!eqop)
            return ta_err_set(err, TA_INVALID, "kind can only be compared with = or !=");
        return TA_OK;
    case TRACEQL_LIT_STATUS:
        if (!intr || a->intrinsic != TRACEQL_INTRINSIC_STATUS)
            return ta_err_set(err, TA_INVALID,
                              "status words (ok, error, unset) compare only with status; quote "
                              "them to compare a string");
        if (!eqop)
            return ta_err_set(err, TA_INVALID, "status can only be compared with = or !=");
        return TA_OK;
    case TRACEQL_LIT_FLOAT:
        if (!isfinite(lit->u.f))
            return ta_err_set(err, TA_INVALID, "numbers must be finite");
        break;
    case TRACEQL_LIT_BOOL:
        if (!eqop)
            return ta_err_set(err, TA_INVALID, "true and false can only be compared with = or !=");
        break;
    default:
        break;
    }
    if (intr) {
        switch (a->intrinsic) {
        case TRACEQL_INTRINSIC_NAME:
            if (lit->type != TRACEQL_LIT_STRING)
                return ta_err_set(err, TA_INVALID,
                                  "name compares only with strings, e.g. name = \"GET /cart\"");
            break;
        case TRACEQL_INTRINSIC_KIND:
            return ta_err_set(err, TA_INVALID,
                              "kind compares only with the words unspecified, internal, server, "
                              "client, producer, consumer (unquoted), e.g. kind = server");
        case TRACEQL_INTRINSIC_STATUS:
            return ta_err_set(err, TA_INVALID,
                              "status compares only with the words ok, error, unset (unquoted), "
                              "e.g. status = error");
        case TRACEQL_INTRINSIC_DURATION:
            if (reop || (lit->type != TRACEQL_LIT_DURATION && lit->type != TRACEQL_LIT_INT &&
                         lit->type != TRACEQL_LIT_FLOAT))
                return ta_err_set(err, TA_INVALID,
                                  "duration compares only with durations (or nanoseconds), e.g. "
                                  "duration > 300ms");
            break;
        default:
            return ta_err_set(err, TA_INVALID, "unknown intrinsic");
        }
    }
    if (reop && lit->type != TRACEQL_LIT_STRING)
        return ta_err_set(err, TA_INVALID, "%s needs a string regex on its right", OP_NAMES[op]);
    return TA_OK;
}

static void attr_move(struct traceql_attr *dst, struct traceql_attr *src)
{
    *dst = *src;
    src->name = NULL;
    src->name_len = 0;
}

static void attr_copy(struct traceql_attr *dst, const struct traceql_attr *src)
{
    *dst = *src;
    if (src->name)
        dst->name = ta_xstrndup(src->name, src->name_len);
}

static bool attr_equal(const struct traceql_attr *a, const struct traceql_attr *b)
{
    if (a->scope != b->scope)
        return false;
    if (a->scope == TRACEQL_SCOPE_INTRINSIC)
        return a->intrinsic == b->intrinsic;
    return slice_eq(slice_make(a->name, a->name_len), slice_make(b->name, b->name_len));
}

/* Copies lit into the comparison (strings are duplicated) and compiles its regex. */
static enum ta_rc set_literal(struct traceql_cmp *c, const struct traceql_literal *lit,
                              struct ta_err *err)
{
    c->lit = *lit;
    if (lit->type == TRACEQL_LIT_STRING) {
        size_t len = lit->u.str.len;
        c->str = ta_xmalloc(len + 1);
        if (len)
            memcpy(c->str, lit->u.str.ptr, len);
        c->str[len] = '\0';
        c->lit.u.str = slice_make(c->str, len);
    }
    if (c->op == TRACEQL_OP_RE || c->op == TRACEQL_OP_NRE)
        return compile_regex(c->lit.u.str, &c->re, err);
    return TA_OK;
}

enum ta_rc traceql_new_cmp(struct traceql_node *attr, enum traceql_op op,
                           const struct traceql_literal *lit, struct traceql_node **out,
                           struct ta_err *err)
{
    *out = NULL;
    if (!attr || attr->type != TRACEQL_N_ATTR || !lit) {
        traceql_free(attr);
        return ta_err_set(err, TA_INVALID, "a comparison needs an attribute and a literal");
    }
    enum ta_rc rc = check_cmp(&attr->u.attr, op, lit, err);
    if (rc != TA_OK) {
        traceql_free(attr);
        return rc;
    }
    struct traceql_node *n = ta_xcalloc(1, sizeof(*n));
    n->type = TRACEQL_N_CMP;
    n->nodes = 1;
    n->u.cmp.op = op;
    attr_move(&n->u.cmp.attr, &attr->u.attr);
    traceql_free(attr);
    rc = set_literal(&n->u.cmp, lit, err);
    if (rc != TA_OK) {
        traceql_free(n);
        return rc;
    }
    *out = n;
    return TA_OK;
}

void traceql_free(struct traceql_node *n)
{
    if (!n)
        return;
    switch (n->type) {
    case TRACEQL_N_AND:
    case TRACEQL_N_OR:
        for (uint32_t i = 0; i < n->u.list.n; i++)
            traceql_free(n->u.list.kids[i]);
        free(n->u.list.kids);
        break;
    case TRACEQL_N_NOT:
        traceql_free(n->u.child);
        break;
    case TRACEQL_N_CMP:
        free(n->u.cmp.attr.name);
        free(n->u.cmp.str);
        if (n->u.cmp.re) {
            regfree(n->u.cmp.re);
            free(n->u.cmp.re);
        }
        break;
    case TRACEQL_N_ATTR:
        free(n->u.attr.name);
        break;
    case TRACEQL_N_BOOL:
        break;
    }
    free(n);
}

struct traceql_node *traceql_clone(const struct traceql_node *n)
{
    if (!n)
        return NULL;
    struct traceql_node *c = ta_xcalloc(1, sizeof(*c));
    *c = *n;
    switch (n->type) {
    case TRACEQL_N_AND:
    case TRACEQL_N_OR:
        c->u.list.kids = ta_xreallocarray(NULL, n->u.list.n, sizeof(*c->u.list.kids));
        c->u.list.cap = n->u.list.n;
        for (uint32_t i = 0; i < n->u.list.n; i++)
            c->u.list.kids[i] = traceql_clone(n->u.list.kids[i]);
        break;
    case TRACEQL_N_NOT:
        c->u.child = traceql_clone(n->u.child);
        break;
    case TRACEQL_N_CMP: {
        attr_copy(&c->u.cmp.attr, &n->u.cmp.attr);
        c->u.cmp.str = NULL;
        c->u.cmp.re = NULL;
        enum ta_rc rc = set_literal(&c->u.cmp, &n->u.cmp.lit, NULL);
        TA_ASSERT(rc == TA_OK); /* it compiled when n was built */
        break;
    }
    case TRACEQL_N_ATTR:
        attr_copy(&c->u.attr, &n->u.attr);
        break;
    case TRACEQL_N_BOOL:
        break;
    }
    return c;
}

static bool literal_equal(const struct traceql_literal *a, const struct traceql_literal *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TRACEQL_LIT_STRING:
        return slice_eq(a->u.str, b->u.str);
    case TRACEQL_LIT_INT:
        return a->u.i == b->u.i;
    case TRACEQL_LIT_FLOAT:
        return a->u.f == b->u.f;
    case TRACEQL_LIT_DURATION:
        return a->u.dur_ns == b->u.dur_ns;
    case TRACEQL_LIT_BOOL:
        return a->u.b == b->u.b;
    case TRACEQL_LIT_NIL:
        return true;
    case TRACEQL_LIT_KIND:
        return a->u.kind == b->u.kind;
    case TRACEQL_LIT_STATUS:
        return a->u.status == b->u.status;
    }
    return false;
}

bool traceql_equal(const struct traceql_node *a, const struct traceql_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TRACEQL_N_AND:
    case TRACEQL_N_OR:
        if (a->u.list.n != b->u.list.n)
            return false;
        for (uint32_t i = 0; i < a->u.list.n; i++)
            if (!traceql_equal(a->u.list.kids[i], b->u.list.kids[i]))
                return false;
        return true;
    case TRACEQL_N_NOT:
        return traceql_equal(a->u.child, b->u.child);
    case TRACEQL_N_CMP:
        return a->u.cmp.op == b->u.cmp.op && attr_equal(&a->u.cmp.attr, &b->u.cmp.attr) &&
               literal_equal(&a->u.cmp.lit, &b->u.cmp.lit);
    case TRACEQL_N_ATTR:
        return attr_equal(&a->u.attr, &b->u.attr);
    case TRACEQL_N_BOOL:
        return a->u.b == b->u.b;
    }
    return false;
}

bool traceql_attr_always_present(const struct traceql_node *attr)
{
    return attr && attr->type == TRACEQL_N_ATTR && attr_always_present(&attr->u.attr);
}

bool traceql_attr_info(const struct traceql_node *n, enum traceql_scope *scope, struct slice *name,
                       enum traceql_intrinsic *which)
{
    if (!n || n->type != TRACEQL_N_ATTR)
        return false;
    if (scope)
        *scope = n->u.attr.scope;
    if (name)
        *name = n->u.attr.name ? slice_make(n->u.attr.name, n->u.attr.name_len) : slice_make("", 0);
    if (which)
        *which = n->u.attr.intrinsic;
    return true;
}

static void visit_attr(const struct traceql_attr *a,
                       void (*fn)(void *arg, enum traceql_scope scope, struct slice name),
                       void *arg)
{
    if (a->scope != TRACEQL_SCOPE_INTRINSIC)
        fn(arg, a->scope, slice_make(a->name, a->name_len));
}

void traceql_visit_attrs(const struct traceql_node *n,
                         void (*fn)(void *arg, enum traceql_scope scope, struct slice name),
                         void *arg)
{
    if (!n)
        return;
    switch (n->type) {
    case TRACEQL_N_AND:
    case TRACEQL_N_OR:
        for (uint32_t i = 0; i < n->u.list.n; i++)
            traceql_visit_attrs(n->u.list.kids[i], fn, arg);
        break;
    case TRACEQL_N_NOT:
        traceql_visit_attrs(n->u.child, fn, arg);
        break;
    case TRACEQL_N_CMP:
        visit_attr(&n->u.cmp.attr, fn, arg);
        break;
    case TRACEQL_N_ATTR:
        visit_attr(&n->u.attr, fn, arg);
        break;
    case TRACEQL_N_BOOL:
        break;
    }
}
