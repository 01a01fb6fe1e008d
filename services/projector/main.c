/* okno-projector: keeps the read models (okno_rm) up to date with the event log. */
#include "okno/avro.h"
#include "okno/clock.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/service.h"
#include "projector.h"

static const struct okno_config_key projector_keys[] = {
    {.name = "projector.schema",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno_rm",
     .doc = "read-model schema to maintain (okno_rm[a-z0-9_]*)"},
    {.name = "projector.batch_events",
     .type = OKNO_CONFIG_INT,
     .default_value = "5000",
     .min = 1,
     .max = OKNO_PROJECTOR_BATCH_EVENTS_MAX,
     .doc = "events read and applied in one transaction"},
    {.name = "projector.cache_entries_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "1000000",
     .min = 0,
     .max = 100000000,
     .doc = "messages whose projection state stays in memory between batches"},
    {.name = "projector.idle_poll",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "50ms",
     .min = 1,
     .max = 60000,
     .doc = "wait when nothing new is below the horizon"},
    {.name = "projector.retry_backoff",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "500ms",
     .min = 10,
     .max = 60000,
     .doc = "first wait after a failed batch (doubles up to 30 s)"},
    {.name = NULL},
};

static const struct okno_service_info info = {
    .name = "projector",
    .summary = "builds the read models (okno_rm) from the event log",
    .keys = projector_keys,
};

/* Longest wait between retries after failures, ms. */
#define BACKOFF_MS_MAX 30000

static struct okno_service svc;
static okno_projector projector;
static const char *pg_keys[OKNO_CONFIG_PG_PARAMS_MAX], *pg_values[OKNO_CONFIG_PG_PARAMS_MAX];

typedef struct projector_metrics {
    struct okno_metrics_counter events, skipped, batches, failures, swaps;
    struct okno_metrics_gauge event_age_ms;
    struct okno_metrics_histogram batch_ms;
} projector_metrics;
static projector_metrics metrics;

static void metrics_init(struct okno_metrics *r)
{
    const struct okno_metrics_counter_def counters[] = {
        {&metrics.events, "okno_projector_events_applied_total",
         "Events applied to the read models."},
        {&metrics.skipped, "okno_projector_events_skipped_total",
         "Events skipped because their seq was applied before."},
        {&metrics.batches, "okno_projector_batches_total", "Batches committed."},
        {&metrics.failures, "okno_projector_failures_total", "Batches rolled back."},
        {&metrics.swaps, "okno_projector_swaps_total",
         "Times a replay swapped a new read-model schema in."},
    };
    okno_metrics_counters_init(r, counters, sizeof counters / sizeof counters[0]);
    okno_metrics_gauge_init(r, &metrics.event_age_ms, "okno_projector_event_age_ms",
                            "Age of the last event applied when it was applied, in ms.", NULL);
    okno_metrics_histogram_init(r, &metrics.batch_ms, "okno_projector_batch_ms",
                                "Time to read, apply and commit one batch, in ms.", NULL,
                                okno_metrics_latency_ms_bounds,
                                okno_metrics_latency_ms_bound_count);
}

static int projector_init(struct okno_service *s)
{
    struct okno_config *c = &s->config;
    okno_config_pg_params(c, pg_keys, pg_values);
    okno_projector_config cfg;
    okno_projector_config_init(&cfg);
    cfg.pg_keywords = pg_keys;
    cfg.pg_values = pg_values;
    cfg.schema = okno_config_get_string(c, "projector.schema");
    cfg.batch_events = (int)okno_config_get_int(c, "projector.batch_events");
    cfg.cache_entries_max = (size_t)okno_config_get_int(c, "projector.cache_entries_max");
    int rc = okno_projector_init(&projector, &cfg);
    if (rc != OKNO_OK) {
        okno_log_error("cannot start the projector", OKNO_LOG_STR("reason", projector.error));
        return rc == OKNO_ECONFIG ? OKNO_ECONFIG : rc;
    }
    metrics_init(&s->metrics);
    return OKNO_OK;
}

/* What the metrics have counted so far, and the wall clock for the events' age. */
static okno_projector_stats seen;
static okno_clock wall;

static void observe(void *arg, int rc, size_t applied, int64_t step_ms)
{
    (void)rc, (void)applied;
    const okno_projector_stats *now = &((okno_projector *)arg)->stats;
    okno_metrics_counter_add(&metrics.events, now->events - seen.events);
    okno_metrics_counter_add(&metrics.skipped, now->skipped - seen.skipped);
    okno_metrics_counter_add(&metrics.batches, now->batches - seen.batches);
    okno_metrics_counter_add(&metrics.failures, now->failures - seen.failures);
    okno_metrics_counter_add(&metrics.swaps, now->swaps - seen.swaps);
    if (now->events > seen.events) {
        okno_metrics_gauge_set(&metrics.event_age_ms,
                               okno_clock_now_ms(&wall) - now->last_event_ms);
        okno_metrics_histogram_observe(&metrics.batch_ms, (double)step_ms);
    }
    seen = *now;
}

static int projector_step(void *arg, size_t *applied)
{
    return okno_projector_step(arg, applied);
}

static const char *projector_error(void *arg)
{
    return ((okno_projector *)arg)->error;
}

static int projector_run(struct okno_service *s)
{
    okno_clock_init_system(&wall);
    const okno_service_steps steps = {
        .step = projector_step,
        .error = projector_error,
        .observe = observe,
        .arg = &projector,
        .idle_ms = okno_config_get_duration_ms(&s->config, "projector.idle_poll"),
        .backoff_ms_min = okno_config_get_duration_ms(&s->config, "projector.retry_backoff"),
        .backoff_ms_max = BACKOFF_MS_MAX,
        .failing_reason = "read-model batches are failing",
        .failed_message = "batch failed, retrying",
    };
    okno_service_run_steps(s, &steps);
    okno_log_info("stopped", OKNO_LOG_UINT("events", projector.stats.events),
                  OKNO_LOG_UINT("batches", projector.stats.batches));
    return OKNO_OK;
}

int main(int argc, char **argv)
{
    int rc = okno_service_init(&svc, &info, argc, argv);
    if (rc == OKNO_OK)
        rc = projector_init(&svc);
    if (rc == OKNO_OK)
        rc = okno_service_start(&svc);
    if (rc == OKNO_OK)
        rc = projector_run(&svc);
    okno_projector_close(&projector);
    okno_avro_close();
    okno_service_close(&svc);
    return okno_service_exit_code(rc);
}
