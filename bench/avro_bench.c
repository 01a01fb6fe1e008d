/* Measures encodes and decodes of Event records per second through okno's codec (tables over
 * avro-c's generic values; a decode includes the frame check and the full validation walk),
 * and avro-c's bare avro_value_read() of the same body, without validation, for comparison.
 * Prints one JSON object on its last line. */
#include <avro.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "okno/avro.h"

/* How long each measurement runs, in ns. */
#define BENCH_RUN_NS (1000 * 1000 * 1000LL)
/* Operations between clock reads. */
#define BENCH_BATCH 1000

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A typical event: an answer drafted with two agreers and a paragraph of text. */
static void sample_event(okno_event *e)
{
    memset(e, 0, sizeof(*e));
    for (int i = 0; i < 16; i++) {
        e->message_id.bytes[i] = (uint8_t)i;
        e->request_id.bytes[i] = (uint8_t)(100 + i);
    }
    e->seq = 7;
    e->type = OKNO_EVENT_ANSWER_DRAFTED;
    e->at_ms = 1764460800000LL;
    e->actor_user_id = 501;
    e->actor_org_id = 77;
    e->holding_org_after = 77;
    e->stage_before = OKNO_STAGE_EXECUTION;
    e->stage_after = OKNO_STAGE_AGREEMENT;
    e->subject = OKNO_SUBJECT_ANSWER;
    e->answer_type = OKNO_ANSWER_RESOLVED;
    e->text = okno_str_c("Уважаемый заявитель! Сообщаем, что работы по уборке снега во дворе "
                         "дома выполнены 28 ноября. Благодарим за обращение.");
    e->agreers[0] = 301;
    e->agreers[1] = 302;
    e->agreers_count = 2;
    e->approver_user_id = 400;
}

static double measure_encode(const okno_event *e, uint8_t *buf, size_t cap, size_t *len)
{
    long long start = now_ns(), ops = 0;
    while (now_ns() - start < BENCH_RUN_NS) {
        for (int i = 0; i < BENCH_BATCH; i++) {
            if (okno_avro_encode(OKNO_AVRO_EVENTS, e, buf, cap, len, NULL) != 0) {
                return -1;
            }
        }
        ops += BENCH_BATCH;
    }
    return ops * 1e9 / (double)(now_ns() - start);
}

static double measure_decode(const uint8_t *buf, size_t len)
{
    okno_event out;
    long long start = now_ns(), ops = 0;
    while (now_ns() - start < BENCH_RUN_NS) {
        for (int i = 0; i < BENCH_BATCH; i++) {
            if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, buf, len, &out, NULL) != 0) {
                return -1;
            }
        }
        ops += BENCH_BATCH;
    }
    return ops * 1e9 / (double)(now_ns() - start);
}

/* avro-c reading the same body into one reused generic value (its fastest read path). */
static double measure_avro_c_decode(const uint8_t *buf, size_t len)
{
    size_t pcf_len;
    const char *pcf =
        okno_avro_schema_canonical(okno_avro_topic_schema(OKNO_AVRO_EVENTS), &pcf_len);
    avro_schema_t schema;
    if (avro_schema_from_json_length(pcf, pcf_len, &schema) != 0) {
        return -1;
    }
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t value;
    avro_generic_value_new(iface, &value);
    const char *body = (const char *)buf + OKNO_AVRO_HEADER_BYTES;
    int64_t body_len = (int64_t)(len - OKNO_AVRO_HEADER_BYTES);
    avro_reader_t reader = avro_reader_memory(body, body_len);
    long long start = now_ns(), ops = 0;
    int rc = 0;
    while (rc == 0 && now_ns() - start < BENCH_RUN_NS) {
        for (int i = 0; i < BENCH_BATCH && rc == 0; i++) {
            avro_reader_memory_set_source(reader, body, body_len);
            rc = avro_value_read(reader, &value);
        }
        ops += BENCH_BATCH;
    }
    double per_s = ops * 1e9 / (double)(now_ns() - start);
    avro_reader_free(reader);
    avro_value_decref(&value);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return rc == 0 ? per_s : -1;
}

int main(void)
{
    okno_avro_error err = {0};
    if (okno_avro_init(&err) != 0) {
        fprintf(stderr, "okno_avro_init: %s\n", err.reason);
        return 1;
    }
    okno_event e;
    sample_event(&e);
    uint8_t buf[4096];
    size_t len = 0;
    if (okno_avro_encode(OKNO_AVRO_EVENTS, &e, buf, sizeof(buf), &len, &err) != 0) {
        fprintf(stderr, "encode: %s\n", err.reason);
        return 1;
    }
    double enc = measure_encode(&e, buf, sizeof(buf), &len);
    double dec = measure_decode(buf, len);
    double avro_c = measure_avro_c_decode(buf, len);
    printf("Event AnswerDrafted, %zu bytes framed\n", len);
    printf("okno encode: %.0f/s, okno decode (validate + avro-c read + tables): %.0f/s, "
           "bare avro-c read: %.0f/s\n",
           enc, dec, avro_c);
    printf("{\"bench\":\"avro\",\"record\":\"Event\",\"record_bytes\":%zu,\"encodes_per_s\":%.0f,"
           "\"decodes_per_s\":%.0f,\"avro_c_decodes_per_s\":%.0f}\n",
           len, enc, dec, avro_c);
    okno_avro_close();
    return enc < 0 || dec < 0 || avro_c < 0;
}
