/* embedded.h — files compiled into the binary by hack/embed.sh (OpenAPI documents, the default
 * rules). Immutable: any thread. */
#ifndef TA_APIS_EMBEDDED_H
#define TA_APIS_EMBEDDED_H

#include <stddef.h>

#include "apis/base/slice.h"

struct embedded_file {
    const char *name;          /* repository path, e.g. "go-compatible-openapi/v2.json" */
    const unsigned char *data; /* NUL-terminated for convenience; len excludes the NUL */
    size_t len;
};

extern const struct embedded_file embedded_files[]; /* ends with a NULL name */

/* The bytes of the embedded file with this repository path, or SLICE_NULL. */
struct slice embedded_get(const char *name);

#endif
