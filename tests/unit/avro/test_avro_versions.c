/* Records written with an older released schema version (schemas/history/<Name>/vN.avsc) are
 * read into the current structs by Avro's resolution rules: the same values, and the fields the
 * old version lacks as their defaults. The old bodies are made here the way an old writer made
 * them: the current encoding copied by field name into a value of the old schema (dropping
 * the fields the old version does not have), written with that schema and framed with its
 * fingerprint. (avro-c 1.11.1's own resolvers cannot be used here nor in the decoders: both
 * refuse, or crash on, a reader field the writer lacks, and its resolved writer leaves a union
 * whose branch records differ unset.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <avro.h>
#include <cmocka.h>

#include "avro_samples.h"
#include "okno/avro.h"
#include "okno/error.h"

#define BUF_BYTES 8192

static char *file_read(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/schemas/%s", getenv("OKNO_SOURCE_DIR"), rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

/* A released version of a schema: avro-c's parse and its fingerprint. */
typedef struct version {
    avro_schema_t schema;
    uint64_t fingerprint;
} version;

static version version_load(const char *rel)
{
    size_t len;
    char *json = file_read(rel, &len);
    version v;
    assert_int_equal(avro_schema_from_json_length(json, len, &v.schema), 0);
    okno_avro_schema *model = NULL;
    assert_int_equal(okno_avro_schema_parse(json, len, &model, NULL), 0);
    v.fingerprint = okno_avro_schema_fingerprint(model);
    okno_avro_schema_free(model);
    free(json);
    return v;
}

/* Copies src into dst (a value of another version of the schema) field by field by name,
 * union branches and enum symbols by name, as an older writer would have filled its record;
 * fields dst's schema does not have are dropped. */
static void copy_by_name(avro_value_t *src, avro_value_t *dst)
{
    avro_schema_t ds = avro_value_get_schema(dst);
    switch (avro_value_get_type(src)) {
    case AVRO_RECORD: {
        size_t n = 0;
        assert_int_equal(avro_value_get_size(dst, &n), 0);
        for (size_t i = 0; i < n; i++) {
            avro_value_t sf, df;
            const char *name = avro_schema_record_field_name(ds, (int)i);
            assert_int_equal(avro_value_get_by_index(dst, i, &df, NULL), 0);
            if (avro_value_get_by_name(src, name, &sf, NULL) != 0)
                fail_msg("the newer record has no field %s", name);
            copy_by_name(&sf, &df);
        }
        return;
    }
    case AVRO_UNION: {
        avro_value_t sb, db;
        assert_int_equal(avro_value_get_current_branch(src, &sb), 0);
        if (avro_value_get_type(dst) != AVRO_UNION) { /* the older field was its one branch */
            copy_by_name(&sb, dst);
            return;
        }
        const char *name = avro_schema_type_name(avro_value_get_schema(&sb));
        int index = -1;
        if (avro_schema_union_branch_by_name(ds, &index, name) == NULL)
            fail_msg("the older union has no branch %s", name);
        assert_int_equal(avro_value_set_branch(dst, index, &db), 0);
        copy_by_name(&sb, &db);
        return;
    }
    case AVRO_ENUM: {
        int i = 0;
        assert_int_equal(avro_value_get_enum(src, &i), 0);
        const char *symbol = avro_schema_enum_get(avro_value_get_schema(src), i);
        int j = avro_schema_enum_get_by_name(ds, symbol);
        assert_true(j >= 0);
        assert_int_equal(avro_value_set_enum(dst, j), 0);
        return;
    }
    case AVRO_ARRAY: {
        size_t n = 0;
        assert_int_equal(avro_value_get_size(src, &n), 0);
        for (size_t i = 0; i < n; i++) {
            avro_value_t si, di;
            assert_int_equal(avro_value_get_by_index(src, i, &si, NULL), 0);
            assert_int_equal(avro_value_append(dst, &di, NULL), 0);
            copy_by_name(&si, &di);
        }
        return;
    }
    default:
        assert_int_equal(avro_value_copy_fast(dst, src), 0); /* same primitive or fixed type */
        return;
    }
}

/* What a writer of version old would have produced for the record current encodes: the body
 * read with the current schema, copied by name into a value of the old one, written with it,
 * framed with its fingerprint. */
static size_t downgrade(const char *current_rel, const version *old, const uint8_t *cur,
                        size_t cur_len, uint8_t *out)
{
    version now = version_load(current_rel);
    avro_value_iface_t *now_cls = avro_generic_class_from_schema(now.schema);
    avro_value_iface_t *old_cls = avro_generic_class_from_schema(old->schema);
    avro_value_t src, dest;
    assert_int_equal(avro_generic_value_new(now_cls, &src), 0);
    assert_int_equal(avro_generic_value_new(old_cls, &dest), 0);
    avro_reader_t reader = avro_reader_memory((const char *)cur + OKNO_AVRO_HEADER_BYTES,
                                              (int64_t)(cur_len - OKNO_AVRO_HEADER_BYTES));
    if (avro_value_read(reader, &src) != 0)
        fail_msg("avro-c read: %s", avro_strerror());
    copy_by_name(&src, &dest);
    out[0] = 0xc3;
    out[1] = 0x01;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(old->fingerprint >> (8 * i));
    avro_writer_t writer = avro_writer_memory((char *)out + OKNO_AVRO_HEADER_BYTES,
                                              BUF_BYTES - OKNO_AVRO_HEADER_BYTES);
    if (avro_value_write(writer, &dest) != 0)
        fail_msg("avro-c write: %s", avro_strerror());
    size_t len = OKNO_AVRO_HEADER_BYTES + (size_t)avro_writer_tell(writer);
    avro_writer_free(writer);
    avro_reader_free(reader);
    avro_value_decref(&src);
    avro_value_decref(&dest);
    avro_value_iface_decref(now_cls);
    avro_value_iface_decref(old_cls);
    avro_schema_decref(now.schema);
    return len;
}

static int setup(void **state)
{
    (void)state;
    return okno_avro_init(NULL);
}

static int teardown(void **state)
{
    (void)state;
    okno_avro_close();
    return 0;
}

static void released_versions_are_known_by_fingerprint(void **state)
{
    (void)state;
    version v1 = version_load("history/Event/v1.avsc");
    okno_avro_topic topic;
    int v = -1;
    assert_int_equal(okno_avro_writer_version(v1.fingerprint, &topic, &v), 0);
    assert_int_equal(topic, OKNO_AVRO_EVENTS);
    assert_int_equal(v, 1);
    /* the current schema is version 0 here, and decoding picks it first */
    uint64_t now = okno_avro_schema_fingerprint(okno_avro_topic_schema(OKNO_AVRO_EVENTS));
    assert_int_equal(okno_avro_writer_version(now, &topic, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(okno_avro_writer_version(now ^ 1, &topic, &v), OKNO_ENOTFOUND);
    /* okno_avro_topic_find keeps naming only current fingerprints */
    assert_int_equal(okno_avro_topic_find(v1.fingerprint, &topic), OKNO_ENOTFOUND);
    avro_schema_decref(v1.schema);
}

/* Every event type, written by v1 and by the current version, read by every decoder entry
 * point: the same values, v1 without requested_at and applicant_email (their default, null). */
static void v1_events_read_as_current_with_new_fields_defaulted(void **state)
{
    (void)state;
    version v1 = version_load("history/Event/v1.avsc");
    okno_avro_decoder dec;
    assert_int_equal(okno_avro_decoder_init(&dec, OKNO_AVRO_EVENTS), 0);
    for (int type = OKNO_EVENT_NONE + 1; type < OKNO_EVENT_COUNT; type++) {
        okno_event e, want, got;
        okno_test_sample_event(&e, (okno_event_type)type);
        uint8_t cur[BUF_BYTES], old[BUF_BYTES];
        size_t cur_len, old_len;
        okno_avro_error err = {0};
        assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, cur, sizeof cur, &cur_len, &err),
                         0);
        old_len = downgrade("Event.avsc", &v1, cur, cur_len, old);
        assert_true(old_len < cur_len || (e.requested_at_ms == 0 && old_len == cur_len));
        want = e;
        want.requested_at_ms = 0;
        want.applicant_email = (okno_str){0};
        want.attachments_count = 0;
        memset(want.attachments, 0, sizeof want.attachments);

        if (okno_avro_decoder_decode(&dec, old, old_len, &got, &err) != 0)
            fail_msg("%s from v1: %s", okno_event_type_name(e.type), err.reason);
        assert_true(okno_test_event_equal(&got, &want));
        assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, old, old_len, &got, &err), 0);
        assert_true(okno_test_event_equal(&got, &want));
        okno_avro_record any;
        assert_int_equal(okno_avro_decode(old, old_len, &any, &err), 0);
        assert_int_equal(any.topic, OKNO_AVRO_EVENTS);
        assert_true(okno_test_event_equal(&any.as.event, &want));
        /* the current version, through the same decoder, right after */
        assert_int_equal(okno_avro_decoder_decode(&dec, cur, cur_len, &got, &err), 0);
        assert_true(okno_test_event_equal(&got, &e));
    }
    okno_avro_decoder_close(&dec);
    avro_schema_decref(v1.schema);
}

static void v1_transition_requests_read_as_current_with_new_fields_defaulted(void **state)
{
    (void)state;
    version v1 = version_load("history/TransitionRequest/v1.avsc");
    for (int a = OKNO_ACTION_SUBMIT; a <= OKNO_ACTION_DELEGATE_APPROVAL; a++) {
        okno_avro_transition t, want, got;
        okno_test_sample_transition(&t, (okno_action)a);
        uint8_t cur[BUF_BYTES], old[BUF_BYTES];
        size_t cur_len;
        okno_avro_error err = {0};
        assert_int_equal(
            okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, cur, sizeof cur, &cur_len, &err), 0);
        size_t old_len = downgrade("TransitionRequest.avsc", &v1, cur, cur_len, old);
        want = t;
        want.request.applicant_email = (okno_str){0};
        want.request.attachments_count = 0;
        memset(want.request.attachments, 0, sizeof want.request.attachments);
        if (okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, old, old_len, &got, &err) != 0)
            fail_msg("%s from v1: %s", okno_action_name((okno_action)a), err.reason);
        assert_true(okno_test_transition_equal(&got, &want));
    }
    avro_schema_decref(v1.schema);
}

/* A submission written before attachments (Event v3, TransitionRequest v2) reads as the
 * current one with none; the current version carries them. */
static void bodies_before_attachments_read_with_none(void **state)
{
    (void)state;
    version ev3 = version_load("history/Event/v3.avsc");
    version tr2 = version_load("history/TransitionRequest/v2.avsc");
    okno_event e, got;
    okno_test_sample_event(&e, OKNO_EVENT_MESSAGE_SUBMITTED);
    assert_int_equal(e.attachments_count, 2);
    uint8_t cur[BUF_BYTES], old[BUF_BYTES];
    size_t cur_len, old_len;
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, cur, sizeof cur, &cur_len, &err), 0);
    old_len = downgrade("Event.avsc", &ev3, cur, cur_len, old);
    assert_true(old_len < cur_len);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, old, old_len, &got, &err), 0);
    assert_int_equal(got.attachments_count, 0);
    assert_int_equal(got.applicant_email.len, e.applicant_email.len);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, cur, cur_len, &got, &err), 0);
    assert_true(okno_test_event_equal(&got, &e));

    okno_avro_transition t, tgot;
    okno_test_sample_transition(&t, OKNO_ACTION_SUBMIT);
    assert_int_equal(t.request.attachments_count, 2);
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, cur, sizeof cur, &cur_len, &err),
                     0);
    old_len = downgrade("TransitionRequest.avsc", &tr2, cur, cur_len, old);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, old, old_len, &tgot, &err), 0);
    assert_int_equal(tgot.request.attachments_count, 0);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, cur, cur_len, &tgot, &err), 0);
    assert_true(okno_test_transition_equal(&tgot, &t));
    assert_memory_equal(tgot.request.attachments[1].name.ptr, "заявление.pdf",
                        tgot.request.attachments[1].name.len);
    avro_schema_decref(ev3.schema);
    avro_schema_decref(tr2.schema);
}

/* A v1 notification (always about one message) reads as the current one: its message id set,
 * no cause nor subject (null, their default). */
static void v1_notifications_read_as_current_with_new_fields_defaulted(void **state)
{
    (void)state;
    version v1 = version_load("history/Notification/v1.avsc");
    okno_avro_notification n = {.recipient_user_id = 100002,
                                .kind = OKNO_NOTIFY_STAGE_TIME_EXCEEDED,
                                .text = okno_str_c("Превышено время этапа"),
                                .created_ms = INT64_C(1772431200000),
                                .cause = okno_str_c("event:x:3"),
                                .subject = okno_str_c("Тема")};
    n.notification_id.bytes[0] = 7;
    n.message_id.bytes[15] = 9;
    uint8_t cur[BUF_BYTES], old[BUF_BYTES];
    size_t cur_len;
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_encode(OKNO_AVRO_NOTIFICATIONS, &n, cur, sizeof cur, &cur_len, &err),
                     0);
    size_t old_len = downgrade("Notification.avsc", &v1, cur, cur_len, old);
    okno_avro_notification got;
    if (okno_avro_decode_topic(OKNO_AVRO_NOTIFICATIONS, old, old_len, &got, &err) != 0)
        fail_msg("notification from v1: %s", err.reason);
    assert_memory_equal(got.notification_id.bytes, n.notification_id.bytes, 16);
    assert_memory_equal(got.message_id.bytes, n.message_id.bytes, 16);
    assert_int_equal(got.kind, n.kind);
    assert_int_equal(got.recipient_user_id, n.recipient_user_id);
    assert_int_equal(got.created_ms, n.created_ms);
    assert_int_equal(got.text.len, n.text.len);
    assert_int_equal(got.cause.len, 0);
    assert_int_equal(got.subject.len, 0);
    avro_schema_decref(v1.schema);
}

/* n encoded into buf (BUF_BYTES) and decoded again into got (its strings point into buf). */
static void notification_round_trip(const okno_avro_notification *n, uint8_t *buf,
                                    okno_avro_notification *got)
{
    size_t len;
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_encode(OKNO_AVRO_NOTIFICATIONS, n, buf, BUF_BYTES, &len, &err), 0);
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_NOTIFICATIONS, buf, len, got, &err), 0);
}

/* A notice about no single message (a digest) has no message id on the wire. */
static void a_notification_about_no_single_message_round_trips(void **state)
{
    (void)state;
    okno_avro_notification n = {.recipient_user_id = 101008,
                                .kind = OKNO_NOTIFY_DAILY_DIGEST,
                                .text = okno_str_c("Списки на 06.12.2026"),
                                .created_ms = INT64_C(1772431200000),
                                .cause = okno_str_c("digest:1010:2026-12-06"),
                                .subject = okno_str_c("Ежедневная сводка")};
    n.notification_id.bytes[0] = 8;
    uint8_t buf[BUF_BYTES];
    okno_avro_notification got;
    notification_round_trip(&n, buf, &got);
    static const okno_uuid zero;
    assert_memory_equal(got.message_id.bytes, zero.bytes, 16);
    assert_int_equal(got.kind, OKNO_NOTIFY_DAILY_DIGEST);
    assert_int_equal(got.cause.len, n.cause.len);
    assert_memory_equal(got.cause.ptr, n.cause.ptr, n.cause.len);
    assert_int_equal(got.subject.len, n.subject.len);
}

/* A fault request's notice (v3) keeps its kind on the wire: the situation center's recipient 0,
 * no message, cause "fault:<id>". */
static void a_fault_request_notification_keeps_its_kind(void **state)
{
    (void)state;
    okno_avro_notification n = {.kind = OKNO_NOTIFY_FAULT_REQUEST,
                                .text = okno_str_c("Заявка о неисправности"),
                                .created_ms = INT64_C(1772431200000),
                                .cause = okno_str_c("fault:17")};
    n.notification_id.bytes[0] = 9;
    uint8_t buf[BUF_BYTES];
    okno_avro_notification got;
    notification_round_trip(&n, buf, &got);
    assert_int_equal(got.kind, OKNO_NOTIFY_FAULT_REQUEST);
    assert_string_equal(okno_notification_kind_name(got.kind), "fault_request");
    assert_int_equal(got.recipient_user_id, 0);
}

/* An old body is validated against its own version before avro-c reads it. */
static void a_broken_v1_body_is_refused(void **state)
{
    (void)state;
    version v1 = version_load("history/Event/v1.avsc");
    okno_event e, got;
    okno_test_sample_event(&e, OKNO_EVENT_MESSAGE_SUBMITTED);
    uint8_t cur[BUF_BYTES], old[BUF_BYTES];
    size_t cur_len;
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &e, cur, sizeof cur, &cur_len, NULL), 0);
    size_t old_len = downgrade("Event.avsc", &v1, cur, cur_len, old);
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, old, old_len - 3, &got, &err),
                     OKNO_EDECODE);
    assert_true(err.reason[0] != '\0');
    avro_schema_decref(v1.schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(released_versions_are_known_by_fingerprint),
        cmocka_unit_test(v1_events_read_as_current_with_new_fields_defaulted),
        cmocka_unit_test(v1_transition_requests_read_as_current_with_new_fields_defaulted),
        cmocka_unit_test(a_broken_v1_body_is_refused),
        cmocka_unit_test(v1_notifications_read_as_current_with_new_fields_defaulted),
        cmocka_unit_test(bodies_before_attachments_read_with_none),
        cmocka_unit_test(a_notification_about_no_single_message_round_trips),
        cmocka_unit_test(a_fault_request_notification_keeps_its_kind),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
