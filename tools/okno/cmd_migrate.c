/* `okno migrate`: apply deploy/migrations to the database, each file once. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "okno/pg.h"

static void migrate_usage(FILE *out)
{
    fprintf(out, "usage: okno migrate [--pg CONNINFO] [--dir DIR]\n"
                 "  --pg   libpq conninfo of a role that may change the schema\n"
                 "         (default: $OKNO_PG_ADMIN_CONNINFO)\n"
                 "  --dir  folder of NNNN_name.sql files (default: " OKNO_MIGRATIONS_DIR ")\n");
}

int okno_cli_migrate(int argc, char **argv)
{
    const char *conninfo = okno_cli_env("OKNO_PG_ADMIN_CONNINFO", NULL);
    const char *dir = OKNO_MIGRATIONS_DIR;
    static const struct option opts[] = {
        {"pg", required_argument, NULL, 'p'},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'p')
            conninfo = optarg;
        else if (c == 'd')
            dir = optarg;
        else {
            migrate_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
        }
    }
    if (conninfo == NULL) {
        fprintf(stderr, "okno migrate: no database given (--pg or $OKNO_PG_ADMIN_CONNINFO)\n");
        return OKNO_EXIT_USAGE;
    }
    char err[OKNO_PG_ERRBUF_BYTES];
    PGconn *conn;
    if (okno_pg_connect(conninfo, &conn, err, sizeof err) != 0) {
        fprintf(stderr, "okno migrate: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    okno_pg_migrate_stats st;
    int rc = okno_pg_migrate(conn, dir, &st, err, sizeof err);
    PQfinish(conn);
    if (rc != 0) {
        fprintf(stderr, "okno migrate: %s\n", err);
        return OKNO_EXIT_FAILURE;
    }
    printf("okno migrate: %d applied, %d already applied\n", st.applied, st.skipped);
    return OKNO_EXIT_OK;
}
