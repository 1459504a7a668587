/* auth_check_bench.c — CPU cost of one auth_check with warm caches (front proxy + cached
 * SubjectAccessReview), measured in process so the figure does not depend on the machine's
 * other load the way requests/s over loopback does (hack/bench/auth.sh gives those).
 *
 * Uses the unit tests' stub kube-apiserver and OpenSSL-made certificates: one review is made,
 * then auth_check(may_block = false) runs N times on one thread and on 2 threads at once.
 * Build (after the auth unit tests were built into build/auth):
 *   gcc -std=c17 -D_GNU_SOURCE -O2 -I. -pthread -o build/auth/auth_check_bench \
 *     hack/bench/auth_check_bench.c build/auth/libta.a \
 *     -lcurl -ljansson -lssl -lcrypto -lyaml -lz -lm
 *   build/auth/auth_check_bench [iterations]   (default 200000)
 * Output: "name value unit" lines. */
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "apis/base/clock.h"
#include "server/auth.h"
#include "tests/unit/auth_test_server.h"

#define CM_PATH  "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
#define SAR_PATH "/apis/authorization.k8s.io/v1/subjectaccessreviews"

static struct auth *a;
static struct treq req;
static long iterations = 200000;

static char *selvals[] = { "checkout" };
static struct selector_req selreq = {
    .key = "service", .op = SELECTOR_OP_EQ, .values = selvals, .nvalues = 1
};
static struct selector sel = { &selreq, 1 };

static const struct auth_attributes attrs = {
    .resource_request = true,
    .verb = { "list", 4 },
    .ns = { "shop", 4 },
    .resource = { "http_server_requests_per_second", 31 },
    .selector = &sel,
};

static void *loop(void *arg)
{
    long *allowed = arg;
    struct auth_result r;
    for (long i = 0; i < iterations; i++) {
        auth_check(a, &req.r, &attrs, false, &r);
        *allowed += r.decision == AUTH_ALLOW;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        long n = 0;
        for (const char *c = argv[1]; *c >= '0' && *c <= '9' && n < 100000000; c++)
            n = n * 10 + (*c - '0');
        iterations = n > 0 ? n : iterations;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct tsrv s;
    tsrv_start(&s);
    struct tpki_cert fp_ca = tpki_ca("front-proxy-ca");
    struct tpki_cert proxy = tpki_client("front-proxy-client", &fp_ca);
    char *pem = tpki_pem(&fp_ca);
    json_t *cm = json_pack("{s:{s:s, s:s}}", "data", "requestheader-client-ca-file", pem,
                           "requestheader-allowed-names", "[\"front-proxy-client\"]");
    char *cm_text = json_dumps(cm, JSON_COMPACT);
    tsrv_route(&s, CM_PATH, tsrv_ans(200, cm_text));
    tsrv_route(&s, SAR_PATH, tsrv_ans(201, "{\"status\":{\"allowed\":true}}"));

    char kc[] = "/tmp/auth-check-bench-kubeconfig";
    size_t len = strlen(s.ca_pem);
    unsigned char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock(b64, (const unsigned char *)s.ca_pem, (int)len);
    FILE *f = fopen(kc, "w");
    fprintf(f,
            "current-context: t\nclusters:\n- name: c\n  cluster:\n    server: "
            "https://127.0.0.1:%d\n    certificate-authority-data: %s\nusers:\n- name: u\n"
            "  user: {token: t}\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\n",
            s.port, b64);
    fclose(f);
    char *paths[] = { "/healthz" };
    struct flags fl = { 0 };
    fl.kubeconfig = kc;
    fl.authorization_always_allow_paths = (struct flag_list){ paths, 1 };
    struct ta_err err = { 0 };
    if (auth_new(&fl, &a, &err) != TA_OK) {
        fprintf(stderr, "auth_new: %s\n", err.msg);
        return 1;
    }
    treq_init(&req, "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/"
                    "http_server_requests_per_second");
    treq_cert(&req, &proxy);
    treq_header(&req, "Host", "10.96.0.1:443");
    treq_header(&req, "User-Agent", "kube-controller-manager/v1.31.0");
    treq_header(&req, "Accept", "application/vnd.kubernetes.protobuf, */*");
    treq_header(&req, "X-Remote-User",
                "system:serviceaccount:kube-system:horizontal-pod-autoscaler");
    treq_header(&req, "X-Remote-Group", "system:serviceaccounts");
    treq_header(&req, "X-Remote-Group", "system:serviceaccounts:kube-system");
    treq_header(&req, "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-id", "JTI=abc");
    treq_header(&req, "X-Forwarded-For", "10.0.0.7");
    struct auth_result r;
    auth_check(a, &req.r, &attrs, true, &r); /* the one review; warms both caches */
    if (r.decision != AUTH_ALLOW) {
        fprintf(stderr, "warm-up was not allowed: %s\n", r.reason.msg);
        return 1;
    }
    long allowed1 = 0, allowed2[2] = { 0, 0 };
    int64_t t0 = clock_mono_ns();
    loop(&allowed1);
    int64_t t1 = clock_mono_ns();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, loop, &allowed2[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int64_t t2 = clock_mono_ns();
    printf("auth_check_warm_1_thread %.2f us/call\n", (double)(t1 - t0) / 1e3 / iterations);
    printf("auth_check_warm_2_threads %.0f calls/s\n",
           2.0 * (double)iterations / ((double)(t2 - t1) / 1e9));
    printf("allowed %ld/%ld, reviews sent %zu\n", allowed1 + allowed2[0] + allowed2[1],
           3 * iterations, tsrv_count(&s, SAR_PATH));
    auth_free(a);
    treq_free(&req);
    tsrv_stop(&s);
    tpki_free(&fp_ca);
    tpki_free(&proxy);
    free(pem);
    free(cm_text);
    free(b64);
    json_decref(cm);
    remove(kc);
    curl_global_cleanup();
    return 0;
}
