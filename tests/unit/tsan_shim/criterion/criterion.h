/* criterion.h (shim) — a minimal stand-in for Criterion, to run unit tests under
 * ThreadSanitizer.
 *
 * Criterion cannot start in a TSan process: its BoxFort arena maps memory at random fixed
 * addresses that TSan reserves, and it aborts with "Could not initialize inheritable arena"
 * (Snaipe/Criterion#274). Compiling a test with `-Itests/unit/tsan_shim` makes its
 * `#include <criterion/criterion.h>` find this file instead: Test/TestSuite register functions,
 * the cr_assert family checks and fails with file:line, and main() runs every test (or those
 * whose "suite::name" contains argv[1]) in a forked child, one at a time, and prints a
 * Criterion-like synthesis line. Only what the project's tests use is implemented; no Criterion
 * library is linked. Suite options other than .init and .fini are accepted and ignored. */
#ifndef TA_TESTS_TSAN_SHIM_CRITERION_H
#define TA_TESTS_TSAN_SHIM_CRITERION_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct shim_suite_cfg {
    void (*init)(void);
    void (*fini)(void);
    double timeout;
    bool disabled;
    const char *description;
};

struct shim_test {
    const char *suite;
    const char *name;
    void (*fn)(void);
};

#define SHIM_MAX_TESTS  1024
#define SHIM_MAX_SUITES 64

static struct shim_test shim_tests[SHIM_MAX_TESTS];
static int shim_ntests;
static struct {
    const char *name;
    const struct shim_suite_cfg *cfg;
} shim_suites[SHIM_MAX_SUITES];
static int shim_nsuites;

static void shim_add_test(const char *suite, const char *name, void (*fn)(void))
{
    if (shim_ntests < SHIM_MAX_TESTS)
        shim_tests[shim_ntests++] = (struct shim_test){ suite, name, fn };
}

static void shim_add_suite(const char *name, const struct shim_suite_cfg *cfg)
{
    if (shim_nsuites < SHIM_MAX_SUITES) {
        shim_suites[shim_nsuites].name = name;
        shim_suites[shim_nsuites].cfg = cfg;
        shim_nsuites++;
    }
}

#define TestSuite(suite, ...)                                                    \
    static const struct shim_suite_cfg shim_suite_cfg_##suite = { __VA_ARGS__ }; \
    __attribute__((constructor)) static void shim_reg_suite_##suite(void)        \
    {                                                                            \
        shim_add_suite(#suite, &shim_suite_cfg_##suite);                         \
    }

#define Test(suite, name, ...)                                               \
    static void shim_test_##suite##_##name(void);                            \
    __attribute__((constructor)) static void shim_reg_##suite##_##name(void) \
    {                                                                        \
        shim_add_test(#suite, #name, shim_test_##suite##_##name);            \
    }                                                                        \
    static void shim_test_##suite##_##name(void)

__attribute__((format(printf, 4, 5), noreturn)) static void
shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n[----]  %s\n", file, line, expr,
            msg);
    fflush(NULL);
    exit(1); /* exit, not _exit: TSan reports at exit */
}

/* The leading " " keeps the format non-empty when no message is given. */
#define cr_assert(cond, ...)                                       \
    do {                                                           \
        if (!(cond))                                               \
            shim_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__); \
    } while (0)
#define cr_assert_not(cond, ...)     cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...)      cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...)     cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...)      cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...)     cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...)      cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...)     cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...)       cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...)   cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)  cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) cr_assert(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...) \
    cr_assert(fabs((double)(a) - (double)(b)) <= (double)(eps), __VA_ARGS__)
#define cr_expect        cr_assert
#define cr_expect_eq     cr_assert_eq
#define cr_expect_str_eq cr_assert_str_eq

static const struct shim_suite_cfg *shim_suite(const char *name)
{
    for (int i = 0; i < shim_nsuites; i++)
        if (strcmp(shim_suites[i].name, name) == 0)
            return shim_suites[i].cfg;
    return NULL;
}

int main(int argc, char **argv)
{
    int passed = 0;
    int failed = 0;
    for (int i = 0; i < shim_ntests; i++) {
        const struct shim_test *t = &shim_tests[i];
        char id[256];
        snprintf(id, sizeof(id), "%s::%s", t->suite, t->name);
        if (argc > 1 && argv[1][0] != '-' && !strstr(id, argv[1]))
            continue;
        const struct shim_suite_cfg *cfg = shim_suite(t->suite);
        if (cfg && cfg->disabled)
            continue;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            if (cfg && cfg->init)
                cfg->init();
            t->fn();
            if (cfg && cfg->fini)
                cfg->fini();
            fflush(NULL);
            exit(0);
        }
        int st = 0;
        if (waitpid(pid, &st, 0) < 0) {
            perror("waitpid");
            return 2;
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "[FAIL] %s (%s %d)\n", id, WIFEXITED(st) ? "exit" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n",
            passed + failed, passed, failed);
    return failed ? 1 : 0;
}

#endif
