/* The okno operator CLI: one binary, one subcommand per operator task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const okno_cli_command commands[] = {
    {"migrate", "apply the numbered SQL migrations that are not applied yet", okno_cli_migrate},
    {"topics", "create okno's Kafka topics that do not exist yet", okno_cli_topics},
    {"load", "produce a generated workload of transition requests", okno_cli_load},
    {"workflow", "print the transition table (--table) or the reason codes (--reasons)",
     okno_cli_workflow},
    {"verify",
     "check the event log's hash chains, stream heads and checkpoints (--anchors: against the "
     "signed checkpoints on Kafka)",
     okno_cli_verify},
    {"anchor", "make the key pair that signs the published checkpoints (keygen --dir DIR)",
     okno_cli_anchor},
    {"replay", "rebuild the read models from the event log and swap them in", okno_cli_replay},
    {"republish", "publish the event log again from a position or time, as okno.events.v1 has it",
     okno_cli_republish},
    {"audit", "print one message's history and verify its hash chain", okno_cli_audit},
    {"token", "make a signing key (keygen) or sign an access token (issue --user U)",
     okno_cli_token},
    {"report", "the curator's daily lists and weekly summary for an org tree", okno_cli_report},
    {"demo", "simulated people work through the gateway on the services' clock", okno_cli_demo},
    {"directory", "the org directory: generate (demo), show and change it as an org admin",
     okno_cli_directory},
    {"fault", "submit a fault request to the situation center, or list them", okno_cli_fault},
};
#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

int okno_cli_timestamp_ms(PGconn *conn, const char *text, int64_t *ms, const char *what)
{
    const char *params[1] = {text};
    PGresult *res =
        PQexecParams(conn, "select floor(extract(epoch from $1::timestamptz) * 1000)::bigint", 1,
                     NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc == 0)
        *ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        fprintf(stderr, "okno %s: %s", what, PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

const char *okno_cli_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

int okno_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "okno: '%s' is not a whole number in %lld..%lld\n", s, (long long)min,
                (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int okno_cli_clock(okno_clock *c)
{
    int64_t speed = 1, origin = 0;
    if (okno_cli_parse_i64(okno_cli_env("OKNO_CLOCK__SPEED", "1"), 1, OKNO_CLOCK_SPEED_MAX,
                           &speed) != 0 ||
        okno_cli_parse_i64(okno_cli_env("OKNO_CLOCK__ORIGIN_MS", "0"), 0, INT64_MAX, &origin) != 0)
        return -1;
    if (speed == 1) {
        okno_clock_init_system(c);
        return 0;
    }
    return okno_clock_init_scaled(c, speed, origin);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: okno COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`okno COMMAND --help` describes a command's arguments.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? OKNO_EXIT_USAGE : OKNO_EXIT_OK;
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "okno: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return OKNO_EXIT_USAGE;
}
