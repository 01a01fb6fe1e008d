/* Numbered SQL migrations: each file applied once, in order, recorded with its checksum. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/pg.h"

/* Largest migration file accepted, in bytes; a bigger one is a mistake, not a schema. */
#define MIGRATION_FILE_BYTES_MAX (4 * 1024 * 1024)
/* Advisory lock key that serializes concurrent migrators ("okno" in ASCII). */
#define MIGRATION_LOCK_KEY "1869312879"

static int is_migration_name(const struct dirent *d)
{
    const char *n = d->d_name;
    size_t len = strlen(n);
    if (len < 10 || strcmp(n + len - 4, ".sql") != 0 || n[4] != '_')
        return 0;
    for (int i = 0; i < 4; i++)
        if (n[i] < '0' || n[i] > '9')
            return 0;
    return 1;
}

static char *read_file(const char *path, char *errbuf, size_t errbuf_bytes)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errbuf_bytes, "cannot open %s", path);
        return NULL;
    }
    char *buf = malloc(MIGRATION_FILE_BYTES_MAX + 1);
    size_t n = buf ? fread(buf, 1, MIGRATION_FILE_BYTES_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > MIGRATION_FILE_BYTES_MAX) {
        snprintf(errbuf, errbuf_bytes, "%s: unreadable or larger than %d bytes", path,
                 MIGRATION_FILE_BYTES_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* 1 if applied with the same checksum, 0 if not applied, negative on error or changed file. */
static int recorded_state(PGconn *conn, const char *version, const char *sql, const char *name,
                          char *errbuf, size_t errbuf_bytes)
{
    const char *params[2] = {version, sql};
    PGresult *res = PQexecParams(conn,
                                 "select checksum = md5($2::text) from okno_schema_migrations "
                                 "where version = $1::int",
                                 2, NULL, params, NULL, NULL, 0);
    int rc;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(errbuf, errbuf_bytes, "%s", PQresultErrorMessage(res));
        rc = OKNO_EPG;
    } else if (PQntuples(res) == 0) {
        rc = 0;
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        rc = 1;
    } else {
        snprintf(errbuf, errbuf_bytes,
                 "migration %s was changed after it was applied; add a new migration instead",
                 name);
        rc = OKNO_EINVAL;
    }
    PQclear(res);
    return rc;
}

static int apply_one(PGconn *conn, const char *version, const char *name, const char *sql,
                     char *errbuf, size_t errbuf_bytes)
{
    int rc = okno_pg_exec(conn, "begin", errbuf, errbuf_bytes);
    if (rc == 0)
        rc = okno_pg_exec(conn, sql, errbuf, errbuf_bytes);
    if (rc == 0) {
        const char *params[3] = {version, name, sql};
        PGresult *res = PQexecParams(conn,
                                     "insert into okno_schema_migrations(version, name, checksum) "
                                     "values ($1::int, $2, md5($3::text))",
                                     3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(errbuf, errbuf_bytes, "%s", PQresultErrorMessage(res));
            rc = OKNO_EPG;
        }
        PQclear(res);
    }
    if (rc == 0)
        return okno_pg_exec(conn, "commit", errbuf, errbuf_bytes);
    size_t used = strlen(errbuf);
    snprintf(errbuf + used, errbuf_bytes - used, " (in migration %s)", name);
    char ignored[OKNO_PG_ERRBUF_BYTES];
    okno_pg_exec(conn, "rollback", ignored, sizeof ignored);
    return rc;
}

static int migrate_file(PGconn *conn, const char *dir, const char *name,
                        okno_pg_migrate_stats *stats, char *errbuf, size_t errbuf_bytes)
{
    char path[4096], version[5];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    memcpy(version, name, 4);
    version[4] = '\0';
    char *sql = read_file(path, errbuf, errbuf_bytes);
    if (sql == NULL)
        return OKNO_EIO;
    int rc = recorded_state(conn, version, sql, name, errbuf, errbuf_bytes);
    if (rc == 1)
        stats->skipped++;
    if (rc == 0) {
        rc = apply_one(conn, version, name, sql, errbuf, errbuf_bytes);
        if (rc == 0)
            stats->applied++;
    }
    free(sql);
    return rc < 0 ? rc : OKNO_OK;
}

int okno_pg_migrate(PGconn *conn, const char *dir, okno_pg_migrate_stats *stats, char *errbuf,
                    size_t errbuf_bytes)
{
    *stats = (okno_pg_migrate_stats){0};
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_migration_name, alphasort);
    if (n < 0) {
        snprintf(errbuf, errbuf_bytes, "cannot list migrations in %s", dir);
        return OKNO_EIO;
    }
    /* NOTICEs such as "relation already exists, skipping" are noise for an operator. */
    int rc = okno_pg_exec(conn, "set client_min_messages = warning", errbuf, errbuf_bytes);
    if (rc == 0)
        rc = okno_pg_exec(conn, "select pg_advisory_lock(" MIGRATION_LOCK_KEY ")", errbuf,
                          errbuf_bytes);
    if (rc == 0)
        rc = okno_pg_exec(conn,
                          "create table if not exists okno_schema_migrations ("
                          " version int primary key, name text not null,"
                          " checksum text not null, applied_at timestamptz not null default now())",
                          errbuf, errbuf_bytes);
    for (int i = 0; i < n; i++) {
        if (rc == 0)
            rc = migrate_file(conn, dir, names[i]->d_name, stats, errbuf, errbuf_bytes);
        free(names[i]);
    }
    free(names);
    char ignored[OKNO_PG_ERRBUF_BYTES];
    okno_pg_exec(conn, "select pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", ignored,
                 sizeof ignored);
    return rc;
}
