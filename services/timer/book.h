/* The tracker's storage (book.c): records by slot, the id index, the free list. Internal to
 * the timer; tracker.c is its only user. */
#ifndef OKNO_TIMER_BOOK_H
#define OKNO_TIMER_BOOK_H

#include "tracker.h"

okno_tracker_rec *okno__book_rec(const okno_tracker *t, uint32_t slot);
/* The slot of id, or UINT32_MAX. */
uint32_t okno__book_find(const okno_tracker *t, const okno_uuid *id);
/* A zeroed record with this id (which must not be in the book yet) at *slot. */
int okno__book_add(okno_tracker *t, const okno_uuid *id, uint32_t *slot);
/* Takes the slot's message out: index, deadline and record. */
int okno__book_remove(okno_tracker *t, uint32_t slot);
void okno__book_clear(okno_tracker *t);
void okno__book_close(okno_tracker *t);
bool okno__book_check(const okno_tracker *t);

#endif
