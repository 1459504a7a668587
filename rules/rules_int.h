/* rules_int.h — the small YAML tree rules.c validates, built by rules_yaml.c from libyaml events.
 *
 * Only rules/rules*.c include this. The tree keeps every node's 1-based line and column (from
 * libyaml's marks) so each error names its place. Building it already refuses what the rules
 * file never needs and an attacker could abuse: anchors and aliases (billion laughs), tags,
 * more than one document, nesting deeper than RY_MAX_DEPTH. One thread at a time per tree. */
#ifndef TA_RULES_RULES_INT_H
#define TA_RULES_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

#define RY_MAX_DEPTH 16 /* the rules file nests 4 deep; anything deeper is a mistake or abuse */

enum ry_type {
    RY_SCALAR,
    RY_MAP, /* kids: key, value, key, value, … */
    RY_SEQ, /* kids: items */
};

enum ry_style {
    RY_PLAIN,
    RY_SINGLE, /* 'quoted' */
    RY_DOUBLE, /* "quoted" */
    RY_BLOCK,  /* | or > */
};

struct ry_node {
    enum ry_type type;
    enum ry_style style; /* scalars */
    int line, col;       /* 1-based start */
    int end_line;        /* 1-based line of the end mark */
    char *val;           /* scalars: NUL-terminated bytes */
    size_t len;
    struct ry_node **kids;
    size_t n, cap;
};

/* Parses one YAML document. On failure *line and *col (1-based) say where and err->msg the
 * reason, without the file name. On TA_OK *root may be NULL (an empty stream). */
enum ta_rc ry_parse(struct slice yaml, struct ry_node **root, int *line, int *col,
                    struct ta_err *err);
void ry_free(struct ry_node *n);
/* True for a plain scalar YAML reads as null: "", "~", "null", "Null", "NULL". */
bool ry_is_null(const struct ry_node *n);
/* "a mapping", "a list", "null" or "a string", for messages. */
const char *ry_type_name(const struct ry_node *n);

#endif
