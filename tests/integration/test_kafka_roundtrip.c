/* Produces records to the real Kafka broker and consumes every one back, exactly once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "okno/kafka.h"

/* Records produced and the longest wait for them to come back, in milliseconds. */
#define ROUNDTRIP_RECORDS    1000
#define ROUNDTRIP_WAIT_MS    60000
#define ROUNDTRIP_PARTITIONS 3

static rd_kafka_conf_t *conf_with(const char *const *kv)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), err,
                          sizeof err) != RD_KAFKA_CONF_OK)
        fail_msg("%s", err);
    for (; kv != NULL && kv[0] != NULL; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof err) != RD_KAFKA_CONF_OK)
            fail_msg("%s=%s: %s", kv[0], kv[1], err);
    return conf;
}

static void produce_all(const char *topic)
{
    static const char *const props[] = {"enable.idempotence", "true", "acks", "all", NULL};
    char err[512];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(props), err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < ROUNDTRIP_RECORDS; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "message-%d", i % 97);
        snprintf(val, sizeof val, "%d", i);
        rd_kafka_resp_err_t e =
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(val, strlen(val)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, ROUNDTRIP_WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);
}

static void consume_all(const char *topic, const char *group)
{
    const char *const props[] = {
        "group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", "false", NULL};
    char err[512];
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf_with(props), err, sizeof err);
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, subs), 0);
    rd_kafka_topic_partition_list_destroy(subs);
    static unsigned char seen[ROUNDTRIP_RECORDS];
    memset(seen, 0, sizeof seen);
    int received = 0;
    for (int waited_ms = 0; received < ROUNDTRIP_RECORDS && waited_ms < ROUNDTRIP_WAIT_MS;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m == NULL) {
            waited_ms += 100;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int i = atoi((const char *)m->payload);
            assert_in_range(i, 0, ROUNDTRIP_RECORDS - 1);
            assert_int_equal(seen[i], 0);
            seen[i] = 1;
            received++;
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(received, ROUNDTRIP_RECORDS);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

static void delete_topic(const char *topic)
{
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_with(NULL), err, sizeof err);
    rd_kafka_DeleteTopic_t *t = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &t, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    assert_non_null(ev);
    assert_int_equal(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy(t);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static void records_produced_are_consumed_exactly_once(void **state)
{
    (void)state;
    char topic[128], group[128], err[512];
    okno_itest_unique(topic, sizeof topic, "okno.test.roundtrip");
    okno_itest_unique(group, sizeof group, "okno-test-group");
    const char *names[] = {topic};
    int created, existing;
    assert_int_equal(okno_kafka_create_topics(conf_with(NULL), names, 1, ROUNDTRIP_PARTITIONS, 1,
                                              30000, &created, &existing, err, sizeof err),
                     0);
    assert_int_equal(created, 1);
    produce_all(topic);
    consume_all(topic, group);
    delete_topic(topic);
}

static void okno_topics_exist_after_up(void **state)
{
    (void)state;
    char err[512];
    int created, existing;
    assert_int_equal(okno_kafka_create_topics(conf_with(NULL), okno_kafka_topics, OKNO_TOPIC_COUNT,
                                              8, 1, 30000, &created, &existing, err, sizeof err),
                     0);
    assert_int_equal(created, 0);
    assert_int_equal(existing, OKNO_TOPIC_COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_produced_are_consumed_exactly_once),
        cmocka_unit_test(okno_topics_exist_after_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
