/* The timer's reads from PostgreSQL: the workflow settings, the stream-head snapshots of open
 * messages (one COPY for a whole assignment), one head on demand, and, for a snapshot of
 * another format version, the message's events folded afresh. The timer writes nothing. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/avro.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/log.h"
#include "okno/pg.h"
#include "okno/pgbin.h"
#include "okno/stream_head.h"
#include "okno/uuid.h"
#include "timer.h"

/* Bytes of the SQL text of one COPY, the partition list included. */
#define COPY_SQL_BYTES (512 + 12 * OKNO_TIMER_PARTITIONS_MAX)
/* Rows of the COPY between liveness heartbeats. */
#define HEARTBEAT_ROWS 65536
/* Heads of another format version folded after one COPY, at most (the rest next time). */
#define REFOLD_MAX 100000

/* The byte of the snapshot that holds the low byte of `stage` (a 4-byte enum): the COPY skips
 * closed messages without shipping them. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define STAGE_BYTE offsetof(okno_message_state, stage)
#else
#define STAGE_BYTE (offsetof(okno_message_state, stage) + sizeof(okno_stage) - 1)
#endif

int okno_timer_pg_connect(okno_timer *t)
{
    PQfinish(t->pg);
    char err[OKNO_PG_ERRBUF_BYTES];
    int rc = okno_pg_connect_config(&t->svc->config, &t->pg, err, sizeof err);
    if (rc != OKNO_OK)
        okno_log_error("cannot connect to PostgreSQL", OKNO_LOG_STR("reason", err));
    return rc;
}

int okno_timer_load_settings(okno_timer *t)
{
    PGresult *res = PQexec(t->pg, "select approaching_permille from okno.workflow_settings");
    int rc = OKNO_EPG;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        okno_log_error("cannot read okno.workflow_settings",
                       OKNO_LOG_STR("reason", PQresultErrorMessage(res)));
    else if (PQntuples(res) != 1)
        okno_log_error("okno.workflow_settings is empty: name the platform operator's org there");
    else {
        t->approaching_permille = atoi(PQgetvalue(res, 0, 0));
        rc = OKNO_OK;
    }
    PQclear(res);
    return rc;
}

/* Puts a state in the book; `fresh` when the book cannot hold it yet (a rebuild). */
static int book_load(okno_timer *t, const okno_message_state *state, bool fresh)
{
    int rc =
        fresh ? okno_tracker_insert(&t->tracker, state) : okno_tracker_load(&t->tracker, state);
    if (rc == OKNO_EINVAL) {
        char text[OKNO_UUID_TEXT_BYTES];
        okno_uuid_format(&state->message_id, text);
        okno_log_error("a message's state is beyond what the timer can keep; it gets no signals",
                       OKNO_LOG_STR("message_id", text), OKNO_LOG_UINT("seq", state->last_seq));
        return OKNO_OK; /* one message is lost to the timer, not the whole book */
    }
    return rc;
}

/* ---- bulk: COPY of an assignment's heads ---------------------------------------------------- */

typedef struct copy_state {
    bool header_done;
    bool fresh; /* the book was empty: no head can be in it yet */
    uint64_t loaded;
    okno_uuid *refold; /* heads to fold from the log after the COPY */
    size_t refold_count;
} copy_state;

static int32_t be32(const uint8_t *p)
{
    return okno_pgbin_get_i32((const char *)p);
}

/* One COPY BINARY data message: (header,) one tuple of (message_id, seq, state_version, state),
 * or the trailer. */
static int copy_row(okno_timer *t, copy_state *c, const uint8_t *p, size_t n)
{
    if (!c->header_done) {
        if (n < 19 || memcmp(p, okno_pg_copy_signature, OKNO_PG_COPY_SIGNATURE_BYTES) != 0 ||
            (size_t)be32(p + 15) > n - 19)
            return OKNO_EDECODE;
        size_t skip = 19 + (size_t)be32(p + 15);
        p += skip;
        n -= skip;
        c->header_done = true;
    }
    if (n >= 2 && p[0] == 0xff && p[1] == 0xff)
        return OKNO_OK; /* the trailer */
    static const int widths[4] = {16, 4, 2, -1};
    const uint8_t *field[4];
    size_t len[4], at = 2;
    if (n < 2 || ((p[0] << 8) | p[1]) != 4)
        return OKNO_EDECODE;
    for (int f = 0; f < 4; f++) {
        if (at + 4 > n || be32(p + at) < 0 || (size_t)be32(p + at) > n - at - 4)
            return OKNO_EDECODE;
        len[f] = (size_t)be32(p + at);
        field[f] = p + at + 4;
        at += 4 + len[f];
        if (widths[f] > 0 && len[f] != (size_t)widths[f])
            return OKNO_EDECODE;
    }
    okno_uuid id;
    memcpy(id.bytes, field[0], 16);
    int version = okno_pgbin_get_i16((const char *)field[2]);
    static okno_message_state state; /* 464 bytes; one loop thread */
    if (!okno_stream_head_snapshot(version, field[3], len[3], (uint32_t)be32(field[1]), &state)) {
        if (c->refold_count < REFOLD_MAX)
            c->refold[c->refold_count++] = id;
        return OKNO_OK;
    }
    c->loaded++;
    return book_load(t, &state, c->fresh);
}

static int copy_query(okno_timer *t, const int32_t *partitions, int n)
{
    char sql[COPY_SQL_BYTES];
    int used = snprintf(sql, sizeof sql,
                        "copy (select message_id, seq, state_version, state"
                        " from okno.stream_heads where (state_version <> %d"
                        " or get_byte(state, %zu) <> %d) and kafka_partition in (",
                        OKNO_STREAM_HEAD_STATE_VERSION, (size_t)STAGE_BYTE, OKNO_STAGE_NONE);
    for (int i = 0; i < n; i++)
        used += snprintf(sql + used, sizeof sql - (size_t)used, "%s%d", i ? "," : "",
                         (int)partitions[i]);
    snprintf(sql + used, sizeof sql - (size_t)used, ")) to stdout (format binary)");
    PGresult *res = PQexec(t->pg, sql);
    int rc = PQresultStatus(res) == PGRES_COPY_OUT ? OKNO_OK : OKNO_EPG;
    if (rc != OKNO_OK)
        okno_log_error("cannot read the stream heads",
                       OKNO_LOG_STR("reason", PQresultErrorMessage(res)));
    PQclear(res);
    return rc;
}

static int copy_rows(okno_timer *t, copy_state *c)
{
    int rc = OKNO_OK;
    char *buf;
    int n;
    for (uint64_t rows = 0; (n = PQgetCopyData(t->pg, &buf, 0)) > 0; rows++) {
        if (rc == OKNO_OK)
            rc = copy_row(t, c, (const uint8_t *)buf, (size_t)n);
        PQfreemem(buf);
        if (rows % HEARTBEAT_ROWS == 0)
            okno_service_heartbeat(t->svc); /* a rebuild of millions is work, not a hang */
    }
    PGresult *res = PQgetResult(t->pg);
    if (rc == OKNO_OK && (n != -1 || PQresultStatus(res) != PGRES_COMMAND_OK)) {
        okno_log_error("reading the stream heads failed",
                       OKNO_LOG_STR("reason", PQerrorMessage(t->pg)));
        rc = OKNO_EPG;
    }
    PQclear(res);
    while ((res = PQgetResult(t->pg)) != NULL)
        PQclear(res);
    return rc;
}

int okno_timer_load_heads(okno_timer *t, const int32_t *partitions, int n, uint64_t *loaded)
{
    copy_state c = {.refold = malloc(REFOLD_MAX * sizeof(okno_uuid)),
                    .fresh = okno_tracker_messages(&t->tracker) == 0};
    int rc = c.refold ? copy_query(t, partitions, n) : OKNO_ENOMEM;
    if (rc == OKNO_OK)
        rc = copy_rows(t, &c);
    for (size_t i = 0; rc == OKNO_OK && i < c.refold_count; i++) {
        static okno_message_state state;
        if (okno_stream_head_fold(t->pg, &c.refold[i], &state) == OKNO_OK)
            rc = book_load(t, &state, false);
        c.loaded++;
    }
    if (c.refold_count == REFOLD_MAX)
        okno_log_warn("more stream heads of another format than one rebuild folds; the rest "
                      "load as their messages' next events come",
                      OKNO_LOG_UINT("folded", c.refold_count));
    free(c.refold);
    *loaded = c.loaded;
    return rc;
}

/* ---- one head on demand ------------------------------------------------------------------- */

int okno_timer_reload(okno_timer *t, const okno_uuid *id, int32_t partition, uint32_t *seq)
{
    char text[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(id, text);
    const char *params[1] = {text};
    PGresult *res = PQexecParams(t->pg,
                                 "select seq, state_version, state, kafka_partition"
                                 " from okno.stream_heads where message_id = $1::uuid",
                                 1, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        okno_log_error("cannot read a stream head", OKNO_LOG_STR("message_id", text),
                       OKNO_LOG_STR("reason", PQresultErrorMessage(res)));
        PQclear(res);
        return OKNO_EPG;
    }
    *seq = 0;
    int rc = OKNO_OK;
    if (PQntuples(res) == 1) {
        static okno_message_state state;
        *seq = (uint32_t)be32((const uint8_t *)PQgetvalue(res, 0, 0));
        int version = okno_pgbin_get_i16(PQgetvalue(res, 0, 1));
        if (be32((const uint8_t *)PQgetvalue(res, 0, 3)) != partition)
            okno_log_warn("a message's events and requests lie on different partitions: do "
                          "okno.events.v1 and okno.transitions.v1 have the same partition count?",
                          OKNO_LOG_STR("message_id", text), OKNO_LOG_INT("partition", partition));
        if (!okno_stream_head_snapshot(version, (const uint8_t *)PQgetvalue(res, 0, 2),
                                       (size_t)PQgetlength(res, 0, 2), *seq, &state))
            rc = okno_stream_head_fold(t->pg, id, &state);
        if (rc == OKNO_OK)
            rc = book_load(t, &state, false);
    } else {
        okno_tracker_forget(&t->tracker, id);
    }
    PQclear(res);
    return rc;
}
