/* traceql_parse.c — recursive-descent parser for one TraceQL spanset filter `{ … }`.
 *
 * rules/rules.c calls traceql_parse_pos for the `spans` and `io` filters and
 * traceql_parse_attr for `labels` and `namespaceAttribute`. Grammar (Tempo's precedence: &&
 * and || share one level and associate left; comparisons bind tighter; `!` must be followed
 * by '(' because Tempo binds it tighter than comparisons):
 *   filter := '{' [expr] '}'      expr := unary (('&&' | '||') unary)*
 *   unary  := '!' unary | '(' expr ')' | true | false | operand cmpop operand
 * Every comparison goes through traceql_new_cmp, so parsed trees pass the same validation as
 * built ones. Recursion carries a depth counter (TRACEQL_MAX_DEPTH). Pure: any thread. */
#include "rules/traceql.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rules/traceql_int.h"

struct parser {
    struct tq_lexer lx;
    struct tq_token tok; /* the current token */
    size_t err_off;
};

/* One side of a comparison: an attribute node or a literal (strings copied into str). */
struct operand {
    struct traceql_node *attr;
    struct traceql_literal lit;
    struct buf str;
    size_t off;
};

static enum ta_rc advance(struct parser *p, struct ta_err *err)
{
    enum ta_rc rc = tq_lex_next(&p->lx, &p->tok, err);
    if (rc != TA_OK)
        p->err_off = p->lx.err_off;
    return rc;
}

static enum ta_rc fail_at(struct parser *p, size_t off, struct ta_err *err, enum ta_rc rc,
                          const char *fmt, ...) TA_PRINTF(5, 6);

static enum ta_rc fail_at(struct parser *p, size_t off, struct ta_err *err, enum ta_rc rc,
                          const char *fmt, ...)
{
    p->err_off = off;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->rc = rc;
    }
    return rc;
}

static struct slice tok_text(const struct parser *p)
{
    return slice_head(slice_make(p->lx.src.ptr + p->tok.off, p->tok.len), 24);
}

/* The error for a token that cannot appear here; expected says what could. */
static enum ta_rc unexpected(struct parser *p, const char *expected, struct ta_err *err)
{
    size_t off = p->tok.off;
    switch (p->tok.type) {
    case TQ_STRUCT:
        return fail_at(p, off, err, TA_INVALID,
                       "unsupported operator '" SLICE_FMT "' (only one spanset filter is allowed)",
                       SLICE_ARG(tok_text(p)));
    case TQ_PIPE:
        return fail_at(p, off, err, TA_INVALID,
                       "pipelines ('|') are not supported: a filter is one { … } spanset filter");
    case TQ_ARITH:
        return fail_at(p, off, err, TA_INVALID, "arithmetic ('" SLICE_FMT "') is not supported",
                       SLICE_ARG(tok_text(p)));
    case TQ_LBRACE:
        return fail_at(p, off, err, TA_INVALID,
                       "unexpected '{' (only one spanset filter is allowed)");
    case TQ_EOF:
        return fail_at(p, off, err, TA_INVALID, "unexpected end of the filter; %s", expected);
    default:
        return fail_at(p, off, err, TA_INVALID, "unexpected '" SLICE_FMT "'; %s",
                       SLICE_ARG(tok_text(p)), expected);
    }
}

static enum ta_rc check_limits(struct parser *p, const struct traceql_node *n, size_t off,
                               struct ta_err *err)
{
    if (n->nodes > TRACEQL_MAX_NODES)
        return fail_at(p, off, err, TA_TOO_LARGE,
                       "more than %d comparisons and operators in one filter", TRACEQL_MAX_NODES);
    if (n->depth > TRACEQL_MAX_DEPTH)
        return fail_at(p, off, err, TA_TOO_LARGE,
                       "nested deeper than %d levels (counting the parentheses of the "
                       "canonical form)",
                       TRACEQL_MAX_DEPTH);
    return TA_OK;
}

static void operand_free(struct operand *o)
{
    traceql_free(o->attr);
    o->attr = NULL;
    buf_free(&o->str);
}

/* Reads the current token as an operand and advances past it. */
static enum ta_rc read_operand(struct parser *p, struct operand *o, struct ta_err *err)
{
    o->off = p->tok.off;
    switch (p->tok.type) {
    case TQ_ATTR:
        o->attr = tq_new_attr(p->tok.scope, TRACEQL_INTRINSIC_NAME, buf_slice(&p->tok.text));
        break;
    case TQ_INTRINSIC:
        o->attr = traceql_new_intrinsic(p->tok.intrinsic);
        break;
    case TQ_LIT:
        o->lit = p->tok.lit;
        if (o->lit.type == TRACEQL_LIT_STRING) {
            if (buf_add_slice(&o->str, buf_slice(&p->tok.text)) != TA_OK)
                return fail_at(p, o->off, err, TA_TOO_LARGE, "string too long");
            o->lit.u.str = buf_slice(&o->str);
        }
        break;
    default:
        return unexpected(p, "expected an attribute or a value", err);
    }
    return advance(p, err);
}

static enum ta_rc parse_expr(struct parser *p, uint32_t depth, struct traceql_node **out,
                             struct ta_err *err);

static const char *const OPS[] = { "=", "!=", "<", "<=", ">", ">=", "=~", "!~" };

static enum traceql_op flip(enum traceql_op op)
{
    switch (op) {
    case TRACEQL_OP_LT:
        return TRACEQL_OP_GT;
    case TRACEQL_OP_LE:
        return TRACEQL_OP_GE;
    case TRACEQL_OP_GT:
        return TRACEQL_OP_LT;
    case TRACEQL_OP_GE:
        return TRACEQL_OP_LE;
    default:
        return op;
    }
}

/* operand cmpop operand; a lone true/false is a boolean node. */
static enum ta_rc parse_cmp(struct parser *p, struct traceql_node **out, struct ta_err *err)
{
    struct operand l = { 0 }, r = { 0 };
    enum ta_rc rc;
    buf_init(&l.str, TRACEQL_MAX_LEN);
    buf_init(&r.str, TRACEQL_MAX_LEN);
    if (p->tok.type != TQ_ATTR && p->tok.type != TQ_INTRINSIC && p->tok.type != TQ_LIT) {
        rc = unexpected(p, "expected a comparison such as kind = server", err);
        goto out;
    }
    if ((rc = read_operand(p, &l, err)) != TA_OK)
        goto out;
    if (p->tok.type != TQ_CMPOP) {
        if (!l.attr && l.lit.type == TRACEQL_LIT_BOOL) {
            *out = traceql_new_bool(l.lit.u.b);
            goto out;
        }
        rc = unexpected(p, "expected a comparison operator (= != < <= > >= =~ !~)", err);
        goto out;
    }
    enum traceql_op op = p->tok.op;
    size_t opoff = p->tok.off;
    if ((rc = advance(p, err)) != TA_OK)
        goto out;
    if (p->tok.type != TQ_ATTR && p->tok.type != TQ_INTRINSIC && p->tok.type != TQ_LIT) {
        rc = unexpected(p, "expected a value after the operator", err);
        goto out;
    }
    if ((rc = read_operand(p, &r, err)) != TA_OK)
        goto out;
    if (l.attr && r.attr) {
        rc = fail_at(p, opoff, err, TA_INVALID,
                     "comparing two attributes is not supported; compare an attribute with a "
                     "value");
        goto out;
    }
    if (!l.attr && !r.attr) {
        rc = fail_at(p, opoff, err, TA_INVALID,
                     "a comparison needs an attribute or intrinsic on one side");
        goto out;
    }
    struct operand *a = &l, *v = &r;
    if (!l.attr) {
        if (op == TRACEQL_OP_RE || op == TRACEQL_OP_NRE) {
            rc =
                fail_at(p, opoff, err, TA_INVALID, "the regex must be on the right of %s", OPS[op]);
            goto out;
        }
        op = flip(op);
        a = &r;
        v = &l;
    }
    struct traceql_node *attr = a->attr;
    a->attr = NULL;
    rc = traceql_new_cmp(attr, op, &v->lit, out, err);
    if (rc != TA_OK)
        p->err_off = opoff;
out:
    operand_free(&l);
    operand_free(&r);
    return rc;
}

static enum ta_rc too_deep(struct parser *p, size_t off, struct ta_err *err)
{
    return fail_at(p, off, err, TA_TOO_LARGE, "nested deeper than %d levels", TRACEQL_MAX_DEPTH);
}

static enum ta_rc parse_unary(struct parser *p, uint32_t depth, struct traceql_node **out,
                              struct ta_err *err)
{
    struct traceql_node *n = NULL;
    size_t off = p->tok.off;
    enum ta_rc rc;
    *out = NULL;
    if (p->tok.type == TQ_NOT) {
        if (depth + 1 > TRACEQL_MAX_DEPTH)
            return too_deep(p, off, err);
        if ((rc = advance(p, err)) != TA_OK)
            return rc;
        if (p->tok.type != TQ_LPAREN && p->tok.type != TQ_NOT &&
            !(p->tok.type == TQ_LIT && p->tok.lit.type == TRACEQL_LIT_BOOL))
            return fail_at(p, p->tok.off, err, TA_INVALID,
                           "'!' must be followed by '(': Tempo binds ! tighter than comparisons, "
                           "so write !(a = b)");
        if ((rc = parse_unary(p, depth + 1, &n, err)) != TA_OK)
            return rc;
        n = traceql_new_not(n);
        if ((rc = check_limits(p, n, off, err)) != TA_OK) {
            traceql_free(n);
            return rc;
        }
        *out = n;
        return TA_OK;
    }
    if (p->tok.type == TQ_LPAREN) {
        if (depth + 1 > TRACEQL_MAX_DEPTH)
            return too_deep(p, off, err);
        if ((rc = advance(p, err)) != TA_OK)
            return rc;
        if ((rc = parse_expr(p, depth + 1, &n, err)) != TA_OK)
            return rc;
        if (p->tok.type != TQ_RPAREN) {
            rc = unexpected(p, "expected &&, || or ')'", err);
            traceql_free(n);
            return rc;
        }
        if ((rc = advance(p, err)) != TA_OK) {
            traceql_free(n);
            return rc;
        }
        *out = n;
        return TA_OK;
    }
    return parse_cmp(p, out, err);
}

static enum ta_rc parse_expr(struct parser *p, uint32_t depth, struct traceql_node **out,
                             struct ta_err *err)
{
    struct traceql_node *left = NULL, *right = NULL;
    enum ta_rc rc = parse_unary(p, depth, &left, err);
    *out = NULL;
    if (rc != TA_OK)
        return rc;
    while (p->tok.type == TQ_AND || p->tok.type == TQ_OR) {
        enum tq_tok t = p->tok.type;
        size_t off = p->tok.off;
        if ((rc = advance(p, err)) != TA_OK)
            goto fail;
        if ((rc = parse_unary(p, depth, &right, err)) != TA_OK)
            goto fail;
        left = t == TQ_AND ? traceql_new_and(left, right) : traceql_new_or(left, right);
        if ((rc = check_limits(p, left, off, err)) != TA_OK)
            goto fail;
    }
    *out = left;
    return TA_OK;
fail:
    traceql_free(left);
    return rc;
}

/* Length, NUL and UTF-8 checks shared by both entry points. */
static enum ta_rc check_text(struct parser *p, struct slice text, struct ta_err *err)
{
    if (text.len > TRACEQL_MAX_LEN)
        return fail_at(p, TRACEQL_MAX_LEN, err, TA_TOO_LARGE, "filter is %zu bytes, more than %d",
                       text.len, TRACEQL_MAX_LEN);
    for (size_t i = 0; i < text.len;) {
        if (text.ptr[i] == '\0')
            return fail_at(p, i, err, TA_INVALID, "NUL byte in the filter");
        size_t l = tq_utf8_len((const unsigned char *)text.ptr + i, text.len - i);
        if (l == 0)
            return fail_at(p, i, err, TA_INVALID, "invalid UTF-8");
        i += l;
    }
    return TA_OK;
}

static void parser_init(struct parser *p, struct slice text)
{
    memset(p, 0, sizeof(*p));
    p->lx.src = text.ptr ? text : slice_make("", 0);
    buf_init(&p->tok.text, TRACEQL_MAX_LEN);
}

/* Prefixes err with the position of p->err_off. */
static enum ta_rc finish(struct parser *p, struct slice text, enum ta_rc rc, size_t *err_off,
                         struct ta_err *err)
{
    buf_free(&p->tok.text);
    if (rc == TA_OK)
        return rc;
    if (err_off)
        *err_off = p->err_off;
    if (err) {
        char pos[48];
        tq_position(text, p->err_off, pos, sizeof(pos));
        ta_err_prefix(err, "%s", pos);
        err->rc = rc;
    }
    return rc;
}

enum ta_rc traceql_parse_pos(struct slice text, struct traceql_node **out, size_t *err_off,
                             struct ta_err *err)
{
    struct parser p;
    struct traceql_node *n = NULL;
    enum ta_rc rc;
    *out = NULL;
    parser_init(&p, text);
    text = p.lx.src;
    if ((rc = check_text(&p, text, err)) != TA_OK)
        goto out;
    if ((rc = advance(&p, err)) != TA_OK)
        goto out;
    if (p.tok.type != TQ_LBRACE) {
        rc = fail_at(&p, p.tok.off, err, TA_INVALID,
                     p.tok.type == TQ_EOF ? "empty filter; write one spanset filter such as { "
                                            "kind = server }"
                                          : "expected '{': a filter is one spanset filter such "
                                            "as { kind = server }");
        goto out;
    }
    if ((rc = advance(&p, err)) != TA_OK)
        goto out;
    if (p.tok.type == TQ_RBRACE) {
        n = traceql_new_bool(true); /* { } matches every span, as in Tempo */
    } else {
        if ((rc = parse_expr(&p, 0, &n, err)) != TA_OK)
            goto out;
        if (p.tok.type != TQ_RBRACE) {
            rc = unexpected(&p, "expected &&, || or '}'", err);
            goto out;
        }
    }
    if ((rc = advance(&p, err)) != TA_OK)
        goto out;
    switch (p.tok.type) {
    case TQ_EOF:
        break;
    case TQ_AND:
    case TQ_OR:
    case TQ_CMPOP:
    case TQ_STRUCT:
        rc = fail_at(&p, p.tok.off, err, TA_INVALID,
                     "unsupported operator '" SLICE_FMT "' (only one spanset filter is allowed)",
                     SLICE_ARG(tok_text(&p)));
        goto out;
    case TQ_PIPE:
        rc = unexpected(&p, "", err);
        goto out;
    case TQ_LBRACE:
        rc = fail_at(&p, p.tok.off, err, TA_INVALID, "only one spanset filter is allowed");
        goto out;
    default:
        rc = fail_at(&p, p.tok.off, err, TA_INVALID, "unexpected text after the closing '}'");
        goto out;
    }
    *out = n;
    n = NULL;
out:
    traceql_free(n);
    return finish(&p, text, rc, err_off, err);
}

enum ta_rc traceql_parse(struct slice text, struct traceql_node **out, struct ta_err *err)
{
    return traceql_parse_pos(text, out, NULL, err);
}

enum ta_rc traceql_parse_attr(struct slice text, struct traceql_node **out, struct ta_err *err)
{
    struct parser p;
    struct traceql_node *n = NULL;
    enum ta_rc rc;
    const char *want = "expected an attribute such as resource.service.name, span.http.route, "
                       ".x or an intrinsic such as name";
    *out = NULL;
    parser_init(&p, text);
    text = p.lx.src;
    if ((rc = check_text(&p, text, err)) != TA_OK)
        goto out;
    if ((rc = advance(&p, err)) != TA_OK)
        goto out;
    if (p.tok.type == TQ_ATTR) {
        n = tq_new_attr(p.tok.scope, TRACEQL_INTRINSIC_NAME, buf_slice(&p.tok.text));
    } else if (p.tok.type == TQ_INTRINSIC) {
        n = traceql_new_intrinsic(p.tok.intrinsic);
    } else {
        rc = p.tok.type == TQ_EOF ? fail_at(&p, 0, err, TA_INVALID, "empty attribute; %s", want)
                                  : unexpected(&p, want, err);
        goto out;
    }
    if ((rc = advance(&p, err)) != TA_OK)
        goto out;
    if (p.tok.type != TQ_EOF) {
        rc = fail_at(&p, p.tok.off, err, TA_INVALID, "unexpected text after the attribute; %s",
                     want);
        goto out;
    }
    *out = n;
    n = NULL;
out:
    traceql_free(n);
    return finish(&p, text, rc, NULL, err);
}
