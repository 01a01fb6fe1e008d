/* The timer's deadlines: one 4-ary min-heap of (due time, slot) for every message that waits for
 * a signal, with each slot's position in the heap, so that arming, re-arming and cancelling are
 * O(log n) and no message needs a libuv handle of its own. One uv_timer_t in the service waits
 * for the earliest entry.
 *
 * Memory: 12 bytes per armed deadline (8 due + 4 slot, in two arrays so a level of the heap is
 * contiguous) plus 4 bytes per slot (its position), armed or not. Nothing else. */
#ifndef OKNO_TIMER_DEADLINES_H
#define OKNO_TIMER_DEADLINES_H

#include <stdbool.h>
#include <stdint.h>

#define OKNO_DEADLINES_MAX   (UINT32_C(1) << 31) /* armed deadlines and slots, at most */
#define OKNO_DEADLINES_NEVER INT64_MAX           /* next_ms of an empty heap */

/* Caller-allocated; fields are private to deadlines.c. */
typedef struct okno_deadlines {
    int64_t *due_ms;    /* [count]: due time of each entry, Unix ms (clock time) */
    uint32_t *slot;     /* [count]: the slot each entry belongs to */
    uint32_t *pos;      /* [slots_cap]: 1 + the slot's entry index; 0 = not armed */
    uint32_t count;     /* armed deadlines */
    uint32_t cap;       /* entries the arrays hold */
    uint32_t slots_cap; /* slots pos[] covers */
} okno_deadlines;

void okno_deadlines_init(okno_deadlines *d);
void okno_deadlines_close(okno_deadlines *d);

/* Arms slot at due_ms, or moves it there if armed. 0, or OKNO_ENOMEM / OKNO_ELIMIT. */
int okno_deadlines_arm(okno_deadlines *d, uint32_t slot, int64_t due_ms);
/* Disarms slot; nothing happens if it is not armed. */
void okno_deadlines_cancel(okno_deadlines *d, uint32_t slot);
bool okno_deadlines_armed(const okno_deadlines *d, uint32_t slot);
/* The due time slot is armed for, or OKNO_DEADLINES_NEVER. */
int64_t okno_deadlines_due_ms(const okno_deadlines *d, uint32_t slot);

/* The earliest due time, or OKNO_DEADLINES_NEVER when nothing is armed. */
int64_t okno_deadlines_next_ms(const okno_deadlines *d);
/* If the earliest entry is due at or before now_ms: disarms it, sets *slot and *due_ms and
 * returns true. Otherwise false. */
bool okno_deadlines_pop_due(okno_deadlines *d, int64_t now_ms, uint32_t *slot, int64_t *due_ms);

/* Armed deadlines. */
uint32_t okno_deadlines_count(const okno_deadlines *d);
/* Bytes the heap holds (capacity, not just use), for the memory figures. */
uint64_t okno_deadlines_bytes(const okno_deadlines *d);
/* Heap order and positions agree; O(n), for assert() in tests. */
bool okno_deadlines_check(const okno_deadlines *d);

#endif
