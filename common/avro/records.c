/* The field-by-field mapping of each topic's C struct to its Avro schema (see records.h). */
#include "records.h"

#include <stddef.h>
#include <string.h>

#include "okno/kafka.h"

_Static_assert(sizeof(okno_stage) == sizeof(int) && sizeof(okno_action) == sizeof(int) &&
                   sizeof(okno_event_type) == sizeof(int) &&
                   sizeof(okno_notification_kind) == sizeof(int),
               "the codec stores enums as int");

int okno__avro_fkind_on_wire(enum okno__avro_fkind k)
{
    return k != OKNO__F_IMPLIED;
}

int okno__avro_fkind_optional(enum okno__avro_fkind k)
{
    return k == OKNO__F_OPT_UUID || k == OKNO__F_OPT_LONG || k == OKNO__F_OPT_U64 ||
           k == OKNO__F_OPT_INT || k == OKNO__F_OPT_TS || k == OKNO__F_OPT_STR ||
           k == OKNO__F_OPT_ENUM || k == OKNO__F_OPT_ATTACHMENTS;
}

static const char *action_sym(int v)
{
    return okno_action_name((okno_action)v);
}

static const char *channel_sym(int v)
{
    return okno_channel_name((okno_channel)v);
}

static const char *answer_sym(int v)
{
    return okno_answer_type_name((okno_answer_type)v);
}

static const char *subject_sym(int v)
{
    return okno_subject_name((okno_subject)v);
}

static const char *stage_sym(int v)
{
    return okno_stage_name((okno_stage)v);
}

static const char *outcome_sym(int v)
{
    return okno_outcome_name((okno_outcome)v);
}

static const char *event_sym(int v)
{
    return okno_event_type_name((okno_event_type)v);
}

static const char *signal_sym(int v)
{
    return okno_signal_kind_name((okno_signal_kind)v);
}

static const char *notify_sym(int v)
{
    return okno_notification_kind_name((okno_notification_kind)v);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define F(name, kind, off)                                                                         \
    {                                                                                              \
        name, kind, off, 0, 0, 0, NULL                                                             \
    }
#define FE(name, kind, off, base, count, fn)                                                       \
    {                                                                                              \
        name, kind, off, 0, base, count, fn                                                        \
    }

/* ---- okno.transitions.v1 ------------------------------------------------------------------- */
#define TR(m) offsetof(okno_avro_transition, request.m)
#define TR_AGREERS                                                                                 \
    {                                                                                              \
        "agreer_user_ids", OKNO__F_AGREERS, TR(agreers), TR(agreers_count), 0, 0, NULL             \
    }

#define TR_ATTACHMENTS                                                                             \
    {                                                                                              \
        "attachments", OKNO__F_OPT_ATTACHMENTS, TR(attachments), TR(attachments_count), 0, 0, NULL \
    }

static const struct okno__avro_fdesc tr_header[] = {
    F("request_id", OKNO__F_UUID, TR(request_id)),
    F("message_id", OKNO__F_UUID, TR(message_id)),
    FE("action", OKNO__F_ENUM, TR(action), 1, 18, action_sym),
    F("acting_user_id", OKNO__F_LONG, TR(acting_user_id)),
    F("acting_org_id", OKNO__F_LONG, TR(acting_org_id)),
    F("requested_at", OKNO__F_TS, TR(requested_at_ms)),
    F("reason", OKNO__F_OPT_STR, TR(reason)),
    F("comment", OKNO__F_OPT_STR, TR(comment)),
};
static const struct okno__avro_fdesc tr_submit[] = {
    FE("channel", OKNO__F_OPT_ENUM, TR(channel), 1, 2, channel_sym),
    F("applicant_id", OKNO__F_LONG, TR(applicant_id)),
    F("category_id", OKNO__F_OPT_INT, TR(category_id)),
    F("subcategory_id", OKNO__F_OPT_INT, TR(subcategory_id)),
    F("text", OKNO__F_STR, TR(text)),
    F("applicant_email", OKNO__F_OPT_STR, TR(applicant_email)),
    TR_ATTACHMENTS,
};
static const struct okno__avro_fdesc tr_accept[] = {
    F("target_org_id", OKNO__F_LONG, TR(target_org_id)),
    F("category_id", OKNO__F_OPT_INT, TR(category_id)),
    F("subcategory_id", OKNO__F_OPT_INT, TR(subcategory_id)),
};
static const struct okno__avro_fdesc tr_executor[] = {
    F("executor_user_id", OKNO__F_LONG, TR(target_user_id)),
};
static const struct okno__avro_fdesc tr_target_org[] = {
    F("target_org_id", OKNO__F_LONG, TR(target_org_id)),
};
static const struct okno__avro_fdesc tr_redirect[] = {
    F("target_org_id", OKNO__F_LONG, TR(target_org_id)),
    TR_AGREERS,
    F("approver_user_id", OKNO__F_LONG, TR(approver_user_id)),
};
static const struct okno__avro_fdesc tr_draft[] = {
    FE("answer_type", OKNO__F_OPT_ENUM, TR(answer_type), 1, 4, answer_sym),
    F("text", OKNO__F_STR, TR(text)),
    F("postponed_until", OKNO__F_OPT_TS, TR(postponed_until_ms)),
    TR_AGREERS,
    F("approver_user_id", OKNO__F_LONG, TR(approver_user_id)),
};
static const struct okno__avro_fdesc tr_edit[] = {
    F("edited_text", OKNO__F_OPT_STR, TR(text)),
};
static const struct okno__avro_fdesc tr_delegate[] = {
    F("delegate_user_id", OKNO__F_LONG, TR(target_user_id)),
};

#define R(name, code, fields)                                                                      \
    {                                                                                              \
        name, code, fields, N(fields)                                                              \
    }
#define R0(name, code)                                                                             \
    {                                                                                              \
        name, code, NULL, 0                                                                        \
    }

static const struct okno__avro_rdesc tr_payloads[] = {
    R("Submit", OKNO_ACTION_SUBMIT, tr_submit),
    R("Accept", OKNO_ACTION_ACCEPT, tr_accept),
    R0("Reject", OKNO_ACTION_REJECT),
    R("AssignExecutor", OKNO_ACTION_ASSIGN_EXECUTOR, tr_executor),
    R0("TakeOver", OKNO_ACTION_TAKE_OVER),
    R("ForwardToSubordinate", OKNO_ACTION_FORWARD_TO_SUBORDINATE, tr_target_org),
    R("ProposeRedirect", OKNO_ACTION_PROPOSE_REDIRECT, tr_redirect),
    R0("ReturnUpstream", OKNO_ACTION_RETURN_UPSTREAM),
    R0("TakeIntoWork", OKNO_ACTION_TAKE_INTO_WORK),
    R0("ReturnToCoordination", OKNO_ACTION_RETURN_TO_COORDINATION),
    R("ReassignExecutor", OKNO_ACTION_REASSIGN_EXECUTOR, tr_executor),
    R("DraftAnswer", OKNO_ACTION_DRAFT_ANSWER, tr_draft),
    R("Agree", OKNO_ACTION_AGREE, tr_edit),
    R0("RefuseAgreement", OKNO_ACTION_REFUSE_AGREEMENT),
    R("DelegateAgreement", OKNO_ACTION_DELEGATE_AGREEMENT, tr_delegate),
    R("Approve", OKNO_ACTION_APPROVE, tr_edit),
    R0("RefuseApproval", OKNO_ACTION_REFUSE_APPROVAL),
    R("DelegateApproval", OKNO_ACTION_DELEGATE_APPROVAL, tr_delegate),
};

/* ---- okno.events.v1 ------------------------------------------------------------------------ */
#define EV(m)      offsetof(okno_event, m)
#define EV_SUBJECT FE("subject", OKNO__F_ENUM, EV(subject), 1, 2, subject_sym)
#define EV_AGREERS                                                                                 \
    {                                                                                              \
        "agreer_user_ids", OKNO__F_AGREERS, EV(agreers), EV(agreers_count), 0, 0, NULL             \
    }

static const struct okno__avro_fdesc ev_header[] = {
    F("message_id", OKNO__F_UUID, EV(message_id)),
    F("seq", OKNO__F_U64, EV(seq)),
    F("request_id", OKNO__F_UUID, EV(request_id)),
    FE("type", OKNO__F_ENUM, EV(type), 1, 23, event_sym),
    F("occurred_at", OKNO__F_TS, EV(at_ms)),
    F("actor_user_id", OKNO__F_LONG, EV(actor_user_id)),
    F("actor_org_id", OKNO__F_LONG, EV(actor_org_id)),
    F("holding_org_after", OKNO__F_LONG, EV(holding_org_after)),
    FE("stage_before", OKNO__F_OPT_ENUM, EV(stage_before), 1, 5, stage_sym),
    FE("stage_after", OKNO__F_OPT_ENUM, EV(stage_after), 1, 5, stage_sym),
    FE("outcome_after", OKNO__F_ENUM, EV(outcome_after), 0, 3, outcome_sym),
    F("reason", OKNO__F_OPT_STR, EV(reason)),
    F("comment", OKNO__F_OPT_STR, EV(comment)),
    F("requested_at", OKNO__F_OPT_TS, EV(requested_at_ms)),
    F("directory_version", OKNO__F_OPT_LONG, EV(directory_version)),
};
static const struct okno__avro_fdesc ev_submitted[] = {
    F("applicant_id", OKNO__F_LONG, EV(applicant_id)),
    FE("channel", OKNO__F_ENUM, EV(channel), 1, 2, channel_sym),
    F("category_id", OKNO__F_OPT_INT, EV(category_id)),
    F("subcategory_id", OKNO__F_OPT_INT, EV(subcategory_id)),
    F("total_days", OKNO__F_INT, EV(total_days)),
    F("answer_deadline", OKNO__F_TS, EV(answer_deadline_ms)),
    F("text", OKNO__F_STR, EV(text)),
    F("applicant_email", OKNO__F_OPT_STR, EV(applicant_email)),
    {"attachments", OKNO__F_OPT_ATTACHMENTS, EV(attachments), EV(attachments_count), 0, 0, NULL},
};
static const struct okno__avro_fdesc ev_accepted[] = {
    F("target_org_id", OKNO__F_LONG, EV(target_org_id)),
    F("category_id", OKNO__F_OPT_INT, EV(category_id)),
    F("subcategory_id", OKNO__F_OPT_INT, EV(subcategory_id)),
    F("total_days", OKNO__F_INT, EV(total_days)),
    F("answer_deadline", OKNO__F_TS, EV(answer_deadline_ms)),
};
static const struct okno__avro_fdesc ev_executor[] = {
    F("executor_user_id", OKNO__F_LONG, EV(target_user_id)),
};
static const struct okno__avro_fdesc ev_target_org[] = {
    F("target_org_id", OKNO__F_LONG, EV(target_org_id)),
};
/* A redirect proposal and a drafted answer are always about a redirect and an answer: the
 * subject is implied by the type, set on decode and checked on encode, not sent. */
static const struct okno__avro_fdesc ev_redirect[] = {
    FE("subject", OKNO__F_IMPLIED, EV(subject), OKNO_SUBJECT_REDIRECT, 0, subject_sym),
    F("target_org_id", OKNO__F_LONG, EV(target_org_id)),
    EV_AGREERS,
    F("approver_user_id", OKNO__F_LONG, EV(approver_user_id)),
};
static const struct okno__avro_fdesc ev_drafted[] = {
    FE("subject", OKNO__F_IMPLIED, EV(subject), OKNO_SUBJECT_ANSWER, 0, subject_sym),
    FE("answer_type", OKNO__F_ENUM, EV(answer_type), 1, 4, answer_sym),
    F("text", OKNO__F_STR, EV(text)),
    F("postponed_until", OKNO__F_OPT_TS, EV(postponed_until_ms)),
    EV_AGREERS,
    F("approver_user_id", OKNO__F_LONG, EV(approver_user_id)),
};
static const struct okno__avro_fdesc ev_agreed[] = {
    EV_SUBJECT,
    F("edited_text", OKNO__F_OPT_STR, EV(text)),
    F("text_replaces_seq", OKNO__F_OPT_U64, EV(text_replaces_seq)),
};
static const struct okno__avro_fdesc ev_subject[] = {EV_SUBJECT};
static const struct okno__avro_fdesc ev_delegated[] = {
    EV_SUBJECT,
    F("delegate_user_id", OKNO__F_LONG, EV(target_user_id)),
};
static const struct okno__avro_fdesc ev_approved[] = {
    EV_SUBJECT,
    FE("answer_type", OKNO__F_OPT_ENUM, EV(answer_type), 1, 4, answer_sym),
    F("edited_text", OKNO__F_OPT_STR, EV(text)),
    F("text_replaces_seq", OKNO__F_OPT_U64, EV(text_replaces_seq)),
    F("interim", OKNO__F_BOOL, EV(interim)),
    F("deadline_restarted", OKNO__F_BOOL, EV(deadline_restarted)),
    F("postponed_until", OKNO__F_OPT_TS, EV(postponed_until_ms)),
    F("answer_deadline", OKNO__F_OPT_TS, EV(answer_deadline_ms)),
    F("target_org_id", OKNO__F_OPT_LONG, EV(target_org_id)),
};
static const struct okno__avro_fdesc ev_stage_signal[] = {
    FE("stage", OKNO__F_ENUM, EV(signal_stage), 1, 5, stage_sym),
    F("visit", OKNO__F_U32, EV(signal_visit)),
    F("due_at", OKNO__F_TS, EV(signal_due_ms)),
};
static const struct okno__avro_fdesc ev_deadline_signal[] = {
    F("due_at", OKNO__F_TS, EV(signal_due_ms)),
};

static const struct okno__avro_rdesc ev_payloads[] = {
    R("MessageSubmitted", OKNO_EVENT_MESSAGE_SUBMITTED, ev_submitted),
    R("MessageAccepted", OKNO_EVENT_MESSAGE_ACCEPTED, ev_accepted),
    R0("MessageRejected", OKNO_EVENT_MESSAGE_REJECTED),
    R("ExecutorAssigned", OKNO_EVENT_EXECUTOR_ASSIGNED, ev_executor),
    R("MessageTakenOver", OKNO_EVENT_MESSAGE_TAKEN_OVER, ev_executor),
    R("ForwardedToSubordinate", OKNO_EVENT_FORWARDED_TO_SUBORDINATE, ev_target_org),
    R("RedirectProposed", OKNO_EVENT_REDIRECT_PROPOSED, ev_redirect),
    R("ReturnedUpstream", OKNO_EVENT_RETURNED_UPSTREAM, ev_target_org),
    R0("TakenIntoWork", OKNO_EVENT_TAKEN_INTO_WORK),
    R0("ReturnedToCoordination", OKNO_EVENT_RETURNED_TO_COORDINATION),
    R("ExecutorReassigned", OKNO_EVENT_EXECUTOR_REASSIGNED, ev_executor),
    R("AnswerDrafted", OKNO_EVENT_ANSWER_DRAFTED, ev_drafted),
    R("AgreementGiven", OKNO_EVENT_AGREEMENT_GIVEN, ev_agreed),
    R("AgreementRefused", OKNO_EVENT_AGREEMENT_REFUSED, ev_subject),
    R("AgreementDelegated", OKNO_EVENT_AGREEMENT_DELEGATED, ev_delegated),
    R("ApprovalGiven", OKNO_EVENT_APPROVAL_GIVEN, ev_approved),
    R("ApprovalRefused", OKNO_EVENT_APPROVAL_REFUSED, ev_subject),
    R("ApprovalDelegated", OKNO_EVENT_APPROVAL_DELEGATED, ev_delegated),
    R("StageTimeApproaching", OKNO_EVENT_STAGE_TIME_APPROACHING, ev_stage_signal),
    R("StageTimeExceeded", OKNO_EVENT_STAGE_TIME_EXCEEDED, ev_stage_signal),
    R("AnswerDeadlineApproaching", OKNO_EVENT_ANSWER_DEADLINE_APPROACHING, ev_deadline_signal),
    R("AnswerDeadlineExpired", OKNO_EVENT_ANSWER_DEADLINE_EXPIRED, ev_deadline_signal),
    R("PostponedDateReached", OKNO_EVENT_POSTPONED_DATE_REACHED, ev_deadline_signal),
};

/* ---- okno.rejections.v1, okno.sla.v1, okno.notifications.v1 -------------------------------- */
#define RJ(m) offsetof(okno_avro_rejection, m)
static const struct okno__avro_fdesc rejection[] = {
    F("request_id", OKNO__F_OPT_UUID, RJ(request_id)),
    F("message_id", OKNO__F_OPT_UUID, RJ(message_id)),
    F("acting_user_id", OKNO__F_LONG, RJ(acting_user_id)),
    F("acting_org_id", OKNO__F_LONG, RJ(acting_org_id)),
    F("reason_code", OKNO__F_STR, RJ(reason_code)),
    F("message", OKNO__F_STR, RJ(message)),
    F("source_topic", OKNO__F_STR, RJ(source_topic)),
    F("source_partition", OKNO__F_INT, RJ(source_partition)),
    F("source_offset", OKNO__F_LONG, RJ(source_offset)),
    F("rejected_at", OKNO__F_TS, RJ(rejected_at_ms)),
};

#define SL(m) offsetof(okno_avro_sla_signal, m)
static const struct okno__avro_fdesc sla_signal[] = {
    F("signal_id", OKNO__F_UUID, SL(signal_id)),
    F("message_id", OKNO__F_UUID, SL(message_id)),
    FE("kind", OKNO__F_ENUM, SL(kind), 1, 5, signal_sym),
    FE("stage", OKNO__F_OPT_ENUM, SL(stage), 1, 5, stage_sym),
    F("visit", OKNO__F_U32, SL(visit)),
    F("due_at", OKNO__F_TS, SL(due_ms)),
    F("emitted_at", OKNO__F_TS, SL(emitted_ms)),
    F("late", OKNO__F_BOOL, SL(late)),
};

#define NT(m) offsetof(okno_avro_notification, m)
static const struct okno__avro_fdesc notification[] = {
    F("notification_id", OKNO__F_UUID, NT(notification_id)),
    F("recipient_user_id", OKNO__F_LONG, NT(recipient_user_id)),
    FE("kind", OKNO__F_ENUM, NT(kind), 0, OKNO_NOTIFY_COUNT, notify_sym),
    F("message_id", OKNO__F_OPT_UUID, NT(message_id)),
    F("text", OKNO__F_STR, NT(text)),
    F("created_at", OKNO__F_TS, NT(created_ms)),
    F("cause", OKNO__F_OPT_STR, NT(cause)),
    F("subject", OKNO__F_OPT_STR, NT(subject)),
};

const struct okno__avro_tdesc okno__avro_topics[OKNO_AVRO_TOPIC_COUNT] = {
    [OKNO_AVRO_TRANSITIONS] = {OKNO_TOPIC_TRANSITIONS, "TransitionRequest",
                               sizeof(okno_avro_transition), tr_header, N(tr_header), TR(action),
                               tr_payloads, N(tr_payloads)},
    [OKNO_AVRO_EVENTS] = {OKNO_TOPIC_EVENTS, "Event", sizeof(okno_event), ev_header, N(ev_header),
                          EV(type), ev_payloads, N(ev_payloads)},
    [OKNO_AVRO_REJECTIONS] = {OKNO_TOPIC_REJECTIONS, "Rejection", sizeof(okno_avro_rejection),
                              rejection, N(rejection), 0, NULL, 0},
    [OKNO_AVRO_SLA] = {OKNO_TOPIC_SLA, "SlaSignal", sizeof(okno_avro_sla_signal), sla_signal,
                       N(sla_signal), 0, NULL, 0},
    [OKNO_AVRO_NOTIFICATIONS] = {OKNO_TOPIC_NOTIFICATIONS, "Notification",
                                 sizeof(okno_avro_notification), notification, N(notification), 0,
                                 NULL, 0},
};

static size_t value_bytes(enum okno__avro_fkind k)
{
    switch (k) {
    case OKNO__F_UUID:
    case OKNO__F_OPT_UUID:
        return sizeof(okno_uuid);
    case OKNO__F_INT:
    case OKNO__F_OPT_INT:
    case OKNO__F_U32:
        return sizeof(int32_t);
    case OKNO__F_ENUM:
    case OKNO__F_OPT_ENUM:
    case OKNO__F_IMPLIED:
        return sizeof(int);
    case OKNO__F_BOOL:
        return sizeof(bool);
    default:
        return sizeof(int64_t);
    }
}

static bool str_equal(okno_str x, okno_str y)
{
    return x.len == y.len && (x.len == 0 || memcmp(x.ptr, y.ptr, x.len) == 0);
}

static bool field_equal(const struct okno__avro_fdesc *d, const uint8_t *a, const uint8_t *b)
{
    if (d->kind == OKNO__F_STR || d->kind == OKNO__F_OPT_STR) {
        return str_equal(*(const okno_str *)(a + d->offset), *(const okno_str *)(b + d->offset));
    }
    if (d->kind == OKNO__F_AGREERS) {
        uint32_t n = *(const uint32_t *)(a + d->count_offset);
        return n == *(const uint32_t *)(b + d->count_offset) && n <= OKNO_AGREERS_MAX &&
               memcmp(a + d->offset, b + d->offset, n * sizeof(okno_user_id)) == 0;
    }
    if (d->kind == OKNO__F_OPT_ATTACHMENTS) {
        uint32_t n = *(const uint32_t *)(a + d->count_offset);
        if (n != *(const uint32_t *)(b + d->count_offset) || n > OKNO_ATTACHMENTS_MAX) {
            return false;
        }
        const okno_attachment *x = (const okno_attachment *)(a + d->offset);
        const okno_attachment *y = (const okno_attachment *)(b + d->offset);
        for (uint32_t i = 0; i < n; i++) {
            if (!str_equal(x[i].id, y[i].id) || !str_equal(x[i].name, y[i].name) ||
                !str_equal(x[i].media_type, y[i].media_type) ||
                x[i].size_bytes != y[i].size_bytes || !str_equal(x[i].sha256, y[i].sha256)) {
                return false;
            }
        }
        return true;
    }
    return memcmp(a + d->offset, b + d->offset, value_bytes(d->kind)) == 0;
}

static bool fields_equal(const struct okno__avro_fdesc *fields, size_t n, const uint8_t *a,
                         const uint8_t *b)
{
    for (size_t i = 0; i < n; i++) {
        if (!field_equal(&fields[i], a, b)) {
            return false;
        }
    }
    return true;
}

bool okno__avro_record_equal(okno_avro_topic topic, const void *a, const void *b)
{
    const struct okno__avro_tdesc *t = &okno__avro_topics[topic];
    if (!fields_equal(t->header, t->header_count, a, b)) {
        return false;
    }
    for (size_t i = 0; i < t->payload_count; i++) {
        const struct okno__avro_rdesc *p = &t->payloads[i];
        if (*(const int *)((const uint8_t *)a + t->code_offset) == p->code) {
            return fields_equal(p->fields, p->count, a, b);
        }
    }
    return true;
}
