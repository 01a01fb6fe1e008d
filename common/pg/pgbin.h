/* PostgreSQL binary wire formats for bulk statements: one-dimensional arrays and scalars built
 * into one per-batch buffer, and big-endian readers for binary results. Internal to common/pg.
 *
 * A buffer is used twice: first with mem == NULL to measure (nothing is written, only `used`
 * grows), then with exactly that many bytes to write. So a batch of thousands of rows costs one
 * allocation, and no size is guessed. */
#ifndef OKNO_PG_PGBIN_H
#define OKNO_PG_PGBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

/* Type OIDs from pg_type.h (stable across PostgreSQL versions). */
enum {
    OKNO__OID_BOOL = 16,
    OKNO__OID_BYTEA = 17,
    OKNO__OID_INT8 = 20,
    OKNO__OID_INT2 = 21,
    OKNO__OID_INT4 = 23,
    OKNO__OID_TEXT = 25,
    OKNO__OID_TIMESTAMPTZ = 1184,
    OKNO__OID_UUID = 2950,
    /* one-dimensional arrays of the types above */
    OKNO__OID_BOOL_ARRAY = 1000,
    OKNO__OID_BYTEA_ARRAY = 1001,
    OKNO__OID_INT2_ARRAY = 1005,
    OKNO__OID_INT4_ARRAY = 1007,
    OKNO__OID_TEXT_ARRAY = 1009,
    OKNO__OID_INT8_ARRAY = 1016,
    OKNO__OID_TIMESTAMPTZ_ARRAY = 1185,
    OKNO__OID_UUID_ARRAY = 2951,
};

/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 UTC). */
#define OKNO__PG_EPOCH_OFFSET_US INT64_C(946684800000000)

typedef struct okno__pgbuf {
    uint8_t *mem; /* NULL while measuring */
    size_t used;  /* bytes written (or that would be), from mem */
    size_t cap;   /* bytes at mem; 0 while measuring */
} okno__pgbuf;

/* An array being built at the end of a buffer; elements are appended until finish. */
typedef struct okno__pgarr {
    size_t offset; /* where the array's header starts in the buffer */
    int32_t count; /* elements so far */
    bool has_null; /* any element NULL */
} okno__pgarr;

/* One statement parameter: value/length point into a written buffer (NULL while measuring). */
typedef struct okno__pgparam {
    Oid type;
    const char *value;
    int length;
} okno__pgparam;

void okno__pgarr_start(okno__pgbuf *b, okno__pgarr *a, Oid elem_oid);
void okno__pgarr_add(okno__pgbuf *b, okno__pgarr *a, const void *p, size_t n);
void okno__pgarr_add_null(okno__pgbuf *b, okno__pgarr *a);
void okno__pgarr_add_i16(okno__pgbuf *b, okno__pgarr *a, int16_t v);
void okno__pgarr_add_i32(okno__pgbuf *b, okno__pgarr *a, int32_t v);
void okno__pgarr_add_i64(okno__pgbuf *b, okno__pgarr *a, int64_t v);
void okno__pgarr_add_bool(okno__pgbuf *b, okno__pgarr *a, bool v);
void okno__pgarr_add_text(okno__pgbuf *b, okno__pgarr *a, const char *s);
/* Completes the header and describes the array as a parameter of type array_oid. */
void okno__pgarr_finish(okno__pgbuf *b, okno__pgarr *a, Oid array_oid, okno__pgparam *param);

/* A scalar int8 parameter. */
void okno__pgbin_i64(okno__pgbuf *b, int64_t v, okno__pgparam *param);

/* Sends one statement with binary parameters and binary results in the current pipeline. */
int okno__pgbin_send(PGconn *conn, const char *sql, const okno__pgparam *params, int n);

/* Big-endian readers for binary result values. */
int16_t okno__pgbin_get_i16(const char *p);
int32_t okno__pgbin_get_i32(const char *p);
int64_t okno__pgbin_get_i64(const char *p);
void okno__pgbin_put_i32(uint8_t *p, int32_t v);
void okno__pgbin_put_i64(uint8_t *p, int64_t v);

/* Copies PostgreSQL's message of res (or of conn when res has none) into errbuf, trimmed of
 * the trailing newline, prefixed by what. */
void okno__pg_error(char *errbuf, size_t errbuf_bytes, const char *what, const PGresult *res,
                    const PGconn *conn);

#endif
