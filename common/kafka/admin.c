/* Topic administration through librdkafka's Admin API (no JVM tool needed at run time). */
#include <stdio.h>
#include <string.h>

#include "okno/error.h"
#include "okno/kafka.h"

/* Largest number of topics created in one call. */
#define CREATE_TOPICS_MAX 64

static int collect_results(const rd_kafka_CreateTopics_result_t *res, int *created, int *existing,
                           char *errbuf, size_t errbuf_bytes)
{
    size_t n = 0;
    const rd_kafka_topic_result_t **topics = rd_kafka_CreateTopics_result_topics(res, &n);
    int rc = OKNO_OK;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            (*created)++;
        } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            (*existing)++;
        } else if (rc == OKNO_OK) {
            snprintf(errbuf, errbuf_bytes, "cannot create topic %s: %s",
                     rd_kafka_topic_result_name(topics[i]),
                     rd_kafka_topic_result_error_string(topics[i]));
            rc = OKNO_EKAFKA;
        }
    }
    return rc;
}

static int await_create(rd_kafka_t *rk, rd_kafka_queue_t *q, int timeout_ms, int *created,
                        int *existing, char *errbuf, size_t errbuf_bytes)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (ev == NULL) {
        snprintf(errbuf, errbuf_bytes, "no answer from the Kafka controller within %d ms",
                 timeout_ms);
        return OKNO_ETIMEDOUT;
    }
    int rc;
    if (rd_kafka_event_error(ev)) {
        snprintf(errbuf, errbuf_bytes, "CreateTopics failed: %s", rd_kafka_event_error_string(ev));
        rc = OKNO_EKAFKA;
    } else {
        rc = collect_results(rd_kafka_event_CreateTopics_result(ev), created, existing, errbuf,
                             errbuf_bytes);
    }
    rd_kafka_event_destroy(ev);
    (void)rk;
    return rc;
}

/* A client for admin requests; conf is taken over. NULL with errbuf set on failure. */
static rd_kafka_t *admin_client(rd_kafka_conf_t *conf, char *errbuf, size_t errbuf_bytes)
{
    char kerr[512];
    rd_kafka_t *rk = okno_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (rk == NULL)
        snprintf(errbuf, errbuf_bytes, "cannot create Kafka client: %s", kerr);
    return rk;
}

int okno_kafka_create_topics(rd_kafka_conf_t *conf, const char *const *names, size_t count,
                             int partitions, int replication, int timeout_ms, int *created,
                             int *existing, char *errbuf, size_t errbuf_bytes)
{
    *created = *existing = 0;
    if (count == 0 || count > CREATE_TOPICS_MAX || partitions < 1 || replication < 1) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errbuf_bytes, "bad topic request: %zu topics, %d partitions, rf %d", count,
                 partitions, replication);
        return OKNO_EINVAL;
    }
    char kerr[512];
    rd_kafka_t *rk = admin_client(conf, errbuf, errbuf_bytes);
    if (rk == NULL)
        return OKNO_EKAFKA;
    rd_kafka_NewTopic_t *topics[CREATE_TOPICS_MAX];
    for (size_t i = 0; i < count; i++)
        topics[i] = rd_kafka_NewTopic_new(names[i], partitions, replication, kerr, sizeof kerr);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, kerr, sizeof kerr);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, kerr, sizeof kerr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, topics, count, opts, q);
    int rc = await_create(rk, q, timeout_ms, created, existing, errbuf, errbuf_bytes);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy_array(topics, count);
    rd_kafka_destroy(rk);
    return rc;
}

int okno_kafka_delete_topic(rd_kafka_conf_t *conf, const char *name, int timeout_ms, char *errbuf,
                            size_t errbuf_bytes)
{
    rd_kafka_t *rk = admin_client(conf, errbuf, errbuf_bytes);
    if (rk == NULL)
        return OKNO_EKAFKA;
    rd_kafka_DeleteTopic_t *t = rd_kafka_DeleteTopic_new(name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &t, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
    int rc = OKNO_OK;
    if (ev == NULL) {
        snprintf(errbuf, errbuf_bytes, "deleting topic %s: no answer in %d ms", name, timeout_ms);
        rc = OKNO_ETIMEDOUT;
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_bytes, "deleting topic %s: %s", name,
                 rd_kafka_event_error_string(ev));
        rc = OKNO_EKAFKA;
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy(t);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
