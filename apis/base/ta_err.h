/* ta_err.h — the project's one failure vocabulary: enum ta_rc and struct ta_err.
 *
 * Every function that can fail returns enum ta_rc and takes struct ta_err *err last (NULL
 * allowed). The frame that detects a failure writes the message once with ta_err_set; callers
 * add context with ta_err_prefix. Only apis/status.c maps codes to HTTP. Any thread. */
#ifndef TA_APIS_BASE_TA_ERR_H
#define TA_APIS_BASE_TA_ERR_H

#include <stddef.h>

#define TA_PRINTF(fmt_idx, first_arg) __attribute__((format(printf, fmt_idx, first_arg)))
#define TA_MUST_CHECK                 __attribute__((warn_unused_result))
#define TA_NORETURN                   __attribute__((noreturn))

#define TA_ERR_MSG_MAX 256 /* one Status message or one startup line; always NUL-terminated */

enum ta_rc {
    TA_OK = 0,
    TA_INVALID,     /* the input is wrong: 400, or a startup error naming file:line */
    TA_NOT_FOUND,   /* no such metric, path or object: 404 */
    TA_TOO_LARGE,   /* an input or output limit was hit: 413/414/431 or a clear error */
    TA_IO,          /* local I/O failed (files, sockets) */
    TA_UPSTREAM,    /* the trace source or kube-apiserver answered badly */
    TA_TIMEOUT,     /* a deadline passed */
    TA_UNAVAILABLE, /* no usable value right now (stale, too few samples, no source): 503 */
    TA_INTERNAL,    /* a broken invariant that was caught instead of aborting: 500 */
};

struct ta_err {
    enum ta_rc rc;
    char msg[TA_ERR_MSG_MAX];
};

/* Writes the message (printf-style; truncated to fit) into err when err is non-NULL and
 * returns rc, so a failure is reported as `return ta_err_set(err, TA_INVALID, "…", …);`. */
enum ta_rc ta_err_set(struct ta_err *err, enum ta_rc rc, const char *fmt, ...) TA_PRINTF(3, 4);

/* Prepends "<context>: " to err->msg (e.g. a file:line or a rule name); keeps err->rc. Returns
 * err->rc (TA_INTERNAL when err is NULL, which callers only hit on a broken invariant). */
enum ta_rc ta_err_prefix(struct ta_err *err, const char *fmt, ...) TA_PRINTF(2, 3);

/* Empties err (rc = TA_OK, msg = ""); NULL is fine. */
void ta_err_clear(struct ta_err *err);

/* Short lower-case name of a code ("invalid", "upstream", …), for logs and tests. */
const char *ta_rc_name(enum ta_rc rc);

/* Logs file:line and the expression, then aborts: only for broken invariants. */
#define TA_ASSERT(cond)                                \
    do {                                               \
        if (!(cond))                                   \
            ta_assert_fail(__FILE__, __LINE__, #cond); \
    } while (0)
TA_NORETURN void ta_assert_fail(const char *file, int line, const char *expr);

#endif
