/* A bump allocator for data that lives and dies together (a parsed schema's nodes). */
#ifndef OKNO_AVRO_ARENA_H
#define OKNO_AVRO_ARENA_H

#include <stddef.h>

/* Bytes of one arena chunk; a larger request gets a chunk of its own. */
#define OKNO_AVRO_ARENA_CHUNK_BYTES 16384

typedef struct okno__avro_arena okno__avro_arena;

/* Returns zeroed, max-aligned memory owned by *arena (created on first use), or NULL. */
void *okno__avro_arena_alloc(okno__avro_arena **arena, size_t bytes);
/* Frees every allocation of the arena; NULL is allowed. */
void okno__avro_arena_free(okno__avro_arena *arena);

#endif
