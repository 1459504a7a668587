/* log.h — klog-style or JSON log lines, one write(2) per line.
 *
 * `I1130 12:00:00.000000 pid file:line] msg` or, with log_set_format(LOG_FORMAT_JSON),
 * `{"ts":…,"caller":"file:line","msg":"…","v":0}` as klog's JSON format writes them. The level
 * is tested before the arguments are evaluated; control characters in messages are escaped, so
 * request text cannot forge lines. Level 0: errors, startup, reloads; V(2): each refresh; V(4):
 * each request; V(6): wire bodies. Never log secrets: log the file they came from.
 * log_set_* are called in main before any thread starts; log_write is safe from any thread. */
#ifndef TA_APIS_BASE_LOG_H
#define TA_APIS_BASE_LOG_H

#include "apis/base/ta_err.h"

#define LOG_LINE_MAX 4096 /* PIPE_BUF: one line is one atomic write */

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

extern int log_verbosity; /* -v N; set in main before threads start, read-only afterwards */

void log_set_verbosity(int v);
void log_set_format(enum log_format f);
/* Redirects output to fd (default 2); for tests. */
void log_set_fd(int fd);
void log_write(char level, const char *file, int line, const char *fmt, ...) TA_PRINTF(4, 5);

#define LOG_ERROR(...) log_write('E', __FILE__, __LINE__, __VA_ARGS__)
#define LOG_WARN(...)  log_write('W', __FILE__, __LINE__, __VA_ARGS__)
#define LOG_INFO(...)  log_write('I', __FILE__, __LINE__, __VA_ARGS__)
#define LOG_V(n, ...)                                        \
    do {                                                     \
        if ((n) <= log_verbosity)                            \
            log_write('I', __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

#endif
