/* The tracker's storage: records in fixed chunks that never move, a free list of slots, and an
 * id index by open addressing. Records never move, so a slot is a stable name for a message
 * for the deadlines heap; chunks, not one growing array, keep growth from copying gigabytes. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "book.h"
#include "okno/error.h"
#include "okno/uuid.h"

#define INDEX_CAP_INITIAL 1024
#define INDEX_FILL_NUM    3 /* the index grows past 3/4 full */
#define INDEX_FILL_DEN    4

okno_tracker_rec *okno__book_rec(const okno_tracker *t, uint32_t slot)
{
    assert(slot < t->slots_used);
    return &t->chunks[slot / OKNO_TRACKER_CHUNK_RECORDS][slot % OKNO_TRACKER_CHUNK_RECORDS];
}

static uint32_t home_of(const okno_tracker *t, const okno_uuid *id)
{
    assert(t->index_cap >= INDEX_CAP_INITIAL);
    assert((t->index_cap & (t->index_cap - 1)) == 0);
    /* Never full (index_reserve keeps it at most 3/4): a probe always meets an empty cell. */
    assert((uint64_t)t->count * INDEX_FILL_DEN <= (uint64_t)t->index_cap * INDEX_FILL_NUM);
    return (uint32_t)okno_uuid_hash(id) & (t->index_cap - 1);
}

/* Where id sits in the index, or where it would go (an empty cell). */
static uint32_t index_find(const okno_tracker *t, const okno_uuid *id)
{
    uint32_t mask = t->index_cap - 1;
    for (uint32_t i = home_of(t, id);; i = (i + 1) & mask) {
        uint32_t v = t->index[i];
        if (v == 0 || okno_uuid_equal(&okno__book_rec(t, v - 1)->id, id))
            return i;
    }
}

/* The first empty cell of id's run: where a key known to be absent goes. Unlike index_find it
 * compares no ids, so it reads no records: a bulk load and a resize touch only the index. */
static uint32_t index_free_cell(const okno_tracker *t, const okno_uuid *id)
{
    uint32_t mask = t->index_cap - 1;
    uint32_t i = home_of(t, id);
    while (t->index[i] != 0)
        i = (i + 1) & mask;
    return i;
}

static int index_resize(okno_tracker *t, uint32_t cap)
{
    uint32_t *old = t->index, old_cap = t->index_cap;
    t->index = calloc(cap, sizeof *t->index);
    if (t->index == NULL) {
        t->index = old;
        return OKNO_ENOMEM;
    }
    t->index_cap = cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i] != 0)
            t->index[index_free_cell(t, &okno__book_rec(t, old[i] - 1)->id)] = old[i];
    free(old);
    return OKNO_OK;
}

static int index_reserve(okno_tracker *t)
{
    if (t->index_cap == 0)
        return index_resize(t, INDEX_CAP_INITIAL);
    if ((uint64_t)(t->count + 1) * INDEX_FILL_DEN <= (uint64_t)t->index_cap * INDEX_FILL_NUM)
        return OKNO_OK;
    if (t->index_cap >= (1u << 31))
        return OKNO_ELIMIT;
    return index_resize(t, t->index_cap * 2);
}

/* Linear probing deletes without tombstones: later entries of the run move back into the hole
 * when their home does not lie cyclically between the hole and themselves. */
static void index_delete(okno_tracker *t, uint32_t hole)
{
    assert(hole < t->index_cap);
    assert(t->index[hole] != 0);
    uint32_t mask = t->index_cap - 1;
    t->index[hole] = 0;
    for (uint32_t j = (hole + 1) & mask; t->index[j] != 0; j = (j + 1) & mask) {
        uint32_t home = home_of(t, &okno__book_rec(t, t->index[j] - 1)->id);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        t->index[hole] = t->index[j];
        t->index[j] = 0;
        hole = j;
    }
}

uint32_t okno__book_find(const okno_tracker *t, const okno_uuid *id)
{
    if (t->count == 0)
        return UINT32_MAX;
    uint32_t v = t->index[index_find(t, id)];
    return v == 0 ? UINT32_MAX : v - 1;
}

static int slot_take(okno_tracker *t, uint32_t *slot)
{
    assert(t->free_count <= t->slots_used);
    if (t->free_count > 0) {
        *slot = t->free_slots[--t->free_count];
        assert(*slot < t->slots_used);
        return OKNO_OK;
    }
    if (t->slots_used >= OKNO_TRACKER_MESSAGES_MAX)
        return OKNO_ELIMIT;
    if (t->slots_used == t->chunks_count * OKNO_TRACKER_CHUNK_RECORDS) {
        if (t->chunks_count == t->chunks_cap) {
            uint32_t cap = t->chunks_cap ? t->chunks_cap * 2 : 64;
            okno_tracker_rec **c = realloc(t->chunks, cap * sizeof *c);
            if (c == NULL)
                return OKNO_ENOMEM;
            t->chunks = c;
            t->chunks_cap = cap;
        }
        t->chunks[t->chunks_count] = malloc(OKNO_TRACKER_CHUNK_RECORDS * sizeof(okno_tracker_rec));
        if (t->chunks[t->chunks_count] == NULL)
            return OKNO_ENOMEM;
        t->chunks_count++;
    }
    *slot = t->slots_used++;
    return OKNO_OK;
}

static int slot_give(okno_tracker *t, uint32_t slot)
{
    assert(slot < t->slots_used);
    assert(t->free_count < t->slots_used);
    if (t->free_count == t->free_cap) {
        uint32_t cap = t->free_cap ? t->free_cap * 2 : 1024;
        uint32_t *f = realloc(t->free_slots, cap * sizeof *f);
        if (f == NULL)
            return OKNO_ENOMEM;
        t->free_slots = f;
        t->free_cap = cap;
    }
    t->free_slots[t->free_count++] = slot;
    return OKNO_OK;
}

int okno__book_add(okno_tracker *t, const okno_uuid *id, uint32_t *slot)
{
    assert(okno__book_find(t, id) == UINT32_MAX); /* the caller knows it is absent */
    int rc = index_reserve(t);
    if (rc == OKNO_OK)
        rc = slot_take(t, slot);
    if (rc != OKNO_OK)
        return rc;
    okno_tracker_rec *r = okno__book_rec(t, *slot);
    memset(r, 0, sizeof *r);
    r->id = *id;
    uint32_t cell = index_free_cell(t, id);
    assert(t->index[cell] == 0);
    t->index[cell] = *slot + 1;
    t->count++;
    assert(t->count + t->free_count == t->slots_used);
    return OKNO_OK;
}

int okno__book_remove(okno_tracker *t, uint32_t slot)
{
    okno_tracker_rec *r = okno__book_rec(t, slot);
    assert(t->count > 0);
    uint32_t at = index_find(t, &r->id);
    assert(t->index[at] == slot + 1);
    okno_deadlines_cancel(&t->deadlines, slot);
    index_delete(t, at);
    t->count--;
    r->stage = OKNO_STAGE_NONE; /* marks the record free for okno_tracker_check */
    /* A slot that cannot go on the free list is only lost for reuse, never handed out twice. */
    return slot_give(t, slot);
}

void okno__book_clear(okno_tracker *t)
{
    if (t->index != NULL)
        memset(t->index, 0, (size_t)t->index_cap * sizeof *t->index);
    okno_deadlines_close(&t->deadlines);
    okno_deadlines_init(&t->deadlines);
    t->count = 0;
    t->slots_used = 0;
    t->free_count = 0;
}

void okno__book_close(okno_tracker *t)
{
    for (uint32_t i = 0; i < t->chunks_count; i++)
        free(t->chunks[i]);
    free(t->chunks);
    free(t->free_slots);
    free(t->index);
    okno_deadlines_close(&t->deadlines);
}

uint64_t okno_tracker_bytes(const okno_tracker *t)
{
    return (uint64_t)t->chunks_count * OKNO_TRACKER_CHUNK_RECORDS * sizeof(okno_tracker_rec) +
           (uint64_t)t->index_cap * sizeof *t->index +
           (uint64_t)t->free_cap * sizeof *t->free_slots + okno_deadlines_bytes(&t->deadlines);
}

bool okno__book_check(const okno_tracker *t)
{
    uint32_t found = 0;
    for (uint32_t i = 0; i < t->index_cap; i++) {
        uint32_t v = t->index[i];
        if (v == 0)
            continue;
        if (v - 1 >= t->slots_used || okno__book_find(t, &okno__book_rec(t, v - 1)->id) != v - 1)
            return false;
        if (okno__book_rec(t, v - 1)->stage == OKNO_STAGE_NONE)
            return false;
        found++;
    }
    return found == t->count && t->count + t->free_count == t->slots_used &&
           okno_deadlines_check(&t->deadlines);
}
