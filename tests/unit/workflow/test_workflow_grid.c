/* Every (stage x action x role) combination, legal and illegal, with the expected next stage
 * or refusal reason. The expectations are written out here independently of the guard table:
 * one legal role per (fixture, action), and a fixed precedence for everything else. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"

/* The points in the workflow the grid starts from; the message is held by FX_DEPT, which
 * got it forwarded from FX_MINISTRY, so return_upstream is possible. */
typedef enum fixture {
    F_NEW,
    F_MODERATION,
    F_COORDINATION,
    F_EXECUTION,         /* assigned, not taken into work */
    F_EXECUTION_IN_WORK, /* taken into work */
    F_AGREEMENT,         /* answer with FX_MANAGER as the only agreer and the approver */
    F_APPROVAL,
    F_CLOSED,
    F_COUNT
} fixture;

static const char *const fixture_names[F_COUNT] = {
    "new",       "moderation", "coordination", "execution", "execution_in_work",
    "agreement", "approval",   "closed",
};

/* Columns: the seven roles (bit index), then the applicant and the system (timer). */
enum { C_APPLICANT = OKNO_ROLE_COUNT, C_SYSTEM, C_COUNT };

static const char *column_name(int col)
{
    if (col == C_APPLICANT)
        return "applicant";
    if (col == C_SYSTEM)
        return "system";
    return okno_role_name((okno_role)(1u << col));
}

/* The actor of a column: the moderator works in the operator's org; every other role's user
 * is the one of FX_DEPT, the holding org, and is the named party where one is named. */
static okno_actor column_actor(int col)
{
    if (col == C_APPLICANT)
        return fx_actor(FX_APPLICANT, 0);
    if (col == C_SYSTEM)
        return fx_actor(OKNO_SYSTEM_USER_ID, 0);
    if (col == 0)
        return fx_actor(FX_MODERATOR, FX_OPERATOR);
    return fx_actor(FX_ROLE_USER(FX_DEPT, col), FX_DEPT);
}

static void fixture_build(fx_msg *m, fixture f)
{
    if (f == F_NEW) {
        memset(m, 0, sizeof *m);
        m->now_ms = FX_T0;
        m->id = fx_uuid(77);
        return;
    }
    if (f == F_MODERATION) {
        fx_submit(m, 77);
        return;
    }
    fx_to_coordination(m, 77, FX_MINISTRY);
    okno_request r =
        fx_req(m, OKNO_ACTION_FORWARD_TO_SUBORDINATE, FX_COORDINATOR(FX_MINISTRY), FX_MINISTRY);
    r.target_org_id = FX_DEPT;
    fx_ok(m, &r);
    if (f == F_COORDINATION)
        return;
    r = fx_req(m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    r.target_user_id = FX_EXECUTOR(FX_DEPT);
    fx_ok(m, &r);
    if (f == F_EXECUTION)
        return;
    fx_do(m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR(FX_DEPT), FX_DEPT);
    if (f == F_EXECUTION_IN_WORK)
        return;
    r = fx_req(m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(FX_DEPT), FX_DEPT);
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.text = okno_str_c("Done");
    r.approver_user_id = FX_MANAGER(FX_DEPT);
    r.agreers[0] = FX_MANAGER(FX_DEPT);
    r.agreers_count = 1;
    fx_ok(m, &r);
    if (f == F_AGREEMENT)
        return;
    fx_do(m, OKNO_ACTION_AGREE, FX_MANAGER(FX_DEPT), FX_DEPT);
    if (f == F_APPROVAL)
        return;
    fx_do(m, OKNO_ACTION_APPROVE, FX_MANAGER(FX_DEPT), FX_DEPT);
}

/* FX_MANAGER of the holding org as the only agreer and as the approver. */
static void reviewers_set(okno_request *r)
{
    r->approver_user_id = FX_MANAGER(FX_DEPT);
    r->agreers[0] = FX_MANAGER(FX_DEPT);
    r->agreers_count = 1;
}

/* A request for action that is well-formed for whichever fixture the action belongs to. */
static okno_request request_for(const fx_msg *m, okno_action action, const okno_actor *a)
{
    okno_request r = fx_req(m, action, a->user_id, a->org_id);
    r.reason = okno_str_c("stated reason");
    switch (action) {
    case OKNO_ACTION_SUBMIT:
        r.channel = OKNO_CHANNEL_INTAKE;
        r.applicant_id = FX_APPLICANT;
        r.text = okno_str_c("My message");
        break;
    case OKNO_ACTION_ACCEPT:
        r.target_org_id = FX_DEPT;
        break;
    case OKNO_ACTION_ASSIGN_EXECUTOR:
        r.target_user_id = FX_EXECUTOR(FX_DEPT);
        break;
    case OKNO_ACTION_FORWARD_TO_SUBORDINATE:
        r.target_org_id = FX_SUBDEPT;
        break;
    case OKNO_ACTION_PROPOSE_REDIRECT:
        r.target_org_id = FX_OTHER;
        reviewers_set(&r);
        break;
    case OKNO_ACTION_DRAFT_ANSWER:
        r.answer_type = OKNO_ANSWER_RESOLVED;
        r.text = okno_str_c("Answer");
        reviewers_set(&r);
        break;
    case OKNO_ACTION_REASSIGN_EXECUTOR:
        r.target_user_id = FX_EXECUTOR2(FX_DEPT);
        break;
    case OKNO_ACTION_DELEGATE_AGREEMENT:
    case OKNO_ACTION_DELEGATE_APPROVAL:
        r.target_user_id = FX_AUTH_MANAGER(FX_DEPT);
        break;
    case OKNO_ACTION_SLA_SIGNAL:
        r.signal = OKNO_SIGNAL_STAGE_TIME_EXCEEDED;
        r.signal_stage = m->state.stage;
        r.signal_visit = m->state.stage_visits[m->state.stage];
        break;
    default:
        break;
    }
    return r;
}

/* The one legal column per (fixture, action), or -1; and where it leads. */
typedef struct legal {
    fixture f;
    okno_action action;
    int col;
    okno_stage stage_after;
    okno_outcome outcome_after;
    okno_event_type event;
} legal;

#define MOD  0
#define COOR 1
#define EXE  2
#define MGR  3
#define INT  6

static const legal legal_cells[] = {
    {F_NEW, OKNO_ACTION_SUBMIT, INT, OKNO_STAGE_MODERATION, 0, OKNO_EVENT_MESSAGE_SUBMITTED},
    {F_MODERATION, OKNO_ACTION_ACCEPT, MOD, OKNO_STAGE_COORDINATION, 0,
     OKNO_EVENT_MESSAGE_ACCEPTED},
    {F_MODERATION, OKNO_ACTION_REJECT, MOD, OKNO_STAGE_NONE, OKNO_OUTCOME_REJECTED_BY_MODERATOR,
     OKNO_EVENT_MESSAGE_REJECTED},
    {F_COORDINATION, OKNO_ACTION_ASSIGN_EXECUTOR, COOR, OKNO_STAGE_EXECUTION, 0,
     OKNO_EVENT_EXECUTOR_ASSIGNED},
    {F_COORDINATION, OKNO_ACTION_TAKE_OVER, COOR, OKNO_STAGE_EXECUTION, 0,
     OKNO_EVENT_MESSAGE_TAKEN_OVER},
    {F_COORDINATION, OKNO_ACTION_FORWARD_TO_SUBORDINATE, COOR, OKNO_STAGE_COORDINATION, 0,
     OKNO_EVENT_FORWARDED_TO_SUBORDINATE},
    {F_COORDINATION, OKNO_ACTION_PROPOSE_REDIRECT, COOR, OKNO_STAGE_AGREEMENT, 0,
     OKNO_EVENT_REDIRECT_PROPOSED},
    {F_COORDINATION, OKNO_ACTION_RETURN_UPSTREAM, COOR, OKNO_STAGE_COORDINATION, 0,
     OKNO_EVENT_RETURNED_UPSTREAM},
    {F_EXECUTION, OKNO_ACTION_TAKE_INTO_WORK, EXE, OKNO_STAGE_EXECUTION, 0,
     OKNO_EVENT_TAKEN_INTO_WORK},
    {F_EXECUTION, OKNO_ACTION_RETURN_TO_COORDINATION, EXE, OKNO_STAGE_COORDINATION, 0,
     OKNO_EVENT_RETURNED_TO_COORDINATION},
    {F_EXECUTION, OKNO_ACTION_REASSIGN_EXECUTOR, EXE, OKNO_STAGE_EXECUTION, 0,
     OKNO_EVENT_EXECUTOR_REASSIGNED},
    {F_EXECUTION_IN_WORK, OKNO_ACTION_RETURN_TO_COORDINATION, EXE, OKNO_STAGE_COORDINATION, 0,
     OKNO_EVENT_RETURNED_TO_COORDINATION},
    {F_EXECUTION_IN_WORK, OKNO_ACTION_REASSIGN_EXECUTOR, EXE, OKNO_STAGE_EXECUTION, 0,
     OKNO_EVENT_EXECUTOR_REASSIGNED},
    {F_EXECUTION_IN_WORK, OKNO_ACTION_DRAFT_ANSWER, EXE, OKNO_STAGE_AGREEMENT, 0,
     OKNO_EVENT_ANSWER_DRAFTED},
    {F_AGREEMENT, OKNO_ACTION_AGREE, MGR, OKNO_STAGE_APPROVAL, 0, OKNO_EVENT_AGREEMENT_GIVEN},
    {F_AGREEMENT, OKNO_ACTION_REFUSE_AGREEMENT, MGR, OKNO_STAGE_EXECUTION, 0,
     OKNO_EVENT_AGREEMENT_REFUSED},
    {F_AGREEMENT, OKNO_ACTION_DELEGATE_AGREEMENT, MGR, OKNO_STAGE_AGREEMENT, 0,
     OKNO_EVENT_AGREEMENT_DELEGATED},
    {F_APPROVAL, OKNO_ACTION_APPROVE, MGR, OKNO_STAGE_NONE, OKNO_OUTCOME_ANSWERED,
     OKNO_EVENT_APPROVAL_GIVEN},
    {F_APPROVAL, OKNO_ACTION_REFUSE_APPROVAL, MGR, OKNO_STAGE_EXECUTION, 0,
     OKNO_EVENT_APPROVAL_REFUSED},
    {F_APPROVAL, OKNO_ACTION_DELEGATE_APPROVAL, MGR, OKNO_STAGE_APPROVAL, 0,
     OKNO_EVENT_APPROVAL_DELEGATED},
};

/* Where each action applies, as SPEC III says (the grid's own copy, not the guard table). */
static bool action_fits(okno_action action, fixture f)
{
    switch (action) {
    case OKNO_ACTION_SUBMIT:
        return f == F_NEW;
    case OKNO_ACTION_ACCEPT:
    case OKNO_ACTION_REJECT:
        return f == F_MODERATION;
    case OKNO_ACTION_ASSIGN_EXECUTOR:
    case OKNO_ACTION_TAKE_OVER:
    case OKNO_ACTION_FORWARD_TO_SUBORDINATE:
    case OKNO_ACTION_PROPOSE_REDIRECT:
    case OKNO_ACTION_RETURN_UPSTREAM:
        return f == F_COORDINATION;
    case OKNO_ACTION_TAKE_INTO_WORK:
    case OKNO_ACTION_RETURN_TO_COORDINATION:
    case OKNO_ACTION_REASSIGN_EXECUTOR:
    case OKNO_ACTION_DRAFT_ANSWER:
        return f == F_EXECUTION || f == F_EXECUTION_IN_WORK;
    case OKNO_ACTION_AGREE:
    case OKNO_ACTION_REFUSE_AGREEMENT:
    case OKNO_ACTION_DELEGATE_AGREEMENT:
        return f == F_AGREEMENT;
    case OKNO_ACTION_APPROVE:
    case OKNO_ACTION_REFUSE_APPROVAL:
    case OKNO_ACTION_DELEGATE_APPROVAL:
        return f == F_APPROVAL;
    case OKNO_ACTION_SLA_SIGNAL:
        return f != F_NEW && f != F_CLOSED;
    default:
        return false;
    }
}

static int legal_col(okno_action action, fixture f)
{
    if (action == OKNO_ACTION_SLA_SIGNAL)
        return action_fits(action, f) ? C_SYSTEM : -1;
    if (action == OKNO_ACTION_DRAFT_ANSWER || action == OKNO_ACTION_TAKE_INTO_WORK) {
        if (action_fits(action, f)) /* the right party, refused for the work state */
            return EXE;
    }
    for (size_t i = 0; i < sizeof legal_cells / sizeof legal_cells[0]; i++) {
        if (legal_cells[i].f == f && legal_cells[i].action == action)
            return legal_cells[i].col;
    }
    return -1;
}

/* The refusal for an illegal cell: existence, then stage, then party, then state of work. */
static okno_refusal_code expected_refusal(fixture f, okno_action action, int col)
{
    if (action == OKNO_ACTION_SUBMIT && f != F_NEW)
        return OKNO_REFUSAL_ALREADY_EXISTS;
    if (f == F_NEW && action != OKNO_ACTION_SUBMIT)
        return OKNO_REFUSAL_UNKNOWN_MESSAGE;
    if (f == F_CLOSED)
        return OKNO_REFUSAL_MESSAGE_CLOSED;
    if (!action_fits(action, f))
        return OKNO_REFUSAL_WRONG_STAGE;
    if (col != legal_col(action, f))
        return OKNO_REFUSAL_NOT_AUTHORIZED;
    if (action == OKNO_ACTION_DRAFT_ANSWER && f == F_EXECUTION)
        return OKNO_REFUSAL_NOT_IN_WORK;
    if (action == OKNO_ACTION_TAKE_INTO_WORK && f == F_EXECUTION_IN_WORK)
        return OKNO_REFUSAL_ALREADY_IN_WORK;
    return OKNO_REFUSAL_NONE;
}

static const legal *legal_find(fixture f, okno_action action)
{
    for (size_t i = 0; i < sizeof legal_cells / sizeof legal_cells[0]; i++) {
        if (legal_cells[i].f == f && legal_cells[i].action == action)
            return &legal_cells[i];
    }
    return NULL;
}

static void cell_expect_legal(const fx_msg *m, fixture f, okno_action action,
                              const okno_step_result *out)
{
    const legal *l = legal_find(f, action);
    okno_stage stage = m->state.stage;
    okno_event_type type = OKNO_EVENT_STAGE_TIME_EXCEEDED;
    okno_outcome outcome = OKNO_OUTCOME_OPEN;
    if (l != NULL) {
        stage = l->stage_after;
        type = l->event;
        outcome = l->outcome_after;
    }
    assert_int_equal(out->events[0].type, type);
    assert_int_equal(out->state.stage, stage);
    assert_int_equal(out->state.outcome, outcome);
    assert_int_equal(out->events[0].stage_before, m->state.stage);
}

static int cells_run;

static void cell_run(fixture f, okno_action action, int col)
{
    static fx_msg m;
    static okno_step_result out;
    fixture_build(&m, f);
    m.now_ms += 100 * 24 * FX_HOUR_MS; /* late enough for every signal */
    okno_actor a = column_actor(col);
    okno_request r = request_for(&m, action, &a);
    assert_int_equal(okno_workflow_step(&m.state, &r, &a, &fx_dir, m.now_ms, &out), 0);
    okno_refusal_code want = expected_refusal(f, action, col);
    if (out.refusal.code != want)
        fail_msg("%s x %s x %s: expected %s, got %s (%s)", fixture_names[f],
                 okno_action_name(action), column_name(col), okno_refusal_code_name(want),
                 okno_refusal_code_name(out.refusal.code), out.refusal.message);
    if (want == OKNO_REFUSAL_NONE)
        cell_expect_legal(&m, f, action, &out);
    else
        assert_true(okno_workflow_state_equal(&out.state, &m.state));
    cells_run++;
}

static void every_stage_action_role_cell_has_its_expected_outcome(void **state)
{
    (void)state;
    for (int f = 0; f < F_COUNT; f++) {
        for (int a = OKNO_ACTION_SUBMIT; a < OKNO_ACTION_COUNT; a++) {
            for (int col = 0; col < C_COUNT; col++)
                cell_run((fixture)f, (okno_action)a, col);
        }
    }
    assert_int_equal(cells_run, F_COUNT * (OKNO_ACTION_COUNT - 1) * C_COUNT);
}

static void every_legal_cell_is_reached(void **state)
{
    (void)state;
    /* Guard against a grid that passes by refusing everything: count the legal cells. */
    int count = 0;
    for (int f = 0; f < F_COUNT; f++) {
        for (int a = OKNO_ACTION_SUBMIT; a < OKNO_ACTION_COUNT; a++) {
            for (int col = 0; col < C_COUNT; col++)
                count += expected_refusal((fixture)f, (okno_action)a, col) == OKNO_REFUSAL_NONE;
        }
    }
    assert_int_equal(count, (int)(sizeof legal_cells / sizeof legal_cells[0]) + 6);
}

static void unknown_action_is_a_bad_request(void **state)
{
    (void)state;
    fx_msg m;
    fx_submit(&m, 5);
    okno_request r = fx_req(&m, (okno_action)OKNO_ACTION_COUNT, FX_MODERATOR, FX_OPERATOR);
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_REQUEST);
    r.action = OKNO_ACTION_NONE;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_stage_action_role_cell_has_its_expected_outcome),
        cmocka_unit_test(every_legal_cell_is_reached),
        cmocka_unit_test(unknown_action_is_a_bad_request),
    };
    return cmocka_run_group_tests(tests, fx_setup, NULL);
}
