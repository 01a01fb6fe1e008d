/* UUIDs as text: the 36-character form used as Kafka keys, in logs, SQL and Avro. */
#ifndef OKNO_UUID_H
#define OKNO_UUID_H

#include <stddef.h>

#include "okno/workflow.h"

#define OKNO_UUID_TEXT_BYTES 37 /* 36 characters and the NUL */

/* Writes "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lower case) and a NUL into out. */
void okno_uuid_format(const okno_uuid *id, char out[OKNO_UUID_TEXT_BYTES]);

/* Parses exactly 36 characters of that form (either case) from text[0..len). 0 or OKNO_EINVAL. */
int okno_uuid_parse(const char *text, size_t len, okno_uuid *out);

#endif
