/* The relay's core: event_log and refusals to Kafka in (tx, position) order, below the xmin
 * horizon, cursor stored only after confirmed delivery. The ordering argument: README.md. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/kafka.h"
#include "pg/pgbin.h"
#include "relay.h"

/* Timing of the loops, in milliseconds. */
#define FLUSH_WAIT_MS      100  /* one wait for delivery reports, between checks of stop */
#define QUEUE_FULL_WAIT_MS 100  /* wait when the producer's queue is full */
#define BACKOFF_MS_MIN     100  /* first wait after a failed step */
#define BACKOFF_MS_MAX     5000 /* longest wait after failed steps */
#define STOP_CHECK_MS      50   /* longest sleep between checks of stop */
/* Checkpoints one step may write when catching up. */
#define CHECKPOINTS_PER_STEP_MAX 16

/* Rows after the cursor whose transaction ended before every running one began: no
 * transaction that is still running, and none that starts later, can add a row below them. */
#define BELOW_HORIZON                                                                              \
    " where (tx, position) > ($1::xid8, $2::int8)"                                                 \
    " and tx < pg_snapshot_xmin(pg_current_snapshot())"                                            \
    " order by tx, position limit $3::int4"

static const char EVENTS_SQL[] =
    "select message_id, seq, event_type, body, tx::text as tx_text, position"
    " from okno.event_log" BELOW_HORIZON;
static const char REFUSALS_SQL[] =
    "select message_id, 0, reason_code, body, tx::text as tx_text, position"
    " from okno.refusals" BELOW_HORIZON;

/* librdkafka properties the relay's guarantees rest on; a pass-through may not change them. */
static const char *const REQUIRED_KEYS[] = {
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "max.in.flight.requests.per.connection",
    "enable.gapless.guarantee",
    "message.timeout.ms",
    "partitioner",
    "queue.buffering.max.messages",
};
#define REQUIRED_KEY_COUNT (sizeof REQUIRED_KEYS / sizeof REQUIRED_KEYS[0])

static int fail(okno_relay *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return code;
}

void okno_relay_config_init(okno_relay_config *cfg)
{
    *cfg = (okno_relay_config){
        .events_topic = OKNO_TOPIC_EVENTS,
        .rejections_topic = OKNO_TOPIC_REJECTIONS,
        .cursor_prefix = "",
        .batch_rows = OKNO_RELAY_BATCH_ROWS_DEFAULT,
        .idle_poll_ms = OKNO_RELAY_IDLE_POLL_MS_DEFAULT,
        .delivery_timeout_ms = OKNO_RELAY_DELIVERY_MS_DEFAULT,
        .checkpoint_events = OKNO_RELAY_CHECKPOINT_DEFAULT,
    };
}

/* The required properties with their values, as name/value pairs; returns the pair count. */
static size_t required_props(const okno_relay *r, char bufs[2][24], const char **kv)
{
    snprintf(bufs[0], sizeof bufs[0], "%d", r->cfg.delivery_timeout_ms);
    snprintf(bufs[1], sizeof bufs[1], "%d", 2 * r->cfg.batch_rows + 1000);
    const char *pairs[2 * REQUIRED_KEY_COUNT] = {
        "bootstrap.servers", r->cfg.kafka_bootstrap,
        /* Idempotence keeps order and drops internal retries' duplicates; gapless turns any
         * possible gap into a fatal error, after which the relay re-reads from its cursor. */
        "enable.idempotence", "true", "acks", "all", "max.in.flight.requests.per.connection", "5",
        "enable.gapless.guarantee", "true", "message.timeout.ms", bufs[0],
        /* The Java clients' default: any client computing a key's partition agrees. */
        "partitioner", "murmur2_random",
        /* Room for a whole batch, so producing one never waits for the previous. */
        "queue.buffering.max.messages", bufs[1]};
    memcpy(kv, pairs, sizeof pairs);
    return REQUIRED_KEY_COUNT;
}

/* A librdkafka conf with the pass-through properties, then the required ones. */
static rd_kafka_conf_t *producer_conf(okno_relay *r)
{
    char err[256], bufs[2][24];
    const char *req[2 * REQUIRED_KEY_COUNT];
    size_t nreq = required_props(r, bufs, req);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const *lists[2] = {r->cfg.kafka_props, req};
    const size_t counts[2] = {r->cfg.kafka_prop_count, nreq};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l]; i++)
            if (rd_kafka_conf_set(conf, lists[l][2 * i], lists[l][2 * i + 1], err, sizeof err) !=
                RD_KAFKA_CONF_OK) {
                fail(r, OKNO_ECONFIG, "kafka.%s: %s", lists[l][2 * i], err);
                rd_kafka_conf_destroy(conf);
                return NULL;
            }
    return conf;
}

static int check_config(okno_relay *r)
{
    const okno_relay_config *c = &r->cfg;
    if (c->pg_conninfo == NULL || c->kafka_bootstrap == NULL)
        return fail(r, OKNO_ECONFIG, "pg.conninfo and kafka.bootstrap.servers are required");
    if (c->events_topic == NULL || c->events_topic[0] == '\0' || c->rejections_topic == NULL ||
        c->rejections_topic[0] == '\0' || c->cursor_prefix == NULL)
        return fail(r, OKNO_ECONFIG, "relay topics must be named");
    if (c->batch_rows < 1 || c->batch_rows > OKNO_RELAY_BATCH_ROWS_MAX)
        return fail(r, OKNO_ECONFIG, "relay.batch_rows must be 1..%d", OKNO_RELAY_BATCH_ROWS_MAX);
    if (c->idle_poll_ms < 1 || c->delivery_timeout_ms < 1 || c->checkpoint_events < 0)
        return fail(r, OKNO_ECONFIG, "relay durations must be positive, checkpoints >= 0");
    if (c->kafka_prop_count > OKNO_RELAY_KAFKA_PROPS_MAX)
        return fail(r, OKNO_ECONFIG, "more than %d kafka properties", OKNO_RELAY_KAFKA_PROPS_MAX);
    for (size_t i = 0; i < c->kafka_prop_count; i++)
        for (size_t k = 0; k < REQUIRED_KEY_COUNT; k++)
            if (strcmp(c->kafka_props[2 * i], REQUIRED_KEYS[k]) == 0)
                return fail(r, OKNO_ECONFIG, "kafka.%s is fixed by the relay's guarantees",
                            REQUIRED_KEYS[k]);
    rd_kafka_conf_t *conf = producer_conf(r); /* every value checked by librdkafka, now */
    if (conf == NULL)
        return OKNO_ECONFIG;
    rd_kafka_conf_destroy(conf);
    return OKNO_OK;
}

static void stream_init(okno__relay_stream *s, const char *prefix, const char *name,
                        const char *topic, const char *sql, const char *label)
{
    *s = (okno__relay_stream){.topic = topic, .select_sql = sql, .label_header = label};
    snprintf(s->cursor_buf, sizeof s->cursor_buf, "%s%s", prefix, name);
    s->cursor_name = s->cursor_buf;
}

int okno_relay_init(okno_relay *r, const okno_relay_config *cfg)
{
    *r = (okno_relay){.cfg = *cfg};
    int rc = check_config(r);
    if (rc != 0)
        return rc;
    stream_init(&r->streams[0], cfg->cursor_prefix, "events", cfg->events_topic, EVENTS_SQL,
                "type");
    stream_init(&r->streams[1], cfg->cursor_prefix, "rejections", cfg->rejections_topic,
                REFUSALS_SQL, "reason_code");
    /* Catch up on checkpoints at the first step. */
    r->events_since_checkpoint = cfg->checkpoint_events;
    return OKNO_OK;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    okno_relay *r = opaque;
    assert(r->in_flight > 0);
    r->in_flight--;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        r->failed++;
        fail(r, OKNO_EKAFKA, "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
             rd_kafka_err2str(m->err));
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    okno_relay *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        r->fatal = true;
        fail(r, OKNO_EKAFKA, "fatal producer error: %s", why);
    } else {
        /* Transient (a broker down, ...): librdkafka retries; deliveries tell the outcome. */
        fprintf(stderr, "okno-relay: kafka: %s\n", reason);
    }
}

static int producer_start(okno_relay *r)
{
    if (r->producer != NULL)
        return OKNO_OK;
    rd_kafka_conf_t *conf = producer_conf(r);
    if (conf == NULL)
        return OKNO_ECONFIG;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, r);
    char err[256];
    r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (r->producer == NULL) {
        rd_kafka_conf_destroy(conf);
        return fail(r, OKNO_EKAFKA, "cannot create the producer: %s", err);
    }
    r->fatal = false;
    r->in_flight = 0;
    return OKNO_OK;
}

/* Drops the producer and whatever it still holds; the next step makes a new one and re-reads
 * from the stored cursors, so nothing the broker did not confirm is lost. */
static void producer_stop(okno_relay *r)
{
    if (r->producer == NULL)
        return;
    rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(r->producer, 0); /* serve the purged messages' delivery reports */
    rd_kafka_destroy(r->producer);
    r->producer = NULL;
    r->in_flight = 0;
}

static void pg_stop(okno_relay *r)
{
    PQfinish(r->conn);
    r->conn = NULL;
    r->leader = false;
    for (int i = 0; i < OKNO_RELAY_STREAMS; i++)
        r->streams[i].cursor_loaded = false;
}

static int pg_failed(okno_relay *r, const char *what, const PGresult *res)
{
    okno__pg_error(r->error, sizeof r->error, what, res, r->conn);
    if (PQstatus(r->conn) != CONNECTION_OK)
        pg_stop(r);
    return OKNO_EPG;
}

/* Runs a text-parameter statement; NULL (r->error set) unless it returned `want`. */
static PGresult *query(okno_relay *r, const char *what, const char *sql, int n,
                       const char *const *params, ExecStatusType want)
{
    PGresult *res = PQexecParams(r->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == want)
        return res;
    pg_failed(r, what, res);
    PQclear(res);
    return NULL;
}

static int load_cursor(okno_relay *r, okno__relay_stream *s)
{
    const char *params[1] = {s->cursor_name};
    PGresult *res = query(r, "load cursor",
                          "select tx::text, position from okno.relay_cursors where stream = $1", 1,
                          params, PGRES_TUPLES_OK);
    if (res == NULL)
        return OKNO_EPG;
    bool stored = PQntuples(res) == 1;
    snprintf(s->cursor_tx, sizeof s->cursor_tx, "%s", stored ? PQgetvalue(res, 0, 0) : "0");
    s->cursor_position = stored ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
    s->cursor_loaded = true;
    PQclear(res);
    return OKNO_OK;
}

static int store_cursor(okno_relay *r, okno__relay_stream *s, const char *tx, int64_t position)
{
    char pos[24];
    snprintf(pos, sizeof pos, "%" PRId64, position);
    const char *params[3] = {s->cursor_name, tx, pos};
    PGresult *res = query(r, "store cursor",
                          "insert into okno.relay_cursors (stream, tx, position)"
                          " values ($1, $2::xid8, $3::int8) on conflict (stream) do update"
                          " set tx = excluded.tx, position = excluded.position, updated_at = now()",
                          3, params, PGRES_COMMAND_OK);
    if (res == NULL)
        return OKNO_EPG;
    PQclear(res);
    snprintf(s->cursor_tx, sizeof s->cursor_tx, "%s", tx);
    s->cursor_position = position;
    return OKNO_OK;
}

/* Connects, becomes the active relay of its prefix (a session advisory lock, released when the
 * connection ends, also by a crash) and loads the cursors. */
static int pg_start(okno_relay *r)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    if (r->conn == NULL && okno_pg_connect(r->cfg.pg_conninfo, &r->conn, err, sizeof err) != 0)
        return fail(r, OKNO_EPG, "%s", err);
    if (!r->leader) {
        const char *params[1] = {r->cfg.cursor_prefix};
        PGresult *res = query(r, "leader lock",
                              "select pg_try_advisory_lock(hashtextextended('okno.relay:' || $1,"
                              " 0))",
                              1, params, PGRES_TUPLES_OK);
        if (res == NULL)
            return OKNO_EPG;
        r->leader = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (!r->leader)
            return fail(r, OKNO_ECONFLICT, "another relay with cursor prefix '%s' is active",
                        r->cfg.cursor_prefix);
    }
    for (int i = 0; i < OKNO_RELAY_STREAMS; i++)
        if (!r->streams[i].cursor_loaded) {
            int rc = load_cursor(r, &r->streams[i]);
            if (rc != 0)
                return rc;
        }
    return OKNO_OK;
}

static PGresult *read_batch(okno_relay *r, const okno__relay_stream *s)
{
    char pos[24], limit[24];
    snprintf(pos, sizeof pos, "%" PRId64, s->cursor_position);
    snprintf(limit, sizeof limit, "%d", r->cfg.batch_rows);
    const char *params[3] = {s->cursor_tx, pos, limit};
    return PQexecParams(r->conn, s->select_sql, 3, NULL, params, NULL, NULL, 1);
}

/* Produces row i: key = message id as text, value = the stored body as is (not copied: the
 * result outlives every delivery report), headers seq (events) and type or reason code. */
static rd_kafka_resp_err_t produce_row(okno_relay *r, const okno__relay_stream *s,
                                       const PGresult *res, int i)
{
    char key[37], seq[16];
    okno_eventlog_uuid_text((const uint8_t *)PQgetvalue(res, i, 0), key);
    int32_t seq_value = okno__pgbin_get_i32(PQgetvalue(res, i, 1));
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    if (seq_value > 0) {
        snprintf(seq, sizeof seq, "%" PRId32, seq_value);
        rd_kafka_header_add(h, "seq", -1, seq, -1);
    }
    rd_kafka_header_add(h, s->label_header, -1, PQgetvalue(res, i, 2), PQgetlength(res, i, 2));
    rd_kafka_resp_err_t err =
        rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY(key, 36),
                          RD_KAFKA_V_VALUE(PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3)),
                          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_headers_destroy(h); /* owned by the message only when produced */
    return err;
}

static bool stopping(const volatile sig_atomic_t *stop)
{
    return stop != NULL && *stop != 0;
}

static int produce_rows(okno_relay *r, const okno__relay_stream *s, const PGresult *res,
                        const volatile sig_atomic_t *stop)
{
    for (int i = 0; i < PQntuples(res); i++) {
        rd_kafka_resp_err_t err;
        while ((err = produce_row(r, s, res, i)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (stopping(stop) || r->fatal)
                return fail(r, OKNO_ETIMEDOUT, "stopped while the producer queue was full");
            rd_kafka_poll(r->producer, QUEUE_FULL_WAIT_MS);
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            return fail(r, OKNO_EKAFKA, "produce to %s: %s", s->topic, rd_kafka_err2str(err));
        r->in_flight++;
    }
    return OKNO_OK;
}

/* Waits until the broker confirmed (or refused) every record of the batch. */
static int await_deliveries(okno_relay *r, const volatile sig_atomic_t *stop)
{
    while (r->in_flight > 0 && !r->fatal) {
        if (stopping(stop))
            return fail(r, OKNO_ETIMEDOUT, "stopped while waiting for deliveries");
        rd_kafka_flush(r->producer, FLUSH_WAIT_MS);
    }
    if (r->fatal || r->failed > 0) {
        r->stats.delivery_failures++;
        r->stats.producer_restarts += r->fatal;
        return OKNO_EKAFKA;
    }
    return OKNO_OK;
}

static int relay_stream(okno_relay *r, okno__relay_stream *s, const volatile sig_atomic_t *stop,
                        size_t *published)
{
    PGresult *res = read_batch(r, s);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = pg_failed(r, s->cursor_name, res);
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res);
    r->failed = 0;
    int rc = produce_rows(r, s, res, stop);
    if (rc == 0)
        rc = await_deliveries(r, stop);
    if (rc != 0)
        producer_stop(r); /* before the rows it may still point at are freed */
    if (rc == 0 && n > 0)
        rc = store_cursor(r, s, PQgetvalue(res, n - 1, 4),
                          okno__pgbin_get_i64(PQgetvalue(res, n - 1, 5)));
    if (rc == 0) {
        *published += (size_t)n;
        r->stats.published += (uint64_t)n;
        if (s == &r->streams[0])
            r->events_since_checkpoint += n;
    }
    PQclear(res);
    return rc;
}

static int maybe_checkpoint(okno_relay *r)
{
    int64_t every = r->cfg.checkpoint_events;
    if (every == 0 || r->events_since_checkpoint < every)
        return OKNO_OK;
    int written = 0;
    char err[OKNO_PG_ERRBUF_BYTES];
    int rc = okno_eventlog_checkpoint(r->conn, every, CHECKPOINTS_PER_STEP_MAX, &written, err,
                                      sizeof err);
    if (rc != 0) {
        fail(r, rc, "checkpoint: %s", err);
        if (PQstatus(r->conn) != CONNECTION_OK)
            pg_stop(r);
        return rc;
    }
    r->stats.checkpoints += (uint64_t)written;
    /* A full step's worth means more may be due: try again next step. */
    r->events_since_checkpoint = written == CHECKPOINTS_PER_STEP_MAX ? every : 0;
    return OKNO_OK;
}

int okno_relay_step(okno_relay *r, const volatile sig_atomic_t *stop, size_t *published)
{
    *published = 0;
    r->stats.steps++;
    int rc = pg_start(r);
    if (rc == 0)
        rc = producer_start(r);
    for (int i = 0; rc == 0 && i < OKNO_RELAY_STREAMS; i++)
        rc = relay_stream(r, &r->streams[i], stop, published);
    if (rc == 0)
        rc = maybe_checkpoint(r);
    return rc;
}

static void sleep_ms(int ms, const volatile sig_atomic_t *stop)
{
    while (ms > 0 && !stopping(stop)) {
        int slice = ms < STOP_CHECK_MS ? ms : STOP_CHECK_MS;
        struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

int okno_relay_run(okno_relay *r, const volatile sig_atomic_t *stop, atomic_int *ready)
{
    int backoff_ms = BACKOFF_MS_MIN;
    char last_error[OKNO_RELAY_ERROR_BYTES] = "";
    while (!stopping(stop)) {
        size_t published = 0;
        int rc = okno_relay_step(r, stop, &published);
        if (ready != NULL)
            atomic_store(ready, rc == 0 || rc == OKNO_ECONFLICT);
        if (rc == 0) {
            backoff_ms = BACKOFF_MS_MIN;
            last_error[0] = '\0';
            if (published == 0)
                sleep_ms(r->cfg.idle_poll_ms, stop);
            continue;
        }
        if (stopping(stop))
            break;
        if (strcmp(last_error, r->error) != 0) /* say each new trouble once */
            fprintf(stderr, "okno-relay: %s: %s (retrying)\n", okno_strerror(rc), r->error);
        snprintf(last_error, sizeof last_error, "%s", r->error);
        sleep_ms(backoff_ms, stop);
        backoff_ms = backoff_ms * 2 < BACKOFF_MS_MAX ? backoff_ms * 2 : BACKOFF_MS_MAX;
    }
    return OKNO_OK;
}

void okno_relay_close(okno_relay *r)
{
    producer_stop(r);
    pg_stop(r);
}
