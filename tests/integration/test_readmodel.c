/* The read side (common/readmodel, migration 0006) against real PostgreSQL: seven messages
 * scripted through the pure core, appended to a real event log and projected by the projector,
 * in an org tree (operator; a ministry with a department, its sub-department and a sibling; an
 * unrelated org; an intake office), then read as the gateway's role:
 *   - the visibility matrix: every kind of caller against messages of their org, its parent, a
 *     child, a sibling, one they once held, another applicant's, on every read table and every
 *     read call: exactly the rule of 0006_read_access.sql;
 *   - hand-written queries as okno_gateway see nothing of another org, nothing without a
 *     caller, and the role can neither reach other tables nor lift the policies;
 *   - after `okno replay` swaps a new schema in, the policies hold and a connection opened
 *     before the swap reads the new rows;
 *   - the JSON of every call, field by field, and its cursor pagination. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "itest.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/readmodel.h"
#include "okno/replay.h"
#include "okno/uuid.h"
#include "projector.h"
#include "rm_check.h"

#define MIN_MS    INT64_C(60000)
#define HOUR_MS   (60 * MIN_MS)
#define DAY_MS    (24 * HOUR_MS)
#define T0        INT64_C(1772431200000) /* 2026-03-02T06:00:00Z */
#define ERR_BYTES 512

enum { OPERATOR = 1, MIN = 1000, DEP = 1100, SUB = 1110, SIB = 1200, OTHER = 2000, INTAKE = 3000 };
enum {
    MODERATOR = 101,
    MIN_CUR = 1001,
    D_COORD = 1101, /* coordinator and (outside the operator org) moderator */
    D_EXEC = 1102,
    D_ADMIN = 1103,
    D_M5 = 1105,
    D_M7 = 1107,
    O_COORD = 2001,
    O_EXEC = 2002,
    INTAKE_OP = 3001,
    APPL1 = 5001,
    APPL2 = 5002,
    STRANGER = 9999,
};

static const okno_org orgs[] = {{OPERATOR, 0}, {MIN, 0},   {DEP, MIN}, {SUB, DEP},
                                {SIB, MIN},    {OTHER, 0}, {INTAKE, 0}};
static const okno_grant grants[] = {
    {MODERATOR, OPERATOR, OKNO_ROLE_MODERATOR},
    {MIN_CUR, MIN, OKNO_ROLE_CURATOR},
    {D_COORD, DEP, OKNO_ROLE_COORDINATOR | OKNO_ROLE_MODERATOR},
    {D_EXEC, DEP, OKNO_ROLE_EXECUTOR},
    {D_ADMIN, DEP, OKNO_ROLE_ORG_ADMIN},
    {D_M5, DEP, OKNO_ROLE_MANAGER},
    {D_M7, DEP, OKNO_ROLE_MANAGER},
    {O_COORD, OTHER, OKNO_ROLE_COORDINATOR},
    {O_EXEC, OTHER, OKNO_ROLE_EXECUTOR},
    {INTAKE_OP, INTAKE, OKNO_ROLE_INTAKE_OPERATOR},
};
static const okno_category categories[] = {{1, 30}};
static const okno_authority authorities[] = {{D_M5, DEP, 1, 0, true, true},
                                             {D_M7, DEP, 1, 0, true, false}};

/* The messages, in the order they are submitted (a minute apart). */
enum { M_MOD, M_MIN, M_DEP, M_SUB, M_SIB, M_OTHER, M_MOVED, MESSAGES };
static const char *const NAMES[MESSAGES] = {"MOD", "MIN", "DEP", "SUB", "SIB", "OTHER", "MOVED"};
static const char DEP_TEXT[] = "Не работает уличное освещение";

typedef okno_rm_msg msg;

static struct {
    okno_itest_db db;
    okno_directory dir;
    PGconn *admin;   /* as the owner */
    PGconn *gateway; /* as okno_gateway, opened before any replay */
    okno_projector proj;
    msg m[MESSAGES];
    uint64_t next_request;
} L;

/* ---- the script --------------------------------------------------------------------------- */

static void project(void)
{
    okno_rm_project_all(&L.proj);
}

/* Decides req on message m at now_ms with the core (it must be accepted) and appends. */
static void act(msg *m, okno_request req, int64_t now_ms)
{
    okno_uuid rid = {{0x7e, 0x57}};
    uint64_t n = ++L.next_request;
    memcpy(rid.bytes + 8, &n, sizeof n);
    req.request_id = rid;
    okno_rm_act(L.admin, &L.dir, m, req, now_ms);
}

static okno_request by(okno_action action, okno_user_id user, okno_org_id org)
{
    return (okno_request){.action = action, .acting_user_id = user, .acting_org_id = org};
}

static void submit(msg *m, okno_user_id applicant, int64_t at, const char *text)
{
    okno_request r = by(OKNO_ACTION_SUBMIT, applicant, 0);
    r.applicant_id = applicant;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = 1;
    r.text = okno_str_c(text);
    act(m, r, at);
}

static void accept_to(msg *m, okno_org_id org, int64_t at)
{
    okno_request r = by(OKNO_ACTION_ACCEPT, MODERATOR, OPERATOR);
    r.target_org_id = org;
    r.category_id = 1;
    act(m, r, at);
}

static void script(void)
{
    for (int i = 0; i < MESSAGES; i++)
        submit(&L.m[i], i == M_OTHER ? APPL2 : APPL1, T0 + i * MIN_MS,
               i == M_DEP ? DEP_TEXT : "Сообщение");
    static const okno_org_id to[MESSAGES] = {0, MIN, DEP, SUB, SIB, OTHER, DEP};
    for (int i = 1; i < MESSAGES; i++)
        accept_to(&L.m[i], to[i], T0 + HOUR_MS + i * MIN_MS);
    /* DEP: in execution, taken into work by its executor. */
    okno_request r = by(OKNO_ACTION_ASSIGN_EXECUTOR, D_COORD, DEP);
    r.target_user_id = D_EXEC;
    act(&L.m[M_DEP], r, T0 + 2 * HOUR_MS);
    act(&L.m[M_DEP], by(OKNO_ACTION_TAKE_INTO_WORK, D_EXEC, DEP), T0 + 3 * HOUR_MS);
    /* MOVED: redirected from DEP to OTHER, which DEP once held. */
    r = by(OKNO_ACTION_PROPOSE_REDIRECT, D_COORD, DEP);
    r.target_org_id = OTHER;
    r.agreers[0] = D_M7;
    r.agreers_count = 1;
    r.approver_user_id = D_M5;
    act(&L.m[M_MOVED], r, T0 + 2 * HOUR_MS);
    act(&L.m[M_MOVED], by(OKNO_ACTION_AGREE, D_M7, DEP), T0 + 3 * HOUR_MS);
    act(&L.m[M_MOVED], by(OKNO_ACTION_APPROVE, D_M5, DEP), T0 + 4 * HOUR_MS);
    project();
}

/* ---- reading as the gateway ---------------------------------------------------------------- */

typedef struct caller {
    const char *label;
    struct okno_rm_caller who;
    const char *sees; /* the message names visible, sorted, space-separated */
} caller;

/* Every kind of caller: staff by role and org, applicants, and callers that must see nothing. */
static const caller CALLERS[] = {
    {"executor of DEP", {D_EXEC, DEP, false}, "DEP MOVED"},
    {"coordinator (and moderator) of DEP", {D_COORD, DEP, false}, "DEP MOVED"},
    {"org_admin of DEP", {D_ADMIN, DEP, false}, "DEP MOVED SUB"},
    {"manager of DEP", {D_M5, DEP, false}, "DEP MOVED"},
    {"curator of MIN", {MIN_CUR, MIN, false}, "DEP MIN MOVED SIB SUB"},
    {"moderator of the operator org",
     {MODERATOR, OPERATOR, false},
     "DEP MIN MOD MOVED OTHER SIB SUB"},
    {"executor of OTHER", {O_EXEC, OTHER, false}, "MOVED OTHER"},
    {"intake operator", {INTAKE_OP, INTAKE, false}, ""},
    {"applicant 1", {APPL1, 0, true}, "DEP MIN MOD MOVED SIB SUB"},
    {"applicant 2", {APPL2, 0, true}, "OTHER"},
    {"a user without a grant in DEP", {STRANGER, DEP, false}, ""},
    {"DEP's executor acting for OTHER", {D_EXEC, OTHER, false}, ""},
    {"applicant 1 posing as DEP staff", {APPL1, DEP, false}, ""},
    {"DEP's executor posing as an applicant", {D_EXEC, 0, true}, ""},
};

/* Begins a read-only transaction on g with the caller's settings (none when who is NULL), as a
 * hand-written query would. */
static void set_caller(PGconn *g, const struct okno_rm_caller *who)
{
    okno_itest_exec(g, "begin read only");
    if (who == NULL)
        return;
    char org[24] = "", sql[256];
    if (!who->applicant)
        snprintf(org, sizeof org, "%" PRId64, who->org_id);
    snprintf(sql, sizeof sql,
             "select set_config('okno.caller_user', '%" PRId64 "', true),"
             " set_config('okno.caller_org', '%s', true),"
             " set_config('okno.caller_applicant', '%s', true)",
             who->user_id, org, who->applicant ? "true" : "false");
    okno_itest_exec(g, sql);
}

static const char *name_of(const char *id_text)
{
    for (int i = 0; i < MESSAGES; i++)
        if (strcmp(L.m[i].id_text, id_text) == 0)
            return NAMES[i];
    return "?";
}

/* The names of the distinct message ids sql returns (column 0), sorted, space-separated. */
static char *names_of(PGconn *g, const char *sql)
{
    PGresult *res = PQexec(g, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    const char *found[MESSAGES + 8];
    int n = 0;
    for (int i = 0; i < PQntuples(res) && n < MESSAGES + 8; i++) {
        const char *name = name_of(PQgetvalue(res, i, 0));
        bool dup = false;
        for (int k = 0; k < n; k++)
            dup = dup || strcmp(found[k], name) == 0;
        if (!dup)
            found[n++] = name;
    }
    for (int i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (int k = i; k > 0 && strcmp(found[k - 1], found[k]) > 0; k--) {
            const char *t = found[k];
            found[k] = found[k - 1];
            found[k - 1] = t;
        }
    char *out = calloc(1, 256);
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), 256 - strlen(out), "%s%s", i ? " " : "", found[i]);
    PQclear(res);
    return out;
}

static void expect_names(PGconn *g, const char *label, const char *sql, const char *want)
{
    char *got = names_of(g, sql);
    if (strcmp(got, want) != 0)
        fail_msg("%s, %s: sees \"%s\", the rule says \"%s\"", label, sql, got, want);
    free(got);
}

/* The tables where every message has rows: the caller sees exactly their messages there. */
static const char *const EVERY_MESSAGE_SQL[] = {
    "select message_id::text from okno_rm.card",
    "select message_id::text from okno_rm.stage_visits",
    "select message_id::text from okno_rm.applicant_timeline",
    "select message_id::text from okno.event_log",
    "select message_id::text from okno.stream_heads",
};

static void database_level(PGconn *g, const caller *c)
{
    set_caller(g, &c->who);
    for (size_t t = 0; t < sizeof EVERY_MESSAGE_SQL / sizeof *EVERY_MESSAGE_SQL; t++)
        expect_names(g, c->label, EVERY_MESSAGE_SQL[t], c->sees);
    /* Inbox rows are open tasks: the caller sees those of exactly their visible messages. */
    char *all = names_of(L.admin, "select message_id::text from okno_rm.inbox");
    char want[256] = "", sees[128], padded[64];
    snprintf(sees, sizeof sees, " %s ", c->sees);
    for (char *name = strtok(all, " "); name != NULL; name = strtok(NULL, " ")) {
        snprintf(padded, sizeof padded, " %s ", name);
        if (strstr(sees, padded) != NULL)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", want[0] ? " " : "",
                     name);
    }
    free(all);
    expect_names(g, c->label, "select message_id::text from okno_rm.inbox", want);
    okno_itest_exec(g, "commit");
}

/* Every call on every message: OK exactly when visible, else OKNO_ENOTFOUND. */
static void call_level(PGconn *g, const caller *c)
{
    char err[ERR_BYTES], sees[128], padded[64];
    snprintf(sees, sizeof sees, " %s ", c->sees);
    for (int i = 0; i < MESSAGES; i++) {
        snprintf(padded, sizeof padded, " %s ", NAMES[i]);
        int want = strstr(sees, padded) != NULL ? OKNO_OK : OKNO_ENOTFOUND;
        json_t *out;
        int rc = okno_rm_card(g, &c->who, L.m[i].id.bytes, T0, &out, err, sizeof err);
        if (rc != want)
            fail_msg("%s, card of %s: %d (%s), want %d", c->label, NAMES[i], rc, err, want);
        json_decref(out);
        rc = okno_rm_history(g, &c->who, L.m[i].id.bytes, &out, err, sizeof err);
        if (rc != want)
            fail_msg("%s, history of %s: %d (%s), want %d", c->label, NAMES[i], rc, err, want);
        json_decref(out);
        rc = okno_rm_timeline(g, &c->who, L.m[i].id.bytes, &out, err, sizeof err);
        if (rc != want)
            fail_msg("%s, timeline of %s: %d (%s), want %d", c->label, NAMES[i], rc, err, want);
        json_decref(out);
    }
    /* A message that does not exist answers exactly as an invisible one. */
    uint8_t missing[16] = {0xde, 0xad};
    json_t *out;
    assert_int_equal(okno_rm_card(g, &c->who, missing, T0, &out, err, sizeof err), OKNO_ENOTFOUND);
    assert_null(out);
    assert_int_equal(PQtransactionStatus(g), PQTRANS_IDLE);
}

static void visibility_matrix_is_exactly_the_rule(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CALLERS / sizeof *CALLERS; i++) {
        database_level(L.gateway, &CALLERS[i]);
        call_level(L.gateway, &CALLERS[i]);
    }
    print_message("%zu callers x %d messages: visibility is exactly the rule\n",
                  sizeof CALLERS / sizeof *CALLERS, MESSAGES);
}

/* okno_rm_visible_many (the gateway's write batches): every caller's pairs interleaved in one
 * call, each judged by its own caller's rule, as okno_rm_visible judges it alone; twenty more
 * callers without grants take the call past OKNO_RM_VISIBLE_CALLERS (a second round trip). */
#define STRANGERS 20
#define PAIRS_MAX ((sizeof CALLERS / sizeof *CALLERS + STRANGERS) * (MESSAGES + 1))

static void visible_many_judges_each_pair_by_its_own_caller(void **state)
{
    (void)state;
    static struct okno_rm_caller who[PAIRS_MAX];
    static uint8_t ids[PAIRS_MAX][16];
    static bool want[PAIRS_MAX], got[PAIRS_MAX];
    const uint8_t missing[16] = {0xde, 0xad};
    size_t callers = sizeof CALLERS / sizeof *CALLERS, n = 0;
    for (int i = 0; i <= MESSAGES; i++) {
        for (size_t c = 0; c < callers + STRANGERS; c++) {
            who[n] = c < callers ? CALLERS[c].who
                                 : (struct okno_rm_caller){STRANGER + 1 + (int64_t)c, DEP, false};
            memcpy(ids[n], i < MESSAGES ? L.m[i].id.bytes : missing, 16);
            char sees[128], padded[64];
            snprintf(sees, sizeof sees, " %s ", c < callers ? CALLERS[c].sees : "");
            snprintf(padded, sizeof padded, " %s ", i < MESSAGES ? NAMES[i] : "none");
            want[n++] = strstr(sees, padded) != NULL;
        }
    }
    assert_true(callers + STRANGERS > OKNO_RM_VISIBLE_CALLERS);
    char err[ERR_BYTES];
    assert_int_equal(okno_rm_visible_many(L.gateway, who, ids, (int)n, got, err, sizeof err), 0);
    for (size_t k = 0; k < n; k++) {
        char alone[ERR_BYTES];
        bool one = okno_rm_visible(L.gateway, &who[k], ids[k], alone, sizeof alone) == OKNO_OK;
        if (got[k] != want[k] || one != want[k])
            fail_msg("pair %zu (user %" PRId64 ", org %" PRId64 "): many %d, alone %d, want %d", k,
                     who[k].user_id, who[k].org_id, got[k], one, want[k]);
    }
    assert_int_equal(PQtransactionStatus(L.gateway), PQTRANS_IDLE);
    print_message("%zu pairs of %zu callers in one call: each by its own caller's rule\n", n,
                  callers + STRANGERS);
}

static void expect_error(PGconn *g, const char *sql, const char *sqlstate)
{
    okno_itest_exec(g, "begin");
    PGresult *res = PQexec(g, sql);
    const char *got = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (got == NULL || strcmp(got, sqlstate) != 0)
        fail_msg("%s: SQLSTATE %s (%s), want %s", sql, got ? got : "none",
                 PQresultErrorMessage(res), sqlstate);
    PQclear(res);
    okno_itest_exec(g, "rollback");
}

static void gateway_role_cannot_read_another_orgs_rows(void **state)
{
    (void)state;
    PGconn *g = L.gateway;
    /* The role itself: no superuser, no BYPASSRLS, owns nothing. */
    assert_int_equal(okno_itest_query_ll(L.admin, "select count(*) from pg_roles where rolname ="
                                                  " 'okno_gateway' and not rolsuper and not"
                                                  " rolbypassrls and rolcanlogin"),
                     1);
    assert_int_equal(okno_itest_query_ll(L.admin, "select count(*) from pg_class where relowner ="
                                                  " 'okno_gateway'::regrole"),
                     0);
    /* Org DEP's executor, a hand-written query over everything: none of OTHER's rows. */
    const struct okno_rm_caller dep = {D_EXEC, DEP, false};
    set_caller(g, &dep);
    assert_int_equal(okno_itest_query_ll(g, "select count(*) from okno_rm.card where holding_org"
                                            " = 2000 and message_id <> (select message_id from"
                                            " okno_rm.stage_visits where org_id = 1100 and"
                                            " stage = 'agreement')"),
                     0);
    assert_int_equal(okno_itest_query_ll(g, "select count(*) from okno.event_log where org = 2000"
                                            " and event_type = 'executor_assigned'"),
                     0);
    expect_names(g, "DEP", "select * from okno_rm.card", "DEP MOVED");
    expect_names(g, "DEP", "select * from okno.event_log", "DEP MOVED");
    okno_itest_exec(g, "commit");
    /* No caller: nothing at all, in every table. */
    set_caller(g, NULL);
    for (size_t t = 0; t < sizeof EVERY_MESSAGE_SQL / sizeof *EVERY_MESSAGE_SQL; t++)
        expect_names(g, "no caller", EVERY_MESSAGE_SQL[t], "");
    expect_names(g, "no caller", "select message_id::text from okno_rm.inbox", "");
    /* The counters (migration 0014: the org's scope, for the reports) show no caller none. */
    assert_true(okno_itest_query_ll(L.admin, "select count(*) from okno_rm.stats_daily") > 0);
    assert_int_equal(okno_itest_query_ll(g, "select count(*) from okno_rm.stats_daily"), 0);
    okno_itest_exec(g, "commit");
    /* Nothing else is readable, nothing writable, and the policies cannot be lifted. */
    expect_error(g, "select * from okno_rm.meta", "42501");
    expect_error(g, "select * from okno_rm.inbox_v", "42501");
    expect_error(g, "select * from okno.grants", "42501");
    expect_error(g, "select * from okno.requests", "42501");
    expect_error(g, "select * from okno.event_log_p00", "42501");
    expect_error(g, "select state from okno.stream_heads", "42501");
    expect_error(g, "update okno_rm.card set holding_org = 1", "42501");
    expect_error(g, "alter table okno_rm.card disable row level security", "42501");
    expect_error(g, "set row_security = off; select * from okno_rm.card", "42501");
    /* The policies' functions are the rule, not a way around it: no caller, nothing. */
    okno_itest_exec(g, "begin");
    char sql[256];
    snprintf(sql, sizeof sql, "select okno.rm_visible_message('%s', okno.rm_caller())::int",
             L.m[M_DEP].id_text);
    assert_int_equal(okno_itest_query_ll(g, sql), 0);
    okno_itest_exec(g, "rollback");
}

/* ---- the swap ------------------------------------------------------------------------------ */

static void replay_swap(void)
{
    okno_replay_options o;
    okno_replay_options_init(&o);
    o.conninfo = L.db.admin_conninfo;
    o.schema = "okno_rm";
    o.keep_old = true; /* the old tables stay: a reader bound to them would still find rows */
    okno_replay_result r;
    if (okno_replay_run(&o, &r) != 0)
        fail_msg("replay: %s", r.error);
}

static void policies_hold_after_a_replay_swap(void **state)
{
    (void)state;
    char err[ERR_BYTES];
    json_t *out;
    const struct okno_rm_caller dep = {D_EXEC, DEP, false};
    /* The gateway's connection has read (and planned the policy functions) before the swap. */
    assert_int_equal(okno_rm_card(L.gateway, &dep, L.m[M_DEP].id.bytes, T0, &out, err, sizeof err),
                     OKNO_OK);
    json_decref(out);
    long long old_oid = okno_itest_query_ll(L.admin, "select 'okno_rm.card'::regclass::oid");
    replay_swap();
    assert_true(okno_itest_query_ll(L.admin, "select 'okno_rm.card'::regclass::oid") != old_oid);
    assert_int_equal(okno_itest_query_ll(L.admin, "select count(*) from pg_namespace where nspname"
                                                  " = 'okno_rm_old'"),
                     1);
    /* The new schema has the policies, forced, and the gateway's grants. */
    assert_int_equal(okno_itest_query_ll(L.admin, "select count(*) from pg_policies where"
                                                  " schemaname = 'okno_rm'"),
                     15);
    assert_int_equal(okno_itest_query_ll(L.admin, "select count(*) from pg_class c join"
                                                  " pg_namespace n on n.oid = c.relnamespace where"
                                                  " n.nspname = 'okno_rm' and c.relrowsecurity and"
                                                  " c.relforcerowsecurity"),
                     5);
    /* Only the new tables change: the old connection reads the change. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "update okno_rm.card set message_text = 'после замены' where message_id = '%s'",
             L.m[M_DEP].id_text);
    okno_itest_exec(L.admin, sql);
    assert_int_equal(okno_rm_card(L.gateway, &dep, L.m[M_DEP].id.bytes, T0, &out, err, sizeof err),
                     OKNO_OK);
    assert_string_equal(json_string_value(json_object_get(out, "text")), "после замены");
    json_decref(out);
    /* The live projector goes on into the new schema; the old reader sees its rows. */
    okno_request r = by(OKNO_ACTION_ASSIGN_EXECUTOR, O_COORD, OTHER);
    r.target_user_id = O_EXEC;
    act(&L.m[M_MOVED], r, T0 + 5 * HOUR_MS);
    project();
    const struct okno_rm_caller other = {O_EXEC, OTHER, false};
    struct okno_rm_page page = {.limit = 10};
    assert_int_equal(okno_rm_inbox(L.gateway, &other, NULL, &page, T0, &out, err, sizeof err),
                     OKNO_OK);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "task")),
                        "take_into_work");
    json_decref(out);
    /* And the whole matrix again, through the connection opened before the swap. */
    for (size_t i = 0; i < sizeof CALLERS / sizeof *CALLERS; i++) {
        database_level(L.gateway, &CALLERS[i]);
        call_level(L.gateway, &CALLERS[i]);
    }
    /* A message that exists only in the new schema: visible through the policies of the rows
     * that carry only its id (they look its card up by name, at run time). */
    msg fresh = {.id = {{0xf5, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x77, 0x88}}};
    submit(&fresh, APPL2, T0 + 6 * HOUR_MS, "После замены");
    project();
    const struct okno_rm_caller appl2 = {APPL2, 0, true};
    assert_int_equal(okno_rm_timeline(L.gateway, &appl2, fresh.id.bytes, &out, err, sizeof err),
                     OKNO_OK);
    assert_int_equal(json_array_size(json_object_get(out, "entries")), 1);
    json_decref(out);
    assert_int_equal(okno_rm_history(L.gateway, &appl2, fresh.id.bytes, &out, err, sizeof err),
                     OKNO_OK);
    assert_int_equal(json_array_size(json_object_get(out, "events")), 1);
    json_decref(out);
    okno_itest_exec(L.admin, "drop schema okno_rm_old cascade");
}

/* ---- JSON shapes --------------------------------------------------------------------------- */

static const char *s_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(v);
}

static long long i_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return (long long)json_integer_value(v);
}

static void is_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_null(v))
        fail_msg("\"%s\" is not null", key);
}

/* A read is one pipeline (begin, caller, query, commit): a query that fails aborts the rest,
 * the call says why, and the connection comes back idle and usable. */
static void a_failed_read_leaves_the_connection_idle_and_usable(void **state)
{
    (void)state;
    char err[ERR_BYTES];
    json_t *c = NULL;
    const struct okno_rm_caller exec = {D_EXEC, DEP, false};
    int64_t now = T0 + 4 * HOUR_MS;
    okno_itest_exec(L.admin, "alter schema okno_rm rename to okno_rm_away");
    int rc = okno_rm_card(L.gateway, &exec, L.m[M_DEP].id.bytes, now, &c, err, sizeof err);
    okno_itest_exec(L.admin, "alter schema okno_rm_away rename to okno_rm");
    assert_int_equal(rc, OKNO_EPG);
    assert_null(c);
    assert_non_null(strstr(err, "okno_rm"));
    assert_int_equal(PQtransactionStatus(L.gateway), PQTRANS_IDLE);
    assert_int_equal(PQpipelineStatus(L.gateway), PQ_PIPELINE_OFF);
    assert_int_equal(okno_rm_card(L.gateway, &exec, L.m[M_DEP].id.bytes, now, &c, err, sizeof err),
                     OKNO_OK);
    json_decref(c);
}

static void card_json_field_by_field(void **state)
{
    (void)state;
    char err[ERR_BYTES];
    json_t *c;
    const struct okno_rm_caller exec = {D_EXEC, DEP, false};
    int64_t now = T0 + 4 * HOUR_MS;
    assert_int_equal(okno_rm_card(L.gateway, &exec, L.m[M_DEP].id.bytes, now, &c, err, sizeof err),
                     OKNO_OK);
    char *dump = json_dumps(c, JSON_SORT_KEYS);
    print_message("card: %s\n", dump);
    free(dump);
    assert_string_equal(s_of(c, "message_id"), L.m[M_DEP].id_text);
    assert_int_equal(i_of(c, "seq"), 4);
    assert_string_equal(s_of(c, "status"), "execution");
    assert_string_equal(s_of(c, "stage"), "execution");
    assert_string_equal(s_of(c, "outcome"), "open");
    assert_int_equal(i_of(c, "holding_org"), DEP);
    assert_int_equal(json_array_size(json_object_get(c, "upstream_orgs")), 0);
    assert_int_equal(i_of(c, "applicant_id"), APPL1);
    assert_string_equal(s_of(c, "channel"), "portal");
    assert_int_equal(i_of(c, "category_id"), 1);
    assert_int_equal(i_of(c, "total_days"), 30);
    assert_string_equal(s_of(c, "submitted_at"), "2026-03-02T06:02:00.000Z");
    assert_string_equal(s_of(c, "text"), DEP_TEXT);
    assert_int_equal(i_of(c, "executor"), D_EXEC);
    assert_true(json_is_true(json_object_get(c, "in_work")));
    is_null(c, "review_subject");
    assert_int_equal(json_array_size(json_object_get(c, "agreers")), 0);
    assert_int_equal(json_array_size(json_object_get(c, "agreer_decisions")), 0);
    is_null(c, "approver");
    is_null(c, "redirect_org");
    is_null(c, "answer_type");
    is_null(c, "answer_text");
    assert_true(json_is_false(json_object_get(c, "interim_sent")));
    is_null(c, "postponed_until");
    /* 30 days from submission (+2m). */
    assert_string_equal(s_of(c, "answer_deadline"), "2026-04-01T06:02:00.000Z");
    assert_string_equal(s_of(c, "deadline_started_at"), "2026-03-02T06:02:00.000Z");
    assert_string_equal(s_of(c, "expected_answer_at"), "2026-04-01T06:02:00.000Z");
    assert_string_equal(s_of(c, "stage_entered_at"), "2026-03-02T08:00:00.000Z");
    /* Execution's share is 65 % of 30 days: 468 h. */
    assert_int_equal(i_of(c, "stage_budget_ms"), 468 * HOUR_MS);
    assert_string_equal(s_of(c, "stage_due_at"), "2026-03-21T20:00:00.000Z");
    assert_int_equal(i_of(c, "stage_time_left_ms"), 468 * HOUR_MS - 2 * HOUR_MS);
    assert_int_equal(i_of(c, "answer_time_left_ms"), 30 * DAY_MS + 2 * MIN_MS - 4 * HOUR_MS);
    assert_true(json_is_false(json_object_get(c, "stage_time_exceeded")));
    assert_true(json_is_false(json_object_get(c, "answer_deadline_expired")));
    assert_true(json_is_false(json_object_get(c, "stage_time_approaching")));
    assert_true(json_is_false(json_object_get(c, "answer_deadline_approaching")));
    assert_true(json_is_false(json_object_get(c, "postponed_date_reached")));
    is_null(c, "answer_postponed_until");
    assert_int_equal(json_array_size(json_object_get(c, "stage_visits")), 5);
    json_t *used = json_object_get(c, "stage_used_ms");
    assert_int_equal(json_array_size(used), 5);
    assert_int_equal(json_integer_value(json_array_get(used, 0)),
                     HOUR_MS + 2 * MIN_MS - 2 * MIN_MS);
    assert_string_equal(s_of(c, "applicant_status"), "in_progress");
    assert_string_equal(s_of(c, "applicant_status_text"), "Сообщение рассматривается");
    is_null(c, "closed_at");
    assert_string_equal(s_of(c, "last_event_type"), "taken_into_work");
    assert_string_equal(s_of(c, "last_event_at"), "2026-03-02T09:00:00.000Z");
    assert_true(json_is_false(json_object_get(c, "read_only")));
    json_t *visits = json_object_get(c, "visits");
    assert_int_equal(json_array_size(visits), 3);
    json_t *v0 = json_array_get(visits, 0), *v2 = json_array_get(visits, 2);
    assert_string_equal(s_of(v0, "stage"), "moderation");
    assert_int_equal(i_of(v0, "org_id"), OPERATOR);
    assert_int_equal(i_of(v0, "left_by"), MODERATOR);
    assert_int_equal(i_of(v0, "duration_ms"), HOUR_MS);
    assert_string_equal(s_of(v2, "stage"), "execution");
    assert_int_equal(i_of(v2, "assignee"), D_EXEC);
    is_null(v2, "left_at");
    json_decref(c);
    /* A message DEP only once held: read-only for it. */
    assert_int_equal(
        okno_rm_card(L.gateway, &exec, L.m[M_MOVED].id.bytes, now, &c, err, sizeof err), OKNO_OK);
    assert_true(json_is_true(json_object_get(c, "read_only")));
    assert_int_equal(i_of(c, "holding_org"), OTHER);
    json_decref(c);
}

static void history_json_is_the_verified_chain(void **state)
{
    (void)state;
    char err[ERR_BYTES];
    json_t *h;
    const struct okno_rm_caller cur = {MIN_CUR, MIN, false};
    assert_int_equal(okno_rm_history(L.gateway, &cur, L.m[M_MOVED].id.bytes, &h, err, sizeof err),
                     OKNO_OK);
    assert_string_equal(s_of(h, "message_id"), L.m[M_MOVED].id_text);
    assert_true(json_is_true(json_object_get(h, "chain_verified")));
    json_t *events = json_object_get(h, "events");
    assert_int_equal(json_array_size(events), 5);
    static const char *const types[] = {"message_submitted", "message_accepted",
                                        "redirect_proposed", "agreement_given", "approval_given"};
    for (size_t i = 0; i < 5; i++) {
        json_t *e = json_array_get(events, i);
        assert_int_equal(i_of(e, "seq"), (long long)i + 1);
        assert_string_equal(s_of(e, "type"), types[i]);
        assert_int_equal(strlen(s_of(e, "hash")), 64);
        assert_true(i_of(e, "position") > 0);
    }
    json_t *proposed = json_array_get(events, 2);
    assert_int_equal(i_of(proposed, "actor_user"), D_COORD);
    assert_int_equal(i_of(proposed, "actor_org"), DEP);
    assert_int_equal(i_of(proposed, "target_org"), OTHER);
    assert_int_equal(i_of(proposed, "approver"), D_M5);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(proposed, "agreers"), 0)),
                     D_M7);
    assert_string_equal(s_of(proposed, "stage_before"), "coordination");
    assert_string_equal(s_of(proposed, "stage_after"), "agreement");
    assert_string_equal(s_of(proposed, "at"), "2026-03-02T08:00:00.000Z");
    json_t *approved = json_array_get(events, 4);
    assert_int_equal(i_of(approved, "holding_org"), OTHER);
    assert_string_equal(s_of(approved, "outcome"), "open");
    assert_string_equal(s_of(json_array_get(events, 0), "text"), "Сообщение");
    json_decref(h);
    /* One byte of one body changed past the triggers: the chain does not verify. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "update okno.event_log set body = set_byte(body, 30, get_byte(body, 30) # 1)"
             " where message_id = '%s' and seq = 3",
             L.m[M_MOVED].id_text);
    okno_itest_exec(L.admin, "set session_replication_role = replica");
    okno_itest_exec(L.admin, sql);
    okno_itest_exec(L.admin, "reset session_replication_role");
    assert_int_equal(okno_rm_history(L.gateway, &cur, L.m[M_MOVED].id.bytes, &h, err, sizeof err),
                     OKNO_EDECODE);
    assert_null(h);
    print_message("tampered: %s\n", err);
    assert_non_null(strstr(err, "hash chain broken at seq 3"));
    okno_itest_exec(L.admin, "set session_replication_role = replica");
    okno_itest_exec(L.admin, sql); /* the same flip again restores the byte */
    okno_itest_exec(L.admin, "reset session_replication_role");
    assert_int_equal(okno_rm_history(L.gateway, &cur, L.m[M_MOVED].id.bytes, &h, err, sizeof err),
                     OKNO_OK);
    json_decref(h);
}

static void timeline_json_in_russian(void **state)
{
    (void)state;
    char err[ERR_BYTES];
    json_t *t;
    const struct okno_rm_caller appl = {APPL1, 0, true};
    assert_int_equal(okno_rm_timeline(L.gateway, &appl, L.m[M_DEP].id.bytes, &t, err, sizeof err),
                     OKNO_OK);
    assert_string_equal(s_of(t, "message_id"), L.m[M_DEP].id_text);
    assert_string_equal(s_of(t, "status"), "in_progress");
    assert_string_equal(s_of(t, "status_text"), "Сообщение рассматривается");
    assert_string_equal(s_of(t, "expected_answer_date"), "2026-04-01");
    assert_string_equal(s_of(t, "submitted_at"), "2026-03-02T06:02:00.000Z");
    is_null(t, "closed_at");
    json_t *entries = json_object_get(t, "entries");
    assert_int_equal(json_array_size(entries), 3);
    json_t *e0 = json_array_get(entries, 0), *e2 = json_array_get(entries, 2);
    assert_int_equal(i_of(e0, "seq"), 1);
    assert_string_equal(s_of(e0, "at"), "2026-03-02T06:02:00.000Z");
    assert_string_equal(s_of(e0, "status"), "submitted");
    assert_string_equal(s_of(e0, "status_text"), "Сообщение отправлено и ожидает модерации");
    is_null(e0, "detail");
    assert_string_equal(s_of(e2, "status"), "in_progress");
    json_decref(t);
}

static void inbox_json_and_pages(void **state)
{
    (void)state;
    char err[ERR_BYTES];
    json_t *p;
    int64_t now = T0 + 4 * HOUR_MS;
    struct okno_rm_page page = {.limit = 10};
    const struct okno_rm_caller exec = {D_EXEC, DEP, false};
    assert_int_equal(okno_rm_inbox(L.gateway, &exec, NULL, &page, now, &p, err, sizeof err),
                     OKNO_OK);
    json_t *items = json_object_get(p, "items");
    assert_int_equal(json_array_size(items), 1);
    is_null(p, "next");
    json_t *it = json_array_get(items, 0);
    assert_string_equal(s_of(it, "message_id"), L.m[M_DEP].id_text);
    assert_string_equal(s_of(it, "role"), "executor");
    assert_string_equal(s_of(it, "task"), "draft_answer");
    assert_string_equal(s_of(it, "stage"), "execution");
    assert_int_equal(i_of(it, "assignee"), D_EXEC);
    assert_int_equal(i_of(it, "category_id"), 1);
    assert_string_equal(s_of(it, "since"), "2026-03-02T08:00:00.000Z");
    assert_string_equal(s_of(it, "stage_due_at"), "2026-03-21T20:00:00.000Z");
    assert_string_equal(s_of(it, "answer_deadline"), "2026-04-01T06:02:00.000Z");
    assert_int_equal(i_of(it, "stage_time_left_ms"), 466 * HOUR_MS);
    assert_int_equal(i_of(it, "answer_time_left_ms"), 30 * DAY_MS + 2 * MIN_MS - 4 * HOUR_MS);
    assert_true(json_is_false(json_object_get(it, "stage_time_exceeded")));
    assert_true(json_is_false(json_object_get(it, "answer_deadline_expired")));
    is_null(it, "review_subject");
    json_decref(p);
    /* The moderator's inbox: MOD, one page of one item at a time. */
    const struct okno_rm_caller mod = {MODERATOR, OPERATOR, false};
    page.limit = 1;
    assert_int_equal(okno_rm_inbox(L.gateway, &mod, "moderator", &page, now, &p, err, sizeof err),
                     OKNO_OK);
    assert_int_equal(json_array_size(json_object_get(p, "items")), 1);
    assert_string_equal(s_of(json_array_get(json_object_get(p, "items"), 0), "task"), "moderate");
    is_null(p, "next");
    json_decref(p);
    /* OTHER's coordinator: OTHER and MOVED wait for coordination, one page at a time, in the
     * order they arrived (OTHER accepted at +1h5m, MOVED redirected at +4h). */
    const struct okno_rm_caller coord = {O_COORD, OTHER, false};
    char cursor[OKNO_RM_CURSOR_BYTES];
    assert_int_equal(okno_rm_inbox(L.gateway, &coord, NULL, &page, now, &p, err, sizeof err),
                     OKNO_OK);
    items = json_object_get(p, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(s_of(json_array_get(items, 0), "message_id"), L.m[M_OTHER].id_text);
    assert_string_equal(s_of(json_array_get(items, 0), "task"), "coordinate");
    is_null(json_array_get(items, 0), "assignee");
    snprintf(cursor, sizeof cursor, "%s", s_of(p, "next"));
    json_decref(p);
    page.after = cursor;
    assert_int_equal(
        okno_rm_inbox(L.gateway, &coord, "coordinator", &page, now, &p, err, sizeof err), OKNO_OK);
    items = json_object_get(p, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(s_of(json_array_get(items, 0), "message_id"), L.m[M_MOVED].id_text);
    is_null(p, "next");
    json_decref(p);
    page.after = NULL;
    /* DEP's executor asking as a coordinator, a role they do not hold: nothing. */
    assert_int_equal(
        okno_rm_inbox(L.gateway, &exec, "coordinator", &page, now, &p, err, sizeof err), OKNO_OK);
    assert_int_equal(json_array_size(json_object_get(p, "items")), 0);
    json_decref(p);
    /* Bad input: a clear error, nothing read. */
    assert_int_equal(okno_rm_inbox(L.gateway, &exec, "boss", &page, now, &p, err, sizeof err),
                     OKNO_EINVAL);
    assert_non_null(strstr(err, "unknown role"));
    page.limit = 0;
    assert_int_equal(okno_rm_inbox(L.gateway, &exec, NULL, &page, now, &p, err, sizeof err),
                     OKNO_EINVAL);
    page = (struct okno_rm_page){.limit = 5, .after = "i.1.2.3.4"};
    assert_int_equal(okno_rm_inbox(L.gateway, &exec, NULL, &page, now, &p, err, sizeof err),
                     OKNO_EINVAL);
    char extra[OKNO_RM_CURSOR_BYTES];
    snprintf(extra, sizeof extra, "i.1.%s.executor.0.9", L.m[M_DEP].id_text);
    page.after = extra; /* a good cursor with one part too many */
    assert_int_equal(okno_rm_inbox(L.gateway, &exec, NULL, &page, now, &p, err, sizeof err),
                     OKNO_EINVAL);
    extra[strlen(extra) - 2] = '\0'; /* the good cursor itself */
    assert_int_equal(okno_rm_inbox(L.gateway, &exec, NULL, &page, now, &p, err, sizeof err),
                     OKNO_OK);
    json_decref(p);
    page.after = "i.1'; drop table okno_rm.card; --";
    assert_int_equal(okno_rm_inbox(L.gateway, &exec, NULL, &page, now, &p, err, sizeof err),
                     OKNO_EINVAL);
    const struct okno_rm_caller appl = {APPL1, 0, true};
    page.after = NULL;
    assert_int_equal(okno_rm_inbox(L.gateway, &appl, NULL, &page, now, &p, err, sizeof err),
                     OKNO_EINVAL);
    assert_null(p);
    assert_int_equal(PQtransactionStatus(L.gateway), PQTRANS_IDLE);
}

static void my_messages_newest_first_by_pages(void **state)
{
    (void)state;
    char err[ERR_BYTES];
    const struct okno_rm_caller appl = {APPL1, 0, true};
    static const int order[] = {M_MOVED, M_SIB, M_SUB, M_DEP, M_MIN, M_MOD};
    struct okno_rm_page page = {.limit = 4};
    char cursor[OKNO_RM_CURSOR_BYTES];
    int seen = 0;
    for (int pages = 0; pages < 2; pages++) {
        json_t *p;
        assert_int_equal(okno_rm_my_messages(L.gateway, &appl, &page, &p, err, sizeof err),
                         OKNO_OK);
        json_t *items = json_object_get(p, "items");
        for (size_t i = 0; i < json_array_size(items); i++, seen++) {
            json_t *it = json_array_get(items, i);
            assert_string_equal(s_of(it, "message_id"), L.m[order[seen]].id_text);
            assert_non_null(json_object_get(it, "status_text"));
        }
        if (pages == 0) {
            assert_int_equal(json_array_size(items), 4);
            snprintf(cursor, sizeof cursor, "%s", s_of(p, "next"));
            page.after = cursor;
            json_t *dep = json_array_get(items, 3);
            assert_string_equal(s_of(dep, "text"), DEP_TEXT);
            assert_string_equal(s_of(dep, "status"), "in_progress");
            assert_string_equal(s_of(dep, "status_text"), "Сообщение рассматривается");
            assert_string_equal(s_of(dep, "expected_answer_date"), "2026-04-01");
            assert_string_equal(s_of(dep, "submitted_at"), "2026-03-02T06:02:00.000Z");
            assert_string_equal(s_of(dep, "channel"), "portal");
            assert_int_equal(i_of(dep, "category_id"), 1);
            is_null(dep, "closed_at");
        } else {
            assert_int_equal(json_array_size(items), 2);
            is_null(p, "next");
        }
        json_decref(p);
    }
    assert_int_equal(seen, 6);
    /* Staff have no "own messages". */
    const struct okno_rm_caller exec = {D_EXEC, DEP, false};
    json_t *p;
    page.after = NULL;
    assert_int_equal(okno_rm_my_messages(L.gateway, &exec, &page, &p, err, sizeof err),
                     OKNO_EINVAL);
}

/* ---- fixture ------------------------------------------------------------------------------- */

static void load_directory(void)
{
    char sql[512];
    for (size_t i = 0; i < sizeof orgs / sizeof *orgs; i++) {
        char parent[24] = "null";
        if (orgs[i].parent_id)
            snprintf(parent, sizeof parent, "%" PRId64, orgs[i].parent_id);
        snprintf(sql, sizeof sql, "insert into okno.orgs values (%" PRId64 ", %s, 'org')",
                 orgs[i].org_id, parent);
        okno_itest_exec(L.admin, sql);
    }
    for (size_t i = 0; i < sizeof grants / sizeof *grants; i++) {
        char roles[256] = "";
        for (int r = 0; r < OKNO_ROLE_COUNT; r++)
            if (grants[i].roles & (1u << r))
                snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s",
                         roles[0] ? "," : "", okno_role_name((okno_role)(1u << r)));
        snprintf(sql, sizeof sql,
                 "insert into okno.grants values (%" PRId64 ", %" PRId64 ", '{%s}')",
                 grants[i].user_id, grants[i].org_id, roles);
        okno_itest_exec(L.admin, sql);
    }
    okno_itest_exec(L.admin, "insert into okno.categories values (1, 30, 'cat');"
                             "insert into okno.workflow_settings (operator_org_id) values (1)");
}

static int setup(void **state)
{
    (void)state;
    okno_itest_db_create(&L.db, "okno_readmodel");
    L.dir = (okno_directory){orgs,        sizeof orgs / sizeof *orgs,
                             grants,      sizeof grants / sizeof *grants,
                             categories,  1,
                             authorities, sizeof authorities / sizeof *authorities,
                             {0}};
    okno_workflow_config_init(&L.dir.config, OPERATOR);
    assert_int_equal(okno_directory_check(&L.dir), 0);
    L.admin = okno_itest_connect(L.db.admin_conninfo);
    load_directory();
    for (int i = 0; i < MESSAGES; i++) {
        L.m[i].id =
            (okno_uuid){{0x10 + (uint8_t)i, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x77, 0x88}};
        okno_uuid_format(&L.m[i].id, L.m[i].id_text);
    }
    okno_rm_projector_open(&L.proj, &L.db);
    L.gateway = okno_itest_connect(L.db.gateway_conninfo);
    script();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    okno_rm_projector_close(&L.proj);
    PQfinish(L.gateway);
    PQfinish(L.admin);
    okno_itest_db_drop(&L.db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(visibility_matrix_is_exactly_the_rule),
        cmocka_unit_test(visible_many_judges_each_pair_by_its_own_caller),
        cmocka_unit_test(gateway_role_cannot_read_another_orgs_rows),
        cmocka_unit_test(card_json_field_by_field),
        cmocka_unit_test(a_failed_read_leaves_the_connection_idle_and_usable),
        cmocka_unit_test(history_json_is_the_verified_chain),
        cmocka_unit_test(timeline_json_in_russian),
        cmocka_unit_test(inbox_json_and_pages),
        cmocka_unit_test(my_messages_newest_first_by_pages),
        cmocka_unit_test(policies_hold_after_a_replay_swap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
