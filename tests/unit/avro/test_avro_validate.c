/* The validator refuses every kind of malformed body before a decoder could trust it, and
 * accepts well-formed ones; refusals are OKNO_EDECODE with a reason and an offset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "okno/avro.h"
#include "okno/error.h"

static const char *const wide_schema =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"a\",\"type\":\"long\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\",\"Y\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"int\"]},"
    "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"n\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}";

/* a=1, s="hé", b=true, e=Y, u=int 5, arr=[3,4] as one negative-count block with its size,
 * m={"k":"v"}, f="ab", d=0.0, n=[null,null] */
static const uint8_t good[] = {
    0x02,                                     /* a = 1 */
    0x06, 'h',  0xc3, 0xa9,                   /* s = "hé" */
    0x01,                                     /* b */
    0x02,                                     /* e = Y */
    0x02, 0x0a,                               /* u = branch 1, int 5 */
    0x03, 0x04, 0x06, 0x08, 0x00,             /* arr: count -2, 2 bytes, 3, 4, end */
    0x02, 0x02, 'k',  0x02, 'v',  0x00,       /* m */
    'a',  'b',                                /* f */
    0,    0,    0,    0,    0,    0,    0, 0, /* d */
    0x04, 0x00,                               /* n: two nulls, end */
};

static okno_avro_schema *parse(const char *json)
{
    okno_avro_schema *s = NULL;
    assert_int_equal(okno_avro_schema_parse(json, strlen(json), &s, NULL), 0);
    return s;
}

static void expect_refusal(const okno_avro_schema *s, const uint8_t *body, size_t len,
                           const char *reason)
{
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_validate(s, body, len, &err), OKNO_EDECODE);
    if (strstr(err.reason, reason) == NULL) {
        fail_msg("expected '%s', got '%s' at %zu", reason, err.reason, err.offset);
    }
    assert_true(err.offset <= len);
}

/* Replaces bytes [at, at+old_len) of good with repl and checks the refusal. */
static void expect_patched_refusal(const okno_avro_schema *s, size_t at, size_t old_len,
                                   const uint8_t *repl, size_t repl_len, const char *reason)
{
    uint8_t body[128];
    memcpy(body, good, at);
    memcpy(body + at, repl, repl_len);
    memcpy(body + at + repl_len, good + at + old_len, sizeof(good) - at - old_len);
    expect_refusal(s, body, sizeof(good) - old_len + repl_len, reason);
}

static void well_formed_body_is_accepted(void **state)
{
    (void)state;
    okno_avro_schema *s = parse(wide_schema);
    okno_avro_error err = {0};
    assert_int_equal(okno_avro_validate(s, good, sizeof(good), &err), 0);
    okno_avro_schema_free(s);
}

static void every_truncation_is_refused(void **state)
{
    (void)state;
    okno_avro_schema *s = parse(wide_schema);
    for (size_t len = 0; len < sizeof(good); len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size, so ASan sees any overread */
        memcpy(copy, good, len);
        assert_int_equal(okno_avro_validate(s, copy, len, NULL), OKNO_EDECODE);
        free(copy);
    }
    okno_avro_schema_free(s);
}

static void trailing_bytes_are_refused(void **state)
{
    (void)state;
    okno_avro_schema *s = parse(wide_schema);
    uint8_t body[sizeof(good) + 1];
    memcpy(body, good, sizeof(good));
    body[sizeof(good)] = 0;
    expect_refusal(s, body, sizeof(body), "trailing");
    okno_avro_schema_free(s);
}

static void malformed_scalars_are_refused(void **state)
{
    (void)state;
    okno_avro_schema *s = parse(wide_schema);
    static const uint8_t long11[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t long_ovf[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
    static const uint8_t huge_len[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}; /* 2^41/2 */
    static const uint8_t neg_len[] = {0x01};
    static const uint8_t bad_utf8[] = {0x06, 'h', 0xc3, 0x28};
    static const uint8_t surrogate[] = {0x06, 0xed, 0xa0, 0x80};
    static const uint8_t two[] = {0x02};
    static const uint8_t enum2[] = {0x04};
    static const uint8_t union5[] = {0x0a, 0x0a};
    static const uint8_t int_big[] = {0x02, 0x80, 0x80, 0x80, 0x80, 0x10}; /* 2^31 zig-zag */
    expect_patched_refusal(s, 0, 1, long11, sizeof(long11), "varint");
    expect_patched_refusal(s, 0, 1, long_ovf, sizeof(long_ovf), "overflows 64 bits");
    expect_patched_refusal(s, 1, 4, huge_len, sizeof(huge_len), "length exceeds");
    expect_patched_refusal(s, 1, 4, neg_len, sizeof(neg_len), "negative length");
    expect_patched_refusal(s, 1, 4, bad_utf8, sizeof(bad_utf8), "UTF-8");
    expect_patched_refusal(s, 1, 4, surrogate, sizeof(surrogate), "UTF-8");
    expect_patched_refusal(s, 5, 1, two, sizeof(two), "boolean");
    expect_patched_refusal(s, 6, 1, enum2, sizeof(enum2), "enum index");
    expect_patched_refusal(s, 7, 2, union5, sizeof(union5), "union index");
    expect_patched_refusal(s, 7, 2, int_big, sizeof(int_big), "int");
    okno_avro_schema_free(s);
}

static void lying_block_counts_are_refused(void **state)
{
    (void)state;
    okno_avro_schema *s = parse(wide_schema);
    /* arr starts at 9 (5 bytes); n starts at 30 (2 bytes) */
    static const uint8_t many[] = {0xd0, 0x0f, 0x06, 0x00};           /* 1000 items in 2 bytes */
    static const uint8_t size_lie[] = {0x03, 0x02, 0x06, 0x08, 0x00}; /* size 1, 2 items */
    static const uint8_t size_huge[] = {0x03, 0xfe, 0x01, 0x06, 0x08, 0x00};
    static const uint8_t min64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t nulls[] = {0xe0, 0xa2, 0x08, 0x00}; /* 70000 nulls: zero bytes each */
    expect_patched_refusal(s, 9, 5, many, sizeof(many), "block count exceeds");
    expect_patched_refusal(s, 9, 5, size_lie, sizeof(size_lie), "block byte size");
    expect_patched_refusal(s, 9, 5, size_huge, sizeof(size_huge), "block byte size");
    expect_patched_refusal(s, 9, 5, min64, sizeof(min64), "block count out of range");
    expect_patched_refusal(s, 30, 2, nulls, sizeof(nulls), "OKNO_AVRO_ITEMS_MAX");
    okno_avro_schema_free(s);
}

static void ten_bytes_asking_for_gigabytes_are_refused(void **state)
{
    (void)state;
    okno_avro_schema *s = parse("\"string\"");
    static const uint8_t body[] = {0x80, 0x80, 0x80, 0x80, 0x10, 'a', 'b', 'c', 'd', 'e'};
    expect_refusal(s, body, sizeof(body), "length exceeds");
    okno_avro_schema_free(s);
}

static void records_over_the_size_cap_are_refused(void **state)
{
    (void)state;
    okno_avro_schema *s = parse("\"bytes\"");
    size_t len = OKNO_AVRO_RECORD_BYTES_MAX + 1;
    uint8_t *body = calloc(1, len);
    expect_refusal(s, body, len, "OKNO_AVRO_RECORD_BYTES_MAX");
    free(body);
    okno_avro_schema_free(s);
}

static void nesting_beyond_the_depth_cap_is_refused(void **state)
{
    (void)state;
    okno_avro_schema *s = parse("{\"type\":\"record\",\"name\":\"N\",\"fields\":"
                                "[{\"name\":\"next\",\"type\":[\"null\",\"N\"]}]}");
    uint8_t body[64];
    memset(body, 0x02, sizeof(body)); /* branch N, again and again */
    body[sizeof(body) - 1] = 0x00;    /* then null */
    expect_refusal(s, body, sizeof(body), "deeper");
    /* a shallow chain is fine */
    assert_int_equal(okno_avro_validate(s, body + sizeof(body) - 5, 5, NULL), 0);
    okno_avro_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_body_is_accepted),
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(trailing_bytes_are_refused),
        cmocka_unit_test(malformed_scalars_are_refused),
        cmocka_unit_test(lying_block_counts_are_refused),
        cmocka_unit_test(ten_bytes_asking_for_gigabytes_are_refused),
        cmocka_unit_test(records_over_the_size_cap_are_refused),
        cmocka_unit_test(nesting_beyond_the_depth_cap_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
