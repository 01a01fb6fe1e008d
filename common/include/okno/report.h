/* The curator's reports (SPEC IV): the daily lists (4.1 a-c) and the weekly summary (4.2) for an
 * org and its subordinates, computed from the read models (okno/projection.h). One module for
 * `okno report` (tools/okno/cmd_report.c), the notifier (digest and weekly mail) and the gateway.
 * Definitions of every number: common/report/README.md. */
#ifndef OKNO_REPORT_H
#define OKNO_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#define OKNO_REPORT_ERROR_BYTES 512
#define OKNO_REPORT_NAME_BYTES  96 /* org and category names, truncated */
#define OKNO_REPORT_WEEKS       8  /* the trend: the report's week and the 7 before it */

/* ---- Daily lists (4.1) ---- */

typedef enum okno_report_list {
    OKNO_REPORT_APPROACHING = 0, /* a) execution or agreement, approaching_permille of the
                                    stage's cumulative allotment used, not yet all of it */
    OKNO_REPORT_EXCEEDED = 1,    /* b) the current stage's cumulative allotment used up */
    OKNO_REPORT_EXPIRED = 2,     /* c) the answer deadline passed */
    OKNO_REPORT_LIST_COUNT = 3,
} okno_report_list;

/* "approaching", "exceeded", "expired". */
const char *okno_report_list_name(okno_report_list list);

/* One message on one list, waiting on one party (a message in agreement waiting on two agreers
 * is two rows). Times are Unix ms; durations ms. */
typedef struct okno_report_daily_row {
    okno_report_list list;
    char message_id[40];
    char stage[16];
    int64_t org_id; /* the org holding the message (it waits on) */
    char org_name[OKNO_REPORT_NAME_BYTES];
    char task[24];   /* what the party must do: draft_answer, agree, ... ("" if no inbox row) */
    char role[16];   /* the party's role in org_id */
    int64_t user_id; /* the person; 0: anyone with the role there */
    int32_t category_id;
    int64_t since_ms;    /* a, b: the visit began; c: the deadline's clock began */
    int64_t used_ms;     /* a, b: cumulative time on the stage; c: since the deadline began */
    int64_t allotted_ms; /* a, b: the stage's cumulative allotment; c: the deadline's span */
    int64_t late_ms;     /* used - allotted: negative while approaching (time left) */
    int64_t due_ms;      /* a, b: when the stage's allotment runs out; c: the answer deadline */
} okno_report_daily_row;

typedef struct okno_report_daily {
    int64_t org_id;
    int64_t at_ms; /* the moment the lists are for */
    int32_t approaching_permille;
    size_t count;
    okno_report_daily_row *rows; /* by list, most late first, then message id, role, user */
    size_t per_list[OKNO_REPORT_LIST_COUNT];
} okno_report_daily;

void okno_report_daily_free(okno_report_daily *d);

/* The lists for org_id and its subordinates (okno.orgs.parent_id, recursively) at now_ms, from
 * the read-model schema `schema` (okno_rm, or a historical build). OKNO_OK, OKNO_ENOTFOUND (no
 * such org), OKNO_EINVAL (bad schema name), OKNO_EPG, OKNO_ENOMEM; errbuf says why. */
int okno_report_daily_query(PGconn *conn, const char *schema, int64_t org_id, int64_t now_ms,
                            okno_report_daily *out, char *errbuf, size_t errbuf_bytes);

/* The lists as they were at at_ms, from the event log: `okno replay --as-of` into a scratch
 * schema (okno_rm_at_<pid>_<n>), the same query, the schema dropped. admin_conninfo: a role that
 * may create schemas (okno replay's). jobs: replay workers (0: 2). */
int okno_report_daily_at(const char *admin_conninfo, int64_t org_id, int64_t at_ms, int jobs,
                         okno_report_daily *out, char *errbuf, size_t errbuf_bytes);

/* Writers. Text and CSV times in Moscow time; JSON in Unix ms and ISO 8601 UTC. */
int okno_report_daily_text(FILE *out, const okno_report_daily *d);
int okno_report_daily_json(FILE *out, const okno_report_daily *d);
int okno_report_daily_csv(FILE *out, const okno_report_daily *d);

/* ---- Weekly summary (4.2) ---- */

/* Counters over a set of stats_daily rows (okno_rm.stats_daily's columns of the same names). */
typedef struct okno_report_counts {
    int64_t submitted, entered, left_count, left_overdue, stage_approaching, stage_exceeded;
    int64_t answered, answered_overdue, interim, rejected_by_moderator, redirected;
    int64_t deadline_expired;
} okno_report_counts;

/* Answered on time: k of n, its share and Wilson's 95 % interval (share and bounds 0 when
 * n == 0: there is no share). */
typedef struct okno_report_share {
    int64_t k, n;
    double share, low, high;
} okno_report_share;

void okno_report_wilson(int64_t k, int64_t n, okno_report_share *out);

typedef struct okno_report_stage {
    okno_report_counts c;
    int64_t visits_timed;       /* visits left in the week (the sample of the percentiles) */
    int64_t median_ms, p90_ms;  /* nearest-rank percentiles of those visits' durations */
    int64_t allotted_median_ms; /* nearest-rank median of their stage allotments */
} okno_report_stage;

typedef struct okno_report_keyed {
    int64_t key; /* category id or org id */
    char name[OKNO_REPORT_NAME_BYTES];
    okno_report_counts c;
    okno_report_share on_time;
} okno_report_keyed;

typedef struct okno_report_week {
    char label[12]; /* "2026-W10" */
    int32_t monday; /* Moscow days since 1970-01-01 */
    okno_report_counts c;
    okno_report_share on_time;
} okno_report_week;

#define OKNO_REPORT_STAGES       5 /* moderation .. approval */
#define OKNO_REPORT_ANSWER_TYPES 4 /* resolved, not_resolved, postponed, rejected */

typedef struct okno_report_weekly {
    int64_t org_id;
    char org_name[OKNO_REPORT_NAME_BYTES];
    int32_t org_count;     /* the org and its subordinates */
    okno_report_week week; /* the report's week: totals */
    okno_report_stage stages[OKNO_REPORT_STAGES];
    okno_report_counts answer_types[OKNO_REPORT_ANSWER_TYPES];
    okno_report_keyed *categories; /* by id */
    size_t category_count;
    okno_report_keyed *orgs; /* by id, only orgs with any count */
    size_t org_row_count;
    okno_report_week trend[OKNO_REPORT_WEEKS]; /* oldest first; the last is `week` */
} okno_report_weekly;

void okno_report_weekly_free(okno_report_weekly *w);

/* Parses "YYYY-Www" (ISO 8601 week) into the Moscow day number of its Monday; OKNO_EINVAL. */
int okno_report_parse_week(const char *text, int32_t *monday);
/* The ISO week label of a Moscow day number ("2026-W10"). */
void okno_report_week_label(int32_t day, char *buf, size_t size);

/* The summary of the ISO week starting on Moscow day `monday` for org_id and its subordinates,
 * from read-model schema `schema`. Codes as okno_report_daily_query. */
int okno_report_weekly_query(PGconn *conn, const char *schema, int64_t org_id, int32_t monday,
                             okno_report_weekly *out, char *errbuf, size_t errbuf_bytes);

/* A self-contained HTML page (inline SVG charts, no scripts, no external resources). */
int okno_report_weekly_html(FILE *out, const okno_report_weekly *w);
/* Every number of the report, one per line: section,key,metric,value. */
int okno_report_weekly_csv(FILE *out, const okno_report_weekly *w);

#endif
