/* The event-log generator (see loggen.h): workload requests and due SLA signals through the pure
 * core on a fake clock, appended in batches with okno_eventlog_append. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loggen.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/pg.h"
#include "okno/pg_directory.h"
#include "okno/sla.h"
#include "okno/stream_head.h"
#include "workload.h"

/* Messages in flight at once (the workload's window, with room to spare), a power of two. */
#define MSGS_CAP 4096
/* Bytes of encoded bodies per batch; a batch is appended before it could overflow. */
#define BODIES_BYTES    (16 * 1024 * 1024)
#define BODY_BYTES_MAX  (256 * 1024)
#define STEP_EVENTS_MAX (OKNO_STEP_EVENTS_MAX * (OKNO_SIGNAL_COUNT + 1))
#define STATE_VERSION   OKNO_STREAM_HEAD_STATE_VERSION /* the ledger's stream-head format */

typedef struct msg {
    bool used;
    okno_message_state state;
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES]; /* of the last appended event */
    int32_t head;                           /* index in the batch's heads; -1: not in it */
} msg;

typedef struct gen {
    const okno_loggen_options *o;
    okno_loggen_result *r;
    PGconn *conn;
    okno_pg_directory dir;
    okno_workload *w;
    msg *msgs; /* open addressing by message id */
    okno_eventlog_event *events;
    okno_eventlog_head *heads;
    okno_message_state *head_states;
    msg **head_msgs;
    okno_eventlog_request *requests;
    okno_eventlog_tip *tips;
    okno_eventlog_known *known;
    size_t events_n, heads_n, requests_n;
    uint8_t *bodies;
    size_t bodies_used;
    okno_step_result step;
} gen;

void okno_loggen_options_init(okno_loggen_options *o)
{
    *o = (okno_loggen_options){.events = 100000,
                               .seed = 1,
                               .start_ms = INT64_C(1767225600000), /* 2026-01-01T00:00Z */
                               .step_ms = 5 * 60 * 1000,
                               .batch_events = 10000};
}

static size_t slot_of(const okno_uuid *id)
{
    uint64_t h;
    memcpy(&h, id->bytes, 8);
    return (size_t)(h * 0x9e3779b97f4a7c15ull >> 40) & (MSGS_CAP - 1);
}

static msg *msg_find(gen *g, const okno_uuid *id, bool add)
{
    size_t i = slot_of(id);
    while (g->msgs[i].used && memcmp(g->msgs[i].state.message_id.bytes, id->bytes, 16) != 0)
        i = (i + 1) & (MSGS_CAP - 1);
    if (!g->msgs[i].used && add) {
        g->msgs[i] = (msg){.used = true, .head = -1};
        g->msgs[i].state.message_id = *id;
    }
    return g->msgs[i].used ? &g->msgs[i] : NULL;
}

/* Backward-shift removal keeps every probe run unbroken. */
static void msg_remove(gen *g, msg *m)
{
    size_t i = (size_t)(m - g->msgs);
    g->msgs[i].used = false;
    for (size_t j = (i + 1) & (MSGS_CAP - 1); g->msgs[j].used; j = (j + 1) & (MSGS_CAP - 1)) {
        msg moved = g->msgs[j];
        g->msgs[j].used = false;
        *msg_find(g, &moved.state.message_id, true) = moved;
    }
}

static int fail(gen *g, int rc, const char *what)
{
    snprintf(g->r->error, sizeof g->r->error, "%s", what);
    return rc;
}

static int append(gen *g)
{
    if (g->events_n == 0)
        return OKNO_OK;
    for (size_t i = 0; i < g->heads_n; i++) {
        g->heads[i].state = (const uint8_t *)&g->head_states[i];
        g->heads[i].state_bytes = sizeof g->head_states[i];
    }
    okno_eventlog_batch b = {.events = g->events,
                             .event_count = g->events_n,
                             .heads = g->heads,
                             .head_count = g->heads_n,
                             .requests = g->requests,
                             .request_count = g->requests_n};
    okno_eventlog_result res = {.tips = g->tips, .known = g->known};
    char err[OKNO_PG_ERRBUF_BYTES];
    int rc = okno_eventlog_append(g->conn, &b, &res, err, sizeof err);
    if (rc != OKNO_OK)
        return fail(g, rc, err);
    for (size_t i = 0; i < g->heads_n; i++) {
        memcpy(g->head_msgs[i]->hash, g->tips[i].hash, sizeof g->tips[i].hash);
        g->head_msgs[i]->head = -1;
    }
    /* Closed messages get no more events: forget them, by id (removal moves entries). */
    for (size_t i = 0; i < g->heads_n; i++) {
        okno_uuid id;
        id = g->heads[i].message_id;
        msg *m = msg_find(g, &id, false);
        if (m != NULL && m->state.outcome != OKNO_OUTCOME_OPEN)
            msg_remove(g, m);
    }
    g->r->events += (int64_t)g->events_n;
    g->events_n = g->heads_n = g->requests_n = 0;
    g->bodies_used = 0;
    if (g->o->pause_ms > 0)
        nanosleep(&(struct timespec){g->o->pause_ms / 1000, g->o->pause_ms % 1000 * 1000000L},
                  NULL);
    return OKNO_OK;
}

static okno_eventlog_head *head_of(gen *g, msg *m)
{
    if (m->head < 0) {
        m->head = (int32_t)g->heads_n++;
        okno_eventlog_head *h = &g->heads[m->head];
        *h = (okno_eventlog_head){.prev_seq = (int32_t)m->state.last_seq,
                                  .state_version = STATE_VERSION};
        h->message_id = m->state.message_id;
        memcpy(h->prev_hash, m->hash, sizeof h->prev_hash);
        g->head_msgs[m->head] = m;
    }
    return &g->heads[m->head];
}

/* Steps one request; its events join the batch. */
static int decide(gen *g, msg *m, const okno_request *req, int64_t now_ms)
{
    okno_actor actor;
    okno_actor_init(&actor, &g->dir.dir, req->acting_user_id, req->acting_org_id);
    okno_workflow_step(m->state.last_seq ? &m->state : NULL, req, &actor, &g->dir.dir, now_ms,
                       &g->step);
    if (g->step.events_count == 0)
        return OKNO_OK; /* refused: the ledger would record a refusal, not an event */
    head_of(g, m);
    for (uint32_t k = 0; k < g->step.events_count; k++) {
        const okno_event *ev = &g->step.events[k];
        size_t len;
        okno_avro_error aerr = {0};
        int rc = okno_avro_encode(OKNO_AVRO_EVENTS, ev, g->bodies + g->bodies_used,
                                  BODIES_BYTES - g->bodies_used, &len, &aerr);
        if (rc != OKNO_OK)
            return fail(g, rc, aerr.reason);
        okno_eventlog_event *e = &g->events[g->events_n++];
        *e = (okno_eventlog_event){.seq = (int32_t)ev->seq,
                                   .event_type = okno_event_type_name(ev->type),
                                   .occurred_at_ms = ev->at_ms,
                                   .actor_user = ev->actor_user_id,
                                   .org = ev->holding_org_after,
                                   .body = g->bodies + g->bodies_used,
                                   .body_bytes = len};
        e->message_id = ev->message_id;
        e->request_id = ev->request_id;
        g->bodies_used += len;
        g->r->signals += ev->type >= OKNO_EVENT_STAGE_TIME_APPROACHING;
        g->r->messages += ev->type == OKNO_EVENT_MESSAGE_SUBMITTED;
    }
    m->state = g->step.state;
    g->head_states[m->head] = m->state;
    okno_eventlog_request *rq = &g->requests[g->requests_n++];
    *rq = (okno_eventlog_request){.accepted = true, .events = (int32_t)g->step.events_count};
    rq->request_id = req->request_id;
    rq->message_id = req->message_id;
    return OKNO_OK;
}

/* The timer's signals that fell due by now, each through the core as the ledger takes them. */
static int due_signals(gen *g, msg *m, int64_t now_ms)
{
    int32_t permille = g->dir.dir.config.approaching_permille;
    okno_signal_kind kind;
    int64_t due;
    while (m->state.last_seq > 0 && okno_sla_next_signal(&m->state, permille, &kind, &due) == 0 &&
           due <= now_ms) {
        okno_avro_sla_signal s = {.message_id = m->state.message_id, .kind = kind, .due_ms = due};
        bool stage_kind =
            kind == OKNO_SIGNAL_STAGE_TIME_APPROACHING || kind == OKNO_SIGNAL_STAGE_TIME_EXCEEDED;
        s.stage = stage_kind ? m->state.stage : OKNO_STAGE_NONE;
        s.visit = stage_kind ? m->state.stage_visits[m->state.stage] : 0;
        s.signal_id = okno_avro_sla_signal_id(&s.message_id, kind, s.stage, s.visit, due);
        okno_request req;
        okno_avro_sla_signal_request(&s, &req);
        uint64_t before = m->state.last_seq;
        int rc = decide(g, m, &req, due);
        if (rc != OKNO_OK)
            return rc;
        if (m->state.last_seq == before)
            break; /* refused (should not happen): do not loop */
    }
    return OKNO_OK;
}

static int generate(gen *g)
{
    int64_t now = g->o->start_ms;
    okno_workload_record *rec;
    while (g->r->events + (int64_t)g->events_n < g->o->events) {
        now += g->o->step_ms;
        if (!okno_workload_next(g->w, now, &rec))
            break;
        if (rec->malformed)
            continue;
        msg *m = msg_find(g, &rec->req.message_id, true);
        if (m == NULL)
            return fail(g, OKNO_ELIMIT, "too many messages in flight");
        int rc = due_signals(g, m, now);
        if (rc == OKNO_OK)
            rc = decide(g, m, &rec->req, now);
        bool full = g->events_n + STEP_EVENTS_MAX > (size_t)g->o->batch_events ||
                    g->bodies_used + BODY_BYTES_MAX > BODIES_BYTES;
        if (rc == OKNO_OK && full)
            rc = append(g);
        if (rc != OKNO_OK)
            return rc;
    }
    g->r->last_ms = now;
    return append(g);
}

static int prepare(gen *g)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    size_t n = (size_t)g->o->batch_events + STEP_EVENTS_MAX;
    if (okno_pg_connect(g->o->conninfo, &g->conn, err, sizeof err) != 0 ||
        okno_pg_directory_load(g->conn, &g->dir, err, sizeof err) != 0)
        return fail(g, OKNO_EPG, err);
    okno_avro_error aerr = {0};
    if (okno_avro_init(&aerr) != 0)
        return fail(g, OKNO_EINVAL, aerr.reason);
    okno_workload_options wo = {.seed = g->o->seed, .messages = g->o->events};
    g->w = okno_workload_new(&g->dir.dir, &wo);
    g->msgs = calloc(MSGS_CAP, sizeof *g->msgs);
    g->events = calloc(n, sizeof *g->events);
    g->heads = calloc(n, sizeof *g->heads);
    g->head_states = calloc(n, sizeof *g->head_states);
    g->head_msgs = calloc(n, sizeof *g->head_msgs);
    g->requests = calloc(n, sizeof *g->requests);
    g->tips = calloc(n, sizeof *g->tips);
    g->known = calloc(n, sizeof *g->known);
    g->bodies = malloc(BODIES_BYTES);
    if (g->w == NULL || !g->msgs || !g->events || !g->heads || !g->head_states || !g->head_msgs ||
        !g->requests || !g->tips || !g->known || !g->bodies)
        return fail(g, OKNO_ENOMEM, "out of memory, or the directory lacks the demo shape");
    return OKNO_OK;
}

int okno_loggen_run(const okno_loggen_options *o, okno_loggen_result *result)
{
    *result = (okno_loggen_result){0};
    gen g = {.o = o, .r = result};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = o->batch_events <= STEP_EVENTS_MAX || o->batch_events > OKNO_EVENTLOG_BATCH_EVENTS_MAX
                 ? fail(&g, OKNO_EINVAL, "batch_events out of range")
                 : prepare(&g);
    if (rc == OKNO_OK)
        rc = generate(&g);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    result->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    okno_workload_free(g.w);
    okno_pg_directory_free(&g.dir);
    PQfinish(g.conn);
    free(g.msgs);
    free(g.events);
    free(g.heads);
    free(g.head_states);
    free(g.head_msgs);
    free(g.requests);
    free(g.tips);
    free(g.known);
    free(g.bodies);
    return rc;
}

static void *loggen_thread(void *arg)
{
    okno_loggen_job *job = arg;
    job->rc = okno_loggen_run(&job->o, &job->r);
    job->done = 1;
    return NULL;
}

int okno_loggen_start(okno_loggen_job *job)
{
    job->done = 0;
    job->rc = 0;
    return pthread_create(&job->thread, NULL, loggen_thread, job) == 0 ? OKNO_OK : OKNO_ENOMEM;
}

int okno_loggen_join(okno_loggen_job *job)
{
    pthread_join(job->thread, NULL);
    return job->rc;
}
