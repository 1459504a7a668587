/* test_tempo_client.c — the libcurl transport against a scripted HTTP/1.1 server on 127.0.0.1
 * (in this file, so the tests run under valgrind without tracing a Python child): headers,
 * auth files and rotation, base URL prefixes, gzip, retries and their limits, time-outs, body
 * cap, singleflight, memo, concurrency limit, shutdown, secrets never logged, and
 * secret_file. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apis/base/buf.h"
#include "apis/base/log.h"
#include "server/secret_file.h"
#include "server/tempo_client.h"
#include "tests/unit/tempo_helpers.h"

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    th_start(0, NULL, NULL);
}

static void teardown(void)
{
    th_stop();
    curl_global_cleanup();
}

TestSuite(tempo_client, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------------------------- */

static struct tempo_client_config cfg(void)
{
    struct tempo_client_config c;
    memset(&c, 0, sizeof(c));
    c.url = th_url();
    c.timeout_ns = 5000000000LL;
    c.backoff_base_ns = 1000000; /* 1 ms: fast tests */
    c.backoff_max_ns = 4000000;
    return c;
}

static struct tempo_client *client(const struct tempo_client_config *c)
{
    struct tempo_client *tc = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_client_new(c, &tc, &err), TA_OK, "%s", err.msg);
    return tc;
}

static enum ta_rc get(struct tempo_client *tc, const char *path, struct tempo_reply **r,
                      struct ta_err *err)
{
    struct tempo_request req = { slice_from_cstr(path), TEMPO_ACCEPT_JSON, false, false };
    return tempo_client_get(tc, &req, r, err);
}

static char *write_tmp(const char *content)
{
    char *path = strdup("/tmp/ta-tempo-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static bool has_header(int i, const char *line)
{
    return th_has_header(i, line);
}

static const char *req_path(int i)
{
    static char p[4096];
    th_request(i, p, sizeof(p), NULL, 0);
    return p;
}

static const char *req_headers(int i)
{
    static char h[4096];
    th_request(i, NULL, 0, h, sizeof(h));
    return h;
}

/* ---- configuration ------------------------------------------------------------------------- */

Test(tempo_client, new_rejects_bad_settings_naming_the_flag)
{
    char *empty = write_tmp("  \n");
    char *nocolon = write_tmp("justauser\n");
    char *tok = write_tmp("t0ken\n");
    char *bad_header[] = { "X-Bad Header=1" };
    char *bad_value[] = { "X-A=line\rbreak" };
    char *no_eq[] = { "X-A" };
    char *auth_hdr[] = { "authorization=Bearer x" };
    char *org_hdr[] = { "X-Scope-OrgID=y" };
    struct {
        struct tempo_client_config c;
        enum ta_rc rc;
        const char *msg;
    } cases[12];
    for (int i = 0; i < 12; i++)
        cases[i].c = cfg();
    cases[0].c.url = "ftp://x";
    cases[0].rc = TA_INVALID;
    cases[0].msg = "--tempo-url must start with http:// or https://";
    cases[1].c.url = "http://host/x?y=1";
    cases[1].rc = TA_INVALID;
    cases[1].msg = "--tempo-url must not contain a query, a fragment or spaces";
    cases[2].c.url = "http://";
    cases[2].rc = TA_INVALID;
    cases[2].msg = "--tempo-url has no host";
    cases[3].c.bearer_token_file = tok;
    cases[3].c.basic_auth_file = tok;
    cases[3].rc = TA_INVALID;
    cases[3].msg = "--tempo-bearer-token-file and --tempo-basic-auth-file are exclusive";
    cases[4].c.basic_auth_file = nocolon;
    cases[4].rc = TA_INVALID;
    cases[4].msg = NULL; /* names the file */
    cases[5].c.bearer_token_file = empty;
    cases[5].rc = TA_INVALID;
    cases[5].msg = NULL;
    cases[6].c.headers = bad_header;
    cases[6].c.nheaders = 1;
    cases[6].rc = TA_INVALID;
    cases[6].msg = "--tempo-header 1: expected Name=value with a valid header name";
    cases[7].c.headers = bad_value;
    cases[7].c.nheaders = 1;
    cases[7].rc = TA_INVALID;
    cases[7].msg = "--tempo-header X-A: the value contains control characters or is too long";
    cases[8].c.headers = no_eq;
    cases[8].c.nheaders = 1;
    cases[8].rc = TA_INVALID;
    cases[8].msg = "--tempo-header 1: expected Name=value with a valid header name";
    cases[9].c.client_cert_file = tok;
    cases[9].rc = TA_INVALID;
    cases[9].msg = "--tempo-client-cert-file and --tempo-client-key-file go together";
    cases[10].c.ca_file = "/nonexistent/ca.pem";
    cases[10].rc = TA_IO;
    cases[10].msg = "--tempo-ca-file /nonexistent/ca.pem: No such file or directory";
    cases[11].c.headers = auth_hdr;
    cases[11].c.nheaders = 1;
    cases[11].c.bearer_token_file = tok;
    cases[11].rc = TA_INVALID;
    cases[11].msg = "--tempo-header Authorization conflicts with "
                    "--tempo-bearer-token-file/--tempo-basic-auth-file";
    for (int i = 0; i < 12; i++) {
        struct tempo_client *tc = (struct tempo_client *)0x1;
        struct ta_err err;
        cr_assert_eq(tempo_client_new(&cases[i].c, &tc, &err), cases[i].rc, "case %d: %s", i,
                     err.msg);
        cr_assert_null(tc);
        if (cases[i].msg)
            cr_assert_str_eq(err.msg, cases[i].msg, "case %d", i);
    }
    struct tempo_client_config c = cfg();
    c.tenant = "t";
    c.headers = org_hdr;
    c.nheaders = 1;
    struct tempo_client *tc = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_client_new(&c, &tc, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "--tempo-header X-Scope-OrgID conflicts with --tempo-tenant");
    c = cfg();
    c.basic_auth_file = nocolon;
    cr_assert_eq(tempo_client_new(&c, &tc, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "expected user:password") && strstr(err.msg, nocolon), "%s", err.msg);
    cr_assert_null(strstr(err.msg, "justauser"), "the content is never shown");
    unlink(empty);
    unlink(nocolon);
    unlink(tok);
    free(empty);
    free(nocolon);
    free(tok);
}

/* ---- requests and headers ------------------------------------------------------------------ */

Test(tempo_client, get_sends_tenant_accept_gzip_and_extra_headers)
{
    char *h[] = { "X-Extra=one", "X-Other = two words " };
    struct tempo_client_config c = cfg();
    c.tenant = "team-a";
    c.headers = h;
    c.nheaders = 2;
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/metrics/query?q=%7B%7D&start=1&end=2", &r, &err), TA_OK, "%s",
                 err.msg);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(r->body.len, strlen("{\"ok\":true}"));
    cr_assert_eq(memcmp(r->body.ptr, "{\"ok\":true}", r->body.len), 0);
    cr_assert_not(r->protobuf);
    cr_assert_eq(r->attempts, 1);
    tempo_reply_release(r);
    cr_assert_str_eq(req_path(0), "/api/metrics/query?q=%7B%7D&start=1&end=2");
    cr_assert(has_header(0, "\r\nX-Scope-OrgID: team-a\r\n"));
    cr_assert(has_header(0, "\r\nAccept: application/json\r\n"));
    cr_assert(has_header(0, "\r\nX-Extra: one\r\n"));
    cr_assert(has_header(0, "\r\nX-Other: two words\r\n"));
    cr_assert(has_header(0, "gzip"), "%s", req_headers(0));
    cr_assert(has_header(0, "\r\nUser-Agent: tempo-adapter"));
    cr_assert_not(has_header(0, "Authorization"));
    tempo_client_free(tc);
}

Test(tempo_client, base_url_path_prefix_is_kept)
{
    char u[160];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/tempo/", th_port());
    struct tempo_client_config c = cfg();
    c.url = u;
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/status/buildinfo", &r, NULL), TA_OK);
    tempo_reply_release(r);
    cr_assert_str_eq(req_path(0), "/tempo/api/status/buildinfo");
    tempo_client_free(tc);
}

Test(tempo_client, gzip_answer_is_decompressed)
{
    th_script(
        (struct th_resp){ .status = 200, .body = "{\"series\":[]} compressed", .gzip = true });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/x", &r, NULL), TA_OK);
    cr_assert_eq(r->body.len, strlen("{\"series\":[]} compressed"));
    cr_assert_eq(memcmp(r->body.ptr, "{\"series\":[]} compressed", r->body.len), 0);
    cr_assert_eq(r->body.ptr[r->body.len], '\0');
    tempo_reply_release(r);
    tempo_client_free(tc);
}

Test(tempo_client, bearer_token_is_sent_and_reread_after_rotation)
{
    char *tok = write_tmp("first-token\n");
    struct tempo_client_config c = cfg();
    c.bearer_token_file = tok;
    c.secret_recheck_ns = 1; /* stat on every request */
    c.memo_ns = -1;
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/a", &r, NULL), TA_OK);
    tempo_reply_release(r);
    cr_assert(has_header(0, "\r\nAuthorization: Bearer first-token\r\n"), "%s", req_headers(0));
    /* rotate the way kubelet does: a new file renamed over the old one (new inode) */
    char *next = write_tmp("second-token");
    cr_assert_eq(rename(next, tok), 0);
    cr_assert_eq(get(tc, "/api/a", &r, NULL), TA_OK);
    tempo_reply_release(r);
    cr_assert(has_header(1, "\r\nAuthorization: Bearer second-token\r\n"), "%s", req_headers(1));
    tempo_client_free(tc);
    unlink(tok);
    free(tok);
    free(next);
}

Test(tempo_client, basic_auth_header_is_base64_of_the_file)
{
    char *f = write_tmp("123456:glc_secret\n");
    struct tempo_client_config c = cfg();
    c.basic_auth_file = f;
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/a", &r, NULL), TA_OK);
    tempo_reply_release(r);
    /* base64("123456:glc_secret") */
    cr_assert(has_header(0, "\r\nAuthorization: Basic MTIzNDU2OmdsY19zZWNyZXQ=\r\n"), "%s",
              req_headers(0));
    tempo_client_free(tc);
    unlink(f);
    free(f);
}

Test(tempo_client, secrets_never_appear_in_logs_at_v10)
{
    char logpath[] = "/tmp/ta-tempo-log-XXXXXX";
    int lfd = mkstemp(logpath);
    log_set_fd(lfd);
    log_set_verbosity(10);
    char *f = write_tmp("user:hunter2-password\n");
    char u[160];
    snprintf(u, sizeof(u), "http://urluser:urlpass@127.0.0.1:%d", th_port());
    struct tempo_client_config c = cfg();
    c.url = u;
    c.basic_auth_file = f;
    char *h[] = { "X-Api-Key=key-value-secret" };
    c.headers = h;
    c.nheaders = 1;
    struct tempo_client *tc = client(&c);
    cr_assert(strncmp(tempo_client_url(tc), "http://***@127.0.0.1:", 21) == 0, "%s",
              tempo_client_url(tc));
    th_script((struct th_resp){ .status = 503, .body = "not ready" });
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/metrics/query?q=x", &r, NULL), TA_OK);
    tempo_reply_release(r);
    tempo_client_free(tc);
    log_set_fd(2);
    char text[65536];
    lseek(lfd, 0, SEEK_SET);
    ssize_t n = read(lfd, text, sizeof(text) - 1);
    cr_assert_gt(n, 0);
    text[n] = '\0';
    close(lfd);
    unlink(logpath);
    cr_assert_null(strstr(text, "hunter2"), "%s", text);
    cr_assert_null(strstr(text, "dXNlcjpodW50ZXIy"), "no base64 of the secret: %s", text);
    cr_assert_null(strstr(text, "urlpass"), "%s", text);
    cr_assert_null(strstr(text, "key-value-secret"), "%s", text);
    cr_assert_not_null(strstr(text, f), "the file name is logged: %s", text);
    cr_assert_not_null(strstr(text, "tempo answered 503 for /api/metrics/query; retry 1 of 2"),
                       "%s", text);
    unlink(f);
    free(f);
}

/* ---- retries ------------------------------------------------------------------------------- */

Test(tempo_client, retries_429_then_succeeds)
{
    th_script((struct th_resp){ .status = 429, .ctype = "text/plain", .body = "job queue full" });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/metrics/query?q=a", &r, NULL), TA_OK);
    cr_assert_eq(r->attempts, 2);
    tempo_reply_release(r);
    struct tempo_client_stats st;
    tempo_client_get_stats(tc, &st);
    cr_assert_eq(st.requests, 2);
    cr_assert_eq(st.retries, 1);
    cr_assert_eq(st.failures, 0);
    tempo_client_free(tc);
}

Test(tempo_client, gives_up_after_max_attempts_with_a_precise_message)
{
    th_set_default(
        (struct th_resp){ .status = 429, .ctype = "text/plain", .body = "job queue full\n" });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = (struct tempo_reply *)0x1;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/metrics/query?q=a&start=1&end=2", &r, &err), TA_UPSTREAM);
    cr_assert_null(r);
    cr_assert_str_eq(err.msg, "tempo: GET /api/metrics/query: 429 job queue full after 3 attempts");
    cr_assert_eq(th_nreq(), 3);
    tempo_client_free(tc);
}

Test(tempo_client, retries_502_503_504_and_plain_500)
{
    int codes[] = { 502, 503, 504, 500 };
    for (int i = 0; i < 4; i++)
        th_script(
            (struct th_resp){ .status = codes[i], .ctype = "text/plain", .body = "transient" });
    struct tempo_client_config c = cfg();
    c.max_attempts = 5;
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/a", &r, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(r->attempts, 5);
    tempo_reply_release(r);
    tempo_client_free(tc);
}

Test(tempo_client, never_retries_client_errors)
{
    static const struct {
        int status;
        const char *body;
        enum ta_rc rc;
        const char *msg;
    } cases[] = {
        { 400, "invalid TraceQL query: parse error at line 1, col 3", TA_UPSTREAM,
          "tempo: GET /api/metrics/query: 400 invalid TraceQL query: parse error at line 1, col 3" },
        { 401, "no org id", TA_UPSTREAM,
          "tempo: GET /api/metrics/query: 401 no org id (multi-tenant Tempo: set --tempo-tenant)" },
        { 403, "forbidden", TA_UPSTREAM, "tempo: GET /api/metrics/query: 403 forbidden" },
        { 404, "", TA_NOT_FOUND, "tempo: GET /api/metrics/query: 404 not found" },
        { 422, "trace exceeds max size", TA_UPSTREAM,
          "tempo: GET /api/metrics/query: 422 trace exceeds max size" },
        { 500, "localblocks processor not found", TA_UPSTREAM,
          "tempo: GET /api/metrics/query: 500 localblocks processor not found (a Tempo "
          "configuration problem)" },
    };
    struct tempo_client_config c = cfg();
    c.memo_ns = -1;
    struct tempo_client *tc = client(&c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_script((struct th_resp){
            .status = cases[i].status, .ctype = "text/plain", .body = cases[i].body });
        int before = th_nreq();
        struct tempo_reply *r = NULL;
        struct ta_err err;
        cr_assert_eq(get(tc, "/api/metrics/query?q=1", &r, &err), cases[i].rc, "%d",
                     cases[i].status);
        cr_assert_str_eq(err.msg, cases[i].msg);
        cr_assert_eq(th_nreq(), before + 1, "%d must not be retried", cases[i].status);
    }
    tempo_client_free(tc);
}

Test(tempo_client, connection_reset_and_truncated_body_are_retried)
{
    th_script((struct th_resp){ .mode = TH_CLOSE });
    th_script((struct th_resp){ .status = 200, .body = "{\"partial", .mode = TH_TRUNCATE });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/a", &r, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(r->attempts, 3);
    cr_assert_eq(memcmp(r->body.ptr, "{\"ok\":true}", r->body.len), 0);
    tempo_reply_release(r);
    tempo_client_free(tc);
}

Test(tempo_client, connection_refused_is_retried_then_reported)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd); /* a port nobody listens on */
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", ntohs(a.sin_port));
    struct tempo_client_config c = cfg();
    c.url = u;
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/status/buildinfo", &r, &err), TA_UPSTREAM);
    cr_assert(strncmp(err.msg, "tempo: GET /api/status/buildinfo: ", 34) == 0, "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "after 3 attempts"), "%s", err.msg);
    struct tempo_client_stats st;
    tempo_client_get_stats(tc, &st);
    cr_assert_eq(st.requests, 3);
    cr_assert_eq(st.failures, 1);
    tempo_client_free(tc);
}

Test(tempo_client, no_retry_request_makes_one_attempt)
{
    th_set_default((struct th_resp){ .status = 503, .ctype = "text/plain", .body = "starting" });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_request req = { SLICE_LIT("/ready"), TEMPO_ACCEPT_JSON, true, false };
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(tempo_client_get(tc, &req, &r, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tempo: GET /ready: 503 starting");
    cr_assert_eq(th_nreq(), 1);
    tempo_client_free(tc);
}

Test(tempo_client, retry_after_is_honoured_up_to_the_backoff_cap)
{
    th_script((struct th_resp){ .status = 429, .body = "slow down", .extra = "Retry-After: 3600" });
    struct tempo_client_config c = cfg(); /* backoff_max 4 ms caps the hour */
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/a", &r, NULL), TA_OK);
    tempo_reply_release(r);
    tempo_client_free(tc);
}

/* ---- limits -------------------------------------------------------------------------------- */

Test(tempo_client, timeout_is_reported_and_not_retried)
{
    th_set_default((struct th_resp){ .status = 200, .body = "{}", .delay_ms = 3000 });
    struct tempo_client_config c = cfg();
    c.timeout_ns = 200000000LL;
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/metrics/query?q=slow", &r, &err), TA_TIMEOUT);
    cr_assert_str_eq(err.msg, "tempo: GET /api/metrics/query: timeout after 200ms");
    cr_assert_eq(th_nreq(), 1);
    tempo_client_free(tc);
}

Test(tempo_client, body_cap_counts_decompressed_bytes)
{
    th_script((struct th_resp){ .status = 200, .huge_len = TEMPO_BODY_MAX + 1, .gzip = true });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/search?q=x", &r, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "tempo: GET /api/search: answer larger than 16777216 bytes");
    cr_assert_eq(th_nreq(), 1, "an oversized answer is not retried");
    tempo_client_free(tc);
}

Test(tempo_client, body_exactly_at_the_cap_is_accepted)
{
    th_script((struct th_resp){ .status = 200, .huge_len = TEMPO_BODY_MAX, .gzip = true });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/search?q=x", &r, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(r->body.len, TEMPO_BODY_MAX);
    tempo_reply_release(r);
    tempo_client_free(tc);
}

Test(tempo_client, rejects_bad_paths)
{
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "api/a", &r, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "tempo: request path must start with '/'");
    cr_assert_eq(get(tc, "", &r, &err), TA_INVALID);
    struct tempo_request req = { slice_make("/a\0b", 4), TEMPO_ACCEPT_JSON, false, false };
    cr_assert_eq(tempo_client_get(tc, &req, &r, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "tempo: request path contains a NUL byte");
    char *big = malloc(TEMPO_URL_MAX + 2);
    big[0] = '/';
    memset(big + 1, 'a', TEMPO_URL_MAX);
    big[TEMPO_URL_MAX + 1] = '\0';
    cr_assert_eq(get(tc, big, &r, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "tempo: request URL longer than 524288 bytes");
    free(big);
    cr_assert_eq(th_nreq(), 0);
    tempo_client_free(tc);
}

/* ---- sharing ------------------------------------------------------------------------------- */

struct getter {
    struct tempo_client *tc;
    const char *path;
    enum ta_rc rc;
    size_t len;
};

static void *getter_main(void *arg)
{
    struct getter *g = arg;
    struct tempo_reply *r = NULL;
    g->rc = get(g->tc, g->path, &r, NULL);
    if (r)
        g->len = r->body.len;
    tempo_reply_release(r);
    return NULL;
}

static void wait_requests(int n)
{
    th_wait_requests(n);
    cr_assert_geq(th_nreq(), n);
}

Test(tempo_client, singleflight_shares_one_call_among_identical_requests)
{
    struct tempo_client_config c = cfg();
    c.memo_ns = -1; /* only requests in flight at once are shared */
    struct tempo_client *tc = client(&c);
    th_hold(true);
    enum {
        N = 8
    };
    struct getter g[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        g[i] = (struct getter){ tc, "/api/metrics/query?q=same", TA_INTERNAL, 0 };
        pthread_create(&th[i], NULL, getter_main, &g[i]);
        if (i == 0)
            wait_requests(1); /* the leader's request is held by the server */
    }
    usleep(300000); /* let the followers join the flight */
    th_hold(false);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(g[i].rc, TA_OK);
        cr_assert_eq(g[i].len, strlen("{\"ok\":true}"));
    }
    cr_assert_eq(th_nreq(), 1);
    struct tempo_client_stats st;
    tempo_client_get_stats(tc, &st);
    cr_assert_eq(st.shared, N - 1);
    cr_assert_eq(st.requests, 1);
    tempo_client_free(tc);
}

Test(tempo_client, followers_share_the_failure_too)
{
    struct tempo_client_config c = cfg();
    c.memo_ns = -1;
    c.max_attempts = 1;
    th_set_default((struct th_resp){ .status = 400, .body = "bad" });
    struct tempo_client *tc = client(&c);
    th_hold(true);
    struct getter g[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (struct getter){ tc, "/api/x", TA_INTERNAL, 0 };
        pthread_create(&th[i], NULL, getter_main, &g[i]);
        if (i == 0)
            wait_requests(1);
    }
    usleep(200000);
    th_hold(false);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(g[i].rc, TA_UPSTREAM);
    }
    cr_assert_eq(th_nreq(), 1);
    /* a failure is not memoized: the next call asks again */
    struct tempo_reply *r = NULL;
    cr_assert_eq(get(tc, "/api/x", &r, NULL), TA_UPSTREAM);
    cr_assert_eq(th_nreq(), 2);
    tempo_client_free(tc);
}

Test(tempo_client, memo_answers_identical_requests_for_a_while)
{
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_reply *r1 = NULL, *r2 = NULL, *r3 = NULL;
    cr_assert_eq(get(tc, "/api/metrics/query?q=m", &r1, NULL), TA_OK);
    cr_assert_eq(get(tc, "/api/metrics/query?q=m", &r2, NULL), TA_OK);
    cr_assert_eq(r1, r2, "the same shared reply");
    cr_assert_eq(th_nreq(), 1);
    struct tempo_request req = { SLICE_LIT("/api/metrics/query?q=m"), TEMPO_ACCEPT_JSON, false,
                                 true };
    cr_assert_eq(tempo_client_get(tc, &req, &r3, NULL), TA_OK);
    cr_assert_eq(th_nreq(), 2, "no_memo always asks Tempo");
    /* a different Accept is a different request */
    struct tempo_request pb = { SLICE_LIT("/api/metrics/query?q=m"), TEMPO_ACCEPT_PROTOBUF, false,
                                false };
    struct tempo_reply *r4 = NULL;
    cr_assert_eq(tempo_client_get(tc, &pb, &r4, NULL), TA_OK);
    cr_assert_eq(th_nreq(), 3);
    cr_assert(has_header(2, "\r\nAccept: application/protobuf\r\n"));
    struct tempo_client_stats st;
    tempo_client_get_stats(tc, &st);
    cr_assert_eq(st.memo_hits, 1);
    tempo_reply_release(r1);
    tempo_reply_release(r2);
    tempo_reply_release(r3);
    tempo_reply_release(r4);
    tempo_client_free(tc);
}

Test(tempo_client, protobuf_content_type_is_reported)
{
    th_set_default(
        (struct th_resp){ .status = 200, .ctype = "application/protobuf", .body = "\x0a\x00" });
    struct tempo_client_config c = cfg();
    struct tempo_client *tc = client(&c);
    struct tempo_request req = { SLICE_LIT("/api/v2/traces/1"), TEMPO_ACCEPT_PROTOBUF, false,
                                 true };
    struct tempo_reply *r = NULL;
    cr_assert_eq(tempo_client_get(tc, &req, &r, NULL), TA_OK);
    cr_assert(r->protobuf);
    tempo_reply_release(r);
    tempo_client_free(tc);
}

Test(tempo_client, at_most_max_concurrency_requests_in_flight)
{
    th_set_default((struct th_resp){ .status = 200, .body = "{}", .delay_ms = 100 });
    struct tempo_client_config c = cfg();
    c.max_concurrency = 2;
    struct tempo_client *tc = client(&c);
    enum {
        N = 6
    };
    static const char *const paths[N] = { "/a", "/b", "/c", "/d", "/e", "/f" };
    struct getter g[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        g[i] = (struct getter){ tc, paths[i], TA_INTERNAL, 0 };
        pthread_create(&th[i], NULL, getter_main, &g[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(g[i].rc, TA_OK);
    }
    cr_assert_eq(th_nreq(), N);
    cr_assert_leq(th_max_inflight(), 2, "max in flight %d", th_max_inflight());
    cr_assert_eq(tempo_client_max_concurrency(tc), 2);
    tempo_client_free(tc);
}

struct stopper {
    struct tempo_client *tc;
};

static void *stop_main(void *arg)
{
    struct stopper *s = arg;
    wait_requests(1);
    tempo_client_stop(s->tc);
    return NULL;
}

Test(tempo_client, stop_aborts_a_transfer_in_progress)
{
    th_hold(true);
    struct tempo_client_config c = cfg();
    c.timeout_ns = 60000000000LL;
    struct tempo_client *tc = client(&c);
    struct stopper s = { tc };
    pthread_t th;
    pthread_create(&th, NULL, stop_main, &s);
    struct tempo_reply *r = NULL;
    struct ta_err err;
    cr_assert_eq(get(tc, "/api/metrics/query?q=held", &r, &err), TA_UNAVAILABLE);
    cr_assert_str_eq(err.msg, "tempo: GET /api/metrics/query: the adapter is shutting down");
    pthread_join(th, NULL);
    cr_assert_eq(get(tc, "/api/other", &r, &err), TA_UNAVAILABLE, "later calls fail at once");
    tempo_client_free(tc);
}

Test(tempo_client, config_error_bodies)
{
    cr_assert(tempo_client_is_config_error(SLICE_LIT("error finding generators: empty ring")));
    cr_assert(tempo_client_is_config_error(SLICE_LIT("time range must be within last 1h0m0s")));
    cr_assert(tempo_client_is_config_error(SLICE_LIT("localblocks processor not found")));
    cr_assert_not(tempo_client_is_config_error(SLICE_LIT("context canceled")));
    cr_assert_not(tempo_client_is_config_error(SLICE_NULL));
}

/* ---- secret_file --------------------------------------------------------------------------- */

Test(secret_file, reads_trims_and_rereads_on_change)
{
    char *p = write_tmp("  abc\r\n");
    struct secret_file *sf = NULL;
    cr_assert_eq(secret_file_open(p, 1, &sf, NULL), TA_OK);
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(secret_file_get(sf, &b), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "abc");
    cr_assert_eq(secret_file_generation(sf), 0);
    char *q = write_tmp("defg");
    cr_assert_eq(rename(q, p), 0);
    buf_reset(&b);
    cr_assert_eq(secret_file_get(sf, &b), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "defg");
    cr_assert_eq(secret_file_generation(sf), 1);
    cr_assert_str_eq(secret_file_path(sf), p);
    /* deleted: the last good value stays */
    unlink(p);
    buf_reset(&b);
    cr_assert_eq(secret_file_get(sf, &b), TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "defg");
    buf_free(&b);
    secret_file_free(sf);
    free(p);
    free(q);
}

Test(secret_file, errors_and_limits)
{
    struct secret_file *sf = (struct secret_file *)0x1;
    struct ta_err err;
    cr_assert_eq(secret_file_open("/nonexistent/token", 0, &sf, &err), TA_IO);
    cr_assert_str_eq(err.msg, "cannot open /nonexistent/token: No such file or directory");
    cr_assert_null(sf);
    char *e = write_tmp("\n\n");
    cr_assert_eq(secret_file_open(e, 0, &sf, &err), TA_INVALID);
    cr_assert_not_null(strstr(err.msg, "is empty"));
    char big[SECRET_FILE_MAX_BYTES + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[SECRET_FILE_MAX_BYTES + 1] = '\0';
    char *b = write_tmp(big);
    cr_assert_eq(secret_file_open(b, 0, &sf, &err), TA_TOO_LARGE);
    cr_assert_not_null(strstr(err.msg, "is larger than 16384 bytes"));
    big[SECRET_FILE_MAX_BYTES] = '\0';
    char *at = write_tmp(big);
    cr_assert_eq(secret_file_open(at, 0, &sf, &err), TA_OK, "%s", err.msg);
    secret_file_free(sf);
    cr_assert_eq(secret_file_open("/tmp", 0, &sf, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "/tmp is not a regular file");
    int fd = open(e, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, "a\0b", 3), 3);
    close(fd);
    cr_assert_eq(secret_file_open(e, 0, &sf, &err), TA_INVALID);
    cr_assert_not_null(strstr(err.msg, "contains a NUL byte"));
    secret_file_free(NULL);
    unlink(e);
    unlink(b);
    unlink(at);
    free(e);
    free(b);
    free(at);
}
