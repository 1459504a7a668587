/* query.h — percent-decoding of query strings and path segments, and query parameter lookup.
 *
 * apis/route.c reads labelSelector, watch, verbose and hash from the raw query with query_get,
 * and decodes each path segment with query_path_decode. Decoding follows Go's net/url
 * (QueryUnescape, PathUnescape); lookup follows url.ParseQuery + Values.Get (first occurrence;
 * pairs containing ';' and pairs whose name does not decode are skipped). Input is untrusted and
 * never assumed NUL-terminated. Pure functions: any thread. */
#ifndef TA_APIS_QUERY_H
#define TA_APIS_QUERY_H

#include <stdbool.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

/* Appends the application/x-www-form-urlencoded decoding of in to out: '+' is a space, %XX a
 * byte (either hex case), everything else is copied. A '%' not followed by two hex digits gives
 * TA_INVALID with Go's text, e.g. `invalid URL escape "%zz"` (out is left as it was).
 * TA_TOO_LARGE (and out freed) past out's cap. */
enum ta_rc query_form_decode(struct slice in, struct buf *out, struct ta_err *err);

/* Appends the decoding of one path segment: %XX is a byte, '+' stays '+'. TA_INVALID for a bad
 * escape (as above), for an encoded '/' (`path segment contains an encoded '/'`: it would change
 * the segment structure) and for an encoded NUL (`path segment contains a NUL byte`).
 * TA_TOO_LARGE past out's cap. */
enum ta_rc query_path_decode(struct slice in, struct buf *out, struct ta_err *err);

/* Appends Go's url.PathUnescape of in: %XX is a byte (any byte, '/' and NUL included), '+'
 * stays '+'. TA_INVALID for a bad escape (out untouched), TA_TOO_LARGE past out's cap. For
 * header-borne keys such as X-Remote-Extra-<key>. */
enum ta_rc query_unescape(struct slice in, struct buf *out, struct ta_err *err);
/* Looks up the first parameter called name (compared after decoding) in the raw query string
 * (without '?'). When found, *found is true and its form-decoded value (possibly "") is
 * appended to value; otherwise *found is false and value is untouched. A matching pair whose
 * value does not decode, or that contains ';' (Go drops such pairs, which would silently turn
 * e.g. a selector into "match everything"), gives TA_INVALID with the message prefixed by
 * "<name>: ". TA_TOO_LARGE past value's cap. */
enum ta_rc query_get(struct slice raw, const char *name, struct buf *value, bool *found,
                     struct ta_err *err);

/* True when a parameter called name is present with any value ("?verbose", "?verbose=0"). */
bool query_has(struct slice raw, const char *name);

/* Bytes query_quote may write for max_shown input bytes: 4 per byte, quotes, "...", NUL. */
#define QUERY_QUOTE_SIZE(max_shown) ((max_shown)*4 + 8)

/* Writes s as Go's %q would (printable UTF-8 kept; ", \ escaped; \n \t … named; other
 * control and invalid bytes as \xNN; U+0080..U+00A0 as \u00NN) for error messages, showing at
 * most max_shown input bytes and then "..." after the closing quote. out[cap] is always
 * NUL-terminated; cap ≥ QUERY_QUOTE_SIZE(max_shown) never cuts the output. */
void query_quote(struct slice s, size_t max_shown, char *out, size_t cap);

/* How Kubernetes converts a query value to a bool (metav1 Convert_Slice_string_To_bool): false
 * only for "0" and, in any case, "false"; every other value, "" included, is true. So ?watch,
 * ?watch=1, ?watch=yes all ask for a watch. */
bool query_value_true(struct slice value);

#endif
