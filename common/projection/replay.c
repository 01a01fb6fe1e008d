/* Replay: the whole event log (or its part up to an as-of time) into a fresh read-model schema,
 * then an atomic swap. Workers take the log's hash partitions one at a time: a partition holds
 * every event of its messages, so each one is folded completely in memory, in (tx, position)
 * order (which is seq order per message), and written by COPY, each row once. All workers read
 * one exported snapshot, and only rows below its xmin horizon, so the new schema's cursor is
 * that horizon and a live projector continues exactly after it. */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "okno/avro.h"
#include "okno/clock.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/pg.h"
#include "okno/replay.h"
#include "projection/internal.h"

/* Partitions of the log read at most (the log has 16 today). */
#define REPLAY_PARTS_MAX 1024
/* How often the progress callback runs, and how long the main thread sleeps between checks. */
#define PROGRESS_EVERY_MS 500
#define WAIT_SLICE_MS     50
/* maintenance_work_mem of each connection building indexes: an index sorted in memory builds
 * several times faster than one sorted on disk. The planner's statistics are left to
 * autovacuum, which analyzes the new tables within a minute of the swap. */
#define REPLAY_INDEX_MEMORY "512MB"
/* One event in this many is timed for the phase statistics (a clock read per event would cost
 * a few per cent of the replay). A power of two. */
#define REPLAY_TIMING_SAMPLE 32

typedef struct replay replay;

typedef struct worker {
    replay *rp;
    pthread_t thread;
    bool started;
    PGconn *reader, *writer;
    okno_proj_writer out; /* over writer, to the new schema */
    okno_proj_store store;
    okno_proj_batch batch;
    okno_proj_entry **flush; /* entries written by the current flush */
    size_t flush_cap;
    bool header_seen;                              /* the COPY stream's binary header was passed */
    int64_t read_ns, decode_ns, fold_ns, write_ns; /* where the worker's time went */
    uint64_t rows_seen;                            /* COPY rows received (for the sampling) */
    int rc;
    char err[OKNO_PROJ_ERROR_BYTES];
} worker;

struct replay {
    const okno_replay_options *o;
    okno_replay_result *r;
    char schema_new[OKNO_PROJ_SCHEMA_BYTES + 8];
    char schema_old[OKNO_PROJ_SCHEMA_BYTES + 8];
    char snapshot[64];
    char where[160]; /* the row filter: below the horizon, at or before as_of */
    char *parts[REPLAY_PARTS_MAX];
    uint32_t parts_count;
    uint64_t events_estimate;
    atomic_uint next_part;
    atomic_uint parts_done;
    atomic_int workers_done;
    atomic_bool failed;
    atomic_uint_least64_t events;
    atomic_uint_least64_t messages;
    worker workers[OKNO_REPLAY_JOBS_MAX];
    int64_t started_ms; /* okno_clock_monotonic_ms at the start */
};

void okno_replay_options_init(okno_replay_options *o)
{
    *o = (okno_replay_options){.schema = "okno_rm", .jobs = 2};
}

/* Writes the text into the replay's error (okno/error.h) and returns code. */
#define fail(rp, code, ...) okno_errorf((rp)->r->error, sizeof(rp)->r->error, code, __VA_ARGS__)

static double seconds_since(int64_t started_ms)
{
    return (double)(okno_clock_monotonic_ms() - started_ms) / 1e3;
}

/* Runs sql; on failure copies PostgreSQL's message into err. */
static int run(PGconn *conn, const char *sql, char *err, size_t err_bytes)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? OKNO_OK : OKNO_EPG;
    if (rc != OKNO_OK)
        snprintf(err, err_bytes, "%.200s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

static PGconn *connect_to(const char *conninfo, char *err, size_t err_bytes)
{
    PGconn *conn = NULL;
    okno_pg_connect(conninfo, &conn, err, err_bytes);
    return conn;
}

/* ---- a worker ------------------------------------------------------------------------------ */

static void worker_fail(worker *w, int rc, const char *fmt, ...)
{
    if (w->rc != OKNO_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    w->rc = rc;
    atomic_store(&w->rp->failed, true);
}

static int worker_connect(worker *w)
{
    replay *rp = w->rp;
    char sql[160];
    w->reader = connect_to(rp->o->conninfo, w->err, sizeof w->err);
    w->writer = w->reader ? connect_to(rp->o->conninfo, w->err, sizeof w->err) : NULL;
    if (w->writer == NULL)
        return w->rc = OKNO_EPG;
    snprintf(sql, sizeof sql,
             "begin isolation level repeatable read read only; set transaction snapshot '%s'",
             rp->snapshot);
    int rc = run(w->reader, sql, w->err, sizeof w->err);
    /* Nothing in the new schema is visible until the swap, which commits synchronously. */
    if (rc == OKNO_OK)
        rc = run(w->writer, "set synchronous_commit = off", w->err, sizeof w->err);
    if (rc == OKNO_OK)
        rc = okno_proj_writer_init(&w->out, w->writer, rp->schema_new);
    return w->rc = rc;
}

static int flush_room(worker *w, size_t n)
{
    if (n <= w->flush_cap)
        return OKNO_OK;
    okno_proj_entry **p = realloc(w->flush, n * sizeof *p);
    if (p == NULL)
        return OKNO_ENOMEM;
    w->flush = p;
    w->flush_cap = n;
    return OKNO_OK;
}

static int bulk(worker *w, const okno_proj_batch *b, okno_proj_entry *const *entries, size_t n)
{
    int64_t t0 = okno_clock_monotonic_ns();
    int rc = okno_proj_write_bulk(&w->out, b, entries, n);
    w->write_ns += okno_clock_monotonic_ns() - t0;
    if (rc != OKNO_OK)
        snprintf(w->err, sizeof w->err, "%s", w->out.error);
    return rc;
}

/* Writes what the chunk finished: ended visits, timeline rows, and the cards of messages that
 * closed (which can get no more events), then forgets those messages. */
static int flush_closed(worker *w)
{
    okno_proj_batch *b = &w->batch;
    if (flush_room(w, b->dirty_count) != OKNO_OK)
        return OKNO_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < b->dirty_count; i++)
        if (b->dirty[i]->m.state.outcome != OKNO_OUTCOME_OPEN)
            w->flush[n++] = b->dirty[i];
    int rc = bulk(w, b, w->flush, n);
    okno_proj_batch_reset(b, true);
    for (size_t i = 0; i < n; i++)
        okno_proj_store_remove(&w->store, w->flush[i]);
    atomic_fetch_add(&w->rp->messages, n);
    return rc;
}

typedef struct collector {
    okno_proj_entry **out;
    size_t n;
} collector;

static void collect(okno_proj_entry *e, void *arg)
{
    collector *c = arg;
    c->out[c->n++] = e;
}

/* End of a partition: every remaining message's card, inbox rows and current visit. */
static int flush_all(worker *w)
{
    if (flush_room(w, w->store.count) != OKNO_OK)
        return OKNO_ENOMEM;
    collector c = {.out = w->flush};
    okno_proj_store_each(&w->store, collect, &c);
    int rc = bulk(w, &w->batch, w->flush, c.n);
    okno_proj_batch_reset(&w->batch, true);
    okno_proj_store_clear(&w->store);
    atomic_fetch_add(&w->rp->messages, c.n);
    return rc;
}

/* The body of one binary COPY row (one field): 1; the trailer: 0; anything else: -1. */
static int row_body(worker *w, const char *buf, int len, const uint8_t **body, size_t *bytes)
{
    static const char signature[11] = "PGCOPY\n\377\r\n";
    const uint8_t *p = (const uint8_t *)buf, *end = p + len;
    if (!w->header_seen) {
        if (len < 19 || memcmp(p, signature, 11) != 0)
            return -1;
        uint32_t ext = (uint32_t)p[15] << 24 | (uint32_t)p[16] << 16 | (uint32_t)p[17] << 8 | p[18];
        p += 19 + ext;
        w->header_seen = true;
    }
    if (end - p == 2 && p[0] == 0xff && p[1] == 0xff)
        return 0;
    if (end - p < 6 || p[0] != 0 || p[1] != 1)
        return -1;
    uint32_t n = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
    if ((size_t)(end - p - 6) != n)
        return -1;
    *body = p + 6;
    *bytes = n;
    return 1;
}

/* Decodes and folds one event; timed: add the times (scaled by the sample) to the phases. */
static int apply_body(worker *w, const uint8_t *body, size_t n, bool timed)
{
    okno_event ev;
    okno_avro_error aerr = {0};
    int64_t t0 = timed ? okno_clock_monotonic_ns() : 0;
    if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, body, n, &ev, &aerr) != OKNO_OK) {
        worker_fail(w, OKNO_EINVAL, "undecodable event body: %s", aerr.reason);
        return OKNO_EINVAL;
    }
    int64_t t1 = timed ? okno_clock_monotonic_ns() : 0;
    okno_proj_entry *e = okno_proj_store_find(&w->store, &ev.message_id);
    if (e == NULL && (e = okno_proj_store_add(&w->store, &ev.message_id)) == NULL)
        return OKNO_ENOMEM;
    int rc = okno_proj_apply(&w->batch, e, &ev);
    if (timed) {
        w->decode_ns += (t1 - t0) * REPLAY_TIMING_SAMPLE;
        w->fold_ns += (okno_clock_monotonic_ns() - t1) * REPLAY_TIMING_SAMPLE;
    }
    if (rc != OKNO_OK) {
        char id[37];
        okno_eventlog_uuid_text(ev.message_id.bytes, id);
        worker_fail(w, OKNO_EINVAL, "message %s seq %" PRIu64 " does not apply on seq %" PRIu64, id,
                    ev.seq, e->m.state.last_seq);
        return OKNO_EINVAL;
    }
    return OKNO_OK;
}

/* Reads one partition's COPY stream and folds it, writing a chunk at a time. */
static int stream_part(worker *w, const char *part)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "copy (select body from %s where %s order by tx, position) to stdout (format binary)",
             part, w->rp->where);
    PGresult *res = PQexec(w->reader, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        worker_fail(w, OKNO_EPG, "%s: %s", part, PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EPG;
    }
    PQclear(res);
    w->header_seen = false;
    int rc = OKNO_OK, len;
    char *buf;
    uint64_t since_flush = 0;
    while (rc == OKNO_OK) {
        bool timed = (w->rows_seen++ & (REPLAY_TIMING_SAMPLE - 1)) == 0;
        int64_t t0 = timed ? okno_clock_monotonic_ns() : 0;
        if ((len = PQgetCopyData(w->reader, &buf, 0)) <= 0)
            break;
        if (timed)
            w->read_ns += (okno_clock_monotonic_ns() - t0) * REPLAY_TIMING_SAMPLE;
        const uint8_t *body;
        size_t n;
        int kind = row_body(w, buf, len, &body, &n);
        if (kind < 0)
            worker_fail(w, rc = OKNO_EPG, "%s: a COPY row that is not one binary field", part);
        if (kind > 0)
            rc = apply_body(w, body, n, timed);
        if (kind > 0 && rc == OKNO_OK && ++since_flush >= OKNO_REPLAY_CHUNK_EVENTS) {
            atomic_fetch_add(&w->rp->events, since_flush);
            since_flush = 0;
            rc = flush_closed(w);
        }
        PQfreemem(buf);
    }
    atomic_fetch_add(&w->rp->events, since_flush);
    if (rc != OKNO_OK)
        return rc; /* the reader is abandoned mid-COPY; the worker ends and closes it */
    while ((res = PQgetResult(w->reader)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == OKNO_OK)
            worker_fail(w, rc = OKNO_EPG, "%s: %s", part, PQresultErrorMessage(res));
        PQclear(res);
    }
    if (rc == OKNO_OK)
        rc = flush_all(w);
    return rc;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    replay *rp = w->rp;
    if (worker_connect(w) == OKNO_OK) {
        unsigned i;
        while (!atomic_load(&rp->failed) &&
               (i = atomic_fetch_add(&rp->next_part, 1)) < rp->parts_count) {
            int rc = stream_part(w, rp->parts[i]);
            if (rc != OKNO_OK && w->rc == OKNO_OK) {
                w->rc = rc; /* w->err says why */
                atomic_store(&rp->failed, true);
            }
            atomic_fetch_add(&rp->parts_done, 1);
        }
    } else {
        atomic_store(&rp->failed, true);
    }
    atomic_fetch_add(&rp->workers_done, 1);
    return NULL;
}

/* ---- the coordinator ------------------------------------------------------------------------ */

/* The log's partitions, largest first (so the last one to finish is a small one), or the log
 * itself when it is not hash-partitioned by message id: then one worker reads it whole. */
static int list_parts(replay *rp, PGconn *conn)
{
    PGresult *res = PQexec(
        conn, "select coalesce(max(c.oid::regclass::text), 'okno.event_log'),"
              " (select partstrat = 'h' and partnatts = 1 and a.attname = 'message_id'"
              "  from pg_partitioned_table p join pg_attribute a on a.attrelid = p.partrelid"
              "  and a.attnum = p.partattrs[0] where p.partrelid = 'okno.event_log'::regclass),"
              " sum(greatest(c.reltuples, 0))::bigint"
              " from pg_inherits i join pg_class c on c.oid = i.inhrelid"
              " where i.inhparent = 'okno.event_log'::regclass");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(rp, OKNO_EPG, "list partitions: %s", PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EPG;
    }
    bool by_message = PQgetvalue(res, 0, 1)[0] == 't';
    rp->events_estimate = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
    PQclear(res);
    res = PQexec(conn, by_message ? "select c.oid::regclass::text from pg_inherits i join pg_class"
                                    " c on c.oid = i.inhrelid where i.inhparent ="
                                    " 'okno.event_log'::regclass order by c.relpages desc, 1"
                                  : "select 'okno.event_log'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) > REPLAY_PARTS_MAX) {
        fail(rp, OKNO_EPG, "list partitions: %s", PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EPG;
    }
    for (int i = 0; i < PQntuples(res); i++)
        rp->parts[rp->parts_count++] = strdup(PQgetvalue(res, i, 0));
    PQclear(res);
    return OKNO_OK;
}

/* Opens the snapshot every worker imports; its xmin is the horizon of the replay. */
static int take_snapshot(replay *rp, PGconn *snap)
{
    PGresult *res = PQexec(snap, "begin isolation level repeatable read read only");
    PQclear(res);
    res = PQexec(snap, "select pg_export_snapshot(), pg_snapshot_xmin(pg_current_snapshot())");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(rp, OKNO_EPG, "snapshot: %s", PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EPG;
    }
    snprintf(rp->snapshot, sizeof rp->snapshot, "%s", PQgetvalue(res, 0, 0));
    snprintf(rp->r->horizon_tx, sizeof rp->r->horizon_tx, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    int n = snprintf(rp->where, sizeof rp->where, "tx < '%s'::xid8", rp->r->horizon_tx);
    if (rp->o->as_of_ms != 0)
        snprintf(rp->where + n, sizeof rp->where - (size_t)n,
                 " and occurred_at <= to_timestamp(%" PRId64 " / 1000.0)", rp->o->as_of_ms);
    return OKNO_OK;
}

static void report(replay *rp, const char *phase)
{
    if (rp->o->progress == NULL)
        return;
    okno_replay_progress p = {
        .events = atomic_load(&rp->events),
        .events_total = rp->events_estimate,
        .parts_done = atomic_load(&rp->parts_done),
        .parts_total = rp->parts_count,
        .seconds = seconds_since(rp->started_ms),
        .phase = phase,
    };
    rp->o->progress(&p, rp->o->progress_arg);
}

/* Starts the workers and waits for them, reporting progress. */
static int read_log(replay *rp)
{
    int jobs = rp->o->jobs < (int)rp->parts_count ? rp->o->jobs : (int)rp->parts_count;
    for (int i = 0; i < jobs; i++) {
        worker *w = &rp->workers[i];
        w->rp = rp;
        if (okno_proj_store_init(&w->store, 1u << 16) != OKNO_OK ||
            okno_proj_batch_init(&w->batch) != OKNO_OK)
            return fail(rp, OKNO_ENOMEM, "out of memory");
        w->started = pthread_create(&w->thread, NULL, worker_main, w) == 0;
        if (!w->started)
            return fail(rp, OKNO_ENOMEM, "cannot start a worker thread");
    }
    double last = 0;
    struct timespec slice = {0, WAIT_SLICE_MS * 1000000L};
    while (atomic_load(&rp->workers_done) < jobs) {
        nanosleep(&slice, NULL);
        double now = seconds_since(rp->started_ms);
        if (now - last >= PROGRESS_EVERY_MS / 1000.0) {
            report(rp, "reading");
            last = now;
        }
    }
    okno_replay_phases *ph = &rp->r->phases;
    for (int i = 0; i < jobs; i++) {
        worker *w = &rp->workers[i];
        pthread_join(w->thread, NULL);
        w->started = false;
        ph->read += (double)w->read_ns / 1e9;
        ph->decode += (double)w->decode_ns / 1e9;
        ph->fold += (double)w->fold_ns / 1e9;
        ph->encode += (double)(w->write_ns - w->out.copy_ns) / 1e9;
        ph->copy += (double)w->out.copy_ns / 1e9;
        if (w->rc != OKNO_OK)
            return fail(rp, w->rc, "%s", w->err);
    }
    return OKNO_OK;
}

/* The workers' statistics in one table, written once (the table has no key yet). */
static int write_stats(replay *rp, PGconn *conn)
{
    int64_t t0 = okno_clock_monotonic_ns();
    okno_proj_stats *all = &rp->workers[0].batch.stats;
    for (int i = 1; i < OKNO_REPLAY_JOBS_MAX; i++)
        if (okno__proj_stats_add(all, &rp->workers[i].batch.stats) != OKNO_OK)
            return fail(rp, OKNO_ENOMEM, "out of memory");
    okno_proj_writer out;
    int rc = okno_proj_writer_init(&out, conn, rp->schema_new);
    if (rc == OKNO_OK)
        rc = okno_proj_write_stats_bulk(&out, all);
    if (rc != OKNO_OK)
        fail(rp, rc, "%s", out.error);
    okno_proj_writer_close(&out);
    rp->r->phases.stats = (double)(okno_clock_monotonic_ns() - t0) / 1e9;
    return rc;
}

/* Index builds spread over the workers' connections: each takes the next statement. */
typedef struct index_job {
    replay *rp;
    PGresult *statements;
    int order[OKNO_REPLAY_INDEXES_MAX]; /* statements in the order they are taken */
    int count;
    atomic_int next;
    atomic_int rc;
    atomic_bool stats_written; /* stats_daily is loaded: its key may be built */
} index_job;

/* Whether statement i builds a key or index of stats_daily (which the coordinator loads while
 * the other tables' indexes are built). */
static bool on_stats(const index_job *job, int i)
{
    return strstr(PQgetvalue(job->statements, i, 0), ".stats_daily ") != NULL;
}

typedef struct index_worker {
    index_job *job;
    PGconn *conn;
    pthread_t thread;
    char err[OKNO_PROJ_ERROR_BYTES];
} index_worker;

static void *index_main(void *arg)
{
    index_worker *iw = arg;
    index_job *job = iw->job;
    char sql[128];
    snprintf(sql, sizeof sql, "set maintenance_work_mem = '%s'%s", REPLAY_INDEX_MEMORY,
             job->rp->o->jobs > 1 ? "; set max_parallel_maintenance_workers = 0" : "");
    int rc = run(iw->conn, sql, iw->err, sizeof iw->err), k;
    struct timespec slice = {0, WAIT_SLICE_MS * 1000000L / 10};
    while (rc == OKNO_OK && atomic_load(&job->rc) == OKNO_OK &&
           (k = atomic_fetch_add(&job->next, 1)) < job->count) {
        int i = job->order[k];
        while (on_stats(job, i) && !atomic_load(&job->stats_written) &&
               atomic_load(&job->rc) == OKNO_OK)
            nanosleep(&slice, NULL);
        int64_t t0 = okno_clock_monotonic_ns();
        if (atomic_load(&job->rc) == OKNO_OK)
            rc = run(iw->conn, PQgetvalue(job->statements, i, 0), iw->err, sizeof iw->err);
        job->rp->r->phases.index[i] = (double)(okno_clock_monotonic_ns() - t0) / 1e9;
    }
    if (rc != OKNO_OK)
        atomic_store(&job->rc, rc);
    return NULL;
}

/* "table(columns)" of an index statement of okno.rm_index_statements, for the statistics. */
static void index_name(const char *statement, char *out, size_t size)
{
    const char *dot = strchr(statement, '.'), *open = strrchr(statement, '(');
    size_t table = dot != NULL ? strcspn(dot + 1, " (") : 0;
    snprintf(out, size, "%.*s%s", (int)table, dot != NULL ? dot + 1 : "", open ? open : "");
}

/* The statistics, then keys and indexes, built in parallel: the coordinator's connection loads
 * stats_daily while the others build the other tables' indexes (stats_daily's come last).
 * Planner statistics are left to autovacuum. */
static int build_indexes(replay *rp, PGconn *conn)
{
    char sql[256];
    snprintf(sql, sizeof sql, "select okno.rm_index_statements('%s')", rp->schema_new);
    index_job job = {.rp = rp, .statements = PQexec(conn, sql)};
    if (PQresultStatus(job.statements) != PGRES_TUPLES_OK ||
        PQntuples(job.statements) > OKNO_REPLAY_INDEXES_MAX) {
        fail(rp, OKNO_EPG, "%s: %s", sql, PQresultErrorMessage(job.statements));
        PQclear(job.statements);
        return OKNO_EPG;
    }
    okno_replay_phases *ph = &rp->r->phases;
    ph->indexes = PQntuples(job.statements);
    for (int i = 0; i < ph->indexes; i++)
        index_name(PQgetvalue(job.statements, i, 0), ph->index_name[i], sizeof ph->index_name[i]);
    for (int last = 0; last < 2; last++)
        for (int i = 0; i < ph->indexes; i++)
            if (on_stats(&job, i) == (last == 1))
                job.order[job.count++] = i;
    index_worker iws[OKNO_REPLAY_JOBS_MAX] = {0};
    int n = 0;
    iws[n++] = (index_worker){.job = &job, .conn = conn};
    for (int i = 0; i < OKNO_REPLAY_JOBS_MAX && n < rp->o->jobs; i++)
        if (rp->workers[i].writer != NULL)
            iws[n++] = (index_worker){.job = &job, .conn = rp->workers[i].writer};
    for (int i = 1; i < n; i++)
        if (pthread_create(&iws[i].thread, NULL, index_main, &iws[i]) != 0)
            iws[i].conn = NULL; /* the others take its share */
    int rc = write_stats(rp, conn);
    if (rc != OKNO_OK)
        atomic_store(&job.rc, rc);
    atomic_store(&job.stats_written, true);
    if (rc == OKNO_OK)
        index_main(&iws[0]);
    for (int i = 1; i < n; i++)
        if (iws[i].conn != NULL)
            pthread_join(iws[i].thread, NULL);
    PQclear(job.statements);
    if (rc != OKNO_OK)
        return rc; /* write_stats said why */
    for (int i = 0; i < n; i++)
        if (iws[i].err[0] != '\0')
            return fail(rp, OKNO_EPG, "%s", iws[i].err);
    return atomic_load(&job.rc);
}

/* A timestamptz literal for Unix ms, exact to the millisecond. */
static void ts_literal(char *buf, size_t size, int64_t unix_ms)
{
    snprintf(buf, size, "(timestamptz 'epoch' + %" PRId64 " * interval '1 millisecond')", unix_ms);
}

/* Indexes and the meta row of the new schema. */
static int finish_schema(replay *rp, PGconn *conn)
{
    int rc = build_indexes(rp, conn);
    if (rc != OKNO_OK)
        return rc;
    char sql[1024], as_of[96] = "null";
    if (rp->o->as_of_ms != 0)
        ts_literal(as_of, sizeof as_of, rp->o->as_of_ms);
    snprintf(sql, sizeof sql,
             "update %1$s.meta set cursor_tx = '%2$s', cursor_position = -1,"
             " events_applied = %3$" PRIu64 ", as_of = %4$s, built_by = 'replay',"
             " built_at = now(), updated_at = now()",
             rp->schema_new, rp->r->horizon_tx, (uint64_t)atomic_load(&rp->events), as_of);
    int64_t t0 = okno_clock_monotonic_ns();
    rc = run(conn, sql, rp->r->error, sizeof rp->r->error);
    rp->r->phases.meta = (double)(okno_clock_monotonic_ns() - t0) / 1e9;
    return rc;
}

/* The swap: the new schema's row-level security policies and the gateway's grants
 * (okno.rm_secure: after the bulk load, which COPY under RLS would refuse), then both renames,
 * in one transaction under the projector's batch lock so that no live batch straddles it.
 * Readers see the old schema until the commit, then the new one, already secured. */
static int swap(replay *rp, PGconn *conn)
{
    char secure[256], sql[1024];
    const char *s = rp->o->schema;
    okno_replay_phases *ph = &rp->r->phases;
    snprintf(secure, sizeof secure,
             "drop schema if exists %s cascade; begin;"
             " select okno.rm_secure('%s')",
             rp->schema_old, rp->schema_new);
    snprintf(sql, sizeof sql,
             "select " OKNO_PROJ_BATCH_LOCK_SQL(
                 2) ";"
                    "do $$ begin"
                    " if exists (select from pg_namespace where nspname = '%2$s') then"
                    "  alter schema %2$s rename to %1$s; end if; end $$;"
                    "alter schema %3$s rename to %2$s;"
                    "select pg_notify('" OKNO_PROJ_NOTIFY_CHANNEL "', '*');"
                    "commit",
             rp->schema_old, s, rp->schema_new);
    int64_t t0 = okno_clock_monotonic_ns();
    int rc = run(conn, secure, rp->r->error, sizeof rp->r->error);
    int64_t t1 = okno_clock_monotonic_ns();
    if (rc == OKNO_OK)
        rc = run(conn, sql, rp->r->error, sizeof rp->r->error);
    int64_t t2 = okno_clock_monotonic_ns();
    ph->secure = (double)(t1 - t0) / 1e9;
    ph->rename = (double)(t2 - t1) / 1e9;
    if (rc != OKNO_OK) {
        PQclear(PQexec(conn, "rollback"));
        return rc;
    }
    if (rp->o->keep_old)
        return OKNO_OK;
    snprintf(sql, sizeof sql, "drop schema if exists %s cascade", rp->schema_old);
    rc = run(conn, sql, rp->r->error, sizeof rp->r->error);
    ph->drop = (double)(okno_clock_monotonic_ns() - t2) / 1e9;
    return rc;
}

static int check_options(replay *rp)
{
    const okno_replay_options *o = rp->o;
    if (o->conninfo == NULL)
        return fail(rp, OKNO_EINVAL, "no database given");
    if (o->jobs < 1 || o->jobs > OKNO_REPLAY_JOBS_MAX)
        return fail(rp, OKNO_EINVAL, "jobs must be 1..%d", OKNO_REPLAY_JOBS_MAX);
    snprintf(rp->schema_new, sizeof rp->schema_new, "%s_new", o->schema ? o->schema : "");
    snprintf(rp->schema_old, sizeof rp->schema_old, "%s_old", o->schema ? o->schema : "");
    if (!okno_proj_schema_valid(o->schema) || !okno_proj_schema_valid(rp->schema_new))
        return fail(rp, OKNO_EINVAL, "the schema must match okno_rm[a-z0-9_]* (at most %d bytes)",
                    OKNO_PROJ_SCHEMA_BYTES - 5);
    okno_avro_error aerr = {0};
    if (okno_avro_init(&aerr) != OKNO_OK)
        return fail(rp, OKNO_EINVAL, "Avro schemas: %s", aerr.reason);
    return OKNO_OK;
}

/* One replay at a time per schema: a second one would drop the first one's SCHEMA_new. */
static int lock_and_create(replay *rp, PGconn *conn)
{
    char sql[512];
    snprintf(sql, sizeof sql, "select pg_try_advisory_lock(hashtextextended('okno.replay:%s', 0))",
             rp->o->schema);
    PGresult *res = PQexec(conn, sql);
    bool locked = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!locked)
        return fail(rp, OKNO_ECONFLICT, "another replay of %s is running", rp->o->schema);
    snprintf(sql, sizeof sql,
             "set client_min_messages = warning; drop schema if exists %1$s cascade;"
             " select okno.rm_create('%1$s')",
             rp->schema_new);
    return run(conn, sql, rp->r->error, sizeof rp->r->error);
}

static int replay_steps(replay *rp, PGconn *conn, PGconn *snap)
{
    int rc = lock_and_create(rp, conn);
    if (rc == OKNO_OK)
        rc = list_parts(rp, conn);
    if (rc == OKNO_OK && (rc = take_snapshot(rp, snap)) == OKNO_OK) {
        rc = read_log(rp);
        PQclear(PQexec(snap, "commit"));
    }
    double t = seconds_since(rp->started_ms);
    rp->r->seconds_read = t;
    report(rp, "indexing");
    if (rc == OKNO_OK)
        rc = finish_schema(rp, conn);
    rp->r->seconds_index = seconds_since(rp->started_ms) - t;
    t = seconds_since(rp->started_ms);
    report(rp, "swapping");
    if (rc == OKNO_OK)
        rc = swap(rp, conn);
    rp->r->seconds_swap = seconds_since(rp->started_ms) - t;
    return rc;
}

static void replay_free(replay *rp)
{
    for (int i = 0; i < OKNO_REPLAY_JOBS_MAX; i++) {
        worker *w = &rp->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        PQfinish(w->reader);
        PQfinish(w->writer);
        okno_proj_batch_close(&w->batch);
        okno_proj_store_close(&w->store);
        okno_proj_writer_close(&w->out);
        free(w->flush);
    }
    for (uint32_t i = 0; i < rp->parts_count; i++)
        free(rp->parts[i]);
}

int okno_replay_run(const okno_replay_options *o, okno_replay_result *result)
{
    *result = (okno_replay_result){0};
    replay *rp = calloc(1, sizeof *rp);
    if (rp == NULL)
        return OKNO_ENOMEM;
    rp->o = o;
    rp->r = result;
    rp->started_ms = okno_clock_monotonic_ms();
    int rc = check_options(rp);
    PGconn *conn = NULL, *snap = NULL;
    if (rc == OKNO_OK &&
        (conn = connect_to(o->conninfo, result->error, sizeof result->error)) != NULL)
        snap = connect_to(o->conninfo, result->error, sizeof result->error);
    if (rc == OKNO_OK)
        rc = snap == NULL ? OKNO_EPG : replay_steps(rp, conn, snap);
    if (rc != OKNO_OK && conn != NULL && PQstatus(conn) == CONNECTION_OK) {
        char sql[128], ignored[256];
        snprintf(sql, sizeof sql, "drop schema if exists %s cascade", rp->schema_new);
        run(conn, sql, ignored, sizeof ignored); /* a failed build leaves nothing behind */
    }
    result->events = atomic_load(&rp->events);
    result->messages = atomic_load(&rp->messages);
    result->seconds = seconds_since(rp->started_ms);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        result->phases.cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                             (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    if (rc == OKNO_OK)
        report(rp, "done");
    PQfinish(snap);
    PQfinish(conn);
    replay_free(rp);
    free(rp);
    return rc;
}
