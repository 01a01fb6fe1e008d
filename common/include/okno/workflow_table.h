/* The workflow's rules as a markdown table, generated from the guard table the core runs
 * (`okno workflow --table`; docs/workflow-table.md is its output, kept fresh by a test). */
#ifndef OKNO_WORKFLOW_TABLE_H
#define OKNO_WORKFLOW_TABLE_H

#include <stdio.h>

/* Write the table to out (borrowed, not closed). Returns 0, or OKNO_EIO if writing failed. */
int okno_workflow_table_print(FILE *out);

#endif
