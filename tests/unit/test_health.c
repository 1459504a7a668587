/* test_health.c — /healthz, /livez and /readyz bodies and codes in Go's apiserver format, with a
 * fake trace source whose readiness each test scripts and rules published (or not) through
 * server/config. Routes come from route_parse, as server/api.c makes them. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/config.h"
#include "server/health.h"

/* A trace source whose ready() answers what the test set, and counts its calls. */
struct fake_source {
    enum ta_rc rc;
    const char *reason;
    int calls;
};

static enum ta_rc fake_ready(void *self, struct ta_err *err)
{
    struct fake_source *f = self;
    f->calls++;
    if (f->rc == TA_OK)
        return TA_OK;
    return ta_err_set(err, f->rc, "%s", f->reason);
}

static const struct source_ops FAKE_OPS = { .name = "fake", .ready = fake_ready };

static struct fake_source fake;
static struct source source;
static struct app app;

static void publish_rules(void)
{
    const char *yaml = "externalRules:\n  - name: m\n    spans: '{ kind = server }'\n"
                       "    metric: rate\n";
    struct rules *r = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(rules_load_bytes(slice_from_cstr(yaml), "t.yaml", &r, &err), TA_OK, "%s", err.msg);
    config_publish(r);
}

/* Ready source, rules loaded. */
static void setup(void)
{
    fake = (struct fake_source){ TA_OK, NULL, 0 };
    source = (struct source){ &FAKE_OPS, &fake };
    memset(&app, 0, sizeof(app));
    app.source = &source;
    publish_rules();
}

static void teardown(void)
{
    config_shutdown();
}

TestSuite(health, .init = setup, .fini = teardown);

static void fail_source(const char *reason)
{
    fake.rc = TA_UPSTREAM;
    fake.reason = reason;
}

/* The status and body for GET path?query. */
static int answer(const char *path, const char *query, char *body, size_t cap)
{
    struct route rt;
    struct ta_err err = { 0 };
    cr_assert_eq(
        route_parse(SLICE_LIT("GET"), slice_from_cstr(path), slice_from_cstr(query), &rt, &err),
        TA_OK, "%s", err.msg);
    struct buf out;
    buf_init(&out, 64 * 1024);
    int code = health_answer(&app, &rt, &out);
    cr_assert_lt(out.len, cap);
    memcpy(body, buf_cstr(&out), out.len + 1);
    buf_free(&out);
    route_free(&rt);
    return code;
}

Test(health, all_endpoints_answer_ok_when_everything_is_ready)
{
    char body[1024];
    cr_assert_eq(answer("/healthz", "", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "ok");
    cr_assert_eq(answer("/livez", "", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "ok");
    cr_assert_eq(answer("/readyz", "", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "ok");
    cr_assert_eq(fake.calls, 1, "only /readyz asks the source");
}

Test(health, verbose_lists_every_check)
{
    char body[1024];
    cr_assert_eq(answer("/readyz", "verbose", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "[+]ping ok\n[+]rules ok\n[+]trace-source ok\nreadyz check passed\n");
    cr_assert_eq(answer("/healthz", "verbose=1", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "[+]ping ok\nhealthz check passed\n");
    cr_assert_eq(answer("/livez", "verbose", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "[+]ping ok\nlivez check passed\n");
}

Test(health, a_failing_source_fails_readyz_with_its_reason)
{
    fail_source("tempo at http://tempo:3200 answered 502");
    char body[1024];
    cr_assert_eq(answer("/readyz", "", body, sizeof(body)), 500);
    cr_assert_str_eq(body, "[+]ping ok\n[+]rules ok\n"
                           "[-]trace-source failed: tempo at http://tempo:3200 answered 502\n"
                           "readyz check failed\n");
    cr_assert_eq(answer("/readyz", "verbose", body, sizeof(body)), 500, "verbose or not");
    cr_assert(strstr(body, "[-]trace-source failed: tempo at http://tempo:3200 answered 502\n"));
    cr_assert(strstr(body, "readyz check failed\n"));
}

Test(health, healthz_and_livez_ignore_the_source)
{
    fail_source("down");
    char body[1024];
    cr_assert_eq(answer("/healthz", "", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "ok");
    cr_assert_eq(answer("/livez", "verbose", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "[+]ping ok\nlivez check passed\n");
    cr_assert_eq(fake.calls, 0);
}

/* Ready source, nothing ever published. */
static void setup_unloaded(void)
{
    fake = (struct fake_source){ TA_OK, NULL, 0 };
    source = (struct source){ &FAKE_OPS, &fake };
    memset(&app, 0, sizeof(app));
    app.source = &source;
}

TestSuite(health_unloaded, .init = setup_unloaded, .fini = teardown);

Test(health_unloaded, readyz_fails_before_rules_are_loaded)
{
    char body[1024];
    cr_assert_eq(answer("/readyz", "", body, sizeof(body)), 500);
    cr_assert_str_eq(body, "[+]ping ok\n[-]rules failed: the rules file is not loaded\n"
                           "[+]trace-source ok\nreadyz check failed\n");
    cr_assert_eq(answer("/healthz", "", body, sizeof(body)), 200, "alive all the same");
    cr_assert_str_eq(body, "ok");
    publish_rules();
    cr_assert_eq(answer("/readyz", "", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "ok");
}

Test(health, readyz_fails_without_a_source)
{
    app.source = NULL;
    char body[1024];
    cr_assert_eq(answer("/readyz", "", body, sizeof(body)), 500);
    cr_assert_str_eq(body, "[+]ping ok\n[+]rules ok\n"
                           "[-]trace-source failed: no trace source is configured\n"
                           "readyz check failed\n");
    cr_assert_eq(answer("/healthz", "", body, sizeof(body)), 200);
}

Test(health, a_single_check_can_be_asked_for)
{
    char body[1024];
    cr_assert_eq(answer("/readyz/trace-source", "", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "ok");
    cr_assert_eq(answer("/readyz/ping", "verbose", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "[+]ping ok\nreadyz check passed\n");
    cr_assert_eq(answer("/livez/ping", "", body, sizeof(body)), 200);
    cr_assert_str_eq(body, "ok");
    fail_source("unreachable");
    cr_assert_eq(answer("/readyz/trace-source", "", body, sizeof(body)), 500);
    cr_assert_str_eq(body, "[-]trace-source failed: unreachable\nreadyz check failed\n");
    cr_assert_eq(answer("/readyz/rules", "", body, sizeof(body)), 200, "other checks alone pass");
    cr_assert_str_eq(body, "ok");
}

Test(health, an_unknown_check_is_404)
{
    char body[1024];
    cr_assert_eq(answer("/readyz/nope", "", body, sizeof(body)), 404);
    cr_assert_str_eq(body, "404 page not found\n");
    cr_assert_eq(answer("/healthz/trace-source", "", body, sizeof(body)), 404,
                 "readiness checks are not part of /healthz");
    cr_assert_str_eq(body, "404 page not found\n");
    cr_assert_eq(answer("/livez/rules", "", body, sizeof(body)), 404);
    cr_assert_eq(answer("/readyz/ping/extra", "", body, sizeof(body)), 404);
    cr_assert_eq(fake.calls, 0);
}

Test(health, output_over_the_buffer_cap_is_500_without_a_partial_body)
{
    struct route rt;
    cr_assert_eq(
        route_parse(SLICE_LIT("GET"), SLICE_LIT("/readyz"), SLICE_LIT("verbose"), &rt, NULL),
        TA_OK);
    struct buf out;
    buf_init(&out, 16);
    cr_assert_eq(health_answer(&app, &rt, &out), 500);
    cr_assert_eq(out.len, 0);
    buf_free(&out);
    route_free(&rt);
}
