/* The injectable clock: a manual clock moves only when told; a sped-up clock runs `speed` times
 * faster than real time from its origin, and two with the same settings read the same time; the
 * configuration refuses a speed without an origin. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "okno/clock.h"
#include "okno/config.h"
#include "okno/error.h"

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void a_manual_clock_moves_only_when_told(void **state)
{
    (void)state;
    okno_clock c;
    okno_clock_init_manual(&c, 1000);
    assert_int_equal(okno_clock_now_ms(&c), 1000);
    okno_clock_advance(&c, 30 * INT64_C(86400000)); /* thirty days, at once */
    assert_int_equal(okno_clock_now_ms(&c), 1000 + 30 * INT64_C(86400000));
    okno_clock_set(&c, INT64_C(5000000000000));
    assert_int_equal(okno_clock_now_ms(&c), INT64_C(5000000000000));
    assert_int_equal(okno_clock_wait_ms(&c, INT64_C(5000000000001)), -1);
    assert_int_equal(okno_clock_wait_ms(&c, 0), 0);
}

static void a_scaled_clock_runs_speed_times_faster_from_its_origin(void **state)
{
    (void)state;
    okno_clock a, b;
    int64_t origin = real_ms() - 1000; /* a second ago */
    assert_int_equal(okno_clock_init_scaled(&a, 3600, origin), 0);
    assert_int_equal(okno_clock_init_scaled(&b, 3600, origin), 0);
    int64_t sim = okno_clock_now_ms(&a), real = real_ms();
    /* A real second since the origin is an hour of clock time. */
    assert_true(sim >= origin + 3600 * (real - 2 - origin));
    assert_true(sim <= origin + 3600 * (real + 2 - origin));
    assert_true(okno_clock_now_ms(&b) - sim < 3600 * 50); /* the same time, to the skew */
    /* An hour of clock time ahead takes a real second. */
    int64_t wait = okno_clock_wait_ms(&a, okno_clock_now_ms(&a) + 3600000);
    assert_true(wait >= 990 && wait <= 1000);
    assert_int_equal(okno_clock_real_ms(&a, 1), 1); /* rounded up */
    okno_clock_advance(&a, 86400000);
    assert_true(okno_clock_now_ms(&a) - okno_clock_now_ms(&b) >= 86400000 - 3600 * 50);
    assert_int_equal(okno_clock_init_scaled(&a, 0, origin), OKNO_EINVAL);
    assert_int_equal(okno_clock_init_scaled(&a, OKNO_CLOCK_SPEED_MAX + 1, origin), OKNO_EINVAL);
}

static const struct okno_config_key keys[] = {OKNO_CLOCK_CONFIG_KEYS, {.name = NULL}};

static int load(struct okno_config *cfg, const char *ini, okno_clock *c, char *err)
{
    const struct okno_config_key *const tables[] = {keys, NULL};
    assert_int_equal(okno_config_init(cfg, tables), 0);
    assert_int_equal(okno_config_load_string(cfg, ini, "test.ini"), 0);
    int rc = okno_clock_from_config(cfg, c, err, 256);
    okno_config_close(cfg);
    return rc;
}

static void the_configuration_needs_an_origin_for_a_speed(void **state)
{
    (void)state;
    struct okno_config *cfg = test_malloc(sizeof *cfg);
    okno_clock c;
    char err[256] = "";
    assert_int_equal(load(cfg, "", &c, err), 0);
    assert_int_equal(c.kind, OKNO_CLOCK_SYSTEM);
    assert_int_equal(load(cfg, "[clock]\nspeed = 100\n", &c, err), OKNO_ECONFIG);
    assert_non_null(strstr(err, "clock.origin_ms"));
    assert_int_equal(load(cfg, "[clock]\nspeed = 100\norigin_ms = 1700000000000\n", &c, err), 0);
    assert_int_equal(c.kind, OKNO_CLOCK_SCALED);
    assert_int_equal(c.speed, 100);
    test_free(cfg);
}

/* The wall clock as the system has it, in ms. */
static int64_t system_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_step(const char *path, const char *ms)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(ms, f);
    fclose(f);
}

static void the_step_file_steps_the_wall_clock_back_and_forward(void **state)
{
    (void)state;
    struct okno_config *cfg = test_malloc(sizeof *cfg);
    char path[] = "/tmp/okno-test-clock-step-XXXXXX", ini[128], err[256] = "";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_step(path, "-3600000\n");
    snprintf(ini, sizeof ini, "[clock]\nstep_file = %s\n", path);
    okno_clock c;
    assert_int_equal(load(cfg, ini, &c, err), 0);
    int64_t back = system_ms() - 3600000 - okno_clock_now_ms(&c);
    assert_true(back >= -1000 && back <= 1000);
    write_step(path, "3600000\n"); /* read again within a second */
    struct timespec pause = {.tv_sec = 1, .tv_nsec = 200 * 1000000};
    nanosleep(&pause, NULL);
    int64_t forward = okno_clock_now_ms(&c) - system_ms() - 3600000;
    assert_true(forward >= -1000 && forward <= 1000);
    assert_int_equal(load(cfg, "", &c, err), 0); /* no step file: the system clock again */
    int64_t none = okno_clock_now_ms(&c) - system_ms();
    assert_true(none >= -1000 && none <= 1000);
    unlink(path);
    test_free(cfg);
}

static void the_monotonic_clock_never_goes_back_and_counts_ms(void **state)
{
    (void)state;
    int64_t first = okno_clock_monotonic_ms();
    int64_t last = first;
    for (int i = 0; i < 1000; i++) {
        int64_t now = okno_clock_monotonic_ms();
        assert_true(now >= last);
        last = now;
    }
    struct timespec pause = {.tv_nsec = 30 * 1000000};
    nanosleep(&pause, NULL);
    assert_true(okno_clock_monotonic_ms() - first >= 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_manual_clock_moves_only_when_told),
        cmocka_unit_test(the_monotonic_clock_never_goes_back_and_counts_ms),
        cmocka_unit_test(a_scaled_clock_runs_speed_times_faster_from_its_origin),
        cmocka_unit_test(the_configuration_needs_an_origin_for_a_speed),
        cmocka_unit_test(the_step_file_steps_the_wall_clock_back_and_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
