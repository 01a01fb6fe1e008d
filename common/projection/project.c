/* The fold of the read models: one event changes a message's projection state and yields the
 * rows it implies (ended stage visits, applicant timeline rows, statistics deltas). Everything
 * here is a function of the events alone, never of a clock, so the live projector and a
 * replay, applying the same events, produce the same rows. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/projection.h"
#include "okno/sla.h"
#include "projection/internal.h"

/* First sizes of the batch's arrays; they double as needed and are kept across batches. */
#define BATCH_DIRTY_MIN    1024
#define BATCH_VISITS_MIN   1024
#define BATCH_TIMELINE_MIN 1024

int okno_proj_batch_init(okno_proj_batch *b)
{
    *b = (okno_proj_batch){0};
    b->arena = okno__proj_arena_new();
    return b->arena == NULL ? OKNO_ENOMEM : OKNO_OK;
}

void okno_proj_batch_reset(okno_proj_batch *b, bool keep_stats)
{
    for (size_t i = 0; i < b->dirty_count; i++)
        b->dirty[i]->dirty = -1;
    b->dirty_count = 0;
    b->visits_count = 0;
    b->timeline_count = 0;
    b->events = 0;
    b->skipped = 0;
    okno__proj_arena_reset(b->arena);
    if (!keep_stats)
        okno__proj_stats_clear(&b->stats);
}

void okno_proj_batch_close(okno_proj_batch *b)
{
    okno_proj_batch_reset(b, false);
    free(b->dirty);
    free(b->visits);
    free(b->timeline);
    okno__proj_stats_free(&b->stats);
    okno__proj_arena_free(b->arena);
    *b = (okno_proj_batch){0};
}

/* Makes room for one more element of an array that doubles; OKNO_ENOMEM. */
static int reserve(void **items, size_t *cap, size_t count, size_t size, size_t min)
{
    if (count < *cap)
        return OKNO_OK;
    size_t grown = *cap == 0 ? min : *cap * 2;
    void *p = realloc(*items, grown * size);
    if (p == NULL)
        return OKNO_ENOMEM;
    *items = p;
    *cap = grown;
    return OKNO_OK;
}

static int mark_dirty(okno_proj_batch *b, okno_proj_entry *e)
{
    if (e->dirty >= 0)
        return OKNO_OK;
    if (reserve((void **)&b->dirty, &b->dirty_cap, b->dirty_count, sizeof *b->dirty,
                BATCH_DIRTY_MIN) != OKNO_OK)
        return OKNO_ENOMEM;
    e->dirty = (int32_t)b->dirty_count;
    e->from_seq = (uint32_t)e->m.state.last_seq;
    b->dirty[b->dirty_count++] = e;
    return OKNO_OK;
}

/* Who a visit is assigned to: the executor in execution, the approver in approval. */
static okno_user_id assignee_of(const okno_message_state *s)
{
    if (s->stage == OKNO_STAGE_EXECUTION)
        return s->executor_user_id;
    if (s->stage == OKNO_STAGE_APPROVAL)
        return s->approver_user_id;
    return 0;
}

/* The visit of m (its visit fields) in state s, which may be m's state before an event. */
static okno_proj_visit visit_of(const okno_proj_message *m, const okno_message_state *s)
{
    return (okno_proj_visit){
        .message_id = s->message_id,
        .visit_no = m->visit_no,
        .stage = s->stage,
        .stage_visit = s->stage_visits[s->stage],
        .org_id = s->holding_org_id,
        .entered_ms = s->stage_entered_ms,
        .entered_by = m->visit_entered_by,
        .entered_event = m->visit_entered_event,
        .assignee = m->visit_assignee,
        .exceeded = (s->stage_signals & (1u << OKNO_SIGNAL_STAGE_TIME_EXCEEDED)) != 0,
    };
}

bool okno_proj_current_visit(const okno_proj_entry *e, okno_proj_visit *out)
{
    if (e->m.state.stage == OKNO_STAGE_NONE)
        return false;
    *out = visit_of(&e->m, &e->m.state);
    return true;
}

static okno_proj_stats_key key_of(int64_t at_ms, const okno_message_state *s, okno_stage stage,
                                  okno_answer_type answer)
{
    return (okno_proj_stats_key){.day = okno__proj_day(at_ms),
                                 .category_id = s->category_id,
                                 .org_id = s->holding_org_id,
                                 .stage = stage,
                                 .answer_type = answer};
}

/* Adds up to two counters of one key with one lookup. */
static int count2(okno_proj_batch *b, okno_proj_stats_key k, okno_proj_counter c1, int64_t d1,
                  okno_proj_counter c2, int64_t d2)
{
    int64_t *row = okno__proj_stats_row(&b->stats, &k);
    if (row == NULL)
        return OKNO_ENOMEM;
    row[c1] += d1;
    row[c2] += d2;
    return OKNO_OK;
}

static int count(okno_proj_batch *b, okno_proj_stats_key k, okno_proj_counter c, int64_t delta)
{
    int64_t *row = okno__proj_stats_row(&b->stats, &k);
    if (row == NULL)
        return OKNO_ENOMEM;
    row[c] += delta;
    return OKNO_OK;
}

/* A visit ends when the stage or the holding org changes (the core's rule, apply.c), and the
 * next one begins with the event that moved the message. */
static int visits(okno_proj_batch *b, okno_proj_entry *e, const okno_message_state *before,
                  const okno_event *ev)
{
    const okno_message_state *after = &e->m.state;
    bool moved =
        ev->stage_after != ev->stage_before || ev->holding_org_after != before->holding_org_id;
    int rc = OKNO_OK;
    if (moved && before->stage != OKNO_STAGE_NONE) {
        /* The visit fields of e->m are still the ended visit's: they move on below. */
        okno_proj_visit v = visit_of(&e->m, before);
        v.left_ms = ev->at_ms;
        v.left_by = ev->actor_user_id;
        v.left_event = ev->type;
        if (reserve((void **)&b->visits, &b->visits_cap, b->visits_count, sizeof *b->visits,
                    BATCH_VISITS_MIN) != OKNO_OK)
            return OKNO_ENOMEM;
        b->visits[b->visits_count++] = v;
        okno_proj_stats_key k = key_of(ev->at_ms, before, before->stage, OKNO_ANSWER_NONE);
        rc |= count2(b, k, OKNO_PROJ_LEFT, 1, OKNO_PROJ_STAGE_MS, v.left_ms - v.entered_ms);
        rc |= v.exceeded ? count(b, k, OKNO_PROJ_LEFT_OVERDUE, 1) : OKNO_OK;
    }
    if (moved && after->stage != OKNO_STAGE_NONE) {
        e->m.visit_no++;
        e->m.visit_entered_by = ev->actor_user_id;
        e->m.visit_entered_event = ev->type;
        rc |= count(b, key_of(ev->at_ms, after, after->stage, OKNO_ANSWER_NONE), OKNO_PROJ_ENTERED,
                    1);
    }
    e->m.visit_assignee = assignee_of(after);
    return rc == OKNO_OK ? OKNO_OK : OKNO_ENOMEM;
}

static okno_proj_counter signal_counter(okno_event_type type)
{
    switch (type) {
    case OKNO_EVENT_STAGE_TIME_APPROACHING:
        return OKNO_PROJ_STAGE_APPROACHING;
    case OKNO_EVENT_STAGE_TIME_EXCEEDED:
        return OKNO_PROJ_STAGE_EXCEEDED;
    case OKNO_EVENT_ANSWER_DEADLINE_APPROACHING:
        return OKNO_PROJ_DEADLINE_APPROACHING;
    case OKNO_EVENT_ANSWER_DEADLINE_EXPIRED:
        return OKNO_PROJ_DEADLINE_EXPIRED;
    default:
        return OKNO_PROJ_POSTPONED_REACHED;
    }
}

/* Counters of what happened to the message as a whole (visits are counted in visits()). */
static int stats(okno_proj_batch *b, const okno_message_state *before,
                 const okno_message_state *after, const okno_event *ev)
{
    int64_t at = ev->at_ms;
    switch (ev->type) {
    case OKNO_EVENT_MESSAGE_SUBMITTED:
        return count(b, key_of(at, after, OKNO_STAGE_NONE, OKNO_ANSWER_NONE), OKNO_PROJ_SUBMITTED,
                     1);
    case OKNO_EVENT_MESSAGE_REJECTED:
        return count(b, key_of(at, before, OKNO_STAGE_NONE, OKNO_ANSWER_NONE),
                     OKNO_PROJ_REJECTED_BY_MODERATOR, 1);
    case OKNO_EVENT_APPROVAL_GIVEN:
        if (before->subject == OKNO_SUBJECT_REDIRECT)
            return count(b, key_of(at, before, OKNO_STAGE_NONE, OKNO_ANSWER_NONE),
                         OKNO_PROJ_REDIRECTED, 1);
        if (ev->interim)
            return count(b, key_of(at, before, OKNO_STAGE_NONE, OKNO_ANSWER_POSTPONED),
                         OKNO_PROJ_INTERIM, 1);
        okno_proj_stats_key k = key_of(at, before, OKNO_STAGE_NONE, before->answer_type);
        return count2(b, k, OKNO_PROJ_ANSWER_MS, at - before->submitted_ms,
                      OKNO_PROJ_ANSWERED_OVERDUE, at > before->answer_deadline_ms) |
               count(b, k, OKNO_PROJ_ANSWERED, 1);
    default:
        break;
    }
    if (okno_event_type_signal(ev->type) == OKNO_SIGNAL_NONE)
        return OKNO_OK;
    okno_stage stage =
        ev->type == OKNO_EVENT_STAGE_TIME_APPROACHING || ev->type == OKNO_EVENT_STAGE_TIME_EXCEEDED
            ? before->stage
            : OKNO_STAGE_NONE;
    return count(b, key_of(at, before, stage, OKNO_ANSWER_NONE), signal_counter(ev->type), 1);
}

/* The applicant's status after ev, or NONE when ev shows the citizen nothing new. */
static okno_proj_status applicant_status(const okno_proj_entry *e, const okno_message_state *before,
                                         const okno_event *ev)
{
    switch (ev->type) {
    case OKNO_EVENT_MESSAGE_SUBMITTED:
        return OKNO_PROJ_STATUS_SUBMITTED;
    case OKNO_EVENT_MESSAGE_ACCEPTED:
        return OKNO_PROJ_STATUS_ACCEPTED;
    case OKNO_EVENT_MESSAGE_REJECTED:
        return OKNO_PROJ_STATUS_REJECTED;
    case OKNO_EVENT_EXECUTOR_ASSIGNED:
    case OKNO_EVENT_MESSAGE_TAKEN_OVER:
        /* Once per org: the citizen learns that someone works on it, not who or how often. */
        return e->m.applicant_status == OKNO_PROJ_STATUS_ACCEPTED ||
                       e->m.applicant_status == OKNO_PROJ_STATUS_REDIRECTED
                   ? OKNO_PROJ_STATUS_IN_PROGRESS
                   : OKNO_PROJ_STATUS_NONE;
    case OKNO_EVENT_APPROVAL_GIVEN:
        if (before->subject == OKNO_SUBJECT_REDIRECT)
            return OKNO_PROJ_STATUS_REDIRECTED;
        return ev->interim ? OKNO_PROJ_STATUS_POSTPONED : OKNO_PROJ_STATUS_ANSWERED;
    default:
        return OKNO_PROJ_STATUS_NONE;
    }
}

/* The timeline row of an applicant-visible event. The detail is what the citizen reads: the
 * moderator's reason, or the approved answer (edited on approval, else the draft). */
static int timeline(okno_proj_batch *b, okno_proj_entry *e, const okno_message_state *before,
                    const okno_event *ev)
{
    okno_proj_status status = applicant_status(e, before, ev);
    if (status == OKNO_PROJ_STATUS_NONE)
        return OKNO_OK;
    const okno_message_state *after = &e->m.state;
    okno_proj_timeline t = {.message_id = ev->message_id,
                            .seq = (uint32_t)ev->seq,
                            .at_ms = ev->at_ms,
                            .status = status,
                            .date_ms = after->answer_deadline_ms};
    okno_str detail = {0};
    if (status == OKNO_PROJ_STATUS_REJECTED)
        detail = ev->reason;
    if (status == OKNO_PROJ_STATUS_POSTPONED || status == OKNO_PROJ_STATUS_ANSWERED) {
        detail = ev->text.len > 0 ? ev->text : okno_str_c(e->answer_text ? e->answer_text : "");
        t.answer_type = before->answer_type;
        t.date_ms = status == OKNO_PROJ_STATUS_POSTPONED ? after->postponed_until_ms : 0;
    }
    if (detail.len > 0) {
        t.detail = okno__proj_arena_strdup(b->arena, detail.ptr, detail.len);
        if (t.detail == NULL)
            return OKNO_ENOMEM;
    }
    if (reserve((void **)&b->timeline, &b->timeline_cap, b->timeline_count, sizeof *b->timeline,
                BATCH_TIMELINE_MIN) != OKNO_OK)
        return OKNO_ENOMEM;
    b->timeline[b->timeline_count++] = t;
    e->m.applicant_status = status;
    return OKNO_OK;
}

int okno_proj_follow_answer_text(char **slot, const okno_message_state *before,
                                 const okno_message_state *after, const okno_event *ev)
{
    if (after->draft_text_seq == before->draft_text_seq)
        return OKNO_OK;
    if (after->draft_text_seq == ev->seq)
        return okno_proj_entry_set_text(slot, ev->text.ptr, ev->text.len);
    return okno_proj_entry_set_text(slot, NULL, 0);
}

/* The card keeps the citizen's text and the current answer text. */
static int texts(okno_proj_entry *e, const okno_message_state *before, const okno_event *ev)
{
    if (ev->type == OKNO_EVENT_MESSAGE_SUBMITTED &&
        okno_proj_entry_set_text(&e->message_text, ev->text.ptr, ev->text.len) != OKNO_OK)
        return OKNO_ENOMEM;
    return okno_proj_follow_answer_text(&e->answer_text, before, &e->m.state, ev);
}

int okno_proj_apply(okno_proj_batch *b, okno_proj_entry *e, const okno_event *ev)
{
    okno_message_state *s = &e->m.state;
    if (memcmp(ev->message_id.bytes, s->message_id.bytes, sizeof s->message_id.bytes) != 0)
        return OKNO_EINVAL;
    if (ev->seq <= s->last_seq) {
        b->skipped++;
        return OKNO_EDUPLICATE;
    }
    if (ev->seq != s->last_seq + 1)
        return OKNO_EINVAL;
    if (mark_dirty(b, e) != OKNO_OK)
        return OKNO_ENOMEM;
    okno_message_state before = *s;
    if (okno_workflow_apply(s, ev) != OKNO_OK)
        return OKNO_EINVAL;
    /* The timeline reads the answer text as it was before this event replaced or cleared it. */
    int rc = timeline(b, e, &before, ev);
    if (rc == OKNO_OK)
        rc = texts(e, &before, ev);
    if (rc == OKNO_OK)
        rc = visits(b, e, &before, ev);
    if (rc == OKNO_OK)
        rc = stats(b, &before, s, ev);
    e->m.last_type = ev->type;
    b->events++;
    return rc;
}

/* ---- derived rows ----------------------------------------------------------------------- */

int64_t okno_proj_stage_due_ms(const okno_message_state *s)
{
    if (s->stage == OKNO_STAGE_NONE)
        return INT64_MAX;
    return s->stage_entered_ms + okno_sla_stage_allotment_ms(s->total_days, s->stage) -
           s->stage_used_ms[s->stage];
}

size_t okno_proj_inbox_rows(const okno_proj_message *m, okno_proj_inbox out[OKNO_PROJ_INBOX_MAX])
{
    const okno_message_state *s = &m->state;
    okno_org_id org = s->holding_org_id;
    switch (s->stage) {
    case OKNO_STAGE_MODERATION:
        out[0] = (okno_proj_inbox){org, OKNO_ROLE_MODERATOR, 0, "moderate"};
        return 1;
    case OKNO_STAGE_COORDINATION:
        out[0] = (okno_proj_inbox){org, OKNO_ROLE_COORDINATOR, 0, "coordinate"};
        return 1;
    case OKNO_STAGE_EXECUTION:
        out[0] = (okno_proj_inbox){org, OKNO_ROLE_EXECUTOR, s->executor_user_id,
                                   s->in_work ? "draft_answer" : "take_into_work"};
        return 1;
    case OKNO_STAGE_AGREEMENT: {
        size_t n = 0;
        for (uint32_t i = 0; i < s->agreers_count; i++)
            if (s->agreer_decisions[i] == OKNO_AGREER_PENDING)
                out[n++] = (okno_proj_inbox){org, OKNO_ROLE_MANAGER, s->agreers[i], "agree"};
        return n;
    }
    case OKNO_STAGE_APPROVAL:
        out[0] = (okno_proj_inbox){org, OKNO_ROLE_MANAGER, s->approver_user_id, "approve"};
        return 1;
    default:
        return 0;
    }
}
