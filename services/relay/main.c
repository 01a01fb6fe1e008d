/* okno-relay: publishes the event log and the recorded refusals to Kafka, in order, never
 * skipping a late commit. The logic lives in relay.c; this wires it to the service runtime
 * (configuration, logging, metrics, admin endpoints) and runs the loop until a stop. */
#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/log.h"
#include "okno/service.h"
#include "relay.h"

/* Waits after failed steps, in milliseconds: doubling from the first to the last. */
#define BACKOFF_MS_MIN 100
#define BACKOFF_MS_MAX 5000

static const struct okno_config_key relay_keys[] = {
    {.name = "relay.events_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = OKNO_TOPIC_EVENTS,
     .doc = "topic the event log is published to"},
    {.name = "relay.rejections_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = OKNO_TOPIC_REJECTIONS,
     .doc = "topic the recorded refusals go to"},
    {.name = "relay.cursor_prefix",
     .type = OKNO_CONFIG_STRING,
     .default_value = "",
     .doc = "prefix of this relay's okno.relay_cursors rows (and its leader lock)"},
    {.name = "relay.batch_rows",
     .type = OKNO_CONFIG_INT,
     .default_value = "5000",
     .min = 1,
     .max = OKNO_RELAY_BATCH_ROWS_MAX,
     .doc = "rows read and produced per stream and step"},
    {.name = "relay.idle_poll",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "50ms",
     .min = 1,
     .max = 60000,
     .doc = "wait when nothing new is below the horizon"},
    {.name = "relay.delivery_timeout",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "300s",
     .min = 1000,
     .max = 3600000,
     .doc = "librdkafka message.timeout.ms"},
    {.name = "relay.checkpoint_events",
     .type = OKNO_CONFIG_INT,
     .default_value = "10000",
     .min = 0,
     .max = 100000,
     .doc = "events per global checkpoint; 0 writes none"},
    {.name = "relay.checkpoints_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = OKNO_TOPIC_CHECKPOINTS,
     .doc = "topic the signed checkpoints go to (one partition, kept forever)"},
    {.name = "relay.anchor_key",
     .type = OKNO_CONFIG_STRING,
     .default_value = "",
     .doc = "PEM file of the Ed25519 private key that signs the published checkpoints (a "
            "deployment secret, never in PostgreSQL); empty: checkpoints are not published"},
    {.name = NULL},
};

static const struct okno_service_info info = {
    .name = "relay",
    .summary = "publishes the event log to Kafka in order, never skipping a late commit",
    .keys = relay_keys,
};

/* What the loop reports, as deltas of okno_relay_stats. */
typedef struct relay_metrics {
    struct okno_metrics_counter published, failures, restarts, checkpoints, anchors;
    okno_relay_stats seen;
} relay_metrics;

static struct okno_service svc;
static okno_relay relay;
static okno_anchor_key anchor_key;
static relay_metrics metrics;
static const char *pg_keywords[OKNO_CONFIG_PG_PARAMS_MAX];
static const char *pg_values[OKNO_CONFIG_PG_PARAMS_MAX];

static int kafka_conf(rd_kafka_conf_t *conf, void *arg, char *err, size_t err_bytes)
{
    struct okno_config *cfg = arg;
    int rc = okno_config_kafka_apply(cfg, conf, OKNO_CONFIG_KAFKA_PRODUCER);
    if (rc != 0)
        snprintf(err, err_bytes, "%s", okno_config_error(cfg));
    return rc;
}

static bool stopping(void *arg)
{
    return okno_service_stopping(arg);
}

static void metrics_init(relay_metrics *m, struct okno_metrics *reg)
{
    okno_metrics_counter_init(reg, &m->published, "okno_relay_records_total",
                              "Records published and confirmed by Kafka.", NULL);
    okno_metrics_counter_init(reg, &m->failures, "okno_relay_delivery_failures_total",
                              "Batches re-read from the cursor after a failed delivery.", NULL);
    okno_metrics_counter_init(reg, &m->restarts, "okno_relay_producer_restarts_total",
                              "Producers recreated after a fatal error.", NULL);
    okno_metrics_counter_init(reg, &m->checkpoints, "okno_relay_checkpoints_total",
                              "Global checkpoints written.", NULL);
    okno_metrics_counter_init(
        reg, &m->anchors, "okno_relay_anchors_total",
        "Signed checkpoints published to the checkpoints topic and confirmed.", NULL);
}

static void metrics_update(relay_metrics *m, const okno_relay_stats *now)
{
    okno_metrics_counter_add(&m->published, now->published - m->seen.published);
    okno_metrics_counter_add(&m->failures, now->delivery_failures - m->seen.delivery_failures);
    okno_metrics_counter_add(&m->restarts, now->producer_restarts - m->seen.producer_restarts);
    okno_metrics_counter_add(&m->checkpoints, now->checkpoints - m->seen.checkpoints);
    okno_metrics_counter_add(&m->anchors, now->anchors - m->seen.anchors);
    m->seen = *now;
}

/* The signing key from the deployment's secrets; without one checkpoints stay in the database
 * only, which an insider with the owner's rights could rewrite unnoticed: say so at start. */
static int load_anchor_key(const char *path, okno_relay_config *cfg)
{
    if (path[0] == '\0') {
        okno_log_warn("relay.anchor_key is not set: checkpoints are not signed and published");
        return OKNO_OK;
    }
    char err[512];
    int rc = okno_anchor_key_load(&anchor_key, path, true, err, sizeof err);
    if (rc != 0) {
        okno_log_error("cannot load relay.anchor_key", OKNO_LOG_STR("reason", err));
        return OKNO_ECONFIG;
    }
    cfg->anchor_key = &anchor_key;
    return OKNO_OK;
}

static int relay_init(void)
{
    struct okno_config *c = &svc.config;
    okno_relay_config cfg;
    okno_relay_config_init(&cfg);
    okno_config_pg_params(c, pg_keywords, pg_values);
    cfg.pg_keywords = pg_keywords;
    cfg.pg_values = pg_values;
    cfg.kafka_conf = kafka_conf;
    cfg.kafka_conf_arg = c;
    cfg.stopping = stopping;
    cfg.stopping_arg = &svc;
    cfg.events_topic = okno_config_get_string(c, "relay.events_topic");
    cfg.rejections_topic = okno_config_get_string(c, "relay.rejections_topic");
    cfg.cursor_prefix = okno_config_get_string(c, "relay.cursor_prefix");
    cfg.batch_rows = (int)okno_config_get_int(c, "relay.batch_rows");
    cfg.delivery_timeout_ms = (int)okno_config_get_duration_ms(c, "relay.delivery_timeout");
    cfg.checkpoint_events = okno_config_get_int(c, "relay.checkpoint_events");
    cfg.checkpoints_topic = okno_config_get_string(c, "relay.checkpoints_topic");
    int rc = load_anchor_key(okno_config_get_string(c, "relay.anchor_key"), &cfg);
    if (rc != 0)
        return rc;
    metrics_init(&metrics, &svc.metrics);
    rc = okno_relay_init(&relay, &cfg);
    if (rc != 0)
        okno_log_error("bad relay configuration", OKNO_LOG_STR("reason", relay.error));
    return rc;
}

static int relay_step(void *arg, size_t *published)
{
    return okno_relay_step(arg, published);
}

static const char *relay_error(void *arg)
{
    return ((okno_relay *)arg)->error;
}

static void relay_observe(void *arg, int rc, size_t published, int64_t step_ms)
{
    (void)rc, (void)published, (void)step_ms;
    metrics_update(&metrics, &((okno_relay *)arg)->stats);
}

static void relay_run(void)
{
    okno_log_info("relaying", OKNO_LOG_STR("events_topic", relay.cfg.events_topic),
                  OKNO_LOG_STR("rejections_topic", relay.cfg.rejections_topic),
                  OKNO_LOG_STR("cursor_prefix", relay.cfg.cursor_prefix),
                  OKNO_LOG_STR("checkpoints_topic",
                               relay.cfg.anchor_key != NULL ? relay.cfg.checkpoints_topic : ""));
    const okno_service_steps steps = {
        .step = relay_step,
        .error = relay_error,
        .observe = relay_observe,
        .arg = &relay,
        .idle_ms = okno_config_get_duration_ms(&svc.config, "relay.idle_poll"),
        .backoff_ms_min = BACKOFF_MS_MIN,
        .backoff_ms_max = BACKOFF_MS_MAX,
        .failing_reason = "relay steps are failing",
        .failed_message = "relay step failed",
    };
    okno_service_run_steps(&svc, &steps);
    okno_log_info("relay stopping", OKNO_LOG_UINT("records", relay.stats.published),
                  OKNO_LOG_UINT("checkpoints", relay.stats.checkpoints),
                  OKNO_LOG_UINT("anchors", relay.stats.anchors));
}

int main(int argc, char **argv)
{
    int rc = okno_service_init(&svc, &info, argc, argv);
    if (rc == OKNO_OK)
        rc = relay_init();
    if (rc == OKNO_OK)
        rc = okno_service_start(&svc);
    if (rc == OKNO_OK) {
        okno_service_set_ready(&svc, false, "first step not done yet");
        relay_run();
    }
    okno_relay_close(&relay);
    okno_anchor_key_close(&anchor_key);
    okno_service_close(&svc);
    return okno_service_exit_code(rc);
}
