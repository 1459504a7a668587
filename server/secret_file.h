/* secret_file.h — a small secret (bearer token, "user:password") read from a file and re-read
 * when the file changes.
 *
 * Used by server/tempo_client for --tempo-bearer-token-file and --tempo-basic-auth-file, and
 * usable by any client that needs a rotating credential (Kubernetes projected service-account
 * tokens are replaced through a symlink swap: the inode changes). The file is stat()ed at most
 * once per recheck interval; when its inode, size or mtime changed it is read again. A failed
 * re-read keeps the last good value (logged once per failure streak, naming the file, never
 * the content). The content is never logged. Internally locked (shared.mu, never held during
 * file I/O): any thread. */
#ifndef TA_SERVER_SECRET_FILE_H
#define TA_SERVER_SECRET_FILE_H

#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/ta_err.h"

#define SECRET_FILE_MAX_BYTES  16384 /* a JWT is ~1-2 KiB; anything larger is not a credential */
#define SECRET_FILE_RECHECK_NS (2LL * 1000000000LL) /* default stat() interval: 2 s */

struct secret_file; /* opaque */

/* Reads path once (at most SECRET_FILE_MAX_BYTES; leading and trailing blanks, CR and LF are
 * trimmed; an empty result is TA_INVALID). recheck_ns <= 0 means SECRET_FILE_RECHECK_NS. On
 * TA_OK the caller owns *out (secret_file_free). Errors: TA_IO (cannot open or read, with
 * strerror), TA_TOO_LARGE, TA_INVALID (empty or contains a NUL byte). */
enum ta_rc secret_file_open(const char *path, int64_t recheck_ns, struct secret_file **out,
                            struct ta_err *err);
/* Wipes the secret from memory and frees it. NULL is fine. */
void secret_file_free(struct secret_file *sf);
/* Appends the current secret to out (re-reading the file first when the recheck interval has
 * passed and the file changed). Errors only from out (TA_TOO_LARGE). */
TA_MUST_CHECK enum ta_rc secret_file_get(struct secret_file *sf, struct buf *out);
/* Number of times the content changed since open (0 at first). */
uint64_t secret_file_generation(struct secret_file *sf);
/* The path given to secret_file_open (for log lines). */
const char *secret_file_path(const struct secret_file *sf);

#endif
