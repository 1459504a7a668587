/* ta_mem.h — allocation wrappers that never return NULL.
 *
 * Out of memory logs one line and aborts (the kubelet restarts the pod), as Redis and h2o do,
 * so no caller carries an out-of-memory path. Size arithmetic is overflow-checked here. Any
 * thread. */
#ifndef TA_APIS_BASE_TA_MEM_H
#define TA_APIS_BASE_TA_MEM_H

#include <stddef.h>

void *ta_xmalloc(size_t size) __attribute__((malloc, returns_nonnull));
void *ta_xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *ta_xrealloc(void *p, size_t size) __attribute__((returns_nonnull));
/* Grows an array of n elements of `size` bytes to `n_new` elements; aborts on overflow. */
void *ta_xreallocarray(void *p, size_t n_new, size_t size) __attribute__((returns_nonnull));
/* Copies len bytes of s and appends a NUL. */
char *ta_xstrndup(const char *s, size_t len) __attribute__((malloc, returns_nonnull));
char *ta_xstrdup(const char *s) __attribute__((malloc, returns_nonnull));

#endif
