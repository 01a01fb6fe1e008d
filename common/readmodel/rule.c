/* The visibility rule of okno.rm_visible (migration 0006) in C, for a cache in front of the read
 * calls: the caller comes from okno.rm_caller() itself (the directory read by PostgreSQL, in the
 * caller's read-only transaction), so only the per-message step is written twice; its equality
 * with the policies is tested over generated directories and messages (test_rm_rule). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "okno/error.h"
#include "okno/readmodel.h"

static const char SCOPE_SQL[] = "select (c).applicant_id, (c).scope, (c).moderates"
                                " from (select okno.rm_caller() as c) s";

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* "{1,2,3}" (an int8[]'s text) into s->orgs, sorted. */
static int parse_orgs(const char *text, struct okno_rm_scope *s, char *errbuf, size_t errbuf_bytes)
{
    size_t n = 1;
    for (const char *p = text; *p != '\0'; p++)
        n += *p == ',';
    if (n > OKNO_RM_SCOPE_MAX)
        return okno_errorf(errbuf, errbuf_bytes, OKNO_ELIMIT, "a scope of %zu orgs is over %d", n,
                           OKNO_RM_SCOPE_MAX);
    s->orgs = malloc(n * sizeof *s->orgs);
    if (s->orgs == NULL)
        return OKNO_ENOMEM;
    const char *p = text + (*text == '{');
    while (*p != '\0' && *p != '}') {
        char *end = NULL;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            return okno_errorf(errbuf, errbuf_bytes, OKNO_EDECODE, "bad scope array: %s", text);
        s->orgs[s->org_count++] = v;
        p = end + (*end == ',');
    }
    qsort(s->orgs, s->org_count, sizeof *s->orgs, cmp_i64);
    return OKNO_OK;
}

static int scope_from(const PGresult *res, struct okno_rm_scope *s, char *errbuf,
                      size_t errbuf_bytes)
{
    if (PQntuples(res) != 1 || PQnfields(res) != 3)
        return okno_errorf(errbuf, errbuf_bytes, OKNO_EDECODE, "rm_caller() gave no row");
    if (!PQgetisnull(res, 0, 0)) {
        s->known = true;
        s->applicant_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        return OKNO_OK;
    }
    if (PQgetisnull(res, 0, 1))
        return OKNO_OK; /* NULL caller, or a NULL scope: sees nothing */
    s->known = true;
    s->moderates = !PQgetisnull(res, 0, 2) && PQgetvalue(res, 0, 2)[0] == 't';
    return parse_orgs(PQgetvalue(res, 0, 1), s, errbuf, errbuf_bytes);
}

int okno_rm_scope_read(PGconn *conn, const struct okno_rm_caller *who, struct okno_rm_scope *out,
                       char *errbuf, size_t errbuf_bytes)
{
    *out = (struct okno_rm_scope){.applicant_id = OKNO_RM_NONE};
    const struct okno__rm_stmt stmt = {"scope", SCOPE_SQL, 0, NULL, false};
    PGresult *res = NULL;
    int rc = okno__rm_pipeline(conn, who, &stmt, 1, &res, errbuf, errbuf_bytes);
    if (rc == OKNO_OK)
        rc = scope_from(res, out, errbuf, errbuf_bytes);
    PQclear(res);
    if (rc != OKNO_OK)
        okno_rm_scope_free(out);
    return rc;
}

void okno_rm_scope_free(struct okno_rm_scope *s)
{
    free(s->orgs);
    *s = (struct okno_rm_scope){.applicant_id = OKNO_RM_NONE};
}

static bool in_scope(const struct okno_rm_scope *s, int64_t org)
{
    return org != OKNO_RM_NONE &&
           bsearch(&org, s->orgs, s->org_count, sizeof *s->orgs, cmp_i64) != NULL;
}

/* okno.rm_visible: an applicant by applicant_id; staff by the holding org in scope, moderation
 * for the operator org's moderators, or an org in scope among the visits' (okno.rm_once_held). */
bool okno_rm_sees(const struct okno_rm_scope *s, const struct okno_rm_facts *m)
{
    if (!s->known)
        return false;
    if (s->applicant_id != OKNO_RM_NONE)
        return m->applicant_id != OKNO_RM_NONE && m->applicant_id == s->applicant_id;
    if (in_scope(s, m->holding_org) || (s->moderates && m->in_moderation))
        return true;
    for (size_t i = 0; i < m->visit_org_count; i++)
        if (in_scope(s, m->visit_orgs[i]))
            return true;
    return false;
}
