/* traceql.h — the TraceQL spanset-filter subset: parse, validate, build, render, evaluate.
 *
 * rules/rules.c parses the `spans` and `io` filters of the rules file and the attribute names
 * of `labels`/`namespaceAttribute`; rules_filter_for() ANDs selector conditions into a clone;
 * server/tempo_* renders trees to TraceQL for Tempo; server/store and rules/ evaluate them on
 * spans with traceql_match. Subset (DESIGN.md "Rules file"): one `{ … }` filter with
 * attributes (span.x, resource.x, .x, quoted names), intrinsics (name, kind, status, duration
 * and their span: forms), literals (strings, integers, floats, durations, true/false, nil,
 * kind and status words), = != < <= > >= =~ !~, && || ! and parentheses. && and || share one
 * precedence level and associate left, as in Tempo (`a || b && c` is `(a || b) && c`); `!` must
 * be followed by '(' (Tempo binds it tighter than comparisons). A comparison has an attribute
 * on one side and a literal on the other (`5 < span.x` is stored as `span.x > 5`).
 * Trees are n-ary: a chain of one operator is one node, so `(a && b) && c` and `a && (b && c)`
 * are the same tree, and `true` in && (`false` in ||) is dropped when building.
 * Rendering always parenthesises every operand of && and ||, escapes every string (spec
 * tempo-http-api §9.5) and never emits text that did not come through a literal; parse of a
 * rendering gives an equal tree. Regexes are Go RE2 text sent to Tempo as written and, for
 * local matching, translated to POSIX ERE (\d \s \w and negations, (?:, a leading (?i), lazy
 * quantifiers) and compiled once as ^(…)$; RE2 forms ERE cannot express (\b, \pL, named
 * groups, …) are refused when the tree is built. Trees are immutable after construction: any
 * thread may read and match one concurrently. */
#ifndef TA_RULES_TRACEQL_H
#define TA_RULES_TRACEQL_H

#include <stdbool.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "rules/span.h"

#define TRACEQL_MAX_LEN   8192 /* filter text from the rules file */
#define TRACEQL_MAX_DEPTH 32   /* nesting of '(' and '!', in the text and in its canonical form */
/* TRACEQL_MAX_NODES counts comparisons, booleans, ! and binary operators in one tree,
 * selector conditions included */
#define TRACEQL_MAX_NODES  1024
#define TRACEQL_RENDER_MAX (64 * 1024) /* rendered query; Tempo's limit is 128 KiB */

struct traceql_node; /* opaque: build with traceql_parse / traceql_new_*, read with the rest */

enum traceql_op {
    TRACEQL_OP_EQ,  /* = */
    TRACEQL_OP_NE,  /* != */
    TRACEQL_OP_LT,  /* < */
    TRACEQL_OP_LE,  /* <= */
    TRACEQL_OP_GT,  /* > */
    TRACEQL_OP_GE,  /* >= */
    TRACEQL_OP_RE,  /* =~ (fully anchored) */
    TRACEQL_OP_NRE, /* !~ */
};

enum traceql_intrinsic {
    TRACEQL_INTRINSIC_NAME,
    TRACEQL_INTRINSIC_KIND,
    TRACEQL_INTRINSIC_STATUS,
    TRACEQL_INTRINSIC_DURATION,
};

/* Where an attribute is looked up. */
enum traceql_scope {
    TRACEQL_SCOPE_SPAN,      /* span.x */
    TRACEQL_SCOPE_RESOURCE,  /* resource.x */
    TRACEQL_SCOPE_ANY,       /* .x: span or resource scope */
    TRACEQL_SCOPE_INTRINSIC, /* name, kind, status, duration */
};

enum traceql_lit_type {
    TRACEQL_LIT_STRING,
    TRACEQL_LIT_INT,
    TRACEQL_LIT_FLOAT,
    TRACEQL_LIT_DURATION, /* nanoseconds */
    TRACEQL_LIT_BOOL,
    TRACEQL_LIT_NIL,
    TRACEQL_LIT_KIND,   /* bare kind word: server, client, … */
    TRACEQL_LIT_STATUS, /* bare status word: ok, error, unset */
};

struct traceql_literal {
    enum traceql_lit_type type;
    union {
        struct slice str; /* borrowed; copied by traceql_new_cmp */
        int64_t i;
        double f;
        int64_t dur_ns;
        bool b;
        enum span_kind kind;
        enum span_status status;
    } u;
};

/* Parses one `{ … }` filter of at most TRACEQL_MAX_LEN bytes. On TA_INVALID err->msg gives the
 * column and reason, e.g. "col 12: unsupported operator '>>' (only one spanset filter is
 * allowed)". On TA_OK the caller owns *out (traceql_free). */
enum ta_rc traceql_parse(struct slice text, struct traceql_node **out, struct ta_err *err);
/* Same, and on failure *err_off gets the byte offset in text the message points at (for
 * mapping it into a YAML file). Limits: TA_TOO_LARGE past TRACEQL_MAX_LEN, TRACEQL_MAX_DEPTH
 * (nesting of the text or of its canonical rendering) or TRACEQL_MAX_NODES. */
enum ta_rc traceql_parse_pos(struct slice text, struct traceql_node **out, size_t *err_off,
                             struct ta_err *err);
/* Parses a lone attribute reference ("resource.service.name", "span.http.route", ".x",
 * `span."my attr"`, or an intrinsic such as "name") into an attribute node. */
enum ta_rc traceql_parse_attr(struct slice text, struct traceql_node **out, struct ta_err *err);
void traceql_free(struct traceql_node *n);
/* Deep copy. */
struct traceql_node *traceql_clone(const struct traceql_node *n);

/* Builders (each takes ownership of its node arguments; NULL operands are not allowed). */
struct traceql_node *traceql_new_and(struct traceql_node *a, struct traceql_node *b);
struct traceql_node *traceql_new_or(struct traceql_node *a, struct traceql_node *b);
struct traceql_node *traceql_new_not(struct traceql_node *a);
struct traceql_node *traceql_new_intrinsic(enum traceql_intrinsic which);
/* `true` or `false`; the empty filter `{ }` parses to true. */
struct traceql_node *traceql_new_bool(bool b);
/* attr (an attribute or intrinsic node, taken) op literal (copied). TA_INVALID when the
 * comparison is one Tempo rejects (nil on an intrinsic or on resource.service.name, a regex
 * that does not compile, an ordering operator on a bool or nil, a kind word compared with a
 * non-kind attribute, …), with err->msg saying why; attr is freed then. */
enum ta_rc traceql_new_cmp(struct traceql_node *attr, enum traceql_op op,
                           const struct traceql_literal *lit, struct traceql_node **out,
                           struct ta_err *err);

/* True when n is an attribute node whose value always exists on a span: an intrinsic or
 * resource.service.name (Tempo rejects nil comparisons on those). */
bool traceql_attr_always_present(const struct traceql_node *attr);
/* When n is an attribute node: true, with its scope, name (borrowed from n; empty for
 * intrinsics) and intrinsic (meaningful for TRACEQL_SCOPE_INTRINSIC). Any pointer may be NULL. */
bool traceql_attr_info(const struct traceql_node *n, enum traceql_scope *scope, struct slice *name,
                       enum traceql_intrinsic *which);
/* Calls fn once per attribute reference (not intrinsics) in n, in rendering order; the name
 * is borrowed from n. Used to collect the attribute keys a rule needs. */
void traceql_visit_attrs(const struct traceql_node *n,
                         void (*fn)(void *arg, enum traceql_scope scope, struct slice name),
                         void *arg);
/* True when two trees are structurally equal (used to share identical queries). */
bool traceql_equal(const struct traceql_node *a, const struct traceql_node *b);

/* Appends the canonical form of a whole filter with its braces: "{ (a) && (b) }". Strings
 * are double-quoted and escaped; attribute names that need it are quoted. */
TA_MUST_CHECK enum ta_rc traceql_render(const struct traceql_node *n, struct buf *out);
/* Appends the expression without braces (for composing "{ F && duration > 5ms }"). */
TA_MUST_CHECK enum ta_rc traceql_render_expr(const struct traceql_node *n, struct buf *out);

/* Evaluates the filter on one span with TraceQL's semantics: a missing attribute makes every
 * comparison false except `= nil`; `!=` is false when the attribute is missing; .x matches
 * span or resource scope; regexes are fully anchored; numbers compare across int and float. */
bool traceql_match(const struct traceql_node *n, const struct span *s);

#endif
