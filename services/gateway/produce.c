/* The producer to okno.transitions.v1: key = the message id's 36-char text, murmur2_random
 * partitioner, idempotent, acks=all (as okno load and the relay). A write's HTTP answer is
 * deferred until its delivery report, which the poller thread serves, so a 202 means Kafka has
 * the request, while no worker thread or database connection waits for it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "okno/clock.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/uuid.h"

#define POLL_MS 100

/* A request waiting for Kafka's acknowledgement: its deferred HTTP answer. */
struct pending {
    struct gateway *gw;
    struct okno_http_deferred *answer;
    okno_request req; /* ids and action only: its strings point into the gone request */
    int64_t started_ms;
};

/* The 202 of a write Kafka has: the ids, the action and where to ask for the decision. */
void gw_respond_accepted(struct okno_http_response *res, const okno_request *req)
{
    char rid[OKNO_UUID_TEXT_BYTES], mid[OKNO_UUID_TEXT_BYTES], loc[64];
    okno_uuid_format(&req->request_id, rid);
    okno_uuid_format(&req->message_id, mid);
    snprintf(loc, sizeof(loc), "/requests/%s", rid);
    okno_http_add_header(res, "location", loc);
    okno_http_respond_json(res, 202,
                           json_pack("{s:s, s:s, s:s, s:s}", "request_id", rid, "message_id", mid,
                                     "action", okno_action_name(req->action), "status", "pending"));
}

/* Fills p's answer and frees p; the caller resumes the answer. */
static void answer(struct pending *p, rd_kafka_resp_err_t err)
{
    struct gateway *gw = p->gw;
    struct okno_http_response *res = okno_http_deferred_response(p->answer);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        okno_metrics_counter_inc(&gw->produced);
        okno_metrics_histogram_observe(&gw->produce_ms,
                                       (double)(okno_clock_monotonic_ms() - p->started_ms));
        gw_respond_accepted(res, &p->req);
    } else {
        okno_metrics_counter_inc(&gw->produce_failed);
        okno_log_warn("gateway: produce failed", OKNO_LOG_STR("reason", rd_kafka_err2str(err)));
        okno_http_respond_error(res, 503, "unavailable", NULL, "Kafka did not take the request");
    }
    free(p);
}

/* The fault injection point gateway.fault_stop_before_answer: when its file exists, the write
 * Kafka has just acknowledged is not answered yet; the gateway deletes the file, says where it
 * stops and stops itself (SIGSTOP). A test then SIGKILLs it, leaving a write produced but never
 * answered, which its client retries with the same Idempotency-Key
 * (tests/faults/test_gateway_faults.py). */
static void fault_stop_before_answer(const struct gateway *gw, const struct pending *p)
{
    if (gw->fault_stop_file == NULL || gw->fault_stop_file[0] == '\0' ||
        unlink(gw->fault_stop_file) != 0)
        return;
    char rid[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&p->req.request_id, rid);
    okno_log_warn("fault injection: stopping between a write's acknowledgement and its answer",
                  OKNO_LOG_STR("request_id", rid));
    raise(SIGSTOP);
}

/* The poller's answers of one rd_kafka_poll, resumed together (one wake-up of the loop). */
#define ANSWERS_MAX 256
struct answers {
    bool on; /* this thread is the poller */
    size_t n;
    struct okno_http_deferred *d[ANSWERS_MAX];
};
static _Thread_local struct answers answers;

static void answers_flush(void)
{
    okno_http_resume_many(answers.d, answers.n);
    answers.n = 0;
}

static void answer_resume(struct okno_http_deferred *d)
{
    if (!answers.on) {
        okno_http_resume(d);
        return;
    }
    answers.d[answers.n++] = d;
    if (answers.n == ANSWERS_MAX)
        answers_flush();
}

/* On the poller thread (or rd_kafka_flush's at the stop): Kafka's verdict on one request answers
 * its client. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct pending *p = msg->_private;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        fault_stop_before_answer(p->gw, p);
    struct okno_http_deferred *d = p->answer;
    answer(p, msg->err);
    answer_resume(d);
}

static void *poller(void *arg)
{
    struct gateway *gw = arg;
    answers.on = true;
    while (atomic_load(&gw->polling)) {
        rd_kafka_poll(gw->producer, POLL_MS);
        answers_flush();
    }
    return NULL;
}

static const char *const fixed[][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"partitioner", "murmur2_random"},
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

bool gw_encode(const okno_request *req, int64_t now_ms, uint8_t **record, size_t *record_bytes,
               struct okno_http_response *res)
{
    uint8_t buf[GW_RECORD_BYTES_MAX];
    size_t len = 0;
    okno_avro_error aerr = {0};
    okno_avro_transition t = {.request = *req};
    t.request.requested_at_ms = now_ms; /* when the gateway received it */
    if (okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, sizeof(buf), &len, &aerr) != 0) {
        okno_http_respond_error(res, 400, "bad_field", "body", "cannot encode the request: %s",
                                aerr.reason);
        return false;
    }
    *record = malloc(len);
    if (*record == NULL) {
        okno_http_respond_error(res, 503, "overloaded", NULL, "out of memory");
        return false;
    }
    memcpy(*record, buf, len);
    *record_bytes = len;
    return true;
}

void gw_produce(struct gateway *gw, const struct gw_write *w)
{
    struct pending *p = malloc(sizeof(*p));
    if (p == NULL) {
        okno_http_respond_error(okno_http_deferred_response(w->answer), 503, "overloaded", NULL,
                                "out of memory");
        okno_http_resume(w->answer);
        return;
    }
    *p = (struct pending){.gw = gw, .answer = w->answer, .started_ms = okno_clock_monotonic_ms()};
    p->req.request_id = w->req.request_id;
    p->req.message_id = w->req.message_id;
    p->req.action = w->req.action;
    char key[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&w->req.message_id, key);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        gw->producer, RD_KAFKA_V_RKT(gw->topic), RD_KAFKA_V_KEY(key, 36),
        RD_KAFKA_V_VALUE(w->record, w->record_bytes), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) { /* no delivery report will come */
        struct okno_http_deferred *d = p->answer;
        answer(p, e);
        okno_http_resume(d);
    }
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
        {&gw->writes_on_loop, "okno_gateway_writes_on_loop_total",
         "Writes whose caller the token and grant caches decided, shaped on the HTTP loop"
         " without a worker."},
        {&gw->visible_cached, "okno_gateway_write_visibility_cached_total",
         "Actions whose visibility the read cache confirmed (card and caller cached), without a"
         " database round trip."},
    };
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, GW_BATCH_WRITES_MAX};
    if (okno_metrics_counters_init(reg, counters, sizeof counters / sizeof counters[0]) != 0 ||
        okno_metrics_histogram_init(reg, &gw->batch_writes, "okno_gateway_write_batch_writes",
                                    "Writes whose visibility and idempotency record one batch"
                                    " checked together.",
                                    NULL, batch_bounds, sizeof batch_bounds / sizeof *batch_bounds))
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
