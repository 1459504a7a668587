/* selector.h — parses a Kubernetes labelSelector into a sorted list of requirements.
 *
 * apis/route.c passes the form-decoded labelSelector value; rules/ turns each requirement into
 * TraceQL conditions ANDed into the rule's filter tree; server/ forwards them to
 * SubjectAccessReview. Grammar, validation and messages follow apimachinery's labels.Parse
 * (spec §8); `>` and `<` are rejected for this API. No I/O, no globals: any thread. */
#ifndef TA_APIS_SELECTOR_H
#define TA_APIS_SELECTOR_H

#include <stddef.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

#define SELECTOR_MAX_LEN    4096 /* decoded selector text; the HPA's are a few dozen bytes */
#define SELECTOR_MAX_REQS   32   /* requirements per selector */
#define SELECTOR_MAX_VALUES 64   /* values in one in/notin set */

enum selector_op {
    SELECTOR_OP_EQ,         /* = and == */
    SELECTOR_OP_NEQ,        /* != */
    SELECTOR_OP_IN,         /* in (…) */
    SELECTOR_OP_NOTIN,      /* notin (…) */
    SELECTOR_OP_EXISTS,     /* key */
    SELECTOR_OP_NOT_EXISTS, /* !key */
};

struct selector_req {
    char *key;          /* validated label key, NUL-terminated */
    enum selector_op op;
    char **values;      /* sorted, deduplicated; one value for EQ/NEQ, none for (NOT_)EXISTS */
    size_t nvalues;
};

/* Read-only after selector_parse; requirements sorted by key (then by op), as Go sorts them. */
struct selector {
    struct selector_req *reqs;
    size_t n;
};

/* Parses the decoded selector text (at most SELECTOR_MAX_LEN bytes; the empty text is the
 * empty selector that matches everything). On TA_OK the caller owns *out (selector_free). On
 * TA_INVALID err->msg is Kubernetes' wording, e.g. "unable to parse requirement: found 'bar'
 * expected: '('"; TA_TOO_LARGE past a limit. */
enum ta_rc selector_parse(struct slice text, struct selector **out, struct ta_err *err);
void selector_free(struct selector *sel);
/* Appends the canonical form (Go's Selector.String(): sorted, "k=v", "k!=v", "k in (a,b)",
 * "k notin (a)", "k", "!k", joined by ","): the cache key and the text shown in logs. */
TA_MUST_CHECK enum ta_rc selector_canonical(const struct selector *sel, struct buf *out);

#endif
