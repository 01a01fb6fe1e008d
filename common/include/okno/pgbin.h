/* PostgreSQL's binary wire format, the one codec every module uses: one-dimensional arrays and
 * scalars built into one per-batch buffer for bulk statements, big-endian readers and writers
 * for binary results and binary COPY, the type OIDs and the epoch offsets.
 *
 * A buffer is used twice: first with mem == NULL to measure (nothing is written, only `used`
 * grows), then with exactly that many bytes to write. So a batch of thousands of rows costs one
 * allocation, and no size is guessed. */
#ifndef OKNO_PGBIN_H
#define OKNO_PGBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

/* Type OIDs from pg_type.h (stable across PostgreSQL versions). */
enum {
    OKNO_PG_OID_BOOL = 16,
    OKNO_PG_OID_BYTEA = 17,
    OKNO_PG_OID_INT8 = 20,
    OKNO_PG_OID_INT2 = 21,
    OKNO_PG_OID_INT4 = 23,
    OKNO_PG_OID_TEXT = 25,
    OKNO_PG_OID_TIMESTAMPTZ = 1184,
    OKNO_PG_OID_UUID = 2950,
    /* one-dimensional arrays of the types above */
    OKNO_PG_OID_BOOL_ARRAY = 1000,
    OKNO_PG_OID_BYTEA_ARRAY = 1001,
    OKNO_PG_OID_INT2_ARRAY = 1005,
    OKNO_PG_OID_INT4_ARRAY = 1007,
    OKNO_PG_OID_TEXT_ARRAY = 1009,
    OKNO_PG_OID_INT8_ARRAY = 1016,
    OKNO_PG_OID_TIMESTAMPTZ_ARRAY = 1185,
    OKNO_PG_OID_UUID_ARRAY = 2951,
};

/* Microseconds and days between the Unix epoch and PostgreSQL's (2000-01-01 UTC): timestamptz
 * and date values are counted from the latter. */
#define OKNO_PG_EPOCH_OFFSET_US   INT64_C(946684800000000)
#define OKNO_PG_EPOCH_OFFSET_DAYS 10957

/* The 11 bytes that open a binary COPY stream ("PGCOPY\n\377\r\n\0"), then 4 bytes of flags and
 * 4 of header-extension length. */
#define OKNO_PG_COPY_SIGNATURE_BYTES 11
extern const uint8_t okno_pg_copy_signature[OKNO_PG_COPY_SIGNATURE_BYTES];

typedef struct okno_pgbuf {
    uint8_t *mem; /* NULL while measuring */
    size_t used;  /* bytes written (or that would be), from mem */
    size_t cap;   /* bytes at mem; 0 while measuring */
} okno_pgbuf;

/* An array being built at the end of a buffer; elements are appended until finish. */
typedef struct okno_pgarr {
    size_t offset; /* where the array's header starts in the buffer */
    int32_t count; /* elements so far */
    bool has_null; /* any element NULL */
} okno_pgarr;

/* One statement parameter: value/length point into a written buffer (NULL while measuring). */
typedef struct okno_pgparam {
    Oid type;
    const char *value;
    int length;
} okno_pgparam;

void okno_pgarr_start(okno_pgbuf *b, okno_pgarr *a, Oid elem_oid);
void okno_pgarr_add(okno_pgbuf *b, okno_pgarr *a, const void *p, size_t n);
void okno_pgarr_add_null(okno_pgbuf *b, okno_pgarr *a);
void okno_pgarr_add_i16(okno_pgbuf *b, okno_pgarr *a, int16_t v);
void okno_pgarr_add_i32(okno_pgbuf *b, okno_pgarr *a, int32_t v);
void okno_pgarr_add_i64(okno_pgbuf *b, okno_pgarr *a, int64_t v);
void okno_pgarr_add_bool(okno_pgbuf *b, okno_pgarr *a, bool v);
void okno_pgarr_add_text(okno_pgbuf *b, okno_pgarr *a, const char *s);
/* Completes the header and describes the array as a parameter of type array_oid. */
void okno_pgarr_finish(okno_pgbuf *b, okno_pgarr *a, Oid array_oid, okno_pgparam *param);

/* A scalar int8 parameter. */
void okno_pgbin_i64(okno_pgbuf *b, int64_t v, okno_pgparam *param);

/* Sends one statement with binary parameters and binary results in the current pipeline. */
int okno_pgbin_send(PGconn *conn, const char *sql, const okno_pgparam *params, int n);

/* Big-endian readers for binary result values. */
int16_t okno_pgbin_get_i16(const char *p);
int32_t okno_pgbin_get_i32(const char *p);
int64_t okno_pgbin_get_i64(const char *p);
void okno_pgbin_put_i16(uint8_t *p, int16_t v);
void okno_pgbin_put_i32(uint8_t *p, int32_t v);
void okno_pgbin_put_i64(uint8_t *p, int64_t v);

/* Copies PostgreSQL's message of res (or of conn when res has none) into errbuf, trimmed of
 * the trailing newline, prefixed by what. */
void okno_pg_error(char *errbuf, size_t errbuf_bytes, const char *what, const PGresult *res,
                   const PGconn *conn);

#endif
