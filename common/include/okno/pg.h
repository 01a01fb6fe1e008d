/* PostgreSQL helpers shared by services and tools: one connect path, simple statements and
 * schema migrations. The binary wire format is okno/pgbin.h; the event store is okno/eventlog.h,
 * okno/logtail.h, okno/stream_head.h and okno/pg_directory.h. */
#ifndef OKNO_PG_H
#define OKNO_PG_H

#include <stddef.h>
#include <libpq-fe.h>

/* Longest error text a helper reports, in bytes, including the terminating NUL. */
#define OKNO_PG_ERRBUF_BYTES 512

struct okno_config;

/* The one way okno connects: PQconnectdbParams(keywords, values, 1) (a "dbname" value may be a
 * whole conninfo), then a check that the connection is usable. On success *out owns a
 * connection the caller closes with PQfinish(); on failure *out is NULL and errbuf names the
 * cause ("cannot connect to PostgreSQL: ..."). OKNO_EPG or OKNO_ENOMEM. */
int okno_pg_connect_params(const char *const *keywords, const char *const *values, PGconn **out,
                           char *errbuf, size_t errbuf_bytes);

/* The same with a libpq conninfo string (the CLI's --pg, tests). */
int okno_pg_connect(const char *conninfo, PGconn **out, char *errbuf, size_t errbuf_bytes);

/* The same with a service's configuration: pg.conninfo and the pg.* keys
 * (okno_config_pg_params). */
int okno_pg_connect_config(const struct okno_config *cfg, PGconn **out, char *errbuf,
                           size_t errbuf_bytes);

/* Runs one statement that returns no rows; fails with libpq's message in errbuf. */
int okno_pg_exec(PGconn *conn, const char *sql, char *errbuf, size_t errbuf_bytes);

/* Counts of what okno_pg_migrate() did. */
typedef struct okno_pg_migrate_stats {
    int applied; /* migrations applied by this call */
    int skipped; /* migrations already recorded as applied */
} okno_pg_migrate_stats;

/* Applies the numbered SQL files of dir (NNNN_name.sql, in numeric order) that are not yet
 * recorded in okno_schema_migrations, each in its own transaction together with its record.
 * A recorded migration whose file changed since it was applied is an error: history is not
 * rewritten silently. Concurrent callers serialize on an advisory lock. */
int okno_pg_migrate(PGconn *conn, const char *dir, okno_pg_migrate_stats *stats, char *errbuf,
                    size_t errbuf_bytes);

#endif
