/* The ledger's cache of stream heads: for each message of the partitions this instance owns,
 * the workflow state after its last event and that event's chain hash. An open-addressing hash
 * table keyed by message id; no allocation per lookup or insert. */
#ifndef OKNO_LEDGER_CACHE_H
#define OKNO_LEDGER_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "okno/workflow.h"

#define OKNO_HASH_BYTES 32 /* SHA-256 */

typedef struct okno__head {
    okno_message_state state;      /* after the message's last event */
    uint8_t hash[OKNO_HASH_BYTES]; /* chain hash of that event */
    int32_t partition;             /* Kafka partition of the message's key */
    bool used;                     /* slot holds an entry */
} okno__head;

typedef struct okno__head_cache {
    okno__head *slots;
    uint32_t capacity; /* slots, a power of two */
    uint32_t count;    /* entries in use */
} okno__head_cache;

int okno__head_cache_init(okno__head_cache *c, uint32_t initial_capacity);
void okno__head_cache_close(okno__head_cache *c);

/* The entry for id, or NULL. The pointer is valid until the next put or drop. */
okno__head *okno__head_cache_get(okno__head_cache *c, const okno_uuid *id);

/* Inserts or replaces the entry for head->state.message_id; grows the table as needed. */
int okno__head_cache_put(okno__head_cache *c, const okno__head *head);

/* Forgets every entry of the given partition (after it is revoked). */
void okno__head_cache_drop_partition(okno__head_cache *c, int32_t partition);

#endif
