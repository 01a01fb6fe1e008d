/* The workflow's rules as a markdown table, generated from the guard table the core runs
 * (`okno workflow --table`; docs/workflow-table.md is its output, kept fresh by a test). */
#ifndef OKNO_WORKFLOW_TABLE_H
#define OKNO_WORKFLOW_TABLE_H

#include <stdio.h>

/* Write the table to out (borrowed, not closed). Returns 0, or OKNO_EIO if writing failed. */
int okno_workflow_table_print(FILE *out);

/* Every reason code of okno.rejections.v1 (from okno_refusal_code_info): a markdown table of
 * code, whose requests it can refuse, meaning and the Russian text shown (`okno workflow
 * --reasons`). Returns 0, or OKNO_EIO. */
int okno_workflow_reasons_print(FILE *out);

/* The same list as the doc of Rejection.reason_code in schemas/Rejection.avsc, which a test
 * keeps equal to it (`okno workflow --reasons-doc`; schemas/update_reason_doc.py writes it). */
int okno_workflow_reasons_doc(FILE *out);

#endif
