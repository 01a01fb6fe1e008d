/* Folding events into message state: the one place that says what each event means.
 * okno_workflow_step builds its result by calling okno_workflow_apply on its own events, so a
 * replay of the event log rebuilds exactly the state the ledger validated against. */
#include <string.h>

#include "okno/error.h"
#include "okno/workflow.h"

/* Forget the agreement/approval round and whatever it was reviewing. */
static void review_clear(okno_message_state *s)
{
    s->subject = OKNO_SUBJECT_NONE;
    memset(s->agreers, 0, sizeof s->agreers);
    memset(s->agreer_decisions, 0, sizeof s->agreer_decisions);
    s->agreers_count = 0;
    s->approver_user_id = 0;
    s->redirect_org_id = 0;
}

static void draft_clear(okno_message_state *s)
{
    s->has_draft = false;
    s->answer_type = OKNO_ANSWER_NONE;
    s->draft_text_seq = 0;
    s->draft_postponed_until_ms = 0;
}

static void executor_clear(okno_message_state *s)
{
    s->executor_user_id = 0;
    s->in_work = false;
    draft_clear(s);
}

/* A new round: everyone named starts undecided (SPEC: "from nobody having agreed"). */
static void review_start(okno_message_state *s, const okno_event *e, okno_subject subject)
{
    review_clear(s);
    s->subject = subject;
    memcpy(s->agreers, e->agreers, sizeof s->agreers);
    s->agreers_count = e->agreers_count;
    s->approver_user_id = e->approver_user_id;
}

static int agreer_index(const okno_message_state *s, okno_user_id user_id)
{
    for (uint32_t i = 0; i < s->agreers_count; i++) {
        if (s->agreers[i] == user_id)
            return (int)i;
    }
    return -1;
}

/* Stage clocks: a visit ends when the stage or the holding org changes (a forward to another
 * org is a new visit of coordination for that org's people), and the new visit begins. */
static void stage_move(okno_message_state *s, const okno_event *e)
{
    bool moved = e->stage_after != e->stage_before || e->holding_org_after != s->holding_org_id;
    if (!moved)
        return;
    if (e->stage_before != OKNO_STAGE_NONE)
        s->stage_used_ms[e->stage_before] += e->at_ms - s->stage_entered_ms;
    if (e->stage_after != OKNO_STAGE_NONE) {
        s->stage_visits[e->stage_after]++;
        s->stage_entered_ms = e->at_ms;
        s->stage_signals = 0;
    }
}

static void deadline_set(okno_message_state *s, int64_t start_ms, int64_t deadline_ms)
{
    if (s->deadline_start_ms == start_ms && s->answer_deadline_ms == deadline_ms)
        return;
    s->deadline_start_ms = start_ms;
    s->answer_deadline_ms = deadline_ms;
    s->deadline_signals = 0;
}

static void fold_submitted(okno_message_state *s, const okno_event *e)
{
    s->message_id = e->message_id;
    s->applicant_id = e->applicant_id;
    s->channel = e->channel;
    s->category_id = e->category_id;
    s->subcategory_id = e->subcategory_id;
    s->total_days = e->total_days;
    s->submitted_ms = e->at_ms;
    deadline_set(s, e->at_ms, e->answer_deadline_ms);
}

static void fold_accepted(okno_message_state *s, const okno_event *e)
{
    s->category_id = e->category_id;
    s->subcategory_id = e->subcategory_id;
    s->total_days = e->total_days;
    deadline_set(s, s->deadline_start_ms, e->answer_deadline_ms);
}

/* A refusal sends an answer back to its executor, still in work with the draft kept, and a
 * redirect proposal back to coordination, dropped (SPEC decisions). */
static void fold_review_refused(okno_message_state *s)
{
    review_clear(s);
}

static void fold_agreement_given(okno_message_state *s, const okno_event *e)
{
    int i = agreer_index(s, e->actor_user_id);
    if (i >= 0)
        s->agreer_decisions[i] = OKNO_AGREER_AGREED;
    if (e->text.len > 0)
        s->draft_text_seq = e->seq;
}

static void fold_agreement_delegated(okno_message_state *s, const okno_event *e)
{
    int i = agreer_index(s, e->actor_user_id);
    if (i >= 0) {
        s->agreers[i] = e->target_user_id;
        s->agreer_decisions[i] = OKNO_AGREER_PENDING;
    }
}

/* Three outcomes: a final answer closes the message; a postponed one is an interim answer
 * and execution resumes against the postponed date; a redirect moves the message to the
 * target org's coordination, where the forwarding chain means nothing any more. */
static void fold_approval_given(okno_message_state *s, const okno_event *e)
{
    okno_subject subject = s->subject;
    review_clear(s);
    if (subject == OKNO_SUBJECT_REDIRECT) {
        executor_clear(s);
        memset(s->upstream, 0, sizeof s->upstream);
        s->upstream_count = 0;
        if (e->deadline_restarted) {
            memset(s->stage_used_ms, 0, sizeof s->stage_used_ms);
            deadline_set(s, e->at_ms, e->answer_deadline_ms);
        }
        return;
    }
    if (e->interim) {
        draft_clear(s);
        s->interim_sent = true;
        s->postponed_until_ms = e->postponed_until_ms;
        deadline_set(s, e->at_ms, e->answer_deadline_ms);
        return;
    }
    if (e->text.len > 0)
        s->draft_text_seq = e->seq;
}

/* Event types that only move the message (stage/org bookkeeping is generic) need no case. */
static void fold_payload(okno_message_state *s, const okno_event *e, okno_org_id holding_before)
{
    switch (e->type) {
    case OKNO_EVENT_MESSAGE_SUBMITTED:
        fold_submitted(s, e);
        break;
    case OKNO_EVENT_MESSAGE_ACCEPTED:
        fold_accepted(s, e);
        break;
    case OKNO_EVENT_EXECUTOR_ASSIGNED:
    case OKNO_EVENT_EXECUTOR_REASSIGNED:
        s->executor_user_id = e->target_user_id;
        s->in_work = false;
        break;
    case OKNO_EVENT_MESSAGE_TAKEN_OVER:
        s->executor_user_id = e->target_user_id;
        s->in_work = true;
        break;
    case OKNO_EVENT_FORWARDED_TO_SUBORDINATE:
        s->upstream[s->upstream_count++] = holding_before;
        break;
    case OKNO_EVENT_RETURNED_UPSTREAM:
        s->upstream[--s->upstream_count] = 0;
        break;
    case OKNO_EVENT_REDIRECT_PROPOSED:
        review_start(s, e, OKNO_SUBJECT_REDIRECT);
        s->redirect_org_id = e->target_org_id;
        break;
    case OKNO_EVENT_TAKEN_INTO_WORK:
        s->in_work = true;
        break;
    case OKNO_EVENT_RETURNED_TO_COORDINATION:
        executor_clear(s);
        break;
    case OKNO_EVENT_ANSWER_DRAFTED:
        review_start(s, e, OKNO_SUBJECT_ANSWER);
        s->has_draft = true;
        s->answer_type = e->answer_type;
        s->draft_text_seq = e->seq;
        s->draft_postponed_until_ms = e->postponed_until_ms;
        break;
    case OKNO_EVENT_AGREEMENT_GIVEN:
        fold_agreement_given(s, e);
        break;
    case OKNO_EVENT_AGREEMENT_REFUSED:
    case OKNO_EVENT_APPROVAL_REFUSED:
        fold_review_refused(s);
        break;
    case OKNO_EVENT_AGREEMENT_DELEGATED:
        fold_agreement_delegated(s, e);
        break;
    case OKNO_EVENT_APPROVAL_GIVEN:
        fold_approval_given(s, e);
        break;
    case OKNO_EVENT_APPROVAL_DELEGATED:
        s->approver_user_id = e->target_user_id;
        break;
    default:
        break;
    }
}

static void fold_signal(okno_message_state *s, okno_signal_kind kind)
{
    uint32_t bit = 1u << kind;
    if (kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED)
        s->stage_signals |= bit;
    else
        s->deadline_signals |= bit;
}

/* An event can be folded only onto the state it was made from. */
static bool event_fits(const okno_message_state *s, const okno_event *e)
{
    if (e->type <= OKNO_EVENT_NONE || e->type >= OKNO_EVENT_COUNT)
        return false;
    if (e->seq != s->last_seq + 1 || e->stage_before != s->stage || e->at_ms < s->last_at_ms)
        return false;
    if (e->stage_after < OKNO_STAGE_NONE || e->stage_after >= OKNO_STAGE_COUNT)
        return false;
    if (e->type == OKNO_EVENT_FORWARDED_TO_SUBORDINATE && s->upstream_count >= OKNO_UPSTREAM_MAX)
        return false;
    if (e->type == OKNO_EVENT_RETURNED_UPSTREAM && s->upstream_count == 0)
        return false;
    if (e->agreers_count > OKNO_AGREERS_MAX)
        return false;
    return s->last_seq == 0 || memcmp(&s->message_id, &e->message_id, sizeof e->message_id) == 0;
}

int okno_workflow_apply(okno_message_state *state, const okno_event *event)
{
    if (state == NULL || event == NULL || !event_fits(state, event))
        return OKNO_EINVAL;
    okno_org_id holding_before = state->holding_org_id;
    stage_move(state, event);
    state->stage = event->stage_after;
    state->outcome = event->outcome_after;
    state->holding_org_id = event->holding_org_after;
    okno_signal_kind kind = okno_event_type_signal(event->type);
    if (kind != OKNO_SIGNAL_NONE)
        fold_signal(state, kind);
    else
        fold_payload(state, event, holding_before);
    state->last_seq = event->seq;
    state->last_at_ms = event->at_ms;
    return OKNO_OK;
}
