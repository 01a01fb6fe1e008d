/* What the ledger reads back on partition assignment: stream heads (streamed) and offsets. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/pgbin.h"

static const char HEADS_SQL[] =
    "select message_id, seq, hash, kafka_partition, state_version, state"
    " from okno.stream_heads where kafka_partition = any($1::int4[])";

static const char OFFSETS_SQL[] = "select partition, next_offset from okno.consumer_offsets"
                                  " where group_id = $1 and topic = $2 order by partition";

/* Most partitions one load may name: a consumer owns at most this many of a topic. */
#define LOAD_PARTITIONS_MAX 4096

static int decode_head(const PGresult *res, okno_eventlog_head_row *h)
{
    if (PQgetlength(res, 0, 0) != OKNO_EVENTLOG_ID_BYTES ||
        PQgetlength(res, 0, 2) != OKNO_EVENTLOG_HASH_BYTES)
        return OKNO_EDECODE;
    memcpy(h->message_id.bytes, PQgetvalue(res, 0, 0), sizeof h->message_id.bytes);
    h->seq = okno_pgbin_get_i32(PQgetvalue(res, 0, 1));
    memcpy(h->hash, PQgetvalue(res, 0, 2), OKNO_EVENTLOG_HASH_BYTES);
    h->kafka_partition = okno_pgbin_get_i32(PQgetvalue(res, 0, 3));
    h->state_version = okno_pgbin_get_i16(PQgetvalue(res, 0, 4));
    h->state = (const uint8_t *)PQgetvalue(res, 0, 5);
    h->state_bytes = (size_t)PQgetlength(res, 0, 5);
    return OKNO_OK;
}

static int send_heads_query(PGconn *conn, const int32_t *partitions, size_t n)
{
    okno_pgbuf buf = {0};
    okno_pgparam param;
    okno_pgarr a;
    for (int pass = 0; pass < 2; pass++) {
        okno_pgarr_start(&buf, &a, OKNO_PG_OID_INT4);
        for (size_t i = 0; i < n; i++)
            okno_pgarr_add_i32(&buf, &a, partitions[i]);
        okno_pgarr_finish(&buf, &a, OKNO_PG_OID_INT4_ARRAY, &param);
        if (pass == 0) {
            buf = (okno_pgbuf){.mem = malloc(buf.used), .cap = buf.used};
            if (buf.mem == NULL)
                return OKNO_ENOMEM;
        }
    }
    int rc = okno_pgbin_send(conn, HEADS_SQL, &param, 1);
    free(buf.mem);
    if (rc == 0 && PQsetSingleRowMode(conn) != 1)
        rc = -1;
    return rc == 0 ? OKNO_OK : OKNO_EPG;
}

/* Cancels the running query and discards what is still on its way. */
static void drain(PGconn *conn)
{
    PGcancel *cancel = PQgetCancel(conn);
    char ignored[256];
    if (cancel != NULL) {
        PQcancel(cancel, ignored, sizeof ignored);
        PQfreeCancel(cancel);
    }
    for (PGresult *res; (res = PQgetResult(conn)) != NULL;)
        PQclear(res);
}

int okno_eventlog_load_heads(PGconn *conn, const int32_t *partitions, size_t n,
                             okno_eventlog_head_cb cb, void *arg, char *errbuf, size_t errbuf_bytes)
{
    assert(cb != NULL);
    assert(partitions != NULL || n == 0);
    if (n > LOAD_PARTITIONS_MAX) {
        okno_pg_error(errbuf, errbuf_bytes, "load heads: more partitions than allowed", NULL, conn);
        return OKNO_ELIMIT;
    }
    int rc = send_heads_query(conn, partitions, n);
    if (rc != 0) {
        okno_pg_error(errbuf, errbuf_bytes, "load heads", NULL, conn);
        return rc;
    }
    PGresult *res;
    while (rc == 0 && (res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        okno_eventlog_head_row head;
        if (st == PGRES_SINGLE_TUPLE) {
            rc = decode_head(res, &head);
            if (rc == 0)
                rc = cb(&head, arg);
            else
                okno_pg_error(errbuf, errbuf_bytes, "load heads: malformed row", NULL, conn);
        } else if (st != PGRES_TUPLES_OK) {
            okno_pg_error(errbuf, errbuf_bytes, "load heads", res, conn);
            rc = OKNO_EPG;
        }
        PQclear(res);
    }
    if (rc != 0)
        drain(conn);
    return rc;
}

int okno_eventlog_load_offsets(PGconn *conn, const char *group_id, const char *topic,
                               okno_eventlog_offset_row *out, size_t out_max, size_t *count,
                               char *errbuf, size_t errbuf_bytes)
{
    assert(group_id != NULL);
    assert(topic != NULL);
    assert(count != NULL);
    *count = 0;
    const char *params[2] = {group_id, topic};
    PGresult *res = PQexecParams(conn, OFFSETS_SQL, 2, NULL, params, NULL, NULL, 1);
    int rc = OKNO_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        okno_pg_error(errbuf, errbuf_bytes, "load offsets", res, conn);
        rc = OKNO_EPG;
    } else if ((size_t)PQntuples(res) > out_max) {
        okno_pg_error(errbuf, errbuf_bytes, "load offsets: more partitions than room", NULL, conn);
        rc = OKNO_ELIMIT;
    } else {
        for (int i = 0; i < PQntuples(res); i++)
            out[i] = (okno_eventlog_offset_row){
                .partition = okno_pgbin_get_i32(PQgetvalue(res, i, 0)),
                .next_offset = okno_pgbin_get_i64(PQgetvalue(res, i, 1)),
            };
        *count = (size_t)PQntuples(res);
    }
    PQclear(res);
    return rc;
}
