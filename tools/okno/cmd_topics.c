/* `okno topics`: create okno's Kafka topics on the configured cluster, and keep the event stream.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "okno/kafka.h"

/* How long topic creation may wait for the controller, in milliseconds. */
#define TOPICS_TIMEOUT_MS 30000

static void topics_usage(FILE *out)
{
    fprintf(out,
            "usage: okno topics [--bootstrap HOST:PORT] [--partitions N] [--replication N]\n"
            "  defaults: $OKNO_KAFKA_BOOTSTRAP, $OKNO_PARTITIONS or 8, $OKNO_REPLICATION or 1\n"
            "  okno.events.v1 is set to be kept forever (retention.ms=-1, not compacted);\n"
            "  okno.checkpoints.v1 (the signed checkpoints, one partition) likewise\n");
}

/* okno.events.v1 is an event stream for consumers that join late (analytics, a rebuilt
 * warehouse): it is kept forever and never compacted (a compacted topic would keep only a
 * message's last event). okno.checkpoints.v1 is the log's anchor outside the database
 * (`okno verify --anchors`): deleting or compacting it would let a rewrite go unnoticed. The
 * other topics keep the broker's time retention; see docs/operations.md. AlterConfigs replaces
 * the topic's whole dynamic configuration, so these are all the dynamic settings the two have;
 * applying them again changes nothing. */
static const char *const kept_topic_config[][2] = {
    {"retention.ms", "-1"},
    {"retention.bytes", "-1"},
    {"cleanup.policy", "delete"},
};

/* Sets kept_topic_config on topic. conf is taken over. 0 or -1 with err set. */
static int keep_forever(rd_kafka_conf_t *conf, const char *topic, char *err, size_t err_bytes)
{
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, err_bytes);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    for (size_t i = 0; i < sizeof kept_topic_config / sizeof kept_topic_config[0]; i++)
        rd_kafka_ConfigResource_set_config(res, kept_topic_config[i][0], kept_topic_config[i][1]);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opts, TOPICS_TIMEOUT_MS, err, err_bytes);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AlterConfigs(rk, &res, 1, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TOPICS_TIMEOUT_MS + 1000);
    int rc = -1;
    if (ev == NULL) {
        snprintf(err, err_bytes, "no answer to AlterConfigs within %d ms", TOPICS_TIMEOUT_MS);
    } else if (rd_kafka_event_error(ev)) {
        snprintf(err, err_bytes, "AlterConfigs failed: %s", rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **out =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
        if (n == 1 && rd_kafka_ConfigResource_error(out[0]) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = 0;
        else
            snprintf(err, err_bytes, "cannot set the retention of %s: %s", topic,
                     n == 1 ? rd_kafka_ConfigResource_error_string(out[0]) : "no result");
    }
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_destroy(rk);
    return rc;
}

static rd_kafka_conf_t *client_conf(const char *bootstrap, char *err, size_t err_bytes)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, err_bytes) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int parse_count(const char *s, const char *what, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 10000) {
        fprintf(stderr, "okno topics: %s must be a whole number from 1 to 10000, got '%s'\n", what,
                s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int okno_cli_topics(int argc, char **argv)
{
    const char *bootstrap = okno_cli_env("OKNO_KAFKA_BOOTSTRAP", NULL);
    int partitions = 0, replication = 0;
    if (parse_count(okno_cli_env("OKNO_PARTITIONS", "8"), "OKNO_PARTITIONS", &partitions) != 0 ||
        parse_count(okno_cli_env("OKNO_REPLICATION", "1"), "OKNO_REPLICATION", &replication) != 0)
        return OKNO_EXIT_USAGE;
    static const struct option opts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"replication", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'b')
            bootstrap = optarg;
        else if (c == 'p' && parse_count(optarg, "--partitions", &partitions) == 0)
            continue;
        else if (c == 'r' && parse_count(optarg, "--replication", &replication) == 0)
            continue;
        else {
            topics_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
        }
    }
    if (bootstrap == NULL) {
        fprintf(stderr,
                "okno topics: no Kafka cluster given (--bootstrap or $OKNO_KAFKA_BOOTSTRAP)\n");
        return OKNO_EXIT_USAGE;
    }
    char err[512];
    rd_kafka_conf_t *conf = client_conf(bootstrap, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "okno topics: %s\n", err);
        return OKNO_EXIT_USAGE;
    }
    int created, existing, ck_created, ck_existing;
    static const char *const checkpoints[1] = {OKNO_TOPIC_CHECKPOINTS};
    /* The checkpoints form one sequence: one partition keeps their order. */
    if (okno_kafka_create_topics(conf, okno_kafka_topics, OKNO_TOPIC_COUNT, partitions, replication,
                                 TOPICS_TIMEOUT_MS, &created, &existing, err, sizeof err) != 0 ||
        okno_kafka_create_topics(client_conf(bootstrap, err, sizeof err), checkpoints, 1, 1,
                                 replication, TOPICS_TIMEOUT_MS, &ck_created, &ck_existing, err,
                                 sizeof err) != 0) {
        fprintf(stderr, "okno topics: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    if (keep_forever(client_conf(bootstrap, err, sizeof err), OKNO_TOPIC_EVENTS, err, sizeof err) !=
            0 ||
        keep_forever(client_conf(bootstrap, err, sizeof err), OKNO_TOPIC_CHECKPOINTS, err,
                     sizeof err) != 0) {
        fprintf(stderr, "okno topics: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    printf("okno topics: %d created, %d already existed (%d partitions, replication %d each "
           "when created; %s: 1 partition); %s and %s kept forever\n",
           created + ck_created, existing + ck_existing, partitions, replication,
           OKNO_TOPIC_CHECKPOINTS, OKNO_TOPIC_EVENTS, OKNO_TOPIC_CHECKPOINTS);
    return OKNO_EXIT_OK;
}
