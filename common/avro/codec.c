/* Table-driven encoding and decoding of okno's records (see records.h for the tables).
 *
 * Decoding is zero-copy: after okno_avro_frame_check() has validated the whole body, strings
 * are returned as slices of the input buffer, so a decode allocates nothing and copies only
 * fixed-size fields into the caller's struct. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "okno/error.h"
#include "records.h"
#include "wire.h"

/* Every optional field is the union ["null", T]: branch 0 is null, branch 1 the value. */
#define OKNO_AVRO_BRANCH_NULL  0
#define OKNO_AVRO_BRANCH_VALUE 1

static int fail(okno_avro_error *err, int rc, const char *what, const char *field)
{
    if (err != NULL) {
        snprintf(err->reason, sizeof(err->reason), "%s: %s", field, what);
        err->offset = 0;
    }
    return rc;
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
    default:
        return *(const int *)m == 0; /* OKNO__F_OPT_ENUM: NONE */
    }
}

static int encode_agreers(okno__avro_writer *w, const struct okno__avro_fdesc *d,
                          const uint8_t *rec, okno_avro_error *err)
{
    uint32_t count = *(const uint32_t *)(rec + d->count_offset);
    const okno_user_id *ids = (const okno_user_id *)(rec + d->offset);
    if (count > OKNO_AGREERS_MAX) {
        return fail(err, OKNO_EINVAL, "more than OKNO_AGREERS_MAX", d->name);
    }
    if (count > 0) {
        okno__avro_put_long(w, count);
        for (uint32_t i = 0; i < count; i++) {
            okno__avro_put_long(w, ids[i]);
        }
    }
    okno__avro_put_long(w, 0);
    return 0;
}

static int encode_value(okno__avro_writer *w, const struct okno__avro_fdesc *d, const uint8_t *rec,
                        okno_avro_error *err)
{
    const uint8_t *m = rec + d->offset;
    const okno_str *s = (const okno_str *)m;
    int v;
    switch (d->kind) {
    case OKNO__F_UUID:
    case OKNO__F_OPT_UUID:
        okno__avro_put_raw(w, m, sizeof(okno_uuid));
        return 0;
    case OKNO__F_LONG:
    case OKNO__F_OPT_LONG:
    case OKNO__F_TS:
    case OKNO__F_OPT_TS:
        okno__avro_put_long(w, *(const int64_t *)m);
        return 0;
    case OKNO__F_U64:
    case OKNO__F_OPT_U64:
        if (*(const uint64_t *)m > INT64_MAX) {
            return fail(err, OKNO_EINVAL, "above INT64_MAX", d->name);
        }
        okno__avro_put_long(w, (int64_t) * (const uint64_t *)m);
        return 0;
    case OKNO__F_INT:
    case OKNO__F_OPT_INT:
        okno__avro_put_long(w, *(const int32_t *)m);
        return 0;
    case OKNO__F_U32:
        if (*(const uint32_t *)m > INT32_MAX) {
            return fail(err, OKNO_EINVAL, "above INT32_MAX", d->name);
        }
        okno__avro_put_long(w, *(const uint32_t *)m);
        return 0;
    case OKNO__F_BOOL:
        okno__avro_put_bool(w, *(const bool *)m);
        return 0;
    case OKNO__F_STR:
    case OKNO__F_OPT_STR:
        /* Readers refuse strings that are not UTF-8, so never write one. */
        if ((s->ptr == NULL && s->len > 0) ||
            (s->len > 0 && !okno__avro_utf8_ok((const uint8_t *)s->ptr, s->len))) {
            return fail(err, OKNO_EINVAL, "not UTF-8", d->name);
        }
        okno__avro_put_bytes(w, s->ptr, s->len);
        return 0;
    case OKNO__F_ENUM:
    case OKNO__F_OPT_ENUM:
        v = *(const int *)m - d->enum_base;
        if (v < 0 || v >= d->enum_count) {
            return fail(err, OKNO_EINVAL, "enum value out of range", d->name);
        }
        okno__avro_put_long(w, v);
        return 0;
    case OKNO__F_AGREERS:
        return encode_agreers(w, d, rec, err);
    case OKNO__F_IMPLIED:
        return 0;
    }
    return fail(err, OKNO_EINVAL, "unknown field kind", d->name);
}

static int encode_fields(okno__avro_writer *w, const struct okno__avro_fdesc *fields, size_t n,
                         const uint8_t *rec, okno_avro_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct okno__avro_fdesc *d = &fields[i];
        if (d->kind == OKNO__F_IMPLIED) {
            if (*(const int *)(rec + d->offset) != d->enum_base) {
                return fail(err, OKNO_EINVAL, "disagrees with the record type", d->name);
            }
            continue;
        }
        if (okno__avro_fkind_optional(d->kind)) {
            int absent = is_absent(d, rec + d->offset);
            okno__avro_put_long(w, absent ? OKNO_AVRO_BRANCH_NULL : OKNO_AVRO_BRANCH_VALUE);
            if (absent) {
                continue;
            }
        }
        int rc = encode_value(w, d, rec, err);
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

static void put_header(okno__avro_writer *w, uint64_t fingerprint)
{
    uint8_t h[OKNO_AVRO_HEADER_BYTES] = {0xc3, 0x01};
    for (int i = 0; i < 8; i++) {
        h[2 + i] = (uint8_t)(fingerprint >> (8 * i));
    }
    okno__avro_put_raw(w, h, sizeof(h));
}

static int encode_record(const struct okno__avro_tdesc *t, const uint8_t *rec, okno__avro_writer *w,
                         okno_avro_error *err)
{
    int rc = encode_fields(w, t->header, t->header_count, rec, err);
    if (rc != 0 || t->payload_count == 0) {
        return rc;
    }
    size_t branch;
    const struct okno__avro_rdesc *p = payload_of(t, *(const int *)(rec + t->code_offset), &branch);
    if (p == NULL) {
        return fail(err, OKNO_EINVAL, "no payload record for this code", t->schema_name);
    }
    okno__avro_put_long(w, (int64_t)branch);
    return encode_fields(w, p->fields, p->count, rec, err);
}

int okno_avro_encode(okno_avro_topic topic, const void *record, uint8_t *buf, size_t cap,
                     size_t *len, okno_avro_error *err)
{
    const okno_avro_schema *schema = okno_avro_topic_schema(topic);
    assert(record != NULL && buf != NULL && len != NULL);
    if (schema == NULL) {
        return fail(err, OKNO_EINVAL, "okno_avro_init() not called or topic unknown", "encode");
    }
    okno__avro_writer w = {buf, 0, cap, 0};
    put_header(&w, okno_avro_schema_fingerprint(schema));
    int rc = encode_record(&okno__avro_topics[topic], record, &w, err);
    if (rc == 0 && w.err != 0) {
        rc = fail(err, w.err, "record does not fit the buffer", "encode");
    }
    if (rc != 0) {
        return rc;
    }
    /* Pair assertion: what we produce must pass the same check a consumer applies. */
    assert(okno_avro_validate(schema, buf + OKNO_AVRO_HEADER_BYTES, w.len - OKNO_AVRO_HEADER_BYTES,
                              NULL) == 0);
    *len = w.len;
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------------ */

static int decode_agreers(okno__avro_reader *r, const struct okno__avro_fdesc *d, uint8_t *rec,
                          okno_avro_error *err)
{
    okno_user_id *ids = (okno_user_id *)(rec + d->offset);
    uint32_t n = 0;
    for (;;) {
        int64_t count = okno__avro_get_long(r);
        if (count == 0 || r->err != 0) {
            break;
        }
        if (count < 0) {
            count = -count; /* the validator refused INT64_MIN */
            (void)okno__avro_get_long(r);
        }
        for (int64_t i = 0; i < count; i++) {
            if (n == OKNO_AGREERS_MAX) {
                return fail(err, OKNO_EDECODE, "more than OKNO_AGREERS_MAX", d->name);
            }
            ids[n++] = okno__avro_get_long(r);
        }
    }
    *(uint32_t *)(rec + d->count_offset) = n;
    return 0;
}

static int decode_value(okno__avro_reader *r, const struct okno__avro_fdesc *d, uint8_t *rec,
                        okno_avro_error *err)
{
    uint8_t *m = rec + d->offset;
    int64_t v;
    size_t len;
    switch (d->kind) {
    case OKNO__F_UUID:
    case OKNO__F_OPT_UUID: {
        const uint8_t *p = okno__avro_get_raw(r, sizeof(okno_uuid));
        if (p != NULL) {
            memcpy(m, p, sizeof(okno_uuid));
        }
        return 0;
    }
    case OKNO__F_LONG:
    case OKNO__F_OPT_LONG:
    case OKNO__F_TS:
    case OKNO__F_OPT_TS:
        *(int64_t *)m = okno__avro_get_long(r);
        return 0;
    case OKNO__F_U64:
    case OKNO__F_OPT_U64:
    case OKNO__F_U32:
        v = okno__avro_get_long(r);
        if (v < 0) {
            return fail(err, OKNO_EDECODE, "negative where only counts are allowed", d->name);
        }
        if (d->kind == OKNO__F_U32) {
            *(uint32_t *)m = (uint32_t)v; /* the validator kept it within int range */
        } else {
            *(uint64_t *)m = (uint64_t)v;
        }
        return 0;
    case OKNO__F_INT:
    case OKNO__F_OPT_INT:
        *(int32_t *)m = (int32_t)okno__avro_get_long(r);
        return 0;
    case OKNO__F_BOOL:
        *(bool *)m = okno__avro_get_bool(r);
        return 0;
    case OKNO__F_STR:
    case OKNO__F_OPT_STR: {
        const uint8_t *p = okno__avro_get_bytes(r, &len);
        /* The record cap keeps every length far below UINT32_MAX. */
        *(okno_str *)m = (okno_str){(const char *)p, (uint32_t)len};
        return 0;
    }
    case OKNO__F_ENUM:
    case OKNO__F_OPT_ENUM:
        *(int *)m = d->enum_base + (int)okno__avro_get_long(r);
        return 0;
    case OKNO__F_AGREERS:
        return decode_agreers(r, d, rec, err);
    case OKNO__F_IMPLIED:
        return 0;
    }
    return fail(err, OKNO_EDECODE, "unknown field kind", d->name);
}

static int decode_fields(okno__avro_reader *r, const struct okno__avro_fdesc *fields, size_t n,
                         uint8_t *rec, okno_avro_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct okno__avro_fdesc *d = &fields[i];
        if (d->kind == OKNO__F_IMPLIED) {
            *(int *)(rec + d->offset) = d->enum_base;
            continue;
        }
        if (okno__avro_fkind_optional(d->kind) && okno__avro_get_long(r) == OKNO_AVRO_BRANCH_NULL) {
            continue; /* absent: the struct was zeroed */
        }
        int rc = decode_value(r, d, rec, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int decode_record(const struct okno__avro_tdesc *t, okno__avro_reader *r, uint8_t *rec,
                         okno_avro_error *err)
{
    int rc = decode_fields(r, t->header, t->header_count, rec, err);
    if (rc != 0 || t->payload_count == 0) {
        return rc;
    }
    int64_t branch = okno__avro_get_long(r);
    if (branch < 0 || (uint64_t)branch >= t->payload_count) {
        return fail(err, OKNO_EDECODE, "payload branch out of range", t->schema_name);
    }
    const struct okno__avro_rdesc *p = &t->payloads[branch];
    /* The header names the payload too (for consumers that do not look inside unions); a record
     * where the two disagree is refused rather than guessed at. */
    if (*(const int *)(rec + t->code_offset) != p->code) {
        return fail(err, OKNO_EDECODE, "header type disagrees with the payload branch", p->name);
    }
    return decode_fields(r, p->fields, p->count, rec, err);
}

static int decode_body(okno_avro_topic topic, const uint8_t *body, size_t body_bytes, void *out,
                       okno_avro_error *err)
{
    const struct okno__avro_tdesc *t = &okno__avro_topics[topic];
    okno__avro_reader r = {body, body + body_bytes, 0};
    memset(out, 0, t->struct_bytes);
    int rc = decode_record(t, &r, out, err);
    if (rc == 0 && (r.err != 0 || r.p != r.end)) {
        rc = fail(err, OKNO_EDECODE, "codec table disagrees with the schema", t->schema_name);
    }
    return rc;
}

int okno_avro_decode(const uint8_t *buf, size_t len, okno_avro_record *out, okno_avro_error *err)
{
    const uint8_t *body;
    size_t body_bytes;
    int rc = okno_avro_frame_check(buf, len, &out->topic, &body, &body_bytes, err);
    if (rc != 0) {
        return rc;
    }
    return decode_body(out->topic, body, body_bytes, &out->as, err);
}

int okno_avro_decode_topic(okno_avro_topic topic, const uint8_t *buf, size_t len, void *out,
                           okno_avro_error *err)
{
    const uint8_t *body;
    size_t body_bytes;
    okno_avro_topic found;
    int rc = okno_avro_frame_check(buf, len, &found, &body, &body_bytes, err);
    if (rc != 0) {
        return rc;
    }
    if (found != topic) {
        return fail(err, OKNO_EDECODE, "record belongs to another topic",
                    okno_avro_topic_name(found));
    }
    return decode_body(topic, body, body_bytes, out, err);
}
