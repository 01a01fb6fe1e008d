/* Reading the org directory from PostgreSQL into the core's sorted arrays. The ORDER BY of
 * each query is the sort key okno_directory's lookups rely on; okno_directory_check() then
 * proves it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/pg_directory.h"

static PGresult *query(PGconn *conn, const char *sql, int columns, char *errbuf,
                       size_t errbuf_bytes)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != columns) {
        snprintf(errbuf, errbuf_bytes, "loading the directory: %s", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    if (PQntuples(res) > OKNO_DIRECTORY_ROWS_MAX) {
        snprintf(errbuf, errbuf_bytes, "directory table has more than %d rows",
                 OKNO_DIRECTORY_ROWS_MAX);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool col_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

/* Fills one element of a table's array from row i of res; returns OKNO_OK or an error (with its
 * text in errbuf). */
typedef int (*fill_row)(const PGresult *res, int i, void *elem, char *errbuf, size_t errbuf_bytes);

/* Runs sql (columns wide) and fills one element of elem_bytes per row into *rows (calloc'd, the
 * caller frees it also on failure), *count set to the rows read. */
static int load_rows(PGconn *conn, const char *sql, int columns, size_t elem_bytes, fill_row fill,
                     void **rows, uint32_t *count, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = query(conn, sql, columns, errbuf, errbuf_bytes);
    if (res == NULL)
        return OKNO_EPG;
    int n = PQntuples(res), rc = OKNO_OK;
    char *elems = calloc(n > 0 ? (size_t)n : 1, elem_bytes);
    for (int i = 0; elems != NULL && rc == OKNO_OK && i < n; i++)
        rc = fill(res, i, elems + (size_t)i * elem_bytes, errbuf, errbuf_bytes);
    PQclear(res);
    *rows = elems;
    *count = (uint32_t)n;
    return elems == NULL ? OKNO_ENOMEM : rc;
}

static int fill_org(const PGresult *res, int i, void *elem, char *errbuf, size_t errbuf_bytes)
{
    (void)errbuf;
    (void)errbuf_bytes;
    *(okno_org *)elem = (okno_org){.org_id = col_i64(res, i, 0), .parent_id = col_i64(res, i, 1)};
    return OKNO_OK;
}

static int load_orgs(PGconn *conn, okno_pg_directory *d, char *errbuf, size_t errbuf_bytes)
{
    void *rows = NULL;
    int rc = load_rows(conn, "select org_id, parent_id from okno.orgs order by org_id", 2,
                       sizeof *d->orgs, fill_org, &rows, &d->dir.orgs_count, errbuf, errbuf_bytes);
    d->orgs = rows;
    d->dir.orgs = d->orgs;
    return rc;
}

static int parse_roles(const char *csv, okno_roles *out)
{
    *out = 0;
    while (*csv != '\0') {
        size_t len = strcspn(csv, ",");
        okno_role role;
        if (okno_role_parse((okno_str){csv, (uint32_t)len}, &role) != 0)
            return OKNO_EINVAL;
        *out |= role;
        csv += len + (csv[len] == ',');
    }
    return OKNO_OK;
}

static int fill_grant(const PGresult *res, int i, void *elem, char *errbuf, size_t errbuf_bytes)
{
    okno_grant *g = elem;
    *g = (okno_grant){.user_id = col_i64(res, i, 0), .org_id = col_i64(res, i, 1)};
    int rc = parse_roles(PQgetvalue(res, i, 2), &g->roles);
    if (rc != OKNO_OK)
        snprintf(errbuf, errbuf_bytes, "okno.grants: unknown role in '%s'", PQgetvalue(res, i, 2));
    return rc;
}

static int load_grants(PGconn *conn, okno_pg_directory *d, char *errbuf, size_t errbuf_bytes)
{
    void *rows = NULL;
    int rc = load_rows(conn,
                       "select user_id, org_id, array_to_string(roles, ',') from okno.grants "
                       "order by user_id, org_id",
                       3, sizeof *d->grants, fill_grant, &rows, &d->dir.grants_count, errbuf,
                       errbuf_bytes);
    d->grants = rows;
    d->dir.grants = d->grants;
    return rc;
}

static int fill_category(const PGresult *res, int i, void *elem, char *errbuf, size_t errbuf_bytes)
{
    (void)errbuf;
    (void)errbuf_bytes;
    *(okno_category *)elem = (okno_category){.category_id = (int32_t)col_i64(res, i, 0),
                                             .total_days = (int32_t)col_i64(res, i, 1)};
    return OKNO_OK;
}

static int load_categories(PGconn *conn, okno_pg_directory *d, char *errbuf, size_t errbuf_bytes)
{
    void *rows = NULL;
    int rc =
        load_rows(conn, "select category_id, total_days from okno.categories order by category_id",
                  2, sizeof *d->categories, fill_category, &rows, &d->dir.categories_count, errbuf,
                  errbuf_bytes);
    d->categories = rows;
    d->dir.categories = d->categories;
    return rc;
}

static int fill_authority(const PGresult *res, int i, void *elem, char *errbuf, size_t errbuf_bytes)
{
    (void)errbuf;
    (void)errbuf_bytes;
    *(okno_authority *)elem = (okno_authority){
        .user_id = col_i64(res, i, 0),
        .org_id = col_i64(res, i, 1),
        .category_id = (int32_t)col_i64(res, i, 2),
        .subcategory_id = (int32_t)col_i64(res, i, 3),
        .may_agree = col_bool(res, i, 4),
        .may_approve = col_bool(res, i, 5),
    };
    return OKNO_OK;
}

static int load_authorities(PGconn *conn, okno_pg_directory *d, char *errbuf, size_t errbuf_bytes)
{
    void *rows = NULL;
    int rc = load_rows(conn,
                       "select user_id, org_id, category_id, subcategory_id, may_agree, "
                       "may_approve from okno.authorities "
                       "order by org_id, user_id, category_id, subcategory_id",
                       6, sizeof *d->authorities, fill_authority, &rows, &d->dir.authorities_count,
                       errbuf, errbuf_bytes);
    d->authorities = rows;
    d->dir.authorities = d->authorities;
    return rc;
}

int okno_pg_directory_load_settings(PGconn *conn, okno_pg_directory *d, char *errbuf,
                                    size_t errbuf_bytes)
{
    PGresult *res = query(conn,
                          "select operator_org_id, approaching_permille, default_total_days, "
                          "redirect_restarts_deadline from okno.workflow_settings",
                          4, errbuf, errbuf_bytes);
    if (res == NULL)
        return OKNO_EPG;
    int rc = OKNO_OK;
    if (PQntuples(res) != 1) {
        snprintf(errbuf, errbuf_bytes,
                 "okno.workflow_settings is empty: name the platform operator's org there");
        rc = OKNO_ENOTFOUND;
    } else {
        okno_workflow_config_init(&d->dir.config, col_i64(res, 0, 0));
        d->dir.config.approaching_permille = (int32_t)col_i64(res, 0, 1);
        d->dir.config.default_total_days = (int32_t)col_i64(res, 0, 2);
        d->dir.config.redirect_restarts_deadline = col_bool(res, 0, 3);
    }
    PQclear(res);
    return rc;
}

static int load_version(PGconn *conn, okno_pg_directory *d, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = query(conn, "select version from okno.directory_head", 1, errbuf, errbuf_bytes);
    if (res == NULL)
        return OKNO_EPG;
    d->version = PQntuples(res) == 1 ? col_i64(res, 0, 0) : 0;
    PQclear(res);
    return OKNO_OK;
}

int okno_pg_directory_load(PGconn *conn, okno_pg_directory *out, char *errbuf, size_t errbuf_bytes)
{
    memset(out, 0, sizeof *out);
    PGresult *begin = PQexec(conn, "begin isolation level repeatable read read only");
    int rc = OKNO_OK;
    if (PQresultStatus(begin) != PGRES_COMMAND_OK) {
        snprintf(errbuf, errbuf_bytes, "loading the directory: %s", PQresultErrorMessage(begin));
        rc = OKNO_EPG;
    }
    PQclear(begin);
    if (rc == OKNO_OK)
        rc = load_version(conn, out, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = okno_pg_directory_load_settings(conn, out, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = load_orgs(conn, out, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = load_grants(conn, out, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = load_categories(conn, out, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = load_authorities(conn, out, errbuf, errbuf_bytes);
    PQclear(PQexec(conn, "commit"));
    if (rc == OKNO_OK && okno_directory_check(&out->dir) != 0) {
        snprintf(errbuf, errbuf_bytes, "the directory is inconsistent (unsorted or duplicate)");
        rc = OKNO_EINVAL;
    }
    return rc;
}

void okno_pg_directory_free(okno_pg_directory *d)
{
    free(d->orgs);
    free(d->grants);
    free(d->categories);
    free(d->authorities);
    memset(d, 0, sizeof *d);
}
