/* UUIDs: the one hash every table keyed by a uuid uses, and the 36-character text form used as
 * Kafka keys, in logs, SQL and Avro. The type itself, okno_uuid, is the workflow's. */
#ifndef OKNO_UUID_H
#define OKNO_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "okno/workflow.h"

#define OKNO_UUID_TEXT_BYTES 37 /* 36 characters and the NUL */

/* splitmix64's finalizer: every input bit reaches every output bit. Ids are random in
 * production, but tests and tools make sequential ones, so whatever comes is mixed. */
static inline uint64_t okno_hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* The hash of a uuid for every hash table keyed by one (all 16 bytes count, so a v7 id's time
 * prefix and random tail both do). Inline: it is on the hot path of every lookup. */
static inline uint64_t okno_uuid_hash(const okno_uuid *id)
{
    uint64_t a, b;
    memcpy(&a, id->bytes, 8);
    memcpy(&b, id->bytes + 8, 8);
    return okno_hash_mix64(a ^ okno_hash_mix64(b));
}

/* True when a and b are the same id. */
static inline bool okno_uuid_equal(const okno_uuid *a, const okno_uuid *b)
{
    return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* Writes "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lower case) and a NUL into out. */
void okno_uuid_format(const okno_uuid *id, char out[OKNO_UUID_TEXT_BYTES]);

/* Parses exactly 36 characters of that form (either case) from text[0..len). 0 or OKNO_EINVAL. */
int okno_uuid_parse(const char *text, size_t len, okno_uuid *out);

#endif
