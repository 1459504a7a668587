/* fileio.h — bounded file reads, atomic writes, directory creation.
 *
 * Used for certificates, keys, token files and the rules file. Reads are capped (a file larger
 * than max is TA_TOO_LARGE, never read whole); writes go to a temporary file in the same
 * directory and are renamed into place, so readers never see half a file. Any thread. */
#ifndef TA_SERVER_FILEIO_H
#define TA_SERVER_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "apis/base/buf.h"
#include "apis/base/ta_err.h"

/* Appends the whole file to out (whose cap must allow max bytes); TA_TOO_LARGE past max,
 * TA_NOT_FOUND when it does not exist, TA_IO otherwise (messages name the path). */
enum ta_rc file_read_all(const char *path, size_t max, struct buf *out, struct ta_err *err);
/* Writes data to path atomically with the given mode (e.g. 0600 for keys). */
enum ta_rc file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             struct ta_err *err);
/* mkdir -p with mode for the directories it creates. */
enum ta_rc file_mkdir_p(const char *path, mode_t mode, struct ta_err *err);

#endif
