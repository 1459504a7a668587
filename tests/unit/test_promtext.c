/* test_promtext.c — the Prometheus text format writer: families, samples, label escaping and
 * the sticky error at the page cap. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/promtext.h"

Test(promtext, writes_help_type_and_samples)
{
    struct buf b;
    buf_init(&b, 4096);
    struct promtext p = { &b, TA_OK };
    promtext_one(&p, "x_total", "counter", "Things.", 3);
    promtext_family(&p, "y", "gauge", "Ys.");
    promtext_sample(&p, "y", "{a=\"1\"}", 0.25);
    cr_assert_eq(p.rc, TA_OK);
    cr_assert_str_eq(buf_cstr(&b), "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n"
                                   "# HELP y Ys.\n# TYPE y gauge\ny{a=\"1\"} 0.25\n");
    buf_free(&b);
}

Test(promtext, escapes_label_values)
{
    struct buf l;
    buf_init(&l, 256);
    cr_assert_eq(promtext_label(&l, "rule", "a\"b\\c\nd"), TA_OK);
    cr_assert_str_eq(buf_cstr(&l), "{rule=\"a\\\"b\\\\c\\nd\"}");
    buf_free(&l);
}

Test(promtext, the_first_failure_sticks_and_later_appends_do_nothing)
{
    struct buf b;
    buf_init(&b, 40);
    struct promtext p = { &b, TA_OK };
    promtext_one(&p, "a_very_long_metric_name_total", "counter", "Too long for 40 bytes.", 1);
    cr_assert_eq(p.rc, TA_TOO_LARGE);
    promtext_sample(&p, "z", "", 1);
    cr_assert_eq(p.rc, TA_TOO_LARGE);
    cr_assert_eq(b.len, 0, "a failed page is dropped whole");
    buf_free(&b);
}
