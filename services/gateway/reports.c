/* The curator's reports (SPEC IV) over HTTP: an org's daily lists (4.1) and weekly summary
 * (4.2), as `okno report` prints them (common/report), read under row-level security as the
 * okno_gateway role. For a curator or org_admin of the org or of an org above it; any other org
 * is the 404 of a missing one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/readmodel.h"
#include "okno/report.h"

#define FORMAT_BYTES 8
#define WEEK_BYTES   16
#define REPORT_ROLES (OKNO_ROLE_CURATOR | OKNO_ROLE_ORG_ADMIN)

typedef enum report_kind { REPORT_DAILY, REPORT_WEEKLY } report_kind;

struct report_call {
    report_kind kind;
    int64_t org_id;
    int64_t now_ms; /* daily: the moment of the lists */
    int32_t monday; /* weekly: the week's Monday (Moscow day number) */
    const char *format;
    char *body; /* the written report (open_memstream) */
    size_t len;
    char err[OKNO_REPORT_ERROR_BYTES];
};

struct report_format {
    report_kind kind;
    const char *name;
    const char *content_type;
};

/* The first of each kind is its default. */
static const struct report_format formats[] = {
    {REPORT_DAILY, "json", "application/json"},
    {REPORT_DAILY, "csv", "text/csv; charset=utf-8"},
    {REPORT_DAILY, "text", "text/plain; charset=utf-8"},
    {REPORT_WEEKLY, "html", "text/html; charset=utf-8"},
    {REPORT_WEEKLY, "csv", "text/csv; charset=utf-8"},
};

static const struct report_format *find_format(report_kind kind, const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (formats[i].kind == kind && (name == NULL || strcmp(formats[i].name, name) == 0))
            return &formats[i];
    return NULL;
}

/* Whether the caller's scope (okno.rm_caller: their org and, as curator or org_admin, the orgs
 * below it) holds the org: the same scope the policies apply. */
static int org_in_scope(PGconn *conn, int64_t org_id, char *err, size_t err_bytes)
{
    char org[24];
    snprintf(org, sizeof org, "%" PRId64, org_id);
    const char *params[1] = {org};
    PGresult *res = PQexecParams(conn,
                                 "select coalesce($1::bigint = any((okno.rm_caller()).scope),"
                                 " false)",
                                 1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) != PGRES_TUPLES_OK    ? OKNO_EPG
             : strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? OKNO_OK
                                                       : OKNO_ENOTFOUND;
    if (rc == OKNO_EPG)
        snprintf(err, err_bytes, "scope: %.*s", (int)strcspn(PQresultErrorMessage(res), "\n"),
                 PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

static int write_daily(PGconn *conn, struct report_call *c, FILE *out)
{
    okno_report_daily d;
    int rc =
        okno_report_daily_query(conn, "okno_rm", c->org_id, c->now_ms, &d, c->err, sizeof c->err);
    if (rc != OKNO_OK)
        return rc;
    rc = strcmp(c->format, "csv") == 0    ? okno_report_daily_csv(out, &d)
         : strcmp(c->format, "text") == 0 ? okno_report_daily_text(out, &d)
                                          : okno_report_daily_json(out, &d);
    okno_report_daily_free(&d);
    return rc;
}

static int write_weekly(PGconn *conn, struct report_call *c, FILE *out)
{
    okno_report_weekly w;
    int rc =
        okno_report_weekly_query(conn, "okno_rm", c->org_id, c->monday, &w, c->err, sizeof c->err);
    if (rc != OKNO_OK)
        return rc;
    rc = strcmp(c->format, "csv") == 0 ? okno_report_weekly_csv(out, &w)
                                       : okno_report_weekly_html(out, &w);
    okno_report_weekly_free(&w);
    return rc;
}

/* Inside the caller's read transaction: the scope, then the report into c->body. */
static int make_report(PGconn *conn, void *arg)
{
    struct report_call *c = arg;
    int rc = org_in_scope(conn, c->org_id, c->err, sizeof c->err);
    if (rc != OKNO_OK)
        return rc;
    FILE *out = open_memstream(&c->body, &c->len);
    if (out == NULL)
        return OKNO_ENOMEM;
    rc = c->kind == REPORT_DAILY ? write_daily(conn, c, out) : write_weekly(conn, c, out);
    if (fclose(out) != 0 && rc == OKNO_OK)
        rc = OKNO_ENOMEM;
    return rc;
}

static bool parse_org(const char *text, int64_t *org)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    *org = v;
    return text[0] >= '0' && text[0] <= '9' && *end == '\0' && v > 0 && v < INT64_MAX;
}

/* The query's arguments; false with res answered (400). */
static bool parse_query(const struct okno_http_request *req, struct report_call *c, char *format,
                        struct okno_http_response *res)
{
    const struct report_format *f = find_format(c->kind, NULL);
    if (okno_http_query(req, "format", format, FORMAT_BYTES) == 0)
        f = find_format(c->kind, format);
    if (f == NULL) {
        okno_http_respond_error(res, 400, "bad_field", "format", "format must be %s",
                                c->kind == REPORT_DAILY ? "json, csv or text" : "html or csv");
        return false;
    }
    c->format = f->name;
    char week[WEEK_BYTES];
    if (c->kind == REPORT_DAILY &&
        okno_http_query(req, "at", week, sizeof week) != OKNO_ENOTFOUND) {
        okno_http_respond_error(res, 400, "bad_field", "at",
                                "the gateway serves the lists as they stand now; a past moment "
                                "is `okno report daily --at` (a replay of the log)");
        return false;
    }
    if (c->kind == REPORT_WEEKLY && (okno_http_query(req, "week", week, sizeof week) != 0 ||
                                     okno_report_parse_week(week, &c->monday) != OKNO_OK)) {
        okno_http_respond_error(res, 400, "bad_field", "week",
                                "week must be an ISO week, YYYY-Www (Moscow time)");
        return false;
    }
    return true;
}

static void run_report(struct gateway *gw, const struct okno_http_request *req,
                       struct okno_http_response *res, report_kind kind)
{
    struct gw_caller who;
    if (!gw_authenticate(gw, NULL, req, &who, res))
        return;
    struct report_call c = {.kind = kind, .now_ms = gw_services_ms(gw)};
    if (who.applicant || !parse_org(req->params[0], &c.org_id)) {
        okno_http_respond_error(res, 404, "not_found", "org", "no such org");
        return;
    }
    if ((who.roles & REPORT_ROLES) == 0) {
        okno_http_respond_error(res, 403, "role_not_allowed", "X-Okno-Org",
                                "the reports are for curators and org admins");
        return;
    }
    char format[FORMAT_BYTES];
    if (!parse_query(req, &c, format, res))
        return;
    PGconn *conn = gw_pool_get(&gw->read_pool);
    if (conn == NULL) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "PostgreSQL is unreachable");
        return;
    }
    struct okno_rm_caller rm = {who.user_id, who.org_id, false};
    int rc = okno_rm_with_caller(conn, &rm, make_report, &c, c.err, sizeof c.err);
    gw_pool_put(&gw->read_pool, conn);
    if (rc == OKNO_OK)
        okno_http_respond_text(res, 200, find_format(kind, c.format)->content_type, c.body, c.len);
    else if (rc == OKNO_ENOTFOUND)
        okno_http_respond_error(res, 404, "not_found", "org", "no such org");
    else {
        okno_log_warn("gateway: a report failed", OKNO_LOG_STR("reason", c.err));
        okno_http_respond_error(res, 503, "unavailable", NULL, "cannot read the read models");
    }
    free(c.body);
}

static void gw_daily_lists(void *arg, const struct okno_http_request *req,
                           struct okno_http_response *res)
{
    run_report(arg, req, res, REPORT_DAILY);
}

static void gw_weekly_report(void *arg, const struct okno_http_request *req,
                             struct okno_http_response *res)
{
    run_report(arg, req, res, REPORT_WEEKLY);
}

const struct okno_http_route gw_report_routes[] = {
    {"GET", "/orgs/{org}/lists/daily", gw_daily_lists, NULL, true},
    {"GET", "/orgs/{org}/reports/weekly", gw_weekly_report, NULL, true},
    {NULL, NULL, NULL, NULL, false},
};
