/* The injectable clock: system, sped-up or manual time behind one interface (okno/clock.h). */
#include <assert.h>
#include <stdio.h>
#include <time.h>

#include "okno/clock.h"
#include "okno/config.h"
#include "okno/error.h"

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t okno_clock_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
