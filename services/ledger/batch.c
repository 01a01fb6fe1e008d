/* Working memory of one ledger batch, and the small uuid index it uses. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "okno/error.h"
#include "okno/uuid.h"

static uint32_t uuid_slot(const okno_uuid *id, uint32_t mask)
{
    return (uint32_t)okno_uuid_hash(id) & mask;
}

int okno__uuid_index_init(okno__uuid_index *x, uint32_t entries_max)
{
    assert(entries_max >= 1);
    assert(entries_max <= UINT32_MAX / 4);
    uint32_t cap = 16;
    while (cap < entries_max * 2u)
        cap <<= 1;
    x->keys = calloc(cap, sizeof *x->keys);
    x->values = malloc(cap * sizeof *x->values);
    x->capacity = cap;
    if (x->keys == NULL || x->values == NULL) {
        okno__uuid_index_close(x);
        return OKNO_ENOMEM;
    }
    okno__uuid_index_clear(x);
    return OKNO_OK;
}

void okno__uuid_index_close(okno__uuid_index *x)
{
    free(x->keys);
    free(x->values);
    memset(x, 0, sizeof *x);
}

void okno__uuid_index_clear(okno__uuid_index *x)
{
    memset(x->values, 0xff, x->capacity * sizeof *x->values);
    x->count = 0;
}

static uint32_t find_slot(const okno__uuid_index *x, const okno_uuid *key)
{
    assert(x->capacity >= 16);
    assert((x->capacity & (x->capacity - 1)) == 0);
    /* At most half full: a probe always meets an empty slot. */
    assert(x->count <= x->capacity / 2);
    uint32_t mask = x->capacity - 1;
    uint32_t i = uuid_slot(key, mask);
    while (x->values[i] != UINT32_MAX && !okno_uuid_equal(&x->keys[i], key))
        i = (i + 1) & mask;
    return i;
}

uint32_t okno__uuid_index_get(const okno__uuid_index *x, const okno_uuid *key)
{
    return x->values[find_slot(x, key)];
}

void okno__uuid_index_put(okno__uuid_index *x, const okno_uuid *key, uint32_t value)
{
    assert(value != UINT32_MAX); /* the empty slot's mark */
    uint32_t i = find_slot(x, key);
    if (x->values[i] == UINT32_MAX) {
        assert(x->count < x->capacity / 2);
        x->count++;
    }
    x->keys[i] = *key;
    x->values[i] = value;
}

static int decoders_init(okno_batch *b)
{
    b->decoders = calloc(b->records_max, sizeof *b->decoders);
    if (b->decoders == NULL)
        return OKNO_ENOMEM;
    for (uint32_t i = 0; i < b->records_max; i++) {
        int rc = okno_avro_decoder_init(&b->decoders[i], OKNO_AVRO_TRANSITIONS);
        if (rc != OKNO_OK)
            return rc;
    }
    return OKNO_OK;
}

int okno_batch_init(okno_batch *b, uint32_t records_max)
{
    memset(b, 0, sizeof *b);
    b->records_max = records_max;
    size_t n = records_max, events = n * OKNO_STEP_EVENTS_MAX;
    b->inputs = calloc(n, sizeof *b->inputs);
    b->heads = calloc(n, sizeof *b->heads);
    b->events = calloc(events, sizeof *b->events);
    b->event_body_at = calloc(events, sizeof *b->event_body_at);
    b->requests = calloc(n, sizeof *b->requests);
    b->refusals = calloc(n, sizeof *b->refusals);
    b->refusal_body_at = calloc(n, sizeof *b->refusal_body_at);
    b->refusal_messages = calloc(n, sizeof *b->refusal_messages);
    b->out_heads = calloc(n, sizeof *b->out_heads);
    b->offsets = calloc(n, sizeof *b->offsets);
    b->tips = calloc(n, sizeof *b->tips);
    b->known = calloc(n, sizeof *b->known);
    b->bytes_cap = 4 * (size_t)OKNO_AVRO_RECORD_BYTES_MAX;
    b->bytes = malloc(b->bytes_cap);
    int rc = okno__uuid_index_init(&b->head_index, records_max);
    if (rc == OKNO_OK)
        rc = okno__uuid_index_init(&b->seen_requests, records_max);
    if (rc == OKNO_OK)
        rc = okno__uuid_index_init(&b->skip_requests, records_max);
    if (rc == OKNO_OK)
        rc = decoders_init(b);
    if (rc != OKNO_OK || !b->inputs || !b->heads || !b->events || !b->event_body_at ||
        !b->requests || !b->refusals || !b->refusal_body_at || !b->refusal_messages ||
        !b->out_heads || !b->offsets || !b->tips || !b->known || !b->bytes) {
        okno_batch_close(b);
        return rc != OKNO_OK ? rc : OKNO_ENOMEM;
    }
    return OKNO_OK;
}

void okno_batch_close(okno_batch *b)
{
    for (uint32_t i = 0; b->decoders != NULL && i < b->records_max; i++)
        okno_avro_decoder_close(&b->decoders[i]);
    free(b->decoders);
    free(b->inputs);
    free(b->heads);
    free(b->events);
    free(b->event_body_at);
    free(b->requests);
    free(b->refusals);
    free(b->refusal_body_at);
    free(b->refusal_messages);
    free(b->out_heads);
    free(b->offsets);
    free(b->tips);
    free(b->known);
    free(b->bytes);
    okno__uuid_index_close(&b->head_index);
    okno__uuid_index_close(&b->seen_requests);
    okno__uuid_index_close(&b->skip_requests);
    memset(b, 0, sizeof *b);
}
