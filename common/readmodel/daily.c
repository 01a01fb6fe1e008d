/* The curator's daily lists (SPEC 4.1 a-c): queries over the cards as at a moment. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "okno/error.h"
#include "okno/projection.h"
#include "okno/readmodel.h"

/* The three lists by the card's times: a stage's "approaching" point is where the approaching
 * share of its allotment is used (the timer's signal time), i.e. its due time less the rest of
 * the allotment; column 0 names the list, the rest are the item. */
static const char DAILY_SQL[] =
    "with p as (select $2::int8 as at, okno.rm_approaching_permille() as permille),"
    " c as (select c.message_id, c.holding_org, c.stage, c.stage_budget_ms, c.stage_due_at,"
    " c.answer_deadline, (extract(epoch from c.stage_due_at) * 1000)::int8 as due_ms,"
    " (extract(epoch from c.answer_deadline) * 1000)::int8 as deadline_ms"
    " from %1$s.card c where c.stage is not null"
    " and c.holding_org = any(okno.rm_org_tree($1::int8)))"
    " select l.list, c.message_id, c.holding_org as org_id, c.stage,"
    " array(select i.user_id from %1$s.inbox i where i.message_id = c.message_id"
    " and i.user_id is not null order by i.user_id) as waits_on,"
    " c.stage_budget_ms, c.stage_budget_ms - (c.due_ms - p.at) as stage_used_ms,"
    " c.stage_due_at, c.answer_deadline, l.late_ms"
    " from c, p, lateral ("
    " select 'approaching_stage_time' as list, null::int8 as late_ms"
    " where c.stage in ('execution', 'agreement') and p.at < c.due_ms"
    " and p.at >= c.due_ms - c.stage_budget_ms * (1000 - p.permille) / 1000"
    " union all select 'over_stage_time', p.at - c.due_ms"
    " where c.stage in ('execution', 'agreement') and p.at >= c.due_ms"
    " union all select 'past_answer_deadline', p.at - c.deadline_ms"
    " where p.at >= c.deadline_ms) l"
    " order by c.holding_org, c.message_id";

static const char *const LISTS[] = {"approaching_stage_time", "over_stage_time",
                                    "past_answer_deadline"};
#define LIST_COUNT (sizeof LISTS / sizeof *LISTS)

/* The org and moment the lists are for. */
typedef struct daily_for {
    int64_t org_id;
    int64_t at_ms;
} daily_for;

/* {"org_id", "at", and the three lists} from the rows. NULL when out of memory. */
static json_t *lists_json(const PGresult *res, const void *arg)
{
    int64_t org_id = ((const daily_for *)arg)->org_id, at_ms = ((const daily_for *)arg)->at_ms;
    char at[OKNO_RM_TIME_BYTES];
    okno_rm_time_iso(at_ms, at);
    json_t *o = json_pack("{s:I,s:s}", "org_id", (json_int_t)org_id, "at", at);
    json_t *lists[LIST_COUNT];
    for (size_t l = 0; l < LIST_COUNT; l++) {
        lists[l] = json_array();
        if (o != NULL && json_object_set_new(o, LISTS[l], lists[l]) != 0)
            lists[l] = NULL;
        if (lists[l] == NULL) {
            json_decref(o);
            return NULL;
        }
    }
    for (int i = 0; i < PQntuples(res); i++) {
        size_t l = 0;
        while (l < LIST_COUNT && strcmp(PQgetvalue(res, i, 0), LISTS[l]) != 0)
            l++;
        json_t *item = l < LIST_COUNT ? okno__rm_row_json(res, i, PQnfields(res)) : NULL;
        if (item != NULL)
            json_object_del(item, "list");
        if (item == NULL || json_array_append_new(lists[l], item) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int okno_rm_daily(PGconn *conn, const struct okno_rm_caller *who, const char *schema,
                  int64_t org_id, int64_t at_ms, json_t **out, char *errbuf, size_t errbuf_bytes)
{
    *out = NULL;
    if (org_id <= 0) {
        snprintf(errbuf, errbuf_bytes, "the daily lists need an org id > 0");
        return OKNO_EINVAL;
    }
    schema = schema != NULL ? schema : "okno_rm";
    if (!okno_proj_schema_valid(schema)) {
        snprintf(errbuf, errbuf_bytes, "\"%.64s\" is not a read-model schema name", schema);
        return OKNO_EINVAL;
    }
    /* The schema is an identifier checked above, never a caller's value: the only text built. */
    char sql[sizeof DAILY_SQL + 2 * OKNO_PROJ_SCHEMA_BYTES];
    snprintf(sql, sizeof sql, DAILY_SQL, schema);
    char org[24], at[24];
    snprintf(org, sizeof org, "%" PRId64, org_id);
    snprintf(at, sizeof at, "%" PRId64, at_ms);
    const char *params[2] = {org, at};
    const daily_for lists_for = {org_id, at_ms};
    return okno__rm_run(conn, who, "daily lists", sql, 2, params, lists_json, &lists_for, out,
                        errbuf, errbuf_bytes);
}
