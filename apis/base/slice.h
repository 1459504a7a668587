/* slice.h — struct slice {ptr, len}: borrowed bytes from the network or a file.
 *
 * Never assumed NUL-terminated: compare with slice_*, print with SLICE_FMT/SLICE_ARG, convert
 * with parse_*. A slice borrows; its owner outlives it. Pure functions: any thread. */
#ifndef TA_APIS_BASE_SLICE_H
#define TA_APIS_BASE_SLICE_H

#include <stdbool.h>
#include <stddef.h>

struct slice {
    const char *ptr;
    size_t len;
};

#define SLICE_FMT      "%.*s"
#define SLICE_ARG(s)   (int)((s).len > 0x7fffffff ? 0x7fffffff : (s).len), (s).ptr
#define SLICE_LIT(lit) ((struct slice){ (lit), sizeof(lit) - 1 })
#define SLICE_NULL     ((struct slice){ NULL, 0 })

/* Borrows a NUL-terminated C string (NULL gives the empty slice). */
struct slice slice_from_cstr(const char *s);
static inline struct slice slice_make(const char *p, size_t len)
{
    return (struct slice){ p, len };
}
bool slice_eq(struct slice a, struct slice b);
bool slice_eq_cstr(struct slice a, const char *s);
/* ASCII case-insensitive equality (HTTP header names, media types). */
bool slice_eq_nocase(struct slice a, struct slice b);
bool slice_starts_with(struct slice s, struct slice prefix);
bool slice_ends_with(struct slice s, struct slice suffix);
/* Lexicographic byte order; a shorter prefix sorts first. */
int slice_cmp(struct slice a, struct slice b);
/* Index of the first byte c, or -1. */
long slice_index(struct slice s, char c);
/* s without the first n bytes (n is clamped to s.len). */
struct slice slice_skip(struct slice s, size_t n);
/* The first n bytes of s (clamped). */
struct slice slice_head(struct slice s, size_t n);
/* s with leading and trailing spaces, tabs, CR and LF removed. */
struct slice slice_trim(struct slice s);
/* Splits s at the first c: *head gets the part before, the return value the part after; when
 * c is absent, *head = s and the return value is SLICE_NULL with *found false. */
struct slice slice_cut(struct slice s, char c, struct slice *head, bool *found);
/* True when s contains a NUL byte (a C API would truncate it). */
bool slice_has_nul(struct slice s);
/* True when s is valid UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). */
bool slice_is_utf8(struct slice s);
/* FNV-1a 64-bit hash of the bytes. */
unsigned long long slice_hash(struct slice s);

#endif
