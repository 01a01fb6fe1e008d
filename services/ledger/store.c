/* The ledger's reads from PostgreSQL: the connection, stream heads (on partition assignment and
 * on demand), stored offsets and the org directory. Writes all go through
 * okno_eventlog_append() in process.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"
#include "okno/avro.h"
#include "okno/config.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/pg.h"
#include "okno/pgbin.h"
#include "okno/uuid.h"
#include "okno/stream_head.h"
#include "okno/uuid.h"

int64_t okno_ledger_now_ms(const okno_ledger *l)
{
    return okno_clock_now_ms(&l->clock);
}

/* One index probe per id, whatever the planner knows: a lateral subquery with a limit can only
 * run as a nested loop over the ids, each probing one hash partition of okno.requests (runtime
 * pruning) through its primary key. The plain join it replaces was prepared once per connection;
 * prepared on an empty or small log, its generic plan was a hash join over a sequential scan of
 * every partition, and it kept that plan while the log grew (measured: 58-94 ms a batch of
 * 2,000 ids against 70,000 rows, growing with the log). "= any(array)" probes every partition
 * with every id (53 ms for 2,000 ids). */
#define KNOWN_REQUESTS_STMT "okno_ledger_known_requests"
static const char KNOWN_REQUESTS_SQL[] =
    "select u.id from unnest($1::uuid[]) u(id),"
    " lateral (select 1 from okno.requests r where r.request_id = u.id limit 1) known";

int okno_ledger_pg_connect(okno_ledger *l)
{
    PQfinish(l->pg);
    char err[OKNO_PG_ERRBUF_BYTES];
    int rc = okno_pg_connect_config(&l->svc->config, &l->pg, err, sizeof err);
    if (rc != OKNO_OK) {
        okno_log_error("cannot connect to PostgreSQL", OKNO_LOG_STR("reason", err));
        return rc;
    }
    /* Directory changes notify their new version as they commit (0009_directory_history). */
    PGresult *res = PQexec(l->pg, "listen okno_directory");
    PQclear(res);
    res = PQprepare(l->pg, KNOWN_REQUESTS_STMT, KNOWN_REQUESTS_SQL, 1, NULL);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? OKNO_OK : OKNO_EPG;
    if (rc != OKNO_OK)
        okno_log_error("cannot prepare the ledger's statements",
                       OKNO_LOG_STR("reason", PQresultErrorMessage(res)));
    PQclear(res);
    return rc;
}

static int head_to_cache(okno_ledger *l, const okno_eventlog_head_row *row, int32_t partition)
{
    okno__head head = {.partition = partition};
    memcpy(head.hash, row->hash, sizeof head.hash);
    if (!okno_stream_head_snapshot(row->state_version, row->state, row->state_bytes, row->seq,
                                   &head.state)) {
        okno_uuid id;
        id = row->message_id;
        int rc = okno_stream_head_fold(l->pg, &id, &head.state);
        if (rc != OKNO_OK)
            return rc;
    }
    if (head.state.last_seq != (uint64_t)row->seq) {
        char text[37];
        okno_uuid_format(&row->message_id, text);
        okno_log_error("a stored stream head is inconsistent", OKNO_LOG_STR("message_id", text),
                       OKNO_LOG_INT("seq", row->seq));
        return OKNO_EINVAL;
    }
    return okno__head_cache_put(&l->cache, &head);
}

static int load_head_cb(const okno_eventlog_head_row *row, void *arg)
{
    okno_ledger *l = arg;
    return head_to_cache(l, row, row->kafka_partition);
}

int okno_ledger_load_partition(okno_ledger *l, okno_ledger_input input, int32_t partition)
{
    char err[OKNO_PG_ERRBUF_BYTES] = "";
    okno_eventlog_offset_row rows[OKNO_LEDGER_PARTITIONS_MAX];
    size_t count = 0;
    int rc = okno_eventlog_load_offsets(l->pg, l->group_id, l->topics[input], rows,
                                        OKNO_LEDGER_PARTITIONS_MAX, &count, err, sizeof err);
    okno_ledger_partition *p = &l->partitions[input][partition];
    p->stored_next_offset = -1;
    for (size_t i = 0; rc == OKNO_OK && i < count; i++)
        if (rows[i].partition == partition)
            p->stored_next_offset = rows[i].next_offset;
    if (rc == OKNO_OK && input == OKNO_LEDGER_TRANSITIONS) {
        okno__head_cache_drop_partition(&l->cache, partition);
        rc = okno_eventlog_load_heads(l->pg, &partition, 1, load_head_cb, l, err, sizeof err);
    }
    if (rc != OKNO_OK) {
        okno_log_error("cannot load a partition's state", OKNO_LOG_STR("topic", l->topics[input]),
                       OKNO_LOG_INT("partition", partition), OKNO_LOG_STR("reason", err),
                       OKNO_LOG_ERR(rc));
        return rc;
    }
    p->owned = true;
    return OKNO_OK;
}

/* Reads one binary stream_heads row into the shape okno_eventlog_load_heads() hands out. */
static void row_from_result(const PGresult *res, int i, okno_eventlog_head_row *row)
{
    memcpy(row->message_id.bytes, PQgetvalue(res, i, 0), sizeof row->message_id.bytes);
    row->seq = okno_pgbin_get_i32(PQgetvalue(res, i, 1));
    memcpy(row->hash, PQgetvalue(res, i, 2), sizeof row->hash);
    row->kafka_partition = okno_pgbin_get_i32(PQgetvalue(res, i, 3));
    row->state_version = okno_pgbin_get_i16(PQgetvalue(res, i, 4));
    row->state = (const uint8_t *)PQgetvalue(res, i, 5);
    row->state_bytes = (size_t)PQgetlength(res, i, 5);
}

int okno_ledger_load_heads(okno_ledger *l, const okno_uuid *ids, size_t n)
{
    /* One round trip for all ids: "{uuid,uuid,...}" as a text array parameter. */
    char list[1 + 37 * 64 + 1];
    int rc = OKNO_OK;
    for (size_t start = 0; rc == OKNO_OK && start < n; start += 64) {
        size_t used = 0, end = start + 64 < n ? start + 64 : n;
        list[used++] = '{';
        for (size_t i = start; i < end; i++) {
            okno_uuid_format(&ids[i], list + used);
            used += 36;
            list[used++] = i + 1 < end ? ',' : '}';
        }
        list[used] = '\0';
        const char *params[1] = {list};
        PGresult *res = PQexecParams(l->pg,
                                     "select message_id, seq, hash, kafka_partition, "
                                     "state_version, state from okno.stream_heads "
                                     "where message_id = any($1::uuid[])",
                                     1, NULL, params, NULL, NULL, 1);
        rc = PQresultStatus(res) == PGRES_TUPLES_OK ? OKNO_OK : OKNO_EPG;
        for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++) {
            okno_eventlog_head_row row;
            row_from_result(res, i, &row);
            rc = head_to_cache(l, &row, row.kafka_partition);
        }
        PQclear(res);
    }
    return rc;
}

int okno_ledger_mark_known_requests(okno_ledger *l, size_t n)
{
    /* One round trip for the whole batch: "{uuid,...}" as a text array. Only within
     * OKNO_LEDGER_LOOKUP_BATCHES of a repeat (okno_ledger_process): where repeats come, finding
     * one only when the append fails would cost a rolled-back transaction per batch; where
     * none come, the look-up would cost every batch a statement that finds nothing. */
    okno_batch *b = &l->batch;
    char *list = malloc(n * OKNO_UUID_TEXT_BYTES + 3);
    if (list == NULL)
        return OKNO_ENOMEM;
    size_t used = 0;
    list[used++] = '{';
    for (size_t i = 0; i < n; i++) {
        okno_uuid_format(&b->inputs[i].req.request_id, list + used);
        used += OKNO_UUID_TEXT_BYTES - 1;
        list[used++] = ',';
    }
    list[used - (n > 0)] = '}';
    list[used + (n == 0)] = '\0';
    const char *params[1] = {list};
    PGresult *res = PQexecPrepared(l->pg, KNOWN_REQUESTS_STMT, 1, params, NULL, NULL, 1);
    free(list);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? OKNO_OK : OKNO_EPG;
    for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++) {
        okno_uuid id;
        memcpy(id.bytes, PQgetvalue(res, i, 0), 16);
        okno__uuid_index_put(&b->skip_requests, &id, 1);
        b->skip_count++;
    }
    if (rc != OKNO_OK)
        okno_log_error("cannot look up the batch's request ids",
                       OKNO_LOG_STR("reason", PQresultErrorMessage(res)));
    PQclear(res);
    return rc;
}

/* A newer directory version notified on channel okno_directory since the last look? */
static bool directory_changed(okno_ledger *l)
{
    bool newer = false;
    if (PQconsumeInput(l->pg) != 1)
        return false;
    for (PGnotify *n; (n = PQnotifies(l->pg)) != NULL; PQfreemem(n))
        newer = newer || strtoll(n->extra, NULL, 10) > l->directory.version;
    return newer;
}

/* Changes after the loaded version applied as deltas; past this many, a whole load is cheaper. */
#define DIRECTORY_DELTA_ROWS_MAX 10000

int okno_ledger_refresh_directory(okno_ledger *l, bool force)
{
    int64_t now = okno_clock_monotonic_ms();
    bool due = force || now - l->directory_loaded_ms >= l->directory_refresh_ms;
    if (!due && !directory_changed(l))
        return OKNO_OK;
    char err[OKNO_PG_ERRBUF_BYTES] = "";
    if (!due) {
        /* A notified change: apply the history's rows after the loaded version. */
        if (okno_pg_directory_apply(l->pg, &l->directory, DIRECTORY_DELTA_ROWS_MAX, err,
                                    sizeof err) == OKNO_OK)
            return OKNO_OK;
        okno_log_warn("directory changes not applied as deltas; loading it whole",
                      OKNO_LOG_STR("reason", err));
    }
    okno_pg_directory next;
    int rc = okno_pg_directory_load(l->pg, &next, err, sizeof err);
    if (rc != OKNO_OK) {
        okno_pg_directory_free(&next);
        okno_log_error("cannot load the org directory", OKNO_LOG_STR("reason", err),
                       OKNO_LOG_ERR(rc));
        return rc;
    }
    okno_pg_directory_free(&l->directory);
    l->directory = next;
    l->directory_loaded_ms = now;
    return OKNO_OK;
}
