/* Kafka client configuration without a broker: the producer's partitioning settings win over the
 * deployment's and the caller's; a consumer's layers come in order (defaults, deployment,
 * group.id and fixed); a client that cannot be created takes its conf along (no leak under
 * LeakSanitizer). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "okno/config.h"
#include "okno/error.h"
#include "okno/kafka.h"

static const struct okno_config_key *const tables[] = {okno_config_common_keys, NULL};

static struct okno_config *config_with(const char *ini)
{
    struct okno_config *cfg = malloc(sizeof *cfg);
    assert_non_null(cfg);
    assert_int_equal(okno_config_init(cfg, tables), 0);
    assert_int_equal(okno_config_load_string(cfg, ini, "k.ini"), 0);
    return cfg;
}

static void config_free(struct okno_config *cfg)
{
    okno_config_close(cfg);
    free(cfg);
}

static void assert_conf_has(const rd_kafka_conf_t *conf, const char *key, const char *want)
{
    char value[256];
    size_t size = sizeof value;
    assert_int_equal(rd_kafka_conf_get(conf, key, value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, want);
}

static void producer_partitioning_settings_win_over_deployment_and_caller(void **state)
{
    (void)state;
    struct okno_config *cfg =
        config_with("[kafka]\nbootstrap.servers = b:1\n"
                    "[kafka.producer]\npartitioner = random\nlinger.ms = 9\n");
    static const char *const extra[][2] = {{"acks", "1"}, {"batch.num.messages", "77"}};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    assert_int_equal(okno_kafka_producer_conf(conf, cfg, extra, 2, err, sizeof err), OKNO_OK);
    assert_conf_has(conf, "bootstrap.servers", "b:1");
    assert_conf_has(conf, "linger.ms", "9");
    assert_conf_has(conf, "batch.num.messages", "77");
    assert_conf_has(conf, "enable.idempotence", "true");
    assert_conf_has(conf, "acks", "-1"); /* "all", as librdkafka reads it back */
    assert_conf_has(conf, "partitioner", "murmur2_random");
    rd_kafka_conf_destroy(conf);
    config_free(cfg);
}

static void producer_conf_refusal_names_the_property(void **state)
{
    (void)state;
    static const char *const extra[][2] = {{"batch.num.messages", "not a number"}};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512] = "";
    assert_int_equal(okno_kafka_producer_conf(conf, NULL, extra, 1, err, sizeof err), OKNO_ECONFIG);
    assert_non_null(strstr(err, "batch.num.messages"));
    rd_kafka_conf_destroy(conf);
}

static void consumer_layers_come_in_order(void **state)
{
    (void)state;
    struct okno_config *cfg = config_with("[kafka.consumer]\nsession.timeout.ms = 7000\n"
                                          "enable.auto.commit = true\ngroup.id = theirs\n");
    static const char *const defaults[][2] = {{"session.timeout.ms", "10000"},
                                              {"fetch.wait.max.ms", "50"}};
    static const char *const fixed[][2] = {{"enable.auto.commit", "false"}};
    const okno_kafka_consumer_options o = {.config = cfg,
                                           .group_id = "ours",
                                           .defaults = defaults,
                                           .defaults_count = 2,
                                           .fixed = fixed,
                                           .fixed_count = 1};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    assert_int_equal(okno_kafka_consumer_conf(conf, &o, err, sizeof err), OKNO_OK);
    assert_conf_has(conf, "session.timeout.ms", "7000");  /* the deployment changed a default */
    assert_conf_has(conf, "fetch.wait.max.ms", "50");     /* a default it left alone */
    assert_conf_has(conf, "enable.auto.commit", "false"); /* fixed wins */
    assert_conf_has(conf, "group.id", "ours");            /* so does the caller's group */
    rd_kafka_conf_destroy(conf);
    config_free(cfg);
}

static void a_client_that_cannot_be_created_takes_its_conf_along(void **state)
{
    (void)state;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512] = "";
    /* Each value is accepted alone; together librdkafka refuses them at creation. */
    assert_int_equal(rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "acks", "1", err, sizeof err), RD_KAFKA_CONF_OK);
    assert_null(okno_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
    assert_non_null(strstr(err, "acks"));
    /* conf is gone: LeakSanitizer (the ASan build) would report it otherwise. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(producer_partitioning_settings_win_over_deployment_and_caller),
        cmocka_unit_test(producer_conf_refusal_names_the_property),
        cmocka_unit_test(consumer_layers_come_in_order),
        cmocka_unit_test(a_client_that_cannot_be_created_takes_its_conf_along),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
