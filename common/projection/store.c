/* Projection entries by message id, an arena for per-batch texts and the statistics table:
 * the memory the fold works in. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/projection.h"
#include "okno/uuid.h"
#include "projection/internal.h"

/* Smallest table; grown at 50 % load so probes stay short. */
#define STORE_SLOTS_MIN 1024
#define STATS_ROWS_MIN  256
/* Bytes of one arena chunk; a bigger text gets a chunk of its own. */
#define ARENA_CHUNK_BYTES (256 * 1024)

static size_t pow2_at_least(size_t n, size_t min)
{
    size_t cap = min;
    while (cap < n)
        cap *= 2;
    return cap;
}

int okno_proj_store_init(okno_proj_store *s, size_t expected)
{
    s->cap = pow2_at_least(expected * 2, STORE_SLOTS_MIN);
    s->count = 0;
    s->slots = calloc(s->cap, sizeof *s->slots);
    return s->slots == NULL ? OKNO_ENOMEM : OKNO_OK;
}

static size_t store_probe(const okno_proj_store *s, const okno_uuid *id)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)okno_uuid_hash(id) & mask;
    while (s->slots[i] != NULL && !okno_uuid_equal(&s->slots[i]->m.state.message_id, id))
        i = (i + 1) & mask;
    return i;
}

okno_proj_entry *okno_proj_store_find(const okno_proj_store *s, const okno_uuid *id)
{
    return s->slots[store_probe(s, id)];
}

static int store_grow(okno_proj_store *s)
{
    okno_proj_store bigger = {.cap = s->cap * 2, .count = s->count};
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (bigger.slots == NULL)
        return OKNO_ENOMEM;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i] != NULL)
            bigger.slots[store_probe(&bigger, &s->slots[i]->m.state.message_id)] = s->slots[i];
    free(s->slots);
    *s = bigger;
    return OKNO_OK;
}

okno_proj_entry *okno_proj_store_add(okno_proj_store *s, const okno_uuid *id)
{
    if ((s->count + 1) * 2 > s->cap && store_grow(s) != OKNO_OK)
        return NULL;
    size_t i = store_probe(s, id);
    assert(s->slots[i] == NULL);
    okno_proj_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    /* The key lives in the state: set it now, so probing works before the first event. */
    e->m.state.message_id = *id;
    e->dirty = -1;
    s->slots[i] = e;
    s->count++;
    return e;
}

static void entry_free(okno_proj_entry *e)
{
    free(e->message_text);
    free(e->answer_text);
    free(e);
}

void okno_proj_store_remove(okno_proj_store *s, okno_proj_entry *e)
{
    assert(e->dirty < 0);
    size_t mask = s->cap - 1;
    size_t i = store_probe(s, &e->m.state.message_id);
    assert(s->slots[i] == e);
    s->slots[i] = NULL;
    s->count--;
    /* Backward-shift deletion: re-place the run after the hole, so no probe stops early. */
    for (size_t j = (i + 1) & mask; s->slots[j] != NULL; j = (j + 1) & mask) {
        okno_proj_entry *moved = s->slots[j];
        s->slots[j] = NULL;
        s->slots[store_probe(s, &moved->m.state.message_id)] = moved;
    }
    entry_free(e);
}

void okno_proj_store_each(okno_proj_store *s, void (*fn)(okno_proj_entry *e, void *arg), void *arg)
{
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i] != NULL)
            fn(s->slots[i], arg);
}

void okno_proj_store_clear(okno_proj_store *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i] != NULL)
            entry_free(s->slots[i]);
        s->slots[i] = NULL;
    }
    s->count = 0;
}

void okno_proj_store_close(okno_proj_store *s)
{
    if (s->slots != NULL)
        okno_proj_store_clear(s);
    free(s->slots);
    s->slots = NULL;
    s->cap = 0;
}

int okno_proj_entry_set_text(char **slot, const char *src, size_t len)
{
    char *copy = NULL;
    if (src != NULL && len > 0) {
        copy = malloc(len + 1);
        if (copy == NULL)
            return OKNO_ENOMEM;
        memcpy(copy, src, len);
        copy[len] = '\0';
    }
    free(*slot);
    *slot = copy;
    return OKNO_OK;
}

/* ---- arena ---------------------------------------------------------------------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
} arena_chunk;

struct okno__proj_arena {
    arena_chunk *head; /* the chunk being filled; older ones follow */
};

okno__proj_arena *okno__proj_arena_new(void)
{
    return calloc(1, sizeof(okno__proj_arena));
}

char *okno__proj_arena_strdup(okno__proj_arena *a, const char *p, size_t len)
{
    arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > ARENA_CHUNK_BYTES ? len + 1 : ARENA_CHUNK_BYTES;
        c = malloc(sizeof *c + cap);
        if (c == NULL)
            return NULL;
        *c = (arena_chunk){.next = a->head, .cap = cap};
        a->head = c;
    }
    char *out = c->data + c->used;
    memcpy(out, p, len);
    out[len] = '\0';
    c->used += len + 1;
    return out;
}

/* Keeps the newest chunk for the next batch, frees the others. */
void okno__proj_arena_reset(okno__proj_arena *a)
{
    if (a == NULL || a->head == NULL)
        return;
    for (arena_chunk *c = a->head->next, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    a->head->next = NULL;
    a->head->used = 0;
}

void okno__proj_arena_free(okno__proj_arena *a)
{
    if (a == NULL)
        return;
    okno__proj_arena_reset(a);
    free(a->head);
    free(a);
}

/* ---- statistics ----------------------------------------------------------------------- */

static uint64_t stats_hash(const okno_proj_stats_key *k)
{
    uint64_t h = okno_hash_mix64((uint64_t)k->org_id);
    h = okno_hash_mix64(h ^ ((uint64_t)(uint32_t)k->day << 32 | (uint32_t)k->category_id));
    return okno_hash_mix64(h ^ ((uint64_t)k->stage << 8 | (uint64_t)k->answer_type));
}

static bool stats_key_equal(const okno_proj_stats_key *a, const okno_proj_stats_key *b)
{
    return a->day == b->day && a->category_id == b->category_id && a->org_id == b->org_id &&
           a->stage == b->stage && a->answer_type == b->answer_type;
}

/* The slot of k in the index: its own, or the empty one where it would go. Probes compare the
 * hashes kept in the index first, so a miss rarely touches a row. */
static uint64_t *stats_slot(const okno_proj_stats *st, const okno_proj_stats_key *k, uint32_t h)
{
    size_t mask = st->slots_cap - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        uint64_t v = st->slots[i];
        if (v == 0 ||
            ((uint32_t)(v >> 32) == h && stats_key_equal(&st->rows[(uint32_t)v - 1].key, k)))
            return &st->slots[i];
    }
}

static uint32_t stats_hash32(const okno_proj_stats_key *k)
{
    return (uint32_t)(stats_hash(k) >> 32);
}

/* Twice the rows (zeroed), and an index at most half full. The rows grow in place and the
 * index is 8 bytes a slot, so a growth touches far less fresh memory than a table of whole rows
 * at half load (its page faults were 40 % of a replay's system time). Written before read:
 * memory read first (calloc's) maps the zero page, and each first write then costs a
 * copy-on-write fault and a TLB flush on every core. */
static int stats_grow(okno_proj_stats *st)
{
    if (st->count == st->cap) {
        size_t cap = st->cap == 0 ? STATS_ROWS_MIN : st->cap * 2;
        okno_proj_stats_row *rows = realloc(st->rows, cap * sizeof *rows);
        if (rows == NULL)
            return OKNO_ENOMEM;
        memset(rows + st->cap, 0, (cap - st->cap) * sizeof *rows);
        st->rows = rows;
        st->cap = cap;
    }
    if ((st->count + 1) * 2 > st->slots_cap) {
        size_t cap = st->slots_cap == 0 ? 2 * STATS_ROWS_MIN : st->slots_cap * 2;
        uint64_t *slots = malloc(cap * sizeof *slots);
        if (slots == NULL)
            return OKNO_ENOMEM;
        memset(slots, 0, cap * sizeof *slots);
        free(st->slots);
        st->slots = slots;
        st->slots_cap = cap;
        for (size_t r = 0; r < st->count; r++) {
            uint32_t h = stats_hash32(&st->rows[r].key);
            *stats_slot(st, &st->rows[r].key, h) = (uint64_t)h << 32 | (uint64_t)(r + 1);
        }
    }
    return OKNO_OK;
}

int64_t *okno__proj_stats_row(okno_proj_stats *st, const okno_proj_stats_key *k)
{
    if ((st->count == st->cap || (st->count + 1) * 2 > st->slots_cap) && stats_grow(st) != OKNO_OK)
        return NULL;
    uint32_t h = stats_hash32(k);
    uint64_t *slot = stats_slot(st, k, h);
    if (*slot != 0)
        return st->rows[(uint32_t)*slot - 1].counters;
    okno_proj_stats_row *row = &st->rows[st->count++];
    *row = (okno_proj_stats_row){.key = *k, .used = true};
    *slot = (uint64_t)h << 32 | (uint64_t)st->count;
    return row->counters;
}

int okno__proj_stats_add(okno_proj_stats *into, const okno_proj_stats *from)
{
    for (size_t i = 0; i < from->count; i++) {
        int64_t *row = okno__proj_stats_row(into, &from->rows[i].key);
        if (row == NULL)
            return OKNO_ENOMEM;
        for (int c = 0; c < OKNO_PROJ_COUNTERS; c++)
            row[c] += from->rows[i].counters[c];
    }
    return OKNO_OK;
}

void okno__proj_stats_clear(okno_proj_stats *st)
{
    if (st->rows != NULL)
        memset(st->rows, 0, st->count * sizeof *st->rows);
    if (st->slots != NULL)
        memset(st->slots, 0, st->slots_cap * sizeof *st->slots);
    st->count = 0;
}

void okno__proj_stats_free(okno_proj_stats *st)
{
    free(st->rows);
    free(st->slots);
    *st = (okno_proj_stats){0};
}
