/* Error codes shared by every okno module: 0 is success, failures are negative OKNO_E* values.
 *
 * How a failure is reported (the one convention; STYLE.md's "one way to report an error's
 * text"):
 *  - The code: a fallible function returns int, 0 or a negative OKNO_E* below; okno_strerror()
 *    names it. The code is what callers branch on, never the text.
 *  - The text: one sentence for a log or an operator, written into a buffer the caller owns,
 *    passed as the last two parameters `char *errbuf, size_t errbuf_bytes` (errbuf may be NULL
 *    when errbuf_bytes is 0). It is written only on failure, always NUL-terminated, truncated to
 *    fit; size the buffer with the module's *_ERROR_BYTES (OKNO_PG_ERRBUF_BYTES, ...).
 *    okno_errorf() writes it and returns the code in one statement.
 *  - A handle that runs steps in a loop (projector, relay, notifier, replay, config) owns that
 *    buffer instead: its `char error[..._ERROR_BYTES]` field holds the last failure's text, as
 *    errbuf would, so the step functions keep short parameter lists.
 * One structured variant stays, by design: okno_avro_error carries the byte offset where
 * decoding stopped beside its `reason`, which refusal records and the fuzzers need; it is the
 * Avro module's errbuf. Result structs of whole runs (okno_replay_result, the benchmarks' log
 * generator) keep their text with the run's other figures. New code uses errbuf.
 */
#ifndef OKNO_ERROR_H
#define OKNO_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum {
    OKNO_OK = 0,
    OKNO_EINVAL = -1,      /* bad argument or malformed input */
    OKNO_ENOMEM = -2,      /* allocation failed or a size cap was hit */
    OKNO_EIO = -3,         /* an operating-system or network I/O error */
    OKNO_ECONFIG = -4,     /* unknown configuration key or bad value */
    OKNO_EKAFKA = -5,      /* librdkafka reported an error */
    OKNO_EPG = -6,         /* libpq / PostgreSQL reported an error */
    OKNO_ETIMEDOUT = -7,   /* a bounded wait ran out */
    OKNO_ENOTFOUND = -8,   /* the thing asked for does not exist */
    OKNO_EDECODE = -9,     /* bytes that do not decode under the expected schema */
    OKNO_ELIMIT = -10,     /* a named maximum (batch, record size, count) was exceeded */
    OKNO_ECONFLICT = -11,  /* another writer got there first (a fence held): reload, retry */
    OKNO_EDUPLICATE = -12, /* already recorded (a repeated request id): acknowledge, skip */
};

/* Process exit codes of every okno program, services and the CLI alike. */
enum {
    OKNO_EXIT_OK = 0,      /* done: a clean stop, --help, --version, a passing check */
    OKNO_EXIT_FAILURE = 1, /* runtime failure */
    OKNO_EXIT_USAGE = 2,   /* bad command line or configuration */
};

/* A static, human-readable name for an OKNO_E* code; never NULL. */
const char *okno_strerror(int err);

/* Writes the printf-style text into errbuf (nothing when errbuf is NULL or errbuf_bytes is 0)
 * and returns code, so a failure reads `return okno_errorf(errbuf, errbuf_bytes, OKNO_E..., ...)`.
 */
int okno_errorf(char *errbuf, size_t errbuf_bytes, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* As okno_errorf, with the arguments as a va_list. */
int okno_verrorf(char *errbuf, size_t errbuf_bytes, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
