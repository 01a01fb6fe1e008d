/* `okno audit --org ORG`: an org's directory history (who changed what, when, from which org,
 * the row before and after), verifying the whole history chain as it goes
 * (okno/directory_history.h). Exit 0 when the chain is intact, 1 on a mismatch. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli.h"
#include "okno/directory_history.h"
#include "okno/pg.h"
#include "okno/readmodel.h"

typedef struct org_audit {
    bool json;
    json_t *changes;
    json_t *mismatches;
} org_audit;

static void print_row_json(const char *label, const json_t *row)
{
    char *text = json_is_null(row) || row == NULL ? NULL : json_dumps(row, JSON_COMPACT);
    if (text != NULL)
        printf("     %s: %s\n", label, text);
    free(text);
}

static void visit(void *ctx, const okno_dirhist_row *r)
{
    org_audit *a = ctx;
    if (a->json) {
        json_t *c = r->body != NULL ? json_deep_copy(r->body) : json_object();
        json_object_set_new(c, "hash", json_string(r->hash_hex));
        json_array_append_new(a->changes, c);
        return;
    }
    const json_t *b = r->body;
    char at[32] = "?";
    okno_rm_time_iso(json_integer_value(json_object_get(b, "at_ms")), at);
    const json_t *user = json_object_get(b, "actor_user"), *org = json_object_get(b, "actor_org");
    printf("v%-6" PRId64 " %s  %s %s  by ", r->version, at, r->kind, r->op);
    if (json_is_integer(user))
        printf("user %" JSON_INTEGER_FORMAT " of org %" JSON_INTEGER_FORMAT,
               json_integer_value(user), json_integer_value(org));
    else
        printf("no named user");
    printf(" (database role %s)\n", json_string_value(json_object_get(b, "db_role")));
    const char *reason = json_string_value(json_object_get(b, "reason"));
    if (reason != NULL)
        printf("     reason: %s\n", reason);
    print_row_json("before", json_object_get(b, "before"));
    print_row_json("after", json_object_get(b, "after"));
}

static void mismatch(void *ctx, int64_t version, const char *what)
{
    org_audit *a = ctx;
    fprintf(stderr, "okno audit: DIRECTORY CHAIN BROKEN at version %" PRId64 ": %s\n", version,
            what);
    if (a->json)
        json_array_append_new(a->mismatches,
                              json_pack("{s:I,s:s}", "version", (json_int_t)version, "what", what));
    else
        printf("   !! CHAIN BROKEN at version %" PRId64 ": %s\n", version, what);
}

int okno_cli_audit_org(PGconn *conn, int64_t org_id, bool json)
{
    org_audit a = {.json = json};
    if (json) {
        a.changes = json_array();
        a.mismatches = json_array();
    } else {
        printf("org %" PRId64 ": directory history\n", org_id);
    }
    okno_dirhist_walk w = {.org_id = org_id, .visit = visit, .mismatch = mismatch, .ctx = &a};
    char err[OKNO_PG_ERRBUF_BYTES];
    if (okno_dirhist_verify(conn, &w, err, sizeof err) != 0) {
        fprintf(stderr, "okno audit: %s\n", err);
        json_decref(a.changes);
        json_decref(a.mismatches);
        return OKNO_EXIT_FAILURE;
    }
    if (json) {
        json_t *doc = json_pack("{s:I,s:o,s:{s:b,s:I,s:I,s:o}}", "org_id", (json_int_t)org_id,
                                "changes", a.changes, "chain", "intact", w.mismatches == 0,
                                "directory_version", (json_int_t)w.head_version, "mismatch_count",
                                (json_int_t)w.mismatches, "mismatches", a.mismatches);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else if (w.mismatches == 0) {
        printf("directory history chain intact: %" PRId64 " changes of this org, %" PRId64
               " in all, directory version %" PRId64 "\n",
               w.visited, w.rows, w.head_version);
    } else {
        printf("DIRECTORY HISTORY CHAIN BROKEN: %" PRId64 " mismatches\n", w.mismatches);
    }
    return w.mismatches == 0 ? OKNO_EXIT_OK : OKNO_EXIT_FAILURE;
}
