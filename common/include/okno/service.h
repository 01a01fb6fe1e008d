/* The service runtime: what every okno service main does before and after its own work —
 * command line, configuration, logging, metrics, admin HTTP, stop signals, exit codes. */
#ifndef OKNO_SERVICE_H
#define OKNO_SERVICE_H

#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "okno/admin_http.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/metrics.h"

/* okno_service_init's "done, exit 0" result (after --help, --version, a passing
 * --check-config). Positive, so it never collides with a negative OKNO_E* code. */
#define OKNO_SERVICE_EXIT 1

/* What a service says about itself; borrowed for the service's lifetime (make it static). */
struct okno_service_info {
    const char *name;                   /* "ledger": the log `service` field, metric label */
    const char *summary;                /* one line for --help */
    const char *version;                /* NULL = the okno release */
    const struct okno_config_key *keys; /* the service's own keys; NULL = none */
};

/* Caller-allocated; put it in static storage (it holds the whole configuration). Fields are
 * private to service.c except where noted. */
struct okno_service {
    const struct okno_service_info *info;
    struct okno_config config;   /* read it with okno_config_get_*() after init */
    struct okno_metrics metrics; /* register the service's metrics here */
    struct okno_admin_http admin;
    struct okno_metrics_gauge info_gauge;  /* okno_service_info{service,version} 1 */
    struct okno_metrics_gauge ready_gauge; /* okno_service_ready 0/1 */
    bool admin_enabled;                    /* admin.enabled */
    bool runtime_ready;     /* metrics, semaphore (and admin) set up: init succeeded */
    bool signals_installed; /* our SIGTERM/SIGINT handlers are in place */
    bool started;           /* okno_service_start succeeded */
    atomic_bool stop_requested;
    atomic_bool ready;
    _Atomic(const char *) not_ready_reason; /* static text, for /readyz */
    atomic_int_least64_t heartbeat_ms;      /* CLOCK_MONOTONIC ms of the last beat; 0 = never */
    int64_t liveness_timeout_ms;            /* admin.liveness_timeout */
    _Atomic(uv_async_t *) stop_async;       /* woken on stop; borrowed */
    sem_t stop_sem;                         /* posted on stop, for okno_service_wait */
    struct sigaction old_sigterm;
    struct sigaction old_sigint;
};

/* Parses argv (--config FILE, --check-config, --help, --version), loads the configuration
 * (defaults, then the file, then OKNO_* environment variables; see common/util/README.md),
 * sets up logging, the metrics registry and the admin server (not yet listening).
 * Returns 0 when the service should run, OKNO_SERVICE_EXIT when the request was served, or a
 * negative OKNO_E* code after logging why (OKNO_ECONFIG: bad argument or configuration).
 * In every case: return okno_service_exit_code(rc) after okno_service_close(svc). */
int okno_service_init(struct okno_service *svc, const struct okno_service_info *info, int argc,
                      char **argv);

/* Maps an init/start/run result to the process exit code (OKNO_EXIT_* in okno/error.h). */
int okno_service_exit_code(int rc);

/* Installs the SIGTERM/SIGINT handlers and starts the admin server. A second signal while
 * stopping ends the process at once (default action). OKNO_EIO if the admin port is taken. */
int okno_service_start(struct okno_service *svc);

/* True once a stop was requested (signal or okno_service_request_stop). Any thread; cheap enough
 * for every turn of a poll loop. */
bool okno_service_stopping(const struct okno_service *svc);

/* Requests a stop, as a signal would. Any thread. */
void okno_service_request_stop(struct okno_service *svc);

/* Blocks until a stop is requested (0) or timeout_ms passes (OKNO_ETIMEDOUT); a negative
 * timeout waits for ever. For mains whose work runs on other threads. */
int okno_service_wait(struct okno_service *svc, int64_t timeout_ms);

/* Wakes a libuv loop on stop: uv_async_send(async) from the signal handler (it is
 * async-signal-safe). `async` is borrowed until okno_service_close or a call with NULL. */
void okno_service_set_stop_async(struct okno_service *svc, uv_async_t *async);

/* Readiness for /readyz. `reason` (static text, e.g. "waiting for partition assignment") is
 * shown while not ready; ignored when ready. Any thread. */
void okno_service_set_ready(struct okno_service *svc, bool ready, const char *reason);

/* Tells /healthz the service's own loop is turning. Once called, /healthz fails when no beat
 * came for admin.liveness_timeout; never called, /healthz only reflects the admin loop. */
void okno_service_heartbeat(struct okno_service *svc);

/* A service whose work is a loop of steps with back-off (the relay, the projector; next the
 * notifier and the reports). Borrowed by okno_service_run_steps for its run. */
typedef struct okno_service_steps {
    /* One step: 0 with *done counting the work done (0: nothing new), or a negative OKNO_E*
     * code; OKNO_ECONFLICT means another instance is active and this one stands by. */
    int (*step)(void *arg, size_t *done);
    const char *(*error)(void *arg); /* the text of the step's last failure */
    /* After every step (metrics); may be NULL. step_ms: the step's duration. */
    void (*observe)(void *arg, int rc, size_t done, int64_t step_ms);
    void *arg;
    int64_t idle_ms;            /* wait after a step that did nothing */
    int64_t backoff_ms_min;     /* first wait after a failed step; doubles ... */
    int64_t backoff_ms_max;     /* ... up to this */
    const char *failing_reason; /* /readyz text while steps fail (static) */
    const char *failed_message; /* log message for a failure with a new text (static) */
} okno_service_steps;

/* Runs steps until a stop is requested: beats the heartbeat, runs a step, observes it, sets
 * readiness (ready after a step that succeeded or stood by), then waits idle_ms when nothing
 * was done, the back-off after a failure (reset by a success). Each new failure text is logged
 * once: "standing by" (info) for OKNO_ECONFLICT, failed_message (warn) otherwise. */
void okno_service_run_steps(struct okno_service *svc, const okno_service_steps *steps);

/* Stops the admin server, restores signal handlers, logs the stop and frees everything. Safe
 * after any init result. */
void okno_service_close(struct okno_service *svc);

#endif
