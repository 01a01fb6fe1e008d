/* Property level: each action takes exactly its fields; server-set and unknown fields, wrong
 * types and missing required fields are refused naming the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gateway.h"

static const struct gw_caller coordinator = {
    .user_id = 7, .org_id = 3, .roles = OKNO_ROLE_COORDINATOR};
static const struct gw_caller applicant = {.user_id = 99, .applicant = true};
static const struct gw_caller intake = {
    .user_id = 8, .org_id = 1, .roles = OKNO_ROLE_INTAKE_OPERATOR};

/* The field a refusal names, or NULL when the request was shaped. */
static char *shape(okno_action action, const struct gw_caller *who, const char *body,
                   okno_request *req)
{
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    struct okno_http_response res = {0};
    memset(req, 0, sizeof(*req));
    bool ok = gw_shape_request(action, who, b, req, &res);
    char *field = NULL;
    if (!ok) {
        assert_int_equal(res.status, 400);
        json_t *e = json_loads(res.body, 0, NULL);
        field = strdup(json_string_value(json_object_get(e, "field")));
        json_decref(e);
    }
    free(res.body);
    json_decref(b);
    return field;
}

static void assert_refused(okno_action a, const struct gw_caller *who, const char *body,
                           const char *field)
{
    okno_request req;
    char *got = shape(a, who, body, &req);
    assert_non_null(got);
    assert_string_equal(got, field);
    free(got);
}

static void an_action_takes_its_fields_and_the_actor_from_the_token(void **state)
{
    (void)state;
    okno_request req;
    assert_null(shape(OKNO_ACTION_PROPOSE_REDIRECT, &coordinator,
                      "{\"target_org_id\":5,\"approver_user_id\":11,\"agreers\":[12,13],"
                      "\"comment\":\"c\"}",
                      &req));
    assert_int_equal(req.action, OKNO_ACTION_PROPOSE_REDIRECT);
    assert_int_equal(req.acting_user_id, 7);
    assert_int_equal(req.acting_org_id, 3);
    assert_int_equal(req.target_org_id, 5);
    assert_int_equal(req.agreers_count, 2);
    assert_int_equal(req.agreers[1], 13);
    assert_null(shape(OKNO_ACTION_TAKE_OVER, &coordinator, "{}", &req));
}

/* A body the coordinator sends for an action, refused naming field. */
struct refusal_case {
    okno_action action;
    const char *body, *field;
};

static void assert_refusals(const struct refusal_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
        assert_refused(cases[i].action, &coordinator, cases[i].body, cases[i].field);
}

static void server_set_and_unknown_fields_are_refused_by_name(void **state)
{
    (void)state;
    static const struct refusal_case cases[] = {
        {OKNO_ACTION_TAKE_OVER, "{\"stage\":\"execution\"}", "stage"},
        {OKNO_ACTION_TAKE_OVER, "{\"acting_org_id\":9}", "acting_org_id"},
        {OKNO_ACTION_TAKE_OVER, "{\"seq\":4}", "seq"},
        {OKNO_ACTION_TAKE_OVER, "{\"actor_user_id\":4}", "actor_user_id"},
        {OKNO_ACTION_TAKE_OVER, "{\"colour\":\"red\"}", "colour"},
        /* A field of another action is unknown here. */
        {OKNO_ACTION_TAKE_OVER, "{\"target_org_id\":5}", "target_org_id"},
    };
    assert_refusals(cases, sizeof cases / sizeof cases[0]);
}

static void wrong_types_and_missing_fields_are_refused_by_name(void **state)
{
    (void)state;
    static const struct refusal_case cases[] = {
        {OKNO_ACTION_ACCEPT, "{\"target_org_id\":\"5\"}", "target_org_id"},
        {OKNO_ACTION_ACCEPT, "{\"target_org_id\":-5}", "target_org_id"},
        {OKNO_ACTION_ACCEPT, "{}", "target_org_id"},
        {OKNO_ACTION_REJECT, "{\"reason\":42}", "reason"},
        {OKNO_ACTION_REJECT, "{\"reason\":\"\"}", "reason"},
        {OKNO_ACTION_DRAFT_ANSWER,
         "{\"answer_type\":\"maybe\",\"text\":\"t\",\"approver_user_id\":1}", "answer_type"},
        {OKNO_ACTION_PROPOSE_REDIRECT,
         "{\"target_org_id\":5,\"approver_user_id\":11,\"agreers\":[1,2,3,4,5,6,7,8,9]}",
         "agreers"},
    };
    assert_refusals(cases, sizeof cases / sizeof cases[0]);
}

static void submit_is_for_oneself_or_by_an_intake_operator(void **state)
{
    (void)state;
    okno_request req;
    assert_null(
        shape(OKNO_ACTION_SUBMIT, &applicant, "{\"text\":\"help\",\"category_id\":2}", &req));
    assert_int_equal(req.applicant_id, 99);
    assert_int_equal(req.channel, OKNO_CHANNEL_PORTAL);
    assert_int_equal(req.acting_org_id, 0);
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, "{\"text\":\"x\",\"applicant_id\":5}",
                   "applicant_id");
    assert_null(shape(OKNO_ACTION_SUBMIT, &intake, "{\"text\":\"x\",\"applicant_id\":5}", &req));
    assert_int_equal(req.applicant_id, 5);
    assert_int_equal(req.channel, OKNO_CHANNEL_INTAKE);
    assert_refused(OKNO_ACTION_SUBMIT, &intake, "{\"text\":\"x\"}", "applicant_id");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, "{}", "text");
}

static void submit_carries_the_applicants_email_when_well_formed(void **state)
{
    (void)state;
    json_t *b = json_loads("{\"text\":\"t\",\"applicant_email\":\"ivan@example.org\"}", 0, NULL);
    okno_request req = {0};
    struct okno_http_response res = {0};
    assert_true(gw_shape_request(OKNO_ACTION_SUBMIT, &applicant, b, &req, &res));
    assert_int_equal(req.applicant_email.len, strlen("ivan@example.org"));
    assert_memory_equal(req.applicant_email.ptr, "ivan@example.org", req.applicant_email.len);
    json_decref(b);
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, "{\"text\":\"t\",\"applicant_email\":\"ivan\"}",
                   "applicant_email");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, "{\"text\":\"t\",\"applicant_email\":\"a@b@c\"}",
                   "applicant_email");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant,
                   "{\"text\":\"t\",\"applicant_email\":\"@example.org\"}", "applicant_email");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, "{\"text\":\"t\",\"applicant_email\":7}",
                   "applicant_email");
    assert_refused(OKNO_ACTION_TAKE_OVER, &coordinator, "{\"applicant_email\":\"a@b\"}",
                   "applicant_email");
}

#define ATT(id, sha)                                                                               \
    "{\"id\":\"" id "\",\"name\":\"scan.pdf\",\"media_type\":\"application/pdf\","                 \
    "\"size_bytes\":10,\"sha256\":\"" sha "\"}"
#define SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Submit takes file references; a bad one is refused naming it: attachments[2].sha256. */
static void submit_takes_attachments_and_names_a_bad_one(void **state)
{
    (void)state;
    okno_request req;
    assert_null(shape(OKNO_ACTION_SUBMIT, &applicant,
                      "{\"text\":\"t\",\"attachments\":[" ATT("a", SHA) "," ATT("b", SHA) "]}",
                      &req));
    assert_int_equal(req.attachments_count, 2);
    assert_int_equal(req.attachments[1].size_bytes, 10);
    assert_int_equal(req.attachments[1].id.len, 1); /* its text went with the body */
    assert_refused(OKNO_ACTION_SUBMIT, &applicant,
                   "{\"text\":\"t\",\"attachments\":[" ATT("a", SHA) "," ATT("b", SHA) "," ATT(
                       "c", "ABC") "]}",
                   "attachments[2].sha256");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant,
                   "{\"text\":\"t\",\"attachments\":[{\"id\":\"a\"}]}", "attachments[0].name");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant,
                   "{\"text\":\"t\",\"attachments\":[{\"id\":\"a\",\"bytes\":\"AAAA\"}]}",
                   "attachments[0].bytes");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant,
                   "{\"text\":\"t\",\"attachments\":[" ATT("a b", SHA) "]}", "attachments[0].id");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, "{\"text\":\"t\",\"attachments\":{}}",
                   "attachments");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, "{\"text\":\"t\",\"attachments\":[7]}",
                   "attachments[0]");
    char many[4096] = "{\"text\":\"t\",\"attachments\":[";
    for (int i = 0; i <= OKNO_ATTACHMENTS_MAX; i++)
        strcat(strcat(many, i ? "," : ""), ATT("x", SHA));
    strcat(many, "]}");
    assert_refused(OKNO_ACTION_SUBMIT, &applicant, many, "attachments");
    assert_refused(OKNO_ACTION_TAKE_OVER, &coordinator, "{\"attachments\":[]}", "attachments");
}

static void roles_per_action_follow_the_regulation(void **state)
{
    (void)state;
    assert_int_equal(gw_action_roles(OKNO_ACTION_ACCEPT), OKNO_ROLE_MODERATOR);
    assert_int_equal(gw_action_roles(OKNO_ACTION_ASSIGN_EXECUTOR), OKNO_ROLE_COORDINATOR);
    assert_int_equal(gw_action_roles(OKNO_ACTION_DRAFT_ANSWER),
                     OKNO_ROLE_EXECUTOR | OKNO_ROLE_COORDINATOR);
    assert_int_equal(gw_action_roles(OKNO_ACTION_APPROVE), OKNO_ROLE_MANAGER);
    assert_int_equal(gw_action_roles(OKNO_ACTION_SLA_SIGNAL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_action_takes_its_fields_and_the_actor_from_the_token),
        cmocka_unit_test(server_set_and_unknown_fields_are_refused_by_name),
        cmocka_unit_test(wrong_types_and_missing_fields_are_refused_by_name),
        cmocka_unit_test(submit_is_for_oneself_or_by_an_intake_operator),
        cmocka_unit_test(submit_carries_the_applicants_email_when_well_formed),
        cmocka_unit_test(submit_takes_attachments_and_names_a_bad_one),
        cmocka_unit_test(roles_per_action_follow_the_regulation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
