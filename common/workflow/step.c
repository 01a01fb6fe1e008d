/* okno_workflow_step: interprets the guard table for one request and folds the event it
 * emits with okno_workflow_apply, so validation and replay can never disagree. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "okno/error.h"
#include "workflow/guard.h"

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
        str_valid(req->text, OKNO_TEXT_BYTES_MAX, &code) &&
        str_valid(req->applicant_email, OKNO_EMAIL_BYTES_MAX, &code))
        str_valid(req->comment, OKNO_COMMENT_BYTES_MAX, &code);
    if (code != OKNO_REFUSAL_NONE)
        return code;
    if (req->attachments_count > OKNO_ATTACHMENTS_MAX)
        return OKNO_REFUSAL_INVALID_ATTACHMENT;
    for (uint32_t i = 0; i < req->attachments_count; i++) {
        const char *field;
        if (!okno_attachment_valid(&req->attachments[i], &field))
            return OKNO_REFUSAL_INVALID_ATTACHMENT;
    }
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
    ev->requested_at_ms = req->requested_at_ms;
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
             okno_action_name(req->action), okno_stage_name(state->stage),
             okno_refusal_code_info(code)->meaning);
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
