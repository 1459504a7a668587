/* health.c — the named checks behind /healthz, /livez and /readyz, rendered as Go renders
 * them: "ok", or "[+]name ok" / "[-]name failed: reason" lines and a summary line. */
#include "server/health.h"

#include <stdbool.h>
#include <string.h>

#include "server/config.h"

struct check {
    const char *name;
    bool ready_only; /* only part of /readyz */
    enum ta_rc (*run)(struct app *app, struct ta_err *err);
};

static enum ta_rc check_ping(struct app *app, struct ta_err *err)
{
    (void)app;
    (void)err;
    return TA_OK;
}

static enum ta_rc check_rules(struct app *app, struct ta_err *err)
{
    (void)app;
    if (config_generation() == 0)
        return ta_err_set(err, TA_UNAVAILABLE, "the rules file is not loaded");
    return TA_OK;
}

static enum ta_rc check_source(struct app *app, struct ta_err *err)
{
    if (!app->source)
        return ta_err_set(err, TA_UNAVAILABLE, "no trace source is configured");
    return app->source->ops->ready(app->source->self, err);
}

static const struct check CHECKS[] = {
    { "ping", false, check_ping },
    { "rules", true, check_rules },
    { "trace-source", true, check_source },
};

#define NCHECKS (sizeof(CHECKS) / sizeof(CHECKS[0]))

int health_answer(struct app *app, const struct route *route, struct buf *out)
{
    const char *endpoint = route->kind == ROUTE_READYZ  ? "readyz"
                           : route->kind == ROUTE_LIVEZ ? "livez"
                                                        : "healthz";
    bool readyz = route->kind == ROUTE_READYZ;
    struct slice only = route->check;
    bool matched = only.len == 0;
    bool failed = false;
    struct buf lines;
    buf_init(&lines, out->max);
    for (size_t i = 0; i < NCHECKS; i++) {
        const struct check *c = &CHECKS[i];
        if ((c->ready_only && !readyz) || (only.len && !slice_eq_cstr(only, c->name)))
            continue;
        matched = true;
        struct ta_err err = { 0 };
        enum ta_rc rc;
        if (c->run(app, &err) == TA_OK) {
            rc = buf_addf(&lines, "[+]%s ok\n", c->name);
        } else {
            failed = true;
            rc = buf_addf(&lines, "[-]%s failed: %s\n", c->name, err.msg);
        }
        if (rc != TA_OK)
            break;
    }
    enum ta_rc rc = TA_OK;
    int code = 200;
    if (!matched) {
        code = 404;
        rc = buf_adds(out, "404 page not found\n");
    } else if (failed) {
        code = 500;
        rc = buf_add_slice(out, buf_slice(&lines));
        if (rc == TA_OK)
            rc = buf_addf(out, "%s check failed\n", endpoint);
    } else if (route->verbose) {
        rc = buf_add_slice(out, buf_slice(&lines));
        if (rc == TA_OK)
            rc = buf_addf(out, "%s check passed\n", endpoint);
    } else {
        rc = buf_adds(out, "ok");
    }
    buf_free(&lines);
    if (rc != TA_OK)
        code = 500;
    return code;
}
