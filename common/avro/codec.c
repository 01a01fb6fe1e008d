/* Encoding through avro-c: the tables of records.h fill the calling thread's reusable avro-c
 * value from a C struct, and avro_value_write() writes it into the caller's buffer after the
 * single-object header. What avro-c cannot know is checked here: enum ranges, unsigned values
 * that do not fit, UTF-8 (readers refuse anything else), the agreers' cap, implied fields. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "okno/error.h"
#include "records.h"
#include "wire.h"

/* Every optional field is the union ["null", T]: branch 0 is null, branch 1 the value. */
#define OKNO_AVRO_BRANCH_NULL  0
#define OKNO_AVRO_BRANCH_VALUE 1
/* Smallest text buffer a thread allocates, bytes; it grows to the largest record's text. */
#define OKNO_AVRO_TEXT_BYTES_MIN 1024

/* One encode in progress. */
struct enc {
    struct okno__avro_local *l; /* the thread's value, writer and text buffer */
    size_t text_used;           /* bytes of l->text taken by this record's strings */
    okno_avro_error *err;
};

static int fail(okno_avro_error *err, int rc, const char *what, const char *field)
{
    if (err != NULL) {
        snprintf(err->reason, sizeof(err->reason), "%s: %s", field, what);
        err->offset = 0;
    }
    return rc;
}

/* avro-c returns 0 or an errno value; the tables were checked against the schema at init, so
 * a failure here is memory or a bug, reported with avro-c's own message. */
static int av(struct enc *e, int rc, const char *field)
{
    if (rc == 0) {
        return 0;
    }
    return fail(e->err, rc == ENOMEM ? OKNO_ENOMEM : OKNO_EINVAL, avro_strerror(), field);
}

/* Whether an optional field holds its "absent" value, which travels as null. */
static int is_absent(const struct okno__avro_fdesc *d, const uint8_t *m)
{
    static const okno_uuid zero;
    switch (d->kind) {
    case OKNO__F_OPT_UUID:
        return memcmp(m, &zero, sizeof(zero)) == 0;
    case OKNO__F_OPT_LONG:
    case OKNO__F_OPT_TS:
        return *(const int64_t *)m == 0;
    case OKNO__F_OPT_U64:
        return *(const uint64_t *)m == 0;
    case OKNO__F_OPT_INT:
        return *(const int32_t *)m == 0;
    case OKNO__F_OPT_STR:
        return ((const okno_str *)m)->len == 0;
    case OKNO__F_OPT_ATTACHMENTS:
        return *(const uint32_t *)((const uint8_t *)m - d->offset + d->count_offset) == 0;
    default:
        return *(const int *)m == 0; /* OKNO__F_OPT_ENUM: NONE */
    }
}

/* avro-c strings carry a NUL that okno_str slices lack, so each string is copied once, with
 * its NUL, into the thread's text buffer, and avro-c is given that copy without copying again
 * (a wrapped buffer with no free function: the buffer stays the thread's). */
static int put_string(struct enc *e, avro_value_t *v, const struct okno__avro_fdesc *d,
                      const okno_str *s)
{
    if ((s->ptr == NULL && s->len > 0) ||
        (s->len > 0 && !okno__avro_utf8_ok((const uint8_t *)s->ptr, s->len))) {
        return fail(e->err, OKNO_EINVAL, "not UTF-8", d->name);
    }
    char *copy = e->l->text + e->text_used;
    assert(e->text_used + s->len + 1 <= e->l->text_cap); /* reserve_text() counted it */
    if (s->len > 0) {
        memcpy(copy, s->ptr, s->len);
    }
    copy[s->len] = '\0';
    e->text_used += s->len + 1;
    avro_wrapped_buffer_t wrapped;
    int rc = avro_wrapped_buffer_new(&wrapped, copy, s->len + 1);
    if (rc == 0) {
        rc = avro_value_give_string_len(v, &wrapped);
    }
    return av(e, rc, d->name);
}

static int put_agreers(struct enc *e, avro_value_t *v, const struct okno__avro_fdesc *d,
                       const uint8_t *rec)
{
    uint32_t count = *(const uint32_t *)(rec + d->count_offset);
    const okno_user_id *ids = (const okno_user_id *)(rec + d->offset);
    if (count > OKNO_AGREERS_MAX) {
        return fail(e->err, OKNO_EINVAL, "more than OKNO_AGREERS_MAX", d->name);
    }
    int rc = avro_value_reset(v);
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        avro_value_t item;
        rc = avro_value_append(v, &item, NULL);
        if (rc == 0) {
            rc = avro_value_set_long(&item, ids[i]);
        }
    }
    return av(e, rc, d->name);
}

/* The five members of an Attachment record, in schema order. */
static int put_attachment(struct enc *e, avro_value_t *item, const struct okno__avro_fdesc *d,
                          const okno_attachment *a)
{
    const okno_str *texts[] = {&a->id, &a->name, &a->media_type};
    avro_value_t f;
    int rc = 0;
    for (size_t k = 0; k < 3 && rc == 0; k++) {
        rc = av(e, avro_value_get_by_index(item, k, &f, NULL), d->name);
        if (rc == 0) {
            rc = put_string(e, &f, d, texts[k]);
        }
    }
    if (rc == 0) {
        rc = av(e, avro_value_get_by_index(item, 3, &f, NULL), d->name);
    }
    if (rc == 0) {
        rc = av(e, avro_value_set_long(&f, a->size_bytes), d->name);
    }
    if (rc == 0) {
        rc = av(e, avro_value_get_by_index(item, 4, &f, NULL), d->name);
    }
    if (rc == 0) {
        rc = put_string(e, &f, d, &a->sha256);
    }
    return rc;
}

static int put_attachments(struct enc *e, avro_value_t *v, const struct okno__avro_fdesc *d,
                           const uint8_t *rec)
{
    uint32_t count = *(const uint32_t *)(rec + d->count_offset);
    const okno_attachment *list = (const okno_attachment *)(rec + d->offset);
    if (count > OKNO_ATTACHMENTS_MAX) {
        return fail(e->err, OKNO_EINVAL, "more than OKNO_ATTACHMENTS_MAX", d->name);
    }
    int rc = av(e, avro_value_reset(v), d->name);
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        avro_value_t item;
        rc = av(e, avro_value_append(v, &item, NULL), d->name);
        if (rc == 0) {
            rc = put_attachment(e, &item, d, &list[i]);
        }
    }
    return rc;
}

static int put_value(struct enc *e, avro_value_t *v, const struct okno__avro_fdesc *d,
                     const uint8_t *rec)
{
    const uint8_t *m = rec + d->offset;
    int sym;
    switch (d->kind) {
    case OKNO__F_UUID:
    case OKNO__F_OPT_UUID: /* avro-c copies the bytes; its prototype just lacks const */
        return av(e, avro_value_set_fixed(v, (void *)m, sizeof(okno_uuid)), d->name);
    case OKNO__F_LONG:
    case OKNO__F_OPT_LONG:
    case OKNO__F_TS:
    case OKNO__F_OPT_TS:
        return av(e, avro_value_set_long(v, *(const int64_t *)m), d->name);
    case OKNO__F_U64:
    case OKNO__F_OPT_U64:
        if (*(const uint64_t *)m > INT64_MAX) {
            return fail(e->err, OKNO_EINVAL, "above INT64_MAX", d->name);
        }
        return av(e, avro_value_set_long(v, (int64_t) * (const uint64_t *)m), d->name);
    case OKNO__F_INT:
    case OKNO__F_OPT_INT:
        return av(e, avro_value_set_int(v, *(const int32_t *)m), d->name);
    case OKNO__F_U32:
        if (*(const uint32_t *)m > INT32_MAX) {
            return fail(e->err, OKNO_EINVAL, "above INT32_MAX", d->name);
        }
        return av(e, avro_value_set_int(v, (int32_t) * (const uint32_t *)m), d->name);
    case OKNO__F_BOOL:
        return av(e, avro_value_set_boolean(v, *(const bool *)m), d->name);
    case OKNO__F_STR:
    case OKNO__F_OPT_STR:
        return put_string(e, v, d, (const okno_str *)m);
    case OKNO__F_ENUM:
    case OKNO__F_OPT_ENUM:
        sym = *(const int *)m - d->enum_base;
        if (sym < 0 || sym >= d->enum_count) {
            return fail(e->err, OKNO_EINVAL, "enum value out of range", d->name);
        }
        return av(e, avro_value_set_enum(v, sym), d->name);
    case OKNO__F_AGREERS:
        return put_agreers(e, v, d, rec);
    case OKNO__F_OPT_ATTACHMENTS:
        return put_attachments(e, v, d, rec);
    case OKNO__F_IMPLIED:
        return 0;
    }
    return fail(e->err, OKNO_EINVAL, "unknown field kind", d->name);
}

static int put_field(struct enc *e, avro_value_t *f, const struct okno__avro_fdesc *d,
                     const uint8_t *rec)
{
    if (!okno__avro_fkind_optional(d->kind)) {
        return put_value(e, f, d, rec);
    }
    int absent = is_absent(d, rec + d->offset);
    avro_value_t branch;
    int rc =
        avro_value_set_branch(f, absent ? OKNO_AVRO_BRANCH_NULL : OKNO_AVRO_BRANCH_VALUE, &branch);
    if (rc == 0 && absent) {
        rc = avro_value_set_null(&branch);
    }
    if (rc != 0 || absent) {
        return av(e, rc, d->name);
    }
    return put_value(e, &branch, d, rec);
}

/* Sets the fields of record value v from rec; implied fields are checked, not sent. */
static int put_fields(struct enc *e, avro_value_t *v, const struct okno__avro_fdesc *fields,
                      size_t n, const uint8_t *rec, size_t *index)
{
    for (size_t i = 0; i < n; i++) {
        const struct okno__avro_fdesc *d = &fields[i];
        if (d->kind == OKNO__F_IMPLIED) {
            if (*(const int *)(rec + d->offset) != d->enum_base) {
                return fail(e->err, OKNO_EINVAL, "disagrees with the record type", d->name);
            }
            continue;
        }
        avro_value_t f;
        int rc = av(e, avro_value_get_by_index(v, (*index)++, &f, NULL), d->name);
        if (rc == 0) {
            rc = put_field(e, &f, d, rec);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static const struct okno__avro_rdesc *payload_of(const struct okno__avro_tdesc *t, int code,
                                                 size_t *branch)
{
    for (size_t i = 0; i < t->payload_count; i++) {
        if (t->payloads[i].code == code) {
            *branch = i;
            return &t->payloads[i];
        }
    }
    return NULL;
}

/* The header fields, then (payload topics) the payload union's branch p. */
static int put_record(struct enc *e, avro_value_t *v, const struct okno__avro_tdesc *t,
                      const struct okno__avro_rdesc *p, size_t branch, const uint8_t *rec)
{
    size_t index = 0;
    int rc = put_fields(e, v, t->header, t->header_count, rec, &index);
    if (rc != 0 || p == NULL) {
        return rc;
    }
    avro_value_t payload, body;
    rc = avro_value_get_by_index(v, index, &payload, NULL);
    if (rc == 0) {
        rc = avro_value_set_branch(&payload, (int)branch, &body);
    }
    if (rc != 0) {
        return av(e, rc, p->name);
    }
    size_t body_index = 0;
    return put_fields(e, &body, p->fields, p->count, rec, &body_index);
}

static size_t text_bytes(const struct okno__avro_fdesc *fields, size_t n, const uint8_t *rec,
                         size_t *count)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (fields[i].kind == OKNO__F_STR || fields[i].kind == OKNO__F_OPT_STR) {
            bytes += ((const okno_str *)(rec + fields[i].offset))->len;
            (*count)++;
        } else if (fields[i].kind == OKNO__F_OPT_ATTACHMENTS) {
            uint32_t files = *(const uint32_t *)(rec + fields[i].count_offset);
            const okno_attachment *a = (const okno_attachment *)(rec + fields[i].offset);
            for (uint32_t k = 0; k < files && k < OKNO_ATTACHMENTS_MAX; k++) {
                bytes +=
                    (size_t)a[k].id.len + a[k].name.len + a[k].media_type.len + a[k].sha256.len;
                *count += 4;
            }
        }
    }
    return bytes;
}

/* Room in the thread's text buffer for every string of the record and its NUL, made before
 * any string is handed to avro-c (growing the buffer later would move what it was given).
 * Text longer than the body may be is refused before anything is allocated for it. */
static int reserve_text(struct enc *e, const struct okno__avro_tdesc *t,
                        const struct okno__avro_rdesc *p, const uint8_t *rec, size_t body_cap)
{
    size_t count = 0;
    size_t bytes = text_bytes(t->header, t->header_count, rec, &count);
    if (p != NULL) {
        bytes += text_bytes(p->fields, p->count, rec, &count);
    }
    if (bytes > body_cap) {
        return fail(e->err, OKNO_ELIMIT, "text longer than the buffer or record cap", "encode");
    }
    size_t need = bytes + count;
    if (need <= e->l->text_cap) {
        return 0;
    }
    size_t cap = need < OKNO_AVRO_TEXT_BYTES_MIN ? OKNO_AVRO_TEXT_BYTES_MIN : need;
    char *text = realloc(e->l->text, cap);
    if (text == NULL) {
        return fail(e->err, OKNO_ENOMEM, "cannot grow the text buffer", "encode");
    }
    e->l->text = text;
    e->l->text_cap = cap;
    return 0;
}

static void put_header(uint8_t *buf, uint64_t fingerprint)
{
    buf[0] = 0xc3;
    buf[1] = 0x01;
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = (uint8_t)(fingerprint >> (8 * i));
    }
}

static int write_body(struct enc *e, avro_value_t *v, uint8_t *buf, size_t body_cap, size_t *len)
{
    avro_writer_t w = e->l->writer;
    avro_writer_memory_set_dest(w, (const char *)buf + OKNO_AVRO_HEADER_BYTES, (int64_t)body_cap);
    int rc = avro_value_write(w, v);
    if (rc == ENOSPC) {
        return fail(e->err, OKNO_ELIMIT, "record does not fit the buffer or the record cap",
                    "encode");
    }
    if (rc != 0) {
        return av(e, rc, "encode");
    }
    *len = OKNO_AVRO_HEADER_BYTES + (size_t)avro_writer_tell(w);
    return 0;
}

/* The thread's reusable value of topic, created on its first encode. */
static int encoder_value(struct okno__avro_local *l, okno_avro_topic topic, avro_value_t **out)
{
    avro_value_t *v = &l->encoders[topic];
    if (v->iface == NULL && avro_generic_value_new(okno__avro_topic_class(topic), v) != 0) {
        v->iface = NULL;
        return OKNO_ENOMEM;
    }
    *out = v;
    return 0;
}

static int start(okno_avro_topic topic, size_t cap, struct enc *e, avro_value_t **v)
{
    if (okno_avro_topic_schema(topic) == NULL) {
        return fail(e->err, OKNO_EINVAL, "okno_avro_init() not called or topic unknown", "encode");
    }
    if (cap < OKNO_AVRO_HEADER_BYTES) {
        return fail(e->err, OKNO_ELIMIT, "record does not fit the buffer", "encode");
    }
    e->l = okno__avro_local_get();
    int rc = e->l == NULL ? OKNO_ENOMEM : encoder_value(e->l, topic, v);
    if (rc != 0) {
        return fail(e->err, rc, "cannot allocate the thread's encoder", "encode");
    }
    return 0;
}

int okno_avro_encode(okno_avro_topic topic, const void *record, uint8_t *buf, size_t cap,
                     size_t *len, okno_avro_error *err)
{
    assert(record != NULL);
    assert(buf != NULL);
    assert(len != NULL);
    struct enc e = {NULL, 0, err};
    avro_value_t *v = NULL;
    int rc = start(topic, cap, &e, &v);
    if (rc != 0) {
        return rc;
    }
    const struct okno__avro_tdesc *t = &okno__avro_topics[topic];
    const struct okno__avro_rdesc *p = NULL;
    size_t branch = 0;
    if (t->payload_count > 0 &&
        (p = payload_of(t, *(const int *)((const uint8_t *)record + t->code_offset), &branch)) ==
            NULL) {
        return fail(err, OKNO_EINVAL, "no payload record for this code", t->schema_name);
    }
    size_t body_cap = cap - OKNO_AVRO_HEADER_BYTES;
    if (body_cap > OKNO_AVRO_RECORD_BYTES_MAX) {
        body_cap = OKNO_AVRO_RECORD_BYTES_MAX; /* readers refuse anything longer */
    }
    rc = reserve_text(&e, t, p, record, body_cap);
    if (rc == 0) {
        rc = put_record(&e, v, t, p, branch, record);
    }
    if (rc == 0) {
        rc = write_body(&e, v, buf, body_cap, len);
    }
    if (rc != 0) {
        return rc;
    }
    const okno_avro_schema *schema = okno_avro_topic_schema(topic);
    put_header(buf, okno_avro_schema_fingerprint(schema));
    /* Pair assertion: what we produce must pass the same check a consumer applies. */
    assert(okno_avro_validate(schema, buf + OKNO_AVRO_HEADER_BYTES, *len - OKNO_AVRO_HEADER_BYTES,
                              NULL) == 0);
    return 0;
}
