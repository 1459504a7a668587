/* test_fileio.c — capped file reads, atomic writes and mkdir -p, each test in its own
 * temporary directory (umask 022, so created modes are predictable). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/fileio.h"

static char dir[64];

static void setup(void)
{
    umask(022);
    snprintf(dir, sizeof(dir), "/tmp/ta-fileio-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(fileio, .init = setup, .fini = teardown);

static void path_of(char *out, size_t cap, const char *name)
{
    cr_assert_lt((size_t)snprintf(out, cap, "%s/%s", dir, name), cap);
}

/* Writes n bytes with the plain libc calls (not the module under test). */
static void write_plain(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Reads the whole file with libc; the caller frees. */
static char *read_plain(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    cr_assert_geq(len, 0);
    rewind(f);
    char *data = malloc((size_t)len + 1);
    cr_assert_eq(fread(data, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return data;
}

/* A pattern with NULs and every byte value. */
static char *pattern(size_t n)
{
    char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 7 + i / 251);
    return p;
}

static size_t dir_entries(const char *path, char names[][64], size_t cap)
{
    DIR *d = opendir(path);
    cr_assert_not_null(d, "%s", path);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n < cap)
            snprintf(names[n], 64, "%.63s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return st.st_mode & 07777;
}

/* ---- file_read_all ------------------------------------------------------------------------- */

Test(fileio, reads_a_file_of_exactly_max_bytes)
{
    char path[128];
    path_of(path, sizeof(path), "exact");
    char *data = pattern(100);
    write_plain(path, data, 100);
    struct buf b;
    buf_init(&b, 100);
    struct ta_err err = { 0 };
    cr_assert_eq(file_read_all(path, 100, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b.len, 100);
    cr_assert_eq(memcmp(b.data, data, 100), 0);
    cr_assert_eq(b.data[100], '\0', "the buffer stays NUL-terminated");
    buf_free(&b);
    free(data);
}

Test(fileio, refuses_a_file_one_byte_over_max)
{
    char path[128];
    path_of(path, sizeof(path), "over");
    char *data = pattern(101);
    write_plain(path, data, 101);
    struct buf b;
    buf_init(&b, 1000);
    struct ta_err err = { 0 };
    cr_assert_eq(file_read_all(path, 100, &b, &err), TA_TOO_LARGE);
    cr_assert_eq(err.rc, TA_TOO_LARGE);
    char want[256];
    snprintf(want, sizeof(want), "%s is larger than 100 bytes", path);
    cr_assert_str_eq(err.msg, want);
    buf_free(&b);
    free(data);
}

Test(fileio, reads_files_larger_than_one_read_call)
{
    enum {
        N = 3 * 16384 + 5
    };
    char path[128];
    path_of(path, sizeof(path), "big");
    char *data = pattern(N);
    write_plain(path, data, N);
    struct buf b;
    buf_init(&b, N);
    cr_assert_eq(file_read_all(path, N, &b, NULL), TA_OK);
    cr_assert_eq(b.len, N);
    cr_assert_eq(memcmp(b.data, data, N), 0);
    buf_free(&b);

    buf_init(&b, N);
    struct ta_err err = { 0 };
    cr_assert_eq(file_read_all(path, N - 1, &b, &err), TA_TOO_LARGE);
    buf_free(&b);
    free(data);
}

Test(fileio, reads_an_empty_file)
{
    char path[128];
    path_of(path, sizeof(path), "empty");
    write_plain(path, "", 0);
    struct buf b;
    buf_init(&b, 10);
    cr_assert_eq(file_read_all(path, 10, &b, NULL), TA_OK);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(buf_cstr(&b), "");
    buf_free(&b);
}

Test(fileio, appends_to_what_the_buffer_holds)
{
    char path[128];
    path_of(path, sizeof(path), "tail");
    write_plain(path, "cd", 2);
    struct buf b;
    buf_init(&b, 10);
    cr_assert_eq(buf_adds(&b, "ab"), TA_OK);
    cr_assert_eq(file_read_all(path, 8, &b, NULL), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "abcd");
    buf_free(&b);
}

Test(fileio, a_buffer_cap_below_the_file_size_is_too_large)
{
    char path[128];
    path_of(path, sizeof(path), "capped");
    write_plain(path, "0123456789", 10);
    struct buf b;
    buf_init(&b, 4);
    struct ta_err err = { 0 };
    cr_assert_eq(file_read_all(path, 100, &b, &err), TA_TOO_LARGE);
    cr_assert_eq(b.len, 0, "no partial content is kept");
    buf_free(&b);
}

Test(fileio, a_missing_file_is_not_found)
{
    char path[128];
    path_of(path, sizeof(path), "missing");
    struct buf b;
    buf_init(&b, 10);
    struct ta_err err = { 0 };
    cr_assert_eq(file_read_all(path, 10, &b, &err), TA_NOT_FOUND);
    char want[256];
    snprintf(want, sizeof(want), "cannot open %s: No such file or directory", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(b.len, 0);

    path_of(path, sizeof(path), "no/such/dir/file");
    cr_assert_eq(file_read_all(path, 10, &b, &err), TA_NOT_FOUND);
    buf_free(&b);
}

Test(fileio, a_directory_is_an_io_error)
{
    struct buf b;
    buf_init(&b, 10);
    struct ta_err err = { 0 };
    cr_assert_eq(file_read_all(dir, 10, &b, &err), TA_IO);
    char want[256];
    snprintf(want, sizeof(want), "%s is a directory", dir);
    cr_assert_str_eq(err.msg, want);
    buf_free(&b);
}

Test(fileio, a_path_through_a_file_is_an_io_error)
{
    char file[128], path[160];
    path_of(file, sizeof(file), "plain");
    write_plain(file, "x", 1);
    snprintf(path, sizeof(path), "%s/below", file);
    struct buf b;
    buf_init(&b, 10);
    struct ta_err err = { 0 };
    cr_assert_eq(file_read_all(path, 10, &b, &err), TA_IO);
    cr_assert(strstr(err.msg, "Not a directory"), "%s", err.msg);
    cr_assert(strstr(err.msg, path), "the message names the path: %s", err.msg);
    buf_free(&b);
}

/* ---- file_write_atomic --------------------------------------------------------------------- */

Test(fileio, atomic_write_stores_content_and_mode)
{
    char key[128], crt[128];
    path_of(key, sizeof(key), "tls.key");
    path_of(crt, sizeof(crt), "tls.crt");
    char *data = pattern(70000);
    struct ta_err err = { 0 };
    cr_assert_eq(file_write_atomic(key, data, 70000, 0600, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(file_write_atomic(crt, "cert\n", 5, 0644, &err), TA_OK, "%s", err.msg);
    size_t n;
    char *got = read_plain(key, &n);
    cr_assert_eq(n, 70000);
    cr_assert_eq(memcmp(got, data, n), 0);
    free(got);
    got = read_plain(crt, &n);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(got, "cert\n", 5), 0);
    free(got);
    cr_assert_eq(mode_of(key), 0600);
    cr_assert_eq(mode_of(crt), 0644);
    free(data);
}

Test(fileio, atomic_write_leaves_no_temporary_file)
{
    char path[128];
    path_of(path, sizeof(path), "only");
    cr_assert_eq(file_write_atomic(path, "a", 1, 0600, NULL), TA_OK);
    cr_assert_eq(file_write_atomic(path, "b", 1, 0600, NULL), TA_OK);
    char names[4][64];
    cr_assert_eq(dir_entries(dir, names, 4), 1);
    cr_assert_str_eq(names[0], "only");
}

Test(fileio, atomic_write_replaces_a_longer_file_and_its_mode)
{
    char path[128];
    path_of(path, sizeof(path), "replace");
    cr_assert_eq(file_write_atomic(path, "old and long content", 20, 0644, NULL), TA_OK);
    cr_assert_eq(file_write_atomic(path, "new", 3, 0600, NULL), TA_OK);
    size_t n;
    char *got = read_plain(path, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(got, "new", 3), 0);
    free(got);
    cr_assert_eq(mode_of(path), 0600, "the file is new, not rewritten in place");
}

Test(fileio, atomic_write_never_changes_an_open_file)
{
    char path[128];
    path_of(path, sizeof(path), "reader");
    write_plain(path, "first version", 13);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(file_write_atomic(path, "second", 6, 0644, NULL), TA_OK);
    char got[32];
    ssize_t n = read(fd, got, sizeof(got));
    close(fd);
    cr_assert_eq(n, 13, "a reader that opened the old file still sees all of it");
    cr_assert_eq(memcmp(got, "first version", 13), 0);
    size_t len;
    char *now = read_plain(path, &len);
    cr_assert_eq(len, 6);
    cr_assert_eq(memcmp(now, "second", 6), 0);
    free(now);
}

Test(fileio, atomic_write_of_nothing_makes_an_empty_file)
{
    char path[128];
    path_of(path, sizeof(path), "zero");
    cr_assert_eq(file_write_atomic(path, "", 0, 0600, NULL), TA_OK);
    size_t n;
    free(read_plain(path, &n));
    cr_assert_eq(n, 0);
}

Test(fileio, atomic_write_into_a_missing_directory_fails_cleanly)
{
    char path[128];
    path_of(path, sizeof(path), "absent/file");
    struct ta_err err = { 0 };
    cr_assert_eq(file_write_atomic(path, "x", 1, 0600, &err), TA_NOT_FOUND);
    cr_assert(strncmp(err.msg, "cannot create ", 14) == 0, "%s", err.msg);
    cr_assert(strstr(err.msg, path), "the message names the path: %s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
}

Test(fileio, atomic_write_over_a_directory_fails_and_cleans_up)
{
    char path[128];
    path_of(path, sizeof(path), "sub");
    cr_assert_eq(mkdir(path, 0755), 0);
    struct ta_err err = { 0 };
    cr_assert_eq(file_write_atomic(path, "x", 1, 0600, &err), TA_IO);
    char want[256];
    snprintf(want, sizeof(want), "cannot rename to %s: Is a directory", path);
    cr_assert_str_eq(err.msg, want);
    char names[4][64];
    cr_assert_eq(dir_entries(dir, names, 4), 1, "the temporary file is removed");
    cr_assert_str_eq(names[0], "sub");
}

/* ---- file_mkdir_p -------------------------------------------------------------------------- */

Test(fileio, mkdir_p_creates_nested_directories_with_the_mode)
{
    char path[128], mid[128], top[128];
    path_of(path, sizeof(path), "a/b/c");
    path_of(mid, sizeof(mid), "a/b");
    path_of(top, sizeof(top), "a");
    struct ta_err err = { 0 };
    cr_assert_eq(file_mkdir_p(path, 0700, &err), TA_OK, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(mode_of(path), 0700);
    cr_assert_eq(mode_of(mid), 0700);
    cr_assert_eq(mode_of(top), 0700);
}

Test(fileio, mkdir_p_accepts_existing_directories_and_keeps_their_mode)
{
    char top[128], path[128];
    path_of(top, sizeof(top), "exists");
    cr_assert_eq(mkdir(top, 0755), 0);
    path_of(path, sizeof(path), "exists/new");
    cr_assert_eq(file_mkdir_p(path, 0700, NULL), TA_OK);
    cr_assert_eq(file_mkdir_p(path, 0700, NULL), TA_OK, "a second call changes nothing");
    cr_assert_eq(file_mkdir_p(dir, 0700, NULL), TA_OK);
    cr_assert_eq(mode_of(top), 0755, "existing directories are not chmod-ed");
    cr_assert_eq(mode_of(path), 0700);
}

Test(fileio, mkdir_p_accepts_a_trailing_slash_and_relative_paths)
{
    char path[128];
    path_of(path, sizeof(path), "x/y/");
    cr_assert_eq(file_mkdir_p(path, 0755, NULL), TA_OK);
    char y[128];
    path_of(y, sizeof(y), "x/y");
    cr_assert_eq(mode_of(y), 0755);

    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(file_mkdir_p("rel/one", 0700, NULL), TA_OK);
    cr_assert_eq(chdir(cwd), 0);
    char rel[128];
    path_of(rel, sizeof(rel), "rel/one");
    cr_assert_eq(mode_of(rel), 0700);
}

Test(fileio, mkdir_p_refuses_an_empty_path)
{
    struct ta_err err = { 0 };
    cr_assert_eq(file_mkdir_p("", 0700, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "empty directory path");
}

Test(fileio, mkdir_p_refuses_a_path_that_is_a_file)
{
    char file[128], below[160];
    path_of(file, sizeof(file), "plain");
    write_plain(file, "x", 1);
    struct ta_err err = { 0 };
    cr_assert_eq(file_mkdir_p(file, 0700, &err), TA_IO, "a regular file is not a directory");
    char want[256];
    snprintf(want, sizeof(want), "cannot create directory %s: File exists", file);
    cr_assert_str_eq(err.msg, want);

    snprintf(below, sizeof(below), "%s/sub", file);
    cr_assert_eq(file_mkdir_p(below, 0700, &err), TA_IO);
    cr_assert(strstr(err.msg, file), "%s", err.msg);
}
