/* Structured logging: one JSON object (or one logfmt record) per line on stderr, written with a
 * single write(2) so that lines from many threads never interleave. */
#ifndef OKNO_LOG_H
#define OKNO_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "okno/error.h"

/* A line longer than this is cut, marked "truncated", and still well-formed. It equals the
 * usual PIPE_BUF, so a line written to a pipe (a log collector) is also atomic. */
#define OKNO_LOG_LINE_BYTES_MAX    4096
#define OKNO_LOG_SERVICE_BYTES_MAX 64 /* service name, NUL included */

enum okno_log_level {
    OKNO_LOG_DEBUG = 0,
    OKNO_LOG_INFO,
    OKNO_LOG_WARN,
    OKNO_LOG_ERROR,
};

enum okno_log_format {
    OKNO_LOG_JSON = 0, /* {"ts":...,"level":...,"service":...,"msg":...,<fields>} */
    OKNO_LOG_LOGFMT,   /* ts=... level=... service=... msg="..." <fields> */
};

enum okno_log_field_type {
    OKNO_LOG_FIELD_END = 0, /* ends a field list */
    OKNO_LOG_FIELD_STR,
    OKNO_LOG_FIELD_INT,
    OKNO_LOG_FIELD_UINT,
    OKNO_LOG_FIELD_DOUBLE,
    OKNO_LOG_FIELD_BOOL,
};

/* One key/value pair of a log line. Keys and string values are borrowed for the call only. */
struct okno_log_field {
    const char *key;
    enum okno_log_field_type type;
    union {
        const char *s; /* NULL is written as null */
        int64_t i;
        uint64_t u;
        double d; /* NaN and infinities are written as null */
        bool b;
    } v;
};

/* Typed field constructors: the compiler checks each value against its type. */
#define OKNO_LOG_STR(k, x)                                                                         \
    ((struct okno_log_field){.key = (k), .type = OKNO_LOG_FIELD_STR, .v.s = (x)})
#define OKNO_LOG_INT(k, x)                                                                         \
    ((struct okno_log_field){.key = (k), .type = OKNO_LOG_FIELD_INT, .v.i = (int64_t)(x)})
#define OKNO_LOG_UINT(k, x)                                                                        \
    ((struct okno_log_field){.key = (k), .type = OKNO_LOG_FIELD_UINT, .v.u = (uint64_t)(x)})
#define OKNO_LOG_DOUBLE(k, x)                                                                      \
    ((struct okno_log_field){.key = (k), .type = OKNO_LOG_FIELD_DOUBLE, .v.d = (double)(x)})
#define OKNO_LOG_BOOL(k, x)                                                                        \
    ((struct okno_log_field){.key = (k), .type = OKNO_LOG_FIELD_BOOL, .v.b = (x)})
/* "err": the name of an OKNO_E* code. */
#define OKNO_LOG_ERR(code) OKNO_LOG_STR("err", okno_strerror(code))
#define OKNO_LOG_END       ((struct okno_log_field){.key = NULL, .type = OKNO_LOG_FIELD_END})

/* okno_log_info("batch committed", OKNO_LOG_STR("topic", t), OKNO_LOG_INT("offset", o));
 * The message should be a constant phrase; variable data goes in fields. The field list is
 * ended for you (a trailing OKNO_LOG_END is harmless), and nothing is evaluated when the level
 * is filtered out. __VA_OPT__ is C23, accepted in C17 mode by GCC (12) and Clang (14) without
 * -pedantic; it is what lets a call have no fields and no sentinel. */
#define OKNO__LOG(level, msg, ...)                                                                 \
    do {                                                                                           \
        if (okno_log_enabled(level))                                                               \
            okno_log_write(                                                                        \
                (level), (msg),                                                                    \
                (const struct okno_log_field[]){__VA_ARGS__ __VA_OPT__(, ) OKNO_LOG_END});         \
    } while (0)
#define okno_log_debug(msg, ...) OKNO__LOG(OKNO_LOG_DEBUG, msg __VA_OPT__(, ) __VA_ARGS__)
#define okno_log_info(msg, ...)  OKNO__LOG(OKNO_LOG_INFO, msg __VA_OPT__(, ) __VA_ARGS__)
#define okno_log_warn(msg, ...)  OKNO__LOG(OKNO_LOG_WARN, msg __VA_OPT__(, ) __VA_ARGS__)
#define okno_log_error(msg, ...) OKNO__LOG(OKNO_LOG_ERROR, msg __VA_OPT__(, ) __VA_ARGS__)

/* Sets the service name, least severe level, format and output descriptor (2 = stderr). Call
 * it at start, before other threads log: the name is copied without a lock. The fd is
 * borrowed. Returns OKNO_EINVAL for an empty or over-long name. */
int okno_log_configure(const char *service, enum okno_log_level level, enum okno_log_format format,
                       int fd);

/* "debug"|"info"|"warn"|"error" -> level; "json"|"logfmt" -> format. OKNO_EINVAL otherwise. */
int okno_log_level_parse(const char *text, enum okno_log_level *level);
int okno_log_format_parse(const char *text, enum okno_log_format *format);

/* True if a line at `level` would be written. Lock-free; any thread. */
bool okno_log_enabled(enum okno_log_level level);

/* Writes one line: fields is an array ended by OKNO_LOG_END. Any thread; never blocks on a
 * lock, never allocates. Prefer the okno_log_<level>() macros. */
void okno_log_write(enum okno_log_level level, const char *msg,
                    const struct okno_log_field *fields);

#endif
