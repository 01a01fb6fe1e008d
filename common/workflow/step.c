/* okno_workflow_step: interprets the guard table for one request and folds the event it
 * emits with okno_workflow_apply, so validation and replay can never disagree. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "okno/error.h"
#include "workflow/guard.h"

static const char *const refusal_texts[OKNO_REFUSAL_COUNT] = {
    [OKNO_REFUSAL_NONE] = "accepted",
    [OKNO_REFUSAL_NOT_AUTHORIZED] = "the actor is not the one named for this step",
    [OKNO_REFUSAL_WRONG_STAGE] = "the action does not apply at this stage",
    [OKNO_REFUSAL_MISSING_REASON] = "a stated reason is required",
    [OKNO_REFUSAL_MISSING_TEXT] = "the text is required",
    [OKNO_REFUSAL_MISSING_APPROVER] = "an approving manager must be named",
    [OKNO_REFUSAL_BAD_TARGET_ORG] = "the target org is missing, unknown or not allowed here",
    [OKNO_REFUSAL_NOT_A_MANAGER] = "a named reviewer lacks the manager role in the holding org",
    [OKNO_REFUSAL_AGREER_DUPLICATE] = "agreers must be distinct",
    [OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE] = "the postponed date must lie in the future",
    [OKNO_REFUSAL_MESSAGE_CLOSED] = "the message is closed",
    [OKNO_REFUSAL_UNKNOWN_MESSAGE] = "no such message",
    [OKNO_REFUSAL_ALREADY_EXISTS] = "a message with this id exists",
    [OKNO_REFUSAL_NOT_IN_WORK] = "the message must be taken into work first",
    [OKNO_REFUSAL_ALREADY_IN_WORK] = "the message is already in work",
    [OKNO_REFUSAL_BAD_TARGET_USER] = "the target user is missing",
    [OKNO_REFUSAL_NOT_AN_EXECUTOR] = "the target user lacks the executor role in the holding org",
    [OKNO_REFUSAL_TOO_MANY_AGREERS] = "too many agreers",
    [OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED] = "the delegation target lacks the authority",
    [OKNO_REFUSAL_DELEGATE_INVALID] = "cannot delegate to oneself or to a current agreer",
    [OKNO_REFUSAL_MISSING_POSTPONED_DATE] = "a postponed answer needs its date",
    [OKNO_REFUSAL_BAD_ANSWER_TYPE] = "the answer type is missing or unknown",
    [OKNO_REFUSAL_NO_UPSTREAM] = "the message did not come from an upstream org",
    [OKNO_REFUSAL_UPSTREAM_TOO_DEEP] = "the forwarding chain is at its maximum",
    [OKNO_REFUSAL_BAD_CATEGORY] = "the category is unknown or missing",
    [OKNO_REFUSAL_BAD_REQUEST] = "the request is malformed",
    [OKNO_REFUSAL_ALREADY_AGREED] = "this agreer has already agreed",
    [OKNO_REFUSAL_SAME_EXECUTOR] = "the target user is already the executor",
    [OKNO_REFUSAL_ALREADY_POSTPONED] = "an interim postponed answer was already sent",
    [OKNO_REFUSAL_TEXT_TOO_LONG] = "a text field is too long",
    [OKNO_REFUSAL_TEXT_NOT_ALLOWED] = "a redirect decision has no text to edit",
    [OKNO_REFUSAL_SIGNAL_NOT_DUE] = "the signal is not due yet",
    [OKNO_REFUSAL_SIGNAL_STALE] = "the signal is for a stage visit or deadline that has passed",
    [OKNO_REFUSAL_SIGNAL_DUPLICATE] = "the signal was already recorded",
    [OKNO_REFUSAL_MISSING_APPLICANT] = "the applicant is required",
    [OKNO_REFUSAL_ACCEPT_INTO_OPERATOR_ORG] =
        "the platform operator's org moderates but does not answer: name a participant's org",
    [OKNO_REFUSAL_REDIRECT_TO_OPERATOR_ORG] =
        "the platform operator's org moderates but does not answer: it takes no redirect",
    [OKNO_REFUSAL_MALFORMED_RECORD] = "the record does not decode",
    [OKNO_REFUSAL_WRONG_PARTITION] = "the record is not on its message's partition",
};

static bool str_valid(okno_str s, uint32_t max_bytes, okno_refusal_code *code)
{
    if (s.len > 0 && s.ptr == NULL) {
        *code = OKNO_REFUSAL_BAD_REQUEST;
        return false;
    }
    if (s.len > max_bytes) {
        *code = OKNO_REFUSAL_TEXT_TOO_LONG;
        return false;
    }
    return true;
}

static okno_refusal_code texts_valid(const okno_request *req)
{
    okno_refusal_code code = OKNO_REFUSAL_NONE;
    if (str_valid(req->reason, OKNO_REASON_BYTES_MAX, &code) &&
        str_valid(req->text, OKNO_TEXT_BYTES_MAX, &code))
        str_valid(req->comment, OKNO_COMMENT_BYTES_MAX, &code);
    return code;
}

/* The message must exist (or, for submit, not exist) and be open. */
static okno_refusal_code existence_holds(const okno__guard *g, const okno_message_state *s)
{
    if (g->action == OKNO_ACTION_SUBMIT)
        return s->last_seq == 0 ? OKNO_REFUSAL_NONE : OKNO_REFUSAL_ALREADY_EXISTS;
    if (s->last_seq == 0)
        return OKNO_REFUSAL_UNKNOWN_MESSAGE;
    return s->outcome == OKNO_OUTCOME_OPEN ? OKNO_REFUSAL_NONE : OKNO_REFUSAL_MESSAGE_CLOSED;
}

/* The order of the tests is part of the contract (the tests pin it): existence, stage, who,
 * required fields, text sizes, then the guard's own checks in table order. */
static okno_refusal_code admit(const okno__guard *g, const okno__ctx *c)
{
    if (g == NULL)
        return OKNO_REFUSAL_BAD_REQUEST;
    okno_refusal_code code = existence_holds(g, c->state);
    if (code != OKNO_REFUSAL_NONE)
        return code;
    if (!(g->stages & (1u << c->state->stage)))
        return OKNO_REFUSAL_WRONG_STAGE;
    code = okno__who_holds(g->who, c);
    if (code != OKNO_REFUSAL_NONE)
        return code;
    for (int i = 0; i < OKNO__NEEDS_MAX && g->needs[i]; i++) {
        if (!g->needs[i]->present(c->req))
            return g->needs[i]->refusal;
    }
    code = texts_valid(c->req);
    for (int i = 0; code == OKNO_REFUSAL_NONE && i < OKNO__CHECKS_MAX && g->checks[i]; i++)
        code = g->checks[i]->holds(c);
    return code;
}

static const okno__lead *lead_find(const okno__guard *g, okno__when when)
{
    for (uint32_t i = 0; i < g->leads_count; i++) {
        if (g->leads[i].when == when)
            return &g->leads[i];
    }
    return NULL;
}

static okno_org_id holding_after(const okno__ctx *c, const okno__lead *lead, const okno_event *ev)
{
    switch (lead->where) {
    case OKNO__WHERE_OPERATOR:
        return c->dir->config.operator_org_id;
    case OKNO__WHERE_TARGET:
    case OKNO__WHERE_UPSTREAM:
        return ev->target_org_id;
    default:
        return c->state->holding_org_id;
    }
}

static void event_build(const okno__guard *g, const okno__ctx *c, okno_event *ev)
{
    const okno_request *req = c->req;
    memset(ev, 0, sizeof *ev);
    ev->seq = c->state->last_seq + 1;
    ev->message_id = req->message_id;
    ev->request_id = req->request_id;
    ev->type = g->event;
    ev->at_ms = c->at_ms;
    ev->actor_user_id = c->actor->user_id;
    ev->actor_org_id = c->actor->org_id;
    ev->stage_before = c->state->stage;
    ev->reason = req->reason;
    ev->comment = req->comment;
    const okno__lead *lead = lead_find(g, g->build(c, ev));
    assert(lead != NULL);
    ev->stage_after = lead->stage == OKNO__STAY ? c->state->stage : (okno_stage)lead->stage;
    ev->outcome_after = lead->outcome;
    ev->holding_org_after = holding_after(c, lead, ev);
}

static void refuse(okno_step_result *out, okno_refusal_code code, const okno_request *req,
                   const okno_message_state *state)
{
    out->refusal.code = code;
    snprintf(out->refusal.message, sizeof out->refusal.message, "%s refused at stage %s: %s",
             okno_action_name(req->action), okno_stage_name(state->stage), refusal_texts[code]);
}

int okno_workflow_step(const okno_message_state *state, const okno_request *req,
                       const okno_actor *actor, const okno_directory *dir, int64_t now_ms,
                       okno_step_result *out)
{
    static const okno_message_state none;
    if (req == NULL || actor == NULL || dir == NULL || out == NULL)
        return OKNO_EINVAL;
    if (state == NULL)
        state = &none;
    assert(okno_workflow_check(state));
    /* The caller vouches for the actor's roles (okno_actor_init); trust, but verify in debug. */
    assert(actor->roles == okno_directory_roles(dir, actor->user_id, actor->org_id));
    out->state = *state;
    out->events_count = 0;
    out->refusal.code = OKNO_REFUSAL_NONE;
    out->refusal.message[0] = '\0';
    /* Time never runs backwards within one message, even if ledger clocks disagree. */
    okno__ctx c = {state, req, actor, dir, now_ms > state->last_at_ms ? now_ms : state->last_at_ms};
    const okno__guard *g = okno__guard_find(req->action);
    okno_refusal_code code = admit(g, &c);
    if (code != OKNO_REFUSAL_NONE) {
        refuse(out, code, req, state);
        return OKNO_OK;
    }
    event_build(g, &c, &out->events[0]);
    out->events_count = 1;
    int rc = okno_workflow_apply(&out->state, &out->events[0]);
    assert(rc == OKNO_OK);
    (void)rc;
    assert(okno_workflow_check(&out->state));
    return OKNO_OK;
}
