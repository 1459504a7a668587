/* test_kube_client.c — the kube-apiserver client: in-cluster config, TLS, credentials, retries,
 * time-outs, body caps, cancellation, token rotation. Against the in-process stub server. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/kube_client.h"
#include "tests/unit/auth_test_server.h"

static char dir[64];

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof(dir), "/tmp/ta-kubeclient-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    curl_global_cleanup();
}

TestSuite(kube_client, .init = setup, .fini = teardown);

static void write_file(const char *name, const char *text)
{
    char path[256], tmp[260];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0); /* a new inode, as a projected-token swap gives */
}

static struct kube_client *client(struct kubeconfig *k, int steps, int64_t timeout_ms,
                                  size_t body_max)
{
    struct kube_client_options o;
    kube_client_options_default(&o);
    o.retry_steps = steps;
    o.retry_base_ns = 1000000; /* 1 ms: keep the tests fast */
    if (timeout_ms)
        o.timeout_ns = timeout_ms * 1000000;
    if (body_max)
        o.body_max = body_max;
    struct kube_client *kc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kube_client_new(k, &o, &kc, &err), TA_OK, "%s", err.msg);
    return kc;
}

static enum ta_rc get(struct kube_client *kc, const char *path, long *status, struct buf *b,
                      struct ta_err *err)
{
    buf_init(b, 1 << 20);
    return kube_client_do(kc, "GET", path, SLICE_NULL, status, b, err);
}

/* ---- in-cluster ------------------------------------------------------------------------- */

Test(kube_client, in_cluster_needs_the_service_environment)
{
    unsetenv("KUBERNETES_SERVICE_HOST");
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    struct kubeconfig *k = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kube_client_in_cluster(&k, &err), TA_NOT_FOUND);
    cr_assert_null(k);
    cr_assert_str_eq(err.msg, "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST "
                              "and KUBERNETES_SERVICE_PORT must be defined");
}

Test(kube_client, in_cluster_reads_the_service_account_directory)
{
    write_file("token", "tok\n");
    write_file("ca.crt", "CA BYTES");
    write_file("namespace", " monitoring\n");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    setenv(KUBE_CLIENT_SA_DIR_ENV, dir, 1);
    struct kubeconfig *k = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kube_client_in_cluster(&k, &err), TA_OK, "%s", err.msg);
    cr_assert_str_eq(k->server, "https://10.96.0.1:443");
    char tok[128];
    snprintf(tok, sizeof(tok), "%s/token", dir);
    cr_assert_str_eq(k->token_file, tok);
    cr_assert_eq(k->ca_pem_len, 8);
    cr_assert(memcmp(k->ca_pem, "CA BYTES", 8) == 0);
    cr_assert_str_eq(k->namespace_, "monitoring");
    cr_assert_str_eq(k->source, "in-cluster configuration");
    kubeconfig_free(k);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    cr_assert_eq(kube_client_in_cluster(&k, &err), TA_OK, "%s", err.msg);
    cr_assert_str_eq(k->server, "https://[fd00::1]:443");
    kubeconfig_free(k);
}

Test(kube_client, in_cluster_rejects_bad_environment_and_missing_ca)
{
    setenv(KUBE_CLIENT_SA_DIR_ENV, dir, 1);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "http", 1);
    struct kubeconfig *k = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(kube_client_in_cluster(&k, &err), TA_INVALID);
    cr_assert(strncmp(err.msg, "KUBERNETES_SERVICE_PORT: ", 25) == 0, "%s", err.msg);
    setenv("KUBERNETES_SERVICE_PORT", "65536", 1);
    cr_assert_eq(kube_client_in_cluster(&k, &err), TA_INVALID);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    setenv("KUBERNETES_SERVICE_HOST", "evil/path@x", 1);
    cr_assert_eq(kube_client_in_cluster(&k, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "KUBERNETES_SERVICE_HOST: \"evil/path@x\" is not a host");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    cr_assert_eq(kube_client_in_cluster(&k, &err), TA_NOT_FOUND);
    char want[256];
    snprintf(want, sizeof(want),
             "in-cluster configuration: cannot open %s/ca.crt: No such file or directory", dir);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(k);
}

/* ---- requests --------------------------------------------------------------------------- */

Test(kube_client, sends_the_bearer_token_and_body_and_reads_the_answer)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_push(&s, tsrv_ans(201, "{\"ok\":true}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, "static-token");
    struct kube_client *kc = client(k, 1, 0, 0);
    struct buf b;
    buf_init(&b, 1024);
    long status = 0;
    struct ta_err err = { 0 };
    cr_assert_eq(
        kube_client_do(kc, "POST", "/apis/x?y=1", SLICE_LIT("{\"a\":1}"), &status, &b, &err), TA_OK,
        "%s", err.msg);
    cr_assert_eq(status, 201);
    cr_assert_str_eq(buf_cstr(&b), "{\"ok\":true}");
    cr_assert_eq(tsrv_nseen(&s), 1);
    cr_assert_str_eq(s.seen[0].method, "POST");
    cr_assert_str_eq(s.seen[0].path, "/apis/x?y=1");
    cr_assert_str_eq(s.seen[0].auth, "Bearer static-token");
    cr_assert_str_eq(s.seen[0].body, "{\"a\":1}");
    cr_assert_str_eq(s.seen[0].cn, "");
    buf_free(&b);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, presents_the_client_certificate)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, tsrv_ans(200, "{}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct tpki_cert me = tpki_client("tempo-adapter", &s.client_ca);
    char *cert = tpki_pem(&me), *key = tpki_key_pem(&me);
    k->cert_pem = (uint8_t *)cert;
    k->cert_pem_len = strlen(cert);
    k->key_pem = (uint8_t *)key;
    k->key_pem_len = strlen(key);
    struct kube_client *kc = client(k, 1, 0, 0);
    long status = 0;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/api", &status, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(status, 200);
    cr_assert_str_eq(s.seen[0].cn, "tempo-adapter");
    cr_assert_str_eq(s.seen[0].auth, "");
    buf_free(&b);
    kube_client_free(kc);
    kubeconfig_free(k);
    tpki_free(&me);
    tsrv_stop(&s);
}

Test(kube_client, verifies_the_server_against_the_ca)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, tsrv_ans(200, "{}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct tpki_cert other = tpki_ca("other");
    free(k->ca_pem);
    k->ca_pem = (uint8_t *)tpki_pem(&other);
    k->ca_pem_len = strlen((char *)k->ca_pem);
    struct kube_client *kc = client(k, 1, 0, 0);
    long status = 0;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/api", &status, &b, &err), TA_IO);
    char want[128];
    snprintf(want, sizeof(want), "cannot reach kube-apiserver at https://127.0.0.1:%d: ", s.port);
    cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    cr_assert_eq(tsrv_nseen(&s), 0);
    kube_client_free(kc);

    free(k->ca_pem);
    k->ca_pem = NULL;
    k->ca_pem_len = 0;
    k->insecure_skip_tls_verify = true;
    kc = client(k, 1, 0, 0);
    cr_assert_eq(get(kc, "/api", &status, &b, &err), TA_OK, "%s", err.msg);
    buf_free(&b);
    kube_client_free(kc);
    kubeconfig_free(k);
    tpki_free(&other);
    tsrv_stop(&s);
}

Test(kube_client, retries_5xx_and_429_then_succeeds)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_push(&s, tsrv_ans(500, "{}"));
    tsrv_push(&s, tsrv_ans(429, "{}"));
    tsrv_push(&s, (struct tsrv_answer){ .hang_up = true });
    tsrv_push(&s, tsrv_ans(200, "done"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = client(k, 5, 0, 0);
    long status = 0;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/x", &status, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(status, 200);
    cr_assert_str_eq(buf_cstr(&b), "done");
    cr_assert_eq(tsrv_nseen(&s), 4);
    buf_free(&b);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, does_not_retry_4xx)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, tsrv_ans(404, "{\"kind\":\"Status\"}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = client(k, 5, 0, 0);
    long status = 0;
    struct buf b;
    cr_assert_eq(get(kc, "/x", &status, &b, NULL), TA_OK);
    cr_assert_eq(status, 404);
    cr_assert_eq(tsrv_nseen(&s), 1);
    buf_free(&b);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, gives_up_after_the_last_attempt)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, tsrv_ans(503, "{\"kind\":\"Status\",\"message\":\"try later\"}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = client(k, 3, 0, 0);
    long status = 0;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/x", &status, &b, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "kube-apiserver answered 503 for GET /x: try later");
    cr_assert_eq(tsrv_nseen(&s), 3);
    buf_free(&b);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, reports_an_unreachable_server_after_retries)
{
    struct kubeconfig *k = calloc(1, sizeof(*k));
    char url[64];
    int port = tsrv_dead_port();
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    k->server = strdup(url);
    struct kube_client *kc = client(k, 2, 0, 0);
    long status = 0;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/x", &status, &b, &err), TA_IO);
    char want[128];
    snprintf(want, sizeof(want), "cannot reach kube-apiserver at %s: ", url);
    cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    cr_assert(strstr(err.msg, "onnect"), "%s", err.msg);
    kube_client_free(kc);
    kubeconfig_free(k);
}

Test(kube_client, times_out_a_slow_answer)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, (struct tsrv_answer){ .status = 200, .body = "{}", .delay_ms = 3000 });
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = client(k, 1, 200, 0);
    long status = 0;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/x", &status, &b, &err), TA_TIMEOUT);
    char want[128];
    snprintf(want, sizeof(want),
             "kube-apiserver at https://127.0.0.1:%d did not answer within 200 ms", s.port);
    cr_assert_str_eq(err.msg, want);
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, caps_the_answer_body)
{
    static char body[101];
    memset(body, 'b', 100);
    body[100] = '\0';
    struct tsrv s;
    tsrv_start(&s);
    tsrv_push(&s, tsrv_ans(200, body));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client *kc = client(k, 3, 0, 100);
    long status = 0;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/x", &status, &b, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(b.len, 100);
    buf_free(&b);
    kube_client_free(kc);
    /* one byte more */
    body[100] = 'b';
    tsrv_push(&s, (struct tsrv_answer){ .status = 200, .body = body, .body_len = 101 });
    kc = client(k, 3, 0, 100);
    cr_assert_eq(get(kc, "/x", &status, &b, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "kube-apiserver answer to GET larger than 100 bytes");
    cr_assert_eq(tsrv_nseen(&s), 2, "a body past the cap is not retried");
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, rereads_a_rotated_token_file)
{
    write_file("token", "first-token\n");
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, tsrv_ans(200, "{}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/token", dir);
    k->token_file = strdup(path);
    struct kube_client *kc = client(k, 1, 0, 0);
    long status = 0;
    struct buf b;
    cr_assert_eq(get(kc, "/x", &status, &b, NULL), TA_OK);
    buf_free(&b);
    write_file("token", "second-token");
    sleep(3); /* secret_file stats at most every SECRET_FILE_RECHECK_NS (2 s) */
    cr_assert_eq(get(kc, "/x", &status, &b, NULL), TA_OK);
    buf_free(&b);
    cr_assert_str_eq(s.seen[0].auth, "Bearer first-token");
    cr_assert_str_eq(s.seen[1].auth, "Bearer second-token");
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, fails_to_start_without_its_token_file)
{
    struct kubeconfig *k = calloc(1, sizeof(*k));
    k->server = strdup("https://127.0.0.1:1");
    k->token_file = strdup("/nonexistent/token");
    struct kube_client *kc = NULL;
    struct ta_err err = { 0 };
    cr_assert_neq(kube_client_new(k, NULL, &kc, &err), TA_OK);
    cr_assert_null(kc);
    cr_assert(strncmp(err.msg, "kube-apiserver token: ", 22) == 0, "%s", err.msg);
    kubeconfig_free(k);
}

struct bg {
    struct kube_client *kc;
    enum ta_rc rc;
};

static void *bg_get(void *arg)
{
    struct bg *g = arg;
    long status;
    struct buf b;
    g->rc = get(g->kc, "/x", &status, &b, NULL);
    buf_free(&b);
    return NULL;
}

Test(kube_client, cancel_interrupts_the_back_off)
{
    struct tsrv s;
    tsrv_start(&s);
    tsrv_default(&s, tsrv_ans(500, "{}"));
    struct kubeconfig *k = tsrv_kubeconfig(&s, NULL);
    struct kube_client_options o;
    kube_client_options_default(&o);
    o.retry_base_ns = 60LL * 1000000000LL; /* a minute: only cancel can end the wait */
    struct kube_client *kc = NULL;
    cr_assert_eq(kube_client_new(k, &o, &kc, NULL), TA_OK);
    struct bg g = { kc, TA_OK };
    pthread_t t;
    pthread_create(&t, NULL, bg_get, &g);
    while (tsrv_nseen(&s) < 1)
        usleep(10000);
    kube_client_cancel(kc);
    pthread_join(t, NULL);
    cr_assert_eq(g.rc, TA_UNAVAILABLE);
    long status;
    struct buf b;
    struct ta_err err = { 0 };
    cr_assert_eq(get(kc, "/x", &status, &b, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "kube-apiserver request cancelled (shutting down)");
    kube_client_free(kc);
    kubeconfig_free(k);
    tsrv_stop(&s);
}

Test(kube_client, status_message_reads_status_bodies_and_sanitizes_others)
{
    char m[64];
    kube_client_status_message(SLICE_LIT("{\"kind\":\"Status\",\"message\":\"nope\"}"), m,
                               sizeof(m));
    cr_assert_str_eq(m, "nope");
    kube_client_status_message(SLICE_LIT("<html>\n\x01oops"), m, sizeof(m));
    cr_assert_str_eq(m, "<html>  oops");
    kube_client_status_message(SLICE_NULL, m, sizeof(m));
    cr_assert_str_eq(m, "");
    kube_client_status_message(SLICE_LIT("abcdefgh"), m, 4);
    cr_assert_str_eq(m, "abc");
}

Test(kube_client, free_and_cancel_accept_null)
{
    kube_client_free(NULL);
    kube_client_cancel(NULL);
}
