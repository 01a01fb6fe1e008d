/* Internal model of a parsed Avro schema (not named schema.h: common/ is on the include path of
 * tests, and avro-c includes <avro/schema.h>), shared by canonical form, compatibility and
 * validation.
 */
#ifndef OKNO_AVRO_SCHEMA_INTERNAL_H
#define OKNO_AVRO_SCHEMA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "okno/avro.h"

#include "arena.h"

/* Nesting of a schema document (records, unions, arrays inside each other). Our schemas use
 * under 10; the cap keeps a hostile or broken .avsc from exhausting the stack while parsing. */
#define OKNO_AVRO_SCHEMA_DEPTH_MAX 64
/* Named types (records, enums, fixed) in one schema document. */
#define OKNO_AVRO_SCHEMA_NAMES_MAX 512

enum okno_avro_kind {
    OKNO_AVRO_NULL,
    OKNO_AVRO_BOOLEAN,
    OKNO_AVRO_INT,
    OKNO_AVRO_LONG,
    OKNO_AVRO_FLOAT,
    OKNO_AVRO_DOUBLE,
    OKNO_AVRO_BYTES,
    OKNO_AVRO_STRING,
    OKNO_AVRO_RECORD,
    OKNO_AVRO_ENUM,
    OKNO_AVRO_ARRAY,
    OKNO_AVRO_MAP,
    OKNO_AVRO_UNION,
    OKNO_AVRO_FIXED,
};

struct okno_avro_node;

struct okno_avro_field {
    const char *name;            /* points into the schema's JSON document */
    struct okno_avro_node *type; /* borrowed from the schema's node arena */
    const json_t *default_value; /* NULL when the field has no default */
};

struct okno_avro_node {
    enum okno_avro_kind kind;
    const char *fullname;     /* named types only: namespace.name, in the schema's arena */
    const char *name;         /* named types only: the unqualified name (suffix of fullname) */
    const char *logical_type; /* NULL unless annotated; ignored by canonical form */
    size_t count;             /* record fields, enum symbols or union branches */
    struct okno_avro_field *fields;   /* record: count entries */
    const char **symbols;             /* enum: count entries */
    int enum_default;                 /* enum: index of the default symbol, or -1 */
    struct okno_avro_node **branches; /* union: count entries */
    struct okno_avro_node *items;     /* array items or map values */
    size_t fixed_bytes;               /* fixed: size in bytes */
    size_t min_bytes;                 /* smallest possible encoding in bytes; bounds block counts */
};

struct okno_avro_schema {
    json_t *doc; /* the parsed document; names and defaults point into it */
    struct okno_avro_node *root;
    char *canonical;         /* Parsing Canonical Form, NUL-terminated */
    size_t canonical_bytes;  /* strlen(canonical) */
    uint64_t fingerprint;    /* CRC-64-AVRO of canonical */
    okno__avro_arena *arena; /* every node and fullname, freed at once */
};

/* Writes the Parsing Canonical Form of root into a new malloc'd string. */
int okno__avro_canonical(const struct okno_avro_node *root, char **out, size_t *out_bytes);

/* Bytes of a zig-zag varint encoding of v (1 to 10). */
size_t okno__avro_varint_bytes(int64_t v);

#endif
