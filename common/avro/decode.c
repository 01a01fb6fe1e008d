/* Decoding through avro-c, behind the bounded validator.
 *
 * avro-c 1.11.1 trusts length prefixes and block counts, so okno_avro_frame_check() walks the
 * whole body against the schema first (okno_avro_validate(), no allocation); only a body it
 * accepts reaches avro_value_read(), which fills the decoder's reusable generic value. The
 * tables of records.h then copy fixed-size fields into the caller's struct and point its text
 * at the value's strings, and check what the schema cannot say: the header names the payload
 * branch, counts are not negative, at most OKNO_AGREERS_MAX agreers. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "okno/error.h"
#include "records.h"
#include "schema_model.h"

/* Every optional field is the union ["null", T]: branch 0 is null, branch 1 the value. */
#define OKNO_AVRO_BRANCH_NULL 0

static int fail(okno_avro_error *err, int rc, const char *what, const char *field)
{
    if (err != NULL) {
        snprintf(err->reason, sizeof(err->reason), "%s: %s", field, what);
        err->offset = 0;
    }
    return rc;
}

/* An avro-c getter failed on a value read with the schema the tables were checked against. */
static int mismatch(okno_avro_error *err, const char *field)
{
    return fail(err, OKNO_EDECODE, "codec table disagrees with the schema", field);
}

static int get_agreers(avro_value_t *v, const struct okno__avro_fdesc *d, uint8_t *rec,
                       okno_avro_error *err)
{
    okno_user_id *ids = (okno_user_id *)(rec + d->offset);
    size_t n;
    if (avro_value_get_size(v, &n) != 0) {
        return mismatch(err, d->name);
    }
    if (n > OKNO_AGREERS_MAX) {
        return fail(err, OKNO_EDECODE, "more than OKNO_AGREERS_MAX", d->name);
    }
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        if (avro_value_get_by_index(v, i, &item, NULL) != 0 ||
            avro_value_get_long(&item, &ids[i]) != 0) {
            return mismatch(err, d->name);
        }
    }
    *(uint32_t *)(rec + d->count_offset) = (uint32_t)n;
    return 0;
}

static int get_attachment_text(avro_value_t *item, size_t k, okno_str *out)
{
    avro_value_t f;
    const char *s = NULL;
    size_t size = 0;
    if (avro_value_get_by_index(item, k, &f, NULL) != 0 ||
        avro_value_get_string(&f, &s, &size) != 0) {
        return -1;
    }
    *out = (okno_str){s, size > 0 ? (uint32_t)(size - 1) : 0};
    return 0;
}

/* Attachment records by index: the registry checked the current schema's member order, and a
 * v3 writer (the only older one with attachments) has the same. */
static int get_attachments(avro_value_t *v, const struct okno__avro_fdesc *d, uint8_t *rec,
                           okno_avro_error *err)
{
    okno_attachment *list = (okno_attachment *)(rec + d->offset);
    size_t n;
    if (avro_value_get_size(v, &n) != 0) {
        return mismatch(err, d->name);
    }
    if (n > OKNO_ATTACHMENTS_MAX) {
        return fail(err, OKNO_EDECODE, "more than OKNO_ATTACHMENTS_MAX", d->name);
    }
    for (size_t i = 0; i < n; i++) {
        avro_value_t item, size;
        okno_attachment *a = &list[i];
        if (avro_value_get_by_index(v, i, &item, NULL) != 0 ||
            get_attachment_text(&item, 0, &a->id) != 0 ||
            get_attachment_text(&item, 1, &a->name) != 0 ||
            get_attachment_text(&item, 2, &a->media_type) != 0 ||
            avro_value_get_by_index(&item, 3, &size, NULL) != 0 ||
            avro_value_get_long(&size, &a->size_bytes) != 0 ||
            get_attachment_text(&item, 4, &a->sha256) != 0) {
            return mismatch(err, d->name);
        }
    }
    *(uint32_t *)(rec + d->count_offset) = (uint32_t)n;
    return 0;
}

/* A long or int the C struct keeps unsigned. */
static int get_count(avro_value_t *v, const struct okno__avro_fdesc *d, uint8_t *m,
                     okno_avro_error *err)
{
    int64_t l = 0;
    int32_t i = 0;
    int rc = d->kind == OKNO__F_U32 ? avro_value_get_int(v, &i) : avro_value_get_long(v, &l);
    if (rc != 0) {
        return mismatch(err, d->name);
    }
    if (l < 0 || i < 0) {
        return fail(err, OKNO_EDECODE, "negative where only counts are allowed", d->name);
    }
    if (d->kind == OKNO__F_U32) {
        *(uint32_t *)m = (uint32_t)i;
    } else {
        *(uint64_t *)m = (uint64_t)l;
    }
    return 0;
}

/* Resolution of an enum symbol written by an older version: by name, not by index. */
static int get_enum_by_name(avro_value_t *v, const struct okno__avro_fdesc *d, int *out,
                            okno_avro_error *err)
{
    int i = 0;
    if (avro_value_get_enum(v, &i) != 0) {
        return mismatch(err, d->name);
    }
    const char *symbol = avro_schema_enum_get(avro_value_get_schema(v), i);
    for (int k = 0; symbol != NULL && k < d->enum_count; k++) {
        if (strcmp(d->enum_name(d->enum_base + k), symbol) == 0) {
            *out = d->enum_base + k;
            return 0;
        }
    }
    return fail(err, OKNO_EDECODE, "a symbol the current schema does not have", d->name);
}

static int get_value(avro_value_t *v, const struct okno__avro_fdesc *d, uint8_t *rec, bool resolve,
                     okno_avro_error *err)
{
    uint8_t *m = rec + d->offset;
    if (resolve && (d->kind == OKNO__F_ENUM || d->kind == OKNO__F_OPT_ENUM)) {
        return get_enum_by_name(v, d, (int *)m, err);
    }
    if (resolve && avro_value_get_type(v) == AVRO_INT32 &&
        (d->kind == OKNO__F_LONG || d->kind == OKNO__F_OPT_LONG || d->kind == OKNO__F_TS ||
         d->kind == OKNO__F_OPT_TS)) {
        int32_t narrow = 0; /* promotion int -> long */
        int rc = avro_value_get_int(v, &narrow);
        *(int64_t *)m = narrow;
        return rc == 0 ? 0 : mismatch(err, d->name);
    }
    const void *p = NULL;
    const char *s = NULL;
    size_t size = 0;
    int i = 0, rc = 0;
    switch (d->kind) {
    case OKNO__F_UUID:
    case OKNO__F_OPT_UUID:
        rc = avro_value_get_fixed(v, &p, &size);
        if (rc == 0 && size == sizeof(okno_uuid)) {
            memcpy(m, p, sizeof(okno_uuid));
        }
        return rc == 0 && size == sizeof(okno_uuid) ? 0 : mismatch(err, d->name);
    case OKNO__F_LONG:
    case OKNO__F_OPT_LONG:
    case OKNO__F_TS:
    case OKNO__F_OPT_TS:
        rc = avro_value_get_long(v, (int64_t *)m);
        break;
    case OKNO__F_U64:
    case OKNO__F_OPT_U64:
    case OKNO__F_U32:
        return get_count(v, d, m, err);
    case OKNO__F_INT:
    case OKNO__F_OPT_INT:
        rc = avro_value_get_int(v, (int32_t *)m);
        break;
    case OKNO__F_BOOL:
        rc = avro_value_get_boolean(v, &i);
        *(bool *)m = i != 0;
        break;
    case OKNO__F_STR:
    case OKNO__F_OPT_STR:
        /* avro-c's size counts the NUL it keeps after the text; the record cap keeps every
         * length far below UINT32_MAX. */
        rc = avro_value_get_string(v, &s, &size);
        *(okno_str *)m = (okno_str){s, rc == 0 && size > 0 ? (uint32_t)(size - 1) : 0};
        break;
    case OKNO__F_ENUM:
    case OKNO__F_OPT_ENUM:
        rc = avro_value_get_enum(v, &i);
        *(int *)m = d->enum_base + i;
        break;
    case OKNO__F_AGREERS:
        return get_agreers(v, d, rec, err);
    case OKNO__F_OPT_ATTACHMENTS:
        return get_attachments(v, d, rec, err);
    case OKNO__F_IMPLIED:
        return 0;
    }
    return rc == 0 ? 0 : mismatch(err, d->name);
}

/* The field of an older writer's record, found by name; 0, or 1 when the writer has none (the
 * registry made sure such a field is optional: its default, null, is the zeroed member). */
static int writer_field(avro_value_t *v, const char *name, avro_value_t *f)
{
    avro_schema_t schema = avro_value_get_schema(v);
    if (avro_schema_record_field_get_index(schema, name) < 0) {
        return 1;
    }
    return avro_value_get_by_name(v, name, f, NULL) == 0 ? 0 : -1;
}

/* Reads the fields of record value v into rec; an absent optional leaves the zeroed member.
 * resolve: v is of an older writer's schema, read by name under Avro's resolution rules. */
static int get_fields(avro_value_t *v, const struct okno__avro_fdesc *fields, size_t n,
                      uint8_t *rec, size_t *index, bool resolve, okno_avro_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct okno__avro_fdesc *d = &fields[i];
        if (d->kind == OKNO__F_IMPLIED) {
            *(int *)(rec + d->offset) = d->enum_base;
            continue;
        }
        avro_value_t f, branch;
        int which;
        if (resolve) {
            int found = writer_field(v, d->name, &f);
            if (found < 0) {
                return mismatch(err, d->name);
            }
            if (found > 0) {
                continue;
            }
        } else if (avro_value_get_by_index(v, (*index)++, &f, NULL) != 0) {
            return mismatch(err, d->name);
        }
        if (okno__avro_fkind_optional(d->kind) &&
            (!resolve || avro_value_get_type(&f) == AVRO_UNION)) {
            if (avro_value_get_discriminant(&f, &which) != 0) {
                return mismatch(err, d->name);
            }
            if (avro_value_get_current_branch(&f, &branch) != 0) {
                return mismatch(err, d->name);
            }
            if (which == OKNO_AVRO_BRANCH_NULL || avro_value_get_type(&branch) == AVRO_NULL) {
                continue;
            }
            f = branch;
        }
        int rc = get_value(&f, d, rec, resolve, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The payload branch of an older writer's record: by the record's name, not its index. */
static const struct okno__avro_rdesc *payload_by_name(const struct okno__avro_tdesc *t,
                                                      avro_value_t *body)
{
    const char *name = avro_schema_name(avro_value_get_schema(body));
    for (size_t i = 0; name != NULL && i < t->payload_count; i++) {
        if (strcmp(t->payloads[i].name, name) == 0) {
            return &t->payloads[i];
        }
    }
    return NULL;
}

static int get_record(okno_avro_topic topic, avro_value_t *v, uint8_t *rec, bool resolve,
                      okno_avro_error *err)
{
    const struct okno__avro_tdesc *t = &okno__avro_topics[topic];
    size_t index = 0;
    int rc = get_fields(v, t->header, t->header_count, rec, &index, resolve, err);
    if (rc != 0 || t->payload_count == 0) {
        return rc;
    }
    avro_value_t payload, body;
    int branch = -1;
    if (resolve) {
        const okno_avro_schema *current = okno_avro_topic_schema(topic);
        if (avro_value_get_by_name(v, current->root->fields[t->header_count].name, &payload,
                                   NULL) != 0 ||
            avro_value_get_current_branch(&payload, &body) != 0) {
            return mismatch(err, t->schema_name);
        }
    } else if (avro_value_get_by_index(v, index, &payload, NULL) != 0 ||
               avro_value_get_discriminant(&payload, &branch) != 0 || branch < 0 ||
               (size_t)branch >= t->payload_count ||
               avro_value_get_current_branch(&payload, &body) != 0) {
        return mismatch(err, t->schema_name);
    }
    const struct okno__avro_rdesc *p = resolve ? payload_by_name(t, &body) : &t->payloads[branch];
    if (p == NULL) {
        return fail(err, OKNO_EDECODE, "a payload branch the current schema does not have",
                    t->schema_name);
    }
    /* The header names the payload too (for consumers that do not look inside unions); a record
     * where the two disagree is refused rather than guessed at. */
    if (*(const int *)(rec + t->code_offset) != p->code) {
        return fail(err, OKNO_EDECODE, "header type disagrees with the payload branch", p->name);
    }
    size_t body_index = 0;
    return get_fields(&body, p->fields, p->count, rec, &body_index, resolve, err);
}

static void old_value_free(okno_avro_decoder *d)
{
    if (d->old_iface != NULL) {
        avro_value_t v = {d->old_iface, d->old_self};
        avro_value_decref(&v);
    }
    d->old_iface = NULL;
    d->old_self = NULL;
}

/* The decoder's value for records of an older writer, made when that writer first comes. */
static int old_value(okno_avro_decoder *d, int writer, avro_value_t *v, okno_avro_error *err)
{
    if (d->old_iface == NULL || d->old_writer != writer) {
        old_value_free(d);
        avro_value_iface_t *cls = okno__avro_writer_class(writer);
        if (cls == NULL || avro_generic_value_new(cls, v) != 0) {
            return fail(err, OKNO_ENOMEM, "cannot make a value of an older schema", "avro-c");
        }
        d->old_iface = v->iface;
        d->old_self = v->self;
        d->old_writer = writer;
    }
    *v = (avro_value_t){d->old_iface, d->old_self};
    return 0;
}

/* body has passed okno_avro_validate() under its writer's schema (writer -1: d's topic's
 * current one): only now may avro-c read it. A body of an older version is read with that
 * version's schema and resolved into the current struct by name. */
static int decode_body(okno_avro_decoder *d, int writer, const uint8_t *body, size_t body_bytes,
                       void *out, okno_avro_error *err)
{
    const struct okno__avro_tdesc *t = &okno__avro_topics[d->topic];
    avro_value_t v = {d->value_iface, d->value_self};
    if (writer >= 0) {
        int rc = old_value(d, writer, &v, err);
        if (rc != 0) {
            return rc;
        }
    }
    avro_reader_memory_set_source(d->reader, (const char *)body, (int64_t)body_bytes);
    if (avro_value_read(d->reader, &v) != 0) {
        /* The validator accepted what avro-c refuses (the fuzz target hunts for this). */
        return fail(err, OKNO_EDECODE, avro_strerror(), "avro-c");
    }
    memset(out, 0, t->struct_bytes);
    return get_record(d->topic, &v, out, writer >= 0, err);
}

int okno_avro_decoder_init(okno_avro_decoder *d, okno_avro_topic topic)
{
    assert(d != NULL);
    memset(d, 0, sizeof(*d));
    avro_value_iface_t *cls = okno__avro_topic_class(topic);
    if (cls == NULL) {
        return OKNO_EINVAL;
    }
    avro_value_t v;
    if (avro_generic_value_new(cls, &v) != 0) {
        return OKNO_ENOMEM;
    }
    d->topic = topic;
    d->value_iface = v.iface;
    d->value_self = v.self;
    d->reader = avro_reader_memory("", 0); /* pointed at each record in turn */
    if (d->reader == NULL) {
        okno_avro_decoder_close(d);
        return OKNO_ENOMEM;
    }
    return 0;
}

void okno_avro_decoder_close(okno_avro_decoder *d)
{
    assert(d != NULL);
    if (d->value_iface != NULL) {
        avro_value_t v = {d->value_iface, d->value_self};
        avro_value_decref(&v);
    }
    if (d->reader != NULL) {
        avro_reader_free(d->reader);
    }
    old_value_free(d);
    memset(d, 0, sizeof(*d));
}

/* Frame and validation first; then the body, which must be of topic. */
static int check(okno_avro_topic topic, const uint8_t *buf, size_t len, int *writer,
                 const uint8_t **body, size_t *body_bytes, okno_avro_error *err)
{
    okno_avro_topic found;
    int rc = okno__avro_frame_check_writer(buf, len, &found, writer, body, body_bytes, err);
    if (rc == 0 && found != topic) {
        rc =
            fail(err, OKNO_EDECODE, "record belongs to another topic", okno_avro_topic_name(found));
    }
    return rc;
}

int okno_avro_decoder_decode(okno_avro_decoder *d, const uint8_t *buf, size_t len, void *out,
                             okno_avro_error *err)
{
    assert(d != NULL);
    assert(d->reader != NULL);
    assert(out != NULL);
    const uint8_t *body;
    size_t body_bytes;
    int writer;
    int rc = check(d->topic, buf, len, &writer, &body, &body_bytes, err);
    return rc != 0 ? rc : decode_body(d, writer, body, body_bytes, out, err);
}

/* The calling thread's decoder of topic (a valid topic), created on first use. */
static int local_decoder(okno_avro_topic topic, okno_avro_decoder **out, okno_avro_error *err)
{
    struct okno__avro_local *l = okno__avro_local_get();
    int rc = l == NULL ? OKNO_ENOMEM : 0;
    if (rc == 0 && l->decoders[topic].reader == NULL) {
        rc = okno_avro_decoder_init(&l->decoders[topic], topic);
    }
    if (rc != 0) {
        return fail(err, rc, "cannot create the thread's decoder", okno_avro_topic_name(topic));
    }
    *out = &l->decoders[topic];
    return 0;
}

int okno_avro_decode(const uint8_t *buf, size_t len, okno_avro_record *out, okno_avro_error *err)
{
    const uint8_t *body;
    size_t body_bytes;
    okno_avro_decoder *d;
    int writer;
    int rc = okno__avro_frame_check_writer(buf, len, &out->topic, &writer, &body, &body_bytes, err);
    if (rc == 0) {
        rc = local_decoder(out->topic, &d, err);
    }
    return rc != 0 ? rc : decode_body(d, writer, body, body_bytes, &out->as, err);
}

int okno_avro_decode_topic(okno_avro_topic topic, const uint8_t *buf, size_t len, void *out,
                           okno_avro_error *err)
{
    const uint8_t *body;
    size_t body_bytes;
    okno_avro_decoder *d;
    int writer;
    int rc = check(topic, buf, len, &writer, &body, &body_bytes, err);
    if (rc == 0) {
        rc = local_decoder(topic, &d, err);
    }
    return rc != 0 ? rc : decode_body(d, writer, body, body_bytes, out, err);
}
