/* The compatibility checker follows Avro's schema resolution rules on positive and negative
 * pairs, and every current schema reads data written with each released version in history/. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <avro.h>
#include <dirent.h>

#include "avro_samples.h"
#include "okno/avro.h"
#include "okno/error.h"

/* Released versions kept per schema; history/<Name>/v1.avsc .. vN.avsc. */
#define HISTORY_VERSIONS_MAX 100

#define REC(fields)              "{\"type\":\"record\",\"name\":\"R\",\"fields\":[" fields "]}"
#define FLD(name, type)          "{\"name\":\"" name "\",\"type\":" type "}"
#define FLD_DEF(name, type, def) "{\"name\":\"" name "\",\"type\":" type ",\"default\":" def "}"
#define ENUM(symbols)            "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[" symbols "]}"

static const struct {
    const char *reader;
    const char *writer;
    const char *refusal; /* NULL: compatible */
} pairs[] = {
    {REC(FLD("a", "\"int\"")), REC(FLD("a", "\"int\"")), NULL},
    {REC(FLD("a", "\"int\"") "," FLD_DEF("b", "\"string\"", "\"x\"")), REC(FLD("a", "\"int\"")),
     NULL},
    {REC(FLD("a", "\"int\"") "," FLD_DEF("b", "[\"null\",\"long\"]", "null")),
     REC(FLD("a", "\"int\"")), NULL},
    {REC(FLD("a", "\"int\"")), REC(FLD("a", "\"int\"") "," FLD("gone", "\"string\"")), NULL},
    {REC(FLD("a", "\"long\"")), REC(FLD("a", "\"int\"")), NULL},
    {"\"double\"", "\"float\"", NULL},
    {"\"double\"", "\"long\"", NULL},
    {"\"bytes\"", "\"string\"", NULL},
    {"\"string\"", "\"bytes\"", NULL},
    {ENUM("\"A\",\"B\",\"C\""), ENUM("\"A\",\"B\""), NULL},
    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"Z\"],\"default\":\"Z\"}",
     ENUM("\"A\",\"B\""), NULL},
    {"[\"null\",\"int\",\"string\"]", "[\"null\",\"int\"]", NULL},
    {"[\"null\",\"int\"]", "\"int\"", NULL},
    {"[\"null\",\"long\"]", "[\"null\",\"int\"]", NULL},
    {"{\"type\":\"array\",\"items\":\"long\"}", "{\"type\":\"array\",\"items\":\"int\"}", NULL},
    {"{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
     "\"L\"]}]}",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"next\",\"type\":[\"null\","
     "\"L\"]}]}",
     NULL},
    /* negative */
    {REC(FLD("a", "\"int\"") "," FLD("b", "\"string\"")), REC(FLD("a", "\"int\"")),
     "R.b: field added without a default"},
    {REC(FLD("a", "\"int\"")), REC(FLD("a", "\"long\"")), "R.a: int cannot read written long"},
    {REC(FLD("a", "\"int\"")), REC(FLD("a", "\"string\"")), "cannot read"},
    {ENUM("\"A\""), ENUM("\"A\",\"B\""), "enum symbol 'B' missing"},
    {"[\"null\",\"int\"]", "[\"null\",\"int\",\"string\"]", "[string]: reader union has no branch"},
    {"\"int\"", "[\"null\",\"int\"]", "[null]"},
    {"{\"type\":\"record\",\"name\":\"S\",\"fields\":[]}", REC(""), "S cannot read written R"},
    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}",
     "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}", "fixed size"},
    {"{\"type\":\"map\",\"values\":\"int\"}", "{\"type\":\"map\",\"values\":\"double\"}",
     "cannot read"},
};

static okno_avro_schema *parse(const char *json)
{
    okno_avro_schema *s = NULL;
    okno_avro_error err = {0};
    if (okno_avro_schema_parse(json, strlen(json), &s, &err) != 0) {
        fail_msg("parse %s: %s", json, err.reason);
    }
    return s;
}

static void resolution_rules_hold_on_known_pairs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        okno_avro_schema *r = parse(pairs[i].reader);
        okno_avro_schema *w = parse(pairs[i].writer);
        okno_avro_error err = {0};
        int rc = okno_avro_schema_compatible(r, w, &err);
        if (pairs[i].refusal == NULL && rc != 0) {
            fail_msg("pair %zu should be compatible: %s", i, err.reason);
        }
        if (pairs[i].refusal != NULL &&
            (rc != OKNO_EINVAL || strstr(err.reason, pairs[i].refusal) == NULL)) {
            fail_msg("pair %zu: expected '%s', got rc %d '%s'", i, pairs[i].refusal, rc,
                     err.reason);
        }
        okno_avro_schema_free(r);
        okno_avro_schema_free(w);
    }
}

/* Why we do not rely on avro-c 1.11.1: avro_schema_match() is both too strict (its resolver
 * knows no field defaults, so it refuses a field added with one) and too lax (it accepts a union
 * that lost a branch and an enum that lost a symbol without a default). */
static const struct {
    const char *reader;
    const char *writer;
    int avro_c_match; /* what avro_schema_match(writer, reader) says */
    int compatible;   /* what the specification says */
} avro_c_cases[] = {
    {REC(FLD("a", "\"int\"") "," FLD_DEF("b", "\"string\"", "\"x\"")), REC(FLD("a", "\"int\"")), 0,
     1},
    {REC(FLD("u", "[\"null\",\"int\"]")), REC(FLD("u", "[\"null\",\"int\",\"string\"]")), 1, 0},
    {ENUM("\"A\""), ENUM("\"A\",\"B\""), 1, 0},
};

static void avro_schema_match_is_not_schema_resolution(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(avro_c_cases) / sizeof(avro_c_cases[0]); i++) {
        const char *reader = avro_c_cases[i].reader, *writer = avro_c_cases[i].writer;
        avro_schema_t r, w;
        assert_int_equal(avro_schema_from_json_length(reader, strlen(reader), &r), 0);
        assert_int_equal(avro_schema_from_json_length(writer, strlen(writer), &w), 0);
        assert_int_equal(avro_schema_match(w, r), avro_c_cases[i].avro_c_match);
        avro_schema_decref(r);
        avro_schema_decref(w);
        okno_avro_schema *ours_r = parse(reader);
        okno_avro_schema *ours_w = parse(writer);
        assert_int_equal(okno_avro_schema_compatible(ours_r, ours_w, NULL),
                         avro_c_cases[i].compatible ? 0 : OKNO_EINVAL);
        okno_avro_schema_free(ours_r);
        okno_avro_schema_free(ours_w);
    }
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static okno_avro_schema *parse_file(const char *path)
{
    size_t len = 0;
    char *json = read_file(path, &len);
    if (json == NULL) {
        fail_msg("cannot read %s", path);
    }
    okno_avro_schema *s = NULL;
    okno_avro_error err = {0};
    if (okno_avro_schema_parse(json, len, &s, &err) != 0) {
        fail_msg("%s: %s", path, err.reason);
    }
    free(json);
    return s;
}

/* Checks one schema against every released version; returns the highest version number. */
static int check_history(const char *dir, const char *name, const okno_avro_schema *current,
                         okno_avro_schema **latest)
{
    int highest = 0;
    for (int v = 1; v <= HISTORY_VERSIONS_MAX; v++) {
        char path[1024];
        snprintf(path, sizeof(path), "%.400s/history/%.200s/v%d.avsc", dir, name, v);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            break;
        }
        fclose(f);
        okno_avro_schema *old = parse_file(path);
        okno_avro_error err = {0};
        if (okno_avro_schema_compatible(current, old, &err) != 0) {
            fail_msg("schemas/%s.avsc cannot read data written with %s: %s", name, path,
                     err.reason);
        }
        okno_avro_schema_free(*latest);
        *latest = old;
        highest = v;
    }
    return highest;
}

static void current_schemas_read_every_released_version(void **state)
{
    (void)state;
    char dir[420];
    DIR *d = okno_test_open_source_dir("schemas", dir, sizeof dir);
    assert_non_null(d);
    struct dirent *ent;
    int checked = 0;
    while ((ent = readdir(d)) != NULL) {
        size_t n = strlen(ent->d_name);
        if (n < 6 || strcmp(ent->d_name + n - 5, ".avsc") != 0) {
            continue;
        }
        char name[256], path[700];
        snprintf(name, sizeof(name), "%.*s", (int)(n - 5), ent->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        okno_avro_schema *current = parse_file(path);
        okno_avro_schema *latest = NULL;
        int v = check_history(dir, name, current, &latest);
        if (v == 0) {
            fail_msg("schemas/%s.avsc has no released version in history/%s/", name, name);
        }
        /* A change to a released schema is a new version: copy it to history/<Name>/v<N+1>. */
        if (okno_avro_schema_fingerprint(latest) != okno_avro_schema_fingerprint(current)) {
            fail_msg("schemas/%s.avsc differs from history/%s/v%d.avsc: release it as v%d", name,
                     name, v, v + 1);
        }
        okno_avro_schema_free(latest);
        okno_avro_schema_free(current);
        checked++;
    }
    closedir(d);
    assert_int_equal(checked, OKNO_AVRO_TOPIC_COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolution_rules_hold_on_known_pairs),
        cmocka_unit_test(avro_schema_match_is_not_schema_resolution),
        cmocka_unit_test(current_schemas_read_every_released_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
