/* authcache.h — a bounded time-to-live cache keyed by SHA-256 digests, for auth decisions.
 *
 * server/authn.c caches TokenReview answers and certificate verifications in it, server/authz.c
 * SubjectAccessReview answers. Keys are digests of the secret or the request (a token itself
 * is never stored). At most max entries: inserting into a full cache drops expired entries
 * and then the oldest. Values are owned by the cache and freed with the free function given
 * at creation; readers see them only inside a visit callback that runs under the cache's
 * mutex (copy what you need; do no I/O there). Internally locked: any thread. */
#ifndef TA_SERVER_AUTHCACHE_H
#define TA_SERVER_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTHCACHE_KEY_LEN 32 /* SHA-256 */

struct authcache;

/* A cache of at most max_entries (>= 1) values; free_value(NULL) is never called. */
struct authcache *authcache_new(size_t max_entries, void (*free_value)(void *value));
/* Frees every value and the cache; NULL is fine. */
void authcache_free(struct authcache *c);
/* When key is present and expires after now_ns, calls visit(value, arg) under the lock and
 * returns true; an expired entry is dropped and false returned. */
bool authcache_get(struct authcache *c, const uint8_t key[AUTHCACHE_KEY_LEN], int64_t now_ns,
                   void (*visit)(const void *value, void *arg), void *arg);
/* Stores value (the cache takes ownership) until expires_ns, replacing an entry of the same
 * key. */
void authcache_put(struct authcache *c, const uint8_t key[AUTHCACHE_KEY_LEN], void *value,
                   int64_t expires_ns, int64_t now_ns);
/* Entries currently held (expired ones included until they are dropped). */
size_t authcache_size(struct authcache *c);

#endif
