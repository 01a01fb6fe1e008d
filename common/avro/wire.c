/* Avro binary primitives: varints, UTF-8 checks, and bounded writer and reader cursors. */
#include "wire.h"

#include <string.h>

#include "okno/error.h"

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

void okno__avro_put_raw(okno__avro_writer *w, const void *p, size_t n)
{
    if (w->err != 0 || w->cap - w->len < n) {
        w->err = OKNO_ELIMIT;
        return;
    }
    if (n > 0) {
        memcpy(w->buf + w->len, p, n);
    }
    w->len += n;
}

void okno__avro_put_long(okno__avro_writer *w, int64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        tmp[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    okno__avro_put_raw(w, tmp, n);
}

void okno__avro_put_bool(okno__avro_writer *w, int v)
{
    uint8_t b = v ? 1 : 0;
    okno__avro_put_raw(w, &b, 1);
}

void okno__avro_put_bytes(okno__avro_writer *w, const void *p, size_t n)
{
    okno__avro_put_long(w, (int64_t)n);
    okno__avro_put_raw(w, p, n);
}

int64_t okno__avro_get_long(okno__avro_reader *r)
{
    int64_t v = 0;
    size_t used;
    if (r->err != 0 ||
        okno__avro_varint_read(r->p, (size_t)(r->end - r->p), 10, &v, &used) != NULL) {
        r->err = OKNO_EDECODE;
        return 0;
    }
    r->p += used;
    return v;
}

int okno__avro_get_bool(okno__avro_reader *r)
{
    const uint8_t *b = okno__avro_get_raw(r, 1);
    return b != NULL && *b != 0;
}

const uint8_t *okno__avro_get_raw(okno__avro_reader *r, size_t n)
{
    if (r->err != 0 || (size_t)(r->end - r->p) < n) {
        r->err = OKNO_EDECODE;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

const uint8_t *okno__avro_get_bytes(okno__avro_reader *r, size_t *len)
{
    int64_t n = okno__avro_get_long(r);
    if (n < 0) {
        r->err = OKNO_EDECODE;
    }
    *len = r->err ? 0 : (size_t)n;
    return okno__avro_get_raw(r, *len);
}
