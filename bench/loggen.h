/* A fast event-log generator for benchmarks and tests: whole message lives from the `okno load`
 * workload (tools/okno/workload.c) over the demo directory, decided by the pure workflow core on
 * a fake clock (with the SLA signals the timer would emit as they fall due), appended straight
 * to okno.event_log with okno_eventlog_append in batches, bypassing Kafka and the ledger. The
 * log it writes is a valid one: hash chains, stream heads and request ids as the ledger's. */
#ifndef OKNO_LOGGEN_H
#define OKNO_LOGGEN_H

#include <pthread.h>
#include <stdint.h>

#define OKNO_LOGGEN_ERROR_BYTES 512

typedef struct okno_loggen_options {
    const char *conninfo; /* the database (its directory must hold the demo shape) */
    int64_t events;       /* stop once at least this many events are appended */
    uint64_t seed;
    int64_t start_ms;     /* the fake clock's start, Unix ms */
    int64_t step_ms;      /* the fake clock's advance per request */
    int32_t batch_events; /* events per append, 1..10,000 */
    int32_t pause_ms;     /* sleep after each append (0: none), to spread a run out in time */
} okno_loggen_options;

void okno_loggen_options_init(okno_loggen_options *o);

typedef struct okno_loggen_result {
    int64_t events;   /* appended */
    int64_t messages; /* submitted */
    int64_t signals;  /* SLA signal events among them */
    int64_t last_ms;  /* the fake clock at the end */
    double seconds;
    char error[OKNO_LOGGEN_ERROR_BYTES];
} okno_loggen_result;

/* Returns 0 or a negative OKNO_E* code with result->error set. */
int okno_loggen_run(const okno_loggen_options *o, okno_loggen_result *result);

/* A run on a thread of its own, for tests that do something else while the log grows (kill a
 * reader, ...). Caller-allocated; o is set before okno_loggen_start and not touched after. */
typedef struct okno_loggen_job {
    okno_loggen_options o;
    okno_loggen_result r;
    int rc;            /* okno_loggen_run's result, once done */
    volatile int done; /* set when the run ended */
    pthread_t thread;
} okno_loggen_job;

/* Starts okno_loggen_run(&job->o, &job->r) on a new thread; 0 or OKNO_ENOMEM. */
int okno_loggen_start(okno_loggen_job *job);
/* Waits for the run to end; returns its result (job->rc). */
int okno_loggen_join(okno_loggen_job *job);

#endif
