/* Real workflows through the wire: every request the core accepts is encoded and decoded before
 * it is stepped, every event it emits is encoded and decoded, and the decoded events alone,
 * folded with okno_workflow_apply(), rebuild exactly the core's state. So the schemas carry
 * every field the workflow sets and needs, not just the ones our samples happen to set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "avro_samples.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/sla.h"
#include "workflow/fixture.h"

/* Room for any record these scenarios produce. */
#define WIRE_BYTES 8192

static okno_message_state shadow; /* folded from decoded events only */
static int wire_steps;            /* steps that went through the wire */

static int setup(void **state)
{
    fx_setup(state);
    return okno_avro_init(NULL);
}

static int teardown(void **state)
{
    (void)state;
    okno_avro_close();
    return 0;
}

/* The request as the ledger would see it after okno.transitions.v1 (or okno.sla.v1). */
static void through_the_wire(const okno_request *req, int64_t now_ms, uint8_t *buf,
                             okno_request *out)
{
    size_t len;
    okno_avro_error err = {0};
    if (req->action == OKNO_ACTION_SLA_SIGNAL) {
        okno_avro_sla_signal s = {0}, back;
        s.message_id = req->message_id;
        s.kind = req->signal;
        s.stage = req->signal_stage;
        s.visit = req->signal_visit;
        s.due_ms = s.emitted_ms = now_ms;
        s.signal_id = okno_avro_sla_signal_id(&s.message_id, s.kind, s.stage, s.visit, s.due_ms);
        assert_int_equal(okno_avro_encode(OKNO_AVRO_SLA, &s, buf, WIRE_BYTES, &len, &err), 0);
        assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_SLA, buf, len, &back, &err), 0);
        okno_avro_sla_signal_request(&back, out);
        return;
    }
    okno_avro_transition t, back;
    memcpy(&t.request, req, sizeof(*req));
    t.request.requested_at_ms = now_ms;
    if (okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, WIRE_BYTES, &len, &err) != 0) {
        fail_msg("encode %s: %s", okno_action_name(req->action), err.reason);
    }
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_TRANSITIONS, buf, len, &back, &err), 0);
    assert_true(okno_test_transition_equal(&t, &back));
    *out = back.request;
}

static void step(fx_msg *m, const okno_request *req)
{
    static uint8_t req_buf[WIRE_BYTES], ev_buf[WIRE_BYTES];
    okno_request wired;
    through_the_wire(req, m->now_ms, req_buf, &wired);
    okno_event ev = fx_ok(m, &wired);
    size_t len;
    okno_avro_error err = {0};
    if (okno_avro_encode(OKNO_AVRO_EVENTS, &ev, ev_buf, sizeof(ev_buf), &len, &err) != 0) {
        fail_msg("encode %s: %s", okno_event_type_name(ev.type), err.reason);
    }
    okno_event back;
    assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, ev_buf, len, &back, &err), 0);
    if (!okno_test_event_equal(&ev, &back)) {
        fail_msg("event %s loses fields on the wire", okno_event_type_name(ev.type));
    }
    assert_int_equal(okno_workflow_apply(&shadow, &back), 0);
    assert_true(okno_workflow_check(&shadow));
    if (!okno_workflow_state_equal(&shadow, &m->state)) {
        fail_msg("state folded from decoded events differs after %s",
                 okno_event_type_name(ev.type));
    }
    m->now_ms += FX_HOUR_MS;
    wire_steps++;
}

static void start(fx_msg *m, uint64_t id, okno_org_id org)
{
    memset(m, 0, sizeof(*m));
    memset(&shadow, 0, sizeof(shadow));
    m->now_ms = FX_T0;
    m->id = fx_uuid(id);
    okno_request r = fx_req(m, OKNO_ACTION_SUBMIT, FX_INTAKE(FX_OPERATOR), FX_OPERATOR);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_INTAKE;
    r.category_id = FX_CATEGORY_30;
    r.text = okno_str_c("Фонарь не горит / the street light is broken");
    r.comment = okno_str_c("by phone");
    step(m, &r);
    r = fx_req(m, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    r.target_org_id = org;
    r.category_id = FX_CATEGORY_30;
    r.subcategory_id = 5;
    step(m, &r);
}

static okno_request reasoned(fx_msg *m, okno_action a, okno_user_id user, okno_org_id org)
{
    okno_request r = fx_req(m, a, user, org);
    r.reason = okno_str_c("stated reason");
    return r;
}

static void draft(fx_msg *m, okno_org_id org, okno_answer_type type, bool with_agreer)
{
    okno_request r = fx_draft_req(m, org, type, "Починили в понедельник",
                                  with_agreer ? FX_AGREE_MANAGER(org) : 0, m->now_ms);
    step(m, &r);
}

static void routing_and_reassignment_survive_the_wire(void **state)
{
    (void)state;
    fx_msg m;
    start(&m, 1, FX_DEPT);
    okno_request r =
        fx_req(&m, OKNO_ACTION_FORWARD_TO_SUBORDINATE, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    r.target_org_id = FX_SUBDEPT;
    step(&m, &r);
    r = reasoned(&m, OKNO_ACTION_RETURN_UPSTREAM, FX_COORDINATOR(FX_SUBDEPT), FX_SUBDEPT);
    step(&m, &r);
    r = fx_req(&m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    r.target_user_id = FX_EXECUTOR(FX_DEPT);
    step(&m, &r);
    r = reasoned(&m, OKNO_ACTION_REASSIGN_EXECUTOR, FX_EXECUTOR(FX_DEPT), FX_DEPT);
    r.target_user_id = FX_EXECUTOR2(FX_DEPT);
    step(&m, &r);
    r = reasoned(&m, OKNO_ACTION_RETURN_TO_COORDINATION, FX_EXECUTOR2(FX_DEPT), FX_DEPT);
    step(&m, &r);
    r = fx_req(&m, OKNO_ACTION_TAKE_OVER, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    step(&m, &r);
    assert_true(m.state.in_work);
}

static void answers_with_review_rounds_survive_the_wire(void **state)
{
    (void)state;
    fx_msg m;
    start(&m, 2, FX_DEPT);
    okno_request r = fx_req(&m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    r.target_user_id = FX_EXECUTOR(FX_DEPT);
    step(&m, &r);
    r = fx_req(&m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR(FX_DEPT), FX_DEPT);
    step(&m, &r);
    draft(&m, FX_DEPT, OKNO_ANSWER_POSTPONED, true);
    r = reasoned(&m, OKNO_ACTION_REFUSE_AGREEMENT, FX_AGREE_MANAGER(FX_DEPT), FX_DEPT);
    step(&m, &r);
    draft(&m, FX_DEPT, OKNO_ANSWER_POSTPONED, true);
    r = fx_req(&m, OKNO_ACTION_AGREE, FX_AGREE_MANAGER(FX_DEPT), FX_DEPT);
    r.text = okno_str_c("Отредактированный текст");
    step(&m, &r);
    r = fx_req(&m, OKNO_ACTION_APPROVE, FX_MANAGER(FX_DEPT), FX_DEPT);
    step(&m, &r); /* an interim answer: back to execution */
    draft(&m, FX_DEPT, OKNO_ANSWER_RESOLVED, false);
    r = reasoned(&m, OKNO_ACTION_REFUSE_APPROVAL, FX_MANAGER(FX_DEPT), FX_DEPT);
    step(&m, &r);
    draft(&m, FX_DEPT, OKNO_ANSWER_RESOLVED, false);
    r = reasoned(&m, OKNO_ACTION_DELEGATE_APPROVAL, FX_MANAGER(FX_DEPT), FX_DEPT);
    r.target_user_id = FX_AUTH_MANAGER(FX_DEPT);
    step(&m, &r);
    r = fx_req(&m, OKNO_ACTION_APPROVE, FX_AUTH_MANAGER(FX_DEPT), FX_DEPT);
    r.text = okno_str_c("Final text");
    step(&m, &r);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_ANSWERED);
}

static void a_redirect_survives_the_wire(void **state)
{
    (void)state;
    fx_msg m;
    start(&m, 3, FX_DEPT);
    okno_request r = fx_req(&m, OKNO_ACTION_PROPOSE_REDIRECT, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    r.target_org_id = FX_OTHER;
    r.agreers[0] = FX_AGREE_MANAGER(FX_DEPT);
    r.agreers_count = 1;
    r.approver_user_id = FX_MANAGER(FX_DEPT);
    step(&m, &r);
    okno_request d =
        reasoned(&m, OKNO_ACTION_DELEGATE_AGREEMENT, FX_AGREE_MANAGER(FX_DEPT), FX_DEPT);
    d.target_user_id = FX_AUTH_MANAGER(FX_DEPT);
    step(&m, &d);
    r = fx_req(&m, OKNO_ACTION_AGREE, FX_AUTH_MANAGER(FX_DEPT), FX_DEPT);
    step(&m, &r);
    r = fx_req(&m, OKNO_ACTION_APPROVE, FX_MANAGER(FX_DEPT), FX_DEPT);
    step(&m, &r);
    assert_int_equal(m.state.holding_org_id, FX_OTHER);
}

static void sla_signals_survive_the_wire(void **state)
{
    (void)state;
    fx_msg m;
    start(&m, 4, FX_DEPT);
    okno_request r = fx_req(&m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(FX_DEPT), FX_DEPT);
    r.target_user_id = FX_EXECUTOR(FX_DEPT);
    step(&m, &r);
    /* Let every signal fall due in turn: stage time, then the answer deadline. */
    for (int i = 0; i < 4; i++) {
        okno_signal_kind kind;
        int64_t due;
        assert_int_equal(okno_sla_next_signal(&m.state, OKNO_APPROACHING_PERMILLE, &kind, &due), 0);
        m.now_ms = due > m.now_ms ? due : m.now_ms;
        r = fx_req(&m, OKNO_ACTION_SLA_SIGNAL, OKNO_SYSTEM_USER_ID, 0);
        r.signal = kind;
        if (kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED) {
            r.signal_stage = m.state.stage;
            r.signal_visit = m.state.stage_visits[m.state.stage];
        }
        step(&m, &r);
    }
}

static void a_moderator_rejection_survives_the_wire(void **state)
{
    (void)state;
    fx_msg m;
    memset(&m, 0, sizeof(m));
    memset(&shadow, 0, sizeof(shadow));
    m.now_ms = FX_T0;
    m.id = fx_uuid(5);
    okno_request r = fx_req(&m, OKNO_ACTION_SUBMIT, FX_APPLICANT, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.text = okno_str_c("spam");
    step(&m, &r);
    r = reasoned(&m, OKNO_ACTION_REJECT, FX_MODERATOR, FX_OPERATOR);
    step(&m, &r);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_REJECTED_BY_MODERATOR);
    assert_true(wire_steps > 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routing_and_reassignment_survive_the_wire),
        cmocka_unit_test(answers_with_review_rounds_survive_the_wire),
        cmocka_unit_test(a_redirect_survives_the_wire),
        cmocka_unit_test(sla_signals_survive_the_wire),
        cmocka_unit_test(a_moderator_rejection_survives_the_wire),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
