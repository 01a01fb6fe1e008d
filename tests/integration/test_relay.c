/* The relay against the real PostgreSQL and Kafka: transactions that commit out of order are
 * published in (tx, position) order and never skipped; concurrent writers' events arrive
 * exactly once in per-message order; refusals reach the rejections topic; a relay killed with
 * SIGKILL and restarted loses nothing. Each test has its own topics and cursor prefix. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/kafka.h"
#include "relay.h"

#define RECORDS_MAX      8000  /* records one test may consume */
#define CONSUME_WAIT_MS  60000 /* longest wait for the expected records */
#define CONSUME_QUIET_MS 1500  /* after the expected count: wait this long for extras */
#define WRITERS          4     /* concurrent appenders */
#define WRITER_BATCHES   40
#define WRITER_MESSAGES  5 /* per writer; each batch appends one event to each */
#define KILL_MESSAGES    40
#define KILL_ROUNDS      60 /* before the kill; then KILL_MORE_ROUNDS more */
#define KILL_MORE_ROUNDS 20
#define RELAY_WAIT_MS    90000

static okno_itest_db *db;

typedef struct record {
    char key[37];
    char value[64];
    int seq;
    char label[64];
    int partition;
} record;

static record records[RECORDS_MAX];

static void create_topic(char *name, size_t size, const char *prefix, int partitions)
{
    char err[512];
    int created, existing;
    okno_itest_unique(name, size, prefix);
    const char *names[1] = {name};
    if (okno_kafka_create_topics(okno_itest_kafka_conf(), names, 1, partitions, 1, 30000, &created,
                                 &existing, err, sizeof err) != 0)
        fail_msg("create topic %s: %s", name, err);
}

static void delete_topic(const char *topic)
{
    char err[512];
    if (okno_kafka_delete_topic(okno_itest_kafka_conf(), topic, 30000, err, sizeof err) != 0)
        print_message("%s\n", err);
}

static void keep_record(const rd_kafka_message_t *m, record *r)
{
    *r = (record){.partition = m->partition};
    snprintf(r->key, sizeof r->key, "%.*s", (int)m->key_len, (const char *)m->key);
    snprintf(r->value, sizeof r->value, "%.*s", (int)m->len, (const char *)m->payload);
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t len;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    char seq[16];
    if (rd_kafka_header_get_last(h, "seq", &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(seq, sizeof seq, "%.*s", (int)len, (const char *)v); /* not NUL-terminated */
        r->seq = atoi(seq);
    }
    if (rd_kafka_header_get_last(h, "type", &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, "reason_code", &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(r->label, sizeof r->label, "%.*s", (int)len, (const char *)v);
}

/* Reads every partition of topic from the start: at least `expected` records, then whatever
 * else arrives within CONSUME_QUIET_MS. Returns the count, records in partition order. */
static int consume(const char *topic, int partitions, int expected)
{
    char err[512], group[128];
    okno_itest_unique(group, sizeof group, "okno-test-relay");
    rd_kafka_conf_t *conf = okno_itest_kafka_conf();
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    double start = okno_itest_now_ms(), last = start;
    while (okno_itest_now_ms() - start < CONSUME_WAIT_MS &&
           (n < expected || okno_itest_now_ms() - last < CONSUME_QUIET_MS)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && n < RECORDS_MAX) {
            keep_record(m, &records[n++]);
            last = okno_itest_now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

/* Starts prefix's relay cursors at the log's current end, so a test relays only its own rows
 * (nothing is uncommitted here, so nothing can land before the end later). */
static void cursors_at_end(const char *prefix)
{
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    char sql[512];
    static const char *const tables[2] = {"event_log", "refusals"};
    static const char *const streams[2] = {"events", "rejections"};
    for (int i = 0; i < 2; i++) {
        snprintf(sql, sizeof sql,
                 "insert into okno.relay_cursors (stream, tx, position) select '%s%s',"
                 " coalesce(max(tx), '0'), coalesce(max(position), 0) from (select tx, position"
                 " from okno.%s order by tx desc, position desc limit 1) t",
                 prefix, streams[i], tables[i]);
        okno_itest_exec(conn, sql);
    }
    PQfinish(conn);
}

static int bootstrap_only(rd_kafka_conf_t *conf, void *arg, char *err, size_t err_bytes)
{
    (void)arg;
    return rd_kafka_conf_set(conf, "bootstrap.servers", okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), err,
                             err_bytes) != RD_KAFKA_CONF_OK;
}

/* A test's relay with topics of its own. */
typedef struct fixture {
    char events[128];     /* events topic */
    char rejections[128]; /* rejections topic */
    char prefix[64];      /* cursor prefix */
    const char *pg_keywords[2];
    const char *pg_values[2];
    okno_relay relay; /* stepped in-process; unused by the SIGKILL test */
} fixture;

static void topics_create(fixture *f, const char *name, int partitions)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "okno.test.relay.%s", name);
    create_topic(f->events, sizeof f->events, prefix, partitions);
    snprintf(prefix, sizeof prefix, "okno.test.relay.%s.rej", name);
    create_topic(f->rejections, sizeof f->rejections, prefix, 1);
}

static void fixture_close(fixture *f)
{
    okno_relay_close(&f->relay);
    delete_topic(f->events);
    delete_topic(f->rejections);
}

static void relay_start(fixture *f, const char *name, int partitions)
{
    snprintf(f->prefix, sizeof f->prefix, "%s_", name);
    topics_create(f, name, partitions);
    okno_relay *r = &f->relay;
    okno_relay_config cfg;
    okno_relay_config_init(&cfg);
    f->pg_keywords[0] = "dbname"; /* a whole conninfo, expanded by libpq */
    f->pg_values[0] = db->app_conninfo;
    cfg.pg_keywords = f->pg_keywords;
    cfg.pg_values = f->pg_values;
    cfg.kafka_conf = bootstrap_only;
    cfg.events_topic = f->events;
    cfg.rejections_topic = f->rejections;
    cfg.cursor_prefix = f->prefix;
    cfg.batch_rows = 100;
    cfg.checkpoint_events = 0;
    cursors_at_end(f->prefix);
    if (okno_relay_init(r, &cfg) != 0)
        fail_msg("relay: %s", r->error);
}

static size_t step(okno_relay *r)
{
    size_t n = 0;
    int rc = okno_relay_step(r, &n);
    if (rc != 0)
        fail_msg("relay step: %s: %s", okno_strerror(rc), r->error);
    return n;
}

/* Inserts one event by hand in conn's open transaction; returns that transaction's id. */
static long long insert_raw(PGconn *conn, const char *message_id, const char *body)
{
    okno_itest_insert_event(conn, message_id, body, NULL, false);
    return okno_itest_query_ll(conn, "select pg_current_xact_id()::text::bigint");
}

/* Inserts, as the superuser (okno_app may not set tx), an event with the given tx. */
static void insert_with_tx(const char *message_id, const char *tx)
{
    char body[16];
    snprintf(body, sizeof body, "tx%s", tx);
    PGconn *admin = okno_itest_connect(db->admin_conninfo);
    okno_itest_insert_event(admin, message_id, body, tx, false);
    PQfinish(admin);
}

/* Transaction ids are compared as numbers: as text, "100" < "99". Runs first, so the two rows
 * are the only ones after the cursor. */
static void transaction_ids_are_ordered_as_numbers_not_text(void **state)
{
    (void)state;
    static fixture f;
    relay_start(&f, "numeric", 1);
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    okno_itest_exec(conn, "update okno.relay_cursors set tx = '98', position = 0"
                          " where stream = 'numeric_events'");
    PQfinish(conn);
    okno_relay_close(&f.relay); /* reload the cursor: re-init below */
    insert_with_tx("99000000-0000-0000-0000-000000000099", "99");
    insert_with_tx("10000000-0000-0000-0000-000000000100", "100");
    okno_relay_config cfg = f.relay.cfg;
    if (okno_relay_init(&f.relay, &cfg) != 0)
        fail_msg("relay: %s", f.relay.error);
    assert_int_equal(step(&f.relay), 2);
    assert_int_equal(consume(f.events, 1, 2), 2);
    assert_string_equal(records[0].value, "tx99");
    assert_string_equal(records[1].value, "tx100");
    fixture_close(&f);
}

/* DESIGN.md's ordering test: A inserts first and commits last; B commits in between. A reader
 * polling position > last would publish B and then skip A forever. */
static void late_commit_is_not_skipped_and_order_is_by_transaction(void **state)
{
    (void)state;
    static fixture f;
    relay_start(&f, "order", 1);
    PGconn *a = okno_itest_connect(db->app_conninfo), *b = okno_itest_connect(db->app_conninfo);
    okno_itest_exec(a, "begin");
    long long tx_a = insert_raw(a, "0a000000-0000-0000-0000-00000000000a", "A");
    okno_itest_exec(b, "begin");
    long long tx_b = insert_raw(b, "0b000000-0000-0000-0000-00000000000b", "B");
    okno_itest_exec(b, "commit");
    assert_true(tx_a < tx_b);
    assert_int_equal(step(&f.relay), 0); /* B is committed, but A's transaction holds the horizon */
    okno_itest_exec(a, "commit");
    assert_int_equal(step(&f.relay), 2);
    assert_int_equal(step(&f.relay), 0);
    assert_int_equal(consume(f.events, 1, 2), 2);
    assert_string_equal(records[0].value, "A");
    assert_string_equal(records[0].key, "0a000000-0000-0000-0000-00000000000a");
    assert_int_equal(records[0].seq, 1);
    assert_string_equal(records[0].label, "test_event");
    assert_string_equal(records[1].value, "B");
    PQfinish(a);
    PQfinish(b);
    fixture_close(&f);
}

static void refusals_are_published_to_the_rejections_topic(void **state)
{
    (void)state;
    static fixture f;
    relay_start(&f, "ev", 1);
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    okno_eventlog_request q = {.request_id = {{0xee, 1}}, .message_id = {{0xee, 2}}};
    okno_eventlog_refusal refusal = {.request_id = {{0xee, 1}},
                                     .message_id = {{0xee, 2}},
                                     .reason_code = "deadline_passed",
                                     .message = "too late",
                                     .source_topic = OKNO_TOPIC_TRANSITIONS,
                                     .body = (const uint8_t *)"rejection-record",
                                     .body_bytes = 16};
    okno_eventlog_known known[1];
    okno_eventlog_batch b = {
        .requests = &q, .request_count = 1, .refusals = &refusal, .refusal_count = 1};
    okno_eventlog_result res = {.known = known};
    assert_int_equal(okno_eventlog_append(conn, &b, &res, NULL, 0), 0);
    assert_int_equal(step(&f.relay), 1);
    assert_int_equal(consume(f.rejections, 1, 1), 1);
    assert_string_equal(records[0].value, "rejection-record");
    assert_string_equal(records[0].label, "deadline_passed");
    assert_string_equal(records[0].key, "ee020000-0000-0000-0000-000000000000");
    PQfinish(conn);
    fixture_close(&f);
}

typedef struct writer {
    int id;
    int failures;
} writer;

/* Appends WRITER_BATCHES batches, each one event to each of its WRITER_MESSAGES messages. */
static void *write_batches(void *arg)
{
    writer *w = arg;
    PGconn *conn = PQconnectdb(db->app_conninfo);
    okno_eventlog_head heads[WRITER_MESSAGES];
    okno_eventlog_event events[WRITER_MESSAGES];
    okno_eventlog_tip tips[WRITER_MESSAGES] = {0};
    char body[WRITER_MESSAGES][32];
    for (int batch = 0; batch < WRITER_BATCHES; batch++) {
        for (int m = 0; m < WRITER_MESSAGES; m++) {
            heads[m] = (okno_eventlog_head){.message_id = {{0xc0, (uint8_t)w->id, (uint8_t)m}},
                                            .prev_seq = tips[m].seq};
            memcpy(heads[m].prev_hash, tips[m].hash, OKNO_EVENTLOG_HASH_BYTES);
            snprintf(body[m], sizeof body[m], "w%d m%d s%d", w->id, m, tips[m].seq + 1);
            events[m] = (okno_eventlog_event){.message_id = {{0xc0, (uint8_t)w->id, (uint8_t)m}},
                                              .seq = tips[m].seq + 1,
                                              .event_type = "concurrent",
                                              .body = (const uint8_t *)body[m],
                                              .body_bytes = strlen(body[m])};
        }
        okno_eventlog_batch b = {.events = events,
                                 .event_count = WRITER_MESSAGES,
                                 .heads = heads,
                                 .head_count = WRITER_MESSAGES};
        okno_eventlog_result res = {.tips = tips};
        w->failures += okno_eventlog_append(conn, &b, &res, NULL, 0) != 0;
    }
    PQfinish(conn);
    return NULL;
}

/* Checks the consumed records of each message have seqs 1, 2, ... in order: the projector's
 * "apply only the next seq" rule then applies every event. Returns the duplicates it skipped;
 * fails on a gap. applied[] is indexed by the record's slot in keys[]. */
static int apply_in_order(int n, int messages, int events_each)
{
    static char keys[RECORDS_MAX][37];
    static int applied[RECORDS_MAX];
    int nkeys = 0, duplicates = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < nkeys && strcmp(keys[k], records[i].key) != 0)
            k++;
        if (k == nkeys) {
            memcpy(keys[nkeys], records[i].key, sizeof keys[nkeys]);
            applied[nkeys++] = 0;
        }
        if (records[i].seq == applied[k] + 1)
            applied[k]++;
        else if (records[i].seq <= applied[k])
            duplicates++;
        else
            fail_msg("message %s: seq %d arrived after %d (a gap)", records[i].key, records[i].seq,
                     applied[k]);
    }
    assert_int_equal(nkeys, messages);
    for (int k = 0; k < nkeys; k++)
        assert_int_equal(applied[k], events_each);
    return duplicates;
}

static void concurrent_appends_are_relayed_exactly_once_in_message_order(void **state)
{
    (void)state;
    static fixture f;
    relay_start(&f, "conc", 4);
    writer w[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.id = i};
        pthread_create(&th[i], NULL, write_batches, &w[i]);
    }
    const size_t total = WRITERS * WRITER_BATCHES * WRITER_MESSAGES;
    size_t published = 0;
    double start = okno_itest_now_ms();
    while (published < total && okno_itest_now_ms() - start < RELAY_WAIT_MS)
        published += step(&f.relay); /* steps race with the writers' commits */
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(published, total);
    assert_int_equal(step(&f.relay), 0);
    int n = consume(f.events, 4, (int)total);
    assert_int_equal(n, (int)total);
    assert_int_equal(apply_in_order(n, WRITERS * WRITER_MESSAGES, WRITER_BATCHES), 0);
    fixture_close(&f);
}

/* Appends `rounds` batches, one event to each of KILL_MESSAGES messages, continuing tips. */
static void append_rounds(PGconn *conn, okno_eventlog_tip *tips, int rounds)
{
    okno_eventlog_head heads[KILL_MESSAGES];
    okno_eventlog_event events[KILL_MESSAGES];
    for (int round = 0; round < rounds; round++) {
        for (int m = 0; m < KILL_MESSAGES; m++) {
            heads[m] =
                (okno_eventlog_head){.message_id = {{0xd0, (uint8_t)m}}, .prev_seq = tips[m].seq};
            memcpy(heads[m].prev_hash, tips[m].hash, OKNO_EVENTLOG_HASH_BYTES);
            events[m] = (okno_eventlog_event){.message_id = {{0xd0, (uint8_t)m}},
                                              .seq = tips[m].seq + 1,
                                              .event_type = "killed",
                                              .body = (const uint8_t *)"payload",
                                              .body_bytes = 7};
        }
        okno_eventlog_batch b = {.events = events,
                                 .event_count = KILL_MESSAGES,
                                 .heads = heads,
                                 .head_count = KILL_MESSAGES};
        okno_eventlog_result res = {.tips = tips};
        char err[OKNO_PG_ERRBUF_BYTES];
        if (okno_eventlog_append(conn, &b, &res, err, sizeof err) != 0)
            fail_msg("append: %s", err);
    }
}

static pid_t spawn_relay(const char *events, const char *rejections)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/services/relay/okno-relay", getenv("OKNO_BUILD_DIR"));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("OKNO_PG__CONNINFO", db->app_conninfo, 1);
        setenv("OKNO_KAFKA__BOOTSTRAP__SERVERS", okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), 1);
        setenv("OKNO_RELAY__EVENTS_TOPIC", events, 1);
        setenv("OKNO_RELAY__REJECTIONS_TOPIC", rejections, 1);
        setenv("OKNO_RELAY__CURSOR_PREFIX", "kill_", 1);
        setenv("OKNO_RELAY__BATCH_ROWS", "50", 1);
        setenv("OKNO_RELAY__CHECKPOINT_EVENTS", "400", 1);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static long long relayed_position(PGconn *conn)
{
    return okno_itest_query_ll(conn, "select coalesce(max(position), 0) from okno.relay_cursors"
                                     " where stream = 'kill_events'");
}

static void wait_for_position(PGconn *conn, long long position)
{
    double start = okno_itest_now_ms();
    while (relayed_position(conn) < position) {
        if (okno_itest_now_ms() - start > RELAY_WAIT_MS)
            fail_msg("the relay did not reach position %lld", position);
        usleep(10000);
    }
}

static void relay_killed_and_restarted_loses_nothing(void **state)
{
    (void)state;
    static fixture f; /* its relay runs as a process; f.relay stays unused but closable */
    topics_create(&f, "kill", 3);
    cursors_at_end("kill_");
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    long long start = relayed_position(conn);
    static okno_eventlog_tip tips[KILL_MESSAGES];
    append_rounds(conn, tips, KILL_ROUNDS);
    pid_t pid = spawn_relay(f.events, f.rejections);
    wait_for_position(conn, start + 1); /* it has published and stored a cursor: mid-way */
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    long long at_kill = relayed_position(conn);
    append_rounds(conn, tips, KILL_MORE_ROUNDS);
    pid = spawn_relay(f.events, f.rejections);
    wait_for_position(conn, okno_itest_query_ll(conn, "select max(position) from"
                                                      " okno.event_log"));
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const int total = KILL_MESSAGES * (KILL_ROUNDS + KILL_MORE_ROUNDS);
    int n = consume(f.events, 3, total);
    int duplicates = apply_in_order(n, KILL_MESSAGES, KILL_ROUNDS + KILL_MORE_ROUNDS);
    print_message("killed at cursor position %lld of %lld..%lld; %d records, %d re-sent\n", at_kill,
                  start, start + total, n, duplicates);
    assert_int_equal(n, total + duplicates);
    /* On the way it wrote the global checkpoints: every full 400 of the whole log. */
    assert_int_equal(okno_itest_query_ll(conn, "select max(total_events) from"
                                               " okno.log_checkpoints"),
                     okno_itest_query_ll(conn, "select count(*) / 400 * 400 from okno.event_log"));
    PQfinish(conn);
    fixture_close(&f);
}

OKNO_ITEST_DB_SETUP(db_setup, db)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transaction_ids_are_ordered_as_numbers_not_text),
        cmocka_unit_test(late_commit_is_not_skipped_and_order_is_by_transaction),
        cmocka_unit_test(refusals_are_published_to_the_rejections_topic),
        cmocka_unit_test(concurrent_appends_are_relayed_exactly_once_in_message_order),
        cmocka_unit_test(relay_killed_and_restarted_loses_nothing),
    };
    return cmocka_run_group_tests(tests, db_setup, okno_itest_db_teardown);
}
