/* `okno replay`: rebuilds the read models from the event log into a fresh schema and swaps it in
 * (common/projection/replay.c does the work). Shows progress only when stderr is a terminal;
 * prints one summary line on stdout. Sends nothing to Kafka and notifies no one. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/pg.h"
#include "okno/replay.h"

/* The schema a historical build goes to unless named: never the live one. */
#define REPLAY_AS_OF_SCHEMA "okno_rm_asof"

static void replay_usage(FILE *out)
{
    fprintf(out,
            "usage: okno replay [--schema NAME] [--as-of TIMESTAMP] [--jobs N] [--keep-old]\n"
            "                   [--json] [--pg CONNINFO]\n"
            "  Rebuilds every read model from the event log into NAME_new, then swaps it in as\n"
            "  NAME in one transaction (readers keep the old one until then).\n"
            "  --schema    read-model schema (default okno_rm; with --as-of, okno_rm_asof)\n"
            "  --as-of     only events that occurred at or before TIMESTAMP (any PostgreSQL\n"
            "              timestamptz, e.g. '2026-01-31 12:00:00+03'): the state at that moment;\n"
            "              never into the live schema okno_rm\n"
            "  --jobs      worker threads, 1..%d (default 2)\n"
            "  --keep-old  keep the replaced schema as NAME_old\n"
            "  --json      print the summary as one JSON object, with where the time went\n"
            "              (\"phases\": common/projection/README.md)\n"
            "  --pg        conninfo of the schema owner (default $OKNO_PG_ADMIN_CONNINFO, then\n"
            "              $OKNO_PG_CONNINFO)\n",
            OKNO_REPLAY_JOBS_MAX);
}

typedef struct replay_args {
    okno_replay_options o;
    const char *as_of;
    bool json;
} replay_args;

static int parse_args(int argc, char **argv, replay_args *a)
{
    static const struct option opts[] = {
        {"schema", required_argument, NULL, 's'}, {"as-of", required_argument, NULL, 'a'},
        {"jobs", required_argument, NULL, 'j'},   {"keep-old", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'J'},         {"pg", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0},
    };
    bool schema_given = false;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 's') {
            a->o.schema = optarg;
            schema_given = true;
        } else if (c == 'a') {
            a->as_of = optarg;
        } else if (c == 'j') {
            a->o.jobs = atoi(optarg);
        } else if (c == 'k') {
            a->o.keep_old = true;
        } else if (c == 'J') {
            a->json = true;
        } else if (c == 'p') {
            a->o.conninfo = optarg;
        } else {
            replay_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 1 : -1;
        }
    }
    if (a->as_of != NULL && !schema_given)
        a->o.schema = REPLAY_AS_OF_SCHEMA;
    if (a->as_of != NULL && strcmp(a->o.schema, "okno_rm") == 0) {
        fprintf(stderr, "okno replay: --as-of builds a historical view; it never replaces the "
                        "live okno_rm (name another with --schema)\n");
        return -1;
    }
    return 0;
}

int okno_cli_parse_time(const char *cmd, const char *conninfo, const char *text, int64_t *ms)
{
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno %s: %s\n", cmd, err);
        return -1;
    }
    int rc = okno_cli_timestamp_ms(conn, text, ms, "replay: --as-of");
    PQfinish(conn);
    return rc;
}

/* One line rewritten in place: events, rate, time left. */
static void show_progress(const okno_replay_progress *p, void *arg)
{
    (void)arg;
    double rate = p->seconds > 0 ? (double)p->events / p->seconds : 0;
    char left[32] = "?";
    if (p->events_total > p->events && rate > 0)
        snprintf(left, sizeof left, "%.0f s", (double)(p->events_total - p->events) / rate);
    else if (p->events_total > 0)
        snprintf(left, sizeof left, "0 s");
    fprintf(stderr,
            "\rokno replay: %-8s %12" PRIu64 " / ~%" PRIu64 " events  %9.0f events/s"
            "  left %-8s  partitions %u/%u   ",
            p->phase, p->events, p->events_total, rate, left, p->parts_done, p->parts_total);
    if (strcmp(p->phase, "done") == 0)
        fputc('\n', stderr);
    fflush(stderr);
}

/* The phases as a JSON object (okno_replay_phases; the workers' ones summed over workers). */
static void print_phases(const okno_replay_phases *p)
{
    printf("{\"read\":%.3f,\"decode\":%.3f,\"fold\":%.3f,\"encode\":%.3f,\"copy\":%.3f,"
           "\"stats\":%.3f,\"meta\":%.3f,\"secure\":%.3f,\"rename\":%.3f,\"drop\":%.3f,"
           "\"cpu\":%.3f,\"index\":{",
           p->read, p->decode, p->fold, p->encode, p->copy, p->stats, p->meta, p->secure, p->rename,
           p->drop, p->cpu);
    for (int i = 0; i < p->indexes; i++)
        printf("%s\"%s\":%.3f", i > 0 ? "," : "", p->index_name[i], p->index[i]);
    printf("}}");
}

static void print_summary(const replay_args *a, const okno_replay_result *r)
{
    double rate = r->seconds > 0 ? (double)r->events / r->seconds : 0;
    if (a->json) {
        printf("{\"schema\":\"%s\",\"events\":%" PRIu64 ",\"messages\":%" PRIu64
               ",\"seconds\":%.3f,\"seconds_read\":%.3f,\"seconds_index\":%.3f,"
               "\"seconds_swap\":%.3f,\"events_per_s\":%.0f,\"horizon_tx\":%s,\"phases\":",
               a->o.schema, r->events, r->messages, r->seconds, r->seconds_read, r->seconds_index,
               r->seconds_swap, rate, r->horizon_tx);
        print_phases(&r->phases);
        printf("}\n");
    } else
        printf("okno replay: %" PRIu64 " events of %" PRIu64 " messages into %s in %.1f s"
               " (%.0f events/s), below transaction %s%s%s\n",
               r->events, r->messages, a->o.schema, r->seconds, rate, r->horizon_tx,
               a->as_of ? ", as of " : "", a->as_of ? a->as_of : "");
}

int okno_cli_replay(int argc, char **argv)
{
    replay_args a = {0};
    okno_replay_options_init(&a.o);
    a.o.conninfo = okno_cli_env("OKNO_PG_ADMIN_CONNINFO", okno_cli_env("OKNO_PG_CONNINFO", NULL));
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc > 0 ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
    if (a.o.conninfo == NULL) {
        fprintf(stderr, "okno replay: no database given (--pg or $OKNO_PG_ADMIN_CONNINFO)\n");
        return OKNO_EXIT_USAGE;
    }
    if (a.as_of != NULL && okno_cli_parse_time("replay", a.o.conninfo, a.as_of, &a.o.as_of_ms) != 0)
        return OKNO_EXIT_USAGE;
    if (isatty(STDERR_FILENO))
        a.o.progress = show_progress;
    okno_replay_result r;
    rc = okno_replay_run(&a.o, &r);
    okno_avro_close(); /* the decoders of this thread (the workers' went with them) */
    if (rc != OKNO_OK) {
        if (a.o.progress != NULL)
            fputc('\n', stderr);
        fprintf(stderr, "okno replay: %s: %s\n", okno_strerror(rc), r.error);
        return OKNO_EXIT_FAILURE;
    }
    print_summary(&a, &r);
    return OKNO_EXIT_OK;
}
