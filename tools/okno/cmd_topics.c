/* `okno topics`: create okno's Kafka topics on the configured cluster. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "okno/kafka.h"

/* How long topic creation may wait for the controller, in milliseconds. */
#define TOPICS_TIMEOUT_MS 30000

static void topics_usage(FILE *out)
{
    fprintf(out, "usage: okno topics [--bootstrap HOST:PORT] [--partitions N] [--replication N]\n"
                 "  defaults: $OKNO_KAFKA_BOOTSTRAP, $OKNO_PARTITIONS or 8, 1\n");
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
    int partitions = 0, replication = 1;
    if (parse_count(okno_cli_env("OKNO_PARTITIONS", "8"), "OKNO_PARTITIONS", &partitions) != 0)
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
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "okno topics: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return OKNO_EXIT_USAGE;
    }
    int created, existing;
    if (okno_kafka_create_topics(conf, okno_kafka_topics, OKNO_TOPIC_COUNT, partitions, replication,
                                 TOPICS_TIMEOUT_MS, &created, &existing, err, sizeof err) != 0) {
        fprintf(stderr, "okno topics: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    printf("okno topics: %d created, %d already existed (%d partitions each when created)\n",
           created, existing, partitions);
    return OKNO_EXIT_OK;
}
