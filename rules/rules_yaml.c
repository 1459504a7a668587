/* rules_yaml.c — turns the rules file's bytes into a struct ry_node tree with libyaml's event API.
 *
 * rules.c calls ry_parse once per load and walks the tree. The event API (not the document
 * API) is used so anchors, aliases and tags can be refused as they appear, before anything is
 * expanded; nesting is bounded by RY_MAX_DEPTH with an explicit stack. No globals: any thread,
 * one tree per caller. */
#include "rules/rules_int.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "apis/base/ta_mem.h"

void ry_free(struct ry_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ry_free(n->kids[i]);
    free(n->kids);
    free(n->val);
    free(n);
}

bool ry_is_null(const struct ry_node *n)
{
    if (!n || n->type != RY_SCALAR || n->style != RY_PLAIN)
        return false;
    static const char *const NULLS[] = { "", "~", "null", "Null", "NULL" };
    for (size_t i = 0; i < sizeof(NULLS) / sizeof(NULLS[0]); i++)
        if (strcmp(n->val, NULLS[i]) == 0)
            return true;
    return false;
}

const char *ry_type_name(const struct ry_node *n)
{
    if (!n)
        return "nothing";
    if (n->type == RY_MAP)
        return "a mapping";
    if (n->type == RY_SEQ)
        return "a list";
    return ry_is_null(n) ? "null" : "a string";
}

static void add_kid(struct ry_node *parent, struct ry_node *kid)
{
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 8;
        parent->kids = ta_xreallocarray(parent->kids, parent->cap, sizeof(*parent->kids));
    }
    parent->kids[parent->n++] = kid;
}

static struct ry_node *new_node(enum ry_type type, const yaml_event_t *ev)
{
    struct ry_node *n = ta_xcalloc(1, sizeof(*n));
    n->type = type;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    n->end_line = (int)ev->end_mark.line + 1;
    return n;
}

static enum ry_style style_of(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        return RY_SINGLE;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return RY_DOUBLE;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        return RY_BLOCK;
    default:
        return RY_PLAIN;
    }
}

/* 1-based line and column of a byte offset (columns count characters, as libyaml's do). */
static void offset_pos(struct slice s, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static enum ta_rc at_mark(const yaml_mark_t *m, int *line, int *col, struct ta_err *err,
                          const char *msg)
{
    *line = (int)m->line + 1;
    *col = (int)m->column + 1;
    return ta_err_set(err, TA_INVALID, "%s", msg);
}

enum ta_rc ry_parse(struct slice yaml, struct ry_node **root, int *line, int *col,
                    struct ta_err *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct ry_node *stack[RY_MAX_DEPTH + 1];
    size_t depth = 0;
    int docs = 0;
    bool done = false, have_ev = false;
    enum ta_rc rc = TA_OK;
    struct ry_node *top = NULL;

    *root = NULL;
    *line = 1;
    *col = 1;
    if (!yaml_parser_initialize(&parser))
        return ta_err_set(err, TA_INTERNAL, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml.ptr ? yaml.ptr : ""),
                                 yaml.len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_READER_ERROR) {
                offset_pos(yaml, parser.problem_offset, line, col);
                rc = ta_err_set(err, TA_INVALID, "YAML error: %s",
                                parser.problem ? parser.problem : "unreadable input");
            } else {
                *line = (int)parser.problem_mark.line + 1;
                *col = (int)parser.problem_mark.column + 1;
                rc = ta_err_set(err, TA_INVALID, "YAML syntax error: %s%s%s",
                                parser.problem ? parser.problem : "invalid YAML",
                                parser.context ? " " : "", parser.context ? parser.context : "");
            }
            goto out;
        }
        have_ev = true;
        struct ry_node *n = NULL;
        const yaml_char_t *anchor = NULL, *tag = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                rc = at_mark(&ev.start_mark, line, col, err, "only one YAML document is allowed");
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT:
            rc = at_mark(&ev.start_mark, line, col, err,
                         "YAML aliases (*name) are not allowed in the rules file");
            goto out;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            tag = ev.data.scalar.tag;
            n = new_node(RY_SCALAR, &ev);
            n->style = style_of(ev.data.scalar.style);
            n->val = ta_xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->len = ev.data.scalar.length;
            break;
        case YAML_SEQUENCE_START_EVENT:
            anchor = ev.data.sequence_start.anchor;
            tag = ev.data.sequence_start.tag;
            n = new_node(RY_SEQ, &ev);
            break;
        case YAML_MAPPING_START_EVENT:
            anchor = ev.data.mapping_start.anchor;
            tag = ev.data.mapping_start.tag;
            n = new_node(RY_MAP, &ev);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            TA_ASSERT(depth > 0);
            stack[depth - 1]->end_line = (int)ev.end_mark.line + 1;
            depth--;
            break;
        default:
            break;
        }
        if (n) {
            if (anchor || tag) {
                ry_free(n);
                rc = at_mark(&ev.start_mark, line, col, err,
                             anchor ? "YAML anchors (&name) are not allowed in the rules file"
                                    : "YAML tags (!tag) are not allowed in the rules file");
                goto out;
            }
            if (depth > 0) {
                add_kid(stack[depth - 1], n);
            } else {
                TA_ASSERT(!top); /* one document, so one root */
                top = n;
            }
            if (n->type != RY_SCALAR) {
                if (depth >= RY_MAX_DEPTH) {
                    rc = at_mark(&ev.start_mark, line, col, err,
                                 "YAML nested too deeply (more than 16 levels)");
                    goto out;
                }
                stack[depth++] = n;
            }
        }
        yaml_event_delete(&ev);
        have_ev = false;
    }
    *root = top;
    top = NULL;
out:
    if (have_ev)
        yaml_event_delete(&ev);
    ry_free(top);
    yaml_parser_delete(&parser);
    return rc;
}
