/* The okno CLI's subcommands: each takes argc/argv after its own name and returns an exit code. */
#ifndef OKNO_CLI_H
#define OKNO_CLI_H

#include <stdint.h>

#include <libpq-fe.h>

#include "okno/error.h" /* OKNO_EXIT_*, the exit codes of every subcommand */

typedef struct okno_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} okno_cli_command;

int okno_cli_migrate(int argc, char **argv);
int okno_cli_topics(int argc, char **argv);
int okno_cli_load(int argc, char **argv);
int okno_cli_workflow(int argc, char **argv);
int okno_cli_verify(int argc, char **argv);
int okno_cli_replay(int argc, char **argv);
int okno_cli_audit(int argc, char **argv);
int okno_cli_report(int argc, char **argv);

/* A timestamp in any of PostgreSQL's timestamptz input forms, read by PostgreSQL on conn, as
 * Unix ms (rounded down). On failure prints "okno WHAT: ..." and returns -1. */
int okno_cli_timestamp_ms(PGconn *conn, const char *text, int64_t *ms, const char *what);

/* The value of environment variable name, or fallback when it is unset or empty. */
const char *okno_cli_env(const char *name, const char *fallback);

#endif
