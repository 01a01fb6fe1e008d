/* A 4-ary min-heap of deadlines with positions (see deadlines.h). Four children per node halve
 * the depth of a binary heap and keep a node's children in one cache line of due times, which
 * is what a sift touches most. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "deadlines.h"
#include "okno/error.h"

#define ARITY       4
#define CAP_INITIAL 1024  /* entries allocated on first use */
#define SLOTS_STEP  65536 /* pos[] grows by whole multiples of this many slots */
#define PARENT(i)   (((i)-1) / ARITY)

void okno_deadlines_init(okno_deadlines *d)
{
    memset(d, 0, sizeof *d);
}

void okno_deadlines_close(okno_deadlines *d)
{
    free(d->due_ms);
    free(d->slot);
    free(d->pos);
    memset(d, 0, sizeof *d);
}

static uint32_t grown(uint32_t cap, uint32_t need)
{
    uint64_t c = cap ? cap : CAP_INITIAL;
    while (c < need)
        c *= 2;
    return c > OKNO_DEADLINES_MAX ? OKNO_DEADLINES_MAX : (uint32_t)c;
}

/* Room for slot in pos[]; new slots are unarmed. Slots are handed out densely, so pos[] grows
 * in steps of an eighth rather than doubling: every byte of it is written (zeroed), and at
 * ten million slots a doubling would leave tens of MiB resident for nothing. */
static int slots_reserve(okno_deadlines *d, uint32_t slot)
{
    if (slot < d->slots_cap)
        return OKNO_OK;
    if (slot >= OKNO_DEADLINES_MAX)
        return OKNO_ELIMIT;
    uint64_t want = (uint64_t)d->slots_cap + d->slots_cap / 8;
    want = want > (uint64_t)slot + 1 ? want : (uint64_t)slot + 1;
    want = (want + SLOTS_STEP - 1) / SLOTS_STEP * SLOTS_STEP;
    uint32_t cap = want > OKNO_DEADLINES_MAX ? OKNO_DEADLINES_MAX : (uint32_t)want;
    uint32_t *p = realloc(d->pos, (size_t)cap * sizeof *p);
    if (p == NULL)
        return OKNO_ENOMEM;
    memset(p + d->slots_cap, 0, (size_t)(cap - d->slots_cap) * sizeof *p);
    d->pos = p;
    d->slots_cap = cap;
    return OKNO_OK;
}

static int entries_reserve(okno_deadlines *d)
{
    if (d->count < d->cap)
        return OKNO_OK;
    if (d->count >= OKNO_DEADLINES_MAX)
        return OKNO_ELIMIT;
    uint32_t cap = grown(d->cap, d->count + 1);
    int64_t *due = realloc(d->due_ms, (size_t)cap * sizeof *due);
    if (due != NULL)
        d->due_ms = due;
    uint32_t *slot = due ? realloc(d->slot, (size_t)cap * sizeof *slot) : NULL;
    if (slot == NULL)
        return OKNO_ENOMEM;
    d->slot = slot;
    d->cap = cap;
    return OKNO_OK;
}

static void place(okno_deadlines *d, uint32_t i, int64_t due, uint32_t slot)
{
    d->due_ms[i] = due;
    d->slot[i] = slot;
    d->pos[slot] = i + 1;
}

/* Moves the entry (due, slot) from hole i towards the root; returns where it settled. */
static uint32_t sift_up(okno_deadlines *d, uint32_t i, int64_t due, uint32_t slot)
{
    while (i > 0) {
        uint32_t parent = PARENT(i);
        if (d->due_ms[parent] <= due)
            break;
        place(d, i, d->due_ms[parent], d->slot[parent]);
        i = parent;
    }
    place(d, i, due, slot);
    return i;
}

/* The smallest child of i, or UINT32_MAX for a leaf. */
static uint32_t least_kid(const okno_deadlines *d, uint32_t i)
{
    uint64_t first = (uint64_t)i * ARITY + 1; /* 64 bits: i * 4 may pass 2^32 */
    if (first >= d->count)
        return UINT32_MAX;
    uint32_t best = (uint32_t)first;
    uint32_t end = first + ARITY < d->count ? (uint32_t)first + ARITY : d->count;
    for (uint32_t k = best + 1; k < end; k++)
        if (d->due_ms[k] < d->due_ms[best])
            best = k;
    return best;
}

static void sift_down(okno_deadlines *d, uint32_t i, int64_t due, uint32_t slot)
{
    for (;;) {
        uint32_t kid = least_kid(d, i);
        if (kid == UINT32_MAX || d->due_ms[kid] >= due)
            break;
        place(d, i, d->due_ms[kid], d->slot[kid]);
        i = kid;
    }
    place(d, i, due, slot);
}

/* Puts (due, slot) into hole i, wherever heap order takes it. */
static void settle(okno_deadlines *d, uint32_t i, int64_t due, uint32_t slot)
{
    if (i > 0 && d->due_ms[PARENT(i)] > due)
        sift_up(d, i, due, slot);
    else
        sift_down(d, i, due, slot);
}

int okno_deadlines_arm(okno_deadlines *d, uint32_t slot, int64_t due_ms)
{
    int rc = slots_reserve(d, slot);
    if (rc != OKNO_OK)
        return rc;
    if (d->pos[slot] != 0) {
        settle(d, d->pos[slot] - 1, due_ms, slot);
        return OKNO_OK;
    }
    rc = entries_reserve(d);
    if (rc != OKNO_OK)
        return rc;
    sift_up(d, d->count++, due_ms, slot);
    return OKNO_OK;
}

/* Removes entry i: the last entry fills the hole. */
static void remove_at(okno_deadlines *d, uint32_t i)
{
    uint32_t gone = d->slot[i];
    d->pos[gone] = 0;
    uint32_t last = --d->count;
    if (i != last)
        settle(d, i, d->due_ms[last], d->slot[last]);
}

void okno_deadlines_cancel(okno_deadlines *d, uint32_t slot)
{
    if (slot < d->slots_cap && d->pos[slot] != 0)
        remove_at(d, d->pos[slot] - 1);
}

bool okno_deadlines_armed(const okno_deadlines *d, uint32_t slot)
{
    return slot < d->slots_cap && d->pos[slot] != 0;
}

int64_t okno_deadlines_due_ms(const okno_deadlines *d, uint32_t slot)
{
    return okno_deadlines_armed(d, slot) ? d->due_ms[d->pos[slot] - 1] : OKNO_DEADLINES_NEVER;
}

int64_t okno_deadlines_next_ms(const okno_deadlines *d)
{
    return d->count ? d->due_ms[0] : OKNO_DEADLINES_NEVER;
}

bool okno_deadlines_pop_due(okno_deadlines *d, int64_t now_ms, uint32_t *slot, int64_t *due_ms)
{
    if (d->count == 0 || d->due_ms[0] > now_ms)
        return false;
    *slot = d->slot[0];
    *due_ms = d->due_ms[0];
    remove_at(d, 0);
    return true;
}

uint32_t okno_deadlines_count(const okno_deadlines *d)
{
    return d->count;
}

uint64_t okno_deadlines_bytes(const okno_deadlines *d)
{
    return (uint64_t)d->cap * (sizeof *d->due_ms + sizeof *d->slot) +
           (uint64_t)d->slots_cap * sizeof *d->pos;
}

bool okno_deadlines_check(const okno_deadlines *d)
{
    for (uint32_t i = 0; i < d->count; i++) {
        if (i > 0 && d->due_ms[PARENT(i)] > d->due_ms[i])
            return false;
        if (d->slot[i] >= d->slots_cap || d->pos[d->slot[i]] != i + 1)
            return false;
    }
    uint32_t armed = 0;
    for (uint32_t s = 0; s < d->slots_cap; s++)
        armed += d->pos[s] != 0;
    return armed == d->count;
}
