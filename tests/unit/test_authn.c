/* test_authn.c — the authenticator chain: front proxy, client certificate, bearer token. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/authn.h"
#include "tests/unit/auth_test_pki.h"
#include "tests/unit/auth_test_server.h"

static struct tpki_cert fp_ca, fp_int, fp_client, fp_other, fp_via_int, fp_expired, fp_future,
    fp_server_only, fp_no_eku, rogue_ca, rogue_client, client_ca, jane, nocn;
static struct authcfg *cfg;
static struct authn *an;

static struct tpki_cert leaf(const char *cn, const struct tpki_cert *issuer, const char *eku,
                             long nb, long na)
{
    struct tpki_spec s = {
        .cn = cn, .issuer = issuer, .eku = eku, .not_before_s = nb, .not_after_s = na
    };
    return tpki_make(&s);
}

static struct authcfg *make_cfg(const char *allowed, const char *users, const char *uids)
{
    char *fp = tpki_pem(&fp_ca), *cc = tpki_pem(&client_ca);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "requestheader-client-ca-file", fp,
                             "client-ca-file", cc, "requestheader-allowed-names", allowed,
                             "requestheader-username-headers", users, "requestheader-group-headers",
                             "[\"X-Remote-Group\"]", "requestheader-extra-headers-prefix",
                             "[\"X-Remote-Extra-\"]");
    if (uids)
        json_object_set_new(data, "requestheader-uid-headers", json_string(uids));
    json_t *root = json_pack("{s:o}", "data", data);
    char *text = json_dumps(root, JSON_COMPACT);
    struct flags f = { 0 };
    struct authcfg *c = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(authcfg_build(&f, slice_from_cstr(text), &c, &err), TA_OK, "%s", err.msg);
    json_decref(root);
    free(text);
    free(fp);
    free(cc);
    return c;
}

static void setup(void)
{
    fp_ca = tpki_ca("front-proxy-ca");
    struct tpki_spec is = { .cn = "front-proxy-intermediate",
                            .issuer = &fp_ca,
                            .ca = true,
                            .not_before_s = -3600,
                            .not_after_s = 86400 * 30 };
    fp_int = tpki_make(&is);
    fp_client = tpki_client("front-proxy-client", &fp_ca);
    fp_other = tpki_client("other-proxy", &fp_ca);
    fp_via_int = tpki_client("front-proxy-client", &fp_int);
    fp_expired = leaf("front-proxy-client", &fp_ca, "clientAuth", -2 * 86400, -86400);
    fp_future = leaf("front-proxy-client", &fp_ca, "clientAuth", 86400, 2 * 86400);
    fp_server_only = leaf("front-proxy-client", &fp_ca, "serverAuth", -3600, 86400);
    fp_no_eku = leaf("front-proxy-client", &fp_ca, NULL, -3600, 86400);
    rogue_ca = tpki_ca("front-proxy-ca");
    rogue_client = tpki_client("front-proxy-client", &rogue_ca);
    client_ca = tpki_ca("client-ca");
    struct tpki_spec js = { .cn = "jane",
                            .orgs = { "dev", "ops" },
                            .issuer = &client_ca,
                            .eku = "clientAuth",
                            .not_before_s = -3600,
                            .not_after_s = 86400 };
    jane = tpki_make(&js);
    struct tpki_spec ns = { .orgs = { "dev" },
                            .issuer = &client_ca,
                            .eku = "clientAuth",
                            .not_before_s = -3600,
                            .not_after_s = 86400 };
    nocn = tpki_make(&ns);
    cfg = make_cfg("[\"front-proxy-client\"]", "[\"X-Remote-User\"]", NULL);
    an = authn_new(NULL);
}

static void teardown(void)
{
    authn_free(an);
    authcfg_unref(cfg);
    struct tpki_cert *all[] = { &fp_ca,        &fp_int,    &fp_client,      &fp_other,  &fp_via_int,
                                &fp_expired,   &fp_future, &fp_server_only, &fp_no_eku, &rogue_ca,
                                &rogue_client, &client_ca, &jane,           &nocn };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tpki_free(all[i]);
}

TestSuite(authn, .init = setup, .fini = teardown);

static void assert_groups(const struct authn_user *u, const char *const *want, size_t n)
{
    cr_assert_eq(u->ngroups, n, "got %zu groups", u->ngroups);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(u->groups[i], want[i]);
}

static void proxy_headers(struct treq *t)
{
    treq_header(t, "X-Remote-User", "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    treq_header(t, "X-Remote-Group", "system:serviceaccounts");
    treq_header(t, "x-remote-group", "system:serviceaccounts:kube-system");
    treq_header(t, "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-id", "JTI=abc");
    treq_header(t, "X-REMOTE-EXTRA-Scopes", "a");
    treq_header(t, "X-Remote-Extra-scopes", "b");
}

Test(authn, front_proxy_takes_user_groups_and_extra_from_the_headers)
{
    struct treq t;
    treq_init(&t, "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m");
    treq_cert(&t, &fp_client);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_authenticate(an, cfg, NULL, &t.r, false, &u, &why), AUTHN_OK, "%s", why.msg);
    cr_assert_str_eq(u->name, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    cr_assert_null(u->uid);
    assert_groups(u,
                  (const char *[]){ "system:serviceaccounts", "system:serviceaccounts:kube-system",
                                    "system:authenticated" },
                  3);
    cr_assert_eq(u->nextra, 2);
    cr_assert_str_eq(u->extra[0].key, "authentication.kubernetes.io/credential-id");
    cr_assert_eq(u->extra[0].nvalues, 1);
    cr_assert_str_eq(u->extra[0].values[0], "JTI=abc");
    cr_assert_str_eq(u->extra[1].key, "scopes");
    cr_assert_eq(u->extra[1].nvalues, 2);
    cr_assert_str_eq(u->extra[1].values[0], "a");
    cr_assert_str_eq(u->extra[1].values[1], "b");
    authn_user_free(u);
    treq_free(&t);
}

Test(authn, front_proxy_uses_the_first_non_empty_username_header)
{
    struct authcfg *c = make_cfg("[]", "[\"X-First\",\"X-Second\"]", NULL);
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_other); /* allowed names [] = any CN */
    treq_header(&t, "X-First", "");
    treq_header(&t, "X-First", "ignored: Get() reads the first line only");
    treq_header(&t, "x-second", "bob");
    struct authn_user *u = NULL;
    cr_assert_eq(authn_front_proxy(an, c, &t.r, &u, NULL), AUTHN_OK);
    cr_assert_str_eq(u->name, "bob");
    cr_assert_eq(u->ngroups, 0, "the method itself adds no group");
    authn_user_free(u);
    authcfg_unref(c);
    treq_free(&t);
}

Test(authn, front_proxy_without_a_user_header_does_not_authenticate)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    treq_header(&t, "X-Remote-Group", "system:masters");
    struct authn_user *u = NULL;
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, NULL), AUTHN_NO_CREDENTIALS);
    cr_assert_null(u);
    /* The chain goes on to the client-certificate method, which does not know this CA. */
    struct ta_err why = { 0 };
    cr_assert_eq(authn_authenticate(an, cfg, NULL, &t.r, false, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "verifying certificate cn=front-proxy-client failed: x509: "
                              "certificate signed by unknown authority");
    treq_free(&t);
}

Test(authn, front_proxy_rejects_a_certificate_from_another_ca)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &rogue_client);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "x509: certificate signed by unknown authority");
    cr_assert_eq(authn_authenticate(an, cfg, NULL, &t.r, false, &u, &why), AUTHN_FAILED);
    cr_assert_null(u);
    cr_assert_str_eq(why.msg, "[x509: certificate signed by unknown authority, verifying "
                              "certificate cn=front-proxy-client failed: x509: certificate "
                              "signed by unknown authority]");
    treq_free(&t);
}

Test(authn, front_proxy_rejects_a_cn_outside_the_allowed_names)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_other);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "x509: subject with cn=other-proxy is not in the allowed list");
    treq_free(&t);
}

Test(authn, front_proxy_rejects_an_expired_certificate)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_expired);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    const char *want = "x509: certificate has expired or is not yet valid: current time ";
    cr_assert(strncmp(why.msg, want, strlen(want)) == 0, "%s", why.msg);
    cr_assert(strstr(why.msg, " is after "), "%s", why.msg);
    treq_free(&t);
}

Test(authn, front_proxy_rejects_a_certificate_not_yet_valid)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_future);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert(strstr(why.msg, " is before "), "%s", why.msg);
    treq_free(&t);
}

Test(authn, front_proxy_requires_client_auth_usage)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_server_only);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "x509: certificate specifies an incompatible key usage");
    treq_free(&t);
}

Test(authn, front_proxy_accepts_a_certificate_without_extended_key_usage)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_no_eku); /* Go: no EKU extension means any usage */
    proxy_headers(&t);
    struct authn_user *u = NULL;
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, NULL), AUTHN_OK);
    authn_user_free(u);
    treq_free(&t);
}

Test(authn, front_proxy_uses_peer_intermediates)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_via_int);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED,
                 "without the intermediate the chain does not build");
    cr_assert_str_eq(why.msg, "x509: certificate signed by unknown authority");
    treq_cert(&t, &fp_int);
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_OK, "%s", why.msg);
    authn_user_free(u);
    treq_free(&t);
}

Test(authn, front_proxy_never_trusts_an_intermediate_sent_as_the_root)
{
    /* The rogue sends its own CA as "intermediate": still not a trust anchor. */
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &rogue_client);
    treq_cert(&t, &rogue_ca);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "x509: certificate signed by unknown authority");
    treq_free(&t);
}

Test(authn, remote_headers_without_a_certificate_are_ignored)
{
    struct treq t;
    treq_init(&t, "/x");
    proxy_headers(&t);
    treq_header(&t, "X-Remote-Group", "system:masters");
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_authenticate(an, cfg, NULL, &t.r, true, &u, &why), AUTHN_NO_CREDENTIALS);
    cr_assert_null(u);
    cr_assert_str_eq(why.msg, "no credentials: no verified client certificate and no bearer token");
    treq_free(&t);
}

Test(authn, groups_are_one_per_line_and_empty_lines_are_skipped)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    treq_header(&t, "X-Remote-User", "u");
    treq_header(&t, "X-Remote-Group", "a,b");
    treq_header(&t, "X-Remote-Group", "");
    treq_header(&t, "X-Remote-Group", " c ");
    struct authn_user *u = NULL;
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, NULL), AUTHN_OK);
    assert_groups(u, (const char *[]){ "a,b", " c " }, 2);
    authn_user_free(u);
    treq_free(&t);
}

Test(authn, extra_keys_are_lowercased_then_path_unescaped)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    treq_header(&t, "X-Remote-User", "u");
    treq_header(&t, "X-Remote-Extra-Foo%2FBar", "1"); /* %2F -> / after lowering (%2f) */
    treq_header(&t, "X-Remote-Extra-Bad%zzKey", "2"); /* malformed: kept as lowered text */
    treq_header(&t, "X-Remote-Extra-Tail%4", "3");    /* truncated escape: kept */
    treq_header(&t, "X-Remote-Extra-Plus+Sign", "");  /* '+' stays; empty value kept */
    struct authn_user *u = NULL;
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, NULL), AUTHN_OK);
    cr_assert_eq(u->nextra, 4);
    cr_assert_str_eq(u->extra[0].key, "bad%zzkey");
    cr_assert_str_eq(u->extra[1].key, "foo/bar");
    cr_assert_str_eq(u->extra[2].key, "plus+sign");
    cr_assert_str_eq(u->extra[2].values[0], "");
    cr_assert_str_eq(u->extra[3].key, "tail%4");
    authn_user_free(u);
    treq_free(&t);
}

Test(authn, uid_comes_from_the_configured_uid_header_only)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    treq_header(&t, "X-Remote-User", "u");
    treq_header(&t, "X-Remote-Uid", "1234");
    struct authn_user *u = NULL;
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, NULL), AUTHN_OK);
    cr_assert_null(u->uid, "no uid headers configured");
    authn_user_free(u);
    struct authcfg *c =
        make_cfg("[\"front-proxy-client\"]", "[\"X-Remote-User\"]", "[\"X-Remote-Uid\"]");
    cr_assert_eq(authn_front_proxy(an, c, &t.r, &u, NULL), AUTHN_OK);
    cr_assert_str_eq(u->uid, "1234");
    authn_user_free(u);
    authcfg_unref(c);
    treq_free(&t);
}

Test(authn, front_proxy_rejects_a_user_name_with_a_nul_byte)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    t.h[0].name = SLICE_LIT("X-Remote-User");
    t.h[0].value = slice_make("a\0b", 3);
    t.r.nheaders = 1;
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "front-proxy headers: user name holds a NUL byte");
    treq_free(&t);
}

Test(authn, front_proxy_limits_field_length)
{
    char *name = malloc(AUTHN_MAX_FIELD + 2);
    memset(name, 'n', AUTHN_MAX_FIELD + 1);
    name[AUTHN_MAX_FIELD] = '\0';
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    treq_header(&t, "X-Remote-User", name);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_OK, "%s", why.msg);
    cr_assert_eq(strlen(u->name), AUTHN_MAX_FIELD);
    authn_user_free(u);
    name[AUTHN_MAX_FIELD] = 'n';
    name[AUTHN_MAX_FIELD + 1] = '\0';
    t.h[0].value = slice_from_cstr(name);
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "front-proxy headers: user name longer than 4096 bytes");
    free(name);
    treq_free(&t);
}

Test(authn, user_limits_groups_and_extra_values)
{
    struct authn_user *u = authn_user_new(SLICE_LIT("u"));
    struct ta_err err = { 0 };
    for (int i = 0; i < AUTHN_MAX_GROUPS; i++)
        cr_assert_eq(authn_user_add_group(u, SLICE_LIT("g"), &err), TA_OK);
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("g"), &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "more than 1024 groups");
    for (int i = 0; i < AUTHN_MAX_EXTRA; i++)
        cr_assert_eq(authn_user_add_extra(u, SLICE_LIT("k"), SLICE_LIT("v"), &err), TA_OK);
    cr_assert_eq(authn_user_add_extra(u, SLICE_LIT("k"), SLICE_LIT("v"), &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "more than 1024 extra values");
    authn_user_add_authenticated(u); /* Go adds it past any limit */
    cr_assert_str_eq(u->groups[AUTHN_MAX_GROUPS], "system:authenticated");
    authn_user_free(u);
}

Test(authn, authenticated_group_is_added_once_and_never_to_unauthenticated)
{
    struct authn_user *u = authn_user_new(SLICE_LIT("u"));
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("system:authenticated"), NULL), TA_OK);
    authn_user_add_authenticated(u);
    cr_assert_eq(u->ngroups, 1);
    authn_user_free(u);
    u = authn_user_new(SLICE_LIT("system:anonymous"));
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("system:unauthenticated"), NULL), TA_OK);
    authn_user_add_authenticated(u);
    cr_assert_eq(u->ngroups, 1);
    authn_user_free(u);
}

Test(authn, user_clone_is_deep_and_extra_keys_stay_sorted)
{
    struct authn_user *u = authn_user_new(SLICE_LIT("u"));
    u->uid = strdup("id");
    cr_assert_eq(authn_user_add_extra(u, SLICE_LIT("b"), SLICE_LIT("1"), NULL), TA_OK);
    cr_assert_eq(authn_user_add_extra(u, SLICE_LIT("a"), SLICE_LIT("2"), NULL), TA_OK);
    cr_assert_eq(authn_user_add_extra(u, SLICE_LIT("c"), SLICE_LIT("3"), NULL), TA_OK);
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("g"), NULL), TA_OK);
    struct authn_user *c = authn_user_clone(u);
    authn_user_free(u);
    cr_assert_str_eq(c->name, "u");
    cr_assert_str_eq(c->uid, "id");
    cr_assert_str_eq(c->groups[0], "g");
    cr_assert_str_eq(c->extra[0].key, "a");
    cr_assert_str_eq(c->extra[1].key, "b");
    cr_assert_str_eq(c->extra[2].key, "c");
    cr_assert_str_eq(c->extra[2].values[0], "3");
    authn_user_free(c);
}

static void fingerprint(const struct tpki_cert *c, char out[65])
{
    size_t len;
    unsigned char *der = tpki_der(c, &len);
    unsigned char md[32];
    unsigned int mdlen;
    EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    free(der);
}

Test(authn, client_certificate_gives_cn_as_user_and_o_as_groups)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &jane);
    treq_header(&t, "X-Remote-User", "admin"); /* ignored: not a front-proxy certificate */
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_authenticate(an, cfg, NULL, &t.r, false, &u, &why), AUTHN_OK, "%s", why.msg);
    cr_assert_str_eq(u->name, "jane");
    assert_groups(u, (const char *[]){ "dev", "ops", "system:authenticated" }, 3);
    char fp[65], want[80];
    fingerprint(&jane, fp);
    snprintf(want, sizeof(want), "X509SHA256=%s", fp);
    cr_assert_eq(u->nextra, 1);
    cr_assert_str_eq(u->extra[0].key, "authentication.kubernetes.io/credential-id");
    cr_assert_str_eq(u->extra[0].values[0], want);
    authn_user_free(u);
    treq_free(&t);
}

Test(authn, client_certificate_without_cn_does_not_authenticate)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &nocn);
    struct authn_user *u = NULL;
    cr_assert_eq(authn_client_cert(an, cfg, &t.r, &u, NULL), AUTHN_NO_CREDENTIALS);
    cr_assert_null(u);
    treq_free(&t);
}

Test(authn, certificates_fail_while_no_configuration_is_loaded)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_authenticate(an, NULL, "configmap not found", &t.r, true, &u, &why),
                 AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "client certificate not checked: authentication configuration not "
                              "loaded: configmap not found");
    treq_free(&t);
}

Test(authn, a_rotated_ca_is_not_answered_from_the_old_cache_entry)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &fp_client);
    proxy_headers(&t);
    struct authn_user *u = NULL;
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, NULL), AUTHN_OK);
    authn_user_free(u);
    /* Same request against a configuration whose front-proxy CA is the rogue one. */
    char *rogue = tpki_pem(&rogue_ca);
    json_t *root = json_pack("{s:{s:s}}", "data", "requestheader-client-ca-file", rogue);
    char *text = json_dumps(root, JSON_COMPACT);
    struct flags f = { 0 };
    struct authcfg *c = NULL;
    cr_assert_eq(authcfg_build(&f, slice_from_cstr(text), &c, NULL), TA_OK);
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, c, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "x509: certificate signed by unknown authority");
    /* And a cached success is answered again for the original configuration. */
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, NULL), AUTHN_OK);
    authn_user_free(u);
    authcfg_unref(c);
    json_decref(root);
    free(text);
    free(rogue);
    treq_free(&t);
}

Test(authn, rejects_malformed_and_too_many_peer_certificates)
{
    struct treq t;
    treq_init(&t, "/x");
    proxy_headers(&t);
    t.certs[0] = SLICE_LIT("\x30\x03\x02\x01\x01");
    t.r.npeer_certs = 1;
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "x509: malformed peer certificate 0");
    for (int i = 0; i < AUTHN_MAX_PEER_CERTS + 1; i++)
        treq_cert(&t, &fp_client);
    t.certs[0] = t.certs[1];
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "more than 16 peer certificates");
    treq_free(&t);
}

Test(authn, rejects_a_certificate_with_trailing_bytes)
{
    size_t len;
    unsigned char *der = tpki_der(&fp_client, &len);
    unsigned char *padded = malloc(len + 1);
    memcpy(padded, der, len);
    padded[len] = 0;
    struct treq t;
    treq_init(&t, "/x");
    proxy_headers(&t);
    t.certs[0] = slice_make((const char *)padded, len + 1);
    t.r.npeer_certs = 1;
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_front_proxy(an, cfg, &t.r, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "x509: malformed peer certificate 0");
    free(der);
    free(padded);
    treq_free(&t);
}

/* ---- bearer tokens -------------------------------------------------------------------- */

static bool token_of(const char *header, char *out, size_t cap)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_header(&t, "authorization", header);
    struct slice tok;
    bool ok = authn_bearer_token(&t.r, &tok);
    snprintf(out, cap, SLICE_FMT, SLICE_ARG(tok));
    return ok;
}

Test(authn, bearer_token_parsing_follows_go)
{
    char tok[64];
    cr_assert(token_of("Bearer abc", tok, sizeof(tok)));
    cr_assert_str_eq(tok, "abc");
    cr_assert(token_of("bEaReR abc", tok, sizeof(tok)));
    cr_assert_str_eq(tok, "abc");
    cr_assert(token_of("  Bearer abc  ", tok, sizeof(tok)));
    cr_assert_str_eq(tok, "abc");
    cr_assert(token_of("Bearer abc def", tok, sizeof(tok)));
    cr_assert_str_eq(tok, "abc");
    cr_assert_not(token_of("Bearer  abc", tok, sizeof(tok)), "the space before the token");
    cr_assert_not(token_of("Bearer", tok, sizeof(tok)));
    cr_assert_not(token_of("Basic YTpi", tok, sizeof(tok)));
    cr_assert_not(token_of("", tok, sizeof(tok)));
}

Test(authn, tokenreview_body_is_exact_and_escaped)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(authn_tokenreview_body(SLICE_LIT("a\"b<"), &b), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
                                   "\"TokenReview\",\"spec\":{\"token\":\"a\\\"b\\u003c\"}}");
    buf_free(&b);
}

Test(authn, tokenreview_answer_gives_the_user)
{
    const char *body =
        "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"system:serviceaccount:ns:sa"
        "\",\"uid\":\"u-1\",\"groups\":[\"system:serviceaccounts\",\"g2\"],\"extra\":{\"z\":[\"1"
        "\"],\"a\":[\"2\",\"3\"]}}}}";
    struct authn_user *u = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(authn_tokenreview_parse(slice_from_cstr(body), &u, &err), TA_OK, "%s", err.msg);
    cr_assert_str_eq(u->name, "system:serviceaccount:ns:sa");
    cr_assert_str_eq(u->uid, "u-1");
    assert_groups(u, (const char *[]){ "system:serviceaccounts", "g2" }, 2);
    cr_assert_eq(u->nextra, 2);
    cr_assert_str_eq(u->extra[0].key, "a");
    cr_assert_eq(u->extra[0].nvalues, 2);
    cr_assert_str_eq(u->extra[1].key, "z");
    authn_user_free(u);
}

Test(authn, tokenreview_answer_errors)
{
    struct authn_user *u = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(authn_tokenreview_parse(SLICE_LIT("{\"status\":{\"user\":{}}}"), &u, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid bearer token");
    cr_assert_eq(
        authn_tokenreview_parse(
            SLICE_LIT("{\"status\":{\"authenticated\":false,\"error\":\"expired\"}}"), &u, &err),
        TA_INVALID);
    cr_assert_str_eq(err.msg, "invalid bearer token: expired");
    cr_assert_eq(authn_tokenreview_parse(SLICE_LIT("{\"status\":"), &u, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tokenreview answer without a status object");
    cr_assert_eq(
        authn_tokenreview_parse(SLICE_LIT("{\"status\":{\"authenticated\":true}}"), &u, &err),
        TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tokenreview answer: authenticated without a username");
    cr_assert_eq(authn_tokenreview_parse(SLICE_LIT("{\"status\":{\"authenticated\":true,\"user\":"
                                                   "{\"username\":\"a\",\"groups\":[1]}}}"),
                                         &u, &err),
                 TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tokenreview answer: group 0: not a string");
    cr_assert_null(u);
}

Test(authn, tokenreview_answer_without_a_final_nul)
{
    const char *text = "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"ab\"}}}XYZ";
    struct authn_user *u = NULL;
    cr_assert_eq(authn_tokenreview_parse(slice_make(text, strlen(text) - 3), &u, NULL), TA_OK);
    cr_assert_str_eq(u->name, "ab");
    authn_user_free(u);
}

Test(authn, token_needs_a_blocking_call_when_not_cached)
{
    struct treq t;
    treq_init(&t, "/x");
    treq_header(&t, "Authorization", "Bearer abc");
    struct tsrv s;
    tsrv_start(&s);
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = NULL;
    cr_assert_eq(kube_client_new(k, NULL, &kc, NULL), TA_OK);
    struct authn *a = authn_new(kc);
    struct authn_user *u = NULL;
    cr_assert_eq(authn_authenticate(a, cfg, NULL, &t.r, false, &u, NULL), AUTHN_WOULD_BLOCK);
    cr_assert_eq(tsrv_nseen(&s), 0, "nothing was sent");
    authn_free(a);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
    treq_free(&t);
}

static void token_init(void)
{
    setup();
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void token_fini(void)
{
    curl_global_cleanup();
    teardown();
}

TestSuite(authn_token, .init = token_init, .fini = token_fini);

Test(authn_token, reviews_a_token_once_and_caches_both_answers)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_push(&s,
              tsrv_ans(201, "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"bob\","
                            "\"groups\":[\"g\"]}}}"));
    tsrv_push(&s, tsrv_ans(201, "{\"status\":{\"user\":{},\"error\":\"nope\"}}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, "adapter-token");
    struct kube_client *kc = NULL;
    cr_assert_eq(kube_client_new(k, NULL, &kc, NULL), TA_OK);
    struct authn *a = authn_new(kc);

    struct treq good, bad;
    treq_init(&good, "/x");
    treq_header(&good, "Authorization", "Bearer good-token");
    treq_init(&bad, "/x");
    treq_header(&bad, "Authorization", "Bearer bad-token");
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(authn_authenticate(a, cfg, NULL, &good.r, true, &u, &why), AUTHN_OK, "%s",
                     why.msg);
        cr_assert_str_eq(u->name, "bob");
        assert_groups(u, (const char *[]){ "g", "system:authenticated" }, 2);
        authn_user_free(u);
        cr_assert_eq(authn_authenticate(a, cfg, NULL, &bad.r, i > 0 ? false : true, &u, &why),
                     AUTHN_FAILED);
        cr_assert_str_eq(why.msg, "invalid bearer token: nope");
    }
    cr_assert_eq(tsrv_nseen(&s), 2, "one review per token");
    cr_assert_str_eq(s.seen[0].method, "POST");
    cr_assert_str_eq(s.seen[0].path, "/apis/authentication.k8s.io/v1/tokenreviews");
    cr_assert_str_eq(s.seen[0].auth, "Bearer adapter-token");
    cr_assert_str_eq(s.seen[0].body, "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":"
                                     "\"TokenReview\",\"spec\":{\"token\":\"good-token\"}}");
    authn_free(a);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
    treq_free(&good);
    treq_free(&bad);
}

Test(authn_token, an_unreachable_apiserver_fails_and_is_not_cached)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, tsrv_ans(500, "{\"message\":\"etcd down\"}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client_options o;
    kube_client_options_default(&o);
    o.retry_steps = 2;
    o.retry_base_ns = 1000000;
    struct kube_client *kc = NULL;
    cr_assert_eq(kube_client_new(k, &o, &kc, NULL), TA_OK);
    struct authn *a = authn_new(kc);
    struct treq t;
    treq_init(&t, "/x");
    treq_header(&t, "Authorization", "Bearer tok");
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_authenticate(a, cfg, NULL, &t.r, true, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "tokenreview: kube-apiserver answered 500 for POST "
                              "/apis/authentication.k8s.io/v1/tokenreviews: etcd down");
    cr_assert_eq(authn_authenticate(a, cfg, NULL, &t.r, false, &u, &why), AUTHN_WOULD_BLOCK,
                 "errors are not cached");
    cr_assert_eq(tsrv_nseen(&s), 2);
    authn_free(a);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
    treq_free(&t);
}

Test(authn_token, a_forbidden_review_is_a_failure_with_the_status_message)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s,
                 tsrv_ans(403, "{\"kind\":\"Status\",\"message\":\"tokenreviews is forbidden\"}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = NULL;
    cr_assert_eq(kube_client_new(k, NULL, &kc, NULL), TA_OK);
    struct authn *a = authn_new(kc);
    struct treq t;
    treq_init(&t, "/x");
    treq_header(&t, "Authorization", "Bearer tok");
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_token(a, &t.r, true, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg,
                     "tokenreview: kube-apiserver answered 403: tokenreviews is forbidden");
    authn_free(a);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
    treq_free(&t);
}

Test(authn_token, union_lets_a_token_succeed_after_a_failed_certificate)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(
        &s, tsrv_ans(201, "{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"t\"}}}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = NULL;
    cr_assert_eq(kube_client_new(k, NULL, &kc, NULL), TA_OK);
    struct authn *a = authn_new(kc);
    struct treq t;
    treq_init(&t, "/x");
    treq_cert(&t, &rogue_client);
    proxy_headers(&t);
    treq_header(&t, "Authorization", "Bearer tok");
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_authenticate(a, cfg, NULL, &t.r, true, &u, &why), AUTHN_OK, "%s", why.msg);
    cr_assert_str_eq(u->name, "t", "the X-Remote-User of an unverified proxy is never used");
    authn_user_free(u);
    authn_free(a);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
    treq_free(&t);
}

Test(authn_token, limits_the_token_length)
{
    char *h = malloc(AUTHN_MAX_TOKEN + 16);
    memcpy(h, "Bearer ", 7);
    memset(h + 7, 't', AUTHN_MAX_TOKEN + 1);
    h[7 + AUTHN_MAX_TOKEN + 1] = '\0';
    struct authn *a = authn_new(NULL);
    struct treq t;
    treq_init(&t, "/x");
    treq_header(&t, "Authorization", h);
    struct authn_user *u = NULL;
    struct ta_err why = { 0 };
    cr_assert_eq(authn_token(a, &t.r, true, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "bearer token longer than 16384 bytes");
    h[7 + AUTHN_MAX_TOKEN] = '\0';
    t.h[0].value = slice_from_cstr(h);
    cr_assert_eq(authn_token(a, &t.r, true, &u, &why), AUTHN_FAILED);
    cr_assert_str_eq(why.msg, "bearer tokens cannot be reviewed: no kube-apiserver");
    authn_free(a);
    free(h);
    treq_free(&t);
}
