/* The event log's reading rules, in one place for every reader of the log (the relay, the
 * projector, the checkpoints; next the notifier and the reports): a connection that holds a
 * leader lock, a (tx, position) cursor, and the horizon rule — read only rows whose transaction
 * ended before every running one began, in (tx, position) order, so a row that commits late is
 * never skipped. The argument is in common/pg/README.md. */
#ifndef OKNO_LOGTAIL_H
#define OKNO_LOGTAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

/* The horizon rule, to append to "select ... from okno.event_log" (or okno.refusals, or any
 * table with tx xid8 and position int8): rows after the cursor ($1 tx as text, $2 position)
 * whose transaction ended before every running one began, in log order, at most $3. No
 * transaction that is still running, and none that starts later, can add a row below them.
 * Select tx as text under another name (tx::text as tx_text): an output column named "tx"
 * would capture ORDER BY tx and sort the ids as text ("100" < "99"). */
#define OKNO_LOGTAIL_BELOW_HORIZON                                                                 \
    " where (tx, position) > ($1::xid8, $2::int8)"                                                 \
    " and tx < pg_snapshot_xmin(pg_current_snapshot())"                                            \
    " order by tx, position limit $3::int8"

/* Idle time after which PostgreSQL ends a log tail reader's session (idle_session_timeout and
 * idle_in_transaction_session_timeout), in milliseconds: the leader lock's lease. A stopped
 * leader loses the lock after it; a standby tries every second, so it takes over within about
 * this plus a second (tests/faults/test_stall.py measures it). */
#define OKNO_LOGTAIL_SESSION_TIMEOUT_MS 10000

/* Longest leader lock name, in bytes, including the terminating NUL. */
#define OKNO_LOGTAIL_LOCK_NAME_BYTES 160

/* Where a reader stands in the log: the last row it has read. Plain data. */
typedef struct okno_log_cursor {
    char tx[24];      /* xid8 of the last row read, decimal text; "0" before the first */
    int64_t position; /* position of that row; 0 before the first */
} okno_log_cursor;

/* The cursor before the first row of the log. */
void okno_log_cursor_init(okno_log_cursor *c);

/* Moves c to row `row` of res, a binary result whose column tx_column holds tx as text and
 * position_column the row's int8 position. */
void okno_log_cursor_set_row(okno_log_cursor *c, const PGresult *res, int row, int tx_column,
                             int position_column);

/* Runs `sql` (a select ending with OKNO_LOGTAIL_BELOW_HORIZON) for up to rows_max rows after
 * `after`, results in binary. The caller checks the status and PQclear()s the result. */
PGresult *okno_logtail_read(PGconn *conn, const char *sql, const okno_log_cursor *after,
                            int64_t rows_max);

/* A reader's connection and the session advisory lock that makes it the one active reader of
 * its kind (released when the connection ends, crash included). Caller-allocated. */
typedef struct okno_logtail {
    const char *const *pg_keywords; /* PQconnectdbParams(keywords, values, 1); borrowed */
    const char *const *pg_values;
    char lock_name[OKNO_LOGTAIL_LOCK_NAME_BYTES]; /* hashed into the advisory lock's key */
    PGconn *conn;                                 /* NULL while disconnected */
    bool leader;                                  /* holds the lock on conn */
    int64_t session_timeout_ms; /* idle time that ends the session (the lock's lease); 0: none */
} okno_logtail;

/* Prepares t (session_timeout_ms OKNO_LOGTAIL_SESSION_TIMEOUT_MS; the caller may change it
 * before the first start); connects nothing. The lock name is lock_prefix followed by lock_suffix
 * (e.g. "okno.relay:" and the cursor prefix). OKNO_ELIMIT when the name does not fit. */
int okno_logtail_init(okno_logtail *t, const char *const *pg_keywords, const char *const *pg_values,
                      const char *lock_prefix, const char *lock_suffix);

/* Connects when disconnected and takes the leader lock when not held. 0 when t->conn is
 * connected and t is the leader; OKNO_ECONFLICT when another session holds the lock (this one
 * stays connected and tries again at the next call); OKNO_EPG with errbuf set, the connection
 * closed. */
int okno_logtail_start(okno_logtail *t, char *errbuf, size_t errbuf_bytes);

/* Closes the connection (which releases the lock). Safe when disconnected. */
void okno_logtail_stop(okno_logtail *t);

#endif
