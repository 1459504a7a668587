/* quantity.h — resource.Quantity strings in canonical DecimalSI form (spec §7).
 *
 * apis/metricvalue.c turns each metric value into the `value` field of an ExternalMetricValue
 * with quantity_from_double; the HPA reads it back with MilliValue(). Output is exactly what Go's
 * resource.NewMilliQuantity(m, DecimalSI).String() writes. Pure functions: any thread. */
#ifndef TA_APIS_QUANTITY_H
#define TA_APIS_QUANTITY_H

#include <stdint.h>

#include "apis/base/ta_err.h"

/* Longest output plus NUL: "-9223372036854775808m" is 21 bytes. */
#define QUANTITY_STR_MAX 24

/* Largest magnitude quantity_from_double emits, in units: 9.2e15 keeps the milli-value (9.2e18)
 * inside int64 with room for the HPA to add a few items (spec §7.5 step 3). */
#define QUANTITY_MAX_ABS 9.2e15

/* Writes the canonical DecimalSI form of m milli-units (spec §7.3): trailing decimal zeros move
 * into an SI suffix (m, "", k, M, G, T, P) whose exponent is a multiple of 3; never a fraction.
 * 0 -> "0", 1500 -> "1500m", 1000000 -> "1k", INT64_MIN -> "-9223372036854775808m". */
void quantity_format_milli(int64_t m, char out[QUANTITY_STR_MAX]);

/* Converts v (in units) to a canonical quantity string. m = round-half-even(v × 1000), computed
 * on the shortest decimal text that reads back as v (so 0.1 is exactly 100m, not 100.000…1m):
 * 0.0005 -> "0", 0.0015 -> "2m", 0.0025 -> "2m", -0.0015 -> "-2m". |v| above QUANTITY_MAX_ABS is
 * clamped to it. NaN and ±Inf give TA_INVALID ("value is not a finite number") and out is left
 * as "" — they are never emitted. */
enum ta_rc quantity_from_double(double v, char out[QUANTITY_STR_MAX], struct ta_err *err);

#endif
