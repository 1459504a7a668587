/* test_authcfg.c — the authentication configuration from the ConfigMap and the flags. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/authcfg.h"
#include "tests/unit/auth_test_pki.h"

#define CM_NAME "kube-system/extension-apiserver-authentication"

static struct tpki_cert ca1, ca2;
static char *ca1_pem, *ca2_pem;
static char tmpdir[64];

static void setup(void)
{
    ca1 = tpki_ca("front-proxy-ca");
    ca2 = tpki_ca("client-ca");
    ca1_pem = tpki_pem(&ca1);
    ca2_pem = tpki_pem(&ca2);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ta-authcfg-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
    tpki_free(&ca1);
    tpki_free(&ca2);
    free(ca1_pem);
    free(ca2_pem);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(authcfg, .init = setup, .fini = teardown);

/* A ConfigMap object whose data holds the given key/value pairs (NULL-terminated). */
static char *configmap(const char *const *kv)
{
    json_t *data = json_object();
    for (size_t i = 0; kv[i]; i += 2)
        json_object_set_new(data, kv[i], json_string(kv[i + 1]));
    json_t *root =
        json_pack("{s:s, s:s, s:o}", "kind", "ConfigMap", "apiVersion", "v1", "data", data);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static void list_set(struct flag_list *l, char **items, size_t n)
{
    l->items = items;
    l->n = n;
}

static struct authcfg *build_ok(const struct flags *f, const char *cm)
{
    struct authcfg *c = NULL;
    struct ta_err err = { 0 };
    enum ta_rc rc = authcfg_build(f, cm ? slice_from_cstr(cm) : SLICE_NULL, &c, &err);
    cr_assert_eq(rc, TA_OK, "%s", err.msg);
    cr_assert_not_null(c);
    return c;
}

static void assert_list(const struct authcfg_list *l, const char *const *want, size_t n)
{
    cr_assert_eq(l->n, n, "got %zu entries", l->n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(l->items[i], want[i]);
}

Test(authcfg, reads_the_configmap_kubeadm_writes)
{
    const char *kv[] = { "client-ca-file",
                         ca2_pem,
                         "requestheader-client-ca-file",
                         ca1_pem,
                         "requestheader-allowed-names",
                         "[\"front-proxy-client\"]",
                         "requestheader-username-headers",
                         "[\"X-Remote-User\"]",
                         "requestheader-group-headers",
                         "[\"X-Remote-Group\"]",
                         "requestheader-extra-headers-prefix",
                         "[\"X-Remote-Extra-\"]",
                         NULL };
    char *cm = configmap(kv);
    struct flags f = { 0 };
    struct authcfg *c = build_ok(&f, cm);
    cr_assert_not_null(c->client_ca);
    cr_assert_not_null(c->requestheader_ca);
    assert_list(&c->allowed_names, (const char *[]){ "front-proxy-client" }, 1);
    assert_list(&c->username_headers, (const char *[]){ "X-Remote-User" }, 1);
    assert_list(&c->group_headers, (const char *[]){ "X-Remote-Group" }, 1);
    assert_list(&c->extra_prefixes, (const char *[]){ "X-Remote-Extra-" }, 1);
    cr_assert_eq(c->uid_headers.n, 0);
    cr_assert_eq(atomic_load(&c->refs), 1);
    cr_assert(strstr(c->summary, "front-proxy CA: configmap (1)"), "%s", c->summary);
    cr_assert(strstr(c->summary, "client CA: configmap (1)"), "%s", c->summary);
    authcfg_unref(c);
    free(cm);
}

Test(authcfg, applies_go_defaults_for_absent_or_empty_lists)
{
    const char *kv[] = { "requestheader-client-ca-file",
                         ca1_pem,
                         "requestheader-username-headers",
                         "",
                         "requestheader-group-headers",
                         "[]",
                         NULL };
    char *cm = configmap(kv);
    struct flags f = { 0 };
    struct authcfg *c = build_ok(&f, cm);
    cr_assert_null(c->client_ca, "EKS: client-ca-file is optional");
    cr_assert_eq(c->allowed_names.n, 0);
    assert_list(&c->username_headers, (const char *[]){ "x-remote-user" }, 1);
    assert_list(&c->group_headers, (const char *[]){ "x-remote-group" }, 1);
    assert_list(&c->extra_prefixes, (const char *[]){ "x-remote-extra-" }, 1);
    cr_assert_eq(c->uid_headers.n, 0);
    authcfg_unref(c);
    free(cm);
}

Test(authcfg, reads_uid_headers_and_several_names)
{
    const char *kv[] = { "requestheader-client-ca-file",
                         ca1_pem,
                         "requestheader-uid-headers",
                         "[\"X-Remote-Uid\"]",
                         "requestheader-allowed-names",
                         "[\"a\",\"b c\",\"\"]",
                         NULL };
    char *cm = configmap(kv);
    struct flags f = { 0 };
    struct authcfg *c = build_ok(&f, cm);
    assert_list(&c->uid_headers, (const char *[]){ "X-Remote-Uid" }, 1);
    assert_list(&c->allowed_names, (const char *[]){ "a", "b c", "" }, 3);
    authcfg_unref(c);
    free(cm);
}

Test(authcfg, flags_override_the_configmap)
{
    char path1[128], path2[128];
    snprintf(path1, sizeof(path1), "%s/rh.crt", tmpdir);
    snprintf(path2, sizeof(path2), "%s/client.crt", tmpdir);
    tpki_write(path1, ca2_pem); /* the flag's CA differs from the ConfigMap's */
    tpki_write(path2, ca1_pem);
    const char *kv[] = { "requestheader-client-ca-file",
                         ca1_pem,
                         "requestheader-allowed-names",
                         "[\"from-configmap\"]",
                         "requestheader-username-headers",
                         "[\"X-Cm-User\"]",
                         NULL };
    char *cm = configmap(kv);
    struct flags f = { 0 };
    char *names[] = { "flag-proxy" };
    char *users[] = { "X-Flag-User", "X-Other" };
    char *uids[] = { "X-Flag-Uid" };
    f.requestheader_client_ca_file = path1;
    f.client_ca_file = path2;
    list_set(&f.requestheader_allowed_names, names, 1);
    list_set(&f.requestheader_username_headers, users, 2);
    list_set(&f.requestheader_uid_headers, uids, 1);
    struct authcfg *c = build_ok(&f, cm);
    assert_list(&c->allowed_names, (const char *[]){ "flag-proxy" }, 1);
    assert_list(&c->username_headers, (const char *[]){ "X-Flag-User", "X-Other" }, 2);
    assert_list(&c->uid_headers, (const char *[]){ "X-Flag-Uid" }, 1);
    cr_assert(strstr(c->summary, "front-proxy CA: --requestheader-client-ca-file (1)"), "%s",
              c->summary);
    cr_assert(strstr(c->summary, "client CA: --client-ca-file (1)"), "%s", c->summary);

    /* The flag's CA is the pool: ca2 is trusted for front-proxy, ca1 is not. */
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, c->requestheader_ca, ca2.x, NULL);
    cr_assert_eq(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, c->requestheader_ca, ca1.x, NULL);
    cr_assert_neq(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    authcfg_unref(c);
    free(cm);
}

Test(authcfg, needs_the_configmap_unless_both_ca_flags_are_given)
{
    struct flags f = { 0 };
    cr_assert(authcfg_needs_configmap(&f));
    f.client_ca_file = "/a";
    cr_assert(authcfg_needs_configmap(&f));
    f.client_ca_file = NULL;
    f.requestheader_client_ca_file = "/b";
    cr_assert(authcfg_needs_configmap(&f));
    f.client_ca_file = "";
    cr_assert(authcfg_needs_configmap(&f));
    f.client_ca_file = "/a";
    cr_assert_not(authcfg_needs_configmap(&f));
}

Test(authcfg, builds_from_flags_alone_without_a_configmap)
{
    struct flags f = { 0 };
    struct authcfg *c = build_ok(&f, NULL);
    cr_assert_null(c->client_ca);
    cr_assert_null(c->requestheader_ca);
    assert_list(&c->username_headers, (const char *[]){ "x-remote-user" }, 1);
    authcfg_unref(c);
}

static void build_fails(const struct flags *f, struct slice cm, enum ta_rc want, const char *msg)
{
    struct authcfg *c = (struct authcfg *)0x1;
    struct ta_err err = { 0 };
    cr_assert_eq(authcfg_build(f, cm, &c, &err), want, "%s", err.msg);
    cr_assert_null(c);
    cr_assert_str_eq(err.msg, msg);
}

Test(authcfg, rejects_a_list_that_is_not_a_json_array)
{
    struct flags f = { 0 };
    const char *kv[] = { "requestheader-group-headers", "X-Remote-Group", NULL };
    char *cm = configmap(kv);
    build_fails(&f, slice_from_cstr(cm), TA_INVALID,
                CM_NAME " requestheader-group-headers: not a JSON array of strings");
    free(cm);
    const char *kv2[] = { "requestheader-group-headers", "{\"a\":1}", NULL };
    cm = configmap(kv2);
    build_fails(&f, slice_from_cstr(cm), TA_INVALID,
                CM_NAME " requestheader-group-headers: not a JSON array of strings");
    free(cm);
}

Test(authcfg, rejects_a_list_entry_that_is_not_a_string)
{
    struct flags f = { 0 };
    const char *kv[] = { "requestheader-allowed-names", "[\"a\", 3]", NULL };
    char *cm = configmap(kv);
    build_fails(&f, slice_from_cstr(cm), TA_INVALID,
                CM_NAME " requestheader-allowed-names: entry 1 is not a string");
    free(cm);
}

static char *json_list(size_t n, size_t item_len)
{
    json_t *a = json_array();
    char *item = malloc(item_len + 1);
    memset(item, 'h', item_len);
    item[item_len] = '\0';
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(item));
    free(item);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

Test(authcfg, accepts_lists_up_to_the_limits)
{
    struct flags f = { 0 };
    char *list = json_list(AUTHCFG_MAX_LIST, AUTHCFG_MAX_ITEM);
    const char *kv[] = { "requestheader-username-headers", list, NULL };
    char *cm = configmap(kv);
    struct authcfg *c = build_ok(&f, cm);
    cr_assert_eq(c->username_headers.n, AUTHCFG_MAX_LIST);
    cr_assert_eq(strlen(c->username_headers.items[0]), AUTHCFG_MAX_ITEM);
    authcfg_unref(c);
    free(cm);
    free(list);
}

Test(authcfg, rejects_lists_past_the_limits)
{
    struct flags f = { 0 };
    char *list = json_list(AUTHCFG_MAX_LIST + 1, 3);
    const char *kv[] = { "requestheader-username-headers", list, NULL };
    char *cm = configmap(kv);
    build_fails(&f, slice_from_cstr(cm), TA_TOO_LARGE,
                CM_NAME " requestheader-username-headers: more than 64 entries");
    free(cm);
    free(list);
    list = json_list(1, AUTHCFG_MAX_ITEM + 1);
    const char *kv2[] = { "requestheader-username-headers", list, NULL };
    cm = configmap(kv2);
    build_fails(&f, slice_from_cstr(cm), TA_TOO_LARGE,
                CM_NAME " requestheader-username-headers: entry longer than 256 bytes");
    free(cm);
    free(list);
}

Test(authcfg, rejects_a_list_entry_with_a_nul_byte)
{
    struct flags f = { 0 };
    const char *cm = "{\"data\":{\"requestheader-username-headers\":\"[\\\"a\\\\u0000b\\\"]\"}}";
    /* jansson refuses \u0000 without JSON_ALLOW_NUL: the list is not valid */
    build_fails(&f, slice_from_cstr(cm), TA_INVALID,
                CM_NAME " requestheader-username-headers: not a JSON array of strings");
}

Test(authcfg, rejects_a_ca_value_without_certificates)
{
    struct flags f = { 0 };
    const char *kv[] = { "requestheader-client-ca-file", "not a pem", NULL };
    char *cm = configmap(kv);
    build_fails(&f, slice_from_cstr(cm), TA_INVALID,
                CM_NAME " requestheader-client-ca-file: CA bundle holds no PEM certificate");
    free(cm);
}

Test(authcfg, rejects_a_malformed_certificate_block)
{
    struct flags f = { 0 };
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
             ca1_pem);
    const char *kv[] = { "client-ca-file", bad, NULL };
    char *cm = configmap(kv);
    build_fails(&f, slice_from_cstr(cm), TA_INVALID,
                CM_NAME " client-ca-file: CA bundle: certificate 2 is malformed");
    free(cm);
}

Test(authcfg, rejects_malformed_configmap_objects)
{
    struct flags f = { 0 };
    struct authcfg *c = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(authcfg_build(&f, SLICE_LIT("{\"data\":"), &c, &err), TA_INVALID);
    cr_assert(strncmp(err.msg, CM_NAME ": not a JSON object: ", strlen(CM_NAME) + 21) == 0, "%s",
              err.msg);
    build_fails(&f, SLICE_LIT("[1]"), TA_INVALID, CM_NAME ": not a JSON object: wrong type");
    build_fails(&f, SLICE_LIT("{\"data\":[]}"), TA_INVALID, CM_NAME ": data is not an object");
    build_fails(&f, SLICE_LIT("{\"data\":{\"client-ca-file\":7}}"), TA_INVALID,
                CM_NAME " client-ca-file: not a string");
}

Test(authcfg, accepts_a_configmap_without_data)
{
    struct flags f = { 0 };
    struct authcfg *c = build_ok(&f, "{\"kind\":\"ConfigMap\",\"data\":null}");
    cr_assert_null(c->requestheader_ca);
    authcfg_unref(c);
}

Test(authcfg, rejects_a_configmap_past_its_limit)
{
    struct flags f = { 0 };
    size_t n = AUTHCFG_CONFIGMAP_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    build_fails(&f, slice_make(big, n), TA_TOO_LARGE, CM_NAME ": object larger than 4194304 bytes");
    free(big);
}

Test(authcfg, reports_an_unreadable_flag_file)
{
    struct flags f = { 0 };
    f.client_ca_file = "/nonexistent/ca.crt";
    build_fails(&f, SLICE_NULL, TA_NOT_FOUND,
                "--client-ca-file: cannot open /nonexistent/ca.crt: No such file or directory");
}

Test(authcfg, reports_a_flag_file_without_certificates)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/empty.crt", tmpdir);
    tpki_write(path, "hello\n");
    struct flags f = { 0 };
    f.requestheader_client_ca_file = path;
    char want[256];
    snprintf(want, sizeof(want),
             "--requestheader-client-ca-file %s: CA bundle holds no PEM certificate", path);
    build_fails(&f, SLICE_NULL, TA_INVALID, want);
}

Test(authcfg, digest_changes_exactly_when_an_input_changes)
{
    struct flags f = { 0 };
    const char *kv1[] = { "requestheader-client-ca-file", ca1_pem, NULL };
    const char *kv2[] = { "requestheader-client-ca-file", ca2_pem, NULL };
    const char *kv3[] = { "requestheader-client-ca-file", ca1_pem, "requestheader-allowed-names",
                          "[\"x\"]", NULL };
    char *cm1 = configmap(kv1), *cm2 = configmap(kv2), *cm3 = configmap(kv3);
    struct authcfg *a = build_ok(&f, cm1), *b = build_ok(&f, cm1), *c = build_ok(&f, cm2),
                   *d = build_ok(&f, cm3);
    cr_assert(memcmp(a->digest, b->digest, 32) == 0);
    cr_assert(memcmp(a->digest, c->digest, 32) != 0);
    cr_assert(memcmp(a->digest, d->digest, 32) != 0);
    authcfg_unref(a);
    authcfg_unref(b);
    authcfg_unref(c);
    authcfg_unref(d);
    free(cm1);
    free(cm2);
    free(cm3);
}

Test(authcfg, reference_counts_the_snapshot)
{
    struct flags f = { 0 };
    struct authcfg *c = build_ok(&f, NULL);
    cr_assert_eq(authcfg_ref(c), c);
    cr_assert_eq(atomic_load(&c->refs), 2);
    authcfg_unref(c);
    cr_assert_eq(atomic_load(&c->refs), 1);
    authcfg_unref(c); /* frees: valgrind/ASan check it */
    authcfg_unref(NULL);
}

Test(authcfg, pem_store_skips_other_blocks_and_counts_certificates)
{
    char *key = tpki_key_pem(&ca1);
    size_t n = strlen(key) + strlen(ca1_pem) + strlen(ca2_pem) + 16;
    char *text = malloc(n + 8);
    snprintf(text, n, "%s%s%s", key, ca1_pem, ca2_pem);
    size_t len = strlen(text);
    memcpy(text + len, "XXXXXXX", 8); /* bytes past the slice must not be read */
    X509_STORE *s = NULL;
    size_t count = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(authcfg_pem_store(slice_make(text, len), &s, &count, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(count, 2);
    X509_STORE_free(s);
    free(text);
    free(key);
}

Test(authcfg, pem_store_limits_the_certificate_count)
{
    size_t one = strlen(ca1_pem);
    char *text = malloc(one * (AUTHCFG_MAX_CERTS + 1) + 1);
    for (size_t i = 0; i <= AUTHCFG_MAX_CERTS; i++)
        memcpy(text + i * one, ca1_pem, one);
    X509_STORE *s = NULL;
    size_t count = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(authcfg_pem_store(slice_make(text, one * AUTHCFG_MAX_CERTS), &s, &count, &err),
                 TA_OK, "%s", err.msg);
    cr_assert_eq(count, AUTHCFG_MAX_CERTS);
    X509_STORE_free(s);
    s = NULL;
    cr_assert_eq(
        authcfg_pem_store(slice_make(text, one * (AUTHCFG_MAX_CERTS + 1)), &s, &count, &err),
        TA_TOO_LARGE);
    cr_assert_null(s);
    cr_assert_str_eq(err.msg, "CA bundle holds more than 256 certificates");
    free(text);
}

Test(authcfg, pem_store_rejects_a_bundle_past_its_size_limit)
{
    X509_STORE *s = NULL;
    size_t count = 0;
    struct ta_err err = { 0 };
    char *big = malloc(AUTHCFG_PEM_MAX + 1);
    memset(big, 'A', AUTHCFG_PEM_MAX + 1);
    cr_assert_eq(authcfg_pem_store(slice_make(big, AUTHCFG_PEM_MAX + 1), &s, &count, &err),
                 TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "CA bundle larger than 1048576 bytes");
    free(big);
}
