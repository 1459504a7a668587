/* quantity.c — canonical DecimalSI formatting of milli-values and double conversion.
 *
 * Formatting follows apimachinery's int64Amount.AsCanonicalBytes with the decimal suffix table
 * (spec §7.3); the double conversion rounds half to even on the shortest round-trip decimal text
 * of the value (spec §7.5). Pure: any thread. */
#include "apis/quantity.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "apis/base/parse.h"
#include "apis/base/slice.h"

/* Suffix for a value a × 10^e, e ∈ {-3, 0, 3, …, 15}. */
static const char *suffix_for(int e)
{
    switch (e) {
    case -3:
        return "m";
    case 0:
        return "";
    case 3:
        return "k";
    case 6:
        return "M";
    case 9:
        return "G";
    case 12:
        return "T";
    case 15:
        return "P";
    default:
        return "E"; /* e = 18 needs |m| ≥ 10^21: unreachable for int64 */
    }
}

void quantity_format_milli(int64_t m, char out[QUANTITY_STR_MAX])
{
    if (m == 0) {
        memcpy(out, "0", 2);
        return;
    }
    /* |INT64_MIN| does not fit in int64: work on the unsigned magnitude. */
    uint64_t a = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
    int e = -3;
    while (a % 10 == 0) {
        a /= 10;
        e++;
    }
    int r = ((e % 3) + 3) % 3; /* mathematical modulo */
    /* a·10^r ≤ |m| because at least r zeros were stripped: no overflow */
    if (r == 1) {
        a *= 10;
        e -= 1;
    } else if (r == 2) {
        a *= 100;
        e -= 2;
    }
    snprintf(out, QUANTITY_STR_MAX, "%s%llu%s", m < 0 ? "-" : "", (unsigned long long)a,
             suffix_for(e));
}

/* The shortest "%.Ne" text of v (v finite, non-zero) that parses back to exactly v. */
static void shortest_exp(double v, char *txt, size_t cap)
{
    for (int prec = 0; prec < 17; prec++) {
        int n = snprintf(txt, cap, "%.*e", prec, v);
        double back;
        if (n > 0 && (size_t)n < cap &&
            parse_double(slice_make(txt, (size_t)n), -DBL_MAX, DBL_MAX, &back, NULL) == TA_OK &&
            back == v)
            return;
    }
    snprintf(txt, cap, "%.16e", v); /* 17 significant digits always round-trip */
}

/* Rounds the decimal text "d.ddde±X" (magnitude only) times 1000 half to even. */
static uint64_t round_milli(const char *txt)
{
    char digits[32];
    size_t n = 0;
    const char *p = txt;
    while (*p && *p != 'e') {
        if (*p >= '0' && *p <= '9' && n < sizeof(digits))
            digits[n++] = *p;
        p++;
    }
    int exp10 = 0;
    bool neg_exp = false;
    if (*p == 'e') {
        p++;
        if (*p == '-' || *p == '+')
            neg_exp = *p++ == '-';
        while (*p >= '0' && *p <= '9')
            exp10 = exp10 * 10 + (*p++ - '0');
    }
    if (neg_exp)
        exp10 = -exp10;
    /* value × 1000 = D × 10^shift, D the n-digit integer */
    long shift = (long)exp10 - (long)(n - 1) + 3;
    uint64_t q = 0;
    if (shift >= 0) {
        for (size_t i = 0; i < n; i++)
            q = q * 10 + (uint64_t)(digits[i] - '0');
        for (long i = 0; i < shift; i++)
            q *= 10; /* |v| ≤ 9.2e15 keeps this below 9.2e18 */
        return q;
    }
    size_t drop = (size_t)(-shift);
    if (drop > n)
        return 0; /* the first dropped digit is a leading zero: below one half */
    size_t keep = n - drop;
    for (size_t i = 0; i < keep; i++)
        q = q * 10 + (uint64_t)(digits[i] - '0');
    int first = digits[keep] - '0';
    bool rest = false;
    for (size_t i = keep + 1; i < n; i++)
        rest = rest || digits[i] != '0';
    if (first > 5 || (first == 5 && (rest || (q & 1))))
        q++;
    return q;
}

enum ta_rc quantity_from_double(double v, char out[QUANTITY_STR_MAX], struct ta_err *err)
{
    out[0] = '\0';
    if (!isfinite(v))
        return ta_err_set(err, TA_INVALID, "value is not a finite number");
    if (v > QUANTITY_MAX_ABS)
        v = QUANTITY_MAX_ABS;
    if (v < -QUANTITY_MAX_ABS)
        v = -QUANTITY_MAX_ABS;
    if (v == 0) {
        quantity_format_milli(0, out);
        return TA_OK;
    }
    char txt[40];
    shortest_exp(fabs(v), txt, sizeof(txt));
    uint64_t q = round_milli(txt);
    int64_t m = (int64_t)q; /* q ≤ 9.2e18 < INT64_MAX */
    quantity_format_milli(v < 0 ? -m : m, out);
    return TA_OK;
}
