/* Kafka as okno uses it, for services and tools: the topics, client configuration (a consumer's
 * layers, the producer settings the partitioning rule rests on), client creation, and topic
 * administration on a real cluster. */
#ifndef OKNO_KAFKA_H
#define OKNO_KAFKA_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

/* The topics okno uses; every one is keyed by message id. */
#define OKNO_TOPIC_TRANSITIONS   "okno.transitions.v1"
#define OKNO_TOPIC_EVENTS        "okno.events.v1"
#define OKNO_TOPIC_REJECTIONS    "okno.rejections.v1"
#define OKNO_TOPIC_SLA           "okno.sla.v1"
#define OKNO_TOPIC_NOTIFICATIONS "okno.notifications.v1"
#define OKNO_TOPIC_COUNT         5

/* The signed checkpoints of the event log (common/eventstore/README.md, "Anchored
 * checkpoints"): one partition, kept forever, never compacted; keyed by checkpoint number, so
 * not among the message-keyed topics above. */
#define OKNO_TOPIC_CHECKPOINTS "okno.checkpoints.v1"

/* The okno topic names, in the order above. */
extern const char *const okno_kafka_topics[OKNO_TOPIC_COUNT];

/* Sets each (name, value) pair of props[0..count) on conf, in order: the librdkafka properties a
 * module relies on, kept as a table beside the reason for each. 0, or OKNO_ECONFIG with
 * librdkafka's reason (naming the property) in errbuf. */
int okno_kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const (*props)[2], size_t count,
                            char *errbuf, size_t errbuf_bytes);

struct okno_config;

/* What a consumer's configuration is made of; everything borrowed for the call. */
typedef struct okno_kafka_consumer_options {
    struct okno_config *config;       /* the deployment's kafka.* and kafka.consumer.* keys;
                                         NULL: none */
    const char *group_id;             /* required */
    const char *const (*defaults)[2]; /* the caller's defaults, which the deployment may change */
    size_t defaults_count;
    const char *const (*fixed)[2]; /* what the caller's correctness relies on */
    size_t fixed_count;
    void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t *,
                         void *); /* NULL: librdkafka's own assignment */
    void *opaque;                 /* the callbacks' opaque */
} okno_kafka_consumer_options;

/* A consumer's configuration in the order that lets each layer win where it should:
 * o->defaults, then the deployment's keys, then group.id and o->fixed (no configuration can
 * undo them), then the rebalance callback and the opaque. 0, OKNO_ECONFIG or the
 * configuration's error, with the reason in errbuf. conf is borrowed. */
int okno_kafka_consumer_conf(rd_kafka_conf_t *conf, const okno_kafka_consumer_options *o,
                             char *errbuf, size_t errbuf_bytes);

/* The producer properties the partitioning rule rests on, set by every okno producer: the
 * idempotent producer (order kept, retries' duplicates dropped), acks=all, and the Java
 * clients' murmur2 partitioner (a message's records land on the same partition number on every
 * topic, whichever client produced them). */
#define OKNO_KAFKA_PRODUCER_FIXED_COUNT 3
extern const char *const okno_kafka_producer_fixed[OKNO_KAFKA_PRODUCER_FIXED_COUNT][2];

/* A producer's configuration: the deployment's kafka.* and kafka.producer.* keys (cfg NULL:
 * none), then the caller's `extra` properties, then okno_kafka_producer_fixed, which nothing can
 * undo. 0, OKNO_ECONFIG or the configuration's error, with the reason in errbuf. */
int okno_kafka_producer_conf(rd_kafka_conf_t *conf, struct okno_config *cfg,
                             const char *const (*extra)[2], size_t extra_count, char *errbuf,
                             size_t errbuf_bytes);

/* rd_kafka_new, except that conf is taken over in every case: librdkafka frees it only on
 * success, so a failed creation would leak it. NULL with librdkafka's reason in errbuf. */
rd_kafka_t *okno_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errbuf,
                           size_t errbuf_bytes);

/* Produces one row of the event log (or of okno.refusals) the way okno publishes it: key = the
 * message id's 36-character text, value = the stored body as it is (not copied: it must outlive
 * the delivery report), headers `seq` (only when seq > 0) and label_header = label (the event
 * type, or the refusal's reason code). The relay and `okno republish` both produce with it, so
 * a republished record has the original's bytes, key and headers. */
rd_kafka_resp_err_t okno_kafka_produce_log_row(rd_kafka_t *producer, const char *topic,
                                               const uint8_t id[16], int32_t seq,
                                               const char *label_header, const char *label,
                                               size_t label_bytes, const void *body,
                                               size_t body_bytes, void *msg_opaque);

/* Creates each named topic that does not exist yet with `partitions` partitions and the given
 * replication factor; existing topics are left alone and counted in *existing. conf is taken
 * over (freed) in every case. Waits at most timeout_ms for the controller. */
int okno_kafka_create_topics(rd_kafka_conf_t *conf, const char *const *names, size_t count,
                             int partitions, int replication, int timeout_ms, int *created,
                             int *existing, char *errbuf, size_t errbuf_bytes);

/* Deletes one topic (tests and benchmarks clean up with it). conf is taken over (freed) in
 * every case. Waits at most timeout_ms for the controller's answer. */
int okno_kafka_delete_topic(rd_kafka_conf_t *conf, const char *name, int timeout_ms, char *errbuf,
                            size_t errbuf_bytes);

#endif
