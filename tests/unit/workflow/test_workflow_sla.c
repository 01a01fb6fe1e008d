/* SLA arithmetic (SPEC "Deadlines") and the timer's signals through the step. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "okno/error.h"
#include "okno/sla.h"

#define H(n) ((int64_t)(n)*FX_HOUR_MS)
#define D(n) ((int64_t)(n)*OKNO_SLA_DAY_MS)
#define DEPT FX_DEPT

/* SPEC's table, cell by cell, as the regulation writes it (days and hours). */
static void every_cell_of_the_30_and_10_day_table(void **s)
{
    (void)s;
    const struct {
        okno_stage stage;
        int32_t percent;
        int64_t ms30, ms10;
    } rows[] = {
        {OKNO_STAGE_MODERATION, 5, D(1) + H(12), H(12)},
        {OKNO_STAGE_COORDINATION, 5, D(1) + H(12), H(12)},
        {OKNO_STAGE_EXECUTION, 65, D(19) + H(12), D(6) + H(12)},
        {OKNO_STAGE_AGREEMENT, 15, D(4) + H(12), D(1) + H(12)},
        {OKNO_STAGE_APPROVAL, 10, D(3), D(1)},
    };
    int64_t sum30 = 0, sum10 = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(okno_sla_stage_share_percent(rows[i].stage), rows[i].percent);
        assert_int_equal(okno_sla_stage_allotment_ms(30, rows[i].stage), rows[i].ms30);
        assert_int_equal(okno_sla_stage_allotment_ms(10, rows[i].stage), rows[i].ms10);
        sum30 += rows[i].ms30;
        sum10 += rows[i].ms10;
    }
    assert_int_equal(sum30, D(30));
    assert_int_equal(sum10, D(10));
    assert_int_equal(okno_sla_total_ms(30), D(30));
    assert_int_equal(okno_sla_stage_allotment_ms(30, OKNO_STAGE_NONE), 0);
}

static void allotments_are_exact_for_any_whole_number_of_days(void **s)
{
    (void)s;
    for (int32_t days = 1; days <= OKNO_TOTAL_DAYS_MAX; days++) {
        int64_t sum = 0;
        for (int st = OKNO_STAGE_MODERATION; st <= OKNO_STAGE_APPROVAL; st++) {
            int64_t a = okno_sla_stage_allotment_ms(days, (okno_stage)st);
            assert_int_equal(a * 100, D(days) * okno_sla_stage_share_percent((okno_stage)st));
            sum += a;
        }
        assert_int_equal(sum, D(days));
    }
}

static void share_in_permille_rounds_down_without_overflow(void **s)
{
    (void)s;
    assert_int_equal(okno_sla_share_ms(D(30) * 5 / 100, 800), H(28) + 48 * 60000);
    assert_int_equal(okno_sla_share_ms(999, 800), 799);
    assert_int_equal(okno_sla_share_ms(1001, 1), 1);
    assert_int_equal(okno_sla_share_ms(INT64_MAX, 1000), INT64_MAX);
    assert_int_equal(okno_sla_share_ms(INT64_MAX, 500), INT64_MAX / 2);
}

static okno_request signal_req(const fx_msg *m, okno_signal_kind kind)
{
    okno_request r = fx_req(m, OKNO_ACTION_SLA_SIGNAL, OKNO_SYSTEM_USER_ID, 0);
    r.signal = kind;
    r.signal_stage = m->state.stage;
    r.signal_visit = m->state.stage_visits[m->state.stage];
    return r;
}

static void rework_rounds_accumulate_execution_time(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 1, DEPT, true); /* entered execution one hour before taking it */
    m.now_ms += H(9);
    okno_request r = fx_req(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT), DEPT);
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.text = okno_str_c("a");
    r.approver_user_id = FX_MANAGER(DEPT);
    r.agreers[0] = FX_MANAGER(DEPT);
    r.agreers_count = 1;
    fx_ok(&m, &r);
    m.now_ms += H(2);
    okno_request refuse = fx_req(&m, OKNO_ACTION_REFUSE_AGREEMENT, FX_MANAGER(DEPT), DEPT);
    refuse.reason = okno_str_c("rework");
    fx_ok(&m, &refuse);
    m.now_ms += H(5);
    assert_int_equal(okno_sla_visit_used_ms(&m.state, m.now_ms), H(5));
    assert_int_equal(okno_sla_stage_used_ms(&m.state, OKNO_STAGE_EXECUTION, m.now_ms), H(15));
    assert_int_equal(okno_sla_stage_used_ms(&m.state, OKNO_STAGE_AGREEMENT, m.now_ms), H(2));
    assert_int_equal(m.state.stage_visits[OKNO_STAGE_EXECUTION], 2);
    assert_int_equal(okno_sla_stage_remaining_ms(&m.state, OKNO_STAGE_EXECUTION, m.now_ms),
                     D(19) + H(12) - H(15));
    /* a second round of agreement adds to the first */
    fx_ok(&m, &r);
    m.now_ms += H(3);
    assert_int_equal(okno_sla_stage_used_ms(&m.state, OKNO_STAGE_AGREEMENT, m.now_ms), H(5));
}

static void stage_time_approaching_falls_due_at_the_configured_share(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 2);
    /* moderation of a 30-day message: 36 h; 80 % of it is 28 h 48 min */
    int64_t due = FX_T0 + H(28) + 48 * 60000;
    assert_int_equal(okno_sla_signal_due_ms(&m.state, OKNO_SIGNAL_STAGE_TIME_APPROACHING, 800),
                     due);
    assert_int_equal(okno_sla_signal_due_ms(&m.state, OKNO_SIGNAL_STAGE_TIME_APPROACHING, 900),
                     FX_T0 + H(32) + 24 * 60000);
    okno_request r = signal_req(&m, OKNO_SIGNAL_STAGE_TIME_APPROACHING);
    m.now_ms = due - 1;
    fx_refused(&m, &r, OKNO_REFUSAL_SIGNAL_NOT_DUE);
    m.now_ms = due;
    okno_event e = fx_ok(&m, &r);
    assert_int_equal(e.type, OKNO_EVENT_STAGE_TIME_APPROACHING);
    assert_int_equal(e.signal_due_ms, due);
    assert_int_equal(e.signal_stage, OKNO_STAGE_MODERATION);
    assert_int_equal(e.signal_visit, 1);
    assert_int_equal(e.stage_after, OKNO_STAGE_MODERATION);
    fx_refused(&m, &r, OKNO_REFUSAL_SIGNAL_DUPLICATE);
    assert_int_equal(okno_sla_signal_due_ms(&m.state, OKNO_SIGNAL_STAGE_TIME_APPROACHING, 800),
                     OKNO_SLA_NEVER_MS);
    okno_signal_kind kind;
    int64_t next;
    assert_int_equal(okno_sla_next_signal(&m.state, 800, &kind, &next), 0);
    assert_int_equal(kind, OKNO_SIGNAL_STAGE_TIME_EXCEEDED);
    assert_int_equal(next, FX_T0 + H(36));
}

static void configured_permille_moves_the_approaching_signal(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 3);
    fx_dir.config.approaching_permille = 900;
    m.now_ms = FX_T0 + H(30);
    okno_request r = signal_req(&m, OKNO_SIGNAL_STAGE_TIME_APPROACHING);
    fx_refused(&m, &r, OKNO_REFUSAL_SIGNAL_NOT_DUE);
    m.now_ms = FX_T0 + H(32) + 24 * 60000;
    fx_ok(&m, &r);
    fx_reset();
}

static void stage_exceeded_in_an_earlier_visit_is_due_when_the_next_visit_starts(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 4, DEPT, true);
    m.now_ms += D(20); /* past execution's 19 d 12 h */
    okno_request r = fx_req(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT), DEPT);
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.text = okno_str_c("late");
    r.approver_user_id = FX_MANAGER(DEPT);
    fx_ok(&m, &r);
    m.now_ms += H(1);
    okno_request refuse = fx_req(&m, OKNO_ACTION_REFUSE_APPROVAL, FX_MANAGER(DEPT), DEPT);
    refuse.reason = okno_str_c("rework");
    fx_ok(&m, &refuse);
    assert_int_equal(okno_sla_signal_due_ms(&m.state, OKNO_SIGNAL_STAGE_TIME_EXCEEDED, 800),
                     m.now_ms);
    okno_signal_kind kind;
    int64_t due;
    assert_int_equal(okno_sla_next_signal(&m.state, 800, &kind, &due), 0);
    assert_int_equal(kind, OKNO_SIGNAL_STAGE_TIME_APPROACHING); /* ties: approaching first */
    assert_int_equal(due, m.now_ms);
    okno_request sig = signal_req(&m, OKNO_SIGNAL_STAGE_TIME_APPROACHING);
    fx_ok(&m, &sig);
    sig = signal_req(&m, OKNO_SIGNAL_STAGE_TIME_EXCEEDED);
    fx_ok(&m, &sig);
    assert_int_equal(m.state.stage_visits[OKNO_STAGE_EXECUTION], 2);
}

static void signal_for_a_stage_visit_gone_is_stale(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 5);
    okno_request r = signal_req(&m, OKNO_SIGNAL_STAGE_TIME_EXCEEDED);
    m.now_ms += D(2);
    okno_request accept = fx_req(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    accept.target_org_id = DEPT;
    fx_ok(&m, &accept);
    fx_refused(&m, &r, OKNO_REFUSAL_SIGNAL_STALE);
    r.signal_stage = OKNO_STAGE_COORDINATION; /* right stage, wrong visit */
    r.signal_visit = 2;
    fx_refused(&m, &r, OKNO_REFUSAL_SIGNAL_STALE);
}

static void signals_come_only_from_the_system_user(void **s)
{
    (void)s;
    fx_msg m;
    fx_submit(&m, 6);
    m.now_ms += D(40);
    okno_request r = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED);
    r.acting_user_id = FX_MODERATOR;
    r.acting_org_id = FX_OPERATOR;
    fx_refused(&m, &r, OKNO_REFUSAL_NOT_AUTHORIZED);
    r = signal_req(&m, OKNO_SIGNAL_NONE);
    fx_refused(&m, &r, OKNO_REFUSAL_BAD_REQUEST);
    /* and the system user may take no person's action */
    okno_request reject = fx_req(&m, OKNO_ACTION_REJECT, OKNO_SYSTEM_USER_ID, 0);
    reject.reason = okno_str_c("spam");
    fx_refused(&m, &reject, OKNO_REFUSAL_NOT_AUTHORIZED);
}

static void answer_deadline_approaching_and_expired(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 7, DEPT, true);
    okno_request a = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING);
    okno_request x = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED);
    m.now_ms = FX_T0 + D(24) - 1;
    fx_refused(&m, &a, OKNO_REFUSAL_SIGNAL_NOT_DUE);
    m.now_ms = FX_T0 + D(24); /* 80 % of 30 days */
    fx_ok(&m, &a);
    fx_refused(&m, &x, OKNO_REFUSAL_SIGNAL_NOT_DUE);
    m.now_ms = FX_T0 + D(30);
    okno_event e = fx_ok(&m, &x);
    assert_int_equal(e.type, OKNO_EVENT_ANSWER_DEADLINE_EXPIRED);
    assert_int_equal(e.signal_due_ms, FX_T0 + D(30));
    fx_refused(&m, &x, OKNO_REFUSAL_SIGNAL_DUPLICATE);
    /* the message is still open and can be answered late */
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_OPEN);
}

static void postponed_date_reached_only_after_an_interim_answer(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 8, DEPT, OKNO_ANSWER_POSTPONED, false);
    int64_t date = m.state.draft_postponed_until_ms;
    okno_request p = signal_req(&m, OKNO_SIGNAL_POSTPONED_DATE_REACHED);
    fx_refused(&m, &p, OKNO_REFUSAL_SIGNAL_STALE);
    okno_request x = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED);
    fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    /* the deadline moved to the postponed date, so its signals start over */
    assert_int_equal(m.state.deadline_signals, 0);
    m.now_ms = date;
    fx_ok(&m, &p);
    fx_ok(&m, &x);
    assert_int_equal(m.state.answer_deadline_ms, date);
}

/* SPEC Decisions (signals): stage signals belong to a visit, once each; a reassignment to
 * another executor continues the visit; a new visit whose cumulative time is already past the
 * threshold raises its signals at once on entry. */
static void stage_signals_belong_to_a_visit_and_a_reassignment_continues_it(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 20, DEPT, true);
    m.now_ms += D(16); /* past 80 % of execution's 19 d 12 h */
    okno_request a1 = signal_req(&m, OKNO_SIGNAL_STAGE_TIME_APPROACHING);
    assert_int_equal(a1.signal_visit, 1);
    fx_ok(&m, &a1);
    okno_request re = fx_req(&m, OKNO_ACTION_REASSIGN_EXECUTOR, FX_EXECUTOR(DEPT), DEPT);
    re.target_user_id = FX_EXECUTOR2(DEPT);
    re.reason = okno_str_c("leave");
    fx_ok(&m, &re);
    assert_int_equal(m.state.stage_visits[OKNO_STAGE_EXECUTION], 1);
    fx_refused(&m, &a1, OKNO_REFUSAL_SIGNAL_DUPLICATE); /* the same visit: raised once */
    okno_request back = fx_req(&m, OKNO_ACTION_RETURN_TO_COORDINATION, FX_EXECUTOR2(DEPT), DEPT);
    back.reason = okno_str_c("assigned by mistake");
    fx_ok(&m, &back);
    okno_request assign = fx_req(&m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(DEPT), DEPT);
    assign.target_user_id = FX_EXECUTOR(DEPT);
    fx_ok(&m, &assign);
    assert_int_equal(m.state.stage_visits[OKNO_STAGE_EXECUTION], 2);
    fx_refused(&m, &a1, OKNO_REFUSAL_SIGNAL_STALE); /* visit 1 is gone */
    okno_request a2 = signal_req(&m, OKNO_SIGNAL_STAGE_TIME_APPROACHING);
    assert_int_equal(a2.signal_visit, 2);
    fx_ok(&m, &a2); /* due at once: the cumulative time is already past 80 % */
    fx_refused(&m, &a2, OKNO_REFUSAL_SIGNAL_DUPLICATE);
}

/* SPEC Decisions (signals): after an interim answer, answer_deadline_approaching falls at 80 %
 * of the span from the interim answer's approval to the postponed date, and at the date
 * postponed_date_reached comes beside answer_deadline_expired. */
static void deadline_signals_after_an_interim_answer_span_from_its_approval(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_execution(&m, 21, DEPT, true);
    m.now_ms = FX_T0 + D(25); /* the first answer_deadline_approaching was due at day 24 */
    okno_request first = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING);
    fx_ok(&m, &first);
    okno_request d = fx_req(&m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(DEPT), DEPT);
    int64_t date = m.now_ms + D(10);
    d.answer_type = OKNO_ANSWER_POSTPONED;
    d.postponed_until_ms = date;
    d.text = okno_str_c("we will know by then");
    d.approver_user_id = FX_MANAGER(DEPT);
    fx_ok(&m, &d);
    m.now_ms += H(2);
    int64_t approved_at = m.now_ms;
    fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    int64_t due = approved_at + (date - approved_at) / 1000 * 800;
    assert_int_equal(okno_sla_signal_due_ms(&m.state, OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING, 800),
                     due);
    okno_request a = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING);
    okno_request x = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED);
    okno_request p = signal_req(&m, OKNO_SIGNAL_POSTPONED_DATE_REACHED);
    m.now_ms = due - 1;
    fx_refused(&m, &a, OKNO_REFUSAL_SIGNAL_NOT_DUE);
    m.now_ms = due;
    fx_ok(&m, &a); /* raised again: the deadline's signals started over */
    m.now_ms = date - 1;
    fx_refused(&m, &x, OKNO_REFUSAL_SIGNAL_NOT_DUE);
    fx_refused(&m, &p, OKNO_REFUSAL_SIGNAL_NOT_DUE);
    m.now_ms = date;
    fx_ok(&m, &p);
    fx_ok(&m, &x);
}

static void closed_messages_have_no_signals(void **s)
{
    (void)s;
    fx_msg m;
    fx_to_review(&m, 9, DEPT, OKNO_ANSWER_RESOLVED, false);
    fx_do(&m, OKNO_ACTION_APPROVE, FX_MANAGER(DEPT), DEPT);
    okno_signal_kind kind;
    int64_t due;
    assert_int_equal(okno_sla_next_signal(&m.state, 800, &kind, &due), OKNO_ENOTFOUND);
    assert_int_equal(okno_sla_visit_used_ms(&m.state, m.now_ms + D(1)), 0);
    m.now_ms += D(60);
    okno_request r = signal_req(&m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED);
    fx_refused(&m, &r, OKNO_REFUSAL_MESSAGE_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_cell_of_the_30_and_10_day_table),
        cmocka_unit_test(allotments_are_exact_for_any_whole_number_of_days),
        cmocka_unit_test(share_in_permille_rounds_down_without_overflow),
        cmocka_unit_test(rework_rounds_accumulate_execution_time),
        cmocka_unit_test(stage_time_approaching_falls_due_at_the_configured_share),
        cmocka_unit_test(configured_permille_moves_the_approaching_signal),
        cmocka_unit_test(stage_exceeded_in_an_earlier_visit_is_due_when_the_next_visit_starts),
        cmocka_unit_test(signal_for_a_stage_visit_gone_is_stale),
        cmocka_unit_test(signals_come_only_from_the_system_user),
        cmocka_unit_test(answer_deadline_approaching_and_expired),
        cmocka_unit_test(postponed_date_reached_only_after_an_interim_answer),
        cmocka_unit_test(stage_signals_belong_to_a_visit_and_a_reassignment_continues_it),
        cmocka_unit_test(deadline_signals_after_an_interim_answer_span_from_its_approval),
        cmocka_unit_test(closed_messages_have_no_signals),
    };
    return cmocka_run_group_tests(tests, fx_setup, NULL);
}
