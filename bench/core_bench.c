/* Measures okno_workflow_step validations per second on one core. It records the requests of
 * a whole message lifecycle (submit to approved answer, with two agreers), plus the same
 * requests by the wrong actor (refused), and replays these (state, request) pairs in a loop.
 * The last line of output is one JSON object with validations_per_s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "okno/workflow.h"

#define MESSAGES         256                            /* distinct messages in the recorded set */
#define STEPS_PER_MSG    8                              /* happy-path steps of one message */
#define CASES            (MESSAGES * STEPS_PER_MSG * 2) /* accepted and refused variants */
#define ROUNDS           400                            /* passes over the recorded set */
#define ORG_OPERATOR     1
#define ORG_ANSWERING    2
#define USER_MODERATOR   101
#define USER_COORDINATOR 201
#define USER_EXECUTOR    202
#define USER_MANAGER_A   203
#define USER_MANAGER_B   204
#define USER_APPLICANT   9001
#define HOUR_MS          INT64_C(3600000)

typedef struct bench_case {
    okno_message_state state;
    okno_request req;
    okno_actor actor;
    int64_t now_ms;
} bench_case;

static const okno_org orgs[] = {{ORG_OPERATOR, 0}, {ORG_ANSWERING, 0}};
static const okno_grant grants[] = {
    {USER_MODERATOR, ORG_OPERATOR, OKNO_ROLE_MODERATOR},
    {USER_COORDINATOR, ORG_ANSWERING, OKNO_ROLE_COORDINATOR},
    {USER_EXECUTOR, ORG_ANSWERING, OKNO_ROLE_EXECUTOR},
    {USER_MANAGER_A, ORG_ANSWERING, OKNO_ROLE_MANAGER},
    {USER_MANAGER_B, ORG_ANSWERING, OKNO_ROLE_MANAGER},
};
static const okno_category categories[] = {{1, 30}};
static okno_directory dir;
static bench_case *cases;
static int cases_count;

static okno_request request(okno_action action, uint64_t msg, okno_user_id user, okno_org_id org)
{
    okno_request r;
    memset(&r, 0, sizeof r);
    memcpy(r.message_id.bytes, &msg, sizeof msg);
    r.action = action;
    r.acting_user_id = user;
    r.acting_org_id = org;
    return r;
}

/* The happy path of message msg, step i. */
static okno_request lifecycle_step(uint64_t msg, int i)
{
    static const okno_user_id users[STEPS_PER_MSG] = {
        USER_APPLICANT, USER_MODERATOR, USER_COORDINATOR, USER_EXECUTOR,
        USER_EXECUTOR,  USER_MANAGER_A, USER_MANAGER_B,   USER_MANAGER_A};
    static const okno_action actions[STEPS_PER_MSG] = {
        OKNO_ACTION_SUBMIT,         OKNO_ACTION_ACCEPT,       OKNO_ACTION_ASSIGN_EXECUTOR,
        OKNO_ACTION_TAKE_INTO_WORK, OKNO_ACTION_DRAFT_ANSWER, OKNO_ACTION_AGREE,
        OKNO_ACTION_AGREE,          OKNO_ACTION_APPROVE};
    okno_org_id org = i == 0 ? 0 : i == 1 ? ORG_OPERATOR : ORG_ANSWERING;
    okno_request r = request(actions[i], msg, users[i], org);
    r.applicant_id = USER_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = 1;
    r.text = okno_str_c("The street light on Lenina 5 is broken");
    r.target_org_id = ORG_ANSWERING;
    r.target_user_id = USER_EXECUTOR;
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.approver_user_id = USER_MANAGER_A;
    r.agreers[0] = USER_MANAGER_A;
    r.agreers[1] = USER_MANAGER_B;
    r.agreers_count = 2;
    if (actions[i] == OKNO_ACTION_AGREE || actions[i] == OKNO_ACTION_APPROVE)
        r.text = (okno_str){0};
    return r;
}

static int record(void)
{
    static okno_step_result out;
    cases = calloc(CASES, sizeof *cases);
    if (cases == NULL)
        return -1;
    for (uint64_t msg = 1; msg <= MESSAGES; msg++) {
        okno_message_state state;
        memset(&state, 0, sizeof state);
        int64_t now = INT64_C(1700000000000) + (int64_t)msg;
        for (int i = 0; i < STEPS_PER_MSG; i++, now += HOUR_MS) {
            bench_case *c = &cases[cases_count++];
            c->state = state;
            c->req = lifecycle_step(msg, i);
            c->now_ms = now;
            okno_actor_init(&c->actor, &dir, c->req.acting_user_id, c->req.acting_org_id);
            bench_case *wrong = &cases[cases_count++];
            *wrong = *c;
            wrong->req.acting_user_id = USER_MANAGER_B + 1;
            okno_actor_init(&wrong->actor, &dir, wrong->req.acting_user_id,
                            wrong->req.acting_org_id);
            if (okno_workflow_step(&state, &c->req, &c->actor, &dir, now, &out) != 0 ||
                out.refusal.code != OKNO_REFUSAL_NONE) {
                fprintf(stderr, "step %d refused: %s\n", i, out.refusal.message);
                return -1;
            }
            state = out.state;
        }
    }
    return 0;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    dir = (okno_directory){orgs, 2, grants, 5, categories, 1, NULL, 0, {0}};
    okno_workflow_config_init(&dir.config, ORG_OPERATOR);
    if (okno_directory_check(&dir) != 0 || record() != 0)
        return 1;
    static okno_step_result out;
    uint64_t accepted = 0, total = 0;
    double start = seconds_now();
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < cases_count; i++) {
            const bench_case *c = &cases[i];
            okno_workflow_step(&c->state, &c->req, &c->actor, &dir, c->now_ms, &out);
            accepted += out.events_count;
            total++;
        }
    }
    double elapsed = seconds_now() - start;
    printf("validations %llu (accepted %llu) in %.3f s\n", (unsigned long long)total,
           (unsigned long long)accepted, elapsed);
    printf("{\"bench\":\"core\",\"validations\":%llu,\"accepted\":%llu,\"seconds\":%.6f,"
           "\"validations_per_s\":%.0f}\n",
           (unsigned long long)total, (unsigned long long)accepted, elapsed,
           (double)total / elapsed);
    free(cases);
    return 0;
}
