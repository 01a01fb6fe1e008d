/* The directory admin call (okno/directory_admin.h): okno.dir_change and its refusals mapped to
 * statuses, the field and the stranded messages. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "okno/directory_admin.h"

static int status_of(const char *sqlstate)
{
    static const struct {
        const char *code;
        int status;
    } codes[] = {{"OKV01", 400}, {"OKP01", 403}, {"OKN01", 404}, {"OKS01", 409}};
    for (size_t i = 0; sqlstate != NULL && i < sizeof codes / sizeof *codes; i++)
        if (strcmp(sqlstate, codes[i].code) == 0)
            return codes[i].status;
    return 500;
}

/* "id1,id2,..." as a JSON array of strings. */
static json_t *split_ids(const char *csv)
{
    json_t *a = json_array();
    while (csv != NULL && *csv != '\0') {
        size_t len = strcspn(csv, ",");
        json_array_append_new(a, json_stringn(csv, len));
        csv += len + (csv[len] == ',');
    }
    return a;
}

static int call(PGconn *conn, const char *sql, int64_t actor_user, int64_t actor_org,
                const char *op, const json_t *args, okno_diradmin_result *out)
{
    memset(out, 0, sizeof *out);
    char user[24], org[24];
    snprintf(user, sizeof user, "%" PRId64, actor_user);
    snprintf(org, sizeof org, "%" PRId64, actor_org);
    char *json = json_dumps(args, JSON_COMPACT);
    const char *params[4] = {user, org, op, json != NULL ? json : "null"};
    PGresult *res = PQexecParams(conn, sql, 4, NULL, params, NULL, NULL, 0);
    free(json);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        out->status = 200;
        out->body = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        if (out->body == NULL) {
            out->status = 500;
            snprintf(out->error, sizeof out->error, "the directory's answer is not JSON");
        }
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *field = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        out->status = PQstatus(conn) == CONNECTION_OK ? status_of(state) : 503;
        snprintf(out->field, sizeof out->field, "%s", field != NULL ? field : "");
        snprintf(out->error, sizeof out->error, "%s", msg != NULL ? msg : PQerrorMessage(conn));
        if (out->status == 409)
            out->messages = split_ids(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
    }
    PQclear(res);
    return out->status;
}

int okno_diradmin_apply(PGconn *conn, int64_t actor_user, int64_t actor_org, const char *op,
                        const json_t *args, okno_diradmin_result *out)
{
    return call(conn, "select okno.dir_change($1::int8, $2::int8, $3, $4::jsonb)", actor_user,
                actor_org, op, args, out);
}

int okno_fault_apply(PGconn *conn, int64_t actor_user, int64_t actor_org, const char *op,
                     const json_t *args, okno_diradmin_result *out)
{
    return call(conn, "select okno.fault_call($1::int8, $2::int8, $3, $4::jsonb)", actor_user,
                actor_org, op, args, out);
}

void okno_diradmin_result_free(okno_diradmin_result *r)
{
    json_decref(r->body);
    json_decref(r->messages);
    r->body = r->messages = NULL;
}
