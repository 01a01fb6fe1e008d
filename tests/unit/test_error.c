/* okno_strerror names every error code and never returns NULL; okno_errorf writes an error's
 * text into the caller's buffer, truncated and NUL-terminated, and returns the code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "okno/error.h"

static void strerror_names_every_code(void **state)
{
    (void)state;
    for (int e = OKNO_OK; e >= OKNO_EDUPLICATE; e--) {
        assert_non_null(okno_strerror(e));
        assert_string_not_equal(okno_strerror(e), "unknown error");
    }
    assert_string_equal(okno_strerror(-999), "unknown error");
}

static void errorf_writes_the_text_and_returns_the_code(void **state)
{
    (void)state;
    char errbuf[16];
    assert_int_equal(okno_errorf(errbuf, sizeof errbuf, OKNO_EPG, "table %s", "okno.orgs"),
                     OKNO_EPG);
    assert_string_equal(errbuf, "table okno.orgs");
    assert_int_equal(
        okno_errorf(errbuf, sizeof errbuf, OKNO_EINVAL, "%s", "a much longer sentence"),
        OKNO_EINVAL);
    assert_string_equal(errbuf, "a much longer s"); /* truncated to fit, NUL-terminated */
}

static void errorf_without_a_buffer_only_returns_the_code(void **state)
{
    (void)state;
    assert_int_equal(okno_errorf(NULL, 0, OKNO_ELIMIT, "ignored %d", 1), OKNO_ELIMIT);
    char errbuf[4] = "abc";
    assert_int_equal(okno_errorf(errbuf, 0, OKNO_EIO, "ignored"), OKNO_EIO);
    assert_string_equal(errbuf, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strerror_names_every_code),
        cmocka_unit_test(errorf_writes_the_text_and_returns_the_code),
        cmocka_unit_test(errorf_without_a_buffer_only_returns_the_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
