/* The timer's book of open messages. For each one it keeps the compact SLA state folded from the
 * message's events (or loaded from a stream-head snapshot) and exactly one deadline: the due
 * time of its next signal. Pure: no I/O, no clock reads (the caller passes the time), and no
 * allocation except when the book grows. The service feeds it events and calls
 * okno_tracker_expire() when the earliest deadline comes.
 *
 * Memory per open message: 76 bytes of state (okno_tracker_rec) + 4 bytes of the id index at
 * most 3/4 full (5.3 to 10.7 bytes) + one deadline (12 bytes armed, 4 bytes position): about
 * 100 bytes, against 464 for okno_message_state. See README.md for what is kept and why. */
#ifndef OKNO_TIMER_TRACKER_H
#define OKNO_TIMER_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadlines.h"
#include "okno/avro.h"
#include "okno/workflow.h"

#define OKNO_TRACKER_CHUNK_RECORDS 65536      /* records allocated at a time */
#define OKNO_TRACKER_MESSAGES_MAX  (1u << 30) /* open messages one book holds, at most */
#define OKNO_TRACKER_TIME_MAX_MS   ((INT64_C(1) << 48) - 1) /* later times are kept as this */
#define OKNO_TRACKER_REVISITED     4 /* stages a message can visit again: coordination..approval */

/* A time in 48 bits: Unix ms up to the year 10889, in 6 bytes with 2-byte alignment. */
typedef struct okno__t48 {
    uint16_t w[3]; /* little end first */
} okno__t48;

/* What the timer keeps of one open message: what okno_workflow_apply would change in the SLA
 * fields of okno_message_state, and no more. 76 bytes, no padding. */
typedef struct okno_tracker_rec {
    okno_uuid id;
    uint32_t last_seq;                        /* seq of the last event folded in */
    uint32_t org_tag;                         /* holding org id folded to 32 bits (exact below
                                                 2^32): a change of org starts a new visit */
    okno__t48 entered;                        /* when the current stage visit began */
    okno__t48 deadline_start;                 /* when the answer deadline's clock started */
    okno__t48 deadline;                       /* the answer deadline */
    okno__t48 postponed;                      /* an interim answer's postponed date */
    uint32_t used_ms[OKNO_TRACKER_REVISITED]; /* coordination..approval: time over finished
                                                 visits, ms, saturating at 2^32-1 (49.7 days) */
    uint16_t visits[OKNO_TRACKER_REVISITED];  /* coordination..approval: visits begun */
    uint16_t total_days : 12;                 /* the category's total days, 1..3660 */
    uint16_t stage : 3;                       /* okno_stage; never NONE while in the book */
    uint16_t interim : 1;                     /* an interim (postponed) answer was sent */
    uint8_t recorded;                         /* bits 1 << kind: signals recorded for the current
                                                 stage visit (stage kinds) or deadline (others) */
    uint8_t emitted;                          /* bits 1 << kind: emitted, not yet seen recorded */
} okno_tracker_rec;

typedef struct okno_tracker_config {
    int32_t approaching_permille; /* the ledger's directory setting, 1..999 */
    int64_t late_after_ms;        /* clock ms after its due time an emitted signal is late */
} okno_tracker_config;

/* What okno_tracker_apply did with one event. */
typedef enum okno_tracker_fold {
    OKNO_TRACKER_APPLIED = 0,   /* folded in; the message's deadline follows its new state */
    OKNO_TRACKER_CLOSED = 1,    /* folded in, and the message closed: it left the book */
    OKNO_TRACKER_REPEATED = 2,  /* seq already folded: a republished event or one the snapshot
                                   held; nothing changed */
    OKNO_TRACKER_UNTRACKED = 3, /* seq > 1 of a message not in the book (closed before the
                                   snapshot, or never loaded): nothing changed */
    OKNO_TRACKER_GAP = 4,       /* seq beyond the next one: events are missing */
    OKNO_TRACKER_MISFIT = 5,    /* does not fit the state (stage_before differs, or the change
                                   cannot be represented): nothing changed */
} okno_tracker_fold;
#define OKNO_TRACKER_FOLD_COUNT 6

const char *okno_tracker_fold_name(okno_tracker_fold fold);

/* Caller-allocated; fields are private to tracker.c. */
typedef struct okno_tracker {
    okno_tracker_config cfg;
    okno_tracker_rec **chunks; /* [chunks_count] of OKNO_TRACKER_CHUNK_RECORDS records */
    uint32_t chunks_count, chunks_cap;
    uint32_t slots_used;  /* slots ever handed out (the high-water mark) */
    uint32_t *free_slots; /* slots given back, reused first */
    uint32_t free_count, free_cap;
    uint32_t *index;    /* open addressing, linear probing: 1 + slot, 0 = empty */
    uint32_t index_cap; /* a power of two */
    uint32_t count;     /* messages in the book */
    okno_deadlines deadlines;
} okno_tracker;

/* Called for each signal okno_tracker_expire() emits. Return 0 once it is on its way, nonzero
 * to refuse it for now (a full producer queue): it stays due and expire stops. */
typedef int (*okno_tracker_emit_fn)(void *arg, const okno_avro_sla_signal *signal);

/* OKNO_EINVAL for a permille out of 1..999 or a negative late_after_ms. */
int okno_tracker_init(okno_tracker *t, const okno_tracker_config *cfg);
void okno_tracker_close(okno_tracker *t);
/* Forgets every message (partitions revoked); keeps the memory for reuse. */
void okno_tracker_clear(okno_tracker *t);

/* Folds one accepted event into its message and re-arms the message's deadline. *what says
 * what happened; the return is 0, or OKNO_ENOMEM / OKNO_ELIMIT when the book cannot grow. */
int okno_tracker_apply(okno_tracker *t, const okno_event *ev, okno_tracker_fold *what);

/* Puts a message's full state (a stream-head snapshot) in the book, replacing what the book
 * held for it and forgetting what was emitted; a closed or empty state takes it out. Returns
 * 0; OKNO_EINVAL when the state cannot be represented (more than 65,535 visits of a stage, a
 * second moderation visit, seq beyond 32 bits): the message is then not in the book. */
int okno_tracker_load(okno_tracker *t, const okno_message_state *s);
/* As okno_tracker_load for a message known not to be in the book (a rebuild after
 * okno_tracker_clear: stream heads are unique per message). It skips the lookup, which for an
 * absent id is the costliest probe of the index. */
int okno_tracker_insert(okno_tracker *t, const okno_message_state *s);
/* Takes a message out of the book; false if it was not there. */
bool okno_tracker_forget(okno_tracker *t, const okno_uuid *id);
/* Takes out every message for which drop(arg, id) is true (those of the partitions a rebalance
 * took away), with their deadlines; the others keep theirs. Returns how many left. O(slots). */
uint32_t okno_tracker_forget_if(okno_tracker *t, bool (*drop)(void *arg, const okno_uuid *id),
                                void *arg);

/* Emits, through emit, every signal due at or before now_ms, at most max_signals of them,
 * earliest deadline first; each message is re-armed for its next signal. *emitted counts the
 * signals handed over. Returns 0, or the nonzero value emit returned. */
int okno_tracker_expire(okno_tracker *t, int64_t now_ms, size_t max_signals,
                        okno_tracker_emit_fn emit, void *arg, size_t *emitted);
/* A signal that was not delivered: forget it was emitted, so that it goes again when the
 * message's deadline next comes; the message is re-armed no later than retry_at_ms. */
void okno_tracker_emit_failed(okno_tracker *t, const okno_uuid *id, okno_signal_kind kind,
                              int64_t retry_at_ms);

/* The earliest deadline, or OKNO_DEADLINES_NEVER. */
int64_t okno_tracker_next_ms(const okno_tracker *t);
uint32_t okno_tracker_messages(const okno_tracker *t);
uint32_t okno_tracker_deadlines(const okno_tracker *t);
/* Bytes of the book's arrays (records, index, deadlines, free list), by capacity. */
uint64_t okno_tracker_bytes(const okno_tracker *t);

/* For tests and checks: the message's seq, or 0 when it is not in the book; and the fields
 * okno_sla reads, as an okno_message_state (the rest zero) with the recorded signals only. */
uint32_t okno_tracker_seq(const okno_tracker *t, const okno_uuid *id);
bool okno_tracker_view(const okno_tracker *t, const okno_uuid *id, okno_message_state *view);
/* The due time the message is armed for, or OKNO_DEADLINES_NEVER. */
int64_t okno_tracker_due_ms(const okno_tracker *t, const okno_uuid *id);
/* Index, records and deadlines agree; O(n), for assert() in tests. */
bool okno_tracker_check(const okno_tracker *t);

#endif
