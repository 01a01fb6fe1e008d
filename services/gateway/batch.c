/* Write batches: the database work of the writes that arrive together, in one round trip per
 * pool. A write's handler checks what needs no database (token, role, fields, ids, digest,
 * encoding) and queues the write with its answer deferred; a batch thread takes every write
 * waiting (at most GW_BATCH_WRITES_MAX), checks the actions' visibility (in the read cache when it
 * holds the card and the caller, else for all the rest in one pipeline under row-level security:
 * okno_rm_visible_many, each caller's own rule), records all
 * their idempotency digests in one statement, and produces each write that passed both; Kafka's
 * delivery report answers it (produce.c). While one batch is in the database the next one
 * fills, so batches grow with the load, and a lone write waits for nobody. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/readmodel.h"
#include "okno/uuid.h"

/* The gateway's only writes are its idempotency records; the durable request is the Kafka
 * record. Losing the last few in a crash lets a retry with a changed body be recorded instead of
 * refused with 422, but under the same request id, which the ledger applies once; not waiting
 * for the WAL flush saves a disk sync per batch.
 *
 * gw_record_many records a batch: per write (in the order given) whether it may go on: its
 * request id is new, or known with the same digest and message; `known` is false when the id
 * was neither inserted nor in the statement's snapshot, i.e. another transaction committed it
 * meanwhile (a concurrent retry), which gw_record_known then judges on a fresh snapshot. The
 * rows are inserted in request id order, so two batches never wait for each other crosswise. */
#define RECORD_MANY  "gw_record_many"
#define RECORD_KNOWN "gw_record_known"
const char gw_app_on_connect[] =
    "set synchronous_commit = off;"
    " prepare " RECORD_MANY " (uuid[], bigint[], uuid[], text[]) as"
    " with v as (select * from unnest($1, $2, $3, $4) with ordinality as v(rid, uid, mid, dig, "
    "ord)),"
    " ins as (insert into okno.gateway_requests (request_id, user_id, message_id, body_sha256)"
    " select rid, uid, mid, decode(dig, 'hex') from v order by rid"
    " on conflict (request_id) do nothing returning request_id, message_id, body_sha256)"
    " select exists (select 1 from ins where ins.request_id = v.rid and ins.message_id = v.mid"
    " and ins.body_sha256 = decode(v.dig, 'hex')) or exists (select 1 from okno.gateway_requests g"
    " where g.request_id = v.rid and g.message_id = v.mid and g.body_sha256 = decode(v.dig, "
    "'hex')),"
    " exists (select 1 from ins where ins.request_id = v.rid) or exists (select 1 from"
    " okno.gateway_requests g where g.request_id = v.rid)"
    " from v order by v.ord;"
    " prepare " RECORD_KNOWN " (uuid, uuid, text) as select exists (select 1 from"
    " okno.gateway_requests where request_id = $1 and message_id = $2"
    " and body_sha256 = decode($3, 'hex'))";

static void refuse(struct gw_write *w, int status, const char *code, const char *field,
                   const char *text)
{
    okno_http_respond_error(okno_http_deferred_response(w->answer), status, code, field, "%s",
                            text);
    okno_http_resume(w->answer);
}

/* Whether the read cache holds w's card and its caller's scope and sees the card there
 * (okno_rm_sees: the policies' rule in C, as a card read's hit). Only a "visible" is taken from
 * the cache: while the directory stands (a change empties the scopes) a caller's visibility of a
 * message only grows (an org keeps seeing what it once held), but for the operator's moderators,
 * whose view ends with moderation. So a copy a few milliseconds old that sees the card is right,
 * or at worst lets a moderator's action on a message just moderated through to the ledger, which
 * refuses it by its own stage check; one that does not see it may be older than a forward to the
 * caller's org, and PostgreSQL judges it. */
static bool visible_in_cache(struct gateway *gw, const struct gw_write *w, int64_t now_ms)
{
    struct gw_scope *s = gw_scope_cached(&gw->rc, &w->who, now_ms);
    bool seen = s != NULL && gw_rc_visible(&gw->rc, w->req.message_id.bytes, s) == 1;
    gw_scope_put(s);
    return seen;
}

/* Object level, for the batch's actions: a message outside the caller's visibility is 404,
 * exactly as a missing one. The actions the read cache cannot confirm are judged under RLS in one
 * pipeline. Clears ok[i] of each write answered. */
static void check_visible(struct gateway *gw, struct gw_write **ws, int n, bool *ok)
{
    struct okno_rm_caller who[GW_BATCH_WRITES_MAX];
    uint8_t ids[GW_BATCH_WRITES_MAX][16];
    bool visible[GW_BATCH_WRITES_MAX];
    int at[GW_BATCH_WRITES_MAX], count = 0;
    int64_t now_ms = gw_wall_ms();
    for (int i = 0; i < n; i++) {
        if (ws[i]->req.action == OKNO_ACTION_SUBMIT)
            continue;
        if (visible_in_cache(gw, ws[i], now_ms)) {
            okno_metrics_counter_inc(&gw->visible_cached);
            continue;
        }
        who[count] =
            (struct okno_rm_caller){ws[i]->who.user_id, ws[i]->who.org_id, ws[i]->who.applicant};
        memcpy(ids[count], ws[i]->req.message_id.bytes, 16);
        at[count++] = i;
    }
    if (count == 0)
        return;
    PGconn *conn = gw_pool_get(&gw->read_pool);
    char err[GW_ERROR_BYTES];
    int rc = conn == NULL ? OKNO_EPG
                          : okno_rm_visible_many(conn, who, ids, count, visible, err, sizeof(err));
    if (conn != NULL)
        gw_pool_put(&gw->read_pool, conn);
    if (conn != NULL && rc != 0)
        okno_log_warn("gateway: visibility check failed", OKNO_LOG_STR("reason", err));
    for (int k = 0; k < count; k++) {
        if (rc == 0 && visible[k])
            continue;
        ok[at[k]] = false;
        if (rc != 0)
            refuse(ws[at[k]], 503, "unavailable", NULL, "cannot read the message");
        else
            refuse(ws[at[k]], 404, "not_found", "id", "no such message");
    }
}

/* Text arrays of the batch's writes still going on, for gw_record_many. */
struct record_arrays {
    char *rids, *users, *mids, *digests;
};

static bool arrays_fill(struct record_arrays *a, struct gw_write **ws, int n, const bool *ok)
{
    size_t uuids = (size_t)n * OKNO_UUID_TEXT_BYTES + 3;
    a->rids = malloc(uuids);
    a->mids = malloc(uuids);
    a->users = malloc((size_t)n * 21 + 3);
    a->digests = malloc((size_t)n * (GW_DIGEST_BYTES * 2 + 1) + 3);
    if (a->rids == NULL || a->mids == NULL || a->users == NULL || a->digests == NULL)
        return false;
    char *r = a->rids, *m = a->mids, *u = a->users, *d = a->digests;
    *r++ = *m++ = *u++ = *d++ = '{';
    for (int i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        if (r[-1] != '{')
            *r++ = *m++ = *u++ = *d++ = ',';
        okno_uuid_format(&ws[i]->req.request_id, r);
        okno_uuid_format(&ws[i]->req.message_id, m);
        r += OKNO_UUID_TEXT_BYTES - 1;
        m += OKNO_UUID_TEXT_BYTES - 1;
        u += sprintf(u, "%lld", (long long)ws[i]->who.user_id);
        for (int b = 0; b < GW_DIGEST_BYTES; b++)
            d += sprintf(d, "%02x", ws[i]->digest[b]);
    }
    strcpy(r, "}");
    strcpy(m, "}");
    strcpy(u, "}");
    strcpy(d, "}");
    return true;
}

static void arrays_free(struct record_arrays *a)
{
    free(a->rids);
    free(a->users);
    free(a->mids);
    free(a->digests);
}

/* A write whose request id another transaction recorded while the batch's statement ran. */
static bool known_same(PGconn *conn, const struct gw_write *w, bool *db_ok)
{
    char rid[OKNO_UUID_TEXT_BYTES], mid[OKNO_UUID_TEXT_BYTES], dig[GW_DIGEST_BYTES * 2 + 1];
    okno_uuid_format(&w->req.request_id, rid);
    okno_uuid_format(&w->req.message_id, mid);
    for (int b = 0; b < GW_DIGEST_BYTES; b++)
        sprintf(dig + 2 * b, "%02x", w->digest[b]);
    const char *params[] = {rid, mid, dig};
    PGresult *r = PQexecPrepared(conn, RECORD_KNOWN, 3, params, NULL, NULL, 0);
    *db_ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    bool same = *db_ok && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return same;
}

/* Judges each write of the statement's result r (rows in the order of the writes going on). */
static void record_verdicts(PGconn *conn, PGresult *r, struct gw_write **ws, int n, bool *ok)
{
    int row = 0;
    for (int i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        bool same = PQgetvalue(r, row, 0)[0] == 't', known = PQgetvalue(r, row, 1)[0] == 't',
             db_ok = true;
        row++;
        if (!known)
            same = known_same(conn, ws[i], &db_ok);
        if (same)
            continue;
        ok[i] = false;
        if (!db_ok)
            refuse(ws[i], 503, "unavailable", NULL, "cannot record the request");
        else
            refuse(ws[i], 422, "idempotency_key_reused", "Idempotency-Key",
                   "this key was used with a different request");
    }
}

/* Records the request ids and digests of the writes going on: a known id with another digest is
 * a 422; clears ok[i] of each write answered. */
static void record(struct gateway *gw, struct gw_write **ws, int n, bool *ok)
{
    int going = 0;
    for (int i = 0; i < n; i++)
        going += ok[i];
    if (going == 0)
        return;
    struct record_arrays a = {0};
    PGconn *conn = NULL;
    PGresult *r = NULL;
    if (arrays_fill(&a, ws, n, ok) && (conn = gw_pool_get(&gw->pool)) != NULL) {
        const char *params[] = {a.rids, a.users, a.mids, a.digests};
        r = PQexecPrepared(conn, RECORD_MANY, 4, params, NULL, NULL, 0);
    }
    arrays_free(&a);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == going) {
        record_verdicts(conn, r, ws, n, ok);
    } else {
        okno_log_warn(
            "gateway: cannot record a batch of requests",
            OKNO_LOG_STR("reason", conn != NULL ? PQerrorMessage(conn) : "no connection"));
        for (int i = 0; i < n; i++)
            if (ok[i])
                refuse(ws[i], 503, "unavailable", NULL, "cannot record the request");
        for (int i = 0; i < n; i++)
            ok[i] = false;
    }
    PQclear(r);
    if (conn != NULL)
        gw_pool_put(&gw->pool, conn);
}

static void run_batch(struct gateway *gw, struct gw_write **ws, int n)
{
    bool ok[GW_BATCH_WRITES_MAX];
    for (int i = 0; i < n; i++)
        ok[i] = true;
    okno_metrics_histogram_observe(&gw->batch_writes, (double)n);
    check_visible(gw, ws, n, ok);
    record(gw, ws, n, ok);
    for (int i = 0; i < n; i++) {
        if (ok[i])
            gw_produce(gw, ws[i]);
        free(ws[i]->record);
        free(ws[i]);
    }
}

static void *batch_thread(void *arg)
{
    struct gateway *gw = arg;
    struct gw_batches *b = &gw->batches;
    struct gw_write *ws[GW_BATCH_WRITES_MAX];
    for (;;) {
        pthread_mutex_lock(&b->mu);
        while (b->head == NULL && !b->stopping)
            pthread_cond_wait(&b->cv, &b->mu);
        int n = 0;
        while (b->head != NULL && n < GW_BATCH_WRITES_MAX) {
            ws[n++] = b->head;
            b->head = b->head->next;
        }
        if (b->head == NULL)
            b->tail = &b->head;
        else /* more than a batch waits: another thread takes the rest (gw_batch_write signals
              * only when the queue turns non-empty) */
            pthread_cond_signal(&b->cv);
        bool done = n == 0 && b->stopping;
        pthread_mutex_unlock(&b->mu);
        if (done)
            return NULL;
        run_batch(gw, ws, n);
    }
}

int gw_batches_start(struct gateway *gw, int threads)
{
    struct gw_batches *b = &gw->batches;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->head = NULL;
    b->tail = &b->head;
    b->stopping = false;
    for (b->thread_count = 0; b->thread_count < threads && b->thread_count < GW_BATCH_THREADS_MAX;
         b->thread_count++)
        if (pthread_create(&b->threads[b->thread_count], NULL, batch_thread, gw) != 0)
            return OKNO_ENOMEM;
    return 0;
}

void gw_batch_write(struct gateway *gw, struct gw_write *w)
{
    struct gw_batches *b = &gw->batches;
    w->next = NULL;
    pthread_mutex_lock(&b->mu);
    bool was_empty = b->head == NULL;
    *b->tail = w;
    b->tail = &w->next;
    if (was_empty) /* a batch thread takes the rest with this one: one wake-up per batch */
        pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void gw_batches_stop(struct gateway *gw)
{
    struct gw_batches *b = &gw->batches;
    if (b->tail == NULL) /* never started */
        return;
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->thread_count; i++)
        pthread_join(b->threads[i], NULL);
    b->thread_count = 0;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    b->tail = NULL;
}
