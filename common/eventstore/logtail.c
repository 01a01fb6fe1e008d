/* The log tail reader: connect + leader lock, the (tx, position) cursor, the horizon rule. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "okno/error.h"
#include "okno/logtail.h"
#include "okno/pg.h"
#include "okno/pgbin.h"

void okno_log_cursor_init(okno_log_cursor *c)
{
    *c = (okno_log_cursor){.tx = "0", .position = 0};
}

void okno_log_cursor_set_row(okno_log_cursor *c, const PGresult *res, int row, int tx_column,
                             int position_column)
{
    assert(row >= 0);
    assert(row < PQntuples(res));
    assert(PQfformat(res, position_column) == 1);
    assert(PQgetlength(res, row, position_column) == 8);
    assert((size_t)PQgetlength(res, row, tx_column) < sizeof c->tx);
    int64_t position = okno_pgbin_get_i64(PQgetvalue(res, row, position_column));
    /* The log is read in order: a cursor never moves back within one transaction. */
    assert(strcmp(c->tx, PQgetvalue(res, row, tx_column)) != 0 || position > c->position);
    snprintf(c->tx, sizeof c->tx, "%s", PQgetvalue(res, row, tx_column));
    c->position = position;
}

PGresult *okno_logtail_read(PGconn *conn, const char *sql, const okno_log_cursor *after,
                            int64_t rows_max)
{
    assert(conn != NULL);
    assert(rows_max >= 1);
    assert(after->tx[0] != '\0');
    char position[24], limit[24];
    snprintf(position, sizeof position, "%" PRId64, after->position);
    snprintf(limit, sizeof limit, "%" PRId64, rows_max);
    const char *params[3] = {after->tx, position, limit};
    return PQexecParams(conn, sql, 3, NULL, params, NULL, NULL, 1);
}

int okno_logtail_init(okno_logtail *t, const char *const *pg_keywords, const char *const *pg_values,
                      const char *lock_prefix, const char *lock_suffix)
{
    assert(lock_prefix != NULL);
    assert(lock_suffix != NULL);
    *t = (okno_logtail){.pg_keywords = pg_keywords,
                        .pg_values = pg_values,
                        .session_timeout_ms = OKNO_LOGTAIL_SESSION_TIMEOUT_MS};
    int n = snprintf(t->lock_name, sizeof t->lock_name, "%s%s", lock_prefix, lock_suffix);
    return n >= 0 && (size_t)n < sizeof t->lock_name ? OKNO_OK : OKNO_ELIMIT;
}

/* Bounds the session that holds (or will hold) the leader lock: a leader stopped (SIGSTOP, a
 * hung host) while idle, or idle in a transaction, loses its session after
 * OKNO_LOGTAIL_SESSION_TIMEOUT_MS and with it the lock, so a standby takes over. A running leader
 * queries far more often than that, and one that did lose its session reconnects. */
static int bound_session(okno_logtail *t, char *errbuf, size_t errbuf_bytes)
{
    if (t->session_timeout_ms == 0)
        return OKNO_OK;
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, t->session_timeout_ms);
    const char *params[1] = {ms};
    PGresult *res = PQexecParams(t->conn,
                                 "select set_config('idle_session_timeout', $1, false),"
                                 " set_config('idle_in_transaction_session_timeout', $1, false)",
                                 1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? OKNO_OK : OKNO_EPG;
    if (rc != OKNO_OK) {
        okno_pg_error(errbuf, errbuf_bytes, "leader session timeout", res, t->conn);
        okno_logtail_stop(t);
    }
    PQclear(res);
    return rc;
}

static int take_lock(okno_logtail *t, char *errbuf, size_t errbuf_bytes)
{
    const char *params[1] = {t->lock_name};
    PGresult *res = PQexecParams(t->conn, "select pg_try_advisory_lock(hashtextextended($1, 0))", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        okno_pg_error(errbuf, errbuf_bytes, "leader lock", res, t->conn);
        PQclear(res);
        if (PQstatus(t->conn) != CONNECTION_OK)
            okno_logtail_stop(t);
        return OKNO_EPG;
    }
    t->leader = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return t->leader ? OKNO_OK : OKNO_ECONFLICT;
}

int okno_logtail_start(okno_logtail *t, char *errbuf, size_t errbuf_bytes)
{
    assert(t->pg_keywords != NULL);
    assert(t->pg_values != NULL);
    assert(t->lock_name[0] != '\0');
    if (t->conn == NULL) {
        int rc =
            okno_pg_connect_params(t->pg_keywords, t->pg_values, &t->conn, errbuf, errbuf_bytes);
        if (rc != OKNO_OK) {
            okno_logtail_stop(t);
            return rc;
        }
        if ((rc = bound_session(t, errbuf, errbuf_bytes)) != OKNO_OK)
            return rc;
    }
    return t->leader ? OKNO_OK : take_lock(t, errbuf, errbuf_bytes);
}

void okno_logtail_stop(okno_logtail *t)
{
    PQfinish(t->conn);
    t->conn = NULL;
    t->leader = false;
}
