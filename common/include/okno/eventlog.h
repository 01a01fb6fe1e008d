/* The event log in PostgreSQL: the ledger's atomic batch append (events, stream heads, request
 * ids, refusals, consumed offsets in one transaction), the loads the ledger needs on partition
 * assignment, the hash chain, and global checkpoints. Tables: deploy/migrations/0002_event_log.sql;
 * invariants: common/pg/README.md. */
#ifndef OKNO_EVENTLOG_H
#define OKNO_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "okno/pg.h"
#include "okno/workflow.h"

/* Sizes of the binary identifiers and hashes. */
#define OKNO_EVENTLOG_ID_BYTES   16 /* a uuid (message id, request id) */
#define OKNO_EVENTLOG_HASH_BYTES 32 /* SHA-256 */

/* Limits of one append; a batch over any of them fails with OKNO_ELIMIT and writes nothing. */
#define OKNO_EVENTLOG_BATCH_EVENTS_MAX   10000
#define OKNO_EVENTLOG_BATCH_HEADS_MAX    10000
#define OKNO_EVENTLOG_BATCH_REQUESTS_MAX 20000
#define OKNO_EVENTLOG_BATCH_REFUSALS_MAX 10000
#define OKNO_EVENTLOG_BATCH_OFFSETS_MAX  1024
#define OKNO_EVENTLOG_BATCH_BYTES_MAX    (64 * 1024 * 1024) /* all encoded parameters */
#define OKNO_EVENTLOG_BODY_BYTES_MAX     (1024 * 1024)      /* one event or rejection body */
#define OKNO_EVENTLOG_STATE_BYTES_MAX    (1024 * 1024)      /* one stream-head snapshot */
#define OKNO_EVENTLOG_TYPE_BYTES_MAX     128                /* an event type name */
#define OKNO_EVENTLOG_TEXT_BYTES_MAX     4096               /* reason, message, topic, group id */

/* actor_user / org value meaning "none" (stored as SQL NULL): system events such as SLA signals. */
#define OKNO_EVENTLOG_NONE 0

/* One event to append. Every pointer is borrowed for the duration of the call. */
typedef struct okno_eventlog_event {
    okno_uuid message_id;
    int32_t seq; /* 1.. per message; the batch's events of one message are consecutive seqs */
    okno_uuid request_id;
    const char *event_type; /* canonical event name, NUL-terminated */
    int64_t occurred_at_ms; /* milliseconds since the Unix epoch, UTC */
    int64_t actor_user;     /* user id, or OKNO_EVENTLOG_NONE */
    int64_t org;            /* organization id, or OKNO_EVENTLOG_NONE */
    const uint8_t *body;    /* canonical bytes: Avro single-object encoded okno.Event */
    size_t body_bytes;
} okno_eventlog_event;

/* A message's stream head before and after the batch: one per message the batch touches. The
 * append fences on prev_seq: it succeeds only if the stored head is still at prev_seq. */
typedef struct okno_eventlog_head {
    okno_uuid message_id;
    int32_t prev_seq;                            /* stored seq expected; 0 = new message */
    uint8_t prev_hash[OKNO_EVENTLOG_HASH_BYTES]; /* hash of event prev_seq; zeros when 0 */
    int32_t kafka_partition;                     /* partition of okno.transitions.v1 */
    int16_t state_version;                       /* format version of state */
    const uint8_t *state;                        /* the snapshot after the batch (borrowed) */
    size_t state_bytes;
} okno_eventlog_head;

/* A request the batch decided: accepted (with its events) or refused. */
typedef struct okno_eventlog_request {
    okno_uuid request_id;
    okno_uuid message_id;
    bool accepted;
    int32_t events; /* events the request produced (0 when refused) */
} okno_eventlog_request;

/* A refusal, with the encoded rejection record the relay publishes as is. Borrowed pointers. */
typedef struct okno_eventlog_refusal {
    okno_uuid request_id;
    okno_uuid message_id;
    const char *reason_code; /* SPEC's reason code */
    const char *message;     /* human-readable detail, may be "" */
    const char *source_topic;
    int32_t source_partition;
    int64_t source_offset;
    const uint8_t *body; /* Avro single-object encoded rejection record */
    size_t body_bytes;
} okno_eventlog_refusal;

/* A consumed offset to store, fenced like a compare-and-set: the stored next offset must still
 * be expected_next_offset (-1: no row stored yet). A writer that lost the partition fails. */
typedef struct okno_eventlog_offset {
    const char *group_id;
    const char *topic;
    int32_t partition;
    int64_t expected_next_offset; /* what the writer loaded or last stored; -1 = none */
    int64_t next_offset;          /* the next offset to consume after this batch */
} okno_eventlog_offset;

/* One ledger batch. Arrays are borrowed for the duration of the call; any may be empty. */
typedef struct okno_eventlog_batch {
    const okno_eventlog_event *events; /* in seq order within each message */
    size_t event_count;
    const okno_eventlog_head *heads; /* one per message of events, unique message ids */
    size_t head_count;
    const okno_eventlog_request *requests; /* unique request ids */
    size_t request_count;
    const okno_eventlog_refusal *refusals;
    size_t refusal_count;
    const okno_eventlog_offset *offsets;
    size_t offset_count;
    /* The org directory's version the batch was decided under (okno.directory_head): the batch
     * commits only if it is still current, holding the head row's share lock to the commit so
     * no directory change commits in between (OKNO_ECONFLICT otherwise). 0: not checked. */
    int64_t directory_version;
} okno_eventlog_batch;

/* A head after the batch: what the caller's cache holds next. */
typedef struct okno_eventlog_tip {
    int32_t seq;
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
} okno_eventlog_tip;

/* A request id of the batch that was recorded before, with its first outcome. */
typedef struct okno_eventlog_known {
    size_t index;  /* into batch->requests */
    bool accepted; /* as first recorded */
    int32_t events;
} okno_eventlog_known;

/* What okno_eventlog_append() did. The caller sets tips and known (arrays it owns, with room
 * for head_count and request_count entries; either may be NULL when that count is 0). */
typedef struct okno_eventlog_result {
    okno_eventlog_tip *tips;    /* in: room for head_count; out: tips[i] for heads[i] */
    okno_eventlog_known *known; /* in: room for request_count; out on OKNO_EDUPLICATE */
    size_t known_count;         /* entries filled in known */
    size_t events_appended;     /* 0 unless the call returned 0 */
    int64_t first_position;     /* position of the first event appended, 0 when none */
} okno_eventlog_result;

/* Appends a batch in ONE transaction of one round trip (pipeline mode, arrays in binary):
 * the hash chain of the events (from each head's prev_hash), the events, the fenced stream-head
 * updates, the request ids, the refusals and the fenced consumer offsets. All or nothing.
 * Returns 0; OKNO_EINVAL (a malformed batch: seq gaps, event without head, duplicate ids);
 * OKNO_ELIMIT; OKNO_ECONFLICT (another writer moved a head or an offset: reload and retry or
 * let the partition go); OKNO_EDUPLICATE (request ids already recorded: result->known lists
 * them; nothing was written; drop them from the batch, acknowledge them, retry the rest);
 * OKNO_EPG, with the reason in errbuf (okno/error.h; size it OKNO_PG_ERRBUF_BYTES). conn must be
 * idle, not in a transaction or pipeline; it is left idle. */
int okno_eventlog_append(PGconn *conn, const okno_eventlog_batch *batch,
                         okno_eventlog_result *result, char *errbuf, size_t errbuf_bytes);

/* A stored stream head, as okno_eventlog_load_heads() hands it out. Pointers are valid only
 * during the callback. */
typedef struct okno_eventlog_head_row {
    okno_uuid message_id;
    int32_t seq;
    uint8_t hash[OKNO_EVENTLOG_HASH_BYTES];
    int32_t kafka_partition;
    int16_t state_version;
    const uint8_t *state;
    size_t state_bytes;
} okno_eventlog_head_row;

/* Called once per head; a nonzero return stops the load, which then returns that value. */
typedef int (*okno_eventlog_head_cb)(const okno_eventlog_head_row *head, void *arg);

/* Streams the heads whose kafka_partition is in partitions[0..n) to cb, one row in memory at a
 * time (single-row mode). Returns 0, cb's nonzero value, or OKNO_EPG with errbuf set. */
int okno_eventlog_load_heads(PGconn *conn, const int32_t *partitions, size_t n,
                             okno_eventlog_head_cb cb, void *arg, char *errbuf,
                             size_t errbuf_bytes);

/* A stored consumer offset. */
typedef struct okno_eventlog_offset_row {
    int32_t partition;
    int64_t next_offset;
} okno_eventlog_offset_row;

/* Fills out[0..*count) with the stored offsets of (group_id, topic), by partition. Returns 0,
 * OKNO_ELIMIT when more than out_max are stored, or OKNO_EPG with errbuf set. */
int okno_eventlog_load_offsets(PGconn *conn, const char *group_id, const char *topic,
                               okno_eventlog_offset_row *out, size_t out_max, size_t *count,
                               char *errbuf, size_t errbuf_bytes);

/* hash = SHA-256(prev_hash || body): one link of a message's chain. */
/* n bytes as lowercase hex into out (2n + 1 bytes, NUL-terminated). */
void okno_eventlog_hex(const uint8_t *p, size_t n, char *out);

void okno_eventlog_hash(const uint8_t prev_hash[OKNO_EVENTLOG_HASH_BYTES], const uint8_t *body,
                        size_t body_bytes, uint8_t hash[OKNO_EVENTLOG_HASH_BYTES]);

/* ---- verifying one message's chain (okno audit, the read side's history) ------------------ */

struct okno_event;

/* One stored row of okno.event_log, as read back. */
typedef struct okno_eventlog_row {
    const okno_uuid *message_id;
    int32_t seq;
    const char *event_type;
    const uint8_t *body;
    size_t body_bytes;
    const uint8_t *prev_hash; /* 32 bytes */
    const uint8_t *hash;      /* 32 bytes, as stored */
} okno_eventlog_row;

/* Called once per mismatch, where it occurs: the row's seq and what did not verify. */
typedef void okno_eventlog_mismatch_fn(void *ctx, int32_t seq, const char *what);

/* The walk so far: the previous stored hash and the seq expected next. */
typedef struct okno_eventlog_chain {
    uint8_t prev[OKNO_EVENTLOG_HASH_BYTES];
    int32_t next_seq;
    int mismatches;
    okno_eventlog_mismatch_fn *on_mismatch;
    void *ctx;
} okno_eventlog_chain;

/* Starts a walk at seq 1 (prev_hash all zeros); on_mismatch may be NULL (counted only). */
void okno_eventlog_chain_init(okno_eventlog_chain *c, okno_eventlog_mismatch_fn *on_mismatch,
                              void *ctx);

/* Verifies the next row (in seq order): seq continuity, prev_hash, SHA-256(prev_hash || body)
 * against the stored hash, then decodes the body (common/avro) into *event and checks that it
 * names the row's message, seq and type. Goes on from the stored hash, so one broken link is
 * reported once. Returns true when *event holds the decoded body (the row may still have had
 * mismatches: see c->mismatches). */
bool okno_eventlog_chain_step(okno_eventlog_chain *c, const okno_eventlog_row *row,
                              struct okno_event *event);

/* Checks the message's stream head against the walk's end (rows events were walked): same seq,
 * same hash; a message with events but no head is a mismatch. Reads okno.stream_heads on conn.
 * OKNO_EPG (errbuf) when the query fails, else 0. */
int okno_eventlog_chain_head(okno_eventlog_chain *c, PGconn *conn,
                             const uint8_t message_id[OKNO_EVENTLOG_ID_BYTES], int rows,
                             char *errbuf, size_t errbuf_bytes);

/* Writes the 36-character text form of a uuid plus a NUL into out (37 bytes). */
void okno_eventlog_uuid_text(const uint8_t id[OKNO_EVENTLOG_ID_BYTES], char out[37]);

/* Writes up to `max_checkpoints` global checkpoints, each covering exactly `events_per`
 * events after the last one, reading only rows below the snapshot's xmin horizon (so a
 * checkpoint never covers a range a late commit could still change). *written counts them.
 * Two writers at once are harmless: they compute the same checkpoint and one insert wins. */
int okno_eventlog_checkpoint(PGconn *conn, int64_t events_per, int max_checkpoints, int *written,
                             char *errbuf, size_t errbuf_bytes);

#endif
