/* Avro binary primitives the validator and the encoder's checks need: varints and UTF-8. */
#include "wire.h"

const char *okno__avro_varint_read(const uint8_t *p, size_t avail, size_t max_bytes, int64_t *out,
                                   size_t *used)
{
    uint64_t z = 0;
    for (size_t i = 0; i < max_bytes; i++) {
        if (i == avail) {
            return "varint truncated";
        }
        uint8_t b = p[i];
        /* The tenth byte carries only bit 63; anything more would be silently dropped. */
        if (i == 9 && b > 1) {
            return "varint overflows 64 bits";
        }
        z |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            *used = i + 1;
            return NULL;
        }
    }
    return "varint longer than its type allows";
}

/* Length of the UTF-8 sequence starting with lead byte b and the bounds of its second byte. */
static size_t utf8_shape(uint8_t b, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
        return 2;
    }
    if (b >= 0xe0 && b <= 0xef) {
        *lo = b == 0xe0 ? 0xa0 : 0x80; /* no overlongs */
        *hi = b == 0xed ? 0x9f : 0xbf; /* no surrogates */
        return 3;
    }
    if (b >= 0xf0 && b <= 0xf4) {
        *lo = b == 0xf0 ? 0x90 : 0x80; /* no overlongs */
        *hi = b == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
        return 4;
    }
    return 0;
}

int okno__avro_utf8_ok(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint8_t lo, hi;
        size_t n = utf8_shape(p[i], &lo, &hi);
        if (n == 0 || len - i < n || p[i + 1] < lo || p[i + 1] > hi) {
            return 0;
        }
        for (size_t k = 2; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        i += n;
    }
    return 1;
}
