/* The shared directory and message driver of the workflow tests (see fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixture.h"

static const okno_org orgs[] = {
    {FX_OPERATOR, 0},      {FX_MINISTRY, 0},        {FX_DEPT, FX_MINISTRY},
    {FX_SUBDEPT, FX_DEPT}, {FX_DEPT2, FX_MINISTRY}, {FX_OTHER, 0},
};
#define ORGS_COUNT (sizeof orgs / sizeof orgs[0])
#define EXTRAS     5 /* the extra users per org */

static okno_grant grants[ORGS_COUNT * (OKNO_ROLE_COUNT + EXTRAS)];

static const okno_category categories[] = {{FX_CATEGORY_30, 30}, {FX_CATEGORY_10, 10}};

static okno_authority authorities[ORGS_COUNT * 3];

okno_directory fx_dir;

static int grant_order(const void *a, const void *b)
{
    const okno_grant *x = a, *y = b;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    return (x->org_id > y->org_id) - (x->org_id < y->org_id);
}

static void grants_fill(void)
{
    size_t n = 0;
    for (size_t o = 0; o < ORGS_COUNT; o++) {
        okno_org_id org = orgs[o].org_id;
        for (int i = 0; i < OKNO_ROLE_COUNT; i++)
            grants[n++] = (okno_grant){FX_ROLE_USER(org, i), org, 1u << i};
        grants[n++] = (okno_grant){FX_AUTH_MANAGER(org), org, OKNO_ROLE_MANAGER};
        grants[n++] = (okno_grant){FX_SUB_MANAGER(org), org, OKNO_ROLE_MANAGER};
        grants[n++] = (okno_grant){FX_BARE_MANAGER(org), org, OKNO_ROLE_MANAGER};
        grants[n++] = (okno_grant){FX_AGREE_MANAGER(org), org, OKNO_ROLE_MANAGER};
        grants[n++] = (okno_grant){FX_EXECUTOR2(org), org, OKNO_ROLE_EXECUTOR};
    }
    qsort(grants, n, sizeof grants[0], grant_order);
}

/* Authorities are sorted by (org, user, ...); orgs[] is sorted and the users grow with the
 * suffixes 50 < 51 < 53, so filling in this order keeps them sorted. */
static void authorities_fill(void)
{
    size_t n = 0;
    for (size_t o = 0; o < ORGS_COUNT; o++) {
        okno_org_id org = orgs[o].org_id;
        authorities[n++] =
            (okno_authority){FX_AUTH_MANAGER(org), org, FX_CATEGORY_30, 0, true, true};
        authorities[n++] =
            (okno_authority){FX_SUB_MANAGER(org), org, FX_CATEGORY_30, 5, true, true};
        authorities[n++] =
            (okno_authority){FX_AGREE_MANAGER(org), org, FX_CATEGORY_30, 0, true, false};
    }
}

void fx_reset(void)
{
    grants_fill();
    authorities_fill();
    fx_dir = (okno_directory){
        orgs,       ORGS_COUNT, grants,      sizeof grants / sizeof grants[0],
        categories, 2,          authorities, sizeof authorities / sizeof authorities[0],
        {0}};
    okno_workflow_config_init(&fx_dir.config, FX_OPERATOR);
    assert_int_equal(okno_directory_check(&fx_dir), 0);
}

int fx_setup(void **state)
{
    (void)state;
    fx_reset();
    return 0;
}

okno_uuid fx_uuid(uint64_t n)
{
    okno_uuid u = {{0}};
    memcpy(u.bytes, &n, sizeof n);
    u.bytes[15] = 0x4e;
    return u;
}

okno_actor fx_actor(okno_user_id user, okno_org_id org)
{
    okno_actor a;
    okno_actor_init(&a, &fx_dir, user, org);
    return a;
}

okno_request fx_req(const fx_msg *m, okno_action action, okno_user_id user, okno_org_id org)
{
    okno_request r;
    memset(&r, 0, sizeof r);
    r.request_id = fx_uuid(0x1000000 + m->next_request);
    r.message_id = m->id;
    r.action = action;
    r.acting_user_id = user;
    r.acting_org_id = org;
    return r;
}

okno_refusal_code fx_try(fx_msg *m, const okno_request *req, okno_step_result *out)
{
    okno_actor actor = fx_actor(req->acting_user_id, req->acting_org_id);
    assert_int_equal(okno_workflow_step(&m->state, req, &actor, &fx_dir, m->now_ms, out), 0);
    m->next_request++;
    if (out->refusal.code == OKNO_REFUSAL_NONE) {
        assert_int_equal(out->events_count, 1);
        assert_true(okno_workflow_check(&out->state));
        m->state = out->state;
    } else {
        assert_int_equal(out->events_count, 0);
        assert_true(okno_workflow_state_equal(&out->state, &m->state));
        assert_true(out->refusal.message[0] != '\0');
    }
    return out->refusal.code;
}

okno_event fx_ok(fx_msg *m, const okno_request *req)
{
    static okno_step_result out; /* large; tests are single-threaded */
    okno_refusal_code code = fx_try(m, req, &out);
    if (code != OKNO_REFUSAL_NONE)
        fail_msg("%s refused: %s (%s)", okno_action_name(req->action), okno_refusal_code_name(code),
                 out.refusal.message);
    return out.events[0];
}

void fx_refused(fx_msg *m, const okno_request *req, okno_refusal_code code)
{
    static okno_step_result out;
    okno_refusal_code got = fx_try(m, req, &out);
    if (got != code)
        fail_msg("%s: expected %s, got %s", okno_action_name(req->action),
                 okno_refusal_code_name(code), okno_refusal_code_name(got));
}

okno_event fx_do(fx_msg *m, okno_action action, okno_user_id user, okno_org_id org)
{
    okno_request r = fx_req(m, action, user, org);
    return fx_ok(m, &r);
}

void fx_deny(fx_msg *m, okno_action action, okno_user_id user, okno_org_id org,
             okno_refusal_code code)
{
    okno_request r = fx_req(m, action, user, org);
    fx_refused(m, &r, code);
}

okno_request fx_submission(fx_msg *m, uint64_t id)
{
    memset(m, 0, sizeof *m);
    m->now_ms = FX_T0;
    m->id = fx_uuid(id);
    okno_request r = fx_req(m, OKNO_ACTION_SUBMIT, FX_APPLICANT, 0);
    r.applicant_id = FX_APPLICANT;
    r.channel = OKNO_CHANNEL_PORTAL;
    r.category_id = FX_CATEGORY_30;
    r.text = okno_str_c("The street light is broken");
    return r;
}

void fx_submit(fx_msg *m, uint64_t id)
{
    okno_request r = fx_submission(m, id);
    fx_ok(m, &r);
}

void fx_to_coordination(fx_msg *m, uint64_t id, okno_org_id org)
{
    fx_submit(m, id);
    m->now_ms += FX_HOUR_MS;
    okno_request r = fx_req(m, OKNO_ACTION_ACCEPT, FX_MODERATOR, FX_OPERATOR);
    r.target_org_id = org;
    fx_ok(m, &r);
}

void fx_to_execution(fx_msg *m, uint64_t id, okno_org_id org, bool in_work)
{
    fx_to_coordination(m, id, org);
    m->now_ms += FX_HOUR_MS;
    okno_request r = fx_req(m, OKNO_ACTION_ASSIGN_EXECUTOR, FX_COORDINATOR(org), org);
    r.target_user_id = FX_EXECUTOR(org);
    fx_ok(m, &r);
    if (!in_work)
        return;
    m->now_ms += FX_HOUR_MS;
    fx_do(m, OKNO_ACTION_TAKE_INTO_WORK, FX_EXECUTOR(org), org);
}

okno_request fx_draft_req(const fx_msg *m, okno_org_id org, okno_answer_type type, const char *text,
                          okno_user_id agreer, int64_t now_ms)
{
    okno_request r = fx_req(m, OKNO_ACTION_DRAFT_ANSWER, FX_EXECUTOR(org), org);
    r.answer_type = type;
    r.text = okno_str_c(text);
    r.approver_user_id = FX_MANAGER(org);
    if (agreer != 0) {
        r.agreers[0] = agreer;
        r.agreers_count = 1;
    }
    if (type == OKNO_ANSWER_POSTPONED)
        r.postponed_until_ms = now_ms + 10 * 24 * FX_HOUR_MS;
    return r;
}

void fx_to_review(fx_msg *m, uint64_t id, okno_org_id org, okno_answer_type type, bool with_agreer)
{
    fx_to_execution(m, id, org, true);
    m->now_ms += FX_HOUR_MS;
    okno_request r =
        fx_draft_req(m, org, type, "Fixed on Monday", with_agreer ? FX_MANAGER(org) : 0, m->now_ms);
    if (type == OKNO_ANSWER_REJECTED)
        r.reason = okno_str_c("Not a matter for the platform (rules 2.4)");
    fx_ok(m, &r);
}
