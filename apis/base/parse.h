/* parse.h — numbers, durations, hex and base64 from untrusted bytes, with caller-given ranges.
 *
 * The only place strto* may be called. Every function takes a struct slice (no NUL needed),
 * rejects empty input, signs or spaces it does not allow, trailing bytes and out-of-range
 * values with a precise message. Pure: any thread. */
#ifndef TA_APIS_BASE_PARSE_H
#define TA_APIS_BASE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

#define PARSE_NUM_MAX_LEN 64 /* longest numeric text accepted: far above any real number */

/* Decimal digits only; value must lie in [min, max]. */
enum ta_rc parse_u64(struct slice s, uint64_t min, uint64_t max, uint64_t *out, struct ta_err *err);
/* Optional leading '-' or '+', then decimal digits; value in [min, max]. */
enum ta_rc parse_i64(struct slice s, int64_t min, int64_t max, int64_t *out, struct ta_err *err);
/* A finite decimal or exponent number (strtod syntax without hex, inf or nan); value in
 * [min, max]. */
enum ta_rc parse_double(struct slice s, double min, double max, double *out, struct ta_err *err);
/* A Go or Prometheus duration: one or more <number><unit> with units ns, us, µs, ms, s, m, h,
 * d, w, y ("500ms", "1h30m", "1.5s"); a bare "0" is zero. Result in nanoseconds, in
 * [min_ns, max_ns]. */
enum ta_rc parse_duration_ns(struct slice s, int64_t min_ns, int64_t max_ns, int64_t *out_ns,
                             struct ta_err *err);
/* The value of one hex digit (either case), or -1. */
int parse_hex_digit(char c);
/* Exactly 2*n hex digits (either case) into n bytes. */
enum ta_rc parse_hex(struct slice s, uint8_t *out, size_t n, struct ta_err *err);
/* Standard base64 (padding optional) into at most cap bytes; *len gets the decoded length. */
enum ta_rc parse_base64(struct slice s, uint8_t *out, size_t cap, size_t *len, struct ta_err *err);

#endif
