/* The embedded schemas, looked up by topic or fingerprint, and single-object framing checks. */
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "embedded.h"
#include "okno/error.h"
#include "records.h"
#include "schema_model.h"

/* Parsed once by okno_avro_init() and read-only afterwards, so threads may share them: okno's
 * model (canonical form, fingerprint, validation, compatibility) and avro-c's schema and
 * generic class of the same .avsc text (encoding and decoding). avro-c counts references
 * atomically, so threads may make values from one class. */
static okno_avro_schema *registry[OKNO_AVRO_TOPIC_COUNT];
static avro_schema_t avro_c_schemas[OKNO_AVRO_TOPIC_COUNT];
static avro_value_iface_t *avro_c_classes[OKNO_AVRO_TOPIC_COUNT];
static unsigned generation;

/* The released versions older than the current one (schemas/history/<Name>/vN.avsc, embedded
 * too), keyed by fingerprint: records they wrote are still in the log and on the topics, and are
 * read into the current structs by Avro's resolution rules (decode.c). */
#define OKNO_AVRO_WRITERS_MAX 32
struct okno__avro_writer {
    okno_avro_topic topic;
    int version;
    okno_avro_schema *model; /* validation of its bodies */
    avro_schema_t schema;
    avro_value_iface_t *cls; /* avro-c reads its bodies into values of this class */
};
static struct okno__avro_writer writers[OKNO_AVRO_WRITERS_MAX];
static size_t writers_count;

static const char *const notification_kind_names[OKNO_NOTIFY_COUNT] = {
    "other",
    "message_rejected",
    "answer_sent",
    "interim_answer_sent",
    "message_redirected",
    "task_assigned",
    "stage_time_approaching",
    "stage_time_exceeded",
    "answer_deadline_approaching",
    "answer_deadline_expired",
    "postponed_date_reached",
    "daily_digest",
    "weekly_report",
    "fault_request",
};

const char *okno_notification_kind_name(okno_notification_kind kind)
{
    if ((int)kind < 0 || (int)kind >= OKNO_NOTIFY_COUNT) {
        return "unknown";
    }
    return notification_kind_names[kind];
}

int okno_notification_kind_parse(okno_str s, okno_notification_kind *out)
{
    for (int i = 0; i < OKNO_NOTIFY_COUNT; i++) {
        const char *name = notification_kind_names[i];
        if (s.ptr != NULL && strlen(name) == s.len && memcmp(name, s.ptr, s.len) == 0) {
            *out = (okno_notification_kind)i;
            return 0;
        }
    }
    return OKNO_EINVAL;
}

static int set_reason(okno_avro_error *err, int rc, const char *schema, const char *what)
{
    if (err != NULL) {
        snprintf(err->reason, sizeof(err->reason), "schema %s: %s", schema, what);
        err->offset = 0;
    }
    return rc;
}

/* ---- checking the codec tables against the schemas ----------------------------------------- */

static int enum_ok(const struct okno_avro_node *n, const struct okno__avro_fdesc *d)
{
    if (n->kind != OKNO_AVRO_ENUM || n->count != (size_t)d->enum_count) {
        return 0;
    }
    for (size_t i = 0; i < n->count; i++) {
        if (strcmp(n->symbols[i], d->enum_name(d->enum_base + (int)i)) != 0) {
            return 0;
        }
    }
    return 1;
}

/* The Attachment record: id, name, media_type (strings), size_bytes (long), sha256 (string). */
static int attachment_ok(const struct okno_avro_node *n)
{
    static const char *const names[] = {"id", "name", "media_type", "size_bytes", "sha256"};
    if (n->kind != OKNO_AVRO_RECORD || n->count != 5) {
        return 0;
    }
    for (size_t i = 0; i < 5; i++) {
        enum okno_avro_kind want = i == 3 ? OKNO_AVRO_LONG : OKNO_AVRO_STRING;
        if (strcmp(n->fields[i].name, names[i]) != 0 || n->fields[i].type->kind != want) {
            return 0;
        }
    }
    return 1;
}

static int value_ok(const struct okno_avro_node *n, enum okno__avro_fkind k,
                    const struct okno__avro_fdesc *d)
{
    switch (k) {
    case OKNO__F_UUID:
    case OKNO__F_OPT_UUID:
        return n->kind == OKNO_AVRO_FIXED && n->fixed_bytes == sizeof(okno_uuid);
    case OKNO__F_TS:
    case OKNO__F_OPT_TS:
        return n->kind == OKNO_AVRO_LONG && n->logical_type != NULL &&
               strcmp(n->logical_type, "timestamp-millis") == 0;
    case OKNO__F_LONG:
    case OKNO__F_OPT_LONG:
    case OKNO__F_U64:
    case OKNO__F_OPT_U64:
        return n->kind == OKNO_AVRO_LONG;
    case OKNO__F_INT:
    case OKNO__F_OPT_INT:
    case OKNO__F_U32:
        return n->kind == OKNO_AVRO_INT;
    case OKNO__F_BOOL:
        return n->kind == OKNO_AVRO_BOOLEAN;
    case OKNO__F_STR:
    case OKNO__F_OPT_STR:
        return n->kind == OKNO_AVRO_STRING;
    case OKNO__F_ENUM:
    case OKNO__F_OPT_ENUM:
        return enum_ok(n, d);
    case OKNO__F_AGREERS:
        return n->kind == OKNO_AVRO_ARRAY && n->items->kind == OKNO_AVRO_LONG;
    case OKNO__F_OPT_ATTACHMENTS:
        return n->kind == OKNO_AVRO_ARRAY && attachment_ok(n->items);
    case OKNO__F_IMPLIED:
        return 0;
    }
    return 0;
}

static int field_ok(const struct okno_avro_field *f, const struct okno__avro_fdesc *d)
{
    const struct okno_avro_node *n = f->type;
    if (strcmp(f->name, d->name) != 0) {
        return 0;
    }
    if (okno__avro_fkind_optional(d->kind)) {
        if (n->kind != OKNO_AVRO_UNION || n->count != 2 || n->branches[0]->kind != OKNO_AVRO_NULL) {
            return 0;
        }
        n = n->branches[1];
    }
    return value_ok(n, d->kind, d);
}

/* The record's fields are exactly the on-wire descriptors, in order, plus extra at the end. */
static int fields_ok(const struct okno_avro_node *rec, const struct okno__avro_fdesc *fields,
                     size_t count, size_t extra, const char **bad)
{
    if (rec->kind != OKNO_AVRO_RECORD) {
        *bad = "(not a record)";
        return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        if (!okno__avro_fkind_on_wire(fields[i].kind)) {
            continue;
        }
        if (k == rec->count || !field_ok(&rec->fields[k], &fields[i])) {
            *bad = fields[i].name;
            return 0;
        }
        k++;
    }
    if (k + extra != rec->count) {
        *bad = rec->name;
        return 0;
    }
    return 1;
}

static int payload_ok(const struct okno_avro_node *u, const struct okno__avro_tdesc *t,
                      const char **bad)
{
    if (u->kind != OKNO_AVRO_UNION || u->count != t->payload_count) {
        *bad = "payload";
        return 0;
    }
    for (size_t i = 0; i < u->count; i++) {
        const struct okno__avro_rdesc *p = &t->payloads[i];
        if (u->branches[i]->kind != OKNO_AVRO_RECORD || strcmp(u->branches[i]->name, p->name)) {
            *bad = p->name;
            return 0;
        }
        if (!fields_ok(u->branches[i], p->fields, p->count, 0, bad)) {
            return 0;
        }
    }
    return 1;
}

static int topic_ok(const okno_avro_schema *s, const struct okno__avro_tdesc *t,
                    okno_avro_error *err)
{
    const char *bad = "";
    size_t extra = t->payload_count ? 1 : 0;
    if (!fields_ok(s->root, t->header, t->header_count, extra, &bad) ||
        (extra && !payload_ok(s->root->fields[t->header_count].type, t, &bad))) {
        char what[OKNO_AVRO_REASON_BYTES / 2];
        snprintf(what, sizeof(what), "field or record '%.60s' disagrees with the codec", bad);
        return set_reason(err, OKNO_EINVAL, t->schema_name, what);
    }
    return 0;
}

/* ---- the registry --------------------------------------------------------------------------- */

static const struct okno__avro_embedded *embedded_find(const char *name)
{
    for (size_t i = 0; i < okno__avro_embedded_count; i++) {
        if (strcmp(okno__avro_embedded[i].name, name) == 0) {
            return &okno__avro_embedded[i];
        }
    }
    return NULL;
}

/* avro-c parses the same text; the codec tables were checked against okno's parse of it. */
static int load_avro_c(okno_avro_topic topic, const struct okno__avro_embedded *e,
                       okno_avro_error *err)
{
    const char *name = okno__avro_topics[topic].schema_name;
    if (avro_schema_from_json_length(e->json, e->json_bytes, &avro_c_schemas[topic]) != 0) {
        avro_c_schemas[topic] = NULL;
        return set_reason(err, OKNO_EINVAL, name, avro_strerror());
    }
    avro_c_classes[topic] = avro_generic_class_from_schema(avro_c_schemas[topic]);
    if (avro_c_classes[topic] == NULL) {
        return set_reason(err, OKNO_ENOMEM, name, avro_strerror());
    }
    return 0;
}

/* What decode.c's resolution can do, on top of what okno_avro_schema_compatible() proves: a
 * field the writer lacks is filled with its default only if that default is null (the C
 * struct's zero), so every field of the tables the writer lacks must be optional. */
static const struct okno_avro_node *field_named(const struct okno_avro_node *rec, const char *name)
{
    for (size_t i = 0; rec != NULL && rec->kind == OKNO_AVRO_RECORD && i < rec->count; i++) {
        if (strcmp(rec->fields[i].name, name) == 0) {
            return rec->fields[i].type;
        }
    }
    return NULL;
}

static const char *fields_resolvable(const struct okno_avro_node *writer,
                                     const struct okno__avro_fdesc *fields, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (okno__avro_fkind_on_wire(fields[i].kind) &&
            !okno__avro_fkind_optional(fields[i].kind) &&
            field_named(writer, fields[i].name) == NULL) {
            return fields[i].name;
        }
    }
    return NULL;
}

static const char *writer_resolvable(const okno_avro_schema *current, const okno_avro_schema *old,
                                     const struct okno__avro_tdesc *t)
{
    const char *bad = fields_resolvable(old->root, t->header, t->header_count);
    if (bad != NULL || t->payload_count == 0) {
        return bad;
    }
    const struct okno_avro_node *u =
        field_named(old->root, current->root->fields[t->header_count].name);
    if (u == NULL || u->kind != OKNO_AVRO_UNION) {
        return "payload";
    }
    for (size_t b = 0; b < u->count && bad == NULL; b++) {
        for (size_t p = 0; p < t->payload_count; p++) {
            if (u->branches[b]->kind == OKNO_AVRO_RECORD &&
                strcmp(u->branches[b]->name, t->payloads[p].name) == 0) {
                bad =
                    fields_resolvable(u->branches[b], t->payloads[p].fields, t->payloads[p].count);
            }
        }
    }
    return bad;
}

/* One embedded history file of topic: an older writer, unless it is the current schema. */
static int load_writer(okno_avro_topic topic, const struct okno__avro_embedded *e, int version,
                       okno_avro_error *err)
{
    const struct okno__avro_tdesc *t = &okno__avro_topics[topic];
    okno_avro_schema *old = NULL;
    int rc = okno_avro_schema_parse(e->json, e->json_bytes, &old, err);
    if (rc != 0) {
        return rc;
    }
    if (old->fingerprint == registry[topic]->fingerprint) {
        okno_avro_schema_free(old);
        return 0;
    }
    char what[OKNO_AVRO_REASON_BYTES / 2];
    const char *bad = NULL;
    if (okno_avro_schema_compatible(registry[topic], old, NULL) != 0) {
        bad = "(not compatible)";
    } else {
        bad = writer_resolvable(registry[topic], old, t);
    }
    if (bad != NULL || writers_count == OKNO_AVRO_WRITERS_MAX) {
        snprintf(what, sizeof(what), "v%d cannot be read into the current structs: '%.60s'",
                 version, bad ? bad : "too many released versions");
        okno_avro_schema_free(old);
        return set_reason(err, OKNO_EINVAL, t->schema_name, what);
    }
    struct okno__avro_writer *w = &writers[writers_count];
    *w = (struct okno__avro_writer){.topic = topic, .version = version, .model = old};
    if (avro_schema_from_json_length(e->json, e->json_bytes, &w->schema) != 0) {
        w->schema = NULL;
        okno_avro_schema_free(old);
        return set_reason(err, OKNO_EINVAL, t->schema_name, avro_strerror());
    }
    w->cls = avro_generic_class_from_schema(w->schema);
    writers_count++; /* freed by okno_avro_close() from here on */
    return w->cls == NULL ? set_reason(err, OKNO_ENOMEM, t->schema_name, avro_strerror()) : 0;
}

/* Every released version of topic that is not the current one: "<Name>/v<N>" embedded. */
static int load_writers(okno_avro_topic topic, okno_avro_error *err)
{
    const char *name = okno__avro_topics[topic].schema_name;
    size_t n = strlen(name);
    for (size_t i = 0; i < okno__avro_embedded_count; i++) {
        const struct okno__avro_embedded *e = &okno__avro_embedded[i];
        int version = 0;
        if (strncmp(e->name, name, n) != 0 || e->name[n] != '/' ||
            sscanf(e->name + n, "/v%d", &version) != 1) {
            continue;
        }
        int rc = load_writer(topic, e, version, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int load_topic(okno_avro_topic topic, okno_avro_error *err)
{
    const struct okno__avro_tdesc *t = &okno__avro_topics[topic];
    const struct okno__avro_embedded *e = embedded_find(t->schema_name);
    if (e == NULL) {
        return set_reason(err, OKNO_ENOTFOUND, t->schema_name, "no such .avsc embedded");
    }
    int rc = okno_avro_schema_parse(e->json, e->json_bytes, &registry[topic], err);
    if (rc == 0) {
        rc = topic_ok(registry[topic], t, err);
    }
    if (rc == 0) {
        rc = load_avro_c(topic, e, err);
    }
    if (rc == 0) {
        rc = load_writers(topic, err);
    }
    return rc;
}

int okno_avro_init(okno_avro_error *err)
{
    if (registry[0] != NULL) {
        return 0;
    }
    for (int topic = 0; topic < OKNO_AVRO_TOPIC_COUNT; topic++) {
        int rc = load_topic((okno_avro_topic)topic, err);
        if (rc != 0) {
            okno_avro_close();
            return rc;
        }
    }
    generation++;
    return 0;
}

void okno_avro_close(void)
{
    okno__avro_local_free();
    for (int topic = 0; topic < OKNO_AVRO_TOPIC_COUNT; topic++) {
        okno_avro_schema_free(registry[topic]);
        registry[topic] = NULL;
        if (avro_c_classes[topic] != NULL) {
            avro_value_iface_decref(avro_c_classes[topic]);
            avro_c_classes[topic] = NULL;
        }
        if (avro_c_schemas[topic] != NULL) {
            avro_schema_decref(avro_c_schemas[topic]);
            avro_c_schemas[topic] = NULL;
        }
    }
    for (size_t i = 0; i < writers_count; i++) {
        okno_avro_schema_free(writers[i].model);
        if (writers[i].cls != NULL) {
            avro_value_iface_decref(writers[i].cls);
        }
        if (writers[i].schema != NULL) {
            avro_schema_decref(writers[i].schema);
        }
    }
    writers_count = 0;
}

avro_value_iface_t *okno__avro_writer_class(int writer)
{
    return writer >= 0 && (size_t)writer < writers_count ? writers[writer].cls : NULL;
}

int okno_avro_writer_version(uint64_t fingerprint, okno_avro_topic *topic, int *version)
{
    if (okno_avro_topic_find(fingerprint, topic) == 0) {
        *version = 0;
        return 0;
    }
    for (size_t i = 0; i < writers_count; i++) {
        if (writers[i].model->fingerprint == fingerprint) {
            *topic = writers[i].topic;
            *version = writers[i].version;
            return 0;
        }
    }
    return OKNO_ENOTFOUND;
}

avro_value_iface_t *okno__avro_topic_class(okno_avro_topic topic)
{
    if ((int)topic < 0 || topic >= OKNO_AVRO_TOPIC_COUNT) {
        return NULL;
    }
    return avro_c_classes[topic];
}

unsigned okno__avro_generation(void)
{
    return generation;
}

const char *okno_avro_topic_name(okno_avro_topic topic)
{
    if ((int)topic < 0 || topic >= OKNO_AVRO_TOPIC_COUNT) {
        return "unknown";
    }
    return okno__avro_topics[topic].topic_name;
}

const okno_avro_schema *okno_avro_topic_schema(okno_avro_topic topic)
{
    if ((int)topic < 0 || topic >= OKNO_AVRO_TOPIC_COUNT) {
        return NULL;
    }
    return registry[topic];
}

int okno_avro_topic_find(uint64_t fingerprint, okno_avro_topic *topic)
{
    for (int t = 0; t < OKNO_AVRO_TOPIC_COUNT; t++) {
        if (registry[t] != NULL && registry[t]->fingerprint == fingerprint) {
            *topic = (okno_avro_topic)t;
            return 0;
        }
    }
    return OKNO_ENOTFOUND;
}

static int frame_refuse(okno_avro_error *err, const char *reason)
{
    if (err != NULL) {
        snprintf(err->reason, sizeof(err->reason), "%s", reason);
        err->offset = 0;
    }
    return OKNO_EDECODE;
}

int okno__avro_frame_check_writer(const uint8_t *buf, size_t len, okno_avro_topic *topic,
                                  int *writer, const uint8_t **body, size_t *body_bytes,
                                  okno_avro_error *err)
{
    if (buf == NULL || len < OKNO_AVRO_HEADER_BYTES) {
        return frame_refuse(err, "shorter than the single-object header");
    }
    if (buf[0] != 0xc3 || buf[1] != 0x01) {
        return frame_refuse(err, "no single-object marker C3 01");
    }
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++) {
        fp |= (uint64_t)buf[2 + i] << (8 * i);
    }
    const okno_avro_schema *model = NULL;
    *writer = -1;
    if (okno_avro_topic_find(fp, topic) == 0) {
        model = registry[*topic];
    }
    for (size_t i = 0; model == NULL && i < writers_count; i++) {
        if (writers[i].model->fingerprint == fp) {
            *topic = writers[i].topic;
            *writer = (int)i;
            model = writers[i].model;
        }
    }
    if (model == NULL) {
        return frame_refuse(err, "unknown schema fingerprint");
    }
    *body = buf + OKNO_AVRO_HEADER_BYTES;
    *body_bytes = len - OKNO_AVRO_HEADER_BYTES;
    int rc = okno_avro_validate(model, *body, *body_bytes, err);
    if (rc != 0 && err != NULL) {
        err->offset += OKNO_AVRO_HEADER_BYTES;
    }
    return rc;
}

int okno_avro_frame_check(const uint8_t *buf, size_t len, okno_avro_topic *topic,
                          const uint8_t **body, size_t *body_bytes, okno_avro_error *err)
{
    int writer;
    return okno__avro_frame_check_writer(buf, len, topic, &writer, body, body_bytes, err);
}

/* FNV-1a, 64 bits: a second, non-linear hash beside CRC-64 so the id has 128 useful bits. */
static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    }
    return h;
}

okno_uuid okno_avro_sla_signal_id(const okno_uuid *message_id, okno_signal_kind kind,
                                  okno_stage stage, uint32_t visit, int64_t due_ms)
{
    int stage_kind =
        kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED;
    /* Stage-time signals are one per stage visit; deadline signals one per deadline. */
    uint8_t key[8 + 16 + 2 + 4 + 8] = {'o', 'k', 'n', 'o', '.', 's', 'l', 'a'};
    uint64_t due = stage_kind ? 0 : (uint64_t)due_ms;
    memcpy(key + 8, message_id->bytes, 16);
    key[24] = (uint8_t)kind;
    key[25] = (uint8_t)(stage_kind ? stage : 0);
    for (int i = 0; i < 4; i++) {
        key[26 + i] = (uint8_t)((stage_kind ? visit : 0) >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        key[30 + i] = (uint8_t)(due >> (8 * i));
    }
    uint64_t hi = okno_avro_fingerprint64(key, sizeof(key));
    uint64_t lo = fnv1a64(key, sizeof(key));
    okno_uuid id;
    for (int i = 0; i < 8; i++) {
        id.bytes[i] = (uint8_t)(hi >> (56 - 8 * i));
        id.bytes[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x80); /* version 8: custom */
    id.bytes[8] = (uint8_t)((id.bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    return id;
}

void okno_avro_sla_signal_request(const okno_avro_sla_signal *s, okno_request *out)
{
    memset(out, 0, sizeof(*out));
    out->request_id = s->signal_id;
    out->message_id = s->message_id;
    out->action = OKNO_ACTION_SLA_SIGNAL;
    out->acting_user_id = OKNO_SYSTEM_USER_ID;
    out->signal = s->kind;
    out->signal_stage = s->stage;
    out->signal_visit = s->visit;
}
