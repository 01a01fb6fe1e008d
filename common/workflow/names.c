/* Canonical names of the workflow vocabulary (SPEC "Canonical names"), both directions. */
#include <string.h>

#include "okno/error.h"
#include "okno/workflow.h"

static const char *const role_names[OKNO_ROLE_COUNT] = {
    "moderator", "coordinator", "executor", "manager", "curator", "org_admin", "intake_operator",
};

static const char *const stage_names[OKNO_STAGE_COUNT] = {
    "none", "moderation", "coordination", "execution", "agreement", "approval",
};

static const char *const outcome_names[OKNO_OUTCOME_COUNT] = {
    "open",
    "answered",
    "rejected_by_moderator",
};

static const char *const action_names[OKNO_ACTION_COUNT] = {
    "none",
    "submit",
    "accept",
    "reject",
    "assign_executor",
    "take_over",
    "forward_to_subordinate",
    "propose_redirect",
    "return_upstream",
    "take_into_work",
    "return_to_coordination",
    "reassign_executor",
    "draft_answer",
    "agree",
    "refuse_agreement",
    "delegate_agreement",
    "approve",
    "refuse_approval",
    "delegate_approval",
    "sla_signal",
};

static const char *const answer_type_names[OKNO_ANSWER_COUNT] = {
    "none", "resolved", "not_resolved", "postponed", "rejected",
};

static const char *const signal_kind_names[OKNO_SIGNAL_COUNT] = {
    "none",
    "stage_time_approaching",
    "stage_time_exceeded",
    "answer_deadline_approaching",
    "answer_deadline_expired",
    "postponed_date_reached",
};

static const char *const channel_names[OKNO_CHANNEL_COUNT] = {"none", "portal", "intake"};

static const char *const subject_names[OKNO_SUBJECT_COUNT] = {"none", "answer", "redirect"};

static const char *const event_type_names[OKNO_EVENT_COUNT] = {
    "none",
    "message_submitted",
    "message_accepted",
    "message_rejected",
    "executor_assigned",
    "message_taken_over",
    "forwarded_to_subordinate",
    "redirect_proposed",
    "returned_upstream",
    "taken_into_work",
    "returned_to_coordination",
    "executor_reassigned",
    "answer_drafted",
    "agreement_given",
    "agreement_refused",
    "agreement_delegated",
    "approval_given",
    "approval_refused",
    "approval_delegated",
    "stage_time_approaching",
    "stage_time_exceeded",
    "answer_deadline_approaching",
    "answer_deadline_expired",
    "postponed_date_reached",
};

static const char *const refusal_code_names[OKNO_REFUSAL_COUNT] = {
    "none",
    "not_authorized",
    "wrong_stage",
    "missing_reason",
    "missing_text",
    "missing_approver",
    "bad_target_org",
    "not_a_manager",
    "agreer_duplicate",
    "postponed_date_not_future",
    "message_closed",
    "unknown_message",
    "already_exists",
    "not_in_work",
    "already_in_work",
    "bad_target_user",
    "not_an_executor",
    "too_many_agreers",
    "delegate_not_authorized",
    "delegate_invalid",
    "missing_postponed_date",
    "bad_answer_type",
    "no_upstream",
    "upstream_too_deep",
    "bad_category",
    "bad_request",
    "already_agreed",
    "same_executor",
    "already_postponed",
    "text_too_long",
    "text_not_allowed",
    "signal_not_due",
    "signal_stale",
    "signal_duplicate",
    "missing_applicant",
    "accept_into_operator_org",
    "redirect_to_operator_org",
    "malformed_record",
    "wrong_partition",
};

okno_str okno_str_c(const char *s)
{
    okno_str out = {s, s ? (uint32_t)strlen(s) : 0};
    return out;
}

static const char *name_of(const char *const *names, int count, int value)
{
    if (value < 0 || value >= count)
        return "unknown";
    return names[value];
}

/* Linear search: the vocabularies have at most a few dozen words and parsing is off the hot
 * path (the codec carries numbers; strings appear in the API and the CLI). */
static int parse_of(const char *const *names, int count, okno_str s, int *out)
{
    for (int i = 0; i < count; i++) {
        size_t n = strlen(names[i]);
        if (n == s.len && s.ptr != NULL && memcmp(names[i], s.ptr, n) == 0) {
            *out = i;
            return OKNO_OK;
        }
    }
    return OKNO_EINVAL;
}

/* Defines okno_<name>_name() and okno_<name>_parse() over one table; the parser accepts only
 * values in the enum's range. */
#define OKNO_NAMES_DEFINE(name, type, table, count)                                                \
    const char *okno_##name##_name(type value)                                                     \
    {                                                                                              \
        return name_of(table, count, (int)value);                                                  \
    }                                                                                              \
    int okno_##name##_parse(okno_str s, type *out)                                                 \
    {                                                                                              \
        int v = 0;                                                                                 \
        int rc = parse_of(table, count, s, &v);                                                    \
        if (rc == OKNO_OK)                                                                         \
            *out = (type)v;                                                                        \
        return rc;                                                                                 \
    }

OKNO_NAMES_DEFINE(stage, okno_stage, stage_names, OKNO_STAGE_COUNT)
OKNO_NAMES_DEFINE(outcome, okno_outcome, outcome_names, OKNO_OUTCOME_COUNT)
OKNO_NAMES_DEFINE(action, okno_action, action_names, OKNO_ACTION_COUNT)
OKNO_NAMES_DEFINE(answer_type, okno_answer_type, answer_type_names, OKNO_ANSWER_COUNT)
OKNO_NAMES_DEFINE(signal_kind, okno_signal_kind, signal_kind_names, OKNO_SIGNAL_COUNT)
OKNO_NAMES_DEFINE(channel, okno_channel, channel_names, OKNO_CHANNEL_COUNT)
OKNO_NAMES_DEFINE(subject, okno_subject, subject_names, OKNO_SUBJECT_COUNT)
OKNO_NAMES_DEFINE(event_type, okno_event_type, event_type_names, OKNO_EVENT_COUNT)
OKNO_NAMES_DEFINE(refusal_code, okno_refusal_code, refusal_code_names, OKNO_REFUSAL_COUNT)

/* Roles are bits, so the table is indexed by bit position and a set of several is no name. */
const char *okno_role_name(okno_role role)
{
    for (int i = 0; i < OKNO_ROLE_COUNT; i++) {
        if ((uint32_t)role == (1u << i))
            return role_names[i];
    }
    return "unknown";
}

int okno_role_parse(okno_str s, okno_role *out)
{
    int i = 0;
    int rc = parse_of(role_names, OKNO_ROLE_COUNT, s, &i);
    if (rc == OKNO_OK)
        *out = (okno_role)(1u << i);
    return rc;
}

/* Signal kinds and their event types are laid out in the same order, so this is arithmetic. */
okno_event_type okno_signal_kind_event(okno_signal_kind kind)
{
    if (kind <= OKNO_SIGNAL_NONE || kind >= OKNO_SIGNAL_COUNT)
        return OKNO_EVENT_NONE;
    return (okno_event_type)(OKNO_EVENT_STAGE_TIME_APPROACHING + (kind - 1));
}

okno_signal_kind okno_event_type_signal(okno_event_type type)
{
    if (type < OKNO_EVENT_STAGE_TIME_APPROACHING || type >= OKNO_EVENT_COUNT)
        return OKNO_SIGNAL_NONE;
    return (okno_signal_kind)(OKNO_SIGNAL_STAGE_TIME_APPROACHING +
                              (type - OKNO_EVENT_STAGE_TIME_APPROACHING));
}
