/* Shared by the read side's calls: the read-only transaction with the caller's settings, rows to
 * JSON, pages and cursors. */
#ifndef OKNO_READMODEL_INTERNAL_H
#define OKNO_READMODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "okno/readmodel.h"

/* Begins the call's transaction (repeatable read, read only) and sets the caller's
 * transaction-local settings the policies read (okno.caller_user, okno.caller_org,
 * okno.caller_applicant; none when who is NULL), with TimeZone UTC and ISO dates for the rows'
 * times. OKNO_EINVAL for a malformed caller or a connection already inside a transaction,
 * OKNO_EPG. */
int okno__rm_begin(PGconn *conn, const struct okno_rm_caller *who, char *errbuf,
                   size_t errbuf_bytes);

/* Ends it: commit when rc is 0 (returns OKNO_EPG if that fails), else rollback; returns rc. */
int okno__rm_end(PGconn *conn, int rc, char *errbuf, size_t errbuf_bytes);

/* Runs sql with text parameters as a statement prepared on conn on its first use (sql must have
 * static storage: its address names the statement); `binary` asks for binary results. NULL with
 * errbuf set on an error (the result is cleared). A schema swap (okno replay) makes PostgreSQL
 * analyse and plan a prepared statement again, by name, on its next use. */
PGresult *okno__rm_query(PGconn *conn, const char *what, const char *sql, int n,
                         const char *const *params, bool binary, char *errbuf, size_t errbuf_bytes);

/* A statement of a pipelined call: text parameters; `binary` asks for binary results. */
struct okno__rm_stmt {
    const char *what; /* named in errors */
    const char *sql;  /* static storage (it names the prepared statement) */
    int n;
    const char *const *params;
    bool binary;
};

#define OKNO__RM_PIPELINE_MAX 32

/* One round trip: begin (repeatable read, read only), the caller's settings (as okno__rm_begin),
 * the statements (at most OKNO__RM_PIPELINE_MAX), commit, sent as one pipeline of prepared
 * statements. results[i] is statement i's result (the caller clears it) when 0 is returned;
 * on any failure every result is NULL, errbuf names the first failed statement, and the
 * connection is left idle (an aborted transaction is rolled back). 0, OKNO_EINVAL (caller,
 * connection busy), OKNO_EPG. */
int okno__rm_pipeline(PGconn *conn, const struct okno_rm_caller *who,
                      const struct okno__rm_stmt *stmts, int count, PGresult **results,
                      char *errbuf, size_t errbuf_bytes);

/* The same with the caller's settings switched to as[i] before statement i (in the same
 * transaction; as[i] NULL: unchanged), so one round trip can check several callers' rights. */
int okno__rm_pipeline_as(PGconn *conn, const struct okno_rm_caller *who,
                         const struct okno_rm_caller *const *as, const struct okno__rm_stmt *stmts,
                         int count, PGresult **results, char *errbuf, size_t errbuf_bytes);

/* One call of one query: the call's transaction with sql in it (okno__rm_pipeline), then *out
 * built from the result with build(res, arg). *out is
 * NULL unless 0 is returned. */
int okno__rm_run(PGconn *conn, const struct okno_rm_caller *who, const char *what, const char *sql,
                 int n, const char *const *params,
                 json_t *(*build)(const PGresult *res, const void *arg), const void *arg,
                 json_t **out, char *errbuf, size_t errbuf_bytes);

/* Row `row` of a text-format result as a JSON object of its first `cols` columns, keyed by
 * column name, typed by column type: integers, booleans, times as ISO 8601 UTC, integer and
 * text arrays as arrays, NULL as null, the rest as strings. NULL when out of memory. */
json_t *okno__rm_row_json(const PGresult *res, int row, int cols);

/* 0, or OKNO_EINVAL with the reason: limit out of 1..OKNO_RM_PAGE_ROWS_MAX. */
int okno__rm_page_check(const struct okno_rm_page *page, char *errbuf, size_t errbuf_bytes);

/* {"items": [rows 0..limit), "next": cursor of the last item when a row beyond it came, else
 * null}; the cursor is built by `cursor` from that row. NULL when out of memory. */
json_t *okno__rm_page_json(const PGresult *res, int limit, int cols,
                           void (*cursor)(const PGresult *res, int row, char *out, size_t size));

#endif
