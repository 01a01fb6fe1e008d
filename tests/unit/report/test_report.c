/* common/report without a database: ISO weeks (Moscow days), Wilson's 95 % interval, and the
 * writers on hand-made results: names escaped in HTML and quoted in CSV, JSON that parses back,
 * a share with no sample printed as none. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "okno/error.h"
#include "okno/report.h"

/* A memory stream for a writer under test: written(&m, writer(stream(&m), ...)) checks the
 * writer's result and returns what it wrote (the caller frees it). */
typedef struct mem {
    FILE *f;
    char *buf;
    size_t size;
} mem;

static FILE *stream(mem *m)
{
    m->buf = NULL;
    m->size = 0;
    m->f = open_memstream(&m->buf, &m->size);
    assert_non_null(m->f);
    return m->f;
}

static char *written(mem *m, int rc)
{
    assert_int_equal(rc, OKNO_OK);
    fclose(m->f);
    return m->buf;
}

static void iso_weeks_parse_and_label(void **state)
{
    (void)state;
    int32_t monday;
    assert_int_equal(okno_report_parse_week("2026-W10", &monday), OKNO_OK);
    assert_int_equal(monday, 20514); /* 2026-03-02, a Monday */
    char label[16];
    for (int d = 0; d < 7; d++) {
        okno_report_week_label(monday + d, label, sizeof label);
        assert_string_equal(label, "2026-W10");
    }
    /* Week 1 holds 4 January; late December may belong to the next ISO year. */
    assert_int_equal(okno_report_parse_week("2026-W01", &monday), OKNO_OK);
    okno_report_week_label(monday, label, sizeof label);
    assert_string_equal(label, "2026-W01");
    assert_int_equal(monday, 20451);                    /* 2025-12-29 */
    okno_report_week_label(20450, label, sizeof label); /* 2025-12-28, a Sunday */
    assert_string_equal(label, "2025-W52");
    assert_int_equal(okno_report_parse_week("2026-W53", &monday), OKNO_OK); /* 53 weeks */
    assert_int_equal(okno_report_parse_week("2027-W53", &monday), OKNO_EINVAL);
    assert_int_equal(okno_report_parse_week("2026-W00", &monday), OKNO_EINVAL);
    assert_int_equal(okno_report_parse_week("2026-10", &monday), OKNO_EINVAL);
    assert_int_equal(okno_report_parse_week("2026-W10x", &monday), OKNO_EINVAL);
    assert_int_equal(okno_report_parse_week("", &monday), OKNO_EINVAL);
}

static void wilson_interval_known_values(void **state)
{
    (void)state;
    okno_report_share s;
    okno_report_wilson(2, 2, &s); /* 100 % of 2 is not 100 % of 2,000 */
    assert_true(s.share == 1.0 && s.high == 1.0);
    assert_true(s.low > 0.3423 && s.low < 0.3425);
    okno_report_wilson(2000, 2000, &s);
    assert_true(s.low > 0.9980 && s.low < 0.9982);
    okno_report_wilson(81, 100, &s);
    assert_true(s.low > 0.7222 && s.low < 0.7224 && s.high > 0.8748 && s.high < 0.8749);
    okno_report_wilson(0, 10, &s);
    assert_true(s.share == 0 && s.low == 0 && s.high > 0.2775 && s.high < 0.2776);
    okno_report_wilson(0, 0, &s);
    assert_true(s.n == 0 && s.share == 0 && s.low == 0 && s.high == 0);
}

static void daily_writers(void **state)
{
    (void)state;
    okno_report_daily_row rows[2] = {
        {.list = OKNO_REPORT_EXCEEDED,
         .message_id = "40000001-0000-4000-8000-000000000000",
         .stage = "agreement",
         .org_id = 1100,
         .org_name = "Dept \"A1\", north",
         .task = "agree",
         .role = "manager",
         .user_id = 110005,
         .category_id = 1,
         .since_ms = 0,
         .used_ms = 3600000 * 120,
         .allotted_ms = 3600000 * 108,
         .late_ms = 3600000 * 12,
         .due_ms = 1772431200000},
        {.list = OKNO_REPORT_EXPIRED,
         .message_id = "40000002-0000-4000-8000-000000000000",
         .stage = "coordination",
         .org_id = 1000,
         .org_name = "Ministry A",
         .task = "coordinate",
         .role = "coordinator",
         .user_id = 0,
         .category_id = 1,
         .used_ms = 1,
         .allotted_ms = 1,
         .due_ms = 1772431200000},
    };
    okno_report_daily d = {.org_id = 1000,
                           .at_ms = 1772431200000,
                           .approaching_permille = 800,
                           .count = 2,
                           .rows = rows,
                           .per_list = {0, 1, 1}};
    mem m;
    char *csv = written(&m, okno_report_daily_csv(stream(&m), &d));
    assert_non_null(strstr(csv, ",1100,\"Dept \"\"A1\"\", north\",agree,manager,110005,"));
    assert_non_null(strstr(csv, ",432000000,388800000,43200000,1772431200000,2026-03-02 09:00\n"));
    free(csv);
    char *json = written(&m, okno_report_daily_json(stream(&m), &d));
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    assert_non_null(root);
    json_t *exceeded = json_object_get(json_object_get(root, "lists"), "exceeded");
    assert_int_equal(json_array_size(exceeded), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(exceeded, 0), "late_ms")),
                     43200000);
    assert_string_equal(json_string_value(json_object_get(json_array_get(exceeded, 0), "due")),
                        "2026-03-02T06:00:00.000Z");
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(root, "lists"), "approaching")), 0);
    json_decref(root);
    free(json);
    char *text = written(&m, okno_report_daily_text(stream(&m), &d));
    assert_non_null(strstr(text, "at 2026-03-02 09:00 MSK"));
    assert_non_null(strstr(text, "b) over the stage time: 1"));
    assert_non_null(strstr(text, "5d 00:00"));          /* used */
    assert_non_null(strstr(text, "coordinator (any)")); /* anyone with the role */
    free(text);
}

static void weekly_writers(void **state)
{
    (void)state;
    okno_report_keyed orgs[1] = {{.key = 1000, .name = "<b>A & B</b>", .c = {.answered = 0}}};
    okno_report_weekly w = {.org_id = 1000,
                            .org_name = "Ministry <A>",
                            .org_count = 1,
                            .orgs = orgs,
                            .org_row_count = 1};
    for (int i = 0; i < OKNO_REPORT_WEEKS; i++) {
        w.trend[i].monday = 20514 - 7 * (OKNO_REPORT_WEEKS - 1 - i);
        okno_report_week_label(w.trend[i].monday, w.trend[i].label, sizeof w.trend[i].label);
    }
    w.trend[6].c.answered = 4;
    okno_report_wilson(3, 4, &w.trend[6].on_time);
    w.week = w.trend[OKNO_REPORT_WEEKS - 1];
    mem m;
    char *html = written(&m, okno_report_weekly_html(stream(&m), &w));
    assert_non_null(strstr(html, "Ministry &lt;A&gt;"));
    assert_non_null(strstr(html, "&lt;b&gt;A &amp; B&lt;/b&gt;"));
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "— (n = 0)")); /* no answers: no share */
    assert_non_null(strstr(html, "class=\"point\" data-key=\"2026-W09\" data-value=\"0.750000\""));
    assert_null(strstr(html, "data-key=\"2026-W10\" data-value")); /* no point without a sample */
    free(html);
    char *csv = written(&m, okno_report_weekly_csv(stream(&m), &w));
    assert_non_null(strstr(csv, "section,key,metric,value\nreport,all,org_id,1000\n"));
    assert_non_null(strstr(csv, "trend,2026-W09,on_time_share,0.750000\n"));
    assert_non_null(strstr(csv, "total,all,on_time_n,0\n"));
    assert_null(strstr(csv, "total,all,on_time_share"));
    free(csv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iso_weeks_parse_and_label),
        cmocka_unit_test(wilson_interval_known_values),
        cmocka_unit_test(daily_writers),
        cmocka_unit_test(weekly_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
