/* ta_err.c — ta_err_set, ta_err_prefix and the assertion hook.
 *
 * Messages are formatted with vsnprintf into the caller's fixed buffer, so truncation is the
 * only failure and it is harmless (the buffer stays NUL-terminated). Any thread. */
#include "apis/base/ta_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum ta_rc ta_err_set(struct ta_err *err, enum ta_rc rc, const char *fmt, ...)
{
    if (!err)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        err->msg[0] = '\0';
    err->rc = rc;
    return rc;
}

enum ta_rc ta_err_prefix(struct ta_err *err, const char *fmt, ...)
{
    if (!err)
        return TA_INTERNAL;
    char prefix[TA_ERR_MSG_MAX];
    char old[TA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->rc;
    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    n = snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    if (n < 0)
        err->msg[0] = '\0';
    return err->rc;
}

void ta_err_clear(struct ta_err *err)
{
    if (!err)
        return;
    err->rc = TA_OK;
    err->msg[0] = '\0';
}

const char *ta_rc_name(enum ta_rc rc)
{
    switch (rc) {
    case TA_OK:
        return "ok";
    case TA_INVALID:
        return "invalid";
    case TA_NOT_FOUND:
        return "not found";
    case TA_TOO_LARGE:
        return "too large";
    case TA_IO:
        return "io";
    case TA_UPSTREAM:
        return "upstream";
    case TA_TIMEOUT:
        return "timeout";
    case TA_UNAVAILABLE:
        return "unavailable";
    case TA_INTERNAL:
        return "internal";
    }
    return "unknown";
}

void ta_assert_fail(const char *file, int line, const char *expr)
{
    char line_buf[512];
    int n =
        snprintf(line_buf, sizeof(line_buf), "F %s:%d] assertion failed: %s\n", file, line, expr);
    if (n > 0) {
        size_t len = (size_t)n < sizeof(line_buf) ? (size_t)n : sizeof(line_buf) - 1;
        ssize_t w = write(STDERR_FILENO, line_buf, len);
        (void)w;
    }
    abort();
}
