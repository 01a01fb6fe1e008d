/* The timer's output: the one uv_timer_t that waits for the book's earliest deadline, and the
 * producer that carries each due signal to okno.sla.v1 (key: the message id's text, so it lands
 * on the partition number of the message's requests; Avro single-object SlaSignal; idempotent,
 * acks=all). A failed delivery is retried with the same signal id; the ledger acknowledges a
 * repeated id without appending again. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "okno/avro.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/log.h"
#include "okno/uuid.h"
#include "timer.h"

static int produce(void *arg, const okno_avro_sla_signal *s)
{
    okno_timer *t = arg;
    uint8_t buf[OKNO_TIMER_SIGNAL_BYTES_MAX];
    size_t len;
    okno_avro_error err = {0};
    int rc = okno_avro_encode(OKNO_AVRO_SLA, s, buf, sizeof buf, &len, &err);
    if (rc != OKNO_OK) {
        okno_log_error("cannot encode a signal", OKNO_LOG_STR("reason", err.reason));
        return rc;
    }
    char key[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&s->message_id, key);
    rd_kafka_resp_err_t e =
        rd_kafka_producev(t->producer, RD_KAFKA_V_TOPIC(t->sla_topic), RD_KAFKA_V_KEY(key, 36),
                          RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE((void *)(uintptr_t)s->kind), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return OKNO_ELIMIT;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        okno_log_error("cannot produce a signal", OKNO_LOG_STR("reason", rd_kafka_err2str(e)));
        return OKNO_EKAFKA;
    }
    int64_t late_ms = okno_clock_real_ms(&t->clock, s->emitted_ms - s->due_ms);
    okno_metrics_counter_inc(&t->metrics.emitted);
    if (s->late)
        okno_metrics_counter_inc(&t->metrics.late);
    okno_metrics_histogram_observe(&t->metrics.lateness_ms, (double)late_ms);
    return OKNO_OK;
}

static void on_deadline(uv_timer_t *handle)
{
    okno_timer *t = handle->data;
    size_t emitted = 0;
    int rc = okno_tracker_expire(&t->tracker, okno_clock_now_ms(&t->clock),
                                 (size_t)t->emit_batch_max, produce, t, &emitted);
    if (rc != OKNO_OK) {
        /* The producer's queue is full (or a record would not encode): deliveries make room. */
        uv_timer_start(&t->deadline_timer, on_deadline, OKNO_TIMER_QUEUE_FULL_WAIT_MS, 0);
        return;
    }
    if (emitted == (size_t)t->emit_batch_max) {
        uv_timer_start(&t->deadline_timer, on_deadline, 0, 0); /* after the loop's other work */
        return;
    }
    okno_timer_schedule(t);
}

void okno_timer_schedule(okno_timer *t)
{
    if (!t->tracker_ready)
        return;
    int64_t next = okno_tracker_next_ms(&t->tracker);
    if (next == OKNO_DEADLINES_NEVER) {
        uv_timer_stop(&t->deadline_timer);
        return;
    }
    uv_update_time(&t->loop); /* a rebuild or a long batch may have left the loop's time old */
    int64_t wait = okno_clock_wait_ms(&t->clock, next);
    uv_timer_start(&t->deadline_timer, on_deadline, (uint64_t)(wait < 0 ? 0 : wait), 0);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    okno_timer *t = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    okno_metrics_counter_inc(&t->metrics.failed);
    okno_log_warn("a signal was not delivered; it goes again",
                  OKNO_LOG_STR("reason", rd_kafka_err2str(m->err)));
    okno_uuid id;
    if (m->key_len != 36 || okno_uuid_parse(m->key, 36, &id) != OKNO_OK)
        return;
    int64_t retry_at = okno_clock_now_ms(&t->clock) + t->retry_after_ms * t->clock.speed;
    okno_tracker_emit_failed(&t->tracker, &id, (okno_signal_kind)(uintptr_t)m->_private, retry_at);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        okno_log_error("fatal producer error", OKNO_LOG_STR("reason", why));
        return;
    }
    okno_log_warn("kafka", OKNO_LOG_STR("reason", reason)); /* transient: librdkafka retries */
}

void okno_timer_on_producer(uv_poll_t *handle, int status, int events)
{
    (void)status;
    (void)events;
    okno_timer *t = handle->data;
    char buf[256];
    while (read(t->producer_pipe[0], buf, sizeof buf) > 0)
        ;
    rd_kafka_poll(t->producer, 0); /* delivery reports and errors */
    okno_timer_schedule(t);
}

/* Set after the pass-through; okno_kafka_producer_conf adds the partitioning settings, so a
 * signal lands on the same partition number as its message's transition requests. */
static const char *const producer_props[][2] = {
    {"linger.ms", "5"},
};

static rd_kafka_conf_t *producer_conf(okno_timer *t, char *err, size_t err_bytes)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (okno_kafka_producer_conf(conf, &t->svc->config, producer_props,
                                 sizeof producer_props / sizeof producer_props[0], err,
                                 err_bytes) != OKNO_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, t);
    return conf;
}

int okno_timer_producer_open(okno_timer *t)
{
    char err[512] = "";
    rd_kafka_conf_t *conf = producer_conf(t, err, sizeof err);
    if (conf != NULL)
        t->producer = okno_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (t->producer == NULL) {
        okno_log_error("cannot start the Kafka producer", OKNO_LOG_STR("reason", err));
        return OKNO_EKAFKA;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(t->producer);
    rd_kafka_queue_io_event_enable(q, t->producer_pipe[1], "1", 1);
    rd_kafka_queue_destroy(q);
    return OKNO_OK;
}

void okno_timer_producer_close(okno_timer *t)
{
    if (t->producer == NULL)
        return;
    rd_kafka_resp_err_t e = rd_kafka_flush(t->producer, OKNO_TIMER_KAFKA_TIMEOUT_MS);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        okno_log_warn("signals still undelivered at stop; they go again after the restart",
                      OKNO_LOG_INT("queued", rd_kafka_outq_len(t->producer)));
    rd_kafka_destroy(t->producer);
    t->producer = NULL;
}
