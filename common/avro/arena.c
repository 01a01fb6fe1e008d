/* A bump allocator for data that lives and dies together (a parsed schema's nodes). */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct okno__avro_arena {
    struct okno__avro_arena *next; /* older chunk */
    size_t used;                   /* bytes handed out from data */
    size_t cap;                    /* bytes in data */
    alignas(max_align_t) unsigned char data[];
};

static size_t align_up(size_t n)
{
    size_t a = alignof(max_align_t);
    return (n + a - 1) / a * a;
}

void *okno__avro_arena_alloc(okno__avro_arena **arena, size_t bytes)
{
    if (bytes > SIZE_MAX / 2) {
        return NULL;
    }
    bytes = align_up(bytes == 0 ? 1 : bytes);
    struct okno__avro_arena *a = *arena;
    if (a == NULL || a->cap - a->used < bytes) {
        size_t cap = bytes > OKNO_AVRO_ARENA_CHUNK_BYTES ? bytes : OKNO_AVRO_ARENA_CHUNK_BYTES;
        struct okno__avro_arena *c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            return NULL;
        }
        c->next = a;
        c->used = 0;
        c->cap = cap;
        *arena = c;
        a = c;
    }
    void *p = a->data + a->used;
    a->used += bytes;
    memset(p, 0, bytes);
    return p;
}

void okno__avro_arena_free(okno__avro_arena *arena)
{
    while (arena != NULL) {
        struct okno__avro_arena *next = arena->next;
        free(arena);
        arena = next;
    }
}
