/* What the codec's files share: avro-c's class of each topic's schema (owned by the registry)
 * and the calling thread's reusable encoder and decoders. */
#ifndef OKNO_AVRO_CODEC_H
#define OKNO_AVRO_CODEC_H

#include <avro.h>
#include <stddef.h>

#include "okno/avro.h"

/* avro-c's generic value class for topic, built by okno_avro_init() from the embedded .avsc
 * text; owned by the registry (values made from it hold their own reference). NULL before
 * okno_avro_init() or for an unknown topic. */
avro_value_iface_t *okno__avro_topic_class(okno_avro_topic topic);
/* avro-c's class of an older writer schema (index from okno__avro_frame_check_writer), or
 * NULL. */
avro_value_iface_t *okno__avro_writer_class(int writer);
/* okno_avro_frame_check(), also naming the writer: -1 the topic's current schema, otherwise an
 * older released version whose body was validated against that version. */
int okno__avro_frame_check_writer(const uint8_t *buf, size_t len, okno_avro_topic *topic,
                                  int *writer, const uint8_t **body, size_t *body_bytes,
                                  okno_avro_error *err);

/* Changes at every okno_avro_init() that loads the schemas, so a thread's state built from an
 * earlier registry is rebuilt rather than reused. */
unsigned okno__avro_generation(void);

/* One thread's reusable codec state, created on first use. */
struct okno__avro_local {
    unsigned generation;                               /* okno__avro_generation() when built */
    okno_avro_decoder decoders[OKNO_AVRO_TOPIC_COUNT]; /* .reader NULL: not created yet */
    avro_value_t encoders[OKNO_AVRO_TOPIC_COUNT];      /* .iface NULL: not created yet */
    avro_writer_t writer;                              /* memory writer, pointed at each output */
    char *text;      /* NUL-terminated copies of an encode's strings (avro-c wants the NUL) */
    size_t text_cap; /* bytes allocated at text */
};

/* The calling thread's state, or NULL when it cannot be allocated. */
struct okno__avro_local *okno__avro_local_get(void);
/* Frees the calling thread's state; okno_avro_close() calls it. */
void okno__avro_local_free(void);

#endif
