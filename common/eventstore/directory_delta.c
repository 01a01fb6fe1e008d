/* Applying the directory's history rows after a loaded version to the loaded arrays
 * (okno_pg_directory_apply): each row's `before` leaves its table's sorted array and its
 * `after` enters it, so the arrays become what a load at the new version would read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "okno/error.h"
#include "okno/pg_directory.h"

/* A sorted array of fixed-size rows and its order. */
typedef struct table {
    void **rows;
    uint32_t *count;
    size_t size;
    int (*cmp)(const void *, const void *);
} table;

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b))

static int cmp_org(const void *a, const void *b)
{
    return CMP(((const okno_org *)a)->org_id, ((const okno_org *)b)->org_id);
}

static int cmp_grant(const void *a, const void *b)
{
    const okno_grant *x = a, *y = b;
    return x->user_id != y->user_id ? CMP(x->user_id, y->user_id) : CMP(x->org_id, y->org_id);
}

static int cmp_category(const void *a, const void *b)
{
    return CMP(((const okno_category *)a)->category_id, ((const okno_category *)b)->category_id);
}

static int cmp_authority(const void *a, const void *b)
{
    const okno_authority *x = a, *y = b;
    if (x->org_id != y->org_id)
        return CMP(x->org_id, y->org_id);
    if (x->user_id != y->user_id)
        return CMP(x->user_id, y->user_id);
    if (x->category_id != y->category_id)
        return CMP(x->category_id, y->category_id);
    return CMP(x->subcategory_id, y->subcategory_id);
}

/* The first row not below key. */
static uint32_t lower_bound(const table *t, const void *key, bool *found)
{
    uint32_t lo = 0, hi = *t->count;
    const char *base = *t->rows;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->cmp(base + (size_t)mid * t->size, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < *t->count && t->cmp(base + (size_t)lo * t->size, key) == 0;
    return lo;
}

static void take_out(const table *t, const void *key)
{
    bool found;
    uint32_t at = lower_bound(t, key, &found);
    if (!found)
        return;
    char *base = *t->rows;
    memmove(base + (size_t)at * t->size, base + (size_t)(at + 1) * t->size,
            (size_t)(*t->count - at - 1) * t->size);
    (*t->count)--;
}

static int put_in(const table *t, const void *row)
{
    bool found;
    uint32_t at = lower_bound(t, row, &found);
    if (!found) {
        char *grown = realloc(*t->rows, (size_t)(*t->count + 1) * t->size);
        if (grown == NULL)
            return OKNO_ENOMEM;
        *t->rows = grown;
        memmove(grown + (size_t)(at + 1) * t->size, grown + (size_t)at * t->size,
                (size_t)(*t->count - at) * t->size);
        (*t->count)++;
    }
    memcpy((char *)*t->rows + (size_t)at * t->size, row, t->size);
    return OKNO_OK;
}

static int64_t i64(const json_t *row, const char *name)
{
    return json_integer_value(json_object_get(row, name)); /* null: 0 */
}

/* A table row from its JSON (to_jsonb of the SQL row) into out; false if it does not read. */
static bool read_row(const char *kind, const json_t *j, void *out, size_t size)
{
    memset(out, 0, size); /* padding too: the arrays are compared and hashed as bytes */
    if (strcmp(kind, "org") == 0) {
        okno_org *o = out;
        o->org_id = i64(j, "org_id");
        o->parent_id = i64(j, "parent_id");
    } else if (strcmp(kind, "grant") == 0) {
        okno_grant *g = out;
        g->user_id = i64(j, "user_id");
        g->org_id = i64(j, "org_id");
        const json_t *roles = json_object_get(j, "roles");
        for (size_t i = 0; i < json_array_size(roles); i++) {
            const char *name = json_string_value(json_array_get(roles, i));
            okno_role role;
            if (name == NULL || okno_role_parse((okno_str){name, (uint32_t)strlen(name)}, &role))
                return false;
            g->roles |= role;
        }
    } else if (strcmp(kind, "category") == 0) {
        okno_category *c = out;
        c->category_id = (int32_t)i64(j, "category_id");
        c->total_days = (int32_t)i64(j, "total_days");
    } else {
        okno_authority *a = out;
        a->user_id = i64(j, "user_id");
        a->org_id = i64(j, "org_id");
        a->category_id = (int32_t)i64(j, "category_id");
        a->subcategory_id = (int32_t)i64(j, "subcategory_id");
        a->may_agree = json_is_true(json_object_get(j, "may_agree"));
        a->may_approve = json_is_true(json_object_get(j, "may_approve"));
    }
    return true;
}

static bool table_of(okno_pg_directory *d, const char *kind, table *t)
{
    if (strcmp(kind, "org") == 0)
        *t = (table){(void **)&d->orgs, &d->dir.orgs_count, sizeof(okno_org), cmp_org};
    else if (strcmp(kind, "grant") == 0)
        *t = (table){(void **)&d->grants, &d->dir.grants_count, sizeof(okno_grant), cmp_grant};
    else if (strcmp(kind, "category") == 0)
        *t = (table){(void **)&d->categories, &d->dir.categories_count, sizeof(okno_category),
                     cmp_category};
    else if (strcmp(kind, "authority") == 0)
        *t = (table){(void **)&d->authorities, &d->dir.authorities_count, sizeof(okno_authority),
                     cmp_authority};
    else
        return false;
    return true;
}

static int apply_row(okno_pg_directory *d, const char *kind, const char *body, bool *settings)
{
    table t;
    if (!table_of(d, kind, &t)) {
        *settings = *settings || strcmp(kind, "settings") == 0;
        return *settings ? OKNO_OK : OKNO_EINVAL;
    }
    json_t *doc = json_loads(body, 0, NULL);
    if (doc == NULL)
        return OKNO_EINVAL;
    union {
        okno_org o;
        okno_grant g;
        okno_category c;
        okno_authority a;
    } row;
    int rc = OKNO_OK;
    const json_t *before = json_object_get(doc, "before"), *after = json_object_get(doc, "after");
    if (json_is_object(before)) {
        if (read_row(kind, before, &row, t.size))
            take_out(&t, &row);
        else
            rc = OKNO_EINVAL;
    }
    if (rc == OKNO_OK && json_is_object(after))
        rc = read_row(kind, after, &row, t.size) ? put_in(&t, &row) : OKNO_EINVAL;
    json_decref(doc);
    return rc;
}

int okno_pg_directory_apply(PGconn *conn, okno_pg_directory *d, int64_t rows_max, char *errbuf,
                            size_t errbuf_bytes)
{
    char after[24], limit[24];
    snprintf(after, sizeof after, "%lld", (long long)d->version);
    snprintf(limit, sizeof limit, "%lld", (long long)rows_max + 1);
    const char *params[2] = {after, limit};
    PGresult *res = PQexecParams(conn,
                                 "select version, kind, convert_from(body, 'UTF8') from"
                                 " okno.directory_history where version > $1::int8"
                                 " order by version limit $2::int8",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(errbuf, errbuf_bytes, "reading the directory's history: %s",
                 PQresultErrorMessage(res));
        PQclear(res);
        return OKNO_EPG;
    }
    int n = PQntuples(res), rc = OKNO_OK;
    bool settings = false;
    if (n > rows_max) {
        snprintf(errbuf, errbuf_bytes, "more than %lld changes to apply", (long long)rows_max);
        rc = OKNO_ELIMIT;
    }
    for (int i = 0; rc == OKNO_OK && i < n; i++) {
        rc = apply_row(d, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), &settings);
        if (rc != OKNO_OK)
            snprintf(errbuf, errbuf_bytes, "directory history version %s does not apply",
                     PQgetvalue(res, i, 0));
        else
            d->version = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    }
    PQclear(res);
    d->dir.orgs = d->orgs;
    d->dir.grants = d->grants;
    d->dir.categories = d->categories;
    d->dir.authorities = d->authorities;
    if (rc == OKNO_OK && settings)
        rc = okno_pg_directory_load_settings(conn, d, errbuf, errbuf_bytes);
    if (rc == OKNO_OK && okno_directory_check(&d->dir) != 0) {
        snprintf(errbuf, errbuf_bytes, "the directory is inconsistent after the changes");
        rc = OKNO_EINVAL;
    }
    return rc;
}
