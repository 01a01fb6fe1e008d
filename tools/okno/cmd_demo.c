/* `okno demo` and `okno load --via gateway`: simulated people (people.h) work through the
 * gateway on the services' clock; a progress line on a terminal (simulated date, messages open
 * and answered, signals raised, events a second), and the people's summed tally as one JSON
 * object on the last line of stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cli.h"
#include "okno/pg.h"
#include "people.h"

#define DEMO_ERR_BYTES 256

struct demo_args {
    okno_people_options p;
    const char *name; /* "demo" or "load" */
    bool progress;
};

static void demo_usage(FILE *out, const char *name)
{
    fprintf(out,
            "usage: okno %s%s [--rate PER_DAY] [--duration SPAN] [--drain SPAN] [--orgs N]\n"
            "       [--seed S] [--mix reject=P,refuse=P,intake=P,slow=P] [--concurrency N]\n"
            "       [--gateway URL] [--key FILE] [--pg CONNINFO] [--tally FILE] [--no-progress]\n"
            "  Simulated people (applicants, intake operators, moderators, coordinators,\n"
            "  executors, managers) work through the gateway on the services' clock\n"
            "  (OKNO_CLOCK__SPEED, OKNO_CLOCK__ORIGIN_MS). SPAN is simulated: 30d, 12h, 90m.\n"
            "  defaults: --rate 40 messages a simulated day, --duration 30d, --drain 0d,\n"
            "  --orgs 2 ministries, --seed 1, --concurrency 32, --gateway $OKNO_GATEWAY_URL,\n"
            "  --key $OKNO_TOKEN_KEY or .work/auth/signing.jwk, --pg $OKNO_PG_CONNINFO.\n"
            "  --tally FILE writes every request and its decision, one JSON line each.\n"
            "  Prints the people's summed tally as JSON on the last line.\n",
            name, strcmp(name, "load") == 0 ? " --via gateway" : "");
}

/* "reject=80,refuse=100,intake=150,slow=150": permille shares. */
static int parse_mix(char *text, okno_people_options *p)
{
    for (char *save = NULL, *kv = strtok_r(text, ",", &save); kv != NULL;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        int64_t v;
        if (eq == NULL || (*eq = '\0', okno_cli_parse_i64(eq + 1, 0, 1000, &v)) != 0)
            return -1;
        if (strcmp(kv, "reject") == 0)
            p->reject_permille = (int32_t)v;
        else if (strcmp(kv, "refuse") == 0)
            p->refuse_permille = (int32_t)v;
        else if (strcmp(kv, "intake") == 0)
            p->intake_permille = (int32_t)v;
        else if (strcmp(kv, "slow") == 0)
            p->slow_permille = (int32_t)v;
        else
            return -1;
    }
    return 0;
}

static int parse_span(const char *s, int64_t *out)
{
    *out = okno_people_parse_span(s);
    if (*out < 0)
        fprintf(stderr, "okno: '%s' is not a span like 30d, 12h, 90m or 45s\n", s);
    return *out < 0 ? -1 : 0;
}

static int parse_one(struct demo_args *a, int c, char *arg)
{
    int64_t v = 0;
    switch (c) {
    case 'r':
        return okno_cli_parse_i64(arg, 1, 1000000, &a->p.messages_per_day);
    case 'd':
        return parse_span(arg, &a->p.days_ms);
    case 'D':
        return parse_span(arg, &a->p.drain_ms);
    case 'o':
        return okno_cli_parse_i64(arg, 1, 10000, &v) != 0 ? -1 : (a->p.orgs = (int32_t)v, 0);
    case 's':
        return okno_cli_parse_i64(arg, 1, INT64_MAX, &v) != 0 ? -1 : (a->p.seed = (uint64_t)v, 0);
    case 'c':
        return okno_cli_parse_i64(arg, 1, OKNO_PEOPLE_CONCURRENCY_MAX, &v) != 0
                   ? -1
                   : (a->p.concurrency = (int32_t)v, 0);
    case 'm':
        return parse_mix(arg, &a->p);
    case 'g':
        return (a->p.gateway_url = arg, 0);
    case 'k':
        return (a->p.key_file = arg, 0);
    case 'p':
        return (a->p.pg_conninfo = arg, 0);
    case 't':
        return (a->p.tally_file = arg, 0);
    case 'n':
        return (a->progress = false, 0);
    case 'v':
        return strcmp(arg, "gateway") == 0 ? 0 : -1;
    default:
        return -1;
    }
}

static int parse_args(int argc, char **argv, struct demo_args *a)
{
    static const struct option opts[] = {
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"drain", required_argument, NULL, 'D'},
        {"orgs", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 's'},
        {"concurrency", required_argument, NULL, 'c'},
        {"mix", required_argument, NULL, 'm'},
        {"gateway", required_argument, NULL, 'g'},
        {"key", required_argument, NULL, 'k'},
        {"pg", required_argument, NULL, 'p'},
        {"tally", required_argument, NULL, 't'},
        {"no-progress", no_argument, NULL, 'n'},
        {"via", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'h') {
            demo_usage(stdout, a->name);
            return 1;
        }
        if (parse_one(a, c, optarg) != 0) {
            demo_usage(stderr, a->name);
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

/* ---- the progress line ---------------------------------------------------------------------- */

struct progress {
    PGconn *conn;
    bool tty;
    int64_t last_events, last_real_ms;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_counts(PGconn *conn, int64_t *events, int64_t *signals)
{
    *events = *signals = -1;
    if (conn == NULL)
        return;
    PGresult *r = PQexec(conn, "select count(*), count(*) filter (where event_type in "
                               "('stage_time_approaching', 'stage_time_exceeded', "
                               "'answer_deadline_approaching', 'answer_deadline_expired', "
                               "'postponed_date_reached')) from okno.event_log");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        *events = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *signals = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
}

static void on_progress(void *arg, int64_t sim_now_ms, const okno_people_totals *t, bool final)
{
    struct progress *p = arg;
    int64_t events, signals, now = mono_ms();
    log_counts(p->conn, &events, &signals);
    double rate = p->last_real_ms > 0 && now > p->last_real_ms
                      ? (double)(events - p->last_events) * 1000.0 / (double)(now - p->last_real_ms)
                      : 0.0;
    p->last_events = events, p->last_real_ms = now;
    int64_t answered = 0;
    for (int i = 0; i < OKNO_ANSWER_COUNT; i++)
        answered += t->answered[i];
    time_t secs = (time_t)(sim_now_ms / 1000);
    struct tm tm;
    char date[32];
    gmtime_r(&secs, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
    fprintf(stderr,
            "%s%s UTC (simulated) | messages %lld submitted, %lld open, %lld answered, %lld "
            "rejected | "
            "signals %lld | %.0f events/s%s",
            p->tty ? "\r\033[K" : "", date, (long long)t->submitted,
            (long long)(t->submitted - answered - t->rejected_by_moderator), (long long)answered,
            (long long)t->rejected_by_moderator, (long long)signals, rate,
            p->tty && !final ? "" : "\n");
}

static void print_totals(const okno_people_totals *t)
{
    printf("{\"submitted\": %lld, \"events\": %lld, \"turned_away\": %lld, "
           "\"transport_errors\": %lld, \"pending\": %lld, \"rejected_by_moderator\": %lld, "
           "\"interim\": %lld, \"redirected\": %lld, \"answered\": {",
           (long long)t->submitted, (long long)t->events, (long long)t->turned_away,
           (long long)t->transport_errors, (long long)t->pending,
           (long long)t->rejected_by_moderator, (long long)t->interim, (long long)t->redirected);
    for (int i = 1; i < OKNO_ANSWER_COUNT; i++)
        printf("%s\"%s\": %lld", i > 1 ? ", " : "", okno_answer_type_name((okno_answer_type)i),
               (long long)t->answered[i]);
    printf("}, \"actions\": {");
    for (int i = 1, first = 1; i < OKNO_ACTION_COUNT; i++) {
        if (t->posted[i] == 0)
            continue;
        printf("%s\"%s\": {\"posted\": %lld, \"accepted\": %lld, \"refused\": %lld}",
               first ? "" : ", ", okno_action_name((okno_action)i), (long long)t->posted[i],
               (long long)t->accepted[i], (long long)t->refused[i]);
        first = 0;
    }
    printf("}}\n");
}

static int run(int argc, char **argv, const char *name)
{
    struct demo_args a = {.name = name, .progress = true};
    okno_people_options_init(&a.p);
    a.p.gateway_url = okno_cli_env("OKNO_GATEWAY_URL", NULL);
    a.p.key_file = okno_cli_env("OKNO_TOKEN_KEY", ".work/auth/signing.jwk");
    a.p.pg_conninfo = okno_cli_env("OKNO_PG_CONNINFO", NULL);
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc > 0 ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
    if (a.p.gateway_url == NULL || a.p.pg_conninfo == NULL || okno_cli_clock(&a.p.clock) != 0) {
        fprintf(stderr,
                "okno %s: name the gateway and PostgreSQL (--gateway, --pg or "
                "OKNO_GATEWAY_URL, OKNO_PG_CONNINFO) and a valid OKNO_CLOCK__SPEED "
                "and OKNO_CLOCK__ORIGIN_MS\n",
                name);
        return OKNO_EXIT_USAGE;
    }
    struct progress p = {.tty = isatty(STDERR_FILENO)};
    char err[DEMO_ERR_BYTES];
    if (a.progress && okno_pg_connect(a.p.pg_conninfo, &p.conn, err, sizeof(err)) != 0) {
        fprintf(stderr, "okno %s: %s\n", name, err);
        return OKNO_EXIT_FAILURE;
    }
    okno_people_totals t;
    rc = okno_people_run(&a.p, a.progress ? on_progress : NULL, &p, &t);
    if (p.conn != NULL)
        PQfinish(p.conn);
    if (rc != 0)
        return OKNO_EXIT_FAILURE;
    print_totals(&t);
    return OKNO_EXIT_OK;
}

int okno_cli_demo(int argc, char **argv)
{
    return run(argc, argv, "demo");
}

int okno_cli_load_via_gateway(int argc, char **argv)
{
    return run(argc, argv, "load");
}
