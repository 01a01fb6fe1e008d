/* Internals of common/report shared by its files. */
#ifndef OKNO_REPORT_INTERNAL_H
#define OKNO_REPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "okno/report.h"

#define OKNO__REPORT_MSK_MS (3 * 3600 * INT64_C(1000)) /* Moscow: UTC+3, no DST */
#define OKNO__REPORT_DAY_MS (86400 * INT64_C(1000))

/* The org tree of $1 (okno.orgs.parent_id, recursively) as a CTE named tree(org_id). */
#define OKNO__REPORT_TREE_CTE                                                                      \
    "with recursive tree(org_id) as ("                                                             \
    " select org_id from okno.orgs where org_id = $1::bigint"                                      \
    " union select o.org_id from okno.orgs o join tree t on o.parent_id = t.org_id)"

int okno__report_check_schema(const char *schema, char *errbuf, size_t errbuf_bytes);
/* A result with tuples or a command's, else NULL with errbuf set. */
PGresult *okno__report_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                            char *errbuf, size_t errbuf_bytes);
int okno__report_org_name(PGconn *conn, int64_t org_id, char *name, size_t name_bytes, char *errbuf,
                          size_t errbuf_bytes);
int64_t okno__report_ll(const PGresult *res, int row, int col);
/* "2026-03-02 09:00" in Moscow time. */
void okno__report_moscow(int64_t ms, char *buf, size_t size);
/* "2026-03-02T06:00:00.000Z". */
void okno__report_utc(int64_t ms, char *buf, size_t size);
/* "3d 04:05" (days, hours, minutes; "-" before a negative one). */
void okno__report_duration(int64_t ms, char *buf, size_t size);

/* A CSV field, quoted when it needs to be. */
void okno__report_csv_field(FILE *out, const char *s);
/* Canonical names of OKNO_REPORT_STAGES stages and OKNO_REPORT_ANSWER_TYPES answer types. */
const char *okno__report_stage_name(int i);
const char *okno__report_answer_name(int i);

#endif
