/* Logging: JSON and logfmt lines, levels, escaping, truncation, whole lines under threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "okno/log.h"

#define CAPTURE_BYTES_MAX (8 * 1024 * 1024)

/* Log output goes to a temporary file opened with O_APPEND, read back whole by each test. */
struct capture {
    char path[64];
    int fd;
    char *text;
};

static int setup(void **state)
{
    struct capture *c = calloc(1, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "/tmp/okno-log-XXXXXX");
    c->fd = mkstemp(c->path);
    assert_true(c->fd >= 0);
    assert_int_equal(fcntl(c->fd, F_SETFL, O_APPEND), 0);
    assert_int_equal(okno_log_configure("ledger", OKNO_LOG_DEBUG, OKNO_LOG_JSON, c->fd), 0);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct capture *c = *state;
    okno_log_configure("okno", OKNO_LOG_INFO, OKNO_LOG_JSON, 2);
    close(c->fd);
    unlink(c->path);
    free(c->text);
    free(c);
    return 0;
}

static const char *captured(struct capture *c)
{
    free(c->text);
    c->text = calloc(1, CAPTURE_BYTES_MAX + 1);
    ssize_t n = pread(c->fd, c->text, CAPTURE_BYTES_MAX, 0);
    assert_true(n >= 0);
    return c->text;
}

/* Parses the only line captured; fails unless there is exactly one, valid, object. */
static json_t *only_line(struct capture *c)
{
    const char *text = captured(c);
    const char *nl = strchr(text, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    json_error_t err;
    json_t *obj = json_loadb(text, (size_t)(nl - text), 0, &err);
    if (obj == NULL)
        fail_msg("not JSON (%s): %s", err.text, text);
    return obj;
}

static void json_line_has_standard_and_typed_fields(void **state)
{
    struct capture *c = *state;
    okno_log_info("batch committed", OKNO_LOG_STR("message_id", "m-1"), OKNO_LOG_INT("offset", -5),
                  OKNO_LOG_UINT("partition", 3), OKNO_LOG_BOOL("replay", true),
                  OKNO_LOG_DOUBLE("ratio", 0.5), OKNO_LOG_ERR(OKNO_ETIMEDOUT));
    json_t *o = only_line(c);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "service")), "ledger");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "batch committed");
    assert_string_equal(json_string_value(json_object_get(o, "message_id")), "m-1");
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), -5);
    assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
    assert_true(json_is_true(json_object_get(o, "replay")));
    assert_true(json_real_value(json_object_get(o, "ratio")) == 0.5);
    assert_string_equal(json_string_value(json_object_get(o, "err")), "timed out");
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    int y, mo, d, h, mi, s, ms;
    char z = 0;
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z),
                     8);
    assert_int_equal(z, 'Z');
    assert_int_equal(strlen(ts), strlen("2024-01-31T23:59:59.123Z"));
    json_decref(o);
}

static void fields_come_after_ts_level_service_msg(void **state)
{
    struct capture *c = *state;
    okno_log_warn("x", OKNO_LOG_STR("topic", "t"));
    const char *text = captured(c);
    assert_true(strncmp(text, "{\"ts\":\"", 7) == 0);
    assert_non_null(strstr(text, "\",\"level\":\"warn\",\"service\":\"ledger\",\"msg\":\"x\","
                                 "\"topic\":\"t\"}\n"));
}

static void message_without_fields_is_fine(void **state)
{
    struct capture *c = *state;
    okno_log_error("plain");
    json_t *o = only_line(c);
    assert_int_equal(json_object_size(o), 4);
    json_decref(o);
}

static void levels_below_the_threshold_are_dropped(void **state)
{
    struct capture *c = *state;
    okno_log_configure("ledger", OKNO_LOG_WARN, OKNO_LOG_JSON, c->fd);
    int evaluated = 0;
    okno_log_debug("no", OKNO_LOG_INT("n", ++evaluated));
    okno_log_info("no");
    assert_int_equal(evaluated, 0); /* fields of a filtered line are not evaluated */
    assert_string_equal(captured(c), "");
    okno_log_warn("yes");
    json_t *o = only_line(c);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "yes");
    json_decref(o);
}

static void hostile_strings_are_escaped(void **state)
{
    struct capture *c = *state;
    const char *nasty = "q\"b\\n\nt\t\x01 bad\xff\xc0\x80 ok\xc3\xa9 \xed\xa0\x80";
    okno_log_info("m\"", OKNO_LOG_STR("k", nasty), OKNO_LOG_STR("nil", NULL),
                  OKNO_LOG_DOUBLE("nan", NAN));
    json_t *o = only_line(c);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "m\"");
    assert_string_equal(json_string_value(json_object_get(o, "k")),
                        "q\"b\\n\nt\t\x01 bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ok\xc3\xa9 "
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_true(json_is_null(json_object_get(o, "nil")));
    assert_true(json_is_null(json_object_get(o, "nan")));
    json_decref(o);
}

static void overlong_line_is_cut_and_stays_valid(void **state)
{
    struct capture *c = *state;
    char *big = malloc(3 * OKNO_LOG_LINE_BYTES_MAX);
    memset(big, 'a', 3 * OKNO_LOG_LINE_BYTES_MAX - 1);
    big[3 * OKNO_LOG_LINE_BYTES_MAX - 1] = '\0';
    /* Cut at every position around the end so that keys, escapes and values all get cut. */
    for (size_t len = OKNO_LOG_LINE_BYTES_MAX - 200; len < OKNO_LOG_LINE_BYTES_MAX; len += 7) {
        big[len] = '\0';
        ftruncate(c->fd, 0);
        okno_log_info("long", OKNO_LOG_STR("a", big), OKNO_LOG_STR("b\"key", "\"\"\"\""),
                      OKNO_LOG_INT("after", 1));
        big[len] = 'a';
        json_t *o = only_line(c);
        assert_true(strlen(c->text) <= OKNO_LOG_LINE_BYTES_MAX);
        if (json_object_get(o, "truncated") == NULL)
            assert_int_equal(json_integer_value(json_object_get(o, "after")), 1);
        json_decref(o);
    }
    ftruncate(c->fd, 0);
    okno_log_info(big);
    json_t *o = only_line(c);
    assert_true(json_is_true(json_object_get(o, "truncated")));
    json_decref(o);
    free(big);
}

static void logfmt_quotes_only_what_needs_it(void **state)
{
    struct capture *c = *state;
    okno_log_configure("relay", OKNO_LOG_INFO, OKNO_LOG_LOGFMT, c->fd);
    okno_log_info("published", OKNO_LOG_STR("topic", "okno.events.v1"),
                  OKNO_LOG_STR("why", "a b=\"c\""), OKNO_LOG_STR("empty", ""),
                  OKNO_LOG_INT("offset", 42));
    const char *text = captured(c);
    assert_true(strncmp(text, "ts=", 3) == 0);
    assert_non_null(strstr(text, "Z level=info service=relay msg=\"published\" "
                                 "topic=okno.events.v1 why=\"a b=\\\"c\\\"\" empty=\"\" "
                                 "offset=42\n"));
}

static void parse_names(void **state)
{
    (void)state;
    enum okno_log_level level;
    enum okno_log_format format;
    assert_int_equal(okno_log_level_parse("warn", &level), 0);
    assert_int_equal(level, OKNO_LOG_WARN);
    assert_int_equal(okno_log_level_parse("WARN", &level), OKNO_EINVAL);
    assert_int_equal(okno_log_format_parse("logfmt", &format), 0);
    assert_int_equal(format, OKNO_LOG_LOGFMT);
    assert_int_equal(okno_log_format_parse("xml", &format), OKNO_EINVAL);
    assert_int_equal(okno_log_configure("", OKNO_LOG_INFO, OKNO_LOG_JSON, 2), OKNO_EINVAL);
}

#define THREADS          4
#define LINES_PER_THREAD 500

static void *log_many(void *arg)
{
    intptr_t id = (intptr_t)arg;
    char pad[1000];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++)
        okno_log_info("tick", OKNO_LOG_INT("thread", id), OKNO_LOG_INT("i", i),
                      OKNO_LOG_STR("pad", pad));
    return NULL;
}

static void lines_from_threads_never_interleave(void **state)
{
    struct capture *c = *state;
    pthread_t threads[THREADS];
    for (intptr_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, log_many, (void *)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    char *text = (char *)captured(c);
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), lines++) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (o == NULL)
            fail_msg("line %d is not JSON: %s", lines, err.text);
        json_decref(o);
    }
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(json_line_has_standard_and_typed_fields),
        T(fields_come_after_ts_level_service_msg),
        T(message_without_fields_is_fine),
        T(levels_below_the_threshold_are_dropped),
        T(hostile_strings_are_escaped),
        T(overlong_line_is_cut_and_stays_valid),
        T(logfmt_quotes_only_what_needs_it),
        cmocka_unit_test(parse_names),
        T(lines_from_threads_never_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
