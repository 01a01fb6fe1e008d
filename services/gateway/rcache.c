/* The card cache: message cards read under row-level security, kept by message id with the
 * facts the visibility rule reads (okno_rm_sees), so a hit answers any caller as the policies
 * would, without a round trip. Never older than the read models after a change was seen: the
 * projector notifies every card it writes with its seq (okno_rm_card, dirwatch.c), and status.c
 * reports the seq a request was projected at; an older copy is dropped, and the newest seq heard
 * of an id is kept (struct gw_rc_news), so a fetch that read an older one, because it began
 * before the news or reads a standby that lags, is kept out. While the listener is down nothing
 * is served or kept. Bounded by entries and bytes per shard, least recently used out first. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "rcache.h"
#include "okno/error.h"
#include "okno/uuid.h"

static uint64_t id_hash(const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id + 8, sizeof h); /* UUIDv4/v5: random bits here */
    return h * 0x9E3779B97F4A7C15ull;
}

static struct gw_rc_shard *shard_of(struct gw_readcache *rc, uint64_t h)
{
    return &rc->shards[h % GW_RC_SHARDS];
}

static struct gw_rc_news *news_of(struct gw_readcache *rc, uint64_t h)
{
    return &rc->news[h % GW_RC_NEWS]; /* GW_RC_NEWS % GW_RC_SHARDS == 0: guarded by the shard */
}

/* Records that the read models hold id at seq or later (shard locked). */
static void hear(struct gw_readcache *rc, uint64_t h, const uint8_t id[16], int64_t seq)
{
    struct gw_rc_news *n = news_of(rc, h);
    if (memcmp(n->id, id, 16) != 0) {
        memcpy(n->id, id, 16);
        n->seq = seq;
        n->gen++;
    } else if (n->seq < seq) {
        n->seq = seq;
    }
}

int gw_rc_init(struct gw_readcache *rc, bool enabled, size_t entries_max, size_t bytes_max)
{
    rc->enabled = enabled;
    rc->shard_entries_max = entries_max / GW_RC_SHARDS + 1;
    rc->shard_bytes_max = bytes_max / GW_RC_SHARDS + 1;
    size_t buckets = 1;
    while (buckets < rc->shard_entries_max)
        buckets <<= 1;
    pthread_mutex_init(&rc->scope_mu, NULL);
    rc->news = calloc(GW_RC_NEWS, sizeof *rc->news);
    if (rc->news == NULL)
        return OKNO_ENOMEM;
    for (int i = 0; i < GW_RC_SHARDS; i++) {
        struct gw_rc_shard *s = &rc->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->bucket_count = buckets;
        s->buckets = calloc(buckets, sizeof *s->buckets);
        if (s->buckets == NULL)
            return OKNO_ENOMEM;
    }
    return OKNO_OK;
}

int gw_rc_metrics_init(struct gw_readcache *rc, struct okno_metrics *reg)
{
    const struct okno_metrics_counter_def counters[] = {
        {&rc->hits, "okno_gateway_read_cache_hits_total", "Card reads answered from the cache."},
        {&rc->misses, "okno_gateway_read_cache_misses_total",
         "Card reads that went to PostgreSQL (not cached, or the cache offline)."},
        {&rc->invalidations, "okno_gateway_read_cache_invalidations_total",
         "Cached cards dropped because a newer seq was notified or seen."},
        {&rc->evictions, "okno_gateway_read_cache_evictions_total",
         "Cached cards dropped to stay within the entry and byte limits."},
        {&rc->flushes, "okno_gateway_read_cache_flushes_total",
         "Times the whole cache was dropped (listener lost or back, replay swap)."},
        {&rc->refused, "okno_gateway_read_cache_refused_total",
         "Fetched cards not cached: news of the message came while they were read."},
    };
    if (okno_metrics_counters_init(reg, counters, sizeof counters / sizeof counters[0]) != 0 ||
        okno_metrics_gauge_init(reg, &rc->entries, "okno_gateway_read_cache_entries",
                                "Cards in the cache.", NULL) != 0 ||
        okno_metrics_gauge_init(reg, &rc->bytes, "okno_gateway_read_cache_bytes",
                                "Bytes the cached cards hold.", NULL) != 0)
        return OKNO_ENOMEM;
    return OKNO_OK;
}

/* ---- the shard's table and recency list (shard locked) ---------------------------------- */

static struct gw_rc_entry **find(struct gw_rc_shard *s, uint64_t h, const uint8_t id[16])
{
    struct gw_rc_entry **p = &s->buckets[(h >> 6) & (s->bucket_count - 1)];
    while (*p != NULL && memcmp((*p)->id, id, 16) != 0)
        p = &(*p)->next;
    return p;
}

static void lru_unlink(struct gw_rc_shard *s, struct gw_rc_entry *e)
{
    *(e->newer != NULL ? &e->newer->older : &s->lru_newest) = e->older;
    *(e->older != NULL ? &e->older->newer : &s->lru_oldest) = e->newer;
}

static void lru_push(struct gw_rc_shard *s, struct gw_rc_entry *e)
{
    e->newer = NULL;
    e->older = s->lru_newest;
    *(s->lru_newest != NULL ? &s->lru_newest->newer : &s->lru_oldest) = e;
    s->lru_newest = e;
}

/* Unlinks and frees *p. */
static void drop(struct gw_readcache *rc, struct gw_rc_shard *s, struct gw_rc_entry **p)
{
    struct gw_rc_entry *e = *p;
    *p = e->next;
    lru_unlink(s, e);
    s->entries--;
    s->bytes -= e->bytes;
    okno_metrics_gauge_add(&rc->entries, -1);
    okno_metrics_gauge_add(&rc->bytes, -(int64_t)e->bytes);
    free(e);
}

static void evict_for(struct gw_readcache *rc, struct gw_rc_shard *s, size_t bytes)
{
    while (s->lru_oldest != NULL &&
           (s->entries + 1 > rc->shard_entries_max || s->bytes + bytes > rc->shard_bytes_max)) {
        struct gw_rc_entry *old = s->lru_oldest;
        drop(rc, s, find(s, id_hash(old->id), old->id));
        okno_metrics_counter_inc(&rc->evictions);
    }
}

void gw_rc_close(struct gw_readcache *rc)
{
    gw_rc_flush(rc);
    for (int i = 0; i < GW_RC_SHARDS; i++) {
        free(rc->shards[i].buckets);
        pthread_mutex_destroy(&rc->shards[i].mu);
    }
    free(rc->news);
    gw_scope_drop(rc);
    for (int i = 0; i < GW_SCOPE_SLOTS; i++)
        gw_scope_put(rc->scopes[i].scope);
    pthread_mutex_destroy(&rc->scope_mu);
}

void gw_rc_flush(struct gw_readcache *rc)
{
    atomic_fetch_add(&rc->flush_gen, 1); /* first: an insert after it sees the new value */
    for (int i = 0; i < GW_RC_SHARDS; i++) {
        struct gw_rc_shard *s = &rc->shards[i];
        pthread_mutex_lock(&s->mu);
        while (s->lru_oldest != NULL)
            drop(rc, s, find(s, id_hash(s->lru_oldest->id), s->lru_oldest->id));
        pthread_mutex_unlock(&s->mu);
    }
    okno_metrics_counter_inc(&rc->flushes);
}

void gw_rc_set_online(struct gw_readcache *rc, bool online)
{
    if (!online)
        atomic_store(&rc->online, false);
    gw_rc_flush(rc);
    gw_scope_drop(rc);
    if (online)
        atomic_store(&rc->online, true);
}

void gw_rc_seen(struct gw_readcache *rc, const uint8_t id[16], int64_t seq)
{
    uint64_t h = id_hash(id);
    struct gw_rc_shard *s = shard_of(rc, h);
    pthread_mutex_lock(&s->mu);
    struct gw_rc_entry **p = find(s, h, id);
    hear(rc, h, id, seq);
    if (*p != NULL && (*p)->seq < seq) {
        drop(rc, s, p);
        okno_metrics_counter_inc(&rc->invalidations);
    }
    pthread_mutex_unlock(&s->mu);
}

void gw_rc_notified(struct gw_readcache *rc, const char *payload)
{
    if (strcmp(payload, "*") == 0) {
        gw_rc_flush(rc);
        return;
    }
    for (const char *p = payload; *p != '\0';) {
        okno_uuid id;
        char *end = NULL;
        if (strlen(p) <= OKNO_UUID_TEXT_BYTES - 1 || p[OKNO_UUID_TEXT_BYTES - 1] != ':' ||
            okno_uuid_parse(p, OKNO_UUID_TEXT_BYTES - 1, &id) != 0) {
            gw_rc_flush(rc); /* not ours to read: be safe */
            return;
        }
        long long seq = strtoll(p + OKNO_UUID_TEXT_BYTES, &end, 10);
        gw_rc_seen(rc, id.bytes, seq);
        p = end + (*end == ' ');
    }
}

bool gw_rc_ticket(struct gw_readcache *rc, const uint8_t id[16], struct gw_rc_ticket *t)
{
    if (!rc->enabled || !atomic_load(&rc->online))
        return false;
    uint64_t h = id_hash(id);
    struct gw_rc_shard *s = shard_of(rc, h);
    t->flush_gen = atomic_load(&rc->flush_gen);
    pthread_mutex_lock(&s->mu);
    t->news_gen = news_of(rc, h)->gen;
    pthread_mutex_unlock(&s->mu);
    return true;
}

void gw_rc_put(struct gw_readcache *rc, const struct gw_rc_ticket *t, struct gw_rc_entry *e)
{
    uint64_t h = id_hash(e->id);
    struct gw_rc_shard *s = shard_of(rc, h);
    pthread_mutex_lock(&s->mu);
    struct gw_rc_entry **p = find(s, h, e->id);
    /* Not older than the copy there, nor than what was heard of the id (a fetch that began before
     * its slot passed to this id cannot tell: out), nor from before a flush. */
    struct gw_rc_news *n = news_of(rc, h);
    bool fresh = atomic_load(&rc->flush_gen) == t->flush_gen && n->gen == t->news_gen &&
                 (memcmp(n->id, e->id, 16) != 0 || n->seq <= e->seq) &&
                 (*p == NULL || (*p)->seq <= e->seq);
    if (fresh && *p != NULL)
        drop(rc, s, p);
    if (fresh && e->bytes <= rc->shard_bytes_max) {
        evict_for(rc, s, e->bytes);
        p = find(s, h, e->id);
        e->next = NULL;
        *p = e;
        lru_push(s, e);
        s->entries++;
        s->bytes += e->bytes;
        okno_metrics_gauge_add(&rc->entries, 1);
        okno_metrics_gauge_add(&rc->bytes, (int64_t)e->bytes);
        e = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (e != NULL && !fresh)
        okno_metrics_counter_inc(&rc->refused);
    free(e);
}

/* The cached, current entry of id with its shard locked (unlock when not NULL), or NULL. */
static struct gw_rc_entry *lookup(struct gw_readcache *rc, const uint8_t id[16],
                                  struct gw_rc_shard **locked)
{
    if (!rc->enabled || !atomic_load(&rc->online))
        return NULL;
    uint64_t h = id_hash(id);
    struct gw_rc_shard *s = shard_of(rc, h);
    pthread_mutex_lock(&s->mu);
    struct gw_rc_entry *e = *find(s, h, id);
    if (e == NULL) {
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    lru_unlink(s, e);
    lru_push(s, e);
    *locked = s;
    return e;
}

bool gw_rc_answer(struct gw_readcache *rc, const uint8_t id[16], const struct gw_scope *sc,
                  int64_t org_id, int64_t now_ms, struct okno_http_response *res)
{
    struct gw_rc_shard *s = NULL;
    struct gw_rc_entry *e = lookup(rc, id, &s);
    if (e == NULL)
        return false;
    struct okno_rm_facts f = gw__rc_facts(e);
    if (okno_rm_sees(&sc->scope, &f))
        gw_rc_entry_respond(e, org_id, now_ms, res);
    else
        okno_http_respond_error(res, 404, "not_found", "id", "no such message");
    pthread_mutex_unlock(&s->mu);
    okno_metrics_counter_inc(&rc->hits);
    return true;
}

int gw_rc_visible(struct gw_readcache *rc, const uint8_t id[16], const struct gw_scope *sc)
{
    struct gw_rc_shard *s = NULL;
    struct gw_rc_entry *e = lookup(rc, id, &s);
    if (e == NULL)
        return -1;
    struct okno_rm_facts f = gw__rc_facts(e);
    int seen = okno_rm_sees(&sc->scope, &f) ? 1 : 0;
    pthread_mutex_unlock(&s->mu);
    return seen;
}
