/* The notifier's rules (who is told what, in which words) and the mail's MIME form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "mail.h"
#include "notice.h"

enum { APPLICANT = 5001, EXECUTOR = 100002, M5 = 100005, M6 = 100006, M7 = 100007 };
#define T0 INT64_C(1772431200000) /* 2026-03-02T06:00:00Z: 09:00 in Moscow */

static okno_message_state in_stage(okno_stage stage)
{
    okno_message_state s = {.last_seq = 5,
                            .stage = stage,
                            .holding_org_id = 1000,
                            .executor_user_id = EXECUTOR,
                            .applicant_id = APPLICANT,
                            .answer_deadline_ms = T0 + 30 * 86400000LL};
    s.message_id.bytes[0] = 0xab;
    return s;
}

static okno_event event(okno_event_type type, const okno_message_state *s)
{
    okno_event ev = {.seq = s->last_seq + 1,
                     .message_id = s->message_id,
                     .type = type,
                     .at_ms = T0 + 86400000LL,
                     .stage_before = s->stage,
                     .stage_after = s->stage,
                     .signal_due_ms = T0 + 86400000LL};
    return ev;
}

static void stage_time_exceeded_in_execution_goes_to_the_executor(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_EXECUTION);
    okno_event ev = event(OKNO_EVENT_STAGE_TIME_EXCEEDED, &s);
    ev.signal_stage = OKNO_STAGE_EXECUTION;
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 1);
    assert_int_equal(out[0].recipient, EXECUTOR);
    assert_int_equal(out[0].kind, OKNO_NOTIFY_STAGE_TIME_EXCEEDED);
    assert_int_equal(out[0].stage, OKNO_STAGE_EXECUTION);
    char subject[OKNO_NOTICE_SUBJECT_BYTES], body[OKNO_NOTICE_BODY_BYTES];
    okno_notice_context ctx = {0};
    assert_int_equal(okno_notice_text(&out[0], &ev, &s, &ctx, subject, body), 0);
    assert_string_equal(subject, "Превышено рекомендуемое время этапа «исполнение»");
    assert_non_null(strstr(body, "истекло 03.03.2026 09:00 МСК"));
    assert_non_null(strstr(body, "ab000000-0000-0000-0000-000000000000"));
}

static void stage_time_approaching_in_agreement_goes_to_agreers_who_have_not_agreed(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_AGREEMENT);
    s.agreers[0] = M6;
    s.agreers[1] = M7;
    s.agreers_count = 2;
    s.agreer_decisions[0] = OKNO_AGREER_AGREED;
    okno_event ev = event(OKNO_EVENT_STAGE_TIME_APPROACHING, &s);
    ev.signal_stage = OKNO_STAGE_AGREEMENT;
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 1);
    assert_int_equal(out[0].recipient, M7);
    assert_int_equal(out[0].kind, OKNO_NOTIFY_STAGE_TIME_APPROACHING);
}

static void stage_time_signal_in_coordination_tells_no_worker(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_COORDINATION);
    s.executor_user_id = 0;
    okno_event ev = event(OKNO_EVENT_STAGE_TIME_EXCEEDED, &s);
    ev.signal_stage = OKNO_STAGE_COORDINATION;
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 0);
}

static void answer_deadline_expired_goes_to_the_assigned_executor(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_APPROVAL);
    s.approver_user_id = M5;
    okno_event ev = event(OKNO_EVENT_ANSWER_DEADLINE_EXPIRED, &s);
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 1);
    assert_int_equal(out[0].recipient, EXECUTOR);
    assert_int_equal(out[0].kind, OKNO_NOTIFY_ANSWER_DEADLINE_EXPIRED);
}

static void moderation_refusal_tells_the_applicant_its_reason(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_MODERATION);
    okno_event ev = event(OKNO_EVENT_MESSAGE_REJECTED, &s);
    ev.reason = okno_str_c("Нецензурная лексика (п. 4 правил)");
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 1);
    assert_int_equal(out[0].recipient, APPLICANT);
    char subject[OKNO_NOTICE_SUBJECT_BYTES], body[OKNO_NOTICE_BODY_BYTES];
    okno_notice_context ctx = {0};
    assert_int_equal(okno_notice_text(&out[0], &ev, &s, &ctx, subject, body), 0);
    assert_string_equal(subject, "Ваше сообщение не принято к рассмотрению");
    assert_non_null(strstr(body, "Причина: Нецензурная лексика (п. 4 правил)"));
}

static void approved_answer_goes_to_the_applicant_with_its_text(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_APPROVAL);
    okno_event ev = event(OKNO_EVENT_APPROVAL_GIVEN, &s);
    ev.subject = OKNO_SUBJECT_ANSWER;
    ev.answer_type = OKNO_ANSWER_RESOLVED;
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 1);
    assert_int_equal(out[0].kind, OKNO_NOTIFY_ANSWER_SENT);
    char subject[OKNO_NOTICE_SUBJECT_BYTES], body[OKNO_NOTICE_BODY_BYTES];
    okno_notice_context ctx = {.answer_text = "Яма заделана 20 марта"};
    assert_int_equal(okno_notice_text(&out[0], &ev, &s, &ctx, subject, body), 0);
    assert_string_equal(subject, "Ответ на ваше сообщение");
    assert_non_null(strstr(body, "Результат рассмотрения: Решено."));
    assert_non_null(strstr(body, "Текст ответа:\nЯма заделана 20 марта"));
}

static void interim_answer_names_the_postponed_date(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_APPROVAL);
    okno_event ev = event(OKNO_EVENT_APPROVAL_GIVEN, &s);
    ev.subject = OKNO_SUBJECT_ANSWER;
    ev.interim = true;
    okno_message_state after = s;
    after.postponed_until_ms = T0 + 20 * 86400000LL;
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 1);
    assert_int_equal(out[0].kind, OKNO_NOTIFY_INTERIM_ANSWER_SENT);
    char subject[OKNO_NOTICE_SUBJECT_BYTES], body[OKNO_NOTICE_BODY_BYTES];
    okno_notice_context ctx = {.answer_text = "Ремонт запланирован"};
    assert_int_equal(okno_notice_text(&out[0], &ev, &after, &ctx, subject, body), 0);
    assert_non_null(strstr(body, "продлено до 22.03.2026 09:00 МСК"));
    assert_non_null(strstr(body, "Ремонт запланирован"));
}

static void executed_redirect_names_the_new_org(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_APPROVAL);
    okno_event ev = event(OKNO_EVENT_APPROVAL_GIVEN, &s);
    ev.subject = OKNO_SUBJECT_REDIRECT;
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    assert_int_equal(okno_notice_for_event(&s, &ev, out), 1);
    assert_int_equal(out[0].kind, OKNO_NOTIFY_MESSAGE_REDIRECTED);
    char subject[OKNO_NOTICE_SUBJECT_BYTES], body[OKNO_NOTICE_BODY_BYTES];
    okno_notice_context ctx = {.org_name = "Министерство транспорта"};
    assert_int_equal(okno_notice_text(&out[0], &ev, &s, &ctx, subject, body), 0);
    assert_non_null(strstr(body, "в организацию «Министерство транспорта»"));
}

static void leaving_the_stage_makes_earlier_warnings_moved_on(void **state)
{
    (void)state;
    okno_message_state before = in_stage(OKNO_STAGE_EXECUTION), after = before;
    okno_event ev = event(OKNO_EVENT_ANSWER_DRAFTED, &before);
    char note[OKNO_NOTICE_NOTE_BYTES];
    assert_false(okno_notice_moved_on(&before, &ev, &after, note)); /* still in execution */
    after.stage = OKNO_STAGE_AGREEMENT;
    assert_true(okno_notice_moved_on(&before, &ev, &after, note));
    assert_non_null(strstr(note, "перешло на этап «согласование»"));
    after.outcome = OKNO_OUTCOME_ANSWERED;
    assert_true(okno_notice_moved_on(&before, &ev, &after, note));
    assert_non_null(strstr(note, "рассмотрение сообщения завершено"));
}

static void the_cause_names_the_event(void **state)
{
    (void)state;
    okno_message_state s = in_stage(OKNO_STAGE_EXECUTION);
    okno_event ev = event(OKNO_EVENT_STAGE_TIME_EXCEEDED, &s);
    char cause[OKNO_NOTICE_CAUSE_BYTES];
    okno_notice_cause(&ev, cause);
    assert_string_equal(cause, "event:ab000000-0000-0000-0000-000000000000:6");
}

/* Decodes every "=?UTF-8?B?...?=" word of a header value and concatenates them. */
static void decode_words(const char *value, char *out)
{
    size_t len = 0;
    const char *p = value;
    while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
        p += 10;
        const char *end = strstr(p, "?=");
        assert_non_null(end);
        assert_true(end - p + 12 <= 75); /* RFC 2047: a word is at most 75 characters */
        unsigned char buf[128];
        int n = EVP_DecodeBlock(buf, (const unsigned char *)p, (int)(end - p));
        assert_true(n >= 0);
        int pad = (end[-1] == '=') + (end[-2] == '=');
        /* Each word holds whole UTF-8 characters: it never starts with a continuation byte. */
        assert_true((buf[0] & 0xC0) != 0x80);
        memcpy(out + len, buf, (size_t)(n - pad));
        len += (size_t)(n - pad);
        p = end + 2;
    }
    out[len] = '\0';
}

static void mail_is_mime_utf8_with_encoded_headers_and_a_stable_message_id(void **state)
{
    (void)state;
    okno_mail_config cfg = {.url = "smtp://127.0.0.1:25",
                            .from = "okno@example.org",
                            .from_name = "Единое окно обратной связи"};
    const char *subject = "Превышено рекомендуемое время этапа «исполнение» по сообщению";
    okno_mail mail = {.to = "u101000201@example.org",
                      .to_name = "Исполнитель 1",
                      .subject = subject,
                      .body = "Строка 1\nСтрока 2.\n.\n",
                      .message_id = "0a1b@example.org",
                      .date_ms = T0};
    char *msg;
    size_t len;
    assert_int_equal(okno_mail_compose(&cfg, &mail, &msg, &len), 0);
    for (size_t i = 0; i < len; i++)
        assert_true((unsigned char)msg[i] < 128); /* 7-bit clean */
    assert_non_null(strstr(msg, "Date: Mon, 02 Mar 2026 06:00:00 +0000\r\n"));
    assert_non_null(strstr(msg, "\r\nMessage-ID: <0a1b@example.org>\r\n"));
    assert_non_null(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(msg, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    assert_non_null(strstr(msg, "\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
    assert_non_null(strstr(msg, " <u101000201@example.org>\r\n"));
    const char *s = strstr(msg, "Subject: ");
    const char *end = strstr(s, "\r\nMessage-ID");
    char header[1024], decoded[1024];
    memcpy(header, s, (size_t)(end - s));
    header[end - s] = '\0';
    decode_words(header, decoded);
    assert_string_equal(decoded, subject);
    for (const char *line = msg; line < msg + len;) {
        const char *eol = strstr(line, "\r\n");
        assert_non_null(eol);
        assert_true(eol - line <= 78);
        line = eol + 2;
    }
    free(msg);
}

static void mail_with_an_attachment_is_multipart_mixed_text_then_file(void **state)
{
    (void)state;
    okno_mail_config cfg = {.url = "smtp://127.0.0.1:25", .from = "okno@example.org"};
    const char page[] = "<!DOCTYPE html>\n<title>Отчёт</title>\n";
    okno_mail_attachment file = {"weekly-1010-2026-W10.html", "text/html; charset=UTF-8", page,
                                 sizeof page - 1};
    okno_mail mail = {.to = "head@example.org",
                      .subject = "Отчёт",
                      .body = "Текст",
                      .message_id = "w@example.org",
                      .attachment = &file};
    char *msg;
    size_t len;
    assert_int_equal(okno_mail_compose(&cfg, &mail, &msg, &len), 0);
    const char *top = strstr(msg, "Content-Type: multipart/mixed; boundary=\"=_okno_mixed_part\"");
    const char *text =
        strstr(msg, "--=_okno_mixed_part\r\nContent-Type: text/plain; charset=UTF-8");
    const char *att = strstr(msg, "--=_okno_mixed_part\r\nContent-Type: text/html; charset=UTF-8;"
                                  "\r\n name=\"weekly-1010-2026-W10.html\"\r\nContent-Disposition:"
                                  " attachment;\r\n filename=\"weekly-1010-2026-W10.html\"\r\n"
                                  "Content-Transfer-Encoding: base64\r\n\r\n");
    assert_true(top != NULL && text > top && att > text);
    /* The file's base64 decodes to the page, byte for byte; the closing boundary ends it. */
    const char *b64 = strstr(att, "\r\n\r\n") + 4,
               *close = strstr(b64, "\r\n--=_okno_mixed_part--\r\n");
    assert_non_null(close);
    unsigned char decoded[256];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)(close - b64));
    n -= (close[-1] == '=') + (close[-2] == '=');
    assert_int_equal(n, (int)sizeof page - 1);
    assert_memory_equal(decoded, page, sizeof page - 1);
    free(msg);
    /* A file name that could break the header is refused. */
    file.filename = "a\"\r\nBcc: x@y.org";
    assert_int_equal(okno_mail_compose(&cfg, &mail, &msg, &len), OKNO_EINVAL);
    /* So is a mail over the size limit (base64 makes the file a third larger). */
    char *big = malloc(OKNO_MAIL_BYTES_MAX);
    memset(big, 'x', OKNO_MAIL_BYTES_MAX);
    file = (okno_mail_attachment){"big.html", "text/html", big, OKNO_MAIL_BYTES_MAX};
    assert_int_equal(okno_mail_compose(&cfg, &mail, &msg, &len), OKNO_EINVAL);
    free(big);
}

static void mail_to_an_unsafe_address_is_refused(void **state)
{
    (void)state;
    okno_mail_config cfg = {.url = "smtp://127.0.0.1:25", .from = "okno@example.org"};
    okno_mail mail = {.to = "a@b.org>\r\nBcc: x@y.org",
                      .subject = "s",
                      .body = "b",
                      .message_id = "1@example.org"};
    char *msg;
    size_t len;
    assert_int_equal(okno_mail_compose(&cfg, &mail, &msg, &len), OKNO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stage_time_exceeded_in_execution_goes_to_the_executor),
        cmocka_unit_test(stage_time_approaching_in_agreement_goes_to_agreers_who_have_not_agreed),
        cmocka_unit_test(stage_time_signal_in_coordination_tells_no_worker),
        cmocka_unit_test(answer_deadline_expired_goes_to_the_assigned_executor),
        cmocka_unit_test(moderation_refusal_tells_the_applicant_its_reason),
        cmocka_unit_test(approved_answer_goes_to_the_applicant_with_its_text),
        cmocka_unit_test(interim_answer_names_the_postponed_date),
        cmocka_unit_test(executed_redirect_names_the_new_org),
        cmocka_unit_test(leaving_the_stage_makes_earlier_warnings_moved_on),
        cmocka_unit_test(the_cause_names_the_event),
        cmocka_unit_test(mail_is_mime_utf8_with_encoded_headers_and_a_stable_message_id),
        cmocka_unit_test(mail_to_an_unsafe_address_is_refused),
        cmocka_unit_test(mail_with_an_attachment_is_multipart_mixed_text_then_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
