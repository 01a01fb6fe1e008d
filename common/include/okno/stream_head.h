/* A message's stream head as okno.stream_heads stores it: the workflow state after the
 * message's last event, as a raw okno_message_state snapshot tagged with a format version. The
 * ledger writes it; the ledger and the timer read it back, and fold the message's events from
 * the log when a snapshot is of another format. */
#ifndef OKNO_STREAM_HEAD_H
#define OKNO_STREAM_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "okno/workflow.h"

/* Format version of the snapshot. Bump it whenever okno_message_state changes layout: older
 * snapshots are then rebuilt by folding events (okno_stream_head_fold). */
#define OKNO_STREAM_HEAD_STATE_VERSION 1

/* Copies a stored snapshot into *state when it is of this build's format, passes
 * okno_workflow_check and is at seq; false when it must be folded from the log instead. */
bool okno_stream_head_snapshot(int version, const uint8_t *bytes, size_t bytes_len, int64_t seq,
                               okno_message_state *state);

/* Rebuilds a message's state by folding its events from okno.event_log, in seq order.
 * 0, OKNO_EPG, OKNO_EDECODE or OKNO_EINVAL (an event that does not fold; the log is damaged). */
int okno_stream_head_fold(PGconn *conn, const okno_uuid *id, okno_message_state *state);

#endif
