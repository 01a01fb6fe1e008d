/* The producer to okno.transitions.v1: key = the message id's 36-char text, murmur2_random
 * partitioner, idempotent, acks=all (as okno load and the relay). A handler waits for its own
 * delivery report, which a poller thread serves, so a 202 means Kafka has the request. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "okno/clock.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/uuid.h"

#define POLL_MS 100

struct delivery {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    rd_kafka_resp_err_t err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct delivery *d = msg->_private;
    pthread_mutex_lock(&d->mu);
    d->err = msg->err;
    d->done = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void *poller(void *arg)
{
    struct gateway *gw = arg;
    while (atomic_load(&gw->polling))
        rd_kafka_poll(gw->producer, POLL_MS);
    return NULL;
}

static const char *const fixed[][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"partitioner", "murmur2_random"},
    {"linger.ms", "1"},
};

int gw_producer_start(struct gateway *gw, rd_kafka_conf_t *conf, char *err, size_t err_bytes)
{
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], err, err_bytes) != RD_KAFKA_CONF_OK)
            return OKNO_EKAFKA;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    gw->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, err_bytes);
    if (gw->producer == NULL)
        return OKNO_EKAFKA; /* conf not consumed */
    gw->topic = rd_kafka_topic_new(gw->producer, gw->topic_name, NULL);
    atomic_store(&gw->polling, true);
    if (pthread_create(&gw->poller, NULL, poller, gw) != 0) {
        atomic_store(&gw->polling, false);
        snprintf(err, err_bytes, "cannot start the poller thread");
        return OKNO_ENOMEM;
    }
    return 0;
}

static int wait_delivery(struct delivery *d)
{
    pthread_mutex_lock(&d->mu);
    while (!d->done) /* librdkafka reports every message within message.timeout.ms */
        pthread_cond_wait(&d->cv, &d->mu);
    pthread_mutex_unlock(&d->mu);
    return d->err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : OKNO_EKAFKA;
}

int gw_produce(struct gateway *gw, const okno_request *req, int64_t now_ms, char *err,
               size_t err_bytes)
{
    uint8_t buf[GW_RECORD_BYTES_MAX];
    size_t len = 0;
    okno_avro_error aerr = {0};
    okno_avro_transition t = {.request = *req};
    t.request.requested_at_ms = now_ms; /* when the gateway received it */
    if (okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, sizeof(buf), &len, &aerr) != 0) {
        snprintf(err, err_bytes, "cannot encode the request: %s", aerr.reason);
        return OKNO_EINVAL;
    }
    char key[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&req->message_id, key);
    struct delivery d = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    rd_kafka_resp_err_t e =
        rd_kafka_producev(gw->producer, RD_KAFKA_V_RKT(gw->topic), RD_KAFKA_V_KEY(key, 36),
                          RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
    int64_t started = okno_clock_monotonic_ms();
    int rc = e == RD_KAFKA_RESP_ERR_NO_ERROR ? wait_delivery(&d) : OKNO_EKAFKA;
    if (rc != 0) {
        snprintf(err, err_bytes, "Kafka: %s", rd_kafka_err2str(e != 0 ? e : d.err));
        okno_metrics_counter_inc(&gw->produce_failed);
        return rc;
    }
    okno_metrics_counter_inc(&gw->produced);
    okno_metrics_histogram_observe(&gw->produce_ms, (double)(okno_clock_monotonic_ms() - started));
    return 0;
}

int gw_metrics_init(struct gateway *gw, struct okno_metrics *reg)
{
    const struct okno_metrics_counter_def counters[] = {
        {&gw->produced, "okno_gateway_requests_produced_total",
         "Transition requests Kafka acknowledged (answered 202)."},
        {&gw->produce_failed, "okno_gateway_produce_failures_total",
         "Transition requests Kafka did not take (answered 503)."},
        {&gw->refused_auth, "okno_gateway_auth_refused_total",
         "Requests refused with 401 (missing, malformed, expired or forged tokens)."},
    };
    if (okno_metrics_counters_init(reg, counters, sizeof counters / sizeof counters[0]) != 0)
        return OKNO_ENOMEM;
    return okno_metrics_histogram_init(reg, &gw->produce_ms, "okno_gateway_produce_ms",
                                       "Time from producing a request to Kafka's acknowledgement,"
                                       " in ms.",
                                       NULL, okno_metrics_latency_ms_bounds,
                                       okno_metrics_latency_ms_bound_count) == 0
               ? 0
               : OKNO_ENOMEM;
}

bool gw_kafka_reachable(struct gateway *gw, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(gw->producer, 0, gw->topic, &md, timeout_ms);
    bool ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
              md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return ok;
}

void gw_producer_stop(struct gateway *gw)
{
    if (gw->producer == NULL)
        return;
    rd_kafka_flush(gw->producer, 5000);
    if (atomic_exchange(&gw->polling, false))
        pthread_join(gw->poller, NULL);
    rd_kafka_topic_destroy(gw->topic);
    rd_kafka_destroy(gw->producer);
    gw->producer = NULL;
}
