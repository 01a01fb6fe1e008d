/* The relay's core: event_log and refusals to Kafka in (tx, position) order, below the xmin
 * horizon, cursor stored only after confirmed delivery. The ordering argument: README.md. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/kafka.h"
#include "okno/log.h"
#include "okno/logtail.h"
#include "okno/pgbin.h"
#include "relay.h"

/* Timing of the waits, in milliseconds. */
#define FLUSH_WAIT_MS      100 /* one wait for delivery reports, between checks of stop */
#define QUEUE_FULL_WAIT_MS 100 /* wait when the producer's queue is full */
/* Checkpoints one step may write when catching up. */
#define CHECKPOINTS_PER_STEP_MAX 16

static const char EVENTS_SQL[] =
    "select message_id, seq, event_type, body, tx::text as tx_text, position"
    " from okno.event_log" OKNO_LOGTAIL_BELOW_HORIZON;
static const char REFUSALS_SQL[] =
    "select message_id, 0, reason_code, body, tx::text as tx_text, position"
    " from okno.refusals" OKNO_LOGTAIL_BELOW_HORIZON;

/* The librdkafka properties the relay fixes beside okno_kafka_producer_fixed. */
#define RELAY_KEY_COUNT    4
#define REQUIRED_KEY_COUNT (OKNO_KAFKA_PRODUCER_FIXED_COUNT + RELAY_KEY_COUNT)

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
        .delivery_timeout_ms = OKNO_RELAY_DELIVERY_MS_DEFAULT,
        .checkpoint_events = OKNO_RELAY_CHECKPOINT_DEFAULT,
        .checkpoints_topic = OKNO_TOPIC_CHECKPOINTS,
    };
}

/* The required properties with their values, as name/value pairs: every okno producer's
 * partitioning settings (idempotence keeps order and drops internal retries' duplicates;
 * murmur2 makes any client computing a key's partition agree), then the relay's own. Returns
 * the pair count. */
static size_t required_props(const okno_relay *r, char bufs[2][24], const char **kv)
{
    snprintf(bufs[0], sizeof bufs[0], "%d", r->cfg.delivery_timeout_ms);
    snprintf(bufs[1], sizeof bufs[1], "%d", 2 * r->cfg.batch_rows + 1000);
    const char *own[] = {
        /* Gapless turns any possible gap into a fatal error, after which the relay re-reads
         * from its cursor. */
        "max.in.flight.requests.per.connection", "5", "enable.gapless.guarantee", "true",
        "message.timeout.ms", bufs[0],
        /* Room for a whole batch, so producing one never waits for the previous. */
        "queue.buffering.max.messages", bufs[1]};
    _Static_assert(sizeof own == 2 * RELAY_KEY_COUNT * sizeof own[0], "count the pairs");
    for (size_t i = 0; i < OKNO_KAFKA_PRODUCER_FIXED_COUNT; i++) {
        kv[2 * i] = okno_kafka_producer_fixed[i][0];
        kv[2 * i + 1] = okno_kafka_producer_fixed[i][1];
    }
    memcpy(kv + 2 * OKNO_KAFKA_PRODUCER_FIXED_COUNT, own, sizeof own);
    return REQUIRED_KEY_COUNT;
}

/* The value librdkafka reads back for key from conf, "" when it has none. */
static void conf_value(const rd_kafka_conf_t *conf, const char *key, char out[64])
{
    size_t n = 64;
    out[0] = '\0';
    if (rd_kafka_conf_get(conf, key, out, &n) != RD_KAFKA_CONF_OK)
        out[0] = '\0';
}

/* A deployment value for a property the relay fixes would be overridden silently: refuse it.
 * "Set" means different from the defaults and from the relay's own value, all as librdkafka
 * reads them back (it normalizes: acks "all" reads "-1"; topic-level properties read
 * differently once any of them created the default topic conf, hence two defaults). */
static int check_not_overridden(okno_relay *r, const rd_kafka_conf_t *conf, const char **req,
                                size_t nreq)
{
    rd_kafka_conf_t *plain = rd_kafka_conf_new(), *topic = rd_kafka_conf_new();
    rd_kafka_conf_t *want = rd_kafka_conf_new();
    rd_kafka_conf_set_default_topic_conf(topic, rd_kafka_topic_conf_new());
    char err[256];
    int rc = OKNO_OK;
    for (size_t i = 0; i < nreq && rc == 0; i++) {
        char got[64], dflt1[64], dflt2[64], ours[64];
        rd_kafka_conf_set(want, req[2 * i], req[2 * i + 1], err, sizeof err);
        conf_value(conf, req[2 * i], got);
        conf_value(plain, req[2 * i], dflt1);
        conf_value(topic, req[2 * i], dflt2);
        conf_value(want, req[2 * i], ours);
        if (strcmp(got, dflt1) != 0 && strcmp(got, dflt2) != 0 && strcmp(got, ours) != 0)
            rc = fail(r, OKNO_ECONFIG, "kafka.%s = %s: the relay fixes it to %s", req[2 * i], got,
                      req[2 * i + 1]);
    }
    rd_kafka_conf_destroy(plain);
    rd_kafka_conf_destroy(topic);
    rd_kafka_conf_destroy(want);
    return rc;
}

/* A librdkafka conf with the deployment's properties, then the required ones. */
static rd_kafka_conf_t *producer_conf(okno_relay *r)
{
    char err[256], bufs[2][24];
    const char *req[2 * REQUIRED_KEY_COUNT];
    size_t nreq = required_props(r, bufs, req);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = r->cfg.kafka_conf(conf, r->cfg.kafka_conf_arg, err, sizeof err);
    if (rc != 0)
        fail(r, OKNO_ECONFIG, "%s", err);
    else
        rc = check_not_overridden(r, conf, req, nreq);
    for (size_t i = 0; i < nreq && rc == 0; i++)
        if (rd_kafka_conf_set(conf, req[2 * i], req[2 * i + 1], err, sizeof err) !=
            RD_KAFKA_CONF_OK)
            rc = fail(r, OKNO_ECONFIG, "kafka.%s: %s", req[2 * i], err);
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int check_config(okno_relay *r)
{
    const okno_relay_config *c = &r->cfg;
    if (c->pg_keywords == NULL || c->pg_values == NULL || c->kafka_conf == NULL)
        return fail(r, OKNO_ECONFIG, "the relay needs PostgreSQL parameters and Kafka settings");
    if (c->events_topic == NULL || c->events_topic[0] == '\0' || c->rejections_topic == NULL ||
        c->rejections_topic[0] == '\0' || c->cursor_prefix == NULL)
        return fail(r, OKNO_ECONFIG, "relay topics must be named");
    if (c->anchor_key != NULL && (!c->anchor_key->has_private || c->checkpoints_topic == NULL ||
                                  c->checkpoints_topic[0] == '\0'))
        return fail(r, OKNO_ECONFIG, "publishing checkpoints needs a private key and a topic");
    if (c->batch_rows < 1 || c->batch_rows > OKNO_RELAY_BATCH_ROWS_MAX)
        return fail(r, OKNO_ECONFIG, "relay.batch_rows must be 1..%d", OKNO_RELAY_BATCH_ROWS_MAX);
    if (c->delivery_timeout_ms < 1 || c->checkpoint_events < 0)
        return fail(r, OKNO_ECONFIG, "relay.delivery_timeout must be positive, checkpoints >= 0");
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
    if (okno_logtail_init(&r->tail, cfg->pg_keywords, cfg->pg_values,
                          "okno.relay:", cfg->cursor_prefix) != OKNO_OK)
        return fail(r, OKNO_ECONFIG, "relay.cursor_prefix is too long");
    stream_init(&r->streams[0], cfg->cursor_prefix, "events", cfg->events_topic, EVENTS_SQL,
                "type");
    stream_init(&r->streams[1], cfg->cursor_prefix, "rejections", cfg->rejections_topic,
                REFUSALS_SQL, "reason_code");
    snprintf(r->anchor_cursor_name, sizeof r->anchor_cursor_name, "%scheckpoints",
             cfg->cursor_prefix);
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
        okno_log_warn("kafka error", OKNO_LOG_STR("reason", reason));
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
    r->producer = okno_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (r->producer == NULL)
        return fail(r, OKNO_EKAFKA, "cannot create the producer: %s", err);
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
    okno_logtail_stop(&r->tail);
    for (int i = 0; i < OKNO_RELAY_STREAMS; i++)
        r->streams[i].cursor_loaded = false;
    r->anchor_cursor_loaded = false;
}

static int pg_failed(okno_relay *r, const char *what, const PGresult *res)
{
    okno_pg_error(r->error, sizeof r->error, what, res, r->tail.conn);
    if (PQstatus(r->tail.conn) != CONNECTION_OK)
        pg_stop(r);
    return OKNO_EPG;
}

/* Runs a text-parameter statement; NULL (r->error set) unless it returned `want`. */
static PGresult *query(okno_relay *r, const char *what, const char *sql, int n,
                       const char *const *params, ExecStatusType want)
{
    PGresult *res = PQexecParams(r->tail.conn, sql, n, NULL, params, NULL, NULL, 0);
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
    okno_log_cursor_init(&s->cursor);
    if (PQntuples(res) == 1) {
        snprintf(s->cursor.tx, sizeof s->cursor.tx, "%s", PQgetvalue(res, 0, 0));
        s->cursor.position = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    s->cursor_loaded = true;
    PQclear(res);
    return OKNO_OK;
}

/* Writes the relay_cursors row `name`. */
static int write_cursor(okno_relay *r, const char *name, const char *tx, int64_t position)
{
    char pos[24];
    snprintf(pos, sizeof pos, "%" PRId64, position);
    const char *params[3] = {name, tx, pos};
    PGresult *res = query(r, "store cursor",
                          "insert into okno.relay_cursors (stream, tx, position)"
                          " values ($1, $2::xid8, $3::int8) on conflict (stream) do update"
                          " set tx = excluded.tx, position = excluded.position, updated_at = now()",
                          3, params, PGRES_COMMAND_OK);
    if (res == NULL)
        return OKNO_EPG;
    PQclear(res);
    return OKNO_OK;
}

/* Stores the cursor of the batch's last row, res row `last`. */
static int store_cursor(okno_relay *r, okno__relay_stream *s, const PGresult *rows, int last)
{
    okno_log_cursor next = s->cursor;
    okno_log_cursor_set_row(&next, rows, last, 4, 5);
    int rc = write_cursor(r, s->cursor_name, next.tx, next.position);
    if (rc == OKNO_OK)
        s->cursor = next;
    return rc;
}

/* The anchor cursor is a relay_cursors row like the streams': its position is the number of the
 * last checkpoint whose publication Kafka confirmed (tx unused, 0). Loading it means a new
 * leader: whatever a crash left unpublished is published at this step. */
static int load_anchor_cursor(okno_relay *r)
{
    const char *params[1] = {r->anchor_cursor_name};
    PGresult *res = query(r, "load checkpoint cursor",
                          "select position from okno.relay_cursors where stream = $1", 1, params,
                          PGRES_TUPLES_OK);
    if (res == NULL)
        return OKNO_EPG;
    r->anchored_no = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    r->anchor_cursor_loaded = true;
    r->anchors_due = true;
    return OKNO_OK;
}

/* Connects, becomes the active relay of its prefix (the log tail's leader lock) and loads the
 * cursors. */
static int pg_start(okno_relay *r)
{
    int rc = okno_logtail_start(&r->tail, r->error, sizeof r->error);
    if (rc == OKNO_ECONFLICT)
        return fail(r, OKNO_ECONFLICT, "another relay with cursor prefix '%s' is active",
                    r->cfg.cursor_prefix);
    if (rc != OKNO_OK) {
        pg_stop(r);
        return rc;
    }
    for (int i = 0; i < OKNO_RELAY_STREAMS; i++)
        if (!r->streams[i].cursor_loaded) {
            rc = load_cursor(r, &r->streams[i]);
            if (rc != 0)
                return rc;
        }
    if (r->cfg.anchor_key != NULL && !r->anchor_cursor_loaded)
        return load_anchor_cursor(r);
    return OKNO_OK;
}

/* Produces row i as okno publishes a log row (okno/kafka.h): the value is the stored body, not
 * copied, since the result outlives every delivery report. */
static rd_kafka_resp_err_t produce_row(okno_relay *r, const okno__relay_stream *s,
                                       const PGresult *res, int i)
{
    return okno_kafka_produce_log_row(r->producer, s->topic, (const uint8_t *)PQgetvalue(res, i, 0),
                                      okno_pgbin_get_i32(PQgetvalue(res, i, 1)), s->label_header,
                                      PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2),
                                      PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3), NULL);
}

static bool stopping(const okno_relay *r)
{
    return r->cfg.stopping != NULL && r->cfg.stopping(r->cfg.stopping_arg);
}

static int produce_rows(okno_relay *r, const okno__relay_stream *s, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        rd_kafka_resp_err_t err;
        while ((err = produce_row(r, s, res, i)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (stopping(r) || r->fatal)
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
static int await_deliveries(okno_relay *r)
{
    while (r->in_flight > 0 && !r->fatal) {
        if (stopping(r))
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

static int relay_stream(okno_relay *r, okno__relay_stream *s, size_t *published)
{
    PGresult *res = okno_logtail_read(r->tail.conn, s->select_sql, &s->cursor, r->cfg.batch_rows);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = pg_failed(r, s->cursor_name, res);
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res);
    r->failed = 0;
    int rc = produce_rows(r, s, res);
    if (rc == 0)
        rc = await_deliveries(r);
    if (rc != 0)
        producer_stop(r); /* before the rows it may still point at are freed */
    if (rc == 0 && n > 0)
        rc = store_cursor(r, s, res, n - 1);
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
    r->anchors_due = true; /* this relay or another writer may have written some */
    int rc = okno_eventlog_checkpoint(r->tail.conn, every, CHECKPOINTS_PER_STEP_MAX, &written, err,
                                      sizeof err);
    if (rc != 0) {
        fail(r, rc, "checkpoint: %s", err);
        if (PQstatus(r->tail.conn) != CONNECTION_OK)
            pg_stop(r);
        return rc;
    }
    r->stats.checkpoints += (uint64_t)written;
    /* A full step's worth means more may be due: try again next step. */
    r->events_since_checkpoint = written == CHECKPOINTS_PER_STEP_MAX ? every : 0;
    return OKNO_OK;
}

/* The checkpoint of row i (binary columns of ANCHORS_SQL), signed, into rec. */
static int sign_row(okno_relay *r, const PGresult *res, int i,
                    uint8_t rec[OKNO_ANCHOR_RECORD_BYTES])
{
    okno_anchor a = {
        .checkpoint_no = okno_pgbin_get_i64(PQgetvalue(res, i, 0)),
        .through_tx = strtoull(PQgetvalue(res, i, 1), NULL, 10),
        .through_position = okno_pgbin_get_i64(PQgetvalue(res, i, 2)),
        .events = okno_pgbin_get_i64(PQgetvalue(res, i, 3)),
        .total_events = okno_pgbin_get_i64(PQgetvalue(res, i, 4)),
    };
    if (PQgetlength(res, i, 5) != OKNO_EVENTLOG_HASH_BYTES)
        return fail(r, OKNO_EINVAL, "checkpoint %" PRId64 ": digest of %d bytes", a.checkpoint_no,
                    PQgetlength(res, i, 5));
    memcpy(a.digest, PQgetvalue(res, i, 5), OKNO_EVENTLOG_HASH_BYTES);
    if (okno_anchor_sign(r->cfg.anchor_key, &a, rec) != OKNO_OK)
        return fail(r, OKNO_EINVAL, "cannot sign checkpoint %" PRId64, a.checkpoint_no);
    return OKNO_OK;
}

/* Produces the signed checkpoint of row i to partition 0 (one ordered sequence), key = its
 * number in decimal. The record is copied: rec is the caller's stack. */
static int produce_anchor(okno_relay *r, const PGresult *res, int i)
{
    uint8_t rec[OKNO_ANCHOR_RECORD_BYTES];
    int rc = sign_row(r, res, i, rec);
    if (rc != 0)
        return rc;
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, okno_pgbin_get_i64(PQgetvalue(res, i, 0)));
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->cfg.checkpoints_topic),
                                    RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, strlen(key)),
                                    RD_KAFKA_V_VALUE(rec, sizeof rec),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        if (stopping(r) || r->fatal)
            return fail(r, OKNO_ETIMEDOUT, "stopped while the producer queue was full");
        rd_kafka_poll(r->producer, QUEUE_FULL_WAIT_MS);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return fail(r, OKNO_EKAFKA, "produce to %s: %s", r->cfg.checkpoints_topic,
                    rd_kafka_err2str(err));
    r->in_flight++;
    return OKNO_OK;
}

/* Signs and publishes the checkpoints after the anchor cursor, waits for every delivery, then
 * moves the cursor. A crash after a checkpoint's commit and before its publication leaves the
 * cursor behind it, so the next leader publishes it; a crash after the publication and before
 * the cursor moved publishes it again, as the same bytes (Ed25519 signatures are
 * deterministic), which readers take as one. */
static int publish_anchors(okno_relay *r)
{
    if (r->cfg.anchor_key == NULL || !r->anchors_due)
        return OKNO_OK;
    char after[24], limit[16];
    snprintf(after, sizeof after, "%" PRId64, r->anchored_no);
    snprintf(limit, sizeof limit, "%d", OKNO_RELAY_ANCHORS_PER_STEP);
    const char *params[2] = {after, limit};
    PGresult *res = PQexecParams(r->tail.conn,
                                 "select checkpoint_no, through_tx::text, through_position, events,"
                                 " total_events, digest from okno.log_checkpoints"
                                 " where checkpoint_no > $1::int8 order by checkpoint_no"
                                 " limit $2::int",
                                 2, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = pg_failed(r, "unpublished checkpoints", res);
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res), rc = OKNO_OK;
    r->failed = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = produce_anchor(r, res, i);
    if (rc == 0)
        rc = await_deliveries(r);
    if (rc != 0)
        producer_stop(r);
    if (rc == 0 && n > 0)
        rc = write_cursor(r, r->anchor_cursor_name, "0",
                          okno_pgbin_get_i64(PQgetvalue(res, n - 1, 0)));
    if (rc == 0 && n > 0)
        r->anchored_no = okno_pgbin_get_i64(PQgetvalue(res, n - 1, 0));
    if (rc == 0) {
        r->stats.anchors += (uint64_t)n;
        r->anchors_due = n == OKNO_RELAY_ANCHORS_PER_STEP; /* more may wait */
    }
    PQclear(res);
    return rc;
}

int okno_relay_step(okno_relay *r, size_t *published)
{
    *published = 0;
    r->stats.steps++;
    int rc = pg_start(r);
    if (rc == 0)
        rc = producer_start(r);
    for (int i = 0; rc == 0 && i < OKNO_RELAY_STREAMS; i++)
        rc = relay_stream(r, &r->streams[i], published);
    if (rc == 0)
        rc = maybe_checkpoint(r);
    if (rc == 0)
        rc = publish_anchors(r);
    return rc;
}

void okno_relay_close(okno_relay *r)
{
    producer_stop(r);
    pg_stop(r);
}
