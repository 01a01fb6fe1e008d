/* A small org directory and helpers shared by the workflow tests: a fake clock, request
 * builders and a driver that walks a message to any stage through real steps. */
#ifndef OKNO_TEST_WORKFLOW_FIXTURE_H
#define OKNO_TEST_WORKFLOW_FIXTURE_H

#include "okno/workflow.h"

/* Orgs: 1 the platform operator; 10 a ministry with departments 11 and 13, and 12 below 11;
 * 20 an unrelated root org. */
#define FX_OPERATOR 1
#define FX_MINISTRY 10
#define FX_DEPT     11
#define FX_SUBDEPT  12
#define FX_DEPT2    13
#define FX_OTHER    20

/* Users: in every org, FX_ROLE_USER(org, i) holds exactly role bit i; plus these extras. */
#define FX_ROLE_USER(org, bit) ((okno_user_id)(org)*100 + 10 + (bit))
#define FX_MODERATOR           FX_ROLE_USER(FX_OPERATOR, 0)
#define FX_COORDINATOR(org)    FX_ROLE_USER(org, 1)
#define FX_EXECUTOR(org)       FX_ROLE_USER(org, 2)
#define FX_MANAGER(org)        FX_ROLE_USER(org, 3)
#define FX_INTAKE(org)         FX_ROLE_USER(org, 6)
#define FX_AUTH_MANAGER(org)   ((okno_user_id)(org)*100 + 50) /* authority: category 1, all */
#define FX_SUB_MANAGER(org)    ((okno_user_id)(org)*100 + 51) /* authority: category 1, sub 5 */
#define FX_BARE_MANAGER(org)   ((okno_user_id)(org)*100 + 52) /* manager, no authority */
#define FX_EXECUTOR2(org)      ((okno_user_id)(org)*100 + 60) /* a second executor */
#define FX_AGREE_MANAGER(org)  ((okno_user_id)(org)*100 + 53) /* may agree, not approve */
#define FX_APPLICANT           9001

#define FX_CATEGORY_30 1                      /* 30 days */
#define FX_CATEGORY_10 2                      /* 10 days */
#define FX_T0          INT64_C(1700000000000) /* the fake clock's start, Unix ms */
#define FX_HOUR_MS     INT64_C(3600000)

/* The shared directory (config may be changed by a test; fx_reset restores it). */
extern okno_directory fx_dir;
void fx_reset(void);
/* A cmocka group setup that calls fx_reset. */
int fx_setup(void **state);

/* A driven message: its state and the clock; every step must be accepted. */
typedef struct fx_msg {
    okno_uuid id; /* the message id requests carry */
    okno_message_state state;
    int64_t now_ms;
    uint64_t next_request; /* request ids are derived from it */
} fx_msg;

okno_uuid fx_uuid(uint64_t n);
okno_actor fx_actor(okno_user_id user, okno_org_id org);

/* A request for action by (user, org) on message m, other fields zero. */
okno_request fx_req(const fx_msg *m, okno_action action, okno_user_id user, okno_org_id org);

/* The executor's draft of an answer of type with text, FX_MANAGER as approver, agreer (0 for
 * none) as the one agreer, and for a postponed answer a date 10 days after now_ms. */
okno_request fx_draft_req(const fx_msg *m, okno_org_id org, okno_answer_type type, const char *text,
                          okno_user_id agreer, int64_t now_ms);

/* Run one step at m->now_ms; on acceptance the state moves on. Returns the refusal code. */
okno_refusal_code fx_try(fx_msg *m, const okno_request *req, okno_step_result *out);
/* As fx_try, but fail the test unless accepted; returns the emitted event. */
okno_event fx_ok(fx_msg *m, const okno_request *req);
/* Check that req is refused with code and leaves the state unchanged. */
void fx_refused(fx_msg *m, const okno_request *req, okno_refusal_code code);

/* A request with no payload (take_into_work, agree, approve, ...) by user acting in org. */
okno_event fx_do(fx_msg *m, okno_action action, okno_user_id user, okno_org_id org);
void fx_deny(fx_msg *m, okno_action action, okno_user_id user, okno_org_id org,
             okno_refusal_code code);

/* A new message m (id) and the applicant's submission of it through the portal, not decided. */
okno_request fx_submission(fx_msg *m, uint64_t id);
/* Walk a new message (category 1, by the portal) up to a point, one hour per step. */
void fx_submit(fx_msg *m, uint64_t id);
void fx_to_coordination(fx_msg *m, uint64_t id, okno_org_id org); /* accepted into org */
void fx_to_execution(fx_msg *m, uint64_t id, okno_org_id org, bool in_work);
/* Drafted answer of type with agreers (FX_MANAGER only if with_agreer) and FX_MANAGER as
 * approver; postponed answers get a date 10 days ahead. */
void fx_to_review(fx_msg *m, uint64_t id, okno_org_id org, okno_answer_type type, bool with_agreer);

#endif
