/* Read-model projection: folds events into per-message projection state and collects the rows
 * the read models need (cards, stage visits, inboxes, the applicant's timeline, statistics).
 * One module for the live projector (services/projector) and `okno replay`, so both build the
 * same rows from the same events; only the way rows reach PostgreSQL differs (writers below).
 * Tables: deploy/migrations/0005_read_models.sql; design: common/projection/README.md.
 *
 * The fold is pure (no I/O, no clock); the writers take a libpq connection. Entries and
 * batches are caller-owned and not shared between threads. */
#ifndef OKNO_PROJECTION_H
#define OKNO_PROJECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "okno/workflow.h"

/* The read-model layout this code writes (meta.layout); see the migration. */
#define OKNO_PROJ_LAYOUT 1

/* The projector's batch lock on a read-model schema, as an SQL call whose schema name is the
 * printf argument number n (OKNO_PROJ_BATCH_LOCK_SQL(1) reads "%1$s"). Every live batch holds
 * it for its transaction, and a replay's swap takes it, so a swap never interleaves a batch. */
#define OKNO_PROJ_BATCH_LOCK_SQL(n)                                                                \
    "pg_advisory_xact_lock(hashtextextended('okno.projector.batch:%" #n "$s', 0))"
/* The channel a live batch notifies in its transaction (so on its commit) with each card it
 * wrote as "<message id>:<seq>", space-separated, at most OKNO_PROJ_NOTIFY_CARDS_MAX a payload;
 * a replay's swap notifies "*" (every card may have changed). The gateway's read cache follows
 * it (services/gateway/README.md, "Read cache"). */
#define OKNO_PROJ_NOTIFY_CHANNEL   "okno_rm_card"
#define OKNO_PROJ_NOTIFY_CARDS_MAX 150 /* 48 bytes each at most: under NOTIFY's 8000 */
/* Format version of okno_proj_message as stored in card.proj_state. Bump on any change of its
 * layout (or of okno_message_state's): the projector then refuses the schema; replay it. */
#define OKNO_PROJ_STATE_VERSION 1
/* Calendar days of statistics and the applicant's dates are Moscow days (UTC+3, no DST). */
#define OKNO_PROJ_TZ_OFFSET_MS (3 * 3600 * INT64_C(1000))
/* Longest read-model schema name, bytes with the NUL (okno_rm[a-z0-9_]*, see the migration). */
#define OKNO_PROJ_SCHEMA_BYTES 48
/* Error text of the writers, bytes with the NUL. */
#define OKNO_PROJ_ERROR_BYTES 512

/* What a citizen sees (applicant_timeline.status, card.applicant_status). */
typedef enum okno_proj_status {
    OKNO_PROJ_STATUS_NONE = 0,
    OKNO_PROJ_STATUS_SUBMITTED = 1,   /* sent, waiting for moderation */
    OKNO_PROJ_STATUS_ACCEPTED = 2,    /* accepted, sent to an org */
    OKNO_PROJ_STATUS_IN_PROGRESS = 3, /* an executor is on it */
    OKNO_PROJ_STATUS_REDIRECTED = 4,  /* moved to another org */
    OKNO_PROJ_STATUS_POSTPONED = 5,   /* interim answer: consideration postponed to a date */
    OKNO_PROJ_STATUS_ANSWERED = 6,    /* final answer sent */
    OKNO_PROJ_STATUS_REJECTED = 7,    /* rejected by the moderator */
} okno_proj_status;
#define OKNO_PROJ_STATUS_COUNT 8

const char *okno_proj_status_name(okno_proj_status status);

/* What the projection keeps about one message between events: the core's fold plus what the
 * read models need that the core does not keep. Fixed size and pointer-free: it is stored in
 * card.proj_state, so the live projector continues after a restart exactly where it was. */
typedef struct okno_proj_message {
    okno_message_state state;            /* okno_workflow_apply over events 1..last_seq */
    okno_user_id visit_entered_by;       /* who began the current visit (0: the system) */
    okno_user_id visit_assignee;         /* executor (execution) or approver (approval) */
    uint32_t visit_no;                   /* ordinal of the current (or last) visit; 0: none */
    okno_event_type visit_entered_event; /* the event that began the current visit */
    okno_event_type last_type;           /* the last event applied */
    okno_proj_status applicant_status;   /* what the citizen sees now */
} okno_proj_message;

/* A message in memory: the stored part, its texts (owned, NUL-terminated, NULL = none) and
 * where it stands in the current batch. */
typedef struct okno_proj_entry {
    okno_proj_message m;
    char *message_text; /* the citizen's text, from message_submitted */
    char *answer_text;  /* the current draft answer (or the approved one once answered) */
    int32_t dirty;      /* index in the batch's dirty list; -1 when untouched by the batch */
    uint32_t from_seq;  /* applied seq when the batch first touched it */
} okno_proj_entry;

/* Entries by message id: an open-addressing table of owned entries. */
typedef struct okno_proj_store {
    okno_proj_entry **slots;
    size_t cap;   /* slots, a power of two */
    size_t count; /* entries */
} okno_proj_store;

int okno_proj_store_init(okno_proj_store *s, size_t expected);
okno_proj_entry *okno_proj_store_find(const okno_proj_store *s, const okno_uuid *id);
/* A new zeroed entry for id (which must not be present); NULL when out of memory. */
okno_proj_entry *okno_proj_store_add(okno_proj_store *s, const okno_uuid *id);
/* Removes and frees e (which must not be in a batch's dirty list any more). */
void okno_proj_store_remove(okno_proj_store *s, okno_proj_entry *e);
void okno_proj_store_clear(okno_proj_store *s);
void okno_proj_store_close(okno_proj_store *s);
/* Calls fn for every entry; fn may not add or remove entries. */
void okno_proj_store_each(okno_proj_store *s, void (*fn)(okno_proj_entry *e, void *arg), void *arg);

/* Replaces an entry's text with a copy of src (NULL or empty: none). OKNO_ENOMEM. */
int okno_proj_entry_set_text(char **slot, const char *src, size_t len);

/* The current answer text across ev (before and after: the state around it): the state only
 * says which event carries the draft's text (draft_text_seq), so *slot takes ev's text when it
 * is that event and is emptied when the draft goes. The card and the notifier keep it so. */
int okno_proj_follow_answer_text(char **slot, const okno_message_state *before,
                                 const okno_message_state *after, const okno_event *ev);

/* One stage visit as a row of stage_visits. */
typedef struct okno_proj_visit {
    okno_uuid message_id;
    uint32_t visit_no;
    okno_stage stage;
    uint32_t stage_visit; /* this stage's visit number */
    okno_org_id org_id;
    int64_t entered_ms;
    okno_user_id entered_by;
    okno_event_type entered_event;
    okno_user_id assignee;
    int64_t left_ms; /* 0 while the visit goes on */
    okno_user_id left_by;
    okno_event_type left_event;
    bool exceeded; /* stage_time_exceeded was recorded during the visit */
} okno_proj_visit;

/* One applicant-visible event as a row of applicant_timeline. */
typedef struct okno_proj_timeline {
    okno_uuid message_id;
    uint32_t seq;
    int64_t at_ms;
    okno_proj_status status;
    okno_answer_type answer_type; /* answered: which answer */
    int64_t date_ms;              /* postponed: the date; accepted/redirected: the deadline */
    const char *detail;           /* reason or answer text, NUL-terminated (batch arena); NULL */
} okno_proj_timeline;

/* Statistics: counters per (Moscow day, org, category, stage, answer type). */
typedef enum okno_proj_counter {
    OKNO_PROJ_SUBMITTED = 0,
    OKNO_PROJ_ENTERED,
    OKNO_PROJ_LEFT,
    OKNO_PROJ_STAGE_MS,
    OKNO_PROJ_LEFT_OVERDUE,
    OKNO_PROJ_STAGE_APPROACHING,
    OKNO_PROJ_STAGE_EXCEEDED,
    OKNO_PROJ_ANSWERED,
    OKNO_PROJ_ANSWER_MS,
    OKNO_PROJ_ANSWERED_OVERDUE,
    OKNO_PROJ_INTERIM,
    OKNO_PROJ_REJECTED_BY_MODERATOR,
    OKNO_PROJ_REDIRECTED,
    OKNO_PROJ_DEADLINE_APPROACHING,
    OKNO_PROJ_DEADLINE_EXPIRED,
    OKNO_PROJ_POSTPONED_REACHED,
} okno_proj_counter;
#define OKNO_PROJ_COUNTERS 16

typedef struct okno_proj_stats_key {
    int32_t day;                  /* days since 1970-01-01, Moscow time */
    int32_t category_id;          /* 0: none */
    okno_org_id org_id;           /* 0: none */
    okno_stage stage;             /* NONE: not about a stage */
    okno_answer_type answer_type; /* NONE: not about an answer */
} okno_proj_stats_key;

typedef struct okno_proj_stats_row {
    okno_proj_stats_key key;
    int64_t counters[OKNO_PROJ_COUNTERS];
    bool used;
} okno_proj_stats_row;

/* Counter deltas by key. rows[0..count) are the keys in the order they were first counted
 * (rows[count..cap) are zero, used false), so the rows of one stretch of the log lie together
 * in memory; slots is an open-addressing index over them (row number + 1 in the low half, 0:
 * empty; the key's hash in the high half). It only grows. */
typedef struct okno_proj_stats {
    okno_proj_stats_row *rows;
    size_t cap, count;
    uint64_t *slots;
    size_t slots_cap; /* a power of two, at least twice count */
} okno_proj_stats;

/* Everything one batch of events changed. Arrays grow as needed (amortized, reused across
 * batches); texts are copied into an arena freed at reset. */
typedef struct okno_proj_batch {
    okno_proj_entry **dirty; /* entries touched, in first-touch order */
    size_t dirty_count, dirty_cap;
    okno_proj_visit *visits; /* visits that ended in this batch (complete rows) */
    size_t visits_count, visits_cap;
    okno_proj_timeline *timeline;
    size_t timeline_count, timeline_cap;
    okno_proj_stats stats;
    struct okno__proj_arena *arena;
    uint64_t events;  /* events applied */
    uint64_t skipped; /* events already applied before (seq not above the entry's) */
} okno_proj_batch;

int okno_proj_batch_init(okno_proj_batch *b);
/* Forgets the batch's rows and marks its entries clean; stats too unless keep_stats. */
void okno_proj_batch_reset(okno_proj_batch *b, bool keep_stats);
void okno_proj_batch_close(okno_proj_batch *b);

/* Applies ev to e when ev->seq is the next seq of e (e->m.state.last_seq + 1): folds it with
 * okno_workflow_apply and records the rows it changes. Returns 0; OKNO_EDUPLICATE when ev->seq
 * was applied before (nothing changes); OKNO_EINVAL for a gap in seqs, another message's event
 * or one the core will not fold (the read model cannot go on: rebuild it); OKNO_ENOMEM. */
int okno_proj_apply(okno_proj_batch *b, okno_proj_entry *e, const okno_event *ev);

/* The current visit of an open message as a row (left_ms 0); false when closed. */
bool okno_proj_current_visit(const okno_proj_entry *e, okno_proj_visit *out);

/* Inbox rows: who must act on the message now. Up to OKNO_PROJ_INBOX_MAX per message. */
#define OKNO_PROJ_INBOX_MAX OKNO_AGREERS_MAX
typedef struct okno_proj_inbox {
    okno_org_id org_id;
    okno_role role;
    okno_user_id user_id; /* 0: anyone holding the role in the org */
    const char *task;     /* moderate, coordinate, take_into_work, draft_answer, agree, approve */
} okno_proj_inbox;
size_t okno_proj_inbox_rows(const okno_proj_message *m, okno_proj_inbox out[OKNO_PROJ_INBOX_MAX]);

/* The stage's due time: when its cumulative budget runs out (INT64_MAX when closed). */
int64_t okno_proj_stage_due_ms(const okno_message_state *s);

/* Russian status text for a timeline row or the card, into buf (NUL-terminated). */
void okno_proj_status_text(okno_proj_status status, okno_answer_type answer, int64_t date_ms,
                           char *buf, size_t size);

/* ---- writers (common/projection/write.c) --------------------------------------------------
 * A writer sends rows to one read-model schema over one connection (borrowed) by binary COPY,
 * reusing one row buffer for its life. On failure: OKNO_EPG (or OKNO_ECONFLICT, OKNO_EINVAL,
 * OKNO_ENOMEM as said) with w->error set. */

bool okno_proj_schema_valid(const char *schema);

typedef struct okno_proj_writer {
    PGconn *conn;                        /* borrowed */
    char schema[OKNO_PROJ_SCHEMA_BYTES]; /* okno_rm, okno_rm_new, ... */
    uint8_t *buf;                        /* COPY rows, kept between COPYs */
    size_t cap;                          /* bytes at buf */
    char error[OKNO_PROJ_ERROR_BYTES];   /* the last failure */
    int64_t copy_ns; /* time in libpq handing rows over and waiting for COPYs to end, summed */
} okno_proj_writer;

/* OKNO_EINVAL for a schema name okno_proj_schema_valid refuses. */
int okno_proj_writer_init(okno_proj_writer *w, PGconn *conn, const char *schema);
void okno_proj_writer_close(okno_proj_writer *w);

/* Creates the temporary staging tables the live writer and okno_proj_write_stats use, shaped
 * like the schema's tables; once per connection. */
int okno_proj_prepare(okno_proj_writer *w);

/* The live projector's write, in the caller's open transaction: checks for every dirty entry
 * that the stored card.seq is still its from_seq (else SQLSTATE OKP01: OKNO_ECONFLICT), then
 * upserts cards, replaces inbox rows, upserts visits (ended ones and each dirty message's
 * current one), inserts timeline rows and adds the stats. */
int okno_proj_write_live(okno_proj_writer *w, const okno_proj_batch *b);

/* Bulk writes into a fresh schema (replay): the batch's ended visits and timeline rows, and,
 * for each entry in entries[0..n), its card, inbox rows and current visit. Every row is
 * written once, so there is nothing to merge. */
int okno_proj_write_bulk(okno_proj_writer *w, const okno_proj_batch *b,
                         okno_proj_entry *const *entries, size_t n);

/* Adds the counters of stats to stats_daily (upsert through a staging table). */
int okno_proj_write_stats(okno_proj_writer *w, const okno_proj_stats *stats);

/* Writes stats into an empty stats_daily (replay: every key once, no key index yet). */
int okno_proj_write_stats_bulk(okno_proj_writer *w, const okno_proj_stats *stats);

/* Loads the entries of ids[0..n) that have a card into store (state and texts); those without
 * one are left out. OKNO_EINVAL when a stored proj_state is not this build's version. */
int okno_proj_load(okno_proj_writer *w, const okno_uuid *ids, size_t n, okno_proj_store *store);

#endif
