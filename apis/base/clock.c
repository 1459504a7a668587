/* clock.c — clock_gettime wrappers and RFC 3339 (seconds, UTC) formatting. Any thread. */
#include "apis/base/clock.h"

#include <stdio.h>
#include <time.h>

int64_t clock_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

void clock_rfc3339(int64_t unix_s, char out[CLOCK_RFC3339_LEN])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        snprintf(out, CLOCK_RFC3339_LEN, "1970-01-01T00:00:00Z");
        return;
    }
    if (strftime(out, CLOCK_RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, CLOCK_RFC3339_LEN, "1970-01-01T00:00:00Z");
}
