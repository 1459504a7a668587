/* span.h — the span and attribute types every evaluator works on.
 *
 * A struct span is a read-only view: its slices borrow from whoever produced it (the embedded
 * store, a decoded Tempo trace, a test). Producers guarantee end_ns >= start_ns. Evaluators in
 * rules/ never know where spans came from. Plain data: any thread. */
#ifndef TA_RULES_SPAN_H
#define TA_RULES_SPAN_H

#include <stdbool.h>
#include <stdint.h>

#include "apis/base/slice.h"

enum span_kind { /* OTLP numbering */
    SPAN_KIND_UNSPECIFIED = 0,
    SPAN_KIND_INTERNAL = 1,
    SPAN_KIND_SERVER = 2,
    SPAN_KIND_CLIENT = 3,
    SPAN_KIND_PRODUCER = 4,
    SPAN_KIND_CONSUMER = 5,
};

enum span_status { /* OTLP numbering */
    SPAN_STATUS_UNSET = 0,
    SPAN_STATUS_OK = 1,
    SPAN_STATUS_ERROR = 2,
};

enum attr_type {
    ATTR_STRING,
    ATTR_INT,
    ATTR_DOUBLE,
    ATTR_BOOL,
};

struct attr_value {
    enum attr_type type;
    union {
        struct slice str;
        int64_t i;
        double d;
        bool b;
    } u;
};

struct span_attr {
    struct slice key;
    struct attr_value value;
};

struct span_attrs {
    const struct span_attr *items;
    uint32_t n;
};

struct span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8]; /* all zero for a root span */
    int64_t start_ns;          /* unix nanoseconds */
    int64_t end_ns;            /* >= start_ns */
    enum span_kind kind;
    enum span_status status;
    struct slice name;
    struct span_attrs attrs;    /* span scope */
    struct span_attrs resource; /* resource scope (service.name, k8s.namespace.name, …) */
};

/* The attribute named key in attrs, or NULL (first match wins). */
const struct span_attr *span_attr_find(const struct span_attrs *attrs, struct slice key);
/* True when the span has a parent (parent_span_id not all zero). */
bool span_has_parent(const struct span *s);
static inline int64_t span_duration_ns(const struct span *s)
{
    return s->end_ns - s->start_ns;
}

#endif
