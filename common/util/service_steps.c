/* The step runner of the service runtime: the loop-with-back-off of services such as the relay
 * and the projector, with heartbeat, readiness and each new trouble logged once. */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "okno/clock.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/service.h"

/* Longest failure text compared to the previous one, in bytes. */
#define LAST_ERROR_BYTES 512

/* How often a standby tries the leader lock again, in milliseconds: fixed, not backing off, so
 * the takeover after a leader's session ends is bounded (docs/guarantees.md; its own back-off
 * may reach 30 s). */
#define STANDBY_POLL_MS 1000

/* Logs a failure unless its text is the one logged last. */
static void report(const okno_service_steps *st, int rc, char last[LAST_ERROR_BYTES])
{
    const char *why = st->error(st->arg);
    if (strncmp(last, why, LAST_ERROR_BYTES - 1) == 0)
        return;
    snprintf(last, LAST_ERROR_BYTES, "%s", why);
    if (rc == OKNO_ECONFLICT)
        okno_log_info("standing by", OKNO_LOG_STR("reason", why));
    else
        okno_log_warn(st->failed_message, OKNO_LOG_ERR(rc), OKNO_LOG_STR("reason", why));
}

void okno_service_run_steps(struct okno_service *svc, const okno_service_steps *steps)
{
    assert(steps->step != NULL);
    assert(steps->error != NULL);
    assert(steps->idle_ms >= 0);
    assert(steps->backoff_ms_min >= 1);
    assert(steps->backoff_ms_max >= steps->backoff_ms_min);
    int64_t backoff_ms = steps->backoff_ms_min;
    char last_error[LAST_ERROR_BYTES] = "";
    bool standing_by = false;
    while (!okno_service_stopping(svc)) {
        okno_service_heartbeat(svc);
        size_t done = 0;
        int64_t started_ms = okno_clock_monotonic_ms();
        int rc = steps->step(steps->arg, &done);
        if (steps->observe != NULL)
            steps->observe(steps->arg, rc, done, okno_clock_monotonic_ms() - started_ms);
        /* A standby (another instance holds the lock) is healthy and ready. */
        okno_service_set_ready(svc, rc == OKNO_OK || rc == OKNO_ECONFLICT, steps->failing_reason);
        if (rc == OKNO_OK) {
            if (standing_by)
                okno_log_info("took the lead");
            standing_by = false;
            backoff_ms = steps->backoff_ms_min;
            last_error[0] = '\0';
            if (done == 0)
                okno_service_wait(svc, steps->idle_ms);
            continue;
        }
        if (okno_service_stopping(svc))
            break; /* the failure is the stop's doing (a wait cut short) */
        report(steps, rc, last_error);
        if (rc == OKNO_ECONFLICT) {
            standing_by = true;
            okno_service_wait(svc, STANDBY_POLL_MS);
            continue;
        }
        okno_service_wait(svc, backoff_ms);
        backoff_ms =
            backoff_ms * 2 < steps->backoff_ms_max ? backoff_ms * 2 : steps->backoff_ms_max;
    }
}
