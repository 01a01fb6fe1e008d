/* Fault requests (SPEC V) mailed to the situation center: every row of okno.fault_requests that
 * has no notification yet becomes one, recipient 0 (the configured address notifier.fault_mail_to,
 * no person), cause "fault:<fault_id>"; the unique (recipient, cause) records it once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notice.h"
#include "notifier.h"
#include "okno/error.h"
#include "okno/uuid.h"

/* The requests not recorded yet, oldest first: one probe of the unique index a request. */
static const char PENDING_SQL[] =
    "select f.fault_id, (extract(epoch from f.submitted_at) * 1000)::int8, f.full_name,"
    " f.position, f.email, f.organization, f.description from okno.fault_requests f"
    " where not exists (select 1 from okno.notifications n where n.recipient_user_id = 0"
    " and n.cause = 'fault:' || f.fault_id) order by f.fault_id limit $1::int4";
static const char RECORD_SQL[] =
    "insert into okno.notifications (notification_id, recipient_user_id, cause, kind, email,"
    " subject, body, event_at) values ($1::uuid, 0, $2, 'fault_request', $3, $4, $5,"
    " to_timestamp($6::int8 / 1000.0)) on conflict (recipient_user_id, cause) do nothing";

#define FAULTS_PER_STEP "100"
#define FAULTS_EVERY_MS 1000 /* requests are people's: a second's delay is nothing */

/* Row i of PENDING_SQL as the notification's cause, subject and (malloc'd) body. */
static int compose(const PGresult *res, int i, char cause[OKNO_NOTICE_CAUSE_BYTES],
                   char subject[512], char **body)
{
    const char *id = PQgetvalue(res, i, 0);
    char at[OKNO_NOTICE_TIME_BYTES];
    okno_notice_format_time(strtoll(PQgetvalue(res, i, 1), NULL, 10), at);
    snprintf(cause, OKNO_NOTICE_CAUSE_BYTES, "fault:%s", id);
    snprintf(subject, 512, "Заявка о неисправности № %s от %s: %.300s", id, at,
             PQgetvalue(res, i, 5));
    size_t len = 0;
    FILE *f = open_memstream(body, &len);
    if (f == NULL)
        return OKNO_ENOMEM;
    fprintf(f,
            "Поступила заявка о неисправности (раздел V регламента) № %s от %s.\n\n"
            "ФИО: %s\nДолжность: %s\nАдрес электронной почты: %s\nОрганизация: %s\n\n"
            "Описание неисправности:\n%s\n",
            id, at, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
            PQgetvalue(res, i, 5), PQgetvalue(res, i, 6));
    return fclose(f) == 0 ? OKNO_OK : OKNO_ENOMEM;
}

int okno_notifier_step_faults(okno_notifier *n, int64_t now_ms, size_t *made)
{
    *made = 0;
    if (n->cfg.fault_mail_to == NULL || n->cfg.fault_mail_to[0] == '\0' || n->tail.conn == NULL ||
        !n->tail.leader || now_ms < n->faults_next_ms)
        return OKNO_OK;
    n->faults_next_ms = now_ms + FAULTS_EVERY_MS;
    const char *limit = FAULTS_PER_STEP;
    PGresult *res = PQexecParams(n->tail.conn, PENDING_SQL, 1, NULL, &limit, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(n->error, sizeof n->error, "fault requests: %s", PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EPG;
    }
    int rc = OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++) {
        char cause[OKNO_NOTICE_CAUSE_BYTES], subject[512], nid[OKNO_UUID_TEXT_BYTES];
        char *body = NULL;
        rc = compose(res, i, cause, subject, &body);
        if (rc != OKNO_OK) {
            free(body);
            break;
        }
        okno_uuid id;
        okno_notifier_notification_id(0, cause, &id);
        okno_uuid_format(&id, nid);
        const char *params[6] = {nid,     cause, n->cfg.fault_mail_to,
                                 subject, body,  PQgetvalue(res, i, 1)};
        PGresult *ins = PQexecParams(n->tail.conn, RECORD_SQL, 6, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(ins) == PGRES_COMMAND_OK) {
            *made += strtoull(PQcmdTuples(ins), NULL, 10);
        } else {
            snprintf(n->error, sizeof n->error, "fault request %s: %s", PQgetvalue(res, i, 0),
                     PQresultErrorMessage(ins));
            rc = OKNO_EPG;
        }
        PQclear(ins);
        free(body);
    }
    PQclear(res);
    return rc;
}
