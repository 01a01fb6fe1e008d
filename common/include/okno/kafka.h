/* Kafka helpers shared by services and tools: topic administration on a real cluster. */
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

/* The okno topic names, in the order above. */
extern const char *const okno_kafka_topics[OKNO_TOPIC_COUNT];

/* Sets each (name, value) pair of props[0..count) on conf, in order: the librdkafka properties a
 * module relies on, kept as a table beside the reason for each. 0, or OKNO_ECONFIG with
 * librdkafka's reason (naming the property) in errbuf. */
int okno_kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const (*props)[2], size_t count,
                            char *errbuf, size_t errbuf_bytes);

struct okno_config;

/* A consumer's configuration in the order that lets each layer win where it should:
 * `defaults` (which the deployment may override), then the deployment's kafka.* and
 * kafka.consumer.* keys, then group.id and the `fixed` properties the caller's correctness
 * relies on (no configuration can undo them), then the rebalance callback and its opaque.
 * 0, OKNO_ECONFIG or the configuration's error, with the reason in errbuf. */
int okno_kafka_consumer_conf(rd_kafka_conf_t *conf, struct okno_config *cfg, const char *group_id,
                             const char *const (*defaults)[2], size_t defaults_count,
                             const char *const (*fixed)[2], size_t fixed_count,
                             void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                  rd_kafka_topic_partition_list_t *, void *),
                             void *opaque, char *errbuf, size_t errbuf_bytes);

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
