/* test_kubeconfig.c — resolving a kubeconfig's current context with client-go's rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/kubeconfig.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ta-kubeconfig-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(kubeconfig, .init = setup, .fini = teardown);

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static struct kubeconfig *parse_ok(const char *yaml)
{
    struct kubeconfig *k = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kubeconfig_parse(slice_from_cstr(yaml), dir, "kc", &k, &err), TA_OK, "%s",
                 err.msg);
    cr_assert_not_null(k);
    return k;
}

static void parse_fails(const char *yaml, enum ta_rc rc, const char *msg)
{
    struct kubeconfig *k = (struct kubeconfig *)0x1;
    struct ta_err err = { 0 };
    cr_assert_eq(kubeconfig_parse(slice_from_cstr(yaml), dir, "kc", &k, &err), rc, "%s", err.msg);
    cr_assert_null(k);
    cr_assert_str_eq(err.msg, msg);
}

#define HEAD                                                             \
    "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n"               \
    "contexts:\n- name: other\n  context: {cluster: nope, user: nope}\n" \
    "- name: ctx\n  context:\n    cluster: c1\n    user: u1\n    namespace: monitoring\n"

/* base64 of "CA-PEM", "CERT", "KEY" */
Test(kubeconfig, resolves_inline_data_token_and_namespace)
{
    struct kubeconfig *k = parse_ok(HEAD "clusters:\n- name: c1\n  cluster:\n"
                                         "    server: https://10.0.0.1:6443/\n"
                                         "    certificate-authority-data: Q0EtUEVN\n"
                                         "users:\n- name: u1\n  user:\n"
                                         "    client-certificate-data: Q0VSVA==\n"
                                         "    client-key-data: \"S0VZ\"\n"
                                         "    token: abc.def\n");
    cr_assert_str_eq(k->server, "https://10.0.0.1:6443");
    cr_assert_eq(k->ca_pem_len, 6);
    cr_assert(memcmp(k->ca_pem, "CA-PEM", 6) == 0);
    cr_assert_eq(k->cert_pem_len, 4);
    cr_assert(memcmp(k->cert_pem, "CERT", 4) == 0);
    cr_assert_eq(k->key_pem_len, 3);
    cr_assert(memcmp(k->key_pem, "KEY", 3) == 0);
    cr_assert_str_eq(k->token, "abc.def");
    cr_assert_null(k->token_file);
    cr_assert_not(k->insecure_skip_tls_verify);
    cr_assert_str_eq(k->namespace_, "monitoring");
    cr_assert_str_eq(k->source, "kubeconfig kc (context ctx)");
    kubeconfig_free(k);
}

Test(kubeconfig, base64_data_may_span_lines)
{
    struct kubeconfig *k =
        parse_ok(HEAD "clusters:\n- name: c1\n  cluster:\n"
                      "    server: https://h\n"
                      "    certificate-authority-data: |\n      Q0Et\n      UEVN\n"
                      "users:\n- name: u1\n  user: {}\n");
    cr_assert_eq(k->ca_pem_len, 6);
    cr_assert(memcmp(k->ca_pem, "CA-PEM", 6) == 0);
    kubeconfig_free(k);
}

Test(kubeconfig, reads_files_relative_to_the_kubeconfig)
{
    write_file("ca.crt", "CA FILE");
    write_file("c.crt", "CERT FILE");
    write_file("c.key", "KEY FILE");
    char abs_key[200];
    snprintf(abs_key, sizeof(abs_key), "%s/c.key", dir);
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             HEAD "clusters:\n- name: c1\n  cluster:\n    server: https://h:1\n"
                  "    certificate-authority: ca.crt\n"
                  "users:\n- name: u1\n  user:\n    client-certificate: c.crt\n"
                  "    client-key: %s\n    tokenFile: tok\n",
             abs_key);
    struct kubeconfig *k = parse_ok(yaml);
    cr_assert_eq(k->ca_pem_len, 7);
    cr_assert(memcmp(k->ca_pem, "CA FILE", 7) == 0);
    cr_assert(memcmp(k->cert_pem, "CERT FILE", 9) == 0);
    cr_assert(memcmp(k->key_pem, "KEY FILE", 8) == 0);
    char tok[200];
    snprintf(tok, sizeof(tok), "%s/tok", dir);
    cr_assert_str_eq(k->token_file, tok);
    kubeconfig_free(k);
}

Test(kubeconfig, load_reads_the_file_and_names_it)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/config", dir);
    write_file("config", HEAD "clusters:\n- name: c1\n  cluster:\n    server: http://h\n"
                              "    insecure-skip-tls-verify: true\n"
                              "users:\n- name: u1\n  user: {token: t}\n");
    struct kubeconfig *k = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kubeconfig_load(path, &k, &err), TA_OK, "%s", err.msg);
    cr_assert(k->insecure_skip_tls_verify);
    cr_assert_null(k->ca_pem);
    char want[300];
    snprintf(want, sizeof(want), "kubeconfig %s (context ctx)", path);
    cr_assert_str_eq(k->source, want);
    struct kubeconfig *c = kubeconfig_clone(k);
    kubeconfig_free(k);
    cr_assert_str_eq(c->server, "http://h");
    cr_assert_str_eq(c->token, "t");
    kubeconfig_free(c);
}

Test(kubeconfig, load_reports_a_missing_file)
{
    struct kubeconfig *k = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kubeconfig_load("/nonexistent/kc", &k, &err), TA_NOT_FOUND);
    cr_assert_str_eq(err.msg, "kubeconfig: cannot open /nonexistent/kc: No such file or directory");
}

Test(kubeconfig, aliases_are_followed)
{
    struct kubeconfig *k =
        parse_ok(HEAD "x: &cl\n  server: https://aliased\n"
                      "clusters:\n- name: c1\n  cluster: *cl\nusers:\n- name: u1\n  user: {}\n");
    cr_assert_str_eq(k->server, "https://aliased");
    kubeconfig_free(k);
}

Test(kubeconfig, a_context_without_user_has_no_credentials)
{
    struct kubeconfig *k =
        parse_ok("current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                 "clusters:\n- name: c\n  cluster: {server: 'https://s'}\n");
    cr_assert_null(k->token);
    cr_assert_null(k->cert_pem);
    cr_assert_null(k->namespace_);
    kubeconfig_free(k);
}

Test(kubeconfig, reports_missing_entries)
{
    parse_fails("clusters: []\n", TA_INVALID, "kubeconfig kc: current-context is not set");
    parse_fails("current-context: ~\n", TA_INVALID, "kubeconfig kc: current-context is not set");
    parse_fails("current-context: x\ncontexts: []\n", TA_INVALID,
                "kubeconfig kc: context \"x\" not found");
    parse_fails("current-context: x\n", TA_INVALID, "kubeconfig kc: context \"x\" not found");
    parse_fails("current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", TA_INVALID,
                "kubeconfig kc: context \"x\" has no cluster");
    parse_fails("current-context: x\ncontexts:\n- name: x\n", TA_INVALID,
                "kubeconfig kc: contexts \"x\" has no context");
    parse_fails(HEAD "clusters: []\n", TA_INVALID, "kubeconfig kc: cluster \"c1\" not found");
    parse_fails(HEAD "clusters:\n- name: c1\n  cluster: {server: 'https://s'}\n", TA_INVALID,
                "kubeconfig kc: user \"u1\" not found");
    parse_fails(HEAD "clusters:\n- name: c1\n  cluster: {}\n", TA_INVALID,
                "kubeconfig kc: no server found for cluster \"c1\"");
    parse_fails(HEAD "clusters: {a: 1}\n", TA_INVALID, "kubeconfig kc: clusters is not a list");
}

Test(kubeconfig, rejects_bad_values)
{
    parse_fails(HEAD "clusters:\n- name: c1\n  cluster: {server: 'ftp://s'}\n", TA_INVALID,
                "kubeconfig kc: server \"ftp://s\" is not an http(s):// URL");
    parse_fails(HEAD "clusters:\n- name: c1\n  cluster: {server: [a]}\n", TA_INVALID,
                "kubeconfig kc: cluster.server is not a string");
    parse_fails(HEAD "clusters:\n- name: c1\n  cluster: {server: 'https://s', "
                     "insecure-skip-tls-verify: maybe}\n",
                TA_INVALID,
                "kubeconfig kc: cluster.insecure-skip-tls-verify: \"maybe\" is not a boolean");
    parse_fails(HEAD "clusters:\n- name: c1\n  cluster: {server: 'https://s', "
                     "certificate-authority-data: '!!!'}\n",
                TA_INVALID,
                "kubeconfig kc: certificate-authority-data: invalid base64 character at "
                "position 0");
    parse_fails(HEAD "clusters:\n- name: c1\n  cluster: {server: \"https://s\\0x\"}\n", TA_INVALID,
                "kubeconfig kc: cluster.server holds a NUL byte");
}

Test(kubeconfig, follows_client_go_validation)
{
#define C1 "clusters:\n- name: c1\n  cluster: {server: 'https://s'"
    parse_fails(HEAD C1 ", certificate-authority: f, certificate-authority-data: QQ==}\n",
                TA_INVALID,
                "kubeconfig kc: certificate-authority-data and certificate-authority are both "
                "specified; certificate-authority-data will override.");
    parse_fails(HEAD C1 ", insecure-skip-tls-verify: true, certificate-authority-data: QQ==}\n",
                TA_INVALID,
                "kubeconfig kc: specifying a root certificates file with the insecure flag is "
                "not allowed");
    parse_fails(HEAD C1 "}\nusers:\n- name: u1\n  user: {client-certificate-data: QQ==}\n",
                TA_INVALID,
                "kubeconfig kc: client-key-data or client-key must be specified for u1 to use "
                "the clientCert authentication method.");
    parse_fails(HEAD C1 "}\nusers:\n- name: u1\n  user: {client-key-data: QQ==}\n", TA_INVALID,
                "kubeconfig kc: client-cert-data or client-cert must be specified for u1 to use "
                "the clientCert authentication method.");
    parse_fails(HEAD C1 "}\nusers:\n- name: u1\n  user: {client-certificate-data: QQ==, "
                        "client-certificate: x, client-key-data: QQ==}\n",
                TA_INVALID,
                "kubeconfig kc: client-cert-data and client-cert are both specified; "
                "client-cert-data will override.");
}

Test(kubeconfig, rejects_unsupported_user_kinds)
{
    parse_fails(HEAD C1 "}\nusers:\n- name: u1\n  user:\n    exec: {command: aws}\n", TA_INVALID,
                "kubeconfig kc: user \"u1\": exec credential plugins are not supported; use a "
                "token, tokenFile or client certificate");
    parse_fails(HEAD C1 "}\nusers:\n- name: u1\n  user:\n    auth-provider: {name: gcp}\n",
                TA_INVALID,
                "kubeconfig kc: user \"u1\": auth-provider plugins are not supported; use a "
                "token, tokenFile or client certificate");
    parse_fails(HEAD C1 "}\nusers:\n- name: u1\n  user: {username: a, password: b}\n", TA_INVALID,
                "kubeconfig kc: user \"u1\": basic authentication are not supported; use a "
                "token, tokenFile or client certificate");
}

Test(kubeconfig, reports_unreadable_and_empty_referenced_files)
{
    char want[300];
    snprintf(want, sizeof(want),
             "kubeconfig kc: certificate-authority: cannot open %s/missing.crt: No such file or "
             "directory",
             dir);
    parse_fails(HEAD C1 ", certificate-authority: missing.crt}\n", TA_NOT_FOUND, want);
    write_file("empty.crt", "");
    snprintf(want, sizeof(want), "kubeconfig kc: certificate-authority %s/empty.crt is empty", dir);
    parse_fails(HEAD C1 ", certificate-authority: empty.crt}\n", TA_INVALID, want);
}

Test(kubeconfig, reports_yaml_errors_with_the_line)
{
    parse_fails("current-context: a\nclusters: [\n", TA_INVALID,
                "kubeconfig kc:3: did not find expected node content");
    parse_fails("", TA_INVALID, "kubeconfig kc is empty");
    parse_fails("- a\n", TA_INVALID, "kubeconfig kc: not a mapping");
}

Test(kubeconfig, parses_input_without_a_final_nul)
{
    const char *text = "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://s'}\n"
                       "!!!garbage";
    struct kubeconfig *k = NULL;
    cr_assert_eq(kubeconfig_parse(slice_make(text, strlen(text) - 10), dir, "kc", &k, NULL), TA_OK);
    cr_assert_str_eq(k->server, "https://s");
    kubeconfig_free(k);
}

Test(kubeconfig, accepts_the_size_limit_and_rejects_one_byte_more)
{
    const char *body = "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: 'https://s'}\n#";
    size_t n = KUBECONFIG_MAX_BYTES;
    char *text = malloc(n + 1);
    memset(text, 'x', n + 1);
    memcpy(text, body, strlen(body));
    text[n - 1] = '\n';
    struct kubeconfig *k = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kubeconfig_parse(slice_make(text, n), dir, "kc", &k, &err), TA_OK, "%s", err.msg);
    kubeconfig_free(k);
    k = NULL;
    cr_assert_eq(kubeconfig_parse(slice_make(text, n + 1), dir, "kc", &k, &err), TA_TOO_LARGE);
    cr_assert_null(k);
    cr_assert_str_eq(err.msg, "kubeconfig kc is larger than 4194304 bytes");
    free(text);
}

Test(kubeconfig, free_accepts_null)
{
    kubeconfig_free(NULL);
}
