/* Structured log lines, built in a stack buffer and written with one write(2). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "okno/log.h"

/* Bytes kept free while appending so the closing `,"truncated":true}\n` always fits. */
#define LINE_RESERVE_BYTES 32
#define TS_BYTES_MAX       32 /* "2024-01-31T23:59:59.123Z", NUL included */
#define NUMBER_BYTES_MAX   32 /* one formatted int64/uint64/double */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Process-wide settings. The numbers are atomics so that any thread may read them while the
 * service adjusts them; the name is written once at start (see okno_log_configure). */
static struct {
    atomic_int level;
    atomic_int format;
    atomic_int fd;
    char service[OKNO_LOG_SERVICE_BYTES_MAX];
} log_state = {OKNO_LOG_INFO, OKNO_LOG_JSON, 2, "okno"};

struct line {
    char buf[OKNO_LOG_LINE_BYTES_MAX];
    size_t len;
    bool truncated; /* something did not fit and was cut */
};

/* Appends n bytes unless that would eat into the reserve; then marks the line truncated. */
static bool put(struct line *l, const char *s, size_t n)
{
    if (l->truncated || l->len + n > sizeof(l->buf) - LINE_RESERVE_BYTES) {
        l->truncated = true;
        return false;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

static bool put_str(struct line *l, const char *s)
{
    return put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. Only
 * valid text goes out, so that every line parses as JSON. */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c < 0x80                 ? 1
               : c >= 0xC2 && c <= 0xDF ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    if (n == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, or a UTF-16 surrogate */
    if (n == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)))
        return 0; /* overlong, or past U+10FFFF */
    return n;
}

/* The escape for one ASCII byte inside a quoted string, or NULL if it goes out as is. */
static const char *escape_of(unsigned char c, char *tmp, size_t size)
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    }
    if (c < 0x20 || c == 0x7F) {
        snprintf(tmp, size, "\\u%04x", c);
        return tmp;
    }
    return NULL;
}

/* A quoted string with JSON escapes (logfmt uses the same quoting); invalid UTF-8 becomes
 * U+FFFD. A string cut short still gets its closing quote. */
static void put_quoted(struct line *l, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!put(l, "\"", 1))
        return;
    while (*p != '\0' && !l->truncated) {
        char tmp[8];
        size_t n = utf8_sequence(p);
        const char *esc = n == 1 ? escape_of(*p, tmp, sizeof(tmp)) : NULL;
        if (n == 0)
            put_str(l, "\xEF\xBF\xBD");
        else if (esc != NULL)
            put_str(l, esc);
        else
            put(l, (const char *)p, n);
        p += n != 0 ? n : 1;
    }
    if (!put(l, "\"", 1))
        l->buf[l->len++] = '"'; /* the reserve has room for this one forced quote */
}

/* logfmt leaves simple values bare: non-empty, no blank, '=', quote or control byte. */
static bool logfmt_is_bare(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p >= 0x7F)
            return false;
    }
    return true;
}

static void put_string_value(struct line *l, enum okno_log_format format, const char *s)
{
    if (s == NULL)
        put_str(l, "null");
    else if (format == OKNO_LOG_LOGFMT && logfmt_is_bare(s))
        put_str(l, s);
    else
        put_quoted(l, s);
}

static void put_key(struct line *l, enum okno_log_format format, const char *key)
{
    if (format == OKNO_LOG_JSON) {
        put(l, ",", 1);
        put_quoted(l, key);
        put(l, ":", 1);
    } else {
        put(l, " ", 1);
        put_str(l, key); /* keys are identifiers chosen in code */
        put(l, "=", 1);
    }
}

static void put_field_value(struct line *l, enum okno_log_format format,
                            const struct okno_log_field *f)
{
    char num[NUMBER_BYTES_MAX];
    switch (f->type) {
    case OKNO_LOG_FIELD_STR:
        put_string_value(l, format, f->v.s);
        return;
    case OKNO_LOG_FIELD_INT:
        snprintf(num, sizeof(num), "%" PRId64, f->v.i);
        break;
    case OKNO_LOG_FIELD_UINT:
        snprintf(num, sizeof(num), "%" PRIu64, f->v.u);
        break;
    case OKNO_LOG_FIELD_DOUBLE:
        if (isfinite(f->v.d))
            snprintf(num, sizeof(num), "%.17g", f->v.d);
        else
            snprintf(num, sizeof(num), "null");
        break;
    case OKNO_LOG_FIELD_BOOL:
        snprintf(num, sizeof(num), "%s", f->v.b ? "true" : "false");
        break;
    case OKNO_LOG_FIELD_END:
        return;
    }
    put_str(l, num);
}

/* Writes one field whole, or a string value cut short but quoted; anything less is taken back
 * so that the line stays well-formed. Returns false once the line is full. */
static bool put_field(struct line *l, enum okno_log_format format, const struct okno_log_field *f)
{
    size_t mark = l->len;
    put_key(l, format, f->key);
    size_t value_at = l->len;
    if (!l->truncated)
        put_field_value(l, format, f);
    bool cut_string = f->type == OKNO_LOG_FIELD_STR && l->len > value_at && l->buf[value_at] == '"';
    if (l->truncated && !cut_string)
        l->len = mark;
    return !l->truncated;
}

static void format_timestamp(char *ts, size_t size)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, size - n, ".%03dZ", (int)(now.tv_nsec / 1000000L));
}

/* ts, level, service and msg come first, in that order, in both formats. */
static void put_header(struct line *l, enum okno_log_format format, enum okno_log_level level,
                       const char *msg)
{
    char ts[TS_BYTES_MAX];
    format_timestamp(ts, sizeof(ts));
    if (format == OKNO_LOG_JSON) {
        put_str(l, "{\"ts\":\"");
        put_str(l, ts);
        put_str(l, "\",\"level\":\"");
        put_str(l, level_names[level]);
        put_str(l, "\",\"service\":");
        put_quoted(l, log_state.service);
        put_str(l, ",\"msg\":");
        put_quoted(l, msg);
        return;
    }
    put_str(l, "ts=");
    put_str(l, ts);
    put_str(l, " level=");
    put_str(l, level_names[level]);
    put_key(l, format, "service");
    put_string_value(l, format, log_state.service);
    put_key(l, format, "msg");
    put_quoted(l, msg); /* always quoted: easier to grep for */
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a failing log sink */
        buf += n;
        len -= (size_t)n;
    }
}

void okno_log_write(enum okno_log_level level, const char *msg, const struct okno_log_field *fields)
{
    assert(level >= OKNO_LOG_DEBUG);
    assert(level <= OKNO_LOG_ERROR);
    assert(msg != NULL);
    if (!okno_log_enabled(level))
        return;
    enum okno_log_format format = atomic_load_explicit(&log_state.format, memory_order_relaxed);
    struct line l;
    l.len = 0;
    l.truncated = false;
    put_header(&l, format, level, msg);
    for (const struct okno_log_field *f = fields; f != NULL && f->type != OKNO_LOG_FIELD_END; f++) {
        if (!put_field(&l, format, f))
            break;
    }
    /* The reserve guarantees room for the marker and the line end. */
    const char *tail = format == OKNO_LOG_JSON ? (l.truncated ? ",\"truncated\":true}\n" : "}\n")
                                               : (l.truncated ? " truncated=true\n" : "\n");
    memcpy(l.buf + l.len, tail, strlen(tail));
    l.len += strlen(tail);
    write_all(atomic_load_explicit(&log_state.fd, memory_order_relaxed), l.buf, l.len);
}

bool okno_log_enabled(enum okno_log_level level)
{
    return (int)level >= atomic_load_explicit(&log_state.level, memory_order_relaxed);
}

int okno_log_configure(const char *service, enum okno_log_level level, enum okno_log_format format,
                       int fd)
{
    if (service == NULL || service[0] == '\0' || strlen(service) >= sizeof(log_state.service))
        return OKNO_EINVAL;
    if (level < OKNO_LOG_DEBUG || level > OKNO_LOG_ERROR || fd < 0)
        return OKNO_EINVAL;
    if (format != OKNO_LOG_JSON && format != OKNO_LOG_LOGFMT)
        return OKNO_EINVAL;
    memcpy(log_state.service, service, strlen(service) + 1);
    atomic_store(&log_state.level, (int)level);
    atomic_store(&log_state.format, (int)format);
    atomic_store(&log_state.fd, fd);
    return 0;
}

int okno_log_level_parse(const char *text, enum okno_log_level *level)
{
    for (int i = OKNO_LOG_DEBUG; i <= OKNO_LOG_ERROR; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *level = (enum okno_log_level)i;
            return 0;
        }
    }
    return OKNO_EINVAL;
}

int okno_log_format_parse(const char *text, enum okno_log_format *format)
{
    if (strcmp(text, "json") == 0)
        *format = OKNO_LOG_JSON;
    else if (strcmp(text, "logfmt") == 0)
        *format = OKNO_LOG_LOGFMT;
    else
        return OKNO_EINVAL;
    return 0;
}
