/* The per-batch working memory of the ledger: decoded requests, the heads the batch moves,
 * the encoded bodies, and the arrays handed to okno_eventlog_append(). Allocated once for
 * batch_records_max records and reused, so a batch allocates nothing on the hot path except
 * when the body buffer must grow. */
#ifndef OKNO_LEDGER_BATCH_H
#define OKNO_LEDGER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "okno/avro.h"
#include "okno/eventlog.h"
#include "okno/workflow.h"

/* A map from uuid to a small index, by open addressing; capacity fixed at init. */
typedef struct okno__uuid_index {
    okno_uuid *keys;
    uint32_t *values;  /* UINT32_MAX: empty slot */
    uint32_t capacity; /* power of two, at least twice the most entries */
    uint32_t count;    /* entries since the last clear; at most capacity / 2 */
} okno__uuid_index;

int okno__uuid_index_init(okno__uuid_index *x, uint32_t entries_max);
void okno__uuid_index_close(okno__uuid_index *x);
void okno__uuid_index_clear(okno__uuid_index *x);
/* The value stored for key, or UINT32_MAX. */
uint32_t okno__uuid_index_get(const okno__uuid_index *x, const okno_uuid *key);
void okno__uuid_index_put(okno__uuid_index *x, const okno_uuid *key, uint32_t value);

/* One decoded input record. */
typedef struct okno_batch_input {
    okno_request req;
    int malformed; /* nonzero: did not decode; reason in `why` */
    int misrouted; /* nonzero: not on its message's partition; reason in `why` */
    /* The request id the record carries (zero when it did not decode). A refused record that
     * did not decode or came on the wrong partition is recorded under an id derived from
     * where it lies (req.request_id), so its own id stays free for a corrected retry. */
    okno_uuid client_request_id;
    char why[OKNO_AVRO_REASON_BYTES];
    int64_t received_ms; /* the Kafka record's timestamp */
} okno_batch_input;

/* A message the batch touches: its head before the batch and its working state. */
typedef struct okno_batch_head {
    okno_uuid id;
    bool existed; /* had events before the batch */
    int32_t prev_seq;
    uint8_t prev_hash[OKNO_EVENTLOG_HASH_BYTES];
    int32_t partition;
    uint32_t events;          /* events the batch adds */
    okno_message_state state; /* working state */
} okno_batch_head;

typedef struct okno_batch {
    uint32_t records_max;
    okno_batch_input *inputs;
    /* One okno.transitions.v1 decoder per input: the text of inputs[i].req (and of the events
     * that borrow it) lives in decoders[i] until that slot decodes again, after the commit.
     * okno.sla.v1 records carry no text and use the thread's decoder. */
    okno_avro_decoder *decoders;
    okno_batch_head *heads;
    uint32_t heads_count;
    okno__uuid_index head_index;    /* message id -> heads[] */
    okno__uuid_index seen_requests; /* request ids decided in this batch */
    okno__uuid_index skip_requests; /* request ids the log already holds (acknowledged) */
    uint32_t skip_count;
    uint32_t repeats; /* requests of this build acknowledged as repeats (in-batch or logged) */

    uint8_t *bytes; /* encoded bodies; pointers are fixed up after encoding */
    size_t bytes_used, bytes_cap;

    okno_eventlog_event *events;
    size_t *event_body_at; /* offset of each event's body in bytes */
    okno_eventlog_request *requests;
    okno_eventlog_refusal *refusals;
    size_t *refusal_body_at;
    char (*refusal_messages)[OKNO_REFUSAL_MESSAGE_MAX];
    okno_eventlog_head *out_heads;
    okno_eventlog_offset *offsets;
    okno_eventlog_tip *tips;
    okno_eventlog_known *known;
    okno_eventlog_batch batch;
} okno_batch;

/* Needs okno_avro_init() (the decoders are made from its schemas). */
int okno_batch_init(okno_batch *b, uint32_t records_max);
void okno_batch_close(okno_batch *b);

#endif
