/* test_log.c — klog text lines and JSON lines, verbosity gating, escaping, truncation. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apis/base/log.h"

static int fds[2];

static void setup(void)
{
    cr_assert_eq(pipe(fds), 0);
    log_set_fd(fds[1]);
}

static void teardown(void)
{
    log_set_fd(2);
    close(fds[0]);
    close(fds[1]);
}

TestSuite(log, .init = setup, .fini = teardown);

/* Reads what one log call wrote (it is one write(2), so one read gets it all). */
static size_t read_line(char *out, size_t cap)
{
    ssize_t n = read(fds[0], out, cap - 1);
    cr_assert_gt(n, 0);
    out[n] = '\0';
    return (size_t)n;
}

static void expect_match(const char *line, const char *pattern)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, line, 0, NULL, 0);
    regfree(&re);
    cr_assert_eq(rc, 0, "'%s' does not match %s", line, pattern);
}

Test(log, text_lines_use_the_klog_header)
{
    char line[LOG_LINE_MAX + 8], want[64];
    int at = __LINE__ + 1;
    LOG_INFO("hello %d", 42);
    read_line(line, sizeof(line));
    expect_match(line,
                 "^I[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} +[0-9]+ test_log\\.c:[0-9]+\\] "
                 "hello 42\n$");
    snprintf(want, sizeof(want), " %d test_log.c:%d] ", (int)getpid(), at);
    cr_assert(strstr(line, want) != NULL, "%s lacks '%s'", line, want);
}

Test(log, levels_have_their_letters)
{
    char line[LOG_LINE_MAX + 8];
    LOG_ERROR("e");
    read_line(line, sizeof(line));
    cr_assert_eq(line[0], 'E');
    LOG_WARN("w");
    read_line(line, sizeof(line));
    cr_assert_eq(line[0], 'W');
    log_set_verbosity(4);
    LOG_V(4, "v");
    read_line(line, sizeof(line));
    cr_assert_eq(line[0], 'I');
}

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

Test(log, verbosity_is_tested_before_arguments_are_evaluated)
{
    char line[LOG_LINE_MAX + 8];
    log_set_verbosity(1);
    evaluated = 0;
    LOG_V(2, "never %d", side_effect());
    cr_assert_eq(evaluated, 0);
    LOG_V(1, "shown %d", side_effect());
    cr_assert_eq(evaluated, 1);
    read_line(line, sizeof(line));
    cr_assert(strstr(line, "] shown 1\n") != NULL, "%s", line);
    LOG_INFO("marker");
    read_line(line, sizeof(line));
    cr_assert(strstr(line, "] marker\n") != NULL, "nothing else was written: %s", line);
}

Test(log, control_characters_cannot_forge_lines)
{
    char line[LOG_LINE_MAX + 8];
    LOG_INFO("user %s", "x\nI1130 fake] y\x01\x7f");
    size_t n = read_line(line, sizeof(line));
    cr_assert(strstr(line, "] user x\\x0aI1130 fake] y\\x01\\x7f\n") != NULL, "%s", line);
    cr_assert_eq(memchr(line, '\n', n), line + n - 1, "exactly one newline, at the end");
}

Test(log, long_messages_are_cut_to_one_line)
{
    static char big[6000];
    char line[LOG_LINE_MAX * 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    LOG_INFO("%s", big);
    size_t n = read_line(line, sizeof(line));
    cr_assert_leq(n, LOG_LINE_MAX);
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_eq(memchr(line, '\n', n), line + n - 1);
}

Test(log, json_lines_are_klog_json)
{
    char line[LOG_LINE_MAX + 8], caller[64];
    log_set_format(LOG_FORMAT_JSON);
    int at = __LINE__ + 1;
    LOG_INFO("say \"hi\"\\ %s", "a\tb");
    size_t n = read_line(line, sizeof(line));
    cr_assert_eq(line[n - 1], '\n');
    json_error_t jerr;
    json_t *j = json_loadb(line, n, 0, &jerr);
    cr_assert_not_null(j, "%s: %s", line, jerr.text);
    cr_assert(json_is_number(json_object_get(j, "ts")));
    snprintf(caller, sizeof(caller), "test_log.c:%d", at);
    cr_assert_str_eq(json_string_value(json_object_get(j, "caller")), caller);
    cr_assert_str_eq(json_string_value(json_object_get(j, "msg")), "say \"hi\"\\ a\tb");
    cr_assert_eq(json_integer_value(json_object_get(j, "v")), 0);
    cr_assert_null(json_object_get(j, "level"));
    json_decref(j);
}

Test(log, json_errors_and_warnings_carry_a_level)
{
    char line[LOG_LINE_MAX + 8];
    log_set_format(LOG_FORMAT_JSON);
    LOG_ERROR("bad");
    size_t n = read_line(line, sizeof(line));
    json_t *j = json_loadb(line, n, 0, NULL);
    cr_assert_not_null(j, "%s", line);
    cr_assert_str_eq(json_string_value(json_object_get(j, "level")), "error");
    json_decref(j);
    LOG_WARN("meh");
    n = read_line(line, sizeof(line));
    j = json_loadb(line, n, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "level")), "warning");
    json_decref(j);
}

Test(log, long_json_lines_stay_valid_json)
{
    static char big[6000];
    char line[LOG_LINE_MAX * 2];
    log_set_format(LOG_FORMAT_JSON);
    memset(big, '"', sizeof(big) - 1); /* every byte doubles when escaped */
    big[sizeof(big) - 1] = '\0';
    LOG_INFO("%s", big);
    size_t n = read_line(line, sizeof(line));
    cr_assert_leq(n, LOG_LINE_MAX);
    json_error_t jerr;
    json_t *j = json_loadb(line, n, 0, &jerr);
    cr_assert_not_null(j, "%s", jerr.text);
    json_decref(j);
}
