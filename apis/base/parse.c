/* parse.c — checked conversions of untrusted text (the only user of strto*). Pure: any thread. */
#include "apis/base/parse.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Copies s into a NUL-terminated stack buffer so strto* cannot read past it. */
static enum ta_rc to_cstr(struct slice s, char *dst, size_t cap, struct ta_err *err)
{
    if (s.len == 0)
        return ta_err_set(err, TA_INVALID, "empty number");
    if (s.len >= cap)
        return ta_err_set(err, TA_INVALID, "number too long: '%.*s…'", 16, s.ptr);
    if (slice_has_nul(s))
        return ta_err_set(err, TA_INVALID, "number contains a NUL byte");
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return TA_OK;
}

static bool all_digits(struct slice s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
    return true;
}

enum ta_rc parse_u64(struct slice s, uint64_t min, uint64_t max, uint64_t *out, struct ta_err *err)
{
    char tmp[PARSE_NUM_MAX_LEN];
    if (!all_digits(s))
        return ta_err_set(err, TA_INVALID, "not an unsigned integer: '" SLICE_FMT "'",
                          SLICE_ARG(slice_head(s, 32)));
    enum ta_rc rc = to_cstr(s, tmp, sizeof(tmp), err);
    if (rc != TA_OK)
        return rc;
    errno = 0;
    unsigned long long v = strtoull(tmp, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return ta_err_set(err, TA_INVALID, "%s is out of range [%llu, %llu]", tmp,
                          (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)v;
    return TA_OK;
}

enum ta_rc parse_i64(struct slice s, int64_t min, int64_t max, int64_t *out, struct ta_err *err)
{
    char tmp[PARSE_NUM_MAX_LEN];
    struct slice digits = s;
    if (digits.len && (digits.ptr[0] == '-' || digits.ptr[0] == '+'))
        digits = slice_skip(digits, 1);
    if (!all_digits(digits))
        return ta_err_set(err, TA_INVALID, "not an integer: '" SLICE_FMT "'",
                          SLICE_ARG(slice_head(s, 32)));
    enum ta_rc rc = to_cstr(s, tmp, sizeof(tmp), err);
    if (rc != TA_OK)
        return rc;
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return ta_err_set(err, TA_INVALID, "%s is out of range [%lld, %lld]", tmp, (long long)min,
                          (long long)max);
    *out = (int64_t)v;
    return TA_OK;
}

/* [+-]? digits [. digits] [eE [+-]? digits], at least one digit in the mantissa. */
static bool decimal_syntax(struct slice s)
{
    size_t i = 0, mant = 0;
    if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
        i++;
    while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
        i++;
        mant++;
    }
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            i++;
            mant++;
        }
    }
    if (mant == 0)
        return false;
    if (i < s.len && (s.ptr[i] == 'e' || s.ptr[i] == 'E')) {
        i++;
        if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
            i++;
        size_t exp = 0;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            i++;
            exp++;
        }
        if (exp == 0)
            return false;
    }
    return i == s.len;
}

enum ta_rc parse_double(struct slice s, double min, double max, double *out, struct ta_err *err)
{
    char tmp[PARSE_NUM_MAX_LEN];
    if (!decimal_syntax(s))
        return ta_err_set(err, TA_INVALID, "not a number: '" SLICE_FMT "'",
                          SLICE_ARG(slice_head(s, 32)));
    enum ta_rc rc = to_cstr(s, tmp, sizeof(tmp), err);
    if (rc != TA_OK)
        return rc;
    errno = 0;
    double v = strtod(tmp, NULL);
    if (!isfinite(v) || v < min || v > max)
        return ta_err_set(err, TA_INVALID, "%s is out of range [%g, %g]", tmp, min, max);
    *out = v;
    return TA_OK;
}

struct unit {
    const char *name;
    double ns;
};

static const struct unit UNITS[] = {
    { "ns", 1.0 },        { "us", 1e3 },        { "\xc2\xb5s", 1e3 }, /* µs, U+00B5 */
    { "\xce\xbcs", 1e3 }, /* μs, U+03BC (Go accepts both) */
    { "ms", 1e6 },        { "s", 1e9 },         { "m", 60e9 },          { "h", 3600e9 },
    { "d", 86400e9 },     { "w", 7 * 86400e9 }, { "y", 365 * 86400e9 },
};

enum ta_rc parse_duration_ns(struct slice s, int64_t min_ns, int64_t max_ns, int64_t *out_ns,
                             struct ta_err *err)
{
    struct slice orig = s;
    if (s.len == 0)
        return ta_err_set(err, TA_INVALID, "empty duration");
    if (s.len > PARSE_NUM_MAX_LEN)
        return ta_err_set(err, TA_INVALID, "duration too long: '%.*s…'", 16, s.ptr);
    if (slice_eq_cstr(s, "0")) {
        if (0 < min_ns || 0 > max_ns)
            return ta_err_set(err, TA_INVALID, "duration 0 is out of range");
        *out_ns = 0;
        return TA_OK;
    }
    double total = 0;
    while (s.len) {
        size_t i = 0;
        while (i < s.len && ((s.ptr[i] >= '0' && s.ptr[i] <= '9') || s.ptr[i] == '.'))
            i++;
        struct slice num = slice_head(s, i);
        double v;
        if (i == 0 || parse_double(num, 0, 1e18, &v, NULL) != TA_OK)
            return ta_err_set(err, TA_INVALID,
                              "invalid duration '" SLICE_FMT "': expected a number then a unit "
                              "such as 500ms, 15s, 2m, 1h",
                              SLICE_ARG(orig));
        s = slice_skip(s, i);
        const struct unit *best = NULL;
        size_t best_len = 0;
        for (size_t u = 0; u < sizeof(UNITS) / sizeof(UNITS[0]); u++) {
            size_t ul = strlen(UNITS[u].name);
            if (ul > best_len && s.len >= ul && memcmp(s.ptr, UNITS[u].name, ul) == 0) {
                /* "m" must not swallow the "m" of "ms" */
                best = &UNITS[u];
                best_len = ul;
            }
        }
        if (!best)
            return ta_err_set(err, TA_INVALID,
                              "invalid duration '" SLICE_FMT "': missing or unknown unit (use ns, "
                              "us, ms, s, m, h, d, w or y)",
                              SLICE_ARG(orig));
        total += v * best->ns;
        s = slice_skip(s, best_len);
    }
    /* (double)INT64_MAX rounds up to 2^63, which llround cannot return: refuse it too */
    if (!(total >= (double)min_ns && total <= (double)max_ns) || total >= 9223372036854775808.0)
        return ta_err_set(err, TA_INVALID, "duration '" SLICE_FMT "' is out of range",
                          SLICE_ARG(orig));
    *out_ns = (int64_t)llround(total);
    return TA_OK;
}

int parse_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum ta_rc parse_hex(struct slice s, uint8_t *out, size_t n, struct ta_err *err)
{
    if (s.len != 2 * n)
        return ta_err_set(err, TA_INVALID, "expected %zu hex digits, got %zu", 2 * n, s.len);
    for (size_t i = 0; i < n; i++) {
        int hi = parse_hex_digit(s.ptr[2 * i]), lo = parse_hex_digit(s.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ta_err_set(err, TA_INVALID, "invalid hex digit at position %zu",
                              hi < 0 ? 2 * i : 2 * i + 1);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TA_OK;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

enum ta_rc parse_base64(struct slice s, uint8_t *out, size_t cap, size_t *len, struct ta_err *err)
{
    while (s.len && s.ptr[s.len - 1] == '=')
        s.len--;
    if (s.len % 4 == 1)
        return ta_err_set(err, TA_INVALID, "invalid base64 length");
    size_t n = s.len / 4 * 3 + (s.len % 4 ? s.len % 4 - 1 : 0);
    if (n > cap)
        return ta_err_set(err, TA_INVALID, "base64 value longer than %zu bytes", cap);
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        int v = b64val(s.ptr[i]);
        if (v < 0)
            return ta_err_set(err, TA_INVALID, "invalid base64 character at position %zu", i);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *len = o;
    return TA_OK;
}
