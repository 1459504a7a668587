/* selector.h — parses a Kubernetes labelSelector into a sorted list of requirements.
 *
 * apis/route.c passes the form-decoded labelSelector value; rules/ turns each requirement into
 * TraceQL conditions ANDed into the rule's filter tree; server/ forwards them to
 * SubjectAccessReview. Grammar, validation and messages follow apimachinery's labels.Parse
 * (spec §8); `>` and `<` are rejected for this API. No I/O, no globals: any thread. */
#ifndef TA_APIS_SELECTOR_H
#define TA_APIS_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

#define SELECTOR_MAX_LEN    4096 /* decoded selector text; the HPA's are a few dozen bytes */
#define SELECTOR_MAX_REQS   32   /* requirements per selector: far above any HPA's matchLabels */
#define SELECTOR_MAX_VALUES 64   /* distinct values in one in/notin set (duplicates collapse) */

enum selector_op {
    SELECTOR_OP_EQ,         /* = and == */
    SELECTOR_OP_NEQ,        /* != */
    SELECTOR_OP_IN,         /* in (…) */
    SELECTOR_OP_NOTIN,      /* notin (…) */
    SELECTOR_OP_EXISTS,     /* key */
    SELECTOR_OP_NOT_EXISTS, /* !key */
};

struct selector_req {
    char *key; /* validated label key, NUL-terminated */
    enum selector_op op;
    char **values; /* sorted, deduplicated; one value for EQ/NEQ, none for (NOT_)EXISTS */
    size_t nvalues;
    bool double_eq; /* EQ written "==" in the text: kept only so selector_canonical prints it
                     * back as Go does; false in hand-built selectors is fine */
};

/* Read-only after selector_parse; requirements sorted by key with a stable sort (requirements
 * with the same key keep their order in the text), which is what Go's sort.Sort(ByKey) does for
 * the ≤ 12 requirements it sorts by insertion. Values are NUL-terminated and validated label
 * values (may be ""). */
struct selector {
    struct selector_req *reqs;
    size_t n;
};

/* Parses the decoded selector text (at most SELECTOR_MAX_LEN bytes; the empty or all-blank text
 * is the empty selector that matches everything: n = 0). On TA_OK the caller owns *out
 * (selector_free); on failure *out is NULL.
 * TA_INVALID: err->msg is apimachinery's labels.Parse wording, e.g.
 *   "unable to parse requirement: found 'bar' expected: '('"           (foo in bar)
 *   "found ',', expected: !, identifier, or 'end of string'"             (,a)
 *   "found 'x', expected: ',' or 'end of string'"                       (a=b x)
 *   "found '', expected: identifier after ','"                          (a,)
 *   "unable to parse requirement: invalid label key \"a$\": name part must consist of …"
 *   "unable to parse requirement: invalid label value: \"a$\": at key: \"k\": a valid label
 *    must be an empty string or consist of …"
 *   "operator '>' is not supported by external metrics selectors"      (a>1, a<1)
 *   "labelSelector contains a NUL byte"
 * Validation details are Kubernetes' IsLabelKey / IsLabelValue / IsDNS1123Subdomain texts
 * without their "(e.g. …, regex used for validation is …)" tails, which would not fit in
 * TA_ERR_MSG_MAX; bad bytes are quoted as Go's %q does and cut at 64 bytes.
 * TA_TOO_LARGE: text over SELECTOR_MAX_LEN, more than SELECTOR_MAX_REQS requirements or more
 * than SELECTOR_MAX_VALUES values in one set. */
enum ta_rc selector_parse(struct slice text, struct selector **out, struct ta_err *err);
/* Frees reqs[0..n) (keys, values, value arrays), reqs and sel itself with free(); NULL is fine. */
void selector_free(struct selector *sel);
/* Appends the canonical form (Go's Selector.String(): sorted, "k=v", "k==v", "k!=v",
 * "k in (a,b)", "k notin (a)", "k", "!k", joined by ","; "" for the empty selector): the cache
 * key and the text shown in logs. TA_TOO_LARGE (and out freed) past out's cap. */
TA_MUST_CHECK enum ta_rc selector_canonical(const struct selector *sel, struct buf *out);

#endif
