/* test_rules_filter.c — unit tests of rules_filter_for: selector requirements and the namespace
 * ANDed into a rule's filter, as DESIGN.md maps them.
 *
 * Selectors are built by hand (struct selector is plain data), so these tests do not depend on
 * apis/selector.c. Expected renderings are written from the mapping table in rules.h. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"

static struct rules *rules;

static void load(const char *yaml)
{
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_bytes(slice_from_cstr(yaml), "t.yaml", &rules, &err), TA_OK, "%s",
                 err.msg);
}

static void load_default(void)
{
    cr_assert_eq(rules_load_default(&rules, NULL), TA_OK);
}

static void unload(void)
{
    rules_unref(rules);
    rules = NULL;
}

static const struct rule *rule(const char *name)
{
    const struct rule *r = rules_find(rules, slice_from_cstr(name));
    cr_assert_not_null(r, "no rule %s", name);
    return r;
}

#define P95 "http_server_request_duration_p95_seconds"

struct tsel {
    struct selector sel;
    struct selector_req reqs[8];
};

/* Adds one requirement; values is a NULL-terminated list (may be NULL). */
static void add(struct tsel *t, const char *key, enum selector_op op, const char **values)
{
    size_t n = 0;
    while (values && values[n])
        n++;
    t->sel.reqs = t->reqs;
    t->reqs[t->sel.n++] = (struct selector_req){
        .key = (char *)key, .op = op, .values = (char **)values, .nvalues = n
    };
}

static char *filter(const struct rule *r, const char *ns, const struct selector *sel)
{
    struct traceql_node *f = NULL;
    struct ta_err err = { 0 };
    enum ta_rc rc = rules_filter_for(r, ns ? slice_from_cstr(ns) : SLICE_NULL, sel, &f, &err);
    cr_assert_eq(rc, TA_OK, "%s", err.msg);
    struct buf b;
    size_t len;
    buf_init(&b, TRACEQL_RENDER_MAX);
    cr_assert_eq(traceql_render(f, &b), TA_OK);
    char *text = buf_take(&b, &len);
    /* the rendering reads back as the same tree */
    struct traceql_node *back = NULL;
    cr_assert_eq(traceql_parse(slice_make(text, len), &back, &err), TA_OK, "%s: %s", text, err.msg);
    cr_assert(traceql_equal(f, back), "%s", text);
    traceql_free(back);
    traceql_free(f);
    return text;
}

static void expect(const struct rule *r, const char *ns, const struct selector *sel,
                   const char *want)
{
    char *got = filter(r, ns, sel);
    cr_assert_str_eq(got, want);
    free(got);
}

static void expect_fail(const struct rule *r, const char *ns, const struct selector *sel,
                        enum ta_rc rc, const char *msg)
{
    struct traceql_node *f = (struct traceql_node *)0x1;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_filter_for(r, slice_from_cstr(ns), sel, &f, &err), rc, "%s", err.msg);
    cr_assert_null(f);
    cr_assert_str_eq(err.msg, msg);
}

#define NS_SHOP "(resource.k8s.namespace.name = \"shop\")"

Test(rules_filter, no_selector_adds_only_the_namespace, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    expect(rule(P95), "shop", NULL, "{ (kind = server) && " NS_SHOP " }");
    expect(rule(P95), "shop", &t.sel, "{ (kind = server) && " NS_SHOP " }");
    expect(rule(P95), NULL, NULL, "{ kind = server }"); /* no namespace given */
}

Test(rules_filter, equality, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    const char *v[] = { "checkout", NULL };
    add(&t, "service", SELECTOR_OP_EQ, v);
    expect(rule(P95), "shop", &t.sel,
           "{ (kind = server) && (resource.service.name = \"checkout\") && " NS_SHOP " }");
    const char *r[] = { "/cart", NULL };
    add(&t, "route", SELECTOR_OP_EQ, r);
    expect(rule(P95), "shop", &t.sel,
           "{ (kind = server) && (resource.service.name = \"checkout\") && (span.http.route = "
           "\"/cart\") && " NS_SHOP " }");
}

Test(rules_filter, inequality_also_matches_missing_attributes, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    const char *v[] = { "/cart", NULL };
    add(&t, "route", SELECTOR_OP_NEQ, v);
    expect(rule(P95), "shop", &t.sel,
           "{ (kind = server) && ((span.http.route != \"/cart\") || (span.http.route = nil)) && "
           "" NS_SHOP " }");
    struct tsel u = { 0 };
    const char *s[] = { "checkout", NULL };
    add(&u, "service", SELECTOR_OP_NEQ, s); /* always present: no nil alternative */
    expect(rule(P95), "shop", &u.sel,
           "{ (kind = server) && (resource.service.name != \"checkout\") && " NS_SHOP " }");
}

Test(rules_filter, in_is_an_or_of_equalities, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    const char *v[] = { "/a", "/b", "/c", NULL };
    add(&t, "route", SELECTOR_OP_IN, v);
    expect(rule(P95), "shop", &t.sel,
           "{ (kind = server) && ((span.http.route = \"/a\") || (span.http.route = \"/b\") || "
           "(span.http.route = \"/c\")) && " NS_SHOP " }");
    struct tsel u = { 0 };
    const char *one[] = { "/a", NULL };
    add(&u, "route", SELECTOR_OP_IN, one);
    expect(rule(P95), "shop", &u.sel,
           "{ (kind = server) && (span.http.route = \"/a\") && " NS_SHOP " }");
    struct tsel w = { 0 };
    const char *none[] = { NULL };
    add(&w, "route", SELECTOR_OP_IN, none);
    expect(rule(P95), "shop", &w.sel, "{ (kind = server) && (false) && " NS_SHOP " }");
}

Test(rules_filter, notin_also_matches_missing_attributes, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    const char *v[] = { "/a", "/b", NULL };
    add(&t, "route", SELECTOR_OP_NOTIN, v);
    expect(rule(P95), "shop", &t.sel,
           "{ (kind = server) && ((span.http.route = nil) || ((span.http.route != \"/a\") && "
           "(span.http.route != \"/b\"))) && " NS_SHOP " }");
    struct tsel u = { 0 };
    add(&u, "service", SELECTOR_OP_NOTIN, v); /* always present: the && joins the outer one */
    expect(rule(P95), "shop", &u.sel,
           "{ (kind = server) && (resource.service.name != \"/a\") && (resource.service.name != "
           "\"/b\") && " NS_SHOP " }");
    struct tsel w = { 0 };
    const char *one[] = { "/a", NULL };
    add(&w, "route", SELECTOR_OP_NOTIN, one);
    expect(rule(P95), "shop", &w.sel,
           "{ (kind = server) && ((span.http.route = nil) || (span.http.route != \"/a\")) && "
           "" NS_SHOP " }");
}

Test(rules_filter, exists_and_not_exists, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    add(&t, "route", SELECTOR_OP_EXISTS, NULL);
    expect(rule(P95), "shop", &t.sel,
           "{ (kind = server) && (span.http.route != nil) && " NS_SHOP " }");
    struct tsel u = { 0 };
    add(&u, "route", SELECTOR_OP_NOT_EXISTS, NULL);
    expect(rule(P95), "shop", &u.sel,
           "{ (kind = server) && (span.http.route = nil) && " NS_SHOP " }");
    struct tsel w = { 0 };
    add(&w, "service", SELECTOR_OP_EXISTS, NULL); /* always true: adds nothing */
    expect(rule(P95), "shop", &w.sel, "{ (kind = server) && " NS_SHOP " }");
    struct tsel x = { 0 };
    add(&x, "service", SELECTOR_OP_NOT_EXISTS, NULL);
    expect_fail(rule(P95), "shop", &x.sel, TA_INVALID,
                "labelSelector: !service: resource.service.name always exists on a span (Tempo "
                "rejects nil comparisons on it)");
}

Test(rules_filter, unknown_labels_name_the_mapped_ones, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    const char *v[] = { "a", NULL };
    add(&t, "route", SELECTOR_OP_EQ, v);
    add(&t, "x", SELECTOR_OP_EQ, v);
    expect_fail(rule(P95), "shop", &t.sel, TA_INVALID,
                "labelSelector: unknown label \"x\"; this rule maps: route, service");
}

Test(rules_filter, rule_without_labels_or_namespace)
{
    load("externalRules:\n  - name: m\n    spans: '{ }'\n    metric: rate\n"
         "    namespaceAttribute: \"\"\n");
    struct tsel t = { 0 };
    expect(rule("m"), "shop", NULL, "{ }");
    const char *v[] = { "a", NULL };
    add(&t, "service", SELECTOR_OP_EQ, v);
    expect_fail(rule("m"), "shop", &t.sel, TA_INVALID,
                "labelSelector: unknown label \"service\"; this rule maps no labels");
    unload();
}

Test(rules_filter, empty_spans_filter_and_or_roots)
{
    load("labels:\n  service: resource.service.name\nexternalRules:\n"
         "  - name: all\n    spans: '{ }'\n    metric: rate\n"
         "  - name: either\n    spans: '{ kind = server || kind = consumer }'\n    metric: rate\n"
         "    namespaceAttribute: .ns\n");
    expect(rule("all"), "shop", NULL, "{ resource.k8s.namespace.name = \"shop\" }");
    struct tsel t = { 0 };
    const char *v[] = { "x", NULL };
    add(&t, "service", SELECTOR_OP_EQ, v);
    expect(rule("all"), "shop", &t.sel,
           "{ (resource.service.name = \"x\") && (resource.k8s.namespace.name = \"shop\") }");
    expect(rule("either"), "shop", &t.sel,
           "{ ((kind = server) || (kind = consumer)) && (resource.service.name = \"x\") && (.ns = "
           "\"shop\") }");
    unload();
}

Test(rules_filter, intrinsic_labels_use_kind_and_status_words)
{
    load("labels:\n  kind: kind\n  status: span:status\n  op: name\nexternalRules:\n"
         "  - name: m\n    spans: '{ }'\n    metric: rate\n    namespaceAttribute: \"\"\n");
    struct tsel t = { 0 };
    const char *k[] = { "server", NULL }, *s[] = { "error", "unset", NULL }, *o[] = { "GET", NULL };
    add(&t, "kind", SELECTOR_OP_NEQ, k);
    add(&t, "op", SELECTOR_OP_EQ, o);
    add(&t, "status", SELECTOR_OP_IN, s);
    expect(rule("m"), "", &t.sel,
           "{ (kind != server) && (name = \"GET\") && ((status = error) || (status = unset)) }");
    struct tsel u = { 0 };
    const char *bad[] = { "Server", NULL };
    add(&u, "kind", SELECTOR_OP_EQ, bad);
    expect_fail(
        rule("m"), "", &u.sel, TA_INVALID,
        "labelSelector: kind: \"Server\" is not a span kind (unspecified, internal, server, "
        "client, producer, consumer)");
    struct tsel w = { 0 };
    const char *bad2[] = { "ok", "failed", NULL };
    add(&w, "status", SELECTOR_OP_NOTIN, bad2);
    expect_fail(rule("m"), "", &w.sel, TA_INVALID,
                "labelSelector: status: \"failed\" is not a span status (ok, error, unset)");
    struct tsel x = { 0 };
    add(&x, "kind", SELECTOR_OP_NOT_EXISTS, NULL);
    expect_fail(rule("m"), "", &x.sel, TA_INVALID,
                "labelSelector: !kind: kind always exists on a span (Tempo rejects nil "
                "comparisons on it)");
    unload();
}

struct tspan {
    struct span s;
    struct span_attr a[4];
    struct span_attr r[4];
};

static void tspan(struct tspan *t, const char *service, const char *ns, const char *route)
{
    memset(t, 0, sizeof(*t));
    t->s.kind = SPAN_KIND_SERVER;
    t->s.end_ns = 1000;
    t->s.attrs.items = t->a;
    t->s.resource.items = t->r;
    if (service)
        t->r[t->s.resource.n++] =
            (struct span_attr){ SLICE_LIT("service.name"),
                                { ATTR_STRING, .u.str = slice_from_cstr(service) } };
    if (ns)
        t->r[t->s.resource.n++] =
            (struct span_attr){ SLICE_LIT("k8s.namespace.name"),
                                { ATTR_STRING, .u.str = slice_from_cstr(ns) } };
    if (route)
        t->a[t->s.attrs.n++] =
            (struct span_attr){ SLICE_LIT("http.route"),
                                { ATTR_STRING, .u.str = slice_from_cstr(route) } };
}

static bool match(const struct selector *sel, const char *ns, const struct tspan *t)
{
    struct traceql_node *f = NULL;
    cr_assert_eq(rules_filter_for(rule(P95), slice_from_cstr(ns), sel, &f, NULL), TA_OK);
    bool m = traceql_match(f, &t->s);
    traceql_free(f);
    return m;
}

Test(rules_filter, filters_evaluate_as_the_selector_means, .init = load_default, .fini = unload)
{
    struct tspan with, without, other_ns, other_svc;
    tspan(&with, "checkout", "shop", "/cart");
    tspan(&without, "checkout", "shop", NULL);
    tspan(&other_ns, "checkout", "dev", "/cart");
    tspan(&other_svc, "payment", "shop", "/cart");
    struct tsel eq = { 0 }, ne = { 0 }, notin = { 0 }, ex = { 0 }, nex = { 0 };
    const char *svc[] = { "checkout", NULL }, *route[] = { "/cart", NULL };
    add(&eq, "service", SELECTOR_OP_EQ, svc);
    add(&ne, "route", SELECTOR_OP_NEQ, route);
    add(&notin, "route", SELECTOR_OP_NOTIN, route);
    add(&ex, "route", SELECTOR_OP_EXISTS, NULL);
    add(&nex, "route", SELECTOR_OP_NOT_EXISTS, NULL);
    cr_assert(match(&eq.sel, "shop", &with));
    cr_assert_not(match(&eq.sel, "shop", &other_ns));
    cr_assert_not(match(&eq.sel, "shop", &other_svc));
    cr_assert_not(match(&ne.sel, "shop", &with));
    cr_assert(match(&ne.sel, "shop", &without)); /* k!=v holds when k is absent */
    cr_assert_not(match(&notin.sel, "shop", &with));
    cr_assert(match(&notin.sel, "shop", &without));
    cr_assert(match(&ex.sel, "shop", &with));
    cr_assert_not(match(&ex.sel, "shop", &without));
    cr_assert(match(&nex.sel, "shop", &without));
    cr_assert_not(match(&nex.sel, "shop", &with));
}

Test(rules_filter, hostile_values_stay_string_literals, .init = load_default, .fini = unload)
{
    const char *hostile = "x\" || true || \"";
    struct tsel t = { 0 };
    const char *v[] = { hostile, NULL };
    add(&t, "service", SELECTOR_OP_EQ, v);
    expect(rule(P95), "sh\"op", &t.sel,
           "{ (kind = server) && (resource.service.name = \"x\\\" || true || \\\"\") && "
           "(resource.k8s.namespace.name = \"sh\\\"op\") }");
    struct tspan evil, plain;
    tspan(&evil, hostile, "shop", NULL);
    tspan(&plain, "checkout", "shop", NULL);
    cr_assert(match(&t.sel, "shop", &evil));
    cr_assert_not(match(&t.sel, "shop", &plain));
}

Test(rules_filter, rule_tree_is_not_modified, .init = load_default, .fini = unload)
{
    struct tsel t = { 0 };
    const char *v[] = { "checkout", NULL };
    add(&t, "service", SELECTOR_OP_EQ, v);
    char *a = filter(rule(P95), "shop", &t.sel);
    free(a);
    cr_assert_str_eq(rule(P95)->spans_text, "{ kind = server }");
    struct buf b;
    size_t len;
    buf_init(&b, 256);
    cr_assert_eq(traceql_render(rule(P95)->spans, &b), TA_OK);
    char *s = buf_take(&b, &len);
    cr_assert_str_eq(s, "{ kind = server }");
    free(s);
}

static const char **values(int n)
{
    const char **v = calloc((size_t)n + 1, sizeof(*v));
    for (int i = 0; i < n; i++) {
        char *s = malloc(16);
        snprintf(s, 16, "v%d", i);
        v[i] = s;
    }
    return v;
}

static void free_values(const char **v)
{
    for (size_t i = 0; v[i]; i++)
        free((char *)v[i]);
    free(v);
}

Test(rules_filter, node_limit, .init = load_default, .fini = unload)
{
    /* spans (1) && in of 500 (999) && ns (1): 3 + 999 = 1002 nodes with the two && */
    const char **v = values(500);
    struct tsel t = { 0 };
    add(&t, "route", SELECTOR_OP_IN, v);
    struct traceql_node *f = NULL;
    cr_assert_eq(rules_filter_for(rule(P95), slice_from_cstr("shop"), &t.sel, &f, NULL), TA_OK);
    traceql_free(f);
    free_values(v);
    /* in of 512 (1023) && spans && ns: 1023 + 2 + 2 = 1027 */
    v = values(512);
    struct tsel u = { 0 };
    add(&u, "route", SELECTOR_OP_IN, v);
    expect_fail(rule(P95), "shop", &u.sel, TA_TOO_LARGE,
                "labelSelector: the filter would have 1027 comparisons and operators, more than "
                "1024");
    free_values(v);
}
