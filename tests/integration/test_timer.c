/* The timer end to end on the real Kafka broker and PostgreSQL, with the ledger and the relay
 * as real processes on a clock 20,000 times faster than real time (a day in 4.3 seconds):
 * thousands of messages sit in moderation or coordination while their deadlines fall due, a
 * whole-life workload runs beside them, and the timer is killed with SIGKILL in the middle and
 * restarted seconds later. Then the event log is audited message by message with the real core:
 * every signal that fell due while the message stayed where it was is recorded exactly once
 * (those that fell due while the timer was down, once it was back), and the ledger never
 * refused a signal as early or as a duplicate. A second run hands partitions over: a second timer
 * joins the first one's group mid-run and leaves it later; the cooperative rebalances move only
 * the partitions that change owner (the first timer rebuilds nothing when it loses some), and
 * the same audit finds every signal exactly once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "okno/avro.h"
#include "okno/clock.h"
#include "okno/error.h"
#include "okno/kafka.h"
#include "okno/sla.h"
#include "okno/uuid.h"

#define SPEED          20000          /* clock ms per real ms */
#define SITTING        3000           /* messages submitted by the test; they stay open */
#define SUBMIT_S       30             /* ... spread over this many real seconds */
#define ACCEPT_PERCENT 30             /* of them are accepted a few seconds later */
#define LOAD_MESSAGES  400            /* whole lives from `okno load` beside them */
#define KILL_AT_S      20             /* real seconds into the run */
#define DOWN_S         5              /* real seconds the timer stays dead */
#define RUN_S          75             /* real seconds of the run */
#define SETTLE_S       5              /* real seconds for signals in flight to land afterwards */
#define MARGIN_MS      (3000 * SPEED) /* clock ms a due signal may take to be recorded */
#define READY_WAIT_S   60
#define JOIN_AT_S      12 /* the handover run: a second timer joins ... */
#define LEAVE_AT_S     30 /* ... and leaves (SIGTERM) */
#define HANDOVER_RUN_S 60
#define PARTITIONS     4
#define STR(x)         #x
#define XSTR(x)        STR(x)

static okno_itest_db *db;
static char topics[4][128]; /* transitions, sla, events, rejections */
static char tag[64];
static okno_clock sim;
static char origin_text[32];

enum { T_TRANSITIONS, T_SLA, T_EVENTS, T_REJECTIONS };

/* ---- processes -------------------------------------------------------------------------- */

typedef struct proc {
    const char *name;
    pid_t pid;
    int port;
} proc;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static bool ready(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char buf[64] = "";
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              write(fd, "GET /readyz HTTP/1.0\r\n\r\n", 24) == 24 && read(fd, buf, 63) > 12 &&
              strncmp(buf + 8, " 200", 4) == 0;
    close(fd);
    return ok;
}

/* The body of GET path on the admin port, into buf (NUL-terminated). */
static void http_get(int port, const char *path, char *buf, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[128];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    size_t used = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, req, (size_t)n) == n)
        for (ssize_t got; used + 1 < size && (got = read(fd, buf + used, size - 1 - used)) > 0;)
            used += (size_t)got;
    buf[used] = '\0';
    close(fd);
}

static long long metric(int port, const char *series)
{
    static char body[1 << 16];
    http_get(port, "/metrics", body, sizeof body);
    const char *at = strstr(body, series);
    return at ? atoll(at + strlen(series) + 1) : -1;
}

static void child_env(const char *name)
{
    char v[160];
    setenv("OKNO_PG__CONNINFO", db->app_conninfo, 1);
    setenv("OKNO_KAFKA__BOOTSTRAP__SERVERS", okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), 1);
    if (strcmp(name, "relay") == 0) {
        setenv("OKNO_RELAY__EVENTS_TOPIC", topics[T_EVENTS], 1);
        setenv("OKNO_RELAY__REJECTIONS_TOPIC", topics[T_REJECTIONS], 1);
        return;
    }
    snprintf(v, sizeof v, "%d", SPEED);
    setenv("OKNO_CLOCK__SPEED", v, 1); /* the ledger and the timer share the clock */
    setenv("OKNO_CLOCK__ORIGIN_MS", origin_text, 1);
    snprintf(v, sizeof v, "%s-%s", tag, name);
    if (strcmp(name, "ledger") == 0) {
        setenv("OKNO_LEDGER__GROUP_ID", v, 1);
        setenv("OKNO_LEDGER__TRANSITIONS_TOPIC", topics[T_TRANSITIONS], 1);
        setenv("OKNO_LEDGER__SLA_TOPIC", topics[T_SLA], 1);
        setenv("OKNO_LOG__LEVEL", "warn", 1);
    } else {
        setenv("OKNO_TIMER__GROUP_ID", v, 1);
        setenv("OKNO_TIMER__EVENTS_TOPIC", topics[T_EVENTS], 1);
        setenv("OKNO_TIMER__SLA_TOPIC", topics[T_SLA], 1);
    }
}

static void start(proc *p, const char *name)
{
    char path[1024], log[1024], listen[64];
    snprintf(path, sizeof path, "%s/services/%s/okno-%s", getenv("OKNO_BUILD_DIR"), name, name);
    snprintf(log, sizeof log, "%s/%s.%s.log", getenv("OKNO_BUILD_DIR"), tag, name);
    p->name = name;
    p->port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", p->port);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        child_env(name);
        setenv("OKNO_ADMIN__LISTEN", listen, 1);
        if (freopen(log, "a", stderr) == NULL || dup2(fileno(stderr), 1) < 0)
            _exit(126);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    double until = okno_itest_now_ms() + READY_WAIT_S * 1000.0;
    while (!ready(p->port)) {
        if (okno_itest_now_ms() > until || waitpid(p->pid, NULL, WNOHANG) == p->pid)
            fail_msg("okno-%s did not get ready; see %s", name, log);
        usleep(100000);
    }
}

static void stop(proc *p, int sig)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, sig);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

static pid_t load_start(void)
{
    char path[1024], messages[16];
    snprintf(path, sizeof path, "%s/tools/okno/okno", getenv("OKNO_BUILD_DIR"));
    snprintf(messages, sizeof messages, "%d", LOAD_MESSAGES);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(126);
        execl(path, path, "load", "--messages", messages, "--rate", "80", "--seed", "77", "--topic",
              topics[T_TRANSITIONS], "--bootstrap", okno_itest_env("OKNO_KAFKA_BOOTSTRAP"), "--pg",
              db->app_conninfo, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* ---- topics and traffic --------------------------------------------------------------------- */

static void topics_create(void)
{
    static const char *const names[4] = {"transitions", "sla", "events", "rejections"};
    const char *list[4];
    for (int i = 0; i < 4; i++) {
        snprintf(topics[i], sizeof topics[i], "okno.test.%s.%s", tag, names[i]);
        list[i] = topics[i];
    }
    char err[512];
    int created, existing;
    if (okno_kafka_create_topics(okno_itest_kafka_conf(), list, 4, PARTITIONS, 1, 30000, &created,
                                 &existing, err, sizeof err) != 0)
        fail_msg("creating topics: %s", err);
}

static void topics_delete(void)
{
    char err[512];
    for (int i = 0; i < 4; i++) /* cleanup: a topic that stays behind fails nothing */
        okno_kafka_delete_topic(okno_itest_kafka_conf(), topics[i], 30000, err, sizeof err);
}

static rd_kafka_t *producer_new(void)
{
    char err[512];
    rd_kafka_conf_t *conf = okno_itest_kafka_conf();
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    assert_non_null(p);
    return p;
}

static okno_uuid message_id(int i)
{
    okno_uuid u;
    memset(u.bytes, 0, 16);
    memcpy(u.bytes, &i, sizeof i);
    memcpy(u.bytes + 8, tag + strlen(tag) - 8, 8); /* unique to this run */
    u.bytes[6] = (uint8_t)((u.bytes[6] & 0x0f) | 0x40);
    u.bytes[8] = (uint8_t)((u.bytes[8] & 0x3f) | 0x80);
    return u;
}

static void produce(rd_kafka_t *p, int i, okno_action action, int64_t serial)
{
    okno_avro_transition t = {.request.requested_at_ms = okno_clock_now_ms(&sim)};
    okno_request *r = &t.request;
    r->message_id = message_id(i);
    r->request_id = message_id(1000000 + i * 2 + (action == OKNO_ACTION_ACCEPT));
    r->action = action;
    if (action == OKNO_ACTION_SUBMIT) {
        r->acting_user_id = r->applicant_id = 2000000000 + serial;
        r->channel = OKNO_CHANNEL_PORTAL;
        r->category_id = 1 + i % 4; /* 30, 10, 30 and 15 days */
        r->text = okno_str_c("The street light is broken");
    } else {
        r->acting_user_id = 101;
        r->acting_org_id = 1;
        r->target_org_id = 1010;
    }
    uint8_t buf[1024];
    size_t len;
    assert_int_equal(okno_avro_encode(OKNO_AVRO_TRANSITIONS, &t, buf, sizeof buf, &len, NULL), 0);
    char key[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&r->message_id, key);
    while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topics[T_TRANSITIONS]), RD_KAFKA_V_KEY(key, 36),
                             RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 10);
}

/* Two records the timer cannot use on its input: bytes that are no Avro at all, and an Event
 * of a message that PostgreSQL has never heard of (seq 5, no stream head). */
static void produce_bad_records(rd_kafka_t *p)
{
    okno_uuid id = message_id(999999);
    char key[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(&id, key);
    okno_event ev = {.seq = 5,
                     .message_id = id,
                     .request_id = id,
                     .type = OKNO_EVENT_TAKEN_INTO_WORK,
                     .at_ms = okno_clock_now_ms(&sim),
                     .actor_user_id = 7,
                     .holding_org_after = 1010,
                     .stage_before = OKNO_STAGE_EXECUTION,
                     .stage_after = OKNO_STAGE_EXECUTION};
    uint8_t buf[1024];
    size_t len;
    assert_int_equal(okno_avro_encode(OKNO_AVRO_EVENTS, &ev, buf, sizeof buf, &len, NULL), 0);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topics[T_EVENTS]), RD_KAFKA_V_KEY(key, 36),
                      RD_KAFKA_V_VALUE("not an event", 12),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topics[T_EVENTS]), RD_KAFKA_V_KEY(key, 36),
                      RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
}

/* Counted by outcome and logged with their offsets, and the timer goes on. */
static void bad_records_counted_and_logged(const proc *timer)
{
    assert_int_equal(metric(timer->port, "okno_timer_records_total{outcome=\"undecodable\"}"), 1);
    assert_int_equal(metric(timer->port, "okno_timer_records_total{outcome=\"unexpected\"}"), 1);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "grep -q 'cannot decode a record of the events topic.*\"offset\":' %s/%s.timer.log",
             getenv("OKNO_BUILD_DIR"), tag);
    assert_int_equal(system(cmd), 0);
}

/* ---- the run ------------------------------------------------------------------------------ */

/* Clock times; a window is a stretch when signals may wait (a dead timer, a rebalance). */
typedef struct run {
    int64_t end_ms;
    int64_t from_ms[2], to_ms[2]; /* the windows: killed .. restarted and ready; joined or left
                                     .. partitions settled */
    int windows;
} run;

typedef enum scenario { KILL_AND_RESTART, JOIN_AND_LEAVE } scenario;

static void window_open(run *r)
{
    r->from_ms[r->windows] = okno_clock_now_ms(&sim);
    r->to_ms[r->windows] = INT64_MAX;
}

static void window_close(run *r)
{
    r->to_ms[r->windows++] = okno_clock_now_ms(&sim);
}

static double since(double t0)
{
    return (okno_itest_now_ms() - t0) / 1000.0;
}

/* Submits SITTING messages evenly over SUBMIT_S seconds, accepts some 4..10 s after their
 * submission, and on the way either kills and restarts timers[0], or starts timers[1] in the
 * same group and stops it again. */
static void traffic(proc *timers, run *r, scenario sc)
{
    rd_kafka_t *p = producer_new();
    static double accept_at[SITTING];
    double t0 = okno_itest_now_ms();
    int submitted = 0, step = 0;
    bool bad = false;
    double run_s = sc == KILL_AND_RESTART ? RUN_S : HANDOVER_RUN_S;
    while (since(t0) < run_s) {
        double now = since(t0);
        if (!bad && now >= KILL_AT_S / 2 && sc == KILL_AND_RESTART) {
            produce_bad_records(p);
            bad = true;
        }
        for (; submitted < SITTING && submitted < now * SITTING / SUBMIT_S; submitted++) {
            produce(p, submitted, OKNO_ACTION_SUBMIT, submitted);
            accept_at[submitted] = submitted % 100 < ACCEPT_PERCENT ? now + 4 + submitted % 7 : 1e9;
        }
        for (int i = 0; i < submitted; i++)
            if (accept_at[i] <= now) {
                produce(p, i, OKNO_ACTION_ACCEPT, 0);
                accept_at[i] = 1e9;
            }
        if (sc == KILL_AND_RESTART) {
            if (step == 0 && now >= KILL_AT_S) {
                bad_records_counted_and_logged(&timers[0]);
                stop(&timers[0], SIGKILL);
                window_open(r);
                step++;
            } else if (step == 1 && now >= KILL_AT_S + DOWN_S) {
                start(&timers[0], "timer");
                window_close(r);
                step++;
            }
        } else {
            long long owned = step % 2 == 1 ? metric(timers[0].port, "\nokno_timer_partitions") : 0;
            if (step == 0 && now >= JOIN_AT_S) {
                window_open(r);
                start(&timers[1], "timer");
                step++;
            } else if (step == 1 && owned == PARTITIONS / 2 &&
                       metric(timers[1].port, "\nokno_timer_partitions") == PARTITIONS / 2) {
                window_close(r); /* the partitions moved, and their new owner rebuilt them */
                step++;
            } else if (step == 2 && now >= LEAVE_AT_S) {
                window_open(r);
                stop(&timers[1], SIGTERM);
                step++;
            } else if (step == 3 && owned == PARTITIONS) {
                window_close(r);
                step++;
            }
        }
        rd_kafka_poll(p, 50);
    }
    assert_int_equal(step, sc == KILL_AND_RESTART ? 2 : 4);
    r->end_ms = okno_clock_now_ms(&sim);
    assert_int_equal(rd_kafka_flush(p, 30000), 0);
    rd_kafka_destroy(p);
}

/* ---- the audit ---------------------------------------------------------------------------- */

typedef struct audit {
    int32_t permille;
    int64_t signals, missed, duplicates, messages, due_in_window;
} audit;

static bool stage_kind(okno_signal_kind k)
{
    return k == OKNO_SIGNAL_STAGE_TIME_APPROACHING || k == OKNO_SIGNAL_STAGE_TIME_EXCEEDED;
}

/* When the signal could first be emitted: its due time, or the end of a window if it fell due
 * in it (or just before: it may have been lost in flight). */
static int64_t emittable_ms(const run *r, int64_t due)
{
    for (int w = 0; w < r->windows; w++)
        if (due >= r->from_ms[w] - MARGIN_MS && due <= r->to_ms[w])
            return r->to_ms[w];
    return due;
}

static bool in_window(const run *r, int64_t due)
{
    for (int w = 0; w < r->windows; w++)
        if (due >= r->from_ms[w] && due <= r->to_ms[w])
            return true;
    return false;
}

/* Every signal due in state s that the message did not leave before `until` must have come. */
static void check_due(audit *a, const run *r, const okno_message_state *s, int64_t until,
                      const char *id)
{
    for (int k = OKNO_SIGNAL_NONE + 1; k < OKNO_SIGNAL_COUNT; k++) {
        int64_t due = okno_sla_signal_due_ms(s, (okno_signal_kind)k, a->permille);
        if (due == OKNO_SLA_NEVER_MS || emittable_ms(r, due) + MARGIN_MS >= until)
            continue;
        a->due_in_window += in_window(r, due);
        if (a->missed++ < 5)
            print_message("missed: %s %s due %lld, message moved on at %lld (seq %llu)\n", id,
                          okno_signal_kind_name((okno_signal_kind)k), (long long)due,
                          (long long)until, (unsigned long long)s->last_seq);
    }
}

static void audit_event(audit *a, const run *r, okno_message_state *s, const okno_event *ev,
                        const char *id)
{
    okno_signal_kind kind = okno_event_type_signal(ev->type);
    if (kind == OKNO_SIGNAL_NONE) {
        check_due(a, r, s, ev->at_ms, id);
    } else {
        a->signals++;
        unsigned bits = stage_kind(kind) ? s->stage_signals : s->deadline_signals;
        a->duplicates += (bits >> kind) & 1u; /* the core would refuse: a broken log */
        a->due_in_window += in_window(r, ev->signal_due_ms);
    }
    if (okno_workflow_apply(s, ev) != OKNO_OK)
        fail_msg("message %s: event %llu does not fold", id, (unsigned long long)ev->seq);
}

static void audit_log(audit *a, const run *r)
{
    PGconn *conn = okno_itest_connect(db->admin_conninfo);
    a->permille = (int32_t)okno_itest_query_ll(
        conn, "select approaching_permille from okno.workflow_settings");
    PGresult *res = PQexecParams(conn,
                                 "select message_id::text, body from okno.event_log"
                                 " order by message_id, seq",
                                 0, NULL, NULL, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    static okno_message_state s;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        if (i == 0 || strcmp(id, PQgetvalue(res, i - 1, 0)) != 0) {
            memset(&s, 0, sizeof s);
            a->messages++;
        }
        size_t len;
        unsigned char *body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 1), &len);
        okno_event ev;
        assert_int_equal(okno_avro_decode_topic(OKNO_AVRO_EVENTS, body, len, &ev, NULL), 0);
        audit_event(a, r, &s, &ev, id);
        PQfreemem(body);
        bool last = i + 1 == PQntuples(res) || strcmp(id, PQgetvalue(res, i + 1, 0)) != 0;
        if (last)
            check_due(a, r, &s, r->end_ms, id);
    }
    PQclear(res);
    PQfinish(conn);
}

static long long refusals(const char *code)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "select count(*) from okno.refusals where source_topic = '%s' and reason_code = '%s'",
             topics[T_SLA], code);
    PGconn *conn = okno_itest_connect(db->admin_conninfo);
    long long n = okno_itest_query_ll(conn, sql);
    PQfinish(conn);
    return n;
}

/* The SLA topic from the start: records, those marked late, and repeated signal ids. */
static void sla_records(long long *records, long long *late, long long *repeated)
{
    char err[512], group[128];
    snprintf(group, sizeof group, "%s-reader", tag);
    rd_kafka_conf_t *conf = okno_itest_kafka_conf();
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, topics[T_SLA], p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    static okno_uuid ids[200000];
    *records = *late = *repeated = 0;
    double quiet = okno_itest_now_ms();
    while (okno_itest_now_ms() - quiet < 3000) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m == NULL)
            continue;
        okno_avro_sla_signal s;
        if (m->err == 0 &&
            okno_avro_decode_topic(OKNO_AVRO_SLA, m->payload, m->len, &s, NULL) == 0 &&
            *records < 200000) {
            for (long long i = 0; i < *records; i++)
                if (memcmp(ids[i].bytes, s.signal_id.bytes, 16) == 0) {
                    (*repeated)++;
                    break;
                }
            ids[(*records)++] = s.signal_id;
            *late += s.late;
            quiet = okno_itest_now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_destroy(c);
}

/* The run's processes: file-wide, so that teardown stops them also after a failed assertion. */
static proc relay, ledger, timers[2];

/* Runs the scenario with the ledger and the relay, then audits the log and the SLA topic. */
static void run_and_audit(scenario sc, run *r, audit *a, long long *late, long long *rebuilds)
{
    start(&relay, "relay");
    start(&ledger, "ledger");
    start(&timers[0], "timer");
    pid_t load = load_start();
    traffic(timers, r, sc);
    waitpid(load, NULL, 0);
    sleep(SETTLE_S);
    *rebuilds = metric(timers[0].port, "\nokno_timer_rebuilds_total");
    stop(&timers[0], SIGTERM);
    sleep(2); /* the last signals through the ledger and the relay */
    stop(&ledger, SIGTERM);
    stop(&relay, SIGTERM);
    audit_log(a, r);
    long long records, repeated;
    sla_records(&records, late, &repeated);
    long long stale = refusals("signal_stale"), early = refusals("signal_not_due"),
              twice = refusals("signal_duplicate");
    for (int w = 0; w < r->windows; w++)
        print_message(
            "window %d: %.1f s (%s)\n", w, (double)(r->to_ms[w] - r->from_ms[w]) / SPEED / 1000.0,
            sc == KILL_AND_RESTART
                ? "killed, restarted after " XSTR(DOWN_S) " s, rejoined its group, rebuilt"
            : w == 0 ? "a second timer joined; partitions moved and were rebuilt"
                     : "the second timer left; its partitions moved back");
    print_message("%lld messages, %lld signal events (%lld due in the windows), "
                  "%lld missed, %lld duplicates; SLA records %lld (%lld late, %lld re-sent with "
                  "the same id); refused: %lld stale, %lld not due, %lld duplicate\n",
                  (long long)a->messages, (long long)a->signals, (long long)a->due_in_window,
                  (long long)a->missed, (long long)a->duplicates, records, *late, repeated, stale,
                  early, twice);
    assert_int_equal(a->missed, 0);
    assert_int_equal(a->duplicates, 0);
    assert_int_equal(early, 0);
    assert_int_equal(twice, 0);
    assert_true(a->signals > SITTING * 2);
}

/* What a run's assertions look at. */
typedef struct outcome {
    int64_t due_in_window; /* signals due while a window was open */
    long long late;        /* SLA records marked late */
    long long rebuilds;    /* the first timer's, at the end */
} outcome;

static outcome one_run(scenario sc)
{
    run r = {0};
    audit a = {0};
    outcome o = {0};
    run_and_audit(sc, &r, &a, &o.late, &o.rebuilds);
    o.due_in_window = a.due_in_window;
    return o;
}

static void a_timer_killed_mid_run_loses_no_signal_and_repeats_none(void **state)
{
    (void)state;
    outcome o = one_run(KILL_AND_RESTART);
    assert_int_equal(o.rebuilds, 1);
    assert_true(o.due_in_window > 100); /* the kill really happened among deadlines */
    assert_true(o.late > 0);
}

/* A second timer joins the group and leaves it while deadlines fire: each signal once. The
 * first timer rebuilds only when it gains partitions (its start and the other's leaving), not
 * when it loses half of them to the newcomer. */
static void timers_joining_and_leaving_hand_partitions_over_with_each_signal_once(void **state)
{
    (void)state;
    outcome o = one_run(JOIN_AND_LEAVE);
    assert_int_equal(o.rebuilds, 2);  /* at its start and when the other left; not at the join */
    assert_true(o.due_in_window > 0); /* the rebalances really happened among deadlines */
}

static int setup(void **state)
{
    okno_itest_db_setup(state);
    db = *state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "psql -X -q -v ON_ERROR_STOP=1 -v ministries=20 '%s' -f %s/%s",
             db->admin_conninfo, getenv("OKNO_SOURCE_DIR"), "deploy/local/demo_directory.sql");
    assert_int_equal(system(cmd), 0);
    okno_itest_unique(tag, sizeof tag, "timer");
    topics_create();
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_init(&err), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t origin = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    snprintf(origin_text, sizeof origin_text, "%lld", (long long)origin);
    assert_int_equal(okno_clock_init_scaled(&sim, SPEED, origin), 0);
    return 0;
}

static int teardown(void **state)
{
    stop(&timers[1], SIGKILL);
    stop(&timers[0], SIGKILL);
    stop(&ledger, SIGKILL);
    stop(&relay, SIGKILL);
    topics_delete();
    okno_avro_close();
    return okno_itest_db_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_timer_killed_mid_run_loses_no_signal_and_repeats_none,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            timers_joining_and_leaving_hand_partitions_over_with_each_signal_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
