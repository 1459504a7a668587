/* secret_file.c — a credential read from a file, re-read when its inode, size or mtime change.
 *
 * The calling thread that finds the recheck interval elapsed claims the check (under
 * shared.mu), releases the lock, stats and reads the file, then swaps the new content in. Other
 * threads keep reading the previous value meanwhile. Contents are wiped before being freed. */
#include "server/secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/slice.h"
#include "apis/base/ta_mem.h"

struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
};

struct secret_file {
    char *path;         /* immutable */
    int64_t recheck_ns; /* immutable */
    struct {
        pthread_mutex_t mu;
        char *value;         /* guarded by mu; NUL-terminated, trimmed */
        size_t len;          /* guarded by mu */
        struct file_id id;   /* guarded by mu: identity of the file value came from */
        int64_t next_check;  /* guarded by mu: monotonic ns of the next allowed stat() */
        uint64_t generation; /* guarded by mu */
        bool failing;        /* guarded by mu: last re-read failed (logged once) */
    } shared;
};

static void wipe_free(char *p, size_t len)
{
    if (!p)
        return;
    explicit_bzero(p, len);
    free(p);
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static void id_of(const struct stat *st, struct file_id *id)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * NS_PER_SEC + st->st_mtim.tv_nsec;
}

static enum ta_rc errno_err(struct ta_err *err, const char *what, const char *path, int e)
{
    char eb[128];
    const char *es = strerror_r(e, eb, sizeof(eb));
    return ta_err_set(err, TA_IO, "%s %s: %s", what, path, es);
}

/* Reads and trims the file; on TA_OK *value (owned) and *id describe it. */
static enum ta_rc read_file(const char *path, char **value, size_t *len, struct file_id *id,
                            struct ta_err *err)
{
    enum ta_rc rc = TA_OK;
    char *data = NULL;
    size_t n = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno_err(err, "cannot open", path, errno);
    if (fstat(fd, &st) != 0) {
        rc = errno_err(err, "cannot stat", path, errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ta_err_set(err, TA_INVALID, "%s is not a regular file", path);
        goto out;
    }
    data = ta_xmalloc(SECRET_FILE_MAX_BYTES + 2);
    for (;;) {
        ssize_t r = read(fd, data + n, SECRET_FILE_MAX_BYTES + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = errno_err(err, "cannot read", path, errno);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > SECRET_FILE_MAX_BYTES) {
            rc = ta_err_set(err, TA_TOO_LARGE, "%s is larger than %d bytes", path,
                            SECRET_FILE_MAX_BYTES);
            goto out;
        }
    }
    struct slice t = slice_trim(slice_make(data, n));
    if (t.len == 0) {
        rc = ta_err_set(err, TA_INVALID, "%s is empty", path);
        goto out;
    }
    if (slice_has_nul(t)) {
        rc = ta_err_set(err, TA_INVALID, "%s contains a NUL byte", path);
        goto out;
    }
    *value = ta_xstrndup(t.ptr, t.len);
    *len = t.len;
    id_of(&st, id);
out:
    wipe_free(data, SECRET_FILE_MAX_BYTES + 2);
    close(fd);
    return rc;
}

enum ta_rc secret_file_open(const char *path, int64_t recheck_ns, struct secret_file **out,
                            struct ta_err *err)
{
    *out = NULL;
    char *value = NULL;
    size_t len = 0;
    struct file_id id;
    if (!path || !*path)
        return ta_err_set(err, TA_INVALID, "empty secret file path");
    enum ta_rc rc = read_file(path, &value, &len, &id, err);
    if (rc != TA_OK)
        return rc;
    struct secret_file *sf = ta_xcalloc(1, sizeof(*sf));
    sf->path = ta_xstrdup(path);
    sf->recheck_ns = recheck_ns > 0 ? recheck_ns : SECRET_FILE_RECHECK_NS;
    pthread_mutex_init(&sf->shared.mu, NULL);
    sf->shared.value = value;
    sf->shared.len = len;
    sf->shared.id = id;
    sf->shared.next_check = clock_mono_ns() + sf->recheck_ns;
    *out = sf;
    return TA_OK;
}

void secret_file_free(struct secret_file *sf)
{
    if (!sf)
        return;
    wipe_free(sf->shared.value, sf->shared.len);
    pthread_mutex_destroy(&sf->shared.mu);
    free(sf->path);
    free(sf);
}

/* Re-reads the file when it changed; called without the lock by the thread that claimed the
 * check. */
static void recheck(struct secret_file *sf)
{
    struct stat st;
    struct file_id now_id;
    struct ta_err err = { TA_OK, "" };
    char *value = NULL;
    size_t len = 0;
    enum ta_rc rc;

    if (stat(sf->path, &st) != 0) {
        rc = errno_err(&err, "cannot stat", sf->path, errno);
    } else {
        id_of(&st, &now_id);
        pthread_mutex_lock(&sf->shared.mu);
        bool unchanged = same_id(&now_id, &sf->shared.id) && !sf->shared.failing;
        pthread_mutex_unlock(&sf->shared.mu);
        if (unchanged)
            return;
        rc = read_file(sf->path, &value, &len, &now_id, &err);
    }
    pthread_mutex_lock(&sf->shared.mu);
    if (rc != TA_OK) {
        bool first = !sf->shared.failing;
        sf->shared.failing = true;
        pthread_mutex_unlock(&sf->shared.mu);
        if (first)
            LOG_WARN("secret file: keeping the previous value: %s", err.msg);
        return;
    }
    bool was_failing = sf->shared.failing;
    bool changed = len != sf->shared.len || memcmp(value, sf->shared.value, len) != 0;
    char *old = NULL;
    size_t old_len = 0;
    sf->shared.failing = false;
    sf->shared.id = now_id;
    if (changed) {
        old = sf->shared.value;
        old_len = sf->shared.len;
        sf->shared.value = value;
        sf->shared.len = len;
        sf->shared.generation++;
        value = NULL;
    }
    pthread_mutex_unlock(&sf->shared.mu);
    wipe_free(old, old_len);
    wipe_free(value, len);
    if (changed)
        LOG_INFO("secret file %s changed: using the new content", sf->path);
    else if (was_failing)
        LOG_INFO("secret file %s is readable again", sf->path);
}

enum ta_rc secret_file_get(struct secret_file *sf, struct buf *out)
{
    int64_t now = clock_mono_ns();
    bool check = false;
    pthread_mutex_lock(&sf->shared.mu);
    if (now >= sf->shared.next_check) {
        sf->shared.next_check = now + sf->recheck_ns; /* claimed: others read the old value */
        check = true;
    }
    pthread_mutex_unlock(&sf->shared.mu);
    if (check)
        recheck(sf);
    pthread_mutex_lock(&sf->shared.mu);
    enum ta_rc rc = buf_add(out, sf->shared.value, sf->shared.len);
    pthread_mutex_unlock(&sf->shared.mu);
    return rc;
}

uint64_t secret_file_generation(struct secret_file *sf)
{
    pthread_mutex_lock(&sf->shared.mu);
    uint64_t g = sf->shared.generation;
    pthread_mutex_unlock(&sf->shared.mu);
    return g;
}

const char *secret_file_path(const struct secret_file *sf)
{
    return sf->path;
}
