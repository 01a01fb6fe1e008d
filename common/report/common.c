/* What the daily lists and the weekly summary share: schema names, the org tree, results. */
#include "internal.h"

#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "okno/error.h"

int okno__report_check_schema(const char *schema, char *errbuf, size_t errbuf_bytes)
{
    size_t n = schema != NULL ? strlen(schema) : 0;
    bool ok = n >= 7 && n <= 47 && strncmp(schema, "okno_rm", 7) == 0;
    for (size_t i = 7; ok && i < n; i++)
        ok = (schema[i] >= 'a' && schema[i] <= 'z') || (schema[i] >= '0' && schema[i] <= '9') ||
             schema[i] == '_';
    if (!ok)
        return okno_errorf(errbuf, errbuf_bytes, OKNO_EINVAL,
                           "read-model schema name must match okno_rm[a-z0-9_]*");
    return OKNO_OK;
}

PGresult *okno__report_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                            char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK)
        return res;
    okno_errorf(errbuf, errbuf_bytes, OKNO_EPG, "%s", PQresultErrorMessage(res));
    size_t n = errbuf != NULL ? strlen(errbuf) : 0;
    if (n > 0 && errbuf[n - 1] == '\n')
        errbuf[n - 1] = '\0';
    PQclear(res);
    return NULL;
}

int okno__report_org_name(PGconn *conn, int64_t org_id, char *name, size_t name_bytes, char *errbuf,
                          size_t errbuf_bytes)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)org_id);
    const char *params[1] = {id};
    PGresult *res = okno__report_exec(conn, "select name from okno.orgs where org_id = $1", 1,
                                      params, errbuf, errbuf_bytes);
    if (res == NULL)
        return OKNO_EPG;
    int rc = PQntuples(res) == 1 ? OKNO_OK : OKNO_ENOTFOUND;
    if (rc == OKNO_OK)
        snprintf(name, name_bytes, "%s", PQgetvalue(res, 0, 0));
    else
        okno_errorf(errbuf, errbuf_bytes, rc, "no org %lld in okno.orgs", (long long)org_id);
    PQclear(res);
    return rc;
}

int64_t okno__report_ll(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

void okno__report_moscow(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)((ms + OKNO__REPORT_MSK_MS) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
}

void okno__report_utc(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000 + 1000) % 1000);
}

void okno__report_duration(int64_t ms, char *buf, size_t size)
{
    const char *sign = ms < 0 ? "-" : "";
    int64_t m = (ms < 0 ? -ms : ms) / 60000;
    snprintf(buf, size, "%s%lldd %02lld:%02lld", sign, (long long)(m / 1440),
             (long long)(m / 60 % 24), (long long)(m % 60));
}
