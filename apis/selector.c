/* selector.c — parses a Kubernetes labelSelector into a sorted list of requirements.
 *
 * A port of apimachinery's labels.Parse (lexer, recursive descent, error texts) with the key and
 * value checks of content.IsLabelKey / IsLabelValue; `>` and `<` are refused because external
 * metrics selectors never carry them. apis/route.c passes the form-decoded labelSelector value;
 * rules/ and server/ read the result. No I/O, no globals: any thread. */
#include "apis/selector.h"

#include <stdlib.h>
#include <string.h>

#include "apis/base/ta_mem.h"
#include "apis/query.h"

#define LIT_SHOWN 64 /* bytes of an offending token or value quoted in a message */

/* ---- lexer (labels.Lexer) ---------------------------------------------------------------- */

enum tok {
    TOK_EOS,
    TOK_CLOSE, /* ) */
    TOK_COMMA, /* , */
    TOK_NOT,   /* ! */
    TOK_DEQ,   /* == */
    TOK_EQ,    /* = */
    TOK_GT,    /* > */
    TOK_ID,    /* any run of other bytes */
    TOK_IN,    /* in */
    TOK_LT,    /* < */
    TOK_NEQ,   /* != */
    TOK_NOTIN, /* notin */
    TOK_OPEN,  /* ( */
};

struct token {
    enum tok tok;
    struct slice lit;
};

struct lexer {
    struct slice s;
    size_t pos;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static struct token lex(struct lexer *l)
{
    while (l->pos < l->s.len && is_blank(l->s.ptr[l->pos]))
        l->pos++;
    size_t start = l->pos;
    if (start == l->s.len)
        return (struct token){ TOK_EOS, slice_make("", 0) };
    char c = l->s.ptr[start];
    if (is_special(c)) {
        char next = start + 1 < l->s.len ? l->s.ptr[start + 1] : '\0';
        enum tok t = TOK_EOS;
        size_t n = 1;
        switch (c) {
        case '=':
            t = next == '=' ? TOK_DEQ : TOK_EQ;
            n = next == '=' ? 2 : 1;
            break;
        case '!':
            t = next == '=' ? TOK_NEQ : TOK_NOT;
            n = next == '=' ? 2 : 1;
            break;
        case '(':
            t = TOK_OPEN;
            break;
        case ')':
            t = TOK_CLOSE;
            break;
        case ',':
            t = TOK_COMMA;
            break;
        case '>':
            t = TOK_GT;
            break;
        default:
            t = TOK_LT;
            break;
        }
        l->pos += n;
        return (struct token){ t, slice_make(l->s.ptr + start, n) };
    }
    while (l->pos < l->s.len && !is_special(l->s.ptr[l->pos]) && !is_blank(l->s.ptr[l->pos]))
        l->pos++;
    struct slice lit = slice_make(l->s.ptr + start, l->pos - start);
    enum tok t = TOK_ID;
    if (slice_eq_cstr(lit, "in"))
        t = TOK_IN;
    else if (slice_eq_cstr(lit, "notin"))
        t = TOK_NOTIN;
    return (struct token){ t, lit };
}

/* ---- parser state ------------------------------------------------------------------------ */

enum ctx {
    CTX_KEY_AND_OPERATOR, /* in / notin are keywords */
    CTX_VALUES,           /* in / notin are identifiers */
};

struct parser {
    struct lexer lx;
    struct token cur; /* the lookahead token */
    struct ta_err *err;
};

static enum tok kind_in(enum tok t, enum ctx c)
{
    if (c == CTX_VALUES && (t == TOK_IN || t == TOK_NOTIN))
        return TOK_ID;
    return t;
}

static struct token lookahead(const struct parser *p, enum ctx c)
{
    return (struct token){ kind_in(p->cur.tok, c), p->cur.lit };
}

static struct token consume(struct parser *p, enum ctx c)
{
    struct token t = lookahead(p, c);
    if (p->cur.tok != TOK_EOS)
        p->cur = lex(&p->lx);
    return t;
}

/* "%.*s%s" arguments showing at most LIT_SHOWN bytes of a token. */
#define LIT_ARG(s) \
    (int)((s).len > LIT_SHOWN ? LIT_SHOWN : (s).len), (s).ptr, ((s).len > LIT_SHOWN ? "..." : "")

/* ---- key and value validation (content.IsLabelKey / IsLabelValue) ------------------------ */

#define LABEL_NAME_MAX    63  /* labelKeyMaxLength, LabelValueMaxLength (in the messages too) */
#define DNS_SUBDOMAIN_MAX 253 /* DNS1123SubdomainMaxLength (in the messages too) */

static const char LABEL_KEY_MSG[] = "must consist of alphanumeric characters, '-', '_' or '.', and "
                                    "must start and end with an alphanumeric character";
static const char LABEL_VALUE_MSG[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
static const char SUBDOMAIN_MSG[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool valid_label_name(struct slice s)
{
    if (s.len == 0 || !is_alnum(s.ptr[0]) || !is_alnum(s.ptr[s.len - 1]))
        return false;
    for (size_t i = 1; i + 1 < s.len; i++) {
        char c = s.ptr[i];
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)* */
static bool valid_subdomain(struct slice s)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < s.len && s.ptr[i] != '.') {
            if (!is_lower_alnum(s.ptr[i]) && s.ptr[i] != '-')
                return false;
            i++;
        }
        if (i == start || !is_lower_alnum(s.ptr[start]) || !is_lower_alnum(s.ptr[i - 1]))
            return false;
        if (i == s.len)
            return true;
        i++; /* the dot */
    }
}

/* Appends s to d[cap] (always NUL-terminated; cut when full). */
static void append(char *d, size_t cap, const char *s)
{
    size_t n = strlen(d), m = strlen(s);
    if (n + 1 >= cap)
        return;
    if (m > cap - 1 - n)
        m = cap - 1 - n;
    memcpy(d + n, s, m);
    d[n + m] = '\0';
}

/* Appends "; " (unless d is empty), then a and b: one of Kubernetes' messages joined by "; ". */
static void detail_add(char *d, size_t cap, const char *a, const char *b)
{
    if (d[0])
        append(d, cap, "; ");
    append(d, cap, a);
    append(d, cap, b);
}

/* Fills d with IsLabelKey's messages joined by "; "; returns false when the key is invalid. */
static bool check_key(struct slice key, char *d, size_t cap)
{
    d[0] = '\0';
    struct slice prefix, name = key;
    bool slash;
    struct slice rest = slice_cut(key, '/', &prefix, &slash);
    if (slash) {
        if (slice_index(rest, '/') >= 0) {
            detail_add(d, cap, "a valid label key ", LABEL_KEY_MSG);
            append(d, cap,
                   " with an optional DNS subdomain prefix and '/' (e.g. "
                   "'example.com/MyName')");
            return false;
        }
        name = rest;
        if (prefix.len == 0) {
            detail_add(d, cap, "prefix part must be non-empty", "");
        } else {
            if (prefix.len > DNS_SUBDOMAIN_MAX)
                detail_add(d, cap, "prefix part must be no more than 253 characters", "");
            if (!valid_subdomain(prefix))
                detail_add(d, cap, "prefix part ", SUBDOMAIN_MSG);
        }
    }
    if (name.len == 0)
        detail_add(d, cap, "name part must be non-empty", "");
    else if (name.len > LABEL_NAME_MAX)
        detail_add(d, cap, "name part must be no more than 63 characters", "");
    if (!valid_label_name(name))
        detail_add(d, cap, "name part ", LABEL_KEY_MSG);
    return d[0] == '\0';
}

static bool check_value(struct slice v, char *d, size_t cap)
{
    d[0] = '\0';
    if (v.len > LABEL_NAME_MAX)
        detail_add(d, cap, "must be no more than 63 characters", "");
    if (v.len > 0 && !valid_label_name(v))
        detail_add(d, cap, LABEL_VALUE_MSG, "");
    return d[0] == '\0';
}

static enum ta_rc key_error(struct parser *p, struct slice key)
{
    char detail[TA_ERR_MSG_MAX];
    char q[QUERY_QUOTE_SIZE(LIT_SHOWN)];
    if (check_key(key, detail, sizeof(detail)))
        return TA_OK;
    query_quote(key, LIT_SHOWN, q, sizeof(q));
    return ta_err_set(p->err, TA_INVALID, "unable to parse requirement: invalid label key %s: %s",
                      q, detail);
}

/* ---- requirements under construction ------------------------------------------------------ */

struct values {
    struct slice v[SELECTOR_MAX_VALUES];
    size_t n;
};

/* Adds v unless present; TA_TOO_LARGE past SELECTOR_MAX_VALUES distinct values. */
static enum ta_rc values_insert(struct parser *p, struct values *vs, struct slice v)
{
    for (size_t i = 0; i < vs->n; i++)
        if (slice_eq(vs->v[i], v))
            return TA_OK;
    if (vs->n == SELECTOR_MAX_VALUES)
        return ta_err_set(p->err, TA_TOO_LARGE,
                          "labelSelector: a set has more than %d distinct values",
                          SELECTOR_MAX_VALUES);
    vs->v[vs->n++] = v;
    return TA_OK;
}

static int cmp_slices(const void *a, const void *b)
{
    return slice_cmp(*(const struct slice *)a, *(const struct slice *)b);
}

/* ---- grammar (labels.Parser) ------------------------------------------------------------- */

static enum ta_rc parse_values(struct parser *p, struct values *vs)
{
    struct token t = consume(p, CTX_VALUES);
    if (t.tok != TOK_OPEN)
        return ta_err_set(p->err, TA_INVALID,
                          "unable to parse requirement: found '%.*s%s' expected: '('",
                          LIT_ARG(t.lit));
    t = lookahead(p, CTX_VALUES);
    if (t.tok == TOK_CLOSE) { /* "()" is the set {""} */
        consume(p, CTX_VALUES);
        return values_insert(p, vs, slice_make("", 0));
    }
    if (t.tok != TOK_ID && t.tok != TOK_COMMA)
        return ta_err_set(p->err, TA_INVALID,
                          "unable to parse requirement: found '%.*s%s', expected: ',', ')' or "
                          "identifier",
                          LIT_ARG(t.lit));
    /* parseIdentifiersList: returns only with ')' as the lookahead */
    for (;;) {
        enum ta_rc rc;
        t = consume(p, CTX_VALUES);
        if (t.tok == TOK_ID) {
            rc = values_insert(p, vs, t.lit);
            if (rc != TA_OK)
                return rc;
            struct token t2 = lookahead(p, CTX_VALUES);
            if (t2.tok == TOK_COMMA)
                continue;
            if (t2.tok == TOK_CLOSE)
                break;
            return ta_err_set(p->err, TA_INVALID,
                              "unable to parse requirement: found '%.*s%s', expected: ',' or ')'",
                              LIT_ARG(t2.lit));
        } else if (t.tok == TOK_COMMA) {
            if (vs->n == 0 && (rc = values_insert(p, vs, slice_make("", 0))) != TA_OK)
                return rc; /* "(," */
            struct token t2 = lookahead(p, CTX_VALUES);
            if (t2.tok == TOK_CLOSE) { /* ",)" */
                rc = values_insert(p, vs, slice_make("", 0));
                if (rc != TA_OK)
                    return rc;
                break;
            }
            if (t2.tok == TOK_COMMA) { /* ",," */
                consume(p, CTX_VALUES);
                rc = values_insert(p, vs, slice_make("", 0));
                if (rc != TA_OK)
                    return rc;
            }
        } else {
            return ta_err_set(p->err, TA_INVALID,
                              "unable to parse requirement: found '%.*s%s', expected: ',', or "
                              "identifier",
                              LIT_ARG(t.lit));
        }
    }
    consume(p, CTX_VALUES); /* the ')' */
    return TA_OK;
}

static enum ta_rc parse_exact_value(struct parser *p, struct values *vs)
{
    struct token t = lookahead(p, CTX_VALUES);
    if (t.tok == TOK_EOS || t.tok == TOK_COMMA)
        return values_insert(p, vs, slice_make("", 0)); /* "a=" means a="" */
    t = consume(p, CTX_VALUES);
    if (t.tok == TOK_ID)
        return values_insert(p, vs, t.lit);
    return ta_err_set(p->err, TA_INVALID,
                      "unable to parse requirement: found '%.*s%s', expected: identifier",
                      LIT_ARG(t.lit));
}

static enum ta_rc parse_operator(struct parser *p, enum selector_op *op, bool *double_eq)
{
    struct token t = consume(p, CTX_KEY_AND_OPERATOR);
    *double_eq = false;
    switch (t.tok) {
    case TOK_IN:
        *op = SELECTOR_OP_IN;
        return TA_OK;
    case TOK_NOTIN:
        *op = SELECTOR_OP_NOTIN;
        return TA_OK;
    case TOK_EQ:
        *op = SELECTOR_OP_EQ;
        return TA_OK;
    case TOK_DEQ:
        *op = SELECTOR_OP_EQ;
        *double_eq = true;
        return TA_OK;
    case TOK_NEQ:
        *op = SELECTOR_OP_NEQ;
        return TA_OK;
    case TOK_GT:
    case TOK_LT:
        return ta_err_set(p->err, TA_INVALID,
                          "operator '%c' is not supported by external metrics selectors",
                          t.tok == TOK_GT ? '>' : '<');
    default:
        return ta_err_set(p->err, TA_INVALID,
                          "unable to parse requirement: found '%.*s%s', expected: in, notin, =, "
                          "==, !=, gt, lt",
                          LIT_ARG(t.lit));
    }
}

static void req_clear(struct selector_req *r)
{
    if (!r)
        return;
    free(r->key);
    for (size_t i = 0; i < r->nvalues; i++)
        free(r->values[i]);
    free(r->values);
    memset(r, 0, sizeof(*r));
}

/* Parses one requirement into *r (owned by the caller, cleared on failure). */
static enum ta_rc parse_requirement(struct parser *p, struct selector_req *r)
{
    struct values vs = { .n = 0 };
    enum selector_op op = SELECTOR_OP_EXISTS;
    bool not_exists = false, double_eq = false;
    enum ta_rc rc;

    /* parseKeyAndInferOperator */
    struct token t = consume(p, CTX_VALUES);
    if (t.tok == TOK_NOT) {
        not_exists = true;
        t = consume(p, CTX_VALUES);
    }
    if (t.tok != TOK_ID)
        return ta_err_set(p->err, TA_INVALID,
                          "unable to parse requirement: found '%.*s%s', expected: identifier",
                          LIT_ARG(t.lit));
    struct slice key = t.lit;
    rc = key_error(p, key);
    if (rc != TA_OK)
        return rc;
    enum tok next = lookahead(p, CTX_VALUES).tok;
    if (not_exists) {
        op = SELECTOR_OP_NOT_EXISTS; /* "!a b" stops here; the caller reports 'b' */
    } else if (next == TOK_EOS || next == TOK_COMMA) {
        op = SELECTOR_OP_EXISTS;
    } else {
        rc = parse_operator(p, &op, &double_eq);
        if (rc == TA_OK)
            rc = (op == SELECTOR_OP_IN || op == SELECTOR_OP_NOTIN) ? parse_values(p, &vs)
                                                                   : parse_exact_value(p, &vs);
        if (rc != TA_OK)
            return rc;
        qsort(vs.v, vs.n, sizeof(vs.v[0]), cmp_slices);
        /* NewRequirement: the first invalid value in sorted order */
        for (size_t i = 0; i < vs.n; i++) {
            char detail[TA_ERR_MSG_MAX], qv[QUERY_QUOTE_SIZE(LIT_SHOWN)];
            char qk[QUERY_QUOTE_SIZE(LIT_SHOWN)];
            if (check_value(vs.v[i], detail, sizeof(detail)))
                continue;
            query_quote(vs.v[i], LIT_SHOWN, qv, sizeof(qv));
            query_quote(key, LIT_SHOWN, qk, sizeof(qk));
            return ta_err_set(p->err, TA_INVALID,
                              "unable to parse requirement: invalid label value: %s: at key: "
                              "%s: %s",
                              qv, qk, detail);
        }
    }
    r->key = ta_xstrndup(key.ptr, key.len);
    r->op = op;
    r->double_eq = double_eq;
    r->nvalues = vs.n;
    r->values = vs.n ? ta_xcalloc(vs.n, sizeof(char *)) : NULL;
    for (size_t i = 0; i < vs.n; i++)
        r->values[i] = ta_xstrndup(vs.v[i].ptr, vs.v[i].len);
    return TA_OK;
}

/* Stable insertion sort by key (Go sorts ≤ 12 requirements by insertion, which is stable). */
static void sort_by_key(struct selector_req *reqs, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(reqs[j].key, reqs[j - 1].key) < 0; j--) {
            struct selector_req tmp = reqs[j];
            reqs[j] = reqs[j - 1];
            reqs[j - 1] = tmp;
        }
    }
}

static enum ta_rc parse_all(struct parser *p, struct selector *sel)
{
    for (;;) {
        struct token t = lookahead(p, CTX_VALUES);
        if (t.tok == TOK_EOS)
            return TA_OK;
        if (t.tok != TOK_ID && t.tok != TOK_NOT)
            return ta_err_set(p->err, TA_INVALID,
                              "found '%.*s%s', expected: !, identifier, or 'end of string'",
                              LIT_ARG(t.lit));
        if (sel->n == SELECTOR_MAX_REQS)
            return ta_err_set(p->err, TA_TOO_LARGE, "labelSelector has more than %d requirements",
                              SELECTOR_MAX_REQS);
        enum ta_rc rc = parse_requirement(p, &sel->reqs[sel->n]);
        if (rc != TA_OK)
            return rc;
        sel->n++;
        t = consume(p, CTX_VALUES);
        if (t.tok == TOK_EOS)
            return TA_OK;
        if (t.tok != TOK_COMMA)
            return ta_err_set(p->err, TA_INVALID,
                              "found '%.*s%s', expected: ',' or 'end of string'", LIT_ARG(t.lit));
        struct token t2 = lookahead(p, CTX_VALUES);
        if (t2.tok != TOK_ID && t2.tok != TOK_NOT)
            return ta_err_set(p->err, TA_INVALID, "found '%.*s%s', expected: identifier after ','",
                              LIT_ARG(t2.lit));
    }
}

enum ta_rc selector_parse(struct slice text, struct selector **out, struct ta_err *err)
{
    struct selector *sel = NULL;
    enum ta_rc rc;
    *out = NULL;
    if (text.len > SELECTOR_MAX_LEN)
        return ta_err_set(err, TA_TOO_LARGE, "labelSelector is longer than %d bytes",
                          SELECTOR_MAX_LEN);
    if (slice_has_nul(text))
        return ta_err_set(err, TA_INVALID, "labelSelector contains a NUL byte");
    if (!text.ptr)
        text = slice_make("", 0);
    sel = ta_xcalloc(1, sizeof(*sel));
    sel->reqs = ta_xcalloc(SELECTOR_MAX_REQS, sizeof(sel->reqs[0]));
    struct parser p = { .lx = { text, 0 }, .err = err };
    p.cur = lex(&p.lx);
    rc = parse_all(&p, sel);
    if (rc != TA_OK)
        goto out;
    sort_by_key(sel->reqs, sel->n);
    *out = sel;
    sel = NULL;
out:
    selector_free(sel);
    return rc;
}

void selector_free(struct selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; sel->reqs && i < sel->n; i++)
        req_clear(&sel->reqs[i]); /* parse_requirement fills an entry only on success */
    free(sel->reqs);
    free(sel);
}

static enum ta_rc canonical_req(const struct selector_req *r, struct buf *out)
{
    enum ta_rc rc = TA_OK;
    if (r->op == SELECTOR_OP_NOT_EXISTS)
        rc = buf_addc(out, '!');
    if (rc == TA_OK)
        rc = buf_adds(out, r->key);
    if (rc != TA_OK || r->op == SELECTOR_OP_EXISTS || r->op == SELECTOR_OP_NOT_EXISTS)
        return rc;
    bool set = r->op == SELECTOR_OP_IN || r->op == SELECTOR_OP_NOTIN;
    const char *op = r->op == SELECTOR_OP_EQ    ? (r->double_eq ? "==" : "=")
                     : r->op == SELECTOR_OP_NEQ ? "!="
                     : r->op == SELECTOR_OP_IN  ? " in ("
                                                : " notin (";
    rc = buf_adds(out, op);
    for (size_t i = 0; rc == TA_OK && i < r->nvalues; i++) {
        if (i > 0)
            rc = buf_addc(out, ',');
        if (rc == TA_OK)
            rc = buf_adds(out, r->values[i]);
    }
    if (rc == TA_OK && set)
        rc = buf_addc(out, ')');
    return rc;
}

enum ta_rc selector_canonical(const struct selector *sel, struct buf *out)
{
    enum ta_rc rc = buf_add(out, "", 0); /* "" still yields a NUL-terminated buffer */
    for (size_t i = 0; rc == TA_OK && sel && i < sel->n; i++) {
        if (i > 0)
            rc = buf_addc(out, ',');
        if (rc == TA_OK)
            rc = canonical_req(&sel->reqs[i], out);
    }
    return rc;
}
