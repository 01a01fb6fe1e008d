/* One test per rule of SPEC III and its Decisions: guards, required fields, where each action
 * leads, and what the state keeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "okno/sla.h"

#define DEPT FX_DEPT

static okno_request act(const fx_msg *m, okno_action action, okno_user_id user)
{
    okno_org_id org = user == FX_MODERATOR ? FX_OPERATOR : m->state.holding_org_id;
    return fx_req(m, action, user, org);
}

/* Draft with three agreers (FX_MANAGER, FX_AUTH_MANAGER, FX_SUB_MANAGER); FX_MANAGER approves. */
static void to_three_agreers(fx_msg *m, uint64_t id)
{
    fx_to_execution(m, id, DEPT, true);
    okno_request r = act(m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.text = okno_str_c("answer");
    r.approver_user_id = FX_MANAGER(DEPT);
    r.agreers[0] = FX_MANAGER(DEPT);
    r.agreers[1] = FX_AUTH_MANAGER(DEPT);
    r.agreers[2] = FX_SUB_MANAGER(DEPT);
    r.agreers_count = 3;
    fx_ok(m, &r);
}

static okno_request *reasoned(okno_request *r)
{
    r->reason = okno_str_c("because");
    return r;
}

static okno_request with_reason(okno_request r)
{
    r.reason = okno_str_c("because");
    return r;
}

/* ---- submission and moderation (3.1) ---------------------------------------------------- */

static void applicant_submits_through_portal_into_moderation(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 1);
    assert_int_equal(m.state.stage, OKNO_STAGE_MODERATION);
    assert_int_equal(m.state.holding_org_id, FX_OPERATOR);
    assert_int_equal(m.state.total_days, 30);
    assert_int_equal(m.state.answer_deadline_ms, FX_T0 + 30 * OKNO_SLA_DAY_MS);
    assert_int_equal(m.state.channel, OKNO_CHANNEL_PORTAL);
}

static void portal_submit_for_someone_else_is_not_authorized(void **s)
{
    (void)s;
    fx_msg m = {.id = fx_uuid(2), .now_ms = FX_T0};
    okno_request r = fx_req(&m, OKNO_ACTION_SUBMIT, FX_APPLICANT + 1, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.text = okno_str_c("x");
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AUTHORIZED);
    r.channel = OKNO_CHANNEL_NONE;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_REQUEST);
}

static void submit_requires_text_and_known_category(void **s)
{
    (void)s;
    fx_msg m = {.id = fx_uuid(3), .now_ms = FX_T0};
    okno_request r = fx_req(&m, OKNO_ACTION_SUBMIT, FX_INTAKE(DEPT), DEPT);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_INTAKE;
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_TEXT);
    r.text = okno_str_c("x");
    r.category_id = 99;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_CATEGORY);
    r.category_id = 0; /* unclassified: the default total days */
    fx_ok(&m, &r);
    assert_int_equal(m.state.total_days, fx_dir.config.default_total_days);
    r.category_id = FX_CATEGORY_10;
    fx_refused(&m, &r, OKNO_REFUSAL_ALREADY_EXISTS);
}

static void moderation_happens_only_in_the_operator_org(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 4);
    okno_request r = fx_req(&m, OKNO_ACTION_ACCEPT, FX_ROLE_USER(DEPT, 0), DEPT);
    r.target_org_id = DEPT;
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AUTHORIZED);
}

static void accept_names_the_answering_org_and_may_reclassify(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 5);
    okno_request r = act(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR);
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = 999;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = DEPT;
    r.category_id = FX_CATEGORY_10;
    r.subcategory_id = 7;
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.holding_org_after, DEPT);
    assert_int_equal(m.state.stage, OKNO_STAGE_COORDINATION);
    assert_int_equal(m.state.total_days, 10);
    assert_int_equal(m.state.subcategory_id, 7);
    /* the deadline follows the new category, still counted from submission */
    assert_int_equal(m.state.answer_deadline_ms, FX_T0 + 10 * OKNO_SLA_DAY_MS);
}

static void accept_of_an_unclassified_message_needs_a_category(void **s)
{
    (void)s;
    fx_msg m = {.id = fx_uuid(6), .now_ms = FX_T0};
    okno_request r = fx_req(&m, OKNO_ACTION_SUBMIT, FX_APPLICANT, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.text = okno_str_c("x");
    fx_ok(&m, &r);
    r = act(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR);
    r.target_org_id = DEPT;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_CATEGORY);
}

/* SPEC 3.1: the platform operator's org moderates but does not answer; it has no coordinator,
 * so a message accepted into it would wait there forever. */
static void accept_into_the_operator_org_is_refused(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 90);
    okno_request r = act(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR);
    r.target_org_id = FX_OPERATOR;
    fx_refused(&m, &r, OKNO_REFUSAL_ACCEPT_INTO_OPERATOR_ORG);
    assert_string_equal(okno_refusal_code_name(OKNO_REFUSAL_ACCEPT_INTO_OPERATOR_ORG),
                        "accept_into_operator_org");
    r.target_org_id = FX_DEPT;
    fx_ok(&m, &r);
    assert_int_equal(m.state.holding_org_id, FX_DEPT);
}

static void reject_needs_a_reason_and_closes(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 7);
    okno_request r = act(&m, OKNO_ACTION_REJECT, FX_MODERATOR);
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    r = with_reason(r);
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.type, OKNO_EVENT_MESSAGE_REJECTED);
    assert_int_equal(m.state.stage, OKNO_STAGE_NONE);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_REJECTED_BY_MODERATOR);
    fx_refused(&m, &r, OKNO_REFUSAL_MESSAGE_CLOSED);
}

/* ---- coordination (3.2) ----------------------------------------------------------------- */

static void take_over_makes_the_coordinator_the_executor_in_work(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 10, DEPT);
    okno_request r = act(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(DEPT));
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.target_user_id, FX_COORDINATOR(DEPT));
    assert_int_equal(m.state.executor_user_id, FX_COORDINATOR(DEPT));
    assert_true(m.state.in_work);
    /* and may draft at once, without holding the executor role */
    r = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_COORDINATOR(DEPT));
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.text = okno_str_c("done");
    r.approver_user_id = FX_MANAGER(DEPT);
    fx_ok(&m, &r);
    assert_int_equal(m.state.stage, OKNO_STAGE_APPROVAL);
}

static void assign_executor_requires_the_executor_role_in_the_holding_org(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 11, DEPT);
    okno_request r = act(&m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(DEPT));
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_USER);
    r.target_user_id = FX_EXECUTOR(FX_DEPT2);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AN_EXECUTOR);
    r.target_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AN_EXECUTOR);
    r.target_user_id = FX_EXECUTOR(DEPT);
    fx_ok(&m, &r);
    assert_int_equal(m.state.executor_user_id, FX_EXECUTOR(DEPT));
    assert_false(m.state.in_work);
}

static void coordinator_of_another_org_is_not_authorized(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 12, DEPT);
    okno_request r = fx_req(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(FX_MINISTRY), FX_MINISTRY);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AUTHORIZED);
    /* the right user claiming another org than the actor's is refused too */
    r = fx_req(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(DEPT), DEPT);
    okno_actor a = fx_actor(FX_COORDINATOR(DEPT), FX_MINISTRY);
    okno_step_result out;
    assert_int_equal(okno_workflow_step(&m.state, &r, &a, &fx_dir, m.now_ms, &out), 0);
    assert_int_equal(out.refusal.code, OKNO_REFUSAL_NOT_AUTHORIZED);
}

static void forward_only_to_an_org_below_the_holding_org(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 13, FX_MINISTRY);
    okno_request r = act(&m, OKNO_ACTION_FORWARD_TO_SUBORDINATE, FX_COORDINATOR(FX_MINISTRY));
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = FX_OTHER;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = FX_MINISTRY;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = FX_SUBDEPT; /* two levels down is still below */
    fx_ok(&m, &r);
    assert_int_equal(m.state.holding_org_id, FX_SUBDEPT);
    assert_int_equal(m.state.upstream_count, 1);
    assert_int_equal(m.state.upstream[0], FX_MINISTRY);
}

static void return_upstream_walks_the_forwarding_chain_back(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 14, FX_MINISTRY);
    okno_request r = with_reason(act(&m, OKNO_ACTION_RETURN_UPSTREAM, FX_COORDINATOR(FX_MINISTRY)));
    fx_refused(&m, &r, OKNO_REFUSAL_NO_UPSTREAM);
    r = act(&m, OKNO_ACTION_FORWARD_TO_SUBORDINATE, FX_COORDINATOR(FX_MINISTRY));
    r.target_org_id = DEPT;
    fx_ok(&m, &r);
    r = act(&m, OKNO_ACTION_FORWARD_TO_SUBORDINATE, FX_COORDINATOR(DEPT));
    r.target_org_id = FX_SUBDEPT;
    fx_ok(&m, &r);
    r = act(&m, OKNO_ACTION_RETURN_UPSTREAM, FX_COORDINATOR(FX_SUBDEPT));
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    okno_event e = fx_ok(&m, reasoned(&r));
    assert_int_equal(e.target_org_id, DEPT);
    assert_int_equal(m.state.holding_org_id, DEPT);
    r = act(&m, OKNO_ACTION_RETURN_UPSTREAM, FX_COORDINATOR(DEPT));
    fx_ok(&m, reasoned(&r));
    assert_int_equal(m.state.holding_org_id, FX_MINISTRY);
    assert_int_equal(m.state.upstream_count, 0);
    assert_int_equal(m.state.stage, OKNO_STAGE_COORDINATION);
}

static void forward_is_a_new_coordination_visit(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 15, FX_MINISTRY);
    m.now_ms += 5 * FX_HOUR_MS;
    okno_request r = act(&m, OKNO_ACTION_FORWARD_TO_SUBORDINATE, FX_COORDINATOR(FX_MINISTRY));
    r.target_org_id = DEPT;
    fx_ok(&m, &r);
    assert_int_equal(m.state.stage_visits[OKNO_STAGE_COORDINATION], 2);
    assert_int_equal(m.state.stage_used_ms[OKNO_STAGE_COORDINATION], 5 * FX_HOUR_MS);
    assert_int_equal(m.state.stage_entered_ms, m.now_ms);
}

static void redirect_only_to_an_org_neither_holding_nor_below(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 16, FX_MINISTRY);
    okno_request r = act(&m, OKNO_ACTION_PROPOSE_REDIRECT, FX_COORDINATOR(FX_MINISTRY));
    r.approver_user_id = FX_MANAGER(FX_MINISTRY);
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = DEPT;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = FX_MINISTRY;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = 999;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_TARGET_ORG);
    r.target_org_id = FX_OTHER;
    r.approver_user_id = 0;
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_APPROVER);
    r.approver_user_id = FX_MANAGER(FX_MINISTRY);
    fx_ok(&m, &r);
    assert_int_equal(m.state.stage, OKNO_STAGE_APPROVAL); /* no agreers */
    assert_int_equal(m.state.subject, OKNO_SUBJECT_REDIRECT);
    assert_int_equal(m.state.redirect_org_id, FX_OTHER);
}

/* SPEC Decisions: propose_redirect may target any org that is neither the holding org, nor
 * below it, nor the platform operator's org. */
static void redirect_to_the_operator_org_is_refused(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 91, DEPT);
    okno_request r = act(&m, OKNO_ACTION_PROPOSE_REDIRECT, FX_COORDINATOR(DEPT));
    r.target_org_id = FX_OPERATOR;
    r.approver_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_REDIRECT_TO_OPERATOR_ORG);
    assert_string_equal(okno_refusal_code_name(OKNO_REFUSAL_REDIRECT_TO_OPERATOR_ORG),
                        "redirect_to_operator_org");
    r.target_org_id = FX_OTHER;
    fx_ok(&m, &r);
}

static void redirect_from_a_subordinate_may_go_up_to_its_parent(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 17, DEPT);
    okno_request r = act(&m, OKNO_ACTION_PROPOSE_REDIRECT, FX_COORDINATOR(DEPT));
    r.approver_user_id = FX_MANAGER(DEPT);
    r.target_org_id = FX_DEPT2; /* a sibling */
    fx_ok(&m, &r);
    assert_int_equal(m.state.stage, OKNO_STAGE_APPROVAL);
}

/* ---- reviewers named by propose_redirect and draft_answer ------------------------------- */

static void reviewers_must_be_distinct_managers_of_the_holding_org(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 20, DEPT, true);
    okno_request r = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.text = okno_str_c("a");
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_APPROVER);
    r.approver_user_id = FX_EXECUTOR2(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_A_MANAGER);
    r.approver_user_id = FX_MANAGER(FX_MINISTRY);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_A_MANAGER);
    r.approver_user_id = FX_MANAGER(DEPT);
    r.agreers[0] = FX_AUTH_MANAGER(DEPT);
    r.agreers[1] = FX_AUTH_MANAGER(DEPT);
    r.agreers_count = 2;
    fx_refused(&m, &r, OKNO_REFUSAL_AGREER_DUPLICATE);
    r.agreers[1] = FX_COORDINATOR(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_A_MANAGER);
    r.agreers_count = OKNO_AGREERS_MAX + 1;
    fx_refused(&m, &r, OKNO_REFUSAL_TOO_MANY_AGREERS);
    r.agreers[1] = FX_MANAGER(DEPT); /* the approver may also be an agreer */
    r.agreers_count = 2;
    fx_ok(&m, &r);
    assert_int_equal(m.state.stage, OKNO_STAGE_AGREEMENT);
}

/* ---- execution (3.3-3.5) ---------------------------------------------------------------- */

static void draft_answer_requires_take_into_work_first(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 21, DEPT, false);
    okno_request r = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.text = okno_str_c("a");
    r.approver_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_IN_WORK);
    okno_request t = act(&m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR(DEPT));
    fx_ok(&m, &t);
    fx_refused(&m, &t, OKNO_REFUSAL_ALREADY_IN_WORK);
    fx_ok(&m, &r);
}

static void draft_answer_requires_type_and_text(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 22, DEPT, true);
    okno_request r = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    r.approver_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_ANSWER_TYPE);
    r.answer_type = (okno_answer_type)OKNO_ANSWER_COUNT;
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_ANSWER_TYPE);
    r.answer_type = OKNO_ANSWER_REJECTED;
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_TEXT);
    r.text = okno_str_c("rules 2.4");
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    fx_ok(&m, reasoned(&r));
}

/* SPEC Decisions: a Rejected answer states its reason (the submission rule it cites). */
static void rejected_answer_states_its_reason(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 92, DEPT, true);
    okno_request r = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    r.answer_type = OKNO_ANSWER_REJECTED;
    r.text = okno_str_c("the message breaks rule 2.4");
    r.approver_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    r.reason = okno_str_c("rules 2.4: no personal data of others");
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.answer_type, OKNO_ANSWER_REJECTED);
    assert_int_equal(e.reason.len, r.reason.len);
    assert_memory_equal(e.reason.ptr, r.reason.ptr, r.reason.len);
    /* the other answer types need no reason */
    fx_msg n;
    fx_to_execution(&n, 93, DEPT, true);
    okno_request q = act(&n, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    q.answer_type = OKNO_ANSWER_NOT_RESOLVED;
    q.text = okno_str_c("outside our competence");
    q.approver_user_id = FX_MANAGER(DEPT);
    fx_ok(&n, &q);
}

static void postponed_answer_needs_a_future_date(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 23, DEPT, true);
    okno_request r = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    r.answer_type = OKNO_ANSWER_POSTPONED;
    r.text = okno_str_c("by spring");
    r.approver_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_POSTPONED_DATE);
    r.postponed_until_ms = m.now_ms;
    fx_refused(&m, &r, OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE);
    r.postponed_until_ms = m.now_ms + 1;
    fx_ok(&m, &r);
    assert_int_equal(m.state.draft_postponed_until_ms, m.now_ms + 1);
}

static void return_to_coordination_needs_a_reason_and_clears_the_executor(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 24, DEPT, true);
    okno_request r = act(&m, OKNO_ACTION_RETURN_TO_COORDINATION, FX_EXECUTOR(DEPT));
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    fx_ok(&m, reasoned(&r));
    assert_int_equal(m.state.stage, OKNO_STAGE_COORDINATION);
    assert_int_equal(m.state.executor_user_id, 0);
    assert_false(m.state.in_work);
}

static void reassign_names_another_executor_who_must_take_it_into_work(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 25, DEPT, true);
    okno_request r = act(&m, OKNO_ACTION_REASSIGN_EXECUTOR, FX_EXECUTOR(DEPT));
    r.target_user_id = FX_EXECUTOR2(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    r = with_reason(r);
    r.target_user_id = FX_EXECUTOR(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_SAME_EXECUTOR);
    r.target_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AN_EXECUTOR);
    r.target_user_id = FX_EXECUTOR2(DEPT);
    fx_ok(&m, &r);
    assert_int_equal(m.state.executor_user_id, FX_EXECUTOR2(DEPT));
    assert_false(m.state.in_work);
    assert_int_equal(m.state.stage_visits[OKNO_STAGE_EXECUTION], 1); /* same visit */
    /* the previous executor has no say any more */
    fx_deny(&m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR(DEPT), DEPT, OKNO_REFUSAL_NOT_AUTHORIZED);
    fx_do(&m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR2(DEPT), DEPT);
}

/* ---- agreement (3.6-3.7) ---------------------------------------------------------------- */

static void agreement_all_agree_in_any_order_then_approval(void **s)
{
    (void)s;
    fx_msg m;
    to_three_agreers(&m, 30);
    const okno_user_id order[3] = {FX_SUB_MANAGER(DEPT), FX_MANAGER(DEPT), FX_AUTH_MANAGER(DEPT)};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(m.state.stage, OKNO_STAGE_AGREEMENT);
        fx_do(&m, OKNO_ACTION_AGREE, order[i], DEPT);
    }
    assert_int_equal(m.state.stage, OKNO_STAGE_APPROVAL);
}

static void agreement_twice_by_the_same_agreer_is_refused(void **s)
{
    (void)s;
    fx_msg m;
    to_three_agreers(&m, 31);
    okno_request r = act(&m, OKNO_ACTION_AGREE, FX_AUTH_MANAGER(DEPT));
    fx_ok(&m, &r);
    fx_refused(&m, &r, OKNO_REFUSAL_ALREADY_AGREED);
    r = act(&m, OKNO_ACTION_REFUSE_AGREEMENT, FX_AUTH_MANAGER(DEPT));
    fx_refused(&m, reasoned(&r), OKNO_REFUSAL_ALREADY_AGREED);
    fx_deny(&m, OKNO_ACTION_AGREE, FX_BARE_MANAGER(DEPT), DEPT, OKNO_REFUSAL_NOT_AUTHORIZED);
}

static void agreement_first_refusal_ends_round(void **s)
{
    (void)s;
    fx_msg m;
    to_three_agreers(&m, 32);
    uint64_t draft_seq = m.state.draft_text_seq;
    fx_do(&m, OKNO_ACTION_AGREE, FX_MANAGER(DEPT), DEPT);
    okno_request r = act(&m, OKNO_ACTION_REFUSE_AGREEMENT, FX_SUB_MANAGER(DEPT));
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    okno_event e = fx_ok(&m, reasoned(&r));
    assert_int_equal(e.subject, OKNO_SUBJECT_ANSWER);
    /* back to the same executor, still in work, draft kept; the round is gone */
    assert_int_equal(m.state.stage, OKNO_STAGE_EXECUTION);
    assert_int_equal(m.state.executor_user_id, FX_EXECUTOR(DEPT));
    assert_true(m.state.in_work);
    assert_true(m.state.has_draft);
    assert_int_equal(m.state.draft_text_seq, draft_seq);
    assert_int_equal(m.state.agreers_count, 0);
    assert_int_equal(m.state.approver_user_id, 0);
    /* the remaining agreer can no longer act */
    fx_deny(&m, OKNO_ACTION_AGREE, FX_AUTH_MANAGER(DEPT), DEPT, OKNO_REFUSAL_WRONG_STAGE);
}

static void new_agreement_round_starts_from_nobody_agreed(void **s)
{
    (void)s;
    fx_msg m;
    to_three_agreers(&m, 33);
    fx_do(&m, OKNO_ACTION_AGREE, FX_MANAGER(DEPT), DEPT);
    okno_request r = with_reason(act(&m, OKNO_ACTION_REFUSE_AGREEMENT, FX_SUB_MANAGER(DEPT)));
    fx_ok(&m, &r);
    okno_request d = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    d.answer_type = OKNO_ANSWER_RESOLVED;
    d.text = okno_str_c("better answer");
    d.approver_user_id = FX_MANAGER(DEPT);
    d.agreers[0] = FX_MANAGER(DEPT);
    d.agreers_count = 1;
    fx_ok(&m, &d);
    assert_int_equal(m.state.agreer_decisions[0], OKNO_AGREER_PENDING);
    assert_int_equal(m.state.stage_visits[OKNO_STAGE_AGREEMENT], 2);
}

static void agreement_delegation_needs_category_authority(void **s)
{
    (void)s;
    fx_msg m;
    to_three_agreers(&m, 34);
    okno_request r = act(&m, OKNO_ACTION_DELEGATE_AGREEMENT, FX_MANAGER(DEPT));
    r.target_user_id = FX_AGREE_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    r = with_reason(r);
    r.target_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_DELEGATE_INVALID); /* oneself */
    r.target_user_id = FX_AUTH_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_DELEGATE_INVALID); /* already an agreer */
    r.target_user_id = FX_BARE_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED);
    r.target_user_id = FX_EXECUTOR2(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_A_MANAGER);
    r.target_user_id = FX_AGREE_MANAGER(FX_MINISTRY);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_A_MANAGER);
    r.target_user_id = FX_AGREE_MANAGER(DEPT);
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.target_user_id, FX_AGREE_MANAGER(DEPT));
    assert_int_equal(m.state.agreers[0], FX_AGREE_MANAGER(DEPT));
    /* the delegator is out of the round, the delegate is in */
    fx_deny(&m, OKNO_ACTION_AGREE, FX_MANAGER(DEPT), DEPT, OKNO_REFUSAL_NOT_AUTHORIZED);
    fx_do(&m, OKNO_ACTION_AGREE, FX_AGREE_MANAGER(DEPT), DEPT);
}

static void edited_text_on_agree_replaces_the_draft_and_records_which(void **s)
{
    (void)s;
    fx_msg m;
    to_three_agreers(&m, 35);
    uint64_t draft = m.state.draft_text_seq;
    okno_request r = act(&m, OKNO_ACTION_AGREE, FX_MANAGER(DEPT));
    r.text = okno_str_c("edited");
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.text_replaces_seq, draft);
    assert_int_equal(m.state.draft_text_seq, e.seq);
    assert_int_equal(e.text.len, 6);
}

/* ---- approval (3.8-3.9) ----------------------------------------------------------------- */

static void approving_a_final_answer_closes_the_message(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 40, DEPT, OKNO_ANSWER_NOT_RESOLVED, false);
    assert_int_equal(m.state.stage, OKNO_STAGE_APPROVAL);
    okno_request r = act(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT));
    r.text = okno_str_c("final wording");
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.subject, OKNO_SUBJECT_ANSWER);
    assert_int_equal(e.answer_type, OKNO_ANSWER_NOT_RESOLVED);
    assert_false(e.interim);
    assert_int_equal(e.text_replaces_seq, m.state.last_seq - 1);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_ANSWERED);
    assert_int_equal(m.state.stage, OKNO_STAGE_NONE);
    fx_refused(&m, &r, OKNO_REFUSAL_MESSAGE_CLOSED);
}

static void refused_approval_returns_answer_to_same_executor(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 41, DEPT, OKNO_ANSWER_RESOLVED, true);
    fx_do(&m, OKNO_ACTION_AGREE, FX_MANAGER(DEPT), DEPT);
    okno_request r = act(&m, OKNO_ACTION_REFUSE_APPROVAL, FX_MANAGER(DEPT));
    fx_refused(&m, &r, OKNO_REFUSAL_MISSING_REASON);
    fx_ok(&m, reasoned(&r));
    assert_int_equal(m.state.stage, OKNO_STAGE_EXECUTION);
    assert_int_equal(m.state.executor_user_id, FX_EXECUTOR(DEPT));
    assert_true(m.state.has_draft);
    assert_true(m.state.in_work);
}

static void approval_delegation_needs_subcategory_authority(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 42);
    okno_request a = act(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR);
    a.target_org_id = DEPT;
    a.category_id = FX_CATEGORY_30;
    a.subcategory_id = 6;
    fx_ok(&m, &a);
    okno_request t = act(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(DEPT));
    fx_ok(&m, &t);
    okno_request d = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_COORDINATOR(DEPT));
    d.answer_type = OKNO_ANSWER_RESOLVED;
    d.text = okno_str_c("a");
    d.approver_user_id = FX_MANAGER(DEPT);
    fx_ok(&m, &d);
    okno_request r = with_reason(act(&m, OKNO_ACTION_DELEGATE_APPROVAL, FX_MANAGER(DEPT)));
    r.target_user_id = FX_SUB_MANAGER(DEPT); /* authority for subcategory 5 only */
    fx_refused(&m, &r, OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED);
    r.target_user_id = FX_AGREE_MANAGER(DEPT); /* may agree, not approve */
    fx_refused(&m, &r, OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED);
    r.target_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &r, OKNO_REFUSAL_DELEGATE_INVALID);
    r.target_user_id = FX_AUTH_MANAGER(DEPT); /* whole category */
    fx_ok(&m, &r);
    assert_int_equal(m.state.approver_user_id, FX_AUTH_MANAGER(DEPT));
    fx_do(&m, OKNO_ACTION_APPROVE, FX_AUTH_MANAGER(DEPT), DEPT);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_ANSWERED);
}

static void approver_acts_only_from_the_holding_org(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 43, DEPT, OKNO_ANSWER_RESOLVED, false);
    okno_request r = fx_req(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), FX_MINISTRY);
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AUTHORIZED);
}

/* ---- postponed answers ------------------------------------------------------------------- */

static void postponed_answer_is_interim_and_execution_resumes_until_the_date(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 50, DEPT, OKNO_ANSWER_POSTPONED, true);
    int64_t date = m.state.draft_postponed_until_ms;
    fx_do(&m, OKNO_ACTION_AGREE, FX_MANAGER(DEPT), DEPT);
    m.now_ms += FX_HOUR_MS;
    okno_event e = fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    assert_true(e.interim);
    assert_int_equal(e.answer_type, OKNO_ANSWER_POSTPONED);
    assert_int_equal(e.postponed_until_ms, date);
    assert_int_equal(m.state.stage, OKNO_STAGE_EXECUTION);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_OPEN);
    assert_int_equal(m.state.executor_user_id, FX_EXECUTOR(DEPT));
    assert_true(m.state.in_work);
    assert_false(m.state.has_draft);
    assert_int_equal(m.state.answer_deadline_ms, date);
    assert_int_equal(m.state.deadline_start_ms, m.now_ms);
    /* the final answer may not be postponed again, but may be anything else */
    okno_request d = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    d.answer_type = OKNO_ANSWER_POSTPONED;
    d.postponed_until_ms = date + 1;
    d.text = okno_str_c("later still");
    d.approver_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &d, OKNO_REFUSAL_ALREADY_POSTPONED);
    d.answer_type = OKNO_ANSWER_RESOLVED;
    fx_ok(&m, &d);
    fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_ANSWERED);
}

/* SPEC Decision (postponed answers): a message is postponed at most once. */
static void only_one_interim_answer_per_message(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 94, DEPT, OKNO_ANSWER_POSTPONED, false);
    int64_t date = m.state.draft_postponed_until_ms;
    assert_true(fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT).interim);
    okno_request d = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    d.answer_type = OKNO_ANSWER_POSTPONED;
    d.postponed_until_ms = date - FX_HOUR_MS; /* even a date before the first one */
    d.text = okno_str_c("again later");
    d.approver_user_id = FX_MANAGER(DEPT);
    fx_refused(&m, &d, OKNO_REFUSAL_ALREADY_POSTPONED);
    d.answer_type = OKNO_ANSWER_NOT_RESOLVED;
    d.postponed_until_ms = 0;
    fx_ok(&m, &d);
    okno_event e = fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    assert_false(e.interim);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_ANSWERED);
}

static void postponed_date_passed_before_approval_is_refused(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 51, DEPT, OKNO_ANSWER_POSTPONED, false);
    m.now_ms = m.state.draft_postponed_until_ms;
    okno_request r = act(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT));
    fx_refused(&m, &r, OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE);
    r = act(&m, OKNO_ACTION_REFUSE_APPROVAL, FX_MANAGER(DEPT));
    fx_ok(&m, reasoned(&r));
}

/* ---- redirect --------------------------------------------------------------------------- */

static void propose_redirect(fx_msg *m, uint64_t id, bool with_agreer)
{
    fx_to_coordination(m, id, DEPT);
    okno_request r = act(m, OKNO_ACTION_PROPOSE_REDIRECT, FX_COORDINATOR(DEPT));
    r.target_org_id = FX_OTHER;
    r.approver_user_id = FX_MANAGER(DEPT);
    if (with_agreer) {
        r.agreers[0] = FX_AUTH_MANAGER(DEPT);
        r.agreers_count = 1;
    }
    fx_ok(m, &r);
}

static void redirect_approved_enters_target_coordination_keeping_deadline(void **s)
{
    (void)s;
    fx_msg m;
    propose_redirect(&m, 60, true);
    int64_t deadline = m.state.answer_deadline_ms;
    okno_request r = act(&m, OKNO_ACTION_AGREE, FX_AUTH_MANAGER(DEPT));
    r.text = okno_str_c("no text for a redirect");
    fx_refused(&m, &r, OKNO_REFUSAL_TEXT_NOT_ALLOWED);
    r.text = (okno_str){0};
    fx_ok(&m, &r);
    m.now_ms += 3 * FX_HOUR_MS;
    okno_event e = fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    assert_int_equal(e.subject, OKNO_SUBJECT_REDIRECT);
    assert_int_equal(e.target_org_id, FX_OTHER);
    assert_int_equal(e.holding_org_after, FX_OTHER);
    assert_false(e.deadline_restarted);
    assert_int_equal(m.state.stage, OKNO_STAGE_COORDINATION);
    assert_int_equal(m.state.holding_org_id, FX_OTHER);
    assert_int_equal(m.state.answer_deadline_ms, deadline);
    assert_int_equal(m.state.upstream_count, 0);
    /* the target org's coordinator now acts; the old one does not */
    fx_deny(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(DEPT), DEPT, OKNO_REFUSAL_NOT_AUTHORIZED);
    fx_do(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(FX_OTHER), FX_OTHER);
}

/* SPEC Decisions: only an answer has a text; agreeing or approving a redirect carries none. */
static void redirect_agreement_and_approval_carry_no_text(void **s)
{
    (void)s;
    fx_msg m;
    propose_redirect(&m, 95, true);
    okno_request r = act(&m, OKNO_ACTION_AGREE, FX_AUTH_MANAGER(DEPT));
    r.text = okno_str_c("an edited redirect");
    fx_refused(&m, &r, OKNO_REFUSAL_TEXT_NOT_ALLOWED);
    r.text = (okno_str){0};
    fx_ok(&m, &r);
    assert_int_equal(m.state.stage, OKNO_STAGE_APPROVAL);
    okno_request a = act(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT));
    a.text = okno_str_c("an edited redirect");
    fx_refused(&m, &a, OKNO_REFUSAL_TEXT_NOT_ALLOWED);
    a.text = (okno_str){0};
    okno_event e = fx_ok(&m, &a);
    assert_int_equal(e.subject, OKNO_SUBJECT_REDIRECT);
    assert_int_equal(e.text.len, 0);
}

static void redirect_restarts_deadline_when_configured(void **s)
{
    (void)s;
    fx_msg m;
    fx_dir.config.redirect_restarts_deadline = true;
    propose_redirect(&m, 61, false);
    m.now_ms += 2 * FX_HOUR_MS;
    okno_event e = fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    fx_reset();
    assert_true(e.deadline_restarted);
    assert_int_equal(m.state.answer_deadline_ms, m.now_ms + 30 * OKNO_SLA_DAY_MS);
    assert_int_equal(m.state.deadline_start_ms, m.now_ms);
    assert_int_equal(m.state.stage_used_ms[OKNO_STAGE_APPROVAL], 0);
}

static void refused_redirect_is_dropped_back_to_coordination(void **s)
{
    (void)s;
    fx_msg m;
    propose_redirect(&m, 62, true);
    fx_ok(&m, &(okno_request){.action = OKNO_ACTION_REFUSE_AGREEMENT,
                              .message_id = m.id,
                              .acting_user_id = FX_AUTH_MANAGER(DEPT),
                              .acting_org_id = DEPT,
                              .reason = okno_str_c("it is ours")});
    assert_int_equal(m.state.stage, OKNO_STAGE_COORDINATION);
    assert_int_equal(m.state.holding_org_id, DEPT);
    assert_int_equal(m.state.redirect_org_id, 0);
    assert_int_equal(m.state.subject, OKNO_SUBJECT_NONE);
    propose_redirect(&m, 63, false);
    fx_ok(&m, &(okno_request){.action = OKNO_ACTION_REFUSE_APPROVAL,
                              .message_id = m.id,
                              .acting_user_id = FX_MANAGER(DEPT),
                              .acting_org_id = DEPT,
                              .reason = okno_str_c("it is ours")});
    assert_int_equal(m.state.stage, OKNO_STAGE_COORDINATION);
}

/* ---- generic rules ---------------------------------------------------------------------- */

static void refusal_leaves_state_unchanged_and_says_why(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 70, DEPT);
    okno_request r = act(&m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(DEPT));
    okno_step_result out;
    okno_actor a = fx_actor(FX_COORDINATOR(DEPT), DEPT);
    assert_int_equal(okno_workflow_step(&m.state, &r, &a, &fx_dir, m.now_ms, &out), 0);
    assert_int_equal(out.refusal.code, OKNO_REFUSAL_BAD_TARGET_USER);
    assert_int_equal(out.events_count, 0);
    assert_true(okno_workflow_state_equal(&out.state, &m.state));
    assert_string_equal(out.refusal.message,
                        "assign_executor refused at stage coordination: the target user is "
                        "missing");
}

/* The client's requested_at is recorded in the event for audits; the ledger's clock decides
 * when the event happened and judges dates against it. */
static void the_clients_requested_at_is_recorded_but_the_ledgers_clock_decides(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 96, DEPT, true);
    okno_request r = act(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT));
    r.answer_type = OKNO_ANSWER_POSTPONED;
    r.text = okno_str_c("later");
    r.approver_user_id = FX_MANAGER(DEPT);
    r.postponed_until_ms = m.now_ms - FX_HOUR_MS;  /* past by the ledger's clock */
    r.requested_at_ms = m.now_ms - 2 * FX_HOUR_MS; /* though "future" by the client's */
    fx_refused(&m, &r, OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE);
    r.postponed_until_ms = m.now_ms + 24 * FX_HOUR_MS;
    r.requested_at_ms = m.now_ms + 365 * 24 * FX_HOUR_MS; /* a client clock far ahead */
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.at_ms, m.now_ms);
    assert_int_equal(e.requested_at_ms, r.requested_at_ms);
}

/* Submit may carry the applicant's e-mail; the event records it; it is bounded like a text. */
static void applicant_email_is_recorded_at_submission_and_bounded(void **s)
{
    (void)s;
    fx_msg m;
    okno_request r = fx_submission(&m, 97);
    static char longest[OKNO_EMAIL_BYTES_MAX + 1];
    memset(longest, 'a', sizeof longest);
    r.applicant_email = (okno_str){longest, OKNO_EMAIL_BYTES_MAX + 1};
    fx_refused(&m, &r, OKNO_REFUSAL_TEXT_TOO_LONG);
    r.applicant_email = okno_str_c("citizen@example.org");
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.applicant_email.len, r.applicant_email.len);
    assert_memory_equal(e.applicant_email.ptr, "citizen@example.org", e.applicant_email.len);
}

/* Submit may carry file references; the event records them; a malformed one is refused and
 * okno_attachment_valid names its member. */
static void attachments_are_recorded_at_submission_and_validated(void **s)
{
    (void)s;
    fx_msg m;
    okno_request r = fx_submission(&m, 98);
    const okno_attachment good = {okno_str_c("f-1"), okno_str_c("фото.jpg"),
                                  okno_str_c("image/jpeg"), 1024,
                                  okno_str_c("9f86d081884c7d659a2feaa0c55ad015"
                                             "a3bf4f1b2b0b822cd15d6c15b0f00a08")};
    const char *field = "x";
    assert_true(okno_attachment_valid(&good, &field));
    assert_null(field);
    struct {
        okno_attachment a;
        const char *field;
    } bad[] = {{good, "id"},         {good, "name"},   {good, "media_type"}, {good, "size_bytes"},
               {good, "size_bytes"}, {good, "sha256"}, {good, "sha256"}};
    bad[0].a.id = okno_str_c("has space");
    bad[1].a.name = okno_str_c("line\nbreak");
    bad[2].a.media_type = okno_str_c("pdf");
    bad[3].a.size_bytes = -1;
    bad[4].a.size_bytes = OKNO_ATTACHMENT_SIZE_MAX + 1;
    bad[5].a.sha256 =
        okno_str_c("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08");
    bad[6].a.sha256 = okno_str_c("abc");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(okno_attachment_valid(&bad[i].a, &field));
        assert_string_equal(field, bad[i].field);
        r.attachments[0] = good;
        r.attachments[1] = bad[i].a;
        r.attachments_count = 2;
        fx_refused(&m, &r, OKNO_REFUSAL_INVALID_ATTACHMENT);
    }
    r.attachments_count = OKNO_ATTACHMENTS_MAX + 1;
    fx_refused(&m, &r, OKNO_REFUSAL_INVALID_ATTACHMENT);
    r.attachments_count = 2;
    r.attachments[1] = good;
    r.attachments[1].id = okno_str_c("f-2");
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.attachments_count, 2);
    assert_int_equal(e.attachments[0].size_bytes, 1024);
    assert_memory_equal(e.attachments[1].id.ptr, "f-2", 3);
}

static void oversized_or_dangling_text_is_refused(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 71);
    okno_request r = with_reason(act(&m, OKNO_ACTION_REJECT, FX_MODERATOR));
    r.reason.len = OKNO_REASON_BYTES_MAX + 1;
    fx_refused(&m, &r, OKNO_REFUSAL_TEXT_TOO_LONG);
    r = with_reason(r);
    r.comment = (okno_str){NULL, 3};
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_REQUEST);
}

static void event_time_never_runs_backwards(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 72, DEPT);
    int64_t last = m.state.last_at_ms;
    m.now_ms = last - 10 * FX_HOUR_MS; /* another ledger instance with a slow clock */
    okno_event e = fx_do(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(DEPT), DEPT);
    assert_int_equal(e.at_ms, last);
    assert_true(okno_workflow_check(&m.state));
}

static void null_arguments_are_einval(void **s)
{
    (void)s;
    okno_request r = {0};
    okno_actor a = {0};
    okno_step_result out;
    assert_int_equal(okno_workflow_step(NULL, NULL, &a, &fx_dir, 0, &out), -1);
    assert_int_equal(okno_workflow_step(NULL, &r, &a, &fx_dir, 0, NULL), -1);
    assert_int_equal(okno_workflow_apply(NULL, NULL), -1);
    assert_false(okno_workflow_check(NULL));
}

static void apply_refuses_an_event_out_of_sequence(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_coordination(&m, 73, DEPT);
    okno_message_state before = m.state;
    okno_event e = fx_do(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(DEPT), DEPT);
    okno_message_state again = m.state;
    assert_int_equal(okno_workflow_apply(&again, &e), -1); /* already folded */
    e.message_id = fx_uuid(74);
    assert_int_equal(okno_workflow_apply(&before, &e), -1); /* another message */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(applicant_submits_through_portal_into_moderation),
        cmocka_unit_test(portal_submit_for_someone_else_is_not_authorized),
        cmocka_unit_test(submit_requires_text_and_known_category),
        cmocka_unit_test(moderation_happens_only_in_the_operator_org),
        cmocka_unit_test(accept_names_the_answering_org_and_may_reclassify),
        cmocka_unit_test(accept_of_an_unclassified_message_needs_a_category),
        cmocka_unit_test(accept_into_the_operator_org_is_refused),
        cmocka_unit_test(reject_needs_a_reason_and_closes),
        cmocka_unit_test(take_over_makes_the_coordinator_the_executor_in_work),
        cmocka_unit_test(assign_executor_requires_the_executor_role_in_the_holding_org),
        cmocka_unit_test(coordinator_of_another_org_is_not_authorized),
        cmocka_unit_test(forward_only_to_an_org_below_the_holding_org),
        cmocka_unit_test(return_upstream_walks_the_forwarding_chain_back),
        cmocka_unit_test(forward_is_a_new_coordination_visit),
        cmocka_unit_test(redirect_only_to_an_org_neither_holding_nor_below),
        cmocka_unit_test(redirect_to_the_operator_org_is_refused),
        cmocka_unit_test(redirect_from_a_subordinate_may_go_up_to_its_parent),
        cmocka_unit_test(reviewers_must_be_distinct_managers_of_the_holding_org),
        cmocka_unit_test(draft_answer_requires_take_into_work_first),
        cmocka_unit_test(draft_answer_requires_type_and_text),
        cmocka_unit_test(rejected_answer_states_its_reason),
        cmocka_unit_test(postponed_answer_needs_a_future_date),
        cmocka_unit_test(return_to_coordination_needs_a_reason_and_clears_the_executor),
        cmocka_unit_test(reassign_names_another_executor_who_must_take_it_into_work),
        cmocka_unit_test(agreement_all_agree_in_any_order_then_approval),
        cmocka_unit_test(agreement_twice_by_the_same_agreer_is_refused),
        cmocka_unit_test(agreement_first_refusal_ends_round),
        cmocka_unit_test(new_agreement_round_starts_from_nobody_agreed),
        cmocka_unit_test(agreement_delegation_needs_category_authority),
        cmocka_unit_test(edited_text_on_agree_replaces_the_draft_and_records_which),
        cmocka_unit_test(approving_a_final_answer_closes_the_message),
        cmocka_unit_test(refused_approval_returns_answer_to_same_executor),
        cmocka_unit_test(approval_delegation_needs_subcategory_authority),
        cmocka_unit_test(approver_acts_only_from_the_holding_org),
        cmocka_unit_test(postponed_answer_is_interim_and_execution_resumes_until_the_date),
        cmocka_unit_test(only_one_interim_answer_per_message),
        cmocka_unit_test(postponed_date_passed_before_approval_is_refused),
        cmocka_unit_test(redirect_approved_enters_target_coordination_keeping_deadline),
        cmocka_unit_test(redirect_agreement_and_approval_carry_no_text),
        cmocka_unit_test(redirect_restarts_deadline_when_configured),
        cmocka_unit_test(refused_redirect_is_dropped_back_to_coordination),
        cmocka_unit_test(refusal_leaves_state_unchanged_and_says_why),
        cmocka_unit_test(the_clients_requested_at_is_recorded_but_the_ledgers_clock_decides),
        cmocka_unit_test(applicant_email_is_recorded_at_submission_and_bounded),
        cmocka_unit_test(attachments_are_recorded_at_submission_and_validated),
        cmocka_unit_test(oversized_or_dangling_text_is_refused),
        cmocka_unit_test(event_time_never_runs_backwards),
        cmocka_unit_test(null_arguments_are_einval),
        cmocka_unit_test(apply_refuses_an_event_out_of_sequence),
    };
    return cmocka_run_group_tests(tests, fx_setup, NULL);
}
