/* The projector against real PostgreSQL and Kafka: a live run through ledger, relay and
 * projector equals a replay (also after a replay is swapped in under the running projector);
 * SIGKILLs of the projector during a 100,000-event run change nothing; the log's order is by
 * transaction id, not its text. Each test has a scratch database of its own. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "itest.h"
#include "loggen.h"
#include "okno/avro.h"
#include "okno/kafka.h"
#include "okno/replay.h"
#include "projector.h"
#include "rm_check.h"

/* Bounded waits, in milliseconds. */
#define CATCH_UP_MS   120000
#define POLL_MS       100
#define KILL_EVENTS   100000
#define KILLS_MIN     6
#define LIVE_MESSAGES 1500

static okno_itest_db db_store;
static okno_itest_db *db = &db_store;

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, ms % 1000 * 1000000L}, NULL);
}

static long long applied(PGconn *conn, const char *schema)
{
    char sql[128];
    snprintf(sql, sizeof sql, "select events_applied from %s.meta", schema);
    return okno_itest_query_ll(conn, sql);
}

static void wait_applied(PGconn *conn, const char *schema, long long events)
{
    double start = okno_itest_now_ms();
    while (applied(conn, schema) < events) {
        if (okno_itest_now_ms() - start > CATCH_UP_MS)
            fail_msg("%s did not reach %lld events (at %lld)", schema, events,
                     applied(conn, schema));
        sleep_ms(POLL_MS);
    }
}

static void replay_into(const char *schema)
{
    okno_replay_options o;
    okno_replay_options_init(&o);
    o.conninfo = db->admin_conninfo;
    o.schema = schema;
    okno_replay_result r;
    if (okno_replay_run(&o, &r) != 0)
        fail_msg("replay into %s: %s", schema, r.error);
    print_message("replayed %llu events of %llu messages into %s in %.2f s\n",
                  (unsigned long long)r.events, (unsigned long long)r.messages, schema, r.seconds);
}

static void create_schema(PGconn *admin, const char *schema)
{
    char sql[256];
    snprintf(sql, sizeof sql, "select okno.rm_create('%1$s'), okno.rm_index('%1$s')", schema);
    PQclear(PQexec(admin, sql));
}

/* An uninterrupted projector, in-process, into schema, until it has nothing left. */
static void project_all(const char *schema, int batch_events)
{
    const char *keys[] = {"dbname", NULL}, *values[] = {db->app_conninfo, NULL};
    okno_projector_config cfg;
    okno_projector_config_init(&cfg);
    cfg.pg_keywords = keys;
    cfg.pg_values = values;
    cfg.schema = schema;
    cfg.batch_events = batch_events;
    okno_projector p;
    if (okno_projector_init(&p, &cfg) != 0)
        fail_msg("projector: %s", p.error);
    size_t n;
    do {
        if (okno_projector_step(&p, &n) != 0)
            fail_msg("projector step: %s", p.error);
    } while (n > 0);
    okno_projector_close(&p);
}

/* ---- the live run ---------------------------------------------------------------------------- */

typedef struct topics {
    char transitions[96], sla[96], events[96], rejections[96], group[96];
} topics;

static void topics_create(topics *t)
{
    okno_itest_unique(t->transitions, sizeof t->transitions, "okno.test.proj.transitions");
    okno_itest_unique(t->sla, sizeof t->sla, "okno.test.proj.sla");
    okno_itest_unique(t->events, sizeof t->events, "okno.test.proj.events");
    okno_itest_unique(t->rejections, sizeof t->rejections, "okno.test.proj.rejections");
    okno_itest_unique(t->group, sizeof t->group, "okno-test-proj");
    const char *names[] = {t->transitions, t->sla, t->events, t->rejections};
    char err[512];
    int created, existing;
    if (okno_kafka_create_topics(okno_itest_kafka_conf(), names, 4, 4, 1, 30000, &created,
                                 &existing, err, sizeof err) != 0)
        fail_msg("create topics: %s", err);
}

static void topics_delete(const topics *t)
{
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, okno_itest_kafka_conf(), err, sizeof err);
    const char *names[] = {t->transitions, t->sla, t->events, t->rejections};
    rd_kafka_DeleteTopic_t *del[4];
    for (int i = 0; i < 4; i++)
        del[i] = rd_kafka_DeleteTopic_new(names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, 4, NULL, q);
    rd_kafka_event_destroy(rd_kafka_queue_poll(q, 30000));
    rd_kafka_DeleteTopic_destroy_array(del, 4);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static pid_t spawn_service(const char *name, const topics *t)
{
    char path[64];
    snprintf(path, sizeof path, "services/%s/okno-%s", name, name);
    const char *common[] = {
        okno_rm_env("OKNO_PG__CONNINFO=%s", db->app_conninfo),
        okno_rm_env("OKNO_KAFKA__BOOTSTRAP__SERVERS=%s", okno_itest_env("OKNO_KAFKA_BOOTSTRAP")),
        "OKNO_ADMIN__LISTEN=127.0.0.1:0"};
    /* Only each service's own keys: the relay's stopgap settings refuse any other section. */
    const char *own[5] = {NULL};
    if (strcmp(name, "ledger") == 0) {
        own[0] = okno_rm_env("OKNO_LEDGER__TRANSITIONS_TOPIC=%s", t->transitions);
        own[1] = okno_rm_env("OKNO_LEDGER__SLA_TOPIC=%s", t->sla);
        own[2] = okno_rm_env("OKNO_LEDGER__GROUP_ID=%s", t->group);
        own[3] = "OKNO_LOG__LEVEL=warn";
    } else if (strcmp(name, "relay") == 0) {
        own[0] = okno_rm_env("OKNO_RELAY__EVENTS_TOPIC=%s", t->events);
        own[1] = okno_rm_env("OKNO_RELAY__REJECTIONS_TOPIC=%s", t->rejections);
    } else {
        own[0] = "OKNO_LOG__LEVEL=warn";
    }
    const char *e[] = {common[0], common[1], common[2], own[0], own[1], own[2], own[3], NULL};
    return okno_rm_spawn(path, e);
}

/* Runs okno load; returns the events the ledger must append. */
static long long load(const topics *t, int messages, int seed)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s/tools/okno/okno' load --messages %d --seed %d --topic '%s' --bootstrap '%s'"
             " --pg '%s'",
             getenv("OKNO_BUILD_DIR"), messages, seed, t->transitions,
             okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), db->app_conninfo);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[1024] = "", last[1024] = "";
    while (fgets(line, sizeof line, f) != NULL)
        snprintf(last, sizeof last, "%s", line);
    assert_int_equal(pclose(f), 0);
    const char *p = strstr(last, "\"expected_events\":");
    assert_non_null(p);
    return atoll(p + strlen("\"expected_events\":"));
}

static void wait_logged(PGconn *conn, long long events)
{
    double start = okno_itest_now_ms();
    while (okno_itest_query_ll(conn, "select count(*) from okno.event_log") < events) {
        if (okno_itest_now_ms() - start > CATCH_UP_MS)
            fail_msg("the ledger did not append %lld events", events);
        sleep_ms(POLL_MS);
    }
}

static void live_run_through_ledger_and_relay_equals_replay(void **state)
{
    (void)state;
    okno_rm_load_demo_directory(db, 10);
    topics t;
    topics_create(&t);
    pid_t ledger = spawn_service("ledger", &t), relay = spawn_service("relay", &t),
          projector = spawn_service("projector", &t);
    PGconn *conn = okno_itest_connect(db->admin_conninfo);
    long long events = load(&t, LIVE_MESSAGES, 11);
    wait_logged(conn, events);
    wait_applied(conn, "okno_rm", events);
    replay_into("okno_rm_check");
    okno_rm_assert_equal(conn, "okno_rm", "okno_rm_check");

    /* A replay swapped in under the running projector: it continues from the new schema's
     * cursor, and more traffic still gives what a replay gives. */
    replay_into("okno_rm");
    events += load(&t, LIVE_MESSAGES / 3, 12);
    wait_logged(conn, events);
    wait_applied(conn, "okno_rm", events);
    replay_into("okno_rm_check");
    okno_rm_assert_equal(conn, "okno_rm", "okno_rm_check");

    assert_int_equal(WEXITSTATUS(okno_rm_stop(projector, false)), 0);
    okno_rm_stop(relay, false);
    okno_rm_stop(ledger, false);
    PQfinish(conn);
    topics_delete(&t);
}

/* ---- SIGKILL -----------------------------------------------------------------------------------
 */

static pid_t spawn_projector(void)
{
    const char *e[] = {okno_rm_env("OKNO_PG__CONNINFO=%s", db->app_conninfo),
                       "OKNO_ADMIN__LISTEN=127.0.0.1:0",
                       "OKNO_LOG__LEVEL=error",
                       "OKNO_PROJECTOR__BATCH_EVENTS=700",
                       "OKNO_PROJECTOR__IDLE_POLL=5ms",
                       "OKNO_PROJECTOR__RETRY_BACKOFF=10ms",
                       NULL};
    return okno_rm_spawn("services/projector/okno-projector", e);
}

static void killed_projector_gives_what_an_uninterrupted_run_gives(void **state)
{
    (void)state;
    okno_rm_load_demo_directory(db, 10);
    okno_loggen_job job;
    okno_loggen_options_init(&job.o);
    job.o.conninfo = db->admin_conninfo;
    job.o.events = KILL_EVENTS;
    job.o.seed = 21;
    job.o.batch_events = 1000;
    job.o.pause_ms = 20; /* a run of several seconds, so the kills land while it is written */
    assert_int_equal(okno_loggen_start(&job), 0);
    PGconn *conn = okno_itest_connect(db->admin_conninfo);
    unsigned seed = (unsigned)time(NULL);
    print_message("kill intervals seeded with %u\n", seed);
    int kills = 0;
    pid_t p = spawn_projector();
    while (!job.done || kills < KILLS_MIN) {
        sleep_ms(150 + rand_r(&seed) % 400);
        okno_rm_stop(p, true);
        kills++;
        p = spawn_projector();
    }
    if (okno_loggen_join(&job) != 0)
        fail_msg("loggen: %s", job.r.error);
    print_message("%d SIGKILLs while %lld events were appended (%lld messages, %lld signals)\n",
                  kills, (long long)job.r.events, (long long)job.r.messages,
                  (long long)job.r.signals);
    wait_applied(conn, "okno_rm", job.r.events);
    assert_int_equal(WEXITSTATUS(okno_rm_stop(p, false)), 0);
    assert_int_equal(applied(conn, "okno_rm"), job.r.events); /* each event applied once */

    create_schema(conn, "okno_rm_ref");
    project_all("okno_rm_ref", 5000);
    okno_rm_assert_equal(conn, "okno_rm", "okno_rm_ref");
    replay_into("okno_rm_check");
    okno_rm_assert_equal(conn, "okno_rm", "okno_rm_check");
    PQfinish(conn);
}

/* ---- order by transaction id ----------------------------------------------------------------- */

/* xids are cluster-wide; burning them to the next power of ten (about 65,000 a second) is cheap
 * only when it is near. OKNO_TEST_XID_BURN_MAX raises the limit for a deliberate run. */
#define BURN_MAX 1000000

static void log_order_is_by_transaction_id_not_its_text(void **state)
{
    (void)state;
    okno_rm_load_demo_directory(db, 3);
    PGconn *conn = okno_itest_connect(db->admin_conninfo);
    long long xid = okno_itest_query_ll(conn, "select pg_current_xact_id()::text::bigint");
    long long boundary = 10;
    while (boundary <= xid + 20)
        boundary *= 10;
    const char *burn_max = getenv("OKNO_TEST_XID_BURN_MAX");
    if (boundary - xid > (burn_max ? atoll(burn_max) : BURN_MAX)) {
        print_message("skipped: xid %lld is %lld from %lld\n", xid, boundary - xid, boundary);
        PQfinish(conn);
        return;
    }
    char sql[256];
    snprintf(sql, sizeof sql,
             "do $$ begin for i in 1..%lld loop perform pg_current_xact_id(); commit; end loop;"
             " end $$",
             boundary - xid - 20);
    okno_itest_exec(conn, "set synchronous_commit = off");
    okno_itest_exec(conn, sql);
    /* About 100 appends of two or three events: their transaction ids go from N digits to N + 1. */
    okno_loggen_options o;
    okno_loggen_options_init(&o);
    o.conninfo = db->admin_conninfo;
    o.events = 200;
    o.batch_events = 16;
    okno_loggen_result r;
    if (okno_loggen_run(&o, &r) != 0)
        fail_msg("loggen: %s", r.error);
    assert_true(okno_itest_query_ll(conn, "select max(tx)::text::bigint from okno.event_log") >=
                boundary);
    project_all("okno_rm", 7);
    assert_int_equal(applied(conn, "okno_rm"), r.events);
    replay_into("okno_rm_check");
    okno_rm_assert_equal(conn, "okno_rm", "okno_rm_check");
    PQfinish(conn);
}

/* okno replay says where its time went (okno/replay.h's phases: each a part of the whole), and
 * the statistics it loads while the other tables' indexes are built get their key and equal a
 * projector's. */
static void replay_reports_where_its_time_went(void **state)
{
    (void)state;
    okno_rm_load_demo_directory(db, 3);
    okno_loggen_options lo;
    okno_loggen_options_init(&lo);
    lo.conninfo = db->admin_conninfo;
    lo.events = 20000;
    okno_loggen_result lr;
    if (okno_loggen_run(&lo, &lr) != 0)
        fail_msg("loggen: %s", lr.error);
    okno_replay_options o;
    okno_replay_options_init(&o);
    o.conninfo = db->admin_conninfo;
    o.schema = "okno_rm_check";
    okno_replay_result r;
    if (okno_replay_run(&o, &r) != 0)
        fail_msg("replay: %s", r.error);
    const okno_replay_phases *p = &r.phases;
    assert_int_equal(r.events, lr.events);
    assert_true(p->decode > 0 && p->fold > 0 && p->encode > 0 && p->copy > 0 && p->cpu > 0);
    assert_true(p->stats > 0 && p->secure > 0 && p->rename > 0);
    /* With two workers the workers' phases add up to at most twice the read phase. */
    assert_true(p->read + p->decode + p->fold + p->encode + p->copy <= 2 * r.seconds_read + 0.01);
    /* The phases are timed in nanoseconds, the whole in milliseconds: a millisecond each way. */
    assert_true(p->stats <= r.seconds_index + 0.002);
    assert_true(p->secure + p->rename + p->drop <= r.seconds_swap + 0.002);
    assert_int_equal(p->indexes, 8);
    bool stats_key = false;
    for (int i = 0; i < p->indexes; i++) {
        assert_true(p->index[i] > 0 && p->index[i] <= r.seconds_index + 0.002);
        stats_key |= strncmp(p->index_name[i], "stats_daily(day, org_id", 23) == 0;
    }
    assert_true(stats_key);
    PGconn *conn = okno_itest_connect(db->admin_conninfo);
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from pg_constraint where"
                                               " conrelid = 'okno_rm_check.stats_daily'::regclass"
                                               " and contype = 'p'"),
                     1);
    project_all("okno_rm", 1000);
    okno_rm_assert_equal(conn, "okno_rm", "okno_rm_check");
    PQfinish(conn);
}

static int setup(void **state)
{
    (void)state;
    okno_itest_db_create(db, "okno_proj");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    okno_avro_close(); /* this thread's decoders, from in-process projectors and replays */
    okno_itest_db_drop(db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(log_order_is_by_transaction_id_not_its_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(replay_reports_where_its_time_went, setup, teardown),
        cmocka_unit_test_setup_teardown(live_run_through_ledger_and_relay_equals_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(killed_projector_gives_what_an_uninterrupted_run_gives,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
