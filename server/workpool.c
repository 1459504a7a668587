/* workpool.c — fixed threads taking jobs from a bounded FIFO. One mutex (mu) guards the queue
 * and the stopping flag; jobs run without it. */
#include "server/workpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "apis/base/ta_mem.h"

struct job {
    workpool_fn fn;
    void *arg;
};

struct workpool {
    pthread_t *threads;
    int nthreads;
    struct {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct job *ring; /* guarded by mu */
        size_t head, count;
        bool stopping;
    } shared;
};

static void *worker(void *arg)
{
    struct workpool *wp = arg;
    for (;;) {
        pthread_mutex_lock(&wp->shared.mu);
        while (wp->shared.count == 0 && !wp->shared.stopping)
            pthread_cond_wait(&wp->shared.cv, &wp->shared.mu);
        if (wp->shared.count == 0) {
            pthread_mutex_unlock(&wp->shared.mu);
            return NULL;
        }
        struct job j = wp->shared.ring[wp->shared.head];
        wp->shared.head = (wp->shared.head + 1) % WORKPOOL_QUEUE_MAX;
        wp->shared.count--;
        pthread_mutex_unlock(&wp->shared.mu);
        j.fn(j.arg);
    }
}

enum ta_rc workpool_new(int threads, struct workpool **out, struct ta_err *err)
{
    *out = NULL;
    if (threads < 1)
        return ta_err_set(err, TA_INVALID, "workpool needs at least one thread");
    struct workpool *wp = ta_xcalloc(1, sizeof(*wp));
    wp->shared.ring = ta_xcalloc(WORKPOOL_QUEUE_MAX, sizeof(struct job));
    pthread_mutex_init(&wp->shared.mu, NULL);
    pthread_cond_init(&wp->shared.cv, NULL);
    wp->threads = ta_xcalloc((size_t)threads, sizeof(pthread_t));
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&wp->threads[i], NULL, worker, wp) != 0) {
            workpool_free(wp);
            return ta_err_set(err, TA_INTERNAL, "cannot start worker thread");
        }
        wp->nthreads++;
    }
    *out = wp;
    return TA_OK;
}

enum ta_rc workpool_submit(struct workpool *wp, workpool_fn fn, void *arg)
{
    pthread_mutex_lock(&wp->shared.mu);
    if (wp->shared.stopping || wp->shared.count == WORKPOOL_QUEUE_MAX) {
        pthread_mutex_unlock(&wp->shared.mu);
        return TA_TOO_LARGE;
    }
    size_t tail = (wp->shared.head + wp->shared.count) % WORKPOOL_QUEUE_MAX;
    wp->shared.ring[tail] = (struct job){ fn, arg };
    wp->shared.count++;
    pthread_cond_signal(&wp->shared.cv);
    pthread_mutex_unlock(&wp->shared.mu);
    return TA_OK;
}

void workpool_free(struct workpool *wp)
{
    if (!wp)
        return;
    pthread_mutex_lock(&wp->shared.mu);
    wp->shared.stopping = true;
    pthread_cond_broadcast(&wp->shared.cv);
    pthread_mutex_unlock(&wp->shared.mu);
    for (int i = 0; i < wp->nthreads; i++)
        pthread_join(wp->threads[i], NULL);
    pthread_cond_destroy(&wp->shared.cv);
    pthread_mutex_destroy(&wp->shared.mu);
    free(wp->threads);
    free(wp->shared.ring);
    free(wp);
}
