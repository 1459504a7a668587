/* slice.c — comparisons, cuts and checks on borrowed byte ranges. Pure: any thread. */
#include "apis/base/slice.h"

#include <string.h>

struct slice slice_from_cstr(const char *s)
{
    return s ? (struct slice){ s, strlen(s) } : SLICE_NULL;
}

bool slice_eq(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool slice_eq_cstr(struct slice a, const char *s)
{
    return slice_eq(a, slice_from_cstr(s));
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool slice_eq_nocase(struct slice a, struct slice b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i]))
            return false;
    return true;
}

bool slice_starts_with(struct slice s, struct slice prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

bool slice_ends_with(struct slice s, struct slice suffix)
{
    return s.len >= suffix.len &&
           (suffix.len == 0 || memcmp(s.ptr + s.len - suffix.len, suffix.ptr, suffix.len) == 0);
}

int slice_cmp(struct slice a, struct slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0)
        return c;
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

long slice_index(struct slice s, char c)
{
    if (s.len == 0)
        return -1;
    const char *p = memchr(s.ptr, c, s.len);
    return p ? (long)(p - s.ptr) : -1;
}

struct slice slice_skip(struct slice s, size_t n)
{
    if (n > s.len)
        n = s.len;
    return (struct slice){ s.ptr + n, s.len - n };
}

struct slice slice_head(struct slice s, size_t n)
{
    if (n > s.len)
        n = s.len;
    return (struct slice){ s.ptr, n };
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct slice slice_trim(struct slice s)
{
    while (s.len && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

struct slice slice_cut(struct slice s, char c, struct slice *head, bool *found)
{
    long i = slice_index(s, c);
    if (i < 0) {
        if (head)
            *head = s;
        if (found)
            *found = false;
        return SLICE_NULL;
    }
    if (head)
        *head = slice_head(s, (size_t)i);
    if (found)
        *found = true;
    return slice_skip(s, (size_t)i + 1);
}

bool slice_has_nul(struct slice s)
{
    return s.len && memchr(s.ptr, '\0', s.len) != NULL;
}

bool slice_is_utf8(struct slice s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned int cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (s.len - i <= n) /* the sequence needs n bytes after its lead byte */
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

unsigned long long slice_hash(struct slice s)
{
    unsigned long long h = 14695981039346656037ULL; /* FNV-1a 64 offset basis */
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= 1099511628211ULL;
    }
    return h;
}
