/* Reading stream-head snapshots, and rebuilding a state from the event log when a snapshot is
 * of another format. */
#include <string.h>

#include "okno/avro.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/stream_head.h"
#include "okno/uuid.h"

bool okno_stream_head_snapshot(int version, const uint8_t *bytes, size_t bytes_len, int64_t seq,
                               okno_message_state *state)
{
    if (version != OKNO_STREAM_HEAD_STATE_VERSION || bytes_len != sizeof *state)
        return false;
    memcpy(state, bytes, sizeof *state);
    return okno_workflow_check(state) && state->last_seq == (uint64_t)seq;
}

int okno_stream_head_fold(PGconn *conn, const okno_uuid *id, okno_message_state *state)
{
    char text[OKNO_UUID_TEXT_BYTES];
    okno_uuid_format(id, text);
    const char *params[1] = {text};
    PGresult *res = PQexecParams(conn,
                                 "select body from okno.event_log where message_id = $1::uuid "
                                 "order by seq",
                                 1, NULL, params, NULL, NULL, 1);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? OKNO_OK : OKNO_EPG;
    memset(state, 0, sizeof *state);
    for (int i = 0; rc == OKNO_OK && i < PQntuples(res); i++) {
        okno_event ev;
        rc = okno_avro_decode_topic(OKNO_AVRO_EVENTS, (const uint8_t *)PQgetvalue(res, i, 0),
                                    (size_t)PQgetlength(res, i, 0), &ev, NULL);
        if (rc == OKNO_OK)
            rc = okno_workflow_apply(state, &ev);
    }
    PQclear(res);
    if (rc == OKNO_OK && !okno_workflow_check(state))
        rc = OKNO_EINVAL;
    if (rc != OKNO_OK)
        okno_log_error("cannot rebuild a message's state from the event log",
                       OKNO_LOG_STR("message_id", text), OKNO_LOG_ERR(rc));
    return rc;
}
