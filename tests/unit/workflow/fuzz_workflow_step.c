/* libFuzzer target: the input drives a sequence of requests against one message; every step
 * must decide without crashing, keep the invariants, leave refused states untouched, and the
 * events must refold to the same state. Built with -DOKNO_FUZZ=ON (clang). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "okno/workflow.h"

#define FUZZ_STEPS_MAX 64 /* requests one input may drive */
#define FUZZ_REQ_BYTES 12 /* input bytes consumed per request */

/* Orgs 1 (operator), 2 with 3 below it, 4 elsewhere; user 10*org + i holds role bit i, and
 * user 10*org + 8 is a manager with full authority for category 1. */
static const okno_org orgs[] = {{1, 0}, {2, 0}, {3, 2}, {4, 0}};
static okno_grant grants[4 * 8];
static okno_authority authorities[4];
static const okno_category categories[] = {{1, 30}, {2, 10}};
static okno_directory dir;

static void directory_init(void)
{
    uint32_t n = 0;
    for (int o = 1; o <= 4; o++) {
        for (int i = 0; i < OKNO_ROLE_COUNT; i++)
            grants[n++] = (okno_grant){10 * o + i, o, 1u << i};
        grants[n++] = (okno_grant){10 * o + 8, o, OKNO_ROLE_MANAGER};
        authorities[o - 1] = (okno_authority){10 * o + 8, o, 1, 0, true, true};
    }
    dir = (okno_directory){orgs, 4, grants, n, categories, 2, authorities, 4, {0}};
    okno_workflow_config_init(&dir.config, 1);
    if (okno_directory_check(&dir) != 0)
        abort();
}

static okno_user_id user_from(uint8_t b)
{
    return b < 8 ? 0 : (okno_user_id)(10 * (1 + b % 4) + (b / 4) % 9);
}

static void request_from(const uint8_t *b, const okno_message_state *s, okno_request *r)
{
    static const char *const strs[] = {"", "x", "reason", "a longer text"};
    memset(r, 0, sizeof *r);
    r->action = (okno_action)(b[0] % (OKNO_ACTION_COUNT + 1));
    r->acting_user_id = user_from(b[1]);
    r->acting_org_id = r->acting_user_id / 10;
    r->target_org_id = b[2] % 6;
    r->target_user_id = user_from(b[3]);
    r->approver_user_id = user_from(b[4]);
    r->agreers_count = b[5] % 4;
    for (uint32_t i = 0; i < r->agreers_count; i++)
        r->agreers[i] = user_from((uint8_t)(b[6] + 37 * i));
    r->answer_type = (okno_answer_type)(b[7] % (OKNO_ANSWER_COUNT + 1));
    r->postponed_until_ms = (int64_t)(b[8] % 64) * 86400000 + 1700000000000;
    r->category_id = b[9] % 3;
    r->reason = okno_str_c(strs[b[10] % 4]);
    r->text = okno_str_c(strs[(b[10] >> 2) % 4]);
    r->applicant_id = r->acting_user_id;
    r->channel = (okno_channel)((b[10] >> 4) % 3);
    r->signal = (okno_signal_kind)(b[11] % OKNO_SIGNAL_COUNT);
    r->signal_stage = s->stage;
    r->signal_visit = s->stage_visits[s->stage];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static okno_step_result out;
    static okno_event log[FUZZ_STEPS_MAX];
    if (dir.orgs == NULL)
        directory_init();
    okno_message_state state;
    memset(&state, 0, sizeof state);
    int64_t now = 1700000000000;
    uint32_t logged = 0;
    for (size_t at = 0; at + FUZZ_REQ_BYTES <= size && logged < FUZZ_STEPS_MAX;
         at += FUZZ_REQ_BYTES) {
        okno_request req;
        request_from(data + at, &state, &req);
        okno_actor actor;
        okno_actor_init(&actor, &dir, req.acting_user_id, req.acting_org_id);
        now += (int64_t)data[at + 11] * 3600000;
        if (okno_workflow_step(&state, &req, &actor, &dir, now, &out) != 0)
            abort();
        if (out.refusal.code != OKNO_REFUSAL_NONE) {
            if (out.events_count != 0 || !okno_workflow_state_equal(&out.state, &state))
                abort();
            continue;
        }
        if (out.events_count != 1 || !okno_workflow_check(&out.state))
            abort();
        log[logged++] = out.events[0];
        state = out.state;
    }
    okno_message_state fresh;
    memset(&fresh, 0, sizeof fresh);
    for (uint32_t i = 0; i < logged; i++) {
        if (okno_workflow_apply(&fresh, &log[i]) != 0)
            abort();
    }
    if (!okno_workflow_state_equal(&fresh, &state))
        abort();
    return 0;
}
