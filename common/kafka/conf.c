/* Client configuration: the topics, property tables, the consumer's configuration layers, the
 * producer settings the partitioning rule rests on, and client creation that owns its conf. */
#include <assert.h>
#include <stdio.h>

#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"

const char *const okno_kafka_topics[OKNO_TOPIC_COUNT] = {
    OKNO_TOPIC_TRANSITIONS, OKNO_TOPIC_EVENTS,        OKNO_TOPIC_REJECTIONS,
    OKNO_TOPIC_SLA,         OKNO_TOPIC_NOTIFICATIONS,
};

const char *const okno_kafka_producer_fixed[OKNO_KAFKA_PRODUCER_FIXED_COUNT][2] = {
    /* Order kept per partition, internal retries' duplicates dropped. */
    {"enable.idempotence", "true"},
    {"acks", "all"},
    /* The Java clients' partitioner: every client that computes a key's partition agrees, so a
     * message's requests, SLA signals and events land on the same partition number. */
    {"partitioner", "murmur2_random"},
};

int okno_kafka_conf_set_all(rd_kafka_conf_t *conf, const char *const (*props)[2], size_t count,
                            char *errbuf, size_t errbuf_bytes)
{
    assert(count == 0 || props != NULL);
    for (size_t i = 0; i < count; i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errbuf, errbuf_bytes) !=
            RD_KAFKA_CONF_OK)
            return OKNO_ECONFIG;
    return OKNO_OK;
}

/* The deployment's kafka.* keys for `client`, with the configuration's reason in errbuf. */
static int apply_deployment(rd_kafka_conf_t *conf, struct okno_config *cfg,
                            enum okno_config_kafka_client client, char *errbuf, size_t errbuf_bytes)
{
    if (cfg == NULL)
        return OKNO_OK;
    int rc = okno_config_kafka_apply(cfg, conf, client);
    if (rc != OKNO_OK)
        snprintf(errbuf, errbuf_bytes, "%s", okno_config_error(cfg));
    return rc;
}

int okno_kafka_consumer_conf(rd_kafka_conf_t *conf, const okno_kafka_consumer_options *o,
                             char *errbuf, size_t errbuf_bytes)
{
    assert(conf != NULL);
    assert(o->group_id != NULL);
    int rc = okno_kafka_conf_set_all(conf, o->defaults, o->defaults_count, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = apply_deployment(conf, o->config, OKNO_CONFIG_KAFKA_CONSUMER, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    if (rd_kafka_conf_set(conf, "group.id", o->group_id, errbuf, errbuf_bytes) != RD_KAFKA_CONF_OK)
        return OKNO_ECONFIG;
    rc = okno_kafka_conf_set_all(conf, o->fixed, o->fixed_count, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    if (o->rebalance_cb != NULL)
        rd_kafka_conf_set_rebalance_cb(conf, o->rebalance_cb);
    rd_kafka_conf_set_opaque(conf, o->opaque);
    return OKNO_OK;
}

int okno_kafka_producer_conf(rd_kafka_conf_t *conf, struct okno_config *cfg,
                             const char *const (*extra)[2], size_t extra_count, char *errbuf,
                             size_t errbuf_bytes)
{
    assert(conf != NULL);
    int rc = apply_deployment(conf, cfg, OKNO_CONFIG_KAFKA_PRODUCER, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = okno_kafka_conf_set_all(conf, extra, extra_count, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = okno_kafka_conf_set_all(conf, okno_kafka_producer_fixed,
                                     OKNO_KAFKA_PRODUCER_FIXED_COUNT, errbuf, errbuf_bytes);
    return rc;
}

rd_kafka_t *okno_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errbuf,
                           size_t errbuf_bytes)
{
    assert(conf != NULL);
    rd_kafka_t *rk = rd_kafka_new(type, conf, errbuf, errbuf_bytes);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf); /* librdkafka took it over only on success */
    return rk;
}
