/* GET /requests/{id}[?wait=2s]: pending, accepted (events and the new stage) or refused (the
 * stable reason code and text), from the tables the ledger writes. Only the user who made the
 * request sees it; anyone else gets the 404 of a missing one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "gateway.h"
#include "okno/avro.h"
#include "okno/error.h"
#include "okno/uuid.h"

#define WAIT_TEXT_BYTES 16

/* V_DECIDED: accepted, but the read models do not show it yet (see PROJECTED_SQL). */
enum verdict { V_ERROR, V_MISSING, V_PENDING, V_DECIDED, V_DONE };

static const char OWNER_SQL[] =
    "select message_id from okno.gateway_requests where request_id = $1 and user_id = $2";
static const char DECIDED_SQL[] =
    "select r.accepted, f.reason_code, f.message from okno.requests r left join okno.refusals f "
    "on f.request_id = r.request_id where r.request_id = $1";
static const char EVENTS_SQL[] =
    "select seq, event_type, body from okno.event_log where message_id = $2 and request_id = $1 "
    "order by seq";

/* The projector's cursor has passed the request's last event: reads (and the visibility check of
 * the next write) see what it did. */
static const char PROJECTED_SQL[] =
    "select (e.tx, e.position) <= (m.cursor_tx, m.cursor_position) from okno.event_log e, "
    "okno_rm.meta m where e.message_id = $2 and e.request_id = $1 order by e.seq desc limit 1";

static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params,
                       int result_format)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, result_format);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return NULL;
    }
    return r;
}

/* The new stage and outcome, from the last event's body. */
static void set_stage(json_t *o, PGresult *events)
{
    int last = PQntuples(events) - 1;
    okno_event e;
    okno_avro_error err;
    bool ok = last >= 0 &&
              okno_avro_decode_topic(OKNO_AVRO_EVENTS, (const uint8_t *)PQgetvalue(events, last, 2),
                                     (size_t)PQgetlength(events, last, 2), &e, &err) == 0;
    json_object_set_new(o, "stage", json_string(ok ? okno_stage_name(e.stage_after) : "unknown"));
    json_object_set_new(o, "outcome",
                        json_string(ok ? okno_outcome_name(e.outcome_after) : "unknown"));
}

static bool projected(PGconn *conn, const char *const *ids)
{
    PGresult *r = query(conn, PROJECTED_SQL, 2, ids, 0);
    bool yes = r != NULL && PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return yes;
}

static json_t *accepted_json(PGconn *conn, const char *const *ids)
{
    PGresult *r = query(conn, EVENTS_SQL, 2, ids, 1);
    if (r == NULL)
        return NULL;
    json_t *events = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        uint32_t seq;
        memcpy(&seq, PQgetvalue(r, i, 0), sizeof(seq));
        json_array_append_new(events, json_pack("{s:i, s:s%}", "seq", (int)ntohl(seq), "type",
                                                PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1)));
    }
    json_t *o = json_pack("{s:s, s:o}", "status", "accepted", "events", events);
    set_stage(o, r);
    PQclear(r);
    return o;
}

/* One look at the ledger's tables: V_PENDING, or V_DONE with *out. */
static enum verdict look(PGconn *conn, const char *const *ids, json_t **out)
{
    PGresult *r = query(conn, DECIDED_SQL, 1, ids, 0);
    if (r == NULL)
        return V_ERROR;
    enum verdict v = PQntuples(r) == 0 ? V_PENDING : V_DONE;
    json_decref(*out);
    *out = NULL;
    if (v == V_DONE && PQgetvalue(r, 0, 0)[0] == 't') {
        *out = accepted_json(conn, ids);
        bool seen = projected(conn, ids);
        json_object_set_new(*out, "projected", json_boolean(seen));
        v = seen ? V_DONE : V_DECIDED;
    } else if (v == V_DONE)
        *out = json_pack("{s:s, s:{s:s, s:s}}", "status", "refused", "refusal", "code",
                         PQgetvalue(r, 0, 1), "text", PQgetvalue(r, 0, 2));
    PQclear(r);
    return v >= V_DECIDED && *out == NULL ? V_ERROR : v;
}

/* A request seen projected: the read cache must not answer with a card older than its last
 * event from now on (the caller's next read sees what it did). */
static void note_projected(struct gateway *gw, const char *mid, json_t *out)
{
    json_t *events = json_object_get(out, "events");
    size_t n = json_array_size(events);
    okno_uuid id;
    if (n > 0 && json_is_true(json_object_get(out, "projected")) &&
        okno_uuid_parse(mid, strlen(mid), &id) == 0)
        gw_rc_seen(&gw->rc, id.bytes,
                   json_integer_value(json_object_get(json_array_get(events, n - 1), "seq")));
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* "2s", "500ms" or "1500" (ms), at most max_ms; -1 if malformed. */
static int64_t parse_wait(const char *text, int64_t max_ms)
{
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (end == text || v < 0)
        return -1;
    if (strcmp(end, "s") == 0)
        v *= 1000;
    else if (strcmp(end, "ms") != 0 && *end != '\0')
        return -1;
    return v < max_ms ? v : max_ms;
}

static int64_t wait_ms(struct gateway *gw, const struct okno_http_request *req,
                       struct okno_http_response *res)
{
    char text[WAIT_TEXT_BYTES];
    int rc = okno_http_query(req, "wait", text, sizeof(text));
    int64_t ms = rc == OKNO_ENOTFOUND ? 0 : rc == 0 ? parse_wait(text, gw->wait_max_ms) : -1;
    if (ms < 0)
        okno_http_respond_error(res, 400, "bad_field", "wait", "wait is like 2s or 500ms");
    return ms;
}

static enum verdict owned(PGconn *conn, const char *rid, int64_t user, char *mid)
{
    char u[24];
    snprintf(u, sizeof(u), "%lld", (long long)user);
    const char *params[] = {rid, u};
    PGresult *r = query(conn, OWNER_SQL, 2, params, 0);
    if (r == NULL)
        return V_ERROR;
    enum verdict v = PQntuples(r) == 1 ? V_DONE : V_MISSING;
    if (v == V_DONE)
        snprintf(mid, OKNO_UUID_TEXT_BYTES, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void answer(struct gateway *gw, PGconn *conn, const char *rid, const char *mid, int64_t wait,
                   struct okno_http_response *res)
{
    const char *ids[] = {rid, mid};
    json_t *out = NULL;
    enum verdict v = look(conn, ids, &out);
    for (int64_t waited = 0; (v == V_PENDING || v == V_DECIDED) && waited < wait;
         waited += GW_WAIT_STEP_MS) {
        sleep_ms(GW_WAIT_STEP_MS);
        v = look(conn, ids, &out);
    }
    if (v == V_DONE)
        note_projected(gw, mid, out);
    if (v == V_ERROR) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "cannot read the ledger's tables");
        return;
    }
    if (v == V_PENDING)
        out = json_pack("{s:s}", "status", "pending");
    json_object_set_new(out, "request_id", json_string(rid));
    json_object_set_new(out, "message_id", json_string(mid));
    okno_http_respond_json(res, 200, out);
}

static void status_with(struct gateway *gw, PGconn *conn, const struct okno_http_request *req,
                        struct okno_http_response *res)
{
    struct gw_caller who;
    if (!gw_authenticate(gw, conn, req, &who, res))
        return;
    okno_uuid id;
    char rid[OKNO_UUID_TEXT_BYTES], mid[OKNO_UUID_TEXT_BYTES];
    enum verdict v = V_MISSING;
    if (okno_uuid_parse(req->params[0], strlen(req->params[0]), &id) == 0) {
        okno_uuid_format(&id, rid);
        v = owned(conn, rid, who.user_id, mid);
    }
    int64_t wait = v == V_DONE ? wait_ms(gw, req, res) : 0;
    if (v == V_MISSING)
        okno_http_respond_error(res, 404, "not_found", "id", "no such request");
    else if (v == V_ERROR)
        okno_http_respond_error(res, 503, "unavailable", NULL, "cannot read the requests");
    else if (wait >= 0)
        answer(gw, conn, rid, mid, wait, res);
}

void gw_request_status(void *arg, const struct okno_http_request *req,
                       struct okno_http_response *res)
{
    struct gateway *gw = arg;
    PGconn *conn = gw_pool_get(&gw->pool);
    if (conn == NULL) {
        okno_http_respond_error(res, 503, "unavailable", NULL, "PostgreSQL is unreachable");
        return;
    }
    status_with(gw, conn, req, res);
    gw_pool_put(&gw->pool, conn);
}
