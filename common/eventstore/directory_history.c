/* Walking and verifying the directory's hash-chained history (okno/directory_history.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/directory_history.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/pgbin.h"

/* Rows fetched from the cursor at a time. */
#define DIRHIST_FETCH_ROWS 5000
#define HASH_HEX_BYTES     (2 * OKNO_EVENTLOG_HASH_BYTES + 1)

static const char HISTORY_SQL[] =
    "declare dirhist no scroll cursor for select version, coalesce(org_id, 0), kind, op, body,"
    " prev_hash, hash from okno.directory_history order by version";

typedef struct walk_state {
    okno_dirhist_walk *w;
    int64_t next_version;
    uint8_t prev[OKNO_EVENTLOG_HASH_BYTES];
} walk_state;

static void say(okno_dirhist_walk *w, int64_t version, const char *what)
{
    w->mismatches++;
    if (w->mismatch != NULL)
        w->mismatch(w->ctx, version, what);
}

static bool body_names(const json_t *body, int64_t version, int64_t org, const char *kind,
                       const char *op)
{
    const json_t *o = json_object_get(body, "org_id");
    return json_integer_value(json_object_get(body, "version")) == version &&
           (json_is_null(o) ? 0 : json_integer_value(o)) == org &&
           json_is_string(json_object_get(body, "kind")) &&
           strcmp(json_string_value(json_object_get(body, "kind")), kind) == 0 &&
           json_is_string(json_object_get(body, "op")) &&
           strcmp(json_string_value(json_object_get(body, "op")), op) == 0;
}

static void check_row(walk_state *s, const PGresult *res, int i)
{
    okno_dirhist_walk *w = s->w;
    int64_t version = okno_pgbin_get_i64(PQgetvalue(res, i, 0));
    int64_t org = okno_pgbin_get_i64(PQgetvalue(res, i, 1));
    const char *kind = PQgetvalue(res, i, 2), *op = PQgetvalue(res, i, 3);
    const uint8_t *body = (const uint8_t *)PQgetvalue(res, i, 4);
    size_t body_bytes = (size_t)PQgetlength(res, i, 4);
    const uint8_t *prev = (const uint8_t *)PQgetvalue(res, i, 5);
    const uint8_t *stored = (const uint8_t *)PQgetvalue(res, i, 6);
    char what[256], want[HASH_HEX_BYTES], got[HASH_HEX_BYTES];
    w->rows++;
    if (version != s->next_version) {
        snprintf(what, sizeof what, "expected version %" PRId64 " (a gap)", s->next_version);
        say(w, version, what);
    }
    if (memcmp(prev, s->prev, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        okno_eventlog_hex(s->prev, OKNO_EVENTLOG_HASH_BYTES, want);
        okno_eventlog_hex(prev, OKNO_EVENTLOG_HASH_BYTES, got);
        snprintf(what, sizeof what, "prev_hash expected %s, stored %s", want, got);
        say(w, version, what);
    }
    uint8_t computed[OKNO_EVENTLOG_HASH_BYTES];
    okno_eventlog_hash(prev, body, body_bytes, computed);
    if (memcmp(computed, stored, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        okno_eventlog_hex(computed, OKNO_EVENTLOG_HASH_BYTES, want);
        okno_eventlog_hex(stored, OKNO_EVENTLOG_HASH_BYTES, got);
        snprintf(what, sizeof what, "hash of prev_hash || body is %s, stored %s", want, got);
        say(w, version, what);
    }
    json_t *doc = json_loadb((const char *)body, body_bytes, 0, NULL);
    if (doc == NULL || !body_names(doc, version, org, kind, op)) {
        snprintf(what, sizeof what,
                 "the body does not name this row (version, org %" PRId64 ", %s %s)", org, kind,
                 op);
        say(w, version, what);
    }
    okno_eventlog_hex(stored, OKNO_EVENTLOG_HASH_BYTES, got);
    if (w->visit != NULL && (w->org_id == 0 || w->org_id == org)) {
        w->visited++;
        w->visit(w->ctx, &(okno_dirhist_row){.version = version,
                                             .org_id = org,
                                             .kind = kind,
                                             .op = op,
                                             .body = doc,
                                             .hash_hex = got});
    }
    json_decref(doc);
    memcpy(s->prev, stored, OKNO_EVENTLOG_HASH_BYTES);
    s->next_version = version + 1;
}

static int exec(PGconn *conn, const char *sql, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = PQexec(conn, sql);
    int rc = OKNO_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        okno_pg_error(errbuf, errbuf_bytes, "directory history", res, conn);
        rc = OKNO_EPG;
    }
    PQclear(res);
    return rc;
}

static int check_head(PGconn *conn, walk_state *s, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = PQexecParams(conn, "select version, hash from okno.directory_head", 0, NULL,
                                 NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        okno_pg_error(errbuf, errbuf_bytes, "directory head", res, conn);
        PQclear(res);
        return OKNO_EPG;
    }
    int64_t version = okno_pgbin_get_i64(PQgetvalue(res, 0, 0));
    s->w->head_version = version;
    if (version != s->next_version - 1 ||
        memcmp(PQgetvalue(res, 0, 1), s->prev, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        char what[160];
        snprintf(what, sizeof what,
                 "okno.directory_head says version %" PRId64 ", the chain ends at %" PRId64
                 " (or its hash differs)",
                 version, s->next_version - 1);
        say(s->w, version, what);
    }
    PQclear(res);
    return OKNO_OK;
}

int okno_dirhist_verify(PGconn *conn, okno_dirhist_walk *w, char *errbuf, size_t errbuf_bytes)
{
    walk_state s = {.w = w, .next_version = 1};
    w->rows = w->visited = w->mismatches = w->head_version = 0;
    int rc = exec(conn, "begin isolation level repeatable read read only", errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = exec(conn, HISTORY_SQL, errbuf, errbuf_bytes);
    while (rc == OKNO_OK) {
        char sql[64];
        snprintf(sql, sizeof sql, "fetch forward %d from dirhist", DIRHIST_FETCH_ROWS);
        PGresult *res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            okno_pg_error(errbuf, errbuf_bytes, "directory history", res, conn);
            rc = OKNO_EPG;
        }
        int n = rc == OKNO_OK ? PQntuples(res) : 0;
        for (int i = 0; i < n; i++)
            check_row(&s, res, i);
        PQclear(res);
        if (n == 0)
            break;
    }
    if (rc == OKNO_OK)
        rc = check_head(conn, &s, errbuf, errbuf_bytes);
    PQclear(PQexec(conn, "rollback"));
    return rc;
}

int64_t okno_dirhist_version(PGconn *conn, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = PQexec(conn, "select version from okno.directory_head");
    int64_t v = OKNO_EPG;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        okno_pg_error(errbuf, errbuf_bytes, "directory version", res, conn);
    PQclear(res);
    return v;
}
