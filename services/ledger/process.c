/* One ledger batch: decode every record, decide each request with the pure workflow core
 * against the message's current state, encode the events and refusals, and append it all with
 * the consumed offsets in one PostgreSQL transaction. The cache changes only after the commit,
 * so a failed append leaves nothing to undo. */
#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "ledger.h"
#include "okno/uuid.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/stream_head.h"
#include "okno/uuid.h"

/* Appends retried after dropping request ids the log already holds. */
#define DUPLICATE_RETRIES_MAX 3

static const okno_uuid uuid_zero;

/* A request id for a record that has none (it did not decode): derived from where it lies, so
 * reprocessing the same record after a crash finds the same refusal. UUIDv8 layout. */
static okno_uuid malformed_request_id(const rd_kafka_message_t *m)
{
    char where[320];
    int n = snprintf(where, sizeof where, "%s/%d/%lld", rd_kafka_topic_name(m->rkt),
                     (int)m->partition, (long long)m->offset);
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)where, (size_t)n, digest);
    okno_uuid id;
    memcpy(id.bytes, digest, 16);
    id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x80);
    id.bytes[8] = (uint8_t)((id.bytes[8] & 0x3f) | 0x80);
    return id;
}

/* A transition's text stays in its slot's decoder until the batch is committed. */
static void decode_one(const okno_ledger *l, const rd_kafka_message_t *m, okno_batch_input *in,
                       okno_avro_decoder *decoder)
{
    okno_avro_error err = {0};
    in->malformed = 0;
    in->misrouted = 0;
    in->received_ms = rd_kafka_message_timestamp(m, NULL);
    okno_ledger_input input = okno_ledger_input_of(l, rd_kafka_topic_name(m->rkt));
    int rc;
    if (input == OKNO_LEDGER_TRANSITIONS) {
        okno_avro_transition t;
        rc = okno_avro_decoder_decode(decoder, m->payload, m->len, &t, &err);
        if (rc == 0)
            in->req = t.request;
    } else {
        okno_avro_sla_signal s;
        rc = okno_avro_decode_topic(OKNO_AVRO_SLA, m->payload, m->len, &s, &err);
        if (rc == 0)
            okno_avro_sla_signal_request(&s, &in->req);
    }
    in->client_request_id = rc == 0 ? in->req.request_id : uuid_zero;
    if (rc != 0) {
        in->malformed = 1;
        snprintf(in->why, sizeof in->why, "%s", err.reason[0] ? err.reason : "malformed record");
        memset(&in->req, 0, sizeof in->req);
        in->req.request_id = malformed_request_id(m);
    }
}

/* An input topic's partition count, from the broker's metadata once, and again when a record
 * comes from a partition beyond it (partitions were added). */
static int partition_count(okno_ledger *l, const rd_kafka_message_t *m, int32_t *out)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    int32_t *count = &l->partition_count[okno_ledger_input_of(l, topic)];
    if (*count <= m->partition) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(l->consumer, 0, m->rkt, &md, 10000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0)
            *count = md->topics[0].partition_cnt;
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        if (*count <= m->partition) {
            okno_log_error("cannot learn a topic's partition count", OKNO_LOG_STR("topic", topic),
                           OKNO_LOG_STR("reason", rd_kafka_err2str(err)));
            return OKNO_EKAFKA;
        }
    }
    *out = *count;
    return OKNO_OK;
}

/* Every okno producer partitions by murmur2 of the message id's 36-character text, so that a
 * message's requests and signals share one partition and one order. A record elsewhere (a
 * client with another partitioner) is refused, not decided out of order; it is recorded under
 * an id derived from where it lies, so the same request sent again correctly is decided. */
static int check_partitions(okno_ledger *l, rd_kafka_message_t **records, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        okno_batch_input *in = &l->batch.inputs[i];
        const rd_kafka_message_t *m = records[i];
        if (in->malformed)
            continue;
        int32_t count;
        int rc = partition_count(l, m, &count);
        if (rc != OKNO_OK)
            return rc;
        char key[OKNO_UUID_TEXT_BYTES];
        okno_uuid_format(&in->req.message_id, key);
        int32_t want = rd_kafka_msg_partitioner_murmur2(m->rkt, key, OKNO_UUID_TEXT_BYTES - 1,
                                                        count, NULL, NULL);
        if (want == m->partition)
            continue;
        in->misrouted = 1;
        in->req.request_id = malformed_request_id(m);
        snprintf(in->why, sizeof in->why,
                 "partition %d, not %d of %d: key by the message id's text and partition with "
                 "murmur2 (librdkafka, confluent-kafka: partitioner=murmur2_random)",
                 (int)m->partition, (int)want, (int)count);
    }
    return OKNO_OK;
}

/* The working head of a message, created from the cache on first touch. */
static okno_batch_head *head_for(okno_ledger *l, const okno_uuid *id, int32_t partition)
{
    okno_batch *b = &l->batch;
    uint32_t i = okno__uuid_index_get(&b->head_index, id);
    if (i != UINT32_MAX) {
        assert(i < b->heads_count);
        assert(okno_uuid_equal(&b->heads[i].id, id));
        return &b->heads[i];
    }
    /* At most one new head per input record. */
    assert(b->heads_count < b->records_max);
    okno_batch_head *h = &b->heads[b->heads_count];
    memset(h, 0, sizeof *h);
    h->id = *id;
    h->partition = partition;
    const okno__head *cached = okno__head_cache_get(&l->cache, id);
    if (cached != NULL) {
        h->existed = true;
        h->state = cached->state;
        h->prev_seq = (int32_t)cached->state.last_seq;
        memcpy(h->prev_hash, cached->hash, sizeof h->prev_hash);
    }
    okno__uuid_index_put(&b->head_index, id, b->heads_count++);
    return h;
}

/* Room for one more encoded record at the end of the body buffer. */
static int reserve_bytes(okno_batch *b)
{
    if (b->bytes_cap - b->bytes_used >= OKNO_AVRO_RECORD_BYTES_MAX)
        return OKNO_OK;
    size_t cap = b->bytes_cap * 2;
    uint8_t *p = realloc(b->bytes, cap);
    if (p == NULL)
        return OKNO_ENOMEM;
    b->bytes = p;
    b->bytes_cap = cap;
    return OKNO_OK;
}

static int encode_into(okno_batch *b, okno_avro_topic topic, const void *record, size_t *at,
                       size_t *len)
{
    int rc = reserve_bytes(b);
    okno_avro_error err = {0};
    if (rc == OKNO_OK)
        rc = okno_avro_encode(topic, record, b->bytes + b->bytes_used, b->bytes_cap - b->bytes_used,
                              len, &err);
    if (rc != OKNO_OK) {
        okno_log_error("cannot encode a record", OKNO_LOG_STR("topic", okno_avro_topic_name(topic)),
                       OKNO_LOG_STR("reason", err.reason), OKNO_LOG_ERR(rc));
        return rc;
    }
    *at = b->bytes_used;
    b->bytes_used += *len;
    return OKNO_OK;
}

static void add_request(okno_batch *b, const okno_request *r, bool accepted, uint32_t events)
{
    assert(b->batch.request_count < b->records_max);
    assert(accepted == (events > 0));
    okno_eventlog_request *q = &b->requests[b->batch.request_count++];
    q->request_id = r->request_id;
    q->message_id = r->message_id;
    q->accepted = accepted;
    q->events = (int32_t)events;
}

static int add_refusal(okno_ledger *l, const rd_kafka_message_t *m, const okno_batch_input *in,
                       const char *code, const char *message, int64_t now_ms)
{
    okno_batch *b = &l->batch;
    size_t i = b->batch.refusal_count;
    assert(i < b->records_max);
    assert(code != NULL);
    snprintf(b->refusal_messages[i], sizeof b->refusal_messages[i], "%s", message);
    okno_avro_rejection rej = {
        .request_id = in->client_request_id,
        .message_id = in->req.message_id,
        .acting_user_id = in->req.acting_user_id,
        .acting_org_id = in->req.acting_org_id,
        .reason_code = okno_str_c(code),
        .message = okno_str_c(b->refusal_messages[i]),
        .source_topic = okno_str_c(rd_kafka_topic_name(m->rkt)),
        .source_partition = m->partition,
        .source_offset = m->offset,
        .rejected_at_ms = now_ms,
    };
    size_t len;
    int rc = encode_into(b, OKNO_AVRO_REJECTIONS, &rej, &b->refusal_body_at[i], &len);
    if (rc != OKNO_OK)
        return rc;
    okno_eventlog_refusal *f = &b->refusals[i];
    f->request_id = in->req.request_id;
    f->message_id = in->req.message_id;
    f->reason_code = code;
    f->message = b->refusal_messages[i];
    f->source_topic = rd_kafka_topic_name(m->rkt);
    f->source_partition = m->partition;
    f->source_offset = m->offset;
    f->body_bytes = len;
    b->batch.refusal_count++;
    add_request(b, &in->req, false, 0);
    return OKNO_OK;
}

static int add_events(okno_batch *b, okno_batch_head *h, const okno_step_result *res)
{
    assert(res->events_count >= 1);
    assert(res->events_count <= OKNO_STEP_EVENTS_MAX);
    for (uint32_t k = 0; k < res->events_count; k++) {
        const okno_event *ev = &res->events[k];
        size_t i = b->batch.event_count, len;
        assert(i < (size_t)b->records_max * OKNO_STEP_EVENTS_MAX);
        /* A message's events in the batch are consecutive seqs after its head. */
        assert(ev->seq == (uint64_t)h->prev_seq + h->events + k + 1);
        assert(okno_uuid_equal(&ev->message_id, &h->id));
        int rc = encode_into(b, OKNO_AVRO_EVENTS, ev, &b->event_body_at[i], &len);
        if (rc != OKNO_OK)
            return rc;
        okno_eventlog_event *e = &b->events[i];
        e->message_id = ev->message_id;
        e->request_id = ev->request_id;
        e->seq = (int32_t)ev->seq;
        e->event_type = okno_event_type_name(ev->type);
        e->occurred_at_ms = ev->at_ms;
        e->actor_user = ev->actor_user_id;
        e->org = ev->holding_org_after;
        e->body_bytes = len;
        b->batch.event_count++;
    }
    h->events += res->events_count;
    h->state = res->state;
    return OKNO_OK;
}

/* Decides one request: events, a refusal, or an acknowledged repeat. */
static int decide(okno_ledger *l, const rd_kafka_message_t *m, okno_batch_input *in, int64_t now_ms)
{
    okno_batch *b = &l->batch;
    const okno_request *r = &in->req;
    if (okno__uuid_index_get(&b->skip_requests, &r->request_id) != UINT32_MAX ||
        okno__uuid_index_get(&b->seen_requests, &r->request_id) != UINT32_MAX) {
        b->repeats++; /* counted when the batch commits: not twice if it is decided again */
        return OKNO_OK;
    }
    okno__uuid_index_put(&b->seen_requests, &r->request_id, 1);
    if (in->malformed) {
        okno_metrics_counter_inc(&l->metrics.malformed);
        return add_refusal(l, m, in, okno_refusal_code_name(OKNO_REFUSAL_MALFORMED_RECORD), in->why,
                           now_ms);
    }
    if (in->misrouted)
        return add_refusal(l, m, in, okno_refusal_code_name(OKNO_REFUSAL_WRONG_PARTITION), in->why,
                           now_ms);
    okno_batch_head *h = head_for(l, &r->message_id, m->partition);
    okno_actor actor;
    okno_actor_init(&actor, &l->directory.dir, r->acting_user_id, r->acting_org_id);
    static okno_step_result res; /* ~2 KB; the ledger decides on one thread */
    int rc = okno_workflow_step(h->state.last_seq ? &h->state : NULL, r, &actor, &l->directory.dir,
                                now_ms, &res);
    if (rc != OKNO_OK)
        return rc;
    if (res.events_count == 0)
        return add_refusal(l, m, in, okno_refusal_code_name(res.refusal.code), res.refusal.message,
                           now_ms);
    for (uint32_t k = 0; k < res.events_count; k++)
        res.events[k].directory_version = l->directory.version; /* decided under it */
    add_request(b, r, true, res.events_count);
    return add_events(b, h, &res);
}

/* The next offset to store for each (topic, partition) of the batch, fenced on what is stored. */
static void collect_offsets(okno_ledger *l, rd_kafka_message_t **records, size_t n)
{
    okno_batch *b = &l->batch;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = records[i];
        okno_ledger_input in = okno_ledger_input_of(l, rd_kafka_topic_name(m->rkt));
        okno_eventlog_offset *o = NULL;
        for (size_t k = 0; k < b->batch.offset_count && o == NULL; k++)
            if (b->offsets[k].partition == m->partition && b->offsets[k].topic == l->topics[in])
                o = &b->offsets[k];
        if (o == NULL) {
            assert(b->batch.offset_count < b->records_max);
            o = &b->offsets[b->batch.offset_count++];
            *o = (okno_eventlog_offset){
                .group_id = l->group_id,
                .topic = l->topics[in],
                .partition = m->partition,
                .expected_next_offset = l->partitions[in][m->partition].stored_next_offset,
            };
        }
        if (m->offset + 1 > o->next_offset)
            o->next_offset = m->offset + 1;
    }
}

/* A head goes into the batch when the batch appends to its message, and also when it only
 * refused a request on an existing message: then the head is a fence, so a refusal decided on
 * a stale state (another instance moved the message meanwhile) cannot be committed. A refusal
 * for a message that does not exist yet cannot be fenced this way; see README.md. */
static bool head_in_batch(const okno_batch_head *h)
{
    return h->events > 0 || h->existed;
}

/* Points bodies into the byte buffer (it may have moved while growing) and fills the heads. */
static void finish_batch(okno_batch *b)
{
    for (size_t i = 0; i < b->batch.event_count; i++)
        b->events[i].body = b->bytes + b->event_body_at[i];
    for (size_t i = 0; i < b->batch.refusal_count; i++)
        b->refusals[i].body = b->bytes + b->refusal_body_at[i];
    for (uint32_t i = 0; i < b->heads_count; i++) {
        const okno_batch_head *h = &b->heads[i];
        if (!head_in_batch(h))
            continue;
        assert(h->prev_seq >= 0);
        okno_eventlog_head *o = &b->out_heads[b->batch.head_count++];
        o->message_id = h->id;
        o->prev_seq = h->prev_seq;
        memcpy(o->prev_hash, h->prev_hash, sizeof o->prev_hash);
        o->kafka_partition = h->partition;
        o->state_version = OKNO_STREAM_HEAD_STATE_VERSION;
        o->state = (const uint8_t *)&h->state;
        o->state_bytes = sizeof h->state;
    }
    b->batch.events = b->events;
    b->batch.heads = b->out_heads;
    b->batch.requests = b->requests;
    b->batch.refusals = b->refusals;
    b->batch.offsets = b->offsets;
}

static void reset(okno_batch *b)
{
    memset(&b->batch, 0, sizeof b->batch);
    b->heads_count = 0;
    b->repeats = 0;
    b->bytes_used = 0;
    okno__uuid_index_clear(&b->head_index);
    okno__uuid_index_clear(&b->seen_requests);
}

/* Loads from PostgreSQL the heads the cache cannot vouch for: messages of partitions whose
 * okno.transitions.v1 side this instance does not own (their SLA records can still reach it). */
static int load_missing_heads(okno_ledger *l, rd_kafka_message_t **records, size_t n)
{
    okno_batch *b = &l->batch;
    for (size_t i = 0; i < n; i++) {
        const okno_batch_input *in = &b->inputs[i];
        int32_t p = records[i]->partition;
        if (in->malformed || in->misrouted || l->partitions[OKNO_LEDGER_TRANSITIONS][p].owned ||
            okno__head_cache_get(&l->cache, &in->req.message_id) != NULL)
            continue;
        int rc = okno_ledger_load_heads(l, &in->req.message_id, 1);
        if (rc != OKNO_OK)
            return rc;
    }
    return OKNO_OK;
}

/* A request the log already holds was decided before, perhaps by another instance: the
 * message may have moved on since this instance's cache saw it. Reloading those heads keeps
 * the rest of the batch from being decided on a stale state; without it, a message whose
 * submit was recorded elsewhere would look unknown here, and an unknown message's refusal has
 * no head to fence it. Repeats are rare, so this is rarely a query. */
static int reload_heads_of_known(okno_ledger *l, size_t n)
{
    okno_batch *b = &l->batch;
    if (b->skip_count == 0)
        return OKNO_OK;
    okno_uuid *ids = malloc(b->skip_count * sizeof *ids);
    if (ids == NULL)
        return OKNO_ENOMEM;
    size_t count = 0;
    for (size_t i = 0; i < n && count < b->skip_count; i++) {
        const okno_batch_input *in = &b->inputs[i];
        if (!in->malformed && !in->misrouted &&
            okno__uuid_index_get(&b->skip_requests, &in->req.request_id) != UINT32_MAX)
            ids[count++] = in->req.message_id;
    }
    int rc = okno_ledger_load_heads(l, ids, count);
    free(ids);
    return rc;
}

static int build(okno_ledger *l, rd_kafka_message_t **records, size_t n, int64_t now_ms)
{
    okno_batch *b = &l->batch;
    reset(b);
    for (size_t i = 0; i < n; i++) {
        int rc = decide(l, records[i], &b->inputs[i], now_ms);
        if (rc != OKNO_OK)
            return rc;
    }
    collect_offsets(l, records, n);
    finish_batch(b);
    b->batch.directory_version = l->directory.version; /* the fence: still current at commit */
    return OKNO_OK;
}

/* After the commit: the cache, the stored offsets and the metrics move forward. */
static int commit_batch(okno_ledger *l, const okno_eventlog_result *res, size_t n, int64_t now_ms)
{
    okno_batch *b = &l->batch;
    for (size_t i = 0, k = 0; i < b->heads_count; i++) {
        const okno_batch_head *h = &b->heads[i];
        if (!head_in_batch(h))
            continue;
        okno__head head = {.state = h->state, .partition = h->partition};
        memcpy(head.hash, res->tips[k++].hash, sizeof head.hash);
        int rc = okno__head_cache_put(&l->cache, &head);
        if (rc != OKNO_OK)
            return rc;
    }
    for (size_t i = 0; i < b->batch.offset_count; i++) {
        const okno_eventlog_offset *o = &b->offsets[i];
        okno_ledger_input in = okno_ledger_input_of(l, o->topic);
        l->partitions[in][o->partition].stored_next_offset = o->next_offset;
    }
    for (size_t i = 0; i < b->batch.request_count; i++)
        okno_metrics_counter_inc(b->requests[i].accepted ? &l->metrics.accepted
                                                         : &l->metrics.refused);
    okno_metrics_counter_add(&l->metrics.duplicates, b->repeats);
    okno_metrics_counter_add(&l->metrics.events, res->events_appended);
    okno_metrics_counter_inc(&l->metrics.batches);
    for (size_t i = 0; i < n; i++)
        okno_metrics_histogram_observe(&l->metrics.latency_ms,
                                       (double)(now_ms - b->inputs[i].received_ms));
    return OKNO_OK;
}

static void skip_known(okno_ledger *l, const okno_eventlog_result *res)
{
    okno_batch *b = &l->batch;
    for (size_t i = 0; i < res->known_count; i++) {
        okno_uuid id;
        id = b->requests[res->known[i].index].request_id;
        okno__uuid_index_put(&b->skip_requests, &id, 1);
        b->skip_count++;
    }
}

/* The fault injection point ledger.fault_stop_before_append: when its file exists, the batch is
 * decided and encoded but not appended; the ledger deletes the file, says where it stops and
 * stops itself (SIGSTOP) until continued, then appends what it decided before the stop. A
 * ledger that lost its partitions meanwhile must fail the append on its fences
 * (tests/faults/test_stall.py). */
static void fault_stop_before_append(const okno_ledger *l, size_t n)
{
    if (l->fault_stop_file == NULL || l->fault_stop_file[0] == '\0' ||
        unlink(l->fault_stop_file) != 0)
        return;
    /* The offsets the append would store, "topic:partition:next_offset" each. */
    char offsets[2048] = "";
    size_t used = 0;
    const okno_batch *b = &l->batch;
    for (size_t i = 0; i < b->batch.offset_count && used < sizeof offsets; i++)
        used += (size_t)snprintf(offsets + used, sizeof offsets - used, "%s%s:%" PRId32 ":%" PRId64,
                                 i ? "," : "", b->offsets[i].topic, b->offsets[i].partition,
                                 b->offsets[i].next_offset);
    okno_log_warn("fault injection: stopping between decide and append",
                  OKNO_LOG_UINT("records", n), OKNO_LOG_UINT("events", b->batch.event_count),
                  OKNO_LOG_STR("offsets", offsets));
    raise(SIGSTOP);
    okno_log_warn("fault injection: continued; appending the batch decided before the stop",
                  OKNO_LOG_UINT("records", n));
}

int okno_ledger_process(okno_ledger *l, rd_kafka_message_t **records, size_t n)
{
    okno_batch *b = &l->batch;
    okno__uuid_index_clear(&b->skip_requests);
    b->skip_count = 0;
    for (size_t i = 0; i < n; i++)
        decode_one(l, records[i], &b->inputs[i], &b->decoders[i]);
    int rc = check_partitions(l, records, n);
    int64_t lookup_started = okno_clock_monotonic_ms();
    if (rc == OKNO_OK && l->lookup_batches_left > 0) {
        l->lookup_batches_left--;
        okno_metrics_counter_inc(&l->metrics.lookups);
        rc = okno_ledger_mark_known_requests(l, n);
        if (rc == OKNO_OK && b->skip_count > 0)
            l->lookup_batches_left = OKNO_LEDGER_LOOKUP_BATCHES;
    }
    if (rc == OKNO_OK)
        rc = load_missing_heads(l, records, n);
    okno_metrics_histogram_observe(&l->metrics.lookup_ms,
                                   (double)(okno_clock_monotonic_ms() - lookup_started));
    for (int attempt = 0; rc == OKNO_OK && attempt <= DUPLICATE_RETRIES_MAX; attempt++) {
        int64_t now_ms = okno_ledger_now_ms(l);
        rc = reload_heads_of_known(l, n);
        if (rc == OKNO_OK)
            rc = build(l, records, n, now_ms);
        if (rc != OKNO_OK)
            break;
        fault_stop_before_append(l, n);
        okno_eventlog_result res = {.tips = b->tips, .known = b->known};
        int64_t append_started = okno_clock_monotonic_ms();
        char err[OKNO_PG_ERRBUF_BYTES];
        rc = okno_eventlog_append(l->pg, &b->batch, &res, err, sizeof err);
        okno_metrics_histogram_observe(&l->metrics.append_ms,
                                       (double)(okno_clock_monotonic_ms() - append_started));
        if (rc == OKNO_OK)
            return commit_batch(l, &res, n, okno_ledger_now_ms(l));
        if (rc != OKNO_EDUPLICATE) {
            okno_log_warn("batch append failed", OKNO_LOG_STR("reason", err), OKNO_LOG_ERR(rc));
            if (rc == OKNO_ECONFLICT)
                okno_metrics_counter_inc(&l->metrics.conflicts);
            return rc;
        }
        okno_metrics_counter_inc(&l->metrics.append_repeats);
        l->lookup_batches_left = OKNO_LEDGER_LOOKUP_BATCHES;
        skip_known(l, &res);
        rc = OKNO_OK;
    }
    return rc == OKNO_OK ? OKNO_ELIMIT : rc;
}
