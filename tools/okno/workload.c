/* The workload generator: scripted message lives over the demo directory, predicted with the
 * pure workflow core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/random.h"
#include "workload.h"

/* Applicants are not in the directory; message n is sent by applicant APPLICANT_ID_BASE + n. */
#define APPLICANT_ID_BASE 1000000000

/* One step of a script: who does what. Texts and ids are filled when it is materialized. */
typedef struct step {
    okno_action action;
    okno_user_id user;
    okno_org_id org;
    okno_org_id target_org;
    okno_user_id target_user;
    okno_user_id approver;
    okno_user_id agreers[2];
    uint32_t agreers_count;
    okno_answer_type answer;
} step;

typedef struct slot {
    bool active;
    okno_uuid message_id;
    int64_t number; /* message number, for texts and the applicant id */
    step script[OKNO_WORKLOAD_SCRIPT_MAX];
    int steps, next;
    okno_message_state state;
} slot;

struct okno_workload {
    const okno_directory *dir;
    okno_workload_options opts;
    uint64_t rng;
    okno_org_id ministries[1024];
    int ministries_count;
    int32_t categories[64];
    int categories_count;
    int64_t started;
    int active;
    slot slots[OKNO_WORKLOAD_WINDOW];
    okno_workload_record rec;
    okno_request sent[64]; /* recent requests, for repeats */
    int sent_count;
    okno_workload_expect expect;
    okno_step_result result;
};

static uint64_t next_random(okno_workload *w)
{
    return okno_random_next(&w->rng); /* deterministic for a seed */
}

static int below(okno_workload *w, int n)
{
    return (int)(next_random(w) % (uint64_t)n);
}

static okno_uuid random_uuid(okno_workload *w)
{
    okno_uuid id;
    uint64_t a = next_random(w), b = next_random(w);
    memcpy(id.bytes, &a, 8);
    memcpy(id.bytes + 8, &b, 8);
    id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x40); /* version 4 */
    id.bytes[8] = (uint8_t)((id.bytes[8] & 0x3f) | 0x80);
    return id;
}

/* People of a participant org, by the demo directory's numbering. */
static okno_user_id person(okno_org_id org, int n)
{
    return org * 100 + n;
}

okno_workload *okno_workload_new(const okno_directory *dir, const okno_workload_options *opts)
{
    okno_workload *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->dir = dir;
    w->opts = *opts;
    w->rng = opts->seed ? opts->seed : 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < dir->orgs_count && w->ministries_count < 1024; i++)
        if (dir->orgs[i].org_id >= 1000 && dir->orgs[i].parent_id == 0)
            w->ministries[w->ministries_count++] = dir->orgs[i].org_id;
    for (uint32_t i = 0; i < dir->categories_count && w->categories_count < 64; i++)
        w->categories[w->categories_count++] = dir->categories[i].category_id;
    if (w->ministries_count == 0 || w->categories_count == 0 ||
        !(okno_directory_roles(dir, 101, dir->config.operator_org_id) & OKNO_ROLE_MODERATOR)) {
        free(w);
        return NULL;
    }
    return w;
}

void okno_workload_free(okno_workload *w)
{
    free(w);
}

const okno_workload_expect *okno_workload_expected(const okno_workload *w)
{
    return &w->expect;
}

static void add(slot *s, step st)
{
    if (s->steps < OKNO_WORKLOAD_SCRIPT_MAX)
        s->script[s->steps++] = st;
}

/* From coordination in `org` to an approved answer, through the variant's agreement path. */
static void answer_path(okno_workload *w, slot *s, okno_org_id org)
{
    okno_user_id coord = person(org, 1), exec = person(org, 2 + below(w, 3));
    okno_user_id m5 = person(org, 5), m6 = person(org, 6), m7 = person(org, 7);
    okno_answer_type answer = (okno_answer_type)(OKNO_ANSWER_RESOLVED + below(w, 2));
    if (below(w, 5) == 0) {
        add(s, (step){.action = OKNO_ACTION_TAKE_OVER, .user = coord, .org = org});
        exec = coord;
    } else {
        add(s, (step){.action = OKNO_ACTION_ASSIGN_EXECUTOR,
                      .user = coord,
                      .org = org,
                      .target_user = exec});
        add(s, (step){.action = OKNO_ACTION_TAKE_INTO_WORK, .user = exec, .org = org});
    }
    int variant = below(w, 10);
    if (variant < 5) { /* straight to approval */
        add(s, (step){.action = OKNO_ACTION_DRAFT_ANSWER,
                      .user = exec,
                      .org = org,
                      .approver = m5,
                      .answer = answer});
        add(s, (step){.action = OKNO_ACTION_APPROVE, .user = m5, .org = org});
    } else if (variant < 8) { /* two agreers, in either order */
        step draft = {.action = OKNO_ACTION_DRAFT_ANSWER,
                      .user = exec,
                      .org = org,
                      .approver = m5,
                      .answer = answer,
                      .agreers = {m6, m7},
                      .agreers_count = 2};
        add(s, draft);
        add(s, (step){.action = OKNO_ACTION_AGREE, .user = variant == 5 ? m7 : m6, .org = org});
        add(s, (step){.action = OKNO_ACTION_AGREE, .user = variant == 5 ? m6 : m7, .org = org});
        add(s, (step){.action = OKNO_ACTION_APPROVE, .user = m5, .org = org});
    } else { /* a refused round, then agreement and approval */
        step draft = {.action = OKNO_ACTION_DRAFT_ANSWER,
                      .user = exec,
                      .org = org,
                      .approver = m6,
                      .answer = answer,
                      .agreers = {m7},
                      .agreers_count = 1};
        add(s, draft);
        add(s, (step){.action = OKNO_ACTION_REFUSE_AGREEMENT, .user = m7, .org = org});
        add(s, draft);
        add(s, (step){.action = OKNO_ACTION_AGREE, .user = m7, .org = org});
        add(s, (step){.action = OKNO_ACTION_APPROVE, .user = m6, .org = org});
    }
}

static void start_message(okno_workload *w, slot *s)
{
    memset(s, 0, sizeof *s);
    s->active = true;
    s->message_id = random_uuid(w);
    s->number = w->started++;
    add(s, (step){.action = OKNO_ACTION_SUBMIT, .user = APPLICANT_ID_BASE + s->number, .org = 0});
    okno_user_id moderator = 101 + below(w, 3);
    okno_org_id ministry = w->ministries[below(w, w->ministries_count)];
    if (below(w, 20) == 0) {
        add(s, (step){.action = OKNO_ACTION_REJECT, .user = moderator, .org = 1});
        return;
    }
    add(s,
        (step){.action = OKNO_ACTION_ACCEPT, .user = moderator, .org = 1, .target_org = ministry});
    okno_org_id org = ministry;
    if (below(w, 5) == 0) {
        okno_org_id sub = ministry + 1 + below(w, 3); /* 1000+10k -> 1000+10k+j */
        add(s, (step){.action = OKNO_ACTION_FORWARD_TO_SUBORDINATE,
                      .user = person(ministry, 1),
                      .org = ministry,
                      .target_org = sub});
        org = sub;
    }
    answer_path(w, s, org);
}

static void materialize(okno_workload *w, slot *s, const step *st, okno_request *r)
{
    okno_workload_record *rec = &w->rec;
    memset(r, 0, sizeof *r);
    r->request_id = random_uuid(w);
    r->message_id = s->message_id;
    r->action = st->action;
    r->acting_user_id = st->user;
    r->acting_org_id = st->org;
    r->target_org_id = st->target_org;
    r->target_user_id = st->target_user;
    r->approver_user_id = st->approver;
    memcpy(r->agreers, st->agreers, sizeof st->agreers);
    r->agreers_count = st->agreers_count;
    r->answer_type = st->answer;
    if (st->action == OKNO_ACTION_SUBMIT) {
        r->applicant_id = APPLICANT_ID_BASE + s->number; /* a spoiled twin acts as someone else */
        r->channel = OKNO_CHANNEL_PORTAL;
        r->category_id = w->categories[s->number % w->categories_count];
        snprintf(rec->text, sizeof rec->text, "Обращение №%lld: яма на дороге у дома %lld",
                 (long long)s->number, (long long)(s->number % 97 + 1));
        /* Every third applicant gives an e-mail address at submission (Submit v2); the others
         * are written to at the address the directory has on file. */
        snprintf(rec->email, sizeof rec->email, "portal%lld@mail.test", (long long)s->number);
        r->applicant_email = s->number % 3 == 0 ? okno_str_c(rec->email) : (okno_str){0};
    } else if (st->action == OKNO_ACTION_DRAFT_ANSWER) {
        snprintf(rec->text, sizeof rec->text, "Ответ на обращение №%lld: работы запланированы",
                 (long long)s->number);
    }
    snprintf(rec->reason, sizeof rec->reason, "Reason for %s on message %lld",
             okno_action_name(st->action), (long long)s->number);
    /* Only these carry a text of their own; on agree/approve a text is an edit of the answer,
     * and the buffer would still hold another message's text. */
    bool has_text = st->action == OKNO_ACTION_SUBMIT || st->action == OKNO_ACTION_DRAFT_ANSWER;
    r->text = has_text ? okno_str_c(rec->text) : (okno_str){0};
    bool needs_reason = st->action == OKNO_ACTION_REJECT ||
                        st->action == OKNO_ACTION_REFUSE_AGREEMENT ||
                        st->action == OKNO_ACTION_FORWARD_TO_SUBORDINATE;
    r->reason = needs_reason ? okno_str_c(rec->reason) : (okno_str){0};
}

/* Decides the request with the core, as the ledger will, and counts the outcome. */
static void predict(okno_workload *w, slot *s, const okno_request *r, int64_t now_ms)
{
    okno_actor actor;
    okno_actor_init(&actor, w->dir, r->acting_user_id, r->acting_org_id);
    okno_step_result *res = &w->result;
    okno_workflow_step(s->state.last_seq ? &s->state : NULL, r, &actor, w->dir, now_ms, res);
    w->expect.requests++;
    w->rec.events = (int32_t)res->events_count;
    if (res->events_count > 0) {
        w->expect.accepted++;
        w->expect.events += res->events_count;
        s->state = res->state;
    } else {
        w->expect.refused++;
    }
}

/* An invalid twin of a step: someone else tries it (a wrong user of the same org). */
static void spoil(okno_workload *w, step *st)
{
    st->user = st->org >= 1000 ? person(st->org, 8) : 999; /* the curator, or a stranger */
    if (below(w, 2) == 0)
        st->action = (okno_action)(OKNO_ACTION_ACCEPT + below(w, OKNO_ACTION_DELEGATE_APPROVAL -
                                                                     OKNO_ACTION_ACCEPT + 1));
}

static slot *pick_slot(okno_workload *w)
{
    while (w->active < OKNO_WORKLOAD_WINDOW && w->started < w->opts.messages) {
        for (int i = 0; i < OKNO_WORKLOAD_WINDOW; i++) {
            if (!w->slots[i].active) {
                start_message(w, &w->slots[i]);
                w->active++;
                break;
            }
        }
    }
    if (w->active == 0)
        return NULL;
    for (int i = below(w, OKNO_WORKLOAD_WINDOW);; i = (i + 1) % OKNO_WORKLOAD_WINDOW)
        if (w->slots[i].active)
            return &w->slots[i];
}

static bool repeat_earlier(okno_workload *w)
{
    if (w->sent_count == 0 || below(w, 1000) >= w->opts.repeat_permille)
        return false;
    w->rec.req = w->sent[below(w, w->sent_count)];
    w->rec.req.text = (okno_str){0}; /* the original's texts are gone; the id decides */
    w->rec.req.reason = (okno_str){0};
    w->rec.req.applicant_email = (okno_str){0};
    w->rec.malformed = false;
    w->rec.repeat = true;
    w->expect.repeats++;
    return true;
}

bool okno_workload_next(okno_workload *w, int64_t now_ms, okno_workload_record **out)
{
    *out = &w->rec;
    w->rec.repeat = false;
    if (below(w, 1000) < w->opts.malformed_permille) {
        w->rec.malformed = true;
        w->expect.malformed++;
        return true;
    }
    if (repeat_earlier(w))
        return true;
    slot *s = pick_slot(w);
    if (s == NULL)
        return false;
    step st = s->script[s->next];
    bool invalid = below(w, 1000) < w->opts.invalid_permille;
    if (invalid)
        spoil(w, &st);
    else
        s->next++;
    w->rec.malformed = false;
    materialize(w, s, &st, &w->rec.req);
    predict(w, s, &w->rec.req, now_ms);
    if (!invalid && w->result.events_count == 0)
        fprintf(stderr, "okno load: script step %s of message %lld was refused: %s\n",
                okno_action_name(st.action), (long long)s->number, w->result.refusal.message);
    if (w->sent_count < 64)
        w->sent[w->sent_count++] = w->rec.req;
    else
        w->sent[below(w, 64)] = w->rec.req;
    if (s->next == s->steps) {
        s->active = false;
        w->active--;
    }
    return true;
}
