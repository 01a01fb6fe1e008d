/* `okno report daily --org ORG [--at T]`: the curator's daily lists (SPEC 4.1 a-c) of an org
 * and every org below it, from the read models (common/readmodel's okno_rm_daily), as text,
 * JSON or CSV. --at T answers for a past moment: the read models as they were at T are rebuilt
 * from the log (`okno replay --as-of T` into okno_rm_daily_at), then listed as at T. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "cli.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/pg.h"
#include "okno/readmodel.h"
#include "okno/replay.h"

/* Where --at rebuilds the read models: never the live schema. */
#define REPORT_AT_SCHEMA "okno_rm_daily_at"

static const char *const LISTS[] = {"approaching_stage_time", "over_stage_time",
                                    "past_answer_deadline"};
static const char *const TITLES[] = {"approaching the stage time", "over the stage time",
                                     "past the answer deadline"};

static void report_usage(FILE *out)
{
    fprintf(out,
            "usage: okno report daily --org ORG [--at TIMESTAMP] [--json | --csv] [--pg CONNINFO]\n"
            "  The curator's daily lists for ORG and every org below it: messages in execution or\n"
            "  agreement approaching or over their stage time, and messages past their answer\n"
            "  deadline, each with the org and people it waits on, time used and allotted, and\n"
            "  how late.\n"
            "  --at    as at a past moment (any PostgreSQL timestamptz): rebuilds the read models\n"
            "          as they were then from the event log (needs the schema owner's conninfo)\n"
            "  --pg    libpq conninfo (default $OKNO_PG_CONNINFO; with --at,\n"
            "          $OKNO_PG_ADMIN_CONNINFO first)\n");
}

/* Now on the services' clock: on a sped-up cluster (the demo) the lists are as at its simulated
 * now, not at the wall clock's. */
static int64_t now_ms(void)
{
    okno_clock c;
    if (okno_cli_clock(&c) != 0)
        okno_clock_init_system(&c);
    return okno_clock_now_ms(&c);
}

static const char *text_of(json_t *item, const char *key, char *buf, size_t size)
{
    json_t *v = json_object_get(item, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_array(v)) {
        buf[0] = '\0';
        for (size_t i = 0; i < json_array_size(v); i++)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%" JSON_INTEGER_FORMAT, i ? " " : "",
                     json_integer_value(json_array_get(v, i)));
        return buf;
    }
    return "";
}

static void print_csv(json_t *d)
{
    static const char *const cols[] = {"message_id",   "org_id",          "stage",
                                       "waits_on",     "stage_used_ms",   "stage_budget_ms",
                                       "stage_due_at", "answer_deadline", "late_ms"};
    printf("list");
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        printf(",%s", cols[c]);
    putchar('\n');
    for (size_t l = 0; l < sizeof LISTS / sizeof *LISTS; l++) {
        json_t *items = json_object_get(d, LISTS[l]);
        for (size_t i = 0; i < json_array_size(items); i++) {
            printf("%s", LISTS[l]);
            for (size_t c = 0; c < sizeof cols / sizeof *cols; c++) {
                char buf[256];
                printf(",%s", text_of(json_array_get(items, i), cols[c], buf, sizeof buf));
            }
            putchar('\n');
        }
    }
}

static void print_text(json_t *d)
{
    printf("daily lists of org %" JSON_INTEGER_FORMAT " and its subordinates at %s\n",
           json_integer_value(json_object_get(d, "org_id")),
           json_string_value(json_object_get(d, "at")));
    for (size_t l = 0; l < sizeof LISTS / sizeof *LISTS; l++) {
        json_t *items = json_object_get(d, LISTS[l]);
        printf("\n%s: %zu\n", TITLES[l], json_array_size(items));
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);
            char org[32], stage[32], waits[160], late[32];
            double h = 3600000.0;
            json_t *l_ms = json_object_get(it, "late_ms");
            if (json_is_integer(l_ms))
                snprintf(late, sizeof late, "late %.1f h", (double)json_integer_value(l_ms) / h);
            else
                snprintf(late, sizeof late, "-");
            text_of(it, "waits_on", waits, sizeof waits);
            printf("  %s  org %s  %-12s waits on %-16s used %.1f h of %.1f h  %s\n",
                   json_string_value(json_object_get(it, "message_id")),
                   text_of(it, "org_id", org, sizeof org),
                   text_of(it, "stage", stage, sizeof stage), waits[0] ? waits : "-",
                   (double)json_integer_value(json_object_get(it, "stage_used_ms")) / h,
                   (double)json_integer_value(json_object_get(it, "stage_budget_ms")) / h, late);
        }
    }
}

int okno_cli_report(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "daily") != 0) {
        report_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
    }
    const char *conninfo = NULL, *at = NULL;
    int64_t org = 0;
    bool json = false, csv = false;
    static const struct option opts[] = {{"org", required_argument, NULL, 'o'},
                                         {"at", required_argument, NULL, 'a'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"csv", no_argument, NULL, 'c'},
                                         {"pg", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 2;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'o') {
            char *end;
            org = strtoll(optarg, &end, 10);
            org = *end == '\0' ? org : 0;
        } else if (c == 'a') {
            at = optarg;
        } else if (c == 'j') {
            json = true;
        } else if (c == 'c') {
            csv = true;
        } else if (c == 'p') {
            conninfo = optarg;
        } else {
            report_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
        }
    }
    if (conninfo == NULL)
        conninfo = at != NULL ? okno_cli_env("OKNO_PG_ADMIN_CONNINFO",
                                             okno_cli_env("OKNO_PG_CONNINFO", NULL))
                              : okno_cli_env("OKNO_PG_CONNINFO", NULL);
    if (optind != argc || org <= 0 || (json && csv) || conninfo == NULL) {
        fprintf(stderr, "okno report: %s\n",
                conninfo == NULL ? "no database given (--pg or $OKNO_PG_CONNINFO)"
                : org <= 0       ? "--org needs an org id > 0"
                                 : "bad arguments");
        report_usage(stderr);
        return OKNO_EXIT_USAGE;
    }
    int64_t at_ms = now_ms();
    if (at != NULL && okno_cli_parse_time("report", conninfo, at, &at_ms) != 0)
        return OKNO_EXIT_USAGE;
    if (at != NULL) {
        okno_replay_options o;
        okno_replay_options_init(&o);
        o.conninfo = conninfo;
        o.schema = REPORT_AT_SCHEMA;
        o.as_of_ms = at_ms;
        okno_replay_result r;
        int rc = okno_replay_run(&o, &r);
        okno_avro_close();
        if (rc != OKNO_OK) {
            fprintf(stderr, "okno report: rebuilding the read models as at %s: %s\n", at, r.error);
            return OKNO_EXIT_FAILURE;
        }
    }
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno report: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    json_t *d;
    int rc = okno_rm_daily(conn, NULL, at != NULL ? REPORT_AT_SCHEMA : NULL, org, at_ms, &d, err,
                           sizeof err);
    PQfinish(conn);
    if (rc != OKNO_OK) {
        fprintf(stderr, "okno report: %s: %s\n", okno_strerror(rc), err);
        return OKNO_EXIT_FAILURE;
    }
    if (json) {
        json_dumpf(d, stdout, JSON_INDENT(2));
        putchar('\n');
    } else if (csv) {
        print_csv(d);
    } else {
        print_text(d);
    }
    json_decref(d);
    return OKNO_EXIT_OK;
}
