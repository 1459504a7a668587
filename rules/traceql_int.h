/* traceql_int.h — the TraceQL node layout and the helpers shared by the traceql_*.c files.
 *
 * Only files in rules/ include this (traceql_{lex,parse,build,render,eval}.c, rules_filter.c).
 * Trees are n-ary: an AND or OR node holds every operand of a chain of the same operator, so
 * `a && b && c` is one node with three children and evaluation recurses only as deep as the
 * operators alternate. Every node records its subtree size (`nodes`, counted as the binary
 * operators and comparisons of the text) and the nesting of its canonical rendering (`depth`,
 * counted as the parser counts '(' and '!'), so limits are checked without walking the tree.
 * Nodes are immutable after construction; any thread may read them. */
#ifndef TA_RULES_TRACEQL_INT_H
#define TA_RULES_TRACEQL_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "rules/traceql.h"

enum traceql_node_type {
    TRACEQL_N_AND,  /* u.list: every child must match */
    TRACEQL_N_OR,   /* u.list: any child matches */
    TRACEQL_N_NOT,  /* u.child */
    TRACEQL_N_CMP,  /* u.cmp: attribute op literal */
    TRACEQL_N_ATTR, /* u.attr: a lone attribute reference (traceql_parse_attr) */
    TRACEQL_N_BOOL, /* u.b: `true`, `false`; `{ }` is true */
};

struct traceql_attr {
    enum traceql_scope scope;
    enum traceql_intrinsic intrinsic; /* when scope == TRACEQL_SCOPE_INTRINSIC */
    char *name;                       /* owned, NUL-terminated, valid UTF-8 without NUL; NULL
                                         for intrinsics */
    size_t name_len;
};

struct traceql_cmp {
    struct traceql_attr attr;
    enum traceql_op op;
    struct traceql_literal lit; /* lit.u.str points into str */
    char *str;                  /* owned copy of a string literal (may hold NUL bytes) */
    regex_t *re;                /* compiled, anchored, for =~ and !~; else NULL */
};

struct traceql_node {
    enum traceql_node_type type;
    uint32_t nodes; /* subtree size: comparisons, literals, ! and binary operators */
    uint32_t depth; /* nesting of '(' and '!' in the canonical rendering */
    union {
        struct {
            struct traceql_node **kids; /* owned, n >= 2 */
            uint32_t n;
            uint32_t cap;
        } list;
        struct traceql_node *child; /* owned */
        struct traceql_cmp cmp;
        struct traceql_attr attr;
        bool b;
    } u;
};

/* Tokens of the subset (traceql_lex.c). */
enum tq_tok {
    TQ_EOF,
    TQ_LBRACE,
    TQ_RBRACE,
    TQ_LPAREN,
    TQ_RPAREN,
    TQ_AND,
    TQ_OR,
    TQ_NOT,
    TQ_CMPOP,     /* tok.op */
    TQ_ATTR,      /* tok.scope, tok.text (decoded name) */
    TQ_INTRINSIC, /* tok.intrinsic */
    TQ_LIT,       /* tok.lit (strings in tok.text) */
    TQ_STRUCT,    /* a structural or spanset operator such as >> (tok.len bytes at tok.off) */
    TQ_PIPE,      /* | */
    TQ_ARITH,     /* + - * / % ^ */
};

struct tq_token {
    enum tq_tok type;
    size_t off; /* byte offset of the token in the text */
    size_t len; /* bytes of source text */
    enum traceql_op op;
    enum traceql_scope scope;
    enum traceql_intrinsic intrinsic;
    struct traceql_literal lit; /* TQ_LIT; a string literal's bytes are in text */
    struct buf text;            /* decoded attribute name or string literal */
};

struct tq_lexer {
    struct slice src;
    size_t pos;
    size_t err_off; /* where a lexing error was found */
};

/* Reads the next token into *tok (whose text buffer is reused). On TA_INVALID err->msg is the
 * reason without a position and lx->err_off says where. */
enum ta_rc tq_lex_next(struct tq_lexer *lx, struct tq_token *tok, struct ta_err *err);
/* Length of the UTF-8 sequence at p (1..4) when it is valid, 0 when it is not. */
size_t tq_utf8_len(const unsigned char *p, size_t avail);
/* "line L, col C" or "col C" for a byte offset in text (columns count characters). */
void tq_position(struct slice text, size_t off, char *out, size_t cap);

/* Appends an attribute reference in canonical form (quoting the name when needed). */
TA_MUST_CHECK enum ta_rc tq_render_attr(const struct traceql_attr *a, struct buf *out);
/* Appends a literal in canonical form. */
TA_MUST_CHECK enum ta_rc tq_render_literal(const struct traceql_literal *l, struct buf *out);
/* Appends s as a double-quoted TraceQL string (spec §9.5). */
TA_MUST_CHECK enum ta_rc tq_render_string(struct slice s, struct buf *out);

/* Nesting of n's canonical rendering and its node count (0 for NULL). */
uint32_t traceql_depth(const struct traceql_node *n);
uint32_t traceql_node_count(const struct traceql_node *n);
/* A new attribute node; name is copied (ignored for intrinsics). */
struct traceql_node *tq_new_attr(enum traceql_scope scope, enum traceql_intrinsic which,
                                 struct slice name);

#endif
