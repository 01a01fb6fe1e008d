/* okno-notifier: notifications from the event log, once each; mail; okno.notifications.v1. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "notifier.h"
#include "okno/avro.h"
#include "okno/clock.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/log.h"
#include "okno/metrics.h"
#include "okno/service.h"

static const struct okno_config_key notifier_keys[] = {
    {.name = "notifier.name",
     .type = OKNO_CONFIG_STRING,
     .default_value = "default",
     .doc = "the cursor's row in okno.notifier_cursor and the leader lock's name"},
    {.name = "notifier.batch_events",
     .type = OKNO_CONFIG_INT,
     .default_value = "5000",
     .min = 1,
     .max = OKNO_NOTIFIER_BATCH_EVENTS_MAX,
     .doc = "events read in one transaction"},
    {.name = "notifier.cache_entries_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "1000000",
     .min = 0,
     .max = 100000000,
     .doc = "message states kept in memory between batches"},
    {.name = "notifier.idle_poll",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "100ms",
     .min = 1,
     .max = 60000,
     .doc = "wait when nothing new is below the horizon"},
    {.name = "notifier.retry_backoff",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "500ms",
     .min = 10,
     .max = 60000,
     .doc = "first wait after a failed batch (doubles up to 30 s)"},
    {.name = "notifier.topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno.notifications.v1",
     .doc = "where notifications are published"},
    {.name = "notifier.publish",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "publish notifications to Kafka"},
    {.name = "notifier.publish_batch",
     .type = OKNO_CONFIG_INT,
     .default_value = "1000",
     .min = 1,
     .max = OKNO_NOTIFIER_PUBLISH_BATCH_MAX,
     .doc = "notifications published per step"},
    OKNO_CONFIG_FAULT_STOP_KEY("notifier.fault_stop_before_send",
                               "between claiming a mail and sending it"),
    {.name = "notifier.digest",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "mail each org's curators its daily lists once a day"},
    {.name = "notifier.weekly",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "mail each org's head the summary of the week before, once a week"},
    {.name = "notifier.digest_hour",
     .type = OKNO_CONFIG_INT,
     .default_value = "8",
     .min = 0,
     .max = 23,
     .doc = "Moscow hour from which the day's digest (and the week's report) is made"},
    {.name = "notifier.digest_schema",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno_rm",
     .doc = "the read-model schema the daily lists are read from"},
    {.name = "notifier.fault_mail_to",
     .type = OKNO_CONFIG_STRING,
     .default_value = "",
     .doc = "where fault requests (SPEC V) are mailed: the situation center's address (empty: "
            "not mailed)"},
    {.name = "mail.enabled",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "send mail (false: notifications are only recorded and published)"},
    {.name = "mail.url",
     .type = OKNO_CONFIG_STRING,
     .default_value = "smtp://127.0.0.1:25",
     .doc = "the SMTP relay: smtp://host:port or smtps://host:port"},
    {.name = "mail.from",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno@example.org",
     .doc = "the sender's address (its domain also names the Message-IDs)"},
    {.name = "mail.from_name",
     .type = OKNO_CONFIG_STRING,
     .default_value = "Единое окно обратной связи",
     .doc = "the sender's display name"},
    {.name = "mail.starttls",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "false",
     .doc = "require STARTTLS on smtp:// (smtps:// is TLS from the start)"},
    {.name = "mail.tls_verify",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "verify the relay's certificate and host name"},
    {.name = "mail.ca_file",
     .type = OKNO_CONFIG_STRING,
     .default_value = NULL,
     .doc = "CA bundle for the relay's certificate (unset: the system's)"},
    {.name = "mail.username",
     .type = OKNO_CONFIG_STRING,
     .default_value = NULL,
     .doc = "SMTP AUTH user (unset: no AUTH)"},
    {.name = "mail.password",
     .type = OKNO_CONFIG_STRING,
     .default_value = NULL,
     .flags = OKNO_CONFIG_SECRET,
     .doc = "SMTP AUTH password"},
    {.name = "mail.timeout",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "10s",
     .min = 100,
     .max = 600000,
     .doc = "one mail's whole exchange with the relay"},
    {.name = "mail.batch",
     .type = OKNO_CONFIG_INT,
     .default_value = "100",
     .min = 1,
     .max = OKNO_NOTIFIER_MAIL_BATCH_MAX,
     .doc = "mails tried per step"},
    {.name = "mail.retry_backoff",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "1s",
     .min = 10,
     .max = 3600000,
     .doc = "first wait after a failed attempt (doubles)"},
    {.name = "mail.retry_backoff_max",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "5m",
     .min = 10,
     .max = 86400000,
     .doc = "longest wait between attempts at a mail"},
    OKNO_CLOCK_CONFIG_KEYS,
    {.name = NULL},
};

static const struct okno_service_info info = {
    .name = "notifier",
    .summary = "turns accepted events and SLA signals into notifications and mail",
    .keys = notifier_keys,
};

#define BACKOFF_MS_MAX 30000 /* longest wait between failed log batches, ms */

static struct okno_service svc;
static okno_notifier notifier;
static const char *pg_keys[OKNO_CONFIG_PG_PARAMS_MAX], *pg_values[OKNO_CONFIG_PG_PARAMS_MAX];

/* The services' shared clock (clock.speed, clock.origin_ms): when digests and weekly reports fall
 * due, in the same simulated time as the events. */
static okno_clock services_clock;

/* Wall-clock time: mail retries and back-off are in real seconds whatever the services' clock. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rd_kafka_conf_t *kafka_conf(struct okno_config *c, int *rc)
{
    *rc = OKNO_OK;
    if (!okno_config_get_bool(c, "notifier.publish"))
        return NULL;
    static const char *const extra[][2] = {{"linger.ms", "5"}};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    *rc = okno_kafka_producer_conf(conf, c, extra, 1, err, sizeof err);
    if (*rc != OKNO_OK) {
        okno_log_error("kafka settings", OKNO_LOG_STR("reason", err));
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* okno_notifier_*: what the notifier did, for /metrics. */
static struct {
    struct okno_metrics_counter events_read;   /* log events folded */
    struct okno_metrics_counter reports;       /* digests, weekly reports, fault requests */
    struct okno_metrics_counter mail_tries;    /* mails handed to the relay (sent or refused) */
    struct okno_metrics_counter mail_delays;   /* turns whose mail the relay did not take */
    struct okno_metrics_counter published;     /* records acknowledged on okno.notifications.v1 */
    struct okno_metrics_counter mails_fenced;  /* claimed mails not sent: the claim was too old */
    struct okno_metrics_counter recorded_late; /* sent mails recorded after a lost link */
} metrics;

static int metrics_init(struct okno_metrics *r)
{
    const struct okno_metrics_counter_def counters[] = {
        {&metrics.events_read, "okno_notifier_events_read_total", "Log events folded."},
        {&metrics.reports, "okno_notifier_reports_total",
         "Daily digests, weekly reports and fault requests' notifications made."},
        {&metrics.mail_tries, "okno_notifier_mail_tries_total",
         "Mails handed to the relay (accepted or permanently refused)."},
        {&metrics.mail_delays, "okno_notifier_mail_delays_total",
         "Turns whose due mail the relay did not take (retried with back-off)."},
        {&metrics.published, "okno_notifier_published_total",
         "Notifications acknowledged on okno.notifications.v1."},
        {&metrics.mails_fenced, "okno_notifier_mails_fenced_total",
         "Claimed mails not sent because the notifier stalled past the claim's window."},
        {&metrics.recorded_late, "okno_notifier_mails_recorded_late_total",
         "Sent mails whose 'sent' was recorded only after the database link came back (not sent"
         " again)."},
    };
    return okno_metrics_counters_init(r, counters, sizeof counters / sizeof counters[0]) == 0
               ? OKNO_OK
               : OKNO_ENOMEM;
}

static int notifier_init(struct okno_service *s)
{
    struct okno_config *c = &s->config;
    if (metrics_init(&s->metrics) != OKNO_OK)
        return OKNO_ENOMEM;
    char clock_err[OKNO_NOTIFIER_ERROR_BYTES];
    if (okno_clock_from_config(c, &services_clock, clock_err, sizeof clock_err) != OKNO_OK) {
        okno_log_error("bad clock configuration", OKNO_LOG_STR("reason", clock_err));
        return OKNO_ECONFIG;
    }
    okno_config_pg_params(c, pg_keys, pg_values);
    okno_notifier_config cfg;
    okno_notifier_config_init(&cfg);
    cfg.pg_keywords = pg_keys;
    cfg.pg_values = pg_values;
    cfg.name = okno_config_get_string(c, "notifier.name");
    cfg.batch_events = (int)okno_config_get_int(c, "notifier.batch_events");
    cfg.cache_entries_max = (size_t)okno_config_get_int(c, "notifier.cache_entries_max");
    cfg.topic = okno_config_get_string(c, "notifier.topic");
    cfg.publish_batch = (int)okno_config_get_int(c, "notifier.publish_batch");
    cfg.mail = okno_config_get_bool(c, "mail.enabled");
    cfg.digest = okno_config_get_bool(c, "notifier.digest");
    cfg.digest_hour = (int)okno_config_get_int(c, "notifier.digest_hour");
    cfg.weekly = okno_config_get_bool(c, "notifier.weekly");
    cfg.digest_schema = okno_config_get_string(c, "notifier.digest_schema");
    cfg.fault_mail_to = okno_config_get_string(c, "notifier.fault_mail_to");
    cfg.fault_stop_file = okno_config_get_string(c, "notifier.fault_stop_before_send");
    if (cfg.fault_mail_to == NULL || cfg.fault_mail_to[0] == '\0')
        okno_log_info("fault requests are not mailed: notifier.fault_mail_to is empty");
    cfg.mail_cfg = (okno_mail_config){
        .url = okno_config_get_string(c, "mail.url"),
        .from = okno_config_get_string(c, "mail.from"),
        .from_name = okno_config_get_string(c, "mail.from_name"),
        .username = okno_config_get_string(c, "mail.username"),
        .password = okno_config_get_string(c, "mail.password"),
        .tls =
            okno_config_get_bool(c, "mail.starttls") ? OKNO_MAIL_TLS_STARTTLS : OKNO_MAIL_TLS_NONE,
        .tls_verify = okno_config_get_bool(c, "mail.tls_verify"),
        .ca_file = okno_config_get_string(c, "mail.ca_file"),
        .timeout_ms = okno_config_get_duration_ms(c, "mail.timeout"),
    };
    cfg.mail_batch = (int)okno_config_get_int(c, "mail.batch");
    cfg.mail_backoff_ms = okno_config_get_duration_ms(c, "mail.retry_backoff");
    cfg.mail_backoff_max_ms = okno_config_get_duration_ms(c, "mail.retry_backoff_max");
    int rc;
    rd_kafka_conf_t *kconf = kafka_conf(c, &rc);
    if (rc != OKNO_OK)
        return OKNO_ECONFIG;
    rc = okno_notifier_init(&notifier, &cfg, kconf);
    if (rc != OKNO_OK) {
        okno_log_error("cannot start the notifier", OKNO_LOG_STR("reason", notifier.error));
        return rc;
    }
    return OKNO_OK;
}

/* Mail and publishing trouble is said once per new text; the log step's own failures go
 * through the step runner (back-off, readiness). */
static void report(int rc, const char *what, char *last, size_t size)
{
    if (rc == OKNO_OK) {
        last[0] = '\0';
        return;
    }
    if (strcmp(last, notifier.error) == 0)
        return;
    snprintf(last, size, "%s", notifier.error);
    okno_log_warn(what, OKNO_LOG_ERR(rc), OKNO_LOG_STR("reason", notifier.error));
}

/* One turn: a batch of the log, then the mail that is due, then publishing. Only the log's
 * failure fails the step: a dead relay or broker delays mail or records, never the log. */
static int step(void *arg, size_t *done)
{
    (void)arg;
    static char mail_error[OKNO_NOTIFIER_ERROR_BYTES], publish_error[OKNO_NOTIFIER_ERROR_BYTES];
    static char digest_error[OKNO_NOTIFIER_ERROR_BYTES], fault_error[OKNO_NOTIFIER_ERROR_BYTES];
    size_t read = 0, tried = 0, published = 0, digests = 0;
    int rc = okno_notifier_step_log(&notifier, &read);
    if (rc != OKNO_OK)
        return rc;
    size_t weeklies = 0;
    int64_t services_now = okno_clock_now_ms(&services_clock);
    int drc = okno_notifier_step_digest(&notifier, services_now, &digests);
    if (drc == OKNO_OK)
        drc = okno_notifier_step_weekly(&notifier, services_now, &weeklies);
    report(drc, "digest or weekly report delayed", digest_error, sizeof digest_error);
    digests += weeklies;
    size_t faults = 0;
    int frc = okno_notifier_step_faults(&notifier, now_ms(), &faults);
    report(frc, "fault requests' mail delayed", fault_error, sizeof fault_error);
    digests += faults;
    uint64_t fenced = notifier.stats.mails_fenced, late = notifier.stats.mails_recorded_late;
    int mrc = okno_notifier_step_mail(&notifier, now_ms(), &tried);
    report(mrc, "mail delayed", mail_error, sizeof mail_error);
    okno_metrics_counter_add(&metrics.mails_fenced, notifier.stats.mails_fenced - fenced);
    okno_metrics_counter_add(&metrics.recorded_late, notifier.stats.mails_recorded_late - late);
    int prc = okno_notifier_step_publish(&notifier, &published);
    report(prc, "publishing delayed", publish_error, sizeof publish_error);
    okno_metrics_counter_add(&metrics.events_read, read);
    okno_metrics_counter_add(&metrics.reports, digests);
    okno_metrics_counter_add(&metrics.mail_tries, mrc == OKNO_OK ? tried : 0);
    if (mrc != OKNO_OK)
        okno_metrics_counter_inc(&metrics.mail_delays);
    okno_metrics_counter_add(&metrics.published, published);
    *done = read + digests + (mrc == OKNO_OK ? tried : 0) + published;
    return OKNO_OK;
}

static const char *step_error(void *arg)
{
    (void)arg;
    return notifier.error;
}

static int notifier_run(struct okno_service *s)
{
    okno_service_steps steps = {
        .step = step,
        .error = step_error,
        .idle_ms = okno_config_get_duration_ms(&s->config, "notifier.idle_poll"),
        .backoff_ms_min = okno_config_get_duration_ms(&s->config, "notifier.retry_backoff"),
        .backoff_ms_max = BACKOFF_MS_MAX,
        .failing_reason = "notification batches are failing",
        .failed_message = "batch failed, retrying",
    };
    okno_service_run_steps(s, &steps);
    okno_log_info("stopped", OKNO_LOG_UINT("events", notifier.stats.events),
                  OKNO_LOG_UINT("recorded", notifier.stats.recorded),
                  OKNO_LOG_UINT("mails_sent", notifier.stats.mails_sent));
    return OKNO_OK;
}

int main(int argc, char **argv)
{
    int rc = okno_service_init(&svc, &info, argc, argv);
    if (rc == OKNO_OK)
        rc = notifier_init(&svc);
    if (rc == OKNO_OK)
        rc = okno_service_start(&svc);
    if (rc == OKNO_OK)
        rc = notifier_run(&svc);
    okno_notifier_close(&notifier);
    okno_avro_close();
    okno_service_close(&svc);
    return okno_service_exit_code(rc);
}
