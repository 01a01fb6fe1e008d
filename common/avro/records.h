/* Tables that map each topic's C struct to its Avro schema, field by field.
 *
 * The codec is table-driven: one loop encodes or decodes any record from these descriptors, and
 * okno_avro_init() checks every descriptor against the embedded schema (field names, Avro types,
 * enum symbols against the workflow's canonical names). A schema edit that the tables do not
 * follow therefore fails at start-up and in every test, never silently on the wire. */
#ifndef OKNO_AVRO_RECORDS_H
#define OKNO_AVRO_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

#include "okno/avro.h"

enum okno__avro_fkind {
    OKNO__F_UUID,     /* okno_uuid <-> fixed Uuid(16) */
    OKNO__F_OPT_UUID, /* okno_uuid, all zero <-> null */
    OKNO__F_LONG,     /* int64_t <-> long */
    OKNO__F_OPT_LONG, /* int64_t, 0 <-> null */
    OKNO__F_U64,      /* uint64_t <-> long, never negative on the wire */
    OKNO__F_OPT_U64,  /* uint64_t, 0 <-> null */
    OKNO__F_INT,      /* int32_t <-> int */
    OKNO__F_OPT_INT,  /* int32_t, 0 <-> null */
    OKNO__F_U32,      /* uint32_t <-> int, never negative on the wire */
    OKNO__F_TS,       /* int64_t Unix ms <-> long timestamp-millis */
    OKNO__F_OPT_TS,   /* int64_t, 0 <-> null */
    OKNO__F_BOOL,     /* bool <-> boolean */
    OKNO__F_STR,      /* okno_str <-> string */
    OKNO__F_OPT_STR,  /* okno_str, empty <-> null */
    OKNO__F_ENUM,     /* a C enum <-> enum; symbol i is C value base + i */
    OKNO__F_OPT_ENUM, /* a C enum, 0 (NONE) <-> null */
    OKNO__F_AGREERS,  /* okno_user_id[OKNO_AGREERS_MAX] + uint32_t count <-> array<long> */
    OKNO__F_IMPLIED,  /* a C enum fixed by the record type (value enum_base): not on the wire */
    OKNO__F_OPT_ATTACHMENTS, /* okno_attachment[OKNO_ATTACHMENTS_MAX] + uint32_t count <->
                                ["null", array<Attachment>], no attachments <-> null */
};

/* The canonical name of C enum value v, for checking enum symbols against the schema. */
typedef const char *(*okno__avro_enum_name_fn)(int v);

struct okno__avro_fdesc {
    const char *name; /* the Avro field name */
    enum okno__avro_fkind kind;
    size_t offset;       /* of the C member in the topic's struct */
    size_t count_offset; /* OKNO__F_AGREERS, OKNO__F_OPT_ATTACHMENTS: of the uint32_t count */
    int enum_base;       /* enums: C value of symbol 0 */
    int enum_count;      /* enums: number of symbols */
    okno__avro_enum_name_fn enum_name;
};

/* One record of a payload union: the C code (action or event type) it carries. */
struct okno__avro_rdesc {
    const char *name; /* the record's unqualified Avro name */
    int code;
    const struct okno__avro_fdesc *fields;
    size_t count;
};

struct okno__avro_tdesc {
    const char *topic_name;  /* the Kafka topic */
    const char *schema_name; /* the .avsc file name without extension */
    size_t struct_bytes;     /* sizeof the topic's C struct */
    const struct okno__avro_fdesc *header;
    size_t header_count;
    size_t code_offset; /* the C enum naming the payload branch (payload topics) */
    const struct okno__avro_rdesc *payloads; /* the last field's union, in branch order */
    size_t payload_count;                    /* 0: the topic's record has no payload union */
};

/* Whether a field kind is sent at all (OKNO__F_IMPLIED is not). */
int okno__avro_fkind_on_wire(enum okno__avro_fkind kind);
/* Whether a field kind travels as the union ["null", T], its zero value as null. */
int okno__avro_fkind_optional(enum okno__avro_fkind kind);

/* Whether two records of topic hold the same values: text by content, the rest by value.
 * For pair assertions and tests (decode, encode, decode again must agree). */
bool okno__avro_record_equal(okno_avro_topic topic, const void *a, const void *b);

extern const struct okno__avro_tdesc okno__avro_topics[OKNO_AVRO_TOPIC_COUNT];

#endif
