/* Open addressing with linear probing; the table stays at most half full, so probes are short
 * and a miss ends at the first empty slot. Deletion rebuilds, since it only happens per
 * partition on a rebalance. */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "okno/error.h"

/* Largest table, in slots (2^27 slots of ~600 bytes is ~80 GB: far past any sane instance). */
#define HEAD_CACHE_SLOTS_MAX (1u << 27)

static uint64_t uuid_hash(const okno_uuid *id)
{
    /* UUIDs (v4 or v7) carry random bits; fold all 16 bytes and mix so v7's time prefix and
     * random tail both count. */
    uint64_t a, b;
    memcpy(&a, id->bytes, 8);
    memcpy(&b, id->bytes + 8, 8);
    uint64_t h = a ^ (b * 0x9e3779b97f4a7c15ull);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

int okno_head_cache_init(okno_head_cache *c, uint32_t initial_capacity)
{
    uint32_t cap = 1024;
    while (cap < initial_capacity && cap < HEAD_CACHE_SLOTS_MAX)
        cap <<= 1;
    c->slots = calloc(cap, sizeof *c->slots);
    c->capacity = c->slots ? cap : 0;
    c->count = 0;
    return c->slots ? OKNO_OK : OKNO_ENOMEM;
}

void okno_head_cache_close(okno_head_cache *c)
{
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static okno_head *probe(const okno_head_cache *c, const okno_uuid *id)
{
    uint32_t mask = c->capacity - 1;
    for (uint32_t i = (uint32_t)uuid_hash(id) & mask;; i = (i + 1) & mask) {
        okno_head *s = &c->slots[i];
        if (!s->used || memcmp(s->state.message_id.bytes, id->bytes, 16) == 0)
            return s;
    }
}

okno_head *okno_head_cache_get(okno_head_cache *c, const okno_uuid *id)
{
    okno_head *s = probe(c, id);
    return s->used ? s : NULL;
}

static int rebuild(okno_head_cache *c, uint32_t capacity, int32_t drop_partition)
{
    okno_head_cache next;
    int rc = okno_head_cache_init(&next, capacity);
    if (rc != OKNO_OK)
        return rc;
    for (uint32_t i = 0; i < c->capacity; i++) {
        const okno_head *s = &c->slots[i];
        if (s->used && s->partition != drop_partition) {
            *probe(&next, &s->state.message_id) = *s;
            next.count++;
        }
    }
    okno_head_cache_close(c);
    *c = next;
    return OKNO_OK;
}

int okno_head_cache_put(okno_head_cache *c, const okno_head *head)
{
    if ((c->count + 1) * 2 > c->capacity) {
        if (c->capacity >= HEAD_CACHE_SLOTS_MAX)
            return OKNO_ELIMIT;
        int rc = rebuild(c, c->capacity * 2, -1);
        if (rc != OKNO_OK)
            return rc;
    }
    okno_head *s = probe(c, &head->state.message_id);
    if (!s->used)
        c->count++;
    *s = *head;
    s->used = true;
    return OKNO_OK;
}

void okno_head_cache_drop_partition(okno_head_cache *c, int32_t partition)
{
    /* On allocation failure the entries stay: a stale extra entry is only memory, since a
     * partition's heads are reloaded from PostgreSQL when it is assigned again. */
    (void)rebuild(c, c->capacity, partition);
}
