/* `okno verify` (the built CLI) against a database of its own: intact logs pass with counts;
 * a row changed behind the triggers' back, by a superuser, is named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "okno/eventlog.h"

#define MESSAGES        5
#define EVENTS_EACH     5
#define CHECKPOINT_SIZE 10
#define OUTPUT_BYTES    8192

/* The test file's own database (okno_itest_db_setup). */
static okno_itest_db *db;
static uint8_t message_ids[MESSAGES][OKNO_EVENTLOG_ID_BYTES];

/* Appends EVENTS_EACH events to each of MESSAGES messages, one batch a seq. */
static void fill_log(PGconn *conn)
{
    okno_eventlog_head heads[MESSAGES];
    okno_eventlog_event events[MESSAGES];
    okno_eventlog_tip tips[MESSAGES] = {0};
    char bodies[MESSAGES][32];
    for (int seq = 1; seq <= EVENTS_EACH; seq++) {
        for (int m = 0; m < MESSAGES; m++) {
            message_ids[m][0] = 0xa0;
            message_ids[m][15] = (uint8_t)m;
            heads[m] = (okno_eventlog_head){.prev_seq = tips[m].seq, .kafka_partition = m};
            memcpy(heads[m].message_id.bytes, message_ids[m], OKNO_EVENTLOG_ID_BYTES);
            memcpy(heads[m].prev_hash, tips[m].hash, OKNO_EVENTLOG_HASH_BYTES);
            snprintf(bodies[m], sizeof bodies[m], "body %d/%d", m, seq);
            events[m] = (okno_eventlog_event){.seq = seq,
                                              .event_type = "t",
                                              .body = (const uint8_t *)bodies[m],
                                              .body_bytes = strlen(bodies[m])};
            memcpy(events[m].message_id.bytes, message_ids[m], OKNO_EVENTLOG_ID_BYTES);
        }
        okno_eventlog_batch b = {
            .events = events, .event_count = MESSAGES, .heads = heads, .head_count = MESSAGES};
        okno_eventlog_result r = {.tips = tips};
        char err[OKNO_PG_ERRBUF_BYTES];
        if (okno_eventlog_append(conn, &b, &r, err, sizeof err) != 0)
            fail_msg("append: %s", err);
    }
}

/* Runs `okno verify` on the test's database; returns its exit code, output in out. */
static int run_verify(char *out, size_t size)
{
    return okno_itest_okno("verify", db->app_conninfo, out, size);
}

/* As the superuser with triggers off (session_replication_role = replica): the attack. */
static void tamper(const char *sql)
{
    okno_itest_tamper(db->admin_conninfo, sql);
}

static void intact_log_verifies_with_counts(void **state)
{
    (void)state;
    char out[OUTPUT_BYTES];
    assert_int_equal(run_verify(out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 27 events in 7 messages, 7 stream heads, 2 checkpoints"
                                " covering 20 events (7 after the last)"));
}

static void changed_body_is_named_by_message_seq_and_position(void **state)
{
    (void)state;
    char out[OUTPUT_BYTES], uuid[37], where[128];
    okno_eventlog_uuid_text(message_ids[2], uuid);
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    char sql[256];
    snprintf(sql, sizeof sql,
             "select position from okno.event_log where message_id = '%s' and seq = 3", uuid);
    long long position = okno_itest_query_ll(conn, sql);
    PQfinish(conn);
    snprintf(sql, sizeof sql,
             "update okno.event_log set body = 'forged' where message_id = '%s' and seq = 3", uuid);
    tamper(sql);
    assert_int_equal(run_verify(out, sizeof out), 1);
    snprintf(where, sizeof where, "MISMATCH message %s seq 3 position %lld: hash expected", uuid,
             position);
    assert_non_null(strstr(out, where));
    /* Only that row: the links after it continue from what is stored. */
    assert_null(strstr(out, "seq 4"));
    snprintf(sql, sizeof sql,
             "update okno.event_log set body = 'body 2/3' where message_id = '%s' and seq = 3",
             uuid);
    tamper(sql);
    assert_int_equal(run_verify(out, sizeof out), 0);
}

/* A careful forger rewrites a row, its hash, the next link and the head: every chain check
 * passes, and the checkpoint covering the row still catches it. */
static void consistent_forgery_is_caught_by_the_checkpoint(void **state)
{
    (void)state;
    char out[OUTPUT_BYTES], uuid[37], sql[512];
    okno_eventlog_uuid_text(message_ids[1], uuid);
    snprintf(sql, sizeof sql,
             "update okno.event_log set body = 'forged', hash = sha256(prev_hash || 'forged')"
             " where message_id = '%s' and seq = 1",
             uuid);
    tamper(sql);
    for (int seq = 2; seq <= EVENTS_EACH; seq++) {
        snprintf(sql, sizeof sql,
                 "update okno.event_log e set prev_hash = p.hash, hash = sha256(p.hash || e.body)"
                 " from okno.event_log p where e.message_id = '%s' and e.seq = %d"
                 " and p.message_id = e.message_id and p.seq = e.seq - 1",
                 uuid, seq);
        tamper(sql);
    }
    snprintf(sql, sizeof sql,
             "update okno.stream_heads h set hash = e.hash from okno.event_log e"
             " where h.message_id = '%s' and e.message_id = h.message_id and e.seq = %d",
             uuid, EVENTS_EACH);
    tamper(sql);
    assert_int_equal(run_verify(out, sizeof out), 1);
    assert_null(strstr(out, "MISMATCH message"));
    assert_non_null(strstr(out, "MISMATCH checkpoint 1 "));
}

/* Two single-event messages with transaction ids 99 and 100, inserted as the superuser: the
 * log order across a power of ten must be numeric ("99" before "100"), not text. */
static void add_low_tx_messages(void)
{
    PGconn *admin = okno_itest_connect(db->admin_conninfo);
    okno_itest_insert_event(admin, NULL, "x", "99", true);
    okno_itest_insert_event(admin, NULL, "x", "100", true);
    PQfinish(admin);
}

static int db_setup(void **state)
{
    okno_itest_db_setup(state);
    db = *state;
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    add_low_tx_messages();
    fill_log(conn);
    char err[OKNO_PG_ERRBUF_BYTES];
    int written = 0;
    if (okno_eventlog_checkpoint(conn, CHECKPOINT_SIZE, 100, &written, err, sizeof err) != 0)
        fail_msg("checkpoint: %s", err);
    assert_int_equal(written, 2);
    PQfinish(conn);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intact_log_verifies_with_counts),
        cmocka_unit_test(changed_body_is_named_by_message_seq_and_position),
        cmocka_unit_test(consistent_forgery_is_caught_by_the_checkpoint),
    };
    return cmocka_run_group_tests(tests, db_setup, okno_itest_db_teardown);
}
