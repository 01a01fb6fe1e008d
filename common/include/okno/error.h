/* Error codes shared by every okno module: 0 is success, failures are negative OKNO_E* values. */
#ifndef OKNO_ERROR_H
#define OKNO_ERROR_H

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

#endif
