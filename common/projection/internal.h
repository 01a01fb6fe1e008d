/* Internals of common/projection shared by its files (and reachable by tests through
 * okno_internal as "projection/internal.h"). */
#ifndef OKNO_PROJECTION_INTERNAL_H
#define OKNO_PROJECTION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "okno/projection.h"

typedef struct okno__proj_arena okno__proj_arena;

okno__proj_arena *okno__proj_arena_new(void);
/* A NUL-terminated copy of p[0..len) that lives until the next reset; NULL when out of memory. */
char *okno__proj_arena_strdup(okno__proj_arena *a, const char *p, size_t len);
void okno__proj_arena_reset(okno__proj_arena *a);
void okno__proj_arena_free(okno__proj_arena *a);

/* The counters of key k (added, zeroed, if new); NULL when out of memory. */
int64_t *okno__proj_stats_row(okno_proj_stats *st, const okno_proj_stats_key *k);
/* Adds every counter of from to into; OKNO_ENOMEM. */
int okno__proj_stats_add(okno_proj_stats *into, const okno_proj_stats *from);
void okno__proj_stats_clear(okno_proj_stats *st);
void okno__proj_stats_free(okno_proj_stats *st);

/* Days since 1970-01-01 of the Moscow calendar day containing Unix ms t. */
int32_t okno__proj_day(int64_t t_ms);
/* Civil date of a day number (proleptic Gregorian). */
void okno__proj_civil(int32_t day, int *year, int *month, int *mday);

/* ---- card.proj_state (state.c) ---------------------------------------------------------- */

/* Bytes the encoded state can take at most. */
#define OKNO__PROJ_STATE_BYTES_MAX                                                                 \
    (4 + sizeof(okno_proj_message) + sizeof(okno_proj_message) / 64 + 2)
/* Encodes m into out (OKNO__PROJ_STATE_BYTES_MAX bytes); returns the length. */
size_t okno__proj_state_encode(const okno_proj_message *m, uint8_t *out);
/* OKNO_EINVAL unless in holds exactly one state of this build's version. */
int okno__proj_state_decode(const uint8_t *in, size_t len, okno_proj_message *m);

/* ---- binary COPY (copy.c) -------------------------------------------------------------- */

/* Rows of one COPY ... FROM STDIN (FORMAT binary), sent to the server as the buffer fills. */
typedef struct okno__copy {
    PGconn *conn;
    uint8_t *buf;
    size_t used, cap;
    int rc; /* first failure (OKNO_EPG, OKNO_ENOMEM); later calls do nothing */
    char *err;
    size_t err_bytes;
    bool in_array;   /* an array field is open: its length is patched at its end */
    size_t field_at; /* where the open array field's length word is */
    size_t array_at; /* where its header starts */
    int32_t array_count;
    int64_t wait_ns; /* time in libpq handing rows over and waiting for the COPY's end */
} okno__copy;

/* Starts `copy TABLE (COLUMNS) from stdin (format binary)`; sql is the whole statement. */
int okno__copy_begin(okno__copy *c, PGconn *conn, const char *sql, char *err, size_t err_bytes);
/* Ends the COPY and reads its result; returns the first failure of the whole COPY. */
int okno__copy_end(okno__copy *c);
/* Abandons a COPY after a failure elsewhere (the transaction is rolled back by the caller). */
void okno__copy_abort(okno__copy *c);
void okno__copy_free(okno__copy *c);

void okno__copy_row(okno__copy *c, int16_t fields);
void okno__copy_null(okno__copy *c);
void okno__copy_bool(okno__copy *c, bool v);
void okno__copy_i32(okno__copy *c, int32_t v);
void okno__copy_i64(okno__copy *c, int64_t v);
void okno__copy_i32_or_null(okno__copy *c, int32_t v); /* 0 is NULL */
void okno__copy_i64_or_null(okno__copy *c, int64_t v); /* 0 is NULL: ids */
void okno__copy_uuid(okno__copy *c, const okno_uuid *id);
void okno__copy_text(okno__copy *c, const char *s); /* NULL is NULL */
void okno__copy_textn(okno__copy *c, const char *s, size_t len);
void okno__copy_bytea(okno__copy *c, const void *p, size_t len);
void okno__copy_ts(okno__copy *c, int64_t unix_ms);         /* timestamptz */
void okno__copy_ts_or_null(okno__copy *c, int64_t unix_ms); /* 0 is NULL */
void okno__copy_date(okno__copy *c, int32_t unix_day);
/* Arrays: begin with the element type, add elements, end. */
void okno__copy_array_begin(okno__copy *c, uint32_t elem_oid);
void okno__copy_array_i64(okno__copy *c, int64_t v);
void okno__copy_array_i32(okno__copy *c, int32_t v);
void okno__copy_array_text(okno__copy *c, const char *s);
void okno__copy_array_end(okno__copy *c);

#endif
