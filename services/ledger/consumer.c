/* The ledger's Kafka consumer: a group member on okno.transitions.v1 and okno.sla.v1 whose
 * positions live in PostgreSQL, not in Kafka. On every (incremental) assignment it loads the
 * stored offsets and the partition's stream heads and starts exactly there; nothing is ever
 * committed to Kafka. */
#include <string.h>

#include "ledger.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/log.h"

/* How long a rebalance waits for PostgreSQL before trying again, in milliseconds. */
#define ASSIGN_RETRY_MS 1000

okno_ledger_input okno_ledger_input_of(const okno_ledger *l, const char *topic)
{
    return strcmp(topic, l->topics[OKNO_LEDGER_SLA]) == 0 ? OKNO_LEDGER_SLA
                                                          : OKNO_LEDGER_TRANSITIONS;
}

/* Loads a partition's stored offset and heads, retrying while PostgreSQL is away: assigning a
 * partition without them would start from a wrong position. */
static void load_until_done(okno_ledger *l, okno_ledger_input in, int32_t partition)
{
    while (okno_ledger_load_partition(l, in, partition) != OKNO_OK) {
        if (okno_service_stopping(l->svc))
            return;
        okno_service_set_ready(l->svc, false, "PostgreSQL unavailable");
        okno_service_wait(l->svc, ASSIGN_RETRY_MS);
        if (PQstatus(l->pg) != CONNECTION_OK)
            okno_ledger_pg_connect(l);
    }
    okno_service_set_ready(l->svc, true, NULL);
}

static void on_assign(okno_ledger *l, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (tp->partition < 0 || tp->partition >= OKNO_LEDGER_PARTITIONS_MAX) {
            okno_log_error("partition number beyond OKNO_LEDGER_PARTITIONS_MAX",
                           OKNO_LOG_INT("partition", tp->partition));
            okno_service_request_stop(l->svc);
            continue;
        }
        okno_ledger_input in = okno_ledger_input_of(l, tp->topic);
        load_until_done(l, in, tp->partition);
        int64_t next = l->partitions[in][tp->partition].stored_next_offset;
        tp->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
        okno_log_info("partition assigned", OKNO_LOG_STR("topic", tp->topic),
                      OKNO_LOG_INT("partition", tp->partition), OKNO_LOG_INT("offset", next));
    }
    rd_kafka_error_t *err = rd_kafka_incremental_assign(l->consumer, parts);
    if (err != NULL) {
        okno_log_error("incremental assign failed",
                       OKNO_LOG_STR("reason", rd_kafka_error_string(err)));
        rd_kafka_error_destroy(err);
    }
}

static void on_revoke(okno_ledger *l, rd_kafka_topic_partition_list_t *parts)
{
    /* The batch loop runs on this thread, so no batch of these partitions is in flight. */
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (tp->partition < 0 || tp->partition >= OKNO_LEDGER_PARTITIONS_MAX)
            continue;
        okno_ledger_input in = okno_ledger_input_of(l, tp->topic);
        l->partitions[in][tp->partition] = (okno_ledger_partition){.stored_next_offset = -1};
        if (in == OKNO_LEDGER_TRANSITIONS)
            okno__head_cache_drop_partition(&l->cache, tp->partition);
        okno_log_info("partition revoked", OKNO_LOG_STR("topic", tp->topic),
                      OKNO_LOG_INT("partition", tp->partition));
    }
    rd_kafka_error_t *err = rd_kafka_incremental_unassign(l->consumer, parts);
    if (err != NULL) {
        okno_log_error("incremental unassign failed",
                       OKNO_LOG_STR("reason", rd_kafka_error_string(err)));
        rd_kafka_error_destroy(err);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)rk;
    okno_ledger *l = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assign(l, parts);
    else
        on_revoke(l, parts); /* revoked, or lost: either way the partitions are no longer ours */
}

/* Properties the ledger's correctness relies on; set explicitly, after the configuration's
 * pass-through, so no configuration can turn them off. */
static const char *const consumer_props[][2] = {
    {"enable.auto.commit", "false"},       /* offsets live in PostgreSQL */
    {"enable.auto.offset.store", "false"}, /* nothing is stored in Kafka either */
    {"auto.offset.reset", "error"},        /* a missing position is an error, not a guess */
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"isolation.level", "read_committed"}, /* never act on an aborted producer transaction */
    {"enable.partition.eof", "false"},
};

/* Defaults the configuration may change (kafka.consumer.*): a ledger that died is replaced
 * after 10 s rather than librdkafka's 45 s, since its partitions' requests wait meanwhile. */
static const char *const consumer_defaults[][2] = {
    {"session.timeout.ms", "10000"},
    /* A member learns of a rebalance at its next heartbeat: every second, not librdkafka's 3 s,
     * so a cooperative handover (two rounds) settles in about 2 s rather than 6 s. */
    {"heartbeat.interval.ms", "1000"},
};

/* Called from the consumer's poll, on the ledger's thread. A broker that cannot be reached
 * (every one of them, or the connection to one) makes the ledger not ready until a metadata
 * probe is answered again (probe_brokers in main.c): a load balancer or an operator sees that
 * nothing is being consumed. The error is still logged as librdkafka would. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    okno_ledger *l = opaque;
    okno_log_warn("Kafka error", OKNO_LOG_STR("reason", reason));
    if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && err != RD_KAFKA_RESP_ERR__TRANSPORT)
        return;
    if (!l->brokers_down)
        okno_service_set_ready(l->svc, false, "no Kafka broker reachable");
    l->brokers_down = true;
}

static int configure(okno_ledger *l, rd_kafka_conf_t *conf, char *err, size_t err_bytes)
{
    const okno_kafka_consumer_options o = {
        .config = &l->svc->config,
        .group_id = l->group_id,
        .defaults = consumer_defaults,
        .defaults_count = sizeof consumer_defaults / sizeof consumer_defaults[0],
        .fixed = consumer_props,
        .fixed_count = sizeof consumer_props / sizeof consumer_props[0],
        .rebalance_cb = rebalance_cb,
        .opaque = l,
    };
    int rc = okno_kafka_consumer_conf(conf, &o, err, err_bytes);
    if (rc == OKNO_OK)
        rd_kafka_conf_set_error_cb(conf, error_cb);
    return rc;
}

int okno_ledger_consumer_open(okno_ledger *l)
{
    char err[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = configure(l, conf, err, sizeof err);
    if (rc == OKNO_OK) {
        l->consumer = okno_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        conf = NULL; /* taken over */
        rc = l->consumer ? OKNO_OK : OKNO_EKAFKA;
    }
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (rc == OKNO_OK) {
        rd_kafka_poll_set_consumer(l->consumer);
        rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(2);
        for (int i = 0; i < OKNO_LEDGER_INPUTS; i++)
            rd_kafka_topic_partition_list_add(subs, l->topics[i], RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(l->consumer, subs);
        rd_kafka_topic_partition_list_destroy(subs);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, sizeof err, "%s", rd_kafka_err2str(e));
            rc = OKNO_EKAFKA;
        }
    }
    if (rc != OKNO_OK)
        okno_log_error("cannot start the Kafka consumer", OKNO_LOG_STR("reason", err),
                       OKNO_LOG_ERR(rc));
    return rc;
}

void okno_ledger_consumer_close(okno_ledger *l)
{
    if (l->consumer == NULL)
        return;
    rd_kafka_consumer_close(l->consumer);
    rd_kafka_destroy(l->consumer);
    l->consumer = NULL;
}

int okno_ledger_resync(okno_ledger *l, okno_ledger_input input, int32_t partition)
{
    okno_metrics_counter_inc(&l->metrics.resyncs);
    if (PQstatus(l->pg) != CONNECTION_OK && okno_ledger_pg_connect(l) != OKNO_OK)
        return OKNO_EPG;
    int rc = okno_ledger_load_partition(l, input, partition);
    if (rc != OKNO_OK)
        return rc;
    int64_t next = l->partitions[input][partition].stored_next_offset;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, l->topics[input], partition)->offset =
        next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(l->consumer, list, 10000);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != NULL) {
        okno_log_error("cannot seek after a failed batch",
                       OKNO_LOG_STR("reason", rd_kafka_error_string(err)));
        rd_kafka_error_destroy(err);
        return OKNO_EKAFKA;
    }
    return OKNO_OK;
}
