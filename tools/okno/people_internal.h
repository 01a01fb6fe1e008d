/* Private to tools/okno/people*.c: the people, their jobs, and the decisions they take. */
#ifndef OKNO_PEOPLE_INTERNAL_H
#define OKNO_PEOPLE_INTERNAL_H

#include <jansson.h>

#include "okno/pg_directory.h"
#include "people.h"

/* A task as the inbox names it (okno_rm.inbox.task). */
enum task { T_NONE, T_MODERATE, T_COORDINATE, T_TAKE_INTO_WORK, T_DRAFT, T_AGREE, T_APPROVE };

/* One person acting for one org (a user with roles in two orgs is two actors), or an applicant
 * (org 0). */
struct actor {
    int64_t user;
    int64_t org;
    uint32_t roles;     /* okno_role bits held in org */
    char *auth;         /* "Authorization: Bearer ..." */
    int32_t pace_pct;   /* their delays in percent of the usual (slow people: several times) */
    int64_t look_at_ms; /* next look at the inbox, simulated */
    bool looking;
    okno_people_totals tally;
};

/* What a person decides to do with a message after reading its card. */
struct decision {
    okno_action action;
    json_t *body; /* owned */
};

struct people_rng {
    uint64_t s;
};

uint64_t okno__people_next(struct people_rng *r);
int okno__people_below(struct people_rng *r, int n);

/* The shared knowledge every person has of the directory (their pick lists). */
struct people_world {
    const okno_directory *dir;
    const okno_people_options *opt;
    int64_t *active_orgs; /* the participant orgs in play */
    int active_orgs_count;
    int64_t *ministries; /* the top orgs in play */
    int ministries_count;
};

/* What `who` does about the task on the card at now_ms; action NONE if nothing (the card
 * does not show the task any more). */
struct decision okno__people_decide(const struct people_world *w, struct people_rng *r,
                                    const struct actor *who, enum task task, json_t *card,
                                    int64_t now_ms);

#endif
