/* Metrics: registration rules, lock-free updates under threads, exact Prometheus text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "okno/error.h"
#include "okno/metrics.h"

static char *render(struct okno_metrics *reg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(okno_metrics_render(reg, f), 0);
    fclose(f);
    return text;
}

static void assert_rendered(struct okno_metrics *reg, const char *want)
{
    char *text = render(reg);
    if (strcmp(text, want) != 0)
        fail_msg("rendered:\n%s\nwanted:\n%s", text, want);
    free(text);
}

/* A service's counter table registers in order and stops at the first bad row. */
static void a_counter_table_registers_in_order_and_stops_at_a_bad_row(void **state)
{
    (void)state;
    struct okno_metrics reg;
    struct okno_metrics_counter a, b, c;
    assert_int_equal(okno_metrics_init(&reg), 0);
    const struct okno_metrics_counter_def good[] = {
        {&a, "okno_test_a_total", "A."},
        {&b, "okno_test_b_total", "B."},
    };
    assert_int_equal(okno_metrics_counters_init(&reg, good, 2), 0);
    okno_metrics_counter_inc(&b);
    char *text = render(&reg);
    assert_non_null(strstr(text, "okno_test_a_total 0"));
    assert_non_null(strstr(text, "okno_test_b_total 1"));
    assert_true(strstr(text, "okno_test_a_total") < strstr(text, "okno_test_b_total"));
    free(text);
    const struct okno_metrics_counter_def bad[] = {
        {&c, "bad name", "Bad."},
        {&c, "okno_test_c_total", "C."},
    };
    assert_int_equal(okno_metrics_counters_init(&reg, bad, 2), OKNO_EINVAL);
    text = render(&reg);
    assert_null(strstr(text, "okno_test_c_total"));
    free(text);
    okno_metrics_close(&reg);
}

static void counter_and_gauge_render_with_labels(void **state)
{
    (void)state;
    struct okno_metrics reg;
    struct okno_metrics_counter appended, refused;
    struct okno_metrics_gauge lag;
    assert_int_equal(okno_metrics_init(&reg), 0);
    assert_int_equal(okno_metrics_counter_init(&reg, &appended, "okno_ledger_events_total",
                                               "Events appended.", NULL),
                     0);
    assert_int_equal(okno_metrics_gauge_init(&reg, &lag, "okno_consumer_lag", "Messages behind.",
                                             (const char *const[]){"topic", "okno.transitions.v1",
                                                                   "partition", "3", NULL}),
                     0);
    assert_int_equal(okno_metrics_counter_init(&reg, &refused, "okno_ledger_refusals_total",
                                               "Requests refused.",
                                               (const char *const[]){"reason", "a\"b\\c\nd", NULL}),
                     0);
    okno_metrics_counter_add(&appended, 41);
    okno_metrics_counter_inc(&appended);
    okno_metrics_gauge_set(&lag, 10);
    okno_metrics_gauge_add(&lag, -13);
    assert_rendered(&reg, "# HELP okno_ledger_events_total Events appended.\n"
                          "# TYPE okno_ledger_events_total counter\n"
                          "okno_ledger_events_total 42\n"
                          "# HELP okno_consumer_lag Messages behind.\n"
                          "# TYPE okno_consumer_lag gauge\n"
                          "okno_consumer_lag{topic=\"okno.transitions.v1\",partition=\"3\"} -3\n"
                          "# HELP okno_ledger_refusals_total Requests refused.\n"
                          "# TYPE okno_ledger_refusals_total counter\n"
                          "okno_ledger_refusals_total{reason=\"a\\\"b\\\\c\\nd\"} 0\n");
    okno_metrics_close(&reg);
}

static void histogram_renders_cumulative_buckets_sum_and_count(void **state)
{
    (void)state;
    struct okno_metrics reg;
    struct okno_metrics_histogram h;
    static const double bounds[] = {0.5, 10, 250};
    assert_int_equal(okno_metrics_init(&reg), 0);
    assert_int_equal(okno_metrics_histogram_init(&reg, &h, "okno_commit_ms", "Commit latency\\ms.",
                                                 (const char *const[]){"db", "main", NULL}, bounds,
                                                 3),
                     0);
    okno_metrics_histogram_observe(&h, 0.25);
    okno_metrics_histogram_observe(&h, 0.5); /* bounds are inclusive */
    okno_metrics_histogram_observe(&h, 7);
    okno_metrics_histogram_observe(&h, 1000);
    assert_rendered(&reg, "# HELP okno_commit_ms Commit latency\\\\ms.\n"
                          "# TYPE okno_commit_ms histogram\n"
                          "okno_commit_ms_bucket{db=\"main\",le=\"0.5\"} 2\n"
                          "okno_commit_ms_bucket{db=\"main\",le=\"10\"} 3\n"
                          "okno_commit_ms_bucket{db=\"main\",le=\"250\"} 3\n"
                          "okno_commit_ms_bucket{db=\"main\",le=\"+Inf\"} 4\n"
                          "okno_commit_ms_sum{db=\"main\"} 1007.75\n"
                          "okno_commit_ms_count{db=\"main\"} 4\n");
    okno_metrics_close(&reg);
}

static void series_of_one_name_share_one_header(void **state)
{
    (void)state;
    struct okno_metrics reg;
    struct okno_metrics_gauge p0, p1;
    struct okno_metrics_counter other;
    assert_int_equal(okno_metrics_init(&reg), 0);
    okno_metrics_gauge_init(&reg, &p0, "okno_lag", "Lag.", (const char *const[]){"p", "0", NULL});
    okno_metrics_counter_init(&reg, &other, "okno_x_total", "X.", NULL);
    okno_metrics_gauge_init(&reg, &p1, "okno_lag", "Lag.", (const char *const[]){"p", "1", NULL});
    okno_metrics_gauge_set(&p1, 5);
    assert_rendered(&reg, "# HELP okno_lag Lag.\n# TYPE okno_lag gauge\n"
                          "okno_lag{p=\"0\"} 0\nokno_lag{p=\"1\"} 5\n"
                          "# HELP okno_x_total X.\n# TYPE okno_x_total counter\n"
                          "okno_x_total 0\n");
    okno_metrics_remove(&p0.base);
    okno_metrics_remove(&p0.base); /* twice is harmless */
    assert_rendered(&reg, "# HELP okno_x_total X.\n# TYPE okno_x_total counter\n"
                          "okno_x_total 0\n"
                          "# HELP okno_lag Lag.\n# TYPE okno_lag gauge\n"
                          "okno_lag{p=\"1\"} 5\n");
    okno_metrics_close(&reg);
}

static void bad_registrations_are_refused(void **state)
{
    (void)state;
    struct okno_metrics reg;
    struct okno_metrics_counter a, b;
    struct okno_metrics_gauge g;
    struct okno_metrics_histogram h;
    assert_int_equal(okno_metrics_init(&reg), 0);
    assert_int_equal(okno_metrics_counter_init(&reg, &a, "9bad", "h", NULL), OKNO_EINVAL);
    assert_int_equal(okno_metrics_counter_init(&reg, &a, "bad-name", "h", NULL), OKNO_EINVAL);
    assert_int_equal(
        okno_metrics_counter_init(&reg, &a, "ok", "h", (const char *const[]){"le", "1", NULL}),
        OKNO_EINVAL);
    assert_int_equal(
        okno_metrics_counter_init(&reg, &a, "ok", "h", (const char *const[]){"a:b", "1", NULL}),
        OKNO_EINVAL);
    char long_value[OKNO_METRICS_LABELS_BYTES_MAX + 1];
    memset(long_value, 'v', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    assert_int_equal(okno_metrics_counter_init(&reg, &a, "ok", "h",
                                               (const char *const[]){"a", long_value, NULL}),
                     OKNO_ELIMIT);
    assert_int_equal(okno_metrics_counter_init(&reg, &a, "dup_total", "h", NULL), 0);
    assert_int_equal(okno_metrics_counter_init(&reg, &b, "dup_total", "h", NULL), OKNO_EINVAL);
    assert_int_equal(
        okno_metrics_gauge_init(&reg, &g, "dup_total", "h", (const char *const[]){"x", "1", NULL}),
        OKNO_EINVAL);
    static const double unsorted[] = {1, 1};
    assert_int_equal(okno_metrics_histogram_init(&reg, &h, "hist", "h", NULL, unsorted, 2),
                     OKNO_EINVAL);
    static const double inf[] = {1, INFINITY};
    assert_int_equal(okno_metrics_histogram_init(&reg, &h, "hist", "h", NULL, inf, 2), OKNO_EINVAL);
    assert_int_equal(okno_metrics_histogram_init(&reg, &h, "hist", "h", NULL,
                                                 okno_metrics_latency_ms_bounds,
                                                 OKNO_METRICS_BUCKETS_MAX + 1),
                     OKNO_ELIMIT);
    assert_int_equal(reg.count, 1);
    okno_metrics_close(&reg);
}

#define THREADS         4
#define UPDATES_PER_ONE 100000

struct shared {
    struct okno_metrics_counter c;
    struct okno_metrics_gauge g;
    struct okno_metrics_histogram h;
    struct okno_metrics reg;
};

static void *hammer(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < UPDATES_PER_ONE; i++) {
        okno_metrics_counter_inc(&s->c);
        okno_metrics_gauge_add(&s->g, i % 2 == 0 ? 1 : -1);
        okno_metrics_histogram_observe(&s->h, (double)(i % 20));
        if (i % 10000 == 0)
            free(render(&s->reg)); /* rendering while others update is fine */
    }
    return NULL;
}

static void updates_from_threads_are_not_lost(void **state)
{
    (void)state;
    struct shared *s = calloc(1, sizeof(*s));
    assert_int_equal(okno_metrics_init(&s->reg), 0);
    okno_metrics_counter_init(&s->reg, &s->c, "c_total", "c", NULL);
    okno_metrics_gauge_init(&s->reg, &s->g, "g", "g", NULL);
    okno_metrics_histogram_init(&s->reg, &s->h, "h", "h", NULL, okno_metrics_latency_ms_bounds,
                                okno_metrics_latency_ms_bound_count);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, hammer, s), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    assert_int_equal(okno_metrics_counter_value(&s->c), THREADS * UPDATES_PER_ONE);
    assert_int_equal(okno_metrics_gauge_value(&s->g), 0);
    char *text = render(&s->reg);
    char want[128];
    snprintf(want, sizeof(want), "h_count %d\n", THREADS * UPDATES_PER_ONE);
    assert_non_null(strstr(text, want));
    /* sum of i%20 over 100000 = 5000 cycles of 190, per thread */
    snprintf(want, sizeof(want), "h_sum %d\n", THREADS * 5000 * 190);
    assert_non_null(strstr(text, want));
    free(text);
    okno_metrics_close(&s->reg);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_counter_table_registers_in_order_and_stops_at_a_bad_row),
        cmocka_unit_test(counter_and_gauge_render_with_labels),
        cmocka_unit_test(histogram_renders_cumulative_buckets_sum_and_count),
        cmocka_unit_test(series_of_one_name_share_one_header),
        cmocka_unit_test(bad_registrations_are_refused),
        cmocka_unit_test(updates_from_threads_are_not_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
