/* The notifier's outbound side: mail the pending notifications that are due, with bounded
 * back-off, and publish new notifications to okno.notifications.v1. See README.md. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notifier.h"
#include "okno/avro.h"
#include "okno/clock.h"
#include "okno/error.h"
#include "okno/log.h"
#include "notice.h"
#include "okno/uuid.h"

static const char DUE_SQL[] =
    "select n.notification_id, n.email, coalesce(p.full_name, ''), n.subject, n.body,"
    " n.moved_on_note, n.attempts, (extract(epoch from n.created_at) * 1000)::int8,"
    " n.attachment_name, n.attachment_type, n.attachment"
    " from okno.notifications n left join okno.people p on p.user_id = n.recipient_user_id"
    " where n.mail_state = 'pending' and n.next_attempt_at <= to_timestamp($1::int8 / 1000.0)"
    " order by n.next_attempt_at limit $2::int4";
/* The claim: on the session that holds the leader lock (checked again here, in the same
 * statement), a due pending mail's next attempt moves past the claim ($2 ms from now), so no
 * other notifier tries it before the claim lapses. One row or none (another notifier has it).
 * Both the claim and its lapse are read on PostgreSQL's clock, so the notifiers' clocks do not
 * enter the fence. */
static const char CLAIM_SQL[] =
    "update okno.notifications set next_attempt_at = now() + $2::int8 * interval '1 millisecond'"
    " where notification_id = $1 and mail_state = 'pending' and next_attempt_at <= now()"
    " and exists (select 1 from pg_locks where locktype = 'advisory' and granted"
    " and pid = pg_backend_pid())";
static const char SENT_SQL[] =
    "update okno.notifications set mail_state = 'sent', sent_at = now(), attempts = attempts + 1,"
    " last_error = null where notification_id = $1 and mail_state = 'pending'";
static const char SENT_LATE_SQL[] =
    "update okno.notifications set mail_state = 'sent', sent_at = now(), attempts = attempts + 1,"
    " last_error = null where notification_id = any($1::uuid[]) and mail_state = 'pending'";
static const char FAILED_SQL[] =
    "update okno.notifications set mail_state = 'failed', attempts = attempts + 1,"
    " last_error = $2 where notification_id = $1 and mail_state = 'pending'";
static const char RETRY_SQL[] =
    "update okno.notifications set attempts = attempts + 1, last_error = $2,"
    " next_attempt_at = to_timestamp($3::int8 / 1000.0) where notification_id = $1"
    " and mail_state = 'pending'";
static const char UNPUBLISHED_SQL[] =
    "select notification_id, recipient_user_id, kind, message_id, body,"
    " (extract(epoch from created_at) * 1000)::int8, cause, subject from okno.notifications"
    " where not published order by created_at limit $1::int4";
static const char PUBLISHED_SQL[] =
    "update okno.notifications set published = true where notification_id = any($1::uuid[])";

#define PURGE_POLLS_MAX 500 /* 10 ms polls for purged records' reports: 5 s at most */

/* Libpq's text for a statement that must succeed; the caller reports. */
static int run(okno_notifier *n, const char *sql, int count, const char *const *params,
               PGresult **out)
{
    PGresult *res = PQexecParams(n->tail.conn, sql, count, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        snprintf(n->error, sizeof n->error, "%s", PQresultErrorMessage(res));
        PQclear(res);
        if (PQstatus(n->tail.conn) != CONNECTION_OK) {
            okno_logtail_stop(&n->tail);
            n->prepared = false;
        }
        return OKNO_EPG;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return OKNO_OK;
}

static int64_t backoff(const okno_notifier_config *c, int attempts)
{
    int64_t ms = c->mail_backoff_ms;
    for (int i = 1; i < attempts && ms < c->mail_backoff_max_ms; i++)
        ms *= 2;
    return ms < c->mail_backoff_max_ms ? ms : c->mail_backoff_max_ms;
}

/* The mail's text: greeting, the moved-on note first when there is one, the notice, footer. */
static char *mail_body(const char *name, const char *note, const char *body)
{
    size_t len = strlen(name) + (note ? strlen(note) : 0) + strlen(body) + 512;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len,
                 "Здравствуйте%s%s!\n\n%s%s%s\n\n--\nЕдиное окно цифровой обратной связи.\n"
                 "Письмо отправлено автоматически, отвечать на него не нужно.\n",
                 name[0] ? ", " : "", name, note ? note : "", note ? "\n\n" : "", body);
    return out;
}

/* Claims mail `id` (CLAIM_SQL); *claimed false when another notifier has it now. */
static int claim(okno_notifier *n, const char *id, bool *claimed)
{
    char lasts[24];
    snprintf(lasts, sizeof lasts, "%" PRId64,
             n->cfg.mail_cfg.timeout_ms + 2 * OKNO_NOTIFIER_CLAIM_SEND_WINDOW_MS);
    const char *params[2] = {id, lasts};
    PGresult *res = NULL;
    int rc = run(n, CLAIM_SQL, 2, params, &res);
    *claimed = rc == OKNO_OK && strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return rc;
}

/* The fault injection point notifier.fault_stop_before_send: when its file exists, the notifier
 * deletes it, says which mail it has claimed, and stops itself (SIGSTOP) before the exchange;
 * continued, it goes on to the claim's check (tests/faults/test_stall.py). */
static void fault_stop_before_send(const okno_notifier *n, const char *id)
{
    const char *file = n->cfg.fault_stop_file;
    if (file == NULL || file[0] == '\0' || unlink(file) != 0)
        return;
    okno_log_warn("fault injection: stopping between a mail's claim and its sending",
                  OKNO_LOG_STR("notification", id));
    raise(SIGSTOP);
    okno_log_warn("fault injection: continued", OKNO_LOG_STR("notification", id));
}

/* The relay accepted mail `id` but its `sent` was not recorded (the database link failed): kept
 * for record_unrecorded, so this process does not send it again. */
static void remember_unrecorded(okno_notifier *n, const char *id)
{
    if (n->unrecorded_count == OKNO_NOTIFIER_UNRECORDED_MAX) {
        okno_log_warn("a sent mail's record failed and too many wait already: it may go out "
                      "again (same Message-ID)",
                      OKNO_LOG_STR("notification", id));
        return;
    }
    snprintf(n->unrecorded[n->unrecorded_count++], sizeof n->unrecorded[0], "%s", id);
}

/* Records the mails this process sent whose `sent` the database missed, before it claims any:
 * a mail another notifier has sent or failed since is left as it is. */
static int record_unrecorded(okno_notifier *n)
{
    if (n->unrecorded_count == 0)
        return OKNO_OK;
    char ids[OKNO_NOTIFIER_UNRECORDED_MAX * 37 + 3];
    size_t len = 0;
    ids[len++] = '{';
    for (int i = 0; i < n->unrecorded_count; i++)
        len +=
            (size_t)snprintf(ids + len, sizeof ids - len, "%s%s", i ? "," : "", n->unrecorded[i]);
    snprintf(ids + len, sizeof ids - len, "}");
    const char *params[1] = {ids};
    PGresult *res = NULL;
    int rc = run(n, SENT_LATE_SQL, 1, params, &res);
    if (rc != OKNO_OK)
        return rc;
    uint64_t rows = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    n->stats.mails_recorded_late += rows;
    okno_log_info("sent mails recorded after the database link came back",
                  OKNO_LOG_INT("mails", n->unrecorded_count),
                  OKNO_LOG_INT("recorded", (int64_t)rows));
    n->unrecorded_count = 0;
    return OKNO_OK;
}

/* Sends row i of due; returns false when the server could not be reached (stop the step). */
static bool send_row(okno_notifier *n, const PGresult *due, int i, int64_t now_ms, int *rc)
{
    const char *id = PQgetvalue(due, i, 0);
    int64_t claimed_at = okno_clock_monotonic_ms();
    bool claimed = false;
    if ((*rc = claim(n, id, &claimed)) != OKNO_OK)
        return false;
    if (!claimed)
        return true; /* another notifier claimed or sent it since the due list was read */
    fault_stop_before_send(n, id);
    if (okno_clock_monotonic_ms() - claimed_at > OKNO_NOTIFIER_CLAIM_SEND_WINDOW_MS) {
        /* Stalled past the window: the claim may lapse during the exchange and another
         * notifier send it too. Not sent; whoever leads when the claim lapses sends it. */
        n->stats.mails_fenced++;
        okno_log_warn("a mail's claim is too old to send it: not sent, left to the leader",
                      OKNO_LOG_STR("notification", id),
                      OKNO_LOG_INT("claimed_ms_ago", okno_clock_monotonic_ms() - claimed_at));
        snprintf(n->error, sizeof n->error, "stalled after claiming mail %s: not sent", id);
        *rc = OKNO_ECONFLICT;
        return false;
    }
    const char *note = PQgetisnull(due, i, 5) ? NULL : PQgetvalue(due, i, 5);
    char subject[OKNO_NOTICE_SUBJECT_BYTES + 32], message_id[128], reply[OKNO_MAIL_REPLY_BYTES];
    snprintf(subject, sizeof subject, "%s%s", note ? "[неактуально] " : "", PQgetvalue(due, i, 3));
    const char *domain = strchr(n->cfg.mail_cfg.from, '@') + 1;
    snprintf(message_id, sizeof message_id, "%s@%s", id, domain);
    char *body = mail_body(PQgetvalue(due, i, 2), note, PQgetvalue(due, i, 4));
    if (body == NULL) {
        *rc = OKNO_ENOMEM;
        return false;
    }
    okno_mail mail = {.to = PQgetvalue(due, i, 1),
                      .to_name = PQgetvalue(due, i, 2),
                      .subject = subject,
                      .body = body,
                      .message_id = message_id,
                      .date_ms = strtoll(PQgetvalue(due, i, 7), NULL, 10)};
    okno_mail_attachment file = {PQgetvalue(due, i, 8), PQgetvalue(due, i, 9),
                                 PQgetvalue(due, i, 10), (size_t)PQgetlength(due, i, 10)};
    if (!PQgetisnull(due, i, 10))
        mail.attachment = &file;
    okno_mail_verdict v = okno_mailer_send(&n->mailer, &mail, reply);
    free(body);
    char next[24];
    int attempts = atoi(PQgetvalue(due, i, 6)) + 1;
    snprintf(next, sizeof next, "%" PRId64, now_ms + backoff(&n->cfg, attempts));
    const char *params[3] = {id, reply, next};
    if (v == OKNO_MAIL_SENT) {
        n->stats.mails_sent++;
        *rc = run(n, SENT_SQL, 1, params, NULL);
        if (*rc != OKNO_OK)
            remember_unrecorded(n, id);
        return *rc == OKNO_OK;
    }
    if (v == OKNO_MAIL_REFUSED) {
        n->stats.mails_failed++;
        *rc = run(n, FAILED_SQL, 2, params, NULL);
        return *rc == OKNO_OK;
    }
    n->stats.mails_retried++;
    *rc = run(n, RETRY_SQL, 3, params, NULL);
    snprintf(n->error, sizeof n->error, "mail to the relay: %.400s", reply);
    return false;
}

int okno_notifier_step_mail(okno_notifier *n, int64_t now_ms, size_t *tried)
{
    *tried = 0;
    if (!n->mailer_ready || now_ms < n->server_retry_at_ms)
        return OKNO_OK;
    if (n->tail.conn == NULL || !n->tail.leader)
        return OKNO_OK; /* the log step connects and leads first */
    int rc = record_unrecorded(n);
    if (rc != OKNO_OK)
        return rc;
    char now[24], limit[16];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(limit, sizeof limit, "%d", n->cfg.mail_batch);
    const char *params[2] = {now, limit};
    PGresult *due;
    rc = run(n, DUE_SQL, 2, params, &due);
    if (rc != OKNO_OK)
        return rc;
    bool reachable = true;
    for (int i = 0; reachable && i < PQntuples(due); i++) {
        reachable = send_row(n, due, i, now_ms, &rc);
        (*tried)++;
    }
    PQclear(due);
    if (rc != OKNO_OK)
        return rc;
    if (reachable) {
        n->server_backoff_ms = 0;
        return OKNO_OK;
    }
    /* The relay is down or refusing for now: wait before the next attempt, longer each time. */
    n->server_backoff_ms =
        n->server_backoff_ms == 0 ? n->cfg.mail_backoff_ms : n->server_backoff_ms * 2;
    if (n->server_backoff_ms > n->cfg.mail_backoff_max_ms)
        n->server_backoff_ms = n->cfg.mail_backoff_max_ms;
    n->server_retry_at_ms = now_ms + n->server_backoff_ms;
    return OKNO_EIO;
}

static int produce_row(okno_notifier *n, const PGresult *res, int i, bool *acked)
{
    okno_avro_notification rec = {0};
    okno_uuid_parse(PQgetvalue(res, i, 0), 36, &rec.notification_id);
    rec.recipient_user_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    okno_notification_kind_parse(okno_str_c(PQgetvalue(res, i, 2)), &rec.kind);
    bool about_message = !PQgetisnull(res, i, 3);
    if (about_message)
        okno_uuid_parse(PQgetvalue(res, i, 3), 36, &rec.message_id);
    rec.text = okno_str_c(PQgetvalue(res, i, 4));
    rec.created_ms = strtoll(PQgetvalue(res, i, 5), NULL, 10);
    rec.cause = okno_str_c(PQgetvalue(res, i, 6));
    rec.subject = okno_str_c(PQgetvalue(res, i, 7));
    /* The key: the message id (its notices stay in order with its events' partition), or the
     * recipient for a notice about no single message. */
    const char *key = about_message ? PQgetvalue(res, i, 3) : PQgetvalue(res, i, 1);
    static uint8_t buf[OKNO_NOTICE_BODY_BYTES + 256];
    size_t len;
    okno_avro_error aerr = {0};
    if (okno_avro_encode(OKNO_AVRO_NOTIFICATIONS, &rec, buf, sizeof buf, &len, &aerr) != 0) {
        snprintf(n->error, sizeof n->error, "encode notification: %s", aerr.reason);
        return OKNO_EINVAL;
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        n->producer, RD_KAFKA_V_TOPIC(n->cfg.topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(acked), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(n->error, sizeof n->error, "produce: %s", rd_kafka_err2str(err));
        return OKNO_EKAFKA;
    }
    return OKNO_OK;
}

int okno_notifier_step_publish(okno_notifier *n, size_t *published)
{
    *published = 0;
    if (n->producer == NULL || n->tail.conn == NULL || !n->tail.leader)
        return OKNO_OK;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", n->cfg.publish_batch);
    const char *params[1] = {limit};
    PGresult *res = NULL;
    int rc = run(n, UNPUBLISHED_SQL, 1, params, &res);
    if (rc != OKNO_OK)
        return rc;
    int count = PQntuples(res);
    bool *acked = calloc((size_t)count + 1, sizeof *acked);
    int produced = 0;
    for (int i = 0; acked != NULL && rc == OKNO_OK && i < count; i++, produced++)
        rc = produce_row(n, res, i, &acked[i]);
    rd_kafka_flush(n->producer, (int)n->cfg.publish_timeout_ms);
    /* Every record produced has had its report by now, or flush timed out and those not
     * acknowledged stay unpublished (their report, when it comes, writes into acked: purge). */
    rd_kafka_purge(n->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    /* The purged records' reports (errors) are served before acked is freed. */
    for (int i = 0; i < PURGE_POLLS_MAX && rd_kafka_outq_len(n->producer) > 0; i++)
        rd_kafka_poll(n->producer, 10);
    rd_kafka_poll(n->producer, 0);
    size_t cap = (size_t)count * 40 + 3, len = 0;
    char *ids = acked != NULL ? malloc(cap) : NULL;
    if (ids != NULL) {
        ids[len++] = '{';
        for (int i = 0; i < produced; i++)
            if (acked[i]) {
                len += (size_t)snprintf(ids + len, cap - len, "%s%s", *published ? "," : "",
                                        PQgetvalue(res, i, 0));
                (*published)++;
            }
        snprintf(ids + len, cap - len, "}");
    }
    const char *up[1] = {ids};
    if (ids != NULL && *published > 0 && rc == OKNO_OK)
        rc = run(n, PUBLISHED_SQL, 1, up, NULL);
    n->stats.published += rc == OKNO_OK ? *published : 0;
    free(ids);
    free(acked);
    PQclear(res);
    return acked == NULL ? OKNO_ENOMEM : rc;
}
