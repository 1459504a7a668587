/* log.c — formats one log line into a stack buffer and writes it with a single write(2).
 *
 * Settings are plain globals written only by main before threads start (STYLE: log verbosity
 * and format are the startup-time exception); log_write keeps no other state. */
#include "apis/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_verbosity = 0;
static enum log_format g_format = LOG_FORMAT_TEXT;
static int g_fd = STDERR_FILENO;

void log_set_verbosity(int v)
{
    log_verbosity = v;
}

void log_set_format(enum log_format f)
{
    g_format = f;
}

void log_set_fd(int fd)
{
    g_fd = fd;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Appends msg to out[*n..cap) escaping control characters (and, for JSON, quotes and
 * backslashes); stops silently at the cap, leaving room for the line's tail. */
static void append_escaped(char *out, size_t *n, size_t cap, const char *msg, int json)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        char esc[8];
        size_t len = 0;
        if (*p < 0x20 || *p == 0x7f) {
            if (json) {
                esc[0] = '\\';
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                len = 6;
            } else {
                esc[0] = '\\';
                esc[1] = 'x';
                esc[2] = hex[*p >> 4];
                esc[3] = hex[*p & 15];
                len = 4;
            }
        } else if (json && (*p == '"' || *p == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)*p;
            len = 2;
        } else {
            esc[0] = (char)*p;
            len = 1;
        }
        if (*n + len >= cap)
            return;
        memcpy(out + *n, esc, len);
        *n += len;
    }
}

void log_write(char level, const char *file, int line, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    char out[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m < 0)
        return;

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = 0;
    int h;
    if (g_format == LOG_FORMAT_JSON) {
        h = snprintf(out, sizeof(out), "{\"ts\":%lld.%03ld,\"caller\":\"%s:%d\",",
                     (long long)tv.tv_sec, (long)(tv.tv_usec / 1000), basename_of(file), line);
        if (h < 0)
            return;
        n = (size_t)h;
        if (level == 'E' || level == 'W') {
            const char *lv = level == 'E' ? "\"level\":\"error\"," : "\"level\":\"warning\",";
            size_t ll = strlen(lv);
            if (n + ll < sizeof(out)) {
                memcpy(out + n, lv, ll);
                n += ll;
            }
        }
        static const char msg_key[] = "\"msg\":\"";
        memcpy(out + n, msg_key, sizeof(msg_key) - 1);
        n += sizeof(msg_key) - 1;
        append_escaped(out, &n, sizeof(out) - 16, msg, 1);
        static const char tail[] = "\",\"v\":0}\n";
        memcpy(out + n, tail, sizeof(tail) - 1);
        n += sizeof(tail) - 1;
    } else {
        h = snprintf(out, sizeof(out), "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] ", level,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec,
                     (int)getpid(), basename_of(file), line);
        if (h < 0 || (size_t)h >= sizeof(out) - 2)
            return;
        n = (size_t)h;
        append_escaped(out, &n, sizeof(out) - 1, msg, 0);
        out[n++] = '\n';
    }
    ssize_t w = write(g_fd, out, n);
    (void)w;
}
