/* The notifier's pure rules: who is told what about an event, in Russian (SPEC 3.1, 3.9, IV). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "notice.h"
#include "okno/error.h"
#include "okno/uuid.h"

#define MOSCOW_OFFSET_S (3 * 3600)

/* Stage names as a Russian reader knows them (SPEC's glossary). */
static const char *stage_ru(okno_stage s)
{
    switch (s) {
    case OKNO_STAGE_MODERATION:
        return "модерация";
    case OKNO_STAGE_COORDINATION:
        return "координация";
    case OKNO_STAGE_EXECUTION:
        return "исполнение";
    case OKNO_STAGE_AGREEMENT:
        return "согласование";
    case OKNO_STAGE_APPROVAL:
        return "утверждение";
    default:
        return "—";
    }
}

static const char *answer_ru(okno_answer_type t)
{
    switch (t) {
    case OKNO_ANSWER_RESOLVED:
        return "Решено";
    case OKNO_ANSWER_NOT_RESOLVED:
        return "Не решено";
    case OKNO_ANSWER_POSTPONED:
        return "Отложено";
    case OKNO_ANSWER_REJECTED:
        return "Отклонено";
    default:
        return "—";
    }
}

void okno_notice_format_time(int64_t ms, char out[OKNO_NOTICE_TIME_BYTES])
{
    time_t t = (time_t)(ms / 1000) + MOSCOW_OFFSET_S;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, OKNO_NOTICE_TIME_BYTES, "%02d.%02d.%04d %02d:%02d МСК", tm.tm_mday, tm.tm_mon + 1,
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}

void okno_notice_cause(const okno_event *ev, char out[OKNO_NOTICE_CAUSE_BYTES])
{
    char id[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&ev->message_id, id);
    snprintf(out, OKNO_NOTICE_CAUSE_BYTES, "event:%s:%" PRIu64, id, ev->seq);
}

static size_t add(okno_notice *out, size_t n, okno_user_id who, okno_notification_kind kind,
                  okno_stage stage)
{
    if (who == 0 || n >= OKNO_NOTICE_RECIPIENTS_MAX)
        return n;
    for (size_t i = 0; i < n; i++)
        if (out[i].recipient == who)
            return n; /* one notice a person per cause */
    out[n] = (okno_notice){.recipient = who, .kind = kind, .stage = stage};
    return n + 1;
}

/* Stage-time signals: whom the stage waits on. */
static size_t stage_signal(const okno_message_state *before, const okno_event *ev,
                           okno_notification_kind kind, okno_notice *out)
{
    size_t n = 0;
    switch (ev->signal_stage) {
    case OKNO_STAGE_EXECUTION:
        return add(out, n, before->executor_user_id, kind, OKNO_STAGE_EXECUTION);
    case OKNO_STAGE_AGREEMENT:
        for (uint32_t i = 0; i < before->agreers_count; i++)
            if (before->agreer_decisions[i] == OKNO_AGREER_PENDING)
                n = add(out, n, before->agreers[i], kind, OKNO_STAGE_AGREEMENT);
        return n;
    case OKNO_STAGE_APPROVAL:
        return add(out, n, before->approver_user_id, kind, OKNO_STAGE_APPROVAL);
    default:
        return 0; /* moderation and coordination: the curator's daily lists (4.1) */
    }
}

size_t okno_notice_for_event(const okno_message_state *before, const okno_event *ev,
                             okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX])
{
    assert(before != NULL && ev != NULL);
    okno_user_id applicant = before->applicant_id;
    switch (ev->type) {
    case OKNO_EVENT_STAGE_TIME_APPROACHING:
        return stage_signal(before, ev, OKNO_NOTIFY_STAGE_TIME_APPROACHING, out);
    case OKNO_EVENT_STAGE_TIME_EXCEEDED:
        return stage_signal(before, ev, OKNO_NOTIFY_STAGE_TIME_EXCEEDED, out);
    case OKNO_EVENT_ANSWER_DEADLINE_APPROACHING:
        return add(out, 0, before->executor_user_id, OKNO_NOTIFY_ANSWER_DEADLINE_APPROACHING,
                   before->stage);
    case OKNO_EVENT_ANSWER_DEADLINE_EXPIRED:
        return add(out, 0, before->executor_user_id, OKNO_NOTIFY_ANSWER_DEADLINE_EXPIRED,
                   before->stage);
    case OKNO_EVENT_POSTPONED_DATE_REACHED:
        return add(out, 0, before->executor_user_id, OKNO_NOTIFY_POSTPONED_DATE_REACHED,
                   before->stage);
    case OKNO_EVENT_MESSAGE_REJECTED:
        return add(out, 0, applicant, OKNO_NOTIFY_MESSAGE_REJECTED, OKNO_STAGE_NONE);
    case OKNO_EVENT_APPROVAL_GIVEN:
        if (ev->subject == OKNO_SUBJECT_REDIRECT)
            return add(out, 0, applicant, OKNO_NOTIFY_MESSAGE_REDIRECTED, OKNO_STAGE_NONE);
        return add(out, 0, applicant,
                   ev->interim ? OKNO_NOTIFY_INTERIM_ANSWER_SENT : OKNO_NOTIFY_ANSWER_SENT,
                   OKNO_STAGE_NONE);
    default:
        return 0;
    }
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "—";
}

/* The fixed wording of the workers' notices: subject, then the body's first sentence. */
static int worker_text(const okno_notice *n, const okno_event *ev, const okno_message_state *after,
                       const char *id, char *subject, char *body)
{
    char due[OKNO_NOTICE_TIME_BYTES], deadline[OKNO_NOTICE_TIME_BYTES];
    okno_notice_format_time(ev->signal_due_ms, due);
    okno_notice_format_time(after->answer_deadline_ms, deadline);
    const char *stage = stage_ru(n->stage);
    switch (n->kind) {
    case OKNO_NOTIFY_STAGE_TIME_APPROACHING:
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES,
                 "Рекомендуемое время этапа «%s» подходит к концу", stage);
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "По сообщению № %s на этапе «%s» %s израсходована большая часть рекомендуемого "
                 "времени этапа. Пожалуйста, завершите этап в срок.\nСрок ответа заявителю: %s.",
                 id, stage, due, deadline);
        return OKNO_OK;
    case OKNO_NOTIFY_STAGE_TIME_EXCEEDED:
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Превышено рекомендуемое время этапа «%s»",
                 stage);
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "По сообщению № %s рекомендуемое время этапа «%s» истекло %s. Пожалуйста, "
                 "завершите этап как можно скорее.\nСрок ответа заявителю: %s.",
                 id, stage, due, deadline);
        return OKNO_OK;
    case OKNO_NOTIFY_ANSWER_DEADLINE_APPROACHING:
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Приближается срок ответа по сообщению");
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "По сообщению № %s приближается срок ответа заявителю: %s. Сообщение на этапе "
                 "«%s».",
                 id, deadline, stage);
        return OKNO_OK;
    case OKNO_NOTIFY_ANSWER_DEADLINE_EXPIRED:
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Истёк срок ответа по сообщению");
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "По сообщению № %s %s истёк срок ответа заявителю, а ответ не утверждён. "
                 "Сообщение на этапе «%s».",
                 id, due, stage);
        return OKNO_OK;
    case OKNO_NOTIFY_POSTPONED_DATE_REACHED:
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Наступила дата отложенного рассмотрения");
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "По сообщению № %s %s наступила дата, до которой было отложено рассмотрение. "
                 "Окончательный ответ должен быть утверждён.",
                 id, due);
        return OKNO_OK;
    default:
        return OKNO_EINVAL;
    }
}

int okno_notice_text(const okno_notice *n, const okno_event *ev, const okno_message_state *after,
                     const okno_notice_context *ctx, char subject[OKNO_NOTICE_SUBJECT_BYTES],
                     char body[OKNO_NOTICE_BODY_BYTES])
{
    char id[OKNO_UUID_TEXT_BYTES], date[OKNO_NOTICE_TIME_BYTES];
    okno_uuid_format(&ev->message_id, id);
    switch (n->kind) {
    case OKNO_NOTIFY_MESSAGE_REJECTED:
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Ваше сообщение не принято к рассмотрению");
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "Ваше сообщение № %s отклонено модератором и не будет рассмотрено.\n"
                 "Причина: %.*s",
                 id, (int)ev->reason.len, ev->reason.len ? ev->reason.ptr : "—");
        return OKNO_OK;
    case OKNO_NOTIFY_ANSWER_SENT:
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Ответ на ваше сообщение");
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "На ваше сообщение № %s дан ответ. Результат рассмотрения: %s.\n\n"
                 "Текст ответа:\n%s",
                 id, answer_ru(ev->answer_type), or_dash(ctx->answer_text));
        return OKNO_OK;
    case OKNO_NOTIFY_INTERIM_ANSWER_SENT:
        okno_notice_format_time(after->postponed_until_ms, date);
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Промежуточный ответ на ваше сообщение");
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "Рассмотрение вашего сообщения № %s продлено до %s. Окончательный ответ будет "
                 "направлен не позднее этой даты.\n\nТекст промежуточного ответа:\n%s",
                 id, date, or_dash(ctx->answer_text));
        return OKNO_OK;
    case OKNO_NOTIFY_MESSAGE_REDIRECTED:
        okno_notice_format_time(after->answer_deadline_ms, date);
        snprintf(subject, OKNO_NOTICE_SUBJECT_BYTES, "Ваше сообщение перенаправлено");
        snprintf(body, OKNO_NOTICE_BODY_BYTES,
                 "Ваше сообщение № %s перенаправлено для рассмотрения по компетенции в "
                 "организацию «%s». Срок ответа: %s.",
                 id, or_dash(ctx->org_name), date);
        return OKNO_OK;
    default:
        return worker_text(n, ev, after, id, subject, body);
    }
}

bool okno_notice_moved_on(const okno_message_state *before, const okno_event *ev,
                          const okno_message_state *after, char note[OKNO_NOTICE_NOTE_BYTES])
{
    char at[OKNO_NOTICE_TIME_BYTES];
    okno_notice_format_time(ev->at_ms, at);
    if (after->outcome != OKNO_OUTCOME_OPEN) {
        snprintf(note, OKNO_NOTICE_NOTE_BYTES,
                 "Неактуально: %s рассмотрение сообщения завершено, действий не требуется.", at);
        return true;
    }
    if (after->stage == before->stage && after->holding_org_id == before->holding_org_id)
        return false;
    snprintf(note, OKNO_NOTICE_NOTE_BYTES,
             "Неактуально: %s сообщение перешло на этап «%s», предупреждение относится к "
             "прежнему этапу.",
             at, stage_ru(after->stage));
    return true;
}
