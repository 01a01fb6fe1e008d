/* The curator's daily lists (SPEC 4.1, common/report) on a scripted scenario: four messages
 * decided by the pure core on an injected manual clock, appended to a real event log and
 * projected live. At chosen moments of the clock the three lists for an org tree are exactly
 * what the scenario implies; afterwards, with the whole log written, `--at` each moment
 * (a replay as of it) gives the very lists the live read models gave then, and the CLI prints
 * the same. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "okno/avro.h"
#include "okno/clock.h"
#include "okno/eventlog.h"
#include "okno/report.h"
#include "okno/sla.h"
#include "okno/stream_head.h"
#include "okno/uuid.h"
#include "projector.h"
#include "rm_check.h"

#define HOUR_MS  INT64_C(3600000)
#define DAY_MS   (24 * HOUR_MS)
#define T0       INT64_C(1772431200000) /* 2026-03-02T06:00:00Z, 09:00 in Moscow */
#define MESSAGES 4
#define MOMENTS  4

/* The operator (1); ministry A (1000) with its department A1 (1100); ministry B (2000). */
enum { OPERATOR = 1, ORG_A = 1000, ORG_A1 = 1100, ORG_B = 2000, APPLICANT = 5001, MODERATOR = 101 };
enum { A_COORD = 100001, A_EXEC = 100002, A1_COORD = 110001, A1_EXEC = 110002 };
enum { A1_M5 = 110005, A1_M6 = 110006, B_COORD = 200001, B_EXEC = 200002 };

static const okno_org orgs[] = {{OPERATOR, 0}, {ORG_A, 0}, {ORG_A1, ORG_A}, {ORG_B, 0}};
static const okno_grant grants[] = {
    {MODERATOR, OPERATOR, OKNO_ROLE_MODERATOR}, {A_COORD, ORG_A, OKNO_ROLE_COORDINATOR},
    {A_EXEC, ORG_A, OKNO_ROLE_EXECUTOR},        {A1_COORD, ORG_A1, OKNO_ROLE_COORDINATOR},
    {A1_EXEC, ORG_A1, OKNO_ROLE_EXECUTOR},      {A1_M5, ORG_A1, OKNO_ROLE_MANAGER},
    {A1_M6, ORG_A1, OKNO_ROLE_MANAGER},         {B_COORD, ORG_B, OKNO_ROLE_COORDINATOR},
    {B_EXEC, ORG_B, OKNO_ROLE_EXECUTOR},
};
static const okno_category categories[] = {{1, 30}};
static const okno_authority authorities[] = {{A1_M5, ORG_A1, 1, 0, true, true},
                                             {A1_M6, ORG_A1, 1, 0, true, true}};

typedef okno_rm_msg msg;

static struct {
    okno_itest_db db;
    okno_directory dir;
    PGconn *conn;
    okno_projector proj;
    okno_clock clock; /* the scenario's time: the injected manual clock */
    msg m[MESSAGES];
    uint64_t next_request;
    int64_t moments[MOMENTS];
    char *live[MOMENTS]; /* the lists' CSV as the live read models gave them */
} S;

static okno_uuid request_id(void)
{
    okno_uuid id = {{0x7e, 0x57, 0x0d}};
    uint64_t n = ++S.next_request;
    memcpy(id.bytes + 8, &n, sizeof n);
    return id;
}

static void project(void)
{
    size_t n;
    do {
        if (okno_projector_step(&S.proj, &n) != 0)
            fail_msg("projector: %s", S.proj.error);
    } while (n > 0);
}

/* Moves the clock to at_ms, decides req for message i there (it must be accepted), appends,
 * projects. */
static void act(int i, okno_request req, int64_t at_ms)
{
    okno_clock_set(&S.clock, at_ms);
    req.request_id = request_id();
    okno_rm_act(S.conn, &S.dir, &S.m[i], req, okno_clock_now_ms(&S.clock));
    project();
}

static okno_request by(okno_action action, okno_user_id user, okno_org_id org)
{
    return (okno_request){.action = action, .acting_user_id = user, .acting_org_id = org};
}

static void submit(int i, int64_t at_ms)
{
    okno_request r = by(OKNO_ACTION_SUBMIT, APPLICANT, 0);
    r.applicant_id = APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = 1;
    r.text = okno_str_c("Не работает уличное освещение");
    act(i, r, at_ms);
}

static void moderate_accept(int i, okno_org_id org, int64_t at_ms)
{
    okno_request r = by(OKNO_ACTION_ACCEPT, MODERATOR, OPERATOR);
    r.target_org_id = org;
    r.category_id = 1;
    act(i, r, at_ms);
}

static void assign(int i, okno_user_id coord, okno_org_id org, okno_user_id exec, int64_t at_ms)
{
    okno_request r = by(OKNO_ACTION_ASSIGN_EXECUTOR, coord, org);
    r.target_user_id = exec;
    act(i, r, at_ms);
}

/* The lists of org at the clock's now from the live read models, as CSV. */
static char *lists_csv(const okno_report_daily *d)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    assert_int_equal(okno_report_daily_csv(f, d), 0);
    fclose(f);
    return buf;
}

/* One line per row: the list, which message (its index), stage, org, task, who, and the times
 * in hours. */
static char *lists_brief(const okno_report_daily *d)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    for (size_t r = 0; r < d->count; r++) {
        const okno_report_daily_row *row = &d->rows[r];
        int which = -1;
        for (int i = 0; i < MESSAGES; i++) {
            char id[OKNO_UUID_TEXT_BYTES];
            okno_uuid_format(&S.m[i].id, id);
            if (strcmp(id, row->message_id) == 0)
                which = i + 1;
        }
        assert_int_equal(row->used_ms % HOUR_MS, 0);
        fprintf(f,
                "%s M%d %s %" PRId64 " %s %s/%" PRId64 " used %" PRId64 "h of %" PRId64
                "h late %" PRId64 "h\n",
                okno_report_list_name(row->list), which, row->stage, row->org_id, row->task,
                row->role, row->user_id, row->used_ms / HOUR_MS, row->allotted_ms / HOUR_MS,
                row->late_ms / HOUR_MS);
    }
    fclose(f);
    return buf;
}

/* Checks the live lists of org at the clock's now; keeps their CSV for the --at check. */
static void expect_lists(int moment, int64_t org, const char *want)
{
    okno_report_daily d;
    char err[OKNO_REPORT_ERROR_BYTES];
    int64_t now = okno_clock_now_ms(&S.clock);
    if (okno_report_daily_query(S.conn, "okno_rm", org, now, &d, err, sizeof err) != 0)
        fail_msg("daily: %s", err);
    char *got = lists_brief(&d);
    if (strcmp(got, want) != 0)
        fail_msg("lists of org %" PRId64 " at +%" PRId64 "h:\nwant:\n%s\ngot:\n%s", org,
                 (now - T0) / HOUR_MS, want, got);
    free(got);
    if (moment >= 0) {
        S.moments[moment] = now;
        S.live[moment] = lists_csv(&d);
    }
    okno_report_daily_free(&d);
}

/* Whether message i is on list l for ORG_A at the clock's now. */
static bool listed(int i, okno_report_list l)
{
    okno_report_daily d;
    char err[OKNO_REPORT_ERROR_BYTES], id[OKNO_UUID_TEXT_BYTES];
    if (okno_report_daily_query(S.conn, "okno_rm", ORG_A, okno_clock_now_ms(&S.clock), &d, err,
                                sizeof err) != 0)
        fail_msg("daily: %s", err);
    okno_uuid_format(&S.m[i].id, id);
    bool found = false;
    for (size_t r = 0; r < d.count; r++)
        found |= d.rows[r].list == l && strcmp(d.rows[r].message_id, id) == 0;
    okno_report_daily_free(&d);
    return found;
}

/* Message i joins list a) at the very millisecond the timer's stage_time_approaching falls due
 * (the core's okno_sla_next_signal), not a millisecond before. */
static void approaching_begins_when_the_timer_says(int i)
{
    okno_signal_kind kind;
    int64_t due;
    assert_int_equal(
        okno_sla_next_signal(&S.m[i].state, S.dir.config.approaching_permille, &kind, &due), 0);
    assert_int_equal(kind, OKNO_SIGNAL_STAGE_TIME_APPROACHING);
    assert_true(due > okno_clock_now_ms(&S.clock));
    okno_clock_set(&S.clock, due - 1);
    assert_false(listed(i, OKNO_REPORT_APPROACHING));
    okno_clock_set(&S.clock, due);
    assert_true(listed(i, OKNO_REPORT_APPROACHING));
}

/* Execution: 65 % of 30 days = 468 h, approaching from 374.4 h; agreement: 108 h, from 86.4 h;
 * coordination 36 h. The answer deadline is 30 days (720 h) after submission. */
static void the_lists_at_chosen_moments(void)
{
    /* M1: in execution in A from +2h. */
    submit(0, T0);
    moderate_accept(0, ORG_A, T0 + HOUR_MS);
    assign(0, A_COORD, ORG_A, A_EXEC, T0 + 2 * HOUR_MS);
    act(0, by(OKNO_ACTION_TAKE_INTO_WORK, A_EXEC, ORG_A), T0 + 3 * HOUR_MS);
    /* M2: forwarded to A1, answer drafted at +5d, waits on agreer A1_M5. */
    submit(1, T0);
    moderate_accept(1, ORG_A, T0 + HOUR_MS);
    okno_request r = by(OKNO_ACTION_FORWARD_TO_SUBORDINATE, A_COORD, ORG_A);
    r.target_org_id = ORG_A1;
    act(1, r, T0 + 2 * HOUR_MS);
    assign(1, A1_COORD, ORG_A1, A1_EXEC, T0 + 3 * HOUR_MS);
    act(1, by(OKNO_ACTION_TAKE_INTO_WORK, A1_EXEC, ORG_A1), T0 + 4 * HOUR_MS);
    /* M3: in execution in B (not A's tree) from +2h. */
    submit(2, T0);
    moderate_accept(2, ORG_B, T0 + HOUR_MS);
    assign(2, B_COORD, ORG_B, B_EXEC, T0 + 2 * HOUR_MS);

    okno_clock_set(&S.clock, T0 + 4 * DAY_MS);
    expect_lists(0, ORG_A, "");

    r = by(OKNO_ACTION_DRAFT_ANSWER, A1_EXEC, ORG_A1);
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.agreers[0] = A1_M5;
    r.agreers_count = 1;
    r.approver_user_id = A1_M6;
    r.text = okno_str_c("Освещение восстановлено");
    act(1, r, T0 + 5 * DAY_MS);

    okno_clock_set(&S.clock, T0 + 9 * DAY_MS);
    expect_lists(1, ORG_A,
                 "approaching M2 agreement 1100 agree manager/110005 used 96h of 108h "
                 "late -12h\n");

    /* M4: submitted at +10d, sits in coordination in A from +10d1h. */
    submit(3, T0 + 10 * DAY_MS);
    moderate_accept(3, ORG_A, T0 + 10 * DAY_MS + HOUR_MS);

    approaching_begins_when_the_timer_says(0);

    okno_clock_set(&S.clock, T0 + 16 * DAY_MS);
    expect_lists(2, ORG_A,
                 "approaching M1 execution 1000 draft_answer executor/100002 used 382h of 468h "
                 "late -86h\n"
                 "exceeded M2 agreement 1100 agree manager/110005 used 264h of 108h late 156h\n"
                 "exceeded M4 coordination 1000 coordinate coordinator/0 used 143h of 36h "
                 "late 107h\n");
    /* The subtree of A1 holds only M2; B's only M3. */
    expect_lists(-1, ORG_A1,
                 "exceeded M2 agreement 1100 agree manager/110005 used 264h of 108h late 156h\n");
    expect_lists(-1, ORG_B,
                 "approaching M3 execution 2000 take_into_work executor/200002 used 382h of "
                 "468h late -86h\n");

    okno_clock_set(&S.clock, T0 + 31 * DAY_MS);
    expect_lists(3, ORG_A,
                 "exceeded M2 agreement 1100 agree manager/110005 used 624h of 108h late 516h\n"
                 "exceeded M4 coordination 1000 coordinate coordinator/0 used 503h of 36h "
                 "late 467h\n"
                 "exceeded M1 execution 1000 draft_answer executor/100002 used 742h of 468h "
                 "late 274h\n"
                 "expired M1 execution 1000 draft_answer executor/100002 used 744h of 720h "
                 "late 24h\n"
                 "expired M2 agreement 1100 agree manager/110005 used 744h of 720h late 24h\n");
}

/* With every event of the scenario in the log, each moment rebuilt from the log gives the lists
 * the live read models gave at that moment. */
static void at_agrees_with_the_live_lists(void)
{
    for (int i = 0; i < MOMENTS; i++) {
        okno_report_daily d;
        char err[OKNO_REPORT_ERROR_BYTES];
        if (okno_report_daily_at(S.db.admin_conninfo, ORG_A, S.moments[i], 1, &d, err,
                                 sizeof err) != 0)
            fail_msg("daily --at: %s", err);
        char *got = lists_csv(&d);
        if (strcmp(got, S.live[i]) != 0)
            fail_msg("--at moment %d:\nlive:\n%s\nreplayed:\n%s", i, S.live[i], got);
        free(got);
        okno_report_daily_free(&d);
    }
    /* The scratch schemas are gone. */
    assert_int_equal(okno_itest_query_ll(S.conn, "select count(*) from pg_namespace"
                                                 " where nspname like 'okno_rm_at_%'"),
                     0);
}

/* `okno report daily --at T --csv` prints the same CSV. */
static void the_cli_prints_the_same(void)
{
    char cmd[2048];
    char at[32];
    snprintf(at, sizeof at, "%" PRId64, S.moments[2]);
    snprintf(cmd, sizeof cmd,
             "%s/tools/okno/okno report daily --org %d --csv --at \"$(date -u -d @%" PRId64
             ".%03d '+%%Y-%%m-%%d %%H:%%M:%%S.%%3N+00')\" --pg '%s'",
             getenv("OKNO_BUILD_DIR"), ORG_A, S.moments[2] / 1000, (int)(S.moments[2] % 1000),
             S.db.admin_conninfo);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = NULL;
    size_t size = 0;
    FILE *o = open_memstream(&out, &size);
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;)
        fwrite(buf, 1, n, o);
    fclose(o);
    assert_int_equal(pclose(p), 0);
    if (strcmp(out, S.live[2]) != 0)
        fail_msg("okno report daily --csv --at:\n%s\nlive:\n%s", out, S.live[2]);
    free(out);
    /* Bad input: an unknown org is a clear error. */
    snprintf(cmd, sizeof cmd, "%s/tools/okno/okno report daily --org 999999 --pg '%s' 2>&1",
             getenv("OKNO_BUILD_DIR"), S.db.admin_conninfo);
    p = popen(cmd, "r");
    assert_non_null(p);
    char line[512] = "";
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_not_equal(pclose(p), 0);
    assert_non_null(strstr(line, "no org 999999"));
}

static void daily_lists_exact_and_at_agrees(void **state)
{
    (void)state;
    the_lists_at_chosen_moments();
    at_agrees_with_the_live_lists();
    the_cli_prints_the_same();
}

static int setup(void **state)
{
    (void)state;
    okno_itest_db_create(&S.db, "okno_report_daily");
    S.dir = (okno_directory){
        orgs, 4, grants, sizeof grants / sizeof grants[0], categories, 1, authorities, 2, {0}};
    okno_workflow_config_init(&S.dir.config, OPERATOR);
    assert_int_equal(okno_directory_check(&S.dir), 0);
    S.conn = okno_itest_connect(S.db.admin_conninfo);
    okno_itest_exec(S.conn, "insert into okno.orgs (org_id, parent_id, name) values"
                            " (1, null, 'Operator'), (1000, null, 'Ministry A'),"
                            " (1100, 1000, 'Department A1'), (2000, null, 'Ministry B')");
    okno_itest_exec(S.conn, "insert into okno.workflow_settings (operator_org_id) values (1)");
    for (int i = 0; i < MESSAGES; i++)
        S.m[i].id = (okno_uuid){{0x40, 0x00, 0x00, (uint8_t)(i + 1), 0, 0, 0x40, 0, 0x80}};
    okno_clock_init_manual(&S.clock, T0);
    okno_rm_projector_open(&S.proj, &S.db);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    okno_rm_projector_close(&S.proj);
    PQfinish(S.conn);
    for (int i = 0; i < MOMENTS; i++)
        free(S.live[i]);
    okno_itest_db_drop(&S.db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(daily_lists_exact_and_at_agrees, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
