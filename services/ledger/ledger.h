/* The ledger service: transition requests and SLA signals from Kafka become events in the
 * PostgreSQL event log, effectively once. See README.md for the batch cycle and its failure
 * handling. */
#ifndef OKNO_LEDGER_H
#define OKNO_LEDGER_H

#include <stdbool.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include "batch.h"
#include "cache.h"
#include "okno/clock.h"
#include "okno/eventlog.h"
#include "okno/metrics.h"
#include "okno/pg_directory.h"
#include "okno/service.h"
#include "okno/workflow.h"

/* Partitions per topic the ledger tracks offsets for. */
#define OKNO_LEDGER_PARTITIONS_MAX 1024

/* Which of the ledger's two input topics a record came from. */
typedef enum okno_ledger_input {
    OKNO_LEDGER_TRANSITIONS = 0,
    OKNO_LEDGER_SLA = 1,
} okno_ledger_input;
#define OKNO_LEDGER_INPUTS 2

/* What this instance knows of one partition it owns. */
typedef struct okno_ledger_partition {
    bool owned;
    int64_t stored_next_offset; /* as stored in okno.consumer_offsets; -1: none stored */
} okno_ledger_partition;

typedef struct okno_ledger_metrics {
    struct okno_metrics_counter records;        /* Kafka records taken in */
    struct okno_metrics_counter accepted;       /* requests that produced events */
    struct okno_metrics_counter refused;        /* requests refused (incl. malformed) */
    struct okno_metrics_counter malformed;      /* records that did not decode */
    struct okno_metrics_counter duplicates;     /* repeated request ids acknowledged */
    struct okno_metrics_counter events;         /* events appended */
    struct okno_metrics_counter batches;        /* transactions committed */
    struct okno_metrics_counter conflicts;      /* appends fenced off by another writer */
    struct okno_metrics_counter resyncs;        /* partitions reloaded from PostgreSQL */
    struct okno_metrics_counter lookups;        /* batches whose request ids were looked up */
    struct okno_metrics_counter append_repeats; /* appends refused for logged request ids */
    struct okno_metrics_histogram batch_ms;     /* time to process and commit one batch */
    struct okno_metrics_histogram append_ms;    /* of which the PostgreSQL transaction */
    struct okno_metrics_histogram lookup_ms;    /* of which the reads before deciding */
    struct okno_metrics_histogram latency_ms;   /* record timestamp to commit */
    struct okno_metrics_histogram fill_ms;      /* first record of a batch to its processing */
} okno_ledger_metrics;

/* After a repeated request id is seen (by the look-up or by an append refused for it), this many
 * batches look their request ids up before deciding; otherwise a batch appends at once and the
 * append's unique request ids find a repeat. */
#define OKNO_LEDGER_LOOKUP_BATCHES 64

typedef struct okno_ledger {
    struct okno_service *svc; /* borrowed */
    const char *group_id;
    const char *topics[OKNO_LEDGER_INPUTS];
    int64_t batch_records_max;
    int64_t batch_linger_ms;
    int64_t retry_backoff_ms;
    int64_t directory_refresh_ms;
    int64_t directory_loaded_ms; /* okno_clock_monotonic_ms of the last directory load */
    const char *fault_stop_file; /* ledger.fault_stop_before_append; "" or NULL: none */
    int64_t pg_retried_ms;       /* okno_clock_monotonic_ms of the last reconnect while idle */
    bool pg_lost;                /* watch_pg found the connection dead and has not reconnected */
    okno_clock clock;            /* event times and SLA checks: the one all services share */

    PGconn *pg;
    rd_kafka_t *consumer;
    okno_pg_directory directory;
    okno__head_cache cache;
    okno_ledger_partition partitions[OKNO_LEDGER_INPUTS][OKNO_LEDGER_PARTITIONS_MAX];
    int32_t partition_count[OKNO_LEDGER_INPUTS]; /* from the broker, for the partition check */
    okno_batch batch;
    okno_ledger_metrics metrics;
    uint32_t lookup_batches_left; /* batches still to look up; see OKNO_LEDGER_LOOKUP_BATCHES */
    bool brokers_down; /* librdkafka said every broker is down; not ready until one answers */
    int64_t brokers_probed_ms; /* okno_clock_monotonic_ms of the last probe while down */
} okno_ledger;

/* Kafka consumer (consumer.c). */
int okno_ledger_consumer_open(okno_ledger *l);
void okno_ledger_consumer_close(okno_ledger *l);
/* Drops what the instance holds of a partition and seeks it to the offset stored in
 * PostgreSQL, reloading its heads: after a failed or fenced append the database is the truth. */
int okno_ledger_resync(okno_ledger *l, okno_ledger_input input, int32_t partition);
okno_ledger_input okno_ledger_input_of(const okno_ledger *l, const char *topic);

/* PostgreSQL side (store.c). */
int okno_ledger_pg_connect(okno_ledger *l);
int okno_ledger_load_partition(okno_ledger *l, okno_ledger_input input, int32_t partition);
/* Loads the stored heads of ids[0..n) that exist into the cache, replacing what it held. */
int okno_ledger_load_heads(okno_ledger *l, const okno_uuid *ids, size_t n);
int okno_ledger_refresh_directory(okno_ledger *l, bool force);
/* Puts the request ids of the batch's first n inputs that the log already holds into the
 * batch's skip set: they are acknowledged without being decided again. */
int okno_ledger_mark_known_requests(okno_ledger *l, size_t n);

/* One batch of records: decide, append in one transaction, update the cache (process.c).
 * Returns 0 when the batch is committed (or was fully acknowledged as repeated), otherwise a
 * negative code after which the caller resyncs the batch's partitions. */
int okno_ledger_process(okno_ledger *l, rd_kafka_message_t **records, size_t n);

/* The shared clock's time (clock.speed, clock.origin_ms), Unix ms. */
int64_t okno_ledger_now_ms(const okno_ledger *l);

#endif
