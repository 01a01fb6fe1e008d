/* Writes: submit and the actions of SPEC 3.1-3.9. The handler checks the caller (token, org,
 * role), shapes the request (fields), derives its ids and digest and encodes it; then the write
 * goes to a batch (batch.c), which checks the message is visible to the caller (else 404,
 * exactly as a missing one), records the request id with its body digest (Idempotency-Key) and
 * produces it to okno.transitions.v1; the ledger decides. Answers 202 and Location. The routes
 * run on the HTTP loop: a caller the token and grant caches decide is handled there, without a
 * worker; any other goes to a worker (okno_http_to_pool) for the full check. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/uuid.h"

#define DIGEST_BYTES        32
#define IDEMPOTENCY_KEY_MAX 200
#define ID_NAME_BYTES       (IDEMPOTENCY_KEY_MAX + 64)

struct write_ctx {
    struct gateway *gw;
    const struct okno_http_request *http;
    struct okno_http_response *res;
    struct gw_write *w; /* what goes to the batch */
    okno_request req;   /* its strings point into the body */
};

/* sha256 over the action, the message (path) and the body with sorted keys. */
static void body_digest(okno_action action, const char *message, json_t *body,
                        uint8_t out[DIGEST_BYTES])
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    const char *name = okno_action_name(action);
    EVP_DigestUpdate(ctx, name, strlen(name) + 1);
    EVP_DigestUpdate(ctx, message, strlen(message) + 1);
    EVP_DigestUpdate(ctx, text != NULL ? text : "", text != NULL ? strlen(text) : 0);
    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
    free(text);
}

/* Idempotency-Key: UUIDv5(namespace, "user:key"); without one, a fresh id. */
static bool request_id(struct write_ctx *w)
{
    const char *key = okno_http_header(w->http, "idempotency-key");
    if (key == NULL)
        return gw_uuid_random(&w->req.request_id) == 0;
    if (key[0] == '\0' || strlen(key) > IDEMPOTENCY_KEY_MAX) {
        okno_http_respond_error(w->res, 400, "bad_field", "Idempotency-Key",
                                "must be 1 to %d bytes", IDEMPOTENCY_KEY_MAX);
        return false;
    }
    char name[ID_NAME_BYTES];
    int n = snprintf(name, sizeof(name), "%lld:%s", (long long)w->w->who.user_id, key);
    gw_uuid_v5(&w->gw->id_namespace, name, (size_t)n, &w->req.request_id);
    return true;
}

static bool role_allows(struct write_ctx *w, okno_action action)
{
    const struct gw_caller *who = &w->w->who;
    bool ok = action == OKNO_ACTION_SUBMIT && who->applicant
                  ? true
                  : !who->applicant && (who->roles & gw_action_roles(action)) != 0;
    if (!ok)
        okno_http_respond_error(w->res, 403, "role_not_allowed", "action",
                                "your role in this org may not %s", okno_action_name(action));
    return ok;
}

/* The message id of a submit: derived from the request id, so a retry names the same one. */
static void submit_message_id(struct write_ctx *w)
{
    char name[OKNO_UUID_TEXT_BYTES + 8];
    okno_uuid_format(&w->req.request_id, name);
    strcat(name, ":message");
    gw_uuid_v5(&w->gw->id_namespace, name, strlen(name), &w->req.message_id);
}

/* The message of an action (its visibility is the batch's to check), or a submit's new one. */
static bool target(struct write_ctx *w, okno_action action)
{
    if (action == OKNO_ACTION_SUBMIT) {
        submit_message_id(w);
        return true;
    }
    const char *id = w->http->params[0];
    if (okno_uuid_parse(id, strlen(id), &w->req.message_id) != 0) {
        okno_http_respond_error(w->res, 404, "not_found", "id", "no such message");
        return false;
    }
    return true;
}

/* Checks what needs no database and encodes the request, then hands it to a batch with its
 * answer deferred; any refusal on the way is answered at once. On the loop (on_loop) the caller
 * must be decided by the caches alone; false then means "not decided here" (nothing answered). */
static bool write_request(struct write_ctx *w, okno_action action, bool on_loop)
{
    if (on_loop ? !gw_authenticate_cached(w->gw, w->http, &w->w->who)
                : !gw_authenticate(w->gw, NULL, w->http, &w->w->who, w->res))
        return !on_loop;
    if (!role_allows(w, action))
        return true;
    json_t *body = okno_http_json_body(w->http, w->res);
    if (body == NULL)
        return true;
    bool ok = gw_shape_request(action, &w->w->who, body, &w->req, w->res) && request_id(w) &&
              target(w, action);
    if (ok) {
        body_digest(action, w->http->path, body, w->w->digest);
        ok = gw_encode(&w->req, gw_wall_ms(), &w->w->record, &w->w->record_bytes, w->res);
    }
    json_decref(body); /* the record holds what the request's strings pointed to */
    if (!ok)
        return true;
    w->w->req.request_id = w->req.request_id;
    w->w->req.message_id = w->req.message_id;
    w->w->req.action = w->req.action;
    w->w->answer = okno_http_defer(w->res);
    gw_batch_write(w->gw, w->w);
    w->w = NULL; /* the batch's now */
    return true;
}

/* False when on the loop and the caller is not in the caches (hand the request to a worker). */
static bool handle_write(struct gateway *gw, const struct okno_http_request *req,
                         struct okno_http_response *res, okno_action action, bool on_loop)
{
    struct write_ctx w = {
        .gw = gw, .http = req, .res = res, .w = calloc(1, sizeof(struct gw_write))};
    if (w.w == NULL) {
        okno_http_respond_error(res, 503, "overloaded", NULL, "out of memory");
        return true;
    }
    bool done = write_request(&w, action, on_loop);
    if (done && on_loop)
        okno_metrics_counter_inc(&gw->writes_on_loop);
    free(w.w);
    return done;
}

void gw_submit_pool(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    handle_write(arg, req, res, OKNO_ACTION_SUBMIT, false);
}

/* The routes run on the server's loop: a write whose token and grant are cached is shaped there
 * and queued for its batch without a worker; any other goes to a worker (okno_http_to_pool). */
void gw_submit(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    if (!handle_write(arg, req, res, OKNO_ACTION_SUBMIT, true))
        okno_http_to_pool(res, gw_submit_pool, arg);
}

static bool action_of(const struct okno_http_request *req, struct okno_http_response *res,
                      okno_action *action)
{
    *action = OKNO_ACTION_NONE;
    if (okno_action_parse(okno_str_c(req->params[1]), action) != 0 ||
        *action == OKNO_ACTION_SUBMIT || *action == OKNO_ACTION_SLA_SIGNAL) {
        okno_http_respond_error(res, 404, "unknown_action", "action",
                                "no such action: use a canonical action name of SPEC 3.1-3.9");
        return false;
    }
    return true;
}

void gw_action_pool(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    okno_action action;
    if (action_of(req, res, &action))
        handle_write(arg, req, res, action, false);
}

void gw_action(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    okno_action action;
    if (action_of(req, res, &action) && !handle_write(arg, req, res, action, true))
        okno_http_to_pool(res, gw_action_pool, arg);
}
