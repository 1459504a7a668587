/* span.c — attribute lookup and parent test on span views. Pure: any thread. */
#include "rules/span.h"

const struct span_attr *span_attr_find(const struct span_attrs *attrs, struct slice key)
{
    for (uint32_t i = 0; i < attrs->n; i++)
        if (slice_eq(attrs->items[i].key, key))
            return &attrs->items[i];
    return NULL;
}

bool span_has_parent(const struct span *s)
{
    for (int i = 0; i < 8; i++)
        if (s->parent_span_id[i])
            return true;
    return false;
}
