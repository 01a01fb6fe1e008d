/* bench_eventlog: ledger-shaped batches appended to the event log per second, and the relay's
 * records to Kafka per second, on the local cluster (a database and a topic of its own, dropped
 * afterwards). Needs OKNO_PG_ADMIN_CONNINFO and OKNO_KAFKA_BOOTSTRAP (bench/eventlog.sh reads
 * them from .work/cluster.env). The last line printed is one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/kafka.h"
#include "okno/pg.h"
#include "relay.h"

#define BATCH_EVENTS  2000 /* like a full ledger batch: one event for each of 2000 messages */
#define BODY_BYTES    400  /* a typical encoded event */
#define ROUNDS        25   /* batches appended; --quick: QUICK_ROUNDS */
#define QUICK_ROUNDS  5
#define PARTITIONS    8
#define RELAY_WAIT_MS 120000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *env_or_die(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        fprintf(stderr, "bench_eventlog: %s is not set (run bench/run eventlog)\n", name);
        exit(2);
    }
    return v;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_eventlog: %s: %s\n", what, why);
    exit(1);
}

static PGconn *connect_to(const char *conninfo)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (okno_pg_connect(conninfo, &conn, err, sizeof err) != 0)
        die("connect", err);
    return conn;
}

static void exec_sql(PGconn *conn, const char *sql)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    if (okno_pg_exec(conn, sql, err, sizeof err) != 0)
        die(sql, err);
}

/* The whole workload's arrays, reused batch after batch. */
typedef struct workload {
    okno_eventlog_event events[BATCH_EVENTS];
    okno_eventlog_head heads[BATCH_EVENTS];
    okno_eventlog_request requests[BATCH_EVENTS];
    okno_eventlog_tip tips[BATCH_EVENTS];
    okno_eventlog_known known[BATCH_EVENTS];
    okno_eventlog_offset offset;
    uint8_t body[BODY_BYTES];
} workload;

static void fill_batch(workload *w, int round)
{
    for (uint32_t m = 0; m < BATCH_EVENTS; m++) {
        okno_eventlog_head *h = &w->heads[m];
        *h = (okno_eventlog_head){.prev_seq = round,
                                  .kafka_partition = (int32_t)(m % 8),
                                  .state = w->body,
                                  .state_bytes = 64};
        memcpy(h->message_id.bytes, &m, sizeof m);
        memcpy(h->prev_hash, w->tips[m].hash, OKNO_EVENTLOG_HASH_BYTES);
        uint32_t request = (uint32_t)round * BATCH_EVENTS + m;
        okno_eventlog_event *e = &w->events[m];
        *e = (okno_eventlog_event){.seq = round + 1,
                                   .event_type = "stage_entered",
                                   .occurred_at_ms = 1700000000000,
                                   .actor_user = 1,
                                   .org = 2,
                                   .body = w->body,
                                   .body_bytes = BODY_BYTES};
        memcpy(e->message_id.bytes, &m, sizeof m);
        memcpy(e->request_id.bytes, &request, sizeof request);
        w->requests[m] = (okno_eventlog_request){.accepted = true, .events = 1};
        memcpy(w->requests[m].request_id.bytes, &request, sizeof request);
        memcpy(w->requests[m].message_id.bytes, &m, sizeof m);
    }
    w->offset = (okno_eventlog_offset){"bench", "bench", 0, round == 0 ? -1 : round * 100,
                                       (round + 1) * 100};
}

/* Appends `rounds` batches; returns the total milliseconds, the slowest batch in *max_ms. */
static double append_all(PGconn *conn, workload *w, int rounds, double *max_ms)
{
    double total = 0;
    *max_ms = 0;
    for (int round = 0; round < rounds; round++) {
        fill_batch(w, round);
        okno_eventlog_batch b = {w->events,
                                 BATCH_EVENTS,
                                 w->heads,
                                 BATCH_EVENTS,
                                 w->requests,
                                 BATCH_EVENTS,
                                 NULL,
                                 0,
                                 &w->offset,
                                 1,
                                 0};
        okno_eventlog_result r = {.tips = w->tips, .known = w->known};
        double t0 = now_ms();
        char err[OKNO_PG_ERRBUF_BYTES];
        if (okno_eventlog_append(conn, &b, &r, err, sizeof err) != 0)
            die("append", err);
        double ms = now_ms() - t0;
        total += ms;
        *max_ms = ms > *max_ms ? ms : *max_ms;
    }
    return total;
}

static int bootstrap(rd_kafka_conf_t *conf, void *arg, char *err, size_t err_bytes)
{
    return rd_kafka_conf_set(conf, "bootstrap.servers", arg, err, err_bytes) != RD_KAFKA_CONF_OK;
}

static okno_relay relay;

/* Starts the relay and steps it once over the empty log, so the measured part excludes
 * connecting and the idempotent producer's start. */
static void relay_open(const char *conninfo, const char *topic)
{
    static const char *keys[2] = {"dbname", NULL}, *values[2];
    values[0] = conninfo;
    okno_relay_config cfg;
    okno_relay_config_init(&cfg);
    cfg.pg_keywords = keys;
    cfg.pg_values = values;
    cfg.kafka_conf = bootstrap;
    cfg.kafka_conf_arg = (void *)env_or_die("OKNO_KAFKA_BOOTSTRAP");
    cfg.events_topic = topic;
    cfg.rejections_topic = topic;
    size_t n;
    if (okno_relay_init(&relay, &cfg) != 0 || okno_relay_step(&relay, &n) != 0)
        die("relay", relay.error);
}

/* Relays everything appended since relay_open; returns the milliseconds it took. */
static double relay_all(size_t total)
{
    size_t published = 0, n;
    double t0 = now_ms();
    while (published < total && now_ms() - t0 < RELAY_WAIT_MS) {
        if (okno_relay_step(&relay, &n) != 0)
            die("relay step", relay.error);
        published += n;
    }
    double ms = now_ms() - t0;
    okno_relay_close(&relay);
    if (published < total)
        die("relay", "did not publish everything in time");
    return ms;
}

static void topic_create(char *topic, size_t size)
{
    char err[512];
    int created, existing;
    snprintf(topic, size, "okno.bench.events.%ld", (long)getpid());
    const char *names[1] = {topic};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bootstrap(conf, (void *)env_or_die("OKNO_KAFKA_BOOTSTRAP"), err, sizeof err);
    if (okno_kafka_create_topics(conf, names, 1, PARTITIONS, 1, 30000, &created, &existing, err,
                                 sizeof err) != 0)
        die("create topic", err);
}

static void topic_delete(const char *topic)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bootstrap(conf, (void *)env_or_die("OKNO_KAFKA_BOOTSTRAP"), err, sizeof err);
    if (okno_kafka_delete_topic(conf, topic, 30000, err, sizeof err) != 0)
        fprintf(stderr, "bench_eventlog: %s\n", err);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 && strcmp(argv[1], "--quick") == 0 ? QUICK_ROUNDS : ROUNDS;
    const char *admin_conninfo = env_or_die("OKNO_PG_ADMIN_CONNINFO");
    char db[64], sql[128], conninfo[1024], err[OKNO_PG_ERRBUF_BYTES], topic[128];
    snprintf(db, sizeof db, "okno_bench_%ld", (long)getpid());
    snprintf(conninfo, sizeof conninfo, "%s dbname=%s", admin_conninfo, db);
    PGconn *admin = connect_to(admin_conninfo);
    snprintf(sql, sizeof sql, "create database %s", db);
    exec_sql(admin, sql);
    PGconn *conn = connect_to(conninfo);
    okno_pg_migrate_stats st;
    if (okno_pg_migrate(conn, OKNO_MIGRATIONS_DIR, &st, err, sizeof err) != 0)
        die("migrate", err);
    topic_create(topic, sizeof topic);
    relay_open(conninfo, topic);
    static workload w;
    double max_ms, append_ms = append_all(conn, &w, rounds, &max_ms);
    size_t total = (size_t)rounds * BATCH_EVENTS;
    double relay_ms = relay_all(total);
    topic_delete(topic);
    PQfinish(conn);
    snprintf(sql, sizeof sql, "drop database %s with (force)", db);
    exec_sql(admin, sql);
    PQfinish(admin);
    printf("append: %zu events in %d batches of %d (%d-byte bodies, with heads, request ids and"
           " an offset): %.0f events/s, %.1f ms a batch on average, %.1f ms the slowest\n",
           total, rounds, BATCH_EVENTS, BODY_BYTES, total / append_ms * 1e3, append_ms / rounds,
           max_ms);
    printf("relay: %zu records to %d partitions in %.0f ms: %.0f records/s\n", total, PARTITIONS,
           relay_ms, total / relay_ms * 1e3);
    printf("{\"bench\":\"eventlog\",\"events\":%zu,\"append_events_per_s\":%.0f,"
           "\"append_batch_ms_avg\":%.1f,\"append_batch_ms_max\":%.1f,"
           "\"relay_records_per_s\":%.0f}\n",
           total, total / append_ms * 1e3, append_ms / rounds, max_ms, total / relay_ms * 1e3);
    return 0;
}
