/* Resolved callers for the read cache: what okno.rm_caller() makes of a (user, org) or an
 * applicant (their scope of orgs, whether they moderate for the operator org), read from
 * PostgreSQL and kept like the grants (cache.c): until a directory change is notified
 * (gw_scope_drop, from dirwatch.c), at most GW_GRANTS_TTL_MS, and not at all while the listener
 * is down. Direct-mapped: a colliding caller replaces the older one. */
#include <stdlib.h>

#include "gateway.h"
#include "okno/error.h"
#include "okno/log.h"

static struct gw_scope_slot *slot_of(struct gw_readcache *rc, const struct gw_caller *who)
{
    uint64_t h = (uint64_t)who->user_id * 0x9E3779B97F4A7C15ull ^
                 (uint64_t)who->org_id * 0xC2B2AE3D27D4EB4Full ^ (uint64_t)who->applicant;
    return &rc->scopes[(h ^ (h >> 29)) % GW_SCOPE_SLOTS];
}

void gw_scope_put(struct gw_scope *s)
{
    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
        okno_rm_scope_free(&s->scope);
        free(s);
    }
}

struct gw_scope *gw_scope_cached(struct gw_readcache *rc, const struct gw_caller *who,
                                 int64_t now_ms)
{
    if (!rc->enabled || !atomic_load(&rc->online))
        return NULL;
    struct gw_scope_slot *e = slot_of(rc, who);
    struct gw_scope *s = NULL;
    pthread_mutex_lock(&rc->scope_mu);
    if (e->scope != NULL && e->user == who->user_id && e->org == who->org_id &&
        e->applicant == who->applicant && e->until_ms > now_ms &&
        e->generation == rc->scope_generation) {
        s = e->scope;
        atomic_fetch_add(&s->refs, 1);
    }
    pthread_mutex_unlock(&rc->scope_mu);
    return s;
}

/* Keeps s (one reference taken) unless the directory changed since generation. */
static void keep(struct gw_readcache *rc, const struct gw_caller *who, int64_t now_ms,
                 uint64_t generation, struct gw_scope *s)
{
    struct gw_scope_slot *e = slot_of(rc, who);
    struct gw_scope *old = NULL;
    pthread_mutex_lock(&rc->scope_mu);
    if (generation == rc->scope_generation && atomic_load(&rc->online) &&
        s->scope.org_count <= GW_SCOPE_ORGS_MAX) {
        old = e->scope;
        atomic_fetch_add(&s->refs, 1);
        *e = (struct gw_scope_slot){
            who->user_id, who->org_id, who->applicant, now_ms + GW_GRANTS_TTL_MS, generation, s};
    }
    pthread_mutex_unlock(&rc->scope_mu);
    gw_scope_put(old);
}

struct gw_scope *gw_scope_get(struct gw_readcache *rc, PGconn *conn, const struct gw_caller *who,
                              int64_t now_ms)
{
    struct gw_scope *s = gw_scope_cached(rc, who, now_ms);
    if (s != NULL)
        return s;
    pthread_mutex_lock(&rc->scope_mu);
    uint64_t generation = rc->scope_generation; /* before the read: a change during it wins */
    pthread_mutex_unlock(&rc->scope_mu);
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    atomic_init(&s->refs, 1);
    char err[GW_ERROR_BYTES];
    struct okno_rm_caller c = {who->user_id, who->org_id, who->applicant};
    int code = okno_rm_scope_read(conn, &c, &s->scope, err, sizeof err);
    if (code != OKNO_OK) { /* the card is then read under RLS, as without the cache */
        if (code != OKNO_ELIMIT)
            okno_log_warn("gateway: cannot resolve a caller's scope", OKNO_LOG_STR("reason", err));
        free(s);
        return NULL;
    }
    keep(rc, who, now_ms, generation, s);
    return s;
}

void gw_scope_drop(struct gw_readcache *rc)
{
    pthread_mutex_lock(&rc->scope_mu);
    rc->scope_generation++;
    pthread_mutex_unlock(&rc->scope_mu);
}
