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
#include "pg/pgbin.h"
#include "projection/internal.h"

/* Longest statement built here, bytes. */
#define SQL_BYTES_MAX 8192
/* Longest status text, bytes (Russian: two bytes a letter). */
#define STATUS_TEXT_BYTES 256
/* Bytes of card.proj_state: a version word, then the struct. */
#define PROJ_STATE_BYTES (4 + sizeof(okno_proj_message))

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
#define CARD_FIELDS 45

static const char *const VISIT_COLUMNS[] = {
    "message_id", "visit_no",   "stage",         "stage_visit", "org_id",
    "entered_at", "entered_by", "entered_event", "assignee",    "left_at",
    "left_by",    "left_event", "duration_ms",   "exceeded",    NULL};
#define VISIT_FIELDS 14

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
#define INBOX_FIELDS 13

static const char *const TIMELINE_COLUMNS[] = {"message_id",  "seq",    "at", "status",
                                               "status_text", "detail", NULL};
#define TIMELINE_FIELDS 6

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
#define STATS_FIELDS     (STATS_KEY_FIELDS + OKNO_PROJ_COUNTERS)

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

static int copy_start(okno__copy *c, PGconn *conn, const char *schema, const char *table,
                      const char *const *cols, char *err, size_t err_bytes)
{
    char sql[SQL_BYTES_MAX];
    if (schema != NULL)
        snprintf(sql, sizeof sql, "copy %s.%s (", schema, table);
    else
        snprintf(sql, sizeof sql, "copy %s (", table);
    join(sql, sizeof sql, cols, 0, "");
    strncat(sql, ") from stdin (format binary)", sizeof sql - strlen(sql) - 1);
    return okno__copy_begin(c, conn, sql, err, err_bytes);
}

static const char *name_or_null(const char *name, int value)
{
    return value == 0 ? NULL : name;
}

/* ---- rows ------------------------------------------------------------------------------- */

static void card_review(okno__copy *c, const okno_message_state *s)
{
    okno__copy_text(c, name_or_null(okno_subject_name(s->subject), s->subject));
    okno__copy_array_begin(c, OKNO__OID_INT8);
    for (uint32_t i = 0; i < s->agreers_count; i++)
        okno__copy_array_i64(c, s->agreers[i]);
    okno__copy_array_end(c);
    okno__copy_array_begin(c, OKNO__OID_TEXT);
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
    okno__copy_array_begin(c, OKNO__OID_INT8);
    for (int i = OKNO_STAGE_MODERATION; i < OKNO_STAGE_COUNT; i++)
        okno__copy_array_i64(c, s->stage_used_ms[i]);
    okno__copy_array_end(c);
    okno__copy_array_begin(c, OKNO__OID_INT4);
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
    uint8_t state[PROJ_STATE_BYTES];
    uint32_t version = OKNO_PROJ_STATE_VERSION;
    memcpy(state, &version, 4);
    memcpy(state + 4, &e->m, sizeof e->m);
    okno__copy_bytea(c, state, sizeof state);
}

/* One card row; with_from_seq adds the staging table's fence column. */
static void card_row(okno__copy *c, const okno_proj_entry *e, bool with_from_seq)
{
    const okno_message_state *s = &e->m.state;
    okno__copy_row(c, CARD_FIELDS + with_from_seq);
    okno__copy_uuid(c, &s->message_id);
    okno__copy_i32(c, (int32_t)s->last_seq);
    okno__copy_text(c, s->stage != OKNO_STAGE_NONE ? okno_stage_name(s->stage)
                                                   : okno_outcome_name(s->outcome));
    okno__copy_text(c, name_or_null(okno_stage_name(s->stage), s->stage));
    okno__copy_text(c, okno_outcome_name(s->outcome));
    okno__copy_i64_or_null(c, s->holding_org_id);
    okno__copy_array_begin(c, OKNO__OID_INT8);
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

static int fail_res(PGresult *res, PGconn *conn, const char *what, char *err, size_t err_bytes)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    okno__pg_error(err, err_bytes, what, res, conn);
    PQclear(res);
    /* OKP01: a card moved under this writer (another projector, or a replay swapped in). */
    return state != NULL && strcmp(state, "OKP01") == 0 ? OKNO_ECONFLICT : OKNO_EPG;
}

/* Runs sql (possibly several statements: one round trip) that returns no rows. */
static int exec(PGconn *conn, const char *what, const char *sql, char *err, size_t err_bytes)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail_res(res, conn, what, err, err_bytes);
    PQclear(res);
    return OKNO_OK;
}

int okno_proj_prepare(PGconn *conn, const char *schema, char *err, size_t err_bytes)
{
    char sql[SQL_BYTES_MAX];
    snprintf(sql, sizeof sql,
             "set client_min_messages = warning;"
             "create temp table if not exists okno_card_in (like %1$s.card) on commit delete rows;"
             "alter table okno_card_in add column if not exists from_seq int;"
             "create temp table if not exists okno_visits_in (like %1$s.stage_visits)"
             " on commit delete rows;"
             "create temp table if not exists okno_stats_in (like %1$s.stats_daily)"
             " on commit delete rows;"
             "reset client_min_messages",
             schema);
    return exec(conn, "staging tables", sql, err, err_bytes);
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

static int copy_cards(PGconn *conn, const char *table, const char *schema,
                      okno_proj_entry *const *entries, size_t n, bool staging, char *err,
                      size_t err_bytes)
{
    okno__copy c = {0};
    const char *cols_staging[CARD_FIELDS + 2];
    memcpy(cols_staging, CARD_COLUMNS, CARD_FIELDS * sizeof *cols_staging);
    cols_staging[CARD_FIELDS] = "from_seq";
    cols_staging[CARD_FIELDS + 1] = NULL;
    int rc = copy_start(&c, conn, staging ? NULL : schema, table,
                        staging ? cols_staging : CARD_COLUMNS, err, err_bytes);
    for (size_t i = 0; rc == OKNO_OK && i < n; i++)
        card_row(&c, entries[i], staging);
    rc = rc == OKNO_OK ? okno__copy_end(&c) : rc;
    okno__copy_free(&c);
    return rc;
}

static int copy_inbox(PGconn *conn, const char *schema, okno_proj_entry *const *entries, size_t n,
                      char *err, size_t err_bytes)
{
    okno__copy c = {0};
    int rc = copy_start(&c, conn, schema, "inbox", INBOX_COLUMNS, err, err_bytes);
    for (size_t i = 0; rc == OKNO_OK && i < n; i++)
        inbox_rows(&c, entries[i]);
    rc = rc == OKNO_OK ? okno__copy_end(&c) : rc;
    okno__copy_free(&c);
    return rc;
}

/* The batch's ended visits, then the current visit of each entry. */
static int copy_visits(PGconn *conn, const char *schema, const char *table,
                       const okno_proj_batch *b, okno_proj_entry *const *entries, size_t n,
                       char *err, size_t err_bytes)
{
    okno__copy c = {0};
    int rc = copy_start(&c, conn, schema, table, VISIT_COLUMNS, err, err_bytes);
    for (size_t i = 0; rc == OKNO_OK && i < b->visits_count; i++)
        visit_row(&c, &b->visits[i]);
    okno_proj_visit v;
    for (size_t i = 0; rc == OKNO_OK && i < n; i++)
        if (okno_proj_current_visit(entries[i], &v))
            visit_row(&c, &v);
    rc = rc == OKNO_OK ? okno__copy_end(&c) : rc;
    okno__copy_free(&c);
    return rc;
}

static int copy_timeline(PGconn *conn, const char *schema, const okno_proj_batch *b, char *err,
                         size_t err_bytes)
{
    if (b->timeline_count == 0)
        return OKNO_OK;
    okno__copy c = {0};
    int rc = copy_start(&c, conn, schema, "applicant_timeline", TIMELINE_COLUMNS, err, err_bytes);
    for (size_t i = 0; rc == OKNO_OK && i < b->timeline_count; i++)
        timeline_row(&c, &b->timeline[i]);
    rc = rc == OKNO_OK ? okno__copy_end(&c) : rc;
    okno__copy_free(&c);
    return rc;
}

static int stats_merge(PGconn *conn, const char *schema, char *err, size_t err_bytes)
{
    char sql[SQL_BYTES_MAX] = "";
    upsert_head(sql, sizeof sql, schema, "stats_daily", "okno_stats_in", STATS_COLUMNS,
                "day, org_id, category_id, stage, answer_type");
    strncat(sql, " do update set ", sizeof sql - strlen(sql) - 1);
    for (int i = STATS_KEY_FIELDS; STATS_COLUMNS[i] != NULL; i++) {
        size_t used = strlen(sql);
        snprintf(sql + used, sizeof sql - used, "%s%s = %s.stats_daily.%s + excluded.%s",
                 i > STATS_KEY_FIELDS ? ", " : "", STATS_COLUMNS[i], schema, STATS_COLUMNS[i],
                 STATS_COLUMNS[i]);
    }
    return exec(conn, "stats merge", sql, err, err_bytes);
}

static int stats_copy(PGconn *conn, const char *schema, const char *table,
                      const okno_proj_stats *stats, char *err, size_t err_bytes)
{
    okno__copy c = {0};
    int rc = copy_start(&c, conn, schema, table, STATS_COLUMNS, err, err_bytes);
    for (size_t i = 0; rc == OKNO_OK && i < stats->cap; i++)
        if (stats->rows[i].used)
            stats_row(&c, &stats->rows[i]);
    rc = rc == OKNO_OK ? okno__copy_end(&c) : rc;
    okno__copy_free(&c);
    return rc;
}

int okno_proj_write_stats(PGconn *conn, const char *schema, const okno_proj_stats *stats, char *err,
                          size_t err_bytes)
{
    if (stats->count == 0)
        return OKNO_OK;
    /* The staging table empties at commit: outside a transaction, make one. */
    bool own = PQtransactionStatus(conn) == PQTRANS_IDLE;
    int rc = own ? exec(conn, "begin", "begin", err, err_bytes) : OKNO_OK;
    if (rc == OKNO_OK)
        rc = stats_copy(conn, NULL, "okno_stats_in", stats, err, err_bytes);
    if (rc == OKNO_OK)
        rc = stats_merge(conn, schema, err, err_bytes);
    if (own && rc == OKNO_OK)
        rc = exec(conn, "commit", "commit", err, err_bytes);
    if (own && rc != OKNO_OK)
        PQclear(PQexec(conn, "rollback")); /* the first failure is the one to report */
    return rc;
}

int okno_proj_write_stats_bulk(PGconn *conn, const char *schema, const okno_proj_stats *stats,
                               char *err, size_t err_bytes)
{
    return stats->count == 0 ? OKNO_OK
                             : stats_copy(conn, schema, "stats_daily", stats, err, err_bytes);
}

/* Fence, then clear the dirty messages' inbox rows: both before the new rows arrive. */
static int live_fence(PGconn *conn, const char *schema, char *err, size_t err_bytes)
{
    char sql[SQL_BYTES_MAX];
    snprintf(sql, sizeof sql,
             "select okno.eventlog_require(count(*) = 0, 'OKP01', 'read model moved: '"
             " || count(*) || ' cards are not at the seq this projector applied from')"
             " from okno_card_in i left join %1$s.card c on c.message_id = i.message_id"
             " where coalesce(c.seq, 0) <> i.from_seq;"
             "delete from %1$s.inbox x using okno_card_in i where x.message_id = i.message_id",
             schema);
    return exec(conn, "fence", sql, err, err_bytes);
}

static int live_merge(PGconn *conn, const char *schema, char *err, size_t err_bytes)
{
    char sql[SQL_BYTES_MAX] = "";
    upsert_head(sql, sizeof sql, schema, "card", "okno_card_in", CARD_COLUMNS, "message_id");
    set_excluded(sql, sizeof sql, CARD_COLUMNS, 1);
    strncat(sql, ";", sizeof sql - strlen(sql) - 1);
    upsert_head(sql, sizeof sql, schema, "stage_visits", "okno_visits_in", VISIT_COLUMNS,
                "message_id, visit_no");
    set_excluded(sql, sizeof sql, VISIT_COLUMNS, 2);
    return exec(conn, "merge", sql, err, err_bytes);
}

int okno_proj_write_live(PGconn *conn, const char *schema, const okno_proj_batch *b, char *err,
                         size_t err_bytes)
{
    if (b->dirty_count == 0)
        return OKNO_OK;
    okno_proj_entry *const *dirty = b->dirty;
    size_t n = b->dirty_count;
    int rc = copy_cards(conn, "okno_card_in", schema, dirty, n, true, err, err_bytes);
    if (rc == OKNO_OK)
        rc = live_fence(conn, schema, err, err_bytes);
    if (rc == OKNO_OK)
        rc = copy_inbox(conn, schema, dirty, n, err, err_bytes);
    if (rc == OKNO_OK)
        rc = copy_timeline(conn, schema, b, err, err_bytes);
    if (rc == OKNO_OK)
        rc = copy_visits(conn, NULL, "okno_visits_in", b, dirty, n, err, err_bytes);
    if (rc == OKNO_OK)
        rc = live_merge(conn, schema, err, err_bytes);
    if (rc == OKNO_OK)
        rc = okno_proj_write_stats(conn, schema, &b->stats, err, err_bytes);
    return rc;
}

int okno_proj_write_bulk(PGconn *conn, const char *schema, const okno_proj_batch *b,
                         okno_proj_entry *const *entries, size_t n, char *err, size_t err_bytes)
{
    int rc = OKNO_OK;
    if (b->visits_count > 0 || n > 0)
        rc = copy_visits(conn, schema, "stage_visits", b, entries, n, err, err_bytes);
    if (rc == OKNO_OK)
        rc = copy_timeline(conn, schema, b, err, err_bytes);
    if (rc == OKNO_OK && n > 0)
        rc = copy_cards(conn, "card", schema, entries, n, false, err, err_bytes);
    if (rc == OKNO_OK && n > 0)
        rc = copy_inbox(conn, schema, entries, n, err, err_bytes);
    return rc;
}

/* ---- loading entries -------------------------------------------------------------------- */

static int load_row(okno_proj_store *store, const PGresult *res, int i, char *err, size_t err_bytes)
{
    const char *state = PQgetvalue(res, i, 1);
    uint32_t version;
    memcpy(&version, state, 4);
    if ((size_t)PQgetlength(res, i, 1) != PROJ_STATE_BYTES || version != OKNO_PROJ_STATE_VERSION) {
        snprintf(err, err_bytes,
                 "card.proj_state has version %u and %d bytes, this projector"
                 " writes version %u of %zu bytes: rebuild the read models with okno replay",
                 version, PQgetlength(res, i, 1), OKNO_PROJ_STATE_VERSION, PROJ_STATE_BYTES);
        return OKNO_EINVAL;
    }
    okno_uuid id;
    memcpy(id.bytes, PQgetvalue(res, i, 0), sizeof id.bytes);
    okno_proj_entry *e = okno_proj_store_find(store, &id);
    if (e == NULL && (e = okno_proj_store_add(store, &id)) == NULL)
        return OKNO_ENOMEM;
    memcpy(&e->m, state + 4, sizeof e->m);
    if (memcmp(e->m.state.message_id.bytes, id.bytes, sizeof id.bytes) != 0) {
        snprintf(err, err_bytes, "card.proj_state belongs to another message");
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

int okno_proj_load(PGconn *conn, const char *schema, const okno_uuid *ids, size_t n,
                   okno_proj_store *store, char *err, size_t err_bytes)
{
    if (n == 0)
        return OKNO_OK;
    okno__pgbuf buf = {0};
    okno__pgarr a;
    okno__pgparam p;
    for (int pass = 0; pass < 2; pass++) {
        buf.used = 0;
        okno__pgarr_start(&buf, &a, OKNO__OID_UUID);
        for (size_t i = 0; i < n; i++)
            okno__pgarr_add(&buf, &a, ids[i].bytes, sizeof ids[i].bytes);
        okno__pgarr_finish(&buf, &a, OKNO__OID_UUID_ARRAY, &p);
        if (pass == 0 &&
            (buf = (okno__pgbuf){.mem = malloc(buf.used), .cap = buf.used}).mem == NULL)
            return OKNO_ENOMEM;
    }
    char sql[SQL_BYTES_MAX];
    snprintf(sql, sizeof sql,
             "select message_id, proj_state, message_text, answer_text from %s.card"
             " where message_id = any($1)",
             schema);
    PGresult *res = PQexecParams(conn, sql, 1, &p.type, &p.value, &p.length, (int[]){1}, 1);
    free(buf.mem);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return fail_res(res, conn, "load cards", err, err_bytes);
    int rc = OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++)
        rc = load_row(store, res, i, err, err_bytes);
    PQclear(res);
    return rc;
}
