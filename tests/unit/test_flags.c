/* test_flags.c — flag parsing: both spellings, defaults, lists, errors, --help coverage. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/flags.h"

static enum ta_rc parse(struct flags *f, struct ta_err *err, int argc, const char **argv)
{
    return flags_parse(argc, (char **)argv, f, err);
}

Test(flags, defaults_apply_without_arguments)
{
    struct flags f;
    const char *argv[] = { "tempo-adapter" };
    cr_assert_eq(parse(&f, NULL, 1, argv), TA_OK);
    cr_assert_eq(f.secure_port, 6443);
    cr_assert_str_eq(f.bind_address, "0.0.0.0");
    cr_assert_str_eq(f.otlp_bind_address, "127.0.0.1:4318");
    cr_assert_eq(f.embedded_max_spans, 2000000);
    cr_assert_eq(f.tempo_timeout_ns, 30LL * 1000000000LL);
    cr_assert_eq(f.tempo_max_concurrency, 8);
    cr_assert_eq(f.query_delay_ns, -1, "unset query delay lets the source choose");
    cr_assert_null(f.config);
    cr_assert_null(f.tempo_url);
    cr_assert_eq(f.authorization_always_allow_paths.n, 3);
    cr_assert_str_eq(f.authorization_always_allow_paths.items[1], "/readyz");
    cr_assert_eq(f.requestheader_username_headers.n, 0, "empty means: take the ConfigMap's");
    cr_assert_not(f.insecure_disable_auth);
    flags_free(&f);
}

Test(flags, accepts_space_and_equals_forms)
{
    struct flags f;
    const char *argv[] = { "x",
                           "--secure-port",
                           "8443",
                           "--tempo-url=http://t:3200/tempo",
                           "--query-delay",
                           "45s",
                           "-v",
                           "4",
                           "--log-format=json" };
    cr_assert_eq(parse(&f, NULL, 9, argv), TA_OK);
    cr_assert_eq(f.secure_port, 8443);
    cr_assert_str_eq(f.tempo_url, "http://t:3200/tempo");
    cr_assert_eq(f.query_delay_ns, 45LL * 1000000000LL);
    cr_assert_eq(f.verbosity, 4);
    cr_assert_str_eq(f.log_format, "json");
    flags_free(&f);
}

Test(flags, v_flag_has_three_spellings)
{
    const char *forms[][2] = { { "-v=3", NULL }, { "--v=3", NULL }, { "--v", "3" } };
    for (int i = 0; i < 3; i++) {
        struct flags f;
        const char *argv[] = { "x", forms[i][0], forms[i][1] };
        cr_assert_eq(parse(&f, NULL, forms[i][1] ? 3 : 2, argv), TA_OK, "form %d", i);
        cr_assert_eq(f.verbosity, 3);
        flags_free(&f);
    }
}

Test(flags, bool_flags_take_no_value_or_an_explicit_one)
{
    struct flags f;
    const char *argv[] = { "x", "--insecure-disable-auth", "--tempo-insecure-skip-verify=false" };
    cr_assert_eq(parse(&f, NULL, 3, argv), TA_OK);
    cr_assert(f.insecure_disable_auth);
    cr_assert_not(f.tempo_insecure_skip_verify);
    flags_free(&f);
}

Test(flags, lists_split_on_commas_and_replace_the_default)
{
    struct flags f;
    const char *argv[] = { "x", "--authorization-always-allow-paths", "/healthz, /metrics",
                           "--tls-sans=a.svc,b.svc.cluster.local",
                           "--authorization-always-allow-paths=/x" };
    cr_assert_eq(parse(&f, NULL, 5, argv), TA_OK);
    cr_assert_eq(f.authorization_always_allow_paths.n, 3);
    cr_assert_str_eq(f.authorization_always_allow_paths.items[0], "/healthz");
    cr_assert_str_eq(f.authorization_always_allow_paths.items[1], "/metrics");
    cr_assert_str_eq(f.authorization_always_allow_paths.items[2], "/x");
    cr_assert_eq(f.tls_sans.n, 2);
    flags_free(&f);
}

Test(flags, repeatable_header_keeps_commas_in_values)
{
    struct flags f;
    const char *argv[] = { "x", "--tempo-header", "X-A=1,2", "--tempo-header=X-B=3" };
    cr_assert_eq(parse(&f, NULL, 4, argv), TA_OK);
    cr_assert_eq(f.tempo_headers.n, 2);
    cr_assert_str_eq(f.tempo_headers.items[0], "X-A=1,2");
    cr_assert_str_eq(f.tempo_headers.items[1], "X-B=3");
    flags_free(&f);
}

static void expect_error(int argc, const char **argv, const char *needle)
{
    struct flags f;
    struct ta_err err = { 0 };
    cr_assert_eq(parse(&f, &err, argc, argv), TA_INVALID, "expected an error for %s", argv[1]);
    cr_assert(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
    cr_assert_null(strchr(err.msg, '\n'), "one line");
    flags_free(&f);
}

Test(flags, rejects_unknown_flags_and_bad_values_with_one_line)
{
    const char *a1[] = { "x", "--tempo-ulr", "http://x" };
    expect_error(3, a1, "unknown flag --tempo-ulr");
    const char *a2[] = { "x", "--secure-port=70000" };
    expect_error(2, a2, "--secure-port: 70000 is out of range [1, 65535]");
    const char *a3[] = { "x", "--secure-port" };
    expect_error(2, a3, "flag --secure-port needs a value");
    const char *a4[] = { "x", "--query-delay=5" };
    expect_error(2, a4, "--query-delay: invalid duration '5'");
    const char *a5[] = { "x", "--log-format=xml" };
    expect_error(2, a5, "--log-format: 'xml' is not text or json");
    const char *a6[] = { "x", "--insecure-disable-auth=maybe" };
    expect_error(2, a6, "'maybe' is not true or false");
    const char *a7[] = { "x", "stray" };
    expect_error(2, a7, "unexpected argument 'stray'");
    const char *a8[] = { "x", "--tls-cert-file=/a.crt" };
    expect_error(2, a8, "--tls-cert-file and --tls-private-key-file must be given together");
    const char *a9[] = { "x", "--tempo-header=novalue" };
    expect_error(2, a9, "--tempo-header: 'novalue' is not K=V");
    const char *a10[] = { "x", "-secure-port=1" };
    expect_error(2, a10, "unknown flag -secure-port=1");
}

Test(flags, help_lists_every_flag_of_design_md_with_defaults)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    flags_usage(out);
    fclose(out);
    const char *names[] = { "--config",
                            "--secure-port",
                            "--bind-address",
                            "--tls-cert-file",
                            "--tls-private-key-file",
                            "--cert-dir",
                            "--tls-sans",
                            "--manage-serving-cert",
                            "--client-ca-file",
                            "--requestheader-client-ca-file",
                            "--requestheader-allowed-names",
                            "--requestheader-username-headers",
                            "--requestheader-group-headers",
                            "--requestheader-extra-headers-prefix",
                            "--kubeconfig",
                            "--authorization-always-allow-paths",
                            "--insecure-disable-auth",
                            "--tempo-url",
                            "--tempo-tenant",
                            "--tempo-bearer-token-file",
                            "--tempo-basic-auth-file",
                            "--tempo-header",
                            "--tempo-ca-file",
                            "--tempo-client-cert-file",
                            "--tempo-client-key-file",
                            "--tempo-insecure-skip-verify",
                            "--tempo-timeout",
                            "--tempo-max-concurrency",
                            "--query-delay",
                            "--otlp-bind-address",
                            "--embedded-max-spans",
                            "--v",
                            "--log-format",
                            "--version",
                            "--help" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert(strstr(text, names[i]), "--help lacks %s", names[i]);
    cr_assert(strstr(text, "(default 6443)"));
    cr_assert(strstr(text, "(default 127.0.0.1:4318)"));
    free(text);
}

Test(flags, empty_optional_strings_mean_not_given)
{
    struct flags f;
    const char *argv[] = { "x", "--tempo-url=", "--tempo-tenant", "", "--otlp-bind-address=" };
    cr_assert_eq(parse(&f, NULL, 5, argv), TA_OK);
    cr_assert_null(f.tempo_url, "an empty --tempo-url selects the embedded store");
    cr_assert_null(f.tempo_tenant);
    cr_assert_not_null(f.otlp_bind_address, "a flag with a default keeps \"\"");
    cr_assert_str_eq(f.otlp_bind_address, "");
    flags_free(&f);
}

Test(flags, lists_hold_exactly_flags_max_list_entries)
{
    /* "--tls-sans=n0,n1,…" with FLAGS_MAX_LIST names, then one more; empty items do not count */
    char list[FLAGS_MAX_LIST * 8 + 32] = "--tls-sans=,";
    size_t used = strlen(list);
    for (int i = 0; i < FLAGS_MAX_LIST; i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%sn%d", i ? "," : "", i);
    struct flags f;
    const char *argv[] = { "x", list };
    struct ta_err err = { 0 };
    cr_assert_eq(parse(&f, &err, 2, argv), TA_OK, "%s", err.msg);
    cr_assert_eq(f.tls_sans.n, FLAGS_MAX_LIST);
    cr_assert_str_eq(f.tls_sans.items[FLAGS_MAX_LIST - 1], "n63");
    flags_free(&f);
    snprintf(list + used, sizeof(list) - used, ",n%d", FLAGS_MAX_LIST);
    expect_error(2, argv, "--tls-sans: more than 64 entries");
}

Test(flags, a_repeatable_flag_is_taken_at_most_flags_max_list_times)
{
    const char *argv[FLAGS_MAX_LIST + 2] = { "x" };
    for (int i = 1; i <= FLAGS_MAX_LIST + 1; i++)
        argv[i] = "--tempo-header=X-A=1";
    struct flags f;
    struct ta_err err = { 0 };
    cr_assert_eq(parse(&f, &err, FLAGS_MAX_LIST + 1, argv), TA_OK, "%s", err.msg);
    cr_assert_eq(f.tempo_headers.n, FLAGS_MAX_LIST);
    flags_free(&f);
    expect_error(FLAGS_MAX_LIST + 2, argv, "--tempo-header: given more than 64 times");
}
