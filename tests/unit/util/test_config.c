/* Configuration: declared keys, INI file, environment overrides, librdkafka and libpq hand-off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpq-fe.h>

#include "okno/config.h"
#include "okno/error.h"
#include "util/config_internal.h"

static const struct okno_config_key ledger_keys[] = {
    {.name = "ledger.batch_events_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "500",
     .min = 1,
     .max = 10000,
     .doc = "events per transaction"},
    {.name = "ledger.commit_interval",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "250ms",
     .min = 1,
     .max = 60000,
     .doc = "longest wait before a partial batch commits"},
    {.name = "ledger.strict_mode",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "false",
     .doc = "refuse unknown request types"},
    {.name = "ledger.group_name",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno-ledger",
     .doc = "consumer group"},
    {.name = "ledger.api_token",
     .type = OKNO_CONFIG_STRING,
     .flags = OKNO_CONFIG_SECRET,
     .doc = "a secret"},
    {.name = NULL},
};

static const struct okno_config_key *const tables[] = {okno_config_common_keys, ledger_keys, NULL};

static int setup(void **state)
{
    struct okno_config *cfg = malloc(sizeof(*cfg));
    assert_non_null(cfg);
    assert_int_equal(okno_config_init(cfg, tables), 0);
    *state = cfg;
    return 0;
}

static int teardown(void **state)
{
    okno_config_close(*state);
    free(*state);
    return 0;
}

static void assert_error_has(const struct okno_config *cfg, const char *part)
{
    if (strstr(okno_config_error(cfg), part) == NULL)
        fail_msg("error '%s' lacks '%s'", okno_config_error(cfg), part);
}

static void defaults_are_applied(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_get_int(cfg, "ledger.batch_events_max"), 500);
    assert_int_equal(okno_config_get_duration_ms(cfg, "ledger.commit_interval"), 250);
    assert_false(okno_config_get_bool(cfg, "ledger.strict_mode"));
    assert_string_equal(okno_config_get_string(cfg, "ledger.group_name"), "okno-ledger");
    assert_null(okno_config_get_string(cfg, "ledger.api_token"));
    assert_string_equal(okno_config_get_string(cfg, "log.level"), "info");
    assert_int_equal(okno_config_check(cfg), 0);
}

static void sections_map_to_key_prefixes(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "; comment\n"
                      "[ledger]\n"
                      "batch_events_max = 42\n"
                      "commit_interval = 2s\n"
                      "strict_mode = yes\n"
                      "[log]\n"
                      "level = debug\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "t.ini"), 0);
    assert_int_equal(okno_config_get_int(cfg, "ledger.batch_events_max"), 42);
    assert_int_equal(okno_config_get_duration_ms(cfg, "ledger.commit_interval"), 2000);
    assert_true(okno_config_get_bool(cfg, "ledger.strict_mode"));
    assert_string_equal(okno_config_get_string(cfg, "log.level"), "debug");
}

static void unknown_key_is_named_with_file_and_line(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "[ledger]\nbatch_events_max = 5\nbatch_event_max = 7\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "svc.ini"), OKNO_ECONFIG);
    assert_error_has(cfg, "svc.ini:3");
    assert_error_has(cfg, "ledger.batch_event_max");
    assert_error_has(cfg, "unknown key");
}

static void bad_int_is_refused(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[ledger]\nbatch_events_max = 12x\n", "a.ini"),
                     OKNO_ECONFIG);
    assert_error_has(cfg, "a.ini:2: ledger.batch_events_max: '12x' is not an integer");
}

static void out_of_range_int_is_refused(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[ledger]\nbatch_events_max = 0\n", "a.ini"),
                     OKNO_ECONFIG);
    assert_error_has(cfg, "ledger.batch_events_max: 0 is out of range 1..10000");
}

static void bad_bool_is_refused(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[ledger]\nstrict_mode = maybe\n", "a.ini"),
                     OKNO_ECONFIG);
    assert_error_has(cfg, "ledger.strict_mode: 'maybe' is not a boolean");
}

static void bad_duration_is_refused(void **state)
{
    struct okno_config *cfg = *state;
    static const char *const bad[] = {"250", "5 s", "-1s", "1d", "ms", "99999999999999999h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char ini[128];
        snprintf(ini, sizeof(ini), "[ledger]\ncommit_interval = %s\n", bad[i]);
        cfg->error[0] = '\0';
        assert_int_equal(okno_config_load_string(cfg, ini, "a.ini"), OKNO_ECONFIG);
        assert_error_has(cfg, "ledger.commit_interval");
    }
    cfg->error[0] = '\0';
    assert_int_equal(okno_config_load_string(cfg, "[ledger]\ncommit_interval = 2m\n", "b.ini"),
                     OKNO_ECONFIG);
    assert_error_has(cfg, "120000ms is out of range 1..60000ms");
}

static void bad_enum_is_refused(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[log]\nlevel = loud\n", "a.ini"), OKNO_ECONFIG);
    assert_error_has(cfg, "log.level: 'loud' is not one of debug|info|warn|error");
}

static void key_set_twice_in_one_file_is_refused(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "[ledger]\nbatch_events_max = 5\n\nbatch_events_max = 6\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "a.ini"), OKNO_ECONFIG);
    assert_error_has(cfg, "a.ini:4: ledger.batch_events_max: set twice (first at a.ini:2)");
}

static void syntax_error_names_the_line(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[ledger]\nbatch_events_max\n", "a.ini"),
                     OKNO_ECONFIG);
    assert_error_has(cfg, "a.ini:2: syntax error");
}

static void overlong_line_is_refused_not_split(void **state)
{
    struct okno_config *cfg = *state;
    char ini[1024];
    snprintf(ini, sizeof(ini), "[ledger]\ngroup_name = %0500d\n", 7);
    assert_int_equal(okno_config_load_string(cfg, ini, "a.ini"), OKNO_ECONFIG);
    assert_error_has(cfg, "a.ini:2: line longer than");
}

static void env_override_wins_over_file(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[ledger]\nbatch_events_max = 5\n", "a.ini"), 0);
    char *env[] = {"PATH=/bin",
                   "OKNO_SOURCE_DIR=/src",
                   "OKNO_LEDGER__BATCH_EVENTS_MAX=77",
                   "OKNO_KAFKA__BOOTSTRAP__SERVERS=localhost:9092",
                   "OKNO_GATEWAY__LISTEN=not-ours",
                   NULL};
    assert_int_equal(okno_config_load_env(cfg, env), 0);
    assert_int_equal(okno_config_get_int(cfg, "ledger.batch_events_max"), 77);
    const struct okno_config_value *v = okno__config_find(cfg, "kafka.bootstrap.servers");
    assert_non_null(v);
    assert_string_equal(v->text, "localhost:9092");
    assert_string_equal(v->origin, "env OKNO_KAFKA__BOOTSTRAP__SERVERS");
    assert_null(okno__config_find(cfg, "gateway.listen"));
}

static void env_bad_value_names_the_variable(void **state)
{
    struct okno_config *cfg = *state;
    char *env[] = {"OKNO_LEDGER__BATCH_EVENTS_MAX=lots", NULL};
    assert_int_equal(okno_config_load_env(cfg, env), OKNO_ECONFIG);
    assert_error_has(cfg, "env OKNO_LEDGER__BATCH_EVENTS_MAX: ledger.batch_events_max");
    cfg->error[0] = '\0';
    char *unknown[] = {"OKNO_LEDGER__BATCH_SIZE=3", NULL};
    assert_int_equal(okno_config_load_env(cfg, unknown), OKNO_ECONFIG);
    assert_error_has(cfg, "env OKNO_LEDGER__BATCH_SIZE: ledger.batch_size: unknown key");
}

static void env_name_mapping_round_trips(void **state)
{
    (void)state;
    char buf[128];
    assert_int_equal(okno_config_env_name("ledger.batch_events_max", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "OKNO_LEDGER__BATCH_EVENTS_MAX");
    assert_int_equal(okno_config_env_name("kafka.sasl.password", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "OKNO_KAFKA__SASL__PASSWORD");
    assert_int_equal(okno_config_env_name("ledger.batch_events_max", buf, 8), OKNO_ELIMIT);
    assert_true(okno__config_name_valid("a.b_c.d1"));
    assert_false(okno__config_name_valid("nodot"));
    assert_false(okno__config_name_valid("a._b"));
    assert_false(okno__config_name_valid("a.b__c"));
    assert_false(okno__config_name_valid("a.B"));
    assert_false(okno__config_name_valid("a..b"));
}

static void kafka_passthrough_is_accepted_by_librdkafka(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "[kafka]\n"
                      "bootstrap.servers = 127.0.0.1:9092\n"
                      "security.protocol = sasl_plaintext\n"
                      "sasl.mechanism = PLAIN\n"
                      "[kafka.consumer]\n"
                      "group.id = ledger\n"
                      "[kafka.producer]\n"
                      "linger.ms = 7\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "k.ini"), 0);
    assert_int_equal(okno_config_check(cfg), 0);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(okno_config_kafka_apply(cfg, conf, OKNO_CONFIG_KAFKA_CONSUMER), 0);
    char value[256];
    size_t size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(conf, "bootstrap.servers", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "127.0.0.1:9092");
    size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(conf, "group.id", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "ledger");
    size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(conf, "linger.ms", value, &size), RD_KAFKA_CONF_OK);
    assert_string_not_equal(value, "7"); /* producer-only key stayed away from the consumer */
    rd_kafka_conf_destroy(conf);
}

static void kafka_passthrough_refusal_names_the_key(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "[kafka]\nbootstrap.servers = x:1\nsecurity.protocol = carrier_pigeon\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "k.ini"), 0);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(okno_config_kafka_apply(cfg, conf, OKNO_CONFIG_KAFKA_PRODUCER), OKNO_EKAFKA);
    rd_kafka_conf_destroy(conf);
    assert_error_has(cfg, "k.ini:3: kafka.security.protocol: refused by librdkafka");
    cfg->error[0] = '\0';
    assert_int_equal(okno_config_check(cfg), OKNO_EKAFKA);
}

static void kafka_unknown_property_fails_the_check(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[kafka]\nbootstrap.srevers = x:1\n", "k.ini"),
                     0);
    assert_int_equal(okno_config_check(cfg), OKNO_EKAFKA);
    assert_error_has(cfg, "k.ini:2: kafka.bootstrap.srevers: refused by librdkafka");
}

static void pg_keywords_are_checked_and_passed(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "[pg]\nconninfo = host=localhost dbname=okno\napplication_name = ledger\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "p.ini"), 0);
    assert_int_equal(okno_config_check(cfg), 0);
    const char *keywords[OKNO_CONFIG_PG_PARAMS_MAX];
    const char *values[OKNO_CONFIG_PG_PARAMS_MAX];
    assert_int_equal(okno_config_pg_params(cfg, keywords, values), 0);
    size_t n = 0;
    while (keywords[n] != NULL && strcmp(keywords[n], "dbname") != 0)
        n++; /* the dead-peer timeouts come first */
    assert_non_null(keywords[n]);
    assert_string_equal(values[n], "host=localhost dbname=okno");
    assert_string_equal(keywords[n + 1], "application_name");
    assert_string_equal(values[n + 1], "ledger");
    assert_null(keywords[n + 2]);

    assert_int_equal(okno_config_load_string(cfg, "[pg]\nhots = x\n", "q.ini"), 0);
    assert_int_equal(okno_config_check(cfg), OKNO_ECONFIG);
    assert_error_has(cfg, "q.ini:2: pg.hots: not a libpq connection keyword");
}

/* The value libpq will use for keyword on a connection made from cfg (started towards a socket
 * directory that does not exist, so nothing is reached). */
static const char *effective(PGconn *conn, const char *keyword)
{
    static char value[64];
    value[0] = '\0';
    PQconninfoOption *opts = PQconninfo(conn);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val != NULL)
            snprintf(value, sizeof value, "%s", o->val);
    PQconninfoFree(opts);
    return value;
}

static void pg_connections_time_out_a_dead_peer_unless_the_conninfo_says_otherwise(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "[pg]\nconninfo = host=/nonexistent/okno keepalives_idle=30\n"
                      "connect_timeout = 4\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "t.ini"), 0);
    assert_int_equal(okno_config_check(cfg), 0);
    const char *keywords[OKNO_CONFIG_PG_PARAMS_MAX];
    const char *values[OKNO_CONFIG_PG_PARAMS_MAX];
    assert_int_equal(okno_config_pg_params(cfg, keywords, values), 0);
    PGconn *conn = PQconnectStartParams(keywords, values, 1);
    assert_non_null(conn);
    assert_string_equal(effective(conn, "keepalives"), "1");
    assert_string_equal(effective(conn, "keepalives_interval"), "2");
    assert_string_equal(effective(conn, "keepalives_count"), "3");
    assert_string_equal(effective(conn, "tcp_user_timeout"), "10000");
    assert_string_equal(effective(conn, "keepalives_idle"), "30"); /* the conninfo's */
    assert_string_equal(effective(conn, "connect_timeout"), "4");  /* pg.connect_timeout */
    PQfinish(conn);
}

static void pg_bad_conninfo_is_refused(void **state)
{
    struct okno_config *cfg = *state;
    assert_int_equal(okno_config_load_string(cfg, "[pg]\nconninfo = host = = =\n", "p.ini"), 0);
    assert_int_equal(okno_config_check(cfg), OKNO_ECONFIG);
    assert_error_has(cfg, "p.ini:2: pg.conninfo: refused by libpq");
}

static void required_key_must_be_set(void **state)
{
    (void)state;
    static const struct okno_config_key keys[] = {
        {.name = "svc.token", .type = OKNO_CONFIG_STRING, .flags = OKNO_CONFIG_REQUIRED},
        {.name = NULL},
    };
    const struct okno_config_key *const t[] = {keys, NULL};
    struct okno_config *cfg = malloc(sizeof(*cfg));
    assert_int_equal(okno_config_init(cfg, t), 0);
    assert_int_equal(okno_config_check(cfg), OKNO_ECONFIG);
    assert_error_has(cfg, "svc.token: required but not set (in the file or as OKNO_SVC__TOKEN)");
    okno_config_close(cfg);
    free(cfg);
}

static void bad_table_is_refused(void **state)
{
    (void)state;
    static const struct okno_config_key keys[] = {
        {.name = "svc.n", .type = OKNO_CONFIG_INT, .default_value = "9", .min = 1, .max = 5},
        {.name = NULL},
    };
    const struct okno_config_key *const t[] = {keys, NULL};
    struct okno_config *cfg = malloc(sizeof(*cfg));
    assert_int_equal(okno_config_init(cfg, t), OKNO_ECONFIG);
    assert_error_has(cfg, "default of 'svc.n'");
    okno_config_close(cfg);
    const struct okno_config_key *const twice[] = {keys + 1, okno_config_common_keys,
                                                   okno_config_common_keys, NULL};
    assert_int_equal(okno_config_init(cfg, twice), OKNO_ECONFIG);
    assert_error_has(cfg, "declared twice");
    okno_config_close(cfg);
    free(cfg);
}

static char *dump_to_string(const struct okno_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    okno_config_dump(cfg, f);
    fclose(f);
    return text;
}

static void dump_masks_secrets(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini = "[kafka]\nsasl.password = hunter2\nsasl.username = bob\n"
                      "[pg]\nconninfo = host=db password='p w' user=x\n"
                      "[ledger]\napi_token = t0ken\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "s.ini"), 0);
    char *text = dump_to_string(cfg);
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "p w"));
    assert_null(strstr(text, "t0ken"));
    assert_non_null(strstr(text, "kafka.sasl.password = ***  # s.ini:2\n"));
    assert_non_null(strstr(text, "kafka.sasl.username = bob  # s.ini:3\n"));
    assert_non_null(strstr(text, "pg.conninfo = host=db password=*** user=x  # s.ini:5\n"));
    assert_non_null(strstr(text, "ledger.batch_events_max = 500  # default\n"));
    free(text);
}

static void dump_masks_uri_password(void **state)
{
    struct okno_config *cfg = *state;
    const char *ini =
        "[pg]\nconninfo = postgresql://u:s3cret@db:5432/okno?password=x2&sslmode=off\n";
    assert_int_equal(okno_config_load_string(cfg, ini, "u.ini"), 0);
    char *text = dump_to_string(cfg);
    assert_null(strstr(text, "s3cret"));
    assert_non_null(
        strstr(text, "pg.conninfo = postgresql://u:***@db:5432/okno?password=***&sslmode=off"));
    free(text);
}

static void file_is_read_and_missing_file_is_an_io_error(void **state)
{
    struct okno_config *cfg = *state;
    char path[] = "/tmp/okno-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *ini = "[ledger]\nstrict_mode = on\n";
    assert_int_equal(write(fd, ini, strlen(ini)), (ssize_t)strlen(ini));
    close(fd);
    assert_int_equal(okno_config_load_file(cfg, path), 0);
    assert_true(okno_config_get_bool(cfg, "ledger.strict_mode"));
    unlink(path);
    assert_int_equal(okno_config_load_file(cfg, path), OKNO_EIO);
    assert_error_has(cfg, path);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(defaults_are_applied),
        T(sections_map_to_key_prefixes),
        T(unknown_key_is_named_with_file_and_line),
        T(bad_int_is_refused),
        T(out_of_range_int_is_refused),
        T(bad_bool_is_refused),
        T(bad_duration_is_refused),
        T(bad_enum_is_refused),
        T(key_set_twice_in_one_file_is_refused),
        T(syntax_error_names_the_line),
        T(overlong_line_is_refused_not_split),
        T(env_override_wins_over_file),
        T(env_bad_value_names_the_variable),
        cmocka_unit_test(env_name_mapping_round_trips),
        T(kafka_passthrough_is_accepted_by_librdkafka),
        T(kafka_passthrough_refusal_names_the_key),
        T(kafka_unknown_property_fails_the_check),
        T(pg_keywords_are_checked_and_passed),
        T(pg_connections_time_out_a_dead_peer_unless_the_conninfo_says_otherwise),
        T(pg_bad_conninfo_is_refused),
        cmocka_unit_test(required_key_must_be_set),
        cmocka_unit_test(bad_table_is_refused),
        T(dump_masks_secrets),
        T(dump_masks_uri_password),
        T(file_is_read_and_missing_file_is_an_io_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
