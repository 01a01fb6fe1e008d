/* bench_http_pace: an open-loop HTTP load at a fixed rate (libcurl multi), for the gateway's
 * decide benchmark (bench/gateway.py). Request k is due at start + k / rate whatever happened to
 * the ones before it, and its latency counts from that due time, so a slow server cannot slow
 * the client down and hide its waits (coordinated omission); the rate reached is reported
 * beside the one asked for.
 *   bench_http_pace --base URL --rate N --seconds S --out FILE [--header H]... [--body B]
 *                   [--connections C] [--warmup W] PATH...
 * POSTs B (default "{}") to the paths in turn. The first W seconds (default 0) at the same rate
 * open the connections and are left out of FILE and the figures. FILE gets one line per answer: the
 * request's due time (Unix seconds), its latency from that time (ms), the status, and the body's
 * "request_id" (or -). The last line of stdout is a JSON summary. */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define PATHS_MAX       4096
#define HEADERS_MAX     16
#define URL_BYTES_MAX   512
#define BODY_BYTES_MAX  4096 /* of an answer kept for its request_id */
#define DRAIN_S_MAX     30   /* after the schedule, how long answers are awaited */
#define CONNECTIONS_MAX 4096

struct shot {
    CURL *easy;
    double due_s;  /* monotonic */
    bool measured; /* false: a warm-up request (connections opening), left out of the figures */
    char body[BODY_BYTES_MAX];
    size_t body_bytes;
};

struct pace {
    const char *base, *body, *out;
    const char *paths[PATHS_MAX];
    int path_count;
    struct curl_slist *headers;
    double rate_per_s, seconds, warmup_s;
    long connections;
    double *latencies_ms;
    long answered, ok, failed, latencies;
};

/* Seconds on `clock` to the nanosecond: okno_clock_monotonic_ms's milliseconds are too coarse
 * for a schedule with half a millisecond between requests. */
static double seconds_on(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double mono_s(void)
{
    return seconds_on(CLOCK_MONOTONIC);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct shot *s = arg;
    size_t bytes = size * n, room = sizeof(s->body) - 1 - s->body_bytes;
    size_t keep = bytes < room ? bytes : room;
    memcpy(s->body + s->body_bytes, data, keep);
    s->body_bytes += keep;
    s->body[s->body_bytes] = '\0';
    return bytes;
}

/* The value of "request_id" in a JSON answer, copied to out, or "-". */
static void request_id(const char *body, char out[64])
{
    const char *p = strstr(body, "\"request_id\"");
    p = p != NULL ? strchr(p + 12, '"') : NULL;
    const char *end = p != NULL ? strchr(p + 1, '"') : NULL;
    if (end == NULL || end - p - 1 >= 64) {
        strcpy(out, "-");
        return;
    }
    memcpy(out, p + 1, (size_t)(end - p - 1));
    out[end - p - 1] = '\0';
}

static int send_one(struct pace *p, CURLM *multi, long k, double due_s, bool measured)
{
    struct shot *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->easy = curl_easy_init()) == NULL) {
        free(s);
        return -1;
    }
    char url[URL_BYTES_MAX];
    snprintf(url, sizeof(url), "%s%s", p->base, p->paths[k % p->path_count]);
    s->due_s = due_s;
    s->measured = measured;
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, (long)DRAIN_S_MAX);
    return curl_multi_add_handle(multi, s->easy) == CURLM_OK ? 0 : -1;
}

static void finish(struct pace *p, CURLM *multi, CURLMsg *m, double start_mono, double start_wall,
                   FILE *out)
{
    struct shot *s;
    long status = 0;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    double ms = (mono_s() - s->due_s) * 1000.0;
    char rid[64];
    request_id(s->body, rid);
    if (m->data.result != CURLE_OK)
        status = 0;
    if (s->measured) {
        p->answered++;
        if (status >= 200 && status < 300)
            p->ok++;
        else
            p->failed++;
        p->latencies_ms[p->latencies++] = ms;
        fprintf(out, "%.6f %.3f %ld %s\n", start_wall + (s->due_s - start_mono), ms, status, rid);
    }
    curl_multi_remove_handle(multi, s->easy);
    curl_easy_cleanup(s->easy);
    free(s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *v, long n, double q)
{
    return n == 0 ? 0.0 : v[(long)(q * (double)(n - 1))];
}

static int run(struct pace *p)
{
    FILE *out = fopen(p->out, "w");
    long warmup = (long)(p->rate_per_s * p->warmup_s);
    long total = warmup + (long)(p->rate_per_s * p->seconds);
    p->latencies_ms = calloc((size_t)total + 1, sizeof(double));
    CURLM *multi = curl_multi_init();
    if (out == NULL || p->latencies_ms == NULL || multi == NULL)
        return 1;
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, p->connections);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, p->connections);
    double start_mono = mono_s(), start_wall = seconds_on(CLOCK_REALTIME), last_sent_s = start_mono;
    long sent = 0;
    int running = 0;
    while (sent < total || running > 0) {
        double now = mono_s();
        if (sent < total && now - start_mono > p->seconds + DRAIN_S_MAX)
            break;
        while (sent < total && start_mono + (double)sent / p->rate_per_s <= now) {
            if (send_one(p, multi, sent, start_mono + (double)sent / p->rate_per_s,
                         sent >= warmup) != 0)
                return 1;
            sent++;
            last_sent_s = now;
        }
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL)
            if (m->msg == CURLMSG_DONE)
                finish(p, multi, m, start_mono, start_wall, out);
        if (sent == total && now - last_sent_s > DRAIN_S_MAX)
            break;
        double next = sent < total ? start_mono + (double)sent / p->rate_per_s - mono_s() : 0.01;
        int wait_ms = next <= 0 ? 0 : (int)ceil(next * 1000.0);
        curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
    double sent_over_s = last_sent_s - start_mono;
    fclose(out);
    qsort(p->latencies_ms, (size_t)p->latencies, sizeof(double), cmp_double);
    printf("{\"rate_target_per_s\":%.0f,\"seconds\":%.1f,\"warmup_s\":%.1f,\"sent\":%ld,"
           "\"send_span_s\":%.3f,"
           "\"answered\":%ld,\"ok\":%ld,\"failed\":%ld,\"rate_ok_per_s\":%.1f,"
           "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}\n",
           p->rate_per_s, p->seconds, p->warmup_s, sent - warmup, sent_over_s - p->warmup_s,
           p->answered, p->ok, p->failed, (double)p->ok / p->seconds,
           percentile(p->latencies_ms, p->latencies, 0.5),
           percentile(p->latencies_ms, p->latencies, 0.99),
           percentile(p->latencies_ms, p->latencies, 1.0));
    curl_multi_cleanup(multi);
    free(p->latencies_ms);
    return p->answered == sent - warmup ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_http_pace --base URL --rate N --seconds S --out FILE"
                    " [--header H]... [--body B] [--connections C] [--warmup W] PATH...\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"base", required_argument, NULL, 'b'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"header", required_argument, NULL, 'H'},
                                         {"body", required_argument, NULL, 'd'},
                                         {"connections", required_argument, NULL, 'c'},
                                         {"warmup", required_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    struct pace p = {.body = "{}", .connections = 256};
    int c, headers = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'b')
            p.base = optarg;
        else if (c == 'r')
            p.rate_per_s = atof(optarg);
        else if (c == 's')
            p.seconds = atof(optarg);
        else if (c == 'o')
            p.out = optarg;
        else if (c == 'H' && headers++ < HEADERS_MAX)
            p.headers = curl_slist_append(p.headers, optarg);
        else if (c == 'd')
            p.body = optarg;
        else if (c == 'c')
            p.connections = atol(optarg);
        else if (c == 'w')
            p.warmup_s = atof(optarg);
        else
            return usage();
    }
    for (int i = optind; i < argc && p.path_count < PATHS_MAX; i++)
        p.paths[p.path_count++] = argv[i];
    if (p.base == NULL || p.out == NULL || p.rate_per_s <= 0 || p.seconds <= 0 ||
        p.path_count == 0 || p.warmup_s < 0 || p.connections < 1 || p.connections > CONNECTIONS_MAX)
        return usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run(&p);
    curl_slist_free_all(p.headers);
    curl_global_cleanup();
    return rc;
}
