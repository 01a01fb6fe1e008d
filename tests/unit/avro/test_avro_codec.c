/* The codec round-trips every action, event type and record of every topic, refuses what it
 * cannot represent, writes bytes that avro-c reads back with the canonical form alone, and
 * keeps decoded text for as long as its decoder says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>

#include <avro.h>

#include "avro/schema_model.h"
#include "avro_samples.h"
#include "okno/avro.h"
#include "okno/error.h"

/* Room for any sample record. */
#define BUF_BYTES 4096

static int setup(void **state)
{
    (void)state;
    okno_avro_error err = {0};
    int rc = okno_avro_init(&err);
    if (rc != 0) {
        fail_msg("okno_avro_init: %s", err.reason);
    }
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    okno_avro_close();
    return 0;
}

/* avro-c, given the canonical form of the topic's schema, reads the body and consumes it all:
 * an independent check that our writer follows the schema. */
static void assert_avro_c_reads(okno_avro_topic topic, const uint8_t *buf, size_t len)
{
    size_t pcf_len;
    const char *pcf = okno_avro_schema_canonical(okno_avro_topic_schema(topic), &pcf_len);
    avro_schema_t schema;
    assert_int_equal(avro_schema_from_json_length(pcf, pcf_len, &schema), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t value;
    assert_int_equal(avro_generic_value_new(iface, &value), 0);
    avro_reader_t reader = avro_reader_memory((const char *)buf + OKNO_AVRO_HEADER_BYTES,
                                              (int64_t)(len - OKNO_AVRO_HEADER_BYTES));
    assert_int_equal(avro_value_read(reader, &value), 0);
    char extra;
    assert_int_not_equal(avro_read(reader, &extra, 1), 0); /* every byte consumed */
    avro_reader_free(reader);
    avro_value_decref(&value);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void every_action_round_trips(void **state)
{
    (void)state;
    for (int a = OKNO_ACTION_SUBMIT; a <= OKNO_ACTION_DELEGATE_APPROVAL; a++) {
        okno_avro_transition in, out;
        uint8_t buf[BUF_BYTES];
        size_t len = 0;
        okno_avro_error err = {0};
        okno_test_sample_transition(&in, (okno_action)a);
        if (okno_avro_encode(OKNO_AVRO_TRANSITIONS, &in, buf, sizeof(buf), &len, &err) != 0) {
            fail_msg("encode %s: %s", okno_action_name((okno_action)a), err.reason);
        }
        assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, buf, len, &out, &err), 0);
        if (!okno_test_transition_equal(&in, &out)) {
            fail_msg("action %s does not round-trip", okno_action_name((okno_action)a));
        }
        assert_avro_c_reads(OKNO_AVRO_TRANSITIONS, buf, len);
    }
}

static void every_event_type_round_trips(void **state)
{
    (void)state;
    for (int t = OKNO_EVENT_MESSAGE_SUBMITTED; t < OKNO_EVENT_COUNT; t++) {
        okno_event in;
        okno_avro_record out;
        uint8_t buf[BUF_BYTES];
        size_t len = 0;
        okno_avro_error err = {0};
        okno_test_sample_event(&in, (okno_event_type)t);
        if (okno_avro_encode(OKNO_AVRO_EVENTS, &in, buf, sizeof(buf), &len, &err) != 0) {
            fail_msg("encode %s: %s", okno_event_type_name((okno_event_type)t), err.reason);
        }
        assert_int_equal(okno_avro_decode(buf, len, &out, &err), 0);
        assert_int_equal(out.topic, OKNO_AVRO_EVENTS);
        if (!okno_test_event_equal(&in, &out.as.event)) {
            fail_msg("event %s does not round-trip", okno_event_type_name((okno_event_type)t));
        }
        assert_avro_c_reads(OKNO_AVRO_EVENTS, buf, len);
    }
}

static void rejection_sla_and_notification_round_trip(void **state)
{
    (void)state;
    okno_test_side_samples side;
    okno_test_sample_side(&side);
    const okno_avro_rejection *rj = &side.rejection;
    const okno_avro_sla_signal *sl = &side.sla;
    const okno_avro_notification *nt = &side.notification;
    uint8_t buf[BUF_BYTES];
    size_t len;
    okno_avro_record out;

    assert_int_equal(okno_avro_encode(OKNO_AVRO_REJECTIONS, rj, buf, sizeof(buf), &len, NULL), 0);
    assert_int_equal(okno_avro_decode(buf, len, &out, NULL), 0);
    assert_int_equal(out.topic, OKNO_AVRO_REJECTIONS);
    assert_memory_equal(&out.as.rejection.request_id, &rj->request_id, sizeof(okno_uuid));
    assert_memory_equal(&out.as.rejection.message_id, &rj->message_id, sizeof(okno_uuid));
    assert_int_equal(out.as.rejection.source_offset, rj->source_offset);
    assert_int_equal(out.as.rejection.message.len, rj->message.len);
    assert_memory_equal(out.as.rejection.message.ptr, rj->message.ptr, rj->message.len);
    assert_avro_c_reads(OKNO_AVRO_REJECTIONS, buf, len);

    assert_int_equal(okno_avro_encode(OKNO_AVRO_SLA, sl, buf, sizeof(buf), &len, NULL), 0);
    assert_int_equal(okno_avro_decode(buf, len, &out, NULL), 0);
    assert_memory_equal(&out.as.sla_signal, sl, sizeof(*sl));
    assert_avro_c_reads(OKNO_AVRO_SLA, buf, len);

    assert_int_equal(okno_avro_encode(OKNO_AVRO_NOTIFICATIONS, nt, buf, sizeof(buf), &len, NULL),
                     0);
    assert_int_equal(okno_avro_decode(buf, len, &out, NULL), 0);
    assert_int_equal(out.as.notification.kind, nt->kind);
    assert_int_equal(out.as.notification.text.len, nt->text.len);
    assert_avro_c_reads(OKNO_AVRO_NOTIFICATIONS, buf, len);
}

static void decoded_text_lives_in_the_decoder_not_in_the_input(void **state)
{
    (void)state;
    okno_event in, out;
    uint8_t buf[BUF_BYTES];
    size_t len;
    okno_avro_decoder d;
    okno_test_sample_event(&in, OKNO_EVENT_MESSAGE_SUBMITTED);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &in, buf, sizeof(buf), &len, NULL), 0);
    assert_int_equal(okno_avro_decoder_init(&d, OKNO_AVRO_EVENTS), 0);
    assert_int_equal(okno_avro_decoder_decode(&d, buf, len, &out, NULL), 0);
    memset(buf, 0, sizeof(buf)); /* the input may go away at once */
    assert_false((const uint8_t *)out.text.ptr >= buf && (const uint8_t *)out.text.ptr < buf + len);
    assert_int_equal(out.text.len, in.text.len);
    assert_memory_equal(out.text.ptr, in.text.ptr, in.text.len);
    okno_avro_decoder_close(&d);
}

static void each_decoder_keeps_its_text_until_it_decodes_again(void **state)
{
    (void)state;
    enum { RECORDS = 3 };
    static const char *const texts[RECORDS] = {"first", "второй", "third, longer than the rest"};
    okno_avro_decoder d[RECORDS];
    okno_avro_transition out[RECORDS];
    for (int i = 0; i < RECORDS; i++) {
        okno_avro_transition t;
        uint8_t buf[BUF_BYTES];
        size_t len;
        okno_test_sample_transition(&t, OKNO_ACTION_SUBMIT);
        t.request.text = okno_str_c(texts[i]);
        assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, sizeof(buf), &len, NULL),
                         0);
        assert_int_equal(okno_avro_decoder_init(&d[i], OKNO_AVRO_TRANSITIONS), 0);
        assert_int_equal(okno_avro_decoder_decode(&d[i], buf, len, &out[i], NULL), 0);
        /* the thread's own decoder, used in between, does not disturb d[] */
        assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, buf, len, &t, NULL), 0);
    }
    for (int i = 0; i < RECORDS; i++) {
        assert_int_equal(out[i].request.text.len, strlen(texts[i]));
        assert_memory_equal(out[i].request.text.ptr, texts[i], strlen(texts[i]));
        okno_avro_decoder_close(&d[i]);
        okno_avro_decoder_close(&d[i]); /* closing twice is harmless */
    }
}

static void thread_decoders_keep_text_per_topic(void **state)
{
    (void)state;
    okno_avro_transition t, t_out;
    okno_event e, e_out;
    uint8_t tbuf[BUF_BYTES], ebuf[BUF_BYTES];
    size_t tlen, elen;
    okno_test_sample_transition(&t, OKNO_ACTION_SUBMIT);
    okno_test_sample_event(&e, OKNO_EVENT_ANSWER_DRAFTED);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, tbuf, sizeof(tbuf), &tlen, NULL),
                     0);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, ebuf, sizeof(ebuf), &elen, NULL), 0);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, tbuf, tlen, &t_out, NULL), 0);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, ebuf, elen, &e_out, NULL), 0);
    assert_true(okno_test_transition_equal(&t, &t_out)); /* an event decode left it alone */
    assert_true(okno_test_event_equal(&e, &e_out));
}

static void decoder_refuses_another_topic_and_an_unknown_one(void **state)
{
    (void)state;
    okno_avro_decoder d;
    okno_avro_transition t;
    okno_avro_sla_signal s;
    uint8_t buf[BUF_BYTES];
    size_t len;
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_decoder_init(&d, (okno_avro_topic)OKNO_AVRO_TOPIC_COUNT),
                     OKNO_EINVAL);
    okno_avro_decoder_close(&d);
    okno_test_sample_sla_signal(&s);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_SLA, &s, buf, sizeof(buf), &len, NULL), 0);
    assert_int_equal(okno_avro_decoder_init(&d, OKNO_AVRO_TRANSITIONS), 0);
    assert_int_equal(okno_avro_decoder_decode(&d, buf, len, &t, &err), OKNO_EDECODE);
    assert_non_null(strstr(err.reason, "another topic"));
    okno_avro_decoder_close(&d);
}

/* Worker for codec_is_usable_from_several_threads: encodes and decodes its own records. */
static void *codec_worker(void *arg)
{
    okno_event_type type = *(const okno_event_type *)arg;
    for (int i = 0; i < 2000; i++) {
        okno_event in, out;
        uint8_t buf[BUF_BYTES];
        size_t len;
        okno_test_sample_event(&in, type);
        in.seq = (uint64_t)i + 1;
        if (okno_avro_encode(OKNO_AVRO_EVENTS, &in, buf, sizeof(buf), &len, NULL) != 0 ||
            okno_avro_decode_topic(OKNO_AVRO_EVENTS, buf, len, &out, NULL) != 0 ||
            !okno_test_event_equal(&in, &out)) {
            return (void *)1;
        }
    }
    return NULL;
}

static void codec_is_usable_from_several_threads(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    static const okno_event_type types[THREADS] = {
        OKNO_EVENT_MESSAGE_SUBMITTED, OKNO_EVENT_ANSWER_DRAFTED, OKNO_EVENT_APPROVAL_GIVEN,
        OKNO_EVENT_REDIRECT_PROPOSED};
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, codec_worker, (void *)&types[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *failed = (void *)1;
        assert_int_equal(pthread_join(threads[i], &failed), 0);
        assert_null(failed);
    }
}

static void codec_works_again_after_close_and_init(void **state)
{
    (void)state;
    okno_event in, out;
    uint8_t buf[BUF_BYTES];
    size_t len;
    okno_test_sample_event(&in, OKNO_EVENT_AGREEMENT_GIVEN);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &in, buf, sizeof(buf), &len, NULL), 0);
    okno_avro_close();
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &in, buf, sizeof(buf), &len, NULL),
                     OKNO_EINVAL);
    assert_int_equal(okno_avro_init(NULL), 0);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &in, buf, sizeof(buf), &len, NULL), 0);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, buf, len, &out, NULL), 0);
    assert_true(okno_test_event_equal(&in, &out));
}

static void encoder_refuses_a_record_above_the_cap(void **state)
{
    (void)state;
    size_t cap = 2 * (size_t)OKNO_AVRO_RECORD_BYTES_MAX;
    char *text = malloc(OKNO_AVRO_RECORD_BYTES_MAX + 1);
    uint8_t *buf = malloc(cap);
    assert_non_null(text);
    assert_non_null(buf);
    memset(text, 'a', OKNO_AVRO_RECORD_BYTES_MAX + 1);
    okno_avro_transition t;
    size_t len;
    okno_avro_error err = {0};
    okno_test_sample_transition(&t, OKNO_ACTION_SUBMIT);
    t.request.attachments_count = 0; /* the margin below counts the text alone */
    t.request.text = (okno_str){text, OKNO_AVRO_RECORD_BYTES_MAX + 1};
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, cap, &len, &err),
                     OKNO_ELIMIT);
    t.request.text.len = OKNO_AVRO_RECORD_BYTES_MAX - 200; /* fits, and a reader accepts it */
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, cap, &len, &err), 0);
    okno_avro_transition out;
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, buf, len, &out, &err), 0);
    assert_int_equal(out.request.text.len, t.request.text.len);
    free(text);
    free(buf);
}

static void encoder_refuses_what_the_schema_cannot_carry(void **state)
{
    (void)state;
    okno_avro_transition t;
    uint8_t buf[BUF_BYTES];
    size_t len;
    okno_avro_error err = {0};

    okno_test_sample_transition(&t, OKNO_ACTION_SUBMIT);
    t.request.action = OKNO_ACTION_SLA_SIGNAL; /* travels on okno.sla.v1 */
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, sizeof(buf), &len, &err),
                     OKNO_EINVAL);

    okno_test_sample_transition(&t, OKNO_ACTION_PROPOSE_REDIRECT);
    t.request.agreers_count = OKNO_AGREERS_MAX + 1;
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, sizeof(buf), &len, &err),
                     OKNO_EINVAL);

    okno_test_sample_transition(&t, OKNO_ACTION_REJECT);
    t.request.reason = (okno_str){"\xff\xfe", 2};
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, sizeof(buf), &len, &err),
                     OKNO_EINVAL);
    assert_non_null(strstr(err.reason, "reason"));

    okno_event e;
    okno_test_sample_event(&e, OKNO_EVENT_ANSWER_DRAFTED);
    e.answer_type = OKNO_ANSWER_NONE; /* required in an accepted event */
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, buf, sizeof(buf), &len, &err),
                     OKNO_EINVAL);

    okno_test_sample_event(&e, OKNO_EVENT_ANSWER_DRAFTED);
    e.subject = OKNO_SUBJECT_REDIRECT; /* implied by the type, so it cannot differ */
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, buf, sizeof(buf), &len, &err),
                     OKNO_EINVAL);

    okno_test_sample_event(&e, OKNO_EVENT_MESSAGE_SUBMITTED);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, buf, 20, &len, &err), OKNO_ELIMIT);
}

static void decoder_refuses_foreign_and_inconsistent_records(void **state)
{
    (void)state;
    okno_event e;
    okno_avro_transition t;
    uint8_t buf[BUF_BYTES];
    size_t len;
    okno_avro_error err = {0};
    okno_test_sample_event(&e, OKNO_EVENT_TAKEN_INTO_WORK);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, buf, sizeof(buf), &len, NULL), 0);

    /* An event is not a transition request. */
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, buf, len, &t, &err),
                     OKNO_EDECODE);
    /* The header's type must name the payload branch: TakenIntoWork is empty, so the union
     * index is the last byte; point it at MessageTakenOver's branch without its field. */
    uint8_t bad[BUF_BYTES];
    memcpy(bad, buf, len);
    bad[len - 1] = 2 * 4; /* zig-zag of branch 4 */
    okno_avro_record out;
    assert_int_equal(okno_avro_decode(bad, len, &out, &err), OKNO_EDECODE);
    /* Unknown fingerprint, missing marker, truncated header. */
    memcpy(bad, buf, len);
    bad[5] ^= 1;
    assert_int_equal(okno_avro_decode(bad, len, &out, &err), OKNO_EDECODE);
    assert_non_null(strstr(err.reason, "fingerprint"));
    bad[0] = 0;
    assert_int_equal(okno_avro_decode(bad, len, &out, &err), OKNO_EDECODE);
    assert_int_equal(okno_avro_decode(buf, 5, &out, &err), OKNO_EDECODE);
}

static void agreers_beyond_the_struct_capacity_are_refused(void **state)
{
    (void)state;
    /* Hand-build a RedirectProposed body with 9 agreers via the writer-independent path: encode
     * 8, then patch the count (zig-zag 16 -> 18) and append one more id before the end. */
    okno_event e;
    okno_test_sample_event(&e, OKNO_EVENT_REDIRECT_PROPOSED);
    e.agreers_count = OKNO_AGREERS_MAX;
    for (int i = 0; i < OKNO_AGREERS_MAX; i++) {
        e.agreers[i] = 10 + i;
    }
    uint8_t buf[BUF_BYTES];
    size_t len;
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, buf, sizeof(buf), &len, NULL), 0);
    uint8_t *count = memchr(buf + OKNO_AVRO_HEADER_BYTES + 40, 2 * OKNO_AGREERS_MAX, len - 50);
    assert_non_null(count);
    /* the byte after the count is the first id (zig-zag 20 = 0x14) */
    while (!(count[0] == 2 * OKNO_AGREERS_MAX && count[1] == 20)) {
        count = memchr(count + 1, 2 * OKNO_AGREERS_MAX, (size_t)(buf + len - count - 1));
        assert_non_null(count);
    }
    size_t at = (size_t)(count - buf) + 1 + OKNO_AGREERS_MAX;
    uint8_t bad[BUF_BYTES];
    memcpy(bad, buf, at);
    bad[count - buf] = 2 * (OKNO_AGREERS_MAX + 1);
    bad[at] = 2 * 50;
    memcpy(bad + at + 1, buf + at, len - at);
    okno_avro_record out;
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_decode(bad, len + 1, &out, &err), OKNO_EDECODE);
    assert_non_null(strstr(err.reason, "OKNO_AGREERS_MAX"));
}

static void sla_signal_id_is_deterministic_and_distinguishes_visits(void **state)
{
    (void)state;
    okno_uuid m = {{1, 2, 3}};
    okno_uuid a =
        okno_avro_sla_signal_id(&m, OKNO_SIGNAL_STAGE_TIME_EXCEEDED, OKNO_STAGE_EXECUTION, 1, 100);
    okno_uuid b =
        okno_avro_sla_signal_id(&m, OKNO_SIGNAL_STAGE_TIME_EXCEEDED, OKNO_STAGE_EXECUTION, 1, 200);
    okno_uuid c =
        okno_avro_sla_signal_id(&m, OKNO_SIGNAL_STAGE_TIME_EXCEEDED, OKNO_STAGE_EXECUTION, 2, 100);
    okno_uuid d =
        okno_avro_sla_signal_id(&m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED, OKNO_STAGE_NONE, 0, 100);
    okno_uuid e =
        okno_avro_sla_signal_id(&m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED, OKNO_STAGE_NONE, 0, 200);
    assert_memory_equal(&a, &b, sizeof(a)); /* stage-time ids ignore the due time */
    assert_memory_not_equal(&a, &c, sizeof(a));
    assert_memory_not_equal(&d, &e, sizeof(a)); /* one per deadline */
    assert_int_equal(a.bytes[6] >> 4, 8);
}

static void topics_have_names_and_schemas(void **state)
{
    (void)state;
    assert_string_equal(okno_avro_topic_name(OKNO_AVRO_EVENTS), "okno.events.v1");
    assert_string_equal(okno_avro_schema_name(okno_avro_topic_schema(OKNO_AVRO_EVENTS)),
                        "okno.v1.Event");
    okno_avro_topic t;
    uint64_t fp = okno_avro_schema_fingerprint(okno_avro_topic_schema(OKNO_AVRO_SLA));
    assert_int_equal(okno_avro_topic_find(fp, &t), 0);
    assert_int_equal(t, OKNO_AVRO_SLA);
    assert_int_equal(okno_avro_topic_find(fp ^ 1, &t), OKNO_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_action_round_trips),
        cmocka_unit_test(every_event_type_round_trips),
        cmocka_unit_test(rejection_sla_and_notification_round_trip),
        cmocka_unit_test(decoded_text_lives_in_the_decoder_not_in_the_input),
        cmocka_unit_test(each_decoder_keeps_its_text_until_it_decodes_again),
        cmocka_unit_test(thread_decoders_keep_text_per_topic),
        cmocka_unit_test(decoder_refuses_another_topic_and_an_unknown_one),
        cmocka_unit_test(codec_is_usable_from_several_threads),
        cmocka_unit_test(codec_works_again_after_close_and_init),
        cmocka_unit_test(encoder_refuses_a_record_above_the_cap),
        cmocka_unit_test(encoder_refuses_what_the_schema_cannot_carry),
        cmocka_unit_test(decoder_refuses_foreign_and_inconsistent_records),
        cmocka_unit_test(agreers_beyond_the_struct_capacity_are_refused),
        cmocka_unit_test(sla_signal_id_is_deterministic_and_distinguishes_visits),
        cmocka_unit_test(topics_have_names_and_schemas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
