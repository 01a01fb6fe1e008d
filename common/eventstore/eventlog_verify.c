/* Verifying one message's hash chain as it is read back: `okno audit` and the read side's
 * history (common/readmodel) walk the same rows with the same checks. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "okno/avro.h"
#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/uuid.h"
#include "okno/workflow.h"
#include "okno/pgbin.h"

#define HASH_HEX_BYTES (2 * OKNO_EVENTLOG_HASH_BYTES + 1)

static void mismatch(okno_eventlog_chain *c, int32_t seq, const char *what)
{
    c->mismatches++;
    if (c->on_mismatch != NULL)
        c->on_mismatch(c->ctx, seq, what);
}

void okno_eventlog_chain_init(okno_eventlog_chain *c, okno_eventlog_mismatch_fn *on_mismatch,
                              void *ctx)
{
    *c = (okno_eventlog_chain){.next_seq = 1, .on_mismatch = on_mismatch, .ctx = ctx};
}

bool okno_eventlog_chain_step(okno_eventlog_chain *c, const okno_eventlog_row *row,
                              struct okno_event *event)
{
    assert(c != NULL);
    assert(row != NULL);
    char want[HASH_HEX_BYTES], got[HASH_HEX_BYTES], what[OKNO_AVRO_REASON_BYTES + 64];
    if (row->seq != c->next_seq) {
        snprintf(what, sizeof what, "expected seq %d (a gap or a double)", c->next_seq);
        mismatch(c, row->seq, what);
    }
    if (memcmp(row->prev_hash, c->prev, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        okno_eventlog_hex(c->prev, OKNO_EVENTLOG_HASH_BYTES, want);
        okno_eventlog_hex(row->prev_hash, OKNO_EVENTLOG_HASH_BYTES, got);
        snprintf(what, sizeof what, "prev_hash is %s, the previous event's hash is %s", got, want);
        mismatch(c, row->seq, what);
    }
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
    okno_eventlog_hash(row->prev_hash, row->body, row->body_bytes, hash);
    if (memcmp(hash, row->hash, OKNO_EVENTLOG_HASH_BYTES) != 0) {
        okno_eventlog_hex(hash, OKNO_EVENTLOG_HASH_BYTES, want);
        okno_eventlog_hex(row->hash, OKNO_EVENTLOG_HASH_BYTES, got);
        snprintf(what, sizeof what, "stored hash %s, SHA-256(prev_hash || body) is %s", got, want);
        mismatch(c, row->seq, what);
    }
    memcpy(c->prev, row->hash, OKNO_EVENTLOG_HASH_BYTES); /* go on from what is stored */
    c->next_seq = row->seq + 1;
    okno_avro_error aerr = {0};
    if (okno_avro_decode_topic(OKNO_AVRO_EVENTS, row->body, row->body_bytes, event, &aerr) != 0) {
        snprintf(what, sizeof what, "the body does not decode: %s", aerr.reason);
        mismatch(c, row->seq, what);
        return false;
    }
    if (event->seq != (uint64_t)row->seq || !okno_uuid_equal(&event->message_id, row->message_id) ||
        strcmp(okno_event_type_name(event->type), row->event_type) != 0)
        mismatch(c, row->seq, "the body names another event than its row");
    return true;
}

int okno_eventlog_chain_head(okno_eventlog_chain *c, PGconn *conn,
                             const uint8_t message_id[OKNO_EVENTLOG_ID_BYTES], int rows,
                             char *errbuf, size_t errbuf_bytes)
{
    const char *value = (const char *)message_id;
    const int length = OKNO_EVENTLOG_ID_BYTES, format = 1;
    PGresult *res =
        PQexecParams(conn, "select seq, hash from okno.stream_heads where message_id = $1", 1,
                     (const Oid[]){OKNO_PG_OID_UUID}, &value, &length, &format, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        okno_pg_error(errbuf, errbuf_bytes, "stream head", res, conn);
        PQclear(res);
        return OKNO_EPG;
    }
    if (PQntuples(res) == 1) {
        int32_t seq = okno_pgbin_get_i32(PQgetvalue(res, 0, 0));
        if (seq != rows || memcmp(PQgetvalue(res, 0, 1), c->prev, OKNO_EVENTLOG_HASH_BYTES) != 0) {
            char what[160];
            snprintf(what, sizeof what,
                     "the stream head is at seq %d with another hash than the"
                     " last event's (seq %d)",
                     seq, rows);
            mismatch(c, seq, what);
        }
    } else if (rows > 0) {
        mismatch(c, rows, "the message has events but no stream head");
    }
    PQclear(res);
    return OKNO_OK;
}
