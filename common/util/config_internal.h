/* Internals of the configuration module shared between its files and its unit tests. */
#ifndef OKNO_UTIL_CONFIG_INTERNAL_H
#define OKNO_UTIL_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "okno/config.h"

#define OKNO__CONFIG_REASON_BYTES_MAX 256 /* one parse failure's explanation, NUL included */

/* Parses `text` as a value of key->type and checks its range or choices. On success stores
 * the number (INT, BOOL as 0/1, DURATION in ms, ENUM as the choice index) in *out and returns
 * 0; otherwise returns OKNO_ECONFIG with a reason such as "out of range 1..1000". */
int okno__config_parse_value(const struct okno_config_key *key, const char *text, int64_t *out,
                             char *reason, size_t reason_size);

/* True for "section.key" names: dot-separated segments of [a-z0-9]+ joined by single '_'. */
bool okno__config_name_valid(const char *name);

/* Copies the value of `v` for display into buf, masked when it is a secret. */
void okno__config_display(const struct okno_config_value *v, char *buf, size_t size);

/* The value record for a declared or pass-through name, or NULL. */
struct okno_config_value *okno__config_find(struct okno_config *cfg, const char *name);

/* Records the first error (printf-style); later ones are dropped so the root cause shows. */
void okno__config_fail(struct okno_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
