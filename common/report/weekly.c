/* The weekly summary (SPEC 4.2) from a read-model schema: stats_daily for the counts, stage_visits
 * (with the card's total days) for the time per stage. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "okno/error.h"
#include "../projection/internal.h"

static const char *const STAGES[OKNO_REPORT_STAGES] = {"moderation", "coordination", "execution",
                                                       "agreement", "approval"};
static const char *const ANSWERS[OKNO_REPORT_ANSWER_TYPES] = {"resolved", "not_resolved",
                                                              "postponed", "rejected"};

const char *okno__report_stage_name(int i)
{
    return STAGES[i];
}

const char *okno__report_answer_name(int i)
{
    return ANSWERS[i];
}

void okno_report_wilson(int64_t k, int64_t n, okno_report_share *out)
{
    *out = (okno_report_share){.k = k, .n = n};
    if (n <= 0)
        return;
    const double z = 1.959963984540054; /* the 97.5th percentile of the standard normal */
    double p = (double)k / (double)n, nn = (double)n, z2 = z * z;
    double denom = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / denom;
    double half = z / denom * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    out->share = p;
    out->low = fmax(0, centre - half);
    out->high = fmin(1, centre + half);
}

/* Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
static int32_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Monday = 0 .. Sunday = 6 (1970-01-01 was a Thursday). */
static int weekday(int32_t day)
{
    return (int)(((day + 3) % 7 + 7) % 7);
}

void okno_report_week_label(int32_t day, char *buf, size_t size)
{
    int32_t thursday = day - weekday(day) + 3;
    int y, m, d;
    okno__proj_civil(thursday, &y, &m, &d);
    int week = (thursday - days_from_civil(y, 1, 1)) / 7 + 1;
    snprintf(buf, size, "%04d-W%02d", y, week);
}

int okno_report_parse_week(const char *text, int32_t *monday)
{
    int y, w, used = 0;
    if (text == NULL || sscanf(text, "%4d-W%2d%n", &y, &w, &used) != 2 ||
        (size_t)used != strlen(text) || y < 1971 || w < 1 || w > 53)
        return OKNO_EINVAL;
    int32_t jan4 = days_from_civil(y, 1, 4);
    *monday = jan4 - weekday(jan4) + 7 * (w - 1);
    char check[16];
    okno_report_week_label(*monday, check, sizeof check);
    return strcmp(check, text) == 0 ? OKNO_OK : OKNO_EINVAL; /* W53 of a 52-week year */
}

void okno_report_weekly_free(okno_report_weekly *w)
{
    free(w->categories);
    free(w->orgs);
    w->categories = w->orgs = NULL;
    w->category_count = w->org_row_count = 0;
}

#define COUNTERS                                                                                   \
    "sum(submitted), sum(entered), sum(left_count), sum(left_overdue), sum(stage_approaching),"    \
    " sum(stage_exceeded), sum(answered), sum(answered_overdue), sum(interim),"                    \
    " sum(rejected_by_moderator), sum(redirected), sum(deadline_expired)"
enum { COUNTER_COUNT = 12 };

/* The counters in the order of COUNTERS and of the CSV. */
static int64_t *counter(okno_report_counts *c, int i)
{
    int64_t *f[COUNTER_COUNT] = {&c->submitted,         &c->entered,
                                 &c->left_count,        &c->left_overdue,
                                 &c->stage_approaching, &c->stage_exceeded,
                                 &c->answered,          &c->answered_overdue,
                                 &c->interim,           &c->rejected_by_moderator,
                                 &c->redirected,        &c->deadline_expired};
    return f[i];
}

static const char *const COUNTER_NAMES[COUNTER_COUNT] = {
    "submitted",         "entered",
    "left_count",        "left_overdue",
    "stage_approaching", "stage_exceeded",
    "answered",          "answered_overdue",
    "interim",           "rejected_by_moderator",
    "redirected",        "deadline_expired"};

static void add(okno_report_counts *to, const okno_report_counts *from)
{
    for (int i = 0; i < COUNTER_COUNT; i++)
        *counter(to, i) += *counter((okno_report_counts *)from, i);
}

static bool any(const okno_report_counts *c)
{
    for (int i = 0; i < COUNTER_COUNT; i++)
        if (*counter((okno_report_counts *)c, i) != 0)
            return true;
    return false;
}

static void on_time(const okno_report_counts *c, okno_report_share *s)
{
    okno_report_wilson(c->answered - c->answered_overdue, c->answered, s);
}

/* The row of key in a growing array sorted by nothing (small: orgs and categories). */
static okno_report_keyed *keyed(okno_report_keyed **rows, size_t *count, size_t *cap, int64_t key)
{
    for (size_t i = 0; i < *count; i++)
        if ((*rows)[i].key == key)
            return &(*rows)[i];
    if (*count == *cap) {
        size_t n = *cap ? *cap * 2 : 16;
        okno_report_keyed *r = realloc(*rows, n * sizeof *r);
        if (r == NULL)
            return NULL;
        *rows = r;
        *cap = n;
    }
    okno_report_keyed *r = &(*rows)[(*count)++];
    memset(r, 0, sizeof *r);
    r->key = key;
    return r;
}

static int keyed_cmp(const void *a, const void *b)
{
    const okno_report_keyed *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

/* Drops rows with no counts, sorts by key, computes shares. */
static void finish_keyed(okno_report_keyed *rows, size_t *count)
{
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++)
        if (any(&rows[i].c))
            rows[kept++] = rows[i];
    *count = kept;
    /* rows is NULL when no row was ever added (a week without messages): qsort's array must
     * not be NULL even for no elements (C17 7.22.5), and UBSan stops there. */
    if (kept > 1)
        qsort(rows, kept, sizeof *rows, keyed_cmp);
    for (size_t i = 0; i < kept; i++)
        on_time(&rows[i].c, &rows[i].on_time);
}

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* Per week, org, category, stage and answer type of the range: the counters (%s the schema). */
#define COUNTS_SQL                                                                                 \
    OKNO__REPORT_TREE_CTE                                                                          \
    " select (s.day - ('1970-01-01'::date + $2::int)) / 7, s.org_id, s.category_id,"               \
    " s.stage, s.answer_type, " COUNTERS " from \"%s\".stats_daily s"                              \
    " join tree t on t.org_id = s.org_id"                                                          \
    " where s.day >= '1970-01-01'::date + $2::int and s.day < '1970-01-01'::date + $3::int"        \
    " group by 1, 2, 3, 4, 5"

/* Per stage, over the visits that ended in the range: count, median and 90th percentile of the
 * time used, median of the time allotted (%s twice: the schema). */
#define TIMES_SQL                                                                                  \
    OKNO__REPORT_TREE_CTE                                                                          \
    ", v as (select v.stage, v.duration_ms, c.total_days::bigint * 864000 * case v.stage"          \
    "   when 'moderation' then 5 when 'coordination' then 5 when 'execution' then 65"              \
    "   when 'agreement' then 15 else 10 end as allotted_ms"                                       \
    " from \"%s\".stage_visits v join tree t on t.org_id = v.org_id"                               \
    " join \"%s\".card c on c.message_id = v.message_id"                                           \
    " where v.left_at >= 'epoch'::timestamptz + $2::bigint * interval '1 millisecond'"             \
    "   and v.left_at < 'epoch'::timestamptz + $3::bigint * interval '1 millisecond')"             \
    " select stage, count(*), percentile_disc(0.5) within group (order by duration_ms),"           \
    " percentile_disc(0.9) within group (order by duration_ms),"                                   \
    " percentile_disc(0.5) within group (order by allotted_ms) from v group by stage"

/* Runs the query the format makes after the org tree's CTE, with the three weekly parameters
 * ($1 the org, $2 and $3 the days or instants the range starts and ends). */
static PGresult *tree_query(PGconn *conn, const char *const *params, char *errbuf,
                            size_t errbuf_bytes, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static PGresult *tree_query(PGconn *conn, const char *const *params, char *errbuf,
                            size_t errbuf_bytes, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return okno__report_exec(conn, sql, 3, params, errbuf, errbuf_bytes);
}

static int counts_query(PGconn *conn, const char *schema, const char *const *params,
                        okno_report_weekly *w, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = tree_query(conn, params, errbuf, errbuf_bytes, COUNTS_SQL, schema);
    if (res == NULL)
        return OKNO_EPG;
    size_t cat_cap = 0, org_cap = 0;
    int rc = OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++) {
        int wk = (int)okno__report_ll(res, i, 0);
        okno_report_counts c = {0};
        for (int k = 0; k < COUNTER_COUNT; k++)
            *counter(&c, k) = okno__report_ll(res, i, 5 + k);
        add(&w->trend[wk].c, &c);
        if (wk != OKNO_REPORT_WEEKS - 1)
            continue;
        int st = index_of(STAGES, OKNO_REPORT_STAGES, PQgetvalue(res, i, 3));
        if (st >= 0)
            add(&w->stages[st].c, &c);
        int an = index_of(ANSWERS, OKNO_REPORT_ANSWER_TYPES, PQgetvalue(res, i, 4));
        if (an >= 0)
            add(&w->answer_types[an], &c);
        okno_report_keyed *cat =
            keyed(&w->categories, &w->category_count, &cat_cap, okno__report_ll(res, i, 2));
        okno_report_keyed *org =
            keyed(&w->orgs, &w->org_row_count, &org_cap, okno__report_ll(res, i, 1));
        if (cat == NULL || org == NULL)
            rc = okno_errorf(errbuf, errbuf_bytes, OKNO_ENOMEM, "out of memory");
        else {
            add(&cat->c, &c);
            add(&org->c, &c);
        }
    }
    PQclear(res);
    return rc;
}

/* Names of the keyed rows from table (orgs or categories). */
static int names(PGconn *conn, const char *sql, okno_report_keyed *rows, size_t count, char *errbuf,
                 size_t errbuf_bytes)
{
    PGresult *res = okno__report_exec(conn, sql, 0, NULL, errbuf, errbuf_bytes);
    if (res == NULL)
        return OKNO_EPG;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t key = okno__report_ll(res, i, 0);
        for (size_t j = 0; j < count; j++)
            if (rows[j].key == key)
                snprintf(rows[j].name, sizeof rows[j].name, "%s", PQgetvalue(res, i, 1));
    }
    PQclear(res);
    return OKNO_OK;
}

static int times_query(PGconn *conn, const char *schema, const char *const *params,
                       okno_report_weekly *w, char *errbuf, size_t errbuf_bytes)
{
    PGresult *res = tree_query(conn, params, errbuf, errbuf_bytes, TIMES_SQL, schema, schema);
    if (res == NULL)
        return OKNO_EPG;
    for (int i = 0; i < PQntuples(res); i++) {
        int st = index_of(STAGES, OKNO_REPORT_STAGES, PQgetvalue(res, i, 0));
        if (st < 0)
            continue;
        w->stages[st].visits_timed = okno__report_ll(res, i, 1);
        w->stages[st].median_ms = okno__report_ll(res, i, 2);
        w->stages[st].p90_ms = okno__report_ll(res, i, 3);
        w->stages[st].allotted_median_ms = okno__report_ll(res, i, 4);
    }
    PQclear(res);
    return OKNO_OK;
}

int okno_report_weekly_query(PGconn *conn, const char *schema, int64_t org_id, int32_t monday,
                             okno_report_weekly *out, char *errbuf, size_t errbuf_bytes)
{
    memset(out, 0, sizeof *out);
    out->org_id = org_id;
    int rc = okno__report_check_schema(schema, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = okno__report_org_name(conn, org_id, out->org_name, sizeof out->org_name, errbuf,
                                   errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    int32_t first = monday - 7 * (OKNO_REPORT_WEEKS - 1);
    for (int i = 0; i < OKNO_REPORT_WEEKS; i++) {
        out->trend[i].monday = first + 7 * i;
        okno_report_week_label(out->trend[i].monday, out->trend[i].label,
                               sizeof out->trend[i].label);
    }
    char org[24], from[24], to[24];
    snprintf(org, sizeof org, "%" PRId64, org_id);
    snprintf(from, sizeof from, "%d", (int)first);
    snprintf(to, sizeof to, "%d", (int)(monday + 7));
    const char *params[3] = {org, from, to};
    rc = counts_query(conn, schema, params, out, errbuf, errbuf_bytes);
    char from_ms[24], to_ms[24];
    snprintf(from_ms, sizeof from_ms, "%" PRId64,
             (int64_t)monday * OKNO__REPORT_DAY_MS - OKNO__REPORT_MSK_MS);
    snprintf(to_ms, sizeof to_ms, "%" PRId64,
             (int64_t)(monday + 7) * OKNO__REPORT_DAY_MS - OKNO__REPORT_MSK_MS);
    const char *tparams[3] = {org, from_ms, to_ms};
    if (rc == OKNO_OK)
        rc = times_query(conn, schema, tparams, out, errbuf, errbuf_bytes);
    finish_keyed(out->categories, &out->category_count);
    finish_keyed(out->orgs, &out->org_row_count);
    if (rc == OKNO_OK)
        rc = names(conn, "select category_id, name from okno.categories", out->categories,
                   out->category_count, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = names(conn, "select org_id, name from okno.orgs", out->orgs, out->org_row_count,
                   errbuf, errbuf_bytes);
    char tree_sql[512];
    snprintf(tree_sql, sizeof tree_sql, OKNO__REPORT_TREE_CTE " select count(*) from tree");
    PGresult *res =
        rc == OKNO_OK ? okno__report_exec(conn, tree_sql, 1, params, errbuf, errbuf_bytes) : NULL;
    if (res != NULL)
        out->org_count = (int32_t)okno__report_ll(res, 0, 0);
    else if (rc == OKNO_OK)
        rc = OKNO_EPG;
    PQclear(res);
    for (int i = 0; i < OKNO_REPORT_WEEKS; i++)
        on_time(&out->trend[i].c, &out->trend[i].on_time);
    out->week = out->trend[OKNO_REPORT_WEEKS - 1];
    if (rc != OKNO_OK)
        okno_report_weekly_free(out);
    return rc;
}

/* ---- CSV ---- */

static void csv_counts(FILE *out, const char *section, const char *key, const okno_report_counts *c,
                       const okno_report_share *s)
{
    for (int i = 0; i < COUNTER_COUNT; i++)
        fprintf(out, "%s,%s,%s,%" PRId64 "\n", section, key, COUNTER_NAMES[i],
                *counter((okno_report_counts *)c, i));
    if (s == NULL)
        return;
    fprintf(out, "%s,%s,on_time,%" PRId64 "\n%s,%s,on_time_n,%" PRId64 "\n", section, key, s->k,
            section, key, s->n);
    if (s->n > 0)
        fprintf(out, "%s,%s,on_time_share,%.6f\n%s,%s,on_time_low,%.6f\n%s,%s,on_time_high,%.6f\n",
                section, key, s->share, section, key, s->low, section, key, s->high);
}

int okno_report_weekly_csv(FILE *out, const okno_report_weekly *w)
{
    fprintf(out,
            "section,key,metric,value\nreport,all,org_id,%" PRId64 "\nreport,all,week,%s\n"
            "report,all,orgs,%d\n",
            w->org_id, w->week.label, (int)w->org_count);
    csv_counts(out, "total", "all", &w->week.c, &w->week.on_time);
    for (int i = 0; i < OKNO_REPORT_STAGES; i++) {
        const okno_report_stage *s = &w->stages[i];
        csv_counts(out, "stage", STAGES[i], &s->c, NULL);
        fprintf(out,
                "stage,%s,visits_timed,%" PRId64 "\nstage,%s,median_ms,%" PRId64
                "\nstage,%s,p90_ms,%" PRId64 "\nstage,%s,allotted_median_ms,%" PRId64 "\n",
                STAGES[i], s->visits_timed, STAGES[i], s->median_ms, STAGES[i], s->p90_ms,
                STAGES[i], s->allotted_median_ms);
    }
    for (int i = 0; i < OKNO_REPORT_ANSWER_TYPES; i++)
        csv_counts(out, "answer_type", ANSWERS[i], &w->answer_types[i], NULL);
    char key[24];
    for (size_t i = 0; i < w->category_count; i++) {
        snprintf(key, sizeof key, "%" PRId64, w->categories[i].key);
        csv_counts(out, "category", key, &w->categories[i].c, &w->categories[i].on_time);
    }
    for (size_t i = 0; i < w->org_row_count; i++) {
        snprintf(key, sizeof key, "%" PRId64, w->orgs[i].key);
        csv_counts(out, "org", key, &w->orgs[i].c, &w->orgs[i].on_time);
    }
    for (int i = 0; i < OKNO_REPORT_WEEKS; i++)
        csv_counts(out, "trend", w->trend[i].label, &w->trend[i].c, &w->trend[i].on_time);
    return ferror(out) ? OKNO_EIO : OKNO_OK;
}
