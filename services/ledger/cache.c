/* Open addressing with linear probing; the table stays at most half full, so probes are short
 * and a miss ends at the first empty slot. Deletion rebuilds, since it only happens per
 * partition on a rebalance. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "okno/error.h"
#include "okno/uuid.h"

/* Largest table, in slots (2^27 slots of ~600 bytes is ~80 GB: far past any sane instance). */
#define HEAD_CACHE_SLOTS_MAX (1u << 27)

int okno__head_cache_init(okno__head_cache *c, uint32_t initial_capacity)
{
    uint32_t cap = 1024;
    while (cap < initial_capacity && cap < HEAD_CACHE_SLOTS_MAX)
        cap <<= 1;
    c->slots = calloc(cap, sizeof *c->slots);
    c->capacity = c->slots ? cap : 0;
    c->count = 0;
    return c->slots ? OKNO_OK : OKNO_ENOMEM;
}

void okno__head_cache_close(okno__head_cache *c)
{
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static okno__head *probe(const okno__head_cache *c, const okno_uuid *id)
{
    /* The probe ends only at an empty slot or the id: the table must have one free. */
    assert(c->capacity >= 1024);
    assert((c->capacity & (c->capacity - 1)) == 0);
    assert(c->count * 2 <= c->capacity);
    uint32_t mask = c->capacity - 1;
    for (uint32_t i = (uint32_t)okno_uuid_hash(id) & mask;; i = (i + 1) & mask) {
        okno__head *s = &c->slots[i];
        if (!s->used || okno_uuid_equal(&s->state.message_id, id))
            return s;
    }
}

okno__head *okno__head_cache_get(okno__head_cache *c, const okno_uuid *id)
{
    okno__head *s = probe(c, id);
    return s->used ? s : NULL;
}

static int rebuild(okno__head_cache *c, uint32_t capacity, int32_t drop_partition)
{
    okno__head_cache next;
    int rc = okno__head_cache_init(&next, capacity);
    if (rc != OKNO_OK)
        return rc;
    for (uint32_t i = 0; i < c->capacity; i++) {
        const okno__head *s = &c->slots[i];
        if (s->used && s->partition != drop_partition) {
            *probe(&next, &s->state.message_id) = *s;
            next.count++;
        }
    }
    assert(next.count <= c->count);
    okno__head_cache_close(c);
    *c = next;
    return OKNO_OK;
}

int okno__head_cache_put(okno__head_cache *c, const okno__head *head)
{
    assert(head->partition >= 0); /* a head belongs to the partition of its message's key */
    if ((c->count + 1) * 2 > c->capacity) {
        if (c->capacity >= HEAD_CACHE_SLOTS_MAX)
            return OKNO_ELIMIT;
        int rc = rebuild(c, c->capacity * 2, -1);
        if (rc != OKNO_OK)
            return rc;
    }
    assert((c->count + 1) * 2 <= c->capacity);
    okno__head *s = probe(c, &head->state.message_id);
    if (!s->used)
        c->count++;
    *s = *head;
    s->used = true;
    return OKNO_OK;
}

void okno__head_cache_drop_partition(okno__head_cache *c, int32_t partition)
{
    /* On allocation failure the entries stay: a stale extra entry is only memory, since a
     * partition's heads are reloaded from PostgreSQL when it is assigned again. */
    (void)rebuild(c, c->capacity, partition);
}
