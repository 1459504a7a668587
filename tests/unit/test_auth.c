/* test_auth.c — the facade: always-allowed paths, --insecure-disable-auth, the ConfigMap
 * refresher, and authenticate-then-authorize with the would-block protocol. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/auth.h"
#include "tests/unit/auth_test_server.h"

#define CM_PATH  "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
#define SAR_PATH "/apis/authorization.k8s.io/v1/subjectaccessreviews"

static char dir[64];

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof(dir), "/tmp/ta-auth-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    curl_global_cleanup();
}

TestSuite(auth, .init = setup, .fini = teardown);

static char *default_paths[] = { "/healthz", "/readyz", "/livez" };

static struct flags base_flags(void)
{
    struct flags f = { 0 };
    f.authorization_always_allow_paths = (struct flag_list){ default_paths, 3 };
    return f;
}

static struct auth_attributes metric(void)
{
    return (struct auth_attributes){ .resource_request = true,
                                     .verb = SLICE_LIT("list"),
                                     .ns = SLICE_LIT("default"),
                                     .resource = SLICE_LIT("m") };
}

Test(auth, insecure_disable_auth_allows_everything)
{
    struct flags f = base_flags();
    f.insecure_disable_auth = true;
    struct auth *a = NULL;
    cr_assert_eq(auth_new(&f, &a, NULL), TA_OK);
    struct treq t;
    treq_init(&t, "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m");
    struct auth_attributes at = metric();
    struct auth_result r;
    auth_check(a, &t.r, &at, false, &r);
    cr_assert_eq(r.decision, AUTH_ALLOW);
    auth_free(a);
}

Test(auth, needs_a_kubeconfig_outside_a_cluster)
{
    unsetenv("KUBERNETES_SERVICE_HOST");
    struct flags f = base_flags();
    struct auth *a = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(auth_new(&f, &a, &err), TA_NOT_FOUND);
    cr_assert_null(a);
    cr_assert_str_eq(err.msg, "authentication (pass --kubeconfig outside a cluster, or "
                              "--insecure-disable-auth for local use only): unable to load "
                              "in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                              "KUBERNETES_SERVICE_PORT must be defined");
}

Test(auth, rejects_a_star_that_is_not_trailing)
{
    struct flags f = base_flags();
    char *bad[] = { "/a*b" };
    f.authorization_always_allow_paths = (struct flag_list){ bad, 1 };
    struct auth *a = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(auth_new(&f, &a, &err), TA_INVALID);
    cr_assert_str_eq(err.msg,
                     "--authorization-always-allow-paths: only trailing * allowed in \"/a*b\"");
}

/* ---- with a stub kube-apiserver --------------------------------------------------------- */

struct rig {
    struct tsrv s;
    struct tpki_cert fp_ca, fp_ca2, proxy, proxy2;
    char *cm1, *cm2; /* ConfigMap bodies trusting fp_ca / fp_ca2 */
    char kubeconfig[128];
    struct auth *a;
};

static char *cm_body(const struct tpki_cert *ca)
{
    char *pem = tpki_pem(ca);
    json_t *root = json_pack("{s:s, s:{s:s, s:s, s:s}}", "kind", "ConfigMap", "data",
                             "requestheader-client-ca-file", pem, "requestheader-allowed-names",
                             "[\"front-proxy-client\"]", "requestheader-username-headers",
                             "[\"X-Remote-User\"]");
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    free(pem);
    return s;
}

static void write_kubeconfig(struct rig *r)
{
    size_t len = strlen(r->s.ca_pem);
    unsigned char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock(b64, (const unsigned char *)r->s.ca_pem, (int)len);
    snprintf(r->kubeconfig, sizeof(r->kubeconfig), "%s/kubeconfig", dir);
    FILE *f = fopen(r->kubeconfig, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
            "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:%d\n"
            "    certificate-authority-data: %s\n"
            "users:\n- name: u\n  user:\n    token: adapter-sa-token\n"
            "contexts:\n- name: t\n  context: {cluster: c, user: u}\n",
            r->s.port, b64);
    fclose(f);
    free(b64);
}

static void rig_start(struct rig *r, bool configmap_ok)
{
    tsrv_start(&r->s);
    r->fp_ca = tpki_ca("front-proxy-ca");
    r->fp_ca2 = tpki_ca("front-proxy-ca-2");
    r->proxy = tpki_client("front-proxy-client", &r->fp_ca);
    r->proxy2 = tpki_client("front-proxy-client", &r->fp_ca2);
    r->cm1 = cm_body(&r->fp_ca);
    r->cm2 = cm_body(&r->fp_ca2);
    tsrv_route(&r->s, CM_PATH,
               configmap_ok ? tsrv_ans(200, r->cm1)
                            : tsrv_ans(404, "{\"kind\":\"Status\",\"message\":\"not found\"}"));
    write_kubeconfig(r);
    struct flags f = base_flags();
    f.kubeconfig = r->kubeconfig;
    struct ta_err err = { 0 };
    cr_assert_eq(auth_new(&f, &r->a, &err), TA_OK, "%s", err.msg);
}

static void rig_stop(struct rig *r)
{
    auth_free(r->a);
    tsrv_stop(&r->s);
    tpki_free(&r->fp_ca);
    tpki_free(&r->fp_ca2);
    tpki_free(&r->proxy);
    tpki_free(&r->proxy2);
    free(r->cm1);
    free(r->cm2);
}

static void proxied(struct treq *t, const struct tpki_cert *proxy, const char *user)
{
    treq_init(t, "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m");
    treq_cert(t, proxy);
    treq_header(t, "X-Remote-User", user);
    treq_header(t, "X-Remote-Group", "system:serviceaccounts");
}

/* Polls (bounded) until the check gives want; returns the last result's decision. */
static enum auth_decision wait_for(struct auth *a, const struct request *req,
                                   const struct auth_attributes *at, enum auth_decision want)
{
    struct auth_result r;
    for (int i = 0; i < 200; i++) {
        auth_check(a, req, at, true, &r);
        if (r.decision == want)
            break;
        usleep(50000);
    }
    return r.decision;
}

Test(auth, authenticates_the_proxy_then_reviews_and_caches)
{
    struct rig r;
    rig_start(&r, true);
    tsrv_route(&r.s, SAR_PATH, tsrv_ans(201, "{\"status\":{\"allowed\":true}}"));
    struct treq t;
    proxied(&t, &r.proxy, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    struct auth_attributes at = metric();
    struct auth_result res;
    auth_check(r.a, &t.r, &at, false, &res);
    cr_assert_eq(res.decision, AUTH_WOULD_BLOCK);
    cr_assert_eq(tsrv_count(&r.s, SAR_PATH), 0);
    auth_check(r.a, &t.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_ALLOW, "%s", res.reason.msg);
    cr_assert_str_eq(res.user, "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    auth_check(r.a, &t.r, &at, false, &res);
    cr_assert_eq(res.decision, AUTH_ALLOW, "answered from the cache");
    cr_assert_eq(tsrv_count(&r.s, SAR_PATH), 1);
    cr_assert_eq(tsrv_count(&r.s, CM_PATH), 1);
    pthread_mutex_lock(&r.s.mu);
    for (size_t i = 0; i < r.s.nseen; i++)
        cr_assert_str_eq(r.s.seen[i].auth, "Bearer adapter-sa-token");
    pthread_mutex_unlock(&r.s.mu);
    treq_free(&t);
    rig_stop(&r);
}

Test(auth, a_denied_review_is_forbidden_with_the_user)
{
    struct rig r;
    rig_start(&r, true);
    tsrv_route(&r.s, SAR_PATH,
               tsrv_ans(201, "{\"status\":{\"allowed\":false,\"reason\":\"no RBAC rule\"}}"));
    struct treq t;
    proxied(&t, &r.proxy, "jane");
    struct auth_attributes at = metric();
    struct auth_result res;
    auth_check(r.a, &t.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_FORBIDDEN);
    cr_assert_str_eq(res.user, "jane");
    cr_assert_str_eq(res.reason.msg, "no RBAC rule");
    cr_assert_str_eq(res.review_reason, "no RBAC rule");
    treq_free(&t);
    /* The usual RBAC deny carries no reason: the 403 message gets none appended. */
    tsrv_route(&r.s, SAR_PATH, tsrv_ans(201, "{\"status\":{\"allowed\":false}}"));
    proxied(&t, &r.proxy, "joe");
    auth_check(r.a, &t.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_FORBIDDEN);
    cr_assert_str_eq(res.review_reason, "");
    cr_assert_str_eq(res.reason.msg, "the subjectaccessreview did not allow it (no reason given)");
    treq_free(&t);
    rig_stop(&r);
}

Test(auth, masters_need_no_review_and_never_block)
{
    struct rig r;
    rig_start(&r, true);
    struct treq t;
    proxied(&t, &r.proxy, "system:kube-aggregator");
    treq_header(&t, "X-Remote-Group", "system:masters");
    struct auth_attributes at = { .verb = SLICE_LIT("get"),
                                  .path = SLICE_LIT("/apis/external.metrics.k8s.io/v1beta1") };
    struct auth_result res;
    auth_check(r.a, &t.r, &at, false, &res);
    cr_assert_eq(res.decision, AUTH_ALLOW, "%s", res.reason.msg);
    cr_assert_eq(tsrv_count(&r.s, SAR_PATH), 0);
    treq_free(&t);
    rig_stop(&r);
}

Test(auth, no_credentials_is_unauthorized)
{
    struct rig r;
    rig_start(&r, true);
    struct treq t;
    treq_init(&t, "/apis/external.metrics.k8s.io/v1beta1");
    treq_header(&t, "X-Remote-User", "admin");
    treq_header(&t, "X-Remote-Group", "system:masters");
    struct auth_attributes at = { .verb = SLICE_LIT("get"),
                                  .path = SLICE_LIT("/apis/external.metrics.k8s.io/v1beta1") };
    struct auth_result res;
    auth_check(r.a, &t.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_UNAUTHORIZED);
    cr_assert_str_eq(res.user, "");
    cr_assert_str_eq(res.reason.msg,
                     "no credentials: no verified client certificate and no bearer token");
    treq_free(&t);
    rig_stop(&r);
}

Test(auth, always_allowed_paths_skip_everything_for_non_resource_requests)
{
    struct rig r;
    rig_start(&r, true);
    struct treq t;
    treq_init(&t, "/healthz");
    struct auth_attributes at = { .verb = SLICE_LIT("get"), .path = SLICE_LIT("/healthz") };
    struct auth_result res;
    auth_check(r.a, &t.r, &at, false, &res);
    cr_assert_eq(res.decision, AUTH_ALLOW);
    cr_assert(auth_always_allowed(r.a, SLICE_LIT("/livez")));
    cr_assert(auth_always_allowed(r.a, SLICE_LIT("readyz")));
    cr_assert_not(auth_always_allowed(r.a, SLICE_LIT("/healthz/ping")));
    cr_assert_not(auth_always_allowed(r.a, SLICE_LIT("/")));
    /* Go's path authorizer never applies to resource requests. */
    struct auth_attributes res_at = metric();
    res_at.path = SLICE_LIT("/healthz");
    auth_check(r.a, &t.r, &res_at, false, &res);
    cr_assert_eq(res.decision, AUTH_UNAUTHORIZED);
    treq_free(&t);
    rig_stop(&r);
}

Test(auth, always_allowed_prefixes_and_root)
{
    struct rig r;
    tsrv_start(&r.s);
    tsrv_route(&r.s, CM_PATH, tsrv_ans(200, "{\"data\":{}}"));
    write_kubeconfig(&r);
    struct flags f = base_flags();
    char *paths[] = { "/healthz/*", "/", "metrics" };
    f.authorization_always_allow_paths = (struct flag_list){ paths, 3 };
    f.kubeconfig = r.kubeconfig;
    cr_assert_eq(auth_new(&f, &r.a, NULL), TA_OK);
    cr_assert(auth_always_allowed(r.a, SLICE_LIT("/healthz/ping")));
    cr_assert(auth_always_allowed(r.a, SLICE_LIT("/healthz/")));
    cr_assert_not(auth_always_allowed(r.a, SLICE_LIT("/healthz")), "the prefix is 'healthz/'");
    cr_assert(auth_always_allowed(r.a, SLICE_LIT("/")));
    cr_assert(auth_always_allowed(r.a, SLICE_LIT("/metrics")));
    cr_assert_not(auth_always_allowed(r.a, SLICE_LIT("/readyz")));
    auth_free(r.a);
    tsrv_stop(&r.s);
}

Test(auth, starts_without_the_configmap_and_picks_it_up_later)
{
    setenv(AUTH_REFRESH_ENV, "100", 1);
    struct rig r;
    rig_start(&r, false);
    tsrv_route(&r.s, SAR_PATH, tsrv_ans(201, "{\"status\":{\"allowed\":true}}"));
    struct treq t;
    proxied(&t, &r.proxy, "jane");
    struct auth_attributes at = metric();
    struct auth_result res;
    auth_check(r.a, &t.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_UNAUTHORIZED);
    const char *want = "client certificate not checked: authentication configuration not "
                       "loaded: configmap kube-system/extension-apiserver-authentication not "
                       "found";
    cr_assert_str_eq(res.reason.msg, want);
    tsrv_route(&r.s, CM_PATH, tsrv_ans(200, r.cm1));
    cr_assert_eq(wait_for(r.a, &t.r, &at, AUTH_ALLOW), AUTH_ALLOW);
    treq_free(&t);
    rig_stop(&r);
}

Test(auth, picks_up_a_rotated_front_proxy_ca)
{
    setenv(AUTH_REFRESH_ENV, "100", 1);
    struct rig r;
    rig_start(&r, true);
    tsrv_route(&r.s, SAR_PATH, tsrv_ans(201, "{\"status\":{\"allowed\":true}}"));
    struct treq old_proxy, new_proxy;
    proxied(&old_proxy, &r.proxy, "jane");
    proxied(&new_proxy, &r.proxy2, "jane");
    struct auth_attributes at = metric();
    struct auth_result res;
    auth_check(r.a, &old_proxy.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_ALLOW, "%s", res.reason.msg);
    auth_check(r.a, &new_proxy.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_UNAUTHORIZED);
    tsrv_route(&r.s, CM_PATH, tsrv_ans(200, r.cm2));
    cr_assert_eq(wait_for(r.a, &new_proxy.r, &at, AUTH_ALLOW), AUTH_ALLOW);
    auth_check(r.a, &old_proxy.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_UNAUTHORIZED);
    cr_assert_str_eq(res.reason.msg, "x509: certificate signed by unknown authority");
    treq_free(&old_proxy);
    treq_free(&new_proxy);
    rig_stop(&r);
}

Test(auth, keeps_the_last_configuration_when_a_refresh_fails)
{
    setenv(AUTH_REFRESH_ENV, "100", 1);
    struct rig r;
    rig_start(&r, true);
    tsrv_route(&r.s, SAR_PATH, tsrv_ans(201, "{\"status\":{\"allowed\":true}}"));
    tsrv_route(&r.s, CM_PATH, tsrv_ans(200, "{\"data\":{\"requestheader-client-ca-file\":\"x\"}}"));
    size_t before = tsrv_count(&r.s, CM_PATH);
    while (tsrv_count(&r.s, CM_PATH) < before + 2)
        usleep(20000);
    struct treq t;
    proxied(&t, &r.proxy, "jane");
    struct auth_attributes at = metric();
    struct auth_result res;
    auth_check(r.a, &t.r, &at, true, &res);
    cr_assert_eq(res.decision, AUTH_ALLOW, "%s", res.reason.msg);
    treq_free(&t);
    rig_stop(&r);
}
