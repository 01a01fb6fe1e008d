/* The timer's Kafka consumer: a member of its own group on okno.events.v1 whose positions are
 * never committed. The group rebalances cooperatively: partitions revoked take only their own
 * messages out of the book; for partitions gained it reads their high watermarks, then loads
 * their stream-head snapshots from PostgreSQL, then starts each at its watermark: every event below
 * it was committed before the snapshot was taken, and every event at or above it is folded or
 * recognised by its seq (README.md has the argument). The queue is drained from the libuv loop
 * through a pipe librdkafka writes to. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "okno/avro.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/log.h"
#include "okno/uuid.h"
#include "timer.h"

static int64_t monotonic_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000);
}

/* Reads each partition's high watermark: where consumption starts after the rebuild. */
static int watermarks(okno_timer *t, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        int64_t low, high;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            t->consumer, parts->elems[i].topic, parts->elems[i].partition, &low, &high,
            OKNO_TIMER_KAFKA_TIMEOUT_MS);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            okno_log_warn("cannot read a partition's watermark",
                          OKNO_LOG_INT("partition", parts->elems[i].partition),
                          OKNO_LOG_STR("reason", rd_kafka_err2str(e)));
            return OKNO_EKAFKA;
        }
        parts->elems[i].offset = high;
    }
    return OKNO_OK;
}

/* The partition of okno.events.v1 a message's records lie on: the producers' murmur2 of the
 * message id's text (okno/kafka.h, the partitioning rule). */
static int32_t partition_of(const okno_timer *t, const okno_uuid *id)
{
    char key[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(id, key);
    return rd_kafka_msg_partitioner_murmur2(t->events_rkt, key, OKNO_UUID_TEXT_BYTES - 1,
                                            t->partition_count, NULL, NULL);
}

typedef struct partition_set {
    const okno_timer *t;
    bool in[OKNO_TIMER_PARTITIONS_MAX];
} partition_set;

static bool in_set(void *arg, const okno_uuid *id)
{
    const partition_set *set = arg;
    int32_t p = partition_of(set->t, id);
    return p >= 0 && p < OKNO_TIMER_PARTITIONS_MAX && set->in[p];
}

/* Takes the messages of these partitions out of the book with their deadlines. */
static uint32_t drop_partitions(okno_timer *t, const rd_kafka_topic_partition_list_t *parts)
{
    static partition_set set; /* 1 KiB; one loop thread */
    memset(&set, 0, sizeof set);
    set.t = t;
    bool any = false;
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 && parts->elems[i].partition < OKNO_TIMER_PARTITIONS_MAX)
            any = set.in[parts->elems[i].partition] = true;
    return any && t->partition_count > 0 ? okno_tracker_forget_if(&t->tracker, in_set, &set) : 0;
}

/* okno.events.v1's partition count, which a message's partition follows. */
static int partition_count(okno_timer *t)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e =
        rd_kafka_metadata(t->consumer, 0, t->events_rkt, &md, OKNO_TIMER_KAFKA_TIMEOUT_MS);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt != 1)
        e = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    else if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = md->topics[0].err;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        t->partition_count = md->topics[0].partition_cnt;
    else
        okno_log_warn("cannot read the events topic's partition count",
                      OKNO_LOG_STR("reason", rd_kafka_err2str(e)));
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR && t->partition_count > 0 ? OKNO_OK : OKNO_EKAFKA;
}

/* Adds the heads of the gained partitions to the book (which holds none of theirs). */
static int rebuild_once(okno_timer *t, rd_kafka_topic_partition_list_t *parts, uint64_t *loaded)
{
    int rc = partition_count(t);
    if (rc == OKNO_OK)
        rc = watermarks(t, parts);
    if (rc != OKNO_OK)
        return rc;
    if (PQstatus(t->pg) != CONNECTION_OK && okno_timer_pg_connect(t) != OKNO_OK)
        return OKNO_EPG;
    int32_t gained[OKNO_TIMER_PARTITIONS_MAX];
    int n = 0;
    for (int i = 0; i < parts->cnt && n < OKNO_TIMER_PARTITIONS_MAX; i++)
        gained[n++] = parts->elems[i].partition;
    rc = okno_timer_load_heads(t, gained, n, loaded);
    if (rc != OKNO_OK)
        drop_partitions(t, parts); /* what a failed COPY loaded goes; the retry loads it all */
    return rc;
}

static void owned_set(okno_timer *t, const rd_kafka_topic_partition_list_t *parts, bool owned)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p >= 0 && p < OKNO_TIMER_PARTITIONS_MAX && t->owned[p] != owned) {
            t->owned[p] = owned;
            t->owned_count += owned ? 1 : -1;
        }
    }
    okno_metrics_gauge_set(&t->metrics.partitions, t->owned_count);
}

/* Partitions gained (cooperative rebalancing hands over only what moves): their deadlines are
 * rebuilt from PostgreSQL, retrying while PostgreSQL or the broker is away (consuming without
 * the snapshot would miss every deadline already armed); the book's other messages keep
 * theirs, and their deadlines keep firing once the rebuild is done. */
static void on_assign(okno_timer *t, rd_kafka_topic_partition_list_t *parts)
{
    if (parts->cnt == 0) {
        rd_kafka_error_t *err = rd_kafka_incremental_assign(t->consumer, parts);
        if (err != NULL)
            rd_kafka_error_destroy(err);
        return;
    }
    okno_service_set_ready(t->svc, false, "rebuilding deadlines from PostgreSQL");
    int64_t started = monotonic_ms();
    uint64_t loaded = 0;
    while (rebuild_once(t, parts, &loaded) != OKNO_OK) {
        if (okno_service_stopping(t->svc))
            return;
        okno_service_wait(t->svc, t->retry_backoff_ms);
    }
    int64_t took = monotonic_ms() - started;
    owned_set(t, parts, true);
    okno_metrics_counter_inc(&t->metrics.rebuilds);
    okno_metrics_gauge_set(&t->metrics.rebuild_ms, took);
    okno_log_info("deadlines rebuilt", OKNO_LOG_INT("partitions", parts->cnt),
                  OKNO_LOG_INT("owned", t->owned_count), OKNO_LOG_UINT("heads", loaded),
                  OKNO_LOG_UINT("messages", okno_tracker_messages(&t->tracker)),
                  OKNO_LOG_UINT("deadlines", okno_tracker_deadlines(&t->tracker)),
                  OKNO_LOG_INT("ms", took));
    rd_kafka_error_t *err = rd_kafka_incremental_assign(t->consumer, parts);
    if (err != NULL) {
        okno_log_error("assign failed", OKNO_LOG_STR("reason", rd_kafka_error_string(err)));
        rd_kafka_error_destroy(err);
    }
    t->tracker_ready = true;
    okno_service_set_ready(t->svc, true, NULL);
    okno_timer_schedule(t);
}

/* Partitions revoked or lost: only their messages leave the book. */
static void on_revoke(okno_timer *t, rd_kafka_topic_partition_list_t *parts)
{
    uint32_t dropped = drop_partitions(t, parts);
    owned_set(t, parts, false);
    rd_kafka_error_t *err = rd_kafka_incremental_unassign(t->consumer, parts);
    if (err != NULL) {
        okno_log_error("unassign failed", OKNO_LOG_STR("reason", rd_kafka_error_string(err)));
        rd_kafka_error_destroy(err);
    }
    if (t->owned_count == 0) {
        t->tracker_ready = false;
        okno_service_set_ready(t->svc, false, "waiting for partitions");
    }
    okno_log_info("partitions revoked", OKNO_LOG_INT("partitions", parts->cnt),
                  OKNO_LOG_INT("owned", t->owned_count), OKNO_LOG_UINT("messages_dropped", dropped),
                  OKNO_LOG_UINT("messages", okno_tracker_messages(&t->tracker)));
    okno_timer_schedule(t);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)rk;
    okno_timer *t = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assign(t, parts);
    else
        on_revoke(t, parts);
}

static void record_log(const rd_kafka_message_t *m, const char *what, const char *reason)
{
    okno_log_error(what, OKNO_LOG_STR("topic", rd_kafka_topic_name(m->rkt)),
                   OKNO_LOG_INT("partition", m->partition), OKNO_LOG_INT("offset", m->offset),
                   OKNO_LOG_STR("reason", reason));
}

/* The book could not place the event: PostgreSQL's head is the truth. Reload it, then fold
 * the event again, which it now either holds or directly follows. */
static okno_timer_outcome reload_and_retry(okno_timer *t, const rd_kafka_message_t *m,
                                           const okno_event *ev, okno_tracker_fold first)
{
    uint32_t seq = 0;
    okno_tracker_fold again = first;
    if (okno_timer_reload(t, &ev->message_id, m->partition, &seq) != OKNO_OK) {
        if (PQstatus(t->pg) != CONNECTION_OK)
            okno_timer_pg_connect(t); /* for the next record; this one stays unexpected */
    } else if (okno_tracker_apply(&t->tracker, ev, &again) != OKNO_OK)
        again = OKNO_TRACKER_MISFIT;
    if (again == OKNO_TRACKER_APPLIED || again == OKNO_TRACKER_CLOSED ||
        again == OKNO_TRACKER_REPEATED)
        return OKNO_TIMER_RELOADED;
    if (first == OKNO_TRACKER_UNTRACKED && seq >= ev->seq)
        return OKNO_TIMER_UNTRACKED; /* closed before our snapshot */
    char why[128];
    snprintf(why, sizeof why, "%s, then %s after reloading head seq %u",
             okno_tracker_fold_name(first), okno_tracker_fold_name(again), seq);
    record_log(m, "an event fits neither the timer's state nor the stored head", why);
    return OKNO_TIMER_UNEXPECTED;
}

static okno_timer_outcome fold_record(okno_timer *t, const rd_kafka_message_t *m)
{
    okno_event ev;
    okno_avro_error err = {0};
    if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, m->payload, m->len, &ev, &err) != OKNO_OK) {
        record_log(m, "cannot decode a record of the events topic", err.reason);
        return OKNO_TIMER_UNDECODABLE;
    }
    okno_tracker_fold what;
    if (okno_tracker_apply(&t->tracker, &ev, &what) != OKNO_OK) {
        record_log(m, "the timer's book cannot grow", "out of memory or over its limit");
        return OKNO_TIMER_UNEXPECTED;
    }
    switch (what) {
    case OKNO_TRACKER_APPLIED:
    case OKNO_TRACKER_CLOSED:
        return OKNO_TIMER_APPLIED;
    case OKNO_TRACKER_REPEATED:
        return OKNO_TIMER_REPEATED;
    default:
        return reload_and_retry(t, m, &ev, what);
    }
}

static void handle(okno_timer *t, rd_kafka_message_t *m)
{
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        okno_metrics_counter_inc(&t->metrics.consumer_errors);
        okno_log_warn("consumer error", OKNO_LOG_STR("reason", rd_kafka_message_errstr(m)));
        return;
    }
    if (m->partition < 0 || m->partition >= OKNO_TIMER_PARTITIONS_MAX || !t->owned[m->partition])
        return; /* fetched before its partition was revoked: its new owner folds it */
    okno_timer_outcome o = fold_record(t, m);
    okno_metrics_counter_inc(&t->metrics.records[o]);
}

static void drain_pipe(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
}

void okno_timer_on_consumer(uv_poll_t *handle_, int status, int events)
{
    (void)status;
    (void)events;
    okno_timer *t = handle_->data;
    drain_pipe(t->consumer_pipe[0]);
    int64_t n = 0;
    rd_kafka_message_t *m = NULL;
    while (n < t->consume_batch_max && (m = rd_kafka_consumer_poll(t->consumer, 0)) != NULL) {
        handle(t, m);
        rd_kafka_message_destroy(m);
        n++;
    }
    /* librdkafka writes to the pipe only when its queue turns non-empty: if records remain,
     * wake this callback again ourselves, after the loop's other work. */
    if (n == t->consume_batch_max && write(t->consumer_pipe[1], "1", 1) < 0 && errno != EAGAIN)
        okno_log_warn("cannot wake the consumer", OKNO_LOG_STR("reason", strerror(errno)));
    okno_timer_schedule(t);
}

/* Properties the timer's correctness relies on, set after the configuration's pass-through. */
static const char *const consumer_props[][2] = {
    {"enable.auto.commit", "false"}, /* positions come from the watermarks, not Kafka */
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "error"}, /* a position is always set explicitly */
    /* incremental: a rebalance moves only some partitions, and only they are dropped or rebuilt */
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"isolation.level", "read_committed"},
    {"enable.partition.eof", "false"},
    {"queued.max.messages.kbytes", "16384"}, /* prefetch: 16 MiB, not 64, of the memory budget */
};

/* Defaults the configuration may change (kafka.consumer.*): a timer that died is replaced
 * after 10 s rather than librdkafka's 45 s, since deadlines wait meanwhile. Static membership
 * (kafka.consumer.group.instance.id) makes a restarted instance take over at once. */
static const char *const consumer_defaults[][2] = {
    {"session.timeout.ms", "10000"},
    /* A member learns of a rebalance at its next heartbeat: every second, not librdkafka's 3 s,
     * so a cooperative handover (two rounds) settles in about 2 s rather than 6 s. */
    {"heartbeat.interval.ms", "1000"},
};

static int configure(okno_timer *t, rd_kafka_conf_t *conf, char *err, size_t err_bytes)
{
    const okno_kafka_consumer_options o = {
        .config = &t->svc->config,
        .group_id = t->group_id,
        .defaults = consumer_defaults,
        .defaults_count = sizeof consumer_defaults / sizeof consumer_defaults[0],
        .fixed = consumer_props,
        .fixed_count = sizeof consumer_props / sizeof consumer_props[0],
        .rebalance_cb = rebalance_cb,
        .opaque = t,
    };
    return okno_kafka_consumer_conf(conf, &o, err, err_bytes);
}

static int subscribe(okno_timer *t, char *err, size_t err_bytes)
{
    rd_kafka_poll_set_consumer(t->consumer);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(t->consumer);
    rd_kafka_queue_io_event_enable(q, t->consumer_pipe[1], "1", 1);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, t->events_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(t->consumer, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return OKNO_OK;
    snprintf(err, err_bytes, "%s", rd_kafka_err2str(e));
    return OKNO_EKAFKA;
}

int okno_timer_consumer_open(okno_timer *t)
{
    char err[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = configure(t, conf, err, sizeof err);
    if (rc == OKNO_OK) {
        t->consumer = okno_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        conf = NULL; /* taken over */
        if (t->consumer != NULL)
            t->events_rkt = rd_kafka_topic_new(t->consumer, t->events_topic, NULL);
        rc = t->events_rkt ? subscribe(t, err, sizeof err) : OKNO_EKAFKA;
    }
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (rc != OKNO_OK)
        okno_log_error("cannot start the Kafka consumer", OKNO_LOG_STR("reason", err),
                       OKNO_LOG_ERR(rc));
    return rc;
}

void okno_timer_consumer_close(okno_timer *t)
{
    if (t->consumer == NULL)
        return;
    rd_kafka_consumer_close(t->consumer);
    if (t->events_rkt != NULL)
        rd_kafka_topic_destroy(t->events_rkt);
    t->events_rkt = NULL;
    rd_kafka_destroy(t->consumer);
    t->consumer = NULL;
}
