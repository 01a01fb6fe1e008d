/* The relay's core: publishes the event log (okno.event_log) to okno.events.v1 and recorded
 * refusals (okno.refusals) to okno.rejections.v1, in (tx, position) order, never skipping a row
 * that commits late, advancing its cursor in PostgreSQL only after Kafka confirmed delivery;
 * and writes the log's global checkpoints on the way. See README.md beside this file. */
#ifndef OKNO_RELAY_H
#define OKNO_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "okno/anchor.h"
#include "okno/logtail.h"

/* Limits and defaults. */
#define OKNO_RELAY_BATCH_ROWS_MAX      50000 /* rows read and produced per stream and step */
#define OKNO_RELAY_BATCH_ROWS_DEFAULT  5000
#define OKNO_RELAY_DELIVERY_MS_DEFAULT 300000 /* message.timeout.ms */
#define OKNO_RELAY_CHECKPOINT_DEFAULT  10000  /* events per global checkpoint */
#define OKNO_RELAY_ERROR_BYTES         512
#define OKNO_RELAY_STREAMS             2  /* events, rejections */
#define OKNO_RELAY_ANCHORS_PER_STEP    64 /* signed checkpoints published per step */

/* Sets the deployment's librdkafka properties (bootstrap.servers, security, tuning) on conf;
 * the relay then sets the ones its guarantees rest on. Returns 0, or nonzero with err set. */
typedef int (*okno_relay_kafka_conf_fn)(rd_kafka_conf_t *conf, void *arg, char *err,
                                        size_t err_bytes);

/* True when the relay should stop waiting (for deliveries, for a full queue). */
typedef bool (*okno_relay_stop_fn)(void *arg);

/* Configuration. Pointers are borrowed and must outlive the relay. */
typedef struct okno_relay_config {
    const char *const *pg_keywords; /* PQconnectdbParams keywords, NULL-terminated; a "dbname"
                                       value may be a whole conninfo (expand_dbname) */
    const char *const *pg_values;
    okno_relay_kafka_conf_fn kafka_conf; /* required */
    void *kafka_conf_arg;
    okno_relay_stop_fn stopping; /* NULL: never asked to stop */
    void *stopping_arg;
    const char *events_topic;          /* where event_log rows go */
    const char *rejections_topic;      /* where refusals go */
    const char *cursor_prefix;         /* relay_cursors rows are prefix + "events" / "rejections" */
    int batch_rows;                    /* 1..OKNO_RELAY_BATCH_ROWS_MAX */
    int delivery_timeout_ms;           /* librdkafka message.timeout.ms */
    int64_t checkpoint_events;         /* events per checkpoint; 0 = write no checkpoints */
    const char *checkpoints_topic;     /* where signed checkpoints go */
    const okno_anchor_key *anchor_key; /* a private key; NULL: checkpoints are not published */
} okno_relay_config;

/* Fills cfg with the defaults (topics okno.events.v1, okno.rejections.v1 and
 * okno.checkpoints.v1, no prefix, no anchor key). */
void okno_relay_config_init(okno_relay_config *cfg);

/* One relayed table: where it is read from, where it goes, how far it got. */
typedef struct okno__relay_stream {
    const char *cursor_name; /* points into cursor_buf */
    char cursor_buf[128];
    const char *topic;
    const char *select_sql;
    const char *label_header; /* header for the row's third column: "type" or "reason_code" */
    bool cursor_loaded;
    okno_log_cursor cursor; /* the last published row */
} okno__relay_stream;

/* Counters since start, for logs and metrics. */
typedef struct okno_relay_stats {
    uint64_t published;         /* records delivered */
    uint64_t steps;             /* calls of okno_relay_step */
    uint64_t producer_restarts; /* after fatal producer errors */
    uint64_t delivery_failures; /* batches not confirmed: re-read from the cursor */
    uint64_t checkpoints;       /* global checkpoints written */
    uint64_t anchors;           /* signed checkpoints published and confirmed */
} okno_relay_stats;

/* A relay. Caller-allocated; fields are private to relay.c except stats and error. */
typedef struct okno_relay {
    okno_relay_config cfg;
    okno_logtail tail; /* its lock makes it the one active relay of its cursor prefix */
    rd_kafka_t *producer;
    okno__relay_stream streams[OKNO_RELAY_STREAMS];
    int64_t events_since_checkpoint;
    char anchor_cursor_name[128]; /* relay_cursors row: prefix + "checkpoints" */
    bool anchor_cursor_loaded;
    bool anchors_due;    /* checkpoints may exist that were not published yet */
    int64_t anchored_no; /* the last checkpoint whose publication Kafka confirmed */
    size_t in_flight;    /* produced, delivery not reported yet */
    size_t failed;       /* delivery reports with an error in this batch */
    bool fatal;          /* the producer raised a fatal error: destroy and recreate it */
    okno_relay_stats stats;
    char error[OKNO_RELAY_ERROR_BYTES]; /* the last failure, "" when none */
} okno_relay;

/* Checks the configuration and prepares the relay; connects nothing yet. OKNO_ECONFIG with
 * r->error naming the bad value. r must be closed with okno_relay_close() either way. */
int okno_relay_init(okno_relay *r, const okno_relay_config *cfg);

/* One step: for each stream, reads up to batch_rows rows after its cursor and below the xmin
 * horizon, produces them in order, waits for every delivery report, then stores the cursor;
 * then writes due checkpoints; then signs and publishes every checkpoint not published yet
 * (those a crash left behind included) and stores how far it got. Connects (and recreates a failed
 * producer) as needed. *published counts the records confirmed by this step. Returns 0;
 * OKNO_ECONFLICT when another relay with the same cursor prefix is active (this one stands by);
 * OKNO_EPG or OKNO_EKAFKA (the batch is re-read from the stored cursor at the next step);
 * OKNO_ETIMEDOUT when cfg.stopping said stop while it waited. r->error says why. */
int okno_relay_step(okno_relay *r, size_t *published);

/* Destroys the producer (dropping undelivered records: the cursor never passed them) and
 * closes the connection. Safe after any init result. */
void okno_relay_close(okno_relay *r);

#endif
