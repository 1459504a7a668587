/* rules.c — loads and validates the rules file into an immutable, reference-counted struct rules.
 *
 * main and the reloader in server/ call rules_load_file (or rules_load_default when --config
 * is absent); rules_yaml.c supplies the YAML tree, traceql_* the filters. Every check runs
 * before anything is published: one error rejects the whole file with
 * "file:line:column: reason", the column pointing inside a filter when it can. Effective
 * settings are resolved per rule (rule, then defaults, then built-in values) and stored in
 * each struct rule, so readers never look at defaults. After loading nothing changes but the
 * atomic reference count: any thread may read a struct rules it holds a reference on. */
#include "rules/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/base/parse.h"
#include "apis/base/ta_mem.h"
#include "apis/embedded.h"
#include "rules/rules_int.h"

#define NS_PER_S         1000000000LL
#define DAY_NS           (86400LL * NS_PER_S)
#define MAX_WINDOW_NS    DAY_NS /* Tempo 3's longest metrics query; longer windows cost too much */
#define MAX_AGE_NS       DAY_NS
#define MAX_THRESHOLD_NS DAY_NS
#define MIN_REFRESH_NS   NS_PER_S
#define MAX_MIN_SAMPLES  1000000000ull
#define PARSE_DUR_MAX    1000000000000000000LL /* what parse_duration_ns is asked to read */

#define DEFAULT_WINDOW_NS   (120 * NS_PER_S)
#define DEFAULT_REFRESH_NS  (15 * NS_PER_S)
#define DEFAULT_MAX_AGE_NS  (60 * NS_PER_S)
#define DEFAULT_MIN_SAMPLES 20
#define DEFAULT_IO_SAMPLE   100
#define DEFAULT_NS_ATTR     "resource.k8s.namespace.name"
#define EMBEDDED_NAME       "<embedded default>"

static const char *const METRIC_NAMES[] = { "quantile",   "rate",     "error_ratio",
                                            "slow_ratio", "io_share", "mean" };

static const char *const TOP_KEYS[] = { "defaults", "labels", "externalRules", NULL };
static const char *const DEFAULT_KEYS[] = {
    "window", "refresh", "maxAge", "minSamples", "namespaceAttribute", "onEmpty", NULL
};
static const char *const RULE_KEYS[] = { "name",     "help",       "spans",  "metric",
                                         "quantile", "threshold",  "io",     "mode",
                                         "ioSample", "onEmpty",    "window", "refresh",
                                         "maxAge",   "minSamples", "labels", "namespaceAttribute",
                                         NULL };

struct loader {
    const char *name; /* file name in messages */
    struct slice src; /* the file's bytes */
    struct ta_err *err;
};

/* One label mapping while loading; attr is owned, key and text borrow from the YAML tree. */
struct lab {
    const char *key;
    const struct ry_node *at; /* value node, for messages */
    struct traceql_node *attr;
};

/* Settings that defaults may give and rules may override. Nodes are where each was set. */
struct settings {
    int64_t window_ns, refresh_ns, max_age_ns;
    uint64_t min_samples;
    enum rule_on_empty on_empty;
    const struct ry_node *window_at, *refresh_at, *max_age_at, *ns_at;
    struct traceql_node *ns_attr; /* owned; NULL when "" */
    struct lab *labels;           /* owned array; attrs owned */
    size_t nlabels;
};

static enum ta_rc failv(struct loader *L, int line, int col, enum ta_rc rc, const char *fmt,
                        va_list ap) TA_PRINTF(5, 0);

static enum ta_rc failv(struct loader *L, int line, int col, enum ta_rc rc, const char *fmt,
                        va_list ap)
{
    char msg[TA_ERR_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return ta_err_set(L->err, rc, "%s:%d:%d: %s", L->name, line, col, msg);
}

static enum ta_rc fail_at(struct loader *L, const struct ry_node *n, const char *fmt, ...)
    TA_PRINTF(3, 4);

static enum ta_rc fail_at(struct loader *L, const struct ry_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum ta_rc rc = failv(L, n ? n->line : 1, n ? n->col : 1, TA_INVALID, fmt, ap);
    va_end(ap);
    return rc;
}

static enum ta_rc fail_pos(struct loader *L, int line, int col, enum ta_rc rc, const char *fmt, ...)
    TA_PRINTF(5, 6);

static enum ta_rc fail_pos(struct loader *L, int line, int col, enum ta_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc = failv(L, line, col, rc, fmt, ap);
    va_end(ap);
    return rc;
}

/* "a, b, c" of a NULL-terminated list, for messages. */
static void join(const char *const *list, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; list[i] && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", list[i]);
}

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Checks that n is a mapping with scalar, unique keys drawn from valid (NULL: any key). */
static enum ta_rc check_map(struct loader *L, const struct ry_node *n, const char *what,
                            const char *const *valid)
{
    if (n->type != RY_MAP)
        return fail_at(L, n, "%s: expected a mapping, got %s", what, ry_type_name(n));
    for (size_t i = 0; i < n->n; i += 2) {
        const struct ry_node *k = n->kids[i];
        if (k->type != RY_SCALAR)
            return fail_at(L, k, "%s: keys must be strings, got %s", what, ry_type_name(k));
        if (memchr(k->val, '\0', k->len))
            return fail_at(L, k, "%s: NUL byte in a key", what);
        if (valid && !in_list(valid, k->val)) {
            char names[200];
            join(valid, names, sizeof(names));
            return fail_at(L, k, "unknown key \"%.40s\" in %s (valid: %s)", k->val, what, names);
        }
        for (size_t j = 0; j < i; j += 2)
            if (strcmp(n->kids[j]->val, k->val) == 0)
                return fail_at(L, k, "duplicate key \"%.40s\" in %s (first at line %d)", k->val,
                               what, n->kids[j]->line);
    }
    return TA_OK;
}

/* The value of key in mapping m, or NULL. */
static const struct ry_node *get(const struct ry_node *m, const char *key)
{
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (strcmp(m->kids[i]->val, key) == 0)
            return m->kids[i + 1];
    return NULL;
}

static enum ta_rc want_string(struct loader *L, const struct ry_node *v, const char *key)
{
    if (v->type != RY_SCALAR || ry_is_null(v))
        return fail_at(L, v, "%s: expected a string, got %s", key, ry_type_name(v));
    if (memchr(v->val, '\0', v->len))
        return fail_at(L, v, "%s: NUL byte in the value", key);
    return TA_OK;
}

static enum ta_rc want_plain(struct loader *L, const struct ry_node *v, const char *key,
                             const char *what)
{
    if (v->type != RY_SCALAR || ry_is_null(v))
        return fail_at(L, v, "%s: expected %s, got %s", key, what, ry_type_name(v));
    if (v->style != RY_PLAIN)
        return fail_at(L, v, "%s: expected %s, got a quoted string", key, what);
    return TA_OK;
}

static enum ta_rc get_duration(struct loader *L, const struct ry_node *v, const char *key,
                               int64_t *out)
{
    struct ta_err e = { 0 };
    enum ta_rc rc = want_string(L, v, key);
    if (rc != TA_OK)
        return rc;
    if (parse_duration_ns(slice_make(v->val, v->len), 0, PARSE_DUR_MAX, out, &e) != TA_OK)
        return fail_at(L, v, "%s: %s", key, e.msg);
    return TA_OK;
}

static enum ta_rc get_u64(struct loader *L, const struct ry_node *v, const char *key, uint64_t min,
                          uint64_t max, uint64_t *out)
{
    struct ta_err e = { 0 };
    enum ta_rc rc = want_plain(L, v, key, "a whole number");
    if (rc != TA_OK)
        return rc;
    if (parse_u64(slice_make(v->val, v->len), min, max, out, &e) != TA_OK)
        return fail_at(L, v, "%s: %s", key, e.msg);
    return TA_OK;
}

/* One of words (NULL-terminated); *out gets its index. */
static enum ta_rc get_word(struct loader *L, const struct ry_node *v, const char *key,
                           const char *const *words, int *out)
{
    enum ta_rc rc = want_string(L, v, key);
    if (rc != TA_OK)
        return rc;
    for (int i = 0; words[i]; i++)
        if (strcmp(v->val, words[i]) == 0) {
            *out = i;
            return TA_OK;
        }
    char names[120];
    join(words, names, sizeof(names));
    return fail_at(L, v, "%s: unknown value \"%.40s\" (valid: %s)", key, v->val, names);
}

/* Byte offset of 1-based (line, col) in the source (columns count characters). */
static size_t src_offset(struct slice src, int line, int col)
{
    size_t i = 0;
    for (int l = 1; l < line && i < src.len; i++)
        if (src.ptr[i] == '\n')
            l++;
    for (int c = 1; c < col && i < src.len; c++) {
        i++;
        while (i < src.len && ((unsigned char)src.ptr[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* Parses a filter scalar; on error points at the failing character in the file when the scalar
 * is written on one line without escapes, else at the scalar. */
static enum ta_rc get_filter(struct loader *L, const struct ry_node *v, const char *key,
                             struct traceql_node **out)
{
    struct ta_err e = { 0 };
    size_t off = 0;
    enum ta_rc rc = want_string(L, v, key);
    if (rc != TA_OK)
        return rc;
    rc = traceql_parse_pos(slice_make(v->val, v->len), out, &off, &e);
    if (rc == TA_OK)
        return TA_OK;
    int line = v->line, col = v->col;
    if (v->style != RY_BLOCK && v->end_line == v->line) {
        size_t q = v->style == RY_PLAIN ? 0 : 1;
        size_t start = src_offset(L->src, v->line, v->col) + q;
        if (start + v->len <= L->src.len && memcmp(L->src.ptr + start, v->val, v->len) == 0) {
            col += (int)q;
            for (size_t i = 0; i < off && i < v->len; i++)
                if (((unsigned char)v->val[i] & 0xC0) != 0x80)
                    col++;
        }
    }
    return fail_pos(L, line, col, rc, "%s: %s", key, e.msg);
}

static enum ta_rc get_attr(struct loader *L, const struct ry_node *v, const char *what,
                           struct traceql_node **out)
{
    struct ta_err e = { 0 };
    enum ta_rc rc = want_string(L, v, what);
    if (rc != TA_OK)
        return rc;
    if (traceql_parse_attr(slice_make(v->val, v->len), out, &e) != TA_OK)
        return fail_at(L, v, "%s: %s", what, e.msg);
    return TA_OK;
}

/* A Kubernetes label key: [prefix/]name, name 1..63 of [A-Za-z0-9_.-] starting and ending
 * alphanumeric, prefix a DNS subdomain of at most 253. NULL when valid, else the reason. */
static const char *label_key_problem(const char *k)
{
    const char *slash = strchr(k, '/');
    const char *name = slash ? slash + 1 : k;
    size_t nl = strlen(name);
#define ALNUM(c) \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
    if (nl == 0 || nl > 63)
        return "the name part must have 1 to 63 characters";
    if (!ALNUM(name[0]) || !ALNUM(name[nl - 1]))
        return "the name part must start and end with a letter or digit";
    for (size_t i = 0; i < nl; i++)
        if (!ALNUM(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
            return "the name part may hold only letters, digits, '-', '_' and '.'";
    if (slash) {
        size_t pl = (size_t)(slash - k);
        if (pl == 0 || pl > 253)
            return "the prefix must have 1 to 253 characters";
        for (size_t i = 0; i < pl; i++) {
            char c = k[i];
            bool lab_start = i == 0 || k[i - 1] == '.', lab_end = i + 1 == pl || k[i + 1] == '.';
            if (c == '.' && !lab_start && !lab_end)
                continue;
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (c == '-' && !lab_start && !lab_end)))
                return "the prefix must be a lower-case DNS subdomain";
        }
    }
#undef ALNUM
    return NULL;
}

static void labels_free(struct lab *labs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        traceql_free(labs[i].attr);
    free(labs);
}

/* Reads a labels mapping into *labs (merging over what is there: a key replaces, null removes
 * when allow_remove). */
static enum ta_rc get_labels(struct loader *L, const struct ry_node *m, bool allow_remove,
                             struct lab **labs, size_t *n)
{
    enum ta_rc rc = check_map(L, m, "labels", NULL);
    if (rc != TA_OK)
        return rc;
    for (size_t i = 0; i < m->n; i += 2) {
        const struct ry_node *k = m->kids[i], *v = m->kids[i + 1];
        const char *why = label_key_problem(k->val);
        if (why || memchr(k->val, '\0', k->len))
            return fail_at(L, k, "labels: invalid label key \"%.63s\": %s", k->val,
                           why ? why : "NUL byte");
        size_t at = *n;
        for (size_t j = 0; j < *n; j++)
            if (strcmp((*labs)[j].key, k->val) == 0)
                at = j;
        if (allow_remove && ry_is_null(v)) {
            if (at < *n) {
                traceql_free((*labs)[at].attr);
                (*labs)[at] = (*labs)[*n - 1];
                (*n)--;
            }
            continue;
        }
        char what[96];
        snprintf(what, sizeof(what), "labels: %.63s", k->val);
        struct traceql_node *a = NULL;
        if ((rc = get_attr(L, v, what, &a)) != TA_OK)
            return rc;
        enum traceql_scope scope;
        enum traceql_intrinsic which;
        traceql_attr_info(a, &scope, NULL, &which);
        if (scope == TRACEQL_SCOPE_INTRINSIC && which == TRACEQL_INTRINSIC_DURATION) {
            traceql_free(a);
            return fail_at(L, v, "%s: duration cannot be a label (selector values are strings)",
                           what);
        }
        if (at == *n) {
            if (*n >= RULES_MAX_LABELS) {
                traceql_free(a);
                return fail_at(L, k, "labels: more than %d labels", RULES_MAX_LABELS);
            }
            *labs = ta_xreallocarray(*labs, *n + 1, sizeof(**labs));
            (*n)++;
        } else {
            traceql_free((*labs)[at].attr);
        }
        (*labs)[at] = (struct lab){ .key = k->val, .at = v, .attr = a };
    }
    return TA_OK;
}

static void settings_free(struct settings *s)
{
    traceql_free(s->ns_attr);
    labels_free(s->labels, s->nlabels);
}

static void settings_copy(struct settings *dst, const struct settings *src)
{
    *dst = *src;
    dst->ns_attr = traceql_clone(src->ns_attr);
    dst->labels = src->nlabels ? ta_xreallocarray(NULL, src->nlabels, sizeof(*dst->labels)) : NULL;
    for (size_t i = 0; i < src->nlabels; i++) {
        dst->labels[i] = src->labels[i];
        dst->labels[i].attr = traceql_clone(src->labels[i].attr);
    }
}

/* Applies window/refresh/maxAge/minSamples/namespaceAttribute/onEmpty found in map m. */
static enum ta_rc apply_settings(struct loader *L, const struct ry_node *m, struct settings *s)
{
    const struct ry_node *v;
    enum ta_rc rc;
    if ((v = get(m, "window"))) {
        if ((rc = get_duration(L, v, "window", &s->window_ns)) != TA_OK)
            return rc;
        if (s->window_ns <= 0 || s->window_ns > MAX_WINDOW_NS)
            return fail_at(L, v, "window: must be longer than 0 and at most 24h, got %s", v->val);
        s->window_at = v;
    }
    if ((v = get(m, "refresh"))) {
        if ((rc = get_duration(L, v, "refresh", &s->refresh_ns)) != TA_OK)
            return rc;
        if (s->refresh_ns < MIN_REFRESH_NS || s->refresh_ns > MAX_WINDOW_NS)
            return fail_at(L, v, "refresh: must be at least 1s and at most 24h, got %s", v->val);
        s->refresh_at = v;
    }
    if ((v = get(m, "maxAge"))) {
        if ((rc = get_duration(L, v, "maxAge", &s->max_age_ns)) != TA_OK)
            return rc;
        if (s->max_age_ns <= 0 || s->max_age_ns > MAX_AGE_NS)
            return fail_at(L, v, "maxAge: must be longer than 0 and at most 24h, got %s", v->val);
        s->max_age_at = v;
    }
    if ((v = get(m, "minSamples")) &&
        (rc = get_u64(L, v, "minSamples", 0, MAX_MIN_SAMPLES, &s->min_samples)) != TA_OK)
        return rc;
    if ((v = get(m, "onEmpty"))) {
        static const char *const WORDS[] = { "error", "zero", NULL };
        int w;
        if ((rc = get_word(L, v, "onEmpty", WORDS, &w)) != TA_OK)
            return rc;
        s->on_empty = w == 0 ? RULE_ON_EMPTY_ERROR : RULE_ON_EMPTY_ZERO;
    }
    if ((v = get(m, "namespaceAttribute"))) {
        struct traceql_node *a = NULL;
        if ((rc = want_string(L, v, "namespaceAttribute")) != TA_OK)
            return rc;
        if (v->len > 0) {
            if ((rc = get_attr(L, v, "namespaceAttribute", &a)) != TA_OK)
                return rc;
            enum traceql_scope scope;
            traceql_attr_info(a, &scope, NULL, NULL);
            if (scope == TRACEQL_SCOPE_INTRINSIC) {
                traceql_free(a);
                return fail_at(L, v,
                               "namespaceAttribute: must be an attribute such as "
                               "resource.k8s.namespace.name, not an intrinsic");
            }
        }
        traceql_free(s->ns_attr);
        s->ns_attr = a;
        s->ns_at = v;
    }
    return TA_OK;
}

/* Metric names are path segments and discovery entries: [A-Za-z][A-Za-z0-9_.:-]*, at most
 * RULES_NAME_MAX, not "status" or "finalize" (kube-apiserver reads those as subresources). */
static enum ta_rc check_name(struct loader *L, const struct ry_node *v)
{
    const char *s = v->val;
    bool ok = v->len > 0 && v->len <= RULES_NAME_MAX &&
              ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'));
    for (size_t i = 0; ok && i < v->len; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.' || c == ':' || c == '-';
    }
    if (!ok)
        return fail_at(L, v,
                       "name: invalid metric name \"%.60s\": use at most %d letters, digits, "
                       "'_', '.', ':' or '-', starting with a letter",
                       s, RULES_NAME_MAX);
    if (strcmp(s, "status") == 0 || strcmp(s, "finalize") == 0)
        return fail_at(L, v,
                       "name: \"%s\" cannot be a metric name (kube-apiserver reads "
                       "namespaces/{ns}/%s as a subresource)",
                       s, s);
    return TA_OK;
}

/* Keys that only some metrics take. */
static enum ta_rc check_applies(struct loader *L, const struct ry_node *rule, enum metric_kind k)
{
    static const struct {
        const char *key;
        enum metric_kind only;
    } ONLY[] = {
        { "quantile", METRIC_QUANTILE }, { "threshold", METRIC_SLOW_RATIO },
        { "io", METRIC_IO_SHARE },       { "mode", METRIC_IO_SHARE },
        { "ioSample", METRIC_IO_SHARE },
    };
    for (size_t i = 0; i < sizeof(ONLY) / sizeof(ONLY[0]); i++)
        for (size_t j = 0; j < rule->n; j += 2)
            if (strcmp(rule->kids[j]->val, ONLY[i].key) == 0 && k != ONLY[i].only)
                return fail_at(L, rule->kids[j], "%s does not apply to metric %s (only to %s)",
                               ONLY[i].key, METRIC_NAMES[k], METRIC_NAMES[ONLY[i].only]);
    return TA_OK;
}

static int lab_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rule_label *)a)->key, ((const struct rule_label *)b)->key);
}

static void rule_clear(struct rule *r)
{
    free(r->name);
    free(r->help);
    traceql_free(r->spans);
    traceql_free(r->io);
    traceql_free(r->namespace_attr);
    free(r->spans_text);
    for (size_t i = 0; i < r->nlabels; i++) {
        free(r->labels[i].key);
        traceql_free(r->labels[i].attr);
        free(r->labels[i].attr_text);
    }
    free(r->labels);
    memset(r, 0, sizeof(*r));
}

static enum ta_rc load_rule(struct loader *L, const struct ry_node *m, const struct settings *def,
                            struct rule *r)
{
    struct settings s;
    const struct ry_node *v;
    enum ta_rc rc;
    struct buf text;
    int w;

    memset(r, 0, sizeof(*r));
    settings_copy(&s, def);
    r->line = m->line;
    if ((rc = check_map(L, m, "rule", RULE_KEYS)) != TA_OK)
        goto out;
    static const char *const REQUIRED[] = { "name", "spans", "metric" };
    for (size_t i = 0; i < 3; i++)
        if (!get(m, REQUIRED[i])) {
            rc = fail_at(L, m, "rule is missing \"%s\"", REQUIRED[i]);
            goto out;
        }
    v = get(m, "name");
    if ((rc = want_string(L, v, "name")) != TA_OK || (rc = check_name(L, v)) != TA_OK)
        goto out;
    r->name = ta_xstrndup(v->val, v->len);
    static const char *const METRIC_WORDS[] = { "quantile", "rate", "error_ratio", "slow_ratio",
                                                "io_share", "mean", NULL };
    if ((rc = get_word(L, get(m, "metric"), "metric", METRIC_WORDS, &w)) != TA_OK)
        goto out;
    r->metric = (enum metric_kind)w;
    if ((rc = check_applies(L, m, r->metric)) != TA_OK)
        goto out;
    if ((v = get(m, "help"))) {
        if ((rc = want_string(L, v, "help")) != TA_OK)
            goto out;
        r->help = ta_xstrndup(v->val, v->len);
    } else {
        r->help = ta_xstrdup("");
    }
    if ((rc = get_filter(L, get(m, "spans"), "spans", &r->spans)) != TA_OK)
        goto out;
    buf_init(&text, TRACEQL_RENDER_MAX);
    if (traceql_render(r->spans, &text) != TA_OK) {
        rc = fail_at(L, get(m, "spans"), "spans: rendering is longer than %d bytes",
                     TRACEQL_RENDER_MAX);
        goto out;
    }
    size_t text_len;
    r->spans_text = buf_take(&text, &text_len);

    switch (r->metric) {
    case METRIC_QUANTILE:
        if (!(v = get(m, "quantile"))) {
            rc = fail_at(L, get(m, "metric"),
                         "metric quantile needs quantile: in (0, 1], e.g. 0.95");
            goto out;
        }
        if ((rc = want_plain(L, v, "quantile", "a number")) != TA_OK)
            goto out;
        if (parse_double(slice_make(v->val, v->len), -1e300, 1e300, &r->quantile, NULL) != TA_OK ||
            !(r->quantile > 0 && r->quantile <= 1)) {
            rc = fail_at(L, v, "quantile: must be a number in (0, 1], got %.40s", v->val);
            goto out;
        }
        break;
    case METRIC_SLOW_RATIO:
        if (!(v = get(m, "threshold"))) {
            rc = fail_at(L, get(m, "metric"), "metric slow_ratio needs threshold, e.g. 300ms");
            goto out;
        }
        if ((rc = get_duration(L, v, "threshold", &r->threshold_ns)) != TA_OK)
            goto out;
        if (r->threshold_ns > MAX_THRESHOLD_NS) {
            rc = fail_at(L, v, "threshold: must be at most 24h, got %s", v->val);
            goto out;
        }
        break;
    case METRIC_IO_SHARE:
        if (!(v = get(m, "io"))) {
            rc = fail_at(L, get(m, "metric"),
                         "metric io_share needs io: a filter of the IO spans, e.g. '{ kind = "
                         "client }'");
            goto out;
        }
        if ((rc = get_filter(L, v, "io", &r->io)) != TA_OK)
            goto out;
        r->io_mode = RULE_IO_EXACT;
        if ((v = get(m, "mode"))) {
            static const char *const MODES[] = { "exact", "approximate", NULL };
            if ((rc = get_word(L, v, "mode", MODES, &w)) != TA_OK)
                goto out;
            r->io_mode = w == 0 ? RULE_IO_EXACT : RULE_IO_APPROXIMATE;
        }
        r->io_sample = DEFAULT_IO_SAMPLE;
        if ((v = get(m, "ioSample"))) {
            uint64_t n;
            if (r->io_mode != RULE_IO_EXACT) {
                rc = fail_at(L, v, "ioSample applies only to mode: exact");
                goto out;
            }
            if ((rc = get_u64(L, v, "ioSample", 1, RULES_IO_SAMPLE_MAX, &n)) != TA_OK)
                goto out;
            r->io_sample = (uint32_t)n;
        }
        break;
    default:
        break;
    }

    if ((rc = apply_settings(L, m, &s)) != TA_OK)
        goto out;
    if ((v = get(m, "labels")) && (rc = get_labels(L, v, true, &s.labels, &s.nlabels)) != TA_OK)
        goto out;
    if (s.refresh_ns > s.window_ns) {
        const struct ry_node *at =
            get(m, "refresh") ? s.refresh_at : (get(m, "window") ? s.window_at : m);
        rc = fail_at(L, at, "refresh (%llds) is longer than window (%llds)",
                     (long long)(s.refresh_ns / NS_PER_S), (long long)(s.window_ns / NS_PER_S));
        goto out;
    }
    if (s.max_age_ns < s.refresh_ns) {
        const struct ry_node *at =
            get(m, "maxAge") ? s.max_age_at : (get(m, "refresh") ? s.refresh_at : m);
        rc = fail_at(L, at,
                     "maxAge (%llds) is shorter than refresh (%llds): every value would expire "
                     "before the next one",
                     (long long)(s.max_age_ns / NS_PER_S), (long long)(s.refresh_ns / NS_PER_S));
        goto out;
    }
    r->window_ns = s.window_ns;
    r->refresh_ns = s.refresh_ns;
    r->max_age_ns = s.max_age_ns;
    r->min_samples = s.min_samples;
    r->on_empty = s.on_empty;
    r->namespace_attr = s.ns_attr;
    s.ns_attr = NULL;
    r->nlabels = s.nlabels;
    r->labels = s.nlabels ? ta_xcalloc(s.nlabels, sizeof(*r->labels)) : NULL;
    for (size_t i = 0; i < s.nlabels; i++) {
        r->labels[i].key = ta_xstrdup(s.labels[i].key);
        r->labels[i].attr = s.labels[i].attr;
        r->labels[i].attr_text = ta_xstrndup(s.labels[i].at->val, s.labels[i].at->len);
        s.labels[i].attr = NULL;
    }
    if (r->nlabels > 1)
        qsort(r->labels, r->nlabels, sizeof(*r->labels), lab_cmp);
out:
    settings_free(&s);
    if (rc != TA_OK)
        rule_clear(r);
    return rc;
}

/* ---- attribute key sets ---------------------------------------------------------------- */

struct keys {
    char **span, **res;
    size_t nspan, nres, capspan, capres;
};

static void key_add(char ***arr, size_t *n, size_t *cap, struct slice name)
{
    for (size_t i = 0; i < *n; i++)
        if (slice_eq_cstr(name, (*arr)[i]))
            return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *arr = ta_xreallocarray(*arr, *cap, sizeof(**arr));
    }
    (*arr)[(*n)++] = ta_xstrndup(name.ptr, name.len);
}

static void key_visit(void *arg, enum traceql_scope scope, struct slice name)
{
    struct keys *k = arg;
    if (scope != TRACEQL_SCOPE_RESOURCE)
        key_add(&k->span, &k->nspan, &k->capspan, name);
    if (scope != TRACEQL_SCOPE_SPAN)
        key_add(&k->res, &k->nres, &k->capres, name);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect_keys(struct rules *rs)
{
    struct keys k = { 0 };
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule *r = &rs->items[i];
        traceql_visit_attrs(r->spans, key_visit, &k);
        traceql_visit_attrs(r->io, key_visit, &k);
        traceql_visit_attrs(r->namespace_attr, key_visit, &k);
        for (size_t j = 0; j < r->nlabels; j++)
            traceql_visit_attrs(r->labels[j].attr, key_visit, &k);
    }
    if (k.nspan > 1)
        qsort(k.span, k.nspan, sizeof(*k.span), str_cmp);
    if (k.nres > 1)
        qsort(k.res, k.nres, sizeof(*k.res), str_cmp);
    rs->span_keys = k.span;
    rs->nspan_keys = k.nspan;
    rs->resource_keys = k.res;
    rs->nresource_keys = k.nres;
}

/* ---- the file ---------------------------------------------------------------------------- */

static void rules_free(struct rules *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_clear(&rs->items[i]);
    free(rs->items);
    for (size_t i = 0; i < rs->nspan_keys; i++)
        free(rs->span_keys[i]);
    free(rs->span_keys);
    for (size_t i = 0; i < rs->nresource_keys; i++)
        free(rs->resource_keys[i]);
    free(rs->resource_keys);
    free(rs->source);
    free(rs);
}

static enum ta_rc load_tree(struct loader *L, const struct ry_node *root, struct rules *rs)
{
    struct settings def = {
        .window_ns = DEFAULT_WINDOW_NS,
        .refresh_ns = DEFAULT_REFRESH_NS,
        .max_age_ns = DEFAULT_MAX_AGE_NS,
        .min_samples = DEFAULT_MIN_SAMPLES,
        .on_empty = RULE_ON_EMPTY_ERROR,
    };
    const struct ry_node *v, *list;
    enum ta_rc rc;

    if (traceql_parse_attr(SLICE_LIT(DEFAULT_NS_ATTR), &def.ns_attr, NULL) != TA_OK)
        return ta_err_set(L->err, TA_INTERNAL, "%s: built-in namespaceAttribute", L->name);
    if (!root || ry_is_null(root)) {
        rc = fail_pos(L, 1, 1, TA_INVALID, "no rules: the file must have externalRules");
        goto out;
    }
    if ((rc = check_map(L, root, "the top level", TOP_KEYS)) != TA_OK)
        goto out;
    if ((v = get(root, "defaults"))) {
        if ((rc = check_map(L, v, "defaults", DEFAULT_KEYS)) != TA_OK ||
            (rc = apply_settings(L, v, &def)) != TA_OK)
            goto out;
    }
    if ((v = get(root, "labels")) &&
        (rc = get_labels(L, v, false, &def.labels, &def.nlabels)) != TA_OK)
        goto out;
    if (!(list = get(root, "externalRules"))) {
        rc = fail_at(L, root, "no rules: the file must have externalRules");
        goto out;
    }
    if (list->type != RY_SEQ) {
        rc = fail_at(L, list, "externalRules: expected a list, got %s", ry_type_name(list));
        goto out;
    }
    if (list->n == 0) {
        rc = fail_at(L, list, "externalRules: no rules (at least one is needed)");
        goto out;
    }
    if (list->n > RULES_MAX_RULES) {
        rc = fail_at(L, list->kids[RULES_MAX_RULES], "externalRules: more than %d rules",
                     RULES_MAX_RULES);
        goto out;
    }
    rs->items = ta_xcalloc(list->n, sizeof(*rs->items));
    for (size_t i = 0; i < list->n; i++) {
        if ((rc = load_rule(L, list->kids[i], &def, &rs->items[i])) != TA_OK)
            goto out;
        rs->n++;
        for (size_t j = 0; j < i; j++)
            if (strcmp(rs->items[j].name, rs->items[i].name) == 0) {
                rc = fail_at(L, get(list->kids[i], "name"),
                             "duplicate rule name \"%s\" (first at line %d)", rs->items[i].name,
                             rs->items[j].line);
                goto out;
            }
        if (i == 0 || rs->items[i].window_ns > rs->max_window_ns)
            rs->max_window_ns = rs->items[i].window_ns;
        if (i == 0 || rs->items[i].refresh_ns < rs->min_refresh_ns)
            rs->min_refresh_ns = rs->items[i].refresh_ns;
    }
    collect_keys(rs);
out:
    settings_free(&def);
    return rc;
}

/* Offset of the first byte that is NUL or not UTF-8, or len. */
static size_t first_bad_byte(struct slice s, bool *nul)
{
    *nul = false;
    for (size_t i = 0; i < s.len;) {
        if (s.ptr[i] == '\0') {
            *nul = true;
            return i;
        }
        size_t j = i + 1;
        while (j < s.len && j - i < 4 && ((unsigned char)s.ptr[j] & 0xC0) == 0x80)
            j++;
        if (!slice_is_utf8(slice_make(s.ptr + i, j - i)))
            return i;
        i = j;
    }
    return s.len;
}

enum ta_rc rules_load_bytes(struct slice yaml, const char *name, struct rules **out,
                            struct ta_err *err)
{
    struct loader L = { .name = name ? name : "<rules>", .src = yaml, .err = err };
    struct ry_node *root = NULL;
    struct rules *rs = NULL;
    enum ta_rc rc;
    int line, col;
    bool nul;

    *out = NULL;
    if (yaml.len > RULES_FILE_MAX_BYTES)
        return fail_pos(&L, 1, 1, TA_TOO_LARGE, "file is %zu bytes, more than %u", yaml.len,
                        RULES_FILE_MAX_BYTES);
    if (!yaml.ptr)
        L.src = yaml = slice_make("", 0);
    size_t bad = first_bad_byte(yaml, &nul);
    if (bad < yaml.len) {
        struct slice head = slice_head(yaml, bad);
        line = 1;
        col = 1;
        for (size_t i = 0; i < head.len; i++) {
            if (head.ptr[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)head.ptr[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        return fail_pos(&L, line, col, TA_INVALID,
                        nul ? "NUL byte in the file" : "the file is not valid UTF-8");
    }
    struct ta_err yerr = { 0 };
    if ((rc = ry_parse(yaml, &root, &line, &col, &yerr)) != TA_OK)
        return fail_pos(&L, line, col, rc, "%s", yerr.msg);
    rs = ta_xcalloc(1, sizeof(*rs));
    atomic_init(&rs->refs, 1);
    rs->source = ta_xstrdup(L.name);
    if ((rc = load_tree(&L, root, rs)) != TA_OK)
        goto out;
    *out = rs;
    rs = NULL;
out:
    rules_free(rs);
    ry_free(root);
    return rc;
}

enum ta_rc rules_load_file(const char *path, struct rules **out, struct ta_err *err)
{
    char why[128];
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    enum ta_rc rc;
    int fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return ta_err_set(err, TA_IO, "%s: cannot open: %s", path, strerror_r(e, why, sizeof(why)));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ta_err_set(err, TA_IO, "%s: not a regular file", path);
    }
    /* read at most one byte more than allowed: the file may grow while we read */
    data = ta_xmalloc(RULES_FILE_MAX_BYTES + 1);
    for (;;) {
        ssize_t n = read(fd, data + len, RULES_FILE_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            rc = ta_err_set(err, TA_IO, "%s: cannot read: %s", path,
                            strerror_r(e, why, sizeof(why)));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > RULES_FILE_MAX_BYTES)
            break;
    }
    rc = rules_load_bytes(slice_make(data, len), path, out, err);
out:
    free(data);
    close(fd);
    return rc;
}

enum ta_rc rules_load_default(struct rules **out, struct ta_err *err)
{
    struct slice s = embedded_get("rules/default.yaml");
    *out = NULL;
    if (!s.ptr)
        return ta_err_set(err, TA_INTERNAL, "rules/default.yaml is not embedded in this binary");
    return rules_load_bytes(s, EMBEDDED_NAME, out, err);
}

struct rules *rules_ref(struct rules *r)
{
    if (r)
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void rules_unref(struct rules *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        rules_free(r);
}

const struct rule *rules_find(const struct rules *r, struct slice name)
{
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (slice_eq_cstr(name, r->items[i].name))
            return &r->items[i];
    return NULL;
}

const char *rules_metric_name(enum metric_kind k)
{
    return (unsigned)k < sizeof(METRIC_NAMES) / sizeof(METRIC_NAMES[0]) ? METRIC_NAMES[k]
                                                                        : "unknown";
}
