/* The notifier's core: the event log into notifications (exactly once per recipient and cause),
 * then mail and Kafka. The argument is in README.md. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "notice.h"
#include "notifier.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/kafka.h"
#include "okno/pgbin.h"
#include "okno/uuid.h"

static const char CURSOR_SQL[] =
    "insert into okno.notifier_cursor (name) values ($1) on conflict do nothing;";
static const char STAGE_SQL[] =
    "create temporary table if not exists notifier_stage (notification_id uuid,"
    " recipient_user_id bigint, cause text, kind text, message_id uuid, message_seq int,"
    " stage text, email text, subject text, body text, event_at timestamptz)"
    " on commit delete rows;"
    "create temporary table if not exists notifier_moved (message_id uuid, seq int, note text)"
    " on commit delete rows";
static const char BEGIN_SQL[] =
    "select cursor_tx::text, cursor_position from okno.notifier_cursor where name = $1"
    " for update";
/* The log tail's horizon rule: nothing can ever appear below it later, so the cursor skips
 * nothing. */
static const char EVENTS_SQL[] = "select message_id, seq, body, tx::text as tx_text, position"
                                 " from okno.event_log" OKNO_LOGTAIL_BELOW_HORIZON;
/* A message's events up to a seq, to rebuild its state when it is not cached. */
static const char HISTORY_SQL[] =
    "select l.message_id, l.seq, l.body from okno.event_log l"
    " join unnest($1::uuid[], $2::int4[]) w(id, upto) on l.message_id = w.id and l.seq <= w.upto"
    " order by l.message_id, l.seq";
static const char INSERT_SQL[] =
    "insert into okno.notifications (notification_id, recipient_user_id, cause, kind,"
    " message_id, message_seq, stage, email, subject, body, event_at, mail_state)"
    " select s.notification_id, s.recipient_user_id, s.cause, s.kind, s.message_id,"
    " s.message_seq, s.stage, coalesce(s.email, p.email), s.subject, s.body, s.event_at,"
    " case when coalesce(s.email, p.email) is null then 'no_address' else 'pending' end"
    " from notifier_stage s left join okno.people p on p.user_id = s.recipient_user_id"
    " order by s.recipient_user_id, s.cause"
    " on conflict (recipient_user_id, cause) do nothing";
/* A pending worker's notice says the message moved on (the first move after it). One join of
 * the batch's moves with the pending worker notices of their messages (the partial index
 * notifications_message), not a scan of the moves per notice. */
static const char MOVED_SQL[] =
    "update okno.notifications n set moved_on_note = f.note"
    " from (select distinct on (p.notification_id) p.notification_id, m.note"
    "   from notifier_moved m join okno.notifications p on p.message_id = m.message_id"
    "    and p.message_seq < m.seq"
    "   where p.mail_state = 'pending' and p.stage is not null and p.moved_on_note is null"
    "   order by p.notification_id, m.seq) f"
    " where n.notification_id = f.notification_id";
static const char COMMIT_SQL[] =
    "update okno.notifier_cursor set cursor_tx = $2::xid8, cursor_position = $3::int8,"
    " events_read = events_read + $4::int8, updated_at = now() where name = $1";

/* The batch's rows for COPY, in COPY's text format. */
typedef struct stage_buf {
    char *notices;
    size_t notices_len, notices_cap;
    char *moved;
    size_t moved_len, moved_cap;
    char *ids, *uptos; /* HISTORY_SQL's arrays as text */
    size_t ids_len, ids_cap, uptos_len, uptos_cap;
    size_t history; /* messages in ids */
    bool failed;
} stage_buf;

static int fail(okno_notifier *n, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->error, sizeof n->error, fmt, ap);
    va_end(ap);
    return code;
}

static void append(stage_buf *s, char **p, size_t *len, size_t *cap, const char *src, size_t k)
{
    if (s->failed)
        return;
    if (*len + k + 1 > *cap) {
        size_t c = *cap ? *cap : 65536;
        while (c < *len + k + 1)
            c *= 2;
        char *q = realloc(*p, c);
        if (q == NULL) {
            s->failed = true;
            return;
        }
        *p = q;
        *cap = c;
    }
    memcpy(*p + *len, src, k);
    *len += k;
    (*p)[*len] = '\0';
}

/* One COPY text field: backslash, tab, newline and carriage return escaped; NULL is \N. */
static void field(stage_buf *s, char **p, size_t *len, size_t *cap, const char *v, bool last)
{
    if (v == NULL) {
        append(s, p, len, cap, "\\N", 2);
    } else {
        const char *run = v;
        for (; *v; v++) {
            const char *esc = *v == '\\'   ? "\\\\"
                              : *v == '\t' ? "\\t"
                              : *v == '\n' ? "\\n"
                              : *v == '\r' ? "\\r"
                                           : NULL;
            if (esc == NULL)
                continue;
            append(s, p, len, cap, run, (size_t)(v - run));
            append(s, p, len, cap, esc, 2);
            run = v + 1;
        }
        append(s, p, len, cap, run, (size_t)(v - run));
    }
    append(s, p, len, cap, last ? "\n" : "\t", 1);
}

void okno_notifier_config_init(okno_notifier_config *cfg)
{
    *cfg = (okno_notifier_config){
        .name = "default",
        .batch_events = OKNO_NOTIFIER_BATCH_EVENTS_DEFAULT,
        .cache_entries_max = OKNO_NOTIFIER_CACHE_DEFAULT,
        .mail_batch = 100,
        .mail_backoff_ms = 1000,
        .mail_backoff_max_ms = 300000,
        .topic = "okno.notifications.v1",
        .publish_batch = 1000,
        .publish_timeout_ms = 10000,
        .digest = true,
        .weekly = true,
        .digest_hour = 8,
        .digest_schema = "okno_rm",
        .mail_cfg = {.timeout_ms = 10000, .tls_verify = true},
    };
}

int64_t okno_notifier_lease_ms(const okno_notifier_config *cfg)
{
    int64_t idle = cfg->mail_cfg.timeout_ms > cfg->publish_timeout_ms ? cfg->mail_cfg.timeout_ms
                                                                      : cfg->publish_timeout_ms;
    return OKNO_LOGTAIL_SESSION_TIMEOUT_MS + idle;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    /* The row's "published" flag is set only for acknowledged records (the opaque is the
     * caller's per-record flag). */
    if (m->_private != NULL)
        *(bool *)m->_private = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static int producer_start(okno_notifier *n, rd_kafka_conf_t *conf)
{
    char err[256];
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    n->producer = okno_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    return n->producer != NULL ? OKNO_OK : fail(n, OKNO_ECONFIG, "kafka producer: %s", err);
}

int okno_notifier_init(okno_notifier *n, const okno_notifier_config *cfg,
                       rd_kafka_conf_t *kafka_conf)
{
    *n = (okno_notifier){.cfg = *cfg};
    if (cfg->batch_events < 1 || cfg->batch_events > OKNO_NOTIFIER_BATCH_EVENTS_MAX ||
        cfg->mail_batch < 1 || cfg->mail_batch > OKNO_NOTIFIER_MAIL_BATCH_MAX ||
        cfg->publish_batch < 1 || cfg->publish_batch > OKNO_NOTIFIER_PUBLISH_BATCH_MAX ||
        cfg->name == NULL || strlen(cfg->name) == 0 ||
        strlen(cfg->name) >= OKNO_NOTIFIER_NAME_BYTES) {
        if (kafka_conf != NULL)
            rd_kafka_conf_destroy(kafka_conf);
        return fail(n, OKNO_ECONFIG, "notifier: a batch size or the name is out of range");
    }
    const char *to = cfg->fault_mail_to;
    if (to != NULL && to[0] != '\0' &&
        (strlen(to) > 254 || strchr(to, '@') == NULL || strpbrk(to, " \t\r\n<>,;\"") != NULL)) {
        if (kafka_conf != NULL)
            rd_kafka_conf_destroy(kafka_conf);
        return fail(n, OKNO_ECONFIG, "notifier.fault_mail_to is not an e-mail address");
    }
    if (cfg->mail) {
        int rc = okno_mailer_init(&n->mailer, &cfg->mail_cfg, n->error, sizeof n->error);
        n->mailer_ready = rc == OKNO_OK;
        if (rc != OKNO_OK) {
            if (kafka_conf != NULL)
                rd_kafka_conf_destroy(kafka_conf);
            return rc;
        }
    }
    if (kafka_conf != NULL && producer_start(n, kafka_conf) != OKNO_OK)
        return OKNO_ECONFIG;
    if (okno_logtail_init(&n->tail, cfg->pg_keywords, cfg->pg_values,
                          "okno.notifier:", cfg->name) != OKNO_OK)
        return fail(n, OKNO_ECONFIG, "notifier.name is too long");
    /* The leader lock's lease: longer than a running leader is ever idle, so only a stalled
     * (or cut off) leader loses its session, and with it the lock. */
    n->tail.session_timeout_ms = okno_notifier_lease_ms(cfg);
    n->stage = calloc(1, sizeof(stage_buf));
    if (n->stage == NULL || okno_proj_store_init(&n->cache, 1024) != 0)
        return fail(n, OKNO_ENOMEM, "out of memory");
    okno_avro_error aerr = {0};
    if (okno_avro_init(&aerr) != 0)
        return fail(n, OKNO_EINVAL, "Avro schemas: %s", aerr.reason);
    return OKNO_OK;
}

static void pg_stop(okno_notifier *n)
{
    okno_logtail_stop(&n->tail);
    n->prepared = false;
}

static int pg_failed(okno_notifier *n, const char *what, PGresult *res)
{
    snprintf(n->error, sizeof n->error, "%s: %s", what,
             res != NULL && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                         : PQerrorMessage(n->tail.conn));
    PQclear(res);
    if (PQstatus(n->tail.conn) != CONNECTION_OK)
        pg_stop(n);
    return OKNO_EPG;
}

static int exec_params(okno_notifier *n, const char *what, const char *sql, int count,
                       const char *const *params, ExecStatusType want, PGresult **out)
{
    PGresult *res = PQexecParams(n->tail.conn, sql, count, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want)
        return pg_failed(n, what, res);
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return OKNO_OK;
}

/* Connects, becomes the one active notifier of its name (the log tail's leader lock), makes
 * sure its cursor row and staging tables exist. */
static int pg_start(okno_notifier *n)
{
    int rc = okno_logtail_start(&n->tail, n->error, sizeof n->error);
    if (rc == OKNO_ECONFLICT)
        return fail(n, OKNO_ECONFLICT, "another notifier named %s is active", n->cfg.name);
    if (rc != OKNO_OK) {
        pg_stop(n);
        return rc;
    }
    if (n->prepared)
        return OKNO_OK;
    const char *params[1] = {n->cfg.name};
    rc = exec_params(n, "cursor row", CURSOR_SQL, 1, params, PGRES_COMMAND_OK, NULL);
    if (rc != OKNO_OK)
        return rc;
    PGresult *res = PQexec(n->tail.conn, STAGE_SQL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_failed(n, "staging tables", res);
    PQclear(res);
    n->prepared = true;
    return OKNO_OK;
}

/* The notification's id: a UUIDv8 from SHA-256 of (recipient, cause), so the same notice
 * always has the same id, row, Kafka key and Message-ID. */
void okno_notifier_notification_id(okno_user_id recipient, const char *cause, okno_uuid *out)
{
    char text[OKNO_NOTICE_CAUSE_BYTES + 32];
    int k = snprintf(text, sizeof text, "%" PRId64 "|%s", (int64_t)recipient, cause);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(text, (size_t)k, md, &mdlen, EVP_sha256(), NULL);
    memcpy(out->bytes, md, 16);
    out->bytes[6] = (uint8_t)((out->bytes[6] & 0x0f) | 0x80);
    out->bytes[8] = (uint8_t)((out->bytes[8] & 0x3f) | 0x80);
}

static void format_ts(int64_t ms, char out[64])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 64, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Keeps what the notices need beyond the state: the current answer text (the card's rule) and,
 * in the entry's message_text slot, the applicant's e-mail address given at submission
 * (Submit v2), when they gave one. */
static int keep_texts(okno_proj_entry *e, const okno_message_state *before, const okno_event *ev)
{
    if (ev->type == OKNO_EVENT_MESSAGE_SUBMITTED &&
        okno_proj_entry_set_text(&e->message_text, ev->applicant_email.ptr,
                                 ev->applicant_email.len) != OKNO_OK)
        return OKNO_ENOMEM;
    return okno_proj_follow_answer_text(&e->answer_text, before, &e->m.state, ev);
}

/* Whether a worker's notice of the message was made since its last move: only then can a move
 * leave a pending notice to mark moved on, so only then is the move staged (most moves are not,
 * which spares their rows and the update). Kept in the entry's from_seq, the projector's batch
 * fence, which the notifier does not use otherwise; rebuilt with the state whenever the entry is
 * folded from the log's history, so it is exact after a restart or a rewind. */
#define NOTICE_SINCE_MOVE(e) ((e)->from_seq)

/* A notice of a worker (a row with a stage, which a later move makes stale). */
static bool worker_notice(const okno_message_state *before, const okno_notice *o)
{
    return o->stage != OKNO_STAGE_NONE && o->kind != OKNO_NOTIFY_MESSAGE_REJECTED &&
           before->applicant_id != o->recipient;
}

/* The flag across one folded event: a move clears it (its note goes out if it was set), a
 * worker's notice of the event sets it. Returns whether the move must be staged. */
static bool track_move(okno_proj_entry *e, const okno_message_state *before, const okno_event *ev,
                       bool worker, char note[OKNO_NOTICE_NOTE_BYTES])
{
    bool staged = NOTICE_SINCE_MOVE(e) && okno_notice_moved_on(before, ev, &e->m.state, note);
    if (staged)
        NOTICE_SINCE_MOVE(e) = 0;
    if (worker)
        NOTICE_SINCE_MOVE(e) = 1;
    return staged;
}

static int fold(okno_notifier *n, okno_proj_entry *e, const okno_event *ev, const char *id_text)
{
    okno_message_state before = e->m.state;
    if (okno_workflow_apply(&e->m.state, ev) != OKNO_OK)
        return fail(n, OKNO_EINVAL, "message %s seq %" PRIu64 " does not fold on seq %" PRIu64,
                    id_text, ev->seq, before.last_seq);
    if (keep_texts(e, &before, ev) != OKNO_OK)
        return fail(n, OKNO_ENOMEM, "out of memory");
    return OKNO_OK;
}

static int decode(okno_notifier *n, const PGresult *rows, int i, okno_event *ev, char id[37])
{
    okno_avro_error aerr = {0};
    okno_eventlog_uuid_text((const uint8_t *)PQgetvalue(rows, i, 0), id);
    int32_t seq = okno_pgbin_get_i32(PQgetvalue(rows, i, 1));
    if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, (const uint8_t *)PQgetvalue(rows, i, 2),
                               (size_t)PQgetlength(rows, i, 2), ev, &aerr) != 0)
        return fail(n, OKNO_EINVAL, "message %s seq %d: undecodable body: %s", id, seq,
                    aerr.reason);
    if (ev->seq != (uint64_t)seq || memcmp(ev->message_id.bytes, PQgetvalue(rows, i, 0), 16) != 0)
        return fail(n, OKNO_EINVAL, "message %s seq %d: the body names another event", id, seq);
    return OKNO_OK;
}

/* First pass over a batch: each message's entry must hold its state just before the batch's
 * first event of it; those that do not (not cached, or cached further on after a rewind) are
 * reset and queued for HISTORY_SQL. */
static int plan_history(okno_notifier *n, const PGresult *rows, stage_buf *s)
{
    s->ids_len = s->uptos_len = s->history = 0;
    n->batch_no = n->batch_no == INT32_MAX ? 1 : n->batch_no + 1;
    for (int i = 0; i < PQntuples(rows); i++) {
        okno_uuid id;
        memcpy(id.bytes, PQgetvalue(rows, i, 0), 16);
        int32_t seq = okno_pgbin_get_i32(PQgetvalue(rows, i, 1));
        okno_proj_entry *e = okno_proj_store_find(&n->cache, &id);
        if (e == NULL && (e = okno_proj_store_add(&n->cache, &id)) == NULL)
            return fail(n, OKNO_ENOMEM, "out of memory");
        if (e->dirty == n->batch_no)
            continue;
        e->dirty = n->batch_no;
        if (e->m.state.last_seq + 1 == (uint64_t)seq)
            continue;
        memset(&e->m, 0, sizeof e->m);
        NOTICE_SINCE_MOVE(e) = 0;
        e->m.state.message_id = id; /* the store's key lives in the state */
        okno_proj_entry_set_text(&e->answer_text, NULL, 0);
        if (seq == 1)
            continue;
        char text[OKNO_UUID_TEXT_BYTES + 1], upto[16];
        okno_uuid_format(&id, text);
        snprintf(upto, sizeof upto, "%d", seq - 1);
        const char *sep = s->history ? "," : "{";
        append(s, &s->ids, &s->ids_len, &s->ids_cap, sep, 1);
        append(s, &s->ids, &s->ids_len, &s->ids_cap, text, strlen(text));
        append(s, &s->uptos, &s->uptos_len, &s->uptos_cap, sep, 1);
        append(s, &s->uptos, &s->uptos_len, &s->uptos_cap, upto, strlen(upto));
        s->history++;
    }
    append(s, &s->ids, &s->ids_len, &s->ids_cap, "}", 1);
    append(s, &s->uptos, &s->uptos_len, &s->uptos_cap, "}", 1);
    return s->failed ? fail(n, OKNO_ENOMEM, "out of memory") : OKNO_OK;
}

static int load_history(okno_notifier *n, stage_buf *s)
{
    if (s->history == 0)
        return OKNO_OK;
    const char *params[2] = {s->ids, s->uptos};
    PGresult *res = PQexecParams(n->tail.conn, HISTORY_SQL, 2, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_failed(n, "message history", res);
    int rc = OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++) {
        okno_event ev;
        char id[37];
        rc = decode(n, res, i, &ev, id);
        okno_proj_entry *e = rc == OKNO_OK ? okno_proj_store_find(&n->cache, &ev.message_id) : NULL;
        if (rc != OKNO_OK || e == NULL) {
            rc = rc != OKNO_OK ? rc : fail(n, OKNO_EINVAL, "history of %s", id);
            break;
        }
        okno_message_state before = e->m.state;
        rc = fold(n, e, &ev, id);
        okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
        bool worker = false;
        for (size_t k = 0, count = okno_notice_for_event(&before, &ev, out); k < count; k++)
            worker = worker || worker_notice(&before, &out[k]);
        char note[OKNO_NOTICE_NOTE_BYTES];
        track_move(e, &before, &ev, worker, note);
    }
    PQclear(res);
    return rc;
}

static char *org_name(okno_notifier *n, okno_org_id org)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, (int64_t)org);
    const char *params[1] = {id};
    PGresult *res = NULL;
    if (exec_params(n, "org name", "select name from okno.orgs where org_id = $1::int8", 1, params,
                    PGRES_TUPLES_OK, &res) != OKNO_OK)
        return NULL;
    char *name = PQntuples(res) == 1 ? strdup(PQgetvalue(res, 0, 0)) : strdup("");
    PQclear(res);
    return name;
}

/* The notices of one event as staging rows. */
static int stage_notices(okno_notifier *n, stage_buf *s, const okno_message_state *before,
                         const okno_event *ev, okno_proj_entry *e, const char *answer,
                         const char *id_text, bool *worker)
{
    okno_notice out[OKNO_NOTICE_RECIPIENTS_MAX];
    size_t count = okno_notice_for_event(before, ev, out);
    for (size_t i = 0; i < count; i++)
        *worker = *worker || worker_notice(before, &out[i]);
    if (count == 0)
        return OKNO_OK;
    okno_notice_context ctx = {.answer_text = answer};
    char *org = NULL;
    if (out[0].kind == OKNO_NOTIFY_MESSAGE_REDIRECTED) {
        org = org_name(n, ev->target_org_id ? ev->target_org_id : before->redirect_org_id);
        if (org == NULL)
            return OKNO_EPG;
        ctx.org_name = org;
    }
    static char subject[OKNO_NOTICE_SUBJECT_BYTES], body[OKNO_NOTICE_BODY_BYTES];
    char cause[OKNO_NOTICE_CAUSE_BYTES], nid[OKNO_UUID_TEXT_BYTES], rcpt[24], seq[16], at[64];
    okno_notice_cause(ev, cause);
    snprintf(seq, sizeof seq, "%" PRIu64, ev->seq);
    format_ts(ev->at_ms, at);
    for (size_t i = 0; i < count; i++) {
        if (okno_notice_text(&out[i], ev, &e->m.state, &ctx, subject, body) != OKNO_OK)
            continue;
        okno_uuid id;
        okno_notifier_notification_id(out[i].recipient, cause, &id);
        okno_uuid_format(&id, nid);
        snprintf(rcpt, sizeof rcpt, "%" PRId64, (int64_t)out[i].recipient);
        /* Only a worker's notice has a stage (the applicant's never go stale). */
        const char *stage = worker_notice(before, &out[i]) ? okno_stage_name(out[i].stage) : NULL;
        /* The applicant's address given at submission wins over the directory's. */
        const char *email = before->applicant_id == out[i].recipient ? e->message_text : NULL;
        const char *v[] = {nid,     rcpt, cause, okno_notification_kind_name(out[i].kind),
                           id_text, seq,  stage, email,
                           subject, body, at};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
            field(s, &s->notices, &s->notices_len, &s->notices_cap, v[k], k + 1 == 11);
        n->stats.notices++;
    }
    free(org);
    return s->failed ? fail(n, OKNO_ENOMEM, "out of memory") : OKNO_OK;
}

static int apply_rows(okno_notifier *n, const PGresult *rows, stage_buf *s)
{
    for (int i = 0; i < PQntuples(rows); i++) {
        okno_event ev;
        char id[37];
        int rc = decode(n, rows, i, &ev, id);
        okno_proj_entry *e = rc == OKNO_OK ? okno_proj_store_find(&n->cache, &ev.message_id) : NULL;
        if (rc != OKNO_OK)
            return rc;
        okno_message_state before = e->m.state;
        /* The answer an approval sends: its own edit, else the draft as it stood before it
         * (an interim answer's approval clears the draft from the state). */
        char *answer = NULL;
        if (ev.type == OKNO_EVENT_APPROVAL_GIVEN)
            answer = ev.text.len > 0 ? strndup(ev.text.ptr, ev.text.len)
                                     : strdup(e->answer_text != NULL ? e->answer_text : "");
        if (ev.type == OKNO_EVENT_APPROVAL_GIVEN && answer == NULL)
            return fail(n, OKNO_ENOMEM, "out of memory");
        bool worker = false;
        if ((rc = fold(n, e, &ev, id)) == OKNO_OK)
            rc = stage_notices(n, s, &before, &ev, e, answer, id, &worker);
        free(answer);
        if (rc != OKNO_OK)
            return rc;
        char note[OKNO_NOTICE_NOTE_BYTES], seq[16];
        if (track_move(e, &before, &ev, worker, note)) {
            snprintf(seq, sizeof seq, "%" PRIu64, ev.seq);
            field(s, &s->moved, &s->moved_len, &s->moved_cap, id, false);
            field(s, &s->moved, &s->moved_len, &s->moved_cap, seq, false);
            field(s, &s->moved, &s->moved_len, &s->moved_cap, note, true);
        }
    }
    return s->failed ? fail(n, OKNO_ENOMEM, "out of memory") : OKNO_OK;
}

static int copy_in(okno_notifier *n, const char *table, const char *data, size_t len)
{
    if (len == 0)
        return OKNO_OK;
    char sql[128];
    snprintf(sql, sizeof sql, "copy %s from stdin", table);
    PGresult *res = PQexec(n->tail.conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN)
        return pg_failed(n, "copy", res);
    PQclear(res);
    if (PQputCopyData(n->tail.conn, data, (int)len) != 1 || PQputCopyEnd(n->tail.conn, NULL) != 1)
        return pg_failed(n, "copy data", NULL);
    res = PQgetResult(n->tail.conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_failed(n, "copy end", res);
    PQclear(res);
    while ((res = PQgetResult(n->tail.conn)) != NULL)
        PQclear(res);
    return OKNO_OK;
}

static int write_batch(okno_notifier *n, stage_buf *s, const PGresult *rows)
{
    int rc = copy_in(n, "notifier_stage", s->notices, s->notices_len);
    if (rc == OKNO_OK)
        rc = copy_in(n, "notifier_moved", s->moved, s->moved_len);
    PGresult *res = NULL;
    if (rc == OKNO_OK && s->notices_len > 0) {
        rc = exec_params(n, "insert notifications", INSERT_SQL, 0, NULL, PGRES_COMMAND_OK, &res);
        if (rc == OKNO_OK) {
            n->stats.recorded += strtoull(PQcmdTuples(res), NULL, 10);
            PQclear(res);
        }
    }
    if (rc == OKNO_OK && s->moved_len > 0)
        rc = exec_params(n, "moved on", MOVED_SQL, 0, NULL, PGRES_COMMAND_OK, NULL);
    okno_log_cursor last;
    okno_log_cursor_set_row(&last, rows, PQntuples(rows) - 1, 3, 4);
    char pos[24], count[24];
    snprintf(pos, sizeof pos, "%" PRId64, last.position);
    snprintf(count, sizeof count, "%d", PQntuples(rows));
    const char *params[4] = {n->cfg.name, last.tx, pos, count};
    if (rc == OKNO_OK)
        rc = exec_params(n, "cursor", COMMIT_SQL, 4, params, PGRES_COMMAND_OK, NULL);
    if (rc == OKNO_OK) {
        res = PQexec(n->tail.conn, "commit");
        rc = PQresultStatus(res) == PGRES_COMMAND_OK ? (PQclear(res), OKNO_OK)
                                                     : pg_failed(n, "commit", res);
    }
    return rc;
}

static int run_batch(okno_notifier *n, size_t *read)
{
    stage_buf *s = n->stage;
    s->notices_len = s->moved_len = 0;
    s->failed = false;
    const char *params[3] = {n->cfg.name, NULL, NULL};
    PGresult *res = PQexec(n->tail.conn, "begin");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_failed(n, "begin", res);
    PQclear(res);
    int rc = exec_params(n, "cursor", BEGIN_SQL, 1, params, PGRES_TUPLES_OK, &res);
    if (rc != OKNO_OK)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return fail(n, OKNO_EPG, "the cursor row of %s is missing", n->cfg.name);
    }
    okno_log_cursor cursor;
    snprintf(cursor.tx, sizeof cursor.tx, "%s", PQgetvalue(res, 0, 0));
    cursor.position = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    PGresult *rows = okno_logtail_read(n->tail.conn, EVENTS_SQL, &cursor, n->cfg.batch_events);
    if (PQresultStatus(rows) != PGRES_TUPLES_OK)
        return pg_failed(n, "read events", rows);
    int count = PQntuples(rows);
    if (count > 0 && (rc = plan_history(n, rows, s)) == OKNO_OK &&
        (rc = load_history(n, s)) == OKNO_OK && (rc = apply_rows(n, rows, s)) == OKNO_OK)
        rc = write_batch(n, s, rows);
    if (rc == OKNO_OK && count == 0)
        PQclear(PQexec(n->tail.conn, "rollback"));
    PQclear(rows);
    *read = rc == OKNO_OK ? (size_t)count : 0;
    return rc;
}

int okno_notifier_step_log(okno_notifier *n, size_t *read)
{
    *read = 0;
    int rc = pg_start(n);
    if (rc == OKNO_OK)
        rc = run_batch(n, read);
    if (rc == OKNO_OK) {
        n->stats.events += *read;
        n->stats.batches += *read > 0;
        if (n->cache.count > n->cfg.cache_entries_max)
            okno_proj_store_clear(&n->cache); /* simple bound: later batches rebuild */
        return OKNO_OK;
    }
    /* The database is the truth: what the cache folded was rolled back with the batch. */
    n->stats.failures++;
    okno_proj_store_clear(&n->cache);
    if (n->tail.conn != NULL && PQtransactionStatus(n->tail.conn) != PQTRANS_IDLE)
        PQclear(PQexec(n->tail.conn, "rollback"));
    return rc;
}

int okno_notifier_rewind(okno_notifier *n)
{
    int rc = pg_start(n);
    const char *params[1] = {n->cfg.name};
    if (rc == OKNO_OK)
        rc = exec_params(n, "rewind",
                         "update okno.notifier_cursor set cursor_tx = '0', cursor_position = 0"
                         " where name = $1",
                         1, params, PGRES_COMMAND_OK, NULL);
    return rc;
}

void okno_notifier_close(okno_notifier *n)
{
    stage_buf *s = n->stage;
    if (s != NULL) {
        free(s->notices);
        free(s->moved);
        free(s->ids);
        free(s->uptos);
        free(s);
        n->stage = NULL;
    }
    okno_proj_store_close(&n->cache);
    if (n->mailer_ready)
        okno_mailer_close(&n->mailer);
    n->mailer_ready = false;
    if (n->producer != NULL) {
        rd_kafka_flush(n->producer, 1000);
        rd_kafka_destroy(n->producer);
        n->producer = NULL;
    }
    pg_stop(n);
}
