/* Walks untrusted Avro binary against a schema before any decoder trusts a length or count in it.
 *
 * avro-c 1.11.1 allocates whatever a length prefix asks for, so a 10-byte record can demand
 * gigabytes. This walk allocates nothing, touches each byte once and refuses anything a decoder
 * would have to trust: after it succeeds, every length and count is known to fit in the body. */
#include <stdio.h>
#include <string.h>

#include "okno/error.h"
#include "schema_model.h"
#include "wire.h"

struct walk {
    const uint8_t *start; /* first byte of the body, for error offsets */
    const uint8_t *p;     /* next unread byte */
    const uint8_t *end;   /* one past the last byte */
    okno_avro_error *err;
};

static int refuse(struct walk *w, const char *reason)
{
    if (w->err != NULL) {
        snprintf(w->err->reason, sizeof(w->err->reason), "%s", reason);
        w->err->offset = (size_t)(w->p - w->start);
    }
    return OKNO_EDECODE;
}

static size_t remaining(const struct walk *w)
{
    return (size_t)(w->end - w->p);
}

static int walk_long(struct walk *w, int64_t *out)
{
    size_t used;
    const char *why =
        okno__avro_varint_read(w->p, remaining(w), OKNO_AVRO_VARINT_BYTES_MAX, out, &used);
    if (why != NULL) {
        return refuse(w, why);
    }
    w->p += used;
    return 0;
}

static int walk_int(struct walk *w, int64_t *out)
{
    size_t used;
    const char *why = okno__avro_varint_read(w->p, remaining(w), 5, out, &used);
    if (why != NULL) {
        return refuse(w, why);
    }
    if (*out < INT32_MIN || *out > INT32_MAX) {
        return refuse(w, "int out of 32-bit range");
    }
    w->p += used;
    return 0;
}

/* A length prefix for bytes or string: non-negative and no longer than what is left. */
static int walk_length(struct walk *w, size_t *len)
{
    int64_t n;
    int rc = walk_long(w, &n);
    if (rc != 0) {
        return rc;
    }
    if (n < 0) {
        return refuse(w, "negative length");
    }
    if ((uint64_t)n > remaining(w)) {
        return refuse(w, "length exceeds the remaining bytes");
    }
    *len = (size_t)n;
    return 0;
}

static int walk_bytes(struct walk *w, int is_string)
{
    size_t len;
    int rc = walk_length(w, &len);
    if (rc != 0) {
        return rc;
    }
    if (is_string && !okno__avro_utf8_ok(w->p, len)) {
        return refuse(w, "string is not valid UTF-8");
    }
    w->p += len;
    return 0;
}

static int walk_fixed(struct walk *w, size_t len)
{
    if (len > remaining(w)) {
        return refuse(w, "fixed value truncated");
    }
    w->p += len;
    return 0;
}

static int walk_node(struct walk *w, const struct okno_avro_node *n, int depth);

static int walk_items(struct walk *w, const struct okno_avro_node *n, int64_t count, int depth)
{
    for (int64_t i = 0; i < count; i++) {
        int rc = n->kind == OKNO_AVRO_MAP ? walk_bytes(w, 1) : 0;
        if (rc == 0) {
            rc = walk_node(w, n->items, depth + 1);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* One block: a count, with a byte size too when the count is negative (the spec's skip hint). */
static int walk_block(struct walk *w, const struct okno_avro_node *n, int64_t count, int depth)
{
    const uint8_t *block_end = NULL;
    if (count < 0) {
        int64_t block_bytes;
        int rc = walk_long(w, &block_bytes);
        if (rc != 0) {
            return rc;
        }
        if (block_bytes < 0 || (uint64_t)block_bytes > remaining(w)) {
            return refuse(w, "block byte size out of range");
        }
        block_end = w->p + block_bytes;
        count = -count;
    }
    /* Every item takes at least min_bytes, so the count cannot exceed what is left to read. */
    size_t item_min = n->items->min_bytes + (n->kind == OKNO_AVRO_MAP ? 1 : 0);
    if (item_min > 0 && (uint64_t)count > remaining(w) / item_min) {
        return refuse(w, "block count exceeds the remaining bytes");
    }
    int rc = walk_items(w, n, count, depth);
    if (rc == 0 && block_end != NULL && w->p != block_end) {
        return refuse(w, "block byte size does not match its items");
    }
    return rc;
}

static int walk_blocks(struct walk *w, const struct okno_avro_node *n, int depth)
{
    int64_t total = 0;
    for (;;) {
        int64_t count;
        int rc = walk_long(w, &count);
        if (rc != 0) {
            return rc;
        }
        if (count == 0) {
            return 0;
        }
        if (count == INT64_MIN) {
            return refuse(w, "block count out of range");
        }
        total += count < 0 ? -count : count;
        if (total > OKNO_AVRO_ITEMS_MAX) {
            return refuse(w, "more items than OKNO_AVRO_ITEMS_MAX");
        }
        rc = walk_block(w, n, count, depth);
        if (rc != 0) {
            return rc;
        }
    }
}

/* An index (union branch or enum symbol) read as the given width and checked against count. */
static int walk_index(struct walk *w, int is_long, size_t count, int64_t *index, const char *why)
{
    int rc = is_long ? walk_long(w, index) : walk_int(w, index);
    if (rc != 0) {
        return rc;
    }
    if (*index < 0 || (uint64_t)*index >= count) {
        return refuse(w, why);
    }
    return 0;
}

static int walk_composite(struct walk *w, const struct okno_avro_node *n, int depth)
{
    int64_t index;
    int rc = 0;
    switch (n->kind) {
    case OKNO_AVRO_RECORD:
        for (size_t i = 0; i < n->count && rc == 0; i++) {
            rc = walk_node(w, n->fields[i].type, depth + 1);
        }
        return rc;
    case OKNO_AVRO_ENUM:
        return walk_index(w, 0, n->count, &index, "enum index out of range");
    case OKNO_AVRO_UNION:
        rc = walk_index(w, 1, n->count, &index, "union index out of range");
        return rc != 0 ? rc : walk_node(w, n->branches[index], depth + 1);
    case OKNO_AVRO_ARRAY:
    case OKNO_AVRO_MAP:
        return walk_blocks(w, n, depth);
    default:
        return walk_fixed(w, n->fixed_bytes);
    }
}

static int walk_node(struct walk *w, const struct okno_avro_node *n, int depth)
{
    if (depth > OKNO_AVRO_DEPTH_MAX) {
        return refuse(w, "nesting deeper than OKNO_AVRO_DEPTH_MAX");
    }
    int64_t v;
    switch (n->kind) {
    case OKNO_AVRO_NULL:
        return 0;
    case OKNO_AVRO_BOOLEAN:
        if (remaining(w) < 1 || *w->p > 1) {
            return refuse(w, remaining(w) < 1 ? "boolean truncated" : "boolean not 0 or 1");
        }
        w->p++;
        return 0;
    case OKNO_AVRO_INT:
        return walk_int(w, &v);
    case OKNO_AVRO_LONG:
        return walk_long(w, &v);
    case OKNO_AVRO_FLOAT:
        return walk_fixed(w, 4);
    case OKNO_AVRO_DOUBLE:
        return walk_fixed(w, 8);
    case OKNO_AVRO_BYTES:
    case OKNO_AVRO_STRING:
        return walk_bytes(w, n->kind == OKNO_AVRO_STRING);
    default:
        return walk_composite(w, n, depth);
    }
}

int okno_avro_validate(const okno_avro_schema *schema, const uint8_t *body, size_t body_bytes,
                       okno_avro_error *err)
{
    static const uint8_t empty[1];
    if (body == NULL) {
        body = empty; /* so that pointer arithmetic stays defined for a 0-byte body */
    }
    struct walk w = {body, body, body, err};
    if (body_bytes > OKNO_AVRO_RECORD_BYTES_MAX) {
        return refuse(&w, "record larger than OKNO_AVRO_RECORD_BYTES_MAX");
    }
    w.end = body + body_bytes;
    int rc = walk_node(&w, schema->root, 0);
    if (rc == 0 && w.p != w.end) {
        return refuse(&w, "trailing bytes after the record");
    }
    return rc;
}
