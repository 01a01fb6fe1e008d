/* Checkpoints anchored outside the database (issue 14): the relay signs every checkpoint and
 * publishes it to a checkpoints topic once from a reader's view, also after a crash between the
 * checkpoint's commit and its publication; `okno verify --anchors` reports altered, foreign and
 * malformed records on the topic; and an insider with the owner's rights who rewrites an old
 * event, its chain and the stored checkpoints passes `okno verify` but is named by
 * `okno verify --anchors`. Real Kafka and PostgreSQL; a database and topics of the test's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "loggen.h"
#include "okno/anchor.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "relay.h"
#include "rm_check.h"

#define LOG_EVENTS      200 /* at least; loggen appends whole batches */
#define CHECKPOINT_SIZE 20
#define RECORDS_MAX     256
#define OUTPUT_BYTES    16384
#define STEPS_MAX       50

typedef struct fixture {
    okno_itest_db db;
    char dir[64]; /* the keys */
    char key[128], pub[128], other[128], other_pub[128];
    char events[128], rejections[128], checkpoints[128]; /* topics */
    const char *pg_keywords[2];
    const char *pg_values[2];
    okno_anchor_key signer;
} fixture;

static fixture fx;

static void create_topic(char *name, size_t size, const char *prefix)
{
    okno_itest_unique(name, size, prefix);
    const char *names[1] = {name};
    int created, existing;
    char err[512];
    if (okno_kafka_create_topics(okno_itest_kafka_conf(), names, 1, 1, 1, 30000, &created,
                                 &existing, err, sizeof err) != 0)
        fail_msg("create topic %s: %s", name, err);
}

static void delete_topic(const char *topic)
{
    char err[512];
    if (topic[0] != '\0' &&
        okno_kafka_delete_topic(okno_itest_kafka_conf(), topic, 30000, err, sizeof err) != 0)
        print_message("%s\n", err);
}

static int bootstrap_only(rd_kafka_conf_t *conf, void *arg, char *err, size_t err_bytes)
{
    (void)arg;
    return rd_kafka_conf_set(conf, "bootstrap.servers", okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), err,
                             err_bytes) != RD_KAFKA_CONF_OK;
}

static void relay_open(okno_relay *r)
{
    okno_relay_config cfg;
    okno_relay_config_init(&cfg);
    cfg.pg_keywords = fx.pg_keywords;
    cfg.pg_values = fx.pg_values;
    cfg.kafka_conf = bootstrap_only;
    cfg.events_topic = fx.events;
    cfg.rejections_topic = fx.rejections;
    cfg.checkpoints_topic = fx.checkpoints;
    cfg.anchor_key = &fx.signer;
    cfg.batch_rows = 1000;
    cfg.checkpoint_events = CHECKPOINT_SIZE;
    if (okno_relay_init(r, &cfg) != 0)
        fail_msg("relay: %s", r->error);
}

/* Steps until a step publishes nothing new. */
static void relay_drain(okno_relay *r)
{
    uint64_t anchors = ~0ULL;
    for (int i = 0; i < STEPS_MAX && anchors != r->stats.anchors; i++) {
        anchors = r->stats.anchors;
        size_t n = 0;
        int rc = okno_relay_step(r, &n);
        if (rc != 0)
            fail_msg("relay step: %s: %s", okno_strerror(rc), r->error);
        if (n > 0)
            anchors = ~0ULL;
    }
}

/* The records of topic's partition 0, read to its end. */
typedef struct record {
    uint8_t value[OKNO_ANCHOR_RECORD_BYTES + 16];
    size_t len;
} record;

static int read_topic(const char *topic, record *out)
{
    char err[512];
    rd_kafka_conf_t *conf = okno_itest_kafka_conf();
    rd_kafka_conf_set(conf, "group.id", "okno-test-anchors", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    double start = okno_itest_now_ms();
    for (bool eof = false; !eof && okno_itest_now_ms() - start < 30000;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m == NULL)
            continue;
        eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (m->err == 0 && n < RECORDS_MAX && m->len <= sizeof out[n].value) {
            memcpy(out[n].value, m->payload, m->len);
            out[n++].len = m->len;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

static void produce(const char *topic, const record *recs, int n)
{
    char err[512];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, okno_itest_kafka_conf(), err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < n; i++)
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE((void *)recs[i].value, recs[i].len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    assert_int_equal(rd_kafka_flush(p, 30000), 0);
    rd_kafka_destroy(p);
}

/* Runs okno verify on the test's database with extra arguments; exit code, output in out. */
static int run_verify(const char *args, char *out, size_t size)
{
    char verify_args[2048];
    snprintf(verify_args, sizeof verify_args, "verify %s", args);
    return okno_itest_okno(verify_args, fx.db.app_conninfo, out, size);
}

/* okno verify --anchors against topic with the public key file pub. */
static int run_verify_anchors(const char *topic, const char *pub, char *out, size_t size)
{
    char args[1024];
    snprintf(args, sizeof args,
             "--anchors --anchor-key '%s' --bootstrap '%s' --checkpoints-topic '%s'"
             " --events-topic '%s'",
             pub, okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), topic, fx.events);
    return run_verify(args, out, size);
}

static long long query(const char *sql)
{
    PGconn *conn = okno_itest_connect(fx.db.admin_conninfo);
    long long v = okno_itest_query_ll(conn, sql);
    PQfinish(conn);
    return v;
}

/* A crash after a checkpoint's commit and before its publication: checkpoints written by the
 * relay's own code with no relay running. The next relay publishes them, and its own; a second
 * drain adds nothing; a relay that lost its cursor republishes the same bytes. */
static void every_checkpoint_is_published_signed_once_also_after_a_crash(void **state)
{
    (void)state;
    PGconn *conn = okno_itest_connect(fx.db.app_conninfo);
    int written = 0;
    char err[512];
    assert_int_equal(okno_eventlog_checkpoint(conn, CHECKPOINT_SIZE, 2, &written, err, sizeof err),
                     0);
    assert_int_equal(written, 2);
    okno_relay r;
    relay_open(&r);
    relay_drain(&r);
    long long stored = okno_itest_query_ll(conn, "select count(*) from okno.log_checkpoints");
    assert_true(stored >= LOG_EVENTS / CHECKPOINT_SIZE);
    assert_int_equal((long long)r.stats.anchors, stored);
    static record recs[RECORDS_MAX];
    int n = read_topic(fx.checkpoints, recs);
    assert_int_equal(n, stored);
    okno_anchor_key pub;
    assert_int_equal(okno_anchor_key_load(&pub, fx.pub, false, err, sizeof err), 0);
    for (int i = 0; i < n; i++) {
        okno_anchor a;
        assert_int_equal(okno_anchor_decode(recs[i].value, recs[i].len, &a), 0);
        assert_int_equal(a.checkpoint_no, i + 1); /* in order, none twice */
        assert_int_equal(okno_anchor_verify(&pub, &a), 0);
    }
    okno_anchor_key_close(&pub);
    relay_drain(&r);
    assert_int_equal(read_topic(fx.checkpoints, recs), stored);
    okno_relay_close(&r);

    /* A crash after the publication and before the cursor moved: published again, identical. */
    okno_itest_exec(conn,
                    "update okno.relay_cursors set position = 1 where stream = 'checkpoints'");
    relay_open(&r);
    relay_drain(&r);
    okno_relay_close(&r);
    assert_int_equal(read_topic(fx.checkpoints, recs), 2 * stored - 1);
    for (int i = stored; i < 2 * stored - 1; i++)
        assert_memory_equal(recs[i].value, recs[i - stored + 1].value, OKNO_ANCHOR_RECORD_BYTES);
    PQfinish(conn);
    char out[OUTPUT_BYTES];
    assert_int_equal(run_verify_anchors(fx.checkpoints, fx.pub, out, sizeof out), 0);
    assert_non_null(strstr(out, "okno verify: intact"));
    assert_non_null(strstr(out, "anchors: "));
    assert_null(strstr(out, "MISMATCH"));
}

/* A record with one changed byte, one signed by another key and one that is not a checkpoint,
 * beside a good one; then the real topic checked with the wrong public key. */
static void altered_or_foreign_signatures_on_the_topic_are_reported(void **state)
{
    (void)state;
    static record recs[RECORDS_MAX];
    assert_true(read_topic(fx.checkpoints, recs) >= 2);
    record bad[4];
    bad[0] = recs[0]; /* checkpoint 1, intact */
    bad[1] = recs[1];
    bad[1].value[50] ^= 0x01; /* checkpoint 2's digest, altered after signing */
    okno_anchor a;
    okno_anchor_key other;
    char err[512];
    assert_int_equal(okno_anchor_decode(recs[0].value, recs[0].len, &a), 0);
    assert_int_equal(okno_anchor_key_load(&other, fx.other, true, err, sizeof err), 0);
    a.checkpoint_no = 3;
    assert_int_equal(okno_anchor_sign(&other, &a, bad[2].value), 0);
    bad[2].len = OKNO_ANCHOR_RECORD_BYTES;
    okno_anchor_key_close(&other);
    memcpy(bad[3].value, "not a checkpoint", 16);
    bad[3].len = 16;
    char topic[128], out[OUTPUT_BYTES];
    create_topic(topic, sizeof topic, "okno.test.anchors.bad");
    produce(topic, bad, 4);
    assert_int_equal(run_verify_anchors(topic, fx.pub, out, sizeof out), 1);
    delete_topic(topic);
    char want[256];
    snprintf(want, sizeof want,
             "MISMATCH %s partition 0 offset 1: checkpoint 2: the signature does not verify",
             topic);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want,
             "MISMATCH %s partition 0 offset 2: checkpoint 3: signed by another key", topic);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "MISMATCH %s partition 0 offset 3: not a signed checkpoint", topic);
    assert_non_null(strstr(out, want));
    /* Only checkpoint 1 is taken as published, and it matches the database. */
    assert_non_null(strstr(out, "anchors: 1 signed checkpoints (4 records)"));
    assert_null(strstr(out, "MISMATCH checkpoint 1 "));

    /* The wrong public key: every record of the real topic is named. */
    assert_int_equal(run_verify_anchors(fx.checkpoints, fx.other_pub, out, sizeof out), 1);
    snprintf(want, sizeof want,
             "MISMATCH %s partition 0 offset 0: checkpoint 1: signed by another key",
             fx.checkpoints);
    assert_non_null(strstr(out, want));
}

/* The insider: the owner disables the append-only triggers, rewrites an old event's body,
 * re-chains its message and head, and recomputes every stored checkpoint with the relay's own
 * code. The database is consistent with itself: okno verify passes. The published checkpoints
 * are not: okno verify --anchors names the checkpoint and the event. */
static void insider_rewrite_passes_verify_but_anchors_name_the_checkpoint_and_event(void **state)
{
    (void)state;
    /* The 30th event in log order: inside checkpoint 2, long since published. */
    PGconn *admin = okno_itest_connect(fx.db.admin_conninfo);
    PGresult *res = PQexec(admin, "select message_id::text, seq from okno.event_log"
                                  " order by tx, position offset 29 limit 1");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    char id[37], seq[16], sql[2048];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    snprintf(seq, sizeof seq, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    okno_itest_exec(admin, "alter table okno.event_log disable trigger all");
    okno_itest_exec(admin, "alter table okno.log_checkpoints disable trigger all");
    snprintf(sql, sizeof sql,
             "do $$ declare r record; prev bytea; begin"
             " update okno.event_log set body = body || '\\x01'::bytea"
             "  where message_id = '%s' and seq = %s;"
             " for r in select seq from okno.event_log where message_id = '%s' and seq >= %s"
             "  order by seq loop"
             "  if prev is not null then update okno.event_log set prev_hash = prev"
             "   where message_id = '%s' and seq = r.seq; end if;"
             "  update okno.event_log set hash = sha256(prev_hash || body)"
             "   where message_id = '%s' and seq = r.seq returning hash into prev;"
             " end loop;"
             " update okno.stream_heads set hash = prev where message_id = '%s';"
             " end $$",
             id, seq, id, seq, id, id, id);
    okno_itest_exec(admin, sql);
    okno_itest_exec(admin, "delete from okno.log_checkpoints");
    int written = 0;
    char err[512];
    assert_int_equal(
        okno_eventlog_checkpoint(admin, CHECKPOINT_SIZE, 1000, &written, err, sizeof err), 0);
    assert_true(written >= LOG_EVENTS / CHECKPOINT_SIZE);
    okno_itest_exec(admin, "alter table okno.event_log enable trigger all");
    okno_itest_exec(admin, "alter table okno.log_checkpoints enable trigger all");
    PQfinish(admin);

    char out[OUTPUT_BYTES], want[256];
    /* okno verify alone cannot tell: the database agrees with itself. */
    assert_int_equal(run_verify("", out, sizeof out), 0);
    assert_null(strstr(out, "MISMATCH"));
    assert_int_equal(run_verify_anchors(fx.checkpoints, fx.pub, out, sizeof out), 1);
    assert_non_null(strstr(out, "MISMATCH checkpoint 2 (events 21..40 of the log"));
    assert_null(strstr(out, "MISMATCH checkpoint 1 ")); /* the first range that disagrees */
    assert_non_null(strstr(out, "MISMATCH stored checkpoint 2 differs from the published one"));
    snprintf(want, sizeof want, "MISMATCH checkpoint 2: first differing event: message %s seq %s",
             id, seq);
    assert_non_null(strstr(out, want));
    assert_true(query("select count(*) from okno.log_checkpoints") >= 2);
}

/* The same insider also moves the relay's checkpoint cursor back, so the relay signs the
 * recomputed checkpoints too: they land after the genuine ones, which still stand. */
static void insider_who_makes_the_relay_sign_again_is_still_caught(void **state)
{
    (void)state;
    PGconn *admin = okno_itest_connect(fx.db.admin_conninfo);
    okno_itest_exec(admin,
                    "update okno.relay_cursors set position = 0 where stream = 'checkpoints'");
    PQfinish(admin);
    okno_relay r;
    relay_open(&r);
    relay_drain(&r);
    okno_relay_close(&r);
    char out[OUTPUT_BYTES];
    assert_int_equal(run_verify_anchors(fx.checkpoints, fx.pub, out, sizeof out), 1);
    assert_non_null(strstr(out, ": checkpoint 2 signed again with other contents; the first one"
                                " stands"));
    assert_null(strstr(out, ": checkpoint 1 signed again")); /* its range was not rewritten */
    assert_non_null(strstr(out, "MISMATCH checkpoint 2 (events 21..40 of the log"));
}

/* Signing needs the private key: a relay given a public-only key refuses to start. */
static void relay_refuses_a_public_key_for_signing(void **state)
{
    (void)state;
    okno_anchor_key pub;
    char err[512];
    assert_int_equal(okno_anchor_key_load(&pub, fx.pub, false, err, sizeof err), 0);
    okno_relay r;
    okno_relay_config cfg;
    okno_relay_config_init(&cfg);
    cfg.pg_keywords = fx.pg_keywords;
    cfg.pg_values = fx.pg_values;
    cfg.kafka_conf = bootstrap_only;
    cfg.anchor_key = &pub;
    assert_int_equal(okno_relay_init(&r, &cfg), OKNO_ECONFIG);
    assert_non_null(strstr(r.error, "private key"));
    okno_relay_close(&r);
    okno_anchor_key_close(&pub);
}

static void key_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", fx.dir, name);
}

static int setup(void **state)
{
    (void)state;
    okno_itest_db_create(&fx.db, "okno_test_anchors");
    fx.pg_keywords[0] = "dbname"; /* a whole conninfo, expanded by libpq */
    fx.pg_values[0] = fx.db.app_conninfo;
    okno_rm_load_demo_directory(&fx.db, 2);
    okno_loggen_options o;
    okno_loggen_options_init(&o);
    o.conninfo = fx.db.admin_conninfo;
    o.events = LOG_EVENTS;
    o.batch_events = 16;
    okno_loggen_result r;
    if (okno_loggen_run(&o, &r) != 0)
        fail_msg("loggen: %s", r.error);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/okno-test-anchors-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    key_path(fx.key, sizeof fx.key, "a.pem");
    key_path(fx.pub, sizeof fx.pub, "a.pub.pem");
    key_path(fx.other, sizeof fx.other, "b.pem");
    key_path(fx.other_pub, sizeof fx.other_pub, "b.pub.pem");
    char err[512];
    assert_int_equal(okno_anchor_key_generate(fx.key, fx.pub, err, sizeof err), 0);
    assert_int_equal(okno_anchor_key_generate(fx.other, fx.other_pub, err, sizeof err), 0);
    assert_int_equal(okno_anchor_key_load(&fx.signer, fx.key, true, err, sizeof err), 0);
    create_topic(fx.events, sizeof fx.events, "okno.test.anchors.events");
    create_topic(fx.rejections, sizeof fx.rejections, "okno.test.anchors.rej");
    create_topic(fx.checkpoints, sizeof fx.checkpoints, "okno.test.anchors.checkpoints");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    okno_anchor_key_close(&fx.signer);
    delete_topic(fx.events);
    delete_topic(fx.rejections);
    delete_topic(fx.checkpoints);
    const char *files[4] = {fx.key, fx.pub, fx.other, fx.other_pub};
    for (int i = 0; i < 4; i++)
        unlink(files[i]);
    rmdir(fx.dir);
    okno_itest_db_drop(&fx.db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relay_refuses_a_public_key_for_signing),
        cmocka_unit_test(every_checkpoint_is_published_signed_once_also_after_a_crash),
        cmocka_unit_test(altered_or_foreign_signatures_on_the_topic_are_reported),
        cmocka_unit_test(insider_rewrite_passes_verify_but_anchors_name_the_checkpoint_and_event),
        cmocka_unit_test(insider_who_makes_the_relay_sign_again_is_still_caught),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
