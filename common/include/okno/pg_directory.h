/* Loads the org directory (okno.orgs, grants, categories, authorities, workflow_settings)
 * from PostgreSQL into the plain, sorted arrays the pure workflow core reads. */
#ifndef OKNO_PG_DIRECTORY_H
#define OKNO_PG_DIRECTORY_H

#include <stddef.h>
#include <libpq-fe.h>

#include "okno/workflow.h"

/* Rows of one table loaded at most; a bigger directory is refused rather than half-read. */
#define OKNO_DIRECTORY_ROWS_MAX (16 * 1024 * 1024)

/* Owns the arrays behind `dir`; `dir` is the read-only view handed to the core. */
typedef struct okno_pg_directory {
    okno_directory dir;
    okno_org *orgs;
    okno_grant *grants;
    okno_category *categories;
    okno_authority *authorities;
    int64_t version; /* okno.directory_head's version in the same snapshot (the history's) */
} okno_pg_directory;

/* Reads the whole directory in one repeatable-read snapshot, checks it with
 * okno_directory_check(), and fills *out (which the caller releases with
 * okno_pg_directory_free(), also after a failure). */
int okno_pg_directory_load(PGconn *conn, okno_pg_directory *out, char *errbuf, size_t errbuf_bytes);

void okno_pg_directory_free(okno_pg_directory *d);

/* Brings a loaded directory to the newest version by applying the history's rows after
 * d->version (deploy/migrations/0009_directory_history.sql) to its arrays, as deltas: what a
 * whole load would read, without reading it. OKNO_OK; OKNO_ELIMIT when more than rows_max rows
 * wait (a whole load is cheaper then); another error when a row does not apply or the result
 * fails okno_directory_check(). After an error *d is unusable: load it whole again. */
int okno_pg_directory_apply(PGconn *conn, okno_pg_directory *d, int64_t rows_max, char *errbuf,
                            size_t errbuf_bytes);

/* Reads okno.workflow_settings into d->dir.config (part of the load; the deltas use it). */
int okno_pg_directory_load_settings(PGconn *conn, okno_pg_directory *d, char *errbuf,
                                    size_t errbuf_bytes);

#endif
