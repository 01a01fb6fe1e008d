/* okno-gateway: the HTTP API of every workplace (see README.md). This wires the configuration,
 * the JWKS, the PostgreSQL pools, the producer and the HTTP server to the service runtime, and
 * reports readiness while Kafka and PostgreSQL answer. */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "okno/clock.h"
#include "okno/avro.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/service.h"
#include "okno/uuid.h"

#define CHECK_EVERY_MS 1000
#define KAFKA_CHECK_MS 1000
#define ROUTES_MAX     32
#define GW_LINGER_MS   "5"

static const struct okno_config_key gateway_keys[] = {
    {.name = "gateway.listen",
     .type = OKNO_CONFIG_STRING,
     .default_value = "127.0.0.1:8080",
     .doc = "public HTTP address host:port (IPv6 as [::1]:port); port 0 picks a free one"},
    {.name = "gateway.transitions_topic",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno.transitions.v1",
     .doc = "topic the requests are produced to"},
    {.name = "gateway.read_conninfo",
     .type = OKNO_CONFIG_STRING,
     .flags = OKNO_CONFIG_SECRET,
     .default_value = "",
     .doc = "libpq connection string of the okno_gateway role (reads under "
            "row-level security); empty: pg.conninfo with user okno_gateway"},
    {.name = "gateway.workers",
     .type = OKNO_CONFIG_INT,
     .default_value = "16",
     .min = 1,
     .max = OKNO_HTTP_WORKERS_MAX,
     .doc = "threads (and PostgreSQL connections per pool) that "
            "serve requests doing I/O"},
    {.name = "gateway.write_batchers",
     .type = OKNO_CONFIG_INT,
     .default_value = "2",
     .min = 1,
     .max = GW_BATCH_THREADS_MAX,
     .doc = "threads that take the writes waiting and check and record them together (one "
            "round trip per pool for the whole batch)"},
    {.name = "gateway.body_bytes_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "262144",
     .min = 1024,
     .max = 16777216,
     .doc = "largest request body (413 above)"},
    {.name = "gateway.header_bytes_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "16384",
     .min = 1024,
     .max = 1048576,
     .doc = "request header bytes (431 above)"},
    {.name = "gateway.header_count_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "64",
     .min = 8,
     .max = OKNO_HTTP_HEADER_COUNT_CEILING,
     .doc = "request headers (431 above)"},
    {.name = "gateway.connections_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "1024",
     .min = 1,
     .max = 65536,
     .doc = "open client connections; more are closed at once"},
    {.name = "gateway.idle_timeout",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "30s",
     .min = 100,
     .max = 3600000,
     .doc = "a connection idle, or sending its request, this long is "
            "closed"},
    {.name = "gateway.in_flight_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "1024",
     .min = 1,
     .max = 65536,
     .doc = "requests handled at once (503 above)"},
    {.name = "gateway.wait_max",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "2s",
     .min = 0,
     .max = 30000,
     .doc = "longest ?wait= on GET /requests/{id}"},
    {.name = "gateway.id_namespace",
     .type = OKNO_CONFIG_STRING,
     .default_value = "6f6b6e6f-6761-5465-8177-61792d696473",
     .doc = "UUID namespace of request ids derived from Idempotency-Key (same on every gateway)"},
    {.name = "gateway.read_cache",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "keep message cards in memory (README: Read cache); false: every read goes to "
            "PostgreSQL"},
    {.name = "gateway.write_on_loop",
     .type = OKNO_CONFIG_BOOL,
     .default_value = "true",
     .doc = "shape a write whose token and grant are cached on the HTTP loop (README: Writes on "
            "the loop); false: every write goes through a worker"},
    {.name = "gateway.read_cache_entries_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "100000",
     .min = 64,
     .max = 100000000,
     .doc = "cards the read cache holds at most"},
    {.name = "gateway.read_cache_bytes_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "268435456",
     .min = 65536,
     .max = INT64_C(68719476736),
     .doc = "bytes the cached cards hold at most (their JSON and facts)"},
    {.name = "auth.jwks_file",
     .type = OKNO_CONFIG_STRING,
     .default_value = "",
     .doc = "JWKS (JSON) with the identity provider's public keys (RS256, ES256); required"},
    {.name = "auth.issuer",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno-local",
     .doc = "the tokens' required iss"},
    {.name = "auth.audience",
     .type = OKNO_CONFIG_STRING,
     .default_value = "okno-gateway",
     .doc = "the audience (aud) the tokens must name"},
    {.name = "auth.leeway",
     .type = OKNO_CONFIG_DURATION,
     .default_value = "30s",
     .min = 0,
     .max = 300000,
     .doc = "clock skew allowed on exp and nbf (wall clock)"},
    OKNO_CONFIG_FAULT_STOP_KEY("gateway.fault_stop_before_answer",
                               "between Kafka's acknowledgement of a write and its answer"),
    OKNO_CLOCK_CONFIG_KEYS,
    {.name = NULL},
};

static const struct okno_service_info info = {
    .name = "gateway",
    .summary = "the HTTP API: writes to okno.transitions.v1, reads from the read models",
    .keys = gateway_keys,
};

static struct okno_service svc;
static struct gateway gw;
static struct okno_http_route routes[ROUTES_MAX];
static const char *pg_keywords[OKNO_CONFIG_PG_PARAMS_MAX];
static const char *pg_values[OKNO_CONFIG_PG_PARAMS_MAX];
static const char *read_keywords[] = {"dbname", NULL};
static const char *read_values[] = {NULL, NULL};
static char read_conninfo[OKNO_CONFIG_VALUE_BYTES_MAX + 32];
static PGconn *check_conn;

/* Writes on the loop (gw_submit, gw_action hand misses to a worker) or all on workers. */
static void build_routes(bool write_on_loop)
{
    size_t n = 0;
    routes[n++] = (struct okno_http_route){
        "POST", "/messages", write_on_loop ? gw_submit : gw_submit_pool, &gw, !write_on_loop};
    routes[n++] =
        (struct okno_http_route){"POST", "/messages/{id}/actions/{action}",
                                 write_on_loop ? gw_action : gw_action_pool, &gw, !write_on_loop};
    routes[n++] = (struct okno_http_route){"GET", "/requests/{id}", gw_request_status, &gw, true};
    const struct okno_http_route *tables[] = {gw_read_routes, gw_report_routes,
                                              gw_directory_routes};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct okno_http_route *r = tables[t]; r->method != NULL; r++) {
            routes[n] = *r;
            routes[n++].arg = &gw;
        }
    routes[n] = (struct okno_http_route){0};
}

static struct okno_http_limits limits(const struct okno_config *c)
{
    struct okno_http_limits l = OKNO_HTTP_LIMITS_DEFAULT;
    l.body_bytes_max = (size_t)okno_config_get_int(c, "gateway.body_bytes_max");
    l.header_bytes_max = (size_t)okno_config_get_int(c, "gateway.header_bytes_max");
    l.header_count_max = (size_t)okno_config_get_int(c, "gateway.header_count_max");
    l.connections_max = (size_t)okno_config_get_int(c, "gateway.connections_max");
    l.idle_timeout_ms = okno_config_get_duration_ms(c, "gateway.idle_timeout");
    l.in_flight_max = (size_t)okno_config_get_int(c, "gateway.in_flight_max");
    return l;
}

static int http_init(const struct okno_config *c)
{
    build_routes(okno_config_get_bool(c, "gateway.write_on_loop"));
    struct okno_http_options opt = {.listen = okno_config_get_string(c, "gateway.listen"),
                                    .server_name = "okno-gateway",
                                    .routes = routes,
                                    .limits = limits(c),
                                    .workers = (int)okno_config_get_int(c, "gateway.workers")};
    int rc = okno_http_init(&gw.http, &opt);
    if (rc != 0)
        okno_log_error("bad gateway.listen", OKNO_LOG_STR("listen", opt.listen));
    return rc == 0 ? 0 : OKNO_ECONFIG;
}

static int pools_init(struct okno_config *c)
{
    /* A connection per worker and per batch thread, so none waits for one (within the cap). */
    int batchers = (int)okno_config_get_int(c, "gateway.write_batchers");
    int workers = (int)okno_config_get_int(c, "gateway.workers") + batchers;
    if (workers > GW_POOL_MAX)
        workers = GW_POOL_MAX;
    okno_config_pg_params(c, pg_keywords, pg_values);
    const char *rc = okno_config_get_string(c, "gateway.read_conninfo");
    if (rc == NULL || rc[0] == '\0')
        snprintf(read_conninfo, sizeof(read_conninfo), "%s user=okno_gateway",
                 okno_config_get_string(c, "pg.conninfo"));
    else
        snprintf(read_conninfo, sizeof(read_conninfo), "%s", rc);
    read_values[0] = read_conninfo;
    gw_pool_init(&gw.pool, workers, pg_keywords, pg_values);
    gw.pool.on_connect = gw_app_on_connect;
    if (gw_dirwatch_start(&gw, pg_keywords, pg_values) != 0) {
        okno_log_error("cannot start the directory watcher thread");
        return OKNO_ENOMEM;
    }
    int err = gw_pool_init(&gw.read_pool, workers, read_keywords, read_values);
    if (err == 0 && gw_batches_start(&gw, batchers) != 0) {
        okno_log_error("cannot start the write batch threads");
        return OKNO_ENOMEM;
    }
    return err;
}

static int kafka_init(struct okno_config *c)
{
    char err[GW_ERROR_BYTES];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* A default that kafka.producer.linger.ms overrides: 5 ms carries about 1.4x the writes of
     * 1 ms for 4-5 ms more per write at low load (bench/README.md, gateway). */
    rd_kafka_conf_set(conf, "linger.ms", GW_LINGER_MS, err, sizeof(err));
    int rc = okno_config_kafka_apply(c, conf, OKNO_CONFIG_KAFKA_PRODUCER);
    if (rc != 0) {
        okno_log_error("bad kafka configuration", OKNO_LOG_STR("reason", okno_config_error(c)));
        rd_kafka_conf_destroy(conf);
        return OKNO_ECONFIG;
    }
    gw.topic_name = okno_config_get_string(c, "gateway.transitions_topic");
    rc = gw_producer_start(&gw, conf, err, sizeof(err));
    if (rc != 0 && gw.producer == NULL)
        rd_kafka_conf_destroy(conf);
    if (rc != 0)
        okno_log_error("cannot create the producer", OKNO_LOG_STR("reason", err));
    return rc;
}

static int gateway_init(void)
{
    struct okno_config *c = &svc.config;
    char err[GW_ERROR_BYTES];
    gw.fault_stop_file = okno_config_get_string(c, "gateway.fault_stop_before_answer");
    const char *ns = okno_config_get_string(c, "gateway.id_namespace");
    if (okno_uuid_parse(ns, strlen(ns), &gw.id_namespace) != 0) {
        okno_log_error("gateway.id_namespace is not a UUID", OKNO_LOG_STR("value", ns));
        return OKNO_ECONFIG;
    }
    if (okno_clock_from_config(c, &gw.services_clock, err, sizeof(err)) != OKNO_OK) {
        okno_log_error("bad clock configuration", OKNO_LOG_STR("reason", err));
        return OKNO_ECONFIG;
    }
    gw.auth.issuer = okno_config_get_string(c, "auth.issuer");
    gw.auth.audience = okno_config_get_string(c, "auth.audience");
    gw.auth.leeway_ms = okno_config_get_duration_ms(c, "auth.leeway");
    gw.wait_max_ms = okno_config_get_duration_ms(c, "gateway.wait_max");
    if (gw_auth_load(&gw.auth, okno_config_get_string(c, "auth.jwks_file"), err, sizeof(err))) {
        okno_log_error("bad auth.jwks_file", OKNO_LOG_STR("reason", err));
        return OKNO_ECONFIG;
    }
    okno_avro_error aerr = {0};
    if (okno_avro_init(&aerr) != 0) {
        okno_log_error("cannot load the Avro schemas", OKNO_LOG_STR("reason", aerr.reason));
        return OKNO_EINVAL;
    }
    int rc = gw_rc_init(&gw.rc, okno_config_get_bool(c, "gateway.read_cache"),
                        (size_t)okno_config_get_int(c, "gateway.read_cache_entries_max"),
                        (size_t)okno_config_get_int(c, "gateway.read_cache_bytes_max"));
    if (rc == 0)
        rc = gw_rc_metrics_init(&gw.rc, &svc.metrics);
    if (rc == 0)
        rc = gw_metrics_init(&gw, &svc.metrics);
    if (rc == 0)
        rc = http_init(c);
    if (rc == 0)
        rc = pools_init(c);
    return rc == 0 ? kafka_init(c) : rc;
}

static bool pg_reachable(void)
{
    if (check_conn == NULL || PQstatus(check_conn) != CONNECTION_OK) {
        PQfinish(check_conn);
        check_conn = PQconnectdbParams(pg_keywords, pg_values, 1);
    }
    PGresult *r = PQexec(check_conn, "select 1 from okno.gateway_requests limit 0");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        okno_log_debug("gateway: PostgreSQL check failed",
                       OKNO_LOG_STR("reason", PQerrorMessage(check_conn)));
    PQclear(r);
    return ok;
}

static void run(void)
{
    okno_log_info("gateway listening",
                  OKNO_LOG_STR("listen", okno_config_get_string(&svc.config, "gateway.listen")),
                  OKNO_LOG_INT("port", okno_http_port(&gw.http)));
    while (!okno_service_stopping(&svc)) {
        okno_service_heartbeat(&svc);
        bool pg = pg_reachable();
        bool kafka = gw_kafka_reachable(&gw, KAFKA_CHECK_MS);
        okno_service_set_ready(&svc, pg && kafka,
                               !pg ? "PostgreSQL is unreachable" : "Kafka is unreachable");
        okno_service_wait(&svc, CHECK_EVERY_MS);
    }
    okno_log_info("gateway stopping");
}

static void gateway_close(void)
{
    /* Deferred writes answer from their batch or the producer's delivery reports: the server
     * stops (waiting for them), the batches finish what is queued, the producer flushes (a late
     * report only frees its request), then the server goes. */
    okno_http_stop(&gw.http);
    gw_batches_stop(&gw);
    gw_producer_stop(&gw);
    gw_dirwatch_stop(&gw);
    okno_http_close(&gw.http);
    gw_pool_close(&gw.pool);
    gw_pool_close(&gw.read_pool);
    PQfinish(check_conn);
    gw_auth_close(&gw.auth);
    gw_rc_close(&gw.rc);
    okno_avro_close();
}

int main(int argc, char **argv)
{
    int rc = okno_service_init(&svc, &info, argc, argv);
    if (rc == OKNO_OK)
        rc = gateway_init();
    if (rc == OKNO_OK)
        rc = okno_service_start(&svc);
    if (rc == OKNO_OK) {
        okno_service_set_ready(&svc, false, "first check not done yet");
        rc = okno_http_start(&gw.http);
    }
    if (rc == OKNO_OK)
        run();
    gateway_close();
    okno_service_close(&svc);
    return okno_service_exit_code(rc);
}
