/* promtext.h — writes the Prometheus text exposition format (version 0.0.4).
 *
 * server/selfmetrics.c and server/sources.c append their families to one page with it. The
 * first failing append (the page's cap) sticks in rc and makes the rest no-ops, so callers
 * check once at the end. One thread at a time per struct promtext. */
#ifndef TA_SERVER_PROMTEXT_H
#define TA_SERVER_PROMTEXT_H

#include "apis/base/buf.h"
#include "apis/base/ta_err.h"

struct promtext {
    struct buf *out;
    enum ta_rc rc; /* TA_OK until an append fails */
};

/* "# HELP name help" and "# TYPE name type" (type: "counter" or "gauge"). */
void promtext_family(struct promtext *p, const char *name, const char *type, const char *help);
/* "name{labels} value"; labels is "" or a preformatted "{k=\"v\"}" (values already escaped). */
void promtext_sample(struct promtext *p, const char *name, const char *labels, double value);
/* A family with a single unlabelled sample. */
void promtext_one(struct promtext *p, const char *name, const char *type, const char *help,
                  double value);
/* Appends "{key=\"value\"}" to labels with value escaped as the format requires. */
TA_MUST_CHECK enum ta_rc promtext_label(struct buf *labels, const char *key, const char *value);

#endif
