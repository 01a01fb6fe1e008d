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

/* Every reason code: its stable name, who it can reach, what it means (also the refusal's
 * English message) and the Russian text the person whose request was refused is shown. The one
 * source of `okno workflow --reasons`, the Rejection schema's reason_code doc and the core's
 * refusal messages. */
static const okno_refusal_info refusal_infos[OKNO_REFUSAL_COUNT] = {
    [OKNO_REFUSAL_NONE] = {"none", OKNO_REFUSAL_REACHES_STAFF, "accepted", "принято"},
    [OKNO_REFUSAL_NOT_AUTHORIZED] =
        {"not_authorized", OKNO_REFUSAL_REACHES_APPLICANT,
         "the actor is not the one named for this step",
         "Это действие может выполнить только участник, назначенный для этого шага."},
    [OKNO_REFUSAL_WRONG_STAGE] =
        {"wrong_stage", OKNO_REFUSAL_REACHES_STAFF, "the action does not apply at this stage",
         "Это действие недоступно на текущем этапе рассмотрения сообщения."},
    [OKNO_REFUSAL_MISSING_REASON] = {"missing_reason", OKNO_REFUSAL_REACHES_STAFF,
                                     "a stated reason is required",
                                     "Укажите мотивированную причину."},
    [OKNO_REFUSAL_MISSING_TEXT] = {"missing_text", OKNO_REFUSAL_REACHES_APPLICANT,
                                   "the text is required", "Введите текст."},
    [OKNO_REFUSAL_MISSING_APPROVER] = {"missing_approver", OKNO_REFUSAL_REACHES_STAFF,
                                       "an approving manager must be named",
                                       "Укажите утверждающего руководителя."},
    [OKNO_REFUSAL_BAD_TARGET_ORG] =
        {"bad_target_org", OKNO_REFUSAL_REACHES_STAFF,
         "the target org is missing, unknown or not allowed here",
         "Организация не указана, не найдена или не может быть выбрана для этого действия."},
    [OKNO_REFUSAL_NOT_A_MANAGER] = {"not_a_manager", OKNO_REFUSAL_REACHES_STAFF,
                                    "a named reviewer lacks the manager role in the holding org",
                                    "Согласующий и утверждающий должны быть руководителями "
                                    "организации, в которой находится сообщение."},
    [OKNO_REFUSAL_AGREER_DUPLICATE] = {"agreer_duplicate", OKNO_REFUSAL_REACHES_STAFF,
                                       "agreers must be distinct",
                                       "Согласующие не должны повторяться."},
    [OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE] =
        {"postponed_date_not_future", OKNO_REFUSAL_REACHES_STAFF,
         "the postponed date must lie in the future",
         "Дата, до которой откладывается рассмотрение, должна быть позже текущей."},
    [OKNO_REFUSAL_MESSAGE_CLOSED] = {"message_closed", OKNO_REFUSAL_REACHES_STAFF,
                                     "the message is closed", "Рассмотрение сообщения завершено."},
    [OKNO_REFUSAL_UNKNOWN_MESSAGE] = {"unknown_message", OKNO_REFUSAL_REACHES_STAFF,
                                      "no such message", "Сообщение не найдено."},
    [OKNO_REFUSAL_ALREADY_EXISTS] = {"already_exists", OKNO_REFUSAL_REACHES_APPLICANT,
                                     "a message with this id exists",
                                     "Сообщение с таким идентификатором уже отправлено."},
    [OKNO_REFUSAL_NOT_IN_WORK] = {"not_in_work", OKNO_REFUSAL_REACHES_STAFF,
                                  "the message must be taken into work first",
                                  "Сначала возьмите сообщение в работу."},
    [OKNO_REFUSAL_ALREADY_IN_WORK] = {"already_in_work", OKNO_REFUSAL_REACHES_STAFF,
                                      "the message is already in work",
                                      "Сообщение уже взято в работу."},
    [OKNO_REFUSAL_BAD_TARGET_USER] = {"bad_target_user", OKNO_REFUSAL_REACHES_STAFF,
                                      "the target user is missing", "Пользователь не указан."},
    [OKNO_REFUSAL_NOT_AN_EXECUTOR] = {"not_an_executor", OKNO_REFUSAL_REACHES_STAFF,
                                      "the target user lacks the executor role in the holding org",
                                      "Выбранный пользователь не является исполнителем в "
                                      "организации, в которой находится сообщение."},
    [OKNO_REFUSAL_TOO_MANY_AGREERS] = {"too_many_agreers", OKNO_REFUSAL_REACHES_STAFF,
                                       "too many agreers", "Слишком много согласующих."},
    [OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED] =
        {"delegate_not_authorized", OKNO_REFUSAL_REACHES_STAFF,
         "the delegation target lacks the authority",
         "У выбранного руководителя нет полномочий по категории этого сообщения."},
    [OKNO_REFUSAL_DELEGATE_INVALID] =
        {"delegate_invalid", OKNO_REFUSAL_REACHES_STAFF,
         "cannot delegate to oneself or to a current agreer",
         "Нельзя передать полномочия себе или согласующему этого же круга."},
    [OKNO_REFUSAL_MISSING_POSTPONED_DATE] =
        {"missing_postponed_date", OKNO_REFUSAL_REACHES_STAFF, "a postponed answer needs its date",
         "Укажите дату, до которой откладывается рассмотрение."},
    [OKNO_REFUSAL_BAD_ANSWER_TYPE] =
        {"bad_answer_type", OKNO_REFUSAL_REACHES_STAFF, "the answer type is missing or unknown",
         "Выберите тип ответа: решено, не решено, отложено или отклонено."},
    [OKNO_REFUSAL_NO_UPSTREAM] = {"no_upstream", OKNO_REFUSAL_REACHES_STAFF,
                                  "the message did not come from an upstream org",
                                  "Сообщение не поступало из вышестоящей организации."},
    [OKNO_REFUSAL_UPSTREAM_TOO_DEEP] =
        {"upstream_too_deep", OKNO_REFUSAL_REACHES_STAFF, "the forwarding chain is at its maximum",
         "Достигнута предельная длина цепочки направлений в подведомственные организации."},
    [OKNO_REFUSAL_BAD_CATEGORY] = {"bad_category", OKNO_REFUSAL_REACHES_APPLICANT,
                                   "the category is unknown or missing",
                                   "Категория не указана или не найдена."},
    [OKNO_REFUSAL_BAD_REQUEST] = {"bad_request", OKNO_REFUSAL_REACHES_APPLICANT,
                                  "the request is malformed", "Запрос составлен неверно."},
    [OKNO_REFUSAL_ALREADY_AGREED] = {"already_agreed", OKNO_REFUSAL_REACHES_STAFF,
                                     "this agreer has already agreed",
                                     "Вы уже согласовали это решение."},
    [OKNO_REFUSAL_SAME_EXECUTOR] = {"same_executor", OKNO_REFUSAL_REACHES_STAFF,
                                    "the target user is already the executor",
                                    "Сообщение уже назначено этому исполнителю."},
    [OKNO_REFUSAL_ALREADY_POSTPONED] =
        {"already_postponed", OKNO_REFUSAL_REACHES_STAFF,
         "an interim postponed answer was already sent",
         "Рассмотрение уже откладывалось: окончательный ответ не может быть отложен повторно."},
    [OKNO_REFUSAL_TEXT_TOO_LONG] = {"text_too_long", OKNO_REFUSAL_REACHES_APPLICANT,
                                    "a text field is too long", "Текст слишком длинный."},
    [OKNO_REFUSAL_TEXT_NOT_ALLOWED] =
        {"text_not_allowed", OKNO_REFUSAL_REACHES_STAFF, "a redirect decision has no text to edit",
         "Решение о перенаправлении не содержит текста для редактирования."},
    [OKNO_REFUSAL_SIGNAL_NOT_DUE] = {"signal_not_due", OKNO_REFUSAL_REACHES_SYSTEM,
                                     "the signal is not due yet",
                                     "Срок этого уведомления ещё не наступил."},
    [OKNO_REFUSAL_SIGNAL_STALE] = {"signal_stale", OKNO_REFUSAL_REACHES_SYSTEM,
                                   "the signal is for a stage visit or deadline that has passed",
                                   "Уведомление относится к прошедшему этапу или сроку."},
    [OKNO_REFUSAL_SIGNAL_DUPLICATE] = {"signal_duplicate", OKNO_REFUSAL_REACHES_SYSTEM,
                                       "the signal was already recorded",
                                       "Уведомление уже зарегистрировано."},
    [OKNO_REFUSAL_MISSING_APPLICANT] = {"missing_applicant", OKNO_REFUSAL_REACHES_APPLICANT,
                                        "the applicant is required", "Не указан заявитель."},
    [OKNO_REFUSAL_ACCEPT_INTO_OPERATOR_ORG] =
        {"accept_into_operator_org", OKNO_REFUSAL_REACHES_STAFF,
         "the platform operator's org moderates but does not answer: name a participant's org",
         "Оператор платформы не отвечает на сообщения: выберите организацию-участника."},
    [OKNO_REFUSAL_REDIRECT_TO_OPERATOR_ORG] =
        {"redirect_to_operator_org", OKNO_REFUSAL_REACHES_STAFF,
         "the platform operator's org moderates but does not answer: it takes no redirect",
         "Сообщение нельзя перенаправить оператору платформы: он не отвечает на сообщения."},
    [OKNO_REFUSAL_MALFORMED_RECORD] = {"malformed_record", OKNO_REFUSAL_REACHES_APPLICANT,
                                       "the record does not decode",
                                       "Запрос не удалось прочитать."},
    [OKNO_REFUSAL_WRONG_PARTITION] =
        {"wrong_partition", OKNO_REFUSAL_REACHES_APPLICANT,
         "the record is not on its message's partition",
         "Запрос отправлен с нарушением порядка доставки и не рассмотрен; отправьте его повторно."},
    [OKNO_REFUSAL_INVALID_ATTACHMENT] =
        {"invalid_attachment", OKNO_REFUSAL_REACHES_APPLICANT,
         "a file reference is malformed (id, name, media type, size or SHA-256)",
         "Ссылка на вложенный файл неверна: проверьте файл и загрузите его заново."},
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

const okno_refusal_info *okno_refusal_code_info(okno_refusal_code code)
{
    if ((int)code < 0 || code >= OKNO_REFUSAL_COUNT)
        return NULL;
    return &refusal_infos[code];
}

const char *okno_refusal_code_name(okno_refusal_code code)
{
    const okno_refusal_info *info = okno_refusal_code_info(code);
    return info ? info->name : "unknown";
}

int okno_refusal_code_parse(okno_str s, okno_refusal_code *out)
{
    for (int i = 0; i < OKNO_REFUSAL_COUNT; i++) {
        size_t n = strlen(refusal_infos[i].name);
        if (n == s.len && s.ptr != NULL && memcmp(refusal_infos[i].name, s.ptr, n) == 0) {
            *out = (okno_refusal_code)i;
            return OKNO_OK;
        }
    }
    return OKNO_EINVAL;
}

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
