/* `okno republish`: publishes the event log again, from a position or a time up to the log's
 * horizon, in log order, to a topic of the caller's choosing, for a consumer that joins late
 * (a new analytics pipeline, a rebuilt warehouse). Each record is produced exactly as the relay
 * produced the original on okno.events.v1 (okno_kafka_produce_log_row: the same key, value
 * bytes and headers) by a producer with every okno producer's partitioning settings, so it
 * lands on the same partition number, and within a partition in the original order. It reads
 * the log with the log tail's horizon rule, so it never skips a row that commits late, and
 * writes nothing to PostgreSQL. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "okno/kafka.h"
#include "okno/logtail.h"
#include "okno/pg.h"
#include "okno/pgbin.h"

/* Rows read, produced and confirmed at a time. */
#define REPUBLISH_BATCH_ROWS 5000
/* How long one batch's deliveries may take, in milliseconds. */
#define REPUBLISH_FLUSH_MS 120000

static const char EVENTS_SQL[] = "select message_id, seq, event_type, body, tx::text as tx_text, "
                                 "position from okno.event_log" OKNO_LOGTAIL_BELOW_HORIZON;

static void republish_usage(FILE *out)
{
    fprintf(out,
            "usage: okno republish --from POSITION|TIME --topic T [--bootstrap HOST:PORT]\n"
            "                      [--pg CONNINFO]\n"
            "  Publishes the event log again, in log order, from the event at log position\n"
            "  POSITION (0: the whole log) or from the first event in log order that occurred\n"
            "  at or after TIME (any PostgreSQL timestamptz, e.g. 2026-01-31T00:00:00Z), up to\n"
            "  the log's end, to topic T, with the same keys, bytes and headers as\n"
            "  okno.events.v1. Prints a JSON summary. The topic should have okno.events.v1's\n"
            "  partition count, so that each message keeps its partition number.\n"
            "  defaults: $OKNO_KAFKA_BOOTSTRAP, $OKNO_PG_CONNINFO\n");
}

typedef struct republish {
    PGconn *conn;
    rd_kafka_t *producer;
    const char *topic;
    long long failed;
    char first_error[256];
} republish;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    republish *r = opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && r->failed++ == 0)
        snprintf(r->first_error, sizeof r->first_error, "%s", rd_kafka_err2str(m->err));
}

static int producer_open(republish *r, const char *bootstrap)
{
    char err[512];
    const char *const extra[][2] = {
        {"bootstrap.servers", bootstrap},
        {"linger.ms", "5"},
        {"max.in.flight.requests.per.connection", "5"},
        {"enable.gapless.guarantee", "true"}, /* a gap would break the order: fail instead */
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (okno_kafka_producer_conf(conf, NULL, extra, sizeof extra / sizeof extra[0], err,
                                 sizeof err) != 0) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "okno republish: %s\n", err);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, r);
    r->producer = okno_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (r->producer == NULL) {
        fprintf(stderr, "okno republish: cannot create the producer: %s\n", err);
        return -1;
    }
    return 0;
}

/* A single-value query with one text parameter; the value (malloc'ed), or NULL when there is
 * no row (*failed false) or the query failed (*failed true, the reason printed). */
static char *query_one(PGconn *conn, const char *sql, const char *param, bool *failed)
{
    const char *params[1] = {param};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    *failed = PQresultStatus(res) != PGRES_TUPLES_OK;
    if (*failed)
        fprintf(stderr, "okno republish: %s", PQresultErrorMessage(res));
    char *v = !*failed && PQntuples(res) == 1 ? strdup(PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    return v;
}

/* The cursor just before the first row to publish: before the row at log position `from`, or
 * before the first row in log order that occurred at or after the time `from`. 0, or -1 with
 * the reason on stderr. */
static int start_cursor(PGconn *conn, const char *from, okno_log_cursor *c)
{
    okno_log_cursor_init(c);
    char *end = NULL;
    long long position = strtoll(from, &end, 10);
    bool is_position = end != from && *end == '\0';
    if (is_position && position < 0) {
        fprintf(stderr, "okno republish: --from %s: a log position is 0 or more\n", from);
        return -1;
    }
    if (is_position && position == 0)
        return 0; /* the whole log */
    bool failed;
    char *row = is_position
                    ? query_one(conn,
                                "select tx::text || ' ' || position from okno.event_log"
                                " where position = $1::int8",
                                from, &failed)
                    : query_one(conn,
                                "select tx::text || ' ' || position from okno.event_log"
                                " where occurred_at >= $1::timestamptz order by tx, position"
                                " limit 1",
                                from, &failed);
    if (failed)
        return -1;
    if (row == NULL) {
        fprintf(stderr, "okno republish: --from %s: %s\n", from,
                is_position ? "no event has this log position"
                            : "no event occurred at or after this time");
        return -1;
    }
    long long tx, pos;
    int fields = sscanf(row, "%lld %lld", &tx, &pos);
    free(row);
    if (fields != 2)
        return -1;
    /* Rows after (tx, pos - 1) in log order: this row, and every one after it. */
    snprintf(c->tx, sizeof c->tx, "%lld", tx);
    c->position = pos - 1;
    return 0;
}

/* Produces one batch of rows and waits until the broker confirmed every one. */
static int publish_batch(republish *r, const PGresult *res)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        rd_kafka_resp_err_t e;
        while ((e = okno_kafka_produce_log_row(
                    r->producer, r->topic, (const uint8_t *)PQgetvalue(res, i, 0),
                    okno_pgbin_get_i32(PQgetvalue(res, i, 1)), "type", PQgetvalue(res, i, 2),
                    (size_t)PQgetlength(res, i, 2), PQgetvalue(res, i, 3),
                    (size_t)PQgetlength(res, i, 3), NULL)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(r->producer, 100);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "okno republish: cannot produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
    }
    if (rd_kafka_flush(r->producer, REPUBLISH_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        r->failed > 0) {
        fprintf(stderr, "okno republish: %lld deliveries failed (%s)\n", r->failed,
                r->failed ? r->first_error : "timed out");
        return -1;
    }
    return 0;
}

int okno_cli_republish(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"pg", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *topic = NULL;
    const char *bootstrap = okno_cli_env("OKNO_KAFKA_BOOTSTRAP", NULL);
    const char *conninfo = okno_cli_env("OKNO_PG_CONNINFO", NULL);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'b':
            bootstrap = optarg;
            break;
        case 'p':
            conninfo = optarg;
            break;
        case 'h':
            republish_usage(stdout);
            return OKNO_EXIT_OK;
        default:
            republish_usage(stderr);
            return OKNO_EXIT_USAGE;
        }
    }
    if (from == NULL || topic == NULL || topic[0] == '\0' || optind != argc) {
        fprintf(stderr, "okno republish: --from and --topic are required\n");
        republish_usage(stderr);
        return OKNO_EXIT_USAGE;
    }
    if (bootstrap == NULL || conninfo == NULL) {
        fprintf(stderr, "okno republish: give --bootstrap and --pg (or the OKNO_KAFKA_BOOTSTRAP "
                        "and OKNO_PG_CONNINFO variables)\n");
        republish_usage(stderr);
        return OKNO_EXIT_USAGE;
    }
    republish r = {.topic = topic};
    r.conn = PQconnectdb(conninfo);
    if (PQstatus(r.conn) != CONNECTION_OK) {
        fprintf(stderr, "okno republish: cannot connect to PostgreSQL: %s", PQerrorMessage(r.conn));
        PQfinish(r.conn);
        return OKNO_EXIT_FAILURE;
    }
    okno_log_cursor cursor;
    int rc = start_cursor(r.conn, from, &cursor);
    if (rc == 0)
        rc = producer_open(&r, bootstrap);
    long long records = 0;
    char first[48] = "", last[48] = "";
    while (rc == 0) {
        PGresult *res = okno_logtail_read(r.conn, EVENTS_SQL, &cursor, REPUBLISH_BATCH_ROWS);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "okno republish: reading the log: %s", PQresultErrorMessage(res));
            rc = -1;
        } else if (PQntuples(res) == 0) {
            PQclear(res);
            break; /* the log's horizon: every row that had ended when the reading began */
        } else {
            rc = publish_batch(&r, res);
        }
        if (rc == 0) {
            int n = PQntuples(res);
            okno_log_cursor_set_row(&cursor, res, n - 1, 4, 5);
            if (records == 0)
                snprintf(first, sizeof first, "%" PRId64,
                         okno_pgbin_get_i64(PQgetvalue(res, 0, 5)));
            snprintf(last, sizeof last, "%" PRId64, cursor.position);
            records += n;
        }
        PQclear(res);
    }
    if (r.producer != NULL)
        rd_kafka_destroy(r.producer);
    PQfinish(r.conn);
    if (rc != 0) {
        fprintf(stderr, "okno republish: stopped after %lld records%s%s\n", records,
                records ? ", the last at log position " : "", last);
        return OKNO_EXIT_FAILURE;
    }
    printf("{\"topic\":\"%s\",\"records\":%lld,\"first_position\":%s,\"last_position\":%s}\n",
           topic, records, records ? first : "null", records ? last : "null");
    return OKNO_EXIT_OK;
}
