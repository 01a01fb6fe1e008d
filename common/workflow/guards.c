/* The guard table of SPEC III (3.1-3.9) and the predicates and event builders it names.
 * Adding or changing a rule of the regulation means editing this file; okno_workflow_step
 * and the generated docs/workflow-table.md follow from it. */
#include <stddef.h>
#include <string.h>

#include "okno/sla.h"
#include "workflow/guard.h"

#define STAGE_BIT(s) (1u << (s))
/* "The check holds", to keep predicates readable. */
#define R OKNO_REFUSAL_NONE
/* A limit's value, spelled into the table's text. */
#define STR_(x) #x
#define STR(x)  STR_(x)

/* ---- who may act ----------------------------------------------------------------------- */

static bool is_agreer(const okno_message_state *s, okno_user_id user_id)
{
    for (uint32_t i = 0; i < s->agreers_count; i++) {
        if (s->agreers[i] == user_id)
            return true;
    }
    return false;
}

static okno_refusal_code submitter_holds(const okno__ctx *c)
{
    if (c->req->channel == OKNO_CHANNEL_PORTAL)
        return c->actor->user_id == c->req->applicant_id ? R : OKNO_REFUSAL_NOT_AUTHORIZED;
    if (c->req->channel == OKNO_CHANNEL_INTAKE)
        return c->actor->roles & OKNO_ROLE_INTAKE_OPERATOR ? R : OKNO_REFUSAL_NOT_AUTHORIZED;
    return OKNO_REFUSAL_BAD_REQUEST;
}

/* Named parties act only from the org holding the message, so a manager of two orgs cannot
 * approve one org's answer while logged into the other. */
static bool named_party(const okno__ctx *c, okno__who who)
{
    const okno_message_state *s = c->state;
    okno_user_id u = c->actor->user_id;
    if (c->actor->org_id != s->holding_org_id)
        return false;
    switch (who) {
    case OKNO__WHO_COORDINATOR:
        return (c->actor->roles & OKNO_ROLE_COORDINATOR) != 0;
    case OKNO__WHO_EXECUTOR:
        return u == s->executor_user_id;
    case OKNO__WHO_AGREER:
        return is_agreer(s, u);
    case OKNO__WHO_APPROVER:
        return u == s->approver_user_id;
    default:
        return false;
    }
}

okno_refusal_code okno__who_holds(okno__who who, const okno__ctx *c)
{
    const okno_actor *a = c->actor;
    if (c->req->acting_user_id != a->user_id || c->req->acting_org_id != a->org_id)
        return OKNO_REFUSAL_NOT_AUTHORIZED;
    if (who == OKNO__WHO_SYSTEM)
        return a->user_id == OKNO_SYSTEM_USER_ID ? R : OKNO_REFUSAL_NOT_AUTHORIZED;
    if (a->user_id == OKNO_SYSTEM_USER_ID)
        return OKNO_REFUSAL_NOT_AUTHORIZED;
    if (who == OKNO__WHO_SUBMITTER)
        return submitter_holds(c);
    if (who == OKNO__WHO_MODERATOR) {
        bool ok = (a->roles & OKNO_ROLE_MODERATOR) && a->org_id == c->dir->config.operator_org_id;
        return ok ? R : OKNO_REFUSAL_NOT_AUTHORIZED;
    }
    return named_party(c, who) ? R : OKNO_REFUSAL_NOT_AUTHORIZED;
}

static const char *const who_texts[OKNO__WHO_COUNT] = {
    [OKNO__WHO_SUBMITTER] = "the applicant (channel portal) or an intake_operator (channel intake)",
    [OKNO__WHO_MODERATOR] = "a moderator of the platform operator's org",
    [OKNO__WHO_COORDINATOR] = "a coordinator of the holding org",
    [OKNO__WHO_EXECUTOR] = "the assigned executor",
    [OKNO__WHO_AGREER] = "a named agreer of the round",
    [OKNO__WHO_APPROVER] = "the named approver",
    [OKNO__WHO_SYSTEM] = "the timer (system user 0)",
};

const char *okno__who_text(okno__who who)
{
    return who_texts[who];
}

/* ---- required fields ------------------------------------------------------------------- */

static bool has_reason(const okno_request *r)
{
    return r->reason.len > 0;
}
static bool has_text(const okno_request *r)
{
    return r->text.len > 0;
}
static bool has_approver(const okno_request *r)
{
    return r->approver_user_id != 0;
}
static bool has_target_org(const okno_request *r)
{
    return r->target_org_id != 0;
}
static bool has_target_user(const okno_request *r)
{
    return r->target_user_id != 0;
}
static bool has_answer_type(const okno_request *r)
{
    return r->answer_type > OKNO_ANSWER_NONE && r->answer_type < OKNO_ANSWER_COUNT;
}
static bool has_applicant(const okno_request *r)
{
    return r->applicant_id != 0;
}
static bool has_signal(const okno_request *r)
{
    return r->signal > OKNO_SIGNAL_NONE && r->signal < OKNO_SIGNAL_COUNT;
}

static const okno__need need_reason = {"reason", OKNO_REFUSAL_MISSING_REASON, has_reason};
static const okno__need need_text = {"text", OKNO_REFUSAL_MISSING_TEXT, has_text};
static const okno__need need_approver = {"approver_user_id", OKNO_REFUSAL_MISSING_APPROVER,
                                         has_approver};
static const okno__need need_target_org = {"target_org_id", OKNO_REFUSAL_BAD_TARGET_ORG,
                                           has_target_org};
static const okno__need need_target_user = {"target_user_id", OKNO_REFUSAL_BAD_TARGET_USER,
                                            has_target_user};
static const okno__need need_answer_type = {"answer_type", OKNO_REFUSAL_BAD_ANSWER_TYPE,
                                            has_answer_type};
static const okno__need need_applicant = {"applicant_id", OKNO_REFUSAL_MISSING_APPLICANT,
                                          has_applicant};
static const okno__need need_signal = {"signal", OKNO_REFUSAL_BAD_REQUEST, has_signal};

/* ---- further conditions ---------------------------------------------------------------- */

static okno_refusal_code category_known(const okno__ctx *c)
{
    int32_t id = c->req->category_id;
    return id == 0 || okno_directory_category_find(c->dir, id) ? R : OKNO_REFUSAL_BAD_CATEGORY;
}

/* After moderation every message has a category: delegation authority is per category. */
static okno_refusal_code category_set(const okno__ctx *c)
{
    int32_t id = c->req->category_id ? c->req->category_id : c->state->category_id;
    return okno_directory_category_find(c->dir, id) ? R : OKNO_REFUSAL_BAD_CATEGORY;
}

static okno_refusal_code target_org_exists(const okno__ctx *c)
{
    return okno_directory_org_find(c->dir, c->req->target_org_id) ? R : OKNO_REFUSAL_BAD_TARGET_ORG;
}

static okno_refusal_code target_org_below(const okno__ctx *c)
{
    bool below =
        okno_directory_org_is_below(c->dir, c->req->target_org_id, c->state->holding_org_id);
    return below ? R : OKNO_REFUSAL_BAD_TARGET_ORG;
}

/* The platform operator's org moderates but does not answer (SPEC 3.1): it has no coordinator,
 * so a message accepted or redirected into it would wait there forever. */
static okno_refusal_code target_not_operator(const okno__ctx *c)
{
    if (c->req->target_org_id != c->dir->config.operator_org_id)
        return R;
    return c->req->action == OKNO_ACTION_ACCEPT ? OKNO_REFUSAL_ACCEPT_INTO_OPERATOR_ORG
                                                : OKNO_REFUSAL_REDIRECT_TO_OPERATOR_ORG;
}

static okno_refusal_code upstream_room(const okno__ctx *c)
{
    return c->state->upstream_count < OKNO_UPSTREAM_MAX ? R : OKNO_REFUSAL_UPSTREAM_TOO_DEEP;
}

static okno_refusal_code target_org_elsewhere(const okno__ctx *c)
{
    okno_org_id target = c->req->target_org_id, holding = c->state->holding_org_id;
    if (okno_directory_org_find(c->dir, target) == NULL || target == holding)
        return OKNO_REFUSAL_BAD_TARGET_ORG;
    return okno_directory_org_is_below(c->dir, target, holding) ? OKNO_REFUSAL_BAD_TARGET_ORG : R;
}

static bool is_manager(const okno__ctx *c, okno_user_id user_id)
{
    return okno_directory_roles(c->dir, user_id, c->state->holding_org_id) & OKNO_ROLE_MANAGER;
}

static okno_refusal_code reviewers_valid(const okno__ctx *c)
{
    const okno_request *r = c->req;
    if (r->agreers_count > OKNO_AGREERS_MAX)
        return OKNO_REFUSAL_TOO_MANY_AGREERS;
    for (uint32_t i = 0; i < r->agreers_count; i++) {
        if (r->agreers[i] == 0 || !is_manager(c, r->agreers[i]))
            return OKNO_REFUSAL_NOT_A_MANAGER;
        for (uint32_t j = 0; j < i; j++) {
            if (r->agreers[j] == r->agreers[i])
                return OKNO_REFUSAL_AGREER_DUPLICATE;
        }
    }
    return is_manager(c, r->approver_user_id) ? R : OKNO_REFUSAL_NOT_A_MANAGER;
}

static okno_refusal_code has_upstream(const okno__ctx *c)
{
    return c->state->upstream_count > 0 ? R : OKNO_REFUSAL_NO_UPSTREAM;
}

static okno_refusal_code target_is_executor(const okno__ctx *c)
{
    okno_roles roles =
        okno_directory_roles(c->dir, c->req->target_user_id, c->state->holding_org_id);
    return roles & OKNO_ROLE_EXECUTOR ? R : OKNO_REFUSAL_NOT_AN_EXECUTOR;
}

static okno_refusal_code target_not_executor_now(const okno__ctx *c)
{
    return c->req->target_user_id != c->state->executor_user_id ? R : OKNO_REFUSAL_SAME_EXECUTOR;
}

static okno_refusal_code not_in_work(const okno__ctx *c)
{
    return c->state->in_work ? OKNO_REFUSAL_ALREADY_IN_WORK : R;
}

static okno_refusal_code in_work(const okno__ctx *c)
{
    return c->state->in_work ? R : OKNO_REFUSAL_NOT_IN_WORK;
}

static okno_refusal_code answer_details(const okno__ctx *c)
{
    const okno_request *r = c->req;
    if (r->answer_type == OKNO_ANSWER_REJECTED && r->reason.len == 0)
        return OKNO_REFUSAL_MISSING_REASON;
    if (r->answer_type != OKNO_ANSWER_POSTPONED)
        return R;
    if (r->postponed_until_ms == 0)
        return OKNO_REFUSAL_MISSING_POSTPONED_DATE;
    if (r->postponed_until_ms <= c->at_ms)
        return OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE;
    return c->state->interim_sent ? OKNO_REFUSAL_ALREADY_POSTPONED : R;
}

static okno_refusal_code agreer_pending(const okno__ctx *c)
{
    const okno_message_state *s = c->state;
    for (uint32_t i = 0; i < s->agreers_count; i++) {
        if (s->agreers[i] == c->actor->user_id && s->agreer_decisions[i] == OKNO_AGREER_AGREED)
            return OKNO_REFUSAL_ALREADY_AGREED;
    }
    return R;
}

static okno_refusal_code text_only_for_answer(const okno__ctx *c)
{
    bool redirect = c->state->subject == OKNO_SUBJECT_REDIRECT;
    return redirect && c->req->text.len > 0 ? OKNO_REFUSAL_TEXT_NOT_ALLOWED : R;
}

static okno_refusal_code delegate_to_agreer(const okno__ctx *c)
{
    okno_user_id t = c->req->target_user_id;
    if (t == c->actor->user_id || is_agreer(c->state, t))
        return OKNO_REFUSAL_DELEGATE_INVALID;
    if (!is_manager(c, t))
        return OKNO_REFUSAL_NOT_A_MANAGER;
    bool may = okno_directory_may_agree(c->dir, t, c->state->holding_org_id, c->state->category_id);
    return may ? R : OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED;
}

static okno_refusal_code delegate_to_approver(const okno__ctx *c)
{
    const okno_message_state *s = c->state;
    okno_user_id t = c->req->target_user_id;
    if (t == c->actor->user_id)
        return OKNO_REFUSAL_DELEGATE_INVALID;
    if (!is_manager(c, t))
        return OKNO_REFUSAL_NOT_A_MANAGER;
    bool may =
        okno_directory_may_approve(c->dir, t, s->holding_org_id, s->category_id, s->subcategory_id);
    return may ? R : OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED;
}

/* The date was in the future when drafted; by approval it may have passed, and an interim
 * answer promising a past date would be a lie. The approver refuses so the executor fixes it. */
static okno_refusal_code postponed_still_future(const okno__ctx *c)
{
    const okno_message_state *s = c->state;
    if (s->subject != OKNO_SUBJECT_ANSWER || s->answer_type != OKNO_ANSWER_POSTPONED)
        return R;
    return s->draft_postponed_until_ms > c->at_ms ? R : OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE;
}

static bool is_stage_signal(okno_signal_kind kind)
{
    return kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED;
}

/* A stage signal names the stage visit it was computed for; after the message moved on it is
 * stale, and the timer computes the next one from the new state. */
static okno_refusal_code signal_current(const okno__ctx *c)
{
    const okno_message_state *s = c->state;
    const okno_request *r = c->req;
    if (is_stage_signal(r->signal)) {
        bool same = r->signal_stage == s->stage && r->signal_visit == s->stage_visits[s->stage];
        return same ? R : OKNO_REFUSAL_SIGNAL_STALE;
    }
    if (r->signal == OKNO_SIGNAL_POSTPONED_DATE_REACHED && !s->interim_sent)
        return OKNO_REFUSAL_SIGNAL_STALE;
    return R;
}

static okno_refusal_code signal_new(const okno__ctx *c)
{
    uint32_t bits =
        is_stage_signal(c->req->signal) ? c->state->stage_signals : c->state->deadline_signals;
    return bits & (1u << c->req->signal) ? OKNO_REFUSAL_SIGNAL_DUPLICATE : R;
}

static okno_refusal_code signal_due(const okno__ctx *c)
{
    int64_t due =
        okno_sla_signal_due_ms(c->state, c->req->signal, c->dir->config.approaching_permille);
    return due <= c->at_ms ? R : OKNO_REFUSAL_SIGNAL_NOT_DUE;
}

static const okno__check check_category_known = {"category, if given, is a known category",
                                                 category_known};
static const okno__check check_category_set = {
    "the category (given, or from submission) is a known category", category_set};
static const okno__check check_target_org_exists = {"target org exists", target_org_exists};
static const okno__check check_target_not_operator = {
    "target org is not the platform operator's org (it moderates, it does not answer)",
    target_not_operator};
static const okno__check check_target_org_below = {
    "target org lies below the holding org in the hierarchy", target_org_below};
static const okno__check check_upstream_room = {
    "the forwarding chain is shorter than " STR(OKNO_UPSTREAM_MAX) " orgs", upstream_room};
static const okno__check check_target_org_elsewhere = {
    "target org exists and is neither the holding org nor below it", target_org_elsewhere};
static const okno__check check_reviewers = {
    "agreers (at most " STR(
        OKNO_AGREERS_MAX) ") are distinct managers of the holding org; so is the approver",
    reviewers_valid};
static const okno__check check_has_upstream = {"the message came from an upstream org",
                                               has_upstream};
static const okno__check check_target_is_executor = {
    "target user holds the executor role in the holding org", target_is_executor};
static const okno__check check_target_not_executor_now = {"target user is not the current executor",
                                                          target_not_executor_now};
static const okno__check check_not_in_work = {"not yet taken into work", not_in_work};
static const okno__check check_in_work = {"taken into work", in_work};
static const okno__check check_answer_details = {
    "postponed: postponed_until_ms in the future and no earlier interim answer; "
    "rejected: a reason",
    answer_details};
static const okno__check check_agreer_pending = {"the agreer has not agreed yet in this round",
                                                 agreer_pending};
static const okno__check check_text_only_for_answer = {
    "an edited text only for an answer, not for a redirect", text_only_for_answer};
static const okno__check check_delegate_to_agreer = {
    "target is not the delegator nor an agreer of the round, is a manager of the holding org "
    "with agreement authority for the category",
    delegate_to_agreer};
static const okno__check check_delegate_to_approver = {
    "target is not the delegator, is a manager of the holding org with approval authority for "
    "the category and subcategory",
    delegate_to_approver};
static const okno__check check_postponed_still_future = {
    "postponed answer: its date is still in the future", postponed_still_future};
static const okno__check check_signal_current = {
    "stage signals: signal_stage and signal_visit are the current visit", signal_current};
static const okno__check check_signal_new = {"not recorded before for this visit or deadline",
                                             signal_new};
static const okno__check check_signal_due = {"its due time (okno_sla_signal_due_ms) has come",
                                             signal_due};

#undef R

/* ---- event builders -------------------------------------------------------------------- */

static int32_t total_days_of(const okno__ctx *c, int32_t category_id)
{
    const okno_category *cat = okno_directory_category_find(c->dir, category_id);
    return cat ? cat->total_days : c->dir->config.default_total_days;
}

static void reviewers_copy(const okno__ctx *c, okno_event *ev)
{
    for (uint32_t i = 0; i < c->req->agreers_count; i++)
        ev->agreers[i] = c->req->agreers[i];
    ev->agreers_count = c->req->agreers_count;
    ev->approver_user_id = c->req->approver_user_id;
}

static okno__when build_submit(const okno__ctx *c, okno_event *ev)
{
    const okno_request *r = c->req;
    ev->applicant_id = r->applicant_id;
    ev->channel = r->channel;
    ev->category_id = r->category_id;
    ev->subcategory_id = r->category_id ? r->subcategory_id : 0;
    ev->total_days = total_days_of(c, r->category_id);
    ev->answer_deadline_ms = c->at_ms + okno_sla_total_ms(ev->total_days);
    ev->text = r->text;
    ev->applicant_email = r->applicant_email;
    ev->attachments_count = r->attachments_count;
    memcpy(ev->attachments, r->attachments, r->attachments_count * sizeof(r->attachments[0]));
    return OKNO__WHEN_ALWAYS;
}

/* The moderator may reclassify; the deadline follows the category, counted from submission. */
static okno__when build_accept(const okno__ctx *c, okno_event *ev)
{
    const okno_request *r = c->req;
    const okno_message_state *s = c->state;
    ev->target_org_id = r->target_org_id;
    ev->category_id = r->category_id ? r->category_id : s->category_id;
    ev->subcategory_id = r->category_id ? r->subcategory_id : s->subcategory_id;
    ev->total_days = total_days_of(c, ev->category_id);
    ev->answer_deadline_ms = s->submitted_ms + okno_sla_total_ms(ev->total_days);
    return OKNO__WHEN_ALWAYS;
}

static okno__when build_nothing(const okno__ctx *c, okno_event *ev)
{
    (void)c;
    (void)ev;
    return OKNO__WHEN_ALWAYS;
}

static okno__when build_target_user(const okno__ctx *c, okno_event *ev)
{
    ev->target_user_id = c->req->target_user_id;
    return OKNO__WHEN_ALWAYS;
}

static okno__when build_take_over(const okno__ctx *c, okno_event *ev)
{
    ev->target_user_id = c->actor->user_id;
    return OKNO__WHEN_ALWAYS;
}

static okno__when build_target_org(const okno__ctx *c, okno_event *ev)
{
    ev->target_org_id = c->req->target_org_id;
    return OKNO__WHEN_ALWAYS;
}

static okno__when build_propose_redirect(const okno__ctx *c, okno_event *ev)
{
    ev->target_org_id = c->req->target_org_id;
    ev->subject = OKNO_SUBJECT_REDIRECT;
    reviewers_copy(c, ev);
    return c->req->agreers_count ? OKNO__WHEN_WITH_AGREERS : OKNO__WHEN_WITHOUT_AGREERS;
}

static okno__when build_return_upstream(const okno__ctx *c, okno_event *ev)
{
    ev->target_org_id = c->state->upstream[c->state->upstream_count - 1];
    return OKNO__WHEN_ALWAYS;
}

static okno__when build_draft_answer(const okno__ctx *c, okno_event *ev)
{
    const okno_request *r = c->req;
    ev->subject = OKNO_SUBJECT_ANSWER;
    ev->answer_type = r->answer_type;
    ev->text = r->text;
    if (r->answer_type == OKNO_ANSWER_POSTPONED)
        ev->postponed_until_ms = r->postponed_until_ms;
    reviewers_copy(c, ev);
    return r->agreers_count ? OKNO__WHEN_WITH_AGREERS : OKNO__WHEN_WITHOUT_AGREERS;
}

/* An edited text replaces the draft's; the event points at the text it replaces. */
static void text_edit(const okno__ctx *c, okno_event *ev)
{
    if (c->req->text.len == 0)
        return;
    ev->text = c->req->text;
    ev->text_replaces_seq = c->state->draft_text_seq;
}

static okno__when build_agree(const okno__ctx *c, okno_event *ev)
{
    const okno_message_state *s = c->state;
    ev->subject = s->subject;
    text_edit(c, ev);
    uint32_t pending = 0;
    for (uint32_t i = 0; i < s->agreers_count; i++)
        pending += s->agreer_decisions[i] == OKNO_AGREER_PENDING;
    return pending > 1 ? OKNO__WHEN_ROUND_OPEN : OKNO__WHEN_ROUND_DONE;
}

static okno__when build_review_refused(const okno__ctx *c, okno_event *ev)
{
    ev->subject = c->state->subject;
    return ev->subject == OKNO_SUBJECT_ANSWER ? OKNO__WHEN_ANSWER : OKNO__WHEN_REDIRECT;
}

static okno__when build_delegate(const okno__ctx *c, okno_event *ev)
{
    ev->subject = c->state->subject;
    ev->target_user_id = c->req->target_user_id;
    return OKNO__WHEN_ALWAYS;
}

/* SPEC decision (redirect): the deadline is kept from submission unless the deployment
 * restarts it, in which case the new org gets the category's full time from now. */
static okno__when build_approve_redirect(const okno__ctx *c, okno_event *ev)
{
    const okno_message_state *s = c->state;
    ev->target_org_id = s->redirect_org_id;
    ev->deadline_restarted = c->dir->config.redirect_restarts_deadline;
    ev->answer_deadline_ms = ev->deadline_restarted ? c->at_ms + okno_sla_total_ms(s->total_days)
                                                    : s->answer_deadline_ms;
    return OKNO__WHEN_REDIRECT;
}

/* SPEC decision (postponed answers): an interim answer; the deadline becomes the date. */
static okno__when build_approve(const okno__ctx *c, okno_event *ev)
{
    const okno_message_state *s = c->state;
    ev->subject = s->subject;
    if (s->subject == OKNO_SUBJECT_REDIRECT)
        return build_approve_redirect(c, ev);
    ev->answer_type = s->answer_type;
    text_edit(c, ev);
    if (s->answer_type != OKNO_ANSWER_POSTPONED) {
        ev->answer_deadline_ms = s->answer_deadline_ms;
        return OKNO__WHEN_FINAL_ANSWER;
    }
    ev->interim = true;
    ev->postponed_until_ms = s->draft_postponed_until_ms;
    ev->answer_deadline_ms = s->draft_postponed_until_ms;
    return OKNO__WHEN_POSTPONED_ANSWER;
}

static okno__when build_signal(const okno__ctx *c, okno_event *ev)
{
    const okno_request *r = c->req;
    ev->type = okno_signal_kind_event(r->signal);
    if (is_stage_signal(r->signal)) {
        ev->signal_stage = r->signal_stage;
        ev->signal_visit = r->signal_visit;
    }
    ev->signal_due_ms =
        okno_sla_signal_due_ms(c->state, r->signal, c->dir->config.approaching_permille);
    return OKNO__WHEN_ALWAYS;
}

/* ---- the table ------------------------------------------------------------------------- */

#define ONE_LEAD(stage, where)                                                                     \
    .leads = {{OKNO__WHEN_ALWAYS, (stage), OKNO_OUTCOME_OPEN, (where)}}, .leads_count = 1
#define REVIEW_LEADS                                                                               \
    .leads = {{OKNO__WHEN_WITH_AGREERS, OKNO_STAGE_AGREEMENT, OKNO_OUTCOME_OPEN,                   \
               OKNO__WHERE_SAME},                                                                  \
              {OKNO__WHEN_WITHOUT_AGREERS, OKNO_STAGE_APPROVAL, OKNO_OUTCOME_OPEN,                 \
               OKNO__WHERE_SAME}},                                                                 \
    .leads_count = 2
#define REFUSAL_LEADS                                                                              \
    .leads = {{OKNO__WHEN_ANSWER, OKNO_STAGE_EXECUTION, OKNO_OUTCOME_OPEN, OKNO__WHERE_SAME},      \
              {OKNO__WHEN_REDIRECT, OKNO_STAGE_COORDINATION, OKNO_OUTCOME_OPEN,                    \
               OKNO__WHERE_SAME}},                                                                 \
    .leads_count = 2

#define OPEN_STAGES                                                                                \
    (STAGE_BIT(OKNO_STAGE_MODERATION) | STAGE_BIT(OKNO_STAGE_COORDINATION) |                       \
     STAGE_BIT(OKNO_STAGE_EXECUTION) | STAGE_BIT(OKNO_STAGE_AGREEMENT) |                           \
     STAGE_BIT(OKNO_STAGE_APPROVAL))

static const okno__guard guards[OKNO_ACTION_COUNT] = {
    [OKNO_ACTION_SUBMIT] = {OKNO_ACTION_SUBMIT, OKNO_EVENT_MESSAGE_SUBMITTED,
                            STAGE_BIT(OKNO_STAGE_NONE), OKNO__WHO_SUBMITTER,
                            .needs = {&need_applicant, &need_text},
                            .checks = {&check_category_known},
                            ONE_LEAD(OKNO_STAGE_MODERATION, OKNO__WHERE_OPERATOR),
                            .build = build_submit},
    [OKNO_ACTION_ACCEPT] =
        {OKNO_ACTION_ACCEPT, OKNO_EVENT_MESSAGE_ACCEPTED, STAGE_BIT(OKNO_STAGE_MODERATION),
         OKNO__WHO_MODERATOR, .needs = {&need_target_org},
         .checks = {&check_target_org_exists, &check_target_not_operator, &check_category_set},
         ONE_LEAD(OKNO_STAGE_COORDINATION, OKNO__WHERE_TARGET), .build = build_accept},
    [OKNO_ACTION_REJECT] = {OKNO_ACTION_REJECT, OKNO_EVENT_MESSAGE_REJECTED,
                            STAGE_BIT(OKNO_STAGE_MODERATION), OKNO__WHO_MODERATOR,
                            .needs = {&need_reason},
                            .leads = {{OKNO__WHEN_ALWAYS, OKNO_STAGE_NONE,
                                       OKNO_OUTCOME_REJECTED_BY_MODERATOR, OKNO__WHERE_SAME}},
                            .leads_count = 1, .build = build_nothing},
    [OKNO_ACTION_ASSIGN_EXECUTOR] = {OKNO_ACTION_ASSIGN_EXECUTOR, OKNO_EVENT_EXECUTOR_ASSIGNED,
                                     STAGE_BIT(OKNO_STAGE_COORDINATION), OKNO__WHO_COORDINATOR,
                                     .needs = {&need_target_user},
                                     .checks = {&check_target_is_executor},
                                     ONE_LEAD(OKNO_STAGE_EXECUTION, OKNO__WHERE_SAME),
                                     .build = build_target_user},
    [OKNO_ACTION_TAKE_OVER] = {OKNO_ACTION_TAKE_OVER, OKNO_EVENT_MESSAGE_TAKEN_OVER,
                               STAGE_BIT(OKNO_STAGE_COORDINATION), OKNO__WHO_COORDINATOR,
                               ONE_LEAD(OKNO_STAGE_EXECUTION, OKNO__WHERE_SAME),
                               .build = build_take_over},
    [OKNO_ACTION_FORWARD_TO_SUBORDINATE] =
        {OKNO_ACTION_FORWARD_TO_SUBORDINATE, OKNO_EVENT_FORWARDED_TO_SUBORDINATE,
         STAGE_BIT(OKNO_STAGE_COORDINATION), OKNO__WHO_COORDINATOR, .needs = {&need_target_org},
         .checks = {&check_target_org_below, &check_upstream_room},
         ONE_LEAD(OKNO_STAGE_COORDINATION, OKNO__WHERE_TARGET), .build = build_target_org},
    [OKNO_ACTION_PROPOSE_REDIRECT] = {OKNO_ACTION_PROPOSE_REDIRECT, OKNO_EVENT_REDIRECT_PROPOSED,
                                      STAGE_BIT(OKNO_STAGE_COORDINATION), OKNO__WHO_COORDINATOR,
                                      .needs = {&need_target_org, &need_approver},
                                      .checks = {&check_target_not_operator,
                                                 &check_target_org_elsewhere, &check_reviewers},
                                      REVIEW_LEADS, .build = build_propose_redirect},
    [OKNO_ACTION_RETURN_UPSTREAM] = {OKNO_ACTION_RETURN_UPSTREAM, OKNO_EVENT_RETURNED_UPSTREAM,
                                     STAGE_BIT(OKNO_STAGE_COORDINATION), OKNO__WHO_COORDINATOR,
                                     .needs = {&need_reason}, .checks = {&check_has_upstream},
                                     ONE_LEAD(OKNO_STAGE_COORDINATION, OKNO__WHERE_UPSTREAM),
                                     .build = build_return_upstream},
    [OKNO_ACTION_TAKE_INTO_WORK] = {OKNO_ACTION_TAKE_INTO_WORK, OKNO_EVENT_TAKEN_INTO_WORK,
                                    STAGE_BIT(OKNO_STAGE_EXECUTION), OKNO__WHO_EXECUTOR,
                                    .checks = {&check_not_in_work},
                                    ONE_LEAD(OKNO_STAGE_EXECUTION, OKNO__WHERE_SAME),
                                    .build = build_nothing},
    [OKNO_ACTION_RETURN_TO_COORDINATION] = {OKNO_ACTION_RETURN_TO_COORDINATION,
                                            OKNO_EVENT_RETURNED_TO_COORDINATION,
                                            STAGE_BIT(OKNO_STAGE_EXECUTION), OKNO__WHO_EXECUTOR,
                                            .needs = {&need_reason},
                                            ONE_LEAD(OKNO_STAGE_COORDINATION, OKNO__WHERE_SAME),
                                            .build = build_nothing},
    [OKNO_ACTION_REASSIGN_EXECUTOR] =
        {OKNO_ACTION_REASSIGN_EXECUTOR, OKNO_EVENT_EXECUTOR_REASSIGNED,
         STAGE_BIT(OKNO_STAGE_EXECUTION), OKNO__WHO_EXECUTOR,
         .needs = {&need_reason, &need_target_user},
         .checks = {&check_target_is_executor, &check_target_not_executor_now},
         ONE_LEAD(OKNO_STAGE_EXECUTION, OKNO__WHERE_SAME), .build = build_target_user},
    [OKNO_ACTION_DRAFT_ANSWER] = {OKNO_ACTION_DRAFT_ANSWER, OKNO_EVENT_ANSWER_DRAFTED,
                                  STAGE_BIT(OKNO_STAGE_EXECUTION), OKNO__WHO_EXECUTOR,
                                  .needs = {&need_answer_type, &need_text, &need_approver},
                                  .checks = {&check_in_work, &check_answer_details,
                                             &check_reviewers},
                                  REVIEW_LEADS, .build = build_draft_answer},
    [OKNO_ACTION_AGREE] = {OKNO_ACTION_AGREE, OKNO_EVENT_AGREEMENT_GIVEN,
                           STAGE_BIT(OKNO_STAGE_AGREEMENT), OKNO__WHO_AGREER,
                           .checks = {&check_agreer_pending, &check_text_only_for_answer},
                           .leads = {{OKNO__WHEN_ROUND_OPEN, OKNO_STAGE_AGREEMENT,
                                      OKNO_OUTCOME_OPEN, OKNO__WHERE_SAME},
                                     {OKNO__WHEN_ROUND_DONE, OKNO_STAGE_APPROVAL, OKNO_OUTCOME_OPEN,
                                      OKNO__WHERE_SAME}},
                           .leads_count = 2, .build = build_agree},
    [OKNO_ACTION_REFUSE_AGREEMENT] = {OKNO_ACTION_REFUSE_AGREEMENT, OKNO_EVENT_AGREEMENT_REFUSED,
                                      STAGE_BIT(OKNO_STAGE_AGREEMENT), OKNO__WHO_AGREER,
                                      .needs = {&need_reason}, .checks = {&check_agreer_pending},
                                      REFUSAL_LEADS, .build = build_review_refused},
    [OKNO_ACTION_DELEGATE_AGREEMENT] =
        {OKNO_ACTION_DELEGATE_AGREEMENT, OKNO_EVENT_AGREEMENT_DELEGATED,
         STAGE_BIT(OKNO_STAGE_AGREEMENT), OKNO__WHO_AGREER,
         .needs = {&need_reason, &need_target_user},
         .checks = {&check_agreer_pending, &check_delegate_to_agreer},
         ONE_LEAD(OKNO_STAGE_AGREEMENT, OKNO__WHERE_SAME), .build = build_delegate},
    [OKNO_ACTION_APPROVE] = {OKNO_ACTION_APPROVE, OKNO_EVENT_APPROVAL_GIVEN,
                             STAGE_BIT(OKNO_STAGE_APPROVAL), OKNO__WHO_APPROVER,
                             .checks = {&check_text_only_for_answer, &check_postponed_still_future},
                             .leads = {{OKNO__WHEN_FINAL_ANSWER, OKNO_STAGE_NONE,
                                        OKNO_OUTCOME_ANSWERED, OKNO__WHERE_SAME},
                                       {OKNO__WHEN_POSTPONED_ANSWER, OKNO_STAGE_EXECUTION,
                                        OKNO_OUTCOME_OPEN, OKNO__WHERE_SAME},
                                       {OKNO__WHEN_REDIRECT, OKNO_STAGE_COORDINATION,
                                        OKNO_OUTCOME_OPEN, OKNO__WHERE_TARGET}},
                             .leads_count = 3, .build = build_approve},
    [OKNO_ACTION_REFUSE_APPROVAL] = {OKNO_ACTION_REFUSE_APPROVAL, OKNO_EVENT_APPROVAL_REFUSED,
                                     STAGE_BIT(OKNO_STAGE_APPROVAL), OKNO__WHO_APPROVER,
                                     .needs = {&need_reason}, REFUSAL_LEADS,
                                     .build = build_review_refused},
    [OKNO_ACTION_DELEGATE_APPROVAL] = {OKNO_ACTION_DELEGATE_APPROVAL, OKNO_EVENT_APPROVAL_DELEGATED,
                                       STAGE_BIT(OKNO_STAGE_APPROVAL), OKNO__WHO_APPROVER,
                                       .needs = {&need_reason, &need_target_user},
                                       .checks = {&check_delegate_to_approver},
                                       ONE_LEAD(OKNO_STAGE_APPROVAL, OKNO__WHERE_SAME),
                                       .build = build_delegate},
    [OKNO_ACTION_SLA_SIGNAL] = {OKNO_ACTION_SLA_SIGNAL, OKNO_EVENT_NONE, OPEN_STAGES,
                                OKNO__WHO_SYSTEM, .needs = {&need_signal},
                                .checks = {&check_signal_current, &check_signal_new,
                                           &check_signal_due},
                                ONE_LEAD(OKNO__STAY, OKNO__WHERE_SAME), .build = build_signal},
};

const okno__guard *okno__guard_find(okno_action action)
{
    if (action <= OKNO_ACTION_NONE || action >= OKNO_ACTION_COUNT)
        return NULL;
    return &guards[action];
}

static const char *const when_texts[OKNO__WHEN_COUNT] = {
    [OKNO__WHEN_ALWAYS] = "",
    [OKNO__WHEN_WITH_AGREERS] = "with agreers",
    [OKNO__WHEN_WITHOUT_AGREERS] = "without agreers",
    [OKNO__WHEN_ROUND_OPEN] = "others still to agree",
    [OKNO__WHEN_ROUND_DONE] = "the last agreer",
    [OKNO__WHEN_ANSWER] = "an answer",
    [OKNO__WHEN_FINAL_ANSWER] = "a resolved, not_resolved or rejected answer",
    [OKNO__WHEN_POSTPONED_ANSWER] = "a postponed answer, sent as interim",
    [OKNO__WHEN_REDIRECT] = "a redirect",
};

static const char *const where_texts[OKNO__WHERE_COUNT] = {
    [OKNO__WHERE_SAME] = "the holding org",
    [OKNO__WHERE_OPERATOR] = "the platform operator's org",
    [OKNO__WHERE_TARGET] = "the target org",
    [OKNO__WHERE_UPSTREAM] = "the upstream org",
};

const char *okno__when_text(okno__when when)
{
    return when_texts[when];
}

const char *okno__where_text(okno__where where)
{
    return where_texts[where];
}
