/* The ledger's batch append: hash chain, events, fenced stream heads, request ids, refusals and
 * fenced consumer offsets in one transaction sent as one pipeline (one round trip). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/eventlog.h"
#include "okno/pgbin.h"

/* Statements of one append: begin, offsets, heads, requests, events, refusals, commit. */
#define APPEND_STATEMENTS_MAX 8
#define STATEMENT_PARAMS_MAX  10

/* The fences and the duplicate check run before the events are inserted, so a zombie's or a
 * repeated batch's failure costs the server the least work. The statements raise custom
 * SQLSTATEs (okno.eventlog_require, 0002_event_log.sql) so one failure aborts the pipeline. */
/* The directory fence: the head row shared until the commit, its version the batch's. */
static const char DIRECTORY_SQL[] = "select okno.directory_fence($1::int8)";
static const char OFFSETS_SQL[] =
    "with i as (select * from unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::int8[])"
    "   as t(group_id, topic, partition, expected, next_offset)),"
    " upd as (update okno.consumer_offsets c set next_offset = i.next_offset, updated_at = now()"
    "   from i where i.expected >= 0 and c.group_id = i.group_id and c.topic = i.topic"
    "   and c.partition = i.partition and c.next_offset = i.expected returning 1),"
    " ins as (insert into okno.consumer_offsets (group_id, topic, partition, next_offset)"
    "   select group_id, topic, partition, next_offset from i where expected < 0"
    "   on conflict do nothing returning 1)"
    " select okno.eventlog_require((select count(*) from upd) + (select count(*) from ins) = $6,"
    "   'OKF01', 'fence: a consumer offset is not what this writer expected')";

/* h.tx < pg_current_xact_id(): a message's events always get increasing transaction ids, which
 * the (tx, position) read order relies on (common/pg/README.md). Only concurrent writers of one
 * message can trip it, and they are exactly what the fence is for. */
static const char HEADS_SQL[] =
    "with i as (select * from unnest($1::uuid[], $2::int4[], $3::int4[], $4::bytea[],"
    "   $5::int4[], $6::int2[], $7::bytea[])"
    "   as t(message_id, prev_seq, seq, hash, kafka_partition, state_version, state)),"
    " upd as (update okno.stream_heads h set seq = i.seq, hash = i.hash,"
    "   kafka_partition = i.kafka_partition, state_version = i.state_version, state = i.state,"
    "   tx = pg_current_xact_id(), updated_at = now()"
    "   from i where i.prev_seq > 0 and h.message_id = i.message_id and h.seq = i.prev_seq"
    "   and h.tx < pg_current_xact_id() returning 1),"
    " ins as (insert into okno.stream_heads"
    "   (message_id, seq, hash, kafka_partition, state_version, state)"
    "   select message_id, seq, hash, kafka_partition, state_version, state from i"
    "   where prev_seq = 0 on conflict (message_id) do nothing returning 1)"
    " select okno.eventlog_require((select count(*) from upd) + (select count(*) from ins) = $8,"
    "   'OKF01', 'fence: a stream head is not at the seq this writer expected')";

/* A plain insert: a request id already recorded fails it with a unique violation on a
 * requests partition's key, which classify() reads as OKNO_EDUPLICATE. (ON CONFLICT DO NOTHING
 * with a count check said the same with a speculative insertion per row.) */
static const char REQUESTS_SQL[] =
    "insert into okno.requests (request_id, message_id, accepted, events)"
    " select * from unnest($1::uuid[], $2::uuid[], $3::bool[], $4::int4[])";

/* Ordered by the arrays' ordinality so positions follow the batch order (and so seq order). */
static const char EVENTS_SQL[] =
    "with ins as (insert into okno.event_log (message_id, seq, request_id, event_type,"
    "   occurred_at, actor_user, org, body, prev_hash, hash)"
    "   select message_id, seq, request_id, event_type, occurred_at, actor_user, org, body,"
    "   prev_hash, hash from unnest($1::uuid[], $2::int4[], $3::uuid[], $4::text[],"
    "   $5::timestamptz[], $6::int8[], $7::int8[], $8::bytea[], $9::bytea[], $10::bytea[])"
    "   with ordinality as e(message_id, seq, request_id, event_type, occurred_at, actor_user,"
    "   org, body, prev_hash, hash, n) order by n returning position)"
    " select coalesce(min(position), 0) from ins";

static const char REFUSALS_SQL[] =
    "insert into okno.refusals (request_id, message_id, reason_code, message, source_topic,"
    "   source_partition, source_offset, body)"
    " select r, m, c, t, st, sp, so, b from unnest($1::uuid[], $2::uuid[], $3::text[],"
    "   $4::text[], $5::text[], $6::int4[], $7::int8[], $8::bytea[])"
    "   with ordinality as x(r, m, c, t, st, sp, so, b, n) order by n";

/* One index probe per id (runtime pruning to one hash partition), the shape of the ledger's
 * look-up (services/ledger/store.c): "request_id = any($1)" was planned as a sequential scan of
 * every partition on a small log and probed every partition with every id on a large one. */
static const char KNOWN_SQL[] =
    "select k.request_id, k.accepted, k.events from unnest($1::uuid[]) u(id),"
    " lateral (select r.request_id, r.accepted, r.events from okno.requests r"
    " where r.request_id = u.id limit 1) k";

/* An id with the index of its entry in the batch; sorted by id (the first member). */
typedef struct id_slot {
    uint8_t id[OKNO_EVENTLOG_ID_BYTES];
    uint32_t index;
} id_slot;

/* Per-batch scratch memory, one allocation: sorted ids, each event's head and chain links. */
typedef struct scratch {
    id_slot *heads;
    id_slot *requests;
    uint32_t *event_head;                           /* index into batch->heads */
    uint8_t (*prev_hash)[OKNO_EVENTLOG_HASH_BYTES]; /* per event */
    uint8_t (*hash)[OKNO_EVENTLOG_HASH_BYTES];      /* per event */
    void *mem;
} scratch;

typedef struct statement {
    const char *sql;
    const char *what; /* names the statement in error messages */
    okno_pgparam params[STATEMENT_PARAMS_MAX];
    int param_count;
} statement;

/* One append call: its result and the caller's error buffer (okno/error.h). */
typedef struct call {
    okno_eventlog_result *out;
    char *errbuf;
    size_t errbuf_bytes;
} call;

/* Writes the text into the call's errbuf and returns code. */
#define fail(r, code, ...) okno_errorf((r)->errbuf, (r)->errbuf_bytes, code, __VA_ARGS__)

static int cmp_slot(const void *a, const void *b)
{
    return memcmp(a, b, OKNO_EVENTLOG_ID_BYTES);
}

static int check_counts(const okno_eventlog_batch *b, call *r)
{
    if (b->event_count > OKNO_EVENTLOG_BATCH_EVENTS_MAX)
        return fail(r, OKNO_ELIMIT, "%zu events > batch_events_max", b->event_count);
    if (b->head_count > OKNO_EVENTLOG_BATCH_HEADS_MAX)
        return fail(r, OKNO_ELIMIT, "%zu heads > batch_heads_max", b->head_count);
    if (b->request_count > OKNO_EVENTLOG_BATCH_REQUESTS_MAX)
        return fail(r, OKNO_ELIMIT, "%zu requests > batch_requests_max", b->request_count);
    if (b->refusal_count > OKNO_EVENTLOG_BATCH_REFUSALS_MAX)
        return fail(r, OKNO_ELIMIT, "%zu refusals > batch_refusals_max", b->refusal_count);
    if (b->offset_count > OKNO_EVENTLOG_BATCH_OFFSETS_MAX)
        return fail(r, OKNO_ELIMIT, "%zu offsets > batch_offsets_max", b->offset_count);
    if ((b->head_count > 0 && r->out->tips == NULL) ||
        (b->request_count > 0 && r->out->known == NULL))
        return fail(r, OKNO_EINVAL, "result->tips and result->known need room for the batch");
    return OKNO_OK;
}

static int scratch_init(scratch *s, const okno_eventlog_batch *b, call *r)
{
    size_t bytes = (b->head_count + b->request_count) * sizeof(id_slot) +
                   b->event_count * (sizeof(uint32_t) + 2 * OKNO_EVENTLOG_HASH_BYTES);
    *s = (scratch){.mem = malloc(bytes > 0 ? bytes : 1)};
    if (s->mem == NULL)
        return fail(r, OKNO_ENOMEM, "out of memory for a batch's scratch (%zu bytes)", bytes);
    /* 4-aligned members first (slots, indexes), then the byte arrays of hashes. */
    s->heads = s->mem;
    s->requests = s->heads + b->head_count;
    s->event_head = (uint32_t *)(s->requests + b->request_count);
    s->prev_hash = (void *)(s->event_head + b->event_count);
    s->hash = s->prev_hash + b->event_count;
    return OKNO_OK;
}

/* Sorts ids into slots; fails when one id appears twice. */
static int sort_unique(id_slot *slots, size_t n, const char *what, call *r)
{
    qsort(slots, n, sizeof *slots, cmp_slot);
    for (size_t i = 1; i < n; i++)
        if (memcmp(slots[i - 1].id, slots[i].id, OKNO_EVENTLOG_ID_BYTES) == 0)
            return fail(r, OKNO_EINVAL, "%s %u and %u have the same id", what, slots[i - 1].index,
                        slots[i].index);
    return OKNO_OK;
}

static int index_ids(scratch *s, const okno_eventlog_batch *b, call *r)
{
    for (size_t i = 0; i < b->head_count; i++) {
        memcpy(s->heads[i].id, b->heads[i].message_id.bytes, OKNO_EVENTLOG_ID_BYTES);
        s->heads[i].index = (uint32_t)i;
    }
    for (size_t i = 0; i < b->request_count; i++) {
        memcpy(s->requests[i].id, b->requests[i].request_id.bytes, OKNO_EVENTLOG_ID_BYTES);
        s->requests[i].index = (uint32_t)i;
    }
    int rc = sort_unique(s->heads, b->head_count, "heads", r);
    return rc != 0 ? rc : sort_unique(s->requests, b->request_count, "requests", r);
}

static int check_event(const okno_eventlog_event *e, size_t i, call *r)
{
    size_t type_bytes = e->event_type != NULL ? strlen(e->event_type) : 0;
    if (type_bytes == 0 || type_bytes > OKNO_EVENTLOG_TYPE_BYTES_MAX)
        return fail(r, OKNO_EINVAL, "event %zu: type name empty or over %d bytes", i,
                    OKNO_EVENTLOG_TYPE_BYTES_MAX);
    if (e->body_bytes > OKNO_EVENTLOG_BODY_BYTES_MAX)
        return fail(r, OKNO_ELIMIT, "event %zu: body of %zu bytes > body_bytes_max", i,
                    e->body_bytes);
    if (e->body == NULL && e->body_bytes > 0)
        return fail(r, OKNO_EINVAL, "event %zu: body is NULL", i);
    return OKNO_OK;
}

/* Finds each event's head and checks the seqs continue it without a gap; links the chain. */
static int link_events(scratch *s, const okno_eventlog_batch *b, call *r)
{
    okno_eventlog_tip *tips = r->out->tips;
    for (size_t i = 0; i < b->head_count; i++) {
        if (b->heads[i].prev_seq < 0)
            return fail(r, OKNO_EINVAL, "head %zu: prev_seq %d < 0", i, b->heads[i].prev_seq);
        tips[i].seq = b->heads[i].prev_seq;
        memcpy(tips[i].hash, b->heads[i].prev_hash, OKNO_EVENTLOG_HASH_BYTES);
    }
    for (size_t i = 0; i < b->event_count; i++) {
        const okno_eventlog_event *e = &b->events[i];
        int rc = check_event(e, i, r);
        if (rc != 0)
            return rc;
        const id_slot *h =
            bsearch(e->message_id.bytes, s->heads, b->head_count, sizeof *s->heads, cmp_slot);
        if (h == NULL)
            return fail(r, OKNO_EINVAL, "event %zu: its message has no head in the batch", i);
        okno_eventlog_tip *tip = &tips[h->index];
        if (e->seq != tip->seq + 1)
            return fail(r, OKNO_EINVAL, "event %zu: seq %d does not follow %d", i, e->seq,
                        tip->seq);
        s->event_head[i] = h->index;
        memcpy(s->prev_hash[i], tip->hash, OKNO_EVENTLOG_HASH_BYTES);
        okno_eventlog_hash(tip->hash, e->body, e->body_bytes, s->hash[i]);
        memcpy(tip->hash, s->hash[i], OKNO_EVENTLOG_HASH_BYTES);
        tip->seq = e->seq;
    }
    return OKNO_OK;
}

static int check_heads(const okno_eventlog_batch *b, call *r)
{
    for (size_t i = 0; i < b->head_count; i++) {
        const okno_eventlog_head *h = &b->heads[i];
        if (r->out->tips[i].seq < 1)
            return fail(r, OKNO_EINVAL, "head %zu: a new message without events", i);
        if (h->state_bytes > OKNO_EVENTLOG_STATE_BYTES_MAX)
            return fail(r, OKNO_ELIMIT, "head %zu: state of %zu bytes > state_bytes_max", i,
                        h->state_bytes);
        if (h->kafka_partition < 0 || (h->state == NULL && h->state_bytes > 0))
            return fail(r, OKNO_EINVAL, "head %zu: negative partition or NULL state", i);
    }
    return OKNO_OK;
}

static bool text_ok(const char *s)
{
    return s != NULL && strlen(s) <= OKNO_EVENTLOG_TEXT_BYTES_MAX;
}

static int check_refusals_offsets(const okno_eventlog_batch *b, call *r)
{
    for (size_t i = 0; i < b->refusal_count; i++) {
        const okno_eventlog_refusal *f = &b->refusals[i];
        if (!text_ok(f->reason_code) || !text_ok(f->message) || !text_ok(f->source_topic) ||
            (f->body == NULL && f->body_bytes > 0) || f->body_bytes > OKNO_EVENTLOG_BODY_BYTES_MAX)
            return fail(r, OKNO_EINVAL, "refusal %zu: a text missing or too long, or bad body", i);
    }
    for (size_t i = 0; i < b->offset_count; i++) {
        const okno_eventlog_offset *o = &b->offsets[i];
        if (!text_ok(o->group_id) || !text_ok(o->topic) || o->partition < 0 || o->next_offset < 0 ||
            o->expected_next_offset < -1)
            return fail(r, OKNO_EINVAL, "offset %zu: bad group, topic, partition or offset", i);
        /* Quadratic, but offsets are a handful of partitions and capped by batch_offsets_max. */
        for (size_t j = 0; j < i; j++)
            if (b->offsets[j].partition == o->partition &&
                strcmp(b->offsets[j].topic, o->topic) == 0 &&
                strcmp(b->offsets[j].group_id, o->group_id) == 0)
                return fail(r, OKNO_EINVAL, "offsets %zu and %zu name the same partition", j, i);
    }
    return OKNO_OK;
}

/* Everything a column encoder may read. */
typedef struct encode_ctx {
    const okno_eventlog_batch *batch;
    const scratch *scratch;
    const okno_eventlog_tip *tips;
} encode_ctx;

/* A statement's array parameter: element and array type, and how to add row i's value. */
typedef struct column {
    Oid elem;
    Oid array;
} column;

typedef void (*add_fn)(okno_pgbuf *buf, okno_pgarr *a, const encode_ctx *c, size_t i, int col);

/* Encodes rows x columns as one array parameter per column, then the row count when `counted`
 * (the fence statements compare what they changed with it). */
static void encode(okno_pgbuf *buf, statement *st, const column *cols, int ncols, size_t rows,
                   add_fn add, const encode_ctx *c, bool counted)
{
    assert(ncols + (counted ? 1 : 0) <= STATEMENT_PARAMS_MAX);
    okno_pgarr a;
    for (int col = 0; col < ncols; col++) {
        okno_pgarr_start(buf, &a, cols[col].elem);
        for (size_t i = 0; i < rows; i++)
            add(buf, &a, c, i, col);
        okno_pgarr_finish(buf, &a, cols[col].array, &st->params[col]);
    }
    st->param_count = ncols;
    if (counted)
        okno_pgbin_i64(buf, (int64_t)rows, &st->params[st->param_count++]);
}

static void add_id(okno_pgbuf *buf, okno_pgarr *a, const okno_uuid *id)
{
    okno_pgarr_add(buf, a, id->bytes, sizeof id->bytes);
}

static void add_hash(okno_pgbuf *buf, okno_pgarr *a, const uint8_t *hash)
{
    okno_pgarr_add(buf, a, hash, OKNO_EVENTLOG_HASH_BYTES);
}

static void add_optional_id(okno_pgbuf *buf, okno_pgarr *a, int64_t v)
{
    if (v == OKNO_EVENTLOG_NONE)
        okno_pgarr_add_null(buf, a);
    else
        okno_pgarr_add_i64(buf, a, v);
}

static const column OFFSET_COLUMNS[] = {
    {OKNO_PG_OID_TEXT, OKNO_PG_OID_TEXT_ARRAY}, {OKNO_PG_OID_TEXT, OKNO_PG_OID_TEXT_ARRAY},
    {OKNO_PG_OID_INT4, OKNO_PG_OID_INT4_ARRAY}, {OKNO_PG_OID_INT8, OKNO_PG_OID_INT8_ARRAY},
    {OKNO_PG_OID_INT8, OKNO_PG_OID_INT8_ARRAY},
};

static void add_offset(okno_pgbuf *buf, okno_pgarr *a, const encode_ctx *c, size_t i, int col)
{
    const okno_eventlog_offset *o = &c->batch->offsets[i];
    switch (col) {
    case 0:
        okno_pgarr_add_text(buf, a, o->group_id);
        break;
    case 1:
        okno_pgarr_add_text(buf, a, o->topic);
        break;
    case 2:
        okno_pgarr_add_i32(buf, a, o->partition);
        break;
    case 3:
        okno_pgarr_add_i64(buf, a, o->expected_next_offset);
        break;
    default:
        okno_pgarr_add_i64(buf, a, o->next_offset);
    }
}

static const column HEAD_COLUMNS[] = {
    {OKNO_PG_OID_UUID, OKNO_PG_OID_UUID_ARRAY},   {OKNO_PG_OID_INT4, OKNO_PG_OID_INT4_ARRAY},
    {OKNO_PG_OID_INT4, OKNO_PG_OID_INT4_ARRAY},   {OKNO_PG_OID_BYTEA, OKNO_PG_OID_BYTEA_ARRAY},
    {OKNO_PG_OID_INT4, OKNO_PG_OID_INT4_ARRAY},   {OKNO_PG_OID_INT2, OKNO_PG_OID_INT2_ARRAY},
    {OKNO_PG_OID_BYTEA, OKNO_PG_OID_BYTEA_ARRAY},
};

static void add_head(okno_pgbuf *buf, okno_pgarr *a, const encode_ctx *c, size_t i, int col)
{
    const okno_eventlog_head *h = &c->batch->heads[i];
    switch (col) {
    case 0:
        add_id(buf, a, &h->message_id);
        break;
    case 1:
        okno_pgarr_add_i32(buf, a, h->prev_seq);
        break;
    case 2:
        okno_pgarr_add_i32(buf, a, c->tips[i].seq);
        break;
    case 3:
        add_hash(buf, a, c->tips[i].hash);
        break;
    case 4:
        okno_pgarr_add_i32(buf, a, h->kafka_partition);
        break;
    case 5:
        okno_pgarr_add_i16(buf, a, h->state_version);
        break;
    default:
        okno_pgarr_add(buf, a, h->state, h->state_bytes);
    }
}

static const column REQUEST_COLUMNS[] = {
    {OKNO_PG_OID_UUID, OKNO_PG_OID_UUID_ARRAY},
    {OKNO_PG_OID_UUID, OKNO_PG_OID_UUID_ARRAY},
    {OKNO_PG_OID_BOOL, OKNO_PG_OID_BOOL_ARRAY},
    {OKNO_PG_OID_INT4, OKNO_PG_OID_INT4_ARRAY},
};

static void add_request(okno_pgbuf *buf, okno_pgarr *a, const encode_ctx *c, size_t i, int col)
{
    const okno_eventlog_request *q = &c->batch->requests[i];
    if (col == 0)
        add_id(buf, a, &q->request_id);
    else if (col == 1)
        add_id(buf, a, &q->message_id);
    else if (col == 2)
        okno_pgarr_add_bool(buf, a, q->accepted);
    else
        okno_pgarr_add_i32(buf, a, q->events);
}

static const column EVENT_COLUMNS[] = {
    {OKNO_PG_OID_UUID, OKNO_PG_OID_UUID_ARRAY},
    {OKNO_PG_OID_INT4, OKNO_PG_OID_INT4_ARRAY},
    {OKNO_PG_OID_UUID, OKNO_PG_OID_UUID_ARRAY},
    {OKNO_PG_OID_TEXT, OKNO_PG_OID_TEXT_ARRAY},
    {OKNO_PG_OID_TIMESTAMPTZ, OKNO_PG_OID_TIMESTAMPTZ_ARRAY},
    {OKNO_PG_OID_INT8, OKNO_PG_OID_INT8_ARRAY},
    {OKNO_PG_OID_INT8, OKNO_PG_OID_INT8_ARRAY},
    {OKNO_PG_OID_BYTEA, OKNO_PG_OID_BYTEA_ARRAY},
    {OKNO_PG_OID_BYTEA, OKNO_PG_OID_BYTEA_ARRAY},
    {OKNO_PG_OID_BYTEA, OKNO_PG_OID_BYTEA_ARRAY},
};

static void add_event(okno_pgbuf *buf, okno_pgarr *a, const encode_ctx *c, size_t i, int col)
{
    const okno_eventlog_event *e = &c->batch->events[i];
    switch (col) {
    case 0:
        add_id(buf, a, &e->message_id);
        break;
    case 1:
        okno_pgarr_add_i32(buf, a, e->seq);
        break;
    case 2:
        add_id(buf, a, &e->request_id);
        break;
    case 3:
        okno_pgarr_add_text(buf, a, e->event_type);
        break;
    case 4:
        okno_pgarr_add_i64(buf, a, e->occurred_at_ms * 1000 - OKNO_PG_EPOCH_OFFSET_US);
        break;
    case 5:
        add_optional_id(buf, a, e->actor_user);
        break;
    case 6:
        add_optional_id(buf, a, e->org);
        break;
    case 7:
        okno_pgarr_add(buf, a, e->body, e->body_bytes);
        break;
    case 8:
        add_hash(buf, a, c->scratch->prev_hash[i]);
        break;
    default:
        add_hash(buf, a, c->scratch->hash[i]);
    }
}

static const column REFUSAL_COLUMNS[] = {
    {OKNO_PG_OID_UUID, OKNO_PG_OID_UUID_ARRAY}, {OKNO_PG_OID_UUID, OKNO_PG_OID_UUID_ARRAY},
    {OKNO_PG_OID_TEXT, OKNO_PG_OID_TEXT_ARRAY}, {OKNO_PG_OID_TEXT, OKNO_PG_OID_TEXT_ARRAY},
    {OKNO_PG_OID_TEXT, OKNO_PG_OID_TEXT_ARRAY}, {OKNO_PG_OID_INT4, OKNO_PG_OID_INT4_ARRAY},
    {OKNO_PG_OID_INT8, OKNO_PG_OID_INT8_ARRAY}, {OKNO_PG_OID_BYTEA, OKNO_PG_OID_BYTEA_ARRAY},
};

static void add_refusal(okno_pgbuf *buf, okno_pgarr *a, const encode_ctx *c, size_t i, int col)
{
    const okno_eventlog_refusal *f = &c->batch->refusals[i];
    switch (col) {
    case 0:
        add_id(buf, a, &f->request_id);
        break;
    case 1:
        add_id(buf, a, &f->message_id);
        break;
    case 2:
        okno_pgarr_add_text(buf, a, f->reason_code);
        break;
    case 3:
        okno_pgarr_add_text(buf, a, f->message);
        break;
    case 4:
        okno_pgarr_add_text(buf, a, f->source_topic);
        break;
    case 5:
        okno_pgarr_add_i32(buf, a, f->source_partition);
        break;
    case 6:
        okno_pgarr_add_i64(buf, a, f->source_offset);
        break;
    default:
        okno_pgarr_add(buf, a, f->body, f->body_bytes);
    }
}

#define COLUMNS(t) (t), (int)(sizeof(t) / sizeof((t)[0]))

/* Fills st[] with the batch's statements, skipping empty parts; returns how many. The same
 * call measures (buf->mem == NULL) and writes. */
static size_t encode_batch(okno_pgbuf *buf, const encode_ctx *c, statement *st)
{
    const okno_eventlog_batch *b = c->batch;
    size_t n = 0;
    st[n++] = (statement){.sql = "begin", .what = "begin"};
    if (b->directory_version > 0) {
        st[n] = (statement){.sql = DIRECTORY_SQL, .what = "directory version"};
        okno_pgbin_i64(buf, b->directory_version, &st[n].params[0]);
        st[n++].param_count = 1;
    }
    if (b->offset_count > 0) {
        st[n] = (statement){.sql = OFFSETS_SQL, .what = "consumer offsets"};
        encode(buf, &st[n++], COLUMNS(OFFSET_COLUMNS), b->offset_count, add_offset, c, true);
    }
    if (b->head_count > 0) {
        st[n] = (statement){.sql = HEADS_SQL, .what = "stream heads"};
        encode(buf, &st[n++], COLUMNS(HEAD_COLUMNS), b->head_count, add_head, c, true);
    }
    if (b->request_count > 0) {
        st[n] = (statement){.sql = REQUESTS_SQL, .what = "requests"};
        encode(buf, &st[n++], COLUMNS(REQUEST_COLUMNS), b->request_count, add_request, c, false);
    }
    if (b->event_count > 0) {
        st[n] = (statement){.sql = EVENTS_SQL, .what = "events"};
        encode(buf, &st[n++], COLUMNS(EVENT_COLUMNS), b->event_count, add_event, c, false);
    }
    if (b->refusal_count > 0) {
        st[n] = (statement){.sql = REFUSALS_SQL, .what = "refusals"};
        encode(buf, &st[n++], COLUMNS(REFUSAL_COLUMNS), b->refusal_count, add_refusal, c, false);
    }
    st[n++] = (statement){.sql = "commit", .what = "commit"};
    assert(n <= APPEND_STATEMENTS_MAX);
    return n;
}

/* Maps a failed statement to an error code: the fences and the unique keys that act as fences
 * to OKNO_ECONFLICT, known request ids to OKNO_EDUPLICATE. */
static int classify(const PGresult *res, PGconn *conn, const char *what, call *r)
{
    okno_pg_error(r->errbuf, r->errbuf_bytes, what, res, conn);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    if (state == NULL)
        return OKNO_EPG;
    if (strcmp(state, "OKD01") == 0)
        return OKNO_EDUPLICATE;
    if (strcmp(state, "23505") == 0 && constraint != NULL &&
        (strncmp(constraint, "requests", 8) == 0 || strncmp(constraint, "refusals", 8) == 0))
        return OKNO_EDUPLICATE;
    /* 23505: a zombie's seq already taken; 40001/40P01: two writers of one head collided. */
    if (strcmp(state, "OKF01") == 0 || strcmp(state, "OKF02") == 0 || strcmp(state, "23505") == 0 ||
        strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return OKNO_ECONFLICT;
    return OKNO_EPG;
}

/* Reads one statement's results; keeps the first failure in *rc. */
static void read_statement(PGconn *conn, const statement *st, int64_t *first_position, int *rc,
                           call *r)
{
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType s = PQresultStatus(res);
        if (s == PGRES_PIPELINE_ABORTED || s == PGRES_COMMAND_OK) {
            /* aborted: skipped after an earlier failure, already recorded in *rc */
        } else if (s == PGRES_TUPLES_OK) {
            if (st->sql == EVENTS_SQL && PQntuples(res) == 1)
                *first_position = okno_pgbin_get_i64(PQgetvalue(res, 0, 0));
        } else if (*rc == 0) {
            *rc = classify(res, conn, st->what, r);
        }
        PQclear(res);
    }
}

/* Sends every statement and a sync in one pipeline, then reads the results: one round trip. */
static int run_pipeline(PGconn *conn, const statement *st, size_t n, call *r)
{
    if (PQenterPipelineMode(conn) != 1)
        return fail(r, OKNO_EPG, "cannot enter pipeline mode: %s", PQerrorMessage(conn));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (okno_pgbin_send(conn, st[i].sql, st[i].params, st[i].param_count) != 0)
            rc = fail(r, OKNO_EPG, "sending %s: %s", st[i].what, PQerrorMessage(conn));
    if (rc != 0 || PQpipelineSync(conn) != 1) {
        if (rc == 0)
            rc = fail(r, OKNO_EPG, "pipeline sync: %s", PQerrorMessage(conn));
        return rc; /* the connection is broken; the caller reconnects */
    }
    for (size_t i = 0; i < n; i++)
        read_statement(conn, &st[i], &r->out->first_position, &rc, r);
    PGresult *res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && rc == 0)
        rc = fail(r, OKNO_EPG, "pipeline: no sync result: %s", PQerrorMessage(conn));
    PQclear(res);
    PQexitPipelineMode(conn);
    if (PQtransactionStatus(conn) == PQTRANS_INERROR)
        PQclear(PQexec(conn, "rollback"));
    return rc;
}

/* After OKNO_EDUPLICATE: which request ids were recorded before, with their outcome. */
static int find_known(PGconn *conn, const okno_eventlog_batch *b, const scratch *s, call *r)
{
    okno_pgbuf buf = {0};
    okno_pgparam ids;
    encode_ctx c = {.batch = b, .scratch = s};
    for (int pass = 0; pass < 2; pass++) {
        okno_pgarr a;
        okno_pgarr_start(&buf, &a, OKNO_PG_OID_UUID);
        for (size_t i = 0; i < b->request_count; i++)
            add_request(&buf, &a, &c, i, 0);
        okno_pgarr_finish(&buf, &a, OKNO_PG_OID_UUID_ARRAY, &ids);
        if (pass == 0 && (buf.mem = malloc(buf.used)) == NULL)
            return fail(r, OKNO_ENOMEM, "out of memory for %zu request ids", b->request_count);
        buf.cap = buf.used;
        buf.used = 0;
    }
    PGresult *res =
        PQexecParams(conn, KNOWN_SQL, 1, &ids.type, &ids.value, &ids.length, (const int[]){1}, 1);
    free(buf.mem);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        okno_pg_error(r->errbuf, r->errbuf_bytes, "known requests", res, conn);
        PQclear(res);
        return OKNO_EPG;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        const id_slot *q = bsearch(PQgetvalue(res, row, 0), s->requests, b->request_count,
                                   sizeof *s->requests, cmp_slot);
        assert(q != NULL);
        r->out->known[r->out->known_count++] = (okno_eventlog_known){
            .index = q->index,
            .accepted = PQgetvalue(res, row, 1)[0] != 0,
            .events = okno_pgbin_get_i32(PQgetvalue(res, row, 2)),
        };
    }
    PQclear(res);
    /* None found: the conflicting writer rolled back meanwhile; a plain retry will do. */
    return r->out->known_count > 0 ? OKNO_EDUPLICATE : OKNO_ECONFLICT;
}

static int validate(scratch *s, const okno_eventlog_batch *b, call *r)
{
    int rc = check_counts(b, r);
    if (rc == 0)
        rc = scratch_init(s, b, r);
    if (rc == 0)
        rc = index_ids(s, b, r);
    if (rc == 0)
        rc = link_events(s, b, r);
    if (rc == 0)
        rc = check_heads(b, r);
    if (rc == 0)
        rc = check_refusals_offsets(b, r);
    return rc;
}

int okno_eventlog_append(PGconn *conn, const okno_eventlog_batch *batch,
                         okno_eventlog_result *result, char *errbuf, size_t errbuf_bytes)
{
    assert(conn != NULL);
    assert(batch != NULL);
    assert(result != NULL);
    assert(PQpipelineStatus(conn) == PQ_PIPELINE_OFF);
    /* Not inside a transaction of the caller's (a dead connection is an operating error). */
    assert(PQtransactionStatus(conn) != PQTRANS_INTRANS);
    assert(PQtransactionStatus(conn) != PQTRANS_INERROR);
    result->known_count = 0;
    result->events_appended = 0;
    result->first_position = 0;
    call k = {.out = result, .errbuf = errbuf, .errbuf_bytes = errbuf_bytes};
    scratch s = {0};
    int rc = validate(&s, batch, &k);
    okno_pgbuf buf = {0};
    statement st[APPEND_STATEMENTS_MAX];
    size_t n = 0;
    encode_ctx c = {.batch = batch, .scratch = &s, .tips = result->tips};
    if (rc == 0) {
        encode_batch(&buf, &c, st); /* measure */
        if (buf.used > OKNO_EVENTLOG_BATCH_BYTES_MAX)
            rc = fail(&k, OKNO_ELIMIT, "batch of %zu bytes > batch_bytes_max", buf.used);
        else if ((buf = (okno_pgbuf){.mem = malloc(buf.used), .cap = buf.used}).mem == NULL &&
                 buf.cap > 0)
            rc = fail(&k, OKNO_ENOMEM, "out of memory for a batch of %zu bytes", buf.cap);
    }
    if (rc == 0) {
        n = encode_batch(&buf, &c, st); /* write */
        assert(n >= 1);
        assert(n <= APPEND_STATEMENTS_MAX);
        assert(buf.used == buf.cap); /* wrote exactly what it measured */
        rc = run_pipeline(conn, st, n, &k);
    }
    if (rc == OKNO_EDUPLICATE)
        rc = find_known(conn, batch, &s, &k);
    if (rc == 0)
        result->events_appended = batch->event_count;
    free(buf.mem);
    free(s.mem);
    return rc;
}
