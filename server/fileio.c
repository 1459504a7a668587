/* fileio.c — bounded reads, atomic writes (temp + fsync + rename), mkdir -p. Any thread. */
#include "server/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/base/ta_mem.h"

static enum ta_rc io_fail(struct ta_err *err, const char *what, const char *path, int e)
{
    char msg[128];
    const char *m = strerror_r(e, msg, sizeof(msg));
    return ta_err_set(err, e == ENOENT ? TA_NOT_FOUND : TA_IO, "%s %s: %s", what, path, m);
}

enum ta_rc file_read_all(const char *path, size_t max, struct buf *out, struct ta_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, "cannot open", path, errno);
    enum ta_rc rc = TA_OK;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = io_fail(err, "cannot stat", path, errno);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = ta_err_set(err, TA_IO, "%s is a directory", path);
        goto out;
    }
    char chunk[16384];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = io_fail(err, "cannot read", path, errno);
            goto out;
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (total > max) {
            rc = ta_err_set(err, TA_TOO_LARGE, "%s is larger than %zu bytes", path, max);
            goto out;
        }
        if (buf_add(out, chunk, (size_t)n) != TA_OK) {
            rc = ta_err_set(err, TA_TOO_LARGE, "%s is larger than %zu bytes", path, out->max);
            goto out;
        }
    }
out:
    close(fd);
    return rc;
}

enum ta_rc file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             struct ta_err *err)
{
    struct buf tmp;
    buf_init(&tmp, 4096 + strlen(path));
    if (buf_addf(&tmp, "%s.tmp.%d", path, (int)getpid()) != TA_OK)
        return ta_err_set(err, TA_TOO_LARGE, "path too long: %.64s", path);
    enum ta_rc rc = TA_OK;
    int fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = io_fail(err, "cannot create", buf_cstr(&tmp), errno);
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = io_fail(err, "cannot write", buf_cstr(&tmp), errno);
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == TA_OK && fsync(fd) != 0)
        rc = io_fail(err, "cannot sync", buf_cstr(&tmp), errno);
    close(fd);
    if (rc == TA_OK && rename(buf_cstr(&tmp), path) != 0)
        rc = io_fail(err, "cannot rename to", path, errno);
    if (rc != TA_OK)
        unlink(buf_cstr(&tmp));
out:
    buf_free(&tmp);
    return rc;
}

enum ta_rc file_mkdir_p(const char *path, mode_t mode, struct ta_err *err)
{
    size_t len = strlen(path);
    if (len == 0)
        return ta_err_set(err, TA_INVALID, "empty directory path");
    char *p = ta_xstrndup(path, len);
    enum ta_rc rc = TA_OK;
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        int e = mkdir(p, mode) == 0 ? 0 : errno;
        struct stat st;
        if (e == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            e = 0; /* EEXIST is fine only for a directory, not for a file in the way */
        if (e != 0) {
            rc = io_fail(err, "cannot create directory", p, e);
            break;
        }
        p[i] = saved;
    }
    free(p);
    return rc;
}
