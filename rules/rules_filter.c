/* rules_filter.c — rules_filter_for: one request's filter = rule spans AND selector AND namespace.
 *
 * rules/cache calls it once per new (rule, namespace, selector) key; the tree goes to the
 * trace source, which renders it for Tempo or matches it in memory. Selector values and the
 * namespace only ever become string literals of comparisons built with traceql_new_cmp, so
 * request text can never change the shape of the query. Mapping (DESIGN.md): k=v -> attr = "v";
 * k!=v -> (attr != "v" || attr = nil); in -> || of =; notin -> (attr = nil || && of !=);
 * k -> attr != nil; !k -> attr = nil; on attributes that always exist the nil parts are dropped
 * and !k is refused. Pure: any thread. */
#include "rules/rules.h"

#include <stdio.h>
#include <string.h>

#include "rules/traceql_int.h"

static const char *const KIND_WORDS[] = { "unspecified", "internal", "server",
                                          "client",      "producer", "consumer" };
static const char *const STATUS_WORDS[] = { "unset", "ok", "error" };

static const struct rule_label *find_label(const struct rule *rule, const char *key)
{
    for (size_t i = 0; i < rule->nlabels; i++)
        if (strcmp(rule->labels[i].key, key) == 0)
            return &rule->labels[i];
    return NULL;
}

static enum ta_rc unknown_label(const struct rule *rule, const char *key, struct ta_err *err)
{
    char names[160];
    size_t n = 0;
    names[0] = '\0';
    for (size_t i = 0; i < rule->nlabels && n < sizeof(names); i++)
        n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                              rule->labels[i].key);
    if (rule->nlabels == 0)
        return ta_err_set(err, TA_INVALID,
                          "labelSelector: unknown label \"%.63s\"; this rule maps no labels", key);
    return ta_err_set(err, TA_INVALID, "labelSelector: unknown label \"%.63s\"; this rule maps: %s",
                      key, names);
}

/* The literal a selector value becomes: a kind or status word for those intrinsics (the value
 * must be one), a string otherwise. */
static enum ta_rc value_literal(const struct rule_label *lab, const char *key, const char *v,
                                struct traceql_literal *lit, struct ta_err *err)
{
    enum traceql_scope scope;
    enum traceql_intrinsic which;
    traceql_attr_info(lab->attr, &scope, NULL, &which);
    if (scope == TRACEQL_SCOPE_INTRINSIC && which == TRACEQL_INTRINSIC_KIND) {
        for (size_t i = 0; i < sizeof(KIND_WORDS) / sizeof(KIND_WORDS[0]); i++)
            if (strcmp(v, KIND_WORDS[i]) == 0) {
                *lit = (struct traceql_literal){ .type = TRACEQL_LIT_KIND,
                                                 .u.kind = (enum span_kind)i };
                return TA_OK;
            }
        return ta_err_set(err, TA_INVALID,
                          "labelSelector: %.63s: \"%.63s\" is not a span kind (unspecified, "
                          "internal, server, client, producer, consumer)",
                          key, v);
    }
    if (scope == TRACEQL_SCOPE_INTRINSIC && which == TRACEQL_INTRINSIC_STATUS) {
        for (size_t i = 0; i < sizeof(STATUS_WORDS) / sizeof(STATUS_WORDS[0]); i++)
            if (strcmp(v, STATUS_WORDS[i]) == 0) {
                *lit = (struct traceql_literal){ .type = TRACEQL_LIT_STATUS,
                                                 .u.status = (enum span_status)i };
                return TA_OK;
            }
        return ta_err_set(err, TA_INVALID,
                          "labelSelector: %.63s: \"%.63s\" is not a span status (ok, error, "
                          "unset)",
                          key, v);
    }
    *lit = (struct traceql_literal){ .type = TRACEQL_LIT_STRING, .u.str = slice_from_cstr(v) };
    return TA_OK;
}

static enum ta_rc cmp_value(const struct rule_label *lab, const char *key, enum traceql_op op,
                            const char *v, struct traceql_node **out, struct ta_err *err)
{
    struct traceql_literal lit;
    enum ta_rc rc = value_literal(lab, key, v, &lit, err);
    if (rc != TA_OK)
        return rc;
    rc = traceql_new_cmp(traceql_clone(lab->attr), op, &lit, out, err);
    if (rc != TA_OK && err)
        ta_err_prefix(err, "labelSelector: %.63s", key);
    return rc;
}

static enum ta_rc cmp_nil(const struct rule_label *lab, enum traceql_op op,
                          struct traceql_node **out, struct ta_err *err)
{
    struct traceql_literal nil = { .type = TRACEQL_LIT_NIL };
    return traceql_new_cmp(traceql_clone(lab->attr), op, &nil, out, err);
}

/* || (or &&) of attr op v for every value; *out stays NULL for no values. */
static enum ta_rc each_value(const struct rule_label *lab, const struct selector_req *req,
                             enum traceql_op op, bool any, struct traceql_node **out,
                             struct ta_err *err)
{
    struct traceql_node *acc = NULL, *c = NULL;
    *out = NULL;
    for (size_t i = 0; i < req->nvalues; i++) {
        enum ta_rc rc = cmp_value(lab, req->key, op, req->values[i], &c, err);
        if (rc != TA_OK) {
            traceql_free(acc);
            return rc;
        }
        acc = !acc ? c : (any ? traceql_new_or(acc, c) : traceql_new_and(acc, c));
    }
    *out = acc;
    return TA_OK;
}

/* The condition for one requirement; *out is NULL when it adds nothing. */
static enum ta_rc req_cond(const struct rule_label *lab, const struct selector_req *req,
                           struct traceql_node **out, struct ta_err *err)
{
    bool always = traceql_attr_always_present(lab->attr);
    struct traceql_node *a = NULL, *nil = NULL;
    enum ta_rc rc = TA_OK;
    *out = NULL;
    switch (req->op) {
    case SELECTOR_OP_EQ:
    case SELECTOR_OP_IN:
        rc = each_value(lab, req, TRACEQL_OP_EQ, true, &a, err);
        if (rc == TA_OK && !a)
            a = traceql_new_bool(false); /* in () matches nothing */
        break;
    case SELECTOR_OP_NEQ:
    case SELECTOR_OP_NOTIN:
        rc = each_value(lab, req, TRACEQL_OP_NE, false, &a, err);
        if (rc != TA_OK || always || !a)
            break;
        /* a span without the attribute also satisfies k!=v and k notin (…) */
        if ((rc = cmp_nil(lab, TRACEQL_OP_EQ, &nil, err)) != TA_OK)
            break;
        a = req->op == SELECTOR_OP_NEQ ? traceql_new_or(a, nil) : traceql_new_or(nil, a);
        break;
    case SELECTOR_OP_EXISTS:
        if (!always)
            rc = cmp_nil(lab, TRACEQL_OP_NE, &a, err);
        break;
    case SELECTOR_OP_NOT_EXISTS:
        if (always)
            return ta_err_set(err, TA_INVALID,
                              "labelSelector: !%.63s: %.80s always exists on a span (Tempo "
                              "rejects nil comparisons on it)",
                              req->key, lab->attr_text);
        rc = cmp_nil(lab, TRACEQL_OP_EQ, &a, err);
        break;
    default:
        return ta_err_set(err, TA_INVALID, "labelSelector: %.63s: unsupported operator", req->key);
    }
    if (rc != TA_OK) {
        traceql_free(a);
        return rc;
    }
    *out = a;
    return TA_OK;
}

static struct traceql_node *and_opt(struct traceql_node *f, struct traceql_node *c)
{
    if (!c)
        return f;
    return f ? traceql_new_and(f, c) : c;
}

enum ta_rc rules_filter_for(const struct rule *rule, struct slice ns, const struct selector *sel,
                            struct traceql_node **out, struct ta_err *err)
{
    struct traceql_node *f = NULL, *c = NULL;
    enum ta_rc rc = TA_OK;
    *out = NULL;
    if (!rule || !rule->spans)
        return ta_err_set(err, TA_INTERNAL, "rules_filter_for: no rule");
    /* { } adds nothing to an && */
    if (!(rule->spans->type == TRACEQL_N_BOOL && rule->spans->u.b))
        f = traceql_clone(rule->spans);
    for (size_t i = 0; sel && i < sel->n; i++) {
        const struct selector_req *req = &sel->reqs[i];
        const struct rule_label *lab = find_label(rule, req->key);
        if (!lab) {
            rc = unknown_label(rule, req->key, err);
            goto out;
        }
        if ((rc = req_cond(lab, req, &c, err)) != TA_OK)
            goto out;
        f = and_opt(f, c);
    }
    if (rule->namespace_attr && ns.len > 0) {
        struct traceql_literal lit = { .type = TRACEQL_LIT_STRING, .u.str = ns };
        rc = traceql_new_cmp(traceql_clone(rule->namespace_attr), TRACEQL_OP_EQ, &lit, &c, err);
        if (rc != TA_OK)
            goto out;
        f = and_opt(f, c);
    }
    if (!f)
        f = traceql_new_bool(true);
    if (traceql_node_count(f) > TRACEQL_MAX_NODES) {
        rc = ta_err_set(err, TA_TOO_LARGE,
                        "labelSelector: the filter would have %u comparisons and operators, "
                        "more than %d",
                        traceql_node_count(f), TRACEQL_MAX_NODES);
        goto out;
    }
    *out = f;
    f = NULL;
out:
    traceql_free(f);
    return rc;
}
