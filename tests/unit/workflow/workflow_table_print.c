/* Prints the generated workflow table to stdout, to regenerate docs/workflow-table.md:
 *   build/tests/unit/workflow/workflow_table_print > docs/workflow-table.md
 * (the okno CLI's `okno workflow --table` calls the same function). */
#include <stdio.h>

#include "okno/workflow_table.h"

int main(void)
{
    return okno_workflow_table_print(stdout) == 0 ? 0 : 1;
}
