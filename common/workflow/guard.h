/* The guard table: for every action, at which stages it applies, who may take it, what the
 * request must carry, what else must hold, and where it leads. okno_workflow_step interprets
 * this table and okno_workflow_table_print renders it, so the documentation is the code.
 * Internal to common/workflow; tests reach it through okno_internal. */
#ifndef OKNO_WORKFLOW_GUARD_H
#define OKNO_WORKFLOW_GUARD_H

#include "okno/workflow.h"

/* Everything a guard's predicates may look at. */
typedef struct okno__ctx {
    const okno_message_state *state;
    const okno_request *req;
    const okno_actor *actor;
    const okno_directory *dir;
    int64_t at_ms; /* now, never before the message's last event */
} okno__ctx;

/* The one party a step is reserved for (SPEC "Decision (who may act)"). */
typedef enum okno__who {
    OKNO__WHO_SUBMITTER,   /* the applicant (portal) or an intake_operator (intake) */
    OKNO__WHO_MODERATOR,   /* any moderator of the platform operator's org */
    OKNO__WHO_COORDINATOR, /* any coordinator of the holding org */
    OKNO__WHO_EXECUTOR,    /* the assigned executor, in the holding org */
    OKNO__WHO_AGREER,      /* a named agreer of the current round, in the holding org */
    OKNO__WHO_APPROVER,    /* the named approver, in the holding org */
    OKNO__WHO_SYSTEM,      /* the timer (OKNO_SYSTEM_USER_ID) */
    OKNO__WHO_COUNT
} okno__who;

/* A field a request must carry; each has its own refusal. */
typedef struct okno__need {
    const char *field; /* as named in okno_request */
    okno_refusal_code refusal;
    bool (*present)(const okno_request *req);
} okno__need;

/* A further condition; returns OKNO_REFUSAL_NONE when it holds. */
typedef struct okno__check {
    const char *text; /* one line for the table */
    okno_refusal_code (*holds)(const okno__ctx *c);
} okno__check;

/* The branch of a guard's outcome taken; the build function picks one. */
typedef enum okno__when {
    OKNO__WHEN_ALWAYS,
    OKNO__WHEN_WITH_AGREERS,
    OKNO__WHEN_WITHOUT_AGREERS,
    OKNO__WHEN_ROUND_OPEN,
    OKNO__WHEN_ROUND_DONE,
    OKNO__WHEN_ANSWER,
    OKNO__WHEN_FINAL_ANSWER,
    OKNO__WHEN_POSTPONED_ANSWER,
    OKNO__WHEN_REDIRECT,
    OKNO__WHEN_COUNT
} okno__when;

/* Whose account holds the message after the step. */
typedef enum okno__where {
    OKNO__WHERE_SAME,     /* the holding org */
    OKNO__WHERE_OPERATOR, /* the platform operator's org */
    OKNO__WHERE_TARGET,   /* the event's target_org_id */
    OKNO__WHERE_UPSTREAM, /* the event's target_org_id, which is the nearest upstream org */
    OKNO__WHERE_COUNT
} okno__where;

#define OKNO__STAY       OKNO_STAGE_COUNT /* lead stage: the stage does not change */
#define OKNO__NEEDS_MAX  4                /* needs of one guard */
#define OKNO__CHECKS_MAX 4                /* checks of one guard */
#define OKNO__LEADS_MAX  3                /* outcome branches of one guard */

typedef struct okno__lead {
    okno__when when;
    int stage; /* okno_stage, or OKNO__STAY */
    okno_outcome outcome;
    okno__where where;
} okno__lead;

/* Fills the event's payload from the request and state; returns the branch taken. */
typedef okno__when (*okno__build_fn)(const okno__ctx *c, okno_event *ev);

typedef struct okno__guard {
    okno_action action;
    okno_event_type event; /* NONE: the build function sets it */
    uint32_t stages;       /* bits (1 << okno_stage) where the action applies */
    okno__who who;
    const okno__need *needs[OKNO__NEEDS_MAX];    /* NULL-terminated when shorter */
    const okno__check *checks[OKNO__CHECKS_MAX]; /* NULL-terminated when shorter */
    okno__lead leads[OKNO__LEADS_MAX];
    uint32_t leads_count;
    okno__build_fn build;
} okno__guard;

/* The guard of an action, or NULL for NONE and out-of-range values. */
const okno__guard *okno__guard_find(okno_action action);

/* OKNO_REFUSAL_NONE if the actor is the party the guard reserves the step for. */
okno_refusal_code okno__who_holds(okno__who who, const okno__ctx *c);

/* Table wording for the parties and branches. */
const char *okno__who_text(okno__who who);
const char *okno__when_text(okno__when when);
const char *okno__where_text(okno__where where);

#endif
