/* The calls on one message: its card, the applicant's timeline, the verified history. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/readmodel.h"
#include "okno/uuid.h"
#include "okno/workflow.h"
#include "okno/pgbin.h"

static const char CARD_SQL[] =
    "select c.message_id, c.seq, c.status, c.stage, c.outcome, c.holding_org, c.upstream_orgs,"
    " c.applicant_id, c.channel, c.category_id, c.subcategory_id, c.total_days, c.submitted_at,"
    " c.message_text as text, c.executor, c.in_work, c.review_subject, c.agreers,"
    " c.agreer_decisions, c.approver, c.redirect_org, c.answer_type, c.answer_text,"
    " c.answer_postponed_until, c.interim_sent, c.postponed_until, c.answer_deadline,"
    " c.deadline_started_at, c.stage_entered_at, c.stage_budget_ms, c.stage_due_at,"
    " (extract(epoch from c.stage_due_at) * 1000)::int8 - $2::int8 as stage_time_left_ms,"
    " case when c.stage is not null then"
    " (extract(epoch from c.answer_deadline) * 1000)::int8 - $2::int8 end as answer_time_left_ms,"
    " c.stage_time_approaching, c.stage_time_exceeded, c.answer_deadline_approaching,"
    " c.answer_deadline_expired, c.postponed_date_reached, c.stage_used_ms, c.stage_visits,"
    " c.applicant_status, c.applicant_status_text, c.expected_answer_at, c.closed_at,"
    " c.last_event_type, c.last_event_at,"
    " not coalesce(c.stage is not null and"
    " c.holding_org = nullif(current_setting('okno.caller_org', true), '')::int8, false)"
    " as read_only"
    " from okno_rm.card c where c.message_id = $1::uuid";

static const char VISIBLE_SQL[] = "select 1 from okno_rm.card c where c.message_id = $1::uuid";

static const char VISITS_SQL[] =
    "select v.visit_no, v.stage, v.stage_visit, v.org_id, v.entered_at, v.entered_by,"
    " v.entered_event, v.assignee, v.left_at, v.left_by, v.left_event, v.duration_ms, v.exceeded"
    " from okno_rm.stage_visits v where v.message_id = $1::uuid order by v.visit_no";

static const char TIMELINE_CARD_SQL[] =
    "select c.message_id, c.applicant_status as status, c.applicant_status_text as status_text,"
    " (c.expected_answer_at at time zone 'Europe/Moscow')::date as expected_answer_date,"
    " c.submitted_at, c.closed_at from okno_rm.card c where c.message_id = $1::uuid";

static const char TIMELINE_SQL[] =
    "select t.seq, t.at, t.status, t.status_text, t.detail from okno_rm.applicant_timeline t"
    " where t.message_id = $1::uuid order by t.seq";

static const char EVENTS_SQL[] =
    "select seq, event_type, body, prev_hash, hash, position from okno.event_log"
    " where message_id = $1::uuid order by seq";

/* A result's rows as an array of objects. */
static json_t *rows_json(const PGresult *res)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < PQntuples(res); i++) {
        json_t *row = okno__rm_row_json(res, i, PQnfields(res));
        if (row == NULL || json_array_append_new(a, row) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static const char SUBMITTED_SQL[] =
    "select body from okno.event_log where message_id = $1::uuid and seq = 1";

/* The files attached at submission, from the message_submitted event's body (res: SUBMITTED_SQL
 * in binary; a reference never changes, so the projection keeps no copy), set on obj. */
static int set_attachments(const PGresult *res, json_t *obj, char *errbuf, size_t errbuf_bytes)
{
    json_t *files = NULL;
    okno_event e;
    okno_avro_error err = {0};
    if (PQntuples(res) == 1 &&
        okno_avro_decode_topic(OKNO_AVRO_EVENTS, (const uint8_t *)PQgetvalue(res, 0, 0),
                               (size_t)PQgetlength(res, 0, 0), &e, &err) != 0)
        return okno_errorf(errbuf, errbuf_bytes, OKNO_EDECODE,
                           "the submitted event does not decode: %s", err.reason);
    /* No row: not visible, or gone; the card said what the caller may see. */
    files = PQntuples(res) == 1 ? okno_rm_attachments_json(&e) : json_array();
    if (files == NULL || json_object_set_new(obj, "attachments", files) != 0)
        return OKNO_ENOMEM;
    return OKNO_OK;
}

/* A message's object (head_sql's one row, parameters id and extra) with the rows of list_sql
 * under key and, with_files, its attachments, all in the call's transaction, in one round trip.
 * OKNO_ENOTFOUND without a head row (the list is then empty too: the same rule hides both). */
static int message_call(PGconn *conn, const struct okno_rm_caller *who, const uint8_t id_bytes[16],
                        const char *extra, const char *head_sql, const char *list_sql,
                        const char *key, bool with_files, json_t **out, char *errbuf,
                        size_t errbuf_bytes)
{
    *out = NULL;
    char id[OKNO_UUID_TEXT_BYTES];
    okno_eventlog_uuid_text(id_bytes, id);
    const char *params[2] = {id, extra};
    const struct okno__rm_stmt stmts[3] = {{key, head_sql, extra != NULL ? 2 : 1, params, false},
                                           {key, list_sql, 1, params, false},
                                           {"attachments", SUBMITTED_SQL, 1, params, true}};
    int count = with_files ? 3 : 2;
    PGresult *res[3] = {NULL, NULL, NULL};
    int rc = okno__rm_pipeline(conn, who, stmts, count, res, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    rc = OKNO_ENOTFOUND;
    if (PQntuples(res[0]) == 1) {
        *out = okno__rm_row_json(res[0], 0, PQnfields(res[0]));
        json_t *rows = *out != NULL ? rows_json(res[1]) : NULL;
        rc = rows != NULL && json_object_set_new(*out, key, rows) == 0 ? OKNO_OK : OKNO_ENOMEM;
        if (rc == OKNO_OK && with_files)
            rc = set_attachments(res[2], *out, errbuf, errbuf_bytes);
    } else {
        snprintf(errbuf, errbuf_bytes, "no such message");
    }
    for (int i = 0; i < count; i++)
        PQclear(res[i]);
    if (rc != OKNO_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int okno_rm_card(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                 int64_t now_ms, json_t **out, char *errbuf, size_t errbuf_bytes)
{
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    return message_call(conn, who, message_id, now, CARD_SQL, VISITS_SQL, "visits", true, out,
                        errbuf, errbuf_bytes);
}

int okno_rm_visible(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                    char *errbuf, size_t errbuf_bytes)
{
    char id[OKNO_UUID_TEXT_BYTES];
    okno_eventlog_uuid_text(message_id, id);
    const char *params[1] = {id};
    const struct okno__rm_stmt stmt = {"visible", VISIBLE_SQL, 1, params, false};
    PGresult *res = NULL;
    int rc = okno__rm_pipeline(conn, who, &stmt, 1, &res, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    rc = PQntuples(res) == 1 ? OKNO_OK : OKNO_ENOTFOUND;
    if (rc == OKNO_ENOTFOUND)
        snprintf(errbuf, errbuf_bytes, "no such message");
    PQclear(res);
    return rc;
}

static const char VISIBLE_MANY_SQL[] =
    "select c.message_id::text from okno_rm.card c where c.message_id = any($1::uuid[])";

_Static_assert(OKNO_RM_VISIBLE_CALLERS <= OKNO__RM_PIPELINE_MAX, "a pipeline per round trip");

static bool same_caller(const struct okno_rm_caller *a, const struct okno_rm_caller *b)
{
    return a->user_id == b->user_id && a->org_id == b->org_id && a->applicant == b->applicant;
}

/* Marks visible the pairs of group g (first pair: first) whose id is among res's rows. */
static void mark_visible(const PGresult *res, const struct okno_rm_caller *who,
                         const uint8_t (*ids)[16], int n, int first, bool *visible)
{
    for (int row = 0; row < PQntuples(res); row++) {
        okno_uuid id;
        if (okno_uuid_parse(PQgetvalue(res, row, 0), (size_t)PQgetlength(res, row, 0), &id) != 0)
            continue;
        for (int i = first; i < n; i++)
            if (same_caller(&who[i], &who[first]) && memcmp(ids[i], id.bytes, 16) == 0)
                visible[i] = true;
    }
}

/* One round trip for the groups whose first pairs are firsts[0..count). */
static int visible_groups(PGconn *conn, const struct okno_rm_caller *who, const uint8_t (*ids)[16],
                          int n, const int *firsts, int count, bool *visible, char *errbuf,
                          size_t errbuf_bytes)
{
    struct okno__rm_stmt stmts[OKNO_RM_VISIBLE_CALLERS] = {0};
    const struct okno_rm_caller *as[OKNO_RM_VISIBLE_CALLERS] = {0};
    char *arrays[OKNO_RM_VISIBLE_CALLERS] = {0};
    const char *params[OKNO_RM_VISIBLE_CALLERS][1];
    PGresult *res[OKNO_RM_VISIBLE_CALLERS];
    int rc = OKNO_OK;
    for (int g = 0; g < count && rc == OKNO_OK; g++) {
        char *a = malloc((size_t)n * OKNO_UUID_TEXT_BYTES + 3), *end = a;
        if (a == NULL) {
            rc = OKNO_ENOMEM;
            break;
        }
        *end++ = '{';
        for (int i = firsts[g]; i < n; i++) {
            if (!same_caller(&who[i], &who[firsts[g]]))
                continue;
            if (end[-1] != '{')
                *end++ = ',';
            okno_eventlog_uuid_text(ids[i], end);
            end += OKNO_UUID_TEXT_BYTES - 1;
        }
        strcpy(end, "}");
        arrays[g] = a;
        params[g][0] = a;
        stmts[g] = (struct okno__rm_stmt){"visible_many", VISIBLE_MANY_SQL, 1, params[g], false};
        as[g] = &who[firsts[g]];
    }
    if (rc == OKNO_OK)
        rc = okno__rm_pipeline_as(conn, NULL, as, stmts, count, res, errbuf, errbuf_bytes);
    for (int g = 0; g < count; g++) {
        if (rc == OKNO_OK) {
            mark_visible(res[g], who, ids, n, firsts[g], visible);
            PQclear(res[g]);
        }
        free(arrays[g]);
    }
    return rc;
}

int okno_rm_visible_many(PGconn *conn, const struct okno_rm_caller *who, const uint8_t (*ids)[16],
                         int n, bool *visible, char *errbuf, size_t errbuf_bytes)
{
    int firsts[OKNO_RM_VISIBLE_CALLERS], count = 0, rc = OKNO_OK;
    for (int i = 0; i < n; i++)
        visible[i] = false;
    for (int i = 0; i < n && rc == OKNO_OK; i++) {
        bool seen = false; /* a caller met before i leads an earlier group */
        for (int j = 0; j < i && !seen; j++)
            seen = same_caller(&who[j], &who[i]);
        if (seen)
            continue;
        firsts[count++] = i;
        if (count == OKNO_RM_VISIBLE_CALLERS) {
            rc = visible_groups(conn, who, ids, n, firsts, count, visible, errbuf, errbuf_bytes);
            count = 0;
        }
    }
    if (rc == OKNO_OK && count > 0)
        rc = visible_groups(conn, who, ids, n, firsts, count, visible, errbuf, errbuf_bytes);
    return rc;
}

int okno_rm_timeline(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                     json_t **out, char *errbuf, size_t errbuf_bytes)
{
    return message_call(conn, who, message_id, NULL, TIMELINE_CARD_SQL, TIMELINE_SQL, "entries",
                        false, out, errbuf, errbuf_bytes);
}

/* ---- the history ------------------------------------------------------------------------- */

static json_t *json_str(okno_str s)
{
    return s.len > 0 ? json_stringn(s.ptr, s.len) : json_null();
}

static json_t *json_time(int64_t ms)
{
    char t[OKNO_RM_TIME_BYTES];
    if (ms == 0)
        return json_null();
    okno_rm_time_iso(ms, t);
    return json_string(t);
}

static json_t *json_id(int64_t id)
{
    return id != 0 ? json_integer(id) : json_null();
}

json_t *okno_rm_attachments_json(const okno_event *e)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a != NULL && i < e->attachments_count && i < OKNO_ATTACHMENTS_MAX; i++) {
        const okno_attachment *f = &e->attachments[i];
        json_t *o =
            json_pack("{s:s%,s:s%,s:s%,s:I,s:s%}", "id", f->id.ptr, (size_t)f->id.len, "name",
                      f->name.ptr, (size_t)f->name.len, "media_type", f->media_type.ptr,
                      (size_t)f->media_type.len, "size_bytes", (json_int_t)f->size_bytes, "sha256",
                      f->sha256.ptr, (size_t)f->sha256.len);
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

json_t *okno_rm_event_json(const okno_event *e, int64_t position, const char *hash_hex)
{
    json_t *agreers = json_array();
    for (uint32_t i = 0; agreers != NULL && i < e->agreers_count; i++)
        json_array_append_new(agreers, json_integer(e->agreers[i]));
    json_t *o = json_pack(
        "{s:I,s:s,s:o,s:I,s:I,s:s,s:s,s:I,s:s,s:I,s:s}", "seq", (json_int_t)e->seq, "type",
        okno_event_type_name(e->type), "at", json_time(e->at_ms), "actor_user",
        (json_int_t)e->actor_user_id, "actor_org", (json_int_t)e->actor_org_id, "stage_before",
        okno_stage_name(e->stage_before), "stage_after", okno_stage_name(e->stage_after),
        "holding_org", (json_int_t)e->holding_org_after, "outcome",
        okno_outcome_name(e->outcome_after), "position", (json_int_t)position, "hash", hash_hex);
    if (o == NULL || agreers == NULL) {
        json_decref(o);
        json_decref(agreers);
        return NULL;
    }
    json_object_set_new(o, "reason", json_str(e->reason));
    json_object_set_new(o, "comment", json_str(e->comment));
    json_object_set_new(o, "text", json_str(e->text));
    json_object_set_new(o, "target_org", json_id(e->target_org_id));
    json_object_set_new(o, "target_user", json_id(e->target_user_id));
    json_object_set_new(o, "approver", json_id(e->approver_user_id));
    json_object_set_new(o, "agreers", agreers);
    json_object_set_new(o, "answer_type",
                        e->answer_type ? json_string(okno_answer_type_name(e->answer_type))
                                       : json_null());
    json_object_set_new(o, "interim", json_boolean(e->interim));
    json_object_set_new(o, "postponed_until", json_time(e->postponed_until_ms));
    json_object_set_new(o, "answer_deadline", json_time(e->answer_deadline_ms));
    json_object_set_new(o, "requested_at", json_time(e->requested_at_ms));
    json_object_set_new(o, "applicant_email", json_str(e->applicant_email));
    json_t *files = okno_rm_attachments_json(e);
    if (files == NULL || json_object_set_new(o, "attachments", files) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The first mismatch of the walk, for the error. */
typedef struct first_break {
    int32_t seq;
    char what[256];
} first_break;

static void on_break(void *ctx, int32_t seq, const char *what)
{
    first_break *f = ctx;
    if (f->what[0] == '\0') {
        f->seq = seq;
        snprintf(f->what, sizeof f->what, "%s", what);
    }
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Walks the rows (binary), verifying and decoding each into events. */
static int walk(const PGresult *res, const uint8_t message_id[16], okno_eventlog_chain *chain,
                json_t *events)
{
    for (int i = 0; i < PQntuples(res); i++) {
        okno_eventlog_row row = {
            .message_id = (const okno_uuid *)message_id, /* same 16 bytes */
            .seq = okno_pgbin_get_i32(PQgetvalue(res, i, 0)),
            .event_type = PQgetvalue(res, i, 1),
            .body = (const uint8_t *)PQgetvalue(res, i, 2),
            .body_bytes = (size_t)PQgetlength(res, i, 2),
            .prev_hash = (const uint8_t *)PQgetvalue(res, i, 3),
            .hash = (const uint8_t *)PQgetvalue(res, i, 4),
        };
        if (PQgetlength(res, i, 3) != OKNO_EVENTLOG_HASH_BYTES ||
            PQgetlength(res, i, 4) != OKNO_EVENTLOG_HASH_BYTES)
            return OKNO_EDECODE; /* the table's checks make this impossible */
        okno_event e;
        if (!okno_eventlog_chain_step(chain, &row, &e))
            continue;
        char h[2 * OKNO_EVENTLOG_HASH_BYTES + 1];
        hex(row.hash, OKNO_EVENTLOG_HASH_BYTES, h);
        json_t *o = okno_rm_event_json(&e, okno_pgbin_get_i64(PQgetvalue(res, i, 5)), h);
        if (o == NULL || json_array_append_new(events, o) != 0)
            return OKNO_ENOMEM;
    }
    return OKNO_OK;
}

int okno_rm_history(PGconn *conn, const struct okno_rm_caller *who, const uint8_t message_id[16],
                    json_t **out, char *errbuf, size_t errbuf_bytes)
{
    *out = NULL;
    int rc = okno__rm_begin(conn, who, errbuf, errbuf_bytes);
    if (rc != OKNO_OK)
        return rc;
    char id[OKNO_UUID_TEXT_BYTES];
    okno_eventlog_uuid_text(message_id, id);
    const char *params[1] = {id};
    PGresult *res =
        okno__rm_query(conn, "history", EVENTS_SQL, 1, params, true, errbuf, errbuf_bytes);
    if (res == NULL)
        return okno__rm_end(conn, OKNO_EPG, errbuf, errbuf_bytes);
    int n = PQntuples(res);
    first_break first = {0};
    okno_eventlog_chain chain;
    okno_eventlog_chain_init(&chain, on_break, &first);
    json_t *events = json_array();
    if (n == 0) {
        snprintf(errbuf, errbuf_bytes, "no such message");
        rc = OKNO_ENOTFOUND;
    } else {
        rc = events != NULL ? walk(res, message_id, &chain, events) : OKNO_ENOMEM;
    }
    PQclear(res);
    if (rc == OKNO_OK)
        rc = okno_eventlog_chain_head(&chain, conn, message_id, n, errbuf, errbuf_bytes);
    if (rc == OKNO_OK && chain.mismatches > 0) {
        snprintf(errbuf, errbuf_bytes, "hash chain broken at seq %d: %s", first.seq, first.what);
        rc = OKNO_EDECODE;
    }
    if (rc == OKNO_OK) {
        *out = json_pack("{s:s,s:o,s:b}", "message_id", id, "events", events, "chain_verified", 1);
        events = NULL;
        rc = *out != NULL ? OKNO_OK : OKNO_ENOMEM;
    }
    json_decref(events);
    rc = okno__rm_end(conn, rc, errbuf, errbuf_bytes);
    if (rc != OKNO_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}
