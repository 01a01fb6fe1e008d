/* The workflow vocabulary and the pure core: (state, request, actor, directory, now) -> events.
 *
 * Every name here follows regulation/SPEC.md ("Canonical names"). The Avro schemas, the API,
 * the projections and the tests all use these words, so the enums below are append-only: a
 * value, once committed, keeps its number and its canonical string forever.
 *
 * Ownership: every pointer argument is borrowed for the duration of the call only. Text fields
 * of events (okno_str) point into the request that produced them and are valid only as long as
 * that request's storage is. Nothing in this module allocates, reads a clock or does I/O. */
#ifndef OKNO_WORKFLOW_H
#define OKNO_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits --------------------------------------------------------------------------- */

#define OKNO_AGREERS_MAX               8     /* named agreeing managers in one round */
#define OKNO_UPSTREAM_MAX              16    /* depth of the forward_to_subordinate chain */
#define OKNO_STEP_EVENTS_MAX           2     /* events one okno_workflow_step may emit */
#define OKNO_REFUSAL_MESSAGE_MAX       160   /* bytes of the human-readable refusal, with the NUL */
#define OKNO_TEXT_BYTES_MAX            65536 /* answer text and message text, in bytes */
#define OKNO_REASON_BYTES_MAX          4096  /* stated reason, in bytes */
#define OKNO_COMMENT_BYTES_MAX         16384 /* executor's or manager's comment, in bytes */
#define OKNO_EMAIL_BYTES_MAX           254   /* an applicant's e-mail address, in bytes */
#define OKNO_ATTACHMENTS_MAX           20    /* file references on one submission */
#define OKNO_ATTACHMENT_ID_BYTES_MAX   128   /* the portal file store's id of a file, in bytes */
#define OKNO_ATTACHMENT_NAME_BYTES_MAX 255   /* a file name, UTF-8, in bytes */
#define OKNO_ATTACHMENT_TYPE_BYTES_MAX 255   /* a media type (RFC 6838), in bytes */
#define OKNO_ATTACHMENT_SIZE_MAX       (100LL * 1024 * 1024) /* bytes of one referenced file */
#define OKNO_SHA256_HEX_BYTES          64                    /* a SHA-256 digest in lowercase hex */
#define OKNO_ORG_DEPTH_MAX             64 /* levels of the org hierarchy walked before giving up */
#define OKNO_TOTAL_DAYS_MAX            3660 /* largest total processing time of a category, days */
#define OKNO_APPROACHING_PERMILLE      800 /* default "approaching" share of a stage's time, 1/1000 */

/* The user id the timer's SLA signals act as; no person may hold it. */
#define OKNO_SYSTEM_USER_ID 0

/* ---- identifiers ---------------------------------------------------------------------- */

/* Message ids and request ids: RFC 4122 UUIDs, 16 bytes in network order. */
typedef struct okno_uuid {
    uint8_t bytes[16];
} okno_uuid;

typedef int64_t okno_org_id;  /* an organization (tenant); 0 means none */
typedef int64_t okno_user_id; /* a user of any org; 0 means none (or the system) */

/* A borrowed, not necessarily NUL-terminated run of UTF-8 bytes; {NULL, 0} is empty. */
typedef struct okno_str {
    const char *ptr;
    uint32_t len; /* bytes */
} okno_str;

/* A slice over a NUL-terminated string (borrowed). */
okno_str okno_str_c(const char *s);

/* A file attached to a submission by reference: the file lives in the portal's file store,
 * okno records and shows the reference, never the bytes. */
typedef struct okno_attachment {
    okno_str id;         /* the file store's id, 1..OKNO_ATTACHMENT_ID_BYTES_MAX bytes */
    okno_str name;       /* the file name, 1..OKNO_ATTACHMENT_NAME_BYTES_MAX bytes */
    okno_str media_type; /* type/subtype, 3..OKNO_ATTACHMENT_TYPE_BYTES_MAX bytes */
    int64_t size_bytes;  /* 0..OKNO_ATTACHMENT_SIZE_MAX */
    okno_str sha256;     /* OKNO_SHA256_HEX_BYTES lowercase hex digits */
} okno_attachment;

/* Whether a is a well-formed reference; on failure *field names the member at fault ("id",
 * "name", "media_type", "size_bytes", "sha256"). */
int okno_attachment_valid(const okno_attachment *a, const char **field);

/* ---- enums with canonical names --------------------------------------------------------
 * Each enum has okno_<enum>_name(value) -> canonical string (or "unknown" for a value out of
 * range, never NULL) and okno_<enum>_parse(str, &value) -> 0 or OKNO_EINVAL. */

/* Roles are bits, since one user may hold several roles in one org (SPEC 2.1). */
typedef enum okno_role {
    OKNO_ROLE_MODERATOR = 1u << 0,
    OKNO_ROLE_COORDINATOR = 1u << 1,
    OKNO_ROLE_EXECUTOR = 1u << 2,
    OKNO_ROLE_MANAGER = 1u << 3,
    OKNO_ROLE_CURATOR = 1u << 4,
    OKNO_ROLE_ORG_ADMIN = 1u << 5,
    OKNO_ROLE_INTAKE_OPERATOR = 1u << 6,
} okno_role;
#define OKNO_ROLE_COUNT 7
#define OKNO_ROLES_ALL  ((1u << OKNO_ROLE_COUNT) - 1u)
typedef uint32_t okno_roles; /* a set of okno_role bits */

/* OKNO_STAGE_NONE: not submitted yet, or closed (then the outcome says how). */
typedef enum okno_stage {
    OKNO_STAGE_NONE = 0,
    OKNO_STAGE_MODERATION = 1,
    OKNO_STAGE_COORDINATION = 2,
    OKNO_STAGE_EXECUTION = 3,
    OKNO_STAGE_AGREEMENT = 4,
    OKNO_STAGE_APPROVAL = 5,
} okno_stage;
#define OKNO_STAGE_COUNT 6 /* including NONE, so arrays index by stage directly */

typedef enum okno_outcome {
    OKNO_OUTCOME_OPEN = 0,
    OKNO_OUTCOME_ANSWERED = 1,
    OKNO_OUTCOME_REJECTED_BY_MODERATOR = 2,
} okno_outcome;
#define OKNO_OUTCOME_COUNT 3

/* The actions of SPEC III, plus sla_signal: the timer's signals go through the same step. */
typedef enum okno_action {
    OKNO_ACTION_NONE = 0,
    OKNO_ACTION_SUBMIT = 1,
    OKNO_ACTION_ACCEPT = 2,
    OKNO_ACTION_REJECT = 3,
    OKNO_ACTION_ASSIGN_EXECUTOR = 4,
    OKNO_ACTION_TAKE_OVER = 5,
    OKNO_ACTION_FORWARD_TO_SUBORDINATE = 6,
    OKNO_ACTION_PROPOSE_REDIRECT = 7,
    OKNO_ACTION_RETURN_UPSTREAM = 8,
    OKNO_ACTION_TAKE_INTO_WORK = 9,
    OKNO_ACTION_RETURN_TO_COORDINATION = 10,
    OKNO_ACTION_REASSIGN_EXECUTOR = 11,
    OKNO_ACTION_DRAFT_ANSWER = 12,
    OKNO_ACTION_AGREE = 13,
    OKNO_ACTION_REFUSE_AGREEMENT = 14,
    OKNO_ACTION_DELEGATE_AGREEMENT = 15,
    OKNO_ACTION_APPROVE = 16,
    OKNO_ACTION_REFUSE_APPROVAL = 17,
    OKNO_ACTION_DELEGATE_APPROVAL = 18,
    OKNO_ACTION_SLA_SIGNAL = 19,
} okno_action;
#define OKNO_ACTION_COUNT 20 /* including NONE */

typedef enum okno_answer_type {
    OKNO_ANSWER_NONE = 0,
    OKNO_ANSWER_RESOLVED = 1,
    OKNO_ANSWER_NOT_RESOLVED = 2,
    OKNO_ANSWER_POSTPONED = 3,
    OKNO_ANSWER_REJECTED = 4,
} okno_answer_type;
#define OKNO_ANSWER_COUNT 5

typedef enum okno_signal_kind {
    OKNO_SIGNAL_NONE = 0,
    OKNO_SIGNAL_STAGE_TIME_APPROACHING = 1,
    OKNO_SIGNAL_STAGE_TIME_EXCEEDED = 2,
    OKNO_SIGNAL_ANSWER_DEADLINE_APPROACHING = 3,
    OKNO_SIGNAL_ANSWER_DEADLINE_EXPIRED = 4,
    OKNO_SIGNAL_POSTPONED_DATE_REACHED = 5,
} okno_signal_kind;
#define OKNO_SIGNAL_COUNT 6

/* How a message came in (SPEC "who submits"). */
typedef enum okno_channel {
    OKNO_CHANNEL_NONE = 0,
    OKNO_CHANNEL_PORTAL = 1, /* the applicant, through the portal */
    OKNO_CHANNEL_INTAKE = 2, /* an intake_operator on the applicant's behalf */
} okno_channel;
#define OKNO_CHANNEL_COUNT 3

/* What agreement and approval are reviewing. */
typedef enum okno_subject {
    OKNO_SUBJECT_NONE = 0,
    OKNO_SUBJECT_ANSWER = 1,
    OKNO_SUBJECT_REDIRECT = 2,
} okno_subject;
#define OKNO_SUBJECT_COUNT 3

/* One event type per thing that happened; the SLA signal events are named as their kinds. */
typedef enum okno_event_type {
    OKNO_EVENT_NONE = 0,
    OKNO_EVENT_MESSAGE_SUBMITTED = 1,
    OKNO_EVENT_MESSAGE_ACCEPTED = 2,
    OKNO_EVENT_MESSAGE_REJECTED = 3,
    OKNO_EVENT_EXECUTOR_ASSIGNED = 4,
    OKNO_EVENT_MESSAGE_TAKEN_OVER = 5,
    OKNO_EVENT_FORWARDED_TO_SUBORDINATE = 6,
    OKNO_EVENT_REDIRECT_PROPOSED = 7,
    OKNO_EVENT_RETURNED_UPSTREAM = 8,
    OKNO_EVENT_TAKEN_INTO_WORK = 9,
    OKNO_EVENT_RETURNED_TO_COORDINATION = 10,
    OKNO_EVENT_EXECUTOR_REASSIGNED = 11,
    OKNO_EVENT_ANSWER_DRAFTED = 12,
    OKNO_EVENT_AGREEMENT_GIVEN = 13,
    OKNO_EVENT_AGREEMENT_REFUSED = 14,
    OKNO_EVENT_AGREEMENT_DELEGATED = 15,
    OKNO_EVENT_APPROVAL_GIVEN = 16,
    OKNO_EVENT_APPROVAL_REFUSED = 17,
    OKNO_EVENT_APPROVAL_DELEGATED = 18,
    OKNO_EVENT_STAGE_TIME_APPROACHING = 19,
    OKNO_EVENT_STAGE_TIME_EXCEEDED = 20,
    OKNO_EVENT_ANSWER_DEADLINE_APPROACHING = 21,
    OKNO_EVENT_ANSWER_DEADLINE_EXPIRED = 22,
    OKNO_EVENT_POSTPONED_DATE_REACHED = 23,
} okno_event_type;
#define OKNO_EVENT_COUNT 24

/* Why a request was refused; stable snake_case names travel in okno.rejections.v1. */
typedef enum okno_refusal_code {
    OKNO_REFUSAL_NONE = 0,
    OKNO_REFUSAL_NOT_AUTHORIZED = 1,            /* the actor is not the one named for this step */
    OKNO_REFUSAL_WRONG_STAGE = 2,               /* the action does not apply at the current stage */
    OKNO_REFUSAL_MISSING_REASON = 3,            /* a stated reason is required */
    OKNO_REFUSAL_MISSING_TEXT = 4,              /* the message or answer text is required */
    OKNO_REFUSAL_MISSING_APPROVER = 5,          /* exactly one approving manager must be named */
    OKNO_REFUSAL_BAD_TARGET_ORG = 6,            /* missing, unknown or not allowed target org */
    OKNO_REFUSAL_NOT_A_MANAGER = 7,             /* an agreer or approver lacks the manager role */
    OKNO_REFUSAL_AGREER_DUPLICATE = 8,          /* agreers must be distinct */
    OKNO_REFUSAL_POSTPONED_DATE_NOT_FUTURE = 9, /* a postponed date must lie after now */
    OKNO_REFUSAL_MESSAGE_CLOSED = 10,           /* the message is answered or rejected */
    OKNO_REFUSAL_UNKNOWN_MESSAGE = 11,          /* no such message (never submitted) */
    OKNO_REFUSAL_ALREADY_EXISTS = 12,           /* submit for a message id already in use */
    OKNO_REFUSAL_NOT_IN_WORK = 13,              /* draft_answer before take_into_work */
    OKNO_REFUSAL_ALREADY_IN_WORK = 14,          /* take_into_work twice */
    OKNO_REFUSAL_BAD_TARGET_USER = 15,          /* missing target user or one without the role */
    OKNO_REFUSAL_NOT_AN_EXECUTOR = 16,          /* the named executor lacks the executor role */
    OKNO_REFUSAL_TOO_MANY_AGREERS = 17,         /* more than OKNO_AGREERS_MAX */
    OKNO_REFUSAL_DELEGATE_NOT_AUTHORIZED = 18,  /* delegation target lacks the authority */
    OKNO_REFUSAL_DELEGATE_INVALID = 19,         /* delegation to oneself or to a current agreer */
    OKNO_REFUSAL_MISSING_POSTPONED_DATE = 20,   /* a postponed answer needs its date */
    OKNO_REFUSAL_BAD_ANSWER_TYPE = 21,          /* answer type missing or out of range */
    OKNO_REFUSAL_NO_UPSTREAM = 22,              /* return_upstream of a message not forwarded */
    OKNO_REFUSAL_UPSTREAM_TOO_DEEP = 23,        /* forwarding chain longer than OKNO_UPSTREAM_MAX */
    OKNO_REFUSAL_BAD_CATEGORY = 24,             /* unknown category, or none where one is needed */
    OKNO_REFUSAL_BAD_REQUEST = 25,              /* unknown action or channel, malformed field */
    OKNO_REFUSAL_ALREADY_AGREED = 26,           /* this agreer has already agreed in this round */
    OKNO_REFUSAL_SAME_EXECUTOR = 27,            /* reassign_executor to the current executor */
    OKNO_REFUSAL_ALREADY_POSTPONED = 28,        /* an interim postponed answer was already sent */
    OKNO_REFUSAL_TEXT_TOO_LONG = 29,            /* a text field exceeds its byte limit */
    OKNO_REFUSAL_TEXT_NOT_ALLOWED = 30,         /* editing text of a redirect decision */
    OKNO_REFUSAL_SIGNAL_NOT_DUE = 31,           /* the SLA signal's time has not come */
    OKNO_REFUSAL_SIGNAL_STALE = 32,      /* the signal is for a stage visit or deadline gone */
    OKNO_REFUSAL_SIGNAL_DUPLICATE = 33,  /* the signal was already recorded */
    OKNO_REFUSAL_MISSING_APPLICANT = 34, /* submit without an applicant id */
    OKNO_REFUSAL_ACCEPT_INTO_OPERATOR_ORG = 35, /* accept naming the platform operator's org */
    OKNO_REFUSAL_REDIRECT_TO_OPERATOR_ORG = 36, /* propose_redirect to the operator's org */
    OKNO_REFUSAL_INVALID_ATTACHMENT = 39,       /* a file reference fails okno_attachment_valid */
    /* The ledger's own, before the core sees the request: */
    OKNO_REFUSAL_MALFORMED_RECORD = 37, /* the record does not decode (see the message) */
    OKNO_REFUSAL_WRONG_PARTITION = 38,  /* not on murmur2(message id text) % partitions */
} okno_refusal_code;
#define OKNO_REFUSAL_COUNT 40

const char *okno_role_name(okno_role role);
int okno_role_parse(okno_str s, okno_role *out);
const char *okno_stage_name(okno_stage stage);
int okno_stage_parse(okno_str s, okno_stage *out);
const char *okno_outcome_name(okno_outcome outcome);
int okno_outcome_parse(okno_str s, okno_outcome *out);
const char *okno_action_name(okno_action action);
int okno_action_parse(okno_str s, okno_action *out);
const char *okno_answer_type_name(okno_answer_type type);
int okno_answer_type_parse(okno_str s, okno_answer_type *out);
const char *okno_signal_kind_name(okno_signal_kind kind);
int okno_signal_kind_parse(okno_str s, okno_signal_kind *out);
const char *okno_channel_name(okno_channel channel);
int okno_channel_parse(okno_str s, okno_channel *out);
const char *okno_subject_name(okno_subject subject);
int okno_subject_parse(okno_str s, okno_subject *out);
const char *okno_event_type_name(okno_event_type type);
int okno_event_type_parse(okno_str s, okno_event_type *out);
const char *okno_refusal_code_name(okno_refusal_code code);
int okno_refusal_code_parse(okno_str s, okno_refusal_code *out);

/* Whose request a reason code can refuse, so where its text is shown. */
typedef enum okno_refusal_reach {
    OKNO_REFUSAL_REACHES_APPLICANT = 0, /* a submission too (portal or intake), and anyone */
    OKNO_REFUSAL_REACHES_STAFF = 1,     /* only the staff of the orgs and the moderators */
    OKNO_REFUSAL_REACHES_SYSTEM = 2,    /* only the SLA timer's signals */
} okno_refusal_reach;

/* A reason code as published (`okno workflow --reasons`, the Rejection schema's doc). */
typedef struct okno_refusal_info {
    const char *name; /* stable snake_case code, as in okno.rejections.v1 */
    okno_refusal_reach reach;
    const char *meaning; /* one line, English; also the start of the refusal's message */
    const char *text_ru; /* what the person whose request was refused is shown */
} okno_refusal_info;

/* The code's entry; NULL when code is out of range. */
const okno_refusal_info *okno_refusal_code_info(okno_refusal_code code);

/* The event type an SLA signal kind is recorded as, and back (NONE if not a signal). */
okno_event_type okno_signal_kind_event(okno_signal_kind kind);
okno_signal_kind okno_event_type_signal(okno_event_type type);

/* ---- the org directory: plain data, sorted arrays, pure lookups ------------------------ */

typedef struct okno_org {
    okno_org_id org_id;    /* key; the arrays are sorted by it */
    okno_org_id parent_id; /* 0 for a root org */
} okno_org;

/* The roles one user holds in one org; sorted by (user_id, org_id). */
typedef struct okno_grant {
    okno_user_id user_id;
    okno_org_id org_id;
    okno_roles roles;
} okno_grant;

/* A message category and its total processing time; sorted by category_id. */
typedef struct okno_category {
    int32_t category_id; /* > 0 */
    int32_t total_days;  /* calendar days, 1..OKNO_TOTAL_DAYS_MAX */
} okno_category;

/* A manager's authority to take a delegated agreement or approval; sorted by
 * (org_id, user_id, category_id, subcategory_id). */
typedef struct okno_authority {
    okno_user_id user_id;
    okno_org_id org_id;
    int32_t category_id;
    int32_t subcategory_id; /* 0: every subcategory of the category (okno.authorities too) */
    bool may_agree;
    bool may_approve;
} okno_authority;

/* Deployment settings the workflow obeys (SPEC's *configurable* decisions). */
typedef struct okno_workflow_config {
    okno_org_id operator_org_id;     /* the platform operator's org, where moderation happens */
    int32_t approaching_permille;    /* "approaching" share of a time budget, 1..999 */
    int32_t default_total_days;      /* total days of a message submitted without a category */
    bool redirect_restarts_deadline; /* an executed redirect restarts the answer deadline */
} okno_workflow_config;

/* Everything the core needs to know about organizations; all arrays are borrowed. */
typedef struct okno_directory {
    const okno_org *orgs;
    uint32_t orgs_count;
    const okno_grant *grants;
    uint32_t grants_count;
    const okno_category *categories;
    uint32_t categories_count;
    const okno_authority *authorities;
    uint32_t authorities_count;
    okno_workflow_config config;
} okno_directory;

/* Defaults: approaching at OKNO_APPROACHING_PERMILLE, 30 default days, deadline kept. */
void okno_workflow_config_init(okno_workflow_config *config, okno_org_id operator_org_id);

/* 0 if every array is sorted by its key without duplicates and the config is in range, else
 * OKNO_EINVAL. Call once after loading a directory; the lookups rely on the ordering. */
int okno_directory_check(const okno_directory *dir);
const okno_org *okno_directory_org_find(const okno_directory *dir, okno_org_id org_id);
/* True if org_id lies strictly below ancestor_id in the hierarchy. */
bool okno_directory_org_is_below(const okno_directory *dir, okno_org_id org_id,
                                 okno_org_id ancestor_id);
/* The roles user_id holds in org_id; 0 if none. */
okno_roles okno_directory_roles(const okno_directory *dir, okno_user_id user_id,
                                okno_org_id org_id);
const okno_category *okno_directory_category_find(const okno_directory *dir, int32_t category_id);
/* Agreement authority is per category; approval authority per category and subcategory. */
bool okno_directory_may_agree(const okno_directory *dir, okno_user_id user_id, okno_org_id org_id,
                              int32_t category_id);
bool okno_directory_may_approve(const okno_directory *dir, okno_user_id user_id, okno_org_id org_id,
                                int32_t category_id, int32_t subcategory_id);

/* Who is acting: a user working in one org, with the roles they hold there. */
typedef struct okno_actor {
    okno_user_id user_id;
    okno_org_id org_id;
    okno_roles roles; /* as okno_directory_roles(dir, user_id, org_id) */
} okno_actor;

/* Fill an actor from the directory. */
void okno_actor_init(okno_actor *actor, const okno_directory *dir, okno_user_id user_id,
                     okno_org_id org_id);

/* ---- requests ------------------------------------------------------------------------- */

/* A transition request. Only the fields the action uses are read (reason and comment, when
 * given, are recorded on any event); zero the rest. */
typedef struct okno_request {
    okno_uuid request_id; /* idempotency key, copied into the events */
    okno_uuid message_id;
    okno_action action;
    okno_user_id acting_user_id; /* must equal the actor's user_id */
    okno_org_id acting_org_id;   /* the org the user acts in; must equal the actor's org_id */

    okno_org_id target_org_id;              /* accept, forward_to_subordinate, propose_redirect */
    okno_user_id target_user_id;            /* assign_executor, reassign_executor, delegate_* */
    okno_user_id approver_user_id;          /* propose_redirect, draft_answer */
    okno_user_id agreers[OKNO_AGREERS_MAX]; /* propose_redirect, draft_answer */
    uint32_t agreers_count;
    okno_answer_type answer_type; /* draft_answer */
    int64_t postponed_until_ms;   /* draft_answer of a postponed answer: Unix ms */
    int32_t category_id;          /* submit, accept: 0 keeps/leaves it unset */
    int32_t subcategory_id;       /* submit, accept */

    okno_str reason;  /* reject, return_upstream, return_to_coordination, reassign_executor,
                         refuse_*, delegate_*, draft_answer of a rejected answer */
    okno_str text;    /* submit, draft_answer; agree/approve: an edited answer text, or empty */
    okno_str comment; /* optional on any action */

    okno_user_id applicant_id; /* submit */
    okno_channel channel;      /* submit */
    okno_str applicant_email;  /* submit: optional, up to OKNO_EMAIL_BYTES_MAX */
    int64_t requested_at_ms;   /* the client's time, Unix ms: recorded in the event for audits;
                                  the ledger's clock (now_ms) decides, never this */
    okno_attachment attachments[OKNO_ATTACHMENTS_MAX]; /* submit: file references (v3) */
    uint32_t attachments_count;

    okno_signal_kind signal; /* sla_signal */
    okno_stage signal_stage; /* sla_signal of a stage-time kind: the stage it is about */
    uint32_t signal_visit;   /* sla_signal of a stage-time kind: that stage's visit number */
} okno_request;

/* ---- events --------------------------------------------------------------------------- */

/* One thing that happened to one message. Fields not used by the type are zero. */
typedef struct okno_event {
    uint64_t seq; /* 1, 2, ... per message, without gaps */
    okno_uuid message_id;
    okno_uuid request_id;
    okno_event_type type;
    int64_t at_ms; /* Unix ms, never before the message's previous event */
    okno_user_id actor_user_id;
    okno_org_id actor_org_id;
    okno_org_id holding_org_after; /* the org whose account holds the message afterwards */
    okno_stage stage_before;
    okno_stage stage_after;
    okno_outcome outcome_after;

    okno_org_id target_org_id;     /* accepted, forwarded, redirect proposed/executed, returned
                                      upstream (the upstream org) */
    okno_user_id target_user_id;   /* executor assigned/taken over/reassigned, delegation target */
    okno_user_id approver_user_id; /* redirect proposed, answer drafted */
    okno_user_id agreers[OKNO_AGREERS_MAX];
    uint32_t agreers_count;
    okno_answer_type answer_type; /* answer drafted, approval given for an answer */
    okno_subject subject;         /* agreement/approval events: answer or redirect */
    bool interim;                 /* approval_given of a postponed answer: sent as interim */
    bool deadline_restarted;      /* approval_given of a redirect under restart config */
    int64_t postponed_until_ms;   /* answer drafted (postponed), interim approval */
    int64_t answer_deadline_ms;   /* submitted, accepted, approval_given: deadline afterwards */
    int32_t total_days;           /* submitted, accepted: the category's total days */
    int32_t category_id;          /* submitted, accepted */
    int32_t subcategory_id;       /* submitted, accepted */
    okno_user_id applicant_id;    /* submitted */
    okno_channel channel;         /* submitted */
    uint64_t text_replaces_seq;   /* agree/approve with edit: seq of the event whose text this
                                     replaces (the state keeps no texts, only this pointer) */
    okno_str reason;              /* borrowed from the request */
    okno_str text;                /* borrowed from the request */
    okno_str comment;             /* borrowed from the request */
    okno_stage signal_stage;      /* stage-time signals: the stage */
    uint32_t signal_visit;        /* stage-time signals: that stage's visit number */
    int64_t signal_due_ms;        /* any signal: when it fell due, Unix ms */
    int64_t requested_at_ms;      /* the request's requested_at (0 for signals): for audits */
    okno_str applicant_email;     /* submitted: borrowed from the request */
    int64_t directory_version;    /* the org directory's version the ledger decided under (v3;
                                     the core leaves it 0, the ledger sets it) */
    okno_attachment attachments[OKNO_ATTACHMENTS_MAX]; /* submitted: borrowed from the request
                                                          (v4) */
    uint32_t attachments_count;
} okno_event;

/* ---- the message state ---------------------------------------------------------------- */

/* What the core needs to validate the next request; fixed size, no pointers, so it can be
 * copied, hashed and stored as a stream head. Zeroed means "no such message yet". */
typedef enum okno_agreer_decision {
    OKNO_AGREER_PENDING = 0,
    OKNO_AGREER_AGREED = 1,
} okno_agreer_decision;

typedef struct okno_message_state {
    okno_uuid message_id;
    uint64_t last_seq;  /* seq of the last event folded in; 0: not submitted */
    int64_t last_at_ms; /* at_ms of that event */
    okno_stage stage;
    okno_outcome outcome;
    okno_org_id holding_org_id;
    okno_org_id upstream[OKNO_UPSTREAM_MAX]; /* forward chain, nearest upstream last */
    uint32_t upstream_count;

    okno_user_id executor_user_id; /* execution, and answers under review: the executor */
    bool in_work;                  /* the executor has taken it into work */
    bool has_draft;                /* a drafted answer exists (its text lives in events) */
    bool interim_sent;             /* a postponed interim answer was approved and sent */
    okno_answer_type answer_type;  /* of the draft */
    uint64_t draft_text_seq;       /* seq of the event carrying the draft's current text */

    okno_subject subject; /* agreement and approval: what is under review */
    okno_user_id agreers[OKNO_AGREERS_MAX];
    uint8_t agreer_decisions[OKNO_AGREERS_MAX]; /* okno_agreer_decision */
    uint32_t agreers_count;
    okno_user_id approver_user_id;
    okno_org_id redirect_org_id; /* the proposed redirect's target */

    okno_user_id applicant_id;
    okno_channel channel;
    int32_t category_id;
    int32_t subcategory_id;
    int32_t total_days; /* calendar days from submission to the answer deadline */

    int64_t submitted_ms;       /* Unix ms */
    int64_t deadline_start_ms;  /* when the current answer deadline's clock started */
    int64_t answer_deadline_ms; /* Unix ms */
    int64_t postponed_until_ms; /* after an interim answer: the postponed date, Unix ms */
    int64_t stage_entered_ms;   /* when the current stage visit began */
    int64_t stage_used_ms[OKNO_STAGE_COUNT]; /* per stage, over finished visits only */
    uint32_t stage_visits[OKNO_STAGE_COUNT]; /* per stage, visits begun */
    uint32_t stage_signals;    /* bits (1 << kind) recorded in the current stage visit */
    uint32_t deadline_signals; /* bits (1 << kind) recorded for the current answer deadline */
    int64_t draft_postponed_until_ms; /* the draft's postponed date (postponed answers), Unix ms */
} okno_message_state;

/* ---- the step ------------------------------------------------------------------------- */

typedef struct okno_refusal {
    okno_refusal_code code;                 /* OKNO_REFUSAL_NONE when accepted */
    char message[OKNO_REFUSAL_MESSAGE_MAX]; /* human-readable, NUL-terminated */
} okno_refusal;

typedef struct okno_step_result {
    okno_message_state state; /* the new state (unchanged copy on refusal) */
    okno_event events[OKNO_STEP_EVENTS_MAX];
    uint32_t events_count; /* 0 on refusal */
    okno_refusal refusal;
} okno_step_result;

/* Validate req against state and, if legal, produce the events and the new state.
 * state: the message's current state, or NULL (same as zeroed) for a message never seen.
 * Returns 0 when a decision was made: accepted (out->events_count > 0, refusal code NONE) or
 * refused (out->events_count == 0, out->refusal says why, out->state == *state). Returns
 * OKNO_EINVAL only for programmer errors (NULL arguments, an unchecked state). The events'
 * text fields borrow from req. now_ms is the caller's clock; event times never go backwards. */
int okno_workflow_step(const okno_message_state *state, const okno_request *req,
                       const okno_actor *actor, const okno_directory *dir, int64_t now_ms,
                       okno_step_result *out);

/* Fold one event into a state: the single source of truth for what an event means; the step
 * builds its new state with this too. The event must be the next one (seq == last_seq + 1),
 * for the same message, starting from the current stage; otherwise OKNO_EINVAL and the state
 * is untouched. Apply trusts the payload of an event that fits: after folding events that
 * came from outside (decoded from the log or Kafka), assert okno_workflow_check. */
int okno_workflow_apply(okno_message_state *state, const okno_event *event);

/* True if the state satisfies every invariant; meant for assert(). */
bool okno_workflow_check(const okno_message_state *state);

/* Field-by-field equality (padding bytes are not compared). */
bool okno_workflow_state_equal(const okno_message_state *a, const okno_message_state *b);

#endif
