/* Avro binary primitives: varints, UTF-8 checks, and bounded writer and reader cursors. */
#ifndef OKNO_AVRO_WIRE_H
#define OKNO_AVRO_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Reads a zig-zag varint of at most max_bytes from p (avail bytes readable). Returns NULL and
 * sets *out and *used, or a static reason: truncated, too long, or overflowing 64 bits. */
const char *okno__avro_varint_read(const uint8_t *p, size_t avail, size_t max_bytes, int64_t *out,
                                   size_t *used);
/* Whether len bytes are well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
int okno__avro_utf8_ok(const uint8_t *p, size_t len);

/* Appends Avro binary to a caller's buffer. Errors are sticky: after the first overflow every
 * put is a no-op and err stays OKNO_ELIMIT, so encoders check once at the end. */
typedef struct okno__avro_writer {
    uint8_t *buf; /* borrowed from the caller */
    size_t len;   /* bytes written */
    size_t cap;   /* bytes available in buf */
    int err;      /* 0 or OKNO_ELIMIT */
} okno__avro_writer;

void okno__avro_put_raw(okno__avro_writer *w, const void *p, size_t n);
void okno__avro_put_long(okno__avro_writer *w, int64_t v);
void okno__avro_put_bool(okno__avro_writer *w, int v);
/* A bytes or string value: length, then the bytes. */
void okno__avro_put_bytes(okno__avro_writer *w, const void *p, size_t n);

/* Reads Avro binary that okno_avro_validate() has accepted. Still bounds-checked, with a sticky
 * err, so a codec that disagrees with its schema fails cleanly instead of reading past the end. */
typedef struct okno__avro_reader {
    const uint8_t *p;   /* next unread byte, borrowed */
    const uint8_t *end; /* one past the last byte */
    int err;            /* 0 or OKNO_EDECODE */
} okno__avro_reader;

int64_t okno__avro_get_long(okno__avro_reader *r);
int okno__avro_get_bool(okno__avro_reader *r);
/* A bytes or string value as a slice of the input: no copy. */
const uint8_t *okno__avro_get_bytes(okno__avro_reader *r, size_t *len);
/* n raw bytes (a fixed value) as a slice of the input. */
const uint8_t *okno__avro_get_raw(okno__avro_reader *r, size_t n);

#endif
