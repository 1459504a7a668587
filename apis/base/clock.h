/* clock.h — wall and monotonic time in nanoseconds, and RFC 3339 formatting.
 *
 * Wall time aligns windows and stamps values; monotonic time measures ages and deadlines.
 * Pure wrappers over clock_gettime: any thread. */
#ifndef TA_APIS_BASE_CLOCK_H
#define TA_APIS_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define NS_PER_MS  1000000LL
#define NS_PER_SEC 1000000000LL

#define CLOCK_RFC3339_LEN 21 /* "2026-07-01T12:00:00Z" plus NUL */

int64_t clock_wall_ns(void);
int64_t clock_mono_ns(void);
/* Writes "YYYY-MM-DDTHH:MM:SSZ" (UTC, seconds) for unix_s into out[CLOCK_RFC3339_LEN]. */
void clock_rfc3339(int64_t unix_s, char out[CLOCK_RFC3339_LEN]);

#endif
