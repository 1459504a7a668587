/* ingest.c — OTLP/HTTP requests to otlp_receive, with the keep set of the current rules.
 *
 * The keep set is shared by concurrent requests and replaced on reload: a small reference-
 * counted holder; struct ingest_keep.mu guards only the swap of its pointer. */
#include "server/ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "server/otlp_receiver.h"

struct keep_ref {
    atomic_int refs;
    struct otlp_keep *keep;
};

struct ingest_keep {
    pthread_mutex_t mu;
    struct keep_ref *current; /* guarded by mu */
};

static void keep_unref(struct keep_ref *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1) {
        otlp_keep_free(k->keep);
        free(k);
    }
}

static struct keep_ref *keep_acquire(struct ingest_keep *ik)
{
    pthread_mutex_lock(&ik->mu);
    struct keep_ref *k = ik->current;
    if (k)
        atomic_fetch_add(&k->refs, 1);
    pthread_mutex_unlock(&ik->mu);
    return k;
}

void ingest_set_rules(struct app *app, const struct rules *rules)
{
    if (!app->keep) {
        app->keep = ta_xcalloc(1, sizeof(*app->keep));
        pthread_mutex_init(&app->keep->mu, NULL);
    }
    struct keep_ref *k = ta_xcalloc(1, sizeof(*k));
    atomic_init(&k->refs, 1);
    k->keep = otlp_keep_from_rules(rules);
    pthread_mutex_lock(&app->keep->mu);
    struct keep_ref *old = app->keep->current;
    app->keep->current = k;
    pthread_mutex_unlock(&app->keep->mu);
    keep_unref(old);
}

void ingest_free(struct app *app)
{
    if (!app->keep)
        return;
    keep_unref(app->keep->current);
    pthread_mutex_destroy(&app->keep->mu);
    free(app->keep);
    app->keep = NULL;
}

static void respond_text(struct http_exchange *x, int status, const char *text)
{
    struct buf b;
    buf_init(&b, 256);
    if (buf_adds(&b, text) != TA_OK)
        buf_free(&b);
    http_respond(x, status, OTLP_CONTENT_TEXT, &b);
}

void ingest_handle(void *appv, struct http_exchange *x)
{
    struct app *app = appv;
    const struct request *req = http_exchange_request(x);
    if (!slice_eq_cstr(req->path, "/v1/traces")) {
        respond_text(x, 404, "not found: OTLP/HTTP traces are received at /v1/traces\n");
        return;
    }
    if (!slice_eq_cstr(req->method, "POST")) {
        http_add_header(x, "Allow", SLICE_LIT("POST"));
        respond_text(x, 405, "method not allowed: use POST\n");
        return;
    }
    const struct slice *ct = request_header(req, SLICE_LIT("Content-Type"));
    const struct slice *ce = request_header(req, SLICE_LIT("Content-Encoding"));
    struct keep_ref *k = app->keep ? keep_acquire(app->keep) : NULL;
    struct otlp_receiver_config cfg = { .keep = k ? k->keep : NULL };
    struct otlp_response resp;
    enum ta_rc rc = otlp_receive(app->store, &cfg, ct ? *ct : SLICE_NULL, ce ? *ce : SLICE_NULL,
                                 http_exchange_body(x), &resp);
    keep_unref(k);
    if (rc != TA_OK || resp.rejected)
        LOG_V(2, "otlp: %d from %.*s: stored %llu, rejected %llu%s%s", resp.status,
              SLICE_ARG(req->remote_addr), (unsigned long long)resp.stored,
              (unsigned long long)resp.rejected, resp.message[0] ? ": " : "", resp.message);
    if (resp.retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%d", resp.retry_after_s);
        http_add_header(x, "Retry-After", slice_from_cstr(ra));
    }
    http_respond(x, resp.status, resp.content_type, &resp.body);
    otlp_response_free(&resp);
}
