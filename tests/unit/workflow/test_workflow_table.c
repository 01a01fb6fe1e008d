/* docs/workflow-table.md is exactly what the guard table generates, so it cannot go stale. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "okno/workflow_table.h"

#define DOC_BYTES_MAX (1 << 20) /* the doc is a few KiB; refuse to read anything absurd */

static char *generated(size_t *len)
{
    char *buf = NULL;
    FILE *mem = open_memstream(&buf, len);
    assert_non_null(mem);
    assert_int_equal(okno_workflow_table_print(mem), 0);
    assert_int_equal(fclose(mem), 0);
    return buf;
}

static char *doc_read(size_t *len)
{
    const char *src = getenv("OKNO_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/workflow-table.md", src);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = malloc(DOC_BYTES_MAX);
    assert_non_null(buf);
    *len = fread(buf, 1, DOC_BYTES_MAX, f);
    fclose(f);
    return buf;
}

static void doc_matches_the_generated_table(void **state)
{
    (void)state;
    size_t glen = 0, dlen = 0;
    char *g = generated(&glen);
    char *d = doc_read(&dlen);
    if (glen != dlen || memcmp(g, d, glen) != 0)
        fail_msg("docs/workflow-table.md is stale; regenerate it with "
                 "build/tests/unit/workflow/workflow_table_print > docs/workflow-table.md");
    free(g);
    free(d);
}

static void table_names_every_action(void **state)
{
    (void)state;
    size_t len = 0;
    char *g = generated(&len);
    assert_non_null(strstr(g, "| `delegate_approval` |"));
    assert_non_null(strstr(g, "| `submit` |"));
    assert_non_null(strstr(g, "| `sla_signal` |"));
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doc_matches_the_generated_table),
        cmocka_unit_test(table_names_every_action),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
