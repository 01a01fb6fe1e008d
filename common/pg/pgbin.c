/* PostgreSQL binary arrays and scalars written into a measured per-batch buffer. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "okno/pgbin.h"

/* ndim, flags, element oid, dimension, lower bound: five int32s. */
#define ARRAY_HEADER_BYTES 20

const uint8_t okno_pg_copy_signature[OKNO_PG_COPY_SIGNATURE_BYTES] = {
    'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};

void okno_pgbin_put_i16(uint8_t *p, int16_t v)
{
    uint16_t u = (uint16_t)v;
    p[0] = (uint8_t)(u >> 8);
    p[1] = (uint8_t)u;
}

void okno_pgbin_put_i32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}

void okno_pgbin_put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    okno_pgbin_put_i32(p, (int32_t)(uint32_t)(u >> 32));
    okno_pgbin_put_i32(p + 4, (int32_t)(uint32_t)u);
}

int16_t okno_pgbin_get_i16(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return (int16_t)(uint16_t)((u[0] << 8) | u[1]);
}

int32_t okno_pgbin_get_i32(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
}

int64_t okno_pgbin_get_i64(const char *p)
{
    uint64_t hi = (uint32_t)okno_pgbin_get_i32(p), lo = (uint32_t)okno_pgbin_get_i32(p + 4);
    return (int64_t)(hi << 32 | lo);
}

/* Reserves n bytes; returns where to write them, or NULL while measuring. */
static uint8_t *take(okno_pgbuf *b, size_t n)
{
    uint8_t *p = NULL;
    if (b->mem != NULL) {
        assert(b->used + n <= b->cap);
        p = b->mem + b->used;
    }
    b->used += n;
    return p;
}

void okno_pgarr_start(okno_pgbuf *b, okno_pgarr *a, Oid elem_oid)
{
    *a = (okno_pgarr){.offset = b->used};
    uint8_t *h = take(b, ARRAY_HEADER_BYTES);
    if (h == NULL)
        return;
    okno_pgbin_put_i32(h, 1);     /* ndim */
    okno_pgbin_put_i32(h + 4, 0); /* has nulls, patched by finish */
    okno_pgbin_put_i32(h + 8, (int32_t)elem_oid);
    okno_pgbin_put_i32(h + 12, 0); /* element count, patched by finish */
    okno_pgbin_put_i32(h + 16, 1); /* lower bound */
}

void okno_pgarr_add(okno_pgbuf *b, okno_pgarr *a, const void *p, size_t n)
{
    assert(n <= INT32_MAX);
    uint8_t *d = take(b, 4 + n);
    a->count++;
    if (d == NULL)
        return;
    okno_pgbin_put_i32(d, (int32_t)n);
    if (n > 0)
        memcpy(d + 4, p, n);
}

void okno_pgarr_add_null(okno_pgbuf *b, okno_pgarr *a)
{
    uint8_t *d = take(b, 4);
    a->count++;
    a->has_null = true;
    if (d != NULL)
        okno_pgbin_put_i32(d, -1);
}

void okno_pgarr_add_i16(okno_pgbuf *b, okno_pgarr *a, int16_t v)
{
    uint8_t be[2];
    okno_pgbin_put_i16(be, v);
    okno_pgarr_add(b, a, be, sizeof be);
}

void okno_pgarr_add_i32(okno_pgbuf *b, okno_pgarr *a, int32_t v)
{
    uint8_t be[4];
    okno_pgbin_put_i32(be, v);
    okno_pgarr_add(b, a, be, sizeof be);
}

void okno_pgarr_add_i64(okno_pgbuf *b, okno_pgarr *a, int64_t v)
{
    uint8_t be[8];
    okno_pgbin_put_i64(be, v);
    okno_pgarr_add(b, a, be, sizeof be);
}

void okno_pgarr_add_bool(okno_pgbuf *b, okno_pgarr *a, bool v)
{
    uint8_t one = v ? 1 : 0;
    okno_pgarr_add(b, a, &one, 1);
}

void okno_pgarr_add_text(okno_pgbuf *b, okno_pgarr *a, const char *s)
{
    okno_pgarr_add(b, a, s, strlen(s));
}

void okno_pgarr_finish(okno_pgbuf *b, okno_pgarr *a, Oid array_oid, okno_pgparam *param)
{
    size_t bytes = b->used - a->offset;
    assert(bytes <= INT32_MAX);
    *param = (okno_pgparam){.type = array_oid, .length = (int)bytes};
    if (b->mem == NULL)
        return;
    uint8_t *h = b->mem + a->offset;
    okno_pgbin_put_i32(h + 4, a->has_null ? 1 : 0);
    okno_pgbin_put_i32(h + 12, a->count);
    param->value = (const char *)h;
}

void okno_pgbin_i64(okno_pgbuf *b, int64_t v, okno_pgparam *param)
{
    uint8_t *d = take(b, 8);
    *param = (okno_pgparam){.type = OKNO_PG_OID_INT8, .length = 8, .value = (const char *)d};
    if (d != NULL)
        okno_pgbin_put_i64(d, v);
}

/* Most parameters one statement of common/pg sends. */
#define SEND_PARAMS_MAX 16

int okno_pgbin_send(PGconn *conn, const char *sql, const okno_pgparam *params, int n)
{
    assert(n >= 0);
    assert(n <= SEND_PARAMS_MAX);
    Oid types[SEND_PARAMS_MAX];
    const char *values[SEND_PARAMS_MAX];
    int lengths[SEND_PARAMS_MAX], formats[SEND_PARAMS_MAX];
    for (int i = 0; i < n; i++) {
        types[i] = params[i].type;
        values[i] = params[i].value;
        lengths[i] = params[i].length;
        formats[i] = 1;
    }
    return PQsendQueryParams(conn, sql, n, types, values, lengths, formats, 1) == 1 ? 0 : -1;
}

void okno_pg_error(char *errbuf, size_t errbuf_bytes, const char *what, const PGresult *res,
                   const PGconn *conn)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg[0] == '\0')
        msg = PQerrorMessage(conn);
    int len = (int)strcspn(msg, "\n");
    snprintf(errbuf, errbuf_bytes, "%s: %.*s", what, len, msg);
}
