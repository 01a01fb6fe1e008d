/* The timer's tracker on a manual clock, end to end through the real workflow core (sim.h):
 * every cell of SPEC's 30- and 10-day table gets its approaching and exceeded signals at
 * exactly the right simulated minute; rework rounds accumulate; a postponed answer moves the
 * answer deadline; a message that moves on or closes gets no stale signals; a restart from the
 * snapshot signals at once, marked late, what fell due while down. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "okno/error.h"
#include "okno/sla.h"
#include "okno/uuid.h"
#include "sim.h"
#include "timer.h"

#define H(n)   ((int64_t)(n)*FX_HOUR_MS)
#define D(n)   ((int64_t)(n)*SIM_DAY_MS)
#define ORG    FX_DEPT
#define APPR   OKNO_SIGNAL_STAGE_TIME_APPROACHING
#define EXCEED OKNO_SIGNAL_STAGE_TIME_EXCEEDED

static sim S; /* large: static */

/* The signal came due exactly at due_ms and went out in that very simulated minute. */
static void due_at(const sim_signal *g, int64_t due_ms)
{
    assert_int_equal(g->s.due_ms, due_ms);
    assert_true(g->at_ms >= due_ms);
    assert_true(g->at_ms < due_ms + SIM_MINUTE_MS);
    assert_false(g->s.late);
}

/* Walks m into stage (category given) and returns when the stage visit began. */
static int64_t enter(sim *s, fx_msg *m, okno_stage stage, int32_t category)
{
    sim_submit(s, m, category);
    if (stage == OKNO_STAGE_MODERATION)
        return okno_clock_now_ms(&s->clock);
    if (stage == OKNO_STAGE_COORDINATION) {
        sim_to_coordination(s, m, ORG);
        return okno_clock_now_ms(&s->clock);
    }
    sim_to_execution(s, m, ORG); /* assigned, then taken into work an hour later */
    if (stage == OKNO_STAGE_EXECUTION)
        return okno_clock_now_ms(&s->clock) - H(1);
    sim_advance(s, H(1));
    sim_draft(s, m, ORG, OKNO_ANSWER_RESOLVED, stage == OKNO_STAGE_AGREEMENT);
    return okno_clock_now_ms(&s->clock);
}

static void every_cell_of_the_30_and_10_day_table_signals_at_its_minute(void **state)
{
    (void)state;
    /* SPEC "Deadlines", as the regulation writes each cell. */
    const struct {
        okno_stage stage;
        int64_t allot30, allot10;
    } rows[] = {
        {OKNO_STAGE_MODERATION, D(1) + H(12), H(12)},
        {OKNO_STAGE_COORDINATION, D(1) + H(12), H(12)},
        {OKNO_STAGE_EXECUTION, D(19) + H(12), D(6) + H(12)},
        {OKNO_STAGE_AGREEMENT, D(4) + H(12), D(1) + H(12)},
        {OKNO_STAGE_APPROVAL, D(3), D(1)},
    };
    for (size_t row = 0; row < sizeof rows / sizeof rows[0]; row++) {
        for (int total = 0; total < 2; total++) {
            int64_t allot = total == 0 ? rows[row].allot30 : rows[row].allot10;
            int32_t category = total == 0 ? FX_CATEGORY_30 : FX_CATEGORY_10;
            fx_msg m;
            sim_init(&S, FX_T0);
            sim_add(&S, &m, 100 + row * 2 + (size_t)total);
            int64_t entered = enter(&S, &m, rows[row].stage, category);
            sim_run_until(&S, entered + allot + D(1));
            const sim_signal *a = sim_one(&S, &m, APPR), *x = sim_one(&S, &m, EXCEED);
            due_at(a, entered + allot * 8 / 10); /* "approaching": 80 % of the stage's share */
            due_at(x, entered + allot);
            assert_int_equal(a->s.stage, rows[row].stage);
            assert_int_equal(x->s.stage, rows[row].stage);
            assert_int_equal(a->s.visit, 1);
            assert_int_equal(m.state.stage, rows[row].stage); /* still sitting there */
            sim_close(&S);
        }
    }
}

static okno_event refuse_agreement(sim *s, fx_msg *m)
{
    okno_request r = fx_req(m, OKNO_ACTION_REFUSE_AGREEMENT, FX_MANAGER(ORG), ORG);
    r.reason = okno_str_c("Please add the repair date");
    return sim_step(s, m, &r);
}

/* A round of rework: draft with an agreer, an hour in agreement, refused back to execution.
 * Returns when the new execution visit began. */
static int64_t rework(sim *s, fx_msg *m)
{
    sim_draft(s, m, ORG, OKNO_ANSWER_RESOLVED, true);
    sim_advance(s, H(1));
    return refuse_agreement(s, m).at_ms;
}

static void rework_rounds_accumulate_execution_time(void **state)
{
    (void)state;
    fx_msg m;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 1);
    int64_t allot = D(19) + H(12), threshold = allot * 8 / 10; /* 15 days 14 h 24 min */
    int64_t e1 = enter(&S, &m, OKNO_STAGE_EXECUTION, FX_CATEGORY_30);
    sim_advance(&S, D(10) - H(1)); /* visit 1: ten days, below the threshold */
    int64_t used = okno_clock_now_ms(&S.clock) - e1;
    int64_t e2 = rework(&S, &m);
    const sim_signal *g[4];
    assert_int_equal(sim_find(&S, &m, APPR, g, 4), 0);
    sim_advance(&S, D(10));
    const sim_signal *a = sim_one(&S, &m, APPR), *x = sim_one(&S, &m, EXCEED);
    due_at(a, e2 + threshold - used); /* only what was left of the share */
    due_at(x, e2 + allot - used);
    assert_int_equal(a->s.visit, 2);
    assert_int_equal(x->s.visit, 2);
    /* Round three starts with the share already spent: both signals again, for visit 3, due
     * the moment the visit begins. */
    int64_t e3 = rework(&S, &m);
    sim_advance(&S, H(1));
    assert_int_equal(sim_find(&S, &m, APPR, g, 4), 2);
    assert_int_equal(g[1]->s.visit, 3);
    due_at(g[1], e3);
    assert_int_equal(sim_find(&S, &m, EXCEED, g, 4), 2);
    due_at(g[1], e3);
    sim_close(&S);
}

static void postponed_answer_moves_the_answer_deadline(void **state)
{
    (void)state;
    fx_msg m;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 2);
    enter(&S, &m, OKNO_STAGE_EXECUTION, FX_CATEGORY_30);
    sim_draft(&S, &m, ORG, OKNO_ANSWER_POSTPONED, false);
    int64_t postponed = m.state.draft_postponed_until_ms;
    sim_advance(&S, H(2));
    okno_event interim = sim_do(&S, &m, OKNO_ACTION_APPROVE, FX_MANAGER(ORG), ORG);
    assert_true(interim.interim);
    int64_t start = interim.at_ms;
    sim_run_until(&S, FX_T0 + D(31)); /* past the original deadline, submission + 30 days */
    due_at(sim_one(&S, &m, OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING),
           start + (postponed - start) * 8 / 10);
    const sim_signal *x = sim_one(&S, &m, OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED);
    due_at(x, postponed); /* not submission + 30 days: the deadline moved */
    due_at(sim_one(&S, &m, OKNO_SIGNAL_POSTPONED_DATE_REACHED), postponed);
    sim_close(&S);
}

static void a_message_that_closes_gets_no_more_signals(void **state)
{
    (void)state;
    fx_msg m;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 3);
    enter(&S, &m, OKNO_STAGE_APPROVAL, FX_CATEGORY_10);
    sim_advance(&S, H(20)); /* approval's share of 10 days is one day: approaching at 19.2 h */
    sim_one(&S, &m, APPR);
    sim_do(&S, &m, OKNO_ACTION_APPROVE, FX_MANAGER(ORG), ORG);
    assert_int_equal(m.state.outcome, OKNO_OUTCOME_ANSWERED);
    assert_int_equal(okno_tracker_messages(&S.tracker), 0);
    assert_int_equal(okno_tracker_deadlines(&S.tracker), 0);
    size_t before = S.signals;
    sim_advance(&S, D(40));
    assert_int_equal(S.signals, before);
    sim_close(&S);
}

static bool odd_id(void *arg, const okno_uuid *id)
{
    (void)arg;
    return id->bytes[0] & 1u;
}

/* Partitions revoked take only their messages out (okno_tracker_forget_if); the others keep
 * their deadlines and still signal at their minute, the ones taken out never again. */
static void forgetting_some_messages_keeps_the_others_deadlines(void **state)
{
    (void)state;
    enum { N = 40 };
    static fx_msg m[N];
    int64_t due[N];
    uint32_t odd = 0;
    sim_init(&S, FX_T0);
    for (int i = 0; i < N; i++) {
        sim_add(&S, &m[i], 100 + (uint64_t)i);
        enter(&S, &m[i], OKNO_STAGE_MODERATION, FX_CATEGORY_30);
    }
    for (int i = 0; i < N; i++) {
        due[i] = okno_tracker_due_ms(&S.tracker, &m[i].id);
        odd += odd_id(NULL, &m[i].id);
    }
    assert_int_equal(odd, N / 2);
    assert_int_equal(okno_tracker_forget_if(&S.tracker, odd_id, NULL), odd);
    assert_int_equal(okno_tracker_messages(&S.tracker), N - odd);
    assert_int_equal(okno_tracker_deadlines(&S.tracker), N - odd);
    assert_true(okno_tracker_check(&S.tracker));
    for (int i = 0; i < N; i++)
        if (odd_id(NULL, &m[i].id)) {
            assert_int_equal(okno_tracker_seq(&S.tracker, &m[i].id), 0);
            assert_int_equal(okno_tracker_due_ms(&S.tracker, &m[i].id), OKNO_DEADLINES_NEVER);
        } else {
            assert_int_equal(okno_tracker_due_ms(&S.tracker, &m[i].id), due[i]);
        }
    assert_int_equal(okno_tracker_forget_if(&S.tracker, odd_id, NULL), 0);
    size_t before = S.signals;
    sim_advance(&S, D(40));
    bool next_came[N] = {false};
    for (size_t g = before; g < S.signals; g++)
        for (int i = 0; i < N; i++)
            if (okno_uuid_equal(&S.log[g].s.message_id, &m[i].id)) {
                assert_false(odd_id(NULL, &m[i].id));
                if (S.log[g].s.due_ms == due[i]) {
                    due_at(&S.log[g], due[i]);
                    next_came[i] = true;
                }
            }
    for (int i = 0; i < N; i++)
        assert_int_equal(next_came[i], !odd_id(NULL, &m[i].id));
    sim_close(&S);
}

static void moving_on_cancels_stage_signals_and_schedules_the_next_stage(void **state)
{
    (void)state;
    fx_msg m;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 4);
    sim_submit(&S, &m, FX_CATEGORY_30);
    sim_advance(&S, H(30)); /* moderation approaching at 28.8 h, exceeded at 36 h */
    sim_one(&S, &m, APPR);
    okno_request r = fx_req(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    r.target_org_id = ORG;
    int64_t entered = sim_step(&S, &m, &r).at_ms;
    sim_advance(&S, D(2));
    const sim_signal *g[4];
    assert_int_equal(sim_find(&S, &m, APPR, g, 4), 2);
    assert_int_equal(g[1]->s.stage, OKNO_STAGE_COORDINATION);
    due_at(g[1], entered + (D(1) + H(12)) * 8 / 10);
    assert_int_equal(sim_find(&S, &m, EXCEED, g, 4), 1);
    assert_int_equal(g[0]->s.stage, OKNO_STAGE_COORDINATION); /* moderation's never came */
    sim_close(&S);
}

/* The service's restart: a new tracker loaded from the stream-head snapshot, days later. */
static void restart_from_snapshot(sim *s, int64_t down_ms)
{
    okno_tracker_close(&s->tracker);
    okno_tracker_config cfg = {.approaching_permille = fx_dir.config.approaching_permille,
                               .late_after_ms = SIM_MINUTE_MS};
    assert_int_equal(okno_tracker_init(&s->tracker, &cfg), 0);
    okno_clock_advance(&s->clock, down_ms);
    for (size_t i = 0; i < s->msg_count; i++)
        assert_int_equal(okno_tracker_load(&s->tracker, &s->msgs[i]->state), 0);
}

static void a_restart_signals_at_once_and_late_what_fell_due_while_down(void **state)
{
    (void)state;
    fx_msg m, n;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 5);
    sim_add(&S, &n, 6);
    int64_t e = enter(&S, &m, OKNO_STAGE_EXECUTION, FX_CATEGORY_10);
    enter(&S, &n, OKNO_STAGE_MODERATION, FX_CATEGORY_30);
    sim_run_until(&S, e + D(6)); /* m: approaching (5.2 days) recorded, exceeded (6.5) not */
    sim_one(&S, &m, APPR);
    int64_t down_at = okno_clock_now_ms(&S.clock);
    restart_from_snapshot(&S, D(2));
    sim_advance(&S, 0);
    const sim_signal *x = sim_one(&S, &m, EXCEED); /* once, at once, marked late */
    assert_int_equal(x->s.due_ms, e + D(6) + H(12));
    assert_int_equal(x->at_ms, down_at + D(2));
    assert_true(x->s.late);
    sim_one(&S, &m, APPR); /* recorded before the crash: not again */
    sim_one(&S, &n, APPR);
    sim_one(&S, &n, EXCEED);
    sim_advance(&S, D(10));
    for (size_t i = 0; i < S.signals; i++)
        assert_int_equal(S.log[i].refusal, OKNO_REFUSAL_NONE); /* no duplicate, none stale */
    sim_close(&S);
}

static void an_emitted_signal_waits_for_its_event_and_a_failed_one_goes_again(void **state)
{
    (void)state;
    fx_msg m;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 7);
    sim_submit(&S, &m, FX_CATEGORY_10);
    S.ledger_down = true;
    sim_advance(&S, H(10)); /* approaching at 9.6 h: emitted, not recorded */
    assert_int_equal(S.signals, 1);
    sim_advance(&S, H(1));
    assert_int_equal(S.signals, 1); /* not again while it is on its way */
    int64_t retry = okno_clock_now_ms(&S.clock) + 30 * SIM_MINUTE_MS; /* exceeded is at 12 h */
    okno_tracker_emit_failed(&S.tracker, &m.id, APPR, retry);
    S.ledger_down = false;
    sim_run_until(&S, retry);
    assert_int_equal(S.signals, 2);
    assert_memory_equal(S.log[0].s.signal_id.bytes, S.log[1].s.signal_id.bytes, 16); /* same id */
    assert_int_equal(S.log[1].refusal, OKNO_REFUSAL_NONE);
    assert_true(S.log[1].s.late);
    sim_close(&S);
}

static int full_queue(void *arg, const okno_avro_sla_signal *signal)
{
    (void)signal;
    int *calls = arg;
    (*calls)++;
    return OKNO_ELIMIT;
}

static void a_full_producer_queue_leaves_the_signal_due(void **state)
{
    (void)state;
    fx_msg m;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 8);
    sim_submit(&S, &m, FX_CATEGORY_10);
    okno_clock_advance(&S.clock, H(10));
    int calls = 0;
    size_t n = 9;
    assert_int_equal(
        okno_tracker_expire(&S.tracker, okno_clock_now_ms(&S.clock), 100, full_queue, &calls, &n),
        OKNO_ELIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(calls, 1);
    assert_true(okno_tracker_next_ms(&S.tracker) <= okno_clock_now_ms(&S.clock));
    sim_advance(&S, 0);
    sim_one(&S, &m, APPR);
    sim_close(&S);
}

static void events_that_do_not_fit_are_reported_and_change_nothing(void **state)
{
    (void)state;
    fx_msg m;
    sim_init(&S, FX_T0);
    sim_add(&S, &m, 9);
    sim_submit(&S, &m, FX_CATEGORY_30);
    okno_request r = fx_req(&m, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    r.target_org_id = ORG;
    okno_event accepted = fx_ok(&m, &r); /* not delivered yet */
    okno_event ev = accepted;
    okno_tracker_fold what;
    int64_t due = okno_tracker_due_ms(&S.tracker, &m.id);
    ev.seq = 1;
    assert_int_equal(okno_tracker_apply(&S.tracker, &ev, &what), 0);
    assert_int_equal(what, OKNO_TRACKER_REPEATED);
    ev.seq = 3;
    assert_int_equal(okno_tracker_apply(&S.tracker, &ev, &what), 0);
    assert_int_equal(what, OKNO_TRACKER_GAP);
    ev.seq = 2;
    ev.stage_before = OKNO_STAGE_EXECUTION;
    assert_int_equal(okno_tracker_apply(&S.tracker, &ev, &what), 0);
    assert_int_equal(what, OKNO_TRACKER_MISFIT);
    ev = accepted;
    ev.message_id = fx_uuid(999);
    assert_int_equal(okno_tracker_apply(&S.tracker, &ev, &what), 0);
    assert_int_equal(what, OKNO_TRACKER_UNTRACKED);
    assert_int_equal(okno_tracker_seq(&S.tracker, &m.id), 1);
    assert_int_equal(okno_tracker_due_ms(&S.tracker, &m.id), due);
    assert_int_equal(okno_tracker_apply(&S.tracker, &accepted, &what), 0);
    assert_int_equal(what, OKNO_TRACKER_APPLIED);
    assert_int_equal(okno_tracker_seq(&S.tracker, &m.id), 2);
    sim_close(&S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_cell_of_the_30_and_10_day_table_signals_at_its_minute),
        cmocka_unit_test(rework_rounds_accumulate_execution_time),
        cmocka_unit_test(postponed_answer_moves_the_answer_deadline),
        cmocka_unit_test(a_message_that_closes_gets_no_more_signals),
        cmocka_unit_test(moving_on_cancels_stage_signals_and_schedules_the_next_stage),
        cmocka_unit_test(forgetting_some_messages_keeps_the_others_deadlines),
        cmocka_unit_test(a_restart_signals_at_once_and_late_what_fell_due_while_down),
        cmocka_unit_test(an_emitted_signal_waits_for_its_event_and_a_failed_one_goes_again),
        cmocka_unit_test(a_full_producer_queue_leaves_the_signal_due),
        cmocka_unit_test(events_that_do_not_fit_are_reported_and_change_nothing),
    };
    return cmocka_run_group_tests(tests, fx_setup, NULL);
}
