/* The deadlines heap against a plain array: random arms, re-arms, cancels and pops keep heap
 * order and positions, and pops come out earliest first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "deadlines.h"
#include "okno/error.h"
#include "okno/random.h"

#define SLOTS 2000
#define OPS   200000

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t rnd(void)
{
    return okno_random_next(&rng);
}

static int64_t model[SLOTS]; /* due time per slot, or NEVER */

static int64_t model_min(void)
{
    int64_t m = OKNO_DEADLINES_NEVER;
    for (int i = 0; i < SLOTS; i++)
        if (model[i] < m)
            m = model[i];
    return m;
}

static void random_operations_agree_with_a_plain_array(void **state)
{
    (void)state;
    okno_deadlines d;
    okno_deadlines_init(&d);
    for (int i = 0; i < SLOTS; i++)
        model[i] = OKNO_DEADLINES_NEVER;
    int64_t now = 0;
    for (int op = 0; op < OPS; op++) {
        uint32_t slot = (uint32_t)(rnd() % SLOTS);
        switch (rnd() % 4) {
        case 0:
        case 1: {
            int64_t due = now + (int64_t)(rnd() % 100000);
            assert_int_equal(okno_deadlines_arm(&d, slot, due), 0);
            model[slot] = due;
            break;
        }
        case 2:
            okno_deadlines_cancel(&d, slot);
            model[slot] = OKNO_DEADLINES_NEVER;
            break;
        default: {
            now += (int64_t)(rnd() % 2000);
            uint32_t s;
            int64_t due, last = INT64_MIN;
            while (okno_deadlines_pop_due(&d, now, &s, &due)) {
                assert_int_equal(model[s], due);
                assert_true(due >= last && due <= now);
                last = due;
                model[s] = OKNO_DEADLINES_NEVER;
            }
            assert_true(model_min() > now);
        }
        }
        assert_int_equal(okno_deadlines_next_ms(&d), model_min());
        assert_int_equal(okno_deadlines_due_ms(&d, slot), model[slot]);
        if (op % 5000 == 0)
            assert_true(okno_deadlines_check(&d));
    }
    assert_true(okno_deadlines_check(&d));
    okno_deadlines_close(&d);
}

static void an_empty_heap_has_no_next_and_pops_nothing(void **state)
{
    (void)state;
    okno_deadlines d;
    okno_deadlines_init(&d);
    uint32_t s;
    int64_t due;
    assert_int_equal(okno_deadlines_next_ms(&d), OKNO_DEADLINES_NEVER);
    assert_false(okno_deadlines_pop_due(&d, INT64_MAX, &s, &due));
    okno_deadlines_cancel(&d, 12345); /* never armed: nothing happens */
    assert_false(okno_deadlines_armed(&d, 12345));
    assert_int_equal(okno_deadlines_arm(&d, 7, 50), 0);
    assert_int_equal(okno_deadlines_arm(&d, 7, 40), 0); /* re-armed, not added */
    assert_int_equal(okno_deadlines_count(&d), 1);
    assert_true(okno_deadlines_pop_due(&d, 40, &s, &due));
    assert_int_equal(s, 7);
    assert_int_equal(due, 40);
    assert_int_equal(okno_deadlines_count(&d), 0);
    okno_deadlines_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_operations_agree_with_a_plain_array),
        cmocka_unit_test(an_empty_heap_has_no_next_and_pops_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
