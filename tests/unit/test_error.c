/* okno_strerror names every error code and never returns NULL. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strerror_names_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
