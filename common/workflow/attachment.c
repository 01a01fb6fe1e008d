/* File references attached to a submission: the bounds a reference must keep (see workflow.h). */
#include <stdbool.h>

#include "okno/workflow.h"

static bool printable_ascii(okno_str s)
{
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

/* No control characters (UTF-8 itself is checked where the text enters: JSON, Avro). */
static bool no_controls(okno_str s)
{
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* RFC 6838 restricted-name characters. */
static bool media_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '!' ||
           c == '#' || c == '$' || c == '&' || c == '-' || c == '^' || c == '_' || c == '.' ||
           c == '+';
}

/* type "/" subtype, both non-empty. */
static bool media_type_ok(okno_str s)
{
    uint32_t slash = 0, slashes = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '/') {
            slash = i;
            slashes++;
        } else if (!media_char(c)) {
            return false;
        }
    }
    return slashes == 1 && slash > 0 && slash + 1 < s.len;
}

static bool sha256_ok(okno_str s)
{
    if (s.len != OKNO_SHA256_HEX_BYTES)
        return false;
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

int okno_attachment_valid(const okno_attachment *a, const char **field)
{
    const char *bad = NULL;
    if (a->id.len == 0 || a->id.len > OKNO_ATTACHMENT_ID_BYTES_MAX || !printable_ascii(a->id))
        bad = "id";
    else if (a->name.len == 0 || a->name.len > OKNO_ATTACHMENT_NAME_BYTES_MAX ||
             !no_controls(a->name))
        bad = "name";
    else if (a->media_type.len > OKNO_ATTACHMENT_TYPE_BYTES_MAX || !media_type_ok(a->media_type))
        bad = "media_type";
    else if (a->size_bytes < 0 || a->size_bytes > OKNO_ATTACHMENT_SIZE_MAX)
        bad = "size_bytes";
    else if (!sha256_ok(a->sha256))
        bad = "sha256";
    if (field != NULL)
        *field = bad;
    return bad == NULL;
}
