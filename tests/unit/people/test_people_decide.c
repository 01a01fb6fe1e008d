/* The simulated people's decisions (tools/okno/people_decide.c): from a card and what they know
 * of the directory, each person acts only on the task the card shows, names people and orgs
 * that hold the authority asked, gives a reason where the regulation requires one, and, over
 * many rolls, reaches every action of SPEC 3.1-3.9. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "people_internal.h"

#define ROLLS 2000

/* Operator 1; ministries 1010 (with regional 1011) and 1020. */
static const okno_org orgs[] = {{1, 0}, {1010, 0}, {1011, 1010}, {1020, 0}};
static const okno_grant grants[] = {
    {101, 1, OKNO_ROLE_MODERATOR},      {101001, 1010, OKNO_ROLE_COORDINATOR},
    {101002, 1010, OKNO_ROLE_EXECUTOR}, {101003, 1010, OKNO_ROLE_EXECUTOR},
    {101005, 1010, OKNO_ROLE_MANAGER},  {101006, 1010, OKNO_ROLE_MANAGER},
    {101007, 1010, OKNO_ROLE_MANAGER},
};
static const okno_category categories[] = {{1, 30}, {2, 10}};
static const okno_authority authorities[] = {
    {101005, 1010, 1, 0, true, true},  {101005, 1010, 2, 0, true, true},
    {101006, 1010, 1, 0, true, true},  {101006, 1010, 2, 0, true, true},
    {101007, 1010, 1, 0, true, false}, {101007, 1010, 2, 0, true, false},
};

static okno_directory dir;
static okno_people_options opt;
static int64_t active[] = {1010, 1011, 1020};
static int64_t ministries[] = {1010, 1020};
static struct people_world world;

static int setup(void **state)
{
    (void)state;
    dir = (okno_directory){orgs, 4, grants, 7, categories, 2, authorities, 6, {0}};
    okno_workflow_config_init(&dir.config, 1);
    assert_int_equal(okno_directory_check(&dir), 0);
    opt = (okno_people_options){.reject_permille = 80, .refuse_permille = 100};
    world = (struct people_world){&dir, &opt, active, 3, ministries, 2};
    return 0;
}

static json_t *card(const char *stage, int64_t org)
{
    return json_pack("{s:i, s:s, s:I, s:[], s:i, s:i, s:n, s:b, s:n, s:[], s:n, s:n, s:b}", "seq",
                     3, "stage", stage, "holding_org", (json_int_t)org, "upstream_orgs",
                     "category_id", 1, "subcategory_id", 1, "executor", "in_work", 0,
                     "review_subject", "agreers", "approver", "answer_type", "interim_sent", 0);
}

static const struct actor moderator = {.user = 101, .org = 1, .roles = OKNO_ROLE_MODERATOR};
static const struct actor coordinator = {
    .user = 101001, .org = 1010, .roles = OKNO_ROLE_COORDINATOR};
static const struct actor executor = {.user = 101002, .org = 1010, .roles = OKNO_ROLE_EXECUTOR};
static const struct actor manager = {.user = 101005, .org = 1010, .roles = OKNO_ROLE_MANAGER};

static int64_t field(const struct decision *d, const char *name)
{
    return json_integer_value(json_object_get(d->body, name));
}

static void test_people_moderator_accepts_into_a_participant_or_rejects_with_a_reason(void **state)
{
    (void)state;
    json_t *c = card("moderation", 1);
    struct people_rng r = {1};
    int accepted = 0, rejected = 0;
    for (int i = 0; i < ROLLS; i++) {
        struct decision d = okno__people_decide(&world, &r, &moderator, T_MODERATE, c, 0);
        if (d.action == OKNO_ACTION_ACCEPT) {
            int64_t t = field(&d, "target_org_id");
            assert_true(t == 1010 || t == 1011 || t == 1020);
            assert_true(field(&d, "category_id") > 0);
            accepted++;
        } else {
            assert_int_equal(d.action, OKNO_ACTION_REJECT);
            assert_non_null(json_string_value(json_object_get(d.body, "reason")));
            rejected++;
        }
        json_decref(d.body);
    }
    assert_true(accepted > rejected && rejected > 0);
    json_decref(c);
}

static void test_people_act_only_on_the_task_the_card_shows(void **state)
{
    (void)state;
    struct people_rng r = {2};
    json_t *c = card("execution", 1010); /* nobody's executor, not in work */
    assert_int_equal(okno__people_decide(&world, &r, &moderator, T_MODERATE, c, 0).action,
                     OKNO_ACTION_NONE);
    assert_int_equal(okno__people_decide(&world, &r, &executor, T_TAKE_INTO_WORK, c, 0).action,
                     OKNO_ACTION_NONE);
    assert_int_equal(okno__people_decide(&world, &r, &coordinator, T_COORDINATE, c, 0).action,
                     OKNO_ACTION_NONE);
    assert_int_equal(okno__people_decide(&world, &r, &manager, T_APPROVE, c, 0).action,
                     OKNO_ACTION_NONE);
    json_decref(c);
    c = card("coordination", 1020); /* another org holds it */
    assert_int_equal(okno__people_decide(&world, &r, &coordinator, T_COORDINATE, c, 0).action,
                     OKNO_ACTION_NONE);
    json_decref(c);
}

static json_t *in_work(bool interim_sent)
{
    json_t *c = card("execution", 1010);
    json_object_set_new(c, "executor", json_integer(executor.user));
    json_object_set_new(c, "in_work", json_true());
    json_object_set_new(c, "interim_sent", json_boolean(interim_sent));
    return c;
}

static void test_people_draft_names_an_approver_and_agreers_with_authority(void **state)
{
    (void)state;
    json_t *c = in_work(false);
    struct people_rng r = {3};
    bool types[OKNO_ANSWER_COUNT] = {0};
    for (int i = 0; i < ROLLS; i++) {
        struct decision d = okno__people_decide(&world, &r, &executor, T_DRAFT, c, 1000);
        assert_int_equal(d.action, OKNO_ACTION_DRAFT_ANSWER);
        int64_t approver = field(&d, "approver_user_id");
        assert_true(okno_directory_may_approve(&dir, approver, 1010, 1, 1));
        json_t *agreers = json_object_get(d.body, "agreers");
        for (size_t k = 0; k < json_array_size(agreers); k++) {
            int64_t a = json_integer_value(json_array_get(agreers, k));
            assert_true(okno_directory_may_agree(&dir, a, 1010, 1));
            for (size_t m = 0; m < k; m++)
                assert_int_not_equal(a, json_integer_value(json_array_get(agreers, m)));
        }
        okno_answer_type t = OKNO_ANSWER_NONE;
        assert_int_equal(
            okno_answer_type_parse(
                okno_str_c(json_string_value(json_object_get(d.body, "answer_type"))), &t),
            0);
        types[t] = true;
        if (t == OKNO_ANSWER_POSTPONED)
            assert_true(field(&d, "postponed_until_ms") > 1000);
        if (t == OKNO_ANSWER_REJECTED)
            assert_non_null(json_object_get(d.body, "reason"));
        json_decref(d.body);
    }
    for (int t = 1; t < OKNO_ANSWER_COUNT; t++)
        assert_true(types[t]);
    json_decref(c);
}

static void test_people_postpone_at_most_once(void **state)
{
    (void)state;
    json_t *c = in_work(true);
    struct people_rng r = {4};
    for (int i = 0; i < ROLLS; i++) {
        struct decision d = okno__people_decide(&world, &r, &executor, T_DRAFT, c, 1000);
        assert_string_not_equal(json_string_value(json_object_get(d.body, "answer_type")),
                                "postponed");
        json_decref(d.body);
    }
    json_decref(c);
}

static void test_people_delegate_only_to_a_colleague_with_the_authority(void **state)
{
    (void)state;
    json_t *c = card("approval", 1010);
    json_object_set_new(c, "approver", json_integer(manager.user));
    json_object_set_new(c, "review_subject", json_string("answer"));
    json_object_set_new(c, "answer_type", json_string("resolved"));
    struct people_rng r = {5};
    int delegated = 0;
    for (int i = 0; i < ROLLS; i++) {
        struct decision d = okno__people_decide(&world, &r, &manager, T_APPROVE, c, 0);
        if (d.action == OKNO_ACTION_DELEGATE_APPROVAL) {
            int64_t to = field(&d, "target_user_id");
            assert_int_not_equal(to, manager.user);
            assert_true(okno_directory_may_approve(&dir, to, 1010, 1, 1));
            assert_non_null(json_object_get(d.body, "reason"));
            delegated++;
        }
        json_decref(d.body);
    }
    assert_true(delegated > 0);
    json_decref(c);
}

/* Over many rolls on every kind of card, every action of 3.1-3.9 appears. */
static void test_people_reach_every_action(void **state)
{
    (void)state;
    bool seen[OKNO_ACTION_COUNT] = {0};
    struct people_rng r = {6};
    json_t *coord = card("coordination", 1010), *take = card("execution", 1010);
    json_array_append_new(json_object_get(coord, "upstream_orgs"), json_integer(1));
    json_object_set_new(take, "executor", json_integer(executor.user));
    json_t *draft = in_work(false), *agree = card("agreement", 1010),
           *approve = card("approval", 1010);
    json_array_append_new(json_object_get(agree, "agreers"), json_integer(manager.user));
    json_object_set_new(approve, "approver", json_integer(manager.user));
    json_t *moderate = card("moderation", 1);
    struct {
        const struct actor *who;
        enum task task;
        json_t *card;
    } cases[] = {{&moderator, T_MODERATE, moderate},  {&coordinator, T_COORDINATE, coord},
                 {&executor, T_TAKE_INTO_WORK, take}, {&executor, T_DRAFT, draft},
                 {&manager, T_AGREE, agree},          {&manager, T_APPROVE, approve}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int i = 0; i < ROLLS; i++) {
            struct decision d =
                okno__people_decide(&world, &r, cases[k].who, cases[k].task, cases[k].card, 0);
            seen[d.action] = true;
            json_decref(d.body);
        }
    for (int a = OKNO_ACTION_ACCEPT; a < OKNO_ACTION_COUNT; a++)
        if (a != OKNO_ACTION_SLA_SIGNAL && a != OKNO_ACTION_SUBMIT)
            assert_true(seen[a] || (fprintf(stderr, "never: %s\n", okno_action_name(a)), false));
    json_decref(coord), json_decref(take), json_decref(draft), json_decref(agree);
    json_decref(approve), json_decref(moderate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_people_moderator_accepts_into_a_participant_or_rejects_with_a_reason),
        cmocka_unit_test(test_people_act_only_on_the_task_the_card_shows),
        cmocka_unit_test(test_people_draft_names_an_approver_and_agreers_with_authority),
        cmocka_unit_test(test_people_postpone_at_most_once),
        cmocka_unit_test(test_people_delegate_only_to_a_colleague_with_the_authority),
        cmocka_unit_test(test_people_reach_every_action),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
