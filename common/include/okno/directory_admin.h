/* Changing the org directory as an admin: the one implementation behind the gateway's
 * /directory endpoints and `okno directory` (issue 17). Each call is one transaction of
 * okno.dir_change (deploy/migrations/0009_directory_history.sql): scope check (an org admin
 * manages their org and the orgs below it; the platform operator's admins manage the top of
 * the hierarchy and the categories), validation naming the field, the change, and its record in
 * the directory's history with the actor and the reason. */
#ifndef OKNO_DIRECTORY_ADMIN_H
#define OKNO_DIRECTORY_ADMIN_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Operations (the `op` argument) and their arguments (a JSON object):
 *   show_org          org_id
 *   put_org           org_id, parent_id (null or absent: the top), name
 *   put_user          org_id, user_id, roles (canonical names), [force, reason]
 *   remove_user       org_id, user_id, [force, reason]
 *   put_authority     org_id, user_id, category_id, [subcategory_id], may_agree, may_approve
 *   remove_authority  org_id, user_id, category_id, [subcategory_id], [force, reason]
 *   put_category      category_id, name, total_days
 * Every change may carry a reason (recorded); a change that would strand open messages needs
 * force: true and a reason. */

typedef struct okno_diradmin_result {
    int status;     /* HTTP-like: 200 done, 400 invalid, 403 not an admin, 404 out of scope,
                       409 would strand open messages, 500/503 PostgreSQL failed */
    char field[64]; /* the field an error is about ("" if none) */
    char error[512];
    json_t *body;     /* 200: the org (and category) after the change and directory_version */
    json_t *messages; /* 409: the ids of the open messages the change would strand */
} okno_diradmin_result;

/* Runs op for actor_user acting for actor_org; fills *out (release with
 * okno_diradmin_result_free). Returns out->status. */
int okno_diradmin_apply(PGconn *conn, int64_t actor_user, int64_t actor_org, const char *op,
                        const json_t *args, okno_diradmin_result *out);

void okno_diradmin_result_free(okno_diradmin_result *r);

/* Fault requests (SPEC V), through okno.fault_call with the same result and refusals:
 *   submit_fault  full_name, position, email (as registered for the sender), organization (an
 *                 org's name in the directory), description: 200 the stored request
 *   list_faults   [limit], [before] (a fault_id): 200 {faults: [...]}, newest first; the
 *                 platform operator's staff only (403) */
int okno_fault_apply(PGconn *conn, int64_t actor_user, int64_t actor_org, const char *op,
                     const json_t *args, okno_diradmin_result *out);

#endif
