/* The periodic notices: the curator's daily digest (SPEC 4.1) — once a day, from a configured
 * Moscow hour, each curator of an org gets the org's three lists — and the weekly summary (4.2)
 * to each org's head for the week before, both from common/report over the read models and
 * recorded once per (recipient, "digest:<org>:<day>" / "weekly:<org>:<week>"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "notice.h"
#include "notifier.h"
#include "okno/error.h"
#include "okno/report.h"
#include "okno/uuid.h"

#define DAY_MS    INT64_C(86400000)
#define HOUR_MS   INT64_C(3600000)
#define MOSCOW_MS (3 * HOUR_MS)

static const char CURATORS_SQL[] =
    "select org_id, array_to_string(array_agg(user_id order by user_id), ',') from okno.grants"
    " where 'curator' = any(roles) group by org_id order by org_id";
static const char DIGEST_SQL[] =
    "insert into okno.notifications (notification_id, recipient_user_id, cause, kind, email,"
    " subject, body, event_at, mail_state, attachment_name, attachment_type, attachment)"
    " select $1::uuid, r.id, $3, $7, p.email, $4, $5, to_timestamp($6::int8 / 1000.0),"
    " case when p.email is null then 'no_address' else 'pending' end, $8, $9, $10"
    " from (select $2::int8 as id) r left join okno.people p on p.user_id = r.id"
    " on conflict (recipient_user_id, cause) do nothing";

/* A file kept with the notification and mailed with it (NULL fields: none). */
typedef struct attachment {
    const char *name, *type, *data;
} attachment;

static int record(okno_notifier *n, const char *kind, const char *recipient, const char *cause,
                  const char *subject, const char *body, const attachment *file, int64_t now_ms,
                  size_t *made)
{
    okno_uuid id;
    okno_notifier_notification_id(strtoll(recipient, NULL, 10), cause, &id);
    char nid[OKNO_UUID_TEXT_BYTES], at[24];
    okno_uuid_format(&id, nid);
    snprintf(at, sizeof at, "%" PRId64, now_ms);
    const char *params[10] = {nid, recipient, cause,      subject,    body,
                              at,  kind,      file->name, file->type, file->data};
    PGresult *res = PQexecParams(n->tail.conn, DIGEST_SQL, 10, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(n->error, sizeof n->error, "digest: %s", PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EPG;
    }
    *made += strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return OKNO_OK;
}

/* One org's lists as the digest's subject and body (malloc'd body). */
static int compose(okno_notifier *n, int64_t org, int64_t now_ms, char subject[256], char **body)
{
    okno_report_daily d = {0};
    char err[OKNO_REPORT_ERROR_BYTES];
    int rc = okno_report_daily_query(n->tail.conn, n->cfg.digest_schema, org, now_ms, &d, err,
                                     sizeof err);
    if (rc != OKNO_OK) {
        snprintf(n->error, sizeof n->error, "digest of org %" PRId64 ": %.400s", org, err);
        return rc;
    }
    char day[OKNO_NOTICE_TIME_BYTES];
    okno_notice_format_time(now_ms, day);
    snprintf(subject, 256,
             "Ежедневная сводка по срокам на %.10s: приближается %zu, превышено %zu, "
             "просрочено %zu",
             day, d.per_list[OKNO_REPORT_APPROACHING], d.per_list[OKNO_REPORT_EXCEEDED],
             d.per_list[OKNO_REPORT_EXPIRED]);
    size_t len = 0;
    FILE *f = open_memstream(body, &len);
    if (f == NULL) {
        okno_report_daily_free(&d);
        return OKNO_ENOMEM;
    }
    fprintf(f,
            "Списки организации и подведомственных на %s (п. 4.1 регламента): а) сообщения, у "
            "которых подходит к концу рекомендуемое время этапа; б) превысившие его; в) с "
            "истёкшим сроком ответа.\n\n",
            day);
    rc = okno_report_daily_text(f, &d);
    fclose(f);
    okno_report_daily_free(&d);
    return rc;
}

int okno_notifier_step_digest(okno_notifier *n, int64_t now_ms, size_t *made)
{
    *made = 0;
    int64_t local = now_ms + MOSCOW_MS, day = local / DAY_MS;
    if (!n->cfg.digest || (local % DAY_MS) / HOUR_MS < n->cfg.digest_hour ||
        day == n->digest_day_done || n->tail.conn == NULL || !n->tail.leader)
        return OKNO_OK;
    PGresult *orgs = PQexec(n->tail.conn, CURATORS_SQL);
    if (PQresultStatus(orgs) != PGRES_TUPLES_OK) {
        snprintf(n->error, sizeof n->error, "curators: %s", PQresultErrorMessage(orgs));
        PQclear(orgs);
        return OKNO_EPG;
    }
    char date[OKNO_NOTICE_TIME_BYTES];
    okno_notice_format_time(now_ms, date); /* dd.mm.yyyy ...: the day in the cause */
    int rc = OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(orgs); i++) {
        int64_t org = strtoll(PQgetvalue(orgs, i, 0), NULL, 10);
        char subject[256], cause[OKNO_NOTICE_CAUSE_BYTES], *body = NULL;
        snprintf(cause, sizeof cause, "digest:%" PRId64 ":%.10s", org, date);
        rc = compose(n, org, now_ms, subject, &body);
        char *curators = strdup(PQgetvalue(orgs, i, 1)), *save = NULL;
        for (char *c = strtok_r(curators, ",", &save); rc == OKNO_OK && c != NULL;
             c = strtok_r(NULL, ",", &save))
            rc = record(n, "daily_digest", c, cause, subject, body, &(attachment){0}, now_ms, made);
        free(curators);
        free(body);
    }
    PQclear(orgs);
    if (rc == OKNO_OK)
        n->digest_day_done = day; /* a restart tries again; the unique key drops the repeats */
    return rc;
}

static const char HEADS_SQL[] =
    "select org_id, head_user_id from okno.orgs where head_user_id is not null order by org_id";

/* One org's summary of the week starting on Moscow day monday: its numbers as CSV in the body,
 * its HTML page (okno_report_weekly_html) in *html, both malloc'd. */
static int compose_weekly(okno_notifier *n, int64_t org, int32_t monday, const char *label,
                          char subject[256], char **body, char **html)
{
    okno_report_weekly w = {0};
    char err[OKNO_REPORT_ERROR_BYTES];
    int rc = okno_report_weekly_query(n->tail.conn, n->cfg.digest_schema, org, monday, &w, err,
                                      sizeof err);
    if (rc != OKNO_OK) {
        snprintf(n->error, sizeof n->error, "weekly report of org %" PRId64 ": %.400s", org, err);
        return rc;
    }
    snprintf(subject, 256, "Еженедельный отчёт за %s: %.80s", label, w.org_name);
    size_t len = 0, html_len = 0;
    FILE *f = open_memstream(body, &len), *page = open_memstream(html, &html_len);
    if (f == NULL || page == NULL) {
        if (f != NULL)
            fclose(f);
        okno_report_weekly_free(&w);
        return OKNO_ENOMEM;
    }
    fprintf(f,
            "Сводный отчёт организации «%s» и подведомственных (%d) за неделю %s "
            "(п. 4.2 регламента): количество по этапам, типам ответов, категориям и "
            "организациям, просрочки, время рассмотрения; во вложении — страница отчёта с "
            "графиками (HTML, открывается в браузере и печатается). Все показатели, по строке на "
            "показатель (раздел, ключ, показатель, значение):\n\n",
            w.org_name, w.org_count, label);
    rc = okno_report_weekly_csv(f, &w);
    if (rc == OKNO_OK)
        rc = okno_report_weekly_html(page, &w);
    fclose(f);
    fclose(page);
    okno_report_weekly_free(&w);
    return rc;
}

int okno_notifier_step_weekly(okno_notifier *n, int64_t now_ms, size_t *made)
{
    *made = 0;
    int64_t local = now_ms + MOSCOW_MS, day = local / DAY_MS;
    if (!n->cfg.weekly || (local % DAY_MS) / HOUR_MS < n->cfg.digest_hour ||
        day == n->weekly_day_done || n->tail.conn == NULL || !n->tail.leader)
        return OKNO_OK;
    /* Day 0 (1970-01-01) was a Thursday, so day - (day + 3) % 7 is this week's Monday. */
    int32_t monday = (int32_t)(day - (day + 3) % 7 - 7); /* the week before this one */
    char label[16];
    okno_report_week_label(monday, label, sizeof label);
    PGresult *heads = PQexec(n->tail.conn, HEADS_SQL);
    if (PQresultStatus(heads) != PGRES_TUPLES_OK) {
        snprintf(n->error, sizeof n->error, "org heads: %s", PQresultErrorMessage(heads));
        PQclear(heads);
        return OKNO_EPG;
    }
    int rc = OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(heads); i++) {
        int64_t org = strtoll(PQgetvalue(heads, i, 0), NULL, 10);
        char subject[256], cause[OKNO_NOTICE_CAUSE_BYTES], name[64], *body = NULL, *html = NULL;
        snprintf(cause, sizeof cause, "weekly:%" PRId64 ":%s", org, label);
        snprintf(name, sizeof name, "weekly-%" PRId64 "-%s.html", org, label);
        rc = compose_weekly(n, org, monday, label, subject, &body, &html);
        attachment page = {name, "text/html; charset=UTF-8", html};
        if (rc == OKNO_OK)
            rc = record(n, "weekly_report", PQgetvalue(heads, i, 1), cause, subject, body, &page,
                        now_ms, made);
        free(body);
        free(html);
    }
    PQclear(heads);
    if (rc == OKNO_OK)
        n->weekly_day_done = day;
    return rc;
}
