/* The read side's transaction, rows to JSON, pages. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-events.h>

#include "internal.h"
#include "okno/error.h"
#include "okno/readmodel.h"

/* Type OIDs of the columns the calls return (pg_type.h; fixed since PostgreSQL 7). */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_INT2_ARRAY = 1005,
    OID_INT4_ARRAY = 1007,
    OID_TEXT_ARRAY = 1009,
    OID_INT8_ARRAY = 1016,
    OID_TIMESTAMPTZ = 1184,
};

static void pg_fail(char *errbuf, size_t errbuf_bytes, const char *what, const PGresult *res,
                    const PGconn *conn)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg[0] == '\0')
        msg = PQerrorMessage(conn);
    snprintf(errbuf, errbuf_bytes, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

/* The statements prepared on one connection, kept as libpq instance data of an event procedure
 * (so a reset or closed connection forgets them): each call's SQL is a static string, so its
 * address names it. */
#define PREPARED_MAX        32
#define PREPARED_NAME_BYTES 24 /* "okno_rm_" and an int */

struct prepared {
    const char *sql[PREPARED_MAX];
    int count;
};

static int prepared_events(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNRESET || id == PGEVT_CONNDESTROY) {
        const PGconn *conn = id == PGEVT_CONNRESET ? ((PGEventConnReset *)info)->conn
                                                   : ((PGEventConnDestroy *)info)->conn;
        struct prepared *p = PQinstanceData(conn, prepared_events);
        if (id == PGEVT_CONNDESTROY)
            free(p);
        else if (p != NULL)
            p->count = 0;
    }
    return 1;
}

/* The name of sql's prepared statement on conn ("okno_rm_N"), preparing it on first use; false
 * with errbuf set when it cannot be prepared. */
static bool prepared_name(PGconn *conn, const char *what, const char *sql, int n,
                          char name[PREPARED_NAME_BYTES], char *errbuf, size_t errbuf_bytes)
{
    struct prepared *p = PQinstanceData(conn, prepared_events);
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL || !PQregisterEventProc(conn, prepared_events, "okno_rm", NULL) ||
            !PQsetInstanceData(conn, prepared_events, p)) {
            free(p);
            snprintf(errbuf, errbuf_bytes, "%s: cannot keep prepared statements", what);
            return false;
        }
    }
    int i = 0;
    while (i < p->count && p->sql[i] != sql)
        i++;
    snprintf(name, PREPARED_NAME_BYTES, "okno_rm_%d", i);
    if (i < p->count)
        return true;
    if (i == PREPARED_MAX) {
        snprintf(errbuf, errbuf_bytes, "%s: too many statements to prepare", what);
        return false;
    }
    PGresult *res = PQprepare(conn, name, sql, n, NULL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (ok)
        p->sql[p->count++] = sql;
    else
        pg_fail(errbuf, errbuf_bytes, what, res, conn);
    PQclear(res);
    return ok;
}

PGresult *okno__rm_query(PGconn *conn, const char *what, const char *sql, int n,
                         const char *const *params, bool binary, char *errbuf, size_t errbuf_bytes)
{
    char name[PREPARED_NAME_BYTES];
    if (!prepared_name(conn, what, sql, n, name, errbuf, errbuf_bytes))
        return NULL;
    PGresult *res = PQexecPrepared(conn, name, n, params, NULL, NULL, binary ? 1 : 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    pg_fail(errbuf, errbuf_bytes, what, res, conn);
    PQclear(res);
    return NULL;
}

static const char BEGIN_SQL[] = "begin isolation level repeatable read read only";
static const char CALLER_SQL[] =
    "select set_config('okno.caller_user', $1, true),"
    " set_config('okno.caller_org', $2, true),"
    " set_config('okno.caller_applicant', $3, true),"
    " set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO', true)";

/* The caller's settings as text parameters of CALLER_SQL (empty: no caller, nothing visible). */
struct caller_params {
    char user[24], org[24];
    const char *values[3];
};

/* Checks who and the connection's state; fills p. 0 or OKNO_EINVAL with the reason. */
static int caller_params(PGconn *conn, const struct okno_rm_caller *who, struct caller_params *p,
                         char *errbuf, size_t errbuf_bytes)
{
    assert(conn != NULL);
    if (who != NULL &&
        (who->user_id <= 0 || (who->applicant ? who->org_id != 0 : who->org_id <= 0))) {
        snprintf(errbuf, errbuf_bytes,
                 "a caller needs a user id > 0 and, as staff, an org id > 0 (an applicant: 0)");
        return OKNO_EINVAL;
    }
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        snprintf(errbuf, errbuf_bytes, "the connection is busy or inside a transaction");
        return OKNO_EINVAL;
    }
    p->user[0] = p->org[0] = '\0';
    if (who != NULL)
        snprintf(p->user, sizeof p->user, "%" PRId64, who->user_id);
    if (who != NULL && !who->applicant)
        snprintf(p->org, sizeof p->org, "%" PRId64, who->org_id);
    p->values[0] = p->user;
    p->values[1] = p->org;
    p->values[2] = who != NULL && who->applicant ? "true" : "false";
    return OKNO_OK;
}

int okno__rm_begin(PGconn *conn, const struct okno_rm_caller *who, char *errbuf,
                   size_t errbuf_bytes)
{
    struct caller_params p;
    int rc = caller_params(conn, who, &p, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    PGresult *res = okno__rm_query(conn, "begin", BEGIN_SQL, 0, NULL, false, errbuf, errbuf_bytes);
    if (res == NULL)
        return OKNO_EPG;
    PQclear(res);
    res = okno__rm_query(conn, "caller", CALLER_SQL, 3, p.values, false, errbuf, errbuf_bytes);
    if (res == NULL) {
        PQclear(PQexec(conn, "rollback"));
        return OKNO_EPG;
    }
    PQclear(res);
    return OKNO_OK;
}

/* One statement's result in a pipeline: the result (NULL on error, the first reason kept in
 * errbuf), then the NULL that ends it. */
static PGresult *pipeline_result(PGconn *conn, const char *what, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = PQgetResult(conn);
    ExecStatusType st = PQresultStatus(res);
    if (res != NULL)
        PQclear(PQgetResult(conn)); /* the NULL after each statement's result */
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    if (errbuf[0] == '\0')
        pg_fail(errbuf, errbuf_bytes, what, st == PGRES_PIPELINE_ABORTED ? NULL : res, conn);
    PQclear(res);
    return NULL;
}

static bool send_prepared(PGconn *conn, const struct okno__rm_stmt *s, char *errbuf,
                          size_t errbuf_bytes)
{
    char name[PREPARED_NAME_BYTES];
    return prepared_name(conn, s->what, s->sql, s->n, name, errbuf, errbuf_bytes) &&
           PQsendQueryPrepared(conn, name, s->n, s->params, NULL, NULL, s->binary ? 1 : 0) == 1;
}

int okno__rm_pipeline(PGconn *conn, const struct okno_rm_caller *who,
                      const struct okno__rm_stmt *stmts, int count, PGresult **results,
                      char *errbuf, size_t errbuf_bytes)
{
    const struct okno_rm_caller *as[OKNO__RM_PIPELINE_MAX] = {0};
    return okno__rm_pipeline_as(conn, who, as, stmts, count, results, errbuf, errbuf_bytes);
}

int okno__rm_pipeline_as(PGconn *conn, const struct okno_rm_caller *who,
                         const struct okno_rm_caller *const *as, const struct okno__rm_stmt *stmts,
                         int count, PGresult **results, char *errbuf, size_t errbuf_bytes)
{
    assert(count <= OKNO__RM_PIPELINE_MAX);
    for (int i = 0; i < count; i++)
        results[i] = NULL;
    struct caller_params p, as_params[OKNO__RM_PIPELINE_MAX];
    int rc = caller_params(conn, who, &p, errbuf, errbuf_bytes);
    for (int i = 0; rc == OKNO_OK && i < count; i++)
        if (as[i] != NULL)
            rc = caller_params(conn, as[i], &as_params[i], errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    /* Statements are prepared (once per connection) before the pipeline starts. */
    char name[PREPARED_NAME_BYTES];
    const struct okno__rm_stmt begin = {"begin", BEGIN_SQL, 0, NULL, false},
                               caller = {"caller", CALLER_SQL, 3, p.values, false},
                               commit = {"commit", "commit", 0, NULL, false};
    errbuf[0] = '\0';
    bool sent = prepared_name(conn, "begin", BEGIN_SQL, 0, name, errbuf, errbuf_bytes) &&
                prepared_name(conn, "caller", CALLER_SQL, 3, name, errbuf, errbuf_bytes) &&
                prepared_name(conn, "commit", commit.sql, 0, name, errbuf, errbuf_bytes);
    for (int i = 0; sent && i < count; i++)
        sent = prepared_name(conn, stmts[i].what, stmts[i].sql, stmts[i].n, name, errbuf,
                             errbuf_bytes);
    if (!sent)
        return OKNO_EPG;
    sent = PQenterPipelineMode(conn) == 1 && send_prepared(conn, &begin, errbuf, errbuf_bytes) &&
           send_prepared(conn, &caller, errbuf, errbuf_bytes);
    for (int i = 0; sent && i < count; i++) {
        if (as[i] != NULL) {
            const struct okno__rm_stmt switch_to = {"caller", CALLER_SQL, 3, as_params[i].values,
                                                    false};
            sent = send_prepared(conn, &switch_to, errbuf, errbuf_bytes);
        }
        sent = sent && send_prepared(conn, &stmts[i], errbuf, errbuf_bytes);
    }
    sent = sent && send_prepared(conn, &commit, errbuf, errbuf_bytes) && PQpipelineSync(conn) == 1;
    if (!sent) {
        if (errbuf[0] == '\0')
            pg_fail(errbuf, errbuf_bytes, "send", NULL, conn);
        PQexitPipelineMode(conn);
        return OKNO_EPG;
    }
    PQclear(pipeline_result(conn, "begin", errbuf, errbuf_bytes));
    PQclear(pipeline_result(conn, "caller", errbuf, errbuf_bytes));
    for (int i = 0; i < count; i++) {
        if (as[i] != NULL)
            PQclear(pipeline_result(conn, "caller", errbuf, errbuf_bytes));
        results[i] = pipeline_result(conn, stmts[i].what, errbuf, errbuf_bytes);
    }
    PQclear(pipeline_result(conn, "commit", errbuf, errbuf_bytes));
    PGresult *sync = PQgetResult(conn); /* PGRES_PIPELINE_SYNC */
    bool synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced || PQexitPipelineMode(conn) != 1) {
        if (errbuf[0] == '\0')
            pg_fail(errbuf, errbuf_bytes, "sync", NULL, conn);
        rc = OKNO_EPG;
    }
    /* A failure aborted the rest up to the sync: the transaction is left to roll back, so the
     * connection goes back to its pool idle. */
    if (PQtransactionStatus(conn) == PQTRANS_INERROR ||
        PQtransactionStatus(conn) == PQTRANS_INTRANS)
        PQclear(PQexec(conn, "rollback"));
    if (errbuf[0] != '\0')
        rc = OKNO_EPG;
    if (rc != OKNO_OK) {
        for (int i = 0; i < count; i++) {
            PQclear(results[i]);
            results[i] = NULL;
        }
    }
    return rc;
}

int okno__rm_end(PGconn *conn, int rc, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = PQexec(conn, rc == OKNO_OK ? "commit" : "rollback");
    if (rc == OKNO_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(errbuf, errbuf_bytes, "commit", res, conn);
        rc = OKNO_EPG;
    }
    PQclear(res);
    return rc;
}

int okno__rm_run(PGconn *conn, const struct okno_rm_caller *who, const char *what, const char *sql,
                 int n, const char *const *params,
                 json_t *(*build)(const PGresult *res, const void *arg), const void *arg,
                 json_t **out, char *errbuf, size_t errbuf_bytes)
{
    *out = NULL;
    const struct okno__rm_stmt stmt = {what, sql, n, params, false};
    PGresult *res = NULL;
    int rc = okno__rm_pipeline(conn, who, &stmt, 1, &res, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    *out = build(res, arg);
    PQclear(res);
    return *out != NULL ? OKNO_OK : OKNO_ENOMEM;
}

int okno_rm_with_caller(PGconn *conn, const struct okno_rm_caller *who,
                        int (*fn)(PGconn *conn, void *arg), void *arg, char *errbuf,
                        size_t errbuf_bytes)
{
    int rc = okno__rm_begin(conn, who, errbuf, errbuf_bytes);
    return rc != OKNO_OK ? rc : okno__rm_end(conn, fn(conn, arg), errbuf, errbuf_bytes);
}

void okno_rm_time_iso(int64_t ms, char out[OKNO_RM_TIME_BYTES])
{
    time_t s = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        s--;
        frac += 1000;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, OKNO_RM_TIME_BYTES, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, OKNO_RM_TIME_BYTES - n, ".%03dZ", frac);
}

/* "2026-03-02 06:00:00[.123456]+00" (TimeZone UTC, DateStyle ISO) as "2026-03-02T06:00:00.123Z";
 * anything else (infinity) as it is. */
static json_t *time_json(const char *v)
{
    size_t len = strlen(v);
    if (len < 22 || v[10] != ' ' || v[19] == '\0')
        return json_string(v);
    char out[OKNO_RM_TIME_BYTES];
    memcpy(out, v, 19);
    out[10] = 'T';
    char ms[4] = "000";
    if (v[19] == '.')
        for (int i = 0; i < 3 && v[20 + i] >= '0' && v[20 + i] <= '9'; i++)
            ms[i] = v[20 + i];
    snprintf(out + 19, sizeof out - 19, ".%sZ", ms);
    return json_string(out);
}

/* "{1,2}" or "{agreed,NULL}" as a JSON array (elements unquoted if quoted). */
static json_t *array_json(const char *v, bool integers)
{
    json_t *a = json_array();
    if (a == NULL || v[0] != '{')
        return a;
    const char *p = v + 1;
    while (*p != '\0' && *p != '}') {
        size_t n = strcspn(p, ",}");
        const char *e = p;
        size_t en = n;
        if (en >= 2 && e[0] == '"' && e[en - 1] == '"') {
            e++;
            en -= 2;
        }
        json_t *item;
        if (n == 4 && strncmp(p, "NULL", 4) == 0)
            item = json_null();
        else if (integers)
            item = json_integer(strtoll(e, NULL, 10));
        else
            item = json_stringn(e, en);
        json_array_append_new(a, item);
        p += n;
        if (*p == ',')
            p++;
    }
    return a;
}

json_t *okno__rm_row_json(const PGresult *res, int row, int cols)
{
    json_t *o = json_object();
    for (int c = 0; o != NULL && c < cols; c++) {
        const char *v = PQgetvalue(res, row, c);
        json_t *j;
        if (PQgetisnull(res, row, c)) {
            j = json_null();
        } else {
            switch (PQftype(res, c)) {
            case OID_BOOL:
                j = json_boolean(v[0] == 't');
                break;
            case OID_INT2:
            case OID_INT4:
            case OID_INT8:
                j = json_integer(strtoll(v, NULL, 10));
                break;
            case OID_TIMESTAMPTZ:
                j = time_json(v);
                break;
            case OID_INT2_ARRAY:
            case OID_INT4_ARRAY:
            case OID_INT8_ARRAY:
                j = array_json(v, true);
                break;
            case OID_TEXT_ARRAY:
                j = array_json(v, false);
                break;
            default:
                j = json_string(v);
            }
        }
        if (j == NULL || json_object_set_new(o, PQfname(res, c), j) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int okno__rm_page_check(const struct okno_rm_page *page, char *errbuf, size_t errbuf_bytes)
{
    if (page == NULL || page->limit < 1 || page->limit > OKNO_RM_PAGE_ROWS_MAX) {
        snprintf(errbuf, errbuf_bytes, "page limit must be 1..%d", OKNO_RM_PAGE_ROWS_MAX);
        return OKNO_EINVAL;
    }
    return OKNO_OK;
}

json_t *okno__rm_page_json(const PGresult *res, int limit, int cols,
                           void (*cursor)(const PGresult *res, int row, char *out, size_t size))
{
    int n = PQntuples(res);
    int shown = n < limit ? n : limit;
    json_t *items = json_array();
    for (int i = 0; items != NULL && i < shown; i++) {
        json_t *item = okno__rm_row_json(res, i, cols);
        if (item == NULL || json_array_append_new(items, item) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    if (items == NULL)
        return NULL;
    json_t *next = json_null();
    if (n > limit) {
        char c[OKNO_RM_CURSOR_BYTES];
        cursor(res, shown - 1, c, sizeof c);
        next = json_string(c);
    }
    return json_pack("{s:o,s:o*}", "items", items, "next", next);
}
