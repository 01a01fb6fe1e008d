/* `okno workflow --table`: the transition table, generated from the workflow core's guards. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "okno/workflow_table.h"

int okno_cli_workflow(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--table") == 0)
        return okno_workflow_table_print(stdout) == 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
    FILE *out = argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
    fprintf(out, "usage: okno workflow --table\n"
                 "  prints, for each stage and action, who may act, what it requires and where\n"
                 "  it leads (markdown; docs/workflow-table.md is a copy a test keeps fresh)\n");
    return out == stdout ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
}
