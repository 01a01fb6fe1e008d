/* `okno workflow --table | --reasons | --reasons-doc`: the transition table and the reason
 * codes, generated from the workflow core's guards and names. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "okno/workflow_table.h"

int okno_cli_workflow(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--table") == 0)
        return okno_workflow_table_print(stdout) == 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
    if (argc == 2 && strcmp(argv[1], "--reasons") == 0)
        return okno_workflow_reasons_print(stdout) == 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
    if (argc == 2 && strcmp(argv[1], "--reasons-doc") == 0)
        return okno_workflow_reasons_doc(stdout) == 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
    FILE *out = argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
    fprintf(out, "usage: okno workflow --table | --reasons | --reasons-doc\n"
                 "  --table        for each stage and action, who may act, what it requires and\n"
                 "                 where it leads (markdown; docs/workflow-table.md is a copy a\n"
                 "                 test keeps fresh)\n"
                 "  --reasons      every reason code of okno.rejections.v1: whose requests it can\n"
                 "                 refuse, its meaning and the Russian text shown (markdown)\n"
                 "  --reasons-doc  the same list as the doc of Rejection.reason_code (plain text;\n"
                 "                 schemas/update_reason_doc.py writes it into the schema)\n");
    return out == stdout ? OKNO_EXIT_OK : OKNO_EXIT_USAGE;
}
