/* Replay: rebuilds read models from the event log into a fresh schema and swaps it in
 * atomically. Shares the fold and the row writers with the live projector (okno/projection.h);
 * sends nothing anywhere but PostgreSQL. The CLI is `okno replay` (tools/okno/cmd_replay.c);
 * the design is in common/projection/README.md. */
#ifndef OKNO_REPLAY_H
#define OKNO_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "okno/projection.h"

#define OKNO_REPLAY_JOBS_MAX     16    /* worker threads, each with two connections */
#define OKNO_REPLAY_CHUNK_EVENTS 20000 /* events folded between two writes of a worker */
#define OKNO_REPLAY_ERROR_BYTES  1024

/* Where a replay stands; handed to the progress callback. */
typedef struct okno_replay_progress {
    uint64_t events;       /* events applied so far */
    uint64_t events_total; /* the planner's estimate of the log's size (0: unknown) */
    uint32_t parts_done;   /* partitions of the log finished */
    uint32_t parts_total;  /* partitions read */
    double seconds;        /* since the start */
    const char *phase;     /* "reading", "indexing", "swapping", "done" */
} okno_replay_progress;

typedef struct okno_replay_options {
    const char *conninfo; /* libpq conninfo of a role that may create schemas and read the log's
                             partitions (the owner: okno migrate's role) */
    const char *schema;   /* the schema to rebuild: built as SCHEMA_new, renamed to SCHEMA */
    int64_t as_of_ms;     /* 0: the whole log; else only events with occurred_at <= as_of_ms */
    int jobs;             /* worker threads, 1..OKNO_REPLAY_JOBS_MAX */
    bool keep_old;        /* keep the replaced schema as SCHEMA_old instead of dropping it */
    /* Called from the calling thread about twice a second, and once with phase "done". */
    void (*progress)(const okno_replay_progress *p, void *arg);
    void *progress_arg;
} okno_replay_options;

void okno_replay_options_init(okno_replay_options *o);

/* Where a replay's time went. The workers' phases are summed over the workers (so with two
 * jobs they may add up to twice the read phase's wall time); the others are wall times of the
 * coordinating thread. */
#define OKNO_REPLAY_INDEXES_MAX 16
typedef struct okno_replay_phases {
    double read;   /* workers: waiting for and receiving the log's rows (PQgetCopyData) */
    double decode; /* workers: Avro bodies into events */
    double fold;   /* workers: okno_proj_apply and the entry store */
    double encode; /* workers: rows into COPY buffers (writing, less `copy`) */
    double copy;   /* workers: handing rows to PostgreSQL and waiting for each COPY's end */
    double stats;  /* the workers' statistics merged and written */
    double meta;   /* the new schema's meta row */
    double secure; /* okno.rm_secure: row-level security policies and grants (in the swap) */
    double rename; /* the swap's lock and renames, and its commit */
    double drop;   /* dropping the replaced schema */
    double cpu;    /* CPU time of the whole replay process (user + system) */
    /* Each key or index build (okno.rm_index_statements order; built in parallel). */
    double index[OKNO_REPLAY_INDEXES_MAX];
    char index_name[OKNO_REPLAY_INDEXES_MAX][48]; /* "table(columns)" */
    int indexes;
} okno_replay_phases;

typedef struct okno_replay_result {
    uint64_t events;      /* events applied */
    uint64_t messages;    /* cards written */
    double seconds;       /* wall time, swap included */
    double seconds_read;  /* of which reading, folding and COPYing rows */
    double seconds_index; /* keys, indexes, planner statistics */
    double seconds_swap;  /* the swap and dropping the old schema */
    okno_replay_phases phases;
    char horizon_tx[24]; /* events below this transaction id were read */
    char error[OKNO_REPLAY_ERROR_BYTES];
} okno_replay_result;

/* Builds SCHEMA_new from the events committed below the snapshot's xmin horizon (and at or
 * before as_of), then in one transaction, holding the projector's batch lock, renames SCHEMA
 * to SCHEMA_old and SCHEMA_new to SCHEMA; drops SCHEMA_old unless keep_old. Readers see the old
 * read models until that commit. The new schema's cursor is the horizon, so a live projector
 * continues from there. Returns 0, OKNO_EINVAL (bad options, an event that does not apply),
 * OKNO_EPG or OKNO_ENOMEM with result->error set. */
int okno_replay_run(const okno_replay_options *o, okno_replay_result *result);

#endif
