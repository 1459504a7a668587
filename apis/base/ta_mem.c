/* ta_mem.c — ta_x* allocation wrappers: abort with one line on exhaustion or overflow. Any
 * thread. */
#include "apis/base/ta_mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noreturn)) static void oom(size_t size)
{
    char line[128];
    int n = snprintf(line, sizeof(line), "F out of memory allocating %zu bytes\n", size);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : 0);
        (void)w;
    }
    abort();
}

void *ta_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *ta_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *ta_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        oom(size);
    return q;
}

void *ta_xreallocarray(void *p, size_t n_new, size_t size)
{
    if (size && n_new > SIZE_MAX / size)
        oom(SIZE_MAX);
    return ta_xrealloc(p, n_new * size);
}

char *ta_xstrndup(const char *s, size_t len)
{
    if (len == SIZE_MAX)
        oom(len);
    char *p = ta_xmalloc(len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *ta_xstrdup(const char *s)
{
    return ta_xstrndup(s, strlen(s));
}
