/* Service runtime: stop signals, readiness and liveness, the admin server's lifetime. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "okno/clock.h"
#include "okno/error.h"
#include "okno/log.h"
#include "util/service_internal.h"

#ifndef OKNO_VERSION
#define OKNO_VERSION "unknown"
#endif

/* The one service a process runs, for the signal handler; set by _start, cleared by _close. */
static struct okno_service *_Atomic signal_target;

/* Everything here is async-signal-safe: lock-free atomics, sem_post, uv_async_send. */
static void stop_now(struct okno_service *svc)
{
    atomic_store(&svc->stop_requested, true);
    sem_post(&svc->stop_sem);
    uv_async_t *async = atomic_load(&svc->stop_async);
    if (async != NULL)
        uv_async_send(async);
}

static void on_stop_signal(int sig)
{
    struct okno_service *svc = atomic_load(&signal_target);
    if (svc == NULL)
        return;
    if (atomic_load(&svc->stop_requested)) {
        /* A second signal: the operator is done waiting for a graceful stop. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_now(svc);
}

static bool ready_check(void *arg, char *reason, size_t size)
{
    struct okno_service *svc = arg;
    if (atomic_load(&svc->stop_requested)) {
        snprintf(reason, size, "stopping");
        return false;
    }
    if (atomic_load(&svc->ready))
        return true;
    const char *why = atomic_load(&svc->not_ready_reason);
    snprintf(reason, size, "%s", why != NULL ? why : "starting");
    return false;
}

bool okno__service_live(struct okno_service *svc, int64_t now_ms, char *reason, size_t size)
{
    int64_t beat = atomic_load(&svc->heartbeat_ms);
    if (beat == 0 || now_ms - beat <= svc->liveness_timeout_ms)
        return true;
    snprintf(reason, size, "no heartbeat from the service loop for %" PRId64 " ms", now_ms - beat);
    return false;
}

static bool live_check(void *arg, char *reason, size_t size)
{
    return okno__service_live(arg, okno_clock_monotonic_ms(), reason, size);
}

static int register_metrics(struct okno_service *svc)
{
    const char *version = svc->info->version != NULL ? svc->info->version : OKNO_VERSION;
    int rc = okno_metrics_gauge_init(
        &svc->metrics, &svc->info_gauge, "okno_service_info",
        "The running service and its version; always 1.",
        (const char *const[]){"service", svc->info->name, "version", version, NULL});
    if (rc == 0)
        rc = okno_metrics_gauge_init(&svc->metrics, &svc->ready_gauge, "okno_service_ready",
                                     "1 when /readyz answers 200.", NULL);
    okno_metrics_gauge_set(&svc->info_gauge, 1);
    return rc;
}

int okno__service_setup_runtime(struct okno_service *svc)
{
    const struct okno_config *cfg = &svc->config;
    atomic_init(&svc->stop_requested, false);
    atomic_init(&svc->ready, false);
    atomic_init(&svc->not_ready_reason, "starting");
    atomic_init(&svc->heartbeat_ms, 0);
    atomic_init(&svc->stop_async, NULL);
    svc->liveness_timeout_ms = okno_config_get_duration_ms(cfg, "admin.liveness_timeout");
    svc->admin_enabled = okno_config_get_bool(cfg, "admin.enabled");
    if (sem_init(&svc->stop_sem, 0, 0) != 0 || okno_metrics_init(&svc->metrics) != 0)
        return OKNO_ENOMEM;
    svc->runtime_ready = true;
    int rc = register_metrics(svc);
    if (rc != 0 || !svc->admin_enabled)
        return rc;
    struct okno_admin_http_options opt = {
        .listen = okno_config_get_string(cfg, "admin.listen"),
        .metrics = &svc->metrics,
        .ready = ready_check,
        .live = live_check,
        .arg = svc,
    };
    rc = okno_admin_http_init(&svc->admin, &opt);
    if (rc == OKNO_EINVAL) {
        okno_log_error("invalid configuration",
                       OKNO_LOG_STR("error", "admin.listen: want host:port with a numeric host"),
                       OKNO_LOG_STR("value", opt.listen));
        return OKNO_ECONFIG;
    }
    return rc;
}

static int install_signals(struct okno_service *svc)
{
    struct okno_service *expected = NULL;
    if (!atomic_compare_exchange_strong(&signal_target, &expected, svc))
        return OKNO_EINVAL; /* one service per process */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, &svc->old_sigterm) != 0 ||
        sigaction(SIGINT, &sa, &svc->old_sigint) != 0)
        return OKNO_EIO;
    svc->signals_installed = true;
    return 0;
}

int okno_service_start(struct okno_service *svc)
{
    assert(svc->runtime_ready);
    assert(!svc->started);
    /* librdkafka and the admin server write to sockets a peer may have closed. */
    signal(SIGPIPE, SIG_IGN);
    int rc = install_signals(svc);
    if (rc == 0 && svc->admin_enabled)
        rc = okno_admin_http_start(&svc->admin);
    if (rc != 0) {
        okno_log_error("service failed to start", OKNO_LOG_ERR(rc));
        return rc;
    }
    svc->started = true;
    okno_log_info(
        "service started", OKNO_LOG_INT("pid", getpid()),
        OKNO_LOG_STR("version", svc->info->version != NULL ? svc->info->version : OKNO_VERSION),
        OKNO_LOG_INT("admin_port", okno_admin_http_port(&svc->admin)));
    return 0;
}

bool okno_service_stopping(const struct okno_service *svc)
{
    return atomic_load(&((struct okno_service *)svc)->stop_requested);
}

void okno_service_request_stop(struct okno_service *svc)
{
    if (!atomic_load(&svc->stop_requested))
        okno_log_info("stop requested");
    stop_now(svc);
}

static void deadline_after(int64_t timeout_ms, struct timespec *deadline)
{
    clock_gettime(CLOCK_REALTIME, deadline);
    deadline->tv_sec += timeout_ms / 1000;
    deadline->tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000L;
    }
}

int okno_service_wait(struct okno_service *svc, int64_t timeout_ms)
{
    struct timespec deadline;
    deadline_after(timeout_ms < 0 ? 0 : timeout_ms, &deadline);
    while (!atomic_load(&svc->stop_requested)) {
        int rc =
            timeout_ms < 0 ? sem_wait(&svc->stop_sem) : sem_timedwait(&svc->stop_sem, &deadline);
        if (rc != 0 && errno == ETIMEDOUT)
            return OKNO_ETIMEDOUT;
    }
    sem_post(&svc->stop_sem); /* leave it posted for any other waiter */
    return 0;
}

void okno_service_set_stop_async(struct okno_service *svc, uv_async_t *async)
{
    atomic_store(&svc->stop_async, async);
    if (async != NULL && atomic_load(&svc->stop_requested))
        uv_async_send(async); /* a stop that came first is not lost */
}

void okno_service_set_ready(struct okno_service *svc, bool ready, const char *reason)
{
    if (!ready)
        atomic_store(&svc->not_ready_reason, reason != NULL ? reason : "not ready");
    if (atomic_exchange(&svc->ready, ready) != ready)
        okno_log_info(ready ? "service ready" : "service not ready",
                      OKNO_LOG_STR("reason", ready ? NULL : reason));
    okno_metrics_gauge_set(&svc->ready_gauge, ready ? 1 : 0);
}

void okno_service_heartbeat(struct okno_service *svc)
{
    atomic_store(&svc->heartbeat_ms, okno_clock_monotonic_ms());
}

static void restore_signals(struct okno_service *svc)
{
    if (!svc->signals_installed)
        return;
    sigaction(SIGTERM, &svc->old_sigterm, NULL);
    sigaction(SIGINT, &svc->old_sigint, NULL);
    atomic_store(&signal_target, NULL);
    svc->signals_installed = false;
}

void okno_service_close(struct okno_service *svc)
{
    if (svc == NULL || svc->info == NULL)
        return;
    okno_admin_http_close(&svc->admin);
    restore_signals(svc);
    if (svc->started)
        okno_log_info("service stopped");
    if (svc->runtime_ready) {
        okno_metrics_close(&svc->metrics);
        sem_destroy(&svc->stop_sem);
    }
    okno_config_close(&svc->config);
    svc->started = false;
    svc->runtime_ready = false;
}
