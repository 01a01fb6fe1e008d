/* Parsing and checking of configuration values: integers, booleans, durations, enums, names. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "okno/error.h"
#include "util/config_internal.h"

static bool range_is_open(const struct okno_config_key *key)
{
    return key->min == 0 && key->max == 0;
}

/* strtoll accepts leading blanks, a '+' and trailing junk; we want exactly one decimal integer. */
static int parse_decimal(const char *text, int64_t *out, const char **end)
{
    if (!(isdigit((unsigned char)text[0]) || (text[0] == '-' && isdigit((unsigned char)text[1]))))
        return OKNO_EINVAL;
    errno = 0;
    char *stop = NULL;
    long long v = strtoll(text, &stop, 10);
    if (errno == ERANGE)
        return OKNO_ELIMIT;
    *out = v;
    *end = stop;
    return 0;
}

static int check_range(const struct okno_config_key *key, int64_t v, const char *unit, char *reason,
                       size_t size)
{
    if (range_is_open(key) || (v >= key->min && v <= key->max))
        return 0;
    snprintf(reason, size, "%" PRId64 "%s is out of range %" PRId64 "..%" PRId64 "%s", v, unit,
             key->min, key->max, unit);
    return OKNO_ECONFIG;
}

static int parse_int(const struct okno_config_key *key, const char *text, int64_t *out,
                     char *reason, size_t size)
{
    const char *end = NULL;
    int rc = parse_decimal(text, out, &end);
    if (rc == OKNO_ELIMIT) {
        snprintf(reason, size, "'%s' does not fit in 64 bits", text);
        return OKNO_ECONFIG;
    }
    if (rc != 0 || *end != '\0') {
        snprintf(reason, size, "'%s' is not an integer", text);
        return OKNO_ECONFIG;
    }
    return check_range(key, *out, "", reason, size);
}

static int parse_bool(const char *text, int64_t *out, char *reason, size_t size)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    snprintf(reason, size, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", text);
    return OKNO_ECONFIG;
}

static int64_t duration_unit_ms(const char *unit)
{
    if (strcmp(unit, "ms") == 0)
        return 1;
    if (strcmp(unit, "s") == 0)
        return 1000;
    if (strcmp(unit, "m") == 0)
        return 60 * 1000;
    if (strcmp(unit, "h") == 0)
        return 60 * 60 * 1000;
    return 0;
}

static int parse_duration(const struct okno_config_key *key, const char *text, int64_t *out,
                          char *reason, size_t size)
{
    const char *unit = NULL;
    int64_t count = 0;
    int rc = parse_decimal(text, &count, &unit);
    int64_t scale = rc == 0 ? duration_unit_ms(unit) : 0;
    if (scale == 0 || count < 0) {
        snprintf(reason, size,
                 "'%s' is not a duration (a non-negative integer with unit ms, s, m or h)", text);
        return OKNO_ECONFIG;
    }
    if (count > INT64_MAX / scale) {
        snprintf(reason, size, "'%s' is too long a duration", text);
        return OKNO_ECONFIG;
    }
    *out = count * scale;
    return check_range(key, *out, "ms", reason, size);
}

static int parse_enum(const struct okno_config_key *key, const char *text, int64_t *out,
                      char *reason, size_t size)
{
    assert(key->choices != NULL);
    size_t len = strlen(text);
    int64_t index = 0;
    for (const char *p = key->choices; *p != '\0'; index++) {
        size_t word = strcspn(p, "|");
        if (word == len && strncmp(p, text, len) == 0) {
            *out = index;
            return 0;
        }
        p += word + (p[word] == '|');
    }
    snprintf(reason, size, "'%s' is not one of %s", text, key->choices);
    return OKNO_ECONFIG;
}

int okno__config_parse_value(const struct okno_config_key *key, const char *text, int64_t *out,
                             char *reason, size_t reason_size)
{
    assert(key != NULL);
    assert(text != NULL);
    *out = 0;
    if (strlen(text) >= OKNO_CONFIG_VALUE_BYTES_MAX) {
        snprintf(reason, reason_size, "value longer than %d bytes",
                 OKNO_CONFIG_VALUE_BYTES_MAX - 1);
        return OKNO_ECONFIG;
    }
    switch (key->type) {
    case OKNO_CONFIG_STRING:
        return 0;
    case OKNO_CONFIG_INT:
        return parse_int(key, text, out, reason, reason_size);
    case OKNO_CONFIG_BOOL:
        return parse_bool(text, out, reason, reason_size);
    case OKNO_CONFIG_DURATION:
        return parse_duration(key, text, out, reason, reason_size);
    case OKNO_CONFIG_ENUM:
        return parse_enum(key, text, out, reason, reason_size);
    }
    snprintf(reason, reason_size, "key declared with unknown type %d", (int)key->type);
    return OKNO_ECONFIG;
}

/* A segment is [a-z0-9]+ joined by single underscores; no leading, trailing or doubled '_'.
 * That rule is what keeps the environment mapping (segments joined by "__") reversible. */
static const char *segment_end(const char *p)
{
    bool need_alnum = true;
    for (; *p != '\0' && *p != '.'; p++) {
        if (*p == '_' && !need_alnum) {
            need_alnum = true;
            continue;
        }
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p)))
            return NULL;
        need_alnum = false;
    }
    return need_alnum ? NULL : p;
}

bool okno__config_name_valid(const char *name)
{
    if (strlen(name) >= OKNO_CONFIG_NAME_BYTES_MAX)
        return false;
    int segments = 0;
    for (const char *p = name;; p++) {
        p = segment_end(p);
        if (p == NULL)
            return false;
        segments++;
        if (*p == '\0')
            return segments >= 2;
    }
}
