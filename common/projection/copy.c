/* Binary COPY FROM STDIN: rows encoded in PostgreSQL's binary send formats into one buffer
 * that is handed to libpq whenever it fills, so a batch of any size costs a few large writes
 * and no statement per row. Errors are sticky: the first one is kept and reported at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/clock.h"
#include "okno/error.h"
#include "okno/pgbin.h"
#include "projection/internal.h"

/* Buffered bytes handed to libpq at a time. */
#define COPY_FLUSH_BYTES (1024 * 1024)

static void fail_pg(okno__copy *c, const char *what)
{
    if (c->rc != 0)
        return;
    c->rc = OKNO_EPG;
    snprintf(c->err, c->err_bytes, "%s: %s", what, PQerrorMessage(c->conn));
}

static void flush(okno__copy *c)
{
    int64_t t0 = okno_clock_monotonic_ns();
    if (c->rc == 0 && c->used > 0 &&
        PQputCopyData(c->conn, (const char *)c->buf, (int)c->used) != 1)
        fail_pg(c, "COPY data");
    c->used = 0;
    c->wait_ns += okno_clock_monotonic_ns() - t0;
}

/* Room for n more bytes. Inside an open array field the buffer cannot be flushed (its length
 * word is patched at the end), so it grows instead. */
static uint8_t *room(okno__copy *c, size_t n)
{
    if (c->used + n > COPY_FLUSH_BYTES && !c->in_array)
        flush(c);
    if (c->used + n > c->cap) {
        size_t cap = c->cap == 0 ? 2 * COPY_FLUSH_BYTES : c->cap;
        while (cap < c->used + n)
            cap *= 2;
        uint8_t *grown = realloc(c->buf, cap);
        if (grown == NULL) {
            if (c->rc == 0) {
                c->rc = OKNO_ENOMEM;
                snprintf(c->err, c->err_bytes, "out of memory for COPY rows");
            }
            c->used = 0;
            return NULL;
        }
        c->buf = grown;
        c->cap = cap;
    }
    uint8_t *p = c->buf + c->used;
    c->used += n;
    return p;
}

int okno__copy_begin(okno__copy *c, PGconn *conn, const char *sql, char *err, size_t err_bytes)
{
    c->conn = conn;
    c->used = 0;
    c->rc = 0;
    c->err = err;
    c->err_bytes = err_bytes;
    c->in_array = false;
    int64_t t0 = okno_clock_monotonic_ns();
    PGresult *res = PQexec(conn, sql);
    c->wait_ns += okno_clock_monotonic_ns() - t0;
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        snprintf(err, err_bytes, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return c->rc = OKNO_EPG;
    }
    PQclear(res);
    uint8_t *p = room(c, OKNO_PG_COPY_SIGNATURE_BYTES + 8);
    if (p != NULL) {
        memcpy(p, okno_pg_copy_signature, OKNO_PG_COPY_SIGNATURE_BYTES);
        memset(p + OKNO_PG_COPY_SIGNATURE_BYTES, 0, 8); /* flags, header extension length */
    }
    return c->rc;
}

int okno__copy_end(okno__copy *c)
{
    uint8_t *p = room(c, 2);
    if (p != NULL)
        okno_pgbin_put_i16(p, -1); /* the trailer: a field count of -1 */
    flush(c);
    int64_t t0 = okno_clock_monotonic_ns();
    if (PQputCopyEnd(c->conn, c->rc == 0 ? NULL : "aborted by the writer") != 1)
        fail_pg(c, "COPY end");
    PGresult *res;
    while ((res = PQgetResult(c->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && c->rc == 0) {
            c->rc = OKNO_EPG;
            snprintf(c->err, c->err_bytes, "%s", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    c->wait_ns += okno_clock_monotonic_ns() - t0;
    return c->rc;
}

void okno__copy_abort(okno__copy *c)
{
    if (c->rc == 0)
        c->rc = OKNO_EPG;
    PQputCopyEnd(c->conn, "aborted by the writer");
    PGresult *res;
    while ((res = PQgetResult(c->conn)) != NULL)
        PQclear(res);
}

void okno__copy_free(okno__copy *c)
{
    free(c->buf);
    c->buf = NULL;
    c->cap = c->used = 0;
}

void okno__copy_row(okno__copy *c, int16_t fields)
{
    uint8_t *p = room(c, 2);
    if (p != NULL)
        okno_pgbin_put_i16(p, fields);
}

/* A field's length word and room for its value. */
static uint8_t *field(okno__copy *c, size_t n)
{
    uint8_t *p = room(c, 4 + n);
    if (p == NULL)
        return NULL;
    okno_pgbin_put_i32(p, (int32_t)n);
    return p + 4;
}

void okno__copy_null(okno__copy *c)
{
    uint8_t *p = room(c, 4);
    if (p != NULL)
        okno_pgbin_put_i32(p, -1);
}

void okno__copy_bool(okno__copy *c, bool v)
{
    uint8_t *p = field(c, 1);
    if (p != NULL)
        *p = v ? 1 : 0;
}

void okno__copy_i32(okno__copy *c, int32_t v)
{
    uint8_t *p = field(c, 4);
    if (p != NULL)
        okno_pgbin_put_i32(p, (int32_t)v);
}

void okno__copy_i64(okno__copy *c, int64_t v)
{
    uint8_t *p = field(c, 8);
    if (p != NULL)
        okno_pgbin_put_i64(p, v);
}

void okno__copy_i32_or_null(okno__copy *c, int32_t v)
{
    v != 0 ? okno__copy_i32(c, v) : okno__copy_null(c); /* 0 is NULL */
}

void okno__copy_i64_or_null(okno__copy *c, int64_t v)
{
    v != 0 ? okno__copy_i64(c, v) : okno__copy_null(c); /* 0 is NULL */
}

void okno__copy_uuid(okno__copy *c, const okno_uuid *id)
{
    uint8_t *p = field(c, sizeof id->bytes);
    if (p != NULL)
        memcpy(p, id->bytes, sizeof id->bytes);
}

void okno__copy_textn(okno__copy *c, const char *s, size_t len)
{
    uint8_t *p = field(c, len);
    if (p != NULL && len > 0)
        memcpy(p, s, len);
}

void okno__copy_text(okno__copy *c, const char *s)
{
    s != NULL ? okno__copy_textn(c, s, strlen(s)) : okno__copy_null(c);
}

void okno__copy_bytea(okno__copy *c, const void *p, size_t len)
{
    okno__copy_textn(c, p, len);
}

void okno__copy_ts(okno__copy *c, int64_t unix_ms)
{
    okno__copy_i64(c, unix_ms * 1000 - OKNO_PG_EPOCH_OFFSET_US);
}

void okno__copy_ts_or_null(okno__copy *c, int64_t unix_ms)
{
    unix_ms != 0 ? okno__copy_ts(c, unix_ms) : okno__copy_null(c); /* 0 is NULL */
}

void okno__copy_date(okno__copy *c, int32_t unix_day)
{
    okno__copy_i32(c, unix_day - OKNO_PG_EPOCH_OFFSET_DAYS);
}

/* An array field: length word, ndim 1, no nulls, element type, then the dimension (patched at
 * the end with the element count; an empty array is written with ndim 0). */
void okno__copy_array_begin(okno__copy *c, uint32_t elem_oid)
{
    uint8_t *p = room(c, 4 + 20);
    if (p == NULL)
        return;
    c->in_array = true;
    c->field_at = (size_t)(p - c->buf);
    c->array_at = c->field_at + 4;
    c->array_count = 0;
    okno_pgbin_put_i32(p + 4, 1);
    okno_pgbin_put_i32(p + 8, 0);
    okno_pgbin_put_i32(p + 12, (int32_t)elem_oid);
    okno_pgbin_put_i32(p + 16, 0); /* dimension size, patched */
    okno_pgbin_put_i32(p + 20, 1); /* lower bound */
}

static void array_element(okno__copy *c, const void *v, size_t n)
{
    uint8_t *p = room(c, 4 + n);
    if (p == NULL)
        return;
    okno_pgbin_put_i32(p, (int32_t)n);
    memcpy(p + 4, v, n);
    c->array_count++;
}

void okno__copy_array_i64(okno__copy *c, int64_t v)
{
    uint8_t b[8];
    okno_pgbin_put_i64(b, v);
    array_element(c, b, 8);
}

void okno__copy_array_i32(okno__copy *c, int32_t v)
{
    uint8_t b[4];
    okno_pgbin_put_i32(b, (int32_t)v);
    array_element(c, b, 4);
}

void okno__copy_array_text(okno__copy *c, const char *s)
{
    array_element(c, s, strlen(s));
}

void okno__copy_array_end(okno__copy *c)
{
    bool open = c->in_array;
    c->in_array = false;
    if (c->rc != 0 || !open)
        return;
    uint8_t *header = c->buf + c->array_at;
    if (c->array_count == 0) {
        okno_pgbin_put_i32(header,
                           0); /* ndim 0: PostgreSQL's empty array; drop the dimension words */
        c->used -= 8;
    } else {
        okno_pgbin_put_i32(header + 12, (int32_t)c->array_count);
    }
    okno_pgbin_put_i32(c->buf + c->field_at, (int32_t)(c->used - c->array_at));
}
