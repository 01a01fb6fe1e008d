/* okno-timer: SLA clocks and signals. It folds the accepted events of okno.events.v1 into one
 * compact state and one deadline per open message (tracker.h), and when a deadline comes it
 * emits the signal to okno.sla.v1 for the ledger to record. On every partition assignment it
 * rebuilds its book from the stream-head snapshots in PostgreSQL and resumes consuming at the
 * offsets the partitions had before the snapshot was read. See README.md for the argument. */
#ifndef OKNO_TIMER_H
#define OKNO_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <uv.h>

#include "okno/clock.h"
#include "okno/metrics.h"
#include "okno/service.h"
#include "tracker.h"

/* Partitions of okno.events.v1 one timer tracks, at most. */
#define OKNO_TIMER_PARTITIONS_MAX 1024
/* Real ms to wait before polling again when the producer's queue is full. */
#define OKNO_TIMER_QUEUE_FULL_WAIT_MS 10
/* Real ms between housekeeping turns (heartbeat, gauges). */
#define OKNO_TIMER_HOUSEKEEPING_MS 1000
/* Real ms a Kafka metadata or watermark request may take. */
#define OKNO_TIMER_KAFKA_TIMEOUT_MS 10000
/* Bytes of one encoded SlaSignal record, at most (they are about 70). */
#define OKNO_TIMER_SIGNAL_BYTES_MAX 256

/* What a record of okno.events.v1 came to; the label of okno_timer_records_total. */
typedef enum okno_timer_outcome {
    OKNO_TIMER_APPLIED = 0,     /* folded in (or closed the message) */
    OKNO_TIMER_REPEATED = 1,    /* already held: the snapshot had it, or it was republished */
    OKNO_TIMER_UNTRACKED = 2,   /* a message closed before the snapshot: nothing to do */
    OKNO_TIMER_RELOADED = 3,    /* did not fit (gap, misfit, unknown): reloaded from PostgreSQL */
    OKNO_TIMER_UNDECODABLE = 4, /* not an Event record: logged with its offset */
    OKNO_TIMER_UNEXPECTED = 5,  /* decoded but fits neither the book nor PostgreSQL: logged */
} okno_timer_outcome;
#define OKNO_TIMER_OUTCOMES 6

typedef struct okno_timer_metrics {
    struct okno_metrics_counter records[OKNO_TIMER_OUTCOMES];
    struct okno_metrics_counter emitted; /* signals produced */
    struct okno_metrics_counter late;    /* ... of them marked late */
    struct okno_metrics_counter failed;  /* deliveries that failed (retried) */
    struct okno_metrics_counter consumer_errors;
    struct okno_metrics_counter rebuilds;      /* book rebuilds from PostgreSQL */
    struct okno_metrics_gauge messages;        /* open messages in the book */
    struct okno_metrics_gauge deadlines;       /* armed deadlines */
    struct okno_metrics_gauge book_bytes;      /* the book's memory */
    struct okno_metrics_gauge rebuild_ms;      /* duration of the last rebuild */
    struct okno_metrics_gauge partitions;      /* partitions owned */
    struct okno_metrics_histogram lateness_ms; /* emission after due, real ms */
} okno_timer_metrics;

typedef struct okno_timer {
    struct okno_service *svc; /* borrowed */
    const char *group_id;
    const char *events_topic;
    const char *sla_topic;
    int64_t late_after_ms;     /* real ms */
    int64_t retry_after_ms;    /* real ms */
    int64_t retry_backoff_ms;  /* real ms between attempts to reach PostgreSQL */
    int64_t emit_batch_max;    /* signals per loop turn */
    int64_t consume_batch_max; /* records per loop turn */
    okno_clock clock;

    PGconn *pg;
    int32_t approaching_permille; /* from okno.workflow_settings */
    okno_tracker tracker;
    bool tracker_ready;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    int consumer_pipe[2];         /* librdkafka writes a byte when the consumer queue fills */
    int producer_pipe[2];         /* ... and when delivery reports wait */
    rd_kafka_topic_t *events_rkt; /* for the partitioner: which partition a message is on */
    int32_t partition_count;      /* okno.events.v1's */
    bool owned[OKNO_TIMER_PARTITIONS_MAX]; /* partitions assigned to this instance */
    int owned_count;

    uv_loop_t loop;
    bool loop_open; /* loop initialised: close it */
    uv_poll_t consumer_poll;
    uv_poll_t producer_poll;
    uv_timer_t deadline_timer; /* the one timer that waits for the earliest deadline */
    uv_timer_t housekeeping;
    uv_async_t stop_async;
    okno_timer_metrics metrics;
} okno_timer;

/* PostgreSQL (heads.c). */
int okno_timer_pg_connect(okno_timer *t);
/* okno.workflow_settings.approaching_permille, which the ledger's checks use. */
int okno_timer_load_settings(okno_timer *t);
/* Loads the open messages of the given partitions from okno.stream_heads into the book. */
int okno_timer_load_heads(okno_timer *t, const int32_t *partitions, int n, uint64_t *loaded);
/* Replaces one message in the book with its stored head (or takes it out if it is closed or
 * absent). *seq is the head's seq, 0 when absent. */
int okno_timer_reload(okno_timer *t, const okno_uuid *id, int32_t partition, uint32_t *seq);

/* Kafka consumer (consume.c). */
int okno_timer_consumer_open(okno_timer *t);
void okno_timer_consumer_close(okno_timer *t);
void okno_timer_on_consumer(uv_poll_t *handle, int status, int events);

/* Producer and the deadline timer (emit.c). */
int okno_timer_producer_open(okno_timer *t);
void okno_timer_producer_close(okno_timer *t);
void okno_timer_on_producer(uv_poll_t *handle, int status, int events);
/* Arms the deadline timer for the book's earliest deadline. */
void okno_timer_schedule(okno_timer *t);

#endif
