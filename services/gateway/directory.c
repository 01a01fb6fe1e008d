/* The org directory's admin endpoints (issue 17): /directory/... Each is one call of
 * okno/directory_admin.h on the okno_app pool, as the authenticated caller acting for the org of
 * their X-Org-Id: an org admin manages their org and the orgs below it (anything else is a 404,
 * nothing seen and nothing changed); the platform operator's admins manage the top of the
 * hierarchy and the categories. Every change lands in the directory's history with the caller and
 * the body's "reason". Fault requests (SPEC V) come in and are listed here too: POST /faults,
 * GET /faults. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "okno/directory_admin.h"
#include "okno/error.h"

/* What each route does, and the path parameters it takes, in order, as JSON fields. */
struct dir_route {
    const char *op;
    const char *params[4];
    bool body;  /* a JSON object body is expected (else an empty body is {}) */
    bool fault; /* okno_fault_apply (anyone signed in), else okno_diradmin_apply (staff) */
};

static const struct dir_route show_org = {"show_org", {"org_id"}, false, false};
static const struct dir_route put_org = {"put_org", {"org_id"}, true, false};
static const struct dir_route put_user = {"put_user", {"org_id", "user_id"}, true, false};
static const struct dir_route remove_user = {"remove_user", {"org_id", "user_id"}, false, false};
static const struct dir_route put_authority = {
    "put_authority", {"org_id", "user_id", "category_id", "subcategory_id"}, true, false};
static const struct dir_route remove_authority = {
    "remove_authority", {"org_id", "user_id", "category_id", "subcategory_id"}, false, false};
static const struct dir_route put_category = {"put_category", {"category_id"}, true, false};
static const struct dir_route submit_fault = {"submit_fault", {NULL}, true, true};
static const struct dir_route list_faults = {"list_faults", {NULL}, false, true};

/* A path parameter as a whole number >= 0 into args[field]; false with res filled (400). */
static bool path_number(const char *text, const char *field, json_t *args,
                        struct okno_http_response *res)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < 0 || strlen(text) > 18) {
        okno_http_respond_error(res, 400, "bad_field", field, "%s must be a whole number", field);
        return false;
    }
    json_object_set_new(args, field, json_integer(v));
    return true;
}

/* GET /faults' query: limit and before, as whole numbers (okno.fault_call validates them). */
static bool fault_query(const struct okno_http_request *req, json_t *args,
                        struct okno_http_response *res)
{
    static const char *const names[] = {"limit", "before"};
    for (size_t i = 0; i < 2; i++) {
        char value[24];
        int rc = okno_http_query(req, names[i], value, sizeof value);
        if (rc == OKNO_ENOTFOUND)
            continue;
        if (rc != 0 || !path_number(value, names[i], args, res))
            return false;
    }
    return true;
}

static const char *error_code(int status)
{
    switch (status) {
    case 400:
        return "bad_field";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 409:
        return "would_strand";
    default:
        return "refused";
    }
}

static void respond(const okno_diradmin_result *r, struct okno_http_response *res)
{
    if (r->status == 200) {
        okno_http_respond_json(res, 200, json_incref(r->body));
        return;
    }
    if (r->status >= 500) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "the directory is unavailable");
        return;
    }
    json_t *obj = json_pack("{s:s,s:s}", "error", error_code(r->status), "message", r->error);
    if (obj != NULL && r->field[0] != '\0')
        json_object_set_new(obj, "field", json_string(r->field));
    if (obj != NULL && r->messages != NULL)
        json_object_set(obj, "messages", r->messages);
    okno_http_respond_json(res, r->status, obj);
}

static void run(void *arg, const struct okno_http_request *req, struct okno_http_response *res,
                const struct dir_route *route)
{
    struct gateway *gw = arg;
    struct gw_caller who;
    if (!gw_authenticate(gw, NULL, req, &who, res))
        return;
    if (who.applicant && !route->fault) {
        okno_http_respond_error(res, 403, "forbidden", NULL, "applicants have no directory access");
        return;
    }
    json_t *args = route->body || req->body_len > 0 ? okno_http_json_body(req, res) : json_object();
    if (args == NULL)
        return;
    if (route == &list_faults && !fault_query(req, args, res)) {
        json_decref(args);
        return;
    }
    for (int i = 0; i < 4 && route->params[i] != NULL; i++)
        if (!path_number(req->params[i], route->params[i], args, res)) {
            json_decref(args);
            return;
        }
    PGconn *conn = gw_pool_get(&gw->pool);
    if (conn == NULL) {
        json_decref(args);
        okno_http_respond_error(res, 503, "unavailable", NULL, "PostgreSQL is unreachable");
        return;
    }
    okno_diradmin_result r;
    if (route->fault)
        okno_fault_apply(conn, who.user_id, who.org_id, route->op, args, &r);
    else
        okno_diradmin_apply(conn, who.user_id, who.org_id, route->op, args, &r);
    gw_pool_put(&gw->pool, conn);
    json_decref(args);
    respond(&r, res);
    okno_diradmin_result_free(&r);
}

#define DIR_HANDLER(name, route)                                                                   \
    static void name(void *arg, const struct okno_http_request *req,                               \
                     struct okno_http_response *res)                                               \
    {                                                                                              \
        run(arg, req, res, &route);                                                                \
    }
DIR_HANDLER(gw_dir_show_org, show_org)
DIR_HANDLER(gw_dir_put_org, put_org)
DIR_HANDLER(gw_dir_put_user, put_user)
DIR_HANDLER(gw_dir_remove_user, remove_user)
DIR_HANDLER(gw_dir_put_authority, put_authority)
DIR_HANDLER(gw_dir_remove_authority, remove_authority)
DIR_HANDLER(gw_dir_put_category, put_category)
DIR_HANDLER(gw_submit_fault, submit_fault)
DIR_HANDLER(gw_list_faults, list_faults)

#define AUTHORITY_PATH "/directory/orgs/{org}/users/{user}/authorities/{category}/{subcategory}"

const struct okno_http_route gw_directory_routes[] = {
    {"GET", "/directory/orgs/{org}", gw_dir_show_org, NULL, true},
    {"PUT", "/directory/orgs/{org}", gw_dir_put_org, NULL, true},
    {"PUT", "/directory/orgs/{org}/users/{user}", gw_dir_put_user, NULL, true},
    {"DELETE", "/directory/orgs/{org}/users/{user}", gw_dir_remove_user, NULL, true},
    {"PUT", AUTHORITY_PATH, gw_dir_put_authority, NULL, true},
    {"DELETE", AUTHORITY_PATH, gw_dir_remove_authority, NULL, true},
    {"PUT", "/directory/categories/{category}", gw_dir_put_category, NULL, true},
    {"POST", "/faults", gw_submit_fault, NULL, true},
    {"GET", "/faults", gw_list_faults, NULL, true},
    {NULL, NULL, NULL, NULL, false},
};
