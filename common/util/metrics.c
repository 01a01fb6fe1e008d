/* Metric registration, lock-free updates and Prometheus text rendering. */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "okno/error.h"
#include "okno/metrics.h"

#define NUMBER_BYTES_MAX 40 /* one formatted double or integer */

const double okno_metrics_latency_ms_bounds[] = {1,   2,   5,    10,   25,   50,   100,
                                                 250, 500, 1000, 2500, 5000, 10000};
const size_t okno_metrics_latency_ms_bound_count =
    sizeof(okno_metrics_latency_ms_bounds) / sizeof(okno_metrics_latency_ms_bounds[0]);

int okno_metrics_init(struct okno_metrics *reg)
{
    assert(reg != NULL);
    memset(reg, 0, sizeof(*reg));
    return pthread_mutex_init(&reg->lock, NULL) == 0 ? 0 : OKNO_ENOMEM;
}

void okno_metrics_close(struct okno_metrics *reg)
{
    pthread_mutex_lock(&reg->lock);
    for (struct okno_metric *m = reg->head, *next = NULL; m != NULL; m = next) {
        next = m->next;
        m->next = NULL;
        m->registry = NULL;
    }
    reg->head = NULL;
    reg->count = 0;
    pthread_mutex_unlock(&reg->lock);
    pthread_mutex_destroy(&reg->lock);
}

static bool name_valid(const char *name, bool colon_ok)
{
    if (name == NULL || name[0] == '\0' || isdigit((unsigned char)name[0]))
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        if (!(isalnum((unsigned char)*p) || *p == '_' || (colon_ok && *p == ':')))
            return false;
    }
    return true;
}

/* Appends to a bounded buffer; false once it would overflow. */
static bool append(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len + n >= size)
        return false;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
    return true;
}

/* Label values escape backslash, double quote and newline (exposition format rules). */
static bool append_label_value(char *buf, size_t size, size_t *len, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (!(esc != NULL ? append(buf, size, len, esc, 2) : append(buf, size, len, p, 1)))
            return false;
    }
    return true;
}

static int format_labels(char *buf, size_t size, const char *const labels[])
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
        const char *name = labels[i];
        const char *value = labels[i + 1];
        if (value == NULL || !name_valid(name, false) || strncmp(name, "__", 2) == 0 ||
            strcmp(name, "le") == 0)
            return OKNO_EINVAL;
        bool ok = (i == 0 || append(buf, size, &len, ",", 1)) &&
                  append(buf, size, &len, name, strlen(name)) &&
                  append(buf, size, &len, "=\"", 2) && append_label_value(buf, size, &len, value) &&
                  append(buf, size, &len, "\"", 1);
        if (!ok)
            return OKNO_ELIMIT;
    }
    return 0;
}

/* A new series may join an existing name only with the same type and help, other labels. */
static int check_clash(const struct okno_metrics *reg, const struct okno_metric *m)
{
    for (const struct okno_metric *o = reg->head; o != NULL; o = o->next) {
        if (o == m || strcmp(o->name, m->name) != 0)
            continue;
        if (o->type != m->type || strcmp(o->help, m->help) != 0 ||
            strcmp(o->labels, m->labels) == 0)
            return OKNO_EINVAL;
    }
    return 0;
}

static int metric_register(struct okno_metrics *reg, struct okno_metric *m,
                           enum okno_metric_type type, const char *name, const char *help,
                           const char *const labels[])
{
    assert(reg != NULL);
    assert(m != NULL);
    if (!name_valid(name, true) || help == NULL)
        return OKNO_EINVAL;
    if (strlen(name) >= sizeof(m->name))
        return OKNO_ELIMIT;
    int rc = format_labels(m->labels, sizeof(m->labels), labels);
    if (rc != 0)
        return rc;
    m->type = type;
    m->help = help;
    memcpy(m->name, name, strlen(name) + 1);
    pthread_mutex_lock(&reg->lock);
    rc = check_clash(reg, m);
    if (rc == 0) {
        struct okno_metric **tail = &reg->head;
        while (*tail != NULL)
            tail = &(*tail)->next;
        *tail = m;
        m->next = NULL;
        m->registry = reg;
        reg->count++;
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int okno_metrics_counters_init(struct okno_metrics *reg,
                               const struct okno_metrics_counter_def *defs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int rc = okno_metrics_counter_init(reg, defs[i].counter, defs[i].name, defs[i].help, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int okno_metrics_counter_init(struct okno_metrics *reg, struct okno_metrics_counter *c,
                              const char *name, const char *help, const char *const labels[])
{
    memset(c, 0, sizeof(*c));
    atomic_init(&c->value, 0);
    return metric_register(reg, &c->base, OKNO_METRIC_COUNTER, name, help, labels);
}

int okno_metrics_gauge_init(struct okno_metrics *reg, struct okno_metrics_gauge *g,
                            const char *name, const char *help, const char *const labels[])
{
    memset(g, 0, sizeof(*g));
    atomic_init(&g->value, 0);
    return metric_register(reg, &g->base, OKNO_METRIC_GAUGE, name, help, labels);
}

static int check_bounds(const double *bounds, size_t count)
{
    if (count == 0 || bounds == NULL)
        return OKNO_EINVAL;
    if (count > OKNO_METRICS_BUCKETS_MAX)
        return OKNO_ELIMIT;
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return OKNO_EINVAL;
    }
    return 0;
}

int okno_metrics_histogram_init(struct okno_metrics *reg, struct okno_metrics_histogram *h,
                                const char *name, const char *help, const char *const labels[],
                                const double *bounds, size_t bound_count)
{
    memset(h, 0, sizeof(*h));
    int rc = check_bounds(bounds, bound_count);
    if (rc != 0)
        return rc;
    h->bound_count = bound_count;
    memcpy(h->bounds, bounds, bound_count * sizeof(bounds[0]));
    for (size_t i = 0; i <= OKNO_METRICS_BUCKETS_MAX; i++)
        atomic_init(&h->counts[i], 0);
    atomic_init(&h->sum_bits, 0); /* the bits of +0.0 */
    return metric_register(reg, &h->base, OKNO_METRIC_HISTOGRAM, name, help, labels);
}

void okno_metrics_remove(struct okno_metric *m)
{
    struct okno_metrics *reg = m->registry;
    if (reg == NULL)
        return;
    pthread_mutex_lock(&reg->lock);
    for (struct okno_metric **p = &reg->head; *p != NULL; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            reg->count--;
            break;
        }
    }
    m->next = NULL;
    m->registry = NULL;
    pthread_mutex_unlock(&reg->lock);
}

/* Relaxed ordering throughout: each number is independent, and readers only need each one
 * eventually; nothing else is published through them. */
void okno_metrics_counter_add(struct okno_metrics_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void okno_metrics_counter_inc(struct okno_metrics_counter *c)
{
    okno_metrics_counter_add(c, 1);
}

void okno_metrics_gauge_set(struct okno_metrics_gauge *g, int64_t v)
{
    atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

void okno_metrics_gauge_add(struct okno_metrics_gauge *g, int64_t delta)
{
    atomic_fetch_add_explicit(&g->value, delta, memory_order_relaxed);
}

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

void okno_metrics_histogram_observe(struct okno_metrics_histogram *h, double v)
{
    size_t i = 0;
    while (i < h->bound_count && !(v <= h->bounds[i]))
        i++; /* NaN fails every comparison and lands in +Inf */
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    /* No atomic add for doubles: swap in the new sum until no other thread got in between. */
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old,
                                                  double_to_bits(bits_to_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

uint64_t okno_metrics_counter_value(const struct okno_metrics_counter *c)
{
    return atomic_load_explicit(&c->value, memory_order_relaxed);
}

int64_t okno_metrics_gauge_value(const struct okno_metrics_gauge *g)
{
    return atomic_load_explicit(&g->value, memory_order_relaxed);
}

/* The shortest text that reads back as the same double (Prometheus parses Go floats). */
static void format_double(double d, char *buf, size_t size)
{
    if (isnan(d)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(buf, size, "%sInf", d > 0 ? "+" : "-");
        return;
    }
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, size, "%.0f", d); /* whole numbers without an exponent: le="250" */
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* name{labels} or name{labels,extra} or name, then the value. */
static void render_sample(FILE *out, const char *name, const char *suffix, const char *labels,
                          const char *extra, const char *value)
{
    bool braces = labels[0] != '\0' || extra != NULL;
    fprintf(out, "%s%s%s%s%s%s%s %s\n", name, suffix, braces ? "{" : "", labels,
            labels[0] != '\0' && extra != NULL ? "," : "", extra != NULL ? extra : "",
            braces ? "}" : "", value);
}

static void render_histogram(FILE *out, const struct okno_metrics_histogram *h)
{
    char value[NUMBER_BYTES_MAX];
    char le[NUMBER_BYTES_MAX + 8];
    char bound[NUMBER_BYTES_MAX];
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h->bound_count; i++) {
        cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->bound_count)
            format_double(h->bounds[i], bound, sizeof(bound));
        snprintf(le, sizeof(le), "le=\"%s\"", i < h->bound_count ? bound : "+Inf");
        snprintf(value, sizeof(value), "%" PRIu64, cumulative);
        render_sample(out, h->base.name, "_bucket", h->base.labels, le, value);
    }
    format_double(bits_to_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)), value,
                  sizeof(value));
    render_sample(out, h->base.name, "_sum", h->base.labels, NULL, value);
    snprintf(value, sizeof(value), "%" PRIu64, cumulative);
    render_sample(out, h->base.name, "_count", h->base.labels, NULL, value);
}

static void render_series(FILE *out, const struct okno_metric *m)
{
    char value[NUMBER_BYTES_MAX];
    switch (m->type) {
    case OKNO_METRIC_COUNTER:
        snprintf(value, sizeof(value), "%" PRIu64,
                 okno_metrics_counter_value((const struct okno_metrics_counter *)m));
        render_sample(out, m->name, "", m->labels, NULL, value);
        return;
    case OKNO_METRIC_GAUGE:
        snprintf(value, sizeof(value), "%" PRId64,
                 okno_metrics_gauge_value((const struct okno_metrics_gauge *)m));
        render_sample(out, m->name, "", m->labels, NULL, value);
        return;
    case OKNO_METRIC_HISTOGRAM:
        render_histogram(out, (const struct okno_metrics_histogram *)m);
        return;
    }
}

static const char *type_name(enum okno_metric_type type)
{
    return type == OKNO_METRIC_COUNTER ? "counter"
           : type == OKNO_METRIC_GAUGE ? "gauge"
                                       : "histogram";
}

/* HELP text escapes backslash and newline. */
static void render_header(FILE *out, const struct okno_metric *m)
{
    fprintf(out, "# HELP %s ", m->name);
    for (const char *p = m->help; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fprintf(out, "\n# TYPE %s %s\n", m->name, type_name(m->type));
}

static bool name_seen_before(const struct okno_metrics *reg, const struct okno_metric *m)
{
    for (const struct okno_metric *o = reg->head; o != m; o = o->next) {
        if (strcmp(o->name, m->name) == 0)
            return true;
    }
    return false;
}

int okno_metrics_render(struct okno_metrics *reg, FILE *out)
{
    assert(reg != NULL);
    assert(out != NULL);
    pthread_mutex_lock(&reg->lock);
    /* Series of one name must be contiguous under one header, whatever the registration
     * order; names are few, so the quadratic walk is cheaper than sorting. */
    for (const struct okno_metric *m = reg->head; m != NULL; m = m->next) {
        if (name_seen_before(reg, m))
            continue;
        render_header(out, m);
        for (const struct okno_metric *s = m; s != NULL; s = s->next) {
            if (strcmp(s->name, m->name) == 0)
                render_series(out, s);
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return ferror(out) ? OKNO_EIO : 0;
}
