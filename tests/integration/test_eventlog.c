/* The event log's append API against the real PostgreSQL: hash chain, idempotent request ids,
 * the fences, append-only tables, malformed batches and checkpoints. Each run has its own
 * database. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "okno/error.h"
#include "okno/eventlog.h"

/* Sizes of the test batches. */
#define BATCH_EVENTS_MAX 10000
#define BIG_MESSAGES     1000
#define BIG_EVENTS_EACH  10
#define BIG_BODY_BYTES   300
#define FENCE_ROUNDS     20

/* The test file's own database (okno_itest_db_setup). */
static okno_itest_db *db;

/* A batch under construction, with storage for everything it points to. */
typedef struct tbatch {
    okno_eventlog_event events[BATCH_EVENTS_MAX];
    okno_eventlog_head heads[BIG_MESSAGES];
    okno_eventlog_request requests[BIG_MESSAGES];
    okno_eventlog_refusal refusals[4];
    okno_eventlog_offset offsets[4];
    okno_eventlog_tip tips[BIG_MESSAGES];
    okno_eventlog_known known[BIG_MESSAGES];
    okno_eventlog_batch batch;
    okno_eventlog_result result;
    char error[OKNO_PG_ERRBUF_BYTES]; /* the last append's reason */
    uint8_t bodies[BATCH_EVENTS_MAX][BIG_BODY_BYTES];
} tbatch;

static void make_id(uint8_t id[OKNO_EVENTLOG_ID_BYTES], uint32_t kind, uint32_t n)
{
    memset(id, 0, OKNO_EVENTLOG_ID_BYTES);
    memcpy(id, &kind, sizeof kind);
    memcpy(id + 8, &n, sizeof n);
}

static tbatch *tbatch_new(void)
{
    tbatch *t = calloc(1, sizeof *t);
    assert_non_null(t);
    return t;
}

static void tbatch_reset(tbatch *t)
{
    t->batch = (okno_eventlog_batch){.events = t->events,
                                     .heads = t->heads,
                                     .requests = t->requests,
                                     .refusals = t->refusals,
                                     .offsets = t->offsets};
    t->result = (okno_eventlog_result){.tips = t->tips, .known = t->known};
}

/* Adds a head for message m continuing from (prev_seq, prev_hash). */
static okno_eventlog_head *add_head(tbatch *t, uint32_t m, int32_t prev_seq,
                                    const uint8_t *prev_hash)
{
    okno_eventlog_head *h = &t->heads[t->batch.head_count++];
    *h = (okno_eventlog_head){.prev_seq = prev_seq,
                              .kafka_partition = (int32_t)(m % 3),
                              .state_version = 1,
                              .state = (const uint8_t *)"state",
                              .state_bytes = 5};
    make_id(h->message_id.bytes, 1, m);
    if (prev_hash != NULL)
        memcpy(h->prev_hash, prev_hash, OKNO_EVENTLOG_HASH_BYTES);
    return h;
}

static void add_event(tbatch *t, uint32_t m, int32_t seq, uint32_t request, size_t body_bytes)
{
    size_t i = t->batch.event_count++;
    assert_true(body_bytes <= BIG_BODY_BYTES);
    snprintf((char *)t->bodies[i], BIG_BODY_BYTES, "event %u/%d", m, seq);
    okno_eventlog_event *e = &t->events[i];
    *e = (okno_eventlog_event){.seq = seq,
                               .event_type = "stage_entered",
                               .occurred_at_ms = 1700000000123 + seq,
                               .actor_user = seq % 2 ? 42 : OKNO_EVENTLOG_NONE,
                               .org = 7,
                               .body = t->bodies[i],
                               .body_bytes = body_bytes};
    make_id(e->message_id.bytes, 1, m);
    make_id(e->request_id.bytes, 2, request);
}

static void add_request(tbatch *t, uint32_t request, uint32_t m, bool accepted, int32_t events)
{
    okno_eventlog_request *q = &t->requests[t->batch.request_count++];
    *q = (okno_eventlog_request){.accepted = accepted, .events = events};
    make_id(q->request_id.bytes, 2, request);
    make_id(q->message_id.bytes, 1, m);
}

static void add_offset(tbatch *t, int32_t partition, int64_t expected, int64_t next)
{
    t->offsets[t->batch.offset_count++] = (okno_eventlog_offset){
        "okno-ledger-test", "okno.transitions.v1", partition, expected, next};
}

static int append(PGconn *conn, tbatch *t)
{
    int rc = okno_eventlog_append(conn, &t->batch, &t->result, t->error, sizeof t->error);
    if (rc != 0)
        print_message("append: %s: %s\n", okno_strerror(rc), t->error);
    return rc;
}

static long long count_rows(PGconn *conn, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "select count(*) from okno.%s", table);
    return okno_itest_query_ll(conn, sql);
}

/* The chain checked by PostgreSQL itself, independently of the C code that built it. */
static void assert_chain_intact(PGconn *conn)
{
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from okno.event_log"
                                               " where hash <> sha256(prev_hash || body)"),
                     0);
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from okno.event_log"
                                               " where seq = 1 and prev_hash <> '\\x"
                                               "0000000000000000000000000000000000000000000000"
                                               "000000000000000000'"),
                     0);
    /* Each link: prev_hash is the previous event's hash, and it came earlier in log order. */
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from okno.event_log e"
                                               " join okno.event_log p on p.message_id ="
                                               " e.message_id and p.seq = e.seq - 1"
                                               " where e.prev_hash <> p.hash"
                                               " or (p.tx, p.position) >= (e.tx, e.position)"),
                     0);
    /* No gaps: a message's seqs are 1..count. */
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from (select message_id from"
                                               " okno.event_log group by message_id"
                                               " having max(seq) <> count(*)) g"),
                     0);
}

static int collect_head(const okno_eventlog_head_row *h, void *arg)
{
    int *seen = arg;
    assert_int_equal(h->state_bytes, 5);
    assert_memory_equal(h->state, "state", 5);
    seen[h->kafka_partition] += h->seq;
    return 0;
}

static void appended_batches_read_back_with_hash_chain(void **state)
{
    (void)state;
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    tbatch *t = tbatch_new();
    tbatch_reset(t);
    add_head(t, 100, 0, NULL);
    add_head(t, 101, 0, NULL);
    add_head(t, 102, 0, NULL);
    add_event(t, 100, 1, 1000, 20);
    add_event(t, 101, 1, 1001, 30);
    add_event(t, 100, 2, 1000, 0); /* an empty body is still a link */
    add_event(t, 102, 1, 1002, 10);
    add_event(t, 100, 3, 1000, 40);
    add_request(t, 1000, 100, true, 3);
    add_request(t, 1001, 101, true, 1);
    add_request(t, 1002, 102, true, 1);
    add_offset(t, 0, -1, 10);
    assert_int_equal(append(conn, t), 0);
    assert_int_equal(t->result.events_appended, 5);
    assert_true(t->result.first_position > 0);
    assert_int_equal(t->tips[0].seq, 3);
    assert_chain_intact(conn);

    /* The second batch continues message 100 from the tip the first returned. */
    okno_eventlog_tip tip = t->tips[0];
    tbatch_reset(t);
    add_head(t, 100, tip.seq, tip.hash);
    add_event(t, 100, 4, 1003, 50);
    add_event(t, 100, 5, 1003, 50);
    add_request(t, 1003, 100, true, 2);
    add_offset(t, 0, 10, 20);
    assert_int_equal(append(conn, t), 0);
    assert_chain_intact(conn);
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from okno.stream_heads h join"
                                               " okno.event_log e using (message_id, seq, hash)"),
                     3);
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from okno.event_log where"
                                               " actor_user is null and seq % 2 = 0"
                                               " and extract(epoch from occurred_at) * 1000 ="
                                               " 1700000000123 + seq"),
                     2);

    int seen[3] = {0};
    const int32_t parts[2] = {0, 2};
    char err[OKNO_PG_ERRBUF_BYTES];
    assert_int_equal(okno_eventlog_load_heads(conn, parts, 2, collect_head, seen, err, sizeof err),
                     0);
    assert_int_equal(seen[0], 1); /* message 102 */
    assert_int_equal(seen[1], 0); /* message 100: partition 1 was not asked for */
    assert_int_equal(seen[2], 1); /* message 101 */
    okno_eventlog_offset_row offsets[4];
    size_t n;
    assert_int_equal(okno_eventlog_load_offsets(conn, "okno-ledger-test", "okno.transitions.v1",
                                                offsets, 4, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(offsets[0].next_offset, 20);
    free(t);
    PQfinish(conn);
}

/* Appends message m's first event as request `request`; returns its tip. */
static okno_eventlog_tip append_first(PGconn *conn, tbatch *t, uint32_t m, uint32_t request)
{
    tbatch_reset(t);
    add_head(t, m, 0, NULL);
    add_event(t, m, 1, request, 16);
    add_request(t, request, m, true, 1);
    assert_int_equal(append(conn, t), 0);
    return t->tips[0];
}

static void repeated_request_ids_are_acknowledged_not_appended(void **state)
{
    (void)state;
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    tbatch *t = tbatch_new();
    okno_eventlog_tip tip = append_first(conn, t, 200, 2000);
    long long events = count_rows(conn, "event_log"), requests = count_rows(conn, "requests");

    /* The same request again (a client retry), next to a new one and a new refusal. */
    tbatch_reset(t);
    add_head(t, 200, tip.seq, tip.hash);
    add_event(t, 200, 2, 2001, 16);
    add_event(t, 200, 3, 2000, 16);
    add_request(t, 2001, 200, true, 1);
    add_request(t, 2000, 200, true, 1);
    add_request(t, 2002, 200, false, 0);
    t->refusals[t->batch.refusal_count++] =
        (okno_eventlog_refusal){.reason_code = "not_allowed",
                                .message = "",
                                .source_topic = "okno.transitions.v1",
                                .body = (const uint8_t *)"r",
                                .body_bytes = 1};
    make_id(t->refusals[0].request_id.bytes, 2, 2002);
    make_id(t->refusals[0].message_id.bytes, 1, 200);
    assert_int_equal(okno_eventlog_append(conn, &t->batch, &t->result, t->error, sizeof t->error),
                     OKNO_EDUPLICATE);
    assert_int_equal(t->result.known_count, 1);
    assert_int_equal(t->result.known[0].index, 1);
    assert_true(t->result.known[0].accepted);
    assert_int_equal(t->result.known[0].events, 1);
    /* Nothing of the batch was written. */
    assert_int_equal(count_rows(conn, "event_log"), events);
    assert_int_equal(count_rows(conn, "requests"), requests);
    assert_int_equal(count_rows(conn, "refusals"), 0);

    /* The caller drops the known request and its event; the rest goes through. */
    t->requests[1] = t->requests[2];
    t->batch.request_count = 2;
    t->batch.event_count = 1;
    assert_int_equal(append(conn, t), 0);
    assert_int_equal(count_rows(conn, "event_log"), events + 1);
    assert_int_equal(count_rows(conn, "refusals"), 1);
    assert_chain_intact(conn);
    free(t);
    PQfinish(conn);
}

static void stale_head_or_offset_is_fenced_and_writes_nothing(void **state)
{
    (void)state;
    PGconn *owner = okno_itest_connect(db->app_conninfo);
    PGconn *zombie = okno_itest_connect(db->app_conninfo);
    tbatch *t = tbatch_new();
    okno_eventlog_tip tip = append_first(owner, t, 300, 3000);

    /* Both believe they own message 300 at seq 1; the owner appends first. */
    tbatch_reset(t);
    add_head(t, 300, tip.seq, tip.hash);
    add_event(t, 300, 2, 3001, 16);
    add_request(t, 3001, 300, true, 1);
    assert_int_equal(append(owner, t), 0);
    long long events = count_rows(owner, "event_log");
    tbatch_reset(t);
    add_head(t, 300, tip.seq, tip.hash);
    add_event(t, 300, 2, 3002, 17);
    add_request(t, 3002, 300, true, 1);
    assert_int_equal(okno_eventlog_append(zombie, &t->batch, &t->result, t->error, sizeof t->error),
                     OKNO_ECONFLICT);
    assert_non_null(strstr(t->error, "stream head"));
    assert_int_equal(count_rows(owner, "event_log"), events);
    assert_int_equal(okno_itest_query_ll(owner, "select count(*) from okno.requests where"
                                                " events = 1 and message_id = (select"
                                                " message_id from okno.stream_heads where"
                                                " seq = 2 limit 1)"),
                     2);

    /* A refusal-only batch has no head to fence on: the offset compare-and-set fences it. */
    tbatch_reset(t);
    add_offset(t, 5, -1, 100);
    assert_int_equal(append(owner, t), 0);
    tbatch_reset(t);
    add_offset(t, 5, 50, 120); /* the zombie stored 50 last and lost the partition since */
    add_request(t, 3003, 300, false, 0);
    assert_int_equal(okno_eventlog_append(zombie, &t->batch, &t->result, t->error, sizeof t->error),
                     OKNO_ECONFLICT);
    assert_int_equal(okno_itest_query_ll(owner, "select count(*) from okno.requests r where"
                                                " r.request_id::text like '%0bbb%'"),
                     0);
    free(t);
    PQfinish(zombie);
    PQfinish(owner);
}

typedef struct racer {
    PGconn *conn;
    tbatch *t;
    pthread_barrier_t *start;
    int rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->start);
    r->rc =
        okno_eventlog_append(r->conn, &r->t->batch, &r->t->result, r->t->error, sizeof r->t->error);
    return NULL;
}

/* Two instances append the same next seq at the same moment, round after round: exactly one
 * wins each time, and the chain has neither a gap nor a double. */
static void concurrent_writers_of_one_message_one_wins(void **state)
{
    (void)state;
    racer r[2];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++)
        r[i] = (racer){okno_itest_connect(db->app_conninfo), tbatch_new(), &start, 0};
    okno_eventlog_tip tip = append_first(r[0].conn, r[0].t, 400, 4000);
    for (int round = 0; round < FENCE_ROUNDS; round++) {
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            tbatch_reset(r[i].t);
            add_head(r[i].t, 400, tip.seq, tip.hash);
            add_event(r[i].t, 400, tip.seq + 1, 4100 + (uint32_t)(round * 2 + i), 16 + i);
            add_request(r[i].t, 4100 + (uint32_t)(round * 2 + i), 400, true, 1);
            pthread_create(&th[i], NULL, race, &r[i]);
        }
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        int winner = r[0].rc == 0 ? 0 : 1;
        assert_int_equal(r[winner].rc, 0);
        assert_int_equal(r[1 - winner].rc, OKNO_ECONFLICT);
        tip = r[winner].t->tips[0];
    }
    assert_int_equal(okno_itest_query_ll(r[0].conn, "select max(seq) from okno.stream_heads"
                                                    " where seq > 10"),
                     FENCE_ROUNDS + 1);
    assert_chain_intact(r[0].conn);
    for (int i = 0; i < 2; i++) {
        PQfinish(r[i].conn);
        free(r[i].t);
    }
    pthread_barrier_destroy(&start);
}

/* Runs sql and returns its SQLSTATE ("" when it succeeded). */
static const char *sqlstate_of(PGconn *conn, const char *sql)
{
    static char state[6];
    PGresult *res = PQexec(conn, sql);
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(state, sizeof state, "%s", s != NULL ? s : "");
    PQclear(res);
    return state;
}

static void append_only_tables_refuse_update_delete_truncate(void **state)
{
    (void)state;
    PGconn *app = okno_itest_connect(db->app_conninfo);
    PGconn *owner = okno_itest_connect(db->admin_conninfo);
    long long events = count_rows(owner, "event_log");
    /* Row triggers fire only on rows: every table must have some (the tests before made them). */
    static const char *const tables[] = {"event_log", "requests", "refusals", "log_checkpoints"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        assert_true(count_rows(owner, tables[i]) > 0);
    static const char *const changes[] = {
        "update okno.event_log set body = 'x'",
        "delete from okno.event_log",
        "truncate okno.event_log",
        "truncate okno.event_log_p03",
        "delete from okno.event_log_p03",
        "update okno.requests set accepted = false",
        "delete from okno.refusals",
        "truncate okno.requests_p07",
        "truncate okno.refusals",
        "delete from okno.log_checkpoints",
        "truncate okno.log_checkpoints",
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        /* okno_app lacks the privilege; the owner (a superuser) is stopped by the triggers. */
        assert_string_equal(sqlstate_of(app, changes[i]), "42501");
        assert_string_equal(sqlstate_of(owner, changes[i]), "OKA01");
    }
    assert_int_equal(count_rows(owner, "event_log"), events);
    /* Nor may okno_app choose a row's place in the log order. */
    assert_string_equal(sqlstate_of(app, "insert into okno.event_log (message_id, seq,"
                                         " request_id, event_type, occurred_at, body, prev_hash,"
                                         " hash, tx) select message_id, 99, request_id,"
                                         " event_type, occurred_at, body, prev_hash, hash, '1'"
                                         " from okno.event_log limit 1"),
                        "42501");
    PQfinish(owner);
    PQfinish(app);
}

static void malformed_batches_are_refused_before_writing(void **state)
{
    (void)state;
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    tbatch *t = tbatch_new();
    tbatch_reset(t); /* a seq gap */
    add_head(t, 500, 0, NULL);
    add_event(t, 500, 2, 5000, 8);
    assert_int_equal(okno_eventlog_append(conn, &t->batch, &t->result, t->error, sizeof t->error),
                     OKNO_EINVAL);
    tbatch_reset(t); /* an event of a message without a head */
    add_head(t, 500, 0, NULL);
    add_event(t, 500, 1, 5000, 8);
    add_event(t, 501, 1, 5000, 8);
    assert_int_equal(okno_eventlog_append(conn, &t->batch, &t->result, t->error, sizeof t->error),
                     OKNO_EINVAL);
    tbatch_reset(t); /* one request id twice */
    add_head(t, 500, 0, NULL);
    add_event(t, 500, 1, 5000, 8);
    add_request(t, 5000, 500, true, 1);
    add_request(t, 5000, 500, true, 1);
    assert_int_equal(okno_eventlog_append(conn, &t->batch, &t->result, t->error, sizeof t->error),
                     OKNO_EINVAL);
    tbatch_reset(t); /* over batch_events_max */
    t->batch.event_count = OKNO_EVENTLOG_BATCH_EVENTS_MAX + 1;
    assert_int_equal(okno_eventlog_append(conn, &t->batch, &t->result, t->error, sizeof t->error),
                     OKNO_ELIMIT);
    assert_int_equal(okno_itest_query_ll(conn, "select count(*) from okno.stream_heads h where"
                                               " h.state_version = 1 and h.seq = 0"),
                     0);
    free(t);
    PQfinish(conn);
}

/* batch_events_max events of 1000 messages in one call; prints the time it took. */
static void batch_of_ten_thousand_events_appends_in_one_call(void **state)
{
    (void)state;
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    tbatch *t = tbatch_new();
    tbatch_reset(t);
    for (uint32_t m = 0; m < BIG_MESSAGES; m++) {
        add_head(t, 10000 + m, 0, NULL);
        add_request(t, 10000 + m, 10000 + m, true, BIG_EVENTS_EACH);
    }
    for (int seq = 1; seq <= BIG_EVENTS_EACH; seq++)
        for (uint32_t m = 0; m < BIG_MESSAGES; m++)
            add_event(t, 10000 + m, seq, 10000 + m, BIG_BODY_BYTES);
    add_offset(t, 7, -1, BIG_MESSAGES);
    long long before = count_rows(conn, "event_log");
    double t0 = okno_itest_now_ms();
    assert_int_equal(append(conn, t), 0);
    double ms = okno_itest_now_ms() - t0;
    print_message("append: %zu events (%d-byte bodies), %zu heads, %zu requests in %.1f ms\n",
                  t->batch.event_count, BIG_BODY_BYTES, t->batch.head_count, t->batch.request_count,
                  ms);
    assert_int_equal(count_rows(conn, "event_log"), before + BIG_MESSAGES * BIG_EVENTS_EACH);
    assert_chain_intact(conn);
    free(t);
    PQfinish(conn);
}

/* Checkpoints cover exactly N events each, in (tx, position) order, chained by digest; the
 * digests are recomputed here by PostgreSQL from the rows. */
static void checkpoints_cover_the_log_in_order(void **state)
{
    (void)state;
    PGconn *conn = okno_itest_connect(db->app_conninfo);
    /* Two events whose transaction ids cross a power of ten: log order is numeric ("99" before
     * "100", both before today's ids), which sorting the ids as text would get wrong. */
    PGconn *admin = okno_itest_connect(db->admin_conninfo);
    okno_itest_insert_event(admin, NULL, "x", "99", false);
    okno_itest_insert_event(admin, NULL, "x", "100", false);
    PQfinish(admin);
    char err[OKNO_PG_ERRBUF_BYTES];
    int written = 0;
    long long events = count_rows(conn, "event_log");
    assert_int_equal(okno_eventlog_checkpoint(conn, 1000, 1000, &written, err, sizeof err), 0);
    assert_int_equal(written, events / 1000);
    assert_int_equal(okno_eventlog_checkpoint(conn, 1000, 1000, &written, err, sizeof err), 0);
    assert_int_equal(written, 0);
    assert_int_equal(okno_itest_query_ll(conn, "select max(total_events) from"
                                               " okno.log_checkpoints"),
                     events / 1000 * 1000);
    /* The first checkpoint's digest, recomputed in SQL. */
    assert_int_equal(okno_itest_query_ll(conn,
                                         "select count(*) from okno.log_checkpoints c where"
                                         " checkpoint_no = 1 and digest = sha256("
                                         " '\\x00000000000000000000000000000000000000000000000"
                                         "00000000000000000'::bytea || (select string_agg(hash,"
                                         " ''::bytea order by tx, position) from (select tx,"
                                         " position, hash from okno.event_log order by tx,"
                                         " position limit 1000) e))"),
                     1);
    PQfinish(conn);
}

OKNO_ITEST_DB_SETUP(db_setup, db)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appended_batches_read_back_with_hash_chain),
        cmocka_unit_test(repeated_request_ids_are_acknowledged_not_appended),
        cmocka_unit_test(stale_head_or_offset_is_fenced_and_writes_nothing),
        cmocka_unit_test(concurrent_writers_of_one_message_one_wins),
        cmocka_unit_test(malformed_batches_are_refused_before_writing),
        cmocka_unit_test(batch_of_ten_thousand_events_appends_in_one_call),
        cmocka_unit_test(checkpoints_cover_the_log_in_order),
        cmocka_unit_test(append_only_tables_refuse_update_delete_truncate),
    };
    return cmocka_run_group_tests(tests, db_setup, okno_itest_db_teardown);
}
