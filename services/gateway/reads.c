/* Reads through okno/readmodel.h, under row-level security as the okno_gateway role: the
 * caller's inbox, a message's card, history and timeline, an applicant's own messages. What the
 * caller may not see is the 404 of a missing id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/readmodel.h"
#include "okno/uuid.h"

#define CURSOR_BYTES  256
#define ROLE_BYTES    32
#define LIMIT_BYTES   8
#define LIMIT_DEFAULT 50
#define ANSWERED      1 /* a read_fn filled the response itself */

struct read_ctx {
    struct gateway *gw;
    const struct okno_http_request *http;
    struct okno_http_response *res;
    PGconn *conn; /* okno_gateway */
    struct okno_rm_caller who;
    char err[GW_ERROR_BYTES];
};

typedef int (*read_fn)(struct read_ctx *r, json_t **out);

static void respond_result(struct read_ctx *r, int rc, json_t *out)
{
    if (rc == ANSWERED)
        return;
    if (rc == 0)
        okno_http_respond_json(r->res, 200, out);
    else if (rc == OKNO_ENOTFOUND)
        okno_http_respond_error(r->res, 404, "not_found", "id", "no such message");
    else if (rc == OKNO_EINVAL)
        okno_http_respond_error(r->res, 400, "bad_field", "query", "%s", r->err);
    else
        okno_http_respond_error(r->res, 503, "unavailable", NULL, "cannot read the read models");
}

/* Authenticates (the directory through the cache or the app pool), then reads on the gateway
 * pool. */
static void run_read(void *arg, const struct okno_http_request *req, struct okno_http_response *res,
                     read_fn fn)
{
    struct read_ctx r = {.gw = arg, .http = req, .res = res};
    struct gw_caller who;
    if (!gw_authenticate(r.gw, NULL, req, &who, res))
        return;
    r.who = (struct okno_rm_caller){who.user_id, who.org_id, who.applicant};
    r.conn = gw_pool_get(&r.gw->read_pool);
    if (r.conn == NULL) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "PostgreSQL is unreachable");
        return;
    }
    json_t *out = NULL;
    int rc = fn(&r, &out);
    gw_pool_put(&r.gw->read_pool, r.conn);
    respond_result(&r, rc, out);
}

static bool message_id(struct read_ctx *r, uint8_t id[16])
{
    okno_uuid u;
    if (okno_uuid_parse(r->http->params[0], strlen(r->http->params[0]), &u) != 0)
        return false;
    memcpy(id, u.bytes, 16);
    return true;
}

/* limit (1..OKNO_RM_PAGE_ROWS_MAX) and after from the query. */
static int page(struct read_ctx *r, struct okno_rm_page *p, char *after)
{
    char limit[LIMIT_BYTES];
    p->limit = LIMIT_DEFAULT;
    p->after = NULL;
    if (okno_http_query(r->http, "limit", limit, sizeof(limit)) == 0)
        p->limit = atoi(limit);
    if (p->limit < 1 || p->limit > OKNO_RM_PAGE_ROWS_MAX) {
        snprintf(r->err, sizeof(r->err), "limit must be 1..%d", OKNO_RM_PAGE_ROWS_MAX);
        return OKNO_EINVAL;
    }
    if (okno_http_query(r->http, "after", after, CURSOR_BYTES) == 0)
        p->after = after;
    return 0;
}

static int read_card(struct read_ctx *r, json_t **out)
{
    uint8_t id[16];
    return message_id(r, id) ? okno_rm_card(r->conn, &r->who, id, gw_services_ms(r->gw), out,
                                            r->err, sizeof(r->err))
                             : OKNO_ENOTFOUND;
}

/* The card through the read cache: a cached card decided by the rule for this caller (its scope
 * resolved by PostgreSQL), else read under RLS at now 0 and kept (rcard.c says why 0). */
static int read_card_cached(struct read_ctx *r, json_t **out)
{
    struct gw_readcache *rc = &r->gw->rc;
    uint8_t id[16];
    if (!message_id(r, id))
        return OKNO_ENOTFOUND;
    struct gw_caller who = {r->who.user_id, r->who.org_id, 0, r->who.applicant};
    struct gw_scope *s =
        atomic_load(&rc->online) ? gw_scope_get(rc, r->conn, &who, gw_wall_ms()) : NULL;
    bool hit = s != NULL && gw_rc_answer(rc, id, s, who.org_id, gw_services_ms(r->gw), r->res);
    gw_scope_put(s);
    if (hit)
        return ANSWERED;
    okno_metrics_counter_inc(&rc->misses);
    struct gw_rc_ticket t;
    bool keep = gw_rc_ticket(rc, id, &t);
    int code = okno_rm_card(r->conn, &r->who, id, 0, out, r->err, sizeof(r->err));
    if (code != 0)
        return code;
    struct gw_rc_entry *e = gw_rc_entry_new(id, *out);
    json_decref(*out);
    *out = NULL;
    if (e == NULL)
        return OKNO_ENOMEM;
    gw_rc_entry_respond(e, who.org_id, gw_services_ms(r->gw), r->res);
    if (keep)
        gw_rc_put(rc, &t, e);
    else
        free(e);
    return ANSWERED;
}

static int read_history(struct read_ctx *r, json_t **out)
{
    uint8_t id[16];
    return message_id(r, id) ? okno_rm_history(r->conn, &r->who, id, out, r->err, sizeof(r->err))
                             : OKNO_ENOTFOUND;
}

static int read_timeline(struct read_ctx *r, json_t **out)
{
    uint8_t id[16];
    return message_id(r, id) ? okno_rm_timeline(r->conn, &r->who, id, out, r->err, sizeof(r->err))
                             : OKNO_ENOTFOUND;
}

static int read_inbox(struct read_ctx *r, json_t **out)
{
    struct okno_rm_page p;
    char after[CURSOR_BYTES], role[ROLE_BYTES];
    int rc = page(r, &p, after);
    bool has_role = okno_http_query(r->http, "role", role, sizeof(role)) == 0;
    if (rc == 0 && r->who.applicant) {
        snprintf(r->err, sizeof(r->err), "an applicant has no inbox: see /my/messages");
        rc = OKNO_EINVAL;
    }
    return rc != 0 ? rc
                   : okno_rm_inbox(r->conn, &r->who, has_role ? role : NULL, &p,
                                   gw_services_ms(r->gw), out, r->err, sizeof(r->err));
}

static int read_mine(struct read_ctx *r, json_t **out)
{
    struct okno_rm_page p;
    char after[CURSOR_BYTES];
    int rc = page(r, &p, after);
    if (rc == 0 && !r->who.applicant) {
        snprintf(r->err, sizeof(r->err), "only an applicant (no X-Okno-Org) has own messages");
        rc = OKNO_EINVAL;
    }
    return rc != 0 ? rc : okno_rm_my_messages(r->conn, &r->who, &p, out, r->err, sizeof(r->err));
}

#define READ_HANDLER(name, fn)                                                                     \
    static void name(void *arg, const struct okno_http_request *req,                               \
                     struct okno_http_response *res)                                               \
    {                                                                                              \
        run_read(arg, req, res, fn);                                                               \
    }

READ_HANDLER(gw_card_direct, read_card)
READ_HANDLER(gw_card_cached, read_card_cached)
READ_HANDLER(gw_history, read_history)
READ_HANDLER(gw_timeline, read_timeline)
READ_HANDLER(gw_inbox, read_inbox)
READ_HANDLER(gw_mine, read_mine)

static void gw_card_pool(void *arg, const struct okno_http_request *req,
                         struct okno_http_response *res)
{
    struct gateway *gw = arg;
    (gw->rc.enabled ? gw_card_cached : gw_card_direct)(arg, req, res);
}

/* On the server's loop: a card answered from memory alone (token, grant, scope and card all
 * cached); anything else goes to gw_card_pool on a worker. */
static bool card_from_memory(struct gateway *gw, const struct okno_http_request *req,
                             struct okno_http_response *res)
{
    struct gw_caller who;
    okno_uuid id;
    if (!gw->rc.enabled || !gw_authenticate_cached(gw, req, &who) ||
        okno_uuid_parse(req->params[0], strlen(req->params[0]), &id) != 0)
        return false;
    struct gw_scope *s = gw_scope_cached(&gw->rc, &who, gw_wall_ms());
    bool hit = s != NULL && gw_rc_answer(&gw->rc, id.bytes, s, who.org_id, gw_services_ms(gw), res);
    gw_scope_put(s);
    return hit;
}

static void gw_card(void *arg, const struct okno_http_request *req, struct okno_http_response *res)
{
    if (!card_from_memory(arg, req, res))
        okno_http_to_pool(res, gw_card_pool, arg);
}

const struct okno_http_route gw_read_routes[] = {
    {"GET", "/inbox", gw_inbox, NULL, true},
    {"GET", "/messages/{id}", gw_card, NULL, false}, /* on the loop: hands misses to a worker */
    {"GET", "/messages/{id}/history", gw_history, NULL, true},
    {"GET", "/messages/{id}/timeline", gw_timeline, NULL, true},
    {"GET", "/my/messages", gw_mine, NULL, true},
    {NULL, NULL, NULL, NULL, false},
};
