/* config.h — the current configuration snapshot: the one mutable global.
 *
 * main publishes the rules at startup and after every successful reload; request handlers and
 * the refresher acquire the current snapshot for one request or one refresh and release it.
 * A replaced snapshot is freed by its last release. Flags never change after startup and live
 * in main. Internally locked: any thread. */
#ifndef TA_SERVER_CONFIG_H
#define TA_SERVER_CONFIG_H

#include <stdint.h>

#include "rules/rules.h"

/* Makes rules current (takes the caller's reference) and drops the previous snapshot's. */
void config_publish(struct rules *rules);
/* A new reference on the current rules (NULL before the first publish). */
struct rules *config_acquire(void);
/* Releases a reference from config_acquire. NULL is fine. */
void config_release(struct rules *rules);
/* Number of publishes so far (0: nothing loaded yet), for /readyz and /metrics. */
uint64_t config_generation(void);
/* Drops the current snapshot at exit. */
void config_shutdown(void);

#endif
