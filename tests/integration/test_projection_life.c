/* A scripted 30-day message life at fixed times, through the pure core, appended to a real
 * event log and projected step by step: after every step the card, the inbox and the stage
 * history are exactly what SPEC says; at the end the whole history, the applicant's timeline and
 * the statistics are checked, `okno replay --as-of` is shown to rebuild every intermediate state
 * exactly, and `okno audit` prints the history and catches a tampered event. The life has a
 * redirect with a delegated agreement, a refused answer (a rework round), a postponed interim
 * answer, and the SLA signals the timer would emit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "itest.h"
#include "okno/avro.h"
#include "okno/eventlog.h"
#include "okno/replay.h"
#include "okno/sla.h"
#include "okno/uuid.h"
#include "projector.h"
#include "rm_check.h"

#define MIN_MS  INT64_C(60000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)
/* 2026-03-02T06:00:00Z, 09:00 in Moscow: the citizen submits. */
#define T0        INT64_C(1772431200000)
#define STEPS_MAX 32

/* The orgs: the operator (1), two ministries that are not each other's subordinates. */
enum { OPERATOR = 1, ORG_A = 1000, ORG_B = 2000, APPLICANT = 5001, MODERATOR = 101 };
enum { A_COORD = 100001, A_EXEC = 100002, A_M5 = 100005, A_M6 = 100006, A_M7 = 100007 };
enum { B_COORD = 200001, B_EXEC = 200002, B_M5 = 200005, B_M6 = 200006, B_M7 = 200007 };

static const okno_org orgs[] = {{OPERATOR, 0}, {ORG_A, 0}, {ORG_B, 0}};
static const okno_grant grants[] = {
    {MODERATOR, OPERATOR, OKNO_ROLE_MODERATOR}, {A_COORD, ORG_A, OKNO_ROLE_COORDINATOR},
    {A_EXEC, ORG_A, OKNO_ROLE_EXECUTOR},        {A_M5, ORG_A, OKNO_ROLE_MANAGER},
    {A_M6, ORG_A, OKNO_ROLE_MANAGER},           {A_M7, ORG_A, OKNO_ROLE_MANAGER},
    {B_COORD, ORG_B, OKNO_ROLE_COORDINATOR},    {B_EXEC, ORG_B, OKNO_ROLE_EXECUTOR},
    {B_M5, ORG_B, OKNO_ROLE_MANAGER},           {B_M6, ORG_B, OKNO_ROLE_MANAGER},
    {B_M7, ORG_B, OKNO_ROLE_MANAGER},
};
static const okno_category categories[] = {{1, 30}};
static const okno_authority authorities[] = {
    {A_M5, ORG_A, 1, 0, true, true},  {A_M6, ORG_A, 1, 0, true, true},
    {A_M7, ORG_A, 1, 0, true, false}, {B_M5, ORG_B, 1, 0, true, true},
    {B_M6, ORG_B, 1, 0, true, true},  {B_M7, ORG_B, 1, 0, true, false},
};

static const char MESSAGE_TEXT[] = "Яма на дороге у дома 7 по улице Ленина";
static const char DRAFT_1[] = "Ремонт запланирован";
static const char DRAFT_2[] = "Ремонт запланирован на 20 марта";
static const char FINAL_DRAFT[] = "Яма заделана";
static const char FINAL_TEXT[] = "Яма заделана 20 марта, спасибо за сообщение";

typedef struct life {
    okno_itest_db db;
    okno_directory dir;
    PGconn *conn; /* as the owner */
    okno_projector proj;
    okno_message_state state;
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
    okno_uuid id;
    char id_text[OKNO_UUID_TEXT_BYTES];
    int steps;
    int64_t times[STEPS_MAX];
    char *snapshots[STEPS_MAX][5]; /* the four tables of the message, and stats_daily */
    uint64_t next_request;
} life;

static life L;

static const char *const SNAPSHOT_TABLES[] = {"card", "stage_visits", "inbox", "applicant_timeline",
                                              "stats_daily"};

static okno_uuid request_id(void)
{
    okno_uuid id = {{0x7e, 0x57}};
    uint64_t n = ++L.next_request;
    memcpy(id.bytes + 8, &n, sizeof n);
    return id;
}

static void project(void)
{
    okno_rm_project_all(&L.proj);
}

static void snapshot(int64_t at_ms)
{
    assert_true(L.steps < STEPS_MAX);
    L.times[L.steps] = at_ms;
    for (int t = 0; t < 5; t++)
        L.snapshots[L.steps][t] =
            okno_rm_dump(L.conn, "okno_rm", SNAPSHOT_TABLES[t], t < 4 ? L.id_text : NULL);
    L.steps++;
}

/* Decides req at now_ms with the core (it must be accepted), appends, projects, snapshots. */
static void act(okno_request *req, int64_t now_ms)
{
    req->request_id = req->request_id.bytes[0] ? req->request_id : request_id();
    req->message_id = L.id;
    okno_actor actor;
    okno_actor_init(&actor, &L.dir, req->acting_user_id, req->acting_org_id);
    okno_step_result res;
    okno_workflow_step(L.state.last_seq ? &L.state : NULL, req, &actor, &L.dir, now_ms, &res);
    if (res.events_count == 0)
        fail_msg("%s refused: %s", okno_action_name(req->action), res.refusal.message);
    okno_rm_append_step(L.conn, &L.state, L.hash, &res, req);
    L.state = res.state;
    project();
    snapshot(res.events[res.events_count - 1].at_ms);
}

/* The timer's signals that fall due by until_ms, each at its due time. */
static int signals_until(int64_t until_ms)
{
    int n = 0;
    okno_signal_kind kind;
    int64_t due;
    while (okno_sla_next_signal(&L.state, L.dir.config.approaching_permille, &kind, &due) == 0 &&
           due <= until_ms) {
        bool stage_kind =
            kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED;
        okno_avro_sla_signal s = {.message_id = L.id, .kind = kind, .due_ms = due};
        s.stage = stage_kind ? L.state.stage : OKNO_STAGE_NONE;
        s.visit = stage_kind ? L.state.stage_visits[L.state.stage] : 0;
        s.signal_id = okno_avro_sla_signal_id(&L.id, kind, s.stage, s.visit, due);
        okno_request req;
        okno_avro_sla_signal_request(&s, &req);
        act(&req, due);
        n++;
    }
    return n;
}

static char *q(const char *fmt)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fmt, L.id_text);
    return okno_rm_query_text(L.conn, sql);
}

static const char CARD_SQL[] =
    "select concat_ws(' ', status, coalesce(holding_org::text, '-'),"
    " coalesce(executor::text, '-'), coalesce(approver::text, '-'),"
    " coalesce(nullif(array_to_string(agreers, ','), ''), '-'),"
    " coalesce(nullif(array_to_string(agreer_decisions, ','), ''), '-'),"
    " coalesce(answer_type, '-'), applicant_status) from okno_rm.card where message_id = '%s'";
static const char INBOX_SQL[] =
    "select coalesce(string_agg(org_id || '/' || role || '/' || coalesce(user_id::text, '*') ||"
    " '/' || task, ' ' order by role, user_id), '') from okno_rm.inbox where message_id = '%s'";
static const char VISITS_SQL[] =
    "select count(*) || ' ' || (select stage || '@' || org_id from okno_rm.stage_visits"
    " where message_id = '%1$s' order by visit_no desc limit 1) from okno_rm.stage_visits"
    " where message_id = '%1$s'";

/* The card, inbox and stage history after the last step are exactly these. */
static void expect(const char *card, const char *inbox, const char *visits)
{
    char *c = q(CARD_SQL), *i = q(INBOX_SQL), *v = q(VISITS_SQL);
    print_message("step %2d: %-60s | %-36s | %s\n", L.steps, c, i, v);
    assert_string_equal(c, card);
    assert_string_equal(i, inbox);
    assert_string_equal(v, visits);
    free(c);
    free(i);
    free(v);
}

static okno_request by(okno_action action, okno_user_id user, okno_org_id org)
{
    return (okno_request){.action = action, .acting_user_id = user, .acting_org_id = org};
}

/* ---- the life ----------------------------------------------------------------------------------
 */

static void redirect_with_delegated_agreement(void)
{
    okno_request r = by(OKNO_ACTION_SUBMIT, APPLICANT, 0);
    r.applicant_id = APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = 1;
    r.text = okno_str_c(MESSAGE_TEXT);
    act(&r, T0);
    expect("moderation 1 - - - - - submitted", "1/moderator/*/moderate", "1 moderation@1");
    r = by(OKNO_ACTION_ACCEPT, MODERATOR, OPERATOR);
    r.target_org_id = ORG_A;
    r.category_id = 1;
    act(&r, T0 + 6 * HOUR_MS);
    expect("coordination 1000 - - - - - accepted", "1000/coordinator/*/coordinate",
           "2 coordination@1000");
    r = by(OKNO_ACTION_PROPOSE_REDIRECT, A_COORD, ORG_A);
    r.target_org_id = ORG_B;
    r.agreers[0] = A_M7;
    r.agreers_count = 1;
    r.approver_user_id = A_M5;
    act(&r, T0 + DAY_MS + 4 * HOUR_MS);
    expect("agreement 1000 - 100005 100007 pending - accepted", "1000/manager/100007/agree",
           "3 agreement@1000");
    r = by(OKNO_ACTION_DELEGATE_AGREEMENT, A_M7, ORG_A);
    r.target_user_id = A_M6;
    r.reason = okno_str_c("В отпуске до 15 марта");
    act(&r, T0 + DAY_MS + 6 * HOUR_MS);
    expect("agreement 1000 - 100005 100006 pending - accepted", "1000/manager/100006/agree",
           "3 agreement@1000");
    r = by(OKNO_ACTION_AGREE, A_M6, ORG_A);
    act(&r, T0 + 2 * DAY_MS + 4 * HOUR_MS);
    expect("approval 1000 - 100005 100006 agreed - accepted", "1000/manager/100005/approve",
           "4 approval@1000");
    r = by(OKNO_ACTION_APPROVE, A_M5, ORG_A);
    act(&r, T0 + 2 * DAY_MS + 10 * HOUR_MS);
    expect("coordination 2000 - - - - - redirected", "2000/coordinator/*/coordinate",
           "5 coordination@2000");
}

/* Coordination used 22 h in org A and goes on in org B: 80 % of its 36 h fall due at
 * +2d16h48m, all of it at +3d. */
static void coordination_runs_late(void)
{
    assert_int_equal(signals_until(T0 + 3 * DAY_MS + 4 * HOUR_MS), 2);
    expect("coordination 2000 - - - - - redirected", "2000/coordinator/*/coordinate",
           "5 coordination@2000");
    char *flags = q("select stage_time_approaching || ' ' || stage_time_exceeded || ' ' ||"
                    " stage_due_at from okno_rm.card where message_id = '%s'");
    assert_string_equal(flags, "true true 2026-03-05 06:00:00+00");
    free(flags);
    okno_request r = by(OKNO_ACTION_ASSIGN_EXECUTOR, B_COORD, ORG_B);
    r.target_user_id = B_EXEC;
    act(&r, T0 + 3 * DAY_MS + 4 * HOUR_MS);
    expect("execution 2000 200002 - - - - in_progress", "2000/executor/200002/take_into_work",
           "6 execution@2000");
    r = by(OKNO_ACTION_TAKE_INTO_WORK, B_EXEC, ORG_B);
    act(&r, T0 + 3 * DAY_MS + 6 * HOUR_MS);
    expect("execution 2000 200002 - - - - in_progress", "2000/executor/200002/draft_answer",
           "6 execution@2000");
}

static okno_request postponed_draft(const char *text)
{
    okno_request r = by(OKNO_ACTION_DRAFT_ANSWER, B_EXEC, ORG_B);
    r.answer_type = OKNO_ANSWER_POSTPONED;
    r.postponed_until_ms = T0 + 20 * DAY_MS;
    r.agreers[0] = B_M7;
    r.agreers_count = 1;
    r.approver_user_id = B_M5;
    r.text = okno_str_c(text);
    return r;
}

static void rework_round_and_interim_answer(void)
{
    okno_request r = postponed_draft(DRAFT_1);
    act(&r, T0 + 5 * DAY_MS);
    expect("agreement 2000 200002 200005 200007 pending postponed in_progress",
           "2000/manager/200007/agree", "7 agreement@2000");
    r = by(OKNO_ACTION_REFUSE_AGREEMENT, B_M7, ORG_B);
    r.reason = okno_str_c("Уточните сроки ремонта");
    act(&r, T0 + 6 * DAY_MS);
    expect("execution 2000 200002 - - - postponed in_progress", "2000/executor/200002/draft_answer",
           "8 execution@2000");
    r = postponed_draft(DRAFT_2);
    act(&r, T0 + 7 * DAY_MS);
    expect("agreement 2000 200002 200005 200007 pending postponed in_progress",
           "2000/manager/200007/agree", "9 agreement@2000");
    r = by(OKNO_ACTION_AGREE, B_M7, ORG_B);
    act(&r, T0 + 8 * DAY_MS);
    expect("approval 2000 200002 200005 200007 agreed postponed in_progress",
           "2000/manager/200005/approve", "10 approval@2000");
    r = by(OKNO_ACTION_APPROVE, B_M5, ORG_B);
    act(&r, T0 + 9 * DAY_MS);
    expect("execution 2000 200002 - - - - postponed", "2000/executor/200002/draft_answer",
           "11 execution@2000");
    char *deadline = q("select answer_deadline || ' ' || applicant_status_text from okno_rm.card"
                       " where message_id = '%s'");
    assert_string_equal(deadline, "2026-03-22 06:00:00+00 Рассмотрение продлено до 22.03.2026");
    free(deadline);
}

/* The deadline is now +20d, its clock restarted at +9d: 80 % of it falls due at +17d19h12m. */
static void final_answer(void)
{
    assert_int_equal(signals_until(T0 + 18 * DAY_MS), 1);
    expect("execution 2000 200002 - - - - postponed", "2000/executor/200002/draft_answer",
           "11 execution@2000");
    okno_request r = by(OKNO_ACTION_DRAFT_ANSWER, B_EXEC, ORG_B);
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.approver_user_id = B_M6;
    r.text = okno_str_c(FINAL_DRAFT);
    act(&r, T0 + 18 * DAY_MS);
    expect("approval 2000 200002 200006 - - resolved postponed", "2000/manager/200006/approve",
           "12 approval@2000");
    r = by(OKNO_ACTION_APPROVE, B_M6, ORG_B);
    r.text = okno_str_c(FINAL_TEXT);
    act(&r, T0 + 19 * DAY_MS);
    expect("answered 2000 200002 - - - resolved answered", "", "12 approval@2000");
}

/* ---- the checks at the end ------------------------------------------------------------------- */

static void history_is_complete(void)
{
    char *h = q("select string_agg(concat_ws(' ', visit_no, stage, stage_visit, org_id,"
                " entered_by, entered_event, coalesce(assignee::text, '-'), left_by, left_event,"
                " duration_ms / 60000 || 'm', exceeded), E'\\n' order by visit_no)"
                " from okno_rm.stage_visits where message_id = '%s'");
    assert_string_equal(
        h, "1 moderation 1 1 5001 message_submitted - 101 message_accepted 360m f\n"
           "2 coordination 1 1000 101 message_accepted - 100001 redirect_proposed 1320m f\n"
           "3 agreement 1 1000 100001 redirect_proposed - 100006 agreement_given 1440m f\n"
           "4 approval 1 1000 100006 agreement_given 100005 100005 approval_given 360m f\n"
           "5 coordination 2 2000 100005 approval_given - 200001 executor_assigned 1080m t\n"
           "6 execution 1 2000 200001 executor_assigned 200002 200002 answer_drafted 2640m "
           "f\n"
           "7 agreement 2 2000 200002 answer_drafted - 200007 agreement_refused 1440m f\n"
           "8 execution 2 2000 200007 agreement_refused 200002 200002 answer_drafted 1440m "
           "f\n"
           "9 agreement 3 2000 200002 answer_drafted - 200007 agreement_given 1440m f\n"
           "10 approval 2 2000 200007 agreement_given 200005 200005 approval_given 1440m f\n"
           "11 execution 3 2000 200005 approval_given 200002 200002 answer_drafted 12960m "
           "f\n"
           "12 approval 3 2000 200002 answer_drafted 200006 200006 approval_given 1440m f");
    free(h);
    /* Cumulative time per stage: coordination 22 h + 18 h, execution 44 h + 24 h + 216 h. */
    char *t = q("select string_agg(stage || ' ' || visits || ' ' || used_ms / 3600000 || 'h' ||"
                " ' of ' || budget_ms / 3600000 || 'h', ', ' order by used_ms)"
                " from okno_rm.stage_time where message_id = '%s'");
    assert_string_equal(t, "moderation 1 6h of 36h, coordination 2 40h of 36h, "
                           "approval 3 54h of 72h, agreement 3 72h of 108h, "
                           "execution 3 284h of 468h");
    free(t);
}

static void card_and_timeline_at_the_end(void)
{
    char *c = q("select concat_ws(' | ', answer_text, message_text, interim_sent, postponed_until,"
                " answer_deadline, closed_at, expected_answer_at is null,"
                " answer_deadline_approaching, stage_used_ms, stage_visits)"
                " from okno_rm.card where message_id = '%s'");
    assert_string_equal(c, "Яма заделана 20 марта, спасибо за сообщение | Яма на дороге у дома 7"
                           " по улице Ленина | t | 2026-03-22 06:00:00+00 | 2026-03-22 "
                           "06:00:00+00 | 2026-03-21 06:00:00+00 | t | t | "
                           "{21600000,144000000,1022400000,259200000,194400000} | {1,2,3,3,3}");
    free(c);
    char *t = q("select string_agg(seq || ' ' || status || ': ' || status_text ||"
                " coalesce(' — ' || detail, ''), E'\\n' order by seq)"
                " from okno_rm.applicant_timeline where message_id = '%s'");
    assert_string_equal(t, "1 submitted: Сообщение отправлено и ожидает модерации\n"
                           "2 accepted: Сообщение принято и направлено в организацию для "
                           "рассмотрения\n"
                           "6 redirected: Сообщение перенаправлено в другую организацию\n"
                           "9 in_progress: Сообщение рассматривается\n"
                           "15 postponed: Рассмотрение продлено до 22.03.2026 — Ремонт "
                           "запланирован на 20 марта\n"
                           "18 answered: Дан ответ: проблема решена — Яма заделана 20 марта, "
                           "спасибо за сообщение");
    free(t);
    char *a = q("select concat_ws(' | ', status, expected_answer_date, answer_text)"
                " from okno_rm.applicant_messages where message_id = '%s'");
    assert_string_equal(a, "answered | Яма заделана 20 марта, спасибо за сообщение");
    free(a);
}

static void statistics_add_up(void)
{
    char *s = okno_rm_query_text(
        L.conn, "select concat_ws(' ', sum(submitted), sum(entered), sum(left_count),"
                " sum(stage_ms)::bigint / 3600000, sum(left_overdue), sum(stage_approaching),"
                " sum(stage_exceeded), sum(answered), sum(answer_ms)::bigint / 3600000,"
                " sum(answered_overdue), sum(interim), sum(redirected),"
                " sum(deadline_approaching), sum(deadline_expired)) from okno_rm.stats_daily");
    /* 12 visits over 19 days (456 h), one overdue; one answer after 456 h, in time. */
    assert_string_equal(s, "1 12 12 456 1 1 1 1 456 0 1 1 1 0");
    free(s);
    char *k = okno_rm_query_text(
        L.conn, "select string_agg(day || ' ' || org_id || ' ' || stage || ' ' || answer_type,"
                " ', ' order by day, stage) from okno_rm.stats_daily where answered > 0 or"
                " interim > 0 or redirected > 0");
    assert_string_equal(k, "2026-03-04 1000  , 2026-03-11 2000  postponed, "
                           "2026-03-21 2000  resolved");
    free(k);
}

/* Every intermediate state, rebuilt from the log by a replay as of the step's time. */
static void as_of_reproduces_every_step(void)
{
    for (int i = 0; i < L.steps; i++) {
        okno_replay_options o;
        okno_replay_options_init(&o);
        o.conninfo = L.db.admin_conninfo;
        o.schema = "okno_rm_asof";
        o.as_of_ms = L.times[i];
        okno_replay_result r;
        if (okno_replay_run(&o, &r) != 0)
            fail_msg("replay as of step %d: %s", i + 1, r.error);
        assert_int_equal(r.events, (uint64_t)i + 1);
        for (int t = 0; t < 5; t++) {
            char *got =
                okno_rm_dump(L.conn, "okno_rm_asof", SNAPSHOT_TABLES[t], t < 4 ? L.id_text : NULL);
            if (strcmp(got, L.snapshots[i][t]) != 0)
                fail_msg("as of step %d, %s differs:\nlive:\n%s\nreplayed:\n%s", i + 1,
                         SNAPSHOT_TABLES[t], L.snapshots[i][t], got);
            free(got);
        }
    }
    print_message("okno replay --as-of rebuilt all %d intermediate states\n", L.steps);
}

static char *run_audit(const char *args, int *status)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/tools/okno/okno' audit %s %s --pg '%s' 2>&1",
             getenv("OKNO_BUILD_DIR"), L.id_text, args, L.db.app_conninfo);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 20, n = 0;
    char *out = calloc(1, cap);
    while (n + 1 < cap && fgets(out + n, (int)(cap - n), f) != NULL)
        n += strlen(out + n);
    *status = WEXITSTATUS(pclose(f));
    return out;
}

static void audit_prints_and_verifies(void)
{
    int status;
    char *text = run_audit("", &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(text, "hash chain intact: 18 events, stream head matches"));
    assert_non_null(strstr(text, "reason: В отпуске до 15 марта"));
    assert_non_null(strstr(text, "agreement_delegated"));
    free(text);
    char *json = run_audit("--json", &status);
    assert_int_equal(status, 0);
    json_error_t jerr;
    json_t *doc = json_loads(json, 0, &jerr);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(json_object_get(doc, "chain"), "intact")));
    json_t *events = json_object_get(doc, "events");
    assert_int_equal(json_array_size(events), 18);
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 17), "text")),
                        FINAL_TEXT);
    json_decref(doc);
    free(json);
    /* A superuser rewrites one byte of event 5 past the triggers: audit says so, and fails. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "update okno.event_log set body = set_byte(body, 30, get_byte(body, 30) # 1)"
             " where message_id = '%s' and seq = 5",
             L.id_text);
    okno_itest_exec(L.conn, "set session_replication_role = replica");
    okno_itest_exec(L.conn, sql);
    okno_itest_exec(L.conn, "reset session_replication_role");
    text = run_audit("", &status);
    assert_int_equal(status, 1);
    assert_non_null(strstr(text, "CHAIN BROKEN at seq 5"));
    free(text);
}

static void a_30_day_life_projects_exactly(void **state)
{
    (void)state;
    redirect_with_delegated_agreement();
    coordination_runs_late();
    rework_round_and_interim_answer();
    final_answer();
    assert_int_equal(L.steps, 18);
    history_is_complete();
    card_and_timeline_at_the_end();
    statistics_add_up();
    as_of_reproduces_every_step();
    audit_prints_and_verifies();
}

static int setup(void **state)
{
    (void)state;
    okno_itest_db_create(&L.db, "okno_life");
    L.dir = (okno_directory){orgs, 3, grants, 11, categories, 1, authorities, 6, {0}};
    okno_workflow_config_init(&L.dir.config, OPERATOR);
    assert_int_equal(okno_directory_check(&L.dir), 0);
    L.conn = okno_itest_connect(L.db.admin_conninfo);
    L.id = (okno_uuid){{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x77, 0x88, 0x99}};
    okno_uuid_format(&L.id, L.id_text);
    okno_rm_projector_open(&L.proj, &L.db);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    okno_rm_projector_close(&L.proj);
    PQfinish(L.conn);
    for (int i = 0; i < L.steps; i++)
        for (int t = 0; t < 5; t++)
            free(L.snapshots[i][t]);
    okno_itest_db_drop(&L.db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_30_day_life_projects_exactly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
