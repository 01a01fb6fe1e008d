/* UUID text form, both directions. */
#include "okno/uuid.h"
#include "okno/error.h"

static const char hex_digits[] = "0123456789abcdef";

void okno_uuid_format(const okno_uuid *id, char out[OKNO_UUID_TEXT_BYTES])
{
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex_digits[id->bytes[i] >> 4];
        *p++ = hex_digits[id->bytes[i] & 15];
    }
    *p = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int okno_uuid_parse(const char *text, size_t len, okno_uuid *out)
{
    if (len != 36)
        return OKNO_EINVAL;
    for (int i = 0, pos = 0; i < 16; i++) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
            if (text[pos] != '-')
                return OKNO_EINVAL;
            pos++;
        }
        int hi = hex_value(text[pos]), lo = hex_value(text[pos + 1]);
        if (hi < 0 || lo < 0)
            return OKNO_EINVAL;
        out->bytes[i] = (uint8_t)(hi << 4 | lo);
        pos += 2;
    }
    return OKNO_OK;
}
