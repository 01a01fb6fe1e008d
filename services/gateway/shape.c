/* Property level: which body fields each action takes, their types, and nothing else. Fields
 * the server sets (stage, org, seq, actor, ids) are refused by name, as is any unknown field.
 * Whether the values make sense for the message is the ledger's to decide. */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "okno/error.h"

enum field {
    F_TEXT = 1u << 0,
    F_REASON = 1u << 1,
    F_COMMENT = 1u << 2,
    F_TARGET_ORG = 1u << 3,
    F_TARGET_USER = 1u << 4,
    F_APPROVER = 1u << 5,
    F_AGREERS = 1u << 6,
    F_ANSWER_TYPE = 1u << 7,
    F_POSTPONED = 1u << 8,
    F_CATEGORY = 1u << 9,
    F_SUBCATEGORY = 1u << 10,
    F_APPLICANT = 1u << 11,
    F_EMAIL = 1u << 12,
    F_ATTACHMENTS = 1u << 13,
};

struct field_def {
    const char *name;
    enum field bit;
};

static const struct field_def fields[] = {
    {"text", F_TEXT},
    {"reason", F_REASON},
    {"comment", F_COMMENT},
    {"target_org_id", F_TARGET_ORG},
    {"target_user_id", F_TARGET_USER},
    {"approver_user_id", F_APPROVER},
    {"agreers", F_AGREERS},
    {"answer_type", F_ANSWER_TYPE},
    {"postponed_until_ms", F_POSTPONED},
    {"category_id", F_CATEGORY},
    {"subcategory_id", F_SUBCATEGORY},
    {"applicant_id", F_APPLICANT},
    {"applicant_email", F_EMAIL},
    {"attachments", F_ATTACHMENTS},
    {NULL, 0},
};

/* Set by the server from the token, the path and the ledger; a client may not send them. */
static const char *const server_fields[] = {"stage",
                                            "stage_before",
                                            "stage_after",
                                            "org_id",
                                            "acting_org_id",
                                            "holding_org_id",
                                            "seq",
                                            "acting_user_id",
                                            "actor_user_id",
                                            "actor_org_id",
                                            "message_id",
                                            "request_id",
                                            "action",
                                            "channel",
                                            "requested_at",
                                            "outcome",
                                            NULL};

struct action_def {
    uint32_t allowed;  /* fields it takes */
    uint32_t required; /* of which these must be present */
    uint32_t roles;    /* who may act (function level) */
};

#define ANY_COMMENT F_COMMENT
#define MOD         OKNO_ROLE_MODERATOR
#define COORD       OKNO_ROLE_COORDINATOR
/* A coordinator who took the message over is its executor (SPEC 3.2). */
#define EXEC (OKNO_ROLE_EXECUTOR | OKNO_ROLE_COORDINATOR)
#define MGR  OKNO_ROLE_MANAGER

static const struct action_def actions[OKNO_ACTION_COUNT] = {
    [OKNO_ACTION_SUBMIT] = {F_TEXT | F_CATEGORY | F_SUBCATEGORY | F_APPLICANT | F_EMAIL |
                                F_ATTACHMENTS | ANY_COMMENT,
                            F_TEXT, OKNO_ROLE_INTAKE_OPERATOR},
    [OKNO_ACTION_ACCEPT] = {F_TARGET_ORG | F_CATEGORY | F_SUBCATEGORY | ANY_COMMENT, F_TARGET_ORG,
                            MOD},
    [OKNO_ACTION_REJECT] = {F_REASON | ANY_COMMENT, F_REASON, MOD},
    [OKNO_ACTION_ASSIGN_EXECUTOR] = {F_TARGET_USER | ANY_COMMENT, F_TARGET_USER, COORD},
    [OKNO_ACTION_TAKE_OVER] = {ANY_COMMENT, 0, COORD},
    [OKNO_ACTION_FORWARD_TO_SUBORDINATE] = {F_TARGET_ORG | ANY_COMMENT, F_TARGET_ORG, COORD},
    [OKNO_ACTION_PROPOSE_REDIRECT] = {F_TARGET_ORG | F_APPROVER | F_AGREERS | F_REASON |
                                          ANY_COMMENT,
                                      F_TARGET_ORG | F_APPROVER, COORD},
    [OKNO_ACTION_RETURN_UPSTREAM] = {F_REASON | ANY_COMMENT, F_REASON, COORD},
    [OKNO_ACTION_TAKE_INTO_WORK] = {ANY_COMMENT, 0, EXEC},
    [OKNO_ACTION_RETURN_TO_COORDINATION] = {F_REASON | ANY_COMMENT, F_REASON, EXEC},
    [OKNO_ACTION_REASSIGN_EXECUTOR] = {F_REASON | F_TARGET_USER | ANY_COMMENT,
                                       F_REASON | F_TARGET_USER, EXEC},
    [OKNO_ACTION_DRAFT_ANSWER] = {F_ANSWER_TYPE | F_TEXT | F_APPROVER | F_AGREERS | F_POSTPONED |
                                      F_REASON | ANY_COMMENT,
                                  F_ANSWER_TYPE | F_TEXT | F_APPROVER, EXEC},
    [OKNO_ACTION_AGREE] = {F_TEXT | ANY_COMMENT, 0, MGR},
    [OKNO_ACTION_REFUSE_AGREEMENT] = {F_REASON | ANY_COMMENT, F_REASON, MGR},
    [OKNO_ACTION_DELEGATE_AGREEMENT] = {F_REASON | F_TARGET_USER | ANY_COMMENT,
                                        F_REASON | F_TARGET_USER, MGR},
    [OKNO_ACTION_APPROVE] = {F_TEXT | ANY_COMMENT, 0, MGR},
    [OKNO_ACTION_REFUSE_APPROVAL] = {F_REASON | ANY_COMMENT, F_REASON, MGR},
    [OKNO_ACTION_DELEGATE_APPROVAL] = {F_REASON | F_TARGET_USER | ANY_COMMENT,
                                       F_REASON | F_TARGET_USER, MGR},
};

uint32_t gw_action_roles(okno_action action)
{
    return action > OKNO_ACTION_NONE && action < OKNO_ACTION_COUNT ? actions[action].roles : 0;
}

static const struct field_def *find_field(const char *name)
{
    for (const struct field_def *f = fields; f->name != NULL; f++) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

static bool is_server_field(const char *name)
{
    for (const char *const *s = server_fields; *s != NULL; s++) {
        if (strcmp(*s, name) == 0)
            return true;
    }
    return false;
}

static bool bad(struct okno_http_response *res, const char *field, const char *why)
{
    okno_http_respond_error(res, 400, "bad_field", field, "%s: %s", field, why);
    return false;
}

static bool get_text(json_t *v, size_t max, okno_str *out, const char *name,
                     struct okno_http_response *res)
{
    if (!json_is_string(v))
        return bad(res, name, "must be a string");
    size_t len = json_string_length(v);
    if (len == 0 || len > max)
        return bad(res, name, "must be a non-empty string within its size");
    *out = (okno_str){json_string_value(v), (uint32_t)len};
    return true;
}

static bool get_id(json_t *v, int64_t max, int64_t *out, const char *name,
                   struct okno_http_response *res)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > max)
        return bad(res, name, "must be a positive integer");
    *out = json_integer_value(v);
    return true;
}

static bool get_int32(json_t *v, int32_t *out, const char *name, struct okno_http_response *res)
{
    int64_t id = 0;
    if (!get_id(v, INT32_MAX, &id, name, res))
        return false;
    *out = (int32_t)id;
    return true;
}

static bool get_agreers(json_t *v, okno_request *req, struct okno_http_response *res)
{
    if (!json_is_array(v) || json_array_size(v) > OKNO_AGREERS_MAX)
        return bad(res, "agreers", "must be an array of at most 8 user ids");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!get_id(item, INT64_MAX, &req->agreers[i], "agreers", res))
            return false;
    }
    req->agreers_count = (uint32_t)json_array_size(v);
    return true;
}

static bool get_answer_type(json_t *v, okno_request *req, struct okno_http_response *res)
{
    if (!json_is_string(v) ||
        okno_answer_type_parse(okno_str_c(json_string_value(v)), &req->answer_type) != 0 ||
        req->answer_type == OKNO_ANSWER_NONE)
        return bad(res, "answer_type", "must be resolved, not_resolved, postponed or rejected");
    return true;
}

/* Where the applicant wants the answer mailed (the notifier's address for them): one '@' with
 * text on both sides, no spaces, at most OKNO_EMAIL_BYTES_MAX bytes. */
static bool get_email(json_t *v, okno_request *req, struct okno_http_response *res)
{
    if (!get_text(v, OKNO_EMAIL_BYTES_MAX, &req->applicant_email, "applicant_email", res))
        return false;
    const char *at = memchr(req->applicant_email.ptr, '@', req->applicant_email.len);
    size_t len = req->applicant_email.len;
    if (at == NULL || at == req->applicant_email.ptr || at == req->applicant_email.ptr + len - 1 ||
        memchr(at + 1, '@', len - (size_t)(at + 1 - req->applicant_email.ptr)) != NULL ||
        memchr(req->applicant_email.ptr, ' ', len) != NULL)
        return bad(res, "applicant_email", "must be an e-mail address (local@domain)");
    return true;
}

/* What okno_attachment_valid() requires of the member it names, for the 400's text. */
static const char *attachment_rule(const char *field)
{
    static const char *const rules[][2] = {
        {"id", "must be 1 to 128 printable ASCII characters"},
        {"name", "must be 1 to 255 bytes of UTF-8 without control characters"},
        {"media_type", "must be a media type, type/subtype"},
        {"size_bytes", "must be 0 to 104857600 (OKNO_ATTACHMENT_SIZE_MAX)"},
        {"sha256", "must be 64 lowercase hex digits"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(field, rules[i][0]) == 0)
            return rules[i][1];
    return "is not a valid file reference";
}

/* One file reference {id, name, media_type, size_bytes, sha256}, all five required and no
 * other member; a fault is named to the member: attachments[2].sha256. */
static bool get_attachment(json_t *v, size_t i, okno_attachment *a, struct okno_http_response *res)
{
    static const char *const members[] = {"id", "name", "media_type", "size_bytes", "sha256"};
    char where[96];
    snprintf(where, sizeof where, "attachments[%zu]", i);
    if (!json_is_object(v))
        return bad(res, where, "must be an object {id, name, media_type, size_bytes, sha256}");
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m)
    {
        bool known = false;
        for (size_t k = 0; k < 5; k++)
            known = known || strcmp(key, members[k]) == 0;
        if (!known) {
            snprintf(where, sizeof where, "attachments[%zu].%.32s", i, key);
            return bad(res, where, "unknown member of a file reference");
        }
    }
    okno_str *texts[] = {&a->id, &a->name, &a->media_type, NULL, &a->sha256};
    for (size_t k = 0; k < 5; k++) {
        json_t *x = json_object_get(v, members[k]);
        snprintf(where, sizeof where, "attachments[%zu].%s", i, members[k]);
        if (x == NULL)
            return bad(res, where, "required in a file reference");
        if (k == 3) {
            if (!json_is_integer(x))
                return bad(res, where, "must be an integer");
            a->size_bytes = json_integer_value(x);
        } else if (!json_is_string(x)) {
            return bad(res, where, "must be a string");
        } else {
            *texts[k] = (okno_str){json_string_value(x), (uint32_t)json_string_length(x)};
        }
    }
    const char *field = NULL;
    if (!okno_attachment_valid(a, &field)) {
        snprintf(where, sizeof where, "attachments[%zu].%s", i, field);
        return bad(res, where, attachment_rule(field));
    }
    return true;
}

static bool get_attachments(json_t *v, okno_request *req, struct okno_http_response *res)
{
    if (!json_is_array(v) || json_array_size(v) > OKNO_ATTACHMENTS_MAX)
        return bad(res, "attachments", "must be an array of at most 20 file references");
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!get_attachment(item, i, &req->attachments[i], res))
            return false;
    }
    req->attachments_count = (uint32_t)json_array_size(v);
    return true;
}

static bool set_field(enum field f, json_t *v, okno_request *req, struct okno_http_response *res)
{
    switch (f) {
    case F_TEXT:
        return get_text(v, OKNO_TEXT_BYTES_MAX, &req->text, "text", res);
    case F_REASON:
        return get_text(v, OKNO_REASON_BYTES_MAX, &req->reason, "reason", res);
    case F_COMMENT:
        return get_text(v, OKNO_COMMENT_BYTES_MAX, &req->comment, "comment", res);
    case F_TARGET_ORG:
        return get_id(v, INT64_MAX, &req->target_org_id, "target_org_id", res);
    case F_TARGET_USER:
        return get_id(v, INT64_MAX, &req->target_user_id, "target_user_id", res);
    case F_APPROVER:
        return get_id(v, INT64_MAX, &req->approver_user_id, "approver_user_id", res);
    case F_AGREERS:
        return get_agreers(v, req, res);
    case F_ANSWER_TYPE:
        return get_answer_type(v, req, res);
    case F_POSTPONED:
        return get_id(v, INT64_MAX, &req->postponed_until_ms, "postponed_until_ms", res);
    case F_CATEGORY:
        return get_int32(v, &req->category_id, "category_id", res);
    case F_SUBCATEGORY:
        return get_int32(v, &req->subcategory_id, "subcategory_id", res);
    case F_APPLICANT:
        return get_id(v, INT64_MAX, &req->applicant_id, "applicant_id", res);
    case F_EMAIL:
        return get_email(v, req, res);
    case F_ATTACHMENTS:
        return get_attachments(v, req, res);
    }
    return bad(res, "body", "unhandled field");
}

/* Submit: an applicant for themselves (portal), an intake operator for a named applicant. */
static bool shape_submit(const struct gw_caller *who, uint32_t seen, okno_request *req,
                         struct okno_http_response *res)
{
    if (who->applicant && (seen & F_APPLICANT) != 0)
        return bad(res, "applicant_id", "an applicant submits for themselves only");
    if (!who->applicant && (seen & F_APPLICANT) == 0)
        return bad(res, "applicant_id", "required when an intake operator submits");
    req->channel = who->applicant ? OKNO_CHANNEL_PORTAL : OKNO_CHANNEL_INTAKE;
    if (who->applicant)
        req->applicant_id = who->user_id;
    return true;
}

static bool check_required(uint32_t required, uint32_t seen, struct okno_http_response *res)
{
    for (const struct field_def *f = fields; f->name != NULL; f++) {
        if ((required & f->bit) != 0 && (seen & f->bit) == 0)
            return bad(res, f->name, "required for this action");
    }
    return true;
}

bool gw_shape_request(okno_action action, const struct gw_caller *who, json_t *body,
                      okno_request *req, struct okno_http_response *res)
{
    const struct action_def *def = &actions[action];
    uint32_t seen = 0;
    const char *name;
    json_t *v;
    json_object_foreach(body, name, v)
    {
        const struct field_def *f = find_field(name);
        if (f == NULL && is_server_field(name))
            return bad(res, name, "set by the server, not by a client");
        if (f == NULL || (def->allowed & f->bit) == 0)
            return bad(res, name, "unknown field for this action");
        if (!set_field(f->bit, v, req, res))
            return false;
        seen |= f->bit;
    }
    if (!check_required(def->required, seen, res))
        return false;
    req->action = action;
    req->acting_user_id = who->user_id;
    req->acting_org_id = who->org_id;
    return action != OKNO_ACTION_SUBMIT || shape_submit(who, seen, req, res);
}
