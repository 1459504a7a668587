/* traceql_lex.c — splits TraceQL filter text into tokens of the supported subset.
 *
 * traceql_parse.c pulls one token at a time. Follows Tempo's lexer (pkg/traceql/lexer.go):
 * attribute names run until whitespace or one of { } ( ) = ~ ! < > & | ^ , and may contain
 * "quoted" parts with only \" and \\ escapes; strings are decoded as Go's strconv.Unquote
 * does; numbers directly followed by a unit are durations. Operators outside the subset
 * (structural, pipes, arithmetic) become their own tokens so the parser can say why they are
 * refused. Errors leave the offending offset in lx->err_off. Pure: any thread. */
#include "rules/traceql_int.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

#include "apis/base/parse.h"

#define I64_MAG_MAX ((uint64_t)INT64_MAX)     /* largest positive literal */
#define I64_NEG_MAX ((uint64_t)INT64_MAX + 1) /* magnitude of INT64_MIN */

size_t tq_utf8_len(const unsigned char *p, size_t avail)
{
    if (avail == 0)
        return 0;
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void tq_position(struct slice text, size_t off, char *out, size_t cap)
{
    size_t line = 1, col = 1;
    if (off > text.len)
        off = text.len;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)text.ptr[i];
        if (c == '\n') {
            line++;
            col = 1;
        } else if ((c & 0xC0) != 0x80) {
            col++; /* count characters, not continuation bytes */
        }
    }
    if (line > 1)
        snprintf(out, cap, "line %zu, col %zu", line, col);
    else
        snprintf(out, cap, "col %zu", col);
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(unsigned char c)
{
    return is_ident_start(c) || is_digit(c);
}

/* Bytes of a Unicode white-space character (Go's unicode.IsSpace beyond ASCII) at p, or 0. */
static size_t unicode_space_len(const unsigned char *p, size_t n)
{
    if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0))
        return 2; /* U+0085, U+00A0 */
    if (n < 3)
        return 0;
    if (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80)
        return 3; /* U+1680 */
    if (p[0] == 0xE2 && p[1] == 0x80 &&
        (p[2] <= 0x8A || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF) && p[2] >= 0x80)
        return 3; /* U+2000..200A, U+2028, U+2029, U+202F */
    if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F)
        return 3; /* U+205F */
    if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
        return 3; /* U+3000 */
    return 0;
}

/* True when the byte at p ends an unquoted attribute name (Tempo's isAttributeRune false). */
static bool attr_stop(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return true;
    if (strchr("{}()=~!<>&|^,", c) && c != '\0')
        return true;
    return unicode_space_len(p, n) != 0;
}

static unsigned char at(const struct tq_lexer *lx, size_t i)
{
    return i < lx->src.len ? (unsigned char)lx->src.ptr[i] : 0;
}

static enum ta_rc fail(struct tq_lexer *lx, size_t off, struct ta_err *err, enum ta_rc rc,
                       const char *msg)
{
    lx->err_off = off;
    return ta_err_set(err, rc, "%s", msg);
}

static enum ta_rc add(struct tq_lexer *lx, struct tq_token *tok, const void *p, size_t n,
                      struct ta_err *err)
{
    if (buf_add(&tok->text, p, n) != TA_OK)
        return fail(lx, lx->pos, err, TA_TOO_LARGE, "text too long");
    return TA_OK;
}

/* An attribute name starting at lx->pos (after "span.", "resource." or "."). */
static enum ta_rc lex_attr_name(struct tq_lexer *lx, struct tq_token *tok, struct ta_err *err)
{
    const unsigned char *s = (const unsigned char *)lx->src.ptr;
    size_t n = lx->src.len, start = lx->pos;
    enum ta_rc rc;
    buf_reset(&tok->text);
    while (lx->pos < n) {
        unsigned char c = s[lx->pos];
        if (c == '"') {
            size_t q = lx->pos++;
            for (;;) {
                if (lx->pos >= n)
                    return fail(lx, q, err, TA_INVALID, "unterminated quoted attribute name");
                c = s[lx->pos];
                if (c == '"') {
                    lx->pos++;
                    break;
                }
                if (c == '\\') {
                    unsigned char e = at(lx, lx->pos + 1);
                    if (lx->pos + 1 >= n || (e != '"' && e != '\\'))
                        return fail(lx, lx->pos, err, TA_INVALID,
                                    "invalid escape in a quoted attribute name (only \\\" and "
                                    "\\\\ are allowed)");
                    c = e;
                    lx->pos++;
                }
                if ((rc = add(lx, tok, &c, 1, err)) != TA_OK)
                    return rc;
                lx->pos++;
            }
        } else if (attr_stop(s + lx->pos, n - lx->pos)) {
            break;
        } else {
            if ((rc = add(lx, tok, &c, 1, err)) != TA_OK)
                return rc;
            lx->pos++;
        }
    }
    if (tok->text.len == 0)
        return fail(lx, start, err, TA_INVALID, "empty attribute name");
    tok->type = TQ_ATTR;
    return TA_OK;
}

static size_t utf8_encode(uint32_t cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape sequence at lx->pos (the backslash) inside "…", as strconv.Unquote reads it. */
static enum ta_rc lex_escape(struct tq_lexer *lx, struct tq_token *tok, struct ta_err *err)
{
    size_t bs = lx->pos;
    unsigned char e = at(lx, bs + 1), out[4];
    size_t nout = 1, used = 2;
    if (bs + 1 >= lx->src.len)
        return fail(lx, bs, err, TA_INVALID, "unterminated string");
    switch (e) {
    case 'a':
        out[0] = '\a';
        break;
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'v':
        out[0] = '\v';
        break;
    case '\\':
    case '"':
        out[0] = e;
        break;
    case 'x': {
        int h = parse_hex_digit(at(lx, bs + 2)), l = parse_hex_digit(at(lx, bs + 3));
        if (bs + 3 >= lx->src.len || h < 0 || l < 0)
            return fail(lx, bs, err, TA_INVALID, "invalid escape: \\x needs two hex digits");
        out[0] = (unsigned char)(h << 4 | l);
        used = 4;
        break;
    }
    case 'u':
    case 'U': {
        size_t nd = e == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t i = 0; i < nd; i++) {
            int v = bs + 2 + i < lx->src.len ? parse_hex_digit(at(lx, bs + 2 + i)) : -1;
            if (v < 0)
                return fail(lx, bs, err, TA_INVALID,
                            e == 'u' ? "invalid escape: \\u needs four hex digits"
                                     : "invalid escape: \\U needs eight hex digits");
            cp = cp << 4 | (uint32_t)v;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail(lx, bs, err, TA_INVALID,
                        "invalid escape: not a Unicode code point (surrogate or above U+10FFFF)");
        nout = utf8_encode(cp, out);
        used = 2 + nd;
        break;
    }
    default:
        if (e >= '0' && e <= '7') {
            unsigned v = 0;
            for (size_t i = 0; i < 3; i++) {
                unsigned char d = at(lx, bs + 1 + i);
                if (bs + 1 + i >= lx->src.len || d < '0' || d > '7')
                    return fail(lx, bs, err, TA_INVALID,
                                "invalid escape: octal escapes need three digits");
                v = v * 8 + (unsigned)(d - '0');
            }
            if (v > 255)
                return fail(lx, bs, err, TA_INVALID, "invalid escape: octal value above \\377");
            out[0] = (unsigned char)v;
            used = 4;
            break;
        }
        if (e == '\'')
            return fail(lx, bs, err, TA_INVALID,
                        "invalid escape \\' in a double-quoted string (write ' as it is)");
        return fail(lx, bs, err, TA_INVALID,
                    "invalid escape in a string (valid: \\\" \\\\ \\n \\t \\r \\a \\b \\f \\v "
                    "\\xHH \\ooo \\uXXXX \\UXXXXXXXX)");
    }
    lx->pos += used;
    return add(lx, tok, out, nout, err);
}

static enum ta_rc lex_string(struct tq_lexer *lx, struct tq_token *tok, struct ta_err *err)
{
    const unsigned char *s = (const unsigned char *)lx->src.ptr;
    size_t start = lx->pos, n = lx->src.len;
    unsigned char quote = s[lx->pos++];
    enum ta_rc rc;
    buf_reset(&tok->text);
    for (;;) {
        if (lx->pos >= n)
            return fail(lx, start, err, TA_INVALID, "unterminated string");
        unsigned char c = s[lx->pos];
        if (c == quote) {
            lx->pos++;
            break;
        }
        if (quote == '"' && c == '\n')
            return fail(lx, lx->pos, err, TA_INVALID, "newline in a string (write \\n)");
        if (quote == '"' && c == '\\') {
            if ((rc = lex_escape(lx, tok, err)) != TA_OK)
                return rc;
            continue;
        }
        if (quote == '`' && c == '\r') { /* Go drops CR from raw strings */
            lx->pos++;
            continue;
        }
        if ((rc = add(lx, tok, &c, 1, err)) != TA_OK)
            return rc;
        lx->pos++;
    }
    tok->type = TQ_LIT;
    tok->lit.type = TRACEQL_LIT_STRING;
    tok->lit.u.str = buf_slice(&tok->text);
    return TA_OK;
}

struct unit {
    const char *name;
    size_t len;
    int64_t ns;
};

static const struct unit UNITS[] = {
    { "ns", 2, 1 },           { "us", 2, 1000 },
    { "\xc2\xb5s", 3, 1000 }, /* µs (U+00B5), the one Tempo's lexer takes */
    { "ms", 2, 1000000 },     { "s", 1, 1000000000 },
    { "m", 1, 60000000000 },  { "h", 1, 3600000000000 },
};

static const struct unit *unit_at(const struct tq_lexer *lx, size_t i)
{
    const struct unit *best = NULL;
    for (size_t u = 0; u < sizeof(UNITS) / sizeof(UNITS[0]); u++) {
        size_t l = UNITS[u].len;
        if (i + l <= lx->src.len && memcmp(lx->src.ptr + i, UNITS[u].name, l) == 0 &&
            (!best || l > best->len))
            best = &UNITS[u];
    }
    return best;
}

/* A duration such as 300ms, 1.5s or 1h30m starting at lx->pos; exact integer arithmetic. */
static enum ta_rc lex_duration(struct tq_lexer *lx, struct tq_token *tok, bool neg, size_t start,
                               struct ta_err *err)
{
    const char *bad = "invalid duration (use a number and ns, us, µs, ms, s, m or h: 300ms, "
                      "1.5s, 1h30m)";
    unsigned __int128 total = 0;
    uint64_t limit = neg ? I64_NEG_MAX : I64_MAG_MAX;
    do {
        unsigned __int128 ip = 0, frac = 0, scale = 1;
        size_t digits = 0;
        while (is_digit(at(lx, lx->pos))) {
            ip = ip * 10 + (unsigned)(at(lx, lx->pos++) - '0');
            if (ip > limit)
                return fail(lx, start, err, TA_INVALID, "duration out of range");
            digits++;
        }
        if (at(lx, lx->pos) == '.' && lx->pos < lx->src.len) {
            lx->pos++;
            while (is_digit(at(lx, lx->pos))) {
                if (scale < (unsigned __int128)1000000000000000000ull) {
                    frac = frac * 10 + (unsigned)(at(lx, lx->pos) - '0');
                    scale *= 10;
                }
                lx->pos++;
                digits++;
            }
        }
        const struct unit *u = unit_at(lx, lx->pos);
        if (digits == 0 || !u)
            return fail(lx, start, err, TA_INVALID, bad);
        lx->pos += u->len;
        unsigned __int128 ns = (unsigned __int128)u->ns;
        total += ip * ns + frac * ns / scale;
        if (total > limit)
            return fail(lx, start, err, TA_INVALID, "duration out of range");
    } while (lx->pos < lx->src.len && (is_digit(at(lx, lx->pos)) || at(lx, lx->pos) == '.'));
    if (lx->pos < lx->src.len && (is_ident(at(lx, lx->pos)) || at(lx, lx->pos) >= 0x80))
        return fail(lx, start, err, TA_INVALID, bad);
    tok->type = TQ_LIT;
    tok->lit.type = TRACEQL_LIT_DURATION;
    uint64_t mag = (uint64_t)total;
    tok->lit.u.dur_ns = neg ? (mag == I64_NEG_MAX ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    return TA_OK;
}

/* A number at lx->pos (a digit, or '.' and a digit); start is where a '-' sign began. */
static enum ta_rc lex_number(struct tq_lexer *lx, struct tq_token *tok, bool neg, size_t start,
                             struct ta_err *err)
{
    size_t p = lx->pos;
    bool is_float = false;
    while (is_digit(at(lx, p)) && p < lx->src.len)
        p++;
    if (p < lx->src.len && at(lx, p) == '.') {
        is_float = true;
        p++;
        while (p < lx->src.len && is_digit(at(lx, p)))
            p++;
    }
    if (p < lx->src.len && (at(lx, p) == 'e' || at(lx, p) == 'E')) {
        size_t q = p + 1;
        if (q < lx->src.len && (at(lx, q) == '+' || at(lx, q) == '-'))
            q++;
        if (q < lx->src.len && is_digit(at(lx, q))) {
            is_float = true;
            p = q;
            while (p < lx->src.len && is_digit(at(lx, p)))
                p++;
        }
    }
    if (p < lx->src.len && unit_at(lx, p))
        return lex_duration(lx, tok, neg, start, err); /* rejects 1e3ms like Go does */
    if (p < lx->src.len && (is_ident(at(lx, p)) || at(lx, p) == '.' || at(lx, p) >= 0x80))
        return fail(lx, start, err, TA_INVALID,
                    "invalid number (integers, decimals such as 1.5 or 1e-3, or durations "
                    "such as 300ms)");
    struct slice num = slice_make(lx->src.ptr + lx->pos, p - lx->pos);
    tok->type = TQ_LIT;
    if (!is_float) {
        uint64_t mag;
        if (parse_u64(num, 0, neg ? I64_NEG_MAX : I64_MAG_MAX, &mag, NULL) != TA_OK)
            return fail(lx, start, err, TA_INVALID, "integer out of range (64-bit signed)");
        tok->lit.type = TRACEQL_LIT_INT;
        tok->lit.u.i = neg ? (mag == I64_NEG_MAX ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    } else {
        double v;
        if (parse_double(num, 0, DBL_MAX, &v, NULL) != TA_OK)
            return fail(lx, start, err, TA_INVALID, "number out of range");
        tok->lit.type = TRACEQL_LIT_FLOAT;
        tok->lit.u.f = neg ? -v : v;
    }
    lx->pos = p;
    return TA_OK;
}

struct word {
    const char *w;
    enum traceql_lit_type type;
    int v;
};

static const struct word WORDS[] = {
    { "true", TRACEQL_LIT_BOOL, 1 },
    { "false", TRACEQL_LIT_BOOL, 0 },
    { "nil", TRACEQL_LIT_NIL, 0 },
    { "unspecified", TRACEQL_LIT_KIND, SPAN_KIND_UNSPECIFIED },
    { "internal", TRACEQL_LIT_KIND, SPAN_KIND_INTERNAL },
    { "server", TRACEQL_LIT_KIND, SPAN_KIND_SERVER },
    { "client", TRACEQL_LIT_KIND, SPAN_KIND_CLIENT },
    { "producer", TRACEQL_LIT_KIND, SPAN_KIND_PRODUCER },
    { "consumer", TRACEQL_LIT_KIND, SPAN_KIND_CONSUMER },
    { "ok", TRACEQL_LIT_STATUS, SPAN_STATUS_OK },
    { "error", TRACEQL_LIT_STATUS, SPAN_STATUS_ERROR },
    { "unset", TRACEQL_LIT_STATUS, SPAN_STATUS_UNSET },
};

static const char *const INTRINSICS[] = { "name", "kind", "status", "duration" };

/* Tempo intrinsics and scopes outside the subset, named in the error. */
static const char *const UNSUPPORTED[] = {
    "statusMessage", "childCount",    "rootName",       "rootServiceName", "traceDuration",
    "parent",        "nestedSetLeft", "nestedSetRight", "nestedSetParent",
};

static enum ta_rc lex_word(struct tq_lexer *lx, struct tq_token *tok, struct ta_err *err)
{
    size_t start = lx->pos;
    while (lx->pos < lx->src.len && is_ident(at(lx, lx->pos)))
        lx->pos++;
    struct slice w = slice_make(lx->src.ptr + start, lx->pos - start);
    unsigned char next = lx->pos < lx->src.len ? at(lx, lx->pos) : 0;
    char msg[200];

    if (next == '.') {
        if (slice_eq_cstr(w, "span") || slice_eq_cstr(w, "resource")) {
            tok->scope = slice_eq_cstr(w, "span") ? TRACEQL_SCOPE_SPAN : TRACEQL_SCOPE_RESOURCE;
            lx->pos++;
            return lex_attr_name(lx, tok, err);
        }
        if (slice_eq_cstr(w, "parent") || slice_eq_cstr(w, "event") || slice_eq_cstr(w, "link") ||
            slice_eq_cstr(w, "instrumentation") || slice_eq_cstr(w, "trace")) {
            snprintf(msg, sizeof(msg),
                     "unsupported scope '" SLICE_FMT ".' (use span., resource. or .)",
                     SLICE_ARG(w));
            return fail(lx, start, err, TA_INVALID, msg);
        }
    }
    if (next == ':') {
        size_t s2 = ++lx->pos;
        while (lx->pos < lx->src.len && is_ident(at(lx, lx->pos)))
            lx->pos++;
        struct slice w2 = slice_make(lx->src.ptr + s2, lx->pos - s2);
        if (slice_eq_cstr(w, "span"))
            for (size_t i = 0; i < sizeof(INTRINSICS) / sizeof(INTRINSICS[0]); i++)
                if (slice_eq_cstr(w2, INTRINSICS[i])) {
                    tok->type = TQ_INTRINSIC;
                    tok->intrinsic = (enum traceql_intrinsic)i;
                    return TA_OK;
                }
        snprintf(msg, sizeof(msg),
                 "unsupported intrinsic '" SLICE_FMT ":" SLICE_FMT
                 "' (supported: name, kind, status, duration and their span: forms)",
                 SLICE_ARG(slice_head(w, 40)), SLICE_ARG(slice_head(w2, 40)));
        return fail(lx, start, err, TA_INVALID, msg);
    }
    for (size_t i = 0; i < sizeof(WORDS) / sizeof(WORDS[0]); i++) {
        if (!slice_eq_cstr(w, WORDS[i].w))
            continue;
        tok->type = TQ_LIT;
        tok->lit.type = WORDS[i].type;
        if (WORDS[i].type == TRACEQL_LIT_BOOL)
            tok->lit.u.b = WORDS[i].v != 0;
        else if (WORDS[i].type == TRACEQL_LIT_KIND)
            tok->lit.u.kind = (enum span_kind)WORDS[i].v;
        else if (WORDS[i].type == TRACEQL_LIT_STATUS)
            tok->lit.u.status = (enum span_status)WORDS[i].v;
        return TA_OK;
    }
    for (size_t i = 0; i < sizeof(INTRINSICS) / sizeof(INTRINSICS[0]); i++)
        if (slice_eq_cstr(w, INTRINSICS[i])) {
            tok->type = TQ_INTRINSIC;
            tok->intrinsic = (enum traceql_intrinsic)i;
            return TA_OK;
        }
    for (size_t i = 0; i < sizeof(UNSUPPORTED) / sizeof(UNSUPPORTED[0]); i++)
        if (slice_eq_cstr(w, UNSUPPORTED[i])) {
            snprintf(msg, sizeof(msg),
                     "unsupported intrinsic '" SLICE_FMT
                     "' (supported: name, kind, status, duration)",
                     SLICE_ARG(w));
            return fail(lx, start, err, TA_INVALID, msg);
        }
    snprintf(msg, sizeof(msg),
             "unknown name '" SLICE_FMT "' (attributes need a scope: span." SLICE_FMT
             ", resource." SLICE_FMT " or ." SLICE_FMT ")",
             SLICE_ARG(slice_head(w, 32)), SLICE_ARG(slice_head(w, 32)),
             SLICE_ARG(slice_head(w, 32)), SLICE_ARG(slice_head(w, 32)));
    return fail(lx, start, err, TA_INVALID, msg);
}

static enum ta_rc op(struct tq_lexer *lx, struct tq_token *tok, enum tq_tok type, size_t len)
{
    tok->type = type;
    lx->pos += len;
    return TA_OK;
}

static enum ta_rc cmpop(struct tq_lexer *lx, struct tq_token *tok, enum traceql_op o, size_t len)
{
    tok->op = o;
    return op(lx, tok, TQ_CMPOP, len);
}

/* Longest of the given operators at lx->pos ("&>>" before "&>"). */
static size_t match_any(const struct tq_lexer *lx, const char *const *ops)
{
    size_t best = 0;
    for (size_t i = 0; ops[i]; i++) {
        size_t l = strlen(ops[i]);
        if (l > best && lx->pos + l <= lx->src.len && memcmp(lx->src.ptr + lx->pos, ops[i], l) == 0)
            best = l;
    }
    return best;
}

enum ta_rc tq_lex_next(struct tq_lexer *lx, struct tq_token *tok, struct ta_err *err)
{
    static const char *const STRUCT_AMP[] = { "&>>", "&>", "&<<", "&<", "&~", NULL };
    static const char *const STRUCT_NOT[] = { "!>>", "!>", "!<<", "!<", NULL };
    char msg[96];

    while (lx->pos < lx->src.len && is_ws(at(lx, lx->pos)))
        lx->pos++;
    tok->off = lx->pos;
    tok->type = TQ_EOF;
    if (lx->pos >= lx->src.len) {
        tok->len = 0;
        return TA_OK;
    }
    unsigned char c = at(lx, lx->pos), c1 = lx->pos + 1 < lx->src.len ? at(lx, lx->pos + 1) : 0;
    enum ta_rc rc;
    size_t l;

    switch (c) {
    case '{':
        rc = op(lx, tok, TQ_LBRACE, 1);
        break;
    case '}':
        rc = op(lx, tok, TQ_RBRACE, 1);
        break;
    case '(':
        rc = op(lx, tok, TQ_LPAREN, 1);
        break;
    case ')':
        rc = op(lx, tok, TQ_RPAREN, 1);
        break;
    case '&':
        if (c1 == '&')
            rc = op(lx, tok, TQ_AND, 2);
        else if ((l = match_any(lx, STRUCT_AMP)) != 0)
            rc = op(lx, tok, TQ_STRUCT, l);
        else
            return fail(lx, lx->pos, err, TA_INVALID, "unexpected '&' (write && for and)");
        break;
    case '|':
        rc = c1 == '|' ? op(lx, tok, TQ_OR, 2) : op(lx, tok, TQ_PIPE, 1);
        break;
    case '!':
        if (c1 == '=')
            rc = cmpop(lx, tok, TRACEQL_OP_NE, 2);
        else if (c1 == '~')
            rc = cmpop(lx, tok, TRACEQL_OP_NRE, 2);
        else if ((l = match_any(lx, STRUCT_NOT)) != 0)
            rc = op(lx, tok, TQ_STRUCT, l);
        else
            rc = op(lx, tok, TQ_NOT, 1);
        break;
    case '=':
        if (c1 == '~')
            rc = cmpop(lx, tok, TRACEQL_OP_RE, 2);
        else if (c1 == '=')
            return fail(lx, lx->pos, err, TA_INVALID, "'==' is not a TraceQL operator; use '='");
        else
            rc = cmpop(lx, tok, TRACEQL_OP_EQ, 1);
        break;
    case '<':
        if (c1 == '<')
            rc = op(lx, tok, TQ_STRUCT, 2);
        else
            rc = c1 == '=' ? cmpop(lx, tok, TRACEQL_OP_LE, 2) : cmpop(lx, tok, TRACEQL_OP_LT, 1);
        break;
    case '>':
        if (c1 == '>')
            rc = op(lx, tok, TQ_STRUCT, 2);
        else
            rc = c1 == '=' ? cmpop(lx, tok, TRACEQL_OP_GE, 2) : cmpop(lx, tok, TRACEQL_OP_GT, 1);
        break;
    case '~':
        rc = op(lx, tok, TQ_STRUCT, 1);
        break;
    case '+':
    case '*':
    case '/':
    case '%':
    case '^':
        rc = op(lx, tok, TQ_ARITH, 1);
        break;
    case '-':
        if (is_digit(c1) || (c1 == '.' && is_digit(at(lx, lx->pos + 2)))) {
            size_t start = lx->pos++;
            rc = lex_number(lx, tok, true, start, err);
        } else {
            rc = op(lx, tok, TQ_ARITH, 1);
        }
        break;
    case '"':
    case '`':
        rc = lex_string(lx, tok, err);
        break;
    case '\'':
        return fail(lx, lx->pos, err, TA_INVALID,
                    "single quotes do not make strings in TraceQL; use double quotes");
    case '.':
        if (is_digit(c1)) {
            rc = lex_number(lx, tok, false, lx->pos, err);
        } else {
            tok->scope = TRACEQL_SCOPE_ANY;
            lx->pos++;
            rc = lex_attr_name(lx, tok, err);
        }
        break;
    case ',':
        return fail(lx, lx->pos, err, TA_INVALID, "unexpected ','");
    default:
        if (is_digit(c)) {
            rc = lex_number(lx, tok, false, lx->pos, err);
        } else if (is_ident_start(c)) {
            rc = lex_word(lx, tok, err);
        } else if (c == 0) {
            return fail(lx, lx->pos, err, TA_INVALID, "NUL byte in the filter");
        } else if (c >= 0x21 && c < 0x7F) {
            snprintf(msg, sizeof(msg), "unexpected character '%c'", c);
            return fail(lx, lx->pos, err, TA_INVALID, msg);
        } else {
            snprintf(msg, sizeof(msg), "unexpected character (byte 0x%02x)", c);
            return fail(lx, lx->pos, err, TA_INVALID, msg);
        }
        break;
    }
    tok->len = lx->pos - tok->off;
    return rc;
}
