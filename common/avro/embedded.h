/* The .avsc files of schemas/, embedded in the library at build time (see CMakeLists.txt). */
#ifndef OKNO_AVRO_EMBEDDED_H
#define OKNO_AVRO_EMBEDDED_H

#include <stddef.h>

struct okno__avro_embedded {
    const char *name; /* file name without .avsc, e.g. "Event"; history: "Event/v1" */
    const char *json; /* the file's bytes, NUL-terminated */
    size_t json_bytes;
};

extern const struct okno__avro_embedded okno__avro_embedded[];
extern const size_t okno__avro_embedded_count;

#endif
