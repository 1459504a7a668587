/* buf.c — struct buf: capped growth, escaping appenders (JSON, URL), hand-over. One thread at a
 * time per buffer. */
#include "apis/base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/ta_mem.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static enum ta_rc fail(struct buf *b)
{
    buf_free(b);
    return TA_TOO_LARGE;
}

/* Makes room for n more bytes plus the NUL. */
static enum ta_rc reserve(struct buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return fail(b);
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return TA_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    if (b->max < (size_t)-1 && cap > b->max + 1) /* max + 1 wraps to 0 for an unbounded buf */
        cap = b->max + 1;
    b->data = ta_xrealloc(b->data, cap);
    b->cap = cap;
    return TA_OK;
}

enum ta_rc buf_add(struct buf *b, const void *p, size_t len)
{
    if (reserve(b, len) != TA_OK)
        return TA_TOO_LARGE;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return TA_OK;
}

enum ta_rc buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

enum ta_rc buf_add_slice(struct buf *b, struct slice s)
{
    return buf_add(b, s.ptr, s.len);
}

enum ta_rc buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

enum ta_rc buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return fail(b);
    if (reserve(b, (size_t)n) != TA_OK)
        return TA_TOO_LARGE;
    int m = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (m != n)
        return fail(b);
    b->len += (size_t)n;
    return TA_OK;
}

enum ta_rc buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum ta_rc rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char HEX_LOWER[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    struct slice s;
    size_t len;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    s.ptr = (const char *)p;
    s.len = len;
    return slice_is_utf8(s) ? len : 0;
}

enum ta_rc buf_add_json_str(struct buf *b, struct slice s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    if (buf_addc(b, '"') != TA_OK)
        return TA_TOO_LARGE;
    size_t i = 0;
    while (i < s.len) {
        unsigned char c = p[i];
        enum ta_rc rc = TA_OK;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            rc = buf_add(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
            switch (c) {
            case '\n':
                rc = buf_add(b, "\\n", 2);
                break;
            case '\r':
                rc = buf_add(b, "\\r", 2);
                break;
            case '\t':
                rc = buf_add(b, "\\t", 2);
                break;
            default: {
                char esc[6] = { '\\', 'u', '0', '0', HEX_LOWER[c >> 4], HEX_LOWER[c & 15] };
                rc = buf_add(b, esc, 6);
            }
            }
            i++;
        } else if (c < 0x80) {
            size_t j = i;
            while (j < s.len && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\' &&
                   p[j] != '<' && p[j] != '>' && p[j] != '&' && p[j] != 0x7f)
                j++;
            rc = buf_add(b, p + i, j - i);
            i = j;
        } else {
            size_t n = utf8_seq(p + i, s.len - i);
            if (n == 0) {
                rc = buf_add(b, "\\ufffd", 6);
                i++;
            } else {
                rc = buf_add(b, p + i, n);
                i += n;
            }
        }
        if (rc != TA_OK)
            return rc;
    }
    return buf_addc(b, '"');
}

static bool url_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static enum ta_rc add_pct(struct buf *b, struct slice s, bool plus_for_space)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len; i++) {
        enum ta_rc rc;
        if (url_unreserved(p[i])) {
            rc = buf_addc(b, (char)p[i]);
        } else if (p[i] == ' ' && plus_for_space) {
            rc = buf_addc(b, '+');
        } else {
            char esc[3] = { '%', HEX_UPPER[p[i] >> 4], HEX_UPPER[p[i] & 15] };
            rc = buf_add(b, esc, 3);
        }
        if (rc != TA_OK)
            return rc;
    }
    return TA_OK;
}

enum ta_rc buf_add_urlenc(struct buf *b, struct slice s)
{
    return add_pct(b, s, true);
}

enum ta_rc buf_add_pathenc(struct buf *b, struct slice s)
{
    return add_pct(b, s, false);
}

struct slice buf_slice(const struct buf *b)
{
    return (struct slice){ b->data ? b->data : "", b->len };
}

const char *buf_cstr(const struct buf *b)
{
    return b->data ? b->data : "";
}

char *buf_take(struct buf *b, size_t *len)
{
    char *p = b->data ? b->data : ta_xstrndup("", 0);
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
