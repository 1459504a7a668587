/* workpool.h — a small fixed pool of threads for request work that may block.
 *
 * libmicrohttpd's threads must not block on the network; the API handler hands a request that
 * needs a TokenReview or SubjectAccessReview call to this pool (the connection is suspended
 * meanwhile). The queue is bounded: workpool_submit fails when it is full, and the caller
 * answers 503 at once. Internally locked: any thread may submit. */
#ifndef TA_SERVER_WORKPOOL_H
#define TA_SERVER_WORKPOOL_H

#include <stddef.h>

#include "apis/base/ta_err.h"

#define WORKPOOL_QUEUE_MAX 4096 /* queued jobs; beyond it requests are refused with 503 */

struct workpool;
typedef void (*workpool_fn)(void *arg);

enum ta_rc workpool_new(int threads, struct workpool **out, struct ta_err *err);
/* Queues fn(arg); TA_TOO_LARGE when the queue is full or the pool is stopping. */
enum ta_rc workpool_submit(struct workpool *wp, workpool_fn fn, void *arg);
/* Runs the queued jobs to the end, joins the threads, frees. NULL is fine. */
void workpool_free(struct workpool *wp);

#endif
