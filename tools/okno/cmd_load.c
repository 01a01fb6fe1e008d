/* `okno load`: produces a generated workload of transition requests to Kafka and prints what
 * the ledger must record for it, as one JSON object on the last line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "okno/avro.h"
#include "okno/kafka.h"
#include "okno/pg.h"
#include "okno/pg_directory.h"
#include "okno/uuid.h"
#include "workload.h"

/* Bytes of one encoded request; the schema's record cap. */
#define LOAD_RECORD_BYTES_MAX OKNO_AVRO_RECORD_BYTES_MAX
/* Longest wait for the last deliveries, in milliseconds. */
#define LOAD_FLUSH_MS 60000

typedef struct load_args {
    okno_workload_options w;
    const char *bootstrap, *pg, *topic;
    const char *expect_ids; /* file for each request id's predicted events, or NULL */
    int64_t rate;           /* records a second; 0: as fast as possible */
    int64_t warmup_ms;      /* produced at the rate before the measured window begins */
} load_args;

/* The producer's delivery reports: the warm-up lasts until the first record is acknowledged. */
typedef struct load_deliveries {
    int64_t acked, failed;
} load_deliveries;

/* Where the measured window began: the first record produced after the warm-up. */
typedef struct load_window {
    int64_t start_ms, warmup_records;
} load_window;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void load_usage(FILE *out)
{
    fprintf(
        out,
        "usage: okno load [--via kafka] [--messages N] [--rate PER_S] [--seed S] "
        "[--invalid-permille P]\n"
        "                 [--malformed-permille P] [--repeat-permille P] [--topic T]\n"
        "                 [--warmup SECONDS]\n"
        "                 [--bootstrap HOST:PORT] [--pg CONNINFO] [--expect-ids FILE]\n"
        "  Produces whole message lives over the demo directory (deploy/local/demo_directory.sql)\n"
        "  to okno.transitions.v1 and prints the expected ledger outcome as JSON.\n"
        "  --expect-ids  writes one line per distinct request id produced: the id, a tab and\n"
        "                the events the ledger must append for it (0: refused)\n"
        "  --warmup      produce at the rate for this long (and until Kafka acknowledged a\n"
        "                record) before the measured window; prints {\"window_start_ms\":T,\n"
        "                \"warmup_records\":N} on a line of its own when the window begins, so a\n"
        "                latency measurement leaves out the producer's start-up (the idempotent\n"
        "                producer's id takes librdkafka about 500 ms)\n"
        "  defaults: 1000 messages, unlimited rate, invalid 100, malformed 5, repeat 10 permille,\n"
        "  $OKNO_KAFKA_BOOTSTRAP, $OKNO_PG_CONNINFO\n"
        "  okno load --via gateway: simulated people through the HTTP API instead (see\n"
        "  okno load --via gateway --help).\n");
}

static int parse_args(int argc, char **argv, load_args *a)
{
    static const struct option opts[] = {
        {"messages", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"invalid-permille", required_argument, NULL, 'i'},
        {"malformed-permille", required_argument, NULL, 'm'},
        {"repeat-permille", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"pg", required_argument, NULL, 'g'},
        {"via", required_argument, NULL, 'v'},
        {"expect-ids", required_argument, NULL, 'e'},
        {"warmup", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int64_t v;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        int rc = 0;
        switch (c) {
        case 'n':
            rc = okno_cli_parse_i64(optarg, 1, 100000000, &a->w.messages);
            break;
        case 'r':
            rc = okno_cli_parse_i64(optarg, 0, 10000000, &a->rate);
            break;
        case 's':
            rc = okno_cli_parse_i64(optarg, 1, INT64_MAX, &v);
            a->w.seed = (uint64_t)v;
            break;
        case 'i':
            rc = okno_cli_parse_i64(optarg, 0, 1000, &v);
            a->w.invalid_permille = (int32_t)v;
            break;
        case 'm':
            rc = okno_cli_parse_i64(optarg, 0, 1000, &v);
            a->w.malformed_permille = (int32_t)v;
            break;
        case 'p':
            rc = okno_cli_parse_i64(optarg, 0, 1000, &v);
            a->w.repeat_permille = (int32_t)v;
            break;
        case 't':
            a->topic = optarg;
            break;
        case 'b':
            a->bootstrap = optarg;
            break;
        case 'g':
            a->pg = optarg;
            break;
        case 'v':
            rc = strcmp(optarg, "kafka") == 0 ? 0 : -1;
            break;
        case 'e':
            a->expect_ids = optarg;
            break;
        case 'w':
            rc = okno_cli_parse_i64(optarg, 0, 3600, &v);
            a->warmup_ms = v * 1000;
            break;
        case 'h':
            load_usage(stdout);
            return 1;
        default:
            load_usage(stderr);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    load_deliveries *d = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        d->acked++;
    else
        d->failed++;
}

static rd_kafka_t *producer_new(const char *bootstrap, load_deliveries *d)
{
    /* Keyed by message id with the partitioning settings of every okno producer
     * (okno_kafka_producer_conf), so a message's requests and SLA signals land on the same
     * partition number. */
    static const char *const props[][2] = {
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "1000000"},
    };
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) != 0)
        goto fail;
    if (okno_kafka_producer_conf(conf, NULL, props, sizeof props / sizeof props[0], err,
                                 sizeof err) != 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_t *p = okno_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (p == NULL)
        fprintf(stderr, "okno load: %s\n", err);
    return p;
fail:
    fprintf(stderr, "okno load: %s\n", err);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static int encode_record(const okno_workload_record *rec, uint8_t *buf, size_t *len, int64_t at_ms,
                         uint64_t *rng)
{
    if (rec->malformed) {
        /* Garbage behind a valid marker and fingerprint is the hardest kind: it reaches the
         * body validator. A random prefix of bytes otherwise. */
        okno_avro_transition t = {.request = rec->req};
        t.request.requested_at_ms = at_ms;
        t.request.action = OKNO_ACTION_SUBMIT;
        size_t full;
        if (okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, LOAD_RECORD_BYTES_MAX, &full, NULL))
            full = 16;
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t cut = OKNO_AVRO_HEADER_BYTES + (size_t)(*rng >> 33) % 3;
        for (size_t i = cut; i < cut + 8 && i < full; i++)
            buf[i] = 0xff;
        *len = cut + 8;
        return 0;
    }
    okno_avro_transition t = {.request = rec->req};
    t.request.requested_at_ms = at_ms;
    okno_avro_error err = {0};
    int rc = okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, LOAD_RECORD_BYTES_MAX, len, &err);
    if (rc != 0)
        fprintf(stderr, "okno load: cannot encode %s: %s\n", okno_action_name(rec->req.action),
                err.reason);
    return rc;
}

/* One line of --expect-ids for a request decided for the first time. */
static int write_expect_id(FILE *ids, const okno_workload_record *rec)
{
    if (ids == NULL || rec->malformed || rec->repeat)
        return 0;
    char id[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&rec->req.request_id, id);
    if (fprintf(ids, "%.36s\t%d\n", id, (int)rec->events) < 0) {
        perror("okno load: --expect-ids");
        return -1;
    }
    return 0;
}

/* The window begins with the first record after the warm-up, once Kafka has acknowledged one. */
static void window_check(const load_args *a, const load_deliveries *d, int64_t start,
                         int64_t records, load_window *win)
{
    if (win->start_ms > 0 || now_ms() - start < a->warmup_ms || d->acked == 0)
        return;
    win->start_ms = now_ms();
    win->warmup_records = records;
    printf("{\"window_start_ms\":%lld,\"warmup_records\":%lld}\n", (long long)win->start_ms,
           (long long)records);
    fflush(stdout);
}

static int produce_all(load_args *a, okno_workload *w, rd_kafka_t *p, const load_deliveries *d,
                       FILE *ids, int64_t *records, load_window *win)
{
    static uint8_t buf[LOAD_RECORD_BYTES_MAX];
    uint64_t rng = a->w.seed;
    int64_t start = now_ms();
    okno_workload_record *rec;
    while (okno_workload_next(w, now_ms(), &rec)) {
        if (a->warmup_ms > 0)
            window_check(a, d, start, *records, win);
        size_t len;
        if (encode_record(rec, buf, &len, now_ms(), &rng) != 0 || write_expect_id(ids, rec) != 0)
            return -1;
        char key[OKNO_UUID_TEXT_BYTES];
        okno_uuid_format(&rec->req.message_id, key);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(a->topic), RD_KAFKA_V_KEY(key, 36),
                                      RD_KAFKA_V_VALUE(buf, len),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "okno load: produce failed: %s\n", rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(p, 0);
        (*records)++;
        if (a->rate > 0) {
            int64_t due = start + *records * 1000 / a->rate;
            while (now_ms() < due) {
                rd_kafka_poll(p, (int)(due - now_ms()));
            }
        }
    }
    if (rd_kafka_flush(p, LOAD_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "okno load: not every record was delivered within %d ms\n", LOAD_FLUSH_MS);
        return -1;
    }
    if (d->failed > 0) {
        fprintf(stderr, "okno load: %lld records were not delivered\n", (long long)d->failed);
        return -1;
    }
    return 0;
}

static void print_expect(const okno_workload_expect *x, int64_t records, int64_t ms,
                         const load_window *win)
{
    printf("{\"records\":%lld,\"requests\":%lld,\"expected_accepted\":%lld,"
           "\"expected_refused\":%lld,\"expected_events\":%lld,\"malformed\":%lld,"
           "\"repeats\":%lld,\"seconds\":%.3f,\"records_per_s\":%.0f,"
           "\"window_start_ms\":%lld,\"warmup_records\":%lld}\n",
           (long long)records, (long long)x->requests, (long long)x->accepted,
           (long long)x->refused, (long long)x->events, (long long)x->malformed,
           (long long)x->repeats, ms / 1000.0, ms > 0 ? records * 1000.0 / ms : 0.0,
           (long long)win->start_ms, (long long)win->warmup_records);
}

/* --via gateway (anywhere among the arguments) hands the command to the simulated people. */
static bool via_gateway(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if ((strcmp(argv[i], "--via") == 0 && i + 1 < argc &&
             strcmp(argv[i + 1], "gateway") == 0) ||
            strcmp(argv[i], "--via=gateway") == 0)
            return true;
    return false;
}

int okno_cli_load(int argc, char **argv)
{
    if (via_gateway(argc, argv))
        return okno_cli_load_via_gateway(argc, argv);
    load_args a = {
        .w = {.seed = (uint64_t)now_ms(),
              .messages = 1000,
              .invalid_permille = 100,
              .malformed_permille = 5,
              .repeat_permille = 10},
        .bootstrap = okno_cli_env("OKNO_KAFKA_BOOTSTRAP", NULL),
        .pg = okno_cli_env("OKNO_PG_CONNINFO", NULL),
        .topic = OKNO_TOPIC_TRANSITIONS,
    };
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc > 0 ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
    if (a.bootstrap == NULL || a.pg == NULL) {
        fprintf(stderr, "okno load: name Kafka and PostgreSQL (--bootstrap, --pg or the "
                        "OKNO_KAFKA_BOOTSTRAP and OKNO_PG_CONNINFO variables)\n");
        return OKNO_EXIT_USAGE;
    }
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    okno_pg_directory dir = {0};
    if (okno_pg_connect(a.pg, &conn, err, sizeof err) != 0 ||
        okno_pg_directory_load(conn, &dir, err, sizeof err) != 0) {
        fprintf(stderr, "okno load: %s\n", err);
        okno_pg_directory_free(&dir);
        return OKNO_EXIT_FAILURE;
    }
    PQfinish(conn);
    okno_workload *w = okno_workload_new(&dir.dir, &a.w);
    FILE *ids = NULL;
    if (a.expect_ids != NULL && (ids = fopen(a.expect_ids, "w")) == NULL) {
        fprintf(stderr, "okno load: cannot write %s: %s\n", a.expect_ids, strerror(errno));
        okno_workload_free(w);
        okno_pg_directory_free(&dir);
        return OKNO_EXIT_FAILURE;
    }
    load_deliveries deliveries = {0};
    load_window win = {0};
    rd_kafka_t *p = w ? producer_new(a.bootstrap, &deliveries) : NULL;
    okno_avro_error aerr = {0};
    int64_t records = 0, start = now_ms();
    if (w == NULL)
        fprintf(stderr, "okno load: the directory lacks the demo shape; load "
                        "deploy/local/demo_directory.sql first\n");
    else if (p != NULL && okno_avro_init(&aerr) != 0)
        fprintf(stderr, "okno load: %s\n", aerr.reason);
    else if (p != NULL && produce_all(&a, w, p, &deliveries, ids, &records, &win) == 0)
        rc = 1;
    if (rc == 1 && a.warmup_ms > 0 && win.start_ms == 0) {
        fprintf(stderr, "okno load: every record went out within the warm-up; give more "
                        "--messages or a shorter --warmup\n");
        rc = 0;
    }
    if (ids != NULL && fclose(ids) != 0) {
        perror("okno load: --expect-ids");
        rc = 0;
    }
    if (rc == 1)
        print_expect(okno_workload_expected(w), records, now_ms() - start, &win);
    if (p != NULL)
        rd_kafka_destroy(p);
    okno_workload_free(w);
    okno_pg_directory_free(&dir);
    okno_avro_close(); /* also frees this thread's encoder state, so LeakSanitizer stays quiet */
    return rc == 1 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}
