/* test_workpool.c — the worker pool: every job runs, free drains the queue, submissions are
 * refused while the pool stops or once WORKPOOL_QUEUE_MAX jobs wait behind blocked workers.
 * Workers are blocked on a gate (mutex + condition variable) the test opens; every wait is
 * bounded (GATE_WAIT_S) so a broken pool fails the test instead of hanging it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "server/workpool.h"

#define GATE_WAIT_S 20

/* Jobs that block until the gate opens, and count how many have started. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;    /* guarded by mu */
    int started;  /* guarded by mu */
    int timeouts; /* guarded by mu: gate jobs that gave up waiting */
};

static struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0 };
static atomic_int ran;

static struct timespec deadline(int s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += s;
    return ts;
}

static void gate_job(void *arg)
{
    (void)arg;
    struct timespec until = deadline(GATE_WAIT_S);
    pthread_mutex_lock(&g.mu);
    g.started++;
    pthread_cond_broadcast(&g.cv);
    int rc = 0;
    while (!g.open && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g.cv, &g.mu, &until);
    if (!g.open)
        g.timeouts++;
    pthread_mutex_unlock(&g.mu);
    atomic_fetch_add(&ran, 1);
}

/* Waits (bounded) until n gate jobs have started; true when they have. */
static bool gate_wait_started(int n)
{
    struct timespec until = deadline(GATE_WAIT_S);
    pthread_mutex_lock(&g.mu);
    int rc = 0;
    while (g.started < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g.cv, &g.mu, &until);
    bool ok = g.started >= n;
    pthread_mutex_unlock(&g.mu);
    return ok;
}

static void gate_open(void)
{
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static int gate_timeouts(void)
{
    pthread_mutex_lock(&g.mu);
    int n = g.timeouts;
    pthread_mutex_unlock(&g.mu);
    return n;
}

static void count_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

Test(workpool, needs_at_least_one_thread)
{
    struct workpool *wp = (struct workpool *)&wp; /* not NULL before the call */
    struct ta_err err = { 0 };
    cr_assert_eq(workpool_new(0, &wp, &err), TA_INVALID);
    cr_assert_null(wp);
    cr_assert_str_eq(err.msg, "workpool needs at least one thread");
    cr_assert_eq(workpool_new(-3, &wp, NULL), TA_INVALID);
    cr_assert_null(wp);
}

Test(workpool, free_of_null_is_fine)
{
    workpool_free(NULL);
}

Test(workpool, every_submitted_job_runs)
{
    struct workpool *wp = NULL;
    cr_assert_eq(workpool_new(4, &wp, NULL), TA_OK);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_OK);
    workpool_free(wp);
    cr_assert_eq(atomic_load(&ran), 1000);
}

struct arg_seen {
    atomic_int sum;
    pthread_t submitter;
    atomic_int on_submitter; /* jobs that ran on the submitting thread */
};

struct job_arg {
    struct arg_seen *seen;
    int value;
};

static void arg_job(void *arg)
{
    const struct job_arg *a = arg;
    atomic_fetch_add(&a->seen->sum, a->value);
    if (pthread_equal(pthread_self(), a->seen->submitter))
        atomic_fetch_add(&a->seen->on_submitter, 1);
}

Test(workpool, jobs_get_their_argument_on_a_pool_thread)
{
    struct arg_seen seen = { .submitter = pthread_self() };
    struct job_arg args[50];
    struct workpool *wp = NULL;
    cr_assert_eq(workpool_new(3, &wp, NULL), TA_OK);
    for (int i = 0; i < 50; i++) {
        args[i].seen = &seen;
        args[i].value = i + 1;
        cr_assert_eq(workpool_submit(wp, arg_job, &args[i]), TA_OK);
    }
    workpool_free(wp);
    cr_assert_eq(atomic_load(&seen.sum), 50 * 51 / 2);
    cr_assert_eq(atomic_load(&seen.on_submitter), 0);
}

/* Two jobs that each wait for the other: they finish only if two threads run them at once. */
struct rendezvous {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;  /* guarded by mu */
    int together; /* guarded by mu: jobs that saw both arrive */
};

static void meet_job(void *arg)
{
    struct rendezvous *r = arg;
    struct timespec until = deadline(GATE_WAIT_S);
    pthread_mutex_lock(&r->mu);
    r->arrived++;
    pthread_cond_broadcast(&r->cv);
    int rc = 0;
    while (r->arrived < 2 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
    if (r->arrived >= 2)
        r->together++;
    pthread_mutex_unlock(&r->mu);
}

Test(workpool, threads_run_jobs_at_the_same_time)
{
    struct rendezvous r = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
    struct workpool *wp = NULL;
    cr_assert_eq(workpool_new(2, &wp, NULL), TA_OK);
    cr_assert_eq(workpool_submit(wp, meet_job, &r), TA_OK);
    cr_assert_eq(workpool_submit(wp, meet_job, &r), TA_OK);
    workpool_free(wp);
    cr_assert_eq(r.together, 2);
}

struct submitter {
    struct workpool *wp;
    int n;
    int refused;
};

static void *submit_many(void *arg)
{
    struct submitter *s = arg;
    for (int i = 0; i < s->n; i++)
        if (workpool_submit(s->wp, count_job, NULL) != TA_OK)
            s->refused++;
    return NULL;
}

Test(workpool, any_thread_may_submit)
{
    struct workpool *wp = NULL;
    cr_assert_eq(workpool_new(2, &wp, NULL), TA_OK);
    pthread_t t[4];
    struct submitter s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct submitter){ wp, 500, 0 };
        cr_assert_eq(pthread_create(&t[i], NULL, submit_many, &s[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int refused = s[0].refused + s[1].refused + s[2].refused + s[3].refused;
    workpool_free(wp);
    cr_assert_eq(refused, 0, "2000 jobs fit the queue");
    cr_assert_eq(atomic_load(&ran), 2000);
}

Test(workpool, queue_refuses_past_its_limit_while_workers_are_blocked)
{
    struct workpool *wp = NULL;
    cr_assert_eq(workpool_new(2, &wp, NULL), TA_OK);
    cr_assert_eq(workpool_submit(wp, gate_job, NULL), TA_OK);
    cr_assert_eq(workpool_submit(wp, gate_job, NULL), TA_OK);
    cr_assert(gate_wait_started(2), "both workers took a gate job");
    /* both workers are blocked, the queue is empty: exactly WORKPOOL_QUEUE_MAX more fit */
    for (int i = 0; i < WORKPOOL_QUEUE_MAX; i++)
        cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_OK, "job %d", i);
    cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_TOO_LARGE);
    cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_TOO_LARGE);
    gate_open();
    workpool_free(wp);
    cr_assert_eq(gate_timeouts(), 0);
    cr_assert_eq(atomic_load(&ran), 2 + WORKPOOL_QUEUE_MAX, "refused jobs never run");
}

Test(workpool, queue_accepts_again_once_workers_catch_up)
{
    struct workpool *wp = NULL;
    cr_assert_eq(workpool_new(1, &wp, NULL), TA_OK);
    cr_assert_eq(workpool_submit(wp, gate_job, NULL), TA_OK);
    cr_assert(gate_wait_started(1));
    for (int i = 0; i < WORKPOOL_QUEUE_MAX; i++)
        cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_OK);
    cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_TOO_LARGE);
    gate_open();
    /* bounded wait until the worker has emptied the queue */
    for (int i = 0; i < GATE_WAIT_S * 1000 && atomic_load(&ran) < 1 + WORKPOOL_QUEUE_MAX; i++)
        usleep(1000);
    cr_assert_eq(atomic_load(&ran), 1 + WORKPOOL_QUEUE_MAX);
    cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_OK);
    workpool_free(wp);
    cr_assert_eq(atomic_load(&ran), 2 + WORKPOOL_QUEUE_MAX);
}

struct freer {
    struct workpool *wp;
    atomic_bool done;
};

static void *free_pool(void *arg)
{
    struct freer *f = arg;
    workpool_free(f->wp);
    atomic_store(&f->done, true);
    return NULL;
}

Test(workpool, free_runs_the_queued_jobs_and_refuses_new_ones)
{
    struct workpool *wp = NULL;
    cr_assert_eq(workpool_new(1, &wp, NULL), TA_OK);
    cr_assert_eq(workpool_submit(wp, gate_job, NULL), TA_OK);
    cr_assert(gate_wait_started(1));
    for (int i = 0; i < 100; i++)
        cr_assert_eq(workpool_submit(wp, count_job, NULL), TA_OK);

    /* free in another thread: it cannot finish while the worker is blocked, so wp stays valid
     * and the submissions below see a stopping pool */
    struct freer f = { .wp = wp };
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_pool, &f), 0);
    int accepted = 0;
    bool refused = false;
    for (int i = 0; i < GATE_WAIT_S * 1000 && !refused; i++) {
        if (workpool_submit(wp, count_job, NULL) == TA_OK) {
            accepted++; /* free has not marked the pool stopping yet */
            usleep(1000);
        } else {
            refused = true;
        }
    }
    cr_assert(refused, "a stopping pool refuses new jobs");
    cr_assert_lt(100 + accepted, WORKPOOL_QUEUE_MAX, "refused for stopping, not for a full queue");
    cr_assert_not(atomic_load(&f.done), "free waits for the blocked job");
    gate_open();
    pthread_join(t, NULL);
    cr_assert(atomic_load(&f.done));
    cr_assert_eq(gate_timeouts(), 0);
    cr_assert_eq(atomic_load(&ran), 1 + 100 + accepted,
                 "every accepted job ran before free returned");
}
