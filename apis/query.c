/* query.c — Go-compatible percent-decoding and first-value query lookup. Pure: any thread. */
#include "apis/query.h"
#include "apis/base/parse.h"

#include <string.h>

/* Go's EscapeError: `invalid URL escape "%zz"` with at most 3 bytes from the '%'. */
static enum ta_rc escape_error(struct slice in, size_t at, struct ta_err *err)
{
    static const char hex[] = "0123456789abcdef";
    char q[16];
    size_t o = 0;
    for (size_t i = at; i < in.len && i < at + 3; i++) {
        unsigned char c = (unsigned char)in.ptr[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            q[o++] = (char)c;
        } else if (c == '"' || c == '\\') {
            q[o++] = '\\';
            q[o++] = (char)c;
        } else {
            q[o++] = '\\';
            q[o++] = 'x';
            q[o++] = hex[c >> 4];
            q[o++] = hex[c & 15];
        }
    }
    q[o] = '\0';
    return ta_err_set(err, TA_INVALID, "invalid URL escape \"%s\"", q);
}

/* Decodes in; plus_is_space selects query (form) or path-segment rules. */
static enum ta_rc decode(struct slice in, struct buf *out, bool plus_is_space, bool path,
                         struct ta_err *err)
{
    /* check every escape first, so a bad input leaves out untouched */
    for (size_t i = 0; i < in.len; i++) {
        if (in.ptr[i] != '%')
            continue;
        if (i + 2 >= in.len || parse_hex_digit(in.ptr[i + 1]) < 0 ||
            parse_hex_digit(in.ptr[i + 2]) < 0)
            return escape_error(in, i, err);
        if (path) {
            int b = parse_hex_digit(in.ptr[i + 1]) << 4 | parse_hex_digit(in.ptr[i + 2]);
            if (b == '/')
                return ta_err_set(err, TA_INVALID, "path segment contains an encoded '/'");
            if (b == 0)
                return ta_err_set(err, TA_INVALID, "path segment contains a NUL byte");
        }
        i += 2;
    }
    size_t run = 0; /* start of the current run of literal bytes */
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c != '%' && !(c == '+' && plus_is_space))
            continue;
        enum ta_rc rc = buf_add(out, in.ptr + run, i - run);
        if (rc == TA_OK && c == '+') {
            rc = buf_addc(out, ' ');
        } else if (rc == TA_OK) {
            rc = buf_addc(
                out, (char)(parse_hex_digit(in.ptr[i + 1]) << 4 | parse_hex_digit(in.ptr[i + 2])));
            i += 2;
        }
        if (rc != TA_OK)
            return ta_err_set(err, rc, "decoded text is longer than %zu bytes", out->max);
        run = i + 1;
    }
    enum ta_rc rc = buf_add(out, in.ptr + run, in.len - run);
    if (rc != TA_OK)
        return ta_err_set(err, rc, "decoded text is longer than %zu bytes", out->max);
    return TA_OK;
}

enum ta_rc query_form_decode(struct slice in, struct buf *out, struct ta_err *err)
{
    return decode(in, out, true, false, err);
}

enum ta_rc query_unescape(struct slice in, struct buf *out, struct ta_err *err)
{
    return decode(in, out, false, false, err);
}

enum ta_rc query_path_decode(struct slice in, struct buf *out, struct ta_err *err)
{
    return decode(in, out, false, true, err);
}

/* True when the raw name decodes to exactly name. */
static bool name_matches(struct slice raw_name, const char *name)
{
    size_t want = strlen(name);
    if (raw_name.len < want || raw_name.len > want * 3)
        return false; /* every decoded byte comes from 1 to 3 raw bytes */
    struct buf b;
    buf_init(&b, want);
    bool eq =
        decode(raw_name, &b, true, false, NULL) == TA_OK && slice_eq_cstr(buf_slice(&b), name);
    buf_free(&b);
    return eq;
}

enum ta_rc query_get(struct slice raw, const char *name, struct buf *value, bool *found,
                     struct ta_err *err)
{
    *found = false;
    while (raw.len > 0) {
        struct slice part, key, val;
        bool more, has_eq;
        struct slice rest = slice_cut(raw, '&', &part, &more);
        raw = more ? rest : SLICE_NULL;
        if (part.len == 0)
            continue;
        val = slice_cut(part, '=', &key, &has_eq);
        if (!name_matches(key, name))
            continue;
        if (slice_index(part, ';') >= 0)
            return ta_err_set(err, TA_INVALID, "%s: invalid semicolon separator in query", name);
        enum ta_rc rc = query_form_decode(val, value, err);
        if (rc != TA_OK) {
            if (err)
                (void)ta_err_prefix(err, "%s", name);
            return rc;
        }
        *found = true;
        return TA_OK;
    }
    return TA_OK;
}

bool query_has(struct slice raw, const char *name)
{
    while (raw.len > 0) {
        struct slice part, key;
        bool more, has_eq;
        struct slice rest = slice_cut(raw, '&', &part, &more);
        raw = more ? rest : SLICE_NULL;
        if (part.len == 0 || slice_index(part, ';') >= 0)
            continue;
        (void)slice_cut(part, '=', &key, &has_eq);
        if (name_matches(key, name))
            return true;
    }
    return false;
}

bool query_value_true(struct slice value)
{
    return !(slice_eq_cstr(value, "0") || slice_eq_nocase(value, SLICE_LIT("false")));
}

void query_quote(struct slice s, size_t max_shown, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, shown = s.len > max_shown ? max_shown : s.len;
    const unsigned char *p = (const unsigned char *)s.ptr;
    if (cap < 8) {
        if (cap)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < shown && o + 8 < cap;) {
        unsigned char c = p[i];
        char esc[8];
        size_t n = 0, used = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c >= 0x20 && c < 0x7f) {
            esc[0] = (char)c;
            n = 1;
        } else if (c < 0x80) {
            const char *named = c == '\a'   ? "\\a"
                                : c == '\b' ? "\\b"
                                : c == '\f' ? "\\f"
                                : c == '\n' ? "\\n"
                                : c == '\r' ? "\\r"
                                : c == '\t' ? "\\t"
                                : c == '\v' ? "\\v"
                                            : NULL;
            if (named) {
                memcpy(esc, named, 2);
                n = 2;
            } else {
                esc[0] = '\\';
                esc[1] = 'x';
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                n = 4;
            }
        } else {
            size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (i + len <= s.len && slice_is_utf8(slice_make(s.ptr + i, len)) &&
                !(c == 0xC2 && p[i + 1] <= 0xA0)) {
                memcpy(esc, p + i, len);
                n = len;
                used = len;
            } else if (c == 0xC2 && i + 1 < s.len && p[i + 1] >= 0x80 && p[i + 1] <= 0xA0) {
                /* U+0080..U+00A0 are not printable for Go: \u00XX */
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[p[i + 1] >> 4];
                esc[5] = hex[p[i + 1] & 15];
                n = 6;
                used = 2;
            } else {
                esc[0] = '\\';
                esc[1] = 'x';
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                n = 4;
            }
        }
        memcpy(out + o, esc, n);
        o += n;
        i += used;
    }
    out[o++] = '"';
    if (s.len > shown && o + 3 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}
