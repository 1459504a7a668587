/* test_authz.c — SubjectAccessReview bodies, answers, the cache and system:masters. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "server/authz.h"
#include "tests/unit/auth_test_server.h"

static void init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void fini(void)
{
    curl_global_cleanup();
}

TestSuite(authz, .init = init, .fini = fini);

static struct authn_user *hpa_user(void)
{
    struct authn_user *u =
        authn_user_new(SLICE_LIT("system:serviceaccount:kube-system:horizontal-pod-autoscaler"));
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("system:serviceaccounts"), NULL), TA_OK);
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("system:serviceaccounts:kube-system"), NULL),
                 TA_OK);
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("system:authenticated"), NULL), TA_OK);
    cr_assert_eq(authn_user_add_extra(u, SLICE_LIT("authentication.kubernetes.io/credential-id"),
                                      SLICE_LIT("JTI=x"), NULL),
                 TA_OK);
    return u;
}

static char *one_value[] = { "jobs" };

static struct selector_req queue_jobs = {
    .key = "queue", .op = SELECTOR_OP_EQ, .values = one_value, .nvalues = 1
};
static struct selector sel_queue = { &queue_jobs, 1 };

static struct auth_attributes metric_attrs(const struct selector *sel)
{
    return (struct auth_attributes){ .resource_request = true,
                                     .verb = SLICE_LIT("list"),
                                     .ns = SLICE_LIT("default"),
                                     .resource = SLICE_LIT("queue_depth"),
                                     .selector = sel };
}

static char *body_of(const struct authn_user *u, const struct auth_attributes *a)
{
    struct buf b;
    buf_init(&b, AUTHZ_SAR_MAX);
    cr_assert_eq(authz_sar_body(u, a, &b), TA_OK);
    return buf_take(&b, NULL);
}

Test(authz, resource_review_body_matches_the_spec_example)
{
    struct authn_user *u = hpa_user();
    struct auth_attributes a = metric_attrs(&sel_queue);
    char *body = body_of(u, &a);
    cr_assert_str_eq(
        body, "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SubjectAccessReview\","
              "\"spec\":{\"resourceAttributes\":{\"namespace\":\"default\",\"verb\":\"list\","
              "\"group\":\"external.metrics.k8s.io\",\"version\":\"v1beta1\",\"resource\":"
              "\"queue_depth\",\"labelSelector\":{\"requirements\":[{\"key\":\"queue\","
              "\"operator\":\"In\",\"values\":[\"jobs\"]}]}},\"user\":\"system:serviceaccount:"
              "kube-system:horizontal-pod-autoscaler\",\"groups\":[\"system:serviceaccounts\","
              "\"system:serviceaccounts:kube-system\",\"system:authenticated\"],\"extra\":{"
              "\"authentication.kubernetes.io/credential-id\":[\"JTI=x\"]}}}");
    free(body);
    authn_user_free(u);
}

Test(authz, selector_operators_map_to_label_selector_operators)
{
    char *ab[] = { "a", "b" }, *c[] = { "c" };
    struct selector_req reqs[] = {
        { .key = "k1", .op = SELECTOR_OP_EQ, .values = c, .nvalues = 1 },
        { .key = "k2", .op = SELECTOR_OP_NEQ, .values = c, .nvalues = 1 },
        { .key = "k3", .op = SELECTOR_OP_IN, .values = ab, .nvalues = 2 },
        { .key = "k4", .op = SELECTOR_OP_NOTIN, .values = ab, .nvalues = 2 },
        { .key = "k5", .op = SELECTOR_OP_EXISTS, .values = NULL, .nvalues = 0 },
        { .key = "k6", .op = SELECTOR_OP_NOT_EXISTS, .values = NULL, .nvalues = 0 },
    };
    struct selector sel = { reqs, 6 };
    struct authn_user *u = authn_user_new(SLICE_LIT("u"));
    struct auth_attributes a = metric_attrs(&sel);
    char *body = body_of(u, &a);
    const char *want =
        "\"labelSelector\":{\"requirements\":[{\"key\":\"k1\",\"operator\":\"In\",\"values\":"
        "[\"c\"]},{\"key\":\"k2\",\"operator\":\"NotIn\",\"values\":[\"c\"]},{\"key\":\"k3\","
        "\"operator\":\"In\",\"values\":[\"a\",\"b\"]},{\"key\":\"k4\",\"operator\":\"NotIn\","
        "\"values\":[\"a\",\"b\"]},{\"key\":\"k5\",\"operator\":\"Exists\"},{\"key\":\"k6\","
        "\"operator\":\"DoesNotExist\"}]}},\"user\":\"u\"}}";
    cr_assert(strstr(body, want), "%s", body);
    free(body);
    authn_user_free(u);
}

Test(authz, empty_selector_and_empty_fields_are_omitted)
{
    struct selector empty = { NULL, 0 };
    struct authn_user *u = authn_user_new(SLICE_LIT("u"));
    struct auth_attributes a = metric_attrs(&empty);
    a.ns = SLICE_NULL;
    char *body = body_of(u, &a);
    cr_assert_str_eq(body, "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":"
                           "\"SubjectAccessReview\",\"spec\":{\"resourceAttributes\":{\"verb\":"
                           "\"list\",\"group\":\"external.metrics.k8s.io\",\"version\":"
                           "\"v1beta1\",\"resource\":\"queue_depth\"},\"user\":\"u\"}}");
    free(body);
    a.selector = NULL;
    body = body_of(u, &a);
    cr_assert(!strstr(body, "labelSelector"));
    free(body);
    authn_user_free(u);
}

Test(authz, non_resource_review_has_path_and_verb_and_uid)
{
    struct authn_user *u = authn_user_new(SLICE_LIT("system:aggregator"));
    u->uid = strdup("42");
    struct auth_attributes a = { .resource_request = false,
                                 .verb = SLICE_LIT("get"),
                                 .path = SLICE_LIT("/openapi/v2") };
    char *body = body_of(u, &a);
    cr_assert_str_eq(body, "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":"
                           "\"SubjectAccessReview\",\"spec\":{\"nonResourceAttributes\":{"
                           "\"path\":\"/openapi/v2\",\"verb\":\"get\"},\"user\":"
                           "\"system:aggregator\",\"uid\":\"42\"}}");
    free(body);
    authn_user_free(u);
}

Test(authz, strings_are_json_escaped)
{
    struct authn_user *u = authn_user_new(SLICE_LIT("a\"b\\c\n"));
    struct auth_attributes a = metric_attrs(NULL);
    a.resource = SLICE_LIT("m<x>");
    char *body = body_of(u, &a);
    cr_assert(strstr(body, "\"resource\":\"m\\u003cx\\u003e\""), "%s", body);
    cr_assert(strstr(body, "\"user\":\"a\\\"b\\\\c\\n\""), "%s", body);
    free(body);
    authn_user_free(u);
}

Test(authz, attributes_with_a_nul_byte_are_refused)
{
    struct authn_user *u = authn_user_new(SLICE_LIT("u"));
    struct auth_attributes a = metric_attrs(NULL);
    a.ns = slice_make("a\0b", 3);
    struct buf b;
    buf_init(&b, AUTHZ_SAR_MAX);
    cr_assert_eq(authz_sar_body(u, &a, &b), TA_INVALID);
    cr_assert_null(b.data, "the partial body is freed");
    authn_user_free(u);
}

Test(authz, body_past_the_cap_is_too_large)
{
    struct authn_user *u = authn_user_new(SLICE_LIT("u"));
    struct auth_attributes a = metric_attrs(NULL);
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(authz_sar_body(u, &a, &b), TA_TOO_LARGE);
    authn_user_free(u);
}

static bool parse(const char *body, char *reason, enum ta_rc want_rc)
{
    bool allowed = true;
    struct ta_err err = { 0 };
    cr_assert_eq(authz_sar_parse(slice_from_cstr(body), &allowed, reason, 128, &err), want_rc, "%s",
                 err.msg);
    return allowed;
}

Test(authz, parses_review_answers)
{
    char reason[128];
    cr_assert(parse("{\"status\":{\"allowed\":true,\"reason\":\"RBAC: allowed\"}}", reason, TA_OK));
    cr_assert_str_eq(reason, "RBAC: allowed");
    cr_assert_not(parse("{\"status\":{\"allowed\":false}}", reason, TA_OK));
    cr_assert_str_eq(reason, "");
    cr_assert_not(parse("{\"status\":{}}", reason, TA_OK), "no opinion denies");
    cr_assert_not(parse("{\"status\":{\"allowed\":true,\"denied\":true}}", reason, TA_OK),
                  "denied wins");
    cr_assert_not(
        parse("{\"status\":{\"allowed\":false,\"evaluationError\":\"boom\"}}", reason, TA_OK));
    cr_assert_str_eq(reason, "boom");
    cr_assert_not(parse("{\"status\":{\"allowed\":\"yes\"}}", reason, TA_UPSTREAM));
    cr_assert_not(parse("{}", reason, TA_UPSTREAM));
    cr_assert_not(parse("not json", reason, TA_UPSTREAM));
}

Test(authz, parses_an_answer_without_a_final_nul)
{
    const char *text = "{\"status\":{\"allowed\":true}}garbage";
    bool allowed = false;
    char reason[8];
    cr_assert_eq(
        authz_sar_parse(slice_make(text, strlen(text) - 7), &allowed, reason, sizeof(reason), NULL),
        TA_OK);
    cr_assert(allowed);
}

Test(authz, masters_skip_the_review)
{
    struct authz *az = authz_new(NULL);
    struct authn_user *u = authn_user_new(SLICE_LIT("system:kube-aggregator"));
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("system:masters"), NULL), TA_OK);
    struct auth_attributes a = metric_attrs(NULL);
    cr_assert_eq(authz_check(az, u, &a, false, NULL), AUTHZ_ALLOW);
    authn_user_free(u);
    authz_free(az);
}

struct rig {
    struct tsrv s;
    struct kubeconfig *k;
    struct kube_client *kc;
    struct authz *az;
};

static void rig_start(struct rig *r, int steps)
{
    tsrv_start(&r->s);
    r->k = tsrv_kubeconfig(&r->s, "sa-token");
    struct kube_client_options o;
    kube_client_options_default(&o);
    o.retry_steps = steps;
    o.retry_base_ns = 1000000;
    cr_assert_eq(kube_client_new(r->k, &o, &r->kc, NULL), TA_OK);
    r->az = authz_new(r->kc);
}

static void rig_stop(struct rig *r)
{
    authz_free(r->az);
    kube_client_free(r->kc);
    kubeconfig_free(r->k);
    tsrv_stop(&r->s);
}

Test(authz, reviews_once_and_caches_allow_and_deny)
{
    struct rig r;
    rig_start(&r, 1);
    tsrv_push(&r.s, tsrv_ans(201, "{\"status\":{\"allowed\":true}}"));
    tsrv_push(&r.s, tsrv_ans(201, "{\"status\":{\"allowed\":false,\"reason\":\"no binding\"}}"));
    struct authn_user *u = hpa_user();
    struct auth_attributes a = metric_attrs(&sel_queue);
    struct auth_attributes other = metric_attrs(NULL); /* another question */
    cr_assert_eq(authz_check(r.az, u, &a, false, NULL), AUTHZ_WOULD_BLOCK);
    cr_assert_eq(authz_check(r.az, u, &a, true, NULL), AUTHZ_ALLOW);
    struct ta_err why = { 0 };
    cr_assert_eq(authz_check(r.az, u, &other, true, &why), AUTHZ_DENY);
    cr_assert_str_eq(why.msg, "no binding");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(authz_check(r.az, u, &a, false, NULL), AUTHZ_ALLOW);
        cr_assert_eq(authz_check(r.az, u, &other, false, &why), AUTHZ_DENY);
        cr_assert_str_eq(why.msg, "no binding");
    }
    cr_assert_eq(tsrv_nseen(&r.s), 2);
    cr_assert_str_eq(r.s.seen[0].path, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
    cr_assert_str_eq(r.s.seen[0].auth, "Bearer sa-token");
    char *want = body_of(u, &a);
    cr_assert_str_eq(r.s.seen[0].body, want);
    free(want);
    authn_user_free(u);
    rig_stop(&r);
}

Test(authz, a_different_group_is_a_different_question)
{
    struct rig r;
    rig_start(&r, 1);
    tsrv_default(&r.s, tsrv_ans(201, "{\"status\":{\"allowed\":true}}"));
    struct authn_user *u = hpa_user();
    struct auth_attributes a = metric_attrs(NULL);
    cr_assert_eq(authz_check(r.az, u, &a, true, NULL), AUTHZ_ALLOW);
    cr_assert_eq(authn_user_add_group(u, SLICE_LIT("extra-group"), NULL), TA_OK);
    cr_assert_eq(authz_check(r.az, u, &a, false, NULL), AUTHZ_WOULD_BLOCK);
    authn_user_free(u);
    rig_stop(&r);
}

Test(authz, errors_deny_and_are_not_cached)
{
    struct rig r;
    rig_start(&r, 3);
    tsrv_default(&r.s, tsrv_ans(503, "{\"kind\":\"Status\",\"message\":\"unavailable\"}"));
    struct authn_user *u = hpa_user();
    struct auth_attributes a = metric_attrs(NULL);
    struct ta_err why = { 0 };
    cr_assert_eq(authz_check(r.az, u, &a, true, &why), AUTHZ_ERROR);
    cr_assert_str_eq(why.msg, "subjectaccessreview: kube-apiserver answered 503 for POST "
                              "/apis/authorization.k8s.io/v1/subjectaccessreviews: unavailable");
    cr_assert_eq(tsrv_nseen(&r.s), 3, "three attempts");
    cr_assert_eq(authz_check(r.az, u, &a, false, NULL), AUTHZ_WOULD_BLOCK);
    authn_user_free(u);
    rig_stop(&r);
}

Test(authz, a_forbidden_review_call_is_an_error_with_the_message)
{
    struct rig r;
    rig_start(&r, 3);
    tsrv_default(&r.s, tsrv_ans(403, "{\"message\":\"cannot create subjectaccessreviews\"}"));
    struct authn_user *u = hpa_user();
    struct auth_attributes a = metric_attrs(NULL);
    struct ta_err why = { 0 };
    cr_assert_eq(authz_check(r.az, u, &a, true, &why), AUTHZ_ERROR);
    cr_assert_str_eq(why.msg, "subjectaccessreview: kube-apiserver answered 403: cannot create "
                              "subjectaccessreviews");
    cr_assert_eq(tsrv_nseen(&r.s), 1, "4xx is not retried");
    authn_user_free(u);
    rig_stop(&r);
}

Test(authz, a_malformed_answer_is_an_error)
{
    struct rig r;
    rig_start(&r, 1);
    tsrv_default(&r.s, tsrv_ans(201, "{\"status\":7}"));
    struct authn_user *u = hpa_user();
    struct auth_attributes a = metric_attrs(NULL);
    struct ta_err why = { 0 };
    cr_assert_eq(authz_check(r.az, u, &a, true, &why), AUTHZ_ERROR);
    cr_assert_str_eq(why.msg, "subjectaccessreview answer without a status object");
    authn_user_free(u);
    rig_stop(&r);
}

Test(authz, without_a_client_every_review_is_an_error)
{
    struct authz *az = authz_new(NULL);
    struct authn_user *u = hpa_user();
    struct auth_attributes a = metric_attrs(NULL);
    struct ta_err why = { 0 };
    cr_assert_eq(authz_check(az, u, &a, true, &why), AUTHZ_ERROR);
    cr_assert_str_eq(why.msg, "subjectaccessreview: no kube-apiserver client");
    authn_user_free(u);
    authz_free(az);
}
