/* okno-ledger: turns transition requests and SLA signals on Kafka into events in the
 * PostgreSQL event log, effectively once. */
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "okno/avro.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/log.h"

static const struct okno_config_key ledger_keys[] = {
    {.name = "ledger.group_id",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno-ledger",
     .doc = "Kafka consumer group of the ledger instances"},
    {.name = "ledger.transitions_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = OKNO_TOPIC_TRANSITIONS,
     .doc = "topic of transition requests"},
    {.name = "ledger.sla_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = OKNO_TOPIC_SLA,
     .doc = "topic of the timer's SLA signals"},
    {.name = "ledger.batch_records_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "2000",
     .min = 1,
     .max = 5000,
     .doc = "records decided and committed in one transaction"},
    {.name = "ledger.batch_linger",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "0ms",
     .min = 0,
     .max = 10000,
     .doc = "longest wait for more records once none are queued (0: commit what has come)"},
    {.name = "ledger.retry_backoff",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "500ms",
     .min = 10,
     .max = 60000,
     .doc = "pause before retrying after PostgreSQL failed"},
    {.name = "ledger.directory_refresh",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "300s",
     .min = 100,
     .max = 3600000,
     .doc = "how often the org directory is reloaded whole even when no change was notified "
            "(changes are applied as they commit: their triggers notify okno_directory)"},
    OKNO_CONFIG_FAULT_STOP_KEY("ledger.fault_stop_before_append",
                               "between deciding a batch and appending it"),
    OKNO_CLOCK_CONFIG_KEYS,
    {.name = NULL},
};

static const struct okno_service_info info = {
    .name = "ledger",
    .summary = "validates transition requests and appends events to the event log",
    .keys = ledger_keys,
};

static struct okno_service svc;
static okno_ledger ledger;

/* Fine below 100 ms, where the latency goal (p99 <= 50 ms) lies. */
/* Fine enough above 200 ms to read a p99 against Kafka's within a bucket of 100-250 ms. */
static const double batch_ms_bounds[] = {1,   2,   3,   4,   5,   7.5,  10,   15,
                                         20,  25,  30,  40,  50,  75,   100,  150,
                                         200, 300, 400, 500, 750, 1000, 2000, 5000};
#define BATCH_MS_BOUNDS (sizeof batch_ms_bounds / sizeof batch_ms_bounds[0])

/* Least time between metadata probes while every broker is down, in milliseconds. */
#define BROKERS_PROBE_MS 1000

static void metrics_init(okno_ledger *l)
{
    struct okno_metrics *r = &l->svc->metrics;
    okno_ledger_metrics *m = &l->metrics;
    const struct okno_metrics_counter_def counters[] = {
        {&m->records, "okno_ledger_records_total", "Kafka records taken in."},
        {&m->accepted, "okno_ledger_requests_accepted_total", "Requests that produced events."},
        {&m->refused, "okno_ledger_requests_refused_total",
         "Requests refused, malformed records included."},
        {&m->malformed, "okno_ledger_records_malformed_total", "Records that did not decode."},
        {&m->duplicates, "okno_ledger_requests_repeated_total",
         "Repeated request ids acknowledged without a new append."},
        {&m->events, "okno_ledger_events_appended_total", "Events appended to the event log."},
        {&m->batches, "okno_ledger_batches_total", "Batches committed."},
        {&m->conflicts, "okno_ledger_conflicts_total",
         "Appends fenced off because another writer moved a head."},
        {&m->resyncs, "okno_ledger_resyncs_total",
         "Partitions reloaded from PostgreSQL after a failed batch."},
        {&m->lookups, "okno_ledger_lookups_total",
         "Batches whose request ids were looked up before deciding (only within "
         "64 batches of a repeat)."},
        {&m->append_repeats, "okno_ledger_append_repeats_total",
         "Appends refused for request ids the log already holds; the batch was decided again "
         "without them."},
    };
    okno_metrics_counters_init(r, counters, sizeof counters / sizeof counters[0]);
    const struct {
        struct okno_metrics_histogram *h;
        const char *name, *help;
    } histograms[] = {
        {&m->batch_ms, "okno_ledger_batch_ms", "Time to decide and commit one batch, in ms."},
        {&m->append_ms, "okno_ledger_append_ms",
         "Of a batch's time, the PostgreSQL transaction, in ms."},
        {&m->lookup_ms, "okno_ledger_lookup_ms",
         "Of a batch's time, the reads before deciding (known request ids, heads not cached), in "
         "ms."},
        {&m->latency_ms, "okno_ledger_latency_ms",
         "From a record's Kafka timestamp to its commit, in ms."},
        {&m->fill_ms, "okno_ledger_batch_fill_ms",
         "From a batch's first record to its processing: the wait for the batch to fill, in ms."},
    };
    for (size_t i = 0; i < sizeof histograms / sizeof histograms[0]; i++)
        okno_metrics_histogram_init(r, histograms[i].h, histograms[i].name, histograms[i].help,
                                    NULL, batch_ms_bounds, BATCH_MS_BOUNDS);
}

static int ledger_init(okno_ledger *l, struct okno_service *s)
{
    memset(l, 0, sizeof *l);
    l->svc = s;
    struct okno_config *c = &s->config;
    l->group_id = okno_config_get_string(c, "ledger.group_id");
    l->topics[OKNO_LEDGER_TRANSITIONS] = okno_config_get_string(c, "ledger.transitions_topic");
    l->topics[OKNO_LEDGER_SLA] = okno_config_get_string(c, "ledger.sla_topic");
    l->batch_records_max = okno_config_get_int(c, "ledger.batch_records_max");
    l->batch_linger_ms = okno_config_get_duration_ms(c, "ledger.batch_linger");
    l->retry_backoff_ms = okno_config_get_duration_ms(c, "ledger.retry_backoff");
    l->fault_stop_file = okno_config_get_string(c, "ledger.fault_stop_before_append");
    l->directory_refresh_ms = okno_config_get_duration_ms(c, "ledger.directory_refresh");
    for (int i = 0; i < OKNO_LEDGER_INPUTS; i++)
        for (int p = 0; p < OKNO_LEDGER_PARTITIONS_MAX; p++)
            l->partitions[i][p].stored_next_offset = -1;
    char err[256] = "";
    if (okno_clock_from_config(c, &l->clock, err, sizeof err) != OKNO_OK) {
        okno_log_error("bad clock configuration", OKNO_LOG_STR("reason", err));
        return OKNO_ECONFIG;
    }
    metrics_init(l);
    okno_avro_error aerr = {0};
    int rc = okno_avro_init(&aerr);
    if (rc != OKNO_OK) {
        okno_log_error("cannot load the Avro schemas", OKNO_LOG_STR("reason", aerr.reason));
        return rc;
    }
    rc = okno__head_cache_init(&l->cache, 1u << 16);
    if (rc == OKNO_OK)
        rc = okno_batch_init(&l->batch, (uint32_t)l->batch_records_max);
    return rc;
}

/* Collects up to batch_records_max records: waits up to 100 ms for the first, then takes what
 * librdkafka has queued and waits at most batch_linger for more. With the default linger of 0
 * a request under light load is decided at once, in a batch of what arrived with it; under
 * heavy load the records that came in during the previous commit fill the batch anyway. */
static size_t poll_batch(okno_ledger *l, rd_kafka_message_t **records)
{
    size_t n = 0;
    int64_t deadline = 0, first_ms = 0;
    while (n < (size_t)l->batch_records_max && !okno_service_stopping(l->svc)) {
        int64_t now = okno_clock_monotonic_ms();
        int wait_ms = n == 0 ? 100 : (int)(deadline > now ? deadline - now : 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->consumer, wait_ms);
        if (m == NULL) {
            if (n > 0 && okno_clock_monotonic_ms() >= deadline)
                break;
            if (n == 0)
                break;
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            okno_log_warn("consumer error", OKNO_LOG_STR("reason", rd_kafka_message_errstr(m)));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (n == 0) {
            first_ms = okno_clock_monotonic_ms();
            deadline = first_ms + l->batch_linger_ms;
        }
        records[n++] = m;
    }
    if (n > 0)
        okno_metrics_histogram_observe(&l->metrics.fill_ms,
                                       (double)(okno_clock_monotonic_ms() - first_ms));
    return n;
}

/* After a failed batch, PostgreSQL is the truth: reload and seek every partition the batch
 * touched, so its records are decided again from the stored position. */
static void resync_batch(okno_ledger *l, rd_kafka_message_t **records, size_t n)
{
    okno_service_set_ready(l->svc, false, "recovering from a failed batch");
    okno_service_wait(l->svc, l->retry_backoff_ms);
    okno_ledger_refresh_directory(l, true); /* the batch may have been fenced by a change */
    for (size_t i = 0; i < n; i++) {
        okno_ledger_input in = okno_ledger_input_of(l, rd_kafka_topic_name(records[i]->rkt));
        bool done = false;
        for (size_t k = 0; k < i && !done; k++)
            done = records[k]->partition == records[i]->partition &&
                   records[k]->rkt == records[i]->rkt;
        while (!done && okno_ledger_resync(l, in, records[i]->partition) != OKNO_OK &&
               !okno_service_stopping(l->svc))
            okno_service_wait(l->svc, l->retry_backoff_ms);
    }
    okno_service_set_ready(l->svc, true, NULL);
}

/* While every broker was down: asks one for metadata, at most once per BROKERS_PROBE_MS; the
 * first answer makes the ledger ready again (tests/faults/test_crash.py). */
static void probe_brokers(okno_ledger *l)
{
    int64_t now = okno_clock_monotonic_ms();
    if (!l->brokers_down || now - l->brokers_probed_ms < BROKERS_PROBE_MS)
        return;
    l->brokers_probed_ms = now;
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(l->consumer, 0, NULL, &md, BROKERS_PROBE_MS) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    rd_kafka_metadata_destroy(md);
    l->brokers_down = false;
    okno_service_set_ready(l->svc, true, NULL);
    okno_log_info("a Kafka broker answers again");
}

/* An idle ledger learns that its PostgreSQL connection died from the socket it listens on for
 * directory changes (the dead-peer timeouts of okno_config_pg_params end a silent one within
 * about 20 s): it reports not ready and reconnects, listening again, every retry_backoff until
 * PostgreSQL answers (tests/faults/test_pgcut.py). A busy ledger finds out from its batch. */
static void watch_pg(okno_ledger *l)
{
    if (PQstatus(l->pg) == CONNECTION_OK && PQconsumeInput(l->pg) == 1)
        return;
    int64_t now = okno_clock_monotonic_ms();
    if (now - l->pg_retried_ms < l->retry_backoff_ms)
        return;
    if (!l->pg_lost)
        okno_log_warn("the PostgreSQL connection is lost; reconnecting",
                      OKNO_LOG_STR("reason", PQerrorMessage(l->pg)));
    l->pg_lost = true;
    l->pg_retried_ms = now;
    okno_service_set_ready(l->svc, false, "the PostgreSQL connection is lost; reconnecting");
    if (okno_ledger_pg_connect(l) != OKNO_OK || okno_ledger_refresh_directory(l, true) != OKNO_OK)
        return;
    l->pg_lost = false;
    okno_log_info("connected to PostgreSQL again");
    if (!l->brokers_down)
        okno_service_set_ready(l->svc, true, NULL);
}

static int ledger_run(okno_ledger *l)
{
    while (okno_ledger_pg_connect(l) != OKNO_OK || okno_ledger_refresh_directory(l, true) != 0) {
        okno_service_set_ready(l->svc, false, "waiting for PostgreSQL and the org directory");
        if (okno_service_wait(l->svc, l->retry_backoff_ms * 4) == 0 &&
            okno_service_stopping(l->svc))
            return OKNO_OK;
    }
    int rc = okno_ledger_consumer_open(l);
    if (rc != OKNO_OK)
        return rc;
    rd_kafka_message_t **records = calloc((size_t)l->batch_records_max, sizeof *records);
    if (records == NULL)
        return OKNO_ENOMEM;
    okno_service_set_ready(l->svc, true, NULL);
    while (!okno_service_stopping(l->svc)) {
        okno_service_heartbeat(l->svc);
        okno_ledger_refresh_directory(l, false);
        watch_pg(l);
        probe_brokers(l);
        size_t n = poll_batch(l, records);
        if (n == 0)
            continue;
        int64_t started = okno_clock_monotonic_ms();
        okno_metrics_counter_add(&l->metrics.records, n);
        if (okno_ledger_process(l, records, n) != OKNO_OK)
            resync_batch(l, records, n);
        else
            okno_metrics_histogram_observe(&l->metrics.batch_ms,
                                           (double)(okno_clock_monotonic_ms() - started));
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(records[i]);
    }
    free(records);
    okno_ledger_consumer_close(l);
    return OKNO_OK;
}

static void ledger_close(okno_ledger *l)
{
    okno_batch_close(&l->batch);
    okno__head_cache_close(&l->cache);
    okno_pg_directory_free(&l->directory);
    if (l->pg != NULL)
        PQfinish(l->pg);
    okno_avro_close();
}

int main(int argc, char **argv)
{
    int rc = okno_service_init(&svc, &info, argc, argv);
    if (rc == OKNO_OK)
        rc = ledger_init(&ledger, &svc);
    if (rc == OKNO_OK)
        rc = okno_service_start(&svc);
    if (rc == OKNO_OK)
        rc = ledger_run(&ledger);
    ledger_close(&ledger);
    okno_service_close(&svc);
    return okno_service_exit_code(rc);
}
