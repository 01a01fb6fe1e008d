/* Connecting to PostgreSQL and running simple statements with errors reported as text. */
#include <assert.h>
#include <stdio.h>

#include "okno/config.h"
#include "okno/error.h"
#include "okno/pg.h"

int okno_pg_connect_params(const char *const *keywords, const char *const *values, PGconn **out,
                           char *errbuf, size_t errbuf_bytes)
{
    assert(keywords != NULL);
    assert(values != NULL);
    *out = NULL;
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (conn == NULL) {
        snprintf(errbuf, errbuf_bytes, "out of memory creating a PostgreSQL connection");
        return OKNO_ENOMEM;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(errbuf, errbuf_bytes, "cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return OKNO_EPG;
    }
    *out = conn;
    return OKNO_OK;
}

int okno_pg_connect(const char *conninfo, PGconn **out, char *errbuf, size_t errbuf_bytes)
{
    const char *const keywords[] = {"dbname", NULL};
    const char *const values[] = {conninfo, NULL};
    return okno_pg_connect_params(keywords, values, out, errbuf, errbuf_bytes);
}

int okno_pg_connect_config(const struct okno_config *cfg, PGconn **out, char *errbuf,
                           size_t errbuf_bytes)
{
    const char *keywords[OKNO_CONFIG_PG_PARAMS_MAX], *values[OKNO_CONFIG_PG_PARAMS_MAX];
    okno_config_pg_params(cfg, keywords, values);
    return okno_pg_connect_params(keywords, values, out, errbuf, errbuf_bytes);
}

int okno_pg_exec(PGconn *conn, const char *sql, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = OKNO_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(errbuf, errbuf_bytes, "%s", PQresultErrorMessage(res));
        rc = OKNO_EPG;
    }
    PQclear(res);
    return rc;
}
