/* The injectable clock: system, sped-up or manual time behind one interface (okno/clock.h). */
#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "okno/clock.h"
#include "okno/config.h"
#include "okno/error.h"

/* How often clock.step_file is read again, in milliseconds. */
#define STEP_FILE_READ_MS 1000
/* Longest clock.step_file path, in bytes with the NUL. */
#define STEP_FILE_PATH_BYTES 512

/* clock.step_file: process-wide, as the wall clock it steps is. The path is set once at
 * configuration, before any thread reads the clock; the step and its reading time are atomics. */
static char step_path[STEP_FILE_PATH_BYTES];
static _Atomic int64_t step_ms;
static _Atomic int64_t step_read_at_ms; /* okno_clock_monotonic_ms of the last read; 0: never */

static int64_t step_now(void)
{
    int64_t mono = okno_clock_monotonic_ms();
    if (step_read_at_ms != 0 && mono - step_read_at_ms < STEP_FILE_READ_MS)
        return step_ms;
    step_read_at_ms = mono;
    FILE *f = fopen(step_path, "r");
    long long v;
    if (f != NULL && fscanf(f, "%lld", &v) == 1)
        step_ms = (int64_t)v;
    if (f != NULL)
        fclose(f);
    return step_ms; /* a missing or unreadable file keeps the last step */
}

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return step_path[0] != '\0' ? ms + step_now() : ms;
}

int64_t okno_clock_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t okno_clock_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void okno_clock_init_system(okno_clock *c)
{
    *c = (okno_clock){.kind = OKNO_CLOCK_SYSTEM, .speed = 1};
}

int okno_clock_init_scaled(okno_clock *c, int64_t speed, int64_t origin_ms)
{
    if (speed < 1 || speed > OKNO_CLOCK_SPEED_MAX || origin_ms < 0)
        return OKNO_EINVAL;
    *c = (okno_clock){.kind = OKNO_CLOCK_SCALED, .speed = speed, .origin_ms = origin_ms};
    return OKNO_OK;
}

void okno_clock_init_manual(okno_clock *c, int64_t start_ms)
{
    *c = (okno_clock){.kind = OKNO_CLOCK_MANUAL, .speed = 1, .offset_ms = start_ms};
}

int64_t okno_clock_now_ms(const okno_clock *c)
{
    switch (c->kind) {
    case OKNO_CLOCK_MANUAL:
        return c->offset_ms;
    case OKNO_CLOCK_SCALED:
        return c->origin_ms + (realtime_ms() - c->origin_ms) * c->speed + c->offset_ms;
    default:
        return realtime_ms() + c->offset_ms;
    }
}

void okno_clock_advance(okno_clock *c, int64_t ms)
{
    assert(ms >= 0);
    c->offset_ms += ms;
}

void okno_clock_set(okno_clock *c, int64_t at_ms)
{
    assert(c->kind == OKNO_CLOCK_MANUAL);
    assert(at_ms >= c->offset_ms);
    c->offset_ms = at_ms;
}

int64_t okno_clock_real_ms(const okno_clock *c, int64_t sim_ms)
{
    if (c->kind == OKNO_CLOCK_MANUAL)
        return -1;
    if (sim_ms <= 0)
        return 0;
    return (sim_ms + c->speed - 1) / c->speed;
}

int64_t okno_clock_wait_ms(const okno_clock *c, int64_t at_ms)
{
    int64_t now = okno_clock_now_ms(c);
    if (now >= at_ms)
        return 0;
    return okno_clock_real_ms(c, at_ms - now);
}

int okno_clock_from_config(const struct okno_config *cfg, okno_clock *c, char *errbuf,
                           size_t errbuf_bytes)
{
    const char *step_file = okno_config_get_string(cfg, "clock.step_file");
    if (step_file != NULL && strlen(step_file) >= sizeof step_path) {
        return okno_errorf(errbuf, errbuf_bytes, OKNO_ECONFIG,
                           "clock.step_file is longer than %d bytes", STEP_FILE_PATH_BYTES - 1);
    }
    snprintf(step_path, sizeof step_path, "%s", step_file != NULL ? step_file : "");
    int64_t speed = okno_config_get_int(cfg, "clock.speed");
    int64_t origin = okno_config_get_int(cfg, "clock.origin_ms");
    if (speed == 1) {
        okno_clock_init_system(c);
        return OKNO_OK;
    }
    if (origin == 0) {
        snprintf(errbuf, errbuf_bytes,
                 "clock.speed %lld needs clock.origin_ms: the Unix ms where simulated time starts "
                 "(the same for every service)",
                 (long long)speed);
        return OKNO_ECONFIG;
    }
    return okno_clock_init_scaled(c, speed, origin) == OKNO_OK ? OKNO_OK : OKNO_ECONFIG;
}
