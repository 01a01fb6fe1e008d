/* Canonical names round-trip, and the directory's lookups answer what its data says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"
#include "okno/error.h"

/* name(v) parses back to v for every value; out-of-range values are "unknown". */
#define ROUND_TRIP(name, type, count)                                                              \
    do {                                                                                           \
        for (int v = 0; v < (count); v++) {                                                        \
            type back = (type)0;                                                                   \
            const char *n = okno_##name##_name((type)v);                                           \
            assert_string_not_equal(n, "unknown");                                                 \
            assert_int_equal(okno_##name##_parse(okno_str_c(n), &back), 0);                        \
            assert_int_equal(back, v);                                                             \
        }                                                                                          \
        assert_string_equal(okno_##name##_name((type)(count)), "unknown");                         \
        type untouched = (type)1;                                                                  \
        assert_int_equal(okno_##name##_parse(okno_str_c("no_such_word"), &untouched),              \
                         OKNO_EINVAL);                                                             \
        assert_int_equal(untouched, 1);                                                            \
    } while (0)

static void every_enum_value_round_trips_through_its_name(void **s)
{
    (void)s;
    ROUND_TRIP(stage, okno_stage, OKNO_STAGE_COUNT);
    ROUND_TRIP(outcome, okno_outcome, OKNO_OUTCOME_COUNT);
    ROUND_TRIP(action, okno_action, OKNO_ACTION_COUNT);
    ROUND_TRIP(answer_type, okno_answer_type, OKNO_ANSWER_COUNT);
    ROUND_TRIP(signal_kind, okno_signal_kind, OKNO_SIGNAL_COUNT);
    ROUND_TRIP(channel, okno_channel, OKNO_CHANNEL_COUNT);
    ROUND_TRIP(subject, okno_subject, OKNO_SUBJECT_COUNT);
    ROUND_TRIP(event_type, okno_event_type, OKNO_EVENT_COUNT);
    ROUND_TRIP(refusal_code, okno_refusal_code, OKNO_REFUSAL_COUNT);
}

static void spec_canonical_names_are_spelled_as_in_spec(void **s)
{
    (void)s;
    assert_string_equal(okno_role_name(OKNO_ROLE_ORG_ADMIN), "org_admin");
    assert_string_equal(okno_role_name(OKNO_ROLE_INTAKE_OPERATOR), "intake_operator");
    assert_string_equal(okno_stage_name(OKNO_STAGE_AGREEMENT), "agreement");
    assert_string_equal(okno_outcome_name(OKNO_OUTCOME_REJECTED_BY_MODERATOR),
                        "rejected_by_moderator");
    assert_string_equal(okno_action_name(OKNO_ACTION_FORWARD_TO_SUBORDINATE),
                        "forward_to_subordinate");
    assert_string_equal(okno_answer_type_name(OKNO_ANSWER_NOT_RESOLVED), "not_resolved");
    assert_string_equal(okno_signal_kind_name(OKNO_SIGNAL_POSTPONED_DATE_REACHED),
                        "postponed_date_reached");
}

static void roles_are_single_bits_by_name(void **s)
{
    (void)s;
    for (int i = 0; i < OKNO_ROLE_COUNT; i++) {
        okno_role r = (okno_role)0;
        assert_int_equal(okno_role_parse(okno_str_c(okno_role_name((okno_role)(1u << i))), &r), 0);
        assert_int_equal(r, 1u << i);
    }
    assert_string_equal(okno_role_name((okno_role)(OKNO_ROLE_MANAGER | OKNO_ROLE_EXECUTOR)),
                        "unknown");
    okno_role r;
    assert_int_equal(okno_role_parse((okno_str){"manager!", 7}, &r), 0); /* length-bounded */
    assert_int_equal(r, OKNO_ROLE_MANAGER);
    assert_int_equal(okno_role_parse((okno_str){NULL, 0}, &r), OKNO_EINVAL);
}

static void signal_kinds_map_to_their_events_and_back(void **s)
{
    (void)s;
    for (int k = 1; k < OKNO_SIGNAL_COUNT; k++) {
        okno_event_type t = okno_signal_kind_event((okno_signal_kind)k);
        assert_string_equal(okno_event_type_name(t), okno_signal_kind_name((okno_signal_kind)k));
        assert_int_equal(okno_event_type_signal(t), k);
    }
    assert_int_equal(okno_signal_kind_event(OKNO_SIGNAL_NONE), OKNO_EVENT_NONE);
    assert_int_equal(okno_event_type_signal(OKNO_EVENT_APPROVAL_GIVEN), OKNO_SIGNAL_NONE);
}

static void directory_answers_hierarchy_roles_and_authority(void **s)
{
    (void)s;
    assert_true(okno_directory_org_is_below(&fx_dir, FX_SUBDEPT, FX_MINISTRY));
    assert_true(okno_directory_org_is_below(&fx_dir, FX_DEPT, FX_MINISTRY));
    assert_false(okno_directory_org_is_below(&fx_dir, FX_MINISTRY, FX_DEPT));
    assert_false(okno_directory_org_is_below(&fx_dir, FX_DEPT, FX_DEPT));
    assert_false(okno_directory_org_is_below(&fx_dir, FX_OTHER, FX_MINISTRY));
    assert_false(okno_directory_org_is_below(&fx_dir, 999, FX_MINISTRY));
    assert_int_equal(okno_directory_roles(&fx_dir, FX_EXECUTOR(FX_DEPT), FX_DEPT),
                     OKNO_ROLE_EXECUTOR);
    assert_int_equal(okno_directory_roles(&fx_dir, FX_EXECUTOR(FX_DEPT), FX_MINISTRY), 0);
    assert_int_equal(okno_directory_category_find(&fx_dir, FX_CATEGORY_10)->total_days, 10);
    assert_null(okno_directory_category_find(&fx_dir, 3));
    assert_true(okno_directory_may_agree(&fx_dir, FX_SUB_MANAGER(FX_DEPT), FX_DEPT, 1));
    assert_true(okno_directory_may_approve(&fx_dir, FX_SUB_MANAGER(FX_DEPT), FX_DEPT, 1, 5));
    assert_false(okno_directory_may_approve(&fx_dir, FX_SUB_MANAGER(FX_DEPT), FX_DEPT, 1, 6));
    assert_true(okno_directory_may_approve(&fx_dir, FX_AUTH_MANAGER(FX_DEPT), FX_DEPT, 1, 6));
    assert_false(okno_directory_may_approve(&fx_dir, FX_AGREE_MANAGER(FX_DEPT), FX_DEPT, 1, 0));
    assert_false(okno_directory_may_agree(&fx_dir, FX_AUTH_MANAGER(FX_DEPT), FX_DEPT, 2));
    assert_false(okno_directory_may_agree(&fx_dir, FX_AUTH_MANAGER(FX_DEPT), FX_MINISTRY, 1));
}

static void directory_check_rejects_unsorted_or_cyclic_data(void **s)
{
    (void)s;
    const okno_org unsorted[] = {{2, 0}, {1, 0}};
    okno_directory d = {0};
    okno_workflow_config_init(&d.config, 1);
    d.orgs = unsorted;
    d.orgs_count = 2;
    assert_int_equal(okno_directory_check(&d), OKNO_EINVAL);
    const okno_org cycle[] = {{1, 2}, {2, 1}};
    d.orgs = cycle;
    assert_int_equal(okno_directory_check(&d), 0);
    assert_false(okno_directory_org_is_below(&d, 1, 3)); /* terminates */
    const okno_category bad_days[] = {{1, 0}};
    d.categories = bad_days;
    d.categories_count = 1;
    assert_int_equal(okno_directory_check(&d), OKNO_EINVAL);
    d.categories_count = 0;
    d.config.approaching_permille = 1000;
    assert_int_equal(okno_directory_check(&d), OKNO_EINVAL);
    d.config.approaching_permille = 800;
    d.config.operator_org_id = 3; /* not in the directory */
    assert_int_equal(okno_directory_check(&d), OKNO_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_enum_value_round_trips_through_its_name),
        cmocka_unit_test(spec_canonical_names_are_spelled_as_in_spec),
        cmocka_unit_test(roles_are_single_bits_by_name),
        cmocka_unit_test(signal_kinds_map_to_their_events_and_back),
        cmocka_unit_test(directory_answers_hierarchy_roles_and_authority),
        cmocka_unit_test(directory_check_rejects_unsorted_or_cyclic_data),
    };
    return cmocka_run_group_tests(tests, fx_setup, NULL);
}
