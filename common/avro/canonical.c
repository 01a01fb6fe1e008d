/* Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint, per the Avro specification. */
#include "schema_model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"

/* The Rabin polynomial's empty value from the Avro specification ("CRC-64-AVRO"). */
#define OKNO_AVRO_RABIN_EMPTY UINT64_C(0xc15d213aa4d7a795)
/* Canonical form of any sane schema fits easily; a runaway (e.g. a cycle bug) stops here. */
#define OKNO_AVRO_CANONICAL_BYTES_MAX (4 * 1024 * 1024)

static uint64_t rabin_table[256];
static pthread_once_t rabin_once = PTHREAD_ONCE_INIT;

/* The table depends only on the polynomial; built once, on first use, from any thread. */
static void rabin_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++) {
            fp = (fp >> 1) ^ (OKNO_AVRO_RABIN_EMPTY & (0 - (fp & 1)));
        }
        rabin_table[i] = fp;
    }
}

uint64_t okno_avro_fingerprint64(const void *data, size_t len)
{
    pthread_once(&rabin_once, rabin_init);
    const unsigned char *p = data;
    uint64_t fp = OKNO_AVRO_RABIN_EMPTY;
    for (size_t i = 0; i < len; i++) {
        fp = (fp >> 8) ^ rabin_table[(fp ^ p[i]) & 0xff];
    }
    return fp;
}

struct out {
    char *buf;
    size_t len;
    size_t cap;
    int err;
    const struct okno_avro_node *seen[OKNO_AVRO_SCHEMA_NAMES_MAX]; /* named types written */
    size_t seen_count;
};

static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->err != 0) {
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + n + 1) {
            cap *= 2;
        }
        char *b = cap <= OKNO_AVRO_CANONICAL_BYTES_MAX ? realloc(o->buf, cap) : NULL;
        if (b == NULL) {
            o->err = OKNO_ENOMEM;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n + 1);
    o->len += n;
}

/* Names and symbols were checked to be [A-Za-z0-9_.] at parse time, so no escaping is needed. */
static void put_quoted(struct out *o, const char *s)
{
    put(o, "\"");
    put(o, s);
    put(o, "\"");
}

static const char *kind_name(enum okno_avro_kind k)
{
    static const char *const names[] = {
        "null",   "boolean", "int",  "long",  "float", "double", "bytes",
        "string", "record",  "enum", "array", "map",   "union",  "fixed",
    };
    return names[k];
}

static void put_node(struct out *o, const struct okno_avro_node *n);

/* [FULLNAMES] [ORDER]: a named type is written in full once, then referred to by full name. */
static int put_named_head(struct out *o, const struct okno_avro_node *n)
{
    for (size_t i = 0; i < o->seen_count; i++) {
        if (o->seen[i] == n) {
            put_quoted(o, n->fullname);
            return 0;
        }
    }
    if (o->seen_count == OKNO_AVRO_SCHEMA_NAMES_MAX) {
        o->err = OKNO_EINVAL;
        return 0;
    }
    o->seen[o->seen_count++] = n;
    put(o, "{\"name\":");
    put_quoted(o, n->fullname);
    put(o, ",\"type\":");
    put_quoted(o, kind_name(n->kind));
    return 1;
}

static void put_record(struct out *o, const struct okno_avro_node *n)
{
    if (!put_named_head(o, n)) {
        return;
    }
    put(o, ",\"fields\":[");
    for (size_t i = 0; i < n->count; i++) {
        put(o, i ? ",{\"name\":" : "{\"name\":");
        put_quoted(o, n->fields[i].name);
        put(o, ",\"type\":");
        put_node(o, n->fields[i].type);
        put(o, "}");
    }
    put(o, "]}");
}

static void put_enum(struct out *o, const struct okno_avro_node *n)
{
    if (!put_named_head(o, n)) {
        return;
    }
    put(o, ",\"symbols\":[");
    for (size_t i = 0; i < n->count; i++) {
        if (i) {
            put(o, ",");
        }
        put_quoted(o, n->symbols[i]);
    }
    put(o, "]}");
}

static void put_fixed(struct out *o, const struct okno_avro_node *n)
{
    if (!put_named_head(o, n)) {
        return;
    }
    char size[32];
    snprintf(size, sizeof(size), ",\"size\":%zu}", n->fixed_bytes);
    put(o, size);
}

/* [PRIMITIVES] [STRIP] [WHITESPACE]: only name, type, fields, symbols, items, values and size
 * survive, with no whitespace; doc, aliases, defaults, order and logicalType are dropped. */
static void put_node(struct out *o, const struct okno_avro_node *n)
{
    switch (n->kind) {
    case OKNO_AVRO_RECORD:
        put_record(o, n);
        return;
    case OKNO_AVRO_ENUM:
        put_enum(o, n);
        return;
    case OKNO_AVRO_FIXED:
        put_fixed(o, n);
        return;
    case OKNO_AVRO_ARRAY:
    case OKNO_AVRO_MAP:
        put(o, n->kind == OKNO_AVRO_ARRAY ? "{\"type\":\"array\",\"items\":"
                                          : "{\"type\":\"map\",\"values\":");
        put_node(o, n->items);
        put(o, "}");
        return;
    case OKNO_AVRO_UNION:
        put(o, "[");
        for (size_t i = 0; i < n->count; i++) {
            if (i) {
                put(o, ",");
            }
            put_node(o, n->branches[i]);
        }
        put(o, "]");
        return;
    default:
        put_quoted(o, kind_name(n->kind));
        return;
    }
}

int okno__avro_canonical(const struct okno_avro_node *root, char **out, size_t *out_bytes)
{
    struct out *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return OKNO_ENOMEM;
    }
    put_node(o, root);
    int rc = o->err;
    if (rc == 0) {
        *out = o->buf;
        *out_bytes = o->len;
    } else {
        free(o->buf);
    }
    free(o);
    return rc;
}

size_t okno__avro_varint_bytes(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}
