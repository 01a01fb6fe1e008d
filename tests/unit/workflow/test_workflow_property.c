/* Property test: a million random requests over many messages and orgs never break an
 * invariant, refusals never change state, and folding each message's events from scratch
 * rebuilds exactly the state the steps produced. The generator aims most requests at the
 * party and payload a step expects, so that every action is accepted many times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "okno/workflow.h"

#define REQUESTS_TOTAL     1000000 /* steps run by the test */
#define MESSAGES_LIVE      512     /* message slots in play at once */
#define EVENTS_PER_MSG_MAX 256     /* a message is retired once its log is this long */
#define ORGS_COUNT         40
#define USERS_PER_ORG      8
#define OPERATOR_ORG       1
#define STEP_MS_MAX        (30 * 60 * 1000) /* the clock advances up to 30 min a request */

/* ---- a random directory ------------------------------------------------------------------ */

static okno_org orgs[ORGS_COUNT];
static okno_grant grants[ORGS_COUNT * USERS_PER_ORG];
static okno_authority authorities[ORGS_COUNT * USERS_PER_ORG];
static const okno_category categories[] = {{1, 30}, {2, 10}, {3, 7}};
static okno_directory dir;

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    /* splitmix64: fast, and reproducible from the fixed seed */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static bool chance(uint32_t percent)
{
    return below(100) < percent;
}

static okno_user_id user_of(okno_org_id org, uint32_t i)
{
    return org * 100 + i + 1;
}

/* Users 1..3 of every org are coordinator, executor and manager for sure; the rest hold
 * random roles, so that people with several roles and with none are common. */
static okno_roles roles_of(uint32_t i)
{
    static const okno_roles fixed[] = {OKNO_ROLE_MODERATOR | OKNO_ROLE_INTAKE_OPERATOR,
                                       OKNO_ROLE_COORDINATOR, OKNO_ROLE_EXECUTOR,
                                       OKNO_ROLE_MANAGER};
    if (i < 4)
        return fixed[i];
    return (okno_roles)(rnd() & OKNO_ROLES_ALL);
}

static void directory_build(void)
{
    uint32_t ng = 0, na = 0;
    for (uint32_t o = 0; o < ORGS_COUNT; o++) {
        okno_org_id id = o + 1;
        /* a forest: a third of the orgs are roots, the rest hang below an earlier org */
        orgs[o] = (okno_org){id, o > 0 && !chance(33) ? (okno_org_id)below(o) + 1 : 0};
        for (uint32_t i = 0; i < USERS_PER_ORG; i++) {
            okno_roles roles = roles_of(i);
            grants[ng++] = (okno_grant){user_of(id, i), id, roles};
            if ((roles & OKNO_ROLE_MANAGER) && chance(70))
                authorities[na++] = (okno_authority){user_of(id, i),
                                                     id,
                                                     1 + (int32_t)below(3),
                                                     chance(50) ? 0 : (int32_t)below(3),
                                                     chance(80),
                                                     chance(80)};
        }
    }
    /* users are numbered org*100+i, so grants are already sorted by (user, org); authorities
     * are in (org, user) order and one per user, so sorted too */
    dir = (okno_directory){orgs, ORGS_COUNT, grants, ng, categories, 3, authorities, na, {0}};
    okno_workflow_config_init(&dir.config, OPERATOR_ORG);
    assert_int_equal(okno_directory_check(&dir), 0);
}

/* ---- message slots ----------------------------------------------------------------------- */

typedef struct slot {
    okno_message_state state;
    okno_event *log; /* EVENTS_PER_MSG_MAX */
    uint32_t log_count;
    uint64_t id;
} slot;

static slot slots[MESSAGES_LIVE];
static uint64_t next_message_id = 1;
static int64_t now_ms = INT64_C(1700000000000);

static struct {
    uint64_t accepted_by_action[OKNO_ACTION_COUNT];
    uint64_t events_by_type[OKNO_EVENT_COUNT];
    uint64_t refusals_by_code[OKNO_REFUSAL_COUNT];
    uint64_t refolds;
} stats;

static okno_uuid uuid_of(uint64_t n)
{
    okno_uuid u = {{0}};
    memcpy(u.bytes, &n, sizeof n);
    return u;
}

/* Fold the whole log from a zeroed state and compare with the state the steps produced. */
static void refold_and_compare(const slot *s)
{
    okno_message_state fresh;
    memset(&fresh, 0, sizeof fresh);
    for (uint32_t i = 0; i < s->log_count; i++) {
        assert_int_equal(okno_workflow_apply(&fresh, &s->log[i]), 0);
        assert_true(okno_workflow_check(&fresh));
    }
    assert_true(okno_workflow_state_equal(&fresh, &s->state));
    stats.refolds++;
}

static void slot_renew(slot *s)
{
    if (s->log_count > 0)
        refold_and_compare(s);
    memset(&s->state, 0, sizeof s->state);
    s->log_count = 0;
    s->id = next_message_id++;
}

/* ---- the request generator ------------------------------------------------------------- */

/* Plausible actions per stage, so most requests are worth validating in depth. */
static okno_action plausible_action(okno_stage stage)
{
    static const okno_action by_stage[OKNO_STAGE_COUNT][6] = {
        [OKNO_STAGE_NONE] = {OKNO_ACTION_SUBMIT},
        [OKNO_STAGE_MODERATION] = {OKNO_ACTION_ACCEPT, OKNO_ACTION_ACCEPT, OKNO_ACTION_REJECT},
        [OKNO_STAGE_COORDINATION] = {OKNO_ACTION_ASSIGN_EXECUTOR, OKNO_ACTION_TAKE_OVER,
                                     OKNO_ACTION_FORWARD_TO_SUBORDINATE,
                                     OKNO_ACTION_PROPOSE_REDIRECT, OKNO_ACTION_RETURN_UPSTREAM},
        [OKNO_STAGE_EXECUTION] = {OKNO_ACTION_TAKE_INTO_WORK, OKNO_ACTION_DRAFT_ANSWER,
                                  OKNO_ACTION_DRAFT_ANSWER, OKNO_ACTION_RETURN_TO_COORDINATION,
                                  OKNO_ACTION_REASSIGN_EXECUTOR, OKNO_ACTION_TAKE_INTO_WORK},
        [OKNO_STAGE_AGREEMENT] = {OKNO_ACTION_AGREE, OKNO_ACTION_AGREE, OKNO_ACTION_AGREE,
                                  OKNO_ACTION_REFUSE_AGREEMENT, OKNO_ACTION_DELEGATE_AGREEMENT},
        [OKNO_STAGE_APPROVAL] = {OKNO_ACTION_APPROVE, OKNO_ACTION_APPROVE,
                                 OKNO_ACTION_REFUSE_APPROVAL, OKNO_ACTION_DELEGATE_APPROVAL},
    };
    const okno_action *list = by_stage[stage];
    uint32_t n = 0;
    while (n < 6 && list[n] != OKNO_ACTION_NONE)
        n++;
    return list[below(n)];
}

static okno_org_id random_org(void)
{
    return (okno_org_id)below(ORGS_COUNT) + 1;
}

static okno_user_id random_user_in(okno_org_id org)
{
    return user_of(org, below(USERS_PER_ORG));
}

/* The party a step is reserved for, or a random one. */
static void actor_pick(const okno_message_state *s, okno_action action, okno_request *r)
{
    okno_org_id org = s->holding_org_id ? s->holding_org_id : random_org();
    okno_user_id user = random_user_in(org);
    if (chance(75)) {
        if (action == OKNO_ACTION_SUBMIT || s->stage == OKNO_STAGE_MODERATION)
            user = user_of(org = OPERATOR_ORG, 0);
        else if (action == OKNO_ACTION_SLA_SIGNAL)
            user = org = 0;
        else if (s->stage == OKNO_STAGE_COORDINATION)
            user = user_of(org, 1);
        else if (s->stage == OKNO_STAGE_EXECUTION)
            user = s->executor_user_id;
        else if (s->stage == OKNO_STAGE_AGREEMENT && s->agreers_count > 0)
            user = s->agreers[below(s->agreers_count)];
        else if (s->stage == OKNO_STAGE_APPROVAL)
            user = s->approver_user_id;
    } else if (chance(10)) {
        org = random_org();
    }
    r->acting_user_id = user;
    r->acting_org_id = org;
}

static okno_user_id random_manager(okno_org_id org)
{
    return chance(60) ? user_of(org, 3) : random_user_in(org);
}

static void reviewers_pick(okno_org_id org, okno_request *r)
{
    r->approver_user_id = chance(95) ? random_manager(org) : 0;
    r->agreers_count = chance(40) ? 0 : 1 + below(chance(95) ? 3 : OKNO_AGREERS_MAX + 1);
    for (uint32_t i = 0; i < r->agreers_count && i < OKNO_AGREERS_MAX; i++)
        r->agreers[i] = chance(50) ? user_of(org, 3 + below(USERS_PER_ORG - 3)) : user_of(org, 3);
}

static const char *const texts[] = {"", "The street light is broken", "Fixed", "edited text"};

static void payload_fill(const okno_message_state *s, okno_request *r)
{
    okno_org_id org = s->holding_org_id ? s->holding_org_id : OPERATOR_ORG;
    r->target_org_id = chance(5) ? 0 : random_org();
    r->target_user_id = chance(5) ? 0 : random_user_in(org);
    reviewers_pick(org, r);
    r->answer_type = (okno_answer_type)below(OKNO_ANSWER_COUNT + 1);
    r->postponed_until_ms = chance(10) ? 0 : now_ms + (int64_t)below(20 * 86400) * 1000 - 3600000;
    r->category_id = (int32_t)below(5);
    r->subcategory_id = (int32_t)below(3);
    r->reason = okno_str_c(chance(90) ? "stated reason" : "");
    r->text = okno_str_c(texts[chance(80) ? 1 + below(3) : 0]);
    r->comment = okno_str_c(chance(20) ? "a comment" : "");
    r->applicant_id = chance(95) ? 9001 : 0;
    r->channel = (okno_channel)below(OKNO_CHANNEL_COUNT);
    r->signal = (okno_signal_kind)below(OKNO_SIGNAL_COUNT);
    r->signal_stage = chance(90) ? s->stage : (okno_stage)below(OKNO_STAGE_COUNT);
    r->signal_visit = s->stage_visits[s->stage] + (chance(90) ? 0 : 1);
}

static void request_make(const slot *sl, okno_request *r)
{
    const okno_message_state *s = &sl->state;
    memset(r, 0, sizeof *r);
    r->message_id = uuid_of(sl->id);
    r->request_id = uuid_of(rnd());
    if (chance(85))
        r->action = plausible_action(s->stage);
    else if (chance(50))
        r->action = OKNO_ACTION_SLA_SIGNAL;
    else
        r->action = (okno_action)below(OKNO_ACTION_COUNT + 1);
    payload_fill(s, r);
    if (r->action == OKNO_ACTION_SUBMIT && r->channel == OKNO_CHANNEL_PORTAL && chance(50)) {
        r->acting_user_id = r->applicant_id;
        return;
    }
    actor_pick(s, r->action, r);
}

/* ---- the property ---------------------------------------------------------------------- */

static void one_step(slot *sl, okno_step_result *out)
{
    okno_request req;
    request_make(sl, &req);
    okno_actor actor;
    okno_actor_init(&actor, &dir, req.acting_user_id, req.acting_org_id);
    now_ms += below(STEP_MS_MAX);
    assert_int_equal(okno_workflow_step(&sl->state, &req, &actor, &dir, now_ms, out), 0);
    if (out->refusal.code != OKNO_REFUSAL_NONE) {
        assert_int_equal(out->events_count, 0);
        assert_true(okno_workflow_state_equal(&out->state, &sl->state));
        stats.refusals_by_code[out->refusal.code]++;
        return;
    }
    assert_int_equal(out->events_count, 1);
    if (!okno_workflow_check(&out->state))
        fail_msg("invariant broken by %s (%s -> %s) in stage %s, seq %llu",
                 okno_action_name(req.action), okno_stage_name(out->events[0].stage_before),
                 okno_stage_name(out->events[0].stage_after), okno_stage_name(sl->state.stage),
                 (unsigned long long)out->events[0].seq);
    assert_int_equal(out->events[0].seq, sl->state.last_seq + 1);
    assert_int_equal(out->state.last_seq, out->events[0].seq);
    sl->log[sl->log_count++] = out->events[0];
    sl->state = out->state;
    stats.accepted_by_action[req.action]++;
    stats.events_by_type[out->events[0].type]++;
}

static void report(void)
{
    printf("refolds %llu\n", (unsigned long long)stats.refolds);
    for (int a = 1; a < OKNO_ACTION_COUNT; a++)
        printf("accepted %-24s %llu\n", okno_action_name((okno_action)a),
               (unsigned long long)stats.accepted_by_action[a]);
    for (int c = 1; c < OKNO_REFUSAL_COUNT; c++)
        printf("refused  %-26s %llu\n", okno_refusal_code_name((okno_refusal_code)c),
               (unsigned long long)stats.refusals_by_code[c]);
}

static void random_requests_keep_invariants_and_refold_to_the_same_state(void **state)
{
    (void)state;
    directory_build();
    static okno_step_result out;
    for (uint32_t i = 0; i < MESSAGES_LIVE; i++) {
        slots[i].log = calloc(EVENTS_PER_MSG_MAX, sizeof(okno_event));
        assert_non_null(slots[i].log);
        slot_renew(&slots[i]);
    }
    for (uint32_t n = 0; n < REQUESTS_TOTAL; n++) {
        slot *sl = &slots[below(MESSAGES_LIVE)];
        one_step(sl, &out);
        bool closed = sl->state.last_seq > 0 && sl->state.outcome != OKNO_OUTCOME_OPEN;
        if (closed || sl->log_count == EVENTS_PER_MSG_MAX)
            slot_renew(sl);
    }
    for (uint32_t i = 0; i < MESSAGES_LIVE; i++) {
        slot_renew(&slots[i]);
        free(slots[i].log);
    }
    report();
    /* the generator is only worth something if it reaches every action and event */
    for (int a = 1; a < OKNO_ACTION_COUNT; a++)
        assert_true(stats.accepted_by_action[a] >= 100);
    for (int t = 1; t < OKNO_EVENT_COUNT; t++)
        assert_true(stats.events_by_type[t] >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_requests_keep_invariants_and_refold_to_the_same_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
