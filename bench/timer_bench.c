/* bench_timer: the timer's figures (bench/timer.sh runs it and the service together).
 *   bench_timer memory N          N open messages, one armed deadline each, in one process:
 *                                 whole-process RSS; then re-arms, folded events and expiries
 *                                 a second on that book
 *   bench_timer heads CONNINFO N  writes N stream heads of open messages into okno.stream_heads
 *                                 (one COPY), for the service's rebuild to read
 *   bench_timer lateness BOOTSTRAP EVENTS_TOPIC SLA_TOPIC RATE SECONDS
 *                                 produces RATE submitted-message events a second to the
 *                                 timer's input, each with a deadline falling due during the
 *                                 run, and reads the signals back: how late each came
 *   bench_timer topics BOOTSTRAP create|delete PARTITIONS NAME...
 * Each mode prints one JSON object. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "okno/avro.h"
#include "okno/error.h"
#include "okno/random.h"
#include "okno/kafka.h"
#include "okno/sla.h"
#include "okno/uuid.h"
#include "tracker.h"

#define OPERATOR_ORG   1
#define COPY_BUF_BYTES (4 << 20) /* bytes sent to PostgreSQL per PQputCopyData */
#define LATE_MAX       2000000   /* signals the lateness run keeps */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    return okno_random_next(&rng);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return (double)kib / 1024.0;
}

static okno_uuid random_id(void)
{
    okno_uuid u;
    uint64_t a = rnd(), b = rnd();
    memcpy(u.bytes, &a, 8);
    memcpy(u.bytes + 8, &b, 8);
    u.bytes[6] = (uint8_t)((u.bytes[6] & 0x0f) | 0x40);
    u.bytes[8] = (uint8_t)((u.bytes[8] & 0x3f) | 0x80);
    return u;
}

/* A message's submission as the core records it. */
static okno_event submitted(const okno_uuid *id, int64_t at_ms, int32_t days)
{
    return (okno_event){
        .seq = 1,
        .message_id = *id,
        .request_id = *id,
        .type = OKNO_EVENT_MESSAGE_SUBMITTED,
        .at_ms = at_ms,
        .actor_user_id = 1000000,
        .holding_org_after = OPERATOR_ORG,
        .stage_before = OKNO_STAGE_NONE,
        .stage_after = OKNO_STAGE_MODERATION,
        .answer_deadline_ms = at_ms + okno_sla_total_ms(days),
        .total_days = days,
        .category_id = 1,
        .applicant_id = 1000000,
        .channel = OKNO_CHANNEL_PORTAL,
    };
}

/* Its acceptance into an org (moderation -> coordination). */
static okno_event accepted(const okno_uuid *id, int64_t at_ms, int32_t days, int64_t deadline)
{
    return (okno_event){
        .seq = 2,
        .message_id = *id,
        .request_id = *id,
        .type = OKNO_EVENT_MESSAGE_ACCEPTED,
        .at_ms = at_ms,
        .actor_user_id = 101,
        .actor_org_id = OPERATOR_ORG,
        .holding_org_after = 1010,
        .stage_before = OKNO_STAGE_MODERATION,
        .stage_after = OKNO_STAGE_COORDINATION,
        .target_org_id = 1010,
        .answer_deadline_ms = deadline,
        .total_days = days,
        .category_id = 1,
    };
}

static const int32_t day_choices[] = {10, 15, 30};

/* ---- memory ------------------------------------------------------------------------------- */

static int count_emit(void *arg, const okno_avro_sla_signal *s)
{
    (void)s;
    (*(uint64_t *)arg)++;
    return 0;
}

static int fill(okno_tracker *t, okno_uuid *ids, uint32_t n, int64_t t0)
{
    for (uint32_t i = 0; i < n; i++) {
        ids[i] = random_id();
        okno_event ev = submitted(&ids[i], t0 + (int64_t)(rnd() % 86400000), day_choices[i % 3]);
        okno_tracker_fold what;
        if (okno_tracker_apply(t, &ev, &what) != OKNO_OK || what != OKNO_TRACKER_APPLIED)
            return OKNO_ENOMEM;
    }
    return OKNO_OK;
}

/* Re-arms of random armed deadlines to random times, on the full heap. */
static double rearms_per_s(okno_tracker *t, uint32_t n, int64_t t0)
{
    const uint32_t ops = 5000000;
    double start = mono_s();
    for (uint32_t i = 0; i < ops; i++)
        okno_deadlines_arm(&t->deadlines, (uint32_t)(rnd() % n),
                           t0 + (int64_t)(rnd() % (30 * INT64_C(86400000))));
    return ops / (mono_s() - start);
}

/* Accept events folded into random messages: decode-free cost of one event, re-arm included. */
static double events_per_s(okno_tracker *t, const okno_uuid *ids, uint32_t n, int64_t t0)
{
    uint32_t ops = n < 2000000 ? n : 2000000;
    double start = mono_s();
    for (uint32_t i = 0; i < ops; i++) {
        uint32_t k = (uint32_t)((uint64_t)i * 2654435761u % n); /* distinct, scattered */
        int32_t days = day_choices[k % 3];
        okno_event ev =
            accepted(&ids[k], t0 + 2 * INT64_C(86400000), days, t0 + okno_sla_total_ms(days));
        okno_tracker_fold what;
        okno_tracker_apply(t, &ev, &what);
    }
    return ops / (mono_s() - start);
}

static int bench_memory(uint32_t n)
{
    static okno_tracker t;
    okno_tracker_config cfg = {.approaching_permille = 800, .late_after_ms = 1000};
    okno_avro_init(NULL);
    okno_tracker_init(&t, &cfg);
    okno_uuid *ids = malloc((size_t)n * sizeof *ids);
    int64_t t0 = INT64_C(1800000000000);
    double before = rss_mib(), start = mono_s();
    if (ids == NULL || fill(&t, ids, n, t0) != OKNO_OK) {
        fprintf(stderr, "bench_timer: out of memory\n");
        return 1;
    }
    double fill_s = mono_s() - start;
    /* The ids array is the benchmark's, not the timer's: leave it out of the process figure. */
    double rss = rss_mib() - (double)n * sizeof *ids / (1024.0 * 1024.0);
    double book = (double)okno_tracker_bytes(&t) / (1024.0 * 1024.0);
    uint32_t deadlines = okno_tracker_deadlines(&t);
    double rearm = rearms_per_s(&t, n, t0);
    double events = events_per_s(&t, ids, n, t0);
    uint64_t fired = 0;
    start = mono_s();
    size_t emitted = 0;
    okno_tracker_expire(&t, t0 + 10 * INT64_C(86400000), 1000000, count_emit, &fired, &emitted);
    double expire = (double)emitted / (mono_s() - start);
    printf("{\"deadlines\":%u,\"rss_mib\":%.0f,\"rss_before_mib\":%.0f,\"book_mib\":%.0f,"
           "\"bytes_per_message\":%.1f,\"fill_per_s\":%.0f,\"rearms_per_s\":%.0f,"
           "\"events_per_s\":%.0f,\"expiries_per_s\":%.0f}\n",
           deadlines, rss, before, book, book * 1024 * 1024 / n, n / fill_s, rearm, events, expire);
    free(ids);
    okno_tracker_close(&t);
    return 0;
}

/* ---- heads --------------------------------------------------------------------------------- */

static size_t put_i32(uint8_t *p, int32_t v)
{
    uint32_t be = htonl((uint32_t)v);
    memcpy(p, &be, 4);
    return 4;
}

static size_t put_i16(uint8_t *p, int16_t v)
{
    uint16_t be = htons((uint16_t)v);
    memcpy(p, &be, 2);
    return 2;
}

/* One COPY BINARY tuple: message_id, seq, hash, kafka_partition, state_version, state. */
static size_t head_row(uint8_t *p, const okno_message_state *s, int32_t partition)
{
    static const uint8_t zero_hash[32];
    size_t at = put_i16(p, 6);
    at += put_i32(p + at, 16);
    memcpy(p + at, s->message_id.bytes, 16);
    at += 16;
    at += put_i32(p + at, 4);
    at += put_i32(p + at, (int32_t)s->last_seq);
    at += put_i32(p + at, 32);
    memcpy(p + at, zero_hash, 32);
    at += 32;
    at += put_i32(p + at, 4);
    at += put_i32(p + at, partition);
    at += put_i32(p + at, 2);
    at += put_i16(p + at, 1);
    at += put_i32(p + at, (int32_t)sizeof *s);
    memcpy(p + at, s, sizeof *s);
    return at + sizeof *s;
}

static int copy_heads(PGconn *c, uint32_t n, int partitions)
{
    uint8_t *buf = malloc(COPY_BUF_BYTES);
    static const uint8_t header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0";
    memcpy(buf, header, 19);
    size_t used = 19;
    int64_t now = real_ms();
    for (uint32_t i = 0; i < n; i++) {
        okno_uuid id = random_id();
        okno_event ev = submitted(&id, now - (int64_t)(rnd() % 3600000), day_choices[i % 3]);
        okno_message_state s;
        memset(&s, 0, sizeof s);
        okno_workflow_apply(&s, &ev);
        char key[OKNO_UUID_TEXT_BYTES];
        okno_uuid_format(&id, key);
        int32_t p = rd_kafka_msg_partitioner_murmur2(NULL, key, 36, partitions, NULL, NULL);
        used += head_row(buf + used, &s, p);
        if (used + 1024 > COPY_BUF_BYTES) {
            if (PQputCopyData(c, (const char *)buf, (int)used) != 1)
                return 1;
            used = 0;
        }
    }
    put_i16(buf + used, -1);
    used += 2;
    int ok = PQputCopyData(c, (const char *)buf, (int)used) == 1 && PQputCopyEnd(c, NULL) == 1;
    free(buf);
    PGresult *res = PQgetResult(c);
    ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "bench_timer: copy: %s\n", PQerrorMessage(c));
    PQclear(res);
    return ok ? 0 : 1;
}

static int bench_heads(const char *conninfo, uint32_t n, int partitions)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_timer: %s", PQerrorMessage(c));
        return 1;
    }
    double start = mono_s();
    PGresult *res = PQexec(c, "copy okno.stream_heads (message_id, seq, hash, kafka_partition,"
                              " state_version, state) from stdin (format binary)");
    int rc = PQresultStatus(res) == PGRES_COPY_IN ? copy_heads(c, n, partitions) : 1;
    if (PQresultStatus(res) != PGRES_COPY_IN)
        fprintf(stderr, "bench_timer: %s", PQerrorMessage(c));
    PQclear(res);
    res = PQexec(c, "vacuum analyze okno.stream_heads");
    PQclear(res);
    if (rc == 0)
        printf("{\"heads\":%u,\"write_s\":%.1f}\n", n, mono_s() - start);
    PQfinish(c);
    return rc;
}

/* ---- lateness ------------------------------------------------------------------------------ */

typedef struct late_run {
    rd_kafka_t *producer, *consumer;
    const char *events_topic;
    int64_t expected; /* signals that must come */
    int64_t seen, max_late_ms, late_over_1s;
    int64_t *lateness; /* ms, for the percentile */
} late_run;

/* A submission whose moderation "approaching" falls due `in_ms` from now (1-day category:
 * approaching at 80 % of 1.2 h). */
static void produce_one(late_run *r, int64_t in_ms)
{
    int64_t threshold = okno_sla_share_ms(okno_sla_stage_allotment_ms(1, OKNO_STAGE_MODERATION),
                                          OKNO_APPROACHING_PERMILLE);
    okno_uuid id = random_id();
    okno_event ev = submitted(&id, real_ms() - threshold + in_ms, 1);
    uint8_t buf[1024];
    size_t len;
    if (okno_avro_encode(OKNO_AVRO_EVENTS, &ev, buf, sizeof buf, &len, NULL) != 0)
        return;
    char key[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&id, key);
    while (rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->events_topic),
                             RD_KAFKA_V_KEY(key, 36), RD_KAFKA_V_VALUE(buf, len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(r->producer, 5);
    r->expected++;
}

static void read_signals(late_run *r, int wait_ms)
{
    rd_kafka_message_t *m;
    while ((m = rd_kafka_consumer_poll(r->consumer, wait_ms)) != NULL) {
        okno_avro_sla_signal s;
        if (m->err == 0 &&
            okno_avro_decode_topic(OKNO_AVRO_SLA, m->payload, m->len, &s, NULL) == 0) {
            /* The later of the timer's own stamp and the record's creation time. */
            int64_t created = rd_kafka_message_timestamp(m, NULL);
            int64_t late = (created > s.emitted_ms ? created : s.emitted_ms) - s.due_ms;
            if (r->seen < LATE_MAX)
                r->lateness[r->seen] = late;
            r->seen++;
            r->max_late_ms = late > r->max_late_ms ? late : r->max_late_ms;
            r->late_over_1s += late > 1000;
        }
        rd_kafka_message_destroy(m);
        wait_ms = 0;
    }
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
    } else {
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (rk == NULL)
        fprintf(stderr, "bench_timer: %s\n", err);
    return rk;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void assign_sla(late_run *r, const char *sla_topic)
{
    const rd_kafka_metadata_t *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->consumer, sla_topic, NULL);
    int parts = 1;
    if (rd_kafka_metadata(r->consumer, 0, rkt, &md, 10000) == 0) {
        parts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, sla_topic, p)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(r->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static int bench_lateness(const char *bootstrap, const char *events, const char *sla, int rate,
                          int seconds)
{
    static late_run r;
    okno_avro_init(NULL);
    r.events_topic = events;
    r.producer = client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    r.consumer = client(RD_KAFKA_CONSUMER, bootstrap, "bench-timer-lateness");
    r.lateness = malloc(LATE_MAX * sizeof *r.lateness);
    if (r.producer == NULL || r.consumer == NULL || r.lateness == NULL)
        return 1;
    assign_sla(&r, sla);
    read_signals(&r, 2000); /* positions settle at the end of the topic */
    double start = mono_s();
    int64_t sent = 0;
    /* Each deadline falls due between 2 s after its event is sent and 2 s after the last event
     * is sent, so signals come out all along while events keep arriving at `rate` a second. */
    while (mono_s() - start < seconds) {
        double elapsed = mono_s() - start;
        int64_t due_by = (int64_t)(elapsed * rate);
        uint64_t spread = (uint64_t)((seconds - elapsed) * 1000) + 1;
        for (; sent < due_by; sent++)
            produce_one(&r, 2000 + (int64_t)(rnd() % spread));
        rd_kafka_poll(r.producer, 0);
        read_signals(&r, 1);
    }
    double sent_s = mono_s() - start;
    rd_kafka_flush(r.producer, 10000);
    for (double end = mono_s(); mono_s() - end < 10 && r.seen < r.expected;)
        read_signals(&r, 100);
    int64_t kept = r.seen < LATE_MAX ? r.seen : LATE_MAX;
    qsort(r.lateness, (size_t)kept, sizeof *r.lateness, cmp_i64);
    printf("{\"events_per_s\":%.0f,\"signals_expected\":%lld,\"signals\":%lld,"
           "\"max_lateness_ms\":%lld,\"p99_lateness_ms\":%lld,\"over_1s\":%lld}\n",
           sent / sent_s, (long long)r.expected, (long long)r.seen, (long long)r.max_late_ms,
           (long long)(kept ? r.lateness[kept * 99 / 100] : 0), (long long)r.late_over_1s);
    rd_kafka_consumer_close(r.consumer);
    rd_kafka_destroy(r.consumer);
    rd_kafka_destroy(r.producer);
    free(r.lateness);
    return r.seen == r.expected ? 0 : 1;
}

/* ---- topics -------------------------------------------------------------------------------- */

static int bench_topics(const char *bootstrap, bool create, int partitions, char **names, int n)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    if (create) {
        int created, existing;
        int rc = okno_kafka_create_topics(conf, (const char *const *)names, (size_t)n, partitions,
                                          1, 30000, &created, &existing, err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "bench_timer: %s\n", err);
        return rc != 0;
    }
    /* Each deletion takes a conf of its own over; a failure leaves a topic behind, no more. */
    for (int i = 0; i < n; i++)
        okno_kafka_delete_topic(rd_kafka_conf_dup(conf), names[i], 30000, err, sizeof err);
    rd_kafka_conf_destroy(conf);
    return 0;
}

int main(int argc, char **argv)
{
    rng ^= (uint64_t)real_ms();
    if (argc == 3 && strcmp(argv[1], "memory") == 0)
        return bench_memory((uint32_t)strtoul(argv[2], NULL, 10));
    if (argc == 5 && strcmp(argv[1], "heads") == 0)
        return bench_heads(argv[2], (uint32_t)strtoul(argv[3], NULL, 10), atoi(argv[4]));
    if (argc == 7 && strcmp(argv[1], "lateness") == 0)
        return bench_lateness(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));
    if (argc >= 6 && strcmp(argv[1], "topics") == 0)
        return bench_topics(argv[2], strcmp(argv[3], "create") == 0, atoi(argv[4]), argv + 5,
                            argc - 5);
    fprintf(stderr, "usage: see the comment at the top of bench/timer_bench.c\n");
    return 2;
}
