/* Time as okno's services read it, behind one small interface so that it can be injected: the
 * system clock; the system clock sped up (a demo or a test runs days in minutes, and every
 * service configured with the same speed and origin reads the same simulated time); or a manual
 * clock that only a test moves. The workflow core never reads a clock: services pass its time in.
 */
#ifndef OKNO_CLOCK_H
#define OKNO_CLOCK_H

#include <stddef.h>
#include <stdint.h>

struct okno_config;

#define OKNO_CLOCK_SPEED_MAX 1000000 /* simulated ms per real ms, at most */

typedef enum okno_clock_kind {
    OKNO_CLOCK_SYSTEM = 0, /* CLOCK_REALTIME */
    OKNO_CLOCK_SCALED = 1, /* origin + (CLOCK_REALTIME - origin) * speed */
    OKNO_CLOCK_MANUAL = 2, /* moves only through okno_clock_advance / okno_clock_set */
} okno_clock_kind;

/* Caller-allocated; plain data, copied freely. Read it only through the functions below. */
typedef struct okno_clock {
    okno_clock_kind kind;
    int64_t speed;     /* scaled: simulated ms per real ms, 1..OKNO_CLOCK_SPEED_MAX */
    int64_t origin_ms; /* scaled: the Unix ms at which simulated and real time agree */
    int64_t offset_ms; /* added to every reading; what okno_clock_advance moves */
} okno_clock;

void okno_clock_init_system(okno_clock *c);
/* Simulated time runs `speed` times faster than real time from origin_ms on (Unix ms). Two
 * processes with the same speed and origin read the same time, up to their real clocks' skew
 * times speed. OKNO_EINVAL for a speed out of 1..OKNO_CLOCK_SPEED_MAX or a negative origin. */
int okno_clock_init_scaled(okno_clock *c, int64_t speed, int64_t origin_ms);
/* A clock standing at start_ms until a test moves it. */
void okno_clock_init_manual(okno_clock *c, int64_t start_ms);

/* The time, Unix ms. */
int64_t okno_clock_now_ms(const okno_clock *c);
/* Moves the clock forward by ms (>= 0): a manual clock by that much; the others gain a
 * fixed offset, so a running service can be pushed forward too. */
void okno_clock_advance(okno_clock *c, int64_t ms);
/* Sets a manual clock to at_ms, which must not be before its current reading. */
void okno_clock_set(okno_clock *c, int64_t at_ms);

/* Real milliseconds to wait until the clock reads at least at_ms: 0 when it already does,
 * rounded up otherwise. A manual clock never gets there by itself: its answer is -1. */
int64_t okno_clock_wait_ms(const okno_clock *c, int64_t at_ms);
/* Real milliseconds that `sim_ms` of clock time take (rounded up; -1 for a manual clock). */
int64_t okno_clock_real_ms(const okno_clock *c, int64_t sim_ms);

/* CLOCK_MONOTONIC in milliseconds: for timeouts, back-offs, heartbeats and durations, never for
 * the time of an event (that comes from an okno_clock). The one monotonic clock of okno. */
int64_t okno_clock_monotonic_ms(void);
/* The same clock in nanoseconds: for timing phases of work (replay's statistics). */
int64_t okno_clock_monotonic_ns(void);

/* The configuration keys of the shared clock, to put in a service's key table (end the table
 * with {.name = NULL} as usual). Services that share a clock must agree on both. */
#define OKNO_CLOCK_CONFIG_KEYS                                                                     \
    {.name = "clock.speed",                                                                        \
     .type = OKNO_CONFIG_INT,                                                                      \
     .default_value = "1",                                                                         \
     .min = 1,                                                                                     \
     .max = OKNO_CLOCK_SPEED_MAX,                                                                  \
     .doc = "simulated ms per real ms (1: real time); every service must use the same"},           \
        {.name = "clock.origin_ms",                                                                \
         .type = OKNO_CONFIG_INT,                                                                  \
         .default_value = "0",                                                                     \
         .min = 0,                                                                                 \
         .max = INT64_C(100000000000000),                                                          \
         .doc = "Unix ms where a sped-up clock agrees with real time (required when speed > 1)"},  \
    {                                                                                              \
        .name = "clock.step_file", .type = OKNO_CONFIG_STRING, .default_value = "",                \
        .doc = "a file holding milliseconds added to the wall clock, read again every second: "    \
               "how the fault tests step the clock of running services (empty: none)"              \
    }

/* A clock from clock.speed and clock.origin_ms: the system clock at speed 1, else scaled.
 * OKNO_ECONFIG with a reason in errbuf when speed > 1 and no origin is set. clock.step_file, when
 * set, makes every system and scaled clock of the process read the wall clock plus the step in
 * that file (a whole number of ms, re-read at most once a second): the fault tests step a
 * running service's clock back and forward with it. */
int okno_clock_from_config(const struct okno_config *cfg, okno_clock *c, char *errbuf,
                           size_t errbuf_bytes);

#endif
