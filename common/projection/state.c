/* card.proj_state: the stored form of okno_proj_message. A 4-byte little-endian version, then
 * the struct's bytes with runs of zero bytes squeezed out: a control byte c below 0x80 is
 * followed by c + 1 literal bytes, a control byte c from 0x80 stands for c - 0x7f zero bytes.
 * Most of the state is zeros (empty agreer and upstream slots, unused deadlines), so it shrinks
 * from about 650 bytes to under 200; every card carries one, so that is most of a card's size. */
#include <string.h>

#include "okno/error.h"
#include "projection/internal.h"

/* Longest run one control byte covers, bytes. */
#define RUN_MAX 128

size_t okno__proj_state_encode(const okno_proj_message *m, uint8_t *out)
{
    const uint8_t *p = (const uint8_t *)m;
    size_t n = sizeof *m, i = 0, o = 4;
    uint32_t version = OKNO_PROJ_STATE_VERSION;
    for (int k = 0; k < 4; k++)
        out[k] = (uint8_t)(version >> (8 * k));
    while (i < n) {
        size_t run = 0;
        while (i + run < n && run < RUN_MAX && p[i + run] == 0)
            run++;
        if (run >= 2 || (run == 1 && i + 1 == n)) {
            out[o++] = (uint8_t)(0x7f + run);
            i += run;
            continue;
        }
        /* Literals up to the next pair of zeros. */
        size_t lit = 0;
        while (i + lit < n && lit < RUN_MAX &&
               !(p[i + lit] == 0 && i + lit + 1 < n && p[i + lit + 1] == 0))
            lit++;
        out[o++] = (uint8_t)(lit - 1);
        memcpy(out + o, p + i, lit);
        o += lit;
        i += lit;
    }
    return o;
}

int okno__proj_state_decode(const uint8_t *in, size_t len, okno_proj_message *m)
{
    uint8_t *p = (uint8_t *)m;
    size_t n = sizeof *m, o = 0, i = 4;
    if (len < 4)
        return OKNO_EINVAL;
    uint32_t version =
        (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
    if (version != OKNO_PROJ_STATE_VERSION)
        return OKNO_EINVAL;
    while (i < len) {
        uint8_t c = in[i++];
        size_t run = c < 0x80 ? (size_t)c + 1 : (size_t)c - 0x7f;
        if (o + run > n || (c < 0x80 && i + run > len))
            return OKNO_EINVAL;
        if (c < 0x80) {
            memcpy(p + o, in + i, run);
            i += run;
        } else {
            memset(p + o, 0, run);
        }
        o += run;
    }
    return o == n ? OKNO_OK : OKNO_EINVAL;
}
