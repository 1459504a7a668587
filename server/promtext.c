/* promtext.c — HELP/TYPE lines, samples and label escaping for the text format. */
#include "server/promtext.h"

void promtext_family(struct promtext *p, const char *name, const char *type, const char *help)
{
    if (p->rc == TA_OK)
        p->rc = buf_addf(p->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void promtext_sample(struct promtext *p, const char *name, const char *labels, double value)
{
    if (p->rc == TA_OK)
        p->rc = buf_addf(p->out, "%s%s %.17g\n", name, labels ? labels : "", value);
}

void promtext_one(struct promtext *p, const char *name, const char *type, const char *help,
                  double value)
{
    promtext_family(p, name, type, help);
    promtext_sample(p, name, NULL, value);
}

enum ta_rc promtext_label(struct buf *labels, const char *key, const char *value)
{
    enum ta_rc rc = buf_addf(labels, "{%s=\"", key);
    for (const char *c = value; rc == TA_OK && *c; c++) {
        if (*c == '\\' || *c == '"')
            rc = buf_addf(labels, "\\%c", *c);
        else if (*c == '\n')
            rc = buf_adds(labels, "\\n");
        else
            rc = buf_addc(labels, *c);
    }
    return rc == TA_OK ? buf_adds(labels, "\"}") : rc;
}
