/* The projector's core: one batch of the event log into the read models per transaction. The
 * ordering and idempotency argument is in README.md. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/avro.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/logtail.h"
#include "okno/pgbin.h"
#include "projector.h"

/* Statements, in order of use; %1$s is the read-model schema. */
/* The batch lock comes first so that a replay's swap (which takes it too) never interleaves
 * with a batch; then the meta row, whose cursor only the lock holder moves. */
static const char BEGIN_SQL[] = "begin; select " OKNO_PROJ_BATCH_LOCK_SQL(
    1) ";"
       " select generation, cursor_tx::text, cursor_position, layout, as_of is not null"
       " from %1$s.meta";
/* The log tail's horizon rule: nothing can ever appear below it later, so the cursor skips
 * nothing. */
static const char EVENTS_SQL[] = "select message_id, seq, body, tx::text as tx_text, position"
                                 " from okno.event_log" OKNO_LOGTAIL_BELOW_HORIZON;
static const char COMMIT_SQL[] =
    "update %1$s.meta set cursor_tx = '%2$s', cursor_position = %3$" PRId64 ","
    " events_applied = events_applied + %4$zu, updated_at = now(); commit";

static int fail(okno_projector *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    return code;
}

void okno_projector_config_init(okno_projector_config *cfg)
{
    *cfg = (okno_projector_config){
        .schema = "okno_rm",
        .batch_events = OKNO_PROJECTOR_BATCH_EVENTS_DEFAULT,
        .cache_entries_max = OKNO_PROJECTOR_CACHE_DEFAULT,
    };
}

int okno_projector_init(okno_projector *p, const okno_projector_config *cfg)
{
    *p = (okno_projector){.cfg = *cfg};
    if (!okno_proj_schema_valid(cfg->schema))
        return fail(p, OKNO_ECONFIG, "projector.schema must match okno_rm[a-z0-9_]*");
    if (cfg->batch_events < 1 || cfg->batch_events > OKNO_PROJECTOR_BATCH_EVENTS_MAX)
        return fail(p, OKNO_ECONFIG, "projector.batch_events must be 1..%d",
                    OKNO_PROJECTOR_BATCH_EVENTS_MAX);
    if (okno_proj_writer_init(&p->writer, NULL, cfg->schema) != OKNO_OK)
        return fail(p, OKNO_ECONFIG, "projector.schema must match okno_rm[a-z0-9_]*");
    p->misses = calloc((size_t)cfg->batch_events, sizeof *p->misses);
    if (p->misses == NULL || okno_proj_store_init(&p->cache, cfg->cache_entries_max / 4) != 0 ||
        okno_proj_batch_init(&p->batch) != 0)
        return fail(p, OKNO_ENOMEM, "out of memory");
    if (okno_logtail_init(&p->tail, cfg->pg_keywords, cfg->pg_values,
                          "okno.projector:", cfg->schema) != OKNO_OK)
        return fail(p, OKNO_ECONFIG, "projector.schema is too long");
    okno_avro_error aerr = {0};
    if (okno_avro_init(&aerr) != 0)
        return fail(p, OKNO_EINVAL, "Avro schemas: %s", aerr.reason);
    return OKNO_OK;
}

static void pg_stop(okno_projector *p)
{
    okno_logtail_stop(&p->tail);
    p->prepared = false;
}

static int pg_failed(okno_projector *p, const char *what, PGresult *res)
{
    okno_pg_error(p->error, sizeof p->error, what, res, p->tail.conn);
    PQclear(res);
    if (PQstatus(p->tail.conn) != CONNECTION_OK)
        pg_stop(p);
    return OKNO_EPG;
}

/* Connects, becomes the one active projector of its schema (the log tail's leader lock) and
 * creates the staging tables. */
static int pg_start(okno_projector *p)
{
    int rc = okno_logtail_start(&p->tail, p->error, sizeof p->error);
    if (rc == OKNO_ECONFLICT)
        return fail(p, OKNO_ECONFLICT, "another projector of %s is active", p->cfg.schema);
    if (rc != OKNO_OK) {
        pg_stop(p);
        return rc;
    }
    if (!p->prepared) {
        p->writer.conn = p->tail.conn;
        rc = okno_proj_prepare(&p->writer);
        if (rc != 0)
            return fail(p, rc, "%s", p->writer.error);
        p->prepared = true;
    }
    return OKNO_OK;
}

/* Begins the batch: locks, reads meta; a new generation (a replay swapped a schema in) empties
 * the cache, which belonged to the old one. */
static int batch_begin(okno_projector *p, okno_log_cursor *cursor)
{
    char sql[512];
    snprintf(sql, sizeof sql, BEGIN_SQL, p->cfg.schema);
    PGresult *res = PQexec(p->tail.conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return pg_failed(p, "begin batch", res);
    int64_t generation = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(cursor->tx, sizeof cursor->tx, "%s", PQgetvalue(res, 0, 1));
    cursor->position = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    int layout = atoi(PQgetvalue(res, 0, 3));
    bool as_of = PQgetvalue(res, 0, 4)[0] == 't';
    PQclear(res);
    if (layout != OKNO_PROJ_LAYOUT || as_of)
        return fail(p, OKNO_EINVAL, "%s has layout %d%s; this projector maintains layout %d",
                    p->cfg.schema, layout, as_of ? " and is a historical (--as-of) build" : "",
                    OKNO_PROJ_LAYOUT);
    if (generation != p->generation) {
        if (p->generation != 0)
            p->stats.swaps++;
        okno_proj_store_clear(&p->cache);
        p->generation = generation;
    }
    return OKNO_OK;
}

static int uuid_compare(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(okno_uuid));
}

/* Loads the cards of the batch's messages that are not cached (each id once). */
static int load_misses(okno_projector *p, const PGresult *rows)
{
    size_t n = 0, unique = 0;
    for (int i = 0; i < PQntuples(rows); i++) {
        okno_uuid id;
        memcpy(id.bytes, PQgetvalue(rows, i, 0), sizeof id.bytes);
        if (okno_proj_store_find(&p->cache, &id) == NULL)
            p->misses[n++] = id;
    }
    qsort(p->misses, n, sizeof *p->misses, uuid_compare);
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || uuid_compare(&p->misses[unique - 1], &p->misses[i]) != 0)
            p->misses[unique++] = p->misses[i];
    int rc = okno_proj_load(&p->writer, p->misses, unique, &p->cache);
    return rc == OKNO_OK ? OKNO_OK : fail(p, rc, "%s", p->writer.error);
}

static int apply_row(okno_projector *p, const PGresult *rows, int i)
{
    okno_event ev;
    okno_avro_error aerr = {0};
    const uint8_t *body = (const uint8_t *)PQgetvalue(rows, i, 2);
    char id_text[37];
    okno_eventlog_uuid_text((const uint8_t *)PQgetvalue(rows, i, 0), id_text);
    int32_t seq = okno_pgbin_get_i32(PQgetvalue(rows, i, 1));
    if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, body, (size_t)PQgetlength(rows, i, 2), &ev,
                               &aerr) != 0)
        return fail(p, OKNO_EINVAL, "message %s seq %d: undecodable body: %s", id_text, seq,
                    aerr.reason);
    if (ev.seq != (uint64_t)seq || memcmp(ev.message_id.bytes, PQgetvalue(rows, i, 0), 16) != 0)
        return fail(p, OKNO_EINVAL, "message %s seq %d: the body names another event", id_text,
                    seq);
    okno_proj_entry *e = okno_proj_store_find(&p->cache, &ev.message_id);
    if (e == NULL && (e = okno_proj_store_add(&p->cache, &ev.message_id)) == NULL)
        return fail(p, OKNO_ENOMEM, "out of memory");
    int rc = okno_proj_apply(&p->batch, e, &ev);
    if (rc == OKNO_EDUPLICATE)
        return OKNO_OK; /* applied by an earlier batch: the per-message seq says so */
    if (rc != OKNO_OK)
        return fail(p, rc,
                    "message %s seq %d cannot be applied on top of seq %" PRIu64
                    " (%s): rebuild the read models with okno replay",
                    id_text, seq, e->m.state.last_seq, okno_strerror(rc));
    p->stats.last_event_ms = ev.at_ms;
    return OKNO_OK;
}

static int commit(okno_projector *p, okno_log_cursor *cursor, const PGresult *rows)
{
    okno_log_cursor_set_row(cursor, rows, PQntuples(rows) - 1, 3, 4);
    char sql[512];
    snprintf(sql, sizeof sql, COMMIT_SQL, p->cfg.schema, cursor->tx, cursor->position,
             (size_t)p->batch.events);
    PGresult *res = PQexec(p->tail.conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return pg_failed(p, "commit", res);
    PQclear(res);
    return OKNO_OK;
}

static int run_batch(okno_projector *p, size_t *applied)
{
    okno_log_cursor cursor;
    int rc = batch_begin(p, &cursor);
    if (rc != OKNO_OK)
        return rc;
    PGresult *rows = okno_logtail_read(p->tail.conn, EVENTS_SQL, &cursor, p->cfg.batch_events);
    if (PQresultStatus(rows) != PGRES_TUPLES_OK)
        return pg_failed(p, "read events", rows);
    int n = PQntuples(rows);
    rc = n > 0 ? load_misses(p, rows) : OKNO_OK;
    for (int i = 0; rc == OKNO_OK && i < n; i++)
        rc = apply_row(p, rows, i);
    if (rc == OKNO_OK && n > 0 && (rc = okno_proj_write_live(&p->writer, &p->batch)) != 0)
        fail(p, rc, "%s", p->writer.error);
    if (rc == OKNO_OK && n > 0)
        rc = commit(p, &cursor, rows);
    if (rc == OKNO_OK && n == 0)
        PQclear(PQexec(p->tail.conn, "rollback")); /* nothing new: just let the locks go */
    PQclear(rows);
    *applied = rc == OKNO_OK ? (size_t)n : 0;
    return rc;
}

int okno_projector_step(okno_projector *p, size_t *applied)
{
    *applied = 0;
    int rc = pg_start(p);
    if (rc == OKNO_OK)
        rc = run_batch(p, applied);
    if (rc == OKNO_OK) {
        p->stats.events += p->batch.events;
        p->stats.skipped += p->batch.skipped;
        p->stats.batches += *applied > 0;
        okno_proj_batch_reset(&p->batch, false);
        if (p->cache.count > p->cfg.cache_entries_max)
            okno_proj_store_clear(&p->cache); /* simple bound: the next batches reload */
        return OKNO_OK;
    }
    /* The database is the truth: what the cache folded was rolled back with the batch. */
    p->stats.failures++;
    okno_proj_batch_reset(&p->batch, false);
    okno_proj_store_clear(&p->cache);
    if (p->tail.conn != NULL && PQtransactionStatus(p->tail.conn) != PQTRANS_IDLE)
        PQclear(PQexec(p->tail.conn, "rollback"));
    return rc;
}

void okno_projector_close(okno_projector *p)
{
    okno_proj_batch_close(&p->batch);
    okno_proj_store_close(&p->cache);
    free(p->misses);
    p->misses = NULL;
    okno_proj_writer_close(&p->writer);
    if (p->tail.conn != NULL)
        pg_stop(p);
}
