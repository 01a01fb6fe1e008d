/* Writing projected rows to PostgreSQL. Rows travel by binary COPY in both modes:
 * - bulk (replay into a fresh schema): straight into the tables, each row exactly once;
 * - live (the projector, in its batch transaction): cards, visits and statistics into
 *   temporary staging tables, then a few set-based statements merge them (after a fence check
 *   on every card's applied seq); timeline and inbox rows go straight into their tables.
 * So a batch costs a handful of round trips whatever its size, and no statement per row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/projection.h"
#include "okno/sla.h"
#include "okno/pgbin.h"
#include "projection/internal.h"

/* Longest statement built here, bytes. */
#define SQL_BYTES_MAX 16384
/* Longest status text, bytes (Russian: two bytes a letter). */
#define STATUS_TEXT_BYTES 256

static const char *const CARD_COLUMNS[] = {"message_id",
                                           "seq",
                                           "status",
                                           "stage",
                                           "outcome",
                                           "holding_org",
                                           "upstream_orgs",
                                           "applicant_id",
                                           "channel",
                                           "category_id",
                                           "subcategory_id",
                                           "total_days",
                                           "submitted_at",
                                           "message_text",
                                           "executor",
                                           "in_work",
                                           "review_subject",
                                           "agreers",
                                           "agreer_decisions",
                                           "approver",
                                           "redirect_org",
                                           "answer_type",
                                           "answer_text",
                                           "answer_postponed_until",
                                           "interim_sent",
                                           "postponed_until",
                                           "answer_deadline",
                                           "deadline_started_at",
                                           "stage_entered_at",
                                           "stage_budget_ms",
                                           "stage_due_at",
                                           "stage_time_approaching",
                                           "stage_time_exceeded",
                                           "answer_deadline_approaching",
                                           "answer_deadline_expired",
                                           "postponed_date_reached",
                                           "stage_used_ms",
                                           "stage_visits",
                                           "applicant_status",
                                           "applicant_status_text",
                                           "expected_answer_at",
                                           "closed_at",
                                           "last_event_type",
                                           "last_event_at",
                                           "proj_state",
                                           NULL};
/* Fields of a NULL-terminated column list: counted by the compiler, never by hand. */
#define FIELDS_OF(columns) ((int16_t)(sizeof(columns) / sizeof(columns)[0] - 1))
#define CARD_FIELDS        FIELDS_OF(CARD_COLUMNS)

static const char *const VISIT_COLUMNS[] = {
    "message_id", "visit_no",   "stage",         "stage_visit", "org_id",
    "entered_at", "entered_by", "entered_event", "assignee",    "left_at",
    "left_by",    "left_event", "duration_ms",   "exceeded",    NULL};
#define VISIT_FIELDS FIELDS_OF(VISIT_COLUMNS)

static const char *const INBOX_COLUMNS[] = {"org_id",
                                            "role",
                                            "user_id",
                                            "message_id",
                                            "task",
                                            "stage",
                                            "review_subject",
                                            "since",
                                            "stage_due_at",
                                            "answer_deadline",
                                            "category_id",
                                            "stage_time_exceeded",
                                            "answer_deadline_expired",
                                            NULL};
#define INBOX_FIELDS FIELDS_OF(INBOX_COLUMNS)

static const char *const TIMELINE_COLUMNS[] = {"message_id",  "seq",    "at", "status",
                                               "status_text", "detail", NULL};
#define TIMELINE_FIELDS FIELDS_OF(TIMELINE_COLUMNS)

/* The key, then the counters in okno_proj_counter order. */
static const char *const STATS_COLUMNS[] = {"day",
                                            "org_id",
                                            "category_id",
                                            "stage",
                                            "answer_type",
                                            "submitted",
                                            "entered",
                                            "left_count",
                                            "stage_ms",
                                            "left_overdue",
                                            "stage_approaching",
                                            "stage_exceeded",
                                            "answered",
                                            "answer_ms",
                                            "answered_overdue",
                                            "interim",
                                            "rejected_by_moderator",
                                            "redirected",
                                            "deadline_approaching",
                                            "deadline_expired",
                                            "postponed_reached",
                                            NULL};
#define STATS_KEY_FIELDS 5
#define STATS_FIELDS     FIELDS_OF(STATS_COLUMNS)
_Static_assert(sizeof STATS_COLUMNS / sizeof STATS_COLUMNS[0] - 1 ==
                   STATS_KEY_FIELDS + OKNO_PROJ_COUNTERS,
               "a stats column for each key field and each counter");

bool okno_proj_schema_valid(const char *schema)
{
    size_t n = schema != NULL ? strlen(schema) : 0;
    if (n < 7 || n >= OKNO_PROJ_SCHEMA_BYTES || strncmp(schema, "okno_rm", 7) != 0)
        return false;
    for (size_t i = 7; i < n; i++)
        if (!((schema[i] >= 'a' && schema[i] <= 'z') || (schema[i] >= '0' && schema[i] <= '9') ||
              schema[i] == '_'))
            return false;
    return true;
}

/* "a, b, c" from a NULL-terminated list, each prefixed by `prefix`, appended to out. */
static void join(char *out, size_t size, const char *const *cols, size_t from, const char *prefix)
{
    size_t used = strlen(out);
    for (size_t i = from; cols[i] != NULL && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s%s", i > from ? ", " : "", prefix,
                                 cols[i]);
}

/* Starts a COPY into schema.table (table alone when schema is NULL) with the writer's reusable
 * row buffer: one allocation for the writer's life, not one per COPY. */
static int copy_start(okno_proj_writer *w, okno__copy *c, const char *schema, const char *table,
                      const char *const *cols)
{
    char sql[SQL_BYTES_MAX];
    if (schema != NULL)
        snprintf(sql, sizeof sql, "copy %s.%s (", schema, table);
    else
        snprintf(sql, sizeof sql, "copy %s (", table);
    join(sql, sizeof sql, cols, 0, "");
    strncat(sql, ") from stdin (format binary)", sizeof sql - strlen(sql) - 1);
    *c = (okno__copy){.buf = w->buf, .cap = w->cap};
    return okno__copy_begin(c, w->conn, sql, w->error, sizeof w->error);
}

/* Ends the COPY (rc: a failure before the end) and keeps its buffer for the next one. */
static int copy_finish(okno_proj_writer *w, okno__copy *c, int rc)
{
    rc = rc == OKNO_OK ? okno__copy_end(c) : rc;
    w->copy_ns += c->wait_ns;
    w->buf = c->buf;
    w->cap = c->cap;
    return rc;
}

static const char *name_or_null(const char *name, int value)
{
    return value == 0 ? NULL : name;
}

/* ---- rows ------------------------------------------------------------------------------- */

static void card_review(okno__copy *c, const okno_message_state *s)
{
    okno__copy_text(c, name_or_null(okno_subject_name(s->subject), s->subject));
    okno__copy_array_begin(c, OKNO_PG_OID_INT8);
    for (uint32_t i = 0; i < s->agreers_count; i++)
        okno__copy_array_i64(c, s->agreers[i]);
    okno__copy_array_end(c);
    okno__copy_array_begin(c, OKNO_PG_OID_TEXT);
    for (uint32_t i = 0; i < s->agreers_count; i++)
        okno__copy_array_text(c,
                              s->agreer_decisions[i] == OKNO_AGREER_AGREED ? "agreed" : "pending");
    okno__copy_array_end(c);
    okno__copy_i64_or_null(c, s->approver_user_id);
    okno__copy_i64_or_null(c, s->redirect_org_id);
}

static void card_deadlines(okno__copy *c, const okno_message_state *s)
{
    bool open = s->stage != OKNO_STAGE_NONE;
    okno__copy_ts_or_null(c, s->answer_deadline_ms);
    okno__copy_ts_or_null(c, s->deadline_start_ms);
    okno__copy_ts_or_null(c, open ? s->stage_entered_ms : 0);
    if (open) {
        okno__copy_i64(c, okno_sla_stage_allotment_ms(s->total_days, s->stage));
        okno__copy_ts(c, okno_proj_stage_due_ms(s));
    } else {
        okno__copy_null(c);
        okno__copy_null(c);
    }
    uint32_t st = s->stage_signals, dl = s->deadline_signals;
    okno__copy_bool(c, st & (1u << OKNO_SIGNAL_STAGE_TIME_APPROACHING));
    okno__copy_bool(c, st & (1u << OKNO_SIGNAL_STAGE_TIME_EXCEEDED));
    okno__copy_bool(c, dl & (1u << OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING));
    okno__copy_bool(c, dl & (1u << OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED));
    okno__copy_bool(c, dl & (1u << OKNO_SIGNAL_POSTPONED_DATE_REACHED));
    okno__copy_array_begin(c, OKNO_PG_OID_INT8);
    for (int i = OKNO_STAGE_MODERATION; i < OKNO_STAGE_COUNT; i++)
        okno__copy_array_i64(c, s->stage_used_ms[i]);
    okno__copy_array_end(c);
    okno__copy_array_begin(c, OKNO_PG_OID_INT4);
    for (int i = OKNO_STAGE_MODERATION; i < OKNO_STAGE_COUNT; i++)
        okno__copy_array_i32(c, (int32_t)s->stage_visits[i]);
    okno__copy_array_end(c);
}

static void card_tail(okno__copy *c, const okno_proj_entry *e)
{
    const okno_message_state *s = &e->m.state;
    bool open = s->outcome == OKNO_OUTCOME_OPEN;
    char text[STATUS_TEXT_BYTES];
    okno_proj_status_text(e->m.applicant_status, s->answer_type, s->postponed_until_ms, text,
                          sizeof text);
    okno__copy_text(c, okno_proj_status_name(e->m.applicant_status));
    okno__copy_text(c, text);
    okno__copy_ts_or_null(c, open ? s->answer_deadline_ms : 0);
    okno__copy_ts_or_null(c, open ? 0 : s->last_at_ms);
    okno__copy_text(c, okno_event_type_name(e->m.last_type));
    okno__copy_ts(c, s->last_at_ms);
    /* A closed message gets no more events (the core refuses every request on it), so its
     * projection state is never needed again: a fifth of a card saved. */
    uint8_t state[OKNO__PROJ_STATE_BYTES_MAX];
    if (open)
        okno__copy_bytea(c, state, okno__proj_state_encode(&e->m, state));
    else
        okno__copy_null(c);
}

/* One card row; with_from_seq adds the staging table's fence column. */
static void card_row(okno__copy *c, const okno_proj_entry *e, bool with_from_seq)
{
    const okno_message_state *s = &e->m.state;
    okno__copy_row(c, (int16_t)(CARD_FIELDS + with_from_seq));
    okno__copy_uuid(c, &s->message_id);
    okno__copy_i32(c, (int32_t)s->last_seq);
    okno__copy_text(c, s->stage != OKNO_STAGE_NONE ? okno_stage_name(s->stage)
                                                   : okno_outcome_name(s->outcome));
    okno__copy_text(c, name_or_null(okno_stage_name(s->stage), s->stage));
    okno__copy_text(c, okno_outcome_name(s->outcome));
    okno__copy_i64_or_null(c, s->holding_org_id);
    okno__copy_array_begin(c, OKNO_PG_OID_INT8);
    for (uint32_t i = 0; i < s->upstream_count; i++)
        okno__copy_array_i64(c, s->upstream[i]);
    okno__copy_array_end(c);
    okno__copy_i64_or_null(c, s->applicant_id);
    okno__copy_text(c, name_or_null(okno_channel_name(s->channel), s->channel));
    okno__copy_i32_or_null(c, s->category_id);
    okno__copy_i32_or_null(c, s->subcategory_id);
    okno__copy_i32_or_null(c, s->total_days);
    okno__copy_ts_or_null(c, s->submitted_ms);
    okno__copy_text(c, e->message_text);
    okno__copy_i64_or_null(c, s->executor_user_id);
    okno__copy_bool(c, s->in_work);
    card_review(c, s);
    okno__copy_text(c, name_or_null(okno_answer_type_name(s->answer_type), s->answer_type));
    okno__copy_text(c, e->answer_text);
    okno__copy_ts_or_null(c, s->draft_postponed_until_ms);
    okno__copy_bool(c, s->interim_sent);
    okno__copy_ts_or_null(c, s->postponed_until_ms);
    card_deadlines(c, s);
    card_tail(c, e);
    if (with_from_seq)
        okno__copy_i32(c, (int32_t)e->from_seq);
}

static void visit_row(okno__copy *c, const okno_proj_visit *v)
{
    okno__copy_row(c, VISIT_FIELDS);
    okno__copy_uuid(c, &v->message_id);
    okno__copy_i32(c, (int32_t)v->visit_no);
    okno__copy_text(c, okno_stage_name(v->stage));
    okno__copy_i32(c, (int32_t)v->stage_visit);
    okno__copy_i64(c, v->org_id);
    okno__copy_ts(c, v->entered_ms);
    okno__copy_i64_or_null(c, v->entered_by);
    okno__copy_text(c, okno_event_type_name(v->entered_event));
    okno__copy_i64_or_null(c, v->assignee);
    if (v->left_ms != 0) {
        okno__copy_ts(c, v->left_ms);
        okno__copy_i64_or_null(c, v->left_by);
        okno__copy_text(c, okno_event_type_name(v->left_event));
        okno__copy_i64(c, v->left_ms - v->entered_ms);
    } else {
        for (int i = 0; i < 4; i++)
            okno__copy_null(c);
    }
    okno__copy_bool(c, v->exceeded);
}

static void inbox_rows(okno__copy *c, const okno_proj_entry *e)
{
    const okno_message_state *s = &e->m.state;
    okno_proj_inbox rows[OKNO_PROJ_INBOX_MAX];
    size_t n = okno_proj_inbox_rows(&e->m, rows);
    for (size_t i = 0; i < n; i++) {
        okno__copy_row(c, INBOX_FIELDS);
        okno__copy_i64(c, rows[i].org_id);
        okno__copy_text(c, okno_role_name(rows[i].role));
        okno__copy_i64_or_null(c, rows[i].user_id);
        okno__copy_uuid(c, &s->message_id);
        okno__copy_text(c, rows[i].task);
        okno__copy_text(c, okno_stage_name(s->stage));
        okno__copy_text(c, name_or_null(okno_subject_name(s->subject), s->subject));
        okno__copy_ts(c, s->stage_entered_ms);
        okno__copy_ts(c, okno_proj_stage_due_ms(s));
        okno__copy_ts_or_null(c, s->answer_deadline_ms);
        okno__copy_i32_or_null(c, s->category_id);
        okno__copy_bool(c, s->stage_signals & (1u << OKNO_SIGNAL_STAGE_TIME_EXCEEDED));
        okno__copy_bool(c, s->deadline_signals & (1u << OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED));
    }
}

static void timeline_row(okno__copy *c, const okno_proj_timeline *t)
{
    char text[STATUS_TEXT_BYTES];
    okno_proj_status_text(t->status, t->answer_type, t->date_ms, text, sizeof text);
    okno__copy_row(c, TIMELINE_FIELDS);
    okno__copy_uuid(c, &t->message_id);
    okno__copy_i32(c, (int32_t)t->seq);
    okno__copy_ts(c, t->at_ms);
    okno__copy_text(c, okno_proj_status_name(t->status));
    okno__copy_text(c, text);
    okno__copy_text(c, t->detail);
}

static void stats_row(okno__copy *c, const okno_proj_stats_row *r)
{
    okno__copy_row(c, STATS_FIELDS);
    okno__copy_date(c, r->key.day);
    okno__copy_i64(c, r->key.org_id);
    okno__copy_i32(c, r->key.category_id);
    okno__copy_text(c, r->key.stage ? okno_stage_name(r->key.stage) : "");
    okno__copy_text(c, r->key.answer_type ? okno_answer_type_name(r->key.answer_type) : "");
    for (int i = 0; i < OKNO_PROJ_COUNTERS; i++)
        okno__copy_i64(c, r->counters[i]);
}

/* ---- statements ----------------------------------------------------------------------- */

int okno_proj_writer_init(okno_proj_writer *w, PGconn *conn, const char *schema)
{
    *w = (okno_proj_writer){.conn = conn};
    if (!okno_proj_schema_valid(schema)) {
        snprintf(w->error, sizeof w->error, "bad read-model schema name");
        return OKNO_EINVAL;
    }
    snprintf(w->schema, sizeof w->schema, "%s", schema);
    return OKNO_OK;
}

void okno_proj_writer_close(okno_proj_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
}

static int fail_res(okno_proj_writer *w, PGresult *res, const char *what)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* OKP01: a card moved under this writer (another projector, or a replay swapped in). */
    int rc = state != NULL && strcmp(state, "OKP01") == 0 ? OKNO_ECONFLICT : OKNO_EPG;
    okno_pg_error(w->error, sizeof w->error, what, res, w->conn);
    PQclear(res);
    return rc;
}

/* Runs sql (possibly several statements: one round trip) that returns no rows. */
static int exec(okno_proj_writer *w, const char *what, const char *sql)
{
    PGresult *res = PQexec(w->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail_res(w, res, what);
    PQclear(res);
    return OKNO_OK;
}

int okno_proj_prepare(okno_proj_writer *w)
{
    char sql[SQL_BYTES_MAX];
    snprintf(
        sql, sizeof sql,
        "set client_min_messages = warning;"
        "create temp table if not exists okno_card_in (like %1$s.card) on commit delete rows;"
        "alter table okno_card_in add column if not exists from_seq int;"
        "create temp table if not exists okno_visits_in (like %1$s.stage_visits)"
        " on commit delete rows;"
        "create temp table if not exists okno_stats_in (like %1$s.stats_daily)"
        " on commit delete rows;"
        "create temp table if not exists okno_inbox_in (like %1$s.inbox) on commit delete rows;"
        "create temp table if not exists okno_timeline_in (like %1$s.applicant_timeline)"
        " on commit delete rows;"
        "reset client_min_messages",
        w->schema);
    return exec(w, "staging tables", sql);
}

/* "set (b, c) = (excluded.b, excluded.c)" over every column after the first `key` ones. */
static void set_excluded(char *sql, size_t size, const char *const *cols, size_t key)
{
    strncat(sql, " do update set (", size - strlen(sql) - 1);
    join(sql, size, cols, key, "");
    strncat(sql, ") = (", size - strlen(sql) - 1);
    join(sql, size, cols, key, "excluded.");
    strncat(sql, ")", size - strlen(sql) - 1);
}

/* insert into SCHEMA.TABLE (cols) select cols from STAGING on conflict (KEY) */
static void upsert_head(char *sql, size_t size, const char *schema, const char *table,
                        const char *staging, const char *const *cols, const char *key)
{
    size_t used = strlen(sql);
    snprintf(sql + used, size - used, "insert into %s.%s (", schema, table);
    join(sql, size, cols, 0, "");
    strncat(sql, ") select ", size - strlen(sql) - 1);
    join(sql, size, cols, 0, "");
    used = strlen(sql);
    snprintf(sql + used, size - used, " from %s on conflict (%s)", staging, key);
}

/* Cards into the table, or (staging) into okno_card_in with each entry's from_seq. */
static int copy_cards(okno_proj_writer *w, okno_proj_entry *const *entries, size_t n, bool staging)
{
    const char *cols_staging[CARD_FIELDS + 2];
    memcpy(cols_staging, CARD_COLUMNS, (size_t)CARD_FIELDS * sizeof *cols_staging);
    cols_staging[CARD_FIELDS] = "from_seq";
    cols_staging[CARD_FIELDS + 1] = NULL;
    okno__copy c;
    int rc = staging ? copy_start(w, &c, NULL, "okno_card_in", cols_staging)
                     : copy_start(w, &c, w->schema, "card", CARD_COLUMNS);
    for (size_t i = 0; rc == OKNO_OK && i < n; i++)
        card_row(&c, entries[i], staging);
    return copy_finish(w, &c, rc);
}

/* Inbox rows into schema.table: the table itself (bulk), or the staging table (live: COPY FROM
 * is refused on a table under row-level security, see 0006_read_access.sql). */
static int copy_inbox(okno_proj_writer *w, const char *schema, const char *table,
                      okno_proj_entry *const *entries, size_t n)
{
    okno__copy c;
    int rc = copy_start(w, &c, schema, table, INBOX_COLUMNS);
    for (size_t i = 0; rc == OKNO_OK && i < n; i++)
        inbox_rows(&c, entries[i]);
    return copy_finish(w, &c, rc);
}

/* The batch's ended visits, then the current visit of each entry. */
static int copy_visits(okno_proj_writer *w, const char *schema, const char *table,
                       const okno_proj_batch *b, okno_proj_entry *const *entries, size_t n)
{
    okno__copy c;
    int rc = copy_start(w, &c, schema, table, VISIT_COLUMNS);
    for (size_t i = 0; rc == OKNO_OK && i < b->visits_count; i++)
        visit_row(&c, &b->visits[i]);
    okno_proj_visit v;
    for (size_t i = 0; rc == OKNO_OK && i < n; i++)
        if (okno_proj_current_visit(entries[i], &v))
            visit_row(&c, &v);
    return copy_finish(w, &c, rc);
}

static int copy_timeline(okno_proj_writer *w, const char *schema, const char *table,
                         const okno_proj_batch *b)
{
    if (b->timeline_count == 0)
        return OKNO_OK;
    okno__copy c;
    int rc = copy_start(w, &c, schema, table, TIMELINE_COLUMNS);
    for (size_t i = 0; rc == OKNO_OK && i < b->timeline_count; i++)
        timeline_row(&c, &b->timeline[i]);
    return copy_finish(w, &c, rc);
}

static int stats_copy(okno_proj_writer *w, const char *schema, const char *table,
                      const okno_proj_stats *stats)
{
    okno__copy c;
    int rc = copy_start(w, &c, schema, table, STATS_COLUMNS);
    for (size_t i = 0; rc == OKNO_OK && i < stats->count; i++)
        stats_row(&c, &stats->rows[i]);
    return copy_finish(w, &c, rc);
}

static int stats_merge(okno_proj_writer *w)
{
    char sql[SQL_BYTES_MAX] = "";
    upsert_head(sql, sizeof sql, w->schema, "stats_daily", "okno_stats_in", STATS_COLUMNS,
                "day, org_id, category_id, stage, answer_type");
    strncat(sql, " do update set ", sizeof sql - strlen(sql) - 1);
    for (int i = STATS_KEY_FIELDS; STATS_COLUMNS[i] != NULL; i++) {
        size_t used = strlen(sql);
        snprintf(sql + used, sizeof sql - used, "%s%s = %s.stats_daily.%s + excluded.%s",
                 i > STATS_KEY_FIELDS ? ", " : "", STATS_COLUMNS[i], w->schema, STATS_COLUMNS[i],
                 STATS_COLUMNS[i]);
    }
    return exec(w, "stats merge", sql);
}

int okno_proj_write_stats(okno_proj_writer *w, const okno_proj_stats *stats)
{
    if (stats->count == 0)
        return OKNO_OK;
    /* The staging table empties at commit: outside a transaction, make one. */
    bool own = PQtransactionStatus(w->conn) == PQTRANS_IDLE;
    int rc = own ? exec(w, "begin", "begin") : OKNO_OK;
    if (rc == OKNO_OK)
        rc = stats_copy(w, NULL, "okno_stats_in", stats);
    if (rc == OKNO_OK)
        rc = stats_merge(w);
    if (own && rc == OKNO_OK)
        rc = exec(w, "commit", "commit");
    if (own && rc != OKNO_OK)
        PQclear(PQexec(w->conn, "rollback")); /* the first failure is the one to report */
    return rc;
}

int okno_proj_write_stats_bulk(okno_proj_writer *w, const okno_proj_stats *stats)
{
    return stats->count == 0 ? OKNO_OK : stats_copy(w, w->schema, "stats_daily", stats);
}

/* Fence, then clear the dirty messages' inbox rows: both before the new rows arrive. */
static int live_fence(okno_proj_writer *w)
{
    char sql[SQL_BYTES_MAX];
    snprintf(sql, sizeof sql,
             "select okno.eventlog_require(count(*) = 0, 'OKP01', 'read model moved: '"
             " || count(*) || ' cards are not at the seq this projector applied from')"
             " from okno_card_in i left join %1$s.card c on c.message_id = i.message_id"
             " where coalesce(c.seq, 0) <> i.from_seq;"
             "delete from %1$s.inbox x using okno_card_in i where x.message_id = i.message_id",
             w->schema);
    return exec(w, "fence", sql);
}

static int live_merge(okno_proj_writer *w)
{
    char sql[SQL_BYTES_MAX] = "";
    upsert_head(sql, sizeof sql, w->schema, "card", "okno_card_in", CARD_COLUMNS, "message_id");
    set_excluded(sql, sizeof sql, CARD_COLUMNS, 1);
    strncat(sql, ";", sizeof sql - strlen(sql) - 1);
    upsert_head(sql, sizeof sql, w->schema, "stage_visits", "okno_visits_in", VISIT_COLUMNS,
                "message_id, visit_no");
    set_excluded(sql, sizeof sql, VISIT_COLUMNS, 2);
    for (int t = 0; t < 2; t++) {
        const char *table = t == 0 ? "inbox" : "applicant_timeline";
        const char *const *cols = t == 0 ? INBOX_COLUMNS : TIMELINE_COLUMNS;
        size_t used = strlen(sql);
        snprintf(sql + used, sizeof sql - used, ";insert into %s.%s (", w->schema, table);
        join(sql, sizeof sql, cols, 0, "");
        strncat(sql, ") select ", sizeof sql - strlen(sql) - 1);
        join(sql, sizeof sql, cols, 0, "");
        used = strlen(sql);
        snprintf(sql + used, sizeof sql - used, " from %s",
                 t == 0 ? "okno_inbox_in" : "okno_timeline_in");
    }
    /* Readers that cache cards (the gateway) learn each new seq when this commits. */
    size_t used = strlen(sql);
    snprintf(sql + used, sizeof sql - used,
             ";select pg_notify('" OKNO_PROJ_NOTIFY_CHANNEL "', string_agg(message_id::text"
             " || ':' || seq, ' ')) from (select message_id, seq, (row_number() over () - 1) / %d"
             " as chunk from okno_card_in) s group by chunk",
             OKNO_PROJ_NOTIFY_CARDS_MAX);
    return exec(w, "merge", sql);
}

int okno_proj_write_live(okno_proj_writer *w, const okno_proj_batch *b)
{
    if (b->dirty_count == 0)
        return OKNO_OK;
    okno_proj_entry *const *dirty = b->dirty;
    size_t n = b->dirty_count;
    int rc = copy_cards(w, dirty, n, true);
    if (rc == OKNO_OK)
        rc = live_fence(w);
    if (rc == OKNO_OK)
        rc = copy_inbox(w, NULL, "okno_inbox_in", dirty, n);
    if (rc == OKNO_OK)
        rc = copy_timeline(w, NULL, "okno_timeline_in", b);
    if (rc == OKNO_OK)
        rc = copy_visits(w, NULL, "okno_visits_in", b, dirty, n);
    if (rc == OKNO_OK)
        rc = live_merge(w);
    if (rc == OKNO_OK)
        rc = okno_proj_write_stats(w, &b->stats);
    return rc;
}

int okno_proj_write_bulk(okno_proj_writer *w, const okno_proj_batch *b,
                         okno_proj_entry *const *entries, size_t n)
{
    int rc = OKNO_OK;
    if (b->visits_count > 0 || n > 0)
        rc = copy_visits(w, w->schema, "stage_visits", b, entries, n);
    if (rc == OKNO_OK)
        rc = copy_timeline(w, w->schema, "applicant_timeline", b);
    if (rc == OKNO_OK && n > 0)
        rc = copy_cards(w, entries, n, false);
    if (rc == OKNO_OK && n > 0)
        rc = copy_inbox(w, w->schema, "inbox", entries, n);
    return rc;
}

/* ---- loading entries -------------------------------------------------------------------- */

static int load_row(okno_proj_writer *w, okno_proj_store *store, const PGresult *res, int i)
{
    okno_uuid id;
    memcpy(id.bytes, PQgetvalue(res, i, 0), sizeof id.bytes);
    okno_proj_entry *e = okno_proj_store_find(store, &id);
    if (e == NULL && (e = okno_proj_store_add(store, &id)) == NULL)
        return OKNO_ENOMEM;
    if (PQgetisnull(res, i, 1)) {
        snprintf(w->error, sizeof w->error, "an event for a closed message");
        return OKNO_EINVAL;
    }
    const uint8_t *state = (const uint8_t *)PQgetvalue(res, i, 1);
    if (okno__proj_state_decode(state, (size_t)PQgetlength(res, i, 1), &e->m) != OKNO_OK) {
        snprintf(w->error, sizeof w->error,
                 "card.proj_state is not version %u of this build's projection state: rebuild"
                 " the read models with okno replay",
                 OKNO_PROJ_STATE_VERSION);
        return OKNO_EINVAL;
    }
    if (memcmp(e->m.state.message_id.bytes, id.bytes, sizeof id.bytes) != 0) {
        snprintf(w->error, sizeof w->error, "card.proj_state belongs to another message");
        return OKNO_EINVAL;
    }
    for (int col = 2; col <= 3; col++) {
        char **slot = col == 2 ? &e->message_text : &e->answer_text;
        const char *text = PQgetisnull(res, i, col) ? NULL : PQgetvalue(res, i, col);
        if (okno_proj_entry_set_text(slot, text, (size_t)PQgetlength(res, i, col)) != OKNO_OK)
            return OKNO_ENOMEM;
    }
    return OKNO_OK;
}

int okno_proj_load(okno_proj_writer *w, const okno_uuid *ids, size_t n, okno_proj_store *store)
{
    if (n == 0)
        return OKNO_OK;
    okno_pgbuf buf = {0};
    okno_pgarr a;
    okno_pgparam p;
    for (int pass = 0; pass < 2; pass++) {
        buf.used = 0;
        okno_pgarr_start(&buf, &a, OKNO_PG_OID_UUID);
        for (size_t i = 0; i < n; i++)
            okno_pgarr_add(&buf, &a, ids[i].bytes, sizeof ids[i].bytes);
        okno_pgarr_finish(&buf, &a, OKNO_PG_OID_UUID_ARRAY, &p);
        if (pass == 0 && (buf = (okno_pgbuf){.mem = malloc(buf.used), .cap = buf.used}).mem == NULL)
            return OKNO_ENOMEM;
    }
    char sql[SQL_BYTES_MAX];
    snprintf(sql, sizeof sql,
             "select message_id, proj_state, message_text, answer_text from %s.card"
             " where message_id = any($1)",
             w->schema);
    PGresult *res = PQexecParams(w->conn, sql, 1, &p.type, &p.value, &p.length, (int[]){1}, 1);
    free(buf.mem);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail_res(w, res, "load cards");
    int rc = OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++)
        rc = load_row(w, store, res, i);
    PQclear(res);
    return rc;
}
