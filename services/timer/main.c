/* okno-timer: SLA clocks and signals. One libuv loop on one thread: the Kafka consumer's and
 * producer's queues wake it through pipes, one uv_timer_t waits for the earliest deadline. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "okno/avro.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/log.h"
#include "okno/metrics.h"
#include "timer.h"

static const struct okno_config_key timer_keys[] = {
    {.name = "timer.group_id",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno-timer",
     .doc = "Kafka consumer group of the timer instances"},
    {.name = "timer.events_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = OKNO_TOPIC_EVENTS,
     .doc = "topic of accepted events (the relay's output)"},
    {.name = "timer.sla_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = OKNO_TOPIC_SLA,
     .doc = "topic the signals go to (the ledger's input)"},
    {.name = "timer.late_after",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "1s",
     .min = 0,
     .max = 3600000,
     .doc = "real time past due after which a signal is marked late"},
    {.name = "timer.retry_after",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "5s",
     .min = 10,
     .max = 3600000,
     .doc = "real time before an undelivered signal goes again"},
    {.name = "timer.retry_backoff",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "1s",
     .min = 10,
     .max = 60000,
     .doc = "pause between attempts to reach PostgreSQL or the broker"},
    {.name = "timer.emit_batch_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "10000",
     .min = 1,
     .max = 1000000,
     .doc = "signals emitted in one turn of the loop"},
    {.name = "timer.consume_batch_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "10000",
     .min = 1,
     .max = 1000000,
     .doc = "events folded in one turn of the loop"},
    OKNO_CLOCK_CONFIG_KEYS,
    {.name = NULL},
};

static const struct okno_service_info info = {
    .name = "timer",
    .summary = "SLA clocks: emits stage-time and deadline signals when they fall due",
    .keys = timer_keys,
};

static struct okno_service svc;
static okno_timer timer;

static const double lateness_bounds[] = {1, 5, 10, 50, 100, 250, 500, 1000, 5000, 60000};
#define LATENESS_BOUNDS (sizeof lateness_bounds / sizeof lateness_bounds[0])

static void records_metric(okno_timer *t, okno_timer_outcome o, const char *outcome)
{
    okno_metrics_counter_init(&t->svc->metrics, &t->metrics.records[o], "okno_timer_records_total",
                              "Records of the events topic, by what became of them.",
                              (const char *const[]){"outcome", outcome, NULL});
}

static void metrics_init(okno_timer *t)
{
    struct okno_metrics *r = &t->svc->metrics;
    okno_timer_metrics *m = &t->metrics;
    records_metric(t, OKNO_TIMER_APPLIED, "applied");
    records_metric(t, OKNO_TIMER_REPEATED, "repeated");
    records_metric(t, OKNO_TIMER_UNTRACKED, "untracked");
    records_metric(t, OKNO_TIMER_RELOADED, "reloaded");
    records_metric(t, OKNO_TIMER_UNDECODABLE, "undecodable");
    records_metric(t, OKNO_TIMER_UNEXPECTED, "unexpected");
    okno_metrics_counter_init(r, &m->emitted, "okno_timer_signals_emitted_total",
                              "Signals produced to the SLA topic.", NULL);
    okno_metrics_counter_init(r, &m->late, "okno_timer_signals_late_total",
                              "Signals produced later than timer.late_after past due.", NULL);
    okno_metrics_counter_init(r, &m->failed, "okno_timer_signals_failed_total",
                              "Signal deliveries that failed and were retried.", NULL);
    okno_metrics_counter_init(r, &m->consumer_errors, "okno_timer_consumer_errors_total",
                              "Errors the Kafka consumer reported.", NULL);
    okno_metrics_counter_init(r, &m->rebuilds, "okno_timer_rebuilds_total",
                              "Rebuilds of the deadlines of gained partitions from PostgreSQL.",
                              NULL);
    okno_metrics_gauge_init(r, &m->partitions, "okno_timer_partitions",
                            "Partitions of the events topic this instance owns.", NULL);
    okno_metrics_gauge_init(r, &m->messages, "okno_timer_messages", "Open messages tracked.", NULL);
    okno_metrics_gauge_init(r, &m->deadlines, "okno_timer_deadlines", "Armed deadlines.", NULL);
    okno_metrics_gauge_init(r, &m->book_bytes, "okno_timer_book_bytes",
                            "Bytes of the messages' states, index and deadlines.", NULL);
    okno_metrics_gauge_init(r, &m->rebuild_ms, "okno_timer_rebuild_ms",
                            "Duration of the last rebuild, in ms.", NULL);
    okno_metrics_histogram_init(r, &m->lateness_ms, "okno_timer_lateness_ms",
                                "From a signal's due time to its emission, in real ms.", NULL,
                                lateness_bounds, LATENESS_BOUNDS);
}

static int pipe_open(int fds[2])
{
    if (pipe(fds) != 0)
        return OKNO_EIO;
    for (int i = 0; i < 2; i++)
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    return OKNO_OK;
}

static int timer_init(okno_timer *t, struct okno_service *s)
{
    memset(t, 0, sizeof *t);
    t->svc = s;
    t->consumer_pipe[0] = t->consumer_pipe[1] = t->producer_pipe[0] = t->producer_pipe[1] = -1;
    struct okno_config *c = &s->config;
    t->group_id = okno_config_get_string(c, "timer.group_id");
    t->events_topic = okno_config_get_string(c, "timer.events_topic");
    t->sla_topic = okno_config_get_string(c, "timer.sla_topic");
    t->late_after_ms = okno_config_get_duration_ms(c, "timer.late_after");
    t->retry_after_ms = okno_config_get_duration_ms(c, "timer.retry_after");
    t->retry_backoff_ms = okno_config_get_duration_ms(c, "timer.retry_backoff");
    t->emit_batch_max = okno_config_get_int(c, "timer.emit_batch_max");
    t->consume_batch_max = okno_config_get_int(c, "timer.consume_batch_max");
    char err[256] = "";
    if (okno_clock_from_config(c, &t->clock, err, sizeof err) != OKNO_OK) {
        okno_log_error("bad clock configuration", OKNO_LOG_STR("reason", err));
        return OKNO_ECONFIG;
    }
    metrics_init(t);
    okno_avro_error aerr = {0};
    int rc = okno_avro_init(&aerr);
    if (rc != OKNO_OK) {
        okno_log_error("cannot load the Avro schemas", OKNO_LOG_STR("reason", aerr.reason));
        return rc;
    }
    if (pipe_open(t->consumer_pipe) != OKNO_OK || pipe_open(t->producer_pipe) != OKNO_OK)
        return OKNO_EIO;
    if (uv_loop_init(&t->loop) != 0)
        return OKNO_EIO;
    t->loop_open = true;
    return OKNO_OK;
}

/* PostgreSQL and the workflow settings first: deadlines computed with another "approaching"
 * share than the ledger's would be refused as not due. */
static int prepare(okno_timer *t)
{
    while (okno_timer_pg_connect(t) != OKNO_OK || okno_timer_load_settings(t) != OKNO_OK) {
        okno_service_set_ready(t->svc, false, "waiting for PostgreSQL and the workflow settings");
        if (okno_service_wait(t->svc, t->retry_backoff_ms) == 0)
            return OKNO_ETIMEDOUT; /* stopping */
    }
    okno_tracker_config cfg = {
        .approaching_permille = t->approaching_permille,
        .late_after_ms = t->late_after_ms * t->clock.speed,
    };
    int rc = okno_tracker_init(&t->tracker, &cfg);
    if (rc != OKNO_OK)
        return rc;
    okno_log_info("timer starting", OKNO_LOG_INT("approaching_permille", t->approaching_permille),
                  OKNO_LOG_INT("clock_speed", t->clock.speed),
                  OKNO_LOG_STR("events_topic", t->events_topic),
                  OKNO_LOG_STR("sla_topic", t->sla_topic));
    rc = okno_timer_producer_open(t);
    return rc == OKNO_OK ? okno_timer_consumer_open(t) : rc;
}

static void on_housekeeping(uv_timer_t *h)
{
    okno_timer *t = h->data;
    okno_service_heartbeat(t->svc);
    okno_metrics_gauge_set(&t->metrics.messages, okno_tracker_messages(&t->tracker));
    okno_metrics_gauge_set(&t->metrics.deadlines, okno_tracker_deadlines(&t->tracker));
    okno_metrics_gauge_set(&t->metrics.book_bytes, (int64_t)okno_tracker_bytes(&t->tracker));
    /* The consumer must be polled for the group's work (assignment) even with no records. */
    okno_timer_on_consumer(&t->consumer_poll, 0, 0);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_stop(uv_async_t *a)
{
    okno_timer *t = a->data;
    uv_walk(&t->loop, close_handle, NULL);
}

static int loop_start(okno_timer *t)
{
    uv_handle_t *handles[] = {(uv_handle_t *)&t->consumer_poll, (uv_handle_t *)&t->producer_poll,
                              (uv_handle_t *)&t->deadline_timer, (uv_handle_t *)&t->housekeeping,
                              (uv_handle_t *)&t->stop_async};
    int e = uv_poll_init(&t->loop, &t->consumer_poll, t->consumer_pipe[0]);
    e = e ? e : uv_poll_init(&t->loop, &t->producer_poll, t->producer_pipe[0]);
    e = e ? e : uv_timer_init(&t->loop, &t->deadline_timer);
    e = e ? e : uv_timer_init(&t->loop, &t->housekeeping);
    e = e ? e : uv_async_init(&t->loop, &t->stop_async, on_stop);
    if (e != 0)
        return OKNO_EIO;
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        handles[i]->data = t;
    uv_poll_start(&t->consumer_poll, UV_READABLE, okno_timer_on_consumer);
    uv_poll_start(&t->producer_poll, UV_READABLE, okno_timer_on_producer);
    uv_timer_start(&t->housekeeping, on_housekeeping, 0, OKNO_TIMER_HOUSEKEEPING_MS);
    okno_service_set_stop_async(t->svc, &t->stop_async);
    if (okno_service_stopping(t->svc))
        uv_async_send(&t->stop_async);
    return OKNO_OK;
}

static int timer_run(okno_timer *t)
{
    okno_service_set_ready(t->svc, false, "waiting for partitions");
    int rc = prepare(t);
    if (rc == OKNO_ETIMEDOUT)
        return OKNO_OK;
    if (rc == OKNO_OK)
        rc = loop_start(t);
    if (rc == OKNO_OK)
        uv_run(&t->loop, UV_RUN_DEFAULT);
    okno_service_set_stop_async(t->svc, NULL);
    return rc;
}

/* Safe after any timer_init result (and none: svc is NULL then). */
static void timer_close(okno_timer *t)
{
    if (t->svc == NULL)
        return;
    okno_timer_consumer_close(t);
    okno_timer_producer_close(t);
    if (t->loop_open) {
        uv_walk(&t->loop, close_handle, NULL);
        uv_run(&t->loop, UV_RUN_DEFAULT);
        uv_loop_close(&t->loop);
    }
    okno_tracker_close(&t->tracker);
    if (t->pg != NULL)
        PQfinish(t->pg);
    for (int i = 0; i < 2; i++) {
        if (t->consumer_pipe[i] >= 0)
            close(t->consumer_pipe[i]);
        if (t->producer_pipe[i] >= 0)
            close(t->producer_pipe[i]);
    }
    okno_avro_close();
}

int main(int argc, char **argv)
{
    int rc = okno_service_init(&svc, &info, argc, argv);
    if (rc == OKNO_OK)
        rc = timer_init(&timer, &svc);
    if (rc == OKNO_OK)
        rc = okno_service_start(&svc);
    if (rc == OKNO_OK)
        rc = timer_run(&timer);
    timer_close(&timer);
    okno_service_close(&svc);
    return okno_service_exit_code(rc);
}
