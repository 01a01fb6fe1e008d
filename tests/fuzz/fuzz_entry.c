/* The decode entry point shared by the libFuzzer target and the corpus replay test.
 *
 * Properties checked on every input:
 * - okno_avro_decode() never crashes or reads out of bounds, and returns 0 or OKNO_EDECODE;
 * - a record it accepts re-encodes, and that encoding decodes (with a decoder of its own, so
 *   the first record's text stays valid) to the same values;
 * - a body okno_avro_validate() accepts under any topic's schema is one avro-c reads without
 *   error, so the validator really is the guard that makes avro-c safe on hostile bytes. */
#include "fuzz_entry.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>

#include "avro/records.h"
#include "okno/avro.h"
#include "okno/error.h"

/* Room for re-encoding any record the decoder accepts (it accepted at most this much). */
#define FUZZ_REENCODE_BYTES (OKNO_AVRO_RECORD_BYTES_MAX + OKNO_AVRO_HEADER_BYTES)

static avro_value_iface_t *ifaces[OKNO_AVRO_TOPIC_COUNT];
static okno_avro_decoder redecoders[OKNO_AVRO_TOPIC_COUNT];
static uint8_t *reencoded;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz property broken: %s: %s\n", what, detail);
    abort();
}

static void init_once(void)
{
    if (reencoded != NULL) {
        return;
    }
    okno_avro_error err = {0};
    if (okno_avro_init(&err) != 0) {
        die("okno_avro_init", err.reason);
    }
    for (int t = 0; t < OKNO_AVRO_TOPIC_COUNT; t++) {
        size_t len;
        const char *pcf = okno_avro_schema_canonical(okno_avro_topic_schema(t), &len);
        avro_schema_t schema;
        if (avro_schema_from_json_length(pcf, len, &schema) != 0) {
            die("avro-c cannot parse our canonical form", avro_strerror());
        }
        ifaces[t] = avro_generic_class_from_schema(schema);
        avro_schema_decref(schema);
        if (okno_avro_decoder_init(&redecoders[t], t) != 0) {
            die("okno_avro_decoder_init", okno_avro_topic_name(t));
        }
    }
    reencoded = malloc(FUZZ_REENCODE_BYTES);
}

void okno_fuzz_close(void)
{
    if (reencoded == NULL) {
        return;
    }
    for (int t = 0; t < OKNO_AVRO_TOPIC_COUNT; t++) {
        okno_avro_decoder_close(&redecoders[t]);
        avro_value_iface_decref(ifaces[t]);
        ifaces[t] = NULL;
    }
    free(reencoded);
    reencoded = NULL;
    okno_avro_close();
}

static void check_reencoding(const okno_avro_record *rec)
{
    size_t len;
    okno_avro_error err = {0};
    if (okno_avro_encode(rec->topic, &rec->as, reencoded, FUZZ_REENCODE_BYTES, &len, &err) != 0) {
        die("a decoded record does not re-encode", err.reason);
    }
    okno_avro_record again = {.topic = rec->topic};
    if (okno_avro_decoder_decode(&redecoders[rec->topic], reencoded, len, &again.as, &err) != 0) {
        die("a re-encoded record does not decode", err.reason);
    }
    if (!okno__avro_record_equal(rec->topic, &rec->as, &again.as)) {
        die("decode(encode(decode(x))) differs from decode(x)", okno_avro_topic_name(rec->topic));
    }
}

static void check_avro_c_reads(okno_avro_topic topic, const uint8_t *body, size_t len)
{
    avro_value_t value;
    if (avro_generic_value_new(ifaces[topic], &value) != 0) {
        die("avro_generic_value_new", avro_strerror());
    }
    avro_reader_t reader = avro_reader_memory((const char *)body, (int64_t)len);
    if (avro_value_read(reader, &value) != 0) {
        die("avro-c refused a body our validator accepted", avro_strerror());
    }
    avro_reader_free(reader);
    avro_value_decref(&value);
}

int okno_fuzz_decode_one(const uint8_t *data, size_t size)
{
    init_once();
    okno_avro_record rec;
    int rc = okno_avro_decode(data, size, &rec, NULL);
    if (rc == 0) {
        check_reencoding(&rec);
    } else if (rc != OKNO_EDECODE) {
        die("decode returned something other than 0 or OKNO_EDECODE", okno_strerror(rc));
    }
    /* The same bytes as a bare body under every schema, with and without a header. */
    size_t skip = size >= OKNO_AVRO_HEADER_BYTES ? OKNO_AVRO_HEADER_BYTES : 0;
    for (int t = 0; t < OKNO_AVRO_TOPIC_COUNT; t++) {
        const okno_avro_schema *s = okno_avro_topic_schema(t);
        if (okno_avro_validate(s, data + skip, size - skip, NULL) == 0) {
            check_avro_c_reads(t, data + skip, size - skip);
        }
    }
    return rc;
}
