/* test_config.c — the configuration snapshot: publish, acquire and release, the generation
 * counter, a replaced snapshot that stays readable while held and is freed by its last release
 * (ASan and valgrind see any early free or leak), and readers racing a publisher. Each test runs
 * in its own process (criterion), so every test starts with nothing published. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "server/config.h"

/* Rules with one rate rule called name; the caller owns one reference. */
static struct rules *make_rules(const char *name)
{
    char yaml[256];
    snprintf(yaml, sizeof(yaml),
             "externalRules:\n  - name: %s\n    spans: '{ kind = server }'\n    metric: rate\n",
             name);
    struct rules *r = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_bytes(slice_from_cstr(yaml), "t.yaml", &r, &err), TA_OK, "%s", err.msg);
    cr_assert_not_null(r);
    return r;
}

static int refs(struct rules *r)
{
    return atomic_load(&r->refs);
}

static const char *name_of(const struct rules *r)
{
    cr_assert_eq(r->n, 1);
    return r->items[0].name;
}

Test(config, nothing_is_current_before_the_first_publish)
{
    cr_assert_eq(config_generation(), 0);
    cr_assert_null(config_acquire());
    config_release(NULL);
    config_shutdown(); /* nothing to drop */
    cr_assert_eq(config_generation(), 0);
}

Test(config, publish_makes_rules_current_and_counts)
{
    struct rules *a = make_rules("alpha");
    config_publish(a);
    cr_assert_eq(config_generation(), 1);
    cr_assert_eq(refs(a), 1, "publish takes the caller's reference");
    struct rules *got = config_acquire();
    cr_assert_eq(got, a);
    cr_assert_eq(refs(a), 2, "acquire adds one");
    cr_assert_str_eq(name_of(got), "alpha");
    struct rules *again = config_acquire();
    cr_assert_eq(again, a);
    cr_assert_eq(refs(a), 3);
    config_release(again);
    config_release(got);
    cr_assert_eq(refs(a), 1, "release drops one; the current snapshot stays");
    cr_assert_eq(config_acquire(), a);
    config_release(a);
    config_shutdown();
}

Test(config, generation_counts_every_publish)
{
    for (int i = 1; i <= 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d", i);
        config_publish(make_rules(name));
        cr_assert_eq(config_generation(), (uint64_t)i);
        struct rules *cur = config_acquire();
        cr_assert_str_eq(name_of(cur), name, "the latest publish is current");
        config_release(cur);
    }
    config_shutdown();
    cr_assert_eq(config_generation(), 5, "shutdown is not a publish");
}

Test(config, a_held_snapshot_outlives_its_replacement)
{
    config_publish(make_rules("old"));
    struct rules *held = config_acquire();
    cr_assert_str_eq(name_of(held), "old");

    config_publish(make_rules("new"));
    cr_assert_eq(config_generation(), 2);
    cr_assert_eq(refs(held), 1, "only the holder keeps the replaced snapshot");
    /* still fully readable: its rule, its filter text, its source name */
    cr_assert_str_eq(name_of(held), "old");
    cr_assert_str_eq(held->items[0].spans_text, "{ kind = server }");
    cr_assert_str_eq(held->source, "t.yaml");

    struct rules *cur = config_acquire();
    cr_assert_neq(cur, held);
    cr_assert_str_eq(name_of(cur), "new");
    config_release(cur);
    config_release(held); /* the last reference: freed here (ASan/valgrind watch) */
    config_shutdown();
}

Test(config, publish_frees_an_unheld_snapshot)
{
    config_publish(make_rules("first"));
    config_publish(make_rules("second")); /* "first" has no holder: freed by this publish */
    struct rules *cur = config_acquire();
    cr_assert_str_eq(name_of(cur), "second");
    config_release(cur);
    config_shutdown();
}

Test(config, shutdown_drops_the_current_snapshot_but_not_a_held_one)
{
    config_publish(make_rules("only"));
    struct rules *held = config_acquire();
    config_shutdown();
    cr_assert_null(config_acquire(), "nothing is current after shutdown");
    cr_assert_eq(refs(held), 1);
    cr_assert_str_eq(name_of(held), "only");
    config_release(held);
    cr_assert_eq(config_generation(), 1);
}

/* Readers acquire, read and release in a loop while the main thread publishes. */
struct reader {
    atomic_bool *stop;
    long reads;
    long bad; /* snapshots whose content was not one that was published */
};

static void *read_loop(void *arg)
{
    struct reader *rd = arg;
    while (!atomic_load(rd->stop)) {
        struct rules *r = config_acquire();
        if (!r) {
            rd->bad++;
            continue;
        }
        if (r->n != 1 || strncmp(r->items[0].name, "gen", 3) != 0)
            rd->bad++;
        rd->reads++;
        config_release(r);
    }
    return NULL;
}

Test(config, readers_race_a_publisher_safely)
{
    config_publish(make_rules("gen0"));
    atomic_bool stop = false;
    struct reader rd[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        rd[i] = (struct reader){ &stop, 0, 0 };
        cr_assert_eq(pthread_create(&t[i], NULL, read_loop, &rd[i]), 0);
    }
    for (int i = 1; i <= 50; i++) {
        char name[16];
        snprintf(name, sizeof(name), "gen%d", i);
        config_publish(make_rules(name));
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(rd[i].bad, 0);
    }
    cr_assert_eq(config_generation(), 51);
    struct rules *cur = config_acquire();
    cr_assert_str_eq(name_of(cur), "gen50");
    cr_assert_eq(refs(cur), 2, "no reader kept a reference");
    config_release(cur);
    config_shutdown();
}
