/* request.c — header lookup on a request view. Pure: any thread. */
#include "server/request.h"

const struct slice *request_header(const struct request *r, struct slice name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (slice_eq_nocase(r->headers[i].name, name))
            return &r->headers[i].value;
    return NULL;
}
