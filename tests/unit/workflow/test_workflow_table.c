/* docs/workflow-table.md is exactly what the guard table generates, so it cannot go stale. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "okno/workflow.h"
#include "okno/workflow_table.h"

#define DOC_BYTES_MAX (1 << 20) /* the doc is a few KiB; refuse to read anything absurd */

static char *generated_by(int (*print)(FILE *), size_t *len)
{
    char *buf = NULL;
    FILE *mem = open_memstream(&buf, len);
    assert_non_null(mem);
    assert_int_equal(print(mem), 0);
    assert_int_equal(fclose(mem), 0);
    return buf;
}

static char *generated(size_t *len)
{
    return generated_by(okno_workflow_table_print, len);
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

/* The reason codes are published with the schema: Rejection.reason_code's doc is exactly
 * what okno_refusal_code_info generates. */
static void rejection_schema_doc_lists_every_reason_code(void **state)
{
    (void)state;
    const char *src = getenv("OKNO_SOURCE_DIR");
    assert_non_null(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/schemas/Rejection.avsc", src);
    json_error_t jerr;
    json_t *schema = json_load_file(path, 0, &jerr);
    if (schema == NULL)
        fail_msg("cannot read %s: %s", path, jerr.text);
    const char *doc = NULL;
    size_t i;
    json_t *field;
    json_array_foreach(json_object_get(schema, "fields"), i, field)
    {
        if (strcmp(json_string_value(json_object_get(field, "name")), "reason_code") == 0)
            doc = json_string_value(json_object_get(field, "doc"));
    }
    assert_non_null(doc);
    size_t len = 0;
    char *g = generated_by(okno_workflow_reasons_doc, &len);
    if (strlen(doc) != len || memcmp(doc, g, len) != 0)
        fail_msg("the doc of Rejection.reason_code in schemas/Rejection.avsc is stale; "
                 "regenerate it with python3 schemas/update_reason_doc.py build/tools/okno/okno");
    for (int c = OKNO_REFUSAL_NONE + 1; c < OKNO_REFUSAL_COUNT; c++) {
        char line[128];
        snprintf(line, sizeof line, "\n%s (", okno_refusal_code_name((okno_refusal_code)c));
        assert_non_null(strstr(doc, line));
    }
    free(g);
    json_decref(schema);
}

/* Every code has a meaning and a Russian text, and `okno workflow --reasons` lists it. */
static void reasons_list_every_code_with_meaning_and_russian_text(void **state)
{
    (void)state;
    size_t len = 0;
    char *g = generated_by(okno_workflow_reasons_print, &len);
    for (int c = OKNO_REFUSAL_NONE + 1; c < OKNO_REFUSAL_COUNT; c++) {
        const okno_refusal_info *r = okno_refusal_code_info((okno_refusal_code)c);
        assert_non_null(r);
        assert_true(strlen(r->meaning) > 0);
        assert_true((unsigned char)r->text_ru[0] >= 0xd0); /* starts with a Cyrillic letter */
        char row[128];
        snprintf(row, sizeof row, "| `%s` |", r->name);
        assert_non_null(strstr(g, row));
        okno_refusal_code back;
        assert_int_equal(okno_refusal_code_parse(okno_str_c(r->name), &back), 0);
        assert_int_equal(back, c);
    }
    assert_null(okno_refusal_code_info(OKNO_REFUSAL_COUNT));
    assert_non_null(strstr(g, "| `wrong_partition` | applicant |"));
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doc_matches_the_generated_table),
        cmocka_unit_test(table_names_every_action),
        cmocka_unit_test(rejection_schema_doc_lists_every_reason_code),
        cmocka_unit_test(reasons_list_every_code_with_meaning_and_russian_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
