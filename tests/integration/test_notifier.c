/* okno-notifier against the real PostgreSQL, Kafka and a real SMTP server (python3-aiosmtpd):
 * each notice the log calls for reaches the right person with the right text, once; a SIGKILLed
 * notifier during a burst loses and repeats nothing; reading the log again makes no new
 * notification; a relay that is down for a while gets every mail once it is back; an address the
 * relay refuses for good is recorded failed with its reply; a warning whose message moved on
 * before it was mailed says so. Message lives come from okno_loggen (the workload decided by
 * the workflow core, SLA signals included) over the demo directory. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "loggen.h"
#include "notifier.h"
#include "notify_check.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/pg_directory.h"
#include "okno/report.h"
#include "okno/uuid.h"
#include "projector.h"
#include "rm_check.h"

#define FROM "okno@example.org"

typedef struct fixture {
    okno_itest_db db;
    PGconn *conn; /* as the owner */
    okno_smtp_sink sink;
    char topic[96];
    pid_t notifier; /* the running okno-notifier, 0: none (teardown stops it after a failure) */
    bool digest;    /* the notifier makes the digests and weekly reports (from Moscow hour 0) */
    const char *fault_to; /* notifier.fault_mail_to (NULL: unset, fault requests not mailed) */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    okno_itest_db_create(&f->db, "notifier");
    okno_rm_load_demo_directory(&f->db, 2);
    f->conn = okno_itest_connect(f->db.admin_conninfo);
    okno_itest_unique(f->topic, sizeof f->topic, "okno.test.notifications");
    const char *names[] = {f->topic};
    char err[512];
    int created, existing;
    if (okno_kafka_create_topics(okno_itest_kafka_conf(), names, 1, 4, 1, 30000, &created,
                                 &existing, err, sizeof err) != 0)
        fail_msg("create topic: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->notifier != 0)
        okno_rm_stop(f->notifier, true);
    okno_smtp_sink_stop(&f->sink);
    if (f->sink.path[0])
        unlink(f->sink.path);
    char err[256];
    okno_kafka_delete_topic(okno_itest_kafka_conf(), f->topic, 30000, err, sizeof err);
    PQfinish(f->conn);
    okno_itest_db_drop(&f->db);
    free(f);
    return 0;
}

static pid_t spawn_notifier(fixture *f)
{
    char url[64];
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", f->sink.port);
    const char *e[] = {
        okno_rm_env("OKNO_PG__CONNINFO=%s", f->db.app_conninfo),
        okno_rm_env("OKNO_KAFKA__BOOTSTRAP__SERVERS=%s", okno_itest_env("OKNO_KAFKA_BOOTSTRAP")),
        okno_rm_env("OKNO_NOTIFIER__TOPIC=%s", f->topic),
        okno_rm_env("OKNO_MAIL__URL=%s", url),
        "OKNO_MAIL__FROM=" FROM,
        "OKNO_MAIL__TIMEOUT=3s",
        "OKNO_MAIL__RETRY_BACKOFF=100ms",
        "OKNO_MAIL__RETRY_BACKOFF_MAX=1s",
        "OKNO_NOTIFIER__BATCH_EVENTS=500",
        "OKNO_NOTIFIER__IDLE_POLL=20ms",
        "OKNO_NOTIFIER__RETRY_BACKOFF=20ms",
        "OKNO_ADMIN__LISTEN=127.0.0.1:0",
        "OKNO_LOG__LEVEL=warn",
        f->digest ? "OKNO_NOTIFIER__DIGEST_HOUR=0" : "OKNO_NOTIFIER__DIGEST=false",
        f->digest ? "OKNO_NOTIFIER__WEEKLY=true" : "OKNO_NOTIFIER__WEEKLY=false",
        f->fault_to != NULL ? okno_rm_env("OKNO_NOTIFIER__FAULT_MAIL_TO=%s", f->fault_to) : NULL,
        NULL};
    return f->notifier = okno_rm_spawn("services/notifier/okno-notifier", e);
}

static void job_init(okno_loggen_job *j, const fixture *f, int64_t events, uint64_t seed)
{
    okno_loggen_options_init(&j->o);
    j->o.conninfo = f->db.admin_conninfo;
    j->o.events = events;
    j->o.seed = seed;
    j->o.batch_events = 500;
}

static void generate(const fixture *f, int64_t events, uint64_t seed)
{
    okno_loggen_job j;
    job_init(&j, f, events, seed);
    if (okno_loggen_run(&j.o, &j.r) != 0)
        fail_msg("loggen: %s", j.r.error);
}

static const char CAUGHT_UP_SQL[] =
    "select (coalesce((select (cursor_tx, cursor_position) from okno.notifier_cursor"
    " where name = 'default') = (select (tx, position) from okno.event_log"
    " order by tx desc, position desc limit 1), false))::int";
static const char MAILED_SQL[] =
    "select (not exists (select from okno.notifications where mail_state = 'pending'))::int";
static const char PUBLISHED_SQL[] =
    "select (not exists (select from okno.notifications where not published))::int";

/* Stops the notifier with SIGTERM; it must exit cleanly. */
static void stop_notifier(fixture *f)
{
    int status = okno_rm_stop(f->notifier, false);
    f->notifier = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void wait_done(const fixture *f)
{
    okno_wait_true(f->conn, CAUGHT_UP_SQL, 120, "the notifier to read the whole log");
    okno_wait_true(f->conn, MAILED_SQL, 120, "every mail to be sent or failed");
    okno_wait_true(f->conn, PUBLISHED_SQL, 120, "every notification on Kafka");
}

static long long count(const fixture *f, const char *sql)
{
    return okno_itest_query_ll(f->conn, sql);
}

/* ---- what the log calls for, computed by the test from the log itself ----------------------- */

static const okno_mail_seen *mail_with_id(const okno_mail_seen *m, size_t n, const char *id)
{
    char want[128];
    snprintf(want, sizeof want, "<%s@example.org>", id);
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].message_id, want) == 0)
            return &m[i];
    return NULL;
}

/* The notification for (recipient, cause) must exist with kind, be mailed to `address` (NULL:
 * the recipient's address on file), and its mail must contain `text`. */
static void expect_mailed(const fixture *f, const okno_mail_seen *m, size_t n, int64_t recipient,
                          const char *address, const okno_event *ev, const char *kind,
                          const char *text)
{
    char id[OKNO_UUID_TEXT_BYTES], sql[1024];
    okno_uuid_format(&ev->message_id, id);
    snprintf(sql, sizeof sql,
             "select n.notification_id, n.kind, p.email, n.mail_state from okno.notifications n"
             " left join okno.people p on p.user_id = n.recipient_user_id"
             " where n.recipient_user_id = %" PRId64 " and n.cause = 'event:%s:%" PRIu64 "'",
             recipient, id, ev->seq);
    PGresult *res = PQexec(f->conn, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    if (PQntuples(res) != 1)
        fail_msg("no notification to %" PRId64 " for %s seq %" PRIu64 " (%s)", recipient, id,
                 ev->seq, kind);
    assert_string_equal(PQgetvalue(res, 0, 1), kind);
    if (address == NULL && PQgetisnull(res, 0, 2)) { /* nobody on file: recorded, not mailed */
        assert_string_equal(PQgetvalue(res, 0, 3), "no_address");
        PQclear(res);
        return;
    }
    assert_string_equal(PQgetvalue(res, 0, 3), "sent");
    const okno_mail_seen *mail = mail_with_id(m, n, PQgetvalue(res, 0, 0));
    if (mail == NULL)
        fail_msg("no mail for notification %s", PQgetvalue(res, 0, 0));
    assert_string_equal(mail->rcpt, address != NULL ? address : PQgetvalue(res, 0, 2));
    if (strstr(mail->body, text) == NULL)
        fail_msg("mail %s lacks \"%s\":\n%s", mail->message_id, text, mail->body);
    PQclear(res);
}

typedef struct tally {
    int rejections, answers, interims, redirects, executor_warnings, expired;
    int to_given_address; /* applicant notices mailed to the address given at submission */
} tally;

static void check_event(const fixture *f, const okno_mail_seen *m, size_t n,
                        const okno_message_state *before, const okno_event *ev, const char *answer,
                        const char *given, tally *t)
{
    const char *to = given[0] ? given : NULL; /* the applicant's, given at submission */
    bool applicant =
        ev->type == OKNO_EVENT_MESSAGE_REJECTED || ev->type == OKNO_EVENT_APPROVAL_GIVEN;
    t->to_given_address += applicant && to != NULL;
    char reason[OKNO_REASON_BYTES_MAX + 1];
    snprintf(reason, sizeof reason, "%.*s", (int)ev->reason.len,
             ev->reason.ptr ? ev->reason.ptr : "");
    bool exec_signal = (ev->type == OKNO_EVENT_STAGE_TIME_EXCEEDED ||
                        ev->type == OKNO_EVENT_STAGE_TIME_APPROACHING) &&
                       ev->signal_stage == OKNO_STAGE_EXECUTION;
    if (ev->type == OKNO_EVENT_MESSAGE_REJECTED) {
        expect_mailed(f, m, n, before->applicant_id, to, ev, "message_rejected", reason);
        t->rejections++;
    } else if (ev->type == OKNO_EVENT_APPROVAL_GIVEN && ev->subject == OKNO_SUBJECT_REDIRECT) {
        expect_mailed(f, m, n, before->applicant_id, to, ev, "message_redirected",
                      "перенаправлено");
        t->redirects++;
    } else if (ev->type == OKNO_EVENT_APPROVAL_GIVEN) {
        expect_mailed(f, m, n, before->applicant_id, to, ev,
                      ev->interim ? "interim_answer_sent" : "answer_sent", answer);
        ev->interim ? t->interims++ : t->answers++;
    } else if (exec_signal) {
        expect_mailed(f, m, n, before->executor_user_id, NULL, ev, okno_event_type_name(ev->type),
                      ev->type == OKNO_EVENT_STAGE_TIME_EXCEEDED ? "истекло" : "израсходована");
        t->executor_warnings++;
    } else if (ev->type == OKNO_EVENT_ANSWER_DEADLINE_EXPIRED && before->executor_user_id != 0) {
        expect_mailed(f, m, n, before->executor_user_id, NULL, ev, "answer_deadline_expired",
                      "истёк срок ответа");
        t->expired++;
    }
}

/* Folds every message with the workflow core and checks each notice the log calls for. */
static tally check_against_the_log(const fixture *f, const okno_mail_seen *m, size_t n)
{
    PGresult *res = PQexecParams(f->conn,
                                 "select message_id, seq, body from okno.event_log"
                                 " order by message_id, seq",
                                 0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    tally t = {0};
    okno_message_state st = {0};
    static char answer[OKNO_TEXT_BYTES_MAX + 1], given[OKNO_EMAIL_BYTES_MAX + 1];
    for (int i = 0; i < PQntuples(res); i++) {
        okno_event ev;
        okno_avro_error aerr = {0};
        assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS,
                                                (const uint8_t *)PQgetvalue(res, i, 2),
                                                (size_t)PQgetlength(res, i, 2), &ev, &aerr),
                         0);
        if (ev.seq == 1) {
            st = (okno_message_state){0};
            answer[0] = '\0';
            snprintf(given, sizeof given, "%.*s", (int)ev.applicant_email.len,
                     ev.applicant_email.ptr ? ev.applicant_email.ptr : "");
        }
        /* The answer's text: the latest draft, or the edit an agreer or approver made. */
        if ((ev.type == OKNO_EVENT_ANSWER_DRAFTED || ev.type == OKNO_EVENT_AGREEMENT_GIVEN ||
             ev.type == OKNO_EVENT_APPROVAL_GIVEN) &&
            ev.text.len > 0)
            snprintf(answer, sizeof answer, "%.*s", (int)ev.text.len, ev.text.ptr);
        okno_message_state before = st;
        assert_int_equal(okno_workflow_apply(&st, &ev), 0);
        check_event(f, m, n, &before, &ev, answer, given, &t);
    }
    PQclear(res);
    print_message("checked: %d refusals, %d answers, %d interim answers, %d redirects, "
                  "%d executor warnings, %d expired deadlines; %d to an address given at "
                  "submission\n",
                  t.rejections, t.answers, t.interims, t.redirects, t.executor_warnings, t.expired,
                  t.to_given_address);
    return t;
}

/* Every mail is a well-formed UTF-8 MIME message whose Message-ID names a notification sent to
 * that address, with that subject. */
static void check_mails_match_rows(const fixture *f, const okno_mail_seen *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(m[i].ascii);
        assert_true(m[i].longest_header_line <= 998);
        assert_string_equal(m[i].content_type, "text/plain");
        assert_string_equal(m[i].charset, "utf-8");
        assert_string_equal(m[i].encoding, "base64");
        assert_non_null(strstr(m[i].from, "<" FROM ">"));
        char sql[512], id[40];
        snprintf(id, sizeof id, "%.36s", m[i].message_id + 1);
        snprintf(sql, sizeof sql,
                 "select (exists (select from okno.notifications where notification_id = '%s'"
                 " and email = '%s' and mail_state = 'sent'"
                 " and (subject = $$%s$$ or moved_on_note is not null)))::int",
                 id, m[i].rcpt, m[i].subject);
        if (okno_itest_query_ll(f->conn, sql) != 1)
            fail_msg("mail %s to %s (%s) matches no sent notification", m[i].message_id, m[i].rcpt,
                     m[i].subject);
    }
}

/* Every record on the topic decodes and names a notification; each one is there. */
static void check_topic(const fixture *f)
{
    long long want = count(f, "select count(*) from okno.notifications");
    rd_kafka_conf_t *conf = okno_itest_kafka_conf();
    char err[256], group[96];
    okno_itest_unique(group, sizeof group, "okno-test-notifier");
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, f->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    long long seen = 0;
    double until = okno_itest_now_ms() + 60000;
    while (seen < want && okno_itest_now_ms() < until) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 200);
        if (msg == NULL)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            okno_avro_notification rec;
            okno_avro_error aerr = {0};
            assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_NOTIFICATIONS, msg->payload, msg->len,
                                                    &rec, &aerr),
                             0);
            char id[OKNO_UUID_TEXT_BYTES], sql[512];
            okno_uuid_format(&rec.notification_id, id);
            snprintf(sql, sizeof sql,
                     "select count(*) from okno.notifications where notification_id = '%s'"
                     " and recipient_user_id = %" PRId64 " and cause = '%.*s'"
                     " and kind = '%s' and octet_length(subject) = %u",
                     id, (int64_t)rec.recipient_user_id, (int)rec.cause.len, rec.cause.ptr,
                     okno_notification_kind_name(rec.kind), (unsigned)rec.subject.len);
            assert_int_equal(count(f, sql), 1);
            seen++;
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    assert_int_equal(seen, want);
}

/* ---- the tests ----------------------------------------------------------------------------- */

static void notices_reach_the_right_people_with_the_right_text(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    generate(f, 6000, 7);
    spawn_notifier(f);
    wait_done(f);
    stop_notifier(f);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    tally t = check_against_the_log(f, m, n);
    /* okno load's workload has no redirects nor postponed answers: test_notice covers their texts.
     */
    assert_true(t.rejections > 0 && t.answers > 0 && t.executor_warnings > 0 && t.expired > 0);
    assert_true(t.to_given_address > 0);
    check_mails_match_rows(f, m, n);
    assert_int_equal(okno_mails_distinct(m, n),
                     count(f, "select count(*) from okno.notifications where mail_state = 'sent'"));
    check_topic(f);
    okno_mails_free(m, n);
}

static void notifications_exactly_once_across_sigkills_during_a_burst(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    okno_loggen_job job;
    job_init(&job, f, 20000, 11);
    job.o.pause_ms = 20; /* a run of seconds, so the kills land while it is written */
    assert_int_equal(okno_loggen_start(&job), 0);
    unsigned seed = (unsigned)time(NULL);
    print_message("kill intervals seeded with %u\n", seed);
    int kills = 0;
    spawn_notifier(f);
    while (!job.done || kills < 8) {
        struct timespec ts = {0, (150 + rand_r(&seed) % 400) * 1000000L};
        nanosleep(&ts, NULL);
        okno_rm_stop(f->notifier, true);
        kills++;
        spawn_notifier(f);
    }
    if (okno_loggen_join(&job) != 0)
        fail_msg("loggen: %s", job.r.error);
    wait_done(f);
    stop_notifier(f);
    print_message("%d SIGKILLs while %lld events were appended\n", kills, (long long)job.r.events);

    /* What an uninterrupted run records from the same log: the same rows, no more, no fewer. */
    const char *sum = "select md5(coalesce(string_agg(recipient_user_id || '|' || cause || '|' ||"
                      " kind || '|' || subject || '|' || body, E'\\n' order by recipient_user_id,"
                      " cause), '')) from okno.notifications";
    char *killed = okno_rm_query_text(f->conn, sum);
    long long rows = count(f, "select count(*) from okno.notifications");
    okno_itest_exec(f->conn,
                    "create table killed_run as select * from okno.notifications;"
                    " truncate okno.notifications;"
                    " update okno.notifier_cursor set cursor_tx = '0', cursor_position = 0");
    okno_notifier_config cfg;
    okno_notifier_config_init(&cfg);
    const char *keys[] = {"dbname", NULL}, *values[] = {f->db.app_conninfo, NULL};
    cfg.pg_keywords = keys;
    cfg.pg_values = values;
    okno_notifier nf;
    assert_int_equal(okno_notifier_init(&nf, &cfg, NULL), 0);
    size_t read;
    do
        assert_int_equal(okno_notifier_step_log(&nf, &read), 0);
    while (read > 0);
    okno_notifier_close(&nf);
    char *uninterrupted = okno_rm_query_text(f->conn, sum);
    assert_string_equal(killed, uninterrupted);
    assert_int_equal(count(f, "select count(*) from okno.notifications"), rows);

    /* Mail went at least once per notification, each under its one Message-ID. */
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    print_message("%lld notifications, %zu mails, %zu distinct Message-IDs\n", rows, n,
                  okno_mails_distinct(m, n));
    assert_int_equal(okno_mails_distinct(m, n),
                     count(f, "select count(*) from killed_run where mail_state = 'sent'"));
    assert_int_equal(count(f, "select count(*) from killed_run where mail_state = 'pending'"), 0);
    okno_mails_free(m, n);
    free(killed);
    free(uninterrupted);
}

static void reading_the_log_again_from_the_start_makes_no_new_notification(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    generate(f, 4000, 13);
    spawn_notifier(f);
    wait_done(f);
    long long rows = count(f, "select count(*) from okno.notifications");
    long long mailed =
        count(f, "select count(*) from okno.notifications where mail_state = 'sent'");
    /* Rewind the running notifier's cursor, as an operator's re-read would. */
    okno_itest_exec(f->conn,
                    "update okno.notifier_cursor set cursor_tx = '0', cursor_position = 0");
    okno_wait_true(f->conn, CAUGHT_UP_SQL, 120, "the notifier to read the log again");
    okno_wait_true(f->conn,
                   "select (events_read >= 2 * (select count(*) from okno.event_log))::int"
                   " from okno.notifier_cursor",
                   60, "the whole log read twice");
    stop_notifier(f);
    assert_true(rows > 0);
    assert_int_equal(count(f, "select count(*) from okno.notifications"), rows);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    assert_int_equal(n, mailed); /* nothing mailed twice either */
    okno_mails_free(m, n);
}

static void
smtp_down_then_back_delivers_every_mail_and_stale_warnings_say_they_moved_on(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    okno_smtp_sink_stop(&f->sink); /* its port is known; nothing listens there now */
    spawn_notifier(f);
    generate(f, 5000, 17);
    okno_wait_true(f->conn, CAUGHT_UP_SQL, 120, "the notifier to read the whole log");
    okno_wait_true(f->conn,
                   "select (exists (select from okno.notifications where attempts >= 2))::int", 60,
                   "retries against the dead relay");
    assert_int_equal(count(f, "select count(*) from okno.notifications where mail_state <> "
                              "'pending' and mail_state <> 'no_address'"),
                     0);
    long long pending = count(f, "select count(*) from okno.notifications"
                                 " where mail_state = 'pending'");
    char *reason = okno_rm_query_text(f->conn, "select last_error from okno.notifications"
                                               " where attempts > 0 limit 1");
    print_message("%lld mails held while the relay is down: %s\n", pending, reason);
    free(reason);
    okno_smtp_sink_start(&f->sink, f->sink.port);
    okno_wait_true(f->conn, MAILED_SQL, 120, "every mail once the relay is back");
    stop_notifier(f);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    assert_int_equal(okno_mails_distinct(m, n), pending);
    assert_int_equal(count(f, "select count(*) from okno.notifications where mail_state = 'sent'"),
                     pending);

    /* Warnings whose message moved on while the relay was down say so. */
    PGresult *res = PQexec(f->conn, "select notification_id, moved_on_note from okno.notifications"
                                    " where moved_on_note is not null");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(PQntuples(res) > 0);
    for (int i = 0; i < PQntuples(res); i++) {
        const okno_mail_seen *mail = mail_with_id(m, n, PQgetvalue(res, i, 0));
        assert_non_null(mail);
        assert_non_null(strstr(mail->subject, "[неактуально]"));
        assert_non_null(strstr(mail->body, PQgetvalue(res, i, 1)));
    }
    print_message("%d warnings said their message had moved on\n", PQntuples(res));
    PQclear(res);
    okno_mails_free(m, n);
}

static void permanently_refused_address_is_recorded_failed_with_the_reply(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    /* Half of the applicants have an address the relay refuses with a 550. */
    okno_itest_exec(f->conn, "update okno.people set email = 'bounce' || user_id || '@mail.test'"
                             " where user_id > 1000000000 and user_id % 2 = 0");
    generate(f, 3000, 19);
    spawn_notifier(f);
    wait_done(f);
    stop_notifier(f);
    long long failed =
        count(f, "select count(*) from okno.notifications where mail_state = 'failed'");
    assert_true(failed > 0);
    assert_int_equal(count(f, "select count(*) from okno.notifications where mail_state = 'failed'"
                              " and (attempts <> 1 or email not like 'bounce%'"
                              " or last_error not like '550 5.1.1 <bounce%no such mailbox%')"),
                     0);
    assert_int_equal(count(f, "select count(*) from okno.notifications where email like 'bounce%'"
                              " and mail_state <> 'failed'"),
                     0);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    for (size_t i = 0; i < n; i++)
        assert_null(strstr(m[i].rcpt, "bounce"));
    assert_int_equal(okno_mails_distinct(m, n),
                     count(f, "select count(*) from okno.notifications where mail_state = 'sent'"));
    okno_mails_free(m, n);
}

static long long digests(const fixture *f)
{
    return count(f, "select count(*) from okno.notifications where kind = 'daily_digest'");
}

/* Builds okno_rm from the log in-process (the lists come from the read models). */
static void project(const fixture *f)
{
    okno_projector_config cfg;
    okno_projector_config_init(&cfg);
    const char *keys[] = {"dbname", NULL}, *values[] = {f->db.app_conninfo, NULL};
    cfg.pg_keywords = keys;
    cfg.pg_values = values;
    okno_projector p;
    assert_int_equal(okno_projector_init(&p, &cfg), 0);
    size_t applied;
    do
        if (okno_projector_step(&p, &applied) != 0)
            fail_msg("projector: %s", p.error);
    while (applied > 0);
    okno_projector_close(&p);
}

static void curators_get_one_daily_digest_per_org_with_the_three_lists(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    generate(f, 3000, 23);
    project(f);
    f->digest = true;
    spawn_notifier(f);
    wait_done(f);
    okno_wait_true(f->conn,
                   "select (count(*) = (select count(*) from okno.grants"
                   " where 'curator' = any(roles)))::int from okno.notifications"
                   " where kind = 'daily_digest'",
                   60, "a digest for every curator");
    okno_wait_true(f->conn, MAILED_SQL, 60, "the digests mailed");
    stop_notifier(f);
    long long made = digests(f);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    PGresult *res =
        PQexec(f->conn, "select g.org_id, g.user_id, n.notification_id, n.cause, p.email"
                        " from okno.grants g join okno.notifications n"
                        " on n.recipient_user_id = g.user_id and n.kind = 'daily_digest'"
                        " join okno.people p on p.user_id = g.user_id"
                        " where 'curator' = any(g.roles) order by 1");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), made);
    size_t listed = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t org = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        char want[64];
        snprintf(want, sizeof want, "digest:%" PRId64 ":", org);
        assert_int_equal(strncmp(PQgetvalue(res, i, 3), want, strlen(want)), 0);
        const okno_mail_seen *mail = mail_with_id(m, n, PQgetvalue(res, i, 2));
        assert_non_null(mail);
        assert_string_equal(mail->rcpt, PQgetvalue(res, i, 4));
        assert_non_null(strstr(mail->subject, "Ежедневная сводка по срокам"));
        /* Every message on the org's lists now is in its digest. */
        okno_report_daily d = {0};
        char err[OKNO_REPORT_ERROR_BYTES];
        assert_int_equal(okno_report_daily_query(f->conn, "okno_rm", org,
                                                 (int64_t)time(NULL) * 1000, &d, err, sizeof err),
                         0);
        for (size_t r = 0; r < d.count; r++)
            if (strstr(mail->body, d.rows[r].message_id) == NULL)
                fail_msg("the digest of org %" PRId64 " lacks message %s", org,
                         d.rows[r].message_id);
        listed += d.count;
        okno_report_daily_free(&d);
    }
    PQclear(res);
    print_message("%lld digests listing %zu rows\n", made, listed);
    assert_true(listed > 0);
    okno_mails_free(m, n);

    /* A restart the same day makes none again. */
    spawn_notifier(f);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    stop_notifier(f);
    assert_int_equal(digests(f), made);
}

static void org_heads_get_the_weekly_report_of_the_week_before(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    generate(f, 2000, 29);
    project(f);
    f->digest = true;
    spawn_notifier(f);
    wait_done(f);
    okno_wait_true(f->conn,
                   "select (count(*) = (select count(*) from okno.orgs"
                   " where head_user_id is not null))::int from okno.notifications"
                   " where kind = 'weekly_report'",
                   60, "a weekly report for every org head");
    okno_wait_true(f->conn, MAILED_SQL, 60, "the reports mailed");
    stop_notifier(f);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    PGresult *res = PQexec(f->conn, "select o.org_id, n.notification_id, n.cause, p.email"
                                    " from okno.orgs o join okno.notifications n"
                                    " on n.recipient_user_id = o.head_user_id"
                                    " and n.kind = 'weekly_report'"
                                    " join okno.people p on p.user_id = o.head_user_id");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(PQntuples(res) > 0);
    /* The week before this one, in Moscow days (day 0 was a Thursday). */
    int64_t day = ((int64_t)time(NULL) * 1000 + 3 * 3600000) / 86400000;
    int32_t monday = (int32_t)(day - (day + 3) % 7 - 7);
    char label[16];
    okno_report_week_label(monday, label, sizeof label);
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t org = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        char cause[64];
        snprintf(cause, sizeof cause, "weekly:%" PRId64 ":%s", org, label);
        assert_string_equal(PQgetvalue(res, i, 2), cause);
        const okno_mail_seen *mail = mail_with_id(m, n, PQgetvalue(res, i, 1));
        assert_non_null(mail);
        assert_string_equal(mail->rcpt, PQgetvalue(res, i, 3));
        assert_non_null(strstr(mail->subject, label));
        /* Every number of the report, as the report module writes them, is in the mail's
         * text, and its page is the one attachment (multipart/mixed). */
        okno_report_weekly w = {0};
        char err[OKNO_REPORT_ERROR_BYTES], *csv = NULL, *html = NULL, name[64];
        size_t len = 0, html_len = 0;
        assert_int_equal(
            okno_report_weekly_query(f->conn, "okno_rm", org, monday, &w, err, sizeof err), 0);
        FILE *out = open_memstream(&csv, &len), *page = open_memstream(&html, &html_len);
        assert_int_equal(okno_report_weekly_csv(out, &w), 0);
        assert_int_equal(okno_report_weekly_html(page, &w), 0);
        fclose(out);
        fclose(page);
        okno_report_weekly_free(&w);
        if (strstr(mail->body, csv) == NULL)
            fail_msg("the weekly mail of org %" PRId64 " lacks the report's numbers", org);
        assert_string_equal(mail->content_type, "multipart/mixed");
        assert_string_equal(mail->charset, "utf-8");
        assert_int_equal(mail->attachments, 1);
        assert_true(mail->attached);
        snprintf(name, sizeof name, "weekly-%" PRId64 "-%s.html", org, label);
        assert_string_equal(mail->attachment_name, name);
        assert_string_equal(mail->attachment_type, "text/html");
        if (strcmp(mail->attachment, html) != 0)
            fail_msg("the weekly mail of org %" PRId64 " does not attach the report's page", org);
        free(csv);
        free(html);
    }
    print_message("%d weekly reports for %s\n", PQntuples(res), label);
    PQclear(res);
    okno_mails_free(m, n);
}

/* ---- a scripted life: the applicant's notices in their words --------------------------------- */

typedef struct life {
    const fixture *f;
    okno_pg_directory dir;
    okno_uuid id;
    okno_message_state state;
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
    uint64_t next_request;
} life;

#define DAY_MS  INT64_C(86400000)
#define LIFE_T0 INT64_C(1772431200000) /* 2026-03-02T06:00:00Z, 09:00 in Moscow */

/* Decides req with the core at at_ms (it must be accepted) and appends it as the ledger would. */
static void life_act(life *l, okno_request req, int64_t at_ms)
{
    req.request_id = (okno_uuid){{0x7e, 0x57, 0x11, l->id.bytes[0]}};
    uint64_t n = ++l->next_request;
    memcpy(req.request_id.bytes + 8, &n, sizeof n);
    req.message_id = l->id;
    okno_actor actor;
    okno_actor_init(&actor, &l->dir.dir, req.acting_user_id, req.acting_org_id);
    okno_step_result res;
    okno_workflow_step(l->state.last_seq ? &l->state : NULL, &req, &actor, &l->dir.dir, at_ms,
                       &res);
    if (res.events_count == 0)
        fail_msg("%s refused: %s", okno_action_name(req.action), res.refusal.message);
    okno_rm_append_step(l->f->conn, &l->state, l->hash, &res, &req);
    l->state = res.state;
}

static okno_request by(okno_action action, okno_user_id user, okno_org_id org)
{
    return (okno_request){.action = action, .acting_user_id = user, .acting_org_id = org};
}

static void life_start(life *l, const fixture *f, uint8_t tag, const char *email)
{
    *l = (life){.f = f};
    char err[256];
    if (okno_pg_directory_load(f->conn, &l->dir, err, sizeof err) != 0)
        fail_msg("directory: %s", err);
    l->id.bytes[0] = tag;
    l->id.bytes[6] = 0x40;
    l->id.bytes[8] = 0x80;
    okno_request r = by(OKNO_ACTION_SUBMIT, 1000000001, 0);
    r.applicant_id = 1000000001;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = 1;
    r.text = okno_str_c("Не горит фонарь у дома 3");
    r.applicant_email = okno_str_c(email);
    life_act(l, r, LIFE_T0);
}

static const okno_mail_seen *mail_to(const okno_mail_seen *m, size_t n, const char *to,
                                     const char *subject)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].rcpt, to) == 0 && strcmp(m[i].subject, subject) == 0)
            return &m[i];
    fail_msg("no mail \"%s\" to %s", subject, to);
    return NULL;
}

static void the_applicant_is_told_of_refusal_redirect_interim_and_final_answer(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    life a, b;
    life_start(&a, f, 0xa1, "citizen@mail.test");
    okno_request r = by(OKNO_ACTION_REJECT, 101, 1);
    r.reason = okno_str_c("Сообщение не содержит сути обращения (п. 4.2 правил)");
    life_act(&a, r, LIFE_T0 + 3600000);
    okno_pg_directory_free(&a.dir);

    life_start(&b, f, 0xb2, "citizen@mail.test");
    r = by(OKNO_ACTION_ACCEPT, 101, 1);
    r.target_org_id = 1010;
    r.category_id = 1;
    life_act(&b, r, LIFE_T0 + 3600000);
    r = by(OKNO_ACTION_PROPOSE_REDIRECT, 101001, 1010);
    r.target_org_id = 1020;
    r.approver_user_id = 101005;
    life_act(&b, r, LIFE_T0 + 2 * 3600000);
    life_act(&b, by(OKNO_ACTION_APPROVE, 101005, 1010), LIFE_T0 + 3 * 3600000);
    r = by(OKNO_ACTION_ASSIGN_EXECUTOR, 102001, 1020);
    r.target_user_id = 102002;
    life_act(&b, r, LIFE_T0 + DAY_MS);
    life_act(&b, by(OKNO_ACTION_TAKE_INTO_WORK, 102002, 1020), LIFE_T0 + DAY_MS + 3600000);
    r = by(OKNO_ACTION_DRAFT_ANSWER, 102002, 1020);
    r.answer_type = OKNO_ANSWER_POSTPONED;
    r.postponed_until_ms = LIFE_T0 + 20 * DAY_MS;
    r.approver_user_id = 102005;
    r.text = okno_str_c("Замена фонаря запланирована на март");
    life_act(&b, r, LIFE_T0 + 2 * DAY_MS);
    life_act(&b, by(OKNO_ACTION_APPROVE, 102005, 1020), LIFE_T0 + 3 * DAY_MS);
    r = by(OKNO_ACTION_DRAFT_ANSWER, 102002, 1020);
    r.answer_type = OKNO_ANSWER_RESOLVED;
    r.approver_user_id = 102005;
    r.text = okno_str_c("Фонарь заменён");
    life_act(&b, r, LIFE_T0 + 10 * DAY_MS);
    r = by(OKNO_ACTION_APPROVE, 102005, 1020);
    r.text = okno_str_c("Фонарь у дома 3 заменён 12 марта");
    life_act(&b, r, LIFE_T0 + 11 * DAY_MS);
    okno_pg_directory_free(&b.dir);

    spawn_notifier(f);
    wait_done(f);
    stop_notifier(f);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    const okno_mail_seen *x =
        mail_to(m, n, "citizen@mail.test", "Ваше сообщение не принято к рассмотрению");
    assert_non_null(strstr(x->body, "Здравствуйте, Заявитель 1!"));
    assert_non_null(
        strstr(x->body, "Причина: Сообщение не содержит сути обращения (п. 4.2 правил)"));
    assert_non_null(strstr(x->body, "a1000000-0000-4000-8000-000000000000"));
    x = mail_to(m, n, "citizen@mail.test", "Ваше сообщение перенаправлено");
    assert_non_null(
        strstr(x->body, "в организацию «Ministry of Energy». Срок ответа: 01.04.2026 09:00 МСК"));
    x = mail_to(m, n, "citizen@mail.test", "Промежуточный ответ на ваше сообщение");
    assert_non_null(strstr(x->body, "продлено до 22.03.2026 09:00 МСК"));
    assert_non_null(strstr(x->body, "Замена фонаря запланирована на март"));
    x = mail_to(m, n, "citizen@mail.test", "Ответ на ваше сообщение");
    assert_non_null(strstr(x->body, "Результат рассмотрения: Решено."));
    assert_non_null(strstr(x->body, "Текст ответа:\nФонарь у дома 3 заменён 12 марта"));
    assert_int_equal(count(f, "select count(*) from okno.notifications"
                              " where email = 'citizen@mail.test' and mail_state = 'sent'"),
                     4);
    okno_mails_free(m, n);
}

/* ---- fault requests (SPEC V) to the situation center ---------------------------------------- */

#define SITUATION_CENTER "sc@operator.test"

/* Submits a fault request as user 777 (no address on file) through okno.fault_call, naming the
 * demo directory's first org; returns its fault_id. */
static long long submit_fault(const fixture *f, const char *full_name, const char *description)
{
    char *org = okno_rm_query_text(f->conn, "select name from okno.orgs order by org_id limit 1");
    char sql[2048];
    char *args = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&args, &len);
    fprintf(m,
            "jsonb_build_object('full_name', '%s', 'position', 'Главный специалист',"
            " 'email', 'fault.sender@mail.test', 'organization', '%s', 'description', '%s')",
            full_name, org, description);
    fclose(m);
    snprintf(sql, sizeof sql,
             "select (okno.fault_call(777, 0, 'submit_fault', %s) ->> 'fault_id')::int8", args);
    free(args);
    free(org);
    return count(f, sql);
}

static long long fault_rows(const fixture *f)
{
    return count(f, "select count(*) from okno.notifications where cause like 'fault:%'");
}

static void wait_faults_mailed(const fixture *f, long long want)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "select (count(*) = %lld and bool_and(mail_state = 'sent'))::int"
             " from okno.notifications where cause like 'fault:%%'",
             want);
    okno_wait_true(f->conn, sql, 60, "the fault requests to be mailed");
}

/* The mail of fault request `id` must be one Message-ID to the situation center, carrying the
 * five fields, the request's number and its time. */
static void expect_fault_mail(const fixture *f, const okno_mail_seen *m, size_t n, long long id,
                              const char *full_name, const char *description)
{
    char sql[512], cause[64];
    snprintf(cause, sizeof cause, "fault:%lld", id);
    okno_uuid nid;
    okno_notifier_notification_id(0, cause, &nid);
    char text[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&nid, text);
    snprintf(sql, sizeof sql,
             "select count(*) from okno.notifications where notification_id = '%s'"
             " and recipient_user_id = 0 and cause = '%s' and kind = 'fault_request'"
             " and email = '" SITUATION_CENTER "'",
             text, cause);
    assert_int_equal(count(f, sql), 1);
    const okno_mail_seen *mail = mail_with_id(m, n, text);
    assert_non_null(mail);
    assert_string_equal(mail->rcpt, SITUATION_CENTER);
    char want[128];
    snprintf(want, sizeof want, "Заявка о неисправности № %lld от ", id);
    assert_non_null(strstr(mail->subject, want));
    snprintf(want, sizeof want, "№ %lld от ", id);
    assert_non_null(strstr(mail->body, want));
    snprintf(sql, sizeof sql,
             "select to_char(submitted_at at time zone 'Europe/Moscow', 'DD.MM.YYYY')"
             " from okno.fault_requests where fault_id = %lld",
             id);
    char *day = okno_rm_query_text(f->conn, sql);
    assert_non_null(strstr(mail->body, day));
    free(day);
    char *org = okno_rm_query_text(f->conn, "select name from okno.orgs order by org_id limit 1");
    const char *fields[][2] = {{"ФИО: ", full_name},
                               {"Должность: ", "Главный специалист"},
                               {"Адрес электронной почты: ", "fault.sender@mail.test"},
                               {"Организация: ", org},
                               {"Описание неисправности:\n", description}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char line[1024];
        snprintf(line, sizeof line, "%s%s", fields[i][0], fields[i][1]);
        if (strstr(mail->body, line) == NULL)
            fail_msg("fault mail %lld lacks \"%s\":\n%s", id, line, mail->body);
    }
    free(org);
}

static void fault_request_is_mailed_once_to_the_configured_address_across_sigkills(void **state)
{
    fixture *f = *state;
    f->fault_to = SITUATION_CENTER;
    okno_smtp_sink_start(&f->sink, 0);
    spawn_notifier(f);
    long long a = submit_fault(f, "Иванов Иван Иванович", "Не открывается карточка сообщения");
    wait_faults_mailed(f, 1);
    /* Killed and restarted: the request is not recorded or mailed again; a new one is. */
    for (int kill = 0; kill < 3; kill++) {
        okno_rm_stop(f->notifier, true);
        spawn_notifier(f);
    }
    long long b = submit_fault(f, "Петрова Анна Сергеевна", "Ошибка 500 при отправке ответа");
    wait_faults_mailed(f, 2);
    okno_rm_stop(f->notifier, true);
    spawn_notifier(f);
    struct timespec ts = {2, 500000000L}; /* past the once-a-second look at the requests */
    nanosleep(&ts, NULL);
    stop_notifier(f);
    assert_int_equal(fault_rows(f), 2);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    assert_int_equal(okno_mails_distinct(m, n), 2);
    expect_fault_mail(f, m, n, a, "Иванов Иван Иванович", "Не открывается карточка сообщения");
    expect_fault_mail(f, m, n, b, "Петрова Анна Сергеевна", "Ошибка 500 при отправке ответа");
    okno_mails_free(m, n);
    check_topic(f); /* published with their own kind, fault_request */
}

static void fault_requests_are_not_recorded_without_an_address(void **state)
{
    fixture *f = *state;
    okno_smtp_sink_start(&f->sink, 0);
    submit_fault(f, "Сидоров Пётр", "Не приходят уведомления");
    generate(f, 300, 23);
    spawn_notifier(f);
    wait_done(f);
    struct timespec ts = {1, 500000000L};
    nanosleep(&ts, NULL);
    stop_notifier(f);
    assert_int_equal(fault_rows(f), 0);
    size_t n;
    okno_mail_seen *m = okno_mails_read(&f->sink, &n);
    for (size_t i = 0; i < n; i++)
        assert_null(strstr(m[i].subject, "неисправности"));
    okno_mails_free(m, n);

    /* An address that is not one is refused at start. */
    okno_notifier_config cfg;
    okno_notifier_config_init(&cfg);
    const char *keys[] = {"dbname", NULL}, *values[] = {f->db.app_conninfo, NULL};
    cfg.pg_keywords = keys;
    cfg.pg_values = values;
    cfg.mail = false;
    const char *bad[] = {"no-at-sign", "sc@operator.test\r\nBcc: x@y.test", "a b@c.test"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.fault_mail_to = bad[i];
        okno_notifier nf;
        assert_int_equal(okno_notifier_init(&nf, &cfg, NULL), OKNO_ECONFIG);
        assert_non_null(strstr(nf.error, "notifier.fault_mail_to"));
        okno_notifier_close(&nf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(notices_reach_the_right_people_with_the_right_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(notifications_exactly_once_across_sigkills_during_a_burst,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            reading_the_log_again_from_the_start_makes_no_new_notification, setup, teardown),
        cmocka_unit_test_setup_teardown(
            smtp_down_then_back_delivers_every_mail_and_stale_warnings_say_they_moved_on, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            permanently_refused_address_is_recorded_failed_with_the_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(curators_get_one_daily_digest_per_org_with_the_three_lists,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(org_heads_get_the_weekly_report_of_the_week_before, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            the_applicant_is_told_of_refusal_redirect_interim_and_final_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(
            fault_request_is_mailed_once_to_the_configured_address_across_sigkills, setup,
            teardown),
        cmocka_unit_test_setup_teardown(fault_requests_are_not_recorded_without_an_address, setup,
                                        teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    okno_avro_close();
    return rc;
}
