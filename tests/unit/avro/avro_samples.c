/* Sample records of every action and event type (see avro_samples.h). */
#include "avro_samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static okno_uuid uuid_of(uint8_t seed)
{
    okno_uuid u;
    for (int i = 0; i < 16; i++) {
        u.bytes[i] = (uint8_t)(seed * 17 + i);
    }
    return u;
}

/* Two file references, the second with a UTF-8 name and an empty file. */
static uint32_t sample_attachments(okno_attachment *a)
{
    a[0] = (okno_attachment){okno_str_c("0b6c1d7e-2f1a-4c55-9e0c-3f1d2b4a5c6d"),
                             okno_str_c("photo.jpg"), okno_str_c("image/jpeg"), 245760,
                             okno_str_c("9f86d081884c7d659a2feaa0c55ad015"
                                        "a3bf4f1b2b0b822cd15d6c15b0f00a08")};
    a[1] = (okno_attachment){okno_str_c("store-42"), okno_str_c("заявление.pdf"),
                             okno_str_c("application/pdf"), 0,
                             okno_str_c("e3b0c44298fc1c149afbf4c8996fb924"
                                        "27ae41e4649b934ca495991b7852b855")};
    return 2;
}

/* Attachments equal by content; then blanked so the records compare with memcmp. */
static bool attachments_equal_then_blank(okno_attachment *x, uint32_t xn, okno_attachment *y,
                                         uint32_t yn);

static void sample_request_action(okno_request *r, okno_action action)
{
    static const okno_user_id agreers[] = {301, 302, 303};
    switch (action) {
    case OKNO_ACTION_SUBMIT:
        r->channel = OKNO_CHANNEL_INTAKE;
        r->applicant_id = 9001;
        r->category_id = 12;
        r->text = okno_str_c("Во дворе не убран снег / the yard is not cleared");
        r->applicant_email = okno_str_c("applicant@example.org");
        r->attachments_count = sample_attachments(r->attachments);
        break;
    case OKNO_ACTION_ACCEPT:
        r->target_org_id = 77;
        r->category_id = 13;
        r->subcategory_id = 4;
        break;
    case OKNO_ACTION_ASSIGN_EXECUTOR:
        r->target_user_id = 501;
        break;
    case OKNO_ACTION_FORWARD_TO_SUBORDINATE:
        r->target_org_id = 78;
        break;
    case OKNO_ACTION_PROPOSE_REDIRECT:
    case OKNO_ACTION_DRAFT_ANSWER:
        r->target_org_id = action == OKNO_ACTION_PROPOSE_REDIRECT ? 90 : 0;
        memcpy(r->agreers, agreers, sizeof(agreers));
        r->agreers_count = 3;
        r->approver_user_id = 400;
        if (action == OKNO_ACTION_DRAFT_ANSWER) {
            r->answer_type = OKNO_ANSWER_POSTPONED;
            r->text = okno_str_c("Работы запланированы на март.");
            r->postponed_until_ms = INT64_C(1767225600000);
        }
        break;
    case OKNO_ACTION_AGREE:
    case OKNO_ACTION_APPROVE:
        r->text = okno_str_c("Edited answer text");
        break;
    case OKNO_ACTION_REASSIGN_EXECUTOR:
    case OKNO_ACTION_DELEGATE_AGREEMENT:
    case OKNO_ACTION_DELEGATE_APPROVAL:
        r->target_user_id = 502;
        r->reason = okno_str_c("отпуск / leave");
        break;
    case OKNO_ACTION_REJECT:
    case OKNO_ACTION_RETURN_UPSTREAM:
    case OKNO_ACTION_RETURN_TO_COORDINATION:
    case OKNO_ACTION_REFUSE_AGREEMENT:
    case OKNO_ACTION_REFUSE_APPROVAL:
        r->reason = okno_str_c("stated reason");
        break;
    default:
        break;
    }
}

void okno_test_sample_transition(okno_avro_transition *t, okno_action action)
{
    memset(t, 0, sizeof(*t));
    t->request.request_id = uuid_of(1);
    t->request.message_id = uuid_of(2);
    t->request.action = action;
    t->request.acting_user_id = 1000 + action;
    t->request.acting_org_id = 77;
    t->request.comment = action % 2 ? okno_str_c("a comment") : (okno_str){0};
    t->request.requested_at_ms = INT64_C(1764460800000) + action;
    sample_request_action(&t->request, action);
}

static void sample_review(okno_event *e)
{
    e->subject = e->type == OKNO_EVENT_APPROVAL_GIVEN ? OKNO_SUBJECT_ANSWER : OKNO_SUBJECT_REDIRECT;
    switch (e->type) {
    case OKNO_EVENT_AGREEMENT_GIVEN:
        e->text = okno_str_c("edited");
        e->text_replaces_seq = 12;
        break;
    case OKNO_EVENT_APPROVAL_GIVEN:
        e->answer_type = OKNO_ANSWER_POSTPONED;
        e->interim = true;
        e->postponed_until_ms = INT64_C(1767225600000);
        e->answer_deadline_ms = INT64_C(1767225600000);
        break;
    case OKNO_EVENT_AGREEMENT_DELEGATED:
    case OKNO_EVENT_APPROVAL_DELEGATED:
        e->target_user_id = 404;
        e->reason = okno_str_c("illness");
        break;
    default:
        e->reason = okno_str_c("needs rework");
        break;
    }
}

static void sample_event_type(okno_event *e)
{
    static const okno_user_id agreers[] = {301, 302};
    switch (e->type) {
    case OKNO_EVENT_MESSAGE_SUBMITTED:
    case OKNO_EVENT_MESSAGE_ACCEPTED:
        e->applicant_id = e->type == OKNO_EVENT_MESSAGE_SUBMITTED ? 9001 : 0;
        e->channel = e->type == OKNO_EVENT_MESSAGE_SUBMITTED ? OKNO_CHANNEL_PORTAL : 0;
        e->text = e->type == OKNO_EVENT_MESSAGE_SUBMITTED ? okno_str_c("текст") : (okno_str){0};
        e->applicant_email = e->type == OKNO_EVENT_MESSAGE_SUBMITTED
                                 ? okno_str_c("applicant@example.org")
                                 : (okno_str){0};
        if (e->type == OKNO_EVENT_MESSAGE_SUBMITTED)
            e->attachments_count = sample_attachments(e->attachments);
        e->target_org_id = e->type == OKNO_EVENT_MESSAGE_ACCEPTED ? 77 : 0;
        e->category_id = 12;
        e->total_days = 30;
        e->answer_deadline_ms = INT64_C(1767052800000);
        break;
    case OKNO_EVENT_MESSAGE_REJECTED:
    case OKNO_EVENT_RETURNED_TO_COORDINATION:
        e->reason = okno_str_c("reason");
        break;
    case OKNO_EVENT_EXECUTOR_ASSIGNED:
    case OKNO_EVENT_MESSAGE_TAKEN_OVER:
        e->target_user_id = 501;
        break;
    case OKNO_EVENT_FORWARDED_TO_SUBORDINATE:
        e->target_org_id = 78;
        break;
    case OKNO_EVENT_RETURNED_UPSTREAM:
        e->target_org_id = 76;
        e->reason = okno_str_c("not ours");
        break;
    case OKNO_EVENT_EXECUTOR_REASSIGNED:
        e->target_user_id = 502;
        e->reason = okno_str_c("dismissal");
        break;
    case OKNO_EVENT_REDIRECT_PROPOSED:
    case OKNO_EVENT_ANSWER_DRAFTED:
        memcpy(e->agreers, agreers, sizeof(agreers));
        e->agreers_count = 2;
        e->approver_user_id = 400;
        if (e->type == OKNO_EVENT_REDIRECT_PROPOSED) {
            e->subject = OKNO_SUBJECT_REDIRECT;
            e->target_org_id = 90;
        } else {
            e->subject = OKNO_SUBJECT_ANSWER;
            e->answer_type = OKNO_ANSWER_REJECTED;
            e->text = okno_str_c("answer");
            e->reason = okno_str_c("rules 2.4");
        }
        break;
    case OKNO_EVENT_STAGE_TIME_APPROACHING:
    case OKNO_EVENT_STAGE_TIME_EXCEEDED:
        e->signal_stage = OKNO_STAGE_EXECUTION;
        e->signal_visit = 2;
        e->signal_due_ms = INT64_C(1765000000000);
        break;
    case OKNO_EVENT_ANSWER_DEADLINE_APPROACHING:
    case OKNO_EVENT_ANSWER_DEADLINE_EXPIRED:
    case OKNO_EVENT_POSTPONED_DATE_REACHED:
        e->signal_due_ms = INT64_C(1765000000000);
        break;
    case OKNO_EVENT_TAKEN_INTO_WORK:
        break;
    default:
        sample_review(e);
        break;
    }
}

void okno_test_sample_event(okno_event *e, okno_event_type type)
{
    memset(e, 0, sizeof(*e));
    e->seq = (uint64_t)type + 1;
    e->message_id = uuid_of(2);
    e->request_id = uuid_of((uint8_t)(10 + type));
    e->type = type;
    e->at_ms = INT64_C(1764460800000) + type;
    e->actor_user_id = type >= OKNO_EVENT_STAGE_TIME_APPROACHING ? OKNO_SYSTEM_USER_ID : 501;
    e->actor_org_id = 77;
    e->holding_org_after = 77;
    e->stage_before = type == OKNO_EVENT_MESSAGE_SUBMITTED ? OKNO_STAGE_NONE : OKNO_STAGE_EXECUTION;
    e->stage_after = type == OKNO_EVENT_MESSAGE_REJECTED ? OKNO_STAGE_NONE : OKNO_STAGE_AGREEMENT;
    e->outcome_after = type == OKNO_EVENT_MESSAGE_REJECTED ? OKNO_OUTCOME_REJECTED_BY_MODERATOR
                                                           : OKNO_OUTCOME_OPEN;
    e->comment = type % 3 ? (okno_str){0} : okno_str_c("comment");
    e->requested_at_ms = type >= OKNO_EVENT_STAGE_TIME_APPROACHING ? 0 : e->at_ms - 250;
    sample_event_type(e);
}

void okno_test_sample_rejection(okno_avro_rejection *r)
{
    memset(r, 0, sizeof(*r));
    r->request_id = uuid_of(1);
    r->acting_user_id = 501;
    r->acting_org_id = 77;
    r->reason_code = okno_str_c("not_authorized");
    r->message = okno_str_c("only the assigned executor may act");
    r->source_topic = okno_str_c("okno.transitions.v1");
    r->source_partition = 3;
    r->source_offset = 123456789;
    r->rejected_at_ms = INT64_C(1764460800123);
}

void okno_test_sample_sla_signal(okno_avro_sla_signal *s)
{
    memset(s, 0, sizeof(*s));
    s->message_id = uuid_of(2);
    s->kind = OKNO_SIGNAL_STAGE_TIME_EXCEEDED;
    s->stage = OKNO_STAGE_AGREEMENT;
    s->visit = 1;
    s->due_ms = INT64_C(1765000000000);
    s->emitted_ms = INT64_C(1765000000100);
    s->signal_id = okno_avro_sla_signal_id(&s->message_id, s->kind, s->stage, s->visit, s->due_ms);
}

void okno_test_sample_notification(okno_avro_notification *n)
{
    memset(n, 0, sizeof(*n));
    n->notification_id = uuid_of(5);
    n->recipient_user_id = 501;
    n->kind = OKNO_NOTIFY_ANSWER_DEADLINE_EXPIRED;
    n->message_id = uuid_of(2);
    n->text = okno_str_c("Срок ответа истёк");
    n->created_ms = INT64_C(1765000000200);
}

void okno_test_sample_side(okno_test_side_samples *s)
{
    okno_test_sample_rejection(&s->rejection);
    okno_test_sample_sla_signal(&s->sla);
    okno_test_sample_notification(&s->notification);
}

static bool str_equal(okno_str a, okno_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool attachments_equal_then_blank(okno_attachment *x, uint32_t xn, okno_attachment *y,
                                         uint32_t yn)
{
    if (xn != yn || xn > OKNO_ATTACHMENTS_MAX)
        return false;
    for (uint32_t i = 0; i < xn; i++) {
        if (!str_equal(x[i].id, y[i].id) || !str_equal(x[i].name, y[i].name) ||
            !str_equal(x[i].media_type, y[i].media_type) || x[i].size_bytes != y[i].size_bytes ||
            !str_equal(x[i].sha256, y[i].sha256))
            return false;
        x[i] = y[i] = (okno_attachment){0};
    }
    return true;
}

/* Copies compare with memcmp once their text slices are checked and blanked; both sides were
 * zeroed whole before filling, so padding compares equal too. */
bool okno_test_transition_equal(const okno_avro_transition *a, const okno_avro_transition *b)
{
    okno_avro_transition x, y;
    memcpy(&x, a, sizeof(x));
    memcpy(&y, b, sizeof(y));
    if (!str_equal(x.request.reason, y.request.reason) ||
        !str_equal(x.request.text, y.request.text) ||
        !str_equal(x.request.comment, y.request.comment) ||
        !str_equal(x.request.applicant_email, y.request.applicant_email) ||
        !attachments_equal_then_blank(x.request.attachments, x.request.attachments_count,
                                      y.request.attachments, y.request.attachments_count)) {
        return false;
    }
    x.request.reason = y.request.reason = (okno_str){0};
    x.request.text = y.request.text = (okno_str){0};
    x.request.comment = y.request.comment = (okno_str){0};
    x.request.applicant_email = y.request.applicant_email = (okno_str){0};
    return memcmp(&x, &y, sizeof(x)) == 0;
}

bool okno_test_event_equal(const okno_event *a, const okno_event *b)
{
    okno_event x, y;
    memcpy(&x, a, sizeof(x));
    memcpy(&y, b, sizeof(y));
    if (!str_equal(x.reason, y.reason) || !str_equal(x.text, y.text) ||
        !str_equal(x.comment, y.comment) || !str_equal(x.applicant_email, y.applicant_email) ||
        !attachments_equal_then_blank(x.attachments, x.attachments_count, y.attachments,
                                      y.attachments_count)) {
        return false;
    }
    x.reason = y.reason = (okno_str){0};
    x.text = y.text = (okno_str){0};
    x.comment = y.comment = (okno_str){0};
    x.applicant_email = y.applicant_email = (okno_str){0};
    return memcmp(&x, &y, sizeof(x)) == 0;
}

DIR *okno_test_open_source_dir(const char *sub, char *path, size_t path_bytes)
{
    const char *src = getenv("OKNO_SOURCE_DIR");
    if (src == NULL)
        return NULL;
    snprintf(path, path_bytes, "%.400s/%s", src, sub);
    return opendir(path);
}
