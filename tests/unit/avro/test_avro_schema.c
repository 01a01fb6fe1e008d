/* Parsing Canonical Form and CRC-64-AVRO fingerprints agree with the Avro specification's vectors,
 * and invalid schema documents are refused with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "okno/avro.h"
#include "okno/error.h"

/* From the Avro project's share/test/data/schema-tests.txt (fingerprints as signed longs, the
 * way Java prints them); has_fp is 0 where the file gives no fingerprint. */
static const struct {
    const char *input;
    const char *canonical;
    int has_fp;
    int64_t fp;
} vectors[] = {
    {"\"null\"", "\"null\"", 1, 7195948357588979594},
    {"{\"type\":\"null\"}", "\"null\"", 0, 0},
    {"\"boolean\"", "\"boolean\"", 1, -6970731678124411036},
    {"\"int\"", "\"int\"", 1, 8247732601305521295},
    {"{\"type\":\"int\"}", "\"int\"", 0, 0},
    {"\"long\"", "\"long\"", 1, -3434872931120570953},
    {"\"float\"", "\"float\"", 1, 5583340709985441680},
    {"\"double\"", "\"double\"", 1, -8181574048448539266},
    {"\"bytes\"", "\"bytes\"", 1, 5746618253357095269},
    {"\"string\"", "\"string\"", 1, -8142146995180207161},
    {"[  ]", "[]", 1, -1241056759729112623},
    {"[ \"int\"  ]", "[\"int\"]", 1, -5232228896498058493},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]", 1, 5392556393470105090},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", 1, -4824392279771201922},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}", 1, 5916914534497305771},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}", 1, -4616218487480524110},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"Useful info\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", 1, -4824392279771201922},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", 1, -4824392279771201922},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], \"type\":\"record\", "
     "\"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"}]}",
     1, 7843277075252814651},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", \"default\":true},\n"
     "  {\"order\":\"descending\",\"name\":\"f2\",\"doc\":\"Hello\",\"type\":\"int\"}],\n"
     "  \"type\":\"record\", \"name\":\"foo\"\n}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"},"
     "{\"name\":\"f2\",\"type\":\"int\"}]}",
     1, -4860222112080293046},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}", 1, -6342190197741309591},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}", 1,
     -4448647247586288245},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}", 1, 1756455273707447556},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}", 1, -3064184465700546786},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", 1, -589620603366471059},
    {"{ \"values\":\"string\", \"type\":\"map\"}", "{\"type\":\"map\",\"values\":\"string\"}", 1,
     -8732877298790414990},
    {"{\"name\":\"PigValue\",\"type\":\"record\",\n"
     " \"fields\":[{\"name\":\"value\", \"type\":[\"null\", \"int\", \"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":"
     "[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     1, -1759257747318642341},
};

static okno_avro_schema *parse_ok(const char *json)
{
    okno_avro_schema *s = NULL;
    okno_avro_error err = {0};
    int rc = okno_avro_schema_parse(json, strlen(json), &s, &err);
    if (rc != 0) {
        fail_msg("parse failed for %s: %s", json, err.reason);
    }
    return s;
}

static void fingerprint_of_int_and_string_match_the_spec(void **state)
{
    (void)state;
    assert_true(okno_avro_fingerprint64("\"int\"", 5) == UINT64_C(0x7275d51a3f395c8f));
    assert_true(okno_avro_fingerprint64("\"string\"", 8) == UINT64_C(0x8f014872634503c7));
}

static void canonical_form_and_fingerprint_match_spec_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        okno_avro_schema *s = parse_ok(vectors[i].input);
        size_t len;
        const char *pcf = okno_avro_schema_canonical(s, &len);
        assert_string_equal(pcf, vectors[i].canonical);
        assert_int_equal(len, strlen(vectors[i].canonical));
        if (vectors[i].has_fp) {
            assert_true(okno_avro_schema_fingerprint(s) == (uint64_t)vectors[i].fp);
        }
        okno_avro_schema_free(s);
    }
}

static void canonical_form_strips_logical_types_and_resolves_nested_namespaces(void **state)
{
    (void)state;
    okno_avro_schema *s = parse_ok(
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"doc\":\"d\",\"fields\":["
        "{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
        "{\"name\":\"id\",\"type\":{\"type\":\"fixed\",\"name\":\"Id\",\"size\":16}},"
        "{\"name\":\"id2\",\"type\":\"Id\"},"
        "{\"name\":\"o\",\"type\":{\"type\":\"enum\",\"name\":\"c.E\",\"symbols\":[\"X\"]}},"
        "{\"name\":\"o2\",\"type\":[\"null\",\"c.E\"],\"default\":null}]}");
    assert_string_equal(okno_avro_schema_canonical(s, NULL),
                        "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
                        "{\"name\":\"t\",\"type\":\"long\"},"
                        "{\"name\":\"id\",\"type\":{\"name\":\"a.b.Id\",\"type\":\"fixed\","
                        "\"size\":16}},"
                        "{\"name\":\"id2\",\"type\":\"a.b.Id\"},"
                        "{\"name\":\"o\",\"type\":{\"name\":\"c.E\",\"type\":\"enum\","
                        "\"symbols\":[\"X\"]}},"
                        "{\"name\":\"o2\",\"type\":[\"null\",\"c.E\"]}]}");
    assert_string_equal(okno_avro_schema_name(s), "a.b.R");
    okno_avro_schema_free(s);
}

static void invalid_schemas_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{\"type\":\"record\",\"name\":\"1x\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\"}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
        "{\"name\":\"a\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Nope\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
        "\"default\":\"x\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\","
        "\"int\"],\"default\":1}]}",
        "[\"int\",[\"long\"]]",
        "[\"int\",\"int\"]",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
        "{\"type\":\"array\"}",
        "{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}",
        "[{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]},"
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"B\"]}]",
        "42",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        okno_avro_schema *s = (okno_avro_schema *)1;
        okno_avro_error err = {0};
        int rc = okno_avro_schema_parse(bad[i], strlen(bad[i]), &s, &err);
        if (rc != OKNO_EINVAL) {
            fail_msg("accepted bad schema %zu: %s", i, bad[i]);
        }
        assert_null(s);
        assert_true(err.reason[0] != '\0');
    }
}

static void deeply_nested_schema_is_refused_not_overflowed(void **state)
{
    (void)state;
    static char json[8192];
    json[0] = 0;
    for (int i = 0; i < 200; i++) {
        strcat(json, "{\"type\":\"array\",\"items\":");
    }
    strcat(json, "\"int\"");
    for (int i = 0; i < 200; i++) {
        strcat(json, "}");
    }
    okno_avro_schema *s;
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_schema_parse(json, strlen(json), &s, &err), OKNO_EINVAL);
    assert_non_null(strstr(err.reason, "deeper"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fingerprint_of_int_and_string_match_the_spec),
        cmocka_unit_test(canonical_form_and_fingerprint_match_spec_vectors),
        cmocka_unit_test(canonical_form_strips_logical_types_and_resolves_nested_namespaces),
        cmocka_unit_test(invalid_schemas_are_refused_with_a_reason),
        cmocka_unit_test(deeply_nested_schema_is_refused_not_overflowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
