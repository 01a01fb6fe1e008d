/* Metrics: counters, gauges and fixed-bucket histograms with labels fixed at registration,
 * updated lock-free from any thread, rendered in the Prometheus text exposition format 0.0.4. */
#ifndef OKNO_METRICS_H
#define OKNO_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OKNO_METRICS_NAME_BYTES_MAX   128 /* metric name, NUL included */
#define OKNO_METRICS_LABELS_BYTES_MAX 256 /* rendered a="b",c="d", NUL included */
#define OKNO_METRICS_BUCKETS_MAX      24  /* histogram bounds, +Inf not counted */

enum okno_metric_type {
    OKNO_METRIC_COUNTER = 1,
    OKNO_METRIC_GAUGE,
    OKNO_METRIC_HISTOGRAM,
};

struct okno_metrics;

/* What every metric starts with. Fields are private to metrics.c. */
struct okno_metric {
    struct okno_metric *next;      /* registry list; guarded by the registry lock */
    struct okno_metrics *registry; /* NULL when not registered */
    enum okno_metric_type type;
    const char *help; /* borrowed; must outlive the registration */
    char name[OKNO_METRICS_NAME_BYTES_MAX];
    char labels[OKNO_METRICS_LABELS_BYTES_MAX]; /* escaped, without braces; "" = none */
};

/* A monotonically increasing count (events appended, requests refused ...). */
struct okno_metrics_counter {
    struct okno_metric base;
    atomic_uint_least64_t value;
};

/* A value that goes up and down (consumer lag, open connections, ready 0/1 ...). */
struct okno_metrics_gauge {
    struct okno_metric base;
    atomic_int_least64_t value;
};

/* Observations counted into fixed buckets (latency in ms, batch sizes ...). */
struct okno_metrics_histogram {
    struct okno_metric base;
    size_t bound_count;                                         /* finite upper bounds in use */
    double bounds[OKNO_METRICS_BUCKETS_MAX];                    /* strictly increasing, inclusive */
    atomic_uint_least64_t counts[OKNO_METRICS_BUCKETS_MAX + 1]; /* per bucket, last is +Inf */
    atomic_uint_least64_t sum_bits;                             /* the double sum, as its bits */
};

/* A registry: what /metrics renders. Caller-allocated; must outlive its metrics' registration. */
struct okno_metrics {
    pthread_mutex_t lock;     /* guards the list: registration, removal, rendering */
    struct okno_metric *head; /* in registration order */
    size_t count;
};

/* Bounds for latencies in milliseconds, from 1 ms to 10 s. */
extern const double okno_metrics_latency_ms_bounds[];
extern const size_t okno_metrics_latency_ms_bound_count;

int okno_metrics_init(struct okno_metrics *reg);
/* Unregisters every metric (their memory is the callers') and releases the lock. */
void okno_metrics_close(struct okno_metrics *reg);

/* Registration. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*; `labels` is NULL or a NULL-ended
 * array of name, value, name, value ... (values are escaped here). Several series may share a
 * name if they share type and help and differ in labels. `help` is borrowed. The metric is
 * zeroed here and must not move or be freed until okno_metrics_remove() or _close().
 * Errors: OKNO_EINVAL (bad name, label, bounds, a clash with a registered series),
 * OKNO_ELIMIT (labels too long, too many buckets). */
int okno_metrics_counter_init(struct okno_metrics *reg, struct okno_metrics_counter *c,
                              const char *name, const char *help, const char *const labels[]);
/* One row of a service's counter table: where the counter lives, its name and help (borrowed). */
struct okno_metrics_counter_def {
    struct okno_metrics_counter *counter;
    const char *name, *help;
};
/* Registers defs[0..count) without labels, in order; the first failure is returned. */
int okno_metrics_counters_init(struct okno_metrics *reg,
                               const struct okno_metrics_counter_def *defs, size_t count);
int okno_metrics_gauge_init(struct okno_metrics *reg, struct okno_metrics_gauge *g,
                            const char *name, const char *help, const char *const labels[]);
/* `bounds` (copied) are the finite upper bounds, strictly increasing; +Inf is implied. */
int okno_metrics_histogram_init(struct okno_metrics *reg, struct okno_metrics_histogram *h,
                                const char *name, const char *help, const char *const labels[],
                                const double *bounds, size_t bound_count);

/* Takes a metric out of its registry (e.g. a per-partition gauge after a revocation). */
void okno_metrics_remove(struct okno_metric *m);

/* Updates: lock-free, any thread, any time after init (even after removal). */
void okno_metrics_counter_add(struct okno_metrics_counter *c, uint64_t n);
void okno_metrics_counter_inc(struct okno_metrics_counter *c);
void okno_metrics_gauge_set(struct okno_metrics_gauge *g, int64_t v);
void okno_metrics_gauge_add(struct okno_metrics_gauge *g, int64_t delta);
void okno_metrics_histogram_observe(struct okno_metrics_histogram *h, double v);

/* Reads, for tests and for services that act on their own numbers. */
uint64_t okno_metrics_counter_value(const struct okno_metrics_counter *c);
int64_t okno_metrics_gauge_value(const struct okno_metrics_gauge *g);

/* Writes the registry in the Prometheus text format: per name one # HELP and # TYPE, then its
 * series; histograms as _bucket{le=...} (cumulative), _sum and _count. _count always equals the
 * +Inf bucket; _sum may lag a concurrent observation by one. Returns OKNO_EIO on a write error. */
int okno_metrics_render(struct okno_metrics *reg, FILE *out);

#endif
