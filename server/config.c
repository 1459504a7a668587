/* config.c — publish/acquire of the rules snapshot under one mutex (held only to swap or to
 * take a reference, never across work). */
#include "server/config.h"

#include <pthread.h>

static struct {
    pthread_mutex_t mu;
    struct rules *current; /* guarded by mu */
    uint64_t generation;   /* guarded by mu */
} g_config = { PTHREAD_MUTEX_INITIALIZER, NULL, 0 };

void config_publish(struct rules *rules)
{
    pthread_mutex_lock(&g_config.mu);
    struct rules *old = g_config.current;
    g_config.current = rules;
    g_config.generation++;
    pthread_mutex_unlock(&g_config.mu);
    rules_unref(old);
}

struct rules *config_acquire(void)
{
    pthread_mutex_lock(&g_config.mu);
    struct rules *r = g_config.current ? rules_ref(g_config.current) : NULL;
    pthread_mutex_unlock(&g_config.mu);
    return r;
}

void config_release(struct rules *rules)
{
    rules_unref(rules);
}

uint64_t config_generation(void)
{
    pthread_mutex_lock(&g_config.mu);
    uint64_t g = g_config.generation;
    pthread_mutex_unlock(&g_config.mu);
    return g;
}

void config_shutdown(void)
{
    pthread_mutex_lock(&g_config.mu);
    struct rules *old = g_config.current;
    g_config.current = NULL;
    pthread_mutex_unlock(&g_config.mu);
    rules_unref(old);
}
