/* The tracker's compact fold against the real one: random message lives through the workflow
 * core (random actions of the right people, random pauses, signals recorded as the ledger
 * would, redirects with and without a restarted deadline), and after every accepted event the
 * tracker's view gives the same due time for every signal kind and the same visit number as
 * okno_sla on the core's full state; a tracker loaded from the snapshot agrees too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "okno/error.h"
#include "okno/random.h"
#include "okno/sla.h"
#include "sim.h"

#define LIVES          20000 /* message lives */
#define STEPS_MAX      80    /* requests tried per life */
#define SNAPSHOT_EVERY 5     /* accepted events between snapshot comparisons */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    return okno_random_next(&rng);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static const okno_org_id orgs[] = {FX_MINISTRY, FX_DEPT, FX_SUBDEPT, FX_DEPT2, FX_OTHER};
#define ORGS (sizeof orgs / sizeof orgs[0])

static okno_tracker live, loaded;
static struct {
    uint64_t events, compared, signals, closed, restarts, interims;
} seen;

static int64_t pause_ms(void)
{
    static const int64_t spans[] = {0, 60000, 3600000, 86400000, 5 * 86400000};
    return (int64_t)(rnd() % (uint64_t)(spans[below(5)] + 1));
}

static void reviewers(okno_request *r, okno_org_id org)
{
    r->approver_user_id = FX_MANAGER(org);
    if (below(2)) {
        r->agreers[0] = FX_AUTH_MANAGER(org);
        r->agreers_count = 1;
    }
}

static void coordination_request(const okno_message_state *s, okno_request *r)
{
    okno_org_id org = s->holding_org_id;
    r->acting_user_id = FX_COORDINATOR(org);
    r->acting_org_id = org;
    static const okno_action acts[] = {
        OKNO_ACTION_ASSIGN_EXECUTOR,        OKNO_ACTION_TAKE_OVER,
        OKNO_ACTION_FORWARD_TO_SUBORDINATE, OKNO_ACTION_RETURN_UPSTREAM,
        OKNO_ACTION_PROPOSE_REDIRECT,
    };
    r->action = acts[below(5)];
    r->target_user_id = FX_EXECUTOR(org);
    r->target_org_id = orgs[below(ORGS)];
    r->reason = okno_str_c("Not ours");
    if (r->action == OKNO_ACTION_PROPOSE_REDIRECT)
        reviewers(r, org);
}

static void execution_request(const okno_message_state *s, okno_request *r, int64_t now)
{
    okno_org_id org = s->holding_org_id;
    r->acting_user_id = s->executor_user_id;
    r->acting_org_id = org;
    static const okno_action acts[] = {
        OKNO_ACTION_TAKE_INTO_WORK, OKNO_ACTION_RETURN_TO_COORDINATION,
        OKNO_ACTION_REASSIGN_EXECUTOR, OKNO_ACTION_DRAFT_ANSWER, OKNO_ACTION_DRAFT_ANSWER};
    r->action = acts[below(5)];
    r->reason = okno_str_c("Reason");
    r->target_user_id =
        s->executor_user_id == FX_EXECUTOR(org) ? FX_EXECUTOR2(org) : FX_EXECUTOR(org);
    r->answer_type = (okno_answer_type)(1 + below(4));
    r->text = okno_str_c("The answer");
    r->postponed_until_ms = now + 1 + pause_ms() * 3;
    reviewers(r, org);
}

static void review_request(const okno_message_state *s, okno_request *r)
{
    bool agreement = s->stage == OKNO_STAGE_AGREEMENT;
    r->acting_user_id = agreement ? s->agreers[below(s->agreers_count)] : s->approver_user_id;
    r->acting_org_id = s->holding_org_id;
    bool refuse = below(4) == 0;
    r->action = agreement ? (refuse ? OKNO_ACTION_REFUSE_AGREEMENT : OKNO_ACTION_AGREE)
                          : (refuse ? OKNO_ACTION_REFUSE_APPROVAL : OKNO_ACTION_APPROVE);
    r->reason = okno_str_c("Please redo");
}

/* A signal the ledger would record now, if one is due. */
static bool signal_request(const fx_msg *m, okno_request *r)
{
    okno_signal_kind kind;
    int64_t due;
    if (okno_sla_next_signal(&m->state, fx_dir.config.approaching_permille, &kind, &due) != 0 ||
        due > m->now_ms)
        return false;
    okno_avro_sla_signal s = {.message_id = m->id, .kind = kind};
    if (kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED) {
        s.stage = m->state.stage;
        s.visit = m->state.stage_visits[m->state.stage];
    }
    s.signal_id = okno_avro_sla_signal_id(&m->id, kind, s.stage, s.visit, due);
    okno_avro_sla_signal_request(&s, r);
    return true;
}

static void random_request(const fx_msg *m, okno_request *r)
{
    const okno_message_state *s = &m->state;
    *r = fx_req(m, OKNO_ACTION_NONE, 0, 0);
    if (below(3) == 0 && signal_request(m, r))
        return;
    switch (s->stage) {
    case OKNO_STAGE_MODERATION:
        r->action = below(20) ? OKNO_ACTION_ACCEPT : OKNO_ACTION_REJECT;
        r->acting_user_id = FX_MODERATOR;
        r->acting_org_id = FX_OPERATOR;
        r->target_org_id = orgs[below(ORGS)];
        r->category_id = below(2) ? FX_CATEGORY_30 : FX_CATEGORY_10;
        r->reason = okno_str_c("Spam (rules 2.4)");
        break;
    case OKNO_STAGE_COORDINATION:
        coordination_request(s, r);
        break;
    case OKNO_STAGE_EXECUTION:
        execution_request(s, r, m->now_ms);
        break;
    default:
        review_request(s, r);
        break;
    }
}

static void same_dues(const okno_message_state *a, const okno_message_state *b)
{
    int32_t p = fx_dir.config.approaching_permille;
    for (int k = OKNO_SIGNAL_NONE + 1; k < OKNO_SIGNAL_COUNT; k++)
        assert_int_equal(okno_sla_signal_due_ms(a, (okno_signal_kind)k, p),
                         okno_sla_signal_due_ms(b, (okno_signal_kind)k, p));
    assert_int_equal(a->stage, b->stage);
    assert_int_equal(a->stage_visits[a->stage], b->stage_visits[b->stage]);
    assert_int_equal(a->last_seq, b->last_seq);
}

static void compare(const fx_msg *m, bool snapshot)
{
    okno_message_state view;
    bool open = m->state.outcome == OKNO_OUTCOME_OPEN;
    assert_int_equal(okno_tracker_view(&live, &m->id, &view), open);
    if (!open)
        return;
    same_dues(&m->state, &view);
    seen.compared++;
    if (!snapshot)
        return;
    assert_int_equal(okno_tracker_load(&loaded, &m->state), 0);
    okno_message_state again;
    assert_true(okno_tracker_view(&loaded, &m->id, &again));
    same_dues(&view, &again);
    assert_int_equal(okno_tracker_due_ms(&loaded, &m->id), okno_tracker_due_ms(&live, &m->id));
}

static void one_life(uint64_t id)
{
    fx_msg m;
    memset(&m, 0, sizeof m);
    m.id = fx_uuid(id);
    m.now_ms = FX_T0 + (int64_t)below(1000000);
    fx_dir.config.redirect_restarts_deadline = below(2);
    okno_request r = fx_req(&m, OKNO_ACTION_SUBMIT, FX_APPLICANT, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = below(2) ? FX_CATEGORY_30 : FX_CATEGORY_10;
    r.text = okno_str_c("Text");
    static okno_step_result out;
    for (int step = 0; step < STEPS_MAX && m.state.outcome == OKNO_OUTCOME_OPEN; step++) {
        if (step > 0) {
            m.now_ms += pause_ms();
            random_request(&m, &r);
        }
        if (fx_try(&m, &r, &out) != OKNO_REFUSAL_NONE)
            continue;
        okno_tracker_fold what;
        assert_int_equal(okno_tracker_apply(&live, &out.events[0], &what), 0);
        assert_true(what == OKNO_TRACKER_APPLIED || what == OKNO_TRACKER_CLOSED);
        seen.events++;
        seen.signals += r.action == OKNO_ACTION_SLA_SIGNAL;
        seen.restarts += out.events[0].deadline_restarted;
        seen.interims += out.events[0].interim;
        compare(&m, seen.events % SNAPSHOT_EVERY == 0);
    }
    seen.closed += m.state.outcome != OKNO_OUTCOME_OPEN;
    okno_tracker_forget(&live, &m.id);
    okno_tracker_forget(&loaded, &m.id);
}

static void random_lives_fold_to_the_same_due_times_as_the_core(void **state)
{
    (void)state;
    okno_tracker_config cfg = {.approaching_permille = fx_dir.config.approaching_permille};
    assert_int_equal(okno_tracker_init(&live, &cfg), 0);
    assert_int_equal(okno_tracker_init(&loaded, &cfg), 0);
    for (uint64_t i = 1; i <= LIVES; i++)
        one_life(i);
    print_message("%llu events, %llu comparisons, %llu signals, %llu closed, %llu restarted "
                  "deadlines, %llu interim answers\n",
                  (unsigned long long)seen.events, (unsigned long long)seen.compared,
                  (unsigned long long)seen.signals, (unsigned long long)seen.closed,
                  (unsigned long long)seen.restarts, (unsigned long long)seen.interims);
    assert_true(seen.signals > 1000);
    assert_true(seen.closed > LIVES / 4);
    assert_true(seen.restarts > 10);
    assert_true(seen.interims > 10);
    assert_true(okno_tracker_check(&live));
    okno_tracker_close(&live);
    okno_tracker_close(&loaded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_lives_fold_to_the_same_due_times_as_the_core),
    };
    return cmocka_run_group_tests(tests, fx_setup, NULL);
}
