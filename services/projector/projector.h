/* The projector's core: reads okno.event_log in (tx, position) order below the xmin horizon
 * (never skipping a late commit, like the relay), folds each batch with common/projection and
 * writes the read models, the per-message applied seqs and its cursor in ONE transaction.
 * A library so the integration tests can step it in-process. See README.md beside this file. */
#ifndef OKNO_PROJECTOR_H
#define OKNO_PROJECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "okno/logtail.h"
#include "okno/projection.h"

/* Limits and defaults. */
#define OKNO_PROJECTOR_BATCH_EVENTS_MAX     10000 /* events read and applied per transaction */
#define OKNO_PROJECTOR_BATCH_EVENTS_DEFAULT 5000
#define OKNO_PROJECTOR_CACHE_DEFAULT        1000000 /* entries kept between batches */
#define OKNO_PROJECTOR_ERROR_BYTES          512

/* Configuration; strings and arrays are borrowed and must outlive the projector. */
typedef struct okno_projector_config {
    const char *const *pg_keywords; /* for PQconnectdbParams(keywords, values, 1) */
    const char *const *pg_values;
    const char *schema;       /* the read-model schema to maintain: okno_rm */
    int batch_events;         /* 1..OKNO_PROJECTOR_BATCH_EVENTS_MAX */
    size_t cache_entries_max; /* projection entries kept in memory between batches */
} okno_projector_config;

void okno_projector_config_init(okno_projector_config *cfg);

/* Counters since start. */
typedef struct okno_projector_stats {
    uint64_t events;       /* events applied */
    uint64_t skipped;      /* events whose seq was applied before */
    uint64_t batches;      /* transactions committed with events */
    uint64_t failures;     /* steps that failed (rolled back) */
    uint64_t swaps;        /* times the schema's generation changed (a replay swapped in) */
    int64_t last_event_ms; /* occurred_at of the last event applied, Unix ms */
} okno_projector_stats;

typedef struct okno_projector {
    okno_projector_config cfg;
    okno_logtail tail;       /* its lock makes it the one projector of its schema */
    bool prepared;           /* staging tables exist on conn */
    okno_proj_writer writer; /* over conn, to cfg.schema */
    int64_t generation;      /* meta.generation the cache belongs to; 0: none yet */
    okno_proj_store cache;
    okno_proj_batch batch;
    okno_uuid *misses; /* message ids of a batch not in the cache */
    okno_projector_stats stats;
    char error[OKNO_PROJECTOR_ERROR_BYTES];
} okno_projector;

/* Checks the configuration and allocates; connects nothing yet. OKNO_ECONFIG or OKNO_ENOMEM
 * with p->error set. Close with okno_projector_close() either way. */
int okno_projector_init(okno_projector *p, const okno_projector_config *cfg);

/* One batch: connects and takes the leader lock as needed, then in one transaction locks the
 * schema's meta row, reads up to batch_events events after its cursor and below the horizon,
 * applies those whose seq is next for their message, writes the rows and the new cursor, and
 * commits. *applied counts the events read (0: nothing new). Returns 0; OKNO_ECONFLICT when
 * another projector of the schema is active (this one stands by); OKNO_EINVAL when an event
 * cannot be applied (a gap, an undecodable body: the read model must be rebuilt with okno
 * replay); OKNO_EPG. Any failure rolls the batch back and empties the cache. */
int okno_projector_step(okno_projector *p, size_t *applied);

void okno_projector_close(okno_projector *p);

#endif
