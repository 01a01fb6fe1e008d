/* Read-model test helpers: schema comparison, row dumps, child processes, the demo directory,
 * appending a scripted step's events. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "okno/avro.h"
#include "okno/stream_head.h"
#include "rm_check.h"
#include "okno/avro.h"
#include "okno/stream_head.h"

/* Differing rows printed per direction on a mismatch. */
#define DIFF_ROWS_MAX 20
/* Largest encoded event a scripted step appends. */
#define BODY_BYTES (64 * 1024)

const char *const okno_rm_tables[] = {
    "card", "stage_visits", "inbox", "applicant_timeline", "stats_daily", NULL};

char *okno_rm_query_text(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    char *out = strdup(PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return out;
}

static void print_only_in(PGconn *conn, const char *table, const char *a, const char *b)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "select t::text from (select * from %s.%s except all select * from %s.%s) t"
             " order by 1 limit %d",
             a, table, b, table, DIFF_ROWS_MAX);
    PGresult *res = PQexec(conn, sql);
    for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++)
        print_message("  only in %s.%s: %s\n", a, table, PQgetvalue(res, i, 0));
    PQclear(res);
}

void okno_rm_assert_equal(PGconn *conn, const char *a, const char *b)
{
    bool equal = true;
    for (int i = 0; okno_rm_tables[i] != NULL; i++) {
        const char *t = okno_rm_tables[i];
        char sql[768];
        snprintf(sql, sizeof sql,
                 "select (select count(*) from %1$s.%3$s)::text || ' ' ||"
                 " md5(coalesce((select string_agg(x::text, '|' order by x::text) from %1$s.%3$s"
                 " x), '')) || ' ' || (select count(*) from %2$s.%3$s)::text || ' ' ||"
                 " md5(coalesce((select string_agg(x::text, '|' order by x::text) from %2$s.%3$s"
                 " x), ''))",
                 a, b, t);
        char *sums = okno_rm_query_text(conn, sql);
        char ca[64], sa[64], cb[64], sb[64];
        sscanf(sums, "%63s %63s %63s %63s", ca, sa, cb, sb);
        bool same = strcmp(ca, cb) == 0 && strcmp(sa, sb) == 0;
        print_message("%-18s %s rows %s  %s rows %s  %s\n", t, a, ca, b, cb,
                      same ? "equal" : "DIFFERENT");
        if (!same) {
            print_only_in(conn, t, a, b);
            print_only_in(conn, t, b, a);
        }
        equal = equal && same;
        free(sums);
    }
    if (!equal)
        fail_msg("read models %s and %s differ", a, b);
}

char *okno_rm_dump(PGconn *conn, const char *schema, const char *table, const char *message_id)
{
    char sql[512], where[96] = "";
    if (message_id != NULL)
        snprintf(where, sizeof where, " where message_id = '%s'", message_id);
    snprintf(sql, sizeof sql,
             "select coalesce(string_agg(t::text, E'\\n' order by t::text), '') from %s.%s t%s",
             schema, table, where);
    return okno_rm_query_text(conn, sql);
}

void okno_rm_load_demo_directory(const okno_itest_db *db, int ministries)
{
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "psql -X -q -v ON_ERROR_STOP=1 -v ministries=%d -f '%s/deploy/local/demo_directory.sql'"
        " '%s' >/dev/null",
        ministries, getenv("OKNO_SOURCE_DIR"), db->admin_conninfo);
    if (system(cmd) != 0)
        fail_msg("could not load the demo directory: %s", cmd);
}

pid_t okno_rm_spawn(const char *path, const char *const *env)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", getenv("OKNO_BUILD_DIR"), path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execl(full, full, (char *)NULL);
        _exit(127);
    }
    return pid;
}

const char *okno_rm_env(const char *fmt, const char *value)
{
    static char pool[32][2048];
    static int next;
    char *s = pool[next++ % 32];
    snprintf(s, sizeof pool[0], fmt, value);
    return s;
}

int okno_rm_stop(pid_t pid, bool kill9)
{
    int status = 0;
    kill(pid, kill9 ? SIGKILL : SIGTERM);
    waitpid(pid, &status, 0);
    return status;
}

void okno_rm_append_step(PGconn *conn, const okno_message_state *before,
                         uint8_t hash[OKNO_EVENTLOG_HASH_BYTES], const okno_step_result *res,
                         const okno_request *req)
{
    static uint8_t bodies[OKNO_STEP_EVENTS_MAX][BODY_BYTES];
    okno_eventlog_event ev[OKNO_STEP_EVENTS_MAX];
    for (uint32_t i = 0; i < res->events_count; i++) {
        const okno_event *e = &res->events[i];
        size_t len;
        okno_avro_error aerr = {0};
        if (okno_avro_encode(OKNO_AVRO_EVENTS, e, bodies[i], BODY_BYTES, &len, &aerr) != 0)
            fail_msg("encode: %s", aerr.reason);
        ev[i] = (okno_eventlog_event){.seq = (int32_t)e->seq,
                                      .event_type = okno_event_type_name(e->type),
                                      .occurred_at_ms = e->at_ms,
                                      .actor_user = e->actor_user_id,
                                      .org = e->holding_org_after,
                                      .body = bodies[i],
                                      .body_bytes = len};
        ev[i].message_id = e->message_id;
        ev[i].request_id = e->request_id;
    }
    okno_eventlog_head head = {.prev_seq = (int32_t)before->last_seq,
                               .state_version = OKNO_STREAM_HEAD_STATE_VERSION,
                               .state = (const uint8_t *)&res->state,
                               .state_bytes = sizeof res->state};
    head.message_id = req->message_id;
    memcpy(head.prev_hash, hash, OKNO_EVENTLOG_HASH_BYTES);
    okno_eventlog_request rq = {.accepted = true, .events = (int32_t)res->events_count};
    rq.request_id = req->request_id;
    rq.message_id = req->message_id;
    okno_eventlog_batch b = {.events = ev,
                             .event_count = res->events_count,
                             .heads = &head,
                             .head_count = 1,
                             .requests = &rq,
                             .request_count = 1};
    okno_eventlog_tip tip;
    okno_eventlog_known known;
    okno_eventlog_result out = {.tips = &tip, .known = &known};
    char err[OKNO_PG_ERRBUF_BYTES];
    if (okno_eventlog_append(conn, &b, &out, err, sizeof err) != 0)
        fail_msg("append: %s", err);
    memcpy(hash, tip.hash, OKNO_EVENTLOG_HASH_BYTES);
}

void okno_rm_act(PGconn *conn, const okno_directory *dir, okno_rm_msg *m, okno_request req,
                 int64_t now_ms)
{
    req.message_id = m->id;
    okno_actor actor;
    okno_actor_init(&actor, dir, req.acting_user_id, req.acting_org_id);
    okno_step_result res;
    okno_workflow_step(m->state.last_seq ? &m->state : NULL, &req, &actor, dir, now_ms, &res);
    if (res.events_count == 0)
        fail_msg("%s refused: %s", okno_action_name(req.action), res.refusal.message);
    okno_rm_append_step(conn, &m->state, m->hash, &res, &req);
    m->state = res.state;
}

void okno_rm_projector_open(okno_projector *p, const okno_itest_db *db)
{
    /* The projector keeps the arrays (it reconnects with them): one projector at a time. */
    static const char *keys[] = {"dbname", NULL}, *values[2];
    values[0] = db->app_conninfo;
    okno_projector_config cfg;
    okno_projector_config_init(&cfg);
    cfg.pg_keywords = keys;
    cfg.pg_values = values;
    if (okno_projector_init(p, &cfg) != 0)
        fail_msg("projector: %s", p->error);
}

void okno_rm_projector_close(okno_projector *p)
{
    okno_projector_close(p);
    okno_avro_close();
}

void okno_rm_project_all(okno_projector *p)
{
    size_t n;
    do {
        if (okno_projector_step(p, &n) != 0)
            fail_msg("projector: %s", p->error);
    } while (n > 0);
}
