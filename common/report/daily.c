/* The curator's daily lists (SPEC 4.1 a-c) from a read-model schema at a given moment. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "okno/error.h"
#include "okno/replay.h"
#include "okno/sla.h"

static const char *const LIST_NAMES[OKNO_REPORT_LIST_COUNT] = {"approaching", "exceeded",
                                                               "expired"};

const char *okno_report_list_name(okno_report_list list)
{
    return list >= 0 && list < OKNO_REPORT_LIST_COUNT ? LIST_NAMES[list] : "?";
}

void okno_report_daily_free(okno_report_daily *d)
{
    free(d->rows);
    d->rows = NULL;
    d->count = 0;
}

/* Every open message of the tree with each party it waits on (none: one row with no party). */
#define DAILY_SQL                                                                                  \
    OKNO__REPORT_TREE_CTE                                                                          \
    " select c.message_id::text, c.stage, c.holding_org, o.name, coalesce(i.task, ''),"            \
    " coalesce(i.role, ''), coalesce(i.user_id, 0), coalesce(c.category_id, 0),"                   \
    " (extract(epoch from c.stage_entered_at) * 1000)::bigint,"                                    \
    " c.stage_used_ms[case c.stage when 'moderation' then 1 when 'coordination' then 2"            \
    "   when 'execution' then 3 when 'agreement' then 4 when 'approval' then 5 end],"              \
    " c.stage_budget_ms, (extract(epoch from c.answer_deadline) * 1000)::bigint,"                  \
    " (extract(epoch from c.deadline_started_at) * 1000)::bigint"                                  \
    " from \"%s\".card c join tree t on t.org_id = c.holding_org"                                  \
    " join okno.orgs o on o.org_id = c.holding_org"                                                \
    " left join \"%s\".inbox i on i.message_id = c.message_id"                                     \
    " where c.outcome = 'open' and c.stage is not null"

enum {
    C_ID,
    C_STAGE,
    C_ORG,
    C_ORG_NAME,
    C_TASK,
    C_ROLE,
    C_USER,
    C_CATEGORY,
    C_ENTERED,
    C_USED_BEFORE,
    C_BUDGET,
    C_DEADLINE,
    C_DEADLINE_START,
};

static int row_cmp(const void *a, const void *b)
{
    const okno_report_daily_row *x = a, *y = b;
    if (x->list != y->list)
        return x->list < y->list ? -1 : 1;
    if (x->late_ms != y->late_ms)
        return x->late_ms > y->late_ms ? -1 : 1;
    int c = strcmp(x->message_id, y->message_id);
    if (c == 0)
        c = strcmp(x->role, y->role);
    if (c == 0 && x->user_id != y->user_id)
        c = x->user_id < y->user_id ? -1 : 1;
    return c;
}

static int32_t approaching_permille(PGconn *conn)
{
    PGresult *res = PQexec(conn, "select approaching_permille from okno.workflow_settings");
    int32_t p = 800;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        p = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return p;
}

static void fill(okno_report_daily_row *r, const PGresult *res, int i)
{
    snprintf(r->message_id, sizeof r->message_id, "%s", PQgetvalue(res, i, C_ID));
    snprintf(r->stage, sizeof r->stage, "%s", PQgetvalue(res, i, C_STAGE));
    r->org_id = okno__report_ll(res, i, C_ORG);
    snprintf(r->org_name, sizeof r->org_name, "%s", PQgetvalue(res, i, C_ORG_NAME));
    snprintf(r->task, sizeof r->task, "%s", PQgetvalue(res, i, C_TASK));
    snprintf(r->role, sizeof r->role, "%s", PQgetvalue(res, i, C_ROLE));
    r->user_id = okno__report_ll(res, i, C_USER);
    r->category_id = (int32_t)okno__report_ll(res, i, C_CATEGORY);
}

/* Which lists one row of DAILY_SQL belongs on at now_ms; appends them to d. */
static void classify(okno_report_daily *d, const PGresult *res, int i, int64_t now_ms)
{
    int64_t entered = okno__report_ll(res, i, C_ENTERED);
    int64_t used = okno__report_ll(res, i, C_USED_BEFORE) + (now_ms - entered);
    int64_t budget = okno__report_ll(res, i, C_BUDGET);
    const char *stage = PQgetvalue(res, i, C_STAGE);
    bool waits_long = strcmp(stage, "execution") == 0 || strcmp(stage, "agreement") == 0;
    okno_report_daily_row r = {0};
    fill(&r, res, i);
    r.since_ms = entered;
    r.used_ms = used;
    r.allotted_ms = budget;
    r.late_ms = used - budget;
    r.due_ms = now_ms - used + budget;
    if (used >= budget) {
        r.list = OKNO_REPORT_EXCEEDED;
        d->rows[d->count++] = r;
    } else if (waits_long && used >= okno_sla_share_ms(budget, d->approaching_permille)) {
        r.list = OKNO_REPORT_APPROACHING;
        d->rows[d->count++] = r;
    }
    if (PQgetisnull(res, i, C_DEADLINE))
        return;
    int64_t deadline = okno__report_ll(res, i, C_DEADLINE);
    if (now_ms < deadline)
        return;
    int64_t start = okno__report_ll(res, i, C_DEADLINE_START);
    r.list = OKNO_REPORT_EXPIRED;
    r.since_ms = start;
    r.used_ms = now_ms - start;
    r.allotted_ms = deadline - start;
    r.late_ms = now_ms - deadline;
    r.due_ms = deadline;
    d->rows[d->count++] = r;
}

int okno_report_daily_query(PGconn *conn, const char *schema, int64_t org_id, int64_t now_ms,
                            okno_report_daily *out, char *errbuf, size_t errbuf_bytes)
{
    memset(out, 0, sizeof *out);
    out->org_id = org_id;
    out->at_ms = now_ms;
    int rc = okno__report_check_schema(schema, errbuf, errbuf_bytes);
    char name[OKNO_REPORT_NAME_BYTES];
    if (rc == OKNO_OK)
        rc = okno__report_org_name(conn, org_id, name, sizeof name, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    out->approaching_permille = approaching_permille(conn);
    char sql[2048];
    snprintf(sql, sizeof sql, DAILY_SQL, schema, schema);
    char org[24];
    snprintf(org, sizeof org, "%" PRId64, org_id);
    const char *params[1] = {org};
    PGresult *res = okno__report_exec(conn, sql, 1, params, errbuf, errbuf_bytes);
    if (res == NULL)
        return OKNO_EPG;
    int n = PQntuples(res);
    out->rows = calloc((size_t)n * 2 + 1, sizeof *out->rows); /* at most two lists a row */
    if (out->rows == NULL) {
        PQclear(res);
        return okno_errorf(errbuf, errbuf_bytes, OKNO_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        classify(out, res, i, now_ms);
    PQclear(res);
    qsort(out->rows, out->count, sizeof *out->rows, row_cmp);
    for (size_t i = 0; i < out->count; i++)
        out->per_list[out->rows[i].list]++;
    return OKNO_OK;
}

int okno_report_daily_at(const char *admin_conninfo, int64_t org_id, int64_t at_ms, int jobs,
                         okno_report_daily *out, char *errbuf, size_t errbuf_bytes)
{
    memset(out, 0, sizeof *out);
    static atomic_uint calls; /* two calls at once in one process build apart */
    char schema[48];
    snprintf(schema, sizeof schema, "okno_rm_at_%ld_%u", (long)getpid(),
             atomic_fetch_add(&calls, 1));
    okno_replay_options o;
    okno_replay_options_init(&o);
    o.conninfo = admin_conninfo;
    o.schema = schema;
    o.as_of_ms = at_ms;
    o.jobs = jobs > 0 ? jobs : 2;
    okno_replay_result r;
    int rc = okno_replay_run(&o, &r);
    if (rc != OKNO_OK)
        return okno_errorf(errbuf, errbuf_bytes, rc, "replay as of %" PRId64 ": %s", at_ms,
                           r.error);
    PGconn *conn = PQconnectdb(admin_conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        rc = okno_errorf(errbuf, errbuf_bytes, OKNO_EPG, "%s", PQerrorMessage(conn));
    } else {
        rc = okno_report_daily_query(conn, schema, org_id, at_ms, out, errbuf, errbuf_bytes);
        char drop[96];
        snprintf(drop, sizeof drop, "drop schema if exists \"%s\" cascade", schema);
        PGresult *res = okno__report_exec(conn, drop, 0, NULL, rc == OKNO_OK ? errbuf : NULL,
                                          rc == OKNO_OK ? errbuf_bytes : 0);
        if (res == NULL && rc == OKNO_OK)
            rc = OKNO_EPG;
        PQclear(res);
    }
    PQfinish(conn);
    if (rc != OKNO_OK)
        okno_report_daily_free(out);
    return rc;
}

/* ---- writers ---- */

int okno_report_daily_text(FILE *out, const okno_report_daily *d)
{
    static const char *const TITLES[OKNO_REPORT_LIST_COUNT] = {
        "a) approaching the stage time (execution, agreement)", "b) over the stage time",
        "c) past the answer deadline"};
    char at[32];
    okno__report_moscow(d->at_ms, at, sizeof at);
    fprintf(out, "Daily lists for org %" PRId64 " and its subordinates at %s MSK\n", d->org_id, at);
    size_t i = 0;
    for (int l = 0; l < OKNO_REPORT_LIST_COUNT; l++) {
        fprintf(out, "\n%s: %zu\n", TITLES[l], d->per_list[l]);
        if (d->per_list[l] > 0)
            fprintf(out, "  %-36s %-12s %-28s %-14s %-10s %-12s %-12s %-12s %s\n", "message",
                    "stage", "org", "waits on", "task", "used", "allotted", "late", "due (MSK)");
        for (; i < d->count && d->rows[i].list == (okno_report_list)l; i++) {
            const okno_report_daily_row *r = &d->rows[i];
            char used[24], allot[24], late[24], due[32], who[48], org[40];
            okno__report_duration(r->used_ms, used, sizeof used);
            okno__report_duration(r->allotted_ms, allot, sizeof allot);
            okno__report_duration(r->late_ms, late, sizeof late);
            okno__report_moscow(r->due_ms, due, sizeof due);
            if (r->user_id != 0)
                snprintf(who, sizeof who, "%s %" PRId64, r->role, r->user_id);
            else
                snprintf(who, sizeof who, "%s (any)", r->role[0] ? r->role : "-");
            snprintf(org, sizeof org, "%" PRId64 " %.20s", r->org_id, r->org_name);
            fprintf(out, "  %-36s %-12s %-28s %-14s %-10s %-12s %-12s %-12s %s\n", r->message_id,
                    r->stage, org, who, r->task[0] ? r->task : "-", used, allot, late, due);
        }
    }
    return ferror(out) ? OKNO_EIO : OKNO_OK;
}

int okno_report_daily_json(FILE *out, const okno_report_daily *d)
{
    json_t *root = json_object(), *lists = json_object();
    char at[32];
    okno__report_utc(d->at_ms, at, sizeof at);
    json_object_set_new(root, "org_id", json_integer(d->org_id));
    json_object_set_new(root, "at_ms", json_integer(d->at_ms));
    json_object_set_new(root, "at", json_string(at));
    json_object_set_new(root, "approaching_permille", json_integer(d->approaching_permille));
    for (int l = 0; l < OKNO_REPORT_LIST_COUNT; l++)
        json_object_set_new(lists, LIST_NAMES[l], json_array());
    for (size_t i = 0; i < d->count; i++) {
        const okno_report_daily_row *r = &d->rows[i];
        char due[32];
        okno__report_utc(r->due_ms, due, sizeof due);
        json_t *o = json_pack(
            "{s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:i,s:I,s:I,s:I,s:I,s:I,s:s}", "message_id",
            r->message_id, "stage", r->stage, "org_id", (json_int_t)r->org_id, "org_name",
            r->org_name, "task", r->task, "role", r->role, "user_id", (json_int_t)r->user_id,
            "category_id", (int)r->category_id, "since_ms", (json_int_t)r->since_ms, "used_ms",
            (json_int_t)r->used_ms, "allotted_ms", (json_int_t)r->allotted_ms, "late_ms",
            (json_int_t)r->late_ms, "due_ms", (json_int_t)r->due_ms, "due", due);
        if (o == NULL) {
            json_decref(root);
            json_decref(lists);
            return OKNO_ENOMEM;
        }
        json_array_append_new(json_object_get(lists, LIST_NAMES[r->list]), o);
    }
    json_object_set_new(root, "lists", lists);
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? OKNO_OK : OKNO_EIO;
    fputc('\n', out);
    json_decref(root);
    return rc;
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int okno_report_daily_csv(FILE *out, const okno_report_daily *d)
{
    fputs("list,message_id,stage,org_id,org_name,task,role,user_id,category_id,since_ms,used_ms,"
          "allotted_ms,late_ms,due_ms,due_msk\n",
          out);
    for (size_t i = 0; i < d->count; i++) {
        const okno_report_daily_row *r = &d->rows[i];
        char due[32];
        okno__report_moscow(r->due_ms, due, sizeof due);
        fprintf(out, "%s,%s,%s,%" PRId64 ",", LIST_NAMES[r->list], r->message_id, r->stage,
                r->org_id);
        csv_field(out, r->org_name);
        fprintf(out,
                ",%s,%s,%" PRId64 ",%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                ",%s\n",
                r->task, r->role, r->user_id, (int)r->category_id, r->since_ms, r->used_ms,
                r->allotted_ms, r->late_ms, r->due_ms, due);
    }
    return ferror(out) ? OKNO_EIO : OKNO_OK;
}

void okno__report_csv_field(FILE *out, const char *s)
{
    csv_field(out, s);
}
