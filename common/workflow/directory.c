/* The org directory: sorted plain arrays and binary-search lookups, with no allocation. */
#include <assert.h>

#include "okno/error.h"
#include "okno/sla.h"
#include "okno/workflow.h"

void okno_workflow_config_init(okno_workflow_config *config, okno_org_id operator_org_id)
{
    config->operator_org_id = operator_org_id;
    config->approaching_permille = OKNO_APPROACHING_PERMILLE;
    config->default_total_days = 30;
    config->redirect_restarts_deadline = false;
}

/* Three-way comparison of two int64 keys, for the lexicographic orders below. */
static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int org_cmp(const okno_org *a, const okno_org *b)
{
    return cmp_i64(a->org_id, b->org_id);
}

static int grant_cmp(const okno_grant *a, const okno_grant *b)
{
    int c = cmp_i64(a->user_id, b->user_id);
    return c ? c : cmp_i64(a->org_id, b->org_id);
}

static int category_cmp(const okno_category *a, const okno_category *b)
{
    return cmp_i64(a->category_id, b->category_id);
}

static int authority_cmp(const okno_authority *a, const okno_authority *b)
{
    int c = cmp_i64(a->org_id, b->org_id);
    if (c == 0)
        c = cmp_i64(a->user_id, b->user_id);
    if (c == 0)
        c = cmp_i64(a->category_id, b->category_id);
    return c ? c : cmp_i64(a->subcategory_id, b->subcategory_id);
}

/* Strictly increasing keys: sorted and without duplicates. Written once for all four arrays
 * through a macro, because C has no generics and a void*-based version would cost the
 * lookups their type checking. */
#define OKNO_DIRECTORY_SORTED(type, cmp)                                                           \
    static bool type##_sorted(const okno_##type *a, uint32_t n)                                    \
    {                                                                                              \
        if (n > 0 && a == NULL)                                                                    \
            return false;                                                                          \
        for (uint32_t i = 1; i < n; i++) {                                                         \
            if (cmp(&a[i - 1], &a[i]) >= 0)                                                        \
                return false;                                                                      \
        }                                                                                          \
        return true;                                                                               \
    }

OKNO_DIRECTORY_SORTED(org, org_cmp)
OKNO_DIRECTORY_SORTED(grant, grant_cmp)
OKNO_DIRECTORY_SORTED(category, category_cmp)
OKNO_DIRECTORY_SORTED(authority, authority_cmp)

static bool categories_valid(const okno_directory *dir)
{
    for (uint32_t i = 0; i < dir->categories_count; i++) {
        const okno_category *c = &dir->categories[i];
        if (c->category_id <= 0 || c->total_days < 1 || c->total_days > OKNO_TOTAL_DAYS_MAX)
            return false;
    }
    return true;
}

static bool config_valid(const okno_workflow_config *config)
{
    return config->operator_org_id != 0 && config->approaching_permille > 0 &&
           config->approaching_permille < OKNO_SLA_PERMILLE && config->default_total_days >= 1 &&
           config->default_total_days <= OKNO_TOTAL_DAYS_MAX;
}

int okno_directory_check(const okno_directory *dir)
{
    if (!org_sorted(dir->orgs, dir->orgs_count) || !grant_sorted(dir->grants, dir->grants_count))
        return OKNO_EINVAL;
    if (!category_sorted(dir->categories, dir->categories_count) || !categories_valid(dir))
        return OKNO_EINVAL;
    if (!authority_sorted(dir->authorities, dir->authorities_count))
        return OKNO_EINVAL;
    if (!config_valid(&dir->config) ||
        okno_directory_org_find(dir, dir->config.operator_org_id) == NULL)
        return OKNO_EINVAL;
    return OKNO_OK;
}

const okno_org *okno_directory_org_find(const okno_directory *dir, okno_org_id org_id)
{
    uint32_t lo = 0, hi = dir->orgs_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t k = dir->orgs[mid].org_id;
        if (k == org_id)
            return &dir->orgs[mid];
        if (k < org_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool okno_directory_org_is_below(const okno_directory *dir, okno_org_id org_id,
                                 okno_org_id ancestor_id)
{
    const okno_org *org = okno_directory_org_find(dir, org_id);
    /* The depth cap guards against a cycle in a badly loaded directory. */
    for (int depth = 0; org != NULL && depth < OKNO_ORG_DEPTH_MAX; depth++) {
        if (org->parent_id == 0)
            return false;
        if (org->parent_id == ancestor_id)
            return true;
        org = okno_directory_org_find(dir, org->parent_id);
    }
    return false;
}

okno_roles okno_directory_roles(const okno_directory *dir, okno_user_id user_id, okno_org_id org_id)
{
    okno_grant key = {user_id, org_id, 0};
    uint32_t lo = 0, hi = dir->grants_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = grant_cmp(&dir->grants[mid], &key);
        if (c == 0)
            return dir->grants[mid].roles;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

const okno_category *okno_directory_category_find(const okno_directory *dir, int32_t category_id)
{
    uint32_t lo = 0, hi = dir->categories_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int32_t k = dir->categories[mid].category_id;
        if (k == category_id)
            return &dir->categories[mid];
        if (k < category_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Index of the first authority entry of (org, user, category), or authorities_count. */
static uint32_t authority_lower_bound(const okno_directory *dir, okno_user_id user_id,
                                      okno_org_id org_id, int32_t category_id)
{
    okno_authority key = {user_id, org_id, category_id, INT32_MIN, false, false};
    uint32_t lo = 0, hi = dir->authorities_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (authority_cmp(&dir->authorities[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool okno_directory_may_agree(const okno_directory *dir, okno_user_id user_id, okno_org_id org_id,
                              int32_t category_id)
{
    for (uint32_t i = authority_lower_bound(dir, user_id, org_id, category_id);
         i < dir->authorities_count; i++) {
        const okno_authority *a = &dir->authorities[i];
        if (a->org_id != org_id || a->user_id != user_id || a->category_id != category_id)
            break;
        if (a->may_agree)
            return true;
    }
    return false;
}

bool okno_directory_may_approve(const okno_directory *dir, okno_user_id user_id, okno_org_id org_id,
                                int32_t category_id, int32_t subcategory_id)
{
    for (uint32_t i = authority_lower_bound(dir, user_id, org_id, category_id);
         i < dir->authorities_count; i++) {
        const okno_authority *a = &dir->authorities[i];
        if (a->org_id != org_id || a->user_id != user_id || a->category_id != category_id)
            break;
        bool covers = a->subcategory_id == 0 || a->subcategory_id == subcategory_id;
        if (covers && a->may_approve)
            return true;
    }
    return false;
}

void okno_actor_init(okno_actor *actor, const okno_directory *dir, okno_user_id user_id,
                     okno_org_id org_id)
{
    actor->user_id = user_id;
    actor->org_id = org_id;
    actor->roles = okno_directory_roles(dir, user_id, org_id);
}
