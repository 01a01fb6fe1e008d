/* Invariants of a message state (for assert) and field-by-field state equality. */
#include <string.h>

#include "okno/workflow.h"

static bool is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0)
            return false;
    }
    return true;
}

/* Agreers are distinct and non-zero; slots past the count are zero. */
static bool agreers_valid(const okno_message_state *s)
{
    if (s->agreers_count > OKNO_AGREERS_MAX)
        return false;
    for (uint32_t i = 0; i < OKNO_AGREERS_MAX; i++) {
        bool used = i < s->agreers_count;
        if (used != (s->agreers[i] != 0))
            return false;
        if (s->agreer_decisions[i] > OKNO_AGREER_AGREED || (!used && s->agreer_decisions[i]))
            return false;
        for (uint32_t j = 0; used && j < i; j++) {
            if (s->agreers[j] == s->agreers[i])
                return false;
        }
    }
    return true;
}

static bool upstream_valid(const okno_message_state *s)
{
    if (s->upstream_count > OKNO_UPSTREAM_MAX)
        return false;
    for (uint32_t i = 0; i < OKNO_UPSTREAM_MAX; i++) {
        if ((i < s->upstream_count) != (s->upstream[i] != 0))
            return false;
    }
    return true;
}

static bool clocks_valid(const okno_message_state *s)
{
    if (s->total_days < 1 || s->submitted_ms > s->stage_entered_ms)
        return false;
    if (s->stage_entered_ms > s->last_at_ms || s->deadline_start_ms > s->answer_deadline_ms)
        return false;
    for (int i = 0; i < OKNO_STAGE_COUNT; i++) {
        if (s->stage_used_ms[i] < 0)
            return false;
    }
    return s->stage_used_ms[OKNO_STAGE_NONE] == 0 && s->stage_visits[OKNO_STAGE_NONE] == 0;
}

static bool review_empty(const okno_message_state *s)
{
    return s->subject == OKNO_SUBJECT_NONE && s->agreers_count == 0 && s->approver_user_id == 0 &&
           s->redirect_org_id == 0;
}

/* The review round of agreement and approval: an answer needs its executor and draft, a
 * redirect has neither; in approval everyone named has agreed, in agreement someone has not. */
static bool review_valid(const okno_message_state *s)
{
    if (s->approver_user_id == 0)
        return false;
    if (s->subject == OKNO_SUBJECT_ANSWER) {
        if (s->executor_user_id == 0 || !s->in_work || !s->has_draft || s->redirect_org_id)
            return false;
    } else if (s->subject == OKNO_SUBJECT_REDIRECT) {
        if (s->executor_user_id != 0 || s->has_draft || s->redirect_org_id == 0)
            return false;
    } else {
        return false;
    }
    uint32_t agreed = 0;
    for (uint32_t i = 0; i < s->agreers_count; i++)
        agreed += s->agreer_decisions[i];
    if (s->stage == OKNO_STAGE_AGREEMENT)
        return s->agreers_count > 0 && agreed < s->agreers_count;
    return agreed == s->agreers_count;
}

static bool stage_valid(const okno_message_state *s)
{
    if (s->stage_visits[s->stage] == 0)
        return false;
    switch (s->stage) {
    case OKNO_STAGE_MODERATION:
    case OKNO_STAGE_COORDINATION:
        return review_empty(s) && s->executor_user_id == 0 && !s->in_work && !s->has_draft;
    case OKNO_STAGE_EXECUTION:
        /* a draft may wait for a reassigned executor who has not taken it into work yet */
        return review_empty(s) && s->executor_user_id != 0;
    case OKNO_STAGE_AGREEMENT:
    case OKNO_STAGE_APPROVAL:
        return review_valid(s);
    default:
        return false;
    }
}

bool okno_workflow_check(const okno_message_state *s)
{
    if (s == NULL)
        return false;
    if (s->last_seq == 0)
        return is_zero(s, sizeof *s) || okno_workflow_state_equal(s, &(okno_message_state){0});
    if (!agreers_valid(s) || !upstream_valid(s) || !clocks_valid(s) || s->holding_org_id == 0)
        return false;
    if (s->answer_type < OKNO_ANSWER_NONE || s->answer_type >= OKNO_ANSWER_COUNT)
        return false;
    if (s->has_draft != (s->answer_type != OKNO_ANSWER_NONE) && s->outcome == OKNO_OUTCOME_OPEN)
        return false;
    if (s->interim_sent != (s->postponed_until_ms != 0))
        return false;
    if (s->stage == OKNO_STAGE_NONE)
        return s->outcome == OKNO_OUTCOME_ANSWERED ||
               s->outcome == OKNO_OUTCOME_REJECTED_BY_MODERATOR;
    if (s->stage < OKNO_STAGE_NONE || s->stage >= OKNO_STAGE_COUNT)
        return false;
    return s->outcome == OKNO_OUTCOME_OPEN && stage_valid(s);
}

#define SAME(field)       (a->field == b->field)
#define SAME_ARRAY(field) (memcmp(a->field, b->field, sizeof a->field) == 0)

bool okno_workflow_state_equal(const okno_message_state *a, const okno_message_state *b)
{
    return memcmp(&a->message_id, &b->message_id, sizeof a->message_id) == 0 && SAME(last_seq) &&
           SAME(last_at_ms) && SAME(stage) && SAME(outcome) && SAME(holding_org_id) &&
           SAME_ARRAY(upstream) && SAME(upstream_count) && SAME(executor_user_id) &&
           SAME(in_work) && SAME(has_draft) && SAME(interim_sent) && SAME(answer_type) &&
           SAME(draft_text_seq) && SAME(subject) && SAME_ARRAY(agreers) &&
           SAME_ARRAY(agreer_decisions) && SAME(agreers_count) && SAME(approver_user_id) &&
           SAME(redirect_org_id) && SAME(applicant_id) && SAME(channel) && SAME(category_id) &&
           SAME(subcategory_id) && SAME(total_days) && SAME(submitted_ms) &&
           SAME(deadline_start_ms) && SAME(answer_deadline_ms) && SAME(postponed_until_ms) &&
           SAME(stage_entered_ms) && SAME_ARRAY(stage_used_ms) && SAME_ARRAY(stage_visits) &&
           SAME(stage_signals) && SAME(deadline_signals) && SAME(draft_postponed_until_ms);
}
