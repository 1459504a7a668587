/* authcache.c — chained hash table plus an insertion-order list for eviction.
 *
 * Every entry is in one bucket chain and in the age list (oldest first). A full cache drops the
 * oldest entry, so the table never grows past max entries. One mutex guards everything; value
 * callbacks run under it and must not call back into the cache. */
#include "server/authcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/ta_mem.h"

struct entry {
    uint8_t key[AUTHCACHE_KEY_LEN];
    void *value;
    int64_t expires_ns;
    struct entry *chain;           /* next in the bucket */
    struct entry *older, *younger; /* age list */
};

struct authcache {
    size_t max;
    size_t nbuckets; /* power of two */
    void (*free_value)(void *);
    struct {
        pthread_mutex_t mu;
        struct entry **buckets; /* guarded by mu */
        struct entry *oldest;   /* guarded by mu */
        struct entry *youngest; /* guarded by mu */
        size_t n;               /* guarded by mu */
    } shared;
};

struct authcache *authcache_new(size_t max_entries, void (*free_value)(void *value))
{
    struct authcache *c = ta_xcalloc(1, sizeof(*c));
    c->max = max_entries ? max_entries : 1;
    c->nbuckets = 16;
    while (c->nbuckets < 2 * c->max && c->nbuckets < ((size_t)1 << 30))
        c->nbuckets *= 2;
    c->free_value = free_value;
    pthread_mutex_init(&c->shared.mu, NULL);
    c->shared.buckets = ta_xcalloc(c->nbuckets, sizeof(struct entry *));
    return c;
}

static size_t bucket_of(const struct authcache *c, const uint8_t key[AUTHCACHE_KEY_LEN])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h)); /* the key is a digest: any 8 bytes are uniform */
    return (size_t)(h & (c->nbuckets - 1));
}

/* Unlinks e from its chain and the age list and frees it. Caller holds mu. */
static void drop(struct authcache *c, struct entry *e)
{
    struct entry **pp = &c->shared.buckets[bucket_of(c, e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    if (e->older)
        e->older->younger = e->younger;
    else
        c->shared.oldest = e->younger;
    if (e->younger)
        e->younger->older = e->older;
    else
        c->shared.youngest = e->older;
    c->shared.n--;
    if (e->value && c->free_value)
        c->free_value(e->value);
    free(e);
}

static struct entry *find(struct authcache *c, const uint8_t key[AUTHCACHE_KEY_LEN])
{
    for (struct entry *e = c->shared.buckets[bucket_of(c, key)]; e; e = e->chain)
        if (memcmp(e->key, key, AUTHCACHE_KEY_LEN) == 0)
            return e;
    return NULL;
}

void authcache_free(struct authcache *c)
{
    if (!c)
        return;
    while (c->shared.oldest)
        drop(c, c->shared.oldest);
    free(c->shared.buckets);
    pthread_mutex_destroy(&c->shared.mu);
    free(c);
}

bool authcache_get(struct authcache *c, const uint8_t key[AUTHCACHE_KEY_LEN], int64_t now_ns,
                   void (*visit)(const void *value, void *arg), void *arg)
{
    bool hit = false;
    pthread_mutex_lock(&c->shared.mu);
    struct entry *e = find(c, key);
    if (e && e->expires_ns <= now_ns) {
        drop(c, e);
        e = NULL;
    }
    if (e) {
        if (visit)
            visit(e->value, arg);
        hit = true;
    }
    pthread_mutex_unlock(&c->shared.mu);
    return hit;
}

void authcache_put(struct authcache *c, const uint8_t key[AUTHCACHE_KEY_LEN], void *value,
                   int64_t expires_ns, int64_t now_ns)
{
    struct entry *n = ta_xcalloc(1, sizeof(*n));
    memcpy(n->key, key, AUTHCACHE_KEY_LEN);
    n->value = value;
    n->expires_ns = expires_ns;
    pthread_mutex_lock(&c->shared.mu);
    struct entry *old = find(c, key);
    if (old)
        drop(c, old);
    /* Expired entries at the old end go first, then the oldest live one if still full. */
    while (c->shared.oldest && c->shared.oldest->expires_ns <= now_ns)
        drop(c, c->shared.oldest);
    while (c->shared.n >= c->max && c->shared.oldest)
        drop(c, c->shared.oldest);
    size_t b = bucket_of(c, key);
    n->chain = c->shared.buckets[b];
    c->shared.buckets[b] = n;
    n->older = c->shared.youngest;
    if (c->shared.youngest)
        c->shared.youngest->younger = n;
    else
        c->shared.oldest = n;
    c->shared.youngest = n;
    c->shared.n++;
    pthread_mutex_unlock(&c->shared.mu);
}

size_t authcache_size(struct authcache *c)
{
    pthread_mutex_lock(&c->shared.mu);
    size_t n = c->shared.n;
    pthread_mutex_unlock(&c->shared.mu);
    return n;
}
