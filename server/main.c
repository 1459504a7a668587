/* main.c — tempo-adapter: parse flags, load rules, wire the parts, serve, shut down cleanly.
 *
 * Startup order: flags → logging → rules → trace source (Tempo or the embedded store) → value
 * cache → authentication → serving certificate → listeners. Then the main thread only handles
 * signals (SIGTERM/SIGINT: shut down; SIGHUP: reload rules) and periodic chores (rules file
 * changes, the --insecure-disable-auth warning). Every other thread is started after the
 * signals are blocked, so signals reach only this thread. Shutdown: stop accepting, let requests
 * in flight finish (at most SHUTDOWN_GRACE_NS), answer the rest 503, stop threads, free. The only
 * place that calls exit(). */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/embedded.h"
#include "apis/openapi.h"
#include "rules/cache.h"
#include "rules/rules.h"
#include "server/api.h"
#include "server/app.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/flags.h"
#include "server/http.h"
#include "server/ingest.h"
#include "server/servingcert.h"
#include "server/sources.h"
#include "server/tls.h"
#include "server/workpool.h"

#ifndef TA_VERSION
#define TA_VERSION "0.1.0"
#endif

#define SHUTDOWN_GRACE_NS  (3LL * NS_PER_SEC)  /* in-flight requests may finish within it */
#define RELOAD_POLL_NS     (5LL * NS_PER_SEC)  /* how often the rules file is checked */
#define INSECURE_WARN_NS   (60LL * NS_PER_SEC) /* --insecure-disable-auth reminder */
#define AUTH_WORKERS       8                   /* threads for requests waiting on reviews */
#define DEFAULT_RULES_PATH "rules/default.yaml"

/* Exit codes: 0 clean shutdown, 1 startup failure, 2 bad command line. */
#define EXIT_STARTUP 1
#define EXIT_USAGE   2

static int fail_startup(const char *what, const struct ta_err *err)
{
    LOG_ERROR("%s: %s", what, err->msg);
    fprintf(stderr, "tempo-adapter: %s: %s\n", what, err->msg);
    return EXIT_STARTUP;
}

static enum ta_rc load_rules(const struct flags *f, struct rules **out, struct ta_err *err)
{
    if (f->config)
        return rules_load_file(f->config, out, err);
    struct slice def = embedded_get(DEFAULT_RULES_PATH);
    return rules_load_bytes(def, "<built-in default rules>", out, err);
}

/* -- rules reload -------------------------------------------------------------------------- */

struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool valid;
};

static struct file_stamp stamp_of(const char *path)
{
    struct file_stamp s = { 0 };
    struct stat st;
    if (path && stat(path, &st) == 0) { /* follows the ConfigMap's ..data symlinks */
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtime = st.st_mtim;
        s.valid = true;
    }
    return s;
}

static bool stamp_changed(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->valid != b->valid || a->dev != b->dev || a->ino != b->ino || a->size != b->size ||
           a->mtime.tv_sec != b->mtime.tv_sec || a->mtime.tv_nsec != b->mtime.tv_nsec;
}

static void reload_rules(struct app *app, const char *why)
{
    struct ta_err err = { 0 };
    struct rules *rules = NULL;
    if (load_rules(app->flags, &rules, &err) != TA_OK) {
        atomic_fetch_add(&app->reload_errors, 1);
        LOG_ERROR("rules reload (%s) rejected, keeping the current rules: %s", why, err.msg);
        return;
    }
    sources_rules_changed(app, rules);
    cache_set_rules(app->cache, rules);
    LOG_INFO("rules reloaded (%s) from %s: %zu rules", why, rules->source, rules->n);
    config_publish(rules);
    atomic_fetch_add(&app->reloads, 1);
}

/* -- startup helpers ----------------------------------------------------------------------- */

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            LOG_WARN("cannot raise the open-file limit: %s", strerror(errno));
    }
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 256 ? (unsigned)n : 1;
}

/* The self-signed certificate of --cert-dir (local use). */
static enum ta_rc start_self_signed(const struct flags *f, struct ta_err *err)
{
    struct buf cert, key;
    buf_init(&cert, TLS_PEM_FILE_MAX);
    buf_init(&key, TLS_PEM_FILE_MAX);
    enum ta_rc rc = tls_serving_load(f, &cert, &key, err);
    if (rc == TA_OK)
        rc = tls_serving_install(buf_slice(&cert), buf_slice(&key), err);
    buf_free(&cert);
    buf_free(&key);
    return rc;
}

/* The serving identity: kept in a Secret (--manage-serving-cert), read from files that are
 * re-read when they change (--tls-cert-file, e.g. cert-manager's), or self-signed. */
static enum ta_rc start_tls(struct app *app, struct ta_err *err)
{
    const struct flags *f = app->flags;
    if (f->manage_serving_cert)
        return servingcert_start(f, &app->servingcert, err);
    if (f->tls_cert_file)
        return servingcert_watch_files(f, &app->servingcert, err);
    return start_self_signed(f, err);
}

/* The OTLP receiver (embedded store only) starts first: the API handler reads
 * app->otlp_server for /metrics, so it must be set before the API's threads exist. */
static enum ta_rc start_otlp(struct app *app, struct ta_err *err)
{
    const struct flags *f = app->flags;
    if (!app->store || !f->otlp_bind_address || !f->otlp_bind_address[0])
        return TA_OK;
    struct http_listen_config otlp = {
        .name = "otlp",
        .tls = false,
        .threads = cpu_count(),
        .body_max = INGEST_BODY_MAX,
        .handler = ingest_handle,
        .app = app,
    };
    enum ta_rc rc = netaddr_parse(f->otlp_bind_address, &otlp.addr, err);
    if (rc != TA_OK)
        return ta_err_prefix(err, "--otlp-bind-address");
    rc = http_server_start(&otlp, &app->otlp_server, err);
    if (rc == TA_OK)
        LOG_INFO("receiving OTLP/HTTP traces on http://%s/v1/traces", f->otlp_bind_address);
    return rc;
}

static enum ta_rc start_listeners(struct app *app, struct ta_err *err)
{
    const struct flags *f = app->flags;
    enum ta_rc rc = start_otlp(app, err);
    if (rc != TA_OK)
        return rc;
    struct http_listen_config api = {
        .name = "api",
        .tls = true,
        .threads = cpu_count(),
        .body_max = API_BODY_MAX,
        .handler = api_handle,
        .app = app,
        .error_body = api_error_body,
    };
    rc = netaddr_from_host_port(f->bind_address, f->secure_port, &api.addr, err);
    if (rc != TA_OK)
        return ta_err_prefix(err, "--bind-address");
    rc = http_server_start(&api, &app->api_server, err);
    if (rc == TA_OK)
        LOG_INFO("serving external.metrics.k8s.io/v1beta1 on https://%s:%d", f->bind_address,
                 http_server_port(app->api_server));
    return rc;
}

/* -- the main thread's loop ---------------------------------------------------------------- */

static void serve_until_signal(struct app *app, const sigset_t *sigs)
{
    const struct flags *f = app->flags;
    struct file_stamp stamp = stamp_of(f->config);
    int64_t next_poll = clock_mono_ns() + RELOAD_POLL_NS;
    int64_t next_warn = clock_mono_ns() + INSECURE_WARN_NS;
    for (;;) {
        struct timespec tick = { 1, 0 };
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            LOG_INFO("received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        if (sig == SIGHUP) {
            reload_rules(app, "SIGHUP");
            stamp = stamp_of(f->config);
        }
        int64_t now = clock_mono_ns();
        if (f->config && now >= next_poll) {
            next_poll = now + RELOAD_POLL_NS;
            struct file_stamp s = stamp_of(f->config);
            if (stamp_changed(&s, &stamp)) {
                stamp = s;
                reload_rules(app, "file changed");
            }
        }
        if (f->insecure_disable_auth && now >= next_warn) {
            next_warn = now + INSECURE_WARN_NS;
            LOG_WARN("--insecure-disable-auth is set: every request is served without "
                     "authentication or authorization");
        }
        sources_tick(app);
    }
}

static void shut_down(struct app *app)
{
    http_server_quiesce(app->api_server);
    http_server_quiesce(app->otlp_server);
    int64_t deadline = clock_mono_ns() + SHUTDOWN_GRACE_NS;
    while (clock_mono_ns() < deadline &&
           http_server_inflight(app->api_server) + http_server_inflight(app->otlp_server) > 0) {
        struct timespec ms = { 0, 10 * 1000 * 1000 };
        nanosleep(&ms, NULL);
    }
    http_server_stop(app->api_server); /* answers 503 to anything still waiting */
    http_server_stop(app->otlp_server);
    app->api_server = app->otlp_server = NULL;
    workpool_free(app->pool); /* jobs in flight end; they see their exchange answered */
    app->pool = NULL;
    cache_free(app->cache); /* wakes the remaining waiters: their exchanges are answered */
    app->cache = NULL;
    auth_free(app->auth);
    app->auth = NULL;
    sources_free(app);
    openapi_free(app->openapi);
    app->openapi = NULL;
    servingcert_free(app->servingcert); /* its thread may install identities: stop it first */
    app->servingcert = NULL;
    tls_serving_shutdown();
    config_shutdown();
}

int main(int argc, char **argv)
{
    struct flags flags;
    struct ta_err err = { 0 };
    if (flags_parse(argc, argv, &flags, &err) != TA_OK) {
        fprintf(stderr, "tempo-adapter: %s\n", err.msg);
        flags_free(&flags);
        return EXIT_USAGE;
    }
    if (flags.show_help || flags.show_version) {
        if (flags.show_help)
            flags_usage(stdout);
        else
            printf("tempo-adapter %s\n", TA_VERSION);
        flags_free(&flags);
        return 0;
    }
    log_set_verbosity(flags.verbosity);
    log_set_format(strcmp(flags.log_format, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);

    /* Signals are handled by this thread only: block them before any thread exists. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    static struct app app; /* zeroed; lives until exit */
    app.flags = &flags;
    app.started_ns = clock_wall_ns();
    int code = 0;
    LOG_INFO("tempo-adapter %s starting (pid %d)", TA_VERSION, (int)getpid());

    struct rules *rules = NULL;
    if (load_rules(&flags, &rules, &err) != TA_OK) {
        code = fail_startup("rules", &err);
        goto out;
    }
    LOG_INFO("loaded %zu rules from %s", rules->n, rules->source);
    config_publish(rules); /* the snapshot owns this reference */

    struct rules *snap = config_acquire();
    enum ta_rc rc = sources_start(&app, snap, &err);
    config_release(snap);
    if (rc != TA_OK) {
        code = fail_startup("trace source", &err);
        goto out;
    }
    struct cache_config cc = {
        .source = app.source,
        .query_delay_ns = sources_query_delay_ns(&app),
        .workers = flags.workers,
    };
    if (cache_new(&cc, &app.cache, &err) != TA_OK) {
        code = fail_startup("value cache", &err);
        goto out;
    }
    snap = config_acquire();
    cache_set_rules(app.cache, snap);
    config_release(snap);
    if (cache_start(app.cache, &err) != TA_OK) {
        code = fail_startup("value cache", &err);
        goto out;
    }
    if (flags.insecure_disable_auth) {
        LOG_WARN("--insecure-disable-auth is set: every request is served without "
                 "authentication or authorization; use it only on a laptop");
    } else if (auth_new(&flags, &app.auth, &err) != TA_OK) {
        code = fail_startup("authentication", &err);
        goto out;
    }
    if (workpool_new(AUTH_WORKERS, &app.pool, &err) != TA_OK) {
        code = fail_startup("worker threads", &err);
        goto out;
    }
    if (openapi_new_embedded(&app.openapi, &err) != TA_OK) {
        code = fail_startup("OpenAPI documents", &err);
        goto out;
    }
    if (start_tls(&app, &err) != TA_OK) {
        code = fail_startup("serving certificate", &err);
        goto out;
    }
    if (start_listeners(&app, &err) != TA_OK) {
        code = fail_startup("listen", &err);
        goto out;
    }
    serve_until_signal(&app, &sigs);
out:
    shut_down(&app);
    flags_free(&flags);
    curl_global_cleanup();
    if (code == 0)
        LOG_INFO("stopped");
    return code;
}
