/* Human-readable names for okno's negative error codes, and the one way to write an error's
 * text (see okno/error.h). */
#include <stdio.h>

#include "okno/error.h"

const char *okno_strerror(int err)
{
    switch (err) {
    case OKNO_OK:
        return "success";
    case OKNO_EINVAL:
        return "invalid argument or input";
    case OKNO_ENOMEM:
        return "out of memory or size cap reached";
    case OKNO_EIO:
        return "I/O error";
    case OKNO_ECONFIG:
        return "configuration error";
    case OKNO_EKAFKA:
        return "Kafka error";
    case OKNO_EPG:
        return "PostgreSQL error";
    case OKNO_ETIMEDOUT:
        return "timed out";
    case OKNO_ENOTFOUND:
        return "not found";
    case OKNO_EDECODE:
        return "malformed record";
    case OKNO_ELIMIT:
        return "limit exceeded";
    case OKNO_ECONFLICT:
        return "conflict with another writer";
    case OKNO_EDUPLICATE:
        return "already recorded";
    }
    return "unknown error";
}

int okno_verrorf(char *errbuf, size_t errbuf_bytes, int code, const char *fmt, va_list ap)
{
    if (errbuf != NULL && errbuf_bytes > 0)
        vsnprintf(errbuf, errbuf_bytes, fmt, ap);
    return code;
}

int okno_errorf(char *errbuf, size_t errbuf_bytes, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    okno_verrorf(errbuf, errbuf_bytes, code, fmt, ap);
    va_end(ap);
    return code;
}
