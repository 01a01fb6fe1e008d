/* Writes: submit and the actions of SPEC 3.1-3.9. The gateway checks the caller (token, org,
 * role), shapes the request (fields), checks the message is visible to the caller (else 404,
 * exactly as a missing one), records the request id with its body digest (Idempotency-Key) and
 * produces it to okno.transitions.v1; the ledger decides. Answers 202 and Location. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/readmodel.h"
#include "okno/uuid.h"

#define DIGEST_BYTES        32
#define IDEMPOTENCY_KEY_MAX 200
#define ID_NAME_BYTES       (IDEMPOTENCY_KEY_MAX + 64)

struct write_ctx {
    struct gateway *gw;
    const struct okno_http_request *http;
    struct okno_http_response *res;
    PGconn *conn;
    struct gw_caller who;
    okno_request req;
    uint8_t digest[DIGEST_BYTES];
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
    int n = snprintf(name, sizeof(name), "%lld:%s", (long long)w->who.user_id, key);
    gw_uuid_v5(&w->gw->id_namespace, name, (size_t)n, &w->req.request_id);
    return true;
}

/* The gateway's only writes are its idempotency records; the durable request is the Kafka
 * record. Losing the last few in a crash lets a retry with a changed body be recorded instead of
 * refused with 422, but under the same request id, which the ledger applies once; not waiting
 * for the WAL flush saves a disk sync per write. The record is a statement prepared once per
 * connection: true when the request id is new, or known with the same digest and message. */
#define GW_RECORD_STATEMENT "gw_record"
const char gw_app_on_connect[] =
    "set synchronous_commit = off;"
    " prepare " GW_RECORD_STATEMENT " (uuid, bigint, uuid, bytea) as"
    " with ins as (insert into okno.gateway_requests (request_id, user_id, message_id,"
    " body_sha256) values ($1, $2, $3, $4) on conflict (request_id) do nothing returning 1)"
    " select (select count(*) from ins) = 1 or exists (select 1 from okno.gateway_requests"
    " where request_id = $1 and body_sha256 = $4 and message_id = $3)";

/* Records the request id and digest; a known id with another digest is a 422. */
static bool record(struct write_ctx *w)
{
    char rid[OKNO_UUID_TEXT_BYTES], mid[OKNO_UUID_TEXT_BYTES], user[24];
    okno_uuid_format(&w->req.request_id, rid);
    okno_uuid_format(&w->req.message_id, mid);
    snprintf(user, sizeof(user), "%lld", (long long)w->who.user_id);
    const char *params[] = {rid, user, mid, (const char *)w->digest};
    const int lengths[] = {0, 0, 0, DIGEST_BYTES}, formats[] = {0, 0, 0, 1};
    PGresult *r = PQexecPrepared(w->conn, GW_RECORD_STATEMENT, 4, params, lengths, formats, 0);
    bool db_ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    bool same = db_ok && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!db_ok)
        okno_http_respond_error(w->res, 503, "unavailable", NULL, "cannot record the request");
    else if (!same)
        okno_http_respond_error(w->res, 422, "idempotency_key_reused", "Idempotency-Key",
                                "this key was used with a different request");
    return same;
}

/* Object level: the message must be visible to the caller, under row-level security. */
static bool visible(struct write_ctx *w)
{
    PGconn *rc_conn = gw_pool_get(&w->gw->read_pool);
    if (rc_conn == NULL) {
        okno_http_respond_error(w->res, 503, "unavailable", NULL,
                                "the read models are unreachable");
        return false;
    }
    struct okno_rm_caller who = {w->who.user_id, w->who.org_id, w->who.applicant};
    char err[GW_ERROR_BYTES];
    int rc = okno_rm_visible(rc_conn, &who, w->req.message_id.bytes, err, sizeof(err));
    gw_pool_put(&w->gw->read_pool, rc_conn);
    if (rc == OKNO_ENOTFOUND)
        okno_http_respond_error(w->res, 404, "not_found", "id", "no such message");
    else if (rc != 0)
        okno_http_respond_error(w->res, 503, "unavailable", NULL, "cannot read the message");
    return rc == 0;
}

static bool role_allows(struct write_ctx *w, okno_action action)
{
    bool ok = action == OKNO_ACTION_SUBMIT && w->who.applicant
                  ? true
                  : !w->who.applicant && (w->who.roles & gw_action_roles(action)) != 0;
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
    return visible(w);
}

/* Checks and records the request on the okno_app connection, then produces it (gw_produce
 * defers the answer until Kafka's report); any refusal on the way is answered at once. */
static void write_request(struct write_ctx *w, okno_action action)
{
    if (!gw_authenticate(w->gw, w->conn, w->http, &w->who, w->res) || !role_allows(w, action))
        return;
    json_t *body = okno_http_json_body(w->http, w->res);
    if (body == NULL)
        return;
    bool ok = gw_shape_request(action, &w->who, body, &w->req, w->res) && request_id(w) &&
              target(w, action);
    if (ok) {
        body_digest(action, w->http->path, body, w->digest);
        ok = record(w);
    }
    if (ok) /* the request's strings point into the body: produce before it goes */
        gw_produce(w->gw, &w->req, gw_wall_ms(), w->res);
    json_decref(body);
}

/* The connection goes back to the pool before Kafka acknowledges: gw_produce defers the answer. */
static void with_connection(struct gateway *gw, const struct okno_http_request *req,
                            struct okno_http_response *res, okno_action action)
{
    struct write_ctx w = {.gw = gw, .http = req, .res = res};
    w.conn = gw_pool_get(&gw->pool);
    if (w.conn == NULL) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "PostgreSQL is unreachable");
        return;
    }
    write_request(&w, action);
    gw_pool_put(&gw->pool, w.conn);
}

void gw_submit(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    with_connection(arg, req, res, OKNO_ACTION_SUBMIT);
}

void gw_action(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    okno_action action = OKNO_ACTION_NONE;
    if (okno_action_parse(okno_str_c(req->params[1]), &action) != 0 ||
        action == OKNO_ACTION_SUBMIT || action == OKNO_ACTION_SLA_SIGNAL) {
        okno_http_respond_error(res, 404, "unknown_action", "action",
                                "no such action: use a canonical action name of SPEC 3.1-3.9");
        return;
    }
    with_connection(arg, req, res, action);
}
