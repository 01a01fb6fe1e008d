/* Avro binary primitives the validator and the encoder's checks need: varints and UTF-8. */
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

#endif
