/* okno's Avro layer: schemas, fingerprints, single-object framing and bounded decoding. */
#ifndef OKNO_AVRO_H
#define OKNO_AVRO_H

#include <stddef.h>
#include <stdint.h>

/* Limits on untrusted input. A record larger than this is refused before anything is parsed;
 * the biggest legitimate record (an answer draft with its text) is well under 100 KiB. */
#define OKNO_AVRO_RECORD_BYTES_MAX (1024 * 1024)
/* Nesting of records, unions, arrays and maps while walking a body; ours nest under 8. */
#define OKNO_AVRO_DEPTH_MAX 32
/* Items in one array or map, over all its blocks; bounds zero-byte items (nulls, empty records)
 * that the remaining-bytes check cannot bound. */
#define OKNO_AVRO_ITEMS_MAX 65536
/* Bytes of a varint: 5 for int, 10 for long (7 payload bits each). */
#define OKNO_AVRO_VARINT_BYTES_MAX 10
/* Single-object encoding: 0xC3 0x01, then the 8-byte little-endian CRC-64-AVRO fingerprint. */
#define OKNO_AVRO_HEADER_BYTES 10
/* Capacity of okno_avro_error.reason, bytes including the NUL. */
#define OKNO_AVRO_REASON_BYTES 256

/* Why a call failed, for logs and refusal records. */
typedef struct okno_avro_error {
    char reason[OKNO_AVRO_REASON_BYTES]; /* human-readable, NUL-terminated */
    size_t offset;                       /* byte offset in the input where decoding stopped */
} okno_avro_error;

/* A parsed schema with its Parsing Canonical Form and fingerprint. Immutable once parsed, so
 * one may be shared by threads. */
typedef struct okno_avro_schema okno_avro_schema;

/* CRC-64-AVRO (Rabin) fingerprint of len bytes, as the Avro specification defines it. */
uint64_t okno_avro_fingerprint64(const void *data, size_t len);

/* Parses an Avro schema document (JSON text, json_bytes long, not necessarily NUL-terminated)
 * into *out. Returns 0, OKNO_EINVAL with err->reason for an invalid schema, or OKNO_ENOMEM.
 * err may be NULL. On success the caller owns *out and frees it with okno_avro_schema_free(). */
int okno_avro_schema_parse(const char *json, size_t json_bytes, okno_avro_schema **out,
                           okno_avro_error *err);
/* Frees a schema from okno_avro_schema_parse(); NULL is allowed. */
void okno_avro_schema_free(okno_avro_schema *schema);
/* The Parsing Canonical Form (NUL-terminated, owned by the schema) and its length in bytes. */
const char *okno_avro_schema_canonical(const okno_avro_schema *schema, size_t *bytes);
/* The CRC-64-AVRO fingerprint of the Parsing Canonical Form. */
uint64_t okno_avro_schema_fingerprint(const okno_avro_schema *schema);
/* The full name of a named top-level type, or the type name of a primitive ("int"). */
const char *okno_avro_schema_name(const okno_avro_schema *schema);

/* Checks that data written with writer can be read with reader under Avro's schema resolution
 * rules (the reader is the newer schema for backward compatibility). Returns 0, or OKNO_EINVAL
 * with err->reason naming the first incompatibility by its path. err may be NULL. */
int okno_avro_schema_compatible(const okno_avro_schema *reader, const okno_avro_schema *writer,
                                okno_avro_error *err);

/* Walks body (body_bytes long, a plain Avro binary encoding without the single-object header)
 * against schema without allocating, and checks everything a decoder would trust: size cap,
 * varints, lengths, block counts, union and enum indexes, UTF-8 of strings, nesting depth and
 * trailing bytes. Returns 0 or OKNO_EDECODE with err->reason and err->offset. */
int okno_avro_validate(const okno_avro_schema *schema, const uint8_t *body, size_t body_bytes,
                       okno_avro_error *err);

#endif
