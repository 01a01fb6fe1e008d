/* `okno report`: the curator's daily lists and the weekly summary (common/report does the work).
 *   okno report daily --org ORG [--at T] [--json | --csv]
 *   okno report weekly --org ORG --week YYYY-Www [--html FILE] [--csv FILE]
 * Live lists are read at the clock's now: the system clock, or the shared sped-up clock of the
 * services ($OKNO_CLOCK__SPEED, $OKNO_CLOCK__ORIGIN_MS). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "okno/avro.h"
#include "okno/clock.h"
#include "okno/error.h"
#include "okno/pg.h"
#include "okno/report.h"

static void report_usage(FILE *out)
{
    fputs("usage: okno report daily --org ORG [--at TIMESTAMP] [--json | --csv] [--schema S]\n"
          "       okno report weekly --org ORG --week YYYY-Www [--html FILE] [--csv FILE]\n"
          "                          [--schema S]\n"
          "  daily    the curator's lists (SPEC 4.1 a-c) for ORG and its subordinates: messages\n"
          "           approaching their stage time (execution, agreement), over it, and past\n"
          "           their answer deadline; text by default\n"
          "  --at     the lists as they were at TIMESTAMP (any PostgreSQL timestamptz), rebuilt\n"
          "           from the event log (a replay --as-of into a scratch schema)\n"
          "  weekly   the summary of an ISO week (Moscow time) with the 7 weeks before it;\n"
          "           prints the CSV unless --html or --csv name files ('-': stdout)\n"
          "  --schema read-model schema (default okno_rm)\n"
          "  --pg     conninfo (default $OKNO_PG_ADMIN_CONNINFO, then $OKNO_PG_CONNINFO); --at\n"
          "           needs a role that may create schemas\n",
          out);
}

typedef struct report_args {
    const char *what, *schema, *at, *week, *html, *csv_file, *conninfo;
    int64_t org;
    bool org_given, json, csv;
} report_args;

static int parse_args(int argc, char **argv, report_args *a)
{
    static const struct option opts[] = {
        {"org", required_argument, NULL, 'o'},    {"at", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},         {"csv", optional_argument, NULL, 'c'},
        {"week", required_argument, NULL, 'w'},   {"html", required_argument, NULL, 'H'},
        {"schema", required_argument, NULL, 's'}, {"pg", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0},
    };
    if (argc < 2 || (strcmp(argv[1], "daily") != 0 && strcmp(argv[1], "weekly") != 0)) {
        report_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 1 : -1;
    }
    a->what = argv[1];
    optind = 2;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        char *end = NULL;
        switch (c) {
        case 'o':
            a->org = strtoll(optarg, &end, 10);
            a->org_given = end != optarg && *end == '\0';
            if (!a->org_given) {
                fprintf(stderr, "okno report: --org %s is not an org id\n", optarg);
                return -1;
            }
            break;
        case 'a':
            a->at = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'c':
            a->csv = true;
            a->csv_file = optarg;
            /* weekly: --csv FILE as well as --csv=FILE */
            if (optarg == NULL && strcmp(a->what, "weekly") == 0 && optind < argc &&
                argv[optind][0] != '-')
                a->csv_file = argv[optind++];
            break;
        case 'w':
            a->week = optarg;
            break;
        case 'H':
            a->html = optarg;
            break;
        case 's':
            a->schema = optarg;
            break;
        case 'p':
            a->conninfo = optarg;
            break;
        default:
            report_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 1 : -1;
        }
    }
    if (optind < argc || !a->org_given || (strcmp(a->what, "weekly") == 0 && a->week == NULL) ||
        (a->json && a->csv)) {
        report_usage(stderr);
        return -1;
    }
    return 0;
}

static int64_t clock_now(void)
{
    okno_clock c;
    int64_t speed = strtoll(okno_cli_env("OKNO_CLOCK__SPEED", "1"), NULL, 10);
    int64_t origin = strtoll(okno_cli_env("OKNO_CLOCK__ORIGIN_MS", "0"), NULL, 10);
    if (speed <= 1 || okno_clock_init_scaled(&c, speed, origin) != OKNO_OK)
        okno_clock_init_system(&c);
    return okno_clock_now_ms(&c);
}

static int daily(PGconn *conn, const report_args *a)
{
    okno_report_daily d;
    char err[OKNO_REPORT_ERROR_BYTES] = "";
    int rc;
    if (a->at != NULL) {
        int64_t at;
        if (okno_cli_timestamp_ms(conn, a->at, &at, "report: --at") != 0)
            return OKNO_EXIT_USAGE;
        rc = okno_report_daily_at(a->conninfo, a->org, at, 0, &d, err, sizeof err);
    } else {
        rc = okno_report_daily_query(conn, a->schema, a->org, clock_now(), &d, err, sizeof err);
    }
    if (rc != OKNO_OK) {
        fprintf(stderr, "okno report daily: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    rc = a->json  ? okno_report_daily_json(stdout, &d)
         : a->csv ? okno_report_daily_csv(stdout, &d)
                  : okno_report_daily_text(stdout, &d);
    okno_report_daily_free(&d);
    return rc == OKNO_OK ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}

/* Writes with fn to path ('-': stdout); the file appears whole or not at all. */
static int write_to(const char *path, int (*fn)(FILE *, const okno_report_weekly *),
                    const okno_report_weekly *w)
{
    if (strcmp(path, "-") == 0)
        return fn(stdout, w);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        perror(tmp);
        return OKNO_EIO;
    }
    int rc = fn(f, w);
    if (fclose(f) != 0 || rc != OKNO_OK || rename(tmp, path) != 0) {
        perror(path);
        remove(tmp);
        return OKNO_EIO;
    }
    return OKNO_OK;
}

static int weekly(PGconn *conn, const report_args *a)
{
    int32_t monday;
    if (okno_report_parse_week(a->week, &monday) != OKNO_OK) {
        fprintf(stderr, "okno report weekly: --week %s is not an ISO week (YYYY-Www)\n", a->week);
        return OKNO_EXIT_USAGE;
    }
    okno_report_weekly w;
    char err[OKNO_REPORT_ERROR_BYTES] = "";
    if (okno_report_weekly_query(conn, a->schema, a->org, monday, &w, err, sizeof err) != OKNO_OK) {
        fprintf(stderr, "okno report weekly: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    int rc = OKNO_OK;
    if (a->html != NULL)
        rc = write_to(a->html, okno_report_weekly_html, &w);
    if (rc == OKNO_OK && (a->csv_file != NULL || a->html == NULL))
        rc = write_to(a->csv_file != NULL ? a->csv_file : "-", okno_report_weekly_csv, &w);
    okno_report_weekly_free(&w);
    return rc == OKNO_OK ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}

int okno_cli_report(int argc, char **argv)
{
    report_args a = {.schema = "okno_rm"};
    int p = parse_args(argc, argv, &a);
    if (p != 0)
        return p > 0 ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
    if (a.conninfo == NULL)
        a.conninfo = okno_cli_env("OKNO_PG_ADMIN_CONNINFO", okno_cli_env("OKNO_PG_CONNINFO", NULL));
    if (a.conninfo == NULL) {
        fprintf(stderr, "okno report: no database given (--pg or $OKNO_PG_CONNINFO)\n");
        return OKNO_EXIT_USAGE;
    }
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (okno_pg_connect(a.conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno report: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    int rc = strcmp(a.what, "daily") == 0 ? daily(conn, &a) : weekly(conn, &a);
    PQfinish(conn);
    okno_avro_close();
    return rc;
}
