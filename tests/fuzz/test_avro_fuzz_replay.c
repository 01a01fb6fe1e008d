/* Replays tests/fuzz/corpus through the fuzz target's entry point in every normal build, so the
 * seeds and any committed crash reproducers run in CI without libFuzzer. valid-* files must
 * decode, bad-* files must be refused; any other file (e.g. a minimized crash) must not crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>

#include "../unit/avro/avro_samples.h"
#include "fuzz_entry.h"
#include "okno/avro.h"
#include "okno/error.h"

/* Corpus files are records: none may exceed the cap by more than a little slack. */
#define CORPUS_FILE_BYTES_MAX (2 * OKNO_AVRO_RECORD_BYTES_MAX)

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(CORPUS_FILE_BYTES_MAX);
    *len = fread(buf, 1, CORPUS_FILE_BYTES_MAX, f);
    fclose(f);
    return buf;
}

static void corpus_replays_with_expected_outcomes(void **state)
{
    (void)state;
    char dir[512];
    DIR *d = okno_test_open_source_dir("tests/fuzz/corpus", dir, sizeof dir);
    assert_non_null(d);
    int valid = 0, old = 0, bad = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.') {
            continue;
        }
        char path[1024];
        snprintf(path, sizeof(path), "%s/%.500s", dir, ent->d_name);
        size_t len;
        uint8_t *buf = read_all(path, &len);
        int rc = okno_fuzz_decode_one(buf, len);
        if (strncmp(ent->d_name, "valid-v1-", 9) == 0 ||
            strncmp(ent->d_name, "valid-v2-", 9) == 0 ||
            strncmp(ent->d_name, "valid-v3-", 9) == 0) {
            /* Kept from before v2 (v3, v4 for events; v3 for requests): records of an older
             * released version decode too. */
            if (rc != 0) {
                fail_msg("%s (an older version's record) does not decode", ent->d_name);
            }
            old++;
        } else if (strncmp(ent->d_name, "valid-", 6) == 0) {
            if (rc != 0) {
                fail_msg("%s does not decode (regenerate the corpus after a schema change)",
                         ent->d_name);
            }
            valid++;
        } else if (strncmp(ent->d_name, "bad-", 4) == 0) {
            if (rc != OKNO_EDECODE) {
                fail_msg("%s was not refused", ent->d_name);
            }
            bad++;
        }
        free(buf);
    }
    closedir(d);
    okno_fuzz_close();
    /* 18 actions, 23 event types, 3 single-record topics */
    assert_int_equal(valid, 18 + 23 + 3);
    assert_true(old >= 5);
    assert_true(bad >= 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(corpus_replays_with_expected_outcomes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
